/* huawei_cce/ops.c - the huawei-cce provider (huawei-cce.md): ListNodes and
 * ListNodePools (with the default pool), ScaleNodePool (desiredNodeCount
 * always sent; progress from the pool's counters), RemoveNode (seed 001, at
 * most 200 uids, login when configured; ShowJob), DeleteNode for pool nodes
 * (without nodepoolScaleDown, so the pool's count drops), and ShowJob.
 *
 * Pool nodes: one DeleteNode per node, one after the other. When every call
 * succeeds the operation reports NH_JOB_NODES_GONE (the node list is the one
 * place that shows all of them gone; each node's own job covers one node
 * only). When a later call fails after earlier ones succeeded the outcome is
 * partial: NH_ERR_UNKNOWN_OUTCOME, so the executor re-reads. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "providers/internal.h"

#define CCE_MAX_REMOVE 200

static struct nh_prov *prov(struct nh_provider *pub)
{
    return (struct nh_prov *)pub;
}

static struct nh_pop *cce_new(struct nh_provider *pub, const struct nh_cfg_cluster *c,
                              enum nh_pop_kind kind, void *ud, int *r)
{
    struct nh_pop *op = nh_pop_new(prov(pub), kind, ud);

    *r = 0;
    if (op == NULL) {
        *r = -ENOMEM;
        return NULL;
    }
    op->cluster_id = strdup(c->id);
    if (op->cluster_id == NULL)
        *r = -ENOMEM;
    return op;
}

/* ---------- observe ---------- */

/* ready/unhealthy of each pool from the node list. The DefaultPool's nodes
 * carry no nodepoolID: they are the nodes outside every custom pool. */
static void count_pool_health(struct nh_observed *o)
{
    for (size_t i = 0; i < o->n_pools; i++) {
        struct nh_obs_pool *p = &o->pools[i];
        p->ready = 0;
        p->unhealthy = 0;
        for (size_t k = 0; k < o->n_nodes; k++) {
            const struct nh_node *n = &o->nodes[k];
            bool member = p->is_default ? n->pool_id == NULL || strcmp(n->pool_id, p->id) == 0
                                        : n->pool_id != NULL && strcmp(n->pool_id, p->id) == 0;
            if (!member)
                continue;
            if (n->health == NH_NODE_READY)
                p->ready++;
            else if (n->health == NH_NODE_UNHEALTHY)
                p->unhealthy++;
        }
    }
}

static void observe_pools_step(struct nh_pop *op, const struct nh_http_resp *resp,
                               const struct nh_prov_error *err)
{
    char msg[200];

    if (err != NULL) {
        nh_pop_fail(op, err);
        return;
    }
    if (nh_cce_parse_nodepools(resp->body, resp->body_len, &op->obs, msg, sizeof(msg)) < 0) {
        nh_pop_failf(op, NH_ERR_SERVER, "ListNodePools: unreadable answer: %s", msg);
        return;
    }
    count_pool_health(&op->obs);
    op->obs.complete = true;
    nh_pop_observed(op);
}

static int pools_request(struct nh_pop *op)
{
    int r = nh_pop_request(op, "ListNodePools", "GET", false, NULL, observe_pools_step,
                           "/api/v3/projects/%s/clusters/%s/nodepools", op->p->project_id,
                           op->cluster_id);
    if (r == 0)
        r = nh_pop_add_query(op, "showDefaultNodePool", "true");
    return r;
}

static void observe_nodes_step(struct nh_pop *op, const struct nh_http_resp *resp,
                               const struct nh_prov_error *err)
{
    char msg[200];
    int r;

    if (err != NULL) {
        nh_pop_fail(op, err);
        return;
    }
    if (nh_cce_parse_nodes(resp->body, resp->body_len, &op->obs, msg, sizeof(msg)) < 0) {
        nh_pop_failf(op, NH_ERR_SERVER, "ListNodes: unreadable answer: %s", msg);
        return;
    }
    if (op->then != NULL) { /* a poll that needs only the node list */
        op->obs.complete = true;
        op->then(op);
        return;
    }
    r = pools_request(op);
    if (r < 0) {
        nh_pop_failf(op, NH_ERR_SERVER, "ListNodePools: %s", strerror(-r));
        return;
    }
    nh_pop_next(op);
}

static int nodes_request(struct nh_pop *op)
{
    return nh_pop_request(op, "ListNodes", "GET", false, NULL, observe_nodes_step,
                          "/api/v3/projects/%s/clusters/%s/nodes", op->p->project_id,
                          op->cluster_id);
}

