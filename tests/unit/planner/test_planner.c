/* test_planner.c - table-driven tests of the pure planner (nh_plan_cluster).
 *
 * Each row is one cluster: a declaration (designated initializers, as the
 * config loader would fill them), an observation, operations in flight and
 * the policy; and the exact expected output: actions (kind, pool, from,
 * target, victims in order, rule) and notes (kind, rule) in order. Every row
 * is also planned twice and the two plans compared deeply (determinism). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "planner/plan.h"
#include "plantest.h"

/* ---------- table shape ---------- */

struct tnode {
    const char *id;
    const char *name; /* NULL: "name-<id>" */
    const char *pool;
    char health; /* 0/'r' ready, 'u' unhealthy, 'f' failed, 'p' pending, 'x' removing */
    int64_t created;
    bool master;
    const char *label; /* "k=v" */
    bool sub;          /* billed yearly/monthly */
    int pods;          /* Kubernetes pods that would move, + 1 (0: not read) */
    const char *hold;  /* kube_hold: why Kubernetes keeps it */
};

struct tpool {
    const char *id;
    const char *name;
    int desired, current, creating, deleting;
    bool autoscaling, being_deleted, is_default;
    bool sub, locked;    /* yearly/monthly; LockedByOrder */
    const char *blocked; /* the cloud's reason the pool cannot grow */
};

struct texp_act {
    bool on;
    enum nh_action_kind kind;
    const char *pool_id;
    int from, target;
    const char *victims; /* "a,b" or NULL */
    enum nh_rule rule;
};

struct texp_note {
    bool on;
    enum nh_note_kind kind;
    enum nh_rule rule;
};

struct tcase {
    const char *name;
    enum nh_provider_kind kind;
    struct nh_cfg_cluster cfg; /* name/provider/max/max_per_cycle defaulted */
    const struct nh_cfg_cluster *prev;
    double share; /* 0: 0.5 */
    int mpc;      /* max_per_cycle: 0 -> 10, < 0 -> 0 */
    bool unobserved, incomplete;
    bool no_kube;                 /* the cluster has no Kubernetes access (labels note) */
    bool kube_unread;             /* it has, but this observation did not read Kubernetes */
    bool keep_servers;            /* scale_in.release_instances: false */
    enum nh_cluster_state cstate; /* as read before a mutation */
    int n_busy;
    struct tnode nodes[16];
    struct tpool pools[6];
    struct texp_act acts[6];
    struct texp_note notes[6];
    const char *msg_has; /* substring of some note's msg */
    const char *fix_has; /* substring of some note's fix */
    const char *why_has; /* substring of the first action's why */
};

/* The table reads as a table: not reformatted. */
/* clang-format off */
#define STRS(...) ((char *[]){__VA_ARGS__})
#define NSTRS(...) (sizeof(STRS(__VA_ARGS__)) / sizeof(char *))
#define REMOVE_LIST(...) .remove = STRS(__VA_ARGS__), .n_remove = NSTRS(__VA_ARGS__)
#define PROTECT(...) .protect = STRS(__VA_ARGS__), .n_protect = NSTRS(__VA_ARGS__)
#define CPOOLS(...)                                                                              \
    .pools = ((struct nh_cfg_pool[]){__VA_ARGS__}),                                              \
    .n_pools = sizeof((struct nh_cfg_pool[]){__VA_ARGS__}) / sizeof(struct nh_cfg_pool),         \
    .pools_declared = true

#define N(i, t) {.id = i, .created = t}
#define NS(i, t) {.id = i, .created = t, .sub = true}
#define PNU(p, i, t) {.pool = p, .id = i, .created = t, .health = 'u'}
#define NU(i, t) {.id = i, .created = t, .health = 'u'}
#define NP(i, t) {.id = i, .created = t, .health = 'p'}
#define NF(i, t) {.id = i, .created = t, .health = 'f'}
#define NX(i, t) {.id = i, .created = t, .health = 'x'}
#define NM(i, t) {.id = i, .created = t, .master = true}
#define PN(p, i, t) {.pool = p, .id = i, .created = t}
#define FOUR N("a", 100), N("b", 300), N("c", 200), N("d", 400)
#define EIGHT                                                                                    \
    N("a", 1), N("b", 2), N("c", 3), N("d", 4), N("e", 5), N("f", 6), N("g", 7), N("h", 8)

#define SCALE_C(f, t, r) {true, NH_ACT_SCALE_CLUSTER, NULL, f, t, NULL, NH_RULE_##r}
#define SCALE_P(p, f, t, r) {true, NH_ACT_SCALE_POOL, p, f, t, NULL, NH_RULE_##r}
#define REMOVE(p, f, t, v, r) {true, NH_ACT_REMOVE_NODES, p, f, t, v, NH_RULE_##r}
#define DELETE(p, f) {true, NH_ACT_DELETE_POOL, p, f, 0, NULL, NH_RULE_PRUNE}
#define NOTE(k, r) {true, NH_NOTE_##k, NH_RULE_##r}

static const struct nh_cfg_cluster prev_abc = {
    .name = "train",
    CPOOLS({.name = "A", .nodes = -1}, {.name = "B", .nodes = -1}, {.name = "C", .nodes = -1}),
};
static const struct nh_cfg_cluster prev_ab = {
    .name = "train",
    CPOOLS({.name = "A", .nodes = -1}, {.name = "B", .nodes = -1}),
};

/* ---------- the table ---------- */

