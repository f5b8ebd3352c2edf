/* cli.c - global options before or after the subcommand (see cli.h). */
#include "cli.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <json-c/json.h>
#include <microhttpd.h>
#include <openssl/crypto.h>
#include <uv.h>
#include <yaml.h>

#include "cmd.h"
#include "config/config.h"
#include "util/log.h"

const struct option nh_cli_global_longopts[] = {
    {"config", required_argument, NULL, 'c'},
    {"log-format", required_argument, NULL, NH_OPT_LOG_FORMAT},
    {"log-level", required_argument, NULL, NH_OPT_LOG_LEVEL},
    {"allow-endpoint", required_argument, NULL, NH_OPT_ALLOW_ENDPOINT},
    {"version", no_argument, NULL, 'V'},
    {NULL, 0, NULL, 0},
};

#define N_GLOBAL (sizeof(nh_cli_global_longopts) / sizeof(nh_cli_global_longopts[0]) - 1)
#define MAX_MERGED 48

int nh_cli_end_opts(int c, void (*usage)(FILE *f))
{
    switch (c) {
    case 'h':
        usage(stdout);
        return NH_EXIT_OK;
    case NH_CLI_GLOBAL_ERROR: /* said why */
        return NH_EXIT_USAGE;
    default:
        usage(stderr);
        return NH_EXIT_USAGE;
    }
}

void nh_cli_print_version(FILE *f, bool json)
{
    if (!json) {
        fprintf(f, "nodeherd %s\n", NH_VERSION);
        return;
    }
    /* The libraries are the ones this process runs with (their run-time
     * version calls), which is what a bug report needs. */
    json_object *o = json_object_new_object(), *libs = json_object_new_object();
    if (o == NULL || libs == NULL) {
        json_object_put(o);
        json_object_put(libs);
        fprintf(f, "{\"name\":\"nodeherd\",\"version\":\"%s\"}\n", NH_VERSION);
        return;
    }
    json_object_object_add(o, "name", json_object_new_string("nodeherd"));
    json_object_object_add(o, "version", json_object_new_string(NH_VERSION));
    json_object_object_add(libs, "libcurl",
                           json_object_new_string(curl_version_info(CURLVERSION_NOW)->version));
    json_object_object_add(libs, "libuv", json_object_new_string(uv_version_string()));
    json_object_object_add(libs, "libyaml", json_object_new_string(yaml_get_version_string()));
    json_object_object_add(libs, "json-c", json_object_new_string(json_c_version()));
    json_object_object_add(libs, "libmicrohttpd", json_object_new_string(MHD_get_version()));
    json_object_object_add(libs, "openssl",
                           json_object_new_string(OpenSSL_version(OPENSSL_VERSION)));
    json_object_object_add(o, "libraries", libs);
    fprintf(f, "%s\n", json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY));
    json_object_put(o);
}

int nh_cli_global_opt(struct nh_global_opts *g, int c, const char *arg)
{
    switch (c) {
    case 'c':
        g->config_path = arg;
        return 1;
    case NH_OPT_LOG_FORMAT:
        if (nh_log_format_from_string(arg) < 0) {
            fprintf(stderr,
                    "nodeherd: --log-format: expected auto, plain, journal or json, got \"%s\"\n",
                    arg);
            g->usage_error = "--log-format: expected auto, plain, journal or json";
            return -1;
        }
        g->log_format = arg;
        return 1;
    case NH_OPT_LOG_LEVEL:
        if (nh_log_level_from_string(arg) < 0) {
            fprintf(stderr,
                    "nodeherd: --log-level: expected err, warning, notice, info or debug, got "
                    "\"%s\"\n",
                    arg);
            g->usage_error = "--log-level: expected err, warning, notice, info or debug";
            return -1;
        }
        g->log_level = arg;
        return 1;
    case NH_OPT_ALLOW_ENDPOINT: /* endpoint overrides outside the clouds' domains: config.h */
        if (nh_config_allow_endpoint(arg) < 0) {
            fprintf(stderr,
                    "nodeherd: --allow-endpoint: expected a host name or address (at most %d of "
                    "them), got \"%s\"\n",
                    NH_CONFIG_MAX_ALLOWED_ENDPOINTS, arg);
            g->usage_error = "--allow-endpoint: expected a host name or address";
            return -1;
        }
        return 1;
    case 'V':
        nh_cli_print_version(stdout, false);
        exit(NH_EXIT_OK);
    default:
        return 0;
    }
}

int nh_cli_getopt(int argc, char *const argv[], const char *shortopts,
                  const struct option *longopts, struct nh_global_opts *g)
{
    /* Rebuilt when the subcommand's table changes (once per process). */
    static struct option merged[MAX_MERGED];
    static char shorts[64];
    static const struct option *built_for;

    if (built_for != longopts) {
        size_t n = 0;
        for (size_t i = 0; longopts != NULL && longopts[i].name != NULL; i++)
            if (n < MAX_MERGED - N_GLOBAL - 1)
                merged[n++] = longopts[i];
        for (size_t i = 0; i < N_GLOBAL; i++)
            merged[n++] = nh_cli_global_longopts[i];
        merged[n] = (struct option){NULL, 0, NULL, 0};
        snprintf(shorts, sizeof(shorts), "%s%s", shortopts ? shortopts : "",
                 NH_CLI_GLOBAL_SHORTOPTS);
        built_for = longopts;
    }
    for (;;) {
        int c = getopt_long(argc, argv, shorts, merged, NULL);
        if (c == -1 || c == '?')
            return c;
        int r = nh_cli_global_opt(g, c, optarg);
        if (r < 0)
            return NH_CLI_GLOBAL_ERROR;
        if (r == 0)
            return c;
    }
}
