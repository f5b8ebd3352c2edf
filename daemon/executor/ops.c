/* ops.c - operations in flight: journal first, then send, then follow the
 * cloud's job to the end; unknown outcomes are verified, never re-sent. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "executor/engine_int.h"
#include "executor/oplife.h"
#include "net/ratelimit.h"
#include "ops/metrics.h"
#include "util/clock.h"
#include "util/log.h"

/* ---------- journal queue: one write at a time, in order ---------- */

enum jw_kind { JW_BEGIN, JW_UPDATE };

struct jwrite {
    struct jwrite *next;
    enum jw_kind kind;
    struct opnode *n;  /* NULL when the node no longer cares (snapshot only) */
    struct nh_op snap; /* owned copy written by the worker thread */
    int result;
    ops_record_fn cb; /* ex__ops_record: a record of no operation (a drain) */
    void *cb_arg;
};

static void op_try_send(struct opnode *n, enum nh_opl_ev ev, uint64_t now);
static void op_maybe_free(struct opnode *n);

static void jq_kick(struct nh_engine *e);

static void jq_done_one(struct nh_engine *e, struct jwrite *jw)
{
    struct opnode *n = jw->n;

    if (jw->cb != NULL)
        jw->cb(e, &jw->snap, jw->result, jw->cb_arg);

    if (n != NULL) {
        n->journal_pending = false;
        if (jw->kind == JW_BEGIN) {
            n->op.seq = jw->snap.seq;
            if (jw->result < 0)
                nh_log_errno(LOG_ERR, jw->result, "%s: journal: cannot record %s; not sending it",
                             n->cl->name, nh_action_kind_name(n->op.action.kind));
            /* (closed: abandoned, leadership lost, while the write was out) */
            if (!n->closed)
                op_try_send(n, jw->result < 0 ? NH_OPL_EV_JOURNAL_FAILED : NH_OPL_EV_JOURNALLED,
                            ex__engine_now(e));
        } else if (jw->result < 0) {
            nh_log_errno(LOG_ERR, jw->result, "%s: journal: cannot record operation %llu as %s",
                         n->cl->name, (unsigned long long)n->op.seq,
                         nh_op_state_name(jw->snap.state));
        }
        /* The write held the operation back from its job polls: re-arm. */
        if (!n->closed && (!n->cl->removed || ex__cl_retiring(n->cl)) && !e->stopping)
            ex__cl_schedule_next(n->cl);
        op_maybe_free(n);
    }
    nh_op_clear(&jw->snap);
    free(jw);
}

static void jq_store_done(void *arg, int r)
{
    struct nh_engine *e = arg;
    struct jwrite *jw = e->jq_head;

    jw->result = r;
    ex__engine_journal_result(e, r);
    e->jq_head = jw->next;
    if (e->jq_head == NULL)
        e->jq_tail = NULL;
    e->jq_busy = false;
    jq_done_one(e, jw);
    jq_kick(e);
}

static void jq_kick(struct nh_engine *e)
{
    while (!e->jq_busy && e->jq_head != NULL) {
        struct jwrite *jw = e->jq_head;
        e->jq_busy = true;
        int r = e->jstore->write(e->jstore_ctx, jw->kind == JW_BEGIN, &jw->snap, jq_store_done, e);
        if (r < 0)
            jq_store_done(e, r); /* reported like a failed write */
    }
}

/* Queues a write of a copy of op: for the operation n, or (n NULL) for
 * cb, called when it is done. 0 or -ENOMEM. */
static int jq_push(struct nh_engine *e, struct opnode *n, const struct nh_op *op, enum jw_kind kind,
                   ops_record_fn cb, void *arg)
{
    struct jwrite *jw = calloc(1, sizeof(*jw));
    if (jw == NULL)
        return -ENOMEM;
    if (nh_op_copy(&jw->snap, op) < 0) {
        free(jw);
        return -ENOMEM;
    }
    jw->kind = kind;
    jw->n = n;
    jw->cb = cb;
    jw->cb_arg = arg;
    if (n != NULL)
        n->journal_pending = true;
    if (e->jq_tail)
        e->jq_tail->next = jw;
    else
        e->jq_head = jw;
    e->jq_tail = jw;
    jq_kick(e);
    return 0;
}

static int jq_submit(struct nh_engine *e, struct opnode *n, enum jw_kind kind)
{
    if (e->jstore == NULL)
        return 0;
    return jq_push(e, n, &n->op, kind, NULL, NULL);
}

int ex__ops_record(struct nh_engine *e, bool begin, const struct nh_op *op, ops_record_fn done,
                   void *arg)
{
    if (e->jstore == NULL)
        return -ENOENT;
    return jq_push(e, NULL, op, begin ? JW_BEGIN : JW_UPDATE, done, arg);
}

