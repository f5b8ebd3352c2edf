/* sign.c - request signing for ACS3-HMAC-SHA256, legacy ROA HMAC-SHA1 and
 * Huawei SDK-HMAC-SHA256, exactly as ../shared/api/signing.md.
 *
 * Pure: no I/O, no clock (except nh_nonce, which reads the CSPRNG), no
 * logging. Every function builds its output in a small growable string and
 * returns NULL on allocation failure or on input it refuses to sign (see
 * sign.h). Secrets go straight to HMAC() and are never copied. */
#include "sign.h"

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

/* ---------- a tiny string builder (sign links nothing but libcrypto) ---------- */

struct sb {
    char *p;
    size_t len, alloc;
    bool oom;
};

static void sb_add(struct sb *b, const void *data, size_t n)
{
    if (b->oom)
        return;
    if (b->len + n + 1 > b->alloc) {
        size_t want = b->alloc ? b->alloc : 128;
        while (want < b->len + n + 1)
            want *= 2;
        char *np = realloc(b->p, want);
        if (np == NULL) {
            b->oom = true;
            return;
        }
        b->p = np;
        b->alloc = want;
    }
    if (n > 0)
        memcpy(b->p + b->len, data, n);
    b->len += n;
    b->p[b->len] = '\0';
}

static void sb_adds(struct sb *b, const char *s)
{
    sb_add(b, s, strlen(s));
}

static void sb_addc(struct sb *b, char c)
{
    sb_add(b, &c, 1);
}

/* Returns the string (owned by the caller), or NULL after any failure. */
static char *sb_done(struct sb *b)
{
    if (b->oom) {
        free(b->p);
        return NULL;
    }
    if (b->p == NULL)
        return strdup("");
    return b->p;
}

static void sb_discard(struct sb *b)
{
    free(b->p);
    b->p = NULL;
    b->len = b->alloc = 0;
}

/* ---------- primitives ---------- */

static const char hex_lower[] = "0123456789abcdef";
static const char hex_upper[] = "0123456789ABCDEF";

static bool unreserved(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '_' || c == '.' || c == '~';
}

static void sb_pct(struct sb *b, const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (unreserved(c)) {
            sb_addc(b, (char)c);
        } else {
            char e[3] = {'%', hex_upper[c >> 4], hex_upper[c & 15]};
            sb_add(b, e, 3);
        }
    }
}

char *nh_pct_encode(const char *s, size_t len)
{
    struct sb b = {0};
    if (s == NULL && len > 0)
        return NULL;
    sb_pct(&b, s, len);
    return sb_done(&b);
}

static void to_hex(const unsigned char *d, size_t n, char *out)
{
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = hex_lower[d[i] >> 4];
        out[2 * i + 1] = hex_lower[d[i] & 15];
    }
    out[2 * n] = '\0';
}

/* The digest of data (NULL: empty) into md (EVP_MAX_MD_SIZE bytes); false
 * when it fails or is not want bytes long. */
static bool digest(const void *data, size_t len, const EVP_MD *type, unsigned int want,
                   unsigned char *md)
{
    unsigned int mdlen = 0;
    static const char empty = 0;
    if (data == NULL)
        data = &empty;
    return EVP_Digest(data, len, md, &mdlen, type, NULL) && mdlen == want;
}

void nh_sha256_hex(const void *data, size_t len, char out[65])
{
    /* Every GET signs the hash of its empty body: a constant (FIPS 180-2's
     * SHA-256 of ""), not a digest computed for each of them. */
    static const char empty_sha256[65] =
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
    unsigned char md[EVP_MAX_MD_SIZE];
    if (len == 0) {
        memcpy(out, empty_sha256, sizeof(empty_sha256));
        return;
    }
    if (!digest(data, len, EVP_sha256(), 32, md)) {
        out[0] = '\0';
        return;
    }
    to_hex(md, 32, out);
}

void nh_md5_base64(const void *data, size_t len, char out[25])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    if (!digest(data, len, EVP_md5(), 16, md)) {
        out[0] = '\0';
        return;
    }
    EVP_EncodeBlock((unsigned char *)out, md, 16); /* 24 chars + NUL */
}

