/* kube.c - see kube.h. One operation (struct kop) holds one request at a
 * time; it is in exactly one place: the queue (waiting for its time and a
 * token), in flight (an HTTP transfer), or finished. The queue is sorted by
 * due time, then submission order; one uv timer drives it. */
#include "kube/kube.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "kube/internal.h"
#include "net/http.h"
#include "net/ratelimit.h"
#include "util/buf.h"
#include "util/log.h"
#include "util/rand.h"

#define MAX_CONFLICTS 3 /* 409s on a node patch before giving up */
#define MSG_MAX 640

enum op_kind { OP_NODES, OP_PODS, OP_CORDON, OP_UNCORDON, OP_EVICT };
enum step { STEP_LIST, STEP_GET, STEP_PATCH, STEP_POST };

struct kop {
    struct nh_kube *k;
    struct kop *prev, *next; /* k->ops: every live operation */
    struct kop *qnext;       /* k->queue */
    enum op_kind kind;
    enum step step;
    char *node, *ns, *pod, *uid, *op_id;
    nh_kube_nodes_fn nodes_cb;
    nh_kube_pods_fn pods_cb;
    nh_kube_done_fn done_cb;
    void *ud;
    /* list walks */
    struct nh_kube_node_list *nodes;
    struct nh_kube_pod_list *pods;
    char *cont;
    unsigned pages;
    bool restarted;
    /* node patches */
    unsigned conflicts;
    /* the current request */
    const char *method;
    struct nh_buf path; /* path and query */
    size_t path_len;    /* the path alone, for messages */
    struct nh_buf body;
    const char *ctype;
    bool mutating;
    unsigned attempt;
    bool hinted; /* an eviction's wait came from the server (nh_kube_result.retry_hinted) */
    uint64_t due_ms, seq;
    bool queued, in_flight, dead;
    bool at_gate;              /* in_flight at the leadership gate: no transfer yet */
    bool gate_passed;          /* this attempt was let through the gate */
    struct nh_http_xfer *xfer; /* while in flight */
};

struct nh_kube {
    uv_loop_t *loop;
    struct nh_http *http;
    struct nh_kubeconfig *kc;
    struct nh_kube_opts o;
    char *name;
    char *describe;
    struct nh_bucket bucket;
    struct kop *ops;
    struct kop *queue;
    size_t n_ops;
    size_t n_in_flight; /* HTTP callbacks still to come (dead operations included) */
    uv_timer_t timer;
    bool timer_open;
    bool closing;
    uint64_t seq;
    uint64_t rng;
    nh_kube_observer_fn observer;
    void *observer_ud;
    nh_kube_gate_fn gate; /* asked before each attempt of a mutation; NULL: none */
    void *gate_ud;
};

/* ---- lifecycle ---- */

static void op_free(struct kop *op)
{
    free(op->node);
    free(op->ns);
    free(op->pod);
    free(op->uid);
    free(op->op_id);
    nh_kube_node_list_free(op->nodes);
    nh_kube_pod_list_free(op->pods);
    free(op->cont);
    nh_buf_free(&op->path);
    nh_buf_free(&op->body);
    free(op);
}

static void kube_maybe_free(struct nh_kube *k)
{
    if (!k->closing || k->timer_open || k->n_in_flight > 0)
        return;
    nh_kubeconfig_free(k->kc);
    free(k->name);
    free(k->describe);
    free(k);
}

static void on_timer_closed(uv_handle_t *h)
{
    struct nh_kube *k = h->data;
    k->timer_open = false;
    kube_maybe_free(k);
}

static void queue_remove(struct nh_kube *k, struct kop *op)
{
    for (struct kop **pp = &k->queue; *pp != NULL; pp = &(*pp)->qnext) {
        if (*pp == op) {
            *pp = op->qnext;
            break;
        }
    }
    op->qnext = NULL;
    op->queued = false;
}

static void op_unlink(struct kop *op)
{
    struct nh_kube *k = op->k;
    if (op->queued)
        queue_remove(k, op);
    if (op->prev != NULL)
        op->prev->next = op->next;
    else
        k->ops = op->next;
    if (op->next != NULL)
        op->next->prev = op->prev;
    op->prev = op->next = NULL;
    k->n_ops--;
}

/* Ends the operation: the callback runs, the operation goes (or, when its
 * transfer is still in flight, waits dead for the HTTP callback). */
