/* plan.c - the pure planner. See plan.h for the rules; this file is the
 * only place they live.
 *
 * Shape of one nh_plan_cluster() call:
 *   1. gates that stop everything: never observed, an operation in flight,
 *      an incomplete or inconsistent observation (fail closed);
 *   2. groups: the workers outside pools, each declared pool (declaration
 *      order), then undeclared pools that hold nodes named in remove:;
 *      each group grows (scale) or shrinks (named victims; kinds that
 *      cannot name victims: a lower count), shrinking bounded by min,
 *      protection and the cluster's per-cycle budget, consumed in group
 *      order;
 *   3. prune of undeclared pools (guarded against an empty desired state);
 *   4. the share guard over the whole cluster, evaluated on the declared
 *      change: over the share and not confirmed, every removal is dropped.
 * Everything is built into a private plan and appended to the caller's only
 * on success, so an -ENOMEM leaves *out as it was.
 *
 * What a kind can do comes from the kind table (model/kind.h): the planner
 * asks capabilities (names its victims, counts from the pool, deletes
 * pools, ...), never which cloud it is.
 *
 * One group's plan (plan_group) runs in phases, each a function with its
 * property checked in tests/unit/planner (table cases in test_planner.c,
 * the oracle of test_planner_props.c):
 *   bounds_ok           min <= max, or nothing      min_above_max_is_blocked
 *   group_size          live members only           removing_nodes_do_not_count,
 *                                                   masters_neither_counted_nor_removed
 *   clamp_declared      desired within min..max     min_forces_scale_out, max_*
 *   collect_candidates  never protected, master,    protect_*, pending_counts_but_*,
 *                       pending (unless listed)     remove_list_never_*; props: victims
 *   failed_replaceable  failed nodes are replaced   failed_node_is_replaced,
 *                       where the group can grow    failed_not_replaced_where_*
 *   removals_wanted     surplus, or remove: (plus   remove_list_satisfies_surplus,
 *                       failed ones) when more      remove_list_goes_first_then_order
 *   cap_at_min          never below min             min_stops_scale_in, *_never_below_min
 *   cap_at_candidates   only candidates go          all_protected_limits_to_nothing
 *   cap_at_budget       <= max_per_cycle - in       budget_*, removals_in_flight_*;
 *                       flight, across groups       props: budget per cluster
 *   remove_victims      victim order, listed first, scale_in_*_order, ties_broken_by_id,
 *                       then failed                 failed_first_even_when_order_omits_*
 * and cap_chain_* check that the caps apply in this order. */
#include "planner/plan.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NH_PROTECT_LABEL_KEY "nodeherd.io/protect"
#define NH_PROTECT_LABEL_VALUE "true"
#define NH_DEFAULT_SHARE 0.5
/* CCE RemoveNode takes at most 200 uids; the config enforces max_per_cycle
 * <= 200, and the planner never relies on that alone. */
#define NH_PLAN_MAX_VICTIMS 200

/* ---------- small helpers ---------- */

static bool str_eq(const char *a, const char *b)
{
    return a != NULL && b != NULL && strcmp(a, b) == 0;
}

static const char *or_q(const char *s)
{
    return s != NULL ? s : "?";
}

static void fmt(char *buf, size_t len, const char *f, ...) __attribute__((format(printf, 3, 4)));
static void fmt(char *buf, size_t len, const char *f, ...)
{
    va_list ap;
    va_start(ap, f);
    vsnprintf(buf, len, f, ap);
    va_end(ap);
}

/* ---------- the planning context ---------- */

struct ctx {
    const struct nh_cfg_cluster *c;
    const struct nh_observed *o;
    const struct nh_policy *pol;
    enum nh_provider_kind kind;
    const enum nh_victim_order *order;
    size_t n_order;
    int budget;                   /* removals still allowed this cycle */
    int max_per_cycle;            /* the configured budget (capped at NH_PLAN_MAX_VICTIMS) */
    int in_flight;                /* nodes the cloud is already removing: count against it */
    int intended;                 /* removals the declaration asks for (share guard) */
    int planned_out;              /* nodes this plan removes (the cluster floor) */
    bool kept_noted;              /* the servers-kept note is in the plan */
    const struct nh_node **nodes; /* the observation's nodes sorted by id */
    size_t n_nodes;
    struct nh_plan lp; /* built here, moved to *out on success */
    bool *removal;     /* parallel to lp.actions: is a removal-type action */
    size_t cap_removal;
    int err; /* first -ENOMEM */
};

static struct nh_note *note(struct ctx *x, enum nh_note_kind kind, enum nh_rule rule,
                            const char *pool, const char *fix, const char *msgf, ...)
    __attribute__((format(printf, 6, 7)));
static struct nh_note *note(struct ctx *x, enum nh_note_kind kind, enum nh_rule rule,
                            const char *pool, const char *fix, const char *msgf, ...)
{
    struct nh_note *n;
    bool ok = true;
    va_list ap;

    if (x->err < 0)
        return NULL;
    n = nh_plan_add_note(&x->lp);
    if (n == NULL) {
        x->err = -ENOMEM;
        return NULL;
    }
    n->kind = kind;
    n->rule = rule;
    n->cluster = nh_model_dup(or_q(x->c->name), &ok);
    n->pool = nh_model_dup(pool, &ok);
    va_start(ap, msgf);
    vsnprintf(n->msg, sizeof(n->msg), msgf, ap);
    va_end(ap);
    if (fix != NULL)
        snprintf(n->fix, sizeof(n->fix), "%s", fix);
    if (!ok)
        x->err = -ENOMEM;
    return n;
}

static struct nh_action *action(struct ctx *x, enum nh_action_kind kind, enum nh_rule rule,
                                const char *pool_id, const char *pool_name, int from, int target,
                                bool removal)
{
    struct nh_action *a;
    bool ok = true;

    if (x->err < 0)
        return NULL;
    if (x->lp.n_actions == x->cap_removal) {
        size_t cap = x->cap_removal ? x->cap_removal * 2 : 8;
        bool *r = realloc(x->removal, cap * sizeof(*r));
        if (r == NULL) {
            x->err = -ENOMEM;
            return NULL;
        }
        x->removal = r;
        x->cap_removal = cap;
    }
    a = nh_plan_add_action(&x->lp);
    if (a == NULL) {
        x->err = -ENOMEM;
        return NULL;
    }
    x->removal[x->lp.n_actions - 1] = removal;
    a->kind = kind;
    a->rule = rule;
    a->from = from;
    a->target = target;
    a->cluster = nh_model_dup(or_q(x->c->name), &ok);
    a->pool_id = nh_model_dup(pool_id, &ok);
    a->pool_name = nh_model_dup(pool_name, &ok);
    if (!ok)
        x->err = -ENOMEM;
    return a;
}

/* ---------- node predicates ---------- */

static bool node_listed(const struct nh_cfg_cluster *c, const struct nh_node *n)
{
    for (size_t i = 0; i < c->n_remove; i++)
        if (str_eq(c->remove[i], n->id) || str_eq(c->remove[i], n->name))
            return true;
    return false;
}

/* Protected by id/name, by a configured label, or by nodeherd.io/protect=true,
 * which is honoured always (also when protect_labels was overridden). */
static bool node_protected(const struct nh_cfg_cluster *c, const struct nh_node *n)
{
    const struct nh_cfg_scale_in *s = &c->scale_in;
    const char *v;

    for (size_t i = 0; i < s->n_protect; i++)
        if (str_eq(s->protect[i], n->id) || str_eq(s->protect[i], n->name))
            return true;
    for (size_t i = 0; i < s->n_protect_labels; i++) {
        if (s->protect_labels[i].key == NULL)
            continue;
        v = nh_node_label(n, s->protect_labels[i].key);
        if (v != NULL &&
            (s->protect_labels[i].value == NULL || strcmp(s->protect_labels[i].value, v) == 0))
            return true;
    }
    v = nh_node_label(n, NH_PROTECT_LABEL_KEY);
    return v != NULL && strcmp(v, NH_PROTECT_LABEL_VALUE) == 0;
}

static bool node_present(const struct nh_node *n)
{
    return n->health != NH_NODE_REMOVING;
}

/* Would removing a member of g delete (release) its server? Not when
 * release_instances is false and the kind can keep it (ACK release_node,
 * CCE RemoveNode for workers outside pools, ACK for pool nodes). */
