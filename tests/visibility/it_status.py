"""`nodeherd status` and `nodeherd status --json` against a live fleet
(issue 13, item 2): an operation in flight (a ScaleCluster whose cloud task
never finishes) with its kind, job id, state and a growing age; a blocked
cluster with the reason and the fix (workers: on huawei-cce); the role; the
last poll; recent actions with their revision. The daemon is found through
the configuration's daemon.listen, as an operator runs it; and the messages
when no daemon answers or the configuration gives no usable endpoint.
(it_ops.py covers a converged fleet and --url to a closed port.) Also: the
live /metrics and contrib/prometheus/exported-metrics.txt agree both ways."""

import json
import os
import re
import subprocess
import time
import unittest
import urllib.request

import vislib
from vislib import harness, itlib


class StatusTest(unittest.TestCase):
    def setUp(self):
        self.fleet = harness.Fleet(seed=itlib.SEED)
        vislib.fast_timing(self.fleet)
        # An operator's shell: none of the daemon's secrets are reachable
        # ($CREDENTIALS_DIRECTORY is systemd's, set for the service only).
        self.env = dict(os.environ, NO_PROXY="*")
        self.env.pop("CREDENTIALS_DIRECTORY", None)

    def tearDown(self):
        self.fleet.close()

    def status(self, *args, config=None):
        argv = [self.fleet.binary] + (["--config", config] if config else []) + ["status"]
        return subprocess.run(argv + list(args), env=self.env, capture_output=True, text=True,
                              timeout=30)

    def test_status_shows_in_flight_blocked_role_and_recent(self):
        f = self.fleet
        f.fault(route="ScaleCluster", fault="job_stuck")
        port = vislib.free_port()
        cfg = f.write_config(vislib.busy_fleet_text("127.0.0.1:%d" % port))
        d = f.daemon(config_path=cfg)
        d.wait_ready()
        d.port = port

        f.wait_converged(d, timeout=60, pred=vislib.busy_ready)
        task = [m for m in vislib.processed_mutations(f) if m["op"] == "ScaleCluster"]
        self.assertEqual(len(task), 1, "one ScaleCluster, never re-sent")
        task = task[0]["task"]
        # the stuck task's node appears in the cloud's node list at once, but
        # the daemon shows it only from its next observation
        f.wait_converged(d, timeout=30, pred=lambda s: [
            (g["observed"], g["ready"]) for c in s["clusters"] if c["name"] == "web"
            for g in c["groups"]] == [(6, 5)])

        # --json: the daemon's document as is
        p = self.status("--json", config=cfg)
        self.assertEqual(p.returncode, 0, p.stderr)
        doc = json.loads(p.stdout)
        self.assertEqual(doc["role"], "single")
        self.assertTrue(doc["revision"].startswith("sha256:"), doc["revision"])
        web = [c for c in doc["clusters"] if c["name"] == "web"][0]
        train = [c for c in doc["clusters"] if c["name"] == "train"][0]
        self.assertEqual(web["state"], "converging")
        # the stuck task's node is listed (creating) but not ready
        self.assertEqual([(g["pool"], g["declared"], g["observed"], g["ready"])
                          for g in web["groups"]], [(None, 6, 6, 5)])
        op = web["in_flight"][0]
        self.assertEqual((op["kind"], op["target"], op["job"], op["rule"], op["revision"]),
                         ("scale-cluster", 6, task, "declared", doc["revision"]))
        self.assertIn(op["state"], ("sent", "running"))
        self.assertGreaterEqual(op["age_s"], 0)
        self.assertLessEqual(abs(doc["now"] - web["last_poll"]), 10)
        blocked = [n for n in train["notes"] if n["kind"] == "blocked"]
        self.assertEqual(len(blocked), 1, train["notes"])
        self.assertIn("huawei-cce cannot add nodes outside a node pool", blocked[0]["msg"])
        self.assertIn("declare a node pool", blocked[0]["fix"])
        self.assertEqual(doc["summary"]["blocked"], 1)
        self.assertGreaterEqual(doc["summary"]["jobs_in_flight"], 1)

        # the table for people: same facts
        time.sleep(2.2)
        p = self.status(config=cfg)
        self.assertEqual(p.returncode, 0, p.stderr)
        out = p.stdout
        self.assertRegex(out.splitlines()[0],
                         r"^nodeherd \S+, single, revision %s$" % re.escape(doc["revision"]))
        self.assertRegex(out, r"\nweb \(aliyun-ack, ack\): converging, last poll \d+s ago\n")
        self.assertRegex(out, r"\n  \(workers\)\s+declared 6\s+observed 6\s+ready 5\n")
        m = re.search(r"\n  in flight: scale-cluster -> 6, job (\S+), (sent|running)( \d+%)?, "
                      r"age (\d+)s\n", out)
        self.assertIsNotNone(m, out)
        self.assertEqual(m.group(1), task)
        self.assertGreaterEqual(int(m.group(4)), op["age_s"] + 2, "the age grows")
        self.assertRegex(out, r"\ntrain \(huawei-cce, cce\): blocked, last poll \d+s ago\n")
        self.assertRegex(out, r"\n  blocked \(unsupported\): .*huawei-cce cannot add nodes outside "
                              r"a node pool\n    fix: declare a node pool")
        self.assertRegex(out, r"\n  recent: remove-nodes gpu-a -> 3 done \(rule declared, "
                              r"revision %s, \d+s ago\)\n" % re.escape(doc["revision"]))
        self.assertRegex(out, r"\n  gpu-a\s+declared 3\s+observed 3\s+ready 3\n")
        self.assertNotIn("in flight", out.split("\npools (")[1].split("\ntrain (")[0])

        self.check_exported_metrics(d)

        # --url as copied from a browser (trailing slash) reaches the same daemon
        p = self.status("--json", "--url", "http://127.0.0.1:%d/" % port)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(json.loads(p.stdout)["role"], "single")
        self.assertEqual(d.stop(), 0)

        # no daemon any more: a clear message naming the endpoint, exit 1
        p = self.status(config=cfg)
        self.assertEqual(p.returncode, 1)
        self.assertEqual(p.stdout, "")
        self.assertIn("no daemon answered at http://127.0.0.1:%d/api/v1/status" % port, p.stderr)
        self.assertIn("is it running?", p.stderr)

    def check_exported_metrics(self, d):
        """contrib/prometheus/exported-metrics.txt (what the dashboard and the
        alerts may use) is exactly what a live daemon exports: every listed
        family with its type, no family missing from the list, and samples
        carry only the listed labels."""
        import it_ops  # tests/integration: the strict exposition-format parser
        listed = {}
        path = os.path.join(vislib.ROOT, "contrib", "prometheus", "exported-metrics.txt")
        with open(path) as fh:
            for line in fh:
                parts = line.split("#")[0].split()
                if parts:
                    listed[parts[0]] = (parts[1], set(parts[2].split(",")) if len(parts) > 2
                                        else set())
        with urllib.request.urlopen(d.url("/metrics"), timeout=10) as r:
            types, samples = it_ops.parse_prometheus(r.read().decode())
        self.assertEqual(sorted(set(listed) - set(types)), [], "listed but not exported")
        self.assertEqual(sorted(set(types) - set(listed)), [], "exported but not listed")
        for name, (typ, _) in listed.items():
            self.assertEqual(types[name], typ, name)
        for name, labels, _ in samples:
            fam = name if name in listed else re.sub(r"_(bucket|sum|count)$", "", name)
            keys = set(re.findall(r'([a-zA-Z_][a-zA-Z0-9_]*)="', labels)) - {"le"}
            self.assertLessEqual(keys, listed[fam][1], "%s%s" % (name, labels))
        self.assertIn(("nodeherd_jobs_in_flight", '{cluster="web"}', 1.0), samples)
        self.assertIn(("nodeherd_cluster_blocked", '{cluster="train"}', 1.0), samples)

    def test_configuration_without_a_usable_endpoint(self):
        f = self.fleet
        for listen, want in (('""', "daemon.listen is empty"),
                             ("127.0.0.1:0", "port 0 (any free port); pass --url")):
            cfg = f.write_config(vislib.busy_fleet_text(listen), name="c-%d.yaml" % len(listen))
            p = self.status(config=cfg)
            self.assertEqual(p.returncode, 2, p.stderr)
            self.assertIn(want, p.stderr)
        p = self.status(config=os.path.join(f.dir, "missing.yaml"))
        self.assertEqual(p.returncode, 2)
        self.assertIn("cannot read daemon.listen from %s" % os.path.join(f.dir, "missing.yaml"),
                      p.stderr)
        self.assertIn("pass --url", p.stderr)
        bad = f.write_config("daemon: [unclosed\n", name="bad.yaml")
        p = self.status(config=bad)
        self.assertEqual(p.returncode, 2)
        self.assertIn("not a YAML mapping", p.stderr)
        # no daemon.listen: the default endpoint (nothing listens there in tests)
        none = f.write_config("clusters: []\n", name="none.yaml")
        p = self.status("--json", config=none)
        self.assertIn(p.returncode, (0, 1))
        if p.returncode == 1:
            self.assertIn("http://127.0.0.1:9464/api/v1/status", p.stderr)


if __name__ == "__main__":
    unittest.main(verbosity=2)
