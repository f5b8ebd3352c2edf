/* test_metrics.c - the registry rendered in Prometheus text format 0.0.4 and
 * read back by a small strict parser written here: HELP/TYPE before samples,
 * valid names, label escaping (\\ \" \n only), values, histogram buckets
 * cumulative with ascending le ending in +Inf and _count equal to it. */
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "ops/metrics.h"
#include "util/buf.h"

/* ---- the strict parser ---- */

#define MAXS 256
#define MAXL 8

struct sample {
    char name[128];   /* as written, e.g. x_bucket */
    char family[128]; /* the TYPE'd family it belongs to */
    char key[MAXL][64];
    char val[MAXL][256]; /* decoded */
    int n_labels;
    double value;
};

struct parsed {
    struct sample s[MAXS];
    int n;
    char families[32][128];
    char types[32][16];
    char helps[32][256];
    int n_families;
    char err[256];
};

static bool name_char(char c, bool first, bool colon)
{
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || (colon && c == ':'))
        return true;
    return !first && c >= '0' && c <= '9';
}

/* Reads a name at *p; returns its length (0 = none). */
static size_t read_name(const char *p, bool colon, char *out, size_t outlen)
{
    size_t n = 0;
    while (name_char(p[n], n == 0, colon))
        n++;
    if (n == 0 || n >= outlen)
        return 0;
    memcpy(out, p, n);
    out[n] = '\0';
    return n;
}

static bool parse_value(const char *p, const char *end, double *v)
{
    char tmp[64];
    size_t n = (size_t)(end - p);
    if (n == 0 || n >= sizeof(tmp))
        return false;
    memcpy(tmp, p, n);
    tmp[n] = '\0';
    if (strcmp(tmp, "+Inf") == 0) {
        *v = INFINITY;
        return true;
    }
    if (strcmp(tmp, "-Inf") == 0) {
        *v = -INFINITY;
        return true;
    }
    if (strcmp(tmp, "NaN") == 0) {
        *v = NAN;
        return true;
    }
    char *e;
    /* strtod would also take "inf", "nan", hex: the format does not */
    for (size_t i = 0; i < n; i++)
        if (!strchr("0123456789.eE+-", tmp[i]))
            return false;
    *v = strtod(tmp, &e);
    return *e == '\0';
}

static int fam_index(struct parsed *ps, const char *name)
{
    for (int i = 0; i < ps->n_families; i++)
        if (strcmp(ps->families[i], name) == 0)
            return i;
    return -1;
}

#define FAIL(...)                                                                                  \
    do {                                                                                           \
        snprintf(ps->err, sizeof(ps->err), __VA_ARGS__);                                           \
        return false;                                                                              \
    } while (0)

static bool parse_sample(struct parsed *ps, const char *line, const char *end, int lineno)
{
    struct sample *s;
    const char *p = line;
    size_t n;

    if (ps->n == MAXS)
        FAIL("%d: too many samples for the test parser", lineno);
    s = &ps->s[ps->n];
    memset(s, 0, sizeof(*s));
    n = read_name(p, true, s->name, sizeof(s->name));
    if (n == 0)
        FAIL("%d: bad metric name", lineno);
    p += n;
    if (*p == '{') {
        p++;
        while (*p != '}') {
            if (s->n_labels == MAXL)
                FAIL("%d: too many labels", lineno);
            n = read_name(p, false, s->key[s->n_labels], sizeof(s->key[0]));
            if (n == 0)
                FAIL("%d: bad label name at '%.10s'", lineno, p);
            p += n;
            if (p[0] != '=' || p[1] != '"')
                FAIL("%d: expected =\" after label name", lineno);
            p += 2;
            size_t o = 0;
            char *val = s->val[s->n_labels];
            while (*p != '"') {
                if (p >= end)
                    FAIL("%d: unterminated label value", lineno);
                char c = *p++;
                if (c == '\\') {
                    char e = *p++;
                    if (e == 'n')
                        c = '\n';
                    else if (e == '\\' || e == '"')
                        c = e;
                    else
                        FAIL("%d: bad escape \\%c in label value", lineno, e);
                }
                if (o + 1 >= sizeof(s->val[0]))
                    FAIL("%d: label value too long", lineno);
                val[o++] = c;
            }
            val[o] = '\0';
            p++; /* closing quote */
            for (int i = 0; i < s->n_labels; i++)
                if (strcmp(s->key[i], s->key[s->n_labels]) == 0)
                    FAIL("%d: duplicate label %s", lineno, s->key[i]);
            s->n_labels++;
            if (*p == ',')
                p++;
            else if (*p != '}')
                FAIL("%d: expected , or } after a label", lineno);
        }
        p++;
    }
    if (*p != ' ')
        FAIL("%d: expected one space before the value", lineno);
    p++;
    if (!parse_value(p, end, &s->value))
        FAIL("%d: bad value '%.*s' (or a timestamp)", lineno, (int)(end - p), p);

    /* which family: exact name, or a histogram's _bucket/_sum/_count */
    int fi = fam_index(ps, s->name);
    if (fi >= 0 && strcmp(ps->types[fi], "histogram") != 0) {
        strcpy(s->family, s->name);
    } else {
        static const char *const sfx[] = {"_bucket", "_sum", "_count"};
        fi = -1;
        for (int k = 0; k < 3 && fi < 0; k++) {
            size_t ln = strlen(s->name), ls = strlen(sfx[k]);
            if (ln > ls && strcmp(s->name + ln - ls, sfx[k]) == 0) {
                char base[128];
                memcpy(base, s->name, ln - ls);
                base[ln - ls] = '\0';
                fi = fam_index(ps, base);
                if (fi >= 0 && strcmp(ps->types[fi], "histogram") != 0)
                    fi = -1;
                if (fi >= 0)
                    strcpy(s->family, base);
            }
        }
        if (fi < 0)
            FAIL("%d: sample %s has no # TYPE before it", lineno, s->name);
    }
    if (fi != ps->n_families - 1)
        FAIL("%d: sample %s not inside its family's block", lineno, s->name);
    ps->n++;
    return true;
}

