/* journal.c - the crash-safe state journal (see journal.h for semantics).
 *
 * File format: "journal.log" in the state directory, append-only, one
 * record per line: 8 lower-case hex digits of CRC-32C over the JSON bytes,
 * one space, compact JSON, "\n". Record types:
 *   {"t":"begin", <the begin part of state/opcodec.h>}
 *   {"t":"update", <the update part of state/opcodec.h>}
 *   {"t":"seq","next":N}   first line of a compacted file: keeps sequence
 *                          numbers going up after closed ops are dropped.
 * The operation's keys are the codec's (one encoding shared with etcd); a
 * journal written before it ("started", "updated", explicit nulls) is
 * still read.
 *
 * Replay rules: a last line without its newline, or one whose checksum
 * fails and that holds zero bytes (blocks that never reached the disk), is a
 * write torn by a crash: dropped with a warning (and cut off the file on
 * open, so the next record does not land behind it). Anything else that
 * does not check out - a complete last line (newline-terminated, no zeros)
 * whose checksum fails, a bad checksum or bad JSON before the last line, a
 * checksummed record that does not make sense (unknown or closed seq,
 * duplicate begin) - is corruption: -EBADMSG, never silently trusted (it
 * may record an operation that was sent). */
#include "state/journal.h"
#include "state/opcodec.h"
#include "util/clock.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>

#define JOURNAL_NAME "journal.log"
#define JOURNAL_TMP "journal.log.tmp"
#define MAX_RECORD NH_OPC_MAX_BYTES /* one line: an action with thousands of victims fits */
#define MAX_FILE (256u << 20)       /* refuse to slurp anything bigger on open */
#define JSON_DEPTH NH_OPC_MAX_DEPTH
#define DEFAULT_MAX_BYTES (1u << 20)
#define DEFAULT_MAX_RECORDS 10000u

/* ---------- CRC-32C (Castagnoli, reflected 0x82F63B78) ---------- */

static uint32_t crc_table[256];
static pthread_once_t crc_once = PTHREAD_ONCE_INIT;

static void crc_init(void)
{
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++)
            c = (c & 1) ? (c >> 1) ^ 0x82F63B78u : c >> 1;
        crc_table[i] = c;
    }
}

uint32_t nh_journal_crc32c(const void *data, size_t len)
{
    const unsigned char *p = data;
    uint32_t c = 0xFFFFFFFFu;
    pthread_once(&crc_once, crc_init);
    for (size_t i = 0; i < len; i++)
        c = crc_table[(c ^ p[i]) & 0xFF] ^ (c >> 8);
    return c ^ 0xFFFFFFFFu;
}

/* ---------- the set of open operations (shared by replay and the live journal) ---------- */

struct jop {
    struct nh_op op;
    bool updated; /* an update record exists: compaction must keep it */
};

struct opset {
    struct jop *v; /* sorted by seq */
    size_t n, cap;
    uint64_t *seen; /* every begin seq, increasing (replay only) */
    size_t n_seen, cap_seen;
    uint64_t next_seq;
};

static void opset_clear(struct opset *s)
{
    for (size_t i = 0; i < s->n; i++)
        nh_op_clear(&s->v[i].op);
    free(s->v);
    free(s->seen);
    memset(s, 0, sizeof(*s));
}

static struct jop *opset_find(const struct opset *s, uint64_t seq)
{
    size_t lo = 0, hi = s->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (s->v[mid].op.seq == seq)
            return &s->v[mid];
        if (s->v[mid].op.seq < seq)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

static bool seen_has(const struct opset *s, uint64_t seq)
{
    size_t lo = 0, hi = s->n_seen;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (s->seen[mid] == seq)
            return true;
        if (s->seen[mid] < seq)
            lo = mid + 1;
        else
            hi = mid;
    }
    return false;
}

