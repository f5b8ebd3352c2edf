/* metrics.c - the metrics registry and its Prometheus text rendering
 * (exposition format 0.0.4).
 *
 * Families live in an array in registration order. Each family keeps its
 * series in an array sorted by labels (keys sorted within a series, then
 * compared pair by pair), so the rendering is deterministic and a lookup is a
 * binary search. Histograms keep per-bucket counts and render them
 * cumulatively with a final le="+Inf" equal to _count.
 *
 * Memory (issue #21): a fleet of 1,000 clusters / 10,000 pools has some
 * 77,000 series whose label keys and values repeat (every series of a pool
 * names its cluster and pool). A series therefore holds only as many label
 * slots as it has labels, and the label strings are interned: one counted
 * copy of each distinct string (strpool_*), shared by every series that uses
 * it and freed with the last of them. A family that is a pure function of
 * state its owner keeps anyway (nodeherd_nodes, 55,000 of those series) is
 * not stored at all: its collector writes it at each render
 * (nh_metrics_collect). */
#include "metrics.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/log.h"

#define NH_METRICS_MAX_LABELS 8
#define NH_METRICS_MAX_BUCKETS 32
/* Label values come from configuration and cloud answers; bound them. */
#define NH_METRICS_MAX_SERIES 100000

struct label {
    const char *key;   /* interned (strpool_get); released by series_free */
    const char *value; /* interned */
};

struct series {
    size_t n_labels;
    bool hidden;           /* forgotten: not rendered nor read; revived by an update */
    double value;          /* counter, gauge */
    double sum;            /* histogram */
    uint64_t count;        /* histogram */
    uint64_t *counts;      /* histogram: per bucket, not cumulative; n_buckets */
    struct label labels[]; /* n_labels, sorted by key */
};

struct family {
    char *name;
    char *help;
    enum nh_metric_type type;
    double *buckets;
    size_t n_buckets;
    struct series **series; /* sorted (series_cmp) */
    size_t n_series;
    size_t alloc_series;
    size_t n_hidden; /* series[] that are hidden (forgotten, kept in place) */
    bool warned;     /* one warning per family for misuse */
    /* Collected (nh_metrics_collect): no stored series; fn writes them. */
    nh_metrics_collect_fn collect;
    void *collect_arg;
    /* Keys that some series of this family has (or had) at a position other
     * than the first, interned. nh_metrics_forget by any other key only has
     * to look at the series whose first label is that key: they are one
     * contiguous run of the sorted array. Never shrinks (a stale entry only
     * costs a full walk); past the array, later_overflow forces full walks. */
    const char *later_keys[16];
    size_t n_later_keys;
    bool later_overflow;
};

static struct family **families;
static size_t n_families;
static size_t alloc_families;

/* ---------- interned label strings ---------- */

/* One distinct string, counted; the pool is a chained hash table that grows
 * with it and is freed when its last string is. */
struct pstr {
    struct pstr *next;
    size_t refs;
    uint32_t hash;
    char s[];
};

static struct pstr **pool_slots;
static size_t pool_n_slots;
static size_t pool_n;

static uint32_t str_hash(const char *s)
{
    uint32_t h = 2166136261u; /* FNV-1a */
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 16777619u;
    return h;
}

static int pool_grow(void)
{
    size_t n = pool_n_slots ? pool_n_slots * 2 : 1024;
    struct pstr **slots = calloc(n, sizeof(*slots));

    if (slots == NULL)
        return -ENOMEM;
    for (size_t i = 0; i < pool_n_slots; i++) {
        struct pstr *e = pool_slots[i];
        while (e != NULL) {
            struct pstr *next = e->next;
            e->next = slots[e->hash & (n - 1)];
            slots[e->hash & (n - 1)] = e;
            e = next;
        }
    }
    free(pool_slots);
    pool_slots = slots;
    pool_n_slots = n;
    return 0;
}

