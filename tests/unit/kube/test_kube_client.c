/* test_kube_client.c - nh_kube against kubesrv.py on 127.0.0.1 over https:
 * a throwaway CA, server and client certificates made at test time with the
 * openssl CLI; one server requires client certificates, the other accepts
 * a bearer token (as a real API server does, client certificates
 * optional). Covers paging with continue, the 410 restart, page caps,
 * pods of a node, cordon/uncordon (GET + PATCH with a resourceVersion
 * precondition, 409 re-read, foreign cordons left alone), eviction
 * outcomes (201, 429 with Retry-After not retried, 404, uid precondition,
 * several budgets, 5xx unknown), TLS (client certificate accepted, wrong CA
 * and unknown client certificate refused without retries, no connection
 * reuse across CAs), bearer tokens never in messages or logs, the token
 * bucket, hostile answers, cancellation. Every test ends with
 * uv_loop_close() == 0. Assertions wait on conditions with generous
 * deadlines (busy 2-core machines). */
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

#include "kube/kube.h"
#include "kubesrv.h"
#include "net/http.h"
#include "util/log.h"

#define TOKEN "tok-SECRET-7f3a9c1e55d2"
#define DEADLINE_MS 30000

static char g_dir[64];
static struct kubesrv g_cert; /* requires client certificates */
static struct kubesrv g_tok;  /* optional client certificates, accepts TOKEN */

static int group_setup(void **state)
{
    (void)state;
    if (kubesrv_pki(g_dir, sizeof(g_dir), "/tmp/nh-kube-XXXXXX") < 0)
        return -1;
    if (kubesrv_start(&g_cert, g_dir, NULL, true) < 0)
        return -1;
    if (kubesrv_start(&g_tok, g_dir, TOKEN, false) < 0)
        return -1;
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    kubesrv_stop(&g_cert);
    kubesrv_stop(&g_tok);
    kubesrv_rmdir(g_dir);
    return 0;
}

/* ---- fixture ---- */

struct attempt_log {
    int sent, answered;
    uint64_t sent_at[64];
    int status[64];
};

struct fx {
    uv_loop_t loop;
    struct nh_http *http;
    struct nh_kube *k;
    struct attempt_log att;
};

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));
    assert_non_null(f);
    assert_int_equal(uv_loop_init(&f->loop), 0);
    assert_int_equal(nh_http_new(&f->loop, NULL, &f->http), 0);
    assert_int_equal(kubesrv_ctl(&g_cert, "{\"reset\":true}"), 0);
    assert_int_equal(kubesrv_ctl(&g_tok, "{\"reset\":true}"), 0);
    *state = f;
    return 0;
}

static void on_closed_flag(uv_handle_t *hd)
{
    *(bool *)hd->data = true;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    nh_kube_free(f->k);
    nh_http_close(f->http);
    while (uv_run(&f->loop, UV_RUN_DEFAULT) != 0)
        ;
    assert_int_equal(uv_loop_close(&f->loop), 0);
    free(f);
    return 0;
}

static void on_attempt(void *ud, const struct nh_kube_attempt *a)
{
    struct attempt_log *l = ud;
    if (!a->answered) {
        if (l->sent < 64)
            l->sent_at[l->sent] = a->at_ms;
        l->sent++;
    } else {
        if (l->answered < 64)
            l->status[l->answered] = a->status;
        l->answered++;
    }
}

/* A client of srv with the named PKI files (NULL: left out). */
static struct nh_kube *make_client(struct fx *f, const struct kubesrv *srv, const char *ca,
                                   const char *cert, const char *key, const char *token,
                                   const struct nh_kube_opts *opts)
{
    char *y = kubesrv_kubeconfig(g_dir, srv->base, ca, cert, key, token);
    struct nh_kubeconfig *kc = NULL;
    char err[512] = "";
    int r =
        nh_kubeconfig_parse(y, strlen(y), NH_KUBECONFIG_YAML, NULL, NULL, &kc, err, sizeof(err));
    free(y);
    if (r != 0)
        print_error("kubeconfig: %s\n", err);
    assert_int_equal(r, 0);
    struct nh_kube *k = NULL;
    struct nh_kube_opts o = opts != NULL ? *opts : (struct nh_kube_opts){0};
    if (o.name == NULL)
        o.name = "web";
    if (o.backoff_base_ms == 0)
        o.backoff_base_ms = 20;
    assert_int_equal(nh_kube_new(&f->loop, f->http, kc, &o, &k), 0);
    nh_kube_set_observer(k, on_attempt, &f->att);
    return k;
}

static struct nh_kube *cert_client(struct fx *f, const struct nh_kube_opts *opts)
{
    return make_client(f, &g_cert, "ca.pem", "client.pem", "client.key", NULL, opts);
}

/* ---- results ---- */

struct res {
    int calls;
    enum nh_kube_code code;
    int status;
    uint64_t retry;
    bool hinted;
    char msg[700];
    struct nh_kube_node_list *nodes;
    struct nh_kube_pod_list *pods;
};

static void take(struct res *r, const struct nh_kube_result *kr)
{
    r->calls++;
    r->code = kr->code;
    r->status = kr->http_status;
    r->retry = kr->retry_after_ms;
    r->hinted = kr->retry_hinted;
    snprintf(r->msg, sizeof(r->msg), "%s", kr->message);
    assert_non_null(kr->message);
}

static void on_nodes(void *ud, const struct nh_kube_result *kr, struct nh_kube_node_list *l)
{
    struct res *r = ud;
    take(r, kr);
    assert_true((kr->code == NH_KUBE_OK) == (l != NULL));
    nh_kube_node_list_free(r->nodes);
    r->nodes = l;
}

static void on_pods(void *ud, const struct nh_kube_result *kr, struct nh_kube_pod_list *l)
{
    struct res *r = ud;
    take(r, kr);
    assert_true((kr->code == NH_KUBE_OK) == (l != NULL));
    nh_kube_pod_list_free(r->pods);
    r->pods = l;
}

