/* ratelimit.c - token bucket, AIMD slow-down, full-jitter backoff and retry
 * hint parsing. Pure arithmetic: no clock, no I/O (callers pass now). */
#include "net/ratelimit.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

/* Fraction of the configured rate the slow-down never goes below. */
#define NH_BUCKET_FLOOR_DIV 16.0
/* Additive recovery per success, as a fraction of the configured rate. */
#define NH_BUCKET_RECOVER_DIV 10.0

static void bucket_refill(struct nh_bucket *b, uint64_t now_ms)
{
    if (now_ms <= b->last_ms)
        return; /* time did not move, or we are inside a hold */
    double add = (double)(now_ms - b->last_ms) * b->rate / 1000.0;
    double cap = b->burst - (double)b->unwritten; /* nh_bucket_track_writes */
    b->tokens += add;
    if (b->tokens > cap)
        b->tokens = cap > 0.0 ? cap : 0.0;
    b->last_ms = now_ms;
}

void nh_bucket_init(struct nh_bucket *b, double qps, unsigned burst, uint64_t now_ms)
{
    if (!(qps > 0.0))
        qps = 2.0;
    if (burst == 0)
        burst = 1;
    *b = (struct nh_bucket){
        .rate = qps,
        .base_rate = qps,
        .min_rate = qps / NH_BUCKET_FLOOR_DIV,
        .burst = (double)burst,
        .tokens = (double)burst,
        .last_ms = now_ms,
        .hold_until_ms = 0,
        .last_throttle_ms = 0,
    };
}

uint64_t nh_bucket_take(struct nh_bucket *b, uint64_t now_ms)
{
    if (now_ms < b->hold_until_ms)
        return b->hold_until_ms - now_ms;
    bucket_refill(b, now_ms);
    if (b->tokens >= 1.0) {
        b->tokens -= 1.0;
        if (b->track_writes)
            b->unwritten++;
        return 0;
    }
    double need_ms = (1.0 - b->tokens) * 1000.0 / b->rate;
    uint64_t wait = (uint64_t)need_ms;
    if ((double)wait < need_ms)
        wait++; /* round up: a token must really be there when we come back */
    return wait == 0 ? 1 : wait;
}

void nh_bucket_track_writes(struct nh_bucket *b)
{
    b->track_writes = true;
}

void nh_bucket_written(struct nh_bucket *b, uint64_t now_ms)
{
    /* Refill first, under the cap that held while it was unwritten. */
    bucket_refill(b, now_ms);
    if (b->unwritten > 0)
        b->unwritten--;
}

void nh_bucket_throttled(struct nh_bucket *b, uint64_t now_ms, uint64_t hint_ms)
{
    bucket_refill(b, now_ms);
    b->rate /= 2.0;
    if (b->rate < b->min_rate)
        b->rate = b->min_rate;
    b->tokens = 0.0;
    b->last_throttle_ms = now_ms;
    uint64_t until = hint_ms > UINT64_MAX - now_ms ? UINT64_MAX : now_ms + hint_ms;
    if (until > b->hold_until_ms)
        b->hold_until_ms = until;
    /* Tokens start to accrue again only once the hold is over. */
    if (b->hold_until_ms > b->last_ms)
        b->last_ms = b->hold_until_ms;
}

void nh_bucket_succeeded(struct nh_bucket *b, uint64_t now_ms)
{
    bucket_refill(b, now_ms);
    if (b->rate >= b->base_rate)
        return;
    b->rate += b->base_rate / NH_BUCKET_RECOVER_DIV;
    if (b->rate > b->base_rate)
        b->rate = b->base_rate;
}

/* min(cap, base * 2^attempt), without overflow. */
static uint64_t backoff_ceiling(unsigned attempt, uint64_t base_ms, uint64_t cap_ms)
{
    uint64_t ceiling;
    if (attempt >= 63 || base_ms > (cap_ms >> attempt))
        ceiling = cap_ms;
    else
        ceiling = base_ms << attempt;
    return ceiling > cap_ms ? cap_ms : ceiling;
}

uint64_t nh_backoff_ms(unsigned attempt, uint64_t base_ms, uint64_t cap_ms, uint64_t rnd)
{
    if (base_ms == 0)
        return 0;
    uint64_t ceiling = backoff_ceiling(attempt, base_ms, cap_ms);
    if (ceiling == UINT64_MAX)
        return rnd;
    return rnd % (ceiling + 1);
}