static void op_finish(struct kop *op, enum nh_kube_code code, int status, uint64_t retry_ms,
                      const char *msg)
{
    struct nh_kube_result r = {
        .code = code,
        .http_status = status,
        .retry_after_ms = code == NH_KUBE_BUDGET || code == NH_KUBE_UNAVAILABLE ? retry_ms : 0,
        .retry_hinted = (code == NH_KUBE_BUDGET || code == NH_KUBE_UNAVAILABLE) && op->hinted,
        .message = msg != NULL ? msg : "",
    };
    op_unlink(op);
    /* In flight: the HTTP callback frees it, maybe even during ours (when
     * the caller closes the HTTP layer from it), so mark it first and do
     * not touch it after our callback. */
    bool in_flight = op->in_flight;
    op->dead = in_flight;
    switch (op->kind) {
    case OP_NODES: {
        struct nh_kube_node_list *l = code == NH_KUBE_OK ? op->nodes : NULL;
        if (l != NULL)
            op->nodes = NULL; /* the callee's now */
        op->nodes_cb(op->ud, &r, l);
        break;
    }
    case OP_PODS: {
        struct nh_kube_pod_list *l = code == NH_KUBE_OK ? op->pods : NULL;
        if (l != NULL)
            op->pods = NULL;
        op->pods_cb(op->ud, &r, l);
        break;
    }
    case OP_CORDON:
    case OP_UNCORDON:
    case OP_EVICT:
        op->done_cb(op->ud, &r);
        break;
    }
    if (!in_flight)
        op_free(op);
}

/* "cluster web: GET /api/v1/nodes (page 2): <what>" */
static void op_failf(struct kop *op, enum nh_kube_code code, int status, uint64_t retry_ms,
                     const char *fmt, ...) __attribute__((format(printf, 5, 6)));
static void op_failf(struct kop *op, enum nh_kube_code code, int status, uint64_t retry_ms,
                     const char *fmt, ...)
{
    char what[MSG_MAX - 160], msg[MSG_MAX], page[32] = "";
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof(what), fmt, ap);
    va_end(ap);
    if (op->step == STEP_LIST && op->pages > 0 && code != NH_KUBE_OK)
        snprintf(page, sizeof(page), " (page %u)", op->pages + 1);
    snprintf(msg, sizeof(msg), "cluster %s: %s %.*s%s: %s", op->k->name, op->method,
             (int)(op->path_len < 200 ? op->path_len : 200), op->path.data ? op->path.data : "",
             page, what);
    op_finish(op, code, status, retry_ms, msg);
}

/* ---- the queue ---- */

static void pump(struct nh_kube *k);

static void on_timer(uv_timer_t *t)
{
    pump(t->data);
}

static void enqueue(struct kop *op, uint64_t delay_ms)
{
    struct nh_kube *k = op->k;
    op->due_ms = uv_now(k->loop) + delay_ms;
    op->seq = ++k->seq;
    struct kop **pp = &k->queue;
    while (*pp != NULL && (*pp)->due_ms <= op->due_ms)
        pp = &(*pp)->qnext;
    op->qnext = *pp;
    *pp = op;
    op->queued = true;
}

/* From an API call: run the queue from the loop, not the caller's stack. */
static void kick(struct nh_kube *k)
{
    if (!k->closing)
        uv_timer_start(&k->timer, on_timer, 0, 0);
}

static uint64_t next_random(struct nh_kube *k)
{
    return nh_rand_next(&k->rng);
}

static void observe(struct kop *op, bool answered, int status)
{
    struct nh_kube *k = op->k;
    if (k->observer == NULL)
        return;
    char path[256];
    snprintf(path, sizeof(path), "%.*s", (int)(op->path_len < 255 ? op->path_len : 255),
             op->path.data ? op->path.data : "");
    struct nh_kube_attempt a = {
        .method = op->method,
        .path = path,
        .answered = answered,
        .status = status,
        .at_ms = uv_now(k->loop),
    };
    k->observer(k->observer_ud, &a);
}

static void on_http_done(void *ud, const struct nh_http_resp *resp);

static void send_op(struct kop *op);

/* The leadership gate answered for one attempt of a mutation. */
static void gate_done(void *arg, bool ok)
{
    struct kop *op = arg;
    struct nh_kube *k = op->k;
    op->at_gate = false;
    op->in_flight = false;
    k->n_in_flight--;
    if (op->dead) { /* finished (cancelled) at the gate: nothing was sent */
        op_free(op);
        kube_maybe_free(k);
        return;
    }
    if (!ok) {
        op_failf(op, NH_KUBE_UNAVAILABLE, 0, 0,
                 "not sent: this instance does not hold the leadership");
    } else {
        op->gate_passed = true;
        send_op(op);
        op->gate_passed = false;
    }
    if (!k->closing)
        pump(k);
    kube_maybe_free(k);
}

