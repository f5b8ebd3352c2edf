/* test_kube_drain.c - the drain engine (kube/drain.h): its pure part as a
 * table, and the engine against kubesrv.py on 127.0.0.1 over https with
 * client certificates (a throwaway PKI made at test time). Every engine
 * test checks what the server saw in its request log: nothing but pod
 * lists, node GET/PATCH (the cordon) and evictions, never a DELETE, never
 * an uncordon; the first request is the pod list. Waits are on conditions
 * with generous deadlines; the only durations asserted are lower bounds
 * (the wait before re-trying a held pod), measured by the server. Every
 * test ends with uv_loop_close() == 0. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <json-c/json.h>

#include "kube/drain.h"
#include "kube/kube.h"
#include "kubesrv.h"
#include "net/http.h"

#define DEADLINE_MS 30000
#define OP "op-7f3a"
#define NODE "node-0000"

static char g_dir[64];
static struct kubesrv g_srv;

static int group_setup(void **state)
{
    (void)state;
    if (kubesrv_pki(g_dir, sizeof(g_dir), "/tmp/nh-drain-XXXXXX") < 0)
        return -1;
    return kubesrv_start(&g_srv, g_dir, NULL, true) < 0 ? -1 : 0;
}

static int group_teardown(void **state)
{
    (void)state;
    kubesrv_stop(&g_srv);
    kubesrv_rmdir(g_dir);
    return 0;
}

/* ---- fixture ---- */

struct fx;
typedef void (*hook_fn)(struct fx *f, const struct nh_drain_progress *p);

struct fx {
    uv_loop_t loop;
    struct nh_http *http;
    struct nh_kube *k;
    struct nh_drain *d;
    /* done */
    int done_calls;
    enum nh_drain_outcome outcome;
    struct nh_drain_progress last; /* strings below */
    char message[1600];
    char held_pod[200], held_why[800];
    bool free_in_done;
    /* progress */
    int progress_calls;
    int evicting_rounds;
    char seen_held_pod[200], seen_held_why[800];
    hook_fn hook;
};

static void ctl(const char *json)
{
    assert_int_equal(kubesrv_ctl(&g_srv, json), 0);
}

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));
    assert_non_null(f);
    assert_int_equal(uv_loop_init(&f->loop), 0);
    assert_int_equal(nh_http_new(&f->loop, NULL, &f->http), 0);
    ctl("{\"reset\":true}");
    *state = f;
    return 0;
}

/* Runs the loop for ms (whatever happens). */
static void run_for(uv_loop_t *loop, uint64_t ms)
{
    int never = 0;
    kubesrv_run_until(loop, &never, 1, ms);
}

static int teardown(void **state)
{
    struct fx *f = *state;
    nh_drain_free(f->d);
    nh_kube_free(f->k);
    nh_http_close(f->http);
    while (uv_run(&f->loop, UV_RUN_DEFAULT) != 0)
        ;
    assert_int_equal(uv_loop_close(&f->loop), 0);
    free(f);
    return 0;
}

static struct nh_kube *make_client(struct fx *f)
{
    char *y = kubesrv_kubeconfig(g_dir, g_srv.base, "ca.pem", "client.pem", "client.key", NULL);
    struct nh_kubeconfig *kc = NULL;
    char err[512] = "";
    int r =
        nh_kubeconfig_parse(y, strlen(y), NH_KUBECONFIG_YAML, NULL, NULL, &kc, err, sizeof(err));
    free(y);
    if (r != 0)
        print_error("kubeconfig: %s\n", err);
    assert_int_equal(r, 0);
    struct nh_kube *k = NULL;
    struct nh_kube_opts o = {.name = "web", .qps = 100, .burst = 50, .backoff_base_ms = 20};
    assert_int_equal(nh_kube_new(&f->loop, f->http, kc, &o, &k), 0);
    return k;
}

static void copy(char *dst, size_t len, const char *src)
{
    snprintf(dst, len, "%s", src != NULL ? src : "");
}

static void on_progress(void *ud, const struct nh_drain_progress *p)
{
    struct fx *f = ud;
    f->progress_calls++;
    assert_string_equal(p->node, NODE);
    assert_non_null(p->message);
    if (p->phase == NH_DRAIN_PHASE_EVICTING)
        f->evicting_rounds++;
    if (p->held_pod != NULL) {
        copy(f->seen_held_pod, sizeof(f->seen_held_pod), p->held_pod);
        copy(f->seen_held_why, sizeof(f->seen_held_why), p->held_why);
    }
    if (f->hook != NULL)
        f->hook(f, p);
}

static void on_drain_done(void *ud, enum nh_drain_outcome o, const struct nh_drain_progress *p)
{
    struct fx *f = ud;
    f->done_calls++;
    f->outcome = o;
    f->last = *p;
    copy(f->message, sizeof(f->message), p->message);
    copy(f->held_pod, sizeof(f->held_pod), p->held_pod);
    copy(f->held_why, sizeof(f->held_why), p->held_why);
    f->last.message = f->message;
    f->last.held_pod = p->held_pod != NULL ? f->held_pod : NULL;
    f->last.held_why = p->held_why != NULL ? f->held_why : NULL;
    f->last.node = NULL;
    assert_int_equal(p->phase, NH_DRAIN_PHASE_DONE);
    if (f->free_in_done) {
        nh_drain_free(f->d);
        f->d = NULL;
    }
}

