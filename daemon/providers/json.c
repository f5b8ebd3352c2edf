/* json.c - strict JSON parsing, typed getters, error bodies, times, path
 * checks and body writers shared by the three clouds. Pure functions. */
#include "providers/json.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "providers/parse.h"

int nh_perr_set(struct nh_perr *e, const char *fmt, ...)
{
    va_list ap;

    if (e != NULL && e->buf != NULL && e->len > 0 && e->buf[0] == '\0') {
        va_start(ap, fmt);
        vsnprintf(e->buf, e->len, fmt, ap);
        va_end(ap);
    }
    return -EBADMSG;
}

struct json_object *nh_pj_parse(const char *body, size_t len, bool want_object, struct nh_perr *e)
{
    struct json_tokener *tok;
    struct json_object *root;
    enum json_tokener_error jerr;
    size_t used;

    if (body == NULL || len == 0) {
        nh_perr_set(e, "empty body where JSON was expected");
        return NULL;
    }
    if (len > NH_PROV_BODY_MAX || len > (size_t)INT32_MAX) {
        nh_perr_set(e, "body of %zu bytes is over the %u-byte limit", len, NH_PROV_BODY_MAX);
        return NULL;
    }
    tok = json_tokener_new_ex(NH_PROV_JSON_DEPTH);
    if (tok == NULL) {
        nh_perr_set(e, "out of memory parsing JSON");
        return NULL;
    }
    json_tokener_set_flags(tok, JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8);
    root = json_tokener_parse_ex(tok, body, (int)len);
    jerr = json_tokener_get_error(tok);
    used = json_tokener_get_parse_end(tok);
    if (root == NULL || jerr != json_tokener_success) {
        if (jerr == json_tokener_continue)
            nh_perr_set(e, "truncated JSON (%zu bytes, ends inside a value)", len);
        else
            nh_perr_set(e, "invalid JSON at byte %zu: %s", used, json_tokener_error_desc(jerr));
        json_object_put(root);
        json_tokener_free(tok);
        return NULL;
    }
    json_tokener_free(tok);
    /* Only whitespace may follow the value. */
    for (size_t i = used; i < len; i++) {
        if (!isspace((unsigned char)body[i])) {
            nh_perr_set(e, "invalid JSON: trailing bytes after the value at byte %zu", i);
            json_object_put(root);
            return NULL;
        }
    }
    if (want_object && !json_object_is_type(root, json_type_object)) {
        nh_perr_set(e, "expected a JSON object, got %s",
                    json_type_to_name(json_object_get_type(root)));
        json_object_put(root);
        return NULL;
    }
    return root;
}

struct json_object *nh_pj_get(struct json_object *o, const char *key)
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

int nh_pj_str(struct json_object *o, const char *key, bool required, const char **out,
              const char *where, struct nh_perr *e)
{
    struct json_object *v = nh_pj_get(o, key);

    if (v == NULL) {
        if (required)
            return nh_perr_set(e, "%s: missing (expected a string)", where_or(where, key));
        return 0;
    }
    if (!json_object_is_type(v, json_type_string))
        return nh_perr_set(e, "%s: expected a string, got %s", where_or(where, key),
                           json_type_to_name(json_object_get_type(v)));
    *out = json_object_get_string(v);
    return 0;
}

int nh_pj_int(struct json_object *o, const char *key, bool required, int64_t min, int64_t max,
              int64_t *out, const char *where, struct nh_perr *e)
{
    struct json_object *v = nh_pj_get(o, key);
    int64_t n;

    if (v == NULL) {
        if (required)
            return nh_perr_set(e, "%s: missing (expected an integer)", where_or(where, key));
        return 0;
    }
    if (json_object_is_type(v, json_type_int)) {
        errno = 0;
        n = json_object_get_int64(v);
        /* json-c saturates out-of-range integers; treat the limits as too big. */
        if (n == INT64_MAX || n == INT64_MIN)
            return nh_perr_set(e, "%s: integer out of range", where_or(where, key));
    } else if (json_object_is_type(v, json_type_string)) {
        const char *s = json_object_get_string(v);
        char *end = NULL;
        if (s[0] == '\0' || !(isdigit((unsigned char)s[0]) || s[0] == '-'))
            return nh_perr_set(e, "%s: expected an integer, got \"%.32s\"", where_or(where, key),
                               s);
        errno = 0;
        long long ll = strtoll(s, &end, 10);
        if (errno != 0 || end == NULL || *end != '\0')
            return nh_perr_set(e, "%s: expected an integer, got \"%.32s\"", where_or(where, key),
                               s);
        n = ll;
    } else {
        return nh_perr_set(e, "%s: expected an integer, got %s", where_or(where, key),
                           json_type_to_name(json_object_get_type(v)));
    }
    if (n < min || n > max)
        return nh_perr_set(e, "%s: %" PRId64 " is outside %" PRId64 "..%" PRId64,
                           where_or(where, key), n, min, max);
    *out = n;
    return 0;
}

