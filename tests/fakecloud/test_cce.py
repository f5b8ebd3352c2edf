"""CCE routes end to end: shapes, the UpdateNodePool/ScaleNodePool pitfalls, RemoveNode, DeleteNode, ShowJob."""

import unittest

from fc_support import CCE_P, GPU_A, PROJECT, FakeCloudCase

POOL = CCE_P + "/nodepools/" + GPU_A


class CceReads(FakeCloudCase):
    def test_list_nodes(self):
        s, h, b = self.hw("GET", CCE_P + "/nodes")
        self.assertEqual(s, 200)
        self.assertIn("x-request-id", h)
        self.assertEqual((b["kind"], b["apiVersion"]), ("List", "v3"))
        self.assertEqual(len(b["items"]), 6)
        phases = sorted(n["status"]["phase"] for n in b["items"])
        self.assertEqual(phases, ["Abnormal"] + ["Active"] * 5)
        pool_nodes = [n for n in b["items"] if n["metadata"]["ownerReferences"].get("nodepoolID") == GPU_A]
        self.assertEqual(len(pool_nodes), 4)
        self.assertEqual(pool_nodes[0]["metadata"]["ownerReferences"]["nodepoolName"], "gpu-a")
        n = b["items"][0]
        for k in ("serverId", "privateIP", "lastProbeTime", "jobID"):
            self.assertIn(k, n["status"])

    def test_list_and_show_node_pools(self):
        s, _, b = self.hw("GET", CCE_P + "/nodepools")
        self.assertEqual([p["metadata"]["name"] for p in b["items"]], ["gpu-a"])
        s, _, b = self.hw("GET", CCE_P + "/nodepools", [("showDefaultNodePool", "true")])
        self.assertEqual([p["metadata"]["name"] for p in b["items"]], ["DefaultPool", "gpu-a"])
        s, _, p = self.hw("GET", POOL)
        self.assertEqual(s, 200)
        self.assertEqual(p["spec"]["initialNodeCount"], 4)
        self.assertEqual((p["status"]["currentNode"], p["status"]["creatingNode"], p["status"]["deletingNode"]),
                         (4, 0, 0))
        self.assertFalse(p["spec"]["autoscaling"]["enable"])

    def test_not_found_and_project_checks(self):
        s, _, b = self.hw("GET", CCE_P + "/nodepools/nope")
        self.assertEqual((s, b["errorCode"]), (404, "CCE.01404001"))
        s, _, b = self.hw("GET", "/api/v3/projects/%s/clusters/nope/nodes" % PROJECT)
        self.assertEqual((s, b["errorCode"]), (404, "CCE.01404001"))
        s, _, b = self.hw("GET", CCE_P + "/nodes", extra={"x-project-id": "f" * 32})
        self.assertEqual((s, b["errorCode"]), (400, "CCE.01400001"))
        s, _, b = self.hw("GET", "/api/v3/projects/%s/bogus" % PROJECT)
        self.assertEqual((s, b["error_code"]), (404, "APIGW.0101"))

    def test_token_auth(self):
        s, _, b = self.hw("GET", CCE_P + "/nodes", token="demo-iam-token")
        self.assertEqual(s, 200)
        s, _, b = self.hw("GET", CCE_P + "/nodes", token="forged")
        self.assertEqual((s, b["error_code"]), (401, "APIGW.0301"))
        self.assertNotIn("forged", str(self.fc.requests()))


