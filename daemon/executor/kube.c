/* kube.c - a cluster's Kubernetes API in the engine (issue #20): one
 * client per cluster with `kubernetes:`, its credentials (fetched from the
 * cloud and renewed before they expire, or the operator's kubeconfig
 * secret), and the Kubernetes half of every observation.
 *
 * An observation of such a cluster is the cloud's node list plus:
 *  - the Kubernetes nodes, matched to the cloud's (nh_kube_match_nodes:
 *    providerID, then InternalIP, then name). A cloud node with no match,
 *    or an ambiguous one, is held (kube_hold: never a victim) and not Ready;
 *    a matched node takes its Kubernetes labels (protect_labels), is held
 *    when its annotations protect it (nh_kube_node_protected), and is not
 *    Ready while Kubernetes does not say Ready;
 *  - the pods of candidate victims only: the removable nodes of a group
 *    that has more nodes than declared, or that remove: names. A node
 *    running a pod that blocks a drain is held with the pod's name; the
 *    pods that would have to move are counted (emptiest).
 * Any failed or incomplete Kubernetes read makes the observation
 * incomplete: nothing is planned on it (fail closed). A complete one sets
 * obs->kube_read.
 *
 * Reads only. Cordons and evictions (the drain before a removal) go
 * through the drain engine and the leadership gate; they are not made
 * here. Nothing of the credentials reaches a log line, the status, the
 * metrics or the journal: messages name the cluster, the call and the
 * status (nh_kube's messages), or the kubeconfig's safe description. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>

#include <openssl/evp.h>

#include "executor/engine_int.h"
#include "kube/drain.h"
#include "kube/kube.h"
#include "ops/metrics.h"
#include "util/clock.h"
#include "util/log.h"

/* A cloud node as its Kubernetes node was last seen. */
struct kname {
    char *id;     /* the cloud's node id */
    char *kname;  /* the Kubernetes node name */
    bool ours;    /* cordoned by nodeherd for this cluster (nodeherd.io/draining = op id) */
    bool overdue; /* not Ready past ready_timeout at that read (warned once) */
};

/* One drain before a removal (nodeherd's own drain, issue #20). */
enum kd_state {
    KD_RECORDING, /* its record is being written: no cordon before it is durable */
    KD_RUNNING,   /* the drain engine runs */
    KD_DRAINED,   /* drained: removed after a fresh observation */
    KD_PARKED,    /* its record is open, nothing runs: resumed or undone on a plan */
};
struct kdrain {
    struct kdrain *next;
    struct cl *c;
    char *id, *kname;
    enum kd_state st;
    uint64_t token;   /* tells its record's write which drain it was for */
    struct nh_op rec; /* its drain record; rec.seq 0: none written (yet), or closed */
    struct nh_drain *d;
    uint64_t drained_at; /* loop ms */
    size_t pods_left;
    char held[160]; /* "ns/name" of the pod a budget holds, or "" */
    char pool[128]; /* the node's pool name when the drain started; "": outside pools */
    bool counted;   /* pods_left is known (a first progress came) */
};

/* A node whose drain did not finish: not chosen again before `until`. */
struct kcool {
    struct kcool *next;
    char *id;
    uint64_t until; /* loop ms */
    char why[200];
};

/* A node the cloud reports running that Kubernetes has not seen Ready
 * kubernetes.ready_timeout (default 15 min) after its creation is reported
 * and treated as unhealthy: the first victim of a later scale-in (issue #20). */

struct cl_kube {
    struct nh_kube *client;
    int64_t expires;  /* unix s: the credentials end; 0: not known to */
    int64_t renew_at; /* unix s: fetch new ones from then on; 0: never */
    /* the kubeconfig secret the client was built from (SHA-256 of its bytes) */
    unsigned char secret_sum[32];
    bool from_secret;
    enum nh_kube_network network; /* what fetched credentials were asked for */
    bool fetching;                /* a provider kubeconfig call is in flight */

    /* the read in progress (one at a time: c->observing) */
    struct cl *c;
    struct nh_observed *obs; /* owned while reading */
    ex__cl_kube_done_fn done;
    struct nh_kube_node_list *nodes;
    size_t *pod_nodes; /* indices into obs->nodes whose pods are read */
    size_t n_pod_nodes, pod_next;
    long *match;   /* per cloud node: index into nodes, -1 */
    bool *overdue; /* per cloud node: not Ready past ready_timeout */
    bool reading;
    uint64_t seq; /* bumps when the client is replaced or freed: stale callbacks */

    char reach[200]; /* "" while reachable; else why not (safe to show) */
    bool reach_known;

    /* drains (ex__cl_kube_act) */
    struct kname *names; /* from the last complete read */
    size_t n_names;
    struct kdrain *drains;
    struct kcool *cool;
    uint64_t next_token;
    char op_id[80]; /* "nodeherd.<cluster>": the cordon annotation's value */
    /* ex__cl_kube_release asked while a read was in flight: done when it ends */
    bool release_pending;
    char release_why[120];
};

static void release_now(struct cl *c);
static void kd_free(struct kdrain *kd);
static const struct kname *name_of(const struct cl_kube *k, const char *id);

/* ---------- helpers ---------- */

static void secret_sum(const struct nh_secret *s, unsigned char out[32])
{
    size_t n = 0;
    const unsigned char *b = nh_secret_bytes(s, &n);
    unsigned int len = 32;
    memset(out, 0, 32);
    (void)EVP_Digest(b, n, out, &len, EVP_sha256(), NULL);
}

static void set_reach(struct cl *c, bool ok, const char *why)
{
    struct cl_kube *k = c->kube;
    char old[sizeof(k->reach)];
    snprintf(old, sizeof(old), "%s", k->reach);
    snprintf(k->reach, sizeof(k->reach), "%s", ok ? "" : why);
    if (k->reach_known && strcmp(old, k->reach) == 0)
        return;
    k->reach_known = true;
    if (ok)
        nh_log(LOG_NOTICE, "%s: Kubernetes API reachable (%s)", c->name,
               k->client != NULL ? nh_kube_describe(k->client) : "?");
    else
        nh_log(LOG_WARNING, "%s: Kubernetes API not usable: %s; nothing is removed until it is",
               c->name, k->reach);
    nh_metrics_set("nodeherd_kube_reachable", ok ? 1 : 0, "cluster", c->name, NULL);
}

static void read_end(struct cl *c, const char *fail_why)
{
    struct cl_kube *k = c->kube;
    struct nh_observed *obs = k->obs;
    ex__cl_kube_done_fn done = k->done;

    k->obs = NULL;
    k->done = NULL;
    k->reading = false;
    nh_kube_node_list_free(k->nodes);
    k->nodes = NULL;
    free(k->pod_nodes);
    k->pod_nodes = NULL;
    k->n_pod_nodes = k->pod_next = 0;
    free(k->match);
    k->match = NULL;
    free(k->overdue);
    k->overdue = NULL;
    if (fail_why != NULL) {
        obs->complete = false;
        obs->kube_read = false;
        snprintf(obs->why, sizeof(obs->why), "Kubernetes: %.240s", fail_why);
        set_reach(c, false, fail_why);
    } else {
        size_t held = 0;
        obs->kube_read = true;
        set_reach(c, true, NULL);
        for (size_t i = 0; i < obs->n_nodes; i++)
            held += obs->nodes[i].kube_hold != NULL;
        nh_metrics_set("nodeherd_kube_held_nodes", (double)held, "cluster", c->name, NULL);
    }
    if (k->release_pending)
        release_now(c); /* before done: it may free the cluster */
    done(c, obs);
}

/* What of a failed Kubernetes call may be shown in the plan and the status
 * (issue 23's rule: what a server chose to say goes to the log only): the
 * call, the outcome's name and the HTTP status. */
static void kube_failed(struct cl *c, const char *call, const struct nh_kube_result *r)
{
    char pub[200];
    if (r->http_status > 0)
        snprintf(pub, sizeof(pub), "%s: %s (HTTP %d)", call, nh_kube_code_name(r->code),
                 r->http_status);
    else
        snprintf(pub, sizeof(pub), "%s: %s", call, nh_kube_code_name(r->code));
    nh_log(LOG_DEBUG, "%s: %s", c->name, r->message != NULL ? r->message : pub);
    read_end(c, pub);
}

static int set_hold(struct nh_node *n, const char *why)
{
    if (n->kube_hold != NULL)
        return 0; /* the first reason stays */
    n->kube_hold = strdup(why);
    return n->kube_hold != NULL ? 0 : -ENOMEM;
}

/* ---------- candidate victims ---------- */

static bool live(const struct nh_node *n)
{
    return n->worker && n->health != NH_NODE_REMOVING;
}

static bool listed(const struct nh_cfg_cluster *cfg, const struct nh_node *n)
{
    for (size_t i = 0; i < cfg->n_remove; i++)
        if ((n->id != NULL && strcmp(cfg->remove[i], n->id) == 0) ||
            (n->name != NULL && strcmp(cfg->remove[i], n->name) == 0))
            return true;
    return false;
}

