/* test_kube_parse.c - the pure parsers, classifiers and body writers of
 * kube/parse.h: NodeList/PodList/Node answers (good, then a table of
 * hostile and truncated ones that must fail with the field named and leave
 * the list as it was), Status bodies, eviction and patch outcomes, request
 * bodies, names, times. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "kube/parse.h"
#include "util/buf.h"

/* Two nodes as an API server writes them (trimmed): a dual-stack node
 * cordoned and NotReady, and a plain one; a continue token. */
static const char NODE_LIST[] =
    "{\"kind\":\"NodeList\",\"apiVersion\":\"v1\",\"metadata\":{\"resourceVersion\":\"8812\","
    "\"continue\":\"eyJ2IjoibWV0YS5rOHMuaW8vdjEiLCJydiI6ODgxMiwic3RhcnQiOiJuMlx1MDAwMCJ9\","
    "\"remainingItemCount\":3},\"items\":["
    "{\"metadata\":{\"name\":\"cn-hangzhou.10.0.0.1\",\"uid\":\"3f1e-aa\","
    "\"resourceVersion\":\"77\",\"creationTimestamp\":\"2024-03-01T10:20:30Z\","
    "\"labels\":{\"kubernetes.io/hostname\":\"h1\",\"nodeherd.io/protect\":\"true\"},"
    "\"annotations\":{\"nodeherd.io/draining\":\"op-7\",\"big\":\"%BIG%\"},"
    "\"managedFields\":[{\"manager\":\"kubelet\",\"fieldsV1\":{\"f:status\":{}}}]},"
    "\"spec\":{\"providerID\":\"cn-hangzhou.i-bp1\",\"unschedulable\":true,"
    "\"taints\":[{\"key\":\"node.kubernetes.io/unschedulable\",\"effect\":\"NoSchedule\"}]},"
    "\"status\":{\"conditions\":[{\"type\":\"DiskPressure\",\"status\":\"False\"},"
    "{\"type\":\"Ready\",\"status\":\"False\",\"reason\":\"KubeletNotReady\"}],"
    "\"addresses\":[{\"type\":\"InternalIP\",\"address\":\"fd00::1\"},"
    "{\"type\":\"Hostname\",\"address\":\"h1\"},"
    "{\"type\":\"InternalIP\",\"address\":\"10.0.0.1\"}]}},"
    "{\"metadata\":{\"name\":\"n2\",\"uid\":\"u2\"},\"spec\":{},"
    "\"status\":{\"conditions\":[{\"type\":\"Ready\",\"status\":\"True\"}]}}]}";

static char *with_big(const char *tpl, size_t big)
{
    struct nh_buf b;
    nh_buf_init(&b, 0);
    const char *m = strstr(tpl, "%BIG%");
    nh_buf_append(&b, tpl, (size_t)(m - tpl));
    for (size_t i = 0; i < big; i++)
        nh_buf_append(&b, "x", 1);
    nh_buf_appends(&b, m + 5);
    return nh_buf_steal(&b);
}

static void test_node_list_fields(void **state)
{
    (void)state;
    char *body = with_big(NODE_LIST, 5000);
    struct nh_kube_node_list l = {0};
    char *cont = NULL, err[256] = "";
    int r = nh_kube_parse_node_list(body, strlen(body), &l, 100, &cont, err, sizeof(err));
    if (r != 0)
        print_error("%s\n", err);
    assert_int_equal(r, 0);
    assert_int_equal(l.n, 2);
    assert_string_equal(cont,
                        "eyJ2IjoibWV0YS5rOHMuaW8vdjEiLCJydiI6ODgxMiwic3RhcnQiOiJuMlx1MDAwMCJ9");
    const struct nh_kube_node *a = &l.items[0], *b = &l.items[1];
    assert_string_equal(a->name, "cn-hangzhou.10.0.0.1");
    assert_string_equal(a->uid, "3f1e-aa");
    assert_string_equal(a->provider_id, "cn-hangzhou.i-bp1");
    assert_string_equal(a->internal_ip, "10.0.0.1"); /* IPv4 preferred */
    assert_true(a->unschedulable);
    assert_int_equal(a->ready, NH_KUBE_READY_FALSE);
    assert_int_equal(a->created, 1709288430);
    assert_string_equal(nh_kube_node_label(a, "nodeherd.io/protect"), "true");
    assert_int_equal(a->n_labels, 2);
    assert_string_equal(nh_kube_node_annotation(a, "nodeherd.io/draining"), "op-7");
    assert_null(nh_kube_node_annotation(a, "big")); /* 5000 bytes: not kept */
    assert_int_equal(a->n_annotations_skipped, 1);
    assert_string_equal(b->name, "n2");
    assert_null(b->provider_id);
    assert_null(b->internal_ip);
    assert_false(b->unschedulable);
    assert_int_equal(b->ready, NH_KUBE_READY_TRUE);
    assert_int_equal(b->created, 0);
    /* a second page appends; the last page has no continue */
    free(cont);
    const char *last = "{\"kind\":\"NodeList\",\"metadata\":{\"continue\":\"\"},"
                       "\"items\":[{\"metadata\":{\"name\":\"n3\",\"uid\":\"u3\"}}]}";
    assert_int_equal(nh_kube_parse_node_list(last, strlen(last), &l, 100, &cont, err, sizeof(err)),
                     0);
    assert_null(cont);
    assert_int_equal(l.n, 3);
    assert_int_equal(l.items[2].ready, NH_KUBE_READY_UNKNOWN); /* no Ready condition */
    for (size_t i = 0; i < l.n; i++)
        nh_kube_node_clear(&l.items[i]);
    free(l.items);
    free(body);
}

