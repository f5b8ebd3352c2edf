/* cmd_plan.c - `nodeherd plan`: observe every cluster once, plan, print
 * what would be done and why; sends nothing. */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <uv.h>

#include "cmd.h"
#include "config/config.h"
#include "executor/engine.h"
#include "executor/report.h"
#include "net/http.h"
#include "ops/metrics.h"
#include "util/log.h"

struct planrun {
    uv_loop_t loop;
    struct nh_http *http;
    struct nh_engine *engine;
    uv_timer_t timeout;
    uv_timer_t stopper;
    bool json;
    bool detailed;
    bool done;
    int rc;
};

static void plan_usage(FILE *f)
{
    fputs("Usage: nodeherd [--config FILE] plan [--json] [--detailed-exitcode] [--timeout DUR]\n"
          "\n"
          "Polls every cluster once and prints the actions nodeherd would take and why\n"
          "(+ add, - remove, ~ change, ! not done: blocked, refused or waiting).\n"
          "Nothing is sent to the clouds.\n"
          "\n"
          "      --json               machine-readable output\n"
          "      --detailed-exitcode  0 converged, 1 error, 2 changes pending\n"
          "      --timeout DUR        give up waiting for the clouds after DUR (default 2m)\n"
          "  -h, --help               show this help\n"
          "\n"
          "Without --detailed-exitcode: 0 planned (changes or not), 1 a cluster could not\n"
          "be observed, 2 usage or configuration error.\n",
          f);
}

static void on_stopper(uv_timer_t *t)
{
    struct planrun *p = t->data;
    if (!nh_engine_idle(p->engine))
        return;
    uv_timer_stop(&p->stopper);
    uv_close((uv_handle_t *)&p->stopper, NULL);
    uv_close((uv_handle_t *)&p->timeout, NULL);
    nh_engine_free(p->engine);
    p->engine = NULL;
    nh_http_close(p->http);
    p->http = NULL;
}

static void finish_plan(struct planrun *p)
{
    bool changes = false, errors = false;
    if (p->done)
        return;
    p->done = true;
    nh_engine_report(p->engine, stdout, p->json, &changes, &errors);
    fflush(stdout);
    if (p->detailed)
        p->rc = errors ? NH_EXIT_FAILURE : changes ? NH_EXIT_CHANGES : NH_EXIT_OK;
    else
        p->rc = errors ? NH_EXIT_FAILURE : NH_EXIT_OK;
    uv_timer_stop(&p->timeout);
    nh_engine_stop(p->engine);
    nh_engine_cancel(p->engine);
    uv_timer_start(&p->stopper, on_stopper, 0, 10);
}

static void on_first_poll(void *ud)
{
    finish_plan(ud);
}

static void on_timeout(uv_timer_t *t)
{
    finish_plan(t->data);
}

static void close_walk_cb(uv_handle_t *h, void *arg)
{
    (void)arg;
    if (!uv_is_closing(h))
        uv_close(h, NULL);
}

int nh_cmd_plan(const struct nh_global_opts *g, int argc, char **argv)
{
    static const struct option longopts[] = {
        {"json", no_argument, NULL, 'j'},
        {"detailed-exitcode", no_argument, NULL, 'd'},
        {"timeout", required_argument, NULL, 't'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    struct planrun p;
    struct nh_config *cfg = NULL;
    struct nh_diag diag;
    uint64_t timeout_ms = 120000;
    char err[512] = "";
    int c, r;

    memset(&p, 0, sizeof(p));
    while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        switch (c) {
        case 'j':
            p.json = true;
            break;
        case 'd':
            p.detailed = true;
            break;
        case 't':
            if (nh_duration_parse(optarg, &timeout_ms) < 0 || timeout_ms == 0) {
                fprintf(stderr,
                        "nodeherd plan: --timeout: expected a duration like 30s or 2m, "
                        "got \"%s\"\n",
                        optarg);
                return NH_EXIT_USAGE;
            }
            break;
        case 'h':
            plan_usage(stdout);
            return NH_EXIT_OK;
        default:
            plan_usage(stderr);
            return NH_EXIT_USAGE;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "nodeherd plan: unexpected argument \"%s\"\n", argv[optind]);
        return NH_EXIT_USAGE;
    }
    nh_log_init(NH_LOG_PLAIN, g->log_level ? nh_log_level_from_string(g->log_level) : LOG_WARNING);
    signal(SIGPIPE, SIG_IGN);
    nh_diag_init(&diag);
    if (nh_config_load(g->config_path, &cfg, &diag) < 0) {
        nh_diag_print(&diag, stderr);
        fprintf(stderr, "%s: configuration invalid (%zu error%s)\n", g->config_path, diag.n_errors,
                diag.n_errors == 1 ? "" : "s");
        nh_diag_free(&diag);
        return NH_EXIT_USAGE;
    }
    nh_diag_print(&diag, stderr); /* warnings */
    nh_diag_free(&diag);

    uv_loop_init(&p.loop);
    struct nh_http_opts hopts = {.ca_file = NULL};
    r = nh_http_new(&p.loop, &hopts, &p.http);
    if (r < 0) {
        fprintf(stderr, "nodeherd plan: http client: %s\n", strerror(-r));
        p.rc = NH_EXIT_FAILURE;
        goto out;
    }
    const char *sd = getenv("STATE_DIRECTORY");
    char *state_dir = sd && *sd ? strndup(sd, strcspn(sd, ":")) : NULL;
    struct nh_engine_opts eo = {
        .loop = &p.loop,
        .http = p.http,
        .dry_run = true,
        .state_dir = state_dir,
        .on_first_poll = on_first_poll,
        .ud = &p,
    };
    r = nh_engine_new(&eo, cfg, &p.engine, err, sizeof(err));
    free(state_dir);
    if (r < 0) {
        fprintf(stderr, "nodeherd plan: %s\n", err);
        nh_http_close(p.http);
        p.rc = NH_EXIT_FAILURE;
        goto out;
    }
    uv_timer_init(&p.loop, &p.timeout);
    uv_timer_init(&p.loop, &p.stopper);
    p.timeout.data = p.stopper.data = &p;
    uv_timer_start(&p.timeout, on_timeout, timeout_ms, 0);
    nh_engine_start(p.engine);
    uv_run(&p.loop, UV_RUN_DEFAULT);
out:
    uv_walk(&p.loop, close_walk_cb, NULL);
    while (uv_run(&p.loop, UV_RUN_DEFAULT) != 0)
        ;
    uv_loop_close(&p.loop);
    nh_config_unref(cfg);
    nh_metrics_reset();
    return p.rc;
}
