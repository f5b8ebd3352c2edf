/* internal.h - what the clouds' directories share: the step table, the
 * operation context (one per vtable call), the private provider, and the
 * cloud descriptor that plugs a cloud into provider.c.
 *
 * A cloud operation is a row of data, `struct nh_step`: its name, method,
 * path template, whether it mutates, how its answer is read (which pure
 * parser of parse.h) and what to do with what was read (`then`). An
 * operation (observe, a mutation, a poll) runs steps one after another;
 * provider.c owns, once each: sending a step, failing on a transport or
 * cloud error, the unreadable-answer failure (UNKNOWN_OUTCOME exactly when
 * the step mutates), one call per node, "gone only when two reads agree",
 * the error-class -> verdict mapping, progress helpers, and delivery of the
 * result exactly once, never from inside the vtable call (a result that is
 * ready at once is delivered from a zero timer).
 *
 * A cloud plugs in with a `struct nh_cloud`: its vtable, its gateway
 * (signing and error answers through its error table), its endpoint rule,
 * and the sizes of its own provider and operation structs, which embed
 * struct nh_prov and struct nh_pop first. How to add an operation:
 * providers/README.md. */
#ifndef NH_PROVIDERS_INTERNAL_H
#define NH_PROVIDERS_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "providers/parse.h"
#include "providers/provider.h"
#include "sign/sign.h"
#include "util/json.h"
#include "util/text.h"

#define NH_POP_MAX_QUERY 6
#define NH_POP_MAX_HEADERS 14

struct nh_prov;
struct nh_pop;

/* ---------- steps ---------- */

/* How a step's 2xx answer is read, and into which field of the operation. */
enum nh_read {
    NH_READ_NOTHING,  /* the status is the answer; the body is not read */
    NH_READ_OBSERVED, /* nodes or pools appended to op->obs */
    NH_READ_POOL,     /* one node pool into op->pool */
    NH_READ_ID,       /* a job or task id into op->id (NULL when the answer has none) */
    NH_READ_PROGRESS, /* a job's progress into op->progress */
    NH_READ_STATE,    /* whether the cluster accepts changes into op->cluster_state, _phase */
    NH_READ_CUSTOM,   /* the cloud's own reader (into its own operation struct) */
};

/* The pure parsers' shapes (parse.h). Each returns 0, or a negative errno
 * with a message in err. */
typedef int (*nh_parse_observed_fn)(const char *body, size_t len, struct nh_observed *obs,
                                    char *err, size_t errlen);
typedef int (*nh_parse_pool_fn)(const char *body, size_t len, struct nh_pool_status *out, char *err,
                                size_t errlen);
typedef int (*nh_parse_id_fn)(const char *body, size_t len, char **ret_id, char *err,
                              size_t errlen);
typedef int (*nh_parse_progress_fn)(const char *body, size_t len, struct nh_job_progress *out,
                                    char *err, size_t errlen);
typedef int (*nh_parse_state_fn)(const char *body, size_t len, enum nh_cluster_state *ret_state,
                                 char *phase, size_t phaselen, char *err, size_t errlen);
typedef int (*nh_parse_custom_fn)(struct nh_pop *op, const char *body, size_t len, char *err,
                                  size_t errlen);

