/* cmd_run.c - `nodeherd run`: the daemon's lifecycle.
 *
 * load config -> open journal, resume operations -> first poll -> READY=1;
 * STATUS= kept current; WATCHDOG=1 from the loop; SIGHUP or a changed file
 * -> RELOADING=1, load, swap or keep the old one, READY=1; SIGTERM/SIGINT
 * -> STOPPING=1, stop issuing work, let calls in flight finish within a
 * bound, cancel the rest, flush the journal, close everything, exit 0. */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <uv.h>

#include "cmd.h"
#include "config/config.h"
#include "executor/engine.h"
#include "ha/ha.h"
#include "net/http.h"
#include "ops/httpd.h"
#include "ops/metrics.h"
#include "ops/notify.h"
#include "state/lock.h"
#include "util/log.h"
#include "watch.h"

/* Calls in flight get this long to finish at shutdown before they are
 * cancelled (the unit's TimeoutStopSec= is 30 s). */
#define SHUTDOWN_GRACE_MS 10000

struct daemon {
    const struct nh_global_opts *g;
    uv_loop_t loop;
    struct nh_config *cfg;
    struct nh_http *http;
    struct nh_engine *engine;
    struct nh_httpd *httpd;
    struct nh_watch *watch;
    struct nh_watch *git_watch; /* <gitdir>/logs/HEAD: a commit moves the revision */
    char git_dir[4096];
    uv_timer_t git_timer; /* looks at HEAD again after its reflog moved */
    unsigned git_looks;   /* looks left before giving up on a ref that did not move */
    struct nh_watchdog *watchdog;
    struct nh_ha *ha;           /* ha: configured; NULL in single-instance mode */
    struct nh_state_lock *lock; /* state_dir, held for the life of the process */
    char fleet[256];            /* ha: the etcd prefix the replicas share ("" without ha:) */
    bool ha_resigned;
    bool ha_resign_started;
    uv_signal_t sighup, sigterm, sigint;
    uv_timer_t status_timer; /* rate-limits STATUS= updates */
    uv_timer_t stop_timer;   /* shutdown progress */
    uint64_t stop_deadline;
    bool loop_open; /* uv_loop_init succeeded: the teardown closes it */
    bool stopping;
    bool cancelled;
    bool dry_run;
    bool status_dirty;
    char last_status[256];
    int exit_code;
};

static void run_usage(FILE *f)
{
    fputs("Usage: nodeherd run [--dry-run] [-c FILE]\n"
          "\n"
          "Runs the reconciliation daemon in the foreground (systemd Type=notify).\n"
          "\n"
          "      --dry-run   observe and plan, log what would be done, send nothing, for the\n"
          "                  process's whole life (daemon.dry_run in the file is a switch\n"
          "                  that follows reloads instead)\n"
          "  -h, --help      show this help\n"
          "\n"
          "Global options (-c/--config FILE, --allow-endpoint HOST, --log-format,\n"
          "--log-level) may come before or after the command; see nodeherd --help.\n"
          "\n"
          "Signals: SIGHUP reloads the configuration (so does a change of the file);\n"
          "SIGTERM or SIGINT stops gracefully. See nodeherd(8).\n",
          f);
}

static void update_status(struct daemon *d)
{
    struct nh_engine_summary s;
    char buf[256];

    if (d->engine == NULL)
        return;
    nh_engine_summary(d->engine, &s);
    char held[64] = "";
    if (s.suspended > 0 || s.dry_run > 0)
        snprintf(held, sizeof(held), ", %zu suspended, %zu dry-run (held)", s.suspended, s.dry_run);
    snprintf(buf, sizeof(buf),
             "%s%s%s%zu cluster%s: %zu converged, %zu converging, %zu failing, %zu blocked%s; %zu "
             "job%s in flight",
             nh_engine_healthy(d->engine, NULL, 0) ? ""
                                                   : "UNHEALTHY: state journal cannot be written; ",
             nh_engine_dry_run(d->engine, NULL) ? "dry-run; " : "",
             d->ha == NULL                    ? ""
             : nh_engine_is_leader(d->engine) ? "leader; "
                                              : "follower; ",
             s.clusters, s.clusters == 1 ? "" : "s", s.converged, s.converging, s.failing,
             s.blocked, held, s.jobs_in_flight, s.jobs_in_flight == 1 ? "" : "s");
    if (strcmp(buf, d->last_status) != 0) {
        snprintf(d->last_status, sizeof(d->last_status), "%s", buf);
        nh_notify_status("%s", buf);
    }
}

