/* make_old_fixtures.c - made the OLD-format fixtures beside it with main's
 * own code at a4baeeb (before state/opcodec.h): journal-main-a4baeeb.log
 * (nh_journal_begin / nh_journal_update) and etcd-ops-main-a4baeeb.jsonl
 * (nh_ha_op_to_json, one value a line). Not built: it needs main's tree.
 *
 * Frozen on purpose: it calls the API as it was at a4baeeb, and the
 * fixtures it made are what a daemon of that time wrote, which today's
 * code must keep reading. Do not update it to the current API, do not
 * fold it into the tests' shared helpers and do not regenerate the
 * fixtures with today's code: a new format gets a fixture of its own.
 *
 * Build main at a4baeeb in O (cmake -S O -B O/b; cmake --build O/b), then
 *   B=O/b/daemon
 *   cc -std=gnu11 -IO/daemon make_old_fixtures.c $B/ha/libnh_ha.a
 *      $B/state/libnh_state.a $B/config/libnh_config.a $B/net/libnh_net.a
 *      $B/model/libnh_model.a $B/util/libnh_util.a
 *      $(pkg-config --libs json-c libuv libcrypto libcurl yaml-0.1) -lpthread
 *   mkdir out && ./a.out out > etcd-ops-main-a4baeeb.jsonl
 *   cp out/journal.log journal-main-a4baeeb.log */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "state/journal.h"
#include "ha/ha.h"

static char *ids2[] = {"i-aaa", "i-bbb"};
static char *names2[] = {"node-a", "node-b"};
static char *ids1[] = {"uid-1"};

int main(int argc, char **argv)
{
    const char *dir = argv[1];
    struct nh_op ops[] = {
        {.action = {.kind = NH_ACT_SCALE_CLUSTER,
                    .cluster = "ack-prod",
                    .from = 3,
                    .target = 5,
                    .rule = NH_RULE_DECLARED,
                    .why = "5 declared, 3 observed (caf\xc3\xa9)"},
         .state = NH_OP_SENT,
         .job_kind = NH_JOB_ACK_TASK,
         .job_id = "T-123",
         .started_ms = 1764990000000,
         .updated_ms = 1764990001000,
         .revision = "rev-1"},
        {.action = {.kind = NH_ACT_SCALE_POOL,
                    .cluster = "cce-prod",
                    .pool_id = "np-1",
                    .pool_name = "gpu",
                    .from = 2,
                    .target = 4,
                    .rule = NH_RULE_MIN,
                    .why = "clamped to min"},
         .state = NH_OP_VERIFY,
         .job_kind = NH_JOB_POOL_SIZE,
         .started_ms = 1764990002000,
         .updated_ms = 1764990003000,
         .revision = "rev-2",
         .result = "answer lost"},
        {.action = {.kind = NH_ACT_REMOVE_NODES,
                    .cluster = "ack-prod",
                    .pool_id = "np-2",
                    .pool_name = "cpu",
                    .from = 5,
                    .target = 3,
                    .node_ids = ids2,
                    .node_names = names2,
                    .n_nodes = 2,
                    .pool_nodes = true,
                    .rule = NH_RULE_UNHEALTHY,
                    .why = "2 unhealthy first"},
         .state = NH_OP_INTENT,
         .job_kind = NH_JOB_NONE,
         .started_ms = 1764990004000,
         .updated_ms = 1764990004000,
         .revision = "rev-3"},
        {.action = {.kind = NH_ACT_DELETE_POOL,
                    .cluster = "ma-prod",
                    .pool_id = "pool-x",
                    .pool_name = "pool-x",
                    .from = 1,
                    .target = 0,
                    .rule = NH_RULE_PRUNE,
                    .why = "undeclared pool, prune: true"},
         .state = NH_OP_SENT,
         .job_kind = NH_JOB_POOL_GONE,
         .started_ms = 1764990005000,
         .updated_ms = 1764990006000},
        {.action = {.kind = NH_ACT_REMOVE_NODES,
                    .cluster = "cce-prod",
                    .from = 4,
                    .target = 3,
                    .node_ids = ids1,
                    .n_nodes = 1,
                    .rule = NH_RULE_REMOVE_LIST,
                    .why = "in remove:"},
         .state = NH_OP_SENT,
         .job_kind = NH_JOB_CCE_JOB,
         .job_id = "job-9",
         .started_ms = 1764990007000,
         .updated_ms = 1764990008000,
         .revision = "rev-5"},
        {.action = {.kind = NH_ACT_SCALE_POOL,
                    .cluster = "cce-prod",
                    .pool_id = "np-3",
                    .pool_name = "big",
                    .from = 2,
                    .target = 6,
                    .rule = NH_RULE_BUDGET,
                    .why = "limited by max_per_cycle"},
         .state = NH_OP_DONE,
         .job_kind = NH_JOB_NODES_GONE,
         .started_ms = 1764990009000,
         .updated_ms = 1764990010000,
         .revision = "rev-6",
         .result = "pool at 6"},
        {.action = {.kind = NH_ACT_SCALE_CLUSTER,
                    .cluster = "ack-dev",
                    .from = 1,
                    .target = 2,
                    .rule = NH_RULE_MAX,
                    .why = "clamped"},
         .state = NH_OP_FAILED,
         .job_kind = NH_JOB_ACK_TASK,
         .job_id = "T-9",
         .started_ms = 1764990011000,
         .updated_ms = 1764990012000,
         .result = "QuotaExceeded"},
        {.action = {.kind = NH_ACT_DELETE_POOL,
                    .cluster = "ma-dev",
                    .pool_id = "p",
                    .from = 0,
                    .target = 0,
                    .rule = NH_RULE_PRUNE,
                    .why = ""},
         .state = NH_OP_TIMED_OUT,
         .job_kind = NH_JOB_POOL_GONE,
         .started_ms = 1764990013000,
         .updated_ms = 1764990014000,
         .result = "job did not end in 30m"},
    };
    size_t n = sizeof(ops) / sizeof(ops[0]);
    struct nh_journal *j;
    char err[512];
    struct nh_journal_replay rep;
    if (nh_journal_open(dir, &j, &rep, err, sizeof(err)) < 0) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    nh_journal_replay_clear(&rep);
    for (size_t i = 0; i < n; i++) {
        struct nh_op o = ops[i];
        o.state = NH_OP_INTENT;
        o.job_id = NULL;
        o.result = NULL;
        if (nh_journal_begin(j, &o) < 0)
            return 2;
        ops[i].seq = o.seq;
    }
    for (size_t i = 0; i < n; i++) {
        if (ops[i].state == NH_OP_INTENT)
            continue;
        if (nh_journal_update(j, &ops[i]) < 0)
            return 3;
    }
    nh_journal_close(j);
    /* etcd values, one per line */
    for (size_t i = 0; i < n; i++) {
        char *s = nh_ha_op_to_json(&ops[i]);
        printf("%s\n", s);
        free(s);
    }
    return 0;
}
