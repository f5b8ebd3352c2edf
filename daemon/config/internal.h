/* internal.h - shared between the files of the config module only (yaml.c,
 * schema.c, config.c, revision.c, secret.c). Not an interface for other
 * modules: they use config.h, secret.h and diag.h. */
#ifndef NH_CONFIG_INTERNAL_H
#define NH_CONFIG_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config/config.h"
#include "config/ytree.h"

/* Reads a configuration file: a regular file of at most NH_YAML_MAX_BYTES.
 * On success *data (free()) holds the bytes plus a NUL. Problems go to d
 * with `file` as the position name. */
int nh_yaml_read_file(const char *path, char **ret_data, size_t *ret_len, struct nh_diag *d);
/* Stable sort of the entries by file, line, col (file-level entries first). */
void nh_diag_sort(struct nh_diag *d);

/* Levenshtein distance, capped: returns cap+1 when larger. */
unsigned nh_edit_distance(const char *a, const char *b, unsigned cap);

/* Writes `s` quoted for a message: "..." with control bytes escaped and the
 * text cut at 40 bytes (…). Never use it for secrets. */
const char *nh_quote(const char *s, char *buf, size_t len);

/* Revision of a configuration: "git:<sha>" when the file's real directory is
 * inside a git checkout (HEAD read without running git), else
 * "sha256:<first 16 hex>" of data. NULL only on allocation failure. */
char *nh_config_revision(const char *path, const char *data, size_t len);
/* "sha256:<first 16 hex>" of data, or NULL on failure. */
char *nh_config_revision_sha256(const char *data, size_t len);

/* ---- schema.c: table-driven validation of maps into structs ---- */

#define NH_KIND_BIT(k) (1u << (unsigned)(k))
#define NH_KINDS_ALL 0u
#define NH_KIND_ACK NH_KIND_BIT(NH_PROVIDER_ACK)
#define NH_KIND_CCE NH_KIND_BIT(NH_PROVIDER_CCE)
#define NH_KIND_MA NH_KIND_BIT(NH_PROVIDER_MODELARTS)

struct nh_pctx {
    const char *file;     /* name used in positions */
    const char *base_dir; /* relative {file:} secrets fall back to this (NULL: cwd) */
    struct nh_diag *d;
    int kind; /* enum nh_provider_kind of the object being read; -1 unknown */
    struct nh_config *cfg;
    const struct nh_ypair *providers; /* top-level keys, read after the walk */
    const struct nh_ypair *clusters;
    unsigned secrets; /* NH_USE_* secrets to read; the others are checked as references */
};

enum nh_ftype {
    NH_T_STR,      /* char *: any non-empty string */
    NH_T_NAME,     /* char *: [A-Za-z0-9._-]{1,63} */
    NH_T_PATHID,   /* char *: [A-Za-z0-9._~-]{1,255}, safe in URL paths */
    NH_T_REGION,   /* char *: [a-z0-9-]{1,63} */
    NH_T_PROJECT,  /* char *: a Huawei project ID, [0-9a-f]{32} */
    NH_T_ABSPATH,  /* char *: starts with / */
    NH_T_INT,      /* int, from a plain scalar, min..max (klimit per kind) */
    NH_T_UINT,     /* unsigned, same rules */
    NH_T_BOOL,     /* bool: true | false, plain */
    NH_T_DURATION, /* uint64_t ms, plain, min..max ms */
    NH_T_DOUBLE,   /* double, plain, dmin..dmax */
    NH_T_ENUM,     /* int-sized enum, one of names */
    NH_T_KIND,     /* enum nh_provider_kind, one of the kind table's names */
    NH_T_SECRET,   /* struct nh_secret *: { file: NAME } or { env: NAME } */
    NH_T_SUB,      /* a nested map read with `sub` into base + off */
    NH_T_CUSTOM,   /* custom() does it */
};

/* A kind-dependent maximum, read from the kind table (model/kind.h). */
enum nh_klimit {
    NH_KLIMIT_NONE,
    NH_KLIMIT_WORKERS, /* max_workers (0: use max) */
    NH_KLIMIT_POOL,    /* max_pool */
};

struct nh_enum_name {
    const char *name;
    int value;
};

struct nh_field {
    const char *key;
    enum nh_ftype type;
    size_t off;
    bool required;
    unsigned kinds;        /* kinds the key is allowed for (NH_KIND_*); 0 = all */
    unsigned req_kinds;    /* kinds the key is required for */
    long long min, max;    /* NH_T_INT/UINT bounds; NH_T_DURATION bounds in ms */
    enum nh_klimit klimit; /* per-kind maximum from the kind table (its 0 = use max) */
    bool kwhy;             /* name the kind's limit in range errors (workers_what, pool_what) */
    double dmin, dmax;     /* NH_T_DOUBLE bounds */
    const char *why;       /* printed after the range, e.g. "ACK num_of_nodes" */
    const char *def;       /* default, written as a plain YAML scalar; NULL: none */
    const char *kinds_why; /* why other kinds refuse it (after "only KIND: ") */
    unsigned use;          /* NH_T_SECRET: what it is for (NH_USE_*) */
    const struct nh_enum_name *names; /* NH_T_ENUM, NULL-terminated */
    const struct nh_field *sub;       /* NH_T_SUB */
    int (*custom)(struct nh_pctx *c, const struct nh_ypair *kv, const char *path, void *base);
};

/* Reads `map` (path: its key path, "" for the top) into base using fields,
 * then reports missing required keys and applies defaults. map NULL: apply
 * defaults only. Problems go to c->d; returns the number of errors added. */
size_t nh_schema_walk(struct nh_pctx *c, const struct nh_ynode *map, const char *path,
                      const struct nh_field *fields, void *base);
/* "path.key" into buf (the key sanitised and cut for messages). */
const char *nh_key_path(char *buf, size_t len, const char *path, const char *key);
/* An error at line:col, prefixed with "path: " when path is non-empty. */
void nh_perr(struct nh_pctx *c, int line, int col, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
void nh_pwarn(struct nh_pctx *c, int line, int col, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
/* Value checkers shared with config.c. */
bool nh_is_name(const char *s);
bool nh_is_pathid(const char *s);
/* Reads a secret reference at kv into *ret (NULL on error). The secret
 * itself is read only when `use` is among c->secrets; otherwise the
 * reference is checked and *ret stays NULL. */
int nh_schema_secret(struct nh_pctx *c, const struct nh_ypair *kv, const char *path, unsigned use,
                     struct nh_secret **ret);
/* Reads a list of non-empty strings; each checked with ok() when non-NULL
 * (what: e.g. "a node id or name"). *ret and *n are replaced. */
int nh_schema_strlist(struct nh_pctx *c, const struct nh_ypair *kv, const char *path,
                      bool (*ok)(const char *), const char *what, char ***ret, size_t *n);
/* The nearest of names within edit distance 2 (NULL: none). */
const char *nh_did_you_mean(const char *word, const char *const *names, size_t n);

#endif