static void send_op(struct kop *op)
{
    struct nh_kube *k = op->k;
    struct nh_kubeconfig *kc = k->kc;
    /* A mutation (cordon, uncordon, eviction) is fenced like a cloud
     * mutation: each attempt goes only when the gate says this instance
     * still leads (HA). It counts as in flight meanwhile. */
    if (op->mutating && k->gate != NULL && !op->gate_passed) {
        op->at_gate = true;
        op->in_flight = true;
        k->n_in_flight++;
        k->gate(k->gate_ud, gate_done, op);
        return;
    }
    struct nh_buf url;
    char *auth = NULL;
    size_t auth_len = 0;
    char ctype[96];
    const char *headers[6];
    size_t nh = 0;
    static const char *const capture[] = {"retry-after", NULL};

    nh_buf_init(&url, 0);
    int r = nh_buf_appends(&url, kc->server);
    if (r == 0)
        r = nh_buf_append(&url, op->path.data, op->path.len);
    headers[nh++] = "Accept: application/json";
    headers[nh++] = "User-Agent: nodeherd/" NH_VERSION;
    if (op->ctype != NULL) {
        snprintf(ctype, sizeof(ctype), "Content-Type: %s", op->ctype);
        headers[nh++] = ctype;
    }
    if (r == 0 && kc->token != NULL) {
        size_t tlen;
        const unsigned char *t = nh_secret_bytes(kc->token, &tlen);
        static const char pre[] = "Authorization: Bearer ";
        auth_len = sizeof(pre) - 1 + tlen;
        auth = malloc(auth_len + 1);
        if (auth == NULL) {
            r = -ENOMEM;
        } else {
            memcpy(auth, pre, sizeof(pre) - 1);
            memcpy(auth + sizeof(pre) - 1, t, tlen);
            auth[auth_len] = '\0';
            headers[nh++] = auth;
        }
    }
    headers[nh] = NULL;
    struct nh_http_tls tls = {
        .ca_pem = kc->ca,
        .ca_pem_len = kc->ca_len,
        .cert_pem = kc->cert,
        .cert_pem_len = kc->cert_len,
    };
    if (kc->key != NULL)
        tls.key_pem = nh_secret_bytes(kc->key, &tls.key_pem_len);
    struct nh_http_req req = {
        .method = op->method,
        .url = url.data,
        .headers = headers,
        .body = op->body.len > 0 ? op->body.data : NULL,
        .body_len = op->body.len,
        .fresh_connection = op->mutating,
        .timeout_ms = k->o.timeout_ms,
        .max_body = k->o.max_body,
        .capture_headers = capture,
        .tls = kc->https ? &tls : NULL,
    };
    op->attempt++;
    if (r == 0) {
        observe(op, false, 0);
        r = nh_http_submit(k->http, &req, on_http_done, op, &op->xfer);
    }
    if (auth != NULL) {
        explicit_bzero(auth, auth_len);
        free(auth);
    }
    nh_buf_free(&url);
    if (r < 0) {
        if (r == -ESHUTDOWN)
            op_failf(op, NH_KUBE_CANCELLED, 0, 0, "the HTTP layer is shutting down");
        else
            op_failf(op, NH_KUBE_FAILED, 0, 0, "the request could not be made (%s)", strerror(-r));
        return;
    }
    op->in_flight = true;
    k->n_in_flight++;
}

static void pump(struct nh_kube *k)
{
    while (!k->closing && k->queue != NULL) {
        uint64_t now = uv_now(k->loop);
        struct kop *op = k->queue;
        if (op->due_ms > now) {
            uv_timer_start(&k->timer, on_timer, op->due_ms - now, 0);
            return;
        }
        uint64_t wait = nh_bucket_take(&k->bucket, now);
        if (wait > 0) {
            uv_timer_start(&k->timer, on_timer, wait, 0);
            return;
        }
        k->queue = op->qnext;
        op->qnext = NULL;
        op->queued = false;
        send_op(op); /* may finish the operation (callback) */
    }
}

/* ---- requests ---- */

static int set_path(struct kop *op, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int set_path(struct kop *op, const char *fmt, ...)
{
    char buf[600];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof(buf))
        return -E2BIG;
    nh_buf_reset(&op->path);
    int r = nh_buf_appends(&op->path, buf);
    op->path_len = strcspn(buf, "?");
    return r;
}

/* The next list page (or the first), with the continue token if any. */
static int build_list(struct kop *op)
{
    struct nh_kube *k = op->k;
    int r;
    op->method = "GET";
    op->step = STEP_LIST;
    op->mutating = false;
    op->ctype = NULL;
    op->attempt = 0;
    nh_buf_reset(&op->body);
    if (op->kind == OP_NODES)
        r = set_path(op, "/api/v1/nodes?limit=%u", k->o.page_limit);
    else
        r = set_path(op, "/api/v1/pods?fieldSelector=spec.nodeName%%3D%s&limit=%u", op->node,
                     k->o.page_limit);
    if (r == 0 && op->cont != NULL) {
        r = nh_buf_appends(&op->path, "&continue=");
        if (r == 0)
            r = nh_kube_url_encode(&op->path, op->cont);
    }
    return r;
}