static struct nh_drain_opts fast_opts(void)
{
    return (struct nh_drain_opts){
        .node = NODE,
        .op_id = OP,
        .timeout_ms = 20000,
        .retry_ms = 40,
        .relist_ms = 20,
    };
}

/* Starts a drain with o (NULL: fast_opts) and runs it to done. */
static void drain(struct fx *f, const struct nh_drain_opts *o)
{
    struct nh_drain_opts def = fast_opts();
    if (f->k == NULL)
        f->k = make_client(f);
    assert_int_equal(
        nh_drain_start(&f->loop, f->k, o != NULL ? o : &def, on_progress, on_drain_done, f, &f->d),
        0);
    assert_int_equal(f->done_calls, 0); /* never inside start */
    kubesrv_run_until(&f->loop, &f->done_calls, 1, DEADLINE_MS);
    assert_int_equal(f->done_calls, 1);
}

/* ---- the server's view ---- */

/* A pod of NODE in namespace shop. owner: controller kind (NULL: none);
 * annotations: a JSON object's members (NULL: none); linger: lists it
 * survives after its eviction. */
static void add_pod(const char *name, const char *owner, const char *annotations, int linger)
{
    char json[2048], own[256] = "";
    if (owner != NULL)
        snprintf(own, sizeof(own),
                 ",\"ownerReferences\":[{\"apiVersion\":\"apps/v1\",\"kind\":\"%s\",\"name\":"
                 "\"w\",\"controller\":true}]",
                 owner);
    snprintf(json, sizeof(json),
             "{\"pod_objs\":[{\"metadata\":{\"namespace\":\"shop\",\"name\":\"%s\",\"uid\":"
             "\"uid-%s\"%s,\"annotations\":{%s}},\"spec\":{\"nodeName\":\"" NODE "\"},"
             "\"status\":{\"phase\":\"Running\"},\"_linger\":%d}]}",
             name, name, own, annotations != NULL ? annotations : "", linger);
    ctl(json);
}

/* A node NODE; cordoned_by: NULL (not cordoned), "" (cordoned without our
 * annotation) or the operation id in nodeherd.io/draining. */
static void add_node(const char *cordoned_by)
{
    char json[1024];
    char ann[200] = "";
    if (cordoned_by != NULL && cordoned_by[0] != '\0')
        snprintf(ann, sizeof(ann), "\"nodeherd.io/draining\":\"%s\"", cordoned_by);
    snprintf(json, sizeof(json),
             "{\"node_objs\":[{\"kind\":\"Node\",\"apiVersion\":\"v1\",\"metadata\":{\"name\":"
             "\"" NODE "\",\"uid\":\"n-uid\",\"resourceVersion\":\"5\",\"annotations\":{%s}},"
             "\"spec\":{\"providerID\":\"cn-test.i-0\"%s},\"status\":{\"conditions\":[{\"type\":"
             "\"Ready\",\"status\":\"True\"}]}}]}",
             ann, cordoned_by != NULL ? ",\"unschedulable\":true" : "");
    ctl(json);
}

/* A 429 like the API server's for the eviction of pod name, `times` times. */
static void budget_fault(const char *name, int times, const char *retry_after)
{
    char json[2048], hdr[100] = "";
    if (retry_after != NULL)
        snprintf(hdr, sizeof(hdr), ",\"headers\":{\"Retry-After\":\"%s\"}", retry_after);
    snprintf(json, sizeof(json),
             "{\"faults\":[{\"method\":\"POST\",\"path\":\"/api/v1/namespaces/shop/pods/%s/"
             "eviction\",\"times\":%d,\"status\":429%s,\"body_json\":{\"kind\":\"Status\","
             "\"apiVersion\":\"v1\",\"status\":\"Failure\",\"reason\":\"TooManyRequests\","
             "\"message\":\"Cannot evict pod as it would violate the pod's disruption budget.\","
             "\"details\":{\"causes\":[{\"reason\":\"DisruptionBudget\",\"message\":\"The "
             "disruption budget web-pdb needs 2 healthy pods and has 2 currently\"}]},"
             "\"code\":429}}]}",
             name, times, hdr);
    ctl(json);
}

struct req {
    char method[8];
    char path[160];
    char body[600];
    double t;
};

/* The server's request log (cleared). At most max entries. */
static int srv_log(struct req *out, int max)
{
    struct json_object *root = kubesrv_json(&g_srv, "/_log?clear=1");
    assert_non_null(root);
    struct json_object *log = json_object_object_get(root, "log");
    int n = (int)json_object_array_length(log);
    for (int i = 0; i < n && i < max; i++) {
        struct json_object *e = json_object_array_get_idx(log, i);
        copy(out[i].method, sizeof(out[i].method),
             json_object_get_string(json_object_object_get(e, "method")));
        copy(out[i].path, sizeof(out[i].path),
             json_object_get_string(json_object_object_get(e, "path")));
        copy(out[i].body, sizeof(out[i].body),
             json_object_get_string(json_object_object_get(e, "body")));
        out[i].t = json_object_get_double(json_object_object_get(e, "t"));
    }
    json_object_put(root);
    return n < max ? n : max;
}

/* Checks the log holds only what a drain may send, and counts. */
struct counts {
    int lists, gets, patches, evictions;
    int first_mutation; /* index of the first PATCH/POST, -1 none */
};