/* Appends (seq must be above every seq in the set); takes op's contents. */
static int opset_push(struct opset *s, struct nh_op *op, bool track_seen)
{
    if (s->n == s->cap) {
        size_t nc = s->cap ? s->cap * 2 : 8;
        struct jop *nv = realloc(s->v, nc * sizeof(*nv));
        if (nv == NULL)
            return -ENOMEM;
        s->v = nv;
        s->cap = nc;
    }
    if (track_seen && s->n_seen == s->cap_seen) {
        size_t nc = s->cap_seen ? s->cap_seen * 2 : 8;
        uint64_t *nv = realloc(s->seen, nc * sizeof(*nv));
        if (nv == NULL)
            return -ENOMEM;
        s->seen = nv;
        s->cap_seen = nc;
    }
    s->v[s->n].op = *op;
    s->v[s->n].updated = false;
    s->n++;
    if (track_seen)
        s->seen[s->n_seen++] = op->seq;
    memset(op, 0, sizeof(*op));
    if (s->v[s->n - 1].op.seq >= s->next_seq)
        s->next_seq = s->v[s->n - 1].op.seq + 1;
    return 0;
}

static void opset_remove(struct opset *s, struct jop *o)
{
    size_t i = (size_t)(o - s->v);
    nh_op_clear(&o->op);
    memmove(&s->v[i], &s->v[i + 1], (s->n - i - 1) * sizeof(*s->v));
    s->n--;
}

/* ---------- record encoding ---------- */

/* Adds a key; false on allocation failure (val is freed either way). */
static bool jadd(struct json_object *o, const char *k, struct json_object *val)
{
    if (val == NULL)
        return false;
    if (json_object_object_add(o, k, val) != 0) {
        json_object_put(val); /* not taken on failure */
        return false;
    }
    return true;
}

/* A record of type t holding the codec's `parts` of op. */
static int enc_record(const char *t, const struct nh_op *op, unsigned parts,
                      struct json_object **ret)
{
    struct json_object *o = json_object_new_object();
    int r;
    if (o == NULL || !jadd(o, "t", json_object_new_string(t))) {
        json_object_put(o);
        return -ENOMEM;
    }
    r = nh_opc_encode(op, parts, o);
    if (r < 0) {
        json_object_put(o);
        return r;
    }
    *ret = o;
    return 0;
}

static int enc_begin(const struct nh_op *op, struct json_object **ret)
{
    return enc_record("begin", op, NH_OPC_BEGIN, ret);
}

static int enc_update(const struct nh_op *op, struct json_object **ret)
{
    return enc_record("update", op, NH_OPC_UPDATE, ret);
}

/* Appends "<crc> <json>\n" of o to a growing buffer; takes o. */
struct lines {
    char *p;
    size_t len, cap;
};

static int lines_add(struct lines *l, struct json_object *o)
{
    size_t jl = 0;
    const char *js = json_object_to_json_string_length(
        o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE, &jl);
    int r = 0;
    if (js == NULL) {
        r = -ENOMEM;
    } else if (jl + 10 > MAX_RECORD) {
        r = -E2BIG;
    } else {
        size_t need = l->len + jl + 10 + 1;
        if (need > l->cap) {
            size_t nc = l->cap ? l->cap : 512;
            while (nc < need)
                nc *= 2;
            char *np = realloc(l->p, nc);
            if (np == NULL) {
                json_object_put(o);
                return -ENOMEM;
            }
            l->p = np;
            l->cap = nc;
        }
        snprintf(l->p + l->len, 10, "%08" PRIx32 " ", nh_journal_crc32c(js, jl));
        memcpy(l->p + l->len + 9, js, jl);
        l->p[l->len + 9 + jl] = '\n';
        l->len += jl + 10;
    }
    json_object_put(o);
    return r;
}

/* ---------- record decoding ---------- */

struct perr {
    char *buf;
    size_t len;
    size_t line;
};

