/* fuzz_providers.c - every provider response parser (daemon/providers/
 * parse.h) on arbitrary bytes.
 *
 * Input layout: the first byte picks the parser (byte % N_TARGETS, see
 * target_name() for the order); the rest is the response body. For the
 * error-answer targets the body is "<retry-after header>\n<body>".
 *
 * Checks, whatever the input: no crash, leak or undefined behaviour; the
 * return value is 0 or a negative errno, with a non-empty message in err
 * on failure; fixed-size text fields are NUL-terminated; on success what
 * was parsed is sane (every node and pool has an id, counts lie in
 * 0..NH_PROV_COUNT_MAX, percent in -1..100, states and health values are
 * members of their enums, a job id is non-empty); returned strings are set
 * only on success; parse_error_body leaves cls alone; retry hints are
 * bounded. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "providers/parse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

enum target {
    T_ACK_NODES,
    T_ACK_POOLS,
    T_ACK_POOL_DETAIL,
    T_ACK_TASK_ID,
    T_ACK_TASK,
    T_ACK_ERROR,
    T_CCE_NODES,
    T_CCE_POOLS,
    T_CCE_POOL,
    T_CCE_JOB_ID,
    T_CCE_JOB,
    T_HW_ERROR,
    T_MA_POOLS,
    T_MA_POOL,
    T_ERROR_BODY,
    T_TIME,
    T_MA_NODES,
    T_ACK_CLUSTER,
    T_CCE_CLUSTER,
    T_ACK_KUBECONFIG,
    T_CCE_CLUSTER_CERT,
    N_TARGETS
};

static void must_terminate(const char *s, size_t n)
{
    if (memchr(s, '\0', n) == NULL)
        abort();
}

static void check_err(int r, const char *err, size_t errlen)
{
    must_terminate(err, errlen);
    if (r > 0 || (r < 0 && err[0] == '\0'))
        abort();
}

static void check_count(int v)
{
    if (v < 0 || v > NH_PROV_COUNT_MAX)
        abort();
}

static void check_health(enum nh_node_health h)
{
    switch (h) {
    case NH_NODE_READY:
    case NH_NODE_UNHEALTHY:
    case NH_NODE_PENDING:
    case NH_NODE_REMOVING:
        return;
    }
    abort();
}

static void check_pool(const struct nh_obs_pool *p)
{
    if (p->id == NULL || p->id[0] == '\0' || p->name == NULL)
        abort();
    if (p->desired != -1) /* -1: the cloud shows no desired count (CCE, ACK) */
        check_count(p->desired);
    if (p->blocked != NULL && strlen(p->blocked) >= NH_OBS_BLOCKED_MAX)
        abort(); /* bounded as the array it was */
    if (p->locked && (p->blocked == NULL || p->blocked[0] == '\0'))
        abort(); /* locked always says why */
    check_count(p->current);
    check_count(p->ready);
    check_count(p->unhealthy);
    check_count(p->creating);
    check_count(p->deleting);
    check_count(p->max_count);
}

static void check_observed(int r, const struct nh_observed *o, size_t before_nodes,
                           size_t before_pools)
{
    if (o->n_nodes < before_nodes || o->n_pools < before_pools)
        abort();
    if (r != 0)
        return;
    for (size_t i = 0; i < o->n_nodes; i++) {
        const struct nh_node *n = &o->nodes[i];
        if (n->id == NULL || n->id[0] == '\0')
            abort();
        check_health(n->health);
        for (size_t k = 0; k < n->n_labels; k++)
            if (n->labels[k].key == NULL)
                abort();
    }
    for (size_t i = 0; i < o->n_pools; i++)
        check_pool(&o->pools[i]);
}

static void check_progress(int r, const struct nh_job_progress *j)
{
    must_terminate(j->phase, sizeof(j->phase));
    must_terminate(j->detail, sizeof(j->detail));
    if (r != 0)
        return;
    if (j->percent < -1 || j->percent > 100)
        abort();
    switch (j->state) {
    case NH_JOB_RUNNING:
    case NH_JOB_SUCCEEDED:
    case NH_JOB_FAILED:
        return;
    }
    abort();
}

static void check_pool_status(int r, struct nh_pool_status *s)
{
    must_terminate(s->failure, sizeof(s->failure));
    must_terminate(s->phase, sizeof(s->phase));
    if (r == 0) {
        check_pool(&s->pool);
        if (s->failed && s->failure[0] == '\0')
            abort();
    }
    nh_pool_status_clear(s);
}

