/* json.h - strict JSON reading with json-c, for everything nodeherd reads
 * from a peer (cloud answers, etcd answers, the status endpoint): one
 * parser, typed getters that name the field in their error, and a string
 * writer for request bodies. Pure: no I/O, no logging.
 *
 * Parsing is strict (json_tokener_new_ex(NH_JSON_MAX_DEPTH),
 * JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8), refuses bodies larger
 * than the cap, trailing bytes and truncation. Children are borrowed from
 * their root (never put them); strings die with the root: copy them first. */
#ifndef NH_UTIL_JSON_H
#define NH_UTIL_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <json-c/json.h>

#include "util/buf.h"

#define NH_JSON_MAX_BYTES (8u * 1024u * 1024u)
#define NH_JSON_MAX_DEPTH 32

/* An error message buffer: the first error wins. */
struct nh_jerr {
    char *buf;
    size_t len;
};

/* Writes "fmt" into e (if nothing is there yet) and returns -EBADMSG. */
int nh_jerr_set(struct nh_jerr *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Strict parse of a whole body of at most NH_JSON_MAX_BYTES into an object
 * (or any value when want_object is false). NULL with an error in e: empty,
 * too big, invalid, truncated, trailing bytes, too deep, not an object.
 * Owned: the caller puts the result. */
struct json_object *nh_json_parse(const char *body, size_t len, bool want_object,
                                  struct nh_jerr *e);
/* The same with a smaller cap (max_bytes <= NH_JSON_MAX_BYTES). */
struct json_object *nh_json_parse_capped(const char *body, size_t len, size_t max_bytes,
                                         bool want_object, struct nh_jerr *e);
/* The same with every limit chosen (zero fields: the defaults above). */
struct nh_json_popts {
    size_t max_bytes; /* <= NH_JSON_MAX_BYTES */
    int max_depth;    /* <= NH_JSON_MAX_DEPTH */
    bool want_object;
    bool any_utf8; /* take strings that are not UTF-8: the caller judges them per field */
};
struct json_object *nh_json_parse_opts(const char *body, size_t len, const struct nh_json_popts *o,
                                       struct nh_jerr *e);
/* A list answer {"items": [...]}: the parsed root (owned, put it) with its
 * required array in *items (borrowed); NULL with an error in e. */
struct json_object *nh_json_parse_items(const char *body, size_t len, struct json_object **items,
                                        struct nh_jerr *e);

/* Borrowed child; NULL when absent or JSON null. */
struct json_object *nh_json_get(struct json_object *o, const char *key);

/* Typed getters. `where` names the field in messages ("nodes[3].state").
 * Optional getters leave the default when the key is absent or null;
 * required getters fail then. A value of the wrong type always fails.
 * Returned strings and objects are borrowed from o's root. */
int nh_json_str(struct json_object *o, const char *key, bool required, const char **out,
                const char *where, struct nh_jerr *e);
/* Integers: a JSON integer or a string of decimal digits, in [min, max]. */
int nh_json_int(struct json_object *o, const char *key, bool required, int64_t min, int64_t max,
                int64_t *out, const char *where, struct nh_jerr *e);
int nh_json_bool(struct json_object *o, const char *key, bool required, bool *out,
                 const char *where, struct nh_jerr *e);
int nh_json_obj(struct json_object *o, const char *key, bool required, struct json_object **out,
                const char *where, struct nh_jerr *e);
int nh_json_arr(struct json_object *o, const char *key, bool required, struct json_object **out,
                const char *where, struct nh_jerr *e);

/* strdup of an optional string (NULL stays NULL); false on ENOMEM. */
bool nh_json_dup(const char *s, char **out);
/* Tests only: whether the spare tokener's string buffer (reused between
 * parses) still holds `needle` anywhere in it. */
bool nh_json__spare_holds(const char *needle);

/* Appends s (len bytes) as a JSON string literal (quotes, escapes) to b. */
int nh_json_write_str(struct nh_buf *b, const char *s, size_t len);

#endif
