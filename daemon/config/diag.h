/* diag.h - a list of problems found in configuration files, each with
 * FILE:LINE:COL. `nodeherd check` prints every one of them (up to a cap). */
#ifndef NH_DIAG_H
#define NH_DIAG_H

#include <stddef.h>
#include <stdio.h>

#define NH_DIAG_MAX 50

enum nh_diag_severity { NH_DIAG_ERROR, NH_DIAG_WARNING };

struct nh_diag_entry {
    enum nh_diag_severity severity;
    char *file; /* owned */
    int line;   /* 1-based; 0 = whole file */
    int col;    /* 1-based; 0 = unknown */
    char *msg;  /* owned, without the position */
};

struct nh_diag {
    struct nh_diag_entry *entries;
    size_t n;
    size_t alloc;
    size_t n_errors;
    size_t dropped; /* entries beyond NH_DIAG_MAX */
};

void nh_diag_init(struct nh_diag *d);
void nh_diag_add(struct nh_diag *d, enum nh_diag_severity sev, const char *file, int line, int col,
                 const char *fmt, ...) __attribute__((format(printf, 6, 7)));
/* Prints "FILE:LINE:COL: message" lines (warnings get "warning: "). */
void nh_diag_print(const struct nh_diag *d, FILE *f);
/* Logs each entry through nh_log at the given level. */
void nh_diag_log(const struct nh_diag *d, int level);
void nh_diag_free(struct nh_diag *d);

#endif
