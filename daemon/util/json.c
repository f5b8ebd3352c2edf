/* json.c - strict JSON reading shared by providers, HA and the status
 * command (json.h). Pure functions, but for the one spare tokener they share. */
#include "util/json.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int nh_jerr_set(struct nh_jerr *e, const char *fmt, ...)
{
    va_list ap;

    if (e != NULL && e->buf != NULL && e->len > 0 && e->buf[0] == '\0') {
        va_start(ap, fmt);
        vsnprintf(e->buf, e->len, fmt, ap);
        va_end(ap);
    }
    return -EBADMSG;
}

/* One spare tokener of the default depth, reset and reused by the next
 * parse: json_tokener_new_ex allocates its 32-level stack each time, 2 %
 * of the daemon's CPU at steady state (issue #21). Taken and given back by
 * atomic exchange, so two threads parsing at once each get their own (the
 * second allocates, and whichever gives back second frees its tokener).
 * The spare is reachable from here for the process's life. */
static _Atomic(struct json_tokener *) spare_tok;
/* A tokener whose string buffer grew past this (a long string in an
 * answer) is freed, not kept. */
#define SPARE_TOK_MAX_PB (64 * 1024)

static struct json_tokener *tok_take(int depth)
{
    struct json_tokener *tok = NULL;
    if (depth == NH_JSON_MAX_DEPTH)
        tok = atomic_exchange(&spare_tok, NULL);
    return tok != NULL ? tok : json_tokener_new_ex(depth);
}

/* Gives tok back (reset: no partial value, no error, no flags kept). The
 * string buffer is wiped first: it still holds the last string the parse
 * read, which may have been a secret (an ACK kubeconfig, a token), and the
 * spare lives on until the next parse. */
static void tok_give(struct json_tokener *tok, int depth)
{
    if (depth == NH_JSON_MAX_DEPTH && (tok->pb == NULL || tok->pb->size <= SPARE_TOK_MAX_PB)) {
        if (tok->pb != NULL && tok->pb->buf != NULL && tok->pb->size > 0)
            memset(tok->pb->buf, 0, (size_t)tok->pb->size);
        json_tokener_reset(tok);
        json_tokener_set_flags(tok, 0);
        tok = atomic_exchange(&spare_tok, tok);
    }
    if (tok != NULL)
        json_tokener_free(tok);
}

bool nh_json__spare_holds(const char *needle)
{
    struct json_tokener *tok = atomic_exchange(&spare_tok, NULL);
    bool found = false;
    size_t n = strlen(needle);

    if (tok != NULL && tok->pb != NULL && tok->pb->buf != NULL && n > 0)
        for (size_t i = 0; i + n <= (size_t)tok->pb->size && !found; i++)
            found = memcmp(tok->pb->buf + i, needle, n) == 0;
    if (tok != NULL)
        tok_give(tok, NH_JSON_MAX_DEPTH);
    return found;
}

struct json_object *nh_json_parse_opts(const char *body, size_t len, const struct nh_json_popts *o,
                                       struct nh_jerr *e)
{
    struct json_tokener *tok;
    struct json_object *root;
    enum json_tokener_error jerr;
    size_t used, max_bytes = o->max_bytes;
    int depth = o->max_depth;
    bool want_object = o->want_object;