static struct counts check_log(const struct req *log, int n)
{
    struct counts c = {.first_mutation = -1};
    for (int i = 0; i < n; i++) {
        const struct req *r = &log[i];
        if (strcmp(r->method, "GET") == 0 && strcmp(r->path, "/api/v1/pods") == 0) {
            c.lists++;
        } else if (strcmp(r->method, "GET") == 0 && strcmp(r->path, "/api/v1/nodes/" NODE) == 0) {
            c.gets++;
        } else if (strcmp(r->method, "PATCH") == 0 && strcmp(r->path, "/api/v1/nodes/" NODE) == 0) {
            c.patches++;
            /* a cordon, ours: never an uncordon */
            assert_non_null(strstr(r->body, "\"unschedulable\":true"));
            assert_non_null(strstr(r->body, "\"nodeherd.io/draining\":\"" OP "\""));
        } else if (strcmp(r->method, "POST") == 0 &&
                   strncmp(r->path,
                           "/api/v1/namespaces/shop/"
                           "pods/",
                           24) == 0 &&
                   strstr(r->path, "/eviction") != NULL) {
            c.evictions++;
            assert_non_null(strstr(r->body, "\"preconditions\":{\"uid\":\"uid-"));
        } else {
            fail_msg("unexpected request %s %s", r->method, r->path);
        }
        if (c.first_mutation < 0 && strcmp(r->method, "GET") != 0)
            c.first_mutation = i;
    }
    if (n > 0) /* the pods are listed before anything else */
        assert_string_equal(log[0].path, "/api/v1/pods");
    return c;
}

static int count_path(const struct req *log, int n, const char *method, const char *path)
{
    int k = 0;
    for (int i = 0; i < n; i++)
        k += strcmp(log[i].method, method) == 0 && strcmp(log[i].path, path) == 0;
    return k;
}

static void srv_node(bool *unsched, char *mark, size_t marklen)
{
    assert_int_equal(kubesrv_node(&g_srv, NODE, unsched, mark, marklen), 0);
}

/* "shop/a,shop/b" of the pods the server still has. */
static void srv_pods(char *out, size_t len)
{
    struct json_object *root = kubesrv_json(&g_srv, "/_state");
    struct json_object *pods = json_object_object_get(root, "pods");
    out[0] = '\0';
    for (size_t i = 0; i < json_object_array_length(pods); i++) {
        size_t l = strlen(out);
        snprintf(out + l, len - l, "%s%s", i ? "," : "",
                 json_object_get_string(json_object_array_get_idx(pods, i)));
    }
    json_object_put(root);
}

static void assert_cordoned_by_us(void)
{
    bool unsched = false;
    char mark[64];
    srv_node(&unsched, mark, sizeof(mark));
    assert_true(unsched);
    assert_string_equal(mark, OP);
}

/* ---- the pure part ---- */

static struct nh_kube_pod mkpod(const char *name, const char *uid, const char *owner,
                                enum nh_kube_phase phase)
{
    static char *kinds[] = {"ReplicaSet", "StatefulSet", "DaemonSet", "Job"};
    struct nh_kube_pod p = {
        .ns = (char *)"shop",
        .name = (char *)name,
        .uid = (char *)uid,
        .node = (char *)NODE,
        .phase = phase,
        .controller_kind = (char *)owner,
    };
    for (size_t i = 0; owner != NULL && i < sizeof(kinds) / sizeof(kinds[0]); i++) {
        if (strcmp(kinds[i], owner) == 0) {
            p.owner_kinds = &kinds[i];
            p.n_owner_kinds = 1;
        }
    }
    assert_true(owner == NULL || p.n_owner_kinds == 1);
    return p;
}

