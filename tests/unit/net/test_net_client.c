/* test_net_client.c - nh_client against the loopback test server: Retry-After
 * and AIMD on throttling, unknown outcomes never resent, retries with jitter,
 * attempt limits, queue order (mutating first, FIFO within a class), pacing
 * at qps, cancellation on free. Every test asserts uv_loop_close() == 0. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cmocka.h>

#include "net/client.h"
#include "netsrv.h"

static struct netsrv g_srv;

struct fx {
    uv_loop_t loop;
    struct nh_http *http;
    struct nh_client *client;
    int order[32]; /* ids in build order (first attempts only) */
    int n_order;
    int observed;
    enum nh_verdict observed_v[16];
    uint64_t rnd[8]; /* injected jitter values, used in turn */
    int n_rnd;
};

struct tcall {
    struct nh_call call;
    struct fx *f;
    int id;
    const char *method;
    char url[256];
    int build_rc;
    int builds;
    uint64_t build_at[8];
    int dones;
    enum nh_verdict v;
    enum nh_http_outcome outcome;
    bool sent;
    int status;
};

static int t_build(struct nh_call *call, struct nh_http_req *req)
{
    struct tcall *t = call->ud;
    if (t->builds < 8)
        t->build_at[t->builds] = uv_now(&t->f->loop);
    t->builds++;
    if (t->builds == 1 && t->f->n_order < 32)
        t->f->order[t->f->n_order++] = t->id;
    if (t->build_rc < 0)
        return t->build_rc;
    req->method = t->method;
    req->url = t->url;
    req->timeout_ms = 5000;
    return 0;
}

/* Like a provider: Alibaba answers throttling with 400 + code Throttling. */
static enum nh_verdict t_classify(struct nh_call *call, const struct nh_http_resp *resp,
                                  uint64_t *hint_ms)
{
    (void)hint_ms; /* left 0: the client reads the hint headers itself */
    if (resp->status == 400 && strstr(resp->body, "Throttling") != NULL)
        return NH_V_THROTTLED;
    return nh_verdict_for_status(resp->status, call->mutating);
}

static void t_done(struct nh_call *call, const struct nh_http_resp *resp, enum nh_verdict v)
{
    struct tcall *t = call->ud;
    t->dones++;
    t->v = v;
    t->outcome = resp->outcome;
    t->sent = resp->request_sent;
    t->status = resp->status;
    uv_stop(&t->f->loop);    /* let run_until look at once */
    assert_null(call->priv); /* the client let go before done() */
}

static const struct nh_call_ops t_ops = {.build = t_build, .classify = t_classify, .done = t_done};

static void tcall_init(struct tcall *t, struct fx *f, int id, const char *method, bool mutating,
                       const char *path)
{
    memset(t, 0, sizeof(*t));
    t->f = f;
    t->id = id;
    t->method = method;
    t->call.ops = &t_ops;
    t->call.ud = t;
    t->call.mutating = mutating;
    t->call.op_name = "TestOp";
    if (path[0] == '/')
        netsrv_url(&g_srv, path, t->url, sizeof(t->url));
    else
        snprintf(t->url, sizeof(t->url), "%s", path);
}

static void observer(void *ud, const struct nh_call *call, const struct nh_http_resp *resp,
                     enum nh_verdict v, uint64_t waited_ms)
{
    struct fx *f = ud;
    (void)call;
    (void)resp;
    (void)waited_ms;
    if (f->observed < 16)
        f->observed_v[f->observed] = v;
    f->observed++;
    uv_stop(&f->loop);
}

static uint64_t injected_rand(void *ud)
{
    struct fx *f = ud;
    return f->n_rnd < 8 ? f->rnd[f->n_rnd++] : 0;
}

static void on_closed_flag(uv_handle_t *hd)
{
    *(bool *)hd->data = true;
}

/* For handles on the caller's stack: returns once the close has completed
 * (a pending uv_stop makes one uv_run return without closing anything). */
static void close_and_wait(uv_loop_t *loop, uv_handle_t *hd)
{
    bool closed = false;
    hd->data = &closed;
    uv_close(hd, on_closed_flag);
    while (!closed)
        uv_run(loop, UV_RUN_NOWAIT);
}

static void on_guard(uv_timer_t *t)
{
    *(bool *)t->data = true;
}

static void run_until(uv_loop_t *loop, const int *count, int want, uint64_t timeout_ms)
{
    bool expired = false;
    uv_timer_t guard;
    uv_timer_init(loop, &guard);
    guard.data = &expired;
    uv_timer_start(&guard, on_guard, timeout_ms, 0);
    while (*count < want && !expired)
        uv_run(loop, UV_RUN_ONCE);
    close_and_wait(loop, (uv_handle_t *)&guard);
}

