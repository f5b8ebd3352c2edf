/* status.c - what the engine tells operators: metrics per cluster, the
 * summary behind STATUS=, and the /api/v1/status document. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <json-c/json.h>

#include "executor/engine_int.h"
#include "ops/metrics.h"

void ex__status_describe_metrics(void)
{
    static const double latency[] = {0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
                                     0.5,   1,     2.5,  5,     10,   30};
    static const double wait[] = {0, 0.01, 0.1, 0.5, 1, 2, 5, 10, 30, 60, 300};

    nh_metrics_describe("nodeherd_build_info", NH_METRIC_GAUGE, "nodeherd build information", NULL,
                        0);
    nh_metrics_set("nodeherd_build_info", 1, "version", NH_VERSION, NULL);
    nh_metrics_describe("nodeherd_clusters", NH_METRIC_GAUGE, "Clusters declared", NULL, 0);
    nh_metrics_describe("nodeherd_desired_nodes", NH_METRIC_GAUGE,
                        "Declared node count per cluster and pool (pool=\"\": workers)", NULL, 0);
    nh_metrics_describe("nodeherd_observed_nodes", NH_METRIC_GAUGE,
                        "Observed node count per cluster and pool (pool=\"\": workers)", NULL, 0);
    nh_metrics_describe("nodeherd_nodes", NH_METRIC_GAUGE,
                        "Nodes per cluster, pool (\"\": workers) and state (ready, not_ready, "
                        "failed, creating, leaving)",
                        NULL, 0);
    nh_metrics_describe("nodeherd_cluster_converged", NH_METRIC_GAUGE,
                        "1 when the cluster matches its declaration with every declared node "
                        "ready",
                        NULL, 0);
    nh_metrics_describe("nodeherd_cluster_blocked", NH_METRIC_GAUGE,
                        "1 when a change is blocked or refused (see nodeherd status)", NULL, 0);
    nh_metrics_describe("nodeherd_actions_total", NH_METRIC_COUNTER,
                        "Mutating operations by kind and result", NULL, 0);
    nh_metrics_describe("nodeherd_jobs_in_flight", NH_METRIC_GAUGE,
                        "Operations in flight per cluster", NULL, 0);
    nh_metrics_describe("nodeherd_job_oldest_age_seconds", NH_METRIC_GAUGE,
                        "Age of the oldest operation in flight per cluster", NULL, 0);
    nh_metrics_describe("nodeherd_api_requests_total", NH_METRIC_COUNTER,
                        "Cloud API requests by provider, operation and HTTP status or outcome",
                        NULL, 0);
    nh_metrics_describe("nodeherd_api_request_duration_seconds", NH_METRIC_HISTOGRAM,
                        "Cloud API request latency", latency, sizeof(latency) / sizeof(*latency));
    nh_metrics_describe("nodeherd_throttled_total", NH_METRIC_COUNTER,
                        "Throttling answers from the clouds", NULL, 0);
    nh_metrics_describe("nodeherd_ratelimit_wait_seconds", NH_METRIC_HISTOGRAM,
                        "Time requests waited in the provider's rate limiter", wait,
                        sizeof(wait) / sizeof(*wait));
    nh_metrics_describe("nodeherd_ratelimit_requests_per_second", NH_METRIC_GAUGE,
                        "Requests per second the provider's limiter currently allows (after "
                        "slowing down on throttling)",
                        NULL, 0);
    nh_metrics_describe("nodeherd_last_successful_poll_timestamp_seconds", NH_METRIC_GAUGE,
                        "Unix time of the last complete observation per cluster", NULL, 0);
    nh_metrics_describe("nodeherd_poll_failures_total", NH_METRIC_COUNTER,
                        "Failed observations by cluster and error class", NULL, 0);
    nh_metrics_describe("nodeherd_kube_reachable", NH_METRIC_GAUGE,
                        "1 while the cluster's Kubernetes API answers (clusters with kubernetes:)",
                        NULL, 0);
    nh_metrics_describe("nodeherd_kube_held_nodes", NH_METRIC_GAUGE,
                        "Nodes Kubernetes keeps from being chosen (protection annotation or "
                        "label, a pod that blocks the drain, no or two matching nodes)",
                        NULL, 0);
    nh_metrics_describe("nodeherd_drains_in_progress", NH_METRIC_GAUGE,
                        "Nodes nodeherd is draining before their removal", NULL, 0);
    nh_metrics_describe("nodeherd_drain_pods_left", NH_METRIC_GAUGE,
                        "Pods left to move off each node nodeherd is draining (the series goes "
                        "when the drain ends)",
                        NULL, 0);
    nh_metrics_describe("nodeherd_journal_healthy", NH_METRIC_GAUGE,
                        "1 while the local state journal can be written (always 1 with ha:)", NULL,
                        0);
    nh_metrics_set("nodeherd_journal_healthy", 1, NULL);
}

static const char *const gcount_states[] = {"ready", "not_ready", "failed", "creating", "leaving"};

static int gcount_get(const struct gcount *g, size_t i)
{
    const int v[] = {g->ready, g->not_ready, g->failed, g->creating, g->leaving};
    return v[i];
}

/* nodeherd_nodes{cluster,pool,state}: one series per state of each group
 * the status document shows (pool "" = the workers outside pools). */
