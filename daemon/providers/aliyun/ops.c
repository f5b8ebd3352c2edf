/* aliyun/ops.c - the aliyun-ack provider: ACS3 (default) or legacy ROA
 * signing, and the operations of aliyun-ack.md: DescribeClusterNodes (every
 * page), DescribeClusterNodePools, seed-era ScaleCluster, DeleteClusterNodes,
 * RemoveNodePoolNodes, ModifyClusterNodePool (desired_size, absolute), and
 * DescribeTaskInfo. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "providers/internal.h"

#define ACK_VERSION "2015-12-15"
#define ACK_CT "application/json; charset=utf-8"

/* ---------- signing ---------- */

static int ack_sign(struct nh_prov *p, struct nh_pop *op, const char *query,
                    struct nh_http_req *req)
{
    char date[40], nonce[33], hash[65], md5[25];
    struct nh_kv h[12];
    size_t nh = 0, nl = 0;
    struct nh_sign_req sr;
    char *auth;
    int r = 0;

    (void)query;
    (void)req;
    if (nh_nonce(nonce) < 0)
        return -EIO;
    if (p->signing == NH_SIGN_ACS3) {
        nh_date_acs3(nh_prov_wall_now(), date);
        nh_sha256_hex(op->body != NULL ? op->body : "", op->body_len, hash);
        h[nh++] = (struct nh_kv){"host", p->host};
        h[nh++] = (struct nh_kv){"x-acs-action", op->op_name};
        h[nh++] = (struct nh_kv){"x-acs-version", ACK_VERSION};
        h[nh++] = (struct nh_kv){"x-acs-date", date};
        h[nh++] = (struct nh_kv){"x-acs-signature-nonce", nonce};
        h[nh++] = (struct nh_kv){"x-acs-content-sha256", hash};
        h[nh++] = (struct nh_kv){"accept", "application/json"};
        if (op->body != NULL)
            h[nh++] = (struct nh_kv){"content-type", ACK_CT};
    } else {
        nh_date_rfc1123(nh_prov_wall_now(), date);
        h[nh++] = (struct nh_kv){"accept", "application/json"};
        h[nh++] = (struct nh_kv){"date", date};
        h[nh++] = (struct nh_kv){"host", p->host};
        h[nh++] = (struct nh_kv){"x-acs-signature-method", "HMAC-SHA1"};
        h[nh++] = (struct nh_kv){"x-acs-signature-version", "1.0"};
        h[nh++] = (struct nh_kv){"x-acs-signature-nonce", nonce};
        h[nh++] = (struct nh_kv){"x-acs-version", ACK_VERSION};
        h[nh++] = (struct nh_kv){"x-acs-action", op->op_name};
        if (op->body != NULL) {
            nh_md5_base64(op->body, op->body_len, md5);
            h[nh++] = (struct nh_kv){"content-type", ACK_CT};
            h[nh++] = (struct nh_kv){"content-md5", md5};
        }
    }
    sr = (struct nh_sign_req){
        .method = op->method,
        .path = op->path,
        .query = op->query,
        .n_query = op->n_query,
        .headers = h,
        .n_headers = nh,
        .body = op->body,
        .body_len = op->body_len,
    };
    if (p->signing == NH_SIGN_ACS3)
        auth = nh_acs3_authorization(&sr, p->ak, p->sk, p->sk_len);
    else
        auth = nh_roa_authorization(&sr, p->ak, p->sk, p->sk_len);
    if (auth == NULL)
        return -ENOMEM;
    for (size_t i = 0; i < nh && r == 0; i++)
        r = nh_pop_add_header(op, &nl, h[i].key, h[i].value);
    if (r == 0)
        r = nh_pop_add_header(op, &nl, "authorization", auth);
    free(auth);
    return r;
}

