/* test_opcodec.c - the one operation codec (state/opcodec.h): what main
 * wrote before it (a journal image and etcd values, committed fixtures made
 * by data/make_old_fixtures.c at a4baeeb) still decodes to the same
 * operations; encode then decode is the identity over every state and
 * action kind, and for drain records (kind "drain", deadline, mark);
 * hostile values are refused with a message; the enum tables name every
 * value. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "state/journal.h"
#include "state/opcodec.h"

/* ---------- helpers ---------- */

static char *slurp(const char *name, size_t *len)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/data/%s", NH_TEST_DATA, name);
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        fail_msg("cannot open fixture %s", path);
    char *buf = malloc(1 << 20);
    assert_non_null(buf);
    *len = fread(buf, 1, (1 << 20) - 1, f);
    buf[*len] = '\0';
    fclose(f);
    return buf;
}

static void str_eq(const char *what, uint64_t seq, const char *a, const char *b)
{
    if (a == NULL && b == NULL)
        return;
    if (a == NULL || b == NULL || strcmp(a, b) != 0)
        fail_msg("op %llu: %s: \"%s\" != \"%s\"", (unsigned long long)seq, what, a ? a : "(null)",
                 b ? b : "(null)");
}

static void op_eq(const struct nh_op *a, const struct nh_op *b)
{
    const struct nh_action *x = &a->action, *y = &b->action;
    uint64_t s = a->seq;
    if (a->seq != b->seq)
        fail_msg("seq %llu != %llu", (unsigned long long)a->seq, (unsigned long long)b->seq);
    if (x->kind != y->kind || a->state != b->state || a->job_kind != b->job_kind ||
        x->rule != y->rule)
        fail_msg("op %llu: kind %s/%s state %s/%s job %s/%s rule %s/%s", (unsigned long long)s,
                 nh_action_kind_name(x->kind), nh_action_kind_name(y->kind),
                 nh_op_state_name(a->state), nh_op_state_name(b->state),
                 nh_job_kind_name(a->job_kind), nh_job_kind_name(b->job_kind),
                 nh_rule_name(x->rule), nh_rule_name(y->rule));
    if (x->from != y->from || x->target != y->target || x->pool_nodes != y->pool_nodes)
        fail_msg("op %llu: from %d/%d target %d/%d pool_nodes %d/%d", (unsigned long long)s,
                 x->from, y->from, x->target, y->target, x->pool_nodes, y->pool_nodes);
    if (a->started_ms != b->started_ms || a->updated_ms != b->updated_ms)
        fail_msg("op %llu: started %lld/%lld updated %lld/%lld", (unsigned long long)s,
                 (long long)a->started_ms, (long long)b->started_ms, (long long)a->updated_ms,
                 (long long)b->updated_ms);
    str_eq("cluster", s, x->cluster, y->cluster);
    str_eq("pool_id", s, x->pool_id, y->pool_id);
    str_eq("pool_name", s, x->pool_name, y->pool_name);
    str_eq("why", s, x->why, y->why);
    str_eq("job_id", s, a->job_id, b->job_id);
    str_eq("revision", s, a->revision, b->revision);
    str_eq("result", s, a->result, b->result);
    if (a->drain != b->drain || a->deadline_ms != b->deadline_ms)
        fail_msg("op %llu: drain %d/%d deadline %lld/%lld", (unsigned long long)s, a->drain,
                 b->drain, (long long)a->deadline_ms, (long long)b->deadline_ms);
    str_eq("mark", s, a->mark, b->mark);
    if (x->n_nodes != y->n_nodes || (x->node_ids == NULL) != (y->node_ids == NULL) ||
        (x->node_names == NULL) != (y->node_names == NULL))
        fail_msg("op %llu: victims differ (%zu/%zu)", (unsigned long long)s, x->n_nodes,
                 y->n_nodes);
    for (size_t i = 0; i < x->n_nodes; i++) {
        if (x->node_ids)
            str_eq("node_ids[]", s, x->node_ids[i], y->node_ids[i]);
        if (x->node_names)
            str_eq("node_names[]", s, x->node_names[i], y->node_names[i]);
    }
}

