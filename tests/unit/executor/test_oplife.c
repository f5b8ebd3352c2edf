/* test_oplife.c - table tests of an operation's life (executor/oplife.h).
 *
 * Each row is one transition: the operation's state and timers, an event
 * in a world (leadership, stopping, removed, holds, provider), and the
 * exact expected step: what to do, the whole next state, why it closes,
 * backoff, what the journal records. Then properties over every state,
 * event and world: nothing is ever sent again once an operation has left
 * INTENT (so an unknown outcome, or a restart, never re-sends), a send
 * passes every gate, a close always ends in a final state. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "executor/oplife.h"

#define NOW 100000ULL
#define JOB_POLL 1000ULL
#define JOB_TIMEOUT 60000ULL
#define POLL_IV 10000ULL
#define REQ_TIMEOUT 30000ULL
#define WINDOW 6000ULL /* max(3 s, 6 job polls) */

/* ---------- table shape ---------- */

struct row {
    const char *name;
    struct nh_opl s;
    enum nh_opl_ev ev;
    uint64_t now; /* 0: NOW */
    enum nh_job_kind kind;
    uint64_t retry_after, rnd;
    uint64_t poll_iv; /* 0: POLL_IV */
    /* the world: all false is a leader with a provider, nothing held */
    bool not_leader, stopping, removed, retiring, no_provider, no_call, held;
    /* expected */
    enum nh_opl_do act;
    bool same; /* next == s */
    struct nh_opl next;
    enum nh_opl_why why;
    bool backoff, journal;
    enum nh_op_state journal_state;
    uint64_t wait_ms, hold_ms;
};

#define INTENT                                                                                     \
    {                                                                                              \
        .state = NH_OP_INTENT                                                                      \
    }
#define THROTTLED(k)                                                                               \
    {                                                                                              \
        .state = NH_OP_INTENT, .resend_at = NOW, .throttles = (k)                                  \
    }
#define SENT                                                                                       \
    {                                                                                              \
        .state = NH_OP_SENT, .job_kind = NH_JOB_CCE_JOB, .deadline = NOW + 1, .next_poll = NOW     \
    }
#define VERIFY                                                                                     \
    {                                                                                              \
        .state = NH_OP_VERIFY, .verify_until = NOW + 1                                             \
    }
#define ENDED(st)                                                                                  \
    {                                                                                              \
        .state = (st)                                                                              \
    }

/* A close from state S (its other fields kept). */
#define CLOSE_AS(st) .act = NH_OPL_DO_CLOSE, .journal = true, .journal_state = (st)

