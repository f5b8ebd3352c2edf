/* opcodec.c - the one JSON encoding of an operation (see opcodec.h). */
#include "state/opcodec.h"

#include "util/json.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---------- UTF-8 (strict RFC 3629: what json-c's validator accepts) ---------- */

/* Length of the valid sequence at s[0..n), or 0 when invalid. */
static size_t utf8_seq(const unsigned char *s, size_t n)
{
    unsigned char c = s[0];
    if (c < 0x80)
        return 1;
    size_t len;
    unsigned char lo = 0x80, hi = 0xBF;
    if (c >= 0xC2 && c <= 0xDF) {
        len = 2;
    } else if (c >= 0xE0 && c <= 0xEF) {
        len = 3;
        if (c == 0xE0)
            lo = 0xA0; /* overlong */
        if (c == 0xED)
            hi = 0x9F; /* surrogates */
    } else if (c >= 0xF0 && c <= 0xF4) {
        len = 4;
        if (c == 0xF0)
            lo = 0x90;
        if (c == 0xF4)
            hi = 0x8F; /* > U+10FFFF */
    } else {
        return 0;
    }
    if (n < len || s[1] < lo || s[1] > hi)
        return 0;
    for (size_t i = 2; i < len; i++)
        if (s[i] < 0x80 || s[i] > 0xBF)
            return 0;
    return len;
}

bool nh_opc_utf8_valid(const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t n = strlen(s);
    for (size_t i = 0; i < n;) {
        size_t l = utf8_seq(p + i, n - i);
        if (l == 0)
            return false;
        i += l;
    }
    return true;
}

/* Copy of free text (why, result) made valid UTF-8: invalid bytes become '?'. */
static char *utf8_sanitized(const char *s, size_t n)
{
    char *d = malloc(n + 1);
    const unsigned char *p = (const unsigned char *)s;
    if (d == NULL)
        return NULL;
    size_t o = 0;
    for (size_t i = 0; i < n;) {
        size_t l = utf8_seq(p + i, n - i);
        if (l == 0) {
            d[o++] = '?';
            i++;
        } else {
            memcpy(d + o, p + i, l);
            o += l;
            i += l;
        }
    }
    d[o] = '\0';
    return d;
}

/* ---------- encoding ---------- */

static bool id_ok(const char *s)
{
    return s == NULL || nh_opc_utf8_valid(s);
}

/* Adds k: val (taken, also on failure); NULL val is an allocation failure. */
static int put(struct json_object *o, const char *k, struct json_object *val)
{
    if (val == NULL)
        return -ENOMEM;
    if (json_object_object_add(o, k, val) != 0) {
        json_object_put(val);
        return -ENOMEM;
    }
    return 0;
}

/* Adds k: s, or k: null for NULL. */
static int put_str(struct json_object *o, const char *k, const char *s)
{
    if (s == NULL)
        return json_object_object_add(o, k, NULL) == 0 ? 0 : -ENOMEM;
    return put(o, k, json_object_new_string(s));
}

static int put_text(struct json_object *o, const char *k, const char *s, size_t n)
{
    char *clean;
    int r;
    if (s == NULL)
        return put_str(o, k, NULL);
    clean = utf8_sanitized(s, n);
    if (clean == NULL)
        return -ENOMEM;
    r = put(o, k, json_object_new_string(clean));
    free(clean);
    return r;
}

/* A list; NULL is written [] (both earlier readers take that for none). */
static int put_strv(struct json_object *o, const char *k, char *const *v, size_t n)
{
    struct json_object *a;
    if (v == NULL)
        n = 0;
    a = json_object_new_array_ext((int)n);
    if (a == NULL)
        return -ENOMEM;
    for (size_t i = 0; i < n; i++) {
        struct json_object *e = v[i] != NULL ? json_object_new_string(v[i]) : NULL;
        if ((v[i] != NULL && e == NULL) || json_object_array_add(a, e) != 0) {
            json_object_put(e);
            json_object_put(a);
            return -ENOMEM;
        }
    }
    return put(o, k, a);
}

