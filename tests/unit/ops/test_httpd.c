/* test_httpd.c - the endpoint on a real uv loop: start on 127.0.0.1:0, fetch
 * every route with libcurl from a second thread, check codes, bodies and
 * headers (the CSP hash included), stop, and require uv_loop_close() == 0. */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <curl/curl.h>
#include <netinet/in.h>
#include <openssl/evp.h>
#include <uv.h>

#include "ops/httpd.h"
#include "ops/metrics.h"
#include "ops/status_page.h"

/* ---- listen parsing (pure) ---- */

static void test_httpd_parse_listen_accepts_forms(void **state)
{
    (void)state;
    static const struct {
        const char *in;
        int family, port, any;
    } ok[] = {
        {"127.0.0.1:9464", AF_INET, 9464, 0}, {"[::1]:0", AF_INET6, 0, 0},
        {":9464", AF_INET6, 9464, 1},         {"localhost:1", AF_INET, 1, 0},
        {"0.0.0.0:65535", AF_INET, 65535, 0}, {"[::]:80", AF_INET6, 80, 0},
    };
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        struct sockaddr_storage ss;
        socklen_t len = 0;
        int any = -1;
        char err[256] = "";
        if (nh_httpd_parse_listen(ok[i].in, &ss, &len, &any, err, sizeof(err)) != 0)
            fail_msg("%s: %s", ok[i].in, err);
        assert_int_equal(ss.ss_family, ok[i].family);
        assert_int_equal(any, ok[i].any);
        int port = ss.ss_family == AF_INET ? ntohs(((struct sockaddr_in *)&ss)->sin_port)
                                           : ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
        assert_int_equal(port, ok[i].port);
        assert_int_equal(len, ss.ss_family == AF_INET ? sizeof(struct sockaddr_in)
                                                      : sizeof(struct sockaddr_in6));
        if (strcmp(ok[i].in, "localhost:1") == 0)
            assert_int_equal(ntohl(((struct sockaddr_in *)&ss)->sin_addr.s_addr), INADDR_LOOPBACK);
    }
}

static void test_httpd_parse_listen_rejects_with_fix(void **state)
{
    (void)state;
    static const struct {
        const char *in, *msg;
    } bad[] = {
        {"", "empty"},
        {"127.0.0.1", "no port"},
        {"127.0.0.1:99999", "0..65535"},
        {"127.0.0.1:-1", "0..65535"},
        {"127.0.0.1:80x", "0..65535"},
        {"127.0.0.1:", "0..65535"},
        {"::1:80", "brackets"},
        {"[::1:80", "unclosed"},
        {"[::1]80", "unclosed"},
        {"[nope]:80", "not an IPv6"},
        {"example.com:80", "not resolved"},
        {"1.2.3:80", "not a numeric"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct sockaddr_storage ss;
        socklen_t len = 0;
        int any = -1;
        char err[256] = "";
        int r = nh_httpd_parse_listen(bad[i].in, &ss, &len, &any, err, sizeof(err));
        if (r != -EINVAL || strstr(err, bad[i].msg) == NULL)
            fail_msg("\"%s\": r=%d err=\"%s\", wanted \"%s\"", bad[i].in, r, err, bad[i].msg);
        assert_int_equal(any, -1); /* untouched on failure */
    }
}

/* ---- a client thread ---- */

struct reply {
    long code;
    char ctype[128];
    char *headers; /* raw header block */
    char *body;
    size_t body_len;
    double content_length;
};

struct buf {
    char *p;
    size_t n;
};

static size_t on_data(char *ptr, size_t size, size_t nmemb, void *ud)
{
    struct buf *b = ud;
    size_t n = size * nmemb;
    char *p = realloc(b->p, b->n + n + 1);
    if (p == NULL)
        return 0;
    memcpy(p + b->n, ptr, n);
    b->n += n;
    p[b->n] = '\0';
    b->p = p;
    return n;
}

static void fetch(int port, const char *method, const char *path, const char *post, struct reply *r)
{
    char url[128];
    struct buf body = {0}, hdr = {0};
    CURL *e = curl_easy_init();
    char *ct = NULL;
    curl_off_t cl = -1;

    memset(r, 0, sizeof(*r));
    r->code = -1;
    if (e == NULL)
        return;
    snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", port, path);
    curl_easy_setopt(e, CURLOPT_URL, url);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, 2000L);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, &body);
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_data);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, &hdr);
    if (strcmp(method, "HEAD") == 0)
        curl_easy_setopt(e, CURLOPT_NOBODY, 1L);
    else if (post != NULL)
        curl_easy_setopt(e, CURLOPT_POSTFIELDS, post);
    if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0)
        curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, method);
    if (curl_easy_perform(e) == CURLE_OK) {
        curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &r->code);
        if (curl_easy_getinfo(e, CURLINFO_CONTENT_TYPE, &ct) == CURLE_OK && ct)
            snprintf(r->ctype, sizeof(r->ctype), "%s", ct);
        curl_easy_getinfo(e, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &cl);
    }
    r->content_length = (double)cl;
    r->headers = hdr.p ? hdr.p : strdup("");
    r->body = body.p ? body.p : strdup("");
    r->body_len = body.n;
    curl_easy_cleanup(e);
}

