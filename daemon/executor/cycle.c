/* cycle.c - one cluster's cycle: observe (the cloud, then Kubernetes),
 * read whether the cluster accepts changes, plan, act (through ops.c and
 * kube.c), back off after failures, schedule the next poll; and the
 * decisions the status code shows (converged, blocked, the state word).
 * The engine object (engine.c) owns the clusters; this file owns what one
 * of them does on each turn of its timer. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "executor/engine_int.h"
#include "ops/metrics.h"
#include "planner/plan.h"
#include "util/log.h"

static void cl_poll_cb(uv_timer_t *t);

static uint64_t cl_poll_interval(const struct cl *c)
{
    if (c->cfg && c->cfg->poll_interval_ms)
        return c->cfg->poll_interval_ms;
    return c->e->cfg->daemon.poll_interval_ms;
}

const char *ex__cl_held(const struct cl *c)
{
    /* A removed cluster's suspend is gone with its declaration; the dry
     * run still holds whatever it has not sent yet. */
    if (!c->removed && c->cfg != NULL && c->cfg->suspend)
        return "suspended";
    if (c->e->o.dry_run || c->e->cfg->daemon.dry_run)
        return "dry-run";
    return NULL;
}

void ex__cl_observe_soon(struct cl *c, uint64_t delay_ms)
{
    if (c->removed || c->e->stopping || !c->e->started)
        return;
    uint64_t due = ex__engine_now(c->e) + delay_ms;
    uint64_t cur = uv_timer_get_due_in(&c->poll_timer);
    if (due < c->observe_due)
        c->observe_due = due;
    if (uv_is_active((uv_handle_t *)&c->poll_timer) && cur <= delay_ms)
        return;
    /* 1 ms at least: see ex__cl_schedule_next. */
    uv_timer_start(&c->poll_timer, cl_poll_cb, delay_ms ? delay_ms : 1, 0);
}

void ex__cl_start(struct cl *c, bool first)
{
    /* First polls are spread over a short window (up to 1 s or the
     * interval), not a whole interval: READY should come soon. */
    uint64_t iv = cl_poll_interval(c);
    uint64_t win = iv < 1000 ? iv : 1000;
    uint64_t d = win && !first ? nh_engine_rand(c->e) % win : 0;
    uv_timer_start(&c->poll_timer, cl_poll_cb, d, 0);
}

/* May a changed declaration be planned on the observation in hand? */
bool ex__cl_fresh_enough(const struct cl *c)
{
    uint64_t now = ex__engine_now(c->e);
    return c->have_obs && c->obs_ok && !c->obs_merged && !c->observing && ex__ops_count(c) == 0 &&
           c->obs_epoch == c->ops_epoch && now >= c->not_before &&
           now - (uint64_t)c->obs.at_ms < cl_poll_interval(c);
}

/* ---------- observe -> plan -> act ---------- */

static char *plan_text(const struct nh_plan *p, bool act)
{
    struct nh_buf b;
    nh_buf_init(&b, 0);
    if (!act && p->n_actions > 0)
        nh_buf_appends(&b, "(not yet)\n"); /* logged again once acted on */
    for (size_t i = 0; i < p->n_actions; i++) {
        const struct nh_action *a = &p->actions[i];
        nh_buf_printf(&b, "%s %s%s%s target=%d nodes=%zu (%s: %s)\n", nh_action_kind_name(a->kind),
                      a->cluster ? a->cluster : "", a->pool_name ? "/" : "",
                      a->pool_name ? a->pool_name : "", a->target, a->n_nodes,
                      nh_rule_name(a->rule), a->why);
        for (size_t k = 0; k < a->n_nodes; k++)
            nh_buf_printf(&b, "  %s\n", a->node_ids[k]);
    }
    for (size_t i = 0; i < p->n_notes; i++)
        nh_buf_printf(&b, "note %s %s %s\n", nh_note_kind_name(p->notes[i].kind), p->notes[i].msg,
                      p->notes[i].fix);
    return nh_buf_steal(&b);
}

static void log_plan(struct cl *c, const struct nh_plan *p, const char *would)
{
    for (size_t i = 0; i < p->n_actions; i++) {
        const struct nh_action *a = &p->actions[i];
        nh_log(LOG_NOTICE, "%s%s%s: %s%s target %d%s%zu node%s (rule %s: %s)", c->name,
               a->pool_name ? "/" : "", a->pool_name ? a->pool_name : "", would,
               nh_action_kind_name(a->kind), a->target, a->n_nodes ? ", " : "; ", a->n_nodes,
               a->n_nodes == 1 ? "" : "s", nh_rule_name(a->rule), a->why);
    }
    for (size_t i = 0; i < p->n_notes; i++) {
        const struct nh_note *n = &p->notes[i];
        int lvl = n->kind == NH_NOTE_REFUSED || n->kind == NH_NOTE_BLOCKED ? LOG_WARNING : LOG_INFO;
        nh_log(lvl, "%s%s%s: %s (%s): %s%s%s", c->name, n->pool ? "/" : "", n->pool ? n->pool : "",
               nh_note_kind_name(n->kind), nh_rule_name(n->rule), n->msg,
               n->fix[0] ? "; fix: " : "", n->fix);
    }
}

