/* duration.c - "250ms", "30s", "5m", "1h", "1h30m": parse and format. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "config/config.h"

static const struct {
    const char *name;
    uint64_t ms;
} units[] = {
    {"h", 3600000},
    {"m", 60000},
    {"s", 1000},
    {"ms", 1},
};
#define N_UNITS (sizeof(units) / sizeof(units[0]))

int nh_duration_parse(const char *s, uint64_t *ret_ms)
{
    if (s == NULL || *s == '\0')
        return -EINVAL;
    uint64_t total = 0;
    size_t last = 0; /* units must come largest first, each at most once */
    bool any = false;
    while (*s != '\0') {
        if (*s < '0' || *s > '9')
            return -EINVAL;
        uint64_t v = 0;
        while (*s >= '0' && *s <= '9') {
            unsigned dgt = (unsigned)(*s - '0');
            if (v > (UINT64_MAX - dgt) / 10)
                return -ERANGE;
            v = v * 10 + dgt;
            s++;
        }
        size_t u;
        /* "ms" before "m": try the longest unit name that matches. */
        if (s[0] == 'm' && s[1] == 's')
            u = 3;
        else if (s[0] == 'h')
            u = 0;
        else if (s[0] == 'm')
            u = 1;
        else if (s[0] == 's')
            u = 2;
        else
            return -EINVAL; /* a unit is required */
        if (any && u <= last)
            return -EINVAL;
        s += strlen(units[u].name);
        if (v > UINT64_MAX / units[u].ms)
            return -ERANGE;
        uint64_t add = v * units[u].ms;
        if (total > UINT64_MAX - add)
            return -ERANGE;
        total += add;
        last = u;
        any = true;
    }
    *ret_ms = total;
    return 0;
}

/* Writes the form whose first unit is units[top] and last unit units[bottom]. */
static int format_form(uint64_t ms, size_t top, size_t bottom, char *buf, size_t len)
{
    size_t pos = 0;
    uint64_t rest = ms;
    for (size_t u = top; u <= bottom; u++) {
        uint64_t v = rest / units[u].ms;
        rest %= units[u].ms;
        if (v == 0 && !(u == top && ms == 0))
            continue;
        int n = snprintf(buf + pos, len > pos ? len - pos : 0, "%llu%s", (unsigned long long)v,
                         units[u].name);
        if (n < 0)
            return -1;
        pos += (size_t)n;
    }
    return rest == 0 ? (int)pos : -1;
}

const char *nh_duration_format(uint64_t ms, char *buf, size_t len)
{
    char best[64] = "", cand[64];
    int best_len = -1;
    if (ms == 0) {
        snprintf(best, sizeof(best), "0s");
        best_len = 2;
    }
    for (size_t top = 0; ms != 0 && top < N_UNITS; top++) {
        for (size_t bottom = top; bottom < N_UNITS; bottom++) {
            if (ms % units[bottom].ms != 0)
                continue;
            if (ms < units[top].ms)
                continue; /* a leading 0h is never shortest */
            int n = format_form(ms, top, bottom, cand, sizeof(cand));
            if (n > 0 && (best_len < 0 || n < best_len)) {
                memcpy(best, cand, (size_t)n + 1);
                best_len = n;
            }
        }
    }
    if (best_len < 0 || buf == NULL || len <= (size_t)best_len)
        return NULL;
    memcpy(buf, best, (size_t)best_len + 1);
    return buf;
}