static bool removal_deletes_server(const struct ctx *x, bool workers)
{
    unsigned keeps = workers ? NH_CAP_KEEPS_SERVERS : NH_CAP_POOL_KEEPS_SERVERS;
    return x->c->scale_in.release_instances || !nh_kind_has(x->kind, keeps);
}

/* ---------- victim ordering ---------- */

struct cand {
    const struct nh_node *n;
    bool listed;
    bool failed; /* to be replaced: the cloud says it failed (managed groups only) */
};

static int cand_cmp(const struct cand *a, const struct cand *b, const struct ctx *x)
{
    if (a->listed != b->listed)
        return a->listed ? -1 : 1;
    if (a->failed != b->failed)
        return a->failed ? -1 : 1;
    for (size_t i = 0; i < x->n_order; i++) {
        int r = 0;
        switch (x->order[i]) {
        case NH_ORDER_UNHEALTHY: {
            bool ua = a->n->health == NH_NODE_UNHEALTHY, ub = b->n->health == NH_NODE_UNHEALTHY;
            if (ua != ub)
                r = ua ? -1 : 1;
            break;
        }
        case NH_ORDER_NEWEST:
            if (a->n->created != b->n->created)
                r = a->n->created > b->n->created ? -1 : 1;
            break;
        case NH_ORDER_OLDEST:
            if (a->n->created != b->n->created)
                r = a->n->created < b->n->created ? -1 : 1;
            break;
        case NH_ORDER_NAME:
            r = strcmp(a->n->name ? a->n->name : a->n->id, b->n->name ? b->n->name : b->n->id);
            break;
        case NH_ORDER_EMPTIEST: /* fewest pods to move; a node not counted goes last */
            if (a->n->kube_pods_known != b->n->kube_pods_known)
                r = a->n->kube_pods_known ? -1 : 1;
            else if (a->n->kube_pods_known && a->n->kube_pods != b->n->kube_pods)
                r = a->n->kube_pods < b->n->kube_pods ? -1 : 1;
            break;
        }
        if (r != 0)
            return r;
    }
    return strcmp(a->n->id, b->n->id);
}

/* Merge sort with a context (qsort has none). */
static void cand_sort(struct cand *v, struct cand *tmp, size_t n, const struct ctx *x)
{
    size_t mid, i, j, k;
    if (n < 2)
        return;
    mid = n / 2;
    cand_sort(v, tmp, mid, x);
    cand_sort(v + mid, tmp, n - mid, x);
    for (i = 0, j = mid, k = 0; i < mid || j < n;) {
        if (j >= n || (i < mid && cand_cmp(&v[i], &v[j], x) <= 0))
            tmp[k++] = v[i++];
        else
            tmp[k++] = v[j++];
    }
    memcpy(v, tmp, n * sizeof(*v));
}

static void order_text(const struct ctx *x, bool listed, char *buf, size_t len)
{
    size_t off = 0;
    buf[0] = '\0';
    if (listed)
        off += (size_t)snprintf(buf + off, len - off, "remove: list");
    for (size_t i = 0; i < x->n_order && off < len; i++)
        off += (size_t)snprintf(buf + off, len - off, "%s%s", off ? ", then " : "",
                                nh_victim_order_name(x->order[i]));
    if (off < len)
        snprintf(buf + off, len - off, "%sfirst", off ? " " : "");
}

/* ---------- groups ---------- */

struct group {
    bool workers;                  /* the workers outside pools */
    const struct nh_cfg_pool *cfg; /* declared pool, or NULL */
    const struct nh_obs_pool *obs; /* observed pool, or NULL (workers) */
    const char *pool_id;           /* node membership key; NULL for workers */
    const char *label;             /* pool name for notes/actions; NULL for workers */
};

/* What the phases of one group's plan share: its counts and declaration. */
struct gstate {
    int current;       /* live members */
    int desired;       /* the declaration clamped to min..max; -1: not managed */
    int min;           /* floor for removals */
    enum nh_rule rule; /* DECLARED, or MIN/MAX when clamped */
    char decl_text[128];
    char path[128]; /* the group's place in the config, for fixes */
};

/* The removal candidates of a group, ordered by cand_sort. */
struct cands {
    struct cand *v, *tmp;
    size_t n;
    int listed;   /* in remove: (and not protected) */
    int eligible; /* not listed, not protected, not pending */
    int failed;   /* eligible ones the cloud says failed, in a managed group: replaced */
    int protected_;
    int pending;
    int subscription; /* billed yearly/monthly: the removal would not delete their servers */
};

static bool in_group(const struct group *g, const struct nh_node *n)
{
    if (!n->worker || !node_present(n))
        return false;
    if (g->workers)
        return n->pool_id == NULL;
    return str_eq(n->pool_id, g->pool_id);
}

/* The group's fix-path in the config, e.g. "clusters[web]" or
 * "clusters[web].node_pools[gpu-a]". */
static void cfg_path(const struct ctx *x, const struct group *g, char *buf, size_t len)
{
    if (g->workers || g->cfg == NULL)
        fmt(buf, len, "clusters[%s]", or_q(x->c->name));
    else
        fmt(buf, len, "clusters[%s].node_pools[%s]", or_q(x->c->name), or_q(g->cfg->name));
}

/* Fills ids and names of the first n candidates into the action. */
static void set_victims(struct ctx *x, struct nh_action *a, const struct cand *v, size_t n)
{
    bool ok = true;
    if (a == NULL || n == 0)
        return;
    a->node_ids = calloc(n, sizeof(char *));
    a->node_names = calloc(n, sizeof(char *));
    if (a->node_ids == NULL || a->node_names == NULL) {
        free(a->node_ids);
        free(a->node_names);
        a->node_ids = a->node_names = NULL;
        x->err = -ENOMEM;
        return;
    }
    a->n_nodes = n;
    for (size_t i = 0; i < n; i++) {
        a->node_ids[i] = nh_model_dup(v[i].n->id, &ok);
        a->node_names[i] = nh_model_dup(v[i].n->name ? v[i].n->name : v[i].n->id, &ok);
    }
    if (!ok)
        x->err = -ENOMEM;
}

/* Could plan_grow() add nodes to this group, so that replacing a failed
 * node does not simply lose it? Mirrors workers_can_grow and plan_grow. */
static bool group_can_grow(const struct ctx *x, const struct group *g)
{
    if (g->workers)
        return nh_kind_has(x->kind, NH_CAP_GROWS_LOOSE_WORKERS) && x->o->n_pools == 0 &&
               x->c->has_scale_out;
    return g->obs != NULL && !g->obs->is_default;
}

/* Workers outside pools grow only where the cloud can add them (ACK
 * ScaleCluster: on clusters without node pools, with scale_out settings).
 * true when they can; otherwise a BLOCKED note says why. */
static bool workers_can_grow(struct ctx *x, const struct gstate *s)
{
    char fix[256];

    if (!nh_kind_has(x->kind, NH_CAP_GROWS_LOOSE_WORKERS)) {
        note(x, NH_NOTE_BLOCKED, NH_RULE_UNSUPPORTED, NULL,
             "declare a node pool (node_pools:) and set its nodes: instead of workers:",
             "%s, %d observed: %s cannot add nodes outside a node pool", s->decl_text, s->current,
             nh_provider_kind_name(x->kind));
        return false;
    }
    if (x->o->n_pools > 0) {
        fmt(fix, sizeof(fix),
            "declare the size on a node pool (node_pools: nodes:) instead of workers: in %s",
            s->path);
        note(x, NH_NOTE_BLOCKED, NH_RULE_UNSUPPORTED, NULL, fix,
             "%s, %d observed: ACK ScaleCluster is only used on clusters without node pools "
             "(%zu found)",
             s->decl_text, s->current, x->o->n_pools);
        return false;
    }
    if (!x->c->has_scale_out) {
        fmt(fix, sizeof(fix), "add scale_out: {instance_type, system_disk, login_password} to %s",
            s->path);
        note(x, NH_NOTE_BLOCKED, NH_RULE_UNSUPPORTED, NULL, fix,
             "%s, %d observed: scale-out needs the scale_out settings of ACK ScaleCluster",
             s->decl_text, s->current);
        return false;
    }
    return true;
}