static const struct row rows[] = {
    /* ---- journalled: the last gate before sending ---- */
    {"journalled: sent", INTENT, NH_OPL_EV_JOURNALLED, .act = NH_OPL_DO_SEND, .same = true},
    {"journalled, stopping: closed unsent, no backoff", INTENT, NH_OPL_EV_JOURNALLED,
     .stopping = true, CLOSE_AS(NH_OP_FAILED), .next = ENDED(NH_OP_FAILED),
     .why = NH_OPL_WHY_STOPPING},
    {"journalled, leadership lost: forgotten (the journal keeps it)", INTENT, NH_OPL_EV_JOURNALLED,
     .not_leader = true, .act = NH_OPL_DO_FORGET, .same = true, .why = NH_OPL_WHY_NOT_LEADER},
    {"journalled, cluster removed: not sent, no backoff", INTENT, NH_OPL_EV_JOURNALLED,
     .removed = true, CLOSE_AS(NH_OP_FAILED), .next = ENDED(NH_OP_FAILED),
     .why = NH_OPL_WHY_NOT_DECLARED},
    {"journalled, no provider: failed with backoff", INTENT, NH_OPL_EV_JOURNALLED,
     .no_provider = true, CLOSE_AS(NH_OP_FAILED), .next = ENDED(NH_OP_FAILED),
     .why = NH_OPL_WHY_NO_PROVIDER, .backoff = true},
    {"journalled, held (dry run/suspend): not sent, no backoff", INTENT, NH_OPL_EV_JOURNALLED,
     .held = true, CLOSE_AS(NH_OP_FAILED), .next = ENDED(NH_OP_FAILED), .why = NH_OPL_WHY_HELD},
    {"journalled, no such call: failed with backoff", INTENT, NH_OPL_EV_JOURNALLED, .no_call = true,
     CLOSE_AS(NH_OP_FAILED), .next = ENDED(NH_OP_FAILED), .why = NH_OPL_WHY_NO_CALL,
     .backoff = true},
    {"journalled while throttled: nothing (the tick sends it)", THROTTLED(1), NH_OPL_EV_JOURNALLED,
     .act = NH_OPL_DO_NOTHING, .same = true},
    {"journalled in VERIFY: nothing", VERIFY, NH_OPL_EV_JOURNALLED, .act = NH_OPL_DO_NOTHING,
     .same = true},
    {"journalled in SENT: nothing", SENT, NH_OPL_EV_JOURNALLED, .act = NH_OPL_DO_NOTHING,
     .same = true},
    {"journal failed: closed, not journalled, cluster held 30 s", INTENT, NH_OPL_EV_JOURNAL_FAILED,
     .act = NH_OPL_DO_CLOSE, .next = ENDED(NH_OP_FAILED), .why = NH_OPL_WHY_JOURNAL,
     .journal_state = NH_OP_FAILED, .hold_ms = 30000},

    /* ---- the mutation's answer (INTENT, call out) ---- */
    {"sent-ok with a job: SENT, polled after one job interval", INTENT, NH_OPL_EV_SENT_OK,
     .kind = NH_JOB_CCE_JOB, .act = NH_OPL_DO_WAIT,
     .next = {.state = NH_OP_SENT,
              .job_kind = NH_JOB_CCE_JOB,
              .deadline = NOW + JOB_TIMEOUT,
              .next_poll = NOW + JOB_POLL},
     .journal = true, .journal_state = NH_OP_SENT},
    {"sent-ok, nothing to follow: journalled SENT, verified", INTENT, NH_OPL_EV_SENT_OK,
     .kind = NH_JOB_NONE, .act = NH_OPL_DO_WAIT,
     .next = {.state = NH_OP_VERIFY,
              .deadline = NOW + JOB_TIMEOUT,
              .next_poll = NOW + JOB_POLL,
              .verify_until = NOW + WINDOW},
     .journal = true, .journal_state = NH_OP_SENT},
    {"unknown outcome: VERIFY, never re-sent", INTENT, NH_OPL_EV_UNKNOWN, .act = NH_OPL_DO_WAIT,
     .next = {.state = NH_OP_VERIFY, .verify_until = NOW + WINDOW}, .journal = true,
     .journal_state = NH_OP_VERIFY},
    {"unknown outcome while stopping: still VERIFY", INTENT, NH_OPL_EV_UNKNOWN, .stopping = true,
     .act = NH_OPL_DO_WAIT, .next = {.state = NH_OP_VERIFY, .verify_until = NOW + WINDOW},
     .journal = true, .journal_state = NH_OP_VERIFY},
    {"unknown outcome after a throttle: VERIFY, resend forgotten", THROTTLED(2), NH_OPL_EV_UNKNOWN,
     .act = NH_OPL_DO_WAIT,
     .next =
         {.state = NH_OP_VERIFY, .verify_until = NOW + WINDOW, .resend_at = NOW, .throttles = 2},
     .journal = true, .journal_state = NH_OP_VERIFY},
    {"not sent (fence refused) while leading: failed with backoff", INTENT, NH_OPL_EV_NOT_SENT,
     CLOSE_AS(NH_OP_FAILED), .next = ENDED(NH_OP_FAILED), .why = NH_OPL_WHY_NOT_SENT,
     .backoff = true},
    {"not sent, stopping: no backoff", INTENT, NH_OPL_EV_NOT_SENT, .stopping = true,
     CLOSE_AS(NH_OP_FAILED), .next = ENDED(NH_OP_FAILED), .why = NH_OPL_WHY_NOT_SENT},
    {"not sent, cluster removed: no backoff", INTENT, NH_OPL_EV_NOT_SENT, .removed = true,
     CLOSE_AS(NH_OP_FAILED), .next = ENDED(NH_OP_FAILED), .why = NH_OPL_WHY_NOT_SENT},
    {"not sent, leadership lost: forgotten", INTENT, NH_OPL_EV_NOT_SENT, .not_leader = true,
     .act = NH_OPL_DO_FORGET, .same = true, .why = NH_OPL_WHY_NOT_LEADER},
    {"call error: failed with backoff", INTENT, NH_OPL_EV_CALL_ERROR, CLOSE_AS(NH_OP_FAILED),
     .next = ENDED(NH_OP_FAILED), .why = NH_OPL_WHY_CALL_ERROR, .backoff = true},
    {"busy: refused, no backoff, cluster held a poll interval", INTENT, NH_OPL_EV_BUSY,
     CLOSE_AS(NH_OP_FAILED), .next = ENDED(NH_OP_FAILED), .why = NH_OPL_WHY_BUSY,
     .hold_ms = POLL_IV},
    {"refused: failed with backoff", INTENT, NH_OPL_EV_REFUSED, CLOSE_AS(NH_OP_FAILED),
     .next = ENDED(NH_OP_FAILED), .why = NH_OPL_WHY_REFUSED, .backoff = true},
    {"throttled once: INTENT, again in 0.5-1 s", INTENT, NH_OPL_EV_THROTTLED, .rnd = 0,
     .act = NH_OPL_DO_WAIT, .next = {.state = NH_OP_INTENT, .resend_at = NOW + 500, .throttles = 1},
     .wait_ms = 500},
    {"throttled a third time: 2-4 s (top of the range)", THROTTLED(2), NH_OPL_EV_THROTTLED,
     .rnd = 2000, .act = NH_OPL_DO_WAIT,
     .next = {.state = NH_OP_INTENT, .resend_at = NOW + 4000, .throttles = 3}, .wait_ms = 4000},
    {"throttled with a longer hint: the hint", INTENT, NH_OPL_EV_THROTTLED, .retry_after = 20000,
     .act = NH_OPL_DO_WAIT,
     .next = {.state = NH_OP_INTENT, .resend_at = NOW + 20000, .throttles = 1}, .wait_ms = 20000},
    {"throttled with a huge hint: 10 min at most", INTENT, NH_OPL_EV_THROTTLED,
     .retry_after = 1000000000, .act = NH_OPL_DO_WAIT,
     .next = {.state = NH_OP_INTENT, .resend_at = NOW + 600000, .throttles = 1}, .wait_ms = 600000},
    {"throttled a fifth time: refused", THROTTLED(4), NH_OPL_EV_THROTTLED, CLOSE_AS(NH_OP_FAILED),
     .next = {.state = NH_OP_FAILED, .throttles = 4}, .why = NH_OPL_WHY_REFUSED, .backoff = true},
    {"throttled, stopping: refused", INTENT, NH_OPL_EV_THROTTLED, .stopping = true,
     CLOSE_AS(NH_OP_FAILED), .next = ENDED(NH_OP_FAILED), .why = NH_OPL_WHY_REFUSED,
     .backoff = true},
    {"throttled, removed: refused", INTENT, NH_OPL_EV_THROTTLED, .removed = true,
     CLOSE_AS(NH_OP_FAILED), .next = ENDED(NH_OP_FAILED), .why = NH_OPL_WHY_REFUSED,
     .backoff = true},
    {"throttled, leadership lost: refused", INTENT, NH_OPL_EV_THROTTLED, .not_leader = true,
     CLOSE_AS(NH_OP_FAILED), .next = ENDED(NH_OP_FAILED), .why = NH_OPL_WHY_REFUSED,
     .backoff = true},
    {"a late unknown answer in VERIFY: nothing", VERIFY, NH_OPL_EV_UNKNOWN,
     .act = NH_OPL_DO_NOTHING, .same = true},
    {"a late throttle in VERIFY: nothing (never sent again)", VERIFY, NH_OPL_EV_THROTTLED,
     .act = NH_OPL_DO_NOTHING, .same = true},
    {"a late sent-ok in SENT: nothing", SENT, NH_OPL_EV_SENT_OK, .act = NH_OPL_DO_NOTHING,
     .same = true},

    /* ---- following the job (SENT) ---- */
    {"job running: polled again after a job interval, failures reset",
     {.state = NH_OP_SENT, .job_kind = NH_JOB_CCE_JOB, .deadline = NOW + 1, .poll_failures = 3},
     NH_OPL_EV_JOB_RUNNING,
     .act = NH_OPL_DO_WAIT,
     .next = {.state = NH_OP_SENT,
              .job_kind = NH_JOB_CCE_JOB,
              .deadline = NOW + 1,
              .next_poll = NOW + JOB_POLL,
              .polls = 1}},
    {"job running a 4th time: twice the job interval",
     {.state = NH_OP_SENT, .job_kind = NH_JOB_CCE_JOB, .deadline = NOW + 1, .polls = 3},
     NH_OPL_EV_JOB_RUNNING,
     .act = NH_OPL_DO_WAIT,
     .next = {.state = NH_OP_SENT,
              .job_kind = NH_JOB_CCE_JOB,
              .deadline = NOW + 1,
              .next_poll = NOW + 2 * JOB_POLL,
              .polls = 4}},
    {"job running long: 8 job intervals at most",
     {.state = NH_OP_SENT, .job_kind = NH_JOB_CCE_JOB, .deadline = NOW + 1, .polls = 30},
     NH_OPL_EV_JOB_RUNNING,
     .act = NH_OPL_DO_WAIT,
     .next = {.state = NH_OP_SENT,
              .job_kind = NH_JOB_CCE_JOB,
              .deadline = NOW + 1,
              .next_poll = NOW + 8 * JOB_POLL,
              .polls = 31}},
    {"job running long, short poll interval: the poll interval",
     {.state = NH_OP_SENT, .job_kind = NH_JOB_CCE_JOB, .deadline = NOW + 1, .polls = 30},
     NH_OPL_EV_JOB_RUNNING,
     .poll_iv = 5000,
     .act = NH_OPL_DO_WAIT,
     .next = {.state = NH_OP_SENT,
              .job_kind = NH_JOB_CCE_JOB,
              .deadline = NOW + 1,
              .next_poll = NOW + 5000,
              .polls = 31}},
    {"job succeeded: DONE", SENT, NH_OPL_EV_JOB_SUCCEEDED, CLOSE_AS(NH_OP_DONE),
     .next =
         {.state = NH_OP_DONE, .job_kind = NH_JOB_CCE_JOB, .deadline = NOW + 1, .next_poll = NOW},
     .why = NH_OPL_WHY_JOB_SUCCEEDED, .backoff = true},
    {"job failed: FAILED with backoff", SENT, NH_OPL_EV_JOB_FAILED, CLOSE_AS(NH_OP_FAILED),
     .next =
         {.state = NH_OP_FAILED, .job_kind = NH_JOB_CCE_JOB, .deadline = NOW + 1, .next_poll = NOW},
     .why = NH_OPL_WHY_JOB_FAILED, .backoff = true},
    {"poll error: polled again after 2 job intervals", SENT, NH_OPL_EV_POLL_ERROR,
     .act = NH_OPL_DO_WAIT,
     .next = {.state = NH_OP_SENT,
              .job_kind = NH_JOB_CCE_JOB,
              .deadline = NOW + 1,
              .next_poll = NOW + 2 * JOB_POLL,
              .poll_failures = 1}},
    {"poll error, 10th: 64 job intervals at most",
     {.state = NH_OP_SENT, .job_kind = NH_JOB_CCE_JOB, .deadline = NOW + 1, .poll_failures = 9},
     NH_OPL_EV_POLL_ERROR,
     .act = NH_OPL_DO_WAIT,
     .next = {.state = NH_OP_SENT,
              .job_kind = NH_JOB_CCE_JOB,
              .deadline = NOW + 1,
              .next_poll = NOW + 64 * JOB_POLL,
              .poll_failures = 10}},
    {"poll not started: again after a job interval", SENT, NH_OPL_EV_POLL_CALL_ERROR,
     .act = NH_OPL_DO_WAIT,
     .next = {.state = NH_OP_SENT,
              .job_kind = NH_JOB_CCE_JOB,
              .deadline = NOW + 1,
              .next_poll = NOW + JOB_POLL}},
    {"job answer for a removed cluster: nothing", SENT, NH_OPL_EV_JOB_SUCCEEDED, .removed = true,
     .act = NH_OPL_DO_NOTHING, .same = true},
    {"job answer for a retiring cluster: followed", SENT, NH_OPL_EV_JOB_SUCCEEDED, .removed = true,
     .retiring = true, CLOSE_AS(NH_OP_DONE),
     .next =
         {.state = NH_OP_DONE, .job_kind = NH_JOB_CCE_JOB, .deadline = NOW + 1, .next_poll = NOW},
     .why = NH_OPL_WHY_JOB_SUCCEEDED, .backoff = true},
    {"job answer in VERIFY: nothing", VERIFY, NH_OPL_EV_JOB_SUCCEEDED, .act = NH_OPL_DO_NOTHING,
     .same = true},

    /* ---- the clock ---- */
    {"tick, throttled and due: sent again (gates passed)", THROTTLED(1), NH_OPL_EV_TICK,
     .act = NH_OPL_DO_SEND, .next = {.state = NH_OP_INTENT, .throttles = 1}},
    {"tick, throttled, not due: nothing", THROTTLED(1), NH_OPL_EV_TICK, .now = NOW - 1,
     .act = NH_OPL_DO_NOTHING, .same = true},
    {"tick, throttled and due, stopping: nothing (dropped by the stop)", THROTTLED(1),
     NH_OPL_EV_TICK, .stopping = true, .act = NH_OPL_DO_NOTHING, .same = true},
    {"tick, throttled and due, held: closed unsent", THROTTLED(1), NH_OPL_EV_TICK, .held = true,
     CLOSE_AS(NH_OP_FAILED), .next = {.state = NH_OP_FAILED, .throttles = 1},
     .why = NH_OPL_WHY_HELD},
    {"tick, throttled and due, leadership lost: forgotten", THROTTLED(1), NH_OPL_EV_TICK,
     .not_leader = true, .act = NH_OPL_DO_FORGET, .next = {.state = NH_OP_INTENT, .throttles = 1},
     .why = NH_OPL_WHY_NOT_LEADER},
    {"tick, INTENT being journalled or sent: nothing", INTENT, NH_OPL_EV_TICK,
     .act = NH_OPL_DO_NOTHING, .same = true},
    {"tick past the job deadline: TIMED_OUT with backoff", SENT, NH_OPL_EV_TICK, .now = NOW + 1,
     CLOSE_AS(NH_OP_TIMED_OUT),
     .next = {.state = NH_OP_TIMED_OUT,
              .job_kind = NH_JOB_CCE_JOB,
              .deadline = NOW + 1,
              .next_poll = NOW},
     .why = NH_OPL_WHY_JOB_TIMEOUT, .backoff = true},
    {"tick past the job deadline while stopping: TIMED_OUT", SENT, NH_OPL_EV_TICK, .now = NOW + 1,
     .stopping = true, CLOSE_AS(NH_OP_TIMED_OUT),
     .next = {.state = NH_OP_TIMED_OUT,
              .job_kind = NH_JOB_CCE_JOB,
              .deadline = NOW + 1,
              .next_poll = NOW},
     .why = NH_OPL_WHY_JOB_TIMEOUT, .backoff = true},
    {"tick, poll due: poll", SENT, NH_OPL_EV_TICK, .act = NH_OPL_DO_POLL, .same = true},
    {"tick, poll not due: nothing", SENT, NH_OPL_EV_TICK, .now = NOW - 1, .act = NH_OPL_DO_NOTHING,
     .same = true},
    {"tick, poll due, stopping: nothing", SENT, NH_OPL_EV_TICK, .stopping = true,
     .act = NH_OPL_DO_NOTHING, .same = true},
    {"tick, poll due, no provider: nothing", SENT, NH_OPL_EV_TICK, .no_provider = true,
     .act = NH_OPL_DO_NOTHING, .same = true},
    {"tick in VERIFY, window over: nothing (observations decide)", VERIFY, NH_OPL_EV_TICK,
     .now = NOW + 10, .act = NH_OPL_DO_NOTHING, .same = true},

    /* ---- observations (VERIFY) ---- */
    {"effect seen, nothing to follow: DONE", VERIFY, NH_OPL_EV_EFFECT_SEEN, .kind = NH_JOB_NONE,
     CLOSE_AS(NH_OP_DONE), .next = {.state = NH_OP_DONE, .verify_until = NOW + 1},
     .why = NH_OPL_WHY_EFFECT_SEEN, .backoff = true},
    {"effect seen, pool resizing: SENT, followed now", VERIFY, NH_OPL_EV_EFFECT_SEEN,
     .kind = NH_JOB_POOL_SIZE, .act = NH_OPL_DO_WAIT,
     .next = {.state = NH_OP_SENT,
              .job_kind = NH_JOB_POOL_SIZE,
              .verify_until = NOW + 1,
              .next_poll = NOW,
              .deadline = NOW + JOB_TIMEOUT},
     .journal = true, .journal_state = NH_OP_SENT},
    {"effect seen, a deadline already set: kept",
     {.state = NH_OP_VERIFY, .verify_until = NOW + 1, .deadline = NOW + 5},
     NH_OPL_EV_EFFECT_SEEN,
     .kind = NH_JOB_NODES_GONE,
     .act = NH_OPL_DO_WAIT,
     .next = {.state = NH_OP_SENT,
              .job_kind = NH_JOB_NODES_GONE,
              .verify_until = NOW + 1,
              .next_poll = NOW,
              .deadline = NOW + 5},
     .journal = true,
     .journal_state = NH_OP_SENT},
    {"no effect, window open: nothing", VERIFY, NH_OPL_EV_NO_EFFECT, .act = NH_OPL_DO_NOTHING,
     .same = true},
    {"no effect, window over: FAILED without backoff", VERIFY, NH_OPL_EV_NO_EFFECT, .now = NOW + 1,
     CLOSE_AS(NH_OP_FAILED), .next = {.state = NH_OP_FAILED, .verify_until = NOW + 1},
     .why = NH_OPL_WHY_NO_EFFECT},
    {"no effect, window over, stopping: FAILED without backoff", VERIFY, NH_OPL_EV_NO_EFFECT,
     .now = NOW + 1, .stopping = true, CLOSE_AS(NH_OP_FAILED),
     .next = {.state = NH_OP_FAILED, .verify_until = NOW + 1}, .why = NH_OPL_WHY_NO_EFFECT},
    {"effect seen in SENT: nothing", SENT, NH_OPL_EV_EFFECT_SEEN, .kind = NH_JOB_NONE,
     .act = NH_OPL_DO_NOTHING, .same = true},

    /* ---- restart / new leader ---- */
    {"resume SENT with a job: followed now",
     {.state = NH_OP_SENT, .job_kind = NH_JOB_ACK_TASK},
     NH_OPL_EV_RESUME,
     .act = NH_OPL_DO_WAIT,
     .next = {.state = NH_OP_SENT,
              .job_kind = NH_JOB_ACK_TASK,
              .next_poll = NOW,
              .deadline = NOW + JOB_TIMEOUT}},
    {"resume SENT without a job: VERIFY",
     {.state = NH_OP_SENT, .job_kind = NH_JOB_NONE},
     NH_OPL_EV_RESUME,
     .act = NH_OPL_DO_WAIT,
     .next = {.state = NH_OP_VERIFY, .verify_until = NOW + WINDOW, .deadline = NOW + JOB_TIMEOUT}},
    {"resume INTENT: VERIFY for the window plus the request timeout, never re-sent", INTENT,
     NH_OPL_EV_RESUME, .act = NH_OPL_DO_WAIT,
     .next = {.state = NH_OP_VERIFY,
              .verify_until = NOW + WINDOW + REQ_TIMEOUT,
              .deadline = NOW + JOB_TIMEOUT}},
    {"resume VERIFY: VERIFY again",
     {.state = NH_OP_VERIFY, .verify_until = 7},
     NH_OPL_EV_RESUME,
     .act = NH_OPL_DO_WAIT,
     .next = {.state = NH_OP_VERIFY, .verify_until = NOW + WINDOW, .deadline = NOW + JOB_TIMEOUT}},
    {"resume a throttled INTENT: VERIFY, resend forgotten", THROTTLED(2), NH_OPL_EV_RESUME,
     .act = NH_OPL_DO_WAIT,
     .next = {.state = NH_OP_VERIFY,
              .verify_until = NOW + WINDOW + REQ_TIMEOUT,
              .deadline = NOW + JOB_TIMEOUT,
              .throttles = 2}},
    {"resume as a follower: still VERIFY (nothing sent)", INTENT, NH_OPL_EV_RESUME,
     .not_leader = true, .act = NH_OPL_DO_WAIT,
     .next = {.state = NH_OP_VERIFY,
              .verify_until = NOW + WINDOW + REQ_TIMEOUT,
              .deadline = NOW + JOB_TIMEOUT}},

    /* ---- dropped (reload, removal, stop) ---- */
    {"drop a throttled INTENT: not sent, no backoff", THROTTLED(1), NH_OPL_EV_DROP,
     CLOSE_AS(NH_OP_FAILED), .next = {.state = NH_OP_FAILED, .throttles = 1},
     .why = NH_OPL_WHY_DROPPED},
    {"drop an INTENT whose call is out: nothing", INTENT, NH_OPL_EV_DROP, .act = NH_OPL_DO_NOTHING,
     .same = true},
    {"drop a SENT: nothing (followed to its end)", SENT, NH_OPL_EV_DROP, .act = NH_OPL_DO_NOTHING,
     .same = true},
    {"drop a VERIFY: nothing", VERIFY, NH_OPL_EV_DROP, .act = NH_OPL_DO_NOTHING, .same = true},

    /* ---- final states ---- */
    {"DONE: nothing happens to it", ENDED(NH_OP_DONE), NH_OPL_EV_RESUME, .act = NH_OPL_DO_NOTHING,
     .same = true},
    {"FAILED: nothing happens to it",
     {.state = NH_OP_FAILED, .resend_at = NOW},
     NH_OPL_EV_TICK,
     .act = NH_OPL_DO_NOTHING,
     .same = true},
    {"TIMED_OUT: nothing happens to it", ENDED(NH_OP_TIMED_OUT), NH_OPL_EV_JOB_SUCCEEDED,
     .act = NH_OPL_DO_NOTHING, .same = true},
};

