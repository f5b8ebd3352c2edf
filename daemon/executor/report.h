/* report.h - `nodeherd plan` output from an engine that has observed and
 * planned every cluster once (dry-run). */
#ifndef NH_REPORT_H
#define NH_REPORT_H

#include <stdbool.h>
#include <stdio.h>

struct nh_engine;

/* Prints the plan (text or JSON). *ret_changes: any action planned;
 * *ret_errors: a cluster could not be (completely) observed. 0. */
int nh_engine_report(const struct nh_engine *e, FILE *f, bool json, bool *ret_changes,
                     bool *ret_errors);

#endif