static const struct nh_obs_pool *obs_pool_of(const struct nh_observed *o,
                                             const struct nh_cfg_pool *p)
{
    for (size_t i = 0; i < o->n_pools; i++) {
        const struct nh_obs_pool *op = &o->pools[i];
        if ((p->id != NULL && op->id != NULL && strcmp(p->id, op->id) == 0) ||
            (p->id == NULL && op->name != NULL && strcmp(p->name, op->name) == 0))
            return op;
    }
    return NULL;
}

/* Whether the group of n (the workers outside pools, or its pool) has more
 * live nodes than declared: then its nodes are candidate victims. */
static bool in_shrinking_group(const struct nh_cfg_cluster *cfg, const struct nh_observed *o,
                               const struct nh_node *n)
{
    if (n->pool_id == NULL) {
        int have = 0;
        if (cfg->workers < 0)
            return false;
        for (size_t i = 0; i < o->n_nodes; i++)
            have += o->nodes[i].pool_id == NULL && live(&o->nodes[i]);
        return have > cfg->workers;
    }
    for (size_t i = 0; i < cfg->n_pools; i++) {
        const struct nh_obs_pool *op = obs_pool_of(o, &cfg->pools[i]);
        int have = 0;
        if (op == NULL || op->id == NULL || strcmp(op->id, n->pool_id) != 0)
            continue;
        if (cfg->pools[i].nodes < 0)
            return false;
        for (size_t j = 0; j < o->n_nodes; j++)
            have += o->nodes[j].pool_id != NULL && strcmp(o->nodes[j].pool_id, op->id) == 0 &&
                    live(&o->nodes[j]);
        return have > cfg->pools[i].nodes;
    }
    /* an undeclared pool: its nodes go only with the pool (prune) */
    return false;
}

/* ---------- pods ---------- */

static void read_next_pods(struct cl *c);

/* The context of one call made for a read (Kubernetes lists, the cloud's
 * credentials): the cluster and the read's generation (cl_kube.seq), so
 * that an answer arriving after the client was replaced or freed is
 * recognised as stale. */
struct kcall {
    struct cl *c;
    uint64_t seq;
};

static struct kcall *kcall_new(struct cl *c)
{
    struct kcall *kc = malloc(sizeof(*kc));
    if (kc != NULL) {
        kc->c = c;
        kc->seq = c->kube->seq;
    }
    return kc;
}

/* Frees the context; its cluster, and the generation in *seq. */
static struct cl *kcall_end(void *ud, uint64_t *seq)
{
    struct kcall *kc = ud;
    struct cl *c = kc->c;
    *seq = kc->seq;
    free(kc);
    return c;
}

/* Whether an answer of generation seq is still for the current read. */
static bool kcall_current(const struct cl *c, uint64_t seq)
{
    return c->kube != NULL && c->kube->seq == seq;
}

static void on_pods(void *ud, const struct nh_kube_result *r, struct nh_kube_pod_list *pods)
{
    uint64_t seq;
    struct cl *c = kcall_end(ud, &seq);
    if (!kcall_current(c, seq)) {
        nh_kube_pod_list_free(pods);
        return; /* the read ended with the client (ex__cl_kube_cancel) */
    }
    struct cl_kube *k = c->kube;
    if (r->code != NH_KUBE_OK) {
        nh_kube_pod_list_free(pods);
        kube_failed(c, "listing the pods of a candidate victim", r);
        return;
    }
    struct nh_node *n = &k->obs->nodes[k->pod_nodes[k->pod_next]];
    char why[300];
    const struct nh_kube_pod *blocking = nh_kube_pods_blocking(pods, why, sizeof(why));
    n->kube_pods_known = true;
    n->kube_pods = (int)nh_kube_pods_counting(pods);
    nh_kube_pod_list_free(pods);
    if (blocking != NULL && set_hold(n, why) < 0) {
        read_end(c, "out of memory");
        return;
    }
    k->pod_next++;
    read_next_pods(c);
}

static void read_next_pods(struct cl *c)
{
    struct cl_kube *k = c->kube;
    if (k->pod_next >= k->n_pod_nodes) {
        read_end(c, NULL);
        return;
    }
    const struct nh_kube_node *kn = &k->nodes->items[k->match[k->pod_nodes[k->pod_next]]];
    struct kcall *pc = kcall_new(c);
    if (pc == NULL) {
        read_end(c, "out of memory");
        return;
    }
    int r = nh_kube_list_pods(k->client, kn->name, on_pods, pc);
    if (r < 0) {
        free(pc);
        read_end(c, "the pods of a node could not be listed");
    }
}

/* ---------- nodes ---------- */

static int apply_node(struct cl *c, struct nh_node *n, enum nh_kube_match_how how, long idx)
{
    struct cl_kube *k = c->kube;
    const struct nh_cfg_scale_in *si = &c->cfg->scale_in;
    char why[300];

    if (!n->worker)
        return 0;
    if (how == NH_KUBE_MATCH_NONE || how == NH_KUBE_MATCH_AMBIGUOUS) {
        if (n->health == NH_NODE_READY)
            n->health = NH_NODE_PENDING; /* not Ready until Kubernetes says so */
        return set_hold(n, how == NH_KUBE_MATCH_NONE
                               ? "no Kubernetes node matches it (providerID, InternalIP, name)"
                               : "two or more Kubernetes nodes could be it");
    }
    const struct nh_kube_node *kn = &k->nodes->items[idx];
    /* Its Kubernetes labels replace whatever the cloud said. */
    for (size_t i = 0; i < n->n_labels; i++) {
        free(n->labels[i].key);
        free(n->labels[i].value);
    }
    free(n->labels);
    n->labels = NULL;
    n->n_labels = 0;
    if (kn->n_labels > 0) {
        n->labels = calloc(kn->n_labels, sizeof(*n->labels));
        if (n->labels == NULL)
            return -ENOMEM;
        bool ok = true;
        for (size_t i = 0; i < kn->n_labels; i++) {
            n->labels[i].key = nh_model_dup(kn->labels[i].key, &ok);
            n->labels[i].value = nh_model_dup(kn->labels[i].value, &ok);
            n->n_labels++;
        }
        if (!ok)
            return -ENOMEM;
    }
    /* Protection by label (the list, or its default) and by the
     * annotations cluster-autoscaler and Karpenter users set. */
    const char *labels[64 + 1];
    char buf[64][320];
    size_t nl = 0;
    for (size_t i = 0; i < si->n_protect_labels && nl < 64; i++, nl++) {
        if (si->protect_labels[i].value != NULL)
            snprintf(buf[nl], sizeof(buf[nl]), "%s=%s", si->protect_labels[i].key,
                     si->protect_labels[i].value);
        else
            snprintf(buf[nl], sizeof(buf[nl]), "%s", si->protect_labels[i].key);
        labels[nl] = buf[nl];
    }
    labels[nl] = NULL;
    if (nh_kube_node_protected(kn, labels, why, sizeof(why)) && set_hold(n, why) < 0)
        return -ENOMEM;
    /* Not Ready in Kubernetes: pending (a node boots NotReady until its
     * network is up) until kubernetes.ready_timeout after its creation,
     * then unhealthy and reported. Without a creation time, NotReady is
     * unhealthy at once, as before the bound was configurable. */
    if (n->health == NH_NODE_READY && kn->ready != NH_KUBE_READY_TRUE) {
        int64_t now = time(NULL);
        int64_t bound = (int64_t)(c->cfg->kube.ready_timeout_ms / 1000);
        bool overdue =
            n->created > 0 ? now - n->created >= bound : kn->ready == NH_KUBE_READY_FALSE;
        n->health = overdue ? NH_NODE_UNHEALTHY : NH_NODE_PENDING;
        if (overdue && n->created > 0) {
            /* Once per node while it stays overdue, not on every read: the
             * status document and the plan's note keep saying it. */
            const struct kname *was = n->id != NULL ? name_of(k, n->id) : NULL;
            k->overdue[n - k->obs->nodes] = true;
            nh_log(was != NULL && was->overdue ? LOG_DEBUG : LOG_WARNING,
                   "%s: node %s runs in the cloud but Kubernetes has not seen it Ready %lld s "
                   "after its creation (ready_timeout %lld s): counted unhealthy (the first "
                   "victim of a scale-in)",
                   c->name, kn->name, (long long)(now - n->created), (long long)bound);
        }
    }
    return 0;
}

static void names_clear(struct cl_kube *k)
{
    for (size_t i = 0; i < k->n_names; i++) {
        free(k->names[i].id);
        free(k->names[i].kname);
    }
    free(k->names);
    k->names = NULL;
    k->n_names = 0;
}

static const struct kname *name_of(const struct cl_kube *k, const char *id)
{
    for (size_t i = 0; i < k->n_names; i++)
        if (strcmp(k->names[i].id, id) == 0)
            return &k->names[i];
    return NULL;
}

