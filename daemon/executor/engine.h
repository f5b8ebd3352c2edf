/* engine.h - the executor and job tracker: the part of nodeherd that turns
 * plans into cloud calls, exactly once.
 *
 * Per cluster: a jittered poll timer observes the cluster through its
 * provider; a complete observation with nothing in flight is planned
 * (planner/plan.h, pure) and each action becomes an operation that is
 * journalled (state/journal.h, fsync'd on libuv's threadpool) BEFORE it is
 * sent, followed through the cloud's job until it succeeds, fails or times
 * out, and then closed in the journal. One operation at a time per cluster:
 * while anything is in flight there, nothing new is planned for it.
 *
 * A mutating call whose outcome is unknown (timeout or reset after sending,
 * 5xx, cancelled at shutdown) is never re-sent: the operation enters VERIFY
 * and the next observations decide whether its effect happened. Operations
 * found open in the journal at start are resumed the same way (by polling
 * their job, or by verifying), never re-sent. */
#ifndef NH_ENGINE_H
#define NH_ENGINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "config/config.h"
#include "model/model.h"
#include "net/http.h"
#include "state/store.h"
#include "util/buf.h"

struct nh_engine;

struct nh_engine_summary {
    size_t clusters;
    size_t converged;
    size_t converging; /* work in flight or planned */
    size_t failing;    /* last observation failed, or the last operation failed */
    size_t blocked;    /* a change the cloud cannot be asked for, or a refused guard */
    size_t suspended;  /* not converged, held by clusters[].suspend: nothing is sent */
    size_t dry_run;    /* not converged, held by the dry run: nothing is sent */
    size_t jobs_in_flight;
};

/* Where operations are journalled: struct nh_jstore_ops (state/store.h).
 * Default (NULL): the local append-only file in state_dir
 * (nh_journal_store_ops: state/journal.h written on libuv's threadpool).
 * With `ha:` the journal lives in etcd (nh_ha_jstore) so that a new leader
 * resumes the old leader's operations. */

/* HA fencing: asked by the providers' clients (net/client.h's gate) at the
 * moment each attempt of a mutating request is handed to the HTTP layer -
 * the first and every retry; the attempt goes only from cb(arg, true)
 * (this instance still holds the leadership), a false ends it unsent. */
typedef void (*nh_fence_fn)(void *ud, void (*cb)(void *arg, bool ok), void *arg);

struct nh_provider;

/* Injection points for tests (tests/unit/executor); the daemon passes none.
 * A scripted provider built instead of nh_provider_new, and the clock
 * every decision reads (loop ms) instead of uv_now(): the timers stay real,
 * so a test that moves the clock sees the next timer act on it. */
struct nh_engine_test_hooks {
    int (*provider_new)(void *ud, const struct nh_cfg_provider *cfg, uv_loop_t *loop,
                        struct nh_provider **ret);
    void (*provider_free)(void *ud, struct nh_provider *p);
    uint64_t (*now_ms)(void *ud); /* NULL: uv_now(loop) */
    void *ud;
};

struct nh_engine_opts {
    uv_loop_t *loop;
    struct nh_http *http;
    /* Read-only for the engine's whole life (run --dry-run, plan): plan and
     * log, never mutate, never write the journal. daemon.dry_run in the
     * configuration is different: a switch honoured at every reload (the
     * journal is open, operations in flight are followed, nothing new is
     * sent while it is on); so is clusters[].suspend, per cluster. */
    bool dry_run;
    const char *state_dir; /* overrides cfg->daemon.state_dir when non-NULL */
    /* Called once, when every cluster has completed its first observation
     * (successfully or not). */
    void (*on_first_poll)(void *ud);
    /* Called when the summary may have changed (for STATUS=). */
    void (*on_change)(void *ud);
    void *ud;
    /* High availability (all NULL/false: a single instance, always leader,
     * local journal). */
    const struct nh_jstore_ops *jstore; /* replaces the local journal */
    void *jstore_ctx;
    nh_fence_fn fence;
    bool start_as_follower; /* plan, but mutate nothing until nh_engine_set_leader */
    const struct nh_engine_test_hooks *test; /* NULL: the real providers and clock */
};

/* Opens the journal (unless dry_run), creates providers and cluster states,
 * and queues the journal's open operations for resumption. Takes a
 * reference on cfg. 0 or -errno with a message in err (-EBADMSG: the journal
 * is corrupt; the daemon must not run on it). */
int nh_engine_new(const struct nh_engine_opts *opts, struct nh_config *cfg, struct nh_engine **ret,
                  char *err, size_t errlen);
/* Starts polling. */
int nh_engine_start(struct nh_engine *e);
/* Applies a new configuration (takes a reference; the old one is released).
 * Clusters whose declaration changed are re-observed and re-planned at once. */
void nh_engine_reload(struct nh_engine *e, struct nh_config *cfg);
/* Stops issuing new work (no new observations, plans or sends). Calls in
 * flight go on; nh_engine_idle() tells when they are done. */
void nh_engine_stop(struct nh_engine *e);
/* Cancels every call still in flight (mutations stay VERIFY in the journal). */
void nh_engine_cancel(struct nh_engine *e);
bool nh_engine_idle(const struct nh_engine *e);
/* Closes handles (memory is released from close callbacks: run the loop
 * afterwards, then nothing remains). NULL ok. */
void nh_engine_free(struct nh_engine *e);

/* HA: leadership gained (resume `open_ops`, the operations the journal
 * holds open, by polling or verifying; never re-sent) or lost (stop
 * mutating at once; operations in flight are abandoned locally and left to
 * the next leader). */
void nh_engine_set_leader(struct nh_engine *e, bool leader, const struct nh_op *open_ops,
                          size_t n_open);
bool nh_engine_is_leader(const struct nh_engine *e);
/* "single", "leader" or "follower" (status document, STATUS=). */
void nh_engine_set_role_name(struct nh_engine *e, const char *role);

/* Tests: the clock of opts.test moved; every cluster's timer is re-armed
 * from it (what is due now runs at the next loop turn). */
void nh_engine_test_clock_moved(struct nh_engine *e);

/* The dry run in force: run --dry-run (`forced`) or daemon.dry_run. */
bool nh_engine_dry_run(const struct nh_engine *e, bool *forced);

bool nh_engine_ready(const struct nh_engine *e);
/* false (and why, when not NULL) while the local state journal cannot be
 * written: nothing is sent then, and the daemon must be restarted
 * (/healthz, the watchdog). With ha: always true (the journal is etcd's). */
bool nh_engine_healthy(const struct nh_engine *e, char *why, size_t len);
void nh_engine_summary(const struct nh_engine *e, struct nh_engine_summary *s);
/* The /api/v1/status document (JSON). 0 or -ENOMEM. */
int nh_engine_status_json(const struct nh_engine *e, struct nh_buf *out);

#endif
