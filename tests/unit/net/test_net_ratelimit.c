/* test_net_ratelimit.c - token bucket, AIMD, backoff, retry hints, verdicts,
 * URL checks: pure functions with an injected clock. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "net/client.h"
#include "net/http.h"
#include "net/ratelimit.h"

static void test_bucket_burst_then_waits(void **state)
{
    (void)state;
    struct nh_bucket b;
    nh_bucket_init(&b, 2.0, 4, 1000);
    for (int i = 0; i < 4; i++)
        assert_int_equal(nh_bucket_take(&b, 1000), 0);
    assert_int_equal(nh_bucket_take(&b, 1000), 500); /* 2 qps: next token in 500 ms */
    assert_int_equal(nh_bucket_take(&b, 1200), 300);
    assert_int_equal(nh_bucket_take(&b, 1500), 0);
    assert_int_equal(nh_bucket_take(&b, 1500), 500);
}

static void test_bucket_sustained_rate_matches_qps(void **state)
{
    (void)state;
    struct nh_bucket b;
    nh_bucket_init(&b, 10.0, 1, 0);
    int taken = 0;
    for (uint64_t t = 0; t < 10000; t++) /* 10 s, asked every ms */
        if (nh_bucket_take(&b, t) == 0)
            taken++;
    /* 1 initial token + 10 per second for 9.999 s */
    assert_in_range(taken, 100, 101);
}

/* What a cloud that counts calls per time window sees, at the bucket's own
 * clock: whatever the mix of waiting, throttling (with and without hints)
 * and recovery, no stretch of time [t_i, t_j] holds more takes than
 * burst + qps * (t_j - t_i). So a limit published as "N calls per W
 * seconds" holds whenever burst + qps * W <= N (nodeherd.yaml(5)). */
static uint64_t prop_rand(uint64_t *s)
{
    uint64_t x = *s;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *s = x;
    return x * 0x2545F4914F6CDD1DULL;
}

/* No stretch [at[i], at[j]] of the sorted times holds more than burst +
 * qps * (at[j] - at[i]). */
static void check_windows(const uint64_t *at, size_t n, unsigned burst, double qps, uint64_t seed)
{
    for (size_t i = 0; i < n; i++) {
        for (size_t j = i; j < n && at[j] - at[i] <= 120000; j++) {
            double allowed = (double)burst + qps * (double)(at[j] - at[i]) / 1000.0;
            if ((double)(j - i + 1) > allowed + 1e-6)
                fail_msg("seed %llu (qps %.1f, burst %u): %zu requests in [%llu, %llu] ms, at "
                         "most %.3f allowed",
                         (unsigned long long)seed, qps, burst, j - i + 1, (unsigned long long)at[i],
                         (unsigned long long)at[j], allowed);
        }
    }
}

#define PROP_TAKES 4000
static void test_bucket_never_sends_more_than_burst_plus_rate_in_any_window(void **state)
{
    (void)state;
    static uint64_t at[PROP_TAKES];
    for (uint64_t seed = 1; seed <= 40; seed++) {
        uint64_t rng = seed * 0x9E3779B97F4A7C15ULL, now = 1000;
        double qps = 0.5 + (double)(prop_rand(&rng) % 400) / 10.0; /* 0.5 .. 40.4 */
        unsigned burst = 1 + (unsigned)(prop_rand(&rng) % 12);
        struct nh_bucket b;
        nh_bucket_init(&b, qps, burst, now);
        size_t n = 0;
        while (n < PROP_TAKES) {
            uint64_t r = prop_rand(&rng) % 100;
            if (r < 3) {
                nh_bucket_throttled(&b, now, prop_rand(&rng) % 2 ? prop_rand(&rng) % 3000 : 0);
            } else if (r < 30) {
                nh_bucket_succeeded(&b, now);
            } else {
                uint64_t wait = nh_bucket_take(&b, now);
                if (wait == 0)
                    at[n++] = now;
                else if (prop_rand(&rng) % 2)
                    now += wait; /* come back exactly when told */
            }
            now += prop_rand(&rng) % 4 == 0 ? prop_rand(&rng) % 400 : 0;
        }
        check_windows(at, n, burst, qps, seed);
    }
}

/* The same property where the cloud counts: at the wire. A token is taken
 * when a call leaves its queue, its request is written when the loop gets
 * to it, sometimes a busy turn later (or never: a connection that fails).
 * With writes tracked, the writes themselves - in whatever order they go -
 * never exceed burst + qps * T in any T. */
struct prop_write {
    uint64_t due;
    bool lost; /* never written: the attempt ended before */
};

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

