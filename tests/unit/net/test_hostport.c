/* test_hostport.c - the one "host:port" parser (util/hostport.h): IPv6 in
 * brackets, the port range, what each caller's flags accept, and a message
 * for every refusal. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <string.h>

#include "util/hostport.h"

#define NEED NH_HOSTPORT_NEED_PORT
#define EMPTY NH_HOSTPORT_EMPTY_HOST

static void test_accepts(void **state)
{
    (void)state;
    static const struct {
        const char *in;
        unsigned flags;
        const char *host;
        bool v6, has_port;
        unsigned port;
    } ok[] = {
        {"127.0.0.1:9464", NEED, "127.0.0.1", false, true, 9464},
        {"localhost:0", NEED, "localhost", false, true, 0},
        {"example.com:65535", NEED, "example.com", false, true, 65535},
        {"example.com:00080", NEED, "example.com", false, true, 80},
        {":9464", NEED | EMPTY, "", false, true, 9464},
        {"[::1]:9464", NEED, "::1", true, true, 9464},
        {"[fd00::1:2]:1", NEED, "fd00::1:2", true, true, 1},
        {"[::ffff:127.0.0.1]:80", NEED, "::ffff:127.0.0.1", true, true, 80},
        {"example.com", 0, "example.com", false, false, 0},
        {"[::1]", 0, "::1", true, false, 0},
        {"Host.Example", 0, "Host.Example", false, false, 0},
    };
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        struct nh_hostport hp;
        const char *why = NULL;
        int r = nh_hostport_parse(ok[i].in, ok[i].flags, &hp, &why);
        if (r != 0)
            fail_msg("\"%s\" refused: %s", ok[i].in, why);
        assert_string_equal(hp.host, ok[i].host);
        assert_int_equal(hp.v6, ok[i].v6);
        assert_int_equal(hp.has_port, ok[i].has_port);
        assert_int_equal(hp.port, ok[i].port);
    }
}

static void test_refuses_with_reason(void **state)
{
    (void)state;
    static const struct {
        const char *in;
        unsigned flags;
        const char *why;
    } bad[] = {
        {"", 0, "empty"},
        {NULL, 0, "empty"},
        {"127.0.0.1", NEED, "no port"},
        {"[::1]", NEED, "no port"},
        {":80", NEED, "no host"},
        {":80", 0, "no host"},
        {"127.0.0.1:", 0, "0..65535"},
        {"127.0.0.1:65536", 0, "0..65535"},
        {"127.0.0.1:99999", 0, "0..65535"},
        {"127.0.0.1:123456", 0, "0..65535"},
        {"127.0.0.1:-1", 0, "0..65535"},
        {"127.0.0.1:+1", 0, "0..65535"},
        {"127.0.0.1:80x", 0, "0..65535"},
        {"127.0.0.1: 80", 0, "0..65535"},
        {"[::1]:", 0, "0..65535"},
        {"[::1]:70000", 0, "0..65535"},
        {"::1", 0, "brackets"},
        {"::1:80", 0, "brackets"},
        {"fd00::1", NEED, "brackets"},
        {"[::1", 0, "unclosed"},
        {"[::1:80", 0, "unclosed"},
        {"[::1]80", 0, "unclosed"},
        {"[::1]x:80", 0, "unclosed"},
        {"[]:80", 0, "not an IPv6"},
        {"[nope]:80", 0, "not an IPv6"},
        {"[127.0.0.1]:80", 0, "not an IPv6"},
        {"[fd00::1%eth0]:80", 0, "not an IPv6"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct nh_hostport hp;
        const char *why = NULL;
        int r = nh_hostport_parse(bad[i].in, bad[i].flags, &hp, &why);
        if (r != -EINVAL || why == NULL || strstr(why, bad[i].why) == NULL)
            fail_msg("\"%s\": r=%d why=\"%s\", wanted \"%s\"", bad[i].in ? bad[i].in : "(null)", r,
                     why ? why : "(none)", bad[i].why);
    }
    /* a host of 255 bytes fits, 256 does not; why may be NULL */
    char big[300];
    struct nh_hostport hp;
    memset(big, 'a', 255);
    strcpy(big + 255, ":1");
    assert_int_equal(nh_hostport_parse(big, NEED, &hp, NULL), 0);
    assert_int_equal(strlen(hp.host), 255);
    memset(big, 'a', 256);
    strcpy(big + 256, ":1");
    assert_int_equal(nh_hostport_parse(big, NEED, &hp, NULL), -EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_accepts),
        cmocka_unit_test(test_refuses_with_reason),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
