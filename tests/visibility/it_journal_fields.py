"""The audit trail's structured journal fields (issue 13, item 1), read back
with journalctl from a real systemd-journald.

journald is not running on a build machine without systemd as PID 1, so the
test makes its own: it re-runs itself under `unshare -m` (a private mount
namespace; needs root), mounts tmpfs over /run/systemd, /run/log and
/var/log/journal there, points journald at a volatile-only configuration
(bind-mounted over /etc/systemd/journald.conf inside the namespace only),
starts /lib/systemd/systemd-journald, runs the daemon against the emulator
(with one cloud job made to fail), and checks:

  - every audit.log line has exactly one journal entry (NODEHERD_AUDIT=1)
    with the same seq, cluster, pool, action, rule, result, job, nodes,
    target and revision, SYSLOG_IDENTIFIER=nodeherd and the priority of its
    result (failed: err, issued/done: notice);
  - `journalctl NODEHERD_CLUSTER=web` returns exactly web's entries and
    `journalctl NODEHERD_REVISION=<rev>` all of them;
  - no secret appears anywhere in the journal (journalctl -o export).

Nothing outside the namespace is touched. Exit 77 (skipped) without root,
unshare or systemd-journald."""

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import unittest

import vislib
from vislib import harness, itlib

JOURNALD = "/lib/systemd/systemd-journald"
SOCKET = "/run/systemd/journal/socket"
PRIO = {"issued": 5, "done": 5, "unknown": 4, "failed": 3, "timed_out": 3}


def reexec_in_namespace():
    if os.environ.get("NH_VIS_IN_MOUNT_NS") == "1":
        return
    why = None
    if os.geteuid() != 0:
        why = "needs root for a private mount namespace"
    elif shutil.which("unshare") is None or shutil.which("journalctl") is None:
        why = "needs unshare(1) and journalctl(1)"
    elif not os.access(JOURNALD, os.X_OK):
        why = "needs %s (package systemd)" % JOURNALD
    if why:
        print("SKIP: %s" % why)
        sys.exit(77)
    env = dict(os.environ, NH_VIS_IN_MOUNT_NS="1")
    p = subprocess.run(["unshare", "--mount", "--propagation", "private", sys.executable,
                        os.path.abspath(__file__)] + sys.argv[1:], env=env)
    sys.exit(p.returncode)


class Journald:
    """A private journald in this (already private) mount namespace."""

    def __init__(self):
        self.tmp = tempfile.mkdtemp(prefix="nh-journald-")
        for d in ("/run/systemd", "/run/log", "/var/log/journal"):
            if os.path.isdir(d) or d != "/var/log/journal":
                os.makedirs(d, exist_ok=True)
                subprocess.run(["mount", "-t", "tmpfs", "-o", "mode=0755", "tmpfs", d], check=True)
        os.makedirs("/run/systemd/journal", exist_ok=True)
        conf = os.path.join(self.tmp, "journald.conf")
        with open(conf, "w") as fh:
            fh.write("[Journal]\nStorage=volatile\nReadKMSG=no\nForwardToSyslog=no\n"
                     "ForwardToWall=no\nForwardToConsole=no\nAudit=no\nRateLimitBurst=0\n")
        subprocess.run(["mount", "--bind", conf, "/etc/systemd/journald.conf"], check=True)
        self.out = open(os.path.join(self.tmp, "journald.out"), "wb")
        self.proc = subprocess.Popen([JOURNALD], stdout=self.out, stderr=self.out,
                                     stdin=subprocess.DEVNULL)
        vislib.wait_for(lambda: os.path.exists(SOCKET), 10, "journald's socket")

    def query(self, *matches, fmt="json"):
        p = subprocess.run(["journalctl", "--no-pager", "-o", fmt] + list(matches),
                           capture_output=True, timeout=30)
        if p.returncode not in (0, 1):
            raise RuntimeError("journalctl %s: %r" % (" ".join(matches), p.stderr))
        if fmt != "json":
            return p.stdout  # bytes: the export format has binary fields
        return [json.loads(line) for line in p.stdout.decode().splitlines() if line.strip()]

    def close(self):
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.out.close()
        shutil.rmtree(self.tmp, ignore_errors=True)


