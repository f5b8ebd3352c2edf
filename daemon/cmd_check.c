/* cmd_check.c - `nodeherd check [FILE|DIR...]`: validate configuration
 * files, printing every problem as FILE:LINE:COL: message. A directory
 * stands for the *.yaml and *.yml files directly in it (a GitOps fleet
 * repository's one-file-per-environment layout), each checked on its own
 * and named by its own path. */
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cmd.h"
#include "config/config.h"

static void check_usage(FILE *f)
{
    fputs("Usage: nodeherd check [--quiet] [FILE|DIR...]\n"
          "\n"
          "Validates configuration files (default: the --config file) and prints every\n"
          "problem found as FILE:LINE:COL: message, one per line. A directory means the\n"
          "*.yaml and *.yml files directly in it (not hidden ones, not subdirectories),\n"
          "in name order. A cluster declared in more than one file is warned about:\n"
          "two daemons would fight over it.\n"
          "\n"
          "  -q, --quiet   print nothing on success\n"
          "  -h, --help    show this help\n"
          "\n"
          "Exit status: 0 all valid, 2 a file is invalid or unreadable.\n",
          f);
}

/* The files to check, in order; every entry owned. */
struct check_files {
    char **v;
    size_t n, alloc;
};

static void check_files_free(struct check_files *fl)
{
    for (size_t i = 0; i < fl->n; i++)
        free(fl->v[i]);
    free(fl->v);
    fl->v = NULL;
    fl->n = fl->alloc = 0;
}

static int check_files_push(struct check_files *fl, char *path /* takes */)
{
    if (path == NULL)
        return -ENOMEM;
    if (fl->n == fl->alloc) {
        size_t na = fl->alloc ? 2 * fl->alloc : 8;
        char **nv = realloc(fl->v, na * sizeof(*nv));
        if (nv == NULL) {
            free(path);
            return -ENOMEM;
        }
        fl->v = nv;
        fl->alloc = na;
    }
    fl->v[fl->n++] = path;
    return 0;
}

/* Pure: is this directory entry a configuration file of a fleet directory? */
static int check_is_config_name(const char *name)
{
    size_t l = strlen(name);
    if (name[0] == '.')
        return 0;
    return (l > 5 && strcmp(name + l - 5, ".yaml") == 0) ||
           (l > 4 && strcmp(name + l - 4, ".yml") == 0);
}

static int check_cmp_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Adds FILE, or the *.yaml and *.yml files in DIR in name order. A path that is
 * neither is added as it is, so the loader reports it with its own words.
 * Returns -1 (after printing why) for an unreadable or empty directory. */
static int check_add_arg(struct check_files *fl, const char *arg)
{
    struct stat st;
    if (stat(arg, &st) < 0 || !S_ISDIR(st.st_mode))
        return check_files_push(fl, strdup(arg)) < 0 ? -1 : 0;

    DIR *dir = opendir(arg);
    if (dir == NULL) {
        fprintf(stderr, "%s: cannot read the directory: %s; check its permissions\n", arg,
                strerror(errno));
        return -1;
    }
    size_t first = fl->n, alen = strlen(arg);
    int r = 0;
    struct dirent *de;
    while (r == 0 && (de = readdir(dir)) != NULL) {
        if (!check_is_config_name(de->d_name))
            continue;
        size_t len = alen + 1 + strlen(de->d_name) + 1;
        char *p = malloc(len);
        if (p == NULL) {
            r = -ENOMEM;
            break;
        }
        snprintf(p, len, "%s%s%s", arg, alen > 0 && arg[alen - 1] == '/' ? "" : "/", de->d_name);
        if (stat(p, &st) < 0 || !S_ISREG(st.st_mode)) {
            free(p);
            continue;
        }
        r = check_files_push(fl, p);
    }
    closedir(dir);
    if (r < 0) {
        fprintf(stderr, "%s: out of memory listing the directory\n", arg);
        return -1;
    }
    if (fl->n == first) {
        fprintf(stderr,
                "%s: no *.yaml or *.yml files in this directory; name the files "
                "to check, or put the fleet's configuration files here\n",
                arg);
        return -1;
    }
    qsort(fl->v + first, fl->n - first, sizeof(*fl->v), check_cmp_names);
    return 0;
}

