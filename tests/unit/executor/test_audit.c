/* test_audit.c - the audit trail's file half (daemon/executor/audit.c):
 * the JSON line of each event carries what an operator needs (time,
 * cluster/pool, action, rule, nodes, job, result, revision), the file is
 * private (0600), rotation keeps it bounded (4 MiB, audit.log.1..3 kept, no
 * record lost between the kept files, the size of a file left by an earlier
 * run counts), and a directory that cannot be written is reported, not
 * fatal. The journal-field half is tested with a real journald by
 * it_journal_fields.py. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <json-c/json.h>

#include "executor/audit.h"
#include "util/log.h"

#define ROTATE_BYTES (4u << 20)

struct fix {
    char dir[40];
    char path[96];
};

static int setup(void **state)
{
    struct fix *f = calloc(1, sizeof(*f));
    assert_non_null(f);
    strcpy(f->dir, "/tmp/nh-audit-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    snprintf(f->path, sizeof(f->path), "%s/audit.log", f->dir);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fix *f = *state;
    char p[128];
    for (int i = 0; i <= 5; i++) {
        if (i == 0)
            snprintf(p, sizeof(p), "%s", f->path);
        else
            snprintf(p, sizeof(p), "%s.%d", f->path, i);
        (void)unlink(p);
    }
    (void)rmdir(f->dir);
    free(f);
    return 0;
}

/* An operation as the executor holds it; every string owned (nh_op_clear). */
static void make_op(struct nh_op *op, uint64_t seq, const char *pool, size_t n_nodes,
                    const char *job, const char *revision)
{
    memset(op, 0, sizeof(*op));
    op->seq = seq;
    op->action.kind = n_nodes ? NH_ACT_REMOVE_NODES : NH_ACT_SCALE_POOL;
    op->action.cluster = strdup("web");
    op->action.pool_name = pool ? strdup(pool) : NULL;
    op->action.pool_id = pool ? strdup("np-0001") : NULL;
    op->action.from = 5;
    op->action.target = 3;
    op->action.rule = n_nodes ? NH_RULE_UNHEALTHY : NH_RULE_DECLARED;
    snprintf(op->action.why, sizeof(op->action.why), "3 declared, 5 observed");
    if (n_nodes) {
        op->action.node_ids = calloc(n_nodes, sizeof(char *));
        op->action.node_names = calloc(n_nodes, sizeof(char *));
        assert_non_null(op->action.node_ids);
        assert_non_null(op->action.node_names);
        for (size_t i = 0; i < n_nodes; i++) {
            char id[64];
            snprintf(id, sizeof(id), "i-bp1%035zu", i);
            op->action.node_ids[i] = strdup(id);
            op->action.node_names[i] = strdup(id);
        }
        op->action.n_nodes = n_nodes;
    }
    op->job_id = job ? strdup(job) : NULL;
    op->revision = revision ? strdup(revision) : NULL;
}

static char *slurp(const char *path, size_t *len)
{
    FILE *fp = fopen(path, "re");
    if (fp == NULL)
        return NULL;
    char *data = NULL;
    size_t cap = 0, n = 0;
    for (;;) {
        if (n + 65536 + 1 > cap) {
            cap = (n + 65536 + 1) * 2;
            data = realloc(data, cap);
            assert_non_null(data);
        }
        size_t r = fread(data + n, 1, 65536, fp);
        n += r;
        if (r == 0)
            break;
    }
    fclose(fp);
    data[n] = '\0';
    *len = n;
    return data;
}

/* Parses every line; returns the number of lines, first and last seq. */
static size_t scan_lines(const char *path, int64_t *first, int64_t *last, size_t *bytes)
{
    size_t len = 0, lines = 0;
    char *data = slurp(path, &len);
    assert_non_null(data);
    *bytes = len;
    *first = *last = -1;
    int64_t prev = -1;
    for (char *line = data, *nl; *line; line = nl + 1) {
        nl = strchr(line, '\n');
        assert_non_null(nl); /* every record ends with a newline */
        *nl = '\0';
        struct json_object *o = json_tokener_parse(line);
        assert_non_null(o);
        struct json_object *seq;
        assert_true(json_object_object_get_ex(o, "seq", &seq));
        int64_t s = json_object_get_int64(seq);
        if (prev >= 0)
            assert_int_equal(s, prev + 1); /* nothing lost inside a file */
        if (*first < 0)
            *first = s;
        *last = prev = s;
        json_object_put(o);
        lines++;
    }
    free(data);
    return lines;
}

static const char *field_str(struct json_object *o, const char *k)
{
    struct json_object *v;
    if (!json_object_object_get_ex(o, k, &v) || v == NULL)
        return NULL;
    return json_object_get_string(v);
}

