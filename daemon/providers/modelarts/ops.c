/* modelarts/ops.c - the huawei-modelarts provider (huawei-modelarts.md) as
 * step rows: ListNodePools of one resource pool and ListNodePoolNodes of
 * each of its node pools (paged with `continue`), PatchNodePool (count,
 * with the pool's flavor and the maxCount rule, read first; merge-patch
 * content type, retried once with the SDK's type on a 400/415 naming the
 * content type), BatchDeletePoolNodes (scale-in names its victims),
 * DeleteNodePool (seed 002), and progress by reading the node pool
 * (ShowNodePool) or its nodes.
 *
 * Scale-in: BatchDeletePoolNodes with the victims' names; then the node
 * pool is read and its `count` PATCHed to the target only when it is not
 * already there. The page says the named nodes are "permanently removed"
 * and the rest keep working; it does not say whether `count` drops with
 * them (https://support.huaweicloud.com/intl/en-us/api-modelarts/BatchDeletePoolNodes.html),
 * so either answer is handled: an unchanged count would make the service
 * replace the nodes. Anything that fails after the batch-delete was
 * accepted is an unknown outcome (the nodes may be going: re-read, never
 * resend). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "providers/internal.h"

#define MA_CT_PATCH "application/merge-patch+json"
#define MA_CT_SDK "application/json;charset=UTF-8"
#define MA_POOL "/v2/{project}/pools/{cluster}/nodepools/{pool}"

/* modelarts.{region}.myhuaweicloud.com; .cn for ap-southeast-1 (the SDKs'
 * region table). */
static const struct nh_endpoint ma_endpoint = {
    .pattern = "https://modelarts.{region}.myhuaweicloud.com",
    .except = {{"ap-southeast-1", "https://modelarts.ap-southeast-1.myhuaweicloud.cn"}},
};

struct ma_prov {
    struct nh_prov base;
    bool json_ctype; /* PATCH with the SDK's content type (learnt once) */
};

/* A ModelArts operation: PATCH needs the pool's flavor and maxCount; the
 * node walk its place (node pool, page). */
struct ma_op {
    struct nh_pop base;
    char *flavor;     /* the pool's current flavor (what PATCH carries) */
    char *cfg_flavor; /* the configured flavor: used when the cloud shows none */
    int max_count;    /* maxCount to send */
    bool ct_retried;  /* PATCH re-sent with the other content type */
    bool deleted;     /* BatchDeletePoolNodes was accepted */
    /* the node walk */
    size_t pool_idx;                     /* node pool being listed (observe) */
    size_t pages;                        /* pages read of it */
    char *cont;                          /* metadata.continue of the last page */
    void (*after_walk)(struct nh_pop *); /* runs after the last page */
};

static struct ma_op *ma(struct nh_pop *op)
{
    return (struct ma_op *)op;
}

static struct ma_prov *ma_prov(struct nh_pop *op)
{
    return (struct ma_prov *)op->p;
}

/* The node pool of an action: its id, else its name. */
static const char *np_name(const struct nh_action *a)
{
    return a->pool_id != NULL ? a->pool_id : a->pool_name;
}

/* ---------- observe ---------- */

static void incomplete(struct nh_pop *op, const char *why)
{
    if (op->obs.complete) {
        op->obs.complete = false;
        nh_text_copy(op->obs.why, sizeof(op->obs.why), why);
    }
}

/* ---- the nodes of one node pool (op->pool_id), every page ---- */

static int nodes_query(struct nh_pop *op);
static int read_nodes(struct nh_pop *op, const char *body, size_t len, char *err, size_t errlen);
static void nodes_page_read(struct nh_pop *op);

static bool pool_vanished(struct nh_pop *op, const struct nh_prov_error *err);

static const struct nh_step list_pool_nodes = {
    NH_GET("ListNodePoolNodes", MA_POOL "/nodes"),
    .subject = "{pool}",
    .prepare = nodes_query,
    NH_READS_CUSTOM(read_nodes),
    .then = nodes_page_read,
    .on_error = pool_vanished,
};

