/* errors.c - the clouds' error answers, pure: error bodies (the key pairs
 * of errors-and-limits.md), the error-table engine every cloud's table runs
 * on (parse.h), and the class names. */
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "providers/parse.h"
#include "util/json.h"
#include "util/text.h"

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

/* ---------- error tables ---------- */

/* After every cloud's own rows: the statuses' usual meaning. */
static const struct nh_err_rule common_rows[] = {
    {.status = 401, .cls = NH_ERR_AUTH},
    {.status = 403, .cls = NH_ERR_AUTH},
    {.status = 404, .cls = NH_ERR_NOT_FOUND},
    {.status = 409, .cls = NH_ERR_CONFLICT},
    {.status = 500, .status_max = INT_MAX, .cls = NH_ERR_SERVER},
    {.status = 400, .status_max = 499, .cls = NH_ERR_INVALID},
    {.cls = NH_ERR_SERVER}, /* 1xx/3xx: not an answer we know how to read */
};

static const struct nh_err_rule success_row = {.cls = NH_ERR_NONE};

static bool has_ci(const char *hay, const char *needle)
{
    size_t n = strlen(needle);
    for (; *hay != '\0'; hay++)
        if (strncasecmp(hay, needle, n) == 0)
            return true;
    return false;
}

static bool code_matches(const char *pattern, const char *code)
{
    size_t n = strlen(pattern);
    if (n > 0 && pattern[n - 1] == '*')
        return strncmp(code, pattern, n - 1) == 0;
    return strcmp(code, pattern) == 0;
}

static bool rule_matches(const struct nh_err_rule *r, int status, const char *code,
                         const char *message, bool hinted)
{
    if (r->code != NULL && !code_matches(r->code, code))
        return false;
    if (r->status != 0 &&
        (status < r->status || status > (r->status_max ? r->status_max : r->status)))
        return false;
    if (r->text != NULL && !has_ci(message, r->text))
        return false;
    return !r->hinted || hinted;
}

static const struct nh_err_rule *match_in(const struct nh_err_rule *rows, size_t n, int status,
                                          const char *code, const char *message, bool hinted,
                                          const char **advice)
{
    for (size_t i = 0; i < n; i++) {
        if (!rule_matches(&rows[i], status, code, message, hinted))
            continue;
        if (*advice == NULL)
            *advice = rows[i].advice;
        if (rows[i].cls != NH_ERR_NONE)
            return &rows[i];
    }
    return NULL;
}

const struct nh_err_rule *nh_err_match(const struct nh_err_rule *rows, size_t n, int status,
                                       const char *code, const char *message, bool hinted,
                                       const char **ret_advice)
{
    const struct nh_err_rule *r;
    const char *advice = NULL;

    if (code == NULL)
        code = "";
    if (message == NULL)
        message = "";
    if (status >= 200 && status < 300) {
        r = &success_row;
    } else {
        r = match_in(rows, n, status, code, message, hinted, &advice);
        if (r == NULL)
            r = match_in(common_rows, sizeof(common_rows) / sizeof(common_rows[0]), status, code,
                         message, hinted, &advice);
    }
    if (ret_advice != NULL)
        *ret_advice = advice;
    return r;
}

enum nh_err_class nh_err_rule_class(const struct nh_err_rule *r, bool mutating)
{
    /* A mutation the server failed may have happened: re-read, never resend. */
    if (r->cls == NH_ERR_SERVER && mutating)
        return NH_ERR_UNKNOWN_OUTCOME;
    return r->cls;
}

const struct nh_err_rule *nh_err_read(const struct nh_err_rule *rows, size_t n, int status,
                                      const char *body, size_t len, bool hinted, bool mutating,
                                      struct nh_prov_error *e)
{
    const char *advice = NULL;
    const struct nh_err_rule *r;
    char msg[sizeof(e->message)];

    nh_prov_parse_error_body(status, body, len, e);
    e->http_status = status;
    r = nh_err_match(rows, n, status, e->code, e->message, hinted, &advice);
    e->cls = nh_err_rule_class(r, mutating);
    if (advice != NULL) {
        msg[0] = '\0';
        nh_text_cat(msg, sizeof(msg), e->message);
        nh_text_cat(msg, sizeof(msg), " (");
        nh_text_cat(msg, sizeof(msg), advice);
        nh_text_cat(msg, sizeof(msg), ")");
        memcpy(e->message, msg, sizeof(e->message));
    }
    return r;
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
    case NH_ERR_NOT_SENT:
        return "not-sent";
    case NH_ERR_BUSY:
        return "busy";
    }
    return "?";
}