    if (body == NULL || len == 0) {
        nh_jerr_set(e, "empty body where JSON was expected");
        return NULL;
    }
    if (max_bytes == 0 || max_bytes > NH_JSON_MAX_BYTES)
        max_bytes = NH_JSON_MAX_BYTES;
    if (depth <= 0 || depth > NH_JSON_MAX_DEPTH)
        depth = NH_JSON_MAX_DEPTH;
    if (len > max_bytes || len > (size_t)INT32_MAX) {
        nh_jerr_set(e, "body of %zu bytes is over the %zu-byte limit", len, max_bytes);
        return NULL;
    }
    tok = tok_take(depth);
    if (tok == NULL) {
        nh_jerr_set(e, "out of memory parsing JSON");
        return NULL;
    }
    json_tokener_set_flags(tok,
                           JSON_TOKENER_STRICT | (o->any_utf8 ? 0 : JSON_TOKENER_VALIDATE_UTF8));
    root = json_tokener_parse_ex(tok, body, (int)len);
    jerr = json_tokener_get_error(tok);
    used = json_tokener_get_parse_end(tok);
    if (root == NULL || jerr != json_tokener_success) {
        if (jerr == json_tokener_continue)
            nh_jerr_set(e, "truncated JSON (%zu bytes, ends inside a value)", len);
        else if (jerr == json_tokener_success) /* a bare "null" */
            nh_jerr_set(e, "JSON null where %s was expected",
                        want_object ? "an object" : "a value");
        else
            nh_jerr_set(e, "invalid JSON at byte %zu: %s", used, json_tokener_error_desc(jerr));
        json_object_put(root);
        tok_give(tok, depth);
        return NULL;
    }
    tok_give(tok, depth);
    /* Only whitespace may follow the value. */
    for (size_t i = used; i < len; i++) {
        if (!isspace((unsigned char)body[i])) {
            nh_jerr_set(e, "invalid JSON: trailing bytes after the value at byte %zu", i);
            json_object_put(root);
            return NULL;
        }
    }
    if (want_object && !json_object_is_type(root, json_type_object)) {
        nh_jerr_set(e, "expected a JSON object, got %s",
                    json_type_to_name(json_object_get_type(root)));
        json_object_put(root);
        return NULL;
    }
    return root;
}

struct json_object *nh_json_parse_capped(const char *body, size_t len, size_t max_bytes,
                                         bool want_object, struct nh_jerr *e)
{
    const struct nh_json_popts o = {.max_bytes = max_bytes, .want_object = want_object};
    return nh_json_parse_opts(body, len, &o, e);
}

struct json_object *nh_json_parse(const char *body, size_t len, bool want_object, struct nh_jerr *e)
{
    return nh_json_parse_capped(body, len, NH_JSON_MAX_BYTES, want_object, e);
}

struct json_object *nh_json_parse_items(const char *body, size_t len, struct json_object **items,
                                        struct nh_jerr *e)
{
    struct json_object *root = nh_json_parse(body, len, true, e);

    if (root == NULL)
        return NULL;
    if (nh_json_arr(root, "items", true, items, "items", e) < 0) {
        json_object_put(root);
        return NULL;
    }
    return root;
}

struct json_object *nh_json_get(struct json_object *o, const char *key)
{
    struct json_object *v = NULL;

    if (o == NULL || !json_object_is_type(o, json_type_object))
        return NULL;
    if (!json_object_object_get_ex(o, key, &v))
        return NULL;
    if (v == NULL || json_object_is_type(v, json_type_null))
        return NULL;
    return v;
}

static const char *where_or(const char *where, const char *key)
{
    return where != NULL ? where : key;
}

int nh_json_str(struct json_object *o, const char *key, bool required, const char **out,
                const char *where, struct nh_jerr *e)
{
    struct json_object *v = nh_json_get(o, key);

    if (v == NULL) {
        if (required)
            return nh_jerr_set(e, "%s: missing (expected a string)", where_or(where, key));
        return 0;
    }
    if (!json_object_is_type(v, json_type_string))
        return nh_jerr_set(e, "%s: expected a string, got %s", where_or(where, key),
                           json_type_to_name(json_object_get_type(v)));
    *out = json_object_get_string(v);
    return 0;
}