/* The interned copy of s with one more reference; NULL on ENOMEM. */
static const char *strpool_get(const char *s)
{
    uint32_t h = str_hash(s);
    struct pstr *e;

    if (pool_n_slots != 0)
        for (e = pool_slots[h & (pool_n_slots - 1)]; e != NULL; e = e->next)
            if (e->hash == h && strcmp(e->s, s) == 0) {
                e->refs++;
                return e->s;
            }
    if (pool_n >= pool_n_slots && pool_grow() < 0)
        return NULL;
    size_t len = strlen(s);
    e = malloc(sizeof(*e) + len + 1);
    if (e == NULL)
        return NULL;
    e->refs = 1;
    e->hash = h;
    memcpy(e->s, s, len + 1);
    e->next = pool_slots[h & (pool_n_slots - 1)];
    pool_slots[h & (pool_n_slots - 1)] = e;
    pool_n++;
    return e->s;
}

/* Drops one reference of an interned string (NULL: nothing). */
static void strpool_put(const char *s)
{
    if (s == NULL)
        return;
    uint32_t h = str_hash(s);
    struct pstr **pp = &pool_slots[h & (pool_n_slots - 1)];
    for (; *pp != NULL; pp = &(*pp)->next) {
        struct pstr *e = *pp;
        if (e->s != s)
            continue;
        if (--e->refs == 0) {
            *pp = e->next;
            free(e);
            if (--pool_n == 0) {
                free(pool_slots);
                pool_slots = NULL;
                pool_n_slots = 0;
            }
        }
        return;
    }
}

static const char *type_name(enum nh_metric_type t)
{
    switch (t) {
    case NH_METRIC_COUNTER:
        return "counter";
    case NH_METRIC_GAUGE:
        return "gauge";
    case NH_METRIC_HISTOGRAM:
        return "histogram";
    }
    return "untyped";
}

const char *nh_metrics_type_name(enum nh_metric_type t)
{
    return type_name(t);
}

/* [a-zA-Z_:][a-zA-Z0-9_:]* */
static bool valid_metric_name(const char *s)
{
    if (s == NULL || *s == '\0')
        return false;
    for (const char *p = s; *p; p++) {
        char c = *p;
        bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':';
        if (!alpha && !(p != s && c >= '0' && c <= '9'))
            return false;
    }
    return true;
}

/* [a-zA-Z_][a-zA-Z0-9_]*, not "__..." (reserved). */
static bool valid_label_name(const char *s)
{
    if (s == NULL || *s == '\0' || strncmp(s, "__", 2) == 0)
        return false;
    for (const char *p = s; *p; p++) {
        char c = *p;
        bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
        if (!alpha && !(p != s && c >= '0' && c <= '9'))
            return false;
    }
    return true;
}

static struct family *family_get(const char *name)
{
    if (name == NULL)
        return NULL;
    for (size_t i = 0; i < n_families; i++)
        if (strcmp(families[i]->name, name) == 0)
            return families[i];
    return NULL;
}

static void series_free(struct series *s)
{
    if (s == NULL)
        return;
    for (size_t i = 0; i < s->n_labels; i++) {
        strpool_put(s->labels[i].key);
        strpool_put(s->labels[i].value);
    }
    free(s->counts);
    free(s);
}

static void family_free(struct family *f)
{
    if (f == NULL)
        return;
    for (size_t i = 0; i < f->n_series; i++)
        series_free(f->series[i]);
    for (size_t i = 0; i < f->n_later_keys; i++)
        strpool_put(f->later_keys[i]);
    free(f->series);
    free(f->name);
    free(f->help);
    free(f->buckets);
    free(f);
}

