/* schema.c - table-driven validation: one row per key (type, bounds,
 * required, kinds, default), used for reading, defaults and did-you-mean. */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/internal.h"

__attribute__((format(printf, 6, 0))) static void vreport(struct nh_pctx *c,
                                                          enum nh_diag_severity sev, int line,
                                                          int col, const char *path,
                                                          const char *fmt, va_list ap)
{
    char msg[1024];
    vsnprintf(msg, sizeof(msg), fmt, ap);
    if (path != NULL && *path != '\0')
        nh_diag_add(c->d, sev, c->file, line, col, "%s: %s", path, msg);
    else
        nh_diag_add(c->d, sev, c->file, line, col, "%s", msg);
}

void nh_perr(struct nh_pctx *c, int line, int col, const char *path, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vreport(c, NH_DIAG_ERROR, line, col, path, fmt, ap);
    va_end(ap);
}

void nh_pwarn(struct nh_pctx *c, int line, int col, const char *path, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vreport(c, NH_DIAG_WARNING, line, col, path, fmt, ap);
    va_end(ap);
}

const char *nh_quote(const char *s, char *buf, size_t len)
{
    size_t o = 0, i = 0;
    if (len < 8) {
        if (len > 0)
            buf[0] = '\0';
        return buf;
    }
    buf[o++] = '"';
    for (; s[i] != '\0' && i < 40 && o + 6 < len; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (ch < 0x20 || ch == 0x7f || ch == '"' || ch == '\\') {
            int n = snprintf(buf + o, len - o, ch == '"' || ch == '\\' ? "\\%c" : "\\x%02x", ch);
            o += (size_t)n;
        } else {
            buf[o++] = (char)ch;
        }
    }
    if (s[i] != '\0' && o + 5 < len) {
        memcpy(buf + o, "...", 3);
        o += 3;
    }
    buf[o++] = '"';
    buf[o] = '\0';
    return buf;
}

const char *nh_key_path(char *buf, size_t len, const char *path, const char *key)
{
    char k[72];
    size_t o = 0;
    for (size_t i = 0; key[i] != '\0' && o < 64; i++) {
        unsigned char ch = (unsigned char)key[i];
        k[o++] = ch < 0x20 || ch == 0x7f ? '?' : (char)ch;
    }
    if (strlen(key) > 64) {
        memcpy(k + o, "...", 3);
        o += 3;
    }
    k[o] = '\0';
    if (path == NULL || *path == '\0')
        snprintf(buf, len, "%s", k);
    else
        snprintf(buf, len, "%s.%s", path, k);
    return buf;
}

unsigned nh_edit_distance(const char *a, const char *b, unsigned cap)
{
    size_t la = strlen(a), lb = strlen(b);
    if (la > 64 || lb > 64)
        return cap + 1;
    if ((la > lb ? la - lb : lb - la) > cap)
        return cap + 1;
    unsigned prev[65], cur[65];
    for (size_t j = 0; j <= lb; j++)
        prev[j] = (unsigned)j;
    for (size_t i = 1; i <= la; i++) {
        cur[0] = (unsigned)i;
        for (size_t j = 1; j <= lb; j++) {
            unsigned sub = prev[j - 1] + (a[i - 1] != b[j - 1]);
            unsigned del = prev[j] + 1, ins = cur[j - 1] + 1;
            cur[j] = sub < del ? (sub < ins ? sub : ins) : (del < ins ? del : ins);
        }
        memcpy(prev, cur, sizeof(unsigned) * (lb + 1));
    }
    return prev[lb] > cap ? cap + 1 : prev[lb];
}

const char *nh_did_you_mean(const char *word, const char *const *names, size_t n)
{
    const char *best = NULL;
    unsigned bd = 3;
    for (size_t i = 0; i < n; i++) {
        unsigned dist = nh_edit_distance(word, names[i], 2);
        if (dist < bd) {
            bd = dist;
            best = names[i];
        }
    }
    return best;
}