/* hex(HMAC-SHA256(key, msg)) into out[65]; false on failure. */
static bool hmac_sha256_hex(const unsigned char *key, size_t key_len, const char *msg, char out[65])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    static const unsigned char nokey = 0;
    if (key_len > INT32_MAX)
        return false;
    if (HMAC(EVP_sha256(), key ? key : &nokey, (int)key_len, (const unsigned char *)msg,
             strlen(msg), md, &mdlen) == NULL ||
        mdlen != 32)
        return false;
    to_hex(md, 32, out);
    return true;
}

/* An access key id that fits in the header (not empty, no ",", blank or line
 * break), and a secret that is there when it has a length. */
static bool key_usable(const char *ak, const unsigned char *sk, size_t sk_len)
{
    return !(ak == NULL || ak[0] == '\0' || (sk == NULL && sk_len > 0) || strpbrk(ak, ", \r\n"));
}

/* "<head><ak><sep>SignedHeaders=<names><sep>Signature=<sig>"; NULL when out
 * of memory. */
static char *auth_header(const char *head, const char *ak, const char *sep, const char *names,
                         const char *sig)
{
    struct sb b = {0};
    sb_adds(&b, head);
    sb_adds(&b, ak);
    sb_adds(&b, sep);
    sb_adds(&b, "SignedHeaders=");
    sb_adds(&b, names);
    sb_adds(&b, sep);
    sb_adds(&b, "Signature=");
    sb_adds(&b, sig);
    return sb_done(&b);
}

char *nh_roa_hmac_b64(const unsigned char *key, size_t key_len, const char *msg)
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    static const unsigned char nokey = 0;
    char *out;
    if (msg == NULL || key_len > INT32_MAX || (key == NULL && key_len > 0))
        return NULL;
    if (HMAC(EVP_sha1(), key ? key : &nokey, (int)key_len, (const unsigned char *)msg, strlen(msg),
             md, &mdlen) == NULL ||
        mdlen != 20)
        return NULL;
    out = malloc(29); /* base64 of 20 bytes: 28 chars */
    if (out == NULL)
        return NULL;
    EVP_EncodeBlock((unsigned char *)out, md, 20);
    return out;
}

/* ---------- headers ---------- */

/* A header as canonicalised: lower-case name, trimmed value (both owned). */
struct hdr {
    char *name;
    const char *value; /* borrowed from the request */
    size_t vlen;       /* trimmed length */
};

struct hdrs {
    struct hdr *v;
    size_t n;
};

static void hdrs_free(struct hdrs *h)
{
    for (size_t i = 0; i < h->n; i++)
        free(h->v[i].name);
    free(h->v);
    h->v = NULL;
    h->n = 0;
}

static bool is_ows(char c)
{
    return c == ' ' || c == '\t';
}

/* Moves *v past leading spaces and tabs; the length without the trailing
 * ones. */
static size_t trim_ows(const char **v)
{
    size_t vl = strlen(*v);
    while (vl > 0 && is_ows((*v)[vl - 1]))
        vl--;
    while (vl > 0 && is_ows(**v)) {
        (*v)++;
        vl--;
    }
    return vl;
}

static int hdr_cmp(const void *a, const void *b)
{
    return strcmp(((const struct hdr *)a)->name, ((const struct hdr *)b)->name);
}

/* Lower-cases and trims every header of r, sorted by name. Refuses (false)
 * NULL names or values, empty names, names with bytes outside the token set,
 * values with CR, LF or NUL-terminated early, and duplicate names (the SDKs
 * would join them; we never send duplicates). */
static bool hdrs_load(const struct nh_sign_req *r, struct hdrs *out)
{
    out->v = NULL;
    out->n = 0;
    if (r->n_headers == 0)
        return true;
    if (r->headers == NULL)
        return false;
    out->v = calloc(r->n_headers, sizeof(*out->v));
    if (out->v == NULL)
        return false;
    for (size_t i = 0; i < r->n_headers; i++) {
        const char *k = r->headers[i].key, *v = r->headers[i].value;
        if (k == NULL || v == NULL || k[0] == '\0')
            goto fail;
        size_t kl = strlen(k);
        char *name = malloc(kl + 1);
        if (name == NULL)
            goto fail;
        out->v[out->n++].name = name;
        for (size_t j = 0; j <= kl; j++) {
            unsigned char c = (unsigned char)k[j];
            if (c != '\0' && (c <= ' ' || c >= 0x7f || c == ':'))
                goto fail;
            name[j] = (char)((c >= 'A' && c <= 'Z') ? c + ('a' - 'A') : c);
        }
        if (strpbrk(v, "\r\n") != NULL)
            goto fail;
        size_t vl = trim_ows(&v);
        out->v[out->n - 1].value = v;
        out->v[out->n - 1].vlen = vl;
    }
    qsort(out->v, out->n, sizeof(*out->v), hdr_cmp);
    for (size_t i = 1; i < out->n; i++)
        if (strcmp(out->v[i - 1].name, out->v[i].name) == 0)
            goto fail;
    return true;
fail:
    hdrs_free(out);
    return false;
}

