#!/usr/bin/env python3
"""Compressed soak: the real daemon against fakecloud with random faults,
random edits of the declared state and kill -9 at intervals; at the end the
fleet must be converged with zero duplicate or unrequested mutations, the
daemon must exit cleanly (under ASan: no leak report), and its RSS must stay
flat from one life to the next.

    contrib/soak/soak.py [--duration 600] [--clusters 200] [--fault-rate 0.05]
                         [--kill-every 60] [--edit-every 5] [--seed N]
    NODEHERD_BIN=build/sanitize/daemon/nodeherd contrib/soak/soak.py      # the real soak
    contrib/soak/soak.py --short                                          # ~90 s (ctest rel.soak_short)

Exit 0 when every check passed, 1 otherwise (the checks are printed).
Loopback only; stdlib only; fleets come from contrib/bench/fleet.py.
"""

import argparse
import json
import os
import random
import signal
import sys
import tempfile
import time
import urllib.error

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "tests", "support"))
sys.path.insert(0, os.path.join(ROOT, "contrib", "bench"))
import fleet as fleetgen  # noqa: E402
from nhtest import harness  # noqa: E402

FAULTS = ["throttle", "500", "502", "503", "reset_before", "reset_after", "malformed",
          "truncated", "job_fail", "job_stuck", "slow"]
SANITIZER = ("AddressSanitizer", "LeakSanitizer", "runtime error:")


def rss_kb(pid):
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def log(msg, t0):
    sys.stderr.write("[%6.1fs] %s\n" % (time.monotonic() - t0, msg))
    sys.stderr.flush()


