/* huawei_cce/ops.c - the huawei-cce provider (huawei-cce.md) as step rows:
 * ListNodes (with errorStatus) and ListNodePools (with the default pool),
 * ScaleNodePool (desiredNodeCount always sent; progress from the pool's
 * counters), DeleteNode (without nodepoolScaleDown, so a pool's count
 * drops; the server is deleted), RemoveNode (seed 001, at most 200 uids,
 * login when configured; ShowJob) only when the servers are to be kept,
 * ShowNodePool, ShowJob, and ShowCluster for whether the cluster accepts
 * changes.
 *
 * Which removal (https://support.huaweicloud.com/intl/en-us/api-cce/cce_02_0246.html,
 * https://support.huaweicloud.com/intl/en-us/usermanual-cce/cce_10_0338.html):
 * DeleteNode deletes the node and its server; RemoveNode takes the node out
 * of the cluster and reinstalls its OS, and the server keeps running (and
 * billing). scale_in.release_instances (default true) picks DeleteNode;
 * false picks RemoveNode, for workers outside node pools only (RemoveNode
 * leaves a pool's count as it is, so the pool would replace the node: the
 * planner never asks for that).
 *
 * DeleteNode: one call per node, one after the other. When every call
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
#define CCE_CLUSTER "/api/v3/projects/{project}/clusters/{cluster}"

/* cce.{region}.myhuaweicloud.com; .eu for eu-west-101 (the SDKs' region table). */
static const struct nh_endpoint cce_endpoint = {
    .pattern = "https://cce.{region}.myhuaweicloud.com",
    .except = {{"eu-west-101", "https://cce.eu-west-101.myhuaweicloud.eu"}},
};

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

static void pools_listed(struct nh_pop *op)
{
    count_pool_health(&op->obs);
    nh_pop_observed(op);
}

static const struct nh_step list_pools = {
    NH_GET("ListNodePools", CCE_CLUSTER "/nodepools"),
    .query = {{"showDefaultNodePool", "true"}},
    NH_READS_OBSERVED(nh_cce_parse_nodepools),
    .then = pools_listed,
};

static void nodes_listed(struct nh_pop *op)
{
    nh_pop_next(op, &list_pools);
}

/* errorStatus: without it a node whose deletion failed shows as Deleting
 * forever; with it, as Error (cce_02_0244; the SDK's ListNodesRequest: "when
 * errorStatus is empty the Error state is shown as Deleting"). The pages
 * give no value: any non-empty one. */
#define LIST_NODES                                                                                 \
    NH_GET("ListNodes", CCE_CLUSTER "/nodes"), .query = {{"errorStatus", "true"}},                 \
                                               NH_READS_OBSERVED(nh_cce_parse_nodes)

/* Observe: the nodes, then the pools. */
static const struct nh_step list_nodes = {LIST_NODES, .then = nodes_listed};
/* Poll NODES_GONE: the node list alone. */
static const struct nh_step list_nodes_gone = {LIST_NODES, .then = nh_then_nodes_gone};
/* After a pool's scale job: the node list alone (ops->observe_nodes). */
static const struct nh_step list_nodes_only = {LIST_NODES, .then = nh_then_observed};

static int cce_observe(struct nh_provider *pub, const struct nh_cfg_cluster *c, nh_observe_fn done,
                       void *ud)
{
    int r;
    struct nh_pop *op = nh_pop_observe_start(pub, c, done, ud, &r);

    return nh_pop_begin(op, r, &list_nodes);
}

static int cce_observe_nodes(struct nh_provider *pub, const struct nh_cfg_cluster *c,
                             nh_observe_fn done, void *ud)
{
    int r;
    struct nh_pop *op = nh_pop_observe_start(pub, c, done, ud, &r);

    return nh_pop_begin(op, r, &list_nodes_only);
}

/* ---------- scale a pool ---------- */

static int scale_pool_body(struct nh_pop *op)
{
    return nh_pop_set_body(op, nh_cce_body_scale_pool(op->target));
}

/* The answer is {"orderID": ...} at most: no job; follow the counters. */
static const struct nh_step scale_pool = {
    NH_POST("ScaleNodePool", CCE_CLUSTER "/nodepools/{pool}/operation/scale"),
    .prepare = scale_pool_body, NH_FOLLOWS(NH_JOB_POOL_SIZE), /* the body is not read */
};

static int cce_scale_pool(struct nh_provider *pub, const struct nh_cfg_cluster *c,
                          const struct nh_action *a, nh_mutate_fn done, void *ud)
{
    int r;
    struct nh_pop *op = nh_pop_mutate_start(pub, c, a, done, ud, &r);

    if (r == 0 && (!nh_prov_path_safe(a->pool_id) || a->target < 0))
        r = -EINVAL;
    return nh_pop_begin(op, r, &scale_pool);
}

/* ---------- remove nodes ---------- */

