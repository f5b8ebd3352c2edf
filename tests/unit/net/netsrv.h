/* netsrv.h - starts tests/unit/net/testserver.py on a loopback port and
 * talks to it synchronously (tests only: blocking is fine here). */
#ifndef NH_TEST_NETSRV_H
#define NH_TEST_NETSRV_H

#include <stddef.h>
#include <sys/types.h>

struct netsrv {
    pid_t pid;
    int port;
    char base[64]; /* "http://127.0.0.1:<port>" */
};

/* 0 or -errno. Proxy variables are cleared so loopback stays loopback. */
int netsrv_start(struct netsrv *s);
/* The same over https with a self-signed certificate written to
 * tls_dir/cert.pem (base is then "https://127.0.0.1:<port>"). */
int netsrv_start_tls(struct netsrv *s, const char *tls_dir);
void netsrv_stop(struct netsrv *s);
/* "<base><path>" into buf; returns buf. */
const char *netsrv_url(const struct netsrv *s, const char *path, char *buf, size_t len);
/* Blocking GET of path; the body (free it), or NULL. */
char *netsrv_get(const struct netsrv *s, const char *path);

struct netsrv_hits {
    int count;
    double times_ms[64]; /* arrival times (server monotonic ms), first 64 */
    long conns[64];      /* client ports */
};
/* Arrivals recorded under key; 0 or -1. */
int netsrv_hits(const struct netsrv *s, const char *key, struct netsrv_hits *out);

#endif