static void check_prov_error(const struct nh_prov_error *e)
{
    must_terminate(e->code, sizeof(e->code));
    must_terminate(e->message, sizeof(e->message));
    must_terminate(e->request_id, sizeof(e->request_id));
    must_terminate(e->op, sizeof(e->op));
    switch (e->cls) {
    case NH_ERR_NONE:
    case NH_ERR_THROTTLED:
    case NH_ERR_AUTH:
    case NH_ERR_NOT_FOUND:
    case NH_ERR_CONFLICT:
    case NH_ERR_INVALID:
    case NH_ERR_SERVER:
    case NH_ERR_UNKNOWN_OUTCOME:
    case NH_ERR_CANCELLED:
    case NH_ERR_BUSY:
        return;
    case NH_ERR_NOT_SENT: /* never from an answer: it means no request left */
        break;
    }
    abort();
}

static void check_id(int r, char *id)
{
    if (r != 0 && id != (char *)1 && id != NULL)
        abort(); /* a string is returned only on success */
    if (r == 0 && id != NULL && id[0] == '\0')
        abort();
    if (r == 0)
        free(id);
}

/* "<header>\n<body>": header is NUL-terminated in a copy (or NULL when the
 * first line is empty). */
static void split_header(const char *b, size_t n, char **hdr, const char **body, size_t *blen)
{
    const char *nl = memchr(b, '\n', n);
    size_t hl = nl ? (size_t)(nl - b) : 0;
    *hdr = NULL;
    if (hl > 0) {
        *hdr = malloc(hl + 1);
        if (*hdr != NULL) {
            memcpy(*hdr, b, hl);
            (*hdr)[hl] = '\0';
        }
    }
    *body = nl ? nl + 1 : b;
    *blen = nl ? n - hl - 1 : n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    enum target t = (enum target)(data[0] % N_TARGETS);
    const char *b = (const char *)data + 1;
    size_t n = size - 1;
    /* a copy of exactly n bytes, so ASan catches reads past the end */
    char *body = malloc(n ? n : 1);
    if (body == NULL)
        return 0;
    memcpy(body, b, n);
    char err[256];
    memset(err, 'x', sizeof(err));
    err[sizeof(err) - 1] = '\0';
    err[0] = '\0';
    struct nh_observed obs;
    memset(&obs, 0, sizeof(obs));
    /* a previous page is already there: parsers append */
    struct nh_node *pre = nh_observed_add_node(&obs);
    if (pre != NULL)
        pre->id = strdup("pre-existing");
    struct nh_pool_status ps;
    memset(&ps, 0, sizeof(ps));
    struct nh_job_progress jp;
    memset(&jp, 0, sizeof(jp));
    struct nh_prov_error e;
    memset(&e, 0, sizeof(e));
    char *id = (char *)1;
    uint64_t hint = 0;
    int r = 0;
    size_t bn = obs.n_nodes, bp = obs.n_pools;

    switch (t) {
    case T_ACK_NODES: {
        struct nh_ack_page page;
        memset(&page, 0, sizeof(page));
        r = nh_ack_parse_nodes_page(body, n, &obs, &page, err, sizeof(err));
        check_err(r, err, sizeof(err));
        check_observed(r, &obs, bn, bp);
        if (r == 0 && (page.total_count < 0 || page.total_count > NH_PROV_COUNT_MAX ||
                       page.n_nodes != obs.n_nodes - bn))
            abort();
        break;
    }
    case T_ACK_POOLS:
        r = nh_ack_parse_nodepools(body, n, &obs, err, sizeof(err));
        check_err(r, err, sizeof(err));
        check_observed(r, &obs, bn, bp);
        break;
    case T_ACK_POOL_DETAIL:
        r = nh_ack_parse_nodepool_detail(body, n, &ps, err, sizeof(err));
        check_err(r, err, sizeof(err));
        check_pool_status(r, &ps);
        break;
    case T_ACK_TASK_ID:
        r = nh_ack_parse_task_id(body, n, &id, err, sizeof(err));
        check_err(r, err, sizeof(err));
        check_id(r, id);
        break;
    case T_ACK_TASK:
        r = nh_ack_parse_task(body, n, &jp, err, sizeof(err));
        check_err(r, err, sizeof(err));
        check_progress(r, &jp);
        break;
    case T_ACK_ERROR: {
        char *hdr;
        const char *eb;
        size_t el;
        split_header(body, n, &hdr, &eb, &el);
        int status = 400 + (int)(n % 200);
        nh_ack_error_from_answer(status, eb, el, hdr, (n & 1) != 0, &e, &hint);
        check_prov_error(&e);
        if (e.http_status != status)
            abort();
        nh_ack_retry_after_ms(hdr);
        free(hdr);
        break;
    }
    case T_CCE_NODES:
        r = nh_cce_parse_nodes(body, n, &obs, err, sizeof(err));
        check_err(r, err, sizeof(err));
        check_observed(r, &obs, bn, bp);
        break;
    case T_CCE_POOLS:
        r = nh_cce_parse_nodepools(body, n, &obs, err, sizeof(err));
        check_err(r, err, sizeof(err));
        check_observed(r, &obs, bn, bp);
        break;
    case T_CCE_POOL:
        r = nh_cce_parse_nodepool(body, n, &ps, err, sizeof(err));
        check_err(r, err, sizeof(err));
        check_pool_status(r, &ps);
        break;
    case T_CCE_JOB_ID:
        r = nh_cce_parse_job_id(body, n, &id, err, sizeof(err));
        check_err(r, err, sizeof(err));
        check_id(r, id);
        break;
    case T_CCE_JOB:
        r = nh_cce_parse_job(body, n, &jp, err, sizeof(err));
        check_err(r, err, sizeof(err));
        check_progress(r, &jp);
        break;
    case T_HW_ERROR: {
        char *hdr;
        const char *eb;
        size_t el;
        split_header(body, n, &hdr, &eb, &el);
        int status = 400 + (int)(n % 200);
        struct nh_huawei_verdict v =
            nh_huawei_error_from_answer(status, eb, el, hdr, 1700000000, (n & 1) != 0, &e, &hint);
        check_prov_error(&e);
        if (v.cls != e.cls || e.http_status != status)
            abort();
        free(hdr);
        break;
    }
    case T_MA_POOLS:
        r = nh_ma_parse_nodepools(body, n, &obs, err, sizeof(err));
        check_err(r, err, sizeof(err));
        check_observed(r, &obs, bn, bp);
        break;
    case T_MA_POOL:
        r = nh_ma_parse_nodepool(body, n, &ps, err, sizeof(err));
        check_err(r, err, sizeof(err));
        check_pool_status(r, &ps);
        break;
    case T_MA_NODES: {
        char *cont = (char *)1;
        r = nh_ma_parse_pool_nodes(body, n, "np", &obs, &cont, err, sizeof(err));
        check_err(r, err, sizeof(err));
        check_observed(r, &obs, bn, bp);
        if (r != 0 && cont != (char *)1)
            abort(); /* set only on success */
        if (r == 0 && cont != NULL && cont[0] == '\0')
            abort(); /* an empty token is the last page: NULL */
        if (r == 0)
            free(cont);
        break;
    }
    case T_ACK_CLUSTER:
    case T_CCE_CLUSTER: {
        enum nh_cluster_state st = NH_CLUSTER_UNKNOWN;
        char phase[64];
        memset(phase, 'x', sizeof(phase));
        phase[0] = '\0';
        r = (t == T_ACK_CLUSTER ? nh_ack_parse_cluster_state : nh_cce_parse_cluster_state)(
            body, n, &st, phase, sizeof(phase), err, sizeof(err));
        check_err(r, err, sizeof(err));
        must_terminate(phase, sizeof(phase));
        if (r == 0 && st == NH_CLUSTER_UNKNOWN)
            abort(); /* a read state is never unknown */
        break;
    }
    case T_ACK_KUBECONFIG:
    case T_CCE_CLUSTER_CERT: {
        struct nh_secret *sec = NULL;
        int64_t exp = 0;
        r = t == T_ACK_KUBECONFIG
                ? nh_ack_parse_user_kubeconfig(body, n, &sec, &exp, err, sizeof(err))
                : nh_cce_parse_cluster_cert(body, n, &sec, err, sizeof(err));
        check_err(r, err, sizeof(err));
        if ((r == 0) != (sec != NULL))
            abort(); /* a secret exactly on success */
        nh_secret_free(sec);
        break;
    }
    case T_ERROR_BODY: {
        e.cls = NH_ERR_CONFLICT;
        int status = 400 + (int)(n % 200);
        bool json = nh_prov_parse_error_body(status, body, n, &e);
        check_prov_error(&e);
        if (e.cls != NH_ERR_CONFLICT)
            abort();
        for (const char *p = e.message; !json && *p; p++)
            if ((unsigned char)*p < 0x20 || *p == 0x7f)
                abort(); /* control characters never reach logs */
        break;
    }
    case T_TIME: {
        char *s = malloc(n + 1);
        if (s != NULL) {
            memcpy(s, body, n);
            s[n] = '\0';
            nh_prov_parse_time(s);
            nh_prov_retry_after_ms(s, 1700000000);
            nh_ack_retry_after_ms(s);
            (void)nh_prov_path_safe(s);
            free(s);
        }
        break;
    }
    case N_TARGETS:
        break;
    }
    nh_observed_clear(&obs);
    free(body);
    return 0;
}
