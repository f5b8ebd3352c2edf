/* oplife.h - an operation's life as a pure transition function.
 *
 * An operation (struct nh_op) goes INTENT (journalled) -> sent -> SENT
 * (following the cloud's job) or VERIFY (its outcome is unknown: re-read
 * the cluster) -> DONE / FAILED / TIMED_OUT. nh_opl_step() decides each
 * step from the operation's state and timers, what happened (an answer
 * class, a tick of the clock, an observation, a restart) and the facts of
 * the world it is given (leadership, stopping, holds, the configured
 * times); it returns the next state and timers and what to do: send, poll,
 * wait, or close with a result. It reads no clock, touches nothing and
 * allocates nothing: executor/ops.c carries out what it says (journal,
 * metrics, audit, logs, timers) and tests/unit/executor/test_oplife.c
 * checks it row by row.
 *
 * The safety core: a mutation is sent only from INTENT, and INTENT is never
 * re-entered. An unknown outcome (and an INTENT found open at a restart,
 * which may have been handed to the network just before) goes to VERIFY,
 * from which nothing is ever sent again: its effect is verified by
 * observation, and it ends DONE (seen), SENT (seen, followed to its end) or
 * FAILED without a failure backoff (never seen). The only way back to a
 * send is a THROTTLED answer, which the cloud gives before executing. */
#ifndef NH_OPLIFE_H
#define NH_OPLIFE_H

#include <stdbool.h>
#include <stdint.h>

#include "model/model.h"

/* Throttled answers in a row after which a mutation is failed. */
#define NH_OPL_MAX_THROTTLES 5

/* What happened to the operation. */
#define NH_OPL_EVENTS(X)                                                                           \
    X(NH_OPL_EV_JOURNALLED, "journalled")         /* its INTENT is recorded: send it */            \
    X(NH_OPL_EV_JOURNAL_FAILED, "journal-failed") /* its INTENT could not be recorded */           \
    X(NH_OPL_EV_CALL_ERROR, "call-error")         /* the provider refused the call locally */      \
    X(NH_OPL_EV_SENT_OK, "sent-ok")               /* accepted; in.job_kind says how to follow */   \
    X(NH_OPL_EV_NOT_SENT, "not-sent")       /* never left (fence refused, cancelled queued) */     \
    X(NH_OPL_EV_UNKNOWN, "unknown-outcome") /* may or may not have happened (or cancelled) */      \
    X(NH_OPL_EV_THROTTLED, "throttled")     /* refused before execution; in.retry_after_ms */      \
    X(NH_OPL_EV_BUSY, "busy")               /* the cluster accepts no change now */                \
    X(NH_OPL_EV_REFUSED, "refused")         /* auth, not found, conflict, invalid, server */       \
    X(NH_OPL_EV_POLL_ERROR, "poll-error")   /* following the job failed (call or answer) */        \
    X(NH_OPL_EV_POLL_CALL_ERROR, "poll-call-error") /* the poll could not be started */            \
    X(NH_OPL_EV_JOB_RUNNING, "job-running")                                                        \
    X(NH_OPL_EV_JOB_SUCCEEDED, "job-succeeded")                                                    \
    X(NH_OPL_EV_JOB_FAILED, "job-failed")                                                          \
    X(NH_OPL_EV_TICK, "tick")               /* the clock moved: resend, job timeout, poll due */   \
    X(NH_OPL_EV_EFFECT_SEEN, "effect-seen") /* an observation shows it; in.job_kind to follow */   \
    X(NH_OPL_EV_NO_EFFECT, "no-effect")     /* an observation without it (verify window?) */       \
    X(NH_OPL_EV_RESUME, "resume")           /* found open in the journal (restart, new leader) */  \
    X(NH_OPL_EV_DROP, "drop")               /* nobody should send it any more (reload, stop) */
enum nh_opl_ev { NH_OPL_EVENTS(NH_ENUM_VALUE) };
#define NH_OPL_EV_COUNT ((int)NH_OPL_EV_DROP + 1)
const char *nh_opl_ev_name(enum nh_opl_ev ev);

/* What to do. */
#define NH_OPL_DOS(X)                                                                              \
    X(NH_OPL_DO_NOTHING, "nothing") /* the event does not apply: change nothing */                 \
    X(NH_OPL_DO_WAIT, "wait")       /* keep the new state and timers; re-arm the timer */          \
    X(NH_OPL_DO_SEND, "send")       /* hand the mutation to the provider now */                    \
    X(NH_OPL_DO_POLL, "poll")       /* ask the provider how the job goes */                        \
    X(NH_OPL_DO_CLOSE, "close")     /* it ends: out.end and out.why say how */                     \
    X(NH_OPL_DO_FORGET, "forget")   /* close locally only: the journal keeps it for the leader */