/* At teardown: finish queued writes synchronously (the loop is going away). */
void ex__ops_journal_drain_sync(struct nh_engine *e)
{
    if (e->jq_busy)
        return; /* the threadpool owns the head; uv_run will finish it */
    while (e->jq_head) {
        struct jwrite *jw = e->jq_head;
        e->jq_head = jw->next;
        if (e->journal && e->jstore == &nh_journal_store_ops) {
            if (jw->kind == JW_BEGIN)
                (void)nh_journal_begin(e->journal, &jw->snap);
            else
                (void)nh_journal_update(e->journal, &jw->snap);
        }
        if (jw->n)
            jw->n->journal_pending = false;
        if (jw->cb != NULL)
            jw->cb(e, &jw->snap, -ECANCELED, jw->cb_arg);
        nh_op_clear(&jw->snap);
        free(jw);
    }
    e->jq_tail = NULL;
}

/* ---------- op nodes ---------- */

size_t ex__ops_count(const struct cl *c)
{
    size_t n = 0;
    for (const struct opnode *o = c->ops; o; o = o->next)
        if (!o->closed)
            n++;
    return n;
}

static void op_unlink(struct opnode *n)
{
    struct opnode **pp = &n->cl->ops;
    while (*pp && *pp != n)
        pp = &(*pp)->next;
    if (*pp)
        *pp = n->next;
    n->next = NULL;
}

static void op_maybe_free(struct opnode *n)
{
    if (!n->closed || n->calling || n->journal_pending)
        return;
    struct cl *c = n->cl;
    op_unlink(n);
    nh_op_clear(&n->op);
    free(n);
    ex__cl_maybe_free(c);
}

/* Leadership lost: forget every operation locally (the journal keeps them
 * open for the next leader, which resumes them). */
void ex__ops_abandon_all(struct cl *c)
{
    for (struct opnode *n = c->ops, *next; n; n = next) {
        next = n->next;
        if (!n->closed) {
            n->closed = true;
            c->ops_epoch++;
            op_maybe_free(n);
        }
    }
}

void ex__ops_free_all(struct cl *c)
{
    while (c->ops) {
        struct opnode *n = c->ops;
        c->ops = n->next;
        nh_op_clear(&n->op);
        free(n);
    }
}

static struct opnode *op_new(struct cl *c)
{
    struct opnode *n = calloc(1, sizeof(*n));
    if (n == NULL)
        return NULL;
    n->cl = c;
    n->percent = -1;
    /* append: operations keep their order */
    struct opnode **pp = &c->ops;
    while (*pp)
        pp = &(*pp)->next;
    *pp = n;
    return n;
}

static void op_metric(struct opnode *n, const char *result)
{
    nh_metrics_inc("nodeherd_actions_total", 1, "cluster", n->cl->name, "kind",
                   nh_action_kind_name(n->op.action.kind), "result", result, NULL);
}

/* ---------- the life (oplife.h decides, this file carries it out) ---------- */

/* The provider call that sends the operation's action, NULL when the cloud
 * has none (or there is no provider). */
typedef int (*op_call_fn)(struct nh_provider *, const struct nh_cfg_cluster *,
                          const struct nh_action *, nh_mutate_fn, void *);

static op_call_fn op_call(const struct opnode *n)
{
    const struct nh_provider *p = n->cl->prov;

    if (p == NULL)
        return NULL;
    switch (n->op.action.kind) {
    case NH_ACT_SCALE_CLUSTER:
        return p->ops->scale_cluster;
    case NH_ACT_SCALE_POOL:
        return p->ops->scale_pool;
    case NH_ACT_REMOVE_NODES:
        return p->ops->remove_nodes;
    case NH_ACT_DELETE_POOL:
        return p->ops->delete_pool;
    }
    return NULL;
}

static struct nh_opl opl_get(const struct opnode *n)
{
    return (struct nh_opl){
        .state = n->op.state,
        .job_kind = n->op.job_kind,
        .resend_at = n->resend_at,
        .deadline = n->deadline,
        .verify_until = n->verify_until,
        .next_poll = n->next_poll,
        .throttles = n->throttles,
        .polls = n->polls,
        .poll_failures = n->poll_failures,
    };
}

static void opl_put(struct opnode *n, const struct nh_opl *s)
{
    n->op.state = s->state;
    n->op.job_kind = s->job_kind;
    n->resend_at = s->resend_at;
    n->deadline = s->deadline;
    n->verify_until = s->verify_until;
    n->next_poll = s->next_poll;
    n->throttles = s->throttles;
    n->polls = s->polls;
    n->poll_failures = s->poll_failures;
}

static struct nh_opl_times opl_times(const struct cl *c)
{
    const struct nh_cfg_daemon *d = &c->e->cfg->daemon;
    struct nh_opl_times t = {
        .job_poll = d->job_poll_interval_ms,
        .job_timeout = d->job_timeout_ms,
        .poll_interval =
            c->cfg && c->cfg->poll_interval_ms ? c->cfg->poll_interval_ms : d->poll_interval_ms,
        /* how long a request handed to the network may still reach the
         * cloud */
        .request_timeout = 30000,
    };
    if (c->cfg != NULL && c->cfg->provider != NULL && c->cfg->provider->timeout_ms > 0)
        t.request_timeout = c->cfg->provider->timeout_ms;
    return t;
}

