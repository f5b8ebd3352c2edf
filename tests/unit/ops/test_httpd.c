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
#include <sys/socket.h>
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

/* Past NH_HTTPD_MAX_CONNECTIONS open connections a new one is not served;
 * once one closes, requests are served again. */
struct limit {
    uv_loop_t loop;
    uv_async_t done;
    struct nh_httpd *h;
    int port;
    struct reply over, after;
};

static int connect_idle(int port)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
        close(fd);
        fd = -1;
    }
    return fd;
}

static void *limit_client(void *arg)
{
    struct limit *l = arg;
    int fds[NH_HTTPD_MAX_CONNECTIONS];
    for (int i = 0; i < NH_HTTPD_MAX_CONNECTIONS; i++)
        fds[i] = connect_idle(l->port);
    usleep(200 * 1000); /* the loop accepts them */
    fetch(l->port, "GET", "/healthz", NULL, &l->over);
    for (int i = 0; i < NH_HTTPD_MAX_CONNECTIONS; i++)
        if (fds[i] >= 0)
            close(fds[i]);
    usleep(200 * 1000); /* the loop sees them go */
    fetch(l->port, "GET", "/healthz", NULL, &l->after);
    uv_async_send(&l->done);
    return NULL;
}

static void on_limit_done(uv_async_t *a)
{
    struct limit *l = a->data;
    nh_httpd_stop(l->h);
    uv_close((uv_handle_t *)&l->done, NULL);
}

static void test_httpd_connection_limit_refuses_then_recovers(void **state)
{
    (void)state;
    static struct limit l;
    char err[256];
    pthread_t th;

    memset(&l, 0, sizeof(l));
    assert_int_equal(uv_loop_init(&l.loop), 0);
    assert_int_equal(uv_async_init(&l.loop, &l.done, on_limit_done), 0);
    l.done.data = &l;
    if (nh_httpd_start(&l.loop, "127.0.0.1:0", NULL, &l.h, err, sizeof(err)) != 0)
        fail_msg("start: %s", err);
    l.port = nh_httpd_port(l.h);
    assert_int_equal(pthread_create(&th, NULL, limit_client, &l), 0);
    assert_int_equal(uv_run(&l.loop, UV_RUN_DEFAULT), 0);
    assert_int_equal(pthread_join(th, NULL), 0);
    assert_int_equal(uv_loop_close(&l.loop), 0);
    assert_int_equal(l.over.code, -1); /* not served while at the limit */
    assert_int_equal(l.after.code, 200);
    reply_free(&l.over);
    reply_free(&l.after);
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
        cmocka_unit_test(test_httpd_connection_limit_refuses_then_recovers),
        cmocka_unit_test(test_httpd_port_in_use_fails_with_fix),
        cmocka_unit_test(test_httpd_ipv6_loopback),
    };
    int r = cmocka_run_group_tests(tests, NULL, NULL);
    curl_global_cleanup();
    return r;
}
