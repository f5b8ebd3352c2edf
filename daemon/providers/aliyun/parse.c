/* aliyun/parse.c - ACK answers to model structs, and ACK request bodies.
 * Pure functions (parse.h). Shapes: aliyun-ack.md. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/secret.h"
#include "providers/reader.h"

/* DescribeClusterNodes `state`: pending (being created), running, starting,
 * stopping, stopped in the response; the request's filter adds removing,
 * initial and failed
 * (https://www.alibabacloud.com/help/en/ack/ack-managed-and-ack-dedicated/developer-reference/api-query-nodes-in-a-cluster-1).
 * starting/stopping/stopped are the ECS power state: the node is still a
 * member of the cluster, only not serving; it is not leaving. */
enum nh_node_health nh_ack_node_health(const char *state, const char *node_status)
{
    if (state == NULL)
        state = "";
    if (node_status == NULL)
        node_status = "";
    /* "deleting" is not documented; never choose such a node again */
    if (strcmp(state, "removing") == 0 || strcmp(state, "deleting") == 0)
        return NH_NODE_REMOVING;
    if (strcmp(state, "stopping") == 0 || strcmp(state, "stopped") == 0 ||
        strcmp(state, "failed") == 0)
        return NH_NODE_UNHEALTHY;
    if (strcmp(state, "initial") == 0 || strcmp(state, "pending") == 0 ||
        strcmp(state, "starting") == 0)
        return NH_NODE_PENDING;
    if (strcmp(state, "running") == 0) {
        if (strcmp(node_status, "Ready") == 0)
            return NH_NODE_READY;
        return NH_NODE_UNHEALTHY; /* NotReady, Unknown, Offline, or missing */
    }
    return NH_NODE_UNHEALTHY; /* unknown state word: never count it as serving */
}

struct node_raw {
    const char *id, *name, *role, *pool, *state, *status, *created, *charge;
    struct json_object *ips;
};

#define NODE(f) offsetof(struct node_raw, f)
static const struct nh_jfield node_fields[] = {
    {"instance_id", NH_J_STR, true, NODE(id)},
    {"node_name", NH_J_STR, false, NODE(name)},
    {"instance_role", NH_J_STR, false, NODE(role)},
    {"nodepool_id", NH_J_STR, false, NODE(pool)},
    {"state", NH_J_STR, false, NODE(state)},
    {"node_status", NH_J_STR, false, NODE(status)},
    {"creation_time", NH_J_STR, false, NODE(created)},
    {"instance_charge_type", NH_J_STR, false, NODE(charge)},
    {"ip_address", NH_J_ARR, false, NODE(ips)},
};

static int parse_node(struct json_object *it, size_t i, struct nh_observed *obs, struct nh_jerr *e)
{
    char w[64];
    struct node_raw v = {0};
    struct nh_node *n;

    snprintf(w, sizeof(w), "nodes[%zu]", i);
    if (nh_prov_fields(it, w, NH_FIELDS(node_fields), "nodes[].", &v, e) < 0)
        return -EBADMSG;
    if (v.id[0] == '\0')
        return nh_jerr_set(e, "%s.instance_id: empty", w);
    if (nh_prov_add_node(obs, v.id, v.name, v.pool, &n) < 0)
        return -ENOMEM;
    n->health = nh_ack_node_health(v.state, v.status);
    /* DescribeClusterNodes state "failed" (aliyun-ack.md): the node did not
     * come up and will not by itself; other unhealthy states may recover. */
    n->failed = v.state != NULL && strcmp(v.state, "failed") == 0;
    n->created = nh_prov_parse_time(v.created);
    n->worker = v.role == NULL || strcmp(v.role, "Master") != 0;
    /* PrePaid (subscription) instances are never released by a removal
     * (DeleteClusterNodes release_node). The node list carries no
     * Kubernetes labels: none are read here. */
    n->subscription = v.charge != NULL && strcmp(v.charge, "PrePaid") == 0;
    /* For matching the Kubernetes node (providerID <region>.<instance_id>,
     * else InternalIP): the instance and its first address. */
    n->server_id = strdup(v.id);
    if (n->server_id == NULL)
        return -ENOMEM;
    if (v.ips != NULL && json_object_array_length(v.ips) > 0) {
        struct json_object *ip = json_object_array_get_idx(v.ips, 0);
        if (!json_object_is_type(ip, json_type_string))
            return nh_jerr_set(e, "%s.ip_address[0]: expected a string", w);
        n->private_ip = strdup(json_object_get_string(ip));
        if (n->private_ip == NULL)
            return -ENOMEM;
    }
    return 0;
}

