/* huawei/errors.c - the error table of CCE and ModelArts (APIG gateway in
 * front): errors-and-limits.md, Huawei table, and the pure functions over
 * it. One signature failure stops every call with the key, because five in
 * a row lock it; "reach the limit" means it is locked: hold for 5 minutes.
 * APIGW.xxxx and APIG.xxxx are the same error. */
#include <string.h>

#include "providers/parse.h"
#include "util/text.h"

#define HW_LOCK_MS (5u * 60u * 1000u)
#define ADVICE_LOCKED                                                                              \
    "the gateway locked the AccessKey after repeated failures; no call for 5 minutes"
#define ADVICE_STOP                                                                                \
    "signature or credential refused; stopped all calls with this key to avoid the 5-failure AK "  \
    "lock: fix the credentials and reload"
#define ADVICE_IAM "permission denied: grant the IAM permission for this action"

#define LOCKED                                                                                     \
    .cls = NH_ERR_AUTH, .text = "reach the limit", .advice = ADVICE_LOCKED, .hold_ms = HW_LOCK_MS
#define STOP .cls = NH_ERR_AUTH, .advice = ADVICE_STOP, .stop = true

const struct nh_err_rule nh_huawei_errors[] = {
    {.status = 429, .cls = NH_ERR_THROTTLED},
    {.code = "APIGW.0308", .cls = NH_ERR_THROTTLED},
    {.code = "APIG.0308", .cls = NH_ERR_THROTTLED},
    {.status = 401, LOCKED},
    {.code = "APIGW.0301", LOCKED},
    {.code = "APIG.0301", LOCKED},
    {.status = 401, STOP},
    {.code = "APIGW.0301", STOP},
    {.code = "APIG.0301", STOP},
    {.status = 403, .cls = NH_ERR_AUTH, .advice = ADVICE_IAM},
    {.code = "APIGW.0302", .cls = NH_ERR_AUTH, .advice = ADVICE_IAM},
    {.code = "APIG.0302", .cls = NH_ERR_AUTH, .advice = ADVICE_IAM},
};
const size_t nh_huawei_n_errors = sizeof(nh_huawei_errors) / sizeof(nh_huawei_errors[0]);

static struct nh_huawei_verdict verdict(const struct nh_err_rule *r, bool mutating)
{
    return (struct nh_huawei_verdict){
        .cls = nh_err_rule_class(r, mutating),
        .stop = r->stop,
        .ak_locked = r->hold_ms > 0,
    };
}

struct nh_huawei_verdict nh_huawei_error_class(int status, const char *code, const char *message,
                                               bool mutating)
{
    return verdict(
        nh_err_match(nh_huawei_errors, nh_huawei_n_errors, status, code, message, false, NULL),
        mutating);
}

const struct nh_err_rule *nh_huawei_read_error(int status, const char *body, size_t len,
                                               const char *retry_after, int64_t now_s,
                                               bool mutating, struct nh_prov_error *e,
                                               uint64_t *hint_ms)
{
    const struct nh_err_rule *r;
    char msg[sizeof(e->message)];

    r = nh_err_read(nh_huawei_errors, nh_huawei_n_errors, status, body, len, false, mutating, e);
    if (hint_ms != NULL)
        *hint_ms = e->cls == NH_ERR_THROTTLED ? nh_prov_retry_after_ms(retry_after, now_s) : 0;
    if (r->advice == NULL && e->code[0] != '\0' && e->cls == NH_ERR_INVALID) {
        /* ModelArts: error_code and error_msg together make the clear message. */
        msg[0] = '\0';
        nh_text_cat(msg, sizeof(msg), e->code);
        nh_text_cat(msg, sizeof(msg), ": ");
        nh_text_cat(msg, sizeof(msg), e->message);
        memcpy(e->message, msg, sizeof(e->message));
    }
    return r;
}

struct nh_huawei_verdict nh_huawei_error_from_answer(int status, const char *body, size_t len,
                                                     const char *retry_after, int64_t now_s,
                                                     bool mutating, struct nh_prov_error *e,
                                                     uint64_t *hint_ms)
{
    return verdict(
        nh_huawei_read_error(status, body, len, retry_after, now_s, mutating, e, hint_ms),
        mutating);
}
