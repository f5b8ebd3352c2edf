/* model.h - plain data shared by providers, planner, executor and journal.
 * No I/O, no libraries. Strings are owned by the struct that holds them
 * unless marked "borrowed"; every container has a _free/_clear function.
 * Fields may be added; do not rename existing ones. */
#ifndef NH_MODEL_H
#define NH_MODEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---------- enum tables ----------
 *
 * Each enum below is one table X(VALUE, "name"): the enum, its name
 * function and its from-name function are generated from it (model.c), and
 * a compile-time check there makes sure every value has a name. Names are
 * what the journal, etcd, plans and metrics store: never rename one. */
#define NH_ENUM_VALUE(v, name) v,
/* nh_X_name(v): the name, "?" past the table. nh_X_from_name(s, &v): true
 * and v set when s is exactly a name (NULL: false, v untouched). */
#define NH_ENUM_DECLARE(type)                                                                      \
    const char *type##_name(enum type v);                                                          \
    bool type##_from_name(const char *s, enum type *ret)
/* In one .c file: the two functions of NH_ENUM_DECLARE, from the table. */
#define NH_ENUM_NAME_ENTRY(v, name) [v] = name,
#define NH_ENUM_COUNT_ENTRY(v, name) +1
/* Every value of the table has a name: the array the table fills is as long
 * as the table, and the enum is made from the same table. */
