/* cmd_status.c - `nodeherd status`: asks the running daemon (its local
 * endpoint, GET /api/v1/status) what it is doing, and prints it. */
#include <errno.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>
#include <json-c/json.h>
#include <yaml.h>

#include "cmd.h"
#include "util/buf.h"
#include "util/hostport.h"
#include "util/json.h"

/* daemon.listen's default (config.c). */
#define STATUS_DEFAULT_LISTEN "127.0.0.1:9464"

static void status_usage(FILE *f)
{
    fputs("Usage: nodeherd status [--json] [--url URL] [-c FILE]\n"
          "\n"
          "Asks the running daemon what it is doing: per cluster and pool, declared vs\n"
          "observed, operations in flight with their job's progress and age, what is\n"
          "blocked and why, the last actions with their revision, the last poll.\n"
          "\n"
          "      --json      print the daemon's status document as is\n"
          "      --url URL   the daemon's endpoint (default: http://<daemon.listen>)\n"
          "  -h, --help      show this help\n"
          "\n"
          "Global options (-c/--config FILE, --allow-endpoint HOST, --log-format,\n"
          "--log-level) may come before or after the command; see nodeherd --help.\n"
          "\n"
          "Exit status: 0 answered, 1 no daemon answered, 2 usage or configuration error.\n",
          f);
}

/* Pure lookup of a scalar under a mapping key in a libyaml document. */
static yaml_node_t *map_get(yaml_document_t *doc, yaml_node_t *map, const char *key)
{
    if (map == NULL || map->type != YAML_MAPPING_NODE)
        return NULL;
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top;
         p++) {
        yaml_node_t *k = yaml_document_get_node(doc, p->key);
        if (k && k->type == YAML_SCALAR_NODE && k->data.scalar.length == strlen(key) &&
            memcmp(k->data.scalar.value, key, k->data.scalar.length) == 0)
            return yaml_document_get_node(doc, p->value);
    }
    return NULL;
}

/* Reads daemon.listen from the configuration file, and nothing else: the
 * status command must work from an operator's shell, where the daemon's
 * secrets ($CREDENTIALS_DIRECTORY, EnvironmentFile=) are not available, so
 * the file is not validated or resolved here (`nodeherd check` does that).
 * 0 with the value (the default when absent), -errno when the file cannot
 * be read, -EINVAL when it is not YAML or daemon.listen is not a string. */
static int listen_from_file(const char *path, char *out, size_t len)
{
    FILE *f = fopen(path, "re");
    yaml_parser_t parser;
    yaml_document_t doc;
    int r = 0;

    if (f == NULL)
        return -errno;
    if (!yaml_parser_initialize(&parser)) {
        fclose(f);
        return -ENOMEM;
    }
    yaml_parser_set_input_file(&parser, f);
    if (!yaml_parser_load(&parser, &doc)) {
        yaml_parser_delete(&parser);
        fclose(f);
        return -EINVAL;
    }
    yaml_node_t *root = yaml_document_get_root_node(&doc);
    yaml_node_t *daemon = map_get(&doc, root, "daemon");
    yaml_node_t *listen = map_get(&doc, daemon, "listen");
    if (root != NULL && root->type != YAML_MAPPING_NODE)
        r = -EINVAL;
    else if (listen == NULL)
        snprintf(out, len, "%s", STATUS_DEFAULT_LISTEN);
    else if (listen->type != YAML_SCALAR_NODE || listen->data.scalar.length >= len)
        r = -EINVAL;
    else
        snprintf(out, len, "%.*s", (int)listen->data.scalar.length,
                 (const char *)listen->data.scalar.value);
    yaml_document_delete(&doc);
    yaml_parser_delete(&parser);
    fclose(f);
    return r;
}

static size_t on_body(char *ptr, size_t size, size_t n, void *ud)
{
    struct nh_buf *b = ud;
    return nh_buf_append(b, ptr, size * n) == 0 ? size * n : 0;
}

static const char *jget_str(struct json_object *o, const char *k, const char *dflt)
{
    struct json_object *v;
    if (json_object_object_get_ex(o, k, &v) && json_object_is_type(v, json_type_string))
        return json_object_get_string(v);
    return dflt;
}

static int64_t jget_int(struct json_object *o, const char *k, int64_t dflt)
{
    struct json_object *v;
    if (json_object_object_get_ex(o, k, &v) && json_object_is_type(v, json_type_int))
        return json_object_get_int64(v);
    return dflt;
}

static struct json_object *jget_arr(struct json_object *o, const char *k)
{
    struct json_object *v;
    if (json_object_object_get_ex(o, k, &v) && json_object_is_type(v, json_type_array))
        return v;
    return NULL;
}

static void fmt_count(char *buf, size_t len, struct json_object *o, const char *k)
{
    int64_t v = jget_int(o, k, -1);
    if (v < 0)
        snprintf(buf, len, "-");
    else
        snprintf(buf, len, "%lld", (long long)v);
}

static void print_age(int64_t s)
{
    if (s < 0)
        printf("never");
    else if (s < 120)
        printf("%llds ago", (long long)s);
    else if (s < 7200)
        printf("%lldm ago", (long long)(s / 60));
    else
        printf("%lldh ago", (long long)(s / 3600));
}