/* Plans growth of a managed group that is below its desired size. */
static void plan_grow(struct ctx *x, const struct group *g, const struct gstate *s)
{
    struct nh_action *a;
    int target, step, base;

    if (g->workers) {
        if (!workers_can_grow(x, s))
            return;
        a = action(x, NH_ACT_SCALE_CLUSTER, s->rule, NULL, NULL, s->current, s->desired, false);
        if (a != NULL)
            fmt(a->why, sizeof(a->why), "%s, %d observed: scale out to %d", s->decl_text,
                s->current, s->desired);
        return;
    }
    if (g->obs->is_default) {
        note(x, NH_NOTE_BLOCKED, NH_RULE_UNSUPPORTED, g->label,
             "declare another node pool and scale that one",
             "%s, %d observed: the CCE DefaultPool cannot be scaled out", s->decl_text, s->current);
        return;
    }
    if (g->obs->blocked != NULL && g->obs->blocked[0] != '\0') {
        note(x, NH_NOTE_BLOCKED, NH_RULE_POOL_CONDITION, g->label,
             "resolve it in the cloud console (quota, resources, the pool's order); nodeherd "
             "scales out once the cloud reports the pool scalable again",
             "%s, %d observed: the cloud reports pool %s cannot grow now (%s)", s->decl_text,
             s->current, or_q(g->label), g->obs->blocked);
        return;
    }
    target = s->desired;
    step = nh_kind_get(x->kind)->max_scale_step;
    base = g->obs->desired > s->current ? g->obs->desired : s->current;
    if (step > 0 && target - base > step) {
        target = base + step;
        note(x, NH_NOTE_LIMITED, NH_RULE_STEP, g->label, NULL,
             "%s, %d observed: scaling out to %d now; %s adds at most %d nodes per call, the "
             "rest follows",
             s->decl_text, s->current, target, nh_kind_get(x->kind)->cloud, step);
    }
    a = action(x, NH_ACT_SCALE_POOL, s->rule, g->obs->id, g->label, s->current, target, false);
    if (a != NULL)
        fmt(a->why, sizeof(a->why), "%s, %d observed: scale pool out to %d", s->decl_text,
            s->current, target);
}

/* ---- phase 1: the group's bounds and declaration ---- */

/* min above max: nothing can be planned (BLOCKED note). */
static bool bounds_ok(struct ctx *x, const struct group *g, const struct gstate *s, bool managed,
                      int max)
{
    char fix[256];

    if (!managed || s->min <= max)
        return true;
    fmt(fix, sizeof(fix), "set min <= max in %s", s->path);
    note(x, NH_NOTE_BLOCKED, NH_RULE_MIN, g->label, fix,
         "min %d is above max %d; nothing planned for %s", s->min, max,
         g->workers ? "the workers" : "this pool");
    return false;
}

/* Live members: counted in the node list, or read from the pool's counters
 * where the kind counts from the pool. */
static int group_size(const struct ctx *x, const struct group *g)
{
    int n = 0;

    if (!g->workers && nh_kind_has(x->kind, NH_CAP_COUNTS_FROM_POOL))
        return g->obs->current;
    for (size_t i = 0; i < x->n_nodes; i++)
        if (in_group(g, x->nodes[i]))
            n++;
    return n;
}

/* The declared size clamped to min..max (LIMITED note when clamped). */
static void clamp_declared(struct ctx *x, const struct group *g, struct gstate *s, int declared,
                           int max)
{
    s->desired = declared;
    if (declared < s->min) {
        s->desired = s->min;
        s->rule = NH_RULE_MIN;
        note(x, NH_NOTE_LIMITED, NH_RULE_MIN, g->label, NULL,
             "%d declared is below min %d; keeping %d", declared, s->min, s->min);
    } else if (declared > max) {
        s->desired = max;
        s->rule = NH_RULE_MAX;
        note(x, NH_NOTE_LIMITED, NH_RULE_MAX, g->label, NULL,
             "%d declared is above max %d; using %d", declared, max, max);
    }
    if (s->desired != declared)
        fmt(s->decl_text, sizeof(s->decl_text), "%d declared (%s %d)", declared,
            s->rule == NH_RULE_MIN ? "min" : "max", s->desired);
    else
        fmt(s->decl_text, sizeof(s->decl_text), "%d declared", declared);
}

/* ---- kinds that cannot name victims: a lower count, the cloud picks ---- */

/* A kind that cannot name its victims is never asked to lower a count and
 * let the cloud pick (DESIGN: scale-in always names its victims). */
static void plan_shrink_refused(struct ctx *x, const struct group *g, const struct gstate *s)
{
    note(x, NH_NOTE_BLOCKED, NH_RULE_UNSUPPORTED, g->label,
         "remove the nodes in the cloud console, or raise nodes: to what is there",
         "%s, %d observed: %s cannot remove chosen nodes, and nodeherd never lowers a count "
         "and lets the cloud pick",
         s->decl_text, s->current, nh_kind_get(x->kind)->cloud);
}

static void plan_group_by_count(struct ctx *x, const struct group *g, bool managed,
                                const struct gstate *s)
{
    char fix[128];

    /* remove: cannot name this kind's nodes. */
    fmt(fix, sizeof(fix),
        "remove the node in the %s console, or drop it from remove:", nh_kind_get(x->kind)->cloud);
    for (size_t i = 0; i < x->n_nodes; i++) {
        const struct nh_node *n = x->nodes[i];
        bool mine = g->workers ? n->pool_id == NULL : str_eq(n->pool_id, g->pool_id);
        if (mine && node_present(n) && node_listed(x->c, n))
            note(x, NH_NOTE_BLOCKED, NH_RULE_UNSUPPORTED, g->label, fix,
                 "node %s is in remove: but %s cannot remove a chosen node",
                 or_q(n->name ? n->name : n->id), nh_provider_kind_name(x->kind));
    }
    if (!managed)
        return;
    if (g->workers) {
        note(x, NH_NOTE_BLOCKED, NH_RULE_UNSUPPORTED, NULL,
             "set nodes: on the resource pool's node pools instead of workers:",
             "%s, %d observed: %s has no workers outside node pools", s->decl_text, s->current,
             nh_provider_kind_name(x->kind));
        return;
    }
    if (s->current < s->desired)
        plan_grow(x, g, s);
    else if (s->current > s->desired)
        plan_shrink_refused(x, g, s);
    else if (g->obs->ready < s->desired)
        note(x, NH_NOTE_WAITING, NH_RULE_UNHEALTHY, g->label,
             "check the pool in the cloud console; nodeherd cannot replace a chosen node there",
             "%s, %d observed: %d not ready (%d abnormal); waiting for them", s->decl_text,
             s->current, s->desired - g->obs->ready, g->obs->unhealthy);
}

/* ---- kinds that name victims: the removal-cap chain ---- */

/* Phase 2: the candidates. Listed nodes (in remove:, not protected, any
 * live state) and eligible ones (not listed, not protected, ready or
 * unhealthy; in a managed group those the cloud says failed are marked to
 * be replaced); protected and pending ones are counted, never candidates.
 * Notes for listed nodes that are protected or masters. 0 or -ENOMEM. */
static int collect_candidates(struct ctx *x, const struct group *g, const struct gstate *s,
                              struct cands *cs)
{
    char fix[256];

