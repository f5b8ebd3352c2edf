/* kube.c - Kubernetes facts: containers, names and the pure rules (see
 * kube.h for the sources of each rule). */
#include "model/kube.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *nh_kube_ready_name(enum nh_kube_ready r)
{
    switch (r) {
    case NH_KUBE_READY_UNKNOWN:
        return "Unknown";
    case NH_KUBE_READY_TRUE:
        return "True";
    case NH_KUBE_READY_FALSE:
        return "False";
    }
    return "?";
}

const char *nh_kube_phase_name(enum nh_kube_phase p)
{
    switch (p) {
    case NH_KUBE_PHASE_UNKNOWN:
        return "Unknown";
    case NH_KUBE_PHASE_PENDING:
        return "Pending";
    case NH_KUBE_PHASE_RUNNING:
        return "Running";
    case NH_KUBE_PHASE_SUCCEEDED:
        return "Succeeded";
    case NH_KUBE_PHASE_FAILED:
        return "Failed";
    }
    return "?";
}

const char *nh_kube_match_how_name(enum nh_kube_match_how h)
{
    switch (h) {
    case NH_KUBE_MATCH_NONE:
        return "none";
    case NH_KUBE_MATCH_AMBIGUOUS:
        return "ambiguous";
    case NH_KUBE_MATCH_PROVIDER_ID:
        return "providerID";
    case NH_KUBE_MATCH_INTERNAL_IP:
        return "InternalIP";
    case NH_KUBE_MATCH_NAME:
        return "name";
    }
    return "?";
}

/* ---- containers ---- */

static void kv_free(struct nh_kube_kv *kv, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(kv[i].key);
        free(kv[i].value);
    }
    free(kv);
}

void nh_kube_node_clear(struct nh_kube_node *n)
{
    if (n == NULL)
        return;
    free(n->name);
    free(n->uid);
    free(n->provider_id);
    free(n->internal_ip);
    kv_free(n->labels, n->n_labels);
    kv_free(n->annotations, n->n_annotations);
    memset(n, 0, sizeof(*n));
}

void nh_kube_pod_clear(struct nh_kube_pod *p)
{
    if (p == NULL)
        return;
    free(p->ns);
    free(p->name);
    free(p->uid);
    free(p->node);
    for (size_t i = 0; i < p->n_owner_kinds; i++)
        free(p->owner_kinds[i]);
    free(p->owner_kinds);
    free(p->controller_kind);
    free(p->safe_to_evict);
    free(p->do_not_disrupt);
    memset(p, 0, sizeof(*p));
}

void nh_kube_node_list_free(struct nh_kube_node_list *l)
{
    if (l == NULL)
        return;
    for (size_t i = 0; i < l->n; i++)
        nh_kube_node_clear(&l->items[i]);
    free(l->items);
    free(l);
}

void nh_kube_pod_list_free(struct nh_kube_pod_list *l)
{
    if (l == NULL)
        return;
    for (size_t i = 0; i < l->n; i++)
        nh_kube_pod_clear(&l->items[i]);
    free(l->items);
    free(l);
}

static void *grow(void *items, size_t *alloc, size_t n, size_t size)
{
    if (n < *alloc)
        return items;
    size_t na = *alloc ? *alloc * 2 : 16;
    if (na > SIZE_MAX / size)
        return NULL;
    void *p = realloc(items, na * size);
    if (p != NULL)
        *alloc = na;
    return p;
}

struct nh_kube_node *nh_kube_node_list_add(struct nh_kube_node_list *l)
{
    struct nh_kube_node *p = grow(l->items, &l->alloc, l->n, sizeof(*p));
    if (p == NULL)
        return NULL;
    l->items = p;
    memset(&p[l->n], 0, sizeof(*p));
    return &p[l->n++];
}

struct nh_kube_pod *nh_kube_pod_list_add(struct nh_kube_pod_list *l)
{
    struct nh_kube_pod *p = grow(l->items, &l->alloc, l->n, sizeof(*p));
    if (p == NULL)
        return NULL;
    l->items = p;
    memset(&p[l->n], 0, sizeof(*p));
    return &p[l->n++];
}

static const char *kv_get(const struct nh_kube_kv *kv, size_t n, const char *key)
{
    for (size_t i = 0; key != NULL && i < n; i++)
        if (strcmp(kv[i].key, key) == 0)
            return kv[i].value;
    return NULL;
}

const char *nh_kube_node_label(const struct nh_kube_node *n, const char *key)
{
    return n != NULL ? kv_get(n->labels, n->n_labels, key) : NULL;
}

const char *nh_kube_node_annotation(const struct nh_kube_node *n, const char *key)
{
    return n != NULL ? kv_get(n->annotations, n->n_annotations, key) : NULL;
}

/* ---- pod rules ---- */