static int cce_observe(struct nh_provider *pub, const struct nh_cfg_cluster *c, nh_observe_fn done,
                       void *ud)
{
    struct nh_pop *op;
    int r;

    if (pub == NULL || c == NULL || done == NULL || !nh_prov_path_safe(c->id))
        return -EINVAL;
    op = cce_new(pub, c, NH_POP_OBSERVE, ud, &r);
    if (op != NULL)
        op->observe_cb = done;
    if (r == 0 && nh_huawei_refused(op, "ListNodes"))
        return nh_pop_started(op, 0);
    if (r == 0)
        r = nodes_request(op);
    if (r == 0)
        r = nh_pop_submit(op);
    return nh_pop_started(op, r);
}

/* ---------- scale a pool ---------- */

static void scale_step(struct nh_pop *op, const struct nh_http_resp *resp,
                       const struct nh_prov_error *err)
{
    (void)resp;
    if (err != NULL) {
        nh_pop_fail(op, err);
        return;
    }
    /* The answer is {"orderID": ...} at most: no job; follow the counters. */
    nh_pop_mutated(op, NH_JOB_POOL_SIZE, NULL);
}

static int cce_scale_pool(struct nh_provider *pub, const struct nh_cfg_cluster *c,
                          const struct nh_action *a, nh_mutate_fn done, void *ud)
{
    struct nh_pop *op;
    char *body;
    int r;

    if (pub == NULL || c == NULL || a == NULL || done == NULL || !nh_prov_path_safe(c->id) ||
        !nh_prov_path_safe(a->pool_id) || a->target < 0)
        return -EINVAL;
    op = cce_new(pub, c, NH_POP_MUTATE, ud, &r);
    if (op != NULL)
        op->mutate_cb = done;
    if (r == 0 && nh_huawei_refused(op, "ScaleNodePool"))
        return nh_pop_started(op, 0);
    if (r == 0) {
        op->pool_id = strdup(a->pool_id);
        body = nh_cce_body_scale_pool(a->target);
        r = op->pool_id != NULL && body != NULL ? 0 : -ENOMEM;
        if (r == 0)
            r = nh_pop_request(op, "ScaleNodePool", "POST", true, body, scale_step,
                               "/api/v3/projects/%s/clusters/%s/nodepools/%s/operation/scale",
                               op->p->project_id, op->cluster_id, op->pool_id);
        else
            free(body);
    }
    if (r == 0)
        r = nh_pop_submit(op);
    return nh_pop_started(op, r);
}

/* ---------- remove nodes ---------- */

static void remove_step(struct nh_pop *op, const struct nh_http_resp *resp,
                        const struct nh_prov_error *err)
{
    char msg[200];
    char *job = NULL;

    if (err != NULL) {
        nh_pop_fail(op, err);
        return;
    }
    if (nh_cce_parse_job_id(resp->body, resp->body_len, &job, msg, sizeof(msg)) < 0) {
        nh_pop_failf(op, NH_ERR_UNKNOWN_OUTCOME,
                     "RemoveNode: HTTP %d with an unreadable answer (%s); outcome unknown: "
                     "re-read before anything else",
                     resp->status, msg);
        return;
    }
    if (job != NULL)
        nh_pop_mutated(op, NH_JOB_CCE_JOB, job);
    else
        nh_pop_mutated(op, NH_JOB_NODES_GONE, NULL);
}

static int delete_node_request(struct nh_pop *op);

static void delete_node_step(struct nh_pop *op, const struct nh_http_resp *resp,
                             const struct nh_prov_error *err)
{
    char msg[200];
    char *job = NULL;
    int r;

    if (err != NULL) {
        if (op->done_count > 0) {
            struct nh_prov_error e = *err;
            char tmp[sizeof(e.message)];
            snprintf(tmp, sizeof(tmp),
                     "DeleteNode: %zu of %zu nodes deleted, then %s: ", op->done_count, op->n_nodes,
                     op->node_ids[op->idx]);
            nh_text_cat(tmp, sizeof(tmp), err->message);
            memcpy(e.message, tmp, sizeof(e.message));
            e.cls = NH_ERR_UNKNOWN_OUTCOME; /* partial: re-read the node list */
            nh_pop_fail(op, &e);
            return;
        }
        nh_pop_fail(op, err);
        return;
    }
    if (nh_cce_parse_job_id(resp->body, resp->body_len, &job, msg, sizeof(msg)) < 0) {
        nh_pop_failf(op, NH_ERR_UNKNOWN_OUTCOME,
                     "DeleteNode %s: HTTP %d with an unreadable answer (%s); outcome unknown: "
                     "re-read before anything else",
                     op->node_ids[op->idx], resp->status, msg);
        return;
    }
    free(op->job_ref);
    op->job_ref = job; /* the last node's job, for the record */
    op->done_count++;
    op->idx++;
    if (op->idx >= op->n_nodes) {
        nh_pop_mutated(op, NH_JOB_NODES_GONE, NULL);
        return;
    }
    r = delete_node_request(op);
    if (r < 0) {
        nh_pop_failf(op, NH_ERR_UNKNOWN_OUTCOME, "DeleteNode: %zu of %zu nodes deleted, then: %s",
                     op->done_count, op->n_nodes, strerror(-r));
        return;
    }
    nh_pop_next(op);
}

