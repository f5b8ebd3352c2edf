/* test_ha.c - the pure parts of the HA module: the election decision, the
 * lease freshness bound used by the fence, and the etcd journal records. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "ha/ha.h"

#define MS 1000000ULL

static void test_decide(void **state)
{
    (void)state;
    /* no key, a fresh lease: campaign; without a lease or fresh one: wait */
    assert_int_equal(nh_ha_decide(false, 0, 7, false, true), NH_HA_STEP_CAMPAIGN);
    assert_int_equal(nh_ha_decide(false, 0, 0, false, true), NH_HA_STEP_FOLLOW);
    assert_int_equal(nh_ha_decide(false, 0, 7, false, false), NH_HA_STEP_FOLLOW);
    /* the key holds our lease: acquire (load the journal), unless stale */
    assert_int_equal(nh_ha_decide(true, 7, 7, false, true), NH_HA_STEP_ACQUIRE);
    assert_int_equal(nh_ha_decide(true, 7, 7, false, false), NH_HA_STEP_FOLLOW);
    /* someone else's lease */
    assert_int_equal(nh_ha_decide(true, 8, 7, false, true), NH_HA_STEP_FOLLOW);
    /* leading: stay while the key and the lease agree, else resign */
    assert_int_equal(nh_ha_decide(true, 7, 7, true, true), NH_HA_STEP_LEAD);
    assert_int_equal(nh_ha_decide(true, 8, 7, true, true), NH_HA_STEP_RESIGN);
    assert_int_equal(nh_ha_decide(false, 0, 7, true, true), NH_HA_STEP_RESIGN);
    assert_int_equal(nh_ha_decide(true, 7, 7, true, false), NH_HA_STEP_RESIGN);
    /* a key without a lease (written by hand) is never ours */
    assert_int_equal(nh_ha_decide(true, 0, 0, false, true), NH_HA_STEP_FOLLOW);
    assert_string_equal(nh_ha_step_name(NH_HA_STEP_RESIGN), "resign");
}

static void test_lease_fresh(void **state)
{
    (void)state;
    uint64_t t0 = 1000 * MS;
    /* ttl 3 s: margin 750 ms -> fresh for 2.25 s after the keepalive was sent */
    assert_true(nh_ha_lease_fresh(t0, t0, 3000));
    assert_true(nh_ha_lease_fresh(t0, t0 + 2249 * MS, 3000));
    assert_false(nh_ha_lease_fresh(t0, t0 + 2250 * MS, 3000));
    assert_false(nh_ha_lease_fresh(t0, t0 + 60000 * MS, 3000)); /* woke from SIGSTOP */
    /* ttl 15 s: margin 3.75 s */
    assert_true(nh_ha_lease_fresh(t0, t0 + 11249 * MS, 15000));
    assert_false(nh_ha_lease_fresh(t0, t0 + 11250 * MS, 15000));
    /* small ttl: margin at least 500 ms */
    assert_true(nh_ha_lease_fresh(t0, t0 + 1499 * MS, 2000));
    assert_false(nh_ha_lease_fresh(t0, t0 + 1500 * MS, 2000));
    /* never confirmed */
    assert_false(nh_ha_lease_fresh(0, t0, 3000));
}