void nh_metrics_describe(const char *name, enum nh_metric_type type, const char *help,
                         const double *buckets, size_t n_buckets)
{
    struct family *f = family_get(name);

    if (f != NULL) {
        if (f->type != type)
            nh_log(LOG_WARNING, "metrics: %s already described as a %s, not a %s; keeping %s", name,
                   type_name(f->type), type_name(type), type_name(f->type));
        return;
    }
    if (!valid_metric_name(name)) {
        nh_log(LOG_WARNING,
               "metrics: \"%s\" is not a valid metric name ([a-zA-Z_:][a-zA-Z0-9_:]*); "
               "ignoring it",
               name ? name : "(null)");
        return;
    }
    if (type == NH_METRIC_HISTOGRAM) {
        bool ok = buckets != NULL && n_buckets > 0 && n_buckets <= NH_METRICS_MAX_BUCKETS;
        for (size_t i = 0; ok && i < n_buckets; i++)
            ok = isfinite(buckets[i]) && (i == 0 || buckets[i] > buckets[i - 1]);
        if (!ok) {
            nh_log(LOG_WARNING,
                   "metrics: histogram %s needs 1..%d finite, strictly ascending "
                   "bucket bounds; ignoring it",
                   name, NH_METRICS_MAX_BUCKETS);
            return;
        }
    }
    if (n_families == alloc_families) {
        size_t n = alloc_families ? alloc_families * 2 : 16;
        struct family **nf = realloc(families, n * sizeof(*nf));
        if (nf == NULL)
            return;
        families = nf;
        alloc_families = n;
    }
    f = calloc(1, sizeof(*f));
    if (f == NULL)
        return;
    f->type = type;
    f->name = strdup(name);
    f->help = strdup(help ? help : "");
    if (type == NH_METRIC_HISTOGRAM) {
        f->buckets = malloc(n_buckets * sizeof(*f->buckets));
        if (f->buckets != NULL) {
            memcpy(f->buckets, buckets, n_buckets * sizeof(*f->buckets));
            f->n_buckets = n_buckets;
        }
    }
    if (f->name == NULL || f->help == NULL || (type == NH_METRIC_HISTOGRAM && !f->buckets)) {
        family_free(f);
        return;
    }
    families[n_families++] = f;
}

/* Labels of one call, sorted by key, borrowed from the caller. */
struct keyset {
    const char *key[NH_METRICS_MAX_LABELS];
    const char *value[NH_METRICS_MAX_LABELS];
    size_t n;
};

static void family_warn(struct family *f, const char *what)
{
    if (f->warned)
        return;
    f->warned = true;
    nh_log(LOG_WARNING, "metrics: %s: %s; ignoring the update (reported once)", f->name, what);
}

/* Reads (key, value)..., NULL. 0, or -EINVAL with a warning. */
static int keyset_read(struct family *f, struct keyset *ks, va_list ap)
{
    const char *k;

    ks->n = 0;
    while ((k = va_arg(ap, const char *)) != NULL) {
        const char *v = va_arg(ap, const char *);
        if (ks->n == NH_METRICS_MAX_LABELS) {
            family_warn(f, "more than 8 labels");
            return -EINVAL;
        }
        if (!valid_label_name(k) || (f->type == NH_METRIC_HISTOGRAM && strcmp(k, "le") == 0)) {
            family_warn(f, "invalid label name (or \"le\" on a histogram)");
            return -EINVAL;
        }
        /* insertion sort by key; duplicates are a caller bug */
        size_t i = ks->n;
        while (i > 0 && strcmp(ks->key[i - 1], k) > 0) {
            ks->key[i] = ks->key[i - 1];
            ks->value[i] = ks->value[i - 1];
            i--;
        }
        if (i > 0 && strcmp(ks->key[i - 1], k) == 0) {
            family_warn(f, "duplicate label name");
            return -EINVAL;
        }
        ks->key[i] = k;
        ks->value[i] = v ? v : "";
        ks->n++;
    }
    return 0;
}

static int keyset_cmp(const struct keyset *ks, const struct series *s)
{
    for (size_t i = 0; i < ks->n && i < s->n_labels; i++) {
        int c = strcmp(ks->key[i], s->labels[i].key);
        if (c == 0)
            c = strcmp(ks->value[i], s->labels[i].value);
        if (c != 0)
            return c;
    }
    return (ks->n > s->n_labels) - (ks->n < s->n_labels);
}

