/* engine.c - the engine object: new/start/reload/stop/free, its clusters'
 * lifecycle, providers, leadership and journal health. One cluster's
 * cycle (observe, plan, act, backoff) is in cycle.c. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "executor/engine_int.h"
#include "ops/metrics.h"
#include "planner/plan.h"
#include "util/log.h"
#include "util/rand.h"

/* ---------- small helpers ---------- */

uint64_t nh_engine_rand(struct nh_engine *e)
{
    return nh_rand_next(&e->rng); /* jitter only, not security */
}

uint64_t ex__engine_now(const struct nh_engine *e)
{
    if (e->o.test != NULL && e->o.test->now_ms != NULL)
        return e->o.test->now_ms(e->o.test->ud);
    return uv_now(e->loop);
}

void nh_engine_test_clock_moved(struct nh_engine *e)
{
    for (struct cl *c = e->clusters; c; c = c->next)
        if (!c->removed)
            ex__cl_schedule_next(c);
}

bool nh_engine_dry_run(const struct nh_engine *e, bool *forced)
{
    if (forced != NULL)
        *forced = e->o.dry_run;
    return e->o.dry_run || e->cfg->daemon.dry_run;
}

struct cl *ex__engine_find_cluster(struct nh_engine *e, const char *name)
{
    for (struct cl *c = e->clusters; c; c = c->next)
        if (!c->removed && strcmp(c->name, name) == 0)
            return c;
    return NULL;
}

void ex__cl_changed(struct cl *c)
{
    if (c->e->o.on_change)
        c->e->o.on_change(c->e->o.ud);
}

void ex__err_public(const struct nh_prov_error *e, char *buf, size_t len)
{
    if (e->http_status > 0) /* an answer: its text stays out */
        snprintf(buf, len, "%s%s%.60s%s%.40s, HTTP %d%s%.80s", nh_err_class_name(e->cls),
                 e->code[0] ? " " : "", e->code, e->op[0] ? ", " : "", e->op, e->http_status,
                 e->request_id[0] ? ", request " : "", e->request_id);
    else
        snprintf(buf, len, "%s%s%.40s: %.150s", nh_err_class_name(e->cls), e->op[0] ? ", " : "",
                 e->op, e->message);
}

void ex__cl_record_recent(struct cl *c, const struct nh_op *op, const char *result)
{
    if (c->recent == NULL && (c->recent = calloc(NH_RECENT_MAX, sizeof(*c->recent))) == NULL) {
        nh_log(LOG_WARNING, "%s: out of memory: the %s is not kept in the status history", c->name,
               nh_action_kind_name(op->action.kind));
        return;
    }
    struct recent *r = &c->recent[c->n_recent % NH_RECENT_MAX];

    memset(r, 0, sizeof(*r));
    r->time = time(NULL);
    r->kind = op->action.kind;
    snprintf(r->pool, sizeof(r->pool), "%s", op->action.pool_name ? op->action.pool_name : "");
    r->target = op->action.target;
    r->n_nodes = op->action.n_nodes;
    snprintf(r->result, sizeof(r->result), "%s", result);
    r->rule = op->action.rule;
    snprintf(r->revision, sizeof(r->revision), "%s", op->revision ? op->revision : "");
    snprintf(r->job, sizeof(r->job), "%s", op->job_id ? op->job_id : "");
    c->n_recent++;
}

/* ---------- cluster lifecycle ---------- */

static void cl_unlink(struct cl *c);

static void cl_free_now(struct cl *c)
{
    if (c->e != NULL)
        cl_unlink(c);
    ex__ops_free_all(c);
    ex__cl_kube_free(c);
    nh_observed_clear(&c->obs);
    nh_plan_clear(&c->last_plan);
    free(c->last_plan_text);
    free(c->recent);
    nh_config_unref(c->accepted_cfg);
    nh_config_unref(c->retired_cfg);
    free(c->name);
    free(c);
}

static void cl_unlink(struct cl *c)
{
    struct cl **pp = &c->e->clusters;
    while (*pp && *pp != c)
        pp = &(*pp)->next;
    if (*pp)
        *pp = c->next;
}

static void engine_gc_providers(struct nh_engine *e);

static void cl_on_timer_closed(uv_handle_t *h)
{
    struct cl *c = h->data;
    struct nh_engine *e = c->e;
    c->open_handles--;
    /* At engine teardown (e == NULL) everything goes. Otherwise removed
     * clusters are freed once nothing refers to them any more (no provider
     * call in flight for them or their operations). */
    if (e == NULL) {
        cl_free_now(c);
        return;
    }
    ex__cl_maybe_free(c);
    engine_gc_providers(e); /* a retired provider it used may be unused now */
}

/* A removed cluster whose last call or operation just ended: a retiring one
 * closes its timer (freed from the close callback), then it goes. */
void ex__cl_maybe_free(struct cl *c)
{
    if (!c->removed || c->observing || c->ops != NULL)
        return;
    if (c->open_handles == 0) {
        cl_free_now(c);
        return;
    }
    if (c->e != NULL && !uv_is_closing((uv_handle_t *)&c->poll_timer)) {
        nh_log(LOG_INFO, "%s: the last operation of the removed cluster ended", c->name);
        uv_close((uv_handle_t *)&c->poll_timer, cl_on_timer_closed);
    }
}

/* The failure series of nodeherd_actions_total that alerts watch with
 * increase() (contrib/prometheus/alerts.yaml, NodeherdActionsFailing) exist
 * at 0 from the start: Prometheus sees no increase in a series whose first
 * sample already counts the first failure. Successes ("issued", "done") are
 * not alerted on and appear with their first operation. */
