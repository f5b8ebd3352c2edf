/* parse.c - the pure helpers the three clouds' parsers share (parse.h):
 * path checks, times, Retry-After, error bodies, pool status, names. */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "providers/parse.h"
#include "util/json.h"
#include "util/text.h"

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
        nh_text_copy(dst, len, json_object_get_string(v));
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
        struct json_object *c = nh_json_get(o, error_keys[i].code);
        struct json_object *m = nh_json_get(o, error_keys[i].msg);
        if (m == NULL && error_keys[i].msg2 != NULL)
            m = nh_json_get(o, error_keys[i].msg2);
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
        if (scalar_text(nh_json_get(o, request_id_keys[i]), e->request_id, sizeof(e->request_id)))
            return;
    }
}

bool nh_prov_parse_error_body(int status, const char *body, size_t len, struct nh_prov_error *e)
{
    char ignore[8] = "";
    struct nh_jerr pe = {ignore, sizeof(ignore)};
    struct json_object *root = nh_json_parse(body, len, true, &pe);

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
