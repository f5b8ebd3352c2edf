/* ha.h - high availability: one leader among several nodeherd replicas,
 * elected through etcd's v3 JSON gateway (over nh_http), with fencing and
 * the journal of operations in flight kept in etcd.
 *
 * Keys under ha.etcd.prefix (P):
 *   P "leader"           election key; value: the instance name; attached to
 *                        the holder's lease, created only if absent
 *   P "seq"              next journal sequence number (decimal)
 *   P "ops/" 20 digits   one open operation (JSON, see ha_op_to_json);
 *                        deleted when the operation closes
 *
 * Election: every instance grants itself a lease (ha.etcd.lease_ttl) and
 * keeps it alive every TTL/3; every poll_interval it reads the election
 * key: absent -> a create-if-absent transaction with its lease; held with
 * its own lease -> leader (after reading the open operations in the same
 * fenced transaction); held by another lease -> follower.
 *
 * Fencing: this instance counts as leader only while its last successful
 * keepalive was SENT less than TTL - margin ago (etcd resets the lease when
 * it receives the keepalive, so the lease outlives that point). At the
 * moment each attempt of a mutating request is handed to the HTTP layer
 * (the engine's fence, the client's gate), nh_ha_fence() refuses at once
 * when that is not so, and otherwise makes a fresh transaction comparing
 * the election key's lease and create revision with ours; the request
 * leaves from its answer. The answer must arrive within
 * ha.etcd.timeout and while the lease is still fresh. Every journal write
 * is a transaction with the same comparisons, so a deposed leader can
 * neither send nor record.
 *
 * Everything runs on the loop; callbacks are called on the loop. */
#ifndef NH_HA_H
#define NH_HA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "config/config.h"
#include "model/model.h"
#include "net/http.h"
#include "state/store.h"

struct nh_ha;

/* Leadership changed. leader == true: `open_ops` (borrowed, valid during
 * the call) are the operations the etcd journal holds open, to be resumed
 * (never re-sent). leader == false: stop mutating at once. `why` is a
 * sentence for the log. */
typedef void (*nh_ha_role_fn)(void *ud, bool leader, const struct nh_op *open_ops, size_t n_open,
                              const char *why);

struct nh_ha_opts {
    uv_loop_t *loop;
    struct nh_http *http;        /* borrowed; NULL: nh_ha makes its own (ha.etcd.ca_file) */
    const struct nh_cfg_ha *cfg; /* copied: the config may go away afterwards */
    const char *instance;        /* NULL: cfg->name, else the host name */
    nh_ha_role_fn on_role;
    void *ud;
};

/* 0, or -errno with a message naming the problem and the fix in err. */
int nh_ha_new(const struct nh_ha_opts *opts, struct nh_ha **ret, char *err, size_t errlen);
/* Starts campaigning (lease, keepalives, election polls). */
int nh_ha_start(struct nh_ha *ha);
/* The instance name used in the election key (borrowed). */
const char *nh_ha_instance(const struct nh_ha *ha);
bool nh_ha_is_leader(const struct nh_ha *ha);

/* HA fence (see engine.h nh_fence_fn): cb(arg, true) only when this
 * instance was confirmed leader by a fresh etcd round trip; cb may run
 * before nh_ha_fence returns when the answer is a local "no". */
void nh_ha_fence(struct nh_ha *ha, void (*cb)(void *arg, bool ok), void *arg);

/* The etcd journal store (state/store.h), ctx = the nh_ha: every write is
 * a fenced transaction. */
extern const struct nh_jstore_ops nh_ha_jstore;
/* Its `write` (same contract as struct nh_jstore_ops: begin records a new operation in
 * state INTENT and assigns op->seq; done(arg, r) runs exactly once, later,
 * unless a negative errno is returned). Refused at once with -EPERM when
 * this instance is not a leader with a fresh lease. done gets -EPERM when
 * the fenced transaction found the election key no longer ours, -ENOENT
 * when an update names an operation etcd does not hold open, -ETIMEDOUT /
 * -EIO when etcd did not answer properly. A closed operation (DONE,
 * FAILED, TIMED_OUT) is deleted from etcd. */
int nh_ha_journal_write(void *ctx, bool begin, struct nh_op *op, void (*done)(void *arg, int r),
                        void *arg);

/* Stops campaigning and resigns: timers stop, the lease is revoked (so a
 * follower takes over at once rather than after the TTL) within
 * ha.etcd.timeout; done(ud) runs once, later, on the loop. on_role is not
 * called any more. */
void nh_ha_stop(struct nh_ha *ha, void (*done)(void *ud), void *ud);
/* Cancels what is in flight and frees (memory released from close
 * callbacks: run the loop afterwards). NULL ok. */
void nh_ha_free(struct nh_ha *ha);

/* ---- pure pieces, exposed for tests ---- */

/* The lease is still ours for sure: the last keepalive that etcd answered
 * with a positive TTL was sent at ka_sent_ns (0: never), now is now_ns
 * (both uv_hrtime). True when now < ka_sent + ttl - margin, margin =
 * max(ttl / 4, 500 ms). */
bool nh_ha_lease_fresh(uint64_t ka_sent_ns, uint64_t now_ns, uint64_t ttl_ms);

enum nh_ha_step {
    NH_HA_STEP_CAMPAIGN, /* the election key is absent: try to create it */
    NH_HA_STEP_ACQUIRE,  /* the key holds our lease but we do not lead yet: load the journal */
    NH_HA_STEP_LEAD,     /* we lead and the key agrees: nothing to do */
    NH_HA_STEP_FOLLOW,   /* someone else leads: stay (or become) a follower */
    NH_HA_STEP_RESIGN,   /* we lead but the key or the lease says otherwise: step down */
};
const char *nh_ha_step_name(enum nh_ha_step s);
/* What to do after reading the election key (key_present, key_lease) with
 * our lease my_lease (0: none) and role `leading`; `fresh` is
 * nh_ha_lease_fresh now. */
enum nh_ha_step nh_ha_decide(bool key_present, int64_t key_lease, int64_t my_lease, bool leading,
                             bool fresh);

/* Operation records as stored in etcd (state/opcodec.h, the whole
 * operation). ha_op_to_json: a compact JSON string (free()) or NULL on
 * ENOMEM or an identifier that is not UTF-8. ha_op_from_json: 0, -EBADMSG
 * (err says what is wrong) or -ENOMEM; *op is cleared first and owned by
 * the caller. */
char *nh_ha_op_to_json(const struct nh_op *op);
int nh_ha_op_from_json(const char *s, size_t len, struct nh_op *op, char *err, size_t errlen);
/* P "ops/%020llu" into buf. */
const char *nh_ha_op_key(const char *prefix, uint64_t seq, char *buf, size_t len);

#endif