static void print_kube(struct json_object *c)
{
    struct json_object *kube = NULL;
    if (!json_object_object_get_ex(c, "kubernetes", &kube) ||
        !json_object_is_type(kube, json_type_object))
        return;
    struct json_object *reach = NULL;
    const char *why = jget_str(kube, "why", NULL);
    if (!json_object_object_get_ex(kube, "reachable", &reach) || reach == NULL)
        printf("  kubernetes: not read yet\n");
    else if (json_object_get_boolean(reach))
        printf("  kubernetes: reachable\n");
    else
        printf("  kubernetes: not reachable: %s\n", why ? why : "?");
}

static void print_group(struct json_object *g)
{
    char d[24], o[24], r[24];
    fmt_count(d, sizeof(d), g, "declared");
    fmt_count(o, sizeof(o), g, "observed");
    fmt_count(r, sizeof(r), g, "ready");
    const char *pool = jget_str(g, "pool", NULL);
    printf("  %-24s declared %-5s observed %-5s ready %s\n", pool ? pool : "(workers)", d, o, r);
}

static void print_inflight(struct json_object *j)
{
    int64_t pct = jget_int(j, "progress", -1);
    printf("  in flight: %s%s%s -> %lld, job %s, %s", jget_str(j, "kind", "?"),
           jget_str(j, "pool", NULL) ? " " : "", jget_str(j, "pool", ""),
           (long long)jget_int(j, "target", 0), jget_str(j, "job", "-"), jget_str(j, "state", "?"));
    if (pct >= 0)
        printf(" %lld%%", (long long)pct);
    printf(", age %llds\n", (long long)jget_int(j, "age_s", 0));
}

static void print_note(struct json_object *j)
{
    printf("  %s (%s): %s\n", jget_str(j, "kind", "?"), jget_str(j, "rule", "?"),
           jget_str(j, "msg", ""));
    if (jget_str(j, "fix", NULL))
        printf("    fix: %s\n", jget_str(j, "fix", ""));
}

static void print_would(struct json_object *j)
{
    struct json_object *nodes = jget_arr(j, "nodes");
    size_t nn = nodes ? json_object_array_length(nodes) : 0;
    printf("  would: %s%s%s %lld -> %lld", jget_str(j, "kind", "?"),
           jget_str(j, "pool", NULL) ? " " : "", jget_str(j, "pool", ""),
           (long long)jget_int(j, "from", 0), (long long)jget_int(j, "target", 0));
    for (size_t m = 0; m < nn && m < 20; m++)
        printf("%s%s", m ? " " : ", nodes ",
               json_object_get_string(json_object_array_get_idx(nodes, m)));
    if (nn > 20)
        printf(" (and %zu more)", nn - 20);
    printf(" (rule %s: %s)\n", jget_str(j, "rule", "?"), jget_str(j, "why", ""));
}

static void print_recent(struct json_object *j, int64_t now)
{
    printf("  recent: %s%s%s -> %lld %s (rule %s, revision %s, ", jget_str(j, "kind", "?"),
           jget_str(j, "pool", NULL) ? " " : "", jget_str(j, "pool", ""),
           (long long)jget_int(j, "target", 0), jget_str(j, "result", "?"),
           jget_str(j, "rule", "?"), jget_str(j, "revision", "?"));
    print_age(now - jget_int(j, "time", now));
    printf(")\n");
}

/* Calls each(element) for the first max elements of the array under key
 * in o (none when it is missing or not an array). */
static void each_of(struct json_object *o, const char *key, size_t max,
                    void (*each)(struct json_object *))
{
    struct json_object *a = jget_arr(o, key);
    size_t n = a ? json_object_array_length(a) : 0;
    for (size_t k = 0; k < n && k < max; k++)
        each(json_object_array_get_idx(a, k));
}

static void print_cluster(struct json_object *c, int64_t now)
{
    printf("\n%s (%s, %s): %s, last poll ", jget_str(c, "name", "?"), jget_str(c, "kind", "?"),
           jget_str(c, "provider", "?"), jget_str(c, "state", "?"));
    int64_t lp = jget_int(c, "last_poll", -1);
    print_age(lp < 0 ? -1 : now - lp);
    printf("\n");
    const char *le = jget_str(c, "last_error", NULL);
    if (le)
        printf("  last error: %s\n", le);
    const char *mode = jget_str(c, "mode", "active");
    if (strcmp(mode, "active") != 0)
        printf("  %s: observed and planned, nothing new is sent\n", mode);
    print_kube(c);
    each_of(c, "groups", SIZE_MAX, print_group);
    each_of(c, "in_flight", SIZE_MAX, print_inflight);
    each_of(c, "notes", SIZE_MAX, print_note);
    each_of(c, "would", SIZE_MAX, print_would);
    struct json_object *rec = jget_arr(c, "recent");
    size_t nr = rec ? json_object_array_length(rec) : 0;
    for (size_t k = 0; k < nr && k < 5; k++)
        print_recent(json_object_array_get_idx(rec, k), now);
}

