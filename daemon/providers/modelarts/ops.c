/* modelarts/ops.c - the huawei-modelarts provider (huawei-modelarts.md):
 * ListNodePools of one resource pool, PatchNodePool (count, with the
 * pool's flavor and the maxCount rule; merge-patch content type, retried
 * once with the SDK's type on a 400/415 naming the content type),
 * DeleteNodePool (seed 002), and progress by reading the node pool. There
 * is no per-node list (nodes stay empty) and no node-level removal. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "providers/internal.h"

#define MA_CT_PATCH "application/merge-patch+json"
#define MA_CT_SDK "application/json;charset=UTF-8"

static struct nh_prov *prov(struct nh_provider *pub)
{
    return (struct nh_prov *)pub;
}

/* The resource pool (c->pool) and the node pool name of an action. */
static const char *np_name(const struct nh_action *a)
{
    return a->pool_id != NULL ? a->pool_id : a->pool_name;
}

static struct nh_pop *ma_new(struct nh_provider *pub, const struct nh_cfg_cluster *c,
                             enum nh_pop_kind kind, void *ud, int *r)
{
    struct nh_pop *op = nh_pop_new(prov(pub), kind, ud);

    *r = 0;
    if (op == NULL) {
        *r = -ENOMEM;
        return NULL;
    }
    op->cluster_id = strdup(c->pool);
    if (op->cluster_id == NULL)
        *r = -ENOMEM;
    return op;
}

static int show_request(struct nh_pop *op, nh_pop_step_fn step)
{
    return nh_pop_request(op, "ShowNodePool", "GET", false, NULL, step,
                          "/v2/%s/pools/%s/nodepools/%s", op->p->project_id, op->cluster_id,
                          op->pool_id);
}

/* ---------- observe ---------- */

static void list_step(struct nh_pop *op, const struct nh_http_resp *resp,
                      const struct nh_prov_error *err)
{
    char msg[200];

    if (err != NULL) {
        nh_pop_fail(op, err);
        return;
    }
    if (nh_ma_parse_nodepools(resp->body, resp->body_len, &op->obs, msg, sizeof(msg)) < 0) {
        nh_pop_failf(op, NH_ERR_SERVER, "ListNodePools: unreadable answer: %s", msg);
        return;
    }
    op->obs.complete = true;
    nh_pop_observed(op);
}

static int ma_observe(struct nh_provider *pub, const struct nh_cfg_cluster *c, nh_observe_fn done,
                      void *ud)
{
    struct nh_pop *op;
    int r;

    if (pub == NULL || c == NULL || done == NULL || !nh_prov_path_safe(c->pool))
        return -EINVAL;
    op = ma_new(pub, c, NH_POP_OBSERVE, ud, &r);
    if (op != NULL)
        op->observe_cb = done;
    if (r == 0 && nh_huawei_refused(op, "ListNodePools"))
        return nh_pop_started(op, 0);
    if (r == 0)
        r = nh_pop_request(op, "ListNodePools", "GET", false, NULL, list_step,
                           "/v2/%s/pools/%s/nodepools", op->p->project_id, op->cluster_id);
    if (r == 0)
        r = nh_pop_submit(op);
    return nh_pop_started(op, r);
}

/* ---------- scale: read, then PATCH ---------- */

static int patch_request(struct nh_pop *op);

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

static void patch_step(struct nh_pop *op, const struct nh_http_resp *resp,
                       const struct nh_prov_error *err)
{
    (void)resp;
    if (err != NULL) {
        if (!op->ct_retried && !op->p->ma_json_ctype && about_content_type(err)) {
            /* The PATCH is absolute: resending it with the SDK's type is safe. */
            op->ct_retried = true;
            op->p->ma_json_ctype = true;
            if (patch_request(op) == 0) {
                nh_pop_next(op);
                return;
            }
        }
        nh_pop_fail(op, err);
        return;
    }
    /* The answer's body is not needed: progress comes from reading the pool. */
    nh_pop_mutated(op, NH_JOB_POOL_SIZE, NULL);
}

static int patch_request(struct nh_pop *op)
{
    int r;
    char *body = nh_ma_body_patch(op->flavor, op->target, (int)op->total);

    if (body == NULL)
        return -ENOMEM;
    r = nh_pop_request(op, "PatchNodePool", "PATCH", true, body, patch_step,
                       "/v2/%s/pools/%s/nodepools/%s", op->p->project_id, op->cluster_id,
                       op->pool_id);
    op->content_type = op->p->ma_json_ctype ? MA_CT_SDK : MA_CT_PATCH;
    return r;
}

