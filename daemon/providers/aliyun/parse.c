/* aliyun/parse.c - ACK answers to model structs, and ACK request bodies.
 * Pure functions (parse.h). Shapes: aliyun-ack.md. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/json.h"
#include "util/text.h"
#include "providers/parse.h"

enum nh_node_health nh_ack_node_health(const char *state, const char *node_status)
{
    if (state == NULL)
        state = "";
    if (node_status == NULL)
        node_status = "";
    if (strcmp(state, "removing") == 0 || strcmp(state, "stopping") == 0 ||
        strcmp(state, "deleting") == 0)
        return NH_NODE_REMOVING;
    if (strcmp(state, "stopped") == 0 || strcmp(state, "failed") == 0)
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

/* labels: [{"key":..,"value":..}] or {"k":"v"}; absent is fine. */
static int parse_labels(struct json_object *v, struct nh_node *n, const char *where,
                        struct nh_jerr *e)
{
    if (v == NULL)
        return 0;
    if (json_object_is_type(v, json_type_object)) {
        size_t cnt = (size_t)json_object_object_length(v);
        if (cnt == 0)
            return 0;
        n->labels = calloc(cnt, sizeof(*n->labels));
        if (n->labels == NULL)
            return -ENOMEM;
        json_object_object_foreach(v, key, val)
        {
            if (!json_object_is_type(val, json_type_string))
                return nh_jerr_set(e, "%s.labels.%s: expected a string", where, key);
            struct nh_label *l = &n->labels[n->n_labels];
            l->key = strdup(key);
            l->value = strdup(json_object_get_string(val));
            n->n_labels++;
            if (l->key == NULL || l->value == NULL)
                return -ENOMEM;
        }
        return 0;
    }
    if (json_object_is_type(v, json_type_array)) {
        size_t cnt = json_object_array_length(v);
        if (cnt == 0)
            return 0;
        n->labels = calloc(cnt, sizeof(*n->labels));
        if (n->labels == NULL)
            return -ENOMEM;
        for (size_t i = 0; i < cnt; i++) {
            struct json_object *it = json_object_array_get_idx(v, i);
            const char *k = NULL, *val = "";
            char w[160]; /* where (< 96) + the index and the key name */
            snprintf(w, sizeof(w), "%s.labels[%zu].key", where, i);
            if (!json_object_is_type(it, json_type_object))
                return nh_jerr_set(e, "%s.labels[%zu]: expected an object", where, i);
            if (nh_json_str(it, "key", true, &k, w, e) < 0)
                return -EBADMSG;
            snprintf(w, sizeof(w), "%s.labels[%zu].value", where, i);
            if (nh_json_str(it, "value", false, &val, w, e) < 0)
                return -EBADMSG;
            struct nh_label *l = &n->labels[n->n_labels];
            l->key = strdup(k);
            l->value = strdup(val);
            n->n_labels++;
            if (l->key == NULL || l->value == NULL)
                return -ENOMEM;
        }
        return 0;
    }
    return nh_jerr_set(e, "%s.labels: expected an object or an array", where);
}

static int parse_node(struct json_object *it, size_t i, struct nh_observed *obs, struct nh_jerr *e)
{
    char w[64];
    const char *id = NULL, *name = NULL, *role = NULL, *pool = NULL, *state = NULL;
    const char *status = NULL, *created = NULL;
    struct nh_node *n;

    snprintf(w, sizeof(w), "nodes[%zu]", i);
    if (!json_object_is_type(it, json_type_object))
        return nh_jerr_set(e, "%s: expected an object", w);
    if (nh_json_str(it, "instance_id", true, &id, "nodes[].instance_id", e) < 0 ||
        nh_json_str(it, "node_name", false, &name, "nodes[].node_name", e) < 0 ||
        nh_json_str(it, "instance_role", false, &role, "nodes[].instance_role", e) < 0 ||
        nh_json_str(it, "nodepool_id", false, &pool, "nodes[].nodepool_id", e) < 0 ||
        nh_json_str(it, "state", false, &state, "nodes[].state", e) < 0 ||
        nh_json_str(it, "node_status", false, &status, "nodes[].node_status", e) < 0 ||
        nh_json_str(it, "creation_time", false, &created, "nodes[].creation_time", e) < 0)
        return -EBADMSG;
    if (id[0] == '\0')
        return nh_jerr_set(e, "%s.instance_id: empty", w);
    n = nh_observed_add_node(obs);
    if (n == NULL)
        return -ENOMEM;
    if (!nh_json_dup(id, &n->id) || !nh_json_dup(name != NULL ? name : id, &n->name) ||
        !nh_json_dup(pool != NULL && pool[0] != '\0' ? pool : NULL, &n->pool_id))
        return -ENOMEM;
    n->health = nh_ack_node_health(state, status);
    n->created = nh_prov_parse_time(created);
    n->worker = role == NULL || strcmp(role, "Master") != 0;
    return parse_labels(nh_json_get(it, "labels"), n, w, e);
}