enum nh_opl_do { NH_OPL_DOS(NH_ENUM_VALUE) };
const char *nh_opl_do_name(enum nh_opl_do d);

/* Why it closes (ops.c words the message; the counted result follows). */
#define NH_OPL_WHYS(X)                                                                             \
    X(NH_OPL_WHY_NONE, "none")                                                                     \
    X(NH_OPL_WHY_JOURNAL, "journal")           /* INTENT not recorded: never sent (failed) */      \
    X(NH_OPL_WHY_STOPPING, "stopping")         /* recorded, the daemon stops: not sent */          \
    X(NH_OPL_WHY_NOT_DECLARED, "not-declared") /* the cluster was removed: not sent */             \
    X(NH_OPL_WHY_NO_PROVIDER, "no-provider")   /* not sent */                                      \
    X(NH_OPL_WHY_HELD, "held")                 /* dry run or suspend came on: not_sent */          \
    X(NH_OPL_WHY_NO_CALL, "no-call")           /* the cloud has no such operation */               \
    X(NH_OPL_WHY_CALL_ERROR, "call-error")     /* not sent: the local error */                     \
    X(NH_OPL_WHY_NOT_SENT, "not-sent")         /* not sent: the answer's message */                \
    X(NH_OPL_WHY_BUSY, "busy")                 /* refused: busy */                                 \
    X(NH_OPL_WHY_REFUSED, "refused")           /* the cloud refused (or throttled too often) */    \
    X(NH_OPL_WHY_JOB_SUCCEEDED, "job-succeeded")                                                   \
    X(NH_OPL_WHY_JOB_FAILED, "job-failed")                                                         \
    X(NH_OPL_WHY_JOB_TIMEOUT, "job-timeout")                                                       \
    X(NH_OPL_WHY_EFFECT_SEEN, "effect-seen") /* verified, nothing more to follow */                \
    X(NH_OPL_WHY_NO_EFFECT, "no-effect")     /* verify window over, effect never seen */           \
    X(NH_OPL_WHY_DROPPED, "dropped")         /* throttled, then nobody should send it */           \
    X(NH_OPL_WHY_NOT_LEADER, "not-leader")   /* leadership lost before it was sent */
enum nh_opl_why { NH_OPL_WHYS(NH_ENUM_VALUE) };
const char *nh_opl_why_name(enum nh_opl_why w);

/* An operation's state and timers (loop ms). */
struct nh_opl {
    enum nh_op_state state;
    enum nh_job_kind job_kind;
    uint64_t resend_at;    /* INTENT, throttled: send again then; 0 not waiting */
    uint64_t deadline;     /* job timeout */
    uint64_t verify_until; /* VERIFY gives up after this */
    uint64_t next_poll;    /* SENT: next job poll */
    unsigned throttles;    /* throttled answers in a row */
    unsigned polls;        /* answers saying the job is still running */
    unsigned poll_failures;
};

/* The configured times (ms). */
struct nh_opl_times {
    uint64_t job_poll;        /* daemon.job_poll_interval */
    uint64_t job_timeout;     /* daemon.job_timeout */
    uint64_t poll_interval;   /* the cluster's poll interval */
    uint64_t request_timeout; /* the provider's request timeout */
};

/* The event and the world it happens in. */
struct nh_opl_in {
    enum nh_opl_ev ev;
    uint64_t now;              /* loop ms */
    enum nh_job_kind job_kind; /* SENT_OK, EFFECT_SEEN */
    uint64_t retry_after_ms;   /* THROTTLED: the cloud's hint (0 none) */
    uint64_t rnd;              /* THROTTLED: a uniform random number */
    bool leader;               /* may mutate (always, without HA) */
    bool stopping;             /* the daemon stops: nothing new is sent */
    bool removed;              /* the cluster is no longer declared */
    bool retiring;             /* removed, its open operations followed */
    bool has_provider;         /* the cluster has a provider and a declaration */
    bool has_call;             /* the provider implements this action */
    bool held;                 /* dry run or suspend: nothing new is sent */
    struct nh_opl_times t;
};

struct nh_opl_out {
    enum nh_opl_do act;
    struct nh_opl next;  /* state and timers after the step */
    enum nh_opl_why why; /* CLOSE, FORGET */
    bool backoff;        /* CLOSE: a failure the cluster backs off from */
    bool journal;        /* record the state `journal_state` in the journal */
    enum nh_op_state journal_state;
    uint64_t wait_ms;         /* THROTTLED: the wait chosen (for the log) */
    uint64_t cluster_hold_ms; /* plan nothing new on the cluster for this long (0 none) */
};

/* The step. Pure: same input, same output. */
struct nh_opl_out nh_opl_step(const struct nh_opl *s, const struct nh_opl_in *in);

/* How long an unknown outcome is given to show its effect. */
uint64_t nh_opl_verify_window_ms(const struct nh_opl_times *t);

#endif