static bool fail(struct perr *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static bool fail(struct perr *e, const char *fmt, ...)
{
    if (e->buf != NULL && e->len > 0) {
        char what[256];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(what, sizeof(what), fmt, ap);
        va_end(ap);
        snprintf(e->buf, e->len, "line %zu: %s", e->line, what);
    }
    return false;
}

#define SEQ_MAX ((int64_t)NH_OPC_SEQ_MAX)

static bool get_next(struct json_object *o, int64_t *out, struct perr *e)
{
    struct json_object *v;
    if (!json_object_object_get_ex(o, "next", &v) || v == NULL)
        return fail(e, "field \"next\" is missing");
    if (!json_object_is_type(v, json_type_int))
        return fail(e, "field \"next\" has the wrong type");
    errno = 0;
    int64_t x = json_object_get_int64(v);
    if (errno != 0 || x < 1 || x > SEQ_MAX + 1)
        return fail(e, "field \"next\" is out of range");
    *out = x;
    return true;
}

/* One record's operation part, through the codec. */
static bool dec_op(struct json_object *o, unsigned parts, struct nh_op *op, struct perr *e,
                   bool *oom)
{
    char msg[200];
    int r = nh_opc_decode(o, parts, op, msg, sizeof(msg));
    if (r == -ENOMEM)
        *oom = true;
    return r == 0 ? true : fail(e, "%s", msg);
}

/* Applies an update (state, job, result, time) to an op (takes u's strings). */
static void apply_update(struct jop *j, struct nh_op *u)
{
    j->op.state = u->state;
    j->op.job_kind = u->job_kind;
    free(j->op.job_id);
    j->op.job_id = u->job_id;
    free(j->op.result);
    j->op.result = u->result;
    j->op.updated_ms = u->updated_ms;
    j->updated = true;
    u->job_id = u->result = NULL;
}

/* One checksummed record. 0, -EBADMSG (message in e) or -ENOMEM. */
static int apply_record(struct opset *s, const char *js, size_t len, struct perr *e)
{
    struct json_tokener *tok = json_tokener_new_ex(JSON_DEPTH);
    struct json_object *o = NULL, *t;
    bool oom = false;
    int r = -EBADMSG;

    if (tok == NULL)
        return -ENOMEM;
    json_tokener_set_flags(tok, JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8);
    o = json_tokener_parse_ex(tok, js, (int)len);
    if (o == NULL || json_tokener_get_error(tok) != json_tokener_success ||
        json_tokener_get_parse_end(tok) != len) {
        fail(e, "not a JSON record (%s)",
             o == NULL ? json_tokener_error_desc(json_tokener_get_error(tok)) : "trailing bytes");
        goto out;
    }
    if (!json_object_is_type(o, json_type_object)) {
        fail(e, "not a JSON object");
        goto out;
    }
    if (!json_object_object_get_ex(o, "t", &t) || t == NULL) {
        fail(e, "field \"t\" is missing");
        goto out;
    }
    if (!json_object_is_type(t, json_type_string)) {
        fail(e, "field \"t\" has the wrong type");
        goto out;
    }
    const char *type = json_object_get_string(t);
    if (strcmp(type, "begin") == 0) {
        struct nh_op op;
        if (!dec_op(o, NH_OPC_BEGIN, &op, e, &oom))
            goto out;
        if (seen_has(s, op.seq)) {
            fail(e, "duplicate begin for seq %" PRIu64, op.seq);
            nh_op_clear(&op);
            goto out;
        }
        if (s->n_seen > 0 && op.seq < s->seen[s->n_seen - 1]) {
            fail(e, "begin for seq %" PRIu64 " out of order (after seq %" PRIu64 ")", op.seq,
                 s->seen[s->n_seen - 1]);
            nh_op_clear(&op);
            goto out;
        }
        r = opset_push(s, &op, true);
        if (r < 0)
            nh_op_clear(&op);
    } else if (strcmp(type, "update") == 0) {
        struct nh_op u;
        if (!dec_op(o, NH_OPC_UPDATE, &u, e, &oom))
            goto out;
        struct jop *j = opset_find(s, u.seq);
        if (j == NULL) {
            if (seen_has(s, u.seq))
                fail(e, "update for seq %" PRIu64 ", which was already closed", u.seq);
            else
                fail(e, "update for unknown seq %" PRIu64 " (no begin record)", u.seq);
            nh_op_clear(&u);
            goto out;
        }
        apply_update(j, &u);
        if (nh_op_state_final(j->op.state))
            opset_remove(s, j);
        r = 0;
    } else if (strcmp(type, "seq") == 0) {
        int64_t next = 0;
        if (!get_next(o, &next, e))
            goto out;
        if ((uint64_t)next > s->next_seq)
            s->next_seq = (uint64_t)next;
        r = 0;
    } else {
        fail(e, "unknown record type \"%.40s\"", type);
    }
out:
    if (oom)
        r = -ENOMEM;
    json_object_put(o);
    json_tokener_free(tok);
    return r;
}

static bool is_lower_hex(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
}

/* Checks "<crc8> <json>" framing and checksum. */
static bool line_checks(const char *p, size_t len)
{
    if (len < 10 || len - 9 > MAX_RECORD || p[8] != ' ')
        return false;
    uint32_t want = 0;
    for (int i = 0; i < 8; i++) {
        if (!is_lower_hex(p[i]))
            return false;
        want = (want << 4) | (uint32_t)(p[i] <= '9' ? p[i] - '0' : p[i] - 'a' + 10);
    }
    return nh_journal_crc32c(p + 9, len - 9) == want;
}

struct parsed {
    struct opset set;
    size_t n_records, n_dropped;
    size_t good_len; /* bytes of the image that are whole, valid records */
    char warning[256];
};

static int parse_image(const char *data, size_t len, struct parsed *out, char *err, size_t errlen)
{
    struct perr e = {.buf = err, .len = errlen, .line = 0};
    size_t pos = 0;
    memset(out, 0, sizeof(*out));
    out->set.next_seq = 1;
    if (err != NULL && errlen > 0)
        err[0] = '\0';
    if (data == NULL && len > 0)
        return -EINVAL;
    while (pos < len) {
        e.line++;
        const char *nl = memchr(data + pos, '\n', len - pos);
        if (nl == NULL) {
            out->n_dropped++;
            snprintf(out->warning, sizeof(out->warning),
                     "line %zu: dropped a torn last record (%zu bytes, no newline): the daemon "
                     "stopped while writing it, before it was acknowledged",
                     e.line, len - pos);
            break;
        }
        size_t ll = (size_t)(nl - (data + pos));
        bool last = (size_t)(nl - data) + 1 == len;
        if (!line_checks(data + pos, ll)) {
            /* A record is written with one write() and ends with its only
             * newline. A crash before fdatasync leaves a prefix (no newline,
             * above) or blocks that never reached the disk, read back as
             * zeros: torn, never acknowledged, dropped. A last line that is
             * complete and has no zeros was written whole and damaged later
             * (disk, hand edit): it may record an operation that was sent,
             * so it is corruption, never silently dropped. */
            if (last && memchr(data + pos, '\0', ll) != NULL) {
                out->n_dropped++;
                snprintf(out->warning, sizeof(out->warning),
                         "line %zu: dropped a torn last record (zero bytes where data should "
                         "be): the daemon stopped while writing it, before it was acknowledged",
                         e.line);
                break;
            }
            if (last) {
                fail(&e, "complete last record (newline-terminated) with a bad checksum: damaged "
                         "after it was written, not torn by a crash; the operation it records "
                         "may have been sent");
                opset_clear(&out->set);
                return -EBADMSG;
            }
            fail(&e, "bad checksum or framing in a record before the last one");
            opset_clear(&out->set);
            return -EBADMSG;
        }
        int r = apply_record(&out->set, data + pos + 9, ll - 9, &e);
        if (r < 0) {
            if (r == -ENOMEM && err != NULL && errlen > 0)
                snprintf(err, errlen, "line %zu: out of memory", e.line);
            opset_clear(&out->set);
            return r;
        }
        out->n_records++;
        pos += ll + 1;
        out->good_len = pos;
    }
    return 0;
}

/* Deep copies of the open ops for the caller. */
static int replay_fill(struct nh_journal_replay *rp, const struct opset *s)
{
    rp->open_ops = NULL;
    rp->n_open = 0;
    if (s->n == 0)
        return 0;
    rp->open_ops = calloc(s->n, sizeof(*rp->open_ops));
    if (rp->open_ops == NULL)
        return -ENOMEM;
    for (size_t i = 0; i < s->n; i++) {
        if (nh_op_copy(&rp->open_ops[i], &s->v[i].op) < 0) {
            nh_journal_replay_clear(rp);
            return -ENOMEM;
        }
        rp->n_open++;
    }
    return 0;
}

void nh_journal_replay_clear(struct nh_journal_replay *r)
{
    if (r == NULL)
        return;
    for (size_t i = 0; i < r->n_open; i++)
        nh_op_clear(&r->open_ops[i]);
    free(r->open_ops);
    memset(r, 0, sizeof(*r));
}

int nh_journal_parse(const char *data, size_t len, struct nh_journal_replay *replay, char *err,
                     size_t errlen)
{
    struct parsed p;
    int r = parse_image(data, len, &p, err, errlen);
    if (replay != NULL)
        memset(replay, 0, sizeof(*replay));
    if (r < 0)
        return r;
    if (replay != NULL) {
        r = replay_fill(replay, &p.set);
        replay->n_records = p.n_records;
        replay->n_dropped = p.n_dropped;
        memcpy(replay->warning, p.warning, sizeof(replay->warning));
    }
    opset_clear(&p.set);
    return r;
}

/* ---------- the live journal ---------- */

struct nh_journal {
    pthread_mutex_t mu;
    char *dir;
    char *path;
    char *tmp_path;
    int fd;
    struct opset set;
    size_t n_records;
    size_t size;
    size_t max_bytes, max_records;         /* configured bounds */
    size_t compact_bytes, compact_records; /* current triggers (raised if open ops alone exceed) */
    bool broken; /* a write or sync failed in an unknown way: refuse more */
    int fault;   /* test hook */
};

static int fsync_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    int r = 0;
    if (fd < 0)
        return -errno;
    if (fsync(fd) < 0)
        r = -errno;
    close(fd);
    return r;
}