/* One cloud operation. Rows are static const data in the cloud's ops.c. */
struct nh_step {
    const char *name;   /* the cloud's operation name ("DescribeClusterNodes"): errors,
                           metrics, ACK's x-acs-action */
    const char *method; /* "GET", "POST", "PUT", "PATCH", "DELETE" */
    bool mutating;      /* changes the cloud (set by NH_POST and the like): sent on a fresh
                           connection; an unknown or unreadable outcome is UNKNOWN_OUTCOME,
                           never re-sent */
    /* Path template. Variables (each must be safe in a URL path):
     * {project} {cluster} {pool} {job} {node} (the node at op->idx). */
    const char *path;
    /* Fixed query parameters ({NULL} ends the list). */
    struct {
        const char *key, *value;
    } query[2];
    /* Names the request's object in error messages ("ShowJob {job}: ...");
     * same variables as path. NULL: the name alone. */
    const char *subject;
    /* Adds what depends on the operation: a body (nh_pop_set_body), query
     * values (nh_pop_add_query), a content type, a subject. 0 or -errno.
     * NULL: nothing to add. */
    int (*prepare)(struct nh_pop *op);
    enum nh_read read;
    union {
        nh_parse_observed_fn observed;
        nh_parse_pool_fn pool;
        nh_parse_id_fn id;
        nh_parse_progress_fn progress;
        nh_parse_state_fn state;
        nh_parse_custom_fn custom;
    } parse;
    /* With the answer read: sends the next step (nh_pop_next) or ends the
     * operation (nh_pop_observed, nh_pop_mutated, nh_pop_progress, or one
     * of the nh_then_* below). */
    void (*then)(struct nh_pop *op);
    /* Optional: an error answer the step handles itself (a fallback, a
     * retry with other settings). true: handled (it sent a step or ended
     * the operation); false: the operation fails with err. */
    bool (*on_error)(struct nh_pop *op, const struct nh_prov_error *err);
    /* One call per node (op->node_ids, {node} in the path), one after the
     * other; `then` runs after the last. A failure after some succeeded is
     * UNKNOWN_OUTCOME (some nodes may be gone: re-read). */
    bool each_node;
    /* Non-NULL: NOT_FOUND on two reads in a row means this object ("node
     * pool") is gone: the operation ends with progress SUCCEEDED. A single
     * NOT_FOUND reads again. */
    const char *gone_when_absent;
    /* For nh_then_mutated: what to follow when the answer names a job
     * (NH_JOB_NONE: the id is checked, not followed), and otherwise. */
    enum nh_job_kind follow_id, follow_else;
    /* The answer carries a credential (nh_http_req.secret_answer). */
    bool secret_answer;
};

/* A row's request line, the way the API pages write it: a GET reads, any
 * other method mutates. */
#define NH_GET(op_, path_) .name = (op_), .method = "GET", .mutating = false, .path = (path_)
#define NH_POST(op_, path_) .name = (op_), .method = "POST", .mutating = true, .path = (path_)
#define NH_PUT(op_, path_) .name = (op_), .method = "PUT", .mutating = true, .path = (path_)
#define NH_PATCH(op_, path_) .name = (op_), .method = "PATCH", .mutating = true, .path = (path_)
#define NH_DELETE(op_, path_) .name = (op_), .method = "DELETE", .mutating = true, .path = (path_)
/* How a row's answer is read (enum nh_read with its parser). */
#define NH_READS_OBSERVED(fn) .read = NH_READ_OBSERVED, .parse.observed = (fn)
#define NH_READS_POOL(fn) .read = NH_READ_POOL, .parse.pool = (fn)
#define NH_READS_ID(fn) .read = NH_READ_ID, .parse.id = (fn)
#define NH_READS_PROGRESS(fn) .read = NH_READ_PROGRESS, .parse.progress = (fn)
#define NH_READS_STATE(fn) .read = NH_READ_STATE, .parse.state = (fn)
#define NH_READS_CUSTOM(fn) .read = NH_READ_CUSTOM, .parse.custom = (fn)

/* What a mutation's answer leads to (nh_then_mutated): the job it names,
 * followed as id_kind (read with NH_READS_ID), or else else_kind. */
#define NH_FOLLOWS(else_kind) .then = nh_then_mutated, .follow_else = (else_kind)
#define NH_FOLLOWS_JOB(id_kind, else_kind)                                                         \
    .then = nh_then_mutated, .follow_id = (id_kind), .follow_else = (else_kind)

/* ---------- operations ---------- */

enum nh_pop_kind { NH_POP_OBSERVE, NH_POP_MUTATE, NH_POP_POLL, NH_POP_STATE, NH_POP_KUBECONFIG };

/* One vtable call. A cloud's operation struct embeds this first. */
struct nh_pop {
    struct nh_call call; /* the current request; call.ud = this */
    struct nh_prov *p;   /* NULL once orphaned by nh_provider_free */
    const struct nh_cloud *cloud;
    struct nh_pop *next, *prev; /* p->live */
    struct nh_pop *dnext;       /* p->deferred */
    enum nh_pop_kind kind;
    nh_observe_fn observe_cb;
    nh_mutate_fn mutate_cb;
    nh_poll_fn poll_cb;
    nh_state_fn state_cb;
    nh_kubeconfig_fn kubeconfig_cb;
    void *ud;
    bool in_flight; /* the client holds call */
    /* A mutating request of this operation was built to be handed to the
     * HTTP layer (it may have left): a cancellation is no longer "not sent". */
    bool handed_over;
    bool in_entry;  /* inside the vtable call that started it */
    bool delivered; /* the caller has its result */

