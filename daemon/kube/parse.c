/* parse.c - see parse.h. Shapes from the Kubernetes API reference:
 * Node  https://kubernetes.io/docs/reference/kubernetes-api/cluster-resources/node-v1/
 * Pod   https://kubernetes.io/docs/reference/kubernetes-api/workload-resources/pod-v1/
 * Eviction https://kubernetes.io/docs/concepts/scheduling-eviction/api-eviction/
 * Status and list paging (limit/continue, 410 Gone)
 *       https://kubernetes.io/docs/reference/using-api/api-concepts/ */
#include "kube/parse.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kube/internal.h"

#define MAX_KEY 320    /* prefix (253) + '/' + name (63), with room */
#define MAX_LABEL 1024 /* label values are at most 63 in Kubernetes; be lenient */
#define MAX_UID 128
#define MAX_PROVIDER_ID 512
#define MAX_RV 128

NH_ENUM_DEFINE(nh_kube_code, NH_KUBE_CODES)

/* ---- small checks ---- */

bool nh_kube_name_ok(const char *s)
{
    if (s == NULL)
        return false;
    size_t n = strlen(s);
    if (n == 0 || n > 253)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        bool alnum = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
        if (!alnum && c != '-' && c != '.')
            return false;
        if ((i == 0 || i == n - 1) && !alnum)
            return false;
    }
    return true;
}

bool nh_kube_op_id_ok(const char *s)
{
    if (s == NULL)
        return false;
    size_t n = strlen(s);
    if (n == 0 || n > 128)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!isalnum((unsigned char)s[i]) && strchr("._:-", s[i]) == NULL)
            return false;
    return true;
}

static void copy_clean(char *dst, size_t dstlen, const char *src)
{
    size_t i = 0;
    if (dstlen == 0)
        return;
    for (; src != NULL && src[i] != '\0' && i + 1 < dstlen; i++) {
        unsigned char c = (unsigned char)src[i];
        dst[i] = (c < 0x20 || c == 0x7f) ? ' ' : (char)c;
    }
    dst[i] = '\0';
}

