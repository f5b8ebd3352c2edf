/* secret.h - secrets are a type, not a char *.
 *
 * A secret is read once per configuration load from a file (relative paths
 * resolve against $CREDENTIALS_DIRECTORY, as systemd's LoadCredential= sets
 * it) or an environment variable. There is no way to format one with %s:
 * signers get the bytes, logs get nh_secret_describe() ("file ack-sk"). */
#ifndef NH_SECRET_H
#define NH_SECRET_H

#include <stddef.h>

struct nh_secret;

enum nh_secret_source { NH_SECRET_FILE, NH_SECRET_ENV, NH_SECRET_LITERAL /* tests only */ };

/* Loads a secret. On failure returns a negative errno and writes a message
 * naming the reference (never the value) and the fix into err. A file that
 * other users may read is accepted with *warn set to a message (or refused,
 * see nodeherd.yaml(5)). Trailing newlines of files are stripped. */
int nh_secret_load(enum nh_secret_source src, const char *ref, struct nh_secret **ret, char *err,
                   size_t errlen, char *warn, size_t warnlen);
/* The same, with an explicit fallback directory: a relative file reference
 * resolves against $CREDENTIALS_DIRECTORY when that is set and non-empty,
 * else against base_dir (the configuration file's directory; NULL: the
 * current directory). nh_secret_load() is nh_secret_load_at(..., NULL, ...).
 * Files: regular, at most NH_SECRET_MAX bytes, non-empty after stripping
 * trailing newlines; readable by "other" users: refused; readable by the
 * group: accepted with *warn set. */
#define NH_SECRET_MAX (64 * 1024)
int nh_secret_load_at(enum nh_secret_source src, const char *ref, const char *base_dir,
                      struct nh_secret **ret, char *err, size_t errlen, char *warn, size_t warnlen);
/* For tests and fuzzers: a secret from bytes. */
struct nh_secret *nh_secret_new(const void *bytes, size_t len, const char *describe);
/* Borrowed: valid until the secret is freed. Not NUL-terminated for callers'
 * purposes (but a NUL follows the bytes). */
const unsigned char *nh_secret_bytes(const struct nh_secret *s, size_t *len);
/* "file ack-sk", "env HW_AK": safe to log. */
const char *nh_secret_describe(const struct nh_secret *s);
/* OPENSSL_cleanse, then free. NULL ok. */
void nh_secret_free(struct nh_secret *s);

#endif
