/* cli.h - the command line's conventions, shared by main.c and every
 * subcommand.
 *
 * Global options (-c/--config, --allow-endpoint, --log-format, --log-level,
 * -V/--version) are
 * accepted before or after the subcommand, as kubectl and flux accept
 * theirs: `nodeherd -c X plan` and `nodeherd plan -c X` are the same. After
 * the subcommand, options and operands may come in any order (GNU getopt
 * permutes them); "--" ends the options.
 *
 * A subcommand parses its arguments with nh_cli_getopt() in place of
 * getopt_long(): it passes only its own options, gets only its own options
 * back, and finds its operands at argv[optind..argc-1] afterwards. Adding an
 * option is one row in its `struct option` table (documented in nodeherd(8):
 * tests/unit/ops/check_man.py reads the tables) and one case in its switch.
 * Its short options must not use the global letters c and V.
 *
 * Adding a global option: a row in nh_cli_global_longopts (cli.c; a value
 * from the enum below when it has no short letter, the letter in
 * NH_CLI_GLOBAL_SHORTOPTS when it has one), a field in struct
 * nh_global_opts, a case in nh_cli_global_opt() that validates and stores
 * it, a line in main.c's usage() and in nodeherd(8). */
#ifndef NH_CLI_H
#define NH_CLI_H

#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>

struct nh_global_opts {
    const char *config_path;
    const char *log_format; /* "auto", "plain", "journal", "json" */
    const char *log_level;  /* NULL: from config */
    /* A global option was invalid (already printed): plan reports it as an
     * error of its own (exit 1, JSON with --json); other commands never run. */
    const char *usage_error;
};

/* The global options' table (main.c uses it before the subcommand). */
extern const struct option nh_cli_global_longopts[];
#define NH_CLI_GLOBAL_SHORTOPTS "c:V"

/* Values of the long-only global options in nh_cli_global_longopts. */
enum { NH_OPT_LOG_FORMAT = 0x100, NH_OPT_LOG_LEVEL, NH_OPT_ALLOW_ENDPOINT };

/* Applies one global option (c the value getopt returned, arg its optarg) to
 * g. Returns 1 when it was one and is fine, 0 when c is not a global option,
 * -1 when its value is invalid (the message is printed and g->usage_error
 * set). -V/--version prints the version and exits 0: nothing is allocated
 * while options are parsed. */
int nh_cli_global_opt(struct nh_global_opts *g, int c, const char *arg);

/* What nh_cli_getopt() returns for a global option with an invalid value
 * (printed, and kept in g->usage_error): a usage error. plan goes on reading
 * its options and reports it its own way (exit 1, JSON with --json); the
 * other commands return NH_EXIT_USAGE at once, without their usage text. */
#define NH_CLI_GLOBAL_ERROR 0x1ff

/* getopt_long over the subcommand's options plus the global ones; global
 * options are applied to g and not returned. Returns the subcommand's option
 * (its `val`), NH_CLI_GLOBAL_ERROR, what getopt returns for an unknown option
 * or a missing value ('?', or ':' when shortopts starts with ':'; getopt
 * prints why unless the command cleared opterr), or -1 at the end. Reset
 * optind to 0 before the first call. */
int nh_cli_getopt(int argc, char *const argv[], const char *shortopts,
                  const struct option *longopts, struct nh_global_opts *g);

/* How every command but plan ends its option switch, for an option c it
 * does not take itself: --help prints usage on standard output (exit 0); a
 * global option's error (said already) is a usage error without the usage
 * text; anything else prints usage on standard error (exit 2). Returns the
 * exit code. */
int nh_cli_end_opts(int c, void (*usage)(FILE *f));

/* "nodeherd VERSION\n" on f, or the --json document. */
void nh_cli_print_version(FILE *f, bool json);

#endif
