/* kube.h - what a cluster's own Kubernetes API says about its nodes and
 * pods, as plain data, and the pure rules over it (which pods count for
 * "emptiest", which pods block a drain, which nodes are protected, which
 * Kubernetes node is which cloud node). No I/O, no libraries: the planner
 * may use all of it. The kube module (daemon/kube/) fills these structs.
 *
 * Rules and where they come from:
 *  - shared/api/kubernetes.md (the digest);
 *  - cluster-autoscaler FAQ, "What types of pods can prevent CA from
 *    removing a node?" and "How can I prevent Cluster Autoscaler from
 *    scaling down a particular node?"
 *    (https://github.com/kubernetes/autoscaler/blob/master/cluster-autoscaler/FAQ.md):
 *    pods without a controller, `safe-to-evict: "false"`; `safe-to-evict:
 *    "true"` lets a pod be evicted that would otherwise block; the node
 *    annotation `scale-down-disabled: "true"`;
 *  - Karpenter v1 disruption docs (https://karpenter.sh/docs/concepts/disruption/):
 *    `karpenter.sh/do-not-disrupt: "true"` on a pod or a node.
 * Where the sources leave room, the rule blocks more, never less. */
#ifndef NH_MODEL_KUBE_H
#define NH_MODEL_KUBE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Annotation and label keys nodeherd reads or writes. */
#define NH_KUBE_ANN_DRAINING "nodeherd.io/draining" /* value: the operation id that cordoned */
#define NH_KUBE_ANN_SAFE_TO_EVICT "cluster-autoscaler.kubernetes.io/safe-to-evict"
#define NH_KUBE_ANN_SCALE_DOWN_DISABLED "cluster-autoscaler.kubernetes.io/scale-down-disabled"
#define NH_KUBE_ANN_DO_NOT_DISRUPT "karpenter.sh/do-not-disrupt"
#define NH_KUBE_ANN_MIRROR "kubernetes.io/config.mirror"
#define NH_KUBE_LABEL_PROTECT_DEFAULT "nodeherd.io/protect=true"

/* Bounds on what one node carries; more is refused as a hostile answer
 * (the observation is then incomplete: nothing is removed). */
#define NH_KUBE_MAX_LABELS 256
#define NH_KUBE_MAX_ANNOTATIONS 256       /* kept ones; see nh_kube_node.annotations */
#define NH_KUBE_MAX_ANNOTATION_VALUE 1024 /* longer values are not kept */
#define NH_KUBE_MAX_OWNERS 16

enum nh_kube_ready {
    NH_KUBE_READY_UNKNOWN, /* condition Unknown, absent, or an unknown value */
    NH_KUBE_READY_TRUE,
    NH_KUBE_READY_FALSE,
};
const char *nh_kube_ready_name(enum nh_kube_ready r);

enum nh_kube_phase {
    NH_KUBE_PHASE_UNKNOWN, /* "Unknown", absent, or a value this version does not know */
    NH_KUBE_PHASE_PENDING,
    NH_KUBE_PHASE_RUNNING,
    NH_KUBE_PHASE_SUCCEEDED,
    NH_KUBE_PHASE_FAILED,
};
const char *nh_kube_phase_name(enum nh_kube_phase p);

struct nh_kube_kv {
    char *key;   /* owned */
    char *value; /* owned; "" when empty */
};

struct nh_kube_node {
    char *name;        /* metadata.name (a DNS subdomain, checked) */
    char *uid;         /* metadata.uid */
    char *provider_id; /* spec.providerID; NULL when unset */
    char *internal_ip; /* the first IPv4 InternalIP, else the first InternalIP; NULL: none */
    struct nh_kube_kv *labels; /* all of them (at most NH_KUBE_MAX_LABELS) */
    size_t n_labels;
    /* Annotations whose value is at most NH_KUBE_MAX_ANNOTATION_VALUE bytes
     * (longer ones are machine blobs: counted, not kept). */
    struct nh_kube_kv *annotations;
    size_t n_annotations;
    size_t n_annotations_skipped;
    bool unschedulable; /* spec.unschedulable (cordoned) */
    enum nh_kube_ready ready;
    int64_t created; /* metadata.creationTimestamp, unix seconds; 0 = unknown */
};

struct nh_kube_node_list {
    struct nh_kube_node *items;
    size_t n, alloc;
};

struct nh_kube_pod {
    char *ns;   /* metadata.namespace */
    char *name; /* metadata.name */
    char *uid;  /* metadata.uid */
    char *node; /* spec.nodeName; NULL when unscheduled */
    enum nh_kube_phase phase;
    char **owner_kinds; /* metadata.ownerReferences[].kind, in order */
    size_t n_owner_kinds;
    char *controller_kind; /* kind of the ownerReference with controller: true; NULL: none */
    /* The annotations the rules read; NULL when absent. */
    char *safe_to_evict;  /* cluster-autoscaler.kubernetes.io/safe-to-evict */
    char *do_not_disrupt; /* karpenter.sh/do-not-disrupt */
    bool mirror;          /* kubernetes.io/config.mirror present: a static pod's mirror */
};

struct nh_kube_pod_list {
    struct nh_kube_pod *items;
    size_t n, alloc;
};