static int build_get_node(struct kop *op)
{
    op->method = "GET";
    op->step = STEP_GET;
    op->mutating = false;
    op->ctype = NULL;
    op->attempt = 0;
    nh_buf_reset(&op->body);
    return set_path(op, "/api/v1/nodes/%s", op->node);
}

static int build_patch_node(struct kop *op, const char *rv)
{
    op->method = "PATCH";
    op->step = STEP_PATCH;
    op->mutating = true;
    op->ctype = "application/merge-patch+json";
    op->attempt = 0;
    nh_buf_reset(&op->body);
    int r = op->kind == OP_CORDON ? nh_kube_body_cordon(&op->body, op->op_id, rv)
                                  : nh_kube_body_uncordon(&op->body, rv);
    return r == 0 ? set_path(op, "/api/v1/nodes/%s", op->node) : r;
}

static int build_evict(struct kop *op)
{
    op->method = "POST";
    op->step = STEP_POST;
    op->mutating = true;
    op->ctype = "application/json";
    op->attempt = 0;
    nh_buf_reset(&op->body);
    int r = nh_kube_body_eviction(&op->body, op->ns, op->pod, op->uid);
    return r == 0 ? set_path(op, "/api/v1/namespaces/%s/pods/%s/eviction", op->ns, op->pod) : r;
}

/* ---- answers ---- */

static uint64_t hint_of(struct nh_kube *k, const struct nh_http_resp *resp)
{
    uint64_t h = nh_retry_after_ms(nh_http_resp_header(resp, "retry-after"), (int64_t)time(NULL));
    return h > k->o.retry_after_max_ms ? k->o.retry_after_max_ms : h;
}

static uint64_t backoff(struct kop *op)
{
    struct nh_kube *k = op->k;
    return nh_backoff_ms(op->attempt > 0 ? op->attempt - 1 : 0, k->o.backoff_base_ms,
                         k->o.backoff_max_ms, next_random(k));
}

/* The same request again later, if attempts are left; else UNAVAILABLE. */
static void retry_or_give_up(struct kop *op, int status, uint64_t hint, const char *what)
{
    struct nh_kube *k = op->k;
    if (op->attempt < k->o.max_attempts) {
        uint64_t wait = backoff(op);
        if (hint > wait)
            wait = hint;
        if (status == 429) /* everyone on this cluster waits, not just us */
            nh_bucket_throttled(&k->bucket, uv_now(k->loop), wait);
        enqueue(op, wait);
        return;
    }
    op_failf(op, NH_KUBE_UNAVAILABLE, status, hint, "%s (after %u attempts)", what, op->attempt);
}

/* Status and message of an error answer, for messages. */
static void describe_status(const struct nh_http_resp *resp, struct nh_kube_status *st, char *buf,
                            size_t len)
{
    nh_kube_parse_status(resp->body, resp->body_len, st);
    if (st->message[0] != '\0')
        snprintf(buf, len, "HTTP %d: %s", resp->status, st->message);
    else
        snprintf(buf, len, "HTTP %d", resp->status);
}

/* Error answers to reads (lists, GET node). */
static void read_failed(struct kop *op, const struct nh_http_resp *resp)
{
    struct nh_kube_status st;
    char what[400];
    int s = resp->status;
    describe_status(resp, &st, what, sizeof(what));
    if (s == 401 || s == 403) {
        op_failf(op, NH_KUBE_DENIED, s, 0, "%s (check the kubeconfig's credentials and RBAC)",
                 what);
    } else if (s == 404) {
        op_failf(op, op->step == STEP_GET ? NH_KUBE_GONE : NH_KUBE_FAILED, s, 0, "%s", what);
    } else if (s == 429 || s >= 500) {
        uint64_t hint = hint_of(op->k, resp);
        if ((uint64_t)st.retry_after_s * 1000 > hint)
            hint = (uint64_t)st.retry_after_s * 1000;
        if (hint > op->k->o.retry_after_max_ms)
            hint = op->k->o.retry_after_max_ms;
        retry_or_give_up(op, s, hint, what);
    } else {
        op_failf(op, NH_KUBE_FAILED, s, 0, "%s", what);
    }
}

static void next_or_finish(struct kop *op, int r)
{
    if (r < 0) {
        op_failf(op, NH_KUBE_FAILED, 0, 0, "cannot build the next request (%s)", strerror(-r));
        return;
    }
    enqueue(op, 0);
}