static bool charset_ok(const char *s, size_t maxlen, const char *extra, bool upper)
{
    size_t n = strlen(s);
    if (n == 0 || n > maxlen)
        return false;
    for (; *s; s++) {
        char ch = *s;
        if ((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
            (upper && ch >= 'A' && ch <= 'Z') || (ch != '\0' && strchr(extra, ch) != NULL))
            continue;
        return false;
    }
    return true;
}

bool nh_is_name(const char *s)
{
    return charset_ok(s, 63, "._-", true);
}

bool nh_is_pathid(const char *s)
{
    return charset_ok(s, 255, "._~-", true);
}

static bool is_region(const char *s)
{
    return charset_ok(s, 63, "-", false);
}

/* A Huawei Cloud project ID: IAM generates it as 32 lowercase hexadecimal
 * digits (e.g. "a4a5d4098fb4474fa22cd05f897d6b99" in "Obtaining a Project ID",
 * support.huaweicloud.com/intl/en-us/api-cce/cce_02_0341.html). Anything
 * else (a project name, a region, a UUID with dashes) is a wrong value that
 * would only surface as a 401 or 404 from every call. */
static bool is_project_id(const char *s)
{
    size_t n = 0;
    for (; s[n] != '\0'; n++)
        if (!((s[n] >= '0' && s[n] <= '9') || (s[n] >= 'a' && s[n] <= 'f')))
            return false;
    return n == 32;
}

static const char *kind_list(unsigned kinds, char *buf, size_t len)
{
    size_t o = 0;
    buf[0] = '\0';
    for (int k = 0; k < NH_PROVIDER_KINDS; k++) {
        if (kinds != NH_KINDS_ALL && !(kinds & NH_KIND_BIT(k)))
            continue;
        int n = snprintf(buf + o, len - o, "%s%s", o ? ", " : "",
                         nh_provider_kind_name((enum nh_provider_kind)k));
        if (n < 0 || (size_t)n >= len - o)
            break;
        o += (size_t)n;
    }
    return buf;
}

/* "got "eight"", "got a map", "got nothing"; for ints, bools and durations
 * (typed) a quoted scalar gets the hint to drop the quotes. */
static const char *got_as(const struct nh_ynode *v, bool typed, char *buf, size_t len)
{
    char q[64];
    if (v->type != NH_Y_SCALAR || (v->plain && v->len == 0))
        snprintf(buf, len, "got %s", nh_ytype_name(v));
    else if (!v->plain && typed)
        snprintf(buf, len, "got a quoted %s (write it without quotes)",
                 nh_quote(v->str, q, sizeof(q)));
    else
        snprintf(buf, len, "got %s", nh_quote(v->str, q, sizeof(q)));
    return buf;
}

static const char *got(const struct nh_ynode *v, char *buf, size_t len)
{
    return got_as(v, true, buf, len);
}

static const char *got_str(const struct nh_ynode *v, char *buf, size_t len)
{
    return got_as(v, false, buf, len);
}

static bool plain_scalar(const struct nh_ynode *v)
{
    return v->type == NH_Y_SCALAR && v->plain && v->len > 0;
}

static int parse_ll(const char *s, long long *ret)
{
    if (*s == '\0' || *s == ' ' || *s == '\t' || *s == '+')
        return -EINVAL;
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno == ERANGE)
        return -ERANGE;
    if (*end != '\0')
        return -EINVAL;
    *ret = v;
    return 0;
}

static int parse_double(const char *s, double *ret)
{
    if (*s == '\0' || strspn(s, "0123456789.eE-") != strlen(s))
        return -EINVAL; /* no hex, inf, nan, leading spaces or + */
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (*end != '\0' || errno == ERANGE || !isfinite(v))
        return -EINVAL;
    *ret = v;
    return 0;
}

static void fmt_duration_range(const struct nh_field *f, char *buf, size_t len)
{
    char a[32], b[32];
    nh_duration_format((uint64_t)f->min, a, sizeof(a));
    nh_duration_format((uint64_t)f->max, b, sizeof(b));
    snprintf(buf, len, "%s..%s", a, b);
}

/* The largest value f takes in this cluster, and why (into why, " (...)"
 * or ""): the cloud kind's limit when f has one (NH_KLIMIT_*), else f->max. */