static void reply_free(struct reply *r)
{
    free(r->headers);
    free(r->body);
}

/* Value of header `name` (case-insensitive), copied into out; NULL if absent. */
static const char *header(const struct reply *r, const char *name, char *out, size_t outlen)
{
    size_t nl = strlen(name);
    for (const char *p = r->headers; p && *p;) {
        const char *end = strstr(p, "\r\n");
        if (end == NULL)
            break;
        if ((size_t)(end - p) > nl && strncasecmp(p, name, nl) == 0 && p[nl] == ':') {
            const char *v = p + nl + 1;
            while (*v == ' ')
                v++;
            snprintf(out, outlen, "%.*s", (int)(end - v), v);
            return out;
        }
        p = end + 2;
    }
    return NULL;
}

enum {
    R_HEALTH,
    R_NOTREADY,
    R_READY,
    R_METRICS,
    R_STATUS,
    R_STATUS_FAIL,
    R_PAGE,
    R_HEAD,
    R_POST,
    R_PUT,
    R_404,
    R_QUERY,
    N_REQ
};

struct fixture {
    uv_loop_t loop;
    uv_async_t done;
    struct nh_httpd *h;
    int port;
    atomic_bool ready;
    atomic_bool status_fails;
    atomic_int status_calls;
    struct reply rep[N_REQ];
};

static const char status_doc[] =
    "{\"version\":\"0.1.0\",\"role\":\"single\",\"ready\":true,\"clusters\":"
    "[{\"name\":\"<b>web</b>\",\"state\":\"converged\",\"groups\":[]}]}";

static bool hook_ready(void *ud)
{
    struct fixture *f = ud;
    return atomic_load(&f->ready);
}

static int hook_status(void *ud, struct nh_buf *out)
{
    struct fixture *f = ud;
    atomic_fetch_add(&f->status_calls, 1);
    if (atomic_load(&f->status_fails))
        return -EIO;
    return nh_buf_appends(out, status_doc);
}

static void *client(void *arg)
{
    struct fixture *f = arg;
    fetch(f->port, "GET", "/healthz", NULL, &f->rep[R_HEALTH]);
    fetch(f->port, "GET", "/readyz", NULL, &f->rep[R_NOTREADY]);
    atomic_store(&f->ready, true);
    fetch(f->port, "GET", "/readyz", NULL, &f->rep[R_READY]);
    fetch(f->port, "GET", "/metrics", NULL, &f->rep[R_METRICS]);
    fetch(f->port, "GET", "/api/v1/status", NULL, &f->rep[R_STATUS]);
    atomic_store(&f->status_fails, true);
    fetch(f->port, "GET", "/api/v1/status", NULL, &f->rep[R_STATUS_FAIL]);
    fetch(f->port, "GET", "/", NULL, &f->rep[R_PAGE]);
    fetch(f->port, "HEAD", "/", NULL, &f->rep[R_HEAD]);
    fetch(f->port, "POST", "/metrics", "x=1", &f->rep[R_POST]);
    fetch(f->port, "PUT", "/readyz", NULL, &f->rep[R_PUT]);
    fetch(f->port, "GET", "/nope", NULL, &f->rep[R_404]);
    fetch(f->port, "GET", "/healthz?x=1", NULL, &f->rep[R_QUERY]);
    uv_async_send(&f->done);
    return NULL;
}