static void test_decide_table(void **state)
{
    (void)state;
    struct nh_kube_pod items[] = {
        mkpod("new", "u-new", "ReplicaSet", NH_KUBE_PHASE_RUNNING),         /* 0 evict */
        mkpod("ds", "u-ds", "DaemonSet", NH_KUBE_PHASE_RUNNING),            /* 1 ignore */
        mkpod("done", "u-done", "Job", NH_KUBE_PHASE_SUCCEEDED),            /* 2 ignore */
        mkpod("failed", "u-failed", NULL, NH_KUBE_PHASE_FAILED),            /* 3 ignore */
        mkpod("mirror", "u-mirror", NULL, NH_KUBE_PHASE_RUNNING),           /* 4 ignore */
        mkpod("sent", "u-sent", "ReplicaSet", NH_KUBE_PHASE_RUNNING),       /* 5 wait */
        mkpod("accepted", "u-acc", "StatefulSet", NH_KUBE_PHASE_PENDING),   /* 6 wait */
        mkpod("held-due", "u-hd", "ReplicaSet", NH_KUBE_PHASE_RUNNING),     /* 7 evict */
        mkpod("held-later", "u-hl", "ReplicaSet", NH_KUBE_PHASE_RUNNING),   /* 8 wait */
        mkpod("retry-due", "u-rd", "ReplicaSet", NH_KUBE_PHASE_UNKNOWN),    /* 9 evict */
        mkpod("replaced", "u-new-2", "StatefulSet", NH_KUBE_PHASE_RUNNING), /* 10 evict */
        mkpod("anyuid", "u-any", "ReplicaSet", NH_KUBE_PHASE_RUNNING),      /* 11 wait */
        mkpod("ok-bare", "u-okb", NULL, NH_KUBE_PHASE_RUNNING),             /* 12 evict */
    };
    items[4].mirror = true;
    items[12].safe_to_evict = (char *)"true"; /* a bare pod allowed to go */
    struct nh_kube_pod_list pods = {.items = items, .n = sizeof(items) / sizeof(items[0])};
    const struct nh_drain_mem mem[] = {
        {"shop", "sent", "u-sent", NH_DRAIN_MEM_IN_FLIGHT, 0},   /* 0 stays */
        {"shop", "accepted", "u-acc", NH_DRAIN_MEM_ACCEPTED, 0}, /* 1 stays */
        {"shop", "held-due", "u-hd", NH_DRAIN_MEM_HELD, 1000},   /* 2 stays */
        {"shop", "held-later", "u-hl", NH_DRAIN_MEM_HELD, 1001}, /* 3 stays */
        {"shop", "retry-due", "u-rd", NH_DRAIN_MEM_RETRY, 999},  /* 4 stays */
        {"shop", "replaced", "u-old", NH_DRAIN_MEM_ACCEPTED, 0}, /* 5 gone: another uid */
        {"shop", "vanished", "u-v", NH_DRAIN_MEM_ACCEPTED, 0},   /* 6 gone: not listed */
        {"shop", "done", "u-done", NH_DRAIN_MEM_ACCEPTED, 0},    /* 7 gone: finished */
        {"other", "new", "u-new", NH_DRAIN_MEM_ACCEPTED, 0},     /* 8 gone: namespace */
        {"shop", "anyuid", NULL, NH_DRAIN_MEM_ACCEPTED, 0},      /* 9 stays: no uid kept */
    };
    const size_t n_mem = sizeof(mem) / sizeof(mem[0]);
    enum nh_drain_pod_step steps[sizeof(items) / sizeof(items[0])];
    bool gone[sizeof(mem) / sizeof(mem[0])];
    struct nh_drain_tally t;
    char why[256];
    nh_drain_decide(&pods, mem, n_mem, 1000, steps, gone, &t, why, sizeof(why));
    const enum nh_drain_pod_step want[] = {
        NH_DRAIN_POD_EVICT,  NH_DRAIN_POD_IGNORE, NH_DRAIN_POD_IGNORE, NH_DRAIN_POD_IGNORE,
        NH_DRAIN_POD_IGNORE, NH_DRAIN_POD_WAIT,   NH_DRAIN_POD_WAIT,   NH_DRAIN_POD_EVICT,
        NH_DRAIN_POD_WAIT,   NH_DRAIN_POD_EVICT,  NH_DRAIN_POD_EVICT,  NH_DRAIN_POD_WAIT,
        NH_DRAIN_POD_EVICT,
    };
    for (size_t i = 0; i < pods.n; i++) {
        if (steps[i] != want[i])
            fail_msg("pod %s: %s, want %s", items[i].name, nh_drain_pod_step_name(steps[i]),
                     nh_drain_pod_step_name(want[i]));
    }
    const bool want_gone[] = {false, false, false, false, false, true, true, true, true, false};
    for (size_t j = 0; j < n_mem; j++) {
        if (gone[j] != want_gone[j])
            fail_msg("memory %zu (%s/%s): gone %d, want %d", j, mem[j].ns, mem[j].name, gone[j],
                     want_gone[j]);
    }
    assert_int_equal(t.evict, 5);
    assert_int_equal(t.wait, 4);
    assert_int_equal(t.counting, 9);
    assert_int_equal(t.ignored, 4);
    assert_int_equal(t.first_block, -1);
    assert_string_equal(why, "");

    /* one moment later the held pod is due too */
    nh_drain_decide(&pods, mem, n_mem, 1001, steps, gone, &t, NULL, 0);
    assert_int_equal(steps[8], NH_DRAIN_POD_EVICT);
    assert_int_equal(t.evict, 6);

    /* blocking pods: the first one is named, whatever the memory says */
    struct nh_kube_pod blk[] = {
        mkpod("web", "u-web", "ReplicaSet", NH_KUBE_PHASE_RUNNING),
        mkpod("bare", "u-bare", NULL, NH_KUBE_PHASE_RUNNING),
        mkpod("keep", "u-keep", "ReplicaSet", NH_KUBE_PHASE_RUNNING),
        mkpod("ds-keep", "u-dsk", "DaemonSet", NH_KUBE_PHASE_RUNNING),
        mkpod("bare-done", "u-bd", NULL, NH_KUBE_PHASE_SUCCEEDED),
        mkpod("karp", "u-karp", "ReplicaSet", NH_KUBE_PHASE_RUNNING),
    };
    blk[2].safe_to_evict = (char *)"false";
    blk[3].safe_to_evict = (char *)"false"; /* "leave me alone", even a DaemonSet pod */
    blk[5].do_not_disrupt = (char *)"true";
    struct nh_kube_pod_list bl = {.items = blk, .n = 6};
    const struct nh_drain_mem bmem[] = {{"shop", "keep", "u-keep", NH_DRAIN_MEM_ACCEPTED, 0}};
    enum nh_drain_pod_step bsteps[6];
    bool bgone[1];
    nh_drain_decide(&bl, bmem, 1, 0, bsteps, bgone, &t, why, sizeof(why));
    assert_int_equal(bsteps[0], NH_DRAIN_POD_EVICT);
    assert_int_equal(bsteps[1], NH_DRAIN_POD_BLOCKS);
    assert_int_equal(bsteps[2], NH_DRAIN_POD_BLOCKS);
    assert_int_equal(bsteps[3], NH_DRAIN_POD_BLOCKS);
    assert_int_equal(bsteps[4], NH_DRAIN_POD_IGNORE); /* finished: never blocks */
    assert_int_equal(bsteps[5], NH_DRAIN_POD_BLOCKS);
    assert_false(bgone[0]);
    assert_int_equal(t.first_block, 1);
    assert_non_null(strstr(why, "\"shop/bare\""));
    assert_non_null(strstr(why, "no controller"));

    /* nothing listed: nothing counts, every memory entry is gone */
    struct nh_kube_pod_list empty = {0};
    nh_drain_decide(&empty, bmem, 1, 0, NULL, bgone, &t, why, sizeof(why));
    assert_int_equal(t.counting, 0);
    assert_true(bgone[0]);

    assert_string_equal(nh_drain_outcome_name(NH_DRAIN_TIMED_OUT), "timed-out");
    assert_string_equal(nh_drain_outcome_name(NH_DRAIN_NOT_OURS), "not-ours");
    assert_string_equal(nh_drain_phase_name(NH_DRAIN_PHASE_EVICTING), "evicting");
    assert_string_equal(nh_drain_pod_step_name(NH_DRAIN_POD_BLOCKS), "blocks");
}

