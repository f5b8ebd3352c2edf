/* kube.h - a small client of one cluster's Kubernetes API, on the daemon's
 * libuv loop and HTTP layer (net/http.h). One struct nh_kube per cluster.
 *
 * What it does (shared/api/kubernetes.md; the API reference pages are
 * cited in parse.c):
 *  - list nodes: GET /api/v1/nodes?limit=500, following metadata.continue;
 *    a 410 Gone (stale continue token) restarts the walk from the
 *    beginning once; pages and items are capped;
 *  - list the pods of one node: GET /api/v1/pods?fieldSelector=
 *    spec.nodeName%3DNAME&limit=500, paged the same way;
 *  - cordon / uncordon: GET the node, then PATCH /api/v1/nodes/NAME
 *    (application/merge-patch+json) setting spec.unschedulable and the
 *    annotation nodeherd.io/draining = <operation id> (uncordon: both
 *    null), with metadata.resourceVersion from the GET as a precondition
 *    (a 409 re-reads and tries again, at most 3 times). Only nodeherd's own
 *    cordon is ever undone: cordon reports NOT_OURS, sending nothing, when
 *    the node is already cordoned without this operation's annotation;
 *    uncordon reports NOT_OURS when the annotation is not this operation's;
 *  - evict: POST /api/v1/namespaces/NS/pods/NAME/eviction (policy/v1),
 *    with the pod's uid as a precondition when given. 429 (a
 *    PodDisruptionBudget says not now) is returned as BUDGET with the
 *    server's Retry-After, never retried here and never turned into a
 *    delete.
 *
 * Pacing and retries: a token bucket per client (client-go's defaults: 5
 * requests/s, burst 10; net/ratelimit.h), FIFO. Reads are retried (at most
 * max_attempts, full-jitter backoff, at least the server's Retry-After) on
 * transport failures, 429 and 5xx. A mutation is re-sent only when it
 * certainly never left (NH_HTTP_NOT_SENT); once it may have reached the
 * server, a failure is UNKNOWN (re-read before anything else). A refused
 * certificate (CA, host name, client certificate) ends the call at once
 * as TLS: sending again would not help.
 *
 * Credentials: from a struct nh_kubeconfig (CA, client certificate and
 * key, bearer token), handed to each request in memory (net/http.h's
 * nh_http_tls; the Authorization header is built per request and wiped).
 * Nothing is written to disk, and no message or log line carries a
 * credential: messages name the cluster, the method, the API path (without
 * its query) and the HTTP status.
 *
 * Callbacks run on the loop, never inside the nh_kube_* call that started
 * the operation, exactly once per accepted operation. */
#ifndef NH_KUBE_H
#define NH_KUBE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "kube/kubeconfig.h"
#include "kube/parse.h"
#include "model/kube.h"

struct nh_http;
struct nh_kube;

struct nh_kube_opts {
    const char *name;            /* the cluster, for messages; NULL: "cluster" */
    double qps;                  /* requests per second; 0: 5 */
    unsigned burst;              /* 0: 10 */
    uint64_t timeout_ms;         /* per request; 0: 30 s */
    unsigned page_limit;         /* limit= of list calls; 0: 500 */
    unsigned max_pages;          /* per list walk; 0: 200 */
    size_t max_items;            /* per list walk; 0: 50000 */
    size_t max_body;             /* per answer; 0: 32 MiB */
    unsigned max_attempts;       /* per request; 0: 3 */
    uint64_t backoff_base_ms;    /* 0: 500 */
    uint64_t backoff_max_ms;     /* 0: 10 s */
    uint64_t retry_after_max_ms; /* cap on a server's Retry-After; 0: 60 s */
    uint64_t seed;               /* backoff jitter; 0: from the clock */
};

struct nh_kube_result {
    enum nh_kube_code code;
    int http_status;         /* of the last answer; 0 when there was none */
    uint64_t retry_after_ms; /* BUDGET, UNAVAILABLE: when to try again; 0: no hint */
    /* Evictions answered BUDGET or UNAVAILABLE: true when retry_after_ms
     * comes from the server (a Retry-After header or the Status's
     * details.retryAfterSeconds), false when it is the client's default
     * wait (5 s, as kubectl drain). Always false otherwise. */
    bool retry_hinted;
    /* Borrowed, valid during the callback. Names the cluster, method, path
     * and status, e.g. `cluster web: POST /api/v1/namespaces/shop/pods/
     * cart-0/eviction: HTTP 429: Cannot evict pod as it would violate the
     * pod's disruption budget.` Never a credential. */
    const char *message;
};