static void on_done(uv_async_t *a)
{
    struct fixture *f = a->data;
    nh_httpd_stop(f->h);
    uv_close((uv_handle_t *)&f->done, NULL);
}

static void assert_common_headers(const struct reply *r)
{
    char v[512];
    assert_non_null(header(r, "Cache-Control", v, sizeof(v)));
    assert_string_equal(v, "no-store");
    assert_non_null(header(r, "X-Content-Type-Options", v, sizeof(v)));
    assert_string_equal(v, "nosniff");
}

static void sha256_b64(const char *p, size_t n, char out[64])
{
    unsigned char md[32];
    unsigned int mdlen = 0;
    assert_int_equal(EVP_Digest(p, n, md, &mdlen, EVP_sha256(), NULL), 1);
    assert_int_equal(mdlen, 32);
    EVP_EncodeBlock((unsigned char *)out, md, 32);
}

static void test_httpd_serves_every_route_on_loop(void **state)
{
    (void)state;
    static struct fixture f;
    char err[256] = "";
    char v[512];
    pthread_t th;

    memset(&f, 0, sizeof(f));
    nh_metrics_describe("nodeherd_clusters", NH_METRIC_GAUGE, "Configured clusters.", NULL, 0);
    nh_metrics_set("nodeherd_clusters", 3, NULL);
    assert_int_equal(uv_loop_init(&f.loop), 0);
    assert_int_equal(uv_async_init(&f.loop, &f.done, on_done), 0);
    f.done.data = &f;
    struct nh_httpd_hooks hooks = {.ready = hook_ready, .status_json = hook_status, .ud = &f};
    if (nh_httpd_start(&f.loop, "127.0.0.1:0", &hooks, &f.h, err, sizeof(err)) != 0)
        fail_msg("start: %s", err);
    f.port = nh_httpd_port(f.h);
    assert_in_range(f.port, 1, 65535);
    assert_int_equal(pthread_create(&th, NULL, client, &f), 0);
    assert_int_equal(uv_run(&f.loop, UV_RUN_DEFAULT), 0);
    assert_int_equal(pthread_join(th, NULL), 0);
    assert_int_equal(uv_loop_close(&f.loop), 0); /* no handle leaked */

    struct reply *r = &f.rep[R_HEALTH];
    assert_int_equal(r->code, 200);
    assert_string_equal(r->body, "ok\n");
    assert_string_equal(r->ctype, "text/plain; charset=utf-8");
    assert_common_headers(r);

    assert_int_equal(f.rep[R_NOTREADY].code, 503);
    assert_string_equal(f.rep[R_NOTREADY].body, "not ready\n");
    assert_int_equal(f.rep[R_READY].code, 200);
    assert_string_equal(f.rep[R_READY].body, "ready\n");

    r = &f.rep[R_METRICS];
    assert_int_equal(r->code, 200);
    assert_string_equal(r->ctype, "text/plain; version=0.0.4; charset=utf-8");
    assert_string_equal(r->body, "# HELP nodeherd_clusters Configured clusters.\n"
                                 "# TYPE nodeherd_clusters gauge\n"
                                 "nodeherd_clusters 3\n");
    assert_common_headers(r);

    r = &f.rep[R_STATUS];
    assert_int_equal(r->code, 200);
    assert_string_equal(r->ctype, "application/json");
    assert_string_equal(r->body, status_doc);
    assert_common_headers(r);
    assert_int_equal(f.rep[R_STATUS_FAIL].code, 500);
    assert_string_equal(f.rep[R_STATUS_FAIL].ctype, "application/json");
    assert_int_equal(atomic_load(&f.status_calls), 2);

    r = &f.rep[R_PAGE];
    assert_int_equal(r->code, 200);
    assert_string_equal(r->ctype, "text/html; charset=utf-8");
    assert_common_headers(r);
    assert_non_null(header(r, "Content-Security-Policy", v, sizeof(v)));
    assert_string_equal(v, nh_status_page_csp);
    assert_non_null(strstr(v, "default-src 'none'"));
    assert_non_null(strstr(v, "connect-src 'self'"));
    assert_non_null(strstr(v, "style-src 'unsafe-inline'"));
    assert_null(strstr(v, "script-src 'unsafe-inline'")); /* a hash, stricter */
    /* the CSP hash is the hash of the one inline script the page has */
    const char *s0 = strstr(r->body, "<script>");
    assert_non_null(s0);
    s0 += strlen("<script>");
    const char *s1 = strstr(s0, "</script>");
    assert_non_null(s1);
    assert_null(strstr(s1 + 1, "<script")); /* only one */
    char want[64], csp_hash[80];
    sha256_b64(s0, (size_t)(s1 - s0), want);
    snprintf(csp_hash, sizeof(csp_hash), "'sha256-%s'", want);
    if (strstr(v, csp_hash) == NULL)
        fail_msg("the CSP does not allow the page's script (sha256-%s); edit "
                 "daemon/ops/status_page.html and run python3 daemon/ops/status_page.py",
                 want);
    /* self-contained, reads the status document, escapes by construction */
    assert_non_null(strstr(r->body, "<noscript>"));
    assert_non_null(strstr(r->body, "fetch('api/v1/status'"));
    assert_non_null(strstr(r->body, "name=\"viewport\""));
    assert_null(strstr(r->body, "innerHTML"));
    assert_null(strstr(r->body, "http://"));
    assert_null(strstr(r->body, "https://"));
    assert_null(strstr(r->body, "src="));

    r = &f.rep[R_HEAD];
    assert_int_equal(r->code, 200);
    assert_int_equal(r->body_len, 0);
    assert_true(r->content_length == (double)f.rep[R_PAGE].body_len);

    r = &f.rep[R_POST];
    assert_int_equal(r->code, 405);
    assert_non_null(header(r, "Allow", v, sizeof(v)));
    assert_string_equal(v, "GET, HEAD");
    assert_non_null(strstr(r->body, "read-only"));
    assert_int_equal(f.rep[R_PUT].code, 405);

    r = &f.rep[R_404];
    assert_int_equal(r->code, 404);
    assert_non_null(strstr(r->body, "/metrics"));
    assert_common_headers(r);
    assert_int_equal(f.rep[R_QUERY].code, 200); /* the query is not part of the route */

    for (int i = 0; i < N_REQ; i++)
        reply_free(&f.rep[i]);
    nh_metrics_reset();
}

