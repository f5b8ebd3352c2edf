#!/usr/bin/env python3
"""The nodeherd demo: the real daemon against fakecloud, end to end.

1. starts fakecloud (contrib/fakecloud) with a make-believe fleet on all three
   clouds (Alibaba ACK, Huawei CCE, Huawei ModelArts), on loopback;
2. shows `nodeherd plan` for config/examples/demo.yaml;
3. runs `nodeherd run` and shows convergence as it happens: what was
   declared, what each cloud reported, each action and its job;
4. edits the declared state once (an atomic rename, as git-sync does) and
   shows the daemon react;
5. ends with a summary: API calls per cloud, the emulator's invariants
   (no duplicate or unrequested mutation), `nodeherd status`, clean stop.
"""

import argparse
import os
import re
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))), "tests", "support"))
from nhtest import harness  # noqa: E402

ROOT = harness.ROOT
SEED = os.path.join(ROOT, "contrib", "fakecloud", "seeds", "demo.json")
CONFIG = os.path.join(ROOT, "config", "examples", "demo.yaml")

BOLD = "\033[1m" if sys.stdout.isatty() else ""
DIM = "\033[2m" if sys.stdout.isatty() else ""
RESET = "\033[0m" if sys.stdout.isatty() else ""

T0 = time.monotonic()


def say(msg=""):
    print("[%5.1fs] %s" % (time.monotonic() - T0, msg), flush=True)


def title(msg):
    print("\n%s== %s ==%s" % (BOLD, msg, RESET), flush=True)


def demo_config(fleet, text):
    text = re.sub(r"http://127\.0\.0\.1:\d+", fleet.endpoint, text)
    text = re.sub(r"(?m)^(\s*state_dir:).*$", r"\1 " + fleet.state_dir, text)
    text = re.sub(r"(?m)^(\s*listen:).*$", r"\1 127.0.0.1:0", text)
    return text


def table(status):
    rows = []
    for c in status["clusters"]:
        groups = []
        for g in c["groups"]:
            name = g["pool"] or "workers"
            dec = "-" if g["declared"] is None else g["declared"]
            obs = "?" if g["observed"] is None else g["observed"]
            groups.append("%s %s/%s" % (name, obs, dec))
        jobs = ", ".join("%s %s%s" % (j["kind"], j["state"],
                                      (" %d%%" % j["progress"]) if j.get("progress") is not None
                                      else "") for j in c["in_flight"])
        rows.append("  %-6s %-10s %-11s %s%s" % (c["name"], c["kind"] or "?", c["state"],
                                                 "  ".join(groups),
                                                 ("   [" + jobs + "]") if jobs else ""))
    return "\n".join(rows)


INTERESTING = re.compile(r"accepted|done|verif|failed|timed out|reload|refused|blocked|"
                         r"dry-run|ready:|stopping|stopped|outcome unknown|would|drain")


class LogTail:
    def __init__(self, daemon):
        self.d = daemon
        self.pos = 0

    def show(self):
        text = self.d.log()
        new = text[self.pos:]
        self.pos = len(text)
        for line in new.splitlines():
            if INTERESTING.search(line):
                # drop the timestamp: the demo prints its own clock
                say(DIM + "nodeherd: " + RESET + line.split(" ", 2)[-1].strip())


