/* opjson.c - operation records as stored in etcd (JSON), and their keys. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "ha/ha.h"

const char *nh_ha_op_key(const char *prefix, uint64_t seq, char *buf, size_t len)
{
    snprintf(buf, len, "%sops/%020" PRIu64, prefix, seq);
    return buf;
}

static int add_str(json_object *o, const char *k, const char *v)
{
    if (v == NULL)
        return 0;
    json_object *s = json_object_new_string(v);
    if (s == NULL)
        return -ENOMEM;
    return json_object_object_add(o, k, s) == 0 ? 0 : -ENOMEM;
}

static int add_int(json_object *o, const char *k, int64_t v)
{
    json_object *n = json_object_new_int64(v);
    if (n == NULL)
        return -ENOMEM;
    return json_object_object_add(o, k, n) == 0 ? 0 : -ENOMEM;
}

static int add_list(json_object *o, const char *k, char *const *v, size_t n)
{
    json_object *a = json_object_new_array();
    if (a == NULL)
        return -ENOMEM;
    for (size_t i = 0; i < n; i++) {
        json_object *s = json_object_new_string(v[i] ? v[i] : "");
        if (s == NULL || json_object_array_add(a, s) != 0) {
            json_object_put(s);
            json_object_put(a);
            return -ENOMEM;
        }
    }
    return json_object_object_add(o, k, a) == 0 ? 0 : -ENOMEM;
}

char *nh_ha_op_to_json(const struct nh_op *op)
{
    const struct nh_action *a = &op->action;
    json_object *o = json_object_new_object();
    char *out = NULL;
    int r = 0;

    if (o == NULL)
        return NULL;
    r |= add_int(o, "seq", (int64_t)op->seq);
    r |= add_str(o, "state", nh_op_state_name(op->state));
    r |= add_str(o, "kind", nh_action_kind_name(a->kind));
    r |= add_str(o, "cluster", a->cluster);
    r |= add_str(o, "pool_id", a->pool_id);
    r |= add_str(o, "pool_name", a->pool_name);
    r |= add_int(o, "from", a->from);
    r |= add_int(o, "target", a->target);
    if (a->n_nodes > 0) {
        r |= add_list(o, "node_ids", a->node_ids, a->node_ids ? a->n_nodes : 0);
        r |= add_list(o, "node_names", a->node_names, a->node_names ? a->n_nodes : 0);
    }
    if (a->pool_nodes)
        r |= json_object_object_add(o, "pool_nodes", json_object_new_boolean(1)) == 0 ? 0 : -1;
    r |= add_str(o, "rule", nh_rule_name(a->rule));
    r |= add_str(o, "why", a->why);
    r |= add_str(o, "job_kind", nh_job_kind_name(op->job_kind));
    r |= add_str(o, "job_id", op->job_id);
    r |= add_int(o, "started_ms", op->started_ms);
    r |= add_int(o, "updated_ms", op->updated_ms);
    r |= add_str(o, "revision", op->revision);
    r |= add_str(o, "result", op->result);
    if (r == 0) {
        const char *s = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN);
        out = s ? strdup(s) : NULL;
    }
    json_object_put(o);
    return out;
}

/* ---------- parsing ---------- */

/* Enums are small and dense from 0: look a name up through its name function. */
#define ENUM_LOOKUP(fn, type, name, ret)                                                           \
    do {                                                                                           \
        for (int i_ = 0; i_ < 64; i_++) {                                                          \
            const char *n_ = fn((type)i_);                                                         \
            if (strcmp(n_, "?") == 0)                                                              \
                break;                                                                             \
            if (strcmp(n_, (name)) == 0) {                                                         \
                *(ret) = (type)i_;                                                                 \
                break;                                                                             \
            }                                                                                      \
        }                                                                                          \
    } while (0)

static const char *get_str(json_object *o, const char *k)
{
    json_object *v;
    if (!json_object_object_get_ex(o, k, &v) || !json_object_is_type(v, json_type_string))
        return NULL;
    return json_object_get_string(v);
}

static int dup_opt(json_object *o, const char *k, char **ret)
{
    const char *s = get_str(o, k);
    *ret = NULL;
    if (s == NULL)
        return 0;
    *ret = strdup(s);
    return *ret ? 0 : -ENOMEM;
}

static bool get_int(json_object *o, const char *k, int64_t *ret)
{
    json_object *v;
    if (!json_object_object_get_ex(o, k, &v) || !json_object_is_type(v, json_type_int))
        return false;
    *ret = json_object_get_int64(v);
    return true;
}

