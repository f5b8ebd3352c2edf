/* oplife.c - an operation's life as a pure transition function (oplife.h). */
#include "executor/oplife.h"

#include <stddef.h>

#include "net/ratelimit.h"

/* ---------- names ---------- */

#define OPL_NAME(v, name) [v] = name,
#define OPL_COUNT(v, name) +1
#define OPL_NAMES(type, LIST)                                                                      \
    static const char *const type##_names[] = {LIST(OPL_NAME)};                                    \
    _Static_assert(sizeof(type##_names) / sizeof(type##_names[0]) == (0 LIST(OPL_COUNT)),          \
                   #type ": every value needs a name");                                            \
    const char *type##_name(enum type v)                                                           \
    {                                                                                              \
        size_t i = (size_t)v;                                                                      \
        return i < sizeof(type##_names) / sizeof(type##_names[0]) ? type##_names[i] : "?";         \
    }

OPL_NAMES(nh_opl_ev, NH_OPL_EVENTS)
OPL_NAMES(nh_opl_do, NH_OPL_DOS)
OPL_NAMES(nh_opl_why, NH_OPL_WHYS)

/* ---------- helpers ---------- */

uint64_t nh_opl_verify_window_ms(const struct nh_opl_times *t)
{
    uint64_t w = t->job_poll * 6;
    return w < 3000 ? 3000 : w;
}

static struct nh_opl_out nothing(const struct nh_opl *s)
{
    return (struct nh_opl_out){.act = NH_OPL_DO_NOTHING, .next = *s};
}

static struct nh_opl_out wait(struct nh_opl next)
{
    return (struct nh_opl_out){.act = NH_OPL_DO_WAIT, .next = next};
}

/* Ends it: state st (journalled), why, a failure backoff or not. */
static struct nh_opl_out close(const struct nh_opl *s, enum nh_op_state st, enum nh_opl_why why,
                               bool backoff)
{
    struct nh_opl_out o = {.act = NH_OPL_DO_CLOSE, .next = *s, .why = why, .backoff = backoff};
    o.next.state = st;
    o.next.resend_at = 0;
    o.journal = true;
    o.journal_state = st;
    return o;
}

static struct nh_opl_out forget(const struct nh_opl *s, enum nh_opl_why why)
{
    return (struct nh_opl_out){.act = NH_OPL_DO_FORGET, .next = *s, .why = why};
}

/* Where a mutation would be sent: the last gate. Only from INTENT. */
static struct nh_opl_out gate_send(const struct nh_opl *s, const struct nh_opl_in *in)
{
    struct nh_opl next = *s;

    next.resend_at = 0;
    if (!in->leader)
        /* HA: the journal keeps it INTENT for the next leader, which
         * verifies it. */
        return forget(&next, NH_OPL_WHY_NOT_LEADER);
    if (in->removed)
        return close(&next, NH_OP_FAILED, NH_OPL_WHY_NOT_DECLARED, false);
    if (!in->has_provider)
        return close(&next, NH_OP_FAILED, NH_OPL_WHY_NO_PROVIDER, true);
    /* A dry run or a suspend that came on after it was planned (while its
     * journal entry was written, or while it waited to be sent again). */
    if (in->held)
        return close(&next, NH_OP_FAILED, NH_OPL_WHY_HELD, false);
    if (!in->has_call)
        return close(&next, NH_OP_FAILED, NH_OPL_WHY_NO_CALL, true);
    return (struct nh_opl_out){.act = NH_OPL_DO_SEND, .next = next};
}

/* Throttled: refused before execution, known not to have happened; sent
 * again after the cloud's hint, at least a growing backoff (1 s, 2 s, 4 s,
 * 8 s, with jitter), through the client and its gate (fenced again). */
static struct nh_opl_out throttled(const struct nh_opl *s, const struct nh_opl_in *in)
{
    struct nh_opl next = *s;

    if (s->throttles + 1 >= NH_OPL_MAX_THROTTLES || in->removed || in->stopping || !in->leader)
        return close(s, NH_OP_FAILED, NH_OPL_WHY_REFUSED, true);
    next.throttles++;
    uint64_t w = nh_backoff_equal_ms(next.throttles - 1, 1000, 600000, in->rnd);
    if (in->retry_after_ms > w)
        w = in->retry_after_ms;
    if (w > 600000)
        w = 600000;
    next.resend_at = in->now + w;
    struct nh_opl_out o = wait(next);
    o.wait_ms = w;
    return o;
}

/* The mutation was accepted. */
static struct nh_opl_out sent_ok(const struct nh_opl *s, const struct nh_opl_in *in)
{
    struct nh_opl next = *s;

    next.state = NH_OP_SENT;
    next.job_kind = in->job_kind;
    next.deadline = in->now + in->t.job_timeout;
    next.next_poll = in->now + in->t.job_poll;
    struct nh_opl_out o;
    if (in->job_kind == NH_JOB_NONE) {
        /* Nothing to follow: verify through the next observations (the
         * journal says SENT with no job: a restart verifies it too). */
        next.state = NH_OP_VERIFY;
        next.verify_until = in->now + nh_opl_verify_window_ms(&in->t);
    }
    o = wait(next);
    o.journal = true;
    o.journal_state = NH_OP_SENT;
    return o;
}

static struct nh_opl_out unknown(const struct nh_opl *s, const struct nh_opl_in *in)
{
    struct nh_opl next = *s;

    next.state = NH_OP_VERIFY;
    next.verify_until = in->now + nh_opl_verify_window_ms(&in->t);
    struct nh_opl_out o = wait(next);
    o.journal = true;
    o.journal_state = NH_OP_VERIFY;
    return o;
}

/* The answer to the mutation (only while it is out: INTENT). */
static struct nh_opl_out answered(const struct nh_opl *s, const struct nh_opl_in *in)
{
    switch (in->ev) {
    case NH_OPL_EV_SENT_OK:
        return sent_ok(s, in);
    case NH_OPL_EV_UNKNOWN:
        return unknown(s, in);
    case NH_OPL_EV_NOT_SENT:
        if (!in->leader)
            /* HA: the etcd journal keeps it INTENT for the next leader. */
            return forget(s, NH_OPL_WHY_NOT_LEADER);
        /* A refused fence while still leading is a failure (backoff); a
         * call cancelled at shutdown or removal is not. */
        return close(s, NH_OP_FAILED, NH_OPL_WHY_NOT_SENT, !in->stopping && !in->removed);
    case NH_OPL_EV_CALL_ERROR:
        return close(s, NH_OP_FAILED, NH_OPL_WHY_CALL_ERROR, true);
    case NH_OPL_EV_BUSY: {
        /* The cloud did nothing: no failure backoff, but nothing is
         * planned again before the next poll interval. */
        struct nh_opl_out o = close(s, NH_OP_FAILED, NH_OPL_WHY_BUSY, false);
        o.cluster_hold_ms = in->t.poll_interval;
        return o;
    }
    case NH_OPL_EV_THROTTLED:
        return throttled(s, in);
    case NH_OPL_EV_REFUSED:
        return close(s, NH_OP_FAILED, NH_OPL_WHY_REFUSED, true);
    default:
        return nothing(s);
    }
}

/* The job's answer (only while following it: SENT). */
static struct nh_opl_out job(const struct nh_opl *s, const struct nh_opl_in *in)
{
    struct nh_opl next = *s;

    if (in->removed && !in->retiring)
        return nothing(s); /* nobody follows it any more */
    switch (in->ev) {
    case NH_OPL_EV_POLL_ERROR: {
        next.poll_failures++;
        unsigned f = next.poll_failures < 6 ? next.poll_failures : 6;
        next.next_poll = in->now + in->t.job_poll * (1u << f);
        return wait(next);
    }
    case NH_OPL_EV_POLL_CALL_ERROR:
        next.next_poll = in->now + in->t.job_poll;
        return wait(next);
    case NH_OPL_EV_JOB_RUNNING: {
        /* Long jobs are polled less often: the job interval for the first
         * three answers, then twice, four, eight times it, never past the
         * poll interval (each poll spends a token of the provider's
         * bucket). */
        unsigned shift = next.polls / 3 < 3 ? next.polls / 3 : 3;
        uint64_t step = in->t.job_poll << shift;
        if (step > in->t.poll_interval && in->t.poll_interval >= in->t.job_poll)
            step = in->t.poll_interval;
        next.poll_failures = 0;
        next.polls++;
        next.next_poll = in->now + step;
        return wait(next);
    }
    case NH_OPL_EV_JOB_SUCCEEDED:
        next.poll_failures = 0;
        return close(&next, NH_OP_DONE, NH_OPL_WHY_JOB_SUCCEEDED, true);
    case NH_OPL_EV_JOB_FAILED:
        next.poll_failures = 0;
        return close(&next, NH_OP_FAILED, NH_OPL_WHY_JOB_FAILED, true);
    default:
        return nothing(s);
    }
}

static struct nh_opl_out tick(const struct nh_opl *s, const struct nh_opl_in *in)
{
    if (s->state == NH_OP_INTENT) {
        /* Only a throttled mutation waits to go again; an INTENT not yet
         * sent waits for its journal write, one out waits for its answer. */
        if (s->resend_at == 0 || in->now < s->resend_at || in->stopping)
            return nothing(s);
        return gate_send(s, in);
    }
    if (s->state != NH_OP_SENT)
        return nothing(s); /* VERIFY ends on observations */
    if (in->now >= s->deadline)
        return close(s, NH_OP_TIMED_OUT, NH_OPL_WHY_JOB_TIMEOUT, true);
    if (in->now < s->next_poll || !in->has_provider || in->stopping)
        return nothing(s);
    return (struct nh_opl_out){.act = NH_OPL_DO_POLL, .next = *s};
}

/* An observation while verifying (only VERIFY). */
static struct nh_opl_out observed(const struct nh_opl *s, const struct nh_opl_in *in)
{
    struct nh_opl next = *s;

    if (in->ev == NH_OPL_EV_EFFECT_SEEN) {
        if (in->job_kind == NH_JOB_NONE)
            return close(s, NH_OP_DONE, NH_OPL_WHY_EFFECT_SEEN, true);
        /* It happened: follow it to the end by re-reading. */
        next.state = NH_OP_SENT;
        next.job_kind = in->job_kind;
        next.next_poll = in->now;
        if (next.deadline == 0)
            next.deadline = in->now + in->t.job_timeout;
        struct nh_opl_out o = wait(next);
        o.journal = true;
        o.journal_state = NH_OP_SENT;
        return o;
    }
    if (in->now >= s->verify_until)
        /* Never seen: the cloud did not fail; the next plan decides, on
         * an observation that starts after this close, without backoff. */
        return close(s, NH_OP_FAILED, NH_OPL_WHY_NO_EFFECT, false);
    return nothing(s);
}

/* Found open in the journal: followed or verified, never re-sent. */
static struct nh_opl_out resume(const struct nh_opl *s, const struct nh_opl_in *in)
{
    struct nh_opl next = *s;

    next.deadline = in->now + in->t.job_timeout;
    next.resend_at = 0;
    if (s->state == NH_OP_SENT && s->job_kind != NH_JOB_NONE) {
        next.next_poll = in->now;
        return wait(next);
    }
    /* INTENT (maybe sent, maybe not), VERIFY, or SENT with nothing to
     * follow: look. An INTENT may have been handed to the network just
     * before the crash (or the old leader's hand-over): its request can
     * still reach the cloud up to the provider's request timeout later, so
     * its effect is awaited that much longer. */
    next.verify_until = in->now + nh_opl_verify_window_ms(&in->t) +
                        (s->state == NH_OP_INTENT ? in->t.request_timeout : 0);
    next.state = NH_OP_VERIFY;
    return wait(next);
}

struct nh_opl_out nh_opl_step(const struct nh_opl *s, const struct nh_opl_in *in)
{
    if (nh_op_state_final(s->state))
        return nothing(s);
    switch (in->ev) {
    case NH_OPL_EV_JOURNALLED:
        if (s->state != NH_OP_INTENT || s->resend_at != 0)
            return nothing(s);
        if (in->stopping) /* recorded, never sent: a known outcome */
            return close(s, NH_OP_FAILED, NH_OPL_WHY_STOPPING, false);
        return gate_send(s, in);
    case NH_OPL_EV_JOURNAL_FAILED: {
        if (s->state != NH_OP_INTENT)
            return nothing(s);
        /* Not in the journal: nothing to record there. */
        struct nh_opl_out o = close(s, NH_OP_FAILED, NH_OPL_WHY_JOURNAL, false);
        o.journal = false;
        o.cluster_hold_ms = 30000;
        return o;
    }
    case NH_OPL_EV_CALL_ERROR:
    case NH_OPL_EV_SENT_OK:
    case NH_OPL_EV_NOT_SENT:
    case NH_OPL_EV_UNKNOWN:
    case NH_OPL_EV_THROTTLED:
    case NH_OPL_EV_BUSY:
    case NH_OPL_EV_REFUSED:
        return s->state == NH_OP_INTENT ? answered(s, in) : nothing(s);
    case NH_OPL_EV_POLL_ERROR:
    case NH_OPL_EV_POLL_CALL_ERROR:
    case NH_OPL_EV_JOB_RUNNING:
    case NH_OPL_EV_JOB_SUCCEEDED:
    case NH_OPL_EV_JOB_FAILED:
        return s->state == NH_OP_SENT ? job(s, in) : nothing(s);
    case NH_OPL_EV_TICK:
        return tick(s, in);
    case NH_OPL_EV_EFFECT_SEEN:
    case NH_OPL_EV_NO_EFFECT:
        return s->state == NH_OP_VERIFY ? observed(s, in) : nothing(s);
    case NH_OPL_EV_RESUME:
        return resume(s, in);
    case NH_OPL_EV_DROP:
        if (s->state != NH_OP_INTENT || s->resend_at == 0)
            return nothing(s);
        return close(s, NH_OP_FAILED, NH_OPL_WHY_DROPPED, false);
    }
    return nothing(s);
}
