/* internal.h - what the three clouds' ops.c share: the private provider, the
 * operation context (one per vtable call, embedding the nh_call of its
 * current request), and the helpers that run requests and deliver results.
 *
 * An operation runs its requests one after another (pages, then pools; a
 * read before a PATCH; one DeleteNode per node). Each request's answer goes
 * to the operation's `step` function, which either submits the next request
 * or finishes the operation. Results reach the caller exactly once, never
 * from inside the vtable call itself (a result that is ready at once is
 * delivered from a zero timer). */
#ifndef NH_PROVIDERS_INTERNAL_H
#define NH_PROVIDERS_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/json.h"
#include "util/text.h"
#include "providers/parse.h"
#include "providers/provider.h"
#include "sign/sign.h"

#define NH_POP_MAX_QUERY 6
#define NH_POP_MAX_HEADERS 14

struct nh_prov;
struct nh_pop;

/* Called with the answer of the operation's current request: err is NULL on
 * success (2xx), else the classified error (class, code, message). */
typedef void (*nh_pop_step_fn)(struct nh_pop *op, const struct nh_http_resp *resp,
                               const struct nh_prov_error *err);

enum nh_pop_kind { NH_POP_OBSERVE, NH_POP_MUTATE, NH_POP_POLL };

struct nh_pop {
    struct nh_call call;        /* the current request; call.ud = this */
    struct nh_prov *p;          /* NULL once orphaned by nh_provider_free */
    struct nh_pop *next, *prev; /* p->live */
    struct nh_pop *dnext;       /* p->deferred */
    enum nh_pop_kind kind;
    nh_observe_fn observe_cb;
    nh_mutate_fn mutate_cb;
    nh_poll_fn poll_cb;
    void *ud;
    bool in_flight; /* the client holds call */
    bool in_entry;  /* inside the vtable call that started it */
    bool delivered; /* the caller has its result */

    /* current request */
    char op_name[48];
    const char *method;                   /* static */
    char *path;                           /* wire path, owned */
    struct nh_kv query[NH_POP_MAX_QUERY]; /* keys static, values owned */
    size_t n_query;
    char *body; /* owned; cleansed on free */
    size_t body_len;
    const char *content_type; /* Huawei override, static; NULL: default */
    nh_pop_step_fn step;
    void (*then)(struct nh_pop *op); /* after a multi-request read (ACK node pages) */
    unsigned nonce_retries;          /* ACK SignatureNonceUsed: re-signed once */
    /* per-attempt storage */
    char *url;
    char *hdr[NH_POP_MAX_HEADERS];
    const char *hdr_ptrs[NH_POP_MAX_HEADERS + 1];
    const char *capture[4];

    /* result */
    struct nh_prov_error err;
    bool failed;
    struct nh_observed obs;
    enum nh_job_kind job_kind;
    char *job_id;
    struct nh_job_progress progress;

    /* arguments and progress, copied at the start */
    char *cluster_id; /* ACK/CCE cluster id; ModelArts resource pool */
    char *pool_id;    /* node pool id (ModelArts: name) */
    char *job_ref;    /* job to follow (poll) */
    char **node_ids;
    char **node_names;
    size_t n_nodes;
    size_t idx; /* next node (CCE DeleteNode), next page (ACK) */
    size_t done_count;
    int target;
    enum nh_action_kind act_kind;
    enum nh_job_kind poll_kind;
    bool release, drain;
    int64_t total;   /* ACK: total_count of page 1 */
    int reads;       /* ModelArts POOL_GONE: consecutive not-found reads */
    bool ct_retried; /* ModelArts PATCH content type retried */
    char *flavor;
    char *cfg_flavor; /* ModelArts: configured flavor (fallback) */
    /* ACK: labels DescribeClusterNodes does not return, learnt through its
     * nodeLabels filter (the cluster's protect labels). */
    char **lab_keys, **lab_vals;
    size_t n_labs, lab_idx, lab_page;
    struct nh_observed aux;
};