static enum nh_verdict ack_classify(struct nh_prov *p, struct nh_pop *op,
                                    const struct nh_http_resp *resp, struct nh_prov_error *e,
                                    uint64_t *hint_ms)
{
    (void)p;
    nh_ack_error_from_answer(resp->status, resp->body, resp->body_len,
                             nh_http_resp_header(resp, "x-acs-retry-after"), op->call.mutating, e,
                             hint_ms);
    switch (e->cls) {
    case NH_ERR_THROTTLED:
        return NH_V_THROTTLED;
    case NH_ERR_SERVER:
        return NH_V_RETRY;
    case NH_ERR_UNKNOWN_OUTCOME:
        return NH_V_UNKNOWN;
    case NH_ERR_INVALID:
        /* A nonce collision: re-sign with a fresh nonce once (the request was refused). */
        if (strcmp(e->code, "SignatureNonceUsed") == 0 && op->nonce_retries++ == 0)
            return NH_V_RETRY;
        return NH_V_FINAL;
    case NH_ERR_NONE:
        return NH_V_OK;
    case NH_ERR_AUTH:
    case NH_ERR_NOT_FOUND:
    case NH_ERR_CONFLICT:
    case NH_ERR_CANCELLED:
        return NH_V_FINAL;
    }
    return NH_V_FINAL;
}

const struct nh_cloud nh_ack_cloud = {
    .sign = ack_sign,
    .classify = ack_classify,
    .query = nh_acs3_query,
};

/* ---------- helpers ---------- */

static struct nh_prov *prov(struct nh_provider *pub)
{
    return (struct nh_prov *)pub;
}

static int copy_cluster(struct nh_pop *op, const struct nh_cfg_cluster *c)
{
    if (c == NULL || !nh_prov_path_safe(c->id))
        return -EINVAL;
    op->cluster_id = strdup(c->id);
    return op->cluster_id != NULL ? 0 : -ENOMEM;
}

/* ---------- the node walk (every page) ---------- */

static void nodes_page_step(struct nh_pop *op, const struct nh_http_resp *resp,
                            const struct nh_prov_error *err);

static int nodes_page_request(struct nh_pop *op)
{
    char num[24];
    int r;

    r = nh_pop_request(op, "DescribeClusterNodes", "GET", false, NULL, nodes_page_step,
                       "/clusters/%s/nodes", op->cluster_id);
    snprintf(num, sizeof(num), "%zu", op->idx);
    if (r == 0)
        r = nh_pop_add_query(op, "pageNumber", num);
    if (r == 0)
        r = nh_pop_add_query(op, "pageSize", "100");
    return r;
}

/* Starts walking the pages into op->obs; op->then runs at the end. */
static int nodes_walk_start(struct nh_pop *op, void (*then)(struct nh_pop *op))
{
    nh_observed_clear(&op->obs);
    op->obs.complete = true;
    op->idx = 1;
    op->total = -1;
    op->then = then;
    return nodes_page_request(op);
}

static void incomplete(struct nh_pop *op, const char *why)
{
    op->obs.complete = false;
    nh_text_copy(op->obs.why, sizeof(op->obs.why), why);
}

static void nodes_page_step(struct nh_pop *op, const struct nh_http_resp *resp,
                            const struct nh_prov_error *err)
{
    struct nh_ack_page pg;
    char msg[200], why[256];
    int r;

    if (err != NULL) {
        nh_pop_fail(op, err);
        return;
    }
    r = nh_ack_parse_nodes_page(resp->body, resp->body_len, &op->obs, &pg, msg, sizeof(msg));
    if (r < 0) {
        nh_pop_failf(op, NH_ERR_SERVER, "DescribeClusterNodes page %zu: unreadable answer: %s",
                     op->idx, msg);
        return;
    }
    if (op->idx == 1) {
        op->total = pg.total_count;
    } else if (pg.total_count != op->total) {
        snprintf(why, sizeof(why),
                 "DescribeClusterNodes: total_count changed from %lld to %lld during the page "
                 "walk (page %zu)",
                 (long long)op->total, (long long)pg.total_count, op->idx);
        incomplete(op, why);
        op->then(op);
        return;
    }
    if ((int64_t)op->obs.n_nodes >= op->total) {
        op->then(op);
        return;
    }
    if (pg.n_nodes == 0 || pg.n_nodes < NH_PROV_PAGE_SIZE) {
        snprintf(why, sizeof(why),
                 "DescribeClusterNodes: page %zu had %zu nodes; %zu of total_count %lld read",
                 op->idx, pg.n_nodes, op->obs.n_nodes, (long long)op->total);
        incomplete(op, why);
        op->then(op);
        return;
    }
    if (op->idx >= NH_PROV_MAX_PAGES) {
        snprintf(why, sizeof(why), "DescribeClusterNodes: more than %d pages; stopped at %zu nodes",
                 NH_PROV_MAX_PAGES, op->obs.n_nodes);
        incomplete(op, why);
        op->then(op);
        return;
    }
    op->idx++;
    r = nodes_page_request(op);
    if (r < 0) {
        nh_pop_failf(op, NH_ERR_SERVER, "DescribeClusterNodes: %s", strerror(-r));
        return;
    }
    nh_pop_next(op);
}