/* Absent hooks: not ready, no status yet. */
struct mini {
    uv_loop_t loop;
    uv_async_t done;
    struct nh_httpd *h;
    int port;
    struct reply ready, status;
};

static void *mini_client(void *arg)
{
    struct mini *m = arg;
    fetch(m->port, "GET", "/readyz", NULL, &m->ready);
    fetch(m->port, "GET", "/api/v1/status", NULL, &m->status);
    uv_async_send(&m->done);
    return NULL;
}

static void on_mini_done(uv_async_t *a)
{
    struct mini *m = a->data;
    nh_httpd_stop(m->h);
    nh_httpd_stop(NULL);
    uv_close((uv_handle_t *)&m->done, NULL);
}

static void test_httpd_without_hooks_not_ready_and_no_status(void **state)
{
    (void)state;
    static struct mini m;
    char err[256];
    pthread_t th;

    memset(&m, 0, sizeof(m));
    assert_int_equal(uv_loop_init(&m.loop), 0);
    assert_int_equal(uv_async_init(&m.loop, &m.done, on_mini_done), 0);
    m.done.data = &m;
    if (nh_httpd_start(&m.loop, "localhost:0", NULL, &m.h, err, sizeof(err)) != 0)
        fail_msg("start: %s", err);
    m.port = nh_httpd_port(m.h);
    assert_int_equal(pthread_create(&th, NULL, mini_client, &m), 0);
    assert_int_equal(uv_run(&m.loop, UV_RUN_DEFAULT), 0);
    assert_int_equal(pthread_join(th, NULL), 0);
    assert_int_equal(uv_loop_close(&m.loop), 0);
    assert_int_equal(m.ready.code, 503);
    assert_int_equal(m.status.code, 503);
    assert_non_null(strstr(m.status.body, "not available"));
    reply_free(&m.ready);
    reply_free(&m.status);
}

