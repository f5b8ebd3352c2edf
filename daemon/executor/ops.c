/* ops.c - operations in flight: journal first, then send, then follow the
 * cloud's job to the end; unknown outcomes are verified, never re-sent. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "executor/engine_int.h"
#include "ops/metrics.h"
#include "util/log.h"

/* ---------- journal queue: one write at a time, in order ---------- */

enum jw_kind { JW_BEGIN, JW_UPDATE };

struct jwrite {
    struct jwrite *next;
    enum jw_kind kind;
    struct opnode *n;  /* NULL when the node no longer cares (snapshot only) */
    struct nh_op snap; /* owned copy written by the worker thread */
    int result;
};

static void op_send(struct opnode *n);
static void op_maybe_free(struct opnode *n);
static void op_finish_ex(struct opnode *n, enum nh_op_state st, const char *result, bool backoff);

static int64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void jq_kick(struct nh_engine *e);

static void jq_done_one(struct nh_engine *e, struct jwrite *jw)
{
    struct opnode *n = jw->n;

    if (n != NULL) {
        n->journal_pending = false;
        if (jw->kind == JW_BEGIN) {
            n->op.seq = jw->snap.seq;
            if (jw->result < 0) {
                nh_log_errno(LOG_ERR, jw->result, "%s: journal: cannot record %s; not sending it",
                             n->cl->name, nh_action_kind_name(n->op.action.kind));
                snprintf(n->detail, sizeof(n->detail), "not sent: journal write failed");
                n->op.state = NH_OP_FAILED;
                n->closed = true;
                n->cl->not_before = uv_now(e->loop) + 30000;
                cl_changed(n->cl);
            } else if (!e->stopping) {
                op_send(n);
            } else {
                /* Recorded, never sent: a known outcome, recorded as such. */
                op_finish_ex(n, NH_OP_FAILED, "not sent: the daemon is stopping", false);
            }
        } else if (jw->result < 0) {
            nh_log_errno(LOG_ERR, jw->result, "%s: journal: cannot record operation %llu as %s",
                         n->cl->name, (unsigned long long)n->op.seq,
                         nh_op_state_name(jw->snap.state));
        }
        /* The write held the operation back from its job polls: re-arm. */
        if (!n->closed && (!n->cl->removed || cl_retiring(n->cl)) && !e->stopping)
            cl_schedule_next(n->cl);
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
    engine_journal_result(e, r);
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

static int jq_submit(struct nh_engine *e, struct opnode *n, enum jw_kind kind)
{
    struct jwrite *jw;

    if (e->jstore == NULL)
        return 0;
    jw = calloc(1, sizeof(*jw));
    if (jw == NULL)
        return -ENOMEM;
    if (nh_op_copy(&jw->snap, &n->op) < 0) {
        free(jw);
        return -ENOMEM;
    }
    jw->kind = kind;
    jw->n = n;
    n->journal_pending = true;
    if (e->jq_tail)
        e->jq_tail->next = jw;
    else
        e->jq_head = jw;
    e->jq_tail = jw;
    jq_kick(e);
    return 0;
}

/* At teardown: finish queued writes synchronously (the loop is going away). */
void ops_journal_drain_sync(struct nh_engine *e)
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
        nh_op_clear(&jw->snap);
        free(jw);
    }
    e->jq_tail = NULL;
}

/* ---------- op nodes ---------- */

size_t ops_count(const struct cl *c)
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
    cl_maybe_free(c);
}

/* Leadership lost: forget every operation locally (the journal keeps them
 * open for the next leader, which resumes them). */
void ops_abandon_all(struct cl *c)
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

void ops_free_all(struct cl *c)
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

static uint64_t job_poll_ms(const struct cl *c)
{
    return c->e->cfg->daemon.job_poll_interval_ms;
}

/* How long an unknown outcome is given to show its effect. */
static uint64_t verify_window_ms(const struct cl *c)
{
    uint64_t w = job_poll_ms(c) * 6;
    return w < 3000 ? 3000 : w;
}

