/* test_config_files.c - nh_config_load on real files: file checks, secrets
 * resolved next to the file or in $CREDENTIALS_DIRECTORY, the revision
 * (fake .git checkouts), and the shipped example configurations. */
#include "testfs.h"

#include <errno.h>
#include <openssl/evp.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <cmocka.h>

#include "config/config.h"

#define SHA_A "0123456789abcdef0123456789abcdef01234567"
#define SHA_B "89abcdef0123456789abcdef0123456789abcdef"
#define SHA_C "fedcba9876543210fedcba9876543210fedcba98"

#define MINIMAL "providers: {}\nclusters: []\n"

struct fx {
    char *dir;
};

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));
    if (f == NULL || (f->dir = tfs_mkdtemp()) == NULL)
        return -1;
    unsetenv("CREDENTIALS_DIRECTORY");
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    tfs_rmrf(f->dir);
    free(f);
    unsetenv("CREDENTIALS_DIRECTORY");
    unsetenv("HW_AK");
    return 0;
}

static int load(const char *dir, const char *name, struct nh_config **cfg, struct nh_diag *d)
{
    char path[PATH_MAX];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    nh_diag_init(d);
    *cfg = NULL;
    return nh_config_load(path, cfg, d);
}

static char *sha256_rev(const char *s)
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    assert_true(EVP_Digest(s, strlen(s), md, &n, EVP_sha256(), NULL));
    char *r = malloc(7 + 16 + 1);
    strcpy(r, "sha256:");
    for (int i = 0; i < 8; i++)
        sprintf(r + 7 + 2 * i, "%02x", md[i]);
    return r;
}

static void test_files_missing_directory_fifo_refused(void **state)
{
    struct fx *f = *state;
    struct nh_config *cfg;
    struct nh_diag d;
    assert_int_equal(load(f->dir, "absent.yaml", &cfg, &d), -ENOENT);
    assert_null(cfg);
    assert_int_equal(d.entries[0].line, 0);
    assert_non_null(strstr(d.entries[0].msg, "cannot open the configuration file"));
    assert_non_null(strstr(d.entries[0].msg, "--config"));
    nh_diag_free(&d);

    assert_int_equal(tfs_mkdir(f->dir, "adir"), 0);
    assert_int_equal(load(f->dir, "adir", &cfg, &d), -EINVAL);
    assert_string_equal(d.entries[0].msg, "not a regular file; point --config at a YAML file");
    nh_diag_free(&d);

    char fifo[PATH_MAX];
    snprintf(fifo, sizeof(fifo), "%s/fifo", f->dir);
    assert_int_equal(mkfifo(fifo, 0600), 0);
    assert_int_equal(load(f->dir, "fifo", &cfg, &d), -EINVAL); /* and does not hang */
    assert_string_equal(d.entries[0].msg, "not a regular file; point --config at a YAML file");
    nh_diag_free(&d);
}

static void test_files_size_limit_is_one_mib(void **state)
{
    struct fx *f = *state;
    size_t cap = 1024 * 1024;
    char *buf = malloc(cap + 2);
    assert_non_null(buf);
    /* exactly 1 MiB: a valid file padded with a comment */
    memcpy(buf, MINIMAL "#", sizeof(MINIMAL));
    memset(buf + sizeof(MINIMAL), 'x', cap - sizeof(MINIMAL) - 1);
    buf[cap - 1] = '\n';
    assert_int_equal(tfs_write(f->dir, "max.yaml", buf, cap, 0600), 0);
    struct nh_config *cfg;
    struct nh_diag d;
    assert_int_equal(load(f->dir, "max.yaml", &cfg, &d), 0);
    nh_config_unref(cfg);
    nh_diag_free(&d);
    /* one byte more */
    buf[cap - 1] = 'x';
    buf[cap] = '\n';
    assert_int_equal(tfs_write(f->dir, "big.yaml", buf, cap + 1, 0600), 0);
    assert_int_equal(load(f->dir, "big.yaml", &cfg, &d), -EFBIG);
    assert_null(cfg);
    assert_int_equal(d.n_errors, 1);
    assert_non_null(strstr(d.entries[0].msg, "file is larger than 1 MiB"));
    nh_diag_free(&d);
    free(buf);
}

#define ACK_FILE_CREDS(AK)                                                                         \
    "providers:\n"                                                                                 \
    "  ack:\n"                                                                                     \
    "    kind: aliyun-ack\n"                                                                       \
    "    region: cn-hangzhou\n"                                                                    \
    "    credentials:\n"                                                                           \
    "      access_key_id: { file: " AK " }\n"                                                      \
    "      access_key_secret: { file: ack-sk }\n"                                                  \
    "clusters: []\n"

