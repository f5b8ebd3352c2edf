/* yaml.c - the only file that includes yaml.h: reads a configuration file
 * and turns libyaml's event stream into a small tree of scalar/map/seq nodes
 * with 1-based positions. Anchors, aliases and tags are refused, so nothing
 * is ever expanded; depth and size are bounded. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <yaml.h>

#include "config/internal.h"

void nh_ynode_free(struct nh_ynode *n)
{
    if (n == NULL)
        return;
    free(n->str);
    for (size_t i = 0; n->type == NH_Y_MAP && i < n->n; i++) {
        free(n->pairs[i].key);
        nh_ynode_free(n->pairs[i].val);
    }
    for (size_t i = 0; n->type == NH_Y_SEQ && i < n->n; i++)
        nh_ynode_free(n->items[i]);
    free(n->pairs);
    free(n->items);
    free(n);
}

const struct nh_ypair *nh_ymap_find(const struct nh_ynode *map, const char *key)
{
    if (map == NULL || map->type != NH_Y_MAP)
        return NULL;
    for (size_t i = 0; i < map->n; i++)
        if (strcmp(map->pairs[i].key, key) == 0)
            return &map->pairs[i];
    return NULL;
}

const char *nh_ytype_name(const struct nh_ynode *n)
{
    switch (n->type) {
    case NH_Y_SCALAR:
        return n->len == 0 && n->plain ? "nothing" : "a string";
    case NH_Y_MAP:
        return "a map";
    case NH_Y_SEQ:
        return "a list";
    }
    return "?";
}

int nh_yaml_read_file(const char *path, char **ret_data, size_t *ret_len, struct nh_diag *d)
{
    *ret_data = NULL;
    *ret_len = 0;
    /* O_NONBLOCK: opening a FIFO must not hang; we refuse it right after. */
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    if (fd < 0) {
        int e = errno;
        nh_diag_add(d, NH_DIAG_ERROR, path, 0, 0, "cannot open the configuration file: %s%s",
                    strerror(e),
                    e == ENOENT   ? "; give the right path with --config or $NODEHERD_CONFIG"
                    : e == EACCES ? "; make it readable by the nodeherd user"
                                  : "");
        return -e;
    }
    struct stat st;
    if (fstat(fd, &st) < 0) {
        int e = errno;
        close(fd);
        nh_diag_add(d, NH_DIAG_ERROR, path, 0, 0, "cannot stat the configuration file: %s",
                    strerror(e));
        return -e;
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        nh_diag_add(d, NH_DIAG_ERROR, path, 0, 0,
                    "not a regular file; point --config at a YAML file");
        return -EINVAL;
    }
    if (st.st_size > NH_YAML_MAX_BYTES) {
        close(fd);
        nh_diag_add(d, NH_DIAG_ERROR, path, 0, 0,
                    "file is larger than 1 MiB (%lld bytes); split or trim it",
                    (long long)st.st_size);
        return -EFBIG;
    }
    size_t cap = NH_YAML_MAX_BYTES + 1, len = 0; /* +1: notice a file that grew */
    char *buf = malloc(cap + 1);
    if (buf == NULL) {
        close(fd);
        return -ENOMEM;
    }
    for (;;) {
        ssize_t r = read(fd, buf + len, cap - len);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            int e = errno;
            close(fd);
            free(buf);
            nh_diag_add(d, NH_DIAG_ERROR, path, 0, 0, "cannot read the configuration file: %s",
                        strerror(e));
            return -e;
        }
        if (r == 0)
            break;
        len += (size_t)r;
        if (len == cap)
            break;
    }
    close(fd);
    if (len > NH_YAML_MAX_BYTES) {
        free(buf);
        nh_diag_add(d, NH_DIAG_ERROR, path, 0, 0, "file is larger than 1 MiB; split or trim it");
        return -EFBIG;
    }
    buf[len] = '\0';
    *ret_data = buf;
    *ret_len = len;
    return 0;
}

/* Reader errors (bad UTF-8, control characters) carry only a byte offset. */
static void offset_to_pos(const char *data, size_t len, size_t off, int *line, int *col)
{
    int l = 1, c = 1;
    if (off > len)
        off = len;
    for (size_t i = 0; i < off; i++) {
        if (data[i] == '\n') {
            l++;
            c = 1;
        } else if (((unsigned char)data[i] & 0xC0) != 0x80) {
            c++; /* count characters, not UTF-8 continuation bytes */
        }
        if (l > 100000000)
            break;
    }
    *line = l;
    *col = c;
}

