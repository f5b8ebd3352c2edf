/* test_kube_rules.c - the pure Kubernetes rules of model/kube.h: which pods
 * count for "emptiest", which block a drain (and the reason naming the
 * pod), which nodes are protected, and how cloud nodes are matched to
 * Kubernetes nodes (fail closed on none or two). Tables throughout. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "model/kube.h"

/* ---- pods ---- */

struct pod_row {
    const char *name;
    enum nh_kube_phase phase;
    const char *controller; /* controller kind or NULL */
    const char *owner;      /* a non-controller owner kind or NULL */
    const char *safe;       /* safe-to-evict value or NULL */
    const char *dnd;        /* do-not-disrupt value or NULL */
    bool mirror;
    bool counts;
    bool blocks;
    const char *why; /* fragment of the reason when it blocks */
};

static const struct pod_row pod_rows[] = {
    {"rs-running", NH_KUBE_PHASE_RUNNING, "ReplicaSet", NULL, NULL, NULL, false, true, false, NULL},
    {"rs-pending", NH_KUBE_PHASE_PENDING, "ReplicaSet", NULL, NULL, NULL, false, true, false, NULL},
    {"unknown-phase", NH_KUBE_PHASE_UNKNOWN, "StatefulSet", NULL, NULL, NULL, false, true, false,
     NULL},
    {"succeeded", NH_KUBE_PHASE_SUCCEEDED, "Job", NULL, NULL, NULL, false, false, false, NULL},
    {"failed-no-controller", NH_KUBE_PHASE_FAILED, NULL, NULL, NULL, NULL, false, false, false,
     NULL},
    {"finished-do-not-disrupt", NH_KUBE_PHASE_SUCCEEDED, "Job", NULL, NULL, "true", false, false,
     false, NULL},
    {"daemonset", NH_KUBE_PHASE_RUNNING, "DaemonSet", NULL, NULL, NULL, false, false, false, NULL},
    {"daemonset-owner-not-controller", NH_KUBE_PHASE_RUNNING, NULL, "DaemonSet", NULL, NULL, false,
     false, false, NULL},
    {"mirror", NH_KUBE_PHASE_RUNNING, "Node", NULL, NULL, NULL, true, false, false, NULL},
    {"mirror-without-controller", NH_KUBE_PHASE_RUNNING, NULL, NULL, NULL, NULL, true, false, false,
     NULL},
    {"safe-to-evict-false", NH_KUBE_PHASE_RUNNING, "ReplicaSet", NULL, "false", NULL, false, true,
     true, "cluster-autoscaler.kubernetes.io/safe-to-evict: \"false\""},
    {"do-not-disrupt", NH_KUBE_PHASE_RUNNING, "ReplicaSet", NULL, NULL, "true", false, true, true,
     "karpenter.sh/do-not-disrupt: \"true\""},
    {"do-not-disrupt-false", NH_KUBE_PHASE_RUNNING, "ReplicaSet", NULL, NULL, "false", false, true,
     false, NULL},
    {"daemonset-safe-to-evict-false", NH_KUBE_PHASE_RUNNING, "DaemonSet", NULL, "false", NULL,
     false, false, true, "safe-to-evict"},
    {"no-controller", NH_KUBE_PHASE_RUNNING, NULL, NULL, NULL, NULL, false, true, true,
     "has no controller"},
    {"owner-but-no-controller", NH_KUBE_PHASE_RUNNING, NULL, "ReplicaSet", NULL, NULL, false, true,
     true, "has no controller"},
    {"no-controller-safe-to-evict-true", NH_KUBE_PHASE_RUNNING, NULL, NULL, "true", NULL, false,
     true, false, NULL},
    {"safe-to-evict-true-but-do-not-disrupt", NH_KUBE_PHASE_RUNNING, NULL, NULL, "true", "true",
     false, true, true, "do-not-disrupt"},
};

static void build_pod(struct nh_kube_pod *p, const struct pod_row *t)
{
    memset(p, 0, sizeof(*p));
    p->ns = strdup("shop");
    p->name = strdup(t->name);
    p->uid = strdup("u1");
    p->phase = t->phase;
    p->controller_kind = t->controller ? strdup(t->controller) : NULL;
    if (t->controller != NULL || t->owner != NULL) {
        p->owner_kinds = calloc(1, sizeof(char *));
        p->owner_kinds[0] = strdup(t->controller ? t->controller : t->owner);
        p->n_owner_kinds = 1;
    }
    p->safe_to_evict = t->safe ? strdup(t->safe) : NULL;
    p->do_not_disrupt = t->dnd ? strdup(t->dnd) : NULL;
    p->mirror = t->mirror;
}

