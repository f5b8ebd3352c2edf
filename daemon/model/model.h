/* model.h - plain data shared by providers, planner, executor and journal.
 * No I/O, no libraries. Strings are owned by the struct that holds them
 * unless marked "borrowed"; every container has a _free/_clear function.
 * Fields may be added; do not rename existing ones. */
#ifndef NH_MODEL_H
#define NH_MODEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---------- observed state ---------- */

enum nh_node_health {
    NH_NODE_READY,     /* serving: ACK running+Ready, CCE Active, MA Available */
    NH_NODE_UNHEALTHY, /* ACK failed/NotReady/Unknown/Offline, CCE Abnormal/Error, MA Abnormal */
    NH_NODE_PENDING,   /* being created or starting */
    NH_NODE_REMOVING,  /* being removed: never chosen again */
};
const char *nh_node_health_name(enum nh_node_health h);

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
};

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
     * cloud gave it; empty when nothing blocks. */
    char blocked[200];
    bool locked;
};

/* Whether a cluster accepts changes now (ACK DescribeClusterDetail state,
 * CCE ShowCluster status.phase). Read only before a mutation would be sent. */
enum nh_cluster_state {
    NH_CLUSTER_UNKNOWN, /* not read (the default of every observation) */
    NH_CLUSTER_ACCEPTS, /* changes are accepted */
    NH_CLUSTER_BUSY,    /* busy with an operation of its own: wait */
    NH_CLUSTER_REFUSES, /* in a state that accepts no change (failed, frozen, ...) */
};
const char *nh_cluster_state_name(enum nh_cluster_state s);

struct nh_observed {
    bool complete; /* false: never remove anything on this observation */
    char why[256]; /* when incomplete: what was missing */
    int64_t at_ms; /* loop time of the observation */
    enum nh_cluster_state cluster_state;
    char cluster_phase[64]; /* the cloud's own word for it ("running", "Upgrading") */
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

enum nh_action_kind {
    NH_ACT_SCALE_CLUSTER, /* ACK seed ScaleCluster: set worker total (scale-out only from plan) */
    NH_ACT_SCALE_POOL,    /* set a pool's size absolutely (scale-out, or MA count) */
    NH_ACT_REMOVE_NODES,  /* remove named victims (cluster workers or pool nodes) */
    NH_ACT_DELETE_POOL,   /* delete a whole pool (prune) */
};
const char *nh_action_kind_name(enum nh_action_kind k); /* "scale-cluster", ... */

/* Which rule produced (or limited) an action: shown by `nodeherd plan`,
 * recorded in the journal and the audit trail. */
enum nh_rule {
    NH_RULE_DECLARED,       /* workers/nodes differ from the declaration */
    NH_RULE_REMOVE_LIST,    /* the node is in remove: */
    NH_RULE_UNHEALTHY,      /* victim chosen first because unhealthy */
    NH_RULE_MIN,            /* clamped to min */
    NH_RULE_MAX,            /* clamped to max */
    NH_RULE_BUDGET,         /* limited by max_per_cycle */
    NH_RULE_PROTECT,        /* protected nodes were skipped */
    NH_RULE_PRUNE,          /* undeclared pool with prune: true */
    NH_RULE_SHARE,          /* fat-finger guard */
    NH_RULE_INCOMPLETE,     /* observation incomplete: fail closed */
    NH_RULE_BUSY,           /* an operation is in flight */
    NH_RULE_UNSUPPORTED,    /* the cloud cannot be asked for this */
    NH_RULE_EMPTY_DESIRED,  /* desired state suddenly declares nothing */
    NH_RULE_SUBSCRIPTION,   /* yearly/monthly nodes or pools the cloud does not remove */
    NH_RULE_STEP,           /* the cloud takes at most so many nodes per call */
    NH_RULE_CLUSTER_STATE,  /* the cluster accepts no change in its current state */
    NH_RULE_LABELS,         /* protection by label needs the cluster's Kubernetes API */
    NH_RULE_SERVERS_KEPT,   /* removed nodes' servers keep running (release_instances: false) */
    NH_RULE_POOL_CONDITION, /* the cloud reports the pool cannot change now */
};
const char *nh_rule_name(enum nh_rule r);

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
enum nh_note_kind {
    NH_NOTE_LIMITED, /* an action was made smaller (budget, min, max, protect) */
    NH_NOTE_BLOCKED, /* the cloud cannot be asked (no scale_out, autoscaler on) */
    NH_NOTE_REFUSED, /* a safety guard refused (share, incomplete, empty desired) */
    NH_NOTE_WAITING, /* an operation is in flight, or the cluster is busy */
    NH_NOTE_INFO,    /* worth knowing; nothing was held back by it */
};
const char *nh_note_kind_name(enum nh_note_kind k);

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
enum nh_job_kind {
    NH_JOB_NONE,       /* nothing to follow: verify by re-reading state */
    NH_JOB_ACK_TASK,   /* DescribeTaskInfo task_id */
    NH_JOB_CCE_JOB,    /* ShowJob job id */
    NH_JOB_POOL_SIZE,  /* poll the pool until its counters reach target */
    NH_JOB_POOL_GONE,  /* poll until the pool is gone (two reads agree) */
    NH_JOB_NODES_GONE, /* poll the node list until the victims are gone */
};
const char *nh_job_kind_name(enum nh_job_kind k);

enum nh_op_state {
    NH_OP_INTENT, /* journalled, not yet (known to be) sent */
    NH_OP_SENT,   /* accepted by the cloud; following its job */
    NH_OP_VERIFY, /* outcome unknown: re-read before anything else */
    NH_OP_DONE,
    NH_OP_FAILED,
    NH_OP_TIMED_OUT,
};
const char *nh_op_state_name(enum nh_op_state s);
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
};

void nh_op_clear(struct nh_op *op);
int nh_op_copy(struct nh_op *dst, const struct nh_op *src);

#endif
