/* httpd.c - the read-only HTTP endpoint on the daemon's loop.
 *
 * libmicrohttpd runs with MHD_USE_EPOLL and no thread of its own: its epoll
 * fd sits under one uv_poll (readable -> MHD_run) and MHD_get_timeout under
 * one uv_timer, re-armed after every MHD_run (STYLE.md §3). MHD processes
 * ready connections edge-triggered inside its own epoll set; whatever it
 * could not finish shows up as a 0 ms timeout, which the timer honours.
 *
 * Connections cannot lock the endpoint out (issue 23). MHD_OPTION_NOTIFY_
 * CONNECTION tells us of every connection; we keep those waiting for a
 * request in accept order and, after every MHD_run, sweep them:
 *  - deadlines from accept, not from the last byte: a request must be
 *    complete NH_HTTPD_REQUEST_DEADLINE_MS after accept (or after the
 *    previous answer on a kept-alive connection), an answer sent within
 *    NH_HTTPD_ANSWER_DEADLINE_MS; MHD's own timeout restarts on every byte,
 *    so alone it never ends a slow sender;
 *  - room for newcomers: past the per-address limit, the oldest idle
 *    connections of that address are closed; past the total limit (sized
 *    from RLIMIT_NOFILE), the oldest idle ones of anyone. A newcomer is never
 *    refused, so a flood from one address cannot starve a probe from the
 *    same address (a kubelet or a sidecar shares it). MHD_OPTION_PER_IP_
 *    CONNECTION_LIMIT would refuse the newcomer instead, so it is not used.
 * "Closed" is shutdown(2) on the socket: MHD sees the hang-up on its next
 * run and frees the connection as it does for any peer that went away; the
 * fd is MHD's until then (MHD 0.9.75 has no call to close one from outside).
 * Connections accepted less than NH_HTTPD_EVICT_GRACE_MS ago, or in the
 * MHD_run that just ended (their request not read yet), are spared unless
 * the total is about to reach MHD's limit. */
#include "httpd.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>

#include <microhttpd.h>

#include "metrics.h"
#include "status_page.h"
#include "util/hostport.h"
#include "util/log.h"

/* Bodies we build: generous for a few hundred series, still bounded. The
 * status document passed 4 MiB at 5,000 clusters (over 800 bytes a
 * cluster; /api/v1/status answered 500 in contrib/bench/run, scenario 2b):
 * 16 MiB, as for the metrics, holds four times that. */
#define NH_HTTPD_METRICS_CAP (16u << 20)
#define NH_HTTPD_STATUS_CAP (16u << 20)

/* Spared from eviction for this long after accept (see the top). */
#define NH_HTTPD_EVICT_GRACE_MS 100
/* At most one notice about closed connections per this long. */
#define NH_HTTPD_LOG_EVERY_MS 60000
#define NH_HTTPD_IP_BUCKETS 256

/* One client address (IPv4 as v4-mapped IPv6). */
struct hip {
    struct hip *next;
    unsigned char addr[16];
    unsigned live; /* connections not shut down yet */
    unsigned refs; /* connections tracked (freed at 0) */
};

enum hstate { HC_WAITING, HC_BUSY, HC_SHUT };

/* One connection (MHD's socket_context); freed at MHD_CONNECTION_NOTIFY_CLOSED. */
struct hconn {
    struct hconn *prev, *next; /* in waiting or busy, ordered by since_ms */
    struct hip *ip;
    int fd; /* MHD's; only ever shutdown(2) here */
    enum hstate state;
    uint64_t born_ms, born_run;
    uint64_t since_ms;             /* WAITING: accept or end of the last answer; BUSY: request */
    struct sockaddr_storage local; /* the address the client connected to */
};

struct hlist {
    struct hconn *head, *tail;
};

struct nh_httpd {
    uv_loop_t *loop;
    struct MHD_Daemon *mhd;
    uv_poll_t poll;   /* MHD's epoll fd; data = h */
    uv_timer_t timer; /* MHD_get_timeout and our deadlines; data = h */
    int open_handles; /* freed when the last close callback runs */
    int closing;
    int at_limit; /* was at conn_limit after some MHD_run */
    int port;
    struct nh_httpd_hooks hooks;
    char *page; /* the status page, owned; served without copying */
    size_t page_len;
    /* connection management (see the top) */
    unsigned conn_limit; /* MHD_OPTION_CONNECTION_LIMIT */
    unsigned per_ip;     /* live connections per client address before eviction */
    unsigned soft;       /* live connections in all before eviction */
    unsigned hard;       /* ... before eviction ignores the grace */
    unsigned live;       /* tracked and not shut down */
    unsigned ips_over;   /* addresses with more than per_ip live */
    uint64_t runs;       /* MHD_run calls */
    struct hlist waiting, busy;
    struct hip *ips[NH_HTTPD_IP_BUCKETS];
    unsigned n_evicted, n_expired; /* since the last notice */
    uint64_t last_notice_ms;
    char **names; /* daemon.listen_names, lower case, owned */
    size_t n_names;
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
    struct nh_hostport hp;
    const char *why = NULL;

