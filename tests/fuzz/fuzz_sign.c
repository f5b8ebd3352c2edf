/* fuzz_sign.c - the signing canonicalizers on arbitrary requests.
 *
 * Input layout: NUL-separated fields: method, path, then key/value pairs;
 * the first byte picks how many pairs are query parameters (the rest are
 * headers); whatever follows the last pair is the body. Checks: nothing
 * crashes or leaks; pct() output is unreserved bytes or %XX (upper-case)
 * and decodes back to the input; the query canonicalizers agree; whenever
 * a canonical request is produced, the authorization for the same request
 * is produced too and never contains the secret. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sign/sign.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_FIELDS 34

static int hexv(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1; /* lower-case escapes are a bug */
}

static void check_pct(const char *in, size_t n)
{
    char *out = nh_pct_encode(in, n);
    if (out == NULL)
        return;
    size_t j = 0;
    for (size_t i = 0; out[i] != '\0'; j++) {
        unsigned char c = (unsigned char)out[i];
        if (c == '%') {
            int h = hexv(out[i + 1]), l = h < 0 ? -1 : hexv(out[i + 2]);
            if (h < 0 || l < 0 || j >= n || (unsigned char)in[j] != (unsigned)(h * 16 + l))
                abort();
            i += 3;
        } else {
            int unres = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
                        (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.' || c == '~';
            if (!unres || j >= n || (unsigned char)in[j] != c)
                abort();
            i++;
        }
    }
    if (j != n)
        abort();
    free(out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const unsigned char sk[] = "fuzz-secret-XYZ";
    char *buf, *fields[MAX_FIELDS];
    size_t nf = 0, pos = 1;
    struct nh_kv kv[MAX_FIELDS / 2];

    if (size < 1)
        return 0;
    check_pct((const char *)data, size);
    buf = malloc(size + 1);
    if (buf == NULL)
        return 0;
    memcpy(buf, data, size);
    buf[size] = '\0';
    while (nf < MAX_FIELDS && pos < size) {
        fields[nf++] = buf + pos;
        pos += strlen(buf + pos) + 1;
    }
    if (nf < 2) {
        free(buf);
        return 0;
    }
    size_t npairs = (nf - 2) / 2;
    for (size_t i = 0; i < npairs; i++) {
        kv[i].key = fields[2 + 2 * i];
        kv[i].value = fields[3 + 2 * i];
    }
    size_t nq = npairs ? (size_t)data[0] % (npairs + 1) : 0;
    const char *body = pos < size ? buf + pos : NULL;
    size_t body_len = pos < size ? size - pos : 0;
    struct nh_sign_req r = {.method = fields[0],
                            .path = fields[1],
                            .query = kv,
                            .n_query = nq,
                            .headers = kv + nq,
                            .n_headers = npairs - nq,
                            .body = body,
                            .body_len = body_len};

    char *a = nh_acs3_query(r.query, r.n_query);
    char *b = nh_huawei_query(r.query, r.n_query);
    if ((a == NULL) != (b == NULL) || (a != NULL && strcmp(a, b) != 0))
        abort();
    free(a);
    free(b);

    char *canon = nh_acs3_canonical(&r);
    char *auth = nh_acs3_authorization(&r, "AK", sk, sizeof(sk) - 1);
    if ((canon != NULL) != (auth != NULL) || (auth && strstr(auth, (const char *)sk)))
        abort();
    free(canon);
    free(auth);
    free(nh_acs3_string_to_sign(&r));

    canon = nh_roa_string_to_sign(&r);
    auth = nh_roa_authorization(&r, "AK", sk, sizeof(sk) - 1);
    if ((canon == NULL && auth != NULL) || (auth && strstr(auth, (const char *)sk)))
        abort();
    free(canon);
    free(auth);

    static const char *const names[] = {"x-sdk-date", "host", NULL};
    const char *const *lists[] = {NULL, names};
    for (int i = 0; i < 2; i++) {
        canon = nh_huawei_canonical(&r, lists[i]);
        auth = nh_huawei_authorization(&r, lists[i], "AK", sk, sizeof(sk) - 1);
        if ((canon != NULL) != (auth != NULL) || (auth && strstr(auth, (const char *)sk)))
            abort();
        free(canon);
        free(auth);
        free(nh_huawei_string_to_sign(&r, lists[i]));
    }
    free(buf);
    return 0;
}
