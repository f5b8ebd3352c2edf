/* cmd_plan.c - `nodeherd plan`: observe every cluster once, plan, print
 * what would be done and why; sends nothing. */
#include <getopt.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
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
    uint64_t timeout_ms;
    int rc;
};

static void plan_usage(FILE *f)
{
    fputs("Usage: nodeherd plan [--json] [--detailed-exitcode] [--timeout DUR] [-c FILE]\n"
          "\n"
          "Polls every cluster once and prints the actions nodeherd would take and why\n"
          "(+ add, - remove, ~ change, ! not done: blocked, refused or waiting,\n"
          "i worth knowing, e.g. labels not checked).\n"
          "Nothing is sent to the clouds: read-only credentials are enough, and secrets\n"
          "only mutations use (scale_out.login_password, login.password) are not read.\n"
          "\n"
          "      --json               one JSON document on standard output, errors included\n"
          "      --detailed-exitcode  0 converged, 1 error, 2 the declared state differs\n"
          "      --timeout DUR        give up waiting for the clouds after DUR (default 2m)\n"
          "  -h, --help               show this help\n"
          "\n"
          "Global options (-c/--config FILE, --allow-endpoint HOST, --log-format,\n"
          "--log-level) may come before or after the command; see nodeherd --help.\n"
          "\n"
          "Exit status (as terraform plan): 0 planned, 1 any error (usage, configuration,\n"
          "a cluster not observed, timeout); with --detailed-exitcode 0 means every\n"
          "cluster is converged and nothing is refused, 2 that the declared state differs\n"
          "(changes to make, or blocked, refused or waiting ones: the text says which).\n",
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

static void finish_plan(struct planrun *p, bool timed_out)
{
    struct nh_report_sum sum;
    char to[32];
    if (p->done)
        return;
    p->done = true;
    nh_engine_report(p->engine, stdout, p->json,
                     timed_out ? nh_duration_format(p->timeout_ms, to, sizeof(to)) : NULL, &sum);
    fflush(stdout);
    if (sum.not_observed > 0)
        p->rc = NH_EXIT_FAILURE;
    else if (p->detailed && sum.differs > 0)
        p->rc = NH_EXIT_CHANGES;
    else
        p->rc = NH_EXIT_OK;
    uv_timer_stop(&p->timeout);
    nh_engine_stop(p->engine);
    nh_engine_cancel(p->engine);
    uv_timer_start(&p->stopper, on_stopper, 0, 10);
}

static void on_first_poll(void *ud)
{
    finish_plan(ud, false);
}

static void on_timeout(uv_timer_t *t)
{
    finish_plan(t->data, true);
}

static void close_walk_cb(uv_handle_t *h, void *arg)
{
    (void)arg;
    if (!uv_is_closing(h))
        uv_close(h, NULL);
}

/* A plan that could not be made: the message on standard error, and with
 * --json also the error document on standard output. Returns 1 (terraform:
 * 1 on any error, so that CI never reads an error as "changes"). */
static int plan_fail(bool json, const char *revision, const struct nh_diag *diag, const char *fmt,
                     ...) __attribute__((format(printf, 4, 5)));
static int plan_fail(bool json, const char *revision, const struct nh_diag *diag, const char *fmt,
                     ...)
{
    char msg[600] = "";
    if (fmt != NULL) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(msg, sizeof(msg), fmt, ap);
        va_end(ap);
        fprintf(stderr, "nodeherd plan: %s\n", msg);
    }
    if (json) {
        nh_report_error_json(stdout, revision, diag, fmt != NULL ? msg : NULL);
        fflush(stdout);
    }
    return NH_EXIT_FAILURE;
}

/* The command line, every option read before any error is reported, so
 * that --json anywhere on the line gets its JSON document. Returns -1 to go
 * on, else the exit code. */
static int plan_parse_args(struct planrun *p, struct nh_global_opts *g, int argc, char **argv)
{
    static const struct option longopts[] = {
        {"json", no_argument, NULL, 'j'},
        {"detailed-exitcode", no_argument, NULL, 'd'},
        {"timeout", required_argument, NULL, 't'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    char usage_err[256] = "";
    bool help = false;
    int c;

    opterr = 0;
    while ((c = nh_cli_getopt(argc, argv, ":h", longopts, g)) != -1) {
        switch (c) {
        case 'j':
            p->json = true;
            break;
        case 'd':
            p->detailed = true;
            break;
        case 't':
            if ((nh_duration_parse(optarg, &p->timeout_ms) < 0 || p->timeout_ms == 0) &&
                usage_err[0] == '\0')
                snprintf(usage_err, sizeof(usage_err),
                         "--timeout: expected a duration like 30s or 2m, got \"%.60s\"", optarg);
            break;
        case 'h':
            help = true;
            break;
        case NH_CLI_GLOBAL_ERROR: /* said why; in g->usage_error, reported below */
            break;
        case ':':
            if (usage_err[0] == '\0')
                snprintf(usage_err, sizeof(usage_err), "%.60s needs a value",
                         argv[optind - 1] ? argv[optind - 1] : "an option");
            break;
        default:
            if (usage_err[0] == '\0')
                snprintf(usage_err, sizeof(usage_err),
                         "unknown option \"%.60s\"; see nodeherd plan --help",
                         argv[optind - 1] ? argv[optind - 1] : "?");
            break;
        }
    }
    opterr = 1;
    if (g->usage_error != NULL && usage_err[0] == '\0')
        snprintf(usage_err, sizeof(usage_err), "%s", g->usage_error);
    if (help && usage_err[0] == '\0') {
        plan_usage(stdout);
        return NH_EXIT_OK;
    }
    if (usage_err[0] == '\0' && optind < argc)
        snprintf(usage_err, sizeof(usage_err), "unexpected argument \"%.60s\"", argv[optind]);
    if (usage_err[0] != '\0') {
        if (!p->json)
            plan_usage(stderr);
        return plan_fail(p->json, NULL, NULL, "%s", usage_err);
    }
    return -1;
}

/* The configuration, with only the credentials reads need (plan reads,
 * never writes). Returns -1 to go on (*cfg set), else the exit code. */
static int plan_load_config(const struct planrun *p, const char *path, struct nh_config **cfg)
{
    const struct nh_load_opts lo = {.secrets = NH_USE_CLOUD_READ};
    struct nh_diag diag;
    int r;

    /* Configuration problems: FILE:LINE:COL lines for a person (and CI
     * annotations), log records when the logs are JSON or go to the journal. */
    bool as_log = nh_log_format() != NH_LOG_PLAIN;
    nh_diag_init(&diag);
    if (nh_config_load_with(path, &lo, cfg, &diag) < 0) {
        if (as_log) {
            nh_diag_log(&diag, LOG_ERR);
            nh_log(LOG_ERR, "%s: configuration invalid (%zu error%s)", path, diag.n_errors,
                   diag.n_errors == 1 ? "" : "s");
        } else {
            nh_diag_print(&diag, stderr);
            fprintf(stderr, "%s: configuration invalid (%zu error%s)\n", path, diag.n_errors,
                    diag.n_errors == 1 ? "" : "s");
        }
        r = plan_fail(p->json, NULL, &diag, NULL);
        nh_diag_free(&diag);
        return r;
    }
    if (as_log)
        nh_diag_log(&diag, LOG_WARNING); /* warnings */
    else
        nh_diag_print(&diag, stderr);
    nh_diag_free(&diag);
    return -1;
}

/* The HTTP client, a dry-run engine and the timers on p->loop, the engine
 * started. Returns 0, or -1 with p->rc set and the error reported. */
static int plan_start(struct planrun *p, struct nh_config *cfg)
{
    char err[512] = "";
    int r;

    struct nh_http_opts hopts = {.ca_file = NULL};
    r = nh_http_new(&p->loop, &hopts, &p->http);
    if (r < 0) {
        p->rc = plan_fail(p->json, cfg->revision, NULL, "http client: %s", strerror(-r));
        return -1;
    }
    const char *sd = getenv("STATE_DIRECTORY");
    char *state_dir = sd && *sd ? strndup(sd, strcspn(sd, ":")) : NULL;
    struct nh_engine_opts eo = {
        .loop = &p->loop,
        .http = p->http,
        .dry_run = true,
        .state_dir = state_dir,
        .on_first_poll = on_first_poll,
        .ud = p,
    };
    r = nh_engine_new(&eo, cfg, &p->engine, err, sizeof(err));
    free(state_dir);
    if (r < 0) {
        nh_http_close(p->http);
        p->rc = plan_fail(p->json, cfg->revision, NULL, "%s", err);
        return -1;
    }
    uv_timer_init(&p->loop, &p->timeout);
    uv_timer_init(&p->loop, &p->stopper);
    p->timeout.data = p->stopper.data = p;
    uv_timer_start(&p->timeout, on_timeout, p->timeout_ms, 0);
    nh_engine_start(p->engine);
    return 0;
}

int nh_cmd_plan(struct nh_global_opts *g, int argc, char **argv)
{
    struct planrun p;
    struct nh_config *cfg = NULL;
    int r;

    memset(&p, 0, sizeof(p));
    p.timeout_ms = 120000;
    r = plan_parse_args(&p, g, argc, argv);
    if (r >= 0)
        return r;
    nh_log_init((enum nh_log_format)nh_log_format_from_string(g->log_format),
                g->log_level ? nh_log_level_from_string(g->log_level) : LOG_WARNING);
    signal(SIGPIPE, SIG_IGN);
    r = plan_load_config(&p, g->config_path, &cfg);
    if (r >= 0)
        return r;

    uv_loop_init(&p.loop);
    if (plan_start(&p, cfg) == 0)
        uv_run(&p.loop, UV_RUN_DEFAULT);
    uv_walk(&p.loop, close_walk_cb, NULL);
    while (uv_run(&p.loop, UV_RUN_DEFAULT) != 0)
        ;
    uv_loop_close(&p.loop);
    nh_config_unref(cfg);
    nh_metrics_reset();
    return p.rc;
}
