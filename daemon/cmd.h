/* cmd.h - the subcommands of nodeherd(8). Each returns an exit code. */
#ifndef NH_CMD_H
#define NH_CMD_H

enum nh_exit {
    NH_EXIT_OK = 0,
    NH_EXIT_FAILURE = 1, /* runtime failure */
    NH_EXIT_USAGE = 2,   /* usage or configuration error */
    /* plan: 0 success, 1 any error (usage and configuration included, as
     * terraform plan); with --detailed-exitcode 2: the declared state differs */
    NH_EXIT_CHANGES = 2,
};

struct nh_global_opts {
    const char *config_path;
    const char *log_format; /* "auto", "plain", "journal", "json" */
    const char *log_level;  /* NULL: from config */
    /* A global option was invalid (already printed): plan reports it as an
     * error of its own (exit 1, JSON with --json); other commands never run. */
    const char *usage_error;
};

int nh_cmd_check(const struct nh_global_opts *g, int argc, char **argv);
int nh_cmd_plan(const struct nh_global_opts *g, int argc, char **argv);
int nh_cmd_run(const struct nh_global_opts *g, int argc, char **argv);
int nh_cmd_status(const struct nh_global_opts *g, int argc, char **argv);

#endif