static int nodes_query(struct nh_pop *op)
{
    return ma(op)->cont != NULL ? nh_pop_add_query(op, "continue", ma(op)->cont) : 0;
}

static int read_nodes(struct nh_pop *op, const char *body, size_t len, char *err, size_t errlen)
{
    char *cont = NULL;
    int r = nh_ma_parse_pool_nodes(body, len, op->pool_id, &op->obs, &cont, err, errlen);

    if (r == 0 && cont != NULL && ma(op)->cont != NULL && strcmp(cont, ma(op)->cont) == 0) {
        /* the same token again: the walk would not end */
        incomplete(op, "ListNodePoolNodes: the same continue token twice; the node list is "
                       "incomplete");
        free(cont);
        cont = NULL;
    }
    if (r == 0) {
        free(ma(op)->cont);
        ma(op)->cont = cont;
    }
    return r;
}

/* Lists the nodes of node pool `pool` into op->obs; after runs at the end. */
static void walk_pool(struct nh_pop *op, const char *pool, void (*after)(struct nh_pop *))
{
    struct ma_op *m = ma(op);

    free(m->cont);
    m->cont = NULL;
    m->pages = 0;
    m->after_walk = after;
    if (pool != op->pool_id) {
        free(op->pool_id);
        op->pool_id = pool != NULL ? strdup(pool) : NULL;
    }
    if (op->pool_id == NULL) {
        nh_pop_failf(op, NH_ERR_SERVER, "ListNodePoolNodes: %s", strerror(ENOMEM));
        return;
    }
    nh_pop_next(op, &list_pool_nodes);
}

static void nodes_page_read(struct nh_pop *op)
{
    struct ma_op *m = ma(op);
    char why[160];

    if (m->cont != NULL && ++m->pages >= NH_PROV_MAX_PAGES) {
        snprintf(why, sizeof(why), "ListNodePoolNodes %.60s: more than %d pages", op->pool_id,
                 NH_PROV_MAX_PAGES);
        incomplete(op, why);
        free(m->cont);
        m->cont = NULL;
    }
    if (m->cont != NULL) {
        nh_pop_next(op, &list_pool_nodes);
        return;
    }
    m->after_walk(op);
}

/* ---- observe: the node pools, then the nodes of each ---- */

/* A yearly/monthly node pool's nodes are not deleted either. */
static void mark_subscription(struct nh_observed *o)
{
    for (size_t i = 0; i < o->n_nodes; i++) {
        const struct nh_obs_pool *p =
            o->nodes[i].pool_id != NULL ? nh_observed_pool(o, o->nodes[i].pool_id) : NULL;
        o->nodes[i].subscription = p != NULL && p->subscription;
    }
}

static void next_pool(struct nh_pop *op)
{
    struct ma_op *m = ma(op);
    char why[160];

    while (m->pool_idx < op->obs.n_pools) {
        const char *name = op->obs.pools[m->pool_idx++].id;
        if (nh_prov_path_safe(name)) {
            walk_pool(op, name, next_pool);
            return;
        }
        snprintf(why, sizeof(why),
                 "node pool \"%.60s\": its nodes cannot be listed (the name is "
                 "not safe in a URL path)",
                 name != NULL ? name : "");
        incomplete(op, why);
    }
    mark_subscription(&op->obs);
    nh_pop_observed(op);
}

/* Observe: a node pool that ListNodePools showed and that is not found
 * when its nodes are listed is gone (deleted in between, e.g. by a prune):
 * it leaves the observation, with whatever of its nodes was read, and the
 * walk goes on. Anything else fails the observation. */