static int write_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        if (w == 0)
            return -EIO;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* Appends whole lines, durable on success. On a failed write the file is
 * cut back to where it was, so no torn record sits before the next one. */
static int append_locked(struct nh_journal *j, const struct lines *l, size_t n_lines)
{
    if (j->broken)
        return -EIO;
    int r = write_all(j->fd, l->p, l->len);
    if (r < 0) {
        if (ftruncate(j->fd, (off_t)j->size) < 0)
            j->broken = true;
        return r;
    }
    if (fdatasync(j->fd) < 0) {
        r = -errno;
        j->broken = true; /* the page cache may have dropped it: state unknown */
        return r;
    }
    j->size += l->len;
    j->n_records += n_lines;
    return 0;
}

static void set_triggers(struct nh_journal *j)
{
    j->compact_bytes = j->max_bytes;
    j->compact_records = j->max_records;
    if (j->size * 2 > j->compact_bytes)
        j->compact_bytes = j->size * 2;
    if (j->n_records * 2 > j->compact_records)
        j->compact_records = j->n_records * 2;
}

static int compact_locked(struct nh_journal *j)
{
    struct lines l = {0};
    struct json_object *o;
    int r = 0, fd;
    size_t n = 1;

    if (j->broken)
        return -EIO;
    o = json_object_new_object();
    if (o == NULL || !jadd(o, "t", json_object_new_string("seq")) ||
        !jadd(o, "next", json_object_new_int64((int64_t)j->set.next_seq))) {
        json_object_put(o);
        return -ENOMEM;
    }
    r = lines_add(&l, o);
    for (size_t i = 0; i < j->set.n && r == 0; i++) {
        r = enc_begin(&j->set.v[i].op, &o);
        if (r == 0)
            r = lines_add(&l, o);
        n++;
        if (r == 0 && j->set.v[i].updated) {
            r = enc_update(&j->set.v[i].op, &o);
            if (r == 0)
                r = lines_add(&l, o);
            n++;
        }
    }
    if (r < 0) {
        free(l.p);
        return r;
    }
    fd = open(j->tmp_path, O_RDWR | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0600);
    if (fd < 0) {
        free(l.p);
        return -errno;
    }
    r = write_all(fd, l.p, l.len);
    if (r == 0 && fsync(fd) < 0)
        r = -errno;
    if (r == 0 && j->fault == NH_JOURNAL_FAULT_BEFORE_RENAME)
        r = -ECANCELED; /* as if the daemon died here: the .tmp stays behind */
    if (r < 0) {
        close(fd);
        if (r != -ECANCELED)
            unlink(j->tmp_path);
        free(l.p);
        return r;
    }
    if (rename(j->tmp_path, j->path) < 0) {
        r = -errno;
        close(fd);
        unlink(j->tmp_path);
        free(l.p);
        return r;
    }
    free(l.p);
    /* From here the new file is the journal. If the rename cannot be made
     * durable, a crash could bring back the old one without what we append
     * next: stop writing instead. */
    r = fsync_dir(j->dir);
    if (r < 0)
        j->broken = true;
    close(j->fd);
    j->fd = fd;
    j->size = l.len;
    j->n_records = n;
    set_triggers(j);
    return r;
}