static const struct tcase cases[] = {
    /* workers outside pools: counting and direction */
    {.name = "steady_state_plans_nothing",
     .cfg = {.workers = 3},
     .nodes = {N("a", 1), N("b", 2), N("c", 3)}},
    {.name = "ack_scale_out_sets_total",
     .cfg = {.workers = 5, .has_scale_out = true},
     .nodes = {N("a", 1), N("b", 2), N("c", 3)},
     .acts = {SCALE_C(3, 5, DECLARED)},
     .why_has = "5 declared, 3 observed"},
    {.name = "ack_scale_out_without_settings_is_blocked",
     .cfg = {.workers = 5},
     .nodes = {N("a", 1), N("b", 2), N("c", 3)},
     .notes = {NOTE(BLOCKED, UNSUPPORTED)},
     .fix_has = "add scale_out: {instance_type, system_disk, login_password} to clusters[web]"},
    {.name = "ack_scale_cluster_never_with_node_pools",
     .cfg = {.workers = 5, .has_scale_out = true},
     .nodes = {N("a", 1), N("b", 2), N("c", 3)},
     .pools = {{.id = "np1", .name = "default-nodepool"}},
     .notes = {NOTE(BLOCKED, UNSUPPORTED)},
     .msg_has = "only used on clusters without node pools"},
    {.name = "cce_scale_out_outside_pool_is_blocked",
     .kind = NH_PROVIDER_CCE,
     .cfg = {.workers = 5, .has_scale_out = true},
     .nodes = {N("a", 1), N("b", 2), N("c", 3)},
     .notes = {NOTE(BLOCKED, UNSUPPORTED)},
     .fix_has = "declare a node pool"},
    {.name = "modelarts_workers_are_blocked",
     .kind = NH_PROVIDER_MODELARTS,
     .cfg = {.workers = 2},
     .notes = {NOTE(BLOCKED, UNSUPPORTED)},
     .msg_has = "cannot add nodes outside a node pool"},
    {.name = "scale_in_default_order_picks_newest",
     .cfg = {.workers = 3},
     .nodes = {FOUR},
     .acts = {REMOVE(NULL, 4, 3, "d", DECLARED)},
     .why_has = "3 declared, 4 observed: remove 1 (unhealthy, then newest first)"},
    {.name = "scale_in_oldest_order",
     .cfg = {.workers = 3, .scale_in = {.order = {NH_ORDER_OLDEST}, .n_order = 1}},
     .nodes = {FOUR},
     .acts = {REMOVE(NULL, 4, 3, "a", DECLARED)}},
    {.name = "scale_in_name_order",
     .cfg = {.workers = 3, .scale_in = {.order = {NH_ORDER_NAME}, .n_order = 1}},
     .nodes = {{.id = "a", .name = "zeta"}, {.id = "b", .name = "alpha"},
               {.id = "c", .name = "mid"}, {.id = "d", .name = "omega"}},
     .acts = {REMOVE(NULL, 4, 3, "b", DECLARED)}},
    {.name = "scale_in_emptiest_then_newest",
     .cfg = {.workers = 2,
             .scale_in = {.order = {NH_ORDER_UNHEALTHY, NH_ORDER_EMPTIEST, NH_ORDER_NEWEST},
                          .n_order = 3}},
     /* b and d run nothing to move; c was not counted: it goes last */
     .nodes = {{.id = "a", .created = 100, .pods = 3},
               {.id = "b", .created = 300, .pods = 1},
               {.id = "c", .created = 500},
               {.id = "d", .created = 200, .pods = 1}},
     .acts = {REMOVE(NULL, 4, 2, "b,d", DECLARED)},
     .why_has = "(unhealthy, then emptiest, then newest first)"},
    {.name = "kubernetes_hold_keeps_the_node_and_says_why",
     .cfg = {.workers = 2},
     .nodes = {{.id = "a", .created = 100},
               {.id = "b", .created = 300, .hold = "pod \"shop/solo\" has no controller"},
               {.id = "c", .created = 200, .hold = "annotation karpenter.sh/do-not-disrupt"},
               {.id = "d", .created = 50}},
     .acts = {REMOVE(NULL, 4, 2, "a,d", DECLARED)},
     .notes = {NOTE(LIMITED, PROTECT), NOTE(LIMITED, PROTECT)},
     .msg_has = "node name-b stays: pod \"shop/solo\" has no controller"},
    {.name = "kubernetes_hold_limits_the_removal",
     .cfg = {.workers = 1},
     .nodes = {{.id = "a", .created = 100, .hold = "no Kubernetes node matches it"},
               {.id = "b", .created = 300}},
     .acts = {REMOVE(NULL, 2, 1, "b", DECLARED)},
     .notes = {NOTE(LIMITED, PROTECT)},
     .msg_has = "node name-a stays: no Kubernetes node matches it"},
    {.name = "drain_on_cce_without_kubernetes_blocks_removal",
     .kind = NH_PROVIDER_CCE,
     .no_kube = true,
     .cfg = {.workers = 3, .scale_in = {.drain = true}},
     .nodes = {FOUR},
     .notes = {NOTE(INFO, LABELS), NOTE(BLOCKED, UNSUPPORTED)},
     .msg_has = "drain is on, but CCE does not drain nodes"},
    {.name = "drain_on_cce_with_kubernetes_is_nodeherds",
     .kind = NH_PROVIDER_CCE,
     .cfg = {.workers = 3, .scale_in = {.drain = true}},
     .nodes = {FOUR},
     .acts = {REMOVE(NULL, 4, 3, "d", DECLARED)}},
    {.name = "drain_on_ack_is_the_clouds",
     .cfg = {.workers = 3, .scale_in = {.drain = true}},
     .nodes = {FOUR},
     .acts = {REMOVE(NULL, 4, 3, "d", DECLARED)}},
    {.name = "scale_in_unhealthy_first",
     .cfg = {.workers = 3},
     .nodes = {NU("a", 100), N("b", 300), N("c", 200), N("d", 400)},
     .acts = {REMOVE(NULL, 4, 3, "a", DECLARED)}},
    /* failed nodes (the cloud says so) are replaced; not-ready ones waited for (issue 17) */
    {.name = "failed_node_is_replaced",
     .cfg = {.workers = 3, .has_scale_out = true},
     .nodes = {N("a", 1), NF("b", 2), N("c", 3)},
     .acts = {REMOVE(NULL, 3, 2, "b", UNHEALTHY)},
     .why_has = "3 declared, 3 observed, 1 failed: remove 1 to replace it (the group is scaled "
                "back to 3 next cycle)"},
    {.name = "failed_first_even_when_order_omits_unhealthy",
     .cfg = {.workers = 2, .has_scale_out = true,
             .scale_in = {.order = {NH_ORDER_NEWEST}, .n_order = 1}},
     .nodes = {N("a", 1), NF("b", 2), N("c", 3)},
     .acts = {REMOVE(NULL, 3, 2, "b", DECLARED)},
     .why_has = "remove 1 (failed first, then newest first)"},
    {.name = "failed_replacement_within_the_budget",
     .cfg = {.workers = 3, .has_scale_out = true},
     .mpc = 1,
     .nodes = {N("a", 1), NF("b", 2), NF("c", 3), N("d", 4)},
     .acts = {REMOVE(NULL, 4, 3, "c", DECLARED)}, /* failed first; then the order: newest */
     .notes = {NOTE(LIMITED, BUDGET)}},
    {.name = "failed_never_below_min",
     .cfg = {.workers = 3, .min = 3, .has_scale_out = true},
     .nodes = {N("a", 1), NF("b", 2), N("c", 3)},
     .notes = {NOTE(LIMITED, MIN)}},
    {.name = "failed_not_replaced_where_nothing_can_grow_back",
     .cfg = {.workers = 3},
     .nodes = {N("a", 1), NF("b", 2), N("c", 3)},
     .notes = {NOTE(BLOCKED, UNHEALTHY)},
     .fix_has = "replace the failed node in the cloud console"},
    {.name = "failed_but_protected_is_kept_and_waited_for",
     .cfg = {.workers = 3, .has_scale_out = true},
     .nodes = {N("a", 1), {.id = "b", .created = 2, .health = 'f',
                           .label = "nodeherd.io/protect=true"}, N("c", 3)},
     .notes = {NOTE(WAITING, UNHEALTHY)}},
    {.name = "not_ready_nodes_are_waited_for",
     .cfg = {.workers = 3, .has_scale_out = true},
     .nodes = {N("a", 1), NU("b", 2), NP("c", 3)},
     .notes = {NOTE(WAITING, UNHEALTHY)},
     .msg_has = "3 declared, 3 observed: 2 not ready (1 starting, 1 unhealthy); waiting for them"},
    {.name = "failed_pool_node_is_replaced",
     .kind = NH_PROVIDER_CCE,
     .cfg = {CPOOLS({.name = "gpu", .nodes = 2, .max = 10})},
     .nodes = {PN("np1", "x", 1), {.pool = "np1", .id = "y", .created = 2, .health = 'f'}},
     .pools = {{.id = "np1", .name = "gpu", .desired = 2, .current = 2}},
     .acts = {REMOVE("np1", 2, 1, "y", UNHEALTHY)}},
    {.name = "failed_in_the_cce_default_pool_is_blocked",
     .kind = NH_PROVIDER_CCE,
     .cfg = {CPOOLS({.name = "DefaultPool", .nodes = 2, .max = 10})},
     .nodes = {PN("dp", "x", 1), {.pool = "dp", .id = "y", .created = 2, .health = 'f'}},
     .pools = {{.id = "dp", .name = "DefaultPool", .desired = 2, .current = 2,
                .is_default = true}},
     .notes = {NOTE(BLOCKED, UNHEALTHY)}},
    {.name = "unhealthy_not_first_when_order_omits_it",
     .cfg = {.workers = 3, .scale_in = {.order = {NH_ORDER_NEWEST}, .n_order = 1}},
     .nodes = {NU("a", 100), N("b", 300), N("c", 200), N("d", 400)},
     .acts = {REMOVE(NULL, 4, 3, "d", DECLARED)}},
    {.name = "ties_broken_by_id",
     .cfg = {.workers = 2},
     .nodes = {N("c", 5), N("a", 5), N("b", 5)},
     .acts = {REMOVE(NULL, 3, 2, "a", DECLARED)}},
    {.name = "pending_counts_but_is_never_a_victim",
     .cfg = {.workers = 3},
     .nodes = {N("a", 1), N("b", 2), N("c", 3), NP("d", 4)},
     .acts = {REMOVE(NULL, 4, 3, "c", DECLARED)}},
    {.name = "removing_nodes_do_not_count",
     .cfg = {.workers = 3},
     .nodes = {N("a", 1), N("b", 2), N("c", 3), NX("d", 4)}},
    {.name = "masters_neither_counted_nor_removed",
     .cfg = {.workers = 2},
     .nodes = {NM("m1", 999), N("a", 1), N("b", 2), N("c", 3)},
     .acts = {REMOVE(NULL, 3, 2, "c", DECLARED)}},

    /* protection */
    {.name = "protect_by_id",
     .cfg = {.workers = 3, .scale_in = {PROTECT("d")}},
     .nodes = {FOUR},
     .acts = {REMOVE(NULL, 4, 3, "b", DECLARED)}},
    {.name = "protect_by_name",
     .cfg = {.workers = 3, .scale_in = {PROTECT("web-4")}},
     .nodes = {N("a", 100), N("b", 300), N("c", 200), {.id = "d", .name = "web-4", .created = 400}},
     .acts = {REMOVE(NULL, 4, 3, "b", DECLARED)}},
    {.name = "protect_label_default_always_honoured",
     .cfg = {.workers = 3},
     .nodes = {N("a", 100), N("b", 300), N("c", 200),
               {.id = "d", .created = 400, .label = "nodeherd.io/protect=true"}},
     .acts = {REMOVE(NULL, 4, 3, "b", DECLARED)}},
    {.name = "protect_label_key_only_matches_any_value",
     .cfg = {.workers = 3,
             .scale_in = {.protect_labels = (struct nh_cfg_label[]){{"team", NULL}},
                          .n_protect_labels = 1}},
     .nodes = {N("a", 100), N("b", 300), N("c", 200),
               {.id = "d", .created = 400, .label = "team=ml"}},
     .acts = {REMOVE(NULL, 4, 3, "b", DECLARED)}},
    {.name = "protect_label_other_value_does_not_protect",
     .cfg = {.workers = 3,
             .scale_in = {.protect_labels = (struct nh_cfg_label[]){{"team", "ml"}},
                          .n_protect_labels = 1}},
     .nodes = {N("a", 100), N("b", 300), N("c", 200),
               {.id = "d", .created = 400, .label = "team=web"}},
     .acts = {REMOVE(NULL, 4, 3, "d", DECLARED)}},
    {.name = "all_protected_limits_to_nothing",
     .cfg = {.workers = 3, .scale_in = {PROTECT("a", "b", "c", "d")}},
     .nodes = {FOUR},
     .notes = {NOTE(LIMITED, PROTECT)}},
    {.name = "partly_protected_removes_the_rest",
     .cfg = {.workers = 5, .scale_in = {PROTECT("c", "d", "e", "f", "g", "h")}},
     .nodes = {EIGHT},
     .acts = {REMOVE(NULL, 8, 6, "b,a", DECLARED)},
     .notes = {NOTE(LIMITED, PROTECT)},
     .msg_has = "only 2 of 3 surplus nodes can be removed (6 protected, 0 pending)"},

    /* bounds and budget */
    {.name = "budget_limits_victims",
     .mpc = 1,
     .cfg = {.workers = 6},
     .nodes = {EIGHT},
     .acts = {REMOVE(NULL, 8, 7, "h", DECLARED)},
     .notes = {NOTE(LIMITED, BUDGET)}},
    {.name = "budget_zero_removes_nothing",
     .mpc = -1,
     .cfg = {.workers = 7},
     .nodes = {EIGHT},
     .notes = {NOTE(LIMITED, BUDGET)}},
    {.name = "removals_in_flight_count_against_budget",
     .mpc = 2,
     .cfg = {.workers = 5},
     .nodes = {EIGHT, NX("i", 9)},
     .acts = {REMOVE(NULL, 8, 7, "h", DECLARED)},
     .notes = {NOTE(LIMITED, BUDGET)},
     .msg_has = "max_per_cycle 2, 1 already being removed"},
    {.name = "removals_in_flight_can_use_up_budget",
     .mpc = 1,
     .cfg = {.workers = 7},
     .nodes = {EIGHT, NX("i", 9)},
     .notes = {NOTE(LIMITED, BUDGET)}},
    {.name = "modelarts_deleting_counts_against_budget",
     .kind = NH_PROVIDER_MODELARTS,
     .mpc = 2,
     .cfg = {.workers = -1,
             CPOOLS({.name = "pool-a", .nodes = 4}, {.name = "pool-b", .nodes = -1})},
     .nodes = {PN("pool-a", "a1", 1), PN("pool-a", "a2", 2), PN("pool-a", "a3", 3),
               PN("pool-a", "a4", 4), PN("pool-a", "a5", 5), PN("pool-a", "a6", 6)},
     .pools = {{.id = "pool-a", .name = "pool-a", .desired = 6, .current = 6},
               {.id = "pool-b", .name = "pool-b", .desired = 10, .current = 10, .deleting = 1}},
     .acts = {REMOVE("pool-a", 6, 5, "a6", DECLARED)},
     .notes = {NOTE(LIMITED, BUDGET)}},
    {.name = "min_stops_scale_in",
     .cfg = {.workers = 1, .min = 3},
     .nodes = {N("a", 1), N("b", 2), N("c", 3)},
     .notes = {NOTE(LIMITED, MIN)}},
    {.name = "min_forces_scale_out",
     .cfg = {.workers = 1, .min = 3, .has_scale_out = true},
     .nodes = {N("a", 1), N("b", 2)},
     .acts = {SCALE_C(2, 3, MIN)},
     .notes = {NOTE(LIMITED, MIN)}},
    {.name = "max_forces_scale_in",
     .cfg = {.workers = 10, .max = 5},
     .nodes = {N("a", 1), N("b", 2), N("c", 3), N("d", 4), N("e", 5), N("f", 6), N("g", 7)},
     .acts = {REMOVE(NULL, 7, 5, "g,f", MAX)},
     .notes = {NOTE(LIMITED, MAX)}},
    {.name = "max_caps_scale_out",
     .cfg = {.workers = 10, .max = 5, .has_scale_out = true},
     .nodes = {N("a", 1), N("b", 2), N("c", 3)},
     .acts = {SCALE_C(3, 5, MAX)},
     .notes = {NOTE(LIMITED, MAX)}},
    {.name = "min_above_max_is_blocked",
     .cfg = {.workers = 3, .min = 5, .max = 4},
     .nodes = {N("a", 1), N("b", 2), N("c", 3)},
     .notes = {NOTE(BLOCKED, MIN)}},

    /* the removal-cap chain, in plan.c's order: wanted (surplus or remove:),
     * then min, then candidates (protect, pending), then the budget; each
     * cap that binds leaves its LIMITED note, in that order */
    {.name = "cap_chain_min_then_budget",
     .mpc = 2,
     .share = 1.0,
     .cfg = {.workers = 6, .min = 3, REMOVE_LIST("a", "b", "c", "d", "e", "f")},
     .nodes = {EIGHT},
     .acts = {REMOVE(NULL, 8, 6, "f,e", REMOVE_LIST)},
     .notes = {NOTE(LIMITED, MIN), NOTE(LIMITED, BUDGET)},
     .msg_has = "removing 2 of 5 this cycle"},
    {.name = "cap_chain_candidates_then_budget",
     .mpc = 1,
     .cfg = {.workers = 5, .scale_in = {PROTECT("c", "d", "e", "f", "g", "h")}},
     .nodes = {EIGHT},
     .acts = {REMOVE(NULL, 8, 7, "b", DECLARED)},
     .notes = {NOTE(LIMITED, PROTECT), NOTE(LIMITED, BUDGET)},
     .msg_has = "removing 1 of 2 this cycle"},

    /* remove: lists */
    {.name = "remove_list_by_id",
     .cfg = {.workers = 4, REMOVE_LIST("b")},
     .nodes = {FOUR},
     .acts = {REMOVE(NULL, 4, 3, "b", REMOVE_LIST)}},
    {.name = "remove_list_by_name",
     .cfg = {.workers = 4, REMOVE_LIST("web-b")},
     .nodes = {N("a", 100), {.id = "b", .name = "web-b", .created = 300}, N("c", 200),
               N("d", 400)},
     .acts = {REMOVE(NULL, 4, 3, "b", REMOVE_LIST)}},
    {.name = "remove_list_goes_first_then_order",
     .cfg = {.workers = 2, REMOVE_LIST("a")},
     .nodes = {FOUR},
     .acts = {REMOVE(NULL, 4, 2, "a,d", REMOVE_LIST)}},
    {.name = "remove_list_satisfies_surplus",
     .cfg = {.workers = 3, REMOVE_LIST("a")},
     .nodes = {FOUR},
     .acts = {REMOVE(NULL, 4, 3, "a", REMOVE_LIST)}},
    {.name = "remove_list_never_protected",
     .cfg = {.workers = 4, REMOVE_LIST("d"), .scale_in = {PROTECT("d")}},
     .nodes = {FOUR},
     .notes = {NOTE(LIMITED, PROTECT)}},
    {.name = "remove_list_never_master",
     .cfg = {.workers = 3, REMOVE_LIST("m1")},
     .nodes = {NM("m1", 9), N("a", 1), N("b", 2), N("c", 3)},
     .notes = {NOTE(LIMITED, PROTECT)},
     .msg_has = "master"},
    {.name = "remove_list_never_below_min",
     .cfg = {.workers = 4, .min = 4, REMOVE_LIST("b")},
     .nodes = {FOUR},
     .notes = {NOTE(LIMITED, MIN)}},
    {.name = "remove_list_absent_node_is_done",
     .cfg = {.workers = 4, REMOVE_LIST("zz")},
     .nodes = {FOUR}},
    {.name = "remove_list_node_already_removing",
     .cfg = {.workers = 3, REMOVE_LIST("d")},
     .nodes = {N("a", 1), N("b", 2), N("c", 3), NX("d", 4)}},
    {.name = "remove_list_before_scale_out",
     .cfg = {.workers = 5, .has_scale_out = true, REMOVE_LIST("b")},
     .nodes = {FOUR},
     .acts = {REMOVE(NULL, 4, 3, "b", REMOVE_LIST)}},
    {.name = "remove_list_may_name_a_pending_node",
     .cfg = {.workers = 4, REMOVE_LIST("d")},
     .nodes = {N("a", 1), N("b", 2), N("c", 3), NP("d", 4)},
     .acts = {REMOVE(NULL, 4, 3, "d", REMOVE_LIST)}},
    {.name = "remove_list_in_undeclared_pool",
     .cfg = {.workers = -1, REMOVE_LIST("q1")},
     .nodes = {N("a", 1), N("b", 2), N("c", 3), PN("np9", "q1", 4), PN("np9", "q2", 5)},
     .pools = {{.id = "np9", .name = "batch"}},
     .acts = {REMOVE("np9", 2, 1, "q1", REMOVE_LIST)}},

    /* gates: not observed, busy, incomplete */
    {.name = "not_observed_waits",
     .unobserved = true,
     .cfg = {.workers = 1},
     .notes = {NOTE(WAITING, INCOMPLETE)},
     .msg_has = "not observed yet"},
    {.name = "busy_cluster_plans_nothing",
     .n_busy = 1,
     .cfg = {.workers = 3},
     .nodes = {FOUR},
     .notes = {NOTE(WAITING, BUSY)},
     .msg_has = "remove-nodes in flight (job T-123), 2 nodes"},
    {.name = "busy_notes_every_operation",
     .n_busy = 2,
     .cfg = {.workers = 6, .has_scale_out = true},
     .nodes = {FOUR},
     .notes = {NOTE(WAITING, BUSY), NOTE(WAITING, BUSY)}},
    {.name = "incomplete_observation_removes_nothing",
     .incomplete = true,
     .cfg = {.workers = 3},
     .nodes = {FOUR},
     .notes = {NOTE(REFUSED, INCOMPLETE)},
     .msg_has = "page 2 of nodes missing"},
    {.name = "kubernetes_not_read_removes_nothing",
     .kube_unread = true,
     .cfg = {.workers = 3},
     .nodes = {FOUR},
     .notes = {NOTE(REFUSED, INCOMPLETE)},
     .msg_has = "Kubernetes not read"},
    {.name = "kubernetes_not_read_scales_nothing",
     .kube_unread = true,
     .cfg = {.workers = 6, .has_scale_out = true},
     .nodes = {FOUR},
     .notes = {NOTE(REFUSED, INCOMPLETE)}},
    {.name = "incomplete_observation_scales_nothing",
     .incomplete = true,
     .cfg = {.workers = 6, .has_scale_out = true},
     .nodes = {FOUR},
     .notes = {NOTE(REFUSED, INCOMPLETE)}},
    {.name = "duplicate_node_id_is_incomplete",
     .cfg = {.workers = 1},
     .nodes = {N("a", 1), N("a", 1), N("b", 2)},
     .notes = {NOTE(REFUSED, INCOMPLETE)},
     .msg_has = "listed twice"},

    /* share guard */
    {.name = "share_guard_refuses_declared_mass_removal",
     .mpc = 1,
     .cfg = {.workers = 1},
     .nodes = {EIGHT, N("i", 9), N("j", 10)},
     .notes = {NOTE(LIMITED, BUDGET), NOTE(REFUSED, SHARE)},
     .msg_has = "would remove 9 of 10 nodes (90% > 50%)",
     .fix_has = "set confirm_mass_removal: true for clusters[web]"},
    {.name = "share_guard_confirmed",
     .mpc = 1,
     .cfg = {.workers = 1, .confirm_mass_removal = true},
     .nodes = {EIGHT, N("i", 9), N("j", 10)},
     .acts = {REMOVE(NULL, 10, 9, "j", DECLARED)},
     .notes = {NOTE(LIMITED, BUDGET)}},
    {.name = "share_guard_allows_exactly_the_share",
     .cfg = {.workers = 2},
     .nodes = {FOUR},
     .acts = {REMOVE(NULL, 4, 2, "d,b", DECLARED)}},
    {.name = "share_guard_uses_policy_share",
     .share = 0.25,
     .cfg = {.workers = 2},
     .nodes = {FOUR},
     .notes = {NOTE(REFUSED, SHARE)},
     .msg_has = "(50% > 25%)"},
    {.name = "share_guard_keeps_scale_out",
     .cfg = {.workers = 1, CPOOLS({.name = "gpu", .nodes = 3})},
     .nodes = {FOUR, PN("np1", "p1", 1)},
     .pools = {{.id = "np1", .name = "gpu"}},
     .acts = {SCALE_P("np1", 1, 3, DECLARED)},
     .notes = {NOTE(REFUSED, SHARE)}},

    /* pools */
    {.name = "pool_scale_out_absolute",
     .cfg = {.workers = -1, CPOOLS({.name = "gpu", .nodes = 3})},
     .nodes = {PN("np1", "p1", 1)},
     .pools = {{.id = "np1", .name = "gpu"}},
     .acts = {SCALE_P("np1", 1, 3, DECLARED)}},
    {.name = "pool_scale_in_names_pool_victims",
     .cfg = {.workers = -1, CPOOLS({.name = "gpu", .nodes = 2})},
     .nodes = {FOUR, PN("np1", "p1", 1), PN("np1", "p2", 2), PN("np1", "p3", 3)},
     .pools = {{.id = "np1", .name = "gpu"}},
     .acts = {REMOVE("np1", 3, 2, "p3", DECLARED)}},
    {.name = "pool_unhealthy_first",
     .cfg = {.workers = -1, CPOOLS({.name = "gpu", .nodes = 2})},
     .nodes = {FOUR, {.pool = "np1", .id = "p1", .created = 1, .health = 'u'},
               PN("np1", "p2", 2), PN("np1", "p3", 3)},
     .pools = {{.id = "np1", .name = "gpu"}},
     .acts = {REMOVE("np1", 3, 2, "p1", DECLARED)}},
    {.name = "pool_matched_by_id_before_name",
     .cfg = {.workers = -1, CPOOLS({.name = "gpu", .id = "np1", .nodes = 2})},
     .nodes = {PN("np1", "p1", 1)},
     .pools = {{.id = "np1", .name = "gpu-renamed"}, {.id = "np2", .name = "gpu"}},
     .acts = {SCALE_P("np1", 1, 2, DECLARED)}},
    {.name = "pool_missing_is_blocked",
     .cfg = {.workers = -1, CPOOLS({.name = "gpu-a", .nodes = 2})},
     .pools = {{.id = "np1", .name = "cpu"}},
     .notes = {NOTE(BLOCKED, UNSUPPORTED)},
     .msg_has = "pool gpu-a not found in cluster web; nodeherd does not create pools"},
    {.name = "pool_ambiguous_name_is_blocked",
     .cfg = {.workers = -1, CPOOLS({.name = "gpu", .nodes = 2})},
     .pools = {{.id = "np1", .name = "gpu"}, {.id = "np2", .name = "gpu"}},
     .notes = {NOTE(BLOCKED, UNSUPPORTED)},
     .fix_has = "set id:"},
    {.name = "pool_autoscaler_on_is_blocked",
     .cfg = {.workers = -1, CPOOLS({.name = "gpu-a", .nodes = 3})},
     .nodes = {PN("np1", "p1", 1)},
     .pools = {{.id = "np1", .name = "gpu-a", .autoscaling = true}},
     .notes = {NOTE(BLOCKED, UNSUPPORTED)},
     .fix_has = "set manage_autoscaling: true or remove nodes: from gpu-a"},
    {.name = "pool_autoscaler_on_managed_when_asked",
     .cfg = {.workers = -1, CPOOLS({.name = "gpu-a", .nodes = 3, .manage_autoscaling = true})},
     .nodes = {PN("np1", "p1", 1)},
     .pools = {{.id = "np1", .name = "gpu-a", .autoscaling = true}},
     .acts = {SCALE_P("np1", 1, 3, DECLARED)}},
    {.name = "pool_converging_waits",
     .cfg = {.workers = -1, CPOOLS({.name = "gpu", .nodes = 5})},
     .nodes = {PN("np1", "p1", 1)},
     .pools = {{.id = "np1", .name = "gpu", .desired = 3, .current = 1, .creating = 2}},
     .notes = {NOTE(WAITING, BUSY)}},
    {.name = "pool_being_deleted_waits",
     .cfg = {.workers = -1, CPOOLS({.name = "gpu", .nodes = 5})},
     .nodes = {PN("np1", "p1", 1)},
     .pools = {{.id = "np1", .name = "gpu", .being_deleted = true}},
     .notes = {NOTE(WAITING, BUSY)}},
    {.name = "pool_not_managed_is_only_observed",
     .cfg = {.workers = -1, CPOOLS({.name = "gpu", .nodes = -1})},
     .nodes = {PN("np1", "p1", 1), PN("np1", "p2", 2), PN("np1", "p3", 3)},
     .pools = {{.id = "np1", .name = "gpu"}}},
    {.name = "cce_default_pool_not_scaled",
     .kind = NH_PROVIDER_CCE,
     .cfg = {.workers = -1, CPOOLS({.name = "DefaultPool", .nodes = 3})},
     .nodes = {PN("dp", "p1", 1)},
     .pools = {{.id = "dp", .name = "DefaultPool", .is_default = true}},
     .notes = {NOTE(BLOCKED, UNSUPPORTED)}},
    {.name = "pools_follow_declaration_order",
     .cfg = {.workers = -1, CPOOLS({.name = "b-pool", .nodes = 2}, {.name = "a-pool", .nodes = 3})},
     .nodes = {PN("np1", "p1", 1), PN("np2", "q1", 1)},
     .pools = {{.id = "np1", .name = "a-pool"}, {.id = "np2", .name = "b-pool"}},
     .acts = {SCALE_P("np2", 1, 2, DECLARED), SCALE_P("np1", 1, 3, DECLARED)}},
    {.name = "budget_shared_across_workers_and_pools",
     .mpc = 2,
     .cfg = {.workers = 3, CPOOLS({.name = "gpu", .nodes = 1})},
     .nodes = {FOUR, PN("np1", "p1", 1), PN("np1", "p2", 2), PN("np1", "p3", 3)},
     .pools = {{.id = "np1", .name = "gpu"}},
     .acts = {REMOVE(NULL, 4, 3, "d", DECLARED), REMOVE("np1", 3, 2, "p3", DECLARED)},
     .notes = {NOTE(LIMITED, BUDGET)}},

    /* ModelArts: sizes from the node pools' counters, victims named from
     * their node lists (BatchDeletePoolNodes) */
    {.name = "modelarts_pool_scale_out",
     .kind = NH_PROVIDER_MODELARTS,
     .cfg = {.workers = -1, CPOOLS({.name = "pool-a", .nodes = 4})},
     .pools = {{.id = "pool-a", .name = "pool-a", .desired = 2, .current = 2}},
     .acts = {SCALE_P("pool-a", 2, 4, DECLARED)}},
    {.name = "modelarts_scale_in_names_victims_within_budget",
     .kind = NH_PROVIDER_MODELARTS,
     .mpc = 2,
     .cfg = {.workers = -1,
             CPOOLS({.name = "pool-a", .nodes = 2}, {.name = "pool-b", .nodes = -1})},
     .nodes = {PN("pool-a", "a1", 1), PN("pool-a", "a2", 2), PN("pool-a", "a3", 3),
               PN("pool-a", "a4", 4), PN("pool-a", "a5", 5), PN("pool-a", "a6", 6)},
     .pools = {{.id = "pool-a", .name = "pool-a", .desired = 6, .current = 6},
               {.id = "pool-b", .name = "pool-b", .desired = 10, .current = 10}},
     .acts = {REMOVE("pool-a", 6, 4, "a6,a5", DECLARED)},
     .notes = {NOTE(LIMITED, BUDGET)},
     .why_has = "unhealthy, then newest first"},
    /* issue #19, done when: a pool 3 -> 2 with one Abnormal node loses it */
    {.name = "modelarts_abnormal_node_goes_first",
     .kind = NH_PROVIDER_MODELARTS,
     .cfg = {.workers = -1, CPOOLS({.name = "pool-a", .nodes = 2})},
     .nodes = {PN("pool-a", "a1", 1), PNU("pool-a", "a2", 2), PN("pool-a", "a3", 3)},
     .pools = {{.id = "pool-a", .name = "pool-a", .desired = 3, .current = 3}},
     .acts = {REMOVE("pool-a", 3, 2, "a2", DECLARED)}},
    {.name = "modelarts_remove_list_names_the_node",
     .kind = NH_PROVIDER_MODELARTS,
     .cfg = {.workers = -1, REMOVE_LIST("x1"), CPOOLS({.name = "pool-a", .nodes = -1})},
     .nodes = {PN("pool-a", "x1", 1), PN("pool-a", "x2", 2), PN("pool-a", "x3", 3)},
     .pools = {{.id = "pool-a", .name = "pool-a", .desired = 3, .current = 3}},
     .acts = {REMOVE("pool-a", 3, 2, "x1", REMOVE_LIST)}},
    {.name = "modelarts_keeps_one_node_in_the_resource_pool",
     .kind = NH_PROVIDER_MODELARTS,
     .share = 1.0,
     .cfg = {.workers = -1, CPOOLS({.name = "pool-a", .nodes = 0}, {.name = "pool-b", .nodes = 0})},
     .nodes = {PN("pool-a", "a1", 1), PN("pool-a", "a2", 2), PN("pool-b", "b1", 3)},
     .pools = {{.id = "pool-a", .name = "pool-a", .desired = 2, .current = 2},
               {.id = "pool-b", .name = "pool-b", .desired = 1, .current = 1}},
     .acts = {REMOVE("pool-a", 2, 0, "a2,a1", DECLARED)},
     .notes = {NOTE(LIMITED, MIN)},
     .msg_has = "ModelArts keeps at least 1 node in the resource pool: removing 0 instead of 1"},
    {.name = "modelarts_count_made_to_match",
     .kind = NH_PROVIDER_MODELARTS,
     .cfg = {.workers = -1, CPOOLS({.name = "pool-a", .nodes = 2})},
     .nodes = {PN("pool-a", "a1", 1), PN("pool-a", "a2", 2)},
     .pools = {{.id = "pool-a", .name = "pool-a", .desired = 3, .current = 2}},
     .acts = {SCALE_P("pool-a", 2, 2, DECLARED)},
     .why_has = "count 3: set count to 2 (no node is removed)"},
    {.name = "modelarts_yearly_monthly_pool_not_removed",
     .kind = NH_PROVIDER_MODELARTS,
     .cfg = {.workers = -1, CPOOLS({.name = "pool-a", .nodes = 1})},
     .nodes = {{.pool = "pool-a", .id = "a1", .created = 1, .sub = true},
               {.pool = "pool-a", .id = "a2", .created = 2, .sub = true}},
     .pools = {{.id = "pool-a", .name = "pool-a", .desired = 2, .current = 2, .sub = true}},
     .notes = {NOTE(LIMITED, SUBSCRIPTION)},
     .msg_has = "only 0 of 1 surplus nodes can be removed; 2 yearly/monthly (subscription) "
                "nodes not chosen: ModelArts does not delete"},
    {.name = "modelarts_prune_of_yearly_monthly_pool_refused",
     .kind = NH_PROVIDER_MODELARTS,
     .cfg = {.workers = -1, .prune = true, CPOOLS({.name = "pool-a", .nodes = -1})},
     .pools = {{.id = "pool-b", .name = "pool-b", .current = 2, .desired = 2, .sub = true},
               {.id = "pool-a", .name = "pool-a", .current = 6, .desired = 6}},
     .notes = {NOTE(BLOCKED, SUBSCRIPTION)},
     .fix_has = "unsubscribe in the ModelArts console"},
    {.name = "modelarts_prune_waits_while_nodes_go",
     .kind = NH_PROVIDER_MODELARTS,
     .cfg = {.workers = -1, .prune = true, CPOOLS({.name = "pool-a", .nodes = -1})},
     .pools = {{.id = "pool-b", .name = "pool-b", .current = 0, .desired = 0, .deleting = 2},
               {.id = "pool-a", .name = "pool-a", .current = 6, .desired = 6}},
     .notes = {NOTE(WAITING, BUSY)}},

    /* ACK: steps, billing, what the cluster says */
    {.name = "ack_pool_scale_out_in_steps_of_500",
     .cfg = {.workers = -1, CPOOLS({.name = "big", .nodes = 900, .max = 1000})},
     .nodes = {PN("np1", "p1", 1), PN("np1", "p2", 2)},
     .pools = {{.id = "np1", .name = "big", .desired = 2, .current = 2}},
     .acts = {SCALE_P("np1", 2, 502, DECLARED)},
     .notes = {NOTE(LIMITED, STEP)},
     .msg_has = "ACK adds at most 500 nodes per call"},
    {.name = "ack_subscription_never_released",
     .cfg = {.workers = 2},
     .nodes = {N("a", 1), N("b", 2), NS("c", 3), NS("d", 4)},
     .acts = {REMOVE(NULL, 4, 2, "b,a", DECLARED)}},
    {.name = "ack_subscription_not_removable_said_once",
     .cfg = {.workers = 2},
     .nodes = {N("a", 1), NS("b", 2), NS("c", 3), NS("d", 4)},
     .acts = {REMOVE(NULL, 4, 3, "a", DECLARED)},
     .notes = {NOTE(LIMITED, SUBSCRIPTION)},
     .msg_has = "3 yearly/monthly (subscription) nodes not chosen: ACK does not release"},
    {.name = "ack_subscription_removed_when_servers_are_kept",
     .keep_servers = true,
     .cfg = {.workers = 3},
     .nodes = {N("a", 1), N("b", 2), N("c", 3), NS("d", 4)},
     .acts = {REMOVE(NULL, 4, 3, "d", DECLARED)},
     .notes = {NOTE(INFO, SERVERS_KEPT)},
     .why_has = "their servers keep running (release_instances: false)"},
    {.name = "busy_cluster_state_waits",
     .cstate = NH_CLUSTER_BUSY,
     .cfg = {.workers = 3},
     .nodes = {FOUR},
     .notes = {NOTE(WAITING, CLUSTER_STATE)},
     .msg_has = "the cluster is upgrading: it accepts no change until that is over"},
    {.name = "refusing_cluster_state_is_blocked",
     .cstate = NH_CLUSTER_REFUSES,
     .cfg = {.workers = 3},
     .nodes = {FOUR},
     .notes = {NOTE(BLOCKED, CLUSTER_STATE)}},
    {.name = "accepting_cluster_state_plans",
     .cstate = NH_CLUSTER_ACCEPTS,
     .cfg = {.workers = 3},
     .nodes = {FOUR},
     .acts = {REMOVE(NULL, 4, 3, "d", DECLARED)}},
    {.name = "labels_not_checked_without_kubernetes",
     .no_kube = true,
     .cfg = {.workers = 3},
     .nodes = {FOUR},
     .acts = {REMOVE(NULL, 4, 3, "d", DECLARED)},
     .notes = {NOTE(INFO, LABELS)},
     .msg_has = "labels not checked: no Kubernetes access; protection by id and name only",
     .fix_has = "add `kubernetes:` to the cluster"},
    {.name = "labels_note_once_per_cluster",
     .no_kube = true,
     .cfg = {.workers = 3, CPOOLS({.name = "gpu", .nodes = 1})},
     .nodes = {FOUR, PN("np1", "p1", 1)},
     .pools = {{.id = "np1", .name = "gpu"}},
     .acts = {REMOVE(NULL, 4, 3, "d", DECLARED)},
     .notes = {NOTE(INFO, LABELS)}},

    /* CCE: which removal, billing, pool conditions */
    {.name = "cce_pool_nodes_kept_servers_is_blocked",
     .kind = NH_PROVIDER_CCE,
     .keep_servers = true,
     .cfg = {.workers = -1, CPOOLS({.name = "gpu", .nodes = 2})},
     .nodes = {PN("np1", "p1", 1), PN("np1", "p2", 2), PN("np1", "p3", 3)},
     .pools = {{.id = "np1", .name = "gpu", .desired = 3, .current = 3}},
     .notes = {NOTE(BLOCKED, SERVERS_KEPT)},
     .fix_has = "set scale_in.release_instances: true"},
    {.name = "cce_loose_nodes_kept_servers_removes",
     .kind = NH_PROVIDER_CCE,
     .keep_servers = true,
     .cfg = {.workers = 3},
     .nodes = {FOUR},
     .acts = {REMOVE(NULL, 4, 3, "d", DECLARED)},
     .notes = {NOTE(INFO, SERVERS_KEPT)}},
    {.name = "cce_yearly_monthly_not_deleted",
     .kind = NH_PROVIDER_CCE,
     .cfg = {.workers = -1, CPOOLS({.name = "gpu", .nodes = 2})},
     .nodes = {PN("np1", "p1", 1), PN("np1", "p2", 2),
               {.pool = "np1", .id = "p3", .created = 3, .sub = true}},
     .pools = {{.id = "np1", .name = "gpu", .desired = 3, .current = 3}},
     .acts = {REMOVE("np1", 3, 2, "p2", DECLARED)}},
    {.name = "cce_locked_pool_is_blocked",
     .kind = NH_PROVIDER_CCE,
     .cfg = {.workers = -1, CPOOLS({.name = "gpu", .nodes = 1})},
     .nodes = {PN("np1", "p1", 1), PN("np1", "p2", 2)},
     .pools = {{.id = "np1", .name = "gpu", .desired = 2, .current = 2, .locked = true,
                .blocked = "condition LockedByOrder=True: order pending"}},
     .notes = {NOTE(BLOCKED, POOL_CONDITION)},
     .msg_has = "locked (condition LockedByOrder=True: order pending)"},
    {.name = "cce_unscalable_pool_does_not_grow",
     .kind = NH_PROVIDER_CCE,
     .cfg = {.workers = -1, CPOOLS({.name = "gpu", .nodes = 4})},
     .nodes = {PN("np1", "p1", 1), PN("np1", "p2", 2)},
     .pools = {{.id = "np1", .name = "gpu", .desired = 2, .current = 2,
                .blocked = "condition Scalable=False: SoldOut"}},
     .notes = {NOTE(BLOCKED, POOL_CONDITION)},
     .msg_has = "cannot grow now (condition Scalable=False: SoldOut)"},
    {.name = "cce_unscalable_pool_still_shrinks",
     .kind = NH_PROVIDER_CCE,
     .cfg = {.workers = -1, CPOOLS({.name = "gpu", .nodes = 1})},
     .nodes = {PN("np1", "p1", 1), PN("np1", "p2", 2)},
     .pools = {{.id = "np1", .name = "gpu", .desired = 2, .current = 2,
                .blocked = "condition Scalable=False: SoldOut"}},
     .acts = {REMOVE("np1", 2, 1, "p2", DECLARED)}},
    {.name = "cce_pool_without_desired_count_scales_out",
     .kind = NH_PROVIDER_CCE,
     .cfg = {.workers = -1, CPOOLS({.name = "gpu", .nodes = 3})},
     .nodes = {PN("np1", "p1", 1)},
     .pools = {{.id = "np1", .name = "gpu", .desired = -1, .current = 1}},
     .acts = {SCALE_P("np1", 1, 3, DECLARED)}},
    {.name = "cce_pool_without_desired_count_converging_waits",
     .kind = NH_PROVIDER_CCE,
     .cfg = {.workers = -1, CPOOLS({.name = "gpu", .nodes = 3})},
     .nodes = {PN("np1", "p1", 1)},
     .pools = {{.id = "np1", .name = "gpu", .desired = -1, .current = 1, .creating = 1}},
     .notes = {NOTE(WAITING, BUSY)}},

    /* prune */
    {.name = "prune_deletes_undeclared_modelarts_pool",
     .kind = NH_PROVIDER_MODELARTS,
     .cfg = {.workers = -1, .prune = true, CPOOLS({.name = "pool-a", .nodes = -1})},
     .pools = {{.id = "pool-b", .name = "pool-b", .current = 2, .desired = 2},
               {.id = "pool-a", .name = "pool-a", .current = 6, .desired = 6}},
     .acts = {DELETE("pool-b", 2)}},
    {.name = "no_prune_without_flag",
     .kind = NH_PROVIDER_MODELARTS,
     .cfg = {.workers = -1, CPOOLS({.name = "pool-a", .nodes = -1})},
     .pools = {{.id = "pool-b", .name = "pool-b", .current = 2, .desired = 2},
               {.id = "pool-a", .name = "pool-a", .current = 6, .desired = 6}}},
    {.name = "prune_on_ack_is_blocked",
     .cfg = {.workers = -1, .prune = true, CPOOLS({.name = "gpu", .nodes = -1})},
     .nodes = {PN("np1", "p1", 1), PN("np2", "q1", 1)},
     .pools = {{.id = "np1", .name = "gpu"}, {.id = "np2", .name = "cpu"}},
     .notes = {NOTE(BLOCKED, UNSUPPORTED)}},
    {.name = "prune_refused_when_declaration_is_empty",
     .kind = NH_PROVIDER_MODELARTS,
     .cfg = {.workers = -1, .prune = true, .pools_declared = true},
     .pools = {{.id = "pool-a", .name = "pool-a", .current = 6, .desired = 6},
               {.id = "pool-b", .name = "pool-b", .current = 2, .desired = 2}},
     .notes = {NOTE(REFUSED, EMPTY_DESIRED)}},
    {.name = "prune_of_empty_declaration_when_confirmed",
     .kind = NH_PROVIDER_MODELARTS,
     .cfg = {.workers = -1, .prune = true, .pools_declared = true, .confirm_mass_removal = true},
     .pools = {{.id = "pool-b", .name = "pool-b", .current = 2, .desired = 2},
               {.id = "pool-a", .name = "pool-a", .current = 6, .desired = 6}},
     .acts = {DELETE("pool-a", 6), DELETE("pool-b", 2)}},
    {.name = "prune_refused_when_most_pools_vanish",
     .kind = NH_PROVIDER_MODELARTS,
     .prev = &prev_abc,
     .cfg = {.workers = -1, .prune = true, CPOOLS({.name = "A", .nodes = -1})},
     .pools = {{.id = "A", .name = "A", .current = 6, .desired = 6},
               {.id = "B", .name = "B", .current = 1, .desired = 1},
               {.id = "C", .name = "C", .current = 1, .desired = 1}},
     .notes = {NOTE(REFUSED, EMPTY_DESIRED)}},
    {.name = "prune_after_losing_half_is_allowed",
     .kind = NH_PROVIDER_MODELARTS,
     .prev = &prev_ab,
     .cfg = {.workers = -1, .prune = true, CPOOLS({.name = "A", .nodes = -1})},
     .pools = {{.id = "A", .name = "A", .current = 6, .desired = 6},
               {.id = "B", .name = "B", .current = 2, .desired = 2}},
     .acts = {DELETE("B", 2)}},
    {.name = "prune_skips_default_and_deleting_pools",
     .kind = NH_PROVIDER_MODELARTS,
     .cfg = {.workers = -1, .prune = true, CPOOLS({.name = "pool-a", .nodes = -1})},
     .pools = {{.id = "pool-a", .name = "pool-a", .current = 6, .desired = 6},
               {.id = "pool-d", .name = "pool-d", .current = 2, .desired = 2, .is_default = true},
               {.id = "pool-x", .name = "pool-x", .current = 2, .desired = 2,
                .being_deleted = true}}},
    {.name = "prune_counts_in_share_guard",
     .kind = NH_PROVIDER_MODELARTS,
     .cfg = {.workers = -1, .prune = true, CPOOLS({.name = "pool-a", .nodes = -1})},
     .pools = {{.id = "pool-a", .name = "pool-a", .current = 2, .desired = 2},
               {.id = "pool-b", .name = "pool-b", .current = 6, .desired = 6}},
     .notes = {NOTE(REFUSED, SHARE)},
     .msg_has = "would remove 6 of 8 nodes (75% > 50%)"},
};

