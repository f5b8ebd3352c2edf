/* netsrv.c - see netsrv.h. */
#include "netsrv.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <curl/curl.h>

#include "util/buf.h"

#ifndef NH_TEST_DATA
#error "NH_TEST_DATA must name tests/unit/net"
#endif

static int start(struct netsrv *s, const char *tls_dir)
{
    static const char *const proxies[] = {"http_proxy",  "HTTP_PROXY", "https_proxy",
                                          "HTTPS_PROXY", "all_proxy",  "ALL_PROXY"};
    for (size_t i = 0; i < sizeof(proxies) / sizeof(proxies[0]); i++)
        unsetenv(proxies[i]);
    int fds[2];
    memset(s, 0, sizeof(*s));
    if (pipe(fds) < 0)
        return -errno;
    pid_t pid = fork();
    if (pid < 0) {
        close(fds[0]);
        close(fds[1]);
        return -errno;
    }
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL); /* never outlive a crashed test */
        dup2(fds[1], STDOUT_FILENO);
        close(fds[0]);
        close(fds[1]);
        if (tls_dir != NULL)
            execlp("python3", "python3", "-u", NH_TEST_DATA "/testserver.py", "--tls", tls_dir,
                   (char *)NULL);
        else
            execlp("python3", "python3", "-u", NH_TEST_DATA "/testserver.py", (char *)NULL);
        _exit(127);
    }
    close(fds[1]);
    FILE *f = fdopen(fds[0], "r");
    int port = 0;
    if (f == NULL || fscanf(f, "PORT %d", &port) != 1 || port <= 0) {
        if (f != NULL)
            fclose(f);
        else
            close(fds[0]);
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
        return -EIO;
    }
    fclose(f);
    s->pid = pid;
    s->port = port;
    snprintf(s->base, sizeof(s->base), "%s://127.0.0.1:%d", tls_dir ? "https" : "http", port);
    return 0;
}

int netsrv_start(struct netsrv *s)
{
    return start(s, NULL);
}

int netsrv_start_tls(struct netsrv *s, const char *tls_dir)
{
    return start(s, tls_dir);
}

void netsrv_stop(struct netsrv *s)
{
    if (s->pid <= 0)
        return;
    kill(s->pid, SIGKILL);
    waitpid(s->pid, NULL, 0);
    s->pid = 0;
}

const char *netsrv_url(const struct netsrv *s, const char *path, char *buf, size_t len)
{
    snprintf(buf, len, "%s%s", s->base, path);
    return buf;
}

static size_t on_body(char *p, size_t sz, size_t n, void *ud)
{
    return nh_buf_append(ud, p, sz * n) == 0 ? sz * n : 0;
}

char *netsrv_get(const struct netsrv *s, const char *path)
{
    char url[512];
    struct nh_buf b;
    nh_buf_init(&b, 1 << 20);
    CURL *e = curl_easy_init();
    if (e == NULL)
        return NULL;
    curl_easy_setopt(e, CURLOPT_URL, netsrv_url(s, path, url, sizeof(url)));
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, &b);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, 5000L);
    curl_easy_setopt(e, CURLOPT_NOPROXY, "*");
    CURLcode rc = curl_easy_perform(e);
    curl_easy_cleanup(e);
    if (rc != CURLE_OK) {
        nh_buf_free(&b);
        return NULL;
    }
    return nh_buf_steal(&b);
}

/* Parses a JSON array of numbers after "name": (our own server's output). */
static int parse_array(const char *json, const char *name, double *out, int max)
{
    const char *p = strstr(json, name);
    if (p == NULL || (p = strchr(p, '[')) == NULL)
        return -1;
    p++;
    int n = 0;
    while (*p != ']' && *p != '\0') {
        char *end;
        double v = strtod(p, &end);
        if (end == p)
            return -1;
        if (n < max)
            out[n] = v;
        n++;
        p = end;
        while (*p == ',' || *p == ' ')
            p++;
    }
    return n;
}

int netsrv_hits(const struct netsrv *s, const char *key, struct netsrv_hits *out)
{
    char path[256];
    double conns[64];
    memset(out, 0, sizeof(*out));
    snprintf(path, sizeof(path), "/hits?key=%s", key);
    char *body = netsrv_get(s, path);
    if (body == NULL)
        return -1;
    int r = -1;
    if (sscanf(body, "{\"count\": %d", &out->count) == 1 &&
        parse_array(body, "\"times_ms\"", out->times_ms, 64) == out->count &&
        parse_array(body, "\"conns\"", conns, 64) == out->count) {
        for (int i = 0; i < out->count && i < 64; i++)
            out->conns[i] = (long)conns[i];
        r = 0;
    }
    free(body);
    return r;
}
