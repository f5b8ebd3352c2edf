/* audit.h - the audit trail: every mutating call, with the rule that
 * caused it, the cloud's job id, its result and the configuration revision
 * (git commit or content hash) that asked for it.
 *
 * Written twice: as structured journal fields (sd_journal_send:
 * NODEHERD_CLUSTER=, NODEHERD_POOL=, NODEHERD_ACTION=, NODEHERD_RULE=,
 * NODEHERD_RESULT=, NODEHERD_JOB=, NODEHERD_REVISION=, NODEHERD_SEQ=,
 * NODEHERD_NODES=) so that `journalctl NODEHERD_CLUSTER=web` works, and as
 * JSON lines in <state_dir>/audit.log, rotated at 4 MiB (audit.log.1 ..
 * audit.log.3 kept). Actions hold ids, names and counts only: no secret can
 * reach it. */
#ifndef NH_AUDIT_H
#define NH_AUDIT_H

#include "model/model.h"

struct nh_audit;

/* dir NULL: journal fields only. Never fails: a file that cannot be opened
 * is reported once and skipped. */
struct nh_audit *nh_audit_open(const char *dir);
/* event: "issued", "unknown", "done", "failed", "timed_out". */
void nh_audit_record(struct nh_audit *a, const struct nh_op *op, const char *event,
                     const char *detail);
void nh_audit_close(struct nh_audit *a); /* NULL ok */

#endif
