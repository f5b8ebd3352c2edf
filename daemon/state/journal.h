/* journal.h - the crash-safe state journal of mutating operations.
 *
 * An append-only log in state_dir ("journal.log"): one record per line,
 * each "<crc32c-hex> <json>\n", fsync'd before the call returns. A mutating
 * operation is recorded (NH_OP_INTENT) before it is sent, updated when the
 * cloud accepts it (NH_OP_SENT with its job), and closed (DONE / FAILED /
 * TIMED_OUT) when its job ends. On open, the log is replayed: the operations
 * not closed are returned, to be resumed by polling or re-reading — never
 * by re-sending. A record with a bad checksum or a truncated tail is
 * detected and reported; a torn last line (crash mid-write) is dropped with
 * a warning; corruption before the tail makes open fail (not trusted).
 * The log is compacted (rewritten with only open operations, then renamed
 * atomically) when it grows past a bound.
 *
 * The functions block (write + fdatasync): the executor calls them from
 * libuv's threadpool (uv_queue_work), never on the loop. They are
 * thread-safe (an internal mutex). Secrets never reach the journal: an
 * action holds ids, names and counts only. */
#ifndef NH_JOURNAL_H
#define NH_JOURNAL_H

#include <stddef.h>
#include <stdint.h>

#include "model/model.h"

struct nh_journal;

struct nh_journal_replay {
    struct nh_op *open_ops;  /* operations not closed, in sequence order; owned */
    size_t n_open;
    size_t n_records;        /* records read */
    size_t n_dropped;        /* torn tail records dropped */
    char warning[256];       /* non-empty when something was dropped */
};

/* Opens (creating dir/journal.log if needed, mode 0600) and replays.
 * 0, or -errno with a message in err (-EBADMSG: corrupt journal). */
int nh_journal_open(const char *dir, struct nh_journal **ret, struct nh_journal_replay *replay,
                    char *err, size_t errlen);
void nh_journal_replay_clear(struct nh_journal_replay *r);

/* Records a new operation in state INTENT; assigns op->seq. Durable on return. */
int nh_journal_begin(struct nh_journal *j, struct nh_op *op);
/* Records a state change (SENT with job, VERIFY, DONE, FAILED, TIMED_OUT;
 * result may be NULL). Durable on return. */
int nh_journal_update(struct nh_journal *j, const struct nh_op *op);
void nh_journal_close(struct nh_journal *j); /* NULL ok */

/* Parses a journal image from memory (for the fuzzer and tests): same rules
 * as open. 0 or -EBADMSG with a message. */
int nh_journal_parse(const char *data, size_t len, struct nh_journal_replay *replay, char *err,
                     size_t errlen);

#endif