struct page_reading {
    struct nh_observed *obs;
    struct nh_ack_page *page;
};

struct page_raw {
    struct json_object *nodes;
    struct nh_ack_page pg;
};

#define PAGE(f) offsetof(struct page_raw, f)
static const struct nh_jfield page_fields[] = {
    {"nodes", NH_J_ARR, true, PAGE(nodes)},
    {"page", NH_J_OBJ, true, NH_J_NOWHERE},
    {"page.total_count", NH_J_INT, true, PAGE(pg.total_count)},
    {"page.page_number", NH_J_INT, false, PAGE(pg.page_number)},
    {"page.page_size", NH_J_INT, false, PAGE(pg.page_size)},
};

static int read_nodes_page(struct json_object *root, void *out, struct nh_jerr *e)
{
    struct page_reading *pr = out;
    struct page_raw v = {0};
    int r = nh_prov_fields(root, NULL, NH_FIELDS(page_fields), "", &v, e);

    *pr->page = v.pg; /* as far as it was read */
    if (r < 0)
        return r;
    pr->page->n_nodes = json_object_array_length(v.nodes);
    for (size_t i = 0; i < pr->page->n_nodes && r == 0; i++)
        r = parse_node(json_object_array_get_idx(v.nodes, i), i, pr->obs, e);
    return r;
}

int nh_ack_parse_nodes_page(const char *body, size_t len, struct nh_observed *obs,
                            struct nh_ack_page *page, char *err, size_t errlen)
{
    struct page_reading pr = {.obs = obs, .page = page};

    memset(page, 0, sizeof(*page));
    return nh_prov_read(body, len, read_nodes_page, &pr, "DescribeClusterNodes", err, errlen);
}

struct pool_raw {
    const char *id, *name, *state;
    struct nh_pool_counts c;
    int64_t total, failed, offline;
    bool enable;
};

#define POOL(f) offsetof(struct pool_raw, f)
static const struct nh_jfield pool_fields[] = {
    {"nodepool_info", NH_J_OBJ, true, NH_J_NOWHERE},
    {"nodepool_info.nodepool_id", NH_J_STR, true, POOL(id)},
    {"nodepool_info.name", NH_J_STR, false, POOL(name)},
    {"scaling_group", NH_J_OBJ, false, NH_J_NOWHERE},
    {"scaling_group.desired_size", NH_J_INT, false, POOL(c.desired)},
    {"auto_scaling", NH_J_OBJ, false, NH_J_NOWHERE},
    {"auto_scaling.enable", NH_J_BOOL, false, POOL(enable)},
    {"status", NH_J_OBJ, false, NH_J_NOWHERE},
    {"status.total_nodes", NH_J_INT, false, POOL(total)},
    {"status.healthy_nodes", NH_J_INT, false, POOL(c.ready)},
    {"status.initial_nodes", NH_J_INT, false, POOL(c.creating)},
    {"status.failed_nodes", NH_J_INT, false, POOL(failed)},
    {"status.offline_nodes", NH_J_INT, false, POOL(offline)},
    {"status.removing_nodes", NH_J_INT, false, POOL(c.deleting)},
    {"status.state", NH_J_STR, false, POOL(state)},
};

static int parse_ack_pool(struct json_object *it, const char *w, struct nh_obs_pool *p, char *phase,
                          size_t phaselen, struct nh_jerr *e)
{
    struct pool_raw v = {.c.desired = -1}; /* desired_size absent: unknown */

    if (nh_prov_fields(it, w, NH_FIELDS(pool_fields), "", &v, e) < 0)
        return -EBADMSG;
    if (v.id[0] == '\0')
        return nh_jerr_set(e, "%s.nodepool_info.nodepool_id: empty", w);
    if (!nh_json_dup(v.id, &p->id) || !nh_json_dup(v.name != NULL ? v.name : v.id, &p->name))
        return -ENOMEM;
    v.c.current = v.total > v.c.deleting ? v.total - v.c.deleting : 0; /* removing ones go */
    v.c.unhealthy = v.failed + v.offline;
    nh_prov_set_counts(p, &v.c);
    p->autoscaling = v.enable;
    p->being_deleted = v.state != NULL && strcmp(v.state, "deleting") == 0;
    if (phase != NULL)
        nh_text_copy(phase, phaselen, v.state != NULL ? v.state : "");
    return 0;
}