/* ---------- observe ---------- */

static void pools_step(struct nh_pop *op, const struct nh_http_resp *resp,
                       const struct nh_prov_error *err)
{
    char msg[200];

    if (err != NULL) {
        nh_pop_fail(op, err);
        return;
    }
    if (nh_ack_parse_nodepools(resp->body, resp->body_len, &op->obs, msg, sizeof(msg)) < 0) {
        nh_pop_failf(op, NH_ERR_SERVER, "DescribeClusterNodePools: unreadable answer: %s", msg);
        return;
    }
    nh_pop_observed(op);
}

static void pools_next(struct nh_pop *op)
{
    int r = nh_pop_request(op, "DescribeClusterNodePools", "GET", false, NULL, pools_step,
                           "/clusters/%s/nodepools", op->cluster_id);
    if (r < 0) {
        nh_pop_failf(op, NH_ERR_SERVER, "DescribeClusterNodePools: %s", strerror(-r));
        return;
    }
    nh_pop_next(op);
}

/* ---- protect labels: DescribeClusterNodes returns no labels, so each
 * protect label (key=value) is learnt through the nodeLabels filter and
 * attached to the nodes it returns. A filtered walk that cannot be read
 * completely makes the observation incomplete (fail closed). */

static void label_walk_next(struct nh_pop *op);

static int label_page_request(struct nh_pop *op);

static int add_label(struct nh_node *n, const char *key, const char *value)
{
    struct nh_label *l;

    if (nh_node_label(n, key) != NULL)
        return 0;
    l = realloc(n->labels, (n->n_labels + 1) * sizeof(*l));
    if (l == NULL)
        return -ENOMEM;
    n->labels = l;
    l[n->n_labels].key = strdup(key);
    l[n->n_labels].value = strdup(value);
    n->n_labels++;
    if (l[n->n_labels - 1].key == NULL || l[n->n_labels - 1].value == NULL)
        return -ENOMEM;
    return 0;
}

static void label_page_step(struct nh_pop *op, const struct nh_http_resp *resp,
                            const struct nh_prov_error *err)
{
    struct nh_ack_page pg;
    char msg[200], why[256];
    const char *k = op->lab_keys[op->lab_idx], *v = op->lab_vals[op->lab_idx];

    if (err != NULL) {
        nh_pop_fail(op, err);
        return;
    }
    if (nh_ack_parse_nodes_page(resp->body, resp->body_len, &op->aux, &pg, msg, sizeof(msg)) < 0) {
        nh_pop_failf(op, NH_ERR_SERVER,
                     "DescribeClusterNodes (nodeLabels %s=%s) page %zu: unreadable answer: %s", k,
                     v, op->lab_page, msg);
        return;
    }
    if (op->lab_page == 1)
        op->total = pg.total_count;
    if (pg.total_count != op->total ||
        ((int64_t)op->aux.n_nodes < op->total &&
         (pg.n_nodes < NH_PROV_PAGE_SIZE || op->lab_page >= NH_PROV_MAX_PAGES))) {
        snprintf(why, sizeof(why),
                 "DescribeClusterNodes: the nodes labelled %s=%s could not be read completely "
                 "(%zu of %lld)",
                 k, v, op->aux.n_nodes, (long long)pg.total_count);
        incomplete(op, why);
        op->lab_idx++;
        label_walk_next(op);
        return;
    }
    if ((int64_t)op->aux.n_nodes < op->total) {
        op->lab_page++;
        if (label_page_request(op) < 0) {
            nh_pop_failf(op, NH_ERR_SERVER, "DescribeClusterNodes: out of memory");
            return;
        }
        nh_pop_next(op);
        return;
    }
    for (size_t i = 0; i < op->aux.n_nodes; i++) {
        for (size_t j = 0; j < op->obs.n_nodes; j++) {
            if (strcmp(op->obs.nodes[j].id, op->aux.nodes[i].id) == 0 &&
                add_label(&op->obs.nodes[j], k, v) < 0) {
                nh_pop_failf(op, NH_ERR_SERVER, "DescribeClusterNodes: out of memory");
                return;
            }
        }
    }
    op->lab_idx++;
    label_walk_next(op);
}

