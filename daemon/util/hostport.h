/* hostport.h - "host:port" as nodeherd reads it: daemon.listen, endpoint
 * URLs' authority, Host headers. One parser: HOST, HOST:PORT, [IPV6],
 * [IPV6]:PORT and (when allowed) :PORT. Pure: no I/O, no resolving. */
#ifndef NH_UTIL_HOSTPORT_H
#define NH_UTIL_HOSTPORT_H

#include <stdbool.h>
#include <stdint.h>

#define NH_HOSTPORT_HOST_MAX 255

struct nh_hostport {
    char host[NH_HOSTPORT_HOST_MAX + 1]; /* without brackets; "" for ":PORT" */
    bool v6;                             /* given in brackets (an IPv6 address, checked) */
    bool has_port;
    uint16_t port; /* 0..65535 when has_port */
};

enum {
    NH_HOSTPORT_NEED_PORT = 1u << 0,  /* "HOST" alone is refused */
    NH_HOSTPORT_EMPTY_HOST = 1u << 1, /* ":PORT" is accepted (host "") */
};

/* Splits s. A port is 1 to 5 decimal digits, 0..65535 ("host:" is
 * refused); a bare IPv6 address (two colons, no brackets) is refused; what
 * is in brackets must be an IPv6 address (inet_pton). The host is not
 * otherwise checked: callers judge names and addresses. 0, or -EINVAL with
 * *why (when why is not NULL) a static phrase naming the problem ("no
 * port", "an IPv6 address needs brackets, as in [::1]:9464", ...); *ret is
 * then unspecified. */
int nh_hostport_parse(const char *s, unsigned flags, struct nh_hostport *ret, const char **why);

#endif