static void maybe_compact_locked(struct nh_journal *j)
{
    if (j->size > j->compact_bytes || j->n_records > j->compact_records) {
        /* A failure leaves the old (valid) journal; an unsafe one sets broken. */
        (void)compact_locked(j);
        set_triggers(j);
    }
}

void nh_journal_close(struct nh_journal *j)
{
    if (j == NULL)
        return;
    if (j->fd >= 0)
        close(j->fd);
    opset_clear(&j->set);
    free(j->dir);
    free(j->path);
    free(j->tmp_path);
    pthread_mutex_destroy(&j->mu);
    free(j);
}

static char *path_join(const char *a, const char *b)
{
    size_t n = strlen(a) + strlen(b) + 2;
    char *p = malloc(n);
    if (p != NULL)
        snprintf(p, n, "%s/%s", a, b);
    return p;
}

static int ensure_dir(const char *dir, char *err, size_t errlen)
{
    struct stat st;
    if (mkdir(dir, 0700) == 0) {
        /* make the new directory's entry durable in its parent */
        char *parent = strdup(dir);
        if (parent != NULL) {
            char *slash = strrchr(parent, '/');
            if (slash == parent)
                slash[1] = '\0';
            else if (slash != NULL)
                *slash = '\0';
            else
                strcpy(parent, ".");
            (void)fsync_dir(parent);
            free(parent);
        }
        return 0;
    }
    int r = -errno;
    if (r != -EEXIST) {
        snprintf(err, errlen,
                 "%s: cannot create the state directory: %s (create it, mode 0700, "
                 "owned by the daemon's user)",
                 dir, strerror(-r));
        return r;
    }
    if (stat(dir, &st) < 0 || !S_ISDIR(st.st_mode)) {
        snprintf(err, errlen,
                 "%s: exists but is not a directory (point state_dir at a "
                 "directory)",
                 dir);
        return -ENOTDIR;
    }
    return 0;
}