/* Which Kubernetes node each matched cloud node is, and whether it carries
 * our cordon; nodes cooling down after a drain that did not finish are held. */
static int remember_names(struct cl *c)
{
    struct cl_kube *k = c->kube;
    struct nh_observed *o = k->obs;
    uint64_t now = uv_now(c->e->loop);

    snprintf(k->op_id, sizeof(k->op_id), "nodeherd.%s", c->name);
    names_clear(k);
    k->names = calloc(o->n_nodes ? o->n_nodes : 1, sizeof(*k->names));
    if (k->names == NULL)
        return -ENOMEM;
    for (size_t i = 0; i < o->n_nodes; i++) {
        if (k->match[i] < 0 || o->nodes[i].id == NULL)
            continue;
        const struct nh_kube_node *kn = &k->nodes->items[k->match[i]];
        const char *mark = nh_kube_node_annotation(kn, NH_KUBE_ANN_DRAINING);
        struct kname *e = &k->names[k->n_names];
        e->id = strdup(o->nodes[i].id);
        e->kname = strdup(kn->name);
        if (e->id == NULL || e->kname == NULL) {
            free(e->id);
            free(e->kname);
            return -ENOMEM;
        }
        e->ours = mark != NULL && strcmp(mark, k->op_id) == 0;
        e->overdue = k->overdue[i];
        k->n_names++;
        for (struct kcool *w = k->cool; w != NULL; w = w->next)
            if (w->until > now && strcmp(w->id, o->nodes[i].id) == 0 &&
                set_hold(&o->nodes[i], w->why) < 0)
                return -ENOMEM;
    }
    return 0;
}

static void on_nodes(void *ud, const struct nh_kube_result *r, struct nh_kube_node_list *nodes)
{
    uint64_t seq;
    struct cl *c = kcall_end(ud, &seq);
    if (!kcall_current(c, seq)) {
        nh_kube_node_list_free(nodes);
        return; /* the read ended with the client (ex__cl_kube_cancel) */
    }
    struct cl_kube *k = c->kube;
    struct nh_observed *o = k->obs;
    if (r->code != NH_KUBE_OK || c->cfg == NULL) {
        nh_kube_node_list_free(nodes);
        if (c->cfg == NULL)
            read_end(c, "the cluster was removed");
        else
            kube_failed(c, "listing the nodes", r);
        return;
    }
    k->nodes = nodes;
    struct nh_kube_cloud_ref *refs = calloc(o->n_nodes ? o->n_nodes : 1, sizeof(*refs));
    struct nh_kube_match *m = calloc(o->n_nodes ? o->n_nodes : 1, sizeof(*m));
    k->match = calloc(o->n_nodes ? o->n_nodes : 1, sizeof(*k->match));
    k->overdue = calloc(o->n_nodes ? o->n_nodes : 1, sizeof(*k->overdue));
    k->pod_nodes = calloc(o->n_nodes ? o->n_nodes : 1, sizeof(*k->pod_nodes));
    if (refs == NULL || m == NULL || k->match == NULL || k->overdue == NULL ||
        k->pod_nodes == NULL) {
        free(refs);
        free(m);
        read_end(c, "out of memory");
        return;
    }
    for (size_t i = 0; i < o->n_nodes; i++) {
        refs[i].instance_id = o->nodes[i].server_id;
        refs[i].private_ip = o->nodes[i].private_ip;
        /* ACK node_name is the Kubernetes node name; CCE's metadata.name
         * is CCE's own, and its Kubernetes name is usually the address
         * (matched above by InternalIP). */
        refs[i].name =
            c->prov != NULL && c->prov->kind == NH_PROVIDER_ACK ? o->nodes[i].name : NULL;
    }
    nh_kube_match_nodes(nodes->items, nodes->n, refs, o->n_nodes, m);
    free(refs);
    int err = 0;
    for (size_t i = 0; i < o->n_nodes && err == 0; i++) {
        k->match[i] = m[i].index;
        err = apply_node(c, &o->nodes[i], m[i].how, m[i].index);
    }
    free(m);
    if (err == 0)
        err = remember_names(c);
    if (err < 0) {
        read_end(c, "out of memory");
        return;
    }
    /* Pods only for candidate victims. */
    for (size_t i = 0; i < o->n_nodes; i++) {
        const struct nh_node *n = &o->nodes[i];
        if (!live(n) || n->kube_hold != NULL || k->match[i] < 0)
            continue;
        if (listed(c->cfg, n) || in_shrinking_group(c->cfg, o, n))
            k->pod_nodes[k->n_pod_nodes++] = i;
    }
    read_next_pods(c);
}

static void list_nodes(struct cl *c)
{
    struct cl_kube *k = c->kube;
    struct kcall *pc = kcall_new(c);
    if (pc == NULL) {
        read_end(c, "out of memory");
        return;
    }
    if (nh_kube_list_nodes(k->client, on_nodes, pc) < 0) {
        free(pc);
        read_end(c, "the nodes could not be listed");
    }
}

/* ---------- credentials ---------- */

static int client_from(struct cl *c, struct nh_kubeconfig *kc)
{
    struct cl_kube *k = c->kube;
    if (k->client != NULL) {
        nh_kube_set_credentials(k->client, kc);
        return 0;
    }
    struct nh_kube_opts ko = {.name = c->name, .timeout_ms = c->cfg->kube.request_timeout_ms};
    int r = nh_kube_new(c->e->loop, c->e->o.http, kc, &ko, &k->client);
    /* Cordons, uncordons and evictions are fenced like cloud mutations. */
    if (r == 0 && c->e->o.fence != NULL)
        nh_kube_set_gate(k->client, c->e->o.fence, c->e->o.ud);
    return r;
}

static void on_credentials(void *ud, const struct nh_prov_error *err, struct nh_prov_kubeconfig *pk)
{
    uint64_t seq;
    struct cl *c = kcall_end(ud, &seq);
    if (c->kube == NULL)
        return;
    struct cl_kube *k = c->kube;
    k->fetching = false;
    if (!kcall_current(c, seq) || !k->reading)
        return;
    int64_t now = time(NULL);
    if (err != NULL && err->cls != NH_ERR_NONE) {
        char pub[200], why[240];
        if (err->cls == NH_ERR_CANCELLED) {
            read_end(c, "cancelled");
            return;
        }
        ex__err_public(err, pub, sizeof(pub));
        snprintf(why, sizeof(why), "credentials from the cloud: %s", pub);
        /* Old credentials still valid: go on with them, try again next time. */
        if (k->client != NULL && (k->expires == 0 || now < k->expires - 60)) {
            nh_log(LOG_WARNING,
                   "%s: renewing the Kubernetes credentials failed (%s); the "
                   "current ones are used until they expire",
                   c->name, pub);
            list_nodes(c);
            return;
        }
        read_end(c, why);
        return;
    }
    char msg[512];
    char source[160];
    struct nh_kubeconfig *kc = NULL;
    size_t n = 0;
    const unsigned char *b = nh_secret_bytes(pk->data, &n);
    snprintf(source, sizeof(source), "%s for cluster %s",
             pk->json ? "CCE CreateKubernetesClusterCert" : "ACK DescribeClusterUserKubeconfig",
             c->name);
    int r =
        nh_kubeconfig_parse((const char *)b, n, pk->json ? NH_KUBECONFIG_JSON : NH_KUBECONFIG_YAML,
                            pk->context, source, &kc, msg, sizeof(msg));
    nh_secret_free(pk->data);
    pk->data = NULL;
    if (r < 0) {
        read_end(c, msg);
        return;
    }
    int64_t exp = pk->expires;
    int64_t na = nh_kubeconfig_cert_not_after(kc);
    if (na > 0 && (exp == 0 || na < exp))
        exp = na;
    if (client_from(c, kc) < 0) {
        read_end(c, "the Kubernetes client could not be made");
        return;
    }
    k->from_secret = false;
    k->expires = exp;
    /* Renew when a third of the lifetime is left (at least a minute before). */
    k->renew_at = exp > now ? now + (exp - now) * 2 / 3 : now;
    nh_log(LOG_INFO, "%s: Kubernetes credentials from the cloud (%s), valid %s%lld s", c->name,
           nh_kube_describe(k->client), exp ? "for " : "without a stated end",
           (long long)(exp ? exp - now : 0));
    list_nodes(c);
}

/* ---------- entry points ---------- */