static void nodes_metric(const struct cl *c, const char *label, const char *pool_id,
                         const char *pool_name)
{
    struct gcount g;
    if (!ex__group_count(c, pool_id, pool_name, &g))
        return;
    for (size_t k = 0; k < sizeof(gcount_states) / sizeof(*gcount_states); k++)
        nh_metrics_set("nodeherd_nodes", gcount_get(&g, k), "cluster", c->name, "pool", label,
                       "state", gcount_states[k], NULL);
}

static bool pool_is_declared(const struct nh_cfg_cluster *cc, const struct nh_obs_pool *p)
{
    for (size_t k = 0; cc && k < cc->n_pools; k++)
        if ((cc->pools[k].id && p->id && strcmp(cc->pools[k].id, p->id) == 0) ||
            (p->name && strcmp(cc->pools[k].name, p->name) == 0))
            return true;
    return false;
}

void ex__status_update_cluster_metrics(const struct cl *c)
{
    struct gcount g;
    uint64_t oldest = 0;
    size_t inflight = 0;

    if (c->removed || c->cfg == NULL)
        return;
    if (c->cfg->workers >= 0) {
        nh_metrics_set("nodeherd_desired_nodes", c->cfg->workers, "cluster", c->name, "pool", "",
                       NULL);
        if (c->have_obs && ex__group_count(c, NULL, NULL, &g))
            nh_metrics_set("nodeherd_observed_nodes", g.observed, "cluster", c->name, "pool", "",
                           NULL);
    }
    for (size_t i = 0; i < c->cfg->n_pools; i++) {
        const struct nh_cfg_pool *p = &c->cfg->pools[i];
        if (p->nodes >= 0)
            nh_metrics_set("nodeherd_desired_nodes", p->nodes, "cluster", c->name, "pool", p->name,
                           NULL);
        if (c->have_obs && ex__group_count(c, p->id, p->id ? NULL : p->name, &g))
            nh_metrics_set("nodeherd_observed_nodes", g.observed, "cluster", c->name, "pool",
                           p->name, NULL);
    }
    if (c->have_obs) {
        /* Rebuilt from the observation: pools that went away lose their series. */
        nh_metrics_forget("nodeherd_nodes", "cluster", c->name);
        if (c->cfg->workers >= 0)
            nodes_metric(c, "", NULL, NULL);
        for (size_t i = 0; i < c->cfg->n_pools; i++)
            nodes_metric(c, c->cfg->pools[i].name, c->cfg->pools[i].id,
                         c->cfg->pools[i].id ? NULL : c->cfg->pools[i].name);
        for (size_t i = 0; i < c->obs.n_pools; i++)
            if (!pool_is_declared(c->cfg, &c->obs.pools[i]) && c->obs.pools[i].id != NULL)
                nodes_metric(c, c->obs.pools[i].name ? c->obs.pools[i].name : c->obs.pools[i].id,
                             c->obs.pools[i].id, NULL);
    }
    for (const struct opnode *n = c->ops; n; n = n->next) {
        if (n->closed)
            continue;
        inflight++;
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        int64_t age = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000 - n->op.started_ms;
        if (age > 0 && (uint64_t)age > oldest)
            oldest = (uint64_t)age;
    }
    nh_metrics_set("nodeherd_jobs_in_flight", (double)inflight, "cluster", c->name, NULL);
    nh_metrics_set("nodeherd_job_oldest_age_seconds", (double)oldest / 1000.0, "cluster", c->name,
                   NULL);
    nh_metrics_set("nodeherd_cluster_converged", ex__cl_converged(c) ? 1 : 0, "cluster", c->name,
                   NULL);
    nh_metrics_set("nodeherd_cluster_blocked", ex__cl_blocked(c) ? 1 : 0, "cluster", c->name, NULL);
}