static bool pool_vanished(struct nh_pop *op, const struct nh_prov_error *err)
{
    struct nh_observed *o = &op->obs;
    size_t k = 0;

    if (op->kind != NH_POP_OBSERVE || err->cls != NH_ERR_NOT_FOUND || ma(op)->pool_idx == 0)
        return false;
    for (size_t i = 0; i < o->n_nodes; i++) {
        if (o->nodes[i].pool_id != NULL && strcmp(o->nodes[i].pool_id, op->pool_id) == 0)
            nh_node_clear(&o->nodes[i]);
        else
            o->nodes[k++] = o->nodes[i];
    }
    o->n_nodes = k;
    ma(op)->pool_idx--;
    nh_obs_pool_clear(&o->pools[ma(op)->pool_idx]);
    memmove(&o->pools[ma(op)->pool_idx], &o->pools[ma(op)->pool_idx + 1],
            (o->n_pools - ma(op)->pool_idx - 1) * sizeof(o->pools[0]));
    o->n_pools--;
    next_pool(op);
    return true;
}

static void pools_listed(struct nh_pop *op)
{
    ma(op)->pool_idx = 0;
    next_pool(op);
}

static const struct nh_step list_pools = {
    NH_GET("ListNodePools", "/v2/{project}/pools/{cluster}/nodepools"),
    NH_READS_OBSERVED(nh_ma_parse_nodepools),
    .then = pools_listed,
};

static int ma_observe(struct nh_provider *pub, const struct nh_cfg_cluster *c, nh_observe_fn done,
                      void *ud)
{
    int r;
    struct nh_pop *op = nh_pop_observe_start(pub, c, done, ud, &r);

    return nh_pop_begin(op, r, &list_pools);
}

/* Counts only: ListNodePools alone. Each node pool's status.resources
 * carries its counts (available, abnormal, creating, deleting: NodePoolStatus
 * in https://support.huaweicloud.com/intl/en-us/api-modelarts/ListNodePools.html,
 * the same object ShowNodePool answers), which is all a poll needs when no
 * removal is possible; the nodes are listed only when one is
 * (nh_plan_removal_possible). No node is in the observation: the planner
 * plans no removal on it. */
static void counts_listed(struct nh_pop *op)
{
    op->obs.counts_only = true;
    nh_pop_observed(op);
}

static const struct nh_step list_pool_counts = {
    NH_GET("ListNodePools", "/v2/{project}/pools/{cluster}/nodepools"),
    NH_READS_OBSERVED(nh_ma_parse_nodepools),
    .then = counts_listed,
};

static int ma_observe_counts(struct nh_provider *pub, const struct nh_cfg_cluster *c,
                             nh_observe_fn done, void *ud)
{
    int r;
    struct nh_pop *op = nh_pop_observe_start(pub, c, done, ud, &r);

    return nh_pop_begin(op, r, &list_pool_counts);
}

/* ---------- scale: read, then PATCH ---------- */

static int patch_body(struct nh_pop *op);
static bool patch_refused(struct nh_pop *op, const struct nh_prov_error *err);

/* The PATCH is absolute: its body is not needed, progress comes from
 * reading the pool. */
static const struct nh_step patch_pool = {
    NH_PATCH("PatchNodePool", MA_POOL),
    .prepare = patch_body,
    NH_FOLLOWS(NH_JOB_POOL_SIZE), /* the body is not read */
    .on_error = patch_refused,
};

static int patch_body(struct nh_pop *op)
{
    op->content_type = ma_prov(op)->json_ctype ? MA_CT_SDK : MA_CT_PATCH;
    return nh_pop_set_body(op, nh_ma_body_patch(ma(op)->flavor, op->target, ma(op)->max_count));
}

/* A 400/415 that names the content type (uncertainty #11). */
static bool about_content_type(const struct nh_prov_error *e)
{
    if (e->http_status == 415)
        return true;
    if (e->http_status != 400)
        return false;
    for (const char *s = e->message; *s != '\0'; s++)
        if (strncasecmp(s, "content-type", 12) == 0 || strncasecmp(s, "content type", 12) == 0 ||
            strncasecmp(s, "media type", 10) == 0)
            return true;
    return false;
}