/* days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant) */
static int64_t days_from_civil(int64_t y, int64_t m, int64_t d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static bool digits(const char *s, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return true;
}

int nh_kube_parse_time(const char *s, int64_t *ret)
{
    int y, mo, d, h, mi, se, oh = 0, om = 0;
    if (s == NULL || strlen(s) < 20 || !digits(s, 4, &y) || s[4] != '-' || !digits(s + 5, 2, &mo) ||
        s[7] != '-' || !digits(s + 8, 2, &d) || (s[10] != 'T' && s[10] != 't') ||
        !digits(s + 11, 2, &h) || s[13] != ':' || !digits(s + 14, 2, &mi) || s[16] != ':' ||
        !digits(s + 17, 2, &se))
        return -EINVAL;
    const char *p = s + 19;
    if (*p == '.') {
        p++;
        if (!isdigit((unsigned char)*p))
            return -EINVAL;
        for (int i = 0; isdigit((unsigned char)*p); i++, p++)
            if (i >= 9)
                return -EINVAL;
    }
    int sign = 0;
    if (*p == 'Z' || *p == 'z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        sign = *p == '+' ? 1 : -1;
        if (!digits(p + 1, 2, &oh) || p[3] != ':' || !digits(p + 4, 2, &om))
            return -EINVAL;
        p += 6;
    } else {
        return -EINVAL;
    }
    if (*p != '\0' || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || se > 60 ||
        oh > 23 || om > 59)
        return -EINVAL;
    int64_t t = days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + se;
    t -= sign * (oh * 3600 + om * 60);
    *ret = t;
    return 0;
}

/* ---- typed getters ---- */

struct ctx {
    struct nh_kerr *e;
    char where[128]; /* "items[3]" */
};

static int fail(struct ctx *c, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int fail(struct ctx *c, const char *field, const char *fmt, ...)
{
    char what[160];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof(what), fmt, ap);
    va_end(ap);
    return nh_kerr_set(c->e, "%s%s%s: %s", c->where, c->where[0] && field[0] ? "." : "", field,
                       what);
}

static int want_type(struct ctx *c, struct json_object *v, json_type t, const char *field,
                     const char *expected)
{
    if (json_object_is_type(v, t))
        return 0;
    char what[96];
    snprintf(what, sizeof(what), "expected %s, got %s", expected, nh_kj_type(v));
    return fail(c, field, "%s", what);
}

/* Optional string; *out NULL when absent/null. Bounded; no NUL inside. */
static int opt_str(struct ctx *c, struct json_object *o, const char *key, const char *field,
                   size_t max, const char **out)
{
    struct json_object *v = nh_kj_get(o, key);
    *out = NULL;
    if (v == NULL)
        return 0;
    int r = want_type(c, v, json_type_string, field, "a string");
    if (r < 0)
        return r;
    size_t n = (size_t)json_object_get_string_len(v);
    const char *s = json_object_get_string(v);
    if (n > max) {
        char what[64];
        snprintf(what, sizeof(what), "longer than %zu bytes", max);
        return fail(c, field, "%s", what);
    }
    if (strlen(s) != n)
        return fail(c, field, "%s", "contains a NUL character");
    *out = s;
    return 0;
}

static int req_str(struct ctx *c, struct json_object *o, const char *key, const char *field,
                   size_t max, const char **out)
{
    int r = opt_str(c, o, key, field, max, out);
    if (r == 0 && (*out == NULL || (*out)[0] == '\0'))
        return fail(c, field, "%s", "missing or empty");
    return r;
}

/* Optional value of type t (expected names it); *out NULL when absent. */
static int opt_typed(struct ctx *c, struct json_object *o, const char *key, const char *field,
                     json_type t, const char *expected, struct json_object **out)
{
    struct json_object *v = nh_kj_get(o, key);
    *out = NULL;
    if (v == NULL)
        return 0;
    int r = want_type(c, v, t, field, expected);
    if (r == 0)
        *out = v;
    return r;
}

static int opt_obj(struct ctx *c, struct json_object *o, const char *key, const char *field,
                   struct json_object **out)
{
    return opt_typed(c, o, key, field, json_type_object, "an object", out);
}

static int opt_arr(struct ctx *c, struct json_object *o, const char *key, const char *field,
                   struct json_object **out)
{
    return opt_typed(c, o, key, field, json_type_array, "a list", out);
}

static int dup_to(char **dst, const char *s)
{
    if (s == NULL) {
        *dst = NULL;
        return 0;
    }
    *dst = strdup(s);
    return *dst != NULL ? 0 : -ENOMEM;
}

static int oom(struct ctx *c)
{
    nh_kerr_set(c->e, "out of memory");
    return -ENOMEM;
}

/* ---- nodes ---- */

static int kv_map(struct ctx *c, struct json_object *m, const char *field, bool skip_long,
                  size_t max_n, struct nh_kube_kv **ret, size_t *ret_n, size_t *ret_skipped)
{
    size_t n = 0, skipped = 0, total = (size_t)json_object_object_length(m);
    if (total == 0)
        return 0;
    struct nh_kube_kv *kv = calloc(total, sizeof(*kv));
    if (kv == NULL)
        return oom(c);
    int r = 0;
    json_object_object_foreach(m, k, v)
    {
        char f[64];
        snprintf(f, sizeof(f), "%s[\"%.24s\"]", field, k);
        size_t klen = strlen(k);
        if (klen == 0 || klen > MAX_KEY) {
            r = fail(c, field, "%s", "a key is empty or longer than 320 bytes");
            break;
        }
        if (v == NULL || !json_object_is_type(v, json_type_string)) {
            r = want_type(c, v, json_type_string, f, "a string");
            break;
        }
        size_t vlen = (size_t)json_object_get_string_len(v);
        const char *s = json_object_get_string(v);
        if (strlen(s) != vlen) {
            r = fail(c, f, "%s", "contains a NUL character");
            break;
        }
        if (vlen > (skip_long ? (size_t)NH_KUBE_MAX_ANNOTATION_VALUE : (size_t)MAX_LABEL)) {
            if (skip_long) {
                skipped++;
                continue;
            }
            r = fail(c, f, "%s", "value longer than 1024 bytes");
            break;
        }
        if (n == max_n) {
            char what[64];
            snprintf(what, sizeof(what), "more than %zu entries", max_n);
            r = fail(c, field, "%s", what);
            break;
        }
        kv[n].key = strdup(k);
        kv[n].value = strdup(s);
        n++;
        if (kv[n - 1].key == NULL || kv[n - 1].value == NULL) {
            r = oom(c);
            break;
        }
    }
    if (r < 0) {
        for (size_t i = 0; i < n; i++) {
            free(kv[i].key);
            free(kv[i].value);
        }
        free(kv);
        return r;
    }
    if (n == 0) {
        free(kv);
        kv = NULL;
    }
    *ret = kv;
    *ret_n = n;
    if (ret_skipped != NULL)
        *ret_skipped = skipped;
    return 0;
}

static bool ip_ok(const char *s, bool *v4)
{
    unsigned char buf[16];
    *v4 = inet_pton(AF_INET, s, buf) == 1;
    return *v4 || inet_pton(AF_INET6, s, buf) == 1;
}

static enum nh_kube_ready ready_of(const char *s)
{
    if (strcmp(s, "True") == 0)
        return NH_KUBE_READY_TRUE;
    if (strcmp(s, "False") == 0)
        return NH_KUBE_READY_FALSE;
    return NH_KUBE_READY_UNKNOWN;
}

/* A list of objects with the strings "type" and key, e.g. the conditions
 * ("status.conditions", key "status") or the addresses of a node. */
struct typed_list {
    const char *what; /* where the list is ("status.conditions") */
    size_t type_max;  /* longest "type" accepted, in bytes */
    const char *key;
    size_t key_max;   /* longest key value accepted */
    const char *want; /* the type of the entries to hand on */
};

/* Reads every entry of arr (NULL: none; more than 64: refused) as l says,
 * and calls each(c, ud, value, field) for the entries of type l->want,
 * field naming the value's place ("status.conditions[0].status"); stops at
 * the first failure. */
static int typed_each(struct ctx *c, struct json_object *arr, const struct typed_list *l,
                      int (*each)(struct ctx *c, void *ud, const char *val, const char *field),
                      void *ud)
{
    size_t n = arr ? json_object_array_length(arr) : 0;
    if (n > 64)
        return fail(c, l->what, "%s", "more than 64 entries");
    for (size_t i = 0; i < n; i++) {
        struct json_object *it = json_object_array_get_idx(arr, i);
        const char *type, *val;
        char f[64], ft[80], fkey[80];
        int r;
        snprintf(f, sizeof(f), "%s[%zu]", l->what, i);
        if (it == NULL || (r = want_type(c, it, json_type_object, f, "an object")) < 0)
            return it == NULL ? fail(c, f, "%s", "null") : r;
        snprintf(ft, sizeof(ft), "%s.type", f);
        snprintf(fkey, sizeof(fkey), "%s.%s", f, l->key);
        if ((r = req_str(c, it, "type", ft, l->type_max, &type)) < 0 ||
            (r = req_str(c, it, l->key, fkey, l->key_max, &val)) < 0)
            return r;
        if (strcmp(type, l->want) == 0 && (r = each(c, ud, val, fkey)) < 0)
            return r;
    }
    return 0;
}

struct ready_seen {
    struct nh_kube_node *n;
    bool seen;
};

static int on_ready(struct ctx *c, void *ud, const char *status, const char *field)
{
    struct ready_seen *rs = ud;
    enum nh_kube_ready v = ready_of(status);
    (void)c;
    (void)field;
    if (!rs->seen)
        rs->n->ready = v;
    else if (rs->n->ready != v)
        rs->n->ready = NH_KUBE_READY_UNKNOWN; /* two Ready conditions that disagree */
    rs->seen = true;
    return 0;
}

struct internal_ips {
    const char *first, *first_v4;
};

static int on_internal_ip(struct ctx *c, void *ud, const char *addr, const char *field)
{
    struct internal_ips *ips = ud;
    bool v4;
    if (!ip_ok(addr, &v4))
        return fail(c, field, "\"%.64s\" is not an IP address", addr);
    if (ips->first == NULL)
        ips->first = addr;
    if (v4 && ips->first_v4 == NULL)
        ips->first_v4 = addr;
    return 0;
}

static int node_status(struct ctx *c, struct json_object *st, struct nh_kube_node *n)
{
    static const struct typed_list conditions = {"status.conditions", 256, "status", 64, "Ready"};
    static const struct typed_list addresses = {"status.addresses", 64, "address", 256,
                                                "InternalIP"};
    struct json_object *conds = NULL, *addrs = NULL;
    struct ready_seen rs = {.n = n};
    struct internal_ips ips = {0};
    int r = opt_arr(c, st, "conditions", "status.conditions", &conds);
    if (r == 0)
        r = opt_arr(c, st, "addresses", "status.addresses", &addrs);
    if (r == 0)
        r = typed_each(c, conds, &conditions, on_ready, &rs);
    if (r == 0)
        r = typed_each(c, addrs, &addresses, on_internal_ip, &ips);
    if (r < 0)
        return r;
    if (dup_to(&n->internal_ip, ips.first_v4 != NULL ? ips.first_v4 : ips.first) < 0)
        return oom(c);
    return 0;
}

/* A Kubernetes object's top level: an object, its metadata (required),
 * spec and status objects (NULL when absent). */
static int object_parts(struct ctx *c, struct json_object *o, struct json_object **meta,
                        struct json_object **spec, struct json_object **status)
{
    int r;
    if ((r = want_type(c, o, json_type_object, "", "an object")) < 0)
        return r;
    if ((r = opt_obj(c, o, "metadata", "metadata", meta)) < 0 ||
        (r = opt_obj(c, o, "spec", "spec", spec)) < 0 ||
        (r = opt_obj(c, o, "status", "status", status)) < 0)
        return r;
    if (*meta == NULL)
        return fail(c, "metadata", "%s", "missing");
    return 0;
}

/* Fills n from one Node object; on failure n holds partial data for the
 * caller to clear. */
static int node_from(struct ctx *c, struct json_object *o, struct nh_kube_node *n, char **ret_rv)
{
    struct json_object *meta, *spec, *status, *labels, *anns;
    const char *name, *uid, *ts, *pid, *rv;
    int r;
    if ((r = object_parts(c, o, &meta, &spec, &status)) < 0)
        return r;
    if ((r = req_str(c, meta, "name", "metadata.name", 253, &name)) < 0 ||
        (r = req_str(c, meta, "uid", "metadata.uid", MAX_UID, &uid)) < 0 ||
        (r = opt_str(c, meta, "creationTimestamp", "metadata.creationTimestamp", 64, &ts)) < 0 ||
        (r = opt_str(c, meta, "resourceVersion", "metadata.resourceVersion", MAX_RV, &rv)) < 0)
        return r;
    if (!nh_kube_name_ok(name))
        return fail(c, "metadata.name", "\"%.64s\" is not a valid node name", name);
    if (ts != NULL && nh_kube_parse_time(ts, &n->created) < 0)
        return fail(c, "metadata.creationTimestamp", "\"%.40s\" is not an RFC 3339 time", ts);
    if (dup_to(&n->name, name) < 0 || dup_to(&n->uid, uid) < 0)
        return oom(c);
    if ((r = opt_obj(c, meta, "labels", "metadata.labels", &labels)) < 0 ||
        (r = opt_obj(c, meta, "annotations", "metadata.annotations", &anns)) < 0)
        return r;
    if (labels != NULL && (r = kv_map(c, labels, "metadata.labels", false, NH_KUBE_MAX_LABELS,
                                      &n->labels, &n->n_labels, NULL)) < 0)
        return r;
    if (anns != NULL &&
        (r = kv_map(c, anns, "metadata.annotations", true, NH_KUBE_MAX_ANNOTATIONS, &n->annotations,
                    &n->n_annotations, &n->n_annotations_skipped)) < 0)
        return r;
    if (spec != NULL) {
        if ((r = opt_str(c, spec, "providerID", "spec.providerID", MAX_PROVIDER_ID, &pid)) < 0)
            return r;
        if (pid != NULL && pid[0] != '\0' && dup_to(&n->provider_id, pid) < 0)
            return oom(c);
        struct json_object *u = nh_kj_get(spec, "unschedulable");
        if (u != NULL) {
            if ((r = want_type(c, u, json_type_boolean, "spec.unschedulable", "a boolean")) < 0)
                return r;
            n->unschedulable = json_object_get_boolean(u);
        }
    }
    n->ready = NH_KUBE_READY_UNKNOWN;
    if (status != NULL && (r = node_status(c, status, n)) < 0)
        return r;
    if (ret_rv != NULL) {
        if (rv == NULL || rv[0] == '\0')
            return fail(c, "metadata.resourceVersion", "%s", "missing");
        if (dup_to(ret_rv, rv) < 0)
            return oom(c);
    }
    return 0;
}

/* ---- lists ---- */

struct list_shape {
    const char *kind; /* "NodeList" */
    struct json_object *root, *items;
    const char *cont;
};

static int list_open(struct ctx *c, const char *body, size_t len, const char *kind,
                     struct list_shape *ls)
{
    struct json_object *meta;
    const char *k;
    int r;
    ls->root = nh_kj_parse(body, len, true, c->e);
    if (ls->root == NULL)
        return -EINVAL;
    if ((r = opt_str(c, ls->root, "kind", "kind", 64, &k)) < 0)
        return r;
    if (k != NULL && strcmp(k, kind) != 0)
        return fail(c, "kind", "\"%.32s\" where a list was expected", k);
    if ((r = opt_obj(c, ls->root, "metadata", "metadata", &meta)) < 0)
        return r;
    if (meta != NULL && (r = opt_str(c, meta, "continue", "metadata.continue", NH_KUBE_MAX_CONTINUE,
                                     &ls->cont)) < 0)
        return r;
    struct json_object *items;
    if (!json_object_object_get_ex(ls->root, "items", &items))
        return fail(c, "items", "%s", "missing (not a list answer)");
    if (items != NULL && (r = want_type(c, items, json_type_array, "items", "a list")) < 0)
        return r;
    ls->items = items;
    size_t n = items != NULL ? json_object_array_length(items) : 0;
    if (n > NH_KUBE_MAX_PAGE_ITEMS)
        return fail(c, "items", "%s", "more than 10000 on one page");
    return 0;
}

static int list_finish(struct ctx *c, struct list_shape *ls, char **ret_continue)
{
    *ret_continue = NULL;
    if (ls->cont != NULL && ls->cont[0] != '\0' && dup_to(ret_continue, ls->cont) < 0)
        return oom(c);
    return 0;
}

/* How the items of one kind of list page go into the caller's list. */
struct list_sink {
    const char *kind;   /* "NodeList" */
    const char *plural; /* "nodes", in the too-many message */
    size_t *n;          /* the caller's list's length */
    /* Appends item o (c->where names it) to the list; 0 or -errno. */
    int (*add)(struct ctx *c, struct json_object *o, void *ud);
    /* Drops the last item of the list. */
    void (*drop_last)(void *ud);
    void *ud;
};

/* One page of a list into s's list: all its items, or (on any error) none. */
static int list_page(const char *body, size_t len, const struct list_sink *s, size_t max_total,
                     char **ret_continue, char *err, size_t errlen)
{
    char dummy[8];
    struct nh_kerr e = {err != NULL && errlen > 0 ? err : dummy,
                        err != NULL && errlen > 0 ? errlen : sizeof(dummy)};
    e.buf[0] = '\0';
    struct ctx c = {.e = &e};
    struct list_shape ls = {0};
    size_t before = *s->n;
    int r = list_open(&c, body, len, s->kind, &ls);
    size_t n = r == 0 && ls.items != NULL ? json_object_array_length(ls.items) : 0;
    if (r == 0 && *s->n + n > max_total) {
        nh_kerr_set(&e, "more than %zu %s in all; refusing the list", max_total, s->plural);
        r = -E2BIG;
    }
    for (size_t i = 0; r == 0 && i < n; i++) {
        snprintf(c.where, sizeof(c.where), "items[%zu]", i);
        r = s->add(&c, json_object_array_get_idx(ls.items, i), s->ud);
    }
    c.where[0] = '\0';
    if (r == 0)
        r = list_finish(&c, &ls, ret_continue);
    if (r < 0) {
        while (*s->n > before)
            s->drop_last(s->ud);
    }
    json_object_put(ls.root);
    return r;
}

static int node_item(struct ctx *c, struct json_object *o, void *ud)
{
    struct nh_kube_node *node = nh_kube_node_list_add(ud);
    if (node == NULL)
        return oom(c);
    return node_from(c, o, node, NULL);
}

static void node_drop_last(void *ud)
{
    struct nh_kube_node_list *l = ud;
    nh_kube_node_clear(&l->items[--l->n]);
}

int nh_kube_parse_node_list(const char *body, size_t len, struct nh_kube_node_list *into,
                            size_t max_total, char **ret_continue, char *err, size_t errlen)
{
    const struct list_sink s = {"NodeList", "nodes", &into->n, node_item, node_drop_last, into};
    return list_page(body, len, &s, max_total, ret_continue, err, errlen);
}

int nh_kube_parse_node(const char *body, size_t len, struct nh_kube_node *out, char **ret_rv,
                       char *err, size_t errlen)
{
    char dummy[8];
    struct nh_kerr e = {err != NULL && errlen > 0 ? err : dummy,
                        err != NULL && errlen > 0 ? errlen : sizeof(dummy)};
    e.buf[0] = '\0';
    struct ctx c = {.e = &e};
    struct nh_kube_node n = {0};
    char *rv = NULL;
    const char *kind = NULL;
    struct json_object *root = nh_kj_parse(body, len, true, &e);
    if (root == NULL)
        return -EINVAL;
    int r = opt_str(&c, root, "kind", "kind", 64, &kind);
    if (r == 0 && kind != NULL && strcmp(kind, "Node") != 0)
        r = fail(&c, "kind", "\"%.32s\" where a Node was expected", kind);
    if (r == 0)
        r = node_from(&c, root, &n, &rv);
    json_object_put(root);
    if (r < 0) {
        nh_kube_node_clear(&n);
        free(rv);
        return r;
    }
    nh_kube_node_clear(out);
    *out = n;
    *ret_rv = rv;
    return 0;
}

/* ---- pods ---- */

static enum nh_kube_phase phase_of(const char *s)
{
    if (s == NULL)
        return NH_KUBE_PHASE_UNKNOWN;
    if (strcmp(s, "Pending") == 0)
        return NH_KUBE_PHASE_PENDING;
    if (strcmp(s, "Running") == 0)
        return NH_KUBE_PHASE_RUNNING;
    if (strcmp(s, "Succeeded") == 0)
        return NH_KUBE_PHASE_SUCCEEDED;
    if (strcmp(s, "Failed") == 0)
        return NH_KUBE_PHASE_FAILED;
    return NH_KUBE_PHASE_UNKNOWN;
}

static int pod_owners(struct ctx *c, struct json_object *owners, struct nh_kube_pod *p)
{
    size_t n = json_object_array_length(owners);
    if (n > NH_KUBE_MAX_OWNERS)
        return fail(c, "metadata.ownerReferences", "%s", "more than 16 entries");
    if (n == 0)
        return 0;
    p->owner_kinds = calloc(n, sizeof(*p->owner_kinds));
    if (p->owner_kinds == NULL)
        return oom(c);
    for (size_t i = 0; i < n; i++) {
        struct json_object *it = json_object_array_get_idx(owners, i);
        char f[64], fk[80];
        int r;
        snprintf(f, sizeof(f), "metadata.ownerReferences[%zu]", i);
        snprintf(fk, sizeof(fk), "%s.kind", f);
        if (it == NULL)
            return fail(c, f, "%s", "null");
        if ((r = want_type(c, it, json_type_object, f, "an object")) < 0)
            return r;
        const char *kind;
        if ((r = req_str(c, it, "kind", fk, 128, &kind)) < 0)
            return r;
        if (dup_to(&p->owner_kinds[p->n_owner_kinds], kind) < 0)
            return oom(c);
        p->n_owner_kinds++;
        struct json_object *ctl = nh_kj_get(it, "controller");
        if (ctl == NULL)
            continue;
        char fc[80];
        snprintf(fc, sizeof(fc), "%s.controller", f);
        if ((r = want_type(c, ctl, json_type_boolean, fc, "a boolean")) < 0)
            return r;
        if (!json_object_get_boolean(ctl))
            continue;
        if (p->controller_kind != NULL)
            return fail(c, f, "%s", "a second ownerReference with controller: true");
        if (dup_to(&p->controller_kind, kind) < 0)
            return oom(c);
    }
    return 0;
}

static int pod_annotations(struct ctx *c, struct json_object *anns, struct nh_kube_pod *p)
{
    /* every value must be a string; three are kept */
    json_object_object_foreach(anns, k, v)
    {
        if (v == NULL || !json_object_is_type(v, json_type_string)) {
            char f[96];
            snprintf(f, sizeof(f), "metadata.annotations[\"%.40s\"]", k);
            return want_type(c, v, json_type_string, f, "a string");
        }
        const char *s = json_object_get_string(v);
        char **slot = NULL;
        if (strcmp(k, NH_KUBE_ANN_SAFE_TO_EVICT) == 0)
            slot = &p->safe_to_evict;
        else if (strcmp(k, NH_KUBE_ANN_DO_NOT_DISRUPT) == 0)
            slot = &p->do_not_disrupt;
        else if (strcmp(k, NH_KUBE_ANN_MIRROR) == 0)
            p->mirror = true;
        if (slot == NULL)
            continue;
        if (strlen(s) > 64)
            return fail(c, "metadata.annotations", "\"%.64s\": value longer than 64 bytes", k);
        if (dup_to(slot, s) < 0)
            return oom(c);
    }
    return 0;
}

static int pod_from(struct ctx *c, struct json_object *o, const char *node, struct nh_kube_pod *p)
{
    struct json_object *meta, *spec, *status, *owners, *anns;
    const char *ns, *name, *uid, *node_name = NULL, *phase = NULL;
    int r;
    if (o == NULL)
        return fail(c, "", "%s", "null where a pod was expected");
    if ((r = object_parts(c, o, &meta, &spec, &status)) < 0)
        return r;
    if ((r = req_str(c, meta, "namespace", "metadata.namespace", 63, &ns)) < 0 ||
        (r = req_str(c, meta, "name", "metadata.name", 253, &name)) < 0 ||
        (r = req_str(c, meta, "uid", "metadata.uid", MAX_UID, &uid)) < 0)
        return r;
    if (!nh_kube_name_ok(ns))
        return fail(c, "metadata.namespace", "\"%.64s\" is not a valid namespace", ns);
    if (!nh_kube_name_ok(name))
        return fail(c, "metadata.name", "\"%.64s\" is not a valid pod name", name);
    if (spec != NULL && (r = opt_str(c, spec, "nodeName", "spec.nodeName", 253, &node_name)) < 0)
        return r;
    if (node != NULL && (node_name == NULL || strcmp(node_name, node) != 0))
        return fail(c, "spec.nodeName", "is not \"%.64s\" (the server ignored fieldSelector)",
                    node);
    if (status != NULL && (r = opt_str(c, status, "phase", "status.phase", 64, &phase)) < 0)
        return r;
    p->phase = phase_of(phase);
    if (dup_to(&p->ns, ns) < 0 || dup_to(&p->name, name) < 0 || dup_to(&p->uid, uid) < 0 ||
        dup_to(&p->node, node_name) < 0)
        return oom(c);
    if ((r = opt_arr(c, meta, "ownerReferences", "metadata.ownerReferences", &owners)) < 0 ||
        (r = opt_obj(c, meta, "annotations", "metadata.annotations", &anns)) < 0)
        return r;
    if (owners != NULL && (r = pod_owners(c, owners, p)) < 0)
        return r;
    if (anns != NULL && (r = pod_annotations(c, anns, p)) < 0)
        return r;
    return 0;
}

struct pod_sink {
    struct nh_kube_pod_list *into;
    const char *node;
};

static int pod_item(struct ctx *c, struct json_object *o, void *ud)
{
    struct pod_sink *ps = ud;
    struct nh_kube_pod *p = nh_kube_pod_list_add(ps->into);
    if (p == NULL)
        return oom(c);
    return pod_from(c, o, ps->node, p);
}

static void pod_drop_last(void *ud)
{
    struct pod_sink *ps = ud;
    nh_kube_pod_clear(&ps->into->items[--ps->into->n]);
}

int nh_kube_parse_pod_list(const char *body, size_t len, const char *node,
                           struct nh_kube_pod_list *into, size_t max_total, char **ret_continue,
                           char *err, size_t errlen)
{
    struct pod_sink ps = {into, node};
    const struct list_sink s = {"PodList", "pods", &into->n, pod_item, pod_drop_last, &ps};
    return list_page(body, len, &s, max_total, ret_continue, err, errlen);
}

/* ---- Status ---- */

void nh_kube_parse_status(const char *body, size_t len, struct nh_kube_status *out)
{
    char perr[8];
    struct nh_kerr e = {perr, sizeof(perr)};
    memset(out, 0, sizeof(*out));
    struct json_object *root = nh_kj_parse(body, len, true, &e);
    if (root == NULL)
        return;
    struct json_object *v = nh_kj_get(root, "message");
    if (v != NULL && json_object_is_type(v, json_type_string)) {
        copy_clean(out->message, sizeof(out->message), json_object_get_string(v));
        out->several_budgets =
            strstr(json_object_get_string(v), "more than one PodDisruptionBudget") != NULL;
    }
    v = nh_kj_get(root, "reason");
    if (v != NULL && json_object_is_type(v, json_type_string))
        copy_clean(out->reason, sizeof(out->reason), json_object_get_string(v));
    struct json_object *d = nh_kj_get(root, "details");
    if (d != NULL && json_object_is_type(d, json_type_object)) {
        v = nh_kj_get(d, "retryAfterSeconds");
        if (v != NULL && json_object_is_type(v, json_type_int)) {
            int64_t s = json_object_get_int64(v);
            out->retry_after_s = s > 0 && s <= 3600 ? (long)s : 0;
        }
        struct json_object *causes = nh_kj_get(d, "causes");
        size_t n = causes != NULL && json_object_is_type(causes, json_type_array)
                       ? json_object_array_length(causes)
                       : 0;
        for (size_t i = 0; i < n && i < 64; i++) {
            struct json_object *r = nh_kj_get(json_object_array_get_idx(causes, i), "reason");
            if (r != NULL && json_object_is_type(r, json_type_string) &&
                strcmp(json_object_get_string(r), "DisruptionBudget") == 0)
                out->disruption_budget = true;
        }
    }
    json_object_put(root);
}

/* ---- classification ---- */

static uint64_t wait_of(const struct nh_kube_status *st, uint64_t hint_ms, uint64_t floor_ms)
{
    uint64_t w = hint_ms;
    if (st != NULL && (uint64_t)st->retry_after_s * 1000 > w)
        w = (uint64_t)st->retry_after_s * 1000;
    return w > floor_ms ? w : floor_ms;
}

/* The answers every write is read alike from: done, denied, gone. */
static bool classify_settled(int http_status, enum nh_kube_code *code)
{
    if (http_status >= 200 && http_status <= 299)
        *code = NH_KUBE_OK;
    else if (http_status == 401 || http_status == 403)
        *code = NH_KUBE_DENIED;
    else if (http_status == 404)
        *code = NH_KUBE_GONE;
    else
        return false;
    return true;
}

/* What is left: a 5xx may have done it (unknown), anything else did not. */
static enum nh_kube_code classify_rest(int http_status)
{
    return http_status >= 500 ? NH_KUBE_UNKNOWN : NH_KUBE_FAILED;
}

enum nh_kube_code nh_kube_classify_eviction(int http_status, const struct nh_kube_status *st,
                                            uint64_t hint_ms, uint64_t *ret_retry_ms)
{
    enum nh_kube_code code;
    *ret_retry_ms = 0;
    if (classify_settled(http_status, &code))
        return code;
    switch (http_status) {
    case 409:
        /* "Precondition failed: UID in precondition: ..., UID in object
         * meta: ...": the pod of that uid is gone (a new one has the name) */
        if (st != NULL && strstr(st->message, "recondition") != NULL)
            return NH_KUBE_GONE;
        *ret_retry_ms = wait_of(st, hint_ms, 5000);
        return NH_KUBE_UNAVAILABLE;
    case 429:
        *ret_retry_ms = wait_of(st, hint_ms, 5000);
        return NH_KUBE_BUDGET;
    case 500:
        if (st != NULL && st->several_budgets)
            return NH_KUBE_MISCONFIGURED;
        break;
    default:
        break;
    }
    return classify_rest(http_status);
}

enum nh_kube_code nh_kube_classify_patch(int http_status, const struct nh_kube_status *st,
                                         uint64_t hint_ms, uint64_t *ret_retry_ms)
{
    enum nh_kube_code code;
    *ret_retry_ms = 0;
    if (classify_settled(http_status, &code))
        return code;
    if (http_status == 409 || /* the resourceVersion precondition: changed since we read it */
        http_status == 429) { /* refused before it ran (priority and fairness) */
        *ret_retry_ms = wait_of(st, hint_ms, 0);
        return NH_KUBE_UNAVAILABLE;
    }
    return classify_rest(http_status);
}

/* ---- bodies ---- */

static int jstr(struct nh_buf *b, const char *s)
{
    static const char hex[] = "0123456789abcdef";
    int r = nh_buf_append(b, "\"", 1);
    for (; r == 0 && *s != '\0'; s++) {
        unsigned char ch = (unsigned char)*s;
        if (ch == '"' || ch == '\\') {
            char esc[2] = {'\\', (char)ch};
            r = nh_buf_append(b, esc, 2);
        } else if (ch < 0x20) {
            char esc[6] = {'\\', 'u', '0', '0', hex[ch >> 4], hex[ch & 15]};
            r = nh_buf_append(b, esc, 6);
        } else {
            r = nh_buf_append(b, s, 1);
        }
    }
    return r == 0 ? nh_buf_append(b, "\"", 1) : r;
}

int nh_kube_body_eviction(struct nh_buf *b, const char *ns, const char *name, const char *uid)
{
    int r = nh_buf_appends(b, "{\"apiVersion\":\"policy/v1\",\"kind\":\"Eviction\","
                              "\"metadata\":{\"name\":");
    if (r == 0)
        r = jstr(b, name);
    if (r == 0)
        r = nh_buf_appends(b, ",\"namespace\":");
    if (r == 0)
        r = jstr(b, ns);
    if (r == 0)
        r = nh_buf_appends(b, "}");
    if (r == 0 && uid != NULL) {
        r = nh_buf_appends(b, ",\"deleteOptions\":{\"preconditions\":{\"uid\":");
        if (r == 0)
            r = jstr(b, uid);
        if (r == 0)
            r = nh_buf_appends(b, "}}");
    }
    return r == 0 ? nh_buf_appends(b, "}") : r;
}

static int node_patch(struct nh_buf *b, const char *op_id, const char *rv)
{
    int r = nh_buf_appends(b, "{\"metadata\":{");
    if (r == 0 && rv != NULL) {
        r = nh_buf_appends(b, "\"resourceVersion\":");
        if (r == 0)
            r = jstr(b, rv);
        if (r == 0)
            r = nh_buf_appends(b, ",");
    }
    if (r == 0)
        r = nh_buf_appends(b, "\"annotations\":{\"" NH_KUBE_ANN_DRAINING "\":");
    if (r == 0)
        r = op_id != NULL ? jstr(b, op_id) : nh_buf_appends(b, "null");
    if (r == 0)
        r = nh_buf_appends(b, op_id != NULL ? "}},\"spec\":{\"unschedulable\":true}}"
                                            : "}},\"spec\":{\"unschedulable\":null}}");
    return r;
}

int nh_kube_body_cordon(struct nh_buf *b, const char *op_id, const char *rv)
{
    return op_id != NULL ? node_patch(b, op_id, rv) : -EINVAL;
}

int nh_kube_body_uncordon(struct nh_buf *b, const char *rv)
{
    return node_patch(b, NULL, rv);
}

int nh_kube_url_encode(struct nh_buf *b, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    int r = 0;
    for (; r == 0 && *s != '\0'; s++) {
        unsigned char ch = (unsigned char)*s;
        if (isalnum(ch) || ch == '-' || ch == '.' || ch == '_' || ch == '~') {
            r = nh_buf_append(b, s, 1);
        } else {
            char esc[3] = {'%', hex[ch >> 4], hex[ch & 15]};
            r = nh_buf_append(b, esc, 3);
        }
    }
    return r;
}
