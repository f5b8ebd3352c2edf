/* modelarts/parse.c - ModelArts v2 node pools and their nodes to model
 * structs, and the PatchNodePool and BatchDeletePoolNodes bodies. Pure
 * functions (parse.h). Shapes: huawei-modelarts.md and the pages cited
 * below. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "providers/reader.h"

struct pool_raw {
    const char *name, *flavor;
    struct json_object *annotations;
    struct nh_pool_counts c;
    int64_t max_count;
};

/* Node counts are status.resources.<bucket>.count; an absent bucket is 0.
 * The node pool's status has only `resources` (ShowNodePool,
 * https://support.huaweicloud.com/intl/en-us/api-modelarts/ShowNodePool.html,
 * and the SDK's NodePoolStatus): no phase is read. Billing:
 * metadata.annotations os.modelarts/billing.mode, 0 pay-per-use, 1
 * yearly/monthly (the SDK's pool annotations); absent: pay-per-use. */
#define POOL(f) offsetof(struct pool_raw, f)
static const struct nh_jfield pool_fields[] = {
    {"metadata", NH_J_OBJ, true, NH_J_NOWHERE},
    {"metadata.name", NH_J_STR, true, POOL(name)},
    {"metadata.annotations", NH_J_OBJ, false, POOL(annotations)},
    {"spec", NH_J_OBJ, true, NH_J_NOWHERE},
    {"spec.resources", NH_J_OBJ, true, NH_J_NOWHERE},
    {"spec.resources.flavor", NH_J_STR, false, POOL(flavor)},
    {"spec.resources.count", NH_J_INT, true, POOL(c.desired)},
    {"spec.resources.maxCount", NH_J_INT, false, POOL(max_count)},
    {"status", NH_J_OBJ, false, NH_J_NOWHERE},
    {"status.resources", NH_J_OBJ, false, NH_J_NOWHERE},
    {"status.resources.available", NH_J_OBJ, false, NH_J_NOWHERE},
    {"status.resources.available.count", NH_J_INT, false, POOL(c.ready)},
    {"status.resources.abnormal", NH_J_OBJ, false, NH_J_NOWHERE},
    {"status.resources.abnormal.count", NH_J_INT, false, POOL(c.unhealthy)},
    {"status.resources.creating", NH_J_OBJ, false, NH_J_NOWHERE},
    {"status.resources.creating.count", NH_J_INT, false, POOL(c.creating)},
    {"status.resources.deleting", NH_J_OBJ, false, NH_J_NOWHERE},
    {"status.resources.deleting.count", NH_J_INT, false, POOL(c.deleting)},
};

static int parse_ma_pool(struct json_object *it, struct nh_pool_status *s, struct nh_jerr *e)
{
    struct pool_raw v = {0};
    const char *billing = NULL;

    if (nh_prov_fields(it, "node pool", NH_FIELDS(pool_fields), "", &v, e) < 0 ||
        (v.annotations != NULL &&
         nh_json_str(v.annotations, "os.modelarts/billing.mode", false, &billing,
                     "metadata.annotations.os.modelarts/billing.mode", e) < 0))
        return -EBADMSG;
    if (v.name[0] == '\0')
        return nh_jerr_set(e, "metadata.name: empty");
    v.c.max_count = v.max_count > 0 ? v.max_count : v.c.desired;
    v.c.current = v.c.ready + v.c.unhealthy; /* available and abnormal ones */
    nh_prov_set_counts(&s->pool, &v.c);
    /* The node pool's name is its id. */
    if (!nh_json_dup(v.name, &s->pool.id) || !nh_json_dup(v.name, &s->pool.name) ||
        !nh_json_dup(v.flavor, &s->pool.flavor))
        return -ENOMEM;
    s->pool.subscription = billing != NULL && strcmp(billing, "0") != 0;
    return 0;
}

int nh_ma_parse_nodepools(const char *body, size_t len, struct nh_observed *obs, char *err,
                          size_t errlen)
{
    return nh_prov_read_pool_items(body, len, parse_ma_pool, obs, "ListNodePools", err, errlen);
}

int nh_ma_max_count(int cur_count, int cur_max_count, int new_count)
{
    if (cur_max_count <= 0 || cur_max_count == cur_count)
        return new_count; /* physical pool: maxCount follows count */
    return cur_max_count > new_count ? cur_max_count : new_count;
}

int nh_ma_parse_nodepool(const char *body, size_t len, struct nh_pool_status *out, char *err,
                         size_t errlen)
{
    return nh_prov_read_pool(body, len, parse_ma_pool, out, "ShowNodePool", err, errlen);
}