static long long int_max(const struct nh_pctx *c, const struct nh_field *f, char *why,
                         size_t whylen)
{
    long long max = f->max;
    const char *w = f->why;
    const struct nh_kind *k = c->kind >= 0 ? nh_kind_get((enum nh_provider_kind)c->kind) : NULL;
    int kmax = k == NULL                        ? 0
               : f->klimit == NH_KLIMIT_WORKERS ? k->max_workers
               : f->klimit == NH_KLIMIT_POOL    ? k->max_pool
                                                : 0;
    if (kmax != 0) {
        const char *kw = f->klimit == NH_KLIMIT_WORKERS ? k->workers_what : k->pool_what;
        max = kmax;
        w = f->kwhy && kw != NULL ? kw : w;
    }
    if (w != NULL)
        snprintf(why, whylen, " (%s)", w);
    return max;
}

static int convert_int(struct nh_pctx *c, const struct nh_field *f, const struct nh_ypair *kv,
                       const struct nh_ynode *v, const char *kp, char *dst)
{
    char g[128], why[96] = "";
    long long max = int_max(c, f, why, sizeof(why)), val;
    if (!plain_scalar(v) || parse_ll(v->str, &val) < 0 || val < f->min || val > max) {
        nh_perr(c, kv->line, kv->col, kp, "expected an integer %lld..%lld%s, %s", f->min, max, why,
                got(v, g, sizeof(g)));
        return -EINVAL;
    }
    if (f->type == NH_T_INT)
        *(int *)(void *)dst = (int)val;
    else
        *(unsigned *)(void *)dst = (unsigned)val;
    return 0;
}

static int convert_bool(struct nh_pctx *c, const struct nh_ypair *kv, const struct nh_ynode *v,
                        const char *kp, char *dst)
{
    char g[128];
    if (plain_scalar(v) && strcmp(v->str, "true") == 0) {
        *(bool *)(void *)dst = true;
        return 0;
    }
    if (plain_scalar(v) && strcmp(v->str, "false") == 0) {
        *(bool *)(void *)dst = false;
        return 0;
    }
    nh_perr(c, kv->line, kv->col, kp, "expected true or false, %s", got(v, g, sizeof(g)));
    return -EINVAL;
}

static int convert_duration(struct nh_pctx *c, const struct nh_field *f, const struct nh_ypair *kv,
                            const struct nh_ynode *v, const char *kp, char *dst)
{
    char g[128], range[80];
    uint64_t ms;
    fmt_duration_range(f, range, sizeof(range));
    if (!plain_scalar(v) || nh_duration_parse(v->str, &ms) < 0 || ms < (uint64_t)f->min ||
        ms > (uint64_t)f->max) {
        nh_perr(c, kv->line, kv->col, kp,
                "expected a duration %s with a unit (ms, s, m, h; e.g. 30s, 1h30m), %s", range,
                got(v, g, sizeof(g)));
        return -EINVAL;
    }
    *(uint64_t *)(void *)dst = ms;
    return 0;
}

static int convert_double(struct nh_pctx *c, const struct nh_field *f, const struct nh_ypair *kv,
                          const struct nh_ynode *v, const char *kp, char *dst)
{
    char g[128];
    double val;
    if (!plain_scalar(v) || parse_double(v->str, &val) < 0 || val < f->dmin || val > f->dmax) {
        nh_perr(c, kv->line, kv->col, kp, "expected a number %g..%g, %s", f->dmin, f->dmax,
                got(v, g, sizeof(g)));
        return -EINVAL;
    }
    *(double *)(void *)dst = val;
    return 0;
}

static int convert_enum(struct nh_pctx *c, const struct nh_field *f, const struct nh_ypair *kv,
                        const struct nh_ynode *v, const char *kp, char *dst)
{
    char g[128], list[200] = "";
    size_t o = 0;
    for (const struct nh_enum_name *e = f->names; e->name; e++) {
        if (v->type == NH_Y_SCALAR && strcmp(v->str, e->name) == 0) {
            *(int *)(void *)dst = e->value;
            return 0;
        }
        int n = snprintf(list + o, sizeof(list) - o, "%s%s", o ? ", " : "", e->name);
        if (n > 0 && (size_t)n < sizeof(list) - o)
            o += (size_t)n;
    }
    nh_perr(c, kv->line, kv->col, kp, "expected one of %s, %s", list, got_str(v, g, sizeof(g)));
    return -EINVAL;
}