/* The provider's request timeout: how long a request handed to the network
 * may still reach the cloud. */
static uint64_t request_timeout_ms(const struct cl *c)
{
    if (c->cfg != NULL && c->cfg->provider != NULL && c->cfg->provider->timeout_ms > 0)
        return c->cfg->provider->timeout_ms;
    return 30000;
}

static void cl_backoff(struct cl *c)
{
    struct nh_engine *e = c->e;
    unsigned f = c->failures < 8 ? c->failures : 8;
    uint64_t base = 5000ULL << f; /* 5 s, 10 s, ... ~21 min */
    if (base > 600000)
        base = 600000;
    c->failures++;
    c->not_before = uv_now(e->loop) + base / 2 + nh_engine_rand(e) % (base / 2 + 1);
}

static void op_finish(struct opnode *n, enum nh_op_state st, const char *result)
{
    op_finish_ex(n, st, result, true);
}

/* Ends an operation: journal, metrics, recent list, log. backoff false:
 * the cloud did not fail (an unknown outcome whose effect never showed, a
 * call never sent); the next plan decides - on an observation that starts
 * after this close (ops_epoch) - without a failure backoff. */
static void op_finish_ex(struct opnode *n, enum nh_op_state st, const char *result, bool backoff)
{
    struct cl *c = n->cl;
    const char *word = st == NH_OP_DONE ? "done" : st == NH_OP_TIMED_OUT ? "timed_out" : "failed";
    n->op.state = st;
    n->op.updated_ms = wall_ms();
    free(n->op.result);
    n->op.result = result ? strdup(result) : NULL;
    if (jq_submit(c->e, n, JW_UPDATE) < 0)
        nh_log(LOG_ERR, "%s: journal: out of memory recording operation %llu", c->name,
               (unsigned long long)n->op.seq);
    op_metric(n, word);
    nh_audit_record(c->e->audit, &n->op, word, result);
    cl_record_recent(c, &n->op, word);
    if (st == NH_OP_DONE) {
        nh_log(LOG_NOTICE, "%s%s%s: %s done%s%s%s", c->name, n->op.action.pool_name ? "/" : "",
               n->op.action.pool_name ? n->op.action.pool_name : "",
               nh_action_kind_name(n->op.action.kind), n->op.job_id ? " (job " : "",
               n->op.job_id ? n->op.job_id : "", n->op.job_id ? ")" : "");
        if (n->op.job_id)
            nh_log(LOG_DEBUG, "job %s closed", n->op.job_id);
        /* c->failures (the backoff's level) is not reset here but when the
         * cluster converges: a failed scale-out, the replacement of its
         * failed node, the scale-out failing again... backs off further
         * each round instead of looping at the first step. */
    } else {
        nh_log(LOG_ERR, "%s%s%s: %s %s: %s", c->name, n->op.action.pool_name ? "/" : "",
               n->op.action.pool_name ? n->op.action.pool_name : "",
               nh_action_kind_name(n->op.action.kind), word, result ? result : "");
        snprintf(c->last_error, sizeof(c->last_error), "%s %s: %s",
                 nh_action_kind_name(n->op.action.kind), word, result ? result : "");
        if (backoff)
            cl_backoff(c);
    }
    n->closed = true;
    c->ops_epoch++;
    cl_observe_soon(c, 0); /* the state is re-read before anything else */
    cl_changed(c);
    op_maybe_free(n);
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
    n->op.state = NH_OP_FAILED;
    n->op.updated_ms = wall_ms();
    free(n->op.result);
    n->op.result = strdup(msg);
    if (jq_submit(c->e, n, JW_UPDATE) < 0)
        nh_log(LOG_ERR, "%s: journal: out of memory recording operation %llu", c->name,
               (unsigned long long)n->op.seq);
    op_metric(n, "not_sent");
    cl_record_recent(c, &n->op, "not_sent");
    nh_log(LOG_NOTICE, "%s%s%s: %s %s", c->name, n->op.action.pool_name ? "/" : "",
           n->op.action.pool_name ? n->op.action.pool_name : "",
           nh_action_kind_name(n->op.action.kind), msg);
    n->closed = true;
    c->ops_epoch++;
    cl_observe_soon(c, 0);
    cl_changed(c);
    op_maybe_free(n);
}