/* The event and the world it happens in. */
static struct nh_opl_in opl_in(const struct opnode *n, enum nh_opl_ev ev, uint64_t now)
{
    const struct cl *c = n->cl;
    const struct nh_engine *e = c->e;

    return (struct nh_opl_in){
        .ev = ev,
        .now = now,
        .leader = e->leader,
        .stopping = e->stopping,
        .removed = c->removed,
        .retiring = ex__cl_retiring(c),
        .has_provider = c->prov != NULL && c->cfg != NULL,
        .has_call = op_call(n) != NULL,
        .held = ex__cl_held(c) != NULL,
        .t = opl_times(c),
    };
}

/* One failure more: nothing is planned on the cluster for 2.5-5 s, 5-10 s,
 * ... up to 5-10 min (equal jitter). c->failures (the backoff's level) is
 * reset when the cluster converges, not when an operation succeeds: a
 * failed scale-out, the replacement of its failed node, the scale-out
 * failing again... backs off further each round instead of looping at the
 * first step. */
static void cl_backoff(struct cl *c)
{
    struct nh_engine *e = c->e;
    unsigned f = c->failures < 8 ? c->failures : 8;

    c->failures++;
    c->not_before = ex__engine_now(e) + nh_backoff_equal_ms(f, 5000, 600000, nh_engine_rand(e));
}

/* Records the end in the operation and the journal. */
static void op_set_end(struct opnode *n, enum nh_op_state st, const char *result)
{
    struct cl *c = n->cl;

    n->op.state = st;
    n->op.updated_ms = nh_wall_ms();
    free(n->op.result);
    n->op.result = result ? strdup(result) : NULL;
    if (jq_submit(c->e, n, JW_UPDATE) < 0)
        nh_log(LOG_ERR, "%s: journal: out of memory recording operation %llu", c->name,
               (unsigned long long)n->op.seq);
}

/* The operation is over on this cluster: nothing new waits for it. */
static void op_closed(struct opnode *n)
{
    n->closed = true;
    n->cl->ops_epoch++;
}

static void op_log_kind(const struct opnode *n, int prio, const char *fmt_tail, const char *a,
                        const char *b)
{
    nh_log(prio, "%s%s%s: %s %s%s%s", n->cl->name, n->op.action.pool_name ? "/" : "",
           n->op.action.pool_name ? n->op.action.pool_name : "",
           nh_action_kind_name(n->op.action.kind), fmt_tail, a, b);
}

/* Ends an operation: journal, metrics, recent list, log. backoff false:
 * the cloud did not fail (an unknown outcome whose effect never showed, a
 * call never sent); the next plan decides - on an observation that starts
 * after this close (ops_epoch) - without a failure backoff. */
static void op_finish_ex(struct opnode *n, enum nh_op_state st, const char *result, bool backoff)
{
    struct cl *c = n->cl;
    const char *word = st == NH_OP_DONE ? "done" : st == NH_OP_TIMED_OUT ? "timed_out" : "failed";

    op_set_end(n, st, result);
    op_metric(n, word);
    nh_audit_record(c->e->audit, &n->op, word, result);
    ex__cl_record_recent(c, &n->op, word);
    if (st == NH_OP_DONE) {
        nh_log(LOG_NOTICE, "%s%s%s: %s done%s%s%s", c->name, n->op.action.pool_name ? "/" : "",
               n->op.action.pool_name ? n->op.action.pool_name : "",
               nh_action_kind_name(n->op.action.kind), n->op.job_id ? " (job " : "",
               n->op.job_id ? n->op.job_id : "", n->op.job_id ? ")" : "");
        if (n->op.job_id)
            nh_log(LOG_DEBUG, "job %s closed", n->op.job_id);
    } else {
        op_log_kind(n, LOG_ERR, word, ": ", result ? result : "");
        /* a long result is cut here: the log has it whole */
        snprintf(c->last_error, sizeof(c->last_error), "%s %s: %.*s",
                 nh_action_kind_name(n->op.action.kind), word,
                 (int)strnlen(result ? result : "", 255), result ? result : "");
        if (backoff)
            cl_backoff(c);
    }
    op_closed(n);
    ex__cl_observe_soon(c, 0); /* the state is re-read before anything else */
    ex__cl_changed(c);
}

/* Journalled but never sent: a hold (dry run, suspend) came on in between.
 * Closed in the journal (FAILED, "not sent: ..."), counted as result
 * not_sent, shown in the recent actions; not an error: no backoff, no
 * last_error, no audit record (the cloud never saw it). */
static void op_close_unsent(struct opnode *n, const char *hold)
{
    struct cl *c = n->cl;
    char msg[128];

    snprintf(msg, sizeof(msg), "not sent: %s was turned on before it could be sent", hold);
    op_set_end(n, NH_OP_FAILED, msg);
    op_metric(n, "not_sent");
    ex__cl_record_recent(c, &n->op, "not_sent");
    op_log_kind(n, LOG_NOTICE, msg, "", "");
    op_closed(n);
    ex__cl_observe_soon(c, 0);
    ex__cl_changed(c);
}

