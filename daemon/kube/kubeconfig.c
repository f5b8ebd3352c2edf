/* kubeconfig.c - see kubeconfig.h. YAML goes through config/yaml.c's tree
 * (anchors, aliases and tags refused, depth and size bounded), is turned
 * into a json-c tree, and then one walker reads both formats. */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "config/diag.h"
#include "config/ytree.h"
#include "kube/internal.h"
#include "net/http.h"

#define MAX_NAME 253
#define MAX_SERVER 2048

/* ---- base64 ---- */

static int b64_value(unsigned char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+')
        return 62;
    if (c == '/')
        return 63;
    return -1;
}

int nh_base64_decode(const char *in, size_t len, unsigned char **ret, size_t *ret_len,
                     size_t *bad_at)
{
    size_t cap = len / 4 * 3 + 3;
    unsigned char *out = malloc(cap + 1);
    if (out == NULL)
        return -ENOMEM;
    size_t n = 0, quad = 0, pad = 0, i;
    uint32_t acc = 0;
    for (i = 0; i < len; i++) {
        unsigned char c = (unsigned char)in[i];
        if (c == '\r' || c == '\n')
            continue;
        if (pad > 0 && quad == 0)
            goto fail; /* padding ended the data */
        int v = 0;
        if (c == '=') {
            if (quad < 2) /* "=" can only be the 3rd or 4th of a group */
                goto fail;
            pad++;
        } else {
            v = b64_value(c);
            if (v < 0 || pad > 0) /* only "=" may follow a "=" */
                goto fail;
        }
        acc = acc << 6 | (uint32_t)v;
        if (++quad < 4)
            continue;
        out[n++] = (unsigned char)(acc >> 16);
        if (pad < 2)
            out[n++] = (unsigned char)(acc >> 8);
        if (pad < 1)
            out[n++] = (unsigned char)acc;
        quad = 0;
        acc = 0;
    }
    if (quad != 0)
        goto fail; /* i == len: the last group is short */
    out[n] = '\0';
    *ret = out;
    *ret_len = n;
    return 0;
fail:
    explicit_bzero(out, cap + 1);
    free(out);
    if (bad_at != NULL)
        *bad_at = i;
    return -EINVAL;
}

/* ---- YAML tree -> json-c tree ---- */

static void ynode_wipe(struct nh_ynode *n)
{
    if (n == NULL)
        return;
    if (n->str != NULL)
        explicit_bzero(n->str, n->len);
    for (size_t i = 0; n->type == NH_Y_MAP && i < n->n; i++)
        ynode_wipe(n->pairs[i].val);
    for (size_t i = 0; n->type == NH_Y_SEQ && i < n->n; i++)
        ynode_wipe(n->items[i]);
}

/* Plain true/false become booleans, plain null/~/empty become null; every
 * other scalar stays a string (kubeconfig fields are strings). */
static int y2j(const struct nh_ynode *n, struct json_object **ret, struct nh_kerr *e)
{
    struct json_object *o = NULL;
    switch (n->type) {
    case NH_Y_SCALAR:
        if (n->plain && (strcmp(n->str, "true") == 0 || strcmp(n->str, "false") == 0)) {
            o = json_object_new_boolean(n->str[0] == 't');
        } else if (n->plain &&
                   (n->len == 0 || strcmp(n->str, "null") == 0 || strcmp(n->str, "~") == 0)) {
            *ret = NULL; /* JSON null */
            return 0;
        } else {
            o = json_object_new_string_len(n->str, (int)n->len);
        }
        break;
    case NH_Y_SEQ:
        o = json_object_new_array();
        for (size_t i = 0; o != NULL && i < n->n; i++) {
            struct json_object *v;
            int r = y2j(n->items[i], &v, e);
            if (r < 0) {
                json_object_put(o);
                return r;
            }
            if (json_object_array_add(o, v) != 0) {
                json_object_put(v);
                json_object_put(o);
                return -ENOMEM;
            }
        }
        break;
    case NH_Y_MAP:
        o = json_object_new_object();
        for (size_t i = 0; o != NULL && i < n->n; i++) {
            const struct nh_ypair *p = &n->pairs[i];
            for (size_t j = 0; j < i; j++) {
                if (strcmp(n->pairs[j].key, p->key) == 0) {
                    json_object_put(o);
                    return nh_kerr_set(e, "line %d:%d: duplicate key \"%.64s\" (first at %d:%d)",
                                       p->line, p->col, p->key, n->pairs[j].line, n->pairs[j].col);
                }
            }
            struct json_object *v;
            int r = y2j(p->val, &v, e);
            if (r < 0) {
                json_object_put(o);
                return r;
            }
            if (json_object_object_add(o, p->key, v) != 0) {
                json_object_put(v);
                json_object_put(o);
                return -ENOMEM;
            }
        }
        break;
    }
    if (o == NULL)
        return -ENOMEM;
    *ret = o;
    return 0;
}

