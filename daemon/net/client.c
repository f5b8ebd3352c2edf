/* client.c - one provider's way to the network: token bucket, two FIFO
 * queues (mutating calls first), retries with full-jitter backoff, AIMD on
 * throttling. The arithmetic lives in ratelimit.c; this file only schedules.
 *
 * A call is in exactly one place at a time: a class queue (waiting for a
 * token), the waiting list (sorted by retry time), at the gate (a mutating
 * call holding a token, waiting for the fence's answer), or in flight (an
 * HTTP transfer). Its bookkeeping lives in call->priv (struct call_state). */
#include "net/client.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "net/ratelimit.h"
#include "util/log.h"
#include "util/rand.h"

#define NH_CLIENT_MAX_CAPTURE 32

enum { Q_MUTATING, Q_POLL, Q_COUNT };

struct gate_ticket;

struct call_state {
    struct nh_client *c;
    struct gate_ticket *ticket; /* at the gate */
    struct nh_http_xfer *xfer;
    struct call_state *prev, *next; /* in-flight list */
    struct nh_call *call;
    uint64_t seq;       /* submission order: FIFO within a class */
    uint64_t ready_ms;  /* when it last became ready to go (queue entry) */
    uint64_t due_ms;    /* retry time while waiting */
    uint64_t waited_ms; /* this attempt's wait for a token, for the observer */
    bool unwritten;     /* its token is taken, its request not written yet */
    bool read;          /* in flight and counted in n_reads_inflight */
    const char *capture[NH_CLIENT_MAX_CAPTURE + 3];
};

struct queue {
    struct nh_call *head, *tail;
};

/* One question to the gate. It outlives its call when the call is ended
 * before the answer (call == NULL then); the client outlives every ticket. */
struct gate_ticket {
    struct nh_client *c;
    struct nh_call *call;
    struct gate_ticket *prev, *next;
};

struct nh_client {
    uv_loop_t *loop;
    struct nh_http *http;
    struct nh_client_opts opts;
    char *name;
    struct nh_bucket bucket;
    struct queue q[Q_COUNT];
    struct nh_call *waiting; /* sorted by due_ms, then seq */
    struct call_state *inflight;
    struct gate_ticket *gating;
    size_t n_queued, n_waiting, n_inflight, n_gating, n_tickets;
    size_t n_reads_inflight; /* of n_inflight, the non-mutating ones */
    nh_client_gate_fn gate;
    void *gate_ud;
    uv_timer_t pace;  /* next token */
    uv_timer_t retry; /* next retry due */
    unsigned open_handles;
    bool closing;
    uint64_t seq;
    nh_client_observer_fn observer;
    void *observer_ud;
    uint64_t (*rand_fn)(void *ud);
    void *rand_ud;
    uint64_t rng;
};

const char *nh_verdict_name(enum nh_verdict v)
{
    switch (v) {
    case NH_V_OK:
        return "ok";
    case NH_V_RETRY:
        return "retry";
    case NH_V_THROTTLED:
        return "throttled";
    case NH_V_FINAL:
        return "final";
    case NH_V_UNKNOWN:
        return "unknown";
    case NH_V_CANCELLED:
        return "cancelled";
    }
    return "?";
}

enum nh_verdict nh_verdict_for_status(int status, bool mutating)
{
    if (status >= 200 && status <= 299)
        return NH_V_OK;
    switch (status) {
    case 429:
        return NH_V_THROTTLED;
    case 500:
    case 502:
    case 503:
    case 504:
        /* a 5xx may follow a partial mutation: re-read, never resend */
        return mutating ? NH_V_UNKNOWN : NH_V_RETRY;
    default:
        return NH_V_FINAL;
    }
}

/* The general rules for an attempt that brought no complete answer. */
static enum nh_verdict verdict_for_transport(const struct nh_http_resp *r, bool mutating)
{
    switch (r->outcome) {
    case NH_HTTP_OK:
        return nh_verdict_for_status(r->status, mutating);
    case NH_HTTP_NOT_SENT:
        return NH_V_RETRY;
    case NH_HTTP_TIMEOUT:
    case NH_HTTP_RESET:
    case NH_HTTP_CANCELLED:
        return mutating && r->request_sent ? NH_V_UNKNOWN : NH_V_RETRY;
    case NH_HTTP_TOO_BIG:
    case NH_HTTP_ERROR:
        return NH_V_FINAL;
    }
    return NH_V_FINAL;
}