static const char *label(const struct sample *s, const char *key)
{
    for (int i = 0; i < s->n_labels; i++)
        if (strcmp(s->key[i], key) == 0)
            return s->val[i];
    return NULL;
}

/* Same labels apart from le. */
static bool same_series(const struct sample *a, const struct sample *b)
{
    for (int i = 0; i < a->n_labels; i++) {
        if (strcmp(a->key[i], "le") == 0)
            continue;
        const char *v = label(b, a->key[i]);
        if (v == NULL || strcmp(v, a->val[i]) != 0)
            return false;
    }
    for (int i = 0; i < b->n_labels; i++)
        if (strcmp(b->key[i], "le") != 0 && label(a, b->key[i]) == NULL)
            return false;
    return true;
}

/* Every histogram series: buckets (le ascending, counts cumulative, last
 * +Inf), then _sum, then _count == +Inf. */
static bool check_histograms(struct parsed *ps)
{
    for (int i = 0; i < ps->n;) {
        struct sample *s = &ps->s[i];
        int fi = fam_index(ps, s->family);
        if (strcmp(ps->types[fi], "histogram") != 0) {
            i++;
            continue;
        }
        double prev_le = -INFINITY, prev_count = 0;
        int j = i;
        for (; j < ps->n && strcmp(ps->s[j].name + strlen(s->family), "_bucket") == 0; j++) {
            struct sample *b = &ps->s[j];
            const char *le = label(b, "le");
            double lev;
            if (!same_series(s, b) || le == NULL || !parse_value(le, le + strlen(le), &lev))
                FAIL("%s: bucket without a valid le or of another series", s->family);
            if (!(lev > prev_le))
                FAIL("%s: le not ascending", s->family);
            if (b->value < prev_count)
                FAIL("%s: bucket counts not cumulative", s->family);
            prev_le = lev;
            prev_count = b->value;
        }
        if (j == i || !isinf(prev_le))
            FAIL("%s: buckets missing or not ending with le=\"+Inf\"", s->family);
        if (j + 1 >= ps->n || strcmp(ps->s[j].name + strlen(s->family), "_sum") != 0 ||
            strcmp(ps->s[j + 1].name + strlen(s->family), "_count") != 0 ||
            !same_series(s, &ps->s[j]) || !same_series(s, &ps->s[j + 1]))
            FAIL("%s: _sum and _count must follow the buckets", s->family);
        if (ps->s[j + 1].value != prev_count)
            FAIL("%s: _count %g != +Inf bucket %g", s->family, ps->s[j + 1].value, prev_count);
        i = j + 2;
    }
    return true;
}