static void client_start(struct fx *f, struct nh_client_opts o)
{
    o.name = "test";
    assert_int_equal(nh_client_new(&f->loop, f->http, &o, &f->client), 0);
    nh_client_set_observer(f->client, observer, f);
    nh_client_set_random(f->client, injected_rand, f);
}

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));
    assert_non_null(f);
    assert_int_equal(uv_loop_init(&f->loop), 0);
    assert_int_equal(nh_http_new(&f->loop, &(struct nh_http_opts){0}, &f->http), 0);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    nh_client_free(f->client);
    nh_http_close(f->http);
    while (uv_run(&f->loop, UV_RUN_DEFAULT) != 0)
        ;
    int rc = uv_loop_close(&f->loop);
    free(f);
    assert_int_equal(rc, 0);
    return 0;
}

static int hits(const char *key)
{
    struct netsrv_hits h;
    assert_int_equal(netsrv_hits(&g_srv, key, &h), 0);
    return h.count;
}

/* ---- tests ---- */

static void test_client_429_retry_after_waits_and_slows_bucket(void **state)
{
    struct fx *f = *state;
    client_start(f, (struct nh_client_opts){.qps = 10, .burst = 4, .backoff_base_ms = 10});
    struct tcall t;
    tcall_init(&t, f, 1, "GET", false, "/throttle?key=ra1&times=1&retry_after=1");
    assert_int_equal(nh_client_submit(f->client, &t.call), 0);
    run_until(&f->loop, &t.dones, 1, 5000);
    assert_int_equal(t.dones, 1);
    assert_int_equal(t.v, NH_V_OK);
    assert_int_equal(t.builds, 2); /* re-built (re-signed) for the second attempt */
    assert_true(t.build_at[1] - t.build_at[0] >= 1000); /* Retry-After: 1 honoured */
    assert_true(t.build_at[1] - t.build_at[0] < 2500);
    assert_int_equal(f->observed, 2);
    assert_int_equal(f->observed_v[0], NH_V_THROTTLED);
    assert_int_equal(f->observed_v[1], NH_V_OK);
    /* halved to 5, then one success adds base/10 */
    double rate = nh_client_rate(f->client);
    assert_true(rate > 5.99 && rate < 6.01);
    assert_int_equal(hits("ra1"), 2);
}

static void test_client_throttle_holds_other_calls_and_recovers(void **state)
{
    struct fx *f = *state;
    client_start(f, (struct nh_client_opts){.qps = 20, .burst = 4, .backoff_base_ms = 10});
    struct tcall a, b;
    /* Alibaba style: 400 Throttling with x-acs-retry-after in milliseconds */
    tcall_init(&a, f, 1, "GET", false, "/throttle?key=acs1&times=1&code=400&acs_ms=400");
    assert_int_equal(nh_client_submit(f->client, &a.call), 0);
    run_until(&f->loop, &f->observed, 1, 5000);
    assert_int_equal(f->observed_v[0], NH_V_THROTTLED);
    /* another call of the same provider waits out the hold too */
    tcall_init(&b, f, 2, "GET", false, "/ok");
    assert_int_equal(nh_client_submit(f->client, &b.call), 0);
    assert_int_equal(b.builds, 0);
    run_until(&f->loop, &b.dones, 1, 3000);
    run_until(&f->loop, &a.dones, 1, 3000);
    assert_int_equal(a.v, NH_V_OK);
    assert_int_equal(b.v, NH_V_OK);
    assert_true(a.build_at[1] - a.build_at[0] >= 400);
    assert_true(b.build_at[0] - a.build_at[0] >= 400);
    /* 10 after the halving, +2 per success: two successes so far */
    double rate = nh_client_rate(f->client);
    assert_true(rate > 13.99 && rate < 14.01);
    for (int i = 0; i < 5; i++) {
        struct tcall c;
        tcall_init(&c, f, 10 + i, "GET", false, "/ok");
        assert_int_equal(nh_client_submit(f->client, &c.call), 0);
        run_until(&f->loop, &c.dones, 1, 3000);
        assert_int_equal(c.v, NH_V_OK);
    }
    assert_true(nh_client_rate(f->client) == 20.0); /* recovered, never above base */
}