/* Refused because the cluster accepts no change now (NH_ERR_BUSY: the
 * provider read the cluster's state after the refusal). The cloud did
 * nothing: closed in the journal (FAILED, "refused: ..."), counted as
 * result busy, no failure backoff and no last_error. Nothing is planned
 * again before the next poll interval; the plan then reads the cluster's
 * state first and waits (a WAITING note) while it stays busy. */
static void op_close_busy(struct opnode *n, const char *why)
{
    struct cl *c = n->cl;
    char msg[320];
    uint64_t iv = c->cfg && c->cfg->poll_interval_ms ? c->cfg->poll_interval_ms
                                                     : c->e->cfg->daemon.poll_interval_ms;

    snprintf(msg, sizeof(msg), "refused: %s", why);
    n->op.state = NH_OP_FAILED;
    n->op.updated_ms = wall_ms();
    free(n->op.result);
    n->op.result = strdup(msg);
    if (jq_submit(c->e, n, JW_UPDATE) < 0)
        nh_log(LOG_ERR, "%s: journal: out of memory recording operation %llu", c->name,
               (unsigned long long)n->op.seq);
    op_metric(n, "busy");
    nh_audit_record(c->e->audit, &n->op, "busy", msg);
    cl_record_recent(c, &n->op, "busy");
    nh_log(LOG_NOTICE, "%s%s%s: %s %s", c->name, n->op.action.pool_name ? "/" : "",
           n->op.action.pool_name ? n->op.action.pool_name : "",
           nh_action_kind_name(n->op.action.kind), msg);
    c->not_before = uv_now(c->e->loop) + iv;
    n->closed = true;
    c->ops_epoch++;
    cl_changed(c);
    cl_schedule_next(c);
    op_maybe_free(n);
}

/* ---------- sending ---------- */

/* Providers pass err == NULL on success. */
static const struct nh_prov_error no_error = {.cls = NH_ERR_NONE};

/* The mutation never left (refused by the fence, or cancelled while queued):
 * a known outcome, not an unknown one. */
static void op_not_sent(struct opnode *n, const struct nh_prov_error *err)
{
    struct cl *c = n->cl;
    struct nh_engine *e = c->e;
    char msg[320];

    if (!e->leader) {
        /* HA, leadership lost: the journal (etcd) is the next leader's now;
         * it keeps the operation INTENT, and the next leader verifies it. */
        nh_log(LOG_WARNING, "%s: %s not sent (%s): no longer the leader", c->name,
               nh_action_kind_name(n->op.action.kind), err->message);
        n->closed = true;
        c->ops_epoch++;
        cl_changed(c);
        op_maybe_free(n);
        return;
    }
    snprintf(msg, sizeof(msg), "not sent: %s", err->message);
    /* A refused fence while still leading is a failure (backoff); a call
     * cancelled at shutdown or removal is not. */
    op_finish_ex(n, NH_OP_FAILED, msg, !e->stopping && !c->removed);
}

#define OP_MAX_THROTTLES 5

/* The cloud throttled the mutation: refused before execution, known not to
 * have happened. It stays INTENT and goes again after the wait the cloud
 * asked for (at least a growing backoff) - through the client and its gate,
 * so it is fenced again. false: give up (throttled too often, or nobody
 * should send it any more); the caller fails it. */