static bool parse_text(const char *text, struct parsed *ps)
{
    const char *p = text;
    int lineno = 0;
    bool have_help = false;

    memset(ps, 0, sizeof(*ps));
    while (*p) {
        const char *end = strchr(p, '\n');
        lineno++;
        if (end == NULL)
            FAIL("%d: last line has no newline", lineno);
        if (end == p)
            FAIL("%d: empty line", lineno);
        if (strncmp(p, "# HELP ", 7) == 0) {
            char name[128];
            size_t n = read_name(p + 7, true, name, sizeof(name));
            if (n == 0 || p[7 + n] != ' ')
                FAIL("%d: bad HELP line", lineno);
            if (fam_index(ps, name) >= 0)
                FAIL("%d: second HELP for %s", lineno, name);
            for (const char *q = p + 8 + n; q < end; q++)
                if (*q == '\\' && q[1] != '\\' && q[1] != 'n')
                    FAIL("%d: bad escape in HELP", lineno);
                else if (*q == '\\')
                    q++;
            if (ps->n_families == 32)
                FAIL("too many families");
            strcpy(ps->families[ps->n_families], name);
            snprintf(ps->helps[ps->n_families], sizeof(ps->helps[0]), "%.*s",
                     (int)(end - (p + 8 + n)), p + 8 + n);
            have_help = true;
        } else if (strncmp(p, "# TYPE ", 7) == 0) {
            char name[128], type[16];
            size_t n = read_name(p + 7, true, name, sizeof(name));
            if (n == 0 || p[7 + n] != ' ' || !have_help ||
                strcmp(name, ps->families[ps->n_families]) != 0)
                FAIL("%d: TYPE must directly follow the HELP of the same name", lineno);
            snprintf(type, sizeof(type), "%.*s", (int)(end - (p + 8 + n)), p + 8 + n);
            if (strcmp(type, "counter") && strcmp(type, "gauge") && strcmp(type, "histogram"))
                FAIL("%d: unexpected type '%s'", lineno, type);
            strcpy(ps->types[ps->n_families], type);
            ps->n_families++;
            have_help = false;
        } else if (*p == '#') {
            FAIL("%d: unexpected comment", lineno);
        } else {
            if (have_help)
                FAIL("%d: sample between HELP and TYPE", lineno);
            if (!parse_sample(ps, p, end, lineno))
                return false;
        }
        p = end + 1;
    }
    if (have_help)
        FAIL("HELP without TYPE at the end");
    return check_histograms(ps);
}

static const struct sample *find(const struct parsed *ps, const char *name, const char *k,
                                 const char *v)
{
    for (int i = 0; i < ps->n; i++) {
        if (strcmp(ps->s[i].name, name) != 0)
            continue;
        const char *lv = k ? label(&ps->s[i], k) : NULL;
        if (k == NULL || (lv && strcmp(lv, v) == 0))
            return &ps->s[i];
    }
    return NULL;
}

static char *render(void)
{
    struct nh_buf b;
    nh_buf_init(&b, 1 << 20);
    assert_int_equal(nh_metrics_render(&b), 0);
    return nh_buf_steal(&b);
}

static void parse_ok(const char *text, struct parsed *ps)
{
    if (!parse_text(text, ps))
        fail_msg("not valid text format: %s\n---\n%s---", ps->err, text);
}

static int reset(void **state)
{
    (void)state;
    nh_metrics_reset();
    return 0;
}

/* ---- the parser itself rejects what it must (so its passes mean something) ---- */

