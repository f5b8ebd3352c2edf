/* httpd.h - the metrics/health/status endpoint: libmicrohttpd with
 * MHD_USE_EPOLL, its epoll fd under one uv_poll and MHD_get_timeout under
 * one uv_timer, so it runs inside the daemon's loop (no threads).
 *
 *   GET /metrics        Prometheus text (nh_metrics_render)
 *   GET /healthz        200 "ok" while the loop runs and hooks->healthy() agrees,
 *                       else 503 "unhealthy: <why>" (a supervisor restarts it)
 *   GET /readyz         200 when hooks->ready() says so (and healthy), else 503
 *   GET /api/v1/status  hooks->status_json() (application/json)
 *   GET /               the status page (self-contained HTML; reads /api/v1/status)
 * Anything else 404; methods other than GET/HEAD 405; a Host header that
 * does not name the endpoint 421 (see nh_httpd_set_names). Read-only: nothing
 * here can change the fleet. Every answer carries Cache-Control: no-store and
 * X-Content-Type-Options: nosniff; / carries a strict Content-Security-Policy.
 * /readyz is 503 when hooks->ready is NULL; /api/v1/status is 503 when
 * hooks->status_json is NULL and 500 when it fails. The hooks are copied;
 * ud is borrowed and must outlive the server. */
#ifndef NH_HTTPD_H
#define NH_HTTPD_H

#include <stdbool.h>
#include <stddef.h>

#include <sys/socket.h>

#include <uv.h>

#include "util/buf.h"

struct nh_httpd;

struct nh_httpd_hooks {
    bool (*ready)(void *ud);
    /* NULL: always healthy. false: why (a sentence) in why[len]. */
    bool (*healthy)(void *ud, char *why, size_t len);
    /* Appends the status document (JSON). 0 or -errno. */
    int (*status_json)(void *ud, struct nh_buf *out);
    void *ud;
};

/* listen: "HOST:PORT", "[::1]:PORT" or ":PORT" (all addresses). Port 0 picks
 * a free port (see nh_httpd_port). 0 or -errno with a message in err. */
int nh_httpd_start(uv_loop_t *loop, const char *listen, const struct nh_httpd_hooks *hooks,
                   struct nh_httpd **ret, char *err, size_t errlen);
int nh_httpd_port(const struct nh_httpd *h);
/* Pure: parses a listen string into an address without resolving names.
 * HOST is a numeric IPv4 address, a bracketed IPv6 address, "localhost"
 * (127.0.0.1) or empty (":PORT", every address: dual-stack ::, *ret_any set).
 * PORT is 0..65535. 0, or -EINVAL with a message naming the fix in err. */
int nh_httpd_parse_listen(const char *listen, struct sockaddr_storage *ret_addr, socklen_t *ret_len,
                          int *ret_any, char *err, size_t errlen);
/* Limits (see httpd.c): connections in all, sized from RLIMIT_NOFILE at
 * start (the soft limit less 256 and an eighth, kept for curl, the journal
 * and the watches) within [NH_HTTPD_MIN_CONNECTIONS, NH_HTTPD_MAX_CONNECTIONS];
 * per client address at most NH_HTTPD_PER_IP (a quarter of that total if
 * smaller). Over either limit the oldest idle connections are closed; a
 * new one is never refused. A connection is closed when its request is not
 * complete NH_HTTPD_REQUEST_DEADLINE_MS after accept (or after its previous
 * answer), when an answer is not sent NH_HTTPD_ANSWER_DEADLINE_MS after its
 * request, and after NH_HTTPD_TIMEOUT_S seconds without any traffic. */
#define NH_HTTPD_MIN_CONNECTIONS 64
#define NH_HTTPD_MAX_CONNECTIONS 8192
#define NH_HTTPD_PER_IP 32
#define NH_HTTPD_REQUEST_DEADLINE_MS 5000
#define NH_HTTPD_ANSWER_DEADLINE_MS 30000
#define NH_HTTPD_TIMEOUT_S 5
/* The connection limits of a running endpoint (0, 0 for NULL). */
void nh_httpd_limits(const struct nh_httpd *h, unsigned *ret_total, unsigned *ret_per_ip);
/* Host names (or addresses) the endpoint answers to besides localhost,
 * loopback addresses and the address a client connected to: every other
 * Host header gets 421, a request without one 400 (DNS rebinding). Copied;
 * compared without case; [IPv6] brackets dropped. 0 or -ENOMEM. */
int nh_httpd_set_names(struct nh_httpd *h, char *const *names, size_t n);
/* Stops MHD and closes the uv handles; memory is freed from the close
 * callbacks (run the loop afterwards). NULL ok. */
void nh_httpd_stop(struct nh_httpd *h);

#endif