/* ---- the engine ---- */

static void test_drains_two_pods_and_leaves_the_daemonset_pod(void **state)
{
    struct fx *f = *state;
    add_node(NULL);
    add_pod("web-a", "ReplicaSet", NULL, 0);
    add_pod("web-b", "StatefulSet", NULL, 0);
    add_pod("logs", "DaemonSet", NULL, 0);
    drain(f, NULL);
    assert_int_equal(f->outcome, NH_DRAIN_DRAINED);
    assert_int_equal(f->last.evictions_sent, 2);
    assert_int_equal(f->last.evictions_refused, 0);
    assert_int_equal(f->last.pods_left, 0);
    assert_int_equal(f->last.pods_ignored, 1);
    assert_true(f->last.cordoned);
    assert_null(f->last.held_pod);
    assert_non_null(strstr(f->message, "node-0000 drained: 2 evictions sent"));
    assert_true(f->evicting_rounds >= 1);
    assert_cordoned_by_us(); /* the caller removes the node; nothing uncordons it here */
    char pods[256];
    srv_pods(pods, sizeof(pods));
    assert_string_equal(pods, "shop/logs");
    struct req log[64];
    int n = srv_log(log, 64);
    struct counts c = check_log(log, n);
    assert_int_equal(c.patches, 1);
    assert_int_equal(c.evictions, 2);
    assert_true(c.lists >= 3); /* before the cordon, after it, and the one that saw none */
    assert_string_equal(log[c.first_mutation].method, "PATCH"); /* the cordon comes first */
    assert_int_equal(count_path(log, n, "POST", "/api/v1/namespaces/shop/pods/logs/eviction"), 0);
    assert_string_equal(log[n - 1].path, "/api/v1/pods"); /* drained on a fresh list */
    /* nh_drain_get_progress: the same after done */
    assert_int_equal(nh_drain_get_progress(f->d)->evictions_sent, 2);
    assert_int_equal(nh_drain_get_progress(f->d)->phase, NH_DRAIN_PHASE_DONE);
}

static void test_terminating_pod_counts_until_gone(void **state)
{
    struct fx *f = *state;
    add_node(NULL);
    add_pod("slow", "ReplicaSet", NULL, 4); /* listed 4 more times after its eviction */
    drain(f, NULL);
    assert_int_equal(f->outcome, NH_DRAIN_DRAINED);
    assert_int_equal(f->last.evictions_sent, 1); /* accepted once: not sent again */
    struct req log[64];
    int n = srv_log(log, 64);
    struct counts c = check_log(log, n);
    assert_int_equal(c.evictions, 1);
    /* first list, then after the cordon, then 4 with the terminating pod, then none */
    assert_true(c.lists >= 6);
    char pods[64];
    srv_pods(pods, sizeof(pods));
    assert_string_equal(pods, "");
}

static void test_budget_refuses_twice_then_allows(void **state)
{
    struct fx *f = *state;
    add_node(NULL);
    add_pod("cart-0", "StatefulSet", NULL, 0);
    add_pod("web-a", "ReplicaSet", NULL, 0);
    budget_fault("cart-0", 2, NULL); /* no Retry-After: retry_ms */
    struct nh_drain_opts o = fast_opts();
    o.retry_ms = 150;
    drain(f, &o);
    assert_int_equal(f->outcome, NH_DRAIN_DRAINED);
    assert_true(f->last.evictions_refused >= 2);
    assert_int_equal(f->last.evictions_refused, 2);
    assert_int_equal(f->last.evictions_sent, 4); /* web-a once, cart-0 three times */
    assert_null(f->last.held_pod);               /* let go at the end */
    assert_string_equal(f->seen_held_pod, "shop/cart-0");
    assert_non_null(strstr(f->seen_held_why, "disruption budget"));
    assert_non_null(strstr(f->seen_held_why, "HTTP 429"));
    struct req log[128];
    int n = srv_log(log, 128);
    struct counts c = check_log(log, n);
    assert_int_equal(c.evictions, 4);
    /* each re-try came at least retry_ms after the refusal before it */
    double at[3];
    int k = 0;
    for (int i = 0; i < n; i++)
        if (strcmp(log[i].path, "/api/v1/namespaces/shop/pods/cart-0/eviction") == 0 && k < 3)
            at[k++] = log[i].t;
    assert_int_equal(k, 3);
    assert_true(at[1] - at[0] >= 150.0 - 15.0); /* 15 ms: a coarse loop clock */
    assert_true(at[2] - at[1] >= 150.0 - 15.0);
    char pods[64];
    srv_pods(pods, sizeof(pods));
    assert_string_equal(pods, "");
}