/* Binary search; *pos is where the series is or would go. */
static struct series *series_find(struct family *f, const struct keyset *ks, size_t *pos)
{
    size_t lo = 0, hi = f->n_series;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = keyset_cmp(ks, f->series[mid]);
        if (c == 0) {
            *pos = mid;
            return f->series[mid];
        }
        if (c < 0)
            hi = mid;
        else
            lo = mid + 1;
    }
    *pos = lo;
    return NULL;
}

/* Records that key (interned) is not the first label of some series. */
static void note_later_key(struct family *f, const char *key)
{
    for (size_t i = 0; i < f->n_later_keys; i++)
        if (f->later_keys[i] == key)
            return;
    size_t cap = sizeof(f->later_keys) / sizeof(f->later_keys[0]);
    const char *k = f->n_later_keys < cap ? strpool_get(key) : NULL;
    if (k == NULL) {
        f->later_overflow = true;
        return;
    }
    f->later_keys[f->n_later_keys++] = k;
}

static struct series *series_get(struct family *f, const struct keyset *ks)
{
    size_t pos;
    struct series *s = series_find(f, ks, &pos);

    if (s != NULL && s->hidden) {
        /* Re-set after a forget (status.c does that on every observation):
         * a new series in the slot of the old, without moving the array. */
        s->hidden = false;
        f->n_hidden--;
        s->value = 0;
        s->sum = 0;
        s->count = 0;
        if (s->counts != NULL)
            memset(s->counts, 0, f->n_buckets * sizeof(*s->counts));
    }
    if (s != NULL)
        return s;
    if (f->n_series - f->n_hidden >= NH_METRICS_MAX_SERIES) {
        family_warn(f, "too many series (100000)");
        return NULL;
    }
    if (f->n_series == f->alloc_series) {
        size_t n = f->alloc_series ? f->alloc_series * 2 : 8;
        struct series **ns = realloc(f->series, n * sizeof(*ns));
        if (ns == NULL)
            return NULL;
        f->series = ns;
        f->alloc_series = n;
    }
    s = calloc(1, sizeof(*s) + ks->n * sizeof(s->labels[0]));
    if (s == NULL)
        return NULL;
    for (size_t i = 0; i < ks->n; i++) {
        s->labels[i].key = strpool_get(ks->key[i]);
        s->labels[i].value = strpool_get(ks->value[i]);
        s->n_labels = i + 1;
        if (s->labels[i].key == NULL || s->labels[i].value == NULL) {
            series_free(s);
            return NULL;
        }
    }
    if (f->type == NH_METRIC_HISTOGRAM) {
        s->counts = calloc(f->n_buckets, sizeof(*s->counts));
        if (s->counts == NULL) {
            series_free(s);
            return NULL;
        }
    }
    for (size_t i = 1; i < s->n_labels; i++)
        note_later_key(f, s->labels[i].key);
    memmove(&f->series[pos + 1], &f->series[pos], (f->n_series - pos) * sizeof(*f->series));
    f->series[pos] = s;
    f->n_series++;
    return s;
}

enum op { OP_INC, OP_SET, OP_OBSERVE };