    (void)s;
    if (x->n_nodes > 0) {
        /* the node list may hold more members than the pool's counters */
        cs->v = calloc(x->n_nodes, sizeof(*cs->v));
        cs->tmp = calloc(x->n_nodes, sizeof(*cs->tmp));
        if (cs->v == NULL || cs->tmp == NULL) {
            x->err = -ENOMEM;
            return -ENOMEM;
        }
    }
    for (size_t i = 0; i < x->n_nodes; i++) {
        const struct nh_node *n = x->nodes[i];
        bool listed;
        if (!in_group(g, n))
            continue;
        listed = node_listed(x->c, n);
        if (node_protected(x->c, n)) {
            cs->protected_++;
            if (listed) {
                fmt(fix, sizeof(fix),
                    "drop it from remove: or from scale_in.protect / its protect label in %s",
                    s->path);
                note(x, NH_NOTE_LIMITED, NH_RULE_PROTECT, g->label, fix,
                     "node %s is in remove: but protected; keeping it", n->name ? n->name : n->id);
            }
            continue;
        }
        /* What the cluster's Kubernetes API says (issue #20): a protection
         * annotation, no or two matching Kubernetes nodes, a pod that
         * blocks the drain. Held like a protected node, with the reason. */
        if (n->kube_hold != NULL) {
            cs->protected_++;
            note(x, NH_NOTE_LIMITED, NH_RULE_PROTECT, g->label,
                 "nodeherd chooses it again once nothing holds it", "node %s stays: %.200s",
                 n->name ? n->name : n->id, n->kube_hold);
            continue;
        }
        if (n->subscription && removal_deletes_server(x, g->workers)) {
            cs->subscription++;
            if (listed)
                note(x, NH_NOTE_LIMITED, NH_RULE_SUBSCRIPTION, g->label,
                     nh_kind_get(x->kind)->subscription_fix,
                     "node %s is in remove: but billed yearly/monthly: %s; keeping it",
                     n->name ? n->name : n->id, nh_kind_get(x->kind)->subscription_why);
            continue;
        }
        if (!listed && n->health == NH_NODE_PENDING) {
            cs->pending++;
            continue;
        }
        cs->v[cs->n].n = n;
        cs->v[cs->n].listed = listed;
        cs->v[cs->n].failed = !listed && s->desired >= 0 && n->failed;
        cs->failed += cs->v[cs->n].failed;
        cs->n++;
        if (listed)
            cs->listed++;
        else
            cs->eligible++;
    }
    /* Masters named in remove: are never removed; say so. */
    for (size_t i = 0; g->workers && i < x->n_nodes; i++) {
        const struct nh_node *n = x->nodes[i];
        if (!n->worker && node_present(n) && node_listed(x->c, n))
            note(x, NH_NOTE_LIMITED, NH_RULE_PROTECT, NULL,
                 "drop it from remove:; nodeherd never removes masters",
                 "node %s is in remove: but is a master; keeping it",
                 or_q(n->name ? n->name : n->id));
    }
    return 0;
}

/* Phase 2b: failed nodes (the cloud says so: they will not come up by
 * themselves) in a group with a declared count are replaced: removed like
 * victims, then the group grows back on the next cycle. Only where nodeherd
 * can grow the group again; elsewhere a BLOCKED note and they stay. true
 * when failed nodes are left for an operator. */
static bool failed_replaceable(struct ctx *x, const struct group *g, struct cands *cs)
{
    char fix[256];

    if (cs->failed == 0 || group_can_grow(x, g))
        return false;
    fmt(fix, sizeof(fix),
        "replace the failed node%s in the cloud console (nodeherd cannot add nodes back to %s)",
        cs->failed == 1 ? "" : "s", g->workers ? "these workers" : "this pool");
    note(x, NH_NOTE_BLOCKED, NH_RULE_UNHEALTHY, g->label, fix,
         "%d node%s failed in the cloud and will not become ready; not replaced", cs->failed,
         cs->failed == 1 ? "" : "s");
    for (size_t i = 0; i < cs->n; i++)
        cs->v[i].failed = false;
    cs->failed = 0;
    return true;
}

/* Phase 3: how many should go: the surplus over the declaration, or every
 * listed node (and failed one, replaced) when they are more. */
static int removals_wanted(const struct gstate *s, bool managed, const struct cands *cs)
{
    int surplus = managed ? s->current - s->desired : 0;
    return surplus > cs->listed + cs->failed ? surplus : cs->listed + cs->failed;
}

/* Nothing to remove or add, but members not ready: wait for them (a
 * WAITING note; nodes the cloud says failed are replaced instead). */
static void note_not_ready(struct ctx *x, const struct group *g, const struct gstate *s)
{
    int ready = 0, starting = 0;

    if (x->o->counts_only && g->obs != NULL) { /* no node listed: the pool's counters */
        ready = g->obs->ready;
        starting = g->obs->creating;
    }
    for (size_t i = 0; i < x->n_nodes; i++) {
        if (!in_group(g, x->nodes[i]))
            continue;
        ready += x->nodes[i]->health == NH_NODE_READY;
        starting += x->nodes[i]->health == NH_NODE_PENDING;
    }
    if (ready >= s->desired)
        return;
    note(x, NH_NOTE_WAITING, NH_RULE_UNHEALTHY, g->label,
         "check these nodes in the cloud console; nodeherd replaces nodes only when the cloud "
         "reports them failed",
         "%s, %d observed: %d not ready (%d starting, %d unhealthy); waiting for them",
         s->decl_text, s->current, s->desired - ready, starting, s->desired - ready - starting);
}

/* Phase 4: never below min. */
static int cap_at_min(struct ctx *x, const struct group *g, const struct gstate *s, int want)
{
    int floor_cap = s->current - s->min > 0 ? s->current - s->min : 0;
    char fix[256];

    if (want <= floor_cap)
        return want;
    fmt(fix, sizeof(fix), "lower min in %s if these nodes must go", s->path);
    note(x, NH_NOTE_LIMITED, NH_RULE_MIN, g->label, fix,
         "%d observed, min %d: removing %d instead of %d", s->current, s->min, floor_cap, want);
    return floor_cap;
}

/* Phase 5: only candidates can go (protected and pending nodes stay). */
static int cap_at_candidates(struct ctx *x, const struct group *g, const struct gstate *s,
                             const struct cands *cs, int take)
{
    char fix[256];
    int can = cs->listed + cs->eligible;

    if (take <= can)
        return take;
    fmt(fix, sizeof(fix), "remove protection from some nodes in %s, or wait for pending nodes",
        s->path);
    if (cs->protected_ + cs->pending > 0 || cs->subscription == 0)
        note(x, NH_NOTE_LIMITED, NH_RULE_PROTECT, g->label, fix,
             "%s, %d observed: only %d of %d surplus nodes can be removed (%d protected, %d "
             "pending%s)",
             s->decl_text, s->current, can, take, cs->protected_, cs->pending,
             cs->subscription > 0 ? ", and yearly/monthly ones below" : "");
    /* yearly/monthly nodes: said once, in their own note */
    if (cs->subscription > 0)
        note(x, NH_NOTE_LIMITED, NH_RULE_SUBSCRIPTION, g->label,
             nh_kind_get(x->kind)->subscription_fix,
             "%s, %d observed: only %d of %d surplus nodes can be removed; %d yearly/monthly "
             "(subscription) node%s not chosen: %s",
             s->decl_text, s->current, can, take, cs->subscription,
             cs->subscription == 1 ? "" : "s", nh_kind_get(x->kind)->subscription_why);
    return can;
}

/* Phase 6: the cluster's per-cycle budget (max_per_cycle, less what the
 * cloud is already removing), consumed in group order. */
static int cap_at_budget(struct ctx *x, const struct group *g, const struct gstate *s, int take)
{
    int left = x->budget > 0 ? x->budget : 0;

    if (take <= x->budget)
        return take;
    note(x, NH_NOTE_LIMITED, NH_RULE_BUDGET, g->label,
         "raise scale_in.max_per_cycle to remove more per cycle",
         "%s, %d observed: removing %d of %d this cycle (max_per_cycle %d, %d already "
         "being removed)",
         s->decl_text, s->current, left, take, x->max_per_cycle, x->in_flight);
    return left;
}

static int observed_total(const struct ctx *x);

/* Phase 6b: nodes the cloud keeps in a cluster whatever is declared
 * (ModelArts keeps one in the resource pool). */
static int cap_at_cluster_floor(struct ctx *x, const struct group *g, int take)
{
    int floor_n = nh_kind_get(x->kind)->min_cluster_nodes;
    int left, can;

    if (floor_n <= 0 || take <= 0)
        return take;
    left = observed_total(x) - x->planned_out; /* live ones: being removed not counted */
    can = left - floor_n > 0 ? left - floor_n : 0;
    if (take <= can)
        return take;
    note(x, NH_NOTE_LIMITED, NH_RULE_MIN, g->label, NULL,
         "%s keeps at least %d node%s in the %s: removing %d instead of %d",
         nh_kind_get(x->kind)->cloud, floor_n, floor_n == 1 ? "" : "s",
         nh_kind_has(x->kind, NH_CAP_POOL_SCOPED) ? "resource pool" : "cluster", can, take);
    return can;
}