#define PROP_PENDING 64
static void test_bucket_writes_never_exceed_burst_plus_rate_in_any_window(void **state)
{
    (void)state;
    static uint64_t wrote[PROP_TAKES];
    for (uint64_t seed = 1; seed <= 40; seed++) {
        uint64_t rng = seed * 0x9E3779B97F4A7C15ULL, now = 1000;
        double qps = 0.5 + (double)(prop_rand(&rng) % 400) / 10.0;
        unsigned burst = 1 + (unsigned)(prop_rand(&rng) % 30);
        struct nh_bucket b;
        nh_bucket_init(&b, qps, burst, now);
        nh_bucket_track_writes(&b);
        struct prop_write pend[PROP_PENDING];
        size_t n_pend = 0, n = 0, taken = 0;
        while (taken < PROP_TAKES) {
            /* Writes due by now go first, each at its own time, earliest first. */
            for (;;) {
                size_t k = n_pend;
                for (size_t i = 0; i < n_pend; i++)
                    if (pend[i].due <= now && (k == n_pend || pend[i].due < pend[k].due))
                        k = i;
                if (k == n_pend)
                    break;
                nh_bucket_written(&b, pend[k].due);
                if (!pend[k].lost)
                    wrote[n++] = pend[k].due;
                pend[k] = pend[--n_pend];
            }
            uint64_t r = prop_rand(&rng) % 100;
            if (r < 2) {
                nh_bucket_throttled(&b, now, prop_rand(&rng) % 2 ? prop_rand(&rng) % 3000 : 0);
            } else if (r < 25) {
                nh_bucket_succeeded(&b, now);
            } else if (n_pend < PROP_PENDING) {
                uint64_t wait = nh_bucket_take(&b, now);
                if (wait == 0) {
                    /* Mostly at once; one in eight a busy turn later. */
                    uint64_t lag =
                        prop_rand(&rng) % 8 == 0 ? prop_rand(&rng) % 400 : prop_rand(&rng) % 3;
                    pend[n_pend++] = (struct prop_write){now + lag, prop_rand(&rng) % 20 == 0};
                    taken++;
                } else if (prop_rand(&rng) % 2) {
                    now += wait;
                }
            }
            now += prop_rand(&rng) % 3 == 0 ? prop_rand(&rng) % 200 : 0;
        }
        qsort(wrote, n, sizeof(wrote[0]), cmp_u64);
        check_windows(wrote, n, burst, qps, seed);
    }
}

/* What was measured (contrib/bench/README.md, "Over the limit"): a full
 * burst taken in one busy loop turn goes out 176 ms later, together with
 * the tokens the bucket refilled meanwhile. Untracked, 29 + 26 requests
 * reach the wire within 4 ms; tracked, nothing more is taken until the
 * first ones are written, and the refill starts from there. */
static void test_bucket_late_writes_do_not_add_up(void **state)
{
    (void)state;
    for (int track = 0; track < 2; track++) {
        struct nh_bucket b;
        nh_bucket_init(&b, 150.0, 29, 0);
        if (track)
            nh_bucket_track_writes(&b);
        for (int i = 0; i < 29; i++)
            assert_int_equal(nh_bucket_take(&b, 0), 0);
        int more = 0;
        while (nh_bucket_take(&b, 176) == 0) /* before the 29 are written */
            more++;
        for (int i = 0; i < 29; i++)
            nh_bucket_written(&b, 176);
        assert_int_equal(more, track ? 0 : 26);
        if (track) {
            assert_true(nh_bucket_take(&b, 176) > 0);     /* written at 176: empty */
            assert_int_equal(nh_bucket_take(&b, 183), 0); /* one token 1/150 s later */
        }
    }
}

static void test_bucket_refill_capped_at_burst(void **state)
{
    (void)state;
    struct nh_bucket b;
    nh_bucket_init(&b, 5.0, 3, 0);
    for (int i = 0; i < 3; i++)
        assert_int_equal(nh_bucket_take(&b, 0), 0);
    /* an hour idle gives back only `burst` tokens */
    for (int i = 0; i < 3; i++)
        assert_int_equal(nh_bucket_take(&b, 3600000), 0);
    assert_int_equal(nh_bucket_take(&b, 3600000), 200);
}

