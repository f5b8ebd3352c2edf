#!/usr/bin/env python3
"""Hostile clients for nodeherd's HTTP endpoint (issue 23), loopback only.

Holds IDLE connections that never send a byte and SLOW ones that send one
byte of a request every SLOW_INTERVAL seconds (a slowloris). Whatever the
server closes is opened again (at most RECONNECT per second in all), so the
pressure stays on for SECONDS. Prints one JSON line of figures at the end:

    python3 tests/reliability/flood.py --port 9464 --idle 2000 --slow 100 \\
        --slow-interval 5 --seconds 25

Python 3 standard library only; raises its own RLIMIT_NOFILE soft limit to
the hard limit.
"""

import argparse
import errno
import json
import resource
import selectors
import socket
import sys
import time

REQUEST = b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nX-Slow: " + b"a" * 4000


def raise_nofile(need):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        soft = hard
    if soft < need:
        sys.exit("flood.py: needs %d file descriptors, RLIMIT_NOFILE allows %d" % (need, soft))


class Conn:
    def __init__(self, kind, sock, now):
        self.kind = kind
        self.sock = sock
        self.opened = now
        self.connected = False
        self.sent = 0
        self.next_byte = now


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--idle", type=int, default=2000)
    ap.add_argument("--slow", type=int, default=100)
    ap.add_argument("--slow-interval", type=float, default=5.0)
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--reconnect", type=float, default=1000.0, help="reopens per second, at most")
    a = ap.parse_args()
    if a.host not in ("127.0.0.1", "::1", "localhost"):
        sys.exit("flood.py: loopback only")
    raise_nofile(a.idle + a.slow + 256)

    sel = selectors.DefaultSelector()
    stats = {"idle_opened": 0, "slow_opened": 0, "idle_closed_by_server": 0,
             "slow_closed_by_server": 0, "connect_errors": 0, "slow_lifetimes": [],
             "max_idle_held": 0, "max_slow_held": 0}
    held = {"idle": 0, "slow": 0}
    want = {"idle": a.idle, "slow": a.slow}
    start = time.monotonic()
    tokens = float(a.idle + a.slow)  # the first wave is not paced
    last = start

    def open_one(kind, now):
        s = socket.socket(socket.AF_INET6 if ":" in a.host else socket.AF_INET, socket.SOCK_STREAM)
        s.setblocking(False)
        try:
            s.connect((a.host, a.port))
        except BlockingIOError:
            pass
        except OSError:
            s.close()
            stats["connect_errors"] += 1
            return
        c = Conn(kind, s, now)
        sel.register(s, selectors.EVENT_READ | selectors.EVENT_WRITE, c)
        held[kind] += 1
        stats[kind + "_opened"] += 1

    def drop(c, now, by_server):
        try:
            sel.unregister(c.sock)
        except (KeyError, ValueError):
            pass
        c.sock.close()
        held[c.kind] -= 1
        if by_server:
            stats[c.kind + "_closed_by_server"] += 1
            if c.kind == "slow":
                stats["slow_lifetimes"].append(round(now - c.opened, 3))

    while True:
        now = time.monotonic()
        if now - start >= a.seconds:
            break
        tokens = min(tokens + (now - last) * a.reconnect, a.idle + a.slow)
        last = now
        for kind in ("slow", "idle"):
            while held[kind] < want[kind] and tokens >= 1:
                tokens -= 1
                open_one(kind, now)
        stats["max_idle_held"] = max(stats["max_idle_held"], held["idle"])
        stats["max_slow_held"] = max(stats["max_slow_held"], held["slow"])
        for key, ev in sel.select(timeout=0.05):
            c = key.data
            if ev & selectors.EVENT_WRITE and not c.connected:
                err = c.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                if err:
                    stats["connect_errors"] += 1
                    drop(c, now, False)
                    continue
                c.connected = True
                sel.modify(c.sock, selectors.EVENT_READ, c)
            if ev & selectors.EVENT_READ:
                try:
                    data = c.sock.recv(4096)
                except OSError:
                    data = b""
                if not data:  # EOF or reset: the server ended it
                    drop(c, now, True)
        now = time.monotonic()
        for key in list(sel.get_map().values()):
            c = key.data
            if c.kind != "slow" or not c.connected or now < c.next_byte:
                continue
            try:
                c.sock.send(REQUEST[c.sent % len(REQUEST):c.sent % len(REQUEST) + 1])
                c.sent += 1
                c.next_byte = now + a.slow_interval
            except OSError as e:
                if e.errno not in (errno.EAGAIN, errno.EWOULDBLOCK):
                    drop(c, now, True)
        stats["max_idle_held"] = max(stats["max_idle_held"], held["idle"])
        stats["max_slow_held"] = max(stats["max_slow_held"], held["slow"])
    for key in list(sel.get_map().values()):
        key.data.sock.close()
    lt = sorted(stats["slow_lifetimes"])
    stats["slow_lifetime_max"] = lt[-1] if lt else None
    stats["slow_lifetime_median"] = lt[len(lt) // 2] if lt else None
    stats["slow_lifetimes"] = lt[:20] + (["..."] if len(lt) > 20 else [])
    print(json.dumps(stats), flush=True)


if __name__ == "__main__":
    main()