static bool patch_refused(struct nh_pop *op, const struct nh_prov_error *err)
{
    if (ma(op)->ct_retried || ma_prov(op)->json_ctype || !about_content_type(err))
        return false;
    /* The PATCH is absolute: resending it with the SDK's type is safe. */
    ma(op)->ct_retried = true;
    ma_prov(op)->json_ctype = true;
    nh_pop_next(op, op->step);
    return true;
}

/* The pool as it is: its flavor and maxCount decide the PATCH body. */
static void read_before_patch(struct nh_pop *op)
{
    struct ma_op *m = ma(op);
    const char *flavor = op->pool.pool.flavor;

    if (flavor == NULL || flavor[0] == '\0')
        flavor = m->cfg_flavor;
    if (flavor == NULL) {
        nh_pop_failf(op, NH_ERR_INVALID,
                     "PatchNodePool %s: the node pool shows no flavor; set flavor: in the "
                     "pool's configuration",
                     op->pool_id);
        return;
    }
    free(m->flavor);
    m->flavor = strdup(flavor);
    m->max_count = nh_ma_max_count(op->pool.pool.desired, op->pool.pool.max_count, op->target);
    if (m->flavor == NULL) {
        nh_pop_failf(op, NH_ERR_SERVER, "PatchNodePool: %s", strerror(ENOMEM));
        return;
    }
    nh_pop_next(op, &patch_pool);
}

#define SHOW_POOL                                                                                  \
    NH_GET("ShowNodePool", MA_POOL), .subject = "{pool}", NH_READS_POOL(nh_ma_parse_nodepool)

static const struct nh_step show_before_patch = {SHOW_POOL, .then = read_before_patch};

/* The pool's current flavor is what PATCH must carry; the configured
 * flavor is used only when the cloud shows none. */
static int copy_cfg_flavor(struct nh_pop *op, const struct nh_cfg_cluster *c)
{
    for (size_t i = 0; i < c->n_pools; i++) {
        if (c->pools[i].name != NULL && strcmp(c->pools[i].name, op->pool_id) == 0 &&
            c->pools[i].flavor != NULL) {
            ma(op)->cfg_flavor = strdup(c->pools[i].flavor);
            return ma(op)->cfg_flavor != NULL ? 0 : -ENOMEM;
        }
    }
    return 0;
}

static int ma_scale_pool(struct nh_provider *pub, const struct nh_cfg_cluster *c,
                         const struct nh_action *a, nh_mutate_fn done, void *ud)
{
    int r;
    struct nh_pop *op = nh_pop_mutate_start(pub, c, a, done, ud, &r);

    if (r == 0 && (!nh_prov_path_safe(np_name(a)) || a->target < 0))
        r = -EINVAL;
    if (r == 0)
        r = copy_cfg_flavor(op, c);
    return nh_pop_begin(op, r, &show_before_patch);
}

/* ---------- scale-in: BatchDeletePoolNodes, then the count ---------- */

/* After the batch-delete was accepted, a failure leaves the outcome
 * unknown: the nodes may be going. */
static void failed_after_delete(struct nh_pop *op, const char *step, const char *why)
{
    nh_pop_failf(op, NH_ERR_UNKNOWN_OUTCOME,
                 "BatchDeletePoolNodes accepted, then %s failed (%s); the count of node pool %s "
                 "was not checked: re-read, never resend",
                 step, why, op->pool_id);
}

static bool patch_after_delete_refused(struct nh_pop *op, const struct nh_prov_error *err)
{
    if (patch_refused(op, err))
        return true;
    failed_after_delete(op, "PatchNodePool", err->message);
    return true;
}

static void count_patched(struct nh_pop *op)
{
    nh_pop_mutated(op, NH_JOB_NODES_GONE, NULL);
}

