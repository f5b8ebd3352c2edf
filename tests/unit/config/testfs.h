/* testfs.h - scratch directories and files for the config tests. */
#ifndef NH_TEST_CONFIG_FS_H
#define NH_TEST_CONFIG_FS_H

#define _XOPEN_SOURCE 700
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static inline char *tfs_mkdtemp(void)
{
    char tmpl[] = "/tmp/nh-config-test.XXXXXX";
    char *d = mkdtemp(tmpl);
    return d ? strdup(d) : NULL;
}

/* Writes data (len bytes) to dir/name with mode; creates parent dirs one deep. */
static inline int tfs_write(const char *dir, const char *name, const void *data, size_t len,
                            mode_t mode)
{
    char path[PATH_MAX];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
    if (fd < 0)
        return -1;
    ssize_t w = write(fd, data, len);
    close(fd);
    if (chmod(path, mode) < 0) /* umask must not decide the test */
        return -1;
    return w == (ssize_t)len ? 0 : -1;
}

static inline int tfs_writes(const char *dir, const char *name, const char *s, mode_t mode)
{
    return tfs_write(dir, name, s, strlen(s), mode);
}

static inline int tfs_mkdir(const char *dir, const char *name)
{
    char path[PATH_MAX];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    return mkdir(path, 0700);
}

static inline int tfs_rm_cb(const char *p, const struct stat *st, int flag, struct FTW *f)
{
    (void)st;
    (void)flag;
    (void)f;
    return remove(p);
}

static inline void tfs_rmrf(char *dir)
{
    if (dir != NULL)
        nftw(dir, tfs_rm_cb, 16, FTW_DEPTH | FTW_PHYS);
    free(dir);
}

#endif
