#include "util/buf.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void nh_buf_init(struct nh_buf *b, size_t cap)
{
    b->data = NULL;
    b->len = 0;
    b->alloc = 0;
    b->cap = cap;
}

static int buf_reserve(struct nh_buf *b, size_t extra)
{
    size_t need, n;
    char *p;

    if (extra > (size_t)-1 - b->len - 1)
        return -E2BIG;
    need = b->len + extra + 1;
    if (b->cap != 0 && need - 1 > b->cap)
        return -E2BIG;
    if (need <= b->alloc)
        return 0;
    n = b->alloc ? b->alloc : 64;
    while (n < need)
        n = n > (size_t)-1 / 2 ? need : n * 2;
    p = realloc(b->data, n);
    if (p == NULL)
        return -ENOMEM;
    b->data = p;
    b->alloc = n;
    return 0;
}

int nh_buf_append(struct nh_buf *b, const void *p, size_t n)
{
    int r = buf_reserve(b, n);
    if (r < 0)
        return r;
    if (n > 0)
        memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = '\0';
    return 0;
}

int nh_buf_appends(struct nh_buf *b, const char *s)
{
    return nh_buf_append(b, s, strlen(s));
}

int nh_buf_printf(struct nh_buf *b, const char *fmt, ...)
{
    va_list ap;
    int n, r;

    va_start(ap, fmt);
    n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        return -EINVAL;
    r = buf_reserve(b, (size_t)n);
    if (r < 0)
        return r;
    va_start(ap, fmt);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
    return 0;
}

void nh_buf_reset(struct nh_buf *b)
{
    b->len = 0;
    if (b->data)
        b->data[0] = '\0';
}

char *nh_buf_steal(struct nh_buf *b)
{
    char *p = b->data;
    if (p == NULL)
        p = strdup("");
    b->data = NULL;
    b->len = 0;
    b->alloc = 0;
    return p;
}

void nh_buf_free(struct nh_buf *b)
{
    free(b->data);
    b->data = NULL;
    b->len = 0;
    b->alloc = 0;
}
