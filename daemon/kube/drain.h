/* drain.h - drain one Kubernetes node before its removal: the engine only
 * (the executor, the journal and the configuration call it; they decide
 * what to do with its outcome, e.g. uncordon after a timeout).
 *
 * What it does, in this order (shared/api/kubernetes.md, "Cordon, drain,
 * uncordon"), with nothing but nh_kube_list_pods, nh_kube_cordon and
 * nh_kube_evict (never a delete, never an uncordon):
 *  1. list the node's pods; a pod that must not be drained
 *     (nh_kube_pod_blocks_drain: karpenter.sh/do-not-disrupt "true",
 *     safe-to-evict "false", no controller) ends the drain BLOCKED before
 *     anything changed;
 *  2. cordon the node with this operation's nodeherd.io/draining
 *     annotation; a node cordoned by someone else ends it NOT_OURS with
 *     nothing done; a node already cordoned with THIS op_id's annotation is
 *     taken as it is (a drain resumed after a restart);
 *  3. rounds: list the pods again; a pod that blocks → BLOCKED (the node
 *     stays cordoned); no pod that counts (nh_kube_pod_counts: DaemonSet,
 *     mirror and finished pods do not) → DRAINED; else evict, through the
 *     Eviction API with the pod's uid as a precondition, every counting pod
 *     not already evicted or waiting, and list again after relist_ms. An
 *     accepted eviction (201) or a 404 / failed uid precondition (the pod
 *     of that uid is gone) is not sent again: the pod still counts until a
 *     list no longer shows it (a terminating pod, with its
 *     deletionTimestamp, is still listed). A 429 (a PodDisruptionBudget
 *     says not now) holds the pod: it is evicted again after the server's
 *     Retry-After (capped at retry_max_ms) or, without one, retry_ms, and
 *     never deleted instead. A 500 naming several budgets, a refusal of the
 *     credentials, a malformed answer → FAILED; a transient or uncertain
 *     answer to an eviction (other 409, 5xx, transport) is tried again
 *     after retry_ms, at most NH_DRAIN_MAX_EVICT_ERRORS times in a row per
 *     pod, then FAILED;
 *  4. timeout_ms after nh_drain_start without being drained → TIMED_OUT,
 *     whatever is in flight (answers still to come are ignored).
 * The node is never uncordoned here: after any outcome but DRAINED the
 * caller uncordons it with the same op_id when progress.cordoned says it
 * may carry our cordon (nh_kube_uncordon leaves other cordons alone).
 *
 * Sources: kubernetes.io, "API-initiated Eviction"
 * (https://kubernetes.io/docs/concepts/scheduling-eviction/api-eviction/):
 * 200/201 the eviction is allowed and the pod is deleted gracefully (it
 * gets a deletion timestamp first), 429 not allowed now by a
 * PodDisruptionBudget ("you may be able to attempt the eviction again
 * later"; also API rate limiting), 500 a misconfiguration such as several
 * budgets for one pod; "Safely Drain a Node"
 * (https://kubernetes.io/docs/tasks/administer-cluster/safely-drain-node/)
 * and the kubectl drain reference
 * (https://kubernetes.io/docs/reference/kubectl/generated/kubectl_drain/):
 * cordon first, evict every pod except DaemonSet-managed and mirror pods,
 * refuse pods without a controller unless told otherwise, wait until the
 * evicted pods are gone; kubectl drain retries a 429 every 5 s
 * (k8s.io/kubectl/pkg/drain, "will retry after 5s"). cluster-autoscaler's
 * FAQ for the pods that block (see model/kube.h).
 *
 * Time is the loop's (uv_now); the client paces its own requests (its
 * token bucket), so nothing here sends faster than the cluster allows.
 *
 * Interface notes: the names and semantics below are the ones the
 * executor codes against. Added to the agreed interface: the option
 * retry_max_ms (and timeout_ms 0 meaning 10 min); the progress fields
 * phase, cordoned, pods_evicting and pods_ignored; enum nh_drain_phase;
 * the pure part (nh_drain_decide with enum nh_drain_pod_step, struct
 * nh_drain_mem, struct nh_drain_tally) and NH_DRAIN_MAX_EVICT_ERRORS. The
 * client gained nh_kube_result.retry_hinted (kube.h) so that retry_ms
 * applies exactly when the server gave no Retry-After. */
