/* huawei_cce/parse.c - CCE answers to model structs, and CCE request bodies.
 * Pure functions (parse.h). Shapes: huawei-cce.md. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "providers/reader.h"

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

struct node_raw {
    struct json_object *md;
    const char *uid, *name, *created, *pool, *phase;
};

#define NODE(f) offsetof(struct node_raw, f)
static const struct nh_jfield node_fields[] = {
    {"metadata", NH_J_OBJ, true, NODE(md)},
    {"metadata.uid", NH_J_STR, true, NODE(uid)},
    {"metadata.name", NH_J_STR, false, NODE(name)},
    {"metadata.creationTimestamp", NH_J_STR, false, NODE(created)},
    {"metadata.ownerReferences", NH_J_OBJ, false, NH_J_NOWHERE},
    {"metadata.ownerReferences.nodepoolID", NH_J_STR, false, NODE(pool)},
    {"status", NH_J_OBJ, false, NH_J_NOWHERE},
    {"status.phase", NH_J_STR, false, NODE(phase)},
};

static int parse_cce_node(struct json_object *it, size_t i, void *obs, struct nh_jerr *e)
{
    struct node_raw v = {0};
    struct json_object *labels;
    struct nh_node *n;
    char what[48];

    snprintf(what, sizeof(what), "items[%zu]", i);
    if (nh_prov_fields(it, what, NH_FIELDS(node_fields), "items[].", &v, e) < 0)
        return -EBADMSG;
    if (v.uid[0] == '\0')
        return nh_jerr_set(e, "items[%zu].metadata.uid: empty", i);
    if (nh_prov_add_node(obs, v.uid, v.name, v.pool, &n) < 0)
        return -ENOMEM;
    n->health = nh_cce_node_health(v.phase);
    /* CCE phase "Error" (huawei-cce.md, ListNodes): the node failed (e.g.
     * its creation); "Abnormal" is unhealthy and may recover. */
    n->failed = v.phase != NULL && strcmp(v.phase, "Error") == 0;
    n->created = nh_prov_parse_time(v.created);
    n->worker = true;
    labels = nh_json_get(v.md, "labels");
    if (labels != NULL && !json_object_is_type(labels, json_type_object))
        return nh_jerr_set(e, "items[].metadata.labels: expected an object");
    return nh_prov_read_label_map(labels, n, "items[].metadata.labels", 40, e);
}

int nh_cce_parse_nodes(const char *body, size_t len, struct nh_observed *obs, char *err,
                       size_t errlen)
{
    return nh_prov_read_items(body, len, parse_cce_node, obs, "ListNodes", err, errlen);
}

static const char *const failure_conditions[] = {"QuotaInsufficient", "ResourceInsufficient",
                                                 "UnexpectedError", "Error"};

struct condition_raw {
    const char *type, *status, *reason, *message;
};

#define COND(f) offsetof(struct condition_raw, f)
static const struct nh_jfield condition_fields[] = {
    {"type", NH_J_STR, false, COND(type)},
    {"status", NH_J_STR, false, COND(status)},
    {"reason", NH_J_STR, false, COND(reason)},
    {"message", NH_J_STR, false, COND(message)},
};

/* status.conditions: the first True one of a failure type fails the pool. */
static int read_conditions(struct json_object *conds, struct nh_pool_status *s, struct nh_jerr *e)
{
    char what[48];

    for (size_t i = 0; conds != NULL && i < json_object_array_length(conds); i++) {
        struct condition_raw v = {0};
        snprintf(what, sizeof(what), "status.conditions[%zu]", i);
        if (nh_prov_fields(json_object_array_get_idx(conds, i), what, NH_FIELDS(condition_fields),
                           "status.conditions[].", &v, e) < 0)
            return -EBADMSG;
        if (v.type == NULL || v.status == NULL || strcmp(v.status, "True") != 0)
            continue;
        for (size_t k = 0; k < sizeof(failure_conditions) / sizeof(failure_conditions[0]); k++) {
            if (strcmp(v.type, failure_conditions[k]) == 0 && !s->failed) {
                s->failed = true;
                snprintf(s->failure, sizeof(s->failure), "condition %s: %s%s%s", v.type,
                         v.reason != NULL ? v.reason : "",
                         v.reason != NULL && v.message != NULL ? ": " : "",
                         v.message != NULL ? v.message : "");
                nh_text_copy(s->failure, sizeof(s->failure), s->failure);
            }
        }
    }
    return 0;
}