/* clang-format on */

/* ---------- runner ---------- */

static enum nh_node_health health_of(char h)
{
    switch (h) {
    case 'u':
    case 'f':
        return NH_NODE_UNHEALTHY;
    case 'p':
        return NH_NODE_PENDING;
    case 'x':
        return NH_NODE_REMOVING;
    default:
        return NH_NODE_READY;
    }
}

static void build_observed(const struct tcase *t, struct nh_observed *o)
{
    char name[64];
    memset(o, 0, sizeof(*o));
    o->complete = !t->incomplete;
    if (t->incomplete)
        snprintf(o->why, sizeof(o->why), "page 2 of nodes missing");
    o->cluster_state = t->cstate;
    if (t->cstate != NH_CLUSTER_UNKNOWN)
        snprintf(o->cluster_phase, sizeof(o->cluster_phase), "%s",
                 t->cstate == NH_CLUSTER_ACCEPTS ? "running"
                 : t->cstate == NH_CLUSTER_BUSY  ? "upgrading"
                                                 : "failed");
    for (size_t i = 0; i < 16 && t->nodes[i].id != NULL; i++) {
        const struct tnode *n = &t->nodes[i];
        snprintf(name, sizeof(name), "name-%s", n->id);
        struct nh_node *x = pt_node(o, n->id, n->name ? n->name : name, n->pool,
                                    health_of(n->health), n->created, !n->master, n->label);
        x->failed = n->health == 'f';
        x->subscription = n->sub;
        x->kube_pods_known = n->pods > 0;
        x->kube_pods = n->pods > 0 ? n->pods - 1 : 0;
        x->kube_hold = n->hold != NULL ? strdup(n->hold) : NULL;
    }
    for (size_t i = 0; i < 6 && t->pools[i].id != NULL; i++) {
        const struct tpool *tp = &t->pools[i];
        struct nh_obs_pool *p = pt_pool(o, tp->id, tp->name);
        p->desired = tp->desired;
        p->current = tp->current;
        p->ready = tp->current;
        p->creating = tp->creating;
        p->deleting = tp->deleting;
        p->autoscaling = tp->autoscaling;
        p->being_deleted = tp->being_deleted;
        p->is_default = tp->is_default;
        p->subscription = tp->sub;
        p->locked = tp->locked;
        if (tp->blocked != NULL) {
            p->blocked = strdup(tp->blocked);
            assert_non_null(p->blocked);
        }
    }
}