static void test_node_list_empty_and_null_items(void **state)
{
    (void)state;
    const char *bodies[] = {"{\"kind\":\"NodeList\",\"items\":[]}", "{\"items\":null}",
                            " {\"apiVersion\":\"v1\",\"metadata\":{},\"items\":[]} \n"};
    for (size_t i = 0; i < 3; i++) {
        struct nh_kube_node_list l = {0};
        char *cont = (char *)1, err[128];
        assert_int_equal(
            nh_kube_parse_node_list(bodies[i], strlen(bodies[i]), &l, 10, &cont, err, sizeof(err)),
            0);
        assert_int_equal(l.n, 0);
        assert_null(cont);
        free(l.items);
    }
}

struct bad {
    const char *body;
    const char *frag;
};

#define N1 "{\"metadata\":{\"name\":\"n1\",\"uid\":\"u1\"" /* metadata left open */
#define LIST(items) "{\"kind\":\"NodeList\",\"items\":[" items "]}"

static void test_node_list_hostile_table(void **state)
{
    (void)state;
    static const struct bad t[] = {
        {"", "empty body"},
        {"<html>502 Bad Gateway</html>", "invalid JSON"},
        {"{\"kind\":\"NodeList\",\"items\":[" N1 "}}", "truncated JSON"},
        {LIST(N1 "}}") "garbage", "invalid JSON"},
        {"[]", "expected a JSON object"},
        {"null", "truncated JSON"}, /* json-c cannot end a bare literal without more input */
        {"{\"kind\":\"NodeList\"}", "items: missing"},
        {"{\"kind\":\"PodList\",\"items\":[]}", "kind: \"PodList\""},
        {"{\"items\":{}}", "items: expected a list, got an object"},
        {"{\"metadata\":{\"continue\":7},\"items\":[]}", "metadata.continue: expected a string"},
        {LIST("3"), "items[0]: expected an object, got a number"},
        {LIST("null"), "items[0]: expected an object, got null"},
        {LIST("{}"), "items[0].metadata: missing"},
        {LIST("{\"metadata\":{\"uid\":\"u\"}}"), "items[0].metadata.name: missing"},
        {LIST("{\"metadata\":{\"name\":\"n1\"}}"), "items[0].metadata.uid: missing"},
        {LIST("{\"metadata\":{\"name\":\"Node_1\",\"uid\":\"u\"}}"), "not a valid node name"},
        {LIST("{\"metadata\":{\"name\":\"../etc\",\"uid\":\"u\"}}"), "not a valid node name"},
        {LIST("{\"metadata\":{\"name\":\"a\\u0000b\",\"uid\":\"u\"}}"), "contains a NUL"},
        {LIST("{\"metadata\":{\"name\":7,\"uid\":\"u\"}}"),
         "metadata.name: expected a string, got a number"},
        {LIST(N1 ",\"labels\":{\"a\":1}}}"), "metadata.labels[\"a\"]: expected a string"},
        {LIST(N1 ",\"labels\":[]}}"), "metadata.labels: expected an object"},
        {LIST(N1 ",\"annotations\":{\"a\":true}}}"), "expected a string, got a boolean"},
        {LIST(N1 ",\"creationTimestamp\":\"yesterday\"}}"), "not an RFC 3339 time"},
        {LIST(N1 "},\"spec\":{\"unschedulable\":\"true\"}}"),
         "spec.unschedulable: expected a boolean, got a string"},
        {LIST(N1 "},\"spec\":{\"providerID\":[]}}"), "spec.providerID: expected a string"},
        {LIST(N1 "},\"status\":{\"conditions\":{}}}"), "status.conditions: expected a list"},
        {LIST(N1 "},\"status\":{\"conditions\":[{\"type\":\"Ready\"}]}}"),
         "status.conditions[0].status: missing"},
        {LIST(N1 "},\"status\":{\"addresses\":[{\"type\":\"InternalIP\",\"address\":\"10.0.0."
                 "999\"}]}}"),
         "status.addresses[0].address: \"10.0.0.999\" is not an IP address"},
        {LIST(N1 "},\"status\":{\"addresses\":[{\"type\":\"InternalIP\"}]}}"),
         "status.addresses[0].address: missing"},
        {LIST(N1 "}}") "\xff", "invalid JSON"},
        {"{\"items\":[{\"metadata\":{\"name\":\"\xc3\x28\",\"uid\":\"u\"}}]}", "invalid JSON"},
    };
    for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
        struct nh_kube_node_list l = {0};
        /* one node already there: a failed page must leave it alone */
        struct nh_kube_node *pre = nh_kube_node_list_add(&l);
        pre->name = strdup("keep");
        char *cont = (char *)1, err[256] = "";
        int r =
            nh_kube_parse_node_list(t[i].body, strlen(t[i].body), &l, 100, &cont, err, sizeof(err));
        if (r >= 0 || strstr(err, t[i].frag) == NULL)
            print_error("row %zu: r=%d err=\"%s\" (want \"%s\")\n", i, r, err, t[i].frag);
        assert_true(r < 0);
        assert_non_null(strstr(err, t[i].frag));
        assert_int_equal(l.n, 1);
        assert_string_equal(l.items[0].name, "keep");
        assert_ptr_equal(cont, (char *)1); /* untouched on failure */
        nh_kube_node_clear(&l.items[0]);
        free(l.items);
    }
}