struct pool_raw {
    const char *uid, *name, *phase;
    struct nh_pool_counts c;
    bool enable;
    struct json_object *conds;
};

#define POOL(f) offsetof(struct pool_raw, f)
static const struct nh_jfield pool_fields[] = {
    {"metadata", NH_J_OBJ, true, NH_J_NOWHERE},
    {"metadata.uid", NH_J_STR, true, POOL(uid)},
    {"metadata.name", NH_J_STR, false, POOL(name)},
    {"spec", NH_J_OBJ, true, NH_J_NOWHERE},
    {"spec.initialNodeCount", NH_J_INT, true, POOL(c.desired)},
    {"spec.autoscaling", NH_J_OBJ, false, NH_J_NOWHERE},
    {"spec.autoscaling.enable", NH_J_BOOL, false, POOL(enable)},
    {"status", NH_J_OBJ, false, NH_J_NOWHERE},
    {"status.currentNode", NH_J_INT, false, POOL(c.current)},
    {"status.creatingNode", NH_J_INT, false, POOL(c.creating)},
    {"status.deletingNode", NH_J_INT, false, POOL(c.deleting)},
    {"status.phase", NH_J_STR, false, POOL(phase)},
    {"status.conditions", NH_J_ARR, false, POOL(conds)},
};

static int parse_cce_pool(struct json_object *it, struct nh_pool_status *s, struct nh_jerr *e)
{
    struct pool_raw v = {0};
    struct nh_obs_pool *p = &s->pool;

    if (nh_prov_fields(it, "node pool", NH_FIELDS(pool_fields), "", &v, e) < 0)
        return -EBADMSG;
    if (v.uid[0] == '\0')
        return nh_jerr_set(e, "metadata.uid: empty");
    if (!nh_json_dup(v.uid, &p->id) || !nh_json_dup(v.name != NULL ? v.name : v.uid, &p->name))
        return -ENOMEM;
    /* ready/unhealthy: counted from ListNodes by the observer. */
    nh_prov_set_counts(p, &v.c);
    p->autoscaling = v.enable;
    p->is_default = v.name != NULL && strcmp(v.name, "DefaultPool") == 0;
    p->being_deleted = v.phase != NULL && strcmp(v.phase, "Deleting") == 0;
    nh_text_copy(s->phase, sizeof(s->phase), v.phase != NULL ? v.phase : "");
    if (v.phase != NULL && strcmp(v.phase, "Error") == 0) {
        s->failed = true;
        snprintf(s->failure, sizeof(s->failure), "node pool phase is Error");
    }
    return read_conditions(v.conds, s, e);
}

int nh_cce_parse_nodepools(const char *body, size_t len, struct nh_observed *obs, char *err,
                           size_t errlen)
{
    return nh_prov_read_pool_items(body, len, parse_cce_pool, obs, "ListNodePools", err, errlen);
}

int nh_cce_parse_nodepool(const char *body, size_t len, struct nh_pool_status *out, char *err,
                          size_t errlen)
{
    return nh_prov_read_pool(body, len, parse_cce_pool, out, "ShowNodePool", err, errlen);
}

static int read_job_id(struct json_object *root, void *out, struct nh_jerr *e)
{
    struct json_object *st;

    if (nh_json_obj(root, "status", false, &st, "status", e) < 0)
        return -EBADMSG;
    return nh_prov_read_id(st, "jobID", "status.jobID", out, e);
}

int nh_cce_parse_job_id(const char *body, size_t len, char **ret_job_id, char *err, size_t errlen)
{
    return nh_prov_read(body, len, read_job_id, ret_job_id, "the job id", err, errlen);
}

static void append(char *dst, size_t len, const char *s)
{
    size_t used = strlen(dst);
    if (used + 1 < len)
        snprintf(dst + used, len - used, "%s", s);
}

struct job_raw {
    const char *phase, *reason, *resource;
    struct json_object *subs;
};

#define JOB(f) offsetof(struct job_raw, f)
static const struct nh_jfield job_fields[] = {
    {"status", NH_J_OBJ, true, NH_J_NOWHERE},        {"status.phase", NH_J_STR, true, JOB(phase)},
    {"status.reason", NH_J_STR, false, JOB(reason)}, {"spec", NH_J_OBJ, false, NH_J_NOWHERE},
    {"spec.subJobs", NH_J_ARR, false, JOB(subs)},
};

