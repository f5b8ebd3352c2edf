/* modelarts/parse.c - ModelArts v2 node pools to model structs, and the
 * PatchNodePool body. Pure functions (parse.h). Shapes: huawei-modelarts.md. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "providers/reader.h"

struct pool_raw {
    const char *name, *flavor, *phase;
    struct nh_pool_counts c;
    int64_t max_count;
};

/* Node counts are status.resources.<bucket>.count; an absent bucket is 0. */
#define POOL(f) offsetof(struct pool_raw, f)
static const struct nh_jfield pool_fields[] = {
    {"metadata", NH_J_OBJ, true, NH_J_NOWHERE},
    {"metadata.name", NH_J_STR, true, POOL(name)},
    {"spec", NH_J_OBJ, true, NH_J_NOWHERE},
    {"spec.resources", NH_J_OBJ, true, NH_J_NOWHERE},
    {"spec.resources.flavor", NH_J_STR, false, POOL(flavor)},
    {"spec.resources.count", NH_J_INT, true, POOL(c.desired)},
    {"spec.resources.maxCount", NH_J_INT, false, POOL(max_count)},
    {"status", NH_J_OBJ, false, NH_J_NOWHERE},
    {"status.phase", NH_J_STR, false, POOL(phase)},
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

    if (nh_prov_fields(it, "node pool", NH_FIELDS(pool_fields), "", &v, e) < 0)
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
    s->pool.being_deleted = v.phase != NULL && strcmp(v.phase, "Deleting") == 0;
    nh_text_copy(s->phase, sizeof(s->phase), v.phase != NULL ? v.phase : "");
    if (v.phase != NULL && (strcmp(v.phase, "Error") == 0 || strcmp(v.phase, "Failed") == 0 ||
                            strcmp(v.phase, "Abnormal") == 0)) {
        s->failed = true;
        snprintf(s->failure, sizeof(s->failure), "node pool phase is %.40s", v.phase);
    }
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
