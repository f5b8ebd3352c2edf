/* engine_int.h - the engine's private structures, shared by engine.c (the
 * engine object: clusters' lifecycle, providers, reload, leadership),
 * cycle.c (one cluster's cycle: observe, plan, backoff, converged/blocked),
 * ops.c (operations, job tracking, journal queue), kube.c (the Kubernetes
 * side) and status.c/report.c (status document, metrics: they read, they
 * decide nothing).
 *
 * Naming: the functions declared here, shared by the executor's files and
 * not part of engine.h, carry the prefix ex__ (libuv's uv__ convention):
 * internal to daemon/executor/, never called from outside it. */
#ifndef NH_ENGINE_INT_H
#define NH_ENGINE_INT_H

#include <stdbool.h>
#include <stdint.h>

#include "executor/audit.h"
#include "executor/engine.h"
#include "model/model.h"
#include "providers/provider.h"
#include "state/journal.h"

#define NH_RECENT_MAX 16

struct cl;
struct cl_kube;

/* One operation in flight (heap node: callbacks hold pointers to it). */
struct opnode {
    struct opnode *next;
    struct cl *cl;
    struct nh_op op;
    bool calling;         /* a provider call (mutate or poll) is in flight */
    bool journal_pending; /* a journal write for it is queued */
    bool closed;          /* reached a final state; freed when nothing refers to it */
    /* INTENT, throttled by the cloud (refused before execution, so known not
     * to have happened): sent again at this loop ms, through the client and
     * its gate, i.e. fenced again (HA). 0: not waiting. */
    uint64_t resend_at;
    unsigned throttles;    /* throttled answers in a row */
    uint64_t deadline;     /* loop ms: job timeout */
    uint64_t verify_until; /* loop ms: VERIFY gives up after this */
    uint64_t next_poll;    /* loop ms */
    int percent;
    char phase[64];
    char detail[256];
    unsigned poll_failures;
    unsigned polls; /* answers saying the job is still running */
};

struct recent {
    int64_t time; /* unix seconds */
    enum nh_action_kind kind;
    char pool[64];
    int target;
    size_t n_nodes;
    char result[24];
    enum nh_rule rule;
    char revision[64];
    char job[80];
};

struct cl {
    struct cl *next;
    struct nh_engine *e;
    char *name;
    const struct nh_cfg_cluster *cfg; /* borrowed from e->cfg; NULL when removed */
    struct nh_provider *prov;         /* borrowed from e's provider list; NULL when removed */
    uv_timer_t poll_timer;
    int open_handles;
    bool observing;
    /* Reading whether the cluster accepts changes before acting on a plan
     * (with observing set: nothing else is read meanwhile). */
    bool reading_state;
    bool tried_once; /* first observation attempted (READY) */
    bool have_obs;   /* obs holds an observation */
    bool obs_ok;     /* the last observation succeeded and was complete */
    struct nh_observed obs;
    int64_t last_ok_unix; /* wall time of the last successful observation */
    /* obs is a merged view (ex__cl_merge_pool_read, ex__cl_relist_after_job):
     * the last full observation with one pool's counters replaced by the
     * read that ended its scale job (or, ACK and CCE, with the nodes
     * re-listed after it), at merged_unix (wall time). It only ever concluded
     * "converged": nothing is planned to act on it (cl_may_act), a changed
     * declaration re-observes (ex__cl_fresh_enough), and the next
     * observation replaces it. obs.at_ms and last_ok_unix stay those of
     * the full observation. */
    bool obs_merged;
    int64_t merged_unix;
    /* After a scale of a pool on a kind that counts its nodes from the node
     * list (ACK, CCE): the next observation re-lists only the nodes
     * (ops->observe_nodes) and merges them into obs (ex__cl_relist_after_job);
     * one-shot, cleared when that observation starts. */
    struct {
        bool pending;
        char pool_id[128];
        int target;
        uint64_t observe_due; /* the regular poll's due time before the close */
    } relist;
    unsigned failures;    /* consecutive failed observations or operations */
    uint64_t not_before;  /* loop ms: no plan before this (backoff) */
    uint64_t observe_due; /* loop ms: next observation on the poll interval; job
                           * polls in between do not re-read the cluster */
    bool replan;          /* declaration changed: plan at the next observation */
    /* Counts operations closed on this cluster; an observation started at
     * an older count may predate an operation's effect. */
    uint64_t ops_epoch;
    uint64_t observing_epoch; /* ops_epoch when the observation in flight started */
    uint64_t obs_epoch;       /* ops_epoch when the held observation started */
    char last_error[256];
    struct nh_plan last_plan; /* notes (and, dry-run, actions) of the last plan */
    char *last_plan_text;     /* to log plan changes only once */
    struct opnode *ops;
    /* A ring of NH_RECENT_MAX, allocated with the first record: most
     * clusters never act, and 4 KB each was 4 MB at 1,000 clusters (#21). */
    struct recent *recent;
    size_t n_recent; /* total ever; ring index = n % MAX; 0 while recent is NULL */
    bool removed;    /* gone from the configuration; freed when idle */
    /* Removed while operations were open (see ex__cl_retiring): the configuration
     * it was removed from, which cfg points into. */
    struct nh_config *retired_cfg;
    /* The configuration whose declaration of this cluster was last planned
     * without an empty-desired refusal (the planner's `previous`). */
    struct nh_config *accepted_cfg;
    /* The cluster's Kubernetes API (kube.c); NULL until first used. */
    struct cl_kube *kube;
};

