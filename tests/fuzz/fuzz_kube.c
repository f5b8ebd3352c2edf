/* fuzz_kube.c - the Kubernetes API answer parsers of daemon/kube/parse.h on
 * arbitrary bytes.
 *
 * Input layout: the first byte picks the parser (byte % 4: NodeList page,
 * PodList page of node "n1", one Node, Status + the eviction and patch
 * classifiers with the status code 100 + second byte + 256 * (bit 2 of the
 * first byte)); the rest, after those two bytes, is the body.
 *
 * Checks, whatever the input: no crash, leak or undefined behaviour; a
 * parser returns 0 or a negative errno with a non-empty message; on failure
 * the list is as it was (one sentinel item kept) and the continue token
 * untouched; on success every item has a valid name, a uid, enums in range,
 * at most the bounded number of labels and owners, pods on node n1; Status
 * fields are NUL-terminated and control-free; classifications are members
 * of the enum with bounded waits. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "kube/parse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_err(int r, const char *err, size_t len)
{
    if (memchr(err, '\0', len) == NULL || r > 0 || (r < 0 && err[0] == '\0'))
        abort();
}

static void check_node(const struct nh_kube_node *n)
{
    if (!nh_kube_name_ok(n->name) || n->uid == NULL || n->uid[0] == '\0')
        abort();
    if (n->ready != NH_KUBE_READY_TRUE && n->ready != NH_KUBE_READY_FALSE &&
        n->ready != NH_KUBE_READY_UNKNOWN)
        abort();
    if (n->n_labels > NH_KUBE_MAX_LABELS || n->n_annotations > NH_KUBE_MAX_ANNOTATIONS)
        abort();
    for (size_t i = 0; i < n->n_annotations; i++)
        if (strlen(n->annotations[i].value) > NH_KUBE_MAX_ANNOTATION_VALUE)
            abort();
}

static void nodes(const char *body, size_t len)
{
    struct nh_kube_node_list l = {0};
    struct nh_kube_node *sentinel = nh_kube_node_list_add(&l);
    sentinel->name = strdup("sentinel");
    char *cont = (char *)(uintptr_t)1, err[256] = "";
    int r = nh_kube_parse_node_list(body, len, &l, 1000, &cont, err, sizeof(err));
    check_err(r, err, sizeof(err));
    if (l.n < 1 || strcmp(l.items[0].name, "sentinel") != 0)
        abort();
    if (r < 0 && (l.n != 1 || cont != (char *)(uintptr_t)1))
        abort();
    if (r == 0) {
        for (size_t i = 1; i < l.n; i++)
            check_node(&l.items[i]);
        if (cont != NULL && (cont[0] == '\0' || strlen(cont) > NH_KUBE_MAX_CONTINUE))
            abort();
        free(cont);
    }
    for (size_t i = 0; i < l.n; i++)
        nh_kube_node_clear(&l.items[i]);
    free(l.items);
}

static void pods(const char *body, size_t len)
{
    struct nh_kube_pod_list l = {0};
    char *cont = NULL, err[256] = "";
    int r = nh_kube_parse_pod_list(body, len, "n1", &l, 1000, &cont, err, sizeof(err));
    check_err(r, err, sizeof(err));
    if (r < 0 && l.n != 0)
        abort();
    for (size_t i = 0; i < l.n; i++) {
        const struct nh_kube_pod *p = &l.items[i];
        if (!nh_kube_name_ok(p->ns) || !nh_kube_name_ok(p->name) || p->uid == NULL ||
            p->node == NULL || strcmp(p->node, "n1") != 0 || p->n_owner_kinds > NH_KUBE_MAX_OWNERS)
            abort();
        (void)nh_kube_pod_blocks_drain(p, err, sizeof(err)); /* the rules on what was parsed */
        (void)nh_kube_pod_counts(p);
        nh_kube_pod_clear(&l.items[i]);
    }
    free(cont);
    free(l.items);
}

static void node(const char *body, size_t len)
{
    struct nh_kube_node n = {0};
    char *rv = NULL, err[256] = "";
    int r = nh_kube_parse_node(body, len, &n, &rv, err, sizeof(err));
    check_err(r, err, sizeof(err));
    if (r == 0) {
        check_node(&n);
        if (rv == NULL || rv[0] == '\0')
            abort();
        (void)nh_kube_node_protected(&n, NULL, err, sizeof(err));
    } else if (rv != NULL || n.name != NULL) {
        abort();
    }
    free(rv);
    nh_kube_node_clear(&n);
}

static void status(const char *body, size_t len, int code)
{
    struct nh_kube_status st;
    nh_kube_parse_status(body, len, &st);
    if (memchr(st.message, '\0', sizeof(st.message)) == NULL ||
        memchr(st.reason, '\0', sizeof(st.reason)) == NULL)
        abort();
    for (const char *p = st.message; *p; p++)
        if ((unsigned char)*p < 0x20)
            abort();
    if (st.retry_after_s < 0 || st.retry_after_s > 3600)
        abort();
    uint64_t w = 0;
    enum nh_kube_code c = nh_kube_classify_eviction(code, &st, 1000, &w);
    if (c > NH_KUBE_CANCELLED || w > 3600 * 1000)
        abort();
    c = nh_kube_classify_patch(code, &st, 1000, &w);
    if (c > NH_KUBE_CANCELLED || w > 3600 * 1000)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    const char *body = (const char *)data + 2;
    size_t len = size - 2;
    switch (data[0] % 4) {
    case 0:
        nodes(body, len);
        break;
    case 1:
        pods(body, len);
        break;
    case 2:
        node(body, len);
        break;
    default:
        status(body, len, 100 + data[1] + ((data[0] >> 2) & 1) * 256); /* 100..611 */
        break;
    }
    return 0;
}
