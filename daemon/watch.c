/* watch.c - configuration file watcher (see watch.h). */
#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "util/log.h"
#include "watch.h"

#define WATCH_MAX_DIRS 16
#define WATCH_FALLBACK_MS 5000

struct dirwatch {
    uv_fs_event_t ev;
    struct nh_watch *w;
    char *dir;
};

struct nh_watch {
    uv_loop_t *loop;
    char *path;
    nh_watch_fn changed;
    void *ud;
    struct dirwatch *dirs[WATCH_MAX_DIRS];
    size_t n_dirs;
    uv_timer_t settle;   /* coalesces a burst of events into one look */
    uv_timer_t fallback; /* slow stat() safety net */
    int open_handles;
    bool stopping;
    bool have_stat;
    struct stat last;
};

static void watch_release(struct nh_watch *w)
{
    if (w->open_handles > 0)
        return;
    free(w->path);
    free(w);
}

static void on_dir_closed(uv_handle_t *h)
{
    struct dirwatch *d = h->data;
    struct nh_watch *w = d->w;
    free(d->dir);
    free(d);
    w->open_handles--;
    if (w->stopping)
        watch_release(w);
}

static void on_timer_closed(uv_handle_t *h)
{
    struct nh_watch *w = h->data;
    w->open_handles--;
    watch_release(w);
}

static bool same_stat(const struct stat *a, const struct stat *b)
{
    return a->st_dev == b->st_dev && a->st_ino == b->st_ino && a->st_size == b->st_size &&
           a->st_mtim.tv_sec == b->st_mtim.tv_sec && a->st_mtim.tv_nsec == b->st_mtim.tv_nsec &&
           a->st_ctim.tv_sec == b->st_ctim.tv_sec && a->st_ctim.tv_nsec == b->st_ctim.tv_nsec;
}

static void on_fs_event(uv_fs_event_t *h, const char *filename, int events, int status);

static void add_dir(struct nh_watch *w, const char *dir)
{
    for (size_t i = 0; i < w->n_dirs; i++)
        if (strcmp(w->dirs[i]->dir, dir) == 0)
            return;
    if (w->n_dirs == WATCH_MAX_DIRS)
        return;
    struct dirwatch *d = calloc(1, sizeof(*d));
    if (d == NULL)
        return;
    d->dir = strdup(dir);
    d->w = w;
    if (d->dir == NULL || uv_fs_event_init(w->loop, &d->ev) < 0) {
        free(d->dir);
        free(d);
        return;
    }
    d->ev.data = d;
    w->open_handles++;
    if (uv_fs_event_start(&d->ev, on_fs_event, d->dir, 0) < 0) {
        nh_log(LOG_DEBUG, "watch: cannot watch %s; relying on the %d s stat check", d->dir,
               WATCH_FALLBACK_MS / 1000);
        uv_close((uv_handle_t *)&d->ev, on_dir_closed);
        return;
    }
    w->dirs[w->n_dirs++] = d;
}

/* Watches the file's directory (as reached now) and the parent directory of
 * every symlink on the way, so that swapping any of them is noticed. */
static void arm(struct nh_watch *w)
{
    char buf[PATH_MAX];
    char *slash;
    struct stat st;

    for (size_t i = 0; i < w->n_dirs; i++)
        uv_close((uv_handle_t *)&w->dirs[i]->ev, on_dir_closed);
    w->n_dirs = 0;

    if (strlen(w->path) >= sizeof(buf))
        return;
    strcpy(buf, w->path);
    slash = strrchr(buf, '/');
    if (slash == NULL) {
        add_dir(w, ".");
    } else {
        *slash = '\0';
        add_dir(w, buf[0] ? buf : "/");
    }
    /* Every prefix that is a symlink: watch where the link itself lives. */
    strcpy(buf, w->path);
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (lstat(buf, &st) == 0 && S_ISLNK(st.st_mode)) {
            char *s = strrchr(buf, '/');
            if (s == buf)
                add_dir(w, "/");
            else if (s) {
                *s = '\0';
                add_dir(w, buf);
                *s = '/';
            } else {
                add_dir(w, ".");
            }
        }
        *p = '/';
    }
    if (lstat(w->path, &st) == 0 && S_ISLNK(st.st_mode)) {
        /* The file itself is a link (ConfigMap): its target's directory too. */
        char real[PATH_MAX];
        if (realpath(w->path, real) != NULL) {
            char *s = strrchr(real, '/');
            if (s && s != real) {
                *s = '\0';
                add_dir(w, real);
            }
        }
    }
}

static void look(struct nh_watch *w)
{
    struct stat st;
    if (w->stopping)
        return;
    if (stat(w->path, &st) < 0)
        return; /* mid-swap or deleted: wait for the next event */
    if (w->have_stat && same_stat(&st, &w->last))
        return;
    w->last = st;
    w->have_stat = true;
    arm(w); /* links may point elsewhere now */
    w->changed(w->ud);
}

static void on_settle(uv_timer_t *t)
{
    look(t->data);
}

static void on_fs_event(uv_fs_event_t *h, const char *filename, int events, int status)
{
    struct dirwatch *d = h->data;
    struct nh_watch *w = d->w;
    (void)filename;
    (void)events;
    (void)status;
    if (w->stopping)
        return;
    /* 1 ms: a burst of events (write, close, rename) becomes one look. */
    if (!uv_is_active((uv_handle_t *)&w->settle))
        uv_timer_start(&w->settle, on_settle, 1, 0);
}

static void on_fallback(uv_timer_t *t)
{
    look(t->data);
}

int nh_watch_start(uv_loop_t *loop, const char *path, nh_watch_fn changed, void *ud,
                   struct nh_watch **ret)
{
    struct nh_watch *w = calloc(1, sizeof(*w));
    if (w == NULL)
        return -ENOMEM;
    w->loop = loop;
    w->path = strdup(path);
    w->changed = changed;
    w->ud = ud;
    if (w->path == NULL) {
        free(w);
        return -ENOMEM;
    }
    uv_timer_init(loop, &w->settle);
    uv_timer_init(loop, &w->fallback);
    w->settle.data = w;
    w->fallback.data = w;
    w->open_handles = 2;
    if (stat(path, &w->last) == 0)
        w->have_stat = true;
    arm(w);
    uv_timer_start(&w->fallback, on_fallback, WATCH_FALLBACK_MS, WATCH_FALLBACK_MS);
    uv_unref((uv_handle_t *)&w->fallback);
    *ret = w;
    return 0;
}

void nh_watch_stop(struct nh_watch *w)
{
    if (w == NULL)
        return;
    w->stopping = true;
    for (size_t i = 0; i < w->n_dirs; i++)
        uv_close((uv_handle_t *)&w->dirs[i]->ev, on_dir_closed);
    w->n_dirs = 0;
    uv_close((uv_handle_t *)&w->settle, on_timer_closed);
    uv_close((uv_handle_t *)&w->fallback, on_timer_closed);
}