static void test_node_list_bounds(void **state)
{
    (void)state;
    struct nh_buf b;
    char err[256];
    char *cont = NULL;
    /* 257 labels */
    nh_buf_init(&b, 0);
    nh_buf_appends(&b, "{\"items\":[" N1 ",\"labels\":{");
    for (int i = 0; i < 257; i++)
        nh_buf_printf(&b, "%s\"k%d\":\"v\"", i ? "," : "", i);
    nh_buf_appends(&b, "}}}]}");
    struct nh_kube_node_list l = {0};
    assert_true(nh_kube_parse_node_list(b.data, b.len, &l, 100, &cont, err, sizeof(err)) < 0);
    assert_non_null(strstr(err, "metadata.labels: more than 256 entries"));
    nh_buf_free(&b);
    /* nesting deeper than 64 */
    nh_buf_init(&b, 0);
    nh_buf_appends(&b, "{\"items\":[" N1 ",\"x\":");
    for (int i = 0; i < 80; i++)
        nh_buf_appends(&b, "[");
    for (int i = 0; i < 80; i++)
        nh_buf_appends(&b, "]");
    nh_buf_appends(&b, "}}]}");
    assert_true(nh_kube_parse_node_list(b.data, b.len, &l, 100, &cont, err, sizeof(err)) < 0);
    assert_non_null(strstr(err, "invalid JSON"));
    nh_buf_free(&b);
    /* more items in all than allowed */
    const char *two = LIST(N1 "}},"
                              "{\"metadata\":{\"name\":\"n2\",\"uid\":\"u2\"}}");
    assert_int_equal(nh_kube_parse_node_list(two, strlen(two), &l, 1, &cont, err, sizeof(err)),
                     -E2BIG);
    assert_non_null(strstr(err, "more than 1 nodes in all"));
    assert_int_equal(l.n, 0);
    /* a continue token longer than 4096 bytes */
    nh_buf_init(&b, 0);
    nh_buf_appends(&b, "{\"metadata\":{\"continue\":\"");
    for (int i = 0; i < 5000; i++)
        nh_buf_appends(&b, "a");
    nh_buf_appends(&b, "\"},\"items\":[]}");
    assert_true(nh_kube_parse_node_list(b.data, b.len, &l, 100, &cont, err, sizeof(err)) < 0);
    assert_non_null(strstr(err, "metadata.continue: longer than 4096 bytes"));
    nh_buf_free(&b);
    free(l.items);
}

