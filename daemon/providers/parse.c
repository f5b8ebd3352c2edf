/* parse.c - the pure helpers the three clouds' parsers share (parse.h):
 * path checks, times, Retry-After, error bodies, pool status, names. */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "providers/reader.h"

/* ---------- shared pure helpers ---------- */

int nh_prov_json_str_array(struct nh_buf *b, const char *const *s, size_t n)
{
    int r = nh_buf_appends(b, "[");
    for (size_t i = 0; r == 0 && i < n; i++) {
        if (i > 0)
            r = nh_buf_appends(b, ",");
        if (r == 0)
            r = nh_json_write_str(b, s[i], strlen(s[i]));
    }
    if (r == 0)
        r = nh_buf_appends(b, "]");
    return r;
}

bool nh_prov_path_safe(const char *s)
{
    if (s == NULL || s[0] == '\0')
        return false;
    if (strcmp(s, ".") == 0 || strcmp(s, "..") == 0)
        return false;
    for (const char *c = s; *c != '\0'; c++) {
        if (!(isalnum((unsigned char)*c) || *c == '.' || *c == '_' || *c == '~' || *c == '-'))
            return false;
        if ((unsigned char)*c >= 0x80)
            return false;
    }
    return true;
}

static bool digits(const char *s, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (!isdigit((unsigned char)s[i]))
            return false;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return true;
}

int64_t nh_prov_parse_time(const char *s)
{
    int y, mo, d, h, mi, sec, oh = 0, om = 0;
    struct tm tm;
    const char *p;
    long off = 0;
    time_t t;

    if (s == NULL || strlen(s) < 19)
        return 0;
    if (!digits(s, 4, &y) || s[4] != '-' || !digits(s + 5, 2, &mo) || s[7] != '-' ||
        !digits(s + 8, 2, &d) || (s[10] != 'T' && s[10] != 't' && s[10] != ' ') ||
        !digits(s + 11, 2, &h) || s[13] != ':' || !digits(s + 14, 2, &mi) || s[16] != ':' ||
        !digits(s + 17, 2, &sec))
        return 0;
    if (y < 1970 || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 60)
        return 0;
    p = s + 19;
    if (*p == '.') {
        p++;
        if (!isdigit((unsigned char)*p))
            return 0;
        while (isdigit((unsigned char)*p))
            p++;
    }
    if (*p == ' ')
        p++;
    if (*p == 'Z' || *p == 'z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        int sign = *p == '-' ? -1 : 1;
        p++;
        if (!digits(p, 2, &oh))
            return 0;
        p += 2;
        if (*p == ':')
            p++;
        if (!digits(p, 2, &om))
            return 0;
        p += 2;
        if (oh > 23 || om > 59)
            return 0;
        off = sign * (oh * 3600L + om * 60L);
    } else if (*p != '\0') {
        return 0;
    }
    if (strcmp(p, " UTC") == 0)
        p += 4;
    if (*p != '\0')
        return 0;
    memset(&tm, 0, sizeof(tm));
    tm.tm_year = y - 1900;
    tm.tm_mon = mo - 1;
    tm.tm_mday = d;
    tm.tm_hour = h;
    tm.tm_min = mi;
    tm.tm_sec = sec;
    t = timegm(&tm);
    if (t == (time_t)-1)
        return 0;
    return (int64_t)t - off;
}