static int get_list(json_object *o, const char *k, char ***ret, size_t n)
{
    json_object *a;
    *ret = NULL;
    if (!json_object_object_get_ex(o, k, &a))
        return 0;
    if (!json_object_is_type(a, json_type_array) || json_object_array_length(a) != n)
        return -EBADMSG;
    char **l = calloc(n ? n : 1, sizeof(char *));
    if (l == NULL)
        return -ENOMEM;
    *ret = l;
    for (size_t i = 0; i < n; i++) {
        json_object *s = json_object_array_get_idx(a, i);
        if (!json_object_is_type(s, json_type_string))
            return -EBADMSG;
        l[i] = strdup(json_object_get_string(s));
        if (l[i] == NULL)
            return -ENOMEM;
    }
    return 0;
}

int nh_ha_op_from_json(const char *s, size_t len, struct nh_op *op, char *err, size_t errlen)
{
    struct json_tokener *tok = json_tokener_new();
    json_object *o = NULL, *ids;
    int64_t v;
    const char *kind, *state, *name;
    int r = -EBADMSG;

    memset(op, 0, sizeof(*op));
    err[0] = '\0';
    if (tok == NULL) {
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    o = json_tokener_parse_ex(tok, s, (int)(len > 1u << 20 ? 1u << 20 : len));
    json_tokener_free(tok);
    if (o == NULL || !json_object_is_type(o, json_type_object)) {
        snprintf(err, errlen, "not a JSON object");
        goto out;
    }
    if (!get_int(o, "seq", &v) || v <= 0) {
        snprintf(err, errlen, "no positive \"seq\"");
        goto out;
    }
    op->seq = (uint64_t)v;
    kind = get_str(o, "kind");
    state = get_str(o, "state");
    op->action.kind = (enum nh_action_kind) - 1;
    op->state = (enum nh_op_state) - 1;
    if (kind)
        ENUM_LOOKUP(nh_action_kind_name, enum nh_action_kind, kind, &op->action.kind);
    if (state)
        ENUM_LOOKUP(nh_op_state_name, enum nh_op_state, state, &op->state);
    if ((int)op->action.kind < 0 || (int)op->state < 0) {
        snprintf(err, errlen, "operation %llu: unknown or missing \"kind\" or \"state\"",
                 (unsigned long long)op->seq);
        goto out;
    }
    if ((name = get_str(o, "rule")) != NULL)
        ENUM_LOOKUP(nh_rule_name, enum nh_rule, name, &op->action.rule);
    if ((name = get_str(o, "job_kind")) != NULL)
        ENUM_LOOKUP(nh_job_kind_name, enum nh_job_kind, name, &op->job_kind);
    op->action.from = get_int(o, "from", &v) ? (int)v : -1;
    op->action.target = get_int(o, "target", &v) ? (int)v : -1;
    if (get_int(o, "started_ms", &v))
        op->started_ms = v;
    if (get_int(o, "updated_ms", &v))
        op->updated_ms = v;
    json_object *pn;
    op->action.pool_nodes =
        json_object_object_get_ex(o, "pool_nodes", &pn) && json_object_get_boolean(pn);
    if ((name = get_str(o, "why")) != NULL)
        snprintf(op->action.why, sizeof(op->action.why), "%s", name);
    if (dup_opt(o, "cluster", &op->action.cluster) < 0 ||
        dup_opt(o, "pool_id", &op->action.pool_id) < 0 ||
        dup_opt(o, "pool_name", &op->action.pool_name) < 0 ||
        dup_opt(o, "job_id", &op->job_id) < 0 || dup_opt(o, "revision", &op->revision) < 0 ||
        dup_opt(o, "result", &op->result) < 0) {
        snprintf(err, errlen, "out of memory");
        r = -ENOMEM;
        goto out;
    }
    if (op->action.cluster == NULL) {
        snprintf(err, errlen, "operation %llu: no \"cluster\"", (unsigned long long)op->seq);
        goto out;
    }
    if (json_object_object_get_ex(o, "node_ids", &ids)) {
        if (!json_object_is_type(ids, json_type_array)) {
            snprintf(err, errlen, "operation %llu: \"node_ids\" is not a list",
                     (unsigned long long)op->seq);
            goto out;
        }
        op->action.n_nodes = json_object_array_length(ids);
        int lr = get_list(o, "node_ids", &op->action.node_ids, op->action.n_nodes);
        if (lr == 0)
            lr = get_list(o, "node_names", &op->action.node_names, op->action.n_nodes);
        if (lr < 0) {
            snprintf(err, errlen, "operation %llu: bad \"node_ids\" or \"node_names\"",
                     (unsigned long long)op->seq);
            r = lr;
            goto out;
        }
    }
    r = 0;
out:
    json_object_put(o);
    if (r < 0)
        nh_op_clear(op);
    return r;
}
