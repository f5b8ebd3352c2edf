/* parse.h - the Kubernetes API answers nodeherd reads, parsed strictly, the
 * request bodies it writes, and the classification of answers. Pure: no
 * I/O, no clock; fuzzable.
 *
 * Parsers take a whole body; JSON is parsed with json-c STRICT |
 * VALIDATE_UTF8 at depth <= 64; every field read is type-checked; names that
 * go into URL paths are checked as DNS subdomains; everything a peer
 * controls is bounded. A failure returns a negative errno with a message
 * naming the field ("items[3].status.addresses[0].address: ...") and leaves
 * the output as it was (lists: nothing appended). */
#ifndef NH_KUBE_PARSE_H
#define NH_KUBE_PARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "model/kube.h"
#include "model/model.h"
#include "util/buf.h"

#define NH_KUBE_MAX_PAGE_ITEMS 10000 /* per page (nodeherd asks for 500) */
#define NH_KUBE_MAX_CONTINUE 4096    /* bytes of a continue token */

/* What an operation came to. The client reports one per call. */
#define NH_KUBE_CODES(X)                                                                           \
    X(NH_KUBE_OK, "ok")                                                                            \
    X(NH_KUBE_GONE, "gone") /* 404 (eviction: also a failed uid precondition) */                   \
    /* eviction 429: a PodDisruptionBudget (or the API server's own limit)                         \
     * refuses it now; retry after retry_after_ms */                                               \
    X(NH_KUBE_BUDGET, "budget")                                                                    \
    /* eviction 500: the pod has several PodDisruptionBudgets; stop */                             \
    X(NH_KUBE_MISCONFIGURED, "misconfigured")                                                      \
    /* cordon: cordoned by someone else; uncordon: not cordoned by this                            \
     * operation. Nothing was sent */                                                              \
    X(NH_KUBE_NOT_OURS, "not-ours")                                                                \
    X(NH_KUBE_DENIED, "denied") /* 401/403: credentials refused or RBAC forbids it */              \
    X(NH_KUBE_TLS, "tls")       /* a certificate was refused (CA, host, client certificate) */     \
    /* transient (network, 5xx, 429 on a read, 409s) after the retries; for                        \
     * a mutation: it was not applied */                                                           \
    X(NH_KUBE_UNAVAILABLE, "unavailable")                                                          \
    /* a mutation may or may not have been applied: re-read first */                               \
    X(NH_KUBE_UNKNOWN, "unknown")                                                                  \
    /* the answer is malformed, truncated, too big, or too many pages */                           \
    X(NH_KUBE_BAD_ANSWER, "bad-answer")                                                            \
    /* another status, or a request that could not be made */                                      \
    X(NH_KUBE_FAILED, "failed")                                                                    \
    X(NH_KUBE_CANCELLED, "cancelled") /* nh_kube_free or the HTTP layer shut down */
enum nh_kube_code { NH_KUBE_CODES(NH_ENUM_VALUE) };
NH_ENUM_DECLARE(nh_kube_code);

/* A metav1.Status error body. Parsing never fails: fields stay empty when
 * the body is something else. Control characters become spaces. */
struct nh_kube_status {
    char message[256];
    char reason[64];        /* "TooManyRequests", "NotFound", "Conflict", ... */
    bool disruption_budget; /* details.causes[].reason "DisruptionBudget" */
    bool several_budgets;   /* message: "more than one PodDisruptionBudget" */
    long retry_after_s;     /* details.retryAfterSeconds (0..3600); 0: none */
};
void nh_kube_parse_status(const char *body, size_t len, struct nh_kube_status *out);

/* A NodeList page: appends its items to into (at most max_total items in
 * into overall, else -E2BIG); *ret_continue gets metadata.continue
 * (malloc'd) or NULL when the list is complete. */
int nh_kube_parse_node_list(const char *body, size_t len, struct nh_kube_node_list *into,
                            size_t max_total, char **ret_continue, char *err, size_t errlen);
/* A PodList page of the pods of `node` (each pod's spec.nodeName must be
 * it: a server that ignored the fieldSelector is refused). */
int nh_kube_parse_pod_list(const char *body, size_t len, const char *node,
                           struct nh_kube_pod_list *into, size_t max_total, char **ret_continue,
                           char *err, size_t errlen);
/* One Node (GET /api/v1/nodes/NAME) into *out (cleared first on success);
 * *ret_rv gets metadata.resourceVersion (malloc'd). */
int nh_kube_parse_node(const char *body, size_t len, struct nh_kube_node *out, char **ret_rv,
                       char *err, size_t errlen);

/* Answers to mutations. hint_ms: the Retry-After header's wait (0: none).
 * Eviction (policy/v1, POST .../pods/NAME/eviction):
 *   2xx OK; 404 GONE; 409 naming a failed precondition GONE (the pod
 *   with that uid was replaced), other 409 UNAVAILABLE; 429 BUDGET; 500
 *   naming several budgets MISCONFIGURED, other 5xx UNKNOWN; 401/403
 *   DENIED; else FAILED.
 * Node patch (PATCH /api/v1/nodes/NAME, with a resourceVersion
 * precondition): 2xx OK; 404 GONE; 409 (precondition) and 429 UNAVAILABLE
 * (not applied: re-read and try again); 5xx UNKNOWN; 401/403 DENIED; else
 * FAILED.
 * *ret_retry_ms: for BUDGET and UNAVAILABLE, max(hint, retryAfterSeconds),
 * at least 5 s for BUDGET (kubectl drain waits 5 s). */
enum nh_kube_code nh_kube_classify_eviction(int http_status, const struct nh_kube_status *st,
                                            uint64_t hint_ms, uint64_t *ret_retry_ms);
enum nh_kube_code nh_kube_classify_patch(int http_status, const struct nh_kube_status *st,
                                         uint64_t hint_ms, uint64_t *ret_retry_ms);

/* A DNS-1123 subdomain (lower-case letters, digits, '-' and '.', 1..253,
 * starting and ending with a letter or digit): node, pod and namespace
 * names, safe in a URL path without encoding. */
bool nh_kube_name_ok(const char *s);
/* An operation id for the draining annotation: 1..128 of [A-Za-z0-9._:-]. */
bool nh_kube_op_id_ok(const char *s);

/* Request bodies (JSON), appended to b. 0 or -ENOMEM/-E2BIG.
 * Eviction: {"apiVersion":"policy/v1","kind":"Eviction","metadata":{...},
 *   "deleteOptions":{"preconditions":{"uid":UID}}} (uid may be NULL: no
 *   precondition).
 * Cordon: {"metadata":{"resourceVersion":RV,"annotations":
 *   {"nodeherd.io/draining":OP}},"spec":{"unschedulable":true}}
 * Uncordon: the same with null for both (null removes the annotation and
 *   the field, as `kubectl uncordon` does). rv may be NULL (no precondition). */
int nh_kube_body_eviction(struct nh_buf *b, const char *ns, const char *name, const char *uid);
int nh_kube_body_cordon(struct nh_buf *b, const char *op_id, const char *rv);
int nh_kube_body_uncordon(struct nh_buf *b, const char *rv);

/* Percent-encodes s (RFC 3986 unreserved characters stay) onto b. */
int nh_kube_url_encode(struct nh_buf *b, const char *s);

/* RFC 3339 as the API writes it ("2024-03-01T10:20:30Z", fractions and
 * offsets accepted) to unix seconds. 0 or -EINVAL. */
int nh_kube_parse_time(const char *s, int64_t *ret);

#endif