static int read_all(int fd, char **ret, size_t *ret_len)
{
    struct stat st;
    if (fstat(fd, &st) < 0)
        return -errno;
    if (st.st_size < 0 || (uint64_t)st.st_size > MAX_FILE)
        return -EFBIG;
    size_t n = (size_t)st.st_size, got = 0;
    char *p = malloc(n + 1);
    if (p == NULL)
        return -ENOMEM;
    while (got < n) {
        ssize_t r = pread(fd, p + got, n - got, (off_t)got);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            int e = -errno;
            free(p);
            return e;
        }
        if (r == 0)
            break;
        got += (size_t)r;
    }
    *ret = p;
    *ret_len = got;
    return 0;
}

/* A journal object for dir with its paths, no file open yet. */
static int journal_alloc(const char *dir, struct nh_journal **ret)
{
    struct nh_journal *j = calloc(1, sizeof(*j));
    if (j == NULL)
        return -ENOMEM;
    j->fd = -1;
    j->max_bytes = DEFAULT_MAX_BYTES;
    j->max_records = DEFAULT_MAX_RECORDS;
    if (pthread_mutex_init(&j->mu, NULL) != 0) {
        free(j);
        return -ENOMEM;
    }
    j->dir = strdup(dir);
    j->path = path_join(dir, JOURNAL_NAME);
    j->tmp_path = path_join(dir, JOURNAL_TMP);
    if (j->dir == NULL || j->path == NULL || j->tmp_path == NULL) {
        nh_journal_close(j);
        return -ENOMEM;
    }
    *ret = j;
    return 0;
}