/* Phase 7: the victims, in victim order (listed first). */
static void remove_victims(struct ctx *x, const struct group *g, const struct gstate *s,
                           struct cands *cs, int take)
{
    struct nh_action *a;
    char ord[96];
    bool any_listed, replace;
    const char *kept;

    cand_sort(cs->v, cs->tmp, cs->n, x);
    x->budget -= take;
    x->planned_out += take;
    any_listed = cs->v[0].listed;
    /* Only a replacement: the count is right, failed nodes go. */
    replace = !any_listed && cs->v[0].failed && s->current <= s->desired;
    a = action(x, NH_ACT_REMOVE_NODES,
               any_listed ? NH_RULE_REMOVE_LIST
               : replace  ? NH_RULE_UNHEALTHY
                          : s->rule,
               g->workers ? NULL : g->pool_id, g->label, s->current, s->current - take, true);
    if (a == NULL)
        return;
    a->pool_nodes = !g->workers;
    set_victims(x, a, cs->v, (size_t)take);
    order_text(x, any_listed, ord, sizeof(ord));
    kept = removal_deletes_server(x, g->workers)
               ? ""
               : "; their servers keep running (release_instances: false)";
    if (replace)
        fmt(a->why, sizeof(a->why),
            "%s, %d observed, %d failed: remove %d to replace %s (the group is scaled back to "
            "%d next cycle)%s",
            s->decl_text, s->current, cs->failed, take, take == 1 ? "it" : "them", s->desired,
            kept);
    else
        fmt(a->why, sizeof(a->why), "%s, %d observed: remove %d (%s%s)%s", s->decl_text, s->current,
            take, cs->failed > 0 ? "failed first, then " : "", ord, kept);
    if (!removal_deletes_server(x, g->workers) && !x->kept_noted) {
        x->kept_noted = true;
        note(x, NH_NOTE_INFO, NH_RULE_SERVERS_KEPT, NULL,
             "set scale_in.release_instances: true to delete the servers of removed nodes",
             "removed nodes leave the cluster but their servers keep running, and billing "
             "(release_instances: false)");
    }
}

/* Can a removal from g honour release_instances? A kind that cannot keep
 * a pool node's server (CCE: RemoveNode leaves the pool's count, so the
 * pool would replace the node) refuses it (BLOCKED note). */
static bool removal_possible(struct ctx *x, const struct group *g, const struct gstate *s)
{
    char fix[256];
    unsigned keeps = g->workers ? NH_CAP_KEEPS_SERVERS : NH_CAP_POOL_KEEPS_SERVERS;

    if (x->c->scale_in.release_instances || nh_kind_has(x->kind, keeps))
        return true;
    fmt(fix, sizeof(fix),
        "set scale_in.release_instances: true in clusters[%s] (the node and its server are "
        "deleted), or take the node out of the pool in the console",
        or_q(x->c->name));
    note(x, NH_NOTE_BLOCKED, NH_RULE_SERVERS_KEPT, g->label, fix,
         "%s, %d observed: release_instances is false, but %s cannot remove a %s and keep its "
         "server; nothing removed",
         s->decl_text, s->current, nh_kind_get(x->kind)->cloud,
         g->workers ? "node" : "node-pool node");
    return false;
}

/* Kinds whose count is kept apart from the nodes (ModelArts `count`): a
 * group at its declared size whose count says otherwise gets the count
 * set (absolute; no node is removed: the count already matches the nodes
 * there are), so that the cloud does not replace or add nodes. */
static void fix_count(struct ctx *x, const struct group *g, const struct gstate *s)
{
    const struct nh_obs_pool *p = g->obs;
    struct nh_action *a;

    if (g->workers || p == NULL || !nh_kind_has(x->kind, NH_CAP_COUNTS_FROM_POOL) ||
        s->desired < 0 || s->current != s->desired || p->desired < 0 || p->desired == s->desired ||
        p->creating > 0 || p->deleting > 0 || p->locked)
        return;
    a = action(x, NH_ACT_SCALE_POOL, s->rule, p->id, g->label, s->current, s->desired, false);
    if (a != NULL)
        fmt(a->why, sizeof(a->why),
            "%s, %d observed, count %d: set count to %d (no node is removed)", s->decl_text,
            s->current, p->desired, s->desired);
}

/* drain: true needs someone to drain: nodeherd through the cluster's
 * Kubernetes API (the executor drains every victim before the removal
 * goes), or the cloud (ACK drain_node). Otherwise nothing is removed
 * (BLOCKED note), never without the drain it was asked for (issue #20;
 * the configuration refuses that case already). */
static bool drain_possible(struct ctx *x, const struct group *g, const struct gstate *s)
{
    char fix[256];

    if (!x->c->scale_in.drain || x->c->kube_access || nh_kind_has(x->kind, NH_CAP_CLOUD_DRAINS))
        return true;
    fmt(fix, sizeof(fix),
        "set scale_in.drain: false in clusters[%s] to remove nodes without draining them, or "
        "drain them yourself and list them in remove:",
        or_q(x->c->name));
    note(x, NH_NOTE_BLOCKED, NH_RULE_UNSUPPORTED, g->label, fix,
         "%s, %d observed: drain is on, but %s does not drain nodes and the cluster has no "
         "Kubernetes access for nodeherd to drain them; nothing removed",
         s->decl_text, s->current, nh_kind_get(x->kind)->cloud);
    return false;
}

static void plan_group_by_victims(struct ctx *x, const struct group *g, bool managed,
                                  const struct gstate *s)
{
    struct cands cs = {0};
    int want;

    if (collect_candidates(x, g, s, &cs) == 0) {
        bool failed_left = failed_replaceable(x, g, &cs);
        want = removals_wanted(s, managed, &cs);
        if (want <= 0) {
            if (managed && s->current < s->desired)
                plan_grow(x, g, s);
            else if (managed) {
                fix_count(x, g, s);
                if (s->current == s->desired && !failed_left)
                    note_not_ready(x, g, s);
            }
        } else if (removal_possible(x, g, s) && drain_possible(x, g, s)) {
            want = cap_at_min(x, g, s, want);
            x->intended += want;
            want = cap_at_candidates(x, g, s, &cs, want);
            want = cap_at_budget(x, g, s, want);
            want = cap_at_cluster_floor(x, g, want);
            if (want > 0)
                remove_victims(x, g, s, &cs, want);
        }
    }
    free(cs.v);
    free(cs.tmp);
}

/* One group: counts, then grow or shrink. `managed`: a declared count
 * applies (declared >= 0); otherwise only remove: can shrink it. */
static void plan_group(struct ctx *x, const struct group *g, bool managed, int declared, int min,
                       int max)
{
    struct gstate s = {.desired = -1, .min = min, .rule = NH_RULE_DECLARED};

    cfg_path(x, g, s.path, sizeof(s.path));
    if (!bounds_ok(x, g, &s, managed, max))
        return;
    if (g->obs != NULL && g->obs->locked) {
        note(x, NH_NOTE_BLOCKED, NH_RULE_POOL_CONDITION, g->label,
             "see the node pool in the cloud console; nodeherd acts once the cloud lifts it",
             "the cloud reports pool %s locked (%s); nothing is changed there", or_q(g->label),
             g->obs->blocked != NULL && g->obs->blocked[0] != '\0' ? g->obs->blocked
                                                                   : "no reason given");
        return;
    }
    s.current = group_size(x, g);
    if (managed)
        clamp_declared(x, g, &s, declared, max);
    else
        fmt(s.decl_text, sizeof(s.decl_text), "not managed");
    if (nh_kind_has(x->kind, NH_CAP_NAMES_VICTIMS))
        plan_group_by_victims(x, g, managed, &s);
    else
        plan_group_by_count(x, g, managed, &s);
}

/* ---------- pools ---------- */

static bool pool_matches(const struct nh_cfg_pool *d, const struct nh_obs_pool *p)
{
    if (d->id != NULL)
        return str_eq(d->id, p->id);
    return str_eq(d->name, p->name);
}

static bool pool_declared(const struct nh_cfg_cluster *c, const struct nh_obs_pool *p)
{
    for (size_t i = 0; i < c->n_pools; i++)
        if (pool_matches(&c->pools[i], p))
            return true;
    return false;
}