static bool op_throttled(struct opnode *n, const struct nh_prov_error *err)
{
    struct cl *c = n->cl;
    struct nh_engine *e = c->e;
    uint64_t now = uv_now(e->loop);
    char d[32];

    if (n->throttles + 1 >= OP_MAX_THROTTLES || c->removed || e->stopping || !e->leader)
        return false;
    n->throttles++;
    uint64_t base = 1000ULL << (n->throttles - 1); /* 1 s, 2 s, 4 s, 8 s */
    uint64_t wait = base / 2 + nh_engine_rand(e) % (base / 2 + 1);
    if (err->retry_after_ms > wait)
        wait = err->retry_after_ms;
    if (wait > 600000)
        wait = 600000;
    n->resend_at = now + wait;
    snprintf(n->phase, sizeof(n->phase), "throttled");
    nh_log(LOG_NOTICE,
           "%s%s%s: %s throttled by the cloud (%s; not executed); sending it again in %s "
           "(resend %u of %u)",
           c->name, n->op.action.pool_name ? "/" : "",
           n->op.action.pool_name ? n->op.action.pool_name : "",
           nh_action_kind_name(n->op.action.kind), err->code[0] ? err->code : "throttled",
           nh_duration_format(wait, d, sizeof(d)), n->throttles, OP_MAX_THROTTLES - 1);
    cl_changed(c);
    cl_schedule_next(c);
    op_maybe_free(n);
    return true;
}

/* Closes every operation that waits to be sent again after a throttle: it
 * is known not to have happened, and `why` says why it will not be sent. */
void ops_drop_unsent(struct cl *c, const char *why)
{
    char msg[200];

    snprintf(msg, sizeof(msg), "not sent: %s", why);
    for (struct opnode *n = c->ops, *next; n; n = next) {
        next = n->next;
        if (!n->closed && !n->calling && !n->journal_pending && n->op.state == NH_OP_INTENT &&
            n->resend_at != 0)
            op_finish_ex(n, NH_OP_FAILED, msg, false);
    }
}

static void on_mutated(void *ud, const struct nh_prov_error *err, enum nh_job_kind kind,
                       const char *job_id)
{
    struct opnode *n = ud;
    struct cl *c = n->cl;
    struct nh_engine *e = c->e;
    uint64_t now = uv_now(e->loop);

    if (err == NULL)
        err = &no_error;
    n->calling = false;
    e->calls_in_flight--;
    if (n->closed) { /* abandoned: leadership lost while the call was out */
        op_maybe_free(n);
        return;
    }
    switch (err->cls) {
    case NH_ERR_NONE:
        n->op.state = NH_OP_SENT;
        n->op.job_kind = kind;
        free(n->op.job_id);
        n->op.job_id = job_id ? strdup(job_id) : NULL;
        n->op.updated_ms = wall_ms();
        n->deadline = now + e->cfg->daemon.job_timeout_ms;
        n->next_poll = now + job_poll_ms(c);
        op_metric(n, "issued");
        nh_audit_record(e->audit, &n->op, "issued", NULL);
        nh_log(LOG_NOTICE, "%s%s%s: %s accepted%s%s%s", c->name, n->op.action.pool_name ? "/" : "",
               n->op.action.pool_name ? n->op.action.pool_name : "",
               nh_action_kind_name(n->op.action.kind), job_id ? " (job " : "", job_id ? job_id : "",
               job_id ? ")" : "");
        jq_submit(e, n, JW_UPDATE);
        if (kind == NH_JOB_NONE) {
            /* Nothing to follow: verify through the next observations. */
            n->op.state = NH_OP_VERIFY;
            n->verify_until = now + verify_window_ms(c);
        }
        break;
    case NH_ERR_UNKNOWN_OUTCOME:
    case NH_ERR_CANCELLED:
        n->op.state = NH_OP_VERIFY;
        n->op.updated_ms = wall_ms();
        n->verify_until = now + verify_window_ms(c);
        op_metric(n, "unknown");
        nh_audit_record(e->audit, &n->op, "unknown", err->message);
        nh_log(LOG_WARNING,
               "%s: %s outcome unknown (%s%s%s); verifying by re-reading the cluster, not "
               "re-sending",
               c->name, nh_action_kind_name(n->op.action.kind), err->message,
               err->code[0] ? ", " : "", err->code);
        jq_submit(e, n, JW_UPDATE);
        break;
    case NH_ERR_NOT_SENT:
        op_not_sent(n, err);
        return;
    case NH_ERR_BUSY:
        op_close_busy(n, err->message);
        return;
    case NH_ERR_THROTTLED:
        if (op_throttled(n, err))
            return;
        __attribute__((fallthrough)); /* throttled too often: a failure */
    case NH_ERR_AUTH:
    case NH_ERR_NOT_FOUND:
    case NH_ERR_CONFLICT:
    case NH_ERR_INVALID:
    case NH_ERR_SERVER: {
        /* The cloud's text to the log only; status, journal and audit get
         * the code and the request id (issue 23). */
        char pub[300];
        nh_err_public(err, pub, sizeof(pub));
        nh_log(LOG_WARNING, "%s: %s refused: %s (%s%s%s, HTTP %d%s%s)", c->name,
               nh_action_kind_name(n->op.action.kind), err->message, nh_err_class_name(err->cls),
               err->code[0] ? " " : "", err->code, err->http_status,
               err->request_id[0] ? ", request " : "", err->request_id);
        op_finish(n, NH_OP_FAILED, pub);
        return;
    }
    }
    cl_changed(c);
    if ((!c->removed || cl_retiring(c)) && !e->stopping)
        cl_schedule_next(c); /* follow the job from now on */
    op_maybe_free(n);
}