/* May the plan of the observation in hand be acted on? Only when that
 * observation started after the last operation here was closed (the epoch
 * check: one read before may predate the operation's effect - an unknown
 * outcome applied late - and planning on it could send the same change
 * again), and outside a failure backoff unless the declaration changed. */
static bool cl_may_act(const struct cl *c)
{
    if (c->obs_epoch != c->ops_epoch || c->obs_merged)
        return false; /* a merged view is never acted on */
    return ex__engine_now(c->e) >= c->not_before || c->replan;
}

static bool cl_read_state_first(struct cl *c, const struct nh_plan *plan, bool act);

/* Plans the cluster (always: notes and the converged state stay current);
 * acts on the plan only when `act` (cl_may_act). Returns
 * true when it read the cluster's state first instead (see
 * cl_read_state_first): the plan is then made again from that callback. */
bool ex__cl_plan(struct cl *c, bool act)
{
    struct nh_engine *e = c->e;
    struct nh_policy pol = {
        .max_removal_share = e->cfg->daemon.max_removal_share,
        .now_unix = time(NULL),
        .previous = c->accepted_cfg ? nh_config_cluster(c->accepted_cfg, c->name) : NULL,
    };
    struct nh_op busy[64];
    size_t n_busy = 0;
    struct nh_plan plan = {0};

    if (c->cfg == NULL || c->removed || !c->have_obs)
        return false;
    for (struct opnode *n = c->ops; n && n_busy < 64; n = n->next)
        if (!n->closed)
            busy[n_busy++] = n->op;
    for (int pass = 0;; pass++) {
        if (nh_plan_cluster(c->cfg, &c->obs, busy, n_busy, &pol, &plan) < 0) {
            nh_log(LOG_ERR, "%s: planning failed: out of memory", c->name);
            nh_plan_clear(&plan);
            return false;
        }
        if (cl_read_state_first(c, &plan, act)) {
            nh_plan_clear(&plan);
            return true;
        }
        if (pass > 0 || plan.n_actions == 0 || c->obs.complete)
            break;
        /* the state read could not go out: plan on what that left */
        nh_plan_clear(&plan);
    }
    const char *held = ex__cl_held(c);
    char *text = plan_text(&plan, act && held == NULL);
    bool changed = text == NULL || c->last_plan_text == NULL || strcmp(text, c->last_plan_text);
    if (changed)
        log_plan(c, &plan,
                 held != NULL && strcmp(held, "suspended") == 0 ? "suspended, would "
                 : held != NULL                                 ? "dry-run, would "
                 : !e->leader                                   ? "follower, would "
                 : c->obs_epoch != c->ops_epoch ? "after a fresh observation, would "
                 : !act                         ? "after the failure backoff, would "
                                                : "");
    free(c->last_plan_text);
    c->last_plan_text = text;
    if (act)
        c->replan = false;
    bool refused_empty = false;
    for (size_t i = 0; i < plan.n_notes; i++)
        if (plan.notes[i].rule == NH_RULE_EMPTY_DESIRED)
            refused_empty = true;
    if (!refused_empty && c->accepted_cfg != e->cfg) {
        nh_config_unref(c->accepted_cfg);
        c->accepted_cfg = nh_config_ref(e->cfg);
    }

    /* Held (suspended, dry run): observed and planned, nothing started. */
    if (act && held == NULL && !e->stopping && e->leader) {
        if (ex__cl_kube_drains(c)) /* drains first, then the removals (kube.c) */
            ex__cl_kube_act(c, &plan, n_busy > 0);
        else {
            ex__cl_kube_orphans(c); /* drain records it can no longer follow */
            for (size_t i = 0; i < plan.n_actions; i++)
                ex__ops_start(c, &plan.actions[i]);
        }
    } else if (held != NULL) {
        ex__cl_kube_drains_stop(c); /* nothing acts: nodeherd's cordons stay until it may */
    }
    nh_plan_clear(&c->last_plan);
    c->last_plan = plan;
    return false;
}

static uint64_t cl_jittered_interval(struct cl *c)
{
    uint64_t iv = cl_poll_interval(c);
    uint64_t jitter = iv / 10 ? nh_engine_rand(c->e) % (iv / 10 + 1) : 0;
    return iv - iv / 20 + jitter; /* interval -5% .. +5% */
}

