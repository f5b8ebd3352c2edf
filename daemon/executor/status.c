/* status.c - what the engine tells operators: metrics per cluster, the
 * summary behind STATUS=, and the /api/v1/status document. */
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "executor/engine_int.h"
#include "ops/metrics.h"
#include "util/clock.h"

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
static int nodes_emit(struct nh_metrics_sink *sink, const struct cl *c, const char *label,
                      const char *pool_id, const char *pool_name)
{
    struct gcount g;
    int r = 0;
    if (!ex__group_count(c, pool_id, pool_name, &g))
        return 0;
    for (size_t k = 0; r == 0 && k < sizeof(gcount_states) / sizeof(*gcount_states); k++)
        r = nh_metrics_emit(sink, gcount_get(&g, k), "cluster", c->name, "pool", label, "state",
                            gcount_states[k], NULL);
    return r;
}

static bool pool_is_declared(const struct nh_cfg_cluster *cc, const struct nh_obs_pool *p)
{
    for (size_t k = 0; cc && k < cc->n_pools; k++)
        if ((cc->pools[k].id && p->id && strcmp(cc->pools[k].id, p->id) == 0) ||
            (p->name && strcmp(cc->pools[k].name, p->name) == 0))
            return true;
    return false;
}

/* The per-cluster families below are collected like nodeherd_nodes: a
 * pure function of the engine's clusters, written at each scrape (issue
 * #21: they were ~26,000 stored series at 1,000 clusters / 10,000 pools,
 * set again after every observation and job poll). A removed cluster has
 * none (its operations are still followed; nodeherd status shows them). */
static bool listed(const struct cl *c)
{
    return !c->removed && c->cfg != NULL;
}

static int collect_desired(void *arg, struct nh_metrics_sink *sink)
{
    const struct nh_engine *e = arg;
    int r = 0;
    for (const struct cl *c = e->clusters; r == 0 && c; c = c->next) {
        if (!listed(c))
            continue;
        if (c->cfg->workers >= 0)
            r = nh_metrics_emit(sink, c->cfg->workers, "cluster", c->name, "pool", "", NULL);
        for (size_t i = 0; r == 0 && i < c->cfg->n_pools; i++)
            if (c->cfg->pools[i].nodes >= 0)
                r = nh_metrics_emit(sink, c->cfg->pools[i].nodes, "cluster", c->name, "pool",
                                    c->cfg->pools[i].name, NULL);
    }
    return r;
}

static int collect_observed(void *arg, struct nh_metrics_sink *sink)
{
    const struct nh_engine *e = arg;
    struct gcount g;
    int r = 0;
    for (const struct cl *c = e->clusters; r == 0 && c; c = c->next) {
        if (!listed(c) || !c->have_obs)
            continue;
        if (c->cfg->workers >= 0 && ex__group_count(c, NULL, NULL, &g))
            r = nh_metrics_emit(sink, g.observed, "cluster", c->name, "pool", "", NULL);
        for (size_t i = 0; r == 0 && i < c->cfg->n_pools; i++) {
            const struct nh_cfg_pool *p = &c->cfg->pools[i];
            if (ex__group_count(c, p->id, p->id ? NULL : p->name, &g))
                r = nh_metrics_emit(sink, g.observed, "cluster", c->name, "pool", p->name, NULL);
        }
    }
    return r;
}

/* Operations in flight and the age of the oldest, in ms (wall clock). */
static size_t in_flight(const struct cl *c, uint64_t *oldest)
{
    int64_t now = nh_wall_ms();
    size_t n = 0;

    *oldest = 0;
    for (const struct opnode *o = c->ops; o; o = o->next) {
        if (o->closed)
            continue;
        n++;
        int64_t age = now - o->op.started_ms;
        if (age > 0 && (uint64_t)age > *oldest)
            *oldest = (uint64_t)age;
    }
    return n;
}

/* One value per listed cluster: value(c). */
static int collect_per_cluster(const struct nh_engine *e, struct nh_metrics_sink *sink,
                               double (*value)(const struct cl *c))
{
    int r = 0;
    for (const struct cl *c = e->clusters; r == 0 && c; c = c->next)
        if (listed(c))
            r = nh_metrics_emit(sink, value(c), "cluster", c->name, NULL);
    return r;
}

static double jobs_of(const struct cl *c)
{
    uint64_t oldest;
    return (double)in_flight(c, &oldest);
}

static double oldest_of(const struct cl *c)
{
    uint64_t oldest;
    (void)in_flight(c, &oldest);
    return (double)oldest / 1000.0;
}

static double converged_of(const struct cl *c)
{
    return ex__cl_converged(c) ? 1 : 0;
}

