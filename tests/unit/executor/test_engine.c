/* test_engine.c - the engine end to end with a scripted fake provider and
 * a fake clock (nh_engine_opts.test).
 *
 * One CCE cluster, one node pool "gpu-a" declared at 3 nodes and observed
 * at 2: the planner asks for scale_pool to 3. The fake provider answers
 * each call on the next loop turn as the test scripted it (accepted with a
 * job, unknown outcome, refused...), and moves the pool when told to; the
 * test moves the clock every decision reads (verify window, job timeout,
 * backoff) and re-arms the timers (nh_engine_test_clock_moved), so nothing
 * waits for real time but a loop turn. The journal is a real one in a
 * temporary directory: a restart is a second engine on the same journal.
 *
 * Covered: an unknown outcome is never re-sent (its effect applied late is
 * followed, not sent again; nothing is sent while it is verified), a job
 * that fails, a job that times out, a restart with operations in flight
 * (followed or verified, never re-sent), the failure backoff and its reset
 * on convergence; and (issue #21) a ModelArts cluster - "gpu-a" named by
 * its name, the pool read at the end of a scale job carrying its counters -
 * converged on that read without a re-list, and every case where that read
 * is not enough (counts that do not match, a plan that would act, a
 * removal, a job without counters, CCE) observed in full, nothing sent
 * off the merged view. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <json-c/json.h>
#include <uv.h>

#include "config/config.h"
#include "executor/engine.h"
#include "executor/engine_int.h"
#include "providers/provider.h"

#define JOB_POLL 100     /* daemon.job_poll_interval, ms */
#define POLL_IV 1000     /* daemon.poll_interval, ms */
#define JOB_TIMEOUT 5000 /* daemon.job_timeout, ms */
#define WINDOW 3000      /* the verify window: max(3 s, 6 job polls) */
#define REAL_WAIT_MS 20000

/* ---------- the scripted cloud ---------- */

struct answer {
    enum nh_err_class cls;
    enum nh_job_kind kind; /* accepted: how to follow it */
    bool apply;            /* the pool takes the target (even on an unknown outcome) */
};

struct fake {
    uv_loop_t loop;
    uint64_t now; /* the clock the engine reads */
    /* the pool as the cloud has it */
    int desired;
    int current;
    /* what the next mutations answer (the last one repeats) */
    struct answer answers[8];
    size_t n_answers;
    /* what job polls answer */
    enum nh_job_state job;
    bool job_applies; /* on SUCCEEDED: the pool takes the target */
    int last_target;
    /* counts */
    unsigned observes, mutations, polls, removals;
    /* ModelArts (counts from the pool's counters) instead of CCE: the pool
     * is named by its name, "gpu-a" */
    bool ma;
    /* a POOL_SIZE poll that says SUCCEEDED carries the pool's counters
     * (nh_job_progress.pool_read), as CCE and ModelArts ShowNodePool do;
     * read_*: what that read says beyond the pool's size */
    bool poll_counts;
    int read_creating, read_unhealthy, read_current_extra;
    /* the provider lists the nodes alone (ops->observe_nodes, as ACK and
     * CCE do); relist_*: what that list says */
    bool nodes_op;
    unsigned node_lists;
    bool relist_unhealthy, relist_fails;
    struct nh_engine *e;
    char dir[64];
    struct nh_config *cfg;
};

struct fprov {
    struct nh_provider pub;
    struct fake *f;
};

/* A call's answer, delivered on the next loop turn. */
enum call_kind { CALL_OBSERVE, CALL_NODES, CALL_MUTATE, CALL_POLL, CALL_STATE };

struct call {
    uv_timer_t t;
    enum call_kind kind;
    struct fake *f;
    union {
        nh_observe_fn observe;
        nh_mutate_fn mutate;
        nh_poll_fn poll;
        nh_state_fn state;
    } fn;
    void *ud;
    struct answer a;
    int target;
    enum nh_job_kind job_kind; /* CALL_POLL: how the operation is followed */
};

static void call_closed(uv_handle_t *h)
{
    free(h->data);
}

static void nodes_fill(struct fake *f, struct nh_observed *o)
{
    for (int i = 0; i < f->current; i++) {
        struct nh_node *n = nh_observed_add_node(o);
        char id[16];
        assert_non_null(n);
        snprintf(id, sizeof(id), "n%d", i);
        n->id = strdup(id);
        n->name = strdup(id);
        n->pool_id = strdup(f->ma ? "gpu-a" : "p1");
        n->health = NH_NODE_READY;
        n->worker = true;
        n->created = 1700000000 + i;
    }
    o->complete = true;
}

static void observe_fill(struct fake *f, struct nh_observed *o)
{
    struct nh_obs_pool *p = nh_observed_add_pool(o);
    assert_non_null(p);
    p->id = strdup(f->ma ? "gpu-a" : "p1");
    p->name = strdup("gpu-a");
    p->flavor = f->ma ? strdup("f1") : NULL;
    p->desired = f->desired;
    p->current = f->current;
    p->ready = f->current;
    nodes_fill(f, o);
}