static void test_ready_conditions_disagreeing_are_unknown(void **state)
{
    (void)state;
    const char *body = LIST(N1 "},\"status\":{\"conditions\":[{\"type\":\"Ready\",\"status\":"
                               "\"True\"},{\"type\":\"Ready\",\"status\":\"False\"}]}}," N1
                               "},\"status\":{\"conditions\":[{\"type\":\"Ready\",\"status\":"
                               "\"Maybe\"}]}}");
    struct nh_kube_node_list l = {0};
    char *cont, err[128];
    assert_int_equal(nh_kube_parse_node_list(body, strlen(body), &l, 10, &cont, err, sizeof(err)),
                     0);
    assert_int_equal(l.items[0].ready, NH_KUBE_READY_UNKNOWN);
    assert_int_equal(l.items[1].ready, NH_KUBE_READY_UNKNOWN);
    for (size_t i = 0; i < l.n; i++)
        nh_kube_node_clear(&l.items[i]);
    free(l.items);
}

static void test_single_node_and_resource_version(void **state)
{
    (void)state;
    const char *body = "{\"kind\":\"Node\",\"metadata\":{\"name\":\"n1\",\"uid\":\"u1\","
                       "\"resourceVersion\":\"4411\",\"annotations\":{\"nodeherd.io/draining\":"
                       "\"op-1\"}},\"spec\":{\"unschedulable\":true}}";
    struct nh_kube_node n = {0};
    char *rv = NULL, err[128];
    assert_int_equal(nh_kube_parse_node(body, strlen(body), &n, &rv, err, sizeof(err)), 0);
    assert_string_equal(rv, "4411");
    assert_true(n.unschedulable);
    assert_string_equal(nh_kube_node_annotation(&n, NH_KUBE_ANN_DRAINING), "op-1");
    free(rv);
    rv = NULL;
    const char *norv = "{\"kind\":\"Node\",\"metadata\":{\"name\":\"n1\",\"uid\":\"u1\"}}";
    assert_true(nh_kube_parse_node(norv, strlen(norv), &n, &rv, err, sizeof(err)) < 0);
    assert_non_null(strstr(err, "metadata.resourceVersion: missing"));
    assert_string_equal(n.name, "n1"); /* untouched on failure */
    const char *st = "{\"kind\":\"Status\",\"code\":404}";
    assert_true(nh_kube_parse_node(st, strlen(st), &n, &rv, err, sizeof(err)) < 0);
    assert_non_null(strstr(err, "kind: \"Status\" where a Node was expected"));
    assert_null(rv);
    nh_kube_node_clear(&n);
}

/* ---- pods ---- */

#define POD(name, extra_meta, rest)                                                                \
    "{\"metadata\":{\"namespace\":\"shop\",\"name\":\"" name "\",\"uid\":\"uid-" name              \
    "\"" extra_meta "},\"spec\":{\"nodeName\":\"n1\"}" rest "}"

