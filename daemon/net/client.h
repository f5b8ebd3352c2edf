/* client.h - one provider's way to the network: a token-bucket rate limiter
 * shared by all of the provider's clusters, a FIFO queue in which mutating
 * calls are not starved by polls, retries with capped exponential backoff and
 * full jitter, and AIMD slow-down on throttling.
 *
 * The provider supplies three callbacks per call:
 *  - build:    fills one attempt's request, signing it anew (new date and
 *              nonce); called before every attempt.
 *  - classify: turns a complete HTTP answer into a verdict (cloud-specific
 *              codes live in the provider). Transport outcomes are
 *              classified here, by the general rules:
 *                NOT_SENT                          -> retry
 *                TIMEOUT/RESET/CANCELLED, GET      -> retry
 *                TIMEOUT/RESET, request sent, mutating -> UNKNOWN (never resent)
 *                TOO_BIG, ERROR                    -> FINAL
 *  - done:     called exactly once with the final answer and verdict.
 * A mutating call whose verdict is UNKNOWN is never re-sent: the caller must
 * re-read state. THROTTLED reads are resent (the cloud rejected them before
 * execution), after max(hint, backoff). A THROTTLED mutating call is not:
 * it ends at once (done() with NH_V_THROTTLED and call->retry_after_ms) and
 * goes back to its owner, which decides whether and when to send it again
 * (and fences it again: see the gate). Either way every call of the client
 * waits out the hold.
 *
 * The gate (HA fencing at hand-off): with nh_client_set_gate, each attempt
 * of a mutating call - the first and every retry - is handed to the HTTP
 * layer only when the gate says yes, from the gate's answer itself, with
 * nothing in between; a "no" ends the call NH_V_CANCELLED with
 * resp->request_sent false (it never left). nh_client_cancel_mutations
 * ends every mutating call not handed to the HTTP layer yet the same way.
 *
 * Mutating calls always go out on a fresh connection that is not reused
 * (nh_http_req.fresh_connection is forced), so libcurl cannot resend them.
 * done() gets RETRY or THROTTLED when max_attempts were used up (a transient
 * failure: try again later), and CANCELLED when the client or the HTTP layer
 * shut down (resp->request_sent then tells whether a mutation may have
 * reached the server). Every attempt's answer captures "retry-after" and
 * "x-acs-retry-after" in addition to the headers build() asked for; when
 * classify() leaves *hint_ms at 0 on THROTTLED, those headers are used. */
#ifndef NH_CLIENT_H
#define NH_CLIENT_H

#include <stdbool.h>
#include <stdint.h>

#include "net/http.h"

enum nh_verdict {
    NH_V_OK,        /* success */
    NH_V_RETRY,     /* transient: resend after backoff (GETs; NOT_SENT for any) */
    NH_V_THROTTLED, /* back off, slow the bucket, resend */
    NH_V_FINAL,     /* do not retry */
    NH_V_UNKNOWN,   /* a mutating call's outcome is unknown: re-read, never resend */
    NH_V_CANCELLED, /* client shut down before an answer */
};
const char *nh_verdict_name(enum nh_verdict v);

/* The general rule for a status code, before cloud-specific codes:
 * 2xx OK; 429 THROTTLED; 500/502/503/504 RETRY for GET, UNKNOWN when
 * mutating; other statuses FINAL. */
enum nh_verdict nh_verdict_for_status(int status, bool mutating);

struct nh_call;

struct nh_call_ops {
    /* Fill *req for one attempt. Strings must stay valid until the next
     * build or done (keep them in the call's own storage). 0 or -errno
     * (the call then ends FINAL with outcome NH_HTTP_ERROR). */
    int (*build)(struct nh_call *call, struct nh_http_req *req);
    /* Only for outcome NH_HTTP_OK. May set *hint_ms (server's retry hint). */
    enum nh_verdict (*classify)(struct nh_call *call, const struct nh_http_resp *resp,
                                uint64_t *hint_ms);
    /* Exactly once. resp is borrowed (valid during the callback). */
    void (*done)(struct nh_call *call, const struct nh_http_resp *resp, enum nh_verdict v);
};

