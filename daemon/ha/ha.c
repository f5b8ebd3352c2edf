/* ha.c - leader election, keepalives, fencing and the etcd journal store
 * on etcd's v3 JSON gateway (see ha.h for the protocol). */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <json-c/json.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "config/secret.h"
#include "ha/ha.h"
#include "util/clock.h"
#include "util/json.h"
#include "util/log.h"

#define NS_PER_MS ((uint64_t)1000000)

struct ha_req;
typedef void (*ha_req_fn)(struct ha_req *r, bool ok, json_object *doc);

struct ha_req {
    struct nh_ha *ha;
    struct ha_req *prev, *next;
    struct nh_http_xfer *xfer;
    ha_req_fn on_done;
    const char *what; /* for logs */
    uint64_t sent_ns;
    /* fence */
    void (*fence_cb)(void *arg, bool ok);
    void *fence_arg;
    /* journal */
    void (*jdone)(void *arg, int r);
    void *jarg;
    struct nh_op *op;
    uint64_t seq;
    int attempt;
    /* stop */
    void (*stop_done)(void *ud);
    void *stop_ud;
};

struct nh_ha {
    uv_loop_t *loop;
    struct nh_http *http;
    struct nh_http *own_http; /* when ha.etcd.ca_file asks for its own */
    nh_ha_role_fn on_role;
    void *ud;
    char *instance;

    /* configuration (copied) */
    char **endpoints;
    size_t n_endpoints;
    size_t ep;
    char *prefix;
    char *k_leader, *k_seq, *k_ops, *k_ops_end;
    uint64_t ttl_ms, poll_ms, timeout_ms;
    struct nh_secret *user, *password;

    uv_timer_t tick, keepalive, expiry;
    int closed_timers;
    bool started, stopped, freeing;

    char *token; /* etcd auth token; never logged */
    bool auth_busy, grant_busy, observe_busy, ka_busy, acquire_busy;
    int64_t lease;     /* 0: none */
    uint64_t ka_ok_ns; /* send time of the last keepalive etcd confirmed */
    bool leader;
    int64_t create_rev; /* the election key's create revision while ours */
    char holder[128];   /* the current leader's name as last seen */
    uint64_t next_seq;
    int64_t seq_mod; /* mod revision of the seq key (0: absent) */
    bool warned_down;

    struct ha_req *reqs;
};

/* ---------- pure pieces ---------- */

bool nh_ha_lease_fresh(uint64_t ka_sent_ns, uint64_t now_ns, uint64_t ttl_ms)
{
    uint64_t margin_ms = ttl_ms / 4 > 500 ? ttl_ms / 4 : 500;
    if (ka_sent_ns == 0 || ttl_ms <= margin_ms)
        return false;
    return now_ns < ka_sent_ns + (ttl_ms - margin_ms) * NS_PER_MS;
}

const char *nh_ha_step_name(enum nh_ha_step s)
{
    switch (s) {
    case NH_HA_STEP_CAMPAIGN:
        return "campaign";
    case NH_HA_STEP_ACQUIRE:
        return "acquire";
    case NH_HA_STEP_LEAD:
        return "lead";
    case NH_HA_STEP_FOLLOW:
        return "follow";
    case NH_HA_STEP_RESIGN:
        return "resign";
    }
    return "?";
}

enum nh_ha_step nh_ha_decide(bool key_present, int64_t key_lease, int64_t my_lease, bool leading,
                             bool fresh)
{
    bool ours = key_present && my_lease != 0 && key_lease == my_lease;
    if (leading && (!ours || !fresh))
        return NH_HA_STEP_RESIGN;
    if (leading)
        return NH_HA_STEP_LEAD;
    if (ours)
        return fresh ? NH_HA_STEP_ACQUIRE : NH_HA_STEP_FOLLOW;
    if (!key_present && my_lease != 0 && fresh)
        return NH_HA_STEP_CAMPAIGN;
    return NH_HA_STEP_FOLLOW;
}

/* ---------- small helpers ---------- */

static char *b64(const char *s)
{
    size_t n = strlen(s);
    char *out = malloc(4 * ((n + 2) / 3) + 1);
    if (out != NULL)
        EVP_EncodeBlock((unsigned char *)out, (const unsigned char *)s, (int)n);
    return out;
}

/* Decodes base64 into a NUL-terminated string (free()); NULL on error. */
static char *unb64(const char *s, size_t *ret_len)
{
    size_t n = strlen(s);
    if (n % 4 != 0)
        return NULL;
    unsigned char *out = malloc(n / 4 * 3 + 1);
    if (out == NULL)
        return NULL;
    int r = EVP_DecodeBlock(out, (const unsigned char *)s, (int)n);
    if (r < 0) {
        free(out);
        return NULL;
    }
    size_t len = (size_t)r;
    if (n >= 1 && s[n - 1] == '=')
        len--;
    if (n >= 2 && s[n - 2] == '=')
        len--;
    out[len] = '\0';
    if (ret_len)
        *ret_len = len;
    return (char *)out;
}

static uint64_t now_ns(void)
{
    return uv_hrtime();
}

static bool fresh(const struct nh_ha *ha)
{
    return nh_ha_lease_fresh(ha->ka_ok_ns, now_ns(), ha->ttl_ms);
}

/* The gateway writes int64 as strings; accept numbers too. */
static int64_t jint(json_object *o, const char *k)
{
    json_object *v;
    if (o == NULL || !json_object_object_get_ex(o, k, &v))
        return 0;
    if (json_object_is_type(v, json_type_string))
        return strtoll(json_object_get_string(v), NULL, 10);
    return json_object_get_int64(v);
}