static int delete_node_request(struct nh_pop *op)
{
    /* No nodepoolScaleDown: the pool's count drops, so the node is not replaced. */
    return nh_pop_request(op, "DeleteNode", "DELETE", true, NULL, delete_node_step,
                          "/api/v3/projects/%s/clusters/%s/nodes/%s", op->p->project_id,
                          op->cluster_id, op->node_ids[op->idx]);
}

static int cce_remove_nodes(struct nh_provider *pub, const struct nh_cfg_cluster *c,
                            const struct nh_action *a, nh_mutate_fn done, void *ud)
{
    struct nh_pop *op;
    const unsigned char *pw = NULL;
    size_t pw_len = 0;
    char *body;
    int r;

    if (pub == NULL || c == NULL || a == NULL || done == NULL || !nh_prov_path_safe(c->id) ||
        a->n_nodes == 0 || a->node_ids == NULL)
        return -EINVAL;
    if (a->n_nodes > CCE_MAX_REMOVE)
        return -EINVAL; /* max_per_cycle <= 200: the planner never asks for more */
    for (size_t i = 0; i < a->n_nodes; i++)
        if (!nh_prov_path_safe(a->node_ids[i]))
            return -EINVAL;
    if (c->has_login && c->login.ssh_key == NULL && c->login.password != NULL) {
        pw = nh_secret_bytes(c->login.password, &pw_len);
        if (pw == NULL)
            return -EINVAL;
    }
    op = cce_new(pub, c, NH_POP_MUTATE, ud, &r);
    if (op != NULL)
        op->mutate_cb = done;
    if (r == 0 && nh_huawei_refused(op, a->pool_nodes ? "DeleteNode" : "RemoveNode"))
        return nh_pop_started(op, 0);
    if (r == 0)
        r = nh_pop_copy_nodes(op, a, false);
    if (r == 0 && a->pool_nodes) {
        op->idx = 0;
        r = delete_node_request(op);
    } else if (r == 0) {
        body = nh_cce_body_remove_nodes(
            (const char *const *)op->node_ids, op->n_nodes, c->has_login ? c->login.ssh_key : NULL,
            c->has_login ? c->login.username : NULL, (const char *)pw, pw_len);
        r = body != NULL ? 0 : -ENOMEM;
        if (r == 0)
            r = nh_pop_request(op, "RemoveNode", "PUT", true, body, remove_step,
                               "/api/v3/projects/%s/clusters/%s/nodes/operation/remove",
                               op->p->project_id, op->cluster_id);
    }
    if (r == 0)
        r = nh_pop_submit(op);
    return nh_pop_started(op, r);
}

/* ---------- poll ---------- */

static void job_step(struct nh_pop *op, const struct nh_http_resp *resp,
                     const struct nh_prov_error *err)
{
    struct nh_job_progress pr;
    char msg[200];

    if (err != NULL) {
        nh_pop_fail(op, err);
        return;
    }
    if (nh_cce_parse_job(resp->body, resp->body_len, &pr, msg, sizeof(msg)) < 0) {
        nh_pop_failf(op, NH_ERR_SERVER, "ShowJob %s: unreadable answer: %s", op->job_ref, msg);
        return;
    }
    nh_pop_progress(op, &pr);
}

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

