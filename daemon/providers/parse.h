/* parse.h - the providers' pure functions: response parsers, error-body
 * parsing and error classification for the three clouds.
 *
 * Everything here is a pure function over (bytes, length) or plain values:
 * no I/O, no clock, no logging, no global state. The parsers are fuzz
 * targets (tests/fuzz/fuzz_providers.c): whatever the input, they return 0
 * or a negative errno with a message in err, never crash, never leak.
 *
 * JSON is parsed strictly (json_tokener_new_ex(32), JSON_TOKENER_STRICT |
 * JSON_TOKENER_VALIDATE_UTF8); bodies larger than NH_PROV_BODY_MAX are
 * refused. Types are checked before values: a field of the wrong type is an
 * error naming the field, an absent optional field takes its default.
 * Counts must lie in 0..NH_PROV_COUNT_MAX.
 *
 * Ownership: parsers that fill a struct nh_observed append to it (the caller
 * owns it and clears it, also after an error: partial content may be there).
 * Returned strings (ret_*) are malloc'd and belong to the caller; they are
 * set only on success. */
#ifndef NH_PROVIDERS_PARSE_H
#define NH_PROVIDERS_PARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "model/model.h"
#include "providers/provider.h"

#define NH_PROV_BODY_MAX (8u * 1024u * 1024u) /* = NH_JSON_MAX_BYTES (util/json.h) */

#define NH_PROV_COUNT_MAX 1000000
#define NH_PROV_PAGE_SIZE 100
#define NH_PROV_MAX_PAGES 100

/* ---------- shared ---------- */

/* true when s is a non-empty string of [A-Za-z0-9._~-] (safe in a URL path). */
bool nh_prov_path_safe(const char *s);

/* RFC 3339 ("2025-01-02T03:04:05Z", "...+08:00", fractions) and CCE's
 * "2025-01-02 03:04:05.123 +0000 UTC" to unix seconds; 0 when unparseable. */
int64_t nh_prov_parse_time(const char *s);

/* Fills code, message and request_id of e from an error body, trying the
 * documented key pairs in order: error_code/error_msg, errorCode/
 * errorMessage (or errorMsg), code/message, Code/Message, then the same
 * inside one nested object. Returns true when the body was a JSON object
 * (even without any known key); false for a non-JSON body, in which case
 * e->message reads "HTTP <status> with a non-JSON body (first bytes: ...)"
 * with control characters stripped. Never touches e->cls or e->op. */
bool nh_prov_parse_error_body(int status, const char *body, size_t len, struct nh_prov_error *e);

/* The HTTP Retry-After header (delta-seconds or an HTTP-date) in ms relative
 * to now_s; 0 when absent, invalid or in the past. */
uint64_t nh_prov_retry_after_ms(const char *value, int64_t now_s);

/* ---------- error tables ---------- */

/* One row of a cloud's error table (aliyun/errors.c, huawei/errors.c). A
 * row matches an error answer when every condition it sets matches. The
 * first matching row with a class decides; a row without one
 * (NH_ERR_NONE) only lends its advice, and matching goes on. After the
 * cloud's rows come the common ones: 401/403 AUTH, 404 NOT_FOUND, 409
 * CONFLICT, 5xx SERVER, other 4xx INVALID, anything else SERVER. SERVER on
 * a mutating call reads UNKNOWN_OUTCOME (it may have happened). */
struct nh_err_rule {
    const char *code; /* the cloud's code; "Prefix*" matches a prefix; NULL: any */
    int status;       /* HTTP status; 0: any */
    int status_max;   /* with status: the range status..status_max */
    const char *text; /* a phrase in the message (case-insensitive); NULL: any */
    bool hinted;      /* only when the answer carries a retry hint */
    enum nh_err_class cls;
    const char *advice; /* appended to the message as " (advice)" */
    bool stop;          /* stop every call with this key until a reload */
    uint64_t hold_ms;   /* hold every call this long (the key is locked) */
    bool resend;        /* refused before it ran: re-sign and send once more */
};

