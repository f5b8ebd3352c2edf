/* plan.c - the pure planner. See plan.h for the rules; this file is the
 * only place they live.
 *
 * Shape of one nh_plan_cluster() call:
 *   1. gates that stop everything: never observed, an operation in flight,
 *      an incomplete or inconsistent observation (fail closed);
 *   2. groups: the workers outside pools, each declared pool (declaration
 *      order), then undeclared pools that hold nodes named in remove:;
 *      each group grows (scale) or shrinks (named victims; ModelArts: a
 *      lower count), shrinking bounded by min, protection and the cluster's
 *      per-cycle budget, consumed in group order;
 *   3. prune of undeclared pools (guarded against an empty desired state);
 *   4. the share guard over the whole cluster, evaluated on the declared
 *      change: over the share and not confirmed, every removal is dropped.
 * Everything is built into a private plan and appended to the caller's only
 * on success, so an -ENOMEM leaves *out as it was. */
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

static const char *kind_name(enum nh_provider_kind k)
{
    switch (k) {
    case NH_PROVIDER_ACK:
        return "aliyun-ack";
    case NH_PROVIDER_CCE:
        return "huawei-cce";
    case NH_PROVIDER_MODELARTS:
        return "huawei-modelarts";
    }
    return "?";
}

static const char *order_name(enum nh_victim_order o)
{
    switch (o) {
    case NH_ORDER_UNHEALTHY:
        return "unhealthy";
    case NH_ORDER_NEWEST:
        return "newest";
    case NH_ORDER_OLDEST:
        return "oldest";
    case NH_ORDER_NAME:
        return "name";
    }
    return "?";
}

static char *dup_str(const char *s, bool *ok)
{
    char *d;
    if (s == NULL)
        return NULL;
    d = strdup(s);
    if (d == NULL)
        *ok = false;
    return d;
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
    n->cluster = dup_str(or_q(x->c->name), &ok);
    n->pool = dup_str(pool, &ok);
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
    a->cluster = dup_str(or_q(x->c->name), &ok);
    a->pool_id = dup_str(pool_id, &ok);
    a->pool_name = dup_str(pool_name, &ok);
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

/* ---------- victim ordering ---------- */

struct cand {
    const struct nh_node *n;
    bool listed;
};

static int cand_cmp(const struct cand *a, const struct cand *b, const struct ctx *x)
{
    if (a->listed != b->listed)
        return a->listed ? -1 : 1;
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
                                order_name(x->order[i]));
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
        a->node_ids[i] = dup_str(v[i].n->id, &ok);
        a->node_names[i] = dup_str(v[i].n->name ? v[i].n->name : v[i].n->id, &ok);
    }
    if (!ok)
        x->err = -ENOMEM;
}

/* Plans growth of a managed group that is below its desired size. */
static void plan_grow(struct ctx *x, const struct group *g, int current, int desired,
                      enum nh_rule rule, const char *decl_text)
{
    char path[128], fix[256];
    struct nh_action *a;

    cfg_path(x, g, path, sizeof(path));
    if (g->workers) {
        if (x->kind == NH_PROVIDER_CCE) {
            note(x, NH_NOTE_BLOCKED, NH_RULE_UNSUPPORTED, NULL,
                 "declare a node pool (node_pools:) and set its nodes: instead of workers:",
                 "%s, %d observed: huawei-cce cannot add nodes outside a node pool", decl_text,
                 current);
            return;
        }
        if (x->o->n_pools > 0) {
            fmt(fix, sizeof(fix),
                "declare the size on a node pool (node_pools: nodes:) instead of workers: in %s",
                path);
            note(x, NH_NOTE_BLOCKED, NH_RULE_UNSUPPORTED, NULL, fix,
                 "%s, %d observed: ACK ScaleCluster is only used on clusters without node pools "
                 "(%zu found)",
                 decl_text, current, x->o->n_pools);
            return;
        }
        if (!x->c->has_scale_out) {
            fmt(fix, sizeof(fix),
                "add scale_out: {instance_type, system_disk, login_password} to %s", path);
            note(x, NH_NOTE_BLOCKED, NH_RULE_UNSUPPORTED, NULL, fix,
                 "%s, %d observed: scale-out needs the scale_out settings of ACK ScaleCluster",
                 decl_text, current);
            return;
        }
        a = action(x, NH_ACT_SCALE_CLUSTER, rule, NULL, NULL, current, desired, false);
        if (a != NULL)
            fmt(a->why, sizeof(a->why), "%s, %d observed: scale out to %d", decl_text, current,
                desired);
        return;
    }
    if (g->obs->is_default) {
        note(x, NH_NOTE_BLOCKED, NH_RULE_UNSUPPORTED, g->label,
             "declare another node pool and scale that one",
             "%s, %d observed: the CCE DefaultPool cannot be scaled out", decl_text, current);
        return;
    }
    a = action(x, NH_ACT_SCALE_POOL, rule, g->obs->id, g->label, current, desired, false);
    if (a != NULL)
        fmt(a->why, sizeof(a->why), "%s, %d observed: scale pool out to %d", decl_text, current,
            desired);
}