static void test_client_dropped_mutation_is_unknown_and_never_resent(void **state)
{
    struct fx *f = *state;
    client_start(f, (struct nh_client_opts){
                        .qps = 50, .burst = 4, .max_attempts = 5, .backoff_base_ms = 10});
    struct tcall warm, put;
    tcall_init(&warm, f, 1, "GET", false, "/ok"); /* a warm keep-alive connection */
    assert_int_equal(nh_client_submit(f->client, &warm.call), 0);
    run_until(&f->loop, &warm.dones, 1, 5000);
    assert_int_equal(warm.v, NH_V_OK);
    tcall_init(&put, f, 2, "PUT", true, "/mutate-then-drop?key=cmtd");
    assert_int_equal(nh_client_submit(f->client, &put.call), 0);
    run_until(&f->loop, &put.dones, 1, 5000);
    run_until(&f->loop, &put.dones, 2, 300); /* nothing more may happen */
    assert_int_equal(put.dones, 1);
    assert_int_equal(put.v, NH_V_UNKNOWN);
    assert_int_equal(put.outcome, NH_HTTP_RESET);
    assert_true(put.sent);
    assert_int_equal(put.builds, 1);   /* the client did not resend */
    assert_int_equal(hits("cmtd"), 1); /* and neither did libcurl */
}

static void test_client_get_5xx_retried_after_jittered_backoff(void **state)
{
    struct fx *f = *state;
    client_start(f, (struct nh_client_opts){
                        .qps = 50, .burst = 4, .backoff_base_ms = 100, .backoff_max_ms = 1000});
    f->rnd[0] = 100; /* attempt 0: ceiling 100 -> 100 */
    f->rnd[1] = 150; /* attempt 1: ceiling 200 -> 150 */
    struct tcall t;
    tcall_init(&t, f, 1, "GET", false, "/fail?key=g5&times=2&code=503");
    assert_int_equal(nh_client_submit(f->client, &t.call), 0);
    run_until(&f->loop, &t.dones, 1, 5000);
    assert_int_equal(t.v, NH_V_OK);
    assert_int_equal(t.builds, 3);
    assert_int_equal(f->n_rnd, 2);
    assert_in_range(t.build_at[1] - t.build_at[0], 100, 400);
    assert_in_range(t.build_at[2] - t.build_at[1], 150, 450);
    assert_int_equal(hits("g5"), 3);
}

static void test_client_mutating_5xx_is_unknown_after_one_attempt(void **state)
{
    struct fx *f = *state;
    client_start(f, (struct nh_client_opts){.qps = 50, .burst = 4, .backoff_base_ms = 10});
    struct tcall t;
    tcall_init(&t, f, 1, "POST", true, "/fail?key=m5&times=5&code=502");
    assert_int_equal(nh_client_submit(f->client, &t.call), 0);
    run_until(&f->loop, &t.dones, 1, 5000);
    assert_int_equal(t.v, NH_V_UNKNOWN);
    assert_int_equal(t.status, 502);
    assert_int_equal(t.builds, 1);
    assert_int_equal(hits("m5"), 1);
}

static void test_client_attempts_exhausted_reports_retry(void **state)
{
    struct fx *f = *state;
    client_start(
        f, (struct nh_client_opts){.qps = 50, .burst = 4, .backoff_base_ms = 5, .max_attempts = 9});
    struct tcall t;
    tcall_init(&t, f, 1, "GET", false, "/status?key=ex1&code=503");
    t.call.max_attempts = 3; /* the call's own limit wins */
    assert_int_equal(nh_client_submit(f->client, &t.call), 0);
    run_until(&f->loop, &t.dones, 1, 5000);
    assert_int_equal(t.dones, 1);
    assert_int_equal(t.v, NH_V_RETRY);
    assert_int_equal(t.builds, 3);
    assert_int_equal(f->observed, 3); /* the observer sees every attempt */
    assert_int_equal(hits("ex1"), 3);
}

static void test_client_final_status_not_retried(void **state)
{
    struct fx *f = *state;
    client_start(f, (struct nh_client_opts){.qps = 50, .burst = 4, .backoff_base_ms = 5});
    struct tcall t;
    tcall_init(&t, f, 1, "GET", false, "/status?key=fin1&code=403");
    assert_int_equal(nh_client_submit(f->client, &t.call), 0);
    run_until(&f->loop, &t.dones, 1, 5000);
    assert_int_equal(t.v, NH_V_FINAL);
    assert_int_equal(t.status, 403);
    assert_int_equal(t.builds, 1);
}

static int free_port(void)
{
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(a);
    assert_true(s >= 0);
    assert_int_equal(bind(s, (struct sockaddr *)&a, sizeof(a)), 0);
    assert_int_equal(getsockname(s, (struct sockaddr *)&a, &len), 0);
    close(s);
    return ntohs(a.sin_port);
}

