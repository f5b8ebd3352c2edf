/* test_duration.c - duration parsing and shortest formatting. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "config/config.h"

static void test_duration_parse_units_and_combinations(void **state)
{
    (void)state;
    static const struct {
        const char *in;
        uint64_t ms;
    } ok[] = {
        {"250ms", 250},     {"30s", 30000},         {"5m", 300000},    {"1h", 3600000},
        {"1h30m", 5400000}, {"1m30s", 90000},       {"1s500ms", 1500}, {"0s", 0},
        {"48h", 172800000}, {"1h1m1s1ms", 3661001}, {"100ms", 100},
    };
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        uint64_t ms = 12345;
        assert_int_equal(nh_duration_parse(ok[i].in, &ms), 0);
        assert_true(ms == ok[i].ms);
    }
}

static void test_duration_parse_rejects_malformed(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "",    "30",  "s",     "1.5s", "-1s",  "+1s", " 1s", "1s ", "1d",  "1H",
        "1 s", "1sm", "30m1h", "1s1s", "1m1m", "ms",  "1us", "1hh", "1h_", "0x10s",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        uint64_t ms = 777;
        assert_int_equal(nh_duration_parse(bad[i], &ms), -EINVAL);
        assert_true(ms == 777); /* untouched on failure */
    }
    uint64_t ms;
    assert_int_equal(nh_duration_parse(NULL, &ms), -EINVAL);
}

static void test_duration_parse_overflow_is_erange(void **state)
{
    (void)state;
    uint64_t ms;
    assert_int_equal(nh_duration_parse("99999999999999999999ms", &ms), -ERANGE);
    assert_int_equal(nh_duration_parse("18446744073709551615h", &ms), -ERANGE);
    assert_int_equal(nh_duration_parse("5124095576030431h", &ms), -ERANGE); /* * 3600000 */
    /* each term fits, the sum does not */
    assert_int_equal(nh_duration_parse("5124095576030h18446744073709551615ms", &ms), -ERANGE);
    assert_int_equal(nh_duration_parse("18446744073709551615ms", &ms), 0);
    assert_true(ms == UINT64_MAX);
}

static void test_duration_format_shortest(void **state)
{
    (void)state;
    static const struct {
        uint64_t ms;
        const char *out;
    } cases[] = {
        {0, "0s"},         {250, "250ms"},        {1000, "1s"},      {1500, "1500ms"},
        {30000, "30s"},    {60000, "1m"},         {90000, "90s"},    {3600000, "1h"},
        {5400000, "90m"},  {3661001, "61m1s1ms"}, {86400000, "24h"}, {3660000, "61m"},
        {7260000, "2h1m"}, {36000000, "10h"},
    };
    char buf[32];
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        assert_string_equal(nh_duration_format(cases[i].ms, buf, sizeof(buf)), cases[i].out);
    /* too small a buffer: NULL, not a truncated lie */
    char tiny[3];
    assert_null(nh_duration_format(250, tiny, sizeof(tiny)));
    char five[5];
    assert_string_equal(nh_duration_format(25, five, sizeof(five)), "25ms");
    assert_null(nh_duration_format(25, five, 4));
}

static void test_duration_format_parse_roundtrip(void **state)
{
    (void)state;
    char buf[64];
    uint64_t x = 1;
    for (int i = 0; i < 5000; i++) {
        x = x * 6364136223846793005ULL + 1442695040888963407ULL; /* LCG */
        uint64_t ms = (i % 3 == 0)   ? (x >> 20)
                      : (i % 3 == 1) ? (x >> 40) * 1000
                                     : (x >> 44) * 60000;
        const char *s = nh_duration_format(ms, buf, sizeof(buf));
        assert_non_null(s);
        uint64_t back = 0;
        assert_int_equal(nh_duration_parse(s, &back), 0);
        assert_true(back == ms);
    }
    const char *s = nh_duration_format(UINT64_MAX, buf, sizeof(buf));
    assert_non_null(s);
    uint64_t back;
    assert_int_equal(nh_duration_parse(s, &back), 0);
    assert_true(back == UINT64_MAX);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_duration_parse_units_and_combinations),
        cmocka_unit_test(test_duration_parse_rejects_malformed),
        cmocka_unit_test(test_duration_parse_overflow_is_erange),
        cmocka_unit_test(test_duration_format_shortest),
        cmocka_unit_test(test_duration_format_parse_roundtrip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