    /* the current request, built from step */
    const struct nh_step *step;
    char *path;                           /* wire path, owned */
    struct nh_kv query[NH_POP_MAX_QUERY]; /* keys static, values owned */
    size_t n_query;
    char *body; /* owned; cleansed on free */
    size_t body_len;
    const char *content_type; /* a cloud's override, static; NULL: its default */
    char subject[128];        /* names the request's object in messages */
    unsigned resends;         /* re-sent after a refusal that allows it (error table) */
    /* per-attempt storage */
    char *url;
    char *hdr[NH_POP_MAX_HEADERS];
    const char *hdr_ptrs[NH_POP_MAX_HEADERS + 1];
    const char *capture[4];

    /* the current answer, as the step's parser read it */
    struct nh_pool_status pool;          /* NH_READ_POOL (owned) */
    char *id;                            /* NH_READ_ID (owned) */
    unsigned absent_reads;               /* consecutive NOT_FOUND answers (gone_when_absent) */
    enum nh_cluster_state cluster_state; /* NH_READ_STATE */
    char cluster_phase[64];
    /* A mutation the cloud refused, kept while the cluster's state is read
     * (the cloud's refusal_check row): busy -> NH_ERR_BUSY, else this. */
    struct nh_prov_error refusal;
    bool refusal_checked;

    /* result */
    struct nh_prov_error err;
    bool failed;
    struct nh_observed obs; /* observe: the observation; polls: a node list read */
    enum nh_job_kind job_kind;
    char *job_id;
    struct nh_job_progress progress;

    /* arguments, copied at the start (nh_pop_*_start, nh_pop_copy_nodes, nh_pop_poll_args) */
    char *cluster_id; /* ACK/CCE cluster id; ModelArts resource pool */
    char *pool_id;    /* node pool id (ModelArts: name) */
    char *job_ref;    /* job to follow (poll) */
    char **node_ids;
    char **node_names;
    size_t n_nodes;
    size_t idx;        /* the node of an each_node step */
    size_t done_count; /* nodes an each_node step has done */
    int target;
    enum nh_action_kind act_kind;
    enum nh_job_kind poll_kind;
    bool release, drain; /* scale_in.release_instances, drain */
    bool kube_public;    /* kubernetes.network: public */
    /* NH_POP_KUBECONFIG: what the step's reader found (kube_cred.data owned) */
    struct nh_prov_kubeconfig kube_cred;
    char *kept_body; /* nh_pop_keep_body (cleansed on free) */
};

/* ---------- clouds ---------- */

/* How a cloud's API gateway is spoken to: signing and error answers.
 * CCE and ModelArts share one (huawei/gateway.c). */
struct nh_gateway {
    /* Adds the signed headers for one attempt (url already set). */
    int (*sign)(struct nh_prov *p, struct nh_pop *op, struct nh_http_req *req);
    /* The canonical query string (also the wire query). */
    char *(*query)(const struct nh_kv *q, size_t n);
    /* Reads a complete non-2xx answer into e (class, code, message with
     * advice, request id) and *hint_ms; returns the error-table row that
     * decided (parse.h). */
    const struct nh_err_rule *(*read_error)(const struct nh_http_resp *resp, bool mutating,
                                            struct nh_prov_error *e, uint64_t *hint_ms);
};

/* How a cloud's endpoint follows from a region: a pattern, and the
 * regions the SDKs' region tables send elsewhere. */
struct nh_endpoint {
    const char *pattern; /* with {region}: "https://cce.{region}.myhuaweicloud.com" */
    struct {
        const char *region, *url;
    } except[4];
};