struct prov_entry {
    struct prov_entry *next;
    struct nh_provider *p;
    struct nh_cfg_provider *snap;            /* what it was built from (for reload comparison) */
    const struct nh_engine_test_hooks *test; /* built by a test's hook: freed by it */
    char *name;
};

struct jwrite;

struct nh_engine {
    struct nh_engine_opts o;
    uv_loop_t *loop;
    struct nh_config *cfg;
    char *state_dir;
    struct nh_journal *journal; /* NULL in dry-run */
    struct nh_audit *audit;     /* NULL in dry-run */
    struct prov_entry *provs;
    /* Providers no longer configured, kept for retiring clusters that still
     * follow operations through them; freed once unused. */
    struct prov_entry *retired_provs;
    struct cl *clusters;
    bool started;
    bool stopping;
    bool ready_sent;
    int64_t started_unix;
    uint64_t rng;
    /* serialized journal writes, through jstore (the local file by default) */
    const struct nh_jstore_ops *jstore; /* NULL: no journal (dry-run) */
    void *jstore_ctx;
    struct nh_journal_store local_store; /* jstore_ctx of the local journal */
    struct jwrite *jq_head, *jq_tail;
    bool jq_busy;
    /* Local journal health: why it cannot be written ("" while it can). */
    char journal_error[512];
    /* HA */
    bool leader;            /* may mutate */
    char role[16];          /* "single", "leader", "follower" */
    size_t calls_in_flight; /* provider calls */
    uint64_t next_seq_hint;
    /* kube.c: uncordons of clusters that lost their Kubernetes access */
    struct kube_release *kube_releases;
};

/* A cluster removed from the configuration while operations were open on
 * it: they are followed to their end (observed, polled, closed in the
 * journal) with the declaration it had, nothing new is planned or sent,
 * status shows it as "removed", and a cluster of the same name declared
 * again takes them over. Freed (its timer closed) once the last one ends. */
static inline bool ex__cl_retiring(const struct cl *c)
{
    return c->removed && c->retired_cfg != NULL && c->open_handles > 0 &&
           !uv_is_closing((const uv_handle_t *)&c->poll_timer);
}

/* engine.c */
uint64_t nh_engine_rand(struct nh_engine *e);
/* The clock decisions read (loop ms): uv_now, or a test's clock. */
uint64_t ex__engine_now(const struct nh_engine *e);
/* Journal write results (local journal only): health for /healthz. */
void ex__engine_journal_result(struct nh_engine *e, int r);
/* Sends READY (on_first_poll) once every cluster was tried once. */
void ex__engine_maybe_ready(struct nh_engine *e);
void ex__cl_changed(struct cl *c);
void ex__cl_maybe_free(struct cl *c);
void ex__cl_record_recent(struct cl *c, const struct nh_op *op, const char *result);
/* What of a provider error may be shown in the status document, the plan
 * and the journal: the class, the cloud's code, the operation, the HTTP
 * status and the request id, never the text of a cloud's answer (that goes
 * to the log only; issue 23). A message of our own (no answer: a timeout,
 * a refused connection, cancelled) is kept. Pure. */