void ex__cl_schedule_next(struct cl *c)
{
    uint64_t now = ex__engine_now(c->e);
    uint64_t next = UINT64_MAX;

    if ((c->removed && !ex__cl_retiring(c)) || c->e->stopping)
        return;
    /* While an observation is out, its callback re-arms the timer. A
     * retiring cluster is observed only to verify. */
    if (!c->observing && !c->removed)
        next = c->observe_due > now ? c->observe_due - now : 0;
    /* Operations in flight are followed on the job interval (a call already
     * out re-arms the timer when it returns); a throttled one goes again at
     * its time. */
    for (struct opnode *n = c->prov ? c->ops : NULL; n; n = n->next) {
        uint64_t due;
        if (n->closed || n->calling || n->journal_pending)
            continue;
        if (n->op.state == NH_OP_INTENT && n->resend_at != 0)
            due = n->resend_at > now ? n->resend_at - now : 0;
        else if (n->op.state == NH_OP_VERIFY)
            due = c->e->cfg->daemon.job_poll_interval_ms;
        else if (n->op.state == NH_OP_SENT)
            due = n->next_poll > now ? n->next_poll - now : 0;
        else
            continue;
        if (due < next)
            next = due;
    }
    if (next == UINT64_MAX) {
        uv_timer_stop(&c->poll_timer);
        return;
    }
    if (c->not_before > now && ex__ops_count(c) == 0 && c->not_before - now > next)
        next = c->not_before - now;
    /* Never 0: libuv 1.44 runs a 0 ms timer restarted from a timer callback
     * again in the same pass, forever. */
    if (next == 0)
        next = 1;
    uv_timer_start(&c->poll_timer, cl_poll_cb, next, 0);
}

/* The end of an observation cycle: plan (and act), converged, notify. */
static void cl_cycle_end(struct cl *c)
{
    struct nh_engine *e = c->e;

    if (c->removed) { /* retiring: only its operations are followed */
        ex__cl_changed(c);
        ex__cl_schedule_next(c);
        ex__cl_maybe_free(c);
        return;
    }
    /* The planner sees operations in flight and plans nothing over them;
     * it still explains why (WAITING notes). */
    if (!e->stopping && c->have_obs && ex__cl_plan(c, cl_may_act(c))) {
        ex__cl_changed(c); /* the state read's callback ends the cycle */
        return;
    }
    if (c->obs_epoch != c->ops_epoch)
        ex__cl_observe_soon(c, 0); /* an operation closed since it started: look again */
    else if (ex__cl_nodes_due(c))
        ex__cl_observe_soon(c, 0); /* counts only, and a removal may be due: list the nodes */
    /* Reaching the declaration ends a run of failures (and its backoff). */
    if (c->failures > 0 && ex__cl_converged(c)) {
        c->failures = 0;
        c->not_before = 0;
        c->last_error[0] = '\0';
    }
    ex__cl_changed(c);
    ex__engine_maybe_ready(e);
    ex__cl_schedule_next(c);
}

static void on_cluster_state(void *ud, const struct nh_prov_error *err, enum nh_cluster_state st,
                             const char *phase)
{
    struct cl *c = ud;
    struct nh_engine *e = c->e;

    c->observing = false;
    c->reading_state = false;
    e->calls_in_flight--;
    if ((err != NULL && err->cls == NH_ERR_CANCELLED) || (c->removed && !ex__cl_retiring(c))) {
        ex__cl_maybe_free(c);
        return;
    }
    if (err != NULL && err->cls != NH_ERR_NONE) {
        /* Fail closed: nothing is sent to a cluster whose state is unknown.
         * The cloud's text to the log only (issue 23). */
        char pub[200];
        ex__err_public(err, pub, sizeof(pub));
        c->obs.complete = false;
        c->obs_ok = false;
        snprintf(c->obs.why, sizeof(c->obs.why), "the cluster's state could not be read (%.200s)",
                 pub);
        snprintf(c->last_error, sizeof(c->last_error), "observe incomplete: %.200s", c->obs.why);
        nh_log(LOG_WARNING,
               "%s: the cluster's state could not be read (%s: %.200s); nothing is "
               "sent until it can be",
               c->name, pub, err->message);
    } else {
        c->obs.cluster_state = st != NH_CLUSTER_UNKNOWN ? st : NH_CLUSTER_BUSY;
        snprintf(c->obs.cluster_phase, sizeof(c->obs.cluster_phase), "%s",
                 phase != NULL ? phase : "");
    }
    cl_cycle_end(c);
}

/* A plan that would send something to a cluster whose provider can tell
 * whether it accepts changes (NH_CAP_CLUSTER_STATE) reads that first: once
 * per observation, and only then (never on a poll with nothing to send).
 * true when the read went out. */
