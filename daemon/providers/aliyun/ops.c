/* aliyun/ops.c - the aliyun-ack provider: the operations of aliyun-ack.md
 * as step rows (DescribeClusterNodes, every page; DescribeClusterNodePools;
 * seed-era ScaleCluster; DeleteClusterNodes; RemoveNodePoolNodes;
 * ModifyClusterNodePool with desired_size, absolute;
 * DescribeClusterNodePoolDetail; DescribeTaskInfo; DescribeClusterDetail for
 * whether the cluster accepts changes) and the vtable. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "providers/aliyun/ack.h"

/* cs.{region}.aliyuncs.com; the SDKs' global endpoint for a few regions. */
static const struct nh_endpoint ack_endpoint = {
    .pattern = "https://cs.{region}.aliyuncs.com",
    .except = {{"cn-wuhan", "https://cs.aliyuncs.com"},
               {"cn-zhangbei", "https://cs.aliyuncs.com"},
               {"cn-fujian", "https://cs.aliyuncs.com"},
               {"cn-edge-1", "https://cs.aliyuncs.com"}},
};

static struct ack_op *ack(struct nh_pop *op)
{
    return (struct ack_op *)op;
}

static void incomplete(struct nh_pop *op, const char *why)
{
    op->obs.complete = false;
    nh_text_copy(op->obs.why, sizeof(op->obs.why), why);
}

/* ---------- the node walk: every page of DescribeClusterNodes ---------- */

static int page_query(struct nh_pop *op);
static int read_page(struct nh_pop *op, const char *body, size_t len, char *err, size_t errlen);
static void page_read(struct nh_pop *op);

static const struct nh_step describe_nodes = {
    NH_GET("DescribeClusterNodes", "/clusters/{cluster}/nodes"),
    .query = {{"pageSize", "100"}},
    .prepare = page_query,
    NH_READS_CUSTOM(read_page),
    .then = page_read,
};

static int page_query(struct nh_pop *op)
{
    char num[24];

    snprintf(num, sizeof(num), "%zu", ack(op)->page);
    snprintf(op->subject, sizeof(op->subject), "page %zu", ack(op)->page);
    return nh_pop_add_query(op, "pageNumber", num);
}

static int read_page(struct nh_pop *op, const char *body, size_t len, char *err, size_t errlen)
{
    return nh_ack_parse_nodes_page(body, len, &op->obs, &ack(op)->pg, err, errlen);
}

/* Starts walking the pages into op->obs; after runs at the end. */
static void walk_init(struct nh_pop *op, void (*after)(struct nh_pop *op))
{
    nh_observed_clear(&op->obs);
    op->obs.complete = true;
    ack(op)->page = 1;
    ack(op)->total = -1;
    ack(op)->after_walk = after;
}

/* A page is in: the walk goes on, ends, or ends incomplete (a changed
 * total_count, a short page, too many pages). */
static void page_read(struct nh_pop *op)
{
    struct ack_op *a = ack(op);
    char why[256];

    if (a->page == 1) {
        a->total = a->pg.total_count;
    } else if (a->pg.total_count != a->total) {
        snprintf(why, sizeof(why),
                 "DescribeClusterNodes: total_count changed from %lld to %lld during the page "
                 "walk (page %zu)",
                 (long long)a->total, (long long)a->pg.total_count, a->page);
        incomplete(op, why);
        a->after_walk(op);
        return;
    }
    if ((int64_t)op->obs.n_nodes >= a->total) {
        a->after_walk(op);
        return;
    }
    if (a->pg.n_nodes == 0 || a->pg.n_nodes < NH_PROV_PAGE_SIZE) {
        snprintf(why, sizeof(why),
                 "DescribeClusterNodes: page %zu had %zu nodes; %zu of total_count %lld read",
                 a->page, a->pg.n_nodes, op->obs.n_nodes, (long long)a->total);
        incomplete(op, why);
        a->after_walk(op);
        return;
    }
    if (a->page >= NH_PROV_MAX_PAGES) {
        snprintf(why, sizeof(why), "DescribeClusterNodes: more than %d pages; stopped at %zu nodes",
                 NH_PROV_MAX_PAGES, op->obs.n_nodes);
        incomplete(op, why);
        a->after_walk(op);
        return;
    }
    a->page++;
    nh_pop_next(op, &describe_nodes);
}