static void call_fire(uv_timer_t *t)
{
    struct call *k = t->data;
    struct fake *f = k->f;
    struct nh_prov_error err = {.cls = k->a.cls};

    snprintf(err.message, sizeof(err.message), "scripted %s", nh_err_class_name(k->a.cls));
    switch (k->kind) {
    case CALL_OBSERVE: {
        struct nh_observed o = {0};
        observe_fill(f, &o);
        k->fn.observe(k->ud, NULL, &o);
        nh_observed_clear(&o);
        break;
    }
    case CALL_NODES: {
        struct nh_observed o = {0};
        nodes_fill(f, &o);
        if (f->relist_unhealthy && o.n_nodes > 0)
            o.nodes[o.n_nodes - 1].health = NH_NODE_UNHEALTHY;
        if (f->relist_fails) {
            err.cls = NH_ERR_SERVER;
            k->fn.observe(k->ud, &err, NULL);
        } else {
            k->fn.observe(k->ud, NULL, &o);
        }
        nh_observed_clear(&o);
        break;
    }
    case CALL_MUTATE:
        if (k->a.apply) {
            f->desired = k->target;
            f->current = k->target;
        }
        k->fn.mutate(k->ud, k->a.cls == NH_ERR_NONE ? NULL : &err, k->a.kind,
                     k->a.kind == NH_JOB_CCE_JOB ? "job-1" : NULL);
        break;
    case CALL_POLL: {
        struct nh_job_progress pr = {.state = f->job, .percent = -1};
        if (k->job_kind == NH_JOB_POOL_SIZE) /* re-read the pool, as the providers do */
            pr.state = f->desired == k->target && f->current == k->target ? NH_JOB_SUCCEEDED
                                                                          : NH_JOB_RUNNING;
        snprintf(pr.phase, sizeof(pr.phase), "%s", nh_job_state_name(f->job));
        if (pr.state == NH_JOB_SUCCEEDED && f->poll_counts) { /* (any kind: see removals) */
            pr.pool_read = true;
            pr.pool.desired = f->desired;
            pr.pool.current = f->current + f->read_current_extra;
            pr.pool.ready = pr.pool.current - f->read_unhealthy;
            pr.pool.unhealthy = f->read_unhealthy;
            pr.pool.creating = f->read_creating;
        }
        if (f->job == NH_JOB_SUCCEEDED && f->job_applies) {
            f->desired = f->last_target;
            f->current = f->last_target;
        }
        k->fn.poll(k->ud, NULL, &pr);
        break;
    }
    case CALL_STATE:
        k->fn.state(k->ud, NULL, NH_CLUSTER_ACCEPTS, "Available");
        break;
    }
    uv_close((uv_handle_t *)t, call_closed);
}

static struct call *call_later(struct fake *f, enum call_kind kind, void *ud)
{
    struct call *k = calloc(1, sizeof(*k));
    assert_non_null(k);
    k->kind = kind;
    k->f = f;
    k->ud = ud;
    uv_timer_init(&f->loop, &k->t);
    k->t.data = k;
    uv_timer_start(&k->t, call_fire, 0, 0);
    return k;
}

static struct fake *fake_of(struct nh_provider *p)
{
    return ((struct fprov *)p)->f;
}

static int f_observe(struct nh_provider *p, const struct nh_cfg_cluster *c, nh_observe_fn done,
                     void *ud)
{
    (void)c;
    fake_of(p)->observes++;
    call_later(fake_of(p), CALL_OBSERVE, ud)->fn.observe = done;
    return 0;
}

static int f_observe_nodes(struct nh_provider *p, const struct nh_cfg_cluster *c,
                           nh_observe_fn done, void *ud)
{
    (void)c;
    fake_of(p)->node_lists++;
    call_later(fake_of(p), CALL_NODES, ud)->fn.observe = done;
    return 0;
}

static int f_scale_pool(struct nh_provider *p, const struct nh_cfg_cluster *c,
                        const struct nh_action *a, nh_mutate_fn done, void *ud)
{
    struct fake *f = fake_of(p);
    (void)c;
    size_t i = f->mutations < f->n_answers ? f->mutations : f->n_answers - 1;
    struct call *k = call_later(f, CALL_MUTATE, ud);
    k->fn.mutate = done;
    k->a = f->answers[i];
    k->target = a->target;
    f->mutations++;
    f->last_target = a->target;
    return 0;
}

static int f_remove_nodes(struct nh_provider *p, const struct nh_cfg_cluster *c,
                          const struct nh_action *a, nh_mutate_fn done, void *ud)
{
    struct fake *f = fake_of(p);
    (void)c;
    struct call *k = call_later(f, CALL_MUTATE, ud);
    k->fn.mutate = done;
    k->a = (struct answer){.cls = NH_ERR_NONE, .kind = NH_JOB_NODES_GONE};
    k->target = a->target;
    f->mutations++;
    f->removals++;
    f->last_target = a->target;
    return 0;
}

static int f_poll(struct nh_provider *p, const struct nh_cfg_cluster *c, const struct nh_op *op,
                  nh_poll_fn done, void *ud)
{
    (void)c;
    fake_of(p)->polls++;
    struct call *k = call_later(fake_of(p), CALL_POLL, ud);
    k->fn.poll = done;
    k->job_kind = op->job_kind;
    k->target = op->action.target;
    return 0;
}

static int f_state(struct nh_provider *p, const struct nh_cfg_cluster *c, nh_state_fn done,
                   void *ud)
{
    (void)c;
    call_later(fake_of(p), CALL_STATE, ud)->fn.state = done;
    return 0;
}

static const struct nh_provider_ops fake_ops = {
    .kind = "huawei-cce",
    .observe = f_observe,
    .scale_pool = f_scale_pool,
    .poll = f_poll,
    .cluster_state = f_state,
};
/* CCE as nodeherd has it: it also lists the nodes alone after a job */
static const struct nh_provider_ops fake_ops_nodes = {
    .kind = "huawei-cce",
    .observe = f_observe,
    .observe_nodes = f_observe_nodes,
    .scale_pool = f_scale_pool,
    .poll = f_poll,
    .cluster_state = f_state,
};
/* ModelArts reads no cluster state before a mutation */
static const struct nh_provider_ops fake_ops_ma = {
    .kind = "huawei-modelarts",
    .observe = f_observe,
    .scale_pool = f_scale_pool,
    .remove_nodes = f_remove_nodes,
    .poll = f_poll,
};

/* ---------- the hooks ---------- */

static int h_provider_new(void *ud, const struct nh_cfg_provider *cfg, uv_loop_t *loop,
                          struct nh_provider **ret)
{
    struct fprov *fp = calloc(1, sizeof(*fp));
    if (fp == NULL)
        return -ENOMEM;
    fp->f = ud;
    fp->pub.ops = cfg->kind == NH_PROVIDER_MODELARTS ? &fake_ops_ma
                  : fp->f->nodes_op                  ? &fake_ops_nodes
                                                     : &fake_ops;
    fp->pub.name = strdup(cfg->name);
    fp->pub.kind = cfg->kind;
    fp->pub.loop = loop;
    *ret = &fp->pub;
    return 0;
}

