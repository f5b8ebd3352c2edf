/* status_page.h - the self-contained HTML status page served at GET / by
 * httpd.c. It reads GET /api/v1/status (same origin) every few seconds. */
#ifndef NH_STATUS_PAGE_H
#define NH_STATUS_PAGE_H

#include "util/buf.h"

/* The Content-Security-Policy to send with the page: nothing may load
 * except the page's own inline script (by hash), inline styles and
 * same-origin fetches. */
extern const char nh_status_page_csp[];

/* Appends the whole page (UTF-8). 0 or the nh_buf error (-ENOMEM, -E2BIG). */
int nh_status_page_render(struct nh_buf *out);

#endif