/* ---------- observe: nodes, protect labels, pools ---------- */

static const struct nh_step describe_pools = {
    NH_GET("DescribeClusterNodePools", "/clusters/{cluster}/nodepools"),
    NH_READS_OBSERVED(nh_ack_parse_nodepools),
    .then = nh_then_observed,
};

/* No protect labels here: DescribeClusterNodes documents only instanceIds,
 * nodepool_id, state, pageSize and pageNumber, and its nodes carry no
 * Kubernetes labels (https://www.alibabacloud.com/help/en/ack/
 * ack-managed-and-ack-dedicated/developer-reference/api-query-nodes-in-a-cluster-1).
 * A filter the reference does not document would be ignored by the cloud
 * and return every node. Labels come from the cluster's Kubernetes API. */

static void observe_after_nodes(struct nh_pop *op)
{
    nh_pop_next(op, &describe_pools);
}

static int ack_observe(struct nh_provider *pub, const struct nh_cfg_cluster *c, nh_observe_fn done,
                       void *ud)
{
    int r;
    struct nh_pop *op = nh_pop_observe_start(pub, c, done, ud, &r);

    if (r == 0)
        walk_init(op, observe_after_nodes);
    return nh_pop_begin(op, r, &describe_nodes);
}

/* The node list alone, after a pool's scale job (ops->observe_nodes). */
static int ack_observe_nodes(struct nh_provider *pub, const struct nh_cfg_cluster *c,
                             nh_observe_fn done, void *ud)
{
    int r;
    struct nh_pop *op = nh_pop_observe_start(pub, c, done, ud, &r);

    if (r == 0)
        walk_init(op, nh_pop_observed);
    return nh_pop_begin(op, r, &describe_nodes);
}

/* ---------- mutations ---------- */

/* Every ACK mutation answers with a task_id to follow (DescribeTaskInfo),
 * or with none: then each row says how progress is read. */

/* Seed-era ScaleCluster: the worker total; no task: re-read the count. */
static const struct nh_step scale_cluster = {
    NH_PUT("ScaleCluster", "/clusters/{cluster}"),
    .prepare = nh_pop_take_body, /* built by ack_scale_cluster: it holds the password */
    NH_READS_ID(nh_ack_parse_task_id),
    NH_FOLLOWS_JOB(NH_JOB_ACK_TASK, NH_JOB_NONE),
};

static int delete_nodes_body(struct nh_pop *op)
{
    return nh_pop_set_body(op, nh_ack_body_delete_nodes((const char *const *)op->node_names,
                                                        op->n_nodes, op->release, op->drain));
}

/* DeleteClusterNodes (seed 000): workers outside pools, by node name. */
static const struct nh_step delete_nodes = {
    NH_POST("DeleteClusterNodes", "/clusters/{cluster}/nodes"),
    .prepare = delete_nodes_body,
    NH_READS_ID(nh_ack_parse_task_id),
    NH_FOLLOWS_JOB(NH_JOB_ACK_TASK, NH_JOB_NODES_GONE),
};

static int remove_pool_nodes_query(struct nh_pop *op)
{
    char *ids = nh_ack_query_instance_ids((const char *const *)op->node_ids, op->n_nodes);
    int r = ids != NULL ? nh_pop_add_query(op, "instance_ids", ids) : -ENOMEM;

    free(ids);
    if (r == 0)
        r = nh_pop_add_query(op, "release_node", op->release ? "true" : "false");
    if (r == 0)
        r = nh_pop_add_query(op, "drain_node", op->drain ? "true" : "false");
    return r;
}