static void update(const char *name, enum op op, double v, va_list ap)
{
    struct family *f = family_get(name);
    struct keyset ks;

    if (f == NULL) {
        nh_log(LOG_DEBUG, "metrics: %s was never described; ignoring the update",
               name ? name : "(null)");
        return;
    }
    if (isnan(v)) {
        family_warn(f, "NaN value");
        return;
    }
    if (f->collect != NULL) {
        family_warn(f, "update of a collected family (its collector writes it)");
        return;
    }
    switch (op) {
    case OP_INC:
        if (f->type == NH_METRIC_HISTOGRAM) {
            family_warn(f, "inc on a histogram (use observe)");
            return;
        }
        if (f->type == NH_METRIC_COUNTER && v < 0) {
            family_warn(f, "negative increment of a counter");
            return;
        }
        break;
    case OP_SET:
        if (f->type != NH_METRIC_GAUGE) {
            family_warn(f, "set on a counter or histogram (counters only go up)");
            return;
        }
        break;
    case OP_OBSERVE:
        if (f->type != NH_METRIC_HISTOGRAM) {
            family_warn(f, "observe on a counter or gauge");
            return;
        }
        break;
    }
    if (keyset_read(f, &ks, ap) < 0)
        return;
    struct series *s = series_get(f, &ks);
    if (s == NULL)
        return;
    switch (op) {
    case OP_INC:
        s->value += v;
        break;
    case OP_SET:
        s->value = v;
        break;
    case OP_OBSERVE:
        for (size_t i = 0; i < f->n_buckets; i++) {
            if (v <= f->buckets[i]) {
                s->counts[i]++;
                break;
            }
        }
        s->count++; /* larger than every bound: only in +Inf */
        s->sum += v;
        break;
    }
}

void nh_metrics_inc(const char *name, double v, ...)
{
    va_list ap;
    va_start(ap, v);
    update(name, OP_INC, v, ap);
    va_end(ap);
}

void nh_metrics_set(const char *name, double v, ...)
{
    va_list ap;
    va_start(ap, v);
    update(name, OP_SET, v, ap);
    va_end(ap);
}

void nh_metrics_observe(const char *name, double v, ...)
{
    va_list ap;
    va_start(ap, v);
    update(name, OP_OBSERVE, v, ap);
    va_end(ap);
}

/* Whether some series of f may have `key` at a position other than the
 * first (then forgetting by it must walk the whole family). */
static bool key_maybe_later(const struct family *f, const char *key)
{
    if (f->later_overflow)
        return true;
    for (size_t i = 0; i < f->n_later_keys; i++)
        if (strcmp(f->later_keys[i], key) == 0)
            return true;
    return false;
}

/* Orders a series' first label against (key, value) the way series_cmp
 * orders series: a series without labels comes first. */
static int first_label_cmp(const struct series *s, const char *key, const char *value)
{
    if (s->n_labels == 0)
        return -1;
    int c = strcmp(s->labels[0].key, key);
    return c != 0 ? c : strcmp(s->labels[0].value, value);
}

/* Issue #21: forgetting one cluster costs that cluster's series (plus a
 * binary search and one memmove of pointers), not a string walk over the
 * whole family. */
void nh_metrics_forget(const char *name, const char *key, const char *value)
{
    struct family *f = family_get(name);
    size_t kept = 0;

    if (f == NULL || key == NULL || value == NULL || f->collect != NULL)
        return;
    if (!key_maybe_later(f, key)) {
        /* Every match has (key, value) first: one contiguous run. */
        size_t lo = 0, hi = f->n_series;
        while (lo < hi) {
            size_t mid = lo + (hi - lo) / 2;
            if (first_label_cmp(f->series[mid], key, value) < 0)
                lo = mid + 1;
            else
                hi = mid;
        }
        /* Hidden in place, not removed: the caller usually sets most of
         * them again at once, and removing then re-inserting would move the
         * tail of the array once per series. Freed once half are hidden. */
        for (size_t i = lo; i < f->n_series && first_label_cmp(f->series[i], key, value) == 0; i++)
            if (!f->series[i]->hidden) {
                f->series[i]->hidden = true;
                f->n_hidden++;
            }
        if (f->n_hidden * 2 <= f->n_series)
            return;
    }
    for (size_t i = 0; i < f->n_series; i++) {
        struct series *s = f->series[i];
        bool match = s->hidden;
        for (size_t j = 0; j < s->n_labels; j++)
            if (strcmp(s->labels[j].key, key) == 0 && strcmp(s->labels[j].value, value) == 0)
                match = true;
        if (match)
            series_free(s);
        else
            f->series[kept++] = s; /* order is kept, so still sorted */
    }
    f->n_series = kept;
    f->n_hidden = 0;
}

/* ---------- collected families ---------- */

