/* huawei_cce/parse.c - CCE answers to model structs, and CCE request bodies.
 * Pure functions (parse.h). Shapes: huawei-cce.md. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/secret.h"
#include "providers/reader.h"

/* Node status.phase (ListNodes,
 * https://support.huaweicloud.com/intl/en-us/api-cce/cce_02_0244.html, and the SDK's NodeStatus
 * enum): Build, Installing, Installed (installed, not yet Active: transitional), Upgrading are on
 * their way; Deleting is leaving; Abnormal, Error (a failed deletion, shown with errorStatus) and
 * ShutDown are members that do not serve. */
enum nh_node_health nh_cce_node_health(const char *phase)
{
    if (phase == NULL)
        return NH_NODE_UNHEALTHY;
    if (strcmp(phase, "Active") == 0)
        return NH_NODE_READY;
    if (strcmp(phase, "Build") == 0 || strcmp(phase, "Installing") == 0 ||
        strcmp(phase, "Installed") == 0 || strcmp(phase, "Upgrading") == 0)
        return NH_NODE_PENDING;
    if (strcmp(phase, "Deleting") == 0)
        return NH_NODE_REMOVING;
    return NH_NODE_UNHEALTHY; /* Abnormal, Error, ShutDown, unknown */
}

struct node_raw {
    struct json_object *md;
    const char *uid, *name, *created, *pool, *phase, *server, *ip;
    int64_t billing;
};

#define NODE(f) offsetof(struct node_raw, f)
static const struct nh_jfield node_fields[] = {
    {"metadata", NH_J_OBJ, true, NODE(md)},
    {"metadata.uid", NH_J_STR, true, NODE(uid)},
    {"metadata.name", NH_J_STR, false, NODE(name)},
    {"metadata.creationTimestamp", NH_J_STR, false, NODE(created)},
    {"metadata.ownerReferences", NH_J_OBJ, false, NH_J_NOWHERE},
    {"metadata.ownerReferences.nodepoolID", NH_J_STR, false, NODE(pool)},
    {"spec", NH_J_OBJ, false, NH_J_NOWHERE},
    {"spec.billingMode", NH_J_INT, false, NODE(billing)},
    {"status", NH_J_OBJ, false, NH_J_NOWHERE},
    {"status.phase", NH_J_STR, false, NODE(phase)},
    {"status.serverId", NH_J_STR, false, NODE(server)},
    {"status.privateIP", NH_J_STR, false, NODE(ip)},
};

static int parse_cce_node(struct json_object *it, size_t i, void *obs, struct nh_jerr *e)
{
    struct node_raw v = {0};
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
     * its creation, or its deletion: shown only when ListNodes is asked
     * with errorStatus); "Abnormal" is unhealthy and may recover. */
    n->failed = v.phase != NULL && strcmp(v.phase, "Error") == 0;
    n->created = nh_prov_parse_time(v.created);
    n->worker = true;
    /* spec.billingMode: 0 pay-per-use; 1 yearly/monthly (2: the deprecated
     * auto-paid yearly/monthly). Such a node cannot be deleted: it is
     * unsubscribed (https://support.huaweicloud.com/intl/en-us/usermanual-cce/cce_10_0186.html). */
    n->subscription = v.billing != 0;
    /* For matching the Kubernetes node (cce_02_0244 NodeStatus): the ECS
     * server id (providerID, where it carries it) and the VPC address (a
     * CCE node's Kubernetes name is usually that address). */
    bool ok = true;
    n->server_id = v.server != NULL && v.server[0] ? nh_model_dup(v.server, &ok) : NULL;
    n->private_ip = v.ip != NULL && v.ip[0] ? nh_model_dup(v.ip, &ok) : NULL;
    if (!ok)
        return -ENOMEM;
    /* metadata.labels are CCE's own key/values, never the Kubernetes node's
     * labels (cce_02_0244 NodeMetadata): they are not read as labels. */
    return 0;
}

int nh_cce_parse_nodes(const char *body, size_t len, struct nh_observed *obs, char *err,
                       size_t errlen)
{
    return nh_prov_read_items(body, len, parse_cce_node, obs, "ListNodes", err, errlen);
}

