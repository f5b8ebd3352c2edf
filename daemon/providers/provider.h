/* provider.h - one small vtable that every cloud implements.
 *
 * Providers know URLs, JSON shapes (json-c), signing and the clouds' error
 * bodies; they know nothing of policy (they never decide what to remove).
 * All calls are asynchronous on the daemon's libuv loop and go through the
 * provider's nh_client (rate limit, retries). Every call that returns 0
 * invokes its callback exactly once, later, on the loop (with
 * NH_ERR_CANCELLED when the provider is freed first). A call that returns a
 * negative errno never invokes it.
 *
 * Arguments (cluster config, action, op) are borrowed for the duration of
 * the call only: providers copy what they need before returning. */
#ifndef NH_PROVIDER_H
#define NH_PROVIDER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "config/config.h"
#include "model/model.h"
#include "net/client.h"
#include "net/http.h"

enum nh_err_class {
    NH_ERR_NONE,
    NH_ERR_THROTTLED,
    NH_ERR_AUTH,
    NH_ERR_NOT_FOUND,
    NH_ERR_CONFLICT,        /* busy / in use */
    NH_ERR_INVALID,         /* the request was refused as invalid (incl. quota) */
    NH_ERR_SERVER,          /* 5xx, transport failure, unparseable answer to a read */
    NH_ERR_UNKNOWN_OUTCOME, /* a mutation may or may not have happened: re-read */
    NH_ERR_CANCELLED,       /* shut down before an answer */
    /* A mutation that never left: refused at the gate (the HA fence) or
     * cancelled while queued, before any of its requests was handed to the
     * HTTP layer. Known not to have happened. */
    NH_ERR_NOT_SENT,
    /* A mutation refused while the cluster accepts no change (it is busy
     * with an operation of its own, or in a state that refuses changes),
     * as a read of the cluster's state confirmed: wait, not a failure. The
     * message names the state. */
    NH_ERR_BUSY,
};
const char *nh_err_class_name(enum nh_err_class c);

struct nh_prov_error {
    enum nh_err_class cls;
    int http_status;   /* 0 when no answer */
    char code[64];     /* the cloud's code, e.g. "Throttling.User", "APIGW.0301" */
    char message[256]; /* the cloud's message (never contains secrets we sent) */
    char request_id[80];
    char op[48];             /* operation name, e.g. "DescribeClusterNodes" */
    uint64_t retry_after_ms; /* NH_ERR_THROTTLED: the wait the cloud asked for (0: none) */
};

/* Progress of an operation being followed. */
enum nh_job_state { NH_JOB_RUNNING, NH_JOB_SUCCEEDED, NH_JOB_FAILED };
const char *nh_job_state_name(enum nh_job_state s);

struct nh_job_progress {
    enum nh_job_state state;
    int percent;      /* 0..100, -1 unknown */
    char phase[64];   /* the cloud's own state word ("running", "Initializing", ...) */
    char detail[512]; /* failure reason, failed sub-jobs, counters */
    /* SUCCEEDED on a read of the pool itself (NH_JOB_POOL_SIZE followed by
     * CCE or ModelArts ShowNodePool, ACK DescribeClusterNodePoolDetail):
     * pool_read set and `pool` the counters
     * that read gave (desired, current, ready, unhealthy, creating,
     * deleting, max_count, being_deleted, blocked, locked; its strings are
     * NULL), borrowed for the callback. The executor may conclude from them
     * that the cluster converged without re-listing it (executor/cycle.c,
     * ex__cl_merge_pool_read). false for every other answer, and for a job
     * read that carries no counts (ACK DescribeTaskInfo, CCE ShowJob). */
    bool pool_read;
    struct nh_obs_pool pool;
};

struct nh_provider;

/* obs: on success the callee hands its contents to the callback, which must
 * take them (nh_observed_clear when done); on error obs is NULL. */
typedef void (*nh_observe_fn)(void *ud, const struct nh_prov_error *err, struct nh_observed *obs);
/* On success, what to follow: job kind and id (id may be NULL, e.g. POOL_SIZE). */
typedef void (*nh_mutate_fn)(void *ud, const struct nh_prov_error *err, enum nh_job_kind kind,
                             const char *job_id);
typedef void (*nh_poll_fn)(void *ud, const struct nh_prov_error *err,
                           const struct nh_job_progress *progress);
/* On success, whether the cluster accepts changes and the cloud's word for
 * its state (borrowed for the call). */
typedef void (*nh_state_fn)(void *ud, const struct nh_prov_error *err, enum nh_cluster_state state,
                            const char *phase);

/* Credentials for a cluster's Kubernetes API fetched from the cloud
 * (issue #20). data: the kubeconfig's bytes, a secret, handed to the
 * callback (which takes it and sets it NULL; otherwise it is freed);
 * context: the context to use (CCE "internal"; NULL: current-context);
 * expires: unix seconds, 0 when the cloud did not say (the client
 * certificate's notAfter then decides). */
struct nh_prov_kubeconfig {
    struct nh_secret *data;
    bool json;
    const char *context;
    int64_t expires;
};
typedef void (*nh_kubeconfig_fn)(void *ud, const struct nh_prov_error *err,
                                 struct nh_prov_kubeconfig *kc);
/* How long a kubeconfig fetched from the cloud is asked to last: ACK
 * TemporaryDurationMinutes (15..4320), CCE duration in days (1..1827).
 * nodeherd renews it well before (kube wiring). */
