/* kubesrv.c - see kubesrv.h. */
#include "kubesrv.h"

#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <curl/curl.h>
#include <json-c/json.h>
#include <openssl/evp.h>

#include "util/buf.h"

#ifndef NH_TEST_DATA
#error "NH_TEST_DATA must name tests/unit/kube"
#endif

#define SCRIPT NH_TEST_DATA "/kubesrv.py"

int kubesrv_gen(const char *dir)
{
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        execlp("python3", "python3", SCRIPT, "--gen", dir, (char *)NULL);
        _exit(127);
    }
    int st = 0;
    if (waitpid(pid, &st, 0) < 0)
        return -1;
    return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : -1;
}

int kubesrv_pki(char *dir, size_t len, const char *tmpl)
{
    snprintf(dir, len, "%s", tmpl);
    return mkdtemp(dir) != NULL && kubesrv_gen(dir) == 0 ? 0 : -1;
}

int kubesrv_start(struct kubesrv *s, const char *dir, const char *token, bool require_cert)
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
        const char *argv[10];
        int n = 0;
        argv[n++] = "python3";
        argv[n++] = "-u";
        argv[n++] = SCRIPT;
        argv[n++] = "--dir";
        argv[n++] = dir;
        if (token != NULL) {
            argv[n++] = "--token";
            argv[n++] = token;
        }
        if (require_cert)
            argv[n++] = "--require-client-cert";
        argv[n] = NULL;
        execvp("python3", (char *const *)argv);
        _exit(127);
    }
    close(fds[1]);
    FILE *f = fdopen(fds[0], "r");
    int port = 0, ctl = 0;
    if (f == NULL || fscanf(f, "PORT %d CTL %d", &port, &ctl) != 2 || port <= 0 || ctl <= 0) {
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
    s->ctl = ctl;
    snprintf(s->base, sizeof(s->base), "https://127.0.0.1:%d", port);
    return 0;
}

void kubesrv_stop(struct kubesrv *s)
{
    if (s->pid <= 0)
        return;
    kill(s->pid, SIGKILL);
    waitpid(s->pid, NULL, 0);
    s->pid = 0;
}

static size_t on_body(char *p, size_t sz, size_t n, void *ud)
{
    return nh_buf_append(ud, p, sz * n) == 0 ? sz * n : 0;
}

static char *ctl_call(const struct kubesrv *s, const char *path, const char *post)
{
    char url[256];
    struct nh_buf b;
    nh_buf_init(&b, 64 << 20);
    CURL *e = curl_easy_init();
    if (e == NULL)
        return NULL;
    snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", s->ctl, path);
    curl_easy_setopt(e, CURLOPT_URL, url);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, &b);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, 20000L);
    curl_easy_setopt(e, CURLOPT_NOPROXY, "*");
    if (post != NULL)
        curl_easy_setopt(e, CURLOPT_POSTFIELDS, post);
    CURLcode rc = curl_easy_perform(e);
    long code = 0;
    curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &code);
    curl_easy_cleanup(e);
    if (rc != CURLE_OK || code != 200) {
        nh_buf_free(&b);
        return NULL;
    }
    return nh_buf_steal(&b);
}

int kubesrv_ctl(const struct kubesrv *s, const char *json)
{
    char *r = ctl_call(s, "/_ctl", json);
    free(r);
    return r != NULL ? 0 : -1;
}

char *kubesrv_get(const struct kubesrv *s, const char *path)
{
    return ctl_call(s, path, NULL);
}

struct json_object *kubesrv_json(const struct kubesrv *s, const char *path)
{
    char *body = kubesrv_get(s, path);
    struct json_object *root = body != NULL ? json_tokener_parse(body) : NULL;
    free(body);
    return root;
}

int kubesrv_node(const struct kubesrv *s, const char *name, bool *unsched, char *mark,
                 size_t marklen)
{
    struct json_object *root = kubesrv_json(s, "/_state");
    struct json_object *n = json_object_object_get(json_object_object_get(root, "nodes"), name);
    if (n == NULL) {
        json_object_put(root);
        return -1;
    }
    *unsched = json_object_get_boolean(json_object_object_get(n, "unschedulable"));
    struct json_object *m =
        json_object_object_get(json_object_object_get(n, "annotations"), "nodeherd.io/draining");
    snprintf(mark, marklen, "%s", m != NULL ? json_object_get_string(m) : "");
    json_object_put(root);
    return 0;
}

