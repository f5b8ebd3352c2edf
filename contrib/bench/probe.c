/* probe.c - the reaction-latency floor for contrib/bench/run.
 *
 * The least any file-watching reconciler can do: block in inotify on the
 * directory of FILE, and when FILE is renamed into place send one HTTP
 * request over an already-open loopback keep-alive connection and read the
 * answer. Prints one line per wake-up on stdout:
 *     <wake CLOCK_REALTIME s> <answer received CLOCK_REALTIME s>
 * The request (GET /bench/probe/<n>) is logged by fakecloud like any other,
 * so the harness measures "rename -> request arrives" exactly as it does
 * for nodeherd's first mutating call.
 *
 * Usage: probe DIR FILE PORT COUNT   (127.0.0.1 only; exits after COUNT)
 * Build: cc -O2 -o probe probe.c */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static double now_real(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int connect_loopback(int port)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((unsigned short)port)};
    int one = 1;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        close(fd);
        return -1;
    }
    return fd;
}

/* Sends one request and reads one answer (headers + Content-Length body).
 * Returns 0, or -1 when the connection has to be reopened. */
static int round_trip(int fd, int port, unsigned n)
{
    char req[256], buf[65536];
    size_t have = 0;
    int len = snprintf(req, sizeof(req),
                       "GET /bench/probe/%u HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n"
                       "User-Agent: nodeherd-bench-probe\r\n\r\n",
                       n, port);
    if (write(fd, req, (size_t)len) != len)
        return -1;
    for (int guard = 0; guard < 1000; guard++) {
        ssize_t r = read(fd, buf + have, sizeof(buf) - 1 - have);
        if (r <= 0)
            return -1;
        have += (size_t)r;
        buf[have] = '\0';
        char *end = strstr(buf, "\r\n\r\n");
        if (end == NULL)
            continue;
        char *cl = strcasestr(buf, "content-length:");
        size_t body = cl ? strtoul(cl + 15, NULL, 10) : 0;
        if (have >= (size_t)(end + 4 - buf) + body)
            return 0;
        if (have >= sizeof(buf) - 1)
            return -1;
    }
    return -1;
}

int main(int argc, char **argv)
{
    if (argc != 5) {
        fprintf(stderr, "usage: probe DIR FILE PORT COUNT\n");
        return 2;
    }
    const char *dir = argv[1], *file = argv[2];
    int port = atoi(argv[3]);
    long count = atol(argv[4]);
    int in = inotify_init1(IN_CLOEXEC);
    if (in < 0 || inotify_add_watch(in, dir, IN_MOVED_TO | IN_CLOSE_WRITE) < 0) {
        fprintf(stderr, "probe: inotify on %s: %s\n", dir, strerror(errno));
        return 1;
    }
    int fd = connect_loopback(port);
    if (fd < 0) {
        fprintf(stderr, "probe: cannot connect to 127.0.0.1:%d: %s\n", port, strerror(errno));
        return 1;
    }
    printf("ready\n");
    fflush(stdout);
    char ev[8192] __attribute__((aligned(__alignof__(struct inotify_event))));
    for (long seen = 0; seen < count;) {
        ssize_t r = read(in, ev, sizeof(ev));
        if (r <= 0) {
            if (r < 0 && errno == EINTR)
                continue;
            return 1;
        }
        double wake = now_real();
        int hit = 0;
        for (char *p = ev; p < ev + r;) {
            struct inotify_event *e = (struct inotify_event *)p;
            if (e->len && strcmp(e->name, file) == 0 && (e->mask & IN_MOVED_TO))
                hit = 1;
            p += sizeof(*e) + e->len;
        }
        if (!hit)
            continue;
        if (round_trip(fd, port, (unsigned)seen) < 0) {
            close(fd);
            fd = connect_loopback(port);
            if (fd < 0 || round_trip(fd, port, (unsigned)seen) < 0)
                return 1;
        }
        printf("%.6f %.6f\n", wake, now_real());
        fflush(stdout);
        seen++;
    }
    close(fd);
    return 0;
}
