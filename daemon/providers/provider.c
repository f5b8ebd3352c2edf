/* provider.c - provider construction (the cloud of a kind, endpoint,
 * copied credentials) and the step machinery every cloud runs on
 * (internal.h): sending a step, per-attempt URL building and signing,
 * error classification through the cloud's error table, the rules of
 * failing, one call per node, "gone when two reads agree", progress, and
 * deferred delivery and cancellation. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "providers/internal.h"
#include "util/hostport.h"
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

/* ---------- the clouds, by kind ---------- */

static const struct nh_cloud *const clouds[NH_PROVIDER_KINDS] = {
    [NH_PROVIDER_ACK] = &nh_ack_cloud,
    [NH_PROVIDER_CCE] = &nh_cce_cloud,
    [NH_PROVIDER_MODELARTS] = &nh_ma_cloud,
};

static const struct nh_cloud *cloud_of(enum nh_provider_kind k)
{
    return (unsigned)k < NH_PROVIDER_KINDS ? clouds[k] : NULL;
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

/* The endpoint of a region (path-safe) by the cloud's rule. */
static char *endpoint_of(const struct nh_endpoint *ep, const char *region)
{
    const char *at = strstr(ep->pattern, "{region}");
    struct nh_buf b;

    for (size_t i = 0; i < sizeof(ep->except) / sizeof(ep->except[0]); i++)
        if (ep->except[i].region != NULL && strcmp(region, ep->except[i].region) == 0)
            return strdup(ep->except[i].url);
    if (at == NULL)
        return strdup(ep->pattern);
    nh_buf_init(&b, 0);
    if (nh_buf_append(&b, ep->pattern, (size_t)(at - ep->pattern)) < 0 ||
        nh_buf_appends(&b, region) < 0 || nh_buf_appends(&b, at + strlen("{region}")) < 0) {
        nh_buf_free(&b);
        return NULL;
    }
    return nh_buf_steal(&b);
}

char *nh_provider_endpoint(const struct nh_cfg_provider *cfg)
{
    const struct nh_cloud *cl;

    if (cfg == NULL)
        return NULL;
    if (cfg->endpoint != NULL && cfg->endpoint[0] != '\0')
        return strip_slash(cfg->endpoint);
    if (cfg->region == NULL || !nh_prov_path_safe(cfg->region))
        return NULL;
    cl = cloud_of(cfg->kind);
    return cl != NULL ? endpoint_of(cl->endpoint, cfg->region) : NULL;
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
    struct nh_hostport hp;
    if (nh_hostport_parse(h, 0, &hp, NULL) == 0 && hp.has_port && hp.port == (https ? 443 : 80))
        *strrchr(h, ':') = '\0';
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

/* Name, region, endpoint, Host header and project of one provider. */
static int prov_settings(struct nh_prov *p, const struct nh_cfg_provider *cfg, char *err,
                         size_t errlen)
{
    int r;

    p->pub.name = strdup(cfg->name != NULL ? cfg->name : "?");
    p->region = cfg->region != NULL ? strdup(cfg->region) : NULL;
    if (p->pub.name == NULL || (cfg->region != NULL && p->region == NULL))
        return -ENOMEM;
    p->pub.endpoint = nh_provider_endpoint(cfg);
    if (p->pub.endpoint == NULL) {
        snprintf(err, errlen,
                 "provider %s: no endpoint: set region (letters, digits, '-') or endpoint:",
                 p->pub.name);
        return -EINVAL;
    }
    r = host_header(p->pub.endpoint, &p->host, err, errlen);
    if (r < 0 || !nh_kind_has(cfg->kind, NH_CAP_PROJECT_SCOPED))
        return r;
    if (cfg->project_id == NULL || !nh_prov_path_safe(cfg->project_id)) {
        snprintf(err, errlen,
                 "provider %s: project_id is required and may hold only [A-Za-z0-9._~-]",
                 p->pub.name);
        return -EINVAL;
    }
    p->project_id = strdup(cfg->project_id);
    return p->project_id != NULL ? 0 : -ENOMEM;
}

/* The credentials, copied once, here: a token where the kind takes one
 * and no key pair is given, else the key pair. */
static int prov_credentials(struct nh_prov *p, const struct nh_cfg_provider *cfg, char *err,
                            size_t errlen)
{
    const struct nh_kind *k = nh_kind_get(cfg->kind);
    unsigned char *tmp = NULL;
    size_t len = 0;
    int r;

    if ((k->caps & NH_CAP_TOKEN_AUTH) && cfg->token != NULL &&
        (cfg->access_key_id == NULL || cfg->access_key_secret == NULL)) {
        r = copy_secret(cfg->token, &tmp, &len);
        p->token = (char *)tmp;
    } else if (cfg->access_key_id == NULL || cfg->access_key_secret == NULL) {
        snprintf(err, errlen, "provider %s: credentials missing: give %s", p->pub.name,
                 k->credentials);
        return -EINVAL;
    } else {
        r = copy_secret(cfg->access_key_id, &tmp, &len);
        p->ak = (char *)tmp;
        if (r == 0 && (strlen(p->ak) != len || len == 0)) {
            snprintf(err, errlen, "provider %s: the access key id (%s) is empty or has a NUL byte",
                     p->pub.name, nh_secret_describe(cfg->access_key_id));
            return -EINVAL;
        }
        if (r == 0)
            r = copy_secret(cfg->access_key_secret, &p->sk, &p->sk_len);
    }
    if (r < 0)
        snprintf(err, errlen, "provider %s: cannot copy its credentials: %s", p->pub.name,
                 strerror(-r));
    return r;
}

/* The zero timer for deferred results, and the client (rate limit, retries). */
static int prov_start(struct nh_prov *p, const struct nh_cfg_provider *cfg,
                      const struct nh_provider_env *env, char *err, size_t errlen)
{
    struct nh_client_opts copts;
    int r;

    p->defer = calloc(1, sizeof(*p->defer));
    if (p->defer == NULL)
        return -ENOMEM;
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
        return r;
    }
    if (env->observer != NULL)
        nh_client_set_observer(p->pub.client, env->observer, env->observer_ud);
    if (env->gate != NULL)
        nh_client_set_gate(p->pub.client, env->gate, env->gate_ud);
    return 0;
}

int nh_provider_new(const struct nh_cfg_provider *cfg, const struct nh_provider_env *env,
                    struct nh_provider **ret, char *err, size_t errlen)
{
    const struct nh_cloud *cl;
    struct nh_prov *p;
    int r;

    if (cfg == NULL || env == NULL || env->loop == NULL || env->http == NULL || ret == NULL) {
        snprintf(err, errlen, "provider: missing configuration or environment");
        return -EINVAL;
    }
    cl = cloud_of(cfg->kind);
    p = cl != NULL ? calloc(1, cl->sizes.prov) : NULL;
    if (p == NULL) {
        snprintf(err, errlen, "provider %s: %s", cfg->name != NULL ? cfg->name : "?",
                 cl == NULL ? "unknown kind" : "out of memory");
        return cl == NULL ? -EINVAL : -ENOMEM;
    }
    p->cloud = cl;
    p->pub.ops = cl->ops;
    p->pub.kind = cfg->kind;
    p->pub.loop = env->loop;
    p->timeout_ms = cfg->timeout_ms;
    p->connect_timeout_ms = cfg->connect_timeout_ms;
    r = prov_settings(p, cfg, err, errlen);
    if (r == 0)
        r = prov_credentials(p, cfg, err, errlen);
    if (r == 0 && cl->hooks.init != NULL)
        r = cl->hooks.init(p, cfg, err, errlen);
    if (r == 0)
        r = prov_start(p, cfg, env, err, errlen);
    if (r == -ENOMEM)
        snprintf(err, errlen, "provider %s: out of memory", cfg->name != NULL ? cfg->name : "?");
    if (r < 0) {
        nh_provider_free(&p->pub);
        return r;
    }
    *ret = &p->pub;
    return 0;
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
    op->subject[0] = '\0';
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
    if (op->cloud->hooks.op_free != NULL)
        op->cloud->hooks.op_free(op);
    pop_clear_request(op);
    nh_observed_clear(&op->obs);
    nh_pool_status_clear(&op->pool);
    free(op->id);
    nh_prov_free_secret_str(op->kept_body);
    nh_secret_free(op->kube_cred.data);
    free(op->job_id);
    free(op->cluster_id);
    free(op->pool_id);
    free(op->job_ref);
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

static struct nh_pop *pop_new(struct nh_provider *pub, enum nh_pop_kind kind, void *ud)
{
    struct nh_prov *p = (struct nh_prov *)pub;
    struct nh_pop *op = calloc(1, p->cloud->sizes.op);

    if (op == NULL)
        return NULL;
    op->p = p;
    op->cloud = p->cloud;
    op->kind = kind;
    op->ud = ud;
    op->in_entry = true;
    op->call.ops = &pop_call_ops;
    op->call.ud = op;
    op->progress.percent = -1;
    op->obs.complete = true; /* parts that cannot be read completely say so */
    op->next = p->live;
    if (p->live != NULL)
        p->live->prev = op;
    p->live = op;
    return op;
}

/* The cluster an operation addresses: its id, or its resource pool. */
static const char *cluster_ref(const struct nh_provider *pub, const struct nh_cfg_cluster *c)
{
    return nh_kind_has(pub->kind, NH_CAP_POOL_SCOPED) ? c->pool : c->id;
}

static int dup_into(char **dst, const char *s)
{
    free(*dst);
    *dst = s != NULL ? strdup(s) : NULL;
    return s == NULL || *dst != NULL ? 0 : -ENOMEM;
}

static struct nh_pop *pop_start(struct nh_provider *pub, enum nh_pop_kind kind,
                                const struct nh_cfg_cluster *c, bool ready, void *ud, int *r)
{
    struct nh_pop *op;

    *r = -EINVAL;
    if (pub == NULL || c == NULL || !ready || !nh_prov_path_safe(cluster_ref(pub, c)))
        return NULL;
    op = pop_new(pub, kind, ud);
    *r = op != NULL ? dup_into(&op->cluster_id, cluster_ref(pub, c)) : -ENOMEM;
    return op;
}

struct nh_pop *nh_pop_observe_start(struct nh_provider *pub, const struct nh_cfg_cluster *c,
                                    nh_observe_fn done, void *ud, int *r)
{
    struct nh_pop *op = pop_start(pub, NH_POP_OBSERVE, c, done != NULL, ud, r);
    if (op != NULL)
        op->observe_cb = done;
    return op;
}

struct nh_pop *nh_pop_mutate_start(struct nh_provider *pub, const struct nh_cfg_cluster *c,
                                   const struct nh_action *a, nh_mutate_fn done, void *ud, int *r)
{
    struct nh_pop *op = pop_start(pub, NH_POP_MUTATE, c, done != NULL && a != NULL, ud, r);

    if (op == NULL)
        return NULL;
    op->mutate_cb = done;
    op->act_kind = a->kind;
    op->target = a->target;
    op->release = c->scale_in.release_instances;
    /* With Kubernetes access nodeherd drains (cordon, evictions honouring
     * PodDisruptionBudgets) before it asks for the removal: the cloud's own
     * drain (ACK drain_node) stays off. */
    op->drain = c->scale_in.drain && !c->kube_access;
    if (*r == 0)
        *r = dup_into(&op->pool_id, a->pool_id != NULL ? a->pool_id : a->pool_name);
    return op;
}

struct nh_pop *nh_pop_poll_start(struct nh_provider *pub, const struct nh_cfg_cluster *c,
                                 const struct nh_op *o, nh_poll_fn done, void *ud, int *r)
{
    struct nh_pop *op = pop_start(pub, NH_POP_POLL, c, done != NULL && o != NULL, ud, r);
    if (op != NULL)
        op->poll_cb = done;
    return op;
}

struct nh_pop *nh_pop_kubeconfig_start(struct nh_provider *pub, const struct nh_cfg_cluster *c,
                                       nh_kubeconfig_fn done, void *ud, int *r)
{
    struct nh_pop *op = pop_start(pub, NH_POP_KUBECONFIG, c, done != NULL, ud, r);
    if (op != NULL) {
        op->kubeconfig_cb = done;
        op->kube_public = c->kube_access && c->kube.network == NH_KUBE_NETWORK_PUBLIC;
    }
    return op;
}

struct nh_pop *nh_pop_state_start(struct nh_provider *pub, const struct nh_cfg_cluster *c,
                                  nh_state_fn done, void *ud, int *r)
{
    struct nh_pop *op = pop_start(pub, NH_POP_STATE, c, done != NULL, ud, r);
    if (op != NULL)
        op->state_cb = done;
    return op;
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

int nh_pop_poll_args(struct nh_pop *op, const struct nh_op *o)
{
    const char *pool = o->action.pool_id != NULL ? o->action.pool_id : o->action.pool_name;

    op->act_kind = o->action.kind;
    op->target = o->action.target;
    op->poll_kind = o->job_kind;
    switch (o->job_kind) {
    case NH_JOB_ACK_TASK:
    case NH_JOB_CCE_JOB:
        return nh_prov_path_safe(o->job_id) ? dup_into(&op->job_ref, o->job_id) : -EINVAL;
    case NH_JOB_POOL_SIZE:
    case NH_JOB_POOL_GONE:
        return nh_prov_path_safe(pool) ? dup_into(&op->pool_id, pool) : -EINVAL;
    case NH_JOB_NODES_GONE:
        return o->action.n_nodes > 0 ? nh_pop_copy_nodes(op, &o->action, false) : -EINVAL;
    case NH_JOB_NONE:
        break;
    }
    return -EINVAL;
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

/* ---------- requests ---------- */

/* The value of a template variable; NULL when unknown or unset. */
static const char *template_var(const struct nh_pop *op, const char *name, size_t len)
{
    static const char *const names[] = {"project", "cluster", "pool", "job", "node"};
    const char *vals[] = {
        op->p->project_id,
        op->cluster_id,
        op->pool_id,
        op->job_ref,
        op->idx < op->n_nodes ? op->node_ids[op->idx] : NULL,
    };

    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if (strlen(names[i]) == len && strncmp(names[i], name, len) == 0)
            return vals[i];
    return NULL;
}

/* Expands {var} in tmpl into b. path: every value must be safe in a URL
 * path. 0, -EINVAL (unknown, unset or unsafe variable) or -ENOMEM. */
static int expand(const struct nh_pop *op, const char *tmpl, bool path, struct nh_buf *b)
{
    int r = 0;

    while (r == 0 && *tmpl != '\0') {
        const char *open = strchr(tmpl, '{'), *close = open ? strchr(open, '}') : NULL;
        if (close == NULL)
            return nh_buf_appends(b, tmpl);
        const char *v = template_var(op, open + 1, (size_t)(close - open - 1));
        if (v == NULL || (path && !nh_prov_path_safe(v)))
            return -EINVAL;
        r = nh_buf_append(b, tmpl, (size_t)(open - tmpl));
        if (r == 0)
            r = nh_buf_appends(b, v);
        tmpl = close + 1;
    }
    return r;
}

/* Makes step the current request: path, fixed query, subject, then what
 * the step's prepare adds. 0 or -errno. */
static int pop_set_request(struct nh_pop *op, const struct nh_step *step)
{
    struct nh_buf b;
    int r;

    pop_clear_request(op);
    op->step = step;
    op->call.mutating = step->mutating;
    op->call.op_name = step->name;
    op->resends = 0;
    nh_buf_init(&b, 0);
    r = expand(op, step->path, true, &b);
    op->path = r == 0 ? nh_buf_steal(&b) : NULL;
    nh_buf_free(&b);
    if (r == 0 && op->path == NULL)
        r = -ENOMEM;
    for (size_t i = 0; r == 0 && i < 2 && step->query[i].key != NULL; i++)
        r = nh_pop_add_query(op, step->query[i].key, step->query[i].value);
    if (r == 0 && step->subject != NULL && expand(op, step->subject, false, &b) == 0)
        nh_text_copy(op->subject, sizeof(op->subject), b.data);
    nh_buf_free(&b);
    if (r == 0 && step->prepare != NULL)
        r = step->prepare(op);
    return r;
}

int nh_pop_set_body(struct nh_pop *op, char *body)
{
    if (op->body != NULL) {
        explicit_bzero(op->body, op->body_len);
        free(op->body);
    }
    op->body = body;
    op->body_len = body != NULL ? strlen(body) : 0;
    return body != NULL ? 0 : -ENOMEM;
}

int nh_pop_keep_body(struct nh_pop *op, char *body)
{
    nh_prov_free_secret_str(op->kept_body);
    op->kept_body = body;
    return body != NULL ? 0 : -ENOMEM;
}

int nh_pop_take_body(struct nh_pop *op)
{
    char *body = op->kept_body;

    op->kept_body = NULL;
    return nh_pop_set_body(op, body);
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

struct nh_sign_req nh_pop_sign_req(const struct nh_pop *op, const struct nh_kv *headers, size_t n)
{
    return (struct nh_sign_req){
        .method = op->step->method,
        .path = op->path,
        .query = op->query,
        .n_query = op->n_query,
        .headers = headers,
        .n_headers = n,
        .body = op->body,
        .body_len = op->body_len,
    };
}

/* Submits the current request. 0 or -errno (then nothing runs). */
static int pop_submit(struct nh_pop *op)
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

/* The class an operation fails with when its next request cannot go. */
static enum nh_err_class unsent_class(const struct nh_pop *op, int r)
{
    if (r == -ESHUTDOWN)
        return NH_ERR_CANCELLED;
    /* Some nodes of a one-call-per-node step may be gone already. */
    return op->done_count > 0 ? NH_ERR_UNKNOWN_OUTCOME : NH_ERR_SERVER;
}

/* Sends the current request again (a re-read); failing that, fails. */
static void pop_resend(struct nh_pop *op)
{
    int r = pop_submit(op);
    if (r < 0)
        nh_pop_failf(op, unsent_class(op, r), "%s: cannot queue the request: %s", op->step->name,
                     strerror(-r));
}

void nh_pop_next(struct nh_pop *op, const struct nh_step *step)
{
    int r = pop_set_request(op, step);
    if (r < 0) {
        nh_pop_failf(op, unsent_class(op, r), "%s: %s", step->name, strerror(-r));
        return;
    }
    pop_resend(op);
}

/* While the provider holds its calls (a stopped or locked key): fills e
 * and returns true. */
static bool pop_held(const struct nh_pop *op, const char *name, struct nh_prov_error *e)
{
    const struct nh_prov *p = op->p;
    uint64_t now = uv_now(p->pub.loop);

    memset(e, 0, sizeof(*e));
    nh_text_copy(e->op, sizeof(e->op), name);
    e->cls = NH_ERR_AUTH;
    if (p->pub.auth_stopped) {
        snprintf(e->message, sizeof(e->message),
                 "%s: not sent: stopped after a signature failure; fix credentials and reload",
                 name);
        return true;
    }
    if (p->hold_until_ms != 0 && now < p->hold_until_ms) {
        snprintf(e->message, sizeof(e->message), "%s: not sent: %s; %llu s left", name,
                 p->hold_reason, (unsigned long long)((p->hold_until_ms - now) / 1000u));
        return true;
    }
    return false;
}

int nh_pop_begin(struct nh_pop *op, int r, const struct nh_step *first)
{
    struct nh_prov_error e;
    struct nh_prov *p;

    if (op == NULL)
        return r < 0 ? r : -ENOMEM;
    p = op->p;
    if (r == 0 && first == NULL)
        r = -EINVAL;
    if (r == 0)
        op->call.op_name = first->name;
    if (r == 0 && pop_held(op, first->name, &e)) {
        nh_pop_fail(op, &e); /* later, on the loop: in_entry is set */
        op->in_entry = false;
        return 0;
    }
    if (r == 0)
        r = pop_set_request(op, first);
    if (r == 0)
        r = pop_submit(op);
    if (r == 0) {
        op->in_entry = false;
        return 0;
    }
    /* Nothing was sent and nothing will run. */
    live_unlink(p, op);
    pop_free(op);
    return r;
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
    if (p->hold_until_ms != 0 && uv_now(p->pub.loop) < p->hold_until_ms)
        return -EPERM;
    pop_clear_attempt(op);
    if (op->n_query > 0) {
        q = p->cloud->gateway->query(op->query, op->n_query);
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
    free(q);
    memset(req, 0, sizeof(*req));
    req->method = op->step->method;
    req->url = op->url;
    req->body = op->body;
    req->body_len = op->body_len;
    req->fresh_connection = op->call.mutating;
    req->secret_answer = op->step->secret_answer;
    req->timeout_ms = p->timeout_ms;
    req->connect_timeout_ms = p->connect_timeout_ms;
    req->max_body = NH_PROV_BODY_MAX;
    op->capture[0] = "x-acs-retry-after";
    op->capture[1] = "retry-after";
    op->capture[2] = "x-request-id";
    op->capture[3] = NULL;
    req->capture_headers = op->capture;
    r = p->cloud->gateway->sign(p, op, req);
    if (r < 0)
        return r;
    for (size_t i = 0; i < NH_POP_MAX_HEADERS; i++)
        op->hdr_ptrs[i] = op->hdr[i];
    op->hdr_ptrs[NH_POP_MAX_HEADERS] = NULL;
    req->headers = op->hdr_ptrs;
    if (op->call.mutating)
        op->handed_over = true; /* the client submits what build returns */
    return 0;
}

/* The error-class -> verdict mapping, for every cloud. */
static enum nh_verdict verdict_of(enum nh_err_class c)
{
    switch (c) {
    case NH_ERR_NONE:
        return NH_V_OK;
    case NH_ERR_THROTTLED:
        return NH_V_THROTTLED;
    case NH_ERR_SERVER:
        return NH_V_RETRY;
    case NH_ERR_UNKNOWN_OUTCOME:
        return NH_V_UNKNOWN;
    case NH_ERR_AUTH:
    case NH_ERR_NOT_FOUND:
    case NH_ERR_CONFLICT:
    case NH_ERR_INVALID:
    case NH_ERR_CANCELLED:
    case NH_ERR_NOT_SENT:
    case NH_ERR_BUSY:
        return NH_V_FINAL;
    }
    return NH_V_FINAL;
}

/* What an error-table row does to the provider: stop every call with the
 * key until a reload, or hold them for a while. */
static void apply_rule(struct nh_pop *op, const struct nh_err_rule *rule,
                       const struct nh_http_resp *resp, const struct nh_prov_error *e)
{
    struct nh_prov *p = op->p;

    if (rule->stop && !p->pub.auth_stopped) {
        p->pub.auth_stopped = true;
        snprintf(p->pub.auth_reason, sizeof(p->pub.auth_reason),
                 "%s: HTTP %d %s: stopped after a signature failure; fix credentials and "
                 "reload",
                 op->step->name, resp->status, e->code);
    }
    if (rule->hold_ms > 0 && p->pub.loop != NULL) {
        p->hold_until_ms = uv_now(p->pub.loop) + rule->hold_ms;
        nh_text_copy(p->hold_reason, sizeof(p->hold_reason),
                     rule->advice != NULL ? rule->advice : "held after an error");
    }
}

static enum nh_verdict pop_classify(struct nh_call *call, const struct nh_http_resp *resp,
                                    uint64_t *hint_ms)
{
    struct nh_pop *op = call->ud;
    const struct nh_err_rule *rule;
    struct nh_prov_error e;
    enum nh_verdict v;

    if (resp->status >= 200 && resp->status < 300)
        return NH_V_OK;
    if (op->p == NULL)
        return NH_V_FINAL;
    memset(&e, 0, sizeof(e));
    rule = op->p->cloud->gateway->read_error(resp, op->call.mutating, &e, hint_ms);
    apply_rule(op, rule, resp, &e);
    v = verdict_of(e.cls);
    if (v == NH_V_FINAL && rule->resend && op->resends++ == 0)
        v = NH_V_RETRY; /* refused before it ran: re-signed, sent once more */
    return v;
}

/* The error for an answer that was not a success. */
static void pop_error(struct nh_pop *op, const struct nh_http_resp *resp, enum nh_verdict v,
                      struct nh_prov_error *e)
{
    const char *name = op->step->name;
    uint64_t hint = 0;

    memset(e, 0, sizeof(*e));
    if (v == NH_V_CANCELLED && op->kind == NH_POP_MUTATE && !op->handed_over &&
        !resp->request_sent) {
        /* A mutation none of whose requests went out is known not to have
         * happened (refused by the fence, or cancelled while queued). */
        e->cls = NH_ERR_NOT_SENT;
        snprintf(e->message, sizeof(e->message), "%s: %s", name,
                 resp->error != NULL ? resp->error : "not sent");
        nh_text_copy(e->message, sizeof(e->message), e->message);
    } else if (v == NH_V_CANCELLED) {
        e->cls = NH_ERR_CANCELLED;
        snprintf(e->message, sizeof(e->message), "%s: cancelled (shutting down)", name);
    } else if (resp->outcome == NH_HTTP_OK) {
        op->p->cloud->gateway->read_error(resp, op->call.mutating, e, &hint);
        if (v == NH_V_UNKNOWN) {
            e->cls = NH_ERR_UNKNOWN_OUTCOME;
        } else if (v == NH_V_THROTTLED) {
            /* reads: still throttled after every attempt; mutations: at once,
             * back to the executor (net/client.h) */
            e->cls = NH_ERR_THROTTLED;
            e->retry_after_ms = op->call.retry_after_ms;
        }
    } else if (resp->outcome != NH_HTTP_ERROR || !pop_held(op, name, e)) {
        e->cls = v == NH_V_UNKNOWN ? NH_ERR_UNKNOWN_OUTCOME : NH_ERR_SERVER;
        snprintf(e->message, sizeof(e->message), "%s: %s%s%.160s%s", name,
                 nh_http_outcome_name(resp->outcome),
                 v == NH_V_UNKNOWN ? " after the request was sent (outcome unknown; re-read)" : "",
                 resp->error != NULL ? ": " : "", resp->error != NULL ? resp->error : "");
        nh_text_copy(e->message, sizeof(e->message), e->message);
    }
    nh_text_copy(e->op, sizeof(e->op), name);
}

/* ---------- answers: the rules every step follows ---------- */

/* A 2xx answer the step's parser could not read. A mutation may have
 * happened: UNKNOWN_OUTCOME (re-read, never resend); a read: SERVER. */
static void pop_unreadable(struct nh_pop *op, const struct nh_http_resp *resp, const char *msg)
{
    const char *sp = op->subject[0] != '\0' ? " " : "";

    if (op->step->mutating)
        nh_pop_failf(op, NH_ERR_UNKNOWN_OUTCOME,
                     "%s%s%s: HTTP %d with an unreadable answer (%s); outcome unknown: re-read "
                     "before anything else",
                     op->step->name, sp, op->subject, resp->status, msg);
    else
        nh_pop_failf(op, NH_ERR_SERVER, "%s%s%s: unreadable answer: %s", op->step->name, sp,
                     op->subject, msg);
}

/* Reads a 2xx answer with the step's parser. 0 or -errno (msg set). */
static int pop_read(struct nh_pop *op, const struct nh_http_resp *resp, char *msg, size_t len)
{
    const struct nh_step *s = op->step;

    msg[0] = '\0';
    switch (s->read) {
    case NH_READ_NOTHING:
        return 0;
    case NH_READ_OBSERVED:
        return s->parse.observed(resp->body, resp->body_len, &op->obs, msg, len);
    case NH_READ_POOL:
        nh_pool_status_clear(&op->pool);
        return s->parse.pool(resp->body, resp->body_len, &op->pool, msg, len);
    case NH_READ_ID:
        free(op->id);
        op->id = NULL;
        return s->parse.id(resp->body, resp->body_len, &op->id, msg, len);
    case NH_READ_PROGRESS:
        return s->parse.progress(resp->body, resp->body_len, &op->progress, msg, len);
    case NH_READ_STATE:
        return s->parse.state(resp->body, resp->body_len, &op->cluster_state, op->cluster_phase,
                              sizeof(op->cluster_phase), msg, len);
    case NH_READ_CUSTOM:
        return s->parse.custom(op, resp->body, resp->body_len, msg, len);
    }
    return -EINVAL;
}

static void step_answered(struct nh_pop *op, const struct nh_http_resp *resp)
{
    const struct nh_step *s = op->step;
    char msg[200];

    op->absent_reads = 0;
    if (pop_read(op, resp, msg, sizeof(msg)) < 0) {
        pop_unreadable(op, resp, msg);
        return;
    }
    if (s->each_node && ++op->idx < op->n_nodes) {
        op->done_count++;
        nh_pop_next(op, s); /* the next node */
        return;
    }
    if (s->each_node)
        op->done_count++;
    s->then(op);
}

/* A mutation refused as invalid or in conflict may have met a busy
 * cluster (the clouds document no code for that): read the cluster's state
 * before failing (the cloud's refusal_check row). true when the read was
 * sent. */
static bool refusal_check(struct nh_pop *op, const struct nh_prov_error *err)
{
    const struct nh_step *row = op->cloud->refusal_check;

    if (row == NULL || op->refusal_checked || !op->step->mutating ||
        (err->cls != NH_ERR_INVALID && err->cls != NH_ERR_CONFLICT))
        return false;
    op->refusal = *err;
    op->refusal_checked = true;
    nh_pop_next(op, row);
    return true;
}

static void step_failed(struct nh_pop *op, const struct nh_prov_error *err)
{
    const struct nh_step *s = op->step;

    if (s->gone_when_absent != NULL && err->cls == NH_ERR_NOT_FOUND) {
        char detail[128];
        /* Gone only when two reads agree (uncertainty #12): read again. */
        if (++op->absent_reads < 2) {
            pop_resend(op);
            return;
        }
        snprintf(detail, sizeof(detail), "%s not found on two reads", s->gone_when_absent);
        nh_pop_progress_state(op, NH_JOB_SUCCEEDED, "gone", detail);
        return;
    }
    if (s->each_node && op->done_count > 0) {
        /* Partial: some nodes are gone, the rest is unknown: re-read. */
        struct nh_prov_error e = *err;
        char tmp[sizeof(e.message)];
        snprintf(tmp, sizeof(tmp), "%s: %zu of %zu nodes done, then %s: ", s->name, op->done_count,
                 op->n_nodes, op->node_ids[op->idx]);
        nh_text_cat(tmp, sizeof(tmp), err->message);
        memcpy(e.message, tmp, sizeof(e.message));
        e.cls = NH_ERR_UNKNOWN_OUTCOME;
        nh_pop_fail(op, &e);
        return;
    }
    if (s->on_error != NULL && s->on_error(op, err))
        return;
    if (refusal_check(op, err))
        return;
    nh_pop_fail(op, err);
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
        step_answered(op, resp);
        return;
    }
    pop_error(op, resp, v, &e);
    if (e.cls == NH_ERR_CANCELLED || e.cls == NH_ERR_NOT_SENT)
        nh_pop_fail(op, &e);
    else
        step_failed(op, &e);
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
    case NH_POP_STATE:
        op->state_cb(op->ud, err, err != NULL ? NH_CLUSTER_UNKNOWN : op->cluster_state,
                     op->cluster_phase);
        break;
    case NH_POP_KUBECONFIG:
        op->kubeconfig_cb(op->ud, err, err != NULL ? NULL : &op->kube_cred);
        break; /* what the callback did not take goes with the operation */
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
    if (op->err.op[0] == '\0' && op->call.op_name != NULL)
        nh_text_copy(op->err.op, sizeof(op->err.op), op->call.op_name);
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

/* A progress answer with the cloud's state word and detail. */
static struct nh_job_progress progress_of(enum nh_job_state st, const char *phase,
                                          const char *detail)
{
    struct nh_job_progress pr;

    memset(&pr, 0, sizeof(pr));
    pr.state = st;
    pr.percent = st == NH_JOB_SUCCEEDED ? 100 : -1;
    nh_text_copy(pr.phase, sizeof(pr.phase), phase);
    nh_text_copy(pr.detail, sizeof(pr.detail), detail);
    return pr;
}

void nh_pop_progress_state(struct nh_pop *op, enum nh_job_state st, const char *phase,
                           const char *detail)
{
    struct nh_job_progress pr = progress_of(st, phase, detail);
    nh_pop_progress(op, &pr);
}

void nh_then_observed(struct nh_pop *op)
{
    nh_pop_observed(op);
}

void nh_then_mutated(struct nh_pop *op)
{
    const struct nh_step *s = op->step;
    char *id = op->id;

    op->id = NULL;
    if (id != NULL && s->follow_id != NH_JOB_NONE) {
        nh_pop_mutated(op, s->follow_id, id);
        return;
    }
    free(id);
    nh_pop_mutated(op, s->follow_else, NULL);
}

void nh_then_progress(struct nh_pop *op)
{
    nh_pop_progress(op, &op->progress);
}

void nh_then_state(struct nh_pop *op)
{
    pop_complete(op);
}

void nh_then_kubeconfig(struct nh_pop *op)
{
    pop_complete(op);
}

void nh_then_refusal_checked(struct nh_pop *op)
{
    struct nh_prov_error e = op->refusal;
    char msg[sizeof(e.message)];

    if (op->cluster_state == NH_CLUSTER_ACCEPTS || op->cluster_state == NH_CLUSTER_UNKNOWN) {
        nh_pop_fail(op, &e);
        return;
    }
    snprintf(msg, sizeof(msg), "%s: refused while the cluster is %s (%s); waiting until it %s",
             e.op[0] != '\0' ? e.op : "mutation", op->cluster_phase[0] ? op->cluster_phase : "?",
             e.code[0] != '\0' ? e.code : "no code",
             op->cluster_state == NH_CLUSTER_BUSY ? "has finished" : "accepts changes again");
    nh_text_copy(e.message, sizeof(e.message), msg);
    e.cls = NH_ERR_BUSY;
    nh_pop_fail(op, &e);
}

bool nh_refusal_unchecked(struct nh_pop *op, const struct nh_prov_error *err)
{
    (void)err; /* the state could not be read: the refusal stands */
    nh_pop_fail(op, &op->refusal);
    return true;
}

void nh_then_nodes_gone(struct nh_pop *op)
{
    size_t left = 0;
    char detail[200];

    if (!op->obs.complete) {
        nh_pop_progress_state(op, NH_JOB_RUNNING, "node-list", op->obs.why);
        return;
    }
    for (size_t i = 0; i < op->obs.n_nodes; i++)
        if (nh_pop_is_victim(op, &op->obs.nodes[i]))
            left++;
    snprintf(detail, sizeof(detail), "%zu of %zu nodes still listed", left, op->n_nodes);
    nh_pop_progress_state(op, left == 0 ? NH_JOB_SUCCEEDED : NH_JOB_RUNNING, "node-list", detail);
}

void nh_pop_pool_read_progress(struct nh_pop *op, enum nh_job_state st, const char *phase,
                               const char *detail)
{
    struct nh_job_progress pr = progress_of(st, phase, detail);

    if (st == NH_JOB_SUCCEEDED) {
        pr.pool_read = true;
        pr.pool = op->pool.pool; /* every counter and flag, a field added later too */
        pr.pool.id = pr.pool.name = pr.pool.flavor = NULL; /* provider.h: strings NULL */
        /* pr.pool.blocked stays: borrowed, as the answer is */
    }
    nh_pop_progress(op, &pr);
}

void nh_pop_pool_size_progress(struct nh_pop *op, const char *deleting)
{
    const struct nh_pool_status *s = &op->pool;
    enum nh_job_state st;
    char detail[400];

    if (s->failed)
        st = NH_JOB_FAILED;
    else if (s->pool.current == op->target && s->pool.creating == 0 && s->pool.deleting == 0)
        st = NH_JOB_SUCCEEDED;
    else
        st = NH_JOB_RUNNING;
    snprintf(detail, sizeof(detail), "%s%s%d of %d nodes, %d creating, %d %s",
             s->failed ? s->failure : "", s->failed ? "; " : "", s->pool.current, op->target,
             s->pool.creating, s->pool.deleting, deleting);
    nh_pop_pool_read_progress(op, st, s->phase, detail);
}

/* ---------- shutdown ---------- */

static void cancel_op(struct nh_pop *op)
{
    const char *name = op->call.op_name != NULL ? op->call.op_name : "?";

    if (op->delivered)
        return;
    op->failed = true;
    memset(&op->err, 0, sizeof(op->err));
    op->err.cls =
        op->kind == NH_POP_MUTATE && !op->handed_over ? NH_ERR_NOT_SENT : NH_ERR_CANCELLED;
    nh_text_copy(op->err.op, sizeof(op->err.op), name);
    snprintf(op->err.message, sizeof(op->err.message), "%s: %s (provider freed)", name,
             op->err.cls == NH_ERR_NOT_SENT ? "not sent" : "cancelled");
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