static void before_patch_step(struct nh_pop *op, const struct nh_http_resp *resp,
                              const struct nh_prov_error *err)
{
    struct nh_pool_status s;
    char msg[200];
    int r;

    if (err != NULL) {
        nh_pop_fail(op, err);
        return;
    }
    if (nh_ma_parse_nodepool(resp->body, resp->body_len, &s, msg, sizeof(msg)) < 0) {
        nh_pop_failf(op, NH_ERR_SERVER, "ShowNodePool %s: unreadable answer: %s", op->pool_id, msg);
        return;
    }
    free(op->flavor);
    op->flavor = NULL;
    if (s.pool.flavor != NULL && s.pool.flavor[0] != '\0')
        op->flavor = strdup(s.pool.flavor);
    else if (op->cfg_flavor != NULL)
        op->flavor = strdup(op->cfg_flavor);
    else {
        nh_pool_status_clear(&s);
        nh_pop_failf(op, NH_ERR_INVALID,
                     "PatchNodePool %s: the node pool shows no flavor; set flavor: in the "
                     "pool's configuration",
                     op->pool_id);
        return;
    }
    op->total = nh_ma_max_count(s.pool.desired, s.pool.max_count, op->target);
    nh_pool_status_clear(&s);
    r = op->flavor != NULL ? patch_request(op) : -ENOMEM;
    if (r < 0) {
        nh_pop_failf(op, NH_ERR_SERVER, "PatchNodePool: %s", strerror(-r));
        return;
    }
    nh_pop_next(op);
}

static int ma_scale_pool(struct nh_provider *pub, const struct nh_cfg_cluster *c,
                         const struct nh_action *a, nh_mutate_fn done, void *ud)
{
    struct nh_pop *op;
    int r;

    if (pub == NULL || c == NULL || a == NULL || done == NULL || !nh_prov_path_safe(c->pool) ||
        !nh_prov_path_safe(np_name(a)) || a->target < 0)
        return -EINVAL;
    op = ma_new(pub, c, NH_POP_MUTATE, ud, &r);
    if (op != NULL) {
        op->mutate_cb = done;
        op->target = a->target;
    }
    if (r == 0 && nh_huawei_refused(op, "PatchNodePool"))
        return nh_pop_started(op, 0);
    if (r == 0) {
        op->pool_id = strdup(np_name(a));
        r = op->pool_id != NULL ? 0 : -ENOMEM;
    }
    /* The pool's current flavor is what PATCH must carry; the configured
     * flavor is used only when the cloud shows none. */
    for (size_t i = 0; r == 0 && i < c->n_pools; i++) {
        if (c->pools[i].name != NULL && strcmp(c->pools[i].name, op->pool_id) == 0 &&
            c->pools[i].flavor != NULL) {
            op->cfg_flavor = strdup(c->pools[i].flavor);
            r = op->cfg_flavor != NULL ? 0 : -ENOMEM;
            break;
        }
    }
    if (r == 0)
        r = show_request(op, before_patch_step);
    if (r == 0)
        r = nh_pop_submit(op);
    return nh_pop_started(op, r);
}

/* ---------- delete ---------- */

static void delete_step(struct nh_pop *op, const struct nh_http_resp *resp,
                        const struct nh_prov_error *err)
{
    (void)resp;
    if (err != NULL) {
        nh_pop_fail(op, err);
        return;
    }
    nh_pop_mutated(op, NH_JOB_POOL_GONE, NULL);
}

static int ma_delete_pool(struct nh_provider *pub, const struct nh_cfg_cluster *c,
                          const struct nh_action *a, nh_mutate_fn done, void *ud)
{
    struct nh_pop *op;
    int r;

    if (pub == NULL || c == NULL || a == NULL || done == NULL || !nh_prov_path_safe(c->pool) ||
        !nh_prov_path_safe(np_name(a)))
        return -EINVAL;
    op = ma_new(pub, c, NH_POP_MUTATE, ud, &r);
    if (op != NULL)
        op->mutate_cb = done;
    if (r == 0 && nh_huawei_refused(op, "DeleteNodePool"))
        return nh_pop_started(op, 0);
    if (r == 0) {
        op->pool_id = strdup(np_name(a));
        r = op->pool_id != NULL ? 0 : -ENOMEM;
    }
    if (r == 0)
        r = nh_pop_request(op, "DeleteNodePool", "DELETE", true, NULL, delete_step,
                           "/v2/%s/pools/%s/nodepools/%s", op->p->project_id, op->cluster_id,
                           op->pool_id);
    if (r == 0)
        r = nh_pop_submit(op);
    return nh_pop_started(op, r);
}

