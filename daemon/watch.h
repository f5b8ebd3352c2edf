/* watch.h - notices when the configuration file changes, however it is
 * published: edited in place, written to a temp file and renamed (editors,
 * git-sync's worktree), or reached through a symlink swapped atomically to a
 * new directory (Kubernetes ConfigMaps' ..data, git-sync's current link).
 *
 * inotify (uv_fs_event) watches the file's directory and the directory of
 * every symlink on its path; any event there leads to a stat() of the path
 * (following links) and the callback runs when device, inode, size or mtime
 * differ from the last look. A slow stat() timer is the safety net for file
 * systems without inotify. */
#ifndef NH_WATCH_H
#define NH_WATCH_H

#include <uv.h>

struct nh_watch;

typedef void (*nh_watch_fn)(void *ud);

/* 0 or -errno. The path is copied. */
int nh_watch_start(uv_loop_t *loop, const char *path, nh_watch_fn changed, void *ud,
                   struct nh_watch **ret);
/* Closes every handle; memory is released from the close callbacks. NULL ok. */
void nh_watch_stop(struct nh_watch *w);

#endif