static void cl_metrics_init(const char *cluster)
{
    static const enum nh_action_kind kinds[] = {NH_ACT_SCALE_CLUSTER, NH_ACT_SCALE_POOL,
                                                NH_ACT_REMOVE_NODES, NH_ACT_DELETE_POOL};
    static const char *const results[] = {"failed", "timed_out", "unknown"};
    for (size_t k = 0; k < sizeof(kinds) / sizeof(kinds[0]); k++)
        for (size_t r = 0; r < sizeof(results) / sizeof(results[0]); r++)
            nh_metrics_inc("nodeherd_actions_total", 0, "cluster", cluster, "kind",
                           nh_action_kind_name(kinds[k]), "result", results[r], NULL);
}

static struct cl *cl_new(struct nh_engine *e, const struct nh_cfg_cluster *cfg)
{
    struct cl *c = calloc(1, sizeof(*c));
    if (c == NULL)
        return NULL;
    c->name = strdup(cfg->name);
    if (c->name == NULL) {
        free(c);
        return NULL;
    }
    c->e = e;
    c->cfg = cfg;
    cl_metrics_init(c->name);
    uv_timer_init(e->loop, &c->poll_timer);
    c->poll_timer.data = c;
    c->open_handles = 1;
    return c;
}

static struct nh_provider *engine_provider(struct nh_engine *e, const char *name)
{
    for (struct prov_entry *pe = e->provs; pe; pe = pe->next)
        if (strcmp(pe->name, name) == 0)
            return pe->p;
    return NULL;
}

/* ---------- readiness ---------- */

/* READY once every declared cluster was tried once (cycle.c calls it at the
 * end of each first observation). */
void ex__engine_maybe_ready(struct nh_engine *e)
{
    if (e->ready_sent)
        return;
    for (struct cl *c = e->clusters; c; c = c->next)
        if (!c->removed && (!c->tried_once || c->reading_state || ex__cl_nodes_due(c)))
            return;
    e->ready_sent = true;
    if (e->o.on_first_poll)
        e->o.on_first_poll(e->o.ud);
}

/* ---------- providers ---------- */

static void api_observer(void *ud, const struct nh_call *call, const struct nh_http_resp *resp,
                         enum nh_verdict v, uint64_t waited_ms)
{
    const struct prov_entry *pe = ud;
    const char *prov = pe->name;
    char code[32];
    const char *op = call->op_name ? call->op_name : "unknown";

    if (resp->outcome == NH_HTTP_OK)
        snprintf(code, sizeof(code), "%d", resp->status);
    else
        snprintf(code, sizeof(code), "%s", nh_http_outcome_name(resp->outcome));
    nh_metrics_inc("nodeherd_api_requests_total", 1, "provider", prov, "operation", op, "code",
                   code, NULL);
    nh_metrics_observe("nodeherd_api_request_duration_seconds", resp->elapsed_ms / 1000.0,
                       "provider", prov, "operation", op, NULL);
    nh_metrics_observe("nodeherd_ratelimit_wait_seconds", (double)waited_ms / 1000.0, "provider",
                       prov, NULL);
    if (v == NH_V_THROTTLED)
        nh_metrics_inc("nodeherd_throttled_total", 1, "provider", prov, NULL);
    if (pe->p != NULL && pe->p->client != NULL)
        nh_metrics_set("nodeherd_ratelimit_requests_per_second", nh_client_rate(pe->p->client),
                       "provider", prov, NULL);
}

static bool secret_eq(const struct nh_secret *a, const struct nh_secret *b)
{
    size_t la, lb;
    const unsigned char *pa, *pb;
    if (a == NULL || b == NULL)
        return a == b;
    pa = nh_secret_bytes(a, &la);
    pb = nh_secret_bytes(b, &lb);
    return la == lb && memcmp(pa, pb, la) == 0;
}

static bool str_eq(const char *a, const char *b)
{
    if (a == NULL || b == NULL)
        return a == b;
    return strcmp(a, b) == 0;
}

static bool provider_cfg_eq(const struct nh_cfg_provider *a, const struct nh_cfg_provider *b)
{
    return str_eq(a->name, b->name) && a->kind == b->kind && str_eq(a->region, b->region) &&
           str_eq(a->endpoint, b->endpoint) && str_eq(a->project_id, b->project_id) &&
           a->signing == b->signing && secret_eq(a->access_key_id, b->access_key_id) &&
           secret_eq(a->access_key_secret, b->access_key_secret) && secret_eq(a->token, b->token) &&
           a->qps == b->qps && a->burst == b->burst && a->timeout_ms == b->timeout_ms &&
           a->connect_timeout_ms == b->connect_timeout_ms && str_eq(a->ca_file, b->ca_file);
}