static void on_done(void *ud, const struct nh_kube_result *kr)
{
    take(ud, kr);
}

static void res_clear(struct res *r)
{
    nh_kube_node_list_free(r->nodes);
    nh_kube_pod_list_free(r->pods);
    memset(r, 0, sizeof(*r));
}

static void wait_res(struct fx *f, struct res *r)
{
    kubesrv_run_until(&f->loop, &r->calls, 1, DEADLINE_MS);
    assert_int_equal(r->calls, 1);
}

/* ---- the server's request log ---- */

struct req {
    char method[8];
    char path[128];
    char query[1024];
    char auth[64];
    char ctype[64];
    char body[512];
};

static int srv_log(const struct kubesrv *s, struct req *out, int max)
{
    struct json_object *root = kubesrv_json(s, "/_log?clear=1");
    assert_non_null(root);
    struct json_object *log = json_object_object_get(root, "log");
    int n = (int)json_object_array_length(log);
    for (int i = 0; i < n && i < max; i++) {
        struct json_object *e = json_object_array_get_idx(log, i);
#define F(name) json_object_get_string(json_object_object_get(e, #name))
        snprintf(out[i].method, sizeof(out[i].method), "%s", F(method));
        snprintf(out[i].path, sizeof(out[i].path), "%s", F(path));
        snprintf(out[i].query, sizeof(out[i].query), "%s", F(query));
        snprintf(out[i].auth, sizeof(out[i].auth), "%s", F(auth));
        snprintf(out[i].ctype, sizeof(out[i].ctype), "%s", F(ctype));
        snprintf(out[i].body, sizeof(out[i].body), "%s", F(body));
#undef F
    }
    json_object_put(root);
    return n;
}

/* /_state's view of one node. */
static void srv_node(const struct kubesrv *s, const char *name, bool *unsched, char *mark,
                     size_t marklen)
{
    assert_int_equal(kubesrv_node(s, name, unsched, mark, marklen), 0);
}

static int srv_pods(const struct kubesrv *s)
{
    struct json_object *root = kubesrv_json(s, "/_state");
    int n = (int)json_object_array_length(json_object_object_get(root, "pods"));
    json_object_put(root);
    return n;
}

static void ctl(const struct kubesrv *s, const char *json)
{
    assert_int_equal(kubesrv_ctl(s, json), 0);
}

/* ---- lists ---- */

static void test_nodes_paged_with_client_certificate(void **state)
{
    struct fx *f = *state;
    ctl(&g_cert, "{\"nodes\":1203}");
    f->k = cert_client(f, NULL);
    struct res r = {0};
    assert_int_equal(nh_kube_list_nodes(f->k, on_nodes, &r), 0);
    assert_int_equal(r.calls, 0); /* never inside the call */
    wait_res(f, &r);
    if (r.code != NH_KUBE_OK)
        print_error("%s\n", r.msg);
    assert_int_equal(r.code, NH_KUBE_OK);
    assert_int_equal(r.nodes->n, 1203);
    for (size_t i = 0; i < r.nodes->n; i++) {
        char want[32];
        snprintf(want, sizeof(want), "node-%04zu", i);
        assert_string_equal(r.nodes->items[i].name, want);
    }
    const struct nh_kube_node *n = &r.nodes->items[505];
    assert_string_equal(n->provider_id, "cn-test.i-0505");
    assert_string_equal(n->internal_ip, "10.0.2.6");
    assert_string_equal(n->uid, "uid-node-0505");
    assert_int_equal(n->ready, NH_KUBE_READY_TRUE);
    assert_false(n->unschedulable);
    assert_string_equal(nh_kube_node_label(n, "kubernetes.io/hostname"), "node-0505");
    assert_true(n->created > 1709200000);
    assert_non_null(strstr(r.msg, "3 pages"));
    struct req log[8];
    assert_int_equal(srv_log(&g_cert, log, 8), 3);
    for (int i = 0; i < 3; i++) {
        assert_string_equal(log[i].method, "GET");
        assert_string_equal(log[i].path, "/api/v1/nodes");
        assert_string_equal(log[i].auth, "cert:nodeherd-test");
    }
    assert_string_equal(log[0].query, "limit=500");
    assert_non_null(strstr(log[1].query, "limit=500&continue="));
    assert_non_null(strstr(log[2].query, "&continue="));
    res_clear(&r);
}

static void test_nodes_walk_restarts_once_on_410(void **state)
{
    struct fx *f = *state;
    ctl(&g_cert, "{\"nodes\":1203,\"faults\":[{\"method\":\"GET\",\"path\":\"/api/v1/nodes\","
                 "\"query_has\":\"continue=\",\"status\":410,\"body_json\":{\"kind\":\"Status\","
                 "\"reason\":\"Expired\",\"message\":\"The provided continue parameter is too "
                 "old\",\"code\":410}}]}");
    f->k = cert_client(f, NULL);
    struct res r = {0};
    assert_int_equal(nh_kube_list_nodes(f->k, on_nodes, &r), 0);
    wait_res(f, &r);
    assert_int_equal(r.code, NH_KUBE_OK);
    assert_int_equal(r.nodes->n, 1203); /* nothing twice */
    for (size_t i = 1; i < r.nodes->n; i++)
        assert_true(strcmp(r.nodes->items[i - 1].name, r.nodes->items[i].name) < 0);
    struct req log[8];
    assert_int_equal(srv_log(&g_cert, log, 8), 5);
    assert_string_equal(log[0].query, "limit=500");
    assert_non_null(strstr(log[1].query, "continue=")); /* 410 */
    assert_string_equal(log[2].query, "limit=500");     /* from the beginning */
    res_clear(&r);
}