    if (listen == NULL || *listen == '\0') {
        set_err(err, errlen, "listen: empty; %s", want);
        return -EINVAL;
    }
    if (nh_hostport_parse(listen, NH_HOSTPORT_NEED_PORT | NH_HOSTPORT_EMPTY_HOST, &hp, &why) < 0) {
        set_err(err, errlen, "listen \"%s\": %s; %s", listen, why,
                strstr(why, "port must") ? "0 picks a free one" : want);
        return -EINVAL;
    }
    const char *host = hp.host;
    size_t host_len = strlen(host);
    unsigned long port = hp.port;
    int v6 = hp.v6;

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

/* ---- connection tracking ---- */

static void list_append(struct hlist *l, struct hconn *c)
{
    c->next = NULL;
    c->prev = l->tail;
    if (l->tail)
        l->tail->next = c;
    else
        l->head = c;
    l->tail = c;
}

static void list_remove(struct hlist *l, struct hconn *c)
{
    if (c->prev)
        c->prev->next = c->next;
    else
        l->head = c->next;
    if (c->next)
        c->next->prev = c->prev;
    else
        l->tail = c->prev;
    c->prev = c->next = NULL;
}

static void addr_key(const struct sockaddr *sa, unsigned char key[16])
{
    memset(key, 0, 16);
    if (sa != NULL && sa->sa_family == AF_INET) {
        key[10] = key[11] = 0xff;
        memcpy(key + 12, &((const struct sockaddr_in *)(const void *)sa)->sin_addr, 4);
    } else if (sa != NULL && sa->sa_family == AF_INET6) {
        memcpy(key, &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr, 16);
    }
}

static unsigned addr_hash(const unsigned char key[16])
{
    uint32_t x = 2166136261u; /* FNV-1a */
    for (int i = 0; i < 16; i++)
        x = (x ^ key[i]) * 16777619u;
    return x % NH_HTTPD_IP_BUCKETS;
}

static struct hip *ip_get(struct nh_httpd *h, const struct sockaddr *sa)
{
    unsigned char key[16];
    addr_key(sa, key);
    unsigned b = addr_hash(key);
    for (struct hip *p = h->ips[b]; p; p = p->next)
        if (memcmp(p->addr, key, 16) == 0)
            return p;
    struct hip *p = calloc(1, sizeof(*p));
    if (p == NULL)
        return NULL;
    memcpy(p->addr, key, 16);
    p->next = h->ips[b];
    h->ips[b] = p;
    return p;
}

static void ip_put(struct nh_httpd *h, struct hip *p)
{
    if (--p->refs > 0)
        return;
    struct hip **pp = &h->ips[addr_hash(p->addr)];
    while (*pp != p)
        pp = &(*pp)->next;
    *pp = p->next;
    free(p);
}

static void live_dec(struct nh_httpd *h, struct hconn *c)
{
    if (c->ip->live-- == h->per_ip + 1)
        h->ips_over--;
    h->live--;
}

/* Ends a connection from outside MHD: shutdown(2), MHD frees it next run. */
static void conn_shut(struct nh_httpd *h, struct hconn *c, bool evicted)
{
    if (c->state == HC_SHUT)
        return;
    list_remove(c->state == HC_WAITING ? &h->waiting : &h->busy, c);
    c->state = HC_SHUT;
    live_dec(h, c);
    (void)shutdown(c->fd, SHUT_RDWR);
    if (evicted)
        h->n_evicted++;
    else
        h->n_expired++;
}

static void on_connection(void *cls, struct MHD_Connection *conn, void **socket_context,
                          enum MHD_ConnectionNotificationCode code)
{
    struct nh_httpd *h = cls;
    struct hconn *c = *socket_context;