static json_object *jget(json_object *o, const char *k)
{
    json_object *v = NULL;
    if (o == NULL || !json_object_object_get_ex(o, k, &v))
        return NULL;
    return v;
}

static void jadd_str(json_object *o, const char *k, const char *v)
{
    json_object_object_add(o, k, json_object_new_string(v));
}

static void jadd_i64(json_object *o, const char *k, int64_t v)
{
    char buf[32];
    snprintf(buf, sizeof(buf), "%" PRId64, v);
    jadd_str(o, k, buf);
}

static void jadd_key(json_object *o, const char *k, const char *key)
{
    char *e = b64(key);
    json_object_object_add(o, k, json_object_new_string(e ? e : ""));
    free(e);
}

/* The i-th response of a txn, of type `type` ("response_range", ...). */
static json_object *txn_resp(json_object *doc, size_t i, const char *type)
{
    json_object *a = jget(doc, "responses");
    if (a == NULL || !json_object_is_type(a, json_type_array) || i >= json_object_array_length(a))
        return NULL;
    return jget(json_object_array_get_idx(a, i), type);
}

/* The first kv of a range response, or NULL. */
static json_object *range_kv(json_object *range)
{
    json_object *kvs = jget(range, "kvs");
    if (kvs == NULL || !json_object_is_type(kvs, json_type_array) ||
        json_object_array_length(kvs) == 0)
        return NULL;
    return json_object_array_get_idx(kvs, 0);
}

static bool txn_succeeded(json_object *doc)
{
    json_object *s = jget(doc, "succeeded");
    return s != NULL && json_object_get_boolean(s);
}

/* ---------- requests ---------- */

static void ha_maybe_free(struct nh_ha *ha);

static void req_unlink(struct ha_req *r)
{
    struct nh_ha *ha = r->ha;
    if (r->prev)
        r->prev->next = r->next;
    else
        ha->reqs = r->next;
    if (r->next)
        r->next->prev = r->prev;
}

static void on_http_done(void *ud, const struct nh_http_resp *resp)
{
    struct ha_req *r = ud;
    struct nh_ha *ha = r->ha;
    json_object *doc = NULL;
    bool ok = false;

    r->xfer = NULL;
    if (resp->outcome == NH_HTTP_OK) {
        char perr[160] = "";
        struct nh_jerr je = {.buf = perr, .len = sizeof(perr)};
        doc = nh_json_parse(resp->body, resp->body_len, true, &je);
        ok = resp->status == 200 && doc != NULL;
        if (!ok) {
            const char *msg = doc ? json_object_get_string(jget(doc, "error")) : NULL;
            if (msg == NULL)
                msg = doc ? json_object_get_string(jget(doc, "message")) : NULL;
            if (msg == NULL && doc == NULL && resp->status == 200)
                msg = perr; /* a 200 that is not a JSON object */
            nh_log(LOG_WARNING, "ha: etcd %s at %s: HTTP %d%s%s", r->what, ha->endpoints[ha->ep],
                   resp->status, msg ? ": " : "", msg ? msg : "");
            /* An expired or revoked auth token: authenticate again. */
            if (ha->token != NULL && (resp->status == 401 || jint(doc, "code") == 16)) {
                OPENSSL_cleanse(ha->token, strlen(ha->token));
                free(ha->token);
                ha->token = NULL;
            }
        }
        ha->warned_down = false;
    } else if (resp->outcome != NH_HTTP_CANCELLED) {
        if (!ha->warned_down)
            nh_log(LOG_WARNING, "ha: etcd %s at %s: %s (%s); trying %s next", r->what,
                   ha->endpoints[ha->ep], nh_http_outcome_name(resp->outcome),
                   resp->error ? resp->error : "", ha->endpoints[(ha->ep + 1) % ha->n_endpoints]);
        ha->warned_down = true;
        ha->ep = (ha->ep + 1) % ha->n_endpoints;
    }
    r->on_done(r, ok, ok ? doc : NULL);
    json_object_put(doc);
    req_unlink(r);
    free(r);
    ha_maybe_free(ha);
}

static struct ha_req *req_new(struct nh_ha *ha, const char *what, ha_req_fn fn)
{
    struct ha_req *r = calloc(1, sizeof(*r));
    if (r == NULL)
        return NULL;
    r->ha = ha;
    r->what = what;
    r->on_done = fn;
    return r;
}

/* Posts `body` (consumed) to the current endpoint. 0, or -errno (r is then
 * freed and its callback never runs). */
static int req_post(struct ha_req *r, const char *path, json_object *body, uint64_t timeout_ms)
{
    struct nh_ha *ha = r->ha;
    char url[1024], auth[1200];
    const char *headers[3] = {"Content-Type: application/json", NULL, NULL};
    int rc;

    if (body == NULL) {
        free(r);
        return -ENOMEM;
    }
    snprintf(url, sizeof(url), "%s%s", ha->endpoints[ha->ep], path);
    if (ha->token != NULL) {
        snprintf(auth, sizeof(auth), "Authorization: %s", ha->token);
        headers[1] = auth;
    }
    const char *s = json_object_to_json_string_ext(body, JSON_C_TO_STRING_PLAIN);
    struct nh_http_req req = {
        .method = "POST",
        .url = url,
        .headers = headers,
        .body = s,
        .body_len = s ? strlen(s) : 0,
        .connect_timeout_ms = timeout_ms,
        .timeout_ms = timeout_ms,
        .max_body = 16u << 20,
    };
    r->sent_ns = now_ns();
    rc = s ? nh_http_submit(ha->http, &req, on_http_done, r, &r->xfer) : -ENOMEM;
    if (s != NULL && strstr(path, "/auth/") != NULL)
        OPENSSL_cleanse((char *)s, strlen(s)); /* held the password */
    if (headers[1] != NULL)
        OPENSSL_cleanse(auth, sizeof(auth));
    json_object_put(body);
    if (rc < 0) {
        free(r);
        return rc;
    }
    r->next = ha->reqs;
    if (ha->reqs)
        ha->reqs->prev = r;
    ha->reqs = r;
    return 0;
}