static void on_status_timer(uv_timer_t *t)
{
    struct daemon *d = t->data;
    d->status_dirty = false;
    update_status(d);
}

/* STATUS= follows the engine at most once a second: each update walks
 * every cluster's state (nh_engine_summary), and with 1,000 clusters ending
 * a poll cycle every 30 ms a 200 ms window made that walk 7 % of the
 * daemon's CPU at steady state (issue #21). */
#define STATUS_COALESCE_MS 1000

static void on_engine_change(void *ud)
{
    struct daemon *d = ud;
    if (d->status_dirty || d->stopping)
        return;
    d->status_dirty = true;
    uv_timer_start(&d->status_timer, on_status_timer, STATUS_COALESCE_MS, 0);
}

static void on_first_poll(void *ud)
{
    struct daemon *d = ud;
    update_status(d);
    nh_notify_ready();
    nh_log(LOG_NOTICE, "ready: first poll of every cluster done (%s)", d->last_status);
}

static bool hook_ready(void *ud)
{
    struct daemon *d = ud;
    return d->engine != NULL && !d->stopping && nh_engine_ready(d->engine);
}

/* /healthz and the watchdog: false while the state journal cannot be
 * written (nothing is sent then); a supervisor restarts the daemon. */
static bool hook_healthy(void *ud, char *why, size_t len)
{
    struct daemon *d = ud;
    return d->engine == NULL || nh_engine_healthy(d->engine, why, len);
}

static bool watchdog_healthy(void *ud)
{
    return hook_healthy(ud, NULL, 0);
}

static int hook_status(void *ud, struct nh_buf *out)
{
    struct daemon *d = ud;
    if (d->engine == NULL)
        return -EAGAIN;
    return nh_engine_status_json(d->engine, out);
}

/* ---------- high availability (ha:) ---------- */

/* nodeherd_leader and nodeherd_leader_transitions_total carry the fleet
 * (the etcd prefix, shared by the replicas that compete for one leadership)
 * so that alerts count leaders per fleet: several single instances scraped
 * by one Prometheus are each their own fleet's leader, and carry no fleet
 * label (contrib/prometheus/alerts.yaml). */
static void leader_metrics(const struct daemon *d, bool leader, double transitions)
{
    if (d->fleet[0] != '\0') {
        nh_metrics_set("nodeherd_leader", leader ? 1 : 0, "fleet", d->fleet, NULL);
        nh_metrics_inc("nodeherd_leader_transitions_total", transitions, "fleet", d->fleet, NULL);
    } else {
        nh_metrics_set("nodeherd_leader", leader ? 1 : 0, NULL);
        nh_metrics_inc("nodeherd_leader_transitions_total", transitions, NULL);
    }
}

/* The engine's fence hook: ud is the daemon. */
static void ha_fence(void *ud, void (*cb)(void *arg, bool ok), void *arg)
{
    struct daemon *d = ud;
    nh_ha_fence(d->ha, cb, arg);
}

static void on_ha_role(void *ud, bool leader, const struct nh_op *open_ops, size_t n_open,
                       const char *why)
{
    struct daemon *d = ud;
    if (d->engine == NULL)
        return;
    if (d->stopping && leader)
        return; /* never take work on while stopping */
    nh_engine_set_leader(d->engine, leader, open_ops, n_open);
    nh_engine_set_role_name(d->engine, leader ? "leader" : "follower");
    leader_metrics(d, leader, 1);
    nh_log(LOG_NOTICE, "ha: %s is now %s (%s)", nh_ha_instance(d->ha),
           leader ? "the leader" : "a follower", why);
    update_status(d);
}

/* ---------- reload ---------- */

static void watch_git(struct daemon *d);

