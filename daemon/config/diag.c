/* diag.c - problems found in configuration files, with FILE:LINE:COL. */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "config/diag.h"
#include "config/internal.h"
#include "util/log.h"

void nh_diag_init(struct nh_diag *d)
{
    memset(d, 0, sizeof(*d));
}

__attribute__((format(printf, 1, 0))) static char *vformat(const char *fmt, va_list ap)
{
    va_list aq;
    va_copy(aq, ap);
    int n = vsnprintf(NULL, 0, fmt, aq);
    va_end(aq);
    if (n < 0)
        return NULL;
    char *s = malloc((size_t)n + 1);
    if (s != NULL)
        vsnprintf(s, (size_t)n + 1, fmt, ap);
    return s;
}

void nh_diag_add(struct nh_diag *d, enum nh_diag_severity sev, const char *file, int line, int col,
                 const char *fmt, ...)
{
    if (sev == NH_DIAG_ERROR)
        d->n_errors++;
    if (d->n >= NH_DIAG_MAX) {
        d->dropped++;
        return;
    }
    if (d->n == d->alloc) {
        size_t na = d->alloc ? d->alloc * 2 : 8;
        if (na > NH_DIAG_MAX)
            na = NH_DIAG_MAX;
        struct nh_diag_entry *e = realloc(d->entries, na * sizeof(*e));
        if (e == NULL) {
            d->dropped++;
            return;
        }
        d->entries = e;
        d->alloc = na;
    }
    va_list ap;
    va_start(ap, fmt);
    char *msg = vformat(fmt, ap);
    va_end(ap);
    char *f = strdup(file ? file : "-");
    if (msg == NULL || f == NULL) {
        free(msg);
        free(f);
        d->dropped++;
        return;
    }
    d->entries[d->n++] =
        (struct nh_diag_entry){.severity = sev, .file = f, .line = line, .col = col, .msg = msg};
}

static void entry_print(const struct nh_diag_entry *e, FILE *f)
{
    const char *w = e->severity == NH_DIAG_WARNING ? "warning: " : "";
    if (e->line > 0 && e->col > 0)
        fprintf(f, "%s:%d:%d: %s%s\n", e->file, e->line, e->col, w, e->msg);
    else if (e->line > 0)
        fprintf(f, "%s:%d: %s%s\n", e->file, e->line, w, e->msg);
    else
        fprintf(f, "%s: %s%s\n", e->file, w, e->msg);
}

void nh_diag_print(const struct nh_diag *d, FILE *f)
{
    for (size_t i = 0; i < d->n; i++)
        entry_print(&d->entries[i], f);
    if (d->dropped > 0)
        fprintf(f, "%s: %zu more problem%s not shown (at most %d are listed)\n",
                d->n > 0 ? d->entries[0].file : "-", d->dropped, d->dropped == 1 ? "" : "s",
                NH_DIAG_MAX);
}

void nh_diag_log(const struct nh_diag *d, int level)
{
    for (size_t i = 0; i < d->n; i++) {
        const struct nh_diag_entry *e = &d->entries[i];
        int lvl = e->severity == NH_DIAG_WARNING && level < LOG_WARNING ? LOG_WARNING : level;
        if (e->line > 0)
            nh_log(lvl, "%s:%d:%d: %s", e->file, e->line, e->col, e->msg);
        else
            nh_log(lvl, "%s: %s", e->file, e->msg);
    }
    if (d->dropped > 0)
        nh_log(level, "%zu more configuration problem%s not shown", d->dropped,
               d->dropped == 1 ? "" : "s");
}

void nh_diag_free(struct nh_diag *d)
{
    if (d == NULL)
        return;
    for (size_t i = 0; i < d->n; i++) {
        free(d->entries[i].file);
        free(d->entries[i].msg);
    }
    free(d->entries);
    nh_diag_init(d);
}

static int entry_cmp(const struct nh_diag_entry *a, const struct nh_diag_entry *b)
{
    int c = strcmp(a->file, b->file);
    if (c != 0)
        return c;
    if (a->line != b->line)
        return a->line < b->line ? -1 : 1;
    if (a->col != b->col)
        return a->col < b->col ? -1 : 1;
    return 0;
}

void nh_diag_sort(struct nh_diag *d)
{
    /* Insertion sort: stable, and there are at most NH_DIAG_MAX entries. */
    for (size_t i = 1; i < d->n; i++) {
        struct nh_diag_entry e = d->entries[i];
        size_t j = i;
        while (j > 0 && entry_cmp(&d->entries[j - 1], &e) > 0) {
            d->entries[j] = d->entries[j - 1];
            j--;
        }
        d->entries[j] = e;
    }
}