static bool cl_read_state_first(struct cl *c, const struct nh_plan *plan, bool act)
{
    struct nh_engine *e = c->e;
    int r;

    if (plan->n_actions == 0 || !act || e->stopping || (!e->leader && !e->o.dry_run) ||
        c->prov == NULL || c->prov->ops->cluster_state == NULL || c->reading_state ||
        c->obs.cluster_state != NH_CLUSTER_UNKNOWN)
        return false;
    c->reading_state = true;
    c->observing = true;
    e->calls_in_flight++;
    r = c->prov->ops->cluster_state(c->prov, c->cfg, on_cluster_state, c);
    if (r < 0) {
        c->reading_state = false;
        c->observing = false;
        e->calls_in_flight--;
        c->obs.complete = false;
        c->obs_ok = false;
        snprintf(c->obs.why, sizeof(c->obs.why), "the cluster's state could not be read (%s)",
                 strerror(-r));
        return false; /* planned again below on the incomplete observation */
    }
    return true;
}

static void observed(struct cl *c, const struct nh_prov_error *err, struct nh_observed *obs);

/* The Kubernetes half ended (issue #20): obs says whether it was read. */
static void on_kube_read(struct cl *c, struct nh_observed *obs)
{
    struct nh_observed o = *obs;
    free(obs);
    observed(c, NULL, &o);
    nh_observed_clear(&o);
}

static void on_observed(void *ud, const struct nh_prov_error *err, struct nh_observed *obs)
{
    struct cl *c = ud;

    /* A cluster with Kubernetes access is read from both sides before its
     * observation counts (kube.c); a failed read there makes it incomplete. */
    if ((err == NULL || err->cls == NH_ERR_NONE) && obs != NULL && obs->complete &&
        c->cfg != NULL && c->cfg->kube_access && !c->e->stopping) {
        struct nh_observed *held = malloc(sizeof(*held));
        if (held != NULL) {
            *held = *obs;
            memset(obs, 0, sizeof(*obs));
            ex__cl_kube_read(c, held, on_kube_read);
            return;
        }
        obs->complete = false;
        snprintf(obs->why, sizeof(obs->why), "Kubernetes: out of memory");
    }
    observed(c, err, obs);
}

static void observed(struct cl *c, const struct nh_prov_error *err, struct nh_observed *obs)
{
    struct nh_engine *e = c->e;

    c->observing = false;
    e->calls_in_flight--;
    if (err != NULL && err->cls == NH_ERR_CANCELLED) {
        if (obs)
            nh_observed_clear(obs);
        ex__cl_maybe_free(c);
        return;
    }
    if (c->removed && !ex__cl_retiring(c)) {
        if (obs)
            nh_observed_clear(obs);
        ex__cl_maybe_free(c);
        return;
    }
    c->tried_once = true;
    if (err != NULL && err->cls != NH_ERR_NONE) {
        char msg[256], pub[240];
        ex__err_public(err, pub, sizeof(pub));
        snprintf(msg, sizeof(msg), "observe failed (%.230s)", pub);
        if (strcmp(msg, c->last_error) != 0)
            nh_log(LOG_WARNING,
                   "%s: observe failed (%s%s%.60s%s%.40s%s%.80s): %.200s; no changes until a "
                   "complete observation",
                   c->name, nh_err_class_name(err->cls), err->code[0] ? " " : "", err->code,
                   err->op[0] ? ", " : "", err->op, err->request_id[0] ? ", request " : "",
                   err->request_id, err->message);
        snprintf(c->last_error, sizeof(c->last_error), "%s", msg);
        c->obs_ok = false;
        /* Fail closed: a failed read leaves no observation to plan on. */
        if (c->have_obs)
            c->obs.complete = false;
        nh_metrics_inc("nodeherd_poll_failures_total", 1, "cluster", c->name, "class",
                       nh_err_class_name(err->cls), NULL);
        if (obs)
            nh_observed_clear(obs);
    } else if (obs != NULL) {
        nh_observed_clear(&c->obs);
        c->obs_merged = false;
        c->obs_epoch = c->observing_epoch;
        c->obs = *obs;
        memset(obs, 0, sizeof(*obs));
        c->obs.at_ms = (int64_t)ex__engine_now(e);
        c->have_obs = true;
        c->obs_ok = c->obs.complete;
        if (c->obs.complete) {
            c->last_ok_unix = time(NULL);
            if (c->last_error[0] && strncmp(c->last_error, "observe", 7) == 0)
                nh_log(LOG_NOTICE, "%s: observation complete again", c->name);
            if (strncmp(c->last_error, "observe", 7) == 0)
                c->last_error[0] = '\0';
            nh_metrics_set("nodeherd_last_successful_poll_timestamp_seconds",
                           (double)c->last_ok_unix, "cluster", c->name, NULL);
        } else {
            snprintf(c->last_error, sizeof(c->last_error), "observe incomplete: %.200s",
                     c->obs.why);
        }
    }
    ex__ops_on_observed(c);
    cl_cycle_end(c);
}

/* ---------- a finished scale job's pool read (issue #21) ---------- */

/* Anything in the observation that a plan could act on or that holds the
 * cluster back: an unhealthy, starting or leaving node or pool member, a
 * pool being deleted, blocked or locked. A merged view is only tried on
 * an observation without any of them, so it can never look healthier than
 * the cloud said. */