int nh_pj_bool(struct json_object *o, const char *key, bool required, bool *out, const char *where,
               struct nh_perr *e)
{
    struct json_object *v = nh_pj_get(o, key);

    if (v == NULL) {
        if (required)
            return nh_perr_set(e, "%s: missing (expected a boolean)", where_or(where, key));
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
    return nh_perr_set(e, "%s: expected a boolean, got %s", where_or(where, key),
                       json_type_to_name(json_object_get_type(v)));
}

static int get_typed(struct json_object *o, const char *key, bool required, json_type t,
                     struct json_object **out, const char *where, struct nh_perr *e)
{
    struct json_object *v = nh_pj_get(o, key);

    if (v == NULL) {
        if (required)
            return nh_perr_set(e, "%s: missing (expected %s)", where_or(where, key),
                               t == json_type_array ? "an array" : "an object");
        *out = NULL;
        return 0;
    }
    if (!json_object_is_type(v, t))
        return nh_perr_set(e, "%s: expected %s, got %s", where_or(where, key),
                           t == json_type_array ? "an array" : "an object",
                           json_type_to_name(json_object_get_type(v)));
    *out = v;
    return 0;
}

int nh_pj_obj(struct json_object *o, const char *key, bool required, struct json_object **out,
              const char *where, struct nh_perr *e)
{
    return get_typed(o, key, required, json_type_object, out, where, e);
}

int nh_pj_arr(struct json_object *o, const char *key, bool required, struct json_object **out,
              const char *where, struct nh_perr *e)
{
    return get_typed(o, key, required, json_type_array, out, where, e);
}

bool nh_pj_dup(const char *s, char **out)
{
    if (s == NULL) {
        *out = NULL;
        return true;
    }
    *out = strdup(s);
    return *out != NULL;
}

void nh_pj_copy(char *dst, size_t dstlen, const char *src)
{
    size_t i = 0;

    if (dstlen == 0)
        return;
    if (src != NULL) {
        for (; src[i] != '\0' && i + 1 < dstlen; i++) {
            unsigned char ch = (unsigned char)src[i];
            dst[i] = (ch < 0x20 || ch == 0x7f) ? ' ' : (char)ch;
        }
    }
    dst[i] = '\0';
}

void nh_pj_cat(char *dst, size_t len, const char *s)
{
    size_t used = strnlen(dst, len);

    if (s == NULL || len == 0 || used + 1 >= len)
        return;
    for (; *s != '\0' && used + 1 < len; s++)
        dst[used++] = *s;
    dst[used] = '\0';
}

int nh_pj_write_str(struct nh_buf *b, const char *s, size_t len)
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

/* ---------- shared pure helpers ---------- */

bool nh_prov_path_safe(const char *s)
{
    if (s == NULL || s[0] == '\0')
        return false;
    if (strcmp(s, ".") == 0 || strcmp(s, "..") == 0)
        return false;
    for (const char *c = s; *c != '\0'; c++) {
        if (!(isalnum((unsigned char)*c) || *c == '.' || *c == '_' || *c == '~' || *c == '-'))
            return false;
        if ((unsigned char)*c >= 0x80)
            return false;
    }
    return true;
}

static bool digits(const char *s, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (!isdigit((unsigned char)s[i]))
            return false;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return true;
}

int64_t nh_prov_parse_time(const char *s)
{
    int y, mo, d, h, mi, sec, oh = 0, om = 0;
    struct tm tm;
    const char *p;
    long off = 0;
    time_t t;

    if (s == NULL || strlen(s) < 19)
        return 0;
    if (!digits(s, 4, &y) || s[4] != '-' || !digits(s + 5, 2, &mo) || s[7] != '-' ||
        !digits(s + 8, 2, &d) || (s[10] != 'T' && s[10] != 't' && s[10] != ' ') ||
        !digits(s + 11, 2, &h) || s[13] != ':' || !digits(s + 14, 2, &mi) || s[16] != ':' ||
        !digits(s + 17, 2, &sec))
        return 0;
    if (y < 1970 || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 60)
        return 0;
    p = s + 19;
    if (*p == '.') {
        p++;
        if (!isdigit((unsigned char)*p))
            return 0;
        while (isdigit((unsigned char)*p))
            p++;
    }
    if (*p == ' ')
        p++;
    if (*p == 'Z' || *p == 'z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        int sign = *p == '-' ? -1 : 1;
        p++;
        if (!digits(p, 2, &oh))
            return 0;
        p += 2;
        if (*p == ':')
            p++;
        if (!digits(p, 2, &om))
            return 0;
        p += 2;
        if (oh > 23 || om > 59)
            return 0;
        off = sign * (oh * 3600L + om * 60L);
    } else if (*p != '\0') {
        return 0;
    }
    if (strcmp(p, " UTC") == 0)
        p += 4;
    if (*p != '\0')
        return 0;
    memset(&tm, 0, sizeof(tm));
    tm.tm_year = y - 1900;
    tm.tm_mon = mo - 1;
    tm.tm_mday = d;
    tm.tm_hour = h;
    tm.tm_min = mi;
    tm.tm_sec = sec;
    t = timegm(&tm);
    if (t == (time_t)-1)
        return 0;
    return (int64_t)t - off;
}

/* The key pairs of errors-and-limits.md, in order. */
static const struct {
    const char *code, *msg, *msg2;
} error_keys[] = {
    {"error_code", "error_msg", NULL},
    {"errorCode", "errorMessage", "errorMsg"},
    {"code", "message", NULL},
    {"Code", "Message", NULL},
};

static const char *const request_id_keys[] = {"request_id", "requestId", "RequestId", "requestid",
                                              "RequestID"};

static bool scalar_text(struct json_object *v, char *dst, size_t len)
{
    if (v == NULL)
        return false;
    if (json_object_is_type(v, json_type_string)) {
        nh_pj_copy(dst, len, json_object_get_string(v));
        return true;
    }
    if (json_object_is_type(v, json_type_int)) {
        snprintf(dst, len, "%" PRId64, json_object_get_int64(v));
        return true;
    }
    return false;
}

static bool error_from_object(struct json_object *o, struct nh_prov_error *e)
{
    for (size_t i = 0; i < sizeof(error_keys) / sizeof(error_keys[0]); i++) {
        struct json_object *c = nh_pj_get(o, error_keys[i].code);
        struct json_object *m = nh_pj_get(o, error_keys[i].msg);
        if (m == NULL && error_keys[i].msg2 != NULL)
            m = nh_pj_get(o, error_keys[i].msg2);
        if (c == NULL && m == NULL)
            continue;
        if (!scalar_text(c, e->code, sizeof(e->code)))
            e->code[0] = '\0';
        if (!scalar_text(m, e->message, sizeof(e->message)))
            e->message[0] = '\0';
        return true;
    }
    return false;
}

static void request_id_from_object(struct json_object *o, struct nh_prov_error *e)
{
    for (size_t i = 0; i < sizeof(request_id_keys) / sizeof(request_id_keys[0]); i++) {
        if (scalar_text(nh_pj_get(o, request_id_keys[i]), e->request_id, sizeof(e->request_id)))
            return;
    }
}

bool nh_prov_parse_error_body(int status, const char *body, size_t len, struct nh_prov_error *e)
{
    char ignore[8] = "";
    struct nh_perr pe = {ignore, sizeof(ignore)};
    struct json_object *root = nh_pj_parse(body, len, true, &pe);

    e->http_status = status;
    if (root == NULL) {
        char first[64];
        size_t n = 0;
        for (size_t i = 0; body != NULL && i < len && n + 1 < sizeof(first) && n < 48; i++) {
            unsigned char ch = (unsigned char)body[i];
            if (ch >= 0x20 && ch < 0x7f)
                first[n++] = (char)ch;
        }
        first[n] = '\0';
        e->code[0] = '\0';
        if (len == 0)
            snprintf(e->message, sizeof(e->message), "HTTP %d with an empty body", status);
        else
            snprintf(e->message, sizeof(e->message),
                     "HTTP %d with a non-JSON body (first bytes: %s)", status, first);
        return false;
    }
    request_id_from_object(root, e);
    if (!error_from_object(root, e)) {
        /* One nested level: {"error":{"code":...,"message":...}} and the like. */
        bool found = false;
        json_object_object_foreach(root, key, val)
        {
            (void)key;
            if (!found && json_object_is_type(val, json_type_object) && error_from_object(val, e)) {
                found = true;
                if (e->request_id[0] == '\0')
                    request_id_from_object(val, e);
            }
        }
        if (!found) {
            e->code[0] = '\0';
            snprintf(e->message, sizeof(e->message), "HTTP %d without an error code", status);
        }
    }
    json_object_put(root);
    return true;
}

uint64_t nh_prov_retry_after_ms(const char *value, int64_t now_s)
{
    char *end = NULL;
    struct tm tm;

    if (value == NULL)
        return 0;
    while (*value == ' ')
        value++;
    if (isdigit((unsigned char)*value)) {
        errno = 0;
        unsigned long long s = strtoull(value, &end, 10);
        if (errno != 0 || (end != NULL && *end != '\0' && *end != ' '))
            return 0;
        if (s > 86400ULL)
            s = 86400ULL;
        return (uint64_t)s * 1000u;
    }
    {
        static const char months[] = "JanFebMarAprMayJunJulAugSepOctNovDec";
        char wd[4], mon[4];
        int d, y, h, mi, sec, n = 0;
        const char *m;
        if (sscanf(value, "%3s, %d %3s %d %d:%d:%d GMT%n", wd, &d, mon, &y, &h, &mi, &sec, &n) !=
                7 ||
            n == 0 || value[n] != '\0')
            return 0;
        m = strstr(months, mon);
        if (m == NULL || strlen(mon) != 3 || (m - months) % 3 != 0 || d < 1 || d > 31 || y < 1970 ||
            h > 23 || mi > 59 || sec > 60)
            return 0;
        memset(&tm, 0, sizeof(tm));
        tm.tm_year = y - 1900;
        tm.tm_mon = (int)((m - months) / 3);
        tm.tm_mday = d;
        tm.tm_hour = h;
        tm.tm_min = mi;
        tm.tm_sec = sec;
    }
    time_t t = timegm(&tm);
    if (t == (time_t)-1 || (int64_t)t <= now_s)
        return 0;
    int64_t d = (int64_t)t - now_s;
    if (d > 86400)
        d = 86400;
    return (uint64_t)d * 1000u;
}

void nh_prov_free_secret_str(char *s)
{
    if (s == NULL)
        return;
    explicit_bzero(s, strlen(s));
    free(s);
}

void nh_pool_status_clear(struct nh_pool_status *s)
{
    if (s == NULL)
        return;
    nh_obs_pool_clear(&s->pool);
    memset(s, 0, sizeof(*s));
}

const char *nh_err_class_name(enum nh_err_class c)
{
    switch (c) {
    case NH_ERR_NONE:
        return "none";
    case NH_ERR_THROTTLED:
        return "throttled";
    case NH_ERR_AUTH:
        return "auth";
    case NH_ERR_NOT_FOUND:
        return "not-found";
    case NH_ERR_CONFLICT:
        return "conflict";
    case NH_ERR_INVALID:
        return "invalid";
    case NH_ERR_SERVER:
        return "server";
    case NH_ERR_UNKNOWN_OUTCOME:
        return "unknown-outcome";
    case NH_ERR_CANCELLED:
        return "cancelled";
    }
    return "?";
}

const char *nh_job_state_name(enum nh_job_state s)
{
    switch (s) {
    case NH_JOB_RUNNING:
        return "running";
    case NH_JOB_SUCCEEDED:
        return "succeeded";
    case NH_JOB_FAILED:
        return "failed";
    }
    return "?";
}
