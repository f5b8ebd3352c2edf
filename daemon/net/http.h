/* http.h - asynchronous HTTP on libcurl's multi interface, driven by libuv.
 *
 * One struct nh_http per daemon (one multi handle, shared connection cache).
 * Requests are submitted with a completion callback that runs on the loop,
 * exactly once per request (also on cancellation and shutdown).
 * TLS verification is always on; plain http:// is accepted only for loopback
 * hosts (127.0.0.0/8, ::1, localhost). Proxies come from the usual
 * environment variables (libcurl's defaults). Never CURLOPT_VERBOSE. */
#ifndef NH_HTTP_H
#define NH_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <uv.h>

/* libcurl's receive buffer per transfer (CURLOPT_BUFFERSIZE; curl's default
 * is 16 KiB). A poll burst holds ~1,000 transfers in flight (issue #21):
 * 4 KiB saves 12 MB there; an answer larger than this arrives in more pieces,
 * no byte differs. */
#define NH_HTTP_RECV_BUFFER 4096

struct nh_http;
struct nh_http_xfer;

struct nh_http_header {
    char *name;  /* lower-case */
    char *value; /* trimmed */
};

/* TLS material held in memory (PEM), for a server with its own CA and
 * client certificates (a cluster's Kubernetes API, credentials from a
 * kubeconfig). Borrowed: nh_http_submit copies it, and the copies are wiped
 * when the transfer ends. Peer and host verification stay on. libcurl does
 * not reuse a connection (or resume a TLS session) across different CA or
 * client-certificate blobs: it compares them when it matches a cached
 * connection. */
struct nh_http_tls {
    const void *ca_pem; /* set: the only CAs trusted (no system bundle, no CA path) */
    size_t ca_pem_len;
    const void *cert_pem; /* client certificate (chain); needs key_pem */
    size_t cert_pem_len;
    const void *key_pem; /* its private key, unencrypted */
    size_t key_pem_len;
};

struct nh_http_req {
    const char *method;         /* "GET", "PUT", ... */
    const char *url;            /* full URL; the query already encoded */
    const char *const *headers; /* "Name: value" lines, NULL-terminated; may be NULL */
    const void *body;           /* may be NULL */
    size_t body_len;
    /* Mutating calls must never be re-sent by libcurl on its own (it retries
     * a request on a reused connection that died before any answer byte).
     * true: a fresh connection, not reused afterwards. */
    bool fresh_connection;
    uint64_t connect_timeout_ms;        /* 0: 5 s */
    uint64_t timeout_ms;                /* 0: 30 s, whole transfer */
    size_t max_body;                    /* 0: 8 MiB; larger answers fail as NH_HTTP_TOO_BIG */
    const char *const *capture_headers; /* lower-case names to keep, NULL-terminated; NULL: none */
    /* NULL: the nh_http's CA (ca_file or the system bundle), no client
     * certificate. Header lines (e.g. "Authorization: Bearer ...") are
     * also wiped from the request's copy when the transfer ends. */
    const struct nh_http_tls *tls;
    /* The answer carries a credential (a kubeconfig from the cloud): its
     * buffer is grown by copy-and-wipe, never realloc, and wiped when the
     * transfer ends. */
    bool secret_answer;
    /* Called once, when libcurl is about to write the request
     * (CURLOPT_PREREQFUNCTION: the connection is up or reused), with the
     * submit's ud, from inside the HTTP layer: it must not call into it. A
     * transfer that ends before that never calls it. NULL: not wanted. */
    void (*on_wire)(void *ud);
};

enum nh_http_outcome {
    NH_HTTP_OK,        /* a complete HTTP answer arrived (any status) */
    NH_HTTP_NOT_SENT,  /* failed before the request left (DNS, connect, TLS): safe to resend */
    NH_HTTP_TIMEOUT,   /* timed out; see request_sent */
    NH_HTTP_RESET,     /* connection died mid-way; see request_sent */
    NH_HTTP_TOO_BIG,   /* answer larger than max_body: refused */
    NH_HTTP_CANCELLED, /* cancelled or shut down; see request_sent */
    NH_HTTP_ERROR,     /* anything else (bad URL, refused scheme, out of memory) */
};
const char *nh_http_outcome_name(enum nh_http_outcome o);

struct nh_http_resp {
    enum nh_http_outcome outcome;
    bool request_sent; /* true when any request byte may have reached the server */
    int status;        /* HTTP status when outcome == NH_HTTP_OK, else 0 */
    const char *body;  /* NUL-terminated; "" when none. Borrowed: valid during the callback */
    size_t body_len;
    const struct nh_http_header *headers; /* captured headers, borrowed */
    size_t n_headers;
    const char *error; /* curl's message when outcome != OK; borrowed */
    double elapsed_ms;
    /* A certificate was refused: the peer's did not verify (CA, host name),
     * ours or our key could not be used, or the peer answered our
     * certificate with a TLS alert (TLS 1.3 reports that on the first
     * read, as NH_HTTP_RESET). Sending again will not help. */
    bool tls_refused;
    /* The largest piece of the answer libcurl handed over at once: at most
     * NH_HTTP_RECV_BUFFER, the receive buffer each transfer holds. */
    size_t largest_read;
};

/* Borrowed; NULL when not captured or absent. Name matched case-insensitively. */
const char *nh_http_resp_header(const struct nh_http_resp *r, const char *name);

typedef void (*nh_http_done_fn)(void *ud, const struct nh_http_resp *resp);

/* Idle connections the HTTP layer keeps open for reuse (CURLMOPT_MAXCONNECTS). */
#define NH_HTTP_IDLE_CONNECTIONS 64L

struct nh_http_opts {
    const char *ca_file;               /* NULL: system bundle */
    long max_host_connections;         /* 0: libcurl default */
    bool allow_insecure_http_anywhere; /* tests only; never from config */
};

int nh_http_new(uv_loop_t *loop, const struct nh_http_opts *opts, struct nh_http **ret);
/* Copies the request (url, headers, body); the caller may free its copy at
 * once. On success the callback runs exactly once, later, on the loop; on
 * failure (negative errno) it never runs. *ret_xfer (may be NULL) stays valid
 * until the callback starts. */
int nh_http_submit(struct nh_http *h, const struct nh_http_req *req, nh_http_done_fn done, void *ud,
                   struct nh_http_xfer **ret_xfer);
/* The callback runs (later, on the loop) with NH_HTTP_CANCELLED. */
void nh_http_cancel(struct nh_http_xfer *x);
size_t nh_http_in_flight(const struct nh_http *h);
/* true once nh_http_close has started (submissions fail with -ESHUTDOWN). */
bool nh_http_is_closing(const struct nh_http *h);
/* Cancels everything in flight (callbacks run with NH_HTTP_CANCELLED before
 * this returns), cleans up the multi handle and closes the uv handles; the
 * memory is released from the close callbacks, so run the loop afterwards. */
void nh_http_close(struct nh_http *h);

/* true for 127.0.0.0/8, ::1 and "localhost" (case-insensitive). */
bool nh_http_host_is_loopback(const char *host);
/* Checks scheme and host of a URL: https anywhere, http only to loopback.
 * 0 or -EINVAL with a reason in err. */
int nh_http_check_url(const char *url, char *err, size_t errlen);

#endif