/* Refused because the cluster accepts no change now (NH_ERR_BUSY: the
 * provider read the cluster's state after the refusal). The cloud did
 * nothing: closed in the journal (FAILED, "refused: ..."), counted as
 * result busy, no failure backoff and no last_error. Nothing is planned
 * again for hold_ms (the poll interval); the plan then reads the cluster's
 * state first and waits (a WAITING note) while it stays busy. */
static void op_close_busy(struct opnode *n, const char *why, uint64_t hold_ms)
{
    struct cl *c = n->cl;
    char msg[320];

    snprintf(msg, sizeof(msg), "refused: %s", why);
    op_set_end(n, NH_OP_FAILED, msg);
    op_metric(n, "busy");
    nh_audit_record(c->e->audit, &n->op, "busy", msg);
    ex__cl_record_recent(c, &n->op, "busy");
    op_log_kind(n, LOG_NOTICE, msg, "", "");
    c->not_before = ex__engine_now(c->e) + hold_ms;
    op_closed(n);
    ex__cl_changed(c);
    ex__cl_schedule_next(c);
}

/* The result of a close whose words are always the same (NULL: built
 * from the event's text). */
static const char *const close_words[] = {
    [NH_OPL_WHY_STOPPING] = "not sent: the daemon is stopping",
    [NH_OPL_WHY_NOT_DECLARED] = "not sent: the cluster is no longer declared",
    [NH_OPL_WHY_NO_PROVIDER] = "not sent: the provider is unavailable",
    [NH_OPL_WHY_NO_CALL] = "not sent: the cloud has no such operation",
    [NH_OPL_WHY_EFFECT_SEEN] = "effect observed",
};

/* Carries out a CLOSE: `text` is the event's own text (the answer's
 * message, the hold, the job's detail...), worded here by out->why. */
static void op_close(struct opnode *n, const struct nh_opl_out *o, const char *text)
{
    struct cl *c = n->cl;
    enum nh_op_state st = o->next.state;
    char msg[320], d[32];
    size_t w = (size_t)o->why;

    switch (o->why) {
    case NH_OPL_WHY_JOURNAL:
        /* Not in the journal: not sent, not counted, held off a while. */
        snprintf(n->detail, sizeof(n->detail), "not sent: journal write failed");
        n->op.state = st;
        n->closed = true;
        c->not_before = ex__engine_now(c->e) + o->cluster_hold_ms;
        ex__cl_changed(c);
        return;
    case NH_OPL_WHY_HELD:
        op_close_unsent(n, text);
        return;
    case NH_OPL_WHY_BUSY:
        op_close_busy(n, text, o->cluster_hold_ms);
        return;
    case NH_OPL_WHY_CALL_ERROR:
    case NH_OPL_WHY_NOT_SENT:
    case NH_OPL_WHY_DROPPED:
        snprintf(msg, sizeof(msg), "not sent: %s", text ? text : "");
        break;
    case NH_OPL_WHY_JOB_TIMEOUT:
        snprintf(msg, sizeof(msg),
                 "no result within job_timeout %s; nothing more is issued for the cluster "
                 "until its state is re-read",
                 nh_duration_format(c->e->cfg->daemon.job_timeout_ms, d, sizeof(d)));
        break;
    case NH_OPL_WHY_NO_EFFECT: {
        struct nh_opl_times t = opl_times(c);
        snprintf(msg, sizeof(msg),
                 "outcome unknown and no effect observed within %s; the next plan decides "
                 "again from the observed state",
                 nh_duration_format(nh_opl_verify_window_ms(&t), d, sizeof(d)));
        break;
    }
    default: /* fixed words, or REFUSED, JOB_SUCCEEDED, JOB_FAILED: the caller's */
        if (w < sizeof(close_words) / sizeof(close_words[0]) && close_words[w] != NULL)
            text = close_words[w];
        snprintf(msg, sizeof(msg), "%s", text ? text : "");
        break;
    }
    op_finish_ex(n, st, msg, o->backoff);
}

/* HA, leadership lost before it was sent: the journal (etcd) is the next
 * leader's now; it keeps the operation INTENT, and the next leader
 * verifies it. */
static void op_forget(struct opnode *n)
{
    op_closed(n);
    ex__cl_changed(n->cl);
}

static void op_send(struct opnode *n);
static void op_poll(struct opnode *n, uint64_t now);

/* Carries out a step's decision (never frees n: the caller ends with
 * op_maybe_free). false: the step did not apply (NOTHING). */