static void test_nodes_second_410_gives_up(void **state)
{
    struct fx *f = *state;
    ctl(&g_cert, "{\"nodes\":1203,\"faults\":[{\"method\":\"GET\",\"path\":\"/api/v1/nodes\","
                 "\"query_has\":\"continue=\",\"times\":2,\"status\":410}]}");
    f->k = cert_client(f, NULL);
    struct res r = {0};
    assert_int_equal(nh_kube_list_nodes(f->k, on_nodes, &r), 0);
    wait_res(f, &r);
    assert_int_equal(r.code, NH_KUBE_UNAVAILABLE);
    assert_int_equal(r.status, 410);
    assert_null(r.nodes);
    assert_non_null(strstr(r.msg, "cluster web: GET /api/v1/nodes"));
    assert_non_null(strstr(r.msg, "410"));
    struct req log[8];
    assert_int_equal(srv_log(&g_cert, log, 8), 4);
    res_clear(&r);
}

static void test_nodes_page_cap(void **state)
{
    struct fx *f = *state;
    ctl(&g_cert, "{\"nodes\":1203}");
    f->k = cert_client(f, &(struct nh_kube_opts){.max_pages = 2});
    struct res r = {0};
    assert_int_equal(nh_kube_list_nodes(f->k, on_nodes, &r), 0);
    wait_res(f, &r);
    assert_int_equal(r.code, NH_KUBE_BAD_ANSWER);
    assert_non_null(strstr(r.msg, "more than 2 pages"));
    struct req log[8];
    assert_int_equal(srv_log(&g_cert, log, 8), 2);
    res_clear(&r);
}

static void test_pods_of_one_node_paged(void **state)
{
    struct fx *f = *state;
    ctl(&g_cert, "{\"gen_pods\":{\"node\":\"node-0001\",\"count\":7}}");
    ctl(&g_cert, "{\"gen_pods\":{\"node\":\"node-0002\",\"count\":2}}");
    f->k = cert_client(f, &(struct nh_kube_opts){.page_limit = 3});
    struct res r = {0};
    assert_int_equal(nh_kube_list_pods(f->k, "node-0001", on_pods, &r), 0);
    wait_res(f, &r);
    assert_int_equal(r.code, NH_KUBE_OK);
    assert_int_equal(r.pods->n, 7);
    assert_string_equal(r.pods->items[6].name, "node-0001-pod-6");
    assert_string_equal(r.pods->items[6].controller_kind, "ReplicaSet");
    assert_int_equal(nh_kube_pods_counting(r.pods), 7);
    struct req log[8];
    assert_int_equal(srv_log(&g_cert, log, 8), 3);
    assert_string_equal(log[0].path, "/api/v1/pods");
    assert_string_equal(log[0].query, "fieldSelector=spec.nodeName%3Dnode-0001&limit=3");
    res_clear(&r);
}

/* ---- eviction ---- */

static void test_eviction_outcomes(void **state)
{
    struct fx *f = *state;
    ctl(&g_cert, "{\"gen_pods\":{\"node\":\"node-0001\",\"count\":3}}");
    f->k = cert_client(f, NULL);
    struct res r = {0};
    /* accepted (uid precondition holds): the pod goes */
    assert_int_equal(
        nh_kube_evict(f->k, "shop", "node-0001-pod-0", "pod-uid-node-0001-0", on_done, &r), 0);
    wait_res(f, &r);
    assert_int_equal(r.code, NH_KUBE_OK);
    assert_int_equal(r.status, 201);
    assert_int_equal(srv_pods(&g_cert), 2);
    struct req log[8];
    assert_int_equal(srv_log(&g_cert, log, 8), 1);
    assert_string_equal(log[0].method, "POST");
    assert_string_equal(log[0].path, "/api/v1/namespaces/shop/pods/node-0001-pod-0/eviction");
    assert_string_equal(log[0].ctype, "application/json");
    assert_non_null(strstr(log[0].body, "\"apiVersion\":\"policy/v1\",\"kind\":\"Eviction\""));
    assert_non_null(strstr(log[0].body, "\"preconditions\":{\"uid\":\"pod-uid-node-0001-0\"}"));
    /* already gone */
    res_clear(&r);
    assert_int_equal(nh_kube_evict(f->k, "shop", "node-0001-pod-0", NULL, on_done, &r), 0);
    wait_res(f, &r);
    assert_int_equal(r.code, NH_KUBE_GONE);
    assert_int_equal(r.status, 404);
    /* a new pod of that name (another uid): the one we meant is gone */
    res_clear(&r);
    assert_int_equal(nh_kube_evict(f->k, "shop", "node-0001-pod-1", "old-uid", on_done, &r), 0);
    wait_res(f, &r);
    assert_int_equal(r.code, NH_KUBE_GONE);
    assert_int_equal(r.status, 409);
    assert_int_equal(srv_pods(&g_cert), 2);
    res_clear(&r);
}

static void test_eviction_budget_429_is_returned_not_retried(void **state)
{
    struct fx *f = *state;
    ctl(&g_cert, "{\"gen_pods\":{\"node\":\"node-0001\",\"count\":1},\"faults\":[{\"method\":"
                 "\"POST\",\"path\":\"/api/v1/namespaces/\",\"prefix\":true,\"status\":429,"
                 "\"headers\":{\"Retry-After\":\"7\"},\"body_json\":{\"kind\":\"Status\","
                 "\"reason\":\"TooManyRequests\",\"message\":\"Cannot evict pod as it would "
                 "violate the pod's disruption budget.\",\"details\":{\"causes\":[{\"reason\":"
                 "\"DisruptionBudget\"}]},\"code\":429}}]}");
    f->k = cert_client(f, NULL);
    struct res r = {0};
    assert_int_equal(nh_kube_evict(f->k, "shop", "node-0001-pod-0", NULL, on_done, &r), 0);
    wait_res(f, &r);
    assert_int_equal(r.code, NH_KUBE_BUDGET);
    assert_int_equal(r.status, 429);
    assert_int_equal(r.retry, 7000);
    assert_true(r.hinted); /* the server's own wait */
    assert_non_null(strstr(r.msg, "disruption budget"));
    assert_non_null(strstr(r.msg, "never delete the pod"));
    struct req log[8];
    assert_int_equal(srv_log(&g_cert, log, 8), 1); /* once: the caller decides when again */
    assert_int_equal(srv_pods(&g_cert), 1);
    assert_int_equal(f->att.sent, 1);
    res_clear(&r);
    /* no Retry-After (what a budget's 429 usually carries): the default wait */
    ctl(&g_cert, "{\"faults\":[{\"method\":\"POST\",\"path\":\"/api/v1/namespaces/\",\"prefix\":"
                 "true,\"status\":429,\"body_json\":{\"kind\":\"Status\",\"reason\":"
                 "\"TooManyRequests\",\"message\":\"Cannot evict pod as it would violate the "
                 "pod's disruption budget.\",\"code\":429}}]}");
    assert_int_equal(nh_kube_evict(f->k, "shop", "node-0001-pod-0", NULL, on_done, &r), 0);
    wait_res(f, &r);
    assert_int_equal(r.code, NH_KUBE_BUDGET);
    assert_int_equal(r.retry, 5000);
    assert_false(r.hinted);
    res_clear(&r);
}

