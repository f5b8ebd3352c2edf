/* secret.h - secrets are a type, not a char *.
 *
 * A secret is read from a file at every configuration load (a plain name
 * inside $CREDENTIALS_DIRECTORY, as systemd's LoadCredential= sets it), or
 * from an environment variable once per process (then removed from the
 * environment). There is no way to format one with %s: signers get the
 * bytes, logs get nh_secret_describe() ("file ack-sk"). */
#ifndef NH_SECRET_H
#define NH_SECRET_H

#include <stdbool.h>
#include <stddef.h>

struct nh_secret;

enum nh_secret_source { NH_SECRET_FILE, NH_SECRET_ENV, NH_SECRET_LITERAL /* tests only */ };

/* Loads a secret. On failure returns a negative errno and writes a message
 * naming the reference (never the value) and the fix into err. A file that
 * other users may read is accepted with *warn set to a message (or refused,
 * see nodeherd.yaml(5)). Trailing newlines of files are stripped. */
int nh_secret_load(enum nh_secret_source src, const char *ref, struct nh_secret **ret, char *err,
                   size_t errlen, char *warn, size_t warnlen);
/* The same, with an explicit fallback directory. nh_secret_load() is
 * nh_secret_load_at(..., NULL, ...). Where a file reference points:
 *  - $CREDENTIALS_DIRECTORY set and non-empty: a plain name inside it (no
 *    "/", no ".."); anything else is refused.
 *  - not set: an absolute path, or a path relative to base_dir (the
 *    configuration file's directory; NULL: the current directory); a ".."
 *    component is refused.
 * The file is opened beneath its directory (that credential directory, the
 * absolute path's own directory, or base_dir): symbolic links are followed
 * only while they stay inside it (a Kubernetes secret volume's "..data"
 * links do), never to a file elsewhere (openat2 RESOLVE_BENEATH, or the same
 * walk by hand with O_NOFOLLOW where openat2 is missing).
 * Files: regular, at most NH_SECRET_MAX bytes, non-empty after stripping
 * trailing newlines, owned by this user or root, writable by nobody else;
 * readable by "other" users: refused; readable by the group: accepted with
 * *warn set.
 * Environment variables: read at the first load that names them, kept in
 * memory for the life of the process and removed from the environment;
 * later loads (reloads) get the kept value. */
#define NH_SECRET_MAX (64 * 1024)
int nh_secret_load_at(enum nh_secret_source src, const char *ref, const char *base_dir,
                      struct nh_secret **ret, char *err, size_t errlen, char *warn, size_t warnlen);
/* Opens rel (relative) beneath the directory dirfd, read-only, following
 * symbolic links only while they stay beneath it: a fd, or -EXDEV for a
 * link (or "..") that leads out, -ELOOP, -ENOENT, ... use_openat2 false
 * forces the walk by hand (for tests; it is the fallback otherwise). */
int nh_secret_open_beneath(int dirfd, const char *rel, bool use_openat2);
/* For tests: forgets the environment variables kept in memory. */
void nh_secret_env_forget(void);
/* Checks a reference without reading anything (no file is opened, no
 * variable looked up): the form only, for loads that do not need the
 * secret (`check --offline`, `plan` for write-only secrets). 0, or -EINVAL
 * with the problem (never the reference's target value) in err. */
int nh_secret_ref_check(enum nh_secret_source src, const char *ref, char *err, size_t errlen);
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
