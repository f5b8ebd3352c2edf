/* test_lock.c - the state directory's lock: a second taker is refused and
 * told who holds it, even in the instant before the holder has written its
 * pid into the file (two daemons started together, found by CI); the lock
 * goes with its holder, kill -9 included. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "state/lock.h"

struct fx {
    char root[64]; /* mkdtemp */
    char dir[128]; /* root/state: created by the lock */
    char file[192];
    pid_t child; /* a holder still to kill, even after a failed assert */
};

static int fx_setup(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));
    assert_non_null(f);
    const char *base = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
    snprintf(f->root, sizeof(f->root), "%s/nhl.XXXXXX", base);
    assert_non_null(mkdtemp(f->root));
    snprintf(f->dir, sizeof(f->dir), "%s/state", f->root);
    snprintf(f->file, sizeof(f->file), "%s/%s", f->dir, NH_STATE_LOCK_NAME);
    *state = f;
    return 0;
}

static int fx_teardown(void **state)
{
    struct fx *f = *state;
    if (f->child > 0) {
        kill(f->child, SIGKILL);
        waitpid(f->child, NULL, 0);
    }
    unlink(f->file);
    rmdir(f->dir);
    rmdir(f->root);
    free(f);
    return 0;
}

/* A child that takes the lock, then (when empty_file) empties the file as
 * the holder's is in the instant between locking and writing its pid, says
 * so on the pipe and waits to be killed. Returns its pid. */
static pid_t holder(struct fx *f, int empty_file)
{
    int p[2];
    char c = 0;

    assert_int_equal(pipe(p), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        struct nh_state_lock *l = NULL;
        char err[512];
        close(p[0]);
        alarm(60); /* never outlives a test run that went wrong */
        if (nh_state_lock_take(f->dir, &l, err, sizeof(err)) != 0)
            _exit(3);
        if (empty_file && truncate(f->file, 0) != 0)
            _exit(4);
        if (write(p[1], "x", 1) != 1)
            _exit(5);
        for (;;)
            pause();
    }
    close(p[1]);
    f->child = pid;
    assert_int_equal(read(p[0], &c, 1), 1); /* the child holds the lock */
    close(p[0]);
    return pid;
}

static void kill_holder(struct fx *f)
{
    int status = 0;
    assert_int_equal(kill(f->child, SIGKILL), 0);
    assert_int_equal(waitpid(f->child, &status, 0), f->child);
    f->child = 0;
}

static void assert_refused_naming(const struct fx *f, pid_t pid)
{
    struct nh_state_lock *l = NULL;
    char err[1024], want[32];

    assert_int_equal(nh_state_lock_take(f->dir, &l, err, sizeof(err)), -EWOULDBLOCK);
    assert_null(l);
    snprintf(want, sizeof(want), "(pid %ld,", (long)pid);
    if (strstr(err, want) == NULL)
        fail_msg("the holder's pid %ld is not named: %s", (long)pid, err);
    assert_non_null(strstr(err, f->dir));
    assert_non_null(strstr(err, "daemon.state_dir")); /* the fix */
}

static void test_second_taker_is_told_the_holders_pid(void **state)
{
    struct fx *f = *state;
    pid_t pid = holder(f, 0);
    assert_refused_naming(f, pid);
    kill_holder(f);
}

/* The race CI found: the loser looked before the winner had written its pid
 * and said "pid unknown". The kernel knows the holder from the first
 * instant; the file is not needed. Fails with flock(2) and the file alone. */
static void test_holder_named_before_it_has_written_its_pid(void **state)
{
    struct fx *f = *state;
    pid_t pid = holder(f, 1);
    struct stat st;
    assert_int_equal(stat(f->file, &st), 0);
    assert_int_equal(st.st_size, 0);
    assert_refused_naming(f, pid);
    assert_int_equal(stat(f->file, &st), 0);
    assert_int_equal(st.st_size, 0); /* the refused taker wrote nothing */
    kill_holder(f);
}

static void test_kill9_frees_the_lock_and_the_next_holder_writes_its_pid(void **state)
{
    struct fx *f = *state;
    struct nh_state_lock *l = NULL;
    char err[512], buf[32] = {0}, want[32];

    holder(f, 0);
    kill_holder(f);
    assert_int_equal(nh_state_lock_take(f->dir, &l, err, sizeof(err)), 0);
    assert_non_null(l);
    /* Released before the file is read here: closing any descriptor of
     * the file would drop a record lock anyway (see lock.h). */
    nh_state_lock_release(l);
    int fd = open(f->file, O_RDONLY | O_CLOEXEC);
    assert_true(fd >= 0);
    assert_true(read(fd, buf, sizeof(buf) - 1) > 0);
    close(fd);
    snprintf(want, sizeof(want), "%ld\n", (long)getpid());
    assert_string_equal(buf, want);
}

static void test_bad_directories_are_named(void **state)
{
    struct fx *f = *state;
    struct nh_state_lock *l = NULL;
    char err[512], notdir[192];

    assert_int_equal(nh_state_lock_take("", &l, err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "daemon.state_dir"));
    snprintf(notdir, sizeof(notdir), "%s/file", f->root);
    int fd = open(notdir, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
    assert_true(fd >= 0);
    close(fd);
    assert_int_equal(nh_state_lock_take(notdir, &l, err, sizeof(err)), -ENOTDIR);
    assert_null(l);
    assert_non_null(strstr(err, notdir));
    unlink(notdir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_second_taker_is_told_the_holders_pid, fx_setup,
                                        fx_teardown),
        cmocka_unit_test_setup_teardown(test_holder_named_before_it_has_written_its_pid, fx_setup,
                                        fx_teardown),
        cmocka_unit_test_setup_teardown(
            test_kill9_frees_the_lock_and_the_next_holder_writes_its_pid, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_bad_directories_are_named, fx_setup, fx_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