static void test_eviction_several_budgets_and_unknown(void **state)
{
    struct fx *f = *state;
    ctl(&g_cert, "{\"gen_pods\":{\"node\":\"node-0001\",\"count\":2},\"faults\":[{\"method\":"
                 "\"POST\",\"path\":\"/api/v1/namespaces/shop/pods/node-0001-pod-0/eviction\","
                 "\"status\":500,\"body_json\":{\"kind\":\"Status\",\"message\":\"This pod has "
                 "more than one PodDisruptionBudget, which the eviction subresource does not "
                 "support.\",\"code\":500}},{\"method\":\"POST\",\"path\":"
                 "\"/api/v1/namespaces/shop/pods/node-0001-pod-1/eviction\",\"status\":503}]}");
    f->k = cert_client(f, NULL);
    struct res r = {0};
    assert_int_equal(nh_kube_evict(f->k, "shop", "node-0001-pod-0", NULL, on_done, &r), 0);
    wait_res(f, &r);
    assert_int_equal(r.code, NH_KUBE_MISCONFIGURED);
    assert_non_null(strstr(r.msg, "more than one PodDisruptionBudget"));
    res_clear(&r);
    assert_int_equal(nh_kube_evict(f->k, "shop", "node-0001-pod-1", NULL, on_done, &r), 0);
    wait_res(f, &r);
    assert_int_equal(r.code, NH_KUBE_UNKNOWN); /* a mutation's 5xx: never re-sent */
    assert_int_equal(r.status, 503);
    struct req log[8];
    assert_int_equal(srv_log(&g_cert, log, 8), 2);
    res_clear(&r);
}

/* ---- cordon / uncordon ---- */

static void test_cordon_uncordon_only_our_own(void **state)
{
    struct fx *f = *state;
    ctl(&g_cert, "{\"nodes\":3}");
    f->k = cert_client(f, NULL);
    struct res r = {0};
    bool unsched;
    char mark[64];
    struct req log[8];

    assert_int_equal(nh_kube_cordon(f->k, "node-0001", "op-1", on_done, &r), 0);
    wait_res(f, &r);
    assert_int_equal(r.code, NH_KUBE_OK);
    srv_node(&g_cert, "node-0001", &unsched, mark, sizeof(mark));
    assert_true(unsched);
    assert_string_equal(mark, "op-1");
    assert_int_equal(srv_log(&g_cert, log, 8), 2);
    assert_string_equal(log[0].method, "GET");
    assert_string_equal(log[0].path, "/api/v1/nodes/node-0001");
    assert_string_equal(log[1].method, "PATCH");
    assert_string_equal(log[1].ctype, "application/merge-patch+json");
    assert_string_equal(log[1].body, "{\"metadata\":{\"resourceVersion\":\"1\",\"annotations\":{"
                                     "\"nodeherd.io/draining\":\"op-1\"}},\"spec\":{"
                                     "\"unschedulable\":true}}");
    /* again by the same operation: nothing to send */
    res_clear(&r);
    assert_int_equal(nh_kube_cordon(f->k, "node-0001", "op-1", on_done, &r), 0);
    wait_res(f, &r);
    assert_int_equal(r.code, NH_KUBE_OK);
    assert_int_equal(srv_log(&g_cert, log, 8), 1);
    /* another operation may neither cordon it as its own nor undo it */
    res_clear(&r);
    assert_int_equal(nh_kube_cordon(f->k, "node-0001", "op-2", on_done, &r), 0);
    wait_res(f, &r);
    assert_int_equal(r.code, NH_KUBE_NOT_OURS);
    res_clear(&r);
    assert_int_equal(nh_kube_uncordon(f->k, "node-0001", "op-2", on_done, &r), 0);
    wait_res(f, &r);
    assert_int_equal(r.code, NH_KUBE_NOT_OURS);
    assert_non_null(strstr(r.msg, "was not cordoned by operation op-2"));
    assert_int_equal(srv_log(&g_cert, log, 8), 2); /* two GETs, no PATCH */
    assert_string_equal(log[0].method, "GET");
    assert_string_equal(log[1].method, "GET");
    /* the owner undoes it */
    res_clear(&r);
    assert_int_equal(nh_kube_uncordon(f->k, "node-0001", "op-1", on_done, &r), 0);
    wait_res(f, &r);
    assert_int_equal(r.code, NH_KUBE_OK);
    srv_node(&g_cert, "node-0001", &unsched, mark, sizeof(mark));
    assert_false(unsched);
    assert_string_equal(mark, "");
    assert_int_equal(srv_log(&g_cert, log, 8), 2);
    assert_string_equal(log[1].body, "{\"metadata\":{\"resourceVersion\":\"2\",\"annotations\":{"
                                     "\"nodeherd.io/draining\":null}},\"spec\":{"
                                     "\"unschedulable\":null}}");
    /* a node that does not exist */
    res_clear(&r);
    assert_int_equal(nh_kube_cordon(f->k, "node-0099", "op-1", on_done, &r), 0);
    wait_res(f, &r);
    assert_int_equal(r.code, NH_KUBE_GONE);
    res_clear(&r);
}