/* RemoveNodePoolNodes: query only, no body; lowers the pool's desired size. */
static const struct nh_step remove_pool_nodes = {
    NH_DELETE("RemoveNodePoolNodes", "/clusters/{cluster}/nodepools/{pool}/nodes"),
    .prepare = remove_pool_nodes_query,
    NH_READS_ID(nh_ack_parse_task_id),
    NH_FOLLOWS_JOB(NH_JOB_ACK_TASK, NH_JOB_NODES_GONE),
};

static int modify_pool_body(struct nh_pop *op)
{
    return nh_pop_set_body(op, nh_ack_body_modify_pool(op->target));
}

/* ModifyClusterNodePool: scaling_group.desired_size, absolute. */
static const struct nh_step modify_pool = {
    NH_PUT("ModifyClusterNodePool", "/clusters/{cluster}/nodepools/{pool}"),
    .prepare = modify_pool_body,
    NH_READS_ID(nh_ack_parse_task_id),
    NH_FOLLOWS_JOB(NH_JOB_ACK_TASK, NH_JOB_POOL_SIZE),
};

/* The ScaleCluster body, built here while the config (and its password)
 * is borrowed. 0, -EINVAL (settings missing) or -ENOMEM. */
static int keep_scale_body(struct nh_pop *op, const struct nh_cfg_cluster *c, int target)
{
    const struct nh_cfg_scale_out *so = &c->scale_out;
    const unsigned char *pw;
    size_t pw_len = 0;

    if (!c->has_scale_out || so->instance_type == NULL || so->system_disk_category == NULL ||
        so->login_password == NULL || so->system_disk_size_gb <= 0 || target < 0 || target > 300)
        return -EINVAL;
    pw = nh_secret_bytes(so->login_password, &pw_len);
    if (pw == NULL)
        return -EINVAL;
    return nh_pop_keep_body(
        op, nh_ack_body_scale_cluster(so->disable_rollback,
                                      so->timeout_mins > 0 ? so->timeout_mins : 60, target,
                                      so->instance_type, so->system_disk_category,
                                      so->system_disk_size_gb, (const char *)pw, pw_len));
}

static int ack_scale_cluster(struct nh_provider *pub, const struct nh_cfg_cluster *c,
                             const struct nh_action *a, nh_mutate_fn done, void *ud)
{
    int r;
    struct nh_pop *op = nh_pop_mutate_start(pub, c, a, done, ud, &r);

    if (r == 0)
        r = keep_scale_body(op, c, a->target);
    return nh_pop_begin(op, r, &scale_cluster);
}

static int ack_remove_nodes(struct nh_provider *pub, const struct nh_cfg_cluster *c,
                            const struct nh_action *a, nh_mutate_fn done, void *ud)
{
    int r;
    struct nh_pop *op = nh_pop_mutate_start(pub, c, a, done, ud, &r);

    if (r == 0 && a->pool_nodes && !nh_prov_path_safe(a->pool_id))
        r = -EINVAL;
    if (r == 0)
        r = nh_pop_copy_nodes(op, a, !a->pool_nodes);
    return nh_pop_begin(op, r, r == 0 && a->pool_nodes ? &remove_pool_nodes : &delete_nodes);
}

static int ack_scale_pool(struct nh_provider *pub, const struct nh_cfg_cluster *c,
                          const struct nh_action *a, nh_mutate_fn done, void *ud)
{
    int r;
    struct nh_pop *op = nh_pop_mutate_start(pub, c, a, done, ud, &r);

    if (r == 0 && (a->target < 0 || !nh_prov_path_safe(a->pool_id)))
        r = -EINVAL;
    return nh_pop_begin(op, r, &modify_pool);
}

/* ---------- poll ---------- */

