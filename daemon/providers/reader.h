/* reader.h - what the clouds' parsers share (pure): a whole answer parsed
 * strictly (util/json.h) and handed to a reader, node pools one by one or
 * as an `items` list, and job ids. Every function clears err first and
 * names `what` (the operation) in an out-of-memory message. */
#ifndef NH_PROVIDERS_READER_H
#define NH_PROVIDERS_READER_H

#include "providers/parse.h"
#include "util/json.h"
#include "util/text.h"

/* Reads one parsed answer (root, borrowed) into out. 0 or -errno with a
 * message in e. */
typedef int (*nh_reader_fn)(struct json_object *root, void *out, struct nh_jerr *e);
/* Reads item i of an `items` list into out. */
typedef int (*nh_item_reader_fn)(struct json_object *it, size_t i, void *out, struct nh_jerr *e);
/* Reads one node pool object into s (zeroed by the caller). */
typedef int (*nh_pool_reader_fn)(struct json_object *it, struct nh_pool_status *s,
                                 struct nh_jerr *e);

/* ---- fields as data ---- */

enum nh_jtype { NH_J_OBJ, NH_J_ARR, NH_J_STR, NH_J_INT, NH_J_BOOL };

/* One field of an answer: its path below the object read ("status.phase"),
 * its JSON type, whether it must be there, and where its value goes in the
 * reader's struct: const char * (STR), int64_t in 0..NH_PROV_COUNT_MAX
 * (INT), bool (BOOL), struct json_object * (OBJ, ARR; NULL when absent),
 * all borrowed from the root. An absent optional STR, INT or BOOL leaves
 * its default. A path's parents are listed before it (their type is
 * checked there); an absent parent makes its children absent. */
struct nh_jfield {
    const char *path;
    enum nh_jtype type;
    bool required;
    size_t off; /* NH_J_NOWHERE: checked only */
};
#define NH_J_NOWHERE ((size_t)-1)

/* Reads n fields of o, in order, into out; the first problem ends it, its
 * message naming prefix + path ("items[]." "metadata.uid"). what names o
 * when it is not an object ("node pool: expected an object"); NULL: o is
 * known to be one. 0 or -EBADMSG. */
int nh_prov_fields(struct json_object *o, const char *what, const struct nh_jfield *f, size_t n,
                   const char *prefix, void *out, struct nh_jerr *e);
/* A table and its length, for nh_prov_fields. */
#define NH_FIELDS(table) (table), (sizeof(table) / sizeof((table)[0]))

/* ---- whole answers ---- */

/* The body as a JSON object, read by fn into out. 0 or -errno. */
int nh_prov_read(const char *body, size_t len, nh_reader_fn fn, void *out, const char *what,
                 char *err, size_t errlen);
/* A job's progress: out is reset (RUNNING, percent -1), read by fn, and its
 * detail stripped of control characters. */
int nh_prov_read_progress(const char *body, size_t len, nh_reader_fn fn,
                          struct nh_job_progress *out, const char *what, char *err, size_t errlen);
/* One node pool: out is zeroed, read by fn, and cleared again on error. */
int nh_prov_read_pool(const char *body, size_t len, nh_pool_reader_fn fn,
                      struct nh_pool_status *out, const char *what, char *err, size_t errlen);
/* {"items": [...]}: each item read by fn into out, in order. */
int nh_prov_read_items(const char *body, size_t len, nh_item_reader_fn fn, void *out,
                       const char *what, char *err, size_t errlen);
/* {"items": [pool, ...]}: each pool read by fn and appended to obs. */
int nh_prov_read_pool_items(const char *body, size_t len, nh_pool_reader_fn fn,
                            struct nh_observed *obs, const char *what, char *err, size_t errlen);
/* The optional job id at key of o (where: its name in messages) into *ret
 * (NULL when absent or empty). It must be safe in a URL path. 0, -EBADMSG
 * or -ENOMEM; *ret is set only on success. */
int nh_prov_read_id(struct json_object *o, const char *key, const char *where, char **ret,
                    struct nh_jerr *e);

/* Copies a word the cloud chose (a state, a condition's type or reason)
 * for showing in the plan and the status: kept only when it is 1..len-1
 * of [A-Za-z0-9._-] (never a cloud's free text there; issue 23), else
 * `other`. */
void nh_prov_copy_word(char *dst, size_t len, const char *src, const char *other);

/* Appends a node to obs with its id, name (the id when NULL) and pool
 * (NULL when absent or empty), copied. 0 or -ENOMEM; *ret on success. */
int nh_prov_add_node(struct nh_observed *obs, const char *id, const char *name, const char *pool,
                     struct nh_node **ret);

/* A pool's counters as read (range-checked JSON integers). */
struct nh_pool_counts {
    int64_t desired, current, ready, unhealthy, creating, deleting, max_count;
};
/* Sets p's counters from c. */
void nh_prov_set_counts(struct nh_obs_pool *p, const struct nh_pool_counts *c);

/* Labels as a JSON object of strings ({"k":"v"}; v NULL: none) into n.
 * where names the object in messages; keys are cut at keymax there. */
int nh_prov_read_label_map(struct json_object *v, struct nh_node *n, const char *where, int keymax,
                           struct nh_jerr *e);
/* Sets the next of n's preallocated labels (strings copied). 0 or -ENOMEM. */
int nh_prov_put_label(struct nh_node *n, const char *key, const char *value);

/* Appends the n strings s as a JSON array (["a","b"]) to b, for request
 * bodies. 0 or -ENOMEM. */
int nh_prov_json_str_array(struct nh_buf *b, const char *const *s, size_t n);

#endif