/* The leadership gate (HA): every attempt of a mutation asks it; a "no"
 * sends nothing; reads never ask. */
struct gate {
    bool ok;
    int asked;
};

static void test_gate(void *ud, void (*cb)(void *arg, bool ok), void *arg)
{
    struct gate *g = ud;
    g->asked++;
    cb(arg, g->ok);
}

static void test_mutations_pass_the_gate(void **state)
{
    struct fx *f = *state;
    ctl(&g_cert, "{\"nodes\":3}");
    f->k = cert_client(f, NULL);
    struct gate g = {.ok = false};
    nh_kube_set_gate(f->k, test_gate, &g);
    struct res r = {0};
    struct req log[8];
    bool unsched;
    char mark[64];

    /* a follower: the PATCH is not sent (the GET before it is a read) */
    assert_int_equal(nh_kube_cordon(f->k, "node-0001", "op-1", on_done, &r), 0);
    wait_res(f, &r);
    assert_int_equal(r.code, NH_KUBE_UNAVAILABLE);
    assert_non_null(strstr(r.msg, "not sent"));
    assert_int_equal(g.asked, 1);
    assert_int_equal(srv_log(&g_cert, log, 8), 1);
    assert_string_equal(log[0].method, "GET");
    srv_node(&g_cert, "node-0001", &unsched, mark, sizeof(mark));
    assert_false(unsched);
    res_clear(&r);
    assert_int_equal(nh_kube_evict(f->k, "shop", "node-0001-pod-0", NULL, on_done, &r), 0);
    wait_res(f, &r);
    assert_int_equal(r.code, NH_KUBE_UNAVAILABLE);
    assert_int_equal(srv_log(&g_cert, log, 8), 0);
    res_clear(&r);
    assert_int_equal(g.asked, 2); /* the GET before the PATCH never asked */
    /* the leader: it goes */
    g.ok = true;
    assert_int_equal(nh_kube_cordon(f->k, "node-0001", "op-1", on_done, &r), 0);
    wait_res(f, &r);
    assert_int_equal(r.code, NH_KUBE_OK);
    assert_int_equal(g.asked, 3);
    srv_node(&g_cert, "node-0001", &unsched, mark, sizeof(mark));
    assert_true(unsched);
    res_clear(&r);
}

static void test_cordon_leaves_a_foreign_cordon_alone(void **state)
{
    struct fx *f = *state;
    ctl(&g_cert, "{\"node_objs\":[{\"metadata\":{\"name\":\"admin-cordoned\",\"uid\":\"u1\","
                 "\"resourceVersion\":\"5\"},\"spec\":{\"unschedulable\":true}}]}");
    f->k = cert_client(f, NULL);
    struct res r = {0};
    assert_int_equal(nh_kube_cordon(f->k, "admin-cordoned", "op-1", on_done, &r), 0);
    wait_res(f, &r);
    assert_int_equal(r.code, NH_KUBE_NOT_OURS);
    assert_non_null(strstr(r.msg, "already cordoned by someone else"));
    res_clear(&r);
    assert_int_equal(nh_kube_uncordon(f->k, "admin-cordoned", "op-1", on_done, &r), 0);
    wait_res(f, &r);
    assert_int_equal(r.code, NH_KUBE_NOT_OURS);
    bool unsched;
    char mark[64];
    srv_node(&g_cert, "admin-cordoned", &unsched, mark, sizeof(mark));
    assert_true(unsched);
    struct req log[8];
    assert_int_equal(srv_log(&g_cert, log, 8), 2);
    assert_string_equal(log[1].method, "GET"); /* no PATCH at all */
    res_clear(&r);
}

static void test_cordon_conflict_reads_again(void **state)
{
    struct fx *f = *state;
    ctl(&g_cert, "{\"nodes\":2,\"faults\":[{\"method\":\"PATCH\",\"path\":"
                 "\"/api/v1/nodes/node-0001\",\"status\":409,\"body_json\":{\"kind\":\"Status\","
                 "\"reason\":\"Conflict\",\"code\":409}}]}");
    f->k = cert_client(f, NULL);
    struct res r = {0};
    assert_int_equal(nh_kube_cordon(f->k, "node-0001", "op-1", on_done, &r), 0);
    wait_res(f, &r);
    assert_int_equal(r.code, NH_KUBE_OK);
    struct req log[8];
    assert_int_equal(srv_log(&g_cert, log, 8), 4);
    const char *want[] = {"GET", "PATCH", "GET", "PATCH"};
    for (int i = 0; i < 4; i++)
        assert_string_equal(log[i].method, want[i]);
    res_clear(&r);
}

/* ---- TLS and credentials ---- */

static void test_tls_wrong_ca_refused_and_not_retried(void **state)
{
    struct fx *f = *state;
    ctl(&g_cert, "{\"nodes\":1}");
    /* a good client first: its connection is cached in the shared nh_http */
    f->k = cert_client(f, NULL);
    struct res r = {0};
    assert_int_equal(nh_kube_list_nodes(f->k, on_nodes, &r), 0);
    wait_res(f, &r);
    assert_int_equal(r.code, NH_KUBE_OK);
    res_clear(&r);
    struct req log[8];
    assert_int_equal(srv_log(&g_cert, log, 8), 1);
    /* the same server, the same client certificate, another CA: refused */
    struct nh_kube *bad =
        make_client(f, &g_cert, "other-ca.pem", "client.pem", "client.key", NULL, NULL);
    struct attempt_log before = f->att;
    assert_int_equal(nh_kube_list_nodes(bad, on_nodes, &r), 0);
    wait_res(f, &r);
    assert_int_equal(r.code, NH_KUBE_TLS);
    assert_non_null(strstr(r.msg, "TLS"));
    assert_non_null(strstr(r.msg, "certificate-authority-data"));
    assert_int_equal(f->att.sent - before.sent, 1); /* not retried */
    assert_int_equal(srv_log(&g_cert, log, 8), 0);  /* nothing reached the API */
    res_clear(&r);
    nh_kube_free(bad);
}