static struct json_object *parse_yaml(const char *data, size_t len, struct nh_kerr *e, int *rc)
{
    struct nh_diag d;
    struct nh_ynode *tree = NULL;
    nh_diag_init(&d);
    int r = nh_yaml_parse("kubeconfig", data, len, &tree, &d);
    if (r < 0) {
        if (r == -ENODATA)
            nh_kerr_set(e, "is empty; expected a kubeconfig (clusters, users, contexts)");
        else if (d.n > 0)
            nh_kerr_set(e, "line %d:%d: %s", d.entries[0].line, d.entries[0].col, d.entries[0].msg);
        else
            nh_kerr_set(e, "cannot be parsed as YAML (%s)", strerror(-r));
        nh_diag_free(&d);
        *rc = r == -ENOMEM ? -ENOMEM : -EINVAL;
        return NULL;
    }
    nh_diag_free(&d);
    struct json_object *root = NULL;
    r = y2j(tree, &root, e);
    ynode_wipe(tree);
    nh_ynode_free(tree);
    if (r < 0) {
        *rc = r;
        if (r == -ENOMEM)
            nh_kerr_set(e, "out of memory");
        return NULL;
    }
    if (root == NULL || !json_object_is_type(root, json_type_object)) {
        nh_kerr_set(e, "expected a map at the top (apiVersion, clusters, users, contexts), got %s",
                    root == NULL ? "nothing" : nh_kj_type(root));
        nh_kj_wipe(root);
        json_object_put(root);
        *rc = -EINVAL;
        return NULL;
    }
    return root;
}

/* ---- the walker ---- */

struct walk {
    struct nh_kerr *e;
    const char *src;
};

static int oom(struct walk *w)
{
    nh_kerr_set(w->e, "%s: out of memory", w->src);
    return -ENOMEM;
}

static int get_str(struct walk *w, struct json_object *o, const char *key, bool required,
                   const char *where, const char **out)
{
    struct json_object *v = nh_kj_get(o, key);
    *out = NULL;
    if (v == NULL) {
        if (required)
            return nh_kerr_set(w->e, "%s: %s.%s is missing", w->src, where, key);
        return 0;
    }
    if (!json_object_is_type(v, json_type_string))
        return nh_kerr_set(w->e, "%s: %s.%s: expected a string, got %s", w->src, where, key,
                           nh_kj_type(v));
    *out = json_object_get_string(v);
    if ((size_t)json_object_get_string_len(v) != strlen(*out))
        return nh_kerr_set(w->e, "%s: %s.%s: contains a NUL character", w->src, where, key);
    return 0;
}

static bool name_ok(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > MAX_NAME)
        return false;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
            return false;
    return true;
}

/* Finds the one entry of list `key` whose "name" is `name`; *ret_body is
 * its `body` member (an object). Every entry must be an object with a
 * string name: a malformed list is refused, not skipped. */
