"""Issue 17: safety switches and checks that mean what they say, end to end
through the real binary against contrib/fakecloud, one test per point:

1. daemon.dry_run and clusters[].suspend follow reloads both ways; nothing
   new is sent while on, what is in flight is followed to its end;
2. one cloud cluster declared twice is refused (check, run, reload), within a
   file and across files; check on 2,000 duplicating files prints < 1 MB;
3. plan exit codes as terraform's: 1 on any error (bad file, missing file,
   bad option, unreachable cloud), 2 when the declared state differs (changes
   or only refused ones), 0 converged; --json is always one document;
4. check --offline reads no secret; plan needs only the read credentials;
5. converged means every declared node ready: a failed ACK scale-pool job
   leaves the cluster failing (not converged, nodeherd_nodes{state="failed"})
   and is retried within the budgets; a CCE job with failed sub-jobs is a
   failed action, retried;
6. run --dry-run: status (text and JSON) shows what would be done;
7. scale_in.drain / release_instances are refused where they mean nothing.

Every test ends with the emulator's invariants clean (no duplicate or
unrequested mutation)."""

import json
import os
import re
import shutil
import signal
import subprocess
import time
import unittest
import urllib.request

import itlib
from itlib import harness

GPU_POOL = "7e1a0000-0000-4000-8000-0000000000a1"


def wait_for(pred, timeout, what, d=None, interval=0.1):
    end = time.monotonic() + timeout
    last = None
    while time.monotonic() < end:
        try:
            last = pred()
            if last:
                return last
        except (OSError, ValueError, KeyError, IndexError):
            pass
        if d is not None and d.proc.poll() is not None:
            raise RuntimeError("nodeherd exited (%s):\n%s" % (d.proc.returncode, d.log()[-4000:]))
        time.sleep(interval)
    raise AssertionError("timed out waiting for %s%s" % (
        what, ("\nlog tail:\n" + d.log()[-4000:]) if d is not None else ""))


def cluster(status, name):
    return [c for c in status["clusters"] if c["name"] == name][0]


def settled_fleet(**kw):
    """itlib's fleet, declared as the seed already is except train's gpu-a,
    whose Abnormal node goes first (gpu-a: 4 -> 3): quick to converge."""
    args = dict(web=5, np_web=3, np_batch=2, gpu=3, np1=2, prune=False)
    args.update(kw)
    return itlib.fleet_yaml(**args)


def set_daemon(text, line):
    """Adds a line to the daemon: section."""
    return text.replace("  listen: 127.0.0.1:0\n", "  listen: 127.0.0.1:0\n  %s\n" % line)


def metric(text, name, labels):
    m = re.search(r"^%s\{%s\} (\S+)$" % (re.escape(name), re.escape(labels)), text, re.M)
    return float(m.group(1)) if m else None


