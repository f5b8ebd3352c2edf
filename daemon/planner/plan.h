/* plan.h - the pure planner: desired (config) + observed (providers) +
 * in-flight operations + policy -> actions and notes.
 *
 * Pure and deterministic: no I/O, no clock (time comes in the policy), no
 * randomness; ties broken by node id. Every safety rule of DESIGN.md lives
 * here:
 *  - scale out when below the declared count (clusters: only with the
 *    scale_out settings ACK's ScaleCluster needs; pools: never when the
 *    cloud's autoscaler is on, unless manage_autoscaling);
 *  - scale in by naming victims (unhealthy first, then the configured order),
 *    never a protected node (by id/name or label), never a master;
 *  - never below min, never above max;
 *  - at most max_per_cycle removals per cluster per cycle, in-flight removals
 *    counted against it; never more than the surplus;
 *  - explicit remove: lists (still bounded by budget and protect);
 *  - pools deleted only with prune: true and absent from the declaration;
 *  - a change that would remove more than max_removal_share of a cluster's
 *    nodes at once is refused until confirm_mass_removal;
 *  - fail closed: no removal (and no prune) on an incomplete observation, on
 *    a counts-only observation (no node listed), on
 *    a cluster not yet observed, or when the declaration suddenly declares
 *    nothing (pools list vanished / emptied compared with the previous
 *    config);
 *  - nothing new for a cluster while an operation is in flight there.
 * Scale-out may set a size; scale-in always names victims. */
#ifndef NH_PLAN_H
#define NH_PLAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config/config.h"
#include "model/model.h"

struct nh_policy {
    double max_removal_share; /* from daemon config; default 0.5. 0 = every removal needs
                               * confirm_mass_removal; outside 0..1 (or NaN): 0.5 */
    int64_t now_unix;         /* for age-based ordering ties; not otherwise used */
    /* The same cluster in the previously applied configuration (NULL at
     * start or if new): used by the empty-desired-state guard. */
    const struct nh_cfg_cluster *previous;
};

/* Plans one cluster. `busy` lists the operations in flight for this
 * cluster (any state but DONE/FAILED/TIMED_OUT). `have` may be NULL (never
 * observed): then nothing is planned but a note. Appends to *out (actions
 * and notes own their strings). 0, -EINVAL (want or out NULL) or -ENOMEM;
 * on error *out is left as it was. `pol` may be NULL (defaults). All inputs
 * are borrowed and only read.
 *
 * Decisions worth knowing when reading a plan (details in plan.c):
 *  - any op in `busy` (whatever its state) => no action, a WAITING note each;
 *  - incomplete observation, a node/pool without id or a node id listed
 *    twice => no action at all (REFUSED, rule INCOMPLETE);
 *  - actions come in a fixed order: workers, declared pools in declaration
 *    order, then undeclared pools by id (remove: entries, then prunes); at
 *    most one action per group. The plan does not depend on the order of
 *    nodes or pools in `have`;
 *  - the budget is min(max_per_cycle, 200) minus the cluster's nodes the
 *    cloud is already removing (REMOVING workers; ModelArts: pools' deleting);
 *  - nodeherd.io/protect=true protects a node even if protect_labels does
 *    not list it;
 *  - scale-in is a REMOVE_NODES of chosen nodes on every kind (ModelArts:
 *    BatchDeletePoolNodes), never a lower count that lets the cloud pick: a
 *    kind without NH_CAP_NAMES_VICTIMS gets a BLOCKED note instead; where
 *    sizes come from the pools' counters (NH_CAP_COUNTS_FROM_POOL) no
 *    removal is planned from a counts-only observation (no node names);
 *  - DELETE_POOL only on ModelArts (ACK/CCE have no pool deletion in
 *    scope: BLOCKED note); never the default pool or one being deleted;
 *  - the share guard compares what the declaration asks to remove (not only
 *    this cycle's part) with the cluster's live workers (ModelArts: the
 *    pools' current counts); over the share and not confirmed, every
 *    removal-type action is dropped and scale-outs stay. */
int nh_plan_cluster(const struct nh_cfg_cluster *want, const struct nh_observed *have,
                    const struct nh_op *busy, size_t n_busy, const struct nh_policy *pol,
                    struct nh_plan *out);

/* Whether a plan on `have` might remove something in the cluster: true
 * unless `have` is complete, the kind counts from the pool
 * (NH_CAP_COUNTS_FROM_POOL), `want` has no remove: entries, no pool has an
 * unhealthy or deleting node or is being deleted, every observed pool is
 * declared once with a managed count (nodes:, clamped to min..max) that is
 * at least its current and desired counts, and no undeclared pool is there
 * while prune: is on. Works on a counts-only observation (only the pools are
 * read). When false, the next observation may be counts-only
 * (obs->counts_only); a counts-only observation on which it is true is
 * planned as incomplete for removals: nothing at all is planned on it until
 * the nodes are listed. Pure; NULL arguments give true. */
bool nh_plan_removal_possible(const struct nh_cfg_cluster *want, const struct nh_observed *have);

#endif
