/* provider.c - provider construction (dispatch on kind, endpoint, copied
 * credentials), and the request machinery the three clouds share: the
 * operation context embedding struct nh_call, per-attempt URL building and
 * signing, answer classification, deferred delivery and cancellation. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "providers/internal.h"
#include "util/log.h"

/* ---------- wall clock ---------- */

static int64_t (*wall_fn)(void);

void nh_provider_set_wall_clock(int64_t (*fn)(void))
{
    wall_fn = fn;
}

int64_t nh_prov_wall_now(void)
{
    return wall_fn != NULL ? wall_fn() : (int64_t)time(NULL);
}

/* ---------- endpoints ---------- */

static char *strip_slash(const char *s)
{
    size_t n = strlen(s);
    while (n > 0 && s[n - 1] == '/')
        n--;
    char *r = malloc(n + 1);
    if (r != NULL) {
        memcpy(r, s, n);
        r[n] = '\0';
    }
    return r;
}

char *nh_provider_endpoint(const struct nh_cfg_provider *cfg)
{
    static const char *const ack_global[] = {"cn-wuhan", "cn-zhangbei", "cn-fujian", "cn-edge-1"};
    char buf[256];

    if (cfg == NULL)
        return NULL;
    if (cfg->endpoint != NULL && cfg->endpoint[0] != '\0')
        return strip_slash(cfg->endpoint);
    if (cfg->region == NULL || !nh_prov_path_safe(cfg->region))
        return NULL;
    switch (cfg->kind) {
    case NH_PROVIDER_ACK:
        for (size_t i = 0; i < sizeof(ack_global) / sizeof(ack_global[0]); i++)
            if (strcmp(cfg->region, ack_global[i]) == 0)
                return strdup("https://cs.aliyuncs.com");
        snprintf(buf, sizeof(buf), "https://cs.%s.aliyuncs.com", cfg->region);
        break;
    case NH_PROVIDER_CCE:
        if (strcmp(cfg->region, "eu-west-101") == 0)
            snprintf(buf, sizeof(buf), "https://cce.%s.myhuaweicloud.eu", cfg->region);
        else
            snprintf(buf, sizeof(buf), "https://cce.%s.myhuaweicloud.com", cfg->region);
        break;
    case NH_PROVIDER_MODELARTS:
        if (strcmp(cfg->region, "ap-southeast-1") == 0)
            snprintf(buf, sizeof(buf), "https://modelarts.%s.myhuaweicloud.cn", cfg->region);
        else
            snprintf(buf, sizeof(buf), "https://modelarts.%s.myhuaweicloud.com", cfg->region);
        break;
    }
    return strdup(buf);
}

/* "scheme://host[:port]" -> the Host header value curl sends: the port is
 * kept only when it is not the scheme's default. */
static int host_header(const char *endpoint, char **ret, char *err, size_t errlen)
{
    const char *p = strstr(endpoint, "://");
    bool https;
    size_t n;

    if (p == NULL) {
        snprintf(err, errlen, "endpoint \"%s\": expected scheme://host[:port]", endpoint);
        return -EINVAL;
    }
    https = (size_t)(p - endpoint) == 5 && strncmp(endpoint, "https", 5) == 0;
    if (!https && !((size_t)(p - endpoint) == 4 && strncmp(endpoint, "http", 4) == 0)) {
        snprintf(err, errlen, "endpoint \"%s\": only https:// (or http:// to loopback)", endpoint);
        return -EINVAL;
    }
    p += 3;
    n = strcspn(p, "/?#");
    if (n == 0 || p[n] != '\0') {
        snprintf(err, errlen, "endpoint \"%s\": expected scheme://host[:port] without a path",
                 endpoint);
        return -EINVAL;
    }
    char *h = strndup(p, n);
    if (h == NULL)
        return -ENOMEM;
    /* Drop a default port: curl would not send it. */
    char *colon = strrchr(h, ':');
    if (colon != NULL && strchr(colon, ']') == NULL) {
        if ((https && strcmp(colon, ":443") == 0) || (!https && strcmp(colon, ":80") == 0))
            *colon = '\0';
    }
    *ret = h;
    return 0;
}

