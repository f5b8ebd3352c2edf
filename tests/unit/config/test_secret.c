/* test_secret.c - secrets from files and environment variables. */
#include "testfs.h"

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "config/secret.h"

struct fx {
    char *dir;
    char err[1024], warn[1024];
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
    unsetenv("NHT_SECRET");
    return 0;
}

static int load_file(struct fx *f, const char *ref, const char *base, struct nh_secret **s)
{
    f->err[0] = f->warn[0] = 'x';
    return nh_secret_load_at(NH_SECRET_FILE, ref, base, s, f->err, sizeof(f->err), f->warn,
                             sizeof(f->warn));
}

static void test_secret_file_absolute_strips_trailing_newlines(void **state)
{
    struct fx *f = *state;
    char path[PATH_MAX];
    assert_int_equal(tfs_writes(f->dir, "ak", "AKID-123\r\n\n\n", 0600), 0);
    snprintf(path, sizeof(path), "%s/ak", f->dir);
    struct nh_secret *s = NULL;
    assert_int_equal(load_file(f, path, NULL, &s), 0);
    size_t len;
    const unsigned char *b = nh_secret_bytes(s, &len);
    assert_int_equal(len, 8);
    assert_memory_equal(b, "AKID-123", 8);
    assert_int_equal(b[8], 0); /* a NUL follows the bytes */
    assert_string_equal(f->warn, "");
    char want[PATH_MAX + 8];
    snprintf(want, sizeof(want), "file %s", path);
    assert_string_equal(nh_secret_describe(s), want);
    nh_secret_free(s);
}

static void test_secret_file_inner_newlines_kept(void **state)
{
    struct fx *f = *state;
    assert_int_equal(tfs_writes(f->dir, "pem", "line1\nline2\n", 0600), 0);
    struct nh_secret *s = NULL;
    assert_int_equal(load_file(f, "pem", f->dir, &s), 0);
    size_t len;
    const unsigned char *b = nh_secret_bytes(s, &len);
    assert_int_equal(len, 11);
    assert_memory_equal(b, "line1\nline2", 11);
    nh_secret_free(s);
}

static void test_secret_file_relative_uses_credentials_directory(void **state)
{
    struct fx *f = *state;
    char *other = tfs_mkdtemp();
    assert_non_null(other);
    assert_int_equal(tfs_writes(f->dir, "sk", "from-cred-dir\n", 0400), 0);
    assert_int_equal(tfs_writes(other, "sk", "from-config-dir\n", 0600), 0);
    setenv("CREDENTIALS_DIRECTORY", f->dir, 1);
    struct nh_secret *s = NULL;
    assert_int_equal(load_file(f, "sk", other, &s), 0); /* $CREDENTIALS_DIRECTORY wins */
    size_t len;
    const unsigned char *b = nh_secret_bytes(s, &len);
    assert_int_equal(len, 13);
    assert_memory_equal(b, "from-cred-dir", 13);
    assert_string_equal(nh_secret_describe(s), "file sk");
    nh_secret_free(s);

    unsetenv("CREDENTIALS_DIRECTORY"); /* now the config directory */
    assert_int_equal(load_file(f, "sk", other, &s), 0);
    b = nh_secret_bytes(s, &len);
    assert_int_equal(len, 15);
    assert_memory_equal(b, "from-config-dir", 15);
    nh_secret_free(s);

    setenv("CREDENTIALS_DIRECTORY", "", 1); /* empty counts as unset */
    assert_int_equal(load_file(f, "sk", other, &s), 0);
    b = nh_secret_bytes(s, &len);
    assert_int_equal(len, 15);
    nh_secret_free(s);
    tfs_rmrf(other);
}

static void test_secret_file_missing_names_resolved_path_and_fix(void **state)
{
    struct fx *f = *state;
    setenv("CREDENTIALS_DIRECTORY", f->dir, 1);
    struct nh_secret *s = (struct nh_secret *)0x1;
    assert_int_equal(load_file(f, "nope", NULL, &s), -ENOENT);
    assert_null(s);
    char want[PATH_MAX + 64];
    snprintf(want, sizeof(want), "credential file %s/nope ($CREDENTIALS_DIRECTORY) does not exist",
             f->dir);
    assert_non_null(strstr(f->err, want));
    assert_non_null(strstr(f->err, "LoadCredential=nope:PATH"));
}

