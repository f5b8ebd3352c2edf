/* modelarts/parse.c - ModelArts v2 node pools to model structs, and the
 * PatchNodePool body. Pure functions (parse.h). Shapes: huawei-modelarts.md. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/json.h"
#include "util/text.h"
#include "providers/parse.h"

/* status.resources.<bucket>.count; absent bucket = 0. */
static int bucket_count(struct json_object *res, const char *bucket, int64_t *out,
                        struct nh_jerr *e)
{
    struct json_object *b;
    char w[64];

    *out = 0;
    snprintf(w, sizeof(w), "status.resources.%s", bucket);
    if (nh_json_obj(res, bucket, false, &b, w, e) < 0)
        return -EBADMSG;
    snprintf(w, sizeof(w), "status.resources.%s.count", bucket);
    return nh_json_int(b, "count", false, 0, NH_PROV_COUNT_MAX, out, w, e);
}

static int parse_ma_pool(struct json_object *it, struct nh_pool_status *s, struct nh_jerr *e)
{
    struct json_object *md, *spec, *res, *st, *sres;
    const char *name = NULL, *flavor = NULL, *phase = NULL;
    int64_t count = 0, max_count = 0, avail = 0, abnormal = 0, creating = 0, deleting = 0;
    const int64_t M = NH_PROV_COUNT_MAX;
    struct nh_obs_pool *p = &s->pool;

    if (!json_object_is_type(it, json_type_object))
        return nh_jerr_set(e, "node pool: expected an object");
    if (nh_json_obj(it, "metadata", true, &md, "metadata", e) < 0 ||
        nh_json_str(md, "name", true, &name, "metadata.name", e) < 0 ||
        nh_json_obj(it, "spec", true, &spec, "spec", e) < 0 ||
        nh_json_obj(spec, "resources", true, &res, "spec.resources", e) < 0 ||
        nh_json_str(res, "flavor", false, &flavor, "spec.resources.flavor", e) < 0 ||
        nh_json_int(res, "count", true, 0, M, &count, "spec.resources.count", e) < 0 ||
        nh_json_int(res, "maxCount", false, 0, M, &max_count, "spec.resources.maxCount", e) < 0 ||
        nh_json_obj(it, "status", false, &st, "status", e) < 0 ||
        nh_json_str(st, "phase", false, &phase, "status.phase", e) < 0 ||
        nh_json_obj(st, "resources", false, &sres, "status.resources", e) < 0 ||
        bucket_count(sres, "available", &avail, e) < 0 ||
        bucket_count(sres, "abnormal", &abnormal, e) < 0 ||
        bucket_count(sres, "creating", &creating, e) < 0 ||
        bucket_count(sres, "deleting", &deleting, e) < 0)
        return -EBADMSG;
    if (name[0] == '\0')
        return nh_jerr_set(e, "metadata.name: empty");
    if (!nh_json_dup(name, &p->id) || !nh_json_dup(name, &p->name) ||
        !nh_json_dup(flavor, &p->flavor))
        return -ENOMEM;
    p->desired = (int)count;
    p->max_count = (int)(max_count > 0 ? max_count : count);
    p->ready = (int)avail;
    p->unhealthy = (int)abnormal;
    p->creating = (int)creating;
    p->deleting = (int)deleting;
    p->current = (int)(avail + abnormal);
    p->being_deleted = phase != NULL && strcmp(phase, "Deleting") == 0;
    nh_text_copy(s->phase, sizeof(s->phase), phase != NULL ? phase : "");
    if (phase != NULL && (strcmp(phase, "Error") == 0 || strcmp(phase, "Failed") == 0 ||
                          strcmp(phase, "Abnormal") == 0)) {
        s->failed = true;
        snprintf(s->failure, sizeof(s->failure), "node pool phase is %.40s", phase);
    }
    return 0;
}

int nh_ma_parse_nodepools(const char *body, size_t len, struct nh_observed *obs, char *err,
                          size_t errlen)
{
    struct nh_jerr e = {err, errlen};
    struct json_object *root, *items;
    int r = 0;

    if (errlen > 0)
        err[0] = '\0';
    root = nh_json_parse(body, len, true, &e);
    if (root == NULL)
        return -EBADMSG;
    if (nh_json_arr(root, "items", true, &items, "items", &e) < 0) {
        json_object_put(root);
        return -EBADMSG;
    }
    for (size_t i = 0; i < json_object_array_length(items) && r == 0; i++) {
        struct nh_pool_status s;
        struct nh_obs_pool *p;
        memset(&s, 0, sizeof(s));
        r = parse_ma_pool(json_object_array_get_idx(items, i), &s, &e);
        if (r == 0 && (p = nh_observed_add_pool(obs)) != NULL) {
            *p = s.pool;
        } else {
            if (r == 0)
                r = -ENOMEM;
            nh_pool_status_clear(&s);
        }
    }
    if (r == -ENOMEM)
        nh_jerr_set(&e, "out of memory reading ListNodePools");
    json_object_put(root);
    return r;
}

int nh_ma_parse_nodepool(const char *body, size_t len, struct nh_pool_status *out, char *err,
                         size_t errlen)
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
    r = parse_ma_pool(root, out, &e);
    if (r == -ENOMEM)
        nh_jerr_set(&e, "out of memory reading ShowNodePool");
    if (r < 0)
        nh_pool_status_clear(out);
    json_object_put(root);
    return r;
}

int nh_ma_max_count(int cur_count, int cur_max_count, int new_count)
{
    if (cur_max_count <= 0 || cur_max_count == cur_count)
        return new_count; /* physical pool: maxCount follows count */
    return cur_max_count > new_count ? cur_max_count : new_count;
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
