#include "model/model.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* ---------- enum tables (model.h): name and from-name from one list ---------- */

size_t nh_enum_index(const char *const *names, size_t n, const char *s)
{
    if (s == NULL)
        return SIZE_MAX;
    for (size_t i = 0; i < n; i++)
        if (names[i] != NULL && strcmp(names[i], s) == 0)
            return i;
    return SIZE_MAX;
}

NH_ENUM_DEFINE(nh_node_health, NH_NODE_HEALTHS)
NH_ENUM_DEFINE(nh_cluster_state, NH_CLUSTER_STATES)
NH_ENUM_DEFINE(nh_action_kind, NH_ACTION_KINDS)
NH_ENUM_DEFINE(nh_rule, NH_RULES)
NH_ENUM_DEFINE(nh_note_kind, NH_NOTE_KINDS)
NH_ENUM_DEFINE(nh_job_kind, NH_JOB_KINDS)
NH_ENUM_DEFINE(nh_op_state, NH_OP_STATES)

bool nh_op_state_final(enum nh_op_state s)
{
    switch (s) {
    case NH_OP_INTENT:
    case NH_OP_SENT:
    case NH_OP_VERIFY:
        return false;
    case NH_OP_DONE:
    case NH_OP_FAILED:
    case NH_OP_TIMED_OUT:
        return true;
    }
    return false;
}

void nh_node_clear(struct nh_node *n)
{
    if (n == NULL)
        return;
    free(n->id);
    free(n->name);
    free(n->pool_id);
    free(n->server_id);
    free(n->private_ip);
    free(n->kube_hold);
    for (size_t i = 0; i < n->n_labels; i++) {
        free(n->labels[i].key);
        free(n->labels[i].value);
    }
    free(n->labels);
    memset(n, 0, sizeof(*n));
}

void nh_obs_pool_clear(struct nh_obs_pool *p)
{
    if (p == NULL)
        return;
    free(p->id);
    free(p->name);
    free(p->flavor);
    free(p->blocked);
    memset(p, 0, sizeof(*p));
}

void nh_observed_clear(struct nh_observed *o)
{
    if (o == NULL)
        return;
    for (size_t i = 0; i < o->n_nodes; i++)
        nh_node_clear(&o->nodes[i]);
    free(o->nodes);
    for (size_t i = 0; i < o->n_pools; i++)
        nh_obs_pool_clear(&o->pools[i]);
    free(o->pools);
    memset(o, 0, sizeof(*o));
}

/* Grows an array by one zeroed element. */
static void *grow(void **arr, size_t *n, size_t elem)
{
    char *p = realloc(*arr, (*n + 1) * elem);
    if (p == NULL)
        return NULL;
    *arr = p;
    memset(p + *n * elem, 0, elem);
    return p + (*n)++ * elem;
}

struct nh_node *nh_observed_add_node(struct nh_observed *o)
{
    return grow((void **)&o->nodes, &o->n_nodes, sizeof(struct nh_node));
}

struct nh_obs_pool *nh_observed_add_pool(struct nh_observed *o)
{
    return grow((void **)&o->pools, &o->n_pools, sizeof(struct nh_obs_pool));
}

const struct nh_obs_pool *nh_observed_pool(const struct nh_observed *o, const char *id)
{
    for (size_t i = 0; i < o->n_pools; i++)
        if (o->pools[i].id && strcmp(o->pools[i].id, id) == 0)
            return &o->pools[i];
    return NULL;
}

const char *nh_node_label(const struct nh_node *n, const char *key)
{
    for (size_t i = 0; i < n->n_labels; i++)
        if (strcmp(n->labels[i].key, key) == 0)
            return n->labels[i].value ? n->labels[i].value : "";
    return NULL;
}

char *nh_model_dup(const char *s, bool *ok)
{
    char *d;
    if (s == NULL)
        return NULL;
    d = strdup(s);
    if (d == NULL)
        *ok = false;
    return d;
}

static int node_copy(struct nh_node *d, const struct nh_node *s)
{
    bool ok = true;
    memset(d, 0, sizeof(*d));
    /* Field by field, in the order of struct nh_node (a new field goes in
     * its place here too); every string is copied. */
    d->id = nh_model_dup(s->id, &ok);
    d->name = nh_model_dup(s->name, &ok);
    d->pool_id = nh_model_dup(s->pool_id, &ok);
    d->health = s->health;
    d->created = s->created;
    d->worker = s->worker;
    d->failed = s->failed;
    d->subscription = s->subscription;
    if (s->n_labels > 0) {
        d->labels = calloc(s->n_labels, sizeof(*d->labels));
        if (d->labels == NULL) {
            ok = false;
        } else {
            d->n_labels = s->n_labels;
            for (size_t i = 0; i < s->n_labels; i++) {
                d->labels[i].key = nh_model_dup(s->labels[i].key, &ok);
                d->labels[i].value = nh_model_dup(s->labels[i].value, &ok);
            }
        }
    }
    d->kube_pods_known = s->kube_pods_known;
    d->kube_pods = s->kube_pods;
    d->server_id = nh_model_dup(s->server_id, &ok);
    d->private_ip = nh_model_dup(s->private_ip, &ok);
    d->kube_hold = nh_model_dup(s->kube_hold, &ok);
    if (!ok) {
        nh_node_clear(d);
        return -ENOMEM;
    }
    return 0;
}