static void test_pod_list_fields(void **state)
{
    (void)state;
    const char *body = "{\"kind\":\"PodList\",\"metadata\":{},\"items\":[" POD(
        "web-1",
        ",\"ownerReferences\":[{\"kind\":\"ReplicaSet\",\"name\":\"web\","
        "\"controller\":true,\"blockOwnerDeletion\":true}],\"annotations\":{"
        "\"cluster-autoscaler.kubernetes.io/safe-to-evict\":\"false\",\"x\":\"y\"}",
        ",\"status\":{\"phase\":\"Running\"}") "," POD("ds-1",
                                                       ",\"ownerReferences\":[{\"kind\":"
                                                       "\"DaemonSet\",\"controller\":true}"
                                                       "]",
                                                       ",\"status\":{\"phase\":"
                                                       "\"Running\"}") "," POD("static-1",
                                                                               ",\"annotati"
                                                                               "ons\":{"
                                                                               "\"kubernete"
                                                                               "s.io/"
                                                                               "config."
                                                                               "mirror\":"
                                                                               "\"abc\","
                                                                               "\"karpenter"
                                                                               ".sh/"
                                                                               "do-not-"
                                                                               "disrupt\":"
                                                                               "\"true\"},"
                                                                               "\"ownerRefe"
                                                                               "rences\":[{"
                                                                               "\"kind\":"
                                                                               "\"Node\","
                                                                               "\"controlle"
                                                                               "r\":true}]",
                                                                               ",\"status\""
                                                                               ":{"
                                                                               "\"phase\":"
                                                                               "\"Pending\""
                                                                               "}") "," POD("job-1",
                                                                                            ",\"own"
                                                                                            "erRefe"
                                                                                            "rences"
                                                                                            "\":[{"
                                                                                            "\"kind"
                                                                                            "\":"
                                                                                            "\"Job"
                                                                                            "\"},{"
                                                                                            "\"kind"
                                                                                            "\":"
                                                                                            "\"Work"
                                                                                            "flow\""
                                                                                            ","
                                                                                            "\"cont"
                                                                                            "roller"
                                                                                            "\":"
                                                                                            "false}"
                                                                                            "]",
                                                                                            ",\"sta"
                                                                                            "tus\":"
                                                                                            "{\"pha"
                                                                                            "se\":"
                                                                                            "\"Succ"
                                                                                            "eeded"
                                                                                            "\"}") "," POD("bare",
                                                                                                           "",
                                                                                                           "") "]}";
    struct nh_kube_pod_list l = {0};
    char *cont, err[256] = "";
    int r = nh_kube_parse_pod_list(body, strlen(body), "n1", &l, 100, &cont, err, sizeof(err));
    if (r != 0)
        print_error("%s\n", err);
    assert_int_equal(r, 0);
    assert_int_equal(l.n, 5);
    assert_null(cont);
    const struct nh_kube_pod *p = &l.items[0];
    assert_string_equal(p->ns, "shop");
    assert_string_equal(p->name, "web-1");
    assert_string_equal(p->uid, "uid-web-1");
    assert_string_equal(p->node, "n1");
    assert_string_equal(p->controller_kind, "ReplicaSet");
    assert_string_equal(p->safe_to_evict, "false");
    assert_null(p->do_not_disrupt);
    assert_false(p->mirror);
    assert_int_equal(p->phase, NH_KUBE_PHASE_RUNNING);
    assert_string_equal(l.items[1].controller_kind, "DaemonSet");
    assert_true(l.items[2].mirror);
    assert_string_equal(l.items[2].do_not_disrupt, "true");
    assert_int_equal(l.items[2].phase, NH_KUBE_PHASE_PENDING);
    assert_null(l.items[3].controller_kind);
    assert_int_equal(l.items[3].n_owner_kinds, 2);
    assert_string_equal(l.items[3].owner_kinds[1], "Workflow");
    assert_int_equal(l.items[3].phase, NH_KUBE_PHASE_SUCCEEDED);
    assert_int_equal(l.items[4].n_owner_kinds, 0);
    assert_int_equal(l.items[4].phase, NH_KUBE_PHASE_UNKNOWN);
    /* the rules over what was parsed: web-1 blocks (safe-to-evict false) */
    assert_int_equal(nh_kube_pods_counting(&l), 2); /* web-1, bare */
    char why[200];
    assert_string_equal(nh_kube_pods_blocking(&l, why, sizeof(why))->name, "web-1");
    for (size_t i = 0; i < l.n; i++)
        nh_kube_pod_clear(&l.items[i]);
    free(l.items);
}