/* What a cloud plugs into provider.c (registered by kind there). */
struct nh_cloud {
    const struct nh_provider_ops *ops;
    const struct nh_gateway *gateway;
    const struct nh_endpoint *endpoint;
    struct {
        size_t prov; /* the cloud's provider struct (struct nh_prov first) */
        size_t op;   /* the cloud's operation struct (struct nh_pop first) */
    } sizes;
    /* Optional: the row that reads whether the cluster accepts changes,
     * sent when a mutating step is refused as INVALID or CONFLICT (its
     * then/on_error: nh_then_refusal_checked, nh_refusal_unchecked). A
     * busy cluster turns the refusal into NH_ERR_BUSY: wait, not fail. */
    const struct nh_step *refusal_check;
    struct {
        /* Optional: reads the cloud's own settings from the config. 0 or
         * -errno with a message in err. */
        int (*init)(struct nh_prov *p, const struct nh_cfg_provider *cfg, char *err, size_t errlen);
        /* Optional: frees the cloud's part of an operation. */
        void (*op_free)(struct nh_pop *op);
    } hooks;
};

extern const struct nh_gateway nh_ack_gateway;
extern const struct nh_gateway nh_huawei_gateway;
extern const struct nh_cloud nh_ack_cloud;
extern const struct nh_cloud nh_cce_cloud;
extern const struct nh_cloud nh_ma_cloud;

/* The common part of every provider; a cloud's provider struct embeds it
 * first (cloud->prov_size). */
struct nh_prov {
    struct nh_provider pub;
    const struct nh_cloud *cloud;
    char *host;        /* Host header value: host[:port] */
    char *ak;          /* access key id (NULL with a token) */
    unsigned char *sk; /* secret bytes (cleansed on free) */
    size_t sk_len;
    char *token;      /* bearer token instead of ak/sk (cleansed on free) */
    char *project_id; /* NH_CAP_PROJECT_SCOPED kinds */
    char *region;
    uint64_t timeout_ms, connect_timeout_ms;
    struct nh_pop *live;
    struct nh_pop *deferred, *deferred_tail;
    struct nh_defer *defer;
    /* An error-table row held every call (a locked key): no request until
     * then (uv_now), hold_reason says why. */
    uint64_t hold_until_ms;
    char hold_reason[160];
    bool closing;
};

/* The wall clock used for signing dates (replaceable for tests). */
int64_t nh_prov_wall_now(void);

/* ---------- starting an operation (from a vtable call) ---------- */

/* The start of every vtable call. What every call needs must be there (the
 * provider, the callback, the action or op, and the cluster: its id, or
 * its resource pool for NH_CAP_POOL_SCOPED kinds, safe in a URL path);
 * then the operation exists, of the cloud's size, with the cluster and
 * (mutations) the action's kind, target and pool (pool_id, else pool_name)
 * copied. Returns it (or NULL) with 0, -EINVAL or -ENOMEM in *r: hand both
 * to nh_pop_begin, which drops a refused operation without a callback. */
struct nh_pop *nh_pop_observe_start(struct nh_provider *pub, const struct nh_cfg_cluster *c,
                                    nh_observe_fn done, void *ud, int *r);
struct nh_pop *nh_pop_mutate_start(struct nh_provider *pub, const struct nh_cfg_cluster *c,
                                   const struct nh_action *a, nh_mutate_fn done, void *ud, int *r);
struct nh_pop *nh_pop_poll_start(struct nh_provider *pub, const struct nh_cfg_cluster *c,
                                 const struct nh_op *o, nh_poll_fn done, void *ud, int *r);
struct nh_pop *nh_pop_state_start(struct nh_provider *pub, const struct nh_cfg_cluster *c,
                                  nh_state_fn done, void *ud, int *r);
/* Also copies kubernetes.network into kube_public. */
struct nh_pop *nh_pop_kubeconfig_start(struct nh_provider *pub, const struct nh_cfg_cluster *c,
                                       nh_kubeconfig_fn done, void *ud, int *r);
/* Copies the action's node lists (ids; names, or ids where names are
 * missing; need_names: names required). 0, -EINVAL or -ENOMEM. */
int nh_pop_copy_nodes(struct nh_pop *op, const struct nh_action *a, bool need_names);
/* Copies what following o needs for o->job_kind: the job id (path-safe),
 * the pool (path-safe), or the victims. 0, -EINVAL or -ENOMEM. */
int nh_pop_poll_args(struct nh_pop *op, const struct nh_op *o);
/* Keeps a body that the vtable call builds from what it only borrows (a
 * secret of the config) for the step whose prepare is nh_pop_take_body.
 * body is taken, also on error; cleansed on free. 0 or -ENOMEM (NULL). */