static void plan_declared_pool(struct ctx *x, const struct nh_cfg_pool *d)
{
    const struct nh_observed *o = x->o;
    const struct nh_obs_pool *p = NULL;
    size_t matches = 0;
    char fix[256];
    struct group g = {.cfg = d, .label = d->name};

    for (size_t i = 0; i < o->n_pools; i++) {
        if (pool_matches(d, &o->pools[i])) {
            if (p == NULL)
                p = &o->pools[i];
            matches++;
        }
    }
    if (matches == 0) {
        if (d->nodes >= 0)
            note(x, NH_NOTE_BLOCKED, NH_RULE_UNSUPPORTED, d->name,
                 "create the pool in the cloud console, or fix its name/id in the configuration",
                 "pool %s not found in cluster %s; nodeherd does not create pools",
                 or_q(d->id ? d->id : d->name), or_q(x->c->name));
        return;
    }
    if (matches > 1) {
        fmt(fix, sizeof(fix), "set id: of clusters[%s].node_pools[%s]", or_q(x->c->name),
            or_q(d->name));
        note(x, NH_NOTE_BLOCKED, NH_RULE_UNSUPPORTED, d->name, fix,
             "%zu pools are named %s in cluster %s; not acting on an ambiguous name", matches,
             or_q(d->name), or_q(x->c->name));
        return;
    }
    matches = 0;
    for (size_t i = 0; i < x->c->n_pools; i++)
        if (pool_matches(&x->c->pools[i], p))
            matches++;
    if (matches > 1) {
        fmt(fix, sizeof(fix), "declare pool %s (id %s) once in clusters[%s].node_pools",
            or_q(p->name), or_q(p->id), or_q(x->c->name));
        note(x, NH_NOTE_BLOCKED, NH_RULE_UNSUPPORTED, d->name, fix,
             "pool %s is declared %zu times (by name and by id); not acting on it", or_q(p->name),
             matches);
        return;
    }
    g.obs = p;
    g.pool_id = p->id;
    if (p->being_deleted) {
        note(x, NH_NOTE_WAITING, NH_RULE_BUSY, d->name, "declare another pool if it should stay",
             "pool %s is being deleted in the cloud", or_q(d->name));
        return;
    }
    if ((p->desired < 0 || p->desired != p->current) && (p->creating > 0 || p->deleting > 0)) {
        note(x, NH_NOTE_WAITING, NH_RULE_BUSY, d->name, NULL,
             "pool %s is converging in the cloud (desired %d, current %d, creating %d, deleting "
             "%d)",
             or_q(d->name), p->desired, p->current, p->creating, p->deleting);
        return;
    }
    if (d->nodes >= 0 && p->autoscaling && !d->manage_autoscaling) {
        fmt(fix, sizeof(fix), "set manage_autoscaling: true or remove nodes: from %s",
            or_q(d->name));
        note(x, NH_NOTE_BLOCKED, NH_RULE_UNSUPPORTED, d->name, fix,
             "pool %s has the cloud's autoscaler on; nodes: %d is not applied", or_q(d->name),
             d->nodes);
        plan_group(x, &g, false, -1, d->min, d->max);
        return;
    }
    plan_group(x, &g, d->nodes >= 0, d->nodes, d->min, d->max);
}

static int cmp_pool_ptr(const void *a, const void *b)
{
    const struct nh_obs_pool *pa = *(const struct nh_obs_pool *const *)a;
    const struct nh_obs_pool *pb = *(const struct nh_obs_pool *const *)b;
    return strcmp(pa->id, pb->id);
}

static int pool_size(const struct ctx *x, const struct nh_obs_pool *p)
{
    int n = 0;
    if (nh_kind_has(x->kind, NH_CAP_COUNTS_FROM_POOL))
        return p->current > 0 ? p->current : 0;
    for (size_t i = 0; i < x->o->n_nodes; i++)
        if (x->o->nodes[i].worker && node_present(&x->o->nodes[i]) &&
            str_eq(x->o->nodes[i].pool_id, p->id))
            n++;
    return n;
}

/* Did the declaration lose more than half of the previous pools? */
static bool lost_most_pools(const struct nh_cfg_cluster *prev, const struct nh_cfg_cluster *c)
{
    size_t lost = 0;
    if (prev == NULL || !prev->pools_declared || prev->n_pools == 0)
        return false;
    for (size_t i = 0; i < prev->n_pools; i++) {
        const struct nh_cfg_pool *pp = &prev->pools[i];
        bool found = false;
        for (size_t j = 0; j < c->n_pools && !found; j++)
            found = (pp->id != NULL && str_eq(pp->id, c->pools[j].id)) ||
                    str_eq(pp->name, c->pools[j].name);
        if (!found)
            lost++;
    }
    return lost * 2 > prev->n_pools;
}

/* Whether prune may delete the undeclared pools u[0..nu) (n_cand of them
 * candidates): refused when the declaration looks half-written, blocked
 * where the cloud cannot delete pools (notes say so). */
static bool prune_allowed(struct ctx *x, const struct nh_obs_pool *const *u, size_t nu,
                          size_t n_cand)
{
    const struct nh_cfg_cluster *c = x->c;
    char fix[256];

    if (!c->prune || !c->pools_declared || n_cand == 0)
        return false;
    const struct nh_cfg_cluster *prev = x->pol ? x->pol->previous : NULL;
    bool empty = c->n_pools == 0, lost = lost_most_pools(prev, c);
    if ((empty || lost) && !c->confirm_mass_removal) {
        fmt(fix, sizeof(fix),
            "if intended, set confirm_mass_removal: true for clusters[%s]; otherwise fix "
            "node_pools: (a half-written file?)",
            or_q(c->name));
        if (empty)
            note(x, NH_NOTE_REFUSED, NH_RULE_EMPTY_DESIRED, NULL, fix,
                 "node_pools: declares no pool while %zu pools exist; not pruning", n_cand);
        else
            note(x, NH_NOTE_REFUSED, NH_RULE_EMPTY_DESIRED, NULL, fix,
                 "node_pools: lost more than half of the %zu previously declared pools; not "
                 "pruning",
                 prev->n_pools);
    } else if (!nh_kind_has(x->kind, NH_CAP_DELETES_POOLS)) {
        for (size_t i = 0; i < nu; i++) {
            if (u[i]->is_default || u[i]->being_deleted)
                continue;
            note(x, NH_NOTE_BLOCKED, NH_RULE_UNSUPPORTED, u[i]->name,
                 "delete the pool in the cloud console, or declare it",
                 "pool %s is not declared and prune is on, but nodeherd cannot delete node "
                 "pools on %s",
                 or_q(u[i]->name), nh_provider_kind_name(x->kind));
        }
    } else {
        return true;
    }
    return false;
}

/* Prune: every undeclared pool that can go is deleted whole. */
static void prune_pools(struct ctx *x, const struct nh_obs_pool *const *u, size_t nu)
{
    for (size_t i = 0; i < nu; i++) {
        const struct nh_obs_pool *p = u[i];
        int size;
        struct nh_action *a;
        if (p->is_default || p->being_deleted)
            continue;
        if (p->subscription) {
            note(x, NH_NOTE_BLOCKED, NH_RULE_SUBSCRIPTION, p->name,
                 nh_kind_get(x->kind)->subscription_fix,
                 "pool %s is not declared and prune is on, but it is billed yearly/monthly: "
                 "%s; not pruned",
                 or_q(p->name), nh_kind_get(x->kind)->subscription_why);
            continue;
        }
        if (p->deleting > 0 || p->creating > 0) {
            note(x, NH_NOTE_WAITING, NH_RULE_BUSY, p->name, NULL,
                 "pool %s is not declared and prune is on; its nodes are changing (%d "
                 "creating, %d deleting): pruned once that is over",
                 or_q(p->name), p->creating, p->deleting);
            continue;
        }
        size = pool_size(x, p);
        x->intended += size;
        a = action(x, NH_ACT_DELETE_POOL, NH_RULE_PRUNE, p->id, p->name, size, 0, true);
        if (a != NULL)
            fmt(a->why, sizeof(a->why),
                "pool %s (%d nodes) is not declared and prune is on: delete it", or_q(p->name),
                size);
    }
}

/* Undeclared observed pools, sorted by id: prune candidates (prune == true)
 * and holders of remove: nodes (otherwise). */