/* ScaleCluster without a task: the workers outside pools reach the target. */
static void workers_counted(struct nh_pop *op)
{
    size_t workers = 0, pending = 0;
    char detail[160];

    if (!op->obs.complete) {
        nh_pop_progress_state(op, NH_JOB_RUNNING, "node-list", op->obs.why);
        return;
    }
    for (size_t i = 0; i < op->obs.n_nodes; i++) {
        const struct nh_node *n = &op->obs.nodes[i];
        if (!n->worker || n->pool_id != NULL || n->health == NH_NODE_REMOVING)
            continue;
        workers++;
        if (n->health == NH_NODE_PENDING)
            pending++;
    }
    snprintf(detail, sizeof(detail), "%zu workers (%zu pending), target %d", workers, pending,
             op->target);
    nh_pop_progress_state(
        op, workers == (size_t)op->target && pending == 0 ? NH_JOB_SUCCEEDED : NH_JOB_RUNNING,
        "node-list", detail);
}

/* api README #17: a seed-era ScaleCluster task may be unknown to
 * DescribeTaskInfo; then the workers are counted instead. */
static bool task_unknown(struct nh_pop *op, const struct nh_prov_error *err)
{
    if (err->cls != NH_ERR_NOT_FOUND || op->act_kind != NH_ACT_SCALE_CLUSTER)
        return false;
    walk_init(op, workers_counted);
    nh_pop_next(op, &describe_nodes);
    return true;
}

static const struct nh_step describe_task = {
    NH_GET("DescribeTaskInfo", "/tasks/{job}"),
    .subject = "{job}",
    NH_READS_PROGRESS(nh_ack_parse_task),
    .then = nh_then_progress,
    .on_error = task_unknown,
};

static void pool_size_read(struct nh_pop *op)
{
    nh_pop_pool_size_progress(op, "removing");
}

static const struct nh_step describe_pool = {
    NH_GET("DescribeClusterNodePoolDetail", "/clusters/{cluster}/nodepools/{pool}"),
    NH_READS_POOL(nh_ack_parse_nodepool_detail),
    .then = pool_size_read,
};

static int ack_poll(struct nh_provider *pub, const struct nh_cfg_cluster *c, const struct nh_op *o,
                    nh_poll_fn done, void *ud)
{
    int r;
    struct nh_pop *op = nh_pop_poll_start(pub, c, o, done, ud, &r);

    if (r == 0 && (o->job_kind == NH_JOB_POOL_GONE || o->job_kind == NH_JOB_CCE_JOB))
        r = -ENOTSUP;
    if (r == 0)
        r = nh_pop_poll_args(op, o);
    if (r == 0 && o->job_kind == NH_JOB_ACK_TASK)
        return nh_pop_begin(op, r, &describe_task);
    if (r == 0 && o->job_kind == NH_JOB_POOL_SIZE)
        return nh_pop_begin(op, r, &describe_pool);
    if (r == 0)
        walk_init(op, nh_then_nodes_gone);
    return nh_pop_begin(op, r, &describe_nodes);
}

/* ---------- cluster state ---------- */

/* DescribeClusterDetail `state`: changes are accepted only while the
 * cluster is `running`
 * (https://www.alibabacloud.com/help/en/ack/ack-managed-and-ack-dedicated/developer-reference/api-cs-2015-12-15-describeclusterdetail,
 * lifecycle:
 * https://www.alibabacloud.com/help/en/ack/ack-managed-and-ack-dedicated/user-guide/cluster-abnormal-states).
 */
#define DESCRIBE_CLUSTER                                                                           \
    NH_GET("DescribeClusterDetail", "/clusters/{cluster}"),                                        \
        NH_READS_STATE(nh_ack_parse_cluster_state)