/* ---------- construction ---------- */

static void prov_secret_free(unsigned char *s, size_t len)
{
    if (s != NULL) {
        explicit_bzero(s, len);
        free(s);
    }
}

static int copy_secret(const struct nh_secret *s, unsigned char **ret, size_t *ret_len)
{
    size_t len = 0;
    const unsigned char *b = nh_secret_bytes(s, &len);
    unsigned char *c;

    if (b == NULL)
        return -EINVAL;
    c = malloc(len + 1);
    if (c == NULL)
        return -ENOMEM;
    memcpy(c, b, len);
    c[len] = '\0';
    *ret = c;
    *ret_len = len;
    return 0;
}

struct nh_defer {
    uv_timer_t timer;
    struct nh_prov *p; /* NULL once the provider is gone */
};

static void defer_closed(uv_handle_t *h)
{
    free(h->data);
}

static void pop_deliver(struct nh_pop *op);

static void on_defer(uv_timer_t *t)
{
    struct nh_defer *d = t->data;
    struct nh_pop *op;

    while (d->p != NULL && (op = d->p->deferred) != NULL) {
        d->p->deferred = op->dnext;
        if (d->p->deferred == NULL)
            d->p->deferred_tail = NULL;
        op->dnext = NULL;
        pop_deliver(op); /* may free the provider: d->p is then NULL */
    }
}

int nh_provider_new(const struct nh_cfg_provider *cfg, const struct nh_provider_env *env,
                    struct nh_provider **ret, char *err, size_t errlen)
{
    struct nh_prov *p;
    struct nh_client_opts copts;
    size_t ak_len = 0, tok_len = 0;
    unsigned char *tmp = NULL;
    int r;

    if (cfg == NULL || env == NULL || env->loop == NULL || env->http == NULL || ret == NULL) {
        snprintf(err, errlen, "provider: missing configuration or environment");
        return -EINVAL;
    }
    p = calloc(1, sizeof(*p));
    if (p == NULL)
        goto nomem;
    p->pub.kind = cfg->kind;
    p->pub.loop = env->loop;
    p->signing = cfg->signing;
    p->timeout_ms = cfg->timeout_ms;
    p->connect_timeout_ms = cfg->connect_timeout_ms;
    switch (cfg->kind) {
    case NH_PROVIDER_ACK:
        p->pub.ops = &nh_ack_ops;
        p->cloud = &nh_ack_cloud;
        break;
    case NH_PROVIDER_CCE:
        p->pub.ops = &nh_cce_ops;
        p->cloud = &nh_huawei_cloud;
        break;
    case NH_PROVIDER_MODELARTS:
        p->pub.ops = &nh_ma_ops;
        p->cloud = &nh_huawei_cloud;
        break;
    }
    p->pub.name = strdup(cfg->name != NULL ? cfg->name : "?");
    p->region = cfg->region != NULL ? strdup(cfg->region) : NULL;
    if (p->pub.name == NULL || (cfg->region != NULL && p->region == NULL))
        goto nomem;
    p->pub.endpoint = nh_provider_endpoint(cfg);
    if (p->pub.endpoint == NULL) {
        snprintf(err, errlen,
                 "provider %s: no endpoint: set region (letters, digits, '-') or endpoint:",
                 p->pub.name);
        r = -EINVAL;
        goto fail;
    }
    r = host_header(p->pub.endpoint, &p->host, err, errlen);
    if (r < 0)
        goto fail;
    if (cfg->kind != NH_PROVIDER_ACK) {
        if (cfg->project_id == NULL || !nh_prov_path_safe(cfg->project_id)) {
            snprintf(err, errlen,
                     "provider %s: project_id is required and may hold only [A-Za-z0-9._~-]",
                     p->pub.name);
            r = -EINVAL;
            goto fail;
        }
        p->project_id = strdup(cfg->project_id);
        if (p->project_id == NULL)
            goto nomem;
    }
    /* Credentials: copied once, here. */
    if (cfg->kind != NH_PROVIDER_ACK && cfg->token != NULL &&
        (cfg->access_key_id == NULL || cfg->access_key_secret == NULL)) {
        r = copy_secret(cfg->token, &tmp, &tok_len);
        if (r < 0)
            goto cred;
        p->token = (char *)tmp;
        tmp = NULL;
    } else {
        if (cfg->access_key_id == NULL || cfg->access_key_secret == NULL) {
            snprintf(err, errlen, "provider %s: credentials missing: give %s", p->pub.name,
                     cfg->kind == NH_PROVIDER_ACK ? "access_key_id and access_key_secret"
                                                  : "ak and sk, or token");
            r = -EINVAL;
            goto fail;
        }
        r = copy_secret(cfg->access_key_id, &tmp, &ak_len);
        if (r < 0)
            goto cred;
        p->ak = (char *)tmp;
        tmp = NULL;
        if (strlen(p->ak) != ak_len || ak_len == 0) {
            snprintf(err, errlen, "provider %s: the access key id (%s) is empty or has a NUL byte",
                     p->pub.name, nh_secret_describe(cfg->access_key_id));
            r = -EINVAL;
            goto fail;
        }
        r = copy_secret(cfg->access_key_secret, &p->sk, &p->sk_len);
        if (r < 0)
            goto cred;
    }
    p->defer = calloc(1, sizeof(*p->defer));
    if (p->defer == NULL)
        goto nomem;
    uv_timer_init(env->loop, &p->defer->timer);
    p->defer->timer.data = p->defer;
    p->defer->p = p;