/* RemoveNode: workers outside pools whose servers are kept
 * (release_instances: false), by uid; a job to follow (ShowJob). */
static const struct nh_step remove_node = {
    NH_PUT("RemoveNode", CCE_CLUSTER "/nodes/operation/remove"),
    .prepare = nh_pop_take_body, /* built by cce_remove_nodes: it may hold the login password */
    NH_READS_ID(nh_cce_parse_job_id),
    NH_FOLLOWS_JOB(NH_JOB_CCE_JOB, NH_JOB_NODES_GONE),
};

/* DeleteNode: one call per node. No nodepoolScaleDown: a pool's count
 * drops, so the node is not replaced; the server is deleted. Each node's
 * job is read (an unreadable answer is an unknown outcome) but the node
 * list is followed. */
static const struct nh_step delete_node = {
    NH_DELETE("DeleteNode", CCE_CLUSTER "/nodes/{node}"),
    .subject = "{node}",
    .each_node = true,
    NH_READS_ID(nh_cce_parse_job_id),
    NH_FOLLOWS(NH_JOB_NODES_GONE),
};

/* The RemoveNode body, built here while the config (and the login
 * password) is borrowed. 0, -EINVAL or -ENOMEM. */
static int keep_remove_body(struct nh_pop *op, const struct nh_cfg_cluster *c)
{
    const unsigned char *pw = NULL;
    size_t pw_len = 0;

    /* A configuration loaded without its write-only secrets (`plan`) has
     * login.password NULL: never send a removal without the declared login. */
    if (c->has_login && c->login.ssh_key == NULL && c->login.password == NULL)
        return -EINVAL;
    if (c->has_login && c->login.ssh_key == NULL && c->login.password != NULL) {
        pw = nh_secret_bytes(c->login.password, &pw_len);
        if (pw == NULL)
            return -EINVAL;
    }
    return nh_pop_keep_body(op,
                            nh_cce_body_remove_nodes((const char *const *)op->node_ids, op->n_nodes,
                                                     c->has_login ? c->login.ssh_key : NULL,
                                                     c->has_login ? c->login.username : NULL,
                                                     (const char *)pw, pw_len));
}

/* The victims, each safe in a URL path, at most 200 (RemoveNode's limit). */
static bool victims_ok(const struct nh_action *a)
{
    if (a->n_nodes == 0 || a->node_ids == NULL)
        return false;
    if (a->n_nodes > CCE_MAX_REMOVE)
        return false; /* max_per_cycle <= 200: the planner never asks for more */
    for (size_t i = 0; i < a->n_nodes; i++)
        if (!nh_prov_path_safe(a->node_ids[i]))
            return false;
    return true;
}

static int cce_remove_nodes(struct nh_provider *pub, const struct nh_cfg_cluster *c,
                            const struct nh_action *a, nh_mutate_fn done, void *ud)
{
    int r;
    struct nh_pop *op = nh_pop_mutate_start(pub, c, a, done, ud, &r);

    if (r == 0 && !victims_ok(a))
        r = -EINVAL;
    /* Pool nodes whose servers are to be kept: CCE has no call for it. */
    if (r == 0 && a->pool_nodes && !c->scale_in.release_instances)
        r = -ENOTSUP;
    if (r == 0)
        r = nh_pop_copy_nodes(op, a, false);
    if (r == 0 && c->scale_in.release_instances)
        return nh_pop_begin(op, r, &delete_node);
    if (r == 0)
        r = keep_remove_body(op, c);
    return nh_pop_begin(op, r, &remove_node);
}

/* ---------- cluster state ---------- */

/* ShowCluster status.phase: mutations need Available (cce_02_0238). A
 * cluster in Error shows as Deleting without errorStatus. */
#define SHOW_CLUSTER                                                                               \
    NH_GET("ShowCluster", CCE_CLUSTER), .query = {{"errorStatus", "true"}},                        \
                                        NH_READS_STATE(nh_cce_parse_cluster_state)

static const struct nh_step show_cluster = {SHOW_CLUSTER, .then = nh_then_state};
/* After a refused mutation: was the cluster busy? */
static const struct nh_step show_cluster_after_refusal = {
    SHOW_CLUSTER,
    .then = nh_then_refusal_checked,
    .on_error = nh_refusal_unchecked,
};

static int cce_cluster_state(struct nh_provider *pub, const struct nh_cfg_cluster *c,
                             nh_state_fn done, void *ud)
{
    int r;
    struct nh_pop *op = nh_pop_state_start(pub, c, done, ud, &r);

    return nh_pop_begin(op, r, &show_cluster);
}

/* ---------- Kubernetes credentials ---------- */

/* CreateKubernetesClusterCert: POST .../clusters/{cluster_id}/clustercert
 * {"duration": days} (1..1827; -1 the maximum); the answer is the
 * kubeconfig as JSON, whose "internal" context is the VPC address with CA
 * data and whose "external" one skips TLS verification: only "internal" is
 * ever used (https://support.huaweicloud.com/intl/en-us/api-cce/cce_02_0248.html;
 * IAM action cce:cluster:generateClientCredential, access level Read). It
 * issues a client certificate and changes nothing in the cluster: a read
 * here (not fenced, safe to send again). */