static void test_parser_rejects_broken_text(void **state)
{
    (void)state;
    static struct parsed ps;
    static const char *const bad[] = {
        "x 1\n",                                           /* no TYPE */
        "# HELP x h\n# TYPE x counter\nx{a=\"\\t\"} 1\n",  /* bad escape */
        "# HELP x h\n# TYPE x counter\nx{a=\"q\"q\"} 1\n", /* raw quote */
        "# HELP x h\n# TYPE x counter\nx 1",               /* no newline */
        "# HELP x h\n# TYPE x counter\nx inf\n",           /* not +Inf */
        "# HELP x h\n# TYPE x histogram\nx_bucket{le=\"1\"} 2\nx_bucket{le=\"+Inf\"} 1\n"
        "x_sum 1\nx_count 1\n", /* not cumulative */
        "# HELP x h\n# TYPE x histogram\nx_bucket{le=\"1\"} 1\nx_sum 1\nx_count 1\n", /* +Inf */
        "# HELP x h\n# TYPE x histogram\nx_bucket{le=\"+Inf\"} 2\nx_sum 1\nx_count 1\n",
        "# HELP x h\n# TYPE x counter\n# HELP y h\n# TYPE y gauge\nx 1\n", /* interleaved */
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        if (parse_text(bad[i], &ps))
            fail_msg("parser accepted bad input #%zu", i);
}

/* ---- the registry ---- */

static void test_metrics_counter_renders_exact_text(void **state)
{
    (void)state;
    nh_metrics_describe("nodeherd_x_total", NH_METRIC_COUNTER, "Things done.", NULL, 0);
    nh_metrics_inc("nodeherd_x_total", 2, "b", "2", "a", "1", NULL);
    nh_metrics_inc("nodeherd_x_total", 1, "a", "1", "b", "2", NULL); /* same series */
    char *t = render();
    assert_string_equal(t, "# HELP nodeherd_x_total Things done.\n"
                           "# TYPE nodeherd_x_total counter\n"
                           "nodeherd_x_total{a=\"1\",b=\"2\"} 3\n");
    free(t);
    assert_true(nh_metrics_get("nodeherd_x_total", "a", "1", "b", "2", NULL) == 3);
}

static void test_metrics_label_values_escaped_and_read_back(void **state)
{
    (void)state;
    static struct parsed ps;
    const char *nasty = "a\\b\"c\nd}e,f=\"";
    nh_metrics_describe("nodeherd_g", NH_METRIC_GAUGE, "Help with \\ and\nnewline.", NULL, 0);
    nh_metrics_set("nodeherd_g", 1.5, "cluster", nasty, NULL);
    nh_metrics_set("nodeherd_g", -2, "cluster", "", NULL);
    char *t = render();
    assert_non_null(strstr(t, "cluster=\"a\\\\b\\\"c\\nd}e,f=\\\"\""));
    assert_non_null(strstr(t, "# HELP nodeherd_g Help with \\\\ and\\nnewline.\n"));
    parse_ok(t, &ps);
    const struct sample *s = find(&ps, "nodeherd_g", "cluster", nasty);
    assert_non_null(s);
    assert_true(s->value == 1.5);
    s = find(&ps, "nodeherd_g", "cluster", "");
    assert_non_null(s);
    assert_true(s->value == -2);
    free(t);
}

static void test_metrics_families_in_registration_order_series_sorted(void **state)
{
    (void)state;
    static struct parsed ps;
    nh_metrics_describe("nodeherd_zz", NH_METRIC_GAUGE, "z", NULL, 0);
    nh_metrics_describe("nodeherd_aa", NH_METRIC_GAUGE, "a", NULL, 0);
    nh_metrics_set("nodeherd_zz", 1, "cluster", "web", NULL);
    nh_metrics_set("nodeherd_zz", 2, "cluster", "ai", NULL);
    nh_metrics_set("nodeherd_zz", 3, "cluster", "train", NULL);
    nh_metrics_set("nodeherd_aa", 4, NULL);
    char *t = render();
    char *again = render();
    assert_string_equal(t, again); /* deterministic */
    parse_ok(t, &ps);
    assert_int_equal(ps.n_families, 2);
    assert_string_equal(ps.families[0], "nodeherd_zz");
    assert_string_equal(ps.families[1], "nodeherd_aa");
    assert_int_equal(ps.n, 4);
    assert_string_equal(label(&ps.s[0], "cluster"), "ai");
    assert_string_equal(label(&ps.s[1], "cluster"), "train");
    assert_string_equal(label(&ps.s[2], "cluster"), "web");
    assert_int_equal(ps.s[3].n_labels, 0);
    assert_true(ps.s[3].value == 4);
    free(t);
    free(again);
}

static void test_metrics_counters_monotonic_across_renders(void **state)
{
    (void)state;
    static struct parsed a, b;
    nh_metrics_describe("nodeherd_actions_total", NH_METRIC_COUNTER, "Actions.", NULL, 0);
    nh_metrics_inc("nodeherd_actions_total", 1, "cluster", "web", "result", "done", NULL);
    nh_metrics_inc("nodeherd_actions_total", 1, "cluster", "ai", "result", "failed", NULL);
    char *t1 = render();
    nh_metrics_inc("nodeherd_actions_total", 2, "cluster", "web", "result", "done", NULL);
    nh_metrics_inc("nodeherd_actions_total", -5, "cluster", "ai", "result", "failed", NULL);
    nh_metrics_set("nodeherd_actions_total", 0, "cluster", "ai", "result", "failed", NULL);
    nh_metrics_inc("nodeherd_actions_total", NAN, "cluster", "ai", "result", "failed", NULL);
    char *t2 = render();
    parse_ok(t1, &a);
    parse_ok(t2, &b);
    assert_int_equal(a.n, b.n);
    for (int i = 0; i < a.n; i++) {
        const struct sample *later = find(&b, a.s[i].name, "cluster", label(&a.s[i], "cluster"));
        assert_non_null(later);
        assert_true(later->value >= a.s[i].value);
    }
    assert_true(
        nh_metrics_get("nodeherd_actions_total", "cluster", "web", "result", "done", NULL) == 3);
    assert_true(
        nh_metrics_get("nodeherd_actions_total", "result", "failed", "cluster", "ai", NULL) == 1);
    free(t1);
    free(t2);
}

static void test_metrics_histogram_cumulative_with_inf_sum_count(void **state)
{
    (void)state;
    static struct parsed ps;
    static const double b[] = {0.1, 0.5, 1};
    nh_metrics_describe("nodeherd_api_request_duration_seconds", NH_METRIC_HISTOGRAM,
                        "API latency.", b, 3);
    const char *n = "nodeherd_api_request_duration_seconds";
    nh_metrics_observe(n, 0.05, "provider", "p1", NULL);
    nh_metrics_observe(n, 0.1, "provider", "p1", NULL); /* le is inclusive */
    nh_metrics_observe(n, 0.7, "provider", "p1", NULL);
    nh_metrics_observe(n, 5, "provider", "p1", NULL); /* only +Inf */
    nh_metrics_observe(n, 0.3, "provider", "p0", NULL);
    char *t = render();
    parse_ok(t, &ps);
    assert_non_null(strstr(t, "nodeherd_api_request_duration_seconds_bucket{provider=\"p1\","
                              "le=\"0.1\"} 2\n"
                              "nodeherd_api_request_duration_seconds_bucket{provider=\"p1\","
                              "le=\"0.5\"} 2\n"
                              "nodeherd_api_request_duration_seconds_bucket{provider=\"p1\","
                              "le=\"1\"} 3\n"
                              "nodeherd_api_request_duration_seconds_bucket{provider=\"p1\","
                              "le=\"+Inf\"} 4\n"));
    const struct sample *sum =
        find(&ps, "nodeherd_api_request_duration_seconds_sum", "provider", "p1");
    assert_non_null(sum);
    assert_true(fabs(sum->value - 5.85) < 1e-9);
    /* p0 sorts before p1 */
    assert_string_equal(label(&ps.s[0], "provider"), "p0");
    assert_int_equal(ps.n, 12); /* 2 series x (4 buckets + sum + count) */
    assert_true(nh_metrics_get(n, "provider", "p1", NULL) == 4);
    free(t);
}

static void test_metrics_values_round_trip(void **state)
{
    (void)state;
    static struct parsed ps;
    static const double v[] = {0.1, 1e21, 1764000099, -0.000123, 1.0 / 3, INFINITY};
    nh_metrics_describe("nodeherd_v", NH_METRIC_GAUGE, "v", NULL, 0);
    char key[8];
    for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
        snprintf(key, sizeof(key), "%zu", i);
        nh_metrics_set("nodeherd_v", v[i], "i", key, NULL);
    }
    char *t = render();
    parse_ok(t, &ps);
    assert_non_null(strstr(t, "nodeherd_v{i=\"0\"} 0.1\n"));
    assert_non_null(strstr(t, "nodeherd_v{i=\"2\"} 1764000099\n"));
    assert_non_null(strstr(t, "nodeherd_v{i=\"5\"} +Inf\n"));
    for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
        snprintf(key, sizeof(key), "%zu", i);
        const struct sample *s = find(&ps, "nodeherd_v", "i", key);
        assert_non_null(s);
        assert_true(s->value == v[i]);
    }
    free(t);
}