    memset(&copts, 0, sizeof(copts));
    copts.qps = cfg->qps;
    copts.burst = cfg->burst;
    copts.name = p->pub.name;
    r = nh_client_new(env->loop, env->http, &copts, &p->pub.client);
    if (r < 0) {
        snprintf(err, errlen, "provider %s: cannot create its client: %s", p->pub.name,
                 strerror(-r));
        goto fail;
    }
    if (env->observer != NULL)
        nh_client_set_observer(p->pub.client, env->observer, env->observer_ud);
    *ret = &p->pub;
    return 0;

cred:
    snprintf(err, errlen, "provider %s: cannot copy its credentials: %s", p->pub.name,
             strerror(-r));
    goto fail;
nomem:
    snprintf(err, errlen, "provider %s: out of memory", cfg->name != NULL ? cfg->name : "?");
    r = -ENOMEM;
fail:
    (void)tok_len;
    nh_provider_free(p != NULL ? &p->pub : NULL);
    return r;
}

/* ---------- operations ---------- */

static void pop_clear_attempt(struct nh_pop *op)
{
    free(op->url);
    op->url = NULL;
    for (size_t i = 0; i < NH_POP_MAX_HEADERS; i++) {
        if (op->hdr[i] != NULL) {
            explicit_bzero(op->hdr[i], strlen(op->hdr[i]));
            free(op->hdr[i]);
            op->hdr[i] = NULL;
        }
        op->hdr_ptrs[i] = NULL;
    }
}

static void pop_clear_request(struct nh_pop *op)
{
    free(op->path);
    op->path = NULL;
    for (size_t i = 0; i < op->n_query; i++)
        free((char *)op->query[i].value);
    op->n_query = 0;
    if (op->body != NULL) {
        explicit_bzero(op->body, op->body_len);
        free(op->body);
    }
    op->body = NULL;
    op->body_len = 0;
    op->content_type = NULL;
    pop_clear_attempt(op);
}

static void free_list(char **l, size_t n)
{
    for (size_t i = 0; l != NULL && i < n; i++)
        free(l[i]);
    free(l);
}

static void pop_free(struct nh_pop *op)
{
    pop_clear_request(op);
    nh_observed_clear(&op->obs);
    free(op->job_id);
    free(op->cluster_id);
    free(op->pool_id);
    free(op->job_ref);
    free(op->flavor);
    free(op->cfg_flavor);
    free_list(op->lab_keys, op->n_labs);
    free_list(op->lab_vals, op->n_labs);
    nh_observed_clear(&op->aux);
    free_list(op->node_ids, op->n_nodes);
    free_list(op->node_names, op->n_nodes);
    free(op);
}