static void test_pod_list_hostile_table(void **state)
{
    (void)state;
    static const struct bad t[] = {
        {"{\"kind\":\"NodeList\",\"items\":[]}", "kind: \"NodeList\""},
        {"{\"items\":[" POD("a", "", "") "," POD("b", "", "") "]", "truncated"},
        {"{\"items\":[{\"metadata\":{\"namespace\":\"shop\",\"name\":\"a\",\"uid\":\"u\"},"
         "\"spec\":{\"nodeName\":\"n2\"}}]}",
         "items[0].spec.nodeName: is not \"n1\" (the server ignored fieldSelector)"},
        {"{\"items\":[{\"metadata\":{\"namespace\":\"shop\",\"name\":\"a\",\"uid\":\"u\"}}]}",
         "spec.nodeName: is not \"n1\""},
        {"{\"items\":[" POD("a",
                            ",\"ownerReferences\":[{\"kind\":\"A\",\"controller\":true},"
                            "{\"kind\":\"B\",\"controller\":true}]",
                            "") "]}",
         "a second ownerReference with controller: true"},
        {"{\"items\":[" POD("a", ",\"ownerReferences\":[{\"kind\":\"A\",\"controller\":\"yes\"}]",
                            "") "]}",
         "ownerReferences[0].controller: expected a boolean"},
        {"{\"items\":[" POD("a", ",\"ownerReferences\":[{\"name\":\"x\"}]", "") "]}",
         "ownerReferences[0].kind: missing"},
        {"{\"items\":[" POD("a", ",\"ownerReferences\":{}", "") "]}",
         "metadata.ownerReferences: expected a list"},
        {"{\"items\":[" POD("a", ",\"annotations\":{\"x\":5}", "") "]}",
         "metadata.annotations[\"x\"]: expected a string"},
        {"{\"items\":[" POD("a", "", ",\"status\":{\"phase\":3}") "]}",
         "status.phase: expected a string"},
        {"{\"items\":[{\"metadata\":{\"namespace\":\"Shop\",\"name\":\"a\",\"uid\":\"u\"},"
         "\"spec\":{\"nodeName\":\"n1\"}}]}",
         "not a valid namespace"},
        {"{\"items\":[{\"metadata\":{\"namespace\":\"shop\",\"name\":\"a/b\",\"uid\":\"u\"},"
         "\"spec\":{\"nodeName\":\"n1\"}}]}",
         "not a valid pod name"},
    };
    for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
        struct nh_kube_pod_list l = {0};
        char *cont = NULL, err[256] = "";
        int r = nh_kube_parse_pod_list(t[i].body, strlen(t[i].body), "n1", &l, 100, &cont, err,
                                       sizeof(err));
        if (r >= 0 || strstr(err, t[i].frag) == NULL)
            print_error("row %zu: r=%d err=\"%s\" (want \"%s\")\n", i, r, err, t[i].frag);
        assert_true(r < 0);
        assert_non_null(strstr(err, t[i].frag));
        assert_int_equal(l.n, 0);
        free(l.items);
    }
    /* 17 owners */
    struct nh_buf b;
    nh_buf_init(&b, 0);
    nh_buf_appends(&b,
                   "{\"items\":[{\"metadata\":{\"namespace\":\"s\",\"name\":\"a\",\"uid\":\"u\","
                   "\"ownerReferences\":[");
    for (int i = 0; i < 17; i++)
        nh_buf_printf(&b, "%s{\"kind\":\"K%d\"}", i ? "," : "", i);
    nh_buf_appends(&b, "]},\"spec\":{\"nodeName\":\"n1\"}}]}");
    struct nh_kube_pod_list l = {0};
    char *cont = NULL, err[256];
    assert_true(nh_kube_parse_pod_list(b.data, b.len, "n1", &l, 100, &cont, err, sizeof(err)) < 0);
    assert_non_null(strstr(err, "more than 16 entries"));
    free(l.items);
    nh_buf_free(&b);
}

/* ---- Status and classification ---- */

static const char PDB_429[] =
    "{\"kind\":\"Status\",\"apiVersion\":\"v1\",\"metadata\":{},\"status\":\"Failure\","
    "\"message\":\"Cannot evict pod as it would violate the pod's disruption budget.\","
    "\"reason\":\"TooManyRequests\",\"details\":{\"causes\":[{\"reason\":\"DisruptionBudget\","
    "\"message\":\"The disruption budget web needs 2 healthy pods and has 2 currently\"}],"
    "\"retryAfterSeconds\":10},\"code\":429}";
static const char TWO_PDB_500[] =
    "{\"kind\":\"Status\",\"status\":\"Failure\",\"message\":\"This pod has more than one "
    "PodDisruptionBudget, which the eviction subresource does not support.\",\"reason\":"
    "\"InternalError\",\"code\":500}";

static void test_status_bodies(void **state)
{
    (void)state;
    struct nh_kube_status st;
    nh_kube_parse_status(PDB_429, strlen(PDB_429), &st);
    assert_string_equal(st.reason, "TooManyRequests");
    assert_true(st.disruption_budget);
    assert_false(st.several_budgets);
    assert_int_equal(st.retry_after_s, 10);
    assert_non_null(strstr(st.message, "disruption budget"));
    nh_kube_parse_status(TWO_PDB_500, strlen(TWO_PDB_500), &st);
    assert_true(st.several_budgets);
    /* not a Status: empty, never a failure */
    const char *junk[] = {"", "<html>", "[1]",
                          "{\"message\":7,\"details\":{\"retryAfterSeconds\":"
                          "\"9\",\"causes\":3}}",
                          "{\"message\":\"a\\nb\",\"details\":{\"retryAfterSeconds\":99999}}"};
    for (size_t i = 0; i < 5; i++) {
        nh_kube_parse_status(junk[i], strlen(junk[i]), &st);
        assert_int_equal(st.retry_after_s, 0);
        assert_false(st.disruption_budget);
    }
    assert_string_equal(st.message, "a b"); /* control characters become blanks */
}

struct cls {
    int status;
    const char *body;
    uint64_t hint;
    enum nh_kube_code want;
    uint64_t retry;
};