int nh_ack_parse_nodes_page(const char *body, size_t len, struct nh_observed *obs,
                            struct nh_ack_page *page, char *err, size_t errlen)
{
    struct nh_jerr e = {err, errlen};
    struct json_object *root, *nodes, *pg;
    int r = 0;

    if (errlen > 0)
        err[0] = '\0';
    memset(page, 0, sizeof(*page));
    root = nh_json_parse(body, len, true, &e);
    if (root == NULL)
        return -EBADMSG;
    if (nh_json_arr(root, "nodes", true, &nodes, "nodes", &e) < 0 ||
        nh_json_obj(root, "page", true, &pg, "page", &e) < 0 ||
        nh_json_int(pg, "total_count", true, 0, NH_PROV_COUNT_MAX, &page->total_count,
                    "page.total_count", &e) < 0 ||
        nh_json_int(pg, "page_number", false, 0, NH_PROV_COUNT_MAX, &page->page_number,
                    "page.page_number", &e) < 0 ||
        nh_json_int(pg, "page_size", false, 0, NH_PROV_COUNT_MAX, &page->page_size,
                    "page.page_size", &e) < 0) {
        r = -EBADMSG;
        goto out;
    }
    page->n_nodes = json_object_array_length(nodes);
    for (size_t i = 0; i < page->n_nodes && r == 0; i++)
        r = parse_node(json_object_array_get_idx(nodes, i), i, obs, &e);
    if (r == -ENOMEM)
        nh_jerr_set(&e, "out of memory reading DescribeClusterNodes");
out:
    json_object_put(root);
    return r;
}

static int parse_ack_pool(struct json_object *it, const char *w, struct nh_obs_pool *p, char *phase,
                          size_t phaselen, struct nh_jerr *e)
{
    struct json_object *info, *sg, *as, *st;
    const char *id = NULL, *name = NULL, *state = NULL;
    int64_t desired = 0, total = 0, healthy = 0, initial = 0, failed = 0, offline = 0;
    int64_t removing = 0;
    bool enable = false;
    const int64_t M = NH_PROV_COUNT_MAX;

    (void)w;
    if (!json_object_is_type(it, json_type_object))
        return nh_jerr_set(e, "%s: expected an object", w);
    if (nh_json_obj(it, "nodepool_info", true, &info, "nodepool_info", e) < 0 ||
        nh_json_str(info, "nodepool_id", true, &id, "nodepool_info.nodepool_id", e) < 0 ||
        nh_json_str(info, "name", false, &name, "nodepool_info.name", e) < 0 ||
        nh_json_obj(it, "scaling_group", false, &sg, "scaling_group", e) < 0 ||
        nh_json_int(sg, "desired_size", false, 0, M, &desired, "scaling_group.desired_size", e) <
            0 ||
        nh_json_obj(it, "auto_scaling", false, &as, "auto_scaling", e) < 0 ||
        nh_json_bool(as, "enable", false, &enable, "auto_scaling.enable", e) < 0 ||
        nh_json_obj(it, "status", false, &st, "status", e) < 0 ||
        nh_json_int(st, "total_nodes", false, 0, M, &total, "status.total_nodes", e) < 0 ||
        nh_json_int(st, "healthy_nodes", false, 0, M, &healthy, "status.healthy_nodes", e) < 0 ||
        nh_json_int(st, "initial_nodes", false, 0, M, &initial, "status.initial_nodes", e) < 0 ||
        nh_json_int(st, "failed_nodes", false, 0, M, &failed, "status.failed_nodes", e) < 0 ||
        nh_json_int(st, "offline_nodes", false, 0, M, &offline, "status.offline_nodes", e) < 0 ||
        nh_json_int(st, "removing_nodes", false, 0, M, &removing, "status.removing_nodes", e) < 0 ||
        nh_json_str(st, "state", false, &state, "status.state", e) < 0)
        return -EBADMSG;
    if (id[0] == '\0')
        return nh_jerr_set(e, "%s.nodepool_info.nodepool_id: empty", w);
    if (!nh_json_dup(id, &p->id) || !nh_json_dup(name != NULL ? name : id, &p->name))
        return -ENOMEM;
    p->desired = (int)desired;
    p->current = (int)(total > removing ? total - removing : 0);
    p->ready = (int)healthy;
    p->unhealthy = (int)(failed + offline);
    p->creating = (int)initial;
    p->deleting = (int)removing;
    p->autoscaling = enable;
    p->being_deleted = state != NULL && strcmp(state, "deleting") == 0;
    if (phase != NULL)
        nh_text_copy(phase, phaselen, state != NULL ? state : "");
    return 0;
}