static int label_page_request(struct nh_pop *op)
{
    char num[24], filter[512];
    int r;

    r = nh_pop_request(op, "DescribeClusterNodes", "GET", false, NULL, label_page_step,
                       "/clusters/%s/nodes", op->cluster_id);
    snprintf(num, sizeof(num), "%zu", op->lab_page);
    snprintf(filter, sizeof(filter), "%s=%s", op->lab_keys[op->lab_idx], op->lab_vals[op->lab_idx]);
    if (r == 0)
        r = nh_pop_add_query(op, "nodeLabels", filter);
    if (r == 0)
        r = nh_pop_add_query(op, "pageNumber", num);
    if (r == 0)
        r = nh_pop_add_query(op, "pageSize", "100");
    return r;
}

static void label_walk_next(struct nh_pop *op)
{
    if (op->lab_idx >= op->n_labs) {
        pools_next(op);
        return;
    }
    nh_observed_clear(&op->aux);
    op->lab_page = 1;
    if (label_page_request(op) < 0) {
        nh_pop_failf(op, NH_ERR_SERVER, "DescribeClusterNodes: out of memory");
        return;
    }
    nh_pop_next(op);
}

static void observe_after_nodes(struct nh_pop *op)
{
    op->lab_idx = 0;
    label_walk_next(op);
}

/* Copies the protect labels that the nodeLabels filter can express. */
static int copy_labels(struct nh_pop *op, const struct nh_cfg_cluster *c)
{
    const struct nh_cfg_scale_in *si = &c->scale_in;
    char why[256];

    if (si->n_protect_labels == 0)
        return 0;
    op->lab_keys = calloc(si->n_protect_labels, sizeof(char *));
    op->lab_vals = calloc(si->n_protect_labels, sizeof(char *));
    if (op->lab_keys == NULL || op->lab_vals == NULL)
        return -ENOMEM;
    for (size_t i = 0; i < si->n_protect_labels; i++) {
        const struct nh_cfg_label *l = &si->protect_labels[i];
        if (l->key == NULL || l->value == NULL || l->key[0] == '\0' ||
            strpbrk(l->key, ",=") != NULL || strpbrk(l->value, ",=") != NULL ||
            l->value[0] == '\0') {
            /* Cannot be asked of ACK exactly: never treat the fleet as fully known. */
            snprintf(why, sizeof(why),
                     "protect label %.60s cannot be queried on ACK (needs key=value without ',' "
                     "or '='): no removals",
                     l->key != NULL ? l->key : "?");
            incomplete(op, why);
            continue;
        }
        op->lab_keys[op->n_labs] = strdup(l->key);
        op->lab_vals[op->n_labs] = strdup(l->value);
        op->n_labs++;
        if (op->lab_keys[op->n_labs - 1] == NULL || op->lab_vals[op->n_labs - 1] == NULL)
            return -ENOMEM;
    }
    return 0;
}

static int ack_observe(struct nh_provider *pub, const struct nh_cfg_cluster *c, nh_observe_fn done,
                       void *ud)
{
    struct nh_pop *op;
    int r;

    if (pub == NULL || c == NULL || done == NULL || !nh_prov_path_safe(c->id))
        return -EINVAL;
    op = nh_pop_new(prov(pub), NH_POP_OBSERVE, ud);
    if (op == NULL)
        return -ENOMEM;
    op->observe_cb = done;
    r = copy_cluster(op, c);
    if (r == 0)
        r = nodes_walk_start(op, observe_after_nodes);
    if (r == 0)
        r = copy_labels(op, c);
    if (r == 0)
        r = nh_pop_submit(op);
    return nh_pop_started(op, r);
}

/* ---------- mutations ---------- */

