/* secret.c - secrets read from files or environment variables. The value
 * never appears in a message: errors and descriptions name the reference. */
#define _GNU_SOURCE /* O_PATH */
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <openssl/crypto.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
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

/* ---- { env: NAME } ----
 *
 * A variable is read once per process: the first load that names it copies
 * the value here and removes the variable from the environment (unsetenv,
 * and the bytes of the process's initial environment block are wiped, so
 * neither /proc/PID/environ nor a child process carries it). Later loads
 * (reloads) get the value kept here; the environment of a running process
 * cannot change from outside anyway, so a new value needs a restart. */
struct env_entry {
    char *name;
    struct nh_secret *value;
    struct env_entry *next;
};
static struct env_entry *env_kept;

void nh_secret_env_forget(void)
{
    while (env_kept != NULL) {
        struct env_entry *e = env_kept;
        env_kept = e->next;
        nh_secret_free(e->value);
        free(e->name);
        free(e);
    }
}

/* [env_start, env_end) of this process (/proc/self/stat fields 50 and 51,
 * proc(5)): where the kernel placed the initial environment strings, which
 * /proc/PID/environ shows. 0 or -errno. */
static int initial_env_range(uintptr_t *start, uintptr_t *end)
{
    char buf[2048];
    int fd = open("/proc/self/stat", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    ssize_t n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    if (n <= 0)
        return -EIO;
    buf[n] = '\0';
    char *p = strrchr(buf, ')'); /* the command name may hold spaces */
    if (p == NULL)
        return -EIO;
    p++;
    unsigned long long v[52];
    int field = 2; /* p is just past field 2 */
    while (field < 51 && *p != '\0') {
        char *endp;
        while (*p == ' ')
            p++;
        field++;
        if (*p == '\0')
            break;
        if (field == 3) { /* the state letter */
            p++;
            continue;
        }
        v[field] = strtoull(p, &endp, 10);
        if (endp == p)
            return -EIO;
        p = endp;
    }
    if (field != 51 || v[50] == 0 || v[51] <= v[50])
        return -EIO;
    *start = (uintptr_t)v[50];
    *end = (uintptr_t)v[51];
    return 0;
}

/* Removes NAME from the environment; value (getenv's pointer) is wiped
 * first when it lies in the initial environment block. Memory that setenv()
 * allocated belongs to libc and is left alone. */
static void env_remove(const char *name, char *value)
{
    uintptr_t s = 0, e = 0, p = (uintptr_t)value;
    size_t len = strlen(value);
    if (initial_env_range(&s, &e) == 0 && p >= s && p + len < e)
        OPENSSL_cleanse(value, len);
    unsetenv(name);
}

static int load_env(const char *ref, struct nh_secret **ret, char *err, size_t errlen)
{
    if (!env_name_ok(ref)) {
        /* Not echoed: a value pasted here by mistake might be the secret. */
        snprintf(err, errlen,
                 "{ env: ... } does not name a valid environment variable (letters, digits, _)");
        return -EINVAL;
    }
    char desc[300];
    snprintf(desc, sizeof(desc), "env %s", ref);
    for (const struct env_entry *k = env_kept; k != NULL; k = k->next) {
        if (strcmp(k->name, ref) == 0) {
            size_t len;
            const unsigned char *b = nh_secret_bytes(k->value, &len);
            *ret = nh_secret_new(b, len, desc);
            return *ret ? 0 : -ENOMEM;
        }
    }
    char *v = getenv(ref);
    if (v == NULL || *v == '\0') {
        snprintf(err, errlen,
                 "environment variable %s is %s; set it for the service or use { file: NAME }", ref,
                 v == NULL ? "not set" : "empty");
        return -ENOENT;
    }
    struct env_entry *k = calloc(1, sizeof(*k));
    if (k != NULL) {
        k->name = strdup(ref);
        k->value = nh_secret_new(v, strlen(v), desc);
    }
    *ret = nh_secret_new(v, strlen(v), desc);
    if (k == NULL || k->name == NULL || k->value == NULL || *ret == NULL) {
        if (k != NULL) {
            nh_secret_free(k->value);
            free(k->name);
            free(k);
        }
        nh_secret_free(*ret);
        *ret = NULL;
        return -ENOMEM; /* the variable stays: a later load may succeed */
    }
    k->next = env_kept;
    env_kept = k;
    env_remove(ref, v);
    return 0;
}

/* ---- { file: NAME } ---- */

/* A name with no "/" and no "..": what $CREDENTIALS_DIRECTORY holds. */
static bool plain_name(const char *ref)
{
    return strchr(ref, '/') == NULL && strstr(ref, "..") == NULL && strcmp(ref, ".") != 0;
}

/* Does the path have a ".." component? */
static bool has_dotdot(const char *ref)
{
    for (const char *p = ref; (p = strstr(p, "..")) != NULL; p += 2)
        if ((p == ref || p[-1] == '/') && (p[2] == '\0' || p[2] == '/'))
            return true;
    return false;
}

static int open_beneath_openat2(int dirfd, const char *rel, int flags)
{
    struct open_how how;
    memset(&how, 0, sizeof(how));
    how.flags = (uint64_t)flags;
    how.resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS;
    long fd = syscall(SYS_openat2, dirfd, rel, &how, sizeof(how));
    return fd < 0 ? -errno : (int)fd;
}

/* The walk's state: cur (a directory fd, owned) lies depth levels below
 * the starting directory; path holds the components still to walk; links
 * counts the links followed. */
struct walk {
    char path[4096 + 8];
    int cur, depth, links;
};

/* path = rest (the component before it is done). */
static void walk_drop(struct walk *w, const char *rest)
{
    memmove(w->path, rest, strlen(rest) + 1);
}

/* "..": one level up, never above the starting directory. 0 or -errno. */
static int walk_up(struct walk *w)
{
    if (w->depth == 0)
        return -EXDEV;
    int up = openat(w->cur, "..", O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (up < 0)
        return -errno;
    close(w->cur);
    w->cur = up;
    w->depth--;
    return 0;
}

/* The link lnk (an O_PATH fd, closed here) is read and spliced in front
 * of rest: path = target "/" rest. A target that is absolute leaves the
 * starting directory (-EXDEV); more than 40 links: -ELOOP. */
static int walk_splice_link(struct walk *w, int lnk, const char *rest)
{
    char target[4096];
    ssize_t tl = readlinkat(lnk, "", target, sizeof(target) - 1);
    close(lnk);
    if (tl < 0)
        return -errno;
    if (++w->links > 40)
        return -ELOOP;
    target[tl] = '\0';
    if (target[0] == '/')
        return -EXDEV;
    size_t restl = strlen(rest);
    if ((size_t)tl + 1 + restl + 1 > sizeof(w->path))
        return -ENAMETOOLONG;
    memmove(w->path + tl + (restl ? 1 : 0), rest, restl + 1);
    memcpy(w->path, target, (size_t)tl);
    if (restl)
        w->path[tl] = '/';
    return 0;
}

/* One step of the walk over the first component of path. Returns false to
 * go on, or true at the end of the walk with *rc the opened fd (of the last
 * component) or -errno. */
static bool walk_step(struct walk *w, int flags, int *rc)
{
    char *comp = w->path;
    while (*comp == '/') /* "a//b": separators, not an absolute path */
        comp++;
    char *slash = strchr(comp, '/');
    char *rest = slash ? slash + 1 : comp + strlen(comp);
    if (slash)
        *slash = '\0';
    bool last = (*rest == '\0');
    if (strcmp(comp, "") == 0 || strcmp(comp, ".") == 0 || strcmp(comp, "..") == 0) {
        *rc = strcmp(comp, "..") == 0 ? walk_up(w) : 0;
        if (*rc < 0)
            return true;
        if (last) {
            *rc = -EISDIR;
            return true;
        }
        walk_drop(w, rest);
        return false;
    }
    int nfd = openat(w->cur, comp, O_PATH | O_NOFOLLOW | O_CLOEXEC);
    if (nfd < 0) {
        *rc = -errno;
        return true;
    }
    struct stat st;
    if (fstat(nfd, &st) < 0) {
        *rc = -errno;
        close(nfd);
        return true;
    }
    if (S_ISLNK(st.st_mode)) {
        *rc = walk_splice_link(w, nfd, rest);
        return *rc < 0;
    }
    if (last) {
        close(nfd);
        /* O_NOFOLLOW: replaced by a link since the look above -> ELOOP */
        *rc = openat(w->cur, comp, flags | O_NOFOLLOW);
        *rc = *rc < 0 ? -errno : *rc;
        return true;
    }
    if (!S_ISDIR(st.st_mode)) {
        close(nfd);
        *rc = -ENOTDIR;
        return true;
    }
    close(w->cur);
    w->cur = nfd;
    w->depth++;
    walk_drop(w, rest);
    return false;
}

/* The same walk by hand, one component at a time with O_NOFOLLOW, for
 * kernels (< 5.6) or seccomp filters without openat2. */
static int open_beneath_walk(int dirfd, const char *rel, int flags)
{
    struct walk w = {.cur = fcntl(dirfd, F_DUPFD_CLOEXEC, 0)};
    size_t n = strlen(rel);
    int rc = 0;

    if (w.cur < 0)
        return -errno;
    if (rel[0] == '/') { /* as openat2: an absolute path is not beneath */
        close(w.cur);
        return -EXDEV;
    }
    if (n >= sizeof(w.path) - 1) {
        close(w.cur);
        return -ENAMETOOLONG;
    }
    memcpy(w.path, rel, n + 1); /* the components still to walk */
    while (!walk_step(&w, flags, &rc))
        continue;
    close(w.cur);
    return rc;
}

int nh_secret_open_beneath(int dirfd, const char *rel, bool use_openat2)
{
    const int flags = O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK;
    if (use_openat2) {
        int fd = open_beneath_openat2(dirfd, rel, flags);
        /* ENOSYS: kernel < 5.6; EPERM: a seccomp filter that predates it
         * (systemd's SystemCallErrorNumber=EPERM); E2BIG: struct too new */
        if (fd != -ENOSYS && fd != -EPERM && fd != -E2BIG)
            return fd;
    }
    return open_beneath_walk(dirfd, rel, flags);
}

/* Is path a file of a Kubernetes Secret (or ConfigMap, projected) volume?
 * The kubelet's AtomicWriter publishes each key as a symlink NAME ->
 * ..data/NAME and ..data as a symlink to a timestamped directory holding
 * the files (kubernetes pkg/volume/util/atomic_writer.go, "The visible files
 * in this volume are symlinks to files in the writer's data directory").
 * Their mode comes from the volume's defaultMode and fsGroup and the mount is
 * read-only: a group bit there is the operator's choice in the manifest, not
 * something chmod could change, so it is not warned about on every load. */
static bool in_kubernetes_volume(const char *path)
{
    char dir[4096], link[4096], want[4096 + 8];
    const char *slash = strrchr(path, '/');
    const char *name = slash ? slash + 1 : path;
    size_t dlen = slash ? (size_t)(slash - path) : 0;
    struct stat st;

    if (*name == '\0' || dlen >= sizeof(dir))
        return false;
    memcpy(dir, path, dlen);
    dir[dlen] = '\0';
    ssize_t n = readlink(path, link, sizeof(link) - 1);
    if (n <= 0)
        return false;
    link[n] = '\0';
    snprintf(want, sizeof(want), "..data/%s", name);
    if (strcmp(link, want) != 0)
        return false;
    snprintf(want, sizeof(want), "%s/..data", dlen ? dir : ".");
    return lstat(want, &st) == 0 && S_ISLNK(st.st_mode);
}

/* Where a file reference leads: path for messages, the directory (dir,
 * opened to bound the walk) and the name below it (rel), and why that
 * directory (" ($CREDENTIALS_DIRECTORY)", or ""). */
struct place {
    char path[4096], dirbuf[4096];
    const char *dir, *rel, *why;
};

/* Resolves ref: inside $CREDENTIALS_DIRECTORY when set (a plain name
 * only), else an absolute path (bounded by its own directory) or a path
 * relative to base_dir (or "."). 0, or -errno with err set. */
static int locate_file(const char *ref, const char *base_dir, struct place *pl, char *err,
                       size_t errlen)
{
    const char *cred = getenv("CREDENTIALS_DIRECTORY");
    int n;

    pl->rel = ref;
    pl->why = "";
    if (cred != NULL && *cred != '\0') {
        if (!plain_name(ref)) {
            snprintf(err, errlen,
                     "credential file \"%.200s\": with $CREDENTIALS_DIRECTORY set, a file "
                     "reference is a plain name inside it (no \"/\", no \"..\"); hand the file "
                     "to the service under that name (LoadCredential=NAME:PATH)",
                     ref);
            return -EINVAL;
        }
        pl->dir = cred;
        pl->why = " ($CREDENTIALS_DIRECTORY)";
        n = snprintf(pl->path, sizeof(pl->path), "%s/%s", pl->dir, ref);
    } else if (has_dotdot(ref)) {
        snprintf(err, errlen,
                 "credential file \"%.200s\": a \"..\" component is not allowed; name the file "
                 "by its real path",
                 ref);
        return -EINVAL;
    } else if (ref[0] == '/') {
        /* An absolute path: the file's own directory bounds its links. */
        const char *slash = strrchr(ref, '/');
        size_t dl = (size_t)(slash - ref);
        if (dl >= sizeof(pl->dirbuf) || slash[1] == '\0') {
            snprintf(err, errlen, "credential file \"%.200s\": expected a file, not a directory",
                     ref);
            return -EINVAL;
        }
        memcpy(pl->dirbuf, ref, dl);
        pl->dirbuf[dl] = '\0';
        pl->dir = dl > 0 ? pl->dirbuf : "/";
        pl->rel = slash + 1;
        n = snprintf(pl->path, sizeof(pl->path), "%s", ref);
    } else if (base_dir != NULL) {
        pl->dir = base_dir;
        pl->why = " (next to the configuration; $CREDENTIALS_DIRECTORY is not set)";
        n = snprintf(pl->path, sizeof(pl->path), "%s/%s", pl->dir, ref);
    } else {
        pl->dir = ".";
        n = snprintf(pl->path, sizeof(pl->path), "%s", ref);
    }
    if (n < 0 || (size_t)n >= sizeof(pl->path)) {
        snprintf(err, errlen, "credential file reference is too long");
        return -ENAMETOOLONG;
    }
    return 0;
}

/* Opens the file pl names, links followed only below pl->dir. The fd, or
 * -errno with err saying what to do. */
static int open_file(const struct place *pl, const char *ref, char *err, size_t errlen)
{
    int dfd = open(pl->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    int fd = dfd < 0 ? -errno : nh_secret_open_beneath(dfd, pl->rel, true);
    if (dfd >= 0)
        close(dfd);
    if (fd >= 0)
        return fd;
    int e = -fd;
    if (e == ENOENT)
        snprintf(err, errlen,
                 "credential file %s%s does not exist; create it (mode 0600) or pass it "
                 "with systemd LoadCredential=%s:PATH",
                 pl->path, pl->why, ref);
    else if (e == EACCES)
        snprintf(err, errlen,
                 "credential file %s%s is not readable by this user; chown it to the "
                 "nodeherd user or use LoadCredential=",
                 pl->path, pl->why);
    else if (e == EXDEV)
        snprintf(err, errlen,
                 "credential file %s%s is a symbolic link that leads outside %s; links are "
                 "followed only within the credential directory: put the file itself there",
                 pl->path, pl->why, pl->dir);
    else
        snprintf(err, errlen, "credential file %s%s: %s", pl->path, pl->why, strerror(e));
    return -e;
}

/* The open file is one a credential may be in: a regular file of at most
 * NH_SECRET_MAX bytes, owned by this user or root, written and read by no
 * one else (its group may read it). Fills st. 0, or -errno with err set. */
static int check_file(int fd, const struct place *pl, struct stat *st, char *err, size_t errlen)
{
    const char *path = pl->path;
    if (fstat(fd, st) < 0 || !S_ISREG(st->st_mode)) {
        snprintf(err, errlen, "credential file %s%s is not a regular file", path, pl->why);
        return -EINVAL;
    }
    uid_t me = geteuid();
    if (st->st_uid != me && st->st_uid != 0) {
        snprintf(err, errlen,
                 "credential file %s is owned by user %lu, neither this user (%lu) nor root; "
                 "chown it to one of them",
                 path, (unsigned long)st->st_uid, (unsigned long)me);
        return -EPERM;
    }
    if (st->st_mode & (S_IWGRP | S_IWOTH)) {
        snprintf(err, errlen,
                 "credential file %s is writable by %s; chmod 600 %s (anyone who can write "
                 "it can swap the credential)",
                 path, (st->st_mode & S_IWOTH) ? "other users" : "its group", path);
        return -EPERM;
    }
    if (st->st_mode & S_IROTH) {
        snprintf(err, errlen, "credential file %s is readable by other users; chmod 600 %s", path,
                 path);
        return -EPERM;
    }
    if (st->st_size > NH_SECRET_MAX) {
        snprintf(err, errlen, "credential file %s is larger than 64 KiB; is it the right file?",
                 path);
        return -EFBIG;
    }
    return 0;
}

/* Reads fd to its end into buf (NH_SECRET_MAX + 1 bytes); *len may reach
 * NH_SECRET_MAX + 1 (too large). 0, or -errno with err set. */
static int read_file(int fd, unsigned char *buf, size_t *len, const char *path, char *err,
                     size_t errlen)
{
    *len = 0;
    for (;;) {
        ssize_t r = read(fd, buf + *len, NH_SECRET_MAX + 1 - *len);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            int e = errno;
            snprintf(err, errlen, "credential file %s: %s", path, strerror(e));
            return -e;
        }
        if (r == 0 || (*len += (size_t)r) > NH_SECRET_MAX)
            return 0;
    }
}

static int load_file(const char *ref, const char *base_dir, struct nh_secret **ret, char *err,
                     size_t errlen, char *warn, size_t warnlen)
{
    struct place pl;
    int rc = locate_file(ref, base_dir, &pl, err, errlen);
    if (rc < 0)
        return rc;
    const char *path = pl.path;
    int fd = open_file(&pl, ref, err, errlen);
    if (fd < 0)
        return fd;
    struct stat st;
    rc = check_file(fd, &pl, &st, err, errlen);
    if (rc < 0) {
        close(fd);
        return rc;
    }
    unsigned char *buf = malloc(NH_SECRET_MAX + 1);
    if (buf == NULL) {
        close(fd);
        return -ENOMEM;
    }
    size_t len = 0;
    rc = read_file(fd, buf, &len, path, err, errlen);
    close(fd);
    if (rc == 0 && len > NH_SECRET_MAX) {
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
        else if ((st.st_mode & S_IRGRP) && warn != NULL && warnlen > 0 &&
                 !in_kubernetes_volume(path))
            snprintf(warn, warnlen,
                     "credential file %s is readable by its group; chmod 600 %s unless that is "
                     "intended",
                     path, path);
    }
    OPENSSL_cleanse(buf, NH_SECRET_MAX + 1);
    free(buf);
    return rc;
}

int nh_secret_ref_check(enum nh_secret_source src, const char *ref, char *err, size_t errlen)
{
    char dummy[8];
    if (err == NULL || errlen == 0) {
        err = dummy;
        errlen = sizeof(dummy);
    }
    err[0] = '\0';
    if (ref == NULL || *ref == '\0') {
        snprintf(err, errlen, "empty secret reference; name a file or a variable");
        return -EINVAL;
    }
    switch (src) {
    case NH_SECRET_FILE:
        if (strlen(ref) >= 4096) {
            snprintf(err, errlen, "credential file reference is too long");
            return -EINVAL;
        }
        return 0;
    case NH_SECRET_ENV:
        if (!env_name_ok(ref)) {
            snprintf(err, errlen,
                     "{ env: ... } does not name a valid environment variable (letters, digits, "
                     "_)");
            return -EINVAL;
        }
        return 0;
    case NH_SECRET_LITERAL:
        snprintf(err, errlen, "literal secrets exist for tests only; use { file: } or { env: }");
        return -EINVAL;
    }
    return -EINVAL;
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