void nh_engine_summary(const struct nh_engine *e, struct nh_engine_summary *s)
{
    memset(s, 0, sizeof(*s));
    for (const struct cl *c = e->clusters; c; c = c->next) {
        if (c->removed) {
            s->jobs_in_flight += ex__ops_count(c); /* a removed cluster's, followed to their end */
            continue;
        }
        const char *w = ex__cl_state_word(c);
        s->clusters++;
        s->jobs_in_flight += ex__ops_count(c);
        if (strcmp(w, "converged") == 0)
            s->converged++;
        else if (strcmp(w, "failing") == 0)
            s->failing++;
        else if (strcmp(w, "blocked") == 0)
            s->blocked++;
        else if (strcmp(w, "suspended") == 0)
            s->suspended++;
        else if (strcmp(w, "dry-run") == 0)
            s->dry_run++;
        else
            s->converging++;
    }
}

/* ---------- /api/v1/status ---------- */

static struct json_object *jstr(const char *s)
{
    return s ? json_object_new_string(s) : NULL;
}

static struct json_object *group_json(const struct cl *c, const char *pool, const char *pool_id,
                                      int declared)
{
    struct json_object *g = json_object_new_object();
    struct gcount n;
    bool have = c->have_obs &&
                ex__group_count(c, pool ? pool_id : NULL, pool && !pool_id ? pool : NULL, &n);
    json_object_object_add(g, "pool", jstr(pool));
    json_object_object_add(g, "declared", declared >= 0 ? json_object_new_int(declared) : NULL);
    json_object_object_add(g, "observed", have ? json_object_new_int(n.observed) : NULL);
    json_object_object_add(g, "ready", have ? json_object_new_int(n.ready) : NULL);
    /* The same states as nodeherd_nodes{state}. */
    struct json_object *st = json_object_new_object();
    for (size_t k = 0; have && k < sizeof(gcount_states) / sizeof(*gcount_states); k++)
        json_object_object_add(st, gcount_states[k], json_object_new_int(gcount_get(&n, k)));
    json_object_object_add(g, "nodes", have ? st : NULL);
    if (!have)
        json_object_put(st);
    return g;
}

/* Kubernetes access (issue #20): null without kubernetes:; reachable
 * null until first tried; why: the call and outcome when it is not. */
static struct json_object *kube_json(const struct cl *c, const struct nh_cfg_cluster *cc)
{
    if (cc == NULL || !cc->kube_access)
        return NULL;
    struct json_object *k = json_object_new_object();
    const char *reach = ex__cl_kube_reach(c);
    json_object_object_add(k, "reachable",
                           reach == NULL ? NULL : json_object_new_boolean(reach[0] == '\0'));
    json_object_object_add(k, "why", reach != NULL && reach[0] ? jstr(reach) : NULL);
    return k;
}

/* The declared groups (workers, pools), then the pools the cloud has that
 * the declaration does not name. */
static struct json_object *groups_json(const struct cl *c, const struct nh_cfg_cluster *cc)
{
    struct json_object *groups = json_object_new_array();
    if (cc && cc->workers >= 0)
        json_object_array_add(groups, group_json(c, NULL, NULL, cc->workers));
    for (size_t i = 0; cc && i < cc->n_pools; i++)
        json_object_array_add(
            groups, group_json(c, cc->pools[i].name, cc->pools[i].id, cc->pools[i].nodes));
    for (size_t i = 0; c->have_obs && !c->removed && i < c->obs.n_pools; i++) {
        const struct nh_obs_pool *p = &c->obs.pools[i];
        if (!pool_is_declared(cc, p) && p->id != NULL) {
            struct json_object *g = group_json(c, p->name ? p->name : p->id, p->id, -1);
            json_object_array_add(groups, g);
        }
    }
    return groups;
}