class SafetyTest(unittest.TestCase):
    def setUp(self):
        self.fleet = harness.Fleet(seed=itlib.SEED)
        self.fleet.admin("timing", "POST", {"job_seconds": 0.6, "node_create_seconds": 0.4,
                                            "node_delete_seconds": 0.3})
        self.env = dict(os.environ, CREDENTIALS_DIRECTORY=self.fleet.creds, NO_PROXY="*")
        self.env.pop("STATE_DIRECTORY", None)

    def tearDown(self):
        self.fleet.close()

    def nh(self, *args, env=None, timeout=120):
        return subprocess.run([self.fleet.binary] + list(args), env=env or self.env,
                              capture_output=True, text=True, timeout=timeout)

    def statuses(self, d):
        return [m for _, m in d.notify.all() if m.startswith("STATUS=")]

    # ---------------------------------------------------------------- 1
    def test_1_dry_run_and_suspend_follow_reloads(self):
        f = self.fleet
        base = settled_fleet()
        d = f.daemon(base)
        d.wait_ready()
        f.wait_converged(d, timeout=90)
        n0 = len(f.mutations())

        # dry_run turned on by editing the file, with workers: 8: nothing is sent
        f.write_config(set_daemon(base, "dry_run: true").replace("workers: 5", "workers: 8"))
        s = wait_for(lambda: (lambda s: s if cluster(s, "web")["would"] and
                              cluster(s, "web")["would"][0]["target"] == 8 else None)(d.status()),
                     30, "web shown as dry-run, would scale to 8", d)
        web = cluster(s, "web")
        self.assertEqual((web["state"], web["mode"]), ("dry-run", "dry-run"))
        self.assertEqual(web["would"][0]["kind"], "scale-cluster")
        self.assertEqual((s["dry_run"], s["dry_run_source"]), (True, "configuration"))
        self.assertEqual(s["summary"]["dry_run"], 1)
        self.assertIn("reload: dry_run turned on: observing and planning, sending nothing new",
                      d.log())
        self.assertRegex(d.log(), r"web: dry-run, would scale-cluster target 8")
        d.notify.wait_for(lambda m: m.startswith("STATUS=dry-run; ") and "1 dry-run" in m)
        p = self.nh("status", "--url", "http://127.0.0.1:%d" % d.port)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn("DRY RUN from the configuration", p.stdout)
        self.assertRegex(p.stdout, r"\nweb \(aliyun-ack, ack\): dry-run, last poll")
        self.assertIn("  would: scale-cluster 5 -> 8 (rule declared: 8 declared, 5 observed",
                      p.stdout)
        # a second edit while on: still nothing
        f.write_config(set_daemon(base, "dry_run: true").replace("workers: 5", "workers: 9"))
        wait_for(lambda: cluster(d.status(), "web")["would"][0]["target"] == 9, 30,
                 "would scale to 9", d)
        time.sleep(2.5)  # more than two poll intervals
        self.assertEqual(f.mutations()[n0:], [], "a dry run sent something")

        # suspend: one cluster held, the others act
        f.write_config(base.replace("workers: 5", "workers: 9\n    suspend: true")
                       .replace("{ name: np-batch, nodes: 2 }", "{ name: np-batch, nodes: 1 }"))
        wait_for(lambda: [m for m in f.mutations()[n0:] if m["op"] == "RemoveNodePoolNodes"], 30,
                 "pools acts once dry_run is off", d)
        s = wait_for(lambda: (lambda s: s if cluster(s, "web")["state"] == "suspended" else None)(
            d.status()), 30, "web suspended", d)
        self.assertEqual(cluster(s, "web")["mode"], "suspended")
        self.assertEqual(cluster(s, "web")["would"][0]["target"], 9)
        self.assertEqual(s["dry_run"], False)
        self.assertIn("reload: dry_run turned off: planned changes are sent from now on", d.log())
        self.assertIn("reload: cluster web suspend turned on", d.log())
        d.notify.wait_for(lambda m: m.startswith("STATUS=4 clusters") and "1 suspended" in m)
        time.sleep(2.5)
        self.assertEqual([m["op"] for m in f.mutations()[n0:] if m["op"] == "ScaleCluster"], [],
                         "a suspended cluster was scaled")

        # released: the held change goes out once
        f.write_config(base.replace("workers: 5", "workers: 9")
                       .replace("{ name: np-batch, nodes: 2 }", "{ name: np-batch, nodes: 1 }"))
        f.wait_converged(d, timeout=90, pred=lambda s: cluster(s, "web")["state"] == "converged"
                         and s["clusters"][0]["groups"][0]["ready"] == 9)
        self.assertIn("reload: cluster web suspend turned off", d.log())
        self.assertEqual(len([m for m in f.mutations()[n0:] if m["op"] == "ScaleCluster"]), 1)

        # turning dry_run on with an operation in flight cancels nothing
        n1 = len(f.mutations())
        f.admin("timing", "POST", {"job_seconds": 4, "node_create_seconds": 3,
                                   "node_delete_seconds": 0.3})
        f.write_config(base.replace("workers: 5", "workers: 11")
                       .replace("{ name: np-batch, nodes: 2 }", "{ name: np-batch, nodes: 1 }"))
        # sent (accepted by the cloud), not merely planned: an operation still
        # waiting for its journal write when dry_run comes on is not sent at all
        wait_for(lambda: [m for m in f.mutations()[n1:] if m["op"] == "ScaleCluster"] and
                 cluster(d.status(), "web")["in_flight"][0]["state"] == "sent", 30,
                 "scale-out sent and in flight", d)
        f.write_config(set_daemon(base, "dry_run: true").replace("workers: 5", "workers: 12")
                       .replace("{ name: np-batch, nodes: 2 }", "{ name: np-batch, nodes: 1 }"))
        wait_for(lambda: "1 operation in flight is followed to its end" in d.log(), 30,
                 "the reload saying what stays in flight", d)
        wait_for(lambda: len(re.findall(r"web: scale-cluster done", d.log())) == 2, 60,
                 "the job in flight done", d)
        wait_for(lambda: cluster(d.status(), "web")["would"][0]["target"] == 12, 30,
                 "would scale to 12 (held)", d)
        time.sleep(2.5)
        self.assertEqual([m["op"] for m in f.mutations()[n1:]], ["ScaleCluster"],
                         "only the operation sent before dry_run was turned on")
        self.assertEqual(len(itlib.live_nodes(f.state(), itlib.WEB)), 11)
        itlib.assert_clean(self, f)
        self.assertEqual(d.stop(), 0)

    # ---------------------------------------------------------------- 2
    def test_2_one_cluster_declared_twice_is_refused(self):
        f = self.fleet
        dup = settled_fleet().replace("  - name: pools\n", (
            "  - name: web-again\n    provider: ack\n    id: %s\n    workers: 9\n"
            "  - name: pools\n") % itlib.WEB)
        path = f.write_config(dup, name="dup.yaml")
        p = self.nh("check", path)
        self.assertEqual(p.returncode, 2, p.stdout + p.stderr)
        with open(path) as fh:
            lines = fh.read().splitlines()
        first = [n for n, l in enumerate(lines, 1) if l == "  - name: web"][0]
        second = [n for n, l in enumerate(lines, 1) if "name: web-again" in l][0]
        self.assertIn("%s:%d:5: clusters[1]: the aliyun-ack cluster %s (region cn-hangzhou) is "
                      "declared 2 times: \"web\" at %s:%d:5, \"web-again\" at %s:%d:5; declare "
                      "each cloud cluster once" % (path, second, itlib.WEB, path, first, path,
                                                   second), p.stderr)
        # the daemon refuses to start on it...
        d = f.daemon(config_path=path)
        self.assertEqual(d.proc.wait(30), 2)
        self.assertEqual(f.mutations(), [])
        # ... and a reload to it keeps the previous configuration
        good = f.write_config(settled_fleet())
        d = f.daemon(config_path=good)
        d.wait_ready()
        f.wait_converged(d, timeout=90)
        n0 = len(f.mutations())
        f.write_config(dup)
        wait_for(lambda: "is declared 2 times" in d.log() and "keeping the previous" in d.log(), 30,
                 "the duplicate refused on reload", d)
        self.assertIn('nodeherd_config_reloads_total{result="failure"} 1', d.metrics())
        time.sleep(2)
        self.assertEqual(f.mutations()[n0:], [])
        self.assertEqual(d.stop(), 0)

        # across the files of a directory: an error, naming both files
        fleet_dir = os.path.join(f.dir, "fleet")
        os.makedirs(fleet_dir)
        for name in ("production.yaml", "staging.yaml"):
            with open(os.path.join(fleet_dir, name), "w") as fh:
                fh.write(f.config_text(settled_fleet()))
        p = self.nh("check", fleet_dir)
        self.assertEqual(p.returncode, 2, p.stderr)
        lines = [l for l in p.stderr.splitlines() if " is declared 2 times: " in l]
        self.assertEqual(len(lines), 4, p.stderr)  # web, pools, train, ai: once each
        self.assertTrue(any(l.startswith(os.path.join(fleet_dir, "staging.yaml")) and
                            "production.yaml" in l and "in one file only" in l for l in lines),
                        lines)

        # 2,000 files declaring the same cluster: one message, bounded output
        many = os.path.join(f.dir, "many")
        os.makedirs(many)
        one = ("providers:\n  ack:\n    kind: aliyun-ack\n    region: cn-hangzhou\n"
               "    credentials:\n      access_key_id: { file: ack-ak }\n"
               "      access_key_secret: { file: ack-sk }\n"
               "clusters:\n  - name: web\n    provider: ack\n    id: %s\n    workers: 5\n"
               % itlib.WEB)
        for i in range(2000):
            with open(os.path.join(many, "env-%04d.yaml" % i), "w") as fh:
                fh.write(one)
        t0 = time.monotonic()
        p = subprocess.run([f.binary, "check", many], env=self.env, capture_output=True,
                           timeout=300)
        took = time.monotonic() - t0
        out = p.stdout + p.stderr
        self.assertEqual(p.returncode, 2)
        self.assertLess(len(out), 1 << 20, "check printed %d bytes" % len(out))
        err = p.stderr.decode()
        self.assertEqual(len([l for l in err.splitlines() if "is declared 2000 times" in l]), 1,
                         err[:3000])
        self.assertIn("and 1992 more", err)
        self.assertIn("1 cloud cluster is declared in more than one file", err)
        print("check on 2000 duplicating files: %d bytes, %.2f s" % (len(out), took))

    # ---------------------------------------------------------------- 3
    def test_3_plan_exit_codes(self):
        f = self.fleet
        bad = f.write_config(settled_fleet().replace("workers: 5", "workers: five"), "bad.yaml")
        missing = os.path.join(f.dir, "missing.yaml")
        for cfg, what in ((bad, "workers: expected an integer"),
                          (missing, "cannot open the configuration file")):
            p = self.nh("--config", cfg, "plan", "--detailed-exitcode")
            self.assertEqual(p.returncode, 1, (cfg, p.stdout, p.stderr))
            self.assertIn(what, p.stderr)
            p = self.nh("--config", cfg, "plan", "--json", "--detailed-exitcode")
            self.assertEqual(p.returncode, 1)
            doc = json.loads(p.stdout)
            self.assertEqual(doc["result"], "error")
            self.assertIn(what, doc["diagnostics"][0]["summary"])
        doc = json.loads(self.nh("--config", bad, "plan", "--json").stdout)
        self.assertEqual(doc["diagnostics"][0]["file"], bad)
        self.assertGreater(doc["diagnostics"][0]["line"], 0)
        p = self.nh("--config", bad, "plan", "--json", "--timeout", "soon")
        self.assertEqual((p.returncode, json.loads(p.stdout)["result"]), (1, "error"))
        p = self.nh("--log-level", "loud", "--config", bad, "plan", "--detailed-exitcode")
        self.assertEqual(p.returncode, 1, p.stderr)

        # changes to make: 2
        cfg = f.write_config(settled_fleet())
        p = self.nh("--config", cfg, "plan", "--detailed-exitcode")
        self.assertEqual(p.returncode, 2, p.stdout + p.stderr)
        self.assertIn("1 change to make", p.stdout)
        # a converged fleet: 0
        d = f.daemon(config_path=cfg)
        d.wait_ready()
        f.wait_converged(d, timeout=90)
        self.assertEqual(d.stop(), 0)
        n_daemon = len(f.mutations())
        p = self.nh("--config", cfg, "plan", "--detailed-exitcode")
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        self.assertIn("Plan: converged: every cluster matches its declaration; nothing to do.",
                      p.stdout)
        p = self.nh("--config", cfg, "plan", "--detailed-exitcode", "--json")
        self.assertEqual((p.returncode, json.loads(p.stdout)["result"]), (0, "converged"))
        # only a refused change (max_removal_share): the fleet differs: 2
        refused = f.write_config(settled_fleet(web=1), "refused.yaml")
        p = self.nh("--config", refused, "plan", "--detailed-exitcode")
        self.assertEqual(p.returncode, 2, p.stdout + p.stderr)
        self.assertIn("refused (max_removal_share)", p.stdout)
        self.assertIn("Plan: 1 of 4 clusters differs from the declaration: 0 changes to make, 1 "
                      "blocked or refused (nothing can be done until the \"fix:\" lines above "
                      "are followed).", p.stdout)
        doc = json.loads(self.nh("--config", refused, "plan", "--json").stdout)
        self.assertEqual((doc["result"], doc["summary"]["actions"], doc["summary"]["blocked"]),
                         ("differs", 0, 1))
        # without --detailed-exitcode a plan that differs is a success
        self.assertEqual(self.nh("--config", refused, "plan").returncode, 0)
        # a cloud that cannot be read: 1, text and JSON
        unreachable = f.write_config(re.sub(r"http://127\.0\.0\.1:\d+", "http://127.0.0.1:9",
                                            f.config_text(settled_fleet())), "down.yaml")
        p = self.nh("--config", unreachable, "plan", "--detailed-exitcode", "--timeout", "20s")
        self.assertEqual(p.returncode, 1, p.stdout + p.stderr)
        self.assertIn("Plan FAILED: 4 of 4 clusters could not be observed", p.stdout)
        p = self.nh("--config", unreachable, "plan", "--json", "--timeout", "20s")
        doc = json.loads(p.stdout)
        self.assertEqual((p.returncode, doc["result"]), (1, "error"))
        self.assertEqual(sorted(x["cluster"] for x in doc["diagnostics"] if x["cluster"]),
                         ["ai", "pools", "train", "web"])
        self.assertEqual(len(f.mutations()), n_daemon, "a plan sent something")

    # ---------------------------------------------------------------- 4
    def test_4_offline_check_and_read_only_plan(self):
        f = self.fleet
        cfg = f.write_config(settled_fleet(web=6))
        empty = os.path.join(f.dir, "no-creds")
        os.makedirs(empty, mode=0o700)
        noenv = dict(self.env, CREDENTIALS_DIRECTORY=empty)
        p = self.nh("check", cfg, env=noenv)
        self.assertEqual(p.returncode, 2)
        self.assertIn("ack-sk ($CREDENTIALS_DIRECTORY) does not exist", p.stderr)
        p = self.nh("check", "--offline", cfg, env=noenv)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn("configuration OK (3 providers, 4 clusters; secrets not read: --offline)",
                      p.stdout)
        # a malformed reference is still an error offline
        badref = f.write_config(settled_fleet().replace("{ file: ack-sk }", "{ env: \"1 x\" }"),
                                "badref.yaml")
        p = self.nh("check", "--offline", badref, env=noenv)
        self.assertEqual(p.returncode, 2)
        self.assertIn("does not name a valid environment variable", p.stderr)

        # plan with the read keys only: no node login password anywhere
        ro = os.path.join(f.dir, "read-only")
        os.makedirs(ro, mode=0o700)
        for name in ("ack-ak", "ack-sk", "hw-ak", "hw-sk"):
            shutil.copy(os.path.join(f.creds, name), ro)
        p = self.nh("--config", cfg, "plan", "--detailed-exitcode",
                    env=dict(self.env, CREDENTIALS_DIRECTORY=ro))
        self.assertEqual(p.returncode, 2, p.stdout + p.stderr)
        self.assertIn("+ workers: 5 -> 6 (scale cluster)", p.stdout)
        self.assertNotIn("ack-node-pw", p.stdout + p.stderr)
        self.assertEqual(f.mutations(), [])
        # the daemon does need it
        d = f.daemon(config_path=cfg, env={"CREDENTIALS_DIRECTORY": ro})
        self.assertEqual(d.proc.wait(30), 2)
        self.assertIn("ack-node-pw ($CREDENTIALS_DIRECTORY) does not exist", d.log())

    # ---------------------------------------------------------------- 5
    def test_5_failed_job_is_not_converged_and_is_retried(self):
        f = self.fleet
        # the pool scale-out fails twice: created nodes end failed
        f.fault(route="ModifyClusterNodePool", fault="job_fail", count=2)
        d = f.daemon(settled_fleet(np_web=5))
        d.wait_ready()
        seen = {}

        def failing_with_failed_nodes():
            s = d.status()
            pools = cluster(s, "pools")
            g = [g for g in pools["groups"] if g["pool"] == "np-web"][0]
            if pools["state"] == "failing" and g["nodes"]["failed"] > 0 and not pools["in_flight"]:
                seen["status"] = pools
                seen["metrics"] = d.metrics()
                return True
            return False

        wait_for(failing_with_failed_nodes, 60, "pools failing with failed nodes", d,
                 interval=0.05)
        pools = seen["status"]
        g = [g for g in pools["groups"] if g["pool"] == "np-web"][0]
        self.assertEqual((g["declared"], g["observed"], g["ready"]), (5, 5, 3), pools)
        self.assertEqual(g["nodes"]["failed"], 2)
        self.assertIn("scale-pool failed: job", pools["last_error"])
        m = seen["metrics"]
        self.assertEqual(metric(m, "nodeherd_cluster_converged", 'cluster="pools"'), 0)
        self.assertEqual(metric(m, "nodeherd_nodes", 'cluster="pools",pool="np-web",state="failed"'),
                         2)
        self.assertEqual(metric(m, "nodeherd_nodes", 'cluster="pools",pool="np-web",state="ready"'),
                         3)
        # retried within the budgets: the failed nodes replaced, the pool grown back
        f.wait_converged(d, timeout=180, pred=lambda s: all(
            c["state"] == "converged" for c in s["clusters"]))
        ops = [m["op"] for m in f.mutations() if "/clusters/%s/" % itlib.POOLS in m["path"]]
        self.assertEqual(ops, ["ModifyClusterNodePool", "RemoveNodePoolNodes",
                               "ModifyClusterNodePool", "RemoveNodePoolNodes",
                               "ModifyClusterNodePool"], ops)
        self.assertRegex(d.log(), r"pools/np-web: remove-nodes target 3, 2 nodes \(rule "
                                  r"unhealthy-first: 5 declared, 5 observed, 2 failed: remove 2 to "
                                  r"replace them")
        state = f.state()
        np_web = itlib.live_nodes(state, itlib.POOLS, "np-web")
        self.assertEqual(sorted(n["status"] for n in np_web), ["running"] * 5)
        m = d.metrics()
        self.assertEqual(metric(m, "nodeherd_cluster_converged", 'cluster="pools"'), 1)
        self.assertEqual(metric(m, "nodeherd_nodes", 'cluster="pools",pool="np-web",state="ready"'),
                         5)
        self.assertEqual(metric(m, "nodeherd_nodes", 'cluster="pools",pool="np-web",state="failed"'),
                         0)
        itlib.assert_clean(self, f)

        # CCE: a job whose sub-jobs failed is a failed action, retried
        # (RemoveNode, one job for both loose nodes: release_instances false,
        # issue #19; with true each node is deleted by its own DeleteNode)
        n0 = len(f.mutations())
        f.fault(route="RemoveNode", fault="subjob_fail", nodes=1, count=1)
        text = settled_fleet(np_web=5).replace(
            "    id: %s\n" % itlib.TRAIN, "    id: %s\n    workers: 0\n" % itlib.TRAIN).replace(
            "    scale_in: { max_per_cycle: 5 }\n    login:",
            "    scale_in: { max_per_cycle: 5, release_instances: false }\n    login:")
        self.assertIn("release_instances: false", text)
        f.write_config(text)
        f.wait_converged(d, timeout=180, pred=lambda s: cluster(s, "train")["state"] ==
                         "converged" and [g["observed"] for g in cluster(s, "train")["groups"]
                                          if g["pool"] is None] == [0])
        self.assertRegex(d.log(), r"train: job \S+ failed: .*1 of 2 sub-jobs failed")
        self.assertRegex(d.log(), r"train: remove-nodes failed: job \S+ failed")
        self.assertIn('nodeherd_actions_total{cluster="train",kind="remove-nodes",'
                      'result="failed"} 1', d.metrics())
        removes = [m for m in f.mutations()[n0:] if m["op"] == "RemoveNode"]
        self.assertEqual(len(removes), 2, removes)
        itlib.assert_clean(self, f)
        self.assertEqual(d.stop(), 0)

    # ---------------------------------------------------------------- 6
    def test_6_dry_run_shows_what_would_be_done(self):
        f = self.fleet
        d = f.daemon(itlib.fleet_yaml(), extra_args=["--dry-run"])
        d.wait_ready()
        s = wait_for(lambda: (lambda s: s if all(c["state"] in ("dry-run", "converged")
                                                 for c in s["clusters"]) else None)(d.status()),
                     30, "every cluster held or converged", d)
        self.assertEqual((s["dry_run"], s["dry_run_source"]), (True, "command line"))
        web = cluster(s, "web")
        self.assertEqual((web["state"], web["mode"]), ("dry-run", "dry-run"))
        self.assertEqual([(a["kind"], a["from"], a["target"]) for a in web["would"]],
                         [("remove-nodes", 5, 3)])
        self.assertNotIn(itlib.PROTECTED, web["would"][0]["nodes"])
        ai = cluster(s, "ai")
        self.assertIn("delete-pool", [a["kind"] for a in ai["would"]])
        self.assertGreaterEqual(s["summary"]["dry_run"], 4)
        p = self.nh("status", "--url", "http://127.0.0.1:%d" % d.port)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn("DRY RUN from the command line", p.stdout)
        self.assertRegex(p.stdout, r"\nweb \(aliyun-ack, ack\): dry-run, last poll .*\n"
                                   r"  dry-run: observed and planned, nothing new is sent\n")
        self.assertRegex(p.stdout, r"  would: remove-nodes 5 -> 3, nodes \S+ \S+ \(rule declared")
        self.assertRegex(p.stdout, r"  would: delete-pool nodepool-old 1 -> 0")
        d.notify.wait_for(lambda m: m.startswith("STATUS=dry-run; 4 clusters") and
                          "dry-run (held)" in m)
        time.sleep(2.5)
        self.assertEqual(f.mutations(), [])
        self.assertFalse(os.path.exists(os.path.join(f.state_dir, "journal.log")))
        self.assertEqual(d.stop(), 0)

    # ---------------------------------------------------------------- 7
    def test_7_keys_without_meaning_are_refused(self):
        f = self.fleet
        text = itlib.fleet_yaml().replace(
            "    scale_in: { max_per_cycle: 5 }\n    login:",
            "    scale_in: { max_per_cycle: 5, drain: true }\n    login:").replace(
            "    prune: true\n    scale_in: { max_per_cycle: 5 }\n",
            "    prune: true\n    scale_in: { max_per_cycle: 5, release_instances: true }\n")
        self.assertIn("drain: true", text)
        self.assertIn("release_instances: true", text)
        path = f.write_config(text, "keys.yaml")
        p = self.nh("check", path)
        self.assertEqual(p.returncode, 2, p.stdout + p.stderr)
        # CCE drains only through the cluster's Kubernetes API (issue #20)
        self.assertRegex(p.stderr, r"keys\.yaml:\d+:\d+: clusters\[2\]\.scale_in\.drain: CCE "
                                   r"cannot drain a node and the cluster has no Kubernetes access: "
                                   r"a drain needs the cluster's Kubernetes API .*issue #20")
        self.assertRegex(p.stderr, r"clusters\[3\]\.scale_in\.release_instances: not supported by "
                                   r"huawei-modelarts providers \(only aliyun-ack, huawei-cce: "
                                   r".*\); remove it")
        self.assertIn("configuration invalid (2 errors)", p.stderr)
        d = f.daemon(config_path=path)
        self.assertEqual(d.proc.wait(30), 2)
        self.assertEqual(f.mutations(), [])
        # on ACK they mean something and stay accepted
        ok = f.write_config(itlib.fleet_yaml().replace(
            "    scale_in: { max_per_cycle: 5 }\n",
            "    scale_in: { max_per_cycle: 5, drain: true, release_instances: false }\n", 1))
        self.assertEqual(self.nh("check", ok).returncode, 0)
        # on CCE release_instances picks DeleteNode or RemoveNode (issue #19)
        # and drain: false says what CCE does anyway
        ok = f.write_config(itlib.fleet_yaml().replace(
            "    scale_in: { max_per_cycle: 5 }\n    login:",
            "    scale_in: { max_per_cycle: 5, drain: false, release_instances: false }\n"
            "    login:"))
        p = self.nh("check", ok)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)


if __name__ == "__main__":
    unittest.main(verbosity=2)