static int convert_kind(struct nh_pctx *c, const struct nh_ypair *kv, const struct nh_ynode *v,
                        const char *kp, char *dst)
{
    char g[128], kinds[80];
    const struct nh_kind *k = v->type == NH_Y_SCALAR ? nh_kind_by_name(v->str) : NULL;
    if (k != NULL) {
        *(enum nh_provider_kind *)(void *)dst = k->kind;
        return 0;
    }
    nh_perr(c, kv->line, kv->col, kp, "expected one of %s, %s", kind_list(0u, kinds, sizeof(kinds)),
            got_str(v, g, sizeof(g)));
    return -EINVAL;
}

/* NH_T_STR, NAME, PATHID, REGION, PROJECT, ABSPATH: a non-empty string that the
 * type's check accepts, copied. */
static int convert_string(struct nh_pctx *c, const struct nh_field *f, const struct nh_ypair *kv,
                          const struct nh_ynode *v, const char *kp, char *dst)
{
    char g[128];
    char **sp = (char **)(void *)dst;
    const char *expect = "a non-empty string";
    bool ok = v->type == NH_Y_SCALAR && v->len > 0;
    if (f->type == NH_T_NAME) {
        expect = "a name of 1..63 letters, digits, \".\", \"_\" or \"-\"";
        ok = ok && nh_is_name(v->str);
    } else if (f->type == NH_T_PATHID) {
        expect = "an ID of letters, digits, \".\", \"_\", \"~\" or \"-\" (it is used in "
                 "URL paths)";
        ok = ok && nh_is_pathid(v->str);
    } else if (f->type == NH_T_REGION) {
        expect = "a region such as cn-hangzhou (lowercase letters, digits, \"-\")";
        ok = ok && is_region(v->str);
    } else if (f->type == NH_T_PROJECT) {
        expect = "a project ID of 32 lowercase hexadecimal digits, as the console shows it "
                 "under My Credentials > API Credentials for the provider's region";
        ok = ok && is_project_id(v->str);
    } else if (f->type == NH_T_ABSPATH) {
        expect = "an absolute path";
        ok = ok && v->str[0] == '/';
    }
    if (!ok) {
        nh_perr(c, kv->line, kv->col, kp, "expected %s, %s", expect, got_str(v, g, sizeof(g)));
        return -EINVAL;
    }
    char *s = strdup(v->str);
    if (s == NULL)
        return -ENOMEM;
    free(*sp);
    *sp = s;
    return 0;
}

/* Converts one value; writes into base + f->off. Returns 0 or -EINVAL (reported). */
static int convert(struct nh_pctx *c, const struct nh_field *f, const struct nh_ypair *kv,
                   const struct nh_ynode *v, const char *kp, void *base)
{
    char *dst = (char *)base + f->off;
    char g[128];

    switch (f->type) {
    case NH_T_SUB:
        if (v->type != NH_Y_MAP) {
            nh_perr(c, kv->line, kv->col, kp, "expected a map, %s", got_str(v, g, sizeof(g)));
            return -EINVAL;
        }
        return nh_schema_walk(c, v, kp, f->sub, dst) ? -EINVAL : 0;
    case NH_T_CUSTOM:
        return f->custom(c, kv, kp, base);
    case NH_T_SECRET: {
        struct nh_secret **sp = (struct nh_secret **)(void *)dst;
        nh_secret_free(*sp);
        *sp = NULL;
        return nh_schema_secret(c, kv, kp, f->use, sp);
    }
    case NH_T_INT:
    case NH_T_UINT:
        return convert_int(c, f, kv, v, kp, dst);
    case NH_T_BOOL:
        return convert_bool(c, kv, v, kp, dst);
    case NH_T_DURATION:
        return convert_duration(c, f, kv, v, kp, dst);
    case NH_T_DOUBLE:
        return convert_double(c, f, kv, v, kp, dst);
    case NH_T_ENUM:
        return convert_enum(c, f, kv, v, kp, dst);
    case NH_T_KIND:
        return convert_kind(c, kv, v, kp, dst);
    case NH_T_STR:
    case NH_T_NAME:
    case NH_T_PATHID:
    case NH_T_REGION:
    case NH_T_PROJECT:
    case NH_T_ABSPATH:
        return convert_string(c, f, kv, v, kp, dst);
    }
    return -EINVAL;
}