/* ---------- running a row ---------- */

static struct nh_opl_in row_in(const struct row *r)
{
    return (struct nh_opl_in){
        .ev = r->ev,
        .now = r->now ? r->now : NOW,
        .job_kind = r->kind,
        .retry_after_ms = r->retry_after,
        .rnd = r->rnd,
        .leader = !r->not_leader,
        .stopping = r->stopping,
        .removed = r->removed,
        .retiring = r->retiring,
        .has_provider = !r->no_provider,
        .has_call = !r->no_call,
        .held = r->held,
        .t = {.job_poll = JOB_POLL,
              .job_timeout = JOB_TIMEOUT,
              .poll_interval = r->poll_iv ? r->poll_iv : POLL_IV,
              .request_timeout = REQ_TIMEOUT},
    };
}

static bool opl_eq(const struct nh_opl *a, const struct nh_opl *b)
{
    return a->state == b->state && a->job_kind == b->job_kind && a->resend_at == b->resend_at &&
           a->deadline == b->deadline && a->verify_until == b->verify_until &&
           a->next_poll == b->next_poll && a->throttles == b->throttles && a->polls == b->polls &&
           a->poll_failures == b->poll_failures;
}

static void opl_print(const char *what, const struct nh_opl *s)
{
    print_message("  %s: %s job=%s resend_at=%llu deadline=%llu verify_until=%llu next_poll=%llu "
                  "throttles=%u polls=%u poll_failures=%u\n",
                  what, nh_op_state_name(s->state), nh_job_kind_name(s->job_kind),
                  (unsigned long long)s->resend_at, (unsigned long long)s->deadline,
                  (unsigned long long)s->verify_until, (unsigned long long)s->next_poll,
                  s->throttles, s->polls, s->poll_failures);
}

