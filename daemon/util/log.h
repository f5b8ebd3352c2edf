/* log.h - one small logging module.
 *
 * Levels are syslog's (LOG_ERR .. LOG_DEBUG). When stderr is connected to the
 * journal ($JOURNAL_STREAM matches stderr) each line gets a "<N>" priority
 * prefix that journald understands; otherwise lines are plain text with a
 * timestamp, or JSON with --log-format=json. Never pass a secret to these
 * functions: struct nh_secret has no printable form for that reason. */
#ifndef NH_LOG_H
#define NH_LOG_H

#include <syslog.h>

enum nh_log_format { NH_LOG_AUTO, NH_LOG_PLAIN, NH_LOG_JOURNAL, NH_LOG_JSON };

extern int nh_log_max;

/* Picks the format (AUTO: journal prefixes when stderr is the journal). */
void nh_log_init(enum nh_log_format fmt, int max_level);
/* Parses "auto|plain|journal|json"; returns -1 when unknown. */
int nh_log_format_from_string(const char *s);
/* The format in use (AUTO resolved by nh_log_init). */
enum nh_log_format nh_log_format(void);
/* Parses "err|warning|notice|info|debug"; returns -1 when unknown. */
int nh_log_level_from_string(const char *s);
const char *nh_log_level_name(int level);

void nh_log_emit(int level, const char *func, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Tests the level before formatting, so debug lines cost nothing. */
#define nh_log(lvl, ...)                                                                           \
    do {                                                                                           \
        if ((lvl) <= nh_log_max)                                                                   \
            nh_log_emit((lvl), __func__, __VA_ARGS__);                                             \
    } while (0)

/* Logs "<message>: <strerror(-err)>" and returns err (a negative errno). */
int nh_log_errno_emit(int level, int err, const char *func, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
#define nh_log_errno(lvl, err, ...) nh_log_errno_emit((lvl), (err), __func__, __VA_ARGS__)

/* Test hook: redirect output (NULL restores stderr). */
void nh_log_set_stream(void *stream);

#endif