static bool op_do(struct opnode *n, const struct nh_opl_out *o, const char *text)
{
    switch (o->act) {
    case NH_OPL_DO_NOTHING:
        return false;
    case NH_OPL_DO_WAIT:
        if (o->journal) {
            n->op.updated_ms = nh_wall_ms();
            opl_put(n, &o->next);
            n->op.state = o->journal_state; /* what the journal records */
            jq_submit(n->cl->e, n, JW_UPDATE);
        }
        opl_put(n, &o->next);
        return true;
    case NH_OPL_DO_SEND:
        opl_put(n, &o->next);
        op_send(n);
        return true;
    case NH_OPL_DO_POLL:
        opl_put(n, &o->next);
        op_poll(n, ex__engine_now(n->cl->e));
        return true;
    case NH_OPL_DO_CLOSE:
        opl_put(n, &o->next);
        op_close(n, o, text);
        return true;
    case NH_OPL_DO_FORGET:
        opl_put(n, &o->next);
        op_forget(n);
        return true;
    }
    return false;
}

/* The step for event ev now, carried out. */
static struct nh_opl_out op_event(struct opnode *n, const struct nh_opl_in *in, const char *text)
{
    struct nh_opl s = opl_get(n);
    struct nh_opl_out o = nh_opl_step(&s, in);
    (void)op_do(n, &o, text);
    return o;
}

/* ---------- sending ---------- */

/* Providers pass err == NULL on success. */
static const struct nh_prov_error no_error = {.cls = NH_ERR_NONE};

static enum nh_opl_ev mutate_event(enum nh_err_class cls)
{
    switch (cls) {
    case NH_ERR_NONE:
        return NH_OPL_EV_SENT_OK;
    case NH_ERR_UNKNOWN_OUTCOME:
    case NH_ERR_CANCELLED: /* cancelled after it was handed over */
        return NH_OPL_EV_UNKNOWN;
    case NH_ERR_NOT_SENT:
        return NH_OPL_EV_NOT_SENT;
    case NH_ERR_BUSY:
        return NH_OPL_EV_BUSY;
    case NH_ERR_THROTTLED:
        return NH_OPL_EV_THROTTLED;
    default: /* AUTH, NOT_FOUND, CONFLICT, INVALID, SERVER */
        return NH_OPL_EV_REFUSED;
    }
}

/* Closes every operation that waits to be sent again after a throttle: it
 * is known not to have happened, and `why` says why it will not be sent. */
void ex__ops_drop_unsent(struct cl *c, const char *why)
{
    uint64_t now = ex__engine_now(c->e);

    for (struct opnode *n = c->ops, *next; n; n = next) {
        next = n->next;
        if (n->closed || n->calling || n->journal_pending)
            continue;
        struct nh_opl_in in = opl_in(n, NH_OPL_EV_DROP, now);
        (void)op_event(n, &in, why);
        op_maybe_free(n);
    }
}

static void op_log_accepted(struct opnode *n)
{
    struct nh_engine *e = n->cl->e;
    const char *job_id = n->op.job_id;

    op_metric(n, "issued");
    nh_audit_record(e->audit, &n->op, "issued", NULL);
    nh_log(LOG_NOTICE, "%s%s%s: %s accepted%s%s%s", n->cl->name, n->op.action.pool_name ? "/" : "",
           n->op.action.pool_name ? n->op.action.pool_name : "",
           nh_action_kind_name(n->op.action.kind), job_id ? " (job " : "", job_id ? job_id : "",
           job_id ? ")" : "");
}

static void op_log_unknown(struct opnode *n, const struct nh_prov_error *err)
{
    op_metric(n, "unknown");
    nh_audit_record(n->cl->e->audit, &n->op, "unknown", err->message);
    nh_log(LOG_WARNING,
           "%s: %s outcome unknown (%s%s%s); verifying by re-reading the cluster, not "
           "re-sending",
           n->cl->name, nh_action_kind_name(n->op.action.kind), err->message,
           err->code[0] ? ", " : "", err->code);
}

static void op_log_throttled(struct opnode *n, const struct nh_prov_error *err, uint64_t wait_ms)
{
    char d[32];

    snprintf(n->phase, sizeof(n->phase), "throttled");
    nh_log(LOG_NOTICE,
           "%s%s%s: %s throttled by the cloud (%s; not executed); sending it again in %s "
           "(resend %u of %u)",
           n->cl->name, n->op.action.pool_name ? "/" : "",
           n->op.action.pool_name ? n->op.action.pool_name : "",
           nh_action_kind_name(n->op.action.kind), err->code[0] ? err->code : "throttled",
           nh_duration_format(wait_ms, d, sizeof(d)), n->throttles, NH_OPL_MAX_THROTTLES - 1);
}