static int find_entry(struct walk *w, struct json_object *root, const char *key, const char *body,
                      const char *name, struct json_object **ret_body, char *where, size_t wherelen)
{
    struct json_object *list = nh_kj_get(root, key);
    if (list == NULL)
        return nh_kerr_set(w->e, "%s: %s is missing; the kubeconfig must list %s", w->src, key,
                           key);
    if (!json_object_is_type(list, json_type_array))
        return nh_kerr_set(w->e, "%s: %s: expected a list, got %s", w->src, key, nh_kj_type(list));
    size_t n = json_object_array_length(list);
    if (n > NH_KUBECONFIG_MAX_ENTRIES)
        return nh_kerr_set(w->e, "%s: %s: %zu entries, more than %d; trim the kubeconfig", w->src,
                           key, n, NH_KUBECONFIG_MAX_ENTRIES);
    char names[256] = "";
    long found = -1;
    for (size_t i = 0; i < n; i++) {
        struct json_object *it = json_object_array_get_idx(list, i);
        char at[64];
        snprintf(at, sizeof(at), "%s[%zu]", key, i);
        if (it == NULL || !json_object_is_type(it, json_type_object))
            return nh_kerr_set(w->e, "%s: %s: expected a map, got %s", w->src, at,
                               it == NULL ? "null" : nh_kj_type(it));
        const char *nm;
        int r = get_str(w, it, "name", true, at, &nm);
        if (r < 0)
            return r;
        if (strlen(names) + strlen(nm) + 8 < sizeof(names)) {
            if (names[0] != '\0')
                strcat(names, ", ");
            strcat(names, "\"");
            strncat(names, nm, 64);
            strcat(names, "\"");
        }
        if (strcmp(nm, name) != 0)
            continue;
        if (found >= 0)
            return nh_kerr_set(w->e,
                               "%s: %s: two entries are named \"%.64s\" (%s[%ld] and %s[%zu]); "
                               "names must be unique",
                               w->src, key, name, key, found, key, i);
        found = (long)i;
        snprintf(where, wherelen, "%s[%zu] (\"%.64s\").%s", key, i, name, body);
        struct json_object *b = nh_kj_get(it, body);
        if (b == NULL)
            return nh_kerr_set(w->e, "%s: %s.%s is missing", w->src, at, body);
        if (!json_object_is_type(b, json_type_object))
            return nh_kerr_set(w->e, "%s: %s.%s: expected a map, got %s", w->src, at, body,
                               nh_kj_type(b));
        *ret_body = b;
    }
    if (found < 0)
        return nh_kerr_set(w->e, "%s: %s has no entry named \"%.64s\" (it has: %s)", w->src, key,
                           name, names[0] ? names : "none");
    return 0;
}

/* A field the kubeconfig may carry but nodeherd refuses. */
struct refusal {
    const char *key;
    const char *why;
};

static int refuse_fields(struct walk *w, struct json_object *o, const char *where,
                         const struct refusal *list)
{
    for (size_t i = 0; list[i].key != NULL; i++)
        if (nh_kj_get(o, list[i].key) != NULL)
            return nh_kerr_set(w->e, "%s: %s.%s: %s", w->src, where, list[i].key, list[i].why);
    return 0;
}

#define DATA_ONLY                                                                                  \
    "is a file path; only the *-data form is supported (credentials stay in memory and "           \
    "nodeherd reads no file a kubeconfig names): embed it, e.g. `kubectl config view --raw "       \
    "--flatten --minify`"

static const struct refusal cluster_refusals[] = {
    {"certificate-authority", "certificate-authority " DATA_ONLY},
    {"tls-server-name", "is not supported; point server at a name the certificate holds"},
    {"proxy-url", "is not supported; reach the API server directly (a VPC address)"},
    {NULL, NULL},
};

#define USE_INSTEAD                                                                                \
    "; use a kubeconfig with a token or client-certificate-data + client-key-data (for ACK and "   \
    "CCE clusters nodeherd fetches one from the cloud)"

