/* journal.h - the crash-safe state journal of mutating operations.
 *
 * An append-only log in state_dir ("journal.log"): one record per line,
 * each "<crc32c-hex> <json>\n", fsync'd before the call returns. A mutating
 * operation is recorded (NH_OP_INTENT) before it is sent, updated when the
 * cloud accepts it (NH_OP_SENT with its job), and closed (DONE / FAILED /
 * TIMED_OUT) when its job ends. On open, the log is replayed: the operations
 * not closed are returned, to be resumed by polling or re-reading — never
 * by re-sending. A record with a bad checksum or a truncated tail is
 * detected and reported; a torn last line (crash mid-write: no newline, or
 * zero bytes where unsynced data should be) is dropped with a warning; a
 * complete last line with a bad checksum, and corruption before the tail,
 * make open fail (not trusted: it may record an operation that was sent).
 * The log is compacted (rewritten with only open operations, then renamed
 * atomically) when it grows past a bound.
 *
 * The functions block (write + fdatasync): the executor calls them from
 * libuv's threadpool (uv_queue_work), never on the loop. They are
 * thread-safe (an internal mutex). Secrets never reach the journal: an
 * action holds ids, names and counts only. */
#ifndef NH_JOURNAL_H
#define NH_JOURNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "model/model.h"

struct nh_journal;

struct nh_journal_replay {
    struct nh_op *open_ops; /* operations not closed, in sequence order; owned */
    size_t n_open;
    size_t n_records;  /* records read */
    size_t n_dropped;  /* torn tail records dropped */
    char warning[256]; /* non-empty when something was dropped */
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

/* ---- additions (format, tests, tools) ----
 *
 * Format: each line is 8 lower-case hex digits of CRC-32C (Castagnoli) over
 * the JSON bytes, a space, compact JSON, "\n". Records: "begin" (the whole
 * op), "update" (state, job, result), and "seq" (first line of a compacted
 * file: the next sequence number, so numbers keep rising across restarts
 * even when every op was closed). See journal.c for the fields.
 *
 * nh_journal_begin also sets op->state = NH_OP_INTENT, op->started_ms (wall
 * clock) when it was 0, and op->updated_ms = started_ms; on failure op->seq
 * is left as it was. nh_journal_update: -ENOENT when op->seq is not an open
 * operation of this journal (never begun, or already closed); updated_ms 0
 * means "now". Both: -EINVAL when an identifier (cluster, pool, node ids
 * and names, job id, revision) is not valid UTF-8 (free text - why, result -
 * is made valid instead); -EIO after a write or sync failed in a way that
 * leaves the file's state unknown (the journal refuses every later write;
 * reopen it). Compaction failures never fail the call that triggered it. */

/* CRC-32C as used in the line prefix. */
uint32_t nh_journal_crc32c(const void *data, size_t len);
/* Compacts now (normally automatic past 1 MiB or 10,000 records). 0 or -errno;
 * on failure the previous journal is intact. */
int nh_journal_compact(struct nh_journal *j);
/* Compaction bounds; 0 keeps the default (1 MiB, 10,000 records). When the
 * open operations alone exceed them, the trigger is raised to twice the
 * compacted size so compaction does not run on every record. */
void nh_journal_set_limits(struct nh_journal *j, size_t max_bytes, size_t max_records);
/* true after a write or sync failed in a way that leaves the file's state
 * unknown: every later write is refused (-EIO) until it is reopened. */
bool nh_journal_broken(struct nh_journal *j);
/* Current record count, file size and open operations (any may be NULL). */
void nh_journal_stats(struct nh_journal *j, size_t *n_records, size_t *bytes, size_t *n_open);

/* Test hook: simulate a crash at a point of compaction. */
enum nh_journal_fault {
    NH_JOURNAL_FAULT_NONE,
    NH_JOURNAL_FAULT_BEFORE_RENAME, /* journal.log.tmp written and synced, not renamed */
};
const char *nh_journal_fault_name(enum nh_journal_fault f);
void nh_journal_set_fault(struct nh_journal *j, enum nh_journal_fault f);

#endif
