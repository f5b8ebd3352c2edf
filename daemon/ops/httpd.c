/* httpd.c - the read-only HTTP endpoint on the daemon's loop.
 *
 * libmicrohttpd runs with MHD_USE_EPOLL and no thread of its own: its epoll
 * fd sits under one uv_poll (readable -> MHD_run) and MHD_get_timeout under
 * one uv_timer, re-armed after every MHD_run (STYLE.md §3). MHD processes
 * ready connections edge-triggered inside its own epoll set; whatever it
 * could not finish shows up as a 0 ms timeout, which the timer honours. */
#include "httpd.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <microhttpd.h>

#include "metrics.h"
#include "status_page.h"
#include "util/log.h"

/* Bodies we build: generous for a few hundred series, still bounded. */
#define NH_HTTPD_METRICS_CAP (16u << 20)
#define NH_HTTPD_STATUS_CAP (4u << 20)

struct nh_httpd {
    uv_loop_t *loop;
    struct MHD_Daemon *mhd;
    uv_poll_t poll;   /* MHD's epoll fd; data = h */
    uv_timer_t timer; /* MHD_get_timeout; data = h */
    int open_handles; /* freed when the last close callback runs */
    int closing;
    int at_limit; /* was at NH_HTTPD_MAX_CONNECTIONS after some MHD_run */
    int port;
    struct nh_httpd_hooks hooks;
    char *page; /* the status page, owned; served without copying */
    size_t page_len;
};

static void set_err(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void set_err(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;

    if (err == NULL || errlen == 0)
        return;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

int nh_httpd_parse_listen(const char *listen, struct sockaddr_storage *ret_addr, socklen_t *ret_len,
                          int *ret_any, char *err, size_t errlen)
{
    static const char want[] = "expected HOST:PORT, [IPv6]:PORT or :PORT (e.g. 127.0.0.1:9464)";
    char host[INET6_ADDRSTRLEN + 1];
    const char *port_s;
    size_t host_len;
    int v6 = 0;

    if (listen == NULL || *listen == '\0') {
        set_err(err, errlen, "listen: empty; %s", want);
        return -EINVAL;
    }
    if (listen[0] == '[') {
        const char *close = strchr(listen, ']');
        if (close == NULL || close[1] != ':') {
            set_err(err, errlen, "listen \"%s\": unclosed \"[\" or no \":PORT\" after \"]\"; %s",
                    listen, want);
            return -EINVAL;
        }
        host_len = (size_t)(close - listen - 1);
        if (host_len == 0 || host_len >= sizeof(host)) {
            set_err(err, errlen, "listen \"%s\": bad IPv6 address; %s", listen, want);
            return -EINVAL;
        }
        memcpy(host, listen + 1, host_len);
        port_s = close + 2;
        v6 = 1;
    } else {
        const char *colon = strrchr(listen, ':');
        if (colon == NULL) {
            set_err(err, errlen, "listen \"%s\": no port; %s", listen, want);
            return -EINVAL;
        }
        host_len = (size_t)(colon - listen);
        if (memchr(listen, ':', host_len) != NULL) {
            set_err(err, errlen, "listen \"%s\": an IPv6 address needs brackets, as in [::1]:9464",
                    listen);
            return -EINVAL;
        }
        if (host_len >= sizeof(host)) {
            set_err(err, errlen, "listen \"%s\": host too long; %s", listen, want);
            return -EINVAL;
        }
        memcpy(host, listen, host_len);
        port_s = colon + 1;
    }
    host[host_len] = '\0';

    unsigned long port = 0;
    size_t digits = strspn(port_s, "0123456789");
    if (digits == 0 || digits > 5 || port_s[digits] != '\0' ||
        (port = strtoul(port_s, NULL, 10)) > 65535) {
        set_err(err, errlen, "listen \"%s\": port must be a number 0..65535 (0 picks a free one)",
                listen);
        return -EINVAL;
    }

    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof(ss));
    int any = 0;
    socklen_t len;
    if (v6) {
        struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)&ss;
        a6->sin6_family = AF_INET6;
        a6->sin6_port = htons((uint16_t)port);
        if (inet_pton(AF_INET6, host, &a6->sin6_addr) != 1) {
            set_err(err, errlen, "listen \"%s\": \"%s\" is not an IPv6 address", listen, host);
            return -EINVAL;
        }
        len = sizeof(*a6);
    } else if (host_len == 0) {
        struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)&ss;
        a6->sin6_family = AF_INET6;
        a6->sin6_port = htons((uint16_t)port);
        a6->sin6_addr = in6addr_any;
        len = sizeof(*a6);
        any = 1;
    } else {
        struct sockaddr_in *a4 = (struct sockaddr_in *)&ss;
        a4->sin_family = AF_INET;
        a4->sin_port = htons((uint16_t)port);
        if (strcmp(host, "localhost") == 0)
            a4->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        else if (inet_pton(AF_INET, host, &a4->sin_addr) != 1) {
            set_err(err, errlen,
                    "listen \"%s\": \"%s\" is not a numeric address; use an IP such as "
                    "127.0.0.1 or [::1] (host names are not resolved)",
                    listen, host);
            return -EINVAL;
        }
        len = sizeof(*a4);
    }
    *ret_addr = ss;
    *ret_len = len;
    *ret_any = any;
    return 0;
}