/* The count made to match absolutely, after the victims were named. */
static const struct nh_step patch_after_delete = {
    NH_PATCH("PatchNodePool", MA_POOL),
    .subject = "{pool}",
    .prepare = patch_body,
    .then = count_patched, /* the body is not read */
    .on_error = patch_after_delete_refused,
};

/* The pool as it is after the batch-delete: PATCH its count only when it
 * is not already the target. */
static void read_after_delete(struct nh_pop *op)
{
    struct ma_op *m = ma(op);
    const char *flavor = op->pool.pool.flavor;

    if (op->pool.pool.desired == op->target) {
        nh_pop_mutated(op, NH_JOB_NODES_GONE, NULL);
        return;
    }
    if (flavor == NULL || flavor[0] == '\0')
        flavor = m->cfg_flavor;
    if (flavor == NULL) {
        failed_after_delete(op, "PatchNodePool",
                            "the node pool shows no flavor; set flavor: in its configuration");
        return;
    }
    free(m->flavor);
    m->flavor = strdup(flavor);
    m->max_count = nh_ma_max_count(op->pool.pool.desired, op->pool.pool.max_count, op->target);
    if (m->flavor == NULL) {
        failed_after_delete(op, "PatchNodePool", strerror(ENOMEM));
        return;
    }
    nh_pop_next(op, &patch_after_delete);
}

static bool show_after_delete_failed(struct nh_pop *op, const struct nh_prov_error *err)
{
    failed_after_delete(op, "ShowNodePool", err->message);
    return true;
}

static const struct nh_step show_after_delete = {
    NH_GET("ShowNodePool", MA_POOL),      .subject = "{pool}",
    NH_READS_POOL(nh_ma_parse_nodepool),  .then = read_after_delete,
    .on_error = show_after_delete_failed,
};

static void batch_deleted(struct nh_pop *op)
{
    ma(op)->deleted = true;
    nh_pop_next(op, &show_after_delete);
}

static int batch_delete_body(struct nh_pop *op)
{
    return nh_pop_set_body(op,
                           nh_ma_body_batch_delete((const char *const *)op->node_ids, op->n_nodes));
}

/* BatchDeletePoolNodes: the named nodes of the resource pool go. */
static const struct nh_step batch_delete = {
    NH_POST("BatchDeletePoolNodes", "/v2/{project}/pools/{cluster}/nodes/batch-delete"),
    .prepare = batch_delete_body, .then = batch_deleted, /* 200 with an empty object: not read */
};

static int ma_remove_nodes(struct nh_provider *pub, const struct nh_cfg_cluster *c,
                           const struct nh_action *a, nh_mutate_fn done, void *ud)
{
    int r;
    struct nh_pop *op = nh_pop_mutate_start(pub, c, a, done, ud, &r);

    /* the victims of one node pool, whose count is set afterwards */
    if (r == 0 && (!a->pool_nodes || !nh_prov_path_safe(np_name(a)) || a->target < 0))
        r = -EINVAL;
    if (r == 0)
        r = nh_pop_copy_nodes(op, a, false);
    if (r == 0)
        r = copy_cfg_flavor(op, c);
    return nh_pop_begin(op, r, &batch_delete);
}

/* ---------- delete ---------- */

static const struct nh_step delete_pool = {
    NH_DELETE("DeleteNodePool", MA_POOL), NH_FOLLOWS(NH_JOB_POOL_GONE), /* the body is not read */
};

static int ma_delete_pool(struct nh_provider *pub, const struct nh_cfg_cluster *c,
                          const struct nh_action *a, nh_mutate_fn done, void *ud)
{
    int r;
    struct nh_pop *op = nh_pop_mutate_start(pub, c, a, done, ud, &r);

    if (r == 0 && !nh_prov_path_safe(np_name(a)))
        r = -EINVAL;
    return nh_pop_begin(op, r, &delete_pool);
}

/* ---------- poll ---------- */

