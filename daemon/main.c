/* main.c - nodeherd's command line: global options, then a subcommand. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>

#include "cmd.h"
#include "config/config.h"
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
          "  version   print the version\n"
          "\n"
          "Options:\n"
          "  -c, --config FILE      configuration file (default " NH_DEFAULT_CONFIG ")\n"
          "      --allow-endpoint HOST\n"
          "                         let a provider's endpoint: be HOST although it is\n"
          "                         outside the cloud's own domains (repeatable)\n"
          "      --log-format FMT   auto, plain, journal or json (default auto)\n"
          "      --log-level LEVEL  err, warning, notice, info or debug\n"
          "  -h, --help             show this help (also: nodeherd COMMAND --help)\n"
          "  -V, --version          print the version\n"
          "\n"
          "Exit status: 0 success, 1 runtime failure, 2 usage or configuration error;\n"
          "plan: 0 planned, 1 any error, 2 (--detailed-exitcode) the declared state differs.\n"
          "See nodeherd(8) and nodeherd.yaml(5).\n",
          f);
}

int main(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"config", required_argument, NULL, 'c'},
        {"log-format", required_argument, NULL, 'F'},
        {"log-level", required_argument, NULL, 'L'},
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},
        {"allow-endpoint", required_argument, NULL, 'E'},
        {NULL, 0, NULL, 0},
    };
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

    env = getenv("NODEHERD_CONFIG");
    g.config_path = env && *env ? env : NH_DEFAULT_CONFIG;
    /* '+': stop at the first non-option, the subcommand parses the rest. */
    while ((c = getopt_long(argc, argv, "+c:hV", longopts, NULL)) != -1) {
        switch (c) {
        case 'c':
            g.config_path = optarg;
            break;
        case 'F':
            g.log_format = optarg;
            break;
        case 'L':
            g.log_level = optarg;
            break;
        case 'h':
            usage(stdout);
            return NH_EXIT_OK;
        case 'V':
            printf("nodeherd %s\n", NH_VERSION);
            return NH_EXIT_OK;
        case 'E': /* endpoint overrides outside the clouds' domains: see config.h */
            if (nh_config_allow_endpoint(optarg) < 0) {
                fprintf(stderr,
                        "nodeherd: --allow-endpoint: expected a host name or address (at most "
                        "%d of them), got \"%s\"\n",
                        NH_CONFIG_MAX_ALLOWED_ENDPOINTS, optarg);
                g.usage_error = "--allow-endpoint: expected a host name or address";
            }
            break;
        default:
            /* Keep going to the command: plan reports usage errors its own
             * way (exit 1, and a JSON document with --json). */
            g.usage_error = "invalid global option (see above); see nodeherd --help";
            bad_option = 1;
            break;
        }
    }
    if (g.usage_error == NULL && strcmp(g.log_format, "auto") && strcmp(g.log_format, "plain") &&
        strcmp(g.log_format, "journal") && strcmp(g.log_format, "json")) {
        fprintf(stderr,
                "nodeherd: --log-format: expected auto, plain, journal or json, got \"%s\"\n",
                g.log_format);
        g.usage_error = "--log-format: expected auto, plain, journal or json";
    }
    if (g.usage_error == NULL && g.log_level && nh_log_level_from_string(g.log_level) < 0) {
        fprintf(stderr,
                "nodeherd: --log-level: expected err, warning, notice, info or debug, got \"%s\"\n",
                g.log_level);
        g.usage_error = "--log-level: expected err, warning, notice, info or debug";
    }
    if (optind >= argc) {
        usage(stderr);
        return NH_EXIT_USAGE;
    }
    const char *cmd = argv[optind];
    int sub_argc = argc - optind;
    char **sub_argv = argv + optind;
    optind = 0; /* GNU getopt: 0 reinitializes for the subcommand */

    if (g.usage_error != NULL && strcmp(cmd, "plan") != 0) {
        if (bad_option)
            usage(stderr);
        return NH_EXIT_USAGE;
    }

    if (strcmp(cmd, "check") == 0)
        return nh_cmd_check(&g, sub_argc, sub_argv);
    if (strcmp(cmd, "plan") == 0)
        return nh_cmd_plan(&g, sub_argc, sub_argv);
    if (strcmp(cmd, "run") == 0)
        return nh_cmd_run(&g, sub_argc, sub_argv);
    if (strcmp(cmd, "status") == 0)
        return nh_cmd_status(&g, sub_argc, sub_argv);
    if (strcmp(cmd, "version") == 0) {
        printf("nodeherd %s\n", NH_VERSION);
        return NH_EXIT_OK;
    }
    if (strcmp(cmd, "help") == 0) {
        usage(stdout);
        return NH_EXIT_OK;
    }
    fprintf(stderr, "nodeherd: unknown command \"%s\"; try \"nodeherd --help\"\n", cmd);
    return NH_EXIT_USAGE;
}