int nh_json_int(struct json_object *o, const char *key, bool required, int64_t min, int64_t max,
                int64_t *out, const char *where, struct nh_jerr *e)
{
    struct json_object *v = nh_json_get(o, key);
    int64_t n;

    if (v == NULL) {
        if (required)
            return nh_jerr_set(e, "%s: missing (expected an integer)", where_or(where, key));
        return 0;
    }
    if (json_object_is_type(v, json_type_int)) {
        errno = 0;
        n = json_object_get_int64(v);
        /* json-c saturates out-of-range integers; treat the limits as too big. */
        if (n == INT64_MAX || n == INT64_MIN)
            return nh_jerr_set(e, "%s: integer out of range", where_or(where, key));
    } else if (json_object_is_type(v, json_type_string)) {
        const char *s = json_object_get_string(v);
        char *end = NULL;
        if (s[0] == '\0' || !(isdigit((unsigned char)s[0]) || s[0] == '-'))
            return nh_jerr_set(e, "%s: expected an integer, got \"%.32s\"", where_or(where, key),
                               s);
        errno = 0;
        long long ll = strtoll(s, &end, 10);
        if (errno != 0 || end == NULL || *end != '\0')
            return nh_jerr_set(e, "%s: expected an integer, got \"%.32s\"", where_or(where, key),
                               s);
        n = ll;
    } else {
        return nh_jerr_set(e, "%s: expected an integer, got %s", where_or(where, key),
                           json_type_to_name(json_object_get_type(v)));
    }
    if (n < min || n > max)
        return nh_jerr_set(e, "%s: %" PRId64 " is outside %" PRId64 "..%" PRId64,
                           where_or(where, key), n, min, max);
    *out = n;
    return 0;
}

int nh_json_bool(struct json_object *o, const char *key, bool required, bool *out,
                 const char *where, struct nh_jerr *e)
{
    struct json_object *v = nh_json_get(o, key);

    if (v == NULL) {
        if (required)
            return nh_jerr_set(e, "%s: missing (expected a boolean)", where_or(where, key));
        return 0;
    }
    if (json_object_is_type(v, json_type_boolean)) {
        *out = json_object_get_boolean(v);
        return 0;
    }
    if (json_object_is_type(v, json_type_string)) {
        const char *s = json_object_get_string(v);
        if (strcmp(s, "true") == 0 || strcmp(s, "false") == 0) {
            *out = s[0] == 't';
            return 0;
        }
    }
    return nh_jerr_set(e, "%s: expected a boolean, got %s", where_or(where, key),
                       json_type_to_name(json_object_get_type(v)));
}

static int get_typed(struct json_object *o, const char *key, bool required, json_type t,
                     struct json_object **out, const char *where, struct nh_jerr *e)
{
    struct json_object *v = nh_json_get(o, key);

    if (v == NULL) {
        if (required)
            return nh_jerr_set(e, "%s: missing (expected %s)", where_or(where, key),
                               t == json_type_array ? "an array" : "an object");
        *out = NULL;
        return 0;
    }
    if (!json_object_is_type(v, t))
        return nh_jerr_set(e, "%s: expected %s, got %s", where_or(where, key),
                           t == json_type_array ? "an array" : "an object",
                           json_type_to_name(json_object_get_type(v)));
    *out = v;
    return 0;
}

int nh_json_obj(struct json_object *o, const char *key, bool required, struct json_object **out,
                const char *where, struct nh_jerr *e)
{
    return get_typed(o, key, required, json_type_object, out, where, e);
}

int nh_json_arr(struct json_object *o, const char *key, bool required, struct json_object **out,
                const char *where, struct nh_jerr *e)
{
    return get_typed(o, key, required, json_type_array, out, where, e);
}

bool nh_json_dup(const char *s, char **out)
{
    if (s == NULL) {
        *out = NULL;
        return true;
    }
    *out = strdup(s);
    return *out != NULL;
}

int nh_json_write_str(struct nh_buf *b, const char *s, size_t len)
{
    static const char hex[] = "0123456789abcdef";
    int r = nh_buf_append(b, "\"", 1);

    for (size_t i = 0; r == 0 && i < len; i++) {
        unsigned char ch = (unsigned char)s[i];
        char esc[7];
        if (ch == '"' || ch == '\\') {
            esc[0] = '\\';
            esc[1] = (char)ch;
            r = nh_buf_append(b, esc, 2);
        } else if (ch < 0x20) {
            memcpy(esc, "\\u00", 4);
            esc[4] = hex[ch >> 4];
            esc[5] = hex[ch & 15];
            r = nh_buf_append(b, esc, 6);
        } else {
            r = nh_buf_append(b, &s[i], 1);
        }
    }
    if (r == 0)
        r = nh_buf_append(b, "\"", 1);
    return r;
}