uint64_t nh_prov_retry_after_ms(const char *value, int64_t now_s)
{
    char *end = NULL;
    struct tm tm;

    if (value == NULL)
        return 0;
    while (*value == ' ')
        value++;
    if (isdigit((unsigned char)*value)) {
        errno = 0;
        unsigned long long s = strtoull(value, &end, 10);
        if (errno != 0 || (end != NULL && *end != '\0' && *end != ' '))
            return 0;
        if (s > 86400ULL)
            s = 86400ULL;
        return (uint64_t)s * 1000u;
    }
    {
        static const char months[] = "JanFebMarAprMayJunJulAugSepOctNovDec";
        char wd[4], mon[4];
        int d, y, h, mi, sec, n = 0;
        const char *m;
        if (sscanf(value, "%3s, %d %3s %d %d:%d:%d GMT%n", wd, &d, mon, &y, &h, &mi, &sec, &n) !=
                7 ||
            n == 0 || value[n] != '\0')
            return 0;
        m = strstr(months, mon);
        if (m == NULL || strlen(mon) != 3 || (m - months) % 3 != 0 || d < 1 || d > 31 || y < 1970 ||
            h > 23 || mi > 59 || sec > 60)
            return 0;
        memset(&tm, 0, sizeof(tm));
        tm.tm_year = y - 1900;
        tm.tm_mon = (int)((m - months) / 3);
        tm.tm_mday = d;
        tm.tm_hour = h;
        tm.tm_min = mi;
        tm.tm_sec = sec;
    }
    time_t t = timegm(&tm);
    if (t == (time_t)-1 || (int64_t)t <= now_s)
        return 0;
    int64_t d = (int64_t)t - now_s;
    if (d > 86400)
        d = 86400;
    return (uint64_t)d * 1000u;
}

void nh_prov_free_secret_str(char *s)
{
    if (s == NULL)
        return;
    explicit_bzero(s, strlen(s));
    free(s);
}

void nh_pool_status_clear(struct nh_pool_status *s)
{
    if (s == NULL)
        return;
    nh_obs_pool_clear(&s->pool);
    memset(s, 0, sizeof(*s));
}

const char *nh_job_state_name(enum nh_job_state s)
{
    switch (s) {
    case NH_JOB_RUNNING:
        return "running";
    case NH_JOB_SUCCEEDED:
        return "succeeded";
    case NH_JOB_FAILED:
        return "failed";
    }
    return "?";
}

/* ---------- readers (reader.h) ---------- */

int nh_prov_read(const char *body, size_t len, nh_reader_fn fn, void *out, const char *what,
                 char *err, size_t errlen)
{
    struct nh_jerr e = {err, errlen};
    struct json_object *root;
    int r;

    if (errlen > 0)
        err[0] = '\0';
    root = nh_json_parse(body, len, true, &e);
    if (root == NULL)
        return -EBADMSG;
    r = fn(root, out, &e);
    if (r == -ENOMEM)
        nh_jerr_set(&e, "out of memory reading %s", what);
    json_object_put(root);
    return r;
}

int nh_prov_read_progress(const char *body, size_t len, nh_reader_fn fn,
                          struct nh_job_progress *out, const char *what, char *err, size_t errlen)
{
    int r;

    memset(out, 0, sizeof(*out));
    out->percent = -1;
    r = nh_prov_read(body, len, fn, out, what, err, errlen);
    if (r == 0)
        nh_text_copy(out->detail, sizeof(out->detail), out->detail);
    return r;
}

struct pool_reading {
    nh_pool_reader_fn fn;
    struct nh_pool_status *one;
    struct nh_observed *obs;
};

static int read_one_pool(struct json_object *root, void *out, struct nh_jerr *e)
{
    struct pool_reading *pr = out;
    return pr->fn(root, pr->one, e);
}

int nh_prov_read_pool(const char *body, size_t len, nh_pool_reader_fn fn,
                      struct nh_pool_status *out, const char *what, char *err, size_t errlen)
{
    struct pool_reading pr = {.fn = fn, .one = out};
    int r;

    memset(out, 0, sizeof(*out));
    r = nh_prov_read(body, len, read_one_pool, &pr, what, err, errlen);
    if (r < 0)
        nh_pool_status_clear(out);
    return r;
}