static void on_mutated(void *ud, const struct nh_prov_error *err, enum nh_job_kind kind,
                       const char *job_id)
{
    struct opnode *n = ud;
    struct cl *c = n->cl;
    struct nh_engine *e = c->e;
    char pub[300];
    const char *text;

    if (err == NULL)
        err = &no_error;
    n->calling = false;
    e->calls_in_flight--;
    if (n->closed) { /* abandoned: leadership lost while the call was out */
        op_maybe_free(n);
        return;
    }
    struct nh_opl_in in = opl_in(n, mutate_event(err->cls), ex__engine_now(e));
    in.job_kind = kind;
    in.retry_after_ms = err->retry_after_ms;
    in.rnd = in.ev == NH_OPL_EV_THROTTLED ? nh_engine_rand(e) : 0;
    struct nh_opl s = opl_get(n);
    struct nh_opl_out o = nh_opl_step(&s, &in);

    text = err->message;
    if (o.act == NH_OPL_DO_CLOSE && o.why == NH_OPL_WHY_REFUSED) {
        /* The cloud's text to the log only; status, journal and audit get
         * the code and the request id (issue 23). */
        ex__err_public(err, pub, sizeof(pub));
        nh_log(LOG_WARNING, "%s: %s refused: %s (%s%s%s, HTTP %d%s%s)", c->name,
               nh_action_kind_name(n->op.action.kind), err->message, nh_err_class_name(err->cls),
               err->code[0] ? " " : "", err->code, err->http_status,
               err->request_id[0] ? ", request " : "", err->request_id);
        text = pub;
    } else if (o.act == NH_OPL_DO_FORGET) {
        nh_log(LOG_WARNING, "%s: %s not sent (%s): no longer the leader", c->name,
               nh_action_kind_name(n->op.action.kind), err->message);
    } else if (o.act == NH_OPL_DO_WAIT && in.ev == NH_OPL_EV_SENT_OK) {
        free(n->op.job_id);
        n->op.job_id = job_id ? strdup(job_id) : NULL;
    }
    (void)op_do(n, &o, text);
    if (o.act == NH_OPL_DO_WAIT) {
        if (in.ev == NH_OPL_EV_SENT_OK)
            op_log_accepted(n);
        else if (in.ev == NH_OPL_EV_UNKNOWN)
            op_log_unknown(n, err);
        else if (in.ev == NH_OPL_EV_THROTTLED)
            op_log_throttled(n, err, o.wait_ms);
        ex__cl_changed(c);
        if ((!c->removed || ex__cl_retiring(c)) && !e->stopping)
            ex__cl_schedule_next(c); /* follow the job, or send again, from now on */
    }
    op_maybe_free(n);
}

/* Hands the mutation to the provider (nh_opl_step said SEND: INTENT, the
 * gates passed). */
static void op_send(struct opnode *n)
{
    struct cl *c = n->cl;
    op_call_fn fn = op_call(n);

    /* HA: the fence is not asked here but by the provider's client, at the
     * moment each attempt is handed to the HTTP layer (net/client.h's gate):
     * a call that waits for a token, a retry or the cloud's throttle hint is
     * fenced when it really goes. */
    n->phase[0] = '\0';
    n->calling = true;
    c->e->calls_in_flight++;
    int r = fn(c->prov, c->cfg, &n->op.action, on_mutated, n);
    if (r < 0) {
        n->calling = false;
        c->e->calls_in_flight--;
        struct nh_opl_in in = opl_in(n, NH_OPL_EV_CALL_ERROR, ex__engine_now(c->e));
        (void)op_event(n, &in, strerror(-r));
    }
}

/* Sends it when the step says so: ev is JOURNALLED (its INTENT is
 * recorded, or there is no journal) or TICK (a throttled one is due). */
static void op_try_send(struct opnode *n, enum nh_opl_ev ev, uint64_t now)
{
    struct nh_opl_in in = opl_in(n, ev, now);
    const char *held = ex__cl_held(n->cl);
    struct nh_opl s = opl_get(n);
    struct nh_opl_out o = nh_opl_step(&s, &in);

    if (o.act == NH_OPL_DO_FORGET)
        nh_log(LOG_WARNING, "%s: not the leader; %s not sent", n->cl->name,
               nh_action_kind_name(n->op.action.kind));
    (void)op_do(n, &o, held && strcmp(held, "suspended") == 0 ? "suspend" : "the dry run");
}

int ex__ops_start(struct cl *c, const struct nh_action *a)
{
    struct opnode *n = op_new(c);
    if (n == NULL)
        return -ENOMEM;
    if (nh_action_copy(&n->op.action, a) < 0) {
        n->closed = true;
        op_maybe_free(n);
        return -ENOMEM;
    }
    n->op.state = NH_OP_INTENT;
    n->op.started_ms = nh_wall_ms();
    n->op.updated_ms = n->op.started_ms;
    n->op.revision = strdup(c->e->cfg->revision ? c->e->cfg->revision : "");
    if (c->e->jstore == NULL) {
        op_try_send(n, NH_OPL_EV_JOURNALLED, ex__engine_now(c->e));
        op_maybe_free(n);
        return 0;
    }
    if (jq_submit(c->e, n, JW_BEGIN) < 0) {
        nh_log(LOG_ERR, "%s: journal: out of memory; not sending %s", c->name,
               nh_action_kind_name(a->kind));
        n->closed = true;
        op_maybe_free(n);
        return -ENOMEM;
    }
    return 0;
}

