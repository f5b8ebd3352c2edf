/* text.c - bounded copies of text for messages (text.h). */
#include "util/text.h"

#include <string.h>

void nh_text_copy(char *dst, size_t dstlen, const char *src)
{
    size_t i = 0;

    if (dstlen == 0)
        return;
    if (src != NULL) {
        for (; src[i] != '\0' && i + 1 < dstlen; i++) {
            unsigned char ch = (unsigned char)src[i];
            dst[i] = (ch < 0x20 || ch == 0x7f) ? ' ' : (char)ch;
        }
    }
    dst[i] = '\0';
}

void nh_text_cat(char *dst, size_t len, const char *s)
{
    size_t used = strnlen(dst, len);

    if (s == NULL || len == 0 || used + 1 >= len)
        return;
    for (; *s != '\0' && used + 1 < len; s++)
        dst[used++] = *s;
    dst[used] = '\0';
}