static void reload(struct daemon *d, const char *why)
{
    struct nh_config *next = NULL;
    struct nh_diag diag;

    if (d->stopping)
        return;
    nh_notify_reloading();
    nh_diag_init(&diag);
    if (nh_config_load(d->g->config_path, &next, &diag) < 0) {
        nh_diag_log(&diag, LOG_ERR);
        nh_log(LOG_ERR,
               "reload (%s): %s is invalid (%zu error%s); keeping the previous "
               "configuration (revision %s)",
               why, d->g->config_path, diag.n_errors, diag.n_errors == 1 ? "" : "s",
               d->cfg->revision ? d->cfg->revision : "?");
        nh_metrics_inc("nodeherd_config_reloads_total", 1, "result", "failure", NULL);
        nh_metrics_set("nodeherd_config_last_reload_successful", 0, NULL);
        nh_diag_free(&diag);
        nh_notify_ready();
        return;
    }
    nh_diag_log(&diag, LOG_WARNING); /* warnings only */
    nh_diag_free(&diag);
    if (d->cfg->daemon.listen && next->daemon.listen &&
        strcmp(d->cfg->daemon.listen, next->daemon.listen) != 0)
        nh_log(LOG_WARNING, "reload: daemon.listen changed; it takes effect at restart");
    if (d->httpd != NULL &&
        nh_httpd_set_names(d->httpd, next->daemon.listen_names, next->daemon.n_listen_names) < 0)
        nh_log(LOG_WARNING, "reload: daemon.listen_names: out of memory; keeping the previous");
    if (d->cfg->daemon.state_dir && next->daemon.state_dir &&
        strcmp(d->cfg->daemon.state_dir, next->daemon.state_dir) != 0)
        nh_log(LOG_WARNING, "reload: daemon.state_dir changed; it takes effect at restart");
    if (d->cfg->ha.enabled != next->ha.enabled)
        nh_log(LOG_WARNING, "reload: ha: was %s; it takes effect at restart",
               next->ha.enabled ? "added" : "removed");
    else if (d->cfg->ha.enabled)
        nh_log(LOG_INFO, "reload: ha: settings take effect at restart");
    if (d->g->log_level == NULL)
        nh_log_max = next->daemon.log_level;
    nh_engine_reload(d->engine, next);
    nh_log(LOG_NOTICE, "reload (%s): configuration revision %s applied", why,
           next->revision ? next->revision : "?");
    nh_config_unref(d->cfg);
    d->cfg = next;
    nh_metrics_inc("nodeherd_config_reloads_total", 1, "result", "success", NULL);
    nh_metrics_set("nodeherd_config_last_reload_successful", 1, NULL);
    watch_git(d);
    nh_notify_ready();
    update_status(d);
}

static void on_file_changed(void *ud)
{
    reload(ud, "file changed");
}

/* The revision HEAD names now ("git:<sha>"), or "" when it cannot be read. */
static void git_revision_now(const struct daemon *d, char ret[45])
{
    char dir[PATH_MAX], head[41];
    const char *slash;

    ret[0] = '\0';
    if (realpath(d->g->config_path, dir) == NULL)
        return;
    slash = strrchr(dir, '/');
    if (slash == dir)
        dir[1] = '\0';
    else if (slash != NULL)
        dir[slash - dir] = '\0';
    if (nh_git_head(dir, head) == 0)
        snprintf(ret, 45, "git:%s", head);
}

/* git appends HEAD's reflog before it renames the moved ref into place
 * (refs/files-backend.c: the log is written while the ref's lock is held),
 * so the reload the reflog triggers can still read the previous commit.
 * While HEAD has not moved to what it names, look again: 100 ms, 200 ms,
 * ... up to 6 looks (about 6 s), then keep what was read. */
static void on_git_timer(uv_timer_t *t)
{
    struct daemon *d = t->data;
    char now[45];

    if (d->stopping)
        return;
    git_revision_now(d, now);
    if (now[0] != '\0' && (d->cfg->revision == NULL || strcmp(now, d->cfg->revision) != 0)) {
        d->git_looks = 0;
        reload(d, "git HEAD moved");
        return;
    }
    if (d->git_looks > 0) {
        d->git_looks--;
        uv_timer_start(&d->git_timer, on_git_timer, 100u << (6 - d->git_looks), 0);
    }
}

static void on_git_moved(void *ud)
{
    struct daemon *d = ud;

    reload(d, "git HEAD moved");
    if (d->stopping)
        return;
    d->git_looks = 6;
    uv_timer_start(&d->git_timer, on_git_timer, 100, 0);
}