/* ---- randomness (xorshift64*, seeded) ---- */

static uint64_t builtin_rand(void *ud)
{
    return nh_rand_next(ud);
}

void nh_client_set_random(struct nh_client *c, uint64_t (*fn)(void *ud), void *ud)
{
    if (fn == NULL) {
        c->rand_fn = builtin_rand;
        c->rand_ud = &c->rng;
    } else {
        c->rand_fn = fn;
        c->rand_ud = ud;
    }
}

/* ---- lists ---- */

static struct call_state *cs_of(const struct nh_call *call)
{
    return call->priv;
}

static void queue_insert(struct nh_client *c, struct nh_call *call)
{
    struct queue *q = &c->q[call->mutating ? Q_MUTATING : Q_POLL];
    uint64_t seq = cs_of(call)->seq;
    call->next = NULL;
    if (q->tail == NULL || cs_of(q->tail)->seq < seq) { /* the usual case: append */
        if (q->tail != NULL)
            q->tail->next = call;
        else
            q->head = call;
        q->tail = call;
    } else { /* a retry: back to its place by submission order */
        struct nh_call **pp = &q->head;
        while (*pp != NULL && cs_of(*pp)->seq < seq)
            pp = &(*pp)->next;
        call->next = *pp;
        *pp = call;
    }
    cs_of(call)->ready_ms = uv_now(c->loop);
    c->n_queued++;
}

static struct nh_call *queue_pop(struct nh_client *c)
{
    for (int i = 0; i < Q_COUNT; i++) { /* mutating calls first */
        struct queue *q = &c->q[i];
        struct nh_call *call = q->head;
        if (call == NULL)
            continue;
        q->head = call->next;
        if (q->head == NULL)
            q->tail = NULL;
        call->next = NULL;
        c->n_queued--;
        return call;
    }
    return NULL;
}

static void waiting_insert(struct nh_client *c, struct nh_call *call)
{
    struct nh_call **pp = &c->waiting;
    struct call_state *cs = cs_of(call);
    while (*pp != NULL && (cs_of(*pp)->due_ms < cs->due_ms ||
                           (cs_of(*pp)->due_ms == cs->due_ms && cs_of(*pp)->seq < cs->seq)))
        pp = &(*pp)->next;
    call->next = *pp;
    *pp = call;
    c->n_waiting++;
}

static void inflight_add(struct nh_client *c, struct call_state *cs)
{
    cs->prev = NULL;
    cs->next = c->inflight;
    if (c->inflight != NULL)
        c->inflight->prev = cs;
    c->inflight = cs;
    c->n_inflight++;
    cs->read = !cs->call->mutating;
    if (cs->read)
        c->n_reads_inflight++;
}

static void inflight_remove(struct nh_client *c, struct call_state *cs)
{
    if (cs->prev != NULL)
        cs->prev->next = cs->next;
    else
        c->inflight = cs->next;
    if (cs->next != NULL)
        cs->next->prev = cs->prev;
    cs->prev = cs->next = NULL;
    c->n_inflight--;
    if (cs->read)
        c->n_reads_inflight--;
    cs->read = false;
}

/* ---- lifecycle ---- */

static void client_maybe_free(struct nh_client *c)
{
    if (!c->closing || c->open_handles > 0 || c->n_inflight > 0 || c->n_tickets > 0)
        return;
    free(c->name);
    free(c);
}

static void on_timer_closed(uv_handle_t *hd)
{
    struct nh_client *c = hd->data;
    c->open_handles--;
    client_maybe_free(c);
}

/* The attempt's request was written, or will never be: the bucket stops
 * counting it as unwritten (nh_bucket_track_writes). The loop's cached time
 * may be a whole busy turn old; the write is now. */
static void token_written(struct call_state *cs)
{
    if (cs == NULL || !cs->unwritten)
        return;
    cs->unwritten = false;
    uint64_t now = uv_hrtime() / 1000000; /* uv_now's clock, not cached */
    nh_bucket_written(&cs->c->bucket, now);
}