void ex__cl_kube_read(struct cl *c, struct nh_observed *obs, ex__cl_kube_done_fn done)
{
    struct cl_kube *k = c->kube;
    const struct nh_cfg_kube *kcfg = &c->cfg->kube;
    int64_t now = time(NULL);

    if (k == NULL) {
        k = c->kube = calloc(1, sizeof(*k));
        if (k == NULL) {
            obs->complete = false;
            snprintf(obs->why, sizeof(obs->why), "Kubernetes: out of memory");
            done(c, obs);
            return;
        }
    }
    k->c = c;
    k->obs = obs;
    k->done = done;
    k->reading = true;
    nh_kube_set_timeout(k->client, kcfg->request_timeout_ms); /* a reload may change it */

    if (!kcfg->from_cloud) {
        unsigned char sum[32];
        if (kcfg->kubeconfig == NULL) {
            read_end(c, "no kubeconfig");
            return;
        }
        secret_sum(kcfg->kubeconfig, sum);
        if (k->client == NULL || !k->from_secret || memcmp(sum, k->secret_sum, 32) != 0) {
            char msg[512], source[160];
            struct nh_kubeconfig *kc = NULL;
            size_t n = 0;
            const unsigned char *b = nh_secret_bytes(kcfg->kubeconfig, &n);
            snprintf(source, sizeof(source), "kubeconfig (%s)",
                     nh_secret_describe(kcfg->kubeconfig));
            if (nh_kubeconfig_parse((const char *)b, n, NH_KUBECONFIG_AUTO, NULL, source, &kc, msg,
                                    sizeof(msg)) < 0) {
                read_end(c, msg);
                return;
            }
            if (client_from(c, kc) < 0) {
                read_end(c, "the Kubernetes client could not be made");
                return;
            }
            memcpy(k->secret_sum, sum, 32);
            k->from_secret = true;
            k->expires = nh_kubeconfig_cert_not_after(kc);
            k->renew_at = 0;
        }
        list_nodes(c);
        return;
    }
    if (k->client == NULL || k->from_secret || k->network != kcfg->network ||
        (k->renew_at != 0 && now >= k->renew_at)) {
        if (c->prov == NULL || c->prov->ops->kubeconfig == NULL) {
            read_end(c, "the provider cannot fetch Kubernetes credentials");
            return;
        }
        struct kcall *cc = kcall_new(c);
        if (cc == NULL) {
            read_end(c, "out of memory");
            return;
        }
        k->fetching = true;
        k->network = kcfg->network;
        int r = c->prov->ops->kubeconfig(c->prov, c->cfg, on_credentials, cc);
        if (r < 0) {
            k->fetching = false;
            free(cc);
            read_end(c, "the credentials could not be requested from the cloud");
        }
        return;
    }
    list_nodes(c);
}

/* Ends what is in flight (a read in progress ends as incomplete) and frees
 * the client. The provider's credential call, if any, ends by itself
 * (its callback finds seq changed). */
void ex__cl_kube_drains_stop(struct cl *c);

void ex__cl_kube_cancel(struct cl *c)
{
    struct cl_kube *k = c->kube;
    if (k == NULL)
        return;
    ex__cl_kube_drains_stop(c);
    k->seq++;
    struct nh_kube *client = k->client;
    k->client = NULL;
    nh_kube_free(client); /* stale callbacks: CANCELLED, ignored */
    if (k->reading)
        read_end(c, "cancelled");
}

void ex__cl_kube_free(struct cl *c)
{
    if (c->kube == NULL)
        return;
    ex__cl_kube_cancel(c);
    while (c->kube->drains != NULL) { /* parked: their records stay open in the journal */
        struct kdrain *kd = c->kube->drains;
        c->kube->drains = kd->next;
        if (kd->d != NULL)
            nh_drain_free(kd->d);
        kd_free(kd);
    }
    names_clear(c->kube);
    while (c->kube->cool != NULL) {
        struct kcool *w = c->kube->cool;
        c->kube->cool = w->next;
        free(w->id);
        free(w);
    }
    free(c->kube);
    c->kube = NULL;
}

const char *ex__cl_kube_reach(const struct cl *c)
{
    if (c->kube == NULL || !c->kube->reach_known)
        return NULL;
    return c->kube->reach;
}

/* ---------- drains before removals ---------- */

/* The drain record (issue #20): every drain is journalled, through the
 * executor's one queue of journal writes and the one store (the file
 * journal, or etcd with ha:), as a record of kind "drain"
 * (state/opcodec.h): cluster, pool, node id and name, started, deadline
 * and the cordon annotation value (mark). It is written durably BEFORE
 * the cordon, and closed after the removal op is journalled ("drained"),
 * after the uncordon ("timed-out", "undone"), or when something else took
 * over ("superseded": the node's removal is under way, or the node is
 * gone). A record found open at start or on becoming the leader is
 * adopted (ex__cl_kube_adopt) and, on the next plan, resumed when the plan
 * still chooses the node and the node carries nodeherd's cordon, or else
 * undone. The annotation is the second witness: when the record and the
 * annotation disagree (a record without our cordon, our cordon without
 * an open record) there is no removal, only nodeherd's own cordon is
 * undone (nh_kube_uncordon checks the annotation), and the log says why. */

/* nodeherd_drain_pods_left{cluster,pool,node}: one series per drain of
 * the cluster, rebuilt from its drains whenever one makes progress or
 * ends, so that no series outlives its drain. */
static void drain_metrics(struct cl *c)
{
    nh_metrics_forget("nodeherd_drain_pods_left", "cluster", c->name);
    for (const struct kdrain *kd = c->kube != NULL ? c->kube->drains : NULL; kd != NULL;
         kd = kd->next)
        if (kd->counted)
            nh_metrics_set("nodeherd_drain_pods_left", (double)kd->pods_left, "cluster", c->name,
                           "pool", kd->pool, "node", kd->kname, NULL);
}

/* kd is no longer on the cluster's list (or never was). */
static void kd_free(struct kdrain *kd)
{
    struct cl *c = kd->c;
    free(kd->id);
    free(kd->kname);
    nh_op_clear(&kd->rec);
    free(kd);
    if (c != NULL)
        drain_metrics(c);
}

static void kd_unlink(struct cl_kube *k, struct kdrain *kd)
{
    for (struct kdrain **pp = &k->drains; *pp != NULL; pp = &(*pp)->next)
        if (*pp == kd) {
            *pp = kd->next;
            return;
        }
}

static struct kdrain *kd_find(const struct cl_kube *k, const char *id)
{
    for (struct kdrain *kd = k->drains; kd != NULL; kd = kd->next)
        if (strcmp(kd->id, id) == 0)
            return kd;
    return NULL;
}

static void on_record_closed(struct nh_engine *e, const struct nh_op *w, int r, void *arg)
{
    (void)e;
    (void)arg;
    if (r < 0 && r != -ECANCELED)
        nh_log_errno(LOG_ERR, r,
                     "%s: journal: cannot close drain record %llu (%s); the next start or "
                     "leader finds it open and undoes or resumes it",
                     w->action.cluster, (unsigned long long)w->seq, w->result ? w->result : "");
}

/* Queues the close of a drain record (nothing when none was written). */
static void record_close(struct cl *c, struct nh_op *rec, enum nh_op_state st, const char *result)
{
    if (rec->seq == 0)
        return;
    rec->state = st;
    rec->updated_ms = nh_wall_ms();
    free(rec->result);
    rec->result = strdup(result);
    if (ex__ops_record(c->e, false, rec, on_record_closed, NULL) < 0)
        nh_log(LOG_ERR,
               "%s: journal: cannot close drain record %llu (out of memory); the next start "
               "or leader undoes or resumes it",
               c->name, (unsigned long long)rec->seq);
    else
        nh_log(LOG_INFO, "%s: drain record %llu closed: %s", c->name, (unsigned long long)rec->seq,
               result);
    rec->seq = 0; /* closed: never twice */
}