static void test_secret_file_world_readable_refused_group_readable_warns(void **state)
{
    struct fx *f = *state;
    assert_int_equal(tfs_writes(f->dir, "open", "TOPSECRETVALUE\n", 0644), 0);
    assert_int_equal(tfs_writes(f->dir, "grp", "TOPSECRETVALUE\n", 0640), 0);
    struct nh_secret *s = NULL;
    assert_int_equal(load_file(f, "open", f->dir, &s), -EPERM);
    assert_null(s);
    assert_non_null(strstr(f->err, "is readable by other users; chmod 600"));
    assert_null(strstr(f->err, "TOPSECRET"));

    assert_int_equal(load_file(f, "grp", f->dir, &s), 0);
    assert_non_null(s);
    assert_non_null(strstr(f->warn, "is readable by its group"));
    assert_null(strstr(f->warn, "TOPSECRET"));
    nh_secret_free(s);
}

/* A Kubernetes Secret volume (defaultMode 0440 with fsGroup): the kubelet's
 * layout NAME -> ..data/NAME, ..data -> ..TIMESTAMP/. The group bit comes
 * from the manifest and the mount is read-only: no warning on every load.
 * The same mode anywhere else still warns, symlink or not. */
static void test_secret_file_group_readable_in_kubernetes_volume_is_quiet(void **state)
{
    struct fx *f = *state;
    char p[256], q[512];
    assert_int_equal(tfs_mkdir(f->dir, "k8s"), 0);
    snprintf(p, sizeof(p), "%s/k8s", f->dir);
    assert_int_equal(tfs_mkdir(p, "..2024_05_01_10_00_00.123456789"), 0);
    snprintf(q, sizeof(q), "%s/..2024_05_01_10_00_00.123456789", p);
    assert_int_equal(tfs_writes(q, "ak", "AKID\n", 0440), 0);
    snprintf(q, sizeof(q), "%s/..data", p);
    assert_int_equal(symlink("..2024_05_01_10_00_00.123456789", q), 0);
    snprintf(q, sizeof(q), "%s/ak", p);
    assert_int_equal(symlink("..data/ak", q), 0);
    setenv("CREDENTIALS_DIRECTORY", p, 1);
    struct nh_secret *s = NULL;
    assert_int_equal(load_file(f, "ak", NULL, &s), 0);
    assert_string_equal(f->warn, "");
    nh_secret_free(s);
    s = NULL;
    unsetenv("CREDENTIALS_DIRECTORY");
    assert_int_equal(load_file(f, q, NULL, &s), 0); /* by absolute path too */
    assert_string_equal(f->warn, "");
    nh_secret_free(s);
    s = NULL;

    /* a link that is not the kubelet's layout: the group bit is worth a word */
    assert_int_equal(tfs_writes(f->dir, "real", "AKID\n", 0440), 0);
    snprintf(q, sizeof(q), "%s/other", f->dir);
    assert_int_equal(symlink("real", q), 0);
    assert_int_equal(load_file(f, "other", f->dir, &s), 0);
    assert_non_null(strstr(f->warn, "is readable by its group"));
    nh_secret_free(s);
    s = NULL;
    /* ..data/NAME without a ..data link next to it is not the layout either */
    assert_int_equal(tfs_mkdir(f->dir, "fake"), 0);
    snprintf(p, sizeof(p), "%s/fake", f->dir);
    assert_int_equal(tfs_mkdir(p, "..data"), 0);
    snprintf(q, sizeof(q), "%s/fake/..data", f->dir);
    assert_int_equal(tfs_writes(q, "ak", "AKID\n", 0440), 0);
    snprintf(q, sizeof(q), "%s/fake/ak", f->dir);
    assert_int_equal(symlink("..data/ak", q), 0);
    assert_int_equal(load_file(f, "ak", p, &s), 0);
    assert_non_null(strstr(f->warn, "is readable by its group"));
    nh_secret_free(s);
}

static void test_secret_file_empty_dir_and_oversize_refused(void **state)
{
    struct fx *f = *state;
    struct nh_secret *s = NULL;
    assert_int_equal(tfs_writes(f->dir, "empty", "\n\n", 0600), 0);
    assert_int_equal(load_file(f, "empty", f->dir, &s), -ENODATA);
    assert_non_null(strstr(f->err, "is empty"));
    assert_int_equal(tfs_mkdir(f->dir, "adir"), 0);
    assert_int_equal(load_file(f, "adir", f->dir, &s), -EINVAL);
    assert_non_null(strstr(f->err, "not a regular file"));
    char *big = malloc(NH_SECRET_MAX + 1);
    assert_non_null(big);
    memset(big, 'k', NH_SECRET_MAX + 1);
    assert_int_equal(tfs_write(f->dir, "big", big, NH_SECRET_MAX + 1, 0600), 0);
    assert_int_equal(load_file(f, "big", f->dir, &s), -EFBIG);
    assert_non_null(strstr(f->err, "larger than 64 KiB"));
    /* exactly the limit is fine */
    assert_int_equal(tfs_write(f->dir, "max", big, NH_SECRET_MAX, 0600), 0);
    assert_int_equal(load_file(f, "max", f->dir, &s), 0);
    size_t len;
    nh_secret_bytes(s, &len);
    assert_int_equal(len, NH_SECRET_MAX);
    nh_secret_free(s);
    free(big);
}