static int encode_begin(const struct nh_op *op, struct json_object *o)
{
    const struct nh_action *a = &op->action;
    int r;

    if (!id_ok(a->cluster) || !id_ok(a->pool_id) || !id_ok(a->pool_name) || !id_ok(op->revision) ||
        (op->drain && !id_ok(op->mark)))
        return -EINVAL;
    if (a->n_nodes > INT_MAX)
        return -E2BIG;
    for (size_t i = 0; i < a->n_nodes; i++)
        if ((a->node_ids && !id_ok(a->node_ids[i])) || (a->node_names && !id_ok(a->node_names[i])))
            return -EINVAL;
    r = put(o, "kind",
            json_object_new_string(op->drain ? NH_OPC_KIND_DRAIN : nh_action_kind_name(a->kind)));
    if (r == 0)
        r = put_str(o, "cluster", a->cluster);
    if (r == 0)
        r = put_str(o, "pool_id", a->pool_id);
    if (r == 0)
        r = put_str(o, "pool_name", a->pool_name);
    if (r == 0)
        r = put(o, "from", json_object_new_int(a->from));
    if (r == 0)
        r = put(o, "target", json_object_new_int(a->target));
    if (r == 0)
        r = put_strv(o, "node_ids", a->node_ids, a->n_nodes);
    if (r == 0)
        r = put_strv(o, "node_names", a->node_names, a->n_nodes);
    if (r == 0)
        r = put(o, "pool_nodes", json_object_new_boolean(a->pool_nodes));
    if (r == 0)
        r = put(o, "rule", json_object_new_string(nh_rule_name(a->rule)));
    if (r == 0)
        r = put_text(o, "why", a->why, strnlen(a->why, sizeof(a->why)));
    if (r == 0)
        r = put_str(o, "revision", op->revision);
    if (r == 0)
        r = put(o, "started", json_object_new_int64(op->started_ms));
    if (r == 0 && op->drain)
        r = put(o, "deadline", json_object_new_int64(op->deadline_ms));
    if (r == 0 && op->drain)
        r = put_str(o, "mark", op->mark);
    return r;
}

static int encode_update(const struct nh_op *op, struct json_object *o)
{
    int r;
    if (!id_ok(op->job_id))
        return -EINVAL;
    r = put(o, "state", json_object_new_string(nh_op_state_name(op->state)));
    if (r == 0)
        r = put(o, "job_kind", json_object_new_string(nh_job_kind_name(op->job_kind)));
    if (r == 0)
        r = put_str(o, "job_id", op->job_id);
    if (r == 0)
        r = put_text(o, "result", op->result, op->result ? strlen(op->result) : 0);
    if (r == 0)
        r = put(o, "updated", json_object_new_int64(op->updated_ms));
    return r;
}

int nh_opc_encode(const struct nh_op *op, unsigned parts, struct json_object *o)
{
    int r;
    if (op == NULL || o == NULL || (parts & NH_OPC_ALL) == 0)
        return -EINVAL;
    r = put(o, "seq", json_object_new_int64((int64_t)op->seq));
    if (r == 0 && (parts & NH_OPC_BEGIN))
        r = encode_begin(op, o);
    if (r == 0 && (parts & NH_OPC_UPDATE))
        r = encode_update(op, o);
    return r;
}

int nh_opc_to_string(const struct nh_op *op, char **ret)
{
    struct json_object *o = json_object_new_object();
    int r;
    *ret = NULL;
    if (o == NULL)
        return -ENOMEM;
    r = nh_opc_encode(op, NH_OPC_ALL, o);
    if (r == 0) {
        const char *s = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN |
                                                              JSON_C_TO_STRING_NOSLASHESCAPE);
        *ret = s ? strdup(s) : NULL;
        if (*ret == NULL)
            r = -ENOMEM;
    }
    json_object_put(o);
    return r;
}

/* ---------- decoding ---------- */

struct dec {
    struct json_object *o;
    char *err;
    size_t errlen;
    bool oom;
};

