/* test_kube_kubeconfig.c - nh_kubeconfig_parse over a table of good and bad
 * kubeconfigs (YAML as ACK returns it, JSON as CCE returns it, operator
 * files), with certificates made at test time by kubesrv.py --gen (openssl
 * CLI) in a temporary directory. Every error must name the field and never
 * carry a secret. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>
#include <openssl/evp.h>

#include "kube/internal.h"
#include "kube/kubeconfig.h"
#include "kubesrv.h"
#include "util/buf.h"

#define TOKEN "tok-SECRET-0123456789"

static char g_dir[64];
static char *g_b64[8]; /* indexed by enum pem */
enum pem { P_CA, P_CERT, P_KEY, P_RSACERT, P_RSAKEY, P_ROGUEKEY, P_ENCKEY, P_N };
static const char *const g_files[P_N] = {"ca.pem",         "client.pem",     "client.key",
                                         "rsa-client.pem", "rsa-client.key", "rogue.key",
                                         "client-enc.key"};
static const char *const g_marks[P_N] = {"%CA%",     "%CERT%",     "%KEY%",   "%RSACERT%",
                                         "%RSAKEY%", "%ROGUEKEY%", "%ENCKEY%"};

static char *b64_file(const char *name, bool wrap)
{
    size_t len;
    char *pem = kubesrv_read(g_dir, name, &len);
    assert_non_null(pem);
    char *out = malloc(len / 3 * 4 + 8);
    assert_non_null(out);
    int n = EVP_EncodeBlock((unsigned char *)out, (const unsigned char *)pem, (int)len);
    free(pem);
    if (!wrap)
        return out;
    /* the same, with a line break every 64 characters (Go's decoder and ours skip them) */
    char *w = malloc((size_t)n + (size_t)n / 64 + 2);
    size_t j = 0;
    for (int i = 0; i < n; i++) {
        if (i > 0 && i % 64 == 0)
            w[j++] = '\n';
        w[j++] = out[i];
    }
    w[j] = '\0';
    free(out);
    return w;
}

static int group_setup(void **state)
{
    (void)state;
    if (kubesrv_pki(g_dir, sizeof(g_dir), "/tmp/nh-kubecfg-XXXXXX") < 0)
        return -1;
    for (int i = 0; i < P_N; i++)
        g_b64[i] = b64_file(g_files[i], false);
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    for (int i = 0; i < P_N; i++)
        free(g_b64[i]);
    kubesrv_rmdir(g_dir);
    return 0;
}

/* Replaces the %MARK%s of a template with the base64 of the files. */
static char *expand(const char *tpl)
{
    struct nh_buf b;
    nh_buf_init(&b, 0);
    for (const char *p = tpl; *p != '\0';) {
        int hit = -1;
        for (int i = 0; i < P_N && hit < 0; i++)
            if (strncmp(p, g_marks[i], strlen(g_marks[i])) == 0)
                hit = i;
        if (hit >= 0) {
            nh_buf_appends(&b, g_b64[hit]);
            p += strlen(g_marks[hit]);
        } else {
            nh_buf_append(&b, p, 1);
            p++;
        }
    }
    return nh_buf_steal(&b);
}

/* ---- the table ---- */

#define YAML_HEAD                                                                                  \
    "apiVersion: v1\nkind: Config\ncurrent-context: c\n"                                           \
    "contexts:\n- name: c\n  context: {cluster: k, user: u}\n"
#define CLUSTER_OK                                                                                 \
    "clusters:\n- name: k\n  cluster:\n    server: https://10.0.0.1:6443\n"                        \
    "    certificate-authority-data: %CA%\n"
#define USER_CERT                                                                                  \
    "users:\n- name: u\n  user:\n    client-certificate-data: %CERT%\n"                            \
    "    client-key-data: %KEY%\n"
#define USER_TOKEN "users:\n- name: u\n  user:\n    token: " TOKEN "\n"

/* CCE CreateKubernetesClusterCert: JSON, "internal" with CA data,
 * "external" with insecure-skip-tls-verify, current-context external. */
