/* modelarts/ops.c - the huawei-modelarts provider (huawei-modelarts.md) as
 * step rows: ListNodePools of one resource pool, PatchNodePool (count, with
 * the pool's flavor and the maxCount rule, read first; merge-patch content
 * type, retried once with the SDK's type on a 400/415 naming the content
 * type), DeleteNodePool (seed 002), and progress by reading the node pool
 * (ShowNodePool). There is no per-node list (nodes stay empty) and no
 * node-level removal. */
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

/* A ModelArts operation: PATCH needs the pool's flavor and maxCount. */
struct ma_op {
    struct nh_pop base;
    char *flavor;     /* the pool's current flavor (what PATCH carries) */
    char *cfg_flavor; /* the configured flavor: used when the cloud shows none */
    int max_count;    /* maxCount to send */
    bool ct_retried;  /* PATCH re-sent with the other content type */
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

static const struct nh_step list_pools = {
    NH_GET("ListNodePools", "/v2/{project}/pools/{cluster}/nodepools"),
    NH_READS_OBSERVED(nh_ma_parse_nodepools),
    .then = nh_then_observed,
};

static int ma_observe(struct nh_provider *pub, const struct nh_cfg_cluster *c, nh_observe_fn done,
                      void *ud)
{
    int r;
    struct nh_pop *op = nh_pop_observe_start(pub, c, done, ud, &r);

    return nh_pop_begin(op, r, &list_pools);
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
    nh_pop_next(op, &patch_pool);
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
    nh_pop_progress_state(op, st, s->phase, detail);
}

static const struct nh_step show_pool_size = {SHOW_POOL, .then = pool_size_read};
static const struct nh_step show_pool_gone = {SHOW_POOL, .then = pool_still_there,
                                              .gone_when_absent = "node pool"};

static int ma_poll(struct nh_provider *pub, const struct nh_cfg_cluster *c, const struct nh_op *o,
                   nh_poll_fn done, void *ud)
{
    int r;
    struct nh_pop *op = nh_pop_poll_start(pub, c, o, done, ud, &r);

    if (r == 0 && o->job_kind != NH_JOB_POOL_SIZE && o->job_kind != NH_JOB_POOL_GONE)
        r = -ENOTSUP;
    if (r == 0)
        r = nh_pop_poll_args(op, o);
    if (r == 0 && o->job_kind == NH_JOB_POOL_GONE)
        return nh_pop_begin(op, r, &show_pool_gone);
    return nh_pop_begin(op, r, &show_pool_size);
}

static void ma_op_free(struct nh_pop *op)
{
    free(ma(op)->flavor);
    free(ma(op)->cfg_flavor);
}

const struct nh_provider_ops nh_ma_ops = {
    .kind = nh_kind_name_modelarts,
    .observe = ma_observe,
    .scale_pool = ma_scale_pool,
    .delete_pool = ma_delete_pool, /* no node-level removal: no remove_nodes */
    .poll = ma_poll,
};

const struct nh_cloud nh_ma_cloud = {
    .ops = &nh_ma_ops,
    .gateway = &nh_huawei_gateway,
    .endpoint = &ma_endpoint,
    .sizes = {sizeof(struct ma_prov), sizeof(struct ma_op)},
    .hooks = {.op_free = ma_op_free},
};