/* The answer of a mutating call: task_id -> ACK_TASK, else op->poll_kind. */
static void mutate_step(struct nh_pop *op, const struct nh_http_resp *resp,
                        const struct nh_prov_error *err)
{
    char msg[200];
    char *task = NULL;

    if (err != NULL) {
        nh_pop_fail(op, err);
        return;
    }
    if (nh_ack_parse_task_id(resp->body, resp->body_len, &task, msg, sizeof(msg)) < 0) {
        nh_pop_failf(op, NH_ERR_UNKNOWN_OUTCOME,
                     "%s: HTTP %d with an unreadable answer (%s); outcome unknown: re-read "
                     "before anything else",
                     op->op_name, resp->status, msg);
        return;
    }
    if (task != NULL)
        nh_pop_mutated(op, NH_JOB_ACK_TASK, task);
    else
        nh_pop_mutated(op, op->poll_kind, NULL);
}

static struct nh_pop *mutate_new(struct nh_provider *pub, const struct nh_cfg_cluster *c,
                                 const struct nh_action *a, nh_mutate_fn done, void *ud, int *r)
{
    struct nh_pop *op = nh_pop_new(prov(pub), NH_POP_MUTATE, ud);

    if (op == NULL) {
        *r = -ENOMEM;
        return NULL;
    }
    op->mutate_cb = done;
    op->act_kind = a->kind;
    op->target = a->target;
    op->release = c->scale_in.release_instances;
    op->drain = c->scale_in.drain;
    *r = copy_cluster(op, c);
    return op;
}

static int ack_scale_cluster(struct nh_provider *pub, const struct nh_cfg_cluster *c,
                             const struct nh_action *a, nh_mutate_fn done, void *ud)
{
    const struct nh_cfg_scale_out *so;
    const unsigned char *pw;
    size_t pw_len = 0;
    struct nh_pop *op;
    char *body;
    int r;

    if (pub == NULL || c == NULL || a == NULL || done == NULL)
        return -EINVAL;
    so = &c->scale_out;
    if (!c->has_scale_out || so->instance_type == NULL || so->system_disk_category == NULL ||
        so->login_password == NULL || so->system_disk_size_gb <= 0 || a->target < 0 ||
        a->target > 300)
        return -EINVAL;
    pw = nh_secret_bytes(so->login_password, &pw_len);
    if (pw == NULL)
        return -EINVAL;
    op = mutate_new(pub, c, a, done, ud, &r);
    if (r == 0) {
        body = nh_ack_body_scale_cluster(so->disable_rollback,
                                         so->timeout_mins > 0 ? so->timeout_mins : 60, a->target,
                                         so->instance_type, so->system_disk_category,
                                         so->system_disk_size_gb, (const char *)pw, pw_len);
        r = body != NULL ? 0 : -ENOMEM;
        if (r == 0)
            r = nh_pop_request(op, "ScaleCluster", "PUT", true, body, mutate_step, "/clusters/%s",
                               op->cluster_id);
    }
    if (r == 0) {
        op->poll_kind = NH_JOB_NONE; /* no task: re-read the worker count */
        r = nh_pop_submit(op);
    }
    return nh_pop_started(op, r);
}

static int ack_remove_nodes(struct nh_provider *pub, const struct nh_cfg_cluster *c,
                            const struct nh_action *a, nh_mutate_fn done, void *ud)
{
    struct nh_pop *op;
    char *body, *ids;
    int r;

    if (pub == NULL || c == NULL || a == NULL || done == NULL || a->n_nodes == 0)
        return -EINVAL;
    if (a->pool_nodes && !nh_prov_path_safe(a->pool_id))
        return -EINVAL;
    op = mutate_new(pub, c, a, done, ud, &r);
    if (r == 0)
        r = nh_pop_copy_nodes(op, a, !a->pool_nodes);
    if (r == 0 && a->pool_nodes) {
        /* RemoveNodePoolNodes: query only, no body; lowers the pool's desired size. */
        op->pool_id = strdup(a->pool_id);
        r = op->pool_id != NULL ? 0 : -ENOMEM;
        if (r == 0)
            r = nh_pop_request(op, "RemoveNodePoolNodes", "DELETE", true, NULL, mutate_step,
                               "/clusters/%s/nodepools/%s/nodes", op->cluster_id, op->pool_id);
        ids = r == 0 ? nh_ack_query_instance_ids((const char *const *)op->node_ids, op->n_nodes)
                     : NULL;
        if (r == 0 && ids == NULL)
            r = -ENOMEM;
        if (r == 0)
            r = nh_pop_add_query(op, "instance_ids", ids);
        free(ids);
        if (r == 0)
            r = nh_pop_add_query(op, "release_node", op->release ? "true" : "false");
        if (r == 0)
            r = nh_pop_add_query(op, "drain_node", op->drain ? "true" : "false");
    } else if (r == 0) {
        /* DeleteClusterNodes (seed 000): node names. */
        body = nh_ack_body_delete_nodes((const char *const *)op->node_names, op->n_nodes,
                                        op->release, op->drain);
        r = body != NULL ? 0 : -ENOMEM;
        if (r == 0)
            r = nh_pop_request(op, "DeleteClusterNodes", "POST", true, body, mutate_step,
                               "/clusters/%s/nodes", op->cluster_id);
    }
    if (r == 0) {
        op->poll_kind = NH_JOB_NODES_GONE;
        r = nh_pop_submit(op);
    }
    return nh_pop_started(op, r);
}