static void test_secret_env_set_unset_empty_invalid(void **state)
{
    struct fx *f = *state;
    struct nh_secret *s = NULL;
    nh_secret_env_forget();
    setenv("NHT_SECRET", "hunter2", 1);
    assert_int_equal(nh_secret_load(NH_SECRET_ENV, "NHT_SECRET", &s, f->err, sizeof(f->err),
                                    f->warn, sizeof(f->warn)),
                     0);
    size_t len;
    assert_memory_equal(nh_secret_bytes(s, &len), "hunter2", 7);
    assert_int_equal(len, 7);
    assert_string_equal(nh_secret_describe(s), "env NHT_SECRET");
    nh_secret_free(s);

    nh_secret_env_forget();
    setenv("NHT_SECRET", "", 1);
    assert_int_equal(
        nh_secret_load(NH_SECRET_ENV, "NHT_SECRET", &s, f->err, sizeof(f->err), NULL, 0), -ENOENT);
    assert_string_equal(f->err, "environment variable NHT_SECRET is empty; set it for the "
                                "service or use { file: NAME }");
    unsetenv("NHT_SECRET");
    assert_int_equal(
        nh_secret_load(NH_SECRET_ENV, "NHT_SECRET", &s, f->err, sizeof(f->err), NULL, 0), -ENOENT);
    assert_non_null(strstr(f->err, "NHT_SECRET is not set"));
    /* an invalid name is not echoed: it may be a pasted secret */
    assert_int_equal(
        nh_secret_load(NH_SECRET_ENV, "pa55-w0rd!", &s, f->err, sizeof(f->err), NULL, 0), -EINVAL);
    assert_null(strstr(f->err, "pa55"));
    assert_null(s);
}

static void test_secret_env_removed_once_read_and_kept_for_reloads(void **state)
{
    struct fx *f = *state;
    struct nh_secret *s = NULL;
    size_t len;
    nh_secret_env_forget();
    setenv("NHT_SECRET", "first-value", 1);
    assert_int_equal(
        nh_secret_load(NH_SECRET_ENV, "NHT_SECRET", &s, f->err, sizeof(f->err), NULL, 0), 0);
    assert_null(getenv("NHT_SECRET")); /* gone from the environment */
    assert_memory_equal(nh_secret_bytes(s, &len), "first-value", 11);
    nh_secret_free(s);
    /* a reload: the value read at first use, not the environment's */
    assert_int_equal(
        nh_secret_load(NH_SECRET_ENV, "NHT_SECRET", &s, f->err, sizeof(f->err), NULL, 0), 0);
    assert_int_equal(len, 11);
    assert_memory_equal(nh_secret_bytes(s, &len), "first-value", 11);
    assert_string_equal(nh_secret_describe(s), "env NHT_SECRET");
    nh_secret_free(s);
    setenv("NHT_SECRET", "second", 1);
    assert_int_equal(
        nh_secret_load(NH_SECRET_ENV, "NHT_SECRET", &s, f->err, sizeof(f->err), NULL, 0), 0);
    assert_memory_equal(nh_secret_bytes(s, &len), "first-value", 11);
    nh_secret_free(s);
    assert_string_equal(getenv("NHT_SECRET"), "second"); /* not read, so not removed */
    nh_secret_env_forget();
    assert_int_equal(
        nh_secret_load(NH_SECRET_ENV, "NHT_SECRET", &s, f->err, sizeof(f->err), NULL, 0), 0);
    assert_memory_equal(nh_secret_bytes(s, &len), "second", 6);
    nh_secret_free(s);
    nh_secret_env_forget();
}

static void test_secret_file_credentials_directory_takes_plain_names_only(void **state)
{
    struct fx *f = *state;
    static const char *const bad[] = {"../sk", "sub/sk", "/etc/sk", "..", ".", "a..b", "./sk"};
    assert_int_equal(tfs_mkdir(f->dir, "sub"), 0);
    assert_int_equal(tfs_writes(f->dir, "sub/sk", "v\n", 0600), 0);
    assert_int_equal(tfs_writes(f->dir, "sk", "v\n", 0600), 0);
    setenv("CREDENTIALS_DIRECTORY", f->dir, 1);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct nh_secret *s = (struct nh_secret *)0x1;
        assert_int_equal(load_file(f, bad[i], NULL, &s), -EINVAL);
        assert_null(s);
        assert_non_null(strstr(f->err, "a plain name inside it (no \"/\", no \"..\")"));
    }
    struct nh_secret *s = NULL;
    assert_int_equal(load_file(f, "sk", NULL, &s), 0);
    nh_secret_free(s);
}