static int read_nodepools(struct json_object *root, void *out, struct nh_jerr *e)
{
    struct json_object *pools;
    int r = 0;

    if (nh_json_arr(root, "nodepools", true, &pools, "nodepools", e) < 0)
        return -EBADMSG;
    for (size_t i = 0; i < json_object_array_length(pools) && r == 0; i++) {
        char w[32];
        struct nh_obs_pool *p = nh_observed_add_pool(out);
        snprintf(w, sizeof(w), "nodepools[%zu]", i);
        if (p == NULL)
            r = -ENOMEM;
        else
            r = parse_ack_pool(json_object_array_get_idx(pools, i), w, p, NULL, 0, e);
    }
    return r;
}

int nh_ack_parse_nodepools(const char *body, size_t len, struct nh_observed *obs, char *err,
                           size_t errlen)
{
    return nh_prov_read(body, len, read_nodepools, obs, "DescribeClusterNodePools", err, errlen);
}

static int read_nodepool_detail(struct json_object *it, struct nh_pool_status *s, struct nh_jerr *e)
{
    int r = parse_ack_pool(it, "nodepool", &s->pool, s->phase, sizeof(s->phase), e);

    if (r == 0 && (strcmp(s->phase, "failed") == 0 || strcmp(s->phase, "error") == 0)) {
        s->failed = true;
        snprintf(s->failure, sizeof(s->failure), "node pool state is %s", s->phase);
    }
    return r;
}

int nh_ack_parse_nodepool_detail(const char *body, size_t len, struct nh_pool_status *out,
                                 char *err, size_t errlen)
{
    return nh_prov_read_pool(body, len, read_nodepool_detail, out, "DescribeClusterNodePoolDetail",
                             err, errlen);
}

static int read_task_id(struct json_object *root, void *out, struct nh_jerr *e)
{
    return nh_prov_read_id(root, "task_id", "task_id", out, e);
}

/* DescribeClusterDetail `state`: only `running` accepts changes; the states
 * of work in progress wait; failed, stopped, deleted, inactive and the like
 * refuse. A word the pages do not list waits (never mutate on a guess). */
static const struct {
    const char *word;
    enum nh_cluster_state st;
} ack_states[] = {
    {"running", NH_CLUSTER_ACCEPTS},      {"initial", NH_CLUSTER_BUSY},
    {"updating", NH_CLUSTER_BUSY},        {"scaling", NH_CLUSTER_BUSY},
    {"upgrading", NH_CLUSTER_BUSY},       {"draining", NH_CLUSTER_BUSY},
    {"removing", NH_CLUSTER_BUSY},        {"waiting", NH_CLUSTER_BUSY},
    {"failed", NH_CLUSTER_REFUSES},       {"updating_failed", NH_CLUSTER_REFUSES},
    {"stopped", NH_CLUSTER_REFUSES},      {"deleting", NH_CLUSTER_REFUSES},
    {"deleted", NH_CLUSTER_REFUSES},      {"delete_failed", NH_CLUSTER_REFUSES},
    {"inactive", NH_CLUSTER_REFUSES},     {"unavailable", NH_CLUSTER_REFUSES},
    {"disconnected", NH_CLUSTER_REFUSES},
};

enum nh_cluster_state nh_ack_cluster_state(const char *state)
{
    for (size_t i = 0; state != NULL && i < sizeof(ack_states) / sizeof(ack_states[0]); i++)
        if (strcmp(state, ack_states[i].word) == 0)
            return ack_states[i].st;
    return NH_CLUSTER_BUSY;
}

struct state_reading {
    enum nh_cluster_state *st;
    char *phase;
    size_t phaselen;
};

static int read_cluster_state(struct json_object *root, void *out, struct nh_jerr *e)
{
    struct state_reading *sr = out;
    const char *state = NULL;

    if (nh_json_str(root, "state", true, &state, "state", e) < 0)
        return -EBADMSG;
    *sr->st = nh_ack_cluster_state(state);
    nh_prov_copy_word(sr->phase, sr->phaselen, state, "in a state nodeherd does not know");
    return 0;
}

int nh_ack_parse_cluster_state(const char *body, size_t len, enum nh_cluster_state *ret_state,
                               char *phase, size_t phaselen, char *err, size_t errlen)
{
    struct state_reading sr = {ret_state, phase, phaselen};
    return nh_prov_read(body, len, read_cluster_state, &sr, "DescribeClusterDetail", err, errlen);
}

struct kubeconfig_reading {
    struct nh_secret **ret;
    int64_t *expires;
};

