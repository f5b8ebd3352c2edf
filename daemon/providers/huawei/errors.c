/* huawei/errors.c - classification of CCE and ModelArts errors (APIG gateway
 * in front): errors-and-limits.md, Huawei table. Pure functions. */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "util/json.h"
#include "util/text.h"
#include "providers/parse.h"

static bool gateway_code(const char *code, const char *num)
{
    /* APIGW.0301 and APIG.0301 are the same error. */
    if (strncmp(code, "APIGW.", 6) == 0)
        return strcmp(code + 6, num) == 0;
    if (strncmp(code, "APIG.", 5) == 0)
        return strcmp(code + 5, num) == 0;
    return false;
}

static bool contains_ci(const char *hay, const char *needle)
{
    size_t n = strlen(needle);
    for (; *hay != '\0'; hay++)
        if (strncasecmp(hay, needle, n) == 0)
            return true;
    return false;
}

struct nh_huawei_verdict nh_huawei_error_class(int status, const char *code, const char *message,
                                               bool mutating)
{
    struct nh_huawei_verdict v = {.cls = NH_ERR_NONE};

    if (code == NULL)
        code = "";
    if (message == NULL)
        message = "";
    if (status >= 200 && status < 300)
        return v;
    if (status == 429 || gateway_code(code, "0308")) {
        v.cls = NH_ERR_THROTTLED;
        return v;
    }
    if (status == 401 || gateway_code(code, "0301")) {
        v.cls = NH_ERR_AUTH;
        if (contains_ci(message, "reach the limit"))
            v.ak_locked = true;
        else
            v.stop = true;
        return v;
    }
    if (status == 403 || gateway_code(code, "0302")) {
        v.cls = NH_ERR_AUTH;
        return v;
    }
    if (status == 404) {
        v.cls = NH_ERR_NOT_FOUND;
        return v;
    }
    if (status == 409) {
        v.cls = NH_ERR_CONFLICT;
        return v;
    }
    if (status >= 500) {
        v.cls = mutating ? NH_ERR_UNKNOWN_OUTCOME : NH_ERR_SERVER;
        return v;
    }
    if (status >= 400) {
        v.cls = NH_ERR_INVALID;
        return v;
    }
    v.cls = mutating ? NH_ERR_UNKNOWN_OUTCOME : NH_ERR_SERVER;
    return v;
}

struct nh_huawei_verdict nh_huawei_error_from_answer(int status, const char *body, size_t len,
                                                     const char *retry_after, int64_t now_s,
                                                     bool mutating, struct nh_prov_error *e,
                                                     uint64_t *hint_ms)
{
    struct nh_huawei_verdict v;
    char msg[sizeof(e->message)];
    const char *advice = NULL;

    nh_prov_parse_error_body(status, body, len, e);
    e->http_status = status;
    v = nh_huawei_error_class(status, e->code, e->message, mutating);
    e->cls = v.cls;
    if (hint_ms != NULL)
        *hint_ms = v.cls == NH_ERR_THROTTLED ? nh_prov_retry_after_ms(retry_after, now_s) : 0;
    if (v.ak_locked)
        advice = "the gateway locked the AccessKey after repeated failures; no call for 5 "
                 "minutes";
    else if (v.stop)
        advice = "signature or credential refused; stopped all calls with this key to avoid "
                 "the 5-failure AK lock: fix the credentials and reload";
    else if (v.cls == NH_ERR_AUTH)
        advice = "permission denied: grant the IAM permission for this action";
    if (advice != NULL) {
        msg[0] = '\0';
        nh_text_cat(msg, sizeof(msg), e->message);
        nh_text_cat(msg, sizeof(msg), " (");
        nh_text_cat(msg, sizeof(msg), advice);
        nh_text_cat(msg, sizeof(msg), ")");
        memcpy(e->message, msg, sizeof(e->message));
    } else if (e->code[0] != '\0' && v.cls == NH_ERR_INVALID) {
        /* ModelArts: error_code and error_msg together make the clear message. */
        msg[0] = '\0';
        nh_text_cat(msg, sizeof(msg), e->code);
        nh_text_cat(msg, sizeof(msg), ": ");
        nh_text_cat(msg, sizeof(msg), e->message);
        memcpy(e->message, msg, sizeof(e->message));
    }
    return v;
}