static void pool_step(struct nh_pop *op, const struct nh_http_resp *resp,
                      const struct nh_prov_error *err)
{
    struct nh_pool_status s;
    char msg[200], detail[400];
    enum nh_job_state st;

    if (err != NULL) {
        if (err->cls == NH_ERR_NOT_FOUND && op->poll_kind == NH_JOB_POOL_GONE) {
            if (++op->reads >= 2) {
                progress(op, NH_JOB_SUCCEEDED, "gone", "node pool not found on two reads");
                return;
            }
            nh_pop_next(op); /* read again: gone only when two reads agree */
            return;
        }
        nh_pop_fail(op, err);
        return;
    }
    if (nh_cce_parse_nodepool(resp->body, resp->body_len, &s, msg, sizeof(msg)) < 0) {
        nh_pop_failf(op, NH_ERR_SERVER, "ShowNodePool: unreadable answer: %s", msg);
        return;
    }
    if (op->poll_kind == NH_JOB_POOL_GONE) {
        snprintf(detail, sizeof(detail), "node pool still present (%s)",
                 s.phase[0] != '\0' ? s.phase : "no phase");
        progress(op, NH_JOB_RUNNING, s.phase, detail);
        nh_pool_status_clear(&s);
        return;
    }
    if (s.failed)
        st = NH_JOB_FAILED;
    else if (s.pool.current == op->target && s.pool.creating == 0 && s.pool.deleting == 0)
        st = NH_JOB_SUCCEEDED;
    else
        st = NH_JOB_RUNNING;
    snprintf(detail, sizeof(detail), "%s%s%d of %d nodes, %d creating, %d deleting",
             s.failed ? s.failure : "", s.failed ? "; " : "", s.pool.current, op->target,
             s.pool.creating, s.pool.deleting);
    progress(op, st, s.phase, detail);
    nh_pool_status_clear(&s);
}

static void nodes_gone(struct nh_pop *op)
{
    size_t left = 0;
    char detail[200];

    for (size_t i = 0; i < op->obs.n_nodes; i++)
        if (nh_pop_is_victim(op, &op->obs.nodes[i]))
            left++;
    snprintf(detail, sizeof(detail), "%zu of %zu nodes still listed", left, op->n_nodes);
    progress(op, left == 0 ? NH_JOB_SUCCEEDED : NH_JOB_RUNNING, "node-list", detail);
}

static int cce_poll(struct nh_provider *pub, const struct nh_cfg_cluster *c, const struct nh_op *o,
                    nh_poll_fn done, void *ud)
{
    struct nh_pop *op;
    int r;

    if (pub == NULL || c == NULL || o == NULL || done == NULL || !nh_prov_path_safe(c->id))
        return -EINVAL;
    switch (o->job_kind) {
    case NH_JOB_CCE_JOB:
        if (!nh_prov_path_safe(o->job_id))
            return -EINVAL;
        break;
    case NH_JOB_POOL_SIZE:
    case NH_JOB_POOL_GONE:
        if (!nh_prov_path_safe(o->action.pool_id))
            return -EINVAL;
        break;
    case NH_JOB_NODES_GONE:
        if (o->action.n_nodes == 0)
            return -EINVAL;
        break;
    case NH_JOB_ACK_TASK:
        return -ENOTSUP;
    case NH_JOB_NONE:
        return -EINVAL;
    }
    op = cce_new(pub, c, NH_POP_POLL, ud, &r);
    if (op != NULL) {
        op->poll_cb = done;
        op->poll_kind = o->job_kind;
        op->target = o->action.target;
        op->act_kind = o->action.kind;
    }
    if (r == 0 && nh_huawei_refused(op, o->job_kind == NH_JOB_CCE_JOB ? "ShowJob" : "ShowNodePool"))
        return nh_pop_started(op, 0);
    if (r == 0 && o->job_kind == NH_JOB_CCE_JOB) {
        op->job_ref = strdup(o->job_id);
        r = op->job_ref != NULL ? 0 : -ENOMEM;
        if (r == 0)
            r = nh_pop_request(op, "ShowJob", "GET", false, NULL, job_step,
                               "/api/v3/projects/%s/jobs/%s", op->p->project_id, op->job_ref);
    } else if (r == 0 && (o->job_kind == NH_JOB_POOL_SIZE || o->job_kind == NH_JOB_POOL_GONE)) {
        op->pool_id = strdup(o->action.pool_id);
        r = op->pool_id != NULL ? 0 : -ENOMEM;
        if (r == 0)
            r = nh_pop_request(op, "ShowNodePool", "GET", false, NULL, pool_step,
                               "/api/v3/projects/%s/clusters/%s/nodepools/%s", op->p->project_id,
                               op->cluster_id, op->pool_id);
    } else if (r == 0) {
        r = nh_pop_copy_nodes(op, &o->action, false);
        op->then = nodes_gone;
        if (r == 0)
            r = nodes_request(op);
    }
    if (r == 0)
        r = nh_pop_submit(op);
    return nh_pop_started(op, r);
}

static void cce_destroy(struct nh_provider *p)
{
    (void)p;
}

const struct nh_provider_ops nh_cce_ops = {
    .kind = "huawei-cce",
    .observe = cce_observe,
    .scale_cluster = NULL, /* CCE clusters are sized through their node pools */
    .scale_pool = cce_scale_pool,
    .remove_nodes = cce_remove_nodes,
    .delete_pool = NULL,
    .poll = cce_poll,
    .destroy = cce_destroy,
};