/* A config in a git checkout: watch HEAD's reflog too, so that a commit or
 * pull that leaves the file unchanged (or lands after the file did) still
 * updates the revision recorded with each mutation. */
static void watch_git(struct daemon *d)
{
    char dir[sizeof(d->git_dir)], log[sizeof(d->git_dir) + 16];

    if (d->stopping || nh_git_dir(d->g->config_path, dir, sizeof(dir)) < 0)
        dir[0] = '\0';
    if (strcmp(dir, d->git_dir) == 0)
        return;
    nh_watch_stop(d->git_watch);
    d->git_watch = NULL;
    snprintf(d->git_dir, sizeof(d->git_dir), "%s", dir);
    if (dir[0] == '\0')
        return;
    snprintf(log, sizeof(log), "%s/logs/HEAD", dir);
    if (nh_watch_start(&d->loop, log, on_git_moved, d, &d->git_watch) < 0)
        d->git_watch = NULL;
}

/* ---------- shutdown ---------- */

static void close_walk_cb(uv_handle_t *h, void *arg)
{
    (void)arg;
    if (!uv_is_closing(h))
        uv_close(h, NULL);
}

/* Frees the engine, HA and the HTTP client they use, in that order; each
 * once (finish() and run_teardown() both call it). */
static void free_core(struct daemon *d)
{
    nh_engine_free(d->engine);
    d->engine = NULL;
    nh_ha_free(d->ha);
    d->ha = NULL;
    nh_http_close(d->http);
    d->http = NULL;
}

static void finish(struct daemon *d)
{
    uv_timer_stop(&d->stop_timer);
    uv_close((uv_handle_t *)&d->stop_timer, NULL);
    uv_close((uv_handle_t *)&d->git_timer, NULL);
    uv_close((uv_handle_t *)&d->status_timer, NULL);
    uv_close((uv_handle_t *)&d->sigterm, NULL);
    uv_close((uv_handle_t *)&d->sigint, NULL);
    free_core(d);
    nh_log(LOG_NOTICE, "stopped");
}

static void on_ha_resigned(void *ud)
{
    struct daemon *d = ud;
    d->ha_resigned = true;
}

static void on_stop_timer(uv_timer_t *t)
{
    struct daemon *d = t->data;
    if (nh_engine_idle(d->engine)) {
        /* HA: resign once nothing is in flight (revoking the lease lets a
         * follower take over at once), then finish. */
        if (d->ha != NULL && !d->ha_resigned) {
            if (!d->ha_resign_started) {
                d->ha_resign_started = true;
                nh_engine_set_leader(d->engine, false, NULL, 0);
                nh_ha_stop(d->ha, on_ha_resigned, d);
            }
            return;
        }
        finish(d);
        return;
    }
    if (!d->cancelled && uv_now(&d->loop) >= d->stop_deadline) {
        nh_log(LOG_WARNING,
               "shutdown: calls still in flight after %d s; cancelling them "
               "(mutations stay marked for verification in the journal)",
               SHUTDOWN_GRACE_MS / 1000);
        d->cancelled = true;
        nh_engine_cancel(d->engine);
    }
}

static void begin_shutdown(struct daemon *d, const char *why)
{
    if (d->stopping)
        return;
    d->stopping = true;
    nh_notify_stopping();
    nh_log(LOG_NOTICE, "%s: stopping (no new work; calls in flight may finish)", why);
    uv_close((uv_handle_t *)&d->sighup, NULL);
    nh_watch_stop(d->watch);
    d->watch = NULL;
    nh_watch_stop(d->git_watch);
    d->git_watch = NULL;
    nh_watchdog_stop(d->watchdog);
    d->watchdog = NULL;
    nh_httpd_stop(d->httpd);
    d->httpd = NULL;
    nh_engine_stop(d->engine);
    d->stop_deadline = uv_now(&d->loop) + SHUTDOWN_GRACE_MS;
    uv_timer_start(&d->stop_timer, on_stop_timer, 0, 20);
}

