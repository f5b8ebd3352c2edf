"""Shared pieces of the visibility tests (issue 13): a real git checkout for
the configuration, the audit trail and the state journal as parsed records,
and the correspondence between the emulator's request log and the audit
trail. Python 3 standard library only."""

import json
import os
import re
import socket
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.environ.get("NH_SOURCE_DIR") or os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))
import itlib  # noqa: E402
from itlib import harness  # noqa: E402

# The operations each audit action may be sent as.
KIND_OPS = {
    "scale-cluster": {"ScaleCluster"},
    "scale-pool": {"ModifyClusterNodePool", "ScaleClusterNodePool", "ScaleNodePool",
                   "UpdateNodePool", "PatchNodePool"},
    "remove-nodes": {"DeleteClusterNodes", "RemoveClusterNodes", "RemoveNodePoolNodes",
                     "RemoveNode", "DeleteNode"},
    "delete-pool": {"DeleteNodePool"},
}
# What identifies each cluster of itlib.fleet_yaml() in a request path.
CLUSTER_KEYS = {"web": itlib.WEB, "pools": itlib.POOLS, "train": itlib.TRAIN, "ai": "/pools/pool-abc/"}
FINAL = ("done", "failed", "timed_out")
SECRETS = (harness.ACK_SK, harness.HW_SK, harness.NODE_PW)


def fast_timing(fleet):
    """Cloud jobs finish in well under a second: keeps each phase short."""
    fleet.admin("timing", "POST", {"job_seconds": 0.4, "node_create_seconds": 0.3,
                                   "node_delete_seconds": 0.2})


def git(repo, *args):
    """Runs git in repo with a fixed identity; returns stdout."""
    env = dict(os.environ, GIT_CONFIG_NOSYSTEM="1", HOME=repo, GIT_AUTHOR_DATE="2026-01-01T00:00:00",
               GIT_COMMITTER_DATE="2026-01-01T00:00:00")
    p = subprocess.run(["git", "-C", repo, "-c", "user.name=nodeherd-test",
                        "-c", "user.email=test@nodeherd.invalid", "-c", "commit.gpgsign=false",
                        "-c", "init.defaultBranch=main"] + list(args),
                       capture_output=True, text=True, env=env, timeout=30)
    if p.returncode != 0:
        raise RuntimeError("git %s: %s" % (" ".join(args), p.stderr))
    return p.stdout


def write_atomic(path, text):
    tmp = path + ".tmp"
    with open(tmp, "w") as fh:
        fh.write(text)
    os.rename(tmp, path)


def swap_symlink(link, target):
    """Points link at target atomically (git-sync / ConfigMap style)."""
    tmp = link + ".new"
    if os.path.lexists(tmp):
        os.unlink(tmp)
    os.symlink(target, tmp)
    os.rename(tmp, link)


def read_jsonl(path):
    out = []
    if not os.path.exists(path):
        return out
    with open(path, encoding="utf-8") as fh:
        for n, line in enumerate(fh, 1):
            if line.strip():
                try:
                    out.append(json.loads(line))
                except ValueError as e:
                    raise AssertionError("%s:%d: not JSON (%s): %r" % (path, n, e, line[:200]))
    return out


def audit_lines(state_dir):
    return read_jsonl(os.path.join(state_dir, "audit.log"))


def journal_begins(state_dir):
    """{seq: begin record} of the state journal (each line '<crc32c> <json>')."""
    out = {}
    with open(os.path.join(state_dir, "journal.log"), encoding="utf-8") as fh:
        for line in fh:
            m = re.match(r"^[0-9a-f]{8} (\{.*\})$", line.rstrip("\n"))
            assert m, "journal line not '<crc> <json>': %r" % line[:200]
            rec = json.loads(m.group(1))
            if rec.get("t") == "begin":
                out[rec["seq"]] = rec
    return out


def audit_ops(lines):
    """Groups audit lines by seq: {seq: {"first": line, "events": [...], "final": line}}."""
    ops = {}
    for ln in lines:
        op = ops.setdefault(ln["seq"], {"first": ln, "events": [], "final": None})
        op["events"].append(ln["event"])
        if ln["event"] in FINAL:
            assert op["final"] is None, "two final events for seq %s: %r" % (ln["seq"], ln)
            op["final"] = ln
    return ops