static void live_unlink(struct nh_prov *p, struct nh_pop *op)
{
    if (op->prev != NULL)
        op->prev->next = op->next;
    else if (p->live == op)
        p->live = op->next;
    if (op->next != NULL)
        op->next->prev = op->prev;
    op->next = op->prev = NULL;
}

static const struct nh_call_ops pop_call_ops;

int nh_pop_add_header(struct nh_pop *op, size_t *n, const char *name, const char *value)
{
    size_t len;

    if (*n >= NH_POP_MAX_HEADERS)
        return -E2BIG;
    len = strlen(name) + strlen(value) + 3;
    op->hdr[*n] = malloc(len);
    if (op->hdr[*n] == NULL)
        return -ENOMEM;
    snprintf(op->hdr[*n], len, "%s: %s", name, value);
    (*n)++;
    return 0;
}

struct nh_pop *nh_pop_new(struct nh_prov *p, enum nh_pop_kind kind, void *ud)
{
    struct nh_pop *op = calloc(1, sizeof(*op));

    if (op == NULL)
        return NULL;
    op->p = p;
    op->kind = kind;
    op->ud = ud;
    op->in_entry = true;
    op->call.ops = &pop_call_ops;
    op->call.ud = op;
    op->progress.percent = -1;
    op->next = p->live;
    if (p->live != NULL)
        p->live->prev = op;
    p->live = op;
    return op;
}

int nh_pop_started(struct nh_pop *op, int r)
{
    if (op == NULL)
        return r < 0 ? r : -ENOMEM;
    if (r < 0) {
        /* Nothing was sent and nothing will run. */
        if (op->in_flight) {
            /* cannot happen: submit failed means the client does not hold it */
            op->in_flight = false;
        }
        if (op->p != NULL) {
            live_unlink(op->p, op);
            /* it may sit in the deferred list if it failed synchronously */
            struct nh_pop **pp = &op->p->deferred;
            op->p->deferred_tail = NULL;
            while (*pp != NULL) {
                if (*pp == op)
                    *pp = op->dnext;
                else {
                    op->p->deferred_tail = *pp;
                    pp = &(*pp)->dnext;
                }
            }
        }
        pop_free(op);
        return r;
    }
    op->in_entry = false;
    return 0;
}

int nh_pop_request(struct nh_pop *op, const char *op_name, const char *method, bool mutating,
                   char *body, nh_pop_step_fn step, const char *path_fmt, ...)
{
    va_list ap;
    int n;

    pop_clear_request(op);
    op->body = body;
    op->body_len = body != NULL ? strlen(body) : 0;
    nh_text_copy(op->op_name, sizeof(op->op_name), op_name);
    op->method = method;
    op->call.mutating = mutating;
    op->call.op_name = op->op_name;
    op->step = step;
    op->nonce_retries = 0;
    va_start(ap, path_fmt);
    n = vsnprintf(NULL, 0, path_fmt, ap);
    va_end(ap);
    if (n < 0)
        return -EINVAL;
    op->path = malloc((size_t)n + 1);
    if (op->path == NULL)
        return -ENOMEM;
    va_start(ap, path_fmt);
    vsnprintf(op->path, (size_t)n + 1, path_fmt, ap);
    va_end(ap);
    return 0;
}

int nh_pop_add_query(struct nh_pop *op, const char *key, const char *value)
{
    char *v;

    if (op->n_query >= NH_POP_MAX_QUERY)
        return -E2BIG;
    /* Never send empty values (signing.md §2 divergences). */
    if (value == NULL || value[0] == '\0')
        return -EINVAL;
    v = strdup(value);
    if (v == NULL)
        return -ENOMEM;
    op->query[op->n_query].key = key;
    op->query[op->n_query].value = v;
    op->n_query++;
    return 0;
}

int nh_pop_submit(struct nh_pop *op)
{
    int r;

    if (op->p == NULL || op->p->closing)
        return -ESHUTDOWN;
    op->call.attempt = 0;
    op->call.next = NULL;
    op->call.priv = NULL;
    op->in_flight = true;
    r = nh_client_submit(op->p->pub.client, &op->call);
    if (r < 0)
        op->in_flight = false;
    return r;
}

