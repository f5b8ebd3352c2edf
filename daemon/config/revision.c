/* revision.c - which version of the configuration is loaded: the git commit
 * of the checkout holding the file (read from .git without running git), or
 * a hash of the bytes. Never fails a load. */
#include <errno.h>
#include <limits.h>
#include <openssl/evp.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "config/internal.h"

static bool is_hex40(const char *s)
{
    for (int i = 0; i < 40; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return false;
    return s[40] == '\0' || s[40] == '\n' || s[40] == '\r' || s[40] == ' ';
}

/* Reads a small file's first line (without the newline) into buf. */
static int read_line(const char *path, char *buf, size_t len)
{
    FILE *f = fopen(path, "re");
    if (f == NULL)
        return -errno;
    struct stat st;
    if (fstat(fileno(f), &st) < 0 || !S_ISREG(st.st_mode)) {
        fclose(f);
        return -EINVAL;
    }
    if (fgets(buf, (int)len, f) == NULL) {
        fclose(f);
        return -ENODATA;
    }
    fclose(f);
    buf[strcspn(buf, "\r\n")] = '\0';
    return 0;
}

static bool ref_name_ok(const char *r)
{
    if (strncmp(r, "refs/", 5) != 0 || strstr(r, "..") != NULL || strlen(r) > 1024)
        return false;
    for (; *r; r++)
        if ((unsigned char)*r <= ' ' || *r == '\\')
            return false;
    return true;
}

static int lookup_ref(const char *gitdir, const char *ref, char ret[41])
{
    char path[PATH_MAX + 1100], line[1200];
    snprintf(path, sizeof(path), "%s/%s", gitdir, ref);
    if (read_line(path, line, sizeof(line)) == 0 && is_hex40(line)) {
        memcpy(ret, line, 40);
        ret[40] = '\0';
        return 0;
    }
    snprintf(path, sizeof(path), "%s/packed-refs", gitdir);
    FILE *f = fopen(path, "re");
    if (f == NULL)
        return -ENOENT;
    int r = -ENOENT;
    while (fgets(line, sizeof(line), f) != NULL) {
        line[strcspn(line, "\r\n")] = '\0';
        if (line[0] == '#' || line[0] == '^' || strlen(line) < 42)
            continue;
        if (is_hex40(line) && line[40] == ' ' && strcmp(line + 41, ref) == 0) {
            memcpy(ret, line, 40);
            ret[40] = '\0';
            r = 0;
            break;
        }
    }
    fclose(f);
    return r;
}

/* Resolves "gitdir: PATH" in a .git file (worktrees, git-sync). */
static int gitdir_from_file(const char *dir, const char *dotgit, char *ret, size_t len)
{
    char line[PATH_MAX + 16];
    if (read_line(dotgit, line, sizeof(line)) < 0 || strncmp(line, "gitdir:", 7) != 0)
        return -EINVAL;
    const char *p = line + 7;
    while (*p == ' ' || *p == '\t')
        p++;
    if (*p == '\0')
        return -EINVAL;
    int n = *p == '/' ? snprintf(ret, len, "%s", p) : snprintf(ret, len, "%s/%s", dir, p);
    return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

static int head_of(const char *gitdir, char ret[41])
{
    char path[PATH_MAX + 64], line[1200];
    snprintf(path, sizeof(path), "%s/HEAD", gitdir);
    int r = read_line(path, line, sizeof(line));
    if (r < 0)
        return r;
    if (is_hex40(line)) { /* detached */
        memcpy(ret, line, 40);
        ret[40] = '\0';
        return 0;
    }
    if (strncmp(line, "ref:", 4) != 0)
        return -EINVAL;
    const char *ref = line + 4;
    while (*ref == ' ' || *ref == '\t')
        ref++;
    if (!ref_name_ok(ref))
        return -EINVAL;
    if (lookup_ref(gitdir, ref, ret) == 0)
        return 0;
    /* A linked worktree keeps branch refs in the common directory. */
    char common[PATH_MAX + 16], cpath[2 * PATH_MAX + 64];
    snprintf(path, sizeof(path), "%s/commondir", gitdir);
    if (read_line(path, common, sizeof(common)) < 0 || common[0] == '\0')
        return -ENOENT;
    if (common[0] == '/')
        snprintf(cpath, sizeof(cpath), "%s", common);
    else
        snprintf(cpath, sizeof(cpath), "%s/%s", gitdir, common);
    return lookup_ref(cpath, ref, ret);
}

int nh_git_dir(const char *start, char *ret, size_t len)
{
    char dir[PATH_MAX];
    if (realpath(start, dir) == NULL)
        return -errno;
    for (int guard = 0; guard < 256; guard++) {
        char dotgit[PATH_MAX + 8];
        struct stat st;
        snprintf(dotgit, sizeof(dotgit), "%s/.git", strcmp(dir, "/") == 0 ? "" : dir);
        if (stat(dotgit, &st) == 0) {
            if (S_ISDIR(st.st_mode)) {
                int n = snprintf(ret, len, "%s", dotgit);
                return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
            }
            if (S_ISREG(st.st_mode))
                return gitdir_from_file(dir, dotgit, ret, len);
            return -EINVAL;
        }
        if (strcmp(dir, "/") == 0)
            break;
        char *slash = strrchr(dir, '/');
        if (slash == NULL)
            break;
        if (slash == dir)
            dir[1] = '\0';
        else
            *slash = '\0';
    }
    return -ENOENT;
}

int nh_git_head(const char *start, char ret[41])
{
    char gitdir[PATH_MAX + 16];
    int r = nh_git_dir(start, gitdir, sizeof(gitdir));
    if (r < 0)
        return r;
    return head_of(gitdir, ret);
}

char *nh_config_revision_sha256(const char *data, size_t len)
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    if (!EVP_Digest(data, len, md, &mdlen, EVP_sha256(), NULL) || mdlen < 8)
        return NULL;
    char *s = malloc(7 + 16 + 1);
    if (s == NULL)
        return NULL;
    memcpy(s, "sha256:", 7);
    for (int i = 0; i < 8; i++)
        snprintf(s + 7 + 2 * i, 3, "%02x", md[i]);
    return s;
}

char *nh_config_revision(const char *path, const char *data, size_t len)
{
    if (path != NULL) {
        char real[PATH_MAX], head[41];
        if (realpath(path, real) != NULL) {
            char *slash = strrchr(real, '/');
            if (slash == real)
                real[1] = '\0';
            else if (slash != NULL)
                *slash = '\0';
            if (nh_git_head(real, head) == 0) {
                char *s = malloc(4 + 40 + 1);
                if (s != NULL)
                    snprintf(s, 45, "git:%s", head);
                return s;
            }
        }
    }
    return nh_config_revision_sha256(data, len);
}