char *kubesrv_read(const char *dir, const char *name, size_t *len)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return NULL;
    struct nh_buf b;
    nh_buf_init(&b, 1 << 20);
    char chunk[4096];
    size_t n;
    while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
        nh_buf_append(&b, chunk, n);
    fclose(f);
    if (len != NULL)
        *len = b.len;
    return nh_buf_steal(&b);
}

static int add_b64(struct nh_buf *b, const char *dir, const char *file)
{
    size_t len;
    char *pem = kubesrv_read(dir, file, &len);
    if (pem == NULL)
        return -1;
    char *out = malloc(len / 3 * 4 + 8);
    EVP_EncodeBlock((unsigned char *)out, (const unsigned char *)pem, (int)len);
    int r = nh_buf_appends(b, out);
    free(out);
    free(pem);
    return r;
}

char *kubesrv_kubeconfig(const char *dir, const char *server, const char *ca, const char *cert,
                         const char *key, const char *token)
{
    struct nh_buf b;
    nh_buf_init(&b, 0);
    nh_buf_printf(&b,
                  "apiVersion: v1\nkind: Config\ncurrent-context: test\nclusters:\n"
                  "- name: test\n  cluster:\n    server: %s\n",
                  server);
    if (ca != NULL) {
        nh_buf_appends(&b, "    certificate-authority-data: ");
        add_b64(&b, dir, ca);
        nh_buf_appends(&b, "\n");
    }
    nh_buf_appends(&b, "users:\n- name: test\n  user:\n");
    if (cert != NULL) {
        nh_buf_appends(&b, "    client-certificate-data: ");
        add_b64(&b, dir, cert);
        nh_buf_appends(&b, "\n");
    }
    if (key != NULL) {
        nh_buf_appends(&b, "    client-key-data: ");
        add_b64(&b, dir, key);
        nh_buf_appends(&b, "\n");
    }
    if (token != NULL)
        nh_buf_printf(&b, "    token: %s\n", token);
    nh_buf_appends(&b, "contexts:\n- name: test\n  context:\n    cluster: test\n    user: test\n");
    return nh_buf_steal(&b);
}

struct run_until {
    const int *count;
    int want;
    bool expired;
    int open; /* handles not closed yet */
};

static void on_guard(uv_timer_t *t)
{
    struct run_until *ru = t->data;
    ru->expired = true;
}

/* Before each poll: when done, the poll must not block. */
static void on_prepare(uv_prepare_t *p)
{
    struct run_until *ru = p->data;
    if (*ru->count >= ru->want || ru->expired)
        uv_stop(p->loop);
}

static void on_run_until_closed(uv_handle_t *hd)
{
    struct run_until *ru = hd->data;
    ru->open--;
}

void kubesrv_run_until(uv_loop_t *loop, const int *count, int want, uint64_t timeout_ms)
{
    struct run_until ru = {count, want, false, 2};
    uv_timer_t guard;
    uv_prepare_t prep;
    uv_timer_init(loop, &guard);
    guard.data = &ru;
    uv_timer_start(&guard, on_guard, timeout_ms, 0);
    uv_prepare_init(loop, &prep);
    prep.data = &ru;
    uv_prepare_start(&prep, on_prepare);
    while (*count < want && !ru.expired)
        uv_run(loop, UV_RUN_ONCE);
    uv_close((uv_handle_t *)&guard, on_run_until_closed);
    uv_close((uv_handle_t *)&prep, on_run_until_closed);
    while (ru.open > 0)
        uv_run(loop, UV_RUN_NOWAIT);
}

void kubesrv_rmdir(const char *dir)
{
    DIR *d = opendir(dir);
    if (d == NULL)
        return;
    struct dirent *e;
    char path[512];
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
        unlink(path);
    }
    closedir(d);
    rmdir(dir);
}
