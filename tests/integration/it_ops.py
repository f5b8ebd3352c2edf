"""Running as a service: sd_notify messages, reload (SIGHUP, rename, symlink
swap, invalid config, a storm of edits), graceful shutdown, /metrics in valid
Prometheus text, /healthz, /readyz, /api/v1/status and `nodeherd status`."""

import os
import re
import signal
import subprocess
import time
import unittest
import urllib.error
import urllib.request

import itlib
from itlib import harness

METRIC_LINE = re.compile(
    r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(?:[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\[\\"n])*"'
    r'(?:,[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\[\\"n])*")*)?\})? '
    r'(-?[0-9.eE+-]+|NaN|\+Inf|-Inf)$')


def parse_prometheus(text):
    """A strict parser of the text exposition format: returns {family: type}
    and [(name, labels, value)]; raises on anything malformed."""
    types, samples, helps = {}, [], set()
    for n, line in enumerate(text.splitlines(), 1):
        if not line:
            continue
        if line.startswith("# HELP "):
            name = line.split(" ", 3)[2]
            assert name not in helps, "duplicate HELP for %s" % name
            helps.add(name)
            continue
        if line.startswith("# TYPE "):
            _, _, name, typ = line.split(" ", 3)
            assert typ in ("counter", "gauge", "histogram", "summary", "untyped"), line
            assert name not in types, "duplicate TYPE for %s" % name
            types[name] = typ
            continue
        assert not line.startswith("#"), "line %d: stray comment %r" % (n, line)
        m = METRIC_LINE.match(line)
        assert m, "line %d: not a sample: %r" % (n, line)
        name = m.group(1)
        fam = re.sub(r"_(bucket|sum|count)$", "", name) if name not in types else name
        assert fam in types, "line %d: %s has no TYPE" % (n, name)
        samples.append((name, m.group(2) or "", float(m.group(3))))
    return types, samples


class OpsTest(unittest.TestCase):
    def setUp(self):
        self.fleet = harness.Fleet(seed=itlib.SEED)

    def tearDown(self):
        self.fleet.close()

    def get(self, d, path):
        try:
            with urllib.request.urlopen(d.url(path), timeout=10) as r:
                return r.status, r.read().decode(), dict(r.headers)
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode(), dict(e.headers)

    def test_notify_ready_status_reload_stopping(self):
        f = self.fleet
        d = f.daemon(itlib.fleet_yaml(), env={"WATCHDOG_USEC": "400000"})
        d.wait_ready()
        msgs = [m for _, m in d.notify.all()]
        first_ready = next(i for i, m in enumerate(msgs) if "READY=1" in m.split("\n"))
        self.assertTrue(any(m.startswith("STATUS=") for m in msgs[:first_ready + 1]), msgs)
        f.wait_converged(d)
        d.notify.wait_for(lambda m: re.search(r"STATUS=.*4 clusters: 4 converged", m))
        d.signal(signal.SIGHUP)
        d.notify.wait_for(lambda m: "RELOADING=1" in m)
        rel = [m for _, m in d.notify.all() if "RELOADING=1" in m][0]
        self.assertRegex(rel, r"MONOTONIC_USEC=\d+")
        time.sleep(0.3)
        after = [m for _, m in d.notify.all()]
        idx = max(i for i, m in enumerate(after) if "RELOADING=1" in m)
        self.assertTrue(any("READY=1" in m.split("\n") for m in after[idx:]), after[idx:])
        # the loop pets the watchdog at half of WATCHDOG_USEC (200 ms)
        pets = [t for t, m in d.notify.all() if "WATCHDOG=1" in m.split("\n")]
        self.assertGreaterEqual(len(pets), 5, "WATCHDOG=1 too rare")
        gaps = [b - a for a, b in zip(pets, pets[1:])]
        self.assertLess(max(gaps[-5:]), 0.4, gaps[-5:])
        t = time.monotonic()
        self.assertEqual(d.stop(), 0)
        self.assertLess(time.monotonic() - t, 15)
        self.assertTrue(any("STOPPING=1" in m for _, m in d.notify.all()))

    def test_reload_on_rename_symlink_swap_and_refusal(self):
        f = self.fleet
        # git-sync layout: root/current -> worktree-1; config at root/current/nodeherd.yaml
        root = os.path.join(f.dir, "repo")
        os.makedirs(os.path.join(root, "wt1"))
        with open(os.path.join(root, "wt1", "nodeherd.yaml"), "w") as fh:
            fh.write(f.config_text(itlib.fleet_yaml(web=3)))
        os.symlink("wt1", os.path.join(root, "current"))
        cfg = os.path.join(root, "current", "nodeherd.yaml")
        d = f.daemon(config_path=cfg)
        d.wait_ready()
        f.wait_converged(d)
        # 1. symlink swap to a new worktree declaring web: 4
        os.makedirs(os.path.join(root, "wt2"))
        with open(os.path.join(root, "wt2", "nodeherd.yaml"), "w") as fh:
            fh.write(f.config_text(itlib.fleet_yaml(web=4)))
        os.symlink("wt2", os.path.join(root, "current.tmp"))
        os.rename(os.path.join(root, "current.tmp"), os.path.join(root, "current"))
        f.wait_converged(d, pred=lambda s: any(g["declared"] == 4 and g["observed"] == 4
                                               for c in s["clusters"] if c["name"] == "web"
                                               for g in c["groups"]))
        # 2. an invalid file is refused; the old configuration keeps running
        bad = os.path.join(root, "wt2", "nodeherd.yaml.tmp")
        with open(bad, "w") as fh:
            fh.write("daemon: {poll_interval: fast}\n")
        os.rename(bad, os.path.join(root, "wt2", "nodeherd.yaml"))
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and "keeping the previous configuration" not in d.log():
            time.sleep(0.05)
        self.assertIn("keeping the previous configuration", d.log())
        self.assertRegex(d.log(), r"nodeherd\.yaml:1:\d+: daemon\.poll_interval")
        self.assertRegex(d.metrics(), r'nodeherd_config_reloads_total\{result="failure"\} [1-9]')
        self.assertIsNone(d.proc.poll())
        # 3. editor-style temp file + rename back to valid: web 3
        with open(bad, "w") as fh:
            fh.write(f.config_text(itlib.fleet_yaml(web=3)))
        os.rename(bad, os.path.join(root, "wt2", "nodeherd.yaml"))
        f.wait_converged(d, pred=lambda s: any(g["declared"] == 3 and g["observed"] == 3
                                               for c in s["clusters"] if c["name"] == "web"
                                               for g in c["groups"]))
        itlib.assert_clean(self, f)
        self.assertEqual(d.stop(), 0)

    def test_undeclared_cluster_leaves_the_metrics(self):
        """The per-cluster families are written from the clusters the daemon
        manages at each scrape: a cluster taken out of the declaration has
        no series left in any of them, the others keep theirs."""
        families = ("nodeherd_desired_nodes", "nodeherd_observed_nodes", "nodeherd_nodes",
                    "nodeherd_cluster_converged", "nodeherd_cluster_blocked",
                    "nodeherd_jobs_in_flight", "nodeherd_job_oldest_age_seconds")
        f = self.fleet
        text = itlib.fleet_yaml()
        d = f.daemon(text)
        d.wait_ready()
        f.wait_converged(d)

        def series(m, cluster):
            return {fam for fam in families for line in m.splitlines()
                    if line.startswith(fam + "{") and 'cluster="%s"' % cluster in line}

        m = d.metrics()
        self.assertEqual(series(m, "train"), set(families))
        self.assertEqual(series(m, "web"), set(families))
        start, end = text.index("  - name: train\n"), text.index("  - name: ai\n")
        f.write_config(text[:start] + text[end:])
        d.signal(signal.SIGHUP)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and any(
                c["name"] == "train" and c["state"] != "removed" for c in d.status()["clusters"]):
            time.sleep(0.1)
        m = d.metrics()
        self.assertEqual(series(m, "train"), set(), m)
        self.assertEqual(series(m, "web"), set(families))
        self.assertEqual(d.stop(), 0)

    def test_reload_storm_ends_on_last_valid(self):
        f = self.fleet
        cfg = f.write_config(itlib.fleet_yaml(web=3))
        d = f.daemon(config_path=cfg)
        d.wait_ready()
        for i in range(100):
            text = itlib.fleet_yaml(web=3 + (i % 3)) if i % 4 else "clusters: [ {broken\n"
            if i == 99:
                text = itlib.fleet_yaml(web=4)
            tmp = cfg + ".tmp"
            with open(tmp, "w") as fh:
                fh.write(f.config_text(text))
            os.rename(tmp, cfg)
            if i % 10 == 0:
                d.signal(signal.SIGHUP)
            time.sleep(0.005)
        f.wait_converged(d, timeout=120, pred=lambda s: all(c["state"] == "converged"
                                                            for c in s["clusters"]) and any(
            g["declared"] == 4 for c in s["clusters"] if c["name"] == "web" for g in c["groups"]))
        self.assertIsNone(d.proc.poll())
        itlib.assert_clean(self, f)
        self.assertEqual(d.stop(), 0)

    def test_counters_alerts_watch_exist_from_zero(self):
        """Prometheus sees no increase() in a series whose first sample already
        counts the first failure: every counter an alert takes increase() or
        rate() of is there, at 0, right after start (contrib/prometheus/alerts.yaml)."""
        f = self.fleet
        d = f.daemon(itlib.fleet_yaml())
        d.wait_ready()
        types, samples = parse_prometheus(d.metrics())
        series = {(n, tuple(sorted(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', l)))): v
                  for n, l, v in samples}

        def value(name, **labels):
            return series.get((name, tuple(sorted(labels.items()))))

        for cluster in ("web", "pools", "train", "ai"):
            for kind in ("scale-cluster", "scale-pool", "remove-nodes", "delete-pool"):
                for result in ("failed", "timed_out", "unknown"):
                    self.assertEqual(value("nodeherd_actions_total", cluster=cluster, kind=kind,
                                           result=result), 0.0, (cluster, kind, result))
        for prov in ("ack", "cce", "ma"):
            self.assertEqual(value("nodeherd_throttled_total", provider=prov), 0.0, prov)
        self.assertEqual(value("nodeherd_config_reloads_total", result="failure"), 0.0)
        self.assertEqual(value("nodeherd_config_reloads_total", result="success"), 0.0)
        # a single instance: leader of its own fleet, no fleet label
        self.assertEqual(value("nodeherd_leader"), 1.0)
        self.assertEqual(value("nodeherd_leader_transitions_total"), 0.0)
        # and generally: each counter the alerts watch has series at start
        with open(os.path.join(itlib.ROOT, "contrib", "prometheus", "alerts.yaml")) as fh:
            alerts = fh.read()
        watched = set(re.findall(r"(?:increase|rate)\((nodeherd_[a-z_]+_total)", alerts))
        watched.discard("nodeherd_api_requests_total")  # per status code, as codes occur
        self.assertTrue(watched)
        names = {n for n, _, _ in samples}
        for name in sorted(watched):
            self.assertIn(name, names, "%s has no series at start" % name)
        d.stop()

    def test_endpoints_and_status_command(self):
        f = self.fleet
        d = f.daemon(itlib.fleet_yaml())
        d.wait_port()
        d.wait_ready()
        code, body, _ = self.get(d, "/healthz")
        self.assertEqual(code, 200)
        code, body, _ = self.get(d, "/readyz")
        self.assertEqual(code, 200)
        f.wait_converged(d)
        code, body, hdrs = self.get(d, "/metrics")
        self.assertEqual(code, 200)
        self.assertIn("text/plain", hdrs.get("Content-Type", ""))
        types, samples = parse_prometheus(body)
        names = {s[0] for s in samples}
        for want in ("nodeherd_desired_nodes", "nodeherd_observed_nodes",
                     "nodeherd_actions_total", "nodeherd_api_requests_total",
                     "nodeherd_api_request_duration_seconds_bucket",
                     "nodeherd_last_successful_poll_timestamp_seconds",
                     "nodeherd_cluster_converged", "nodeherd_jobs_in_flight"):
            self.assertIn(want, names)
        for fam in types:
            self.assertTrue(fam.startswith("nodeherd_"), fam)
        # the exported list used by the dashboard and alerts
        exported = os.path.join(itlib.ROOT, "contrib", "prometheus", "exported-metrics.txt")
        if os.path.exists(exported):
            with open(exported) as fh:
                lines = fh.read().splitlines()
            for line in lines:
                name = line.split("#")[0].strip().split()[0] if line.split("#")[0].strip() else ""
                if name and not name.startswith("nodeherd_leader"):
                    self.assertIn(name, types, "exported-metrics.txt names %s" % name)
        code, body, _ = self.get(d, "/")
        self.assertEqual(code, 200)
        self.assertIn("<html", body.lower())
        env = dict(os.environ, NO_PROXY="*")
        p = subprocess.run([f.binary, "status", "--url", d.url("")], env=env,
                           capture_output=True, text=True, timeout=30)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertRegex(p.stdout, r"web \(aliyun-ack, ack\): converged")
        self.assertRegex(p.stdout, r"gpu-a\s+declared 3\s+observed 3")
        # CCE's DefaultPool holds the nodes outside every custom pool
        self.assertRegex(p.stdout, r"DefaultPool\s+declared -\s+observed 2\s+ready 2")
        p = subprocess.run([f.binary, "status", "--url", "http://127.0.0.1:1"], env=env,
                           capture_output=True, text=True, timeout=30)
        self.assertEqual(p.returncode, 1)
        self.assertIn("no daemon answered", p.stderr)
        self.assertEqual(d.stop(), 0)

    def test_secrets_never_appear(self):
        f = self.fleet
        d = f.daemon(itlib.fleet_yaml())
        d.wait_ready()
        f.wait_converged(d)
        texts = [d.log(), d.metrics(), self.get(d, "/api/v1/status")[1]]
        jp = os.path.join(f.state_dir, "journal.log")
        with open(jp) as fh:
            texts.append(fh.read())
        for secret in (harness.ACK_SK, harness.HW_SK, harness.NODE_PW):
            for t in texts:
                self.assertNotIn(secret, t)
        self.assertEqual(d.stop(), 0)


if __name__ == "__main__":
    unittest.main(verbosity=2)