static const struct refusal user_refusals[] = {
    {"exec", "exec credential plugins are not supported (nodeherd runs no programs)" USE_INSTEAD},
    {"auth-provider", "auth-provider plugins are not supported" USE_INSTEAD},
    {"client-certificate", "client-certificate " DATA_ONLY},
    {"client-key", "client-key " DATA_ONLY},
    {"tokenFile", "tokenFile is a file path; put the token itself in `token`"},
    {"username", "basic authentication (username/password) is not supported" USE_INSTEAD},
    {"password", "basic authentication (username/password) is not supported" USE_INSTEAD},
    {"as", "impersonation is not supported; give the user its own credentials"},
    {"as-uid", "impersonation is not supported; give the user its own credentials"},
    {"as-groups", "impersonation is not supported; give the user its own credentials"},
    {"as-user-extra", "impersonation is not supported; give the user its own credentials"},
    {NULL, NULL},
};

static int no_passphrase(char *buf, int size, int rwflag, void *u)
{
    (void)buf;
    (void)size;
    (void)rwflag;
    (void)u;
    return -1; /* an encrypted key fails instead of prompting */
}

static int decode_field(struct walk *w, struct json_object *o, const char *key, const char *where,
                        unsigned char **ret, size_t *ret_len)
{
    const char *s;
    int r = get_str(w, o, key, false, where, &s);
    *ret = NULL;
    *ret_len = 0;
    if (r < 0 || s == NULL)
        return r;
    size_t bad = 0;
    r = nh_base64_decode(s, strlen(s), ret, ret_len, &bad);
    if (r == -ENOMEM)
        return oom(w);
    if (r < 0)
        return nh_kerr_set(w->e,
                           "%s: %s.%s: not valid base64 (at character %zu); it must be the "
                           "base64 of a PEM file",
                           w->src, where, key, bad);
    if (*ret_len == 0 || *ret_len > NH_KUBECONFIG_MAX_BLOB) {
        explicit_bzero(*ret, *ret_len);
        free(*ret);
        *ret = NULL;
        return nh_kerr_set(w->e, "%s: %s.%s: decodes to %zu bytes; expected 1..%d", w->src, where,
                           key, *ret_len, NH_KUBECONFIG_MAX_BLOB);
    }
    return 0;
}

static void wipe_free(unsigned char *p, size_t len)
{
    if (p != NULL)
        OPENSSL_cleanse(p, len);
    free(p);
}

static int64_t asn1_time_unix(const ASN1_TIME *t)
{
    struct tm tm;
    if (t == NULL || ASN1_TIME_to_tm(t, &tm) != 1)
        return 0;
    time_t v = timegm(&tm);
    return v < 0 ? 0 : (int64_t)v;
}

/* The CA bundle must hold at least one certificate. */
static int check_ca(struct walk *w, const unsigned char *pem, size_t len, const char *where)
{
    BIO *b = BIO_new_mem_buf(pem, (int)len);
    if (b == NULL)
        return oom(w);
    int n = 0;
    X509 *x;
    while ((x = PEM_read_bio_X509(b, NULL, no_passphrase, NULL)) != NULL) {
        X509_free(x);
        n++;
    }
    BIO_free(b);
    ERR_clear_error();
    if (n == 0)
        return nh_kerr_set(w->e,
                           "%s: %s.certificate-authority-data: holds no PEM certificate "
                           "(expected \"-----BEGIN CERTIFICATE-----\")",
                           w->src, where);
    return 0;
}