static void test_tls_unknown_client_certificate_refused(void **state)
{
    struct fx *f = *state;
    ctl(&g_cert, "{\"nodes\":1}");
    /* Signed by an unrelated CA: the server refuses it. With TLS 1.3 the
     * refusal comes after our side of the handshake: when the server's
     * alert is read it is TLS at once; when the server's close wins the
     * race (a reset, "broken pipe"), it cannot be told from a network
     * failure and ends UNAVAILABLE after the bounded attempts. Either way
     * nothing reaches the API and there are at most max_attempts tries. */
    struct res r = {0};
    for (int round = 0; round < 2; round++) {
        nh_kube_free(f->k);
        memset(&f->att, 0, sizeof(f->att));
        if (round == 0) /* an unknown client certificate */
            f->k = make_client(f, &g_cert, "ca.pem", "rogue.pem", "rogue.key", NULL, NULL);
        else /* no certificate at all where one is required */
            f->k = make_client(f, &g_cert, "ca.pem", NULL, NULL, TOKEN, NULL);
        assert_int_equal(nh_kube_list_nodes(f->k, on_nodes, &r), 0);
        wait_res(f, &r);
        if (getenv("NH_TEST_VERBOSE") != NULL ||
            (r.code != NH_KUBE_TLS && r.code != NH_KUBE_UNAVAILABLE))
            print_message("round %d: %s after %d: %s\n", round, nh_kube_code_name(r.code),
                          f->att.sent, r.msg);
        assert_true(r.code == NH_KUBE_TLS || r.code == NH_KUBE_UNAVAILABLE);
        /* TLS as soon as an alert is read (maybe after a reset or two) */
        assert_true(f->att.sent >= 1 && f->att.sent <= 3);
        if (r.code == NH_KUBE_UNAVAILABLE)
            assert_int_equal(f->att.sent, 3);
        assert_null(strstr(r.msg, "SECRET"));
        res_clear(&r);
    }
    struct req log[8];
    assert_int_equal(srv_log(&g_cert, log, 8), 0);
}

static void test_bearer_token_used_and_never_shown(void **state)
{
    struct fx *f = *state;
    char *logbuf = NULL;
    size_t loglen = 0;
    FILE *mem = open_memstream(&logbuf, &loglen);
    int old_max = nh_log_max;
    nh_log_set_stream(mem);
    nh_log_max = LOG_DEBUG;

    ctl(&g_tok, "{\"nodes\":2}");
    f->k = make_client(f, &g_tok, "ca.pem", NULL, NULL, TOKEN, NULL);
    struct res r = {0};
    assert_int_equal(nh_kube_list_nodes(f->k, on_nodes, &r), 0);
    wait_res(f, &r);
    assert_int_equal(r.code, NH_KUBE_OK);
    assert_int_equal(r.nodes->n, 2);
    struct req log[8];
    assert_int_equal(srv_log(&g_tok, log, 8), 1);
    assert_string_equal(log[0].auth, "bearer");
    res_clear(&r);
    /* a wrong token: 401, DENIED, and neither token in the message */
    struct nh_kube *bad =
        make_client(f, &g_tok, "ca.pem", NULL, NULL, "tok-SECRET-wrong-one", NULL);
    assert_int_equal(nh_kube_list_nodes(bad, on_nodes, &r), 0);
    wait_res(f, &r);
    assert_int_equal(r.code, NH_KUBE_DENIED);
    assert_int_equal(r.status, 401);
    assert_null(strstr(r.msg, "SECRET"));
    assert_non_null(strstr(r.msg, "credentials"));
    assert_int_equal(srv_log(&g_tok, log, 8), 1);
    assert_string_equal(log[0].auth, "bearer-bad");
    assert_null(strstr(nh_kube_describe(bad), "SECRET"));
    res_clear(&r);
    nh_kube_free(bad);

    nh_log_max = old_max;
    nh_log_set_stream(NULL);
    fclose(mem);
    assert_true(loglen > 0);               /* debug lines were written... */
    assert_null(strstr(logbuf, "SECRET")); /* ...without any token */
    free(logbuf);
}

static void test_credentials_renewed_in_place(void **state)
{
    struct fx *f = *state;
    ctl(&g_tok, "{\"nodes\":1}");
    f->k = make_client(f, &g_tok, "ca.pem", NULL, NULL, "tok-SECRET-expired", NULL);
    struct res r = {0};
    assert_int_equal(nh_kube_list_nodes(f->k, on_nodes, &r), 0);
    wait_res(f, &r);
    assert_int_equal(r.code, NH_KUBE_DENIED);
    res_clear(&r);
    char *y = kubesrv_kubeconfig(g_dir, g_tok.base, "ca.pem", NULL, NULL, TOKEN);
    struct nh_kubeconfig *kc = NULL;
    assert_int_equal(
        nh_kubeconfig_parse(y, strlen(y), NH_KUBECONFIG_YAML, NULL, NULL, &kc, NULL, 0), 0);
    free(y);
    nh_kube_set_credentials(f->k, kc);
    assert_int_equal(nh_kube_list_nodes(f->k, on_nodes, &r), 0);
    wait_res(f, &r);
    assert_int_equal(r.code, NH_KUBE_OK);
    res_clear(&r);
}

/* ---- pacing ---- */

static void check_bucket(const struct attempt_log *a, int n, uint64_t t0, double qps, double burst)
{
    assert_int_equal(a->sent, n);
    for (int i = 0; i < n; i++) {
        /* never more requests by then than the bucket had tokens */
        double allowed = burst + qps * (double)(a->sent_at[i] - t0) / 1000.0;
        if ((double)(i + 1) > allowed + 1e-9)
            print_error("request %d at +%llu ms: %.2f tokens allowed\n", i,
                        (unsigned long long)(a->sent_at[i] - t0), allowed);
        assert_true((double)(i + 1) <= allowed + 1e-9);
    }
}