static void test_rows(void **state)
{
    (void)state;
    int bad = 0;

    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        const struct row *r = &rows[i];
        struct nh_opl_in in = row_in(r);
        struct nh_opl_out o = nh_opl_step(&r->s, &in);
        const struct nh_opl *want = r->same ? &r->s : &r->next;
        bool ok = o.act == r->act && opl_eq(&o.next, want) && o.why == r->why &&
                  o.backoff == r->backoff && o.journal == r->journal &&
                  (!o.journal || o.journal_state == r->journal_state) && o.wait_ms == r->wait_ms &&
                  o.cluster_hold_ms == r->hold_ms;
        if (!ok) {
            bad++;
            print_message("row %zu \"%s\": got %s why=%s backoff=%d journal=%d(%s) wait=%llu "
                          "hold=%llu; want %s why=%s backoff=%d journal=%d(%s) wait=%llu "
                          "hold=%llu\n",
                          i, r->name, nh_opl_do_name(o.act), nh_opl_why_name(o.why), o.backoff,
                          o.journal, nh_op_state_name(o.journal_state),
                          (unsigned long long)o.wait_ms, (unsigned long long)o.cluster_hold_ms,
                          nh_opl_do_name(r->act), nh_opl_why_name(r->why), r->backoff, r->journal,
                          nh_op_state_name(r->journal_state), (unsigned long long)r->wait_ms,
                          (unsigned long long)r->hold_ms);
            opl_print("got ", &o.next);
            opl_print("want", want);
        }
    }
    assert_int_equal(bad, 0);
}