static void list_answer(struct kop *op, const struct nh_http_resp *resp)
{
    struct nh_kube *k = op->k;
    char err[320] = "";
    char *cont = NULL;
    int r;
    if (resp->status == 410) {
        /* The continue token expired (the list changed too much while we
         * paged): the pages so far are no longer one snapshot; start over
         * once. https://kubernetes.io/docs/reference/using-api/api-concepts/ */
        if (op->restarted) {
            op_failf(op, NH_KUBE_UNAVAILABLE, 410, 0,
                     "HTTP 410 Gone again after restarting the list; try again later");
            return;
        }
        op->restarted = true;
        op->pages = 0;
        free(op->cont);
        op->cont = NULL;
        if (op->nodes != NULL)
            while (op->nodes->n > 0)
                nh_kube_node_clear(&op->nodes->items[--op->nodes->n]);
        if (op->pods != NULL)
            while (op->pods->n > 0)
                nh_kube_pod_clear(&op->pods->items[--op->pods->n]);
        next_or_finish(op, build_list(op));
        return;
    }
    if (resp->status != 200) {
        read_failed(op, resp);
        return;
    }
    if (op->kind == OP_NODES)
        r = nh_kube_parse_node_list(resp->body, resp->body_len, op->nodes, k->o.max_items, &cont,
                                    err, sizeof(err));
    else
        r = nh_kube_parse_pod_list(resp->body, resp->body_len, op->node, op->pods, k->o.max_items,
                                   &cont, err, sizeof(err));
    if (r == -ENOMEM) {
        op_failf(op, NH_KUBE_FAILED, 200, 0, "out of memory");
        return;
    }
    if (r < 0) {
        op_failf(op, NH_KUBE_BAD_ANSWER, 200, 0, "HTTP 200 with an answer that cannot be used: %s",
                 err);
        return;
    }
    op->pages++;
    free(op->cont);
    op->cont = cont;
    if (cont == NULL) {
        op_failf(op, NH_KUBE_OK, 200, 0, "%u page%s", op->pages, op->pages == 1 ? "" : "s");
        return;
    }
    if (op->pages >= k->o.max_pages) {
        op_failf(op, NH_KUBE_BAD_ANSWER, 200, 0,
                 "more than %u pages; the list is refused as incomplete", k->o.max_pages);
        return;
    }
    next_or_finish(op, build_list(op));
}

static void get_node_answer(struct kop *op, const struct nh_http_resp *resp)
{
    char err[320] = "";
    char *rv = NULL;
    struct nh_kube_node n = {0};
    if (resp->status != 200) {
        read_failed(op, resp);
        return;
    }
    int r = nh_kube_parse_node(resp->body, resp->body_len, &n, &rv, err, sizeof(err));
    if (r < 0) {
        op_failf(op, r == -ENOMEM ? NH_KUBE_FAILED : NH_KUBE_BAD_ANSWER, 200, 0,
                 "HTTP 200 with an answer that cannot be used: %s", err);
        return;
    }
    const char *mark = nh_kube_node_annotation(&n, NH_KUBE_ANN_DRAINING);
    bool ours = mark != NULL && strcmp(mark, op->op_id) == 0;
    bool cordoned = n.unschedulable;
    char theirs[80];
    snprintf(theirs, sizeof(theirs), "%s%.40s%s", mark ? "\"" : "", mark ? mark : "none",
             mark ? "\"" : "");
    nh_kube_node_clear(&n);
    if (op->kind == OP_CORDON && cordoned) {
        free(rv);
        if (ours)
            op_failf(op, NH_KUBE_OK, 200, 0, "already cordoned by operation %s", op->op_id);
        else
            op_failf(op, NH_KUBE_NOT_OURS, 200, 0,
                     "node %s is already cordoned by someone else (%s: %s); left as it is",
                     op->node, NH_KUBE_ANN_DRAINING, theirs);
        return;
    }
    if (op->kind == OP_UNCORDON && !ours) {
        free(rv);
        op_failf(op, NH_KUBE_NOT_OURS, 200, 0,
                 "node %s was not cordoned by operation %s (%s: %s); left as it is", op->node,
                 op->op_id, NH_KUBE_ANN_DRAINING, theirs);
        return;
    }
    r = build_patch_node(op, rv);
    free(rv);
    next_or_finish(op, r);
}

static void patch_answer(struct kop *op, const struct nh_http_resp *resp)
{
    struct nh_kube_status st;
    char what[400];
    uint64_t retry = 0;
    describe_status(resp, &st, what, sizeof(what));
    enum nh_kube_code c = nh_kube_classify_patch(resp->status, &st, hint_of(op->k, resp), &retry);
    if (c == NH_KUBE_UNAVAILABLE && ++op->conflicts <= MAX_CONFLICTS) {
        /* 409: the node changed since we read it; 429: refused before it
         * ran. Either way nothing was applied: read it again. */
        uint64_t wait = backoff(op);
        if (retry > wait)
            wait = retry;
        int r = build_get_node(op);
        if (r < 0) {
            op_failf(op, NH_KUBE_FAILED, resp->status, 0, "cannot build the request (%s)",
                     strerror(-r));
            return;
        }
        enqueue(op, wait);
        return;
    }
    if (c == NH_KUBE_OK)
        op_failf(op, c, resp->status, 0, "%s node %s",
                 op->kind == OP_CORDON ? "cordoned" : "uncordoned", op->node);
    else
        op_failf(op, c, resp->status, retry, "%s%s", what,
                 c == NH_KUBE_UNKNOWN ? " (the change may have been applied; read the node "
                                        "before anything else)"
                                      : "");
}

