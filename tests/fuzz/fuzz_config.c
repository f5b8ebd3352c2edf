/* fuzz_config.c - nh_config_load_buffer on arbitrary bytes.
 *
 * Checks, whatever the input: no crash, no leak, no undefined behaviour;
 * the result is either a config with no error in the diag, or no config
 * and at least one error (or -ENOMEM); every diag entry has a non-empty
 * message, non-negative LINE:COL within the input, and the file name given;
 * a loaded config is internally consistent (clusters resolve to a provider
 * of the config, bounds ordered, counts inside the bounds, qps/burst
 * positive); and the bytes of the secrets that the input may reference
 * ({ env: NHF_AK } ... and { file: ak } ... under $CREDENTIALS_DIRECTORY)
 * never show up in any diag message.
 *
 * Setup (LLVMFuzzerInitialize): a private credentials directory with files
 * ak, sk, pw (mode 0600) and env variables NHF_AK, NHF_SK, NHF_PW, so that
 * inputs can get past secret loading and reach the cross checks. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config/config.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CANARY_FILE "FUZZ-CANARY-file-9d2e"
#define CANARY_ENV "FUZZ-CANARY-env-41ab"

static char cred_dir[64];

static void cleanup(void)
{
    static const char *const names[] = {"ak", "sk", "pw"};
    char p[128];
    for (size_t i = 0; i < 3; i++) {
        snprintf(p, sizeof(p), "%s/%s", cred_dir, names[i]);
        unlink(p);
    }
    rmdir(cred_dir);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    static const char *const names[] = {"ak", "sk", "pw"};
    snprintf(cred_dir, sizeof(cred_dir), "/tmp/nh-fuzz-config-XXXXXX");
    if (mkdtemp(cred_dir) == NULL)
        abort();
    for (size_t i = 0; i < 3; i++) {
        char p[128];
        snprintf(p, sizeof(p), "%s/%s", cred_dir, names[i]);
        FILE *f = fopen(p, "w");
        if (f == NULL)
            abort();
        fprintf(f, "%s-%s\n", CANARY_FILE, names[i]);
        fclose(f);
        chmod(p, 0600);
    }
    atexit(cleanup);
    setenv("CREDENTIALS_DIRECTORY", cred_dir, 1);
    setenv("NHF_AK", CANARY_ENV "-ak", 1);
    setenv("NHF_SK", CANARY_ENV "-sk", 1);
    setenv("NHF_PW", CANARY_ENV "-pw", 1);
    return 0;
}

static int contains(const uint8_t *data, size_t size, const char *needle)
{
    size_t n = strlen(needle);
    for (size_t i = 0; i + n <= size; i++)
        if (memcmp(data + i, needle, n) == 0)
            return 1;
    return 0;
}

static void check_config(const struct nh_config *c)
{
    if (c->refs != 1)
        abort();
    for (size_t i = 0; i < c->n_providers; i++) {
        const struct nh_cfg_provider *p = &c->providers[i];
        if (p->name == NULL || p->name[0] == '\0' || p->region == NULL)
            abort();
        if (!(p->qps > 0) || p->burst < 1)
            abort();
        if (nh_config_provider(c, p->name) == NULL)
            abort();
        switch (p->kind) {
        case NH_PROVIDER_ACK:
            if (p->access_key_id == NULL || p->access_key_secret == NULL)
                abort();
            break;
        case NH_PROVIDER_CCE:
        case NH_PROVIDER_MODELARTS:
            if (p->project_id == NULL)
                abort();
            if (p->token == NULL && (p->access_key_id == NULL || p->access_key_secret == NULL))
                abort();
            break;
        }
    }
    for (size_t i = 0; i < c->n_clusters; i++) {
        const struct nh_cfg_cluster *cl = &c->clusters[i];
        int ok = 0;
        for (size_t j = 0; j < c->n_providers; j++)
            ok |= cl->provider == &c->providers[j];
        if (!ok || cl->name == NULL || nh_config_cluster(c, cl->name) != cl)
            abort();
        if (cl->min > cl->max || cl->min < 0)
            abort();
        if (cl->workers != -1 && (cl->workers < cl->min || cl->workers > cl->max))
            abort();
        if (cl->scale_in.max_per_cycle < 1)
            abort();
        if (cl->prune && !cl->pools_declared)
            abort();
        for (size_t k = 0; k < cl->n_pools; k++) {
            const struct nh_cfg_pool *p = &cl->pools[k];
            if (p->name == NULL || p->min > p->max || p->min < 0)
                abort();
            if (p->nodes != -1 && (p->nodes < p->min || p->nodes > p->max))
                abort();
        }
    }
    if (!(c->daemon.max_removal_share > 0) || c->daemon.max_removal_share > 1.0)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct nh_config *cfg = NULL;
    struct nh_diag d;
    nh_diag_init(&d);
    int r = nh_config_load_buffer("fuzz.yaml", (const char *)data, size, &cfg, &d);
    if (r == 0) {
        if (cfg == NULL || d.n_errors != 0)
            abort();
        check_config(cfg);
    } else {
        if (r > 0 || cfg != NULL)
            abort();
        if (r != -ENOMEM && d.n_errors == 0)
            abort();
    }
    if (d.n > NH_DIAG_MAX)
        abort();
    for (size_t i = 0; i < d.n; i++) {
        const struct nh_diag_entry *e = &d.entries[i];
        if (e->msg == NULL || e->msg[0] == '\0' || e->line < 0 || e->col < 0)
            abort();
        if (e->file == NULL || strcmp(e->file, "fuzz.yaml") != 0)
            abort();
        /* a position never lies past the input's last line */
        size_t lines = 1;
        for (size_t k = 0; k < size; k++)
            lines += data[k] == '\n' || data[k] == '\r' || data[k] == 0x85 || data[k] == 0xa8 ||
                     data[k] == 0xa9; /* libyaml's line breaks (upper bound) */
        if ((size_t)e->line > lines + 1)
            abort();
        /* (the fuzzer may learn the canary and write it into the input:
         * quoting the input back is fine, leaking a secret's value is not) */
        if ((strstr(e->msg, CANARY_FILE) && !contains(data, size, CANARY_FILE)) ||
            (strstr(e->msg, CANARY_ENV) && !contains(data, size, CANARY_ENV)))
            abort();
    }
    nh_diag_free(&d);
    nh_config_unref(cfg);
    return 0;
}
