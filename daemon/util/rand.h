/* rand.h - the daemon's one pseudo-random source: xorshift64* (Vigna, "An
 * experimental exploration of Marsaglia's xorshift generators, scrambled",
 * 2016). For jitter and spreading only: never for anything secret. */
#ifndef NH_UTIL_RAND_H
#define NH_UTIL_RAND_H

#include <stdint.h>

/* Advances *state (never 0: a zero state stays zero) and returns the next
 * value. Pure, no allocation; one state per user (not thread-safe). */
uint64_t nh_rand_next(uint64_t *state);

#endif
