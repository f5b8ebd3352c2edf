"""The real daemon against fakecloud: convergence across the three clouds,
failing and stuck jobs, a lost answer to an applied mutation, and kill -9 at
random moments. Every test ends by asserting the emulator saw no duplicate or
unrequested mutation."""

import json
import os
import random
import re
import signal
import subprocess
import time
import unittest

import itlib
from itlib import harness


class EngineTest(unittest.TestCase):
    def setUp(self):
        self.fleet = harness.Fleet(seed=itlib.SEED)

    def tearDown(self):
        self.fleet.close()

    def journal_lines(self):
        with open(os.path.join(self.fleet.state_dir, "journal.log")) as f:
            return f.read().splitlines()

    def test_converges_across_three_clouds(self):
        f = self.fleet
        d = f.daemon(itlib.fleet_yaml())
        d.wait_ready()
        f.wait_converged(d)
        itlib.assert_final(self, f.state())
        itlib.assert_clean(self, f)
        # every mutation was journalled before it was sent, and closed
        muts = f.mutations()
        self.assertGreaterEqual(len(muts), 5)
        lines = self.journal_lines()
        self.assertTrue(any('"done"' in l for l in lines), lines[:5])
        # the plan agrees: nothing left to do (exit 0 with --detailed-exitcode)
        env = dict(os.environ, CREDENTIALS_DIRECTORY=f.creds, NO_PROXY="*")
        p = subprocess.run([f.binary, "--config", d.config_path, "plan", "--detailed-exitcode"],
                           env=env, capture_output=True, text=True, timeout=60)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        self.assertIn("converged", p.stdout)
        self.assertEqual(d.stop(), 0, d.log()[-3000:])
        # no new mutation after convergence
        self.assertEqual(len(f.mutations()), len(muts))

    def test_plan_shows_changes_and_exit_code_2(self):
        f = self.fleet
        path = f.write_config(itlib.fleet_yaml())
        env = dict(os.environ, CREDENTIALS_DIRECTORY=f.creds, NO_PROXY="*")
        p = subprocess.run([f.binary, "--config", path, "plan", "--detailed-exitcode"],
                           env=env, capture_output=True, text=True, timeout=60)
        self.assertEqual(p.returncode, 2, p.stdout + p.stderr)
        self.assertRegex(p.stdout, r"- workers: 5 -> 3, remove 2 nodes")
        self.assertNotIn(itlib.PROTECTED, p.stdout.split("web (")[1].split("\n\n")[0])
        self.assertRegex(p.stdout, r"\+ pool np-web: 3 -> 4")
        self.assertIn(itlib.UNHEALTHY_GPU, p.stdout)
        self.assertRegex(p.stdout, r"- pool nodepool-old: delete")
        j = subprocess.run([f.binary, "--config", path, "plan", "--json"], env=env,
                           capture_output=True, text=True, timeout=60)
        self.assertEqual(j.returncode, 0, j.stderr)
        doc = json.loads(j.stdout)
        kinds = sorted(a["kind"] for c in doc["clusters"] for a in c["actions"])
        self.assertIn("delete-pool", kinds)
        self.assertEqual(f.mutations(), [], "plan must not mutate")

    def test_failed_job_is_reported_and_retried_later(self):
        f = self.fleet
        f.fault(route="RemoveNodePoolNodes", fault="job_fail", count=1)
        d = f.daemon(itlib.fleet_yaml())
        d.wait_ready()
        f.wait_converged(d, timeout=120)
        itlib.assert_final(self, f.state())
        itlib.assert_clean(self, f)
        self.assertRegex(d.log(), r"remove-nodes failed: job \S+ failed")
        self.assertRegex(d.metrics(), r'nodeherd_actions_total\{cluster="pools",kind="remove-nodes",'
                                      r'result="failed"\} 1')

    def test_stuck_job_times_out_without_duplicates(self):
        f = self.fleet
        f.fault(route="DeleteClusterNodes", fault="job_stuck", count=1)
        d = f.daemon(itlib.fleet_yaml(job_timeout="3s"))
        d.wait_ready()
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and "timed_out" not in d.log() and \
                "timed-out" not in d.log():
            time.sleep(0.2)
        self.assertRegex(d.log(), r"remove-nodes timed_out: no result within job_timeout 3s")
        self.assertIn('result="timed_out"', d.metrics())
        time.sleep(3)
        self.assertIsNone(d.proc.poll(), "daemon died")
        itlib.assert_clean(self, f)

    def test_lost_answer_is_verified_not_resent(self):
        f = self.fleet
        # the cloud applies each of these, then the connection drops
        f.fault(route="DeleteClusterNodes", fault="reset_after", count=1)
        f.fault(route="ModifyClusterNodePool", fault="reset_after", count=1)
        f.fault(route="RemoveNode", fault="reset_after", count=1)
        f.fault(route="DeleteNodePool", fault="reset_after", count=1)
        d = f.daemon(itlib.fleet_yaml())
        d.wait_ready()
        f.wait_converged(d, timeout=120)
        itlib.assert_final(self, f.state())
        itlib.assert_clean(self, f)
        self.assertIn("outcome unknown", d.log())
        counts = {}
        for r in f.mutations():
            counts[r["op"]] = counts.get(r["op"], 0) + 1
        self.assertEqual(counts.get("DeleteClusterNodes"), 1, counts)
        self.assertEqual(counts.get("DeleteNodePool"), 1, counts)

    def test_kill9_at_random_moments(self):
        f = self.fleet
        rnd = random.Random(int(os.environ.get("NH_SEED", "7")))
        rounds = int(os.environ.get("NH_KILL_ROUNDS", "20"))
        # extra workers appear behind the daemon's back during the rounds;
        # removing them all at once is a mass removal the operator confirms
        cfg = f.write_config(itlib.fleet_yaml(web_extra="    confirm_mass_removal: true"))
        d = f.daemon(config_path=cfg)
        for i in range(rounds):
            if i % 2 == 0:
                f.admin("mutate", "POST", {"action": "add_node", "cluster": itlib.WEB})
            time.sleep(rnd.uniform(0.05, 2.0))
            d.kill9()
            d.start()
        d.wait_ready()
        f.wait_converged(d, timeout=120)
        itlib.assert_final(self, f.state())
        itlib.assert_clean(self, f)
        self.assertEqual(d.stop(), 0)


if __name__ == "__main__":
    unittest.main(verbosity=2)
