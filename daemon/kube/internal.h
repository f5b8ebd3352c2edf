/* internal.h - shared by the files of the kube module only (kubeconfig.c,
 * parse.c, kube.c). Not an interface: other modules use kube.h,
 * kubeconfig.h, parse.h and model/kube.h. */
#ifndef NH_KUBE_INTERNAL_H
#define NH_KUBE_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <json-c/json.h>

#include "config/secret.h"
#include "kube/kubeconfig.h"

#define NH_KUBE_JSON_DEPTH 64 /* managedFields nest about 20 deep */

struct nh_kubeconfig {
    char *context, *cluster, *user;
    char *server;      /* scheme://host[:port][/path], no trailing '/' */
    bool https;        /* false only for http:// to loopback (tests) */
    unsigned char *ca; /* PEM (public), NULL for http */
    size_t ca_len;
    unsigned char *cert; /* PEM (public), NULL without a client certificate */
    size_t cert_len;
    struct nh_secret *key;   /* PEM, with cert */
    struct nh_secret *token; /* bearer token, NULL without one */
    int64_t not_after;
    char *describe;
};

/* An error message buffer: the first message wins. */
struct nh_kerr {
    char *buf;
    size_t len;
};
/* Writes the message (when none is there yet); returns -EINVAL. */
int nh_kerr_set(struct nh_kerr *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Strict JSON: the whole of body is one value (an object when want_object),
 * depth <= NH_KUBE_JSON_DEPTH, valid UTF-8, nothing but blanks after it.
 * NULL with a message in e otherwise. The caller puts the result. */
struct json_object *nh_kj_parse(const char *body, size_t len, bool want_object, struct nh_kerr *e);
/* Borrowed member; NULL when absent or JSON null. */
struct json_object *nh_kj_get(struct json_object *o, const char *key);
/* "a string", "an object", ... for messages. */
const char *nh_kj_type(struct json_object *v);

/* Wipes every string of a tree in place (before json_object_put). */
void nh_kj_wipe(struct json_object *o);

#endif
