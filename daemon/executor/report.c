/* report.c - `nodeherd plan` output: per cluster, what would be done and
 * why, terraform-style (+ add, - remove, ~ change, ! not done), or JSON. */
#include <stdint.h>
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
        if (a->from == a->target) /* the count set to the nodes there are (ModelArts) */
            fprintf(f, "  ~ pool %s: %d nodes, set count to %d\n", what, a->from, a->target);
        else
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

/* One diagnostic in the shape of terraform's -json output (severity,
 * summary, and where: file/line/column or cluster). */
static struct json_object *diagnostic(const char *severity, const char *summary, const char *file,
                                      int line, int col, const char *cluster)
{
    struct json_object *d = json_object_new_object();
    json_object_object_add(d, "severity", js(severity));
    json_object_object_add(d, "summary", js(summary));
    json_object_object_add(d, "file", js(file));
    json_object_object_add(d, "line", line > 0 ? json_object_new_int(line) : NULL);
    json_object_object_add(d, "column", col > 0 ? json_object_new_int(col) : NULL);
    json_object_object_add(d, "cluster", js(cluster));
    return d;
}

static void print_doc(FILE *f, struct json_object *root)
{
    fprintf(f, "%s\n",
            json_object_to_json_string_ext(root, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED |
                                                     JSON_C_TO_STRING_NOSLASHESCAPE));
}

void nh_report_error_json(FILE *f, const char *revision, const struct nh_diag *diag,
                          const char *message)
{
    struct json_object *root = json_object_new_object();
    struct json_object *diags = json_object_new_array();
    struct json_object *sum = json_object_new_object();

    for (size_t i = 0; diag != NULL && i < diag->n; i++) {
        const struct nh_diag_entry *e = &diag->entries[i];
        json_object_array_add(diags, diagnostic(e->severity == NH_DIAG_ERROR ? "error" : "warning",
                                                e->msg, e->file, e->line, e->col, NULL));
    }
    if (diag != NULL && diag->dropped > 0) {
        char more[128];
        snprintf(more, sizeof(more), "%zu more problem%s not shown (at most %d are listed)",
                 diag->dropped, diag->dropped == 1 ? "" : "s", NH_DIAG_MAX);
        json_object_array_add(diags, diagnostic("error", more, NULL, 0, 0, NULL));
    }
    if (message != NULL)
        json_object_array_add(diags, diagnostic("error", message, NULL, 0, 0, NULL));
    json_object_object_add(root, "format_version", js("1"));
    json_object_object_add(root, "result", js("error"));
    json_object_object_add(root, "revision", js(revision));
    json_object_object_add(root, "clusters", json_object_new_array());
    json_object_object_add(sum, "clusters", json_object_new_int(0));
    json_object_object_add(root, "summary", sum);
    json_object_object_add(root, "diagnostics", diags);
    print_doc(f, root);
    json_object_put(root);
}

static bool note_stops(const struct nh_note *n)
{
    return n->kind == NH_NOTE_BLOCKED || n->kind == NH_NOTE_REFUSED;
}

/* What the plan says of one cluster: built once, rendered as text or JSON. */
struct cluster_view {
    const struct cl *c;
    const struct nh_plan *p;
    bool failed;    /* failed or incomplete read */
    bool converged; /* observed, nothing stopped, ex__cl_converged */
    size_t stops;   /* blocked or refused notes */
    char why[320];  /* when failed: why */
};

/* Fills *v for c; false for a cluster the plan does not list (removed). */
static bool cluster_view(const struct cl *c, const char *timed_out, struct cluster_view *v)
{
    if (c->removed || c->cfg == NULL)
        return false;
    v->c = c;
    v->p = &c->last_plan;
    v->failed = !c->have_obs || !c->obs_ok;
    v->stops = 0;
    for (size_t i = 0; i < v->p->n_notes; i++)
        v->stops += note_stops(&v->p->notes[i]);
    v->converged = !v->failed && v->stops == 0 && ex__cl_converged(c);
    v->why[0] = '\0';
    if (v->failed)
        snprintf(v->why, sizeof(v->why), "%s",
                 c->last_error[0] ? c->last_error
                 : timed_out      ? "no answer before the --timeout ran out"
                                  : "no answer in time");
    return true;
}

