/* metrics.h - a small in-process metrics registry rendered in the
 * Prometheus text exposition format (version 0.0.4). Every name is prefixed
 * "nodeherd_" by the caller. Single-threaded (the loop). Label values are
 * escaped by the registry; never put a secret in a label.
 *
 * Families are described once (nh_metrics_describe) and then updated by
 * (name, labels) where labels is a list of key/value pairs ending in NULL:
 *   nh_metrics_inc("nodeherd_actions_total", 1, "kind", "scale-pool", "result", "ok", NULL);
 */
#ifndef NH_METRICS_H
#define NH_METRICS_H

#include <stddef.h>

#include "util/buf.h"

enum nh_metric_type { NH_METRIC_COUNTER, NH_METRIC_GAUGE, NH_METRIC_HISTOGRAM };

/* Registers a family (idempotent). Histograms take ascending upper bounds
 * (without +Inf); others pass NULL/0. */
void nh_metrics_describe(const char *name, enum nh_metric_type type, const char *help,
                         const double *buckets, size_t n_buckets);
/* Counter add / gauge set / histogram observe, labels as (key, value)...,
 * NULL. Unknown families are ignored (and logged once at debug).
 * inc works on counters (v >= 0) and gauges; set only on gauges; observe only
 * on histograms. Misuse (wrong type, NaN, bad or duplicate label name, "le"
 * on a histogram, > 8 labels, > 100000 series) is ignored with one warning per
 * family. Label order in the call does not matter. */
void nh_metrics_inc(const char *name, double v, ...);
void nh_metrics_set(const char *name, double v, ...);
void nh_metrics_observe(const char *name, double v, ...);
/* Removes every series of a family whose label `key` equals `value` (e.g.
 * a cluster that left the configuration). */
void nh_metrics_forget(const char *name, const char *key, const char *value);
/* Reads back a series (tests, STATUS=); NaN when absent. For a histogram
 * it is the number of observations (_count). */
double nh_metrics_get(const char *name, ...);
/* Appends the whole registry in text format. 0 or -ENOMEM. */
int nh_metrics_render(struct nh_buf *out);
/* Frees everything (shutdown, tests). */
void nh_metrics_reset(void);

/* Collected families (issue #21). A collector writes a family's series at
 * each render from state its owner keeps anyway, where a stored copy would
 * cost memory and upkeep: nodeherd_nodes was 55,000 stored series (8 MB)
 * at 1,000 clusters / 10,000 pools, all forgotten and set again after every
 * observation. fn(arg, sink) calls nh_metrics_emit once for each series, in
 * the order they are to be rendered, each (label set) at most once, and
 * returns 0 or the first negative value nh_metrics_emit returned. Gauges
 * and counters only. While a family is collected, inc/set/forget on it are
 * ignored (set/inc with one warning) and nh_metrics_get reads through fn. */
struct nh_metrics_sink;
typedef int (*nh_metrics_collect_fn)(void *arg, struct nh_metrics_sink *sink);
/* Makes the described family `name` collected by fn(arg). */
void nh_metrics_collect(const char *name, nh_metrics_collect_fn fn, void *arg);
/* Ends the collection of `name` if arg is still its collector's (an owner
 * being freed); the family is then empty. */
void nh_metrics_uncollect(const char *name, const void *arg);
/* One series of a collected family: value, then (key, value)..., NULL, as
 * for nh_metrics_set. 0, or a negative errno that fn should return. */
int nh_metrics_emit(struct nh_metrics_sink *sink, double v, ...);
/* "counter", "gauge", "histogram". */
const char *nh_metrics_type_name(enum nh_metric_type t);

#endif
