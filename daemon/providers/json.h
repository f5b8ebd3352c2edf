/* json.h - the providers' internal JSON helpers (json-c), shared by the three
 * clouds' parsers. Strict parsing, typed getters that name the field in
 * their error, a small JSON writer for request bodies. Pure: no I/O. */
#ifndef NH_PROVIDERS_JSON_H
#define NH_PROVIDERS_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <json-c/json.h>

#include "util/buf.h"

/* An error message buffer: the first error wins. */
struct nh_perr {
    char *buf;
    size_t len;
};

/* Writes "fmt" into e (if nothing is there yet) and returns -EBADMSG. */
int nh_perr_set(struct nh_perr *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Strict parse of a whole body into an object (or any value when
 * want_object is false). NULL with an error in e: empty, too big, invalid,
 * truncated, trailing bytes, too deep, not an object. The caller puts the
 * result. */
struct json_object *nh_pj_parse(const char *body, size_t len, bool want_object, struct nh_perr *e);

/* Borrowed child; NULL when absent or JSON null. */
struct json_object *nh_pj_get(struct json_object *o, const char *key);

/* Typed getters. `where` names the field in messages ("nodes[3].state").
 * Optional getters leave the default when the key is absent or null;
 * required getters fail then. A value of the wrong type always fails. */
int nh_pj_str(struct json_object *o, const char *key, bool required, const char **out,
              const char *where, struct nh_perr *e);
/* Integers: a JSON integer or a string of decimal digits, in [min, max]. */
int nh_pj_int(struct json_object *o, const char *key, bool required, int64_t min, int64_t max,
              int64_t *out, const char *where, struct nh_perr *e);
int nh_pj_bool(struct json_object *o, const char *key, bool required, bool *out, const char *where,
               struct nh_perr *e);
int nh_pj_obj(struct json_object *o, const char *key, bool required, struct json_object **out,
              const char *where, struct nh_perr *e);
int nh_pj_arr(struct json_object *o, const char *key, bool required, struct json_object **out,
              const char *where, struct nh_perr *e);

/* strdup of an optional string (NULL stays NULL); false on ENOMEM. */
bool nh_pj_dup(const char *s, char **out);

/* Bounded copy with NUL; control characters replaced by spaces. */
void nh_pj_copy(char *dst, size_t dstlen, const char *src);

/* Appends s to the NUL-terminated string in dst, truncating at len. */
void nh_pj_cat(char *dst, size_t len, const char *s);

/* Appends s as a JSON string literal (quotes, escapes) to b. */
int nh_pj_write_str(struct nh_buf *b, const char *s, size_t len);

#endif
