/* test_notify.c - the exact sd_notify datagrams and the watchdog cadence,
 * received on a test-owned AF_UNIX datagram socket named by $NOTIFY_SOCKET. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cmocka.h>
#include <uv.h>

#include "ops/notify.h"

struct sockfix {
    char dir[32];
    char path[96];
    int fd;
};

static int setup(void **state)
{
    struct sockfix *f = calloc(1, sizeof(*f));
    struct sockaddr_un sa = {.sun_family = AF_UNIX};

    assert_non_null(f);
    strcpy(f->dir, "/tmp/nh-notify-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    snprintf(f->path, sizeof(f->path), "%s/notify.sock", f->dir);
    f->fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    assert_true(f->fd >= 0);
    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", f->path);
    assert_int_equal(bind(f->fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    assert_int_equal(setenv("NOTIFY_SOCKET", f->path, 1), 0);
    unsetenv("WATCHDOG_USEC");
    unsetenv("WATCHDOG_PID");
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct sockfix *f = *state;
    close(f->fd);
    unlink(f->path);
    rmdir(f->dir);
    unsetenv("NOTIFY_SOCKET");
    unsetenv("WATCHDOG_USEC");
    unsetenv("WATCHDOG_PID");
    free(f);
    return 0;
}

/* Next datagram as a string, or NULL when none is queued. */
static char *recv_msg(struct sockfix *f, char *buf, size_t len)
{
    ssize_t n = recv(f->fd, buf, len - 1, 0);
    if (n < 0)
        return NULL;
    buf[n] = '\0';
    return buf;
}

static void test_notify_ready_without_status_sends_ready_only(void **state)
{
    struct sockfix *f = *state;
    char buf[512];

    nh_notify_ready();
    assert_non_null(recv_msg(f, buf, sizeof(buf)));
    /* The status of an earlier test may linger: READY=1 must come first. */
    assert_memory_equal(buf, "READY=1", 7);
    assert_true(buf[7] == '\0' || strncmp(buf + 7, "\nSTATUS=", 8) == 0);
    assert_null(recv_msg(f, buf, sizeof(buf)));
}

static void test_notify_status_then_ready_carries_status(void **state)
{
    struct sockfix *f = *state;
    char buf[512];

    nh_notify_status("%d clusters, %d converging", 3, 1);
    assert_non_null(recv_msg(f, buf, sizeof(buf)));
    assert_string_equal(buf, "STATUS=3 clusters, 1 converging");
    nh_notify_ready();
    assert_non_null(recv_msg(f, buf, sizeof(buf)));
    assert_string_equal(buf, "READY=1\nSTATUS=3 clusters, 1 converging");
}

static void test_notify_status_newline_becomes_space(void **state)
{
    struct sockfix *f = *state;
    char buf[512];

    nh_notify_status("a\nWATCHDOG=1\rb");
    assert_non_null(recv_msg(f, buf, sizeof(buf)));
    assert_string_equal(buf, "STATUS=a WATCHDOG=1 b");
}