/* Embedded by the caller (e.g. in its own request context); the client keeps
 * a pointer until done() has run. */
struct nh_call {
    const struct nh_call_ops *ops;
    void *ud;
    bool mutating;
    const char *op_name;   /* for metrics/logs, e.g. "DescribeClusterNodes" */
    unsigned max_attempts; /* 0: client default */
    /* managed by the client */
    uint64_t retry_after_ms; /* NH_V_THROTTLED: the server's hint (0: none), capped */
    unsigned attempt;
    uint64_t queued_at;
    struct nh_call *next;
    void *priv;
};

struct nh_client_opts {
    double qps;               /* tokens per second; default 2 */
    unsigned burst;           /* bucket size; default 4 */
    unsigned max_attempts;    /* default 5 */
    uint64_t backoff_base_ms; /* default 1000 */
    uint64_t backoff_max_ms;  /* default 60000 */
    uint64_t hint_max_ms;     /* cap on server hints; default 600000 */
    const char *name;         /* provider name for logs/metrics */
    size_t max_queue;         /* queued + waiting calls; default 10000; beyond: -ENOBUFS */
    uint64_t seed;            /* jitter PRNG seed; 0: from the clock */
    /* Reads in flight at once; default 64. More wait in their queue without
     * taking a token: memory stays bounded when a whole fleet polls at once
     * (issue #21: 1,700 transfers at a start burst, 11 MB of libcurl state).
     * Mutating calls are never held by it. */
    size_t max_reads_in_flight;
};

struct nh_client;

/* Observer for metrics: called after every attempt's answer (also attempts
 * that could not be submitted), never after nh_client_free. May be NULL. */
typedef void (*nh_client_observer_fn)(void *ud, const struct nh_call *call,
                                      const struct nh_http_resp *resp, enum nh_verdict v,
                                      uint64_t waited_ms);

int nh_client_new(uv_loop_t *loop, struct nh_http *http, const struct nh_client_opts *opts,
                  struct nh_client **ret);
void nh_client_set_observer(struct nh_client *c, nh_client_observer_fn fn, void *ud);
/* Replaces the jitter source (tests): fn returns a uniform 64-bit number.
 * NULL restores the built-in seeded PRNG. */
void nh_client_set_random(struct nh_client *c, uint64_t (*fn)(void *ud), void *ud);
/* Queues a call; build() and done() run later from the loop, never inside
 * this function. 0, or a negative errno (done() then never runs):
 * -EINVAL (no ops/build/done), -ESHUTDOWN (client freed), -ENOBUFS (queue
 * full), -ENOMEM. */
int nh_client_submit(struct nh_client *c, struct nh_call *call);
/* Ends every queued and in-flight call with NH_V_CANCELLED (done() runs
 * before this returns for queued ones; for in-flight ones on a later loop
 * iteration), stops timers, frees after close: run the loop afterwards.
 * Must be called before nh_http_close's handles are gone, or after
 * nh_http_close (then nothing is in flight). NULL ok. */
void nh_client_free(struct nh_client *c);
/* The gate (see the top of this file): fn(ud, cb, arg) must call cb(arg, ok)
 * exactly once, later or before it returns; ok true lets the attempt go at
 * once. Same shape as engine.h's nh_fence_fn. NULL: no gate. */
typedef void (*nh_client_gate_fn)(void *ud, void (*cb)(void *arg, bool ok), void *arg);
void nh_client_set_gate(struct nh_client *c, nh_client_gate_fn fn, void *ud);
/* Ends every mutating call that is queued, waiting for a retry or at the
 * gate - none of them was handed to the HTTP layer - with NH_V_CANCELLED
 * and resp->request_sent false (done() runs before this returns). Calls in
 * flight are left alone: they may have reached the server. Returns how many
 * were ended. NULL ok. */
size_t nh_client_cancel_mutations(struct nh_client *c);
/* Calls waiting for a token, for their retry time or at the gate (not in flight). */
size_t nh_client_queued(const struct nh_client *c);
size_t nh_client_in_flight(const struct nh_client *c);
/* Current effective rate (after AIMD), for metrics. */
double nh_client_rate(const struct nh_client *c);

#endif
