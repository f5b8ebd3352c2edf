/* drain.c - see drain.h. One struct nh_drain per node being drained. It
 * keeps two timers (the deadline and the next step) and counts the client
 * calls whose answers are still to come; its memory goes when both timers
 * are closed and every answer has come (after done, they are ignored). */
#include "kube/drain.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kube/kube.h"
#include "kube/parse.h"

#define DEFAULT_TIMEOUT_MS (10 * 60 * 1000)
#define DEFAULT_RETRY_MS 5000
#define DEFAULT_RELIST_MS 2000
#define DEFAULT_RETRY_MAX_MS 60000
#define MAX_CORDON_TRIES 3
#define WHY_MAX 512
#define MSG_MAX 1400

/* ---- names ---- */

const char *nh_drain_outcome_name(enum nh_drain_outcome o)
{
    switch (o) {
    case NH_DRAIN_DRAINED:
        return "drained";
    case NH_DRAIN_TIMED_OUT:
        return "timed-out";
    case NH_DRAIN_BLOCKED:
        return "blocked";
    case NH_DRAIN_NOT_OURS:
        return "not-ours";
    case NH_DRAIN_FAILED:
        return "failed";
    case NH_DRAIN_CANCELLED:
        return "cancelled";
    }
    return "unknown";
}

const char *nh_drain_phase_name(enum nh_drain_phase p)
{
    switch (p) {
    case NH_DRAIN_PHASE_LISTING:
        return "listing";
    case NH_DRAIN_PHASE_CORDONING:
        return "cordoning";
    case NH_DRAIN_PHASE_EVICTING:
        return "evicting";
    case NH_DRAIN_PHASE_DONE:
        return "done";
    }
    return "unknown";
}

const char *nh_drain_pod_step_name(enum nh_drain_pod_step s)
{
    switch (s) {
    case NH_DRAIN_POD_EVICT:
        return "evict";
    case NH_DRAIN_POD_WAIT:
        return "wait";
    case NH_DRAIN_POD_IGNORE:
        return "ignore";
    case NH_DRAIN_POD_BLOCKS:
        return "blocks";
    }
    return "unknown";
}

/* ---- the pure part ---- */

static bool str_eq(const char *a, const char *b)
{
    if (a == NULL || b == NULL)
        return a == b;
    return strcmp(a, b) == 0;
}

/* The memory entry of this pod: same namespace and name, and the same uid
 * (an entry without a uid matches the name alone). -1: none. */
static long mem_find(const struct nh_drain_mem *mem, size_t n_mem, const struct nh_kube_pod *p)
{
    for (size_t j = 0; j < n_mem; j++) {
        const struct nh_drain_mem *m = &mem[j];
        if (!str_eq(m->ns, p->ns) || !str_eq(m->name, p->name))
            continue;
        if (m->uid == NULL || str_eq(m->uid, p->uid))
            return (long)j;
    }
    return -1;
}

void nh_drain_decide(const struct nh_kube_pod_list *pods, const struct nh_drain_mem *mem,
                     size_t n_mem, uint64_t now_ms, enum nh_drain_pod_step *steps, bool *gone,
                     struct nh_drain_tally *t, char *why, size_t whylen)
{
    memset(t, 0, sizeof(*t));
    t->first_block = -1;
    if (why != NULL && whylen > 0)
        why[0] = '\0';
    for (size_t j = 0; gone != NULL && j < n_mem; j++)
        gone[j] = true;
    for (size_t i = 0; pods != NULL && i < pods->n; i++) {
        const struct nh_kube_pod *p = &pods->items[i];
        long j = mem_find(mem, n_mem, p);
        bool first = t->first_block < 0;
        if (nh_kube_pod_blocks_drain(p, first ? why : NULL, first ? whylen : 0)) {
            steps[i] = NH_DRAIN_POD_BLOCKS;
            if (first)
                t->first_block = (long)i;
            if (j >= 0 && gone != NULL)
                gone[j] = false;
            continue;
        }
        if (!nh_kube_pod_counts(p)) { /* DaemonSet, mirror, finished: its eviction is done */
            steps[i] = NH_DRAIN_POD_IGNORE;
            t->ignored++;
            continue;
        }
        enum nh_drain_pod_step s = NH_DRAIN_POD_EVICT;
        if (j >= 0) {
            if (gone != NULL)
                gone[j] = false;
            switch (mem[j].state) {
            case NH_DRAIN_MEM_IN_FLIGHT:
            case NH_DRAIN_MEM_ACCEPTED:
                s = NH_DRAIN_POD_WAIT;
                break;
            case NH_DRAIN_MEM_HELD:
            case NH_DRAIN_MEM_RETRY:
                s = mem[j].due_ms <= now_ms ? NH_DRAIN_POD_EVICT : NH_DRAIN_POD_WAIT;
                break;
            }
        }
        steps[i] = s;
        if (s == NH_DRAIN_POD_EVICT)
            t->evict++;
        else
            t->wait++;
    }
    t->counting = t->evict + t->wait;
}