static const struct hdr *hdrs_get(const struct hdrs *h, const char *name)
{
    for (size_t i = 0; i < h->n; i++)
        if (strcmp(h->v[i].name, name) == 0)
            return &h->v[i];
    return NULL;
}

static bool hdr_value_is(const struct hdr *h, const char *s)
{
    return h->vlen == strlen(s) && memcmp(h->value, s, h->vlen) == 0;
}

/* name:value\n for each flagged header; SignedHeaders into sh. */
static void canon_headers(struct sb *b, struct sb *sh, const struct hdrs *h, const bool *use)
{
    bool first = true;
    for (size_t i = 0; i < h->n; i++) {
        if (!use[i])
            continue;
        sb_adds(b, h->v[i].name);
        sb_addc(b, ':');
        sb_add(b, h->v[i].value, h->v[i].vlen);
        sb_addc(b, '\n');
        if (!first)
            sb_addc(sh, ';');
        sb_adds(sh, h->v[i].name);
        first = false;
    }
}

/* ---------- query ---------- */

static int kv_cmp(const void *a, const void *b)
{
    const struct nh_kv *x = *(const struct nh_kv *const *)a;
    const struct nh_kv *y = *(const struct nh_kv *const *)b;
    int c = strcmp(x->key, y->key); /* strcmp compares as unsigned char: byte order */
    return c != 0 ? c : strcmp(x->value, y->value);
}

/* Sorted pointers into q (key, then value, byte order); NULL on bad input. */
static const struct nh_kv **query_sorted(const struct nh_kv *q, size_t n, bool *ok)
{
    const struct nh_kv **v;
    *ok = false;
    if (n == 0) {
        *ok = true;
        return NULL;
    }
    if (q == NULL)
        return NULL;
    v = calloc(n, sizeof(*v));
    if (v == NULL)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        if (q[i].key == NULL || q[i].value == NULL || q[i].key[0] == '\0') {
            free(v);
            return NULL;
        }
        v[i] = &q[i];
    }
    qsort(v, n, sizeof(*v), kv_cmp);
    *ok = true;
    return v;
}

/* pct(key)=pct(value) joined with '&' (ACS3 and Huawei agree on this). */
static char *query_encoded(const struct nh_kv *q, size_t n)
{
    bool ok;
    const struct nh_kv **v = query_sorted(q, n, &ok);
    struct sb b = {0};
    if (!ok)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        if (i > 0)
            sb_addc(&b, '&');
        sb_pct(&b, v[i]->key, strlen(v[i]->key));
        sb_addc(&b, '=');
        sb_pct(&b, v[i]->value, strlen(v[i]->value));
    }
    free(v);
    return sb_done(&b);
}

char *nh_acs3_query(const struct nh_kv *query, size_t n)
{
    return query_encoded(query, n);
}

char *nh_huawei_query(const struct nh_kv *query, size_t n)
{
    return query_encoded(query, n);
}

/* ---------- common request checks ---------- */

static bool req_ok(const struct nh_sign_req *r)
{
    if (r == NULL || r->method == NULL || r->method[0] == '\0' || r->path == NULL)
        return false;
    for (const char *m = r->method; *m; m++)
        if (*m < 'A' || *m > 'Z')
            return false;
    if (r->path[0] != '\0' && r->path[0] != '/')
        return false;
    if (strpbrk(r->path, "?# \r\n") != NULL)
        return false;
    if (r->body == NULL && r->body_len > 0)
        return false;
    return true;
}

static const char *req_path(const struct nh_sign_req *r)
{
    return r->path[0] ? r->path : "/";
}