static void plan_undeclared(struct ctx *x)
{
    const struct nh_cfg_cluster *c = x->c;
    const struct nh_observed *o = x->o;
    const struct nh_obs_pool **u;
    size_t nu = 0, n_cand = 0;

    if (o->n_pools == 0)
        return;
    u = calloc(o->n_pools, sizeof(*u));
    if (u == NULL) {
        x->err = -ENOMEM;
        return;
    }
    for (size_t i = 0; i < o->n_pools; i++)
        if (!pool_declared(c, &o->pools[i]))
            u[nu++] = &o->pools[i];
    qsort(u, nu, sizeof(*u), cmp_pool_ptr);

    for (size_t i = 0; i < nu; i++)
        if (!u[i]->is_default && !u[i]->being_deleted)
            n_cand++;

    bool prune_ok = prune_allowed(x, u, nu, n_cand);

    for (size_t i = 0; i < nu && x->err == 0; i++) {
        const struct nh_obs_pool *p = u[i];
        if (prune_ok && !p->is_default && !p->being_deleted)
            continue; /* deleted whole below */
        if (p->being_deleted)
            continue;
        {
            struct group g = {.obs = p, .pool_id = p->id, .label = p->name};
            plan_group(x, &g, false, -1, 0, 0);
        }
    }

    if (prune_ok)
        prune_pools(x, u, nu);
    free(u);
}

/* ---------- gates ---------- */

static void busy_notes(struct ctx *x, const struct nh_op *busy, size_t n_busy)
{
    if (busy == NULL) {
        note(x, NH_NOTE_WAITING, NH_RULE_BUSY, NULL, NULL,
             "%zu operations in flight; nothing new until they finish", n_busy);
        return;
    }
    for (size_t i = 0; i < n_busy; i++) {
        const struct nh_op *op = &busy[i];
        const struct nh_action *a = &op->action;
        char job[96], what[96];
        if (op->job_id != NULL)
            fmt(job, sizeof(job), "job %s", op->job_id);
        else
            fmt(job, sizeof(job), "%s", nh_op_state_name(op->state));
        switch (a->kind) {
        case NH_ACT_REMOVE_NODES:
            fmt(what, sizeof(what), "%zu nodes", a->n_nodes);
            break;
        case NH_ACT_SCALE_CLUSTER:
        case NH_ACT_SCALE_POOL:
            fmt(what, sizeof(what), "%d to %d", a->from, a->target);
            break;
        case NH_ACT_DELETE_POOL:
            fmt(what, sizeof(what), "pool %s", or_q(a->pool_name));
            break;
        }
        note(x, NH_NOTE_WAITING, NH_RULE_BUSY, a->pool_name, NULL, "%s in flight (%s), %s",
             nh_action_kind_name(a->kind), job, what);
    }
}

static int cmp_node_ptr(const void *a, const void *b)
{
    return strcmp((*(const struct nh_node *const *)a)->id, (*(const struct nh_node *const *)b)->id);
}

/* A node or pool without id, or an id listed twice (a repeated page), makes
 * the counts untrustworthy: treat the observation as incomplete. Builds the
 * sorted node index, so that the plan does not depend on listing order. */
static bool observation_consistent(struct ctx *x, char *why, size_t len)
{
    const struct nh_observed *o = x->o;

    for (size_t i = 0; i < o->n_nodes; i++)
        if (o->nodes[i].id == NULL) {
            fmt(why, len, "node %zu has no id", i);
            return false;
        }
    for (size_t i = 0; i < o->n_pools; i++)
        if (o->pools[i].id == NULL) {
            fmt(why, len, "pool %zu has no id", i);
            return false;
        }
    if (o->n_nodes == 0)
        return true;
    x->nodes = malloc(o->n_nodes * sizeof(*x->nodes));
    if (x->nodes == NULL) {
        x->err = -ENOMEM;
        return false;
    }
    x->n_nodes = o->n_nodes;
    for (size_t i = 0; i < o->n_nodes; i++)
        x->nodes[i] = &o->nodes[i];
    qsort(x->nodes, x->n_nodes, sizeof(*x->nodes), cmp_node_ptr);
    for (size_t i = 1; i < x->n_nodes; i++)
        if (strcmp(x->nodes[i - 1]->id, x->nodes[i]->id) == 0) {
            fmt(why, len, "node %.100s listed twice", x->nodes[i]->id);
            return false;
        }
    return true;
}

/* ---------- what only the cluster can tell ---------- */

/* A cluster whose state was read (only before something would be sent)
 * and that accepts no change: nothing is planned; a busy one is waited
 * for, one in a state that refuses changes is blocked. */
static bool cluster_accepts(struct ctx *x)
{
    const struct nh_observed *o = x->o;
    const char *phase = o->cluster_phase[0] != '\0' ? o->cluster_phase : "?";

    switch (o->cluster_state) {
    case NH_CLUSTER_UNKNOWN:
    case NH_CLUSTER_ACCEPTS:
        return true;
    case NH_CLUSTER_BUSY:
        note(x, NH_NOTE_WAITING, NH_RULE_CLUSTER_STATE, NULL, NULL,
             "the cluster is %s: it accepts no change until that is over; waiting, nothing is "
             "sent meanwhile",
             phase);
        return false;
    case NH_CLUSTER_REFUSES:
        note(x, NH_NOTE_BLOCKED, NH_RULE_CLUSTER_STATE, NULL,
             "bring the cluster back to a running state in the cloud console",
             "the cluster is %s: %s accepts no change in this state; nothing is sent", phase,
             nh_kind_get(x->kind)->cloud);
        return false;
    }
    return false;
}

/* Labels are Kubernetes facts: without the cluster's Kubernetes API none
 * are seen, so only ids and names protect (said once per cluster). */
static void labels_note(struct ctx *x)
{
    if (x->c->kube_access)
        return;
    note(x, NH_NOTE_INFO, NH_RULE_LABELS, NULL,
         nh_kind_has(x->kind, NH_CAP_KUBE_API)
             ? "add `kubernetes:` to the cluster so labels can be read, or protect by id/name "
               "with scale_in.protect"
             : "protect by node name with scale_in.protect",
         "labels not checked: no Kubernetes access; protection by id and name only");
}

/* ---------- share guard ---------- */

static int observed_total(const struct ctx *x)
{
    int t = 0;
    if (nh_kind_has(x->kind, NH_CAP_COUNTS_FROM_POOL)) {
        for (size_t i = 0; i < x->o->n_pools; i++)
            t += x->o->pools[i].current > 0 ? x->o->pools[i].current : 0;
        return t;
    }
    for (size_t i = 0; i < x->o->n_nodes; i++)
        if (x->o->nodes[i].worker && node_present(&x->o->nodes[i]))
            t++;
    return t;
}

/* Takes every removal action out of the plan (the others keep their
 * order); how many were taken out. */
static size_t drop_removal_actions(struct ctx *x)
{
    size_t k = 0, dropped = 0;
    for (size_t i = 0; i < x->lp.n_actions; i++) {
        if (x->removal[i]) {
            nh_action_clear(&x->lp.actions[i]);
            dropped++;
            continue;
        }
        x->lp.actions[k] = x->lp.actions[i];
        x->removal[k] = false;
        k++;
    }
    x->lp.n_actions = k;
    return dropped;
}

static void share_guard(struct ctx *x)
{
    const struct nh_cfg_cluster *c = x->c;
    double share = NH_DEFAULT_SHARE;
    int total;
    size_t dropped;
    char fix[256];

    if (x->pol != NULL && x->pol->max_removal_share >= 0.0 && x->pol->max_removal_share <= 1.0)
        share = x->pol->max_removal_share;
    if (x->intended <= 0 || c->confirm_mass_removal)
        return;
    total = observed_total(x);
    if (total > 0 && (double)x->intended <= share * (double)total)
        return;
    dropped = drop_removal_actions(x);
    fmt(fix, sizeof(fix),
        "set confirm_mass_removal: true for clusters[%s] if intended, or fix the declaration",
        or_q(c->name));
    note(x, NH_NOTE_REFUSED, NH_RULE_SHARE, NULL, fix,
         "would remove %d of %d nodes (%d%% > %d%%); %zu removal action(s) refused", x->intended,
         total, total > 0 ? (int)((200LL * x->intended + total) / (2LL * total)) : 100,
         (int)(share * 100.0 + 0.5), dropped);
}

/* ---------- counts-only observations ---------- */