#ifndef NH_KUBE_DRAIN_H
#define NH_KUBE_DRAIN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "model/kube.h"

struct nh_kube;
struct nh_drain;

/* Transient or uncertain eviction answers in a row for one pod before the
 * drain gives up as FAILED. */
#define NH_DRAIN_MAX_EVICT_ERRORS 3

struct nh_drain_opts {
    const char *node;      /* the Kubernetes node name */
    const char *op_id;     /* nh_kube_op_id_ok(); the cordon annotation value (same op_id after a
                            * restart resumes the same drain) */
    uint64_t timeout_ms;   /* drain_timeout: from start; then NH_DRAIN_TIMED_OUT; 0: 10 min */
    uint64_t retry_ms;     /* wait before re-trying an eviction refused by a budget (429) when the
                            * server gives no Retry-After; 0: 5 s */
    uint64_t relist_ms;    /* how often pods are re-listed while waiting for evicted pods to go;
                            * 0: 2 s */
    uint64_t retry_max_ms; /* (added) cap on a server's Retry-After for a held pod; 0: 60 s */
};

enum nh_drain_outcome {
    NH_DRAIN_DRAINED,   /* cordoned by us, and a fresh list shows no pod that counts
                         * (nh_kube_pod_counts) */
    NH_DRAIN_TIMED_OUT, /* timeout_ms passed; node left cordoned (the caller uncordons) */
    NH_DRAIN_BLOCKED,   /* a pod that must not be drained (nh_kube_pod_blocks_drain) is on the
                         * node: on the first list, nothing was evicted and nothing cordoned by
                         * this run; later (a pod that turned blocking mid-drain), the node stays
                         * cordoned (the caller uncordons) */
    NH_DRAIN_NOT_OURS,  /* the node was cordoned by someone else: nothing done */
    NH_DRAIN_FAILED,    /* the Kubernetes API could not be read/written (message says why) */
    NH_DRAIN_CANCELLED, /* nh_drain_cancel, or the client was freed under the drain */
};
const char *nh_drain_outcome_name(enum nh_drain_outcome o);

/* Where the drain is (added; for status pages and logs). */
enum nh_drain_phase {
    NH_DRAIN_PHASE_LISTING,   /* the first list, before the cordon */
    NH_DRAIN_PHASE_CORDONING, /* the cordon request */
    NH_DRAIN_PHASE_EVICTING,  /* cordoned: evicting and waiting for pods to go */
    NH_DRAIN_PHASE_DONE,      /* done has run */
};
const char *nh_drain_phase_name(enum nh_drain_phase p);

struct nh_drain_progress {
    const char *node;
    size_t pods_left;     /* pods that count, at the last list */
    const char *held_pod; /* "ns/name" of a pod a budget holds (last 429), or NULL */
    const char *held_why; /* the server's message for it (no credentials), or NULL */
    unsigned evictions_sent, evictions_refused;
    const char *message; /* for outcome != DRAINED: why, naming node/pod; else a summary */
    /* Added: */
    enum nh_drain_phase phase;
    bool cordoned;        /* the node carries, or may carry, this op_id's cordon (this run sent
                           * the cordon, or found it ours): uncordon it if the removal does not go
                           * ahead. A resumed drain BLOCKED on its first list has not looked: the
                           * caller's journal knows whether an earlier run cordoned */
    size_t pods_evicting; /* of pods_left: eviction accepted, waiting for the pod to go */
    size_t pods_ignored;  /* DaemonSet, mirror and finished pods at the last list */
};

/* progress: called after each list/eviction round (may be NULL); done:
 * exactly once, on the loop, never inside nh_drain_start. The progress
 * and its strings are borrowed: valid during the callback (and through
 * nh_drain_get_progress until the next callback or nh_drain_free). */