static struct json_object *inflight_json(const struct opnode *n, int64_t now_wall)
{
    struct json_object *j = json_object_new_object();
    struct json_object *nodes = json_object_new_array();
    /* The journal's sequence number; null while the operation's first
     * record is being written (journal sequence numbers start at 1, so
     * 0 is "not recorded yet", never a number to show or to match
     * against the journal; nothing is sent before that write ends). */
    json_object_object_add(j, "seq",
                           n->op.seq > 0 ? json_object_new_int64((int64_t)n->op.seq) : NULL);
    json_object_object_add(j, "kind", jstr(nh_action_kind_name(n->op.action.kind)));
    json_object_object_add(j, "pool", jstr(n->op.action.pool_name));
    json_object_object_add(j, "target", json_object_new_int(n->op.action.target));
    for (size_t k = 0; k < n->op.action.n_nodes; k++)
        json_object_array_add(nodes, jstr(n->op.action.node_ids[k]));
    json_object_object_add(j, "nodes", nodes);
    json_object_object_add(j, "job", jstr(n->op.job_id));
    json_object_object_add(j, "state", jstr(nh_op_state_name(n->op.state)));
    json_object_object_add(j, "progress", n->percent >= 0 ? json_object_new_int(n->percent) : NULL);
    json_object_object_add(j, "phase", n->phase[0] ? jstr(n->phase) : NULL);
    json_object_object_add(j, "rule", jstr(nh_rule_name(n->op.action.rule)));
    json_object_object_add(j, "revision", jstr(n->op.revision));
    json_object_object_add(j, "age_s",
                           json_object_new_int64((now_wall * 1000 - n->op.started_ms) / 1000));
    return j;
}

static struct json_object *note_json(const struct nh_note *n)
{
    struct json_object *j = json_object_new_object();
    json_object_object_add(j, "kind", jstr(nh_note_kind_name(n->kind)));
    json_object_object_add(j, "rule", jstr(nh_rule_name(n->rule)));
    json_object_object_add(j, "pool", jstr(n->pool));
    json_object_object_add(j, "msg", jstr(n->msg));
    json_object_object_add(j, "fix", n->fix[0] ? jstr(n->fix) : NULL);
    return j;
}

/* An action of the last plan that a held cluster did not send. */
static struct json_object *would_json(const struct nh_action *a)
{
    struct json_object *j = json_object_new_object();
    struct json_object *nodes = json_object_new_array();
    json_object_object_add(j, "kind", jstr(nh_action_kind_name(a->kind)));
    json_object_object_add(j, "pool", jstr(a->pool_name));
    json_object_object_add(j, "from", json_object_new_int(a->from));
    json_object_object_add(j, "target", json_object_new_int(a->target));
    for (size_t k = 0; k < a->n_nodes; k++)
        json_object_array_add(nodes, jstr(a->node_ids[k]));
    json_object_object_add(j, "nodes", nodes);
    json_object_object_add(j, "rule", jstr(nh_rule_name(a->rule)));
    json_object_object_add(j, "why", jstr(a->why));
    return j;
}

static struct json_object *recent_json(const struct recent *r)
{
    struct json_object *j = json_object_new_object();
    json_object_object_add(j, "time", json_object_new_int64(r->time));
    json_object_object_add(j, "kind", jstr(nh_action_kind_name(r->kind)));
    json_object_object_add(j, "pool", r->pool[0] ? jstr(r->pool) : NULL);
    json_object_object_add(j, "target", json_object_new_int(r->target));
    json_object_object_add(j, "nodes", json_object_new_int64((int64_t)r->n_nodes));
    json_object_object_add(j, "result", jstr(r->result));
    json_object_object_add(j, "rule", jstr(nh_rule_name(r->rule)));
    json_object_object_add(j, "revision", jstr(r->revision));
    json_object_object_add(j, "job", r->job[0] ? jstr(r->job) : NULL);
    return j;
}

static struct json_object *cluster_json(const struct cl *c, int64_t now_wall)
{
    struct json_object *o = json_object_new_object();
    struct json_object *inflight = json_object_new_array();
    struct json_object *notes = json_object_new_array();
    struct json_object *would = json_object_new_array();
    struct json_object *recent = json_object_new_array();
    const struct nh_cfg_cluster *was = c->cfg;
    /* A removed cluster declares nothing: only its operations are shown. */
    const struct nh_cfg_cluster *cc = c->removed ? NULL : c->cfg;