/* The row that decides an answer's class (2xx: a row of class
 * NH_ERR_NONE). Never NULL, static. ret_advice (may be NULL) gets the
 * advice of the first matching row that has one, or NULL. */
const struct nh_err_rule *nh_err_match(const struct nh_err_rule *rows, size_t n, int status,
                                       const char *code, const char *message, bool hinted,
                                       const char **ret_advice);
/* The class a row gives: its own, UNKNOWN_OUTCOME for SERVER on a mutation. */
enum nh_err_class nh_err_rule_class(const struct nh_err_rule *r, bool mutating);
/* A whole error answer into e: the body's code, message and request id
 * (nh_prov_parse_error_body), the class from rows, the advice appended to
 * the message. Returns the deciding row. */
const struct nh_err_rule *nh_err_read(const struct nh_err_rule *rows, size_t n, int status,
                                      const char *body, size_t len, bool hinted, bool mutating,
                                      struct nh_prov_error *e);

/* ---------- Alibaba Cloud ACK ---------- */

enum nh_node_health nh_ack_node_health(const char *state, const char *node_status);

/* x-acs-retry-after: a positive integer of milliseconds; 0 when absent,
 * <= 0, empty or not a number. */
uint64_t nh_ack_retry_after_ms(const char *value);

/* ACK's error table (rows in order; struct nh_err_rule). */
extern const struct nh_err_rule nh_ack_errors[];
extern const size_t nh_ack_n_errors;

/* Pure classification of an ACK error (errors-and-limits.md): by code first
 * (Throttling*, InvalidTimeStamp.*, signature, AccessKey, Forbidden*), then
 * the retry header, then the status. */
enum nh_err_class nh_ack_error_class(int status, const char *code, bool has_retry_after,
                                     bool mutating);

/* A whole ACK error answer -> e (class, status, code, message, request id).
 * retry_after: the x-acs-retry-after header value or NULL; *hint_ms gets its
 * value (0 without). The message tells what to do for auth classes
 * ("check clock/NTP", "check the AccessKey"). */
void nh_ack_error_from_answer(int status, const char *body, size_t len, const char *retry_after,
                              bool mutating, struct nh_prov_error *e, uint64_t *hint_ms);

struct nh_ack_page {
    int64_t total_count; /* page.total_count */
    int64_t page_number;
    int64_t page_size;
    size_t n_nodes; /* nodes on this page */
};

/* DescribeClusterNodes: appends the page's nodes to obs. */
int nh_ack_parse_nodes_page(const char *body, size_t len, struct nh_observed *obs,
                            struct nh_ack_page *page, char *err, size_t errlen);
/* DescribeClusterNodePools: appends every pool to obs. */
int nh_ack_parse_nodepools(const char *body, size_t len, struct nh_observed *obs, char *err,
                           size_t errlen);

/* A pool as read for progress, with a failure condition when the cloud
 * reports one. */
struct nh_pool_status {
    struct nh_obs_pool pool; /* owned: nh_obs_pool_clear */
    bool failed;
    char failure[256];
    char phase[64];
};
void nh_pool_status_clear(struct nh_pool_status *s);

/* DescribeClusterNodePoolDetail: one pool. */
int nh_ack_parse_nodepool_detail(const char *body, size_t len, struct nh_pool_status *out,
                                 char *err, size_t errlen);
/* Whether an ACK cluster in `state` (DescribeClusterDetail) accepts changes. */
enum nh_cluster_state nh_ack_cluster_state(const char *state);
/* DescribeClusterDetail: its state, and the state word into phase. */
int nh_ack_parse_cluster_state(const char *body, size_t len, enum nh_cluster_state *ret_state,
                               char *phase, size_t phaselen, char *err, size_t errlen);