static int print_status(const char *body, size_t len)
{
    char perr[200] = "";
    struct nh_jerr je = {.buf = perr, .len = sizeof(perr)};
    struct json_object *root = nh_json_parse(body, len, true, &je);
    if (root == NULL) {
        fprintf(stderr, "nodeherd status: the daemon's answer is not a status document (%s)\n",
                perr);
        return NH_EXIT_FAILURE;
    }
    int64_t now = jget_int(root, "now", (int64_t)time(NULL));
    const char *dry_src = jget_str(root, "dry_run_source", NULL);
    printf("nodeherd %s, %s, revision %s%s%s%s\n", jget_str(root, "version", "?"),
           jget_str(root, "role", "?"), jget_str(root, "revision", "?"),
           json_object_get_boolean(json_object_object_get(root, "dry_run")) ? ", DRY RUN" : "",
           dry_src ? " from the " : "", dry_src ? dry_src : "");
    struct json_object *clusters = jget_arr(root, "clusters");
    size_t n = clusters ? json_object_array_length(clusters) : 0;
    for (size_t i = 0; i < n; i++)
        print_cluster(json_object_array_get_idx(clusters, i), now);
    json_object_put(root);
    return NH_EXIT_OK;
}

/* The status endpoint's URL: from --url (url_opt), else from daemon.listen
 * in the configuration file. Returns -1 when url is set, else the exit
 * code (the problem said on standard error). */
static int status_url(const char *url_opt, const char *config_path, char *url, size_t len)
{
    if (url_opt) {
        /* "http://host:port/" as copied from a browser: no "//api". */
        size_t n = strlen(url_opt);
        while (n > 0 && url_opt[n - 1] == '/')
            n--;
        snprintf(url, len, "%.*s/api/v1/status", (int)n, url_opt);
    } else {
        char l[256];
        int r = listen_from_file(config_path, l, sizeof(l));
        if (r < 0) {
            fprintf(stderr, "nodeherd status: cannot read daemon.listen from %s (%s); pass --url\n",
                    config_path,
                    r == -EINVAL ? "not a YAML mapping with a string there" : strerror(-r));
            return NH_EXIT_USAGE;
        }
        if (l[0] == '\0') {
            fprintf(stderr,
                    "nodeherd status: daemon.listen is empty in %s, so the daemon has no "
                    "endpoint; set it, or pass --url\n",
                    config_path);
            return NH_EXIT_USAGE;
        }
        struct nh_hostport hp;
        if (nh_hostport_parse(l, NH_HOSTPORT_EMPTY_HOST, &hp, NULL) == 0 && hp.has_port &&
            hp.port == 0) {
            fprintf(stderr, "nodeherd status: daemon.listen uses port 0 (any free port); pass "
                            "--url with the port the daemon logged\n");
            return NH_EXIT_USAGE;
        }
        snprintf(url, len, "http://%s%s/api/v1/status", l[0] == ':' ? "127.0.0.1" : "", l);
    }
    return -1;
}

int nh_cmd_status(struct nh_global_opts *g, int argc, char **argv)
{
    static const struct option longopts[] = {
        {"json", no_argument, NULL, 'j'},
        {"url", required_argument, NULL, 'u'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *url_opt = NULL;
    bool json = false;
    char url[512];
    int c;

    while ((c = nh_cli_getopt(argc, argv, "h", longopts, g)) != -1) {
        switch (c) {
        case 'j':
            json = true;
            break;
        case 'u':
            url_opt = optarg;
            break;
        default: /* --help, a global option's error, anything else */
            return nh_cli_end_opts(c, status_usage);
        }
    }
    int r = status_url(url_opt, g->config_path, url, sizeof(url));
    if (r >= 0)
        return r;

    struct nh_buf body;
    long code = 0;
    char errbuf[CURL_ERROR_SIZE] = "";
    nh_buf_init(&body, 16u << 20);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    CURL *e = curl_easy_init();
    if (e == NULL) {
        curl_global_cleanup();
        return NH_EXIT_FAILURE;
    }
    curl_easy_setopt(e, CURLOPT_URL, url);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, &body);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, 5000L);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(e, CURLOPT_NOPROXY, "*");
    CURLcode rc = curl_easy_perform(e);
    if (rc == CURLE_OK)
        curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &code);
    curl_easy_cleanup(e);
    curl_global_cleanup();
    if (rc != CURLE_OK || code != 200) {
        if (rc != CURLE_OK)
            fprintf(stderr, "nodeherd status: no daemon answered at %s (%s); is it running?\n", url,
                    errbuf[0] ? errbuf : curl_easy_strerror(rc));
        else
            fprintf(stderr, "nodeherd status: %s answered HTTP %ld\n", url, code);
        nh_buf_free(&body);
        return NH_EXIT_FAILURE;
    }
    int ret = NH_EXIT_OK;
    if (json)
        printf("%s\n", body.data ? body.data : "");
    else
        ret = print_status(body.data ? body.data : "", body.data ? body.len : 0);
    nh_buf_free(&body);
    return ret;
}