/* ---- requests ---- */

static enum MHD_Result respond(struct MHD_Connection *c, unsigned code, const char *ctype,
                               void *body, size_t len, enum MHD_ResponseMemoryMode mode,
                               const char *csp)
{
    struct MHD_Response *resp = MHD_create_response_from_buffer(len, body, mode);
    if (resp == NULL) {
        if (mode == MHD_RESPMEM_MUST_FREE)
            free(body);
        return MHD_NO; /* MHD closes the connection */
    }
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, ctype);
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
    MHD_add_response_header(resp, "Content-Security-Policy",
                            csp ? csp : "default-src 'none'; frame-ancestors 'none'");
    if (csp != NULL) {
        MHD_add_response_header(resp, "Referrer-Policy", "no-referrer");
        MHD_add_response_header(resp, "X-Frame-Options", "DENY");
    }
    if (code == MHD_HTTP_METHOD_NOT_ALLOWED)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, "GET, HEAD");
    enum MHD_Result r = MHD_queue_response(c, code, resp);
    MHD_destroy_response(resp);
    return r;
}

static enum MHD_Result respond_text(struct MHD_Connection *c, unsigned code, const char *text)
{
    return respond(c, code, "text/plain; charset=utf-8", (void *)text, strlen(text),
                   MHD_RESPMEM_PERSISTENT, NULL);
}

/* A body built into a buffer: handed to MHD, which free()s it. */
static enum MHD_Result respond_buf(struct MHD_Connection *c, unsigned code, const char *ctype,
                                   struct nh_buf *b)
{
    size_t len = b->len;
    char *body = nh_buf_steal(b);
    if (body == NULL)
        return respond_text(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory\n");
    return respond(c, code, ctype, body, len, MHD_RESPMEM_MUST_FREE, NULL);
}

static enum MHD_Result serve_metrics(struct MHD_Connection *c)
{
    struct nh_buf b;
    nh_buf_init(&b, NH_HTTPD_METRICS_CAP);
    int r = nh_metrics_render(&b);
    if (r < 0) {
        nh_buf_free(&b);
        nh_log(LOG_WARNING, "httpd: /metrics: cannot render the registry: %s; answering 500",
               strerror(-r));
        return respond_text(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "cannot render metrics\n");
    }
    return respond_buf(c, MHD_HTTP_OK, "text/plain; version=0.0.4; charset=utf-8", &b);
}

static enum MHD_Result serve_status(struct nh_httpd *h, struct MHD_Connection *c)
{
    static const char none[] = "{\"error\":\"status is not available yet\"}\n";
    static const char failed[] = "{\"error\":\"cannot produce the status document\"}\n";
    struct nh_buf b;