static void run_case(void **state)
{
    const struct tcase *t = *state;
    struct nh_cfg_provider prov = {.name = "p", .kind = t->kind};
    struct nh_cfg_cluster c = t->cfg;
    struct nh_cfg_pool pools[8];
    struct nh_observed o;
    struct nh_op ops[2];
    struct nh_policy pol = {.max_removal_share = t->share > 0 ? t->share : 0.5,
                            .previous = t->prev};
    struct nh_plan p = {0}, q = {0};
    size_t n_exp = 0;
    char buf[512];
    bool found;

    if (c.name == NULL)
        c.name = "web";
    c.provider = &prov;
    if (c.max == 0)
        c.max = 100;
    /* labels and release as a loaded config has them unless the row says */
    c.kube_access = !t->no_kube;
    c.scale_in.release_instances = !t->keep_servers;
    c.scale_in.max_per_cycle = t->mpc == 0 ? 10 : t->mpc < 0 ? 0 : t->mpc;
    assert_true(c.n_pools <= 8);
    for (size_t i = 0; i < c.n_pools; i++) {
        pools[i] = c.pools[i];
        if (pools[i].max == 0)
            pools[i].max = pools[i].nodes > 100 ? 1000 : 100;
    }
    c.pools = c.n_pools ? pools : NULL;

    memset(ops, 0, sizeof(ops));
    for (int i = 0; i < 2; i++) {
        ops[i].state = NH_OP_SENT;
        ops[i].job_id = i == 0 ? "T-123" : "T-124";
        ops[i].action.kind = NH_ACT_REMOVE_NODES;
        ops[i].action.cluster = "web";
        ops[i].action.n_nodes = 2;
    }
    build_observed(t, &o);
    o.kube_read = c.kube_access && !t->kube_unread;

    assert_int_equal(
        nh_plan_cluster(&c, t->unobserved ? NULL : &o, ops, (size_t)t->n_busy, &pol, &p), 0);
    assert_int_equal(
        nh_plan_cluster(&c, t->unobserved ? NULL : &o, ops, (size_t)t->n_busy, &pol, &q), 0);
    fprintf(stderr, "[%s]\n", t->name);
    pt_plan_dump(&p);
    assert_true(pt_plan_equal(&p, &q));

    /* actions, exactly */
    while (n_exp < 6 && t->acts[n_exp].on)
        n_exp++;
    assert_int_equal(p.n_actions, n_exp);
    for (size_t i = 0; i < n_exp; i++) {
        const struct texp_act *e = &t->acts[i];
        const struct nh_action *a = &p.actions[i];
        assert_int_equal(a->kind, e->kind);
        assert_int_equal(a->rule, e->rule);
        assert_int_equal(a->from, e->from);
        assert_int_equal(a->target, e->target);
        assert_string_equal(a->cluster, "web");
        assert_true(a->why[0] != '\0');
        if (e->pool_id != NULL) {
            assert_non_null(a->pool_id);
            assert_string_equal(a->pool_id, e->pool_id);
            assert_non_null(a->pool_name);
        } else {
            assert_null(a->pool_id);
        }
        if (a->kind == NH_ACT_REMOVE_NODES) {
            assert_non_null(e->victims);
            assert_string_equal(pt_join(a->node_ids, a->n_nodes, buf, sizeof(buf)), e->victims);
            assert_int_equal(a->pool_nodes, e->pool_id != NULL);
            assert_int_equal(a->target, a->from - (int)a->n_nodes);
            for (size_t k = 0; k < a->n_nodes; k++)
                assert_non_null(a->node_names[k]);
        } else {
            assert_int_equal(a->n_nodes, 0);
        }
    }
    /* notes, exactly (kind and rule, in order) */
    n_exp = 0;
    while (n_exp < 6 && t->notes[n_exp].on)
        n_exp++;
    assert_int_equal(p.n_notes, n_exp);
    for (size_t i = 0; i < n_exp; i++) {
        assert_int_equal(p.notes[i].kind, t->notes[i].kind);
        assert_int_equal(p.notes[i].rule, t->notes[i].rule);
        assert_string_equal(p.notes[i].cluster, "web");
        assert_true(p.notes[i].msg[0] != '\0');
    }
    if (t->msg_has != NULL) {
        found = false;
        for (size_t i = 0; i < p.n_notes; i++)
            found = found || strstr(p.notes[i].msg, t->msg_has) != NULL;
        assert_true(found);
    }
    if (t->fix_has != NULL) {
        found = false;
        for (size_t i = 0; i < p.n_notes; i++)
            found = found || strstr(p.notes[i].fix, t->fix_has) != NULL;
        assert_true(found);
    }
    if (t->why_has != NULL) {
        assert_true(p.n_actions > 0);
        assert_non_null(strstr(p.actions[0].why, t->why_has));
    }
    nh_plan_clear(&p);
    nh_plan_clear(&q);
    nh_observed_clear(&o);
}