int nh_prov_read_items(const char *body, size_t len, nh_item_reader_fn fn, void *out,
                       const char *what, char *err, size_t errlen)
{
    struct nh_jerr e = {err, errlen};
    struct json_object *root, *items = NULL;
    int r = 0;

    if (errlen > 0)
        err[0] = '\0';
    root = nh_json_parse_items(body, len, &items, &e);
    if (root == NULL)
        return -EBADMSG;
    for (size_t i = 0; i < json_object_array_length(items) && r == 0; i++)
        r = fn(json_object_array_get_idx(items, i), i, out, &e);
    if (r == -ENOMEM)
        nh_jerr_set(&e, "out of memory reading %s", what);
    json_object_put(root);
    return r;
}

static int read_pool_item(struct json_object *it, size_t i, void *out, struct nh_jerr *e)
{
    struct pool_reading *pr = out;
    struct nh_pool_status s;
    struct nh_obs_pool *p;
    int r;

    (void)i;
    memset(&s, 0, sizeof(s));
    r = pr->fn(it, &s, e);
    if (r == 0 && (p = nh_observed_add_pool(pr->obs)) != NULL) {
        *p = s.pool; /* moved */
        return 0;
    }
    nh_pool_status_clear(&s);
    return r < 0 ? r : -ENOMEM;
}

int nh_prov_read_pool_items(const char *body, size_t len, nh_pool_reader_fn fn,
                            struct nh_observed *obs, const char *what, char *err, size_t errlen)
{
    struct pool_reading pr = {.fn = fn, .obs = obs};
    return nh_prov_read_items(body, len, read_pool_item, &pr, what, err, errlen);
}

int nh_prov_read_id(struct json_object *o, const char *key, const char *where, char **ret,
                    struct nh_jerr *e)
{
    const char *id = NULL;
    char *dup = NULL;

    if (nh_json_str(o, key, false, &id, where, e) < 0)
        return -EBADMSG;
    if (id != NULL && id[0] != '\0' && !nh_prov_path_safe(id))
        return nh_jerr_set(e, "%s \"%.40s\" has characters not allowed in a URL path", where, id);
    if (id != NULL && id[0] != '\0' && (dup = strdup(id)) == NULL)
        return -ENOMEM;
    *ret = dup;
    return 0;
}

void nh_prov_set_counts(struct nh_obs_pool *p, const struct nh_pool_counts *c)
{
    p->desired = (int)c->desired;
    p->current = (int)c->current;
    p->ready = (int)c->ready;
    p->unhealthy = (int)c->unhealthy;
    p->creating = (int)c->creating;
    p->deleting = (int)c->deleting;
    p->max_count = (int)c->max_count;
}

int nh_prov_put_label(struct nh_node *n, const char *key, const char *value)
{
    struct nh_label *l = &n->labels[n->n_labels++];

    l->key = strdup(key);
    l->value = strdup(value);
    return l->key != NULL && l->value != NULL ? 0 : -ENOMEM;
}

int nh_prov_read_label_map(struct json_object *v, struct nh_node *n, const char *where, int keymax,
                           struct nh_jerr *e)
{
    size_t cnt;

    if (v == NULL || (cnt = (size_t)json_object_object_length(v)) == 0)
        return 0;
    n->labels = calloc(cnt, sizeof(*n->labels));
    if (n->labels == NULL)
        return -ENOMEM;
    json_object_object_foreach(v, key, val)
    {
        if (!json_object_is_type(val, json_type_string))
            return nh_jerr_set(e, "%s.%.*s: expected a string", where, keymax, key);
        if (nh_prov_put_label(n, key, json_object_get_string(val)) < 0)
            return -ENOMEM;
    }
    return 0;
}

void nh_prov_copy_word(char *dst, size_t len, const char *src, const char *other)
{
    size_t n = src != NULL ? strlen(src) : 0;
    bool ok = n > 0 && n < len;

    for (size_t i = 0; ok && i < n; i++)
        ok = isalnum((unsigned char)src[i]) || strchr("._-", src[i]) != NULL;
    snprintf(dst, len, "%s", ok ? src : other);
}