/* Every event has at least one row, and every way of closing too. */
static void test_rows_cover_every_event_and_why(void **state)
{
    (void)state;
    bool ev_seen[NH_OPL_EV_COUNT] = {0};
    bool why_seen[NH_OPL_WHY_NOT_LEADER + 1] = {0};

    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        ev_seen[rows[i].ev] = true;
        why_seen[rows[i].why] = true;
    }
    for (int e = 0; e < NH_OPL_EV_COUNT; e++) {
        if (!ev_seen[e])
            print_message("no row for event %s\n", nh_opl_ev_name((enum nh_opl_ev)e));
        assert_true(ev_seen[e]);
    }
    for (int w = 0; w <= NH_OPL_WHY_NOT_LEADER; w++) {
        if (!why_seen[w])
            print_message("no row for why %s\n", nh_opl_why_name((enum nh_opl_why)w));
        assert_true(why_seen[w]);
    }
}

/* ---------- properties over every state, event and world ---------- */

static const uint64_t times[] = {0, NOW - 1, NOW, NOW + 1};

/* Calls fn for every state (each op state, timers in times[], resend or
 * not, a job or none, throttle counts), every event and every world. */
static void for_all(void (*fn)(const struct nh_opl *, const struct nh_opl_in *,
                               const struct nh_opl_out *, void *),
                    void *ud)
{
    static const enum nh_job_kind kinds[] = {NH_JOB_NONE, NH_JOB_CCE_JOB};
    static const unsigned throttles[] = {0, 4};
    static const uint64_t deadlines[] = {0, NOW, NOW + 1};

    for (int st = NH_OP_INTENT; st <= NH_OP_TIMED_OUT; st++)
        for (size_t k = 0; k < 2; k++)
            for (size_t ra = 0; ra < 2; ra++)
                for (size_t dl = 0; dl < 3; dl++)
                    for (size_t vu = 2; vu < 4; vu++)
                        for (size_t np = 2; np < 4; np++)
                            for (size_t th = 0; th < 2; th++)
                                for (int ev = 0; ev < NH_OPL_EV_COUNT; ev++)
                                    for (unsigned w = 0; w < 256; w++) {
                                        struct nh_opl s = {
                                            .state = (enum nh_op_state)st,
                                            .job_kind = kinds[k],
                                            .resend_at = ra ? NOW : 0,
                                            .deadline = deadlines[dl],
                                            .verify_until = times[vu],
                                            .next_poll = times[np],
                                            .throttles = throttles[th],
                                        };
                                        struct row r = {
                                            .ev = (enum nh_opl_ev)ev,
                                            .kind = (w & 128) ? NH_JOB_POOL_GONE : NH_JOB_NONE,
                                            .not_leader = w & 1,
                                            .stopping = w & 2,
                                            .removed = w & 4,
                                            .retiring = (w & 4) && (w & 8),
                                            .no_provider = w & 16,
                                            .no_call = w & 32,
                                            .held = w & 64,
                                            .retry_after = w & 8 ? 5000 : 0,
                                            .rnd = w * 7919u,
                                        };
                                        struct nh_opl_in in = row_in(&r);
                                        struct nh_opl_out o = nh_opl_step(&s, &in);
                                        fn(&s, &in, &o, ud);
                                    }
}