static int read_cluster_cert(struct nh_pop *op, const char *body, size_t len, char *err,
                             size_t errlen)
{
    nh_secret_free(op->kube_cred.data);
    op->kube_cred.data = NULL;
    op->kube_cred.json = true;
    op->kube_cred.context = "internal";
    op->kube_cred.expires = 0; /* the client certificate's notAfter says */
    return nh_cce_parse_cluster_cert(body, len, &op->kube_cred.data, err, errlen);
}

static int prepare_cluster_cert(struct nh_pop *op)
{
    char body[48];
    snprintf(body, sizeof(body), "{\"duration\":%d}", NH_KUBECONFIG_CCE_DAYS);
    return nh_pop_set_body(op, strdup(body));
}

static const struct nh_step create_cluster_cert = {
    .name = "CreateKubernetesClusterCert",
    .method = "POST",
    .mutating = false, /* see above: it issues a credential, the cluster stays as it is */
    .path = CCE_CLUSTER "/clustercert",
    .prepare = prepare_cluster_cert,
    NH_READS_CUSTOM(read_cluster_cert),
    .then = nh_then_kubeconfig,
    .secret_answer = true,
};

static int cce_kubeconfig(struct nh_provider *pub, const struct nh_cfg_cluster *c,
                          nh_kubeconfig_fn done, void *ud)
{
    int r;
    struct nh_pop *op = nh_pop_kubeconfig_start(pub, c, done, ud, &r);

    return nh_pop_begin(op, r, &create_cluster_cert);
}

/* ---------- poll ---------- */

static const struct nh_step show_job = {
    NH_GET("ShowJob", "/api/v3/projects/{project}/jobs/{job}"),
    .subject = "{job}",
    NH_READS_PROGRESS(nh_cce_parse_job),
    .then = nh_then_progress,
};

static void pool_size_read(struct nh_pop *op)
{
    nh_pop_pool_size_progress(op, "deleting");
}

static void pool_still_there(struct nh_pop *op)
{
    char detail[128];

    snprintf(detail, sizeof(detail), "node pool still present (%s)",
             op->pool.phase[0] != '\0' ? op->pool.phase : "no phase");
    nh_pop_progress_state(op, NH_JOB_RUNNING, op->pool.phase, detail);
}

#define SHOW_POOL                                                                                  \
    NH_GET("ShowNodePool", CCE_CLUSTER "/nodepools/{pool}"), NH_READS_POOL(nh_cce_parse_nodepool)

static const struct nh_step show_pool_size = {SHOW_POOL, .then = pool_size_read};
static const struct nh_step show_pool_gone = {SHOW_POOL, .then = pool_still_there,
                                              .gone_when_absent = "node pool"};

static const struct nh_step *poll_step(enum nh_job_kind k)
{
    switch (k) {
    case NH_JOB_CCE_JOB:
        return &show_job;
    case NH_JOB_POOL_SIZE:
        return &show_pool_size;
    case NH_JOB_POOL_GONE:
        return &show_pool_gone;
    case NH_JOB_NODES_GONE:
        return &list_nodes_gone;
    case NH_JOB_ACK_TASK:
    case NH_JOB_NONE:
        break;
    }
    return NULL;
}

static int cce_poll(struct nh_provider *pub, const struct nh_cfg_cluster *c, const struct nh_op *o,
                    nh_poll_fn done, void *ud)
{
    int r;
    struct nh_pop *op = nh_pop_poll_start(pub, c, o, done, ud, &r);

    if (r == 0 && poll_step(o->job_kind) == NULL)
        r = o->job_kind == NH_JOB_ACK_TASK ? -ENOTSUP : -EINVAL;
    if (r == 0)
        r = nh_pop_poll_args(op, o);
    return nh_pop_begin(op, r, r == 0 ? poll_step(o->job_kind) : NULL);
}

const struct nh_provider_ops nh_cce_ops = {
    .kind = nh_kind_name_cce,
    .observe = cce_observe,
    .observe_nodes = cce_observe_nodes,
    .scale_pool = cce_scale_pool, /* CCE clusters are sized through their node pools */
    .remove_nodes = cce_remove_nodes,
    .poll = cce_poll,
    .cluster_state = cce_cluster_state,
    .kubeconfig = cce_kubeconfig,
};

const struct nh_cloud nh_cce_cloud = {
    .ops = &nh_cce_ops,
    .gateway = &nh_huawei_gateway,
    .endpoint = &cce_endpoint,
    .sizes = {sizeof(struct nh_prov), sizeof(struct nh_pop)}, /* nothing of its own */
    .refusal_check = &show_cluster_after_refusal,
};
