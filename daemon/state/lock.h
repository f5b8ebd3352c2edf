/* lock.h - one state directory, one daemon.
 *
 * A daemon that writes state_dir holds an exclusive POSIX record lock
 * (fcntl(2) F_SETLK, the whole file) on state_dir/nodeherd.lock for the
 * whole life of the process, taken before anything else in the directory
 * is read or written. The lock is the kernel's, so it goes away with the
 * process, kill -9 included, and a stale file never blocks a start.
 *
 * Record locks rather than flock(2) so that a second daemon learns the
 * holder's pid from the kernel (F_GETLK) even in the instant between the
 * holder taking the lock and writing its pid into the file (two daemons
 * started together hit that instant). The file still holds the pid, for
 * people and for a holder in another pid namespace. The rule that comes
 * with record locks: a process drops them when it closes *any* descriptor
 * of the file, so nothing else in the daemon may open nodeherd.lock; they
 * are not inherited across fork(2), which nodeherd does not do. */
#ifndef NH_STATE_LOCK_H
#define NH_STATE_LOCK_H

#include <stddef.h>

#define NH_STATE_LOCK_NAME "nodeherd.lock"

struct nh_state_lock;

/* Creates dir (mode 0700) when it does not exist, then takes the lock
 * without waiting. 0, or -errno with a message naming the directory, the
 * problem and the fix in err: -EWOULDBLOCK when another process holds it
 * (its pid named when known). On failure nothing in dir was changed (the
 * lock file is created only when absent). */
int nh_state_lock_take(const char *dir, struct nh_state_lock **ret, char *err, size_t errlen);
/* Releases (closes the file; the file stays). NULL ok. */
void nh_state_lock_release(struct nh_state_lock *l);

#endif