int nh_pop_keep_body(struct nh_pop *op, char *body);
/* Ends the vtable call. r < 0: the operation is dropped without a callback
 * and r returned (-ENOMEM for op NULL). Else the first step is sent; a
 * provider that holds its calls (stopped key, locked key) fails the
 * operation later, on the loop, without a request. Returns 0, or the
 * error of a step that could not be sent (then no callback). */
int nh_pop_begin(struct nh_pop *op, int r, const struct nh_step *first);

/* ---------- from a step's `then` or `prepare` ---------- */

/* Sends the next step; failing that, fails the operation. */
void nh_pop_next(struct nh_pop *op, const struct nh_step *step);
/* Body of the current request (taken, also on error; cleansed on free).
 * 0, or -ENOMEM when body is NULL (a failed build). */
int nh_pop_set_body(struct nh_pop *op, char *body);
/* A prepare: the body kept by nh_pop_keep_body becomes the request's. */
int nh_pop_take_body(struct nh_pop *op);
/* Adds a query value (copied; the key is static). 0, -E2BIG, -EINVAL
 * (empty value: never sent), -ENOMEM. */
int nh_pop_add_query(struct nh_pop *op, const char *key, const char *value);
/* Appends "Name: value" to op's header lines at *n (advanced). 0, -E2BIG
 * past NH_POP_MAX_HEADERS, or -ENOMEM. For signers. */
int nh_pop_add_header(struct nh_pop *op, size_t *n, const char *name, const char *value);
/* What a signer signs of the current request, with its headers h[n]. */
struct nh_sign_req nh_pop_sign_req(const struct nh_pop *op, const struct nh_kv *h, size_t n);
/* true when the node (id or name) is among op's victims. */
bool nh_pop_is_victim(const struct nh_pop *op, const struct nh_node *n);

/* ---------- results: each ends the operation ---------- */

void nh_pop_fail(struct nh_pop *op, const struct nh_prov_error *e);
void nh_pop_failf(struct nh_pop *op, enum nh_err_class cls, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void nh_pop_observed(struct nh_pop *op); /* op->obs is handed over */
void nh_pop_mutated(struct nh_pop *op, enum nh_job_kind kind, char *job_id /* taken */);
void nh_pop_progress(struct nh_pop *op, const struct nh_job_progress *pr);
/* Progress with percent 100 when SUCCEEDED, else unknown (-1). */
void nh_pop_progress_state(struct nh_pop *op, enum nh_job_state st, const char *phase,
                           const char *detail);

/* Ready-made `then`s. */
void nh_then_observed(struct nh_pop *op);   /* the observation in op->obs */
void nh_then_mutated(struct nh_pop *op);    /* op->id -> step's follow_id, else follow_else */
void nh_then_progress(struct nh_pop *op);   /* the job's progress in op->progress */
void nh_then_state(struct nh_pop *op);      /* the cluster's state in op->cluster_state */
void nh_then_kubeconfig(struct nh_pop *op); /* the credentials in op->kube_cred */
/* A cloud's refusal_check row: the refused mutation (op->refusal) becomes
 * NH_ERR_BUSY when the state read says the cluster accepts no change,
 * else it fails as the cloud answered; a failed read keeps the refusal. */
void nh_then_refusal_checked(struct nh_pop *op);
bool nh_refusal_unchecked(struct nh_pop *op, const struct nh_prov_error *err);
/* The victims are gone from the node list in op->obs (RUNNING while the
 * list is incomplete). */
void nh_then_nodes_gone(struct nh_pop *op);
/* The node pool in op->pool has reached op->target: failed -> FAILED;
 * current == target with nothing creating or deleting -> SUCCEEDED; else
 * RUNNING. `deleting` names the cloud's counter in the detail. */
void nh_pop_pool_size_progress(struct nh_pop *op, const char *deleting);
/* As nh_pop_progress_state, for a step that read the pool (op->pool): a
 * SUCCEEDED answer carries the pool's counters (nh_job_progress.pool_read). */
void nh_pop_pool_read_progress(struct nh_pop *op, enum nh_job_state st, const char *phase,
                               const char *detail);

#endif