static bool bad(struct dec *d, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static bool bad(struct dec *d, const char *fmt, ...)
{
    if (d->err != NULL && d->errlen > 0 && d->err[0] == '\0') {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(d->err, d->errlen, fmt, ap);
        va_end(ap);
    }
    return false;
}

/* The value of k when present and not null (*v NULL otherwise); false when
 * it is required and absent, or has another type than t. */
static bool field(struct dec *d, const char *k, enum json_type t, bool required,
                  struct json_object **v)
{
    if (!json_object_object_get_ex(d->o, k, v))
        *v = NULL;
    if (*v == NULL)
        return required ? bad(d, "field \"%s\" is missing", k) : true;
    if (!json_object_is_type(*v, t))
        return bad(d, "field \"%s\" has the wrong type (expected %s, got %s)", k,
                   json_type_to_name(t), json_type_to_name(json_object_get_type(*v)));
    return true;
}

/* The first of the keys present (legacy spellings after the written one). */
static const char *either(struct dec *d, const char *k, const char *legacy)
{
    struct json_object *v;
    if (json_object_object_get_ex(d->o, k, &v) || !json_object_object_get_ex(d->o, legacy, &v))
        return k;
    return legacy;
}

/* A string with no NUL byte; identifiers must also be UTF-8. */
static bool str_ok(struct dec *d, const char *k, struct json_object *v, bool ident)
{
    const char *s = json_object_get_string(v);
    if ((size_t)json_object_get_string_len(v) != strlen(s))
        return bad(d, "field \"%s\" holds a NUL byte", k);
    if (ident && !nh_opc_utf8_valid(s))
        return bad(d, "field \"%s\" is not valid UTF-8", k);
    return true;
}

/* A string copy. An identifier must be UTF-8; free text (ident false) is
 * made valid UTF-8 instead (see opcodec.h). */
static bool get_string(struct dec *d, const char *k, bool required, bool ident, char **out)
{
    struct json_object *v;
    *out = NULL;
    if (!field(d, k, json_type_string, required, &v))
        return false;
    if (v == NULL)
        return true;
    if (!str_ok(d, k, v, ident))
        return false;
    const char *s = json_object_get_string(v);
    *out = ident ? strdup(s) : utf8_sanitized(s, strlen(s));
    if (*out == NULL)
        d->oom = true;
    return *out != NULL;
}

static bool get_id(struct dec *d, const char *k, bool required, char **out)
{
    return get_string(d, k, required, true, out);
}

static bool get_text(struct dec *d, const char *k, char **out)
{
    return get_string(d, k, false, false, out);
}

static bool get_i64(struct dec *d, const char *k, bool required, int64_t min, int64_t max,
                    int64_t dflt, int64_t *out)
{
    struct json_object *v;
    if (!field(d, k, json_type_int, required, &v))
        return false;
    if (v == NULL) {
        *out = dflt;
        return true;
    }
    /* json-c keeps integers past INT64_MAX as uint64 and clamps on read. */
    errno = 0;
    int64_t x = json_object_get_int64(v);
    if (errno != 0 || x < min || x > max ||
        (x == INT64_MAX && json_object_get_uint64(v) != (uint64_t)INT64_MAX))
        return bad(d, "field \"%s\" is out of range (%lld..%lld)", k, (long long)min,
                   (long long)max);
    *out = x;
    return true;
}

static bool get_name(struct dec *d, const char *k, bool required, const char **out)
{
    struct json_object *v;
    *out = NULL;
    if (!field(d, k, json_type_string, required, &v))
        return false;
    if (v != NULL)
        *out = json_object_get_string(v);
    return true;
}

static bool get_strv(struct dec *d, const char *k, char ***out, size_t *n)
{
    struct json_object *v;
    *out = NULL;
    *n = 0;
    if (!field(d, k, json_type_array, false, &v))
        return false;
    if (v == NULL)
        return true;
    size_t len = json_object_array_length(v);
    if (len == 0)
        return true; /* none (how NULL is written) */
    if (len > INT_MAX)
        return bad(d, "field \"%s\" has too many elements", k);
    char **a = calloc(len, sizeof(*a));
    if (a == NULL) {
        d->oom = true;
        return false;
    }
    *out = a;
    *n = len;
    for (size_t i = 0; i < len; i++) {
        struct json_object *el = json_object_array_get_idx(v, i);
        if (el == NULL)
            continue;
        if (!json_object_is_type(el, json_type_string))
            return bad(d, "field \"%s\": element %zu is not a string", k, i);
        if (!str_ok(d, k, el, true))
            return false;
        a[i] = strdup(json_object_get_string(el));
        if (a[i] == NULL) {
            d->oom = true;
            return false;
        }
    }
    return true;
}

static void strv_free(char **v, size_t n)
{
    if (v == NULL)
        return;
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

static bool decode_begin(struct dec *d, struct nh_op *op)
{
    struct nh_action *a = &op->action;
    struct json_object *v;
    const char *name;
    int64_t from, target, started;
    char **ids = NULL, **names = NULL, *why = NULL;
    size_t n_ids = 0, n_names = 0;

    if (!get_name(d, "kind", true, &name))
        return false;
    if (strcmp(name, NH_OPC_KIND_DRAIN) == 0) {
        op->drain = true;
        a->kind = NH_ACT_REMOVE_NODES;
    } else if (!nh_action_kind_from_name(name, &a->kind)) {
        return bad(d, "field \"kind\": unknown action kind \"%.40s\"", name);
    }
    if (!get_id(d, "cluster", true, &a->cluster) || !get_id(d, "pool_id", false, &a->pool_id) ||
        !get_id(d, "pool_name", false, &a->pool_name) ||
        !get_i64(d, "from", false, INT_MIN, INT_MAX, -1, &from) ||
        !get_i64(d, "target", false, INT_MIN, INT_MAX, -1, &target))
        return false;
    a->from = (int)from;
    a->target = (int)target;
    bool ok = get_strv(d, "node_ids", &ids, &n_ids) && get_strv(d, "node_names", &names, &n_names);
    if (ok && ids != NULL && names != NULL && n_ids != n_names)
        ok = bad(d, "node_ids and node_names differ in length (%zu and %zu)", n_ids, n_names);
    if (!ok) {
        strv_free(ids, n_ids);
        strv_free(names, n_names);
        return false;
    }
    a->node_ids = ids;
    a->node_names = names;
    a->n_nodes = ids != NULL ? n_ids : n_names;
    if (!field(d, "pool_nodes", json_type_boolean, false, &v))
        return false;
    a->pool_nodes = v != NULL && json_object_get_boolean(v);
    if (!get_name(d, "rule", false, &name))
        return false;
    if (name != NULL && !nh_rule_from_name(name, &a->rule))
        return bad(d, "field \"rule\": unknown rule \"%.40s\"", name);
    if (!get_text(d, "why", &why))
        return false;
    if (why != NULL && strlen(why) >= sizeof(a->why)) {
        free(why);
        return bad(d, "field \"why\" is too long (at most %zu bytes)", sizeof(a->why) - 1);
    }
    if (why != NULL)
        memcpy(a->why, why, strlen(why) + 1);
    free(why);
    if (!get_id(d, "revision", false, &op->revision) ||
        !get_i64(d, either(d, "started", "started_ms"), false, INT64_MIN, INT64_MAX, 0, &started))
        return false;
    op->started_ms = started;
    if (!op->drain)
        return true; /* "deadline" and "mark" belong to drain records only */
    return get_i64(d, "deadline", false, 0, INT64_MAX, 0, &op->deadline_ms) &&
           get_id(d, "mark", false, &op->mark);
}

static bool decode_update(struct dec *d, struct nh_op *op)
{
    const char *name;
    if (!get_name(d, "state", true, &name))
        return false;
    if (!nh_op_state_from_name(name, &op->state))
        return bad(d, "field \"state\": unknown state \"%.40s\"", name);
    if (!get_name(d, "job_kind", false, &name))
        return false;
    if (name != NULL && !nh_job_kind_from_name(name, &op->job_kind))
        return bad(d, "field \"job_kind\": unknown job kind \"%.40s\"", name);
    return get_id(d, "job_id", false, &op->job_id) && get_text(d, "result", &op->result) &&
           get_i64(d, either(d, "updated", "updated_ms"), false, INT64_MIN, INT64_MAX, 0,
                   &op->updated_ms);
}

int nh_opc_decode(struct json_object *o, unsigned parts, struct nh_op *op, char *err, size_t errlen)
{
    struct dec d = {.o = o, .err = err, .errlen = errlen};
    int64_t seq;
    bool ok;

    memset(op, 0, sizeof(*op));
    if (err != NULL && errlen > 0)
        err[0] = '\0';
    if (o == NULL || !json_object_is_type(o, json_type_object)) {
        bad(&d, "not a JSON object");
        return -EBADMSG;
    }
    if ((parts & NH_OPC_ALL) == 0)
        return -EINVAL;
    op->action.from = op->action.target = -1;
    ok = get_i64(&d, "seq", true, 1, (int64_t)NH_OPC_SEQ_MAX, 0, &seq);
    if (ok)
        op->seq = (uint64_t)seq;
    if (ok && (parts & NH_OPC_BEGIN))
        ok = decode_begin(&d, op);
    if (ok && (parts & NH_OPC_UPDATE)) {
        ok = decode_update(&d, op);
    } else if (ok) {
        op->state = NH_OP_INTENT;
        op->job_kind = NH_JOB_NONE;
        op->updated_ms = op->started_ms;
    }
    if (!ok) {
        nh_op_clear(op);
        if (d.oom) {
            if (err != NULL && errlen > 0)
                snprintf(err, errlen, "out of memory");
            return -ENOMEM;
        }
        return -EBADMSG;
    }
    return 0;
}

int nh_opc_parse(const char *s, size_t len, struct nh_op *op, char *err, size_t errlen)
{
    /* Strings are judged per field (identifiers must be UTF-8, free text is
     * cleaned), not for the whole value: earlier writers did not clean
     * free text. */
    static const struct nh_json_popts popts = {
        .max_bytes = NH_OPC_MAX_BYTES,
        .max_depth = NH_OPC_MAX_DEPTH,
        .want_object = true,
        .any_utf8 = true,
    };
    char perr[200] = "";
    struct nh_jerr je = {.buf = perr, .len = sizeof(perr)};
    struct json_object *o;
    int r;

    memset(op, 0, sizeof(*op));
    if (err != NULL && errlen > 0)
        err[0] = '\0';
    o = nh_json_parse_opts(s, len, &popts, &je);
    if (o == NULL) {
        if (err != NULL && errlen > 0)
            snprintf(err, errlen, "not a JSON operation value: %s", perr);
        return strstr(perr, "out of memory") ? -ENOMEM : -EBADMSG;
    }
    r = nh_opc_decode(o, NH_OPC_ALL, op, err, errlen);
    json_object_put(o);
    return r;
}
