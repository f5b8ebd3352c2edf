/* test_providers_parse.c - the providers' pure parsers, classifiers and body
 * writers, with bodies from /work/shared/api. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "providers/parse.h"
#include "util/json.h"

#define S(x) x, strlen(x)

static char err[256];

/* ---------- shared ---------- */

static void test_path_safe_accepts_unreserved_only(void **state)
{
    (void)state;
    assert_true(nh_prov_path_safe("c8f2d1e0a9b84c6e9f1d2a3b4c5d6e7f"));
    assert_true(nh_prov_path_safe("a1b2c3d4-0000-4000-8000-000000000001"));
    assert_true(nh_prov_path_safe("T-5a54309c80282e39ea00002f"));
    assert_true(nh_prov_path_safe("nodepool-1.x_y~z"));
    assert_false(nh_prov_path_safe(""));
    assert_false(nh_prov_path_safe(NULL));
    assert_false(nh_prov_path_safe(".."));
    assert_false(nh_prov_path_safe("a/b"));
    assert_false(nh_prov_path_safe("a b"));
    assert_false(nh_prov_path_safe("a%2Fb"));
    assert_false(nh_prov_path_safe("a?b"));
    assert_false(nh_prov_path_safe("\xc3\xa9"));
}

/* Parses body with o; 0 when accepted, else -1 with the message in err. */
static int parse_with(const char *body, const struct nh_json_popts *o)
{
    struct nh_jerr e = {err, sizeof(err)};
    err[0] = '\0';
    struct json_object *root = nh_json_parse_opts(body, strlen(body), o, &e);
    if (root == NULL)
        return -1;
    json_object_put(root);
    return 0;
}

/* nh_json_parse_opts reuses one tokener from parse to parse: what a parse
 * leaves in it (a value cut short, an error, a flag) never changes how the
 * next body is judged. */
static void test_json_parse_nothing_carries_over(void **state)
{
    const struct nh_json_popts strict = {.want_object = true};
    const struct nh_json_popts any_utf8 = {.want_object = true, .any_utf8 = true};
    char deep[2 * 40 + 1];
    (void)state;

    for (int round = 0; round < 3; round++) {
        /* cut short inside an object: the next (complete) body must not be
         * read as its continuation */
        assert_int_equal(parse_with("{\"items\":[{\"a\":1},", &strict), -1);
        assert_non_null(strstr(err, "truncated"));
        assert_int_equal(parse_with("{\"a\":1}]}", &strict), -1);
        assert_int_equal(parse_with("{\"items\":[]}", &strict), 0);
        /* a string cut short, then a body that would close it */
        assert_int_equal(parse_with("{\"a\":\"abc", &strict), -1);
        assert_int_equal(parse_with("def\"}", &strict), -1);
        /* an invalid body, then a valid one */
        assert_int_equal(parse_with("{\"a\":tru}", &strict), -1);
        assert_non_null(strstr(err, "invalid JSON"));
        assert_int_equal(parse_with("{\"a\":true}", &strict), 0);
        /* the UTF-8 flag of one parse is not the next one's */
        assert_int_equal(parse_with("{\"a\":\"\xff\"}", &any_utf8), 0);
        assert_int_equal(parse_with("{\"a\":\"\xff\"}", &strict), -1);
        assert_int_equal(parse_with("{\"a\":\"\xff\"}", &any_utf8), 0);
        /* the depth limit holds on a reused tokener */
        memset(deep, '[', 40);
        memset(deep + 40, ']', 40);
        deep[80] = '\0';
        const struct nh_json_popts any = {0};
        assert_int_equal(parse_with(deep, &any), -1);
        assert_int_equal(parse_with("[[[]]]", &any), 0);
        /* a long string (grows the tokener's buffer) */
        size_t n = 100 * 1024;
        char *big = malloc(n + 16);
        assert_non_null(big);
        memcpy(big, "{\"a\":\"", 6);
        memset(big + 6, 'x', n);
        memcpy(big + 6 + n, "\"}", 3);
        assert_int_equal(parse_with(big, &strict), 0);
        big[6 + n] = '\0'; /* the same, cut short */
        assert_int_equal(parse_with(big, &strict), -1);
        free(big);
        assert_int_equal(parse_with("{\"b\":\"y\"}", &strict), 0);
    }
}

static void test_time_formats(void **state)
{
    (void)state;
    assert_int_equal(nh_prov_parse_time("2025-01-02T03:04:05Z"), 1735787045);
    assert_int_equal(nh_prov_parse_time("2025-01-02T11:04:05+08:00"), 1735787045);
    assert_int_equal(nh_prov_parse_time("2025-01-02T03:04:05.123Z"), 1735787045);
    assert_int_equal(nh_prov_parse_time("2025-01-02 03:04:05.486337 +0000 UTC"), 1735787045);
    assert_int_equal(nh_prov_parse_time("2025-01-02T03:04:05"), 1735787045);
    assert_int_equal(nh_prov_parse_time("yesterday"), 0);
    assert_int_equal(nh_prov_parse_time("2025-13-02T03:04:05Z"), 0);
    assert_int_equal(nh_prov_parse_time("2025-01-02T03:04:05Zjunk"), 0);
    assert_int_equal(nh_prov_parse_time(NULL), 0);
}

static void test_error_body_key_orders(void **state)
{
    struct nh_prov_error e;
    (void)state;

    memset(&e, 0, sizeof(e));
    assert_true(nh_prov_parse_error_body(
        401,
        S("{\"error_code\":\"APIGW.0301\",\"error_msg\":\"Incorrect IAM authentication "
          "information: verify aksk signature fail\",\"request_id\":\"r-1\"}"),
        &e));
    assert_string_equal(e.code, "APIGW.0301");
    assert_string_equal(e.request_id, "r-1");
    assert_non_null(strstr(e.message, "verify aksk signature fail"));

    memset(&e, 0, sizeof(e));
    assert_true(nh_prov_parse_error_body(
        400, S("{\"errorCode\":\"CCE.01400001\",\"errorMessage\":\"Invalid request.\"}"), &e));
    assert_string_equal(e.code, "CCE.01400001");
    assert_string_equal(e.message, "Invalid request.");

    memset(&e, 0, sizeof(e));
    assert_true(nh_prov_parse_error_body(400, S("{\"errorCode\":\"X\",\"errorMsg\":\"m2\"}"), &e));
    assert_string_equal(e.message, "m2");

    memset(&e, 0, sizeof(e));
    assert_true(nh_prov_parse_error_body(
        400,
        S("{\"code\":\"Throttling.User\",\"message\":\"Request was denied due to user "
          "flow control.\",\"requestId\":\"687C5BAA\"}"),
        &e));
    assert_string_equal(e.code, "Throttling.User");
    assert_string_equal(e.request_id, "687C5BAA");

    memset(&e, 0, sizeof(e));
    assert_true(nh_prov_parse_error_body(
        403, S("{\"Code\":\"Forbidden.RAM\",\"Message\":\"no\",\"RequestId\":\"X-1\"}"), &e));
    assert_string_equal(e.code, "Forbidden.RAM");
    assert_string_equal(e.message, "no");
    assert_string_equal(e.request_id, "X-1");

    /* error_code wins over code when both are there (documented order). */
    memset(&e, 0, sizeof(e));
    assert_true(nh_prov_parse_error_body(
        400,
        S("{\"code\":\"c\",\"message\":\"m\",\"error_code\":\"ModelArts.50004000\","
          "\"error_msg\":\"Bad request.\"}"),
        &e));
    assert_string_equal(e.code, "ModelArts.50004000");
    assert_string_equal(e.message, "Bad request.");

    /* one nested level */
    memset(&e, 0, sizeof(e));
    assert_true(nh_prov_parse_error_body(
        409, S("{\"error\":{\"code\":\"CCE.01409001\",\"message\":\"busy\"}}"), &e));
    assert_string_equal(e.code, "CCE.01409001");
    assert_string_equal(e.message, "busy");

    /* a JSON object without known keys */
    memset(&e, 0, sizeof(e));
    assert_true(nh_prov_parse_error_body(500, S("{\"x\":1}"), &e));
    assert_string_equal(e.code, "");
    assert_non_null(strstr(e.message, "HTTP 500"));
}

static void test_error_body_non_json_is_described_and_stripped(void **state)
{
    struct nh_prov_error e;
    (void)state;

    memset(&e, 0, sizeof(e));
    assert_false(nh_prov_parse_error_body(502, S("<html>\n\x1b[31mBad\tGateway</html>"), &e));
    assert_string_equal(e.code, "");
    assert_non_null(strstr(e.message, "HTTP 502 with a non-JSON body (first bytes: <html>"));
    assert_null(strchr(e.message, '\n'));
    assert_null(strchr(e.message, '\x1b'));
    assert_int_equal(e.http_status, 502);

    memset(&e, 0, sizeof(e));
    assert_false(nh_prov_parse_error_body(503, "", 0, &e));
    assert_non_null(strstr(e.message, "HTTP 503"));

    /* truncated JSON is not JSON */
    memset(&e, 0, sizeof(e));
    assert_false(nh_prov_parse_error_body(400, S("{\"code\":\"Thrott"), &e));
}