    if (h->hooks.status_json == NULL)
        return respond(c, MHD_HTTP_SERVICE_UNAVAILABLE, "application/json", (void *)none,
                       sizeof(none) - 1, MHD_RESPMEM_PERSISTENT, NULL);
    nh_buf_init(&b, NH_HTTPD_STATUS_CAP);
    int r = h->hooks.status_json(h->hooks.ud, &b);
    if (r < 0) {
        nh_buf_free(&b);
        nh_log(LOG_WARNING, "httpd: /api/v1/status: %s; answering 500", strerror(-r));
        return respond(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "application/json", (void *)failed,
                       sizeof(failed) - 1, MHD_RESPMEM_PERSISTENT, NULL);
    }
    return respond_buf(c, MHD_HTTP_OK, "application/json", &b);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **req_cls)
{
    struct nh_httpd *h = cls;
    (void)version;
    (void)upload_data;
    (void)upload_data_size;
    (void)req_cls;

    if (strcmp(method, MHD_HTTP_METHOD_GET) != 0 && strcmp(method, MHD_HTTP_METHOD_HEAD) != 0)
        return respond_text(c, MHD_HTTP_METHOD_NOT_ALLOWED,
                            "method not allowed: this endpoint is read-only (GET, HEAD)\n");
    if (strcmp(url, "/metrics") == 0)
        return serve_metrics(c);
    if (strcmp(url, "/healthz") == 0)
        return respond_text(c, MHD_HTTP_OK, "ok\n");
    if (strcmp(url, "/readyz") == 0) {
        bool ready = h->hooks.ready != NULL && h->hooks.ready(h->hooks.ud);
        return ready ? respond_text(c, MHD_HTTP_OK, "ready\n")
                     : respond_text(c, MHD_HTTP_SERVICE_UNAVAILABLE, "not ready\n");
    }
    if (strcmp(url, "/api/v1/status") == 0)
        return serve_status(h, c);
    if (strcmp(url, "/") == 0)
        return respond(c, MHD_HTTP_OK, "text/html; charset=utf-8", h->page, h->page_len,
                       MHD_RESPMEM_PERSISTENT, nh_status_page_csp);
    return respond_text(c, MHD_HTTP_NOT_FOUND,
                        "not found; try /, /metrics, /healthz, /readyz or /api/v1/status\n");
}

/* ---- the loop ---- */

static void on_timer(uv_timer_t *t);

static unsigned current_connections(struct nh_httpd *h)
{
    const union MHD_DaemonInfo *i =
        MHD_get_daemon_info(h->mhd, MHD_DAEMON_INFO_CURRENT_CONNECTIONS);
    return i ? i->num_connections : 0;
}

static void drive(struct nh_httpd *h)
{
    MHD_UNSIGNED_LONG_LONG to;

    if (h->closing)
        return;
    if (MHD_run(h->mhd) != MHD_YES)
        nh_log(LOG_DEBUG, "httpd: MHD_run failed");
    /* At the connection limit MHD takes its listen socket out of its epoll
     * set and puts it back only in a later MHD_run, after a connection has
     * gone; MHD_get_timeout does not ask for that run, and a waiting client
     * alone cannot wake the poll. So when a connection frees a slot, run
     * again at once. */
    unsigned n = current_connections(h);
    if (n >= NH_HTTPD_MAX_CONNECTIONS) {
        h->at_limit = 1;
    } else if (h->at_limit) {
        h->at_limit = 0;
        uv_timer_start(&h->timer, on_timer, 0, 0);
        return;
    }
    if (MHD_get_timeout(h->mhd, &to) == MHD_YES)
        uv_timer_start(&h->timer, on_timer, (uint64_t)to, 0);
    else
        uv_timer_stop(&h->timer); /* nothing pending: the poll wakes us */
}

static void on_poll(uv_poll_t *p, int status, int events)
{
    (void)events;
    if (status < 0)
        nh_log(LOG_DEBUG, "httpd: poll: %s", uv_strerror(status));
    drive(p->data);
}

static void on_timer(uv_timer_t *t)
{
    drive(t->data);
}

static void on_mhd_log(void *cls, const char *fmt, va_list ap)
{
    char msg[256];
    (void)cls;
    vsnprintf(msg, sizeof(msg), fmt, ap);
    msg[strcspn(msg, "\n")] = '\0';
    nh_log(LOG_DEBUG, "httpd: libmicrohttpd: %s", msg);
}

static void on_closed(uv_handle_t *hd)
{
    struct nh_httpd *h = hd->data;
    if (--h->open_handles == 0) {
        free(h->page);
        free(h);
    }
}

static struct MHD_Daemon *start_mhd(struct nh_httpd *h, const struct sockaddr_storage *ss, int dual)
{
    unsigned flags = MHD_USE_EPOLL | MHD_USE_ERROR_LOG;
    if (ss->ss_family == AF_INET6)
        flags |= dual ? MHD_USE_DUAL_STACK : MHD_USE_IPv6;
    uint16_t port = ss->ss_family == AF_INET6 ? ntohs(((const struct sockaddr_in6 *)ss)->sin6_port)
                                              : ntohs(((const struct sockaddr_in *)ss)->sin_port);
    return MHD_start_daemon(flags, port, NULL, NULL, on_request, h, MHD_OPTION_SOCK_ADDR,
                            (const struct sockaddr *)ss, MHD_OPTION_CONNECTION_LIMIT,
                            (unsigned int)NH_HTTPD_MAX_CONNECTIONS, MHD_OPTION_CONNECTION_TIMEOUT,
                            (unsigned int)NH_HTTPD_TIMEOUT_S, MHD_OPTION_EXTERNAL_LOGGER,
                            on_mhd_log, NULL, MHD_OPTION_END);
}

int nh_httpd_start(uv_loop_t *loop, const char *listen, const struct nh_httpd_hooks *hooks,
                   struct nh_httpd **ret, char *err, size_t errlen)
{
    struct sockaddr_storage ss;
    socklen_t sslen;
    int any, r;

