/* huawei_cce/parse.c - CCE answers to model structs, and CCE request bodies.
 * Pure functions (parse.h). Shapes: huawei-cce.md. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/json.h"
#include "util/text.h"
#include "providers/parse.h"

enum nh_node_health nh_cce_node_health(const char *phase)
{
    if (phase == NULL)
        return NH_NODE_UNHEALTHY;
    if (strcmp(phase, "Active") == 0)
        return NH_NODE_READY;
    if (strcmp(phase, "Build") == 0 || strcmp(phase, "Installing") == 0 ||
        strcmp(phase, "Upgrading") == 0)
        return NH_NODE_PENDING;
    if (strcmp(phase, "Deleting") == 0)
        return NH_NODE_REMOVING;
    return NH_NODE_UNHEALTHY; /* Abnormal, Error, unknown */
}

static int string_map_labels(struct json_object *v, struct nh_node *n, struct nh_jerr *e)
{
    size_t cnt;

    if (v == NULL)
        return 0;
    if (!json_object_is_type(v, json_type_object))
        return nh_jerr_set(e, "items[].metadata.labels: expected an object");
    cnt = (size_t)json_object_object_length(v);
    if (cnt == 0)
        return 0;
    n->labels = calloc(cnt, sizeof(*n->labels));
    if (n->labels == NULL)
        return -ENOMEM;
    json_object_object_foreach(v, key, val)
    {
        if (!json_object_is_type(val, json_type_string))
            return nh_jerr_set(e, "items[].metadata.labels.%.40s: expected a string", key);
        struct nh_label *l = &n->labels[n->n_labels];
        l->key = strdup(key);
        l->value = strdup(json_object_get_string(val));
        n->n_labels++;
        if (l->key == NULL || l->value == NULL)
            return -ENOMEM;
    }
    return 0;
}

static int parse_cce_node(struct json_object *it, size_t i, struct nh_observed *obs,
                          struct nh_jerr *e)
{
    struct json_object *md, *st, *owner;
    const char *uid = NULL, *name = NULL, *created = NULL, *phase = NULL, *pool = NULL;
    struct nh_node *n;

    if (!json_object_is_type(it, json_type_object))
        return nh_jerr_set(e, "items[%zu]: expected an object", i);
    if (nh_json_obj(it, "metadata", true, &md, "items[].metadata", e) < 0 ||
        nh_json_str(md, "uid", true, &uid, "items[].metadata.uid", e) < 0 ||
        nh_json_str(md, "name", false, &name, "items[].metadata.name", e) < 0 ||
        nh_json_str(md, "creationTimestamp", false, &created, "items[].metadata.creationTimestamp",
                    e) < 0 ||
        nh_json_obj(md, "ownerReferences", false, &owner, "items[].metadata.ownerReferences", e) <
            0 ||
        nh_json_str(owner, "nodepoolID", false, &pool,
                    "items[].metadata.ownerReferences.nodepoolID", e) < 0 ||
        nh_json_obj(it, "status", false, &st, "items[].status", e) < 0 ||
        nh_json_str(st, "phase", false, &phase, "items[].status.phase", e) < 0)
        return -EBADMSG;
    if (uid[0] == '\0')
        return nh_jerr_set(e, "items[%zu].metadata.uid: empty", i);
    n = nh_observed_add_node(obs);
    if (n == NULL)
        return -ENOMEM;
    if (!nh_json_dup(uid, &n->id) || !nh_json_dup(name != NULL ? name : uid, &n->name) ||
        !nh_json_dup(pool != NULL && pool[0] != '\0' ? pool : NULL, &n->pool_id))
        return -ENOMEM;
    n->health = nh_cce_node_health(phase);
    n->created = nh_prov_parse_time(created);
    n->worker = true;
    return string_map_labels(nh_json_get(md, "labels"), n, e);
}

static struct json_object *list_items(const char *body, size_t len, struct nh_jerr *e,
                                      struct json_object **items)
{
    struct json_object *root = nh_json_parse(body, len, true, e);
    if (root == NULL)
        return NULL;
    if (nh_json_arr(root, "items", true, items, "items", e) < 0) {
        json_object_put(root);
        return NULL;
    }
    return root;
}

int nh_cce_parse_nodes(const char *body, size_t len, struct nh_observed *obs, char *err,
                       size_t errlen)
{
    struct nh_jerr e = {err, errlen};
    struct json_object *root, *items = NULL;
    int r = 0;

    if (errlen > 0)
        err[0] = '\0';
    root = list_items(body, len, &e, &items);
    if (root == NULL)
        return -EBADMSG;
    for (size_t i = 0; i < json_object_array_length(items) && r == 0; i++)
        r = parse_cce_node(json_object_array_get_idx(items, i), i, obs, &e);
    if (r == -ENOMEM)
        nh_jerr_set(&e, "out of memory reading ListNodes");
    json_object_put(root);
    return r;
}