static void test_client_not_sent_mutation_is_resent(void **state)
{
    struct fx *f = *state;
    char url[64];
    client_start(
        f, (struct nh_client_opts){.qps = 50, .burst = 4, .backoff_base_ms = 5, .max_attempts = 2});
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/x", free_port());
    struct tcall t;
    tcall_init(&t, f, 1, "PUT", true, url);
    assert_int_equal(nh_client_submit(f->client, &t.call), 0);
    run_until(&f->loop, &t.dones, 1, 5000);
    assert_int_equal(t.builds, 2); /* the request never left: resending is safe */
    assert_int_equal(t.v, NH_V_RETRY);
    assert_int_equal(t.outcome, NH_HTTP_NOT_SENT);
    assert_false(t.sent);
}

static void test_client_mutating_first_fifo_within_class(void **state)
{
    struct fx *f = *state;
    client_start(f, (struct nh_client_opts){.qps = 20, .burst = 1});
    struct tcall t[6];
    const bool mut[6] = {false, false, false, true, false, true};
    for (int i = 0; i < 6; i++) {
        tcall_init(&t[i], f, i, mut[i] ? "PUT" : "GET", mut[i], mut[i] ? "/echo" : "/ok");
        assert_int_equal(nh_client_submit(f->client, &t[i].call), 0);
    }
    assert_int_equal(nh_client_queued(f->client), 6); /* nothing goes inside submit */
    assert_int_equal(f->n_order, 0);
    int all = 0;
    while (all < 6) {
        run_until(&f->loop, &t[5].dones, 1, 100);
        all = 0;
        for (int i = 0; i < 6; i++)
            all += t[i].dones;
    }
    assert_int_equal(f->n_order, 6);
    const int want[6] = {3, 5, 0, 1, 2, 4}; /* mutating first, FIFO within each */
    for (int i = 0; i < 6; i++)
        assert_int_equal(f->order[i], want[i]);
    for (int i = 0; i < 6; i++)
        assert_int_equal(t[i].v, NH_V_OK);
}

static void test_client_paces_at_qps_after_burst(void **state)
{
    struct fx *f = *state;
    client_start(f, (struct nh_client_opts){.qps = 10, .burst = 2});
    struct tcall t[6];
    uv_update_time(&f->loop);
    uint64_t t0 = uv_now(&f->loop);
    for (int i = 0; i < 6; i++) {
        tcall_init(&t[i], f, i, "GET", false, "/ok");
        assert_int_equal(nh_client_submit(f->client, &t[i].call), 0);
    }
    run_until(&f->loop, &t[5].dones, 1, 5000);
    for (int i = 0; i < 6; i++) {
        uint64_t at = t[i].build_at[0] - t0;
        uint64_t due = i < 2 ? 0 : (uint64_t)(i - 1) * 100; /* burst 2, then 100 ms apart */
        assert_true(at >= due);
        assert_true(at < due + 400); /* generous: a loaded CI machine */
    }
}

static void test_client_free_cancels_queued_now_and_in_flight_later(void **state)
{
    struct fx *f = *state;
    client_start(f, (struct nh_client_opts){.qps = 1, .burst = 1});
    struct tcall s, q1, q2;
    tcall_init(&s, f, 1, "PUT", true, "/stall");
    tcall_init(&q1, f, 2, "GET", false, "/ok");
    tcall_init(&q2, f, 3, "PUT", true, "/echo");
    assert_int_equal(nh_client_submit(f->client, &s.call), 0);
    assert_int_equal(nh_client_submit(f->client, &q1.call), 0);
    assert_int_equal(nh_client_submit(f->client, &q2.call), 0);
    run_until(&f->loop, &s.dones, 1, 200); /* the stall reaches the server */
    assert_int_equal(nh_client_in_flight(f->client), 1);
    assert_int_equal(nh_client_queued(f->client), 2);
    nh_client_free(f->client);
    f->client = NULL;
    assert_int_equal(q1.dones, 1);
    assert_int_equal(q1.v, NH_V_CANCELLED);
    assert_false(q1.sent);
    assert_int_equal(q2.dones, 1);
    assert_int_equal(q2.v, NH_V_CANCELLED);
    assert_int_equal(s.dones, 0); /* later, on the loop */
    run_until(&f->loop, &s.dones, 1, 1000);
    assert_int_equal(s.dones, 1);
    assert_int_equal(s.v, NH_V_CANCELLED);
    assert_true(s.sent); /* the caller must treat the mutation as maybe done */
    assert_int_equal(s.builds, 1);
}

