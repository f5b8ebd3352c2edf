/* http.c - libcurl's multi interface driven by the libuv loop.
 *
 * Shape (STYLE.md §3, after curl's docs/examples/multi-uv.c without its bugs):
 *  - one multi handle; CURLMOPT_SOCKETFUNCTION keeps one uv_poll_t per fd in
 *    an fd-indexed table, CURLMOPT_TIMERFUNCTION drives one uv_timer_t;
 *  - every socket_action is followed by draining curl_multi_info_read;
 *  - sockets are closed through CURLOPT_CLOSESOCKETFUNCTION, which stops the
 *    poll first, so libuv never watches a closed (or reused) fd number;
 *  - uv handle memory is released in close callbacks only; struct nh_http
 *    itself goes when the last of its handles has closed;
 *  - cancellation removes the easy handle at once and reports from a 0 ms
 *    timer, so a cancel callback never runs inside the caller's stack. */
#include "net/http.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <curl/curl.h>

#include "util/buf.h"
#include "util/log.h"

#define NH_HTTP_DEFAULT_CONNECT_MS 5000
#define NH_HTTP_DEFAULT_TIMEOUT_MS 30000
#define NH_HTTP_DEFAULT_MAX_BODY ((size_t)8 << 20)
#define NH_HTTP_MAX_HEADER_VALUE 8192
#define NH_HTTP_MAX_TIMEOUT_MS ((uint64_t)24 * 3600 * 1000) /* fits a 32-bit long */
#define NH_HTTP_MAX_CAPTURE 32

struct nh_sock {
    uv_poll_t poll;
    curl_socket_t fd;
    struct nh_http *http;
};

struct nh_http_xfer {
    struct nh_http *h;
    CURL *easy;
    struct nh_http_xfer *prev, *next; /* h->xfers (in the multi) or h->cancelled */
    bool in_multi;
    bool fresh;
    bool too_big;
    size_t largest_read; /* nh_http_resp.largest_read */
    bool mutating_method;
    bool secret_answer; /* wipe the answer (nh_http_req.secret_answer) */
    char *url;
    char *method;
    void *body;
    size_t body_len;
    struct curl_slist *hdrs;
    struct nh_buf resp;
    char **capture; /* lower-case names, NULL-terminated */
    size_t n_capture;
    struct nh_http_header *got; /* captured, at most n_capture */
    size_t n_got;
    bool cancel_sent; /* request_sent as seen when cancelled */
    /* TLS material (nh_http_req.tls), owned, wiped on free; given to curl
     * with CURL_BLOB_NOCOPY, so these are the only copies we control */
    unsigned char *tls_ca, *tls_cert, *tls_key;
    size_t tls_ca_len, tls_cert_len, tls_key_len;
    nh_http_done_fn done;
    void (*on_wire)(void *ud); /* nh_http_req.on_wire, cleared once called */
    void *ud;
    uint64_t started_ms;
    char errbuf[CURL_ERROR_SIZE];
};

struct nh_http {
    uv_loop_t *loop;
    CURLM *multi;
    uv_timer_t timer;       /* curl's timeout */
    uv_timer_t defer;       /* delivers cancellations */
    struct nh_sock **socks; /* indexed by fd */
    size_t n_socks;
    struct nh_http_xfer *xfers;     /* in the multi */
    struct nh_http_xfer *cancelled; /* removed, callback pending */
    size_t in_flight;
    unsigned open_handles;
    bool closing;
    bool curl_inited;
    char *ca_file;
    bool allow_insecure;
};

const char *nh_http_outcome_name(enum nh_http_outcome o)
{
    switch (o) {
    case NH_HTTP_OK:
        return "ok";
    case NH_HTTP_NOT_SENT:
        return "not-sent";
    case NH_HTTP_TIMEOUT:
        return "timeout";
    case NH_HTTP_RESET:
        return "reset";
    case NH_HTTP_TOO_BIG:
        return "too-big";
    case NH_HTTP_CANCELLED:
        return "cancelled";
    case NH_HTTP_ERROR:
        return "error";
    }
    return "?";
}

const char *nh_http_resp_header(const struct nh_http_resp *r, const char *name)
{
    if (r == NULL || name == NULL)
        return NULL;
    for (size_t i = 0; i < r->n_headers; i++)
        if (strcasecmp(r->headers[i].name, name) == 0)
            return r->headers[i].value;
    return NULL;
}

/* ---- loopback and URL checks ---- */

bool nh_http_host_is_loopback(const char *host)
{
    char buf[64];
    if (host == NULL)
        return false;
    size_t n = strlen(host);
    if (n >= 2 && host[0] == '[' && host[n - 1] == ']') {
        host++;
        n -= 2;
    }
    if (n == 0 || n >= sizeof(buf))
        return false;
    memcpy(buf, host, n);
    buf[n] = '\0';
    if (strcasecmp(buf, "localhost") == 0)
        return true;
    struct in_addr a4;
    if (inet_pton(AF_INET, buf, &a4) == 1)
        return (ntohl(a4.s_addr) >> 24) == 127;
    struct in6_addr a6;
    if (inet_pton(AF_INET6, buf, &a6) == 1) {
        static const unsigned char lo[16] = {[15] = 1};
        static const unsigned char mapped[12] = {[10] = 0xff, [11] = 0xff};
        if (memcmp(a6.s6_addr, lo, 16) == 0)
            return true;
        return memcmp(a6.s6_addr, mapped, 12) == 0 && a6.s6_addr[12] == 127;
    }
    return false;
}

