/* httpd.h - the metrics/health/status endpoint: libmicrohttpd with
 * MHD_USE_EPOLL, its epoll fd under one uv_poll and MHD_get_timeout under
 * one uv_timer, so it runs inside the daemon's loop (no threads).
 *
 *   GET /metrics        Prometheus text (nh_metrics_render)
 *   GET /healthz        200 "ok" while the loop runs
 *   GET /readyz         200 when hooks->ready() says so, else 503
 *   GET /api/v1/status  hooks->status_json() (application/json)
 *   GET /               the status page (self-contained HTML; reads /api/v1/status)
 * Anything else 404; methods other than GET/HEAD 405. Read-only: nothing
 * here can change the fleet. */
#ifndef NH_HTTPD_H
#define NH_HTTPD_H

#include <stdbool.h>
#include <stddef.h>

#include <uv.h>

#include "util/buf.h"

struct nh_httpd;

struct nh_httpd_hooks {
    bool (*ready)(void *ud);
    /* Appends the status document (JSON). 0 or -errno. */
    int (*status_json)(void *ud, struct nh_buf *out);
    void *ud;
};

/* listen: "HOST:PORT", "[::1]:PORT" or ":PORT" (all addresses). Port 0 picks
 * a free port (see nh_httpd_port). 0 or -errno with a message in err. */
int nh_httpd_start(uv_loop_t *loop, const char *listen, const struct nh_httpd_hooks *hooks,
                   struct nh_httpd **ret, char *err, size_t errlen);
int nh_httpd_port(const struct nh_httpd *h);
/* Stops MHD and closes the uv handles; memory is freed from the close
 * callbacks (run the loop afterwards). NULL ok. */
void nh_httpd_stop(struct nh_httpd *h);

#endif