/* ---- connections cannot lock the endpoint out (issue 23) ---- */

/* A server on its own loop in this thread; `client` runs in another thread
 * and ends it. The server sizes its limits while RLIMIT_NOFILE's soft limit
 * is `nofile` (0: as it is); the client gets the full limit back. */
struct flood {
    uv_loop_t loop;
    uv_async_t done;
    struct nh_httpd *h;
    int port;
    unsigned total, per_ip;
    void *(*client)(void *);
    /* results */
    int probes, probes_ok;
    double probe_max_s;
    int opened, closed_by_server;
    char host_codes[24][8];
    double slow_closed_after_s;
};

static void on_flood_done(uv_async_t *a)
{
    struct flood *fl = a->data;
    nh_httpd_stop(fl->h);
    uv_close((uv_handle_t *)&fl->done, NULL);
}

static void run_flood(struct flood *fl, rlim_t nofile, char *const *names, size_t n_names)
{
    struct rlimit orig, rl;
    char err[256];
    pthread_t th;

    assert_int_equal(uv_loop_init(&fl->loop), 0);
    assert_int_equal(uv_async_init(&fl->loop, &fl->done, on_flood_done), 0);
    fl->done.data = fl;
    assert_int_equal(getrlimit(RLIMIT_NOFILE, &orig), 0);
    rl = orig;
    if (nofile != 0) {
        rl.rlim_cur = nofile;
        assert_int_equal(setrlimit(RLIMIT_NOFILE, &rl), 0);
    }
    if (nh_httpd_start(&fl->loop, "127.0.0.1:0", NULL, &fl->h, err, sizeof(err)) != 0)
        fail_msg("start: %s", err);
    rl.rlim_cur = orig.rlim_max; /* the clients need the fds */
    assert_int_equal(setrlimit(RLIMIT_NOFILE, &rl), 0);
    if (names != NULL)
        assert_int_equal(nh_httpd_set_names(fl->h, names, n_names), 0);
    fl->port = nh_httpd_port(fl->h);
    nh_httpd_limits(fl->h, &fl->total, &fl->per_ip);
    assert_int_equal(pthread_create(&th, NULL, fl->client, fl), 0);
    assert_int_equal(uv_run(&fl->loop, UV_RUN_DEFAULT), 0);
    assert_int_equal(pthread_join(th, NULL), 0);
    assert_int_equal(uv_loop_close(&fl->loop), 0);
    assert_int_equal(setrlimit(RLIMIT_NOFILE, &orig), 0);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Connects from 127.0.0.<src> (0: any) and leaves the connection idle. */
static int connect_from(int port, int src)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd >= 0 && src != 0) {
        struct sockaddr_in me = {.sin_family = AF_INET};
        me.sin_addr.s_addr = htonl(0x7f000000u | (unsigned)src);
        if (bind(fd, (struct sockaddr *)&me, sizeof(me)) != 0) {
            close(fd);
            return -1;
        }
    }
    if (fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
        close(fd);
        fd = -1;
    }
    return fd;
}

/* Has the server closed fd? (EOF or reset, without blocking) */
static bool closed_by_peer(int fd)
{
    struct pollfd p = {.fd = fd, .events = POLLIN};
    char c;
    if (poll(&p, 1, 0) != 1)
        return false;
    return recv(fd, &c, 1, MSG_DONTWAIT) <= 0;
}

static void probe(struct flood *fl)
{
    struct reply r;
    double t0 = now_s();
    fetch(fl->port, "GET", "/healthz", NULL, &r);
    double dt = now_s() - t0;
    fl->probes++;
    if (r.code == 200 && dt < 1.0)
        fl->probes_ok++;
    if (dt > fl->probe_max_s)
        fl->probe_max_s = dt;
    reply_free(&r);
}