static int url_fail(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int url_fail(char *err, size_t errlen, const char *fmt, ...)
{
    if (err != NULL && errlen > 0) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return -EINVAL;
}

int nh_http_check_url(const char *url, char *err, size_t errlen)
{
    if (url == NULL)
        return url_fail(err, errlen, "%s", "no URL given");
    CURLU *u = curl_url();
    if (u == NULL)
        return url_fail(err, errlen, "%s", "out of memory parsing the URL");
    char *scheme = NULL, *host = NULL;
    int r = 0;
    if (curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK) {
        r = url_fail(err, errlen, "\"%.200s\" is not a valid absolute URL", url);
        goto out;
    }
    if (curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK) {
        r = url_fail(err, errlen, "\"%.200s\" has no scheme or host", url);
        goto out;
    }
    if (strcasecmp(scheme, "https") == 0)
        goto out;
    if (strcasecmp(scheme, "http") != 0) {
        r = url_fail(err, errlen, "scheme \"%.20s\" is not supported; use https://", scheme);
        goto out;
    }
    if (!nh_http_host_is_loopback(host))
        r = url_fail(err, errlen,
                     "plain http:// to \"%.200s\" is refused (only loopback hosts may use "
                     "http); use https://",
                     host);
out:
    curl_free(scheme);
    curl_free(host);
    curl_url_cleanup(u);
    return r;
}

/* ---- sockets ---- */

static void http_maybe_free(struct nh_http *h)
{
    if (!h->closing || h->open_handles > 0)
        return;
    free(h->socks);
    free(h->ca_file);
    if (h->curl_inited)
        curl_global_cleanup();
    free(h);
}

static void on_sock_closed(uv_handle_t *hd)
{
    struct nh_sock *s = hd->data;
    struct nh_http *h = s->http;
    free(s);
    h->open_handles--;
    http_maybe_free(h);
}

static struct nh_sock *sock_get(struct nh_http *h, curl_socket_t fd)
{
    if (fd < 0 || (size_t)fd >= h->n_socks)
        return NULL;
    return h->socks[fd];
}

/* Stops watching fd and closes its poll; no-op when not watched. */
static void sock_drop(struct nh_http *h, curl_socket_t fd)
{
    struct nh_sock *s = sock_get(h, fd);
    if (s == NULL)
        return;
    h->socks[fd] = NULL;
    uv_close((uv_handle_t *)&s->poll, on_sock_closed); /* stops the poll now */
}

static void on_uv_poll(uv_poll_t *p, int status, int events);

static struct nh_sock *sock_add(struct nh_http *h, curl_socket_t fd)
{
    if (fd < 0)
        return NULL;
    if ((size_t)fd >= h->n_socks) {
        size_t n = h->n_socks ? h->n_socks : 64;
        while (n <= (size_t)fd)
            n *= 2;
        struct nh_sock **t = realloc(h->socks, n * sizeof(*t));
        if (t == NULL)
            return NULL;
        memset(t + h->n_socks, 0, (n - h->n_socks) * sizeof(*t));
        h->socks = t;
        h->n_socks = n;
    }
    struct nh_sock *s = calloc(1, sizeof(*s));
    if (s == NULL)
        return NULL;
    if (uv_poll_init_socket(h->loop, &s->poll, fd) != 0) {
        free(s); /* init failed: the handle is not registered */
        return NULL;
    }
    s->fd = fd;
    s->http = h;
    s->poll.data = s;
    h->socks[fd] = s;
    h->open_handles++;
    return s;
}

static void http_drive(struct nh_http *h, curl_socket_t fd, int flags);

static int on_curl_socket(CURL *e, curl_socket_t fd, int what, void *userp, void *sockp)
{
    struct nh_http *h = userp;
    (void)e; /* may be an internal handle */
    (void)sockp;
    if (what == CURL_POLL_REMOVE) {
        sock_drop(h, fd);
        return 0;
    }
    if (h->closing)
        return 0;
    struct nh_sock *s = sock_get(h, fd);
    if (s == NULL) {
        s = sock_add(h, fd);
        if (s == NULL)
            return -1; /* the transfer fails: loud, not a hang */
    }
    int ev = (what & CURL_POLL_IN) ? UV_READABLE : 0;
    ev |= (what & CURL_POLL_OUT) ? UV_WRITABLE : 0;
    return uv_poll_start(&s->poll, ev, on_uv_poll) == 0 ? 0 : -1;
}

static void on_uv_poll(uv_poll_t *p, int status, int events)
{
    struct nh_sock *s = p->data;
    int flags = status < 0 ? CURL_CSELECT_ERR : 0;
    flags |= (events & UV_READABLE) ? CURL_CSELECT_IN : 0;
    flags |= (events & UV_WRITABLE) ? CURL_CSELECT_OUT : 0;
    http_drive(s->http, s->fd, flags); /* s may be gone afterwards */
}

static void on_uv_timer(uv_timer_t *t)
{
    http_drive(t->data, CURL_SOCKET_TIMEOUT, 0);
}

static int on_curl_timer(CURLM *m, long timeout_ms, void *userp)
{
    struct nh_http *h = userp;
    (void)m;
    if (timeout_ms < 0) /* -1: delete the timer, not "soon" */
        return uv_timer_stop(&h->timer) == 0 ? 0 : -1;
    if (h->closing)
        return 0;
    /* 0 is valid: a 0 ms uv timer fires on the next iteration, not in here */
    return uv_timer_start(&h->timer, on_uv_timer, (uint64_t)timeout_ms, 0) == 0 ? 0 : -1;
}

static int on_curl_closesocket(void *clientp, curl_socket_t fd)
{
    sock_drop(clientp, fd); /* stop polling before the number is reused */
    return close(fd) == 0 ? 0 : 1;
}

/* ---- transfers ---- */

static void wipe_free(unsigned char *p, size_t len)
{
    if (p != NULL)
        explicit_bzero(p, len);
    free(p);
}

static void xfer_free(struct nh_http_xfer *x)
{
    if (x == NULL)
        return;
    if (x->easy != NULL)
        curl_easy_cleanup(x->easy); /* first: it may refer to the blobs */
    for (struct curl_slist *l = x->hdrs; l != NULL; l = l->next)
        explicit_bzero(l->data, strlen(l->data)); /* bearer tokens, signatures */
    curl_slist_free_all(x->hdrs);
    wipe_free(x->tls_ca, x->tls_ca_len);
    wipe_free(x->tls_cert, x->tls_cert_len);
    wipe_free(x->tls_key, x->tls_key_len);
    free(x->url);
    free(x->method);
    free(x->body);
    if (x->secret_answer && x->resp.data != NULL)
        explicit_bzero(x->resp.data, x->resp.alloc);
    nh_buf_free(&x->resp);
    for (size_t i = 0; i < x->n_capture; i++)
        free(x->capture[i]);
    free(x->capture);
    for (size_t i = 0; i < x->n_got; i++) {
        free(x->got[i].name);
        free(x->got[i].value);
    }
    free(x->got);
    free(x);
}

static void list_insert(struct nh_http_xfer **head, struct nh_http_xfer *x)
{
    x->prev = NULL;
    x->next = *head;
    if (*head != NULL)
        (*head)->prev = x;
    *head = x;
}

static void list_remove(struct nh_http_xfer **head, struct nh_http_xfer *x)
{
    if (x->prev != NULL)
        x->prev->next = x->next;
    else
        *head = x->next;
    if (x->next != NULL)
        x->next->prev = x->prev;
    x->prev = x->next = NULL;
}

/* nh_buf_append for an answer that carries a credential: growing copies
 * into a new block and wipes the old one (realloc could leave a copy
 * behind in freed memory). */
static int secret_append(struct nh_buf *b, const void *p, size_t n)
{
    if (n > SIZE_MAX - b->len - 1 || (b->cap != 0 && b->len + n > b->cap))
        return -E2BIG;
    if (b->len + n + 1 > b->alloc) {
        size_t na = b->alloc ? b->alloc : 4096;
        while (na < b->len + n + 1)
            na *= 2;
        char *d = malloc(na);
        if (d == NULL)
            return -ENOMEM;
        if (b->data != NULL) {
            memcpy(d, b->data, b->len);
            explicit_bzero(b->data, b->alloc);
            free(b->data);
        }
        b->data = d;
        b->alloc = na;
    }
    memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = '\0';
    return 0;
}

static size_t on_write(char *ptr, size_t size, size_t nmemb, void *userdata)
{
    struct nh_http_xfer *x = userdata;
    size_t n = size * nmemb;
    if (n > x->largest_read)
        x->largest_read = n;
    int r = x->secret_answer ? secret_append(&x->resp, ptr, n) : nh_buf_append(&x->resp, ptr, n);
    if (r < 0) {
        x->too_big = true; /* or out of memory: either way refuse it */
#ifdef CURL_WRITEFUNC_ERROR
        return CURL_WRITEFUNC_ERROR;
#else
        return 0;
#endif
    }
    return n;
}

static void got_clear(struct nh_http_xfer *x)
{
    for (size_t i = 0; i < x->n_got; i++) {
        free(x->got[i].name);
        free(x->got[i].value);
    }
    x->n_got = 0;
}

static size_t on_header(char *buf, size_t size, size_t nitems, void *userdata)
{
    struct nh_http_xfer *x = userdata;
    size_t n = size * nitems;
    if (n >= 5 && memcmp(buf, "HTTP/", 5) == 0) {
        got_clear(x); /* a new answer (after 1xx): forget the previous headers */
        return n;
    }
    if (x->n_capture == 0)
        return n;
    const char *colon = memchr(buf, ':', n);
    if (colon == NULL)
        return n;
    size_t name_len = (size_t)(colon - buf);
    size_t which = x->n_capture;
    for (size_t i = 0; i < x->n_capture; i++) {
        if (strlen(x->capture[i]) == name_len && strncasecmp(x->capture[i], buf, name_len) == 0) {
            which = i;
            break;
        }
    }
    if (which == x->n_capture)
        return n;
    const char *v = colon + 1, *end = buf + n;
    while (v < end && (*v == ' ' || *v == '\t'))
        v++;
    while (end > v && (end[-1] == '\r' || end[-1] == '\n' || end[-1] == ' ' || end[-1] == '\t'))
        end--;
    size_t vlen = (size_t)(end - v);
    if (vlen > NH_HTTP_MAX_HEADER_VALUE)
        vlen = NH_HTTP_MAX_HEADER_VALUE; /* bounded: a peer controls it */
    char *value = strndup(v, vlen);
    if (value == NULL)
        return 0; /* fails the transfer with CURLE_WRITE_ERROR */
    for (size_t i = 0; i < x->n_got; i++) {
        if (strcmp(x->got[i].name, x->capture[which]) == 0) {
            free(x->got[i].value); /* a repeated header: the last one wins */
            x->got[i].value = value;
            return n;
        }
    }
    char *name = strdup(x->capture[which]);
    if (name == NULL) {
        free(value);
        return 0;
    }
    x->got[x->n_got].name = name;
    x->got[x->n_got].value = value;
    x->n_got++;
    return n;
}

/* A failure while resolving, connecting or setting up TLS: the connection
 * never carried a request. */
static bool failed_before_connected(CURLcode rc)
{
    switch (rc) {
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
    case CURLE_COULDNT_CONNECT:
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CIPHER:
        return true;
    default:
        return false;
    }
}

/* Whether any request byte may have reached the server. When unsure: yes. */
static bool xfer_request_sent(const struct nh_http_xfer *x, CURLcode rc)
{
    if (failed_before_connected(rc) || rc == CURLE_SSL_ENGINE_NOTFOUND ||
        rc == CURLE_URL_MALFORMAT || rc == CURLE_UNSUPPORTED_PROTOCOL)
        return false;
    curl_off_t pre = 0, conn = 0;
    long reqsize = 0;
    curl_easy_getinfo(x->easy, CURLINFO_REQUEST_SIZE, &reqsize);
    curl_easy_getinfo(x->easy, CURLINFO_PRETRANSFER_TIME_T, &pre);
    curl_easy_getinfo(x->easy, CURLINFO_CONNECT_TIME_T, &conn);
    if (reqsize > 0 || pre > 0)
        return true;
    /* On a fresh connection nothing can have gone out before it connected.
     * On a reused one the request may go out at once: assume it did. */
    return x->fresh ? conn > 0 : true;
}

static enum nh_http_outcome outcome_for(const struct nh_http_xfer *x, CURLcode rc)
{
    if (x->too_big)
        return NH_HTTP_TOO_BIG;
    if (failed_before_connected(rc))
        return NH_HTTP_NOT_SENT;
    switch (rc) {
    case CURLE_OK:
        return NH_HTTP_OK;
    case CURLE_FILESIZE_EXCEEDED:
        return NH_HTTP_TOO_BIG;
    case CURLE_OPERATION_TIMEDOUT:
        return NH_HTTP_TIMEOUT;
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_PARTIAL_FILE:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
    case CURLE_WEIRD_SERVER_REPLY:
    case CURLE_SSL_SHUTDOWN_FAILED:
        return NH_HTTP_RESET;
    default:
        return NH_HTTP_ERROR;
    }
}

/* A certificate refused on either side; see nh_http_resp.tls_refused. */
static bool xfer_tls_refused(const struct nh_http_xfer *x, CURLcode rc)
{
    switch (rc) {
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_CERTPROBLEM:
        return true;
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_SEND_ERROR:
        /* TLS 1.3: the server checks our certificate after our side of the
         * handshake is done; its refusal ("alert certificate required",
         * "alert bad certificate", "alert unknown ca") comes on a read. */
        return strncasecmp(x->url, "https://", 8) == 0 && strstr(x->errbuf, " alert ") != NULL;
    default:
        return false;
    }
}

static void xfer_deliver(struct nh_http_xfer *x, enum nh_http_outcome outcome, bool sent,
                         int status, const char *error, bool tls_refused)
{
    struct nh_http *h = x->h;
    double elapsed = (double)(uv_now(h->loop) - x->started_ms);
    curl_off_t total_us = 0;
    if (outcome != NH_HTTP_CANCELLED &&
        curl_easy_getinfo(x->easy, CURLINFO_TOTAL_TIME_T, &total_us) == CURLE_OK && total_us > 0)
        elapsed = (double)total_us / 1000.0;
    bool ok = outcome == NH_HTTP_OK;
    struct nh_http_resp resp = {
        .outcome = outcome,
        .request_sent = ok ? true : sent,
        .status = ok ? status : 0,
        .body = ok && x->resp.data != NULL ? x->resp.data : "",
        .body_len = ok ? x->resp.len : 0,
        .headers = x->got,
        .n_headers = x->n_got,
        .error = ok ? NULL : error,
        .elapsed_ms = elapsed,
        .tls_refused = !ok && tls_refused,
        .largest_read = x->largest_read,
    };
    h->in_flight--;
    x->done(x->ud, &resp);
    xfer_free(x);
}

static void xfer_finish(struct nh_http_xfer *x, CURLcode rc)
{
    long status = 0;
    curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &status);
    enum nh_http_outcome o = outcome_for(x, rc);
    bool sent = xfer_request_sent(x, rc);
    const char *err = x->errbuf[0] != '\0' ? x->errbuf : curl_easy_strerror(rc);
    if (o == NH_HTTP_TOO_BIG)
        err = "response body larger than max_body";
    /* The query may carry signatures and key ids: log up to '?' only. */
    nh_log(LOG_DEBUG, "http: %s %.*s: %s (%s, status %ld)", x->method, (int)strcspn(x->url, "?"),
           x->url, nh_http_outcome_name(o), o == NH_HTTP_OK ? "" : err, status);
    xfer_deliver(x, o, sent, (int)status, err, xfer_tls_refused(x, rc));
}