static void test_secret_file_dotdot_refused_without_credentials_directory(void **state)
{
    struct fx *f = *state;
    char path[PATH_MAX];
    assert_int_equal(tfs_mkdir(f->dir, "sub"), 0);
    assert_int_equal(tfs_writes(f->dir, "sk", "v\n", 0600), 0);
    assert_int_equal(tfs_writes(f->dir, "a..b", "w\n", 0600), 0);
    struct nh_secret *s = (struct nh_secret *)0x1;
    assert_int_equal(load_file(f, "sub/../sk", f->dir, &s), -EINVAL);
    assert_null(s);
    assert_non_null(strstr(f->err, "a \"..\" component is not allowed"));
    snprintf(path, sizeof(path), "%s/sub/../sk", f->dir);
    assert_int_equal(load_file(f, path, NULL, &s), -EINVAL);
    assert_int_equal(load_file(f, "../sk", f->dir, &s), -EINVAL);
    /* ".." inside a name is no component */
    assert_int_equal(load_file(f, "a..b", f->dir, &s), 0);
    nh_secret_free(s);
}

static void test_secret_file_writable_by_others_refused(void **state)
{
    struct fx *f = *state;
    static const struct {
        mode_t mode;
        const char *who;
    } cases[] = {
        {0620, "its group"}, {0602, "other users"}, {0622, "other users"}, {0660, "its group"}};
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        assert_int_equal(tfs_writes(f->dir, "pw", "TOPSECRETVALUE\n", cases[i].mode), 0);
        struct nh_secret *s = (struct nh_secret *)0x1;
        assert_int_equal(load_file(f, "pw", f->dir, &s), -EPERM);
        assert_null(s);
        char want[128];
        snprintf(want, sizeof(want), "is writable by %s; chmod 600", cases[i].who);
        assert_non_null(strstr(f->err, want));
        assert_null(strstr(f->err, "TOPSECRET"));
    }
}

static void test_secret_file_owned_by_another_user_refused(void **state)
{
    struct fx *f = *state;
    char path[PATH_MAX];
    if (geteuid() != 0)
        skip(); /* only root can give a file away */
    assert_int_equal(tfs_writes(f->dir, "pw", "v\n", 0600), 0);
    snprintf(path, sizeof(path), "%s/pw", f->dir);
    assert_int_equal(chown(path, 65534, 65534), 0);
    struct nh_secret *s = (struct nh_secret *)0x1;
    assert_int_equal(load_file(f, "pw", f->dir, &s), -EPERM);
    assert_null(s);
    assert_non_null(strstr(f->err, "is owned by user 65534, neither this user (0) nor root"));
}

/* A Kubernetes secret volume: NAME -> ..data/NAME, ..data -> ..<timestamp>,
 * the file root-owned (here: ours) and group-readable. */
static void make_kube_volume(const char *dir)
{
    char p[PATH_MAX], q[PATH_MAX];
    assert_int_equal(tfs_mkdir(dir, "..2024_05_01_10_00_00.123"), 0);
    assert_int_equal(tfs_writes(dir, "..2024_05_01_10_00_00.123/ack-sk", "kube-value\n", 0440), 0);
    snprintf(p, sizeof(p), "%s/..data", dir);
    assert_int_equal(symlink("..2024_05_01_10_00_00.123", p), 0);
    snprintf(q, sizeof(q), "%s/ack-sk", dir);
    assert_int_equal(symlink("..data/ack-sk", q), 0);
}

