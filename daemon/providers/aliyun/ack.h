/* ack.h - what the aliyun-ack files share: its provider and operation
 * structs (embedding the common ones first) and its signer. */
#ifndef NH_PROVIDERS_ACK_H
#define NH_PROVIDERS_ACK_H

#include "providers/internal.h"

struct ack_prov {
    struct nh_prov base;
    enum nh_ack_signing signing;
};

/* An ACK operation: the common part and the state of a paged node walk. */
struct ack_op {
    struct nh_pop base;
    size_t page;                         /* page being read, from 1 */
    int64_t total;                       /* total_count of the walk's first page */
    struct nh_ack_page pg;               /* what the last page said */
    void (*after_walk)(struct nh_pop *); /* runs after the last page */
};

#endif
