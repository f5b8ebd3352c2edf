/* ack.h - what the aliyun-ack files share: its provider and operation
 * structs (embedding the common ones first) and its signer. */
#ifndef NH_PROVIDERS_ACK_H
#define NH_PROVIDERS_ACK_H

#include "providers/internal.h"

struct ack_prov {
    struct nh_prov base;
    enum nh_ack_signing signing;
};

/* An ACK operation: the common part, the state of a paged node walk, and
 * the protect labels learnt through DescribeClusterNodes' nodeLabels
 * filter (DescribeClusterNodes returns no labels). */
struct ack_op {
    struct nh_pop base;
    size_t page;                         /* page being read, from 1 */
    int64_t total;                       /* total_count of the walk's first page */
    struct nh_ack_page pg;               /* what the last page said */
    void (*after_walk)(struct nh_pop *); /* runs after the last page */
    char **lab_keys, **lab_vals;         /* protect labels the filter can express */
    size_t n_labs, lab_idx;
    struct nh_observed aux; /* the nodes carrying lab_keys[lab_idx] */
};

#endif
