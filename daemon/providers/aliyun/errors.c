/* aliyun/errors.c - ACK's error table (errors-and-limits.md, Alibaba
 * table) and the pure functions over it. Codes decide first, because ACK
 * signals throttling with HTTP 400 and the gateway's statuses for
 * signature codes vary. */
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "providers/parse.h"

#define ADVICE_CLOCK "check the clock (NTP): ACK refuses requests more than 15 minutes off"
#define ADVICE_KEY "check the AccessKey id and secret"
#define ADVICE_RAM "grant the RAM permission for this action"

const struct nh_err_rule nh_ack_errors[] = {
    /* advice only: the clock is the fix whatever the class */
    {.code = "InvalidTimeStamp*", .advice = ADVICE_CLOCK},
    {.code = "Throttling*", .cls = NH_ERR_THROTTLED},
    {.hinted = true, .cls = NH_ERR_THROTTLED}, /* x-acs-retry-after */
    {.status = 429, .cls = NH_ERR_THROTTLED},
    {.code = "InvalidTimeStamp*", .cls = NH_ERR_AUTH},
    {.code = "SignatureDoesNotMatch", .cls = NH_ERR_AUTH, .advice = ADVICE_KEY},
    {.code = "IncompleteSignature", .cls = NH_ERR_AUTH, .advice = ADVICE_KEY},
    {.code = "InvalidSignatureMethod", .cls = NH_ERR_AUTH, .advice = ADVICE_KEY},
    {.code = "InvalidAccessKeyId*", .cls = NH_ERR_AUTH, .advice = ADVICE_KEY},
    {.code = "Forbidden*", .cls = NH_ERR_AUTH, .advice = ADVICE_RAM},
    {.code = "ActionUnauthorized", .cls = NH_ERR_AUTH, .advice = ADVICE_RAM},
    /* a nonce collision: refused before it ran; re-sign with a fresh nonce once */
    {.code = "SignatureNonceUsed", .cls = NH_ERR_INVALID, .resend = true},
    {.code = "InvalidApi.NotFound", .cls = NH_ERR_INVALID},
    {.code = "InvalidProduct.NotFound", .cls = NH_ERR_INVALID},
    {.status = 401, .cls = NH_ERR_AUTH, .advice = ADVICE_KEY},
    {.status = 403, .cls = NH_ERR_AUTH, .advice = ADVICE_KEY},
};
const size_t nh_ack_n_errors = sizeof(nh_ack_errors) / sizeof(nh_ack_errors[0]);

uint64_t nh_ack_retry_after_ms(const char *value)
{
    char *end = NULL;
    long long v;

    if (value == NULL)
        return 0;
    while (*value == ' ')
        value++;
    if (!isdigit((unsigned char)*value) && *value != '-')
        return 0;
    errno = 0;
    v = strtoll(value, &end, 10);
    if (errno != 0 || end == value || (*end != '\0' && *end != ' ') || v <= 0)
        return 0;
    return (uint64_t)v;
}

enum nh_err_class nh_ack_error_class(int status, const char *code, bool has_retry_after,
                                     bool mutating)
{
    return nh_err_rule_class(
        nh_err_match(nh_ack_errors, nh_ack_n_errors, status, code, NULL, has_retry_after, NULL),
        mutating);
}

void nh_ack_error_from_answer(int status, const char *body, size_t len, const char *retry_after,
                              bool mutating, struct nh_prov_error *e, uint64_t *hint_ms)
{
    uint64_t hint = nh_ack_retry_after_ms(retry_after);

    nh_err_read(nh_ack_errors, nh_ack_n_errors, status, body, len, hint > 0, mutating, e);
    if (hint_ms != NULL)
        *hint_ms = hint;
}
