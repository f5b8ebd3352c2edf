#!/usr/bin/env python3
"""Replays a fakecloud request log against a per-key limit of LIMIT calls in any WINDOW seconds.

    contrib/bench/over_limit.py FAKECLOUD.jsonl LIMIT [WINDOW]

Prints, per access key, the requests that would be over the limit counted at handler time
(`epoch`, processing order: what fakecloud did before it logged `arrival`) and counted at
arrival (`arrival`, the kernel's receive time, in arrival order), and the most calls that
arrived in one window (throttled ones included). Rejected requests do not count toward the
window. Python 3 standard library only."""
import bisect
import collections
import json
import sys


def replay(reqs, key, order, limit, window):
    acc, over, peak = {}, 0, 0
    for e in sorted(reqs, key=order):
        t = e[key]
        ts = acc.setdefault(e["ak"], [])
        n = bisect.bisect_right(ts, t) - bisect.bisect_right(ts, t - window)
        peak = max(peak, n + 1)
        if n >= limit:
            over += 1
            continue
        bisect.insort(ts, t)
    return over, peak


def most_in_window(times, window):
    times = sorted(times)
    best, j = 0, 0
    for i, t in enumerate(times):
        while times[j] <= t - window:
            j += 1
        best = max(best, i - j + 1)
    return best


def main(argv):
    if len(argv) not in (3, 4):
        print(__doc__, file=sys.stderr)
        return 2
    limit, window = int(argv[2]), float(argv[3]) if len(argv) == 4 else 1.0
    with open(argv[1], encoding="utf-8") as f:
        reqs = [json.loads(line) for line in f if line.strip()]
    reqs = [e for e in reqs if e.get("ak") and e.get("cloud") != "k8s"]
    by_key = collections.defaultdict(list)
    for e in reqs:
        by_key[e["ak"]].append(e)
    arrivals = all("arrival" in e for e in reqs)
    print("%d requests, limit %d per %g s" % (len(reqs), limit, window))
    for ak, es in sorted(by_key.items()):
        line = "%s: %d requests; over by handler time %d" % (
            ak, len(es), replay(es, "epoch", lambda e: e["seq"], limit, window)[0])
        if arrivals:
            line += ", by arrival %d; most arrived in one window %d" % (
                replay(es, "arrival", lambda e: e["arrival"], limit, window)[0],
                most_in_window([e["arrival"] for e in es], window))
        throttled = sum(1 for e in es if e["code"] in ("Throttling.User", "APIGW.0308"))
        print(line + "; throttled in the log %d" % throttled)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