/* ---- the engine ---- */

struct entry {
    struct nh_drain_mem m; /* strings below */
    char *ns, *name, *uid;
    char *key; /* "ns/name" */
    char *why; /* the last 429's message, NULL before one */
    uint64_t refused_seq;
    unsigned errors; /* transient answers in a row */
};

struct nh_drain {
    uv_loop_t *loop;
    struct nh_kube *k;
    struct nh_drain_opts o;
    char *node, *op_id;
    nh_drain_fn progress_cb;
    nh_drain_done_fn done_cb;
    void *ud;
    uv_timer_t deadline, tick;
    unsigned timers_open;
    size_t pending; /* client callbacks still to come */
    bool listing;   /* a list is in flight */
    bool finished;  /* done ran (or was skipped by nh_drain_free) */
    bool freed;
    unsigned cordon_tries;
    struct entry **ents;
    size_t n_ents, alloc_ents;
    uint64_t seq;
    char *message;
    struct nh_drain_progress p;
};

struct ev_ctx {
    struct nh_drain *d;
    char *ns, *name, *uid;
};

static void entry_free(struct entry *e)
{
    if (e == NULL)
        return;
    free(e->ns);
    free(e->name);
    free(e->uid);
    free(e->key);
    free(e->why);
    free(e);
}

static void drain_maybe_free(struct nh_drain *d)
{
    if (!d->freed || d->timers_open > 0 || d->pending > 0)
        return;
    for (size_t i = 0; i < d->n_ents; i++)
        entry_free(d->ents[i]);
    free(d->ents);
    free(d->node);
    free(d->op_id);
    free(d->message);
    free(d);
}

static void on_timer_closed(uv_handle_t *h)
{
    struct nh_drain *d = h->data;
    d->timers_open--;
    drain_maybe_free(d);
}