static void xfer_detach(struct nh_http_xfer *x)
{
    struct nh_http *h = x->h;
    if (!x->in_multi)
        return;
    list_remove(&h->xfers, x);
    x->in_multi = false;
    curl_multi_remove_handle(h->multi, x->easy); /* not inside a curl callback */
}

static void http_fail_all(struct nh_http *h, const char *why)
{
    while (h->xfers != NULL) {
        struct nh_http_xfer *x = h->xfers;
        xfer_detach(x);
        /* every transfer's state is unknown now: treat as sent */
        xfer_deliver(x, NH_HTTP_RESET, true, 0, why, false);
    }
}

static void http_drive(struct nh_http *h, curl_socket_t fd, int flags)
{
    int running = 0, left = 0;
    CURLMsg *msg;
    if (h->closing || h->multi == NULL)
        return;
    CURLMcode mc = curl_multi_socket_action(h->multi, fd, flags, &running);
    if (mc != CURLM_OK) {
        nh_log(LOG_DEBUG, "http: curl_multi_socket_action: %s", curl_multi_strerror(mc));
        http_fail_all(h, curl_multi_strerror(mc));
        return;
    }
    while (!h->closing && (msg = curl_multi_info_read(h->multi, &left)) != NULL) {
        if (msg->msg != CURLMSG_DONE)
            continue;
        CURL *e = msg->easy_handle; /* copy out: msg dies with remove_handle */
        CURLcode rc = msg->data.result;
        char *priv = NULL;
        curl_easy_getinfo(e, CURLINFO_PRIVATE, &priv);
        struct nh_http_xfer *x = (struct nh_http_xfer *)priv;
        xfer_detach(x);
        xfer_finish(x, rc); /* may submit, cancel or even close */
    }
}