static void test_retry_after(void **state)
{
    (void)state;
    assert_int_equal(nh_ack_retry_after_ms("1500"), 1500);
    assert_int_equal(nh_ack_retry_after_ms("0"), 0);
    assert_int_equal(nh_ack_retry_after_ms("-5"), 0);
    assert_int_equal(nh_ack_retry_after_ms(""), 0);
    assert_int_equal(nh_ack_retry_after_ms("soon"), 0);
    assert_int_equal(nh_ack_retry_after_ms("12x"), 0);
    assert_int_equal(nh_ack_retry_after_ms(NULL), 0);
    assert_int_equal(nh_prov_retry_after_ms("3", 0), 3000);
    assert_int_equal(nh_prov_retry_after_ms(NULL, 0), 0);
    assert_int_equal(nh_prov_retry_after_ms("x", 0), 0);
    /* HTTP-date 10 s in the future */
    assert_int_equal(nh_prov_retry_after_ms("Thu, 02 Jan 2025 03:04:15 GMT", 1735787045), 10000);
    assert_int_equal(nh_prov_retry_after_ms("Thu, 02 Jan 2025 03:04:05 GMT", 1735787050), 0);
}

/* ---------- ACK classification ---------- */

static void test_ack_classes(void **state)
{
    (void)state;
    assert_int_equal(nh_ack_error_class(400, "Throttling.User", false, false), NH_ERR_THROTTLED);
    assert_int_equal(nh_ack_error_class(400, "Throttling", false, true), NH_ERR_THROTTLED);
    assert_int_equal(nh_ack_error_class(400, "Throttling.Api", false, true), NH_ERR_THROTTLED);
    assert_int_equal(nh_ack_error_class(503, "ServiceUnavailable", true, true), NH_ERR_THROTTLED);
    assert_int_equal(nh_ack_error_class(429, "", false, false), NH_ERR_THROTTLED);
    assert_int_equal(nh_ack_error_class(400, "InvalidTimeStamp.Expired", false, false),
                     NH_ERR_AUTH);
    assert_int_equal(nh_ack_error_class(400, "InvalidTimeStamp.Format", false, false), NH_ERR_AUTH);
    assert_int_equal(nh_ack_error_class(400, "SignatureDoesNotMatch", false, false), NH_ERR_AUTH);
    assert_int_equal(nh_ack_error_class(403, "SignatureDoesNotMatch", false, false), NH_ERR_AUTH);
    assert_int_equal(nh_ack_error_class(400, "IncompleteSignature", false, false), NH_ERR_AUTH);
    assert_int_equal(nh_ack_error_class(404, "InvalidAccessKeyId.NotFound", false, false),
                     NH_ERR_AUTH);
    assert_int_equal(nh_ack_error_class(403, "Forbidden.RAM", false, false), NH_ERR_AUTH);
    assert_int_equal(nh_ack_error_class(403, "ActionUnauthorized", false, false), NH_ERR_AUTH);
    assert_int_equal(nh_ack_error_class(404, "InvalidApi.NotFound", false, false), NH_ERR_INVALID);
    assert_int_equal(nh_ack_error_class(404, "ErrorClusterNotFound", false, false),
                     NH_ERR_NOT_FOUND);
    assert_int_equal(nh_ack_error_class(400, "MissingParameter", false, true), NH_ERR_INVALID);
    assert_int_equal(nh_ack_error_class(409, "", false, true), NH_ERR_CONFLICT);
    assert_int_equal(nh_ack_error_class(500, "InternalError", false, false), NH_ERR_SERVER);
    assert_int_equal(nh_ack_error_class(500, "InternalError", false, true), NH_ERR_UNKNOWN_OUTCOME);
    assert_int_equal(nh_ack_error_class(503, "ServiceUnavailable", false, true),
                     NH_ERR_UNKNOWN_OUTCOME);
    assert_int_equal(nh_ack_error_class(200, "", false, true), NH_ERR_NONE);
}

static void test_ack_error_from_answer_throttled_with_hint(void **state)
{
    struct nh_prov_error e;
    uint64_t hint = 0;
    (void)state;

    memset(&e, 0, sizeof(e));
    nh_ack_error_from_answer(400,
                             S("{\"code\":\"Throttling.User\",\"message\":\"Request was denied due "
                               "to user flow control.\",\"requestId\":\"R1\"}"),
                             "2500", false, &e, &hint);
    assert_int_equal(e.cls, NH_ERR_THROTTLED);
    assert_int_equal(hint, 2500);
    assert_string_equal(e.code, "Throttling.User");
    assert_string_equal(e.request_id, "R1");

    /* a code that is not Throttling, but the header says so */
    memset(&e, 0, sizeof(e));
    nh_ack_error_from_answer(400, S("{\"code\":\"Busy\",\"message\":\"m\"}"), "700", true, &e,
                             &hint);
    assert_int_equal(e.cls, NH_ERR_THROTTLED);
    assert_int_equal(hint, 700);

    memset(&e, 0, sizeof(e));
    nh_ack_error_from_answer(400, S("{\"code\":\"InvalidTimeStamp.Expired\",\"message\":\"m\"}"),
                             NULL, false, &e, &hint);
    assert_int_equal(e.cls, NH_ERR_AUTH);
    assert_int_equal(hint, 0);
    assert_non_null(strstr(e.message, "clock"));

    memset(&e, 0, sizeof(e));
    nh_ack_error_from_answer(502, S("<html>bad gateway</html>"), NULL, true, &e, &hint);
    assert_int_equal(e.cls, NH_ERR_UNKNOWN_OUTCOME);
    assert_non_null(strstr(e.message, "non-JSON"));
}

/* ---------- Huawei classification ---------- */

static void test_huawei_classes(void **state)
{
    struct nh_huawei_verdict v;
    (void)state;

    v = nh_huawei_error_class(429, "APIGW.0308",
                              "The throttling threshold has been reached: policy user over "
                              "ratelimit,limit:10,time:1 second",
                              false);
    assert_int_equal(v.cls, NH_ERR_THROTTLED);
    assert_false(v.stop);
    v = nh_huawei_error_class(429, "", "", true);
    assert_int_equal(v.cls, NH_ERR_THROTTLED);
    v = nh_huawei_error_class(
        401, "APIGW.0301", "Incorrect IAM authentication information: verify aksk signature fail",
        false);
    assert_int_equal(v.cls, NH_ERR_AUTH);
    assert_true(v.stop);
    assert_false(v.ak_locked);
    v = nh_huawei_error_class(401, "APIG.0301", "x", false);
    assert_true(v.stop);
    v = nh_huawei_error_class(
        401, "APIGW.0301",
        "Incorrect IAM authentication information: AK access failed to reach the limit,forbidden",
        false);
    assert_int_equal(v.cls, NH_ERR_AUTH);
    assert_true(v.ak_locked);
    assert_false(v.stop);
    v = nh_huawei_error_class(403, "APIGW.0302", "", false);
    assert_int_equal(v.cls, NH_ERR_AUTH);
    assert_false(v.stop);
    assert_int_equal(nh_huawei_error_class(404, "", "", true).cls, NH_ERR_NOT_FOUND);
    assert_int_equal(nh_huawei_error_class(409, "", "", true).cls, NH_ERR_CONFLICT);
    assert_int_equal(nh_huawei_error_class(400, "CCE.01400001", "", true).cls, NH_ERR_INVALID);
    assert_int_equal(nh_huawei_error_class(400, "CCE.01400007", "quota", false).cls,
                     NH_ERR_INVALID);
    assert_int_equal(nh_huawei_error_class(500, "", "", false).cls, NH_ERR_SERVER);
    assert_int_equal(nh_huawei_error_class(503, "", "", true).cls, NH_ERR_UNKNOWN_OUTCOME);
}

static void test_huawei_error_from_answer_modelarts_400(void **state)
{
    struct nh_prov_error e;
    uint64_t hint = 1;
    struct nh_huawei_verdict v;
    (void)state;

    memset(&e, 0, sizeof(e));
    v = nh_huawei_error_from_answer(
        400, S("{\"error_code\":\"ModelArts.50004000\",\"error_msg\":\"Bad request.\"}"), NULL, 0,
        true, &e, &hint);
    assert_int_equal(v.cls, NH_ERR_INVALID);
    assert_int_equal(e.cls, NH_ERR_INVALID);
    assert_string_equal(e.code, "ModelArts.50004000");
    assert_non_null(strstr(e.message, "ModelArts.50004000"));
    assert_non_null(strstr(e.message, "Bad request."));
    assert_int_equal(hint, 0);

    memset(&e, 0, sizeof(e));
    v = nh_huawei_error_from_answer(429, S("{\"error_code\":\"APIGW.0308\",\"error_msg\":\"t\"}"),
                                    "4", 0, false, &e, &hint);
    assert_int_equal(e.cls, NH_ERR_THROTTLED);
    assert_int_equal(hint, 4000);

    memset(&e, 0, sizeof(e));
    v = nh_huawei_error_from_answer(
        401, S("{\"error_code\":\"APIGW.0301\",\"error_msg\":\"verify aksk signature fail\"}"),
        NULL, 0, false, &e, &hint);
    assert_true(v.stop);
    assert_non_null(strstr(e.message, "reload"));
}

/* ---------- ACK parsers ---------- */

static const char ack_nodes_page[] =
    "{\"nodes\":["
    "{\"instance_id\":\"i-bp1aaaaaaaaaaaaaaaaa\",\"node_name\":\"cn-hangzhou.192.168.0.10\","
    "\"instance_role\":\"Worker\",\"state\":\"running\",\"node_status\":\"Ready\","
    "\"creation_time\":\"2025-01-02T03:04:05+08:00\",\"nodepool_id\":\"np1\","
    "\"instance_status\":\"Running\",\"ip_address\":[\"192.168.0.10\"]},"
    "{\"instance_id\":\"i-m\",\"node_name\":\"cn-hangzhou.192.168.0.2\",\"instance_role\":"
    "\"Master\","
    "\"state\":\"running\",\"node_status\":\"NotReady\",\"creation_time\":\"2024-01-01T00:00:00Z\","
    "\"nodepool_id\":\"\",\"instance_charge_type\":\"PrePaid\","
    "\"labels\":[{\"key\":\"nodeherd.io/protect\",\"value\":\"true\"}]},"
    "{\"instance_id\":\"i-x\",\"node_name\":\"n3\",\"state\":\"removing\",\"node_status\":"
    "\"Ready\",\"instance_charge_type\":\"PostPaid\","
    "\"labels\":{\"app\":\"web\"}},"
    "{\"instance_id\":\"i-f\",\"node_name\":\"n4\",\"state\":\"failed\",\"node_status\":"
    "\"NotReady\"}"
    "],\"page\":{\"page_number\":1,\"page_size\":100,\"total_count\":4}}";