void nh_pop_next(struct nh_pop *op)
{
    int r = nh_pop_submit(op);
    if (r < 0)
        nh_pop_failf(op, r == -ESHUTDOWN ? NH_ERR_CANCELLED : NH_ERR_SERVER,
                     "%s: cannot queue the request: %s", op->op_name, strerror(-r));
}

/* ---------- per attempt ---------- */

static int pop_build(struct nh_call *call, struct nh_http_req *req)
{
    struct nh_pop *op = call->ud;
    struct nh_prov *p = op->p;
    char *q = NULL;
    size_t n;
    int r;

    if (p == NULL)
        return -ECANCELED;
    if (p->pub.auth_stopped)
        return -EPERM; /* no request while the key is stopped */
    if (p->locked_until_ms != 0 && uv_now(p->pub.loop) < p->locked_until_ms)
        return -EPERM;
    pop_clear_attempt(op);
    if (op->n_query > 0) {
        q = p->cloud->query(op->query, op->n_query);
        if (q == NULL)
            return -ENOMEM;
    }
    n = strlen(p->pub.endpoint) + strlen(op->path) + (q != NULL ? strlen(q) + 1 : 0) + 1;
    op->url = malloc(n);
    if (op->url == NULL) {
        free(q);
        return -ENOMEM;
    }
    snprintf(op->url, n, "%s%s%s%s", p->pub.endpoint, op->path, q != NULL ? "?" : "",
             q != NULL ? q : "");
    memset(req, 0, sizeof(*req));
    req->method = op->method;
    req->url = op->url;
    req->body = op->body;
    req->body_len = op->body_len;
    req->fresh_connection = op->call.mutating;
    req->timeout_ms = p->timeout_ms;
    req->connect_timeout_ms = p->connect_timeout_ms;
    req->max_body = NH_PROV_BODY_MAX;
    op->capture[0] = "x-acs-retry-after";
    op->capture[1] = "retry-after";
    op->capture[2] = "x-request-id";
    op->capture[3] = NULL;
    req->capture_headers = op->capture;
    r = p->cloud->sign(p, op, q != NULL ? q : "", req);
    free(q);
    if (r < 0)
        return r;
    for (size_t i = 0; i < NH_POP_MAX_HEADERS; i++)
        op->hdr_ptrs[i] = op->hdr[i];
    op->hdr_ptrs[NH_POP_MAX_HEADERS] = NULL;
    req->headers = op->hdr_ptrs;
    return 0;
}

static enum nh_verdict pop_classify(struct nh_call *call, const struct nh_http_resp *resp,
                                    uint64_t *hint_ms)
{
    struct nh_pop *op = call->ud;
    struct nh_prov_error e;

    if (resp->status >= 200 && resp->status < 300)
        return NH_V_OK;
    if (op->p == NULL)
        return NH_V_FINAL;
    memset(&e, 0, sizeof(e));
    return op->p->cloud->classify(op->p, op, resp, &e, hint_ms);
}

/* The error for an answer that was not a success. */
static void pop_error(struct nh_pop *op, const struct nh_http_resp *resp, enum nh_verdict v,
                      struct nh_prov_error *e)
{
    struct nh_prov *p = op->p;
    uint64_t hint = 0;

    memset(e, 0, sizeof(*e));
    nh_text_copy(e->op, sizeof(e->op), op->op_name);
    if (v == NH_V_CANCELLED) {
        e->cls = NH_ERR_CANCELLED;
        snprintf(e->message, sizeof(e->message), "%s: cancelled (shutting down)", op->op_name);
        return;
    }
    if (resp->outcome == NH_HTTP_OK) {
        p->cloud->classify(p, op, resp, e, &hint);
        nh_text_copy(e->op, sizeof(e->op), op->op_name);
        if (v == NH_V_UNKNOWN)
            e->cls = NH_ERR_UNKNOWN_OUTCOME;
        else if (v == NH_V_THROTTLED)
            e->cls = NH_ERR_THROTTLED; /* still throttled after every attempt */
        return;
    }
    if (p->pub.auth_stopped && resp->outcome == NH_HTTP_ERROR) {
        e->cls = NH_ERR_AUTH;
        snprintf(e->message, sizeof(e->message),
                 "%s: not sent: stopped after a signature failure; fix credentials and reload",
                 op->op_name);
        return;
    }
    if (p->locked_until_ms != 0 && resp->outcome == NH_HTTP_ERROR &&
        uv_now(p->pub.loop) < p->locked_until_ms) {
        e->cls = NH_ERR_AUTH;
        snprintf(e->message, sizeof(e->message),
                 "%s: not sent: the AccessKey is locked by the gateway; waiting out the lock",
                 op->op_name);
        return;
    }
    e->cls = v == NH_V_UNKNOWN ? NH_ERR_UNKNOWN_OUTCOME : NH_ERR_SERVER;
    snprintf(e->message, sizeof(e->message), "%s: %s%s%.160s%s", op->op_name,
             nh_http_outcome_name(resp->outcome),
             v == NH_V_UNKNOWN ? " after the request was sent (outcome unknown; re-read)" : "",
             resp->error != NULL ? ": " : "", resp->error != NULL ? resp->error : "");
    nh_text_copy(e->message, sizeof(e->message), e->message);
}

