/* secret.c - secrets read from files or environment variables. The value
 * never appears in a message: errors and descriptions name the reference. */
#include <errno.h>
#include <fcntl.h>
#include <openssl/crypto.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config/secret.h"

struct nh_secret {
    unsigned char *bytes; /* len bytes plus a NUL */
    size_t len;
    char *describe;
};

struct nh_secret *nh_secret_new(const void *bytes, size_t len, const char *describe)
{
    struct nh_secret *s = calloc(1, sizeof(*s));
    if (s == NULL)
        return NULL;
    s->bytes = malloc(len + 1);
    s->describe = strdup(describe ? describe : "literal");
    if (s->bytes == NULL || s->describe == NULL) {
        nh_secret_free(s);
        return NULL;
    }
    if (len > 0)
        memcpy(s->bytes, bytes, len);
    s->bytes[len] = '\0';
    s->len = len;
    return s;
}

const unsigned char *nh_secret_bytes(const struct nh_secret *s, size_t *len)
{
    if (s == NULL) {
        if (len)
            *len = 0;
        return NULL;
    }
    if (len)
        *len = s->len;
    return s->bytes;
}

const char *nh_secret_describe(const struct nh_secret *s)
{
    return s ? s->describe : "(none)";
}

void nh_secret_free(struct nh_secret *s)
{
    if (s == NULL)
        return;
    if (s->bytes != NULL) {
        OPENSSL_cleanse(s->bytes, s->len + 1);
        free(s->bytes);
    }
    free(s->describe);
    free(s);
}

static bool env_name_ok(const char *n)
{
    if (!((*n >= 'A' && *n <= 'Z') || (*n >= 'a' && *n <= 'z') || *n == '_'))
        return false;
    for (; *n; n++)
        if (!((*n >= 'A' && *n <= 'Z') || (*n >= 'a' && *n <= 'z') || *n == '_' ||
              (*n >= '0' && *n <= '9')))
            return false;
    return true;
}

static int load_env(const char *ref, struct nh_secret **ret, char *err, size_t errlen)
{
    if (!env_name_ok(ref)) {
        /* Not echoed: a value pasted here by mistake might be the secret. */
        snprintf(err, errlen,
                 "{ env: ... } does not name a valid environment variable (letters, digits, _)");
        return -EINVAL;
    }
    const char *v = getenv(ref);
    if (v == NULL || *v == '\0') {
        snprintf(err, errlen,
                 "environment variable %s is %s; set it for the service or use { file: NAME }", ref,
                 v == NULL ? "not set" : "empty");
        return -ENOENT;
    }
    char desc[300];
    snprintf(desc, sizeof(desc), "env %s", ref);
    *ret = nh_secret_new(v, strlen(v), desc);
    return *ret ? 0 : -ENOMEM;
}