static void test_ack_nodes_page_valid(void **state)
{
    struct nh_observed obs;
    struct nh_ack_page page;
    (void)state;

    memset(&obs, 0, sizeof(obs));
    assert_int_equal(nh_ack_parse_nodes_page(S(ack_nodes_page), &obs, &page, err, sizeof(err)), 0);
    assert_int_equal(page.total_count, 4);
    assert_int_equal(page.n_nodes, 4);
    assert_int_equal(page.page_size, 100);
    assert_int_equal(obs.n_nodes, 4);
    assert_string_equal(obs.nodes[0].id, "i-bp1aaaaaaaaaaaaaaaaa");
    assert_string_equal(obs.nodes[0].name, "cn-hangzhou.192.168.0.10");
    assert_string_equal(obs.nodes[0].pool_id, "np1");
    assert_int_equal(obs.nodes[0].health, NH_NODE_READY);
    assert_true(obs.nodes[0].worker);
    assert_int_equal(obs.nodes[0].created, 1735758245);
    assert_false(obs.nodes[1].worker);
    assert_null(obs.nodes[1].pool_id);
    assert_int_equal(obs.nodes[1].health, NH_NODE_UNHEALTHY);
    /* the node list carries no Kubernetes labels: whatever a server sends
     * under "labels" is never taken for them (issue #19) */
    assert_int_equal(obs.nodes[1].n_labels, 0);
    assert_null(nh_node_label(&obs.nodes[1], "nodeherd.io/protect"));
    assert_true(obs.nodes[1].subscription); /* PrePaid */
    assert_false(obs.nodes[0].subscription);
    assert_false(obs.nodes[2].subscription); /* PostPaid */
    assert_int_equal(obs.nodes[2].health, NH_NODE_REMOVING);
    assert_int_equal(obs.nodes[2].created, 0);
    assert_int_equal(obs.nodes[2].n_labels, 0);
    /* only state "failed" is a failed node; NotReady may recover */
    assert_int_equal(obs.nodes[3].health, NH_NODE_UNHEALTHY);
    assert_true(obs.nodes[3].failed);
    assert_false(obs.nodes[1].failed);
    assert_false(obs.nodes[0].failed);
    nh_observed_clear(&obs);
}

static void test_ack_health_table(void **state)
{
    (void)state;
    assert_int_equal(nh_ack_node_health("running", "Ready"), NH_NODE_READY);
    assert_int_equal(nh_ack_node_health("running", "NotReady"), NH_NODE_UNHEALTHY);
    assert_int_equal(nh_ack_node_health("running", "Unknown"), NH_NODE_UNHEALTHY);
    assert_int_equal(nh_ack_node_health("running", "Offline"), NH_NODE_UNHEALTHY);
    assert_int_equal(nh_ack_node_health("failed", "Ready"), NH_NODE_UNHEALTHY);
    assert_int_equal(nh_ack_node_health("stopped", NULL), NH_NODE_UNHEALTHY);
    assert_int_equal(nh_ack_node_health("removing", "Ready"), NH_NODE_REMOVING);
    /* starting/stopping/stopped: the ECS power state of a member, not leaving */
    assert_int_equal(nh_ack_node_health("stopping", "Ready"), NH_NODE_UNHEALTHY);
    assert_int_equal(nh_ack_node_health("deleting", NULL), NH_NODE_REMOVING);
    assert_int_equal(nh_ack_node_health("initial", NULL), NH_NODE_PENDING);
    assert_int_equal(nh_ack_node_health("pending", NULL), NH_NODE_PENDING);
    assert_int_equal(nh_ack_node_health("starting", NULL), NH_NODE_PENDING);
    assert_int_equal(nh_ack_node_health("weird", "Ready"), NH_NODE_UNHEALTHY);
}

/* Every broken variant is refused with a message, never a crash or leak. */
static void test_ack_nodes_page_broken(void **state)
{
    static const char *const bad[] = {
        "",
        "{",
        "{\"nodes\":[{\"instance_id\":\"i-1\"}],\"page\":{\"total_count\":1",
        "[]",
        "null",
        "{\"nodes\":{},\"page\":{\"total_count\":1}}",
        "{\"nodes\":[],\"page\":{\"total_count\":\"many\"}}",
        "{\"nodes\":[],\"page\":{\"total_count\":99999999999999999999}}",
        "{\"nodes\":[],\"page\":{\"total_count\":-1}}",
        "{\"nodes\":[],\"page\":{\"total_count\":1.5}}",
        "{\"nodes\":[]}",
        "{\"nodes\":[7],\"page\":{\"total_count\":1}}",
        "{\"nodes\":[{\"node_name\":\"n\"}],\"page\":{\"total_count\":1}}",
        "{\"nodes\":[{\"instance_id\":5}],\"page\":{\"total_count\":1}}",
        "{\"nodes\":[{\"instance_id\":\"i\",\"state\":[]}],\"page\":{\"total_count\":1}}",
        "{\"nodes\":[{\"instance_id\":\"i\",\"instance_charge_type\":1}],\"page\":{\"total_"
        "count\":1}}",
        "{\"nodes\":[],\"page\":{\"total_count\":0}} trailing",
        "{\"nodes\":[],\"page\":{\"total_count\":0},}",
        "{\"nodes\":[],\"page\":{\"total_count\":0},\"x\":\"\xff\xfe\"}",
        "{'nodes':[]}",
    };
    (void)state;

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct nh_observed obs;
        struct nh_ack_page page;
        memset(&obs, 0, sizeof(obs));
        err[0] = '\0';
        int r = nh_ack_parse_nodes_page(bad[i], strlen(bad[i]), &obs, &page, err, sizeof(err));
        if (r == 0)
            fail_msg("accepted bad body %zu: %s", i, bad[i]);
        assert_true(err[0] != '\0');
        nh_observed_clear(&obs);
    }
    /* deep nesting is refused by the depth limit */
    char deep[200];
    memset(deep, '[', sizeof(deep) - 1);
    deep[sizeof(deep) - 1] = '\0';
    struct nh_observed obs;
    struct nh_ack_page page;
    memset(&obs, 0, sizeof(obs));
    assert_true(nh_ack_parse_nodes_page(deep, strlen(deep), &obs, &page, err, sizeof(err)) < 0);
    nh_observed_clear(&obs);
}

static void test_ack_nodes_page_messages_name_the_field(void **state)
{
    struct nh_observed obs;
    struct nh_ack_page page;
    (void)state;

    memset(&obs, 0, sizeof(obs));
    assert_true(nh_ack_parse_nodes_page(S("{\"nodes\":[],\"page\":{\"total_count\":\"x\"}}"), &obs,
                                        &page, err, sizeof(err)) < 0);
    assert_non_null(strstr(err, "page.total_count"));
    assert_true(nh_ack_parse_nodes_page(S("{\"nodes\":[{\"node_name\":\"n\"}],\"page\":{\"total_"
                                          "count\":1}}"),
                                        &obs, &page, err, sizeof(err)) < 0);
    assert_non_null(strstr(err, "instance_id"));
    assert_true(nh_ack_parse_nodes_page(S("{\"nodes\":[{\"instance_id\":\"i\"}"), &obs, &page, err,
                                        sizeof(err)) < 0);
    assert_non_null(strstr(err, "truncated"));
    nh_observed_clear(&obs);
}

static const char ack_pools[] =
    "{\"nodepools\":[{\"nodepool_info\":{\"nodepool_id\":\"np4b2e\",\"name\":\"gpu-a\","
    "\"type\":\"ess\"},\"scaling_group\":{\"desired_size\":5,\"scaling_group_id\":\"asg-1\"},"
    "\"auto_scaling\":{\"enable\":false,\"min_instances\":0,\"max_instances\":10},"
    "\"status\":{\"total_nodes\":6,\"healthy_nodes\":4,\"serving_nodes\":4,\"initial_nodes\":1,"
    "\"failed_nodes\":1,\"offline_nodes\":0,\"removing_nodes\":1,\"state\":\"scaling\"}},"
    "{\"nodepool_info\":{\"nodepool_id\":\"np2\",\"name\":\"auto\"},\"auto_scaling\":{\"enable\":"
    "true},\"status\":{\"state\":\"deleting\"}}]}";