static void on_wire(void *ud)
{
    struct nh_call *call = ud;
    token_written(cs_of(call));
}

/* Ends the call: its state goes first, then done() (which may free the call,
 * submit, or free the client). */
static void call_finish(struct nh_call *call, const struct nh_http_resp *resp, enum nh_verdict v)
{
    token_written(call->priv);
    free(call->priv);
    call->priv = NULL;
    call->next = NULL;
    call->ops->done(call, resp, v);
}

static void call_finish_local(struct nh_call *call, enum nh_http_outcome o, const char *why,
                              enum nh_verdict v)
{
    struct nh_http_resp resp = {
        .outcome = o,
        .request_sent = false,
        .body = "",
        .error = why,
    };
    call_finish(call, &resp, v);
}

static void pump(struct nh_client *c);

static void on_pace(uv_timer_t *t)
{
    pump(t->data);
}

static void arm_retry_timer(struct nh_client *c);

static void on_retry(uv_timer_t *t)
{
    struct nh_client *c = t->data;
    uint64_t now = uv_now(c->loop);
    while (c->waiting != NULL && cs_of(c->waiting)->due_ms <= now) {
        struct nh_call *call = c->waiting;
        c->waiting = call->next;
        c->n_waiting--;
        queue_insert(c, call);
    }
    arm_retry_timer(c);
    pump(c);
}

static void arm_retry_timer(struct nh_client *c)
{
    if (c->closing || c->waiting == NULL)
        return;
    uint64_t now = uv_now(c->loop), due = cs_of(c->waiting)->due_ms;
    uv_timer_start(&c->retry, on_retry, due > now ? due - now : 0, 0);
}

static void merge_capture(struct call_state *cs, const char *const *asked)
{
    static const char *const hints[] = {"retry-after", "x-acs-retry-after"};
    size_t n = 0;
    for (size_t i = 0; asked != NULL && asked[i] != NULL && n < NH_CLIENT_MAX_CAPTURE; i++)
        cs->capture[n++] = asked[i];
    for (size_t h = 0; h < 2; h++) {
        bool have = false;
        for (size_t i = 0; i < n; i++)
            if (strcasecmp(cs->capture[i], hints[h]) == 0)
                have = true;
        if (!have)
            cs->capture[n++] = hints[h];
    }
    cs->capture[n] = NULL;
}

static void on_attempt_done(void *ud, const struct nh_http_resp *resp);

/* Sends one attempt of a call that holds a token. */
static void send_attempt(struct nh_client *c, struct nh_call *call)
{
    struct call_state *cs = cs_of(call);
    struct nh_http_req req = {0};
    call->attempt++;
    int r = call->ops->build(call, &req);
    if (r < 0 || req.url == NULL) {
        nh_log(LOG_DEBUG, "client %s: %s: build failed (%d)", c->name,
               call->op_name ? call->op_name : "?", r);
        call_finish_local(call, NH_HTTP_ERROR, "the request could not be built", NH_V_FINAL);
        return;
    }
    if (call->mutating)
        req.fresh_connection = true; /* libcurl must never resend it on its own */
    merge_capture(cs, req.capture_headers);
    req.capture_headers = cs->capture;
    if (cs->unwritten)
        req.on_wire = on_wire;
    uint64_t waited = uv_now(c->loop) - cs->ready_ms;
    r = nh_http_submit(c->http, &req, on_attempt_done, call, &cs->xfer);
    if (r < 0) {
        bool down = r == -ESHUTDOWN;
        struct nh_http_resp resp = {
            .outcome = down ? NH_HTTP_CANCELLED : NH_HTTP_ERROR,
            .body = "",
            .error = down ? "the HTTP layer is shutting down" : "the request was refused",
        };
        enum nh_verdict v = down ? NH_V_CANCELLED : NH_V_FINAL;
        if (c->observer != NULL)
            c->observer(c->observer_ud, call, &resp, v, waited);
        call_finish(call, &resp, v);
        return;
    }
    cs->waited_ms = waited;
    inflight_add(c, cs);
}