static int pool_copy(struct nh_obs_pool *d, const struct nh_obs_pool *s)
{
    bool ok = true;
    *d = *s;
    d->id = nh_model_dup(s->id, &ok);
    d->name = nh_model_dup(s->name, &ok);
    d->flavor = nh_model_dup(s->flavor, &ok);
    d->blocked = nh_model_dup(s->blocked, &ok);
    if (!ok) {
        nh_obs_pool_clear(d);
        return -ENOMEM;
    }
    return 0;
}

int nh_observed_copy(struct nh_observed *dst, const struct nh_observed *src)
{
    memset(dst, 0, sizeof(*dst));
    dst->complete = src->complete;
    memcpy(dst->why, src->why, sizeof(dst->why));
    dst->at_ms = src->at_ms;
    dst->cluster_state = src->cluster_state;
    dst->kube_read = src->kube_read;
    dst->counts_only = src->counts_only;
    memcpy(dst->cluster_phase, src->cluster_phase, sizeof(dst->cluster_phase));
    for (size_t i = 0; i < src->n_nodes; i++) {
        struct nh_node *n = nh_observed_add_node(dst);
        if (n == NULL || node_copy(n, &src->nodes[i]) < 0) {
            if (n != NULL)
                dst->n_nodes--;
            nh_observed_clear(dst);
            return -ENOMEM;
        }
    }
    for (size_t i = 0; i < src->n_pools; i++) {
        struct nh_obs_pool *p = nh_observed_add_pool(dst);
        if (p == NULL || pool_copy(p, &src->pools[i]) < 0) {
            if (p != NULL)
                dst->n_pools--;
            nh_observed_clear(dst);
            return -ENOMEM;
        }
    }
    return 0;
}

static void free_strv(char **v, size_t n)
{
    if (v == NULL)
        return;
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

void nh_action_clear(struct nh_action *a)
{
    if (a == NULL)
        return;
    free(a->cluster);
    free(a->pool_id);
    free(a->pool_name);
    free_strv(a->node_ids, a->n_nodes);
    free_strv(a->node_names, a->n_nodes);
    memset(a, 0, sizeof(*a));
}

static char **strv_copy(char *const *v, size_t n, bool *ok)
{
    char **d;
    if (v == NULL || n == 0)
        return NULL;
    d = calloc(n, sizeof(*d));
    if (d == NULL) {
        *ok = false;
        return NULL;
    }
    for (size_t i = 0; i < n; i++)
        d[i] = nh_model_dup(v[i], ok);
    return d;
}

int nh_action_copy(struct nh_action *dst, const struct nh_action *src)
{
    bool ok = true;
    *dst = *src;
    dst->cluster = nh_model_dup(src->cluster, &ok);
    dst->pool_id = nh_model_dup(src->pool_id, &ok);
    dst->pool_name = nh_model_dup(src->pool_name, &ok);
    dst->node_ids = strv_copy(src->node_ids, src->n_nodes, &ok);
    dst->node_names = strv_copy(src->node_names, src->n_nodes, &ok);
    if (!ok) {
        nh_action_clear(dst);
        return -ENOMEM;
    }
    return 0;
}

void nh_plan_clear(struct nh_plan *p)
{
    if (p == NULL)
        return;
    for (size_t i = 0; i < p->n_actions; i++)
        nh_action_clear(&p->actions[i]);
    free(p->actions);
    for (size_t i = 0; i < p->n_notes; i++) {
        free(p->notes[i].cluster);
        free(p->notes[i].pool);
    }
    free(p->notes);
    memset(p, 0, sizeof(*p));
}

struct nh_action *nh_plan_add_action(struct nh_plan *p)
{
    return grow((void **)&p->actions, &p->n_actions, sizeof(struct nh_action));
}

struct nh_note *nh_plan_add_note(struct nh_plan *p)
{
    return grow((void **)&p->notes, &p->n_notes, sizeof(struct nh_note));
}

void nh_op_clear(struct nh_op *op)
{
    if (op == NULL)
        return;
    nh_action_clear(&op->action);
    free(op->job_id);
    free(op->revision);
    free(op->result);
    free(op->mark);
    memset(op, 0, sizeof(*op));
}

int nh_op_copy(struct nh_op *dst, const struct nh_op *src)
{
    bool ok = true;
    *dst = *src;
    memset(&dst->action, 0, sizeof(dst->action));
    dst->job_id = nh_model_dup(src->job_id, &ok);
    dst->revision = nh_model_dup(src->revision, &ok);
    dst->result = nh_model_dup(src->result, &ok);
    dst->mark = nh_model_dup(src->mark, &ok);
    if (nh_action_copy(&dst->action, &src->action) < 0)
        ok = false;
    if (!ok) {
        nh_op_clear(dst);
        return -ENOMEM;
    }
    return 0;
}
