/* kubeconfig.h - credentials for a cluster's Kubernetes API, from a
 * kubeconfig held in memory. Pure: no I/O, nothing touches the disk.
 *
 * Where kubeconfigs come from (shared/api/kubernetes.md):
 *  - ACK DescribeClusterUserKubeconfig: YAML in the answer's `config`;
 *  - CCE CreateKubernetesClusterCert: the kubeconfig as JSON; always use
 *    its "internal" context (the "external" one skips TLS verification);
 *  - an operator's file (YAML), read by the caller.
 * Format reference: https://kubernetes.io/docs/reference/config-api/kubeconfig.v1/
 *
 * Accepted: one context (by name, else current-context), its cluster's
 * `server` (https://; http:// only to a loopback address, for tests) and
 * `certificate-authority-data`, its user's `token` and/or
 * `client-certificate-data` + `client-key-data` (PEM, base64). Checked up
 * front with OpenSSL: the CA bundle holds a certificate, the client
 * certificate and key parse and belong together, the key is unencrypted.
 *
 * Refused, with the field and the fix in the message: `exec` and
 * `auth-provider` plugins, `insecure-skip-tls-verify` (anything but
 * false), file references (`certificate-authority`, `client-certificate`,
 * `client-key`, `tokenFile`: only the *-data forms are supported, since
 * credentials stay in memory), `username`/`password`, impersonation
 * (`as`, `as-groups`, ...), `tls-server-name`, `proxy-url`, an https
 * server without CA data, a user without credentials. Other fields of the
 * selected entries, and every other context, cluster and user, are not
 * looked at beyond their names (CCE's "external" cluster is not refused
 * for its insecure-skip-tls-verify when "internal" is selected).
 *
 * Secrets (the token, the client key) are struct nh_secret: wiped on free
 * and never printable. The decoded copies made while parsing are wiped,
 * and so are the strings of the parse trees; libyaml's and json-c's own
 * scratch buffers are freed without wiping (the caller's input is the
 * caller's to wipe). */
#ifndef NH_KUBE_KUBECONFIG_H
#define NH_KUBE_KUBECONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define NH_KUBECONFIG_MAX_BYTES (256 * 1024)
#define NH_KUBECONFIG_MAX_ENTRIES 64       /* per list: clusters, users, contexts */
#define NH_KUBECONFIG_MAX_BLOB (64 * 1024) /* each decoded CA / certificate / key */
#define NH_KUBECONFIG_MAX_TOKEN (16 * 1024)

enum nh_kubeconfig_format {
    NH_KUBECONFIG_AUTO, /* JSON when the first non-blank byte is '{', else YAML */
    NH_KUBECONFIG_YAML,
    NH_KUBECONFIG_JSON, /* strict (json-c STRICT | VALIDATE_UTF8) */
};

struct nh_kubeconfig; /* opaque: validated credentials */

/* Parses data (len bytes; need not be NUL-terminated). context: the
 * context to use (CCE: "internal"); NULL uses current-context. source names
 * the input in messages ("kubeconfig", "ACK DescribeClusterUserKubeconfig
 * for c8f2..."); NULL: "kubeconfig". On failure returns a negative errno
 * (-EINVAL bad content, -EFBIG too large, -ENOMEM) with a message in err
 * naming the field, the problem and the fix, never a secret; *ret is set
 * only on success. */
int nh_kubeconfig_parse(const char *data, size_t len, enum nh_kubeconfig_format fmt,
                        const char *context, const char *source, struct nh_kubeconfig **ret,
                        char *err, size_t errlen);
void nh_kubeconfig_free(struct nh_kubeconfig *kc); /* wipes; NULL ok */
/* Whether an operator's kubeconfig (YAML or JSON, its current-context)
 * would be accepted: nh_kubeconfig_parse, then free. The shape of
 * nh_kubeconfig_check_fn (config.h): registered with
 * nh_config_set_kubeconfig_check so a refused kubeconfig is refused at
 * configuration load. */
int nh_kubeconfig_check(const unsigned char *data, size_t len, char *err, size_t errlen);

/* Borrowed, valid until nh_kubeconfig_free. */
const char *nh_kubeconfig_context(const struct nh_kubeconfig *kc);
const char *nh_kubeconfig_server(const struct nh_kubeconfig *kc); /* no trailing '/' */
bool nh_kubeconfig_has_token(const struct nh_kubeconfig *kc);
bool nh_kubeconfig_has_client_cert(const struct nh_kubeconfig *kc);
/* The client certificate's notAfter, unix seconds; 0 without one. For
 * renewing before it expires (ACK also says `expiration`). */
int64_t nh_kubeconfig_cert_not_after(const struct nh_kubeconfig *kc);
/* Safe to log: `context "internal" (cluster "internalCluster", user "user",
 * https://192.168.0.8:5443, client certificate)`. */
const char *nh_kubeconfig_describe(const struct nh_kubeconfig *kc);

/* Strict base64 (RFC 4648 standard alphabet, padding required; CR and LF
 * are skipped as Go's decoder does). Pure; exposed for tests. On success
 * *ret (free it; wipe it first when secret) holds *ret_len bytes plus a
 * NUL. -EINVAL on a bad character or length, with the byte offset in
 * *bad_at (may be NULL). */
int nh_base64_decode(const char *in, size_t len, unsigned char **ret, size_t *ret_len,
                     size_t *bad_at);

#endif