    if (code == MHD_CONNECTION_NOTIFY_CLOSED) {
        if (c == NULL)
            return;
        if (c->state != HC_SHUT) {
            list_remove(c->state == HC_WAITING ? &h->waiting : &h->busy, c);
            live_dec(h, c);
        }
        ip_put(h, c->ip);
        free(c);
        *socket_context = NULL;
        return;
    }
    /* MHD_CONNECTION_NOTIFY_STARTED */
    const union MHD_ConnectionInfo *fi =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
    const union MHD_ConnectionInfo *ai =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    if (fi == NULL)
        return;
    c = calloc(1, sizeof(*c));
    struct hip *ip = c ? ip_get(h, ai ? ai->client_addr : NULL) : NULL;
    if (ip == NULL) {
        free(c);
        (void)shutdown(fi->connect_fd, SHUT_RDWR); /* untracked: not served */
        return;
    }
    c->fd = fi->connect_fd;
    socklen_t sl = sizeof(c->local);
    if (getsockname(c->fd, (struct sockaddr *)&c->local, &sl) < 0)
        c->local.ss_family = AF_UNSPEC;
    c->ip = ip;
    ip->refs++;
    if (++ip->live == h->per_ip + 1)
        h->ips_over++;
    h->live++;
    c->state = HC_WAITING;
    c->born_ms = c->since_ms = uv_now(h->loop);
    c->born_run = h->runs;
    list_append(&h->waiting, c);
    *socket_context = c;
}

static struct hconn *conn_of(struct MHD_Connection *conn)
{
    const union MHD_ConnectionInfo *i =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    return i ? i->socket_context : NULL;
}

/* A request is complete: its connection is no longer idle. */
static void conn_busy(struct nh_httpd *h, struct hconn *c)
{
    if (c == NULL || c->state != HC_WAITING)
        return;
    list_remove(&h->waiting, c);
    c->state = HC_BUSY;
    c->since_ms = uv_now(h->loop);
    list_append(&h->busy, c);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **req_cls,
                         enum MHD_RequestTerminationCode toe)
{
    struct nh_httpd *h = cls;
    struct hconn *c = conn_of(conn);
    (void)req_cls;
    (void)toe;
    if (c == NULL || c->state != HC_BUSY)
        return;
    list_remove(&h->busy, c); /* kept alive: waits for its next request */
    c->state = HC_WAITING;
    c->since_ms = uv_now(h->loop);
    list_append(&h->waiting, c);
}

/* After every MHD_run: deadlines, then room for newcomers. Returns the ms
 * until something here is due again, or UINT64_MAX. */
static uint64_t sweep(struct nh_httpd *h)
{
    uint64_t now = uv_now(h->loop), next = UINT64_MAX;
    struct hconn *c;

    while ((c = h->waiting.head) != NULL && now - c->since_ms >= NH_HTTPD_REQUEST_DEADLINE_MS)
        conn_shut(h, c, false);
    while ((c = h->busy.head) != NULL && now - c->since_ms >= NH_HTTPD_ANSWER_DEADLINE_MS)
        conn_shut(h, c, false);
    /* Oldest idle first. The list is in since_ms order, so past the first
     * connection inside the grace all are; they are looked at only when
     * the total nears MHD's limit. */
    struct hconn *nx;
    for (c = h->waiting.head; c && (h->ips_over > 0 || h->live > h->soft); c = nx) {
        nx = c->next;
        bool urgent = h->live > h->hard;
        if (!urgent && now - c->since_ms < NH_HTTPD_EVICT_GRACE_MS) {
            next = NH_HTTPD_EVICT_GRACE_MS - (now - c->since_ms);
            break;
        }
        if (c->ip->live <= h->per_ip && h->live <= h->soft)
            continue;
        if (c->born_run >= h->runs || (!urgent && now - c->born_ms < NH_HTTPD_EVICT_GRACE_MS)) {
            if (next > 1)
                next = 1; /* again after the next run */
            continue;
        }
        conn_shut(h, c, true);
    }
    if ((c = h->waiting.head) != NULL) {
        uint64_t due = c->since_ms + NH_HTTPD_REQUEST_DEADLINE_MS - now;
        next = due < next ? due : next;
    }
    if ((c = h->busy.head) != NULL) {
        uint64_t due = c->since_ms + NH_HTTPD_ANSWER_DEADLINE_MS - now;
        next = due < next ? due : next;
    }
    if ((h->n_evicted || h->n_expired) &&
        (h->last_notice_ms == 0 || now - h->last_notice_ms >= NH_HTTPD_LOG_EVERY_MS)) {
        nh_log(LOG_NOTICE,
               "httpd: closed %u idle connection%s over the limits (%u per client address, %u "
               "in all) and %u without a complete request or answer in time (%d s); is a client "
               "flooding the endpoint?",
               h->n_evicted, h->n_evicted == 1 ? "" : "s", h->per_ip, h->soft, h->n_expired,
               NH_HTTPD_REQUEST_DEADLINE_MS / 1000);
        h->n_evicted = h->n_expired = 0;
        h->last_notice_ms = now ? now : 1;
    }
    return next;
}

/* Limits from the process's fd limit: a reserve for curl, the journal, the
 * watches and the loop; the rest, within [64, 8192], for connections. */
static void size_limits(struct nh_httpd *h)
{
    struct rlimit rl;
    uint64_t soft = 1024;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0)
        soft = rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur > (1u << 20) ? (1u << 20) : rl.rlim_cur;
    uint64_t reserve = 256 + soft / 8;
    uint64_t b = soft > reserve ? soft - reserve : 0;
    if (b < NH_HTTPD_MIN_CONNECTIONS)
        b = NH_HTTPD_MIN_CONNECTIONS;
    if (b > NH_HTTPD_MAX_CONNECTIONS)
        b = NH_HTTPD_MAX_CONNECTIONS;
    h->conn_limit = (unsigned)b;
    h->hard = h->conn_limit - 16;
    h->soft = h->conn_limit - (h->conn_limit / 8 > 16 ? h->conn_limit / 8 : 16);
    h->per_ip = h->conn_limit / 4 < NH_HTTPD_PER_IP ? h->conn_limit / 4 : NH_HTTPD_PER_IP;
}