/* An operation found open in the journal at start (or by a new leader):
 * followed or verified, never re-sent (nh_opl_step, RESUME). */
void ex__ops_resume(struct cl *c, const struct nh_op *op)
{
    if (op->drain) { /* a drain record, not a cloud operation: executor/kube.c's */
        ex__cl_kube_adopt(c, op);
        return;
    }
    struct opnode *n = op_new(c);

    if (n == NULL || nh_op_copy(&n->op, op) < 0) {
        nh_log(LOG_ERR, "%s: out of memory resuming operation %llu", c->name,
               (unsigned long long)op->seq);
        if (n) {
            n->closed = true;
            op_maybe_free(n);
        }
        return;
    }
    struct nh_opl_in in = opl_in(n, NH_OPL_EV_RESUME, ex__engine_now(c->e));
    (void)op_event(n, &in, NULL);
    if (n->op.state == NH_OP_SENT)
        nh_log(LOG_NOTICE, "%s: resuming %s (job %s): following its job", c->name,
               nh_action_kind_name(n->op.action.kind), n->op.job_id ? n->op.job_id : "-");
    else
        nh_log(LOG_NOTICE,
               "%s: resuming %s (operation %llu) whose outcome is unknown: verifying by "
               "re-reading the cluster",
               c->name, nh_action_kind_name(n->op.action.kind), (unsigned long long)n->op.seq);
}

/* ---------- following ---------- */

static enum nh_opl_ev job_event(enum nh_job_state st)
{
    switch (st) {
    case NH_JOB_SUCCEEDED:
        return NH_OPL_EV_JOB_SUCCEEDED;
    case NH_JOB_FAILED:
        return NH_OPL_EV_JOB_FAILED;
    case NH_JOB_RUNNING:
    default:
        return NH_OPL_EV_JOB_RUNNING;
    }
}

static void on_polled(void *ud, const struct nh_prov_error *err, const struct nh_job_progress *pr)
{
    struct opnode *n = ud;
    struct cl *c = n->cl;
    struct nh_engine *e = c->e;
    char msg[200];
    const char *text = NULL;

    if (err == NULL)
        err = &no_error;
    n->calling = false;
    e->calls_in_flight--;
    if (n->closed || err->cls == NH_ERR_CANCELLED) {
        op_maybe_free(n);
        return;
    }
    struct nh_opl_in in =
        opl_in(n, err->cls != NH_ERR_NONE ? NH_OPL_EV_POLL_ERROR : job_event(pr->state),
               ex__engine_now(e));
    struct nh_opl s = opl_get(n);
    struct nh_opl_out o = nh_opl_step(&s, &in);
    if (o.act == NH_OPL_DO_NOTHING) { /* nobody follows it any more */
        op_maybe_free(n);
        return;
    }
    if (in.ev == NH_OPL_EV_POLL_ERROR) {
        unsigned f = o.next.poll_failures;
        if (f == 1 || f % 10 == 0)
            nh_log(LOG_WARNING, "%s: following %s (job %s) failed %u time%s: %s (%s)", c->name,
                   nh_action_kind_name(n->op.action.kind), n->op.job_id ? n->op.job_id : "-", f,
                   f == 1 ? "" : "s", err->message, nh_err_class_name(err->cls));
    } else {
        n->percent = pr->percent;
        snprintf(n->phase, sizeof(n->phase), "%s", pr->phase);
        snprintf(n->detail, sizeof(n->detail), "%.250s", pr->detail);
        if (in.ev == NH_OPL_EV_JOB_SUCCEEDED) {
            text = pr->detail[0] ? pr->detail : "success";
        } else if (in.ev == NH_OPL_EV_JOB_FAILED) {
            /* The job's failure reasons are the cloud's text: to the log only. */
            nh_log(LOG_WARNING, "%s: job %s failed: %s", c->name, n->op.job_id ? n->op.job_id : "-",
                   pr->detail[0] ? pr->detail : pr->phase);
            snprintf(msg, sizeof(msg), "job %.80s failed (%.64s); the reason is in the log",
                     n->op.job_id ? n->op.job_id : "-", pr->phase[0] ? pr->phase : "no phase");
            text = msg;
        }
    }
    /* A scale job that succeeded: the close asks for a full
     * re-observation, which the job's own pool read may make needless
     * (ex__cl_merge_pool_read, ModelArts) or a re-list of the nodes alone
     * replace (ex__cl_relist_after_job, ACK and CCE); either only when it
     * shows the cluster converged with nothing to do; anything else is
     * observed in full, as always (issue #21). */
    bool succeeded =
        in.ev == NH_OPL_EV_JOB_SUCCEEDED && o.act == NH_OPL_DO_CLOSE && o.next.state == NH_OP_DONE;
    bool pool_read = succeeded && pr->pool_read;
    struct nh_obs_pool read = pool_read ? pr->pool : (struct nh_obs_pool){0};
    uint64_t observe_due = c->observe_due;
    (void)op_do(n, &o, text);
    if (o.act == NH_OPL_DO_WAIT) {
        ex__cl_changed(c);
        ex__cl_schedule_next(c);
    }
    if (succeeded && n->op.state == NH_OP_DONE &&
        !(pool_read && ex__cl_merge_pool_read(c, &n->op.action, &read, observe_due)))
        (void)ex__cl_relist_after_job(c, &n->op.action, pool_read ? &read : NULL, observe_due);
    op_maybe_free(n);
}