static double blocked_of(const struct cl *c)
{
    return ex__cl_blocked(c) ? 1 : 0;
}

static int collect_jobs(void *arg, struct nh_metrics_sink *sink)
{
    return collect_per_cluster(arg, sink, jobs_of);
}

static int collect_oldest(void *arg, struct nh_metrics_sink *sink)
{
    return collect_per_cluster(arg, sink, oldest_of);
}

static int collect_converged(void *arg, struct nh_metrics_sink *sink)
{
    return collect_per_cluster(arg, sink, converged_of);
}

static int collect_blocked(void *arg, struct nh_metrics_sink *sink)
{
    return collect_per_cluster(arg, sink, blocked_of);
}

/* An undeclared pool's label: its name, else its id. */
static const char *undeclared_label(const struct nh_obs_pool *p)
{
    return p->name ? p->name : p->id;
}

/* Whether an earlier undeclared pool of the observation has the same label
 * (two pools of one name outside the declaration): its series were
 * written, and a label set is written once. */
static bool label_taken(const struct cl *c, size_t upto, const char *label)
{
    for (size_t i = 0; i < upto; i++) {
        const struct nh_obs_pool *p = &c->obs.pools[i];
        if (p->id != NULL && !pool_is_declared(c->cfg, p) &&
            strcmp(undeclared_label(p), label) == 0)
            return true;
    }
    return false;
}

/* nodeherd_nodes is collected (nh_metrics_collect): written at each scrape
 * from the observations the engine keeps, in the order of the clusters,
 * instead of 5 stored series per group set again after every observation
 * (issue #21: 55,000 series, 8 MB, at 1,000 clusters / 10,000 pools). A
 * cluster's series come and go with its observation and its declaration. */
static int collect_nodes(void *arg, struct nh_metrics_sink *sink)
{
    const struct nh_engine *e = arg;
    int r = 0;

    for (const struct cl *c = e->clusters; r == 0 && c; c = c->next) {
        if (!listed(c) || !c->have_obs)
            continue;
        if (c->cfg->workers >= 0)
            r = nodes_emit(sink, c, "", NULL, NULL);
        for (size_t i = 0; r == 0 && i < c->cfg->n_pools; i++)
            r = nodes_emit(sink, c, c->cfg->pools[i].name, c->cfg->pools[i].id,
                           c->cfg->pools[i].id ? NULL : c->cfg->pools[i].name);
        for (size_t i = 0; r == 0 && i < c->obs.n_pools; i++) {
            const struct nh_obs_pool *p = &c->obs.pools[i];
            if (p->id != NULL && !pool_is_declared(c->cfg, p) &&
                !label_taken(c, i, undeclared_label(p)))
                r = nodes_emit(sink, c, undeclared_label(p), p->id, NULL);
        }
    }
    return r;
}

static const struct {
    const char *name;
    nh_metrics_collect_fn fn;
} collected[] = {
    {"nodeherd_desired_nodes", collect_desired},
    {"nodeherd_observed_nodes", collect_observed},
    {"nodeherd_nodes", collect_nodes},
    {"nodeherd_cluster_converged", collect_converged},
    {"nodeherd_cluster_blocked", collect_blocked},
    {"nodeherd_jobs_in_flight", collect_jobs},
    {"nodeherd_job_oldest_age_seconds", collect_oldest},
};