/* Opens n idle connections spread over `srcs` source addresses, probes while
 * they are held, then counts how many the server has closed. */
static void flood_and_probe(struct flood *fl, int n, int srcs)
{
    int *fds = calloc((size_t)n, sizeof(int));
    assert_non_null(fds);
    for (int i = 0; i < n; i++) {
        fds[i] = connect_from(fl->port, srcs > 1 ? 2 + i % srcs : 0);
        fl->opened += fds[i] >= 0;
        if (i % 100 == 99)
            probe(fl); /* while the flood builds up */
    }
    for (int i = 0; i < 5; i++)
        probe(fl);
    /* the oldest idle ones go once past the grace (100 ms); wait generously,
     * but less than the request deadline and MHD's timeout (5 s), which
     * would close them all anyway */
    int want = n - (int)(srcs > 1 ? fl->total : fl->per_ip) - 16;
    for (double t0 = now_s(); now_s() - t0 < 3.5;) {
        fl->closed_by_server = 0;
        for (int i = 0; i < n; i++)
            fl->closed_by_server += fds[i] >= 0 && closed_by_peer(fds[i]);
        if (fl->closed_by_server >= want)
            break;
        usleep(50 * 1000);
    }
    probe(fl);
    for (int i = 0; i < n; i++)
        if (fds[i] >= 0)
            close(fds[i]);
    free(fds);
}

static void *one_address_client(void *arg)
{
    struct flood *fl = arg;
    flood_and_probe(fl, 800, 1);
    uv_async_send(&fl->done);
    return NULL;
}

/* 800 idle connections from 127.0.0.1, more than the limit (640) allows:
 * probes from the same address are answered at once all along, and the
 * flood is cut down to the per-address limit, oldest first. */
static void test_httpd_flood_from_one_address_never_starves_probes(void **state)
{
    (void)state;
    static struct flood fl;
    memset(&fl, 0, sizeof(fl));
    fl.client = one_address_client;
    run_flood(&fl, 1024, NULL, 0);
    assert_int_equal(fl.total, 1024 - 256 - 128); /* sized from RLIMIT_NOFILE */
    assert_int_equal(fl.per_ip, NH_HTTPD_PER_IP);
    assert_int_equal(fl.opened, 800);
    if (fl.probes_ok != fl.probes)
        fail_msg("%d of %d probes answered within 1 s (slowest %.3f s)", fl.probes_ok, fl.probes,
                 fl.probe_max_s);
    if (fl.closed_by_server < 800 - NH_HTTPD_PER_IP - 16)
        fail_msg("only %d of 800 idle connections closed", fl.closed_by_server);
}

static void *many_addresses_client(void *arg)
{
    struct flood *fl = arg;
    flood_and_probe(fl, 400, 25); /* 16 from each of 127.0.0.2..26: under the per-address limit */
    uv_async_send(&fl->done);
    return NULL;
}

/* From many addresses, each under its own limit, past the total: the oldest
 * idle connections of anyone go, probes are answered. */
static void test_httpd_flood_from_many_addresses_keeps_room(void **state)
{
    (void)state;
    static struct flood fl;
    memset(&fl, 0, sizeof(fl));
    fl.client = many_addresses_client;
    run_flood(&fl, 512, NULL, 0); /* 512 - 256 - 64 = 192 connections */
    assert_int_equal(fl.total, 192);
    assert_int_equal(fl.opened, 400);
    if (fl.probes_ok != fl.probes)
        fail_msg("%d of %d probes answered within 1 s (slowest %.3f s)", fl.probes_ok, fl.probes,
                 fl.probe_max_s);
    if (fl.closed_by_server < 400 - 192 - 16)
        fail_msg("only %d of 400 idle connections closed", fl.closed_by_server);
}

/* Sends a raw request (Host header as given, none if NULL); the status code
 * of the answer as text ("200", "421", ...) or "-". */