static void test_metrics_forget_removes_matching_series(void **state)
{
    (void)state;
    static struct parsed ps;
    nh_metrics_describe("nodeherd_desired_nodes", NH_METRIC_GAUGE, "d", NULL, 0);
    nh_metrics_set("nodeherd_desired_nodes", 7, "cluster", "web", "pool", "", NULL);
    nh_metrics_set("nodeherd_desired_nodes", 4, "cluster", "web", "pool", "np-web", NULL);
    nh_metrics_set("nodeherd_desired_nodes", 2, "cluster", "ai", "pool", "np-1", NULL);
    nh_metrics_forget("nodeherd_desired_nodes", "cluster", "web");
    assert_true(
        isnan(nh_metrics_get("nodeherd_desired_nodes", "cluster", "web", "pool", "", NULL)));
    char *t = render();
    parse_ok(t, &ps);
    assert_int_equal(ps.n, 1);
    assert_string_equal(label(&ps.s[0], "cluster"), "ai");
    free(t);
    nh_metrics_set("nodeherd_desired_nodes", 1, "cluster", "web", "pool", "", NULL); /* again */
    assert_true(nh_metrics_get("nodeherd_desired_nodes", "cluster", "web", "pool", "", NULL) == 1);
}

/* Many clusters, whose names are prefixes of one another (c1, c10, c100);
 * one family with "cluster" as the first label (the indexed run), one where
 * another label sorts before it (the full walk), one series without labels.
 * a / b: clusters left out (-1: none), or with only, the only ones kept. */
