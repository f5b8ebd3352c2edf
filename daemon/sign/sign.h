/* sign.h - request signing for the three clouds: pure functions, bytes in,
 * strings out, no I/O and no clock (callers pass the date and nonce).
 * Algorithms exactly as ../shared/api/signing.md; its worked examples are
 * the unit tests. All returned strings are malloc'd (free them); NULL on
 * allocation failure or invalid input. Secrets are passed as bytes and never
 * copied anywhere that outlives the call.
 *
 * Input every signer refuses (returns NULL): a NULL/empty method or one not
 * all upper-case; a path not starting with '/' (other than "") or holding
 * '?', '#', space, CR or LF; NULL array with n > 0; NULL keys or values; an
 * empty header name or one with bytes outside visible ASCII or ':'; a header
 * value with CR or LF; two headers whose names differ only in case (never
 * send duplicates); an empty query key. Header names are compared
 * case-insensitively and canonicalised in lower case; values are trimmed of
 * spaces and tabs (as the receiving HTTP parser does). */
#ifndef NH_SIGN_H
#define NH_SIGN_H

#include <stddef.h>

struct nh_kv {
    const char *key;
    const char *value;
};

/* RFC 3986 percent-encoding: unreserved bytes literal, every other byte %XX
 * upper-case. */
char *nh_pct_encode(const char *s, size_t len);

/* Lower-case hex SHA-256 of data (65 bytes with the NUL). */
void nh_sha256_hex(const void *data, size_t len, char out[65]);
/* base64(MD5(data)) (25 bytes with the NUL). */
void nh_md5_base64(const void *data, size_t len, char out[25]);

/* A request as it will go on the wire. */
struct nh_sign_req {
    const char *method;        /* upper-case */
    const char *path;          /* as sent, already encoded; "" means "/" */
    const struct nh_kv *query; /* raw (unencoded) values, any order */
    size_t n_query;
    const struct nh_kv
        *headers; /* every header that will be sent, names any case, values as sent */
    size_t n_headers;
    const void *body;
    size_t body_len;
};

/* --- Alibaba ACS3-HMAC-SHA256 --- */

/* The canonical query string (also the exact query to send on the wire):
 * sorted by key (byte order), key=pct(value), joined with '&'. "" if none. */
char *nh_acs3_query(const struct nh_kv *query, size_t n);
/* The canonical request (for tests and debug logging). Signed headers:
 * host, content-type, x-acs-*. The caller must already have put
 * x-acs-content-sha256 = hex(sha256(body)) among the headers: NULL when it
 * is missing or does not match the body, or when there is no host. */
char *nh_acs3_canonical(const struct nh_sign_req *r);
/* "ACS3-HMAC-SHA256\n" + hex(sha256(canonical request)). */
char *nh_acs3_string_to_sign(const struct nh_sign_req *r);
/* "ACS3-HMAC-SHA256 Credential=<ak>,SignedHeaders=...,Signature=..." */
char *nh_acs3_authorization(const struct nh_sign_req *r, const char *ak, const unsigned char *sk,
                            size_t sk_len);

/* --- Alibaba legacy ROA HMAC-SHA1 --- */

/* The string to sign (Method, Accept, Content-MD5, Content-Type, Date,
 * x-acs-* headers, resource with raw query values). NULL also when a
 * query value is empty or holds '+', '*' or '~' (the SDKs put those
 * differently into the resource, signing.md §2). */
char *nh_roa_string_to_sign(const struct nh_sign_req *r);
/* "acs <ak>:<base64 signature>"; NULL also when a Content-MD5 header does
 * not match base64(md5(body)). */
char *nh_roa_authorization(const struct nh_sign_req *r, const char *ak, const unsigned char *sk,
                           size_t sk_len);
/* base64(HMAC-SHA1(key, msg)) for the published vector P2. */
char *nh_roa_hmac_b64(const unsigned char *key, size_t key_len, const char *msg);

/* --- Huawei SDK-HMAC-SHA256 --- */

/* Canonical query: sorted keys, repeated keys' values sorted, pct(key)=pct(value). */
char *nh_huawei_query(const struct nh_kv *query, size_t n);
/* Signed headers are those named in `signed_names` (lower-case, any order;
 * NULL = the default set: content-type (when present), host, x-project-id,
 * x-sdk-date, x-security-token (when present)). `signed_names` is a
 * NULL-terminated array; every name must be among the headers, at most
 * once, and include x-sdk-date. The default set needs host, x-project-id
 * and x-sdk-date. The canonical URI is the decoded path, each segment
 * pct-encoded, with a trailing '/' (a malformed or %00 escape: NULL). When
 * the request carries X-Sdk-Content-Sha256 its value replaces the body
 * hash, as APIG does (the daemon never sends it). */
char *nh_huawei_canonical(const struct nh_sign_req *r, const char *const *signed_names);
/* "SDK-HMAC-SHA256\n" + X-Sdk-Date + "\n" + hex(sha256(canonical request)). */
char *nh_huawei_string_to_sign(const struct nh_sign_req *r, const char *const *signed_names);
/* "SDK-HMAC-SHA256 Access=<ak>, SignedHeaders=..., Signature=..." — the
 * X-Sdk-Date header must be among r->headers. */
char *nh_huawei_authorization(const struct nh_sign_req *r, const char *const *signed_names,
                              const char *ak, const unsigned char *sk, size_t sk_len);

/* Date formats: ACS3 "2025-01-02T03:04:05Z", ROA "Thu, 02 Jan 2025 03:04:05 GMT",
 * Huawei "20250102T030405Z" (locale-independent). out is "" when the time
 * is outside years 0..9999. */
void nh_date_acs3(long long unix_s, char out[32]);
void nh_date_rfc1123(long long unix_s, char out[40]);
void nh_date_huawei(long long unix_s, char out[32]);
/* 32 lower-case hex characters from a CSPRNG (RAND_bytes). 0 or -EIO. */
int nh_nonce(char out[33]);

#endif