static void test_budget_retry_after_is_honoured_and_capped(void **state)
{
    struct fx *f = *state;
    add_node(NULL);
    add_pod("cart-0", "StatefulSet", NULL, 0);
    budget_fault("cart-0", 1, "2"); /* the server asks for 2 s */
    struct nh_drain_opts o = fast_opts();
    o.retry_ms = 10;
    o.retry_max_ms = 400; /* capped */
    drain(f, &o);
    assert_int_equal(f->outcome, NH_DRAIN_DRAINED);
    assert_int_equal(f->last.evictions_refused, 1);
    struct req log[64];
    int n = srv_log(log, 64);
    check_log(log, n);
    double at[2];
    int k = 0;
    for (int i = 0; i < n; i++)
        if (strcmp(log[i].method, "POST") == 0 && k < 2)
            at[k++] = log[i].t;
    assert_int_equal(k, 2);
    /* the server's wait, capped: not retry_ms, not 2 s */
    assert_true(at[1] - at[0] >= 400.0 - 15.0);
}

static void test_timeout_while_a_budget_keeps_refusing(void **state)
{
    struct fx *f = *state;
    add_node(NULL);
    add_pod("cart-0", "StatefulSet", NULL, 0);
    add_pod("web-a", "ReplicaSet", NULL, 0);
    budget_fault("cart-0", 100000, NULL);
    struct nh_drain_opts o = fast_opts();
    o.timeout_ms = 2500;
    o.retry_ms = 100;
    drain(f, &o);
    assert_int_equal(f->outcome, NH_DRAIN_TIMED_OUT);
    assert_true(f->last.evictions_refused >= 1);
    assert_true(f->last.cordoned);
    assert_int_equal(f->last.pods_left, 1);
    assert_string_equal(f->held_pod, "shop/cart-0");
    assert_non_null(strstr(f->held_why, "disruption budget"));
    assert_non_null(strstr(f->message, "node node-0000: drain timed out after 2500 ms"));
    assert_non_null(strstr(f->message, "pod shop/cart-0 is held by a PodDisruptionBudget"));
    assert_non_null(strstr(f->message, "stays cordoned by operation " OP ": uncordon it"));
    assert_cordoned_by_us(); /* the caller's job to uncordon */
    char pods[64];
    srv_pods(pods, sizeof(pods));
    assert_string_equal(pods, "shop/cart-0"); /* never deleted */
    /* nothing more is sent after done */
    struct req log[256];
    int n = srv_log(log, 256);
    struct counts c = check_log(log, n);
    assert_true(c.evictions >= 2);
    run_for(&f->loop, 300);
    n = srv_log(log, 256);
    assert_true(n <= 2); /* at most what was already on its way */
}

static void test_bare_pod_blocks_without_cordoning(void **state)
{
    struct fx *f = *state;
    add_node(NULL);
    add_pod("web-a", "ReplicaSet", NULL, 0);
    add_pod("bare", NULL, NULL, 0);
    drain(f, NULL);
    assert_int_equal(f->outcome, NH_DRAIN_BLOCKED);
    assert_false(f->last.cordoned);
    assert_int_equal(f->last.evictions_sent, 0);
    assert_non_null(strstr(f->message, "node node-0000: not drained: pod \"shop/bare\" has no "
                                       "controller"));
    assert_non_null(strstr(f->message, "nothing was evicted"));
    bool unsched = true;
    char mark[64];
    srv_node(&unsched, mark, sizeof(mark));
    assert_false(unsched);
    assert_string_equal(mark, "");
    struct req log[16];
    int n = srv_log(log, 16);
    struct counts c = check_log(log, n);
    assert_int_equal(n, 1); /* one list, nothing else */
    assert_int_equal(c.lists, 1);
    char pods[64];
    srv_pods(pods, sizeof(pods));
    assert_string_equal(pods, "shop/web-a,shop/bare");
}

/* Once the drain evicts, a pod marked safe-to-evict "false" shows up. */
static void add_blocker(struct fx *f, const struct nh_drain_progress *p)
{
    if (p->phase == NH_DRAIN_PHASE_EVICTING && f->evicting_rounds == 1)
        add_pod("keep", "ReplicaSet",
                "\"cluster-autoscaler.kubernetes.io/safe-to-evict\":\"false\"", 0);
}

static void test_pod_turning_blocking_mid_drain_stops_it_cordoned(void **state)
{
    struct fx *f = *state;
    add_node(NULL);
    add_pod("slow", "ReplicaSet", NULL, 50);
    f->hook = add_blocker;
    drain(f, NULL);
    assert_int_equal(f->outcome, NH_DRAIN_BLOCKED);
    assert_true(f->last.cordoned);
    assert_non_null(strstr(f->message, "drain stopped: pod \"shop/keep\" has "
                                       "cluster-autoscaler.kubernetes.io/safe-to-evict: "
                                       "\"false\""));
    assert_non_null(strstr(f->message, "stays cordoned by operation " OP));
    assert_cordoned_by_us();
    struct req log[64];
    int n = srv_log(log, 64);
    struct counts c = check_log(log, n);
    assert_int_equal(c.evictions, 1); /* "slow" only; "keep" never */
    assert_int_equal(count_path(log, n, "POST", "/api/v1/namespaces/shop/pods/keep/eviction"), 0);
}