static const struct nh_step describe_cluster = {DESCRIBE_CLUSTER, .then = nh_then_state};
/* After a refused mutation: was the cluster busy? */
static const struct nh_step describe_cluster_after_refusal = {
    DESCRIBE_CLUSTER,
    .then = nh_then_refusal_checked,
    .on_error = nh_refusal_unchecked,
};

static int ack_cluster_state(struct nh_provider *pub, const struct nh_cfg_cluster *c,
                             nh_state_fn done, void *ud)
{
    int r;
    struct nh_pop *op = nh_pop_state_start(pub, c, done, ud, &r);

    return nh_pop_begin(op, r, &describe_cluster);
}

/* ---------- Kubernetes credentials ---------- */

/* DescribeClusterUserKubeconfig: GET /k8s/{ClusterId}/user_config with
 * PrivateIpAddress (true: the VPC endpoint; the default false gives the
 * internet one) and TemporaryDurationMinutes 15..4320; the answer's
 * `expiration` (RFC 3339) says when it ends
 * (https://www.alibabacloud.com/help/en/ack/ack-managed-and-ack-dedicated/developer-reference/api-query-the-kubeconfig-file-of-a-cluster;
 * RAM action cs:DescribeClusterUserKubeconfig). */
static int read_user_kubeconfig(struct nh_pop *op, const char *body, size_t len, char *err,
                                size_t errlen)
{
    nh_secret_free(op->kube_cred.data);
    op->kube_cred.data = NULL;
    op->kube_cred.json = false;
    op->kube_cred.context = NULL;
    return nh_ack_parse_user_kubeconfig(body, len, &op->kube_cred.data, &op->kube_cred.expires, err,
                                        errlen);
}

static int prepare_user_kubeconfig(struct nh_pop *op)
{
    char minutes[16];
    int r = nh_pop_add_query(op, "PrivateIpAddress", op->kube_public ? "false" : "true");
    snprintf(minutes, sizeof(minutes), "%d", NH_KUBECONFIG_ACK_MINUTES);
    return r == 0 ? nh_pop_add_query(op, "TemporaryDurationMinutes", minutes) : r;
}

static const struct nh_step describe_user_kubeconfig = {
    NH_GET("DescribeClusterUserKubeconfig", "/k8s/{cluster}/user_config"),
    .subject = "{cluster}",
    .prepare = prepare_user_kubeconfig,
    NH_READS_CUSTOM(read_user_kubeconfig),
    .then = nh_then_kubeconfig,
    .secret_answer = true,
};

static int ack_kubeconfig(struct nh_provider *pub, const struct nh_cfg_cluster *c,
                          nh_kubeconfig_fn done, void *ud)
{
    int r;
    struct nh_pop *op = nh_pop_kubeconfig_start(pub, c, done, ud, &r);

    return nh_pop_begin(op, r, &describe_user_kubeconfig);
}

static int ack_init(struct nh_prov *p, const struct nh_cfg_provider *cfg, char *err, size_t errlen)
{
    (void)err;
    (void)errlen;
    ((struct ack_prov *)p)->signing = cfg->signing;
    return 0;
}

const struct nh_provider_ops nh_ack_ops = {
    .kind = nh_kind_name_ack,
    .observe = ack_observe,
    .observe_nodes = ack_observe_nodes,
    .scale_cluster = ack_scale_cluster,
    .scale_pool = ack_scale_pool,
    .remove_nodes = ack_remove_nodes,
    .poll = ack_poll, /* ACK node pools are not deleted by nodeherd: no delete_pool */
    .cluster_state = ack_cluster_state,
    .kubeconfig = ack_kubeconfig,
};

const struct nh_cloud nh_ack_cloud = {
    .ops = &nh_ack_ops,
    .gateway = &nh_ack_gateway,
    .endpoint = &ack_endpoint,
    .sizes = {sizeof(struct ack_prov), sizeof(struct ack_op)},
    .refusal_check = &describe_cluster_after_refusal,
    .hooks = {.init = ack_init},
};