static void evict_answer(struct kop *op, const struct nh_http_resp *resp)
{
    struct nh_kube_status st;
    char what[400];
    uint64_t retry = 0;
    describe_status(resp, &st, what, sizeof(what));
    uint64_t hint = hint_of(op->k, resp);
    enum nh_kube_code c = nh_kube_classify_eviction(resp->status, &st, hint, &retry);
    op->hinted = hint > 0 || st.retry_after_s > 0;
    const char *more = "";
    switch (c) {
    case NH_KUBE_BUDGET:
        more = " (a PodDisruptionBudget does not allow it now; retry later, never delete the pod)";
        break;
    case NH_KUBE_MISCONFIGURED:
        more = " (fix the PodDisruptionBudgets that select this pod; the drain stops)";
        break;
    case NH_KUBE_UNKNOWN:
        more = " (the eviction may have been accepted; read the pod before anything else)";
        break;
    case NH_KUBE_OK:
    case NH_KUBE_GONE:
    case NH_KUBE_NOT_OURS:
    case NH_KUBE_DENIED:
    case NH_KUBE_TLS:
    case NH_KUBE_UNAVAILABLE:
    case NH_KUBE_BAD_ANSWER:
    case NH_KUBE_FAILED:
    case NH_KUBE_CANCELLED:
        break;
    }
    op_failf(op, c, resp->status, retry, "%s%s", what, more);
}

static void transport_failed(struct kop *op, const struct nh_http_resp *resp)
{
    struct nh_kube *k = op->k;
    const char *err = resp->error != NULL ? resp->error : nh_http_outcome_name(resp->outcome);
    if (resp->outcome == NH_HTTP_CANCELLED && (k->closing || nh_http_is_closing(k->http))) {
        op_failf(op, NH_KUBE_CANCELLED, 0, 0, "cancelled (shutting down)%s",
                 op->mutating && resp->request_sent ? "; the change may have been applied" : "");
        return;
    }
    if (resp->tls_refused) {
        op_failf(op, NH_KUBE_TLS, 0, 0,
                 "TLS: %.200s; check the kubeconfig's certificate-authority-data and server%s", err,
                 k->kc->key != NULL ? " (and its client certificate)" : "");
        return;
    }
    switch (resp->outcome) {
    case NH_HTTP_TOO_BIG:
        op_failf(op, NH_KUBE_BAD_ANSWER, 0, 0, "the answer is larger than %zu bytes",
                 k->o.max_body);
        return;
    case NH_HTTP_ERROR:
        op_failf(op, NH_KUBE_FAILED, 0, 0, "%.200s", err);
        return;
    case NH_HTTP_NOT_SENT:
        break; /* never left: safe to send again, mutation or not */
    case NH_HTTP_TIMEOUT:
    case NH_HTTP_RESET:
    case NH_HTTP_CANCELLED:
        if (op->mutating && resp->request_sent) {
            op_failf(op, NH_KUBE_UNKNOWN, 0, 0,
                     "%s: %.200s (the change may have been applied; read before anything else)",
                     nh_http_outcome_name(resp->outcome), err);
            return;
        }
        break;
    case NH_HTTP_OK:
        break;
    }
    char what[300];
    snprintf(what, sizeof(what), "%s: %.200s", nh_http_outcome_name(resp->outcome), err);
    retry_or_give_up(op, 0, 0, what);
}

static void on_http_done(void *ud, const struct nh_http_resp *resp)
{
    struct kop *op = ud;
    struct nh_kube *k = op->k;
    op->in_flight = false;
    op->xfer = NULL;
    k->n_in_flight--;
    if (op->dead) { /* finished (cancelled) while in flight */
        op_free(op);
        kube_maybe_free(k);
        return;
    }
    observe(op, true, resp->outcome == NH_HTTP_OK ? resp->status : 0);
    nh_log(LOG_DEBUG, "kube %s: %s %.*s: %s %d", k->name, op->method, (int)op->path_len,
           op->path.data, nh_http_outcome_name(resp->outcome), resp->status);
    if (resp->outcome != NH_HTTP_OK) {
        transport_failed(op, resp);
    } else {
        if (resp->status >= 200 && resp->status <= 299)
            nh_bucket_succeeded(&k->bucket, uv_now(k->loop)); /* AIMD recovery */
        switch (op->step) {
        case STEP_LIST:
            list_answer(op, resp);
            break;
        case STEP_GET:
            get_node_answer(op, resp);
            break;
        case STEP_PATCH:
            patch_answer(op, resp);
            break;
        case STEP_POST:
            evict_answer(op, resp);
            break;
        }
    }
    if (!k->closing)
        pump(k);
    kube_maybe_free(k);
}

