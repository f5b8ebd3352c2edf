/* opcodec.h - the one JSON encoding of an operation (struct nh_op), used by
 * both stores of operations in flight: the file journal (state/journal.c,
 * "begin" and "update" records) and etcd (ha/, one value per open
 * operation). One key set is written; what the earlier encoders wrote is
 * still read, so an upgrade never forgets an operation in flight.
 *
 * Keys written (every one, always):
 *   begin part:  seq, kind, cluster, pool_id, pool_name, from, target,
 *                node_ids, node_names, pool_nodes, rule, why, revision,
 *                started
 *   update part: seq, state, job_kind, job_id, result, updated
 *   drain records only (op->drain, issue #20): kind is "drain" (not an
 *                action kind; decoded as drain = true with action.kind
 *                NH_ACT_REMOVE_NODES), and the begin part adds deadline
 *                (int, ms since epoch, 0: none) and mark (the cordon
 *                annotation value, an identifier). Other records are
 *                written exactly as before: a journal without drain
 *                records is byte for byte what the version before wrote.
 *                That version refuses "drain" as an unknown action kind:
 *                its file journal then refuses the whole journal (corrupt,
 *                the daemon does not start) until the drain records are
 *                compacted away; its etcd reader leaves that one value
 *                unresumed and logs it. See docs/operations.md, upgrades.
 * Enums are stored by their model.h names; a NULL string is JSON null, a
 * NULL list []. This is the file journal's spelling before the codec, so a
 * journal written now is still read by the version before; that version's
 * etcd reader also reads these values (it refused a null list; its times
 * were "started_ms" and "updated_ms", so it shows a wrong age for an
 * operation resumed from one: display only, deadlines run from the resume).
 * Also read: "started_ms" and "updated_ms" (etcd's earlier spelling),
 * absent optional keys, an empty node_names list beside node_ids (etcd's
 * earlier spelling of "no names").
 *
 * Decoding is strict: a value of the wrong type, an unknown enum name, a
 * number out of range, a string with a NUL byte, an identifier (cluster,
 * pool, node ids and names, job id, revision) that is not UTF-8, or a
 * missing required key (seq; kind and cluster in the begin part; state in
 * the update part) is refused with a message naming the key. Optional keys
 * default to: from/target -1, rule "declared", why "", job_kind "none",
 * started/updated 0, strings and lists NULL, pool_nodes false; a drain
 * record's deadline 0 and mark NULL (the executor then trusts no cordon).
 * Free text (why, result) is made valid UTF-8 on both sides ('?' for a bad
 * byte): a sentence cut mid-character must not block an action.
 *
 * Pure: no I/O, no logging. */
#ifndef NH_STATE_OPCODEC_H
#define NH_STATE_OPCODEC_H

#include <stddef.h>
#include <stdint.h>

#include <json-c/json.h>

#include "model/model.h"

#define NH_OPC_KIND_DRAIN "drain" /* the stored kind of a drain record */
#define NH_OPC_SEQ_MAX ((uint64_t)INT64_MAX - 1)
#define NH_OPC_MAX_BYTES (4u << 20) /* one op value: thousands of victims fit */
#define NH_OPC_MAX_DEPTH 4          /* object > array > string */

/* Which keys a record holds (a bit set). */
enum nh_opc_part {
    NH_OPC_BEGIN = 1,  /* what is known when an operation begins: the action */
    NH_OPC_UPDATE = 2, /* its state, job and result */
    NH_OPC_ALL = 3,    /* the whole operation (etcd) */
};

/* Adds the keys of `parts` to o (an object; the caller owns it). 0,
 * -EINVAL when an identifier is not valid UTF-8, -E2BIG for more than
 * INT_MAX victims, -ENOMEM (o may then hold some of the keys). */
int nh_opc_encode(const struct nh_op *op, unsigned parts, struct json_object *o);

/* Decodes the keys of `parts` from o into *op (zeroed first, owned by the
 * caller; cleared again on failure). Begin only: state INTENT, job_kind
 * NONE, updated_ms = started_ms. 0, -EBADMSG with a message in err
 * ("field \"from\": expected an integer"), or -ENOMEM. */
int nh_opc_decode(struct json_object *o, unsigned parts, struct nh_op *op, char *err,
                  size_t errlen);

/* The whole operation as compact JSON (one etcd value): *ret is owned
 * (free()). Same returns as nh_opc_encode. */
int nh_opc_to_string(const struct nh_op *op, char **ret);

/* Strict parse (util/json.h) of one whole-operation value (at most NH_OPC_MAX_BYTES,
 * nesting NH_OPC_MAX_DEPTH, nothing after it), then nh_opc_decode with
 * NH_OPC_ALL. Invalid UTF-8 is judged per field (see above), not refused
 * for the whole value: earlier writers did not clean free text. */
int nh_opc_parse(const char *s, size_t len, struct nh_op *op, char *err, size_t errlen);

/* UTF-8 as the codec judges it (strict RFC 3629). */
bool nh_opc_utf8_valid(const char *s);

#endif