/* Where a collector's series go: rendered into out, or (out NULL) compared
 * with want for nh_metrics_get. */
struct nh_metrics_sink {
    struct family *f;
    struct nh_buf *out;
    const struct keyset *want;
    double found;
    int err; /* the first failure; later emits do nothing */
};

static int append_sample(struct nh_buf *out, const char *name, const char *suffix,
                         const struct keyset *ks, const char *le, double v);

static bool keyset_equal(const struct keyset *a, const struct keyset *b)
{
    if (a->n != b->n)
        return false;
    for (size_t i = 0; i < a->n; i++)
        if (strcmp(a->key[i], b->key[i]) != 0 || strcmp(a->value[i], b->value[i]) != 0)
            return false;
    return true;
}

int nh_metrics_emit(struct nh_metrics_sink *sink, double v, ...)
{
    struct keyset ks;
    va_list ap;

    if (sink->err != 0)
        return sink->err;
    va_start(ap, v);
    int r = keyset_read(sink->f, &ks, ap);
    va_end(ap);
    if (r < 0)
        return 0; /* warned; the other series still render */
    if (isnan(v)) {
        family_warn(sink->f, "NaN value");
        return 0;
    }
    if (sink->out == NULL) {
        if (keyset_equal(&ks, sink->want))
            sink->found = v;
        return 0;
    }
    sink->err = append_sample(sink->out, sink->f->name, "", &ks, NULL, v);
    return sink->err;
}

static double collected_get(struct family *f, const struct keyset *want)
{
    struct nh_metrics_sink sink = {.f = f, .want = want, .found = NAN};
    return f->collect(f->collect_arg, &sink) < 0 ? NAN : sink.found;
}

void nh_metrics_collect(const char *name, nh_metrics_collect_fn fn, void *arg)
{
    struct family *f = family_get(name);

    if (f == NULL || fn == NULL)
        return;
    if (f->type == NH_METRIC_HISTOGRAM) {
        family_warn(f, "a histogram cannot be collected");
        return;
    }
    for (size_t i = 0; i < f->n_series; i++)
        series_free(f->series[i]);
    f->n_series = 0;
    f->n_hidden = 0;
    f->collect = fn;
    f->collect_arg = arg;
}

void nh_metrics_uncollect(const char *name, const void *arg)
{
    struct family *f = family_get(name);

    if (f != NULL && f->collect != NULL && f->collect_arg == arg) {
        f->collect = NULL;
        f->collect_arg = NULL;
    }
}

double nh_metrics_get(const char *name, ...)
{
    struct family *f = family_get(name);
    struct keyset ks;
    size_t pos;
    va_list ap;

    if (f == NULL)
        return NAN;
    va_start(ap, name);
    int r = keyset_read(f, &ks, ap);
    va_end(ap);
    if (r < 0)
        return NAN;
    if (f->collect != NULL)
        return collected_get(f, &ks);
    struct series *s = series_find(f, &ks, &pos);
    if (s == NULL || s->hidden)
        return NAN;
    return f->type == NH_METRIC_HISTOGRAM ? (double)s->count : s->value;
}

/* Go's strconv-style shortest form that parses back to the same double. */
static int append_double(struct nh_buf *out, double v)
{
    char tmp[40];

    if (isnan(v))
        return nh_buf_appends(out, "NaN");
    if (isinf(v))
        return nh_buf_appends(out, v > 0 ? "+Inf" : "-Inf");
    for (int prec = 15; prec <= 17; prec++) {
        snprintf(tmp, sizeof(tmp), "%.*g", prec, v);
        if (strtod(tmp, NULL) == v)
            break;
    }
    return nh_buf_appends(out, tmp);
}

