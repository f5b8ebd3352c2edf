/* kind.h - the one table of cloud kinds: for each kind its name in the
 * configuration, the limits its cloud documents, and what it can do.
 *
 * Config reads names and limits from here, the planner asks capabilities
 * (never "is this ACK?"), providers pick their implementation by kind and a
 * unit test checks that each provider's vtable matches its row. Adding a
 * cloud is one row here plus one directory under providers/. Plain data:
 * no I/O, no libraries. */
#ifndef NH_MODEL_KIND_H
#define NH_MODEL_KIND_H

#include <stdbool.h>
#include <stddef.h>

enum nh_provider_kind { NH_PROVIDER_ACK, NH_PROVIDER_CCE, NH_PROVIDER_MODELARTS };
#define NH_PROVIDER_KINDS 3

/* What a kind can do. The planner decides from these. */
enum nh_kind_cap {
    /* Scale-in removes the nodes the planner chose (remove_nodes); without
     * it the only way down is a lower count, and the cloud picks. */
    NH_CAP_NAMES_VICTIMS = 1u << 0,
    /* Clusters have workers outside node pools (the `workers:` key). */
    NH_CAP_LOOSE_WORKERS = 1u << 1,
    /* Workers outside pools can be added (scale_cluster: ACK ScaleCluster,
     * only on clusters without node pools). */
    NH_CAP_GROWS_LOOSE_WORKERS = 1u << 2,
    /* Undeclared node pools can be deleted (delete_pool, prune). */
    NH_CAP_DELETES_POOLS = 1u << 3,
    /* A pool's size and the removals in flight are read from the pool's
     * counters, not counted in the node list (no per-node listing). */
    NH_CAP_COUNTS_FROM_POOL = 1u << 4,
    /* Each cluster has a Kubernetes API of its own (kubeconfig from the
     * cloud): nodes, pods, drains. Not used yet (issue #20). */
    NH_CAP_KUBE_API = 1u << 5,
    /* Requests are scoped by a project id (`project_id:` required). */
    NH_CAP_PROJECT_SCOPED = 1u << 6,
    /* May authenticate with a token instead of a key pair. */
    NH_CAP_TOKEN_AUTH = 1u << 7,
    /* A cluster is one resource pool, named by `pool:` (not `id:`). */
    NH_CAP_POOL_SCOPED = 1u << 8,
    /* Whether the cluster accepts changes can be read (cluster_state:
     * ACK DescribeClusterDetail `state`, CCE ShowCluster `status.phase`);
     * it is read before a mutation is sent. */
    NH_CAP_CLUSTER_STATE = 1u << 9,
    /* Removing a worker outside node pools may leave its server running
     * (scale_in.release_instances: false): ACK release_node=false, CCE
     * RemoveNode. Without it every removal deletes the server. */
    NH_CAP_KEEPS_SERVERS = 1u << 10,
    /* The same for node-pool members: the pool's size drops and the server
     * stays (ACK RemoveNodePoolNodes release_node=false). CCE has no such
     * call (RemoveNode leaves the pool's count as it is). */
    NH_CAP_POOL_KEEPS_SERVERS = 1u << 11,
    /* The cloud's removal call drains the node itself (ACK drain_node). */
    NH_CAP_CLOUD_DRAINS = 1u << 12,
};

/* The largest node count any kind allows (the bound used while the kind of
 * an entry is not known). */
#define NH_KIND_MAX_NODES 2000

struct nh_kind {
    enum nh_provider_kind kind;
    const char *name;  /* the value of kind: in the configuration */
    const char *cloud; /* for messages: "ACK", "CCE", "ModelArts" */
    unsigned caps;     /* enum nh_kind_cap bits */
    /* Limits the cloud documents. 0: the kind has no such thing. */
    int max_workers;          /* workers outside pools */
    const char *workers_what; /* named in range errors, e.g. "ACK num_of_nodes" */
    int max_pool;             /* nodes in one node pool */
    const char *pool_what;    /* e.g. "CCE node pool size" */
    const char *credentials;  /* what to give, for messages */
    /* Nodes one size change may add (0: no limit documented). */
    int max_scale_step;
    /* Nodes that must stay in a cluster whatever is declared (ModelArts:
     * BatchDeletePoolNodes keeps one in the resource pool). */
    int min_cluster_nodes;
    /* Why a yearly/monthly (subscription) node or pool is not removed
     * there, and what the operator can do (plan notes). */
    const char *subscription_why;
    const char *subscription_fix;
};

/* The row of a kind; NULL for a value outside the enum. Borrowed, static. */
const struct nh_kind *nh_kind_get(enum nh_provider_kind k);
/* The row of the kind named `name`; NULL when there is none. */
const struct nh_kind *nh_kind_by_name(const char *name);
/* The i-th row (i < NH_PROVIDER_KINDS), in enum order. */
const struct nh_kind *nh_kind_at(size_t i);
/* true when kind k has every bit of caps. */
bool nh_kind_has(enum nh_provider_kind k, unsigned caps);
/* The kind's name; "?" outside the enum. */
const char *nh_provider_kind_name(enum nh_provider_kind k);

/* The names, for static initializers elsewhere (provider vtables). */
extern const char nh_kind_name_ack[];
extern const char nh_kind_name_cce[];
extern const char nh_kind_name_modelarts[];

#endif
