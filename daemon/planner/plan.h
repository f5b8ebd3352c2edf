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
    double max_removal_share;   /* from daemon config; default 0.5 */
    int64_t now_unix;           /* for age-based ordering ties; not otherwise used */
    /* The same cluster in the previously applied configuration (NULL at
     * start or if new): used by the empty-desired-state guard. */
    const struct nh_cfg_cluster *previous;
};

/* Plans one cluster. `busy` lists the operations in flight for this
 * cluster (any state but DONE/FAILED/TIMED_OUT). `have` may be NULL (never
 * observed): then nothing is planned but a note. Appends to *out (actions
 * and notes own their strings). 0 or -ENOMEM. */
int nh_plan_cluster(const struct nh_cfg_cluster *want, const struct nh_observed *have,
                    const struct nh_op *busy, size_t n_busy, const struct nh_policy *pol,
                    struct nh_plan *out);

#endif