/* The safety core. Sending happens only from INTENT, and nothing leads
 * back to INTENT from another state: so once an operation has had an
 * unknown outcome (VERIFY), been accepted (SENT), been resumed after a
 * restart (VERIFY or SENT) or ended, no step ever sends it again. */
static void prop_never_resent(const struct nh_opl *s, const struct nh_opl_in *in,
                              const struct nh_opl_out *o, void *ud)
{
    size_t *n = ud;
    (*n)++;
    if (s->state != NH_OP_INTENT) {
        if (o->act == NH_OPL_DO_SEND || o->next.state == NH_OP_INTENT)
            fail_msg("%s + %s -> %s %s: left INTENT, yet back to a send",
                     nh_op_state_name(s->state), nh_opl_ev_name(in->ev), nh_opl_do_name(o->act),
                     nh_op_state_name(o->next.state));
    }
    /* An unknown outcome and a restart never send and never stay INTENT. */
    if (in->ev == NH_OPL_EV_UNKNOWN || in->ev == NH_OPL_EV_RESUME) {
        assert_int_not_equal(o->act, NH_OPL_DO_SEND);
        assert_int_not_equal(o->next.state, NH_OP_INTENT);
        if (s->state == NH_OP_INTENT)
            assert_int_equal(o->next.state, NH_OP_VERIFY);
    }
    /* SENT_OK with nothing to follow, and every unknown, lands in VERIFY
     * (or is not an answer to a call out: nothing). */
    if (in->ev == NH_OPL_EV_UNKNOWN && s->state != NH_OP_INTENT)
        assert_int_equal(o->act, NH_OPL_DO_NOTHING);
}