static struct prov_entry *prov_entry_new(struct nh_engine *e, const struct nh_cfg_provider *pc,
                                         char *err, size_t errlen)
{
    struct prov_entry *pe = calloc(1, sizeof(*pe));
    if (pe == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    pe->name = strdup(pc->name);
    if (pe->name == NULL) {
        free(pe);
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    struct nh_provider_env env = {
        .loop = e->loop,
        .http = e->o.http,
        .observer = api_observer,
        .observer_ud = pe,
        /* HA: fenced by the client when each mutating attempt is handed to
         * the HTTP layer (the first send and every retry). */
        .gate = e->o.fence,
        .gate_ud = e->o.ud,
    };
    char perr[256] = "";
    int r;
    if (e->o.test != NULL && e->o.test->provider_new != NULL) {
        pe->test = e->o.test;
        r = e->o.test->provider_new(e->o.test->ud, pc, e->loop, &pe->p);
        snprintf(perr, sizeof(perr), "the test's provider: %s", r < 0 ? strerror(-r) : "");
    } else {
        r = nh_provider_new(pc, &env, &pe->p, perr, sizeof(perr));
    }
    if (r < 0) {
        snprintf(err, errlen, "provider %s: %s", pc->name, perr);
        free(pe->name);
        free(pe);
        return NULL;
    }
    pe->snap = (struct nh_cfg_provider *)pc;
    /* Alerts use increase()/rate() on this counter: the series must exist
     * at 0 before the first throttle, or that first one is invisible. */
    nh_metrics_inc("nodeherd_throttled_total", 0, "provider", pc->name, NULL);
    return pe;
}

/* Frees the entry's provider (cancelling its calls); NULL after. */
static void prov_entry_release(struct prov_entry *pe)
{
    if (pe->test != NULL)
        pe->test->provider_free(pe->test->ud, pe->p);
    else
        nh_provider_free(pe->p);
    pe->p = NULL;
}

static void prov_entry_free(struct prov_entry *pe)
{
    if (pe == NULL)
        return;
    prov_entry_release(pe);
    free(pe->name);
    free(pe);
}

/* Frees the retired providers no cluster follows anything through any more.
 * Never from inside a provider's callback (a loop callback of our own). */
static void engine_gc_providers(struct nh_engine *e)
{
    for (struct prov_entry **pp = &e->retired_provs; *pp != NULL;) {
        struct prov_entry *pe = *pp;
        bool used = false;
        for (struct cl *c = e->clusters; c && !used; c = c->next)
            used = c->prov == pe->p && pe->p != NULL;
        if (used) {
            pp = &pe->next;
            continue;
        }
        *pp = pe->next;
        nh_log(LOG_INFO, "provider %s: no longer used; released", pe->name);
        prov_entry_free(pe);
    }
}

/* A retiring cluster follows its operations through the configured provider
 * of the same name and kind, or else through the one it had, kept alive off
 * the configured list (taken from `drop`, the providers a reload is about to
 * free) until nothing uses it. */
static void cl_retire_provider(struct nh_engine *e, struct cl *c, struct prov_entry **drop)
{
    struct prov_entry *pe;

    for (pe = e->provs; pe; pe = pe->next)
        if (c->prov != NULL && pe->p == c->prov)
            return; /* still configured, unchanged */
    for (pe = e->retired_provs; pe; pe = pe->next)
        if (c->prov != NULL && pe->p == c->prov)
            return; /* kept already */
    struct nh_provider *np = engine_provider(e, c->cfg->provider_name);
    if (np != NULL && c->cfg->provider != NULL && np->kind == c->cfg->provider->kind) {
        c->prov = np;
        return;
    }
    for (struct prov_entry **pp = drop; *pp != NULL; pp = &(*pp)->next) {
        if (c->prov == NULL || (*pp)->p != c->prov)
            continue;
        pe = *pp;
        *pp = pe->next;
        pe->next = e->retired_provs;
        e->retired_provs = pe;
        nh_log(LOG_INFO, "provider %s: kept while removed cluster %s has operations in flight",
               pe->name, c->name);
        return;
    }
    if (c->prov == NULL)
        nh_log(LOG_WARNING,
               "%s: removed with operations open and no provider to follow them; they stay "
               "open in the journal until it is declared again",
               c->name);
}

/* A retiring cluster of this name that names the same cloud object. */
static struct cl *engine_find_retiring(struct nh_engine *e, const struct nh_cfg_cluster *cc)
{
    for (struct cl *c = e->clusters; c; c = c->next)
        if (ex__cl_retiring(c) && strcmp(c->name, cc->name) == 0 &&
            str_eq(c->cfg->provider_name, cc->provider_name) && str_eq(c->cfg->id, cc->id) &&
            str_eq(c->cfg->pool, cc->pool))
            return c;
    return NULL;
}

/* ---------- public ---------- */

/* Reads dir/journal.log without opening it for writing. */
static int journal_peek(const char *dir, struct nh_journal_replay *rep, char *err, size_t errlen)
{
    char path[4096];
    FILE *f;
    char *data = NULL;
    size_t len = 0, cap = 0;
    int r;

    snprintf(path, sizeof(path), "%s/journal.log", dir);
    f = fopen(path, "re");
    if (f == NULL)
        return -errno;
    for (;;) {
        if (len + 65536 > cap) {
            if (cap > (size_t)64 << 20) {
                fclose(f);
                free(data);
                return -E2BIG;
            }
            char *p = realloc(data, cap ? cap * 2 : 65536 * 2);
            if (p == NULL) {
                fclose(f);
                free(data);
                return -ENOMEM;
            }
            data = p;
            cap = cap ? cap * 2 : 65536 * 2;
        }
        size_t n = fread(data + len, 1, cap - len, f);
        len += n;
        if (n == 0)
            break;
    }
    fclose(f);
    r = nh_journal_parse(data ? data : "", len, rep, err, errlen);
    free(data);
    return r;
}

/* A dry run reads the journal without opening it for writing: it must not
 * plan over a running daemon's work (its operations are shown, never
 * resumed). */
static void engine_peek_journal(const char *dir, struct nh_journal_replay *rep)
{
    char jerr[768] = "";
    int r = journal_peek(dir, rep, jerr, sizeof(jerr));
    if (r < 0 && r != -ENOENT && r != -EACCES)
        nh_log(LOG_WARNING,
               "state journal in %s could not be read (%s); operations in "
               "flight are not shown",
               dir, jerr[0] ? jerr : strerror(-r));
}

/* HA: operations live in etcd, and the local journal is never used:
 * resumed here, its operations could be closed by no one (a follower does
 * not act, the leader writes to etcd), and a leader elsewhere would not
 * know them. One that still holds open operations - from a run without
 * ha: - stops the start, naming the fix. */
static int engine_check_ha_journal(const char *dir, char *err, size_t errlen)
{
    struct nh_journal_replay rep = {0};
    char jerr[768] = "";
    int r = journal_peek(dir, &rep, jerr, sizeof(jerr));
    if (r == 0 && rep.n_open > 0) {
        const struct nh_op *op = &rep.open_ops[0];
        snprintf(err, errlen,
                 "state journal %s/journal.log holds %zu open operation%s from a run without "
                 "ha: (operation %llu: %s on cluster %s); with ha: operations live in etcd "
                 "and this journal is never resumed: run nodeherd once without ha: until "
                 "they close (nodeherd status shows them), or check them in the cloud and "
                 "move the file aside",
                 dir, rep.n_open, rep.n_open == 1 ? "" : "s", (unsigned long long)op->seq,
                 nh_action_kind_name(op->action.kind),
                 op->action.cluster ? op->action.cluster : "?");
        r = -EBUSY;
    } else if (r < 0 && r != -ENOENT) {
        snprintf(err, errlen,
                 "state journal %s/journal.log cannot be read (%s); with ha: it must hold no "
                 "open operation: inspect it, then move it aside",
                 dir, jerr[0] ? jerr : strerror(-r));
    } else {
        r = 0;
    }
    nh_journal_replay_clear(&rep);
    return r;
}

/* Opens where the engine keeps its operations (e->o says which: read only
 * for a dry run, etcd with ha:, else the local journal, whose open
 * operations go to rep) and the audit log. < 0 with err set: the engine
 * cannot start. */
static int engine_open_journal(struct nh_engine *e, const char *dir, struct nh_journal_replay *rep,
                               char *err, size_t errlen)
{
    int r;

    if (e->o.dry_run) {
        engine_peek_journal(dir, rep);
    } else if (e->o.jstore != NULL) {
        r = engine_check_ha_journal(dir, err, errlen);
        if (r < 0)
            return r;
        e->audit = nh_audit_open(dir);
    } else {
        char jerr[768] = "";
        r = nh_journal_open(dir, &e->journal, rep, jerr, sizeof(jerr));
        if (r < 0) {
            snprintf(err, errlen, "state journal in %s: %s", dir, jerr);
            return r;
        }
        if (rep->warning[0])
            nh_log(LOG_WARNING, "state journal: %s", rep->warning);
        e->audit = nh_audit_open(dir);
    }
    if (e->o.jstore != NULL) {
        e->jstore = e->o.jstore;
        e->jstore_ctx = e->o.jstore_ctx;
    } else if (e->journal != NULL) {
        e->local_store.loop = e->loop;
        e->local_store.journal = e->journal;
        e->jstore = &nh_journal_store_ops;
        e->jstore_ctx = &e->local_store;
    }
    return 0;
}

static int engine_add_providers(struct nh_engine *e, const struct nh_config *cfg, char *err,
                                size_t errlen)
{
    struct prov_entry **tail = &e->provs;
    for (size_t i = 0; i < cfg->n_providers; i++) {
        struct prov_entry *pe = prov_entry_new(e, &cfg->providers[i], err, errlen);
        if (pe == NULL)
            return -EINVAL;
        *tail = pe;
        tail = &pe->next;
    }
    return 0;
}

static int engine_add_clusters(struct nh_engine *e, const struct nh_config *cfg, char *err,
                               size_t errlen)
{
    struct cl **ctail = &e->clusters;
    for (size_t i = 0; i < cfg->n_clusters; i++) {
        struct cl *c = cl_new(e, &cfg->clusters[i]);
        if (c == NULL) {
            snprintf(err, errlen, "out of memory");
            return -ENOMEM;
        }
        c->prov = engine_provider(e, cfg->clusters[i].provider_name);
        *ctail = c;
        ctail = &c->next;
    }
    return 0;
}

/* The journal's open operations are followed on (never re-sent). */
static void engine_resume_journal(struct nh_engine *e, const struct nh_journal_replay *rep)
{
    for (size_t i = 0; i < rep->n_open; i++) {
        const struct nh_op *op = &rep->open_ops[i];
        struct cl *c = op->action.cluster ? ex__engine_find_cluster(e, op->action.cluster) : NULL;
        if (c == NULL) {
            nh_log(LOG_WARNING,
                   "state journal: operation %llu (%s) is for cluster \"%s\", which is no longer "
                   "configured; it stays open in the journal",
                   (unsigned long long)op->seq, nh_action_kind_name(op->action.kind),
                   op->action.cluster ? op->action.cluster : "?");
            continue;
        }
        ex__ops_resume(c, op);
    }
    if (rep->n_open > 0)
        nh_log(LOG_NOTICE, "state journal: resuming %zu operation%s in flight (never re-sent)",
               rep->n_open, rep->n_open == 1 ? "" : "s");
}

int nh_engine_new(const struct nh_engine_opts *opts, struct nh_config *cfg, struct nh_engine **ret,
                  char *err, size_t errlen)
{
    struct nh_engine *e = calloc(1, sizeof(*e));
    struct nh_journal_replay rep = {0};
    int r;

    if (e == NULL) {
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    e->o = *opts;
    e->loop = opts->loop;
    e->cfg = nh_config_ref(cfg);
    e->started_unix = time(NULL);
    e->rng = ((uint64_t)time(NULL) << 20) ^ (uint64_t)getpid() ^ 0x9E3779B97F4A7C15ULL;
    ex__status_describe_metrics();

    const char *dir = opts->state_dir ? opts->state_dir : cfg->daemon.state_dir;
    e->state_dir = strdup(dir ? dir : "");
    if (e->state_dir == NULL) {
        snprintf(err, errlen, "out of memory");
        nh_config_unref(e->cfg);
        free(e);
        return -ENOMEM;
    }
    r = engine_open_journal(e, dir, &rep, err, errlen);
    if (r < 0) {
        nh_config_unref(e->cfg);
        free(e->state_dir);
        free(e);
        return r;
    }
    e->leader = !opts->start_as_follower;
    snprintf(e->role, sizeof(e->role), "%s", opts->start_as_follower ? "follower" : "single");

    r = engine_add_providers(e, cfg, err, errlen);
    if (r == 0)
        r = engine_add_clusters(e, cfg, err, errlen);
    if (r < 0) {
        nh_journal_replay_clear(&rep);
        nh_engine_free(e);
        return r;
    }
    engine_resume_journal(e, &rep);
    nh_journal_replay_clear(&rep);
    nh_metrics_set("nodeherd_clusters", (double)cfg->n_clusters, NULL);
    ex__status_collect(e, true); /* until nh_engine_free */
    *ret = e;
    return 0;
}

int nh_engine_start(struct nh_engine *e)
{
    size_t n = 0;
    e->started = true;
    for (struct cl *c = e->clusters; c; c = c->next)
        ex__cl_start(c, n++ == 0);
    ex__engine_maybe_ready(e);
    return 0;
}

static bool strv_eq(char *const *a, size_t na, char *const *b, size_t nb)
{
    if (na != nb)
        return false;
    for (size_t i = 0; i < na; i++)
        if (!str_eq(a[i], b[i]))
            return false;
    return true;
}

/* Did the declaration change in a way that could change the plan? */
static bool cluster_cfg_eq(const struct nh_cfg_cluster *a, const struct nh_cfg_cluster *b)
{
    if (!str_eq(a->provider_name, b->provider_name) || !str_eq(a->id, b->id) ||
        !str_eq(a->pool, b->pool) || a->workers != b->workers || a->min != b->min ||
        a->max != b->max || a->has_scale_out != b->has_scale_out || a->prune != b->prune ||
        a->pools_declared != b->pools_declared ||
        a->confirm_mass_removal != b->confirm_mass_removal || a->n_pools != b->n_pools ||
        !strv_eq(a->remove, a->n_remove, b->remove, b->n_remove) ||
        a->scale_in.max_per_cycle != b->scale_in.max_per_cycle ||
        a->scale_in.n_order != b->scale_in.n_order || a->kube_access != b->kube_access ||
        a->scale_in.drain != b->scale_in.drain ||
        a->scale_in.drain_timeout_ms != b->scale_in.drain_timeout_ms ||
        !strv_eq(a->scale_in.protect, a->scale_in.n_protect, b->scale_in.protect,
                 b->scale_in.n_protect) ||
        a->scale_in.n_protect_labels != b->scale_in.n_protect_labels ||
        a->poll_interval_ms != b->poll_interval_ms || a->suspend != b->suspend)
        return false;
    for (size_t i = 0; i < a->scale_in.n_order; i++)
        if (a->scale_in.order[i] != b->scale_in.order[i])
            return false;
    for (size_t i = 0; i < a->scale_in.n_protect_labels; i++)
        if (!str_eq(a->scale_in.protect_labels[i].key, b->scale_in.protect_labels[i].key) ||
            !str_eq(a->scale_in.protect_labels[i].value, b->scale_in.protect_labels[i].value))
            return false;
    for (size_t i = 0; i < a->n_pools; i++) {
        const struct nh_cfg_pool *p = &a->pools[i], *q = &b->pools[i];
        if (!str_eq(p->name, q->name) || !str_eq(p->id, q->id) || p->nodes != q->nodes ||
            p->min != q->min || p->max != q->max || !str_eq(p->flavor, q->flavor) ||
            p->manage_autoscaling != q->manage_autoscaling)
            return false;
    }
    return true;
}

/* Logs a hold switched on or off by a reload: the daemon's dry_run (c
 * NULL) or a cluster's suspend. Nothing in flight is cancelled either way. */
static void engine_log_hold_change(struct nh_engine *e, struct cl *c, const char *key, bool on)
{
    size_t inflight = 0;
    for (struct cl *k = e->clusters; k; k = k->next)
        if (!k->removed && (c == NULL || k == c))
            inflight += ex__ops_count(k);
    if (c == NULL && !on && e->o.dry_run) {
        nh_log(LOG_NOTICE,
               "reload: dry_run turned off in the configuration, but this process runs with "
               "--dry-run: still sending nothing (restart without --dry-run to act)");
        return;
    }
    if (on)
        nh_log(LOG_NOTICE,
               "reload: %s%s%s turned on: observing and planning, sending nothing new; %zu "
               "operation%s in flight %s followed to %s end, not cancelled",
               c ? "cluster " : "", c ? c->name : "", c ? " suspend" : key, inflight,
               inflight == 1 ? "" : "s", inflight == 1 ? "is" : "are",
               inflight == 1 ? "its" : "their");
    else
        nh_log(LOG_NOTICE, "reload: %s%s%s turned off: planned changes are sent from now on",
               c ? "cluster " : "", c ? c->name : "", c ? " suspend" : key);
}

/* Providers: keeps those whose settings are unchanged (their rate limiter
 * state and connections survive), builds new ones for the rest. Returns
 * the ones no longer configured (freed last, see nh_engine_reload). */
static struct prov_entry *engine_reload_providers(struct nh_engine *e, const struct nh_config *cfg)
{
    struct prov_entry *keep = NULL, **ktail = &keep, *drop;

    for (size_t i = 0; i < cfg->n_providers; i++) {
        const struct nh_cfg_provider *pc = &cfg->providers[i];
        struct prov_entry **pp = &e->provs, *pe = NULL;
        while (*pp) {
            if (strcmp((*pp)->name, pc->name) == 0 && provider_cfg_eq((*pp)->snap, pc)) {
                pe = *pp;
                *pp = pe->next;
                break;
            }
            pp = &(*pp)->next;
        }
        if (pe == NULL) {
            char err[320];
            pe = prov_entry_new(e, pc, err, sizeof(err));
            if (pe == NULL) {
                nh_log(LOG_ERR, "reload: %s; its clusters are paused", err);
                continue;
            }
            nh_log(LOG_INFO, "reload: provider %s (re)created", pc->name);
        }
        pe->snap = (struct nh_cfg_provider *)pc;
        pe->next = NULL;
        *ktail = pe;
        ktail = &pe->next;
    }
    drop = e->provs;
    e->provs = keep;
    return drop;
}

/* A retiring cluster declared again while its operations run: they carry
 * over (the planner sees them in flight; nothing is sent twice). */
static void cl_declared_again(struct nh_engine *e, struct cl *c, const struct nh_cfg_cluster *cc)
{
    nh_log(LOG_NOTICE,
           "reload: cluster %s declared again; its %zu operation%s in flight carr%s "
           "over",
           cc->name, ex__ops_count(c), ex__ops_count(c) == 1 ? "" : "s",
           ex__ops_count(c) == 1 ? "ies" : "y");
    c->removed = false;
    nh_config_unref(c->retired_cfg);
    c->retired_cfg = NULL;
    c->cfg = cc;
    c->prov = engine_provider(e, cc->provider_name);
    c->replan = true;
    ex__cl_changed(c);
    ex__cl_observe_soon(c, 0);
}

/* A cluster new in the file (NULL: out of memory, logged). */
static struct cl *cl_added(struct nh_engine *e, const struct nh_cfg_cluster *cc)
{
    struct cl *c = cl_new(e, cc);
    if (c == NULL) {
        nh_log(LOG_ERR, "reload: out of memory adding cluster %s", cc->name);
        return NULL;
    }
    c->prov = engine_provider(e, cc->provider_name);
    nh_log(LOG_NOTICE, "reload: cluster %s added", cc->name);
    ex__cl_observe_soon(c, 0);
    return c;
}

/* Holds of a cluster still declared (prev: its declaration before): a
 * switched suspend or dry run is logged and the plan said again; a
 * cluster losing kubernetes: or drain has nodeherd's cordons undone. */
static void cl_reload_holds(struct nh_engine *e, struct cl *c, const struct nh_cfg_cluster *prev,
                            bool dry_flip)
{
    const struct nh_cfg_cluster *cc = c->cfg;

    if (prev == NULL)
        return;
    if (prev->suspend != cc->suspend)
        engine_log_hold_change(e, c, "suspend", cc->suspend);
    if (dry_flip || prev->suspend != cc->suspend) {
        /* Say again what would be done (or do it, when released). */
        free(c->last_plan_text);
        c->last_plan_text = NULL;
    }
    if (prev->kube_access && prev->scale_in.drain && !(cc->kube_access && cc->scale_in.drain))
        ex__cl_kube_release(c, cc->kube_access ? "drain was turned off"
                                               : "its kubernetes: key was removed");
}

/* A cluster still declared, updated in place: planned again when its
 * declaration changed (or the dry run flipped). */
static void cl_reloaded(struct nh_engine *e, struct cl *c, const struct nh_cfg_cluster *cc,
                        const struct nh_cfg_cluster *prev, bool dry_flip)
{
    c->cfg = cc;
    c->prov = engine_provider(e, cc->provider_name);
    cl_reload_holds(e, c, prev, dry_flip);
    bool decl_changed = prev == NULL || !cluster_cfg_eq(prev, cc);
    const char *what = decl_changed ? "changed" : "held or released by dry_run";
    if (!decl_changed && !dry_flip)
        return;
    c->replan = true;
    /* Throttled operations waiting to go again were planned on the old
     * declaration: known unsent, they are dropped, then planned anew. */
    ex__ops_drop_unsent(c, "the declaration changed; planned again");
    if (ex__cl_fresh_enough(c) && !ex__cl_nodes_due(c)) {
        /* React at once: the observation in hand is complete, younger than
         * a poll interval and taken after the last operation here ended,
         * i.e. exactly what a poll would have planned on. Not when it holds
         * counts only and the new declaration may remove (ex__cl_nodes_due):
         * no removal is planned on counts, so the nodes are listed now
         * rather than at the next poll. */
        nh_log(LOG_INFO, "reload: cluster %s %s; planning on the observation of %llu ms ago",
               cc->name, what, (unsigned long long)(ex__engine_now(e) - (uint64_t)c->obs.at_ms));
        ex__cl_plan(c, true);
        ex__cl_changed(c);
        ex__cl_schedule_next(c);
    } else {
        nh_log(LOG_INFO, "reload: cluster %s %s; re-observing now", cc->name, what);
        if (!c->observing)
            ex__cl_observe_soon(c, 0);
    }
}

/* Clusters of the new file (e->cfg): updated in place, added, or taken
 * back from retirement. Those left with cfg NULL are no longer declared. */
static void engine_reload_clusters(struct nh_engine *e, const struct nh_config *old, bool dry_flip)
{
    const struct nh_config *cfg = e->cfg;

    for (struct cl *c = e->clusters; c; c = c->next)
        if (!c->removed)
            c->cfg = NULL;
    struct cl **tail = &e->clusters;
    while (*tail)
        tail = &(*tail)->next;
    for (size_t i = 0; i < cfg->n_clusters; i++) {
        const struct nh_cfg_cluster *cc = &cfg->clusters[i];
        struct cl *c = ex__engine_find_cluster(e, cc->name);
        if (c == NULL && (c = engine_find_retiring(e, cc)) != NULL) {
            cl_declared_again(e, c, cc);
        } else if (c == NULL) {
            c = cl_added(e, cc);
            if (c != NULL) {
                *tail = c;
                tail = &c->next;
            }
        } else {
            cl_reloaded(e, c, cc, old ? nh_config_cluster(old, cc->name) : NULL, dry_flip);
        }
    }
}

/* A cluster no longer declared: nodeherd stops managing it (nothing is
 * removed). Its operations in flight are followed to their end (or carried
 * over to a cluster of the same name declared again) with the declaration
 * it had in old; without any, it goes now. */
static void cl_retire(struct nh_engine *e, struct cl *c, struct nh_config *old,
                      struct prov_entry **drop)
{
    const struct nh_cfg_cluster *was = old ? nh_config_cluster(old, c->name) : NULL;
    size_t open = ex__ops_count(c);

    /* nodeherd's cordons there are undone before its client goes */
    ex__cl_kube_release(c, "the cluster is no longer declared");
    c->removed = true;
    if (open > 0 && was != NULL) {
        nh_log(LOG_NOTICE,
               "reload: cluster %s is no longer declared; nodeherd stops managing it "
               "(nothing is removed) and follows its %zu operation%s in flight to their end",
               c->name, open, open == 1 ? "" : "s");
        c->retired_cfg = nh_config_ref(old);
        c->cfg = was;
        nh_plan_clear(&c->last_plan);
        cl_retire_provider(e, c, drop);
        ex__ops_drop_unsent(c, "the cluster is no longer declared");
        ex__cl_schedule_next(c);
        ex__cl_maybe_free(c);
        return;
    }
    nh_log(LOG_NOTICE,
           "reload: cluster %s is no longer declared; nodeherd stops managing it "
           "(nothing is removed)",
           c->name);
    c->prov = NULL;
    uv_close((uv_handle_t *)&c->poll_timer, cl_on_timer_closed);
}

void nh_engine_reload(struct nh_engine *e, struct nh_config *cfg)
{
    struct nh_config *old = e->cfg;
    struct prov_entry *drop;

    nh_config_ref(cfg);
    drop = engine_reload_providers(e, cfg);
    e->cfg = cfg;

    /* The dry run is a switch: honoured from this reload on, both ways. */
    bool dry_flip = old != NULL && old->daemon.dry_run != cfg->daemon.dry_run;
    if (dry_flip)
        engine_log_hold_change(e, NULL, "dry_run", cfg->daemon.dry_run);

    engine_reload_clusters(e, old, dry_flip);
    for (struct cl *c = e->clusters, *next; c; c = next) {
        next = c->next;
        if (ex__cl_retiring(c)) /* removed earlier: its provider may have changed now */
            cl_retire_provider(e, c, &drop);
        if (!c->removed && c->cfg == NULL)
            cl_retire(e, c, old, &drop);
    }
    nh_metrics_set("nodeherd_clusters", (double)cfg->n_clusters, NULL);
    /* Dropped providers last: freeing them cancels their calls, whose
     * callbacks find clusters already pointing at the new providers. */
    while (drop) {
        struct prov_entry *n = drop->next;
        prov_entry_free(drop);
        drop = n;
    }
    engine_gc_providers(e);
    nh_config_unref(old);
    if (e->o.on_change)
        e->o.on_change(e->o.ud);
}

void nh_engine_stop(struct nh_engine *e)
{
    e->stopping = true;
    /* Drains stop; their nodes keep nodeherd's cordon: the next start
     * resumes the drain if the removal is still wanted, else uncordons. */
    for (struct cl *c = e->clusters; c; c = c->next)
        ex__cl_kube_drains_stop(c);
    /* Throttled operations waiting to go again will not: recorded as unsent. */
    for (struct cl *c = e->clusters; c; c = c->next)
        ex__ops_drop_unsent(c, "the daemon is stopping");
    for (struct cl *c = e->clusters; c; c = c->next)
        if (!uv_is_closing((uv_handle_t *)&c->poll_timer))
            uv_timer_stop(&c->poll_timer);
}

void nh_engine_cancel(struct nh_engine *e)
{
    /* Freeing a provider cancels its calls (callbacks run with CANCELLED, or
     * NOT_SENT for mutations that never left). */
    for (struct prov_entry *pe = e->provs; pe; pe = pe->next)
        prov_entry_release(pe);
    for (struct prov_entry *pe = e->retired_provs; pe; pe = pe->next)
        prov_entry_release(pe);
    for (struct cl *c = e->clusters; c; c = c->next) {
        c->prov = NULL;
        ex__cl_kube_cancel(c); /* Kubernetes reads in flight end as incomplete */
    }
    ex__engine_kube_releases_end(e); /* what they did not uncordon is logged */
}

bool nh_engine_idle(const struct nh_engine *e)
{
    return e->calls_in_flight == 0 && !e->jq_busy && e->jq_head == NULL;
}

void nh_engine_set_leader(struct nh_engine *e, bool leader, const struct nh_op *open_ops,
                          size_t n_open)
{
    if (!leader) {
        size_t cancelled = 0;
        if (e->leader)
            nh_log(LOG_WARNING, "leadership lost: no more mutating calls from this instance");
        e->leader = false;
        /* Drains stop (a follower never cordons or evicts); the nodes keep
         * nodeherd's cordon for the next leader to resume or undo. */
        for (struct cl *c = e->clusters; c; c = c->next)
            ex__cl_kube_drains_stop(c);
        /* Every mutation not handed to the HTTP layer yet is cancelled now
         * (queued for a token, waiting for a retry, or at the fence): it
         * never left, a known outcome. Those in flight may have reached the
         * cloud: the next leader verifies them. */
        for (struct prov_entry *pe = e->provs; pe; pe = pe->next)
            if (pe->p != NULL)
                cancelled += nh_client_cancel_mutations(pe->p->client);
        for (struct prov_entry *pe = e->retired_provs; pe; pe = pe->next)
            if (pe->p != NULL)
                cancelled += nh_client_cancel_mutations(pe->p->client);
        if (cancelled > 0)
            nh_log(LOG_NOTICE, "leadership lost: %zu queued mutating call%s cancelled, never sent",
                   cancelled, cancelled == 1 ? "" : "s");
        for (struct cl *c = e->clusters; c; c = c->next)
            ex__ops_abandon_all(c);
        if (e->o.on_change)
            e->o.on_change(e->o.ud);
        return;
    }
    e->leader = true;
    for (size_t i = 0; i < n_open; i++) {
        const struct nh_op *op = &open_ops[i];
        struct cl *c = op->action.cluster ? ex__engine_find_cluster(e, op->action.cluster) : NULL;
        if (c == NULL) {
            nh_log(LOG_WARNING,
                   "journal: operation %llu is for cluster \"%s\", which is not "
                   "configured here; it stays open",
                   (unsigned long long)op->seq, op->action.cluster ? op->action.cluster : "?");
            continue;
        }
        ex__ops_resume(c, op);
    }
    nh_log(LOG_NOTICE, "leadership gained: resuming %zu operation%s in flight (never re-sent)",
           n_open, n_open == 1 ? "" : "s");
    for (struct cl *c = e->clusters; c; c = c->next)
        if (!c->removed)
            ex__cl_observe_soon(c, 0);
    if (e->o.on_change)
        e->o.on_change(e->o.ud);
}

bool nh_engine_is_leader(const struct nh_engine *e)
{
    return e->leader;
}

void nh_engine_set_role_name(struct nh_engine *e, const char *role)
{
    snprintf(e->role, sizeof(e->role), "%s", role);
}

bool nh_engine_ready(const struct nh_engine *e)
{
    return e->ready_sent;
}

void ex__engine_journal_result(struct nh_engine *e, int r)
{
    char msg[sizeof(e->journal_error)];

    if (e->journal == NULL || e->jstore != &nh_journal_store_ops)
        return; /* HA: etcd; a failed write there is a leadership question */
    if (r == 0) {
        if (e->journal_error[0] == '\0' || nh_journal_broken(e->journal))
            return;
        nh_log(LOG_NOTICE, "state journal %s/journal.log can be written again", e->state_dir);
        e->journal_error[0] = '\0';
    } else {
        /* One record's contents, not the journal, were the problem. */
        if (r == -EINVAL || r == -E2BIG || r == -ENOENT || r == -ENOMEM || r == -EOVERFLOW)
            return;
        snprintf(msg, sizeof(msg), "state journal %s/journal.log cannot be written: %s%s",
                 e->state_dir, strerror(-r),
                 nh_journal_broken(e->journal)
                     ? " (its state on disk is unknown: every write is refused until restart)"
                     : "");
        if (strcmp(msg, e->journal_error) == 0)
            return;
        nh_log(LOG_CRIT, "%s; nothing is sent until it can be; reported unhealthy (/healthz)", msg);
        snprintf(e->journal_error, sizeof(e->journal_error), "%s", msg);
    }
    nh_metrics_set("nodeherd_journal_healthy", e->journal_error[0] ? 0 : 1, NULL);
    if (e->o.on_change)
        e->o.on_change(e->o.ud);
}

bool nh_engine_healthy(const struct nh_engine *e, char *why, size_t len)
{
    if (e->journal_error[0] == '\0')
        return true;
    if (why != NULL && len > 0)
        snprintf(why, len, "%s", e->journal_error);
    return false;
}

void nh_engine_free(struct nh_engine *e)
{
    if (e == NULL)
        return;
    e->stopping = true;
    ex__status_collect(e, false);
    nh_engine_cancel(e);
    ex__ops_journal_drain_sync(e);
    while (e->provs) {
        struct prov_entry *n = e->provs->next;
        prov_entry_free(e->provs);
        e->provs = n;
    }
    while (e->retired_provs) {
        struct prov_entry *n = e->retired_provs->next;
        prov_entry_free(e->retired_provs);
        e->retired_provs = n;
    }
    for (struct cl *c = e->clusters, *next; c; c = next) {
        next = c->next;
        c->removed = true;
        c->next = NULL;
        c->e = NULL;
        if (c->open_handles == 0)
            cl_free_now(c); /* removed earlier, its timer already closed */
        else if (!uv_is_closing((uv_handle_t *)&c->poll_timer))
            uv_close((uv_handle_t *)&c->poll_timer, cl_on_timer_closed);
    }
    e->clusters = NULL;
    nh_journal_close(e->journal);
    nh_audit_close(e->audit);
    nh_config_unref(e->cfg);
    free(e->state_dir);
    free(e);
}