/* Asks the provider how the job goes (nh_opl_step said POLL). */
static void op_poll(struct opnode *n, uint64_t now)
{
    struct cl *c = n->cl;

    n->calling = true;
    c->e->calls_in_flight++;
    int r = c->prov->ops->poll(c->prov, c->cfg, &n->op, on_polled, n);
    if (r < 0) {
        n->calling = false;
        c->e->calls_in_flight--;
        struct nh_opl_in in = opl_in(n, NH_OPL_EV_POLL_CALL_ERROR, now);
        (void)op_event(n, &in, NULL);
    }
}

void ex__ops_tick(struct cl *c, uint64_t now)
{
    for (struct opnode *n = c->ops, *next; n; n = next) {
        next = n->next;
        if (n->closed || n->calling || n->journal_pending)
            continue;
        if (n->op.state == NH_OP_INTENT)
            op_try_send(n, NH_OPL_EV_TICK, now); /* fenced again at hand-off */
        else {
            struct nh_opl_in in = opl_in(n, NH_OPL_EV_TICK, now);
            (void)op_event(n, &in, NULL);
        }
        op_maybe_free(n);
    }
}

/* ---------- verification of unknown outcomes ---------- */

static const struct nh_node *find_node(const struct nh_observed *o, const char *id)
{
    for (size_t i = 0; i < o->n_nodes; i++)
        if ((o->nodes[i].id && strcmp(o->nodes[i].id, id) == 0) ||
            (o->nodes[i].name && strcmp(o->nodes[i].name, id) == 0))
            return &o->nodes[i];
    return NULL;
}

static int count_workers(const struct nh_observed *o)
{
    int n = 0;
    for (size_t i = 0; i < o->n_nodes; i++)
        if (o->nodes[i].worker && o->nodes[i].pool_id == NULL &&
            o->nodes[i].health != NH_NODE_REMOVING)
            n++;
    return n;
}

/* Did the operation's effect happen? 1 yes, 0 not (yet). On yes, *kind
 * says how to follow it to the end (NH_JOB_NONE: it is complete). */
static int effect_seen(const struct opnode *n, const struct nh_observed *o, enum nh_job_kind *kind)
{
    const struct nh_action *a = &n->op.action;
    const struct nh_obs_pool *p;

    switch (a->kind) {
    case NH_ACT_REMOVE_NODES:
        for (size_t i = 0; i < a->n_nodes; i++) {
            const struct nh_node *nd = find_node(o, a->node_ids[i]);
            if (nd != NULL && nd->health != NH_NODE_REMOVING)
                return 0;
        }
        *kind = NH_JOB_NODES_GONE;
        return 1;
    case NH_ACT_SCALE_POOL:
        p = a->pool_id ? nh_observed_pool(o, a->pool_id) : NULL;
        /* a pool that shows no desired count (CCE initialNodeCount is
         * optional): the nodes there and on their way */
        if (p == NULL || (p->desired >= 0 ? p->desired : p->current + p->creating) != a->target)
            return 0;
        *kind = NH_JOB_POOL_SIZE;
        return 1;
    case NH_ACT_DELETE_POOL:
        p = a->pool_id ? nh_observed_pool(o, a->pool_id) : NULL;
        if (p != NULL && !p->being_deleted)
            return 0;
        *kind = NH_JOB_POOL_GONE;
        return 1;
    case NH_ACT_SCALE_CLUSTER:
        if (count_workers(o) != a->target)
            return 0;
        *kind = NH_JOB_NONE;
        return 1;
    }
    return 0;
}

void ex__ops_on_observed(struct cl *c)
{
    uint64_t now = ex__engine_now(c->e);

    for (struct opnode *n = c->ops, *next; n; n = next) {
        next = n->next;
        if (n->closed || n->op.state != NH_OP_VERIFY || n->calling || n->journal_pending)
            continue;
        enum nh_job_kind kind = NH_JOB_NONE;
        bool seen = c->obs_ok && effect_seen(n, &c->obs, &kind);
        struct nh_opl_in in = opl_in(n, seen ? NH_OPL_EV_EFFECT_SEEN : NH_OPL_EV_NO_EFFECT, now);
        in.job_kind = kind;
        struct nh_opl_out o = op_event(n, &in, NULL);
        if (o.act == NH_OPL_DO_WAIT && o.next.state == NH_OP_SENT)
            nh_log(LOG_NOTICE, "%s: %s verified: its effect is visible; following it to the end",
                   c->name, nh_action_kind_name(n->op.action.kind));
        op_maybe_free(n);
    }
}