static void raw_request(int port, const char *proto, const char *host, char out[8])
{
    char req[256], resp[256];
    int fd = connect_from(port, 0);
    snprintf(out, 8, "-");
    if (fd < 0)
        return;
    snprintf(req, sizeof(req), "GET /healthz %s\r\n%s%s%sConnection: close\r\n\r\n", proto,
             host ? "Host: " : "", host ? host : "", host ? "\r\n" : "");
    struct timeval tv = {.tv_sec = 3};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    if (write(fd, req, strlen(req)) == (ssize_t)strlen(req)) {
        ssize_t n = read(fd, resp, sizeof(resp) - 1);
        if (n > 12 && strncmp(resp, "HTTP/1.", 7) == 0)
            snprintf(out, 8, "%.3s", resp + 9);
    }
    close(fd);
}

static const char *const host_cases[][2] = {
    {"HTTP/1.1", "127.0.0.1:PORT"},
    {"HTTP/1.1", "localhost:PORT"},
    {"HTTP/1.1", "LocalHost"},
    {"HTTP/1.1", "127.0.0.2"},
    {"HTTP/1.1", "[::1]:PORT"},
    {"HTTP/1.1", "nodeherd.example.com"},
    {"HTTP/1.1", "NodeHerd.Example.COM:8080"},
    {"HTTP/1.1", "evil.example:PORT"}, /* DNS rebinding */
    {"HTTP/1.1", "localhost.evil.example"},
    {"HTTP/1.1", "10.9.8.7:PORT"}, /* an address that is not this endpoint's */
    {"HTTP/1.1", "127.0.0.1:x"},
    {"HTTP/1.0", NULL}, /* no Host at all */
    {"HTTP/1.0", "evil.example"},
    {"HTTP/1.0", "127.0.0.1"},
    {"HTTP/1.1", "0.0.0.0:PORT"}, /* nodeherd status with listen 0.0.0.0:PORT */
    {"HTTP/1.1", "[fd00::1]:443"},
    {"HTTP/1.1", "[fd00::2]"},
};
static const char *const host_want[] = {"200", "200", "200", "200", "200", "200",
                                        "200", "421", "421", "421", "421", "400",
                                        "421", "200", "200", "200", "421"};

static void *host_client(void *arg)
{
    struct flood *fl = arg;
    char host[96];
    for (size_t i = 0; i < sizeof(host_cases) / sizeof(host_cases[0]); i++) {
        const char *h = host_cases[i][1];
        const char *p = h ? strstr(h, "PORT") : NULL;
        if (p != NULL)
            snprintf(host, sizeof(host), "%.*s%d", (int)(p - h), h, fl->port);
        else if (h != NULL)
            snprintf(host, sizeof(host), "%s", h);
        raw_request(fl->port, host_cases[i][0], h ? host : NULL, fl->host_codes[i]);
    }
    uv_async_send(&fl->done);
    return NULL;
}

/* DNS rebinding: only requests that name the endpoint are answered. */
static void test_httpd_host_header_must_name_the_endpoint(void **state)
{
    (void)state;
    static struct flood fl;
    static char *names[] = {"nodeherd.example.com", "[fd00::1]"};
    memset(&fl, 0, sizeof(fl));
    fl.client = host_client;
    run_flood(&fl, 0, names, 2);
    for (size_t i = 0; i < sizeof(host_want) / sizeof(host_want[0]); i++)
        if (strcmp(fl.host_codes[i], host_want[i]) != 0)
            fail_msg("%s Host: %s: got %s, want %s", host_cases[i][0],
                     host_cases[i][1] ? host_cases[i][1] : "(none)", fl.host_codes[i],
                     host_want[i]);
}

static void *slow_client(void *arg)
{
    struct flood *fl = arg;
    static const char req[] = "GET /healthz HTTP/1.1\r\nHost: localhost\r\nX-Slow: ";
    int fd = connect_from(fl->port, 0);
    double t0 = now_s();
    fl->slow_closed_after_s = -1;
    /* a byte every 400 ms: MHD's inactivity timeout alone would never fire */
    for (size_t i = 0; fd >= 0 && now_s() - t0 < 15; i++) {
        if (closed_by_peer(fd) || send(fd, req + i % (sizeof(req) - 1), 1, MSG_NOSIGNAL) != 1) {
            fl->slow_closed_after_s = now_s() - t0;
            break;
        }
        usleep(400 * 1000);
    }
    if (fd >= 0)
        close(fd);
    probe(fl);
    uv_async_send(&fl->done);
    return NULL;
}