uint64_t nh_backoff_equal_ms(unsigned attempt, uint64_t base_ms, uint64_t cap_ms, uint64_t rnd)
{
    if (base_ms == 0)
        return 0;
    uint64_t ceiling = backoff_ceiling(attempt, base_ms, cap_ms);
    uint64_t half = ceiling / 2;
    return half + rnd % (ceiling - half + 1);
}

/* Skips leading and trailing blanks; returns the length of the middle. */
static size_t trim(const char **s)
{
    const char *p = *s;
    while (*p == ' ' || *p == '\t')
        p++;
    size_t n = strlen(p);
    while (n > 0 && (p[n - 1] == ' ' || p[n - 1] == '\t' || p[n - 1] == '\r' || p[n - 1] == '\n'))
        n--;
    *s = p;
    return n;
}

/* A non-negative decimal integer made of digits only; saturates. -1 when
 * not a number. */
static int64_t parse_digits(const char *p, size_t n)
{
    if (n == 0)
        return -1;
    int64_t v = 0;
    for (size_t i = 0; i < n; i++) {
        if (!isdigit((unsigned char)p[i]))
            return -1;
        if (v > (INT64_MAX - 9) / 10)
            v = INT64_MAX / 10; /* saturate; callers cap anyway */
        else
            v = v * 10 + (p[i] - '0');
    }
    return v;
}

/* Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's
 * days_from_civil). */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
    y -= m <= 2;
    const int64_t era = (y >= 0 ? y : y - 399) / 400;
    const unsigned yoe = (unsigned)(y - era * 400);
    const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

/* IMF-fixdate, the only form RFC 9110 lets servers send:
 * "Sun, 06 Nov 1994 08:49:37 GMT". -1 when it is not one. */
static int64_t parse_imf_fixdate(const char *p, size_t n)
{
    static const char months[] = "JanFebMarAprMayJunJulAugSepOctNovDec";
    char buf[40];
    if (n != 29 || n >= sizeof(buf))
        return -1;
    memcpy(buf, p, n);
    buf[n] = '\0';
    if (buf[3] != ',' || buf[4] != ' ' || buf[7] != ' ' || buf[11] != ' ' || buf[16] != ' ' ||
        buf[19] != ':' || buf[22] != ':' || buf[25] != ' ' || strcmp(buf + 26, "GMT") != 0)
        return -1;
    static const int digit_at[] = {5, 6, 12, 13, 14, 15, 17, 18, 20, 21, 23, 24};
    for (size_t i = 0; i < sizeof(digit_at) / sizeof(digit_at[0]); i++)
        if (!isdigit((unsigned char)buf[digit_at[i]]))
            return -1;
    unsigned month = 0;
    for (unsigned i = 0; i < 12; i++)
        if (memcmp(buf + 8, months + 3 * i, 3) == 0)
            month = i + 1;
    if (month == 0)
        return -1;
    unsigned day = (unsigned)((buf[5] - '0') * 10 + (buf[6] - '0'));
    int64_t year =
        (buf[12] - '0') * 1000 + (buf[13] - '0') * 100 + (buf[14] - '0') * 10 + (buf[15] - '0');
    int hh = (buf[17] - '0') * 10 + (buf[18] - '0');
    int mm = (buf[20] - '0') * 10 + (buf[21] - '0');
    int ss = (buf[23] - '0') * 10 + (buf[24] - '0');
    if (day < 1 || day > 31 || hh > 23 || mm > 59 || ss > 60)
        return -1;
    return days_from_civil(year, month, day) * 86400 + hh * 3600 + mm * 60 + ss;
}

#define NH_MS_MAX_SECONDS ((int64_t)(UINT64_MAX / 1000 / 2))

uint64_t nh_retry_after_ms(const char *retry_after, int64_t now_unix)
{
    if (retry_after == NULL)
        return 0;
    const char *p = retry_after;
    size_t n = trim(&p);
    int64_t secs = parse_digits(p, n);
    if (secs < 0) {
        int64_t when = parse_imf_fixdate(p, n);
        if (when < 0 || when <= now_unix)
            return 0;
        secs = when - now_unix;
    }
    if (secs <= 0)
        return 0;
    if (secs > NH_MS_MAX_SECONDS)
        secs = NH_MS_MAX_SECONDS;
    return (uint64_t)secs * 1000;
}

uint64_t nh_acs_retry_after_ms(const char *value)
{
    if (value == NULL)
        return 0;
    const char *p = value;
    size_t n = trim(&p);
    int64_t ms = parse_digits(p, n);
    return ms > 0 ? (uint64_t)ms : 0;
}