/* Opens (or creates, syncing the directory) the journal file into j->fd. */
static int journal_open_file(struct nh_journal *j, const char *dir, char *err, size_t errlen)
{
    bool created = false;
    int r;

    j->fd = open(j->path, O_RDWR | O_APPEND | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (j->fd >= 0) {
        created = true;
    } else if (errno == EEXIST) {
        j->fd = open(j->path, O_RDWR | O_APPEND | O_CLOEXEC);
    }
    if (j->fd < 0) {
        r = -errno;
        snprintf(err, errlen,
                 "%s: cannot open the journal: %s (the state directory must be "
                 "writable by the daemon's user)",
                 j->path, strerror(-r));
        return r;
    }
    if (created && (r = fsync_dir(dir)) < 0) {
        snprintf(err, errlen, "%s: cannot sync the state directory: %s", dir, strerror(-r));
        return r;
    }
    return 0;
}

/* Reads and parses the open journal into j (and p, for the replay), cutting
 * a torn tail off. */
static int journal_load(struct nh_journal *j, struct parsed *p, char *err, size_t errlen)
{
    char *data = NULL;
    size_t len = 0;
    int r = read_all(j->fd, &data, &len);
    if (r < 0) {
        snprintf(err, errlen, "%s: cannot read the journal: %s%s", j->path, strerror(-r),
                 r == -EFBIG ? " (it is larger than 256 MiB; inspect it)" : "");
        return r;
    }
    char perr[300];
    r = parse_image(data, len, p, perr, sizeof(perr));
    free(data);
    if (r < 0) {
        if (r == -EBADMSG)
            snprintf(err, errlen,
                     "%s: %s; the journal is corrupt and is not trusted: inspect it and "
                     "resolve its open operations by hand, then move it aside",
                     j->path, perr);
        else
            snprintf(err, errlen, "%s: %s", j->path, strerror(-r));
        return r;
    }
    j->set = p->set;
    free(j->set.seen); /* only replay needs every seq seen */
    j->set.seen = NULL;
    j->set.n_seen = j->set.cap_seen = 0;
    j->n_records = p->n_records;
    j->size = p->good_len;
    /* Cut a torn tail off, so the next record starts on a clean line. */
    if (p->good_len < len) {
        if (ftruncate(j->fd, (off_t)p->good_len) < 0 || fdatasync(j->fd) < 0) {
            r = -errno;
            snprintf(err, errlen, "%s: cannot cut off the torn last record: %s", j->path,
                     strerror(-r));
            return r;
        }
    }
    return 0;
}

int nh_journal_open(const char *dir, struct nh_journal **ret, struct nh_journal_replay *replay,
                    char *err, size_t errlen)
{
    struct nh_journal *j;
    char dummy[8];
    int r;

    if (err == NULL || errlen == 0) {
        err = dummy;
        errlen = sizeof(dummy);
    }
    err[0] = '\0';
    if (replay != NULL)
        memset(replay, 0, sizeof(*replay));
    if (dir == NULL || dir[0] == '\0' || ret == NULL) {
        snprintf(err, errlen, "journal: no state directory given");
        return -EINVAL;
    }
    r = journal_alloc(dir, &j);
    if (r < 0)
        return r;
    r = ensure_dir(dir, err, errlen);
    if (r < 0) {
        nh_journal_close(j);
        return r;
    }
    /* A compaction that died before its rename: the old journal is the truth. */
    if (unlink(j->tmp_path) == 0)
        (void)fsync_dir(dir);

    struct parsed p;
    r = journal_open_file(j, dir, err, errlen);
    if (r >= 0)
        r = journal_load(j, &p, err, errlen);
    if (r < 0) {
        nh_journal_close(j);
        return r;
    }
    set_triggers(j);
    if (replay != NULL) {
        r = replay_fill(replay, &j->set);
        if (r < 0) {
            nh_journal_close(j);
            return r;
        }
        replay->n_records = p.n_records;
        replay->n_dropped = p.n_dropped;
        memcpy(replay->warning, p.warning, sizeof(replay->warning));
    }
    *ret = j;
    return 0;
}

int nh_journal_begin(struct nh_journal *j, struct nh_op *op)
{
    struct json_object *o;
    struct lines l = {0};
    struct nh_op copy;
    int r;

    if (j == NULL || op == NULL)
        return -EINVAL;
    pthread_mutex_lock(&j->mu);
    if (j->broken) {
        pthread_mutex_unlock(&j->mu);
        return -EIO;
    }
    if (j->set.next_seq > (uint64_t)SEQ_MAX) {
        pthread_mutex_unlock(&j->mu);
        return -EOVERFLOW; /* replay would refuse the record */
    }
    uint64_t saved_seq = op->seq;
    op->seq = j->set.next_seq;
    if (op->started_ms == 0)
        op->started_ms = nh_wall_ms();
    r = enc_begin(op, &o);
    if (r == 0)
        r = lines_add(&l, o);
    if (r == 0)
        r = append_locked(j, &l, 1);
    free(l.p);
    if (r == 0) {
        r = nh_op_copy(&copy, op);
        if (r == 0) {
            free(copy.job_id);
            free(copy.result);
            copy.job_id = copy.result = NULL;
            copy.state = NH_OP_INTENT;
            copy.job_kind = NH_JOB_NONE;
            copy.updated_ms = copy.started_ms;
            r = opset_push(&j->set, &copy, false);
            if (r < 0)
                nh_op_clear(&copy);
        }
        if (r < 0) {
            /* On disk but not in memory: a later update for it would be
             * refused. Stop rather than diverge. */
            j->broken = true;
        } else {
            op->state = NH_OP_INTENT;
            op->updated_ms = op->started_ms;
            maybe_compact_locked(j);
        }
    }
    if (r < 0)
        op->seq = saved_seq;
    pthread_mutex_unlock(&j->mu);
    return r;
}

int nh_journal_update(struct nh_journal *j, const struct nh_op *op)
{
    struct json_object *o;
    struct lines l = {0};
    struct nh_op tmp;
    int r;

    if (j == NULL || op == NULL)
        return -EINVAL;
    pthread_mutex_lock(&j->mu);
    struct jop *cur = opset_find(&j->set, op->seq);
    if (j->broken) {
        pthread_mutex_unlock(&j->mu);
        return -EIO;
    }
    if (cur == NULL) {
        pthread_mutex_unlock(&j->mu);
        return -ENOENT;
    }
    tmp = *op; /* shallow: only read by enc_update */
    if (tmp.updated_ms == 0)
        tmp.updated_ms = nh_wall_ms();
    struct nh_op u = {
        .seq = op->seq, .state = op->state, .job_kind = op->job_kind, .updated_ms = tmp.updated_ms};
    r = enc_update(&tmp, &o);
    if (r == 0)
        r = lines_add(&l, o);
    if (r == 0 && op->job_id != NULL && (u.job_id = strdup(op->job_id)) == NULL)
        r = -ENOMEM;
    if (r == 0 && op->result != NULL && (u.result = strdup(op->result)) == NULL)
        r = -ENOMEM;
    if (r == 0)
        r = append_locked(j, &l, 1);
    free(l.p);
    if (r == 0) {
        apply_update(cur, &u);
        if (nh_op_state_final(cur->op.state))
            opset_remove(&j->set, cur);
        maybe_compact_locked(j);
    }
    nh_op_clear(&u);
    pthread_mutex_unlock(&j->mu);
    return r;
}

int nh_journal_compact(struct nh_journal *j)
{
    int r;
    if (j == NULL)
        return -EINVAL;
    pthread_mutex_lock(&j->mu);
    r = compact_locked(j);
    set_triggers(j);
    pthread_mutex_unlock(&j->mu);
    return r;
}

void nh_journal_set_limits(struct nh_journal *j, size_t max_bytes, size_t max_records)
{
    if (j == NULL)
        return;
    pthread_mutex_lock(&j->mu);
    j->max_bytes = max_bytes ? max_bytes : DEFAULT_MAX_BYTES;
    j->max_records = max_records ? max_records : DEFAULT_MAX_RECORDS;
    set_triggers(j);
    pthread_mutex_unlock(&j->mu);
}

bool nh_journal_broken(struct nh_journal *j)
{
    bool b;
    if (j == NULL)
        return false;
    pthread_mutex_lock(&j->mu);
    b = j->broken;
    pthread_mutex_unlock(&j->mu);
    return b;
}

void nh_journal_stats(struct nh_journal *j, size_t *n_records, size_t *bytes, size_t *n_open)
{
    if (j == NULL)
        return;
    pthread_mutex_lock(&j->mu);
    if (n_records != NULL)
        *n_records = j->n_records;
    if (bytes != NULL)
        *bytes = j->size;
    if (n_open != NULL)
        *n_open = j->set.n;
    pthread_mutex_unlock(&j->mu);
}

const char *nh_journal_fault_name(enum nh_journal_fault f)
{
    switch (f) {
    case NH_JOURNAL_FAULT_NONE:
        return "none";
    case NH_JOURNAL_FAULT_BEFORE_RENAME:
        return "before-rename";
    }
    return "?";
}

void nh_journal_set_fault(struct nh_journal *j, enum nh_journal_fault f)
{
    if (j == NULL)
        return;
    pthread_mutex_lock(&j->mu);
    j->fault = (int)f;
    pthread_mutex_unlock(&j->mu);
}