/* Node pool status.conditions (ShowNodePool,
 * https://support.huaweicloud.com/intl/en-us/api-cce/cce_02_0355.html): the pages name the types,
 * not their effect. Defensive reading: these, when True, mean the pool cannot grow now; Scalable
 * when False too; LockedByOrder True means no change at all (an order holds the pool). */
static const char *const failure_conditions[] = {"QuotaInsufficient", "ResourceInsufficient",
                                                 "UnexpectedError", "Error", "LockedByOrder"};

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

/* Whether a condition holds the pool back: a failure type that is True,
 * or Scalable that is False. */
static bool condition_blocks(const struct condition_raw *v)
{
    if (v->type == NULL || v->status == NULL)
        return false;
    if (strcmp(v->type, "Scalable") == 0)
        return strcmp(v->status, "False") == 0;
    if (strcmp(v->status, "True") != 0)
        return false;
    for (size_t k = 0; k < sizeof(failure_conditions) / sizeof(failure_conditions[0]); k++)
        if (strcmp(v->type, failure_conditions[k]) == 0)
            return true;
    return false;
}

/* The pool's blocked reason (owned), replacing an earlier one. */
static int set_blocked(struct nh_obs_pool *p, const char *why)
{
    char *dup = strdup(why);
    if (dup == NULL)
        return -ENOMEM;
    free(p->blocked);
    p->blocked = dup;
    return 0;
}

/* status.conditions: the first one that holds the pool back fails its
 * progress and blocks it in the observation (LockedByOrder: any change). */
