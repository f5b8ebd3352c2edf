/* aliyun/gateway.c - the ACK API gateway: request signing, ACS3-HMAC-
 * SHA256 (current SDKs, the default) or the legacy ROA HMAC-SHA1
 * (signing.md), per attempt with a fresh date and nonce; and its error
 * answers through ACK's error table (aliyun/errors.c), with
 * x-acs-retry-after (ms) as the hint. */
#include <errno.h>
#include <stdlib.h>

#include "providers/aliyun/ack.h"

#define ACK_VERSION "2015-12-15"
#define ACK_CT "application/json; charset=utf-8"

/* The headers each algorithm signs, in the order signing.md lists them. */
static size_t ack_headers(const struct ack_prov *a, const struct nh_pop *op, struct nh_kv *h,
                          char *date, char *nonce, char *hash, char *md5)
{
    size_t n = 0;

    if (a->signing == NH_SIGN_ACS3) {
        nh_date_acs3(nh_prov_wall_now(), date);
        nh_sha256_hex(op->body != NULL ? op->body : "", op->body_len, hash);
        h[n++] = (struct nh_kv){"host", a->base.host};
        h[n++] = (struct nh_kv){"x-acs-action", op->step->name};
        h[n++] = (struct nh_kv){"x-acs-version", ACK_VERSION};
        h[n++] = (struct nh_kv){"x-acs-date", date};
        h[n++] = (struct nh_kv){"x-acs-signature-nonce", nonce};
        h[n++] = (struct nh_kv){"x-acs-content-sha256", hash};
        h[n++] = (struct nh_kv){"accept", "application/json"};
        if (op->body != NULL)
            h[n++] = (struct nh_kv){"content-type", ACK_CT};
        return n;
    }
    nh_date_rfc1123(nh_prov_wall_now(), date);
    h[n++] = (struct nh_kv){"accept", "application/json"};
    h[n++] = (struct nh_kv){"date", date};
    h[n++] = (struct nh_kv){"host", a->base.host};
    h[n++] = (struct nh_kv){"x-acs-signature-method", "HMAC-SHA1"};
    h[n++] = (struct nh_kv){"x-acs-signature-version", "1.0"};
    h[n++] = (struct nh_kv){"x-acs-signature-nonce", nonce};
    h[n++] = (struct nh_kv){"x-acs-version", ACK_VERSION};
    h[n++] = (struct nh_kv){"x-acs-action", op->step->name};
    if (op->body != NULL) {
        nh_md5_base64(op->body, op->body_len, md5);
        h[n++] = (struct nh_kv){"content-type", ACK_CT};
        h[n++] = (struct nh_kv){"content-md5", md5};
    }
    return n;
}

static int ack_sign(struct nh_prov *p, struct nh_pop *op, struct nh_http_req *req)
{
    const struct ack_prov *a = (const struct ack_prov *)p;
    char date[40], nonce[33], hash[65], md5[25];
    struct nh_kv h[12];
    size_t nh, nl = 0;
    char *auth;
    int r = 0;

    (void)req;
    if (nh_nonce(nonce) < 0)
        return -EIO;
    nh = ack_headers(a, op, h, date, nonce, hash, md5);
    struct nh_sign_req sr = nh_pop_sign_req(op, h, nh);
    if (a->signing == NH_SIGN_ACS3)
        auth = nh_acs3_authorization(&sr, p->ak, p->sk, p->sk_len);
    else
        auth = nh_roa_authorization(&sr, p->ak, p->sk, p->sk_len);
    if (auth == NULL)
        return -ENOMEM;
    for (size_t i = 0; i < nh && r == 0; i++)
        r = nh_pop_add_header(op, &nl, h[i].key, h[i].value);
    if (r == 0)
        r = nh_pop_add_header(op, &nl, "authorization", auth);
    free(auth);
    return r;
}

static const struct nh_err_rule *ack_read_error(const struct nh_http_resp *resp, bool mutating,
                                                struct nh_prov_error *e, uint64_t *hint_ms)
{
    uint64_t hint = nh_ack_retry_after_ms(nh_http_resp_header(resp, "x-acs-retry-after"));
    const struct nh_err_rule *r = nh_err_read(nh_ack_errors, nh_ack_n_errors, resp->status,
                                              resp->body, resp->body_len, hint > 0, mutating, e);
    *hint_ms = hint;
    return r;
}

const struct nh_gateway nh_ack_gateway = {
    .sign = ack_sign,
    .query = nh_acs3_query,
    .read_error = ack_read_error,
};