    r = nh_httpd_parse_listen(listen, &ss, &sslen, &any, err, errlen);
    if (r < 0)
        return r;
    struct nh_httpd *h = calloc(1, sizeof(*h));
    if (h == NULL) {
        set_err(err, errlen, "listen \"%s\": out of memory", listen);
        return -ENOMEM;
    }
    h->loop = loop;
    if (hooks != NULL)
        h->hooks = *hooks;
    struct nh_buf page;
    nh_buf_init(&page, 0);
    r = nh_status_page_render(&page);
    h->page_len = page.len;
    h->page = r == 0 ? nh_buf_steal(&page) : NULL;
    nh_buf_free(&page);
    if (h->page == NULL) {
        free(h);
        set_err(err, errlen, "listen \"%s\": out of memory", listen);
        return -ENOMEM;
    }

    errno = 0;
    h->mhd = start_mhd(h, &ss, any);
    if (h->mhd == NULL && any) {
        /* no IPv6 on this host: every IPv4 address instead */
        struct sockaddr_in *a4 = (struct sockaddr_in *)&ss;
        uint16_t port = ((struct sockaddr_in6 *)&ss)->sin6_port;
        memset(&ss, 0, sizeof(ss));
        a4->sin_family = AF_INET;
        a4->sin_port = port;
        a4->sin_addr.s_addr = htonl(INADDR_ANY);
        errno = 0;
        h->mhd = start_mhd(h, &ss, 0);
    }
    if (h->mhd == NULL) {
        int e = errno ? errno : EADDRNOTAVAIL;
        set_err(err, errlen,
                "cannot listen on %s: %s; is another process using the port? Set "
                "daemon.listen to a free HOST:PORT (port 0 picks one)",
                listen, strerror(e));
        free(h->page);
        free(h);
        return -e;
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(h->mhd, MHD_DAEMON_INFO_BIND_PORT);
    h->port = info ? (int)info->port : -1;
    info = MHD_get_daemon_info(h->mhd, MHD_DAEMON_INFO_EPOLL_FD);
    int epfd = info ? info->epoll_fd : -1;

    r = epfd < 0 ? UV_EINVAL : uv_poll_init(loop, &h->poll, epfd);
    if (r < 0) {
        set_err(err, errlen, "listen %s: cannot watch libmicrohttpd's epoll fd: %s", listen,
                uv_strerror(r));
        MHD_stop_daemon(h->mhd);
        free(h->page);
        free(h);
        return r;
    }
    h->poll.data = h;
    h->open_handles++;
    r = uv_timer_init(loop, &h->timer);
    if (r == 0) {
        h->timer.data = h;
        h->open_handles++;
        r = uv_poll_start(&h->poll, UV_READABLE, on_poll);
    }
    if (r < 0) {
        set_err(err, errlen, "listen %s: %s", listen, uv_strerror(r));
        nh_httpd_stop(h);
        return r;
    }
    drive(h); /* arm the timer for whatever MHD wants first */
    *ret = h;
    return 0;
}

int nh_httpd_port(const struct nh_httpd *h)
{
    return h ? h->port : -1;
}

void nh_httpd_stop(struct nh_httpd *h)
{
    if (h == NULL || h->closing)
        return;
    h->closing = 1;
    /* Out of the loop's epoll set first (uv_close deregisters the fd at
     * once), then MHD may close its epoll fd and every connection. */
    int handles = h->open_handles;
    if (handles >= 1)
        uv_close((uv_handle_t *)&h->poll, on_closed);
    if (handles >= 2)
        uv_close((uv_handle_t *)&h->timer, on_closed);
    MHD_stop_daemon(h->mhd);
    h->mhd = NULL;
}