void nh_kube_node_clear(struct nh_kube_node *n); /* frees contents, zeroes */
void nh_kube_pod_clear(struct nh_kube_pod *p);
/* Free contents and the list itself. NULL ok. */
void nh_kube_node_list_free(struct nh_kube_node_list *l);
void nh_kube_pod_list_free(struct nh_kube_pod_list *l);
/* Appends a zeroed element (NULL on ENOMEM); for builders and tests. */
struct nh_kube_node *nh_kube_node_list_add(struct nh_kube_node_list *l);
struct nh_kube_pod *nh_kube_pod_list_add(struct nh_kube_pod_list *l);

/* Borrowed values; NULL when absent. */
const char *nh_kube_node_label(const struct nh_kube_node *n, const char *key);
const char *nh_kube_node_annotation(const struct nh_kube_node *n, const char *key);

/* ---- rules (pure) ---- */

/* Succeeded or Failed: the pod is finished and never moves or blocks. */
bool nh_kube_pod_finished(const struct nh_kube_pod *p);
/* Whether the pod counts for the "emptiest" order and would be evicted by
 * a drain: not finished, not a mirror pod, not owned by a DaemonSet (its
 * controller, or any owner, of kind DaemonSet). */
bool nh_kube_pod_counts(const struct nh_kube_pod *p);
/* Whether the pod keeps its node from being drained; why (may be NULL)
 * gets the reason naming the pod, e.g. `pod "shop/cart-0" has
 * cluster-autoscaler.kubernetes.io/safe-to-evict: "false"`. A finished pod
 * never blocks. Any other pod blocks when it carries
 * `karpenter.sh/do-not-disrupt: "true"` or `safe-to-evict: "false"` (also
 * DaemonSet and mirror pods: the annotation says "leave me alone"). A pod
 * that counts (see above) and has no controller blocks unless it carries
 * `safe-to-evict: "true"`: it would not come back. */
bool nh_kube_pod_blocks_drain(const struct nh_kube_pod *p, char *why, size_t whylen);
/* Pods on the list that count (nh_kube_pod_counts). */
size_t nh_kube_pods_counting(const struct nh_kube_pod_list *l);
/* The first pod that blocks a drain, or NULL (why as above). */
const struct nh_kube_pod *nh_kube_pods_blocking(const struct nh_kube_pod_list *l, char *why,
                                                size_t whylen);

/* Whether the node must never be a victim; why (may be NULL) gets the
 * reason naming the node and the key. protect_labels: "key=value" (the
 * label has exactly that value) or "key" (the label exists), NULL-
 * terminated; NULL means { NH_KUBE_LABEL_PROTECT_DEFAULT }. Also protected:
 * annotation `cluster-autoscaler.kubernetes.io/scale-down-disabled: "true"`
 * and `karpenter.sh/do-not-disrupt: "true"` (as an annotation or a label). */
bool nh_kube_node_protected(const struct nh_kube_node *n, const char *const *protect_labels,
                            char *why, size_t whylen);

/* ---- matching cloud nodes to Kubernetes nodes ---- */

/* What the cloud says of one node. Borrowed strings; NULL when unknown. */
struct nh_kube_cloud_ref {
    const char *instance_id; /* ACK instance_id, ECS server id */
    const char *private_ip;  /* the VPC address */
    const char *name;        /* the node name the cloud reports (ACK node_name) */
};

enum nh_kube_match_how {
    NH_KUBE_MATCH_NONE,      /* no Kubernetes node is this cloud node */
    NH_KUBE_MATCH_AMBIGUOUS, /* two or more could be: none is taken (fail closed) */
    NH_KUBE_MATCH_PROVIDER_ID,
    NH_KUBE_MATCH_INTERNAL_IP,
    NH_KUBE_MATCH_NAME,
};
const char *nh_kube_match_how_name(enum nh_kube_match_how h);

struct nh_kube_match {
    enum nh_kube_match_how how;
    long index; /* into the Kubernetes node list; -1 unless matched */
};

/* Whether a providerID names this instance: equal to it, or ending in
 * "." or "/" followed by it (ACK: "<region>.<instance-id>"; the common
 * "<scheme>://<...>/<instance-id>" form). */
bool nh_kube_provider_id_names(const char *provider_id, const char *instance_id);

/* Matches every cloud node (ret[i] for cloud[i]) to at most one Kubernetes
 * node, in three rounds: by providerID, then by InternalIP = private_ip,
 * then by name = node name. A round that finds one candidate settles the
 * match; one that finds two or more settles AMBIGUOUS (no later round
 * tries). Fail closed throughout:
 *  - a Kubernetes node whose providerID names another cloud node is never
 *    taken by IP or name; once the first round has matched anything
 *    (providerIDs are in use in this cluster), no node with a providerID
 *    is taken by IP or name at all (an old node object of a released
 *    instance whose IP was given to a new one);
 *  - a Kubernetes node claimed by two cloud nodes in the same round is
 *    taken by neither (both AMBIGUOUS);
 *  - a Kubernetes node taken in an earlier round is not offered again.
 * Pure and deterministic; O(n * m). */
void nh_kube_match_nodes(const struct nh_kube_node *nodes, size_t n_nodes,
                         const struct nh_kube_cloud_ref *cloud, size_t n_cloud,
                         struct nh_kube_match *ret);

#endif