static int ack_scale_pool(struct nh_provider *pub, const struct nh_cfg_cluster *c,
                          const struct nh_action *a, nh_mutate_fn done, void *ud)
{
    struct nh_pop *op;
    char *body;
    int r;

    if (pub == NULL || c == NULL || a == NULL || done == NULL || a->target < 0 ||
        !nh_prov_path_safe(a->pool_id))
        return -EINVAL;
    op = mutate_new(pub, c, a, done, ud, &r);
    if (r == 0) {
        op->pool_id = strdup(a->pool_id);
        body = nh_ack_body_modify_pool(a->target);
        r = op->pool_id != NULL && body != NULL ? 0 : -ENOMEM;
        if (r == 0)
            r = nh_pop_request(op, "ModifyClusterNodePool", "PUT", true, body, mutate_step,
                               "/clusters/%s/nodepools/%s", op->cluster_id, op->pool_id);
        else
            free(body);
    }
    if (r == 0) {
        op->poll_kind = NH_JOB_POOL_SIZE;
        r = nh_pop_submit(op);
    }
    return nh_pop_started(op, r);
}

/* ---------- poll ---------- */

static void poll_done(struct nh_pop *op, enum nh_job_state st, const char *phase,
                      const char *detail)
{
    struct nh_job_progress pr;

    memset(&pr, 0, sizeof(pr));
    pr.state = st;
    pr.percent = st == NH_JOB_SUCCEEDED ? 100 : -1;
    nh_text_copy(pr.phase, sizeof(pr.phase), phase);
    nh_text_copy(pr.detail, sizeof(pr.detail), detail);
    nh_pop_progress(op, &pr);
}

