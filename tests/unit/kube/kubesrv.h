/* kubesrv.h - starts tests/unit/kube/kubesrv.py (a loopback stand-in for a
 * Kubernetes API server over https) and talks to its plain-http control
 * port synchronously (tests only: blocking is fine here). */
#ifndef NH_TEST_KUBESRV_H
#define NH_TEST_KUBESRV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <uv.h>

struct kubesrv {
    pid_t pid;
    int port;      /* https API */
    int ctl;       /* plain-http control */
    char base[64]; /* "https://127.0.0.1:<port>" */
};

struct json_object;

/* Writes the throwaway PKI into dir (kubesrv.py --gen). 0 or -1. */
int kubesrv_gen(const char *dir);
/* A new mkdtemp directory from tmpl ("/tmp/nh-x-XXXXXX") into dir (len
 * bytes) with the throwaway PKI in it: what every test group starts with.
 * 0 or -1. */
int kubesrv_pki(char *dir, size_t len, const char *tmpl);
/* Starts a server using dir's PKI. token: the accepted bearer token (NULL:
 * none); require_cert: refuse connections without a client certificate.
 * Proxy variables are cleared. 0 or -errno. */
int kubesrv_start(struct kubesrv *s, const char *dir, const char *token, bool require_cert);
void kubesrv_stop(struct kubesrv *s);
/* POST json to /_ctl. 0 or -1. */
int kubesrv_ctl(const struct kubesrv *s, const char *json);
/* GET path on the control port; the body (free it) or NULL. */
char *kubesrv_get(const struct kubesrv *s, const char *path);
/* The same, parsed (json_object_put it), or NULL: /_state, /_log?clear=1. */
struct json_object *kubesrv_json(const struct kubesrv *s, const char *path);
/* /_state's view of node name: unschedulable and the nodeherd.io/draining
 * annotation into mark ("" when absent). 0, or -1 without such a node. */
int kubesrv_node(const struct kubesrv *s, const char *name, bool *unsched, char *mark,
                 size_t marklen);

/* dir/name's contents (free), NUL-terminated, or NULL. */
char *kubesrv_read(const char *dir, const char *name, size_t *len);
/* A YAML kubeconfig for server with the files of dir base64-encoded as
 * *-data (any of ca, cert, key may be NULL: left out; token NULL: none).
 * Free it. */
char *kubesrv_kubeconfig(const char *dir, const char *server, const char *ca, const char *cert,
                         const char *key, const char *token);
/* Runs loop until *count >= want or timeout_ms passes (a guard timer,
 * closed before it returns), and returns as soon as it is so: a prepare
 * handle stops the loop before its poll, which uv_run(UV_RUN_ONCE) alone
 * would block in until the next timer - the HTTP layer's 30 s timeout -
 * after the callback that changed *count (it made unit.kube_client take
 * 38 s and time out at 120 s under load). */
void kubesrv_run_until(uv_loop_t *loop, const int *count, int want, uint64_t timeout_ms);
/* rm -rf dir (a mkdtemp directory of ours). */
void kubesrv_rmdir(const char *dir);

#endif