static void on_defer(uv_timer_t *t)
{
    struct nh_http *h = t->data;
    while (h->cancelled != NULL) {
        struct nh_http_xfer *x = h->cancelled;
        list_remove(&h->cancelled, x);
        xfer_deliver(x, NH_HTTP_CANCELLED, x->cancel_sent, 0, "cancelled", false);
    }
}

void nh_http_cancel(struct nh_http_xfer *x)
{
    if (x == NULL || !x->in_multi)
        return; /* already cancelled, or its callback is running */
    struct nh_http *h = x->h;
    x->cancel_sent = xfer_request_sent(x, CURLE_OK);
    xfer_detach(x);
    list_insert(&h->cancelled, x);
    if (!h->closing)
        uv_timer_start(&h->defer, on_defer, 0, 0);
}

size_t nh_http_in_flight(const struct nh_http *h)
{
    return h != NULL ? h->in_flight : 0;
}

/* ---- setup ---- */

static bool method_has_body(const char *m)
{
    return strcmp(m, "POST") == 0 || strcmp(m, "PUT") == 0 || strcmp(m, "PATCH") == 0;
}

static bool has_header(const char *const *headers, const char *name)
{
    size_t n = strlen(name);
    for (size_t i = 0; headers != NULL && headers[i] != NULL; i++)
        if (strncasecmp(headers[i], name, n) == 0 && headers[i][n] == ':')
            return true;
    return false;
}