static void test_client_http_close_under_client_cancels(void **state)
{
    struct fx *f = *state;
    client_start(f, (struct nh_client_opts){.qps = 10, .burst = 2, .backoff_base_ms = 5000});
    struct tcall g;
    tcall_init(&g, f, 1, "GET", false, "/stall");
    assert_int_equal(nh_client_submit(f->client, &g.call), 0);
    run_until(&f->loop, &g.dones, 1, 200);
    nh_http_close(f->http);
    f->http = NULL;
    assert_int_equal(g.dones, 1); /* no retry wait: the layer below is gone */
    assert_int_equal(g.v, NH_V_CANCELLED);
    assert_int_equal(g.builds, 1);
}

static void test_client_build_failure_is_final(void **state)
{
    struct fx *f = *state;
    client_start(f, (struct nh_client_opts){.qps = 10, .burst = 2});
    struct tcall t;
    tcall_init(&t, f, 1, "GET", false, "/ok");
    t.build_rc = -EINVAL;
    assert_int_equal(nh_client_submit(f->client, &t.call), 0);
    assert_int_equal(t.dones, 0); /* not inside submit */
    run_until(&f->loop, &t.dones, 1, 1000);
    assert_int_equal(t.dones, 1);
    assert_int_equal(t.v, NH_V_FINAL);
    assert_int_equal(t.outcome, NH_HTTP_ERROR);
    struct tcall bad = {0};
    assert_int_equal(nh_client_submit(f->client, &bad.call), -EINVAL);
}

static void test_client_queue_is_bounded(void **state)
{
    struct fx *f = *state;
    client_start(f, (struct nh_client_opts){.qps = 1, .burst = 1, .max_queue = 2});
    struct tcall t[4];
    /* t[0] must still be in flight when the client is freed, whatever the
     * machine's speed: an answered request can complete within the very
     * loop iteration that built it (connect, send and the answer in one
     * poll), and then the observer has seen it before the free. The server
     * never answers /stall. */
    tcall_init(&t[0], f, 0, "GET", false, "/stall");
    for (int i = 1; i < 4; i++)
        tcall_init(&t[i], f, i, "GET", false, "/ok");
    assert_int_equal(nh_client_submit(f->client, &t[0].call), 0);
    run_until(&f->loop, &t[0].builds, 1, 10000); /* t[0] takes the only token */
    assert_int_equal(t[0].builds, 1);
    assert_int_equal(nh_client_in_flight(f->client), 1);
    assert_int_equal(f->observed, 0);
    assert_int_equal(nh_client_submit(f->client, &t[1].call), 0);
    assert_int_equal(nh_client_submit(f->client, &t[2].call), 0);
    assert_int_equal(nh_client_submit(f->client, &t[3].call), -ENOBUFS);
    assert_int_equal(nh_client_queued(f->client), 2);
    nh_client_free(f->client); /* queued ones end now, the first later */
    f->client = NULL;
    assert_int_equal(t[1].v, NH_V_CANCELLED);
    assert_int_equal(t[2].v, NH_V_CANCELLED);
    assert_int_equal(t[3].dones, 0); /* refused: done() never runs */
    assert_int_equal(t[0].dones, 0); /* in flight: cancelled later, on the loop */
    run_until(&f->loop, &t[0].dones, 1, 10000);
    assert_int_equal(t[0].dones, 1);
    assert_int_equal(t[0].v, NH_V_CANCELLED);
    assert_int_equal(f->observed, 0); /* no observer calls after free */
}

/* ---- issue 22: a throttled mutation goes back to its owner; the gate ---- */

static void test_client_throttled_mutation_is_not_retried_here(void **state)
{
    struct fx *f = *state;
    client_start(f, (struct nh_client_opts){.qps = 20, .burst = 4, .backoff_base_ms = 10});
    struct tcall put, get;
    tcall_init(&put, f, 1, "PUT", true, "/throttle?key=tm1&times=1&code=400&acs_ms=700");
    assert_int_equal(nh_client_submit(f->client, &put.call), 0);
    run_until(&f->loop, &put.dones, 1, 5000);
    run_until(&f->loop, &put.dones, 2, 1200); /* past the hint: nothing more may happen */
    assert_int_equal(put.dones, 1);
    assert_int_equal(put.v, NH_V_THROTTLED);
    assert_int_equal(put.builds, 1); /* back to its owner, not resent */
    assert_int_equal(hits("tm1"), 1);
    assert_int_equal(put.call.retry_after_ms, 700);
    /* the hold still applies to every call of the client */
    tcall_init(&put, f, 2, "PUT", true, "/throttle?key=tm2&times=1&code=400&acs_ms=600");
    assert_int_equal(nh_client_submit(f->client, &put.call), 0);
    run_until(&f->loop, &put.dones, 1, 5000);
    tcall_init(&get, f, 3, "GET", false, "/ok");
    assert_int_equal(nh_client_submit(f->client, &get.call), 0);
    run_until(&f->loop, &get.dones, 1, 5000);
    assert_int_equal(get.v, NH_V_OK);
    assert_true(get.build_at[0] - put.build_at[0] >= 600);
}