/* Compares that the election key is still ours: attached to our lease and,
 * once known, created at our revision. */
static void add_fence_compares(struct nh_ha *ha, json_object *cmp)
{
    json_object *c = json_object_new_object();
    jadd_key(c, "key", ha->k_leader);
    jadd_str(c, "target", "LEASE");
    jadd_str(c, "result", "EQUAL");
    jadd_i64(c, "lease", ha->lease);
    json_object_array_add(cmp, c);
    if (ha->create_rev > 0) {
        c = json_object_new_object();
        jadd_key(c, "key", ha->k_leader);
        jadd_str(c, "target", "CREATE");
        jadd_str(c, "result", "EQUAL");
        jadd_i64(c, "create_revision", ha->create_rev);
        json_object_array_add(cmp, c);
    }
}

static json_object *op_range(const char *key, const char *end)
{
    json_object *o = json_object_new_object(), *rr = json_object_new_object();
    jadd_key(rr, "key", key);
    if (end)
        jadd_key(rr, "range_end", end);
    json_object_object_add(o, "request_range", rr);
    return o;
}

static json_object *op_put(const char *key, const char *value, int64_t lease)
{
    json_object *o = json_object_new_object(), *p = json_object_new_object();
    jadd_key(p, "key", key);
    jadd_key(p, "value", value);
    if (lease)
        jadd_i64(p, "lease", lease);
    json_object_object_add(o, "request_put", p);
    return o;
}

static json_object *op_delete(const char *key)
{
    json_object *o = json_object_new_object(), *d = json_object_new_object();
    jadd_key(d, "key", key);
    json_object_object_add(o, "request_delete_range", d);
    return o;
}

static json_object *txn_new(json_object **cmp, json_object **succ, json_object **fail)
{
    json_object *t = json_object_new_object();
    *cmp = json_object_new_array();
    *succ = json_object_new_array();
    *fail = json_object_new_array();
    json_object_object_add(t, "compare", *cmp);
    json_object_object_add(t, "success", *succ);
    json_object_object_add(t, "failure", *fail);
    return t;
}

/* ---------- leadership transitions ---------- */

static void arm_expiry(struct nh_ha *ha);

static void become_follower(struct nh_ha *ha, const char *why)
{
    if (!ha->leader)
        return;
    ha->leader = false;
    ha->create_rev = 0;
    uv_timer_stop(&ha->expiry);
    nh_log(LOG_WARNING, "ha: %s lost the leadership: %s", ha->instance, why);
    if (!ha->stopped && ha->on_role)
        ha->on_role(ha->ud, false, NULL, 0, why);
}

static void on_expiry(uv_timer_t *t)
{
    struct nh_ha *ha = t->data;
    if (!ha->leader)
        return;
    if (fresh(ha)) {
        arm_expiry(ha);
        return;
    }
    char msg[160];
    snprintf(msg, sizeof(msg),
             "etcd confirmed no keepalive in time (lease_ttl %" PRIu64
             " ms); the lease may have expired",
             ha->ttl_ms);
    become_follower(ha, msg);
}

/* Fires when the lease stops being fresh, unless a keepalive moves it. */
static void arm_expiry(struct nh_ha *ha)
{
    uint64_t margin = ha->ttl_ms / 4 > 500 ? ha->ttl_ms / 4 : 500;
    uint64_t until = ha->ka_ok_ns + (ha->ttl_ms - margin) * NS_PER_MS, now = now_ns();
    uint64_t ms = until > now ? (until - now) / NS_PER_MS + 1 : 0;
    if (ha->stopped || ha->freeing)
        return;
    uv_timer_start(&ha->expiry, on_expiry, ms, 0);
}

/* ---------- acquire: load the journal under the fence, then lead ---------- */