static void test_bucket_throttled_halves_and_holds(void **state)
{
    (void)state;
    struct nh_bucket b;
    nh_bucket_init(&b, 8.0, 4, 0);
    nh_bucket_throttled(&b, 1000, 2000);
    assert_true(b.rate == 4.0);
    assert_true(b.tokens == 0.0);
    /* nothing before the hint is over, even though tokens would accrue */
    assert_int_equal(nh_bucket_take(&b, 1000), 2000);
    assert_int_equal(nh_bucket_take(&b, 2999), 1);
    /* at the end of the hold the bucket is empty: one token at 4 qps */
    assert_int_equal(nh_bucket_take(&b, 3000), 250);
    assert_int_equal(nh_bucket_take(&b, 3250), 0);
    assert_int_equal(nh_bucket_take(&b, 3250), 250);
}

static void test_bucket_throttled_floor_is_sixteenth(void **state)
{
    (void)state;
    struct nh_bucket b;
    nh_bucket_init(&b, 16.0, 4, 0);
    for (int i = 0; i < 20; i++)
        nh_bucket_throttled(&b, (uint64_t)i, 0);
    assert_true(b.rate == 1.0);
    assert_true(b.min_rate == 1.0);
}

static void test_bucket_recovers_additively_to_base(void **state)
{
    (void)state;
    struct nh_bucket b;
    nh_bucket_init(&b, 10.0, 4, 0);
    nh_bucket_throttled(&b, 0, 0); /* 5 */
    nh_bucket_throttled(&b, 0, 0); /* 2.5 */
    assert_true(b.rate == 2.5);
    nh_bucket_succeeded(&b, 10);
    assert_true(b.rate > 3.49 && b.rate < 3.51); /* +base/10 per success */
    for (int i = 0; i < 6; i++)
        nh_bucket_succeeded(&b, 10);
    assert_true(b.rate > 9.49 && b.rate < 9.51);
    nh_bucket_succeeded(&b, 10);
    assert_true(b.rate == 10.0); /* never above the configured rate */
    nh_bucket_succeeded(&b, 10);
    assert_true(b.rate == 10.0);
}

static void test_bucket_later_shorter_hint_keeps_longer_hold(void **state)
{
    (void)state;
    struct nh_bucket b;
    nh_bucket_init(&b, 4.0, 4, 0);
    nh_bucket_throttled(&b, 0, 5000);
    nh_bucket_throttled(&b, 100, 100);
    assert_int_equal(b.hold_until_ms, 5000);
    assert_int_equal(nh_bucket_take(&b, 1000), 4000);
}

static void test_backoff_bounds_and_growth(void **state)
{
    (void)state;
    /* rnd = max: the ceiling itself, which doubles per attempt up to the cap */
    assert_int_equal(nh_backoff_ms(0, 1000, 60000, UINT64_MAX), UINT64_MAX % 1001);
    uint64_t prev_ceiling = 0;
    for (unsigned a = 0; a < 10; a++) {
        uint64_t ceiling = 1000ull << a;
        if (ceiling > 60000)
            ceiling = 60000;
        /* rnd = ceiling gives the ceiling exactly; rnd = ceiling+1 wraps to 0 */
        assert_int_equal(nh_backoff_ms(a, 1000, 60000, ceiling), ceiling);
        assert_int_equal(nh_backoff_ms(a, 1000, 60000, ceiling + 1), 0);
        assert_true(ceiling >= prev_ceiling);
        prev_ceiling = ceiling;
    }
    assert_int_equal(nh_backoff_ms(0, 1000, 60000, 0), 0);
}

static void test_backoff_full_jitter_spread(void **state)
{
    (void)state;
    uint64_t x = 88172645463325252ull, lo = UINT64_MAX, hi = 0, sum = 0;
    const int n = 20000;
    for (int i = 0; i < n; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        uint64_t w = nh_backoff_ms(2, 100, 10000, x); /* ceiling 400 */
        assert_true(w <= 400);
        lo = w < lo ? w : lo;
        hi = w > hi ? w : hi;
        sum += w;
    }
    /* full jitter covers the whole range, mean about half the ceiling */
    assert_true(lo < 10);
    assert_true(hi > 390);
    assert_in_range(sum / n, 185, 215);
}

static void test_backoff_huge_attempt_is_capped(void **state)
{
    (void)state;
    assert_int_equal(nh_backoff_ms(200, 1000, 60000, 60000), 60000);
    assert_int_equal(nh_backoff_ms(63, 1000, 60000, 60000), 60000);
    assert_int_equal(nh_backoff_ms(40, 1000, 60000, 59999), 59999);
    assert_true(nh_backoff_ms(62, UINT64_MAX / 2, UINT64_MAX, 12345) == 12345);
}