void ex__status_collect(struct nh_engine *e, bool on)
{
    for (size_t i = 0; i < sizeof(collected) / sizeof(collected[0]); i++) {
        if (on)
            nh_metrics_collect(collected[i].name, collected[i].fn, e);
        else
            nh_metrics_uncollect(collected[i].name, e);
    }
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

/* The document is written straight into the caller's buffer: at 1,000
 * clusters a json-c tree of it cost ~20 MB for each request (issue #21).
 * The bytes are the ones json-c printed with JSON_C_TO_STRING_PLAIN (no
 * spaces; keys in insertion order; strings escaped as json_escape_str
 * does, "/" included), so clients see no change. The first error sticks
 * and every later write is a no-op. */
struct jw {
    struct nh_buf *b;
    int r;
    bool comma; /* a value precedes at this level: the next item needs "," */
};

static void jw_raw(struct jw *w, const char *s, size_t n)
{
    if (w->r == 0)
        w->r = nh_buf_append(w->b, s, n);
}

static void jw_sep(struct jw *w)
{
    if (w->comma)
        jw_raw(w, ",", 1);
    w->comma = true;
}

/* A string literal as json-c 0.16's json_escape_str writes it. */
static void jw_escaped(struct jw *w, const char *s)
{
    static const char hex[] = "0123456789abcdef";
    size_t start = 0, i = 0;

    jw_raw(w, "\"", 1);
    for (; s[i] != '\0'; i++) {
        unsigned char ch = (unsigned char)s[i];
        char esc[7];
        size_t n = 2;
        esc[0] = '\\';
        switch (ch) {
        case '\b':
            esc[1] = 'b';
            break;
        case '\n':
            esc[1] = 'n';
            break;
        case '\r':
            esc[1] = 'r';
            break;
        case '\t':
            esc[1] = 't';
            break;
        case '\f':
            esc[1] = 'f';
            break;
        case '"':
        case '\\':
        case '/':
            esc[1] = (char)ch;
            break;
        default:
            if (ch >= 0x20)
                continue;
            memcpy(esc, "\\u00", 4);
            esc[4] = hex[ch >> 4];
            esc[5] = hex[ch & 15];
            n = 6;
        }
        jw_raw(w, s + start, i - start);
        jw_raw(w, esc, n);
        start = i + 1;
    }
    jw_raw(w, s + start, i - start);
    jw_raw(w, "\"", 1);
}

/* "key": the value written next follows without a comma. Keys are
 * literals of this file, nothing to escape. */
static void jw_key(struct jw *w, const char *key)
{
    jw_sep(w);
    jw_raw(w, "\"", 1);
    jw_raw(w, key, strlen(key));
    jw_raw(w, "\":", 2);
    w->comma = false;
}

static void jw_open(struct jw *w, char brace)
{
    jw_sep(w);
    jw_raw(w, &brace, 1);
    w->comma = false;
}

static void jw_close(struct jw *w, char brace)
{
    jw_raw(w, &brace, 1);
    w->comma = true;
}

static void jw_null(struct jw *w)
{
    jw_sep(w);
    jw_raw(w, "null", 4);
}

static void jw_str(struct jw *w, const char *s)
{
    if (s == NULL) {
        jw_null(w);
        return;
    }
    jw_sep(w);
    jw_escaped(w, s);
}

static void jw_int(struct jw *w, int64_t v)
{
    char num[24];
    int n = snprintf(num, sizeof(num), "%" PRId64, v);
    jw_sep(w);
    jw_raw(w, num, (size_t)n);
}

static void jw_bool(struct jw *w, bool v)
{
    jw_sep(w);
    jw_raw(w, v ? "true" : "false", v ? 4 : 5);
}

static void kv_str(struct jw *w, const char *key, const char *s)
{
    jw_key(w, key);
    jw_str(w, s);
}

static void kv_int(struct jw *w, const char *key, int64_t v)
{
    jw_key(w, key);
    jw_int(w, v);
}

static void kv_null(struct jw *w, const char *key)
{
    jw_key(w, key);
    jw_null(w);
}

static void kv_bool(struct jw *w, const char *key, bool v)
{
    jw_key(w, key);
    jw_bool(w, v);
}

static void group_json(struct jw *w, const struct cl *c, const char *pool, const char *pool_id,
                       int declared)
{
    struct gcount n;
    bool have = c->have_obs &&
                ex__group_count(c, pool ? pool_id : NULL, pool && !pool_id ? pool : NULL, &n);
    jw_open(w, '{');
    kv_str(w, "pool", pool);
    if (declared >= 0)
        kv_int(w, "declared", declared);
    else
        kv_null(w, "declared");
    if (have) {
        kv_int(w, "observed", n.observed);
        kv_int(w, "ready", n.ready);
        /* The same states as nodeherd_nodes{state}. */
        jw_key(w, "nodes");
        jw_open(w, '{');
        for (size_t k = 0; k < sizeof(gcount_states) / sizeof(*gcount_states); k++)
            kv_int(w, gcount_states[k], gcount_get(&n, k));
        jw_close(w, '}');
    } else {
        kv_null(w, "observed");
        kv_null(w, "ready");
        kv_null(w, "nodes");
    }
    jw_close(w, '}');
}

/* Kubernetes access (issue #20): null without kubernetes:; reachable
 * null until first tried; why: the call and outcome when it is not. */
static void kube_json(struct jw *w, const struct cl *c, const struct nh_cfg_cluster *cc)
{
    if (cc == NULL || !cc->kube_access) {
        jw_null(w);
        return;
    }
    const char *reach = ex__cl_kube_reach(c);
    jw_open(w, '{');
    if (reach == NULL)
        kv_null(w, "reachable");
    else
        kv_bool(w, "reachable", reach[0] == '\0');
    kv_str(w, "why", reach != NULL && reach[0] ? reach : NULL);
    jw_close(w, '}');
}

/* The declared groups (workers, pools), then the pools the cloud has that
 * the declaration does not name. */
static void groups_json(struct jw *w, const struct cl *c, const struct nh_cfg_cluster *cc)
{
    jw_open(w, '[');
    if (cc && cc->workers >= 0)
        group_json(w, c, NULL, NULL, cc->workers);
    for (size_t i = 0; cc && i < cc->n_pools; i++)
        group_json(w, c, cc->pools[i].name, cc->pools[i].id, cc->pools[i].nodes);
    for (size_t i = 0; c->have_obs && !c->removed && i < c->obs.n_pools; i++) {
        const struct nh_obs_pool *p = &c->obs.pools[i];
        if (!pool_is_declared(cc, p) && p->id != NULL)
            group_json(w, c, p->name ? p->name : p->id, p->id, -1);
    }
    jw_close(w, ']');
}

static void inflight_json(struct jw *w, const struct opnode *n, int64_t now_wall)
{
    jw_open(w, '{');
    /* The journal's sequence number; null while the operation's first
     * record is being written (journal sequence numbers start at 1, so
     * 0 is "not recorded yet", never a number to show or to match
     * against the journal; nothing is sent before that write ends). */
    if (n->op.seq > 0)
        kv_int(w, "seq", (int64_t)n->op.seq);
    else
        kv_null(w, "seq");
    kv_str(w, "kind", nh_action_kind_name(n->op.action.kind));
    kv_str(w, "pool", n->op.action.pool_name);
    kv_int(w, "target", n->op.action.target);
    jw_key(w, "nodes");
    jw_open(w, '[');
    for (size_t k = 0; k < n->op.action.n_nodes; k++)
        jw_str(w, n->op.action.node_ids[k]);
    jw_close(w, ']');
    kv_str(w, "job", n->op.job_id);
    kv_str(w, "state", nh_op_state_name(n->op.state));
    if (n->percent >= 0)
        kv_int(w, "progress", n->percent);
    else
        kv_null(w, "progress");
    kv_str(w, "phase", n->phase[0] ? n->phase : NULL);
    kv_str(w, "rule", nh_rule_name(n->op.action.rule));
    kv_str(w, "revision", n->op.revision);
    kv_int(w, "age_s", (now_wall * 1000 - n->op.started_ms) / 1000);
    jw_close(w, '}');
}

static void note_json(struct jw *w, const struct nh_note *n)
{
    jw_open(w, '{');
    kv_str(w, "kind", nh_note_kind_name(n->kind));
    kv_str(w, "rule", nh_rule_name(n->rule));
    kv_str(w, "pool", n->pool);
    kv_str(w, "msg", n->msg);
    kv_str(w, "fix", n->fix[0] ? n->fix : NULL);
    jw_close(w, '}');
}

/* An action of the last plan that a held cluster did not send. */
static void would_json(struct jw *w, const struct nh_action *a)
{
    jw_open(w, '{');
    kv_str(w, "kind", nh_action_kind_name(a->kind));
    kv_str(w, "pool", a->pool_name);
    kv_int(w, "from", a->from);
    kv_int(w, "target", a->target);
    jw_key(w, "nodes");
    jw_open(w, '[');
    for (size_t k = 0; k < a->n_nodes; k++)
        jw_str(w, a->node_ids[k]);
    jw_close(w, ']');
    kv_str(w, "rule", nh_rule_name(a->rule));
    kv_str(w, "why", a->why);
    jw_close(w, '}');
}

static void recent_json(struct jw *w, const struct recent *r)
{
    jw_open(w, '{');
    kv_int(w, "time", r->time);
    kv_str(w, "kind", nh_action_kind_name(r->kind));
    kv_str(w, "pool", r->pool[0] ? r->pool : NULL);
    kv_int(w, "target", r->target);
    kv_int(w, "nodes", (int64_t)r->n_nodes);
    kv_str(w, "result", r->result);
    kv_str(w, "rule", nh_rule_name(r->rule));
    kv_str(w, "revision", r->revision);
    kv_str(w, "job", r->job[0] ? r->job : NULL);
    jw_close(w, '}');
}

static void cluster_json(struct jw *w, const struct cl *c, int64_t now_wall)
{
    const struct nh_cfg_cluster *was = c->cfg;
    /* A removed cluster declares nothing: only its operations are shown. */
    const struct nh_cfg_cluster *cc = c->removed ? NULL : c->cfg;

    jw_open(w, '{');
    kv_str(w, "name", c->name);
    kv_str(w, "provider", was ? was->provider_name : NULL);
    kv_str(w, "kind", was && was->provider ? nh_provider_kind_name(was->provider->kind) : NULL);
    kv_str(w, "state", ex__cl_state_word(c));
    /* active, or held: "suspended" / "dry-run" (nothing new is sent; what
     * would be done is in `would`). */
    kv_str(w, "mode", ex__cl_held(c) ? ex__cl_held(c) : "active");
    if (c->last_ok_unix)
        kv_int(w, "last_poll", c->last_ok_unix);
    else
        kv_null(w, "last_poll");
    /* obs is a merged view (ex__cl_merge_pool_read, ex__cl_relist_after_job):
     * when it was read; last_poll stays the last full observation. */
    if (c->obs_merged)
        kv_int(w, "pool_read", c->merged_unix);
    else
        kv_null(w, "pool_read");
    kv_str(w, "last_error", c->last_error[0] ? c->last_error : NULL);
    jw_key(w, "kubernetes");
    kube_json(w, c, cc);
    jw_key(w, "groups");
    groups_json(w, c, cc);
    jw_key(w, "in_flight");
    jw_open(w, '[');
    for (const struct opnode *n = c->ops; n; n = n->next)
        if (!n->closed)
            inflight_json(w, n, now_wall);
    jw_close(w, ']');
    jw_key(w, "notes");
    jw_open(w, '[');
    for (size_t i = 0; i < c->last_plan.n_notes; i++)
        note_json(w, &c->last_plan.notes[i]);
    jw_close(w, ']');
    /* Held: the actions of the last plan, which were not sent. */
    jw_key(w, "would");
    jw_open(w, '[');
    for (size_t i = 0; ex__cl_held(c) != NULL && i < c->last_plan.n_actions; i++)
        would_json(w, &c->last_plan.actions[i]);
    jw_close(w, ']');
    jw_key(w, "recent");
    jw_open(w, '[');
    size_t have = c->n_recent < NH_RECENT_MAX ? c->n_recent : NH_RECENT_MAX;
    for (size_t k = 0; k < have; k++)
        recent_json(w, &c->recent[(c->n_recent - 1 - k) % NH_RECENT_MAX]);
    jw_close(w, ']');
    jw_close(w, '}');
}

int nh_engine_status_json(const struct nh_engine *e, struct nh_buf *out)
{
    struct jw w = {.b = out, .r = 0, .comma = false};
    struct nh_engine_summary s;
    size_t start = out->len;
    int64_t now = time(NULL);

    nh_engine_summary(e, &s);
    jw_open(&w, '{');
    kv_str(&w, "version", NH_VERSION);
    kv_str(&w, "revision", e->cfg->revision);
    kv_str(&w, "role", e->role);
    kv_bool(&w, "ready", e->ready_sent);
    kv_int(&w, "started", e->started_unix);
    kv_int(&w, "now", now);
    kv_bool(&w, "dry_run", e->o.dry_run || e->cfg->daemon.dry_run);
    /* "command line" (run --dry-run: for the process's life) or
     * "configuration" (daemon.dry_run: follows reloads); null: acting. */
    kv_str(&w, "dry_run_source",
           e->o.dry_run             ? "command line"
           : e->cfg->daemon.dry_run ? "configuration"
                                    : NULL);
    jw_key(&w, "journal");
    jw_open(&w, '{');
    kv_bool(&w, "healthy", e->journal_error[0] == '\0');
    kv_str(&w, "error", e->journal_error[0] ? e->journal_error : NULL);
    jw_close(&w, '}');
    jw_key(&w, "summary");
    jw_open(&w, '{');
    kv_int(&w, "clusters", (int64_t)s.clusters);
    kv_int(&w, "converged", (int64_t)s.converged);
    kv_int(&w, "converging", (int64_t)s.converging);
    kv_int(&w, "failing", (int64_t)s.failing);
    kv_int(&w, "blocked", (int64_t)s.blocked);
    kv_int(&w, "suspended", (int64_t)s.suspended);
    kv_int(&w, "dry_run", (int64_t)s.dry_run);
    kv_int(&w, "jobs_in_flight", (int64_t)s.jobs_in_flight);
    jw_close(&w, '}');
    jw_key(&w, "clusters");
    jw_open(&w, '[');
    for (const struct cl *c = e->clusters; c; c = c->next)
        if (!c->removed || ex__cl_retiring(c))
            cluster_json(&w, c, now);
    jw_close(&w, ']');
    jw_close(&w, '}');
    if (w.r != 0 && out->data != NULL) {
        /* All or nothing, as before: drop what this call appended. */
        out->len = start;
        out->data[start] = '\0';
    }
    return w.r;
}
