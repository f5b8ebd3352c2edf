/* yaml2json.c - test helper: prints the YAML documents of FILE (or stdin)
 * as one JSON array, one element per document, so that Python tests can
 * check YAML manifests with the standard library alone.
 *
 *   yaml2json FILE        -> [doc1, doc2, ...]
 *
 * Scalars follow the YAML 1.2 core schema: plain null/~/empty, true/false,
 * integers and floats become JSON null, booleans and numbers; everything
 * else (and every quoted scalar) is a string. Integers with a leading 0 or
 * 0o are octal, as Kubernetes (YAML 1.1) reads `defaultMode: 0440`. Aliases are expanded. Mapping
 * keys must be scalars. A duplicate key is an error (Kubernetes would take
 * the last one silently; a manifest should not rely on that).
 * Exit status: 0 ok, 1 parse or structure error (FILE:LINE:COL: message). */
#include <errno.h>
#include <json-c/json.h>
#include <math.h>
#include <regex.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

static const char *g_name = "<stdin>";

static bool matches(const char *re, const char *s)
{
    regex_t r;
    if (regcomp(&r, re, REG_EXTENDED | REG_NOSUB) != 0)
        return false;
    bool ok = regexec(&r, s, 0, NULL, 0) == 0;
    regfree(&r);
    return ok;
}

static struct json_object *scalar(const yaml_node_t *n)
{
    const char *s = (const char *)n->data.scalar.value;
    if (n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
        return json_object_new_string_len(s, (int)n->data.scalar.length);
    if (*s == '\0' || strcmp(s, "~") == 0 || strcmp(s, "null") == 0 || strcmp(s, "Null") == 0 ||
        strcmp(s, "NULL") == 0)
        return NULL;
    if (matches("^(true|True|TRUE)$", s))
        return json_object_new_boolean(1);
    if (matches("^(false|False|FALSE)$", s))
        return json_object_new_boolean(0);
    if (matches("^0o?[0-7]+$", s)) {
        errno = 0;
        long long v = strtoll(s + (s[1] == 'o' ? 2 : 0), NULL, 8);
        if (errno == 0)
            return json_object_new_int64(v);
    }
    if (matches("^[-+]?[0-9]+$", s)) {
        errno = 0;
        long long v = strtoll(s, NULL, 10);
        if (errno == 0)
            return json_object_new_int64(v);
    }
    if (matches("^[-+]?(\\.[0-9]+|[0-9]+(\\.[0-9]*)?)([eE][-+]?[0-9]+)?$", s)) {
        double d = strtod(s, NULL);
        if (isfinite(d))
            return json_object_new_double(d);
    }
    return json_object_new_string_len(s, (int)n->data.scalar.length);
}

static int convert(yaml_document_t *doc, yaml_node_t *n, int depth, struct json_object **ret)
{
    *ret = NULL;
    if (n == NULL || depth > 64) {
        fprintf(stderr, "%s: nesting too deep or a dangling node\n", g_name);
        return -1;
    }
    switch (n->type) {
    case YAML_NO_NODE:
        return 0;
    case YAML_SCALAR_NODE:
        *ret = scalar(n);
        return 0;
    case YAML_SEQUENCE_NODE: {
        struct json_object *a = json_object_new_array();
        for (yaml_node_item_t *it = n->data.sequence.items.start; it < n->data.sequence.items.top;
             it++) {
            struct json_object *v;
            if (convert(doc, yaml_document_get_node(doc, *it), depth + 1, &v) < 0) {
                json_object_put(a);
                return -1;
            }
            json_object_array_add(a, v);
        }
        *ret = a;
        return 0;
    }
    case YAML_MAPPING_NODE: {
        struct json_object *o = json_object_new_object();
        for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top;
             p++) {
            yaml_node_t *k = yaml_document_get_node(doc, p->key);
            if (k == NULL || k->type != YAML_SCALAR_NODE) {
                fprintf(stderr, "%s:%zu:%zu: a mapping key is not a scalar\n", g_name,
                        n->start_mark.line + 1, n->start_mark.column + 1);
                json_object_put(o);
                return -1;
            }
            const char *key = (const char *)k->data.scalar.value;
            if (json_object_object_get_ex(o, key, NULL)) {
                fprintf(stderr, "%s:%zu:%zu: duplicate key \"%s\"\n", g_name,
                        k->start_mark.line + 1, k->start_mark.column + 1, key);
                json_object_put(o);
                return -1;
            }
            struct json_object *v;
            if (convert(doc, yaml_document_get_node(doc, p->value), depth + 1, &v) < 0) {
                json_object_put(o);
                return -1;
            }
            json_object_object_add(o, key, v);
        }
        *ret = o;
        return 0;
    }
    }
    return -1;
}

int main(int argc, char **argv)
{
    FILE *in = stdin;
    if (argc > 2 || (argc == 2 && strcmp(argv[1], "--help") == 0)) {
        fputs("Usage: yaml2json [FILE]\n", argc > 2 ? stderr : stdout);
        return argc > 2;
    }
    if (argc == 2) {
        g_name = argv[1];
        in = fopen(argv[1], "rb");
        if (in == NULL) {
            fprintf(stderr, "%s: %s\n", argv[1], strerror(errno));
            return 1;
        }
    }
    yaml_parser_t parser;
    if (!yaml_parser_initialize(&parser)) {
        fputs("yaml2json: out of memory\n", stderr);
        return 1;
    }
    yaml_parser_set_input_file(&parser, in);
    struct json_object *docs = json_object_new_array();
    int rc = 0;
    for (;;) {
        yaml_document_t doc;
        if (!yaml_parser_load(&parser, &doc)) {
            fprintf(stderr, "%s:%zu:%zu: %s\n", g_name, parser.problem_mark.line + 1,
                    parser.problem_mark.column + 1, parser.problem ? parser.problem : "error");
            rc = 1;
            break;
        }
        yaml_node_t *root = yaml_document_get_root_node(&doc);
        if (root == NULL) { /* end of stream */
            yaml_document_delete(&doc);
            break;
        }
        struct json_object *v;
        int r = convert(&doc, root, 0, &v);
        yaml_document_delete(&doc);
        if (r < 0) {
            rc = 1;
            break;
        }
        json_object_array_add(docs, v);
    }
    if (rc == 0)
        puts(json_object_to_json_string_ext(docs, JSON_C_TO_STRING_PLAIN));
    json_object_put(docs);
    yaml_parser_delete(&parser);
    if (in != stdin)
        fclose(in);
    return rc;
}