void ex__err_public(const struct nh_prov_error *e, char *buf, size_t len);
struct cl *ex__engine_find_cluster(struct nh_engine *e, const char *name);

/* cycle.c */
/* First poll of a cluster at engine start (first: at once; the others
 * spread over up to a second). */
void ex__cl_start(struct cl *c, bool first);
void ex__cl_observe_soon(struct cl *c, uint64_t delay_ms);
/* Observed counts only (obs.counts_only) and a removal may be due: the
 * nodes are listed next, at once; not observed yet for READY. */
bool ex__cl_nodes_due(const struct cl *c);
/* Re-arms the cluster's timer for its next due observation or job poll. */
void ex__cl_schedule_next(struct cl *c);
/* Plans the cluster; acts on the plan when act. true: it read the
 * cluster's state first, and plans again from that read's callback. */
bool ex__cl_plan(struct cl *c, bool act);
/* May a changed declaration be planned on the observation in hand? */
bool ex__cl_fresh_enough(const struct cl *c);
/* A scale job on a pool ended SUCCEEDED with the pool's counters read
 * (nh_job_progress.pool_read), and its operation is closed. When the
 * counters, merged into the last full observation, make the cluster
 * converged with nothing to do, that merged view replaces the
 * re-observation the close asked for (the next poll stays at the poll
 * interval); otherwise nothing changes and the full observation goes.
 * observe_due: the regular poll's due time before the close. true when
 * the merged view was taken. */
bool ex__cl_merge_pool_read(struct cl *c, const struct nh_action *a, const struct nh_obs_pool *read,
                            uint64_t observe_due);
/* The same for kinds whose planner counts a pool's nodes from the node
 * list (ACK, CCE; issue #21): a pool scale job that ended SUCCEEDED
 * (read: its pool read, NULL when the job's answer had none) makes the
 * re-observation the close asked for a re-list of the nodes alone
 * (ops->observe_nodes), merged into the last full observation: the pool's
 * counts from the fresh nodes, the other pools as they were. The merged
 * view is kept only when it shows the cluster converged with nothing to
 * do; anything else (a failed or incomplete re-list, a node not ready, a
 * count that differs, a plan that would act) observes in full at once.
 * true when the re-list was arranged. */
bool ex__cl_relist_after_job(struct cl *c, const struct nh_action *a,
                             const struct nh_obs_pool *read, uint64_t observe_due);
/* Why nothing new may be sent for the cluster now: "suspended"
 * (clusters[].suspend), "dry-run" (run --dry-run or daemon.dry_run), or
 * NULL. Checked where an action would start and again where it would be
 * sent; what is already in flight is followed to its end either way. */
const char *ex__cl_held(const struct cl *c);

/* What one group (the workers outside pools, or one pool) holds, by
 * state. The states of nodeherd_nodes{state}: every listed node is in
 * exactly one. observed = everything but `leaving` (what the planner counts
 * against the declaration). */
struct gcount {
    int observed;
    int ready;     /* serving: ACK running+Ready, CCE Active, ModelArts available */
    int not_ready; /* unhealthy: NotReady/Unknown/Offline, CCE Abnormal, ModelArts abnormal */
    int failed;    /* the cloud says it failed (ACK failed, CCE Error): nodeherd replaces it */
    int creating;  /* being created or starting */
    int leaving;   /* being removed */
};
/* Counts a group of the observation in hand: the workers (pool_id and
 * pool_name NULL) or the pool named by id or name. false: the pool is not
 * in the observation. */
bool ex__group_count(const struct cl *c, const char *pool_id, const char *pool_name,
                     struct gcount *g);