static int dup_blob(const void *p, size_t len, unsigned char **ret, size_t *ret_len)
{
    if (len == 0)
        return 0;
    if (p == NULL)
        return -EINVAL;
    *ret = malloc(len);
    if (*ret == NULL)
        return -ENOMEM;
    memcpy(*ret, p, len);
    *ret_len = len;
    return 0;
}

static int xfer_copy_request(struct nh_http_xfer *x, const struct nh_http_req *req)
{
    x->url = strdup(req->url);
    x->method = strdup(req->method != NULL ? req->method : "GET");
    if (x->url == NULL || x->method == NULL)
        return -ENOMEM;
    for (char *p = x->method; *p; p++) {
        if (!isupper((unsigned char)*p))
            return -EINVAL; /* also keeps CR/LF out of the request line */
    }
    if (req->body_len > 0) {
        if (req->body == NULL)
            return -EINVAL;
        x->body = malloc(req->body_len);
        if (x->body == NULL)
            return -ENOMEM;
        memcpy(x->body, req->body, req->body_len);
        x->body_len = req->body_len;
    }
    for (size_t i = 0; req->headers != NULL && req->headers[i] != NULL; i++) {
        if (strpbrk(req->headers[i], "\r\n") != NULL)
            return -EINVAL; /* header injection */
        struct curl_slist *l = curl_slist_append(x->hdrs, req->headers[i]);
        if (l == NULL)
            return -ENOMEM;
        x->hdrs = l;
    }
    /* Never wait for "100 Continue"; send exactly the content type that was
     * signed (none means none, not curl's form default). */
    const char *extra[] = {"Expect:", "Content-Type:"};
    for (size_t i = 0; i < 2; i++) {
        if (i == 1 && (has_header(req->headers, "Content-Type") || !method_has_body(x->method)))
            continue;
        struct curl_slist *l = curl_slist_append(x->hdrs, extra[i]);
        if (l == NULL)
            return -ENOMEM;
        x->hdrs = l;
    }
    if (req->tls != NULL) {
        const struct nh_http_tls *t = req->tls;
        if ((t->cert_pem_len > 0) != (t->key_pem_len > 0))
            return -EINVAL; /* a client certificate needs its key, and back */
        int r = dup_blob(t->ca_pem, t->ca_pem_len, &x->tls_ca, &x->tls_ca_len);
        if (r == 0)
            r = dup_blob(t->cert_pem, t->cert_pem_len, &x->tls_cert, &x->tls_cert_len);
        if (r == 0)
            r = dup_blob(t->key_pem, t->key_pem_len, &x->tls_key, &x->tls_key_len);
        if (r < 0)
            return r;
    }
    size_t nc = 0;
    while (req->capture_headers != NULL && req->capture_headers[nc] != NULL)
        nc++;
    if (nc > NH_HTTP_MAX_CAPTURE)
        return -E2BIG;
    if (nc > 0) {
        x->capture = calloc(nc + 1, sizeof(*x->capture));
        x->got = calloc(nc, sizeof(*x->got));
        if (x->capture == NULL || x->got == NULL)
            return -ENOMEM;
        for (size_t i = 0; i < nc; i++) {
            x->capture[i] = strdup(req->capture_headers[i]);
            if (x->capture[i] == NULL)
                return -ENOMEM;
            x->n_capture++;
            for (char *p = x->capture[i]; *p; p++)
                *p = (char)tolower((unsigned char)*p);
        }
    }
    return 0;
}