#define CCE_JSON                                                                                   \
    "{\"kind\":\"Config\",\"apiVersion\":\"v1\",\"preferences\":{},"                               \
    "\"clusters\":[{\"name\":\"internalCluster\",\"cluster\":{\"server\":"                         \
    "\"https://192.168.0.8:5443\",\"certificate-authority-data\":\"%CA%\"}},"                      \
    "{\"name\":\"externalCluster\",\"cluster\":{\"server\":\"https://1.2.3.4:5443\","              \
    "\"insecure-skip-tls-verify\":true}}],"                                                        \
    "\"users\":[{\"name\":\"user\",\"user\":{\"client-certificate-data\":\"%CERT%\","              \
    "\"client-key-data\":\"%KEY%\"}}],"                                                            \
    "\"contexts\":[{\"name\":\"internal\",\"context\":{\"cluster\":\"internalCluster\","           \
    "\"user\":\"user\"}},{\"name\":\"external\",\"context\":{\"cluster\":\"externalCluster\","     \
    "\"user\":\"user\"}}],\"current-context\":\"external\"}"

/* ACK DescribeClusterUserKubeconfig `config` (PrivateIpAddress=true). */
#define ACK_YAML                                                                                   \
    "apiVersion: v1\nclusters:\n- cluster:\n    server: https://192.168.0.100:6443\n"              \
    "    certificate-authority-data: %CA%\n  name: kubernetes\ncontexts:\n- context:\n"            \
    "    cluster: kubernetes\n    user: \"2756xxxxxxxx\"\n"                                        \
    "  name: 2756xxxxxxxx-c8f2d1e0a9b84c6e9f1d2a3b4c5d6e7f\n"                                      \
    "current-context: 2756xxxxxxxx-c8f2d1e0a9b84c6e9f1d2a3b4c5d6e7f\nkind: Config\n"               \
    "preferences: {}\nusers:\n- name: \"2756xxxxxxxx\"\n  user:\n"                                 \
    "    client-certificate-data: %CERT%\n    client-key-data: %KEY%\n"

struct row {
    const char *name;
    enum nh_kubeconfig_format fmt;
    const char *context;
    const char *tpl;
    int want;          /* 0 or the negative errno */
    const char *frag;  /* ok: expected server; error: a fragment of the message */
    const char *frag2; /* error: a second fragment (the field), or NULL */
};