/* The client certificate and its key parse and belong together. */
static int check_pair(struct walk *w, const unsigned char *cert, size_t cert_len,
                      const unsigned char *key, size_t key_len, const char *where,
                      int64_t *not_after)
{
    int r = 0;
    X509 *x = NULL;
    EVP_PKEY *k = NULL;
    BIO *bc = BIO_new_mem_buf(cert, (int)cert_len);
    BIO *bk = BIO_new_mem_buf(key, (int)key_len);
    if (bc == NULL || bk == NULL) {
        r = oom(w);
        goto out;
    }
    const char *fault = NULL; /* what follows "<src>: <where>" */
    if ((x = PEM_read_bio_X509(bc, NULL, no_passphrase, NULL)) == NULL)
        fault = ".client-certificate-data: not a PEM certificate (expected "
                "\"-----BEGIN CERTIFICATE-----\")";
    else if ((k = PEM_read_bio_PrivateKey(bk, NULL, no_passphrase, NULL)) == NULL)
        fault = ".client-key-data: not an unencrypted PEM private key (encrypted keys are not "
                "supported)";
    else if (X509_check_private_key(x, k) != 1)
        fault = ": client-key-data is not the key of client-certificate-data; take both from the "
                "same kubeconfig";
    if (fault != NULL)
        r = nh_kerr_set(w->e, "%s: %s%s", w->src, where, fault);
    else
        *not_after = asn1_time_unix(X509_get0_notAfter(x));
out:
    EVP_PKEY_free(k);
    X509_free(x);
    BIO_free(bc);
    BIO_free(bk);
    ERR_clear_error();
    return r;
}

static int check_server(struct walk *w, const char *server, const char *where, bool *https)
{
    char why[256];
    size_t n = strlen(server);
    if (n == 0 || n > MAX_SERVER)
        return nh_kerr_set(w->e, "%s: %s.server: expected an https:// URL of 1..%d characters",
                           w->src, where, MAX_SERVER);
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)server[i] <= 0x20 || server[i] == 0x7f)
            return nh_kerr_set(w->e, "%s: %s.server: contains blanks or control characters", w->src,
                               where);
    if (nh_http_check_url(server, why, sizeof(why)) < 0)
        return nh_kerr_set(w->e, "%s: %s.server: %s", w->src, where, why);
    /* libcurl's parser forgives "https:/host"; we do not */
    bool tls = strncasecmp(server, "https://", 8) == 0;
    const char *auth = tls                                      ? server + 8
                       : strncasecmp(server, "http://", 7) == 0 ? server + 7
                                                                : NULL;
    size_t alen = auth != NULL ? strcspn(auth, "/?#") : 0;
    if (alen == 0)
        return nh_kerr_set(w->e, "%s: %s.server: expected https://HOST[:PORT][/PATH]", w->src,
                           where);
    if (memchr(auth, '@', alen) != NULL)
        return nh_kerr_set(w->e, "%s: %s.server: user information in the URL is not supported",
                           w->src, where);
    if (strpbrk(server, "?#") != NULL)
        return nh_kerr_set(w->e, "%s: %s.server: a query or fragment is not supported", w->src,
                           where);
    *https = tls;
    return 0;
}

/* The server without trailing '/', its scheme in lower case. */
static char *dup_trimmed_server(const char *s)
{
    size_t n = strlen(s);
    while (n > 0 && s[n - 1] == '/')
        n--;
    char *d = strndup(s, n);
    for (char *p = d; p != NULL && *p != '\0' && *p != ':'; p++)
        *p = (char)tolower((unsigned char)*p);
    return d;
}

static int token_check(struct walk *w, const char *t, const char *where)
{
    size_t n = strlen(t);
    if (n == 0)
        return nh_kerr_set(w->e, "%s: %s.token: is empty", w->src, where);
    if (n > NH_KUBECONFIG_MAX_TOKEN)
        return nh_kerr_set(w->e, "%s: %s.token: longer than %d bytes", w->src, where,
                           NH_KUBECONFIG_MAX_TOKEN);
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)t[i] <= 0x20 || (unsigned char)t[i] >= 0x7f)
            return nh_kerr_set(w->e,
                               "%s: %s.token: holds a character that cannot go in an HTTP "
                               "header (at byte %zu)",
                               w->src, where, i);
    return 0;
}