/* Equal jitter (the executor's failure and throttle waits): [c/2, c]. */
static void test_backoff_equal_jitter(void **state)
{
    (void)state;
    for (unsigned a = 0; a < 12; a++) {
        uint64_t c = 5000ull << a;
        if (c > 600000)
            c = 600000;
        assert_int_equal(nh_backoff_equal_ms(a, 5000, 600000, 0), c / 2);
        assert_int_equal(nh_backoff_equal_ms(a, 5000, 600000, c / 2), c);
        assert_int_equal(nh_backoff_equal_ms(a, 5000, 600000, c / 2 + 1), c / 2);
        for (uint64_t r = 1; r < 100000; r += 997) {
            uint64_t w = nh_backoff_equal_ms(a, 5000, 600000, r * 2654435761u);
            assert_true(w >= c / 2 && w <= c);
        }
    }
    assert_int_equal(nh_backoff_equal_ms(200, 1000, 60000, 0), 30000);
    assert_int_equal(nh_backoff_equal_ms(0, 0, 60000, 7), 0);
    assert_true(nh_backoff_equal_ms(70, 1, UINT64_MAX, UINT64_MAX) >= UINT64_MAX / 2);
}

static void test_retry_after_seconds(void **state)
{
    (void)state;
    assert_int_equal(nh_retry_after_ms("1", 0), 1000);
    assert_int_equal(nh_retry_after_ms(" 120 ", 0), 120000);
    assert_int_equal(nh_retry_after_ms("0", 0), 0);
    assert_int_equal(nh_retry_after_ms("-5", 0), 0);
    assert_int_equal(nh_retry_after_ms("", 0), 0);
    assert_int_equal(nh_retry_after_ms("soon", 0), 0);
    assert_int_equal(nh_retry_after_ms("1.5", 0), 0);
    assert_int_equal(nh_retry_after_ms(NULL, 0), 0);
    assert_true(nh_retry_after_ms("99999999999999999999999", 0) > 0); /* saturates */
}

static void test_retry_after_http_date(void **state)
{
    (void)state;
    /* 784111777 is Sun, 06 Nov 1994 08:49:37 GMT (RFC 9110's example) */
    assert_int_equal(nh_retry_after_ms("Sun, 06 Nov 1994 08:49:37 GMT", 784111777 - 30), 30000);
    assert_int_equal(nh_retry_after_ms("Sun, 06 Nov 1994 08:49:37 GMT", 784111777), 0);
    assert_int_equal(nh_retry_after_ms("Sun, 06 Nov 1994 08:49:37 GMT", 784111777 + 5), 0);
    /* 2000-03-01 crosses a leap day: 951868800 */
    assert_int_equal(nh_retry_after_ms("Wed, 01 Mar 2000 00:00:10 GMT", 951868800), 10000);
    assert_int_equal(nh_retry_after_ms("Sun, 06 Nov 1994 08:49:37 UTC", 0), 0);
    assert_int_equal(nh_retry_after_ms("Sun, 06 Foo 1994 08:49:37 GMT", 0), 0);
    assert_int_equal(nh_retry_after_ms("Sun, 06 Nov 1994 28:49:37 GMT", 0), 0);
}

static void test_acs_retry_after_is_milliseconds(void **state)
{
    (void)state;
    assert_int_equal(nh_acs_retry_after_ms("1500"), 1500);
    assert_int_equal(nh_acs_retry_after_ms(" 20 "), 20);
    assert_int_equal(nh_acs_retry_after_ms("0"), 0);
    assert_int_equal(nh_acs_retry_after_ms("-1"), 0);
    assert_int_equal(nh_acs_retry_after_ms(""), 0);
    assert_int_equal(nh_acs_retry_after_ms("abc"), 0);
    assert_int_equal(nh_acs_retry_after_ms(NULL), 0);
}

static void test_verdict_for_status_general_rules(void **state)
{
    (void)state;
    static const struct {
        int status;
        enum nh_verdict get, mut;
    } rows[] = {
        {200, NH_V_OK, NH_V_OK},         {202, NH_V_OK, NH_V_OK},
        {204, NH_V_OK, NH_V_OK},         {429, NH_V_THROTTLED, NH_V_THROTTLED},
        {500, NH_V_RETRY, NH_V_UNKNOWN}, {502, NH_V_RETRY, NH_V_UNKNOWN},
        {503, NH_V_RETRY, NH_V_UNKNOWN}, {504, NH_V_RETRY, NH_V_UNKNOWN},
        {501, NH_V_FINAL, NH_V_FINAL},   {400, NH_V_FINAL, NH_V_FINAL},
        {401, NH_V_FINAL, NH_V_FINAL},   {403, NH_V_FINAL, NH_V_FINAL},
        {404, NH_V_FINAL, NH_V_FINAL},   {409, NH_V_FINAL, NH_V_FINAL},
        {301, NH_V_FINAL, NH_V_FINAL},   {0, NH_V_FINAL, NH_V_FINAL},
    };
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        assert_int_equal(nh_verdict_for_status(rows[i].status, false), rows[i].get);
        assert_int_equal(nh_verdict_for_status(rows[i].status, true), rows[i].mut);
    }
}