static void pop_done(struct nh_call *call, const struct nh_http_resp *resp, enum nh_verdict v)
{
    struct nh_pop *op = call->ud;
    struct nh_prov_error e;

    op->in_flight = false;
    if (op->p == NULL) { /* orphaned: the caller already had NH_ERR_CANCELLED */
        pop_free(op);
        return;
    }
    if (v == NH_V_OK) {
        op->step(op, resp, NULL);
        return;
    }
    pop_error(op, resp, v, &e);
    if (e.cls == NH_ERR_CANCELLED) {
        nh_pop_fail(op, &e);
        return;
    }
    op->step(op, resp, &e);
}

static const struct nh_call_ops pop_call_ops = {
    .build = pop_build,
    .classify = pop_classify,
    .done = pop_done,
};

/* ---------- results ---------- */

static void pop_deliver(struct nh_pop *op)
{
    struct nh_prov *p = op->p;
    const struct nh_prov_error *err = op->failed ? &op->err : NULL;

    if (p != NULL)
        live_unlink(p, op);
    op->delivered = true;
    switch (op->kind) {
    case NH_POP_OBSERVE:
        if (err != NULL) {
            op->observe_cb(op->ud, err, NULL);
        } else {
            struct nh_observed obs = op->obs;
            memset(&op->obs, 0, sizeof(op->obs));
            op->observe_cb(op->ud, NULL, &obs);
            /* The callback takes the contents; clear whatever it left. */
            nh_observed_clear(&obs);
        }
        break;
    case NH_POP_MUTATE:
        op->mutate_cb(op->ud, err, err != NULL ? NH_JOB_NONE : op->job_kind,
                      err != NULL ? NULL : op->job_id);
        break;
    case NH_POP_POLL:
        op->poll_cb(op->ud, err, err != NULL ? NULL : &op->progress);
        break;
    }
    if (!op->in_flight)
        pop_free(op);
    else
        op->p = NULL; /* freed when the client lets go */
}

static void pop_complete(struct nh_pop *op)
{
    struct nh_prov *p = op->p;

    if (op->in_entry && p != NULL) {
        /* Never call back from inside the vtable call. */
        op->dnext = NULL;
        if (p->deferred_tail != NULL)
            p->deferred_tail->dnext = op;
        else
            p->deferred = op;
        p->deferred_tail = op;
        live_unlink(p, op);
        uv_timer_start(&p->defer->timer, on_defer, 0, 0);
        return;
    }
    pop_deliver(op);
}

void nh_pop_fail(struct nh_pop *op, const struct nh_prov_error *e)
{
    op->err = *e;
    if (op->err.op[0] == '\0')
        nh_text_copy(op->err.op, sizeof(op->err.op), op->op_name);
    op->failed = true;
    pop_complete(op);
}

void nh_pop_failf(struct nh_pop *op, enum nh_err_class cls, const char *fmt, ...)
{
    struct nh_prov_error e;
    va_list ap;

    memset(&e, 0, sizeof(e));
    e.cls = cls;
    va_start(ap, fmt);
    vsnprintf(e.message, sizeof(e.message), fmt, ap);
    va_end(ap);
    nh_text_copy(e.message, sizeof(e.message), e.message);
    nh_pop_fail(op, &e);
}