static void run_n_lists(struct fx *f, int n, struct res *rs)
{
    for (int i = 0; i < n; i++)
        assert_int_equal(nh_kube_list_pods(f->k, "node-0000", on_pods, &rs[i]), 0);
    for (int i = 0; i < n; i++) {
        kubesrv_run_until(&f->loop, &rs[i].calls, 1, DEADLINE_MS);
        assert_int_equal(rs[i].code, NH_KUBE_OK);
        res_clear(&rs[i]);
    }
}

static void test_rate_limit_bucket(void **state)
{
    struct fx *f = *state;
    struct res rs[12];
    memset(rs, 0, sizeof(rs));
    uv_update_time(&f->loop);
    uint64_t t0 = uv_now(&f->loop);
    f->k = cert_client(f, &(struct nh_kube_opts){.qps = 20, .burst = 3});
    run_n_lists(f, 12, rs);
    check_bucket(&f->att, 12, t0, 20, 3);
    /* 9 requests beyond the burst at 20/s: at least 450 ms */
    assert_true(f->att.sent_at[11] - t0 >= 450);
    struct req log[16];
    assert_int_equal(srv_log(&g_cert, log, 16), 12);
}

static void test_rate_limit_defaults_are_client_go(void **state)
{
    struct fx *f = *state;
    struct res rs[12];
    memset(rs, 0, sizeof(rs));
    uv_update_time(&f->loop);
    uint64_t t0 = uv_now(&f->loop);
    f->k = cert_client(f, NULL); /* 5/s, burst 10 */
    run_n_lists(f, 12, rs);
    check_bucket(&f->att, 12, t0, 5, 10);
    assert_true(f->att.sent_at[10] - t0 >= 200); /* the 11th waits for a token */
    assert_true(f->att.sent_at[11] - t0 >= 400);
}

static void test_reads_retried_after_503_with_retry_after(void **state)
{
    struct fx *f = *state;
    ctl(&g_cert, "{\"nodes\":2,\"faults\":[{\"method\":\"GET\",\"path\":\"/api/v1/nodes\","
                 "\"status\":503,\"headers\":{\"Retry-After\":\"1\"}},{\"method\":\"GET\","
                 "\"path\":\"/api/v1/nodes\",\"status\":429}]}");
    f->k = cert_client(f, NULL);
    struct res r = {0};
    assert_int_equal(nh_kube_list_nodes(f->k, on_nodes, &r), 0);
    wait_res(f, &r);
    assert_int_equal(r.code, NH_KUBE_OK);
    assert_int_equal(r.nodes->n, 2);
    assert_int_equal(f->att.sent, 3);
    assert_true(f->att.sent_at[1] - f->att.sent_at[0] >= 1000); /* Retry-After: 1 */
    res_clear(&r);
    /* always failing: given up after max_attempts, as UNAVAILABLE */
    ctl(&g_cert, "{\"faults\":[{\"method\":\"GET\",\"path\":\"/api/v1/nodes\",\"times\":9,"
                 "\"status\":500}]}");
    assert_int_equal(nh_kube_list_nodes(f->k, on_nodes, &r), 0);
    wait_res(f, &r);
    assert_int_equal(r.code, NH_KUBE_UNAVAILABLE);
    assert_non_null(strstr(r.msg, "after 3 attempts"));
    res_clear(&r);
}

/* ---- hostile answers ---- */

static void test_hostile_answers_are_bad_answers(void **state)
{
    struct fx *f = *state;
    static const char *const bodies[] = {
        "<html><body>502 Bad Gateway</body></html>",
        "{\"kind\":\"NodeList\",\"items\":[{\"metadata\":{\"name\":\"n1\"",
        "{\"kind\":\"NodeList\",\"items\":{}}",
        "{\"kind\":\"NodeList\",\"items\":[{\"metadata\":{\"name\":\"../../x\",\"uid\":\"u\"}}]}",
        "{\"kind\":\"Status\",\"status\":\"Success\"}",
        "{\"kind\":\"NodeList\",\"items\":[{\"metadata\":{\"name\":\"n1\",\"uid\":\"u\"},"
        "\"spec\":{\"unschedulable\":\"yes\"}}]}",
        "",
    };
    f->k = cert_client(f, NULL);
    for (size_t i = 0; i < sizeof(bodies) / sizeof(bodies[0]); i++) {
        struct json_object *s = json_object_new_string(bodies[i]);
        char ctl_json[1024];
        snprintf(ctl_json, sizeof(ctl_json),
                 "{\"faults\":[{\"method\":\"GET\",\"path\":\"/api/v1/nodes\",\"status\":200,"
                 "\"body\":%s}]}",
                 json_object_to_json_string(s));
        json_object_put(s);
        ctl(&g_cert, ctl_json);
        struct res r = {0};
        assert_int_equal(nh_kube_list_nodes(f->k, on_nodes, &r), 0);
        wait_res(f, &r);
        if (r.code != NH_KUBE_BAD_ANSWER)
            print_error("body %zu: %s %s\n", i, nh_kube_code_name(r.code), r.msg);
        assert_int_equal(r.code, NH_KUBE_BAD_ANSWER);
        assert_non_null(strstr(r.msg, "cluster web: GET /api/v1/nodes: HTTP 200"));
        res_clear(&r);
    }
    /* a node GET before a cordon: hostile too, and nothing is patched */
    ctl(&g_cert, "{\"faults\":[{\"method\":\"GET\",\"path\":\"/api/v1/nodes/n1\",\"status\":200,"
                 "\"body\":\"{\\\"kind\\\":\\\"Node\\\",\\\"metadata\\\":{\\\"name\\\":\\\"n1\\\""
                 ",\\\"uid\\\":\\\"u\\\"}}\"}]}");
    struct res r = {0};
    assert_int_equal(nh_kube_cordon(f->k, "n1", "op-1", on_done, &r), 0);
    wait_res(f, &r);
    assert_int_equal(r.code, NH_KUBE_BAD_ANSWER); /* no resourceVersion */
    struct req log[16];
    int n = srv_log(&g_cert, log, 16);
    for (int i = 0; i < n && i < 16; i++)
        assert_string_not_equal(log[i].method, "PATCH");
    res_clear(&r);
}