/* ---------- hand-written tests ---------- */

static const struct nh_cfg_provider ack = {.name = "ack", .kind = NH_PROVIDER_ACK};

static void test_plan_victim_names_follow_ids(void **state)
{
    struct nh_cfg_cluster c = {.name = "web",
                               .provider = &ack,
                               .workers = 2,
                               .max = 10,
                               .kube_access = true,
                               .scale_in = {.max_per_cycle = 5, .release_instances = true}};
    struct nh_observed o = {.complete = true, .kube_read = true};
    struct nh_plan p = {0};
    char buf[128];
    (void)state;

    pt_node(&o, "i-1", "cn-hz.10.0.0.1", NULL, NH_NODE_READY, 1, true, NULL);
    pt_node(&o, "i-2", NULL, NULL, NH_NODE_READY, 2, true, NULL);
    pt_node(&o, "i-3", "cn-hz.10.0.0.3", NULL, NH_NODE_READY, 3, true, NULL);
    pt_node(&o, "i-4", "cn-hz.10.0.0.4", NULL, NH_NODE_READY, 4, true, NULL);
    assert_int_equal(nh_plan_cluster(&c, &o, NULL, 0, &(struct nh_policy){0.5, 0, NULL}, &p), 0);
    assert_int_equal(p.n_actions, 1);
    assert_string_equal(pt_join(p.actions[0].node_ids, 2, buf, sizeof(buf)), "i-4,i-3");
    assert_string_equal(pt_join(p.actions[0].node_names, 2, buf, sizeof(buf)),
                        "cn-hz.10.0.0.4,cn-hz.10.0.0.3");
    nh_plan_clear(&p);

    /* A node without a name is named by its id. */
    c.scale_in.order[0] = NH_ORDER_OLDEST;
    c.scale_in.n_order = 1;
    c.workers = 3;
    assert_int_equal(nh_plan_cluster(&c, &o, NULL, 0, NULL, &p), 0);
    assert_int_equal(p.n_actions, 1);
    assert_string_equal(p.actions[0].node_ids[0], "i-1");
    nh_plan_clear(&p);
    c.scale_in.protect = (char *[]){"i-1"};
    c.scale_in.n_protect = 1;
    assert_int_equal(nh_plan_cluster(&c, &o, NULL, 0, NULL, &p), 0);
    assert_int_equal(p.n_actions, 1);
    assert_string_equal(p.actions[0].node_ids[0], "i-2");
    assert_string_equal(p.actions[0].node_names[0], "i-2");
    nh_plan_clear(&p);
    nh_observed_clear(&o);
}