static struct nh_report_sum report_sum(const struct nh_engine *e, const char *timed_out)
{
    struct nh_report_sum sum = {0};
    struct cluster_view v;
    for (const struct cl *c = e->clusters; c; c = c->next) {
        if (!cluster_view(c, timed_out, &v))
            continue;
        sum.clusters++;
        sum.not_observed += v.failed;
        sum.converged += v.converged;
        sum.differs += !v.failed && !v.converged;
        if (!v.failed) {
            sum.actions += v.p->n_actions;
            sum.blocked += v.stops;
        }
    }
    return sum;
}

/* The --timeout diagnostic, or false when nothing ran out. */
static bool timeout_msg(const char *timed_out, const struct nh_report_sum *sum, char *msg,
                        size_t len)
{
    if (timed_out == NULL || sum->not_observed == 0)
        return false;
    snprintf(msg, len,
             "--timeout %s ran out with %zu cluster%s not observed; raise it or check the "
             "clouds' reachability",
             timed_out, sum->not_observed, sum->not_observed == 1 ? "" : "s");
    return true;
}

static void text_cluster(FILE *f, const struct cluster_view *v)
{
    const struct cl *c = v->c;
    const struct nh_plan *p = v->p;
    fprintf(f, "%s (%s %s%s%s):\n", c->name,
            c->cfg->provider ? nh_provider_kind_name(c->cfg->provider->kind) : "?",
            c->cfg->id ? c->cfg->id : "", c->cfg->pool ? "pool " : "",
            c->cfg->pool ? c->cfg->pool : "");
    if (v->failed)
        fprintf(f, "  ! not observed: %s\n", v->why);
    for (size_t i = 0; i < p->n_actions; i++)
        print_action(f, &p->actions[i]);
    size_t held = 0; /* notes of something not done (info notes are not) */
    for (size_t i = 0; i < p->n_notes; i++) {
        const struct nh_note *n = &p->notes[i];
        held += n->kind != NH_NOTE_INFO;
        fprintf(f, "  %c %s%s%s%s (%s): %s\n", n->kind == NH_NOTE_INFO ? 'i' : '!',
                n->pool ? "pool " : "", n->pool ? n->pool : "", n->pool ? ": " : "",
                nh_note_kind_name(n->kind), nh_rule_name(n->rule), n->msg);
        if (n->fix[0])
            fprintf(f, "      %s: %s\n", n->kind == NH_NOTE_INFO ? "to change it" : "fix", n->fix);
    }
    if (v->converged)
        fprintf(f, "  = converged\n");
    else if (!v->failed && p->n_actions == 0 && held == 0)
        fprintf(f, "  ~ differs from its declaration (see nodeherd status)\n");
    fputc('\n', f);
}

static void render_text(const struct nh_engine *e, FILE *f, const char *timed_out,
                        const struct nh_report_sum *sum)
{
    struct cluster_view v;
    char msg[160];
    fprintf(f, "nodeherd plan: %zu cluster%s, configuration revision %s\n\n", e->cfg->n_clusters,
            e->cfg->n_clusters == 1 ? "" : "s", e->cfg->revision ? e->cfg->revision : "?");
    for (const struct cl *c = e->clusters; c; c = c->next)
        if (cluster_view(c, timed_out, &v))
            text_cluster(f, &v);
    if (timeout_msg(timed_out, sum, msg, sizeof(msg)))
        fprintf(f, "%s\n", msg);
    if (sum->not_observed > 0) {
        fprintf(f,
                "Plan FAILED: %zu of %zu cluster%s could not be observed (\"! not observed\" "
                "above); %zu change%s, %zu blocked or refused in the others.\n",
                sum->not_observed, sum->clusters, sum->clusters == 1 ? "" : "s", sum->actions,
                sum->actions == 1 ? "" : "s", sum->blocked);
    } else if (sum->differs == 0) {
        fprintf(f, "Plan: converged: every cluster matches its declaration; nothing to do.\n");
    } else {
        fprintf(f,
                "Plan: %zu of %zu cluster%s differ%s from the declaration: %zu change%s to make, "
                "%zu blocked or refused%s.\n",
                sum->differs, sum->clusters, sum->clusters == 1 ? "" : "s",
                sum->differs == 1 ? "s" : "", sum->actions, sum->actions == 1 ? "" : "s",
                sum->blocked,
                sum->actions == 0 && sum->blocked > 0
                    ? " (nothing can be done until the \"fix:\" lines above are followed)"
                    : "");
    }
}