static void test_node_cordoned_by_someone_else_is_not_ours(void **state)
{
    struct fx *f = *state;
    add_node(""); /* kubectl cordon: no annotation */
    add_pod("web-a", "ReplicaSet", NULL, 0);
    drain(f, NULL);
    assert_int_equal(f->outcome, NH_DRAIN_NOT_OURS);
    assert_false(f->last.cordoned);
    assert_int_equal(f->last.evictions_sent, 0);
    assert_non_null(strstr(f->message, "node node-0000: not drained:"));
    assert_non_null(strstr(f->message, "cordoned by someone else"));
    struct req log[16];
    int n = srv_log(log, 16);
    struct counts c = check_log(log, n);
    assert_int_equal(c.patches, 0);
    assert_int_equal(c.evictions, 0);
    char pods[64];
    srv_pods(pods, sizeof(pods));
    assert_string_equal(pods, "shop/web-a");

    /* cordoned by another nodeherd operation: not ours either */
    ctl("{\"reset\":true}");
    add_node("op-other");
    add_pod("web-a", "ReplicaSet", NULL, 0);
    nh_drain_free(f->d);
    f->d = NULL;
    f->done_calls = 0;
    drain(f, NULL);
    assert_int_equal(f->outcome, NH_DRAIN_NOT_OURS);
    n = srv_log(log, 16);
    c = check_log(log, n);
    assert_int_equal(c.patches + c.evictions, 0);
    bool unsched = false;
    char mark[64];
    srv_node(&unsched, mark, sizeof(mark));
    assert_true(unsched);
    assert_string_equal(mark, "op-other");
}

static void test_resume_with_the_same_op_id(void **state)
{
    struct fx *f = *state;
    add_node(OP); /* cordoned by this operation before a restart */
    add_pod("web-a", "ReplicaSet", NULL, 0);
    add_pod("logs", "DaemonSet", NULL, 0);
    drain(f, NULL);
    assert_int_equal(f->outcome, NH_DRAIN_DRAINED);
    assert_true(f->last.cordoned);
    assert_int_equal(f->last.evictions_sent, 1);
    struct req log[64];
    int n = srv_log(log, 64);
    struct counts c = check_log(log, n);
    assert_int_equal(c.gets, 1);    /* read, found ours */
    assert_int_equal(c.patches, 0); /* and left as it is */
    assert_int_equal(c.evictions, 1);
    assert_cordoned_by_us();
}

static void test_list_500_fails_with_a_message(void **state)
{
    struct fx *f = *state;
    add_node(NULL);
    add_pod("web-a", "ReplicaSet", NULL, 0);
    ctl("{\"faults\":[{\"method\":\"GET\",\"path\":\"/api/v1/pods\",\"times\":100,\"status\":500,"
        "\"body_json\":{\"kind\":\"Status\",\"message\":\"etcdserver: request timed out\","
        "\"code\":500}}]}");
    drain(f, NULL);
    assert_int_equal(f->outcome, NH_DRAIN_FAILED);
    assert_false(f->last.cordoned);
    assert_non_null(strstr(f->message, "node node-0000: cannot list the node's pods"));
    assert_non_null(strstr(f->message, "GET /api/v1/pods"));
    assert_non_null(strstr(f->message, "HTTP 500: etcdserver: request timed out"));
    struct req log[16];
    int n = srv_log(log, 16);
    struct counts c = check_log(log, n);
    assert_int_equal(c.patches + c.evictions, 0);
    assert_int_equal(c.lists, 3); /* the client's own attempts */
}

static void test_several_budgets_fail_the_drain(void **state)
{
    struct fx *f = *state;
    add_node(NULL);
    add_pod("web-a", "ReplicaSet", NULL, 0);
    ctl("{\"faults\":[{\"method\":\"POST\",\"path\":\"/api/v1/namespaces/shop/pods/web-a/"
        "eviction\",\"status\":500,\"body_json\":{\"kind\":\"Status\",\"message\":\"This pod "
        "has more than one PodDisruptionBudget, which the eviction subresource does not "
        "support.\",\"code\":500}}]}");
    drain(f, NULL);
    assert_int_equal(f->outcome, NH_DRAIN_FAILED);
    assert_true(f->last.cordoned);
    assert_non_null(strstr(f->message, "eviction of pod shop/web-a failed"));
    assert_non_null(strstr(f->message, "more than one PodDisruptionBudget"));
    assert_non_null(strstr(f->message, "uncordon it"));
    char pods[64];
    srv_pods(pods, sizeof(pods));
    assert_string_equal(pods, "shop/web-a");
}

static void test_transient_eviction_answers_are_tried_again_then_fail(void **state)
{
    struct fx *f = *state;
    add_node(NULL);
    add_pod("web-a", "ReplicaSet", NULL, 0);
    /* a 503 to an eviction may or may not have been applied: the next list
     * tells, and the eviction (never a delete) is sent again */
    ctl("{\"faults\":[{\"method\":\"POST\",\"path\":\"/api/v1/namespaces/shop/pods/web-a/"
        "eviction\",\"times\":2,\"status\":503}]}");
    drain(f, NULL);
    assert_int_equal(f->outcome, NH_DRAIN_DRAINED);
    assert_int_equal(f->last.evictions_sent, 3);
    assert_int_equal(f->last.evictions_refused, 0);
    struct req log[64];
    int n = srv_log(log, 64);
    assert_int_equal(check_log(log, n).evictions, 3);

    /* ... but not for ever */
    ctl("{\"reset\":true}");
    add_node(NULL);
    add_pod("web-a", "ReplicaSet", NULL, 0);
    ctl("{\"faults\":[{\"method\":\"POST\",\"path\":\"/api/v1/namespaces/shop/pods/web-a/"
        "eviction\",\"times\":100,\"status\":503}]}");
    nh_drain_free(f->d);
    f->d = NULL;
    f->done_calls = 0;
    drain(f, NULL);
    assert_int_equal(f->outcome, NH_DRAIN_FAILED);
    assert_int_equal(f->last.evictions_sent, NH_DRAIN_MAX_EVICT_ERRORS + 1);
    assert_non_null(strstr(f->message, "eviction of pod shop/web-a failed 4 times in a row"));
    assert_non_null(strstr(f->message, "HTTP 503"));
    assert_non_null(strstr(f->message, "uncordon it"));
    char pods[64];
    srv_pods(pods, sizeof(pods));
    assert_string_equal(pods, "shop/web-a");
}