static void test_answer_over_max_body_refused(void **state)
{
    struct fx *f = *state;
    ctl(&g_cert, "{\"nodes\":50}");
    f->k = cert_client(f, &(struct nh_kube_opts){.max_body = 4096});
    struct res r = {0};
    assert_int_equal(nh_kube_list_nodes(f->k, on_nodes, &r), 0);
    wait_res(f, &r);
    assert_int_equal(r.code, NH_KUBE_BAD_ANSWER);
    assert_non_null(strstr(r.msg, "larger than 4096 bytes"));
    res_clear(&r);
}

/* ---- lifecycle ---- */

struct poll_ctx {
    struct nh_http *h;
    int *idle;
};

static void on_poll_idle(uv_timer_t *t)
{
    struct poll_ctx *pc = t->data;
    if (nh_http_in_flight(pc->h) == 0)
        *pc->idle = 1;
}

static void test_free_cancels_everything_at_once(void **state)
{
    struct fx *f = *state;
    ctl(&g_cert, "{\"nodes\":1,\"faults\":[{\"method\":\"GET\",\"path\":\"/api/v1/nodes\","
                 "\"delay_ms\":20000,\"status\":200,\"body\":\"{}\"}]}");
    f->k = cert_client(f, &(struct nh_kube_opts){.qps = 1, .burst = 1});
    struct res a = {0}, b = {0}, c = {0};
    assert_int_equal(nh_kube_list_nodes(f->k, on_nodes, &a), 0); /* in flight, stalled */
    assert_int_equal(nh_kube_evict(f->k, "shop", "p", NULL, on_done, &b), 0); /* queued */
    assert_int_equal(nh_kube_cordon(f->k, "n1", "op-1", on_done, &c), 0);     /* queued */
    assert_int_equal(nh_kube_pending(f->k), 3);
    kubesrv_run_until(&f->loop, &f->att.sent, 1, DEADLINE_MS);
    assert_int_equal(f->att.sent, 1);
    nh_kube_free(f->k);
    f->k = NULL;
    assert_int_equal(a.calls, 1);
    assert_int_equal(b.calls, 1);
    assert_int_equal(c.calls, 1);
    assert_int_equal(a.code, NH_KUBE_CANCELLED);
    assert_int_equal(b.code, NH_KUBE_CANCELLED);
    assert_int_equal(c.code, NH_KUBE_CANCELLED);
    res_clear(&a);
    res_clear(&b);
    res_clear(&c);
    /* the stalled transfer was cancelled, not left to run out: the HTTP
     * layer is idle long before the server's 20 s delay */
    int idle = 0;
    uv_timer_t poll;
    uv_timer_init(&f->loop, &poll);
    struct poll_ctx pc = {f->http, &idle};
    poll.data = &pc;
    uv_timer_start(&poll, on_poll_idle, 10, 10);
    kubesrv_run_until(&f->loop, &idle, 1, 5000);
    bool closed = false;
    poll.data = &closed;
    uv_close((uv_handle_t *)&poll, on_closed_flag);
    while (!closed)
        uv_run(&f->loop, UV_RUN_NOWAIT);
    assert_int_equal(idle, 1);
    assert_int_equal(nh_http_in_flight(f->http), 0);
}

static void test_bad_arguments_refused(void **state)
{
    struct fx *f = *state;
    f->k = cert_client(f, NULL);
    struct res r = {0};
    assert_int_equal(nh_kube_list_pods(f->k, "Node_1", on_pods, &r), -EINVAL);
    assert_int_equal(nh_kube_list_pods(f->k, "n1", NULL, &r), -EINVAL);
    assert_int_equal(nh_kube_cordon(f->k, "../nodes", "op", on_done, &r), -EINVAL);
    assert_int_equal(nh_kube_cordon(f->k, "n1", "op 1", on_done, &r), -EINVAL);
    assert_int_equal(nh_kube_uncordon(f->k, "n1", "", on_done, &r), -EINVAL);
    assert_int_equal(nh_kube_evict(f->k, "shop/x", "p", NULL, on_done, &r), -EINVAL);
    assert_int_equal(nh_kube_evict(f->k, "shop", "p", "a\"b", on_done, &r), -EINVAL);
    assert_int_equal(nh_kube_pending(f->k), 0);
    uv_run(&f->loop, UV_RUN_NOWAIT);
    assert_int_equal(r.calls, 0);
    assert_int_equal(nh_kube_new(&f->loop, f->http, NULL, NULL, &(struct nh_kube *){0}), -EINVAL);
    assert_non_null(strstr(nh_kube_describe(f->k), "cluster web: context \"test\""));
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_nodes_paged_with_client_certificate),
        T(test_nodes_walk_restarts_once_on_410),
        T(test_nodes_second_410_gives_up),
        T(test_nodes_page_cap),
        T(test_pods_of_one_node_paged),
        T(test_eviction_outcomes),
        T(test_eviction_budget_429_is_returned_not_retried),
        T(test_eviction_several_budgets_and_unknown),
        T(test_cordon_uncordon_only_our_own),
        T(test_cordon_leaves_a_foreign_cordon_alone),
        T(test_mutations_pass_the_gate),
        T(test_cordon_conflict_reads_again),
        T(test_tls_wrong_ca_refused_and_not_retried),
        T(test_tls_unknown_client_certificate_refused),
        T(test_bearer_token_used_and_never_shown),
        T(test_credentials_renewed_in_place),
        T(test_rate_limit_bucket),
        T(test_rate_limit_defaults_are_client_go),
        T(test_reads_retried_after_503_with_retry_after),
        T(test_hostile_answers_are_bad_answers),
        T(test_answer_over_max_body_refused),
        T(test_free_cancels_everything_at_once),
        T(test_bad_arguments_refused),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