static void h_provider_free(void *ud, struct nh_provider *p)
{
    (void)ud;
    if (p == NULL)
        return;
    free(p->name);
    free(p);
}

static uint64_t h_now(void *ud)
{
    return ((struct fake *)ud)->now;
}

static struct nh_engine_test_hooks hooks = {
    .provider_new = h_provider_new,
    .provider_free = h_provider_free,
    .now_ms = h_now,
};

/* ---------- running the engine ---------- */

/* The CCE fleet of these tests: one cluster, pool gpu-a declared at 3. */
#define YAML_CCE                                                                                   \
    "daemon:\n"                                                                                    \
    "  poll_interval: 1s\n"                                                                        \
    "  job_poll_interval: 100ms\n"                                                                 \
    "  job_timeout: 5s\n"                                                                          \
    "providers:\n"                                                                                 \
    "  cce:\n"                                                                                     \
    "    kind: huawei-cce\n"                                                                       \
    "    region: cn-north-4\n"                                                                     \
    "    endpoint: http://127.0.0.1:9\n"                                                           \
    "    project_id: 0123456789abcdef0123456789abcdef\n"                                           \
    "    credentials: { token: { env: NHT_ENGINE_TOKEN } }\n"                                      \
    "clusters:\n"                                                                                  \
    "  - name: train\n"                                                                            \
    "    provider: cce\n"                                                                          \
    "    id: c1\n"                                                                                 \
    "    login: { ssh_key: KeyPair-001 }\n"                                                        \
    "    node_pools:\n"                                                                            \
    "      - { name: gpu-a, nodes: 3 }\n"

static const char yaml[] = YAML_CCE;

/* The ModelArts fleets of these tests: one resource pool. */
#define YAML_MA_HEAD                                                                               \
    "daemon:\n"                                                                                    \
    "  poll_interval: 1s\n"                                                                        \
    "  job_poll_interval: 100ms\n"                                                                 \
    "  job_timeout: 5s\n"                                                                          \
    "providers:\n"                                                                                 \
    "  ma:\n"                                                                                      \
    "    kind: huawei-modelarts\n"                                                                 \
    "    region: cn-north-7\n"                                                                     \
    "    endpoint: http://127.0.0.1:9\n"                                                           \
    "    project_id: 0123456789abcdef0123456789abcdef\n"                                           \
    "    credentials: { token: { env: NHT_ENGINE_TOKEN } }\n"                                      \
    "clusters:\n"                                                                                  \
    "  - name: train\n"                                                                            \
    "    provider: ma\n"                                                                           \
    "    pool: pool-abc\n"

static const char yaml_ma[] = YAML_MA_HEAD "    node_pools:\n"
                                           "      - { name: gpu-a, nodes: 3, flavor: f1 }\n";

static void fake_init_yaml(struct fake *f, const char *text);

static void fake_init(struct fake *f)
{
    fake_init_yaml(f, yaml);
}

/* ModelArts: the scale is followed by reading the pool (NH_JOB_POOL_SIZE),
 * which applies at once; its SUCCEEDED answer carries the pool's counters. */
static void fake_init_ma(struct fake *f, const char *text)
{
    fake_init_yaml(f, text);
    f->ma = true;
    f->poll_counts = true;
    f->answers[0] = (struct answer){.cls = NH_ERR_NONE, .kind = NH_JOB_POOL_SIZE, .apply = true};
}

