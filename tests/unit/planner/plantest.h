/* plantest.h - builders and comparisons shared by the planner tests. */
#ifndef NH_PLANTEST_H
#define NH_PLANTEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "model/model.h"

/* Appends a node to o (strings copied). label: "key=value", "key" (no
 * value) or NULL. name NULL: no name. Aborts the test on ENOMEM. */
struct nh_node *pt_node(struct nh_observed *o, const char *id, const char *name,
                        const char *pool_id, enum nh_node_health health, int64_t created,
                        bool worker, const char *label);
/* Appends a pool to o (strings copied; counters zero). */
struct nh_obs_pool *pt_pool(struct nh_observed *o, const char *id, const char *name);

/* Deep equality of two plans (every field, every string). */
bool pt_plan_equal(const struct nh_plan *a, const struct nh_plan *b);

/* "a,b,c" from a string vector into buf; returns buf. */
const char *pt_join(char *const *v, size_t n, char *buf, size_t len);

/* Prints a plan to stderr (for failing cases). */
void pt_plan_dump(const struct nh_plan *p);

#endif