static void test_plan_appends_to_existing_plan(void **state)
{
    struct nh_cfg_cluster web = {.name = "web",
                                 .provider = &ack,
                                 .workers = 3,
                                 .max = 10,
                                 .kube_access = true,
                                 .scale_in = {.max_per_cycle = 1, .release_instances = true}};
    struct nh_cfg_cluster api = {.name = "api",
                                 .provider = &ack,
                                 .workers = 5,
                                 .max = 10,
                                 .has_scale_out = true,
                                 .kube_access = true,
                                 .scale_in = {.max_per_cycle = 1, .release_instances = true}};
    struct nh_observed o = {.complete = true, .kube_read = true};
    struct nh_plan p = {0};
    (void)state;

    for (int i = 0; i < 4; i++) {
        char id[8];
        snprintf(id, sizeof(id), "n%d", i);
        pt_node(&o, id, id, NULL, NH_NODE_READY, i, true, NULL);
    }
    assert_int_equal(nh_plan_cluster(&web, &o, NULL, 0, NULL, &p), 0);
    assert_int_equal(nh_plan_cluster(&api, NULL, NULL, 0, NULL, &p), 0);
    assert_int_equal(nh_plan_cluster(&api, &o, NULL, 0, NULL, &p), 0);
    assert_int_equal(p.n_actions, 2);
    assert_int_equal(p.actions[0].kind, NH_ACT_REMOVE_NODES);
    assert_string_equal(p.actions[0].cluster, "web");
    assert_string_equal(p.actions[0].node_ids[0], "n3");
    assert_int_equal(p.actions[1].kind, NH_ACT_SCALE_CLUSTER);
    assert_string_equal(p.actions[1].cluster, "api");
    assert_int_equal(p.actions[1].target, 5);
    assert_int_equal(p.n_notes, 1);
    assert_string_equal(p.notes[0].cluster, "api");
    assert_int_equal(p.notes[0].kind, NH_NOTE_WAITING);
    nh_plan_clear(&p);
    nh_observed_clear(&o);
}