static void op_send(struct opnode *n)
{
    struct cl *c = n->cl;
    struct nh_provider *p = c->prov;
    int (*fn)(struct nh_provider *, const struct nh_cfg_cluster *, const struct nh_action *,
              nh_mutate_fn, void *) = NULL;
    int r;

    n->resend_at = 0;
    if (!c->e->leader) {
        /* HA: no longer leading; the journal keeps it INTENT for the next
         * leader, which verifies it. */
        nh_log(LOG_WARNING, "%s: not the leader; %s not sent", c->name,
               nh_action_kind_name(n->op.action.kind));
        n->closed = true;
        c->ops_epoch++;
        op_maybe_free(n);
        return;
    }
    if (c->removed) {
        op_finish_ex(n, NH_OP_FAILED, "not sent: the cluster is no longer declared", false);
        return;
    }
    if (p == NULL || c->cfg == NULL) {
        op_finish(n, NH_OP_FAILED, "not sent: the provider is unavailable");
        return;
    }
    /* The gate where an action would be sent: a dry run or a suspend that
     * came on after this operation was planned (while its journal entry
     * was being written, or its leadership confirmed) stops it here. */
    const char *held = cl_held(c);
    if (held != NULL) {
        op_close_unsent(n, strcmp(held, "suspended") == 0 ? "suspend" : "the dry run");
        return;
    }
    switch (n->op.action.kind) {
    case NH_ACT_SCALE_CLUSTER:
        fn = p->ops->scale_cluster;
        break;
    case NH_ACT_SCALE_POOL:
        fn = p->ops->scale_pool;
        break;
    case NH_ACT_REMOVE_NODES:
        fn = p->ops->remove_nodes;
        break;
    case NH_ACT_DELETE_POOL:
        fn = p->ops->delete_pool;
        break;
    }
    if (fn == NULL) {
        op_finish(n, NH_OP_FAILED, "not sent: the cloud has no such operation");
        return;
    }
    /* HA: the fence is not asked here but by the provider's client, at the
     * moment each attempt is handed to the HTTP layer (net/client.h's gate):
     * a call that waits for a token, a retry or the cloud's throttle hint is
     * fenced when it really goes. */
    n->phase[0] = '\0';
    n->calling = true;
    c->e->calls_in_flight++;
    r = fn(p, c->cfg, &n->op.action, on_mutated, n);
    if (r < 0) {
        char msg[128];
        n->calling = false;
        c->e->calls_in_flight--;
        snprintf(msg, sizeof(msg), "not sent: %s", strerror(-r));
        op_finish(n, NH_OP_FAILED, msg);
    }
}