static int load_file(const char *ref, const char *base_dir, struct nh_secret **ret, char *err,
                     size_t errlen, char *warn, size_t warnlen)
{
    char path[4096];
    const char *cred = getenv("CREDENTIALS_DIRECTORY");
    const char *dir = NULL, *why = "";
    if (ref[0] != '/') {
        if (cred != NULL && *cred != '\0') {
            dir = cred;
            why = " ($CREDENTIALS_DIRECTORY)";
        } else if (base_dir != NULL) {
            dir = base_dir;
            why = " (next to the configuration; $CREDENTIALS_DIRECTORY is not set)";
        }
    }
    int n = dir ? snprintf(path, sizeof(path), "%s/%s", dir, ref)
                : snprintf(path, sizeof(path), "%s", ref);
    if (n < 0 || (size_t)n >= sizeof(path)) {
        snprintf(err, errlen, "credential file reference is too long");
        return -ENAMETOOLONG;
    }
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    if (fd < 0) {
        int e = errno;
        if (e == ENOENT)
            snprintf(err, errlen,
                     "credential file %s%s does not exist; create it (mode 0600) or pass it "
                     "with systemd LoadCredential=%s:PATH",
                     path, why, ref);
        else if (e == EACCES)
            snprintf(err, errlen,
                     "credential file %s%s is not readable by this user; chown it to the "
                     "nodeherd user or use LoadCredential=",
                     path, why);
        else
            snprintf(err, errlen, "credential file %s%s: %s", path, why, strerror(e));
        return -e;
    }
    struct stat st;
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        snprintf(err, errlen, "credential file %s%s is not a regular file", path, why);
        return -EINVAL;
    }
    if (st.st_mode & S_IROTH) {
        close(fd);
        snprintf(err, errlen, "credential file %s is readable by other users; chmod 600 %s", path,
                 path);
        return -EPERM;
    }
    if (st.st_size > NH_SECRET_MAX) {
        close(fd);
        snprintf(err, errlen, "credential file %s is larger than 64 KiB; is it the right file?",
                 path);
        return -EFBIG;
    }
    unsigned char *buf = malloc(NH_SECRET_MAX + 1);
    if (buf == NULL) {
        close(fd);
        return -ENOMEM;
    }
    size_t len = 0;
    for (;;) {
        ssize_t r = read(fd, buf + len, NH_SECRET_MAX + 1 - len);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            int e = errno;
            close(fd);
            OPENSSL_cleanse(buf, NH_SECRET_MAX + 1);
            free(buf);
            snprintf(err, errlen, "credential file %s: %s", path, strerror(e));
            return -e;
        }
        if (r == 0 || (len += (size_t)r) > NH_SECRET_MAX)
            break;
    }
    close(fd);
    int rc = 0;
    if (len > NH_SECRET_MAX) {
        snprintf(err, errlen, "credential file %s is larger than 64 KiB; is it the right file?",
                 path);
        rc = -EFBIG;
    }
    while (rc == 0 && len > 0 && (buf[len - 1] == '\n' || buf[len - 1] == '\r'))
        len--;
    if (rc == 0 && len == 0) {
        snprintf(err, errlen, "credential file %s is empty; write the credential into it", path);
        rc = -ENODATA;
    }
    if (rc == 0) {
        char desc[300];
        snprintf(desc, sizeof(desc), "file %.280s", ref);
        *ret = nh_secret_new(buf, len, desc);
        if (*ret == NULL)
            rc = -ENOMEM;
        else if ((st.st_mode & S_IRGRP) && warn != NULL && warnlen > 0)
            snprintf(warn, warnlen,
                     "credential file %s is readable by its group; chmod 600 %s unless that is "
                     "intended",
                     path, path);
    }
    OPENSSL_cleanse(buf, NH_SECRET_MAX + 1);
    free(buf);
    return rc;
}

int nh_secret_load_at(enum nh_secret_source src, const char *ref, const char *base_dir,
                      struct nh_secret **ret, char *err, size_t errlen, char *warn, size_t warnlen)
{
    char dummy[8];
    *ret = NULL;
    if (err == NULL || errlen == 0) {
        err = dummy;
        errlen = sizeof(dummy);
    }
    err[0] = '\0';
    if (warn != NULL && warnlen > 0)
        warn[0] = '\0';
    if (ref == NULL || *ref == '\0') {
        snprintf(err, errlen, "empty secret reference; name a file or a variable");
        return -EINVAL;
    }
    switch (src) {
    case NH_SECRET_FILE:
        return load_file(ref, base_dir, ret, err, errlen, warn, warnlen);
    case NH_SECRET_ENV:
        return load_env(ref, ret, err, errlen);
    case NH_SECRET_LITERAL:
        snprintf(err, errlen, "literal secrets exist for tests only; use { file: } or { env: }");
        return -EINVAL;
    }
    return -EINVAL;
}

int nh_secret_load(enum nh_secret_source src, const char *ref, struct nh_secret **ret, char *err,
                   size_t errlen, char *warn, size_t warnlen)
{
    return nh_secret_load_at(src, ref, NULL, ret, err, errlen, warn, warnlen);
}