typedef void (*nh_drain_fn)(void *ud, const struct nh_drain_progress *p);
typedef void (*nh_drain_done_fn)(void *ud, enum nh_drain_outcome o,
                                 const struct nh_drain_progress *p);

/* Starts draining o->node through k, which must outlive the drain (free
 * the drain first; a client freed while a request of the drain is in
 * flight ends it CANCELLED, but one freed between rounds is not noticed).
 * Strings of o are copied. 0, or -EINVAL (a node name that is not a DNS
 * subdomain, an op_id that is not nh_kube_op_id_ok, NULL k/done/ret),
 * -ESHUTDOWN (k is being freed), -ENOMEM: then nothing was sent and done
 * never runs. */
int nh_drain_start(uv_loop_t *loop, struct nh_kube *k, const struct nh_drain_opts *o,
                   nh_drain_fn progress, nh_drain_done_fn done, void *ud, struct nh_drain **ret);
/* done(CANCELLED) runs before it returns (nothing when done already ran);
 * does NOT uncordon. Requests in flight finish in the client; their
 * answers are ignored. NULL ok. */
void nh_drain_cancel(struct nh_drain *d);
/* NULL ok; after done (before done: cancels first, quietly, without
 * calling done). May be called from the done callback. Memory goes once
 * the loop has run the timers' close callbacks and the client has
 * answered what is still in flight. */
void nh_drain_free(struct nh_drain *d);
const struct nh_drain_progress *nh_drain_get_progress(const struct nh_drain *d);

/* ---- the pure part ---- */

/* What a drain does with one listed pod now. */
enum nh_drain_pod_step {
    NH_DRAIN_POD_EVICT,  /* counts; send its eviction now */
    NH_DRAIN_POD_WAIT,   /* counts; evicted (accepted, or in flight) or held until later */
    NH_DRAIN_POD_IGNORE, /* DaemonSet, mirror or finished: stays, does not count */
    NH_DRAIN_POD_BLOCKS, /* must not be drained: the drain stops */
};
const char *nh_drain_pod_step_name(enum nh_drain_pod_step s);

/* What the engine remembers of one pod it sent an eviction for. */
enum nh_drain_mem_state {
    NH_DRAIN_MEM_IN_FLIGHT, /* the eviction is sent, no answer yet */
    NH_DRAIN_MEM_ACCEPTED,  /* 201, or 404 / failed uid precondition: the pod goes */
    NH_DRAIN_MEM_HELD,      /* 429: again at due_ms */
    NH_DRAIN_MEM_RETRY,     /* a transient or uncertain answer: again at due_ms */
};
struct nh_drain_mem {
    const char *ns, *name, *uid; /* the pod as it was evicted (uid may be NULL) */
    enum nh_drain_mem_state state;
    uint64_t due_ms; /* HELD, RETRY: not before this loop time */
};

struct nh_drain_tally {
    size_t evict;     /* steps EVICT */
    size_t wait;      /* steps WAIT */
    size_t counting;  /* evict + wait: the pods left */
    size_t ignored;   /* steps IGNORE */
    long first_block; /* index of the first BLOCKS pod, -1: none */
};

/* For every pod of the list (steps[i] for pods->items[i]) the step now,
 * given the memory of evictions (mem[j] is the same pod as a listed one
 * when namespace, name and uid are equal; a pod of that name with another
 * uid is another pod). gone[j] (may be NULL when n_mem is 0) is set true
 * for every memory entry whose pod no longer counts: not listed, listed
 * with another uid, or now ignored (finished) — its eviction is done.
 * A blocking pod blocks whatever the memory says; why (may be NULL) gets
 * the first one's reason. Pure. */
void nh_drain_decide(const struct nh_kube_pod_list *pods, const struct nh_drain_mem *mem,
                     size_t n_mem, uint64_t now_ms, enum nh_drain_pod_step *steps, bool *gone,
                     struct nh_drain_tally *t, char *why, size_t whylen);

#endif
