/* test_config_ha.c - the ha: section: defaults, every key, and the errors
 * (each at FILE:LINE:COL with the fix). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "config/config.h"

/* Lines 1-9; ha: is on line 10. */
#define BASE                                                                                       \
    "providers:\n"                                                                                 \
    "  ack:\n"                                                                                     \
    "    kind: aliyun-ack\n"                                                                       \
    "    region: cn-hangzhou\n"                                                                    \
    "    credentials:\n"                                                                           \
    "      access_key_id: { env: NHT_AK }\n"                                                       \
    "      access_key_secret: { env: NHT_SK }\n"                                                   \
    "clusters: []\n"                                                                               \
    "# ha follows\n"

static int setup(void **state)
{
    (void)state;
    setenv("NHT_AK", "ak", 1);
    setenv("NHT_SK", "sk", 1);
    setenv("NHT_EU", "etcd-user", 1);
    setenv("NHT_EP", "etcd-pass", 1);
    return 0;
}

static struct nh_config *load_ok(const char *y)
{
    struct nh_config *cfg = NULL;
    struct nh_diag d;
    nh_diag_init(&d);
    int r = nh_config_load_buffer("ha.yaml", y, strlen(y), &cfg, &d);
    if (r != 0)
        fail_msg("expected valid, got %d: %s", r, d.n ? d.entries[0].msg : "");
    nh_diag_free(&d);
    return cfg;
}

/* Expects exactly one error at line:col containing `want`. */
static void load_bad(const char *y, int line, int col, const char *want)
{
    struct nh_config *cfg = NULL;
    struct nh_diag d;
    nh_diag_init(&d);
    assert_int_equal(nh_config_load_buffer("ha.yaml", y, strlen(y), &cfg, &d), -EINVAL);
    assert_null(cfg);
    assert_int_equal(d.n_errors, 1);
    if (d.entries[0].line != line || d.entries[0].col != col ||
        strstr(d.entries[0].msg, want) == NULL)
        fail_msg("got %d:%d %s; want %d:%d ...%s...", d.entries[0].line, d.entries[0].col,
                 d.entries[0].msg, line, col, want);
    nh_diag_free(&d);
}

static void test_absent_means_single(void **state)
{
    (void)state;
    struct nh_config *cfg = load_ok(BASE);
    assert_false(cfg->ha.enabled);
    assert_int_equal(cfg->ha.n_endpoints, 0);
    nh_config_unref(cfg);
}

static void test_defaults(void **state)
{
    (void)state;
    struct nh_config *cfg = load_ok(BASE "ha:\n"
                                         "  etcd:\n"
                                         "    endpoints: [http://127.0.0.1:2379/]\n");
    assert_true(cfg->ha.enabled);
    assert_null(cfg->ha.name);
    assert_int_equal(cfg->ha.n_endpoints, 1);
    assert_string_equal(cfg->ha.endpoints[0], "http://127.0.0.1:2379"); /* slash dropped */
    assert_string_equal(cfg->ha.prefix, "/nodeherd/");
    assert_int_equal(cfg->ha.lease_ttl_ms, 15000);
    assert_int_equal(cfg->ha.poll_interval_ms, 1000);
    assert_int_equal(cfg->ha.timeout_ms, 2000);
    assert_null(cfg->ha.username);
    assert_null(cfg->ha.ca_file);
    assert_int_equal(cfg->ha.line, 10);
    nh_config_unref(cfg);
}