static void apply_defaults(struct nh_pctx *c, const struct nh_field *f, void *base)
{
    if (f->type == NH_T_SUB) {
        nh_schema_walk(c, NULL, "", f->sub, (char *)base + f->off);
        return;
    }
    if (f->def == NULL)
        return;
    struct nh_ynode v = {
        .type = NH_Y_SCALAR, .plain = true, .str = (char *)f->def, .len = strlen(f->def)};
    struct nh_ypair kv = {.key = (char *)f->key, .val = &v};
    if (convert(c, f, &kv, &v, f->key, base) < 0)
        nh_perr(c, 0, 0, f->key, "internal error: bad default %s", f->def);
}

size_t nh_schema_walk(struct nh_pctx *c, const struct nh_ynode *map, const char *path,
                      const struct nh_field *fields, void *base)
{
    size_t before = c->d->n_errors;
    char kp[320], g[128], kinds[80];
    size_t nf = 0;
    while (fields[nf].key != NULL)
        nf++;
    bool seen[64] = {false};
    if (nf > 64)
        return 0; /* tables are small; a bigger one is a programming error */

    if (map == NULL) {
        for (size_t i = 0; i < nf; i++)
            apply_defaults(c, &fields[i], base);
        return 0;
    }
    if (map->type != NH_Y_MAP) {
        nh_perr(c, map->line, map->col, path, "expected a map, %s", got_str(map, g, sizeof(g)));
        return c->d->n_errors - before;
    }
    for (size_t i = 0; i < map->n; i++) {
        const struct nh_ypair *kv = &map->pairs[i];
        nh_key_path(kp, sizeof(kp), path, kv->key);
        const struct nh_ypair *first = nh_ymap_find(map, kv->key);
        if (first != kv) {
            char q[64];
            nh_perr(c, kv->line, kv->col, kp, "duplicate key %s (first at %d:%d)",
                    nh_quote(kv->key, q, sizeof(q)), first->line, first->col);
            continue;
        }
        size_t fi = 0;
        while (fi < nf && strcmp(fields[fi].key, kv->key) != 0)
            fi++;
        if (fi == nf) {
            const char *names[64];
            for (size_t j = 0; j < nf; j++)
                names[j] = fields[j].key;
            const char *dym = nh_did_you_mean(kv->key, names, nf);
            if (dym != NULL) {
                nh_perr(c, kv->line, kv->col, kp, "unknown key; did you mean \"%s\"?", dym);
            } else {
                char list[400] = "";
                size_t o = 0;
                for (size_t j = 0; j < nf; j++) {
                    int n = snprintf(list + o, sizeof(list) - o, "%s%s", j ? ", " : "", names[j]);
                    if (n > 0 && (size_t)n < sizeof(list) - o)
                        o += (size_t)n;
                }
                nh_perr(c, kv->line, kv->col, kp, "unknown key; expected one of %s", list);
            }
            continue;
        }
        const struct nh_field *f = &fields[fi];
        seen[fi] = true;
        if (f->kinds != 0 && c->kind >= 0 && !(f->kinds & NH_KIND_BIT(c->kind))) {
            nh_perr(c, kv->line, kv->col, kp,
                    "not supported by %s providers (only %s%s%s); remove it",
                    nh_provider_kind_name((enum nh_provider_kind)c->kind),
                    kind_list(f->kinds, kinds, sizeof(kinds)), f->kinds_why ? ": " : "",
                    f->kinds_why ? f->kinds_why : "");
            continue;
        }
        if (kv->val == NULL)
            continue; /* cannot happen: libyaml always gives a value */
        /* Failures are reported where they happen, except running out of
         * memory: say so, so that a half-read config is never accepted. */
        if (convert(c, f, kv, kv->val, kp, base) == -ENOMEM)
            nh_perr(c, kv->line, kv->col, kp, "out of memory while reading this key");
    }
    for (size_t i = 0; i < nf; i++) {
        const struct nh_field *f = &fields[i];
        if (seen[i])
            continue;
        bool req = f->required || (c->kind >= 0 && (f->req_kinds & NH_KIND_BIT(c->kind)) != 0);
        if (req && f->required)
            nh_perr(c, map->line, map->col, path, "missing required key \"%s\"", f->key);
        else if (req)
            nh_perr(c, map->line, map->col, path, "missing required key \"%s\" (needed for %s)",
                    f->key, nh_provider_kind_name((enum nh_provider_kind)c->kind));
        else
            apply_defaults(c, f, base);
    }
    return c->d->n_errors - before;
}