static void test_pod_rules_table(void **state)
{
    (void)state;
    int failures = 0;
    for (size_t i = 0; i < sizeof(pod_rows) / sizeof(pod_rows[0]); i++) {
        const struct pod_row *t = &pod_rows[i];
        struct nh_kube_pod p;
        build_pod(&p, t);
        char why[256] = "";
        bool counts = nh_kube_pod_counts(&p);
        bool blocks = nh_kube_pod_blocks_drain(&p, why, sizeof(why));
        char name[80];
        snprintf(name, sizeof(name), "pod \"shop/%s\"", t->name);
        bool ok = counts == t->counts && blocks == t->blocks;
        if (blocks && ok)
            ok = strstr(why, name) != NULL && strstr(why, t->why) != NULL;
        if (!ok) {
            print_error("%s: counts %d (want %d), blocks %d (want %d), why \"%s\"\n", t->name,
                        counts, t->counts, blocks, t->blocks, why);
            failures++;
        }
        /* NULL why is fine */
        assert_int_equal(nh_kube_pod_blocks_drain(&p, NULL, 0), blocks);
        nh_kube_pod_clear(&p);
    }
    assert_int_equal(failures, 0);
}

static void test_pod_list_counting_and_first_blocker(void **state)
{
    (void)state;
    struct nh_kube_pod_list *l = calloc(1, sizeof(*l));
    static const size_t pick[] = {0, 3, 6, 8, 1, 15, 10};
    for (size_t i = 0; i < sizeof(pick) / sizeof(pick[0]); i++)
        build_pod(nh_kube_pod_list_add(l), &pod_rows[pick[i]]);
    /* rs-running, rs-pending, owner-but-no-controller, safe-to-evict-false */
    assert_int_equal(nh_kube_pods_counting(l), 4);
    char why[256];
    const struct nh_kube_pod *b = nh_kube_pods_blocking(l, why, sizeof(why));
    assert_non_null(b);
    assert_string_equal(b->name, "owner-but-no-controller");
    assert_non_null(strstr(why, "pod \"shop/owner-but-no-controller\" has no controller"));
    nh_kube_pod_list_free(l);
    assert_int_equal(nh_kube_pods_counting(NULL), 0);
    assert_null(nh_kube_pods_blocking(NULL, why, sizeof(why)));
}

/* ---- nodes ---- */

static void add_kv(struct nh_kube_kv **kv, size_t *n, const char *k, const char *v)
{
    *kv = realloc(*kv, (*n + 1) * sizeof(**kv));
    (*kv)[*n].key = strdup(k);
    (*kv)[*n].value = strdup(v);
    (*n)++;
}

struct prot_row {
    const char *label_k, *label_v, *ann_k, *ann_v;
    const char *const *rules;
    bool protected_;
    const char *why;
};

static void test_node_protected_table(void **state)
{
    (void)state;
    static const char *const custom[] = {"", "team=infra", "critical", NULL};
    static const struct prot_row t[] = {
        {"nodeherd.io/protect", "true", NULL, NULL, NULL, true,
         "node \"n1\" has the protect label nodeherd.io/protect=true"},
        {"nodeherd.io/protect", "false", NULL, NULL, NULL, false, NULL},
        {"team", "infra", NULL, NULL, custom, true, "team=infra"},
        {"team", "web", NULL, NULL, custom, false, NULL},
        {"critical", "", NULL, NULL, custom, true, "protect label critical"},
        {"critical-ish", "x", NULL, NULL, custom, false, NULL},
        {"nodeherd.io/protect", "true", NULL, NULL, custom, false, NULL}, /* rules replace it */
        {NULL, NULL, "cluster-autoscaler.kubernetes.io/scale-down-disabled", "true", NULL, true,
         "annotation cluster-autoscaler.kubernetes.io/scale-down-disabled: \"true\""},
        {NULL, NULL, "cluster-autoscaler.kubernetes.io/scale-down-disabled", "false", NULL, false,
         NULL},
        {NULL, NULL, "karpenter.sh/do-not-disrupt", "true", NULL, true,
         "annotation karpenter.sh/do-not-disrupt"},
        {"karpenter.sh/do-not-disrupt", "true", NULL, NULL, NULL, true,
         "label karpenter.sh/do-not-disrupt=true"},
        {"kubernetes.io/hostname", "n1", "node.alpha.kubernetes.io/ttl", "0", NULL, false, NULL},
    };
    for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
        struct nh_kube_node n = {.name = strdup("n1")};
        if (t[i].label_k)
            add_kv(&n.labels, &n.n_labels, t[i].label_k, t[i].label_v);
        if (t[i].ann_k)
            add_kv(&n.annotations, &n.n_annotations, t[i].ann_k, t[i].ann_v);
        char why[256] = "";
        bool p = nh_kube_node_protected(&n, t[i].rules, why, sizeof(why));
        if (p != t[i].protected_ || (p && strstr(why, t[i].why) == NULL))
            print_error("row %zu: %d \"%s\"\n", i, p, why);
        assert_int_equal(p, t[i].protected_);
        if (p)
            assert_non_null(strstr(why, t[i].why));
        nh_kube_node_clear(&n);
    }
}

