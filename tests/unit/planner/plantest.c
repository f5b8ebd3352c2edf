/* plantest.c - see plantest.h. */
#include "plantest.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

static char *xdup(const char *s)
{
    char *d;
    if (s == NULL)
        return NULL;
    d = strdup(s);
    assert_non_null(d);
    return d;
}

struct nh_node *pt_node(struct nh_observed *o, const char *id, const char *name,
                        const char *pool_id, enum nh_node_health health, int64_t created,
                        bool worker, const char *label)
{
    struct nh_node *n = nh_observed_add_node(o);
    assert_non_null(n);
    n->id = xdup(id);
    n->name = xdup(name);
    n->pool_id = xdup(pool_id);
    n->health = health;
    n->created = created;
    n->worker = worker;
    if (label != NULL) {
        const char *eq = strchr(label, '=');
        n->labels = calloc(1, sizeof(*n->labels));
        assert_non_null(n->labels);
        n->n_labels = 1;
        if (eq != NULL) {
            n->labels[0].key = strndup(label, (size_t)(eq - label));
            assert_non_null(n->labels[0].key);
            n->labels[0].value = xdup(eq + 1);
        } else {
            n->labels[0].key = xdup(label);
        }
    }
    return n;
}

struct nh_obs_pool *pt_pool(struct nh_observed *o, const char *id, const char *name)
{
    struct nh_obs_pool *p = nh_observed_add_pool(o);
    assert_non_null(p);
    p->id = xdup(id);
    p->name = xdup(name);
    return p;
}

static bool s_eq(const char *a, const char *b)
{
    if (a == NULL || b == NULL)
        return a == b;
    return strcmp(a, b) == 0;
}

bool pt_plan_equal(const struct nh_plan *a, const struct nh_plan *b)
{
    if (a->n_actions != b->n_actions || a->n_notes != b->n_notes)
        return false;
    for (size_t i = 0; i < a->n_actions; i++) {
        const struct nh_action *x = &a->actions[i], *y = &b->actions[i];
        if (x->kind != y->kind || x->from != y->from || x->target != y->target ||
            x->n_nodes != y->n_nodes || x->pool_nodes != y->pool_nodes || x->rule != y->rule ||
            !s_eq(x->cluster, y->cluster) || !s_eq(x->pool_id, y->pool_id) ||
            !s_eq(x->pool_name, y->pool_name) || strcmp(x->why, y->why) != 0)
            return false;
        for (size_t k = 0; k < x->n_nodes; k++)
            if (!s_eq(x->node_ids[k], y->node_ids[k]) || !s_eq(x->node_names[k], y->node_names[k]))
                return false;
    }
    for (size_t i = 0; i < a->n_notes; i++) {
        const struct nh_note *x = &a->notes[i], *y = &b->notes[i];
        if (x->kind != y->kind || x->rule != y->rule || !s_eq(x->cluster, y->cluster) ||
            !s_eq(x->pool, y->pool) || strcmp(x->msg, y->msg) != 0 || strcmp(x->fix, y->fix) != 0)
            return false;
    }
    return true;
}

const char *pt_join(char *const *v, size_t n, char *buf, size_t len)
{
    size_t off = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < n && off < len; i++)
        off += (size_t)snprintf(buf + off, len - off, "%s%s", i ? "," : "", v[i] ? v[i] : "(null)");
    return buf;
}

void pt_plan_dump(const struct nh_plan *p)
{
    char buf[512];
    for (size_t i = 0; i < p->n_actions; i++) {
        const struct nh_action *a = &p->actions[i];
        fprintf(stderr, "  action %s pool=%s %d->%d [%s] rule=%s why=\"%s\"\n",
                nh_action_kind_name(a->kind), a->pool_id ? a->pool_id : "-", a->from, a->target,
                pt_join(a->node_ids, a->n_nodes, buf, sizeof(buf)), nh_rule_name(a->rule), a->why);
    }
    for (size_t i = 0; i < p->n_notes; i++) {
        const struct nh_note *n = &p->notes[i];
        fprintf(stderr, "  note %s rule=%s pool=%s msg=\"%s\" fix=\"%s\"\n",
                nh_note_kind_name(n->kind), nh_rule_name(n->rule), n->pool ? n->pool : "-", n->msg,
                n->fix);
    }
}