static void test_files_secrets_next_to_config_or_in_credentials_directory(void **state)
{
    struct fx *f = *state;
    char *creds = tfs_mkdtemp();
    assert_non_null(creds);
    assert_int_equal(tfs_writes(f->dir, "c.yaml", ACK_FILE_CREDS("ack-ak"), 0644), 0);
    assert_int_equal(tfs_writes(f->dir, "ack-ak", "AK-next-to-config\n", 0600), 0);
    assert_int_equal(tfs_writes(f->dir, "ack-sk", "SK-next-to-config\n", 0600), 0);
    assert_int_equal(tfs_writes(creds, "ack-ak", "AK-from-credentials-dir\n", 0400), 0);
    assert_int_equal(tfs_writes(creds, "ack-sk", "SK-from-credentials-dir\n", 0400), 0);

    struct nh_config *cfg;
    struct nh_diag d;
    assert_int_equal(load(f->dir, "c.yaml", &cfg, &d), 0);
    size_t len;
    const unsigned char *b = nh_secret_bytes(cfg->providers[0].access_key_id, &len);
    assert_int_equal(len, 17);
    assert_memory_equal(b, "AK-next-to-config", 17);
    assert_string_equal(nh_secret_describe(cfg->providers[0].access_key_id), "file ack-ak");
    nh_config_unref(cfg);
    nh_diag_free(&d);

    setenv("CREDENTIALS_DIRECTORY", creds, 1);
    assert_int_equal(load(f->dir, "c.yaml", &cfg, &d), 0);
    b = nh_secret_bytes(cfg->providers[0].access_key_secret, &len);
    assert_int_equal(len, 23);
    assert_memory_equal(b, "SK-from-credentials-dir", 23);
    nh_config_unref(cfg);
    nh_diag_free(&d);
    tfs_rmrf(creds);
}

static void test_files_secret_permissions_via_config(void **state)
{
    struct fx *f = *state;
    assert_int_equal(tfs_writes(f->dir, "c.yaml", ACK_FILE_CREDS("ack-ak"), 0644), 0);
    assert_int_equal(tfs_writes(f->dir, "ack-ak", "WORLD-READABLE-VALUE\n", 0644), 0);
    assert_int_equal(tfs_writes(f->dir, "ack-sk", "GROUP-READABLE-VALUE\n", 0640), 0);
    struct nh_config *cfg;
    struct nh_diag d;
    assert_int_equal(load(f->dir, "c.yaml", &cfg, &d), -EINVAL);
    assert_int_equal(d.n_errors, 1);
    assert_int_equal(d.n, 2); /* the error and the group warning */
    assert_int_equal(d.entries[0].severity, NH_DIAG_ERROR);
    assert_int_equal(d.entries[0].line, 6);
    assert_int_equal(d.entries[0].col, 24);
    char want[PATH_MAX + 128];
    snprintf(want, sizeof(want),
             "providers.ack.credentials.access_key_id: credential file %s/ack-ak is readable "
             "by other users; chmod 600 %s/ack-ak",
             f->dir, f->dir);
    assert_string_equal(d.entries[0].msg, want);
    assert_int_equal(d.entries[1].severity, NH_DIAG_WARNING);
    assert_non_null(strstr(d.entries[1].msg, "is readable by its group"));
    for (size_t i = 0; i < d.n; i++)
        assert_null(strstr(d.entries[i].msg, "READABLE-VALUE"));
    nh_diag_free(&d);

    /* a group-readable file alone: loads, with the warning */
    assert_int_equal(chmod(strcat(strcpy(want, f->dir), "/ack-ak"), 0600), 0);
    assert_int_equal(load(f->dir, "c.yaml", &cfg, &d), 0);
    assert_int_equal(d.n_errors, 0);
    assert_int_equal(d.n, 1);
    assert_int_equal(d.entries[0].severity, NH_DIAG_WARNING);
    nh_config_unref(cfg);
    nh_diag_free(&d);
}

static void test_files_revision_sha256_without_git(void **state)
{
    struct fx *f = *state;
    assert_int_equal(tfs_writes(f->dir, "c.yaml", MINIMAL, 0600), 0);
    struct nh_config *cfg;
    struct nh_diag d;
    assert_int_equal(load(f->dir, "c.yaml", &cfg, &d), 0);
    char *want = sha256_rev(MINIMAL);
    assert_string_equal(cfg->revision, want);
    free(want);
    nh_config_unref(cfg);
    nh_diag_free(&d);
    /* one byte more, another revision */
    assert_int_equal(tfs_writes(f->dir, "c.yaml", MINIMAL "\n", 0600), 0);
    assert_int_equal(load(f->dir, "c.yaml", &cfg, &d), 0);
    want = sha256_rev(MINIMAL "\n");
    assert_string_equal(cfg->revision, want);
    free(want);
    nh_config_unref(cfg);
    nh_diag_free(&d);
}