static void test_ack_nodepools_valid(void **state)
{
    struct nh_observed obs;
    (void)state;

    memset(&obs, 0, sizeof(obs));
    assert_int_equal(nh_ack_parse_nodepools(S(ack_pools), &obs, err, sizeof(err)), 0);
    assert_int_equal(obs.n_pools, 2);
    assert_string_equal(obs.pools[0].id, "np4b2e");
    assert_string_equal(obs.pools[0].name, "gpu-a");
    assert_int_equal(obs.pools[0].desired, 5);
    assert_int_equal(obs.pools[0].current, 5);
    assert_int_equal(obs.pools[0].ready, 4);
    assert_int_equal(obs.pools[0].unhealthy, 1);
    assert_int_equal(obs.pools[0].creating, 1);
    assert_int_equal(obs.pools[0].deleting, 1);
    assert_false(obs.pools[0].autoscaling);
    assert_true(obs.pools[1].autoscaling);
    assert_true(obs.pools[1].being_deleted);
    assert_int_equal(obs.pools[1].desired, -1); /* no desired_size: unknown, not 0 */
    nh_observed_clear(&obs);

    memset(&obs, 0, sizeof(obs));
    assert_true(nh_ack_parse_nodepools(S("{\"nodepools\":[{\"nodepool_info\":{}}]}"), &obs, err,
                                       sizeof(err)) < 0);
    assert_non_null(strstr(err, "nodepool_id"));
    assert_true(nh_ack_parse_nodepools(S("{\"nodepools\":[{\"nodepool_info\":{\"nodepool_id\":"
                                         "\"a\"},\"scaling_group\":{\"desired_size\":true}}]}"),
                                       &obs, err, sizeof(err)) < 0);
    assert_non_null(strstr(err, "desired_size"));
    nh_observed_clear(&obs);
}

static void test_ack_task_id(void **state)
{
    char *id = (char *)1;
    (void)state;

    assert_int_equal(nh_ack_parse_task_id(S("{\"cluster_id\":\"Cccfd68c474454665ace07efce924f75f\","
                                            "\"request_id\":\"687C5BAA-D103\",\"task_id\":\"T-"
                                            "5a54309c80282e39ea00002f\"}"),
                                          &id, err, sizeof(err)),
                     0);
    assert_string_equal(id, "T-5a54309c80282e39ea00002f");
    free(id);
    id = (char *)1;
    assert_int_equal(nh_ack_parse_task_id("", 0, &id, err, sizeof(err)), 0);
    assert_null(id);
    id = (char *)1;
    assert_int_equal(nh_ack_parse_task_id(S("{\"request_id\":\"r\"}"), &id, err, sizeof(err)), 0);
    assert_null(id);
    assert_true(nh_ack_parse_task_id(S("{\"task_id\":"), &id, err, sizeof(err)) < 0);
    assert_true(nh_ack_parse_task_id(S("{\"task_id\":12}"), &id, err, sizeof(err)) < 0);
    assert_true(nh_ack_parse_task_id(S("{\"task_id\":\"../x\"}"), &id, err, sizeof(err)) < 0);
}

static void test_ack_task_states(void **state)
{
    struct nh_job_progress p;
    (void)state;

    assert_int_equal(
        nh_ack_parse_task(S("{\"task_id\":\"T-1\",\"state\":\"running\"}"), &p, err, sizeof(err)),
        0);
    assert_int_equal(p.state, NH_JOB_RUNNING);
    assert_string_equal(p.phase, "running");
    assert_int_equal(nh_ack_parse_task(S("{\"state\":\"success\"}"), &p, err, sizeof(err)), 0);
    assert_int_equal(p.state, NH_JOB_SUCCEEDED);
    assert_int_equal(p.percent, 100);
    static const char *const failing[] = {"fail", "failed", "canceled", "cancelled"};
    for (size_t i = 0; i < 4; i++) {
        char b[64];
        snprintf(b, sizeof(b), "{\"state\":\"%s\"}", failing[i]);
        assert_int_equal(nh_ack_parse_task(b, strlen(b), &p, err, sizeof(err)), 0);
        assert_int_equal(p.state, NH_JOB_FAILED);
    }
    assert_int_equal(nh_ack_parse_task(S("{\"state\":\"paused\"}"), &p, err, sizeof(err)), 0);
    assert_int_equal(p.state, NH_JOB_RUNNING);
    assert_int_equal(
        nh_ack_parse_task(S("{\"state\":\"fail\",\"error\":{\"code\":\"QuotaExceed\",\"message\":"
                            "\"no ECS quota\"},\"task_result\":[{\"data\":\"i-1\",\"status\":"
                            "\"failed\"},{\"data\":\"i-2\",\"status\":\"success\"}]}"),
                          &p, err, sizeof(err)),
        0);
    assert_int_equal(p.state, NH_JOB_FAILED);
    assert_non_null(strstr(p.detail, "QuotaExceed: no ECS quota"));
    assert_non_null(strstr(p.detail, "i-1 failed"));
    assert_null(strstr(p.detail, "i-2"));
    /* "success" with a resource that failed is a failed task (issue 17) */
    assert_int_equal(
        nh_ack_parse_task(S("{\"state\":\"success\",\"task_result\":[{\"data\":\"i-1\","
                            "\"status\":\"success\"},{\"data\":\"i-2\",\"status\":\"failed\"}]}"),
                          &p, err, sizeof(err)),
        0);
    assert_int_equal(p.state, NH_JOB_FAILED);
    assert_string_equal(p.phase, "success with failed resources");
    assert_non_null(strstr(p.detail, "i-2 failed"));
    assert_int_equal(
        nh_ack_parse_task(S("{\"state\":\"success\",\"task_result\":[{\"data\":\"i-1\","
                            "\"status\":\"success\"},{\"data\":\"i-2\",\"status\":\"initial\"}]}"),
                          &p, err, sizeof(err)),
        0);
    assert_int_equal(p.state, NH_JOB_SUCCEEDED);
    assert_true(nh_ack_parse_task(S("{\"task_id\":\"T\"}"), &p, err, sizeof(err)) < 0);
    assert_non_null(strstr(err, "state"));
    assert_true(nh_ack_parse_task(S("{\"state\":1}"), &p, err, sizeof(err)) < 0);
}

static void test_ack_pool_detail(void **state)
{
    struct nh_pool_status s;
    (void)state;

    assert_int_equal(
        nh_ack_parse_nodepool_detail(
            S("{\"nodepool_info\":{\"nodepool_id\":\"np1\",\"name\":\"a\"},\"scaling_group\":{"
              "\"desired_size\":3},\"status\":{\"total_nodes\":3,\"state\":\"active\"}}"),
            &s, err, sizeof(err)),
        0);
    assert_int_equal(s.pool.desired, 3);
    assert_int_equal(s.pool.current, 3);
    assert_string_equal(s.phase, "active");
    assert_false(s.failed);
    nh_pool_status_clear(&s);
    assert_true(nh_ack_parse_nodepool_detail(S("{\"nodepool_info\":[]}"), &s, err, sizeof(err)) <
                0);
}

/* ---------- CCE parsers ---------- */

static const char cce_nodes[] =
    "{\"kind\":\"List\",\"apiVersion\":\"v3\",\"items\":["
    "{\"kind\":\"Node\",\"metadata\":{\"uid\":\"a1b2c3d4-0000-4000-8000-000000000001\","
    "\"name\":\"node-1\",\"creationTimestamp\":\"2025-01-02 03:04:05.486337 +0000 UTC\","
    "\"labels\":{\"env\":\"prod\"},\"ownerReferences\":{\"nodepoolID\":\"pool-uid-1\","
    "\"nodepoolName\":\"gpu-a\"}},\"spec\":{\"flavor\":\"c7.large.2\"},"
    "\"status\":{\"phase\":\"Active\",\"serverId\":\"s-1\"}},"
    "{\"metadata\":{\"uid\":\"u2\",\"name\":\"node-2\"},\"spec\":{\"billingMode\":1},"
    "\"status\":{\"phase\":\"Installing\"}},"
    "{\"metadata\":{\"uid\":\"u3\"},\"status\":{\"phase\":\"Abnormal\"}},"
    "{\"metadata\":{\"uid\":\"u4\"},\"status\":{\"phase\":\"Deleting\",\"jobID\":\"j\"}},"
    "{\"metadata\":{\"uid\":\"u5\"},\"status\":{\"phase\":\"Error\"}}]}";

static void test_cce_nodes(void **state)
{
    struct nh_observed obs;
    (void)state;

    memset(&obs, 0, sizeof(obs));
    assert_int_equal(nh_cce_parse_nodes(S(cce_nodes), &obs, err, sizeof(err)), 0);
    assert_int_equal(obs.n_nodes, 5);
    assert_string_equal(obs.nodes[0].id, "a1b2c3d4-0000-4000-8000-000000000001");
    assert_string_equal(obs.nodes[0].name, "node-1");
    assert_string_equal(obs.nodes[0].pool_id, "pool-uid-1");
    assert_int_equal(obs.nodes[0].health, NH_NODE_READY);
    assert_int_equal(obs.nodes[0].created, 1735787045);
    /* metadata.labels are CCE's own key/values, never Kubernetes labels */
    assert_int_equal(obs.nodes[0].n_labels, 0);
    assert_false(obs.nodes[0].subscription);
    assert_true(obs.nodes[1].subscription); /* spec.billingMode 1 */
    assert_null(obs.nodes[1].pool_id);
    assert_int_equal(obs.nodes[1].health, NH_NODE_PENDING);
    assert_int_equal(obs.nodes[2].health, NH_NODE_UNHEALTHY);
    assert_string_equal(obs.nodes[2].name, "u3");
    assert_int_equal(obs.nodes[3].health, NH_NODE_REMOVING);
    /* Error is a failed node; Abnormal is unhealthy and may recover */
    assert_int_equal(obs.nodes[4].health, NH_NODE_UNHEALTHY);
    assert_true(obs.nodes[4].failed);
    assert_false(obs.nodes[2].failed);
    nh_observed_clear(&obs);

    assert_int_equal(nh_cce_node_health("Error"), NH_NODE_UNHEALTHY);
    assert_int_equal(nh_cce_node_health("Build"), NH_NODE_PENDING);
    assert_int_equal(nh_cce_node_health("Upgrading"), NH_NODE_PENDING);
    assert_int_equal(nh_cce_node_health("Installed"), NH_NODE_PENDING); /* transitional */
    assert_int_equal(nh_cce_node_health("ShutDown"), NH_NODE_UNHEALTHY);

    static const char *const bad[] = {
        "{\"kind\":\"List\"}",
        "{\"items\":{}}",
        "{\"items\":[{\"metadata\":{}}]}",
        "{\"items\":[{\"metadata\":{\"uid\":7}}]}",
        "{\"items\":[{\"metadata\":{\"uid\":\"u\"},\"spec\":{\"billingMode\":true}}]}",
        "{\"items\":[{\"metadata\":{\"uid\":\"u\"},\"status\":{\"phase\":false}}]}",
        "{\"items\":[{\"metadata\":{\"uid\":\"u\"}}",
        "{\"items\":[\"x\"]}",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        memset(&obs, 0, sizeof(obs));
        err[0] = '\0';
        if (nh_cce_parse_nodes(bad[i], strlen(bad[i]), &obs, err, sizeof(err)) == 0)
            fail_msg("accepted bad body %zu: %s", i, bad[i]);
        assert_true(err[0] != '\0');
        nh_observed_clear(&obs);
    }
}