int ops_start(struct cl *c, const struct nh_action *a)
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
    n->op.started_ms = wall_ms();
    n->op.updated_ms = n->op.started_ms;
    n->op.revision = strdup(c->e->cfg->revision ? c->e->cfg->revision : "");
    if (c->e->jstore == NULL) {
        op_send(n);
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

/* An operation found open in the journal at start. */
void ops_resume(struct cl *c, const struct nh_op *op)
{
    struct opnode *n = op_new(c);
    uint64_t now = uv_now(c->e->loop);

    if (n == NULL || nh_op_copy(&n->op, op) < 0) {
        nh_log(LOG_ERR, "%s: out of memory resuming operation %llu", c->name,
               (unsigned long long)op->seq);
        if (n) {
            n->closed = true;
            op_maybe_free(n);
        }
        return;
    }
    n->deadline = now + c->e->cfg->daemon.job_timeout_ms;
    if (n->op.state == NH_OP_SENT && n->op.job_kind != NH_JOB_NONE) {
        n->next_poll = now;
        nh_log(LOG_NOTICE, "%s: resuming %s (job %s): following its job", c->name,
               nh_action_kind_name(n->op.action.kind), n->op.job_id ? n->op.job_id : "-");
    } else {
        /* INTENT (maybe sent, maybe not) or VERIFY: never re-send; look.
         * An INTENT may have been handed to the network just before the
         * crash (or the old leader's hand-over): its request can still reach
         * the cloud up to the provider's request timeout later, so its effect
         * is awaited that much longer. */
        bool intent = n->op.state == NH_OP_INTENT;
        n->op.state = NH_OP_VERIFY;
        n->verify_until = now + verify_window_ms(c) + (intent ? request_timeout_ms(c) : 0);
        nh_log(LOG_NOTICE,
               "%s: resuming %s (operation %llu) whose outcome is unknown: verifying by "
               "re-reading the cluster",
               c->name, nh_action_kind_name(n->op.action.kind), (unsigned long long)n->op.seq);
    }
}

/* ---------- following ---------- */

static void on_polled(void *ud, const struct nh_prov_error *err, const struct nh_job_progress *pr)
{
    struct opnode *n = ud;
    struct cl *c = n->cl;
    struct nh_engine *e = c->e;
    uint64_t now = uv_now(e->loop);

    if (err == NULL)
        err = &no_error;
    n->calling = false;
    e->calls_in_flight--;
    if (n->closed || err->cls == NH_ERR_CANCELLED || (c->removed && !cl_retiring(c))) {
        op_maybe_free(n);
        return;
    }
    if (err->cls != NH_ERR_NONE) {
        n->poll_failures++;
        if (n->poll_failures == 1 || n->poll_failures % 10 == 0)
            nh_log(LOG_WARNING, "%s: following %s (job %s) failed %u time%s: %s (%s)", c->name,
                   nh_action_kind_name(n->op.action.kind), n->op.job_id ? n->op.job_id : "-",
                   n->poll_failures, n->poll_failures == 1 ? "" : "s", err->message,
                   nh_err_class_name(err->cls));
        unsigned f = n->poll_failures < 6 ? n->poll_failures : 6;
        n->next_poll = now + job_poll_ms(c) * (1u << f);
        cl_changed(c);
        cl_schedule_next(c);
        return;
    }
    n->poll_failures = 0;
    n->percent = pr->percent;
    snprintf(n->phase, sizeof(n->phase), "%s", pr->phase);
    snprintf(n->detail, sizeof(n->detail), "%.250s", pr->detail);
    switch (pr->state) {
    case NH_JOB_RUNNING: {
        /* Long jobs are polled less often: the job interval for the first
         * three answers, then twice, four, eight times it, never past the
         * poll interval (each poll spends a token of the provider's bucket). */
        unsigned shift = n->polls / 3 < 3 ? n->polls / 3 : 3;
        uint64_t step = job_poll_ms(c) << shift;
        uint64_t cap = c->cfg && c->cfg->poll_interval_ms ? c->cfg->poll_interval_ms
                                                          : c->e->cfg->daemon.poll_interval_ms;
        if (step > cap && cap >= job_poll_ms(c))
            step = cap;
        n->polls++;
        n->next_poll = now + step;
        cl_changed(c);
        cl_schedule_next(c);
        break;
    }
    case NH_JOB_SUCCEEDED:
        op_finish(n, NH_OP_DONE, pr->detail[0] ? pr->detail : "success");
        break;
    case NH_JOB_FAILED: {
        /* The job's failure reasons are the cloud's text: to the log only. */
        char msg[200];
        nh_log(LOG_WARNING, "%s: job %s failed: %s", c->name, n->op.job_id ? n->op.job_id : "-",
               pr->detail[0] ? pr->detail : pr->phase);
        snprintf(msg, sizeof(msg), "job %.80s failed (%.64s); the reason is in the log",
                 n->op.job_id ? n->op.job_id : "-", pr->phase[0] ? pr->phase : "no phase");
        op_finish(n, NH_OP_FAILED, msg);
        break;
    }
    }
}

void ops_tick(struct cl *c, uint64_t now)
{
    for (struct opnode *n = c->ops, *next; n; n = next) {
        next = n->next;
        if (n->closed || n->calling || n->journal_pending)
            continue;
        if (n->op.state == NH_OP_INTENT && n->resend_at != 0) {
            if (now >= n->resend_at && !c->e->stopping)
                op_send(n); /* fenced again at hand-off */
            continue;
        }
        if (n->op.state == NH_OP_SENT && now >= n->deadline) {
            char msg[160];
            char d[32];
            snprintf(msg, sizeof(msg),
                     "no result within job_timeout %s; nothing more is issued for the cluster "
                     "until its state is re-read",
                     nh_duration_format(c->e->cfg->daemon.job_timeout_ms, d, sizeof(d)));
            op_finish(n, NH_OP_TIMED_OUT, msg);
            continue;
        }
        if (n->op.state != NH_OP_SENT || now < n->next_poll || c->prov == NULL || c->cfg == NULL ||
            c->e->stopping)
            continue;
        n->calling = true;
        c->e->calls_in_flight++;
        int r = c->prov->ops->poll(c->prov, c->cfg, &n->op, on_polled, n);
        if (r < 0) {
            n->calling = false;
            c->e->calls_in_flight--;
            n->next_poll = now + job_poll_ms(c);
        }
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

void ops_on_observed(struct cl *c)
{
    uint64_t now = uv_now(c->e->loop);

    for (struct opnode *n = c->ops, *next; n; n = next) {
        next = n->next;
        if (n->closed || n->op.state != NH_OP_VERIFY || n->calling || n->journal_pending)
            continue;
        enum nh_job_kind kind = NH_JOB_NONE;
        if (c->obs_ok && effect_seen(n, &c->obs, &kind)) {
            if (kind == NH_JOB_NONE) {
                op_finish(n, NH_OP_DONE, "effect observed");
                continue;
            }
            /* It happened: follow it to the end by re-reading. */
            nh_log(LOG_NOTICE, "%s: %s verified: its effect is visible; following it to the end",
                   c->name, nh_action_kind_name(n->op.action.kind));
            n->op.state = NH_OP_SENT;
            n->op.job_kind = kind;
            n->next_poll = now;
            if (n->deadline == 0)
                n->deadline = now + c->e->cfg->daemon.job_timeout_ms;
            n->op.updated_ms = wall_ms();
            jq_submit(c->e, n, JW_UPDATE);
            continue;
        }
        if (now >= n->verify_until) {
            char msg[200], d[32];
            snprintf(msg, sizeof(msg),
                     "outcome unknown and no effect observed within %s; the next plan decides "
                     "again from the observed state",
                     nh_duration_format(verify_window_ms(c), d, sizeof(d)));
            op_finish_ex(n, NH_OP_FAILED, msg, false);
        }
    }
}