static const char *const failure_conditions[] = {"QuotaInsufficient", "ResourceInsufficient",
                                                 "UnexpectedError", "Error"};

static int parse_cce_pool(struct json_object *it, struct nh_pool_status *s, struct nh_jerr *e)
{
    struct json_object *md, *spec, *as, *st, *conds;
    const char *uid = NULL, *name = NULL, *phase = NULL;
    int64_t desired = 0, current = 0, creating = 0, deleting = 0;
    bool enable = false;
    const int64_t M = NH_PROV_COUNT_MAX;
    struct nh_obs_pool *p = &s->pool;

    if (!json_object_is_type(it, json_type_object))
        return nh_jerr_set(e, "node pool: expected an object");
    if (nh_json_obj(it, "metadata", true, &md, "metadata", e) < 0 ||
        nh_json_str(md, "uid", true, &uid, "metadata.uid", e) < 0 ||
        nh_json_str(md, "name", false, &name, "metadata.name", e) < 0 ||
        nh_json_obj(it, "spec", true, &spec, "spec", e) < 0 ||
        nh_json_int(spec, "initialNodeCount", true, 0, M, &desired, "spec.initialNodeCount", e) <
            0 ||
        nh_json_obj(spec, "autoscaling", false, &as, "spec.autoscaling", e) < 0 ||
        nh_json_bool(as, "enable", false, &enable, "spec.autoscaling.enable", e) < 0 ||
        nh_json_obj(it, "status", false, &st, "status", e) < 0 ||
        nh_json_int(st, "currentNode", false, 0, M, &current, "status.currentNode", e) < 0 ||
        nh_json_int(st, "creatingNode", false, 0, M, &creating, "status.creatingNode", e) < 0 ||
        nh_json_int(st, "deletingNode", false, 0, M, &deleting, "status.deletingNode", e) < 0 ||
        nh_json_str(st, "phase", false, &phase, "status.phase", e) < 0 ||
        nh_json_arr(st, "conditions", false, &conds, "status.conditions", e) < 0)
        return -EBADMSG;
    if (uid[0] == '\0')
        return nh_jerr_set(e, "metadata.uid: empty");
    if (!nh_json_dup(uid, &p->id) || !nh_json_dup(name != NULL ? name : uid, &p->name))
        return -ENOMEM;
    p->desired = (int)desired;
    p->current = (int)current;
    p->creating = (int)creating;
    p->deleting = (int)deleting;
    /* ready/unhealthy: counted from ListNodes by the observer. */
    p->autoscaling = enable;
    p->is_default = name != NULL && strcmp(name, "DefaultPool") == 0;
    p->being_deleted = phase != NULL && strcmp(phase, "Deleting") == 0;
    nh_text_copy(s->phase, sizeof(s->phase), phase != NULL ? phase : "");
    if (phase != NULL && strcmp(phase, "Error") == 0) {
        s->failed = true;
        snprintf(s->failure, sizeof(s->failure), "node pool phase is Error");
    }
    for (size_t i = 0; conds != NULL && i < json_object_array_length(conds); i++) {
        struct json_object *c = json_object_array_get_idx(conds, i);
        const char *type = NULL, *cst = NULL, *reason = NULL, *msg = NULL;
        if (!json_object_is_type(c, json_type_object))
            return nh_jerr_set(e, "status.conditions[%zu]: expected an object", i);
        if (nh_json_str(c, "type", false, &type, "status.conditions[].type", e) < 0 ||
            nh_json_str(c, "status", false, &cst, "status.conditions[].status", e) < 0 ||
            nh_json_str(c, "reason", false, &reason, "status.conditions[].reason", e) < 0 ||
            nh_json_str(c, "message", false, &msg, "status.conditions[].message", e) < 0)
            return -EBADMSG;
        if (type == NULL || cst == NULL || strcmp(cst, "True") != 0)
            continue;
        for (size_t k = 0; k < sizeof(failure_conditions) / sizeof(failure_conditions[0]); k++) {
            if (strcmp(type, failure_conditions[k]) == 0 && !s->failed) {
                s->failed = true;
                snprintf(s->failure, sizeof(s->failure), "condition %s: %s%s%s", type,
                         reason != NULL ? reason : "", reason != NULL && msg != NULL ? ": " : "",
                         msg != NULL ? msg : "");
                nh_text_copy(s->failure, sizeof(s->failure), s->failure);
            }
        }
    }
    return 0;
}

