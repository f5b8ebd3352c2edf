/* store.h - where operations in flight are recorded: one interface for the
 * executor, two implementations that share one encoding (state/opcodec.h):
 * the file journal (here: state/journal.h written on libuv's threadpool)
 * and etcd (ha/ha.h: nh_ha_jstore, fenced transactions). The executor
 * queues its writes, one at a time and in order, and calls only `write`. */
#ifndef NH_STATE_STORE_H
#define NH_STATE_STORE_H

#include <stdbool.h>

#include <uv.h>

#include "model/model.h"
#include "state/journal.h"

struct nh_jstore_ops {
    /* Records `op` durably: begin == true records a new operation (and
     * assigns op->seq), false records its new state. Calls done(arg, 0 or
     * -errno) exactly once, later, on the loop. Returns 0, or -errno (done
     * then never runs). `op` stays valid until done runs. */
    int (*write)(void *ctx, bool begin, struct nh_op *op, void (*done)(void *arg, int r),
                 void *arg);
};

/* The file journal as a store: ctx is a struct nh_journal_store. The
 * blocking write + fdatasync (nh_journal_begin / nh_journal_update) runs
 * on libuv's threadpool (uv_queue_work), never on the loop. */
struct nh_journal_store {
    uv_loop_t *loop;
    struct nh_journal *journal; /* borrowed */
};
extern const struct nh_jstore_ops nh_journal_store_ops;

#endif