int nh_ack_parse_nodepools(const char *body, size_t len, struct nh_observed *obs, char *err,
                           size_t errlen)
{
    struct nh_jerr e = {err, errlen};
    struct json_object *root, *pools;
    int r = 0;

    if (errlen > 0)
        err[0] = '\0';
    root = nh_json_parse(body, len, true, &e);
    if (root == NULL)
        return -EBADMSG;
    if (nh_json_arr(root, "nodepools", true, &pools, "nodepools", &e) < 0) {
        r = -EBADMSG;
        goto out;
    }
    for (size_t i = 0; i < json_object_array_length(pools) && r == 0; i++) {
        char w[32];
        struct nh_obs_pool *p = nh_observed_add_pool(obs);
        snprintf(w, sizeof(w), "nodepools[%zu]", i);
        if (p == NULL)
            r = -ENOMEM;
        else
            r = parse_ack_pool(json_object_array_get_idx(pools, i), w, p, NULL, 0, &e);
    }
    if (r == -ENOMEM)
        nh_jerr_set(&e, "out of memory reading DescribeClusterNodePools");
out:
    json_object_put(root);
    return r;
}

int nh_ack_parse_nodepool_detail(const char *body, size_t len, struct nh_pool_status *out,
                                 char *err, size_t errlen)
{
    struct nh_jerr e = {err, errlen};
    struct json_object *root;
    int r;

    if (errlen > 0)
        err[0] = '\0';
    memset(out, 0, sizeof(*out));
    root = nh_json_parse(body, len, true, &e);
    if (root == NULL)
        return -EBADMSG;
    r = parse_ack_pool(root, "nodepool", &out->pool, out->phase, sizeof(out->phase), &e);
    if (r == 0 && (strcmp(out->phase, "failed") == 0 || strcmp(out->phase, "error") == 0)) {
        out->failed = true;
        snprintf(out->failure, sizeof(out->failure), "node pool state is %s", out->phase);
    }
    if (r == -ENOMEM)
        nh_jerr_set(&e, "out of memory reading DescribeClusterNodePoolDetail");
    if (r < 0)
        nh_pool_status_clear(out);
    json_object_put(root);
    return r;
}