/* ModelArts: no per-node removal; lowering the count is the only way. */
static void plan_shrink_counters(struct ctx *x, const struct group *g, int current, int desired,
                                 enum nh_rule rule, const char *decl_text)
{
    int want = current - desired, take;
    struct nh_action *a;

    x->intended += want;
    take = want < x->budget ? want : x->budget;
    if (take < want)
        note(x, NH_NOTE_LIMITED, NH_RULE_BUDGET, g->label,
             "raise scale_in.max_per_cycle to remove more per cycle",
             "%s, %d observed: removing %d of %d this cycle (max_per_cycle %d, %d already "
             "being removed)",
             decl_text, current, take, want, x->max_per_cycle, x->in_flight);
    if (take <= 0)
        return;
    x->budget -= take;
    a = action(x, NH_ACT_SCALE_POOL, rule, g->obs->id, g->label, current, current - take, true);
    if (a != NULL)
        fmt(a->why, sizeof(a->why),
            "%s, %d observed: lower count to %d (ModelArts cannot remove chosen nodes; the cloud "
            "picks which go, so protect and victim order cannot hold)",
            decl_text, current, current - take);
}

/* One group: counts, then grow or shrink. `managed`: a declared count
 * applies (desired >= 0); otherwise only remove: can shrink it. */