/* ---------- poll ---------- */

static void progress(struct nh_pop *op, enum nh_job_state st, const char *phase, const char *detail)
{
    struct nh_job_progress pr;

    memset(&pr, 0, sizeof(pr));
    pr.state = st;
    pr.percent = st == NH_JOB_SUCCEEDED ? 100 : -1;
    nh_text_copy(pr.phase, sizeof(pr.phase), phase);
    nh_text_copy(pr.detail, sizeof(pr.detail), detail);
    nh_pop_progress(op, &pr);
}

static void poll_step(struct nh_pop *op, const struct nh_http_resp *resp,
                      const struct nh_prov_error *err)
{
    struct nh_pool_status s;
    char msg[200], detail[400];
    enum nh_job_state st;

    if (err != NULL) {
        if (err->cls == NH_ERR_NOT_FOUND && op->poll_kind == NH_JOB_POOL_GONE) {
            /* uncertainty #12: gone only after a second read agrees. */
            if (++op->reads >= 2) {
                progress(op, NH_JOB_SUCCEEDED, "gone", "node pool not found on two reads");
                return;
            }
            nh_pop_next(op);
            return;
        }
        nh_pop_fail(op, err);
        return;
    }
    op->reads = 0;
    if (nh_ma_parse_nodepool(resp->body, resp->body_len, &s, msg, sizeof(msg)) < 0) {
        nh_pop_failf(op, NH_ERR_SERVER, "ShowNodePool %s: unreadable answer: %s", op->pool_id, msg);
        return;
    }
    if (op->poll_kind == NH_JOB_POOL_GONE) {
        snprintf(detail, sizeof(detail), "node pool still present: %d available, %d deleting",
                 s.pool.ready, s.pool.deleting);
        progress(op, NH_JOB_RUNNING, s.phase[0] != '\0' ? s.phase : "deleting", detail);
        nh_pool_status_clear(&s);
        return;
    }
    bool settled = s.pool.creating == 0 && s.pool.deleting == 0;
    if (s.failed)
        st = NH_JOB_FAILED;
    else if (settled && s.pool.ready == op->target)
        st = NH_JOB_SUCCEEDED;
    else if (settled && s.pool.ready < op->target && s.pool.ready + s.pool.unhealthy >= op->target)
        st = NH_JOB_FAILED; /* nothing in flight any more, and nodes ended abnormal */
    else
        st = NH_JOB_RUNNING;
    snprintf(detail, sizeof(detail),
             "%s%s%d of %d available, %d abnormal, %d creating, %d deleting (count %d)",
             s.failed ? s.failure : "", s.failed ? "; " : "", s.pool.ready, op->target,
             s.pool.unhealthy, s.pool.creating, s.pool.deleting, s.pool.desired);
    progress(op, st, s.phase, detail);
    nh_pool_status_clear(&s);
}

static int ma_poll(struct nh_provider *pub, const struct nh_cfg_cluster *c, const struct nh_op *o,
                   nh_poll_fn done, void *ud)
{
    struct nh_pop *op;
    int r;

    if (pub == NULL || c == NULL || o == NULL || done == NULL || !nh_prov_path_safe(c->pool))
        return -EINVAL;
    if (o->job_kind != NH_JOB_POOL_SIZE && o->job_kind != NH_JOB_POOL_GONE)
        return -ENOTSUP;
    if (!nh_prov_path_safe(np_name(&o->action)))
        return -EINVAL;
    op = ma_new(pub, c, NH_POP_POLL, ud, &r);
    if (op != NULL) {
        op->poll_cb = done;
        op->poll_kind = o->job_kind;
        op->target = o->action.target;
    }
    if (r == 0 && nh_huawei_refused(op, "ShowNodePool"))
        return nh_pop_started(op, 0);
    if (r == 0) {
        op->pool_id = strdup(np_name(&o->action));
        r = op->pool_id != NULL ? 0 : -ENOMEM;
    }
    if (r == 0)
        r = show_request(op, poll_step);
    if (r == 0)
        r = nh_pop_submit(op);
    return nh_pop_started(op, r);
}

static void ma_destroy(struct nh_provider *p)
{
    (void)p;
}

const struct nh_provider_ops nh_ma_ops = {
    .kind = "huawei-modelarts",
    .observe = ma_observe,
    .scale_cluster = NULL,
    .scale_pool = ma_scale_pool,
    .remove_nodes = NULL, /* node-level removal is not in scope for ModelArts */
    .delete_pool = ma_delete_pool,
    .poll = ma_poll,
    .destroy = ma_destroy,
};