#define SETOPT(e, opt, val)                                                                        \
    do {                                                                                           \
        if (curl_easy_setopt((e), (opt), (val)) != CURLE_OK)                                       \
            return -EINVAL;                                                                        \
    } while (0)

/* CURLOPT_PREREQFUNCTION: the request is about to be written. */
static int on_curl_prereq(void *clientp, char *primary_ip, char *local_ip, int primary_port,
                          int local_port)
{
    struct nh_http_xfer *x = clientp;
    void (*fn)(void *) = x->on_wire;
    (void)primary_ip, (void)local_ip, (void)primary_port, (void)local_port;
    x->on_wire = NULL; /* once: curl may call again for a re-sent request */
    if (fn != NULL)
        fn(x->ud);
    return CURL_PREREQFUNC_OK;
}

static int xfer_setup_easy(struct nh_http_xfer *x, const struct nh_http_req *req, bool loopback)
{
    bool plain_http = strncasecmp(x->url, "https://", 8) != 0;
    struct nh_http *h = x->h;
    CURL *e = curl_easy_init();
    if (e == NULL)
        return -ENOMEM;
    x->easy = e;
    uint64_t cto = req->connect_timeout_ms ? req->connect_timeout_ms : NH_HTTP_DEFAULT_CONNECT_MS;
    uint64_t to = req->timeout_ms ? req->timeout_ms : NH_HTTP_DEFAULT_TIMEOUT_MS;
    if (cto > NH_HTTP_MAX_TIMEOUT_MS)
        cto = NH_HTTP_MAX_TIMEOUT_MS;
    if (to > NH_HTTP_MAX_TIMEOUT_MS)
        to = NH_HTTP_MAX_TIMEOUT_MS;
    size_t max_body = req->max_body ? req->max_body : NH_HTTP_DEFAULT_MAX_BODY;
    nh_buf_init(&x->resp, max_body);

    SETOPT(e, CURLOPT_URL, x->url);
    SETOPT(e, CURLOPT_PRIVATE, (void *)x);
    SETOPT(e, CURLOPT_ERRORBUFFER, x->errbuf);
    SETOPT(e, CURLOPT_NOSIGNAL, 1L);
    SETOPT(e, CURLOPT_PROTOCOLS_STR, "http,https");
    SETOPT(e, CURLOPT_REDIR_PROTOCOLS_STR, "https");
    SETOPT(e, CURLOPT_FOLLOWLOCATION, 0L);
    SETOPT(e, CURLOPT_SSL_VERIFYPEER, 1L);
    SETOPT(e, CURLOPT_SSL_VERIFYHOST, 2L);
    if (x->tls_ca != NULL) {
        /* The given CAs only: libcurl would still add its CA path
         * (Debian: /etc/ssl/certs) next to a CA blob. */
        struct curl_blob ca = {x->tls_ca, x->tls_ca_len, CURL_BLOB_NOCOPY};
        SETOPT(e, CURLOPT_CAINFO_BLOB, &ca);
        SETOPT(e, CURLOPT_CAINFO, (char *)NULL);
        SETOPT(e, CURLOPT_CAPATH, (char *)NULL);
    } else if (h->ca_file != NULL) {
        SETOPT(e, CURLOPT_CAINFO, h->ca_file);
    }
    if (x->tls_cert != NULL) {
        struct curl_blob cert = {x->tls_cert, x->tls_cert_len, CURL_BLOB_NOCOPY};
        struct curl_blob key = {x->tls_key, x->tls_key_len, CURL_BLOB_NOCOPY};
        SETOPT(e, CURLOPT_SSLCERT_BLOB, &cert);
        SETOPT(e, CURLOPT_SSLCERTTYPE, "PEM");
        SETOPT(e, CURLOPT_SSLKEY_BLOB, &key);
        SETOPT(e, CURLOPT_SSLKEYTYPE, "PEM");
    }
    SETOPT(e, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_2TLS);
    SETOPT(e, CURLOPT_ACCEPT_ENCODING, "");
    SETOPT(e, CURLOPT_CONNECTTIMEOUT_MS, (long)cto);
    SETOPT(e, CURLOPT_TIMEOUT_MS, (long)to);
    SETOPT(e, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)max_body);
    SETOPT(e, CURLOPT_BUFFERSIZE, (long)NH_HTTP_RECV_BUFFER);
    SETOPT(e, CURLOPT_WRITEFUNCTION, on_write);
    SETOPT(e, CURLOPT_WRITEDATA, (void *)x);
    SETOPT(e, CURLOPT_HEADERFUNCTION, on_header);
    SETOPT(e, CURLOPT_HEADERDATA, (void *)x);
    SETOPT(e, CURLOPT_CLOSESOCKETFUNCTION, on_curl_closesocket);
    SETOPT(e, CURLOPT_CLOSESOCKETDATA, (void *)h);
    SETOPT(e, CURLOPT_TCP_KEEPALIVE, 1L);
    if (x->on_wire != NULL) {
        SETOPT(e, CURLOPT_PREREQFUNCTION, on_curl_prereq);
        SETOPT(e, CURLOPT_PREREQDATA, (void *)x);
    }
    if (loopback)
        SETOPT(e, CURLOPT_NOPROXY, "*"); /* the emulator is never behind a proxy */
    if (x->hdrs != NULL)
        SETOPT(e, CURLOPT_HTTPHEADER, x->hdrs);
    if (x->fresh) {
        /* libcurl re-sends a request on its own when a reused connection dies
         * before any answer byte: a duplicate for a mutation the server
         * already applied. A fresh, never reused connection rules it out. */
        SETOPT(e, CURLOPT_FRESH_CONNECT, 1L);
        SETOPT(e, CURLOPT_FORBID_REUSE, 1L);
    } else if (!plain_http) {
        /* https: ALPN tells after the handshake whether HTTP/2 multiplexes;
         * wait for that rather than open a second connection. Not for plain
         * http, where curl learns it only from an answer: a stalled request
         * would hold up the others. */
        SETOPT(e, CURLOPT_PIPEWAIT, 1L);
    }

    if (strcmp(x->method, "GET") == 0) {
        SETOPT(e, CURLOPT_HTTPGET, 1L);
    } else if (strcmp(x->method, "HEAD") == 0) {
        SETOPT(e, CURLOPT_NOBODY, 1L);
    } else {
        if (x->body_len > 0 || method_has_body(x->method)) {
            SETOPT(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)x->body_len);
            SETOPT(e, CURLOPT_POSTFIELDS, x->body != NULL ? (const char *)x->body : "");
        }
        SETOPT(e, CURLOPT_CUSTOMREQUEST, x->method);
    }
    return 0;
}