/* Takes the call off its gate ticket (NULL: the ticket has none left);
 * the ticket stays in the list until the gate answers. */
static struct nh_call *ticket_take(struct nh_client *c, struct gate_ticket *t)
{
    struct nh_call *call = t->call;
    if (call != NULL) {
        t->call = NULL;
        c->n_gating--;
        cs_of(call)->ticket = NULL;
    }
    return call;
}

/* The gate's answer: the attempt goes now, or the call ends unsent. */
static void gate_answer(void *arg, bool ok)
{
    struct gate_ticket *t = arg;
    struct nh_client *c = t->c;
    struct nh_call *call = ticket_take(c, t);

    if (t->prev != NULL)
        t->prev->next = t->next;
    else
        c->gating = t->next;
    if (t->next != NULL)
        t->next->prev = t->prev;
    c->n_tickets--;
    free(t);
    if (call != NULL) {
        if (ok && !c->closing)
            send_attempt(c, call); /* nothing in between: this is the fence's moment */
        else
            call_finish_local(call, NH_HTTP_CANCELLED,
                              c->closing ? "client shut down"
                                         : "not sent: the fence refused (leadership not confirmed)",
                              NH_V_CANCELLED);
    }
    client_maybe_free(c);
}

/* A mutating call with a token asks the gate first (which may answer
 * before this returns). */
static void gate_ask(struct nh_client *c, struct nh_call *call)
{
    struct gate_ticket *t = calloc(1, sizeof(*t));
    if (t == NULL) {
        call_finish_local(call, NH_HTTP_ERROR, "not sent: out of memory", NH_V_FINAL);
        return;
    }
    t->c = c;
    t->call = call;
    t->next = c->gating;
    if (c->gating != NULL)
        c->gating->prev = t;
    c->gating = t;
    c->n_gating++;
    c->n_tickets++;
    cs_of(call)->ticket = t;
    c->gate(c->gate_ud, gate_answer, t);
}

static void pump(struct nh_client *c)
{
    while (!c->closing && c->n_queued > 0) {
        /* Reads past the cap wait, holding no token, for one in flight to
         * end (on_attempt_done pumps again); a mutating call goes first. */
        if (c->q[Q_MUTATING].head == NULL && c->n_reads_inflight >= c->opts.max_reads_in_flight)
            return;
        uint64_t wait = nh_bucket_take(&c->bucket, uv_now(c->loop));
        if (wait > 0) {
            uv_timer_start(&c->pace, on_pace, wait, 0);
            return;
        }
        struct nh_call *call = queue_pop(c);
        cs_of(call)->unwritten = c->bucket.track_writes;
        if (call->mutating && c->gate != NULL)
            gate_ask(c, call); /* may send or end the call at once */
        else
            send_attempt(c, call); /* may end the call, even free c */
    }
}

static uint64_t hint_from_headers(const struct nh_http_resp *resp)
{
    uint64_t h = nh_acs_retry_after_ms(nh_http_resp_header(resp, "x-acs-retry-after"));
    if (h == 0)
        h = nh_retry_after_ms(nh_http_resp_header(resp, "retry-after"), (int64_t)time(NULL));
    return h;
}