static void expect_revision(const char *dir, const char *name, const char *want)
{
    struct nh_config *cfg;
    struct nh_diag d;
    assert_int_equal(load(dir, name, &cfg, &d), 0);
    assert_string_equal(cfg->revision, want);
    nh_config_unref(cfg);
    nh_diag_free(&d);
}

static void test_files_revision_git_loose_ref_packed_ref_detached(void **state)
{
    struct fx *f = *state;
    assert_int_equal(tfs_mkdir(f->dir, ".git"), 0);
    assert_int_equal(tfs_mkdir(f->dir, ".git/refs"), 0);
    assert_int_equal(tfs_mkdir(f->dir, ".git/refs/heads"), 0);
    assert_int_equal(tfs_mkdir(f->dir, "deploy"), 0);
    assert_int_equal(tfs_mkdir(f->dir, "deploy/prod"), 0);
    assert_int_equal(tfs_writes(f->dir, "deploy/prod/c.yaml", MINIMAL, 0644), 0);
    assert_int_equal(tfs_writes(f->dir, ".git/HEAD", "ref: refs/heads/main\n", 0644), 0);
    /* loose ref, found from two directories down */
    assert_int_equal(tfs_writes(f->dir, ".git/refs/heads/main", SHA_A "\n", 0644), 0);
    expect_revision(f->dir, "deploy/prod/c.yaml", "git:" SHA_A);
    /* packed ref (after `git gc`): the loose file is gone */
    char p[PATH_MAX];
    snprintf(p, sizeof(p), "%s/.git/refs/heads/main", f->dir);
    assert_int_equal(unlink(p), 0);
    assert_int_equal(tfs_writes(f->dir, ".git/packed-refs",
                                "# pack-refs with: peeled fully-peeled sorted \n" SHA_C
                                " refs/heads/feature\n" SHA_B " refs/heads/main\n^" SHA_C "\n",
                                0644),
                     0);
    expect_revision(f->dir, "deploy/prod/c.yaml", "git:" SHA_B);
    /* detached HEAD */
    assert_int_equal(tfs_writes(f->dir, ".git/HEAD", SHA_C "\n", 0644), 0);
    expect_revision(f->dir, "deploy/prod/c.yaml", "git:" SHA_C);
    /* a HEAD naming a ref that exists nowhere: falls back, never fails */
    assert_int_equal(tfs_writes(f->dir, ".git/HEAD", "ref: refs/heads/gone\n", 0644), 0);
    char *want = sha256_rev(MINIMAL);
    expect_revision(f->dir, "deploy/prod/c.yaml", want);
    /* garbage HEAD, and a ref escaping the git dir: the same */
    assert_int_equal(tfs_writes(f->dir, ".git/HEAD", "\x01\x02garbage", 0644), 0);
    expect_revision(f->dir, "deploy/prod/c.yaml", want);
    assert_int_equal(tfs_writes(f->dir, ".git/HEAD", "ref: refs/../../../etc/passwd\n", 0644), 0);
    expect_revision(f->dir, "deploy/prod/c.yaml", want);
    free(want);
}

/* git worktrees and git-sync: .git is a file "gitdir: PATH"; branch refs
 * live in the common directory; the config is reached through a symlink. */
