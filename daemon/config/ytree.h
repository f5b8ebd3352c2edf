/* ytree.h - the YAML tree of config/yaml.c, for the few other modules that
 * read YAML from memory (kube/kubeconfig.c). yaml.c stays the only file that
 * includes libyaml: nothing else parses YAML events.
 *
 * The tree refuses anchors, aliases, tags, more than one document, nesting
 * deeper than NH_YAML_MAX_DEPTH, non-scalar keys and NUL characters, so
 * nothing is ever expanded. Duplicate keys are kept (in document order):
 * callers check them. */
#ifndef NH_CONFIG_YTREE_H
#define NH_CONFIG_YTREE_H

#include <stdbool.h>
#include <stddef.h>

#include "config/diag.h"

#define NH_YAML_MAX_BYTES (1024 * 1024) /* a configuration file is at most 1 MiB */
#define NH_YAML_MAX_DEPTH 32            /* maps and sequences nested at most this deep */

enum nh_ytype { NH_Y_SCALAR, NH_Y_MAP, NH_Y_SEQ };

struct nh_ynode;

struct nh_ypair {
    char *key; /* owned, NUL-free */
    int line, col;
    struct nh_ynode *val; /* owned */
};

/* A node of the parsed document. Positions are 1-based. */
struct nh_ynode {
    enum nh_ytype type;
    int line, col;
    bool plain;              /* scalar written unquoted (plain style) */
    char *str;               /* scalar: owned, NUL-terminated, contains no NUL */
    size_t len;              /* scalar length */
    struct nh_ypair *pairs;  /* map: owned, in document order; duplicates kept */
    struct nh_ynode **items; /* seq: owned */
    size_t n, alloc;
};

/* Parses one YAML document into a tree (free with nh_ynode_free). Refuses
 * anchors, aliases, tags, more than one document, nesting deeper than
 * NH_YAML_MAX_DEPTH, non-scalar keys and NUL characters. An empty stream
 * yields "empty configuration". Returns 0 or a negative errno. */
int nh_yaml_parse(const char *file, const char *data, size_t len, struct nh_ynode **ret,
                  struct nh_diag *d);
void nh_ynode_free(struct nh_ynode *n); /* NULL ok */
/* The value of the first pair named key in a map, or NULL. Borrowed. */
const struct nh_ypair *nh_ymap_find(const struct nh_ynode *map, const char *key);
const char *nh_ytype_name(const struct nh_ynode *n); /* "a map", "a list", "a string" */

#endif