static bool obs_has_trouble(const struct nh_observed *o)
{
    for (size_t i = 0; i < o->n_nodes; i++)
        if (o->nodes[i].health != NH_NODE_READY || o->nodes[i].failed)
            return true;
    for (size_t i = 0; i < o->n_pools; i++) {
        const struct nh_obs_pool *p = &o->pools[i];
        if (p->unhealthy > 0 || p->creating > 0 || p->deleting > 0 || p->being_deleted ||
            p->locked || (p->blocked != NULL && p->blocked[0] != '\0'))
            return true;
    }
    return false;
}

/* Only "converged, nothing to do" is taken from a merged view: no action,
 * no note that holds anything back (blocked, refused, waiting). */
static bool plan_says_nothing(const struct nh_plan *p)
{
    if (p->n_actions > 0)
        return false;
    for (size_t i = 0; i < p->n_notes; i++)
        if (p->notes[i].kind != NH_NOTE_INFO && p->notes[i].kind != NH_NOTE_LIMITED)
            return false;
    return true;
}

/* Whether a node is in pool p (NULL: the workers outside pools). The CCE
 * DefaultPool's members are the nodes outside every custom pool. */
static bool pool_member(const struct nh_obs_pool *p, const struct nh_node *nd)
{
    return p == NULL       ? nd->pool_id == NULL
           : p->is_default ? nd->pool_id == NULL || strcmp(nd->pool_id, p->id) == 0
                           : nd->pool_id != NULL && strcmp(nd->pool_id, p->id) == 0;
}

/* Counts the listed workers of pool p (NULL: outside pools) by state into
 * g, zeroed by the caller; observed: every one but the leaving. */
static void count_nodes(const struct nh_observed *o, const struct nh_obs_pool *p, struct gcount *g)
{
    for (size_t i = 0; i < o->n_nodes; i++) {
        const struct nh_node *nd = &o->nodes[i];
        if (!nd->worker || !pool_member(p, nd))
            continue;
        switch (nd->health) {
        case NH_NODE_READY:
            g->ready++;
            break;
        case NH_NODE_UNHEALTHY:
            if (nd->failed)
                g->failed++;
            else
                g->not_ready++;
            break;
        case NH_NODE_PENDING:
            g->creating++;
            break;
        case NH_NODE_REMOVING:
            g->leaving++;
            break;
        }
    }
    g->observed = g->ready + g->not_ready + g->failed + g->creating;
}

/* What a merged view needs, whatever the kind: a scale of a pool (a
 * removal, a pool deletion, a scale of the cluster's workers is always
 * re-observed in full), on a complete full observation without trouble,
 * no kubernetes: (a node's readiness there needs its read), no remove:,
 * nothing else open or changed meanwhile. */
static bool merge_allowed(const struct cl *c, const struct nh_action *a)
{
    return !c->e->stopping && !c->removed && c->cfg != NULL && c->cfg->provider != NULL &&
           a->kind == NH_ACT_SCALE_POOL && a->pool_id != NULL && !c->cfg->kube_access &&
           c->cfg->n_remove == 0 && c->have_obs && c->obs_ok && c->obs.complete && !c->obs_merged &&
           !c->observing && !c->reading_state && !c->replan && ex__ops_count(c) == 0 &&
           !obs_has_trouble(&c->obs);
}

/* The merged view (owned; cleared here whatever happens) replaces the
 * observation when it shows nothing to trouble the plan, a plan on it says
 * nothing, and the cluster is converged on it; observe_due: the regular
 * poll, a full observation. true when taken. */
static bool take_merged(struct cl *c, struct nh_observed *merged, uint64_t observe_due,
                        const char *how)
{
    struct nh_engine *e = c->e;
    struct nh_observed prev;
    struct nh_plan plan = {0}, prev_plan;
    uint64_t prev_epoch = c->obs_epoch;

    merged->cluster_state = NH_CLUSTER_UNKNOWN; /* never reused for a mutation */
    merged->cluster_phase[0] = '\0';
    if (obs_has_trouble(merged)) {
        nh_observed_clear(merged);
        return false;
    }
    struct nh_policy pol = {
        .max_removal_share = e->cfg->daemon.max_removal_share,
        .now_unix = time(NULL),
        .previous = c->accepted_cfg ? nh_config_cluster(c->accepted_cfg, c->name) : NULL,
    };
    if (nh_plan_cluster(c->cfg, merged, NULL, 0, &pol, &plan) < 0 || !plan_says_nothing(&plan)) {
        nh_plan_clear(&plan);
        nh_observed_clear(merged);
        return false;
    }
    /* Converged on it? (every declared group at its size, all ready) */
    prev = c->obs;
    prev_plan = c->last_plan;
    c->obs = *merged;
    memset(merged, 0, sizeof(*merged));
    c->last_plan = plan;
    c->obs_epoch = c->ops_epoch; /* it holds the closed operation's outcome */
    if (!ex__cl_converged(c)) {
        nh_observed_clear(&c->obs);
        c->obs = prev;
        c->last_plan = prev_plan;
        c->obs_epoch = prev_epoch;
        nh_plan_clear(&plan);
        return false;
    }
    nh_observed_clear(&prev);
    nh_plan_clear(&prev_plan);
    c->obs_merged = true;
    c->merged_unix = time(NULL);
    c->observe_due = observe_due;
    nh_log(LOG_INFO, "%s: %s (next full observation at the poll interval)", c->name, how);
    cl_cycle_end(c);
    return true;
}