int nh_prov_add_node(struct nh_observed *obs, const char *id, const char *name, const char *pool,
                     struct nh_node **ret)
{
    struct nh_node *n = nh_observed_add_node(obs);

    if (n == NULL || !nh_json_dup(id, &n->id) || !nh_json_dup(name != NULL ? name : id, &n->name) ||
        !nh_json_dup(pool != NULL && pool[0] != '\0' ? pool : NULL, &n->pool_id))
        return -ENOMEM;
    *ret = n;
    return 0;
}

/* The object holding the last segment of path (NULL: absent), and that
 * segment. */
static struct json_object *field_parent(struct json_object *o, const char *path, const char **last)
{
    char seg[64];
    const char *dot;

    *last = path;
    while ((dot = strchr(*last, '.')) != NULL && o != NULL) {
        size_t n = (size_t)(dot - *last);
        if (n >= sizeof(seg))
            return NULL;
        memcpy(seg, *last, n);
        seg[n] = '\0';
        o = nh_json_get(o, seg);
        *last = dot + 1;
    }
    return o;
}

static int read_field(struct json_object *o, const struct nh_jfield *f, const char *where,
                      void *out, struct nh_jerr *e)
{
    struct json_object *tmp = NULL;
    const char *key;
    void *dst = f->off == NH_J_NOWHERE ? NULL : (char *)out + f->off;
    struct json_object *parent = field_parent(o, f->path, &key);

    switch (f->type) {
    case NH_J_OBJ:
    case NH_J_ARR:
        if ((f->type == NH_J_OBJ ? nh_json_obj : nh_json_arr)(parent, key, f->required, &tmp, where,
                                                              e) < 0)
            return -EBADMSG;
        if (dst != NULL)
            *(struct json_object **)dst = tmp;
        return 0;
    case NH_J_STR: {
        const char *s = dst != NULL ? *(const char **)dst : NULL;
        if (nh_json_str(parent, key, f->required, &s, where, e) < 0)
            return -EBADMSG;
        if (dst != NULL)
            *(const char **)dst = s;
        return 0;
    }
    case NH_J_INT: {
        int64_t v = dst != NULL ? *(int64_t *)dst : 0;
        if (nh_json_int(parent, key, f->required, 0, NH_PROV_COUNT_MAX, &v, where, e) < 0)
            return -EBADMSG;
        if (dst != NULL)
            *(int64_t *)dst = v;
        return 0;
    }
    case NH_J_BOOL: {
        bool v = dst != NULL ? *(bool *)dst : false;
        if (nh_json_bool(parent, key, f->required, &v, where, e) < 0)
            return -EBADMSG;
        if (dst != NULL)
            *(bool *)dst = v;
        return 0;
    }
    }
    return -EINVAL;
}

int nh_prov_fields(struct json_object *o, const char *what, const struct nh_jfield *f, size_t n,
                   const char *prefix, void *out, struct nh_jerr *e)
{
    char where[160];

    if (what != NULL && !json_object_is_type(o, json_type_object))
        return nh_jerr_set(e, "%s: expected an object", what);
    for (size_t i = 0; i < n; i++) {
        if (prefix[0] == '\0') {
            if (read_field(o, &f[i], f[i].path, out, e) < 0)
                return -EBADMSG;
            continue;
        }
        /* The prefixed name is only for the message: it is built when the
         * field is refused (read_field writes out only on success, so the
         * second read changes nothing but the message). Formatting it for
         * every field of every item was 3 % of the CPU at steady state. */
        if (read_field(o, &f[i], f[i].path, out, NULL) < 0) {
            snprintf(where, sizeof(where), "%s%s", prefix, f[i].path);
            if (read_field(o, &f[i], where, out, e) == 0)
                nh_jerr_set(e, "%s: refused", where); /* not reached: reads are pure */
            return -EBADMSG;
        }
    }
    return 0;
}