/* Pure: do two declared clusters denote the same cloud object? */
static int check_same_cluster(const struct nh_cfg_cluster *a, const struct nh_cfg_cluster *b)
{
    const struct nh_cfg_provider *pa = a->provider, *pb = b->provider;
    if (pa == NULL || pb == NULL || pa->kind != pb->kind)
        return 0;
    if (pa->project_id != NULL || pb->project_id != NULL) {
        if (pa->project_id == NULL || pb->project_id == NULL ||
            strcmp(pa->project_id, pb->project_id) != 0)
            return 0;
    }
    if (a->id != NULL && b->id != NULL)
        return strcmp(a->id, b->id) == 0;
    if (a->pool != NULL && b->pool != NULL)
        return strcmp(a->pool, b->pool) == 0 &&
               (pa->region == NULL || pb->region == NULL || strcmp(pa->region, pb->region) == 0);
    return 0;
}

/* Warns, at the second file's position, about a cluster declared in two of
 * the valid files: two daemons reading them would fight over it. */
static void check_overlaps(struct nh_config *const *cfgs, size_t n, FILE *f)
{
    for (size_t i = 0; i < n; i++) {
        if (cfgs[i] == NULL)
            continue;
        for (size_t j = i + 1; j < n; j++) {
            if (cfgs[j] == NULL)
                continue;
            for (size_t a = 0; a < cfgs[i]->n_clusters; a++) {
                const struct nh_cfg_cluster *ca = &cfgs[i]->clusters[a];
                for (size_t b = 0; b < cfgs[j]->n_clusters; b++) {
                    const struct nh_cfg_cluster *cb = &cfgs[j]->clusters[b];
                    if (!check_same_cluster(ca, cb))
                        continue;
                    fprintf(f,
                            "%s:%d:%d: warning: cluster \"%s\" is the same %s cluster as \"%s\" "
                            "at %s:%d:%d; declare each cluster in one file only, or two "
                            "daemons will fight over it\n",
                            cfgs[j]->path, cb->line, cb->col, cb->name,
                            nh_provider_kind_name(cb->provider->kind), ca->name, cfgs[i]->path,
                            ca->line, ca->col);
                }
            }
        }
    }
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
    struct check_files fl = {0};
    const char *deflt = g->config_path;
    int n = argc - optind;
    for (int i = 0; i < (n > 0 ? n : 1); i++) {
        const char *arg = n > 0 ? argv[optind + i] : deflt;
        if (check_add_arg(&fl, arg) < 0)
            rc = NH_EXIT_USAGE;
    }
    struct nh_config **cfgs = calloc(fl.n ? fl.n : 1, sizeof(*cfgs));
    if (cfgs == NULL) {
        fputs("nodeherd check: out of memory\n", stderr);
        check_files_free(&fl);
        return NH_EXIT_FAILURE;
    }
    for (size_t i = 0; i < fl.n; i++) {
        struct nh_diag d;
        nh_diag_init(&d);
        int r = nh_config_load(fl.v[i], &cfgs[i], &d);
        nh_diag_print(&d, stderr);
        if (r < 0) {
            rc = NH_EXIT_USAGE;
            fprintf(stderr, "%s: configuration invalid (%zu error%s)\n", fl.v[i], d.n_errors,
                    d.n_errors == 1 ? "" : "s");
        } else if (!quiet) {
            printf("%s: configuration OK (%zu provider%s, %zu cluster%s)\n", fl.v[i],
                   cfgs[i]->n_providers, cfgs[i]->n_providers == 1 ? "" : "s", cfgs[i]->n_clusters,
                   cfgs[i]->n_clusters == 1 ? "" : "s");
        }
        nh_diag_free(&d);
    }
    check_overlaps(cfgs, fl.n, stderr);
    for (size_t i = 0; i < fl.n; i++)
        nh_config_unref(cfgs[i]);
    free(cfgs);
    check_files_free(&fl);
    return rc;
}