static void poll_workers_counted(struct nh_pop *op)
{
    size_t workers = 0, pending = 0;
    char detail[160];

    if (!op->obs.complete) {
        poll_done(op, NH_JOB_RUNNING, "node-list", op->obs.why);
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
    poll_done(op, workers == (size_t)op->target && pending == 0 ? NH_JOB_SUCCEEDED : NH_JOB_RUNNING,
              "node-list", detail);
}

static void poll_nodes_gone(struct nh_pop *op)
{
    size_t left = 0;
    char detail[200];

    if (!op->obs.complete) {
        poll_done(op, NH_JOB_RUNNING, "node-list", op->obs.why);
        return;
    }
    for (size_t i = 0; i < op->obs.n_nodes; i++)
        if (nh_pop_is_victim(op, &op->obs.nodes[i]))
            left++;
    snprintf(detail, sizeof(detail), "%zu of %zu nodes still listed", left, op->n_nodes);
    poll_done(op, left == 0 ? NH_JOB_SUCCEEDED : NH_JOB_RUNNING, "node-list", detail);
}

static void task_step(struct nh_pop *op, const struct nh_http_resp *resp,
                      const struct nh_prov_error *err)
{
    struct nh_job_progress pr;
    char msg[200];
    int r;

    if (err != NULL) {
        if (err->cls == NH_ERR_NOT_FOUND && op->act_kind == NH_ACT_SCALE_CLUSTER) {
            /* api README #17: a seed-era task may be unknown to DescribeTaskInfo. */
            r = nodes_walk_start(op, poll_workers_counted);
            if (r < 0) {
                nh_pop_failf(op, NH_ERR_SERVER, "DescribeClusterNodes: %s", strerror(-r));
                return;
            }
            nh_pop_next(op);
            return;
        }
        nh_pop_fail(op, err);
        return;
    }
    if (nh_ack_parse_task(resp->body, resp->body_len, &pr, msg, sizeof(msg)) < 0) {
        nh_pop_failf(op, NH_ERR_SERVER, "DescribeTaskInfo %s: unreadable answer: %s", op->job_ref,
                     msg);
        return;
    }
    nh_pop_progress(op, &pr);
}

static void pool_size_step(struct nh_pop *op, const struct nh_http_resp *resp,
                           const struct nh_prov_error *err)
{
    struct nh_pool_status s;
    char msg[200], detail[300];
    enum nh_job_state st;

    if (err != NULL) {
        nh_pop_fail(op, err);
        return;
    }
    if (nh_ack_parse_nodepool_detail(resp->body, resp->body_len, &s, msg, sizeof(msg)) < 0) {
        nh_pop_failf(op, NH_ERR_SERVER, "DescribeClusterNodePoolDetail: unreadable answer: %s",
                     msg);
        return;
    }
    if (s.failed)
        st = NH_JOB_FAILED;
    else if (s.pool.current == op->target && s.pool.creating == 0 && s.pool.deleting == 0)
        st = NH_JOB_SUCCEEDED;
    else
        st = NH_JOB_RUNNING;
    snprintf(detail, sizeof(detail), "%s%s%d of %d nodes, %d creating, %d removing",
             s.failed ? s.failure : "", s.failed ? "; " : "", s.pool.current, op->target,
             s.pool.creating, s.pool.deleting);
    poll_done(op, st, s.phase, detail);
    nh_pool_status_clear(&s);
}

static int ack_poll(struct nh_provider *pub, const struct nh_cfg_cluster *c, const struct nh_op *o,
                    nh_poll_fn done, void *ud)
{
    struct nh_pop *op;
    int r;

    if (pub == NULL || c == NULL || o == NULL || done == NULL || !nh_prov_path_safe(c->id))
        return -EINVAL;
    switch (o->job_kind) {
    case NH_JOB_ACK_TASK:
        if (!nh_prov_path_safe(o->job_id))
            return -EINVAL;
        break;
    case NH_JOB_POOL_SIZE:
        if (!nh_prov_path_safe(o->action.pool_id))
            return -EINVAL;
        break;
    case NH_JOB_NODES_GONE:
        if (o->action.n_nodes == 0)
            return -EINVAL;
        break;
    case NH_JOB_POOL_GONE:
    case NH_JOB_CCE_JOB:
        return -ENOTSUP;
    case NH_JOB_NONE:
        return -EINVAL;
    }
    op = nh_pop_new(prov(pub), NH_POP_POLL, ud);
    if (op == NULL)
        return -ENOMEM;
    op->poll_cb = done;
    op->act_kind = o->action.kind;
    op->target = o->action.target;
    op->poll_kind = o->job_kind;
    r = copy_cluster(op, c);
    if (r == 0 && o->job_kind == NH_JOB_ACK_TASK) {
        op->job_ref = strdup(o->job_id);
        r = op->job_ref != NULL ? 0 : -ENOMEM;
        if (r == 0)
            r = nh_pop_request(op, "DescribeTaskInfo", "GET", false, NULL, task_step, "/tasks/%s",
                               op->job_ref);
    } else if (r == 0 && o->job_kind == NH_JOB_POOL_SIZE) {
        op->pool_id = strdup(o->action.pool_id);
        r = op->pool_id != NULL ? 0 : -ENOMEM;
        if (r == 0)
            r = nh_pop_request(op, "DescribeClusterNodePoolDetail", "GET", false, NULL,
                               pool_size_step, "/clusters/%s/nodepools/%s", op->cluster_id,
                               op->pool_id);
    } else if (r == 0) {
        r = nh_pop_copy_nodes(op, &o->action, false);
        if (r == 0)
            r = nodes_walk_start(op, poll_nodes_gone);
    }
    if (r == 0)
        r = nh_pop_submit(op);
    return nh_pop_started(op, r);
}

static void ack_destroy(struct nh_provider *p)
{
    (void)p;
}

const struct nh_provider_ops nh_ack_ops = {
    .kind = "aliyun-ack",
    .observe = ack_observe,
    .scale_cluster = ack_scale_cluster,
    .scale_pool = ack_scale_pool,
    .remove_nodes = ack_remove_nodes,
    .delete_pool = NULL, /* ACK node pools are not deleted by nodeherd */
    .poll = ack_poll,
    .destroy = ack_destroy,
};