/* The string to sign of ACS3 and Huawei's SDK-HMAC-SHA256: the algorithm,
 * the date (Huawei's; NULL for ACS3) and the canonical request's SHA-256,
 * each on its own line (owned; NULL after a failure). */
static char *sts_of(const char *alg, const char *date, const char *canon)
{
    char hash[65];
    struct sb b = {0};
    nh_sha256_hex(canon, strlen(canon), hash);
    if (hash[0] == '\0')
        return NULL;
    sb_adds(&b, alg);
    sb_addc(&b, '\n');
    if (date != NULL) {
        sb_adds(&b, date);
        sb_addc(&b, '\n');
    }
    sb_adds(&b, hash);
    return sb_done(&b);
}

/* The Authorization value of ACS3 and SDK-HMAC-SHA256: sts (NULL: a step
 * before failed) signed with HMAC-SHA256 under sk, as auth_header writes
 * it (owned; NULL after any failure). */
static char *authorize(const char *sts, const unsigned char *sk, size_t sk_len, const char *scheme,
                       const char *ak, const char *sep, const char *names)
{
    char sig[65];
    if (sts == NULL || !hmac_sha256_hex(sk, sk_len, sts, sig))
        return NULL;
    return auth_header(scheme, ak, sep, names, sig);
}

/* ---------- ACS3-HMAC-SHA256 ---------- */

static bool acs3_signed(const char *name)
{
    return strcmp(name, "host") == 0 || strcmp(name, "content-type") == 0 ||
           strncmp(name, "x-acs-", 6) == 0;
}

/* Canonical request and SignedHeaders (both owned by the caller). */
/* What follows the path in ACS3's and Huawei's canonical requests:
 * "\n" query "\n" headers "\n" signed-names "\n" payload (the signed
 * names also into sh). */
static void canon_tail(struct sb *b, struct sb *sh, const char *q, const struct hdrs *h,
                       const bool *use, const char *payload)
{
    sb_addc(b, '\n');
    sb_adds(b, q);
    sb_addc(b, '\n');
    canon_headers(b, sh, h, use);
    sb_addc(b, '\n');
    sb_add(b, sh->p ? sh->p : "", sh->len);
    sb_addc(b, '\n');
    sb_adds(b, payload);
}

/* Gives the owned string s to *ret, or frees it when ret is NULL (the
 * caller does not want it). */
static void hand_out(char *s, char **ret)
{
    if (ret != NULL)
        *ret = s;
    else
        free(s);
}

/* The canonical request b (returned) and its signed names sh (into
 * *ret_signed, or freed when it is NULL); NULL, both freed, after any
 * failure. */
static char *canon_finish(struct sb *b, struct sb *sh, char **ret_signed)
{
    char *canon = sb_done(b);
    char *signed_names = sb_done(sh);
    if (canon == NULL || signed_names == NULL) {
        free(canon);
        free(signed_names);
        return NULL;
    }
    hand_out(signed_names, ret_signed);
    return canon;
}

static char *acs3_build(const struct nh_sign_req *r, char **ret_signed)
{
    struct hdrs h;
    struct sb b = {0}, sh = {0};
    char payload[65];
    char *q;
    bool *use;

    if (!req_ok(r) || !hdrs_load(r, &h))
        return NULL;
    nh_sha256_hex(r->body, r->body_len, payload);
    const struct hdr *host = hdrs_get(&h, "host");
    const struct hdr *sha = hdrs_get(&h, "x-acs-content-sha256");
    /* The server checks the body against x-acs-content-sha256: a mismatch is
     * a caller bug, refused here rather than rejected by the cloud. */
    if (payload[0] == '\0' || host == NULL || host->vlen == 0 || sha == NULL ||
        !hdr_value_is(sha, payload)) {
        hdrs_free(&h);
        return NULL;
    }
    q = nh_acs3_query(r->query, r->n_query);
    use = calloc(h.n + 1, sizeof(*use));
    if (q == NULL || use == NULL) {
        free(q);
        free(use);
        hdrs_free(&h);
        return NULL;
    }
    for (size_t i = 0; i < h.n; i++)
        use[i] = acs3_signed(h.v[i].name);

    sb_adds(&b, r->method);
    sb_addc(&b, '\n');
    sb_adds(&b, req_path(r));
    canon_tail(&b, &sh, q, &h, use, payload);
    free(q);
    free(use);
    hdrs_free(&h);
    return canon_finish(&b, &sh, ret_signed);
}