#define NH_ENUM_DEFINE(type, LIST)                                                                 \
    static const char *const type##_names[] = {LIST(NH_ENUM_NAME_ENTRY)};                          \
    _Static_assert(sizeof(type##_names) / sizeof(type##_names[0]) ==                               \
                       (0 LIST(NH_ENUM_COUNT_ENTRY)),                                              \
                   #type ": every value needs a name");                                            \
    const char *type##_name(enum type v)                                                           \
    {                                                                                              \
        size_t i = (size_t)v;                                                                      \
        return i < sizeof(type##_names) / sizeof(type##_names[0]) && type##_names[i]               \
                   ? type##_names[i]                                                               \
                   : "?";                                                                          \
    }                                                                                              \
    bool type##_from_name(const char *s, enum type *ret)                                           \
    {                                                                                              \
        size_t i_ =                                                                                \
            nh_enum_index(type##_names, sizeof(type##_names) / sizeof(type##_names[0]), s);        \
        if (i_ == SIZE_MAX)                                                                        \
            return false;                                                                          \
        *ret = (enum type)i_;                                                                      \
        return true;                                                                               \
    }
/* The index of s in names, SIZE_MAX when absent (or s NULL). */
size_t nh_enum_index(const char *const *names, size_t n, const char *s);

/* ---------- observed state ---------- */

#define NH_NODE_HEALTHS(X)                                                                         \
    X(NH_NODE_READY, "ready") /* serving: ACK running+Ready, CCE Active, MA Available */           \
    X(NH_NODE_UNHEALTHY,                                                                           \
      "unhealthy") /* ACK failed/NotReady/Unknown/Offline, CCE Abnormal/Error, MA Abnormal */      \
    X(NH_NODE_PENDING, "pending")   /* being created or starting */                                \
    X(NH_NODE_REMOVING, "removing") /* being removed: never chosen again */
enum nh_node_health { NH_NODE_HEALTHS(NH_ENUM_VALUE) };
NH_ENUM_DECLARE(nh_node_health);

struct nh_label {
    char *key;
    char *value;
};

struct nh_node {
    char *id;      /* ACK instance_id, CCE metadata.uid, ModelArts node name */
    char *name;    /* ACK node_name (DeleteClusterNodes takes names), CCE metadata.name */
    char *pool_id; /* pool membership (ACK nodepool_id, CCE nodepoolID); NULL: none */
    enum nh_node_health health;
    int64_t created; /* unix seconds; 0 = unknown */
    bool worker;     /* false for ACK Master nodes: never a victim */
    bool failed;     /* the cloud says the node failed (ACK state failed, CCE phase Error):
                      * it will not become ready by itself; with health UNHEALTHY */
    /* Billed yearly/monthly (ACK instance_charge_type PrePaid, CCE
     * spec.billingMode non-zero, a ModelArts node pool's
     * os.modelarts/billing.mode 1): the cloud neither releases nor deletes
     * its server. */
    bool subscription;
    /* Kubernetes labels of the node, as read from the cluster's own API
     * (never the cloud's key/values: CCE metadata.labels are CCE's own).
     * Empty without Kubernetes access. */
    struct nh_label *labels;
    size_t n_labels;
    /* With Kubernetes access, for candidate victims only (pods are not read
     * for the whole cluster): the pods that would have to move
     * (nh_kube_pod_counts). kube_pods_known false: not read. */
    bool kube_pods_known;
    int kube_pods;
    /* What matches the node to its Kubernetes node (nh_kube_match_nodes):
     * the cloud's server id (ACK instance_id, CCE status.serverId) and VPC
     * address (ACK ip_address[0], CCE status.privateIP); NULL unknown. */
    char *server_id;
    char *private_ip;
    /* With Kubernetes access: why the node must not be chosen now (no or
     * two matching Kubernetes nodes, a protection annotation, a pod that
     * blocks its drain), shown in the plan; NULL: nothing holds it. */
    char *kube_hold;
};

#define NH_OBS_BLOCKED_MAX 200

struct nh_obs_pool {
    char *id; /* ACK nodepool_id, CCE metadata.uid, ModelArts name */
    char *name;
    char *flavor; /* ModelArts spec.resources.flavor */
    int desired;  /* the cloud's desired size (ACK desired_size, CCE initialNodeCount, MA count) */
    int current;  /* existing nodes, excluding those being deleted */
    int ready;    /* healthy nodes */
    int unhealthy;
    int creating;
    int deleting;
    int max_count;      /* ModelArts maxCount; 0 elsewhere */
    bool autoscaling;   /* the cloud's own autoscaler is on */
    bool being_deleted; /* the pool itself is being deleted */
    bool is_default;    /* CCE DefaultPool */
    bool subscription;  /* ModelArts node pool billed yearly/monthly: not deleted */
    /* The cloud says the pool cannot grow now (CCE conditions Scalable=False,
     * QuotaInsufficient, ResourceInsufficient, UnexpectedError, Error), or
     * cannot change at all (locked: LockedByOrder=True): the reason, as the
     * cloud gave it (at most NH_OBS_BLOCKED_MAX - 1 bytes); owned, NULL when
     * nothing blocks (a pointer, not an array: 10,000 pools carried 2 MB of
     * empty strings, issue #21). */
    char *blocked;
    bool locked;
};

/* Whether a cluster accepts changes now (ACK DescribeClusterDetail state,
 * CCE ShowCluster status.phase). Read only before a mutation would be sent. */
#define NH_CLUSTER_STATES(X)                                                                       \
    X(NH_CLUSTER_UNKNOWN, "unknown") /* not read (the default of every observation) */             \
    X(NH_CLUSTER_ACCEPTS, "accepts") /* changes are accepted */                                    \
    X(NH_CLUSTER_BUSY, "busy")       /* busy with an operation of its own: wait */                 \
    X(NH_CLUSTER_REFUSES, "refuses") /* in a state that accepts no change (failed, frozen, ...) */
enum nh_cluster_state { NH_CLUSTER_STATES(NH_ENUM_VALUE) };
NH_ENUM_DECLARE(nh_cluster_state);

struct nh_observed {
    bool complete; /* false: never remove anything on this observation */
    char why[256]; /* when incomplete: what was missing */
    int64_t at_ms; /* loop time of the observation */
    enum nh_cluster_state cluster_state;
    char cluster_phase[64]; /* the cloud's own word for it ("running", "Upgrading") */
    /* The cluster's Kubernetes API was read and matched to the cloud's
     * nodes on this observation. A cluster with Kubernetes access
     * (kube_access) is planned only on an observation that has it. */
    bool kube_read;
    /* Only the pools' counts were read (ModelArts ListNodePools alone): no
     * node is listed. Kinds that count from the pool (NH_CAP_COUNTS_FROM_POOL)
     * can scale out on it; the planner never plans a removal on it
     * (nh_plan_removal_possible says when the nodes must be listed). */
    bool counts_only;
    struct nh_node *nodes;
    size_t n_nodes;
    struct nh_obs_pool *pools;
    size_t n_pools;
};

void nh_node_clear(struct nh_node *n);
void nh_obs_pool_clear(struct nh_obs_pool *p);
void nh_observed_clear(struct nh_observed *o); /* frees contents, zeroes */
/* Deep copy; 0 or -ENOMEM. */
int nh_observed_copy(struct nh_observed *dst, const struct nh_observed *src);
/* Helpers for builders: append a zeroed element and return it (NULL on ENOMEM). */
struct nh_node *nh_observed_add_node(struct nh_observed *o);
struct nh_obs_pool *nh_observed_add_pool(struct nh_observed *o);
const struct nh_obs_pool *nh_observed_pool(const struct nh_observed *o, const char *id);
const char *nh_node_label(const struct nh_node *n, const char *key);
/* For builders: strdup that keeps NULL as NULL and clears *ok on failure
 * (so a row of copies is checked once). Owned by the caller. */
char *nh_model_dup(const char *s, bool *ok);

/* ---------- actions ---------- */

#define NH_ACTION_KINDS(X)                                                                         \
    X(NH_ACT_SCALE_CLUSTER,                                                                        \
      "scale-cluster") /* ACK seed ScaleCluster: set worker total (scale-out only from plan) */    \
    X(NH_ACT_SCALE_POOL, "scale-pool") /* set a pool's size absolutely (scale-out, or MA count) */ \
    X(NH_ACT_REMOVE_NODES,                                                                         \
      "remove-nodes") /* remove named victims (cluster workers or pool nodes) */                   \
    X(NH_ACT_DELETE_POOL, "delete-pool") /* delete a whole pool (prune) */
enum nh_action_kind { NH_ACTION_KINDS(NH_ENUM_VALUE) };
NH_ENUM_DECLARE(nh_action_kind);

/* Which rule produced (or limited) an action: shown by `nodeherd plan`,
 * recorded in the journal and the audit trail. */
#define NH_RULES(X)                                                                                \
    X(NH_RULE_DECLARED, "declared")         /* workers/nodes differ from the declaration */        \
    X(NH_RULE_REMOVE_LIST, "remove-list")   /* the node is in remove: */                           \
    X(NH_RULE_UNHEALTHY, "unhealthy-first") /* victim chosen first because unhealthy */            \
    X(NH_RULE_MIN, "min")                   /* clamped to min */                                   \
    X(NH_RULE_MAX, "max")                   /* clamped to max */                                   \
    X(NH_RULE_BUDGET, "max_per_cycle")      /* limited by max_per_cycle */                         \
    X(NH_RULE_PROTECT, "protect")           /* protected nodes were skipped */                     \
    X(NH_RULE_PRUNE, "prune")               /* undeclared pool with prune: true */                 \
    X(NH_RULE_SHARE, "max_removal_share")   /* fat-finger guard */                                 \
    X(NH_RULE_INCOMPLETE, "incomplete-observation") /* observation incomplete: fail closed */      \
    X(NH_RULE_BUSY, "in-flight")                    /* an operation is in flight */                \
    X(NH_RULE_UNSUPPORTED, "unsupported")           /* the cloud cannot be asked for this */       \
    X(NH_RULE_EMPTY_DESIRED, "empty-desired-state") /* desired state suddenly declares nothing */  \
    X(NH_RULE_SUBSCRIPTION,                                                                        \
      "subscription")       /* yearly/monthly nodes or pools the cloud does not remove */          \
    X(NH_RULE_STEP, "step") /* the cloud takes at most so many nodes per call */                   \
    X(NH_RULE_CLUSTER_STATE,                                                                       \
      "cluster-state")          /* the cluster accepts no change in its current state */           \
    X(NH_RULE_LABELS, "labels") /* protection by label needs the cluster's Kubernetes API */       \
    X(NH_RULE_SERVERS_KEPT,                                                                        \
      "servers-kept") /* removed nodes' servers keep running (release_instances: false) */         \
    X(NH_RULE_POOL_CONDITION, "pool-condition") /* the cloud reports the pool cannot change now */
enum nh_rule { NH_RULES(NH_ENUM_VALUE) };
NH_ENUM_DECLARE(nh_rule);

struct nh_action {
    enum nh_action_kind kind;
    char *cluster; /* cluster name */
    char *pool_id; /* NULL for cluster-level actions */
    char *pool_name;
    int from;          /* current size as observed (or -1) */
    int target;        /* SCALE_*: absolute target; REMOVE: size after removal */
    char **node_ids;   /* REMOVE_NODES: victims (ids) */
    char **node_names; /* the same victims' names (ACK DeleteClusterNodes) */
    size_t n_nodes;
    bool pool_nodes; /* REMOVE_NODES: the victims are pool members (use pool removal call) */
    enum nh_rule rule;
    char why[256]; /* human sentence: "8 declared, 10 observed; 2 newest" */
};

void nh_action_clear(struct nh_action *a);
int nh_action_copy(struct nh_action *dst, const struct nh_action *src);

/* Something the planner did not do, or did only in part, and why. */
#define NH_NOTE_KINDS(X)                                                                           \
    X(NH_NOTE_LIMITED, "limited") /* an action was made smaller (budget, min, max, protect) */     \
    X(NH_NOTE_BLOCKED, "blocked") /* the cloud cannot be asked (no scale_out, autoscaler on) */    \
    X(NH_NOTE_REFUSED, "refused") /* a safety guard refused (share, incomplete, empty desired) */  \
    X(NH_NOTE_WAITING, "waiting") /* an operation is in flight, or the cluster is busy */          \
    X(NH_NOTE_INFO, "info")       /* worth knowing; nothing was held back by it */
enum nh_note_kind { NH_NOTE_KINDS(NH_ENUM_VALUE) };
NH_ENUM_DECLARE(nh_note_kind);

struct nh_note {
    enum nh_note_kind kind;
    char *cluster;
    char *pool; /* pool name or NULL */
    enum nh_rule rule;
    char msg[256];
    char fix[256]; /* what the operator can do; may be empty */
};

struct nh_plan {
    struct nh_action *actions;
    size_t n_actions;
    struct nh_note *notes;
    size_t n_notes;
};

void nh_plan_clear(struct nh_plan *p);
struct nh_action *nh_plan_add_action(struct nh_plan *p);
struct nh_note *nh_plan_add_note(struct nh_plan *p);

/* ---------- operations in flight ---------- */

/* What the cloud gave back to follow an operation. */
#define NH_JOB_KINDS(X)                                                                            \
    X(NH_JOB_NONE, "none")             /* nothing to follow: verify by re-reading state */         \
    X(NH_JOB_ACK_TASK, "ack-task")     /* DescribeTaskInfo task_id */                              \
    X(NH_JOB_CCE_JOB, "cce-job")       /* ShowJob job id */                                        \
    X(NH_JOB_POOL_SIZE, "pool-size")   /* poll the pool until its counters reach target */         \
    X(NH_JOB_POOL_GONE, "pool-gone")   /* poll until the pool is gone (two reads agree) */         \
    X(NH_JOB_NODES_GONE, "nodes-gone") /* poll the node list until the victims are gone */
enum nh_job_kind { NH_JOB_KINDS(NH_ENUM_VALUE) };
NH_ENUM_DECLARE(nh_job_kind);

#define NH_OP_STATES(X)                                                                            \
    X(NH_OP_INTENT, "intent") /* journalled, not yet (known to be) sent */                         \
    X(NH_OP_SENT, "sent")     /* accepted by the cloud; following its job */                       \
    X(NH_OP_VERIFY, "verify") /* outcome unknown: re-read before anything else */                  \
    X(NH_OP_DONE, "done")                                                                          \
    X(NH_OP_FAILED, "failed")                                                                      \
    X(NH_OP_TIMED_OUT, "timed-out")
enum nh_op_state { NH_OP_STATES(NH_ENUM_VALUE) };
NH_ENUM_DECLARE(nh_op_state);
/* DONE, FAILED, TIMED_OUT: the operation is closed. */
bool nh_op_state_final(enum nh_op_state s);

struct nh_op {
    uint64_t seq; /* journal sequence number */
    struct nh_action action;
    enum nh_op_state state;
    enum nh_job_kind job_kind;
    char *job_id;       /* NULL when the cloud gave none */
    int64_t started_ms; /* wall clock, ms since epoch */
    int64_t updated_ms;
    char *revision; /* config revision that asked for it */
    char *result;   /* final result text (DONE/FAILED) */
    /* A drain record (executor/kube.c, issue #20), not a cloud operation:
     * stored with kind "drain"; action.kind is NH_ACT_REMOVE_NODES (the
     * removal the drain comes before) and action.node_ids/node_names name
     * the drained nodes. Never sent to a cloud, never followed by ops.c. */
    bool drain;
    int64_t deadline_ms; /* drain: wall clock, ms since epoch, its drain_timeout; 0: none */
    char *mark;          /* drain: the nodeherd.io/draining annotation value of its cordon */
};

void nh_op_clear(struct nh_op *op);
int nh_op_copy(struct nh_op *dst, const struct nh_op *src);

#endif
