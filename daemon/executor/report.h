/* report.h - `nodeherd plan` output from an engine that has observed and
 * planned every cluster once (dry-run), and its error documents. */
#ifndef NH_REPORT_H
#define NH_REPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "config/diag.h"

struct nh_engine;

/* What a plan found, cluster by cluster; exactly one of converged, differs
 * and not_observed holds for each. */
struct nh_report_sum {
    size_t clusters;
    size_t converged;    /* observed: matches its declaration, every declared node ready,
                          * nothing blocked or refused */
    size_t differs;      /* observed: changes to make, or blocked, refused or waiting ones */
    size_t not_observed; /* could not be (completely) observed in time: an error */
    size_t actions;      /* changes the daemon would make now */
    size_t blocked;      /* blocked or refused notes */
};

/* Prints the plan (text, or one JSON document) and fills *ret.
 * timed_out: the --timeout that ran out before every cluster answered
 * (e.g. "2m"), or NULL. 0. */
int nh_engine_report(const struct nh_engine *e, FILE *f, bool json, const char *timed_out,
                     struct nh_report_sum *ret);

/* The JSON document of a plan that could not be made: result "error", no
 * clusters, and the problems as diagnostics (the configuration's, from
 * diag, and/or message). revision may be NULL. */
void nh_report_error_json(FILE *f, const char *revision, const struct nh_diag *diag,
                          const char *message);

#endif