/* A refused field of a list item is named with its prefix (items[].),
 * which nh_prov_fields formats only when a field is refused; the fields
 * read before it in the same item, and the items before it, do not change
 * the message. */
static void test_cce_nodes_messages_name_the_field(void **state)
{
    struct nh_observed obs;
    (void)state;

    static const struct {
        const char *body, *field;
    } cases[] = {
        {"{\"items\":[{\"metadata\":{\"uid\":7}}]}", "items[].metadata.uid: "},
        {"{\"items\":[{\"metadata\":{\"uid\":\"a\"}},{\"metadata\":{\"uid\":\"b\"},"
         "\"status\":{\"phase\":false}}]}",
         "items[].status.phase: "},
        {"{\"items\":[{\"metadata\":{\"uid\":\"u\"},\"spec\":{\"billingMode\":true}}]}",
         "items[].spec.billingMode: "},
        {"{\"items\":[{}]}", "items[].metadata: "},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        memset(&obs, 0, sizeof(obs));
        err[0] = '\0';
        assert_true(
            nh_cce_parse_nodes(cases[i].body, strlen(cases[i].body), &obs, err, sizeof(err)) < 0);
        if (strstr(err, cases[i].field) == NULL)
            fail_msg("case %zu: \"%s\" does not name %s", i, err, cases[i].field);
        nh_observed_clear(&obs);
    }
}

static const char cce_pool[] =
    "{\"kind\":\"NodePool\",\"apiVersion\":\"v3\",\"metadata\":{\"name\":\"gpu-a\",\"uid\":"
    "\"pool-uid-1\"},\"spec\":{\"initialNodeCount\":6,\"type\":\"vm\",\"autoscaling\":{\"enable\":"
    "false,\"minNodeCount\":1}},\"status\":{\"currentNode\":4,\"creatingNode\":2,"
    "\"deletingNode\":0,\"phase\":\"\",\"conditions\":[{\"type\":\"Scalable\",\"status\":\"True\"}"
    "]}}";

static void test_cce_nodepool(void **state)
{
    struct nh_pool_status s;
    struct nh_observed obs;
    char list[1024];
    (void)state;

    assert_int_equal(nh_cce_parse_nodepool(S(cce_pool), &s, err, sizeof(err)), 0);
    assert_string_equal(s.pool.id, "pool-uid-1");
    assert_string_equal(s.pool.name, "gpu-a");
    assert_int_equal(s.pool.desired, 6);
    assert_int_equal(s.pool.current, 4);
    assert_int_equal(s.pool.creating, 2);
    assert_false(s.pool.autoscaling);
    assert_false(s.pool.is_default);
    assert_false(s.failed);
    nh_pool_status_clear(&s);

    assert_int_equal(
        nh_cce_parse_nodepool(
            S("{\"metadata\":{\"name\":\"DefaultPool\",\"uid\":\"d\"},\"spec\":{"
              "\"initialNodeCount\":2},\"status\":{\"conditions\":[{\"type\":"
              "\"QuotaInsufficient\",\"status\":\"True\",\"reason\":\"ECS\",\"message\":\"no "
              "quota\"},{\"type\":\"Error\",\"status\":\"False\"}]}}"),
            &s, err, sizeof(err)),
        0);
    assert_true(s.pool.is_default);
    assert_true(s.failed);
    assert_non_null(strstr(s.failure, "QuotaInsufficient"));
    assert_non_null(strstr(s.failure, "no quota"));
    nh_pool_status_clear(&s);

    /* initialNodeCount is optional (the SDK's NodePoolSpec): unknown, never
     * guessed, and the pool is still read */
    assert_int_equal(nh_cce_parse_nodepool(S("{\"metadata\":{\"uid\":\"d\"},\"spec\":{}}"), &s, err,
                                           sizeof(err)),
                     0);
    assert_int_equal(s.pool.desired, -1);
    nh_pool_status_clear(&s);

    /* conditions: LockedByOrder locks it; Scalable=False blocks growth */
    assert_int_equal(
        nh_cce_parse_nodepool(
            S("{\"metadata\":{\"uid\":\"d\"},\"spec\":{\"initialNodeCount\":2},\"status\":{"
              "\"conditions\":[{\"type\":\"Scalable\",\"status\":\"True\"},{\"type\":"
              "\"LockedByOrder\",\"status\":\"True\",\"reason\":\"Order\",\"message\":\"pay "
              "the order\"}]}}"),
            &s, err, sizeof(err)),
        0);
    assert_true(s.pool.locked);
    assert_true(s.failed);
    assert_string_equal(s.pool.blocked, "condition LockedByOrder=True: Order");
    assert_non_null(strstr(s.failure, "pay the order")); /* the message: the log only */
    nh_pool_status_clear(&s);
    assert_int_equal(
        nh_cce_parse_nodepool(S("{\"metadata\":{\"uid\":\"d\"},\"spec\":{},\"status\":{"
                                "\"conditions\":[{\"type\":\"Scalable\",\"status\":\"False\","
                                "\"reason\":\"SoldOut\"}]}}"),
                              &s, err, sizeof(err)),
        0);
    assert_false(s.pool.locked);
    assert_true(s.failed);
    assert_string_equal(s.pool.blocked, "condition Scalable=False: SoldOut");
    nh_pool_status_clear(&s);

    snprintf(list, sizeof(list), "{\"kind\":\"List\",\"items\":[%s]}", cce_pool);
    memset(&obs, 0, sizeof(obs));
    assert_int_equal(nh_cce_parse_nodepools(list, strlen(list), &obs, err, sizeof(err)), 0);
    assert_int_equal(obs.n_pools, 1);
    assert_int_equal(obs.pools[0].desired, 6);
    assert_null(obs.pools[0].blocked);
    nh_observed_clear(&obs);
}

/* DescribeClusterUserKubeconfig / CreateKubernetesClusterCert (issue #20):
 * the kubeconfig is kept as a secret; no message repeats it. */
static void test_kubeconfig_answers(void **state)
{
    struct nh_secret *sec = NULL;
    int64_t exp = -1;
    size_t n;
    (void)state;

    assert_int_equal(
        nh_ack_parse_user_kubeconfig(S("{\"config\":\"apiVersion: v1\\nusers: canary-SECRET\\n\","
                                       "\"expiration\":\"2026-12-06T08:00:00Z\"}"),
                                     &sec, &exp, err, sizeof(err)),
        0);
    const unsigned char *b = nh_secret_bytes(sec, &n);
    assert_int_equal(n, strlen("apiVersion: v1\nusers: canary-SECRET\n"));
    assert_memory_equal(b, "apiVersion: v1\nusers: canary-SECRET\n", n);
    assert_int_equal(exp, 1796544000);
    nh_secret_free(sec);
    sec = NULL;
    /* expiration optional */
    assert_int_equal(
        nh_ack_parse_user_kubeconfig(S("{\"config\":\"x\"}"), &sec, &exp, err, sizeof(err)), 0);
    assert_int_equal(exp, 0);
    nh_secret_free(sec);
    sec = NULL;
    /* missing, wrong type, empty, not JSON: refused, nothing returned */
    const char *bad[] = {"{}", "{\"config\":5}", "{\"config\":\"\"}", "{\"config\":\"canary-SECRET",
                         "[]"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_true(
            nh_ack_parse_user_kubeconfig(bad[i], strlen(bad[i]), &sec, &exp, err, sizeof(err)) < 0);
        assert_null(sec);
        assert_null(strstr(err, "canary"));
        assert_true(err[0] != '\0');
    }

    const char *cert = "{\"kind\":\"Config\",\"clusters\":[{\"name\":\"internalCluster\"}],"
                       "\"users\":[{\"name\":\"user\",\"user\":{\"client-key-data\":"
                       "\"canary-SECRET\"}}],\"contexts\":[{\"name\":\"internal\"}]}";
    assert_int_equal(nh_cce_parse_cluster_cert(cert, strlen(cert), &sec, err, sizeof(err)), 0);
    b = nh_secret_bytes(sec, &n);
    assert_int_equal(n, strlen(cert));
    assert_memory_equal(b, cert, n);
    nh_secret_free(sec);
    sec = NULL;
    const char *cbad[] = {"{}", "{\"clusters\":[],\"users\":[1],\"contexts\":[1]}",
                          "{\"clusters\":[1],\"users\":{},\"contexts\":[1]}", "canary-SECRET"};
    for (size_t i = 0; i < sizeof(cbad) / sizeof(cbad[0]); i++) {
        assert_true(nh_cce_parse_cluster_cert(cbad[i], strlen(cbad[i]), &sec, err, sizeof(err)) <
                    0);
        assert_null(sec);
        assert_null(strstr(err, "canary"));
    }
}