static void on_attempt_done(void *ud, const struct nh_http_resp *resp)
{
    struct nh_call *call = ud;
    struct call_state *cs = cs_of(call);
    struct nh_client *c = cs->c;
    uint64_t now = uv_now(c->loop);
    uint64_t waited = cs->waited_ms, hint = 0;
    enum nh_verdict v;

    cs->xfer = NULL;
    inflight_remove(c, cs);
    token_written(cs); /* written (on_wire) or never will be */
    if (resp->outcome == NH_HTTP_CANCELLED && (c->closing || nh_http_is_closing(c->http)))
        v = NH_V_CANCELLED;
    else if (resp->outcome == NH_HTTP_OK && call->ops->classify != NULL)
        v = call->ops->classify(call, resp, &hint);
    else
        v = verdict_for_transport(resp, call->mutating);
    if (v == NH_V_THROTTLED && hint == 0)
        hint = hint_from_headers(resp);
    if (c->observer != NULL && !c->closing) /* its owner may be gone after free */
        c->observer(c->observer_ud, call, resp, v, waited);
    nh_log(LOG_DEBUG, "client %s: %s attempt %u: %s -> %s", c->name,
           call->op_name ? call->op_name : "?", call->attempt, nh_http_outcome_name(resp->outcome),
           nh_verdict_name(v));

    unsigned max_attempts = call->max_attempts ? call->max_attempts : c->opts.max_attempts;
    if (v == NH_V_THROTTLED) {
        uint64_t wait = nh_backoff_ms(call->attempt - 1, c->opts.backoff_base_ms,
                                      c->opts.backoff_max_ms, c->rand_fn(c->rand_ud));
        if (hint > c->opts.hint_max_ms)
            hint = c->opts.hint_max_ms;
        if (hint > wait)
            wait = hint;
        nh_bucket_throttled(&c->bucket, now, wait); /* everyone waits, not just us */
        call->retry_after_ms = hint;
        if (call->mutating) {
            /* Not retried here: back to its owner, to be fenced again. */
            call_finish(call, resp, v);
            if (c->closing) {
                client_maybe_free(c);
                return;
            }
            pump(c);
            return;
        }
        if (call->attempt < max_attempts) {
            cs->due_ms = now + wait;
            waiting_insert(c, call);
            arm_retry_timer(c);
            pump(c);
            return;
        }
    }
    if (v == NH_V_RETRY && call->attempt < max_attempts) {
        uint64_t wait = nh_backoff_ms(call->attempt - 1, c->opts.backoff_base_ms,
                                      c->opts.backoff_max_ms, c->rand_fn(c->rand_ud));
        cs->due_ms = now + wait;
        waiting_insert(c, call);
        arm_retry_timer(c);
        pump(c);
        return;
    }
    if (v == NH_V_OK)
        nh_bucket_succeeded(&c->bucket, now);
    call_finish(call, resp, v); /* may free c (deferred) or submit */
    if (c->closing) {
        client_maybe_free(c);
        return;
    }
    pump(c);
}

int nh_client_new(uv_loop_t *loop, struct nh_http *http, const struct nh_client_opts *opts,
                  struct nh_client **ret)
{
    if (loop == NULL || http == NULL || ret == NULL)
        return -EINVAL;
    struct nh_client *c = calloc(1, sizeof(*c));
    if (c == NULL)
        return -ENOMEM;
    if (opts != NULL)
        c->opts = *opts;
    struct nh_client_opts *o = &c->opts;
    if (!(o->qps > 0.0))
        o->qps = 2.0;
    if (o->burst == 0)
        o->burst = 4;
    if (o->max_attempts == 0)
        o->max_attempts = 5;
    if (o->backoff_base_ms == 0)
        o->backoff_base_ms = 1000;
    if (o->backoff_max_ms == 0)
        o->backoff_max_ms = 60000;
    if (o->hint_max_ms == 0)
        o->hint_max_ms = 600000;
    if (o->max_queue == 0)
        o->max_queue = 10000;
    if (o->max_reads_in_flight == 0)
        o->max_reads_in_flight = 64;
    c->name = strdup(o->name != NULL ? o->name : "client");
    if (c->name == NULL) {
        free(c);
        return -ENOMEM;
    }
    o->name = c->name;
    c->loop = loop;
    c->http = http;
    c->rng = o->seed != 0 ? o->seed : (uv_hrtime() ^ ((uint64_t)getpid() << 32)) | 1;
    nh_client_set_random(c, NULL, NULL);
    nh_bucket_init(&c->bucket, o->qps, o->burst, uv_now(loop));
    nh_bucket_track_writes(&c->bucket); /* the cloud counts arrivals */
    uv_timer_init(loop, &c->pace);
    c->pace.data = c;
    uv_timer_init(loop, &c->retry);
    c->retry.data = c;
    c->open_handles = 2;
    *ret = c;
    return 0;
}

void nh_client_set_observer(struct nh_client *c, nh_client_observer_fn fn, void *ud)
{
    c->observer = fn;
    c->observer_ud = ud;
}