static const struct row rows[] = {
    /* accepted */
    {"yaml client cert", NH_KUBECONFIG_AUTO, NULL, YAML_HEAD CLUSTER_OK USER_CERT, 0,
     "https://10.0.0.1:6443", NULL},
    {"yaml token", NH_KUBECONFIG_YAML, NULL, YAML_HEAD CLUSTER_OK USER_TOKEN, 0,
     "https://10.0.0.1:6443", NULL},
    {"ack answer", NH_KUBECONFIG_YAML, NULL, ACK_YAML, 0, "https://192.168.0.100:6443", NULL},
    {"cce json, internal by name", NH_KUBECONFIG_JSON, "internal", CCE_JSON, 0,
     "https://192.168.0.8:5443", NULL},
    {"cce json, auto format", NH_KUBECONFIG_AUTO, "internal", "  \n" CCE_JSON "\n", 0,
     "https://192.168.0.8:5443", NULL},
    {"rsa client key", NH_KUBECONFIG_YAML, NULL,
     YAML_HEAD CLUSTER_OK "users:\n- name: u\n  user:\n    client-certificate-data: %RSACERT%\n"
                          "    client-key-data: %RSAKEY%\n",
     0, "https://10.0.0.1:6443", NULL},
    {"token and cert", NH_KUBECONFIG_YAML, NULL,
     YAML_HEAD CLUSTER_OK USER_CERT "    token: " TOKEN "\n", 0, "https://10.0.0.1:6443", NULL},
    {"insecure false is fine", NH_KUBECONFIG_YAML, NULL,
     YAML_HEAD "clusters:\n- name: k\n  cluster:\n    server: https://h.example:6443/\n"
               "    insecure-skip-tls-verify: false\n    certificate-authority-data: %CA%\n"
               "    extensions: []\n" USER_TOKEN,
     0, "https://h.example:6443", NULL},
    {"http to loopback without CA", NH_KUBECONFIG_YAML, NULL,
     YAML_HEAD "clusters:\n- name: k\n  cluster:\n    server: http://127.0.0.1:8080\n" USER_TOKEN,
     0, "http://127.0.0.1:8080", NULL},
    {"upper-case scheme", NH_KUBECONFIG_YAML, NULL,
     YAML_HEAD "clusters:\n- name: k\n  cluster:\n    server: HTTPS://API.example:6443\n"
               "    certificate-authority-data: %CA%\n" USER_TOKEN,
     0, "https://API.example:6443", NULL},
    {"path prefix kept", NH_KUBECONFIG_YAML, NULL,
     YAML_HEAD "clusters:\n- name: k\n  cluster:\n    server: https://proxy.example/k8s/c1//\n"
               "    certificate-authority-data: %CA%\n" USER_TOKEN,
     0, "https://proxy.example/k8s/c1", NULL},
    {"other entries not looked at", NH_KUBECONFIG_YAML, NULL,
     YAML_HEAD CLUSTER_OK "- name: bad\n  cluster: {server: http://1.2.3.4, "
                          "insecure-skip-tls-verify: true}\n" USER_CERT
                          "- name: plugin\n  user: {exec: {command: aws}}\n",
     0, "https://10.0.0.1:6443", NULL},

    /* refused */
    {"empty", NH_KUBECONFIG_AUTO, NULL, "", -EINVAL, "is empty", NULL},
    {"blank yaml", NH_KUBECONFIG_YAML, NULL, "\n# nothing\n", -EINVAL, "is empty", NULL},
    {"exec plugin", NH_KUBECONFIG_YAML, NULL,
     YAML_HEAD CLUSTER_OK "users:\n- name: u\n  user:\n    exec:\n      command: aws\n", -EINVAL,
     "users[0] (\"u\").user.exec", "exec credential plugins are not supported"},
    {"auth-provider", NH_KUBECONFIG_YAML, NULL,
     YAML_HEAD CLUSTER_OK "users:\n- name: u\n  user:\n    auth-provider: {name: gcp}\n", -EINVAL,
     "user.auth-provider", "not supported"},
    {"insecure-skip-tls-verify true", NH_KUBECONFIG_YAML, NULL,
     YAML_HEAD "clusters:\n- name: k\n  cluster:\n    server: https://10.0.0.1:6443\n"
               "    insecure-skip-tls-verify: true\n" USER_TOKEN,
     -EINVAL, "cluster.insecure-skip-tls-verify", "always verifies"},
    {"insecure-skip-tls-verify quoted", NH_KUBECONFIG_YAML, NULL,
     YAML_HEAD
     "clusters:\n- name: k\n  cluster:\n    server: https://10.0.0.1:6443\n"
     "    certificate-authority-data: %CA%\n    insecure-skip-tls-verify: \"yes\"\n" USER_TOKEN,
     -EINVAL, "insecure-skip-tls-verify", NULL},
    {"cce current-context is external", NH_KUBECONFIG_JSON, NULL, CCE_JSON, -EINVAL,
     "clusters[1] (\"externalCluster\").cluster.insecure-skip-tls-verify", NULL},
    {"certificate-authority file", NH_KUBECONFIG_YAML, NULL,
     YAML_HEAD "clusters:\n- name: k\n  cluster:\n    server: https://10.0.0.1:6443\n"
               "    certificate-authority: /etc/k/ca.crt\n" USER_TOKEN,
     -EINVAL, "certificate-authority is a file path", "only the *-data form"},
    {"client-certificate file", NH_KUBECONFIG_YAML, NULL,
     YAML_HEAD CLUSTER_OK "users:\n- name: u\n  user:\n    client-certificate: /k/c.crt\n"
                          "    client-key: /k/c.key\n",
     -EINVAL, "client-certificate is a file path", NULL},
    {"tokenFile", NH_KUBECONFIG_YAML, NULL,
     YAML_HEAD CLUSTER_OK "users:\n- name: u\n  user:\n    tokenFile: /var/run/t\n", -EINVAL,
     "user.tokenFile", NULL},
    {"basic auth", NH_KUBECONFIG_YAML, NULL,
     YAML_HEAD CLUSTER_OK "users:\n- name: u\n  user:\n    username: admin\n"
                          "    password: SECRET-pw\n",
     -EINVAL, "basic authentication", NULL},
    {"impersonation", NH_KUBECONFIG_YAML, NULL,
     YAML_HEAD CLUSTER_OK USER_TOKEN "    as: system:admin\n", -EINVAL, "impersonation", NULL},
    {"tls-server-name", NH_KUBECONFIG_YAML, NULL,
     YAML_HEAD CLUSTER_OK "    tls-server-name: api\n" USER_TOKEN, -EINVAL, "tls-server-name",
     NULL},
    {"proxy-url", NH_KUBECONFIG_YAML, NULL,
     YAML_HEAD CLUSTER_OK "    proxy-url: http://proxy:3128\n" USER_TOKEN, -EINVAL, "proxy-url",
     NULL},
    {"missing CA", NH_KUBECONFIG_YAML, NULL,
     YAML_HEAD "clusters:\n- name: k\n  cluster:\n    server: https://10.0.0.1:6443\n" USER_TOKEN,
     -EINVAL, "certificate-authority-data is missing", NULL},
    {"http to a remote host", NH_KUBECONFIG_YAML, NULL,
     YAML_HEAD "clusters:\n- name: k\n  cluster:\n    server: http://10.0.0.1:8080\n" USER_TOKEN,
     -EINVAL, "cluster.server", "plain http://"},
    {"ftp scheme", NH_KUBECONFIG_YAML, NULL,
     YAML_HEAD "clusters:\n- name: k\n  cluster:\n    server: ftp://10.0.0.1\n" USER_TOKEN, -EINVAL,
     "scheme", NULL},
    {"server with user info", NH_KUBECONFIG_YAML, NULL,
     YAML_HEAD "clusters:\n- name: k\n  cluster:\n    server: https://a:b@10.0.0.1\n"
               "    certificate-authority-data: %CA%\n" USER_TOKEN,
     -EINVAL, "user information", NULL},
    {"scheme cut short", NH_KUBECONFIG_YAML, NULL,
     YAML_HEAD "clusters:\n- name: k\n  cluster:\n    server: https:/10.0.0.1:6443\n"
               "    certificate-authority-data: %CA%\n" USER_TOKEN,
     -EINVAL, "expected https://HOST[:PORT][/PATH]", NULL},
    {"server with query", NH_KUBECONFIG_YAML, NULL,
     YAML_HEAD "clusters:\n- name: k\n  cluster:\n    server: https://10.0.0.1/?x=1\n"
               "    certificate-authority-data: %CA%\n" USER_TOKEN,
     -EINVAL, "query", NULL},
    {"server not a string", NH_KUBECONFIG_JSON, NULL,
     "{\"current-context\":\"c\",\"contexts\":[{\"name\":\"c\",\"context\":{\"cluster\":\"k\","
     "\"user\":\"u\"}}],\"clusters\":[{\"name\":\"k\",\"cluster\":{\"server\":6443}}],"
     "\"users\":[]}",
     -EINVAL, "cluster.server: expected a string, got a number", NULL},
    {"no such context", NH_KUBECONFIG_JSON, "internal",
     "{\"contexts\":[{\"name\":\"a\",\"context\":{\"cluster\":\"k\",\"user\":\"u\"}},"
     "{\"name\":\"b\",\"context\":{\"cluster\":\"k\",\"user\":\"u\"}}],\"clusters\":[],"
     "\"users\":[]}",
     -EINVAL, "contexts has no entry named \"internal\"", "(it has: \"a\", \"b\")"},
    {"no current-context", NH_KUBECONFIG_YAML, NULL,
     "contexts:\n- name: c\n  context: {cluster: k, user: u}\n" CLUSTER_OK USER_TOKEN, -EINVAL,
     "current-context is not set", NULL},
    {"context cluster missing", NH_KUBECONFIG_YAML, NULL,
     YAML_HEAD "clusters:\n- name: other\n  cluster: {server: https://x}\n" USER_TOKEN, -EINVAL,
     "clusters has no entry named \"k\"", NULL},
    {"two contexts named alike", NH_KUBECONFIG_YAML, NULL,
     YAML_HEAD "- name: c\n  context: {cluster: k, user: u}\n" CLUSTER_OK USER_TOKEN, -EINVAL,
     "two entries are named \"c\"", NULL},
    {"duplicate yaml key", NH_KUBECONFIG_YAML, NULL,
     YAML_HEAD CLUSTER_OK "    server: https://evil:6443\n" USER_TOKEN, -EINVAL,
     "duplicate key \"server\"", NULL},
    {"yaml anchors", NH_KUBECONFIG_YAML, NULL,
     YAML_HEAD CLUSTER_OK "users:\n- name: u\n  user: &a {token: x}\n", -EINVAL,
     "anchors are not supported", NULL},
    {"yaml syntax", NH_KUBECONFIG_YAML, NULL, "clusters: [\n", -EINVAL, "line ", NULL},
    {"top is a list", NH_KUBECONFIG_YAML, NULL, "- a\n- b\n", -EINVAL, "expected a map", NULL},
    {"kind Pod", NH_KUBECONFIG_YAML, NULL, "kind: Pod\ncurrent-context: c\n", -EINVAL,
     "expected \"Config\"", NULL},
    {"clusters not a list", NH_KUBECONFIG_YAML, NULL, YAML_HEAD "clusters: {}\n" USER_TOKEN,
     -EINVAL, "clusters: expected a list", NULL},
    {"entry without a name", NH_KUBECONFIG_YAML, NULL,
     YAML_HEAD "clusters:\n- cluster: {server: https://x}\n" USER_TOKEN, -EINVAL,
     "clusters[0].name is missing", NULL},
    {"key of another certificate", NH_KUBECONFIG_YAML, NULL,
     YAML_HEAD CLUSTER_OK "users:\n- name: u\n  user:\n    client-certificate-data: %CERT%\n"
                          "    client-key-data: %ROGUEKEY%\n",
     -EINVAL, "client-key-data is not the key of client-certificate-data", NULL},
    {"encrypted key", NH_KUBECONFIG_YAML, NULL,
     YAML_HEAD CLUSTER_OK "users:\n- name: u\n  user:\n    client-certificate-data: %CERT%\n"
                          "    client-key-data: %ENCKEY%\n",
     -EINVAL, "client-key-data: not an unencrypted PEM private key", NULL},
    {"certificate without key", NH_KUBECONFIG_YAML, NULL,
     YAML_HEAD CLUSTER_OK "users:\n- name: u\n  user:\n    client-certificate-data: %CERT%\n",
     -EINVAL, "client-key-data is missing", NULL},
    {"bad base64", NH_KUBECONFIG_YAML, NULL,
     YAML_HEAD "clusters:\n- name: k\n  cluster:\n    server: https://10.0.0.1:6443\n"
               "    certificate-authority-data: \"LS0t!!\"\n" USER_TOKEN,
     -EINVAL, "certificate-authority-data: not valid base64", NULL},
    {"CA that is not PEM", NH_KUBECONFIG_YAML, NULL,
     YAML_HEAD "clusters:\n- name: k\n  cluster:\n    server: https://10.0.0.1:6443\n"
               "    certificate-authority-data: aGVsbG8gd29ybGQ=\n" USER_TOKEN,
     -EINVAL, "holds no PEM certificate", NULL},
    {"key that is not PEM", NH_KUBECONFIG_YAML, NULL,
     YAML_HEAD CLUSTER_OK "users:\n- name: u\n  user:\n    client-certificate-data: %CERT%\n"
                          "    client-key-data: aGVsbG8gd29ybGQ=\n",
     -EINVAL, "not an unencrypted PEM private key", NULL},
    {"no credentials", NH_KUBECONFIG_YAML, NULL,
     YAML_HEAD CLUSTER_OK "users:\n- name: u\n  user: {}\n", -EINVAL, "no credentials", NULL},
    {"token with a blank", NH_KUBECONFIG_YAML, NULL,
     YAML_HEAD CLUSTER_OK "users:\n- name: u\n  user:\n    token: \"SECRET x\"\n", -EINVAL,
     "cannot go in an HTTP header", NULL},
    {"json trailing bytes", NH_KUBECONFIG_JSON, NULL, "{\"kind\":\"Config\"} x", -EINVAL,
     "invalid JSON", NULL},
    {"json truncated", NH_KUBECONFIG_JSON, NULL, "{\"kind\":\"Config\",\"users\":[", -EINVAL,
     "truncated JSON", NULL},
    {"json bad utf-8", NH_KUBECONFIG_JSON, NULL, "{\"kind\":\"\xff\xfe\"}", -EINVAL, "invalid JSON",
     NULL},
};