char *nh_ma_body_patch(const char *flavor, int count, int max_count)
{
    struct nh_buf b;
    int r;

    nh_buf_init(&b, 0);
    r = nh_buf_appends(&b, "{\"spec\":{\"resources\":{\"flavor\":");
    if (r == 0)
        r = nh_json_write_str(&b, flavor, strlen(flavor));
    if (r == 0)
        r = nh_buf_printf(&b, ",\"count\":%d,\"maxCount\":%d}}}", count, max_count);
    if (r < 0) {
        nh_buf_free(&b);
        return NULL;
    }
    return nh_buf_steal(&b);
}

/* Node status.phase (ListNodePoolNodes,
 * https://support.huaweicloud.com/intl/en-us/api-modelarts/ListNodePoolNodes.html; the SDK's
 * NodeStatus): Available, Creating, Deleting, Abnormal, Checking (self-check: not serving yet). */
enum nh_node_health nh_ma_node_health(const char *phase)
{
    if (phase == NULL)
        return NH_NODE_UNHEALTHY;
    if (strcmp(phase, "Available") == 0)
        return NH_NODE_READY;
    if (strcmp(phase, "Creating") == 0 || strcmp(phase, "Checking") == 0)
        return NH_NODE_PENDING;
    if (strcmp(phase, "Deleting") == 0)
        return NH_NODE_REMOVING;
    return NH_NODE_UNHEALTHY; /* Abnormal, unknown */
}

struct node_raw {
    const char *name, *created, *phase;
};

#define NODE(f) offsetof(struct node_raw, f)
static const struct nh_jfield node_fields[] = {
    {"metadata", NH_J_OBJ, true, NH_J_NOWHERE},
    {"metadata.name", NH_J_STR, true, NODE(name)},
    {"metadata.creationTimestamp", NH_J_STR, false, NODE(created)},
    {"status", NH_J_OBJ, false, NH_J_NOWHERE},
    {"status.phase", NH_J_STR, false, NODE(phase)},
};

struct nodes_reading {
    struct nh_observed *obs;
    const char *pool;
    char **cont;
};

static const struct nh_jfield list_fields[] = {
    {"metadata", NH_J_OBJ, false, NH_J_NOWHERE},
    {"metadata.continue", NH_J_STR, false, 0},
};

static int read_pool_nodes(struct json_object *root, void *out, struct nh_jerr *e)
{
    struct nodes_reading *nr = out;
    struct json_object *items;
    const char *cont = NULL;
    char *dup = NULL;

    if (nh_json_arr(root, "items", true, &items, "items", e) < 0 ||
        nh_prov_fields(root, NULL, NH_FIELDS(list_fields), "", &cont, e) < 0)
        return -EBADMSG;
    for (size_t i = 0; i < json_object_array_length(items); i++) {
        struct json_object *it = json_object_array_get_idx(items, i);
        struct node_raw v = {0};
        struct nh_node *n;
        char w[32];
        snprintf(w, sizeof(w), "items[%zu]", i);
        if (nh_prov_fields(it, w, NH_FIELDS(node_fields), "items[].", &v, e) < 0)
            return -EBADMSG;
        if (v.name[0] == '\0')
            return nh_jerr_set(e, "items[%zu].metadata.name: empty", i);
        if (nh_prov_add_node(nr->obs, v.name, v.name, nr->pool, &n) < 0)
            return -ENOMEM;
        n->health = nh_ma_node_health(v.phase);
        n->created = nh_prov_parse_time(v.created);
        n->worker = true;
    }
    if (cont != NULL && cont[0] != '\0' && (dup = strdup(cont)) == NULL)
        return -ENOMEM;
    *nr->cont = dup;
    return 0;
}

int nh_ma_parse_pool_nodes(const char *body, size_t len, const char *pool, struct nh_observed *obs,
                           char **ret_continue, char *err, size_t errlen)
{
    char *cont = NULL;
    struct nodes_reading nr = {.obs = obs, .pool = pool, .cont = &cont};
    int r = nh_prov_read(body, len, read_pool_nodes, &nr, "ListNodePoolNodes", err, errlen);

    if (r == 0)
        *ret_continue = cont;
    return r;
}

char *nh_ma_body_batch_delete(const char *const *names, size_t n)
{
    struct nh_buf b;
    int r;

    nh_buf_init(&b, 0);
    r = nh_buf_appends(&b, "{\"deleteNodeNames\":");
    if (r == 0)
        r = nh_prov_json_str_array(&b, names, n);
    if (r == 0)
        r = nh_buf_appends(&b, "}");
    if (r < 0) {
        nh_buf_free(&b);
        return NULL;
    }
    return nh_buf_steal(&b);
}
