/* lock.c - the state directory's lock (see lock.h). */
#include "state/lock.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct nh_state_lock {
    int fd;
};

/* The whole file, exclusively; l_pid is filled in by F_GETLK. */
static struct flock whole_file(short type)
{
    struct flock fl;

    memset(&fl, 0, sizeof(fl));
    fl.l_type = type;
    fl.l_whence = SEEK_SET; /* l_start = l_len = 0: the whole file, however long */
    return fl;
}

/* The holder's pid: the kernel's answer first (F_GETLK names the process
 * that holds the lock, with no window where it is not yet known), else what
 * the holder wrote in the file ("1234\n": a holder in another pid namespace,
 * which F_GETLK reports as 0), else "" (the holder just went away). */
static void read_holder(int fd, char *pid, size_t len)
{
    struct flock fl = whole_file(F_WRLCK);
    char buf[32];
    ssize_t n;
    size_t k = 0;

    pid[0] = '\0';
    if (fcntl(fd, F_GETLK, &fl) == 0 && fl.l_type != F_UNLCK && fl.l_pid > 0) {
        snprintf(pid, len, "%ld", (long)fl.l_pid);
        return;
    }
    n = pread(fd, buf, sizeof(buf) - 1, 0);
    if (n <= 0)
        return;
    buf[n] = '\0';
    while (k < (size_t)n && buf[k] >= '0' && buf[k] <= '9')
        k++;
    if (k == 0 || k >= len)
        return;
    memcpy(pid, buf, k);
    pid[k] = '\0';
}

int nh_state_lock_take(const char *dir, struct nh_state_lock **ret, char *err, size_t errlen)
{
    char path[4096], pid[24], line[32];
    struct stat st;
    int fd, r;

    *ret = NULL;
    if (dir == NULL || dir[0] == '\0') {
        snprintf(err, errlen, "no state directory given (set daemon.state_dir)");
        return -EINVAL;
    }
    if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, NH_STATE_LOCK_NAME) >= sizeof(path)) {
        snprintf(err, errlen, "state directory path too long: %.200s...", dir);
        return -ENAMETOOLONG;
    }
    if (mkdir(dir, 0700) == 0) {
        /* make the new directory's entry durable in its parent */
        char parent[4096];
        snprintf(parent, sizeof(parent), "%s", dir);
        char *slash = strrchr(parent, '/');
        if (slash == parent)
            slash[1] = '\0';
        else if (slash != NULL)
            *slash = '\0';
        else
            snprintf(parent, sizeof(parent), ".");
        int pfd = open(parent, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (pfd >= 0) {
            (void)fsync(pfd);
            close(pfd);
        }
    } else if (errno != EEXIST) {
        r = -errno;
        snprintf(err, errlen,
                 "%s: cannot create the state directory: %s (create it, mode 0700, owned by "
                 "the daemon's user)",
                 dir, strerror(-r));
        return r;
    }
    if (stat(dir, &st) < 0 || !S_ISDIR(st.st_mode)) {
        snprintf(err, errlen, "%s: exists but is not a directory (point state_dir at a directory)",
                 dir);
        return -ENOTDIR;
    }
    /* No O_TRUNC: a second daemon must not touch the holder's pid. */
    fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0) {
        r = -errno;
        snprintf(err, errlen,
                 "%s: cannot open the lock file: %s (the state directory must be writable by "
                 "the daemon's user)",
                 path, strerror(-r));
        return r;
    }
    struct flock fl = whole_file(F_WRLCK);
    if (fcntl(fd, F_SETLK, &fl) < 0) {
        r = -errno;
        if (r == -EACCES || r == -EAGAIN) { /* POSIX allows either for "held" */
            r = -EWOULDBLOCK;
            read_holder(fd, pid, sizeof(pid));
            snprintf(err, errlen,
                     "state directory %s is in use by another nodeherd (pid %s, holding %s); one "
                     "state directory per daemon: give this one its own daemon.state_dir (or "
                     "$STATE_DIRECTORY), or stop the other",
                     dir, pid[0] ? pid : "unknown", path);
        } else {
            snprintf(err, errlen, "%s: cannot lock: %s", path, strerror(-r));
        }
        close(fd);
        return r;
    }
    /* Ours now: record who holds it, for the next one's message. */
    snprintf(line, sizeof(line), "%ld\n", (long)getpid());
    errno = EIO; /* a short write sets none */
    if (ftruncate(fd, 0) < 0 || pwrite(fd, line, strlen(line), 0) != (ssize_t)strlen(line)) {
        r = -errno;
        snprintf(err, errlen, "%s: cannot write the lock file: %s", path, strerror(-r));
        close(fd);
        return r;
    }
    struct nh_state_lock *l = calloc(1, sizeof(*l));
    if (l == NULL) {
        close(fd);
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    l->fd = fd;
    *ret = l;
    return 0;
}

void nh_state_lock_release(struct nh_state_lock *l)
{
    if (l == NULL)
        return;
    close(l->fd); /* the kernel drops the lock with the last descriptor */
    free(l);
}
