/* fuzz_kubeconfig.c - nh_kubeconfig_parse on arbitrary bytes.
 *
 * Input layout: the first byte picks the format (byte % 3: AUTO, YAML,
 * JSON) and the context ((byte / 3) % 2: current-context, or "internal" as
 * for CCE); the rest is the kubeconfig.
 *
 * Checks, whatever the input: no crash, leak or undefined behaviour; the
 * result is 0 with credentials, or a negative errno with a non-empty,
 * NUL-terminated message starting with the source name and no credentials;
 * *ret is set only on success; a parsed kubeconfig has a server (https://,
 * or http:// to loopback), a CA for https, a token or a client certificate,
 * and a description that carries neither the token nor the key (unless the
 * input also put it into a name or the server, which the description shows). */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "config/secret.h"
#include "kube/internal.h"
#include "kube/kubeconfig.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static bool contains(const char *hay, const unsigned char *needle, size_t n)
{
    if (n < 8) /* short values may well appear by chance */
        return false;
    size_t h = strlen(hay);
    for (size_t i = 0; i + n <= h; i++)
        if (memcmp(hay + i, needle, n) == 0)
            return true;
    return false;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    static const enum nh_kubeconfig_format fmts[] = {NH_KUBECONFIG_AUTO, NH_KUBECONFIG_YAML,
                                                     NH_KUBECONFIG_JSON};
    enum nh_kubeconfig_format fmt = fmts[data[0] % 3];
    const char *context = (data[0] / 3) % 2 ? "internal" : NULL;
    char err[512];
    memset(err, 'x', sizeof(err));
    struct nh_kubeconfig *kc = (struct nh_kubeconfig *)(uintptr_t)1;
    int r = nh_kubeconfig_parse((const char *)data + 1, size - 1, fmt, context, "fuzz", &kc, err,
                                sizeof(err));
    if (memchr(err, '\0', sizeof(err)) == NULL)
        abort();
    if (r > 0)
        abort();
    if (r < 0) {
        if (kc != (struct nh_kubeconfig *)(uintptr_t)1 || strncmp(err, "fuzz: ", 6) != 0)
            abort();
        return 0;
    }
    if (kc == NULL || err[0] != '\0')
        abort();
    const char *server = nh_kubeconfig_server(kc);
    if (server == NULL ||
        (strncmp(server, "https://", 8) != 0 && strncmp(server, "http://", 7) != 0))
        abort();
    if (kc->https && (kc->ca == NULL || kc->ca_len == 0))
        abort();
    if (!nh_kubeconfig_has_token(kc) && !nh_kubeconfig_has_client_cert(kc))
        abort();
    if ((kc->cert != NULL) != (kc->key != NULL))
        abort();
    /* The description names context, cluster, user and server: a secret
     * may show there only when the input also wrote it into one of those
     * (the fuzzer learns the seed's token and puts it anywhere). */
    const char *d = nh_kubeconfig_describe(kc);
    const char *plain[] = {kc->context, kc->cluster, kc->user, kc->server};
    size_t n;
    for (int which = 0; which < 2; which++) {
        const unsigned char *t = nh_secret_bytes(which == 0 ? kc->token : kc->key, &n);
        if (n > 64)
            n = 64;
        if (t == NULL || !contains(d, t, n))
            continue;
        bool echoed = false;
        for (size_t i = 0; i < 4; i++)
            echoed = echoed || contains(plain[i], t, n);
        if (!echoed)
            abort();
    }
    nh_kubeconfig_free(kc);
    return 0;
}