/* ---- matching ---- */

static void test_provider_id_names(void **state)
{
    (void)state;
    assert_true(nh_kube_provider_id_names("cn-hangzhou.i-bp1abc", "i-bp1abc"));
    assert_true(nh_kube_provider_id_names("aws:///us-east-1a/i-0123", "i-0123"));
    assert_true(nh_kube_provider_id_names("i-0123", "i-0123"));
    assert_false(nh_kube_provider_id_names("cn-hangzhou.xi-bp1abc", "i-bp1abc"));
    assert_false(nh_kube_provider_id_names("cn-hangzhou.i-bp1abcd", "i-bp1abc"));
    assert_false(nh_kube_provider_id_names(".i-1", "i-1"));
    assert_false(nh_kube_provider_id_names("cn-hangzhou:i-1", "i-1"));
    assert_false(nh_kube_provider_id_names(NULL, "i-1"));
    assert_false(nh_kube_provider_id_names("cn.i-1", ""));
    assert_false(nh_kube_provider_id_names("cn.i-1", NULL));
}

struct knode {
    const char *name, *pid, *ip;
};
struct crow {
    const char *id, *ip, *name;
    enum nh_kube_match_how how;
    long index;
};

static void run_match(const char *what, const struct knode *kn, size_t nk, const struct crow *cr,
                      size_t nc)
{
    struct nh_kube_node nodes[8];
    struct nh_kube_cloud_ref refs[8];
    struct nh_kube_match got[8];
    memset(nodes, 0, sizeof(nodes));
    for (size_t i = 0; i < nk; i++) {
        nodes[i].name = (char *)kn[i].name;
        nodes[i].provider_id = (char *)kn[i].pid;
        nodes[i].internal_ip = (char *)kn[i].ip;
    }
    for (size_t i = 0; i < nc; i++)
        refs[i] = (struct nh_kube_cloud_ref){cr[i].id, cr[i].ip, cr[i].name};
    nh_kube_match_nodes(nodes, nk, refs, nc, got);
    for (size_t i = 0; i < nc; i++) {
        if (got[i].how != cr[i].how || got[i].index != cr[i].index)
            print_error("%s: cloud %zu: %s %ld, want %s %ld\n", what, i,
                        nh_kube_match_how_name(got[i].how), got[i].index,
                        nh_kube_match_how_name(cr[i].how), cr[i].index);
        assert_int_equal(got[i].how, cr[i].how);
        assert_int_equal(got[i].index, cr[i].index);
    }
}