/* The context to use (want_context, else current-context) and the names of
 * its cluster and user, into kc. 0, or -errno with w->e set. */
static int walk_context(struct walk *w, struct json_object *root, const char *want_context,
                        struct nh_kubeconfig *kc)
{
    const char *s, *cur = NULL;
    int r;

    r = get_str(w, root, "kind", false, "(top)", &s);
    if (r < 0)
        return r;
    if (s != NULL && strcmp(s, "Config") != 0)
        return nh_kerr_set(w->e, "%s: kind is \"%.32s\", expected \"Config\"", w->src, s);
    r = get_str(w, root, "current-context", false, "(top)", &cur);
    if (r < 0)
        return r;
    const char *ctx_name = want_context;
    if (ctx_name == NULL) {
        if (cur == NULL || cur[0] == '\0')
            return nh_kerr_set(w->e,
                               "%s: current-context is not set and no context was named; set "
                               "current-context or name the context to use",
                               w->src);
        ctx_name = cur;
    }
    if (!name_ok(ctx_name))
        return nh_kerr_set(w->e, "%s: context name: expected 1..%d printable characters", w->src,
                           MAX_NAME);

    char where[160];
    struct json_object *ctx = NULL;
    r = find_entry(w, root, "contexts", "context", ctx_name, &ctx, where, sizeof(where));
    if (r < 0)
        return r;
    const char *cluster_name, *user_name;
    if ((r = get_str(w, ctx, "cluster", true, where, &cluster_name)) < 0 ||
        (r = get_str(w, ctx, "user", true, where, &user_name)) < 0)
        return r;
    if (!name_ok(cluster_name) || !name_ok(user_name))
        return nh_kerr_set(w->e, "%s: %s: cluster and user: expected 1..%d printable characters",
                           w->src, where, MAX_NAME);
    kc->context = strdup(ctx_name);
    kc->cluster = strdup(cluster_name);
    kc->user = strdup(user_name);
    if (kc->context == NULL || kc->cluster == NULL || kc->user == NULL)
        return oom(w);
    return 0;
}

/* The entry called name in the list key (find_entry), refused when it
 * holds a field of refusals. */
static int find_allowed(struct walk *w, struct json_object *root, const char *key, const char *body,
                        const char *name, const struct refusal *refusals,
                        struct json_object **ret_body, char *where, size_t wherelen)
{
    int r = find_entry(w, root, key, body, name, ret_body, where, wherelen);
    if (r < 0)
        return r;
    return refuse_fields(w, *ret_body, where, refusals);
}

/* The cluster kc->cluster: its server (verified TLS only) and CA. */
static int walk_cluster(struct walk *w, struct json_object *root, const char *want_context,
                        struct nh_kubeconfig *kc)
{
    char where[160];
    struct json_object *cluster = NULL;
    int r = find_allowed(w, root, "clusters", "cluster", kc->cluster, cluster_refusals, &cluster,
                         where, sizeof(where));
    if (r < 0)
        return r;
    struct json_object *insecure = nh_kj_get(cluster, "insecure-skip-tls-verify");
    if (insecure != NULL &&
        !(json_object_is_type(insecure, json_type_boolean) && !json_object_get_boolean(insecure)))
        return nh_kerr_set(w->e,
                           "%s: %s.insecure-skip-tls-verify: nodeherd always verifies the API "
                           "server's certificate; remove it and give certificate-authority-data%s",
                           w->src, where,
                           want_context != NULL
                               ? ""
                               : " (or name a context whose cluster has it, e.g. CCE's "
                                 "\"internal\")");
    const char *server;
    if ((r = get_str(w, cluster, "server", true, where, &server)) < 0)
        return r;
    if ((r = check_server(w, server, where, &kc->https)) < 0)
        return r;
    kc->server = dup_trimmed_server(server);
    if (kc->server == NULL)
        return oom(w);
    r = decode_field(w, cluster, "certificate-authority-data", where, &kc->ca, &kc->ca_len);
    if (r < 0)
        return r;
    if (kc->https && kc->ca == NULL)
        return nh_kerr_set(w->e,
                           "%s: %s.certificate-authority-data is missing; nodeherd needs the "
                           "cluster's CA to verify %s (the system CAs are not used for it)",
                           w->src, where, kc->server);
    if (kc->ca != NULL && (r = check_ca(w, kc->ca, kc->ca_len, where)) < 0)
        return r;
    return 0;
}