static int read_conditions(struct json_object *conds, struct nh_pool_status *s, struct nh_jerr *e)
{
    char what[48], reason[64], blocked[NH_OBS_BLOCKED_MAX];

    for (size_t i = 0; conds != NULL && i < json_object_array_length(conds); i++) {
        struct condition_raw v = {0};
        snprintf(what, sizeof(what), "status.conditions[%zu]", i);
        if (nh_prov_fields(json_object_array_get_idx(conds, i), what, NH_FIELDS(condition_fields),
                           "status.conditions[].", &v, e) < 0)
            return -EBADMSG;
        if (!condition_blocks(&v))
            continue;
        if (strcmp(v.type, "LockedByOrder") == 0)
            s->pool.locked = true;
        if (s->failed)
            continue;
        s->failed = true;
        /* the whole condition for the log (progress detail); its type and
         * reason, words, for the plan and the status (never the message) */
        snprintf(s->failure, sizeof(s->failure), "condition %s=%s%s%s%s%s", v.type, v.status,
                 v.reason != NULL && v.reason[0] != '\0' ? ": " : "",
                 v.reason != NULL ? v.reason : "",
                 v.message != NULL && v.message[0] != '\0' ? ": " : "",
                 v.message != NULL ? v.message : "");
        nh_text_copy(s->failure, sizeof(s->failure), s->failure);
        nh_prov_copy_word(reason, sizeof(reason), v.reason, "");
        snprintf(blocked, sizeof(blocked), "condition %s=%s%s%s", v.type, v.status,
                 reason[0] != '\0' ? ": " : "", reason);
        if (set_blocked(&s->pool, blocked) < 0)
            return -ENOMEM;
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
    /* optional in the SDK's NodePoolSpec (`initialNodeCount,omitempty`) */
    {"spec.initialNodeCount", NH_J_INT, false, POOL(c.desired)},
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
    struct pool_raw v = {.c.desired = -1}; /* no spec.initialNodeCount: unknown */
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
        char blocked[NH_OBS_BLOCKED_MAX];
        nh_text_copy(blocked, sizeof(blocked), s->failure);
        if (set_blocked(&s->pool, blocked) < 0)
            return -ENOMEM;
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

/* ShowCluster status.phase (https://support.huaweicloud.com/intl/en-us/api-cce/cce_02_0238.html):
 * changes need Available; the phases of work in progress wait; the rest
 * (Unavailable, Error, frozen, hibernated, failed resizes, Deleting, Empty)
 * refuse. An unlisted phase waits (never mutate on a guess). */
static const struct {
    const char *word;
    enum nh_cluster_state st;
} cce_phases[] = {
    {"Available", NH_CLUSTER_ACCEPTS},      {"ScalingUp", NH_CLUSTER_BUSY},
    {"ScalingDown", NH_CLUSTER_BUSY},       {"Creating", NH_CLUSTER_BUSY},
    {"Upgrading", NH_CLUSTER_BUSY},         {"Resizing", NH_CLUSTER_BUSY},
    {"RollingBack", NH_CLUSTER_BUSY},       {"Hibernating", NH_CLUSTER_BUSY},
    {"Freezing", NH_CLUSTER_BUSY},          {"UnFreezing", NH_CLUSTER_BUSY},
    {"Awaking", NH_CLUSTER_BUSY},           {"Unavailable", NH_CLUSTER_REFUSES},
    {"Deleting", NH_CLUSTER_REFUSES},       {"ResizeFailed", NH_CLUSTER_REFUSES},
    {"RollbackFailed", NH_CLUSTER_REFUSES}, {"Hibernation", NH_CLUSTER_REFUSES},
    {"Frozen", NH_CLUSTER_REFUSES},         {"Empty", NH_CLUSTER_REFUSES},
    {"Error", NH_CLUSTER_REFUSES},
};

enum nh_cluster_state nh_cce_cluster_state(const char *phase)
{
    for (size_t i = 0; phase != NULL && i < sizeof(cce_phases) / sizeof(cce_phases[0]); i++)
        if (strcmp(phase, cce_phases[i].word) == 0)
            return cce_phases[i].st;
    return NH_CLUSTER_BUSY;
}

struct state_reading {
    enum nh_cluster_state *st;
    char *phase;
    size_t phaselen;
};

static const struct nh_jfield cluster_fields[] = {
    {"status", NH_J_OBJ, true, NH_J_NOWHERE},
    {"status.phase", NH_J_STR, true, 0},
};

static int read_cluster_state(struct json_object *root, void *out, struct nh_jerr *e)
{
    struct state_reading *sr = out;
    const char *phase = NULL;

    if (nh_prov_fields(root, NULL, NH_FIELDS(cluster_fields), "", &phase, e) < 0)
        return -EBADMSG;
    *sr->st = nh_cce_cluster_state(phase);
    nh_prov_copy_word(sr->phase, sr->phaselen, phase, "in a phase nodeherd does not know");
    return 0;
}

int nh_cce_parse_cluster_state(const char *body, size_t len, enum nh_cluster_state *ret_state,
                               char *phase, size_t phaselen, char *err, size_t errlen)
{
    struct state_reading sr = {ret_state, phase, phaselen};
    return nh_prov_read(body, len, read_cluster_state, &sr, "ShowCluster", err, errlen);
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

/* ---------- CreateKubernetesClusterCert ---------- */

/* Wipes every string of a parse tree (json-c frees its strings unwiped;
 * the tree of a kubeconfig holds a client key). Depth is bounded by the
 * parser (32). */
static void wipe_strings(struct json_object *o)
{
    switch (json_object_get_type(o)) {
    case json_type_string:
        explicit_bzero((char *)(uintptr_t)json_object_get_string(o),
                       (size_t)json_object_get_string_len(o));
        break;
    case json_type_array:
        for (size_t i = 0; i < json_object_array_length(o); i++)
            wipe_strings(json_object_array_get_idx(o, i));
        break;
    case json_type_object: {
        json_object_object_foreach(o, k, v)
        {
            (void)k;
            wipe_strings(v);
        }
        break;
    }
    default:
        break;
    }
}

static int read_cluster_cert(struct json_object *root, void *out, struct nh_jerr *e)
{
    static const char *const lists[] = {"clusters", "users", "contexts"};
    int r = 0;

    (void)out;
    for (size_t i = 0; i < 3 && r == 0; i++) {
        struct json_object *l = nh_json_get(root, lists[i]);
        if (l == NULL || !json_object_is_type(l, json_type_array) ||
            json_object_array_length(l) == 0) {
            nh_jerr_set(e, "%s: %s", lists[i], l == NULL ? "missing" : "expected a non-empty list");
            r = -EBADMSG;
        }
    }
    wipe_strings(root);
    return r;
}

int nh_cce_parse_cluster_cert(const char *body, size_t len, struct nh_secret **ret, char *err,
                              size_t errlen)
{
    int r = nh_prov_read(body, len, read_cluster_cert, NULL, "CreateKubernetesClusterCert", err,
                         errlen);
    if (r < 0)
        return r;
    *ret = nh_secret_new(body, len, "CCE CreateKubernetesClusterCert");
    return *ret == NULL ? -ENOMEM : 0;
}