static bool has_secret(const char *msg)
{
    if (strstr(msg, "SECRET") != NULL)
        return true;
    static const int keys[] = {P_KEY, P_RSAKEY, P_ROGUEKEY, P_ENCKEY};
    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
        char part[33]; /* past the PEM header: the key material itself */
        snprintf(part, sizeof(part), "%.32s", g_b64[keys[i]] + 48);
        if (strstr(msg, part) != NULL)
            return true;
    }
    return false;
}

static void test_kubeconfig_table(void **state)
{
    (void)state;
    int failures = 0;
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        const struct row *t = &rows[i];
        char *text = expand(t->tpl);
        char err[512] = "x";
        struct nh_kubeconfig *kc = (struct nh_kubeconfig *)1;
        int r = nh_kubeconfig_parse(text, strlen(text), t->fmt, t->context, NULL, &kc, err,
                                    sizeof(err));
        bool ok = r == t->want;
        if (ok && r == 0) {
            ok = kc != NULL && strcmp(nh_kubeconfig_server(kc), t->frag) == 0 && err[0] == '\0' &&
                 !has_secret(nh_kubeconfig_describe(kc));
        } else if (ok) {
            ok = kc == (struct nh_kubeconfig *)1 /* untouched */ &&
                 strstr(err, "kubeconfig: ") == err && strstr(err, t->frag) != NULL &&
                 (t->frag2 == NULL || strstr(err, t->frag2) != NULL) && !has_secret(err);
        }
        if (getenv("NH_TEST_VERBOSE") != NULL)
            print_message("%-32s %s\n", t->name, r == 0 ? nh_kubeconfig_describe(kc) : err);
        if (!ok) {
            print_error("row \"%s\": r=%d (want %d), err=\"%s\", server=%s\n", t->name, r, t->want,
                        err, r == 0 && kc ? nh_kubeconfig_server(kc) : "-");
            failures++;
        }
        if (r == 0)
            nh_kubeconfig_free(kc);
        free(text);
    }
    assert_int_equal(failures, 0);
}