/* nodes / pods: on NH_KUBE_OK the list (taken by the callee: free it with
 * nh_kube_node_list_free / nh_kube_pod_list_free), else NULL. */
typedef void (*nh_kube_nodes_fn)(void *ud, const struct nh_kube_result *r,
                                 struct nh_kube_node_list *nodes);
typedef void (*nh_kube_pods_fn)(void *ud, const struct nh_kube_result *r,
                                struct nh_kube_pod_list *pods);
typedef void (*nh_kube_done_fn)(void *ud, const struct nh_kube_result *r);

/* Takes kc (also on failure). http is shared with the rest of the daemon
 * and must outlive the client. 0 or -EINVAL / -ENOMEM. */
int nh_kube_new(uv_loop_t *loop, struct nh_http *http, struct nh_kubeconfig *kc,
                const struct nh_kube_opts *opts, struct nh_kube **ret);
/* Every operation not finished ends now with NH_KUBE_CANCELLED (callbacks
 * run before this returns; none after). Memory goes after the loop has run
 * the close callbacks. NULL ok. */
void nh_kube_free(struct nh_kube *k);
/* Replaces the credentials (renewal); takes kc. Requests sent from now on
 * use it; those in flight finish with the old ones. */
void nh_kube_set_credentials(struct nh_kube *k, struct nh_kubeconfig *kc);
/* Changes the per-request timeout (a reloaded kubernetes.request_timeout);
 * 0: 30 s. Requests sent from now on use it. */
void nh_kube_set_timeout(struct nh_kube *k, uint64_t timeout_ms);
/* Safe to log: the cluster name and nh_kubeconfig_describe(). */
const char *nh_kube_describe(const struct nh_kube *k);

/* Operations. 0 when accepted (the callback will run), or -EINVAL (a
 * name that is not a DNS subdomain, an operation id that is not
 * nh_kube_op_id_ok, NULL callback), -ESHUTDOWN (being freed), -ENOMEM; the
 * callback then never runs. Strings are copied. */
int nh_kube_list_nodes(struct nh_kube *k, nh_kube_nodes_fn cb, void *ud);
int nh_kube_list_pods(struct nh_kube *k, const char *node, nh_kube_pods_fn cb, void *ud);
int nh_kube_cordon(struct nh_kube *k, const char *node, const char *op_id, nh_kube_done_fn cb,
                   void *ud);
int nh_kube_uncordon(struct nh_kube *k, const char *node, const char *op_id, nh_kube_done_fn cb,
                     void *ud);
/* uid: the pod's metadata.uid as last read (NULL: no precondition). */
int nh_kube_evict(struct nh_kube *k, const char *ns, const char *pod, const char *uid,
                  nh_kube_done_fn cb, void *ud);

/* The leadership gate (HA), the shape of net/client.h's nh_client_gate_fn
 * and engine.h's nh_fence_fn: asked before each attempt of a cordon,
 * uncordon or eviction is handed to the HTTP layer; fn(ud, cb, arg) calls
 * cb(arg, ok) exactly once, later or before it returns. ok false ends the
 * operation UNAVAILABLE, not sent. Reads are not gated. NULL: none. */
typedef void (*nh_kube_gate_fn)(void *ud, void (*cb)(void *arg, bool ok), void *arg);
void nh_kube_set_gate(struct nh_kube *k, nh_kube_gate_fn fn, void *ud);

/* Operations accepted and not finished. */
size_t nh_kube_pending(const struct nh_kube *k);

/* For metrics and tests: called when a request is handed to the HTTP layer
 * (status 0, at_ms = loop time) and when its answer arrives (status = the
 * HTTP status, 0 for a transport failure). path excludes the query. */
struct nh_kube_attempt {
    const char *method;
    const char *path;
    bool answered;
    int status;
    uint64_t at_ms;
};
typedef void (*nh_kube_observer_fn)(void *ud, const struct nh_kube_attempt *a);
void nh_kube_set_observer(struct nh_kube *k, nh_kube_observer_fn fn, void *ud);

#endif
