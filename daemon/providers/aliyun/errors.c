/* aliyun/errors.c - ACK error classification (errors-and-limits.md, Alibaba
 * table). Pure functions. Codes decide first, because ACK signals throttling
 * with HTTP 400 and the gateway's statuses for signature codes vary. */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/json.h"
#include "util/text.h"
#include "providers/parse.h"

static bool starts(const char *s, const char *prefix)
{
    return strncmp(s, prefix, strlen(prefix)) == 0;
}

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
    if (code == NULL)
        code = "";
    if (status >= 200 && status < 300)
        return NH_ERR_NONE;
    if (starts(code, "Throttling") || has_retry_after || status == 429)
        return NH_ERR_THROTTLED;
    if (starts(code, "InvalidTimeStamp"))
        return NH_ERR_AUTH;
    if (strcmp(code, "SignatureDoesNotMatch") == 0 || strcmp(code, "IncompleteSignature") == 0 ||
        strcmp(code, "InvalidSignatureMethod") == 0 || starts(code, "InvalidAccessKeyId") ||
        starts(code, "Forbidden") || strcmp(code, "ActionUnauthorized") == 0)
        return NH_ERR_AUTH;
    if (strcmp(code, "SignatureNonceUsed") == 0)
        return NH_ERR_INVALID;
    if (strcmp(code, "InvalidApi.NotFound") == 0 || strcmp(code, "InvalidProduct.NotFound") == 0)
        return NH_ERR_INVALID;
    if (status == 401 || status == 403)
        return NH_ERR_AUTH;
    if (status == 404)
        return NH_ERR_NOT_FOUND;
    if (status == 409)
        return NH_ERR_CONFLICT;
    if (status >= 500)
        return mutating ? NH_ERR_UNKNOWN_OUTCOME : NH_ERR_SERVER;
    if (status >= 400)
        return NH_ERR_INVALID;
    /* 1xx/3xx: not an answer we know how to read. */
    return mutating ? NH_ERR_UNKNOWN_OUTCOME : NH_ERR_SERVER;
}

void nh_ack_error_from_answer(int status, const char *body, size_t len, const char *retry_after,
                              bool mutating, struct nh_prov_error *e, uint64_t *hint_ms)
{
    uint64_t hint = nh_ack_retry_after_ms(retry_after);
    char msg[sizeof(e->message)];
    const char *advice = NULL;

    nh_prov_parse_error_body(status, body, len, e);
    e->http_status = status;
    e->cls = nh_ack_error_class(status, e->code, hint > 0, mutating);
    if (hint_ms != NULL)
        *hint_ms = hint;
    if (strncmp(e->code, "InvalidTimeStamp", 16) == 0)
        advice = "check the clock (NTP): ACK refuses requests more than 15 minutes off";
    else if (e->cls == NH_ERR_AUTH && strncmp(e->code, "Forbidden", 9) != 0 &&
             strcmp(e->code, "ActionUnauthorized") != 0)
        advice = "check the AccessKey id and secret";
    else if (e->cls == NH_ERR_AUTH)
        advice = "grant the RAM permission for this action";
    if (advice != NULL) {
        msg[0] = '\0';
        nh_text_cat(msg, sizeof(msg), e->message);
        nh_text_cat(msg, sizeof(msg), " (");
        nh_text_cat(msg, sizeof(msg), advice);
        nh_text_cat(msg, sizeof(msg), ")");
        memcpy(e->message, msg, sizeof(e->message));
    }
}