static void test_kubeconfig_cert_fields_decoded_exactly(void **state)
{
    (void)state;
    char *text = expand(YAML_HEAD CLUSTER_OK USER_CERT);
    struct nh_kubeconfig *kc = NULL;
    char err[256];
    assert_int_equal(nh_kubeconfig_parse(text, strlen(text), NH_KUBECONFIG_YAML, NULL, "test", &kc,
                                         err, sizeof(err)),
                     0);
    size_t ca_len, cert_len, key_len, klen;
    char *ca = kubesrv_read(g_dir, "ca.pem", &ca_len);
    char *cert = kubesrv_read(g_dir, "client.pem", &cert_len);
    char *key = kubesrv_read(g_dir, "client.key", &key_len);
    assert_int_equal(kc->ca_len, ca_len);
    assert_memory_equal(kc->ca, ca, ca_len);
    assert_int_equal(kc->cert_len, cert_len);
    assert_memory_equal(kc->cert, cert, cert_len);
    const unsigned char *kb = nh_secret_bytes(kc->key, &klen);
    assert_int_equal(klen, key_len);
    assert_memory_equal(kb, key, key_len);
    assert_true(nh_kubeconfig_has_client_cert(kc));
    assert_false(nh_kubeconfig_has_token(kc));
    assert_string_equal(nh_kubeconfig_context(kc), "c");
    /* the test PKI is valid for 2 days */
    int64_t na = nh_kubeconfig_cert_not_after(kc), now = (int64_t)time(NULL);
    assert_true(na > now + 86400 && na <= now + 3 * 86400);
    assert_string_equal(nh_kubeconfig_describe(kc),
                        "context \"c\" (cluster \"k\", user \"u\", https://10.0.0.1:6443, client "
                        "certificate)");
    nh_kubeconfig_free(kc);
    free(ca);
    free(cert);
    free(key);
    free(text);
}

