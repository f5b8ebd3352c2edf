"""Every fault kind, selection by route/regex/count/probability, and faults declared in the seed."""

import json
import time
import unittest

from fc_support import ACK1, ACK2, CCE_P, GPU_A, MA_P, NP_WEB, FakeCloudCase, demo_seed  # noqa: F401

NODES = "/clusters/%s/nodes" % ACK1
MODIFY = "/clusters/%s/nodepools/%s" % (ACK2, NP_WEB)


class Faults(FakeCloudCase):
    def tasks(self):
        return self.fc.state()["tasks"]

    def test_throttle_ack_and_huawei(self):
        self.fc.add_fault(route="DescribeClusterNodes", fault="throttle", count=1, retry_after=1.5)
        s, h, b = self.ack("GET", NODES)
        self.assertEqual((s, b["code"]), (400, "Throttling.User"))
        self.assertEqual(h["x-acs-retry-after"], "1500")
        self.assertEqual(self.ack("GET", NODES)[0], 200)             # count exhausted
        self.fc.add_fault(route="ListNodes", fault="throttle", count=1, retry_after=2)
        s, h, b = self.hw("GET", CCE_P + "/nodes")
        self.assertEqual((s, b["error_code"]), (429, "APIGW.0308"))
        self.assertEqual(h["retry-after"], "2")
        self.assertIn("over ratelimit", b["error_msg"])
        log = self.fc.requests()
        self.assertEqual([e["fault"] for e in log], ["throttle", None, "throttle"])
        self.assertEqual(self.invariants()["over_rate_limit"], 0)    # injected, not over the bucket

    def test_server_errors_before_processing(self):
        for code in ("500", "502", "503"):
            self.fc.add_fault(route="ModifyClusterNodePool", fault=code, count=1)
            s, h, b = self.ack("PUT", MODIFY, body={"scaling_group": {"desired_size": 5}})
            self.assertEqual(s, int(code))
            if code == "502":
                self.assertTrue(h["content-type"].startswith("text/html"))
            else:
                self.assertEqual(b["code"], "InternalError" if code == "500" else "ServiceUnavailable")
        self.assertEqual(self.tasks(), [])
        s, _, b = self.ack("PUT", MODIFY, body={"scaling_group": {"desired_size": 5}})
        self.assertEqual(s, 200)

    def test_server_error_after_processing(self):
        self.fc.add_fault(route="ModifyClusterNodePool", fault="503", count=1, after=True)
        s, _, b = self.ack("PUT", MODIFY, body={"scaling_group": {"desired_size": 5}})
        self.assertEqual(s, 503)
        self.assertEqual(len(self.tasks()), 1)                       # the mutation happened anyway

    def test_late_answers_503_then_applies(self):
        self.fc.add_fault(route="ModifyClusterNodePool", fault="late", count=1, delay=0.5)
        s, _, b = self.ack("PUT", MODIFY, body={"scaling_group": {"desired_size": 5}})
        self.assertEqual((s, b["code"]), (503, "ServiceUnavailable"))
        self.assertEqual(self.tasks(), [])                          # not yet
        end = time.monotonic() + 10
        while time.monotonic() < end and not self.tasks():
            time.sleep(0.05)
        self.assertEqual(len(self.tasks()), 1)                       # applied after the delay
        # asking again for the same size while that task runs is a duplicate
        s, _, _ = self.ack("PUT", MODIFY, body={"scaling_group": {"desired_size": 5}})
        self.assertEqual(s, 200)
        self.assertEqual(self.invariants()["duplicate_mutations"], 1)
        self.assertEqual([e["fault"] for e in self.fc.requests()], ["late", None])

    def test_huawei_5xx_shape(self):
        self.fc.add_fault(route="ShowNodePool", fault="500", count=1)
        s, _, b = self.hw("GET", CCE_P + "/nodepools/" + GPU_A)
        self.assertEqual((s, b["errorCode"]), (500, "CCE.01500001"))
        self.fc.add_fault(route="ListNodePools", fault="503", count=1)
        s, _, b = self.hw("GET", MA_P)
        self.assertEqual((s, b["error_code"]), (503, "APIGW.0203"))

    def test_reset_before_and_after(self):
        self.fc.add_fault(route="ModifyClusterNodePool", fault="reset_before", count=1)
        with self.assertRaises((ConnectionError, OSError)):
            self.c.ack("PUT", MODIFY, body={"scaling_group": {"desired_size": 5}})
        self.assertEqual(self.tasks(), [])
        self.fc.add_fault(route="ModifyClusterNodePool", fault="reset_after", count=1)
        with self.assertRaises((ConnectionError, OSError)):
            self.c.ack("PUT", MODIFY, body={"scaling_group": {"desired_size": 5}})
        self.assertEqual(len(self.tasks()), 1)                       # processed, the client never heard
        log = self.fc.requests()
        self.assertEqual([(e["fault"], e["status"]) for e in log], [("reset_before", None), ("reset_after", None)])
        # the same client reconnects fine
        self.assertEqual(self.ack("GET", NODES)[0], 200)
        # a blind resend of the same size while the job runs is a duplicate
        self.ack("PUT", MODIFY, body={"scaling_group": {"desired_size": 5}})
        self.assertEqual(self.invariants()["duplicate_mutations"], 1)

    def test_slow(self):
        self.fc.add_fault(route="DescribeClusterNodes", fault="slow", delay=0.4, count=1)
        t0 = time.time()
        s, _, _ = self.ack("GET", NODES)
        self.assertEqual(s, 200)
        self.assertGreaterEqual(time.time() - t0, 0.4)
        t0 = time.time()
        self.ack("GET", NODES)
        self.assertLess(time.time() - t0, 0.4)

    def test_malformed_and_truncated(self):
        self.fc.add_fault(route="DescribeClusterNodes", fault="malformed", count=1)
        s, _, raw = self.c.ack("GET", NODES)
        self.assertEqual(s, 200)
        self.assertRaises(ValueError, json.loads, raw)
        _, _, full = self.c.ack("GET", NODES)
        self.fc.add_fault(route="DescribeClusterNodes", fault="truncated", count=1)
        s, h, raw = self.c.ack("GET", NODES)
        self.assertEqual(s, 200)
        self.assertEqual(int(h["content-length"]), len(raw))
        self.assertLess(len(raw), len(full))
        self.assertTrue(full.startswith(raw))
        self.assertRaises(ValueError, json.loads, raw)

    def test_job_fail_ack(self):
        self.fc.add_fault(route="ModifyClusterNodePool", fault="job_fail", count=1)
        s, _, b = self.ack("PUT", MODIFY, body={"scaling_group": {"desired_size": 5}})
        self.assertEqual(s, 200)
        t = self.wait_for(lambda: (lambda t: t if t["state"] != "running" else None)(
            self.ack("GET", "/tasks/" + b["task_id"])[2]), what="task end")
        self.assertEqual(t["state"], "fail")
        self.assertEqual(t["error"]["code"], "FakeCloud.JobFailed")
        _, _, n = self.ack("GET", "/clusters/%s/nodes" % ACK2, [("state", "failed"), ("pageSize", "100")])
        self.assertEqual(n["page"]["total_count"], 2)

    def test_job_stuck(self):
        self.fc.add_fault(route="DeleteNode", fault="job_stuck", count=1)
        s, _, b = self.hw("DELETE", CCE_P + "/nodes/a1b2c3d4-0000-4000-8000-000000000003")
        time.sleep(1.0)                                               # > job_seconds (0.8)
        s, _, j = self.hw("GET", "/api/v3/projects/0123456789abcdef0123456789abcdef/jobs/" + b["status"]["jobID"])
        self.assertEqual(j["status"]["phase"], "Running")
        self.assertEqual(self.node("a1b2c3d4-0000-4000-8000-000000000003")["status"], "removing")

    def test_subjob_fail_cce_job_succeeds_with_failed_subjobs(self):
        a, b = "a1b2c3d4-0000-4000-8000-000000000001", "a1b2c3d4-0000-4000-8000-000000000002"
        self.fc.add_fault(route="RemoveNode", fault="subjob_fail", nodes=1, count=1)
        s, _, r = self.hw("PUT", CCE_P + "/nodes/operation/remove",
                          body={"spec": {"nodes": [{"uid": a}, {"uid": b}]}})
        self.assertEqual(s, 200)
        job = "/api/v3/projects/0123456789abcdef0123456789abcdef/jobs/" + r["status"]["jobID"]
        j = self.wait_for(lambda: (lambda j: j if j["status"]["phase"] != "Running" and
                                   j["status"]["phase"] != "Initializing" else None)(
            self.hw("GET", job)[2]), what="job end")
        self.assertEqual(j["status"]["phase"], "Success")
        phases = {sj["spec"]["resourceID"]: sj["status"]["phase"] for sj in j["spec"]["subJobs"]}
        self.assertEqual(phases, {a: "Failed", b: "Success"})
        self.assertEqual(self.node(a)["status"], "running")          # its removal was undone
        self.assertEqual(self.tasks()[-1]["failed_nodes"], [a])
        self.assertRaises(RuntimeError, self.fc.add_fault, route="RemoveNode", fault="subjob_fail",
                          nodes=0)

    def test_job_fault_ignores_reads(self):
        self.fc.add_fault(route=".*", fault="job_fail", count=1)
        self.ack("GET", NODES)
        self.assertEqual(self.fc.state()["faults"][0]["count"], 1)

    def test_regex_and_cloud_qualified_routes(self):
        self.fc.add_fault(route="^DELETE /v2/", fault="503")
        self.assertEqual(self.hw("DELETE", MA_P + "/nodepool-old")[0], 503)
        self.assertEqual(self.hw("GET", MA_P + "/nodepool-old")[0], 200)
        self.fc.clear_faults()
        self.fc.add_fault(route="modelarts.ShowNodePool", fault="500")
        self.assertEqual(self.hw("GET", MA_P + "/nodepool-old")[0], 500)
        self.assertEqual(self.hw("GET", CCE_P + "/nodepools/" + GPU_A)[0], 200)

    def test_probability(self):
        self.fc.add_fault(route="DescribeClusterNodes", fault="503", probability=0.0)
        self.assertEqual(self.ack("GET", NODES)[0], 200)
        self.fc.clear_faults()
        self.fc.add_fault(route="DescribeClusterNodes", fault="503", probability=0.5)
        codes = [self.ack("GET", NODES)[0] for _ in range(40)]
        self.assertTrue(5 < codes.count(503) < 35, codes)

    def test_bad_rules_refused(self):
        for rule in ({"route": "X", "fault": "explode"}, {"route": "X", "fault": "503", "count": -1},
                     {"route": "X", "fault": "503", "probability": 2}, {"route": "(", "fault": "503"}):
            with self.assertRaises(RuntimeError):
                self.fc.add_fault(**rule)
        self.assertEqual(self.fc.state()["faults"], [])


class SeedFaults(FakeCloudCase):
    seed_overrides = {"faults": [{"route": "ListNodePools", "fault": "503", "count": 1}]}

    def test_seed_fault_fires_and_comes_back_on_reset(self):
        self.assertEqual(self.hw("GET", MA_P)[0], 503)
        self.assertEqual(self.hw("GET", MA_P)[0], 200)
        self.fc.reset()
        self.assertEqual(self.hw("GET", MA_P)[0], 503)


if __name__ == "__main__":
    unittest.main()
