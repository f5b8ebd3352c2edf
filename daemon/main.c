/* main.c - nodeherd's command line: a subcommand, with global options before
 * or after it (cli.h). */
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>

#include "cmd.h"
#include "config/config.h"
#include "kube/kubeconfig.h"
#include "util/log.h"

static void usage(FILE *f)
{
    fputs("Usage: nodeherd [OPTIONS] COMMAND [ARGS]\n"
          "\n"
          "Keeps Kubernetes worker fleets on Alibaba Cloud ACK, Huawei Cloud CCE and\n"
          "Huawei ModelArts at the size and shape a YAML file declares.\n"
          "\n"
          "Commands:\n"
          "  run       run the reconciliation daemon (systemd Type=notify)\n"
          "  plan      poll every cluster once and print what would be done\n"
          "  check     validate configuration files and exit\n"
          "  status    ask the running daemon what it is doing\n"
          "  version   print the version (--json: with the libraries in use)\n"
          "  help      show this help, or a command's: nodeherd help COMMAND\n"
          "\n"
          "Options (before or after the command):\n"
          "  -c, --config FILE      configuration file (default " NH_DEFAULT_CONFIG ")\n"
          "      --allow-endpoint HOST\n"
          "                         let a provider's endpoint: be HOST although it is\n"
          "                         outside the cloud's own domains (repeatable)\n"
          "      --log-format FMT   auto, plain, journal or json (default auto)\n"
          "      --log-level LEVEL  err, warning, notice, info or debug\n"
          "  -h, --help             show this help (after a command: that command's)\n"
          "  -V, --version          print the version\n"
          "\n"
          "Exit status: 0 success, 1 runtime failure, 2 usage or configuration error;\n"
          "plan: 0 planned, 1 any error, 2 (--detailed-exitcode) the declared state differs.\n"
          "See nodeherd(8) and nodeherd.yaml(5).\n",
          f);
}

static void version_usage(FILE *f)
{
    fputs("Usage: nodeherd version [--json]\n"
          "\n"
          "Prints the version. With --json, a JSON document with the version and the\n"
          "versions of the libraries this binary runs with (for bug reports).\n"
          "\n"
          "      --json   machine-readable output\n"
          "  -h, --help   show this help\n",
          f);
}

int nh_cmd_version(struct nh_global_opts *g, int argc, char **argv)
{
    static const struct option longopts[] = {
        {"json", no_argument, NULL, 'j'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    bool json = false;
    int c;
    while ((c = nh_cli_getopt(argc, argv, "h", longopts, g)) != -1) {
        if (c != 'j') /* --help, a global option's error, anything else */
            return nh_cli_end_opts(c, version_usage);
        json = true;
    }
    if (optind < argc) {
        fprintf(stderr, "nodeherd version: unexpected argument \"%s\"\n", argv[optind]);
        return NH_EXIT_USAGE;
    }
    nh_cli_print_version(stdout, json);
    return NH_EXIT_OK;
}

static const struct command {
    const char *name;
    int (*fn)(struct nh_global_opts *g, int argc, char **argv);
} commands[] = {
    {"run", nh_cmd_run},       {"plan", nh_cmd_plan},       {"check", nh_cmd_check},
    {"status", nh_cmd_status}, {"version", nh_cmd_version}, {NULL, NULL},
};

static const struct command *command_find(const char *name)
{
    for (const struct command *c = commands; c->name != NULL; c++)
        if (strcmp(c->name, name) == 0)
            return c;
    return NULL;
}

/* Runs cmd with argv[0] replaced by "nodeherd CMD" (for getopt's messages). */
static int command_run(const struct command *cmd, struct nh_global_opts *g, int argc, char **argv)
{
    char argv0[32];
    snprintf(argv0, sizeof(argv0), "nodeherd %s", cmd->name);
    argv[0] = argv0;
    optind = 0; /* GNU getopt: 0 reinitializes */
    return cmd->fn(g, argc, argv);
}

/* nodeherd help [COMMAND]: the command's own --help. sub_argv[0] is "help". */
static int command_help(struct nh_global_opts *g, int sub_argc, char **sub_argv)
{
    if (sub_argc == 1) {
        usage(stdout);
        return NH_EXIT_OK;
    }
    const struct command *cmd = command_find(sub_argv[1]);
    if (sub_argc > 2) {
        fputs("nodeherd help: one command at a time; try \"nodeherd help\"\n", stderr);
        return NH_EXIT_USAGE;
    }
    if (strcmp(sub_argv[1], "help") == 0) {
        usage(stdout);
        return NH_EXIT_OK;
    }
    if (cmd == NULL) {
        fprintf(stderr,
                "nodeherd help: unknown command \"%s\"; the commands are run, plan, check, "
                "status and version\n",
                sub_argv[1]);
        return NH_EXIT_USAGE;
    }
    char help[] = "--help";
    char *hargv[] = {sub_argv[1], help, NULL};
    return command_run(cmd, g, 2, hargv);
}

int main(int argc, char **argv)
{
    struct nh_global_opts g = {
        .config_path = NULL, .log_format = "auto", .log_level = NULL, .usage_error = NULL};
    const char *env;
    int c, bad_option = 0;

    /* Credentials live in this process's memory: no core dump may carry
     * them out (tests/reliability/it_secrets.py). Not dumpable also keeps
     * other processes of the same user from ptrace-reading them. */
    const struct rlimit no_core = {0, 0};
    (void)setrlimit(RLIMIT_CORE, &no_core);
    (void)prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);

    /* Every configuration load refuses a kubeconfig the client would. */
    nh_config_set_kubeconfig_check(nh_kubeconfig_check);

    env = getenv("NODEHERD_CONFIG");
    g.config_path = env && *env ? env : NH_DEFAULT_CONFIG;

    /* Global options before the command ('+': stop at the command); the
     * command's own parser takes them after it (cli.h). */
    static struct option longopts[16];
    size_t n = 0;
    for (; nh_cli_global_longopts[n].name != NULL; n++)
        longopts[n] = nh_cli_global_longopts[n];
    longopts[n] = (struct option){"help", no_argument, NULL, 'h'};
    longopts[n + 1] = (struct option){NULL, 0, NULL, 0};
    while ((c = getopt_long(argc, argv, "+h" NH_CLI_GLOBAL_SHORTOPTS, longopts, NULL)) != -1) {
        if (c == 'h') {
            usage(stdout);
            return NH_EXIT_OK;
        }
        /* A bad one: keep going to the command, plan reports usage errors
         * its own way (exit 1, and a JSON document with --json). */
        if (c == '?' || nh_cli_global_opt(&g, c, optarg) == 0) { /* getopt said which */
            g.usage_error = "invalid global option (see above); see nodeherd --help";
            bad_option = 1;
        }
    }
    if (optind >= argc) {
        usage(stderr);
        return NH_EXIT_USAGE;
    }
    const char *name = argv[optind];
    int sub_argc = argc - optind;
    char **sub_argv = argv + optind;
    if (g.usage_error != NULL && strcmp(name, "plan") != 0) {
        if (bad_option) /* usage only after getopt's own complaint */
            usage(stderr);
        return NH_EXIT_USAGE;
    }

    if (strcmp(name, "help") == 0)
        return command_help(&g, sub_argc, sub_argv);
    const struct command *cmd = command_find(name);
    if (cmd == NULL) {
        fprintf(stderr, "nodeherd: unknown command \"%s\"; try \"nodeherd --help\"\n", name);
        return NH_EXIT_USAGE;
    }
    return command_run(cmd, &g, sub_argc, sub_argv);
}