/* The state word of the status document and STATUS=: "removed",
 * "waiting", "failing", "converging", "converged", "suspended", "dry-run",
 * "blocked". */
const char *ex__cl_state_word(const struct cl *c);
/* Nothing in flight, nothing planned, every declared group at its count
 * with every node ready. */
bool ex__cl_converged(const struct cl *c);
/* The last plan refused or was blocked (a note says why). */
bool ex__cl_blocked(const struct cl *c);

/* ops.c */
void ex__ops_abandon_all(struct cl *c);
int ex__ops_start(struct cl *c, const struct nh_action *a);
void ex__ops_resume(struct cl *c, const struct nh_op *op);
void ex__ops_on_observed(struct cl *c);
void ex__ops_tick(struct cl *c, uint64_t now);
size_t ex__ops_count(const struct cl *c);
void ex__ops_free_all(struct cl *c);
void ex__ops_journal_drain_sync(struct nh_engine *e);
/* Queues a journal write of a record that is no cloud operation (a drain
 * record, executor/kube.c), in order with the operations' writes. done
 * runs once with the written copy (its seq assigned on a begin) and 0 or
 * -errno: on the loop, or at teardown with -ECANCELED (nothing to act on).
 * 0, -ENOENT (no journal: a dry run) or -ENOMEM (done never runs). */
typedef void (*ops_record_fn)(struct nh_engine *e, const struct nh_op *written, int r, void *arg);
int ex__ops_record(struct nh_engine *e, bool begin, const struct nh_op *op, ops_record_fn done,
                   void *arg);
void ex__ops_drop_unsent(struct cl *c, const char *why);

/* kube.c: the Kubernetes half of an observation of a cluster with
 * kubernetes: (c->cfg->kube_access). ex__cl_kube_read takes obs and hands it
 * to done, later, on the loop (obs->kube_read set; or complete = false
 * with why). */
typedef void (*ex__cl_kube_done_fn)(struct cl *c, struct nh_observed *obs);
void ex__cl_kube_read(struct cl *c, struct nh_observed *obs, ex__cl_kube_done_fn done);
void ex__cl_kube_cancel(struct cl *c); /* a read in flight ends now (incomplete) */
void ex__cl_kube_free(struct cl *c);
/* NULL: not tried yet; "": reachable; else why not (safe to show). */
const char *ex__cl_kube_reach(const struct cl *c);
/* Whether nodeherd drains this cluster's victims itself (kubernetes: and
 * drain on; the cloud's own drain is then off). */
bool ex__cl_kube_drains(const struct cl *c);
/* Acts on plan for such a cluster: drains first, removals once drained
 * (see kube.c); notes on drains in progress are added to plan. busy:
 * operations were in flight when it was made. */
void ex__cl_kube_act(struct cl *c, struct nh_plan *plan, bool busy);
/* Stops every drain (the nodes keep nodeherd's cordon). */
void ex__cl_kube_drains_stop(struct cl *c);
/* Drain records found open at start for a cluster that no longer drains:
 * undone where a Kubernetes client can, closed either way (kube.c). */
void ex__cl_kube_orphans(struct cl *c);
/* The cluster is removed from the configuration, or loses kubernetes: or
 * drain (why says which): its drains stop and the nodes nodeherd cordoned
 * are uncordoned, bounded in time, by a release that outlives the cluster
 * (leader only; what cannot be undone is logged with the fix). */
void ex__cl_kube_release(struct cl *c, const char *why);
/* A drain record found open in the journal (start, or leadership gained):
 * resumed or undone by the next ex__cl_kube_act (ex__ops_resume hands it over). */
void ex__cl_kube_adopt(struct cl *c, const struct nh_op *rec);
/* Ends the releases in flight (engine teardown): what they have not
 * uncordoned is logged as left cordoned. */
void ex__engine_kube_releases_end(struct nh_engine *e);

/* status.c */
void ex__status_describe_metrics(void);
/* The per-cluster metric families are collected from e's clusters at each
 * scrape (nh_metrics_collect): on at nh_engine_new, off at nh_engine_free. */
void ex__status_collect(struct nh_engine *e, bool on);

#endif
