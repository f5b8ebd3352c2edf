/* huawei/gateway.c - the APIG gateway in front of CCE and ModelArts:
 * SDK-HMAC-SHA256 signing (signing.md) or an IAM token, and the reading of
 * its error answers (the table is in huawei/errors.c). */
#include <errno.h>
#include <stdlib.h>

#include "providers/internal.h"

#define HW_CT "application/json"

static int huawei_sign(struct nh_prov *p, struct nh_pop *op, struct nh_http_req *req)
{
    char date[32];
    struct nh_kv h[6];
    size_t nh = 0, nl = 0;
    const char *ct = op->content_type != NULL ? op->content_type : HW_CT;
    int r = 0;

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

    struct nh_sign_req sr = nh_pop_sign_req(op, h, nh);
    char *auth = nh_huawei_authorization(&sr, NULL, p->ak, p->sk, p->sk_len);
    if (auth == NULL)
        return -ENOMEM;
    r = nh_pop_add_header(op, &nl, "Authorization", auth);
    free(auth);
    return r;
}

static const struct nh_err_rule *huawei_read_error(const struct nh_http_resp *resp, bool mutating,
                                                   struct nh_prov_error *e, uint64_t *hint_ms)
{
    return nh_huawei_read_error(resp->status, resp->body, resp->body_len,
                                nh_http_resp_header(resp, "retry-after"), nh_prov_wall_now(),
                                mutating, e, hint_ms);
}

const struct nh_gateway nh_huawei_gateway = {
    .sign = huawei_sign,
    .query = nh_huawei_query,
    .read_error = huawei_read_error,
};