static void test_classify_eviction_table(void **state)
{
    (void)state;
    static const struct cls t[] = {
        {201, "", 0, NH_KUBE_OK, 0},
        {200, "", 0, NH_KUBE_OK, 0},
        {404, "", 0, NH_KUBE_GONE, 0},
        {409,
         "{\"message\":\"Precondition failed: UID in precondition: a, UID in object meta: b\"}", 0,
         NH_KUBE_GONE, 0},
        {409, "{\"message\":\"the object has been modified\"}", 0, NH_KUBE_UNAVAILABLE, 5000},
        {429, PDB_429, 0, NH_KUBE_BUDGET, 10000},     /* retryAfterSeconds */
        {429, PDB_429, 30000, NH_KUBE_BUDGET, 30000}, /* Retry-After header is larger */
        {429, "", 0, NH_KUBE_BUDGET, 5000},           /* kubectl's 5 s */
        {500, TWO_PDB_500, 0, NH_KUBE_MISCONFIGURED, 0},
        {500, "{\"message\":\"etcd timeout\"}", 0, NH_KUBE_UNKNOWN, 0},
        {503, "", 0, NH_KUBE_UNKNOWN, 0},
        {401, "", 0, NH_KUBE_DENIED, 0},
        {403, "", 0, NH_KUBE_DENIED, 0},
        {400, "", 0, NH_KUBE_FAILED, 0},
        {422, "", 0, NH_KUBE_FAILED, 0},
    };
    for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
        struct nh_kube_status st;
        uint64_t retry = 77;
        nh_kube_parse_status(t[i].body, strlen(t[i].body), &st);
        enum nh_kube_code c = nh_kube_classify_eviction(t[i].status, &st, t[i].hint, &retry);
        if (c != t[i].want || retry != t[i].retry)
            print_error("row %zu (%d): %s %llu\n", i, t[i].status, nh_kube_code_name(c),
                        (unsigned long long)retry);
        assert_int_equal(c, t[i].want);
        assert_int_equal(retry, t[i].retry);
    }
}

static void test_classify_patch_table(void **state)
{
    (void)state;
    static const struct cls t[] = {
        {200, "", 0, NH_KUBE_OK, 0},          {404, "", 0, NH_KUBE_GONE, 0},
        {409, "", 0, NH_KUBE_UNAVAILABLE, 0}, {429, "", 2000, NH_KUBE_UNAVAILABLE, 2000},
        {500, "", 0, NH_KUBE_UNKNOWN, 0},     {504, "", 0, NH_KUBE_UNKNOWN, 0},
        {403, "", 0, NH_KUBE_DENIED, 0},      {422, "", 0, NH_KUBE_FAILED, 0},
        {415, "", 0, NH_KUBE_FAILED, 0},
    };
    for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
        struct nh_kube_status st;
        uint64_t retry = 77;
        nh_kube_parse_status(t[i].body, strlen(t[i].body), &st);
        assert_int_equal(nh_kube_classify_patch(t[i].status, &st, t[i].hint, &retry), t[i].want);
        assert_int_equal(retry, t[i].retry);
    }
}

/* ---- bodies and small helpers ---- */

static void test_request_bodies(void **state)
{
    (void)state;
    struct nh_buf b;
    nh_buf_init(&b, 0);
    assert_int_equal(nh_kube_body_eviction(&b, "shop", "cart-0", "9f1c-uid"), 0);
    assert_string_equal(b.data, "{\"apiVersion\":\"policy/v1\",\"kind\":\"Eviction\",\"metadata\":"
                                "{\"name\":\"cart-0\",\"namespace\":\"shop\"},\"deleteOptions\":{"
                                "\"preconditions\":{\"uid\":\"9f1c-uid\"}}}");
    nh_buf_reset(&b);
    assert_int_equal(nh_kube_body_eviction(&b, "shop", "cart-0", NULL), 0);
    assert_string_equal(b.data, "{\"apiVersion\":\"policy/v1\",\"kind\":\"Eviction\",\"metadata\":"
                                "{\"name\":\"cart-0\",\"namespace\":\"shop\"}}");
    nh_buf_reset(&b);
    assert_int_equal(nh_kube_body_cordon(&b, "op-42", "4411"), 0);
    assert_string_equal(b.data, "{\"metadata\":{\"resourceVersion\":\"4411\",\"annotations\":{"
                                "\"nodeherd.io/draining\":\"op-42\"}},\"spec\":{"
                                "\"unschedulable\":true}}");
    nh_buf_reset(&b);
    assert_int_equal(nh_kube_body_cordon(&b, "op-42", NULL), 0);
    assert_string_equal(b.data, "{\"metadata\":{\"annotations\":{\"nodeherd.io/draining\":"
                                "\"op-42\"}},\"spec\":{\"unschedulable\":true}}");
    nh_buf_reset(&b);
    assert_int_equal(nh_kube_body_uncordon(&b, "4412"), 0);
    assert_string_equal(b.data, "{\"metadata\":{\"resourceVersion\":\"4412\",\"annotations\":{"
                                "\"nodeherd.io/draining\":null}},\"spec\":{"
                                "\"unschedulable\":null}}");
    nh_buf_reset(&b);
    assert_int_equal(nh_kube_body_cordon(&b, "a\"b\\c\n", NULL), 0); /* escaped */
    assert_non_null(strstr(b.data, "\"a\\\"b\\\\c\\u000a\""));
    assert_int_equal(nh_kube_body_cordon(&b, NULL, NULL), -EINVAL);
    nh_buf_reset(&b);
    assert_int_equal(nh_kube_url_encode(&b, "eyJ+/=&x y~-._"), 0);
    assert_string_equal(b.data, "eyJ%2B%2F%3D%26x%20y~-._");
    nh_buf_free(&b);
}

