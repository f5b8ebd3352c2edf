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
    fputs("Usage: nodeherd check [--quiet] [--offline] [-c FILE] [FILE|DIR...]\n"
          "\n"
          "Validates configuration files (default: the --config file) and prints every\n"
          "problem found as FILE:LINE:COL: message, one per line. A directory means the\n"
          "*.yaml and *.yml files directly in it (not hidden ones, not subdirectories),\n"
          "in name order. Two entries that name the same cloud cluster (or ModelArts\n"
          "resource pool), in one file or in two, are an error: they would fight over it.\n"
          "\n"
          "Secrets ({ file: ... }, { env: ... }) are read as the daemon reads them, so\n"
          "run it where the daemon's credentials are; --offline checks everything but\n"
          "their presence and content (a fleet repository in CI, without credentials).\n"
          "\n"
          "  -q, --quiet     print nothing on success\n"
          "      --offline   do not read secrets: check their references only\n"
          "  -h, --help      show this help\n"
          "\n"
          "Global options (-c/--config FILE, --allow-endpoint HOST, --log-format,\n"
          "--log-level) may come before or after the command; see nodeherd --help.\n"
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

/* A declaration of the fleet: the cluster and the ordinal of its file. */
struct check_decl {
    struct nh_cfg_decl d;
    size_t file;
};

static int check_decl_cmp(const void *pa, const void *pb)
{
    const struct check_decl *a = pa, *b = pb;
    int r = nh_cfg_target_cmp(a->d.cluster, b->d.cluster);
    if (r != 0)
        return r;
    if (a->file != b->file)
        return a->file < b->file ? -1 : 1;
    return a->d.index < b->d.index ? -1 : a->d.index > b->d.index;
}

/* Orders declarations by position: file, then line and column. */
static int check_decl_pos_cmp(const void *pa, const void *pb)
{
    const struct check_decl *a = pa, *b = pb;
    if (a->file != b->file)
        return a->file < b->file ? -1 : 1;
    if (a->d.cluster->line != b->d.cluster->line)
        return a->d.cluster->line < b->d.cluster->line ? -1 : 1;
    return a->d.cluster->col < b->d.cluster->col ? -1 : a->d.cluster->col > b->d.cluster->col;
}

/* At most this many duplicated resources are reported; the rest are counted. */
#define CHECK_DUP_MAX 50

/* Cloud resources declared in more than one of the valid files: two daemons
 * reading them would fight over it. One error per resource, at its second
 * declaration, naming the first few (output stays bounded, whatever the
 * number of files). Returns the number of such resources, or -1 (out of
 * memory, reported). */
static long check_overlaps(struct nh_config *const *cfgs, size_t n, FILE *f)
{
    struct check_decl *v;
    struct nh_cfg_decl *group;
    size_t total = 0, k = 0, dups = 0;

    for (size_t i = 0; i < n; i++)
        total += cfgs[i] ? cfgs[i]->n_clusters : 0;
    if (total < 2)
        return 0;
    v = calloc(total, sizeof(*v));
    group = calloc(total, sizeof(*group));
    if (v == NULL || group == NULL) {
        free(v);
        free(group);
        fputs("nodeherd check: out of memory comparing the files\n", f);
        return -1;
    }
    for (size_t i = 0; i < n; i++)
        for (size_t c = 0; cfgs[i] != NULL && c < cfgs[i]->n_clusters; c++)
            if (cfgs[i]->clusters[c].provider != NULL)
                v[k++] = (struct check_decl){
                    .d = {.file = cfgs[i]->path, .cluster = &cfgs[i]->clusters[c], .index = c},
                    .file = i};
    qsort(v, k, sizeof(*v), check_decl_cmp);
    /* Each duplicated resource by the position of its second declaration,
     * so that the messages come in file order. */
    struct check_decl *second = calloc(k, sizeof(*second));
    size_t *start = calloc(k, sizeof(*start)), *len = calloc(k, sizeof(*len));
    if (second == NULL || start == NULL || len == NULL) {
        free(v);
        free(group);
        free(second);
        free(start);
        free(len);
        fputs("nodeherd check: out of memory comparing the files\n", f);
        return -1;
    }
    for (size_t i = 0; i < k;) {
        size_t j = i + 1;
        while (j < k && nh_cfg_target_cmp(v[i].d.cluster, v[j].d.cluster) == 0)
            j++;
        if (j - i > 1) {
            second[dups] = v[i + 1];
            second[dups].d.index = dups; /* which group: start[] and len[] */
            start[dups] = i;
            len[dups] = j - i;
            dups++;
        }
        i = j;
    }
    qsort(second, dups, sizeof(*second), check_decl_pos_cmp);
    for (size_t g = 0; g < dups && g < CHECK_DUP_MAX; g++) {
        char msg[2048];
        size_t at = start[second[g].d.index], n_at = len[second[g].d.index];
        for (size_t m = 0; m < n_at; m++)
            group[m] = v[at + m].d;
        nh_cfg_duplicate_message(group, n_at, true, msg, sizeof(msg));
        fprintf(f, "%s:%d:%d: %s\n", second[g].d.file, second[g].d.cluster->line,
                second[g].d.cluster->col, msg);
    }
    free(second);
    free(start);
    free(len);
    if (dups > CHECK_DUP_MAX)
        fprintf(f,
                "nodeherd check: %zu more cloud clusters are declared in more than one file "
                "(at most %d are listed)\n",
                dups - CHECK_DUP_MAX, CHECK_DUP_MAX);
    free(v);
    free(group);
    return (long)dups;
}

int nh_cmd_check(struct nh_global_opts *g, int argc, char **argv)
{
    static const struct option longopts[] = {
        {"quiet", no_argument, NULL, 'q'},
        {"offline", no_argument, NULL, 'o'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int quiet = 0, c, rc = NH_EXIT_OK;
    struct nh_load_opts lo = {.secrets = NH_SECRETS_ALL};

    while ((c = nh_cli_getopt(argc, argv, "qh", longopts, g)) != -1) {
        switch (c) {
        case 'q':
            quiet = 1;
            break;
        case 'o':
            lo.secrets = NH_SECRETS_NONE;
            break;
        case 'h':
            check_usage(stdout);
            return NH_EXIT_OK;
        case NH_CLI_GLOBAL_ERROR: /* said why */
            return NH_EXIT_USAGE;
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
        int r = nh_config_load_with(fl.v[i], &lo, &cfgs[i], &d);
        fflush(stdout);
        nh_diag_print(&d, stderr);
        if (r < 0) {
            rc = NH_EXIT_USAGE;
            fprintf(stderr, "%s: configuration invalid (%zu error%s)\n", fl.v[i], d.n_errors,
                    d.n_errors == 1 ? "" : "s");
        } else if (!quiet) {
            printf("%s: configuration OK (%zu provider%s, %zu cluster%s%s)\n", fl.v[i],
                   cfgs[i]->n_providers, cfgs[i]->n_providers == 1 ? "" : "s", cfgs[i]->n_clusters,
                   cfgs[i]->n_clusters == 1 ? "" : "s",
                   lo.secrets == NH_SECRETS_NONE ? "; secrets not read: --offline" : "");
        }
        nh_diag_free(&d);
    }
    fflush(stdout); /* keep the order when both go to one pipe (2>&1) */
    long dups = check_overlaps(cfgs, fl.n, stderr);
    if (dups != 0) {
        rc = NH_EXIT_USAGE;
        if (dups > 0)
            fprintf(stderr, "nodeherd check: %ld cloud cluster%s declared in more than one file\n",
                    dups, dups == 1 ? " is" : "s are");
    }
    for (size_t i = 0; i < fl.n; i++)
        nh_config_unref(cfgs[i]);
    free(cfgs);
    check_files_free(&fl);
    return rc;
}
