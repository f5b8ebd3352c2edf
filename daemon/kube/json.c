/* json.c - strict JSON for the kube module (json-c): one parse per body,
 * borrowed children, type checked before every value (STYLE.md §4). */
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "kube/internal.h"

int nh_kerr_set(struct nh_kerr *e, const char *fmt, ...)
{
    if (e != NULL && e->buf != NULL && e->len > 0 && e->buf[0] == '\0') {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(e->buf, e->len, fmt, ap);
        va_end(ap);
    }
    return -EINVAL;
}

struct json_object *nh_kj_parse(const char *body, size_t len, bool want_object, struct nh_kerr *e)
{
    if (body == NULL || len == 0) {
        nh_kerr_set(e, "empty body where JSON was expected");
        return NULL;
    }
    if (len > (size_t)INT32_MAX) {
        nh_kerr_set(e, "body of %zu bytes is too large to parse", len);
        return NULL;
    }
    struct json_tokener *tok = json_tokener_new_ex(NH_KUBE_JSON_DEPTH);
    if (tok == NULL) {
        nh_kerr_set(e, "out of memory parsing JSON");
        return NULL;
    }
    json_tokener_set_flags(tok, JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8);
    struct json_object *root = json_tokener_parse_ex(tok, body, (int)len);
    enum json_tokener_error jerr = json_tokener_get_error(tok);
    size_t used = json_tokener_get_parse_end(tok);
    json_tokener_free(tok);
    if (root == NULL || jerr != json_tokener_success) {
        if (jerr == json_tokener_continue)
            nh_kerr_set(e, "truncated JSON (%zu bytes, ends inside a value)", len);
        else if (jerr == json_tokener_success) /* a bare "null" */
            nh_kerr_set(e, "JSON null where %s was expected",
                        want_object ? "an object" : "a value");
        else
            nh_kerr_set(e, "invalid JSON at byte %zu: %s", used, json_tokener_error_desc(jerr));
        json_object_put(root);
        return NULL;
    }
    for (size_t i = used; i < len; i++) {
        if (!isspace((unsigned char)body[i])) {
            nh_kerr_set(e, "invalid JSON: bytes after the value (at byte %zu)", i);
            nh_kj_wipe(root);
            json_object_put(root);
            return NULL;
        }
    }
    if (want_object && !json_object_is_type(root, json_type_object)) {
        nh_kerr_set(e, "expected a JSON object, got %s", nh_kj_type(root));
        nh_kj_wipe(root);
        json_object_put(root);
        return NULL;
    }
    return root;
}

struct json_object *nh_kj_get(struct json_object *o, const char *key)
{
    struct json_object *v = NULL;
    if (o == NULL || !json_object_is_type(o, json_type_object))
        return NULL;
    if (!json_object_object_get_ex(o, key, &v) || v == NULL ||
        json_object_is_type(v, json_type_null))
        return NULL;
    return v;
}

const char *nh_kj_type(struct json_object *v)
{
    switch (json_object_get_type(v)) {
    case json_type_null:
        return "null";
    case json_type_boolean:
        return "a boolean";
    case json_type_double:
    case json_type_int:
        return "a number";
    case json_type_object:
        return "an object";
    case json_type_array:
        return "a list";
    case json_type_string:
        return "a string";
    }
    return "?";
}

void nh_kj_wipe(struct json_object *o)
{
    if (o == NULL)
        return;
    switch (json_object_get_type(o)) {
    case json_type_string: {
        /* json-c's own buffer (inline or heap), writable: wipe it in place */
        char *s = (char *)json_object_get_string(o);
        explicit_bzero(s, (size_t)json_object_get_string_len(o));
        break;
    }
    case json_type_array: {
        size_t n = json_object_array_length(o);
        for (size_t i = 0; i < n; i++)
            nh_kj_wipe(json_object_array_get_idx(o, i));
        break;
    }
    case json_type_object: {
        json_object_object_foreach(o, k, v)
        {
            (void)k;
            nh_kj_wipe(v);
        }
        break;
    }
    case json_type_null:
    case json_type_boolean:
    case json_type_double:
    case json_type_int:
        break;
    }
}