/* ShowCluster / DescribeClusterDetail: whether the cluster accepts changes. */
static void test_cluster_states(void **state)
{
    enum nh_cluster_state st = NH_CLUSTER_UNKNOWN;
    char phase[64];
    (void)state;

    assert_int_equal(nh_cce_parse_cluster_state(S("{\"kind\":\"Cluster\",\"status\":{\"phase\":"
                                                  "\"Available\"}}"),
                                                &st, phase, sizeof(phase), err, sizeof(err)),
                     0);
    assert_int_equal(st, NH_CLUSTER_ACCEPTS);
    assert_string_equal(phase, "Available");
    assert_int_equal(nh_cce_cluster_state("Upgrading"), NH_CLUSTER_BUSY);
    assert_int_equal(nh_cce_cluster_state("ScalingUp"), NH_CLUSTER_BUSY);
    assert_int_equal(nh_cce_cluster_state("Hibernation"), NH_CLUSTER_REFUSES);
    assert_int_equal(nh_cce_cluster_state("Error"), NH_CLUSTER_REFUSES);
    assert_int_equal(nh_cce_cluster_state("SomethingNew"), NH_CLUSTER_BUSY); /* never guess */
    /* a phase is shown in the plan and the status: only a word, never free text */
    assert_int_equal(nh_cce_parse_cluster_state(S("{\"status\":{\"phase\":\"Upgrading now, key "
                                                  "AKIDEXAMPLE\"}}"),
                                                &st, phase, sizeof(phase), err, sizeof(err)),
                     0);
    assert_int_equal(st, NH_CLUSTER_BUSY);
    assert_string_equal(phase, "in a phase nodeherd does not know");
    assert_true(nh_cce_parse_cluster_state(S("{\"status\":{}}"), &st, phase, sizeof(phase), err,
                                           sizeof(err)) < 0);
    assert_non_null(strstr(err, "status.phase"));

    assert_int_equal(nh_ack_parse_cluster_state(S("{\"cluster_id\":\"c\",\"state\":\"updating\"}"),
                                                &st, phase, sizeof(phase), err, sizeof(err)),
                     0);
    assert_int_equal(st, NH_CLUSTER_BUSY);
    assert_string_equal(phase, "updating");
    assert_int_equal(nh_ack_cluster_state("running"), NH_CLUSTER_ACCEPTS);
    assert_int_equal(nh_ack_cluster_state("upgrading"), NH_CLUSTER_BUSY);
    assert_int_equal(nh_ack_cluster_state("delete_failed"), NH_CLUSTER_REFUSES);
    assert_int_equal(nh_ack_cluster_state("inactive"), NH_CLUSTER_REFUSES);
    assert_int_equal(nh_ack_cluster_state(NULL), NH_CLUSTER_BUSY);
    assert_true(nh_ack_parse_cluster_state(S("{\"state\":3}"), &st, phase, sizeof(phase), err,
                                           sizeof(err)) < 0);
}

static void test_cce_job(void **state)
{
    struct nh_job_progress p;
    char *id = NULL;
    (void)state;

    assert_int_equal(
        nh_cce_parse_job_id(S("{\"apiVersion\":\"v3\",\"kind\":\"RemoveNodesTask\",\"spec\":{"
                              "\"nodes\":[{\"uid\":\"u1\"}]},\"status\":{\"jobID\":\"job-1\"}}"),
                            &id, err, sizeof(err)),
        0);
    assert_string_equal(id, "job-1");
    free(id);
    assert_int_equal(nh_cce_parse_job_id(S("{\"status\":{}}"), &id, err, sizeof(err)), 0);
    assert_null(id);
    assert_true(nh_cce_parse_job_id(S("{\"status\":{\"jobID\":3}}"), &id, err, sizeof(err)) < 0);

    assert_int_equal(nh_cce_parse_job(S("{\"kind\":\"Job\",\"status\":{\"phase\":\"Running\"}}"),
                                      &p, err, sizeof(err)),
                     0);
    assert_int_equal(p.state, NH_JOB_RUNNING);
    assert_int_equal(
        nh_cce_parse_job(S("{\"status\":{\"phase\":\"Initializing\"}}"), &p, err, sizeof(err)), 0);
    assert_int_equal(p.state, NH_JOB_RUNNING);
    assert_int_equal(
        nh_cce_parse_job(S("{\"status\":{\"phase\":\"Success\"},\"spec\":{\"subJobs\":[]}}"), &p,
                         err, sizeof(err)),
        0);
    assert_int_equal(p.state, NH_JOB_SUCCEEDED);
    assert_int_equal(p.percent, 100);
    assert_int_equal(
        nh_cce_parse_job(
            S("{\"kind\":\"Job\",\"spec\":{\"type\":\"DeleteNode\",\"subJobs\":["
              "{\"spec\":{\"resourceName\":\"node-1\"},\"status\":{\"phase\":\"Failed\","
              "\"reason\":\"ECS release failed\"}},"
              "{\"spec\":{\"resourceName\":\"node-2\"},\"status\":{\"phase\":\"Success\"}}]},"
              "\"status\":{\"phase\":\"Failed\",\"reason\":\"sub-job failed\"}}"),
            &p, err, sizeof(err)),
        0);
    assert_int_equal(p.state, NH_JOB_FAILED);
    assert_string_equal(p.phase, "Failed");
    assert_non_null(strstr(p.detail, "sub-job failed"));
    assert_non_null(strstr(p.detail, "node-1: ECS release failed"));
    assert_null(strstr(p.detail, "node-2"));
    /* 2 of 5 sub-jobs failed under a parent that says Success: failed (issue 17) */
    assert_int_equal(
        nh_cce_parse_job(
            S("{\"kind\":\"Job\",\"spec\":{\"type\":\"RemoveNode\",\"subJobs\":["
              "{\"spec\":{\"resourceName\":\"n1\"},\"status\":{\"phase\":\"Success\"}},"
              "{\"spec\":{\"resourceName\":\"n2\"},\"status\":{\"phase\":\"Failed\","
              "\"reason\":\"reset failed\"}},"
              "{\"spec\":{\"resourceName\":\"n3\"},\"status\":{\"phase\":\"Success\"}},"
              "{\"spec\":{\"resourceName\":\"n4\"},\"status\":{\"phase\":\"Failed\"}},"
              "{\"spec\":{\"resourceName\":\"n5\"},\"status\":{\"phase\":\"Success\"}}]},"
              "\"status\":{\"phase\":\"Success\"}}"),
            &p, err, sizeof(err)),
        0);
    assert_int_equal(p.state, NH_JOB_FAILED);
    assert_string_equal(p.phase, "Success with failed sub-jobs");
    assert_string_equal(p.detail, "n2: reset failed; n4: failed; 2 of 5 sub-jobs failed");
    assert_int_equal(p.percent, 100);
    /* still running with a failed sub-job: not final yet */
    assert_int_equal(
        nh_cce_parse_job(S("{\"spec\":{\"subJobs\":[{\"status\":{\"phase\":\"Failed\"}},"
                           "{\"status\":{\"phase\":\"Running\"}}]},\"status\":{\"phase\":"
                           "\"Running\"}}"),
                         &p, err, sizeof(err)),
        0);
    assert_int_equal(p.state, NH_JOB_RUNNING);
    assert_non_null(strstr(p.detail, "(1 of 2 sub-jobs failed)"));
    assert_true(nh_cce_parse_job(S("{\"status\":{}}"), &p, err, sizeof(err)) < 0);
    assert_true(nh_cce_parse_job(S("{\"status\":{\"phase\":\"Running\"},\"spec\":{\"subJobs\":"
                                   "[1]}}"),
                                 &p, err, sizeof(err)) < 0);
}

/* ---------- ModelArts parsers ---------- */

static const char ma_pool[] =
    "{\"kind\":\"NodePool\",\"apiVersion\":\"v2\",\"metadata\":{\"name\":\"nodepool-1\"},"
    "\"spec\":{\"resources\":{\"nodePool\":\"nodepool-1\",\"flavor\":\"modelarts.vm.2u4g.dcc\","
    "\"count\":3,\"maxCount\":3,\"network\":{\"vpc\":\"v\",\"subnet\":\"s\",\"securityGroups\":"
    "[\"g\"]}}},\"status\":{\"resources\":{\"available\":{\"nodePool\":\"nodepool-1\",\"flavor\":"
    "\"modelarts.vm.2u4g.dcc\",\"count\":1,\"maxCount\":1,\"azs\":[{\"az\":\"cn-north-7c\","
    "\"count\":1}]},\"creating\":{\"count\":2},\"abnormal\":{\"count\":1}}}}";

