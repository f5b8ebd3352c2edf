/* test_journal.c - the state journal: round trip, replay, crash at every
 * byte of the last record, corruption, compaction (and a crash inside it),
 * sequence continuity, junk input, concurrent writers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "state/journal.h"

/* ---------- helpers ---------- */

struct fx {
    char root[64]; /* mkdtemp */
    char dir[128]; /* root/state: created by the journal */
    char log[160];
    char tmp[160];
};

static int fx_setup(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));
    assert_non_null(f);
    const char *base = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
    snprintf(f->root, sizeof(f->root), "%s/nhj.XXXXXX", base);
    assert_non_null(mkdtemp(f->root));
    snprintf(f->dir, sizeof(f->dir), "%s/state", f->root);
    snprintf(f->log, sizeof(f->log), "%s/journal.log", f->dir);
    snprintf(f->tmp, sizeof(f->tmp), "%s/journal.log.tmp", f->dir);
    *state = f;
    return 0;
}

static int fx_teardown(void **state)
{
    struct fx *f = *state;
    unlink(f->log);
    unlink(f->tmp);
    rmdir(f->dir);
    rmdir(f->root);
    free(f);
    return 0;
}

static char *xstrdup(const char *s)
{
    char *d = s ? strdup(s) : NULL;
    assert_true(s == NULL || d != NULL);
    return d;
}

/* An op as the executor would hand it over. */
static void mk_op(struct nh_op *op, enum nh_action_kind kind, const char *cluster, const char *pool,
                  size_t n_nodes)
{
    memset(op, 0, sizeof(*op));
    op->action.kind = kind;
    op->action.cluster = xstrdup(cluster);
    op->action.pool_id = xstrdup(pool);
    op->action.pool_name = pool ? xstrdup("workers-a") : NULL;
    op->action.from = 10;
    op->action.target = (int)(10 - n_nodes);
    op->action.rule = NH_RULE_DECLARED;
    snprintf(op->action.why, sizeof(op->action.why), "8 declared, 10 observed; \"2\" newest\n");
    if (n_nodes > 0) {
        op->action.node_ids = calloc(n_nodes, sizeof(char *));
        op->action.node_names = calloc(n_nodes, sizeof(char *));
        assert_non_null(op->action.node_ids);
        assert_non_null(op->action.node_names);
        for (size_t i = 0; i < n_nodes; i++) {
            char b[64];
            snprintf(b, sizeof(b), "i-bp1/%zu", i);
            op->action.node_ids[i] = xstrdup(b);
            snprintf(b, sizeof(b), "cn-hangzhou.10.0.0.%zu", i);
            op->action.node_names[i] = xstrdup(b);
        }
        op->action.n_nodes = n_nodes;
        op->action.pool_nodes = true;
    }
    op->revision = xstrdup("git:0123abcd");
    op->started_ms = 1735787045000;
}

static void set_state(struct nh_op *op, enum nh_op_state s, enum nh_job_kind jk, const char *job,
                      const char *result, int64_t at)
{
    op->state = s;
    op->job_kind = jk;
    free(op->job_id);
    op->job_id = xstrdup(job);
    free(op->result);
    op->result = xstrdup(result);
    op->updated_ms = at;
}

static char *slurp(const char *path, size_t *len)
{
    FILE *fp = fopen(path, "rb");
    assert_non_null(fp);
    assert_int_equal(fseek(fp, 0, SEEK_END), 0);
    long n = ftell(fp);
    assert_true(n >= 0);
    rewind(fp);
    char *p = malloc((size_t)n + 1);
    assert_non_null(p);
    assert_int_equal(fread(p, 1, (size_t)n, fp), (size_t)n);
    p[n] = '\0';
    fclose(fp);
    *len = (size_t)n;
    return p;
}

static void spew(const char *path, const char *data, size_t len)
{
    FILE *fp = fopen(path, "wb");
    assert_non_null(fp);
    assert_int_equal(fwrite(data, 1, len, fp), len);
    assert_int_equal(fclose(fp), 0);
}

static off_t file_size(const char *path)
{
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    return st.st_size;
}

static struct nh_journal *jopen(struct fx *f, struct nh_journal_replay *rp)
{
    struct nh_journal *j = NULL;
    char err[512];
    int r = nh_journal_open(f->dir, &j, rp, err, sizeof(err));
    if (r != 0)
        fail_msg("open: %d %s", r, err);
    assert_non_null(j);
    return j;
}

/* A line "<crc> <json>\n" with a correct checksum. */
static void line(char *out, size_t n, const char *json)
{
    snprintf(out, n, "%08" PRIx32 " %s\n", nh_journal_crc32c(json, strlen(json)), json);
}

#define BEGIN_JSON(seq)                                                                            \
    "{\"t\":\"begin\",\"seq\":" #seq ",\"cluster\":\"c\",\"kind\":\"scale-pool\",\"pool_id\":"     \
    "\"np1\",\"pool_name\":null,\"from\":1,\"target\":2,\"node_ids\":null,\"node_names\":null,"    \
    "\"pool_nodes\":false,\"rule\":\"declared\",\"why\":\"w\",\"revision\":null,\"started\":5}"