static void test_match_nodes(void **state)
{
    (void)state;
    {
        /* ACK: providerID "<region>.<instance>" settles everything, even
         * where IPs and names would say otherwise */
        const struct knode k[] = {{"cn-hz.10.0.0.2", "cn-hz.i-b", "10.0.0.2"},
                                  {"cn-hz.10.0.0.1", "cn-hz.i-a", "10.0.0.1"}};
        const struct crow c[] = {
            {"i-a", "10.0.0.1", "cn-hz.10.0.0.1", NH_KUBE_MATCH_PROVIDER_ID, 1},
            {"i-b", "10.0.0.9", "x", NH_KUBE_MATCH_PROVIDER_ID, 0},
            {"i-c", "10.0.0.3", "cn-hz.10.0.0.3", NH_KUBE_MATCH_NONE, -1}};
        run_match("providerID", k, 2, c, 3);
    }
    {
        /* no providerIDs at all: InternalIP, then name */
        const struct knode k[] = {{"n1", NULL, "10.0.0.1"}, {"n2", NULL, NULL}};
        const struct crow c[] = {{"i-a", "10.0.0.1", "zz", NH_KUBE_MATCH_INTERNAL_IP, 0},
                                 {"i-b", "10.0.0.2", "n2", NH_KUBE_MATCH_NAME, 1}};
        run_match("ip then name", k, 2, c, 2);
    }
    {
        /* two Kubernetes nodes with the cloud node's IP: ambiguous, and no
         * fallback to the name */
        const struct knode k[] = {{"n1", NULL, "10.0.0.1"}, {"n2", NULL, "10.0.0.1"}};
        const struct crow c[] = {{"i-a", "10.0.0.1", "n1", NH_KUBE_MATCH_AMBIGUOUS, -1}};
        run_match("two by ip", k, 2, c, 1);
    }
    {
        /* two providerIDs name the instance: ambiguous, although the IP is unique */
        const struct knode k[] = {{"n1", "r1.i-a", "10.0.0.1"}, {"n2", "r2.i-a", "10.0.0.2"}};
        const struct crow c[] = {{"i-a", "10.0.0.1", "n1", NH_KUBE_MATCH_AMBIGUOUS, -1}};
        run_match("two by providerID", k, 2, c, 1);
    }
    {
        /* two cloud nodes claim the same Kubernetes node by name: neither gets it */
        const struct knode k[] = {{"n1", NULL, NULL}};
        const struct crow c[] = {{"i-a", NULL, "n1", NH_KUBE_MATCH_AMBIGUOUS, -1},
                                 {"i-b", NULL, "n1", NH_KUBE_MATCH_AMBIGUOUS, -1}};
        run_match("one claimed twice", k, 1, c, 2);
    }
    {
        /* an old node object of a released instance (i-old) whose IP went
         * to the new i-new, not registered yet: providerIDs are in use in
         * this cluster, so the old object is not taken by IP */
        const struct knode k[] = {{"old", "cn-hz.i-old", "10.0.0.5"},
                                  {"n1", "cn-hz.i-a", "10.0.0.1"}};
        const struct crow c[] = {{"i-a", "10.0.0.1", "n1", NH_KUBE_MATCH_PROVIDER_ID, 1},
                                 {"i-new", "10.0.0.5", "old", NH_KUBE_MATCH_NONE, -1}};
        run_match("reused ip", k, 2, c, 2);
    }
    {
        /* a node whose providerID names cloud node A is never given to B by
         * IP, even when A was not matched by it (A's match was ambiguous) */
        const struct knode k[] = {{"n1", "r.i-a", "10.0.0.7"}, {"n2", "q.i-a", "10.0.0.8"}};
        const struct crow c[] = {{"i-a", NULL, NULL, NH_KUBE_MATCH_AMBIGUOUS, -1},
                                 {"i-b", "10.0.0.7", NULL, NH_KUBE_MATCH_NONE, -1}};
        run_match("named elsewhere", k, 2, c, 2);
    }
    {
        /* providerIDs in an unknown format (no round-1 match): IP still works */
        const struct knode k[] = {{"192.168.0.10", "huawei://f00d", "192.168.0.10"}};
        const struct crow c[] = {
            {"8a7c-uuid", "192.168.0.10", "node-x", NH_KUBE_MATCH_INTERNAL_IP, 0}};
        run_match("unknown providerID format", k, 1, c, 1);
    }
    {
        const struct crow c[] = {{"i-a", "10.0.0.1", "n1", NH_KUBE_MATCH_NONE, -1}};
        run_match("no nodes", NULL, 0, c, 1);
    }
}

static void test_names_of_enums(void **state)
{
    (void)state;
    assert_string_equal(nh_kube_ready_name(NH_KUBE_READY_TRUE), "True");
    assert_string_equal(nh_kube_ready_name(NH_KUBE_READY_UNKNOWN), "Unknown");
    assert_string_equal(nh_kube_phase_name(NH_KUBE_PHASE_SUCCEEDED), "Succeeded");
    assert_string_equal(nh_kube_match_how_name(NH_KUBE_MATCH_AMBIGUOUS), "ambiguous");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pod_rules_table),
        cmocka_unit_test(test_pod_list_counting_and_first_blocker),
        cmocka_unit_test(test_node_protected_table),
        cmocka_unit_test(test_provider_id_names),
        cmocka_unit_test(test_match_nodes),
        cmocka_unit_test(test_names_of_enums),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