bool ex__cl_merge_pool_read(struct cl *c, const struct nh_action *a, const struct nh_obs_pool *read,
                            uint64_t observe_due)
{
    struct nh_observed merged = {0};
    struct nh_obs_pool *p = NULL;
    char how[200];

    /* Only kinds whose planner counts a pool from its counters
     * (NH_CAP_COUNTS_FROM_POOL: ModelArts); ACK and CCE count their nodes
     * from the node list, which a pool read does not refresh
     * (ex__cl_relist_after_job). */
    if (!merge_allowed(c, a) || !nh_kind_has(c->cfg->provider->kind, NH_CAP_COUNTS_FROM_POOL) ||
        read->current != a->target || read->desired != a->target || read->ready != read->current)
        return false;
    if (nh_observed_copy(&merged, &c->obs) < 0)
        return false;
    for (size_t i = 0; i < merged.n_pools; i++)
        if (merged.pools[i].id != NULL && strcmp(merged.pools[i].id, a->pool_id) == 0)
            p = &merged.pools[i];
    if (p == NULL) {
        nh_observed_clear(&merged);
        return false;
    }
    /* The cloud's counters for this pool, as the read gave them; every
     * other pool, node and flag stays as the full observation saw it. */
    p->desired = read->desired;
    p->current = read->current;
    p->ready = read->ready;
    p->unhealthy = read->unhealthy;
    p->creating = read->creating;
    p->deleting = read->deleting;
    if (read->max_count > 0)
        p->max_count = read->max_count;
    p->being_deleted = read->being_deleted;
    p->locked = read->locked;
    if (read->blocked != NULL && read->blocked[0] != '\0') { /* cannot grow now: observe */
        nh_observed_clear(&merged);
        return false;
    }
    /* A counts-only view: the listed nodes (if any) predate the job, and
     * the planner counts this kind from the counters; on counts only it
     * never plans a removal. */
    for (size_t i = 0; i < merged.n_nodes; i++)
        nh_node_clear(&merged.nodes[i]);
    free(merged.nodes);
    merged.nodes = NULL;
    merged.n_nodes = 0;
    merged.counts_only = true;
    snprintf(how, sizeof(how),
             "%.80s: converged by the pool's own read at the end of its job; not re-listed",
             a->pool_name ? a->pool_name : a->pool_id);
    return take_merged(c, &merged, observe_due, how);
}

bool ex__cl_relist_after_job(struct cl *c, const struct nh_action *a,
                             const struct nh_obs_pool *read, uint64_t observe_due)
{
    /* Kinds that count a pool's nodes from the node list and can list the
     * nodes alone; the job's own pool read, where there is one (CCE
     * ShowNodePool), must already show the pool at its target. */
    if (!merge_allowed(c, a) || nh_kind_has(c->cfg->provider->kind, NH_CAP_COUNTS_FROM_POOL) ||
        c->prov == NULL || c->prov->ops->observe_nodes == NULL || a->target < 0 ||
        strlen(a->pool_id) >= sizeof(c->relist.pool_id))
        return false;
    if (read != NULL && (read->desired != a->target || read->current != a->target ||
                         read->creating > 0 || read->deleting > 0))
        return false;
    memset(&c->relist, 0, sizeof(c->relist));
    c->relist.pending = true;
    snprintf(c->relist.pool_id, sizeof(c->relist.pool_id), "%s", a->pool_id);
    c->relist.target = a->target;
    c->relist.observe_due = observe_due;
    return true;
}

/* The re-listed nodes (taken from fresh) in a copy of the last full
 * observation; the scaled pool counted from them; taken when it shows the
 * cluster converged (take_merged). */