/* ---- API ---- */

static int rebuild_describe(struct nh_kube *k)
{
    char buf[1200];
    snprintf(buf, sizeof(buf), "cluster %s: %s", k->name, nh_kubeconfig_describe(k->kc));
    char *d = strdup(buf);
    if (d == NULL)
        return -ENOMEM;
    free(k->describe);
    k->describe = d;
    return 0;
}

int nh_kube_new(uv_loop_t *loop, struct nh_http *http, struct nh_kubeconfig *kc,
                const struct nh_kube_opts *opts, struct nh_kube **ret)
{
    if (loop == NULL || http == NULL || kc == NULL || ret == NULL) {
        nh_kubeconfig_free(kc);
        return -EINVAL;
    }
    struct nh_kube *k = calloc(1, sizeof(*k));
    if (k == NULL) {
        nh_kubeconfig_free(kc);
        return -ENOMEM;
    }
    k->kc = kc;
    if (opts != NULL)
        k->o = *opts;
    struct nh_kube_opts *o = &k->o;
    if (!(o->qps > 0.0))
        o->qps = 5.0;
    if (o->burst == 0)
        o->burst = 10;
    if (o->page_limit == 0)
        o->page_limit = 500;
    if (o->max_pages == 0)
        o->max_pages = 200;
    if (o->max_items == 0)
        o->max_items = 50000;
    if (o->max_body == 0)
        o->max_body = (size_t)32 << 20;
    if (o->max_attempts == 0)
        o->max_attempts = 3;
    if (o->backoff_base_ms == 0)
        o->backoff_base_ms = 500;
    if (o->backoff_max_ms == 0)
        o->backoff_max_ms = 10000;
    if (o->retry_after_max_ms == 0)
        o->retry_after_max_ms = 60000;
    k->name = strdup(o->name != NULL ? o->name : "cluster");
    o->name = k->name;
    if (k->name == NULL || rebuild_describe(k) < 0) {
        nh_kubeconfig_free(kc);
        free(k->name);
        free(k->describe);
        free(k);
        return -ENOMEM;
    }
    k->loop = loop;
    k->http = http;
    k->rng = o->seed != 0 ? o->seed : (uv_hrtime() ^ ((uint64_t)getpid() << 32)) | 1;
    nh_bucket_init(&k->bucket, o->qps, o->burst, uv_now(loop));
    uv_timer_init(loop, &k->timer);
    k->timer.data = k;
    k->timer_open = true;
    *ret = k;
    return 0;
}

void nh_kube_free(struct nh_kube *k)
{
    if (k == NULL || k->closing)
        return;
    k->closing = true;
    uv_timer_stop(&k->timer);
    /* In flight: cancel the transfer; the HTTP callback comes later and
     * frees the dead operation. Everyone's callback runs now, in order. */
    while (k->ops != NULL) {
        struct kop *op = k->ops;
        while (op->next != NULL) /* oldest first */
            op = op->next;
        bool sent = op->in_flight && op->mutating && !op->at_gate;
        if (op->in_flight && !op->at_gate) /* its callback comes later and frees the op */
            nh_http_cancel(op->xfer);
        op_failf(op, NH_KUBE_CANCELLED, 0, 0, "cancelled (client freed)%s",
                 sent ? "; the change may have been applied" : "");
    }
    uv_close((uv_handle_t *)&k->timer, on_timer_closed);
}

void nh_kube_set_credentials(struct nh_kube *k, struct nh_kubeconfig *kc)
{
    if (k == NULL || kc == NULL) {
        nh_kubeconfig_free(kc);
        return;
    }
    nh_kubeconfig_free(k->kc);
    k->kc = kc;
    rebuild_describe(k); /* on ENOMEM the old description stays */
}

void nh_kube_set_timeout(struct nh_kube *k, uint64_t timeout_ms)
{
    if (k != NULL)
        k->o.timeout_ms = timeout_ms; /* 0: the HTTP layer's 30 s */
}

const char *nh_kube_describe(const struct nh_kube *k)
{
    return k != NULL && k->describe != NULL ? k->describe : "(no cluster)";
}

size_t nh_kube_pending(const struct nh_kube *k)
{
    return k != NULL ? k->n_ops : 0;
}

