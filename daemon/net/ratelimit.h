/* ratelimit.h - pure token bucket and AIMD arithmetic (no I/O, no clock:
 * callers pass now_ms). */
#ifndef NH_RATELIMIT_H
#define NH_RATELIMIT_H

#include <stdbool.h>
#include <stdint.h>

struct nh_bucket {
    double rate;      /* current tokens per second (after AIMD) */
    double base_rate; /* configured qps */
    double min_rate;  /* floor of the slow-down */
    double burst;     /* capacity */
    double tokens;
    uint64_t last_ms;       /* last refill */
    uint64_t hold_until_ms; /* no tokens before this (server retry hint) */
    uint64_t last_throttle_ms;
    /* Tokens taken whose requests have not reached the wire yet (only with
     * nh_bucket_track_writes). */
    unsigned unwritten;
    bool track_writes;
};

void nh_bucket_init(struct nh_bucket *b, double qps, unsigned burst, uint64_t now_ms);
/* Takes a token: returns 0 when taken, else how many ms until one is due
 * (nothing taken). */
uint64_t nh_bucket_take(struct nh_bucket *b, uint64_t now_ms);
/* A cloud counts its limit where requests arrive, but a token is taken when
 * a call leaves its queue and the request is written later, when the loop
 * gets to it: after a busy loop turn, requests whose tokens were taken far
 * apart reach the wire together (measured: 198 in one second against a
 * bucket of 150/s + 29; contrib/bench/README.md, "Over the limit"). With
 * writes tracked, every take counts as unwritten until
 * nh_bucket_written() says it went (or never will), and the bucket never
 * refills above burst - unwritten: then tokens + unwritten never exceed
 * the level of a bucket charged at write time, so the writes themselves
 * never exceed burst + qps * T in any T, however late they go. */
void nh_bucket_track_writes(struct nh_bucket *b);
/* The request of a taken token was written, or ends without being
 * written (its token is not given back). */
void nh_bucket_written(struct nh_bucket *b, uint64_t now_ms);
/* Throttled: halve the rate (not below min_rate), drop the tokens, and hold
 * for hint_ms (0 = no hint). */
void nh_bucket_throttled(struct nh_bucket *b, uint64_t now_ms, uint64_t hint_ms);
/* Additive recovery: called on success; raises the rate toward base_rate. */
void nh_bucket_succeeded(struct nh_bucket *b, uint64_t now_ms);

/* Full-jitter backoff: uniform in [0, min(cap, base * 2^attempt)], attempt
 * counted from 0; rnd is a uniform 64-bit random number. */
uint64_t nh_backoff_ms(unsigned attempt, uint64_t base_ms, uint64_t cap_ms, uint64_t rnd);
/* Equal-jitter backoff: uniform in [c - c/2, c], c = min(cap, base *
 * 2^attempt): at least half the wait every time (the executor's waits
 * after a failed operation or a throttled mutation). */
uint64_t nh_backoff_equal_ms(unsigned attempt, uint64_t base_ms, uint64_t cap_ms, uint64_t rnd);

/* Parses Retry-After (delta-seconds or an HTTP-date relative to now_unix) and
 * x-acs-retry-after (milliseconds). Returns the wait in ms, or 0 when absent,
 * empty, non-numeric or <= 0. */
uint64_t nh_retry_after_ms(const char *retry_after, int64_t now_unix);
uint64_t nh_acs_retry_after_ms(const char *value);

#endif
