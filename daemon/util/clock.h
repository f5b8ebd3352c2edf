/* clock.h - wall-clock time for records that outlive the process (journal,
 * HA leases, operation and drain start times). Loop time (uv_now) is for
 * everything that only orders events within one run. */
#ifndef NH_UTIL_CLOCK_H
#define NH_UTIL_CLOCK_H

#include <stdint.h>

/* Milliseconds since the epoch (CLOCK_REALTIME). */
int64_t nh_wall_ms(void);

#endif