static void test_plan_rejects_null_arguments(void **state)
{
    struct nh_cfg_cluster c = {.name = "web", .provider = &ack, .workers = 1};
    struct nh_plan p = {0};
    (void)state;
    assert_int_equal(nh_plan_cluster(NULL, NULL, NULL, 0, NULL, &p), -EINVAL);
    assert_int_equal(nh_plan_cluster(&c, NULL, NULL, 0, NULL, NULL), -EINVAL);
    assert_int_equal(p.n_actions + p.n_notes, 0);
}

static void test_plan_without_provider_is_blocked(void **state)
{
    struct nh_cfg_cluster c = {
        .name = "web", .workers = 5, .max = 10, .has_scale_out = true, .kube_access = true};
    struct nh_observed o = {.complete = true, .kube_read = true};
    struct nh_plan p = {0};
    (void)state;
    pt_node(&o, "a", "a", NULL, NH_NODE_READY, 1, true, NULL);
    assert_int_equal(nh_plan_cluster(&c, &o, NULL, 0, NULL, &p), 0);
    assert_int_equal(p.n_actions, 0);
    assert_int_equal(p.n_notes, 1);
    assert_int_equal(p.notes[0].kind, NH_NOTE_BLOCKED);
    nh_plan_clear(&p);
    nh_observed_clear(&o);
}