static void test_secret_file_links_followed_only_inside_the_directory(void **state)
{
    struct fx *f = *state;
    char *other = tfs_mkdtemp();
    char p[PATH_MAX], t[PATH_MAX];
    assert_non_null(other);
    make_kube_volume(f->dir);
    assert_int_equal(tfs_writes(other, "elsewhere", "outside-value\n", 0600), 0);
    snprintf(p, sizeof(p), "%s/abs", f->dir);
    snprintf(t, sizeof(t), "%s/elsewhere", other);
    assert_int_equal(symlink(t, p), 0); /* absolute target */
    snprintf(p, sizeof(p), "%s/up", f->dir);
    snprintf(t, sizeof(t), "../%s/elsewhere", strrchr(other, '/') + 1);
    assert_int_equal(symlink(t, p), 0); /* relative, climbs out */
    snprintf(p, sizeof(p), "%s/dev", f->dir);
    assert_int_equal(symlink("/dev/zero", p), 0);

    setenv("CREDENTIALS_DIRECTORY", f->dir, 1);
    struct nh_secret *s = NULL;
    size_t len;
    assert_int_equal(load_file(f, "ack-sk", NULL, &s), 0);
    assert_memory_equal(nh_secret_bytes(s, &len), "kube-value", 10);
    assert_int_equal(len, 10);
    nh_secret_free(s);
    static const char *const out[] = {"abs", "up", "dev"};
    for (size_t i = 0; i < 3; i++) {
        s = (struct nh_secret *)0x1;
        assert_int_equal(load_file(f, out[i], NULL, &s), -EXDEV);
        assert_null(s);
        assert_non_null(strstr(f->err, "is a symbolic link that leads outside"));
    }
    /* the same rules without openat2 (old kernels, old seccomp filters) */
    int dfd = open(f->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    assert_true(dfd >= 0);
    for (int use2 = 0; use2 <= 1; use2++) {
        int fd = nh_secret_open_beneath(dfd, "ack-sk", use2);
        assert_true(fd >= 0);
        char buf[32] = "";
        assert_int_equal(read(fd, buf, sizeof(buf) - 1), 11);
        assert_string_equal(buf, "kube-value\n");
        close(fd);
        for (size_t i = 0; i < 3; i++)
            assert_int_equal(nh_secret_open_beneath(dfd, out[i], use2), -EXDEV);
        assert_int_equal(nh_secret_open_beneath(dfd, "missing", use2), -ENOENT);
        assert_int_equal(nh_secret_open_beneath(dfd, "..data/../ack-sk", use2) >= 0, 1);
        close(nh_secret_open_beneath(dfd, "..data/../ack-sk", use2));
        assert_int_equal(nh_secret_open_beneath(dfd, "..data/../../x", use2), -EXDEV);
        assert_int_equal(nh_secret_open_beneath(dfd, "/etc/passwd", use2), -EXDEV);
        fd = nh_secret_open_beneath(dfd, "..data//ack-sk", use2);
        assert_true(fd >= 0);
        close(fd);
    }
    snprintf(p, sizeof(p), "%s/l1", f->dir);
    assert_int_equal(symlink("l2", p), 0);
    snprintf(p, sizeof(p), "%s/l2", f->dir);
    assert_int_equal(symlink("l1", p), 0);
    assert_int_equal(nh_secret_open_beneath(dfd, "l1", false), -ELOOP);
    assert_int_equal(nh_secret_open_beneath(dfd, "l1", true), -ELOOP);
    close(dfd);
    tfs_rmrf(other);
}

static void test_secret_literal_only_through_new(void **state)
{
    struct fx *f = *state;
    struct nh_secret *s = NULL;
    assert_int_equal(nh_secret_load(NH_SECRET_LITERAL, "abc", &s, f->err, sizeof(f->err), NULL, 0),
                     -EINVAL);
    assert_null(s);
    s = nh_secret_new("a\0b", 3, "test vector");
    size_t len;
    const unsigned char *b = nh_secret_bytes(s, &len);
    assert_int_equal(len, 3);
    assert_memory_equal(b, "a\0b", 3);
    assert_string_equal(nh_secret_describe(s), "test vector");
    nh_secret_free(s);
    nh_secret_free(NULL);
    assert_null(nh_secret_bytes(NULL, &len));
    assert_int_equal(len, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_secret_file_absolute_strips_trailing_newlines, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_secret_file_inner_newlines_kept, setup, teardown),
        cmocka_unit_test_setup_teardown(test_secret_file_relative_uses_credentials_directory, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_secret_file_missing_names_resolved_path_and_fix, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(
            test_secret_file_world_readable_refused_group_readable_warns, setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_secret_file_group_readable_in_kubernetes_volume_is_quiet, setup, teardown),
        cmocka_unit_test_setup_teardown(test_secret_file_empty_dir_and_oversize_refused, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_secret_env_set_unset_empty_invalid, setup, teardown),
        cmocka_unit_test_setup_teardown(test_secret_env_removed_once_read_and_kept_for_reloads,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_secret_file_credentials_directory_takes_plain_names_only, setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_secret_file_dotdot_refused_without_credentials_directory, setup, teardown),
        cmocka_unit_test_setup_teardown(test_secret_file_writable_by_others_refused, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_secret_file_owned_by_another_user_refused, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_secret_file_links_followed_only_inside_the_directory,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_secret_literal_only_through_new, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
