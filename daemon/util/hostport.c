/* hostport.c - the one "host:port" parser (hostport.h). */
#include "util/hostport.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <string.h>

static int refuse(const char **why, const char *what)
{
    if (why != NULL)
        *why = what;
    return -EINVAL;
}

static bool parse_port(const char *p, uint16_t *ret)
{
    size_t n = strspn(p, "0123456789");
    unsigned long v = 0;
    if (n == 0 || n > 5 || p[n] != '\0')
        return false;
    for (size_t i = 0; i < n; i++)
        v = v * 10 + (unsigned long)(p[i] - '0');
    if (v > 65535)
        return false;
    *ret = (uint16_t)v;
    return true;
}

int nh_hostport_parse(const char *s, unsigned flags, struct nh_hostport *ret, const char **why)
{
    const char *port = NULL;
    size_t hl;

    memset(ret, 0, sizeof(*ret));
    if (s == NULL || *s == '\0')
        return refuse(why, "empty");
    if (s[0] == '[') {
        const char *end = strchr(s, ']');
        struct in6_addr a6;
        if (end == NULL || (end[1] != '\0' && end[1] != ':'))
            return refuse(why, "unclosed \"[\", or something other than \":PORT\" after \"]\"");
        hl = (size_t)(end - s - 1);
        if (hl == 0 || hl >= INET6_ADDRSTRLEN)
            return refuse(why, "the part in brackets is not an IPv6 address");
        memcpy(ret->host, s + 1, hl);
        ret->host[hl] = '\0';
        if (inet_pton(AF_INET6, ret->host, &a6) != 1)
            return refuse(why, "the part in brackets is not an IPv6 address");
        ret->v6 = true;
        if (end[1] == ':')
            port = end + 2;
    } else {
        const char *colon = strchr(s, ':');
        if (colon != NULL && strchr(colon + 1, ':') != NULL)
            return refuse(why, "an IPv6 address needs brackets, as in [::1]:9464");
        hl = colon ? (size_t)(colon - s) : strlen(s);
        if (hl > NH_HOSTPORT_HOST_MAX)
            return refuse(why, "host too long");
        if (hl == 0 && !(flags & NH_HOSTPORT_EMPTY_HOST))
            return refuse(why, "no host");
        memcpy(ret->host, s, hl);
        ret->host[hl] = '\0';
        if (colon != NULL)
            port = colon + 1;
    }
    if (port == NULL)
        return (flags & NH_HOSTPORT_NEED_PORT) ? refuse(why, "no port") : 0;
    if (!parse_port(port, &ret->port))
        return refuse(why, "port must be a number 0..65535");
    ret->has_port = true;
    return 0;
}