/* A sub-job (spec.subJobs[]): its phase, reason and resource. */
static const struct nh_jfield subjob_fields[] = {
    {"status", NH_J_OBJ, false, NH_J_NOWHERE},
    {"status.phase", NH_J_STR, false, JOB(phase)},
    {"status.reason", NH_J_STR, false, JOB(reason)},
    {"spec", NH_J_OBJ, false, NH_J_NOWHERE},
    {"spec.resourceName", NH_J_STR, false, JOB(resource)},
};

/* Finished sub-jobs make the percent; failed ones are listed
 * (resourceName: reason). */
static int read_subjobs(struct json_object *subs, struct nh_job_progress *out, struct nh_jerr *e)
{
    size_t n_sub = subs != NULL ? json_object_array_length(subs) : 0, n_done = 0, n_failed = 0;
    char line[200];

    for (size_t i = 0; i < n_sub; i++) {
        struct job_raw v = {0};
        snprintf(line, sizeof(line), "spec.subJobs[%zu]", i);
        if (nh_prov_fields(json_object_array_get_idx(subs, i), line, NH_FIELDS(subjob_fields),
                           "spec.subJobs[].", &v, e) < 0)
            return -EBADMSG;
        if (v.phase != NULL && strcmp(v.phase, "Success") == 0)
            n_done++;
        if (v.phase != NULL && strcmp(v.phase, "Failed") == 0) {
            n_done++;
            n_failed++;
            snprintf(line, sizeof(line), "%s%s: %s", out->detail[0] != '\0' ? "; " : "",
                     v.resource != NULL ? v.resource : "?", v.reason != NULL ? v.reason : "failed");
            append(out->detail, sizeof(out->detail), line);
        }
    }
    if (out->state == NH_JOB_SUCCEEDED)
        out->percent = 100;
    else if (n_sub > 0)
        out->percent = (int)(n_done * 100 / n_sub);
    if (n_failed > 0 && out->state == NH_JOB_SUCCEEDED) {
        /* A job whose sub-jobs failed did not do what was asked, whatever
         * its own phase says (huawei-cce.md, ShowJob: report every failed
         * sub-job): a failed action, re-planned from the observed state. */
        out->state = NH_JOB_FAILED;
        out->percent = (int)(n_done * 100 / n_sub);
        nh_text_copy(out->phase, sizeof(out->phase), "Success with failed sub-jobs");
    }
    if (n_failed > 0 && out->state != NH_JOB_FAILED) {
        snprintf(line, sizeof(line), " (%zu of %zu sub-jobs failed)", n_failed, n_sub);
        append(out->detail, sizeof(out->detail), line);
    } else if (n_failed > 0) {
        snprintf(line, sizeof(line), "%s%zu of %zu sub-jobs failed", out->detail[0] ? "; " : "",
                 n_failed, n_sub);
        append(out->detail, sizeof(out->detail), line);
    }
    return 0;
}

/* Success and Failed end a job; any other phase is still running. */
static enum nh_job_state job_state(const char *phase)
{
    if (strcmp(phase, "Success") == 0)
        return NH_JOB_SUCCEEDED;
    if (strcmp(phase, "Failed") == 0)
        return NH_JOB_FAILED;
    return NH_JOB_RUNNING;
}

static int read_job(struct json_object *root, void *outp, struct nh_jerr *e)
{
    struct nh_job_progress *out = outp;
    struct job_raw v = {0};

    if (nh_prov_fields(root, NULL, NH_FIELDS(job_fields), "", &v, e) < 0)
        return -EBADMSG;
    out->state = job_state(v.phase);
    nh_text_copy(out->phase, sizeof(out->phase), v.phase);
    if (out->state == NH_JOB_FAILED && v.reason != NULL && v.reason[0] != '\0')
        append(out->detail, sizeof(out->detail), v.reason);
    return read_subjobs(v.subs, out, e);
}

int nh_cce_parse_job(const char *body, size_t len, struct nh_job_progress *out, char *err,
                     size_t errlen)
{
    return nh_prov_read_progress(body, len, read_job, out, "ShowJob", err, errlen);
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
