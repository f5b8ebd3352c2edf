/* cmd.h - the subcommands of nodeherd(8). Each returns an exit code. */
#ifndef NH_CMD_H
#define NH_CMD_H

#include "cli.h"

enum nh_exit {
    NH_EXIT_OK = 0,
    NH_EXIT_FAILURE = 1, /* runtime failure */
    NH_EXIT_USAGE = 2,   /* usage or configuration error */
    /* plan: 0 success, 1 any error (usage and configuration included, as
     * terraform plan); with --detailed-exitcode 2: the declared state differs */
    NH_EXIT_CHANGES = 2,
};

/* argv[0] is "nodeherd COMMAND" (getopt's messages name it); options are
 * parsed with nh_cli_getopt(), which also takes the global ones into g. */
int nh_cmd_check(struct nh_global_opts *g, int argc, char **argv);
int nh_cmd_plan(struct nh_global_opts *g, int argc, char **argv);
int nh_cmd_run(struct nh_global_opts *g, int argc, char **argv);
int nh_cmd_status(struct nh_global_opts *g, int argc, char **argv);
int nh_cmd_version(struct nh_global_opts *g, int argc, char **argv);

#endif
