/* audit.c - the audit trail (see audit.h). */
#include <errno.h>
#include <stdbool.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>
#include <systemd/sd-journal.h>

#include "executor/audit.h"
#include "util/buf.h"
#include "util/log.h"

#define AUDIT_ROTATE_BYTES (4u << 20)
#define AUDIT_KEEP 3

struct nh_audit {
    char *path; /* NULL: journal only */
    int fd;
    off_t size;
    _Bool warned;
    _Bool journal; /* send structured journal entries */
};

static int audit_reopen(struct nh_audit *a)
{
    struct stat st;
    if (a->fd >= 0)
        close(a->fd);
    a->fd = open(a->path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
    if (a->fd < 0)
        return -errno;
    a->size = fstat(a->fd, &st) == 0 ? st.st_size : 0;
    return 0;
}

struct nh_audit *nh_audit_open(const char *dir)
{
    struct nh_audit *a = calloc(1, sizeof(*a));
    if (a == NULL)
        return NULL;
    a->fd = -1;
    /* Structured entries only make sense where a journal listens. */
    a->journal = access("/run/systemd/journal/socket", W_OK) == 0;
    if (dir != NULL) {
        size_t n = strlen(dir) + sizeof("/audit.log");
        a->path = malloc(n);
        if (a->path != NULL) {
            snprintf(a->path, n, "%s/audit.log", dir);
            int r = audit_reopen(a);
            if (r < 0) {
                nh_log_errno(LOG_WARNING, r,
                             "audit: cannot open %s; audit entries go to the "
                             "journal only",
                             a->path);
                free(a->path);
                a->path = NULL;
            }
        }
    }
    return a;
}

static void audit_rotate(struct nh_audit *a)
{
    char from[4200], to[4200];
    for (int i = AUDIT_KEEP - 1; i >= 1; i--) {
        snprintf(from, sizeof(from), "%s.%d", a->path, i);
        snprintf(to, sizeof(to), "%s.%d", a->path, i + 1);
        (void)rename(from, to);
    }
    snprintf(to, sizeof(to), "%s.1", a->path);
    (void)rename(a->path, to);
    if (audit_reopen(a) < 0 && !a->warned) {
        a->warned = true;
        nh_log(LOG_WARNING, "audit: cannot reopen %s after rotation", a->path);
    }
}

static void nodes_csv(const struct nh_action *act, struct nh_buf *b)
{
    for (size_t i = 0; i < act->n_nodes; i++)
        nh_buf_printf(b, "%s%s", i ? "," : "", act->node_ids[i]);
}

void nh_audit_record(struct nh_audit *a, const struct nh_op *op, const char *event,
                     const char *detail)
{
    const struct nh_action *act = &op->action;
    struct nh_buf nodes;

    if (a == NULL)
        return;
    nh_buf_init(&nodes, 64 * 1024);
    nodes_csv(act, &nodes);
    if (a->journal) {
        int prio = strcmp(event, "failed") == 0 || strcmp(event, "timed_out") == 0 ? LOG_ERR
                   : strcmp(event, "unknown") == 0                                 ? LOG_WARNING
                                                                                   : LOG_NOTICE;
        sd_journal_send(
            "MESSAGE=audit: %s%s%s %s %s (rule %s, revision %s)", act->cluster,
            act->pool_name ? "/" : "", act->pool_name ? act->pool_name : "",
            nh_action_kind_name(act->kind), event, nh_rule_name(act->rule),
            op->revision ? op->revision : "", "PRIORITY=%d", prio, "SYSLOG_IDENTIFIER=nodeherd",
            "NODEHERD_AUDIT=1", "NODEHERD_CLUSTER=%s", act->cluster ? act->cluster : "",
            "NODEHERD_POOL=%s", act->pool_name ? act->pool_name : "", "NODEHERD_ACTION=%s",
            nh_action_kind_name(act->kind), "NODEHERD_RULE=%s", nh_rule_name(act->rule),
            "NODEHERD_RESULT=%s", event, "NODEHERD_TARGET=%d", act->target, "NODEHERD_NODES=%s",
            nodes.data ? nodes.data : "", "NODEHERD_JOB=%s", op->job_id ? op->job_id : "",
            "NODEHERD_REVISION=%s", op->revision ? op->revision : "", "NODEHERD_SEQ=%llu",
            (unsigned long long)op->seq, "NODEHERD_DETAIL=%s", detail ? detail : "", NULL);
    }
    if (a->path != NULL && a->fd >= 0) {
        struct json_object *o = json_object_new_object();
        struct json_object *ids = json_object_new_array();
        struct timespec ts;
        char when[40];
        struct tm tm;
        clock_gettime(CLOCK_REALTIME, &ts);
        gmtime_r(&ts.tv_sec, &tm);
        strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
        json_object_object_add(o, "time", json_object_new_string(when));
        json_object_object_add(o, "seq", json_object_new_int64((int64_t)op->seq));
        json_object_object_add(o, "cluster",
                               json_object_new_string(act->cluster ? act->cluster : ""));
        json_object_object_add(o, "pool",
                               act->pool_name ? json_object_new_string(act->pool_name) : NULL);
        json_object_object_add(o, "action", json_object_new_string(nh_action_kind_name(act->kind)));
        json_object_object_add(o, "rule", json_object_new_string(nh_rule_name(act->rule)));
        json_object_object_add(o, "why", json_object_new_string(act->why));
        json_object_object_add(o, "from", json_object_new_int(act->from));
        json_object_object_add(o, "target", json_object_new_int(act->target));
        for (size_t i = 0; i < act->n_nodes; i++)
            json_object_array_add(ids, json_object_new_string(act->node_ids[i]));
        json_object_object_add(o, "nodes", ids);
        json_object_object_add(o, "event", json_object_new_string(event));
        json_object_object_add(o, "job", op->job_id ? json_object_new_string(op->job_id) : NULL);
        json_object_object_add(o, "detail", detail ? json_object_new_string(detail) : NULL);
        json_object_object_add(o, "revision",
                               json_object_new_string(op->revision ? op->revision : ""));
        const char *line = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN);
        size_t len = strlen(line);
        char *rec = malloc(len + 2);
        if (rec != NULL) {
            memcpy(rec, line, len);
            rec[len] = '\n';
            ssize_t w = write(a->fd, rec, len + 1);
            if (w > 0)
                a->size += w;
            else if (!a->warned) {
                a->warned = true;
                nh_log(LOG_WARNING, "audit: cannot write %s", a->path);
            }
            free(rec);
        }
        json_object_put(o);
        if (a->size > (off_t)AUDIT_ROTATE_BYTES)
            audit_rotate(a);
    }
    nh_buf_free(&nodes);
}

void nh_audit_close(struct nh_audit *a)
{
    if (a == NULL)
        return;
    if (a->fd >= 0)
        close(a->fd);
    free(a->path);
    free(a);
}