static void test_kubeconfig_wrapped_base64_and_token(void **state)
{
    (void)state;
    char *wrapped = b64_file("ca.pem", true);
    assert_non_null(strchr(wrapped, '\n'));
    struct nh_buf b;
    nh_buf_init(&b, 0);
    /* a YAML literal block keeps the line breaks in the value */
    nh_buf_appends(&b, YAML_HEAD "clusters:\n- name: k\n  cluster:\n"
                                 "    server: https://10.0.0.1:6443\n"
                                 "    certificate-authority-data: |\n");
    for (char *p = wrapped, *nl; p != NULL && *p != '\0'; p = nl ? nl + 1 : NULL) {
        nl = strchr(p, '\n');
        nh_buf_printf(&b, "      %.*s\n", nl ? (int)(nl - p) : (int)strlen(p), p);
    }
    nh_buf_appends(&b, USER_TOKEN);
    struct nh_kubeconfig *kc = NULL;
    char err[256] = "";
    int r =
        nh_kubeconfig_parse(b.data, b.len, NH_KUBECONFIG_AUTO, NULL, NULL, &kc, err, sizeof(err));
    if (r != 0)
        print_error("%s\n", err);
    assert_int_equal(r, 0);
    size_t tl;
    const unsigned char *t = nh_secret_bytes(kc->token, &tl);
    assert_int_equal(tl, strlen(TOKEN));
    assert_memory_equal(t, TOKEN, tl);
    assert_true(nh_kubeconfig_has_token(kc));
    assert_null(strstr(nh_kubeconfig_describe(kc), "SECRET"));
    nh_kubeconfig_free(kc);
    nh_buf_free(&b);
    free(wrapped);
}