def watch_until_converged(fleet, d, tail, timeout, label):
    last = None
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        tail.show()
        try:
            st = d.status()
        except Exception:  # not up yet
            time.sleep(0.2)
            continue
        t = table(st)
        if t != last:
            say("cluster  cloud      state       observed/declared")
            print(t, flush=True)
            last = t
        if all(c["state"] == "converged" for c in st["clusters"]):
            tail.show()
            say("%s%s: every cluster converged%s" % (BOLD, label, RESET))
            return st
        time.sleep(0.25)
    tail.show()
    raise SystemExit("demo: not converged within %ds; see %s" % (timeout, d.log_path))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bin", help="the nodeherd binary (default: the build tree's)")
    ap.add_argument("--keep", action="store_true", help="keep the scratch directory")
    args = ap.parse_args()
    if args.bin:
        os.environ["NODEHERD_BIN"] = os.path.abspath(args.bin)

    with open(CONFIG) as f:
        base = f.read()

    with harness.Fleet(seed=SEED, keep=args.keep) as fleet:
        title("fakecloud: a make-believe fleet on ACK, CCE and ModelArts")
        st = fleet.state()
        say("emulator listening on %s (loopback only); seed %s" % (fleet.endpoint,
                                                                  os.path.relpath(SEED, ROOT)))
        cfg_path = fleet.write_config(demo_config(fleet, base), "demo.yaml")
        say("declared state: %s (a copy pointing at the emulator)" % os.path.relpath(CONFIG, ROOT))
        # shop's np-batch (2 nodes, 1 declared) runs a Deployment's pod on each
        # node: the one removed is drained first through Kubernetes
        shop = "c0ffee00000000000000000000000002"
        batch = [p["id"] for p in st["pools"] if p["name"] == "np-batch"]
        batch_nodes = [n["id"] for n in st["nodes"] if batch and n.get("pool") == batch[0]]
        fleet.admin("k8s/pods", "POST", {"cluster": shop, "pods": [
            {"namespace": "shop", "name": "checkout-%d" % i, "node": n, "owner": "ReplicaSet",
             "labels": {"app": "checkout"}} for i, n in enumerate(batch_nodes)]})
        say("shop/np-batch: a checkout pod on each of its %d nodes (Kubernetes API of the "
            "emulator)" % len(batch_nodes))

        title("nodeherd plan: what would be done, and why")
        env = dict(os.environ, CREDENTIALS_DIRECTORY=fleet.creds, NO_PROXY="*")
        p = subprocess.run([fleet.binary, "--config", cfg_path, "plan"], env=env,
                           capture_output=True, text=True, timeout=120)
        print(p.stdout, end="")
        if p.returncode not in (0, 2):
            print(p.stderr)
            raise SystemExit("demo: nodeherd plan failed (%d)" % p.returncode)

        title("nodeherd run: converging")
        d = fleet.daemon(config_path=cfg_path)
        d.wait_ready(60)
        say("READY=1 sent to systemd (test-owned NOTIFY_SOCKET)")
        tail = LogTail(d)
        watch_until_converged(fleet, d, tail, 90, "initial declaration")
        n_before = len(fleet.requests())

        title("editing the declared state (atomic rename, as git-sync publishes)")
        edited = demo_config(fleet, base)
        edited = re.sub(r"(?m)^(\s*workers:)\s*7\b", r"\1 6", edited, count=1)
        edited = re.sub(r"(name: gpu-a.*?nodes:)\s*3\b", r"\1 5", edited, count=1, flags=re.S)
        say("web: workers 7 -> 6 (one node removed, newest first, never the protected one)")
        say("train/gpu-a: nodes 3 -> 5")
        t_edit = time.monotonic()
        tmp = cfg_path + ".new"
        with open(tmp, "w") as f:
            f.write(edited)
        os.rename(tmp, cfg_path)
        # first mutating request after the edit, as the emulator saw it
        reaction = None
        while time.monotonic() - t_edit < 10 and reaction is None:
            if any(r.get("mutating") for r in fleet.requests()[n_before:]):
                reaction = time.monotonic() - t_edit
            else:
                time.sleep(0.005)
        if reaction is not None:
            say("%sfirst mutating request reached the cloud %.0f ms after the rename%s" %
                (BOLD, reaction * 1000, RESET))
        watch_until_converged(fleet, d, tail, 90, "edited declaration")

        title("summary")
        reqs = fleet.requests()
        by_cloud = {}
        for r in reqs:
            key = (r.get("cloud", "?"), "mutating" if r.get("mutating") else "read")
            by_cloud[key] = by_cloud.get(key, 0) + 1
        for (cloud, kind), n in sorted(by_cloud.items()):
            say("%-10s %-8s %4d requests" % (cloud, kind, n))
        inv = fleet.invariants()
        say("emulator invariants: duplicate_mutations=%s unrequested_removals=%s "
            "over_rate_limit=%s" % (inv.get("duplicate_mutations"),
                                    inv.get("unrequested_removals"), inv.get("over_rate_limit")))
        say("Kubernetes: nodes_removed_with_evictable_pods=%s pods_deleted_bypassing_eviction=%s "
            "nodes_left_cordoned=%s evictions=%d" % (
                inv.get("nodes_removed_with_evictable_pods"),
                inv.get("pods_deleted_bypassing_eviction"), inv.get("nodes_left_cordoned"),
                sum(1 for r in reqs if r.get("op", "").endswith("K8sEvictPod"))))
        print()
        s = subprocess.run([fleet.binary, "status", "--url", d.url("")], env=env,
                           capture_output=True, text=True, timeout=30)
        print(s.stdout, end="")
        rc = d.stop()
        tail.show()
        say("nodeherd stopped on SIGTERM with exit code %s" % rc)
        bad = (inv.get("duplicate_mutations") or inv.get("unrequested_removals") or
               inv.get("over_rate_limit") or inv.get("nodes_removed_with_evictable_pods") or
               inv.get("pods_deleted_bypassing_eviction") or inv.get("nodes_left_cordoned") or
               rc != 0)
        if bad:
            raise SystemExit("demo: something went wrong (see above)")
        say("%sdemo complete%s" % (BOLD, RESET))


if __name__ == "__main__":
    main()