static void test_names_and_ids(void **state)
{
    (void)state;
    const char *good[] = {"a", "node-1", "cn-hangzhou.192.168.0.1", "192.168.0.10", "0abc"};
    const char *bad[] = {"", "-a", "a-", "A", "a_b", "a/b", "..", "a b", "a%2F", NULL};
    for (size_t i = 0; i < 5; i++)
        assert_true(nh_kube_name_ok(good[i]));
    for (size_t i = 0; i < 10; i++)
        assert_false(nh_kube_name_ok(bad[i]));
    char long_name[300];
    memset(long_name, 'a', 254);
    long_name[254] = '\0';
    assert_false(nh_kube_name_ok(long_name));
    long_name[253] = '\0';
    assert_true(nh_kube_name_ok(long_name));
    assert_true(nh_kube_op_id_ok("op-20240301-0007"));
    assert_true(nh_kube_op_id_ok("web:remove:3"));
    assert_false(nh_kube_op_id_ok(""));
    assert_false(nh_kube_op_id_ok("a\"b"));
    assert_false(nh_kube_op_id_ok("a b"));
    assert_false(nh_kube_op_id_ok(NULL));
}

static void test_times(void **state)
{
    (void)state;
    int64_t t = 0;
    assert_int_equal(nh_kube_parse_time("1970-01-01T00:00:00Z", &t), 0);
    assert_int_equal(t, 0);
    assert_int_equal(nh_kube_parse_time("2024-03-01T10:20:30Z", &t), 0);
    assert_int_equal(t, 1709288430);
    assert_int_equal(nh_kube_parse_time("2024-03-01T10:20:30.123456Z", &t), 0);
    assert_int_equal(t, 1709288430);
    assert_int_equal(nh_kube_parse_time("2024-03-01T18:20:30+08:00", &t), 0);
    assert_int_equal(t, 1709288430);
    assert_int_equal(nh_kube_parse_time("2024-02-29T00:00:00Z", &t), 0);
    assert_int_equal(t, 1709164800);
    const char *bad[] = {"",
                         "2024-03-01",
                         "2024-03-01 10:20:30Z",
                         "2024-13-01T10:20:30Z",
                         "2024-03-01T10:20:30",
                         "2024-03-01T10:20:30Zjunk",
                         "2024-03-01T10:20:30.Z",
                         "2024-03-01T25:20:30Z",
                         "2024-03-01T10:20:30+0800",
                         NULL};
    for (size_t i = 0; i < 10; i++)
        assert_int_equal(nh_kube_parse_time(bad[i], &t), -EINVAL);
    assert_string_equal(nh_kube_code_name(NH_KUBE_BUDGET), "budget");
    assert_string_equal(nh_kube_code_name(NH_KUBE_NOT_OURS), "not-ours");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_node_list_fields),
        cmocka_unit_test(test_node_list_empty_and_null_items),
        cmocka_unit_test(test_node_list_hostile_table),
        cmocka_unit_test(test_node_list_bounds),
        cmocka_unit_test(test_ready_conditions_disagreeing_are_unknown),
        cmocka_unit_test(test_single_node_and_resource_version),
        cmocka_unit_test(test_pod_list_fields),
        cmocka_unit_test(test_pod_list_hostile_table),
        cmocka_unit_test(test_status_bodies),
        cmocka_unit_test(test_classify_eviction_table),
        cmocka_unit_test(test_classify_patch_table),
        cmocka_unit_test(test_request_bodies),
        cmocka_unit_test(test_names_and_ids),
        cmocka_unit_test(test_times),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
