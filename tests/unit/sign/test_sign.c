/* test_sign.c - the worked examples and published vectors of
 * shared/api/signing.md, byte for byte, plus the edge cases the clouds'
 * verifiers care about (escaping, sorting, case, trimming, refusals). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "sign/sign.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))

static const unsigned char SK[] = "testsecret";
#define SKL (sizeof(SK) - 1)

#define EMPTY_SHA "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
#define DATE_ACS "2025-01-02T03:04:05Z"
#define NONCE "4a0f1a4e5b2c4d6e8f90a1b2c3d4e5f6"
#define CLUSTER "c8f2d1e0a9b84c6e9f1d2a3b4c5d6e7f"
#define NP "np4b2e1c0d9a8f7e6d5c4b3a2918f7e6d5"
#define ACS_HOST "cs.cn-hangzhou.aliyuncs.com"

/* Compares and frees an allocated result. */
static void eq_free(char *got, const char *want)
{
    assert_non_null(got);
    assert_string_equal(got, want);
    free(got);
}

/* hex(sha256(s)) of an allocated string, then frees it. */
static void hash_eq_free(char *got, const char *want)
{
    char h[65];
    assert_non_null(got);
    nh_sha256_hex(got, strlen(got), h);
    assert_string_equal(h, want);
    free(got);
}

/* ---------------- §0 pct ---------------- */

static void test_pct_table_matches_spec(void **state)
{
    (void)state;
    static const char *const t[][2] = {
        {"abc-_.~XYZ09", "abc-_.~XYZ09"},
        {"a b", "a%20b"},
        {"a+b", "a%2Bb"},
        {"a*b", "a%2Ab"},
        {"a/b", "a%2Fb"},
        {"a=b,c", "a%3Db%2Cc"},
        {"!'()", "%21%27%28%29"},
        {"\xc3\xa9", "%C3%A9"},
        {"\xe6\x95\xb0\xe6\x8d\xae", "%E6%95%B0%E6%8D%AE"},
        {"[\"i-1\",\"i-2\"]", "%5B%22i-1%22%2C%22i-2%22%5D"},
    };
    for (size_t i = 0; i < N(t); i++)
        eq_free(nh_pct_encode(t[i][0], strlen(t[i][0])), t[i][1]);
}

static void test_pct_every_byte_upper_hex_and_embedded_nul(void **state)
{
    (void)state;
    /* Every byte 0..255: unreserved literal, everything else %XX upper-case. */
    char in[256];
    for (int i = 0; i < 256; i++)
        in[i] = (char)i;
    char *out = nh_pct_encode(in, sizeof(in));
    assert_non_null(out);
    size_t lit = 26 + 26 + 10 + 4;
    assert_int_equal(strlen(out), lit + (256 - lit) * 3);
    assert_non_null(strstr(out, "%00%01"));
    assert_non_null(strstr(out, "%FE%FF"));
    assert_null(strstr(out, "%7E")); /* '~' stays */
    assert_non_null(strstr(out, "%7F"));
    for (const char *p = out; *p; p++)
        assert_false(*p >= 'a' && *p <= 'f' && p > out && p[-1] == '%');
    free(out);
    eq_free(nh_pct_encode("", 0), "");
}