#define FORGET_CLUSTERS 200
static void fill_clusters(int a, int b, bool only)
{
    static const char *pools[] = {"", "np-a", "np-b"};
    static const char *states[] = {"ready", "not_ready", "failed"};
    char name[32];

    nh_metrics_describe("nodeherd_nodes", NH_METRIC_GAUGE, "n", NULL, 0);
    nh_metrics_describe("nodeherd_zone_nodes", NH_METRIC_GAUGE, "z", NULL, 0);
    nh_metrics_set("nodeherd_nodes", 42, NULL);
    for (int c = 0; c < FORGET_CLUSTERS; c++) {
        if ((c == a || c == b) != only)
            continue;
        snprintf(name, sizeof(name), "c%d", c);
        for (size_t p = 0; p < 3; p++) {
            for (size_t k = 0; k < 3; k++)
                nh_metrics_set("nodeherd_nodes", c * 10 + (double)(p * 3 + k), "state", states[k],
                               "pool", pools[p], "cluster", name, NULL);
            nh_metrics_set("nodeherd_zone_nodes", c + (double)p, "cluster", name, "a_zone",
                           pools[p], NULL);
        }
    }
}

static void test_metrics_forget_one_cluster_of_many(void **state)
{
    (void)state;
    nh_metrics_describe("nodeherd_empty", NH_METRIC_GAUGE, "e", NULL, 0);
    nh_metrics_forget("nodeherd_empty", "cluster", "c1"); /* no series yet */
    fill_clusters(-1, -1, false);
    nh_metrics_forget("nodeherd_nodes", "cluster", "c1");
    nh_metrics_forget("nodeherd_zone_nodes", "cluster", "c1");
    nh_metrics_forget("nodeherd_nodes", "cluster", "c150");
    nh_metrics_forget("nodeherd_zone_nodes", "cluster", "c150");
    nh_metrics_forget("nodeherd_nodes", "cluster", "no-such-cluster");
    nh_metrics_forget("nodeherd_nodes", "pool", "no-such-pool");
    assert_true(isnan(
        nh_metrics_get("nodeherd_nodes", "cluster", "c1", "pool", "np-a", "state", "ready", NULL)));
    assert_true(
        isnan(nh_metrics_get("nodeherd_zone_nodes", "cluster", "c150", "a_zone", "", NULL)));
    assert_true(nh_metrics_get("nodeherd_nodes", "cluster", "c10", "pool", "np-b", "state",
                               "failed", NULL) == 108);
    assert_true(
        nh_metrics_get("nodeherd_nodes", "cluster", "c0", "pool", "", "state", "ready", NULL) == 0);
    assert_true(nh_metrics_get("nodeherd_zone_nodes", "cluster", "c199", "a_zone", "np-b", NULL) ==
                201);
    assert_true(nh_metrics_get("nodeherd_nodes", NULL) == 42);
    char *after = render();

    /* Byte for byte what a registry that never had c1 and c150 renders. */
    nh_metrics_reset();
    nh_metrics_describe("nodeherd_empty", NH_METRIC_GAUGE, "e", NULL, 0);
    fill_clusters(1, 150, false);
    char *expect = render();
    assert_string_equal(after, expect);
    free(after);
    free(expect);

    /* Forget by a key that is never first walks the family. */
    nh_metrics_forget("nodeherd_nodes", "state", "failed");
    assert_true(isnan(nh_metrics_get("nodeherd_nodes", "cluster", "c10", "pool", "np-b", "state",
                                     "failed", NULL)));
    assert_true(nh_metrics_get("nodeherd_nodes", "cluster", "c10", "pool", "np-b", "state",
                               "not_ready", NULL) == 107);
}

/* A forgotten series set again starts afresh (counter from 0, histogram
 * empty), and forgetting most clusters leaves exactly the others. */
static void test_metrics_forget_then_update_starts_afresh(void **state)
{
    (void)state;
    static const double b[] = {1, 2};
    char name[32];
    nh_metrics_describe("nodeherd_c_total", NH_METRIC_COUNTER, "c", NULL, 0);
    nh_metrics_describe("nodeherd_h", NH_METRIC_HISTOGRAM, "h", b, 2);
    nh_metrics_inc("nodeherd_c_total", 5, "cluster", "a", NULL);
    nh_metrics_observe("nodeherd_h", 1.5, "cluster", "a", NULL);
    nh_metrics_observe("nodeherd_h", 0.5, "cluster", "a", NULL);
    nh_metrics_forget("nodeherd_c_total", "cluster", "a");
    nh_metrics_forget("nodeherd_h", "cluster", "a");
    assert_true(isnan(nh_metrics_get("nodeherd_c_total", "cluster", "a", NULL)));
    nh_metrics_inc("nodeherd_c_total", 2, "cluster", "a", NULL);
    nh_metrics_observe("nodeherd_h", 3, "cluster", "a", NULL);
    assert_true(nh_metrics_get("nodeherd_c_total", "cluster", "a", NULL) == 2);
    assert_true(nh_metrics_get("nodeherd_h", "cluster", "a", NULL) == 1);
    char *t = render();
    assert_non_null(strstr(t, "nodeherd_h_bucket{cluster=\"a\",le=\"2\"} 0\n"));
    assert_non_null(strstr(t, "nodeherd_h_sum{cluster=\"a\"} 3\n"));
    free(t);

    nh_metrics_reset();
    fill_clusters(-1, -1, false);
    for (int c = 0; c < FORGET_CLUSTERS; c++) {
        if (c == 1 || c == 150)
            continue;
        snprintf(name, sizeof(name), "c%d", c);
        nh_metrics_forget("nodeherd_nodes", "cluster", name);
        nh_metrics_forget("nodeherd_zone_nodes", "cluster", name);
    }
    char *after = render();
    nh_metrics_reset();
    fill_clusters(1, 150, true);
    char *expect = render();
    assert_string_equal(after, expect);
    free(expect);
    free(after);
}