static void pool_still_there(struct nh_pop *op)
{
    const struct nh_pool_status *s = &op->pool;
    char detail[128];

    snprintf(detail, sizeof(detail), "node pool still present: %d available, %d deleting",
             s->pool.ready, s->pool.deleting);
    nh_pop_progress_state(op, NH_JOB_RUNNING, s->phase[0] != '\0' ? s->phase : "deleting", detail);
}

/* Available nodes reach the target; FAILED once nothing is in flight any
 * more and nodes ended abnormal. */
static void pool_size_read(struct nh_pop *op)
{
    const struct nh_pool_status *s = &op->pool;
    bool settled = s->pool.creating == 0 && s->pool.deleting == 0;
    enum nh_job_state st;
    char detail[400];

    if (s->failed)
        st = NH_JOB_FAILED;
    else if (settled && s->pool.ready == op->target)
        st = NH_JOB_SUCCEEDED;
    else if (settled && s->pool.ready < op->target &&
             s->pool.ready + s->pool.unhealthy >= op->target)
        st = NH_JOB_FAILED;
    else
        st = NH_JOB_RUNNING;
    snprintf(detail, sizeof(detail),
             "%s%s%d of %d available, %d abnormal, %d creating, %d deleting (count %d)",
             s->failed ? s->failure : "", s->failed ? "; " : "", s->pool.ready, op->target,
             s->pool.unhealthy, s->pool.creating, s->pool.deleting, s->pool.desired);
    nh_pop_pool_read_progress(op, st, s->phase, detail);
}

static const struct nh_step show_pool_size = {SHOW_POOL, .then = pool_size_read};
static const struct nh_step show_pool_gone = {SHOW_POOL, .then = pool_still_there,
                                              .gone_when_absent = "node pool"};

static int ma_poll(struct nh_provider *pub, const struct nh_cfg_cluster *c, const struct nh_op *o,
                   nh_poll_fn done, void *ud)
{
    int r;
    struct nh_pop *op = nh_pop_poll_start(pub, c, o, done, ud, &r);
    const char *np = o != NULL ? np_name(&o->action) : NULL;

    if (r == 0 && o->job_kind != NH_JOB_POOL_SIZE && o->job_kind != NH_JOB_POOL_GONE &&
        o->job_kind != NH_JOB_NODES_GONE)
        r = -ENOTSUP;
    if (r == 0)
        r = nh_pop_poll_args(op, o);
    if (r == 0 && o->job_kind == NH_JOB_POOL_GONE)
        return nh_pop_begin(op, r, &show_pool_gone);
    if (r == 0 && o->job_kind == NH_JOB_NODES_GONE) {
        /* the victims' node pool, listed until they are gone */
        if (!nh_prov_path_safe(np))
            r = -EINVAL;
        if (r == 0 && (op->pool_id = strdup(np)) == NULL)
            r = -ENOMEM;
        ma(op)->after_walk = nh_then_nodes_gone;
        return nh_pop_begin(op, r, &list_pool_nodes);
    }
    return nh_pop_begin(op, r, &show_pool_size);
}

static void ma_op_free(struct nh_pop *op)
{
    free(ma(op)->flavor);
    free(ma(op)->cfg_flavor);
    free(ma(op)->cont);
}

const struct nh_provider_ops nh_ma_ops = {
    .kind = nh_kind_name_modelarts,
    .observe = ma_observe,
    .observe_counts = ma_observe_counts,
    .scale_pool = ma_scale_pool,
    .remove_nodes = ma_remove_nodes,
    .delete_pool = ma_delete_pool,
    .poll = ma_poll, /* no cluster state: no cluster_state */
};

const struct nh_cloud nh_ma_cloud = {
    .ops = &nh_ma_ops,
    .gateway = &nh_huawei_gateway,
    .endpoint = &ma_endpoint,
    .sizes = {sizeof(struct ma_prov), sizeof(struct ma_op)},
    .hooks = {.op_free = ma_op_free},
};