static void test_ma_nodepool(void **state)
{
    struct nh_pool_status s;
    struct nh_observed obs;
    char list[2048];
    (void)state;

    assert_int_equal(nh_ma_parse_nodepool(S(ma_pool), &s, err, sizeof(err)), 0);
    assert_string_equal(s.pool.id, "nodepool-1");
    assert_string_equal(s.pool.name, "nodepool-1");
    assert_string_equal(s.pool.flavor, "modelarts.vm.2u4g.dcc");
    assert_int_equal(s.pool.desired, 3);
    assert_int_equal(s.pool.max_count, 3);
    assert_int_equal(s.pool.ready, 1);
    assert_int_equal(s.pool.unhealthy, 1);
    assert_int_equal(s.pool.creating, 2);
    assert_int_equal(s.pool.deleting, 0);
    assert_int_equal(s.pool.current, 2);
    nh_pool_status_clear(&s);

    snprintf(list, sizeof(list), "{\"apiVersion\":\"v2\",\"kind\":\"List\",\"items\":[%s,%s]}",
             ma_pool, ma_pool);
    memset(&obs, 0, sizeof(obs));
    assert_int_equal(nh_ma_parse_nodepools(list, strlen(list), &obs, err, sizeof(err)), 0);
    assert_int_equal(obs.n_pools, 2);
    assert_int_equal(obs.n_nodes, 0);
    nh_observed_clear(&obs);

    static const char *const bad[] = {
        "{\"metadata\":{\"name\":\"n\"}}",
        "{\"metadata\":{\"name\":\"n\"},\"spec\":{\"resources\":{}}}",
        "{\"metadata\":{\"name\":\"n\"},\"spec\":{\"resources\":{\"count\":\"3x\"}}}",
        "{\"metadata\":{\"name\":\"n\"},\"spec\":{\"resources\":{\"count\":1}},\"status\":{"
        "\"resources\":{\"available\":{\"count\":-2}}}}",
        "{\"metadata\":{\"name\":\"n\"},\"spec\":{\"resources\":{\"count\":1}},\"status\":{"
        "\"resources\":{\"deleting\":5}}}",
        "{\"metadata\":{\"name\":\"\"},\"spec\":{\"resources\":{\"count\":1}}}",
        "{\"metadata\":{\"name\":\"n\"},\"spec\":{\"resources\":{\"count\":1e3}}}",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        err[0] = '\0';
        if (nh_ma_parse_nodepool(bad[i], strlen(bad[i]), &s, err, sizeof(err)) == 0) {
            nh_pool_status_clear(&s);
            fail_msg("accepted bad body %zu: %s", i, bad[i]);
        }
        assert_true(err[0] != '\0');
    }
}

/* Billing from the node pool's annotation; a status phase (not in the
 * API's NodePoolStatus) is not read. */
static void test_ma_nodepool_billing(void **state)
{
    struct nh_pool_status s;
    (void)state;

    assert_int_equal(
        nh_ma_parse_nodepool(S("{\"metadata\":{\"name\":\"np\",\"annotations\":{"
                               "\"os.modelarts/billing.mode\":\"1\"}},\"spec\":{\"resources\":{"
                               "\"count\":2}},\"status\":{\"phase\":\"Error\"}}"),
                             &s, err, sizeof(err)),
        0);
    assert_true(s.pool.subscription);
    assert_false(s.failed); /* no phase in the API: never a failure from one */
    assert_false(s.pool.being_deleted);
    nh_pool_status_clear(&s);
    assert_int_equal(
        nh_ma_parse_nodepool(S("{\"metadata\":{\"name\":\"np\",\"annotations\":{"
                               "\"os.modelarts/billing.mode\":\"0\"}},\"spec\":{\"resources\":{"
                               "\"count\":2}}}"),
                             &s, err, sizeof(err)),
        0);
    assert_false(s.pool.subscription);
    nh_pool_status_clear(&s);
    assert_true(nh_ma_parse_nodepool(S("{\"metadata\":{\"name\":\"np\",\"annotations\":{"
                                       "\"os.modelarts/billing.mode\":1}},\"spec\":{"
                                       "\"resources\":{\"count\":2}}}"),
                                     &s, err, sizeof(err)) < 0);
    assert_non_null(strstr(err, "billing.mode"));
}

/* ListNodePoolNodes: one page, its continue token, phases as the API has them. */
static void test_ma_pool_nodes(void **state)
{
    struct nh_observed obs;
    char *cont = (char *)1;
    (void)state;

    memset(&obs, 0, sizeof(obs));
    assert_int_equal(
        nh_ma_parse_pool_nodes(
            S("{\"apiVersion\":\"v2\",\"kind\":\"NodeList\",\"metadata\":{\"continue\":\"2\","
              "\"remainingItemCount\":1},\"items\":["
              "{\"kind\":\"Node\",\"metadata\":{\"name\":\"os-node-a\",\"creationTimestamp\":"
              "\"2025-01-02T03:04:05Z\",\"labels\":{\"os.modelarts.node/nodepool\":\"np\"}},"
              "\"status\":{\"phase\":\"Available\",\"az\":\"cn-north-7c\"}},"
              "{\"metadata\":{\"name\":\"os-node-b\"},\"status\":{\"phase\":\"Abnormal\"}}]}"),
            "np", &obs, &cont, err, sizeof(err)),
        0);
    assert_string_equal(cont, "2");
    free(cont);
    assert_int_equal(obs.n_nodes, 2);
    assert_string_equal(obs.nodes[0].id, "os-node-a");
    assert_string_equal(obs.nodes[0].name, "os-node-a");
    assert_string_equal(obs.nodes[0].pool_id, "np");
    assert_int_equal(obs.nodes[0].health, NH_NODE_READY);
    assert_int_equal(obs.nodes[0].created, 1735787045);
    assert_int_equal(obs.nodes[0].n_labels, 0); /* the service's labels, not Kubernetes' */
    assert_int_equal(obs.nodes[1].health, NH_NODE_UNHEALTHY);
    assert_true(obs.nodes[1].worker);
    assert_int_equal(nh_ma_parse_pool_nodes(S("{\"metadata\":{\"continue\":\"\"},\"items\":[]}"),
                                            "np", &obs, &cont, err, sizeof(err)),
                     0);
    assert_null(cont);
    nh_observed_clear(&obs);

    assert_int_equal(nh_ma_node_health("Creating"), NH_NODE_PENDING);
    assert_int_equal(nh_ma_node_health("Checking"), NH_NODE_PENDING);
    assert_int_equal(nh_ma_node_health("Deleting"), NH_NODE_REMOVING);
    assert_int_equal(nh_ma_node_health("Running"), NH_NODE_UNHEALTHY); /* not an API phase */

    static const char *const bad[] = {
        "{\"metadata\":{}}",
        "{\"items\":[{\"metadata\":{}}]}",
        "{\"items\":[{\"metadata\":{\"name\":\"\"}}]}",
        "{\"items\":[{\"metadata\":{\"name\":\"a\"},\"status\":{\"phase\":1}}]}",
        "{\"metadata\":{\"continue\":5},\"items\":[]}",
        "{\"items\":[\"x\"]}",
        "{\"items\":[",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        memset(&obs, 0, sizeof(obs));
        cont = NULL;
        err[0] = '\0';
        if (nh_ma_parse_pool_nodes(bad[i], strlen(bad[i]), "np", &obs, &cont, err, sizeof(err)) ==
            0)
            fail_msg("accepted bad body %zu: %s", i, bad[i]);
        assert_null(cont);
        assert_true(err[0] != '\0');
        nh_observed_clear(&obs);
    }
}

static void test_ma_max_count_rule(void **state)
{
    (void)state;
    assert_int_equal(nh_ma_max_count(3, 3, 5), 5); /* physical: follows */
    assert_int_equal(nh_ma_max_count(3, 3, 1), 1);
    assert_int_equal(nh_ma_max_count(2, 8, 5), 8); /* logical: keeps the larger */
    assert_int_equal(nh_ma_max_count(2, 4, 6), 6);
    assert_int_equal(nh_ma_max_count(2, 0, 6), 6);
}

/* ---------- bodies ---------- */

static void test_bodies_exact(void **state)
{
    char *b;
    (void)state;

    b = nh_ack_body_modify_pool(5);
    assert_string_equal(b, "{\"scaling_group\":{\"desired_size\":5}}"); /* signing.md A3 */
    free(b);
    b = nh_ma_body_batch_delete((const char *const[]){"os-node-created-mnmcf", "a\"b"}, 2);
    assert_string_equal(b, "{\"deleteNodeNames\":[\"os-node-created-mnmcf\",\"a\\\"b\"]}");
    free(b);

    b = nh_ack_body_scale_cluster(true, 60, 8, "ecs.sn1ne.large", "cloud_efficiency", 40,
                                  "Fake-Passw0rd", 13);
    /* signing.md B1, 212 bytes */
    assert_string_equal(b, "{\"disable_rollback\":true,\"timeout_mins\":60,\"num_of_nodes\":8,"
                           "\"worker_instance_type\":\"ecs.sn1ne.large\",\"worker_system_disk_"
                           "category\":\"cloud_efficiency\",\"worker_system_disk_size\":40,"
                           "\"login_password\":\"Fake-Passw0rd\"}");
    assert_int_equal(strlen(b), 212);
    nh_prov_free_secret_str(b);

    b = nh_ack_body_scale_cluster(true, 60, 1, "t", "c", 40, "a\"b\\c", 5);
    assert_non_null(strstr(b, "\"login_password\":\"a\\\"b\\\\c\"}"));
    nh_prov_free_secret_str(b);

    const char *names[] = {"cn-hangzhou.192.168.0.10", "n\"2"};
    b = nh_ack_body_delete_nodes(names, 2, true, false);
    assert_string_equal(b, "{\"nodes\":[\"cn-hangzhou.192.168.0.10\",\"n\\\"2\"],"
                           "\"release_node\":true,\"drain_node\":false}");
    free(b);

    const char *ids[] = {"i-bp1aaaaaaaaaaaaaaaaa", "i-bp1bbbbbbbbbbbbbbbbb"};
    b = nh_ack_query_instance_ids(ids, 2);
    assert_string_equal(b, "[\"i-bp1aaaaaaaaaaaaaaaaa\",\"i-bp1bbbbbbbbbbbbbbbbb\"]");
    free(b);

    b = nh_cce_body_scale_pool(6);
    assert_string_equal(b, "{\"kind\":\"NodePool\",\"apiVersion\":\"v3\",\"spec\":{"
                           "\"desiredNodeCount\":6,\"scaleGroups\":[\"default\"]}}");
    free(b);
    b = nh_cce_body_scale_pool(0); /* zero is sent, never omitted */
    assert_non_null(strstr(b, "\"desiredNodeCount\":0"));
    free(b);

    const char *uids[] = {"a1b2c3d4-0000-4000-8000-000000000001",
                          "a1b2c3d4-0000-4000-8000-000000000002"};
    b = nh_cce_body_remove_nodes(uids, 2, "KeyPair-001", NULL, NULL, 0);
    /* signing.md C2, 190 bytes */
    assert_string_equal(b,
                        "{\"apiVersion\":\"v3\",\"kind\":\"RemoveNodesTask\",\"spec\":{\"login\":"
                        "{\"sshKey\":\"KeyPair-001\"},\"nodes\":[{\"uid\":\"a1b2c3d4-0000-4000-"
                        "8000-000000000001\"},{\"uid\":\"a1b2c3d4-0000-4000-8000-"
                        "000000000002\"}]}}");
    assert_int_equal(strlen(b), 190);
    nh_prov_free_secret_str(b);
    b = nh_cce_body_remove_nodes(uids, 1, NULL, NULL, "pw", 2);
    assert_string_equal(b,
                        "{\"apiVersion\":\"v3\",\"kind\":\"RemoveNodesTask\",\"spec\":{\"login\":"
                        "{\"userPassword\":{\"username\":\"root\",\"password\":\"pw\"}},"
                        "\"nodes\":[{\"uid\":\"a1b2c3d4-0000-4000-8000-000000000001\"}]}}");
    nh_prov_free_secret_str(b);
    b = nh_cce_body_remove_nodes(uids, 1, NULL, NULL, NULL, 0);
    assert_null(strstr(b, "login"));
    nh_prov_free_secret_str(b);

    b = nh_ma_body_patch("modelarts.vm.2u4g.dcc", 3, 3);
    /* signing.md C4, 80 bytes */
    assert_string_equal(b, "{\"spec\":{\"resources\":{\"flavor\":\"modelarts.vm.2u4g.dcc\","
                           "\"count\":3,\"maxCount\":3}}}");
    assert_int_equal(strlen(b), 80);
    free(b);
}

