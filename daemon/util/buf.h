/* buf.h - a growable byte buffer with a hard cap (after curl's dynbuf).
 * Everything a peer controls is bounded: appends past `cap` fail with -E2BIG
 * and leave the buffer as it was. The buffer is always NUL-terminated. */
#ifndef NH_BUF_H
#define NH_BUF_H

#include <stddef.h>

struct nh_buf {
    char *data; /* owned; NULL until the first append */
    size_t len;
    size_t alloc;
    size_t cap; /* 0 = unlimited */
};

void nh_buf_init(struct nh_buf *b, size_t cap);
/* 0, -ENOMEM, or -E2BIG past the cap. */
int nh_buf_append(struct nh_buf *b, const void *p, size_t n);
int nh_buf_appends(struct nh_buf *b, const char *s);
int nh_buf_printf(struct nh_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void nh_buf_reset(struct nh_buf *b);
/* Hands the NUL-terminated contents to the caller (free() them); the buffer is
 * empty afterwards. Returns "" copy when empty, NULL on allocation failure. */
char *nh_buf_steal(struct nh_buf *b);
void nh_buf_free(struct nh_buf *b);

#endif