/* What make_old_fixtures.c wrote (seq 6..8 are closed: not in the journal's
 * replay, but in etcd values). */
static char *ids2[] = {"i-aaa", "i-bbb"};
static char *names2[] = {"node-a", "node-b"};
static char *ids1[] = {"uid-1"};
static const struct nh_op fixture_ops[] = {
    {.seq = 1,
     .action = {.kind = NH_ACT_SCALE_CLUSTER,
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
    {.seq = 2,
     .action = {.kind = NH_ACT_SCALE_POOL,
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
    {.seq = 3,
     .action = {.kind = NH_ACT_REMOVE_NODES,
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
    {.seq = 4,
     .action = {.kind = NH_ACT_DELETE_POOL,
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
    {.seq = 5,
     .action = {.kind = NH_ACT_REMOVE_NODES,
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
    {.seq = 6,
     .action = {.kind = NH_ACT_SCALE_POOL,
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
    {.seq = 7,
     .action = {.kind = NH_ACT_SCALE_CLUSTER,
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
    {.seq = 8,
     .action = {.kind = NH_ACT_DELETE_POOL,
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
#define N_FIXTURE (sizeof(fixture_ops) / sizeof(fixture_ops[0]))

/* ---------- old formats ---------- */

static void test_old_journal_image_decodes(void **state)
{
    (void)state;
    size_t len;
    char *img = slurp("journal-main-a4baeeb.log", &len);
    struct nh_journal_replay rp;
    char err[300];
    int r = nh_journal_parse(img, len, &rp, err, sizeof(err));
    if (r != 0)
        fail_msg("old journal refused: %d %s", r, err);
    assert_int_equal(rp.n_records, 15);
    assert_int_equal(rp.n_open, 5); /* 6, 7, 8 were closed */
    for (size_t i = 0; i < rp.n_open; i++)
        op_eq(&rp.open_ops[i], &fixture_ops[i]);
    nh_journal_replay_clear(&rp);
    free(img);
}

static void test_old_etcd_values_decode(void **state)
{
    (void)state;
    size_t len, n = 0;
    char *all = slurp("etcd-ops-main-a4baeeb.jsonl", &len);
    char *save = NULL;
    for (char *line = strtok_r(all, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        struct nh_op op;
        char err[200];
        assert_true(n < N_FIXTURE);
        int r = nh_opc_parse(line, strlen(line), &op, err, sizeof(err));
        if (r != 0)
            fail_msg("old etcd value %zu refused: %d %s", n, r, err);
        /* seq 5: main wrote "node_names":[] for "no names" */
        op_eq(&op, &fixture_ops[n]);
        nh_op_clear(&op);
        n++;
    }
    assert_int_equal(n, N_FIXTURE);
    free(all);
}

/* The two old stores agree: the journal's open ops equal etcd's. */
static void test_old_stores_agree(void **state)
{
    (void)state;
    size_t jl, el;
    char *img = slurp("journal-main-a4baeeb.log", &jl);
    char *all = slurp("etcd-ops-main-a4baeeb.jsonl", &el);
    struct nh_journal_replay rp;
    char err[300];
    assert_int_equal(nh_journal_parse(img, jl, &rp, err, sizeof(err)), 0);
    char *save = NULL, *line = strtok_r(all, "\n", &save);
    for (size_t i = 0; i < rp.n_open && line; i++, line = strtok_r(NULL, "\n", &save)) {
        struct nh_op op;
        assert_int_equal(nh_opc_parse(line, strlen(line), &op, err, sizeof(err)), 0);
        op_eq(&rp.open_ops[i], &op);
        nh_op_clear(&op);
    }
    nh_journal_replay_clear(&rp);
    free(img);
    free(all);
}

/* ---------- round trips ---------- */

static struct nh_op table_op(size_t i)
{
    static char *ids[] = {"i-1", "i-\"2\"", "\xe8\x8a\x82\xe7\x82\xb9"};
    static char *names[] = {"n-1", "n/2", "n\\3"};
    enum nh_action_kind k = (enum nh_action_kind)(i % 4);
    enum nh_op_state st = (enum nh_op_state)(i / 4 % 6);
    struct nh_op op = {
        .seq = i == 0 ? NH_OPC_SEQ_MAX : i + 1,
        .action = {.kind = k,
                   .cluster = "c\xc3\xa9",
                   .pool_id = i % 3 ? "np-1" : NULL,
                   .pool_name = i % 2 ? "pool name" : NULL,
                   .from = i == 1 ? -1 : (int)i,
                   .target = i == 2 ? 2147483647 : (int)i + 1,
                   .rule = (enum nh_rule)(i % 13),
                   .pool_nodes = i % 2 == 0},
        .state = st,
        .job_kind = (enum nh_job_kind)(i % 6),
        .job_id = i % 4 ? "job-1" : NULL,
        .started_ms = i == 3 ? INT64_MIN : 1764990000000 + (int64_t)i,
        .updated_ms = i == 3 ? INT64_MAX : 1764990000500 + (int64_t)i,
        .revision = i % 5 ? "sha256:abc" : NULL,
        .result = i % 2 ? "result \"quoted\" \xe2\x9c\x93" : NULL,
    };
    snprintf(op.action.why, sizeof(op.action.why), "why %zu: %s", i, i % 2 ? "\t\n\x01/" : "");
    if (k == NH_ACT_REMOVE_NODES) {
        op.action.node_ids = ids;
        op.action.node_names = i % 3 ? names : NULL;
        op.action.n_nodes = 3;
    }
    return op;
}

static void test_encode_decode_identity(void **state)
{
    (void)state;
    bool seen_kind[4] = {0}, seen_state[6] = {0};
    for (size_t i = 0; i < 4 * 6; i++) {
        struct nh_op op = table_op(i), back;
        char *s = NULL, err[200];
        seen_kind[op.action.kind] = seen_state[op.state] = true;
        assert_int_equal(nh_opc_to_string(&op, &s), 0);
        int r = nh_opc_parse(s, strlen(s), &back, err, sizeof(err));
        if (r != 0)
            fail_msg("op %zu: %s refused: %s", i, s, err);
        op_eq(&back, &op);
        nh_op_clear(&back);

        /* split as the journal writes it: begin, then update */
        struct json_object *b = json_object_new_object(), *u = json_object_new_object();
        struct nh_op ob, ou;
        assert_int_equal(nh_opc_encode(&op, NH_OPC_BEGIN, b), 0);
        assert_int_equal(nh_opc_encode(&op, NH_OPC_UPDATE, u), 0);
        assert_int_equal(nh_opc_decode(b, NH_OPC_BEGIN, &ob, err, sizeof(err)), 0);
        assert_int_equal(nh_opc_decode(u, NH_OPC_UPDATE, &ou, err, sizeof(err)), 0);
        assert_int_equal(ob.state, NH_OP_INTENT);
        assert_true(ob.updated_ms == op.started_ms);
        ob.state = ou.state;
        ob.job_kind = ou.job_kind;
        ob.job_id = ou.job_id;
        ob.result = ou.result;
        ob.updated_ms = ou.updated_ms;
        ou.job_id = ou.result = NULL;
        op_eq(&ob, &op);
        nh_op_clear(&ob);
        nh_op_clear(&ou);
        json_object_put(b);
        json_object_put(u);
        free(s);
    }
    for (size_t i = 0; i < 4; i++)
        assert_true(seen_kind[i]);
    for (size_t i = 0; i < 6; i++)
        assert_true(seen_state[i]);
}

/* The key set written: every key, the journal's spelling (so the version
 * before reads it), NULL strings as null, NULL lists as []. */
static void test_written_keys(void **state)
{
    (void)state;
    struct nh_op op = fixture_ops[3];
    char *s = NULL;
    assert_int_equal(nh_opc_to_string(&op, &s), 0);
    assert_string_equal(
        s, "{\"seq\":4,\"kind\":\"delete-pool\",\"cluster\":\"ma-prod\",\"pool_id\":\"pool-x\","
           "\"pool_name\":\"pool-x\",\"from\":1,\"target\":0,\"node_ids\":[],\"node_names\":[],"
           "\"pool_nodes\":false,\"rule\":\"prune\",\"why\":\"undeclared pool, prune: true\","
           "\"revision\":null,\"started\":1764990005000,\"state\":\"sent\","
           "\"job_kind\":\"pool-gone\",\"job_id\":null,\"result\":null,"
           "\"updated\":1764990006000}");
    free(s);
    /* the journal's begin record of main's fixture, byte for byte but the lists */
    struct json_object *o = json_object_new_object();
    json_object_object_add(o, "t", json_object_new_string("begin"));
    assert_int_equal(nh_opc_encode(&fixture_ops[0], NH_OPC_BEGIN, o), 0);
    assert_string_equal(
        json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE),
        "{\"t\":\"begin\",\"seq\":1,\"kind\":\"scale-cluster\",\"cluster\":\"ack-prod\","
        "\"pool_id\":null,\"pool_name\":null,\"from\":3,\"target\":5,\"node_ids\":[],"
        "\"node_names\":[],\"pool_nodes\":false,\"rule\":\"declared\","
        "\"why\":\"5 declared, 3 observed (caf\xc3\xa9)\",\"revision\":\"rev-1\","
        "\"started\":1764990000000}");
    json_object_put(o);
    /* an identifier that is not UTF-8 is refused, free text is cleaned */
    op.action.cluster = "bad\xff";
    assert_int_equal(nh_opc_to_string(&op, &s), -EINVAL);
    assert_null(s);
    op = fixture_ops[3];
    snprintf(op.action.why, sizeof(op.action.why), "cut \xc3");
    assert_int_equal(nh_opc_to_string(&op, &s), 0);
    assert_non_null(strstr(s, "\"why\":\"cut ?\""));
    free(s);
}

/* ---------- drain records (issue #20) ---------- */

static char *drain_ids[] = {"i-bp1aaaa"};
static char *drain_names[] = {"cn-hangzhou.192.168.0.11"};
static const struct nh_op drain_op = {
    .seq = 9,
    .action = {.kind = NH_ACT_REMOVE_NODES,
               .cluster = "web",
               .pool_id = "np-1",
               .pool_name = "np-web",
               .from = 3,
               .target = 1,
               .node_ids = drain_ids,
               .node_names = drain_names,
               .n_nodes = 1,
               .pool_nodes = true,
               .rule = NH_RULE_DECLARED,
               .why = "drain before its removal: 1 declared, 3 observed"},
    .state = NH_OP_INTENT,
    .job_kind = NH_JOB_NONE,
    .started_ms = 1764990020000,
    .updated_ms = 1764990020000,
    .revision = "rev-9",
    .drain = true,
    .deadline_ms = 1764990620000,
    .mark = "nodeherd.web",
};

/* A drain record: kind "drain" plus deadline and mark, through both
 * stores' paths (whole value, and the journal's begin + update), every
 * state; the journal replays it open until its close. */
static void test_drain_record_identity(void **state)
{
    (void)state;
    char *s = NULL, err[200];
    struct nh_op back;
    assert_int_equal(nh_opc_to_string(&drain_op, &s), 0);
    assert_string_equal(
        s, "{\"seq\":9,\"kind\":\"drain\",\"cluster\":\"web\",\"pool_id\":\"np-1\","
           "\"pool_name\":\"np-web\",\"from\":3,\"target\":1,\"node_ids\":[\"i-bp1aaaa\"],"
           "\"node_names\":[\"cn-hangzhou.192.168.0.11\"],\"pool_nodes\":true,"
           "\"rule\":\"declared\",\"why\":\"drain before its removal: 1 declared, 3 observed\","
           "\"revision\":\"rev-9\",\"started\":1764990020000,\"deadline\":1764990620000,"
           "\"mark\":\"nodeherd.web\",\"state\":\"intent\",\"job_kind\":\"none\","
           "\"job_id\":null,\"result\":null,\"updated\":1764990020000}");
    assert_int_equal(nh_opc_parse(s, strlen(s), &back, err, sizeof(err)), 0);
    op_eq(&back, &drain_op);
    assert_true(back.drain);
    assert_int_equal(back.action.kind, NH_ACT_REMOVE_NODES);
    nh_op_clear(&back);
    free(s);
    /* a copy keeps it (the executor's queue writes a copy) */
    struct nh_op copy;
    assert_int_equal(nh_op_copy(&copy, &drain_op), 0);
    op_eq(&copy, &drain_op);
    nh_op_clear(&copy);
    /* every close state, and a NULL mark (written null, read NULL) */
    for (int st = 0; st < 6; st++) {
        struct nh_op op = drain_op;
        op.state = (enum nh_op_state)st;
        op.result = st >= NH_OP_DONE ? "undone: node n is no longer chosen; uncordoned" : NULL;
        op.mark = st == 2 ? NULL : op.mark;
        op.deadline_ms = st == 3 ? 0 : op.deadline_ms;
        assert_int_equal(nh_opc_to_string(&op, &s), 0);
        assert_int_equal(nh_opc_parse(s, strlen(s), &back, err, sizeof(err)), 0);
        op_eq(&back, &op);
        nh_op_clear(&back);
        free(s);
    }
    /* a mark that is not UTF-8 is refused on writing, like every identifier */
    struct nh_op bad = drain_op;
    bad.mark = "nodeherd.\xff";
    assert_int_equal(nh_opc_to_string(&bad, &s), -EINVAL);
    /* deadline and mark are a drain record's only: other records as before */
    struct nh_op other = fixture_ops[2];
    other.deadline_ms = 5;
    other.mark = "x";
    assert_int_equal(nh_opc_to_string(&other, &s), 0);
    assert_null(strstr(s, "deadline"));
    assert_null(strstr(s, "mark"));
    free(s);

    /* the file journal: begun, replayed open; closed, replayed no more */
    struct json_object *b = json_object_new_object(), *u = json_object_new_object();
    struct nh_op closed = drain_op;
    closed.state = NH_OP_DONE;
    closed.result = "drained: node cn-hangzhou.192.168.0.11, its removal is journalled";
    closed.updated_ms = 1764990030000;
    json_object_object_add(b, "t", json_object_new_string("begin"));
    json_object_object_add(u, "t", json_object_new_string("update"));
    assert_int_equal(nh_opc_encode(&drain_op, NH_OPC_BEGIN, b), 0);
    assert_int_equal(nh_opc_encode(&closed, NH_OPC_UPDATE, u), 0);
    char img[4096];
    const char *bs = json_object_to_json_string_ext(b, JSON_C_TO_STRING_PLAIN);
    const char *us = json_object_to_json_string_ext(u, JSON_C_TO_STRING_PLAIN);
    int n = snprintf(img, sizeof(img), "%08x %s\n", nh_journal_crc32c(bs, strlen(bs)), bs);
    struct nh_journal_replay rp;
    assert_int_equal(nh_journal_parse(img, (size_t)n, &rp, err, sizeof(err)), 0);
    assert_int_equal(rp.n_open, 1);
    op_eq(&rp.open_ops[0], &drain_op);
    nh_journal_replay_clear(&rp);
    n += snprintf(img + n, sizeof(img) - (size_t)n, "%08x %s\n", nh_journal_crc32c(us, strlen(us)),
                  us);
    assert_int_equal(nh_journal_parse(img, (size_t)n, &rp, err, sizeof(err)), 0);
    assert_int_equal(rp.n_open, 0);
    assert_int_equal(rp.n_records, 2);
    nh_journal_replay_clear(&rp);
    json_object_put(b);
    json_object_put(u);
}

/* Hostile drain records are refused with a message naming the key. */
static void test_drain_record_hostile(void **state)
{
    (void)state;
#define DR_HEAD "{\"seq\":1,\"state\":\"intent\",\"kind\":\"drain\",\"cluster\":\"c\""
    static const struct {
        const char *json, *msg;
    } bad[] = {
        {DR_HEAD ",\"deadline\":\"10m\"}", "\"deadline\" has the wrong type"},
        {DR_HEAD ",\"deadline\":1.5}", "\"deadline\" has the wrong type"},
        {DR_HEAD ",\"deadline\":-1}", "\"deadline\" is out of range"},
        {DR_HEAD ",\"deadline\":99999999999999999999}", "\"deadline\""},
        {DR_HEAD ",\"mark\":7}", "\"mark\" has the wrong type"},
        {DR_HEAD ",\"mark\":[\"nodeherd.c\"]}", "\"mark\" has the wrong type"},
        {DR_HEAD ",\"mark\":\"a\\u0000b\"}", "\"mark\" holds a NUL byte"},
        {DR_HEAD ",\"mark\":\"nodeherd.\xc0\xaf\"}", "\"mark\" is not valid UTF-8"},
        {"{\"seq\":1,\"state\":\"intent\",\"kind\":\"DRAIN\",\"cluster\":\"c\"}",
         "unknown action kind \"DRAIN\""},
        {"{\"seq\":1,\"state\":\"intent\",\"kind\":\"drain\"}", "\"cluster\" is missing"},
        {DR_HEAD ",\"node_ids\":[\"a\",\"b\"],\"node_names\":[\"a\"]}", "differ in length"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct nh_op op;
        char err[200];
        int r = nh_opc_parse(bad[i].json, strlen(bad[i].json), &op, err, sizeof(err));
        if (r != -EBADMSG)
            fail_msg("value %zu accepted (%d): %s", i, r, bad[i].json);
        if (strstr(err, bad[i].msg) == NULL)
            fail_msg("value %zu: message \"%s\" does not say \"%s\"", i, err, bad[i].msg);
        assert_null(op.mark); /* cleared on failure */
        assert_false(op.drain);
    }
    /* the minimal drain record: deadline 0, mark NULL (trusted with no cordon) */
    const char *min = DR_HEAD "}";
    struct nh_op op;
    char err[200];
    assert_int_equal(nh_opc_parse(min, strlen(min), &op, err, sizeof(err)), 0);
    assert_true(op.drain);
    assert_int_equal(op.deadline_ms, 0);
    assert_null(op.mark);
    nh_op_clear(&op);
    /* a mark or deadline on another kind of record is not read */
    const char *other = "{\"seq\":1,\"state\":\"sent\",\"kind\":\"scale-pool\",\"cluster\":\"c\","
                        "\"mark\":7,\"deadline\":\"x\"}";
    assert_int_equal(nh_opc_parse(other, strlen(other), &op, err, sizeof(err)), 0);
    assert_false(op.drain);
    assert_null(op.mark);
    nh_op_clear(&op);
#undef DR_HEAD
}

/* An etcd value written by main with free text cut mid-character (main did
 * not clean it) is read, the text cleaned. */
static void test_old_unclean_text_is_read(void **state)
{
    (void)state;
    const char *v = "{\"seq\":3,\"state\":\"sent\",\"kind\":\"scale-pool\",\"cluster\":\"c\","
                    "\"why\":\"pool caf\xc3\",\"result\":\"\xff\",\"job_kind\":\"none\"}";
    struct nh_op op;
    char err[200];
    assert_int_equal(nh_opc_parse(v, strlen(v), &op, err, sizeof(err)), 0);
    assert_string_equal(op.action.why, "pool caf?");
    assert_string_equal(op.result, "?");
    nh_op_clear(&op);
}

/* ---------- hostile values ---------- */

static void test_hostile_values_refused(void **state)
{
    (void)state;
#define OK_HEAD "{\"seq\":1,\"state\":\"sent\",\"kind\":\"scale-pool\",\"cluster\":\"c\""
    static const struct {
        const char *json, *msg;
    } bad[] = {
        /* wrong types */
        {"{\"seq\":\"1\",\"state\":\"sent\",\"kind\":\"scale-pool\",\"cluster\":\"c\"}", "\"seq\""},
        {OK_HEAD ",\"from\":\"3\"}", "\"from\" has the wrong type"},
        {OK_HEAD ",\"target\":1.5}", "\"target\" has the wrong type"},
        {OK_HEAD ",\"node_ids\":\"i-1\"}", "\"node_ids\" has the wrong type"},
        {OK_HEAD ",\"node_ids\":[\"a\",2]}", "element 1 is not a string"},
        {OK_HEAD ",\"pool_nodes\":1}", "\"pool_nodes\" has the wrong type"},
        {OK_HEAD ",\"why\":5}", "\"why\" has the wrong type"},
        {OK_HEAD ",\"job_id\":{}}", "\"job_id\" has the wrong type"},
        {"{\"seq\":1,\"state\":3,\"kind\":\"scale-pool\",\"cluster\":\"c\"}",
         "\"state\" has the wrong type"},
        {"{\"seq\":1,\"state\":\"sent\",\"kind\":\"scale-pool\",\"cluster\":[]}",
         "\"cluster\" has the wrong type"},
        /* unknown enum names (case matters) */
        {"{\"seq\":1,\"state\":\"sent\",\"kind\":\"teleport\",\"cluster\":\"c\"}",
         "unknown action kind \"teleport\""},
        {"{\"seq\":1,\"state\":\"SENT\",\"kind\":\"scale-pool\",\"cluster\":\"c\"}",
         "unknown state \"SENT\""},
        {OK_HEAD ",\"rule\":\"because\"}", "unknown rule"},
        {OK_HEAD ",\"job_kind\":\"k8s-drain\"}", "unknown job kind"},
        /* numbers out of range */
        {"{\"seq\":0,\"state\":\"sent\",\"kind\":\"scale-pool\",\"cluster\":\"c\"}",
         "\"seq\" is out of range"},
        {"{\"seq\":-5,\"state\":\"sent\",\"kind\":\"scale-pool\",\"cluster\":\"c\"}",
         "\"seq\" is out of range"},
        {"{\"seq\":9223372036854775807,\"state\":\"sent\",\"kind\":\"scale-pool\","
         "\"cluster\":\"c\"}",
         "\"seq\" is out of range"},
        {"{\"seq\":99999999999999999999999,\"state\":\"sent\",\"kind\":\"scale-pool\","
         "\"cluster\":\"c\"}",
         "\"seq\""},
        {OK_HEAD ",\"from\":2147483648}", "\"from\" is out of range"},
        {OK_HEAD ",\"target\":-2147483649}", "\"target\" is out of range"},
        {OK_HEAD ",\"started_ms\":18446744073709551615}", "\"started_ms\" is out of range"},
        {OK_HEAD ",\"updated_ms\":1e300}", "\"updated_ms\" has the wrong type"},
        /* missing keys */
        {"{\"state\":\"sent\",\"kind\":\"scale-pool\",\"cluster\":\"c\"}", "\"seq\" is missing"},
        {"{\"seq\":1,\"state\":\"sent\",\"cluster\":\"c\"}", "\"kind\" is missing"},
        {"{\"seq\":1,\"state\":\"sent\",\"kind\":\"scale-pool\"}", "\"cluster\" is missing"},
        {"{\"seq\":1,\"state\":\"sent\",\"kind\":\"scale-pool\",\"cluster\":null}",
         "\"cluster\" is missing"},
        {"{\"seq\":1,\"kind\":\"scale-pool\",\"cluster\":\"c\"}", "\"state\" is missing"},
        /* strings */
        {OK_HEAD ",\"pool_id\":\"a\\u0000b\"}", "\"pool_id\" holds a NUL byte"},
        {"{\"seq\":1,\"state\":\"sent\",\"kind\":\"scale-pool\",\"cluster\":\"c\xff\"}",
         "\"cluster\" is not valid UTF-8"},
        {OK_HEAD ",\"node_names\":[\"\xc0\xaf\"]}", "\"node_names\" is not valid UTF-8"},
        {OK_HEAD ",\"node_ids\":[\"a\"],\"node_names\":[\"a\",\"b\"]}", "differ in length"},
        /* framing */
        {"", "empty"},
        {"[]", "expected a JSON object, got array"},
        {"null", "not a JSON operation value"},
        {OK_HEAD, "truncated"},
        {OK_HEAD "} {}", "not a JSON operation value"},        /* nothing after it */
        {OK_HEAD ",\"x\":[[[1]]]}", "too deep"},               /* nesting past 4 */
        {OK_HEAD ",'why':'x'}", "not a JSON operation value"}, /* not strict JSON */
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct nh_op op;
        char err[200];
        int r = nh_opc_parse(bad[i].json, strlen(bad[i].json), &op, err, sizeof(err));
        if (r != -EBADMSG)
            fail_msg("value %zu accepted (%d): %s", i, r, bad[i].json);
        if (strstr(err, bad[i].msg) == NULL)
            fail_msg("value %zu: message \"%s\" does not say \"%s\"", i, err, bad[i].msg);
        assert_null(op.action.cluster); /* cleared on failure */
        assert_null(op.action.node_ids);
    }
    /* why: at most 255 bytes */
    char big[400];
    memset(big, 0, sizeof(big));
    snprintf(big, sizeof(big), OK_HEAD ",\"why\":\"%0256d\"}", 0);
    struct nh_op op;
    char err[200];
    assert_int_equal(nh_opc_parse(big, strlen(big), &op, err, sizeof(err)), -EBADMSG);
    assert_non_null(strstr(err, "\"why\" is too long"));
    /* defaults of the optional keys */
    const char *min = OK_HEAD "}";
    assert_int_equal(nh_opc_parse(min, strlen(min), &op, err, sizeof(err)), 0);
    assert_int_equal(op.action.from, -1);
    assert_int_equal(op.action.target, -1);
    assert_int_equal(op.action.rule, NH_RULE_DECLARED);
    assert_int_equal(op.job_kind, NH_JOB_NONE);
    assert_null(op.action.node_ids);
    nh_op_clear(&op);
#undef OK_HEAD
}

/* ---------- enum tables ---------- */

#define CHECK_TABLE(type, LIST)                                                                    \
    do {                                                                                           \
        size_t n_ = 0 LIST(COUNT);                                                                 \
        for (size_t i_ = 0; i_ < n_; i_++) {                                                       \
            enum type v_;                                                                          \
            const char *name_ = type##_name((enum type)i_);                                        \
            assert_string_not_equal(name_, "?");                                                   \
            assert_true(type##_from_name(name_, &v_));                                             \
            assert_int_equal(v_, i_);                                                              \
        }                                                                                          \
        assert_string_equal(type##_name((enum type)n_), "?");                                      \
        enum type keep_ = (enum type)0;                                                            \
        assert_false(type##_from_name("no-such-name", &keep_));                                    \
        assert_false(type##_from_name(NULL, &keep_));                                              \
        assert_false(type##_from_name("", &keep_));                                                \
    } while (0)
#define COUNT(v, name) +1

static void test_enum_tables(void **state)
{
    (void)state;
    CHECK_TABLE(nh_node_health, NH_NODE_HEALTHS);
    CHECK_TABLE(nh_cluster_state, NH_CLUSTER_STATES);
    CHECK_TABLE(nh_action_kind, NH_ACTION_KINDS);
    CHECK_TABLE(nh_rule, NH_RULES);
    CHECK_TABLE(nh_note_kind, NH_NOTE_KINDS);
    CHECK_TABLE(nh_job_kind, NH_JOB_KINDS);
    CHECK_TABLE(nh_op_state, NH_OP_STATES);
    /* the stored names never change */
    assert_string_equal(nh_op_state_name(NH_OP_TIMED_OUT), "timed-out");
    assert_string_equal(nh_rule_name(NH_RULE_BUDGET), "max_per_cycle");
    assert_string_equal(nh_job_kind_name(NH_JOB_NODES_GONE), "nodes-gone");
    assert_string_equal(nh_action_kind_name(NH_ACT_DELETE_POOL), "delete-pool");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_old_journal_image_decodes),
        cmocka_unit_test(test_old_etcd_values_decode),
        cmocka_unit_test(test_old_stores_agree),
        cmocka_unit_test(test_encode_decode_identity),
        cmocka_unit_test(test_written_keys),
        cmocka_unit_test(test_old_unclean_text_is_read),
        cmocka_unit_test(test_hostile_values_refused),
        cmocka_unit_test(test_drain_record_identity),
        cmocka_unit_test(test_drain_record_hostile),
        cmocka_unit_test(test_enum_tables),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