/* ---------- every truncation and byte flip of valid bodies ---------- */

static int p_ack_page(const char *b, size_t n, char *e, size_t el)
{
    struct nh_observed o = {0};
    struct nh_ack_page pg;
    int r = nh_ack_parse_nodes_page(b, n, &o, &pg, e, el);
    nh_observed_clear(&o);
    return r;
}

static int p_ack_pools(const char *b, size_t n, char *e, size_t el)
{
    struct nh_observed o = {0};
    int r = nh_ack_parse_nodepools(b, n, &o, e, el);
    nh_observed_clear(&o);
    return r;
}

static int p_ack_task(const char *b, size_t n, char *e, size_t el)
{
    struct nh_job_progress pr;
    return nh_ack_parse_task(b, n, &pr, e, el);
}

static int p_cce_nodes(const char *b, size_t n, char *e, size_t el)
{
    struct nh_observed o = {0};
    int r = nh_cce_parse_nodes(b, n, &o, e, el);
    nh_observed_clear(&o);
    return r;
}

static int p_cce_pool(const char *b, size_t n, char *e, size_t el)
{
    struct nh_pool_status s;
    int r = nh_cce_parse_nodepool(b, n, &s, e, el);
    if (r == 0)
        nh_pool_status_clear(&s);
    return r;
}

static int p_cce_job(const char *b, size_t n, char *e, size_t el)
{
    struct nh_job_progress pr;
    return nh_cce_parse_job(b, n, &pr, e, el);
}

static int p_ma_pool(const char *b, size_t n, char *e, size_t el)
{
    struct nh_pool_status s;
    int r = nh_ma_parse_nodepool(b, n, &s, e, el);
    if (r == 0)
        nh_pool_status_clear(&s);
    return r;
}

static const char cce_job_body[] =
    "{\"kind\":\"Job\",\"spec\":{\"subJobs\":[{\"spec\":{\"resourceName\":\"n1\"},"
    "\"status\":{\"phase\":\"Failed\",\"reason\":\"r\"}}]},\"status\":{\"phase\":"
    "\"Failed\"}}";
static const char ack_task_body[] =
    "{\"state\":\"fail\",\"error\":{\"code\":\"C\",\"message\":\"m\"},\"task_result\":"
    "[{\"data\":\"i-1\",\"status\":\"failed\"}]}";

static void test_parsers_survive_truncation_and_flips(void **state)
{
    const struct {
        int (*fn)(const char *, size_t, char *, size_t);
        const char *body;
    } cases[] = {
        {p_ack_page, ack_nodes_page}, {p_ack_pools, ack_pools}, {p_ack_task, ack_task_body},
        {p_cce_nodes, cce_nodes},     {p_cce_pool, cce_pool},   {p_cce_job, cce_job_body},
        {p_ma_pool, ma_pool},
    };
    static const char flips[] = {'"', '{', '}', '[', '1', '\0', '\xff', ','};
    (void)state;

    for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
        size_t len = strlen(cases[c].body);
        char *buf = malloc(len + 1);
        assert_non_null(buf);
        assert_int_equal(cases[c].fn(cases[c].body, len, err, sizeof(err)), 0);
        for (size_t cut = 0; cut < len; cut++) {
            /* a truncated body is never accepted, and always explained */
            memcpy(buf, cases[c].body, cut);
            err[0] = '\0';
            if (cases[c].fn(buf, cut, err, sizeof(err)) == 0)
                fail_msg("case %zu accepted a body cut at %zu", c, cut);
            assert_true(err[0] != '\0');
        }
        for (size_t i = 0; i < len; i++) {
            for (size_t f = 0; f < sizeof(flips); f++) {
                memcpy(buf, cases[c].body, len);
                buf[i] = flips[f];
                err[0] = '\0';
                if (cases[c].fn(buf, len, err, sizeof(err)) < 0)
                    assert_true(err[0] != '\0');
            }
        }
        free(buf);
    }
}

/* The reused tokener keeps no string from an earlier answer: a kubeconfig
 * (ACK DescribeClusterUserKubeconfig) or a token read once must not stay in
 * the process's memory until the next parse overwrites it. */
static void test_spare_tokener_keeps_no_secret(void **state)
{
    (void)state;
    const char *secret = "{\"config\":\"apiVersion: v1 client-key-data: "
                         "CANARY-c2VjcmV0LWtleS1tYXRlcmlhbA-CANARY\"}";
    struct nh_jerr e = {0};
    struct json_object *o = nh_json_parse(secret, strlen(secret), true, &e);
    assert_non_null(o);
    json_object_put(o);
    assert_false(nh_json__spare_holds("c2VjcmV0LWtleS1tYXRlcmlhbA"));
    /* and after a failed parse too */
    const char *cut = "{\"token\":\"MIIB-c2VjcmV0LWtleS1tYXRlcmlhbA";
    char why[128] = "";
    struct nh_jerr e2 = {why, sizeof(why)};
    assert_null(nh_json_parse(cut, strlen(cut), true, &e2));
    assert_false(nh_json__spare_holds("c2VjcmV0LWtleS1tYXRlcmlhbA"));
    /* the spare still parses */
    const char *ok = "{\"a\":\"b\"}";
    o = nh_json_parse(ok, strlen(ok), true, &e);
    assert_non_null(o);
    assert_string_equal(json_object_get_string(json_object_object_get(o, "a")), "b");
    json_object_put(o);
}

static void test_names(void **state)
{
    (void)state;
    assert_string_equal(nh_err_class_name(NH_ERR_UNKNOWN_OUTCOME), "unknown-outcome");
    assert_string_equal(nh_err_class_name(NH_ERR_THROTTLED), "throttled");
    assert_string_equal(nh_job_state_name(NH_JOB_FAILED), "failed");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_path_safe_accepts_unreserved_only),
        cmocka_unit_test(test_kubeconfig_answers),
        cmocka_unit_test(test_time_formats),
        cmocka_unit_test(test_json_parse_nothing_carries_over),
        cmocka_unit_test(test_error_body_key_orders),
        cmocka_unit_test(test_error_body_non_json_is_described_and_stripped),
        cmocka_unit_test(test_retry_after),
        cmocka_unit_test(test_ack_classes),
        cmocka_unit_test(test_ack_error_from_answer_throttled_with_hint),
        cmocka_unit_test(test_huawei_classes),
        cmocka_unit_test(test_huawei_error_from_answer_modelarts_400),
        cmocka_unit_test(test_ack_nodes_page_valid),
        cmocka_unit_test(test_ack_health_table),
        cmocka_unit_test(test_ack_nodes_page_broken),
        cmocka_unit_test(test_ack_nodes_page_messages_name_the_field),
        cmocka_unit_test(test_ack_nodepools_valid),
        cmocka_unit_test(test_ack_task_id),
        cmocka_unit_test(test_ack_task_states),
        cmocka_unit_test(test_ack_pool_detail),
        cmocka_unit_test(test_cce_nodes),
        cmocka_unit_test(test_cce_nodes_messages_name_the_field),
        cmocka_unit_test(test_cce_nodepool),
        cmocka_unit_test(test_cce_job),
        cmocka_unit_test(test_ma_nodepool),
        cmocka_unit_test(test_ma_max_count_rule),
        cmocka_unit_test(test_ma_nodepool_billing),
        cmocka_unit_test(test_ma_pool_nodes),
        cmocka_unit_test(test_cluster_states),
        cmocka_unit_test(test_bodies_exact),
        cmocka_unit_test(test_parsers_survive_truncation_and_flips),
        cmocka_unit_test(test_names),
        cmocka_unit_test(test_spare_tokener_keeps_no_secret),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