def _key_in_path(op, path, pool_ids):
    a = op["first"]
    if CLUSTER_KEYS.get(a["cluster"], "\0") not in path:
        return False
    if a["pool"] is None:
        return "/nodepools/" not in path
    pid = pool_ids.get(a["pool"])
    if ("/nodepools/" + a["pool"]) in path or (pid and pid in path):
        return True
    return any(n in path for n in a["nodes"])  # CCE DeleteNode names the node


def match_mutations(mutations, ops, pool_ids):
    """Pairs each processed mutating request of the emulator with the audit
    operation that sent it: by the cloud's task id when the audit has a job,
    else by cluster, pool, kind and (for removals) the node in the path,
    else in order. Returns ({request seq: audit seq}, [unmatched requests])."""
    paired, unmatched = {}, []
    by_job = {o["final"]["job"] if o["final"] else o["first"]["job"]: s
              for s, o in ops.items() if (o["final"] or o["first"])["job"]}
    used_nojob = set()
    for m in mutations:
        cands = [s for s, o in sorted(ops.items())
                 if m["op"] in KIND_OPS[o["first"]["action"]] and _key_in_path(o, m["path"], pool_ids)]
        seq = None
        if m.get("task") in by_job and by_job[m["task"]] in cands:
            seq = by_job[m["task"]]
        if seq is None:
            nodes = [s for s in cands if any(n in m["path"] for n in ops[s]["first"]["nodes"])]
            if nodes:
                seq = nodes[0]
        if seq is None:
            free = [s for s in cands if s not in used_nojob and not ops[s]["first"]["job"]
                    and not (ops[s]["final"] or {}).get("job")]
            if free:
                seq = free[0]
                used_nojob.add(seq)
        if seq is None:
            unmatched.append(m)
        else:
            paired[m["seq"]] = seq
    return paired, unmatched


def processed_mutations(fleet, since=0):
    """Mutating requests the emulator processed (2xx), in order."""
    return [r for r in fleet.mutations(since) if r.get("status") and 200 <= r["status"] < 300]


def last_request_seq(fleet):
    r = fleet.admin("requests?since=0")
    return r.get("last_seq", 0) if isinstance(r, dict) else 0


def wait_for(pred, timeout, what, d=None, interval=0.05):
    end = time.monotonic() + timeout
    last = None
    while time.monotonic() < end:
        try:
            last = pred()
            if last:
                return last
        except (OSError, ValueError, KeyError):
            pass
        if d is not None and d.proc.poll() is not None:
            raise RuntimeError("nodeherd exited (%s):\n%s" % (d.proc.returncode, d.log()[-4000:]))
        time.sleep(interval)
    raise TimeoutError("timed out waiting for %s%s" % (
        what, ("\nlog tail:\n" + d.log()[-3000:]) if d is not None else ""))


def group(status, cluster, pool=None):
    for c in status["clusters"]:
        if c["name"] == cluster:
            for g in c["groups"]:
                if g["pool"] == pool:
                    return g
    return None


def settled(status, cluster, pool, declared):
    """The cluster reports converged with `declared` nodes declared and observed."""
    g = group(status, cluster, pool)
    c = [x for x in status["clusters"] if x["name"] == cluster][0]
    return (g is not None and g["declared"] == declared and g["observed"] == declared
            and c["state"] == "converged" and not c["in_flight"])


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def busy_fleet_text(listen="127.0.0.1:0"):
    """itlib's fleet with web: 6 (a scale-out to keep in flight with a
    job_stuck fault) and train with workers: 4 (blocked: huawei-cce cannot
    add workers outside a node pool)."""
    text = itlib.fleet_yaml(web=6, job_timeout="5m")
    text = text.replace("listen: 127.0.0.1:0", "listen: %s" % listen)
    # huawei-cce cannot add workers outside a node pool: blocked, with a fix
    text = text.replace("    id: %s\n" % itlib.TRAIN, "    id: %s\n    workers: 4\n" % itlib.TRAIN)
    assert "workers: 4" in text and listen in text
    return text


def busy_ready(s):
    """busy_fleet_text's fleet reached its steady picture: web's scale-out in
    flight with a job id, train blocked, pools and ai converged."""
    by = {c["name"]: c for c in s["clusters"]}
    return bool(by["web"]["in_flight"] and by["web"]["in_flight"][0]["job"]
                and by["train"]["state"] == "blocked"
                and by["pools"]["state"] == "converged" and by["ai"]["state"] == "converged")