/* Cloud-specific behaviour behind the shared request machinery. */
struct nh_cloud {
    /* Adds the signed headers for one attempt (url already set). */
    int (*sign)(struct nh_prov *p, struct nh_pop *op, const char *query, struct nh_http_req *req);
    /* Classifies a complete non-2xx answer into e and returns the verdict
     * for the client; may stop the provider (Huawei AK lock). */
    enum nh_verdict (*classify)(struct nh_prov *p, struct nh_pop *op,
                                const struct nh_http_resp *resp, struct nh_prov_error *e,
                                uint64_t *hint_ms);
    /* The canonical query string (also the wire query). */
    char *(*query)(const struct nh_kv *q, size_t n);
};

struct nh_defer; /* zero timer, outlives the provider until closed */

struct nh_prov {
    struct nh_provider pub;
    const struct nh_cloud *cloud;
    char *host;        /* Host header value: host[:port] */
    char *ak;          /* AccessKey id / Huawei AK */
    unsigned char *sk; /* secret bytes (cleansed on free) */
    size_t sk_len;
    char *token; /* Huawei IAM token (cleansed on free) */
    char *project_id;
    char *region;
    enum nh_ack_signing signing;
    uint64_t timeout_ms, connect_timeout_ms;
    struct nh_pop *live;
    struct nh_pop *deferred, *deferred_tail;
    struct nh_defer *defer;
    uint64_t locked_until_ms; /* Huawei AK lock (uv_now) */
    bool ma_json_ctype;       /* ModelArts PATCH: use the SDK's content type */
    bool closing;
};

/* The wall clock used for signing dates (replaceable for tests). */
int64_t nh_prov_wall_now(void);

/* Appends "Name: value" to op's header lines at *n (advanced). 0, -E2BIG
 * past NH_POP_MAX_HEADERS, or -ENOMEM. */
int nh_pop_add_header(struct nh_pop *op, size_t *n, const char *name, const char *value);
/* Starts an operation of the given kind (linked into p->live, in_entry set). */
struct nh_pop *nh_pop_new(struct nh_prov *p, enum nh_pop_kind kind, void *ud);
/* Ends the vtable call: 0 on success; on r < 0 the operation is dropped
 * without a callback and r returned. */
int nh_pop_started(struct nh_pop *op, int r);

/* Sets the next request. path is formatted; query values are copied; body
 * is taken (owned by op from now on, also on error). 0 or -errno. */
int nh_pop_request(struct nh_pop *op, const char *op_name, const char *method, bool mutating,
                   char *body, nh_pop_step_fn step, const char *path_fmt, ...)
    __attribute__((format(printf, 7, 8)));
int nh_pop_add_query(struct nh_pop *op, const char *key, const char *value);
/* Submits the request set by nh_pop_request. 0 or -errno (then nothing runs). */
int nh_pop_submit(struct nh_pop *op);
/* From a step: submits, and fails the operation if that is refused. */
void nh_pop_next(struct nh_pop *op);

/* Results. Each ends the operation (delivery is deferred when needed). */
void nh_pop_fail(struct nh_pop *op, const struct nh_prov_error *e);
void nh_pop_failf(struct nh_pop *op, enum nh_err_class cls, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void nh_pop_observed(struct nh_pop *op); /* op->obs is handed over */
void nh_pop_mutated(struct nh_pop *op, enum nh_job_kind kind, char *job_id /* taken */);
void nh_pop_progress(struct nh_pop *op, const struct nh_job_progress *pr);

/* Copies the action's node lists into op. 0 or -ENOMEM/-EINVAL. */
int nh_pop_copy_nodes(struct nh_pop *op, const struct nh_action *a, bool need_names);
/* true when id (or name) is among op's victims. */
bool nh_pop_is_victim(const struct nh_pop *op, const struct nh_node *n);

/* Provider constructors per cloud (fill ops and cloud). */
extern const struct nh_provider_ops nh_ack_ops;
extern const struct nh_provider_ops nh_cce_ops;
extern const struct nh_provider_ops nh_ma_ops;
extern const struct nh_cloud nh_ack_cloud;
extern const struct nh_cloud nh_huawei_cloud;

/* Huawei: refuses at once (without a request) while the key is stopped or
 * locked; fills e. true when refused. */
bool nh_huawei_refuse(struct nh_prov *p, struct nh_prov_error *e, const char *op_name);
/* The same for an operation: when refused, op fails (later, on the loop)
 * without any request and true is returned. */
bool nh_huawei_refused(struct nh_pop *op, const char *op_name);

#endif