static void test_op_roundtrip(void **state)
{
    (void)state;
    char *ids[] = {"i-1", "i-2"}, *names[] = {"node-1", "node \"2\""};
    struct nh_op op = {
        .seq = 42,
        .action = {.kind = NH_ACT_REMOVE_NODES,
                   .cluster = "web",
                   .pool_id = "np-1",
                   .pool_name = "np-web",
                   .from = 5,
                   .target = 3,
                   .node_ids = ids,
                   .node_names = names,
                   .n_nodes = 2,
                   .pool_nodes = true,
                   .rule = NH_RULE_UNHEALTHY,
                   .why = "5 declared, 3 observed"},
        .state = NH_OP_SENT,
        .job_kind = NH_JOB_ACK_TASK,
        .job_id = "T-1",
        .started_ms = 1700000000000,
        .updated_ms = 1700000000500,
        .revision = "sha256:abc",
    };
    char *s = nh_ha_op_to_json(&op);
    assert_non_null(s);
    struct nh_op back;
    char err[160];
    assert_int_equal(nh_ha_op_from_json(s, strlen(s), &back, err, sizeof(err)), 0);
    assert_int_equal(back.seq, 42);
    assert_int_equal(back.action.kind, NH_ACT_REMOVE_NODES);
    assert_string_equal(back.action.cluster, "web");
    assert_string_equal(back.action.pool_id, "np-1");
    assert_string_equal(back.action.pool_name, "np-web");
    assert_int_equal(back.action.from, 5);
    assert_int_equal(back.action.target, 3);
    assert_int_equal(back.action.n_nodes, 2);
    assert_string_equal(back.action.node_ids[1], "i-2");
    assert_string_equal(back.action.node_names[1], "node \"2\"");
    assert_true(back.action.pool_nodes);
    assert_int_equal(back.action.rule, NH_RULE_UNHEALTHY);
    assert_string_equal(back.action.why, "5 declared, 3 observed");
    assert_int_equal(back.state, NH_OP_SENT);
    assert_int_equal(back.job_kind, NH_JOB_ACK_TASK);
    assert_string_equal(back.job_id, "T-1");
    assert_true(back.started_ms == 1700000000000);
    assert_true(back.updated_ms == 1700000000500);
    assert_string_equal(back.revision, "sha256:abc");
    assert_null(back.result);
    nh_op_clear(&back);
    free(s);
}

static void test_op_bad_records(void **state)
{
    (void)state;
    struct nh_op op;
    char err[160];
    static const char *bad[] = {
        "",
        "[]",
        "{\"seq\":0,\"kind\":\"scale-pool\",\"state\":\"sent\",\"cluster\":\"c\"}",
        "{\"seq\":1,\"kind\":\"teleport\",\"state\":\"sent\",\"cluster\":\"c\"}",
        "{\"seq\":1,\"kind\":\"scale-pool\",\"state\":\"lost\",\"cluster\":\"c\"}",
        "{\"seq\":1,\"kind\":\"scale-pool\",\"state\":\"sent\"}",
        "{\"seq\":1,\"kind\":\"remove-nodes\",\"state\":\"sent\",\"cluster\":\"c\","
        "\"node_ids\":[\"a\"],\"node_names\":[\"a\",\"b\"]}",
        "{\"seq\":1,\"kind\":\"remove-nodes\",\"state\":\"sent\",\"cluster\":\"c\","
        "\"node_ids\":[1]}",
        "{\"seq\":1,\"kind\":\"scale-pool\",\"state\":\"sent\",\"cluster\":\"c\"",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        int r = nh_ha_op_from_json(bad[i], strlen(bad[i]), &op, err, sizeof(err));
        if (r != -EBADMSG)
            fail_msg("record %zu accepted (%d): %s", i, r, bad[i]);
        assert_true(err[0] != '\0');
        assert_null(op.action.cluster); /* cleared on failure */
    }
    const char *ok = "{\"seq\":9,\"kind\":\"scale-pool\",\"state\":\"intent\",\"cluster\":\"c\"}";
    assert_int_equal(nh_ha_op_from_json(ok, strlen(ok), &op, err, sizeof(err)), 0);
    assert_int_equal(op.state, NH_OP_INTENT);
    assert_int_equal(op.action.target, -1);
    nh_op_clear(&op);
}

static void test_op_key(void **state)
{
    (void)state;
    char buf[128];
    assert_string_equal(nh_ha_op_key("/nodeherd/", 7, buf, sizeof(buf)),
                        "/nodeherd/ops/00000000000000000007");
    /* fixed width: etcd's byte order is the sequence order */
    char a[128], b[128];
    nh_ha_op_key("/p/", 99, a, sizeof(a));
    nh_ha_op_key("/p/", 100, b, sizeof(b));
    assert_true(strcmp(a, b) < 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_decide),       cmocka_unit_test(test_lease_fresh),
        cmocka_unit_test(test_op_roundtrip), cmocka_unit_test(test_op_bad_records),
        cmocka_unit_test(test_op_key),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