/* A slow sender is ended at the request deadline counted from accept. */
static void test_httpd_slow_sender_closed_at_the_deadline(void **state)
{
    (void)state;
    static struct flood fl;
    memset(&fl, 0, sizeof(fl));
    fl.client = slow_client;
    run_flood(&fl, 0, NULL, 0);
    if (fl.slow_closed_after_s < NH_HTTPD_REQUEST_DEADLINE_MS / 1000.0 - 0.5 ||
        fl.slow_closed_after_s > NH_HTTPD_REQUEST_DEADLINE_MS / 1000.0 + 3)
        fail_msg("the slow sender was closed after %.2f s (want about %d s)",
                 fl.slow_closed_after_s, NH_HTTPD_REQUEST_DEADLINE_MS / 1000);
    assert_int_equal(fl.probes_ok, 1);
}

static void test_httpd_port_in_use_fails_with_fix(void **state)
{
    (void)state;
    uv_loop_t loop;
    struct nh_httpd *a = NULL, *b = (struct nh_httpd *)&loop;
    char err[256] = "", listen[32];

    assert_int_equal(uv_loop_init(&loop), 0);
    assert_int_equal(nh_httpd_start(&loop, "127.0.0.1:0", NULL, &a, err, sizeof(err)), 0);
    snprintf(listen, sizeof(listen), "127.0.0.1:%d", nh_httpd_port(a));
    int r = nh_httpd_start(&loop, listen, NULL, &b, err, sizeof(err));
    assert_true(r < 0);
    assert_ptr_equal(b, (struct nh_httpd *)&loop); /* *ret untouched on failure */
    assert_non_null(strstr(err, listen));
    assert_non_null(strstr(err, "daemon.listen"));
    r = nh_httpd_start(&loop, "nope", NULL, &b, err, sizeof(err));
    assert_int_equal(r, -EINVAL);
    nh_httpd_stop(a);
    assert_int_equal(uv_run(&loop, UV_RUN_DEFAULT), 0);
    assert_int_equal(uv_loop_close(&loop), 0);
}

static void test_httpd_ipv6_loopback(void **state)
{
    (void)state;
    uv_loop_t loop;
    struct nh_httpd *h = NULL;
    char err[256] = "";
    int s = socket(AF_INET6, SOCK_STREAM, 0);

    if (s < 0) {
        skip(); /* no IPv6 in this sandbox */
        return;
    }
    close(s);
    assert_int_equal(uv_loop_init(&loop), 0);
    int r = nh_httpd_start(&loop, "[::1]:0", NULL, &h, err, sizeof(err));
    if (r == -EADDRNOTAVAIL) { /* IPv6 exists but ::1 is not configured */
        assert_int_equal(uv_loop_close(&loop), 0);
        skip();
        return;
    }
    if (r != 0)
        fail_msg("start [::1]:0: %s", err);
    assert_in_range(nh_httpd_port(h), 1, 65535);
    nh_httpd_stop(h);
    assert_int_equal(uv_run(&loop, UV_RUN_DEFAULT), 0);
    assert_int_equal(uv_loop_close(&loop), 0);
}

int main(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_httpd_parse_listen_accepts_forms),
        cmocka_unit_test(test_httpd_parse_listen_rejects_with_fix),
        cmocka_unit_test(test_httpd_serves_every_route_on_loop),
        cmocka_unit_test(test_httpd_without_hooks_not_ready_and_no_status),
        cmocka_unit_test(test_httpd_flood_from_one_address_never_starves_probes),
        cmocka_unit_test(test_httpd_flood_from_many_addresses_keeps_room),
        cmocka_unit_test(test_httpd_host_header_must_name_the_endpoint),
        cmocka_unit_test(test_httpd_slow_sender_closed_at_the_deadline),
        cmocka_unit_test(test_httpd_port_in_use_fails_with_fix),
        cmocka_unit_test(test_httpd_ipv6_loopback),
    };
    int r = cmocka_run_group_tests(tests, NULL, NULL);
    curl_global_cleanup();
    return r;
}