static struct json_object *action_json(const struct nh_action *a)
{
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
    return j;
}

static struct json_object *note_json(const struct nh_note *n)
{
    struct json_object *j = json_object_new_object();
    json_object_object_add(j, "kind", js(nh_note_kind_name(n->kind)));
    json_object_object_add(j, "rule", js(nh_rule_name(n->rule)));
    json_object_object_add(j, "pool", js(n->pool));
    json_object_object_add(j, "msg", js(n->msg));
    json_object_object_add(j, "fix", n->fix[0] ? js(n->fix) : NULL);
    return j;
}

static struct json_object *json_cluster(const struct cluster_view *v)
{
    struct json_object *o = json_object_new_object();
    struct json_object *acts = json_object_new_array();
    struct json_object *notes = json_object_new_array();
    json_object_object_add(o, "name", js(v->c->name));
    json_object_object_add(o, "provider", js(v->c->cfg->provider_name));
    json_object_object_add(o, "observed", json_object_new_boolean(!v->failed));
    json_object_object_add(o, "converged", json_object_new_boolean(v->converged));
    json_object_object_add(o, "differs", json_object_new_boolean(!v->failed && !v->converged));
    json_object_object_add(o, "error", v->failed ? js(v->why) : NULL);
    for (size_t i = 0; i < v->p->n_actions; i++)
        json_object_array_add(acts, action_json(&v->p->actions[i]));
    for (size_t i = 0; i < v->p->n_notes; i++)
        json_object_array_add(notes, note_json(&v->p->notes[i]));
    json_object_object_add(o, "actions", acts);
    json_object_object_add(o, "notes", notes);
    return o;
}

static void render_json(const struct nh_engine *e, FILE *f, const char *timed_out,
                        const struct nh_report_sum *sum)
{
    struct json_object *root = json_object_new_object();
    struct json_object *jcl = json_object_new_array();
    struct json_object *diags = json_object_new_array();
    struct cluster_view v;
    char msg[400], tmsg[160];
    json_object_object_add(root, "format_version", js("1"));
    json_object_object_add(root, "revision", js(e->cfg->revision));
    for (const struct cl *c = e->clusters; c; c = c->next) {
        if (!cluster_view(c, timed_out, &v))
            continue;
        json_object_array_add(jcl, json_cluster(&v));
        if (v.failed) {
            snprintf(msg, sizeof(msg), "cluster %s could not be observed: %s", c->name, v.why);
            json_object_array_add(diags, diagnostic("error", msg, NULL, 0, 0, c->name));
        }
    }
    if (timeout_msg(timed_out, sum, tmsg, sizeof(tmsg)))
        json_object_array_add(diags, diagnostic("error", tmsg, NULL, 0, 0, NULL));
    const char *result = sum->not_observed > 0 ? "error"
                         : sum->differs > 0    ? "differs"
                                               : "converged";
    struct json_object *js_sum = json_object_new_object();
    json_object_object_add(js_sum, "clusters", json_object_new_int64((int64_t)sum->clusters));
    json_object_object_add(js_sum, "converged", json_object_new_int64((int64_t)sum->converged));
    json_object_object_add(js_sum, "differs", json_object_new_int64((int64_t)sum->differs));
    json_object_object_add(js_sum, "not_observed",
                           json_object_new_int64((int64_t)sum->not_observed));
    json_object_object_add(js_sum, "actions", json_object_new_int64((int64_t)sum->actions));
    json_object_object_add(js_sum, "blocked", json_object_new_int64((int64_t)sum->blocked));
    json_object_object_add(root, "result", js(result));
    json_object_object_add(root, "clusters", jcl);
    json_object_object_add(root, "summary", js_sum);
    json_object_object_add(root, "diagnostics", diags);
    print_doc(f, root);
    json_object_put(root);
}

int nh_engine_report(const struct nh_engine *e, FILE *f, bool json, const char *timed_out,
                     struct nh_report_sum *ret)
{
    struct nh_report_sum sum = report_sum(e, timed_out);
    if (json)
        render_json(e, f, timed_out, &sum);
    else
        render_text(e, f, timed_out, &sum);
    *ret = sum;
    return 0;
}