static void test_names_cover_every_value(void **state)
{
    (void)state;
    for (int v = NH_V_OK; v <= NH_V_CANCELLED; v++)
        assert_string_not_equal(nh_verdict_name((enum nh_verdict)v), "?");
    for (int o = NH_HTTP_OK; o <= NH_HTTP_ERROR; o++)
        assert_string_not_equal(nh_http_outcome_name((enum nh_http_outcome)o), "?");
    assert_string_equal(nh_verdict_name(NH_V_UNKNOWN), "unknown");
    assert_string_equal(nh_http_outcome_name(NH_HTTP_TOO_BIG), "too-big");
}

static void test_loopback_hosts(void **state)
{
    (void)state;
    const char *yes[] = {"127.0.0.1", "127.1.2.3",       "::1", "[::1]", "localhost",
                         "LocalHost", "::ffff:127.0.0.1"};
    const char *no[] = {"128.0.0.1", "10.0.0.1", "localhost.example.com", "127.0.0.1.nip.io", "",
                        "::2",       "[::1",     "example.com",           "0.0.0.0"};
    for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++)
        assert_true(nh_http_host_is_loopback(yes[i]));
    for (size_t i = 0; i < sizeof(no) / sizeof(no[0]); i++)
        assert_false(nh_http_host_is_loopback(no[i]));
    assert_false(nh_http_host_is_loopback(NULL));
}

static void test_check_url_http_only_loopback(void **state)
{
    (void)state;
    char err[256];
    assert_int_equal(nh_http_check_url("https://cs.cn-hangzhou.aliyuncs.com/x", err, sizeof(err)),
                     0);
    assert_int_equal(nh_http_check_url("http://127.0.0.1:8080/x?a=b", err, sizeof(err)), 0);
    assert_int_equal(nh_http_check_url("http://[::1]:8080/", err, sizeof(err)), 0);
    assert_int_equal(nh_http_check_url("http://localhost/", err, sizeof(err)), 0);

    err[0] = '\0';
    assert_int_equal(nh_http_check_url("http://cs.cn-hangzhou.aliyuncs.com/", err, sizeof(err)),
                     -EINVAL);
    assert_non_null(strstr(err, "cs.cn-hangzhou.aliyuncs.com"));
    assert_non_null(strstr(err, "https://"));
    assert_int_equal(nh_http_check_url("ftp://127.0.0.1/", err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "ftp"));
    assert_int_equal(nh_http_check_url("not a url", err, sizeof(err)), -EINVAL);
    assert_int_equal(nh_http_check_url(NULL, err, sizeof(err)), -EINVAL);
    /* userinfo tricks do not make a remote host loopback */
    assert_int_equal(nh_http_check_url("http://127.0.0.1@evil.example/", err, sizeof(err)),
                     -EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bucket_burst_then_waits),
        cmocka_unit_test(test_bucket_sustained_rate_matches_qps),
        cmocka_unit_test(test_bucket_refill_capped_at_burst),
        cmocka_unit_test(test_bucket_never_sends_more_than_burst_plus_rate_in_any_window),
        cmocka_unit_test(test_bucket_writes_never_exceed_burst_plus_rate_in_any_window),
        cmocka_unit_test(test_bucket_late_writes_do_not_add_up),
        cmocka_unit_test(test_bucket_throttled_halves_and_holds),
        cmocka_unit_test(test_bucket_throttled_floor_is_sixteenth),
        cmocka_unit_test(test_bucket_recovers_additively_to_base),
        cmocka_unit_test(test_bucket_later_shorter_hint_keeps_longer_hold),
        cmocka_unit_test(test_backoff_bounds_and_growth),
        cmocka_unit_test(test_backoff_full_jitter_spread),
        cmocka_unit_test(test_backoff_huge_attempt_is_capped),
        cmocka_unit_test(test_backoff_equal_jitter),
        cmocka_unit_test(test_retry_after_seconds),
        cmocka_unit_test(test_retry_after_http_date),
        cmocka_unit_test(test_acs_retry_after_is_milliseconds),
        cmocka_unit_test(test_verdict_for_status_general_rules),
        cmocka_unit_test(test_names_cover_every_value),
        cmocka_unit_test(test_loopback_hosts),
        cmocka_unit_test(test_check_url_http_only_loopback),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