static void plan_group(struct ctx *x, const struct group *g, bool managed, int declared, int min,
                       int max)
{
    const struct nh_cfg_cluster *c = x->c;
    bool counters = x->kind == NH_PROVIDER_MODELARTS; /* no per-node removal */
    int current = 0, desired = -1, n_listed = 0, n_protected = 0, n_pending = 0, n_elig = 0;
    enum nh_rule rule = NH_RULE_DECLARED;
    char decl_text[128], path[128], fix[256], ord[96];
    struct cand *v = NULL, *tmp = NULL;
    size_t nv = 0;

    cfg_path(x, g, path, sizeof(path));
    if (managed && min > max) {
        fmt(fix, sizeof(fix), "set min <= max in %s", path);
        note(x, NH_NOTE_BLOCKED, NH_RULE_MIN, g->label, fix,
             "min %d is above max %d; nothing planned for %s", min, max,
             g->workers ? "the workers" : "this pool");
        return;
    }

    /* Current size. */
    if (counters && !g->workers) {
        current = g->obs->current;
    } else {
        for (size_t i = 0; i < x->n_nodes; i++)
            if (in_group(g, x->nodes[i]))
                current++;
    }

    if (managed) {
        desired = declared;
        if (desired < min) {
            desired = min;
            rule = NH_RULE_MIN;
            note(x, NH_NOTE_LIMITED, NH_RULE_MIN, g->label, NULL,
                 "%d declared is below min %d; keeping %d", declared, min, min);
        } else if (desired > max) {
            desired = max;
            rule = NH_RULE_MAX;
            note(x, NH_NOTE_LIMITED, NH_RULE_MAX, g->label, NULL,
                 "%d declared is above max %d; using %d", declared, max, max);
        }
        if (desired != declared)
            fmt(decl_text, sizeof(decl_text), "%d declared (%s %d)", declared,
                rule == NH_RULE_MIN ? "min" : "max", desired);
        else
            fmt(decl_text, sizeof(decl_text), "%d declared", declared);
    } else {
        fmt(decl_text, sizeof(decl_text), "not managed");
    }

    if (counters) {
        /* remove: cannot name ModelArts nodes. */
        for (size_t i = 0; i < x->n_nodes; i++) {
            const struct nh_node *n = x->nodes[i];
            bool mine = g->workers ? n->pool_id == NULL : str_eq(n->pool_id, g->pool_id);
            if (mine && node_present(n) && node_listed(c, n))
                note(x, NH_NOTE_BLOCKED, NH_RULE_UNSUPPORTED, g->label,
                     "lower nodes: of the node pool instead; ModelArts picks the nodes",
                     "node %s is in remove: but huawei-modelarts cannot remove a chosen node",
                     or_q(n->name ? n->name : n->id));
        }
        if (!managed)
            return;
        if (g->workers) {
            note(x, NH_NOTE_BLOCKED, NH_RULE_UNSUPPORTED, NULL,
                 "set nodes: on the resource pool's node pools instead of workers:",
                 "%s, %d observed: huawei-modelarts has no workers outside node pools", decl_text,
                 current);
            return;
        }
        if (current < desired)
            plan_grow(x, g, current, desired, rule, decl_text);
        else if (current > desired)
            plan_shrink_counters(x, g, current, desired, rule, decl_text);
        return;
    }

    /* Candidates: listed (not protected, any live state) and ordered
     * (not listed, not protected, ready or unhealthy). */
    if (current > 0) {
        v = calloc((size_t)current, sizeof(*v));
        tmp = calloc((size_t)current, sizeof(*tmp));
        if (v == NULL || tmp == NULL) {
            x->err = -ENOMEM;
            goto out;
        }
    }
    for (size_t i = 0; i < x->n_nodes; i++) {
        const struct nh_node *n = x->nodes[i];
        bool listed, prot;
        if (!in_group(g, n))
            continue;
        listed = node_listed(c, n);
        prot = node_protected(c, n);
        if (prot) {
            n_protected++;
            if (listed) {
                fmt(fix, sizeof(fix),
                    "drop it from remove: or from scale_in.protect / its protect label in %s",
                    path);
                note(x, NH_NOTE_LIMITED, NH_RULE_PROTECT, g->label, fix,
                     "node %s is in remove: but protected; keeping it", n->name ? n->name : n->id);
            }
            continue;
        }
        if (!listed && n->health == NH_NODE_PENDING) {
            n_pending++;
            continue;
        }
        v[nv].n = n;
        v[nv].listed = listed;
        nv++;
        if (listed)
            n_listed++;
        else
            n_elig++;
    }
    /* Masters named in remove: are never removed; say so. */
    if (g->workers) {
        for (size_t i = 0; i < x->n_nodes; i++) {
            const struct nh_node *n = x->nodes[i];
            if (!n->worker && node_present(n) && node_listed(c, n))
                note(x, NH_NOTE_LIMITED, NH_RULE_PROTECT, NULL,
                     "drop it from remove:; nodeherd never removes masters",
                     "node %s is in remove: but is a master; keeping it",
                     or_q(n->name ? n->name : n->id));
        }
    }

    {
        int surplus = managed ? current - desired : 0;
        int want = surplus > n_listed ? surplus : n_listed;
        int floor_cap = current - min > 0 ? current - min : 0;
        int take;
        struct nh_action *a;

        if (want <= 0) {
            if (managed && current < desired)
                plan_grow(x, g, current, desired, rule, decl_text);
            goto out;
        }
        if (want > floor_cap) {
            fmt(fix, sizeof(fix), "lower min in %s if these nodes must go", path);
            note(x, NH_NOTE_LIMITED, NH_RULE_MIN, g->label, fix,
                 "%d observed, min %d: removing %d instead of %d", current, min, floor_cap, want);
            want = floor_cap;
        }
        x->intended += want;
        take = want;
        if (take > n_listed + n_elig) {
            fmt(fix, sizeof(fix),
                "remove protection from some nodes in %s, or wait for pending nodes", path);
            note(x, NH_NOTE_LIMITED, NH_RULE_PROTECT, g->label, fix,
                 "%s, %d observed: only %d of %d surplus nodes can be removed (%d protected, %d "
                 "pending)",
                 decl_text, current, n_listed + n_elig, take, n_protected, n_pending);
            take = n_listed + n_elig;
        }
        if (take > x->budget) {
            note(x, NH_NOTE_LIMITED, NH_RULE_BUDGET, g->label,
                 "raise scale_in.max_per_cycle to remove more per cycle",
                 "%s, %d observed: removing %d of %d this cycle (max_per_cycle %d, %d already "
                 "being removed)",
                 decl_text, current, x->budget > 0 ? x->budget : 0, take, x->max_per_cycle,
                 x->in_flight);
            take = x->budget > 0 ? x->budget : 0;
        }
        if (take <= 0)
            goto out;
        cand_sort(v, tmp, nv, x);
        x->budget -= take;
        {
            bool any_listed = v[0].listed;
            a = action(x, NH_ACT_REMOVE_NODES, any_listed ? NH_RULE_REMOVE_LIST : rule,
                       g->workers ? NULL : g->pool_id, g->label, current, current - take, true);
            if (a == NULL)
                goto out;
            a->pool_nodes = !g->workers;
            set_victims(x, a, v, (size_t)take);
            order_text(x, any_listed, ord, sizeof(ord));
            fmt(a->why, sizeof(a->why), "%s, %d observed: remove %d (%s)", decl_text, current, take,
                ord);
        }
    }
out:
    free(v);
    free(tmp);
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
    if (p->desired != p->current && (p->creating > 0 || p->deleting > 0)) {
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
    if (x->kind == NH_PROVIDER_MODELARTS)
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

/* Undeclared observed pools, sorted by id: prune candidates (prune == true)
 * and holders of remove: nodes (otherwise). */
static void plan_undeclared(struct ctx *x)
{
    const struct nh_cfg_cluster *c = x->c;
    const struct nh_observed *o = x->o;
    const struct nh_obs_pool **u;
    size_t nu = 0, n_cand = 0;
    bool prune_ok = false;
    char fix[256];

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

    if (c->prune && c->pools_declared && n_cand > 0) {
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
        } else if (x->kind != NH_PROVIDER_MODELARTS) {
            for (size_t i = 0; i < nu; i++) {
                if (u[i]->is_default || u[i]->being_deleted)
                    continue;
                note(x, NH_NOTE_BLOCKED, NH_RULE_UNSUPPORTED, u[i]->name,
                     "delete the pool in the cloud console, or declare it",
                     "pool %s is not declared and prune is on, but nodeherd cannot delete node "
                     "pools on %s",
                     or_q(u[i]->name), kind_name(x->kind));
            }
        } else {
            prune_ok = true;
        }
    }

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

    if (prune_ok) {
        for (size_t i = 0; i < nu; i++) {
            const struct nh_obs_pool *p = u[i];
            int size;
            struct nh_action *a;
            if (p->is_default || p->being_deleted)
                continue;
            size = pool_size(x, p);
            x->intended += size;
            a = action(x, NH_ACT_DELETE_POOL, NH_RULE_PRUNE, p->id, p->name, size, 0, true);
            if (a != NULL)
                fmt(a->why, sizeof(a->why),
                    "pool %s (%d nodes) is not declared and prune is on: delete it", or_q(p->name),
                    size);
        }
    }
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

/* ---------- share guard ---------- */

static int observed_total(const struct ctx *x)
{
    int t = 0;
    if (x->kind == NH_PROVIDER_MODELARTS) {
        for (size_t i = 0; i < x->o->n_pools; i++)
            t += x->o->pools[i].current > 0 ? x->o->pools[i].current : 0;
        return t;
    }
    for (size_t i = 0; i < x->o->n_nodes; i++)
        if (x->o->nodes[i].worker && node_present(&x->o->nodes[i]))
            t++;
    return t;
}

static void share_guard(struct ctx *x)
{
    const struct nh_cfg_cluster *c = x->c;
    double share = NH_DEFAULT_SHARE;
    int total;
    size_t k = 0, dropped = 0;
    char fix[256];

    if (x->pol != NULL && x->pol->max_removal_share >= 0.0 && x->pol->max_removal_share <= 1.0)
        share = x->pol->max_removal_share;
    if (x->intended <= 0 || c->confirm_mass_removal)
        return;
    total = observed_total(x);
    if (total > 0 && (double)x->intended <= share * (double)total)
        return;
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
    fmt(fix, sizeof(fix),
        "set confirm_mass_removal: true for clusters[%s] if intended, or fix the declaration",
        or_q(c->name));
    note(x, NH_NOTE_REFUSED, NH_RULE_SHARE, NULL, fix,
         "would remove %d of %d nodes (%d%% > %d%%); %zu removal action(s) refused", x->intended,
         total, total > 0 ? (int)((200LL * x->intended + total) / (2LL * total)) : 100,
         (int)(share * 100.0 + 0.5), dropped);
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

    /* Removals the cloud is still carrying out count against the budget. */
    if (x->kind == NH_PROVIDER_MODELARTS) {
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
        x.n_order = want->scale_in.n_order < 4 ? want->scale_in.n_order : 4;
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