int nh_cce_parse_nodepools(const char *body, size_t len, struct nh_observed *obs, char *err,
                           size_t errlen)
{
    struct nh_jerr e = {err, errlen};
    struct json_object *root, *items = NULL;
    int r = 0;

    if (errlen > 0)
        err[0] = '\0';
    root = list_items(body, len, &e, &items);
    if (root == NULL)
        return -EBADMSG;
    for (size_t i = 0; i < json_object_array_length(items) && r == 0; i++) {
        struct nh_pool_status s;
        struct nh_obs_pool *p;
        memset(&s, 0, sizeof(s));
        r = parse_cce_pool(json_object_array_get_idx(items, i), &s, &e);
        if (r == 0 && (p = nh_observed_add_pool(obs)) != NULL) {
            *p = s.pool; /* moved */
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

int nh_cce_parse_nodepool(const char *body, size_t len, struct nh_pool_status *out, char *err,
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
    r = parse_cce_pool(root, out, &e);
    if (r == -ENOMEM)
        nh_jerr_set(&e, "out of memory reading ShowNodePool");
    if (r < 0)
        nh_pool_status_clear(out);
    json_object_put(root);
    return r;
}

int nh_cce_parse_job_id(const char *body, size_t len, char **ret_job_id, char *err, size_t errlen)
{
    struct nh_jerr e = {err, errlen};
    struct json_object *root, *st;
    const char *id = NULL;
    char *dup = NULL;

    if (errlen > 0)
        err[0] = '\0';
    root = nh_json_parse(body, len, true, &e);
    if (root == NULL)
        return -EBADMSG;
    if (nh_json_obj(root, "status", false, &st, "status", &e) < 0 ||
        nh_json_str(st, "jobID", false, &id, "status.jobID", &e) < 0) {
        json_object_put(root);
        return -EBADMSG;
    }
    if (id != NULL && id[0] != '\0' && !nh_prov_path_safe(id)) {
        int r =
            nh_jerr_set(&e, "status.jobID \"%.40s\" has characters not allowed in a URL path", id);
        json_object_put(root);
        return r;
    }
    if (id != NULL && id[0] != '\0' && (dup = strdup(id)) == NULL) {
        json_object_put(root);
        return -ENOMEM;
    }
    json_object_put(root);
    *ret_job_id = dup;
    return 0;
}

static void append(char *dst, size_t len, const char *s)
{
    size_t used = strlen(dst);
    if (used + 1 < len)
        snprintf(dst + used, len - used, "%s", s);
}

int nh_cce_parse_job(const char *body, size_t len, struct nh_job_progress *out, char *err,
                     size_t errlen)
{
    struct nh_jerr e = {err, errlen};
    struct json_object *root, *st, *spec, *subs;
    const char *phase = NULL, *reason = NULL;
    size_t n_sub = 0, n_done = 0, n_failed = 0;
    int r = 0;

    if (errlen > 0)
        err[0] = '\0';
    memset(out, 0, sizeof(*out));
    out->percent = -1;
    root = nh_json_parse(body, len, true, &e);
    if (root == NULL)
        return -EBADMSG;
    if (nh_json_obj(root, "status", true, &st, "status", &e) < 0 ||
        nh_json_str(st, "phase", true, &phase, "status.phase", &e) < 0 ||
        nh_json_str(st, "reason", false, &reason, "status.reason", &e) < 0 ||
        nh_json_obj(root, "spec", false, &spec, "spec", &e) < 0 ||
        nh_json_arr(spec, "subJobs", false, &subs, "spec.subJobs", &e) < 0) {
        r = -EBADMSG;
        goto out;
    }
    nh_text_copy(out->phase, sizeof(out->phase), phase);
    if (strcmp(phase, "Success") == 0)
        out->state = NH_JOB_SUCCEEDED;
    else if (strcmp(phase, "Failed") == 0)
        out->state = NH_JOB_FAILED;
    else
        out->state = NH_JOB_RUNNING;
    if (out->state == NH_JOB_FAILED && reason != NULL && reason[0] != '\0')
        append(out->detail, sizeof(out->detail), reason);
    n_sub = subs != NULL ? json_object_array_length(subs) : 0;
    for (size_t i = 0; i < n_sub; i++) {
        struct json_object *sj = json_object_array_get_idx(subs, i), *sst, *sspec;
        const char *sphase = NULL, *sreason = NULL, *rname = NULL;
        char line[200];
        if (!json_object_is_type(sj, json_type_object)) {
            r = nh_jerr_set(&e, "spec.subJobs[%zu]: expected an object", i);
            goto out;
        }
        if (nh_json_obj(sj, "status", false, &sst, "spec.subJobs[].status", &e) < 0 ||
            nh_json_str(sst, "phase", false, &sphase, "spec.subJobs[].status.phase", &e) < 0 ||
            nh_json_str(sst, "reason", false, &sreason, "spec.subJobs[].status.reason", &e) < 0 ||
            nh_json_obj(sj, "spec", false, &sspec, "spec.subJobs[].spec", &e) < 0 ||
            nh_json_str(sspec, "resourceName", false, &rname, "spec.subJobs[].spec.resourceName",
                        &e) < 0) {
            r = -EBADMSG;
            goto out;
        }
        if (sphase != NULL && strcmp(sphase, "Success") == 0)
            n_done++;
        if (sphase != NULL && strcmp(sphase, "Failed") == 0) {
            n_done++;
            n_failed++;
            snprintf(line, sizeof(line), "%s%s: %s", out->detail[0] != '\0' ? "; " : "",
                     rname != NULL ? rname : "?", sreason != NULL ? sreason : "failed");
            append(out->detail, sizeof(out->detail), line);
        }
    }
    if (out->state == NH_JOB_SUCCEEDED)
        out->percent = 100;
    else if (n_sub > 0)
        out->percent = (int)(n_done * 100 / n_sub);
    if (n_failed > 0 && out->state == NH_JOB_RUNNING) {
        char line[64];
        snprintf(line, sizeof(line), " (%zu of %zu sub-jobs failed)", n_failed, n_sub);
        append(out->detail, sizeof(out->detail), line);
    }
    nh_text_copy(out->detail, sizeof(out->detail), out->detail);
out:
    json_object_put(root);
    return r;
}

/* ---------- request bodies ---------- */

char *nh_cce_body_scale_pool(int desired)
{
    struct nh_buf b;
    nh_buf_init(&b, 0);
    if (nh_buf_printf(&b,
                      "{\"kind\":\"NodePool\",\"apiVersion\":\"v3\",\"spec\":{\"desiredNodeCount\":"
                      "%d,\"scaleGroups\":[\"default\"]}}",
                      desired) < 0) {
        nh_buf_free(&b);
        return NULL;
    }
    return nh_buf_steal(&b);
}

char *nh_cce_body_remove_nodes(const char *const *uids, size_t n, const char *ssh_key,
                               const char *username, const char *password, size_t password_len)
{
    struct nh_buf b;
    size_t need = 128 + password_len * 6;
    int r;

    for (size_t i = 0; i < n; i++)
        need += strlen(uids[i]) * 6 + 16;
    if (ssh_key != NULL)
        need += strlen(ssh_key) * 6;
    if (username != NULL)
        need += strlen(username) * 6;
    nh_buf_init(&b, 0);
    /* Reserve everything up front so the password is never left behind by a realloc. */
    b.data = malloc(need);
    if (b.data == NULL)
        return NULL;
    b.alloc = need;
    b.data[0] = '\0';
    r = nh_buf_appends(&b, "{\"apiVersion\":\"v3\",\"kind\":\"RemoveNodesTask\",\"spec\":{");
    if (r == 0 && ssh_key != NULL) {
        r = nh_buf_appends(&b, "\"login\":{\"sshKey\":");
        if (r == 0)
            r = nh_json_write_str(&b, ssh_key, strlen(ssh_key));
        if (r == 0)
            r = nh_buf_appends(&b, "},");
    } else if (r == 0 && password != NULL) {
        const char *u = username != NULL ? username : "root";
        r = nh_buf_appends(&b, "\"login\":{\"userPassword\":{\"username\":");
        if (r == 0)
            r = nh_json_write_str(&b, u, strlen(u));
        if (r == 0)
            r = nh_buf_appends(&b, ",\"password\":");
        if (r == 0)
            r = nh_json_write_str(&b, password, password_len);
        if (r == 0)
            r = nh_buf_appends(&b, "}},");
    }
    if (r == 0)
        r = nh_buf_appends(&b, "\"nodes\":[");
    for (size_t i = 0; r == 0 && i < n; i++) {
        r = nh_buf_appends(&b, i > 0 ? ",{\"uid\":" : "{\"uid\":");
        if (r == 0)
            r = nh_json_write_str(&b, uids[i], strlen(uids[i]));
        if (r == 0)
            r = nh_buf_appends(&b, "}");
    }
    if (r == 0)
        r = nh_buf_appends(&b, "]}}");
    if (r < 0) {
        explicit_bzero(b.data, b.alloc);
        nh_buf_free(&b);
        return NULL;
    }
    return nh_buf_steal(&b);
}
