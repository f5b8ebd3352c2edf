/* store.c - the file journal as a store of operations (store.h). */
#include "state/store.h"

#include <errno.h>
#include <stdlib.h>

struct local_write {
    uv_work_t work;
    struct nh_journal *j;
    bool begin;
    struct nh_op *op;
    void (*done)(void *arg, int r);
    void *arg;
    int r;
};

static void local_work(uv_work_t *w)
{
    struct local_write *lw = w->data;
    lw->r = lw->begin ? nh_journal_begin(lw->j, lw->op) : nh_journal_update(lw->j, lw->op);
}

static void local_after(uv_work_t *w, int status)
{
    struct local_write *lw = w->data;
    int r = status < 0 ? status : lw->r;
    void (*done)(void *, int) = lw->done;
    void *arg = lw->arg;
    free(lw);
    done(arg, r);
}

static int local_write_op(void *ctx, bool begin, struct nh_op *op, void (*done)(void *arg, int r),
                          void *arg)
{
    struct nh_journal_store *s = ctx;
    struct local_write *lw = calloc(1, sizeof(*lw));
    int r;
    if (lw == NULL)
        return -ENOMEM;
    lw->work.data = lw;
    lw->j = s->journal;
    lw->begin = begin;
    lw->op = op;
    lw->done = done;
    lw->arg = arg;
    r = uv_queue_work(s->loop, &lw->work, local_work, local_after);
    if (r < 0)
        free(lw);
    return r;
}

const struct nh_jstore_ops nh_journal_store_ops = {.write = local_write_op};
