/* notify.h - systemd service notifications (sd_notify) and the watchdog.
 * All are no-ops when $NOTIFY_SOCKET is unset. */
#ifndef NH_NOTIFY_H
#define NH_NOTIFY_H

#include <stdbool.h>
#include <stdint.h>

#include <uv.h>

void nh_notify_ready(void);     /* READY=1 (+ current STATUS) */
void nh_notify_reloading(void); /* RELOADING=1 + MONOTONIC_USEC=<now> */
void nh_notify_stopping(void);  /* STOPPING=1 */
void nh_notify_status(const char *fmt, ...) __attribute__((format(printf, 1, 2))); /* STATUS=... */

struct nh_watchdog;
/* Starts a uv timer that sends WATCHDOG=1 at half of $WATCHDOG_USEC (when
 * set and meant for this pid). *ret is NULL when no watchdog is wanted.
 * 0 or -errno. */
int nh_watchdog_start(uv_loop_t *loop, struct nh_watchdog **ret);
void nh_watchdog_stop(struct nh_watchdog *w); /* closes; freed in the close callback. NULL ok */
/* While healthy(ud) is false, WATCHDOG=1 is not sent, so systemd restarts
 * the service after WatchdogSec= (the daemon runs but cannot do its job,
 * e.g. its state journal cannot be written). NULL: always sent. NULL w ok. */
void nh_watchdog_set_check(struct nh_watchdog *w, bool (*healthy)(void *ud), void *ud);
uint64_t nh_watchdog_interval_ms(const struct nh_watchdog *w);

#endif