#define NH_KUBECONFIG_ACK_MINUTES 180
#define NH_KUBECONFIG_CCE_DAYS 1

struct nh_provider_ops {
    const char *kind; /* the kind's name (its row in model/kind.c) */
    /* Nodes and pools of one cluster (ModelArts: one resource pool).
     * Incomplete observations are returned with obs->complete = false and
     * obs->why set, or as an error. */
    int (*observe)(struct nh_provider *p, const struct nh_cfg_cluster *c, nh_observe_fn done,
                   void *ud);
    /* The pools' counts only, in fewer reads (obs->counts_only set; no node
     * listed): what a poll needs when nothing can be removed
     * (nh_plan_removal_possible). NULL when the cloud has no cheaper
     * observation (ACK, CCE: the node list is where their counts are). */
    int (*observe_counts)(struct nh_provider *p, const struct nh_cfg_cluster *c, nh_observe_fn done,
                          void *ud);
    /* The node list alone (obs->nodes, no pool: obs->n_pools 0), in fewer
     * reads than observe: what confirming a finished scale of a pool needs
     * where the job's own answer does not show the pool's nodes (ACK
     * DescribeTaskInfo: the task's state and per-resource results only,
     * https://www.alibabacloud.com/help/en/ack/ack-managed-and-ack-dedicated/developer-reference/api-describetaskinfo;
     * CCE ShowNodePool: counts without health,
     * https://support.huaweicloud.com/intl/en-us/api-cce/cce_02_0355.html). The executor merges it
     * into its last full observation (ex__cl_relist_after_job). NULL where the job's read has the
     * counts (ModelArts). */
    int (*observe_nodes)(struct nh_provider *p, const struct nh_cfg_cluster *c, nh_observe_fn done,
                         void *ud);
    /* NULL when the cloud has no such operation (the planner never asks). */
    int (*scale_cluster)(struct nh_provider *p, const struct nh_cfg_cluster *c,
                         const struct nh_action *a, nh_mutate_fn done, void *ud);
    int (*scale_pool)(struct nh_provider *p, const struct nh_cfg_cluster *c,
                      const struct nh_action *a, nh_mutate_fn done, void *ud);
    int (*remove_nodes)(struct nh_provider *p, const struct nh_cfg_cluster *c,
                        const struct nh_action *a, nh_mutate_fn done, void *ud);
    int (*delete_pool)(struct nh_provider *p, const struct nh_cfg_cluster *c,
                       const struct nh_action *a, nh_mutate_fn done, void *ud);
    /* Follows an operation: by its job id, or by re-reading the pool or the
     * node list (op->job_kind says which). */
    int (*poll)(struct nh_provider *p, const struct nh_cfg_cluster *c, const struct nh_op *op,
                nh_poll_fn done, void *ud);
    /* Whether the cluster accepts changes now (kinds with
     * NH_CAP_CLUSTER_STATE; NULL elsewhere). The executor asks it before
     * sending a mutation, never on every poll. */
    int (*cluster_state)(struct nh_provider *p, const struct nh_cfg_cluster *c, nh_state_fn done,
                         void *ud);
    /* Credentials for the cluster's Kubernetes API (kinds with
     * NH_CAP_KUBE_API; NULL elsewhere), for c->kube.network. A read: it
     * changes nothing in the cluster and is not fenced (ACK's is a GET;
     * CCE's POST issues a client certificate, access level Read). */
    int (*kubeconfig)(struct nh_provider *p, const struct nh_cfg_cluster *c, nh_kubeconfig_fn done,
                      void *ud);
    void (*destroy)(struct nh_provider *p); /* frees the private part */
};

/* Common part; each cloud's struct embeds this first. */
struct nh_provider {
    const struct nh_provider_ops *ops;
    char *name; /* config name */
    enum nh_provider_kind kind;
    char *endpoint; /* scheme://host[:port], no trailing slash */
    struct nh_client *client;
    uv_loop_t *loop;
    bool auth_stopped; /* Huawei: a signature failure stops all calls until reload */
    char auth_reason[256];
};

struct nh_provider_env {
    uv_loop_t *loop;
    struct nh_http *http;
    nh_client_observer_fn observer; /* metrics; may be NULL */
    void *observer_ud;
    /* HA: the fence, asked by the client before each attempt of a mutating
     * request is handed to the HTTP layer (net/client.h's gate); NULL: none. */
    nh_client_gate_fn gate;
    void *gate_ud;
};

/* Creates the provider for one config entry (copies everything it needs,
 * including the credentials). 0 or -errno with a message in err. */
int nh_provider_new(const struct nh_cfg_provider *cfg, const struct nh_provider_env *env,
                    struct nh_provider **ret, char *err, size_t errlen);
/* Cancels everything in flight (callbacks run with NH_ERR_CANCELLED), frees. NULL ok. */
void nh_provider_free(struct nh_provider *p);

/* The endpoint for a provider: cfg->endpoint, or derived from the region
 * (https://cs.{region}.aliyuncs.com, https://cce.{region}.myhuaweicloud.com,
 * https://modelarts.{region}.myhuaweicloud.com, with the SDKs' exceptions). */
char *nh_provider_endpoint(const struct nh_cfg_provider *cfg);

/* Tests: replaces the wall clock used for request dates (X-Sdk-Date,
 * x-acs-date, Date); NULL restores time(). Process-wide. */
void nh_provider_set_wall_clock(int64_t (*fn)(void));

#endif