static bool merge_nodes(struct cl *c, struct nh_observed *fresh)
{
    struct nh_observed merged = {0};
    struct nh_obs_pool *p = NULL;
    char how[200];

    if (nh_observed_copy(&merged, &c->obs) < 0)
        return false;
    for (size_t i = 0; i < merged.n_pools; i++)
        if (merged.pools[i].id != NULL && strcmp(merged.pools[i].id, c->relist.pool_id) == 0)
            p = &merged.pools[i];
    if (p == NULL) {
        nh_observed_clear(&merged);
        return false;
    }
    for (size_t i = 0; i < merged.n_nodes; i++)
        nh_node_clear(&merged.nodes[i]);
    free(merged.nodes);
    merged.nodes = fresh->nodes;
    merged.n_nodes = fresh->n_nodes;
    fresh->nodes = NULL;
    fresh->n_nodes = 0;
    merged.counts_only = false;
    /* The pool as its nodes show it now (counted as the status counts a
     * group); its desired size is the target of the job that ended
     * SUCCEEDED (which its read, where it had one, showed reached). */
    struct gcount g = {0};
    count_nodes(&merged, p, &g);
    p->current = g.observed;
    p->ready = g.ready;
    p->unhealthy = g.not_ready + g.failed;
    p->creating = g.creating;
    p->deleting = g.leaving;
    p->desired = c->relist.target;
    if (p->current != c->relist.target) {
        nh_observed_clear(&merged);
        return false;
    }
    snprintf(how, sizeof(how),
             "%.80s: converged by re-listing the nodes at the end of its job; pools not re-listed",
             p->name ? p->name : p->id);
    return take_merged(c, &merged, c->relist.observe_due, how);
}

static void cl_observe(struct cl *c);

static void on_relisted(void *ud, const struct nh_prov_error *err, struct nh_observed *obs)
{
    struct cl *c = ud;
    struct nh_engine *e = c->e;
    bool taken = false;

    c->observing = false;
    e->calls_in_flight--;
    if ((err != NULL && err->cls == NH_ERR_CANCELLED) || (c->removed && !ex__cl_retiring(c))) {
        if (obs)
            nh_observed_clear(obs);
        ex__cl_maybe_free(c);
        return;
    }
    /* Only on what was read after the job, with nothing opened or changed
     * meanwhile; a failed or incomplete re-list is not an observation. */
    if ((err == NULL || err->cls == NH_ERR_NONE) && obs != NULL && obs->complete && !e->stopping &&
        c->cfg != NULL && c->observing_epoch == c->ops_epoch && ex__ops_count(c) == 0 &&
        !c->replan && c->have_obs && c->obs_ok && !c->obs_merged)
        taken = merge_nodes(c, obs);
    if (obs)
        nh_observed_clear(obs);
    if (!taken) { /* observed in full, at once, as without the re-list */
        c->observe_due = ex__engine_now(e);
        cl_observe(c);
    }
}

bool ex__cl_nodes_due(const struct cl *c)
{
    return c->obs_ok && c->obs.counts_only && nh_plan_removal_possible(c->cfg, &c->obs);
}

static void cl_observe(struct cl *c)
{
    struct nh_engine *e = c->e;
    if (e->stopping || (c->removed && !ex__cl_retiring(c)) || c->observing || c->prov == NULL ||
        c->cfg == NULL)
        return;
    c->observing = true;
    c->observing_epoch = c->ops_epoch;
    c->observe_due = ex__engine_now(e) + cl_jittered_interval(c);
    e->calls_in_flight++;
    /* Counts only (fewer reads) first, and then while the last observation
     * shows that nothing can be removed; the nodes are listed when a
     * removal may be due (cl_cycle_end looks again at once), after a failed
     * or incomplete observation, and while an operation is open (its
     * effect is seen in the nodes). */
    bool counts = c->prov->ops->observe_counts != NULL && ex__ops_count(c) == 0 &&
                  (!c->have_obs || (c->obs_ok && !nh_plan_removal_possible(c->cfg, &c->obs)));
    /* After a pool's scale job (ex__cl_relist_after_job): the nodes alone,
     * when nothing opened or changed since. */
    bool relist = c->relist.pending && c->prov->ops->observe_nodes != NULL &&
                  ex__ops_count(c) == 0 && !c->replan && c->have_obs && c->obs_ok && !c->obs_merged;
    c->relist.pending = false;
    int r = relist ? c->prov->ops->observe_nodes(c->prov, c->cfg, on_relisted, c)
                   : (counts ? c->prov->ops->observe_counts
                             : c->prov->ops->observe)(c->prov, c->cfg, on_observed, c);
    if (r < 0) {
        c->observing = false;
        e->calls_in_flight--;
        c->tried_once = true;
        snprintf(c->last_error, sizeof(c->last_error), "observe could not start: %s", strerror(-r));
        nh_log(LOG_ERR, "%s: %s", c->name, c->last_error);
        ex__engine_maybe_ready(e);
        ex__cl_schedule_next(c);
    }
}

static void cl_poll_cb(uv_timer_t *t)
{
    struct cl *c = t->data;
    uint64_t now = ex__engine_now(c->e);
    bool verifying = false;

    if (c->e->stopping || (c->removed && !ex__cl_retiring(c)))
        return;
    ex__ops_tick(c, now);
    if (c->removed && !ex__cl_retiring(c))
        return; /* its last operation just ended */
    for (struct opnode *n = c->ops; n; n = n->next)
        if (!n->closed && n->op.state == NH_OP_VERIFY)
            verifying = true;
    /* Observe on the poll interval, after a change of the declaration, and
     * while verifying an unknown outcome; a job poll alone re-reads nothing.
     * A retiring cluster is read only to verify. */
    if (!c->observing && (verifying || (!c->removed && (c->replan || now >= c->observe_due))))
        cl_observe(c);
    else if (!c->observing || !verifying)
        ex__cl_schedule_next(c);
}