static void test_metrics_misuse_is_ignored(void **state)
{
    (void)state;
    static const double b[] = {1};
    nh_metrics_describe("nodeherd_c_total", NH_METRIC_COUNTER, "c", NULL, 0);
    nh_metrics_describe("nodeherd_c_total", NH_METRIC_GAUGE, "again", NULL, 0); /* kept counter */
    nh_metrics_describe("bad name", NH_METRIC_GAUGE, "x", NULL, 0);
    nh_metrics_describe("nodeherd_h", NH_METRIC_HISTOGRAM, "h", NULL, 0); /* no buckets */
    static const double desc[] = {2, 1};
    nh_metrics_describe("nodeherd_h2", NH_METRIC_HISTOGRAM, "h", desc, 2); /* not ascending */
    nh_metrics_describe("nodeherd_h3", NH_METRIC_HISTOGRAM, "h", b, 1);
    nh_metrics_set("nodeherd_c_total", 5, NULL);
    nh_metrics_inc("nodeherd_unknown", 1, NULL);
    nh_metrics_inc("nodeherd_c_total", 1, "__x", "1", NULL);
    nh_metrics_inc("nodeherd_c_total", 1, "a", "1", "a", "2", NULL);
    nh_metrics_observe("nodeherd_h3", 1, "le", "1", NULL);
    nh_metrics_inc("nodeherd_h3", 1, NULL);
    assert_true(isnan(nh_metrics_get("nodeherd_c_total", NULL)));
    assert_true(isnan(nh_metrics_get("nodeherd_unknown", NULL)));
    assert_true(isnan(nh_metrics_get("nodeherd_h3", NULL)));
    char *t = render();
    assert_string_equal(t, "# HELP nodeherd_c_total c\n# TYPE nodeherd_c_total counter\n"
                           "# HELP nodeherd_h3 h\n# TYPE nodeherd_h3 histogram\n");
    free(t);
    nh_metrics_inc("nodeherd_c_total", 0.5, NULL);
    assert_true(nh_metrics_get("nodeherd_c_total", NULL) == 0.5);
}

static void test_metrics_render_fails_past_buffer_cap(void **state)
{
    (void)state;
    struct nh_buf b;
    nh_metrics_describe("nodeherd_big", NH_METRIC_GAUGE, "big", NULL, 0);
    for (int i = 0; i < 100; i++) {
        char v[16];
        snprintf(v, sizeof(v), "c%03d", i);
        nh_metrics_set("nodeherd_big", i, "cluster", v, NULL);
    }
    nh_buf_init(&b, 512);
    assert_true(nh_metrics_render(&b) < 0);
    nh_buf_free(&b);
}

/* ---- collected families (nh_metrics_collect) ---- */

struct fleet {
    const char *cluster[3];
    int ready[3];
    size_t n;
    int calls;
};

static int collect_fleet(void *arg, struct nh_metrics_sink *sink)
{
    struct fleet *f = arg;
    int r = 0;
    f->calls++;
    for (size_t i = 0; r == 0 && i < f->n; i++) {
        r = nh_metrics_emit(sink, f->ready[i], "state", "ready", "cluster", f->cluster[i], NULL);
        if (r == 0)
            r = nh_metrics_emit(sink, 0, "cluster", f->cluster[i], "state", "failed", NULL);
    }
    return r;
}

