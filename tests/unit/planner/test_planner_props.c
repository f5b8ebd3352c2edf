/* test_planner_props.c - property tests of the planner over random states.
 *
 * Generates NH_PLAN_PROP_CASES (default 100000) random (declaration,
 * observation, in-flight, policy) tuples from a fixed seed (NH_PLAN_PROP_SEED
 * to vary it) and checks, against an oracle written from the rules rather
 * than from plan.c:
 *   - never a protected node (also one Kubernetes holds: kube_hold), a
 *     master, a removing node or (unless listed) a
 *     pending node among victims; victims exist, are unique, belong to the
 *     action's group;
 *   - never below min, scale targets within [min, max], never more removed
 *     from a group than its surplus or its remove: entries plus, in a group
 *     with a declared count, its failed nodes (replaced);
 *   - at most max_per_cycle removals per cluster;
 *   - nothing at all when busy, unobserved, incomplete or inconsistent, or
 *     when the cluster has Kubernetes access and it was not read;
 *   - DELETE_POOL only with prune for an undeclared, deletable pool that is
 *     not yearly/monthly and whose nodes are not changing;
 *   - never a yearly/monthly node where the removal would delete its server;
 *     never a node-pool node with release_instances false where the cloud
 *     cannot keep its server; nothing on a locked pool, no growth of a pool
 *     the cloud says cannot grow; nothing when the cluster's state refuses;
 *     ModelArts keeps a node in the resource pool; a count is only ever
 *     lowered to the nodes that are there (no cloud-chosen victims);
 *   - the share guard holds unless confirmed;
 *   - same input, same output; and the same output for any listing order. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "planner/plan.h"
#include "plantest.h"

/* ---------- PRNG (splitmix64) ---------- */

static uint64_t rng_state;