/* ---------- what the cluster's state is ---------- */

static const struct nh_obs_pool *obs_pool(const struct cl *c, const char *pool_id,
                                          const char *pool_name)
{
    const struct nh_observed *o = &c->obs;
    for (size_t i = 0; i < o->n_pools; i++)
        if ((pool_id && o->pools[i].id && strcmp(o->pools[i].id, pool_id) == 0) ||
            (pool_name && o->pools[i].name && strcmp(o->pools[i].name, pool_name) == 0))
            return &o->pools[i];
    return NULL;
}

/* Counts a group: workers (pool NULL) or the pool named by id or name.
 * Kinds that list their nodes (ACK, CCE) count the node list (the same
 * nodes the planner counts; the CCE DefaultPool's members are the nodes
 * outside every custom pool); kinds that count from the pool (ModelArts,
 * NH_CAP_COUNTS_FROM_POOL) read its counters. false: the pool is not in
 * the observation. */
bool ex__group_count(const struct cl *c, const char *pool_id, const char *pool_name,
                     struct gcount *g)
{
    const struct nh_observed *o = &c->obs;
    const struct nh_obs_pool *p = NULL;
    bool counters =
        c->cfg && c->cfg->provider && nh_kind_has(c->cfg->provider->kind, NH_CAP_COUNTS_FROM_POOL);

    memset(g, 0, sizeof(*g));
    if (pool_id != NULL || pool_name != NULL) {
        p = obs_pool(c, pool_id, pool_name);
        if (p == NULL)
            return false;
        if (counters) {
            g->ready = p->ready;
            g->not_ready = p->unhealthy;
            g->creating = p->creating;
            g->leaving = p->deleting;
            g->observed = p->current;
            return true;
        }
    }
    count_nodes(o, p, g);
    return true;
}

static const struct nh_cfg_pool *find_cfg_pool_of(const struct cl *c, size_t i)
{
    return c->cfg && i < c->cfg->n_pools ? &c->cfg->pools[i] : NULL;
}

bool ex__cl_blocked(const struct cl *c)
{
    for (size_t i = 0; i < c->last_plan.n_notes; i++)
        if (c->last_plan.notes[i].kind == NH_NOTE_BLOCKED ||
            c->last_plan.notes[i].kind == NH_NOTE_REFUSED)
            return true;
    return false;
}

/* Converged: nothing in flight, nothing planned, and every group with a
 * declared count has exactly that many nodes, every one of them ready. A
 * failed node, one that never came up or one still starting is not
 * converged, whatever the counts say. */
bool ex__cl_converged(const struct cl *c)
{
    struct gcount g;
    if (!c->obs_ok || c->cfg == NULL || ex__ops_count(c) > 0)
        return false;
    /* An observation started before the last operation ended may not show
     * its outcome (a failed job's undone removals): not known yet. */
    if (c->obs_epoch != c->ops_epoch)
        return false;
    if (c->cfg->workers >= 0) {
        int want = c->cfg->workers;
        if (want < c->cfg->min)
            want = c->cfg->min;
        if (want > c->cfg->max)
            want = c->cfg->max;
        if (!ex__group_count(c, NULL, NULL, &g) || g.observed != want || g.ready != want)
            return false;
    }
    for (size_t i = 0; i < c->cfg->n_pools; i++) {
        const struct nh_cfg_pool *p = find_cfg_pool_of(c, i);
        if (p->nodes < 0)
            continue;
        int want = p->nodes < p->min ? p->min : p->nodes > p->max ? p->max : p->nodes;
        if (!ex__group_count(c, p->id, p->id ? NULL : p->name, &g) || g.observed != want ||
            g.ready != want)
            return false;
    }
    return c->last_plan.n_actions == 0;
}

const char *ex__cl_state_word(const struct cl *c)
{
    if (c->removed)
        return "removed"; /* no longer declared; its operations are followed to their end */
    if (!c->have_obs && !c->tried_once)
        return "waiting";
    if (!c->obs_ok)
        return "failing";
    if (ex__ops_count(c) > 0)
        return "converging";
    /* Converged wins over an earlier failed operation: the cloud reached
     * the declaration anyway (e.g. the failed job's effect happened). */
    if (ex__cl_converged(c))
        return "converged";
    /* Held: observed and planned, nothing sent (the notes and `would` say
     * what would be done). */
    if (ex__cl_held(c) != NULL)
        return ex__cl_held(c);
    if (c->failures > 0)
        return "failing";
    if (ex__cl_blocked(c))
        return "blocked";
    return "converging";
}