static void test_metrics_collected_family_written_from_its_owner(void **state)
{
    (void)state;
    static struct parsed ps;
    struct fleet f = {.cluster = {"b", "a\"q", "c"}, .ready = {3, 1, 7}, .n = 3};

    nh_metrics_describe("nodeherd_n", NH_METRIC_GAUGE, "Nodes.", NULL, 0);
    nh_metrics_set("nodeherd_n", 99, "cluster", "stale", "state", "ready", NULL); /* dropped */
    nh_metrics_collect("nodeherd_n", collect_fleet, &f);
    char *t = render();
    /* the collector's order, keys sorted within a series, values escaped */
    assert_string_equal(t, "# HELP nodeherd_n Nodes.\n"
                           "# TYPE nodeherd_n gauge\n"
                           "nodeherd_n{cluster=\"b\",state=\"ready\"} 3\n"
                           "nodeherd_n{cluster=\"b\",state=\"failed\"} 0\n"
                           "nodeherd_n{cluster=\"a\\\"q\",state=\"ready\"} 1\n"
                           "nodeherd_n{cluster=\"a\\\"q\",state=\"failed\"} 0\n"
                           "nodeherd_n{cluster=\"c\",state=\"ready\"} 7\n"
                           "nodeherd_n{cluster=\"c\",state=\"failed\"} 0\n");
    parse_ok(t, &ps);
    free(t);
    /* nothing stored: the owner's state is what the next render shows */
    f.ready[2] = 8;
    f.n = 2;
    t = render();
    assert_null(strstr(t, "cluster=\"c\""));
    free(t);
    f.n = 3;
    assert_true(nh_metrics_get("nodeherd_n", "cluster", "c", "state", "ready", NULL) == 8);
    assert_true(nh_metrics_get("nodeherd_n", "state", "ready", "cluster", "a\"q", NULL) == 1);
    assert_true(isnan(nh_metrics_get("nodeherd_n", "cluster", "stale", "state", "ready", NULL)));
    /* updates of a collected family are ignored; forget is a no-op */
    nh_metrics_set("nodeherd_n", 5, "cluster", "x", "state", "ready", NULL);
    nh_metrics_forget("nodeherd_n", "cluster", "b");
    assert_true(isnan(nh_metrics_get("nodeherd_n", "cluster", "x", "state", "ready", NULL)));
    assert_true(nh_metrics_get("nodeherd_n", "cluster", "b", "state", "ready", NULL) == 3);
    /* only the owner ends the collection; then the family is empty */
    int other;
    nh_metrics_uncollect("nodeherd_n", &other);
    assert_true(nh_metrics_get("nodeherd_n", "cluster", "b", "state", "ready", NULL) == 3);
    int calls = f.calls;
    nh_metrics_uncollect("nodeherd_n", &f);
    t = render();
    assert_string_equal(t, "# HELP nodeherd_n Nodes.\n# TYPE nodeherd_n gauge\n");
    free(t);
    assert_int_equal(f.calls, calls); /* not called after its owner left */
}

static int collect_fails(void *arg, struct nh_metrics_sink *sink)
{
    (void)arg;
    int r = nh_metrics_emit(sink, 1, "cluster", "c", NULL);
    return r < 0 ? r : -ENOMEM;
}

static void test_metrics_collector_failure_fails_the_render(void **state)
{
    (void)state;
    struct nh_buf b;
    nh_metrics_describe("nodeherd_f", NH_METRIC_GAUGE, "f", NULL, 0);
    nh_metrics_collect("nodeherd_f", collect_fails, NULL);
    nh_buf_init(&b, 1 << 16);
    assert_int_equal(nh_metrics_render(&b), -ENOMEM);
    nh_buf_free(&b);
    assert_true(isnan(nh_metrics_get("nodeherd_f", "cluster", "c", NULL)));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parser_rejects_broken_text),
        cmocka_unit_test_teardown(test_metrics_counter_renders_exact_text, reset),
        cmocka_unit_test_teardown(test_metrics_label_values_escaped_and_read_back, reset),
        cmocka_unit_test_teardown(test_metrics_families_in_registration_order_series_sorted, reset),
        cmocka_unit_test_teardown(test_metrics_counters_monotonic_across_renders, reset),
        cmocka_unit_test_teardown(test_metrics_histogram_cumulative_with_inf_sum_count, reset),
        cmocka_unit_test_teardown(test_metrics_values_round_trip, reset),
        cmocka_unit_test_teardown(test_metrics_forget_removes_matching_series, reset),
        cmocka_unit_test_teardown(test_metrics_forget_one_cluster_of_many, reset),
        cmocka_unit_test_teardown(test_metrics_forget_then_update_starts_afresh, reset),
        cmocka_unit_test_teardown(test_metrics_misuse_is_ignored, reset),
        cmocka_unit_test_teardown(test_metrics_render_fails_past_buffer_cap, reset),
        cmocka_unit_test_teardown(test_metrics_collected_family_written_from_its_owner, reset),
        cmocka_unit_test_teardown(test_metrics_collector_failure_fails_the_render, reset),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