static uint64_t rng_next(void)
{
    uint64_t z = (rng_state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static int rnd(int n)
{
    return (int)(rng_next() % (uint64_t)n);
}

/* ---------- random case ---------- */

#define MAX_NODES 12
#define MAX_POOLS 4

static const char *const node_ids[] = {"n0", "n1", "n2", "n3", "n4",  "n5",
                                       "n6", "n7", "n8", "n9", "n10", "n11"};
static const char *const node_names[] = {"nm0", "nm1", "nm2", "nm3", "nm4",  "nm5",
                                         "nm6", "nm7", "nm8", "nm9", "nm10", "nm11"};
static const char *const pool_ids[] = {"np0", "np1", "np2", "np3"};
static const char *const pool_names[] = {"pool0", "pool1", "pool2", "pool3"};
static const double shares[] = {0.5, 0.5, 0.25, 0.75, 1.0, 0.0};

struct rcase {
    struct nh_cfg_provider prov;
    struct nh_cfg_cluster c, prev;
    struct nh_cfg_pool pools[MAX_POOLS], prev_pools[MAX_POOLS];
    char *remove[3];
    char *protect[2];
    struct nh_cfg_label label;
    struct nh_observed o;
    struct nh_op op;
    size_t n_busy;
    bool unobserved;
    bool dup_ids;
    struct nh_policy pol;
};

static char *random_node_ref(void)
{
    int k = rnd(MAX_NODES + 1);
    if (k == MAX_NODES)
        return "ghost";
    return (char *)(rnd(2) ? node_ids[k] : node_names[k]);
}

static void gen_pools(struct nh_cfg_pool *pools, size_t *n)
{
    int used = 0;
    *n = 0;
    for (int i = rnd(MAX_POOLS + 1); i > 0; i--) {
        int k = rnd(MAX_POOLS);
        struct nh_cfg_pool *d;
        if (used & (1 << k))
            continue;
        used |= 1 << k;
        d = &pools[(*n)++];
        memset(d, 0, sizeof(*d));
        d->name = (char *)pool_names[k];
        d->id = rnd(3) == 0 ? (char *)pool_ids[k] : NULL;
        d->nodes = rnd(9) - 1;
        d->min = rnd(3);
        d->max = rnd(25) == 0 ? d->min - 1 : d->min + rnd(7);
        d->manage_autoscaling = rnd(4) == 0;
    }
}

static void gen_case(struct rcase *r)
{
    struct nh_cfg_cluster *c = &r->c;
    int n_nodes;

    memset(r, 0, sizeof(*r));
    r->prov.name = "p";
    r->prov.kind = (enum nh_provider_kind)rnd(3);
    c->name = "c";
    c->provider = &r->prov;
    c->workers = rnd(10) - 1;
    c->min = rnd(4);
    c->max = rnd(25) == 0 ? c->min - 1 : c->min + rnd(8);
    c->has_scale_out = rnd(2);
    c->scale_in.n_order = (size_t)rnd(NH_ORDER_MAX);
    for (size_t i = 0; i < c->scale_in.n_order; i++)
        c->scale_in.order[i] = (enum nh_victim_order)rnd(NH_ORDER_MAX);
    c->scale_in.n_protect = (size_t)rnd(3);
    for (size_t i = 0; i < c->scale_in.n_protect; i++)
        r->protect[i] = random_node_ref();
    c->scale_in.protect = r->protect;
    if (rnd(2)) {
        r->label.key = "team";
        r->label.value = rnd(2) ? NULL : "ml";
        c->scale_in.protect_labels = &r->label;
        c->scale_in.n_protect_labels = 1;
    }
    c->scale_in.max_per_cycle = rnd(5);
    c->scale_in.release_instances = rnd(4) != 0;
    c->kube_access = rnd(2);
    c->n_remove = (size_t)rnd(4) == 0 ? 0 : (size_t)rnd(3);
    for (size_t i = 0; i < c->n_remove; i++)
        r->remove[i] = random_node_ref();
    c->remove = r->remove;
    gen_pools(r->pools, &c->n_pools);
    c->pools = r->pools;
    c->pools_declared = c->n_pools > 0 || rnd(2);
    c->prune = rnd(2);
    c->confirm_mass_removal = rnd(5) == 0;
    if (rnd(3) == 0) {
        r->prev.name = "c";
        gen_pools(r->prev_pools, &r->prev.n_pools);
        r->prev.pools = r->prev_pools;
        r->prev.pools_declared = true;
        r->pol.previous = &r->prev;
    }
    r->pol.max_removal_share = shares[rnd(6)];

    /* Observation. */
    r->o.complete = rnd(10) != 0;
    r->o.kube_read = rnd(8) != 0;
    if (!r->o.complete)
        snprintf(r->o.why, sizeof(r->o.why), "throttled");
    for (int k = 0, no_pools = rnd(4) == 0; k < MAX_POOLS && !no_pools; k++) {
        struct nh_obs_pool *p;
        if (rnd(10) < 3)
            continue;
        p = pt_pool(&r->o, pool_ids[k], rnd(12) == 0 ? pool_names[0] : pool_names[k]);
        p->desired = rnd(10) == 0 ? -1 : rnd(7);
        p->current = rnd(7);
        p->subscription = rnd(10) == 0;
        p->locked = rnd(15) == 0;
        if (p->locked || rnd(10) == 0) {
            p->blocked = strdup("condition Scalable=False");
            assert_non_null(p->blocked);
        }
        p->creating = rnd(6) == 0 ? rnd(3) : 0;
        p->deleting = rnd(6) == 0 ? rnd(3) : 0;
        p->autoscaling = rnd(8) == 0;
        p->being_deleted = rnd(15) == 0;
        p->is_default = rnd(15) == 0;
    }
    n_nodes = rnd(MAX_NODES + 1);
    for (int i = 0; i < n_nodes; i++) {
        const char *pool = NULL, *label = NULL;
        int lr = rnd(10);
        if (rnd(2)) {
            if (r->o.n_pools > 0 && rnd(12) != 0)
                pool = r->o.pools[rnd((int)r->o.n_pools)].id;
            else
                pool = "np-gone";
        }
        if (lr == 0)
            label = "nodeherd.io/protect=true";
        else if (lr == 1)
            label = "team=ml";
        else if (lr == 2)
            label = "team=web";
        struct nh_node *nd = pt_node(&r->o, node_ids[i], rnd(8) ? node_names[i] : NULL, pool,
                                     (enum nh_node_health)rnd(4), rnd(5), rnd(10) != 0, label);
        nd->failed = nd->health == NH_NODE_UNHEALTHY && rnd(3) == 0;
        nd->subscription = rnd(6) == 0;
        /* Kubernetes facts (issue #20): pods counted, or a hold */
        nd->kube_pods_known = rnd(3) != 0;
        nd->kube_pods = nd->kube_pods_known ? rnd(6) : 0;
        if (rnd(6) == 0)
            nd->kube_hold = strdup("pod \"shop/cart-0\" has no controller");
    }
    switch (rnd(8)) {
    case 0:
        r->o.cluster_state = NH_CLUSTER_BUSY;
        break;
    case 1:
        r->o.cluster_state = NH_CLUSTER_REFUSES;
        break;
    case 2:
        r->o.cluster_state = NH_CLUSTER_ACCEPTS;
        break;
    default:
        break;
    }
    if (n_nodes > 1 && rnd(200) == 0) {
        free(r->o.nodes[1].id);
        r->o.nodes[1].id = strdup(r->o.nodes[0].id);
        assert_non_null(r->o.nodes[1].id);
        r->dup_ids = true;
    }
    if (rnd(10) == 0) {
        r->n_busy = 1;
        r->op.state = NH_OP_SENT;
        r->op.action.kind = NH_ACT_REMOVE_NODES;
        r->op.action.n_nodes = 1;
    }
    r->unobserved = rnd(30) == 0;
}

/* ---------- oracle ---------- */

static bool eq(const char *a, const char *b)
{
    return a != NULL && b != NULL && strcmp(a, b) == 0;
}

static bool same(const char *a, const char *b)
{
    return (a == NULL && b == NULL) || eq(a, b);
}

static bool listed(const struct nh_cfg_cluster *c, const struct nh_node *n)
{
    for (size_t i = 0; i < c->n_remove; i++)
        if (eq(c->remove[i], n->id) || eq(c->remove[i], n->name))
            return true;
    return false;
}

static bool protected_node(const struct nh_cfg_cluster *c, const struct nh_node *n)
{
    if (n->kube_hold != NULL)
        return true; /* held by what Kubernetes says: never a victim */
    for (size_t i = 0; i < c->scale_in.n_protect; i++)
        if (eq(c->scale_in.protect[i], n->id) || eq(c->scale_in.protect[i], n->name))
            return true;
    for (size_t l = 0; l < n->n_labels; l++) {
        const char *k = n->labels[l].key, *v = n->labels[l].value;
        if (eq(k, "nodeherd.io/protect") && eq(v, "true"))
            return true;
        for (size_t i = 0; i < c->scale_in.n_protect_labels; i++)
            if (eq(k, c->scale_in.protect_labels[i].key) &&
                (c->scale_in.protect_labels[i].value == NULL ||
                 eq(v, c->scale_in.protect_labels[i].value)))
                return true;
    }
    return false;
}

static bool live_worker(const struct nh_node *n)
{
    return n->worker && n->health != NH_NODE_REMOVING;
}

static const struct nh_node *find_node(const struct nh_observed *o, const char *id)
{
    for (size_t i = 0; i < o->n_nodes; i++)
        if (eq(o->nodes[i].id, id))
            return &o->nodes[i];
    return NULL;
}

static const struct nh_obs_pool *find_pool(const struct nh_observed *o, const char *id)
{
    for (size_t i = 0; i < o->n_pools; i++)
        if (eq(o->pools[i].id, id))
            return &o->pools[i];
    return NULL;
}

static bool matches(const struct nh_cfg_pool *d, const struct nh_obs_pool *p)
{
    return d->id != NULL ? eq(d->id, p->id) : eq(d->name, p->name);
}

static size_t declared_count(const struct nh_cfg_cluster *c, const struct nh_obs_pool *p)
{
    size_t n = 0;
    for (size_t i = 0; i < c->n_pools; i++)
        n += matches(&c->pools[i], p);
    return n;
}

/* The declaration of an observed pool; NULL if none. */
static const struct nh_cfg_pool *declared_for(const struct nh_cfg_cluster *c,
                                              const struct nh_obs_pool *p)
{
    for (size_t i = 0; i < c->n_pools; i++)
        if (matches(&c->pools[i], p))
            return &c->pools[i];
    return NULL;
}

/* More than half of the previously declared pools are gone from c. */
static bool lost_most(const struct nh_cfg_cluster *prev, const struct nh_cfg_cluster *c)
{
    size_t lost = 0;
    if (prev == NULL)
        return false;
    for (size_t i = 0; i < prev->n_pools; i++) {
        bool kept = false;
        for (size_t j = 0; j < c->n_pools; j++)
            kept = kept || eq(prev->pools[i].name, c->pools[j].name) ||
                   eq(prev->pools[i].id, c->pools[j].id);
        lost += !kept;
    }
    return 2 * lost > prev->n_pools;
}

/* Would removing a member (of a pool, or a worker outside pools) delete
 * its server? ACK can keep both, CCE only workers outside pools. */
static bool deletes_server(const struct rcase *r, bool pool_node)
{
    bool keeps = r->prov.kind == NH_PROVIDER_ACK || (r->prov.kind == NH_PROVIDER_CCE && !pool_node);
    return r->c.scale_in.release_instances || !keeps;
}

static int clamp(int v, int lo, int hi)
{
    return v < lo ? lo : v > hi ? hi : v;
}

/* Present workers in a group (pool_id NULL: the workers outside pools). */
static int group_count(const struct rcase *r, const char *pool_id)
{
    int n = 0;
    if (pool_id != NULL && r->prov.kind == NH_PROVIDER_MODELARTS) {
        const struct nh_obs_pool *p = find_pool(&r->o, pool_id);
        return p != NULL ? p->current : 0;
    }
    for (size_t i = 0; i < r->o.n_nodes; i++)
        if (live_worker(&r->o.nodes[i]) && same(r->o.nodes[i].pool_id, pool_id))
            n++;
    return n;
}

static int listed_eligible(const struct rcase *r, const char *pool_id)
{
    int n = 0;
    for (size_t i = 0; i < r->o.n_nodes; i++) {
        const struct nh_node *nd = &r->o.nodes[i];
        if (live_worker(nd) && same(nd->pool_id, pool_id) && listed(&r->c, nd) &&
            !protected_node(&r->c, nd))
            n++;
    }
    return n;
}

/* Failed nodes a managed group may replace (not listed, not protected). */
static int failed_eligible(const struct rcase *r, const char *pool_id)
{
    int n = 0;
    for (size_t i = 0; i < r->o.n_nodes; i++) {
        const struct nh_node *nd = &r->o.nodes[i];
        if (live_worker(nd) && same(nd->pool_id, pool_id) && nd->failed && !listed(&r->c, nd) &&
            !protected_node(&r->c, nd))
            n++;
    }
    return n;
}

static int total_nodes(const struct rcase *r)
{
    int t = 0;
    if (r->prov.kind == NH_PROVIDER_MODELARTS) {
        for (size_t i = 0; i < r->o.n_pools; i++)
            t += r->o.pools[i].current;
        return t;
    }
    for (size_t i = 0; i < r->o.n_nodes; i++)
        if (live_worker(&r->o.nodes[i]))
            t++;
    return t;
}

/* Removals counted per group: slot 0 = workers, 1 + index into o.pools,
 * and one extra slot for nodes of pools that are not observed. */
struct tally {
    const char *key[MAX_POOLS + 8];
    int removed[MAX_POOLS + 8];
    int actions[MAX_POOLS + 8];
    size_t n;
};

static int tally_slot(struct tally *t, const char *key)
{
    for (size_t i = 0; i < t->n; i++)
        if (same(t->key[i], key))
            return (int)i;
    assert_true(t->n < MAX_POOLS + 8);
    t->key[t->n] = key;
    return (int)t->n++;
}

static void check_plan(const struct rcase *r, const struct nh_plan *p, uint64_t case_no)
{
    const struct nh_cfg_cluster *c = &r->c;
    struct tally t = {0};
    const char *seen[MAX_NODES * 2];
    size_t n_seen = 0;
    int budget_used = 0, total_removed = 0, nodes_removed = 0;
    int mpc = c->scale_in.max_per_cycle > 0 ? c->scale_in.max_per_cycle : 0;

    (void)case_no;
    if (r->unobserved || r->n_busy > 0 || !r->o.complete || r->dup_ids ||
        (c->kube_access && !r->o.kube_read) || r->o.cluster_state == NH_CLUSTER_BUSY ||
        r->o.cluster_state == NH_CLUSTER_REFUSES) {
        assert_int_equal(p->n_actions, 0);
        assert_true(p->n_notes > 0);
        return;
    }
    for (size_t i = 0; i < p->n_actions; i++) {
        const struct nh_action *a = &p->actions[i];
        int slot;
        assert_string_equal(a->cluster, "c");
        assert_true(a->why[0] != '\0');
        slot = tally_slot(&t, a->pool_id);
        t.actions[slot]++;
        assert_int_equal(t.actions[slot], 1); /* one action per group per cycle */
        switch (a->kind) {
        case NH_ACT_REMOVE_NODES: {
            const struct nh_obs_pool *gp = a->pool_id ? find_pool(&r->o, a->pool_id) : NULL;
            bool deletes = deletes_server(r, a->pool_id != NULL);
            /* release_instances false: only where the cloud keeps the server */
            if (!r->c.scale_in.release_instances)
                assert_false(deletes);
            assert_false(gp != NULL && gp->locked);
            assert_true(a->n_nodes > 0);
            assert_int_equal(a->pool_nodes, a->pool_id != NULL);
            assert_int_equal(a->target, a->from - (int)a->n_nodes);
            assert_int_equal(a->from, group_count(r, a->pool_id));
            for (size_t k = 0; k < a->n_nodes; k++) {
                const struct nh_node *n = find_node(&r->o, a->node_ids[k]);
                assert_non_null(n);
                for (size_t s = 0; s < n_seen; s++)
                    assert_string_not_equal(seen[s], n->id);
                seen[n_seen++] = n->id;
                assert_true(n->worker);
                assert_int_not_equal(n->health, NH_NODE_REMOVING);
                assert_false(protected_node(c, n));
                if (!listed(c, n))
                    assert_true(n->health == NH_NODE_READY || n->health == NH_NODE_UNHEALTHY);
                assert_true(same(n->pool_id, a->pool_id));
                assert_string_equal(a->node_names[k], n->name ? n->name : n->id);
                assert_false(n->subscription && deletes);
            }
            t.removed[slot] += (int)a->n_nodes;
            budget_used += (int)a->n_nodes;
            total_removed += (int)a->n_nodes;
            nodes_removed += (int)a->n_nodes;
            break;
        }
        case NH_ACT_SCALE_CLUSTER:
            assert_int_equal(r->prov.kind, NH_PROVIDER_ACK);
            assert_true(c->has_scale_out);
            assert_int_equal(r->o.n_pools, 0); /* seed ScaleCluster: clusters without pools */
            assert_true(c->workers >= 0 && c->min <= c->max);
            assert_null(a->pool_id);
            assert_int_equal(a->from, group_count(r, NULL));
            assert_int_equal(a->target, clamp(c->workers, c->min, c->max));
            assert_true(a->target > a->from);
            break;
        case NH_ACT_SCALE_POOL: {
            const struct nh_obs_pool *op = find_pool(&r->o, a->pool_id);
            const struct nh_cfg_pool *d;
            assert_non_null(op);
            d = declared_for(c, op);
            assert_non_null(d);
            assert_int_equal(declared_count(c, op), 1); /* never on a doubly declared pool */
            assert_true(d->nodes >= 0 && d->min <= d->max);
            /* up: never above max; down (ModelArts, a step): never below min */
            assert_true(a->target >= d->min);
            assert_false(op->autoscaling && !d->manage_autoscaling);
            assert_false(op->being_deleted);
            assert_false(op->locked);
            assert_false((op->desired < 0 || op->desired != op->current) &&
                         (op->creating > 0 || op->deleting > 0));
            assert_int_equal(a->from, group_count(r, a->pool_id));
            if (a->target > a->from) {
                assert_int_equal(a->target, clamp(d->nodes, d->min, d->max));
                assert_true(a->target <= d->max);
                assert_false(op->is_default);
                assert_null(op->blocked); /* the cloud says it cannot grow */
            } else {
                /* never a lower count for the cloud to pick victims: only
                 * ModelArts' count set to the nodes that are there */
                assert_int_equal(a->target, a->from);
                assert_int_equal(r->prov.kind, NH_PROVIDER_MODELARTS);
                assert_int_equal(a->target, clamp(d->nodes, d->min, d->max));
                assert_true(op->desired >= 0 && op->desired != a->target);
            }
            break;
        }
        case NH_ACT_DELETE_POOL: {
            const struct nh_obs_pool *op = find_pool(&r->o, a->pool_id);
            assert_non_null(op);
            assert_int_equal(r->prov.kind, NH_PROVIDER_MODELARTS);
            assert_true(c->prune && c->pools_declared);
            assert_null(declared_for(c, op));
            assert_false(op->is_default);
            assert_false(op->being_deleted);
            assert_false(op->subscription);
            assert_true(op->creating == 0 && op->deleting == 0);
            /* an empty or mostly vanished declaration never prunes unconfirmed */
            if (c->n_pools == 0 || lost_most(r->pol.previous, c))
                assert_true(c->confirm_mass_removal);
            assert_int_equal(a->target, 0);
            total_removed += a->from;
            break;
        }
        }
    }
    /* budget, with removals the cloud is still carrying out counted */
    {
        int in_flight = 0;
        if (r->prov.kind == NH_PROVIDER_MODELARTS) {
            for (size_t i = 0; i < r->o.n_pools; i++)
                in_flight += r->o.pools[i].deleting;
        } else {
            for (size_t i = 0; i < r->o.n_nodes; i++)
                in_flight += r->o.nodes[i].worker && r->o.nodes[i].health == NH_NODE_REMOVING;
        }
        assert_true(budget_used <= (mpc > in_flight ? mpc - in_flight : 0));
    }
    /* per group: min and surplus */
    for (size_t s = 0; s < t.n; s++) {
        int current, min = 0, surplus = 0, cap;
        bool managed = false;
        const struct nh_obs_pool *op;
        if (t.removed[s] == 0)
            continue;
        current = group_count(r, t.key[s]);
        if (t.key[s] == NULL) {
            min = c->min;
            if (c->workers >= 0) {
                surplus = current - clamp(c->workers, c->min, c->max);
                managed = true;
            }
        } else if ((op = find_pool(&r->o, t.key[s])) != NULL && declared_for(c, op) != NULL) {
            const struct nh_cfg_pool *d = declared_for(c, op);
            min = d->min;
            if (d->nodes >= 0 && !(op->autoscaling && !d->manage_autoscaling)) {
                surplus = current - clamp(d->nodes, d->min, d->max);
                managed = true;
            }
        }
        assert_true(current - t.removed[s] >= min);
        /* the surplus, or the remove: entries plus (in a group with a
         * declared count) the failed nodes it replaces */
        cap = listed_eligible(r, t.key[s]) + (managed ? failed_eligible(r, t.key[s]) : 0);
        if (surplus > cap)
            cap = surplus;
        assert_true(t.removed[s] <= cap);
    }
    /* ModelArts keeps a node in the resource pool */
    if (r->prov.kind == NH_PROVIDER_MODELARTS && nodes_removed > 0)
        assert_true(nodes_removed <= total_nodes(r) - 1);
    /* share guard */
    if (!c->confirm_mass_removal && total_removed > 0)
        assert_true((double)total_removed <= r->pol.max_removal_share * (double)total_nodes(r));
}

static void shuffle_observation(struct nh_observed *o)
{
    for (size_t i = o->n_nodes; i > 1; i--) {
        size_t j = (size_t)rnd((int)i);
        struct nh_node tmp = o->nodes[i - 1];
        o->nodes[i - 1] = o->nodes[j];
        o->nodes[j] = tmp;
    }
    for (size_t i = o->n_pools; i > 1; i--) {
        size_t j = (size_t)rnd((int)i);
        struct nh_obs_pool tmp = o->pools[i - 1];
        o->pools[i - 1] = o->pools[j];
        o->pools[j] = tmp;
    }
}

struct stats {
    unsigned long removes, scale_clusters, scale_ups, count_fixes, deletes, share_refusals,
        empty_refusals, kept_servers, subscription_notes;
};

static void test_planner_invariants_over_random_states(void **state)
{
    const char *env_n = getenv("NH_PLAN_PROP_CASES");
    const char *env_seed = getenv("NH_PLAN_PROP_SEED");
    unsigned long n_cases = env_n ? strtoul(env_n, NULL, 10) : 100000;
    struct stats st = {0};
    struct rcase r;
    (void)state;

    rng_state = env_seed ? strtoull(env_seed, NULL, 0) : 0x6e6f64656865726dULL;
    for (unsigned long i = 0; i < n_cases; i++) {
        struct nh_plan p1 = {0}, p2 = {0}, p3 = {0};
        struct nh_observed shuffled;
        const struct nh_observed *have;

        gen_case(&r);
        have = r.unobserved ? NULL : &r.o;
        assert_int_equal(nh_plan_cluster(&r.c, have, &r.op, r.n_busy, &r.pol, &p1), 0);
        check_plan(&r, &p1, i);
        /* same input, same output */
        assert_int_equal(nh_plan_cluster(&r.c, have, &r.op, r.n_busy, &r.pol, &p2), 0);
        assert_true(pt_plan_equal(&p1, &p2));
        /* listing order does not matter (every 4th state: keeps ASan runs short) */
        if (have != NULL && !r.dup_ids && i % 4 == 0) {
            assert_int_equal(nh_observed_copy(&shuffled, &r.o), 0);
            shuffle_observation(&shuffled);
            assert_int_equal(nh_plan_cluster(&r.c, &shuffled, &r.op, r.n_busy, &r.pol, &p3), 0);
            if (!pt_plan_equal(&p1, &p3)) {
                fprintf(stderr, "case %lu: plan depends on listing order\n", i);
                pt_plan_dump(&p1);
                pt_plan_dump(&p3);
                fail();
            }
            nh_observed_clear(&shuffled);
        }
        for (size_t k = 0; k < p1.n_actions; k++) {
            const struct nh_action *a = &p1.actions[k];
            st.removes += a->kind == NH_ACT_REMOVE_NODES;
            st.scale_clusters += a->kind == NH_ACT_SCALE_CLUSTER;
            st.scale_ups += a->kind == NH_ACT_SCALE_POOL && a->target > a->from;
            st.count_fixes += a->kind == NH_ACT_SCALE_POOL && a->target == a->from;
            st.kept_servers += a->kind == NH_ACT_REMOVE_NODES && !r.c.scale_in.release_instances;
            st.deletes += a->kind == NH_ACT_DELETE_POOL;
        }
        for (size_t k = 0; k < p1.n_notes; k++) {
            st.share_refusals += p1.notes[k].rule == NH_RULE_SHARE;
            st.empty_refusals += p1.notes[k].rule == NH_RULE_EMPTY_DESIRED;
            st.subscription_notes += p1.notes[k].rule == NH_RULE_SUBSCRIPTION;
        }
        nh_plan_clear(&p1);
        nh_plan_clear(&p2);
        nh_plan_clear(&p3);
        nh_observed_clear(&r.o);
    }
    fprintf(stderr,
            "%lu cases: %lu remove-nodes, %lu scale-cluster, %lu pool scale-ups, %lu count "
            "fixes, %lu delete-pool, %lu share refusals, %lu empty-desired refusals, %lu "
            "removals keeping servers, %lu subscription notes\n",
            n_cases, st.removes, st.scale_clusters, st.scale_ups, st.count_fixes, st.deletes,
            st.share_refusals, st.empty_refusals, st.kept_servers, st.subscription_notes);
    /* The generator must reach every kind of decision, or the properties
     * above were checked over nothing. */
    if (n_cases >= 10000) {
        assert_true(st.removes > 100);
        assert_true(st.scale_clusters > 100);
        assert_true(st.scale_ups > 100);
        assert_true(st.count_fixes > 10);
        assert_true(st.kept_servers > 10);
        assert_true(st.subscription_notes > 10);
        assert_true(st.deletes > 10);
        assert_true(st.share_refusals > 100);
        assert_true(st.empty_refusals > 10);
    }
}

/* ---------- counts-only observations (issue #21) ---------- */

/* Nodes named for removal, a pool deleted, or a count set below what the
 * cloud has or wants (ModelArts' count fix raises a count to the nodes
 * that are there: not a removal). */
static bool removal_action(const struct nh_observed *o, const struct nh_action *a)
{
    const struct nh_obs_pool *p =
        a->kind == NH_ACT_SCALE_POOL && a->pool_id ? find_pool(o, a->pool_id) : NULL;
    return a->kind == NH_ACT_REMOVE_NODES || a->kind == NH_ACT_DELETE_POOL ||
           (a->kind == NH_ACT_SCALE_POOL &&
            (a->target < a->from || (p != NULL && p->desired > a->target)));
}

static size_t count_rule(const struct nh_plan *p, enum nh_rule rule)
{
    size_t n = 0;
    for (size_t i = 0; i < p->n_notes; i++)
        n += p->notes[i].rule == rule;
    return n;
}

/* A ModelArts observation whose pools' counters say what its nodes say (as
 * the cloud's do): nodes outside an observed pool dropped, each pool's
 * current / unhealthy / creating / deleting counted from its nodes. */
static void make_consistent(struct nh_observed *o)
{
    size_t k = 0;
    for (size_t i = 0; i < o->n_nodes; i++) {
        if (o->nodes[i].pool_id != NULL && nh_observed_pool(o, o->nodes[i].pool_id) != NULL) {
            o->nodes[i].worker = true;
            o->nodes[k++] = o->nodes[i];
        } else {
            nh_node_clear(&o->nodes[i]);
        }
    }
    o->n_nodes = k;
    for (size_t p = 0; p < o->n_pools; p++) {
        struct nh_obs_pool *op = &o->pools[p];
        op->current = op->ready = op->unhealthy = op->creating = op->deleting = 0;
        for (size_t i = 0; i < o->n_nodes; i++) {
            const struct nh_node *n = &o->nodes[i];
            if (strcmp(n->pool_id, op->id) != 0)
                continue;
            op->ready += n->health == NH_NODE_READY;
            op->unhealthy += n->health == NH_NODE_UNHEALTHY;
            op->creating += n->health == NH_NODE_PENDING;
            op->deleting += n->health == NH_NODE_REMOVING;
        }
        op->current = op->ready + op->unhealthy;
    }
}

/* The same observation without its nodes: what ListNodePools alone gives. */
static void counts_only_copy(struct nh_observed *dst, const struct nh_observed *src)
{
    assert_int_equal(nh_observed_copy(dst, src), 0);
    for (size_t i = 0; i < dst->n_nodes; i++)
        nh_node_clear(&dst->nodes[i]);
    dst->n_nodes = 0;
    dst->counts_only = true;
}

/* Over random states: a plan on a counts-only observation never holds a
 * removal, whatever the kind; on ModelArts, when nh_plan_removal_possible
 * says no, the plan on the full observation holds no removal either (so
 * the executor may observe counts only), and the counts-only plan has the
 * same actions as the full one. */
static void test_counts_only_observation_never_removes(void **state)
{
    const char *env_n = getenv("NH_PLAN_PROP_CASES");
    unsigned long n_cases = env_n ? strtoul(env_n, NULL, 10) : 100000;
    unsigned long not_possible = 0, scale_ups = 0, removals_seen = 0;
    struct rcase r;
    (void)state;

    rng_state = 0x636f756e74736f6eULL;
    for (unsigned long i = 0; i < n_cases; i++) {
        struct nh_plan full = {0}, counts = {0};
        struct nh_observed co;

        gen_case(&r);
        if (r.prov.kind == NH_PROVIDER_MODELARTS)
            make_consistent(&r.o);
        counts_only_copy(&co, &r.o);
        assert_int_equal(nh_plan_cluster(&r.c, &r.o, &r.op, r.n_busy, &r.pol, &full), 0);
        assert_int_equal(nh_plan_cluster(&r.c, &co, &r.op, r.n_busy, &r.pol, &counts), 0);
        for (size_t k = 0; k < counts.n_actions; k++)
            assert_false(removal_action(&r.o, &counts.actions[k]));
        for (size_t k = 0; k < full.n_actions; k++)
            removals_seen += removal_action(&r.o, &full.actions[k]);
        if (r.prov.kind != NH_PROVIDER_MODELARTS)
            assert_int_equal(counts.n_actions, 0); /* they count from their node list */
        else if (!nh_plan_removal_possible(&r.c, &r.o)) {
            not_possible++;
            assert_false(nh_plan_removal_possible(&r.c, &co)); /* the pools alone decide */
            for (size_t k = 0; k < full.n_actions; k++)
                if (removal_action(&r.o, &full.actions[k])) {
                    fprintf(stderr, "case %lu: a removal where none was possible\n", i);
                    pt_plan_dump(&full);
                    fail();
                }
            assert_int_equal(counts.n_actions, full.n_actions);
            /* the same waits, from the pools' counters */
            assert_int_equal(count_rule(&counts, NH_RULE_UNHEALTHY),
                             count_rule(&full, NH_RULE_UNHEALTHY));
            for (size_t k = 0; k < full.n_actions; k++) {
                assert_int_equal(counts.actions[k].kind, full.actions[k].kind);
                assert_string_equal(counts.actions[k].pool_id, full.actions[k].pool_id);
                assert_int_equal(counts.actions[k].target, full.actions[k].target);
                scale_ups += full.actions[k].kind == NH_ACT_SCALE_POOL;
            }
        }
        nh_plan_clear(&full);
        nh_plan_clear(&counts);
        nh_observed_clear(&co);
        nh_observed_clear(&r.o);
    }
    fprintf(stderr,
            "%lu cases: %lu ModelArts states where no removal is possible (%lu scale-outs planned "
            "on their counts alone), %lu removals in full plans\n",
            n_cases, not_possible, scale_ups, removals_seen);
    if (n_cases >= 10000) {
        assert_true(not_possible > 100);
        assert_true(scale_ups > 10);
        assert_true(removals_seen > 100);
    }
}

int main(void)
{
    static const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_planner_invariants_over_random_states),
        cmocka_unit_test(test_counts_only_observation_never_removes),
    };
    return cmocka_run_group_tests_name("planner_props", tests, NULL, NULL);
}