/* Node order in the observation must not change the plan. */
static void test_plan_independent_of_observation_order(void **state)
{
    struct nh_cfg_cluster c = {.name = "web",
                               .provider = &ack,
                               .workers = 2,
                               .max = 10,
                               .kube_access = true,
                               .scale_in = {.max_per_cycle = 3, .release_instances = true}};
    struct nh_observed o1 = {.complete = true, .kube_read = true},
                       o2 = {.complete = true, .kube_read = true};
    struct nh_plan p1 = {0}, p2 = {0};
    static const char *ids[] = {"e", "b", "d", "a", "c"};
    static const int64_t created[] = {5, 5, 1, 9, 5};
    (void)state;
    for (int i = 0; i < 5; i++)
        pt_node(&o1, ids[i], ids[i], NULL, NH_NODE_READY, created[i], true, NULL);
    for (int i = 4; i >= 0; i--)
        pt_node(&o2, ids[i], ids[i], NULL, NH_NODE_READY, created[i], true, NULL);
    c.confirm_mass_removal = true;
    assert_int_equal(nh_plan_cluster(&c, &o1, NULL, 0, NULL, &p1), 0);
    assert_int_equal(nh_plan_cluster(&c, &o2, NULL, 0, NULL, &p2), 0);
    assert_true(pt_plan_equal(&p1, &p2));
    assert_int_equal(p1.n_actions, 1);
    assert_int_equal(p1.actions[0].n_nodes, 3);
    assert_string_equal(p1.actions[0].node_ids[0], "a"); /* newest (9) */
    assert_string_equal(p1.actions[0].node_ids[1], "b"); /* then ties at 5 by id */
    assert_string_equal(p1.actions[0].node_ids[2], "c");
    nh_plan_clear(&p1);
    nh_plan_clear(&p2);
    nh_observed_clear(&o1);
    nh_observed_clear(&o2);
}

int main(void)
{
    static const struct CMUnitTest extra[] = {
        cmocka_unit_test(test_plan_victim_names_follow_ids),
        cmocka_unit_test(test_plan_appends_to_existing_plan),
        cmocka_unit_test(test_plan_rejects_null_arguments),
        cmocka_unit_test(test_plan_without_provider_is_blocked),
        cmocka_unit_test(test_plan_independent_of_observation_order),
    };
    size_t n_cases = sizeof(cases) / sizeof(cases[0]);
    size_t n = n_cases + sizeof(extra) / sizeof(extra[0]);
    struct CMUnitTest *tests = calloc(n, sizeof(*tests));
    int r;

    if (tests == NULL)
        return 1;
    for (size_t i = 0; i < n_cases; i++) {
        tests[i].name = cases[i].name;
        tests[i].test_func = run_case;
        tests[i].initial_state = (void *)&cases[i];
    }
    for (size_t i = 0; i < n - n_cases; i++)
        tests[n_cases + i] = extra[i];
    r = _cmocka_run_group_tests("planner", tests, n, NULL, NULL);
    free(tests);
    return r;
}