int nh_http_submit(struct nh_http *h, const struct nh_http_req *req, nh_http_done_fn done, void *ud,
                   struct nh_http_xfer **ret_xfer)
{
    char why[256];
    if (h == NULL || req == NULL || req->url == NULL || done == NULL)
        return -EINVAL;
    if (h->closing || h->multi == NULL)
        return -ESHUTDOWN;
    if (!h->allow_insecure && nh_http_check_url(req->url, why, sizeof(why)) < 0) {
        nh_log(LOG_DEBUG, "http: %s", why);
        return -EINVAL;
    }
    bool loopback = false;
    CURLU *u = curl_url();
    char *host = NULL;
    if (u != NULL && curl_url_set(u, CURLUPART_URL, req->url, 0) == CURLUE_OK &&
        curl_url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK)
        loopback = nh_http_host_is_loopback(host);
    curl_free(host);
    curl_url_cleanup(u);

    struct nh_http_xfer *x = calloc(1, sizeof(*x));
    if (x == NULL)
        return -ENOMEM;
    x->h = h;
    x->done = done;
    x->ud = ud;
    x->fresh = req->fresh_connection;
    x->secret_answer = req->secret_answer;
    x->on_wire = req->on_wire;
    int r = xfer_copy_request(x, req);
    if (r == 0)
        r = xfer_setup_easy(x, req, loopback);
    if (r < 0) {
        xfer_free(x);
        return r;
    }
    x->started_ms = uv_now(h->loop);
    CURLMcode mc = curl_multi_add_handle(h->multi, x->easy); /* arms the timer */
    if (mc != CURLM_OK) {
        xfer_free(x);
        return mc == CURLM_OUT_OF_MEMORY ? -ENOMEM : -EIO;
    }
    x->in_multi = true;
    list_insert(&h->xfers, x);
    h->in_flight++;
    if (ret_xfer != NULL)
        *ret_xfer = x;
    return 0;
}