static void test_digests_known_constants(void **state)
{
    (void)state;
    char h[65], m[25];
    nh_sha256_hex("", 0, h);
    assert_string_equal(h, EMPTY_SHA);
    nh_sha256_hex(NULL, 0, h);
    assert_string_equal(h, EMPTY_SHA);
    nh_md5_base64("", 0, m);
    assert_string_equal(m, "1B2M2Y8AsgTpgAmY7PhCfg==");
    nh_sha256_hex("abc", 3, h);
    assert_string_equal(h, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

/* ---------------- §1 ACS3 ---------------- */

static const struct nh_kv a1_query[] = {
    {"pageSize", "100"},
    {"nodeLabels", "env=prod,team=\xe6\x95\xb0\xe6\x8d\xae \xe5\xb9\xb3\xe5\x8f\xb0"},
    {"pageNumber", "1"},
    {"nodepool_id", NP},
};

static const struct nh_kv a1_headers[] = {
    {"accept", "application/json"},
    {"x-acs-signature-nonce", NONCE},
    {"host", ACS_HOST},
    {"x-acs-action", "DescribeClusterNodes"},
    {"x-acs-version", "2015-12-15"},
    {"x-acs-date", DATE_ACS},
    {"x-acs-content-sha256", EMPTY_SHA},
    {"user-agent", "nodeherd/0.1"},
};

static const char a1_canon[] =
    "GET\n"
    "/clusters/" CLUSTER "/nodes\n"
    "nodeLabels=env%3Dprod%2Cteam%3D%E6%95%B0%E6%8D%AE%20%E5%B9%B3%E5%8F%B0&nodepool_id=" NP
    "&pageNumber=1&pageSize=100\n"
    "host:" ACS_HOST "\n"
    "x-acs-action:DescribeClusterNodes\n"
    "x-acs-content-sha256:" EMPTY_SHA "\n"
    "x-acs-date:" DATE_ACS "\n"
    "x-acs-signature-nonce:" NONCE "\n"
    "x-acs-version:2015-12-15\n"
    "\n"
    "host;x-acs-action;x-acs-content-sha256;x-acs-date;x-acs-signature-nonce;x-acs-"
    "version\n" EMPTY_SHA;

#define ACS_SIGNED                                                                                 \
    "host;x-acs-action;x-acs-content-sha256;x-acs-date;x-acs-signature-nonce;x-acs-version"

static void test_acs3_A1_describe_cluster_nodes(void **state)
{
    (void)state;
    struct nh_sign_req r = {.method = "GET",
                            .path = "/clusters/" CLUSTER "/nodes",
                            .query = a1_query,
                            .n_query = N(a1_query),
                            .headers = a1_headers,
                            .n_headers = N(a1_headers)};
    eq_free(nh_acs3_query(a1_query, N(a1_query)),
            "nodeLabels=env%3Dprod%2Cteam%3D%E6%95%B0%E6%8D%AE%20%E5%B9%B3%E5%8F%B0&nodepool_id=" NP
            "&pageNumber=1&pageSize=100");
    eq_free(nh_acs3_canonical(&r), a1_canon);
    eq_free(nh_acs3_string_to_sign(&r),
            "ACS3-HMAC-SHA256\n290ff651b8b9c4d6f349b8070deabbb4dc7a51c9200cf02bf9e101de6cdb0c5f");
    eq_free(nh_acs3_authorization(&r, "testid", SK, SKL),
            "ACS3-HMAC-SHA256 Credential=testid,SignedHeaders=" ACS_SIGNED
            ",Signature=2654f8fe2e23be35d821ca8f8ea837219e4db1815b59133e2cc57da4efbc0d49");
}

static void test_acs3_header_case_and_whitespace_do_not_change_signature(void **state)
{
    (void)state;
    const struct nh_kv h[] = {
        {"X-Acs-Signature-Nonce", " " NONCE},
        {"HOST", ACS_HOST "\t "},
        {"X-ACS-Action", "DescribeClusterNodes"},
        {"x-Acs-Version", "  2015-12-15"},
        {"X-Acs-Date", DATE_ACS},
        {"X-Acs-Content-Sha256", EMPTY_SHA},
        {"Accept", "application/json"},
    };
    struct nh_sign_req r = {.method = "GET",
                            .path = "/clusters/" CLUSTER "/nodes",
                            .query = a1_query,
                            .n_query = N(a1_query),
                            .headers = h,
                            .n_headers = N(h)};
    eq_free(nh_acs3_canonical(&r), a1_canon);
    eq_free(nh_acs3_authorization(&r, "testid", SK, SKL),
            "ACS3-HMAC-SHA256 Credential=testid,SignedHeaders=" ACS_SIGNED
            ",Signature=2654f8fe2e23be35d821ca8f8ea837219e4db1815b59133e2cc57da4efbc0d49");
}

static void test_acs3_A2_remove_node_pool_nodes(void **state)
{
    (void)state;
    const struct nh_kv q[] = {
        {"release_node", "true"},
        {"instance_ids", "[\"i-bp1aaaaaaaaaaaaaaaaa\",\"i-bp1bbbbbbbbbbbbbbbbb\"]"},
        {"drain_node", "true"},
    };
    const struct nh_kv h[] = {
        {"host", ACS_HOST},
        {"x-acs-action", "RemoveNodePoolNodes"},
        {"x-acs-version", "2015-12-15"},
        {"x-acs-date", DATE_ACS},
        {"x-acs-signature-nonce", NONCE},
        {"x-acs-content-sha256", EMPTY_SHA},
        {"accept", "application/json"},
    };
    struct nh_sign_req r = {.method = "DELETE",
                            .path = "/clusters/" CLUSTER "/nodepools/" NP "/nodes",
                            .query = q,
                            .n_query = N(q),
                            .headers = h,
                            .n_headers = N(h)};
    eq_free(nh_acs3_canonical(&r),
            "DELETE\n"
            "/clusters/" CLUSTER "/nodepools/" NP "/nodes\n"
            "drain_node=true&instance_ids=%5B%22i-bp1aaaaaaaaaaaaaaaaa%22%2C%22i-"
            "bp1bbbbbbbbbbbbbbbbb%22%5D&release_node=true\n"
            "host:" ACS_HOST "\n"
            "x-acs-action:RemoveNodePoolNodes\n"
            "x-acs-content-sha256:" EMPTY_SHA "\n"
            "x-acs-date:" DATE_ACS "\n"
            "x-acs-signature-nonce:" NONCE "\n"
            "x-acs-version:2015-12-15\n"
            "\n" ACS_SIGNED "\n" EMPTY_SHA);
    hash_eq_free(nh_acs3_canonical(&r),
                 "f771a5044c236f076cff8a21f012e7f4811ac994b9a8d23cedce11944e2e3c15");
    eq_free(nh_acs3_string_to_sign(&r),
            "ACS3-HMAC-SHA256\nf771a5044c236f076cff8a21f012e7f4811ac994b9a8d23cedce11944e2e3c15");
    eq_free(nh_acs3_authorization(&r, "testid", SK, SKL),
            "ACS3-HMAC-SHA256 Credential=testid,SignedHeaders=" ACS_SIGNED
            ",Signature=51ca5c34392c9080f12b791575d49220c58f4cfe909b54ffc75df312d33f9dd5");
}

static const char a3_body[] = "{\"scaling_group\":{\"desired_size\":5}}";
#define A3_SHA "2be13f42c79387d1efa50a37195039ed0e2640bbf810490e32043237e3bd583f"

static void test_acs3_A3_json_body_signs_content_type(void **state)
{
    (void)state;
    const struct nh_kv h[] = {
        {"Content-Type", "application/json; charset=utf-8"},
        {"host", ACS_HOST},
        {"x-acs-action", "ModifyClusterNodePool"},
        {"x-acs-version", "2015-12-15"},
        {"x-acs-date", DATE_ACS},
        {"x-acs-signature-nonce", NONCE},
        {"x-acs-content-sha256", A3_SHA},
        {"Content-Length", "36"},
    };
    struct nh_sign_req r = {.method = "PUT",
                            .path = "/clusters/" CLUSTER "/nodepools/" NP,
                            .headers = h,
                            .n_headers = N(h),
                            .body = a3_body,
                            .body_len = strlen(a3_body)};
    char sha[65];
    assert_int_equal(strlen(a3_body), 36);
    nh_sha256_hex(a3_body, strlen(a3_body), sha);
    assert_string_equal(sha, A3_SHA);
    eq_free(nh_acs3_canonical(&r), "PUT\n"
                                   "/clusters/" CLUSTER "/nodepools/" NP "\n"
                                   "\n"
                                   "content-type:application/json; charset=utf-8\n"
                                   "host:" ACS_HOST "\n"
                                   "x-acs-action:ModifyClusterNodePool\n"
                                   "x-acs-content-sha256:" A3_SHA "\n"
                                   "x-acs-date:" DATE_ACS "\n"
                                   "x-acs-signature-nonce:" NONCE "\n"
                                   "x-acs-version:2015-12-15\n"
                                   "\n"
                                   "content-type;" ACS_SIGNED "\n" A3_SHA);
    hash_eq_free(nh_acs3_canonical(&r),
                 "76eb52be52317a11bfe0e7796e2fcb01e9e108ddf6f59e1975639e70ee2af276");
    eq_free(nh_acs3_authorization(&r, "testid", SK, SKL),
            "ACS3-HMAC-SHA256 Credential=testid,SignedHeaders=content-type;" ACS_SIGNED
            ",Signature=f0990aab20f275bba601e29806eb037dc0315a9b8147e15d65083c53ede8578b");
}

static void test_acs3_P1_published_vector(void **state)
{
    (void)state;
    static const unsigned char sk[] = "YourAccessKeySecret";
    const struct nh_kv q[] = {
        {"RegionId", "cn-shanghai"},
        {"ImageId", "win2019_1809_x64_dtc_zh-cn_40G_alibase_20230811.vhd"},
    };
    const struct nh_kv h[] = {
        {"host", "ecs.cn-shanghai.aliyuncs.com"},
        {"x-acs-action", "RunInstances"},
        {"x-acs-version", "2014-05-26"},
        {"x-acs-date", "2023-10-26T10:22:32Z"},
        {"x-acs-signature-nonce", "3156853299f313e23d1673dc12e1703d"},
        {"x-acs-content-sha256", EMPTY_SHA},
    };
    struct nh_sign_req r = {.method = "POST",
                            .path = "/",
                            .query = q,
                            .n_query = N(q),
                            .headers = h,
                            .n_headers = N(h)};
    hash_eq_free(nh_acs3_canonical(&r),
                 "7ea06492da5221eba5297e897ce16e55f964061054b7695beedaac1145b1e259");
    eq_free(nh_acs3_authorization(&r, "YourAccessKeyId", sk, sizeof(sk) - 1),
            "ACS3-HMAC-SHA256 Credential=YourAccessKeyId,SignedHeaders=" ACS_SIGNED
            ",Signature=06563a9e1b43f5dfe96b81484da74bceab24a1d853912eee15083a6f0f3283c0");
    /* "" path is "/" */
    r.path = "";
    hash_eq_free(nh_acs3_canonical(&r),
                 "7ea06492da5221eba5297e897ce16e55f964061054b7695beedaac1145b1e259");
}

static void test_acs3_host_with_port_empty_query_empty_body(void **state)
{
    (void)state;
    const struct nh_kv h[] = {
        {"Host", "127.0.0.1:8443"},
        {"x-acs-action", "DescribeClusterDetail"},
        {"x-acs-content-sha256", EMPTY_SHA},
        {"user-agent", "x"},
    };
    struct nh_sign_req r = {
        .method = "GET", .path = "/clusters/c1", .headers = h, .n_headers = N(h)};
    eq_free(nh_acs3_canonical(&r), "GET\n/clusters/c1\n\n"
                                   "host:127.0.0.1:8443\n"
                                   "x-acs-action:DescribeClusterDetail\n"
                                   "x-acs-content-sha256:" EMPTY_SHA "\n"
                                   "\n"
                                   "host;x-acs-action;x-acs-content-sha256\n" EMPTY_SHA);
    eq_free(nh_acs3_query(NULL, 0), "");
}

static void test_acs3_query_sorted_bytewise_and_repeated(void **state)
{
    (void)state;
    const struct nh_kv q[] = {
        {"pageNumber", "2"}, {"a", "x y"},        {"B", "*"},
        {"nodepool_id", ""}, {"nodeLabels", "~"}, {"a", "w"},
    };
    /* upper-case sorts before lower-case; empty value gives "key="; repeated
     * keys sorted by value */
    eq_free(nh_acs3_query(q, N(q)), "B=%2A&a=w&a=x%20y&nodeLabels=~&nodepool_id=&pageNumber=2");
}

static void test_acs3_refuses_bad_input(void **state)
{
    (void)state;
    struct nh_kv h[] = {
        {"host", ACS_HOST},
        {"x-acs-action", "A"},
        {"x-acs-content-sha256", EMPTY_SHA},
        {"Host", "evil.example"},
    };
    struct nh_sign_req r = {.method = "GET", .path = "/", .headers = h, .n_headers = 4};
    /* duplicate header names (any case) */
    assert_null(nh_acs3_canonical(&r));
    assert_null(nh_acs3_authorization(&r, "testid", SK, SKL));
    r.n_headers = 3;
    char *ok = nh_acs3_canonical(&r);
    assert_non_null(ok);
    free(ok);
    /* x-acs-content-sha256 that does not match the body */
    r.body = "x";
    r.body_len = 1;
    assert_null(nh_acs3_canonical(&r));
    r.body = NULL;
    r.body_len = 0;
    /* CR/LF in a value (header injection) */
    h[1].value = "A\r\nx-acs-evil: 1";
    assert_null(nh_acs3_canonical(&r));
    h[1].value = "A";
    /* missing content hash header; missing host */
    r.headers = &h[0];
    r.n_headers = 2;
    assert_null(nh_acs3_canonical(&r));
    r.headers = &h[1];
    r.n_headers = 2;
    assert_null(nh_acs3_canonical(&r));
    r.headers = h;
    r.n_headers = 3;
    /* bad method, path, access key */
    r.method = "get";
    assert_null(nh_acs3_canonical(&r));
    r.method = "GET";
    r.path = "/a?b=c";
    assert_null(nh_acs3_canonical(&r));
    r.path = "relative";
    assert_null(nh_acs3_canonical(&r));
    r.path = "/";
    assert_null(nh_acs3_authorization(&r, "", SK, SKL));
    assert_null(nh_acs3_authorization(&r, "a,b", SK, SKL));
    /* NULL array with a count */
    r.query = NULL;
    r.n_query = 1;
    assert_null(nh_acs3_canonical(&r));
    assert_null(nh_acs3_query(NULL, 1));
}

static void test_signatures_never_contain_the_secret(void **state)
{
    (void)state;
    struct nh_sign_req r = {.method = "GET",
                            .path = "/clusters/" CLUSTER "/nodes",
                            .query = a1_query,
                            .n_query = N(a1_query),
                            .headers = a1_headers,
                            .n_headers = N(a1_headers)};
    char *a = nh_acs3_authorization(&r, "testid", SK, SKL);
    assert_non_null(a);
    assert_null(strstr(a, "testsecret"));
    free(a);
    /* a different secret gives a different signature */
    static const unsigned char other[] = "testsecreT";
    a = nh_acs3_authorization(&r, "testid", other, sizeof(other) - 1);
    assert_non_null(a);
    assert_null(strstr(a, "2654f8fe2e23be35d821ca8f8ea837219e4db1815b59133e2cc57da4efbc0d49"));
    free(a);
}

/* ---------------- §2 ROA ---------------- */

#define DATE_GMT "Thu, 02 Jan 2025 03:04:05 GMT"
#define ROA_XACS(action)                                                                           \
    "x-acs-action:" action "\n"                                                                    \
    "x-acs-signature-method:HMAC-SHA1\n"                                                           \
    "x-acs-signature-nonce:" NONCE "\n"                                                            \
    "x-acs-signature-version:1.0\n"                                                                \
    "x-acs-version:2015-12-15\n"

static const char b1_body[] =
    "{\"disable_rollback\":true,\"timeout_mins\":60,\"num_of_nodes\":8,\"worker_instance_type\":"
    "\"ecs.sn1ne.large\",\"worker_system_disk_category\":\"cloud_efficiency\",\"worker_system_"
    "disk_size\":40,\"login_password\":\"Fake-Passw0rd\"}";

static void test_roa_B1_scale_cluster(void **state)
{
    (void)state;
    char md5[25];
    assert_int_equal(strlen(b1_body), 212);
    nh_md5_base64(b1_body, strlen(b1_body), md5);
    assert_string_equal(md5, "Aq4D3jmnsjlalkVs27EhFw==");
    const struct nh_kv h[] = {
        {"Accept", "application/json"},
        {"Content-Type", "application/json; charset=utf-8"},
        {"Content-MD5", md5},
        {"Content-Length", "212"},
        {"Date", DATE_GMT},
        {"Host", ACS_HOST},
        {"x-acs-signature-method", "HMAC-SHA1"},
        {"x-acs-signature-version", "1.0"},
        {"x-acs-signature-nonce", NONCE},
        {"x-acs-version", "2015-12-15"},
        {"x-acs-action", "ScaleCluster"},
    };
    struct nh_sign_req r = {.method = "PUT",
                            .path = "/clusters/" CLUSTER,
                            .headers = h,
                            .n_headers = N(h),
                            .body = b1_body,
                            .body_len = strlen(b1_body)};
    eq_free(nh_roa_string_to_sign(&r), "PUT\napplication/json\nAq4D3jmnsjlalkVs27EhFw==\n"
                                       "application/json; charset=utf-8\n" DATE_GMT
                                       "\n" ROA_XACS("ScaleCluster") "/clusters/" CLUSTER);
    eq_free(nh_roa_authorization(&r, "testid", SK, SKL), "acs testid:Zi55BbWRV6qOiepfUAGYA9WjSjU=");
    /* Content-MD5 that does not match the body is refused */
    r.body_len--;
    assert_null(nh_roa_authorization(&r, "testid", SK, SKL));
}

static const struct nh_kv roa_get_headers[] = {
    {"Accept", "application/json"},
    {"Date", DATE_GMT},
    {"Host", ACS_HOST},
    {"X-Acs-Signature-Method", "HMAC-SHA1"},
    {"x-acs-signature-version", "1.0"},
    {"x-acs-signature-nonce", NONCE},
    {"x-acs-version", "2015-12-15"},
    {"x-acs-action", "DescribeClusterNodes"},
};

static void test_roa_B2_describe_cluster_nodes(void **state)
{
    (void)state;
    const struct nh_kv q[] = {{"pageNumber", "1"}, {"pageSize", "100"}, {"nodepool_id", NP}};
    struct nh_sign_req r = {.method = "GET",
                            .path = "/clusters/" CLUSTER "/nodes",
                            .query = q,
                            .n_query = N(q),
                            .headers = roa_get_headers,
                            .n_headers = N(roa_get_headers)};
    eq_free(nh_roa_string_to_sign(&r),
            "GET\napplication/json\n\n\n" DATE_GMT
            "\n" ROA_XACS("DescribeClusterNodes") "/clusters/" CLUSTER "/nodes?nodepool_id=" NP
                                                  "&pageNumber=1&pageSize=100");
    eq_free(nh_roa_authorization(&r, "testid", SK, SKL), "acs testid:B2WJYUIKI55Xn51N90dEJVOHSqU=");
}

static void test_roa_B3_raw_value_in_resource(void **state)
{
    (void)state;
    const struct nh_kv q[] = {
        {"release_node", "true"},
        {"instance_ids", "[\"i-bp1aaaaaaaaaaaaaaaaa\",\"i-bp1bbbbbbbbbbbbbbbbb\"]"},
        {"drain_node", "true"},
    };
    struct nh_kv h[N(roa_get_headers)];
    memcpy(h, roa_get_headers, sizeof(h));
    h[7].value = "RemoveNodePoolNodes";
    struct nh_sign_req r = {.method = "DELETE",
                            .path = "/clusters/" CLUSTER "/nodepools/" NP "/nodes",
                            .query = q,
                            .n_query = N(q),
                            .headers = h,
                            .n_headers = N(h)};
    eq_free(nh_roa_string_to_sign(&r),
            "DELETE\napplication/json\n\n\n" DATE_GMT
            "\n" ROA_XACS("RemoveNodePoolNodes") "/clusters/" CLUSTER "/nodepools/" NP
                                                 "/nodes?drain_node=true&instance_ids=[\"i-"
                                                 "bp1aaaaaaaaaaaaaaaaa\",\"i-"
                                                 "bp1bbbbbbbbbbbbbbbbb\"]&release_node=true");
    eq_free(nh_roa_authorization(&r, "testid", SK, SKL), "acs testid:uKQiSLEkx3w5CQfyWB01BIQ5vhw=");
    /* and the wire query for the same parameters is the encoded one */
    eq_free(nh_acs3_query(q, N(q)), "drain_node=true&instance_ids=%5B%22i-bp1aaaaaaaaaaaaaaaaa%22%"
                                    "2C%22i-bp1bbbbbbbbbbbbbbbbb%22%5D&release_node=true");
}

static void test_roa_P2_hmac_sha1_vector(void **state)
{
    (void)state;
    eq_free(nh_roa_hmac_b64((const unsigned char *)"secret", 6, "stringtosign"),
            "OmuTAr79tpI6CRoAdmzKRq5lHs0=");
}

static void test_roa_P3_string_to_sign_vector(void **state)
{
    (void)state;
    const struct nh_kv h[] = {
        {"accept", "application/json"},       {"content-md5", "md5"},
        {"content-type", "application/json"}, {"date", "date"},
        {"x-acs-custom-key", "any value"},
    };
    const struct nh_kv q[] = {{"key", "val ue with space"}};
    struct nh_sign_req r = {
        .method = "GET", .path = "/", .query = q, .n_query = 1, .headers = h, .n_headers = N(h)};
    eq_free(nh_roa_string_to_sign(&r), "GET\napplication/json\nmd5\napplication/json\ndate\n"
                                       "x-acs-custom-key:any value\n/?key=val ue with space");
    /* the placeholder "md5" is not base64(md5("")): never signed for the wire */
    assert_null(nh_roa_authorization(&r, "testid", SK, SKL));
    struct nh_kv h2[N(h)];
    memcpy(h2, h, sizeof(h));
    h2[1].value = "1B2M2Y8AsgTpgAmY7PhCfg==";
    r.headers = h2;
    char *a = nh_roa_authorization(&r, "testid", SK, SKL);
    assert_non_null(a);
    assert_true(strncmp(a, "acs testid:", 11) == 0);
    free(a);
}

static void test_roa_refuses_ambiguous_query_values(void **state)
{
    (void)state;
    static const char *const bad[] = {"", "a+b", "a*b", "a~b"};
    for (size_t i = 0; i < N(bad); i++) {
        const struct nh_kv q[] = {{"k", bad[i]}};
        struct nh_sign_req r = {.method = "GET",
                                .path = "/",
                                .query = q,
                                .n_query = 1,
                                .headers = roa_get_headers,
                                .n_headers = N(roa_get_headers)};
        assert_null(nh_roa_string_to_sign(&r));
        assert_null(nh_roa_authorization(&r, "testid", SK, SKL));
    }
    /* duplicate header names */
    const struct nh_kv h[] = {{"Date", "a"}, {"date", "b"}};
    struct nh_sign_req r = {.method = "GET", .path = "/", .headers = h, .n_headers = 2};
    assert_null(nh_roa_string_to_sign(&r));
}

/* ---------------- §3 Huawei ---------------- */

#define PROJ "0123456789abcdef0123456789abcdef"
#define CCE_HOST "cce.cn-north-4.myhuaweicloud.com"
#define CCE_BASE "/api/v3/projects/" PROJ "/clusters/6f1c0000-0000-0000-0000-000000000001/nodes"
#define HW_SIGNED "host;x-project-id;x-sdk-date"

static const char *const hw_min[] = {"x-sdk-date", "host", "x-project-id", NULL};

static const struct nh_kv cce_headers[] = {
    {"Host", CCE_HOST},
    {"Content-Type", "application/json"},
    {"X-Project-Id", PROJ},
    {"X-Sdk-Date", "20250102T030405Z"},
    {"User-Agent", "nodeherd/0.1"},
};

static void test_huawei_C1_list_nodes(void **state)
{
    (void)state;
    struct nh_sign_req r = {
        .method = "GET", .path = CCE_BASE, .headers = cce_headers, .n_headers = N(cce_headers)};
    eq_free(nh_huawei_canonical(&r, hw_min), "GET\n" CCE_BASE "/\n\n"
                                             "host:" CCE_HOST "\n"
                                             "x-project-id:" PROJ "\n"
                                             "x-sdk-date:20250102T030405Z\n"
                                             "\n" HW_SIGNED "\n" EMPTY_SHA);
    eq_free(nh_huawei_string_to_sign(&r, hw_min),
            "SDK-HMAC-SHA256\n20250102T030405Z\n"
            "6c94113bc9786ef842afd0f49d22871957d0a80955439303cc73d662470e8c08");
    eq_free(nh_huawei_authorization(&r, hw_min, "testid", SK, SKL),
            "SDK-HMAC-SHA256 Access=testid, SignedHeaders=" HW_SIGNED
            ", Signature=02b71f57a48179ac97ce3da48ab18aec3d314945f20977b930487603799144ae");
}

static const char c2_body[] =
    "{\"apiVersion\":\"v3\",\"kind\":\"RemoveNodesTask\",\"spec\":{\"login\":{\"sshKey\":"
    "\"KeyPair-001\"},\"nodes\":[{\"uid\":\"a1b2c3d4-0000-4000-8000-000000000001\"},{\"uid\":"
    "\"a1b2c3d4-0000-4000-8000-000000000002\"}]}}";

static void test_huawei_C2_remove_node_body(void **state)
{
    (void)state;
    assert_int_equal(strlen(c2_body), 190);
    struct nh_sign_req r = {.method = "PUT",
                            .path = CCE_BASE "/operation/remove",
                            .headers = cce_headers,
                            .n_headers = N(cce_headers),
                            .body = c2_body,
                            .body_len = strlen(c2_body)};
    eq_free(nh_huawei_canonical(&r, hw_min),
            "PUT\n" CCE_BASE "/operation/remove/\n\n"
            "host:" CCE_HOST "\n"
            "x-project-id:" PROJ "\n"
            "x-sdk-date:20250102T030405Z\n"
            "\n" HW_SIGNED "\n"
            "d1a110203a592200ef0c5d9662d8273cb359b3041d0b9c2b643f007b3c0ebb5a");
    eq_free(nh_huawei_string_to_sign(&r, hw_min),
            "SDK-HMAC-SHA256\n20250102T030405Z\n"
            "ee572070496ceab45dd9ddf39ef3d01af0826536f6350809da11ff320cc7e1d5");
    eq_free(nh_huawei_authorization(&r, hw_min, "testid", SK, SKL),
            "SDK-HMAC-SHA256 Access=testid, SignedHeaders=" HW_SIGNED
            ", Signature=ba9832ded821d2cad35ca4026b02f7832c63a8f296f089c7b76cc9b3675afa8a");
}

static void test_huawei_C3_delete_with_query(void **state)
{
    (void)state;
    const struct nh_kv q[] = {{"nodepoolScaleDown", "NoScaleDown"}};
    struct nh_sign_req r = {.method = "DELETE",
                            .path = CCE_BASE "/a1b2c3d4-0000-4000-8000-000000000003",
                            .query = q,
                            .n_query = 1,
                            .headers = cce_headers,
                            .n_headers = N(cce_headers)};
    eq_free(nh_huawei_canonical(&r, hw_min),
            "DELETE\n" CCE_BASE "/a1b2c3d4-0000-4000-8000-000000000003/\n"
            "nodepoolScaleDown=NoScaleDown\n"
            "host:" CCE_HOST "\n"
            "x-project-id:" PROJ "\n"
            "x-sdk-date:20250102T030405Z\n"
            "\n" HW_SIGNED "\n" EMPTY_SHA);
    eq_free(nh_huawei_string_to_sign(&r, hw_min),
            "SDK-HMAC-SHA256\n20250102T030405Z\n"
            "6599fed1dae8d33c2c71190363425f12549ec17938958ceade773b868a9dbd54");
    eq_free(nh_huawei_authorization(&r, hw_min, "testid", SK, SKL),
            "SDK-HMAC-SHA256 Access=testid, SignedHeaders=" HW_SIGNED
            ", Signature=9c9f6521550a67728816aebacf07ce579fdcf175257478640e49734b102451ae");
}

static void test_huawei_C4_modelarts_merge_patch(void **state)
{
    (void)state;
    static const char body[] =
        "{\"spec\":{\"resources\":{\"flavor\":\"modelarts.vm.2u4g.dcc\",\"count\":3,"
        "\"maxCount\":3}}}";
    assert_int_equal(strlen(body), 80);
    const struct nh_kv h[] = {
        {"Host", "modelarts.cn-north-4.myhuaweicloud.com"},
        {"Content-Type", "application/merge-patch+json"},
        {"X-Project-Id", PROJ},
        {"X-Sdk-Date", "20250102T030405Z"},
    };
    struct nh_sign_req r = {.method = "PATCH",
                            .path = "/v2/" PROJ "/pools/pool-abc/nodepools/nodepool-1",
                            .headers = h,
                            .n_headers = N(h),
                            .body = body,
                            .body_len = strlen(body)};
    eq_free(nh_huawei_canonical(&r, hw_min),
            "PATCH\n/v2/" PROJ "/pools/pool-abc/nodepools/nodepool-1/\n\n"
            "host:modelarts.cn-north-4.myhuaweicloud.com\n"
            "x-project-id:" PROJ "\n"
            "x-sdk-date:20250102T030405Z\n"
            "\n" HW_SIGNED "\n"
            "1544f3a4f6d57161e9df70bbe7853b9a354a0b2e558bc58d812fe626fe058ba0");
    eq_free(nh_huawei_string_to_sign(&r, hw_min),
            "SDK-HMAC-SHA256\n20250102T030405Z\n"
            "dd6062296e724aeb17a87501badecfe939d62beaaf1a284b1f259d04b0398026");
    eq_free(nh_huawei_authorization(&r, hw_min, "testid", SK, SKL),
            "SDK-HMAC-SHA256 Access=testid, SignedHeaders=" HW_SIGNED
            ", Signature=2c09844ebad283ae10939b2ed53a6d19e1ee9ec3073c6fa170c064f16d258d39");
}

static const char *const hw_date_only[] = {"x-sdk-date", NULL};
static const unsigned char P_SK[] = "SecretKey";

static void test_huawei_P4_go_sdk_vector(void **state)
{
    (void)state;
    const struct nh_kv q[] = {{"limit", "1"}};
    const struct nh_kv h[] = {
        {"Host", "example.huaweicloud.com"},
        {"X-Sdk-Date", "20060102T150405Z"},
        {"TEST_UNDERSCORE", "TEST_VALUE"},
    };
    struct nh_sign_req r = {.method = "GET",
                            .path = "/path",
                            .query = q,
                            .n_query = 1,
                            .headers = h,
                            .n_headers = N(h)};
    eq_free(nh_huawei_authorization(&r, hw_date_only, "AccessKey", P_SK, sizeof(P_SK) - 1),
            "SDK-HMAC-SHA256 Access=AccessKey, SignedHeaders=x-sdk-date, "
            "Signature=5a2ce64c865e0e6046321c6f3d5a77ba8413eeaf355c3166c03d58d02ac79624");
}

static void test_huawei_P5_body_with_trailing_newline(void **state)
{
    (void)state;
    static const char body[] = "{\"Name\":\"test\",\"Id\":1}\n";
    assert_int_equal(strlen(body), 23);
    const struct nh_kv q[] = {{"key", "value"}};
    const struct nh_kv h[] = {
        {"Host", "example.huaweicloud.com"},
        {"Content-Type", "application/json"},
        {"X-Sdk-Date", "20060102T150405Z"},
        {"TEST_UNDERSCORE", "TEST_VALUE"},
    };
    struct nh_sign_req r = {.method = "POST",
                            .path = "/path",
                            .query = q,
                            .n_query = 1,
                            .headers = h,
                            .n_headers = N(h),
                            .body = body,
                            .body_len = strlen(body)};
    eq_free(nh_huawei_authorization(&r, hw_date_only, "AccessKey", P_SK, sizeof(P_SK) - 1),
            "SDK-HMAC-SHA256 Access=AccessKey, SignedHeaders=x-sdk-date, "
            "Signature=cecc2af119b18ab70b4d094c0750f3b42c02f254903179a0fc2cc72fc9db4f59");
    /* the body bytes are what is signed: without the newline it differs */
    r.body_len--;
    char *a = nh_huawei_authorization(&r, hw_date_only, "AccessKey", P_SK, sizeof(P_SK) - 1);
    assert_non_null(a);
    assert_null(strstr(a, "cecc2af119b18ab70b4d094c0750f3b42c02f254903179a0fc2cc72fc9db4f59"));
    free(a);
}

static void test_huawei_P6_query_repeated_keys_sorted(void **state)
{
    (void)state;
    const struct nh_kv q[] = {
        {"multi", "3"},     {"limit", "1"},
        {"multi", "1"},     {"test", "\xe4\xb8\x80 (&=?!#%.*)"},
        {"enable", "true"}, {"path", "/tmp/123"},
        {"multi", "2"},
    };
    eq_free(nh_huawei_query(q, N(q)),
            "enable=true&limit=1&multi=1&multi=2&multi=3&path=%2Ftmp%2F123&test=%E4%B8%80%20%28%"
            "26%3D%3F%21%23%25.%2A%29");
    /* keys needing escaping are encoded too */
    const struct nh_kv q2[] = {{"a b", "c"}, {"a", "\xff"}};
    eq_free(nh_huawei_query(q2, N(q2)), "a=%FF&a%20b=c");
}

static void test_huawei_P7_api_guide_vector(void **state)
{
    (void)state;
    static const unsigned char sk[] = "your_secret_access_key";
    static const char *const names[] = {"content-type", "host", "x-sdk-date", NULL};
    const struct nh_kv q[] = {{"marker", "13551d6b-755d-4757-b956-536f674975c0"}, {"limit", "2"}};
    const struct nh_kv h[] = {
        {"Content-Type", "application/json"},
        {"Host", "service.region.example.com"},
        {"X-Sdk-Date", "20191115T033655Z"},
    };
    struct nh_sign_req r = {.method = "GET",
                            .path = "/v1/77b6a44cba5143ab91d13ab9a8ff44fd/vpcs",
                            .query = q,
                            .n_query = N(q),
                            .headers = h,
                            .n_headers = N(h)};
    eq_free(
        nh_huawei_authorization(&r, names, "your_access_key_id", sk, sizeof(sk) - 1),
        "SDK-HMAC-SHA256 Access=your_access_key_id, SignedHeaders=content-type;host;x-sdk-date, "
        "Signature=8037a231336d8904f667c082dd84fc06d7e6c7c278c2d8599db31d14e8ee19f9");
}

static void test_huawei_default_signed_set(void **state)
{
    (void)state;
    struct nh_sign_req r = {
        .method = "GET", .path = CCE_BASE, .headers = cce_headers, .n_headers = N(cce_headers)};
    /* default: content-type (sent), host, x-project-id, x-sdk-date; never user-agent */
    eq_free(nh_huawei_canonical(&r, NULL), "GET\n" CCE_BASE "/\n\n"
                                           "content-type:application/json\n"
                                           "host:" CCE_HOST "\n"
                                           "x-project-id:" PROJ "\n"
                                           "x-sdk-date:20250102T030405Z\n"
                                           "\ncontent-type;" HW_SIGNED "\n" EMPTY_SHA);
    char *a = nh_huawei_authorization(&r, NULL, "testid", SK, SKL);
    assert_non_null(a);
    assert_non_null(strstr(a, ", SignedHeaders=content-type;" HW_SIGNED ", Signature="));
    free(a);
    /* without content-type, with a security token */
    const struct nh_kv h[] = {
        {"Host", CCE_HOST},
        {"X-Security-Token", "tok"},
        {"X-Project-Id", PROJ},
        {"X-Sdk-Date", "20250102T030405Z"},
    };
    r.headers = h;
    r.n_headers = N(h);
    eq_free(nh_huawei_canonical(&r, NULL), "GET\n" CCE_BASE "/\n\n"
                                           "host:" CCE_HOST "\n"
                                           "x-project-id:" PROJ "\n"
                                           "x-sdk-date:20250102T030405Z\n"
                                           "x-security-token:tok\n"
                                           "\n" HW_SIGNED ";x-security-token\n" EMPTY_SHA);
    /* the default set needs x-project-id */
    const struct nh_kv h2[] = {{"Host", CCE_HOST}, {"X-Sdk-Date", "20250102T030405Z"}};
    r.headers = h2;
    r.n_headers = N(h2);
    assert_null(nh_huawei_canonical(&r, NULL));
}

static void test_huawei_path_decoded_then_encoded_non_ascii_and_port(void **state)
{
    (void)state;
    const struct nh_kv h[] = {{"Host", "127.0.0.1:8443"}, {"X-Sdk-Date", "20250102T030405Z"}};
    static const char *const names[] = {"host", "x-sdk-date", NULL};
    struct nh_sign_req r = {
        .method = "GET", .path = "/v1/%E6%95%B0/a%20b/", .headers = h, .n_headers = N(h)};
    eq_free(nh_huawei_canonical(&r, names), "GET\n/v1/%E6%95%B0/a%20b/\n\n"
                                            "host:127.0.0.1:8443\n"
                                            "x-sdk-date:20250102T030405Z\n"
                                            "\nhost;x-sdk-date\n" EMPTY_SHA);
    /* raw non-ASCII bytes and lower-case escapes come out the same */
    r.path = "/v1/\xe6\x95\xb0/a%20b";
    eq_free(nh_huawei_canonical(&r, names), "GET\n/v1/%E6%95%B0/a%20b/\n\n"
                                            "host:127.0.0.1:8443\n"
                                            "x-sdk-date:20250102T030405Z\n"
                                            "\nhost;x-sdk-date\n" EMPTY_SHA);
    r.path = "/v1/%e6%95%b0/a%20b";
    char *c = nh_huawei_canonical(&r, names);
    assert_non_null(c);
    assert_non_null(strstr(c, "\n/v1/%E6%95%B0/a%20b/\n"));
    free(c);
    r.path = "";
    c = nh_huawei_canonical(&r, names);
    assert_non_null(c);
    assert_non_null(strstr(c, "GET\n/\n"));
    free(c);
    /* malformed escapes */
    static const char *const bad[] = {"/v1/%", "/v1/%4", "/v1/%zz", "/v1/%00x"};
    for (size_t i = 0; i < N(bad); i++) {
        r.path = bad[i];
        assert_null(nh_huawei_canonical(&r, names));
    }
}

static void test_huawei_refusals_and_unsigned_payload(void **state)
{
    (void)state;
    struct nh_sign_req r = {
        .method = "GET", .path = CCE_BASE, .headers = cce_headers, .n_headers = N(cce_headers)};
    static const char *const no_date[] = {"host", NULL};
    static const char *const missing[] = {"x-sdk-date", "x-security-token", NULL};
    static const char *const twice[] = {"x-sdk-date", "host", "host", NULL};
    assert_null(nh_huawei_canonical(&r, no_date));
    assert_null(nh_huawei_canonical(&r, missing));
    assert_null(nh_huawei_canonical(&r, twice));
    assert_null(nh_huawei_authorization(&r, no_date, "testid", SK, SKL));
    /* duplicate names */
    const struct nh_kv dup[] = {{"X-Sdk-Date", "20250102T030405Z"},
                                {"x-sdk-date", "20250102T030406Z"}};
    r.headers = dup;
    r.n_headers = 2;
    assert_null(nh_huawei_canonical(&r, hw_date_only));
    /* X-Sdk-Content-Sha256 replaces the body hash, as APIG does */
    const struct nh_kv un[] = {{"X-Sdk-Date", "20250102T030405Z"},
                               {"X-Sdk-Content-Sha256", "UNSIGNED-PAYLOAD"}};
    r.headers = un;
    r.n_headers = 2;
    r.body = "{}";
    r.body_len = 2;
    eq_free(nh_huawei_canonical(&r, hw_date_only),
            "GET\n" CCE_BASE "/\n\nx-sdk-date:20250102T030405Z\n\nx-sdk-date\nUNSIGNED-PAYLOAD");
}

/* ---------------- dates, nonce ---------------- */

static void test_dates_formats(void **state)
{
    (void)state;
    char a[32], b[40], c[32];
    nh_date_acs3(1735787045LL, a);
    nh_date_rfc1123(1735787045LL, b);
    nh_date_huawei(1735787045LL, c);
    assert_string_equal(a, DATE_ACS);
    assert_string_equal(b, DATE_GMT);
    assert_string_equal(c, "20250102T030405Z");
    nh_date_huawei(1136214245LL, c);
    assert_string_equal(c, "20060102T150405Z");
    nh_date_rfc1123(0, b);
    assert_string_equal(b, "Thu, 01 Jan 1970 00:00:00 GMT");
    nh_date_rfc1123(1573789015LL, b);
    assert_string_equal(b, "Fri, 15 Nov 2019 03:36:55 GMT");
    nh_date_acs3(400000000000LL, a); /* year > 9999 */
    assert_string_equal(a, "");
}

static void test_nonce_is_32_lower_hex_and_fresh(void **state)
{
    (void)state;
    char a[33], b[33];
    assert_int_equal(nh_nonce(a), 0);
    assert_int_equal(nh_nonce(b), 0);
    assert_int_equal(strlen(a), 32);
    assert_int_equal(strspn(a, "0123456789abcdef"), 32);
    assert_string_not_equal(a, b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pct_table_matches_spec),
        cmocka_unit_test(test_pct_every_byte_upper_hex_and_embedded_nul),
        cmocka_unit_test(test_digests_known_constants),
        cmocka_unit_test(test_acs3_A1_describe_cluster_nodes),
        cmocka_unit_test(test_acs3_header_case_and_whitespace_do_not_change_signature),
        cmocka_unit_test(test_acs3_A2_remove_node_pool_nodes),
        cmocka_unit_test(test_acs3_A3_json_body_signs_content_type),
        cmocka_unit_test(test_acs3_P1_published_vector),
        cmocka_unit_test(test_acs3_host_with_port_empty_query_empty_body),
        cmocka_unit_test(test_acs3_query_sorted_bytewise_and_repeated),
        cmocka_unit_test(test_acs3_refuses_bad_input),
        cmocka_unit_test(test_signatures_never_contain_the_secret),
        cmocka_unit_test(test_roa_B1_scale_cluster),
        cmocka_unit_test(test_roa_B2_describe_cluster_nodes),
        cmocka_unit_test(test_roa_B3_raw_value_in_resource),
        cmocka_unit_test(test_roa_P2_hmac_sha1_vector),
        cmocka_unit_test(test_roa_P3_string_to_sign_vector),
        cmocka_unit_test(test_roa_refuses_ambiguous_query_values),
        cmocka_unit_test(test_huawei_C1_list_nodes),
        cmocka_unit_test(test_huawei_C2_remove_node_body),
        cmocka_unit_test(test_huawei_C3_delete_with_query),
        cmocka_unit_test(test_huawei_C4_modelarts_merge_patch),
        cmocka_unit_test(test_huawei_P4_go_sdk_vector),
        cmocka_unit_test(test_huawei_P5_body_with_trailing_newline),
        cmocka_unit_test(test_huawei_P6_query_repeated_keys_sorted),
        cmocka_unit_test(test_huawei_P7_api_guide_vector),
        cmocka_unit_test(test_huawei_default_signed_set),
        cmocka_unit_test(test_huawei_path_decoded_then_encoded_non_ascii_and_port),
        cmocka_unit_test(test_huawei_refusals_and_unsigned_payload),
        cmocka_unit_test(test_dates_formats),
        cmocka_unit_test(test_nonce_is_32_lower_hex_and_fresh),
    };
    return cmocka_run_group_tests_name("sign", tests, NULL, NULL);
}