/* A send passes every gate. */
static void prop_send_gated(const struct nh_opl *s, const struct nh_opl_in *in,
                            const struct nh_opl_out *o, void *ud)
{
    (void)ud;
    if (o->act != NH_OPL_DO_SEND)
        return;
    assert_int_equal(s->state, NH_OP_INTENT);
    assert_true(in->ev == NH_OPL_EV_JOURNALLED || in->ev == NH_OPL_EV_TICK);
    assert_true(in->leader && !in->stopping && !in->removed && in->has_provider && in->has_call &&
                !in->held);
    assert_int_equal(o->next.resend_at, 0);
    if (in->ev == NH_OPL_EV_TICK)
        assert_true(s->resend_at != 0 && in->now >= s->resend_at);
}

/* Closes end in a final state, journalled (except an INTENT the journal
 * never had); everything else stays open; nothing changes on NOTHING. */
static void prop_shapes(const struct nh_opl *s, const struct nh_opl_in *in,
                        const struct nh_opl_out *o, void *ud)
{
    (void)ud;
    (void)in;
    switch (o->act) {
    case NH_OPL_DO_CLOSE:
        assert_true(nh_op_state_final(o->next.state));
        assert_true(o->journal == (o->why != NH_OPL_WHY_JOURNAL));
        assert_int_equal(o->journal_state, o->next.state);
        assert_int_not_equal(o->why, NH_OPL_WHY_NONE);
        /* a call the cloud never saw, or whose effect never showed, is
         * not a failure of the cloud: no backoff */
        if (o->why == NH_OPL_WHY_HELD || o->why == NH_OPL_WHY_NO_EFFECT ||
            o->why == NH_OPL_WHY_DROPPED || o->why == NH_OPL_WHY_BUSY ||
            o->why == NH_OPL_WHY_STOPPING || o->why == NH_OPL_WHY_NOT_DECLARED)
            assert_false(o->backoff);
        break;
    case NH_OPL_DO_NOTHING:
        assert_true(opl_eq(&o->next, s));
        assert_false(o->journal);
        break;
    case NH_OPL_DO_FORGET:
        assert_false(o->journal);
        assert_int_equal(o->next.state, NH_OP_INTENT);
        break;
    default:
        assert_false(nh_op_state_final(o->next.state));
        break;
    }
    if (nh_op_state_final(s->state))
        assert_int_equal(o->act, NH_OPL_DO_NOTHING);
    /* a VERIFY ends by observation only */
    if (s->state == NH_OP_VERIFY && o->act != NH_OPL_DO_NOTHING)
        assert_true(in->ev == NH_OPL_EV_EFFECT_SEEN || in->ev == NH_OPL_EV_NO_EFFECT ||
                    in->ev == NH_OPL_EV_RESUME);
}