/* ---- Host ---- */

static bool local_addr_is(const struct hconn *c, int family, const void *addr)
{
    if (c == NULL)
        return false;
    if (c->local.ss_family == AF_INET) {
        const struct sockaddr_in *a = (const void *)&c->local;
        return family == AF_INET && memcmp(&a->sin_addr, addr, 4) == 0;
    }
    if (c->local.ss_family == AF_INET6) {
        const struct sockaddr_in6 *a = (const void *)&c->local;
        if (family == AF_INET6)
            return memcmp(&a->sin6_addr, addr, 16) == 0;
        return IN6_IS_ADDR_V4MAPPED(&a->sin6_addr) &&
               memcmp((const unsigned char *)&a->sin6_addr + 12, addr, 4) == 0;
    }
    return false;
}

/* Does the Host header name this endpoint? Its host part (the port does
 * not matter against DNS rebinding) must be "localhost", a loopback or the
 * unspecified address, the address the client connected to, or one of
 * daemon.listen_names: a rebinding page's requests carry its own name. */
static bool host_ok(const struct nh_httpd *h, const struct hconn *c, const char *value)
{
    struct nh_hostport hp;
    char *host = hp.host;

    if (nh_hostport_parse(value, 0, &hp, NULL) < 0)
        return false;
    for (char *p = host; *p != '\0'; p++)
        if (*p >= 'A' && *p <= 'Z')
            *p = (char)(*p - 'A' + 'a');
    if (strcmp(host, "localhost") == 0)
        return true;
    /* Any address literal is no rebinding (a page cannot rename it); we
     * take loopback, the unspecified address (a client connecting to
     * 0.0.0.0 reaches this host: `nodeherd status` with listen 0.0.0.0:PORT)
     * and the address connected to. */
    unsigned char a[16], b[16];
    static const unsigned char zero[16];
    int family = inet_pton(AF_INET, host, a) == 1    ? AF_INET
                 : inet_pton(AF_INET6, host, a) == 1 ? AF_INET6
                                                     : AF_UNSPEC;
    if (family == AF_INET && (a[0] == 127 || memcmp(a, zero, 4) == 0))
        return true;
    if (family == AF_INET6 && (memcmp(a, &in6addr_loopback, 16) == 0 || memcmp(a, zero, 16) == 0))
        return true;
    if (family != AF_UNSPEC && local_addr_is(c, family, a))
        return true;
    for (size_t i = 0; i < h->n_names; i++) {
        if (family == AF_UNSPEC ? strcmp(h->names[i], host) == 0
                                : inet_pton(family, h->names[i], b) == 1 &&
                                      memcmp(a, b, family == AF_INET ? 4 : 16) == 0)
            return true;
    }
    return false;
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
    struct hconn *hc = conn_of(c);
    (void)version;
    (void)upload_data;
    (void)upload_data_size;
    (void)req_cls;

    conn_busy(h, hc);
    const char *host = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_HOST);
    if (host == NULL)
        return respond_text(c, MHD_HTTP_BAD_REQUEST,
                            "bad request: send a Host header (this endpoint answers only to its "
                            "own names)\n");
    if (!host_ok(h, hc, host))
        return respond_text(c, MHD_HTTP_MISDIRECTED_REQUEST,
                            "misdirected request: the Host header does not name this endpoint; "
                            "use its address or localhost, or add the name to "
                            "daemon.listen_names\n");
    if (strcmp(method, MHD_HTTP_METHOD_GET) != 0 && strcmp(method, MHD_HTTP_METHOD_HEAD) != 0)
        return respond_text(c, MHD_HTTP_METHOD_NOT_ALLOWED,
                            "method not allowed: this endpoint is read-only (GET, HEAD)\n");
    if (strcmp(url, "/metrics") == 0)
        return serve_metrics(c);
    if (strcmp(url, "/healthz") == 0 || strcmp(url, "/readyz") == 0) {
        char why[600];
        bool healthy = h->hooks.healthy == NULL || h->hooks.healthy(h->hooks.ud, why, sizeof(why));
        if (!healthy) {
            /* Unhealthy (e.g. the state journal cannot be written): a
             * supervisor's liveness probe restarts the daemon. */
            struct nh_buf b;
            nh_buf_init(&b, 0);
            nh_buf_printf(&b, "unhealthy: %s\n", why);
            return respond_buf(c, MHD_HTTP_SERVICE_UNAVAILABLE, "text/plain; charset=utf-8", &b);
        }
        if (url[1] == 'h')
            return respond_text(c, MHD_HTTP_OK, "ok\n");
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
    h->runs++;
    if (MHD_run(h->mhd) != MHD_YES)
        nh_log(LOG_DEBUG, "httpd: MHD_run failed");
    uint64_t ours = sweep(h);
    /* At the connection limit MHD takes its listen socket out of its epoll
     * set and puts it back only in a later MHD_run, after a connection has
     * gone; MHD_get_timeout does not ask for that run, and a waiting client
     * alone cannot wake the poll. So when a connection frees a slot, run
     * again at once. */
    unsigned n = current_connections(h);
    if (n >= h->conn_limit) {
        h->at_limit = 1;
    } else if (h->at_limit) {
        h->at_limit = 0;
        uv_timer_start(&h->timer, on_timer, 0, 0);
        return;
    }
    if (MHD_get_timeout(h->mhd, &to) == MHD_YES && (uint64_t)to < ours)
        ours = (uint64_t)to;
    if (ours != UINT64_MAX)
        uv_timer_start(&h->timer, on_timer, ours, 0);
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

static void free_names(struct nh_httpd *h)
{
    for (size_t i = 0; i < h->n_names; i++)
        free(h->names[i]);
    free(h->names);
    h->names = NULL;
    h->n_names = 0;
}

static void on_closed(uv_handle_t *hd)
{
    struct nh_httpd *h = hd->data;
    if (--h->open_handles == 0) {
        free_names(h);
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
                            (const struct sockaddr *)ss, MHD_OPTION_CONNECTION_LIMIT, h->conn_limit,
                            MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)NH_HTTPD_TIMEOUT_S,
                            MHD_OPTION_NOTIFY_CONNECTION, on_connection, h,
                            MHD_OPTION_NOTIFY_COMPLETED, on_completed, h,
                            MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, NULL, MHD_OPTION_END);
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
    size_limits(h);
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

void nh_httpd_limits(const struct nh_httpd *h, unsigned *ret_total, unsigned *ret_per_ip)
{
    *ret_total = h ? h->conn_limit : 0;
    *ret_per_ip = h ? h->per_ip : 0;
}

int nh_httpd_set_names(struct nh_httpd *h, char *const *names, size_t n)
{
    char **v = calloc(n ? n : 1, sizeof(*v));
    if (v == NULL)
        return -ENOMEM;
    for (size_t i = 0; i < n; i++) {
        const char *s = names[i];
        size_t l = strlen(s);
        if (l >= 2 && s[0] == '[' && s[l - 1] == ']') {
            s++;
            l -= 2;
        }
        v[i] = strndup(s, l);
        if (v[i] == NULL) {
            while (i-- > 0)
                free(v[i]);
            free(v);
            return -ENOMEM;
        }
        for (char *p = v[i]; *p; p++)
            if (*p >= 'A' && *p <= 'Z')
                *p = (char)(*p - 'A' + 'a');
    }
    free_names(h);
    h->names = v;
    h->n_names = n;
    return 0;
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