/* The size a declared pool is planned to (nodes: clamped to min..max), or
 * -1 when the count is not managed or the bounds are contradictory. */
static int declared_size(const struct nh_cfg_pool *d)
{
    if (d->nodes < 0 || d->min > d->max)
        return -1;
    return d->nodes < d->min ? d->min : d->nodes > d->max ? d->max : d->nodes;
}

bool nh_plan_removal_possible(const struct nh_cfg_cluster *want, const struct nh_observed *have)
{
    if (want == NULL || have == NULL || !have->complete || want->provider == NULL ||
        !nh_kind_has(want->provider->kind, NH_CAP_COUNTS_FROM_POOL) || want->n_remove > 0)
        return true;
    for (size_t i = 0; i < have->n_pools; i++) {
        const struct nh_obs_pool *p = &have->pools[i];
        const struct nh_cfg_pool *d = NULL;
        size_t matches = 0;

        if (p->id == NULL || p->unhealthy > 0 || p->deleting > 0 || p->being_deleted)
            return true;
        for (size_t j = 0; j < want->n_pools; j++)
            if (pool_matches(&want->pools[j], p)) {
                d = &want->pools[j];
                matches++;
            }
        if (matches == 0) {
            if (want->prune)
                return true;
            continue; /* undeclared, no prune: nothing of it is removed */
        }
        int size = matches == 1 ? declared_size(d) : -1;
        if (size < 0 || p->current > size || p->desired > size)
            return true;
    }
    return false;
}

/* A counts-only observation lists no node: whatever removal the plan
 * holds is dropped (nh_plan_removal_possible keeps plans from getting
 * here with one; this is the last guard). */
static void drop_removals(struct ctx *x)
{
    size_t dropped = drop_removal_actions(x);

    if (dropped > 0)
        note(x, NH_NOTE_REFUSED, NH_RULE_INCOMPLETE, NULL, NULL,
             "only the node pools' counts were read; %zu removal action(s) refused until the "
             "nodes are listed",
             dropped);
}

/* ---------- entry ---------- */

/* Appends src's arrays to dst; src's elements are moved (src is emptied). */
static int plan_move(struct nh_plan *dst, struct nh_plan *src)
{
    if (src->n_actions > 0) {
        struct nh_action *a = realloc(dst->actions, (dst->n_actions + src->n_actions) * sizeof(*a));
        if (a == NULL)
            return -ENOMEM;
        dst->actions = a;
    }
    if (src->n_notes > 0) {
        struct nh_note *n = realloc(dst->notes, (dst->n_notes + src->n_notes) * sizeof(*n));
        if (n == NULL)
            return -ENOMEM;
        dst->notes = n;
    }
    if (src->n_actions > 0)
        memcpy(dst->actions + dst->n_actions, src->actions, src->n_actions * sizeof(*src->actions));
    if (src->n_notes > 0)
        memcpy(dst->notes + dst->n_notes, src->notes, src->n_notes * sizeof(*src->notes));
    dst->n_actions += src->n_actions;
    dst->n_notes += src->n_notes;
    free(src->actions);
    free(src->notes);
    memset(src, 0, sizeof(*src));
    return 0;
}

static void plan_body(struct ctx *x, const struct nh_op *busy, size_t n_busy)
{
    const struct nh_cfg_cluster *c = x->c;
    char why[300];

    if (x->o == NULL) {
        note(x, NH_NOTE_WAITING, NH_RULE_INCOMPLETE, NULL, NULL,
             "not observed yet; nothing planned until the first complete observation");
        return;
    }
    if (n_busy > 0) {
        busy_notes(x, busy, n_busy);
        return;
    }
    if (!x->o->complete) {
        note(x, NH_NOTE_REFUSED, NH_RULE_INCOMPLETE, NULL,
             "check the provider's errors (credentials, throttling); planning resumes after a "
             "complete observation",
             "observation incomplete (%.180s); nothing planned for this cluster",
             x->o->why[0] ? x->o->why : "no reason given");
        return;
    }
    if (x->o->counts_only && !nh_kind_has(x->kind, NH_CAP_COUNTS_FROM_POOL)) {
        note(x, NH_NOTE_REFUSED, NH_RULE_INCOMPLETE, NULL, "this is a provider bug; report it",
             "only pool counts were read, and %s counts nodes from its node list; nothing "
             "planned for this cluster",
             nh_provider_kind_name(x->kind));
        return;
    }
    if (x->o->counts_only && nh_plan_removal_possible(c, x->o)) {
        note(x, NH_NOTE_WAITING, NH_RULE_INCOMPLETE, NULL, NULL,
             "only the node pools' counts were read and a removal may be due; nothing planned "
             "until the nodes are listed (the next observation, at once)");
        return;
    }
    if (c->kube_access && !x->o->kube_read) {
        note(x, NH_NOTE_REFUSED, NH_RULE_INCOMPLETE, NULL,
             "check that the cluster's Kubernetes API answers (kubernetes: in "
             "nodeherd.yaml(5)); planning resumes after an observation that read it",
             "Kubernetes not read on this observation: its nodes, labels and pods are unknown; "
             "nothing planned for this cluster");
        return;
    }
    if (!observation_consistent(x, why, sizeof(why))) {
        if (x->err == 0)
            note(x, NH_NOTE_REFUSED, NH_RULE_INCOMPLETE, NULL,
                 "this is a provider bug; report it with the debug log",
                 "observation inconsistent (%.180s); nothing planned for this cluster", why);
        return;
    }
    if (c->provider == NULL) {
        note(x, NH_NOTE_BLOCKED, NH_RULE_UNSUPPORTED, NULL, "set provider: for the cluster",
             "cluster has no resolved provider; nothing planned");
        return;
    }
    if (!cluster_accepts(x))
        return;
    labels_note(x);

    /* Removals the cloud is still carrying out count against the budget. */
    if (nh_kind_has(x->kind, NH_CAP_COUNTS_FROM_POOL)) {
        for (size_t i = 0; i < x->o->n_pools; i++)
            x->in_flight += x->o->pools[i].deleting > 0 ? x->o->pools[i].deleting : 0;
    } else {
        for (size_t i = 0; i < x->n_nodes; i++)
            if (x->nodes[i]->worker && x->nodes[i]->health == NH_NODE_REMOVING)
                x->in_flight++;
    }
    x->budget = x->max_per_cycle > x->in_flight ? x->max_per_cycle - x->in_flight : 0;

    /* Workers outside pools. */
    {
        struct group g = {.workers = true};
        plan_group(x, &g, c->workers >= 0, c->workers, c->min, c->max);
    }
    for (size_t i = 0; i < c->n_pools && x->err == 0; i++)
        plan_declared_pool(x, &c->pools[i]);
    if (x->err == 0)
        plan_undeclared(x);
    if (x->err == 0)
        share_guard(x);
    if (x->err == 0 && x->o->counts_only)
        drop_removals(x);
}

int nh_plan_cluster(const struct nh_cfg_cluster *want, const struct nh_observed *have,
                    const struct nh_op *busy, size_t n_busy, const struct nh_policy *pol,
                    struct nh_plan *out)
{
    static const enum nh_victim_order default_order[] = {NH_ORDER_UNHEALTHY, NH_ORDER_NEWEST};
    struct ctx x = {.c = want, .o = have, .pol = pol};
    int r;

    if (want == NULL || out == NULL)
        return -EINVAL;
    x.kind = want->provider != NULL ? want->provider->kind : NH_PROVIDER_ACK;
    if (want->scale_in.n_order > 0) {
        x.order = want->scale_in.order;
        x.n_order = want->scale_in.n_order < NH_ORDER_MAX ? want->scale_in.n_order : NH_ORDER_MAX;
    } else {
        x.order = default_order;
        x.n_order = 2;
    }
    x.max_per_cycle = want->scale_in.max_per_cycle > 0 ? want->scale_in.max_per_cycle : 0;
    if (x.max_per_cycle > NH_PLAN_MAX_VICTIMS)
        x.max_per_cycle = NH_PLAN_MAX_VICTIMS;

    plan_body(&x, busy, n_busy);
    r = x.err;
    if (r == 0)
        r = plan_move(out, &x.lp);
    nh_plan_clear(&x.lp);
    free(x.removal);
    free(x.nodes);
    return r;
}