struct gate {
    struct fx *f;
    bool answer;
    int asked;
    uint64_t asked_at[8];
    void (*cb)(void *arg, bool ok); /* held: answer later (async) */
    void *arg;
    uv_timer_t timer;
};

static void gate_later(uv_timer_t *t)
{
    struct gate *g = t->data;
    void (*cb)(void *, bool) = g->cb;
    g->cb = NULL;
    cb(g->arg, g->answer);
}

/* Answers after 30 ms, like an etcd round trip. */
static void gate_async(void *ud, void (*cb)(void *arg, bool ok), void *arg)
{
    struct gate *g = ud;
    if (g->asked < 8)
        g->asked_at[g->asked] = uv_now(&g->f->loop);
    g->asked++;
    assert_null(g->cb);
    g->cb = cb;
    g->arg = arg;
    uv_timer_start(&g->timer, gate_later, 30, 0);
}

static void gate_sync(void *ud, void (*cb)(void *arg, bool ok), void *arg)
{
    struct gate *g = ud;
    g->asked++;
    cb(arg, g->answer);
}

static void gate_hold(void *ud, void (*cb)(void *arg, bool ok), void *arg)
{
    struct gate *g = ud;
    g->asked++;
    g->cb = cb;
    g->arg = arg;
}

static void gate_init(struct fx *f, struct gate *g, bool answer)
{
    memset(g, 0, sizeof(*g));
    g->f = f;
    g->answer = answer;
    uv_timer_init(&f->loop, &g->timer);
    g->timer.data = g;
}

static void test_client_gate_asked_before_every_mutating_attempt(void **state)
{
    struct fx *f = *state;
    struct gate g;
    char url[64];
    gate_init(f, &g, true);
    client_start(
        f, (struct nh_client_opts){.qps = 50, .burst = 4, .backoff_base_ms = 5, .max_attempts = 2});
    nh_client_set_gate(f->client, gate_async, &g);
    /* a read is never gated */
    struct tcall r, p;
    tcall_init(&r, f, 1, "GET", false, "/ok");
    assert_int_equal(nh_client_submit(f->client, &r.call), 0);
    run_until(&f->loop, &r.dones, 1, 5000);
    assert_int_equal(r.v, NH_V_OK);
    assert_int_equal(g.asked, 0);
    /* a mutation that never leaves (nothing listens): gated, retried, gated again */
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/x", free_port());
    tcall_init(&p, f, 2, "PUT", true, url);
    assert_int_equal(nh_client_submit(f->client, &p.call), 0);
    run_until(&f->loop, &p.dones, 1, 5000);
    assert_int_equal(p.v, NH_V_RETRY);
    assert_int_equal(g.asked, 2);
    assert_int_equal(p.builds, 2);
    /* each attempt was built (and handed over) only after the gate's answer */
    assert_true(p.build_at[0] >= g.asked_at[0] + 30);
    assert_true(p.build_at[1] >= g.asked_at[1] + 30);
    /* and one that arrives */
    tcall_init(&p, f, 3, "PUT", true, "/echo?key=ga1");
    assert_int_equal(nh_client_submit(f->client, &p.call), 0);
    run_until(&f->loop, &p.dones, 1, 5000);
    assert_int_equal(p.v, NH_V_OK);
    assert_int_equal(g.asked, 3);
    assert_int_equal(hits("ga1"), 1);
    close_and_wait(&f->loop, (uv_handle_t *)&g.timer);
}

static void test_client_gate_refusal_ends_the_call_unsent(void **state)
{
    struct fx *f = *state;
    struct gate g;
    gate_init(f, &g, false);
    client_start(f, (struct nh_client_opts){.qps = 50, .burst = 4});
    struct tcall a, b;
    nh_client_set_gate(f->client, gate_async, &g);
    tcall_init(&a, f, 1, "PUT", true, "/echo?key=gr1");
    assert_int_equal(nh_client_submit(f->client, &a.call), 0);
    run_until(&f->loop, &a.dones, 1, 5000);
    assert_int_equal(a.v, NH_V_CANCELLED);
    assert_false(a.sent);
    assert_int_equal(a.builds, 0);
    /* an answer given before the gate returns works the same */
    nh_client_set_gate(f->client, gate_sync, &g);
    tcall_init(&b, f, 2, "PUT", true, "/echo?key=gr1");
    assert_int_equal(nh_client_submit(f->client, &b.call), 0);
    run_until(&f->loop, &b.dones, 1, 5000);
    assert_int_equal(b.v, NH_V_CANCELLED);
    assert_false(b.sent);
    assert_int_equal(hits("gr1"), 0);
    close_and_wait(&f->loop, (uv_handle_t *)&g.timer);
}