static void test_files_revision_gitdir_file_worktree_and_symlink(void **state)
{
    struct fx *f = *state;
    static const char *const dirs[] = {"repo",
                                       "repo/.git",
                                       "repo/.git/refs",
                                       "repo/.git/refs/heads",
                                       "repo/.git/worktrees",
                                       "repo/.git/worktrees/wt",
                                       "wt"};
    for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++)
        assert_int_equal(tfs_mkdir(f->dir, dirs[i]), 0);
    assert_int_equal(tfs_writes(f->dir, "wt/.git", "gitdir: ../repo/.git/worktrees/wt\n", 0644), 0);
    assert_int_equal(
        tfs_writes(f->dir, "repo/.git/worktrees/wt/HEAD", "ref: refs/heads/release\n", 0644), 0);
    assert_int_equal(tfs_writes(f->dir, "repo/.git/worktrees/wt/commondir", "../..\n", 0644), 0);
    assert_int_equal(tfs_writes(f->dir, "repo/.git/refs/heads/release", SHA_B "\n", 0644), 0);
    assert_int_equal(tfs_writes(f->dir, "wt/c.yaml", MINIMAL, 0644), 0);
    expect_revision(f->dir, "wt/c.yaml", "git:" SHA_B);

    /* absolute gitdir, detached (git-sync checks out a commit) */
    char line[PATH_MAX + 16];
    snprintf(line, sizeof(line), "gitdir: %s/repo/.git/worktrees/wt\n", f->dir);
    assert_int_equal(tfs_writes(f->dir, "wt/.git", line, 0644), 0);
    assert_int_equal(tfs_writes(f->dir, "repo/.git/worktrees/wt/HEAD", SHA_A "\n", 0644), 0);
    expect_revision(f->dir, "wt/c.yaml", "git:" SHA_A);

    /* git-sync publishes a symlink "current" -> worktree; the real directory counts */
    char target[PATH_MAX], link[PATH_MAX];
    snprintf(target, sizeof(target), "%s/wt", f->dir);
    snprintf(link, sizeof(link), "%s/current", f->dir);
    assert_int_equal(symlink(target, link), 0);
    expect_revision(f->dir, "current/c.yaml", "git:" SHA_A);
}

static int write_creds(const char *dir)
{
    static const char *const names[] = {"ack-ak", "ack-sk", "hw-ak", "hw-sk", "ack-node-pw"};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if (tfs_writes(dir, names[i], "placeholder-credential\n", 0600) < 0)
            return -1;
    return 0;
}

static void test_files_demo_example_validates(void **state)
{
    struct fx *f = *state;
    assert_int_equal(write_creds(f->dir), 0);
    setenv("CREDENTIALS_DIRECTORY", f->dir, 1);
    struct nh_config *cfg;
    struct nh_diag d;
    assert_int_equal(load(NH_SOURCE_DIR, "config/examples/demo.yaml", &cfg, &d), 0);
    assert_int_equal(d.n, 0);
    assert_int_equal(cfg->daemon.poll_interval_ms, 2000);
    assert_int_equal(cfg->daemon.job_poll_interval_ms, 500);
    assert_string_equal(cfg->daemon.state_dir, "/tmp/nodeherd-demo");
    assert_string_equal(cfg->daemon.listen, "127.0.0.1:0");
    assert_int_equal(cfg->n_providers, 3);
    const struct nh_cfg_provider *cce = nh_config_provider(cfg, "cce-demo");
    assert_int_equal(cce->kind, NH_PROVIDER_CCE);
    assert_string_equal(cce->endpoint, "http://127.0.0.1:18790");
    assert_string_equal(cce->project_id, "0123456789abcdef0123456789abcdef");
    assert_int_equal(nh_config_provider(cfg, "ma-demo")->kind, NH_PROVIDER_MODELARTS);
    assert_int_equal(cfg->n_clusters, 4);
    const struct nh_cfg_cluster *web = nh_config_cluster(cfg, "web");
    assert_int_equal(web->workers, 7);
    assert_true(web->has_scale_out);
    assert_int_equal(web->scale_in.max_per_cycle, 2);
    const struct nh_cfg_cluster *shop = nh_config_cluster(cfg, "shop");
    assert_int_equal(shop->n_pools, 2);
    assert_string_equal(shop->pools[1].name, "np-batch");
    assert_int_equal(shop->pools[1].nodes, 1);
    const struct nh_cfg_cluster *train = nh_config_cluster(cfg, "train");
    assert_string_equal(train->login.ssh_key, "KeyPair-001");
    assert_int_equal(train->pools[0].min, 1);
    assert_int_equal(train->pools[0].max, 8);
    const struct nh_cfg_cluster *ai = nh_config_cluster(cfg, "ai");
    assert_true(ai->prune);
    assert_string_equal(ai->pool, "pool-abc");
    assert_int_equal(ai->pools[0].nodes, 3);
    nh_config_unref(cfg);
    nh_diag_free(&d);
}

/* The shipped config/nodeherd.yaml validates on a fresh clone (no
 * credentials anywhere), and its commented example fleet validates once
 * an operator follows the instructions in it. */
