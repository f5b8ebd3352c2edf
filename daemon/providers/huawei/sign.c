/* huawei/sign.c - what CCE and ModelArts share: SDK-HMAC-SHA256 signing (or
 * an IAM token), answer classification with the AK-lock rules, and the
 * refusal of calls while the key is stopped or locked. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "providers/internal.h"

#define HW_CT "application/json"
#define HW_LOCK_MS (5u * 60u * 1000u)

static int huawei_sign(struct nh_prov *p, struct nh_pop *op, const char *query,
                       struct nh_http_req *req)
{
    char date[32];
    struct nh_kv h[6];
    size_t nh = 0, nl = 0;
    const char *ct = op->content_type != NULL ? op->content_type : HW_CT;
    int r = 0;

    (void)query;
    (void)req;
    nh_date_huawei(nh_prov_wall_now(), date);
    h[nh++] = (struct nh_kv){"Host", p->host};
    h[nh++] = (struct nh_kv){"Content-Type", ct};
    h[nh++] = (struct nh_kv){"X-Project-Id", p->project_id};
    h[nh++] = (struct nh_kv){"X-Sdk-Date", date};
    for (size_t i = 0; i < nh && r == 0; i++)
        r = nh_pop_add_header(op, &nl, h[i].key, h[i].value);
    if (r < 0)
        return r;
    if (p->token != NULL)
        return nh_pop_add_header(op, &nl, "X-Auth-Token", p->token);

    struct nh_sign_req sr = {
        .method = op->method,
        .path = op->path,
        .query = op->query,
        .n_query = op->n_query,
        .headers = h,
        .n_headers = nh,
        .body = op->body,
        .body_len = op->body_len,
    };
    char *auth = nh_huawei_authorization(&sr, NULL, p->ak, p->sk, p->sk_len);
    if (auth == NULL)
        return -ENOMEM;
    r = nh_pop_add_header(op, &nl, "Authorization", auth);
    free(auth);
    return r;
}

static enum nh_verdict huawei_classify(struct nh_prov *p, struct nh_pop *op,
                                       const struct nh_http_resp *resp, struct nh_prov_error *e,
                                       uint64_t *hint_ms)
{
    struct nh_huawei_verdict v = nh_huawei_error_from_answer(
        resp->status, resp->body, resp->body_len, nh_http_resp_header(resp, "retry-after"),
        nh_prov_wall_now(), op->call.mutating, e, hint_ms);
    if (v.stop && !p->pub.auth_stopped) {
        /* One signature failure stops every call with this key (five lock it). */
        p->pub.auth_stopped = true;
        snprintf(p->pub.auth_reason, sizeof(p->pub.auth_reason),
                 "%s: HTTP %d %s: stopped after a signature failure; fix credentials and "
                 "reload",
                 op->op_name, resp->status, e->code);
    }
    if (v.ak_locked && p->pub.loop != NULL)
        p->locked_until_ms = uv_now(p->pub.loop) + HW_LOCK_MS;
    switch (e->cls) {
    case NH_ERR_THROTTLED:
        return NH_V_THROTTLED;
    case NH_ERR_SERVER:
        return NH_V_RETRY;
    case NH_ERR_UNKNOWN_OUTCOME:
        return NH_V_UNKNOWN;
    case NH_ERR_NONE:
        return NH_V_OK;
    case NH_ERR_AUTH:
    case NH_ERR_NOT_FOUND:
    case NH_ERR_CONFLICT:
    case NH_ERR_INVALID:
    case NH_ERR_CANCELLED:
        return NH_V_FINAL;
    }
    return NH_V_FINAL;
}

const struct nh_cloud nh_huawei_cloud = {
    .sign = huawei_sign,
    .classify = huawei_classify,
    .query = nh_huawei_query,
};

bool nh_huawei_refuse(struct nh_prov *p, struct nh_prov_error *e, const char *op_name)
{
    memset(e, 0, sizeof(*e));
    nh_text_copy(e->op, sizeof(e->op), op_name);
    e->cls = NH_ERR_AUTH;
    if (p->pub.auth_stopped) {
        snprintf(e->message, sizeof(e->message),
                 "%s: not sent: stopped after a signature failure; fix credentials and reload",
                 op_name);
        return true;
    }
    if (p->locked_until_ms != 0 && uv_now(p->pub.loop) < p->locked_until_ms) {
        snprintf(e->message, sizeof(e->message),
                 "%s: not sent: the gateway locked the AccessKey; %llu s of the 5-minute lock "
                 "left",
                 op_name, (unsigned long long)((p->locked_until_ms - uv_now(p->pub.loop)) / 1000u));
        return true;
    }
    return false;
}

bool nh_huawei_refused(struct nh_pop *op, const char *name)
{
    struct nh_prov_error e;

    if (!nh_huawei_refuse(op->p, &e, name))
        return false;
    nh_text_copy(op->op_name, sizeof(op->op_name), name);
    nh_pop_fail(op, &e);
    return true;
}