/* The user's client certificate and key, both or neither; the key is
 * wiped from memory once it is a secret. */
static int walk_client_cert(struct walk *w, struct json_object *user, const char *where,
                            struct nh_kubeconfig *kc)
{
    unsigned char *key = NULL;
    size_t key_len = 0;
    int r = decode_field(w, user, "client-certificate-data", where, &kc->cert, &kc->cert_len);
    if (r == 0)
        r = decode_field(w, user, "client-key-data", where, &key, &key_len);
    if (r < 0) {
        wipe_free(key, key_len);
        return r;
    }
    if ((kc->cert != NULL) != (key != NULL)) {
        wipe_free(key, key_len);
        return nh_kerr_set(w->e,
                           "%s: %s: client-certificate-data and client-key-data go together; "
                           "%s is missing",
                           w->src, where,
                           kc->cert != NULL ? "client-key-data" : "client-certificate-data");
    }
    if (key != NULL) {
        r = check_pair(w, kc->cert, kc->cert_len, key, key_len, where, &kc->not_after);
        if (r == 0) {
            kc->key = nh_secret_new(key, key_len, "kubeconfig client-key-data");
            if (kc->key == NULL)
                r = oom(w);
        }
        wipe_free(key, key_len);
        if (r < 0)
            return r;
    }
    return 0;
}

/* The user kc->user: a token, a client certificate, or both; not neither. */
static int walk_user(struct walk *w, struct json_object *root, struct nh_kubeconfig *kc)
{
    char where[160];
    struct json_object *user = NULL;
    int r = find_allowed(w, root, "users", "user", kc->user, user_refusals, &user, where,
                         sizeof(where));
    if (r < 0)
        return r;
    const char *token;
    if ((r = get_str(w, user, "token", false, where, &token)) < 0)
        return r;
    if (token != NULL) {
        if ((r = token_check(w, token, where)) < 0)
            return r;
        kc->token = nh_secret_new(token, strlen(token), "kubeconfig token");
        if (kc->token == NULL)
            return oom(w);
    }
    if ((r = walk_client_cert(w, user, where, kc)) < 0)
        return r;
    if (kc->token == NULL && kc->key == NULL)
        return nh_kerr_set(w->e,
                           "%s: %s: no credentials; give token, or client-certificate-data and "
                           "client-key-data",
                           w->src, where);
    return 0;
}

static int walk(struct walk *w, struct json_object *root, const char *want_context,
                struct nh_kubeconfig *kc)
{
    int r = walk_context(w, root, want_context, kc);
    if (r == 0)
        r = walk_cluster(w, root, want_context, kc);
    if (r == 0)
        r = walk_user(w, root, kc);
    return r;
}

static int describe(struct nh_kubeconfig *kc)
{
    char buf[1024];
    const char *how = kc->key != NULL && kc->token != NULL ? "client certificate and token"
                      : kc->key != NULL                    ? "client certificate"
                                                           : "token";
    snprintf(buf, sizeof(buf), "context \"%.64s\" (cluster \"%.64s\", user \"%.64s\", %.256s, %s)",
             kc->context, kc->cluster, kc->user, kc->server, how);
    kc->describe = strdup(buf);
    return kc->describe != NULL ? 0 : -ENOMEM;
}