static void test_cordon_not_applied_is_sent_again(void **state)
{
    struct fx *f = *state;
    add_node(NULL);
    add_pod("web-a", "ReplicaSet", NULL, 0);
    ctl("{\"faults\":[{\"method\":\"PATCH\",\"path\":\"/api/v1/nodes/" NODE "\",\"status\":"
        "503}]}");
    drain(f, NULL);
    assert_int_equal(f->outcome, NH_DRAIN_DRAINED);
    struct req log[64];
    int n = srv_log(log, 64);
    struct counts c = check_log(log, n);
    assert_int_equal(c.patches, 2); /* read again, found not cordoned, cordoned */
    assert_int_equal(c.gets, 2);
    assert_cordoned_by_us();
}

static void test_cancel_mid_drain(void **state)
{
    struct fx *f = *state;
    add_node(NULL);
    add_pod("cart-0", "StatefulSet", NULL, 0);
    budget_fault("cart-0", 100000, NULL);
    struct nh_drain_opts o = fast_opts();
    f->k = make_client(f);
    assert_int_equal(nh_drain_start(&f->loop, f->k, &o, on_progress, on_drain_done, f, &f->d), 0);
    /* until the budget has refused once and a later round saw it held */
    uint64_t until = uv_now(&f->loop) + DEADLINE_MS;
    while (f->seen_held_pod[0] == '\0' && uv_now(&f->loop) < until && f->done_calls == 0)
        run_for(&f->loop, 10);
    assert_string_equal(f->seen_held_pod, "shop/cart-0");
    assert_int_equal(f->done_calls, 0);
    f->free_in_done = true; /* free from inside done */
    nh_drain_cancel(f->d);
    assert_int_equal(f->done_calls, 1); /* before cancel returned */
    assert_int_equal(f->outcome, NH_DRAIN_CANCELLED);
    assert_null(f->d);
    assert_true(f->last.cordoned);
    assert_non_null(strstr(f->message, "drain cancelled after"));
    assert_cordoned_by_us(); /* cancel does not uncordon */
    srv_log((struct req[1]){0}, 1);
    run_for(&f->loop, 300);
    struct req log[8];
    assert_true(srv_log(log, 8) <= 2); /* nothing new but what was on its way */
    assert_int_equal(f->done_calls, 1);
    char pods[64];
    srv_pods(pods, sizeof(pods));
    assert_string_equal(pods, "shop/cart-0");
}

static void test_bad_arguments_refused(void **state)
{
    struct fx *f = *state;
    f->k = make_client(f);
    struct nh_drain_opts o = fast_opts();
    struct nh_drain *d = NULL;
    o.node = "Node_1";
    assert_int_equal(nh_drain_start(&f->loop, f->k, &o, NULL, on_drain_done, f, &d), -EINVAL);
    o = fast_opts();
    o.op_id = "op 1";
    assert_int_equal(nh_drain_start(&f->loop, f->k, &o, NULL, on_drain_done, f, &d), -EINVAL);
    o = fast_opts();
    assert_int_equal(nh_drain_start(&f->loop, f->k, &o, NULL, NULL, f, &d), -EINVAL);
    assert_int_equal(nh_drain_start(&f->loop, NULL, &o, NULL, on_drain_done, f, &d), -EINVAL);
    assert_null(d);
    assert_int_equal(nh_kube_pending(f->k), 0);
    nh_drain_cancel(NULL);
    nh_drain_free(NULL);
    assert_null(nh_drain_get_progress(NULL));
    /* freed before done: quietly, no done */
    add_node(NULL);
    assert_int_equal(nh_drain_start(&f->loop, f->k, &o, NULL, on_drain_done, f, &d), 0);
    nh_drain_free(d);
    run_for(&f->loop, 100);
    assert_int_equal(f->done_calls, 0);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_decide_table),
        T(test_drains_two_pods_and_leaves_the_daemonset_pod),
        T(test_terminating_pod_counts_until_gone),
        T(test_budget_refuses_twice_then_allows),
        T(test_budget_retry_after_is_honoured_and_capped),
        T(test_timeout_while_a_budget_keeps_refusing),
        T(test_bare_pod_blocks_without_cordoning),
        T(test_pod_turning_blocking_mid_drain_stops_it_cordoned),
        T(test_node_cordoned_by_someone_else_is_not_ours),
        T(test_resume_with_the_same_op_id),
        T(test_list_500_fails_with_a_message),
        T(test_several_budgets_fail_the_drain),
        T(test_transient_eviction_answers_are_tried_again_then_fail),
        T(test_cordon_not_applied_is_sent_again),
        T(test_cancel_mid_drain),
        T(test_bad_arguments_refused),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