static void fake_init_yaml(struct fake *f, const char *text)
{
    memset(f, 0, sizeof(*f));
    assert_int_equal(uv_loop_init(&f->loop), 0);
    f->now = 1000000;
    f->desired = 2;
    f->current = 2;
    f->job = NH_JOB_RUNNING;
    f->n_answers = 1;
    f->answers[0] = (struct answer){.cls = NH_ERR_NONE, .kind = NH_JOB_CCE_JOB};
    snprintf(f->dir, sizeof(f->dir), "/tmp/nh-test-engine-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    setenv("NHT_ENGINE_TOKEN", "test-token", 1);
    struct nh_diag d;
    nh_diag_init(&d);
    int r = nh_config_load_buffer("engine.yaml", text, strlen(text), &f->cfg, &d);
    if (r < 0)
        nh_diag_print(&d, stderr);
    nh_diag_free(&d);
    assert_int_equal(r, 0);
}

static void engine_up(struct fake *f)
{
    struct nh_engine_opts o = {
        .loop = &f->loop,
        .state_dir = f->dir,
        .test = &hooks,
    };
    char err[512] = "";

    hooks.ud = f;
    int r = nh_engine_new(&o, f->cfg, &f->e, err, sizeof(err));
    if (r < 0)
        print_error("nh_engine_new: %s\n", err);
    assert_int_equal(r, 0);
    assert_int_equal(nh_engine_start(f->e), 0);
}

/* A repeating timer wakes the loop so conditions are checked. */
static void wake(uv_timer_t *t)
{
    (void)t;
}

/* Runs the loop until pred holds (checked every turn), at most
 * REAL_WAIT_MS of real time (a generous bound for a busy machine). */
static bool run_until(struct fake *f, bool (*pred)(struct fake *), const char *what)
{
    uv_timer_t w;
    uint64_t end = uv_hrtime() / 1000000 + REAL_WAIT_MS;
    bool ok = pred(f);

    uv_timer_init(&f->loop, &w);
    uv_timer_start(&w, wake, 5, 5);
    while (!ok && uv_hrtime() / 1000000 < end) {
        uv_run(&f->loop, UV_RUN_ONCE);
        ok = pred(f);
    }
    uv_close((uv_handle_t *)&w, NULL);
    uv_run(&f->loop, UV_RUN_NOWAIT);
    if (!ok)
        print_error("timed out waiting for: %s\n", what);
    return ok;
}

/* Runs the loop for `turns` wake-ups (things that should NOT happen get
 * their chance). */
static void run_turns(struct fake *f, int turns)
{
    uv_timer_t w;
    uv_timer_init(&f->loop, &w);
    uv_timer_start(&w, wake, 2, 2);
    for (int i = 0; i < turns; i++)
        uv_run(&f->loop, UV_RUN_ONCE);
    uv_close((uv_handle_t *)&w, NULL);
    uv_run(&f->loop, UV_RUN_NOWAIT);
}

/* Moves the clock and lets the engine act on it. */
static void advance(struct fake *f, uint64_t ms)
{
    f->now += ms;
    nh_engine_test_clock_moved(f->e);
}

static void engine_down(struct fake *f)
{
    nh_engine_stop(f->e);
    nh_engine_cancel(f->e);
    uv_timer_t w;
    uv_timer_init(&f->loop, &w);
    uv_timer_start(&w, wake, 5, 5);
    uint64_t end = uv_hrtime() / 1000000 + REAL_WAIT_MS;
    while (!nh_engine_idle(f->e) && uv_hrtime() / 1000000 < end)
        uv_run(&f->loop, UV_RUN_ONCE);
    assert_true(nh_engine_idle(f->e));
    uv_close((uv_handle_t *)&w, NULL);
    nh_engine_free(f->e);
    f->e = NULL;
    while (uv_run(&f->loop, UV_RUN_DEFAULT) != 0)
        ;
}

static void fake_done(struct fake *f)
{
    if (f->e != NULL)
        engine_down(f);
    assert_int_equal(uv_loop_close(&f->loop), 0);
    nh_config_unref(f->cfg);
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
    assert_int_equal(system(cmd), 0);
}

/* ---------- what the engine holds ---------- */

static struct cl *cluster(struct fake *f)
{
    return f->e->clusters;
}

static struct opnode *open_op(struct fake *f)
{
    for (struct opnode *n = cluster(f)->ops; n; n = n->next)
        if (!n->closed)
            return n;
    return NULL;
}

static enum nh_op_state op_state(struct fake *f)
{
    struct opnode *n = open_op(f);
    return n ? n->op.state : NH_OP_DONE;
}

/* The result of the last operation closed ("done", "failed", ...). */
static const char *last_result(struct fake *f)
{
    struct cl *c = cluster(f);
    if (c->n_recent == 0)
        return "";
    return c->recent[(c->n_recent - 1) % NH_RECENT_MAX].result;
}

static bool p_sent(struct fake *f)
{
    return f->mutations >= 1 && op_state(f) == NH_OP_SENT;
}
static bool p_verify(struct fake *f)
{
    return f->mutations >= 1 && op_state(f) == NH_OP_VERIFY;
}
static bool p_closed(struct fake *f)
{
    return f->mutations >= 1 && open_op(f) == NULL && cluster(f)->n_recent > 0;
}
static bool p_polled(struct fake *f)
{
    return f->polls >= 1 && open_op(f) != NULL && !open_op(f)->calling;
}
static bool p_converged(struct fake *f)
{
    return f->desired == 3 && open_op(f) == NULL && ex__cl_converged(cluster(f));
}
static bool p_observed(struct fake *f)
{
    return cluster(f)->have_obs && !cluster(f)->observing;
}
static bool p_two_mutations(struct fake *f)
{
    return f->mutations >= 2 && open_op(f) == NULL && cluster(f)->n_recent >= 2;
}

/* ---------- the tests ---------- */

/* Unknown outcome whose effect shows late: verified, then followed to its
 * end by re-reading the pool; the mutation is never sent again. */
static void test_unknown_outcome_applied_is_followed_not_resent(void **state)
{
    (void)state;
    struct fake f;
    fake_init(&f);
    f.answers[0] = (struct answer){.cls = NH_ERR_UNKNOWN_OUTCOME};
    engine_up(&f);
    assert_true(run_until(&f, p_verify, "VERIFY after the unknown outcome"));
    assert_int_equal(f.mutations, 1);
    /* observations during the window: the effect is not there */
    for (int i = 0; i < 5; i++) {
        advance(&f, 300);
        run_turns(&f, 20);
        assert_int_equal(op_state(&f), NH_OP_VERIFY);
    }
    assert_int_equal(f.mutations, 1);
    /* the request reached the cloud after all */
    f.desired = 3;
    f.current = 3;
    f.job_applies = false;
    f.job = NH_JOB_SUCCEEDED;
    advance(&f, 100);
    assert_true(run_until(&f, p_converged, "converged on the late effect"));
    assert_int_equal(f.mutations, 1);
    assert_string_equal(last_result(&f), "done");
    /* and it stays so, observation after observation */
    for (int i = 0; i < 5; i++) {
        advance(&f, POLL_IV);
        run_turns(&f, 20);
    }
    assert_int_equal(f.mutations, 1);
    fake_done(&f);
}

/* Unknown outcome whose effect never shows: nothing is sent while it is
 * verified; after the window it closes FAILED without a backoff, and only
 * then may a new plan send again. */
static void test_unknown_outcome_not_resent_while_verified(void **state)
{
    (void)state;
    struct fake f;
    fake_init(&f);
    f.answers[0] = (struct answer){.cls = NH_ERR_UNKNOWN_OUTCOME};
    f.answers[1] = (struct answer){.cls = NH_ERR_NONE, .kind = NH_JOB_NONE, .apply = true};
    f.n_answers = 2;
    engine_up(&f);
    assert_true(run_until(&f, p_verify, "VERIFY after the unknown outcome"));
    for (uint64_t t = 0; t + 500 < WINDOW; t += 500) {
        advance(&f, 500);
        run_turns(&f, 20);
        assert_int_equal(f.mutations, 1);
        assert_int_equal(op_state(&f), NH_OP_VERIFY);
    }
    advance(&f, 1000); /* past the window */
    assert_true(run_until(&f, p_two_mutations, "closed, then planned and sent again"));
    assert_int_equal(cluster(&f)->recent[0].result[0], 'f'); /* "failed" */
    assert_int_equal(cluster(&f)->failures, 0);              /* no backoff */
    assert_true(run_until(&f, p_converged, "converged"));
    assert_int_equal(f.mutations, 2);
    fake_done(&f);
}

/* A job that fails: the operation fails, the cluster backs off. */
static void test_job_failure(void **state)
{
    (void)state;
    struct fake f;
    fake_init(&f);
    engine_up(&f);
    assert_true(run_until(&f, p_sent, "SENT"));
    advance(&f, JOB_POLL);
    assert_true(run_until(&f, p_polled, "job polled"));
    assert_int_equal(op_state(&f), NH_OP_SENT);
    f.job = NH_JOB_FAILED;
    advance(&f, 800);
    assert_true(run_until(&f, p_closed, "closed after the job failed"));
    assert_string_equal(last_result(&f), "failed");
    assert_int_equal(cluster(&f)->failures, 1);
    assert_true(cluster(&f)->not_before >= f.now + 2500 && cluster(&f)->not_before <= f.now + 5000);
    assert_non_null(strstr(cluster(&f)->last_error, "job job-1 failed"));
    assert_int_equal(f.mutations, 1);
    fake_done(&f);
}

/* A job that never ends: TIMED_OUT at job_timeout by the clock. */
static void test_job_timeout(void **state)
{
    (void)state;
    struct fake f;
    fake_init(&f);
    engine_up(&f);
    assert_true(run_until(&f, p_sent, "SENT"));
    for (uint64_t t = 0; t + 1000 < JOB_TIMEOUT; t += 1000) {
        advance(&f, 1000);
        run_turns(&f, 10);
        assert_int_equal(op_state(&f), NH_OP_SENT);
    }
    advance(&f, 1000);
    assert_true(run_until(&f, p_closed, "timed out"));
    assert_string_equal(last_result(&f), "timed_out");
    assert_int_equal(cluster(&f)->failures, 1);
    assert_int_equal(f.mutations, 1);
    fake_done(&f);
}

/* Restart with an operation following its job: the new engine polls the
 * job from the journal, never sends the mutation again. */
static void test_restart_follows_job(void **state)
{
    (void)state;
    struct fake f;
    fake_init(&f);
    engine_up(&f);
    assert_true(run_until(&f, p_sent, "SENT"));
    engine_down(&f);
    assert_int_equal(f.mutations, 1);
    unsigned polls = f.polls;
    f.job = NH_JOB_SUCCEEDED;
    f.job_applies = true;
    engine_up(&f);
    assert_true(run_until(&f, p_converged, "resumed job followed to its end"));
    assert_true(f.polls > polls);
    assert_int_equal(f.mutations, 1);
    assert_string_equal(last_result(&f), "done");
    fake_done(&f);
}

/* Restart with an operation whose outcome is unknown: verified again by
 * the new engine (its effect shows: followed), never re-sent. */
static void test_restart_verifies_unknown(void **state)
{
    (void)state;
    struct fake f;
    fake_init(&f);
    f.answers[0] = (struct answer){.cls = NH_ERR_UNKNOWN_OUTCOME};
    engine_up(&f);
    assert_true(run_until(&f, p_verify, "VERIFY"));
    engine_down(&f);
    engine_up(&f);
    assert_true(run_until(&f, p_verify, "VERIFY after the restart"));
    for (int i = 0; i < 4; i++) {
        advance(&f, 500);
        run_turns(&f, 20);
        assert_int_equal(op_state(&f), NH_OP_VERIFY);
    }
    assert_int_equal(f.mutations, 1);
    f.desired = 3;
    f.current = 3;
    f.job = NH_JOB_SUCCEEDED;
    advance(&f, 100);
    assert_true(run_until(&f, p_converged, "verified after the restart"));
    assert_int_equal(f.mutations, 1);
    fake_done(&f);
}

/* Refused twice: the backoff grows (2.5-5 s, then 5-10 s) and nothing is
 * sent before it ends; success and convergence reset it. */
static void test_backoff_and_reset(void **state)
{
    (void)state;
    struct fake f;
    fake_init(&f);
    f.answers[0] = (struct answer){.cls = NH_ERR_INVALID};
    f.answers[1] = (struct answer){.cls = NH_ERR_INVALID};
    f.answers[2] = (struct answer){.cls = NH_ERR_NONE, .kind = NH_JOB_NONE, .apply = true};
    f.n_answers = 3;
    engine_up(&f);
    assert_true(run_until(&f, p_closed, "refused"));
    struct cl *c = cluster(&f);
    assert_int_equal(c->failures, 1);
    uint64_t wait = c->not_before - f.now;
    assert_true(wait >= 2500 && wait <= 5000);
    /* observed again and again inside the backoff: nothing sent */
    for (uint64_t t = 0; t + 1000 < wait; t += 1000) {
        advance(&f, 1000);
        run_turns(&f, 10);
        assert_int_equal(f.mutations, 1);
    }
    advance(&f, wait); /* past it */
    assert_true(run_until(&f, p_two_mutations, "sent again after the backoff"));
    assert_int_equal(c->failures, 2);
    wait = c->not_before - f.now;
    assert_true(wait >= 5000 && wait <= 10000);
    advance(&f, 4000);
    run_turns(&f, 10);
    assert_int_equal(f.mutations, 2);
    advance(&f, wait);
    assert_true(run_until(&f, p_converged, "converged after the third try"));
    assert_int_equal(f.mutations, 3);
    advance(&f, POLL_IV);
    assert_true(run_until(&f, p_observed, "observed once more"));
    run_turns(&f, 10);
    assert_int_equal(c->failures, 0);
    assert_int_equal(c->not_before, 0);
    fake_done(&f);
}

/* /api/v1/status is written without a json-c tree (issue #21); its bytes
 * must stay what json-c printed: the document parses, and json-c prints
 * the parsed tree back byte for byte (same keys in the same order, same
 * escaping: "\/", "\n", "\u001f", UTF-8 and other high bytes as they
 * are), with hostile strings in every kind of field. */
static const char hostile[] =
    "q\"uo\\te/sl\x01\x1f\x7f\n\t\b\f\r caf\xc3\xa9 \xe2\x9c\x93 \xff end";

static void check_status_doc(struct fake *f)
{
    struct nh_buf b;
    nh_buf_init(&b, 0);
    assert_int_equal(nh_engine_status_json(f->e, &b), 0);
    assert_non_null(b.data);
    struct json_tokener *tok = json_tokener_new();
    struct json_object *root = json_tokener_parse_ex(tok, b.data, (int)b.len);
    assert_int_equal(json_tokener_get_error(tok), json_tokener_success);
    assert_int_equal(tok->char_offset, (int)b.len);
    json_tokener_free(tok);
    assert_non_null(root);
    assert_string_equal(json_object_to_json_string_ext(root, JSON_C_TO_STRING_PLAIN), b.data);
    json_object_put(root);
    nh_buf_free(&b);
}

static const char *jpath_str(struct json_object *o, const char *const *path)
{
    for (; *path; path++) {
        struct json_object *next = NULL;
        if (json_object_is_type(o, json_type_array))
            next = json_object_array_get_idx(o, (size_t)atoi(*path));
        else
            json_object_object_get_ex(o, *path, &next);
        o = next;
    }
    return o && json_object_is_type(o, json_type_string) ? json_object_get_string(o) : NULL;
}

static void test_status_document_bytes(void **state)
{
    (void)state;
    struct fake f;
    fake_init(&f);
    engine_up(&f);
    check_status_doc(&f); /* nothing observed yet: nulls */
    assert_true(run_until(&f, p_sent, "a job in flight"));
    check_status_doc(&f);

    struct cl *c = cluster(&f);
    snprintf(f.e->journal_error, sizeof(f.e->journal_error), "%s", hostile);
    snprintf(c->last_error, sizeof(c->last_error), "%s", hostile);
    snprintf(open_op(&f)->phase, sizeof(open_op(&f)->phase), "%s", hostile);
    assert_null(c->recent); /* no operation closed yet: no history held */
    ex__cl_record_recent(c, &open_op(&f)->op, "done");
    assert_non_null(c->recent);
    assert_int_equal(c->n_recent, 1);
    struct recent *r = &c->recent[0];
    snprintf(r->pool, sizeof(r->pool), "%s", hostile);
    snprintf(r->result, sizeof(r->result), "done\"\\/");
    snprintf(r->revision, sizeof(r->revision), "%s", hostile);
    snprintf(r->job, sizeof(r->job), "%s", hostile);
    struct nh_obs_pool *p = nh_observed_add_pool(&c->obs);
    assert_non_null(p);
    p->id = strdup(hostile);
    p->name = strdup(hostile);
    assert_non_null(p->id);
    assert_non_null(p->name);
    check_status_doc(&f);

    struct nh_buf b;
    nh_buf_init(&b, 0);
    assert_int_equal(nh_engine_status_json(f.e, &b), 0);
    struct json_object *root = json_tokener_parse(b.data);
    assert_non_null(root);
    const char *const journal[] = {"journal", "error", NULL};
    const char *const last_error[] = {"clusters", "0", "last_error", NULL};
    const char *const phase[] = {"clusters", "0", "in_flight", "0", "phase", NULL};
    const char *const rpool[] = {"clusters", "0", "recent", "0", "pool", NULL};
    const char *const rjob[] = {"clusters", "0", "recent", "0", "job", NULL};
    const char *const gpool[] = {"clusters", "0", "groups", "1", "pool", NULL};
    assert_string_equal(jpath_str(root, journal), hostile);
    assert_string_equal(jpath_str(root, last_error), hostile);
    assert_int_equal(strncmp(jpath_str(root, phase), hostile, sizeof(open_op(&f)->phase) - 1), 0);
    assert_int_equal(strncmp(jpath_str(root, rpool), hostile, sizeof(r->pool) - 1), 0);
    assert_string_equal(jpath_str(root, rjob), hostile);
    assert_string_equal(jpath_str(root, gpool), hostile);
    /* The escapes themselves, as json-c wrote them. */
    assert_non_null(
        strstr(b.data, "q\\\"uo\\\\te\\/sl\\u0001\\u001f\x7f\\n\\t\\b\\f\\r caf\xc3\xa9"));
    json_object_put(root);

    /* Every byte value in one string. */
    for (int k = 1; k < 256; k++)
        c->last_error[k - 1] = (char)k;
    c->last_error[255] = '\0';
    check_status_doc(&f);

    /* Past the buffer's cap: an error and nothing appended. */
    nh_buf_free(&b);
    nh_buf_init(&b, 100);
    assert_int_equal(nh_buf_appends(&b, "kept"), 0);
    assert_int_equal(nh_engine_status_json(f.e, &b), -E2BIG);
    assert_string_equal(b.data, "kept");
    assert_int_equal(b.len, 4);
    nh_buf_free(&b);
    fake_done(&f);
}

/* ---------- a finished scale job's pool read (issue #21) ---------- */

static bool p_full_observed_twice(struct fake *f)
{
    return f->observes >= 2 && !cluster(f)->observing && open_op(f) == NULL;
}

/* After the job: converged on a merged view, the one full observation the
 * one before the job, one mutation. */
static void converged_on_merged_view(struct fake *f)
{
    assert_true(run_until(f, p_converged, "converged"));
    run_turns(f, 20);
    assert_int_equal(f->observes, 1); /* no full re-observation after the job */
    assert_int_equal(f->mutations, 1);
    assert_true(cluster(f)->obs_merged);
    assert_string_equal(ex__cl_state_word(cluster(f)), "converged");
}

/* The regular poll: a full observation, which replaces the merged view. */
static void regular_poll_replaces_merged_view(struct fake *f)
{
    advance(f, POLL_IV + POLL_IV / 10);
    assert_true(run_until(f, p_full_observed_twice, "the next regular poll"));
    assert_false(cluster(f)->obs_merged);
    assert_true(ex__cl_converged(cluster(f)));
    assert_int_equal(f->mutations, 1);
}

/* The merged view was not taken: the cluster observed in full (the plan
 * is made on that), converged there, nothing sent in between. */
static void converged_on_full_observation(struct fake *f, const char *what)
{
    assert_true(run_until(f, p_full_observed_twice, what));
    assert_false(cluster(f)->obs_merged);
    assert_int_equal(f->mutations, 1);
    assert_true(run_until(f, p_converged, "converged on the full observation"));
    assert_int_equal(f->observes, 2);
    assert_int_equal(f->mutations, 1);
}

/* ModelArts: the scale-out's job ends on a read of the pool whose counters
 * match the declaration: converged on that read, no re-list; the next
 * poll, at the poll interval, is a full observation again. */
static void test_pool_read_converges_without_relist(void **state)
{
    (void)state;
    struct fake f;
    fake_init_ma(&f, yaml_ma);
    engine_up(&f);
    assert_true(run_until(&f, p_sent, "the scale-out followed"));
    assert_int_equal(f.observes, 1);
    advance(&f, JOB_POLL);
    converged_on_merged_view(&f);
    assert_string_equal(last_result(&f), "done");
    regular_poll_replaces_merged_view(&f);
    fake_done(&f);
}

/* The pool read does not show the cluster converged (a node still
 * creating, more nodes than declared, an abnormal one): the full
 * observation goes at once, as before, the plan is made on it, and
 * nothing is sent off the merged view. */
static void pool_read_mismatch(int creating, int extra, int unhealthy)
{
    struct fake f;
    fake_init_ma(&f, yaml_ma);
    f.read_creating = creating;
    f.read_current_extra = extra;
    f.read_unhealthy = unhealthy;
    engine_up(&f);
    assert_true(run_until(&f, p_sent, "the scale-out followed"));
    advance(&f, JOB_POLL);
    /* the full observation (3 ready) is what the plan was made on */
    converged_on_full_observation(&f, "the full observation after the job");
    fake_done(&f);
}

static void test_pool_read_creating_observes_in_full(void **state)
{
    (void)state;
    pool_read_mismatch(1, 0, 0);
}

static void test_pool_read_not_declared_observes_in_full(void **state)
{
    (void)state;
    pool_read_mismatch(0, 1, 0);
}

static void test_pool_read_unhealthy_observes_in_full(void **state)
{
    (void)state;
    pool_read_mismatch(0, 0, 1);
}

/* The merged view would need an action (another pool is declared larger
 * than observed, and that scale could not go while the first was open):
 * it is discarded, the cluster observed in full, and only then the
 * second pool is scaled - never off the merged view. */
static const char yaml_ma_two[] = YAML_MA_HEAD "    node_pools:\n"
                                               "      - { name: gpu-a, nodes: 3, flavor: f1 }\n"
                                               "      - { name: gpu-b, nodes: 2, flavor: f1 }\n";

static void test_pool_read_plan_would_act_observes_in_full(void **state)
{
    (void)state;
    struct fake f;
    fake_init_ma(&f, yaml_ma_two);
    engine_up(&f);
    assert_true(run_until(&f, p_sent, "the scale-out followed"));
    unsigned sent = f.mutations;
    advance(&f, JOB_POLL);
    assert_true(run_until(&f, p_full_observed_twice, "the full observation after the job"));
    assert_false(cluster(&f)->obs_merged);
    /* nothing was sent between the job's end and the full observation */
    assert_int_equal(f.mutations, sent);
    fake_done(&f);
}

/* A removal's job: whatever its last read says, the cluster is observed
 * in full after it (a removal is never concluded from counters). */
static const char yaml_ma_in[] = YAML_MA_HEAD "    confirm_mass_removal: true\n"
                                              "    node_pools:\n"
                                              "      - { name: gpu-a, nodes: 1, flavor: f1 }\n";

static bool p_removal_followed(struct fake *f)
{
    return f->removals >= 1 && op_state(f) == NH_OP_SENT;
}

static void test_removal_job_observes_in_full(void **state)
{
    (void)state;
    struct fake f;
    fake_init_ma(&f, yaml_ma_in);
    engine_up(&f);
    assert_true(run_until(&f, p_removal_followed, "the removal followed"));
    assert_int_equal(f.observes, 1);
    /* the cloud removed it; its job says so with the pool's counters */
    f.desired = 1;
    f.current = 1;
    f.job = NH_JOB_SUCCEEDED;
    advance(&f, JOB_POLL);
    assert_true(run_until(&f, p_full_observed_twice, "the full observation after the removal"));
    assert_false(cluster(&f)->obs_merged);
    assert_int_equal(f.mutations, 1);
    fake_done(&f);
}

/* A job poll that carries no counters (ACK DescribeTaskInfo, CCE ShowJob):
 * the full observation after the job, as before. */
static void test_job_without_counters_observes_in_full(void **state)
{
    (void)state;
    struct fake f;
    fake_init_ma(&f, yaml_ma);
    f.poll_counts = false;
    engine_up(&f);
    assert_true(run_until(&f, p_sent, "the scale-out followed"));
    advance(&f, JOB_POLL);
    assert_true(run_until(&f, p_full_observed_twice, "the full observation after the job"));
    assert_true(run_until(&f, p_converged, "converged"));
    assert_false(cluster(&f)->obs_merged);
    assert_int_equal(f.mutations, 1);
    fake_done(&f);
}

/* CCE counts its nodes from the node list, which a pool read does not
 * refresh: without a way to list the nodes alone its pool read never
 * replaces the full observation. */
static void test_cce_pool_read_observes_in_full(void **state)
{
    (void)state;
    struct fake f;
    fake_init(&f);
    f.poll_counts = true;
    f.answers[0] = (struct answer){.cls = NH_ERR_NONE, .kind = NH_JOB_POOL_SIZE, .apply = true};
    engine_up(&f);
    assert_true(run_until(&f, p_sent, "the scale-out followed"));
    advance(&f, JOB_POLL);
    assert_true(run_until(&f, p_full_observed_twice, "the full observation after the job"));
    assert_true(run_until(&f, p_converged, "converged"));
    assert_false(cluster(&f)->obs_merged);
    assert_int_equal(f.mutations, 1);
    fake_done(&f);
}

/* ---------- ACK and CCE: the nodes re-listed alone after a job (issue #21) ---------- */

static bool p_relisted_and_idle(struct fake *f)
{
    return f->node_lists >= 1 && !cluster(f)->observing && open_op(f) == NULL;
}

/* CCE's scale job ends on ShowNodePool (counts, no health): the nodes
 * alone are listed, and the cluster converges on them, the pools not
 * re-listed; the next regular poll is a full observation. */
static void test_cce_pool_read_relists_nodes_only(void **state)
{
    (void)state;
    struct fake f;
    fake_init(&f);
    f.nodes_op = true;
    f.poll_counts = true;
    f.answers[0] = (struct answer){.cls = NH_ERR_NONE, .kind = NH_JOB_POOL_SIZE, .apply = true};
    engine_up(&f);
    assert_true(run_until(&f, p_sent, "the scale-out followed"));
    advance(&f, JOB_POLL);
    converged_on_merged_view(&f);
    assert_int_equal(f.node_lists, 1);
    assert_int_equal(cluster(&f)->obs.n_nodes, 3); /* the nodes listed after the job */
    regular_poll_replaces_merged_view(&f);
    assert_int_equal(f.node_lists, 1);
    fake_done(&f);
}

/* A job whose answer says nothing of the pool (ACK DescribeTaskInfo, CCE
 * ShowJob): the same, from the node list alone. */
static void test_task_success_relists_nodes_only(void **state)
{
    (void)state;
    struct fake f;
    fake_init(&f);
    f.nodes_op = true;
    f.job_applies = true;
    engine_up(&f);
    assert_true(run_until(&f, p_sent, "the scale-out followed"));
    f.job = NH_JOB_SUCCEEDED;
    advance(&f, JOB_POLL);
    converged_on_merged_view(&f);
    assert_int_equal(f.node_lists, 1);
    fake_done(&f);
}

/* What the re-list shows is not "converged" (a node not ready, the list
 * failed): the full observation goes at once, the plan is made on it,
 * nothing is sent in between. */
static void relist_then_full(bool unhealthy, bool fails)
{
    struct fake f;
    fake_init(&f);
    f.nodes_op = true;
    f.job_applies = true;
    f.relist_unhealthy = unhealthy;
    f.relist_fails = fails;
    engine_up(&f);
    assert_true(run_until(&f, p_sent, "the scale-out followed"));
    f.job = NH_JOB_SUCCEEDED;
    advance(&f, JOB_POLL);
    assert_true(run_until(&f, p_relisted_and_idle, "the nodes re-listed"));
    converged_on_full_observation(&f, "the full observation after it");
    assert_int_equal(f.node_lists, 1);
    fake_done(&f);
}

static void test_relist_node_not_ready_observes_in_full(void **state)
{
    (void)state;
    relist_then_full(true, false);
}

static void test_relist_failed_observes_in_full(void **state)
{
    (void)state;
    relist_then_full(false, true);
}

/* The merged view would need more (a second declared pool the cloud does
 * not have): discarded, observed in full, nothing sent off it. */
static const char yaml_two[] = YAML_CCE "      - { name: gpu-b, nodes: 2 }\n";

static void test_relist_plan_would_act_observes_in_full(void **state)
{
    (void)state;
    struct fake f;
    fake_init_yaml(&f, yaml_two);
    f.nodes_op = true;
    f.job_applies = true;
    engine_up(&f);
    assert_true(run_until(&f, p_sent, "the scale-out followed"));
    unsigned sent = f.mutations;
    f.job = NH_JOB_SUCCEEDED;
    advance(&f, JOB_POLL);
    assert_true(run_until(&f, p_relisted_and_idle, "the nodes re-listed"));
    assert_true(run_until(&f, p_full_observed_twice, "the full observation after it"));
    assert_false(cluster(&f)->obs_merged);
    assert_int_equal(f.mutations, sent);
    fake_done(&f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_unknown_outcome_applied_is_followed_not_resent),
        cmocka_unit_test(test_unknown_outcome_not_resent_while_verified),
        cmocka_unit_test(test_job_failure),
        cmocka_unit_test(test_job_timeout),
        cmocka_unit_test(test_restart_follows_job),
        cmocka_unit_test(test_restart_verifies_unknown),
        cmocka_unit_test(test_backoff_and_reset),
        cmocka_unit_test(test_pool_read_converges_without_relist),
        cmocka_unit_test(test_pool_read_creating_observes_in_full),
        cmocka_unit_test(test_pool_read_not_declared_observes_in_full),
        cmocka_unit_test(test_pool_read_unhealthy_observes_in_full),
        cmocka_unit_test(test_pool_read_plan_would_act_observes_in_full),
        cmocka_unit_test(test_removal_job_observes_in_full),
        cmocka_unit_test(test_job_without_counters_observes_in_full),
        cmocka_unit_test(test_cce_pool_read_observes_in_full),
        cmocka_unit_test(test_cce_pool_read_relists_nodes_only),
        cmocka_unit_test(test_task_success_relists_nodes_only),
        cmocka_unit_test(test_relist_node_not_ready_observes_in_full),
        cmocka_unit_test(test_relist_failed_observes_in_full),
        cmocka_unit_test(test_relist_plan_would_act_observes_in_full),
        cmocka_unit_test(test_status_document_bytes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