static void test_kubeconfig_too_big_refused(void **state)
{
    (void)state;
    size_t n = NH_KUBECONFIG_MAX_BYTES + 1;
    char *big = malloc(n);
    memset(big, ' ', n);
    struct nh_kubeconfig *kc = NULL;
    char err[256];
    assert_int_equal(
        nh_kubeconfig_parse(big, n, NH_KUBECONFIG_AUTO, NULL, "ACK", &kc, err, sizeof(err)),
        -EFBIG);
    assert_null(kc);
    assert_non_null(strstr(err, "ACK: is 262145 bytes"));
    free(big);
}

struct b64row {
    const char *in;
    int want;
    const char *out;
    size_t bad_at;
};

static void test_base64_strict(void **state)
{
    (void)state;
    static const struct b64row t[] = {
        {"", 0, "", 0},
        {"Zg==", 0, "f", 0},
        {"Zm8=", 0, "fo", 0},
        {"Zm9v", 0, "foo", 0},
        {"Zm9v\r\nYmFy", 0, "foobar", 0},
        {"Zm9vYg==\n", 0, "foob", 0},
        {"Zm9", -EINVAL, NULL, 3},       /* short group */
        {"Zg=", -EINVAL, NULL, 3},       /* padding cut short */
        {"Z===", -EINVAL, NULL, 1},      /* "=" second in a group */
        {"Zg==Zg==", -EINVAL, NULL, 4},  /* data after padding */
        {"Zm9v YmFy", -EINVAL, NULL, 4}, /* blank */
        {"Zm9v-_Fy", -EINVAL, NULL, 4},  /* URL alphabet */
        {"Zg=a", -EINVAL, NULL, 3},      /* data after "=" within a group */
    };
    for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
        unsigned char *out = NULL;
        size_t len = 0, bad = 99;
        int r = nh_base64_decode(t[i].in, strlen(t[i].in), &out, &len, &bad);
        if (r != t[i].want)
            print_error("base64 \"%s\": %d\n", t[i].in, r);
        assert_int_equal(r, t[i].want);
        if (r == 0) {
            assert_int_equal(len, strlen(t[i].out));
            assert_memory_equal(out, t[i].out, len);
            free(out);
        } else {
            assert_int_equal(bad, t[i].bad_at);
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_kubeconfig_table),
        cmocka_unit_test(test_kubeconfig_cert_fields_decoded_exactly),
        cmocka_unit_test(test_kubeconfig_wrapped_base64_and_token),
        cmocka_unit_test(test_kubeconfig_too_big_refused),
        cmocka_unit_test(test_base64_strict),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