static void say(char *why, size_t whylen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void say(char *why, size_t whylen, const char *fmt, ...)
{
    if (why == NULL || whylen == 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, whylen, fmt, ap);
    va_end(ap);
}

static const char *or_q(const char *s)
{
    return s != NULL ? s : "?";
}

static bool eq(const char *a, const char *b)
{
    return a != NULL && strcmp(a, b) == 0;
}

bool nh_kube_pod_finished(const struct nh_kube_pod *p)
{
    return p->phase == NH_KUBE_PHASE_SUCCEEDED || p->phase == NH_KUBE_PHASE_FAILED;
}

static bool pod_daemonset(const struct nh_kube_pod *p)
{
    if (eq(p->controller_kind, "DaemonSet"))
        return true;
    for (size_t i = 0; i < p->n_owner_kinds; i++)
        if (eq(p->owner_kinds[i], "DaemonSet"))
            return true;
    return false;
}

bool nh_kube_pod_counts(const struct nh_kube_pod *p)
{
    return !nh_kube_pod_finished(p) && !p->mirror && !pod_daemonset(p);
}

bool nh_kube_pod_blocks_drain(const struct nh_kube_pod *p, char *why, size_t whylen)
{
    if (nh_kube_pod_finished(p))
        return false;
    if (eq(p->do_not_disrupt, "true")) {
        say(why, whylen, "pod \"%s/%s\" has %s: \"true\"", or_q(p->ns), or_q(p->name),
            NH_KUBE_ANN_DO_NOT_DISRUPT);
        return true;
    }
    if (eq(p->safe_to_evict, "false")) {
        say(why, whylen, "pod \"%s/%s\" has %s: \"false\"", or_q(p->ns), or_q(p->name),
            NH_KUBE_ANN_SAFE_TO_EVICT);
        return true;
    }
    if (nh_kube_pod_counts(p) && p->controller_kind == NULL && !eq(p->safe_to_evict, "true")) {
        say(why, whylen,
            "pod \"%s/%s\" has no controller (it would not come back after an eviction; "
            "annotate it %s: \"true\" to allow it)",
            or_q(p->ns), or_q(p->name), NH_KUBE_ANN_SAFE_TO_EVICT);
        return true;
    }
    return false;
}

size_t nh_kube_pods_counting(const struct nh_kube_pod_list *l)
{
    size_t n = 0;
    for (size_t i = 0; l != NULL && i < l->n; i++)
        n += nh_kube_pod_counts(&l->items[i]) ? 1 : 0;
    return n;
}

const struct nh_kube_pod *nh_kube_pods_blocking(const struct nh_kube_pod_list *l, char *why,
                                                size_t whylen)
{
    for (size_t i = 0; l != NULL && i < l->n; i++)
        if (nh_kube_pod_blocks_drain(&l->items[i], why, whylen))
            return &l->items[i];
    return NULL;
}

/* ---- node rules ---- */

/* "key=value" or "key" against the node's labels. */
static bool label_rule_holds(const struct nh_kube_node *n, const char *rule)
{
    const char *eqs = strchr(rule, '=');
    size_t klen = eqs != NULL ? (size_t)(eqs - rule) : strlen(rule);
    for (size_t i = 0; i < n->n_labels; i++) {
        const struct nh_kube_kv *kv = &n->labels[i];
        if (strlen(kv->key) != klen || strncmp(kv->key, rule, klen) != 0)
            continue;
        if (eqs == NULL || strcmp(kv->value, eqs + 1) == 0)
            return true;
    }
    return false;
}

bool nh_kube_node_protected(const struct nh_kube_node *n, const char *const *protect_labels,
                            char *why, size_t whylen)
{
    static const char *const dflt[] = {NH_KUBE_LABEL_PROTECT_DEFAULT, NULL};
    const char *const *rules = protect_labels != NULL ? protect_labels : dflt;
    for (size_t i = 0; rules[i] != NULL; i++) {
        if (rules[i][0] != '\0' && label_rule_holds(n, rules[i])) {
            say(why, whylen, "node \"%s\" has the protect label %s", or_q(n->name), rules[i]);
            return true;
        }
    }
    if (eq(nh_kube_node_annotation(n, NH_KUBE_ANN_SCALE_DOWN_DISABLED), "true")) {
        say(why, whylen, "node \"%s\" has the annotation %s: \"%s\"", or_q(n->name),
            NH_KUBE_ANN_SCALE_DOWN_DISABLED, "true");
        return true;
    }
    if (eq(nh_kube_node_annotation(n, NH_KUBE_ANN_DO_NOT_DISRUPT), "true")) {
        say(why, whylen, "node \"%s\" has the annotation %s: \"%s\"", or_q(n->name),
            NH_KUBE_ANN_DO_NOT_DISRUPT, "true");
        return true;
    }
    if (eq(nh_kube_node_label(n, NH_KUBE_ANN_DO_NOT_DISRUPT), "true")) {
        say(why, whylen, "node \"%s\" has the label %s=%s", or_q(n->name),
            NH_KUBE_ANN_DO_NOT_DISRUPT, "true");
        return true;
    }
    return false;
}

/* ---- matching ---- */

bool nh_kube_provider_id_names(const char *provider_id, const char *instance_id)
{
    if (provider_id == NULL || instance_id == NULL || instance_id[0] == '\0')
        return false;
    size_t pl = strlen(provider_id), il = strlen(instance_id);
    if (pl == il)
        return strcmp(provider_id, instance_id) == 0;
    if (pl < il + 2) /* at least one character and the separator before the id */
        return false;
    char sep = provider_id[pl - il - 1];
    return (sep == '.' || sep == '/') && strcmp(provider_id + pl - il, instance_id) == 0;
}

static bool has(const char *s)
{
    return s != NULL && s[0] != '\0';
}

enum round { R_PROVIDER_ID, R_IP, R_NAME };

static bool candidate(const struct nh_kube_node *k, const struct nh_kube_cloud_ref *c, enum round r)
{
    switch (r) {
    case R_PROVIDER_ID:
        return nh_kube_provider_id_names(k->provider_id, c->instance_id);
    case R_IP:
        return has(c->private_ip) && eq(k->internal_ip, c->private_ip);
    case R_NAME:
        return has(c->name) && eq(k->name, c->name);
    }
    return false;
}

static enum nh_kube_match_how how_of(enum round r)
{
    switch (r) {
    case R_PROVIDER_ID:
        return NH_KUBE_MATCH_PROVIDER_ID;
    case R_IP:
        return NH_KUBE_MATCH_INTERNAL_IP;
    case R_NAME:
        return NH_KUBE_MATCH_NAME;
    }
    return NH_KUBE_MATCH_NONE;
}

void nh_kube_match_nodes(const struct nh_kube_node *nodes, size_t n_nodes,
                         const struct nh_kube_cloud_ref *cloud, size_t n_cloud,
                         struct nh_kube_match *ret)
{
    bool *settled = calloc(n_cloud ? n_cloud : 1, sizeof(*settled));
    bool *taken = calloc(n_nodes ? n_nodes : 1, sizeof(*taken));
    /* Kubernetes nodes whose providerID names some cloud node of the list:
     * never offered to another cloud node by IP or name. */
    bool *named = calloc(n_nodes ? n_nodes : 1, sizeof(*named));
    for (size_t i = 0; i < n_cloud; i++)
        ret[i] = (struct nh_kube_match){.how = NH_KUBE_MATCH_NONE, .index = -1};
    if (settled == NULL || taken == NULL || named == NULL) {
        free(settled); /* out of memory: nothing matched, which fails closed */
        free(taken);
        free(named);
        return;
    }
    for (size_t k = 0; k < n_nodes; k++)
        for (size_t i = 0; i < n_cloud && !named[k]; i++)
            named[k] = nh_kube_provider_id_names(nodes[k].provider_id, cloud[i].instance_id);

    bool provider_ids_in_use = false;
    for (int r = R_PROVIDER_ID; r <= R_NAME; r++) {
        /* This round's candidates, decided against the state before it. */
        long *pick = calloc(n_cloud ? n_cloud : 1, sizeof(*pick));
        if (pick == NULL)
            break; /* fail closed: whatever is not settled stays NONE */
        for (size_t i = 0; i < n_cloud; i++) {
            pick[i] = -1;
            if (settled[i])
                continue;
            size_t found = 0;
            for (size_t k = 0; k < n_nodes; k++) {
                if (taken[k] || !candidate(&nodes[k], &cloud[i], (enum round)r))
                    continue;
                if (r != R_PROVIDER_ID && has(nodes[k].provider_id) &&
                    (provider_ids_in_use || named[k]))
                    continue;
                if (found++ == 0)
                    pick[i] = (long)k;
            }
            if (found > 1) {
                settled[i] = true;
                ret[i].how = NH_KUBE_MATCH_AMBIGUOUS;
                pick[i] = -1;
            }
        }
        /* One Kubernetes node picked by two cloud nodes: neither takes it. */
        for (size_t i = 0; i < n_cloud; i++) {
            if (pick[i] < 0)
                continue;
            bool dup = false;
            for (size_t j = 0; j < n_cloud; j++)
                if (j != i && pick[j] == pick[i])
                    dup = true;
            if (dup) {
                settled[i] = true;
                ret[i].how = NH_KUBE_MATCH_AMBIGUOUS;
                continue;
            }
        }
        for (size_t i = 0; i < n_cloud; i++) {
            if (pick[i] < 0 || settled[i])
                continue;
            settled[i] = true;
            taken[pick[i]] = true;
            ret[i].how = how_of((enum round)r);
            ret[i].index = pick[i];
            if (r == R_PROVIDER_ID)
                provider_ids_in_use = true;
        }
        free(pick);
    }
    free(settled);
    free(taken);
    free(named);
}
