#include "util/log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

int nh_log_max = LOG_INFO;
static enum nh_log_format log_format = NH_LOG_PLAIN;
static FILE *log_stream;

static const char *const level_names[] = {
    [LOG_EMERG] = "emerg",     [LOG_ALERT] = "alert",   [LOG_CRIT] = "crit", [LOG_ERR] = "err",
    [LOG_WARNING] = "warning", [LOG_NOTICE] = "notice", [LOG_INFO] = "info", [LOG_DEBUG] = "debug",
};

/* $JOURNAL_STREAM is "DEVICE:INODE" of the stream systemd connected. */
static int stderr_is_journal(void)
{
    const char *js = getenv("JOURNAL_STREAM");
    unsigned long long dev, ino;
    struct stat st;

    if (js == NULL || sscanf(js, "%llu:%llu", &dev, &ino) != 2)
        return 0;
    if (fstat(STDERR_FILENO, &st) < 0)
        return 0;
    return (unsigned long long)st.st_dev == dev && (unsigned long long)st.st_ino == ino;
}

void nh_log_init(enum nh_log_format fmt, int max_level)
{
    if (fmt == NH_LOG_AUTO)
        fmt = stderr_is_journal() ? NH_LOG_JOURNAL : NH_LOG_PLAIN;
    log_format = fmt;
    nh_log_max = max_level;
}

void nh_log_set_stream(void *stream)
{
    log_stream = stream;
}

int nh_log_format_from_string(const char *s)
{
    static const char *const names[] = {[NH_LOG_AUTO] = "auto",
                                        [NH_LOG_PLAIN] = "plain",
                                        [NH_LOG_JOURNAL] = "journal",
                                        [NH_LOG_JSON] = "json"};
    for (int i = 0; i < (int)(sizeof(names) / sizeof(names[0])); i++)
        if (strcmp(s, names[i]) == 0)
            return i;
    return -1;
}

enum nh_log_format nh_log_format(void)
{
    return log_format;
}

int nh_log_level_from_string(const char *s)
{
    for (int i = LOG_ERR; i <= LOG_DEBUG; i++)
        if (strcmp(s, level_names[i]) == 0)
            return i;
    if (strcmp(s, "error") == 0)
        return LOG_ERR;
    if (strcmp(s, "warn") == 0)
        return LOG_WARNING;
    return -1;
}

const char *nh_log_level_name(int level)
{
    if (level < LOG_EMERG || level > LOG_DEBUG)
        return "?";
    return level_names[level];
}

static void json_escape(FILE *f, const char *s)
{
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\')
            fprintf(f, "\\%c", c);
        else if (c < 0x20)
            fprintf(f, "\\u%04x", c);
        else
            fputc(c, f);
    }
}

/* The time now to the second: UTC in ISO 8601 ("2025-01-02T03:04:05") for
 * JSON, local time ("2025-01-02 03:04:05") for plain text. Returns the
 * milliseconds to print after it. */
static long format_now(char *when, size_t len, bool utc)
{
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    if (utc) {
        gmtime_r(&ts.tv_sec, &tm);
        strftime(when, len, "%Y-%m-%dT%H:%M:%S", &tm);
    } else {
        localtime_r(&ts.tv_sec, &tm);
        strftime(when, len, "%Y-%m-%d %H:%M:%S", &tm);
    }
    return ts.tv_nsec / 1000000;
}

__attribute__((format(printf, 3, 0))) static void
log_vemit(int level, const char *func, const char *fmt, va_list ap, const char *tail)
{
    FILE *f = log_stream ? log_stream : stderr;
    char msg[2048];
    int n = vsnprintf(msg, sizeof(msg), fmt, ap);

    if (n < 0)
        return;
    /* One line per record: a newline inside a message would let a value
     * coming from a peer forge a record. */
    for (char *p = msg; *p; p++)
        if (*p == '\n' || *p == '\r')
            *p = ' ';
    (void)func;
    switch (log_format) {
    case NH_LOG_JOURNAL:
        fprintf(f, "<%d>%s%s\n", level, msg, tail);
        break;
    case NH_LOG_JSON: {
        char when[40];
        long ms = format_now(when, sizeof(when), true);
        fprintf(f, "{\"time\":\"%s.%03ldZ\",\"level\":\"%s\",\"msg\":\"", when, ms,
                nh_log_level_name(level));
        json_escape(f, msg);
        json_escape(f, tail);
        fputs("\"}\n", f);
        break;
    }
    case NH_LOG_AUTO:
    case NH_LOG_PLAIN: {
        char when[40];
        long ms = format_now(when, sizeof(when), false);
        fprintf(f, "%s.%03ld %-7s %s%s\n", when, ms, nh_log_level_name(level), msg, tail);
        break;
    }
    }
    fflush(f);
}

void nh_log_emit(int level, const char *func, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    log_vemit(level, func, fmt, ap, "");
    va_end(ap);
}

int nh_log_errno_emit(int level, int err, const char *func, const char *fmt, ...)
{
    char tail[160];
    va_list ap;

    if (level > nh_log_max)
        return err;
    snprintf(tail, sizeof(tail), ": %s", strerror(err < 0 ? -err : err));
    va_start(ap, fmt);
    log_vemit(level, func, fmt, ap, tail);
    va_end(ap);
    return err;
}