static void on_signal(uv_signal_t *s, int signum)
{
    struct daemon *d = s->data;
    if (signum == SIGHUP) {
        reload(d, "SIGHUP");
        return;
    }
    if (d->stopping) {
        nh_log(LOG_WARNING, "second %s: cancelling calls in flight now", strsignal(signum));
        if (!d->cancelled) {
            d->cancelled = true;
            nh_engine_cancel(d->engine);
        }
        return;
    }
    begin_shutdown(d, strsignal(signum));
}

/* ---------- main ---------- */

/* $STATE_DIRECTORY (systemd StateDirectory=) wins over the config; it may
 * hold several colon-separated paths: the first is ours. */
static char *state_dir_from_env(void)
{
    const char *s = getenv("STATE_DIRECTORY");
    if (s == NULL || *s == '\0')
        return NULL;
    const char *colon = strchr(s, ':');
    return colon ? strndup(s, (size_t)(colon - s)) : strdup(s);
}

/* Phase 0: the command line. Returns -1 to go on, else the exit code. */
static int run_parse_args(struct daemon *d, struct nh_global_opts *g, int argc, char **argv)
{
    static const struct option longopts[] = {
        {"dry-run", no_argument, NULL, 'n'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int c;

    while ((c = nh_cli_getopt(argc, argv, "h", longopts, g)) != -1) {
        switch (c) {
        case 'n':
            d->dry_run = true;
            break;
        default: /* --help, a global option's error, anything else */
            return nh_cli_end_opts(c, run_usage);
        }
    }
    if (optind < argc) {
        fprintf(stderr, "nodeherd run: unexpected argument \"%s\"\n", argv[optind]);
        return NH_EXIT_USAGE;
    }
    return -1;
}

/* Phase 1: the configuration (d->cfg); the log level follows it unless
 * --log-level said otherwise. */
static int run_load_config(struct daemon *d)
{
    struct nh_diag diag;

    nh_diag_init(&diag);
    if (nh_config_load(d->g->config_path, &d->cfg, &diag) < 0) {
        nh_diag_log(&diag, LOG_ERR);
        nh_log(LOG_ERR, "%s: configuration invalid (%zu error%s); not starting", d->g->config_path,
               diag.n_errors, diag.n_errors == 1 ? "" : "s");
        nh_diag_free(&diag);
        return -1;
    }
    nh_diag_log(&diag, LOG_WARNING);
    nh_diag_free(&diag);
    nh_log_max =
        d->g->log_level ? nh_log_level_from_string(d->g->log_level) : d->cfg->daemon.log_level;
    /* d->dry_run is --dry-run only: read-only for the process's life (no
     * journal, no leadership). daemon.dry_run is a switch the engine
     * honours at every reload, both ways. */
    return 0;
}

/* Phase 2: the state directory's lock (d->lock), then the event loop
 * (d->loop_open). */
static int run_open_state(struct daemon *d, const char *state_dir)
{
    char err[1024] = "";
    int r;

    /* One state directory, one daemon: the lock comes before anything in
     * the directory is read or written (a dry run writes nothing there and
     * may look at a running daemon's journal). */
    if (!d->dry_run) {
        r = nh_state_lock_take(state_dir ? state_dir : d->cfg->daemon.state_dir, &d->lock, err,
                               sizeof(err));
        if (r < 0) {
            nh_log(LOG_ERR, "%s; not starting", err);
            return -1;
        }
    }
    r = uv_loop_init(&d->loop);
    if (r < 0) {
        nh_log(LOG_ERR, "event loop: %s", uv_strerror(r));
        return -1;
    }
    d->loop_open = true;
    return 0;
}

/* Phase 3: the HTTP client, HA (ha: configured, not a dry run) and the
 * engine, wired to each other. */
static int run_build_engine(struct daemon *d, const char *state_dir)
{
    char err[1024] = "";
    int r;

    struct nh_http_opts hopts = {.ca_file = NULL};
    r = nh_http_new(&d->loop, &hopts, &d->http);
    if (r < 0) {
        nh_log_errno(LOG_ERR, r, "http client");
        return -1;
    }
    struct nh_engine_opts eo = {
        .loop = &d->loop,
        .http = d->http,
        .dry_run = d->dry_run,
        .state_dir = state_dir,
        .on_first_poll = on_first_poll,
        .on_change = on_engine_change,
        .ud = d,
    };
    if (d->cfg->ha.enabled && !d->dry_run) {
        /* HA: follow until elected; the journal lives in etcd. */
        struct nh_ha_opts ho = {
            .loop = &d->loop, .http = d->http, .cfg = &d->cfg->ha, .on_role = on_ha_role, .ud = d};
        r = nh_ha_new(&ho, &d->ha, err, sizeof(err));
        if (r < 0) {
            nh_log(LOG_ERR, "%s; not starting", err);
            return -1;
        }
        eo.start_as_follower = true;
        snprintf(d->fleet, sizeof(d->fleet), "%s",
                 d->cfg->ha.prefix ? d->cfg->ha.prefix : "/nodeherd/");
        eo.jstore = &nh_ha_jstore;
        eo.jstore_ctx = d->ha;
        eo.fence = ha_fence;
    } else if (d->cfg->ha.enabled) {
        nh_log(LOG_NOTICE, "dry-run: ha: ignored (a dry run never mutates, so it never leads)");
    }
    r = nh_engine_new(&eo, d->cfg, &d->engine, err, sizeof(err));
    if (r < 0) {
        nh_log(LOG_ERR, "%s; not starting", err);
        return -1;
    }
    return 0;
}

static void run_describe_metrics(const struct daemon *d)
{
    nh_metrics_describe("nodeherd_config_reloads_total", NH_METRIC_COUNTER,
                        "Configuration reloads by result", NULL, 0);
    nh_metrics_describe("nodeherd_config_last_reload_successful", NH_METRIC_GAUGE,
                        "1 when the last configuration load succeeded", NULL, 0);
    nh_metrics_set("nodeherd_config_last_reload_successful", 1, NULL);
    /* Both results from 0: an alert's increase() then sees the first failure. */
    nh_metrics_inc("nodeherd_config_reloads_total", 0, "result", "success", NULL);
    nh_metrics_inc("nodeherd_config_reloads_total", 0, "result", "failure", NULL);
    nh_metrics_describe("nodeherd_leader", NH_METRIC_GAUGE,
                        "1 when this instance may mutate (always 1 without ha:; with ha: "
                        "labelled with its fleet, the etcd prefix)",
                        NULL, 0);
    nh_metrics_describe("nodeherd_leader_transitions_total", NH_METRIC_COUNTER,
                        "Leadership changes of this instance (ha:)", NULL, 0);
    leader_metrics(d, d->ha == NULL, 0);
}

/* Phase 4: metrics and health over HTTP (daemon.listen set). */
static int run_listen(struct daemon *d)
{
    char err[1024] = "";
    unsigned total, per_ip;

    if (d->cfg->daemon.listen == NULL || d->cfg->daemon.listen[0] == '\0')
        return 0;
    struct nh_httpd_hooks hooks = {
        .ready = hook_ready, .healthy = hook_healthy, .status_json = hook_status, .ud = d};
    int r = nh_httpd_start(&d->loop, d->cfg->daemon.listen, &hooks, &d->httpd, err, sizeof(err));
    if (r < 0) {
        nh_log(LOG_ERR, "listen %s: %s; not starting", d->cfg->daemon.listen, err);
        return -1;
    }
    nh_httpd_limits(d->httpd, &total, &per_ip);
    if (nh_httpd_set_names(d->httpd, d->cfg->daemon.listen_names, d->cfg->daemon.n_listen_names) <
        0)
        nh_log(LOG_WARNING, "daemon.listen_names: out of memory; answering to addresses only");
    nh_log(LOG_INFO, "metrics and health on http://%s (port %d)", d->cfg->daemon.listen,
           nh_httpd_port(d->httpd));
    nh_log(LOG_INFO, "http: at most %u connections, %u per client address (LimitNOFILE)", total,
           per_ip);
    return 0;
}

/* Phase 5: signal handlers, timers, the file watches and the watchdog. */
static void run_arm(struct daemon *d)
{
    int r;

    uv_signal_init(&d->loop, &d->sighup);
    uv_signal_init(&d->loop, &d->sigterm);
    uv_signal_init(&d->loop, &d->sigint);
    d->sighup.data = d->sigterm.data = d->sigint.data = d;
    uv_signal_start(&d->sighup, on_signal, SIGHUP);
    uv_signal_start(&d->sigterm, on_signal, SIGTERM);
    uv_signal_start(&d->sigint, on_signal, SIGINT);
    uv_timer_init(&d->loop, &d->status_timer);
    uv_timer_init(&d->loop, &d->stop_timer);
    uv_timer_init(&d->loop, &d->git_timer);
    d->status_timer.data = d->stop_timer.data = d->git_timer.data = d;

    r = nh_watch_start(&d->loop, d->g->config_path, on_file_changed, d, &d->watch);
    if (r < 0)
        nh_log_errno(LOG_WARNING, r, "cannot watch %s; reload with SIGHUP", d->g->config_path);
    watch_git(d);
    r = nh_watchdog_start(&d->loop, &d->watchdog);
    if (r < 0)
        nh_log_errno(LOG_WARNING, r, "watchdog");
    nh_watchdog_set_check(d->watchdog, watchdog_healthy, d);
}

/* Phase 6: announce, start the engine (and HA), run until finish(). */
static void run_loop(struct daemon *d)
{
    const struct nh_config *cfg = d->cfg;

    nh_log(LOG_NOTICE, "nodeherd %s starting: %zu cluster%s, revision %s%s", NH_VERSION,
           cfg->n_clusters, cfg->n_clusters == 1 ? "" : "s", cfg->revision ? cfg->revision : "?",
           d->dry_run            ? ", dry-run (--dry-run: nothing is sent while it runs)"
           : cfg->daemon.dry_run ? ", dry-run (daemon.dry_run: nothing is sent until the "
                                   "configuration turns it off)"
                                 : "");
    for (size_t i = 0; i < cfg->n_clusters; i++)
        if (cfg->clusters[i].suspend)
            nh_log(LOG_NOTICE, "cluster %s is suspended: observed and planned, nothing is sent",
                   cfg->clusters[i].name);
    nh_engine_start(d->engine);
    if (d->ha != NULL)
        nh_ha_start(d->ha);
    update_status(d);
    uv_run(&d->loop, UV_RUN_DEFAULT);
}

/* The one teardown, after a normal stop (finish() already freed the
 * engine, HA and HTTP client) or a failed start at any phase: whatever is
 * still there is freed, each thing once, the lock last. */
static int run_teardown(struct daemon *d, char *state_dir, int code)
{
    if (d->loop_open) {
        free_core(d);
        /* Safety net: anything still open gets closed, then the loop must
         * end empty (a leaked handle is a bug, reported). */
        uv_walk(&d->loop, close_walk_cb, NULL);
        while (uv_run(&d->loop, UV_RUN_DEFAULT) != 0)
            ;
        if (uv_loop_close(&d->loop) != 0)
            nh_log(LOG_ERR, "shutdown: event loop still had handles");
    }
    nh_config_unref(d->cfg);
    d->cfg = NULL;
    if (d->loop_open)
        nh_metrics_reset();
    nh_state_lock_release(d->lock); /* last: everything in state_dir is closed */
    d->lock = NULL;
    free(state_dir);
    return code;
}

int nh_cmd_run(struct nh_global_opts *g, int argc, char **argv)
{
    struct daemon d;
    char *state_dir;
    int r;

    memset(&d, 0, sizeof(d));
    d.g = g;
    r = run_parse_args(&d, g, argc, argv);
    if (r >= 0)
        return r;
    /* From here on every line on stderr is a log record in the chosen
     * format, configuration problems included (--log-format=json: JSON from
     * the first line). */
    nh_log_init((enum nh_log_format)nh_log_format_from_string(g->log_format), LOG_INFO);
    signal(SIGPIPE, SIG_IGN);
    if (run_load_config(&d) < 0)
        return NH_EXIT_USAGE;

    state_dir = state_dir_from_env();
    if (run_open_state(&d, state_dir) < 0 || run_build_engine(&d, state_dir) < 0)
        return run_teardown(&d, state_dir, NH_EXIT_FAILURE);
    run_describe_metrics(&d);
    if (run_listen(&d) < 0)
        return run_teardown(&d, state_dir, NH_EXIT_FAILURE);
    run_arm(&d);
    run_loop(&d);
    return run_teardown(&d, state_dir, d.exit_code);
}