char *nh_acs3_canonical(const struct nh_sign_req *r)
{
    return acs3_build(r, NULL);
}

static char *acs3_sts(const char *canon)
{
    return sts_of("ACS3-HMAC-SHA256", NULL, canon);
}

char *nh_acs3_string_to_sign(const struct nh_sign_req *r)
{
    char *canon = acs3_build(r, NULL);
    char *sts;
    if (canon == NULL)
        return NULL;
    sts = acs3_sts(canon);
    free(canon);
    return sts;
}

char *nh_acs3_authorization(const struct nh_sign_req *r, const char *ak, const unsigned char *sk,
                            size_t sk_len)
{
    char *signed_names = NULL, *canon, *sts = NULL;

    if (!key_usable(ak, sk, sk_len))
        return NULL;
    canon = acs3_build(r, &signed_names);
    if (canon != NULL)
        sts = acs3_sts(canon);
    char *out = authorize(sts, sk, sk_len, "ACS3-HMAC-SHA256 Credential=", ak, ",", signed_names);
    free(canon);
    free(sts);
    free(signed_names);
    return out;
}

/* ---------- legacy ROA HMAC-SHA1 ---------- */

/* Values that the SDKs put differently into the resource (see §2 of
 * signing.md): empty values, and '+', '*', '~' (rewritten by the old Go
 * SDK). Refused so that every verifier computes the same string. */
static bool roa_value_ok(const char *v)
{
    return v[0] != '\0' && strpbrk(v, "+*~") == NULL;
}

char *nh_roa_string_to_sign(const struct nh_sign_req *r)
{
    static const char *const std[] = {"accept", "content-md5", "content-type", "date"};
    struct hdrs h;
    struct sb b = {0}, unused = {0};
    bool *use, ok;
    const struct nh_kv **q;

    if (!req_ok(r) || !hdrs_load(r, &h))
        return NULL;
    q = query_sorted(r->query, r->n_query, &ok);
    use = calloc(h.n + 1, sizeof(*use));
    if (!ok || use == NULL) {
        free(q);
        free(use);
        hdrs_free(&h);
        return NULL;
    }
    for (size_t i = 0; i < r->n_query; i++) {
        if (!roa_value_ok(q[i]->value)) {
            free(q);
            free(use);
            hdrs_free(&h);
            return NULL;
        }
    }
    for (size_t i = 0; i < h.n; i++)
        use[i] = strncmp(h.v[i].name, "x-acs-", 6) == 0;

    sb_adds(&b, r->method);
    sb_addc(&b, '\n');
    for (size_t i = 0; i < sizeof(std) / sizeof(std[0]); i++) {
        const struct hdr *x = hdrs_get(&h, std[i]);
        if (x != NULL)
            sb_add(&b, x->value, x->vlen);
        sb_addc(&b, '\n');
    }
    canon_headers(&b, &unused, &h, use);
    sb_adds(&b, req_path(r));
    for (size_t i = 0; i < r->n_query; i++) {
        sb_addc(&b, i == 0 ? '?' : '&');
        sb_adds(&b, q[i]->key);
        sb_addc(&b, '=');
        sb_adds(&b, q[i]->value);
    }
    sb_discard(&unused);
    free(q);
    free(use);
    hdrs_free(&h);
    return sb_done(&b);
}

char *nh_roa_authorization(const struct nh_sign_req *r, const char *ak, const unsigned char *sk,
                           size_t sk_len)
{
    char *sts, *sig;
    struct sb b = {0};
    if (ak == NULL || ak[0] == '\0' || strpbrk(ak, ": \r\n") || !req_ok(r))
        return NULL;
    /* The body is signed only through Content-MD5: it must match the bytes
     * sent (checked here, not in the string to sign, which also formats the
     * published vector P3 with its placeholder "md5"). */
    for (size_t i = 0; i < r->n_headers && r->headers != NULL; i++) {
        const char *k = r->headers[i].key, *v = r->headers[i].value;
        if (k != NULL && v != NULL && strcasecmp(k, "content-md5") == 0) {
            char want[25];
            size_t vl = trim_ows(&v);
            nh_md5_base64(r->body, r->body_len, want);
            if (vl != strlen(want) || memcmp(v, want, vl) != 0)
                return NULL;
        }
    }
    sts = nh_roa_string_to_sign(r);
    if (sts == NULL)
        return NULL;
    sig = nh_roa_hmac_b64(sk, sk_len, sts);
    free(sts);
    if (sig == NULL)
        return NULL;
    sb_adds(&b, "acs ");
    sb_adds(&b, ak);
    sb_addc(&b, ':');
    sb_adds(&b, sig);
    free(sig);
    return sb_done(&b);
}