void nh_kube_set_gate(struct nh_kube *k, nh_kube_gate_fn fn, void *ud)
{
    k->gate = fn;
    k->gate_ud = ud;
}

void nh_kube_set_observer(struct nh_kube *k, nh_kube_observer_fn fn, void *ud)
{
    k->observer = fn;
    k->observer_ud = ud;
}

static struct kop *op_new(struct nh_kube *k, enum op_kind kind, void *ud)
{
    struct kop *op = calloc(1, sizeof(*op));
    if (op == NULL)
        return NULL;
    op->k = k;
    op->kind = kind;
    op->ud = ud;
    op->method = "GET";
    nh_buf_init(&op->path, 3 * NH_KUBE_MAX_CONTINUE + 1024); /* an encoded token */
    nh_buf_init(&op->body, 4096);
    return op;
}

/* Links a built operation and queues its first request. */
static int op_start(struct kop *op, int build_rc)
{
    struct nh_kube *k = op->k;
    if (build_rc < 0) {
        op_free(op);
        return build_rc == -E2BIG ? -EINVAL : build_rc;
    }
    op->next = k->ops;
    if (k->ops != NULL)
        k->ops->prev = op;
    k->ops = op;
    k->n_ops++;
    enqueue(op, 0);
    kick(k);
    return 0;
}

static int dup_all(char **a, const char *sa, char **b, const char *sb)
{
    if (sa != NULL && (*a = strdup(sa)) == NULL)
        return -ENOMEM;
    if (sb != NULL && (*b = strdup(sb)) == NULL)
        return -ENOMEM;
    return 0;
}

int nh_kube_list_nodes(struct nh_kube *k, nh_kube_nodes_fn cb, void *ud)
{
    if (k == NULL || cb == NULL)
        return -EINVAL;
    if (k->closing)
        return -ESHUTDOWN;
    struct kop *op = op_new(k, OP_NODES, ud);
    if (op == NULL)
        return -ENOMEM;
    op->nodes_cb = cb;
    op->nodes = calloc(1, sizeof(*op->nodes));
    return op_start(op, op->nodes == NULL ? -ENOMEM : build_list(op));
}

int nh_kube_list_pods(struct nh_kube *k, const char *node, nh_kube_pods_fn cb, void *ud)
{
    if (k == NULL || cb == NULL || !nh_kube_name_ok(node))
        return -EINVAL;
    if (k->closing)
        return -ESHUTDOWN;
    struct kop *op = op_new(k, OP_PODS, ud);
    if (op == NULL)
        return -ENOMEM;
    op->pods_cb = cb;
    op->pods = calloc(1, sizeof(*op->pods));
    int r = op->pods == NULL ? -ENOMEM : dup_all(&op->node, node, &op->ns, NULL);
    return op_start(op, r < 0 ? r : build_list(op));
}

static int node_op(struct nh_kube *k, enum op_kind kind, const char *node, const char *op_id,
                   nh_kube_done_fn cb, void *ud)
{
    if (k == NULL || cb == NULL || !nh_kube_name_ok(node) || !nh_kube_op_id_ok(op_id))
        return -EINVAL;
    if (k->closing)
        return -ESHUTDOWN;
    struct kop *op = op_new(k, kind, ud);
    if (op == NULL)
        return -ENOMEM;
    op->done_cb = cb;
    int r = dup_all(&op->node, node, &op->op_id, op_id);
    return op_start(op, r < 0 ? r : build_get_node(op));
}

int nh_kube_cordon(struct nh_kube *k, const char *node, const char *op_id, nh_kube_done_fn cb,
                   void *ud)
{
    return node_op(k, OP_CORDON, node, op_id, cb, ud);
}

int nh_kube_uncordon(struct nh_kube *k, const char *node, const char *op_id, nh_kube_done_fn cb,
                     void *ud)
{
    return node_op(k, OP_UNCORDON, node, op_id, cb, ud);
}

int nh_kube_evict(struct nh_kube *k, const char *ns, const char *pod, const char *uid,
                  nh_kube_done_fn cb, void *ud)
{
    if (k == NULL || cb == NULL || !nh_kube_name_ok(ns) || !nh_kube_name_ok(pod))
        return -EINVAL;
    if (uid != NULL && (uid[0] == '\0' || strlen(uid) > 128 || strpbrk(uid, "\"\\") != NULL))
        return -EINVAL;
    if (k->closing)
        return -ESHUTDOWN;
    struct kop *op = op_new(k, OP_EVICT, ud);
    if (op == NULL)
        return -ENOMEM;
    op->done_cb = cb;
    int r = dup_all(&op->ns, ns, &op->pod, pod);
    if (r == 0 && uid != NULL && (op->uid = strdup(uid)) == NULL)
        r = -ENOMEM;
    return op_start(op, r < 0 ? r : build_evict(op));
}
