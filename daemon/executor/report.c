/* report.c - `nodeherd plan` output: per cluster, what would be done and
 * why, terraform-style (+ add, - remove, ~ change, ! not done), or JSON. */
#include <stdio.h>
#include <string.h>

#include <json-c/json.h>

#include "executor/engine_int.h"
#include "executor/report.h"

static char sign_of(const struct nh_action *a)
{
    switch (a->kind) {
    case NH_ACT_SCALE_CLUSTER:
        return '+';
    case NH_ACT_SCALE_POOL:
        return a->target >= a->from ? '+' : '-';
    case NH_ACT_REMOVE_NODES:
    case NH_ACT_DELETE_POOL:
        return '-';
    }
    return '~';
}

static void print_action(FILE *f, const struct nh_action *a)
{
    const char *what = a->pool_name ? a->pool_name : "workers";
    switch (a->kind) {
    case NH_ACT_SCALE_CLUSTER:
        fprintf(f, "  %c %s: %d -> %d (scale cluster)\n", sign_of(a), what, a->from, a->target);
        break;
    case NH_ACT_SCALE_POOL:
        fprintf(f, "  %c pool %s: %d -> %d (set size)\n", sign_of(a), what, a->from, a->target);
        break;
    case NH_ACT_REMOVE_NODES:
        fprintf(f, "  - %s%s: %d -> %d, remove %zu node%s:", a->pool_name ? "pool " : "", what,
                a->from, a->target, a->n_nodes, a->n_nodes == 1 ? "" : "s");
        for (size_t i = 0; i < a->n_nodes; i++)
            fprintf(f, " %s", a->node_ids[i]);
        fputc('\n', f);
        break;
    case NH_ACT_DELETE_POOL:
        fprintf(f, "  - pool %s: delete (%d node%s)\n", what, a->from, a->from == 1 ? "" : "s");
        break;
    }
    fprintf(f, "      rule %s: %s\n", nh_rule_name(a->rule), a->why);
}

static struct json_object *js(const char *s)
{
    return s ? json_object_new_string(s) : NULL;
}

int nh_engine_report(const struct nh_engine *e, FILE *f, bool json, bool *ret_changes,
                     bool *ret_errors)
{
    size_t n_actions = 0, n_blocked = 0, n_failed = 0, n_clusters = 0;
    struct json_object *root = NULL, *jcl = NULL;

    if (json) {
        root = json_object_new_object();
        jcl = json_object_new_array();
        json_object_object_add(root, "revision", js(e->cfg->revision));
    } else {
        fprintf(f, "nodeherd plan: %zu cluster%s, configuration revision %s\n\n",
                e->cfg->n_clusters, e->cfg->n_clusters == 1 ? "" : "s",
                e->cfg->revision ? e->cfg->revision : "?");
    }
    for (const struct cl *c = e->clusters; c; c = c->next) {
        if (c->removed || c->cfg == NULL)
            continue;
        n_clusters++;
        const struct nh_plan *p = &c->last_plan;
        bool failed = !c->have_obs || !c->obs_ok; /* failed or incomplete read */
        n_failed += failed;
        n_actions += p->n_actions;
        for (size_t i = 0; i < p->n_notes; i++)
            if (p->notes[i].kind == NH_NOTE_BLOCKED || p->notes[i].kind == NH_NOTE_REFUSED)
                n_blocked++;
        if (json) {
            struct json_object *o = json_object_new_object();
            struct json_object *acts = json_object_new_array();
            struct json_object *notes = json_object_new_array();
            json_object_object_add(o, "name", js(c->name));
            json_object_object_add(o, "provider", js(c->cfg->provider_name));
            json_object_object_add(o, "observed", json_object_new_boolean(!failed));
            json_object_object_add(o, "error", c->last_error[0] ? js(c->last_error) : NULL);
            for (size_t i = 0; i < p->n_actions; i++) {
                const struct nh_action *a = &p->actions[i];
                struct json_object *j = json_object_new_object();
                struct json_object *nodes = json_object_new_array();
                json_object_object_add(j, "kind", js(nh_action_kind_name(a->kind)));
                json_object_object_add(j, "pool", js(a->pool_name));
                json_object_object_add(j, "pool_id", js(a->pool_id));
                json_object_object_add(j, "from", json_object_new_int(a->from));
                json_object_object_add(j, "target", json_object_new_int(a->target));
                for (size_t k = 0; k < a->n_nodes; k++)
                    json_object_array_add(nodes, js(a->node_ids[k]));
                json_object_object_add(j, "nodes", nodes);
                json_object_object_add(j, "rule", js(nh_rule_name(a->rule)));
                json_object_object_add(j, "why", js(a->why));
                json_object_array_add(acts, j);
            }
            for (size_t i = 0; i < p->n_notes; i++) {
                const struct nh_note *n = &p->notes[i];
                struct json_object *j = json_object_new_object();
                json_object_object_add(j, "kind", js(nh_note_kind_name(n->kind)));
                json_object_object_add(j, "rule", js(nh_rule_name(n->rule)));
                json_object_object_add(j, "pool", js(n->pool));
                json_object_object_add(j, "msg", js(n->msg));
                json_object_object_add(j, "fix", n->fix[0] ? js(n->fix) : NULL);
                json_object_array_add(notes, j);
            }
            json_object_object_add(o, "actions", acts);
            json_object_object_add(o, "notes", notes);
            json_object_array_add(jcl, o);
            continue;
        }
        fprintf(f, "%s (%s %s%s%s):\n", c->name,
                c->cfg->provider ? nh_provider_kind_name(c->cfg->provider->kind) : "?",
                c->cfg->id ? c->cfg->id : "", c->cfg->pool ? "pool " : "",
                c->cfg->pool ? c->cfg->pool : "");
        if (failed)
            fprintf(f, "  ! not observed: %s\n",
                    c->last_error[0] ? c->last_error : "no answer in time");
        for (size_t i = 0; i < p->n_actions; i++)
            print_action(f, &p->actions[i]);
        for (size_t i = 0; i < p->n_notes; i++) {
            const struct nh_note *n = &p->notes[i];
            fprintf(f, "  ! %s%s%s %s (%s): %s\n", n->pool ? "pool " : "", n->pool ? n->pool : "",
                    n->pool ? ":" : "", nh_note_kind_name(n->kind), nh_rule_name(n->rule), n->msg);
            if (n->fix[0])
                fprintf(f, "      fix: %s\n", n->fix);
        }
        if (!failed && p->n_actions == 0 && p->n_notes == 0)
            fprintf(f, "  = converged\n");
        fputc('\n', f);
    }
    if (json) {
        struct json_object *sum = json_object_new_object();
        json_object_object_add(sum, "clusters", json_object_new_int64((int64_t)n_clusters));
        json_object_object_add(sum, "actions", json_object_new_int64((int64_t)n_actions));
        json_object_object_add(sum, "blocked", json_object_new_int64((int64_t)n_blocked));
        json_object_object_add(sum, "not_observed", json_object_new_int64((int64_t)n_failed));
        json_object_object_add(root, "clusters", jcl);
        json_object_object_add(root, "summary", sum);
        fprintf(f, "%s\n",
                json_object_to_json_string_ext(root,
                                               JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED));
        json_object_put(root);
    } else {
        fprintf(f, "Plan: %zu change%s, %zu blocked or refused, %zu cluster%s not observed.\n",
                n_actions, n_actions == 1 ? "" : "s", n_blocked, n_failed,
                n_failed == 1 ? "" : "s");
    }
    *ret_changes = n_actions > 0;
    *ret_errors = n_failed > 0;
    return 0;
}