static void on_timer_closed(uv_handle_t *hd)
{
    struct nh_http *h = hd->data;
    h->open_handles--;
    http_maybe_free(h);
}

int nh_http_new(uv_loop_t *loop, const struct nh_http_opts *opts, struct nh_http **ret)
{
    if (loop == NULL || ret == NULL)
        return -EINVAL;
    struct nh_http *h = calloc(1, sizeof(*h));
    if (h == NULL)
        return -ENOMEM;
    h->loop = loop;
    if (opts != NULL) {
        h->allow_insecure = opts->allow_insecure_http_anywhere;
        if (opts->ca_file != NULL && (h->ca_file = strdup(opts->ca_file)) == NULL) {
            free(h);
            return -ENOMEM;
        }
    }
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        free(h->ca_file);
        free(h);
        return -EIO;
    }
    h->curl_inited = true;
    h->multi = curl_multi_init();
    if (h->multi == NULL) {
        curl_global_cleanup();
        free(h->ca_file);
        free(h);
        return -ENOMEM;
    }
    curl_multi_setopt(h->multi, CURLMOPT_SOCKETFUNCTION, on_curl_socket);
    curl_multi_setopt(h->multi, CURLMOPT_SOCKETDATA, (void *)h);
    curl_multi_setopt(h->multi, CURLMOPT_TIMERFUNCTION, on_curl_timer);
    curl_multi_setopt(h->multi, CURLMOPT_TIMERDATA, (void *)h);
    curl_multi_setopt(h->multi, CURLMOPT_PIPELINING, (long)CURLPIPE_MULTIPLEX);
    /* Idle connections kept for reuse. libcurl's default keeps 4 per easy
     * handle in the multi, which at a steady poll (one or two transfers at
     * a time) is 4-8: every overlap opened a connection that was closed
     * when its transfer ended (issue #21: ~4 new connections a second at
     * 55 requests a second, each a TCP - with a real cloud a TLS -
     * handshake). The client holds at most 64 reads in flight per
     * provider, so this many idle connections serve them. */
    curl_multi_setopt(h->multi, CURLMOPT_MAXCONNECTS, NH_HTTP_IDLE_CONNECTIONS);
    if (opts != NULL && opts->max_host_connections > 0)
        curl_multi_setopt(h->multi, CURLMOPT_MAX_HOST_CONNECTIONS, opts->max_host_connections);
    /* Timer inits cannot fail on a valid loop. */
    uv_timer_init(loop, &h->timer);
    h->timer.data = h;
    uv_timer_init(loop, &h->defer);
    h->defer.data = h;
    h->open_handles = 2;
    *ret = h;
    return 0;
}

void nh_http_close(struct nh_http *h)
{
    if (h == NULL || h->closing)
        return;
    /* 1. Everything in flight ends now, callbacks included; submissions
     * from those callbacks fail with -ESHUTDOWN. */
    h->closing = true;
    while (h->xfers != NULL) {
        struct nh_http_xfer *x = h->xfers;
        x->cancel_sent = xfer_request_sent(x, CURLE_OK);
        xfer_detach(x);
        list_insert(&h->cancelled, x);
    }
    on_defer(&h->defer);
    /* 2. curl_multi_cleanup may still call the socket callbacks (closing
     * cached connections): the table is intact, sock_drop closes polls. */
    curl_multi_cleanup(h->multi);
    h->multi = NULL;
    /* 3. Close whatever is left, then the timers; h goes with the last. */
    for (size_t fd = 0; fd < h->n_socks; fd++)
        if (h->socks[fd] != NULL)
            sock_drop(h, (curl_socket_t)fd);
    uv_close((uv_handle_t *)&h->timer, on_timer_closed);
    uv_close((uv_handle_t *)&h->defer, on_timer_closed);
}

bool nh_http_is_closing(const struct nh_http *h)
{
    return h == NULL || h->closing;
}