static int clamp_pos(size_t v)
{
    return v > 1000000000 ? 1000000000 : (int)v + 1;
}

struct builder {
    const char *file;
    struct nh_diag *d;
    struct nh_ynode *root;
    struct nh_ynode *stack[NH_YAML_MAX_DEPTH + 1];
    int depth;
    int docs;
    bool have_key; /* the map on top has a key waiting for its value */
};

static int berr(struct builder *b, const yaml_mark_t *m, const char *msg)
{
    nh_diag_add(b->d, NH_DIAG_ERROR, b->file, clamp_pos(m->line), clamp_pos(m->column), "%s", msg);
    return -EINVAL;
}

static struct nh_ynode *node_new(enum nh_ytype t, const yaml_mark_t *m)
{
    struct nh_ynode *n = calloc(1, sizeof(*n));
    if (n == NULL)
        return NULL;
    n->type = t;
    n->line = clamp_pos(m->line);
    n->col = clamp_pos(m->column);
    return n;
}

/* Attaches n (taking it, also on failure) to the container on top. */
static int attach(struct builder *b, struct nh_ynode *n, const yaml_mark_t *m)
{
    if (b->depth == 0) {
        if (b->root != NULL) { /* cannot happen with a well-formed stream */
            nh_ynode_free(n);
            return berr(b, m, "more than one top-level value");
        }
        b->root = n;
        return 0;
    }
    struct nh_ynode *top = b->stack[b->depth - 1];
    if (top->type == NH_Y_SEQ) {
        if (top->n == top->alloc) {
            size_t na = top->alloc ? top->alloc * 2 : 4;
            struct nh_ynode **p = realloc(top->items, na * sizeof(*p));
            if (p == NULL) {
                nh_ynode_free(n);
                return -ENOMEM;
            }
            top->items = p;
            top->alloc = na;
        }
        top->items[top->n++] = n;
        return 0;
    }
    if (!b->have_key) {
        if (n->type != NH_Y_SCALAR) {
            nh_ynode_free(n);
            return berr(b, m, "a key must be a plain string, not a map or list");
        }
        if (top->n == top->alloc) {
            size_t na = top->alloc ? top->alloc * 2 : 4;
            struct nh_ypair *p = realloc(top->pairs, na * sizeof(*p));
            if (p == NULL) {
                nh_ynode_free(n);
                return -ENOMEM;
            }
            top->pairs = p;
            top->alloc = na;
        }
        struct nh_ypair *pr = &top->pairs[top->n++];
        pr->key = n->str;
        pr->line = n->line;
        pr->col = n->col;
        pr->val = NULL;
        n->str = NULL;
        nh_ynode_free(n);
        b->have_key = true;
        return 0;
    }
    top->pairs[top->n - 1].val = n;
    b->have_key = false;
    return 0;
}

static int refuse_anchor_tag(struct builder *b, const yaml_event_t *ev)
{
    const yaml_char_t *anchor = NULL, *tag = NULL;
    switch (ev->type) {
    case YAML_ALIAS_EVENT:
        return berr(b, &ev->start_mark, "aliases are not supported; repeat the value");
    case YAML_SCALAR_EVENT:
        anchor = ev->data.scalar.anchor;
        tag = ev->data.scalar.tag;
        break;
    case YAML_SEQUENCE_START_EVENT:
        anchor = ev->data.sequence_start.anchor;
        tag = ev->data.sequence_start.tag;
        break;
    case YAML_MAPPING_START_EVENT:
        anchor = ev->data.mapping_start.anchor;
        tag = ev->data.mapping_start.tag;
        break;
    default:
        break;
    }
    if (anchor != NULL)
        return berr(b, &ev->start_mark, "anchors are not supported; repeat the value");
    if (tag != NULL)
        return berr(b, &ev->start_mark, "tags are not supported; remove the \"!\" tag");
    return 0;
}

static int push(struct builder *b, enum nh_ytype t, const yaml_event_t *ev)
{
    if (b->depth >= NH_YAML_MAX_DEPTH)
        return berr(b, &ev->start_mark, "nested deeper than 32 levels; flatten the document");
    struct nh_ynode *n = node_new(t, &ev->start_mark);
    if (n == NULL)
        return -ENOMEM;
    int r = attach(b, n, &ev->start_mark);
    if (r < 0)
        return r;
    b->stack[b->depth++] = n;
    b->have_key = false;
    return 0;
}

static void pop(struct builder *b)
{
    b->depth--;
    /* The container just closed was a value; the parent map waits for a key. */
    b->have_key = false;
}