int nh_kubeconfig_parse(const char *data, size_t len, enum nh_kubeconfig_format fmt,
                        const char *context, const char *source, struct nh_kubeconfig **ret,
                        char *err, size_t errlen)
{
    char dummy[8];
    if (err == NULL || errlen == 0) {
        err = dummy;
        errlen = sizeof(dummy);
    }
    err[0] = '\0';
    struct nh_kerr e = {err, errlen};
    struct walk w = {&e, source != NULL ? source : "kubeconfig"};
    if (ret == NULL)
        return -EINVAL;
    if (data == NULL || len == 0)
        return nh_kerr_set(&e, "%s: is empty; expected a kubeconfig", w.src);
    if (len > NH_KUBECONFIG_MAX_BYTES) {
        nh_kerr_set(&e, "%s: is %zu bytes, more than %d; trim it to the one cluster", w.src, len,
                    NH_KUBECONFIG_MAX_BYTES);
        return -EFBIG;
    }
    if (fmt == NH_KUBECONFIG_AUTO) {
        size_t i = 0;
        while (i < len && isspace((unsigned char)data[i]))
            i++;
        fmt = i < len && data[i] == '{' ? NH_KUBECONFIG_JSON : NH_KUBECONFIG_YAML;
    }
    int rc = -EINVAL;
    struct json_object *root;
    char perr[256] = "";
    struct nh_kerr pe = {perr, sizeof(perr)};
    if (fmt == NH_KUBECONFIG_JSON) {
        root = nh_kj_parse(data, len, true, &pe);
        if (root == NULL)
            return nh_kerr_set(&e, "%s: %s", w.src, perr);
    } else {
        root = parse_yaml(data, len, &pe, &rc);
        if (root == NULL) {
            nh_kerr_set(&e, "%s: %s", w.src, perr);
            return rc;
        }
    }
    struct nh_kubeconfig *kc = calloc(1, sizeof(*kc));
    if (kc == NULL) {
        nh_kj_wipe(root);
        json_object_put(root);
        return -ENOMEM;
    }
    int r = walk(&w, root, context, kc);
    if (r == 0)
        r = describe(kc);
    nh_kj_wipe(root);
    json_object_put(root);
    if (r < 0) {
        nh_kubeconfig_free(kc);
        return r;
    }
    *ret = kc;
    return 0;
}

void nh_kubeconfig_free(struct nh_kubeconfig *kc)
{
    if (kc == NULL)
        return;
    free(kc->context);
    free(kc->cluster);
    free(kc->user);
    free(kc->server);
    wipe_free(kc->ca, kc->ca_len);
    wipe_free(kc->cert, kc->cert_len);
    nh_secret_free(kc->key);
    nh_secret_free(kc->token);
    free(kc->describe);
    free(kc);
}

int nh_kubeconfig_check(const unsigned char *data, size_t len, char *err, size_t errlen)
{
    struct nh_kubeconfig *kc = NULL;
    int r = nh_kubeconfig_parse((const char *)data, len, NH_KUBECONFIG_AUTO, NULL, "kubeconfig",
                                &kc, err, errlen);
    nh_kubeconfig_free(kc);
    return r;
}

const char *nh_kubeconfig_context(const struct nh_kubeconfig *kc)
{
    return kc != NULL ? kc->context : NULL;
}

const char *nh_kubeconfig_server(const struct nh_kubeconfig *kc)
{
    return kc != NULL ? kc->server : NULL;
}

bool nh_kubeconfig_has_token(const struct nh_kubeconfig *kc)
{
    return kc != NULL && kc->token != NULL;
}

bool nh_kubeconfig_has_client_cert(const struct nh_kubeconfig *kc)
{
    return kc != NULL && kc->key != NULL;
}

int64_t nh_kubeconfig_cert_not_after(const struct nh_kubeconfig *kc)
{
    return kc != NULL ? kc->not_after : 0;
}

const char *nh_kubeconfig_describe(const struct nh_kubeconfig *kc)
{
    return kc != NULL ? kc->describe : "(no kubeconfig)";
}