static void test_record_fields_and_mode(void **state)
{
    struct fix *f = *state;
    struct nh_audit *a = nh_audit_open(f->dir);
    struct nh_op op1, op2;
    assert_non_null(a);

    make_op(&op1, 41, NULL, 2, "T-abc123", "git:0123456789abcdef0123456789abcdef01234567");
    make_op(&op2, 42, "np-web", 0, NULL, "sha256:00112233aabbccdd");
    nh_audit_record(a, &op1, "issued", NULL);
    nh_audit_record(a, &op2, "failed", "Throttling (throttled, HTTP 400)");
    nh_audit_record(a, &op1, "done", "success");
    nh_audit_close(a);

    struct stat st;
    assert_int_equal(stat(f->path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);

    size_t len;
    char *data = slurp(f->path, &len);
    assert_non_null(data);
    char *save = NULL;
    char *l1 = strtok_r(data, "\n", &save);
    char *l2 = strtok_r(NULL, "\n", &save);
    char *l3 = strtok_r(NULL, "\n", &save);
    assert_non_null(l3);
    assert_null(strtok_r(NULL, "\n", &save));

    struct json_object *o = json_tokener_parse(l1), *v;
    assert_non_null(o);
    assert_string_equal(field_str(o, "cluster"), "web");
    assert_true(json_object_object_get_ex(o, "pool", &v));
    assert_null(v); /* cluster-level action: pool is JSON null */
    assert_string_equal(field_str(o, "action"), "remove-nodes");
    assert_string_equal(field_str(o, "rule"), "unhealthy-first");
    assert_string_equal(field_str(o, "event"), "issued");
    assert_string_equal(field_str(o, "job"), "T-abc123");
    assert_string_equal(field_str(o, "revision"), "git:0123456789abcdef0123456789abcdef01234567");
    assert_string_equal(field_str(o, "why"), "3 declared, 5 observed");
    assert_true(json_object_object_get_ex(o, "seq", &v));
    assert_int_equal(json_object_get_int64(v), 41);
    assert_true(json_object_object_get_ex(o, "from", &v));
    assert_int_equal(json_object_get_int(v), 5);
    assert_true(json_object_object_get_ex(o, "target", &v));
    assert_int_equal(json_object_get_int(v), 3);
    assert_true(json_object_object_get_ex(o, "nodes", &v));
    assert_int_equal(json_object_array_length(v), 2);
    assert_string_equal(json_object_get_string(json_object_array_get_idx(v, 1)),
                        op1.action.node_ids[1]);
    const char *t = field_str(o, "time"); /* UTC, second resolution */
    assert_non_null(t);
    assert_int_equal(strlen(t), 20);
    assert_int_equal(t[10], 'T');
    assert_int_equal(t[19], 'Z');
    json_object_put(o);

    o = json_tokener_parse(l2);
    assert_non_null(o);
    assert_string_equal(field_str(o, "pool"), "np-web");
    assert_string_equal(field_str(o, "action"), "scale-pool");
    assert_string_equal(field_str(o, "event"), "failed");
    assert_string_equal(field_str(o, "detail"), "Throttling (throttled, HTTP 400)");
    assert_true(json_object_object_get_ex(o, "job", &v));
    assert_null(v); /* the cloud gave no job */
    assert_string_equal(field_str(o, "revision"), "sha256:00112233aabbccdd");
    json_object_put(o);

    o = json_tokener_parse(l3);
    assert_non_null(o);
    assert_string_equal(field_str(o, "event"), "done");
    assert_string_equal(field_str(o, "detail"), "success");
    json_object_put(o);

    free(data);
    nh_op_clear(&op1);
    nh_op_clear(&op2);
}

/* Appending to a file left by an earlier run: nothing overwritten. */
static void test_appends_across_restarts(void **state)
{
    struct fix *f = *state;
    struct nh_op op;
    make_op(&op, 1, "np-web", 0, "T-1", "r1");
    for (int run = 0; run < 3; run++) {
        struct nh_audit *a = nh_audit_open(f->dir);
        assert_non_null(a);
        op.seq = (uint64_t)run + 1;
        nh_audit_record(a, &op, "issued", NULL);
        nh_audit_close(a);
    }
    int64_t first, last;
    size_t bytes;
    assert_int_equal(scan_lines(f->path, &first, &last, &bytes), 3);
    assert_int_equal(first, 1);
    assert_int_equal(last, 3);
    nh_op_clear(&op);
}

static void test_rotation_is_bounded_and_loses_nothing_kept(void **state)
{
    struct fix *f = *state;
    struct nh_audit *a = nh_audit_open(f->dir);
    struct nh_op op;
    char p[128];
    assert_non_null(a);
    /* ~7.5 KiB per record: about 560 records per file; 2,600 records is
     * 4.6 rotations' worth, so the oldest files must have been dropped. */
    make_op(&op, 0, "np-batch", 150, "T-rot", "git:feedfacefeedfacefeedfacefeedfacefeedface");
    const uint64_t total = 2600;
    for (uint64_t s = 1; s <= total; s++) {
        op.seq = s;
        nh_audit_record(a, &op, "done", "success");
    }
    nh_audit_close(a);

    size_t rec_max = 0, retained = 0;
    int64_t first[4], last[4];
    size_t bytes[4];
    for (int i = 0; i <= 3; i++) {
        if (i == 0)
            snprintf(p, sizeof(p), "%s", f->path);
        else
            snprintf(p, sizeof(p), "%s.%d", f->path, i);
        size_t n = scan_lines(p, &first[i], &last[i], &bytes[i]);
        assert_true(n > 0);
        if (bytes[i] / n > rec_max)
            rec_max = bytes[i] / n;
        retained += n;
    }
    /* audit.log.4 is never created: three rotated files are kept. */
    snprintf(p, sizeof(p), "%s.4", f->path);
    assert_int_equal(access(p, F_OK), -1);
    assert_int_equal(errno, ENOENT);
    /* Each file stops growing once it passes 4 MiB (one record over at most). */
    for (int i = 0; i <= 3; i++)
        assert_true(bytes[i] <= ROTATE_BYTES + 2 * rec_max);
    for (int i = 1; i <= 3; i++)
        assert_true(bytes[i] > ROTATE_BYTES); /* rotated only when full */
    /* Newest in audit.log; the kept files are consecutive, nothing lost
     * between them; the oldest records are the ones dropped. */
    assert_int_equal(last[0], (int64_t)total);
    assert_int_equal(first[0], last[1] + 1);
    assert_int_equal(first[1], last[2] + 1);
    assert_int_equal(first[2], last[3] + 1);
    assert_true(first[3] > 1);
    assert_int_equal(retained, total - (size_t)first[3] + 1);
    nh_op_clear(&op);
}

/* The size of an audit.log left by an earlier run counts toward rotation. */
static void test_existing_size_counts(void **state)
{
    struct fix *f = *state;
    FILE *fp = fopen(f->path, "we");
    assert_non_null(fp);
    char line[1024];
    memset(line, 'x', sizeof(line) - 1);
    line[0] = '{';
    snprintf(line, sizeof(line), "{\"seq\":0,\"pad\":\"%0*d\"}", 900, 0);
    size_t written = 0;
    while (written < ROTATE_BYTES - 10) {
        fprintf(fp, "%s\n", line);
        written += strlen(line) + 1;
    }
    fclose(fp);

    struct nh_audit *a = nh_audit_open(f->dir);
    struct nh_op op;
    make_op(&op, 7, NULL, 0, NULL, "r");
    nh_audit_record(a, &op, "issued", NULL); /* pushes it past 4 MiB: rotated */
    op.seq = 8;
    nh_audit_record(a, &op, "done", NULL);
    nh_audit_close(a);

    int64_t first, last;
    size_t bytes;
    assert_int_equal(scan_lines(f->path, &first, &last, &bytes), 1);
    assert_int_equal(first, 8);
    char p[128];
    snprintf(p, sizeof(p), "%s.1", f->path);
    struct stat st;
    assert_int_equal(stat(p, &st), 0);
    assert_true((size_t)st.st_size > ROTATE_BYTES);
    nh_op_clear(&op);
}

/* A directory that cannot be written: reported once with the path, then
 * entries go on (journal only); never a crash, never fatal. */
static void test_unwritable_dir_is_reported_not_fatal(void **state)
{
    struct fix *f = *state;
    char bad[128], *logtext = NULL;
    size_t loglen = 0;
    FILE *mem = open_memstream(&logtext, &loglen);
    assert_non_null(mem);
    snprintf(bad, sizeof(bad), "%s/no/such/dir", f->dir);
    nh_log_init(NH_LOG_PLAIN, LOG_DEBUG);
    nh_log_set_stream(mem);
    struct nh_audit *a = nh_audit_open(bad);
    assert_non_null(a);
    struct nh_op op;
    make_op(&op, 1, "np-web", 1, "T-1", "r");
    nh_audit_record(a, &op, "issued", NULL);
    nh_audit_record(a, &op, "done", "success");
    nh_audit_close(a);
    nh_log_set_stream(NULL);
    fclose(mem);
    assert_non_null(strstr(logtext, "audit: cannot open"));
    assert_non_null(strstr(logtext, bad));
    assert_non_null(strstr(logtext, "journal only"));
    free(logtext);
    nh_op_clear(&op);

    /* NULL-safe like every _close / record on a missing trail. */
    nh_audit_record(NULL, &op, "issued", NULL);
    nh_audit_close(NULL);
    /* dir NULL: journal fields only, no file anywhere. */
    a = nh_audit_open(NULL);
    assert_non_null(a);
    make_op(&op, 2, NULL, 0, NULL, NULL);
    nh_audit_record(a, &op, "issued", NULL);
    nh_audit_close(a);
    assert_int_equal(access(f->path, F_OK), -1);
    nh_op_clear(&op);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_record_fields_and_mode, setup, teardown),
        cmocka_unit_test_setup_teardown(test_appends_across_restarts, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rotation_is_bounded_and_loses_nothing_kept, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_existing_size_counts, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unwritable_dir_is_reported_not_fatal, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