/* DescribeClusterUserKubeconfig
 * (https://www.alibabacloud.com/help/en/ack/ack-managed-and-ack-dedicated/developer-reference/api-query-the-kubeconfig-file-of-a-cluster):
 * {"config": "<kubeconfig YAML>", "expiration": "<RFC 3339, UTC>"}. On
 * success *ret holds the config as a secret (the caller frees it) and
 * *ret_expires its expiration in unix seconds (0 when absent or
 * unreadable). The config's bytes are wiped from the parse tree; no
 * message ever carries them. */
int nh_ack_parse_user_kubeconfig(const char *body, size_t len, struct nh_secret **ret,
                                 int64_t *ret_expires, char *err, size_t errlen);
/* The task_id of a mutating call's answer (ScaleCluster, DeleteClusterNodes,
 * RemoveNodePoolNodes, ModifyClusterNodePool). *ret_task_id is NULL when the
 * answer carries none (an empty body is fine). */
int nh_ack_parse_task_id(const char *body, size_t len, char **ret_task_id, char *err,
                         size_t errlen);
/* DescribeTaskInfo: success -> SUCCEEDED; fail/failed/canceled/cancelled ->
 * FAILED (detail from error and task_result); anything else RUNNING. */
int nh_ack_parse_task(const char *body, size_t len, struct nh_job_progress *out, char *err,
                      size_t errlen);

/* ---------- Huawei (CCE and ModelArts, APIG gateway) ---------- */

/* The error table of CCE and ModelArts (rows in order). */
extern const struct nh_err_rule nh_huawei_errors[];
extern const size_t nh_huawei_n_errors;

/* What a Huawei error means beyond its class. */
struct nh_huawei_verdict {
    enum nh_err_class cls;
    bool stop;      /* a signature/credential failure: stop all calls with this key */
    bool ak_locked; /* "reach the limit": the gateway locked the key (wait >= 5 min) */
};

/* Pure classification (errors-and-limits.md, Huawei table). */
struct nh_huawei_verdict nh_huawei_error_class(int status, const char *code, const char *message,
                                               bool mutating);
/* A whole Huawei error answer -> e. retry_after: the Retry-After header
 * value or NULL (hint in *hint_ms relative to now_s). */
/* The same, returning the table row that decided (for its effects). */
const struct nh_err_rule *nh_huawei_read_error(int status, const char *body, size_t len,
                                               const char *retry_after, int64_t now_s,
                                               bool mutating, struct nh_prov_error *e,
                                               uint64_t *hint_ms);
struct nh_huawei_verdict nh_huawei_error_from_answer(int status, const char *body, size_t len,
                                                     const char *retry_after, int64_t now_s,
                                                     bool mutating, struct nh_prov_error *e,
                                                     uint64_t *hint_ms);

/* ---------- Huawei CCE ---------- */

enum nh_node_health nh_cce_node_health(const char *phase);
/* ListNodes: appends nodes. */
int nh_cce_parse_nodes(const char *body, size_t len, struct nh_observed *obs, char *err,
                       size_t errlen);
/* ListNodePools: appends pools. */
int nh_cce_parse_nodepools(const char *body, size_t len, struct nh_observed *obs, char *err,
                           size_t errlen);
/* ShowNodePool: one pool; failed (and pool.blocked set) on status.phase
 * Error, a True condition of type QuotaInsufficient, ResourceInsufficient,
 * UnexpectedError, Error or LockedByOrder (pool.locked), or Scalable=False.
 * spec.initialNodeCount is optional: desired -1 when absent. */
int nh_cce_parse_nodepool(const char *body, size_t len, struct nh_pool_status *out, char *err,
                          size_t errlen);
/* Whether a CCE cluster in `phase` (ShowCluster status.phase) accepts changes. */
enum nh_cluster_state nh_cce_cluster_state(const char *phase);
/* ShowCluster: its state, and status.phase into phase. */
int nh_cce_parse_cluster_state(const char *body, size_t len, enum nh_cluster_state *ret_state,
                               char *phase, size_t phaselen, char *err, size_t errlen);