static void set_message(struct nh_drain *d, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void set_message(struct nh_drain *d, const char *fmt, ...)
{
    char buf[MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    char *m = strdup(buf);
    if (m == NULL)
        return; /* the previous message stays */
    free(d->message);
    d->message = m;
    d->p.message = m;
}

/* The held pod: the HELD entry refused last. */
static void refresh_held(struct nh_drain *d)
{
    const struct entry *h = NULL;
    for (size_t i = 0; i < d->n_ents; i++) {
        const struct entry *e = d->ents[i];
        if (e->m.state == NH_DRAIN_MEM_HELD && (h == NULL || e->refused_seq > h->refused_seq))
            h = e;
    }
    d->p.held_pod = h != NULL ? h->key : NULL;
    d->p.held_why = h != NULL ? h->why : NULL;
}

/* "; pod shop/cart-0 is held by a PodDisruptionBudget (<message>)" or "". */
static void held_clause(const struct nh_drain *d, char *buf, size_t len)
{
    if (d->p.held_pod == NULL) {
        buf[0] = '\0';
        return;
    }
    snprintf(buf, len, "; pod %s is held by a PodDisruptionBudget (%s)", d->p.held_pod,
             d->p.held_why != NULL ? d->p.held_why : "HTTP 429");
}

static void cordon_clause(const struct nh_drain *d, char *buf, size_t len)
{
    if (d->p.cordoned)
        snprintf(buf, len, "; node %s stays cordoned by operation %s: uncordon it", d->node,
                 d->op_id);
    else
        buf[0] = '\0';
}

/* Ends the drain: done runs (its progress carries the message). Nothing
 * after this may touch d but the caller's own return path. */
static void finish(struct nh_drain *d, enum nh_drain_outcome o)
{
    if (d->finished)
        return;
    d->finished = true;
    d->p.phase = NH_DRAIN_PHASE_DONE;
    uv_timer_stop(&d->deadline);
    uv_timer_stop(&d->tick);
    if (d->done_cb != NULL)
        d->done_cb(d->ud, o, &d->p);
}

static void fail(struct nh_drain *d, enum nh_drain_outcome o, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void fail(struct nh_drain *d, enum nh_drain_outcome o, const char *fmt, ...)
{
    char what[MSG_MAX - 200], cordon[200];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof(what), fmt, ap);
    va_end(ap);
    cordon_clause(d, cordon, sizeof(cordon));
    set_message(d, "node %s: %s%s", d->node, what, cordon);
    finish(d, o);
}

static void start_list(struct nh_drain *d);
static void send_cordon(struct nh_drain *d);

static uint64_t now_of(const struct nh_drain *d)
{
    return uv_now(d->loop);
}

static void on_tick(uv_timer_t *t);

static void arm_tick_at(struct nh_drain *d, uint64_t due_ms)
{
    if (d->finished)
        return;
    uint64_t now = now_of(d);
    uint64_t wait = due_ms > now ? due_ms - now : 0;
    if (uv_is_active((uv_handle_t *)&d->tick) && uv_timer_get_due_in(&d->tick) <= wait)
        return;
    uv_timer_start(&d->tick, on_tick, wait, 0);
}

static void on_deadline(uv_timer_t *t)
{
    struct nh_drain *d = t->data;
    char held[MSG_MAX / 2];
    held_clause(d, held, sizeof(held));
    fail(d, NH_DRAIN_TIMED_OUT,
         "drain timed out after %" PRIu64 " ms with %zu pod%s left (%zu evicted and still "
         "terminating)%s",
         d->o.timeout_ms, d->p.pods_left, d->p.pods_left == 1 ? "" : "s", d->p.pods_evicting, held);
}

static void on_tick(uv_timer_t *t)
{
    struct nh_drain *d = t->data;
    if (d->finished)
        return;
    if (d->p.phase == NH_DRAIN_PHASE_CORDONING)
        send_cordon(d);
    else if (!d->listing) /* else its answer arms the next step */
        start_list(d);
}

/* ---- the memory ---- */

static struct entry *entry_find(struct nh_drain *d, const char *ns, const char *name,
                                const char *uid)
{
    for (size_t i = 0; i < d->n_ents; i++) {
        struct entry *e = d->ents[i];
        if (str_eq(e->ns, ns) && str_eq(e->name, name) && str_eq(e->uid, uid))
            return e;
    }
    return NULL;
}

static struct entry *entry_add(struct nh_drain *d, const struct nh_kube_pod *p)
{
    if (d->n_ents == d->alloc_ents) {
        size_t n = d->alloc_ents ? d->alloc_ents * 2 : 16;
        struct entry **a = realloc(d->ents, n * sizeof(*a));
        if (a == NULL)
            return NULL;
        d->ents = a;
        d->alloc_ents = n;
    }
    struct entry *e = calloc(1, sizeof(*e));
    if (e == NULL)
        return NULL;
    size_t klen = strlen(p->ns) + strlen(p->name) + 2;
    e->ns = strdup(p->ns);
    e->name = strdup(p->name);
    e->uid = p->uid != NULL ? strdup(p->uid) : NULL;
    e->key = malloc(klen);
    if (e->ns == NULL || e->name == NULL || (p->uid != NULL && e->uid == NULL) || e->key == NULL) {
        entry_free(e);
        return NULL;
    }
    snprintf(e->key, klen, "%s/%s", p->ns, p->name);
    e->m.ns = e->ns;
    e->m.name = e->name;
    e->m.uid = e->uid;
    d->ents[d->n_ents++] = e;
    return e;
}

/* ---- evictions ---- */

static void ev_ctx_free(struct ev_ctx *c)
{
    free(c->ns);
    free(c->name);
    free(c->uid);
    free(c);
}

static uint64_t capped(uint64_t v, uint64_t cap)
{
    return v > cap ? cap : v;
}

static void on_evicted(void *ud, const struct nh_kube_result *r)
{
    struct ev_ctx *c = ud;
    struct nh_drain *d = c->d;
    d->pending--;
    struct entry *e = d->finished ? NULL : entry_find(d, c->ns, c->name, c->uid);
    char key[600];
    snprintf(key, sizeof(key), "%s/%s", c->ns, c->name);
    ev_ctx_free(c);
    if (d->finished) {
        drain_maybe_free(d);
        return;
    }
    uint64_t now = now_of(d);
    switch (r->code) {
    case NH_KUBE_OK:
    case NH_KUBE_GONE: /* 404, or the pod of that uid was replaced: gone either way */
        if (e != NULL) {
            e->m.state = NH_DRAIN_MEM_ACCEPTED;
            e->errors = 0;
            refresh_held(d);
        }
        break;
    case NH_KUBE_BUDGET: {
        d->p.evictions_refused++;
        if (e == NULL)
            break;
        uint64_t wait =
            r->retry_hinted ? capped(r->retry_after_ms, d->o.retry_max_ms) : d->o.retry_ms;
        char *why = strdup(r->message);
        if (why != NULL) {
            free(e->why);
            e->why = why;
        }
        e->m.state = NH_DRAIN_MEM_HELD;
        e->m.due_ms = now + wait;
        e->refused_seq = ++d->seq;
        e->errors = 0;
        refresh_held(d);
        arm_tick_at(d, e->m.due_ms);
        break;
    }
    case NH_KUBE_UNAVAILABLE:
    case NH_KUBE_UNKNOWN:
        /* Not applied, or may have been: the next list shows whether the pod
         * is still there; an eviction sent again is harmless (never a delete). */
        if (e == NULL)
            break;
        if (++e->errors > NH_DRAIN_MAX_EVICT_ERRORS) {
            fail(d, NH_DRAIN_FAILED, "eviction of pod %s failed %u times in a row: %s", key,
                 e->errors, r->message);
            return;
        }
        e->m.state = NH_DRAIN_MEM_RETRY;
        e->m.due_ms = now + (r->retry_after_ms > 0 ? capped(r->retry_after_ms, d->o.retry_max_ms)
                                                   : d->o.retry_ms);
        refresh_held(d);
        arm_tick_at(d, e->m.due_ms);
        break;
    case NH_KUBE_CANCELLED:
        fail(d, NH_DRAIN_CANCELLED, "drain cancelled: the Kubernetes client shut down (%s)",
             r->message);
        return;
    case NH_KUBE_MISCONFIGURED:
    case NH_KUBE_NOT_OURS:
    case NH_KUBE_DENIED:
    case NH_KUBE_TLS:
    case NH_KUBE_BAD_ANSWER:
    case NH_KUBE_FAILED:
        fail(d, NH_DRAIN_FAILED, "eviction of pod %s failed: %s", key, r->message);
        return;
    }
}

/* Sends the eviction of listed pod p (its entry, new or not, goes IN_FLIGHT).
 * 0, or a negative errno (then the drain has failed). */
static int evict(struct nh_drain *d, const struct nh_kube_pod *p)
{
    struct entry *e = entry_find(d, p->ns, p->name, p->uid);
    if (e == NULL)
        e = entry_add(d, p);
    struct ev_ctx *c = calloc(1, sizeof(*c));
    if (e == NULL || c == NULL) {
        free(c);
        fail(d, NH_DRAIN_FAILED, "drain failed: out of memory");
        return -ENOMEM;
    }
    c->d = d;
    c->ns = strdup(p->ns);
    c->name = strdup(p->name);
    c->uid = p->uid != NULL ? strdup(p->uid) : NULL;
    int r = -ENOMEM;
    if (c->ns != NULL && c->name != NULL && (p->uid == NULL || c->uid != NULL))
        r = nh_kube_evict(d->k, p->ns, p->name, p->uid, on_evicted, c);
    if (r < 0) {
        ev_ctx_free(c);
        fail(d, NH_DRAIN_FAILED, "cannot send the eviction of pod %s: %s", e->key, strerror(-r));
        return r;
    }
    d->pending++;
    d->p.evictions_sent++;
    e->m.state = NH_DRAIN_MEM_IN_FLIGHT;
    return 0;
}

/* ---- rounds ---- */

/* Runs the pure decision over the listed pods and d's memory: steps[i] is
 * what to do with pod i, t the tally, why what blocks; the pods that went
 * are forgotten and d's progress counts are updated. 0, or -ENOMEM (then
 * nothing changed). */
static int decide_round(struct nh_drain *d, const struct nh_kube_pod_list *pods, uint64_t now,
                        enum nh_drain_pod_step *steps, struct nh_drain_tally *t, char *why,
                        size_t whylen)
{
    /* The memory as the pure part sees it. */
    size_t n_mem = d->n_ents;
    struct nh_drain_mem *mem = calloc(n_mem ? n_mem : 1, sizeof(*mem));
    bool *gone = calloc(n_mem ? n_mem : 1, sizeof(*gone));
    if (mem == NULL || gone == NULL) {
        free(mem);
        free(gone);
        return -ENOMEM;
    }
    for (size_t j = 0; j < n_mem; j++)
        mem[j] = d->ents[j]->m;
    nh_drain_decide(pods, mem, n_mem, now, steps, gone, t, why, whylen);
    free(mem);
    /* Forget the pods that went (keeping the order of the rest). */
    size_t w = 0;
    for (size_t j = 0; j < n_mem; j++) {
        if (gone[j])
            entry_free(d->ents[j]);
        else
            d->ents[w++] = d->ents[j];
    }
    d->n_ents = w;
    free(gone);
    refresh_held(d);
    d->p.pods_left = t->counting;
    d->p.pods_ignored = t->ignored;
    d->p.pods_evicting = 0;
    for (size_t i = 0; i < pods->n; i++) {
        const struct nh_kube_pod *p = &pods->items[i];
        const struct entry *e =
            steps[i] == NH_DRAIN_POD_WAIT ? entry_find(d, p->ns, p->name, p->uid) : NULL;
        if (e != NULL && e->m.state == NH_DRAIN_MEM_ACCEPTED)
            d->p.pods_evicting++;
    }
    return 0;
}

/* After the evictions of a round: the next list after relist_ms, or
 * earlier when a held pod is due; the progress says what is left. */
static void next_round(struct nh_drain *d, uint64_t now)
{
    uint64_t due = now + d->o.relist_ms;
    for (size_t j = 0; j < d->n_ents; j++) {
        const struct entry *e = d->ents[j];
        if ((e->m.state == NH_DRAIN_MEM_HELD || e->m.state == NH_DRAIN_MEM_RETRY) &&
            e->m.due_ms < due)
            due = e->m.due_ms;
    }
    arm_tick_at(d, due);
    char held[MSG_MAX / 2];
    held_clause(d, held, sizeof(held));
    set_message(d, "node %s: %zu pod%s left (%zu evicted and terminating)%s", d->node,
                d->p.pods_left, d->p.pods_left == 1 ? "" : "s", d->p.pods_evicting, held);
    if (d->progress_cb != NULL)
        d->progress_cb(d->ud, &d->p);
}

/* What a round decided, acted on: stop when a pod blocks, cordon after the
 * first list, finish when no pod counts, else evict (then true: the next
 * round is to be armed). */
static bool act_on_round(struct nh_drain *d, const struct nh_kube_pod_list *pods,
                         const enum nh_drain_pod_step *steps, const struct nh_drain_tally *t,
                         const char *why)
{
    if (t->first_block >= 0) {
        if (d->p.phase == NH_DRAIN_PHASE_LISTING)
            fail(d, NH_DRAIN_BLOCKED,
                 "not drained: %s; nothing was evicted and this drain did not cordon the node",
                 why);
        else
            fail(d, NH_DRAIN_BLOCKED, "drain stopped: %s", why);
        return false;
    }
    if (d->p.phase == NH_DRAIN_PHASE_LISTING) {
        /* Nothing blocks: cordon, then list again (a pod scheduled meanwhile
         * is seen) and evict. */
        d->p.phase = NH_DRAIN_PHASE_CORDONING;
        set_message(d, "node %s: %zu pod%s to evict; cordoning", d->node, t->counting,
                    t->counting == 1 ? "" : "s");
        if (d->progress_cb != NULL)
            d->progress_cb(d->ud, &d->p);
        if (!d->finished)
            send_cordon(d);
        return false;
    }
    if (t->counting == 0) {
        set_message(d,
                    "node %s drained: %u eviction%s sent, %u refused by a budget; %zu DaemonSet, "
                    "mirror or finished pod%s left in place",
                    d->node, d->p.evictions_sent, d->p.evictions_sent == 1 ? "" : "s",
                    d->p.evictions_refused, t->ignored, t->ignored == 1 ? "" : "s");
        finish(d, NH_DRAIN_DRAINED);
        return false;
    }
    for (size_t i = 0; i < pods->n; i++) {
        if (steps[i] == NH_DRAIN_POD_EVICT && evict(d, &pods->items[i]) < 0)
            return false;
    }
    return true;
}

static void on_pods(void *ud, const struct nh_kube_result *r, struct nh_kube_pod_list *pods)
{
    struct nh_drain *d = ud;
    d->pending--;
    d->listing = false;
    if (d->finished) {
        nh_kube_pod_list_free(pods);
        drain_maybe_free(d);
        return;
    }
    if (r->code != NH_KUBE_OK) {
        nh_kube_pod_list_free(pods);
        if (r->code == NH_KUBE_CANCELLED)
            fail(d, NH_DRAIN_CANCELLED, "drain cancelled: the Kubernetes client shut down (%s)",
                 r->message);
        else
            fail(d, NH_DRAIN_FAILED, "cannot list the node's pods (%s): %s",
                 nh_kube_code_name(r->code), r->message);
        return;
    }
    enum nh_drain_pod_step *steps = calloc(pods->n ? pods->n : 1, sizeof(*steps));
    struct nh_drain_tally t;
    char why[WHY_MAX];
    uint64_t now = now_of(d);
    if (steps == NULL || decide_round(d, pods, now, steps, &t, why, sizeof(why)) < 0) {
        free(steps);
        nh_kube_pod_list_free(pods);
        fail(d, NH_DRAIN_FAILED, "drain failed: out of memory");
        return;
    }
    bool go_on = act_on_round(d, pods, steps, &t, why);
    free(steps);
    nh_kube_pod_list_free(pods);
    if (go_on)
        next_round(d, now);
}

static void start_list(struct nh_drain *d)
{
    int r = nh_kube_list_pods(d->k, d->node, on_pods, d);
    if (r < 0) {
        fail(d, r == -ESHUTDOWN ? NH_DRAIN_CANCELLED : NH_DRAIN_FAILED,
             "cannot list the node's pods: %s", strerror(-r));
        return;
    }
    d->pending++;
    d->listing = true;
}

/* ---- cordon ---- */

static void on_cordoned(void *ud, const struct nh_kube_result *r)
{
    struct nh_drain *d = ud;
    d->pending--;
    if (d->finished) {
        drain_maybe_free(d);
        return;
    }
    switch (r->code) {
    case NH_KUBE_OK: /* cordoned now, or already by this operation (a resumed drain) */
        d->p.phase = NH_DRAIN_PHASE_EVICTING;
        start_list(d);
        return;
    case NH_KUBE_NOT_OURS: /* nothing was sent */
        d->p.cordoned = false;
        fail(d, NH_DRAIN_NOT_OURS, "not drained: %s", r->message);
        return;
    case NH_KUBE_UNAVAILABLE:
    case NH_KUBE_UNKNOWN:
        /* Not applied, or may have been: cordon reads the node first, so
         * sending it again is safe (our own cordon is taken as it is). */
        if (d->cordon_tries < MAX_CORDON_TRIES) {
            uint64_t wait = r->retry_after_ms > 0 ? capped(r->retry_after_ms, d->o.retry_max_ms)
                                                  : d->o.relist_ms;
            arm_tick_at(d, now_of(d) + wait);
            return;
        }
        fail(d, NH_DRAIN_FAILED, "cannot cordon (%u attempts): %s", d->cordon_tries, r->message);
        return;
    case NH_KUBE_CANCELLED:
        fail(d, NH_DRAIN_CANCELLED, "drain cancelled: the Kubernetes client shut down (%s)",
             r->message);
        return;
    case NH_KUBE_GONE:
    case NH_KUBE_BUDGET:
    case NH_KUBE_MISCONFIGURED:
    case NH_KUBE_DENIED:
    case NH_KUBE_TLS:
    case NH_KUBE_BAD_ANSWER:
    case NH_KUBE_FAILED:
        fail(d, NH_DRAIN_FAILED, "cannot cordon (%s): %s", nh_kube_code_name(r->code), r->message);
        return;
    }
}

static void send_cordon(struct nh_drain *d)
{
    int r = nh_kube_cordon(d->k, d->node, d->op_id, on_cordoned, d);
    if (r < 0) {
        fail(d, r == -ESHUTDOWN ? NH_DRAIN_CANCELLED : NH_DRAIN_FAILED, "cannot cordon: %s",
             strerror(-r));
        return;
    }
    d->pending++;
    d->cordon_tries++;
    d->p.cordoned = true; /* it may carry our cordon from now on */
}

/* ---- API ---- */

int nh_drain_start(uv_loop_t *loop, struct nh_kube *k, const struct nh_drain_opts *o,
                   nh_drain_fn progress, nh_drain_done_fn done, void *ud, struct nh_drain **ret)
{
    if (loop == NULL || k == NULL || o == NULL || done == NULL || ret == NULL ||
        !nh_kube_name_ok(o->node) || !nh_kube_op_id_ok(o->op_id))
        return -EINVAL;
    struct nh_drain *d = calloc(1, sizeof(*d));
    if (d == NULL)
        return -ENOMEM;
    d->loop = loop;
    d->k = k;
    d->o = *o;
    if (d->o.timeout_ms == 0)
        d->o.timeout_ms = DEFAULT_TIMEOUT_MS;
    if (d->o.retry_ms == 0)
        d->o.retry_ms = DEFAULT_RETRY_MS;
    if (d->o.relist_ms == 0)
        d->o.relist_ms = DEFAULT_RELIST_MS;
    if (d->o.retry_max_ms == 0)
        d->o.retry_max_ms = DEFAULT_RETRY_MAX_MS;
    d->node = strdup(o->node);
    d->op_id = strdup(o->op_id);
    if (d->node == NULL || d->op_id == NULL) {
        free(d->node);
        free(d->op_id);
        free(d);
        return -ENOMEM;
    }
    d->o.node = d->node;
    d->o.op_id = d->op_id;
    d->progress_cb = progress;
    d->done_cb = done;
    d->ud = ud;
    d->p.node = d->node;
    d->p.phase = NH_DRAIN_PHASE_LISTING;
    int r = nh_kube_list_pods(k, d->node, on_pods, d);
    if (r < 0) {
        free(d->node);
        free(d->op_id);
        free(d);
        return r;
    }
    d->pending = 1;
    d->listing = true;
    uv_timer_init(loop, &d->deadline);
    uv_timer_init(loop, &d->tick);
    d->deadline.data = d;
    d->tick.data = d;
    d->timers_open = 2;
    uv_timer_start(&d->deadline, on_deadline, d->o.timeout_ms, 0);
    set_message(d, "node %s: listing pods", d->node);
    *ret = d;
    return 0;
}

void nh_drain_cancel(struct nh_drain *d)
{
    if (d == NULL || d->finished)
        return;
    fail(d, NH_DRAIN_CANCELLED, "drain cancelled after %u eviction%s", d->p.evictions_sent,
         d->p.evictions_sent == 1 ? "" : "s");
}

void nh_drain_free(struct nh_drain *d)
{
    if (d == NULL || d->freed)
        return;
    if (!d->finished) { /* quietly: no done */
        d->done_cb = NULL;
        finish(d, NH_DRAIN_CANCELLED);
    }
    d->freed = true;
    uv_close((uv_handle_t *)&d->deadline, on_timer_closed);
    uv_close((uv_handle_t *)&d->tick, on_timer_closed);
}

const struct nh_drain_progress *nh_drain_get_progress(const struct nh_drain *d)
{
    return d != NULL ? &d->p : NULL;
}