static void test_every_key(void **state)
{
    (void)state;
    struct nh_config *cfg = load_ok(
        BASE "ha:\n"
             "  name: node-a\n"
             "  etcd:\n"
             "    endpoints: [https://etcd-1:2379, https://etcd-2:2379, \"http://[::1]:2379\"]\n"
             "    prefix: /nodeherd/prod/\n"
             "    lease_ttl: 10s\n"
             "    poll_interval: 2s\n"
             "    timeout: 1500ms\n"
             "    username: { env: NHT_EU }\n"
             "    password: { env: NHT_EP }\n"
             "    ca_file: /etc/ssl/etcd-ca.pem\n");
    assert_string_equal(cfg->ha.name, "node-a");
    assert_int_equal(cfg->ha.n_endpoints, 3);
    assert_string_equal(cfg->ha.endpoints[1], "https://etcd-2:2379");
    assert_string_equal(cfg->ha.endpoints[2], "http://[::1]:2379");
    assert_string_equal(cfg->ha.prefix, "/nodeherd/prod/");
    assert_int_equal(cfg->ha.lease_ttl_ms, 10000);
    assert_int_equal(cfg->ha.poll_interval_ms, 2000);
    assert_int_equal(cfg->ha.timeout_ms, 1500);
    size_t n;
    const unsigned char *b = nh_secret_bytes(cfg->ha.password, &n);
    assert_int_equal(n, 9);
    assert_memory_equal(b, "etcd-pass", 9);
    assert_string_equal(nh_secret_describe(cfg->ha.username), "env NHT_EU");
    assert_string_equal(cfg->ha.ca_file, "/etc/ssl/etcd-ca.pem");
    nh_config_unref(cfg);
}

static void test_errors(void **state)
{
    (void)state;
    load_bad(BASE "ha: {}\n", 10, 5, "missing required key \"etcd\"");
    load_bad(BASE "ha:\n  etcd: {}\n", 11, 9, "missing required key \"endpoints\"");
    load_bad(BASE "ha:\n  etcd:\n    endpoints: []\n", 12, 5, "non-empty list");
    load_bad(BASE "ha:\n  etcd:\n    endpoints: [http://10.0.0.5:2379]\n", 12, 17,
             "only allowed for 127.0.0.0/8");
    load_bad(BASE "ha:\n  etcd:\n    endpoints: [https://e:2379/v3]\n", 12, 17, "no path");
    load_bad(BASE "ha:\n  etcd:\n    endpoints: [https://e]\n    prefix: nodeherd\n", 13, 5,
             "starts and ends with \"/\"");
    load_bad(BASE "ha:\n  etcd:\n    endpoints: [https://e]\n    lease_ttl: 1s\n", 13, 5,
             "expected a duration 2s..5m");
    load_bad(BASE "ha:\n  etcd:\n    endpoints: [https://e]\n    lease_ttl: 4s\n"
                  "    poll_interval: 3s\n",
             14, 5, "at most lease_ttl / 2");
    load_bad(BASE "ha:\n  etcd:\n    endpoints: [https://e]\n    timeout: 10s\n", 13, 5,
             "a fence could outlive the lease");
    load_bad(BASE "ha:\n  etcd:\n    endpoints: [https://e]\n    username: { env: NHT_EU }\n", 13,
             5, "give username and password together");
    load_bad(BASE "ha:\n  etcd:\n    endpoints: [https://e]\n    password: etcd-pass\n", 13, 5,
             "inline secrets are not allowed");
    load_bad(BASE "ha:\n  nmae: x\n  etcd:\n    endpoints: [https://e]\n", 11, 3,
             "did you mean \"name\"");
}

static void test_password_never_echoed(void **state)
{
    (void)state;
    const char *y = BASE "ha:\n  etcd:\n    endpoints: [https://e]\n"
                         "    username: { env: NHT_EU }\n    password: Hunter2-secret\n";
    struct nh_config *cfg = NULL;
    struct nh_diag d;
    nh_diag_init(&d);
    assert_int_equal(nh_config_load_buffer("ha.yaml", y, strlen(y), &cfg, &d), -EINVAL);
    for (size_t i = 0; i < d.n; i++)
        assert_null(strstr(d.entries[i].msg, "Hunter2"));
    nh_diag_free(&d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_absent_means_single),
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_every_key),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_password_never_echoed),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