/* CreateKubernetesClusterCert
 * (https://support.huaweicloud.com/intl/en-us/api-cce/cce_02_0248.html):
 * the answer is the kubeconfig itself, as JSON. It is checked to be one
 * strict JSON object with clusters, users and contexts lists, and kept as
 * is in *ret (a secret; the caller frees it and parses it with the
 * "internal" context). No message ever carries its bytes. */
int nh_cce_parse_cluster_cert(const char *body, size_t len, struct nh_secret **ret, char *err,
                              size_t errlen);
/* status.jobID of RemoveNode / DeleteNode answers; NULL when absent. */
int nh_cce_parse_job_id(const char *body, size_t len, char **ret_job_id, char *err, size_t errlen);
/* ShowJob: Success/Failed terminal; failed sub-jobs (resourceName: reason)
 * listed in detail; percent from finished sub-jobs when there are some. */
int nh_cce_parse_job(const char *body, size_t len, struct nh_job_progress *out, char *err,
                     size_t errlen);

/* ---------- Huawei ModelArts ---------- */

/* maxCount to send with a new count (huawei-modelarts.md): the new count
 * when the pool is physical (maxCount == count), else max(maxCount, count). */
int nh_ma_max_count(int cur_count, int cur_max_count, int new_count);
/* ListNodePools: appends pools (id = name = metadata.name). */
int nh_ma_parse_nodepools(const char *body, size_t len, struct nh_observed *obs, char *err,
                          size_t errlen);
/* ShowNodePool. */
int nh_ma_parse_nodepool(const char *body, size_t len, struct nh_pool_status *out, char *err,
                         size_t errlen);
/* A node's status.phase as health. */
enum nh_node_health nh_ma_node_health(const char *phase);
/* One page of ListNodePoolNodes: its nodes appended to obs (id = name =
 * metadata.name, pool_id = pool), and metadata.continue into
 * *ret_continue (malloc'd; NULL when empty: the last page). */
int nh_ma_parse_pool_nodes(const char *body, size_t len, const char *pool, struct nh_observed *obs,
                           char **ret_continue, char *err, size_t errlen);

/* ---------- request bodies (pure; malloc'd, NUL-terminated) ---------- */

/* ModifyClusterNodePool: {"scaling_group":{"desired_size":N}} */
char *nh_ack_body_modify_pool(int desired_size);
/* DeleteClusterNodes: {"nodes":[names],"release_node":b,"drain_node":b} */
char *nh_ack_body_delete_nodes(const char *const *names, size_t n, bool release, bool drain);
/* ScaleCluster, keys in the order of signing.md example B1. The password is
 * written into the returned buffer: cleanse it (nh_prov_free_secret_str). */
char *nh_ack_body_scale_cluster(bool disable_rollback, int timeout_mins, int num_of_nodes,
                                const char *instance_type, const char *disk_category,
                                int disk_size_gb, const char *password, size_t password_len);
/* RemoveNodePoolNodes' instance_ids query value: ["i-a","i-b"] */
char *nh_ack_query_instance_ids(const char *const *ids, size_t n);
/* CCE ScaleNodePool body, exactly as documented. */
char *nh_cce_body_scale_pool(int desired);
/* CCE RemoveNode body (C2 key order). ssh_key or username+password (may be
 * NULL for no login). Contains the password: cleanse it. */
char *nh_cce_body_remove_nodes(const char *const *uids, size_t n, const char *ssh_key,
                               const char *username, const char *password, size_t password_len);
/* ModelArts PatchNodePool body. */
char *nh_ma_body_patch(const char *flavor, int count, int max_count);
/* ModelArts BatchDeletePoolNodes: {"deleteNodeNames":[names]} */
char *nh_ma_body_batch_delete(const char *const *names, size_t n);
/* OPENSSL_cleanse the string, then free. NULL ok. */
void nh_prov_free_secret_str(char *s);

#endif