static void test_client_cancel_mutations_ends_only_unsent_ones(void **state)
{
    struct fx *f = *state;
    struct gate g;
    char url[64];
    gate_init(f, &g, true);
    client_start(f, (struct nh_client_opts){
                        .qps = 1, .burst = 2, .backoff_base_ms = 60000, .max_attempts = 3});
    nh_client_set_gate(f->client, gate_hold, &g);
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/x", free_port());
    struct tcall inflight, waiting, gated, queued, read;
    tcall_init(&inflight, f, 1, "PUT", true, "/stall");
    tcall_init(&waiting, f, 2, "PUT", true, url);
    tcall_init(&gated, f, 3, "PUT", true, "/echo?key=cm1");
    tcall_init(&queued, f, 4, "PUT", true, "/echo?key=cm1");
    tcall_init(&read, f, 5, "GET", false, "/ok");
    /* in flight: let the gate through */
    assert_int_equal(nh_client_submit(f->client, &inflight.call), 0);
    run_until(&f->loop, &g.asked, 1, 2000);
    g.cb(g.arg, true);
    g.cb = NULL;
    run_until(&f->loop, &inflight.builds, 1, 2000);
    /* waiting for a retry: never left, retry due in a minute */
    assert_int_equal(nh_client_submit(f->client, &waiting.call), 0);
    run_until(&f->loop, &g.asked, 2, 2000);
    g.cb(g.arg, true);
    g.cb = NULL;
    run_until(&f->loop, &f->observed, 1, 5000);
    assert_int_equal(waiting.builds, 1);
    /* at the gate, then queued behind the empty bucket, then a read */
    assert_int_equal(nh_client_submit(f->client, &gated.call), 0);
    run_until(&f->loop, &g.asked, 3, 3000);
    assert_int_equal(nh_client_submit(f->client, &queued.call), 0);
    assert_int_equal(nh_client_submit(f->client, &read.call), 0);
    assert_int_equal(nh_client_cancel_mutations(f->client), 3);
    struct tcall *ended[] = {&waiting, &gated, &queued};
    for (size_t i = 0; i < 3; i++) {
        assert_int_equal(ended[i]->dones, 1);
        assert_int_equal(ended[i]->v, NH_V_CANCELLED);
        assert_false(ended[i]->sent);
    }
    assert_int_equal(inflight.dones, 0); /* it may have reached the server: left alone */
    assert_int_equal(nh_client_in_flight(f->client), 1);
    g.cb(g.arg, true); /* the gate's late answer finds nothing to send */
    g.cb = NULL;
    run_until(&f->loop, &read.dones, 1, 5000);
    assert_int_equal(read.v, NH_V_OK);
    assert_int_equal(hits("cm1"), 0);
    assert_int_equal(nh_client_cancel_mutations(f->client), 0);
    close_and_wait(&f->loop, (uv_handle_t *)&g.timer);
}

static void test_client_free_while_at_the_gate(void **state)
{
    struct fx *f = *state;
    struct gate g;
    gate_init(f, &g, true);
    client_start(f, (struct nh_client_opts){.qps = 50, .burst = 4});
    nh_client_set_gate(f->client, gate_hold, &g);
    struct tcall p;
    tcall_init(&p, f, 1, "PUT", true, "/echo?key=gf1");
    assert_int_equal(nh_client_submit(f->client, &p.call), 0);
    run_until(&f->loop, &g.asked, 1, 2000);
    nh_client_free(f->client);
    f->client = NULL;
    assert_int_equal(p.dones, 1);
    assert_int_equal(p.v, NH_V_CANCELLED);
    assert_false(p.sent);
    g.cb(g.arg, true); /* after free: the client waited for this answer */
    g.cb = NULL;
    assert_int_equal(p.dones, 1);
    assert_int_equal(hits("gf1"), 0);
    close_and_wait(&f->loop, (uv_handle_t *)&g.timer);
}

static int group_setup(void **state)
{
    (void)state;
    return netsrv_start(&g_srv) == 0 ? 0 : -1;
}

static int group_teardown(void **state)
{
    (void)state;
    netsrv_stop(&g_srv);
    return 0;
}