static void test_notify_status_long_text_is_cut(void **state)
{
    struct sockfix *f = *state;
    char buf[1024];
    char big[600];

    memset(big, 'x', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    nh_notify_status("%s", big);
    assert_non_null(recv_msg(f, buf, sizeof(buf)));
    assert_memory_equal(buf, "STATUS=xxx", 10);
    assert_true(strlen(buf) < 7 + 256);
}

static void test_notify_reloading_has_monotonic_usec_now(void **state)
{
    struct sockfix *f = *state;
    char buf[512];
    struct timespec a, b;
    unsigned long long usec = 0;
    int consumed = 0;

    clock_gettime(CLOCK_MONOTONIC, &a);
    nh_notify_reloading();
    clock_gettime(CLOCK_MONOTONIC, &b);
    assert_non_null(recv_msg(f, buf, sizeof(buf)));
    assert_int_equal(sscanf(buf, "RELOADING=1\nMONOTONIC_USEC=%llu%n", &usec, &consumed), 1);
    assert_int_equal((size_t)consumed, strlen(buf));
    unsigned long long lo = (unsigned long long)a.tv_sec * 1000000ull + a.tv_nsec / 1000;
    unsigned long long hi = (unsigned long long)b.tv_sec * 1000000ull + b.tv_nsec / 1000;
    assert_in_range(usec, lo, hi);
}

static void test_notify_stopping_sends_stopping(void **state)
{
    struct sockfix *f = *state;
    char buf[512];

    nh_notify_stopping();
    assert_non_null(recv_msg(f, buf, sizeof(buf)));
    assert_string_equal(buf, "STOPPING=1");
}

static void test_notify_without_socket_sends_nothing(void **state)
{
    struct sockfix *f = *state;
    char buf[512];
    struct nh_watchdog *w = (struct nh_watchdog *)&buf; /* must be reset to NULL */
    uv_loop_t loop;

    unsetenv("NOTIFY_SOCKET");
    setenv("WATCHDOG_USEC", "1000000", 1);
    nh_notify_ready();
    nh_notify_stopping();
    nh_notify_status("x");
    assert_null(recv_msg(f, buf, sizeof(buf)));
    assert_int_equal(uv_loop_init(&loop), 0);
    assert_int_equal(nh_watchdog_start(&loop, &w), 0);
    assert_null(w);
    assert_int_equal(nh_watchdog_interval_ms(w), 0);
    nh_watchdog_stop(w); /* NULL ok */
    assert_int_equal(uv_loop_close(&loop), 0);
}

static void test_watchdog_unset_or_other_pid_is_off(void **state)
{
    (void)state;
    struct nh_watchdog *w = NULL;
    uv_loop_t loop;
    char pid[32];

    assert_int_equal(uv_loop_init(&loop), 0);
    assert_int_equal(nh_watchdog_start(&loop, &w), 0); /* no WATCHDOG_USEC */
    assert_null(w);
    snprintf(pid, sizeof(pid), "%ld", (long)getpid() + 1);
    setenv("WATCHDOG_USEC", "1000000", 1);
    setenv("WATCHDOG_PID", pid, 1);
    assert_int_equal(nh_watchdog_start(&loop, &w), 0); /* meant for another process */
    assert_null(w);
    assert_int_equal(uv_loop_close(&loop), 0);
}

/* The watchdog cadence on a real loop: the test socket sits under a uv_poll
 * on the same loop and records when each WATCHDOG=1 arrives. */
struct cadence {
    struct sockfix *f;
    uv_poll_t poll;
    uv_timer_t stop;
    struct nh_watchdog *w;
    uint64_t start_ns;
    uint64_t at_ms[32];
    int n;
    int other;
};

static void on_sock(uv_poll_t *p, int status, int events)
{
    struct cadence *c = p->data;
    char buf[128];
    (void)events;
    assert_int_equal(status, 0);
    while (recv_msg(c->f, buf, sizeof(buf)) != NULL) {
        if (strcmp(buf, "WATCHDOG=1") != 0) {
            c->other++;
            continue;
        }
        if (c->n < 32)
            c->at_ms[c->n++] = (uv_hrtime() - c->start_ns) / 1000000u;
    }
}

static void on_closed_nop(uv_handle_t *h)
{
    (void)h;
}

static void on_stop(uv_timer_t *t)
{
    struct cadence *c = t->data;
    nh_watchdog_stop(c->w);
    uv_close((uv_handle_t *)&c->poll, on_closed_nop);
    uv_close((uv_handle_t *)&c->stop, on_closed_nop);
}

static void test_watchdog_pets_at_half_interval_on_loop(void **state)
{
    struct cadence c = {.f = *state};
    uv_loop_t loop;
    char pid[32];

    snprintf(pid, sizeof(pid), "%ld", (long)getpid());
    setenv("WATCHDOG_USEC", "400000", 1); /* 400 ms: pet every 200 ms */
    setenv("WATCHDOG_PID", pid, 1);
    assert_int_equal(uv_loop_init(&loop), 0);
    assert_int_equal(nh_watchdog_start(&loop, &c.w), 0);
    assert_non_null(c.w);
    assert_int_equal(nh_watchdog_interval_ms(c.w), 200);
    c.start_ns = uv_hrtime();
    assert_int_equal(uv_poll_init(&loop, &c.poll, c.f->fd), 0);
    c.poll.data = &c;
    assert_int_equal(uv_poll_start(&c.poll, UV_READABLE, on_sock), 0);
    assert_int_equal(uv_timer_init(&loop, &c.stop), 0);
    c.stop.data = &c;
    assert_int_equal(uv_timer_start(&c.stop, on_stop, 700, 0), 0);
    assert_int_equal(uv_run(&loop, UV_RUN_DEFAULT), 0);
    assert_int_equal(uv_loop_close(&loop), 0); /* the watchdog freed its timer */

    /* 200, 400, 600 ms: not at once, not at the full interval (that would
     * be one pet in 700 ms). Slack for a loaded 2-core CI machine. */
    assert_int_equal(c.other, 0);
    assert_in_range(c.n, 2, 3);
    assert_in_range(c.at_ms[0], 180, 400);
    for (int i = 1; i < c.n; i++)
        assert_in_range(c.at_ms[i] - c.at_ms[i - 1], 120, 360);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_notify_ready_without_status_sends_ready_only, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_notify_status_then_ready_carries_status, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_notify_status_newline_becomes_space, setup, teardown),
        cmocka_unit_test_setup_teardown(test_notify_status_long_text_is_cut, setup, teardown),
        cmocka_unit_test_setup_teardown(test_notify_reloading_has_monotonic_usec_now, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_notify_stopping_sends_stopping, setup, teardown),
        cmocka_unit_test_setup_teardown(test_notify_without_socket_sends_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_watchdog_unset_or_other_pid_is_off, setup, teardown),
        cmocka_unit_test_setup_teardown(test_watchdog_pets_at_half_interval_on_loop, setup,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
