/* notify.c - sd_notify(3) messages and the watchdog timer.
 *
 * Every message is one datagram built here and handed to sd_notify(), which
 * does nothing (returns 0) when $NOTIFY_SOCKET is unset. The last STATUS= is
 * remembered so that READY=1 (sent again after every reload) carries it. */
#include "notify.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <systemd/sd-daemon.h>

#include "util/log.h"

/* sd_notify's datagram is small; a STATUS= line longer than this is cut. */
#define NH_STATUS_MAX 256

static char last_status[NH_STATUS_MAX];

static void send_msg(const char *msg)
{
    int r = sd_notify(0, msg);
    /* Non-logging callers: a failure here only costs a message to systemd,
     * so it is a debug line, never a reason to stop. */
    if (r < 0)
        nh_log(LOG_DEBUG, "sd_notify: %s", strerror(-r));
}

void nh_notify_ready(void)
{
    char msg[NH_STATUS_MAX + 32];

    if (last_status[0] != '\0')
        snprintf(msg, sizeof(msg), "READY=1\nSTATUS=%s", last_status);
    else
        snprintf(msg, sizeof(msg), "READY=1");
    send_msg(msg);
}

void nh_notify_reloading(void)
{
    struct timespec ts;
    char msg[64];

    if (clock_gettime(CLOCK_MONOTONIC, &ts) < 0)
        return;
    uint64_t usec = (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
    snprintf(msg, sizeof(msg), "RELOADING=1\nMONOTONIC_USEC=%" PRIu64, usec);
    send_msg(msg);
}

void nh_notify_stopping(void)
{
    send_msg("STOPPING=1");
}

void nh_notify_status(const char *fmt, ...)
{
    char text[NH_STATUS_MAX];
    char msg[NH_STATUS_MAX + 16];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(text, sizeof(text), fmt, ap);
    va_end(ap);
    /* One line per assignment in the protocol: a newline would start a new
     * (bogus) variable, so it becomes a space. */
    for (char *p = text; *p != '\0'; p++)
        if (*p == '\n' || *p == '\r')
            *p = ' ';
    memcpy(last_status, text, sizeof(last_status));
    snprintf(msg, sizeof(msg), "STATUS=%s", text);
    send_msg(msg);
}

struct nh_watchdog {
    uv_timer_t timer; /* data = the watchdog; freed in its close callback */
    uint64_t interval_ms;
    bool (*healthy)(void *ud);
    void *ud;
    bool withheld; /* logged once per unhealthy spell */
};

static void on_watchdog(uv_timer_t *t)
{
    struct nh_watchdog *w = t->data;
    if (w->healthy != NULL && !w->healthy(w->ud)) {
        if (!w->withheld)
            nh_log(LOG_ERR, "unhealthy: WATCHDOG=1 withheld, systemd restarts the service");
        w->withheld = true;
        return;
    }
    w->withheld = false;
    send_msg("WATCHDOG=1");
}

void nh_watchdog_set_check(struct nh_watchdog *w, bool (*healthy)(void *ud), void *ud)
{
    if (w == NULL)
        return;
    w->healthy = healthy;
    w->ud = ud;
}

int nh_watchdog_start(uv_loop_t *loop, struct nh_watchdog **ret)
{
    uint64_t usec = 0;
    const char *sock = getenv("NOTIFY_SOCKET");

    *ret = NULL;
    if (sock == NULL || *sock == '\0')
        return 0;
    /* > 0 only when $WATCHDOG_USEC is set and $WATCHDOG_PID (if set) is us. */
    int r = sd_watchdog_enabled(0, &usec);
    if (r < 0)
        return r;
    if (r == 0 || usec == 0)
        return 0;

    struct nh_watchdog *w = calloc(1, sizeof(*w));
    if (w == NULL)
        return -ENOMEM;
    /* Pet at half the interval (sd_watchdog_enabled(3)); at least 1 ms. */
    w->interval_ms = usec / 2000u;
    if (w->interval_ms == 0)
        w->interval_ms = 1;
    r = uv_timer_init(loop, &w->timer);
    if (r < 0) {
        free(w);
        return r;
    }
    w->timer.data = w;
    r = uv_timer_start(&w->timer, on_watchdog, w->interval_ms, w->interval_ms);
    if (r < 0) {
        nh_watchdog_stop(w);
        return r;
    }
    *ret = w;
    return 0;
}

static void on_watchdog_closed(uv_handle_t *h)
{
    free(h->data);
}

void nh_watchdog_stop(struct nh_watchdog *w)
{
    if (w == NULL)
        return;
    uv_close((uv_handle_t *)&w->timer, on_watchdog_closed);
}

uint64_t nh_watchdog_interval_ms(const struct nh_watchdog *w)
{
    return w ? w->interval_ms : 0;
}