def sizes_in_cloud(state, clusters):
    """{cluster name: [live nodes per pool]} as the emulator sees it."""
    by_pool = {}
    names = {p["id"]: p for p in state["pools"]}
    for n in state["nodes"]:
        if n["status"] in ("removing", "deleting", "Deleting"):
            continue
        by_pool[n.get("pool")] = by_pool.get(n.get("pool"), 0) + 1
    out = {}
    for c in clusters:
        row = []
        for j in range(len(c.pool_names)):
            pid = c.pool_ids[j]
            if c.cloud == "ma":
                row.append(names[pid]["desired"] if pid in names else None)
            else:
                row.append(by_pool.get(pid, 0) if pid in names else None)
        out[c.name] = row
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--duration", type=float, default=600)
    ap.add_argument("--clusters", type=int, default=200)
    ap.add_argument("--nodes", type=int, default=2, help="seeded nodes per pool")
    ap.add_argument("--fault-rate", type=float, default=0.05)
    ap.add_argument("--kill-every", type=float, default=60)
    ap.add_argument("--edit-every", type=float, default=5)
    ap.add_argument("--settle", type=float, default=240, help="time allowed to converge at the end")
    ap.add_argument("--seed", type=int, default=int(os.environ.get("NH_SEED", "1")))
    ap.add_argument("--short", action="store_true", help="~90 s: 30 clusters, kill every 25 s")
    a = ap.parse_args()
    if a.short:
        a.duration, a.clusters, a.kill_every, a.edit_every = 60, 30, 25, 3
    rnd = random.Random(a.seed)
    t0 = time.monotonic()
    failures = []

    clusters = fleetgen.make_clusters(a.clusters, 1, a.nodes)
    seed = fleetgen.seed(clusters, timing={"job_seconds": 0.5, "node_create_seconds": 0.3,
                                           "node_delete_seconds": 0.3})
    fd, seed_path = tempfile.mkstemp(prefix="nh-soak-seed-", suffix=".json")
    with os.fdopen(fd, "w") as f:
        json.dump(seed, f)
    creds = ["%s:%s" % kv for kv in fleetgen.KEYS.values()]
    fl = harness.Fleet(seed=seed_path, credentials=creds)
    os.unlink(seed_path)
    try:
        for k, v in fleetgen.secrets().items():
            fl.write_secret(k, v)
        desired = {c.name: [a.nodes] for c in clusters}

        def write_config():
            return fl.write_config(fleetgen.config(clusters, desired, poll="2s", job_poll="300ms",
                                                   job_timeout="10s", qps=50, burst=50))

        cfg = write_config()
        # random faults on every route; each kind equally likely
        p = a.fault_rate / len(FAULTS)
        for k in FAULTS:
            rule = {"route": ".*", "fault": k, "probability": p}
            if k == "slow":
                rule["delay"] = 1.0
            if k == "throttle":
                rule["retry_after"] = 1
            fl.fault(**rule)
        # a small ASan quarantine, so RSS shows the daemon's memory, not ASan's
        asan = os.environ.get("ASAN_OPTIONS", "")
        d = fl.daemon(config_path=cfg, env={"ASAN_OPTIONS": (asan + ":" if asan else "") +
                                            "quarantine_size_mb=16"})
        d.wait_ready(timeout=120)
        log("daemon ready (%d clusters, fault rate %.0f%%)" % (a.clusters, a.fault_rate * 100), t0)
        lives = []  # RSS samples per daemon life
        life = []
        start = time.monotonic()
        next_kill = start + a.kill_every
        next_edit = start + a.edit_every
        edits = kills = 0
        while time.monotonic() - start < a.duration:
            now = time.monotonic()
            if d.proc.poll() is not None:
                failures.append("the daemon exited by itself (%s)" % d.proc.returncode)
                break
            r = rss_kb(d.proc.pid)
            if r:
                life.append((now, r))
            if now >= next_edit:
                for c in rnd.sample(clusters, max(1, len(clusters) // 20)):
                    # within the fat-finger guard (at most 50 % removed at once)
                    desired[c.name] = [rnd.randint(a.nodes, a.nodes + 2)]
                write_config()
                edits += 1
                next_edit = now + a.edit_every
            if now >= next_kill:
                d.kill9()
                kills += 1
                lives.append(life)
                life = []
                d.start()
                d.wait_ready(timeout=120)
                log("kill -9 #%d, restarted; %d edits so far" % (kills, edits), t0)
                next_kill = time.monotonic() + a.kill_every
            time.sleep(0.5)
        lives.append(life)

        # settle: no more faults, no more edits
        fl.clear_faults()
        log("faults cleared; waiting for convergence", t0)
        # (a removal refused by a guard would never converge: edits stay within them)
        want = {c.name: desired[c.name] for c in clusters}
        end = time.monotonic() + a.settle
        got = None
        while time.monotonic() < end:
            if d.proc.poll() is not None:
                failures.append("the daemon exited while settling (%s)" % d.proc.returncode)
                break
            got = sizes_in_cloud(fl.state(), clusters)
            try:
                st = d.status()
                conv = all(c["state"] == "converged" for c in st["clusters"])
            except (urllib.error.URLError, OSError):
                conv = False
            if conv and got == want:
                break
            time.sleep(1)
        else:
            bad = {k: (got or {}).get(k) for k in want if (got or {}).get(k) != want[k]}
            failures.append("not converged after %ds: %d clusters differ, e.g. %s" % (
                a.settle, len(bad), dict(list(((k, (v, want[k])) for k, v in bad.items()))[:5])))
        inv = fl.invariants()
        for k in ("duplicate_mutations", "unrequested_removals"):
            if inv.get(k):
                failures.append("%s = %s: %s" % (k, inv[k], json.dumps(inv.get("details"))[:2000]))
        final_rss = rss_kb(d.proc.pid)
        rc = d.stop(timeout=120)
        if rc != 0:
            failures.append("the daemon exited %s on SIGTERM" % rc)
        text = d.log()
        for s in SANITIZER:
            if s in text:
                i = text.index(s)
                failures.append("sanitizer report in the daemon log: %s" % text[max(0, i - 200):i + 2000])
                break

        # RSS: steady state of each full life (after its first 40 %), last vs first
        steady = []
        for lf in lives:
            if len(lf) >= 10:
                tail = [r for _, r in lf[int(len(lf) * 0.4):]]
                steady.append(sum(tail) / len(tail))
        if len(steady) >= 2:
            first, last = steady[0], steady[-1]
            log("RSS per life (KiB, steady state): %s; final %s" % (
                [int(x) for x in steady], final_rss), t0)
            if last > first * 1.25 + 16 * 1024 or (final_rss or 0) > max(steady) * 1.5 + 32 * 1024:
                failures.append("RSS grew from %d KiB (first life) to %d KiB (last life)" % (first, last))
        mutations = len(fl.mutations())
        log("%d kills, %d edits, %d mutations, invariants %s" % (
            kills, edits, mutations, {k: v for k, v in inv.items() if k != "details"}), t0)
        if kills == 0 and a.duration >= a.kill_every:
            failures.append("no kill -9 happened")
        if mutations == 0:
            failures.append("no mutation at all: the soak tested nothing")
    finally:
        if failures:
            fl.keep = True
            sys.stderr.write("scratch directory kept: %s\n" % fl.dir)
        fl.close()
    for f in failures:
        print("FAIL: " + f)
    print("soak: %s" % ("FAILED" if failures else "passed"))
    return 1 if failures else 0


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    sys.exit(main())