/* Same input, same output. */
static void prop_deterministic(const struct nh_opl *s, const struct nh_opl_in *in,
                               const struct nh_opl_out *o, void *ud)
{
    (void)ud;
    struct nh_opl_out again = nh_opl_step(s, in);
    assert_int_equal(again.act, o->act);
    assert_true(opl_eq(&again.next, &o->next));
    assert_int_equal(again.why, o->why);
    assert_int_equal(again.backoff, o->backoff);
    assert_int_equal(again.wait_ms, o->wait_ms);
}

static void prop_all(const struct nh_opl *s, const struct nh_opl_in *in, const struct nh_opl_out *o,
                     void *ud)
{
    prop_never_resent(s, in, o, ud);
    prop_send_gated(s, in, o, NULL);
    prop_shapes(s, in, o, NULL);
    static unsigned k;
    if (++k % 7 == 0) /* a sample (7: prime to every loop's length) is enough */
        prop_deterministic(s, in, o, NULL);
}

/* All properties in one pass over every state, event and world. */
static void test_properties(void **state)
{
    (void)state;
    size_t n = 0;
    for_all(prop_all, &n);
    assert_true(n > 1000000);
}

/* Throttle waits stay in [half, 2 half] of the growing base, or the hint,
 * and never past 10 min, whatever the random number. */
static void test_throttle_wait_range(void **state)
{
    (void)state;
    for (unsigned th = 0; th + 1 < NH_OPL_MAX_THROTTLES; th++)
        for (uint64_t rnd = 0; rnd < 20000; rnd += 37) {
            struct nh_opl s = {.state = NH_OP_INTENT, .throttles = th};
            struct row r = {.ev = NH_OPL_EV_THROTTLED, .rnd = rnd * 2654435761u};
            struct nh_opl_in in = row_in(&r);
            struct nh_opl_out o = nh_opl_step(&s, &in);
            uint64_t half = 500ULL << th;
            assert_int_equal(o.act, NH_OPL_DO_WAIT);
            assert_true(o.wait_ms >= half && o.wait_ms <= 2 * half);
            assert_int_equal(o.next.resend_at, NOW + o.wait_ms);
        }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rows),
        cmocka_unit_test(test_rows_cover_every_event_and_why),
        cmocka_unit_test(test_properties),
        cmocka_unit_test(test_throttle_wait_range),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