/* ---------- Huawei SDK-HMAC-SHA256 ---------- */

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Decodes the path, pct-encodes each segment, appends '/' (signing.md §3
 * step 1). false on a malformed escape or an escaped NUL. */
static bool huawei_uri(struct sb *b, const char *path)
{
    size_t n = strlen(path);
    struct sb seg = {0};
    bool ok = true;
    if (n == 0) {
        sb_addc(b, '/');
        return true;
    }
    for (size_t i = 0; i <= n && ok; i++) {
        if (i == n || path[i] == '/') {
            sb_pct(b, seg.p ? seg.p : "", seg.len);
            if (i < n)
                sb_addc(b, '/');
            seg.len = 0;
            continue;
        }
        if (path[i] == '%') {
            if (i + 2 >= n) {
                ok = false;
                break;
            }
            int h1 = hexval(path[i + 1]), h2 = hexval(path[i + 2]);
            if (h1 < 0 || h2 < 0 || (h1 == 0 && h2 == 0)) {
                ok = false;
                break;
            }
            char c = (char)(h1 * 16 + h2);
            sb_add(&seg, &c, 1);
            i += 2;
            continue;
        }
        sb_add(&seg, &path[i], 1);
    }
    if (seg.oom)
        ok = false;
    sb_discard(&seg);
    if (ok && (b->len == 0 || b->p[b->len - 1] != '/'))
        sb_addc(b, '/');
    return ok;
}

static const char *const huawei_default_names[] = {"content-type", "host", "x-project-id",
                                                   "x-sdk-date", "x-security-token"};

/* Marks the signed headers in use[]; false when a named header is missing,
 * a name is repeated, or x-sdk-date is not signed. */
static bool huawei_pick(const struct hdrs *h, const char *const *names, bool *use)
{
    bool date = false;
    if (names == NULL) {
        for (size_t i = 0; i < sizeof(huawei_default_names) / sizeof(huawei_default_names[0]);
             i++) {
            const char *nm = huawei_default_names[i];
            const struct hdr *x = hdrs_get(h, nm);
            bool optional = strcmp(nm, "content-type") == 0 || strcmp(nm, "x-security-token") == 0;
            if (x == NULL) {
                if (optional)
                    continue;
                return false;
            }
            use[x - h->v] = true;
        }
        return true;
    }
    for (size_t k = 0; names[k] != NULL; k++) {
        const struct hdr *x = hdrs_get(h, names[k]);
        if (x == NULL || use[x - h->v])
            return false;
        use[x - h->v] = true;
        if (strcmp(names[k], "x-sdk-date") == 0)
            date = true;
    }
    return date;
}

/* Canonical request, SignedHeaders and the X-Sdk-Date value (owned). */
static char *huawei_build(const struct nh_sign_req *r, const char *const *names, char **ret_signed,
                          char **ret_date)
{
    struct hdrs h;
    struct sb b = {0}, sh = {0};
    char payload[65];
    char *q, *canon, *date = NULL;
    bool *use;

    if (!req_ok(r) || !hdrs_load(r, &h))
        return NULL;
    const struct hdr *d = hdrs_get(&h, "x-sdk-date");
    const struct hdr *host = hdrs_get(&h, "host");
    /* APIG uses X-Sdk-Content-Sha256 (e.g. UNSIGNED-PAYLOAD) in place of the
     * body hash when the request carries it: sign what the verifier checks. */
    const struct hdr *csha = hdrs_get(&h, "x-sdk-content-sha256");
    if (d == NULL || d->vlen == 0 || (host != NULL && host->vlen == 0)) {
        hdrs_free(&h);
        return NULL;
    }
    if (csha != NULL) {
        if (csha->vlen == 0 || csha->vlen >= sizeof(payload)) {
            hdrs_free(&h);
            return NULL;
        }
        memcpy(payload, csha->value, csha->vlen);
        payload[csha->vlen] = '\0';
    } else {
        nh_sha256_hex(r->body, r->body_len, payload);
    }
    q = nh_huawei_query(r->query, r->n_query);
    use = calloc(h.n + 1, sizeof(*use));
    date = strndup(d->value, d->vlen);
    if (q == NULL || use == NULL || date == NULL || payload[0] == '\0' ||
        !huawei_pick(&h, names, use)) {
        free(q);
        free(use);
        free(date);
        hdrs_free(&h);
        return NULL;
    }
    sb_adds(&b, r->method);
    sb_addc(&b, '\n');
    if (!huawei_uri(&b, r->path))
        b.oom = true; /* refused: reported as NULL like a failure */
    canon_tail(&b, &sh, q, &h, use, payload);
    free(q);
    free(use);
    hdrs_free(&h);
    canon = canon_finish(&b, &sh, ret_signed);
    if (canon == NULL) {
        free(date);
        return NULL;
    }
    hand_out(date, ret_date);
    return canon;
}