static int read_user_kubeconfig(struct json_object *root, void *out, struct nh_jerr *e)
{
    struct kubeconfig_reading *kr = out;
    const char *config = NULL, *exp = NULL;
    struct json_object *c;
    int r = 0;

    if (nh_json_str(root, "expiration", false, &exp, "expiration", e) < 0)
        return -EBADMSG;
    c = nh_json_get(root, "config");
    if (c == NULL || !json_object_is_type(c, json_type_string)) {
        nh_jerr_set(e, "config: %s", c == NULL ? "missing" : "expected a string");
        return -EBADMSG;
    }
    config = json_object_get_string(c);
    size_t n = (size_t)json_object_get_string_len(c);
    if (n == 0) {
        nh_jerr_set(e, "config: empty");
        r = -EBADMSG;
    } else {
        *kr->ret = nh_secret_new(config, n, "ACK DescribeClusterUserKubeconfig");
        r = *kr->ret == NULL ? -ENOMEM : 0;
    }
    explicit_bzero((char *)(uintptr_t)config, n); /* the tree is freed unwiped */
    if (r == 0)
        *kr->expires = exp != NULL ? nh_prov_parse_time(exp) : 0;
    return r;
}

int nh_ack_parse_user_kubeconfig(const char *body, size_t len, struct nh_secret **ret,
                                 int64_t *ret_expires, char *err, size_t errlen)
{
    struct nh_secret *s = NULL;
    int64_t exp = 0;
    struct kubeconfig_reading kr = {&s, &exp};
    int r = nh_prov_read(body, len, read_user_kubeconfig, &kr, "DescribeClusterUserKubeconfig", err,
                         errlen);
    if (r < 0) {
        nh_secret_free(s);
        return r;
    }
    *ret = s;
    *ret_expires = exp;
    return 0;
}

int nh_ack_parse_task_id(const char *body, size_t len, char **ret_task_id, char *err, size_t errlen)
{
    size_t i;

    for (i = 0; body != NULL && i < len; i++)
        if (body[i] != ' ' && body[i] != '\n' && body[i] != '\r' && body[i] != '\t')
            break;
    if (body == NULL || i == len) { /* seed 000: 202 without a body */
        if (errlen > 0)
            err[0] = '\0';
        *ret_task_id = NULL;
        return 0;
    }
    return nh_prov_read(body, len, read_task_id, ret_task_id, "the task id", err, errlen);
}

struct task_raw {
    const char *state, *code, *message, *data, *status;
    struct json_object *results;
};

#define TASK(f) offsetof(struct task_raw, f)
static const struct nh_jfield task_fields[] = {
    {"state", NH_J_STR, true, TASK(state)},
    {"error", NH_J_OBJ, false, NH_J_NOWHERE},
    {"error.code", NH_J_STR, false, TASK(code)},
    {"error.message", NH_J_STR, false, TASK(message)},
    {"task_result", NH_J_ARR, false, TASK(results)},
};

/* One of task_result[]: what it worked on and how it ended. */
static const struct nh_jfield result_fields[] = {
    {"data", NH_J_STR, false, TASK(data)},
    {"status", NH_J_STR, false, TASK(status)},
};

/* task_result[]: the ones neither successful nor still initial, listed. */
static int read_results(struct json_object *results, struct nh_job_progress *out, struct nh_jerr *e)
{
    for (size_t i = 0; results != NULL && i < json_object_array_length(results); i++) {
        struct json_object *it = json_object_array_get_idx(results, i);
        struct task_raw v = {0};
        if (!json_object_is_type(it, json_type_object))
            continue;
        if (nh_prov_fields(it, NULL, NH_FIELDS(result_fields), "task_result[].", &v, e) < 0)
            return -EBADMSG;
        if (v.status != NULL && strcmp(v.status, "success") != 0 &&
            strcmp(v.status, "initial") != 0) {
            /* A task reported "success" with a resource that failed did
             * not do what was asked (aliyun-ack.md, DescribeTaskInfo:
             * report task_result): a failed action, defensively. */
            if (out->state == NH_JOB_SUCCEEDED &&
                (strcmp(v.status, "failed") == 0 || strcmp(v.status, "fail") == 0)) {
                out->state = NH_JOB_FAILED;
                out->percent = -1;
                nh_text_copy(out->phase, sizeof(out->phase), "success with failed resources");
            }
            if (out->detail[0] != '\0')
                nh_text_cat(out->detail, sizeof(out->detail), "; ");
            nh_text_cat(out->detail, sizeof(out->detail), v.data ? v.data : "?");
            nh_text_cat(out->detail, sizeof(out->detail), " ");
            nh_text_cat(out->detail, sizeof(out->detail), v.status);
        }
    }
    return 0;
}