void nh_pop_observed(struct nh_pop *op)
{
    if (op->p != NULL)
        op->obs.at_ms = (int64_t)uv_now(op->p->pub.loop);
    pop_complete(op);
}

void nh_pop_mutated(struct nh_pop *op, enum nh_job_kind kind, char *job_id)
{
    free(op->job_id);
    op->job_kind = kind;
    op->job_id = job_id;
    pop_complete(op);
}

void nh_pop_progress(struct nh_pop *op, const struct nh_job_progress *pr)
{
    op->progress = *pr;
    pop_complete(op);
}

int nh_pop_copy_nodes(struct nh_pop *op, const struct nh_action *a, bool need_names)
{
    if (a->n_nodes == 0 || a->node_ids == NULL || (need_names && a->node_names == NULL))
        return -EINVAL;
    op->node_ids = calloc(a->n_nodes, sizeof(char *));
    op->node_names = calloc(a->n_nodes, sizeof(char *));
    if (op->node_ids == NULL || op->node_names == NULL)
        return -ENOMEM;
    op->n_nodes = a->n_nodes;
    for (size_t i = 0; i < a->n_nodes; i++) {
        const char *name = a->node_names != NULL ? a->node_names[i] : NULL;
        if (a->node_ids[i] == NULL || (need_names && name == NULL))
            return -EINVAL;
        op->node_ids[i] = strdup(a->node_ids[i]);
        op->node_names[i] = strdup(name != NULL ? name : a->node_ids[i]);
        if (op->node_ids[i] == NULL || op->node_names[i] == NULL)
            return -ENOMEM;
    }
    return 0;
}

bool nh_pop_is_victim(const struct nh_pop *op, const struct nh_node *n)
{
    for (size_t i = 0; i < op->n_nodes; i++) {
        if ((n->id != NULL && strcmp(n->id, op->node_ids[i]) == 0) ||
            (n->name != NULL && op->node_names != NULL && op->node_names[i] != NULL &&
             strcmp(n->name, op->node_names[i]) == 0))
            return true;
    }
    return false;
}

/* ---------- shutdown ---------- */

static void cancel_op(struct nh_pop *op)
{
    if (op->delivered)
        return;
    op->failed = true;
    memset(&op->err, 0, sizeof(op->err));
    op->err.cls = NH_ERR_CANCELLED;
    nh_text_copy(op->err.op, sizeof(op->err.op), op->op_name);
    snprintf(op->err.message, sizeof(op->err.message), "%s: cancelled (provider freed)",
             op->op_name);
    pop_deliver(op);
}

void nh_provider_free(struct nh_provider *pub)
{
    struct nh_prov *p = (struct nh_prov *)pub;
    struct nh_pop *op;

    if (p == NULL)
        return;
    p->closing = true;
    /* Queued calls end now (NH_V_CANCELLED -> their callers get CANCELLED);
     * in-flight ones end later, on the loop, and are freed then. */
    nh_client_free(p->pub.client);
    p->pub.client = NULL;
    while ((op = p->live) != NULL) {
        live_unlink(p, op);
        op->p = NULL; /* pop_deliver frees it or leaves it to pop_done */
        cancel_op(op);
    }
    while ((op = p->deferred) != NULL) {
        p->deferred = op->dnext;
        op->dnext = NULL;
        op->p = NULL;
        cancel_op(op);
    }
    p->deferred_tail = NULL;
    if (p->pub.ops != NULL && p->pub.ops->destroy != NULL)
        p->pub.ops->destroy(&p->pub);
    if (p->defer != NULL) {
        p->defer->p = NULL;
        uv_timer_stop(&p->defer->timer);
        uv_close((uv_handle_t *)&p->defer->timer, defer_closed);
    }
    free(p->pub.name);
    free(p->pub.endpoint);
    free(p->host);
    free(p->ak);
    prov_secret_free(p->sk, p->sk_len);
    if (p->token != NULL)
        prov_secret_free((unsigned char *)p->token, strlen(p->token));
    free(p->project_id);
    free(p->region);
    free(p);
}