static void kd_close(struct cl *c, struct kdrain *kd, enum nh_op_state st, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void kd_close(struct cl *c, struct kdrain *kd, enum nh_op_state st, const char *fmt, ...)
{
    char result[300];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(result, sizeof(result), fmt, ap);
    va_end(ap);
    record_close(c, &kd->rec, st, result);
}

static void cool_down(struct cl *c, const char *id, const char *why)
{
    struct cl_kube *k = c->kube;
    uint64_t now = uv_now(c->e->loop);
    /* as long as a drain may take: the budget or the pod that held it has
     * time to change before the node is chosen again */
    uint64_t wait = c->cfg != NULL ? c->cfg->scale_in.drain_timeout_ms : 600000;
    struct kcool *w = NULL;
    for (w = k->cool; w != NULL && strcmp(w->id, id) != 0; w = w->next)
        ;
    if (w == NULL) {
        w = calloc(1, sizeof(*w));
        if (w == NULL || (w->id = strdup(id)) == NULL) {
            free(w);
            return;
        }
        w->next = k->cool;
        k->cool = w;
    }
    w->until = now + wait;
    snprintf(w->why, sizeof(w->why), "its drain did not finish (%.150s); chosen again later", why);
}

struct uncordon_ctx {
    char *cluster, *kname;
};

static void on_uncordoned(void *ud, const struct nh_kube_result *r)
{
    struct uncordon_ctx *u = ud;
    if (r->code == NH_KUBE_OK)
        nh_log(LOG_NOTICE, "%s: node %s uncordoned (nodeherd's cordon undone)", u->cluster,
               u->kname);
    else if (r->code != NH_KUBE_NOT_OURS && r->code != NH_KUBE_GONE)
        nh_log(LOG_WARNING, "%s: uncordoning node %s failed (%s); tried again next cycle",
               u->cluster, u->kname, nh_kube_code_name(r->code));
    free(u->cluster);
    free(u->kname);
    free(u);
}

/* Undoes nodeherd's cordon of a node (NOT_OURS leaves any other alone). */
static void uncordon(struct cl *c, const char *kname)
{
    struct cl_kube *k = c->kube;
    struct uncordon_ctx *u = calloc(1, sizeof(*u));
    /* the last read's "ours" is stale now: not undone twice on it */
    for (size_t i = 0; i < k->n_names; i++)
        if (strcmp(k->names[i].kname, kname) == 0)
            k->names[i].ours = false;
    if (k->client == NULL || u == NULL) {
        free(u);
        return;
    }
    u->cluster = strdup(c->name);
    u->kname = strdup(kname);
    if (u->cluster == NULL || u->kname == NULL ||
        nh_kube_uncordon(k->client, kname, k->op_id, on_uncordoned, u) < 0) {
        free(u->cluster);
        free(u->kname);
        free(u);
    }
}

static void on_drain_progress(void *ud, const struct nh_drain_progress *p)
{
    struct kdrain *kd = ud;
    kd->pods_left = p->pods_left;
    kd->counted = true;
    snprintf(kd->held, sizeof(kd->held), "%s", p->held_pod != NULL ? p->held_pod : "");
    drain_metrics(kd->c);
}

static void on_drain_done(void *ud, enum nh_drain_outcome o, const struct nh_drain_progress *p)
{
    struct kdrain *kd = ud;
    struct cl *c = kd->c;
    struct cl_kube *k = c->kube;

    /* what the progress says, before the drain goes (p is borrowed from it) */
    char message[400];
    unsigned sent = p->evictions_sent, refused = p->evictions_refused;
    on_drain_progress(kd, p);
    snprintf(message, sizeof(message), "%s", p->message != NULL ? p->message : "");
    nh_drain_free(kd->d);
    kd->d = NULL;
    if (o == NH_DRAIN_DRAINED) {
        kd->st = KD_DRAINED;
        kd->drained_at = uv_now(c->e->loop);
        nh_log(LOG_NOTICE,
               "%s: node %s drained (%u evictions, %u refused by a budget); removal "
               "after a fresh observation",
               c->name, kd->kname, sent, refused);
        if (!c->e->stopping)
            ex__cl_observe_soon(c, 0);
        return;
    }
    if (o == NH_DRAIN_CANCELLED) {
        /* stopping, or no longer the leader: the record stays open and the
         * cordon stays for whoever resumes or undoes it */
        if (c->e->leader && !c->e->stopping && kd->rec.seq != 0) {
            kd->st = KD_PARKED;
            return;
        }
        kd_unlink(k, kd);
        kd_free(kd);
        return;
    }
    kd_unlink(k, kd);
    nh_log(LOG_WARNING, "%s: drain of node %s %s: %s", c->name, kd->kname, nh_drain_outcome_name(o),
           message);
    char why[160];
    snprintf(why, sizeof(why), "%s%s%.100s", nh_drain_outcome_name(o),
             kd->held[0] ? ", held: " : "", kd->held);
    cool_down(c, kd->id, why);
    if (o != NH_DRAIN_NOT_OURS)
        uncordon(c, kd->kname);
    if (o == NH_DRAIN_TIMED_OUT)
        kd_close(c, kd, NH_OP_TIMED_OUT, "timed-out: node %s uncordoned: %.200s", kd->kname,
                 message);
    else if (o == NH_DRAIN_NOT_OURS)
        kd_close(c, kd, NH_OP_FAILED, "undone: node %s is cordoned by someone else", kd->kname);
    else
        kd_close(c, kd, NH_OP_FAILED, "undone: %s, node %s uncordoned: %.200s",
                 nh_drain_outcome_name(o), kd->kname, message);
    kd_free(kd);
}

/* Starts (or resumes) the drain engine of kd, whose record is durable. */
static int drain_run(struct cl *c, struct kdrain *kd)
{
    struct cl_kube *k = c->kube;
    int64_t now = nh_wall_ms();
    uint64_t left = kd->rec.deadline_ms > now ? (uint64_t)(kd->rec.deadline_ms - now) : 1;
    struct nh_drain_opts o = {
        .node = kd->kname,
        .op_id = k->op_id,
        .timeout_ms = kd->rec.deadline_ms > 0 ? left : c->cfg->scale_in.drain_timeout_ms,
    };
    if (k->client == NULL)
        return -ENOTCONN;
    int r = nh_drain_start(c->e->loop, k->client, &o, on_drain_progress, on_drain_done, kd, &kd->d);
    if (r < 0)
        return r;
    kd->st = KD_RUNNING;
    nh_log(LOG_NOTICE, "%s: draining node %s before its removal (timeout %llu s, record %llu)",
           c->name, kd->kname, (unsigned long long)(o.timeout_ms / 1000),
           (unsigned long long)kd->rec.seq);
    return 0;
}

/* The begin record of a drain is written (or not): only now the cordon. */
struct rec_ctx {
    char *cluster;
    uint64_t token;
};

static void on_record_begun(struct nh_engine *e, const struct nh_op *w, int r, void *arg)
{
    struct rec_ctx *rc = arg;
    struct cl *c = r != -ECANCELED ? ex__engine_find_cluster(e, rc->cluster) : NULL;
    struct kdrain *kd = NULL;
    uint64_t token = rc->token;
    free(rc->cluster);
    free(rc);
    if (r == -ECANCELED)
        return; /* teardown: written or not, the next start finds no cordon of it */
    if (c != NULL && c->kube != NULL)
        for (kd = c->kube->drains; kd != NULL && kd->token != token; kd = kd->next)
            ;
    if (r < 0) {
        nh_log_errno(LOG_ERR, r, "%s: journal: cannot record the drain of node %s; not draining it",
                     w->action.cluster, w->action.node_names ? w->action.node_names[0] : "?");
        if (kd != NULL) {
            kd_unlink(c->kube, kd);
            cool_down(c, kd->id, "its drain record could not be written");
            kd_free(kd);
        }
        return;
    }
    if (kd == NULL || kd->st != KD_RECORDING || !e->leader || e->stopping) {
        /* Not wanted any more (or no longer ours to act on): no cordon was
         * sent for it. Closed now by the leader; else left to the next. */
        if (e->leader && !e->stopping) {
            struct nh_op rec;
            if (nh_op_copy(&rec, w) == 0) {
                struct cl tmp = {.e = e, .name = rec.action.cluster};
                record_close(c != NULL ? c : &tmp, &rec, NH_OP_FAILED,
                             "undone: not wanted any more before its cordon");
                nh_op_clear(&rec);
            }
        }
        if (kd != NULL) {
            kd_unlink(c->kube, kd);
            kd_free(kd);
        }
        return;
    }
    kd->rec.seq = w->seq;
    int rr = drain_run(c, kd);
    if (rr < 0) {
        nh_log(LOG_WARNING, "%s: the drain of node %s could not start (%s)", c->name, kd->kname,
               strerror(-rr));
        kd_close(c, kd, NH_OP_FAILED, "undone: the drain could not start (%s)", strerror(-rr));
        kd_unlink(c->kube, kd);
        kd_free(kd);
    }
}

/* A new drain of node id/kname, a victim of a: its record first. */
static int drain_start(struct cl *c, const struct nh_action *a, const char *id, const char *kname)
{
    struct cl_kube *k = c->kube;
    struct kdrain *kd = calloc(1, sizeof(*kd));
    struct rec_ctx *rc = calloc(1, sizeof(*rc));
    bool ok = kd != NULL && rc != NULL;
    if (ok) {
        struct nh_op *rec = &kd->rec;
        kd->id = nh_model_dup(id, &ok);
        kd->kname = nh_model_dup(kname, &ok);
        rec->drain = true;
        rec->action.kind = NH_ACT_REMOVE_NODES;
        rec->action.cluster = nh_model_dup(c->name, &ok);
        rec->action.pool_id = nh_model_dup(a->pool_id, &ok);
        rec->action.pool_name = nh_model_dup(a->pool_name, &ok);
        rec->action.from = a->from;
        rec->action.target = a->target;
        rec->action.pool_nodes = a->pool_nodes;
        rec->action.rule = a->rule;
        snprintf(rec->action.why, sizeof(rec->action.why), "drain before its removal: %.200s",
                 a->why);
        rec->action.node_ids = calloc(1, sizeof(char *));
        rec->action.node_names = calloc(1, sizeof(char *));
        if (rec->action.node_ids != NULL && rec->action.node_names != NULL) {
            rec->action.n_nodes = 1;
            rec->action.node_ids[0] = nh_model_dup(id, &ok);
            rec->action.node_names[0] = nh_model_dup(kname, &ok);
        } else {
            ok = false;
        }
        rec->state = NH_OP_INTENT;
        rec->started_ms = rec->updated_ms = nh_wall_ms();
        rec->deadline_ms = rec->started_ms + (int64_t)c->cfg->scale_in.drain_timeout_ms;
        rec->mark = nh_model_dup(k->op_id, &ok);
        rec->revision = nh_model_dup(c->e->cfg->revision ? c->e->cfg->revision : "", &ok);
        rc->cluster = nh_model_dup(c->name, &ok);
    }
    if (!ok) {
        if (rc != NULL)
            free(rc->cluster);
        free(rc);
        if (kd != NULL)
            kd_free(kd);
        return -ENOMEM;
    }
    kd->c = c;
    kd->token = rc->token = ++k->next_token;
    for (size_t i = 0; i < c->obs.n_nodes; i++) /* the pool's name, for the metrics */
        if (c->obs.nodes[i].id != NULL && strcmp(c->obs.nodes[i].id, id) == 0 &&
            c->obs.nodes[i].pool_id != NULL)
            for (size_t j = 0; j < c->obs.n_pools; j++)
                if (c->obs.pools[j].id != NULL &&
                    strcmp(c->obs.pools[j].id, c->obs.nodes[i].pool_id) == 0)
                    snprintf(kd->pool, sizeof(kd->pool), "%s",
                             c->obs.pools[j].name != NULL ? c->obs.pools[j].name : "");
    kd->next = k->drains;
    k->drains = kd;
    kd->st = KD_RECORDING;
    int r = ex__ops_record(c->e, true, &kd->rec, on_record_begun, rc);
    if (r == -ENOENT) {
        /* no journal (a dry run never drains; kept for completeness) */
        free(rc->cluster);
        free(rc);
        r = drain_run(c, kd);
    } else if (r < 0) {
        free(rc->cluster);
        free(rc);
    }
    if (r < 0) {
        kd_unlink(k, kd);
        kd_free(kd);
        return r;
    }
    return 0;
}

static bool cooling(const struct cl_kube *k, const char *id, uint64_t now)
{
    for (const struct kcool *w = k->cool; w != NULL; w = w->next)
        if (w->until > now && strcmp(w->id, id) == 0)
            return true;
    return false;
}

bool ex__cl_kube_drains(const struct cl *c)
{
    return c->cfg != NULL && c->cfg->kube_access && c->cfg->scale_in.drain;
}

static bool is_victim(const struct nh_plan *plan, const char *id)
{
    for (size_t i = 0; i < plan->n_actions; i++) {
        const struct nh_action *a = &plan->actions[i];
        for (size_t j = 0; a->kind == NH_ACT_REMOVE_NODES && j < a->n_nodes; j++)
            if (a->node_ids[j] != NULL && strcmp(a->node_ids[j], id) == 0)
                return true;
    }
    return false;
}

static void note_drain(struct nh_plan *plan, struct cl *c, const struct kdrain *kd)
{
    struct nh_note *n = nh_plan_add_note(plan);
    if (n == NULL)
        return;
    n->kind = NH_NOTE_WAITING;
    n->rule = NH_RULE_BUSY;
    n->cluster = strdup(c->name);
    if (kd->st == KD_DRAINED)
        snprintf(n->msg, sizeof(n->msg), "node %s drained; removed after a fresh observation",
                 kd->kname);
    else if (kd->st == KD_PARKED || kd->st == KD_RECORDING)
        snprintf(n->msg, sizeof(n->msg), "drain of node %s %s", kd->kname,
                 kd->st == KD_PARKED ? "recorded: resumed or undone on a complete plan"
                                     : "being recorded in the journal before its cordon");
    else
        snprintf(n->msg, sizeof(n->msg), "draining node %s before its removal: %zu pod%s left%s%s",
                 kd->kname, kd->pods_left, kd->pods_left == 1 ? "" : "s",
                 kd->held[0] ? ", a PodDisruptionBudget holds " : "", kd->held);
}

static bool being_removed(const struct cl *c, const char *id);

/* A parked drain (its record open, no drain engine running: adopted from
 * the journal, or stopped while nothing could act) on a plan: resumed,
 * undone, or closed as superseded. undo: the plan is definite. */
static void resolve_parked(struct cl *c, struct kdrain *kd, const struct nh_plan *plan, bool undo)
{
    struct cl_kube *k = c->kube;
    const struct kname *kn = name_of(k, kd->id);
    bool mark_ok = kd->rec.mark != NULL && strcmp(kd->rec.mark, k->op_id) == 0;

    if (being_removed(c, kd->id)) {
        nh_log(LOG_NOTICE, "%s: drain record %llu of node %s: its removal is under way", c->name,
               (unsigned long long)kd->rec.seq, kd->kname);
        kd_close(c, kd, NH_OP_DONE, "superseded: the removal of node %s is journalled", kd->kname);
    } else if (is_victim(plan, kd->id) && kn != NULL && kn->ours && mark_ok &&
               strcmp(kn->kname, kd->kname) == 0) {
        nh_log(LOG_NOTICE, "%s: resuming the drain of node %s (record %llu, cordon still ours)",
               c->name, kd->kname, (unsigned long long)kd->rec.seq);
        int r = drain_run(c, kd);
        if (r == 0)
            return;
        uncordon(c, kd->kname);
        kd_close(c, kd, NH_OP_FAILED, "undone: the drain could not resume (%s)", strerror(-r));
    } else if (is_victim(plan, kd->id)) {
        /* record and annotation disagree: no removal on this record */
        nh_log(LOG_WARNING,
               "%s: drain record %llu of node %s is open but the node %s: no removal on it; "
               "%s, and the node is chosen again on a later plan",
               c->name, (unsigned long long)kd->rec.seq, kd->kname,
               kn == NULL ? "is not matched in Kubernetes"
               : !mark_ok ? "record names another cordon"
                          : "does not carry nodeherd's cordon",
               kn != NULL && kn->ours ? "nodeherd's cordon is undone" : "nothing is uncordoned");
        if (kn != NULL && kn->ours)
            uncordon(c, kd->kname);
        kd_close(c, kd, NH_OP_FAILED,
                 "undone: the record and the node's annotation disagree (no removal)");
    } else if (undo) {
        nh_log(LOG_NOTICE,
               "%s: node %s (drain record %llu) is no longer chosen; nodeherd's cordon is undone",
               c->name, kd->kname, (unsigned long long)kd->rec.seq);
        uncordon(c, kd->kname); /* the annotation is checked: never another's cordon */
        kd_close(c, kd, NH_OP_FAILED, "undone: node %s is no longer chosen; uncordoned", kd->kname);
    } else {
        return; /* the plan says nothing definite: it stays parked */
    }
    kd_unlink(k, kd);
    kd_free(kd);
}

/* Whether this plan may undo drains: not while operations are in flight,
 * the cluster is busy with its own operation, or the observation did not
 * count (the plan says nothing about victims then; drains go on). */
static bool plan_may_undo(const struct cl *c, const struct nh_plan *plan, bool busy)
{
    if (busy || !c->obs.complete)
        return false;
    for (size_t i = 0; i < plan->n_notes; i++)
        if (plan->notes[i].rule == NH_RULE_INCOMPLETE || plan->notes[i].rule == NH_RULE_BUSY ||
            plan->notes[i].rule == NH_RULE_CLUSTER_STATE)
            return false;
    return true;
}

/* Whether every victim of removal a is drained, as seen by an observation
 * made after; starts the drains of those not drained yet. */
static bool victims_drained(struct cl *c, const struct nh_action *a)
{
    struct cl_kube *k = c->kube;
    uint64_t fresh_after = (uint64_t)c->obs.at_ms;
    bool all = a->n_nodes > 0;
    for (size_t j = 0; j < a->n_nodes; j++) {
        const char *id = a->node_ids[j];
        struct kdrain *kd = id != NULL ? kd_find(k, id) : NULL;
        const struct kname *kn = id != NULL ? name_of(k, id) : NULL;
        if (kd == NULL && kn != NULL && cooling(k, id, uv_now(c->e->loop))) {
            all = false; /* its drain just ended unfinished: not again before long */
            continue;
        }
        if (kd == NULL && kn != NULL && kn->ours) {
            all = false; /* nodeherd's cordon without a record: undone below first */
            continue;
        }
        if (kd == NULL && kn != NULL && drain_start(c, a, id, kn->kname) < 0)
            nh_log(LOG_WARNING, "%s: the drain of node %s could not start", c->name, kn->kname);
        kd = id != NULL ? kd_find(k, id) : NULL;
        if (kd == NULL || kd->st != KD_DRAINED || kd->drained_at > fresh_after)
            all = false;
    }
    return all;
}

/* Drained, and still chosen on a later observation: the removal (the
 * cloud's own drain is off: there is nothing left to drain), journalled
 * before the drain records are closed (one queue, in order). */
static void remove_drained(struct cl *c, const struct nh_action *a)
{
    struct cl_kube *k = c->kube;
    int r = ex__ops_start(c, a);
    for (size_t j = 0; j < a->n_nodes; j++) {
        struct kdrain *kd = kd_find(k, a->node_ids[j]);
        if (kd == NULL)
            continue;
        kd_unlink(k, kd);
        if (r == 0) {
            kd_close(c, kd, NH_OP_DONE, "drained: node %s, its removal is journalled", kd->kname);
        } else {
            uncordon(c, kd->kname);
            kd_close(c, kd, NH_OP_FAILED, "undone: its removal could not be started");
        }
        kd_free(kd);
    }
}

/* Drains and cordons the plan no longer wants: undone. A node carrying
 * nodeherd's cordon without an open drain record (the record and the
 * annotation disagree: a record closed, or never read): no removal on it,
 * its cordon undone. */
static void undo_unwanted(struct cl *c, const struct nh_plan *plan)
{
    struct cl_kube *k = c->kube;
    for (struct kdrain *kd = k->drains, *next; kd != NULL; kd = next) {
        next = kd->next;
        if (is_victim(plan, kd->id) || kd->st == KD_PARKED)
            continue;
        nh_log(LOG_NOTICE, "%s: node %s is no longer chosen; its drain stops and it is uncordoned",
               c->name, kd->kname);
        kd_unlink(k, kd);
        if (kd->d != NULL) {
            struct nh_drain *d = kd->d;
            kd->d = NULL;
            nh_drain_free(d); /* cancels quietly: done does not run */
        }
        if (kd->st != KD_RECORDING) { /* a record still being written: no cordon yet; its
                                       * write's end closes it (on_record_begun) */
            uncordon(c, kd->kname);
            kd_close(c, kd, NH_OP_FAILED, "undone: node %s is no longer chosen; uncordoned",
                     kd->kname);
        }
        kd_free(kd);
    }
    for (size_t i = 0; i < k->n_names; i++)
        if (k->names[i].ours && kd_find(k, k->names[i].id) == NULL &&
            !being_removed(c, k->names[i].id)) {
            if (is_victim(plan, k->names[i].id))
                nh_log(LOG_WARNING,
                       "%s: node %s carries nodeherd's cordon but no drain record is open: no "
                       "removal on it; uncordoned, and drained afresh on a later plan",
                       c->name, k->names[i].kname);
            uncordon(c, k->names[i].kname);
        }
}

/* A drain record found open at start for a cluster that no longer drains
 * (its kubernetes: key, or scale_in.drain, went while the daemon was
 * down). With a Kubernetes client, nodeherd's cordon is undone (only its
 * own: the annotation is checked); without one it cannot be, and the log
 * says how. The record is closed either way: should access come back, the
 * annotation alone gets the node uncordoned (undo_unwanted). */
void ex__cl_kube_orphans(struct cl *c)
{
    struct cl_kube *k = c->kube;
    if (k == NULL || ex__cl_kube_drains(c))
        return;
    for (struct kdrain *kd = k->drains, *next; kd != NULL; kd = next) {
        next = kd->next;
        if (kd->st != KD_PARKED)
            continue;
        kd_unlink(k, kd);
        if (k->client != NULL) {
            nh_log(LOG_NOTICE,
                   "%s: drain record %llu of node %s found open, but the cluster no longer "
                   "drains (scale_in.drain: false): nodeherd's cordon is undone",
                   c->name, (unsigned long long)kd->rec.seq, kd->kname);
            uncordon(c, kd->kname);
            kd_close(c, kd, NH_OP_FAILED,
                     "undone: the cluster no longer drains; node %s uncordoned", kd->kname);
        } else {
            nh_log(LOG_WARNING,
                   "%s: drain record %llu of node %s found open, but the cluster has no "
                   "kubernetes: access any more: nodeherd cannot undo its cordon; if the node "
                   "still carries the annotation nodeherd.io/draining, run: kubectl uncordon %s",
                   c->name, (unsigned long long)kd->rec.seq, kd->kname, kd->kname);
            kd_close(c, kd, NH_OP_FAILED,
                     "abandoned: the cluster has no kubernetes: access; node %s may still be "
                     "cordoned (kubectl uncordon %s)",
                     kd->kname, kd->kname);
        }
        kd_free(kd);
    }
}

/* Acting on a plan of a cluster where nodeherd drains (ex__cl_kube_drains):
 * every victim of a removal is drained first (its record, then cordon,
 * evictions honouring PodDisruptionBudgets); the removal goes to the
 * cloud only when all of its victims are drained and an observation made
 * after that still chooses them. A drain the plan no longer chooses is
 * undone (uncordon, record closed); a drain record found open at start is
 * resumed or undone (resolve_parked). A node carrying nodeherd's cordon
 * without an open record is uncordoned, never drained on as it is. Other
 * actions go as they are. Leader only (the caller checks); cordons and
 * evictions are fenced by the client's gate as well. */
void ex__cl_kube_act(struct cl *c, struct nh_plan *plan, bool busy)
{
    struct cl_kube *k = c->kube;

    if (k == NULL || k->client == NULL || !c->obs.kube_read) {
        for (size_t i = 0; i < plan->n_actions; i++)
            if (plan->actions[i].kind != NH_ACT_REMOVE_NODES)
                ex__ops_start(c, &plan->actions[i]);
        return;
    }
    bool undo = plan_may_undo(c, plan, busy);
    for (struct kdrain *kd = k->drains, *next; kd != NULL; kd = next) {
        next = kd->next;
        if (kd->st == KD_PARKED)
            resolve_parked(c, kd, plan, undo);
    }
    for (size_t i = 0; i < plan->n_actions; i++) {
        const struct nh_action *a = &plan->actions[i];
        if (a->kind != NH_ACT_REMOVE_NODES)
            ex__ops_start(c, a);
        else if (victims_drained(c, a))
            remove_drained(c, a);
    }
    if (undo)
        undo_unwanted(c, plan);
    size_t running = 0;
    for (struct kdrain *kd = k->drains; kd != NULL; kd = kd->next) {
        note_drain(plan, c, kd);
        running++;
    }
    if (undo)
        nh_metrics_set("nodeherd_drains_in_progress", (double)running, "cluster", c->name, NULL);
}

/* Stops the drains. Stopping, or no longer the leader: forgotten here,
 * their records stay open and the nodes keep nodeherd's cordon for
 * whoever resumes or undoes them. Still the leader (nothing may act now:
 * suspended, a dry run): parked, resumed or undone on a later plan. */
void ex__cl_kube_drains_stop(struct cl *c)
{
    struct cl_kube *k = c->kube;
    if (k == NULL)
        return;
    bool keep = c->e != NULL && c->e->leader && !c->e->stopping; /* e: NULL at teardown */
    for (struct kdrain *kd = k->drains, *next; kd != NULL; kd = next) {
        next = kd->next;
        if (kd->d != NULL) {
            struct nh_drain *d = kd->d;
            kd->d = NULL;
            nh_drain_free(d); /* quietly: done does not run */
        }
        if (keep && kd->rec.seq != 0 && kd->st != KD_RECORDING) {
            kd->st = KD_PARKED;
            continue;
        }
        kd_unlink(k, kd);
        kd_free(kd);
    }
}

void ex__cl_kube_adopt(struct cl *c, const struct nh_op *rec)
{
    struct cl_kube *k = c->kube;
    const struct nh_action *a = &rec->action;
    if (k == NULL && (k = c->kube = calloc(1, sizeof(*k))) == NULL) {
        nh_log(LOG_ERR, "%s: out of memory adopting drain record %llu", c->name,
               (unsigned long long)rec->seq);
        return;
    }
    k->c = c;
    for (struct kdrain *kd = k->drains; kd != NULL; kd = kd->next)
        if (kd->rec.seq == rec->seq)
            return; /* known already */
    if (a->n_nodes != 1 || a->node_ids == NULL || a->node_names == NULL || a->node_ids[0] == NULL ||
        a->node_names[0] == NULL) {
        /* not what this version writes: nothing to resume; a cordon of
         * ours on a node is undone by the annotation (ex__cl_kube_act) */
        nh_log(LOG_WARNING,
               "%s: drain record %llu names %zu nodes (this version writes one, with id and "
               "name); it stays open in the journal: inspect it",
               c->name, (unsigned long long)rec->seq, a->n_nodes);
        return;
    }
    struct kdrain *kd = calloc(1, sizeof(*kd));
    bool ok = kd != NULL;
    if (ok) {
        kd->id = nh_model_dup(a->node_ids[0], &ok);
        kd->kname = nh_model_dup(a->node_names[0], &ok);
        ok = ok && nh_op_copy(&kd->rec, rec) == 0;
    }
    if (!ok) {
        if (kd != NULL)
            kd_free(kd);
        nh_log(LOG_ERR, "%s: out of memory adopting drain record %llu", c->name,
               (unsigned long long)rec->seq);
        return;
    }
    kd->c = c;
    kd->st = KD_PARKED;
    kd->token = ++k->next_token;
    kd->next = k->drains;
    k->drains = kd;
    nh_log(LOG_NOTICE,
           "%s: drain record %llu of node %s found open (started %lld s ago): resumed if the "
           "plan still chooses the node, else its cordon is undone",
           c->name, (unsigned long long)rec->seq, kd->kname,
           (long long)((nh_wall_ms() - rec->started_ms) / 1000));
}

/* ---------- releases: a cluster that lost its Kubernetes access ---------- */

/* How long a release may take before what it has not uncordoned is
 * reported as left cordoned (each uncordon is bounded by the client's
 * own timeout and attempts; this bounds them all). */
#define NH_KUBE_RELEASE_BOUND_MS 60000

enum rel_state { REL_PENDING, REL_DONE, REL_LEFT };
struct rel_node {
    struct kube_release *rel;
    char *kname;
    enum rel_state st;
    char why[120]; /* REL_LEFT: why (safe to show) */
};

struct kube_release {
    struct kube_release *next;
    struct nh_engine *e;
    struct nh_kube *client; /* owned */
    char *cluster;
    struct rel_node *nodes;
    size_t n, pending;
    uv_timer_t timer;
    bool ending;
};

static void log_left(const char *cluster, const char *kname, const char *why)
{
    nh_log(LOG_WARNING,
           "%s: node %s stays cordoned by nodeherd (%s); undo it with `kubectl uncordon %s` and "
           "`kubectl annotate node %s " NH_KUBE_ANN_DRAINING "-`",
           cluster, kname, why, kname, kname);
}

static void release_closed(uv_handle_t *h)
{
    struct kube_release *rel = h->data;
    for (size_t i = 0; i < rel->n; i++)
        free(rel->nodes[i].kname);
    free(rel->nodes);
    free(rel->cluster);
    free(rel);
}

/* Ends a release: what is still pending is cancelled and reported. */
static void release_end(struct kube_release *rel)
{
    if (rel->ending)
        return;
    rel->ending = true;
    if (rel->e != NULL)
        for (struct kube_release **pp = &rel->e->kube_releases; *pp != NULL; pp = &(*pp)->next)
            if (*pp == rel) {
                *pp = rel->next;
                break;
            }
    struct nh_kube *client = rel->client;
    rel->client = NULL;
    nh_kube_free(client); /* pending uncordons end CANCELLED: left */
    for (size_t i = 0; i < rel->n; i++)
        if (rel->nodes[i].st != REL_DONE)
            log_left(rel->cluster, rel->nodes[i].kname,
                     rel->nodes[i].st == REL_LEFT ? rel->nodes[i].why
                                                  : "its uncordon did not finish in time");
    uv_timer_stop(&rel->timer);
    uv_close((uv_handle_t *)&rel->timer, release_closed);
}

static void release_timer(uv_timer_t *t)
{
    release_end(t->data);
}

static void on_released(void *ud, const struct nh_kube_result *r)
{
    struct rel_node *rn = ud;
    struct kube_release *rel = rn->rel;
    if (r->code == NH_KUBE_OK) {
        rn->st = REL_DONE;
        nh_log(LOG_NOTICE, "%s: node %s uncordoned (nodeherd no longer drains this cluster)",
               rel->cluster, rn->kname);
    } else if (r->code == NH_KUBE_NOT_OURS || r->code == NH_KUBE_GONE) {
        rn->st = REL_DONE; /* someone else's cordon now, or no such node: nothing of ours */
    } else if (r->code == NH_KUBE_CANCELLED) {
        rn->st = REL_LEFT;
        snprintf(rn->why, sizeof(rn->why), "its uncordon did not finish in time");
    } else {
        rn->st = REL_LEFT;
        snprintf(rn->why, sizeof(rn->why), "uncordoning it failed: %s, HTTP %d",
                 nh_kube_code_name(r->code), r->http_status);
    }
    if (rel->pending > 0 && --rel->pending == 0 && !rel->ending)
        uv_timer_start(&rel->timer, release_timer, 0, 0); /* not from inside the client */
}

/* Whether the node is a victim of an open operation (its removal is
 * under way: uncordoning it would only invite pods onto a leaving node). */
static bool being_removed(const struct cl *c, const char *id)
{
    for (const struct opnode *on = c->ops; on != NULL; on = on->next) {
        const struct nh_action *a = &on->op.action;
        for (size_t j = 0; !on->closed && j < a->n_nodes; j++)
            if (a->node_ids[j] != NULL && strcmp(a->node_ids[j], id) == 0)
                return true;
    }
    return false;
}

static int rel_add(struct kube_release *rel, size_t cap, const char *kname)
{
    for (size_t i = 0; i < rel->n; i++)
        if (strcmp(rel->nodes[i].kname, kname) == 0)
            return 0;
    if (rel->n >= cap)
        return 0;
    rel->nodes[rel->n].rel = rel;
    if ((rel->nodes[rel->n].kname = strdup(kname)) == NULL)
        return -ENOMEM;
    rel->n++;
    return 0;
}

static void release_now(struct cl *c)
{
    struct cl_kube *k = c->kube;
    struct nh_engine *e = c->e;
    char why[120];

    snprintf(why, sizeof(why), "%s", k->release_why);
    k->release_pending = false;
    size_t cap = k->n_names;
    for (struct kdrain *kd = k->drains; kd != NULL; kd = kd->next)
        cap++;
    struct kube_release *rel = calloc(1, sizeof(*rel));
    if (rel != NULL && cap > 0)
        rel->nodes = calloc(cap, sizeof(*rel->nodes));
    if (rel == NULL || (cap > 0 && rel->nodes == NULL) ||
        (rel->cluster = strdup(c->name)) == NULL) {
        if (rel != NULL)
            free(rel->nodes);
        free(rel);
        ex__cl_kube_drains_stop(c);
        nh_log(LOG_WARNING, "%s: %s; out of memory: the nodes nodeherd cordoned stay cordoned",
               c->name, why);
        return;
    }
    int err = 0;
    for (struct kdrain *kd = k->drains; kd != NULL && err == 0; kd = kd->next)
        if (!being_removed(c, kd->id))
            err = rel_add(rel, cap, kd->kname);
    for (size_t i = 0; i < k->n_names && err == 0; i++)
        if (k->names[i].ours && !being_removed(c, k->names[i].id))
            err = rel_add(rel, cap, k->names[i].kname);
    /* Their drain records close now (the leader's), before the uncordons
     * are answered: a crash in between leaves nodeherd's cordon without a
     * record, which the next start undoes (ex__cl_kube_act). */
    for (struct kdrain *kd = k->drains; e->leader && !e->stopping && kd != NULL; kd = kd->next) {
        if (being_removed(c, kd->id))
            kd_close(c, kd, NH_OP_DONE, "superseded: the removal of node %s is journalled",
                     kd->kname);
        else
            kd_close(c, kd, NH_OP_FAILED, "undone: %.100s; node %s uncordoned", why, kd->kname);
    }
    ex__cl_kube_drains_stop(c);
    if (rel->n == 0 || err < 0 || !e->leader || e->stopping || k->client == NULL) {
        /* a follower leaves them to the leader (its own reload does this) */
        for (size_t i = 0; i < rel->n; i++) {
            if (e->leader && !e->stopping)
                log_left(c->name, rel->nodes[i].kname,
                         err < 0 ? "out of memory" : "no Kubernetes client to undo it with");
            free(rel->nodes[i].kname);
        }
        free(rel->nodes);
        free(rel->cluster);
        free(rel);
        return;
    }
    nh_log(LOG_NOTICE, "%s: %s; uncordoning the %zu node%s nodeherd cordoned", c->name, why, rel->n,
           rel->n == 1 ? "" : "s");
    /* The client goes with the release; reads (if any) make a new one. */
    rel->e = e;
    rel->client = k->client;
    k->client = NULL;
    k->seq++;
    uv_timer_init(e->loop, &rel->timer);
    rel->timer.data = rel;
    rel->next = e->kube_releases;
    e->kube_releases = rel;
    for (size_t i = 0; i < rel->n; i++) {
        struct rel_node *rn = &rel->nodes[i];
        rel->pending++;
        if (nh_kube_uncordon(rel->client, rn->kname, k->op_id, on_released, rn) < 0) {
            rel->pending--;
            rn->st = REL_LEFT;
            snprintf(rn->why, sizeof(rn->why), "its uncordon could not be sent");
        }
    }
    uv_timer_start(&rel->timer, release_timer, rel->pending > 0 ? NH_KUBE_RELEASE_BOUND_MS : 0, 0);
}

void ex__cl_kube_release(struct cl *c, const char *why)
{
    struct cl_kube *k = c->kube;
    if (k == NULL)
        return;
    snprintf(k->release_why, sizeof(k->release_why), "%s", why);
    if (k->op_id[0] == '\0')
        snprintf(k->op_id, sizeof(k->op_id), "nodeherd.%s", c->name);
    if (k->reading) {
        k->release_pending = true; /* when the read ends (read_end) */
        return;
    }
    release_now(c);
}

void ex__engine_kube_releases_end(struct nh_engine *e)
{
    while (e->kube_releases != NULL)
        release_end(e->kube_releases);
}