static int cmp_seq(const void *a, const void *b)
{
    const struct nh_op *x = a, *y = b;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

static void on_acquired(struct ha_req *r, bool ok, json_object *doc)
{
    struct nh_ha *ha = r->ha;
    struct nh_op *ops = NULL;
    size_t n = 0;

    ha->acquire_busy = false;
    if (ha->stopped || ha->freeing || !ok)
        return;
    if (!txn_succeeded(doc)) {
        nh_log(LOG_INFO, "ha: the election key changed hands while loading the journal");
        return;
    }
    json_object *range = txn_resp(doc, 0, "response_range");
    json_object *kvs = jget(range, "kvs");
    size_t total =
        kvs && json_object_is_type(kvs, json_type_array) ? json_object_array_length(kvs) : 0;
    ops = calloc(total ? total : 1, sizeof(*ops));
    if (ops == NULL) {
        nh_log(LOG_ERR, "ha: out of memory loading the journal; not leading");
        return;
    }
    uint64_t max_seq = 0;
    for (size_t i = 0; i < total; i++) {
        json_object *kv = json_object_array_get_idx(kvs, i);
        size_t len = 0;
        char err[160];
        char *val = unb64(json_object_get_string(jget(kv, "value")), &len);
        char *key = unb64(json_object_get_string(jget(kv, "key")), NULL);
        if (val == NULL || nh_ha_op_from_json(val, len, &ops[n], err, sizeof(err)) < 0) {
            nh_log(LOG_ERR,
                   "ha: journal record %s in etcd is unreadable (%s); it stays there, "
                   "unresumed: inspect it with etcdctl get and delete it once handled",
                   key ? key : "?", val ? err : "bad base64");
        } else {
            if (ops[n].seq > max_seq)
                max_seq = ops[n].seq;
            n++;
        }
        free(val);
        free(key);
    }
    qsort(ops, n, sizeof(*ops), cmp_seq);
    json_object *skv = range_kv(txn_resp(doc, 1, "response_range"));
    char *sval = skv ? unb64(json_object_get_string(jget(skv, "value")), NULL) : NULL;
    uint64_t next = sval ? strtoull(sval, NULL, 10) : 0;
    free(sval);
    ha->next_seq = next > max_seq ? next : max_seq + 1;
    ha->seq_mod = skv ? jint(skv, "mod_revision") : 0;
    if (ha->next_seq == 0)
        ha->next_seq = 1;

    if (!fresh(ha)) {
        nh_log(LOG_WARNING, "ha: lease no longer fresh after loading the journal; not leading");
    } else {
        ha->leader = true;
        snprintf(ha->holder, sizeof(ha->holder), "%s", ha->instance);
        arm_expiry(ha);
        nh_log(LOG_NOTICE,
               "ha: %s is the leader (election revision %" PRId64 ", lease %" PRIx64
               "); %zu open operation%s in the etcd journal",
               ha->instance, ha->create_rev, (uint64_t)ha->lease, n, n == 1 ? "" : "s");
        if (ha->on_role)
            ha->on_role(ha->ud, true, ops, n, "elected");
    }
    for (size_t i = 0; i < n; i++)
        nh_op_clear(&ops[i]);
    free(ops);
}

static void acquire(struct nh_ha *ha)
{
    json_object *cmp, *succ, *fail;
    struct ha_req *r;
    if (ha->acquire_busy)
        return;
    r = req_new(ha, "journal load", on_acquired);
    if (r == NULL)
        return;
    json_object *t = txn_new(&cmp, &succ, &fail);
    add_fence_compares(ha, cmp);
    json_object_array_add(succ, op_range(ha->k_ops, ha->k_ops_end));
    json_object_array_add(succ, op_range(ha->k_seq, NULL));
    ha->acquire_busy = true;
    if (req_post(r, "/v3/kv/txn", t, ha->timeout_ms * 2) < 0)
        ha->acquire_busy = false;
}

/* ---------- observe / campaign ---------- */

static void apply_key(struct nh_ha *ha, json_object *kv)
{
    int64_t key_lease = kv ? jint(kv, "lease") : 0;
    enum nh_ha_step step = nh_ha_decide(kv != NULL, key_lease, ha->lease, ha->leader, fresh(ha));

    if (kv != NULL) {
        char *name = unb64(json_object_get_string(jget(kv, "value")), NULL);
        if (name && strcmp(name, ha->holder) != 0) {
            if (key_lease != ha->lease)
                nh_log(LOG_INFO, "ha: %s leads; %s follows", name, ha->instance);
            snprintf(ha->holder, sizeof(ha->holder), "%s", name);
        }
        free(name);
        if (key_lease == ha->lease && key_lease != 0)
            ha->create_rev = jint(kv, "create_revision");
    }
    switch (step) {
    case NH_HA_STEP_CAMPAIGN:
        break; /* handled by the caller (observe) */
    case NH_HA_STEP_ACQUIRE:
        acquire(ha);
        break;
    case NH_HA_STEP_LEAD:
    case NH_HA_STEP_FOLLOW:
        break;
    case NH_HA_STEP_RESIGN:
        become_follower(ha, kv == NULL ? "the election key is gone"
                            : key_lease != ha->lease
                                ? "another instance holds the election key"
                                : "the lease is no longer confirmed by keepalives");
        break;
    }
}

static void on_campaign(struct ha_req *r, bool ok, json_object *doc)
{
    struct nh_ha *ha = r->ha;
    ha->observe_busy = false;
    if (ha->stopped || ha->freeing || !ok)
        return;
    if (txn_succeeded(doc)) {
        ha->create_rev = jint(jget(doc, "header"), "revision");
        nh_log(LOG_INFO, "ha: %s created the election key (revision %" PRId64 ")", ha->instance,
               ha->create_rev);
        acquire(ha);
        return;
    }
    apply_key(ha, range_kv(txn_resp(doc, 0, "response_range")));
}

static void campaign(struct nh_ha *ha)
{
    json_object *cmp, *succ, *fail, *c;
    struct ha_req *r = req_new(ha, "campaign", on_campaign);
    if (r == NULL)
        return;
    json_object *t = txn_new(&cmp, &succ, &fail);
    c = json_object_new_object();
    jadd_key(c, "key", ha->k_leader);
    jadd_str(c, "target", "CREATE");
    jadd_str(c, "result", "EQUAL");
    jadd_i64(c, "create_revision", 0);
    json_object_array_add(cmp, c);
    json_object_array_add(succ, op_put(ha->k_leader, ha->instance, ha->lease));
    json_object_array_add(fail, op_range(ha->k_leader, NULL));
    ha->observe_busy = true;
    if (req_post(r, "/v3/kv/txn", t, ha->timeout_ms) < 0)
        ha->observe_busy = false;
}

static void on_observed(struct ha_req *r, bool ok, json_object *doc)
{
    struct nh_ha *ha = r->ha;
    ha->observe_busy = false;
    if (ha->stopped || ha->freeing || !ok)
        return;
    json_object *kv = range_kv(doc);
    if (kv == NULL &&
        nh_ha_decide(false, 0, ha->lease, ha->leader, fresh(ha)) == NH_HA_STEP_CAMPAIGN) {
        campaign(ha);
        return;
    }
    apply_key(ha, kv);
}

static void observe(struct nh_ha *ha)
{
    struct ha_req *r = req_new(ha, "election read", on_observed);
    if (r == NULL)
        return;
    json_object *b = json_object_new_object();
    jadd_key(b, "key", ha->k_leader);
    ha->observe_busy = true;
    if (req_post(r, "/v3/kv/range", b, ha->timeout_ms) < 0)
        ha->observe_busy = false;
}

/* ---------- lease ---------- */

static void on_granted(struct ha_req *r, bool ok, json_object *doc)
{
    struct nh_ha *ha = r->ha;
    ha->grant_busy = false;
    if (ha->stopped || ha->freeing || !ok)
        return;
    int64_t id = jint(doc, "ID"), ttl = jint(doc, "TTL");
    if (id == 0 || ttl <= 0) {
        nh_log(LOG_WARNING, "ha: etcd granted no lease (%s)", json_object_get_string(doc));
        return;
    }
    ha->lease = id;
    ha->ka_ok_ns = r->sent_ns;
    nh_log(LOG_INFO, "ha: %s has lease %" PRIx64 " (TTL %" PRId64 " s)", ha->instance, (uint64_t)id,
           ttl);
    observe(ha);
}

static void grant(struct nh_ha *ha)
{
    struct ha_req *r = req_new(ha, "lease grant", on_granted);
    if (r == NULL)
        return;
    json_object *b = json_object_new_object();
    jadd_i64(b, "TTL", (int64_t)((ha->ttl_ms + 999) / 1000));
    ha->grant_busy = true;
    if (req_post(r, "/v3/lease/grant", b, ha->timeout_ms) < 0)
        ha->grant_busy = false;
}

static void on_keepalive(struct ha_req *r, bool ok, json_object *doc)
{
    struct nh_ha *ha = r->ha;
    ha->ka_busy = false;
    if (ha->stopped || ha->freeing || !ok)
        return;
    json_object *res = jget(doc, "result");
    if (jint(res, "ID") != ha->lease)
        return; /* an answer about a lease we no longer use */
    if (jint(res, "TTL") > 0) {
        if (r->sent_ns > ha->ka_ok_ns)
            ha->ka_ok_ns = r->sent_ns;
        if (ha->leader)
            arm_expiry(ha);
        return;
    }
    nh_log(LOG_WARNING, "ha: lease %" PRIx64 " expired in etcd", (uint64_t)ha->lease);
    ha->lease = 0;
    ha->ka_ok_ns = 0;
    become_follower(ha, "the lease expired in etcd");
}

static void on_keepalive_timer(uv_timer_t *t)
{
    struct nh_ha *ha = t->data;
    if (ha->lease == 0 || ha->ka_busy || ha->stopped)
        return;
    struct ha_req *r = req_new(ha, "lease keepalive", on_keepalive);
    if (r == NULL)
        return;
    json_object *b = json_object_new_object();
    jadd_i64(b, "ID", ha->lease);
    ha->ka_busy = true;
    if (req_post(r, "/v3/lease/keepalive", b, ha->timeout_ms) < 0)
        ha->ka_busy = false;
}

/* ---------- authentication ---------- */

static void on_authenticated(struct ha_req *r, bool ok, json_object *doc)
{
    struct nh_ha *ha = r->ha;
    ha->auth_busy = false;
    if (ha->stopped || ha->freeing || !ok)
        return;
    const char *tok = json_object_get_string(jget(doc, "token"));
    if (tok == NULL || *tok == '\0') {
        nh_log(LOG_ERR,
               "ha: etcd gave no auth token for %s; check ha.etcd.username and "
               "password",
               nh_secret_describe(ha->user));
        return;
    }
    free(ha->token);
    ha->token = strdup(tok);
    OPENSSL_cleanse((char *)tok, strlen(tok));
}

static void authenticate(struct nh_ha *ha)
{
    size_t ul, pl;
    const unsigned char *u = nh_secret_bytes(ha->user, &ul),
                        *p = nh_secret_bytes(ha->password, &pl);
    struct ha_req *r = req_new(ha, "authenticate", on_authenticated);
    if (r == NULL)
        return;
    json_object *b = json_object_new_object();
    json_object_object_add(b, "name", json_object_new_string_len((const char *)u, (int)ul));
    json_object_object_add(b, "password", json_object_new_string_len((const char *)p, (int)pl));
    ha->auth_busy = true;
    if (req_post(r, "/v3/auth/authenticate", b, ha->timeout_ms) < 0)
        ha->auth_busy = false;
}

/* ---------- the tick ---------- */

static void on_tick(uv_timer_t *t)
{
    struct nh_ha *ha = t->data;
    if (ha->stopped)
        return;
    if (ha->leader && !fresh(ha))
        become_follower(ha, "keepalives unconfirmed for too long; the lease may have expired");
    if (ha->user != NULL && ha->token == NULL) {
        if (!ha->auth_busy)
            authenticate(ha);
        return;
    }
    if (ha->lease == 0) {
        if (!ha->grant_busy)
            grant(ha);
        return;
    }
    if (!ha->observe_busy && !ha->acquire_busy)
        observe(ha);
}

/* ---------- fence ---------- */

static void on_fence(struct ha_req *r, bool ok, json_object *doc)
{
    struct nh_ha *ha = r->ha;
    void (*cb)(void *, bool) = r->fence_cb;
    bool yes = false;

    if (ok && !ha->stopped && !ha->freeing) {
        uint64_t took = now_ns() - r->sent_ns;
        if (!txn_succeeded(doc))
            become_follower(ha, "fence: the election key is no longer ours");
        else if (!ha->leader || !fresh(ha))
            nh_log(LOG_WARNING, "ha: fence confirmed too late (lease no longer fresh); refusing");
        else if (took > ha->timeout_ms * NS_PER_MS)
            nh_log(LOG_WARNING, "ha: fence took %" PRIu64 " ms (bound %" PRIu64 " ms); refusing",
                   took / NS_PER_MS, ha->timeout_ms);
        else
            yes = true;
    } else if (!ok && !ha->freeing) {
        nh_log(LOG_WARNING, "ha: fence: etcd did not confirm the leadership; not mutating");
    }
    cb(r->fence_arg, yes);
}

void nh_ha_fence(struct nh_ha *ha, void (*cb)(void *arg, bool ok), void *arg)
{
    json_object *cmp, *succ, *fail;
    if (ha == NULL || ha->stopped || ha->freeing || !ha->leader || !fresh(ha)) {
        if (ha != NULL && ha->leader && !fresh(ha))
            become_follower(ha, "fence: keepalives unconfirmed for too long");
        nh_log(LOG_WARNING, "ha: fence: not the leader with a fresh lease; not mutating");
        cb(arg, false);
        return;
    }
    struct ha_req *r = req_new(ha, "fence", on_fence);
    if (r == NULL) {
        cb(arg, false);
        return;
    }
    r->fence_cb = cb;
    r->fence_arg = arg;
    json_object *t = txn_new(&cmp, &succ, &fail);
    add_fence_compares(ha, cmp);
    if (req_post(r, "/v3/kv/txn", t, ha->timeout_ms) < 0)
        cb(arg, false);
}

/* ---------- the etcd journal ---------- */

static int journal_submit(struct ha_req *r, bool begin);

/* Was the refusal about the election key? (response 0 is its range) */
static bool key_still_ours(struct nh_ha *ha, json_object *doc)
{
    json_object *kv = range_kv(txn_resp(doc, 0, "response_range"));
    return kv != NULL && jint(kv, "lease") == ha->lease &&
           (ha->create_rev == 0 || jint(kv, "create_revision") == ha->create_rev);
}

static void on_journal(struct ha_req *r, bool ok, json_object *doc)
{
    struct nh_ha *ha = r->ha;
    bool begin = r->seq != 0;
    int rc;

    if (ha->freeing || ha->stopped) {
        rc = -ECANCELED;
    } else if (!ok) {
        rc = -EIO;
    } else if (txn_succeeded(doc)) {
        rc = 0;
        if (begin) {
            r->op->seq = r->seq;
            ha->next_seq = r->seq + 1;
            ha->seq_mod = jint(jget(doc, "header"), "revision");
        }
    } else if (!key_still_ours(ha, doc)) {
        become_follower(ha, "journal write refused: the election key is no longer ours");
        rc = -EPERM;
    } else if (begin) {
        /* The sequence moved under us (an earlier write whose answer was
         * lost): take etcd's value and try again. */
        json_object *skv = range_kv(txn_resp(doc, 1, "response_range"));
        char *v = skv ? unb64(json_object_get_string(jget(skv, "value")), NULL) : NULL;
        uint64_t next = v ? strtoull(v, NULL, 10) : 0;
        free(v);
        if (next > ha->next_seq)
            ha->next_seq = next;
        ha->seq_mod = skv ? jint(skv, "mod_revision") : 0;
        if (r->attempt < 3) {
            struct ha_req *again = req_new(ha, r->what, on_journal);
            if (again != NULL) {
                again->jdone = r->jdone;
                again->jarg = r->jarg;
                again->op = r->op;
                again->attempt = r->attempt + 1;
                if (journal_submit(again, true) == 0)
                    return;
            }
        }
        rc = -EAGAIN;
    } else {
        rc = -ENOENT;
    }
    r->jdone(r->jarg, rc);
}

static int journal_submit(struct ha_req *r, bool begin)
{
    struct nh_ha *ha = r->ha;
    struct nh_op *op = r->op;
    json_object *cmp, *succ, *fail, *c;
    char key[512];
    uint64_t saved_seq = op->seq;

    if (!ha->leader || !fresh(ha) || ha->stopped) {
        free(r);
        return -EPERM;
    }
    json_object *t = txn_new(&cmp, &succ, &fail);
    add_fence_compares(ha, cmp);
    json_object_array_add(fail, op_range(ha->k_leader, NULL));
    if (begin) {
        char next[32];
        r->seq = ha->next_seq;
        op->seq = r->seq;
        nh_ha_op_key(ha->prefix, r->seq, key, sizeof(key));
        snprintf(next, sizeof(next), "%" PRIu64, r->seq + 1);
        c = json_object_new_object();
        jadd_key(c, "key", ha->k_seq);
        jadd_str(c, "target", "MOD");
        jadd_str(c, "result", "EQUAL");
        jadd_i64(c, "mod_revision", ha->seq_mod);
        json_object_array_add(cmp, c);
        json_object_array_add(fail, op_range(ha->k_seq, NULL));
        json_object_array_add(succ, op_put(ha->k_seq, next, 0));
    } else {
        nh_ha_op_key(ha->prefix, op->seq, key, sizeof(key));
        c = json_object_new_object();
        jadd_key(c, "key", key);
        jadd_str(c, "target", "CREATE");
        jadd_str(c, "result", "GREATER");
        jadd_i64(c, "create_revision", 0);
        json_object_array_add(cmp, c);
    }
    if (!begin && nh_op_state_final(op->state)) {
        json_object_array_add(succ, op_delete(key));
    } else {
        char *val = nh_ha_op_to_json(op);
        if (val == NULL) {
            json_object_put(t);
            op->seq = saved_seq;
            free(r);
            return -ENOMEM;
        }
        json_object_array_add(succ, op_put(key, val, 0));
        free(val);
    }
    if (begin)
        op->seq = saved_seq; /* assigned only once etcd has it */
    return req_post(r, "/v3/kv/txn", t, ha->timeout_ms);
}

int nh_ha_journal_write(void *ctx, bool begin, struct nh_op *op, void (*done)(void *arg, int r),
                        void *arg)
{
    struct nh_ha *ha = ctx;
    if (ha == NULL || op == NULL || done == NULL)
        return -EINVAL;
    if (!ha->leader || !fresh(ha) || ha->stopped || ha->freeing)
        return -EPERM;
    if (begin) {
        op->state = NH_OP_INTENT;
        if (op->started_ms == 0)
            op->started_ms = nh_wall_ms();
        op->updated_ms = op->started_ms;
    } else {
        if (op->seq == 0)
            return -ENOENT;
        if (op->updated_ms == 0)
            op->updated_ms = nh_wall_ms();
    }
    struct ha_req *r = req_new(ha, begin ? "journal begin" : "journal update", on_journal);
    if (r == NULL)
        return -ENOMEM;
    r->jdone = done;
    r->jarg = arg;
    r->op = op;
    return journal_submit(r, begin);
}

/* ---------- life cycle ---------- */

static char *dupcat(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    char *s = malloc(la + lb + 1);
    if (s) {
        memcpy(s, a, la);
        memcpy(s + la, b, lb + 1);
    }
    return s;
}

static struct nh_secret *secret_copy(const struct nh_secret *s)
{
    size_t n;
    const unsigned char *b;
    if (s == NULL)
        return NULL;
    b = nh_secret_bytes(s, &n);
    return nh_secret_new(b, n, nh_secret_describe(s));
}

static void ha_release(struct nh_ha *ha)
{
    for (size_t i = 0; i < ha->n_endpoints; i++)
        free(ha->endpoints[i]);
    free(ha->endpoints);
    free(ha->prefix);
    free(ha->k_leader);
    free(ha->k_seq);
    free(ha->k_ops);
    free(ha->k_ops_end);
    free(ha->instance);
    nh_secret_free(ha->user);
    nh_secret_free(ha->password);
    if (ha->token) {
        OPENSSL_cleanse(ha->token, strlen(ha->token));
        free(ha->token);
    }
    free(ha);
}

int nh_ha_new(const struct nh_ha_opts *opts, struct nh_ha **ret, char *err, size_t errlen)
{
    const struct nh_cfg_ha *cfg = opts->cfg;
    struct nh_ha *ha;
    char host[256];

    *ret = NULL;
    if (cfg == NULL || !cfg->enabled || cfg->n_endpoints == 0 || cfg->prefix == NULL) {
        snprintf(err, errlen, "ha: no etcd endpoints configured (ha.etcd.endpoints)");
        return -EINVAL;
    }
    ha = calloc(1, sizeof(*ha));
    if (ha == NULL)
        goto nomem;
    ha->loop = opts->loop;
    ha->on_role = opts->on_role;
    ha->ud = opts->ud;
    if (opts->instance)
        ha->instance = strdup(opts->instance);
    else if (cfg->name)
        ha->instance = strdup(cfg->name);
    else {
        if (gethostname(host, sizeof(host) - 16) != 0)
            snprintf(host, sizeof(host), "nodeherd");
        host[sizeof(host) - 17] = '\0';
        size_t hl = strlen(host);
        snprintf(host + hl, sizeof(host) - hl, ":%ld", (long)getpid());
        ha->instance = strdup(host);
    }
    ha->endpoints = calloc(cfg->n_endpoints, sizeof(char *));
    ha->prefix = strdup(cfg->prefix);
    if (ha->instance == NULL || ha->endpoints == NULL || ha->prefix == NULL)
        goto nomem;
    for (size_t i = 0; i < cfg->n_endpoints; i++) {
        ha->endpoints[i] = strdup(cfg->endpoints[i]);
        if (ha->endpoints[i] == NULL)
            goto nomem;
        ha->n_endpoints++;
    }
    ha->k_leader = dupcat(ha->prefix, "leader");
    ha->k_seq = dupcat(ha->prefix, "seq");
    ha->k_ops = dupcat(ha->prefix, "ops/");
    ha->k_ops_end = dupcat(ha->prefix, "ops0"); /* '0' follows '/' */
    if (!ha->k_leader || !ha->k_seq || !ha->k_ops || !ha->k_ops_end)
        goto nomem;
    if (cfg->username) {
        ha->user = secret_copy(cfg->username);
        ha->password = secret_copy(cfg->password);
        if (ha->user == NULL || ha->password == NULL)
            goto nomem;
    }
    if (cfg->ca_file != NULL || opts->http == NULL) {
        struct nh_http_opts ho = {.ca_file = cfg->ca_file};
        int r = nh_http_new(opts->loop, &ho, &ha->own_http);
        if (r < 0) {
            snprintf(err, errlen, "ha: cannot set up the etcd client: %s", strerror(-r));
            ha_release(ha);
            return r;
        }
        ha->http = ha->own_http;
    } else {
        ha->http = opts->http;
    }
    /* The lease and the timers' periods. */
    ha->ttl_ms = cfg->lease_ttl_ms;
    ha->poll_ms = cfg->poll_interval_ms;
    ha->timeout_ms = cfg->timeout_ms;
    uv_timer_init(opts->loop, &ha->tick);
    uv_timer_init(opts->loop, &ha->keepalive);
    uv_timer_init(opts->loop, &ha->expiry);
    ha->tick.data = ha->keepalive.data = ha->expiry.data = ha;
    *ret = ha;
    return 0;
nomem:
    snprintf(err, errlen, "ha: out of memory");
    if (ha)
        ha_release(ha);
    return -ENOMEM;
}

int nh_ha_start(struct nh_ha *ha)
{
    uint64_t ka = ha->ttl_ms / 3;
    if (ha->started)
        return 0;
    ha->started = true;
    nh_log(LOG_NOTICE,
           "ha: %s campaigning on %s (prefix %s, lease_ttl %" PRIu64 " ms); following until "
           "elected",
           ha->instance, ha->endpoints[0], ha->prefix, ha->ttl_ms);
    uv_timer_start(&ha->tick, on_tick, 0, ha->poll_ms);
    uv_timer_start(&ha->keepalive, on_keepalive_timer, ka, ka);
    return 0;
}

const char *nh_ha_instance(const struct nh_ha *ha)
{
    return ha->instance;
}

bool nh_ha_is_leader(const struct nh_ha *ha)
{
    return ha != NULL && ha->leader;
}

static void on_revoked(struct ha_req *r, bool ok, json_object *doc)
{
    (void)doc;
    nh_log(ok ? LOG_NOTICE : LOG_WARNING, "ha: %s %s", r->ha->instance,
           ok ? "resigned (lease revoked)" : "could not revoke its lease; it expires by itself");
    r->stop_done(r->stop_ud);
}

static void on_stop_later(uv_timer_t *t)
{
    struct ha_req *r = t->data;
    struct nh_ha *ha = r->ha;
    ha->tick.data = ha;
    r->stop_done(r->stop_ud);
    free(r);
}

void nh_ha_stop(struct nh_ha *ha, void (*done)(void *ud), void *ud)
{
    ha->stopped = true;
    ha->leader = false;
    uv_timer_stop(&ha->tick);
    uv_timer_stop(&ha->keepalive);
    uv_timer_stop(&ha->expiry);
    struct ha_req *r = req_new(ha, "lease revoke", on_revoked);
    if (r == NULL) {
        done(ud);
        return;
    }
    r->stop_done = done;
    r->stop_ud = ud;
    if (ha->lease != 0) {
        json_object *b = json_object_new_object();
        jadd_i64(b, "ID", ha->lease);
        ha->lease = 0;
        if (req_post(r, "/v3/lease/revoke", b, ha->timeout_ms) == 0)
            return;
        r = req_new(ha, "stop", NULL);
        if (r == NULL) {
            done(ud);
            return;
        }
        r->stop_done = done;
        r->stop_ud = ud;
    }
    ha->tick.data = r;
    uv_timer_start(&ha->tick, on_stop_later, 0, 0);
}

static void on_timer_closed(uv_handle_t *h)
{
    struct nh_ha *ha = h->data;
    if (ha == NULL)
        return;
    ha->closed_timers++;
    ha_maybe_free(ha);
}

static void ha_maybe_free(struct nh_ha *ha)
{
    if (!ha->freeing || ha->closed_timers < 3 || ha->reqs != NULL)
        return;
    ha_release(ha);
}

void nh_ha_free(struct nh_ha *ha)
{
    if (ha == NULL || ha->freeing)
        return;
    if (ha->tick.data != ha) { /* a pending stop callback: drop it */
        free(ha->tick.data);
        ha->tick.data = ha;
    }
    ha->freeing = true;
    ha->stopped = true;
    ha->leader = false;
    for (struct ha_req *r = ha->reqs; r; r = r->next)
        if (r->xfer)
            nh_http_cancel(r->xfer);
    if (ha->own_http) {
        nh_http_close(ha->own_http); /* callbacks run before it returns */
        ha->own_http = NULL;
    }
    uv_close((uv_handle_t *)&ha->tick, on_timer_closed);
    uv_close((uv_handle_t *)&ha->keepalive, on_timer_closed);
    uv_close((uv_handle_t *)&ha->expiry, on_timer_closed);
}

const struct nh_jstore_ops nh_ha_jstore = {.write = nh_ha_journal_write};