int nh_schema_secret(struct nh_pctx *c, const struct nh_ypair *kv, const char *path, unsigned use,
                     struct nh_secret **ret)
{
    const struct nh_ynode *v = kv->val;
    *ret = NULL;
    if (v->type == NH_Y_SCALAR && !(v->plain && v->len == 0)) {
        /* The value is never echoed: it may be the secret itself. */
        nh_perr(c, kv->line, kv->col, path,
                "inline secrets are not allowed; use { file: NAME } (see LoadCredential=) or "
                "{ env: NAME }");
        return -EINVAL;
    }
    if (v->type != NH_Y_MAP || v->n != 1) {
        nh_perr(c, kv->line, kv->col, path,
                "expected a secret reference { file: NAME } or { env: NAME }, got %s",
                v->type == NH_Y_MAP ? "a map with other keys" : nh_ytype_name(v));
        return -EINVAL;
    }
    const struct nh_ypair *r = &v->pairs[0];
    enum nh_secret_source src;
    if (strcmp(r->key, "file") == 0)
        src = NH_SECRET_FILE;
    else if (strcmp(r->key, "env") == 0)
        src = NH_SECRET_ENV;
    else {
        /* Not echoed either: a secret pasted as a key would show. */
        nh_perr(c, r->line, r->col, path,
                "unknown secret source; expected { file: NAME } or { env: NAME }");
        return -EINVAL;
    }
    if (r->val->type != NH_Y_SCALAR || r->val->len == 0) {
        nh_perr(c, r->line, r->col, path, "%s: expected a %s, got %s", r->key,
                src == NH_SECRET_FILE ? "file name" : "variable name", nh_ytype_name(r->val));
        return -EINVAL;
    }
    char err[1024], warn[1024];
    if ((use & c->secrets) == 0) {
        /* Not needed by this load: the reference is checked, the secret
         * (presence, permissions, content) is not read. */
        if (nh_secret_ref_check(src, r->val->str, err, sizeof(err)) < 0) {
            nh_perr(c, r->line, r->col, path, "%s", err);
            return -EINVAL;
        }
        return 0;
    }
    int rc =
        nh_secret_load_at(src, r->val->str, c->base_dir, ret, err, sizeof(err), warn, sizeof(warn));
    if (rc < 0) {
        nh_perr(c, r->line, r->col, path, "%s", err[0] ? err : "cannot load the secret");
        return rc;
    }
    if (warn[0] != '\0')
        nh_pwarn(c, r->line, r->col, path, "%s", warn);
    return 0;
}

int nh_schema_strlist(struct nh_pctx *c, const struct nh_ypair *kv, const char *path,
                      bool (*ok)(const char *), const char *what, char ***ret, size_t *n)
{
    const struct nh_ynode *v = kv->val;
    char g[128], ip[360];
    if (v->type != NH_Y_SEQ) {
        nh_perr(c, kv->line, kv->col, path, "expected a list, %s", got_str(v, g, sizeof(g)));
        return -EINVAL;
    }
    char **list = calloc(v->n ? v->n : 1, sizeof(char *));
    if (list == NULL)
        return -ENOMEM;
    size_t cnt = 0;
    int rc = 0;
    for (size_t i = 0; i < v->n; i++) {
        const struct nh_ynode *it = v->items[i];
        snprintf(ip, sizeof(ip), "%s[%zu]", path, i);
        if (it->type != NH_Y_SCALAR || it->len == 0 || (ok != NULL && !ok(it->str))) {
            nh_perr(c, it->line, it->col, ip, "expected %s, %s", what, got_str(it, g, sizeof(g)));
            rc = -EINVAL;
            continue;
        }
        list[cnt] = strdup(it->str);
        if (list[cnt] == NULL) {
            rc = -ENOMEM;
            break;
        }
        cnt++;
    }
    for (size_t i = 0; i < *n; i++)
        free((*ret)[i]);
    free(*ret);
    *ret = list;
    *n = cnt;
    return rc;
}