class JournalFieldsTest(unittest.TestCase):
    def setUp(self):
        self.journald = Journald()
        self.fleet = harness.Fleet(seed=itlib.SEED)
        vislib.fast_timing(self.fleet)

    def tearDown(self):
        self.fleet.close()
        self.journald.close()

    def test_journalctl_finds_each_audit_entry_by_field(self):
        f, j = self.fleet, self.journald
        # np-batch's first removal task fails: a "failed" entry, then a retry
        f.fault(route="RemoveNodePoolNodes", fault="job_fail", count=1)
        d = f.daemon(itlib.fleet_yaml())
        d.wait_ready()
        vislib.wait_for(lambda: any(ln["event"] == "failed"
                                    for ln in vislib.audit_lines(f.state_dir)),
                        30, "the failed job in the audit trail", d)
        f.wait_converged(d, timeout=60)
        rev = d.status()["revision"]
        self.assertEqual(d.stop(), 0)

        lines = vislib.audit_lines(f.state_dir)
        self.assertGreaterEqual(len(lines), 12)
        entries = vislib.wait_for(
            lambda: (lambda e: e if len(e) >= len(lines) else None)(j.query("NODEHERD_AUDIT=1")),
            10, "journald to store %d audit entries" % len(lines))
        self.assertEqual(len(entries), len(lines), "one journal entry per audit.log line")
        by_key = {}
        for e in entries:
            key = (int(e["NODEHERD_SEQ"]), e["NODEHERD_RESULT"])
            self.assertNotIn(key, by_key, "duplicate journal entry %r" % (key,))
            by_key[key] = e
        for ln in lines:
            e = by_key.get((ln["seq"], ln["event"]))
            self.assertIsNotNone(e, "no journal entry for %r" % ln)
            self.assertEqual(e["SYSLOG_IDENTIFIER"], "nodeherd")
            self.assertEqual(int(e["PRIORITY"]), PRIO[ln["event"]], (ln, e))
            self.assertEqual(e["NODEHERD_CLUSTER"], ln["cluster"])
            self.assertEqual(e["NODEHERD_POOL"], ln["pool"] or "")
            self.assertEqual(e["NODEHERD_ACTION"], ln["action"])
            self.assertEqual(e["NODEHERD_RULE"], ln["rule"])
            self.assertEqual(e["NODEHERD_JOB"], ln["job"] or "")
            self.assertEqual(e["NODEHERD_NODES"], ",".join(ln["nodes"]))
            self.assertEqual(int(e["NODEHERD_TARGET"]), ln["target"])
            self.assertEqual(e["NODEHERD_REVISION"], ln["revision"])
            self.assertEqual(e["NODEHERD_REVISION"], rev)
            self.assertIn(ln["cluster"], e["MESSAGE"])
            self.assertIn(ln["event"], e["MESSAGE"])
            if ln["event"] == "failed":
                self.assertEqual(e["NODEHERD_DETAIL"], ln["detail"])
        failed = [ln for ln in lines if ln["event"] == "failed"]
        self.assertEqual([(x["cluster"], x["pool"]) for x in failed], [("pools", "np-batch")])
        self.assertEqual(len(j.query("NODEHERD_RESULT=failed")), 1)

        # journalctl NODEHERD_CLUSTER=web: exactly web's entries
        web = j.query("NODEHERD_CLUSTER=web")
        self.assertEqual(len(web), len([ln for ln in lines if ln["cluster"] == "web"]))
        self.assertTrue(web)
        self.assertTrue(all(e["NODEHERD_CLUSTER"] == "web" for e in web))
        self.assertEqual(len(j.query("NODEHERD_REVISION=" + rev)), len(lines))
        self.assertEqual(len(j.query("NODEHERD_CLUSTER=pools", "NODEHERD_POOL=np-batch",
                                     "NODEHERD_ACTION=remove-nodes")),
                         len([ln for ln in lines if ln["pool"] == "np-batch"]))
        # no secret anywhere in the journal
        export = j.query(fmt="export")
        self.assertIn(b"NODEHERD_AUDIT=1", export)
        for secret in vislib.SECRETS:
            self.assertNotIn(secret.encode(), export)


if __name__ == "__main__":
    reexec_in_namespace()
    unittest.main(verbosity=2)