static void test_files_shipped_example_and_its_fleet_validate(void **state)
{
    struct fx *f = *state;
    struct nh_config *cfg;
    struct nh_diag d;
    assert_int_equal(load(NH_SOURCE_DIR, "config/nodeherd.yaml", &cfg, &d), 0);
    assert_int_equal(d.n, 0);
    assert_int_equal(cfg->n_clusters, 0);
    nh_config_unref(cfg);
    nh_diag_free(&d);

    FILE *in = fopen(NH_SOURCE_DIR "/config/nodeherd.yaml", "re");
    assert_non_null(in);
    char *out = NULL;
    size_t outlen = 0;
    FILE *o = open_memstream(&out, &outlen);
    char line[1024];
    int in_block = 0, blocks = 0, dropped = 0;
    while (fgets(line, sizeof(line), in) != NULL) {
        if (strncmp(line, "# --- BEGIN EXAMPLE FLEET", 25) == 0) {
            in_block = 1;
            blocks++;
            continue;
        }
        if (strncmp(line, "# --- END EXAMPLE FLEET", 23) == 0) {
            in_block = 0;
            continue;
        }
        if (in_block) /* uncomment: "# x" -> "x", "#" -> "" */
            fputs(line[1] == ' ' ? line + 2 : line + 1, o);
        else if (strcmp(line, "providers: {}\n") == 0 || strcmp(line, "clusters: []\n") == 0)
            dropped++; /* the operator deletes these two */
        else
            fputs(line, o);
    }
    fclose(in);
    fclose(o);
    assert_int_equal(blocks, 1);
    assert_int_equal(dropped, 2);
    assert_int_equal(tfs_write(f->dir, "fleet.yaml", out, outlen, 0600), 0);
    free(out);
    assert_int_equal(write_creds(f->dir), 0);
    setenv("CREDENTIALS_DIRECTORY", f->dir, 1);
    setenv("HW_AK", "placeholder-hw-ak", 1);
    int r = load(f->dir, "fleet.yaml", &cfg, &d);
    nh_diag_print(&d, stderr);
    assert_int_equal(r, 0);
    assert_int_equal(cfg->n_providers, 3);
    assert_int_equal(cfg->n_clusters, 3);
    assert_int_equal(nh_config_cluster(cfg, "web")->workers, 8);
    assert_true(nh_config_cluster(cfg, "ai")->prune);
    nh_config_unref(cfg);
    nh_diag_free(&d);
}

/* The first example of nodeherd.yaml(5) is a valid configuration. */
static void test_files_man_page_example_validates(void **state)
{
    struct fx *f = *state;
    FILE *in = fopen(NH_SOURCE_DIR "/man/nodeherd.yaml.5", "re");
    assert_non_null(in);
    char *out = NULL;
    size_t outlen = 0;
    FILE *o = open_memstream(&out, &outlen);
    char line[1024];
    int state_ = 0; /* 0 before, 1 inside the first .EX, 2 after */
    while (state_ < 2 && fgets(line, sizeof(line), in) != NULL) {
        if (state_ == 0 && strcmp(line, ".EX\n") == 0)
            state_ = 1;
        else if (state_ == 1 && strcmp(line, ".EE\n") == 0)
            state_ = 2;
        else if (state_ == 1) {
            assert_null(strchr(line, '\\')); /* no roff escapes to undo */
            fputs(line, o);
        }
    }
    fclose(in);
    fclose(o);
    assert_int_equal(state_, 2);
    assert_int_equal(tfs_write(f->dir, "man.yaml", out, outlen, 0600), 0);
    free(out);
    /* every secret of the example is a file, as its LoadCredential= drop-in
     * hands them over (no Environment=: the unit says never to) */
    static const char *const names[] = {"ack-ak", "ack-sk", "ack-node-pw",
                                        "hw-ak",  "hw-sk",  "hw-token"};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        assert_int_equal(tfs_writes(f->dir, names[i], "placeholder\n", 0600), 0);
    unsetenv("HW_AK");
    struct nh_config *cfg;
    struct nh_diag d;
    int r = load(f->dir, "man.yaml", &cfg, &d);
    nh_diag_print(&d, stderr);
    assert_int_equal(r, 0);
    assert_int_equal(cfg->n_clusters, 3);
    assert_non_null(nh_config_provider(cfg, "ma-bj")->token);
    nh_config_unref(cfg);
    nh_diag_free(&d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_files_missing_directory_fifo_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_files_size_limit_is_one_mib, setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_files_secrets_next_to_config_or_in_credentials_directory, setup, teardown),
        cmocka_unit_test_setup_teardown(test_files_secret_permissions_via_config, setup, teardown),
        cmocka_unit_test_setup_teardown(test_files_revision_sha256_without_git, setup, teardown),
        cmocka_unit_test_setup_teardown(test_files_revision_git_loose_ref_packed_ref_detached,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_files_revision_gitdir_file_worktree_and_symlink, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_files_demo_example_validates, setup, teardown),
        cmocka_unit_test_setup_teardown(test_files_shipped_example_and_its_fleet_validate, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_files_man_page_example_validates, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