class CceMutations(FakeCloudCase):
    def pool(self):
        return self.hw("GET", POOL)[2]

    def job(self, jid):
        s, _, b = self.hw("GET", "/api/v3/projects/%s/jobs/%s" % (PROJECT, jid))
        self.assertEqual(s, 200)
        return b

    def test_scale_node_pool_moves_counters_without_job(self):
        s, _, b = self.hw("POST", POOL + "/operation/scale",
                          body={"kind": "NodePool", "apiVersion": "v3",
                                "spec": {"desiredNodeCount": 6, "scaleGroups": ["default"]}})
        self.assertEqual(s, 200)
        self.assertNotIn("jobID", str(b))
        p = self.pool()
        self.assertEqual((p["spec"]["initialNodeCount"], p["status"]["creatingNode"]), (6, 2))
        p = self.wait_for(lambda: (lambda p: p if p["status"]["creatingNode"] == 0 and
                                   p["status"]["currentNode"] == 6 else None)(self.pool()), what="converged pool")
        self.assertEqual(p["status"]["deletingNode"], 0)

    def test_scale_node_pool_omitted_count_means_zero(self):
        s, _, b = self.hw("POST", POOL + "/operation/scale",
                          body={"kind": "NodePool", "apiVersion": "v3", "spec": {"scaleGroups": ["default"]}})
        self.assertEqual(s, 200)
        p = self.pool()
        self.assertEqual((p["spec"]["initialNodeCount"], p["status"]["deletingNode"]), (0, 4))
        self.assertEqual(self.invariants()["unrequested_removals"], 0)   # no protected nodes here
        self.fc.expect([])
        self.hw("POST", POOL + "/operation/scale",
                body={"kind": "NodePool", "apiVersion": "v3", "spec": {"desiredNodeCount": 1, "scaleGroups": ["default"]}})
        self.wait_for(lambda: self.pool()["status"]["currentNode"] == 1, what="one node back")

    def test_scale_node_pool_validation(self):
        bodies = [{"spec": {"desiredNodeCount": 5, "scaleGroups": ["default"]}},
                  {"kind": "NodePool", "apiVersion": "v3", "spec": {"desiredNodeCount": 5}},
                  {"kind": "NodePool", "apiVersion": "v3", "spec": {"desiredNodeCount": -1, "scaleGroups": ["default"]}},
                  {"kind": "NodePool", "apiVersion": "v3", "spec": {"desiredNodeCount": 5, "scaleGroups": ["gpu"]}}]
        for body in bodies:
            s, _, b = self.hw("POST", POOL + "/operation/scale", body=body)
            self.assertEqual((s, b["errorCode"]), (400, "CCE.01400001"), body)
        s, _, b = self.hw("POST", POOL + "/operation/scale", body=bodies[0], content_type="text/plain")
        self.assertEqual((s, b["errorCode"]), (400, "CCE.01400006"))
        self.assertEqual(self.pool()["spec"]["initialNodeCount"], 4)

    def test_update_node_pool_pitfall_and_ignore(self):
        s, _, b = self.hw("PUT", POOL, body={"spec": {"ignoreInitialNodeCount": True,
                                                      "autoscaling": {"enable": False}}})
        self.assertEqual(s, 200)
        self.assertEqual(b["spec"]["initialNodeCount"], 4)
        self.assertNotIn("jobId", b["status"])
        s, _, b = self.hw("PUT", POOL, body={"spec": {"initialNodeCount": 5}})
        self.assertEqual((s, b["spec"]["initialNodeCount"]), (200, 5))
        s, _, b = self.hw("PUT", POOL, body={"metadata": {"name": "gpu-a"}, "spec": {}})
        self.assertEqual(b["spec"]["initialNodeCount"], 0)     # the real pitfall: omitted count resets to 0
        self.wait_for(lambda: self.pool()["status"]["currentNode"] == 0 and self.pool()["status"]["deletingNode"] == 0,
                      what="pool emptied")

    def test_remove_node_job_and_subjobs(self):
        uids = ["a1b2c3d4-0000-4000-8000-000000000001", "a1b2c3d4-0000-4000-8000-000000000002"]
        body = {"apiVersion": "v3", "kind": "RemoveNodesTask",
                "spec": {"login": {"userPassword": {"username": "root", "password": "Secret#123"}},
                         "nodes": [{"uid": u} for u in uids]}}
        s, _, b = self.hw("PUT", CCE_P + "/nodes/operation/remove", body=body)
        self.assertEqual(s, 200)
        self.assertEqual(b["spec"]["nodes"], [{"uid": u} for u in uids])
        self.assertNotIn("Secret#123", str(b))
        jid = b["status"]["jobID"]
        j = self.job(jid)
        self.assertIn(j["status"]["phase"], ("Initializing", "Running"))
        self.assertEqual(sorted(sj["spec"]["resourceID"] for sj in j["spec"]["subJobs"]), uids)
        self.assertEqual(self.hw("GET", CCE_P + "/nodes/" + uids[0])[2]["status"]["phase"], "Deleting")
        j = self.wait_for(lambda: (lambda j: j if j["status"]["phase"] == "Success" else None)(self.job(jid)),
                          what="job success")
        self.assertEqual({sj["status"]["phase"] for sj in j["spec"]["subJobs"]}, {"Success"})
        s, _, _ = self.hw("GET", CCE_P + "/nodes/" + uids[0])
        self.assertEqual(s, 404)
        # resend after success: not found, counted as a duplicate
        s, _, e = self.hw("PUT", CCE_P + "/nodes/operation/remove", body=body)
        self.assertEqual((s, e["errorCode"]), (404, "CCE.01404001"))
        self.assertEqual(self.invariants()["duplicate_mutations"], 1)

    def test_remove_node_validation(self):
        p = CCE_P + "/nodes/operation/remove"
        many = {"spec": {"nodes": [{"uid": "u%d" % i} for i in range(201)]}}
        for body in ({}, {"spec": {}}, {"spec": {"nodes": []}}, {"spec": {"nodes": ["x"]}}, many,
                     {"kind": "Other", "spec": {"nodes": [{"uid": "a1b2c3d4-0000-4000-8000-000000000001"}]}},
                     {"spec": {"login": {}, "nodes": [{"uid": "a1b2c3d4-0000-4000-8000-000000000001"}]}}):
            s, _, b = self.hw("PUT", p, body=body)
            self.assertEqual((s, b["errorCode"]), (400, "CCE.01400001"), str(body)[:80])
        s, _, b = self.hw("PUT", p, body={"spec": {"nodes": [{"uid": "a1b2c3d4-0000-4000-8000-000000000001"},
                                                             {"uid": "nope"}]}})
        self.assertEqual(s, 404)
        self.assertEqual(self.node("a1b2c3d4-0000-4000-8000-000000000001")["status"], "running")

    def test_delete_node_decrements_pool(self):
        uid = "a1b2c3d4-0000-4000-8000-000000000005"
        s, _, b = self.hw("DELETE", CCE_P + "/nodes/" + uid)
        self.assertEqual(s, 200)
        self.assertEqual(b["status"]["phase"], "Deleting")
        self.assertEqual(self.pool()["spec"]["initialNodeCount"], 3)
        jid = b["status"]["jobID"]
        self.wait_for(lambda: self.job(jid)["status"]["phase"] == "Success", what="delete job")
        p = self.pool()
        self.assertEqual((p["status"]["currentNode"], p["status"]["deletingNode"]), (3, 0))
        s, _, e = self.hw("DELETE", CCE_P + "/nodes/" + uid)
        self.assertEqual(s, 404)
        self.assertEqual(self.invariants()["duplicate_mutations"], 1)

    def test_delete_node_no_scale_down_is_replaced(self):
        uid = "a1b2c3d4-0000-4000-8000-000000000004"
        s, _, b = self.hw("DELETE", CCE_P + "/nodes/" + uid, [("nodepoolScaleDown", "NoScaleDown")])
        self.assertEqual(s, 200)
        self.assertEqual(self.pool()["spec"]["initialNodeCount"], 4)
        self.wait_for(lambda: self.pool()["status"]["currentNode"] == 4 and self.pool()["status"]["creatingNode"] == 0
                      and self.node(uid) is None, what="replacement")
        s, _, e = self.hw("DELETE", CCE_P + "/nodes/a1b2c3d4-0000-4000-8000-000000000003",
                          [("nodepoolScaleDown", "Yes")])
        self.assertEqual(s, 400)

    def test_job_fail_reports_failed_subjobs(self):
        self.fc.add_fault(route="DeleteNode", fault="job_fail", count=1)
        uid = "a1b2c3d4-0000-4000-8000-000000000003"
        s, _, b = self.hw("DELETE", CCE_P + "/nodes/" + uid)
        jid = b["status"]["jobID"]
        j = self.wait_for(lambda: (lambda j: j if j["status"]["phase"] == "Failed" else None)(self.job(jid)),
                          what="failed job")
        self.assertEqual(j["spec"]["subJobs"][0]["status"]["phase"], "Failed")
        self.assertTrue(j["status"]["reason"])
        # the node stays after a failed delete, in the Error phase shown as Deleting without errorStatus
        self.assertEqual(self.hw("GET", CCE_P + "/nodes/" + uid)[2]["status"]["phase"], "Deleting")
        self.assertEqual(self.hw("GET", CCE_P + "/nodes/" + uid, [("errorStatus", "true")])[2]["status"]["phase"],
                         "Error")
        s, _, _ = self.hw("DELETE", CCE_P + "/nodes/" + uid)
        self.assertEqual(s, 200)                                    # retry after a failure is not a duplicate
        self.assertEqual(self.invariants()["duplicate_mutations"], 0)

    def test_show_job_unknown(self):
        s, _, b = self.hw("GET", "/api/v3/projects/%s/jobs/nope" % PROJECT)
        self.assertEqual((s, b["errorCode"]), (404, "CCE.01404001"))


if __name__ == "__main__":
    unittest.main()
