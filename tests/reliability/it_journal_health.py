#!/usr/bin/env python3
"""A journal that cannot be written makes the daemon unhealthy (issue 22,
point 5).

The state directory is a small tmpfs (the test re-runs itself under
`unshare -m`, a private mount namespace; needs root). The daemon converges,
then the tmpfs is filled and the declaration changes: the operation cannot
be journalled, so it is not sent, and from then on

  - GET /healthz answers 503 and names the journal and the reason,
  - /readyz answers 503,
  - nodeherd_journal_healthy is 0,
  - STATUS= says so,
  - WATCHDOG=1 stops, so systemd restarts the service,

while nothing is sent to the cloud. Exit 77 (skipped) without root or
unshare.

    NODEHERD_BIN=... python3 tests/reliability/it_journal_health.py [-v]
"""

import os
import re
import shutil
import subprocess
import sys
import time
import unittest
import urllib.error
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "integration"))
import itlib  # noqa: E402
from itlib import harness  # noqa: E402


def reexec_in_namespace():
    if os.environ.get("NH_REL_IN_MOUNT_NS") == "1":
        return
    why = None
    if os.geteuid() != 0:
        why = "needs root for a private mount namespace"
    elif shutil.which("unshare") is None:
        why = "needs unshare(1)"
    if why:
        print("SKIP: %s" % why)
        sys.exit(77)
    env = dict(os.environ, NH_REL_IN_MOUNT_NS="1")
    p = subprocess.run(["unshare", "--mount", "--propagation", "private", sys.executable,
                        os.path.abspath(__file__)] + sys.argv[1:], env=env)
    sys.exit(p.returncode)


def get(url):
    try:
        with urllib.request.urlopen(url, timeout=10) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


class JournalHealthTest(unittest.TestCase):
    def setUp(self):
        self.fleet = harness.Fleet(seed=itlib.SEED)
        self.fleet.admin("timing", "POST", {"job_seconds": 0.3, "node_create_seconds": 0.2,
                                            "node_delete_seconds": 0.2})
        os.makedirs(self.fleet.state_dir, mode=0o700)
        subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k,mode=0700", "tmpfs",
                        self.fleet.state_dir], check=True)

    def tearDown(self):
        self.fleet.close()
        subprocess.run(["umount", "-l", self.fleet.state_dir], check=False)

    def fill(self):
        p = os.path.join(self.fleet.state_dir, "filler")
        fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            while True:
                os.write(fd, b"\0" * 4096)
        except OSError:
            pass
        finally:
            os.close(fd)
        return p

    def test_unwritable_journal_is_unhealthy(self):
        f = self.fleet
        d = f.daemon(itlib.fleet_yaml(), env={"WATCHDOG_USEC": "400000"})
        d.wait_ready()
        f.wait_converged(d)
        self.assertEqual(get(d.url("/healthz"))[0], 200)
        healthy = re.findall(r"(?m)^nodeherd_journal_healthy (\S+)$", d.metrics())
        before = len(f.mutations())
        self.fill()
        f.write_config(itlib.fleet_yaml(web=4))
        end = time.monotonic() + 30
        while time.monotonic() < end and get(d.url("/healthz"))[0] == 200:
            time.sleep(0.1)
        code, body = get(d.url("/healthz"))
        self.assertEqual(code, 503, "healthz still %d %r after a failed journal write:\n%s" % (
            code, body, d.log()[-3000:]))
        self.assertEqual(healthy, ["1"], "nodeherd_journal_healthy before the failure")
        self.assertIn("journal", body)
        self.assertIn(f.state_dir, body)
        self.assertRegex(body, r"No space left on device")
        self.assertEqual(get(d.url("/readyz"))[0], 503)
        self.assertRegex(d.metrics(), r"(?m)^nodeherd_journal_healthy 0$")
        d.notify.wait_for(lambda m: re.search(r"STATUS=.*journal", m), timeout=10)
        # the watchdog is no longer fed: systemd would restart the service
        time.sleep(0.5)
        t = time.monotonic()
        time.sleep(1.5)
        pets = [ts for ts, m in d.notify.all() if ts > t and "WATCHDOG=1" in m.split("\n")]
        self.assertEqual(pets, [], "WATCHDOG=1 still sent with an unwritable journal")
        self.assertEqual(len(f.mutations()), before, "sent without a journal record")
        self.assertIsNone(d.proc.poll())
        self.assertEqual(d.stop(), 0, d.log()[-3000:])


if __name__ == "__main__":
    reexec_in_namespace()
    unittest.main(verbosity=2)