/* ---- issue 21: reads in flight are capped, mutations are not held ---- */

static void test_client_reads_in_flight_capped_mutation_not_held(void **state)
{
    struct fx *f = *state;
    client_start(f, (struct nh_client_opts){.qps = 1000, .burst = 100, .max_reads_in_flight = 2});
    struct tcall r[4], m;
    /* /stall never answers: what is in flight stays there */
    for (int i = 0; i < 3; i++)
        tcall_init(&r[i], f, i, "GET", false, "/stall");
    tcall_init(&r[3], f, 3, "GET", false, "/ok");
    tcall_init(&m, f, 9, "PUT", true, "/echo");
    for (int i = 0; i < 4; i++)
        assert_int_equal(nh_client_submit(f->client, &r[i].call), 0);
    run_until(&f->loop, &r[1].builds, 1, 10000);
    assert_int_equal(nh_client_in_flight(f->client), 2);
    /* a mutation submitted now goes past the held reads */
    assert_int_equal(nh_client_submit(f->client, &m.call), 0);
    run_until(&f->loop, &m.dones, 1, 10000);
    assert_int_equal(m.dones, 1);
    assert_int_equal(m.v, NH_V_OK);
    assert_int_equal(nh_client_in_flight(f->client), 2); /* the two stalled reads */
    assert_int_equal(nh_client_queued(f->client), 2);
    assert_int_equal(r[2].builds, 0); /* held: never built, no token taken */
    assert_int_equal(r[3].builds, 0);
    nh_client_free(f->client);
    f->client = NULL;
    assert_int_equal(r[2].v, NH_V_CANCELLED);
    assert_false(r[2].sent);
    assert_int_equal(r[3].v, NH_V_CANCELLED);
    run_until(&f->loop, &r[1].dones, 1, 10000);
    run_until(&f->loop, &r[0].dones, 1, 10000);
    assert_int_equal(r[0].v, NH_V_CANCELLED);
}

static void test_client_held_read_goes_when_one_ends(void **state)
{
    struct fx *f = *state;
    client_start(f, (struct nh_client_opts){.qps = 1000, .burst = 100, .max_reads_in_flight = 2});
    struct tcall r[4];
    int done = 0;
    for (int i = 0; i < 4; i++) {
        tcall_init(&r[i], f, i, "GET", false, "/ok?delay_ms=200&key=capped");
        assert_int_equal(nh_client_submit(f->client, &r[i].call), 0);
    }
    while (done < 4) {
        run_until(&f->loop, &r[3].dones, 1, 10000);
        done = r[0].dones + r[1].dones + r[2].dones + r[3].dones;
    }
    for (int i = 0; i < 4; i++)
        assert_int_equal(r[i].v, NH_V_OK);
    struct netsrv_hits h;
    assert_int_equal(netsrv_hits(&g_srv, "capped", &h), 0);
    assert_int_equal(h.count, 4);
    /* the third and fourth arrive only after an answer, which the server
     * sends at least 200 ms after the first arrival (a lower bound: a slow
     * machine only widens it) */
    double first = h.times_ms[0] < h.times_ms[1] ? h.times_ms[0] : h.times_ms[1];
    int later = 0;
    for (int k = 0; k < 4; k++)
        later += h.times_ms[k] - first >= 199.0;
    assert_int_equal(later, 2);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_client_429_retry_after_waits_and_slows_bucket),
        T(test_client_throttle_holds_other_calls_and_recovers),
        T(test_client_dropped_mutation_is_unknown_and_never_resent),
        T(test_client_get_5xx_retried_after_jittered_backoff),
        T(test_client_mutating_5xx_is_unknown_after_one_attempt),
        T(test_client_attempts_exhausted_reports_retry),
        T(test_client_final_status_not_retried),
        T(test_client_not_sent_mutation_is_resent),
        T(test_client_mutating_first_fifo_within_class),
        T(test_client_paces_at_qps_after_burst),
        T(test_client_free_cancels_queued_now_and_in_flight_later),
        T(test_client_http_close_under_client_cancels),
        T(test_client_build_failure_is_final),
        T(test_client_queue_is_bounded),
        T(test_client_throttled_mutation_is_not_retried_here),
        T(test_client_gate_asked_before_every_mutating_attempt),
        T(test_client_gate_refusal_ends_the_call_unsent),
        T(test_client_cancel_mutations_ends_only_unsent_ones),
        T(test_client_free_while_at_the_gate),
        T(test_client_reads_in_flight_capped_mutation_not_held),
        T(test_client_held_read_goes_when_one_ends),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