#define UPDATE_JSON(seq, state)                                                                    \
    "{\"t\":\"update\",\"seq\":" #seq ",\"state\":\"" state "\",\"job_kind\":\"ack-task\","        \
    "\"job_id\":\"T1\",\"result\":null,\"updated\":6}"

/* ---------- tests ---------- */

static void test_crc32c_known_vector(void **state)
{
    (void)state;
    assert_int_equal(nh_journal_crc32c("123456789", 9), 0xE3069283u);
    assert_int_equal(nh_journal_crc32c("", 0), 0);
}

static void test_open_creates_dir_0700_and_file_0600(void **state)
{
    struct fx *f = *state;
    struct nh_journal_replay rp;
    mode_t old = umask(0);
    struct nh_journal *j = jopen(f, &rp);
    umask(old);
    struct stat st;
    assert_int_equal(stat(f->dir, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0700);
    assert_int_equal(stat(f->log, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    assert_int_equal(rp.n_open, 0);
    assert_int_equal(rp.n_records, 0);
    assert_string_equal(rp.warning, "");
    nh_journal_replay_clear(&rp);
    nh_journal_close(j);
    nh_journal_close(NULL);

    /* a file where the directory should be: refused with a message */
    struct nh_journal *j2 = NULL;
    char err[256];
    assert_int_equal(nh_journal_open(f->log, &j2, NULL, err, sizeof(err)), -ENOTDIR);
    assert_null(j2);
    assert_non_null(strstr(err, "not a directory"));
}

static void test_round_trip_every_field(void **state)
{
    struct fx *f = *state;
    struct nh_journal_replay rp;
    struct nh_journal *j = jopen(f, &rp);
    nh_journal_replay_clear(&rp);

    struct nh_op op;
    mk_op(&op, NH_ACT_REMOVE_NODES, "prod-\xe6\x95\xb0", "np-1", 3);
    free(op.action.node_names[1]);
    op.action.node_names[1] = NULL; /* a name the cloud did not give */
    op.action.rule = NH_RULE_UNHEALTHY;
    assert_int_equal(nh_journal_begin(j, &op), 0);
    assert_int_equal(op.seq, 1);
    assert_int_equal(op.state, NH_OP_INTENT);
    set_state(&op, NH_OP_SENT, NH_JOB_ACK_TASK, "T-123", NULL, 1735787046000);
    assert_int_equal(nh_journal_update(j, &op), 0);
    nh_journal_close(j);

    /* every line is "<crc32c hex8> <compact json>\n" and checks out */
    size_t len;
    char *img = slurp(f->log, &len);
    size_t lines = 0;
    for (char *p = img; p < img + len;) {
        char *nl = memchr(p, '\n', (size_t)(img + len - p));
        assert_non_null(nl);
        assert_true(nl - p > 10);
        assert_int_equal(p[8], ' ');
        assert_int_equal(p[9], '{');
        assert_int_equal(nl[-1], '}');
        char want[9];
        snprintf(want, sizeof(want), "%08" PRIx32, nh_journal_crc32c(p + 9, (size_t)(nl - p - 9)));
        assert_memory_equal(p, want, 8);
        assert_null(memchr(p, ' ', 8));
        lines++;
        p = nl + 1;
    }
    assert_int_equal(lines, 2);
    assert_non_null(strstr(img, "\"t\":\"begin\""));
    assert_non_null(strstr(img, "\"node_names\":[\"cn-hangzhou.10.0.0.0\",null,"));
    assert_non_null(strstr(img, "\"i-bp1/0\"")); /* no "\/" */
    free(img);

    j = jopen(f, &rp);
    assert_int_equal(rp.n_records, 2);
    assert_int_equal(rp.n_open, 1);
    assert_int_equal(rp.n_dropped, 0);
    const struct nh_op *g = &rp.open_ops[0];
    assert_int_equal(g->seq, 1);
    assert_int_equal(g->state, NH_OP_SENT);
    assert_int_equal(g->job_kind, NH_JOB_ACK_TASK);
    assert_string_equal(g->job_id, "T-123");
    assert_null(g->result);
    assert_int_equal(g->started_ms, 1735787045000);
    assert_int_equal(g->updated_ms, 1735787046000);
    assert_string_equal(g->revision, "git:0123abcd");
    assert_int_equal(g->action.kind, NH_ACT_REMOVE_NODES);
    assert_string_equal(g->action.cluster, "prod-\xe6\x95\xb0");
    assert_string_equal(g->action.pool_id, "np-1");
    assert_string_equal(g->action.pool_name, "workers-a");
    assert_int_equal(g->action.from, 10);
    assert_int_equal(g->action.target, 7);
    assert_int_equal(g->action.n_nodes, 3);
    assert_string_equal(g->action.node_ids[2], "i-bp1/2");
    assert_string_equal(g->action.node_names[0], "cn-hangzhou.10.0.0.0");
    assert_null(g->action.node_names[1]);
    assert_true(g->action.pool_nodes);
    assert_int_equal(g->action.rule, NH_RULE_UNHEALTHY);
    assert_string_equal(g->action.why, op.action.why);
    nh_journal_replay_clear(&rp);
    nh_journal_close(j);
    nh_op_clear(&op);
}

static void test_replay_keeps_only_open_ops_in_seq_order(void **state)
{
    struct fx *f = *state;
    struct nh_journal_replay rp;
    struct nh_journal *j = jopen(f, &rp);
    nh_journal_replay_clear(&rp);
    struct nh_op ops[6];
    static const enum nh_op_state last[6] = {NH_OP_DONE,   NH_OP_SENT,   NH_OP_INTENT,
                                             NH_OP_FAILED, NH_OP_VERIFY, NH_OP_TIMED_OUT};
    for (int i = 0; i < 6; i++) {
        char c[16];
        snprintf(c, sizeof(c), "c%d", i);
        mk_op(&ops[i], NH_ACT_SCALE_POOL, c, "np", 0);
        assert_int_equal(nh_journal_begin(j, &ops[i]), 0);
        assert_int_equal(ops[i].seq, (uint64_t)i + 1);
    }
    for (int i = 0; i < 6; i++) {
        if (last[i] == NH_OP_INTENT)
            continue;
        set_state(&ops[i], NH_OP_SENT, NH_JOB_POOL_SIZE, NULL, NULL, 100 + i);
        assert_int_equal(nh_journal_update(j, &ops[i]), 0);
        if (last[i] != NH_OP_SENT) {
            set_state(&ops[i], last[i], NH_JOB_POOL_SIZE, NULL,
                      last[i] == NH_OP_FAILED ? "InvalidParameter: size" : NULL, 200 + i);
            assert_int_equal(nh_journal_update(j, &ops[i]), 0);
        }
    }
    /* closed ops can no longer be updated */
    assert_int_equal(nh_journal_update(j, &ops[0]), -ENOENT);
    struct nh_op ghost;
    mk_op(&ghost, NH_ACT_SCALE_POOL, "x", NULL, 0);
    ghost.seq = 99;
    assert_int_equal(nh_journal_update(j, &ghost), -ENOENT);
    nh_op_clear(&ghost);
    size_t nrec, bytes, nopen;
    nh_journal_stats(j, &nrec, &bytes, &nopen);
    assert_int_equal(nopen, 3);
    nh_journal_close(j);

    j = jopen(f, &rp);
    assert_int_equal(rp.n_records, nrec);
    assert_int_equal(rp.n_open, 3);
    assert_int_equal(rp.open_ops[0].seq, 2);
    assert_int_equal(rp.open_ops[0].state, NH_OP_SENT);
    assert_int_equal(rp.open_ops[0].job_kind, NH_JOB_POOL_SIZE);
    assert_int_equal(rp.open_ops[0].updated_ms, 101);
    assert_int_equal(rp.open_ops[1].seq, 3);
    assert_int_equal(rp.open_ops[1].state, NH_OP_INTENT);
    assert_string_equal(rp.open_ops[1].action.cluster, "c2");
    assert_int_equal(rp.open_ops[2].seq, 5);
    assert_int_equal(rp.open_ops[2].state, NH_OP_VERIFY);
    /* the reopened journal accepts updates for replayed ops, not closed ones */
    assert_int_equal(nh_journal_update(j, &ops[0]), -ENOENT);
    set_state(&ops[4], NH_OP_DONE, NH_JOB_POOL_SIZE, NULL, "ok", 300);
    assert_int_equal(nh_journal_update(j, &ops[4]), 0);
    nh_journal_replay_clear(&rp);
    nh_journal_close(j);
    j = jopen(f, &rp);
    assert_int_equal(rp.n_open, 2);
    nh_journal_replay_clear(&rp);
    nh_journal_close(j);
    for (int i = 0; i < 6; i++)
        nh_op_clear(&ops[i]);
}

static void test_seq_continues_across_restarts_and_compaction(void **state)
{
    struct fx *f = *state;
    struct nh_journal_replay rp;
    struct nh_op op;
    struct nh_journal *j = jopen(f, &rp);
    for (int i = 0; i < 3; i++) {
        mk_op(&op, NH_ACT_SCALE_CLUSTER, "c", NULL, 0);
        assert_int_equal(nh_journal_begin(j, &op), 0);
        assert_int_equal(op.seq, (uint64_t)i + 1);
        set_state(&op, NH_OP_DONE, NH_JOB_NONE, NULL, NULL, 1);
        assert_int_equal(nh_journal_update(j, &op), 0);
        nh_op_clear(&op);
    }
    nh_journal_close(j);
    nh_journal_replay_clear(&rp);
    j = jopen(f, &rp);
    assert_int_equal(rp.n_open, 0);
    mk_op(&op, NH_ACT_SCALE_CLUSTER, "c", NULL, 0);
    assert_int_equal(nh_journal_begin(j, &op), 0);
    assert_int_equal(op.seq, 4);
    set_state(&op, NH_OP_DONE, NH_JOB_NONE, NULL, NULL, 1);
    assert_int_equal(nh_journal_update(j, &op), 0);
    nh_op_clear(&op);
    /* every op closed: compaction leaves only the sequence record */
    assert_int_equal(nh_journal_compact(j), 0);
    size_t nrec;
    nh_journal_stats(j, &nrec, NULL, NULL);
    assert_int_equal(nrec, 1);
    nh_journal_close(j);
    nh_journal_replay_clear(&rp);
    j = jopen(f, &rp);
    assert_int_equal(rp.n_open, 0);
    assert_int_equal(rp.n_records, 1);
    mk_op(&op, NH_ACT_SCALE_CLUSTER, "c", NULL, 0);
    assert_int_equal(nh_journal_begin(j, &op), 0);
    assert_int_equal(op.seq, 5);
    nh_op_clear(&op);
    nh_journal_replay_clear(&rp);
    nh_journal_close(j);
}

/* Writes begin A, update A (sent, T1), begin B, then `last` (a record
 * whose loss must leave the state of the three before). Returns the image
 * and the offset where the last record starts. */
static char *build_for_crash(struct fx *f, bool last_is_begin, size_t *len, size_t *last_start)
{
    struct nh_journal_replay rp;
    struct nh_journal *j = jopen(f, &rp);
    nh_journal_replay_clear(&rp);
    struct nh_op a, b;
    mk_op(&a, NH_ACT_REMOVE_NODES, "ca", "np", 2);
    mk_op(&b, NH_ACT_SCALE_POOL, "cb", "np2", 0);
    assert_int_equal(nh_journal_begin(j, &a), 0);
    set_state(&a, NH_OP_SENT, NH_JOB_ACK_TASK, "T1", NULL, 7);
    assert_int_equal(nh_journal_update(j, &a), 0);
    assert_int_equal(nh_journal_begin(j, &b), 0);
    *last_start = (size_t)file_size(f->log);
    if (last_is_begin) {
        struct nh_op c;
        mk_op(&c, NH_ACT_DELETE_POOL, "cc", "np3", 0);
        assert_int_equal(nh_journal_begin(j, &c), 0);
        nh_op_clear(&c);
    } else {
        set_state(&a, NH_OP_DONE, NH_JOB_ACK_TASK, "T1", "removed 2 nodes", 8);
        assert_int_equal(nh_journal_update(j, &a), 0);
    }
    nh_journal_close(j);
    nh_op_clear(&a);
    nh_op_clear(&b);
    return slurp(f->log, len);
}

static void check_state_before_last(const struct nh_journal_replay *rp)
{
    assert_int_equal(rp->n_open, 2);
    assert_int_equal(rp->open_ops[0].seq, 1);
    assert_int_equal(rp->open_ops[0].state, NH_OP_SENT);
    assert_string_equal(rp->open_ops[0].job_id, "T1");
    assert_null(rp->open_ops[0].result);
    assert_int_equal(rp->open_ops[0].action.n_nodes, 2);
    assert_int_equal(rp->open_ops[1].seq, 2);
    assert_string_equal(rp->open_ops[1].action.cluster, "cb");
    assert_int_equal(rp->open_ops[1].state, NH_OP_INTENT);
}

static void crash_every_offset(struct fx *f, bool last_is_begin)
{
    size_t len, start;
    char *img = build_for_crash(f, last_is_begin, &len, &start);
    assert_true(len > start + 10);
    for (size_t cut = start; cut < len; cut++) {
        struct nh_journal_replay rp;
        spew(f->log, img, cut);
        struct nh_journal *j = jopen(f, &rp);
        check_state_before_last(&rp);
        assert_int_equal(rp.n_records, 3);
        if (cut == start) {
            assert_int_equal(rp.n_dropped, 0);
            assert_string_equal(rp.warning, "");
        } else {
            assert_int_equal(rp.n_dropped, 1);
            assert_non_null(strstr(rp.warning, "line 4"));
            assert_non_null(strstr(rp.warning, "torn"));
        }
        /* the torn bytes were cut off: the next record lands on a clean line */
        assert_int_equal(file_size(f->log), (off_t)start);
        if (cut == start + 1 || cut == len - 1) {
            struct nh_op c;
            mk_op(&c, NH_ACT_SCALE_POOL, "next", "np", 0);
            assert_int_equal(nh_journal_begin(j, &c), 0);
            assert_int_equal(c.seq, 3);
            nh_op_clear(&c);
            nh_journal_close(j);
            nh_journal_replay_clear(&rp);
            j = jopen(f, &rp);
            assert_int_equal(rp.n_dropped, 0);
            assert_int_equal(rp.n_open, 3);
            assert_string_equal(rp.open_ops[2].action.cluster, "next");
        }
        nh_journal_replay_clear(&rp);
        nh_journal_close(j);
    }
    /* the whole record: it counts */
    struct nh_journal_replay rp;
    spew(f->log, img, len);
    struct nh_journal *j = jopen(f, &rp);
    assert_int_equal(rp.n_dropped, 0);
    assert_int_equal(rp.n_open, last_is_begin ? 3 : 1);
    nh_journal_replay_clear(&rp);
    nh_journal_close(j);
    free(img);
}

static void test_crash_at_every_byte_of_last_update(void **state)
{
    crash_every_offset(*state, false);
}

static void test_crash_at_every_byte_of_last_begin(void **state)
{
    crash_every_offset(*state, true);
}

static void expect_corrupt(struct fx *f, const char *img, size_t len, const char *line_no,
                           const char *what);

/* Zeros where the last record should be: the file grew but the data never
 * made it to the disk (a crash before fdatasync). Torn, dropped. */
static void test_zeros_on_last_line_are_torn(void **state)
{
    struct fx *f = *state;
    size_t len, start;
    char *img = build_for_crash(f, false, &len, &start);
    struct nh_journal_replay rp;
    struct nh_journal *j;

    /* zeros after the last record */
    char *z = calloc(1, len + 64);
    assert_non_null(z);
    memcpy(z, img, len);
    spew(f->log, z, len + 64);
    j = jopen(f, &rp);
    assert_int_equal(rp.n_open, 1); /* the update to DONE is whole */
    assert_int_equal(rp.n_dropped, 1);
    assert_int_equal(file_size(f->log), (off_t)len);
    nh_journal_replay_clear(&rp);
    nh_journal_close(j);

    /* the last line's first bytes are zeros, its newline made it: an
     * unsynced write of which only a later block reached the disk */
    memcpy(z, img, len);
    memset(z + start, 0, 12);
    spew(f->log, z, len);
    j = jopen(f, &rp);
    check_state_before_last(&rp);
    assert_int_equal(rp.n_dropped, 1);
    assert_non_null(strstr(rp.warning, "torn"));
    assert_int_equal(file_size(f->log), (off_t)start);
    nh_journal_replay_clear(&rp);
    nh_journal_close(j);
    free(z);
    free(img);
}

/* A complete last record (newline-terminated, no zeros) whose checksum
 * fails was written whole and damaged afterwards: it may record an
 * operation that was sent, so it is corruption, never dropped as torn. */
static void test_complete_last_record_with_bad_checksum_refuses_to_open(void **state)
{
    struct fx *f = *state;
    size_t len, start;
    char *img = build_for_crash(f, false, &len, &start);

    img[start + 20] ^= 0x01; /* one bit flipped, newline intact */
    expect_corrupt(f, img, len, "line 4:", "checksum");
    img[start + 20] ^= 0x01;
    /* the same for a begin record (an operation that may have been sent) */
    free(img);
    assert_int_equal(unlink(f->log), 0);
    img = build_for_crash(f, true, &len, &start);
    img[len - 5] ^= 0x02;
    expect_corrupt(f, img, len, "line 4:", "not torn");
    free(img);
}

static void expect_corrupt(struct fx *f, const char *img, size_t len, const char *line_no,
                           const char *what)
{
    struct nh_journal *j = NULL;
    struct nh_journal_replay rp;
    char err[512];
    spew(f->log, img, len);
    assert_int_equal(nh_journal_open(f->dir, &j, &rp, err, sizeof(err)), -EBADMSG);
    assert_null(j);
    assert_int_equal(rp.n_open, 0);
    assert_non_null(strstr(err, f->log));
    assert_non_null(strstr(err, line_no));
    assert_non_null(strstr(err, what));
    assert_non_null(strstr(err, "inspect"));
    /* the evidence is left as it was */
    assert_int_equal(file_size(f->log), (off_t)len);
    /* and the in-memory parser agrees */
    char err2[256];
    assert_int_equal(nh_journal_parse(img, len, &rp, err2, sizeof(err2)), -EBADMSG);
    assert_non_null(strstr(err2, line_no));
}

static void test_corruption_before_the_tail_refuses_to_open(void **state)
{
    struct fx *f = *state;
    size_t len, start;
    char *img = build_for_crash(f, false, &len, &start);

    /* a flipped bit in the first record */
    img[15] ^= 0x04;
    expect_corrupt(f, img, len, "line 1:", "checksum");
    img[15] ^= 0x04;
    /* a lost newline joins two records: bad checksum on line 1, not the last */
    char *nl = memchr(img, '\n', len);
    *nl = 'x';
    expect_corrupt(f, img, len, "line 1:", "checksum");
    *nl = '\n';
    free(img);

    char buf[4096], l1[1024], l2[1024], l3[1024];
    line(l1, sizeof(l1), BEGIN_JSON(1));
    /* a checksummed line that is not JSON, in the middle and at the end */
    line(l2, sizeof(l2), "{\"t\":\"begin\",");
    snprintf(buf, sizeof(buf), "%s%s%s", l1, l2, l1);
    expect_corrupt(f, buf, strlen(buf), "line 2:", "JSON");
    snprintf(buf, sizeof(buf), "%s%s", l1, l2);
    expect_corrupt(f, buf, strlen(buf), "line 2:", "JSON");
    /* trailing bytes after the object */
    line(l2, sizeof(l2), BEGIN_JSON(2) " x");
    snprintf(buf, sizeof(buf), "%s%s", l1, l2);
    expect_corrupt(f, buf, strlen(buf), "line 2:", "JSON");
    /* update for a seq never begun */
    line(l2, sizeof(l2), UPDATE_JSON(7, "sent"));
    snprintf(buf, sizeof(buf), "%s%s", l1, l2);
    expect_corrupt(f, buf, strlen(buf), "line 2:", "unknown seq 7");
    /* duplicate begin */
    snprintf(buf, sizeof(buf), "%s%s", l1, l1);
    expect_corrupt(f, buf, strlen(buf), "line 2:", "duplicate begin for seq 1");
    /* update after the op was closed */
    line(l2, sizeof(l2), UPDATE_JSON(1, "done"));
    line(l3, sizeof(l3), UPDATE_JSON(1, "sent"));
    snprintf(buf, sizeof(buf), "%s%s%s", l1, l2, l3);
    expect_corrupt(f, buf, strlen(buf), "line 3:", "already closed");
    /* unknown names and wrong types */
    line(l2, sizeof(l2), UPDATE_JSON(1, "exploded"));
    snprintf(buf, sizeof(buf), "%s%s", l1, l2);
    expect_corrupt(f, buf, strlen(buf), "line 2:", "unknown state");
    line(l2, sizeof(l2), "{\"t\":\"update\",\"seq\":\"1\"}");
    snprintf(buf, sizeof(buf), "%s%s", l1, l2);
    expect_corrupt(f, buf, strlen(buf), "line 2:", "wrong type");
    line(l2, sizeof(l2), "{\"t\":\"rm -rf\"}");
    snprintf(buf, sizeof(buf), "%s%s", l1, l2);
    expect_corrupt(f, buf, strlen(buf), "line 2:", "unknown record type");
    /* upper-case hex is not what we write */
    line(l2, sizeof(l2), BEGIN_JSON(2));
    for (int i = 0; i < 8; i++)
        if (l2[i] >= 'a' && l2[i] <= 'f')
            l2[i] = (char)(l2[i] - 'a' + 'A');
    char *upper = strpbrk(l2, "ABCDEF");
    assert_true(upper != NULL && upper < l2 + 8); /* this record's CRC has a letter */
    snprintf(buf, sizeof(buf), "%s%s%s", l1, l2, l1);
    expect_corrupt(f, buf, strlen(buf), "line 2:", "checksum");
}

static void test_compaction_keeps_open_ops_and_shrinks(void **state)
{
    struct fx *f = *state;
    struct nh_journal_replay rp;
    struct nh_journal *j = jopen(f, &rp);
    nh_journal_replay_clear(&rp);
    nh_journal_set_limits(j, 0, 20);
    struct nh_op keep1, keep2, op;
    mk_op(&keep1, NH_ACT_REMOVE_NODES, "k1", "np", 4);
    assert_int_equal(nh_journal_begin(j, &keep1), 0);
    mk_op(&keep2, NH_ACT_SCALE_POOL, "k2", "np", 0);
    assert_int_equal(nh_journal_begin(j, &keep2), 0);
    set_state(&keep2, NH_OP_SENT, NH_JOB_CCE_JOB, "job-9", NULL, 42);
    assert_int_equal(nh_journal_update(j, &keep2), 0);
    size_t max_seen = 0;
    for (int i = 0; i < 30; i++) {
        mk_op(&op, NH_ACT_SCALE_POOL, "churn", "np", 0);
        assert_int_equal(nh_journal_begin(j, &op), 0);
        set_state(&op, NH_OP_DONE, NH_JOB_NONE, NULL, "ok", 1);
        assert_int_equal(nh_journal_update(j, &op), 0);
        nh_op_clear(&op);
        size_t nrec;
        nh_journal_stats(j, &nrec, NULL, NULL);
        if (nrec > max_seen)
            max_seen = nrec;
    }
    /* compaction ran: the file never went past the bound by more than a record */
    assert_true(max_seen <= 21);
    size_t nrec, bytes, nopen;
    nh_journal_stats(j, &nrec, &bytes, &nopen);
    assert_int_equal(nopen, 2);
    assert_int_equal((off_t)bytes, file_size(f->log));
    assert_int_not_equal(access(f->tmp, F_OK), 0);
    nh_journal_close(j);

    /* explicit compaction: seq record, begin k1, begin+update k2 */
    j = jopen(f, &rp);
    nh_journal_replay_clear(&rp);
    assert_int_equal(nh_journal_compact(j), 0);
    nh_journal_stats(j, &nrec, NULL, NULL);
    assert_int_equal(nrec, 4);
    nh_journal_close(j);
    size_t len;
    char *img = slurp(f->log, &len);
    assert_non_null(strstr(img, "{\"t\":\"seq\",\"next\":33}"));
    assert_null(strstr(img, "churn"));
    free(img);

    j = jopen(f, &rp);
    assert_int_equal(rp.n_open, 2);
    assert_int_equal(rp.open_ops[0].seq, 1);
    assert_int_equal(rp.open_ops[0].action.n_nodes, 4);
    assert_int_equal(rp.open_ops[0].state, NH_OP_INTENT);
    assert_int_equal(rp.open_ops[1].seq, 2);
    assert_int_equal(rp.open_ops[1].state, NH_OP_SENT);
    assert_string_equal(rp.open_ops[1].job_id, "job-9");
    assert_int_equal(rp.open_ops[1].updated_ms, 42);
    mk_op(&op, NH_ACT_SCALE_POOL, "after", "np", 0);
    assert_int_equal(nh_journal_begin(j, &op), 0);
    assert_int_equal(op.seq, 33); /* 2 kept + 30 closed begins before it */
    nh_op_clear(&op);
    nh_journal_replay_clear(&rp);
    nh_journal_close(j);
    nh_op_clear(&keep1);
    nh_op_clear(&keep2);
}

static void test_compaction_crash_before_rename_keeps_old_journal(void **state)
{
    struct fx *f = *state;
    struct nh_journal_replay rp;
    struct nh_journal *j = jopen(f, &rp);
    nh_journal_replay_clear(&rp);
    struct nh_op a, b;
    mk_op(&a, NH_ACT_SCALE_POOL, "a", "np", 0);
    mk_op(&b, NH_ACT_SCALE_POOL, "b", "np", 0);
    assert_int_equal(nh_journal_begin(j, &a), 0);
    assert_int_equal(nh_journal_begin(j, &b), 0);
    set_state(&b, NH_OP_DONE, NH_JOB_NONE, NULL, NULL, 1);
    assert_int_equal(nh_journal_update(j, &b), 0);
    size_t len_before;
    char *before = slurp(f->log, &len_before);
    nh_journal_set_fault(j, NH_JOURNAL_FAULT_BEFORE_RENAME);
    assert_string_equal(nh_journal_fault_name(NH_JOURNAL_FAULT_BEFORE_RENAME), "before-rename");
    assert_int_equal(nh_journal_compact(j), -ECANCELED);
    nh_journal_close(j); /* "crash" */
    assert_int_equal(access(f->tmp, F_OK), 0);
    size_t len_after;
    char *after = slurp(f->log, &len_after);
    assert_int_equal(len_after, len_before);
    assert_memory_equal(after, before, len_before);
    free(after);
    free(before);

    /* open ignores and removes the stale .tmp, whatever it holds */
    char l1[1024];
    line(l1, sizeof(l1), BEGIN_JSON(50));
    spew(f->tmp, l1, strlen(l1));
    j = jopen(f, &rp);
    assert_int_not_equal(access(f->tmp, F_OK), 0);
    assert_int_equal(rp.n_open, 1);
    assert_string_equal(rp.open_ops[0].action.cluster, "a");
    assert_int_equal(rp.n_records, 3);
    nh_journal_replay_clear(&rp);
    /* and compaction works afterwards */
    assert_int_equal(nh_journal_compact(j), 0);
    nh_journal_close(j);
    j = jopen(f, &rp);
    assert_int_equal(rp.n_open, 1);
    assert_string_equal(rp.open_ops[0].action.cluster, "a");
    nh_journal_replay_clear(&rp);
    nh_journal_close(j);
    nh_op_clear(&a);
    nh_op_clear(&b);
}

static void test_identifiers_must_be_utf8_free_text_is_repaired(void **state)
{
    struct fx *f = *state;
    struct nh_journal_replay rp;
    struct nh_journal *j = jopen(f, &rp);
    nh_journal_replay_clear(&rp);
    struct nh_op op;
    mk_op(&op, NH_ACT_REMOVE_NODES, "c", "np", 1);
    free(op.action.node_ids[0]);
    op.action.node_ids[0] = xstrdup("i-\xff");
    op.seq = 77;
    off_t sz = file_size(f->log);
    assert_int_equal(nh_journal_begin(j, &op), -EINVAL);
    assert_int_equal(op.seq, 77);
    assert_int_equal(file_size(f->log), sz);
    nh_op_clear(&op);

    mk_op(&op, NH_ACT_SCALE_POOL, "c", "np", 0);
    snprintf(op.action.why, sizeof(op.action.why), "cut mid-character \xe6\x95");
    assert_int_equal(nh_journal_begin(j, &op), 0);
    set_state(&op, NH_OP_SENT, NH_JOB_CCE_JOB, "job-\xc0\xaf", NULL, 2); /* overlong '/' */
    assert_int_equal(nh_journal_update(j, &op), -EINVAL);
    set_state(&op, NH_OP_SENT, NH_JOB_CCE_JOB, "job-1", "bad \xed\xa0\x80 surrogate", 2);
    assert_int_equal(nh_journal_update(j, &op), 0);
    nh_journal_close(j);
    j = jopen(f, &rp);
    assert_int_equal(rp.n_open, 1);
    assert_string_equal(rp.open_ops[0].action.why, "cut mid-character ??");
    assert_string_equal(rp.open_ops[0].result, "bad ??? surrogate");
    nh_journal_replay_clear(&rp);
    nh_journal_close(j);
    nh_op_clear(&op);
}

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;
static uint32_t rnd(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (uint32_t)rng_state;
}

static void parse_any(const char *data, size_t len)
{
    struct nh_journal_replay rp;
    char err[256];
    int r = nh_journal_parse(data, len, &rp, err, sizeof(err));
    assert_true(r == 0 || r == -EBADMSG);
    if (r == 0) {
        assert_true(rp.n_dropped <= 1);
        for (size_t i = 0; i < rp.n_open; i++) {
            assert_true(rp.open_ops[i].seq >= 1);
            if (i > 0)
                assert_true(rp.open_ops[i].seq > rp.open_ops[i - 1].seq);
        }
    } else {
        assert_non_null(strstr(err, "line "));
        assert_int_equal(rp.n_open, 0);
    }
    nh_journal_replay_clear(&rp);
}

static void test_parse_junk_never_crashes(void **state)
{
    struct fx *f = *state;
    static const char *const fixed[] = {
        "",          "\n",           "\n\n",         "00000000 {}\n",          "zzzzzzzz {}\n",
        "00000000 ", "00000000{}\n", "0000000 {}\n", "\0\0\0\0\0\0\0\0\0\0\n",
    };
    for (size_t i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++)
        parse_any(fixed[i], strlen(fixed[i]) + (i == 8 ? 11 : 0));
    assert_int_equal(nh_journal_parse(NULL, 0, NULL, NULL, 0), 0);

    /* checksummed hostile JSON: deep nesting, NUL in strings, huge numbers */
    char l[2048], img[8192];
    static const char *const evil[] = {
        "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]",
        "{\"t\":\"begin\",\"seq\":18446744073709551615}",
        "{\"t\":\"seq\",\"next\":-1}",
        "{\"t\":\"begin\",\"seq\":1,\"cluster\":\"a\\u0000b\"}",
        "{\"t\":\"update\",\"seq\":1e400}",
        "{\"t\":\"begin\",\"seq\":1,\"cluster\":\"c\",\"kind\":\"?\"}",
        "{\"t\":null}",
        "\"just a string\"",
        "{\"t\":\"begin\",\"t\":\"update\"}",
        "{\"a\":\"\xff\"}",
        BEGIN_JSON(3),
        UPDATE_JSON(3, "done"),
    };
    for (size_t i = 0; i < sizeof(evil) / sizeof(evil[0]); i++) {
        line(l, sizeof(l), evil[i]);
        parse_any(l, strlen(l));
        snprintf(img, sizeof(img), "%s%s", l, l);
        parse_any(img, strlen(img));
    }
    struct nh_journal_replay rp;
    assert_int_equal(nh_journal_parse(l, strlen(l), &rp, NULL, 0), -EBADMSG); /* update alone */
    nh_journal_replay_clear(&rp);

    /* random bytes, and random damage to a real journal */
    char buf[512];
    for (int it = 0; it < 2000; it++) {
        size_t n = rnd() % sizeof(buf);
        for (size_t i = 0; i < n; i++)
            buf[i] = (char)(rnd() % 4 == 0 ? '\n' : rnd());
        parse_any(buf, n);
    }
    size_t len, start;
    char *real = build_for_crash(f, false, &len, &start);
    char *copy = malloc(len);
    assert_non_null(copy);
    for (int it = 0; it < 3000; it++) {
        memcpy(copy, real, len);
        int flips = 1 + (int)(rnd() % 3);
        for (int k = 0; k < flips; k++)
            copy[rnd() % len] ^= (char)(1u << (rnd() % 8));
        parse_any(copy, rnd() % (len + 1));
        parse_any(copy, len);
    }
    free(copy);
    free(real);
}

struct worker {
    struct nh_journal *j;
    int id;
    int rc;
};

static void *work(void *arg)
{
    struct worker *w = arg;
    for (int i = 0; i < 15 && w->rc == 0; i++) {
        struct nh_op op;
        char c[32];
        snprintf(c, sizeof(c), "w%d-%d", w->id, i);
        mk_op(&op, NH_ACT_SCALE_POOL, c, "np", 0);
        w->rc = nh_journal_begin(w->j, &op);
        if (w->rc == 0 && i % 3 != 0) {
            set_state(&op, NH_OP_DONE, NH_JOB_NONE, NULL, NULL, 1);
            w->rc = nh_journal_update(w->j, &op);
        }
        nh_op_clear(&op);
    }
    return NULL;
}

static void test_concurrent_writers(void **state)
{
    struct fx *f = *state;
    struct nh_journal_replay rp;
    struct nh_journal *j = jopen(f, &rp);
    nh_journal_replay_clear(&rp);
    nh_journal_set_limits(j, 4096, 0); /* compaction races the writers too */
    pthread_t t[4];
    struct worker w[4];
    for (int i = 0; i < 4; i++) {
        w[i] = (struct worker){.j = j, .id = i};
        assert_int_equal(pthread_create(&t[i], NULL, work, &w[i]), 0);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(t[i], NULL);
        assert_int_equal(w[i].rc, 0);
    }
    nh_journal_close(j);
    j = jopen(f, &rp);
    assert_int_equal(rp.n_open, 4 * 5); /* i % 3 == 0: 5 of 15 left open per worker */
    assert_int_equal(rp.n_dropped, 0);
    struct nh_op op;
    mk_op(&op, NH_ACT_SCALE_POOL, "last", "np", 0);
    assert_int_equal(nh_journal_begin(j, &op), 0);
    assert_int_equal(op.seq, 61);
    nh_op_clear(&op);
    nh_journal_replay_clear(&rp);
    nh_journal_close(j);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, fx_setup, fx_teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_crc32c_known_vector),
        T(test_open_creates_dir_0700_and_file_0600),
        T(test_round_trip_every_field),
        T(test_replay_keeps_only_open_ops_in_seq_order),
        T(test_seq_continues_across_restarts_and_compaction),
        T(test_crash_at_every_byte_of_last_update),
        T(test_crash_at_every_byte_of_last_begin),
        T(test_zeros_on_last_line_are_torn),
        T(test_complete_last_record_with_bad_checksum_refuses_to_open),
        T(test_corruption_before_the_tail_refuses_to_open),
        T(test_compaction_keeps_open_ops_and_shrinks),
        T(test_compaction_crash_before_rename_keeps_old_journal),
        T(test_identifiers_must_be_utf8_free_text_is_repaired),
        T(test_parse_junk_never_crashes),
        T(test_concurrent_writers),
    };
    return cmocka_run_group_tests_name("journal", tests, NULL, NULL);
}
