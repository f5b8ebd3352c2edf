/* cmd_check.c - `nodeherd check [FILE...]`: validate configuration files,
 * printing every problem as FILE:LINE:COL: message. */
#include <getopt.h>
#include <stdio.h>

#include "cmd.h"
#include "config/config.h"

static void check_usage(FILE *f)
{
    fputs("Usage: nodeherd check [--quiet] [FILE...]\n"
          "\n"
          "Validates configuration files (default: the --config file) and prints every\n"
          "problem found as FILE:LINE:COL: message, one per line.\n"
          "\n"
          "  -q, --quiet   print nothing on success\n"
          "  -h, --help    show this help\n"
          "\n"
          "Exit status: 0 all valid, 2 a file is invalid or unreadable.\n",
          f);
}

int nh_cmd_check(const struct nh_global_opts *g, int argc, char **argv)
{
    static const struct option longopts[] = {
        {"quiet", no_argument, NULL, 'q'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int quiet = 0, c, rc = NH_EXIT_OK;

    while ((c = getopt_long(argc, argv, "qh", longopts, NULL)) != -1) {
        switch (c) {
        case 'q':
            quiet = 1;
            break;
        case 'h':
            check_usage(stdout);
            return NH_EXIT_OK;
        default:
            check_usage(stderr);
            return NH_EXIT_USAGE;
        }
    }
    const char *const *files = (const char *const *)argv + optind;
    int n = argc - optind;
    const char *deflt[1] = {g->config_path};
    if (n == 0) {
        files = deflt;
        n = 1;
    }
    for (int i = 0; i < n; i++) {
        struct nh_config *cfg = NULL;
        struct nh_diag d;
        nh_diag_init(&d);
        int r = nh_config_load(files[i], &cfg, &d);
        nh_diag_print(&d, stderr);
        if (r < 0) {
            rc = NH_EXIT_USAGE;
            fprintf(stderr, "%s: configuration invalid (%zu error%s)\n", files[i], d.n_errors,
                    d.n_errors == 1 ? "" : "s");
        } else if (!quiet) {
            printf("%s: configuration OK (%zu provider%s, %zu cluster%s)\n", files[i],
                   cfg->n_providers, cfg->n_providers == 1 ? "" : "s", cfg->n_clusters,
                   cfg->n_clusters == 1 ? "" : "s");
        }
        nh_diag_free(&d);
        nh_config_unref(cfg);
    }
    return rc;
}