char *nh_huawei_canonical(const struct nh_sign_req *r, const char *const *signed_names)
{
    return huawei_build(r, signed_names, NULL, NULL);
}

static char *huawei_sts(const char *canon, const char *date)
{
    return sts_of("SDK-HMAC-SHA256", date, canon);
}

char *nh_huawei_string_to_sign(const struct nh_sign_req *r, const char *const *signed_names)
{
    char *date = NULL, *sts;
    char *canon = huawei_build(r, signed_names, NULL, &date);
    if (canon == NULL)
        return NULL;
    sts = huawei_sts(canon, date);
    free(canon);
    free(date);
    return sts;
}

char *nh_huawei_authorization(const struct nh_sign_req *r, const char *const *signed_names,
                              const char *ak, const unsigned char *sk, size_t sk_len)
{
    char *date = NULL, *signed_h = NULL, *canon, *sts = NULL;

    if (!key_usable(ak, sk, sk_len))
        return NULL;
    canon = huawei_build(r, signed_names, &signed_h, &date);
    if (canon != NULL)
        sts = huawei_sts(canon, date);
    char *out = authorize(sts, sk, sk_len, "SDK-HMAC-SHA256 Access=", ak, ", ", signed_h);
    free(canon);
    free(sts);
    free(date);
    free(signed_h);
    return out;
}

/* ---------- dates and nonces ---------- */

static bool utc(long long unix_s, struct tm *tm)
{
    time_t t = (time_t)unix_s;
    if ((long long)t != unix_s)
        return false;
    return gmtime_r(&t, tm) != NULL && tm->tm_year + 1900 >= 0 && tm->tm_year + 1900 <= 9999;
}

void nh_date_acs3(long long unix_s, char out[32])
{
    struct tm tm;
    out[0] = '\0';
    if (utc(unix_s, &tm))
        strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

void nh_date_rfc1123(long long unix_s, char out[40])
{
    /* Not strftime's %a/%b: those follow the locale. */
    static const char *const days[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
    static const char *const months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                         "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    struct tm tm;
    char rest[32];
    out[0] = '\0';
    if (!utc(unix_s, &tm) || tm.tm_wday < 0 || tm.tm_wday > 6 || tm.tm_mon < 0 || tm.tm_mon > 11)
        return;
    if (strftime(rest, sizeof(rest), "%Y %H:%M:%S GMT", &tm) == 0)
        return;
    memcpy(out, days[tm.tm_wday], 3);
    memcpy(out + 3, ", ", 2);
    out[5] = (char)('0' + tm.tm_mday / 10);
    out[6] = (char)('0' + tm.tm_mday % 10);
    out[7] = ' ';
    memcpy(out + 8, months[tm.tm_mon], 3);
    out[11] = ' ';
    memcpy(out + 12, rest, strlen(rest) + 1);
}

void nh_date_huawei(long long unix_s, char out[32])
{
    struct tm tm;
    out[0] = '\0';
    if (utc(unix_s, &tm))
        strftime(out, 32, "%Y%m%dT%H%M%SZ", &tm);
}

int nh_nonce(char out[33])
{
    unsigned char r[16];
    out[0] = '\0';
    if (RAND_bytes(r, sizeof(r)) != 1)
        return -EIO;
    to_hex(r, sizeof(r), out);
    return 0;
}