static int read_task(struct json_object *root, void *outp, struct nh_jerr *e)
{
    struct nh_job_progress *out = outp;
    struct task_raw v = {0};

    if (nh_prov_fields(root, NULL, NH_FIELDS(task_fields), "", &v, e) < 0)
        return -EBADMSG;
    nh_text_copy(out->phase, sizeof(out->phase), v.state);
    if (strcmp(v.state, "success") == 0) {
        out->state = NH_JOB_SUCCEEDED;
        out->percent = 100;
    } else if (strcmp(v.state, "fail") == 0 || strcmp(v.state, "failed") == 0 ||
               strcmp(v.state, "canceled") == 0 || strcmp(v.state, "cancelled") == 0) {
        out->state = NH_JOB_FAILED;
    } else {
        out->state = NH_JOB_RUNNING;
    }
    if (v.code != NULL || v.message != NULL) {
        nh_text_cat(out->detail, sizeof(out->detail), v.code ? v.code : "error");
        nh_text_cat(out->detail, sizeof(out->detail), ": ");
        nh_text_cat(out->detail, sizeof(out->detail), v.message ? v.message : "");
    }
    return read_results(v.results, out, e);
}

int nh_ack_parse_task(const char *body, size_t len, struct nh_job_progress *out, char *err,
                      size_t errlen)
{
    return nh_prov_read_progress(body, len, read_task, out, "DescribeTaskInfo", err, errlen);
}

/* ---------- request bodies ---------- */

static char *finish(struct nh_buf *b, int r)
{
    if (r < 0) {
        if (b->data != NULL)
            explicit_bzero(b->data, b->len);
        nh_buf_free(b);
        return NULL;
    }
    return nh_buf_steal(b);
}

char *nh_ack_body_modify_pool(int desired_size)
{
    struct nh_buf b;
    nh_buf_init(&b, 0);
    return finish(&b, nh_buf_printf(&b, "{\"scaling_group\":{\"desired_size\":%d}}", desired_size));
}

char *nh_ack_body_delete_nodes(const char *const *names, size_t n, bool release, bool drain)
{
    struct nh_buf b;
    int r;

    nh_buf_init(&b, 0);
    r = nh_buf_appends(&b, "{\"nodes\":[");
    for (size_t i = 0; r == 0 && i < n; i++) {
        if (i > 0)
            r = nh_buf_appends(&b, ",");
        if (r == 0)
            r = nh_json_write_str(&b, names[i], strlen(names[i]));
    }
    if (r == 0)
        r = nh_buf_printf(&b, "],\"release_node\":%s,\"drain_node\":%s}",
                          release ? "true" : "false", drain ? "true" : "false");
    return finish(&b, r);
}

char *nh_ack_body_scale_cluster(bool disable_rollback, int timeout_mins, int num_of_nodes,
                                const char *instance_type, const char *disk_category,
                                int disk_size_gb, const char *password, size_t password_len)
{
    struct nh_buf b;
    int r;

    nh_buf_init(&b, 0);
    r = nh_buf_printf(&b,
                      "{\"disable_rollback\":%s,\"timeout_mins\":%d,\"num_of_nodes\":%d,"
                      "\"worker_instance_type\":",
                      disable_rollback ? "true" : "false", timeout_mins, num_of_nodes);
    if (r == 0)
        r = nh_json_write_str(&b, instance_type, strlen(instance_type));
    if (r == 0)
        r = nh_buf_appends(&b, ",\"worker_system_disk_category\":");
    if (r == 0)
        r = nh_json_write_str(&b, disk_category, strlen(disk_category));
    if (r == 0)
        r = nh_buf_printf(&b, ",\"worker_system_disk_size\":%d,\"login_password\":", disk_size_gb);
    /* Grow once so the password is never left behind by a realloc. */
    if (r == 0 && b.alloc < b.len + password_len * 6 + 8) {
        size_t need = b.len + password_len * 6 + 8;
        char *bigger = malloc(need + 1);
        if (bigger == NULL) {
            r = -ENOMEM;
        } else {
            memcpy(bigger, b.data, b.len + 1);
            free(b.data);
            b.data = bigger;
            b.alloc = need + 1;
        }
    }
    if (r == 0)
        r = nh_json_write_str(&b, password, password_len);
    if (r == 0)
        r = nh_buf_appends(&b, "}");
    return finish(&b, r);
}

char *nh_ack_query_instance_ids(const char *const *ids, size_t n)
{
    struct nh_buf b;
    int r;

    nh_buf_init(&b, 0);
    r = nh_prov_json_str_array(&b, ids, n);
    return finish(&b, r);
}