static int tree_feed(struct builder *b, const yaml_event_t *ev)
{
    switch (ev->type) {
    case YAML_DOCUMENT_START_EVENT:
        if (++b->docs > 1)
            return berr(b, &ev->start_mark,
                        "more than one document (---); put the whole configuration in one");
        return 0;
    case YAML_SCALAR_EVENT: {
        const char *v = (const char *)ev->data.scalar.value;
        size_t len = ev->data.scalar.length;
        if (memchr(v, '\0', len) != NULL)
            return berr(b, &ev->start_mark, "NUL characters are not allowed in values");
        struct nh_ynode *n = node_new(NH_Y_SCALAR, &ev->start_mark);
        if (n == NULL)
            return -ENOMEM;
        n->str = malloc(len + 1);
        if (n->str == NULL) {
            free(n);
            return -ENOMEM;
        }
        memcpy(n->str, v, len);
        n->str[len] = '\0';
        n->len = len;
        n->plain = ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
        return attach(b, n, &ev->start_mark);
    }
    case YAML_SEQUENCE_START_EVENT:
        return push(b, NH_Y_SEQ, ev);
    case YAML_MAPPING_START_EVENT:
        return push(b, NH_Y_MAP, ev);
    case YAML_SEQUENCE_END_EVENT:
    case YAML_MAPPING_END_EVENT:
        if (b->depth > 0)
            pop(b);
        return 0;
    case YAML_STREAM_START_EVENT:
    case YAML_STREAM_END_EVENT:
    case YAML_DOCUMENT_END_EVENT:
    case YAML_ALIAS_EVENT:
    case YAML_NO_EVENT:
        return 0;
    }
    return 0;
}

static int yaml_fail(yaml_parser_t *p, const char *file, const char *data, size_t len,
                     struct nh_diag *d)
{
    int line, col;
    const char *problem = p->problem ? p->problem : "malformed YAML";
    if (p->error == YAML_MEMORY_ERROR)
        return -ENOMEM;
    if (p->error == YAML_READER_ERROR) {
        offset_to_pos(data, len, p->problem_offset, &line, &col);
        nh_diag_add(d, NH_DIAG_ERROR, file, line, col,
                    "%s; the file must be UTF-8 text (byte offset %zu)", problem,
                    p->problem_offset);
        return -EILSEQ;
    }
    line = clamp_pos(p->problem_mark.line);
    col = clamp_pos(p->problem_mark.column);
    if (p->context != NULL)
        nh_diag_add(d, NH_DIAG_ERROR, file, line, col, "YAML syntax: %s %s (line %d)", problem,
                    p->context, clamp_pos(p->context_mark.line));
    else
        nh_diag_add(d, NH_DIAG_ERROR, file, line, col, "YAML syntax: %s", problem);
    return -EINVAL;
}

int nh_yaml_parse(const char *file, const char *data, size_t len, struct nh_ynode **ret,
                  struct nh_diag *d)
{
    *ret = NULL;
    if (len > NH_YAML_MAX_BYTES) {
        nh_diag_add(d, NH_DIAG_ERROR, file, 0, 0, "file is larger than 1 MiB; split or trim it");
        return -EFBIG;
    }
    yaml_parser_t p;
    if (!yaml_parser_initialize(&p))
        return -ENOMEM;
    yaml_parser_set_input_string(&p, (const unsigned char *)data, len);
    yaml_parser_set_encoding(&p, YAML_UTF8_ENCODING);

    struct builder b = {.file = file, .d = d};
    int r = 0;
    for (;;) {
        yaml_event_t ev;
        if (!yaml_parser_parse(&p, &ev)) {
            r = yaml_fail(&p, file, data, len, d);
            break;
        }
        r = refuse_anchor_tag(&b, &ev);
        if (r == 0)
            r = tree_feed(&b, &ev);
        bool end = ev.type == YAML_STREAM_END_EVENT;
        yaml_event_delete(&ev); /* every event, every path */
        if (r < 0 || end)
            break;
    }
    yaml_parser_delete(&p);
    if (r < 0) {
        nh_ynode_free(b.root);
        return r;
    }
    if (b.root == NULL || (b.root->type == NH_Y_SCALAR && b.root->plain && b.root->len == 0)) {
        nh_ynode_free(b.root);
        nh_diag_add(d, NH_DIAG_ERROR, file, 0, 0,
                    "empty configuration; it needs at least providers: and clusters:");
        return -ENODATA;
    }
    *ret = b.root;
    return 0;
}