/* HELP text: \ and newline escaped. Label values: also ". */
static int append_escaped(struct nh_buf *out, const char *s, bool quote)
{
    int r = 0;
    const char *run = s;

    for (const char *p = s; r == 0 && *p; p++) {
        const char *esc = NULL;
        if (*p == '\\')
            esc = "\\\\";
        else if (*p == '\n')
            esc = "\\n";
        else if (quote && *p == '"')
            esc = "\\\"";
        if (esc == NULL)
            continue;
        r = nh_buf_append(out, run, (size_t)(p - run));
        if (r == 0)
            r = nh_buf_appends(out, esc);
        run = p + 1;
    }
    if (r == 0)
        r = nh_buf_appends(out, run);
    return r;
}

/* name{k="v",...[,le="bound"]} value\n */
static int append_sample(struct nh_buf *out, const char *name, const char *suffix,
                         const struct keyset *ks, const char *le, double v)
{
    int r = nh_buf_appends(out, name);
    if (r == 0)
        r = nh_buf_appends(out, suffix);
    if (r == 0 && (ks->n > 0 || le != NULL))
        r = nh_buf_appends(out, "{");
    for (size_t i = 0; r == 0 && i < ks->n; i++) {
        r = nh_buf_printf(out, "%s%s=\"", i ? "," : "", ks->key[i]);
        if (r == 0)
            r = append_escaped(out, ks->value[i], true);
        if (r == 0)
            r = nh_buf_appends(out, "\"");
    }
    if (r == 0 && le != NULL)
        r = nh_buf_printf(out, "%sle=\"%s\"", ks->n ? "," : "", le);
    if (r == 0 && (ks->n > 0 || le != NULL))
        r = nh_buf_appends(out, "}");
    if (r == 0)
        r = nh_buf_appends(out, " ");
    if (r == 0)
        r = append_double(out, v);
    if (r == 0)
        r = nh_buf_appends(out, "\n");
    return r;
}

static int render_family(struct nh_buf *out, const struct family *f)
{
    int r = nh_buf_printf(out, "# HELP %s ", f->name);
    if (r == 0)
        r = append_escaped(out, f->help, false);
    if (r == 0)
        r = nh_buf_printf(out, "\n# TYPE %s %s\n", f->name, type_name(f->type));
    if (r == 0 && f->collect != NULL) {
        struct nh_metrics_sink sink = {.f = (struct family *)f, .out = out};
        r = f->collect(f->collect_arg, &sink);
        return r < 0 ? r : sink.err;
    }
    for (size_t i = 0; r == 0 && i < f->n_series; i++) {
        const struct series *s = f->series[i];
        struct keyset ks = {.n = s->n_labels};
        if (s->hidden)
            continue;
        for (size_t k = 0; k < s->n_labels; k++) {
            ks.key[k] = s->labels[k].key;
            ks.value[k] = s->labels[k].value;
        }
        if (f->type != NH_METRIC_HISTOGRAM) {
            r = append_sample(out, f->name, "", &ks, NULL, s->value);
            continue;
        }
        uint64_t cum = 0;
        for (size_t b = 0; r == 0 && b < f->n_buckets; b++) {
            struct nh_buf le;
            nh_buf_init(&le, 64);
            cum += s->counts[b];
            r = append_double(&le, f->buckets[b]);
            if (r == 0)
                r = append_sample(out, f->name, "_bucket", &ks, le.data, (double)cum);
            nh_buf_free(&le);
        }
        if (r == 0)
            r = append_sample(out, f->name, "_bucket", &ks, "+Inf", (double)s->count);
        if (r == 0)
            r = append_sample(out, f->name, "_sum", &ks, NULL, s->sum);
        if (r == 0)
            r = append_sample(out, f->name, "_count", &ks, NULL, (double)s->count);
    }
    return r;
}

int nh_metrics_render(struct nh_buf *out)
{
    for (size_t i = 0; i < n_families; i++) {
        int r = render_family(out, families[i]);
        if (r < 0)
            return r;
    }
    return 0;
}

void nh_metrics_reset(void)
{
    for (size_t i = 0; i < n_families; i++)
        family_free(families[i]);
    free(families);
    families = NULL;
    n_families = 0;
    alloc_families = 0;
}
