/* text.h - bounded copies of text that reaches messages and logs. */
#ifndef NH_UTIL_TEXT_H
#define NH_UTIL_TEXT_H

#include <stddef.h>

/* Bounded copy with NUL; control characters replaced by spaces. src NULL
 * gives "". dst and src may be the same buffer. */
void nh_text_copy(char *dst, size_t dstlen, const char *src);

/* Appends s to the NUL-terminated string in dst, truncating at len. */
void nh_text_cat(char *dst, size_t len, const char *s);

#endif