int nh_ack_parse_task_id(const char *body, size_t len, char **ret_task_id, char *err, size_t errlen)
{
    struct nh_jerr e = {err, errlen};
    struct json_object *root;
    const char *id = NULL;
    char *dup = NULL;
    size_t i;

    if (errlen > 0)
        err[0] = '\0';
    for (i = 0; body != NULL && i < len; i++)
        if (body[i] != ' ' && body[i] != '\n' && body[i] != '\r' && body[i] != '\t')
            break;
    if (body == NULL || i == len) { /* seed 000: 202 without a body */
        *ret_task_id = NULL;
        return 0;
    }
    root = nh_json_parse(body, len, true, &e);
    if (root == NULL)
        return -EBADMSG;
    if (nh_json_str(root, "task_id", false, &id, "task_id", &e) < 0) {
        json_object_put(root);
        return -EBADMSG;
    }
    if (id != NULL && id[0] != '\0' && !nh_prov_path_safe(id)) {
        int r = nh_jerr_set(&e, "task_id \"%.40s\" has characters not allowed in a URL path", id);
        json_object_put(root);
        return r;
    }
    if (id != NULL && id[0] != '\0' && (dup = strdup(id)) == NULL) {
        json_object_put(root);
        return -ENOMEM;
    }
    json_object_put(root);
    *ret_task_id = dup;
    return 0;
}

int nh_ack_parse_task(const char *body, size_t len, struct nh_job_progress *out, char *err,
                      size_t errlen)
{
    struct nh_jerr e = {err, errlen};
    struct json_object *root, *eo, *results;
    const char *state = NULL, *ecode = NULL, *emsg = NULL;
    int r = 0;

    if (errlen > 0)
        err[0] = '\0';
    memset(out, 0, sizeof(*out));
    out->percent = -1;
    root = nh_json_parse(body, len, true, &e);
    if (root == NULL)
        return -EBADMSG;
    if (nh_json_str(root, "state", true, &state, "state", &e) < 0 ||
        nh_json_obj(root, "error", false, &eo, "error", &e) < 0 ||
        nh_json_str(eo, "code", false, &ecode, "error.code", &e) < 0 ||
        nh_json_str(eo, "message", false, &emsg, "error.message", &e) < 0 ||
        nh_json_arr(root, "task_result", false, &results, "task_result", &e) < 0) {
        r = -EBADMSG;
        goto out;
    }
    nh_text_copy(out->phase, sizeof(out->phase), state);
    if (strcmp(state, "success") == 0) {
        out->state = NH_JOB_SUCCEEDED;
        out->percent = 100;
    } else if (strcmp(state, "fail") == 0 || strcmp(state, "failed") == 0 ||
               strcmp(state, "canceled") == 0 || strcmp(state, "cancelled") == 0) {
        out->state = NH_JOB_FAILED;
    } else {
        out->state = NH_JOB_RUNNING;
    }
    if (ecode != NULL || emsg != NULL) {
        nh_text_cat(out->detail, sizeof(out->detail), ecode ? ecode : "error");
        nh_text_cat(out->detail, sizeof(out->detail), ": ");
        nh_text_cat(out->detail, sizeof(out->detail), emsg ? emsg : "");
    }
    for (size_t i = 0; results != NULL && i < json_object_array_length(results); i++) {
        struct json_object *it = json_object_array_get_idx(results, i);
        const char *data = NULL, *status = NULL;
        if (!json_object_is_type(it, json_type_object))
            continue;
        if (nh_json_str(it, "data", false, &data, "task_result[].data", &e) < 0 ||
            nh_json_str(it, "status", false, &status, "task_result[].status", &e) < 0) {
            r = -EBADMSG;
            goto out;
        }
        if (status != NULL && strcmp(status, "success") != 0 && strcmp(status, "initial") != 0) {
            if (out->detail[0] != '\0')
                nh_text_cat(out->detail, sizeof(out->detail), "; ");
            nh_text_cat(out->detail, sizeof(out->detail), data ? data : "?");
            nh_text_cat(out->detail, sizeof(out->detail), " ");
            nh_text_cat(out->detail, sizeof(out->detail), status);
        }
    }
    nh_text_copy(out->detail, sizeof(out->detail), out->detail);
out:
    json_object_put(root);
    return r;
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
    r = nh_buf_appends(&b, "[");
    for (size_t i = 0; r == 0 && i < n; i++) {
        if (i > 0)
            r = nh_buf_appends(&b, ",");
        if (r == 0)
            r = nh_json_write_str(&b, ids[i], strlen(ids[i]));
    }
    if (r == 0)
        r = nh_buf_appends(&b, "]");
    return finish(&b, r);
}