int nh_client_submit(struct nh_client *c, struct nh_call *call)
{
    if (c == NULL || call == NULL || call->ops == NULL || call->ops->build == NULL ||
        call->ops->done == NULL)
        return -EINVAL;
    if (c->closing)
        return -ESHUTDOWN;
    if (c->n_queued + c->n_waiting >= c->opts.max_queue)
        return -ENOBUFS;
    struct call_state *cs = calloc(1, sizeof(*cs));
    if (cs == NULL)
        return -ENOMEM;
    cs->c = c;
    cs->call = call;
    cs->seq = ++c->seq;
    call->priv = cs;
    call->attempt = 0;
    call->retry_after_ms = 0;
    call->next = NULL;
    call->queued_at = uv_now(c->loop);
    queue_insert(c, call);
    /* Never build or finish inside the caller's stack: the pump runs from
     * the loop (a pending pace timer means no token is due before it). */
    if (!uv_is_active((uv_handle_t *)&c->pace))
        uv_timer_start(&c->pace, on_pace, 0, 0);
    return 0;
}

void nh_client_free(struct nh_client *c)
{
    if (c == NULL || c->closing)
        return;
    c->closing = true;
    uv_timer_stop(&c->pace);
    uv_timer_stop(&c->retry);
    /* In flight: their callbacks come later with NH_HTTP_CANCELLED. */
    for (struct call_state *cs = c->inflight; cs != NULL; cs = cs->next)
        nh_http_cancel(cs->xfer);
    /* Queued and waiting: done() now, in submission order per list. */
    struct nh_call *call;
    while ((call = queue_pop(c)) != NULL)
        call_finish_local(call, NH_HTTP_CANCELLED, "client shut down", NH_V_CANCELLED);
    while ((call = c->waiting) != NULL) {
        c->waiting = call->next;
        c->n_waiting--;
        call_finish_local(call, NH_HTTP_CANCELLED, "client shut down", NH_V_CANCELLED);
    }
    /* At the gate: ended now; the gate's answer, later, finds no call. */
    for (struct gate_ticket *t = c->gating; t != NULL; t = t->next) {
        if ((call = ticket_take(c, t)) == NULL)
            continue;
        call_finish_local(call, NH_HTTP_CANCELLED, "client shut down", NH_V_CANCELLED);
    }
    uv_close((uv_handle_t *)&c->pace, on_timer_closed);
    uv_close((uv_handle_t *)&c->retry, on_timer_closed);
}

void nh_client_set_gate(struct nh_client *c, nh_client_gate_fn fn, void *ud)
{
    c->gate = fn;
    c->gate_ud = ud;
}

size_t nh_client_cancel_mutations(struct nh_client *c)
{
    struct nh_call *list = NULL, **tail = &list, *call;
    size_t n = 0;

    if (c == NULL || c->closing)
        return 0;
    /* Collect first: done() may submit again. */
    struct queue *q = &c->q[Q_MUTATING];
    while ((call = q->head) != NULL) {
        q->head = call->next;
        c->n_queued--;
        *tail = call;
        tail = &call->next;
    }
    q->tail = NULL;
    for (struct nh_call **pp = &c->waiting; *pp != NULL;) {
        call = *pp;
        if (!call->mutating) {
            pp = &call->next;
            continue;
        }
        *pp = call->next;
        c->n_waiting--;
        *tail = call;
        tail = &call->next;
    }
    for (struct gate_ticket *t = c->gating; t != NULL; t = t->next) {
        if ((call = ticket_take(c, t)) == NULL)
            continue;
        *tail = call;
        tail = &call->next;
    }
    *tail = NULL;
    while ((call = list) != NULL) {
        list = call->next;
        call_finish_local(call, NH_HTTP_CANCELLED, "not sent: cancelled before it was sent",
                          NH_V_CANCELLED);
        n++;
    }
    return n;
}

size_t nh_client_queued(const struct nh_client *c)
{
    return c != NULL ? c->n_queued + c->n_waiting + c->n_gating : 0;
}

size_t nh_client_in_flight(const struct nh_client *c)
{
    return c != NULL ? c->n_inflight : 0;
}

double nh_client_rate(const struct nh_client *c)
{
    return c != NULL ? c->bucket.rate : 0.0;
}