    json_object_object_add(o, "name", jstr(c->name));
    json_object_object_add(o, "provider", jstr(was ? was->provider_name : NULL));
    json_object_object_add(
        o, "kind", jstr(was && was->provider ? nh_provider_kind_name(was->provider->kind) : NULL));
    json_object_object_add(o, "state", jstr(ex__cl_state_word(c)));
    /* active, or held: "suspended" / "dry-run" (nothing new is sent; what
     * would be done is in `would`). */
    json_object_object_add(o, "mode", jstr(ex__cl_held(c) ? ex__cl_held(c) : "active"));
    json_object_object_add(o, "last_poll",
                           c->last_ok_unix ? json_object_new_int64(c->last_ok_unix) : NULL);
    json_object_object_add(o, "last_error", c->last_error[0] ? jstr(c->last_error) : NULL);
    json_object_object_add(o, "kubernetes", kube_json(c, cc));
    json_object_object_add(o, "groups", groups_json(c, cc));
    for (const struct opnode *n = c->ops; n; n = n->next)
        if (!n->closed)
            json_object_array_add(inflight, inflight_json(n, now_wall));
    json_object_object_add(o, "in_flight", inflight);
    for (size_t i = 0; i < c->last_plan.n_notes; i++)
        json_object_array_add(notes, note_json(&c->last_plan.notes[i]));
    json_object_object_add(o, "notes", notes);
    /* Held: the actions of the last plan, which were not sent. */
    for (size_t i = 0; ex__cl_held(c) != NULL && i < c->last_plan.n_actions; i++)
        json_object_array_add(would, would_json(&c->last_plan.actions[i]));
    json_object_object_add(o, "would", would);
    size_t have = c->n_recent < NH_RECENT_MAX ? c->n_recent : NH_RECENT_MAX;
    for (size_t k = 0; k < have; k++)
        json_object_array_add(recent,
                              recent_json(&c->recent[(c->n_recent - 1 - k) % NH_RECENT_MAX]));
    json_object_object_add(o, "recent", recent);
    return o;
}

int nh_engine_status_json(const struct nh_engine *e, struct nh_buf *out)
{
    struct json_object *root = json_object_new_object();
    struct json_object *clusters = json_object_new_array();
    struct nh_engine_summary s;
    int64_t now = time(NULL);
    int r;

    if (root == NULL || clusters == NULL) {
        json_object_put(root);
        json_object_put(clusters);
        return -ENOMEM;
    }
    nh_engine_summary(e, &s);
    json_object_object_add(root, "version", jstr(NH_VERSION));
    json_object_object_add(root, "revision", jstr(e->cfg->revision));
    json_object_object_add(root, "role", jstr(e->role));
    json_object_object_add(root, "ready", json_object_new_boolean(e->ready_sent));
    json_object_object_add(root, "started", json_object_new_int64(e->started_unix));
    json_object_object_add(root, "now", json_object_new_int64(now));
    json_object_object_add(root, "dry_run",
                           json_object_new_boolean(e->o.dry_run || e->cfg->daemon.dry_run));
    /* "command line" (run --dry-run: for the process's life) or
     * "configuration" (daemon.dry_run: follows reloads); null: acting. */
    json_object_object_add(root, "dry_run_source",
                           jstr(e->o.dry_run             ? "command line"
                                : e->cfg->daemon.dry_run ? "configuration"
                                                         : NULL));
    struct json_object *jh = json_object_new_object();
    json_object_object_add(jh, "healthy", json_object_new_boolean(e->journal_error[0] == '\0'));
    json_object_object_add(jh, "error", e->journal_error[0] ? jstr(e->journal_error) : NULL);
    json_object_object_add(root, "journal", jh);
    struct json_object *sum = json_object_new_object();
    json_object_object_add(sum, "clusters", json_object_new_int64((int64_t)s.clusters));
    json_object_object_add(sum, "converged", json_object_new_int64((int64_t)s.converged));
    json_object_object_add(sum, "converging", json_object_new_int64((int64_t)s.converging));
    json_object_object_add(sum, "failing", json_object_new_int64((int64_t)s.failing));
    json_object_object_add(sum, "blocked", json_object_new_int64((int64_t)s.blocked));
    json_object_object_add(sum, "suspended", json_object_new_int64((int64_t)s.suspended));
    json_object_object_add(sum, "dry_run", json_object_new_int64((int64_t)s.dry_run));
    json_object_object_add(sum, "jobs_in_flight", json_object_new_int64((int64_t)s.jobs_in_flight));
    json_object_object_add(root, "summary", sum);
    for (const struct cl *c = e->clusters; c; c = c->next)
        if (!c->removed || ex__cl_retiring(c))
            json_object_array_add(clusters, cluster_json(c, now));
    json_object_object_add(root, "clusters", clusters);
    r = nh_buf_appends(out, json_object_to_json_string_ext(root, JSON_C_TO_STRING_PLAIN));
    json_object_put(root);
    return r;
}
