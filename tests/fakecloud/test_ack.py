"""ACK routes end to end over HTTP: shapes, validation, async tasks and their effects."""

import json
import unittest

from fc_support import ACK1, ACK2, NP_BATCH, NP_WEB, FakeCloudCase

GOOD_SCALE = {"disable_rollback": True, "timeout_mins": 60, "worker_instance_type": "ecs.sn1ne.large",
              "worker_system_disk_category": "cloud_efficiency", "worker_system_disk_size": 40,
              "login_password": "Fake-Passw0rd", "num_of_nodes": 7}


class AckReads(FakeCloudCase):
    def test_describe_cluster_nodes_paged(self):
        seen = []
        for page in (1, 2, 3):
            s, h, b = self.ack("GET", "/clusters/%s/nodes" % ACK1, [("pageNumber", str(page)), ("pageSize", "2")])
            self.assertEqual(s, 200)
            self.assertIn("x-acs-request-id", h)
            self.assertEqual(b["page"], {"page_number": page, "page_size": 2, "total_count": 5})
            seen += [n["instance_id"] for n in b["nodes"]]
        self.assertEqual(len(seen), 5)
        self.assertEqual(len(set(seen)), 5)
        n = b["nodes"][0]
        for k in ("instance_id", "node_name", "instance_role", "nodepool_id", "state", "node_status",
                  "instance_status", "creation_time", "instance_charge_type", "ip_address"):
            self.assertIn(k, n)
        self.assertTrue(n["node_name"].startswith("cn-hangzhou.192.168."))

    def test_describe_cluster_nodes_filters_and_validation(self):
        s, _, b = self.ack("GET", "/clusters/%s/nodes" % ACK2, [("nodepool_id", NP_WEB), ("pageSize", "100")])
        self.assertEqual(b["page"]["total_count"], 3)
        self.assertTrue(all(n["nodepool_id"] == NP_WEB for n in b["nodes"]))
        self.assertTrue(all(n["instance_id"].startswith("i-bp1") for n in b["nodes"]))
        # nodeLabels is not a documented parameter: ignored, every node comes back
        s, _, b = self.ack("GET", "/clusters/%s/nodes" % ACK1, [("nodeLabels", "nodeherd.io/protect=true"),
                                                                 ("pageSize", "100")])
        self.assertEqual(len(b["nodes"]), 5)
        s, _, b = self.ack("GET", "/clusters/%s/nodes" % ACK1, [("pageSize", "101")])
        self.assertEqual(s, 400)
        self.assertEqual(b["code"], "InvalidParameter")
        s, _, b = self.ack("GET", "/clusters/%s/nodes" % ACK1, [("state", "bogus")])
        self.assertEqual(s, 400)
        s, _, b = self.ack("GET", "/clusters/nope/nodes")
        self.assertEqual((s, b["code"]), (404, "ErrorClusterNotFound"))
        self.assertIn("requestId", b)

    def test_node_pools_and_detail(self):
        s, _, b = self.ack("GET", "/clusters/%s/nodepools" % ACK2)
        self.assertEqual(s, 200)
        pools = {p["nodepool_info"]["name"]: p for p in b["nodepools"]}
        self.assertEqual(set(pools), {"np-web", "np-batch"})
        self.assertEqual(pools["np-web"]["scaling_group"]["desired_size"], 3)
        self.assertEqual(pools["np-batch"]["status"]["total_nodes"], 2)
        self.assertFalse(pools["np-web"]["auto_scaling"]["enable"])
        s, _, d = self.ack("GET", "/clusters/%s/nodepools/%s" % (ACK2, NP_BATCH))
        self.assertEqual(d["nodepool_info"]["nodepool_id"], NP_BATCH)
        self.assertEqual(d["status"]["state"], "active")
        s, _, b = self.ack("GET", "/clusters/%s/nodepools/np0000" % ACK2)
        self.assertEqual((s, b["code"]), (404, "ErrorNodePoolNotFound"))

    def test_unknown_route_and_version(self):
        s, _, b = self.ack("GET", "/clusters/%s/bogus" % ACK1)
        self.assertEqual((s, b["code"]), (404, "InvalidApi.NotFound"))
        s, _, b = self.ack("GET", "/clusters/%s/nodes" % ACK1, extra={"x-acs-version": "2018-01-01"})
        self.assertEqual((s, b["code"]), (400, "InvalidVersion"))


class AckMutations(FakeCloudCase):
    def task(self, tid):
        s, _, b = self.ack("GET", "/tasks/" + tid)
        self.assertEqual(s, 200)
        return b

    def wait_task(self, tid, want="success"):
        return self.wait_for(lambda: self.task(tid)["state"] == want and self.task(tid), what="task " + want)

    def count(self, cluster, pool=None):
        pairs = [("pageSize", "100")] + ([("nodepool_id", pool)] if pool else [])
        _, _, b = self.ack("GET", "/clusters/%s/nodes" % cluster, pairs)
        return b["nodes"]

    def test_modify_node_pool_desired_size_scale_out(self):
        s, _, b = self.ack("PUT", "/clusters/%s/nodepools/%s" % (ACK2, NP_WEB), body={"scaling_group": {"desired_size": 5}})
        self.assertEqual(s, 200)
        self.assertEqual(b["nodepool_id"], NP_WEB)
        t = self.task(b["task_id"])
        self.assertEqual(t["state"], "running")
        nodes = self.count(ACK2, NP_WEB)
        self.assertEqual(sum(1 for n in nodes if n["state"] == "pending"), 2)     # response enum: pending
        self.wait_task(b["task_id"])
        nodes = self.count(ACK2, NP_WEB)
        self.assertEqual([n["state"] for n in nodes], ["running"] * 5)
        self.assertEqual(len(set(n["instance_id"] for n in nodes)), 5)
        _, _, d = self.ack("GET", "/clusters/%s/nodepools/%s" % (ACK2, NP_WEB))
        self.assertEqual((d["scaling_group"]["desired_size"], d["status"]["healthy_nodes"]), (5, 5))
        self.assertEqual(self.invariants()["duplicate_mutations"], 0)

    def test_modify_same_value_twice_while_running_is_duplicate(self):
        path = "/clusters/%s/nodepools/%s" % (ACK2, NP_WEB)
        self.ack("PUT", path, body={"scaling_group": {"desired_size": 4}})
        s, _, _ = self.ack("PUT", path, body={"scaling_group": {"desired_size": 4}})
        self.assertEqual(s, 200)       # harmless for the cloud, but a resend the daemon should not make
        inv = self.invariants()
        self.assertEqual(inv["duplicate_mutations"], 1)
        self.assertEqual(len(self.count(ACK2, NP_WEB)), 4)

    def test_modify_validation(self):
        path = "/clusters/%s/nodepools/%s" % (ACK2, NP_WEB)
        for body in ({"scaling_group": {"desired_size": -1}}, {"scaling_group": {"desired_size": "5"}},
                     {"scaling_group": 5}):
            s, _, b = self.ack("PUT", path, body=body)
            self.assertEqual(s, 400, body)
            self.assertEqual(b["code"], "InvalidParameter")
        s, _, b = self.ack("PUT", path, body=b"{not json")
        self.assertEqual(s, 400)
        self.fc.mutate(action="set_pool", pool=NP_WEB, autoscaling={"enable": True})
        s, _, b = self.ack("PUT", path, body={"scaling_group": {"desired_size": 5}})
        self.assertEqual((s, b["code"]), (400, "ErrorNodePoolAutoScalingEnabled"))

    def test_modify_scale_in_lets_cloud_pick_and_protect_counts(self):
        self.fc.mutate(action="set_node", node=self.count(ACK2, NP_WEB)[0]["instance_id"],
                       labels={"nodeherd.io/protect": "true"})
        s, _, b = self.ack("PUT", "/clusters/%s/nodepools/%s" % (ACK2, NP_WEB),
                           body={"scaling_group": {"desired_size": 0}})
        self.assertEqual(s, 200)
        self.wait_task(b["task_id"])
        self.assertEqual(self.count(ACK2, NP_WEB), [])
        inv = self.invariants()
        self.assertEqual(inv["unrequested_removals"], 1)
        self.assertEqual(inv["details"][0]["why"], "node carries nodeherd.io/protect=true")

    def test_scale_cluster_node_pool_is_additive(self):
        path = "/clusters/%s/nodepools/%s" % (ACK2, NP_BATCH)
        s, _, b = self.ack("POST", path, body={"count": 2})
        self.assertEqual(s, 200)
        self.assertEqual(len(self.count(ACK2, NP_BATCH)), 4)
        s, _, b2 = self.ack("POST", path, body={"count": 2})        # a resend adds again
        self.assertEqual(len(self.count(ACK2, NP_BATCH)), 6)
        self.assertEqual(self.invariants()["duplicate_mutations"], 1)
        for body in ({}, {"count": 0}, {"count": 501}):
            s, _, e = self.ack("POST", path, body=body)
            self.assertEqual(s, 400, body)
        self.wait_task(b2["task_id"])
        _, _, d = self.ack("GET", path)
        self.assertEqual(d["scaling_group"]["desired_size"], 6)

    def test_remove_node_pool_nodes_lowers_desired(self):
        victims = [n["instance_id"] for n in self.count(ACK2, NP_WEB)[:2]]
        path = "/clusters/%s/nodepools/%s/nodes" % (ACK2, NP_WEB)
        s, _, b = self.ack("DELETE", path, [("instance_ids", json.dumps(victims, separators=(",", ":"))),
                                            ("release_node", "true"), ("drain_node", "true")])
        self.assertEqual(s, 200)
        states = {n["instance_id"]: n["state"] for n in self.count(ACK2, NP_WEB)}
        self.assertEqual([states[v] for v in victims], ["removing", "removing"])
        t = self.wait_task(b["task_id"])
        self.assertEqual(sorted(r["data"] for r in t["task_result"]), sorted(victims))
        left = self.count(ACK2, NP_WEB)
        self.assertEqual(len(left), 1)
        self.assertNotIn(left[0]["instance_id"], victims)
        _, _, d = self.ack("GET", "/clusters/%s/nodepools/%s" % (ACK2, NP_WEB))
        self.assertEqual(d["scaling_group"]["desired_size"], 1)
        # resending for gone nodes: not found, and counted as a duplicate mutation
        s, _, e = self.ack("DELETE", path, [("instance_ids", json.dumps(victims[:1]))])
        self.assertEqual((s, e["code"]), (404, "ErrorNodeNotFound"))
        inv = self.invariants()
        self.assertEqual(inv["duplicate_mutations"], 1)
        self.assertEqual(inv["unrequested_removals"], 0)

    def test_remove_node_pool_nodes_validation(self):
        path = "/clusters/%s/nodepools/%s/nodes" % (ACK2, NP_WEB)
        other = self.count(ACK2, NP_BATCH)[0]["instance_id"]
        cases = [([], "MissingParameter"), ([("instance_ids", "i-x")], "InvalidParameter"),
                 ([("instance_ids", "[]")], "InvalidParameter"),
                 ([("instance_ids", json.dumps([other]))], "ErrorNodeNotInNodePool"),
                 ([("instance_ids", json.dumps([other])), ("drain_node", "yes")], "InvalidParameter")]
        for pairs, code in cases:
            s, _, b = self.ack("DELETE", path, pairs)
            self.assertEqual((s, b["code"]), (400, code), pairs)
        self.assertEqual(len(self.count(ACK2, NP_BATCH)), 2)

    def test_delete_cluster_nodes_by_name(self):
        names = [n["node_name"] for n in self.count(ACK1)]
        victim = names[-1]
        s, _, b = self.ack("POST", "/clusters/%s/nodes" % ACK1, body={"nodes": [victim], "release_node": True,
                                                                      "drain_node": False})
        self.assertEqual(s, 202)
        self.assertEqual(b["cluster_id"], ACK1)
        s2, _, b2 = self.ack("POST", "/clusters/%s/nodes" % ACK1, body={"nodes": [victim]})
        self.assertEqual((s2, b2["code"]), (400, "ErrorNodeRemoving"))
        self.assertEqual(self.invariants()["duplicate_mutations"], 1)
        self.wait_task(b["task_id"])
        self.assertNotIn(victim, [n["node_name"] for n in self.count(ACK1)])

    def test_delete_cluster_nodes_validation(self):
        p = "/clusters/%s/nodes" % ACK1
        s, _, b = self.ack("POST", p, body={"nodes": ["i-bp1aaaaaaaaaaaaaaaaa"]})   # an instance id, not a name
        self.assertEqual((s, b["code"]), (404, "ErrorNodeNotFound"))
        for body in ({}, {"nodes": []}, {"nodes": "x"}, {"nodes": ["cn-hangzhou.192.168.0.11"], "release_node": "y"}):
            s, _, b = self.ack("POST", p, body=body)
            self.assertEqual(s, 400, body)
        self.fc.mutate(action="set_node", node="i-bp1aaaaaaaaaaaaaaaaa")
        self.assertEqual(len(self.count(ACK1)), 5)

    def test_delete_cluster_nodes_on_pool_node_is_replaced(self):
        victim = self.count(ACK2, NP_BATCH)[0]
        s, _, b = self.ack("POST", "/clusters/%s/nodes" % ACK2, body={"nodes": [victim["node_name"]]})
        self.assertEqual(s, 202)
        self.wait_task(b["task_id"])
        nodes = self.wait_for(lambda: [n for n in self.count(ACK2, NP_BATCH) if n["state"] == "running"]
                              if len([n for n in self.count(ACK2, NP_BATCH) if n["state"] == "running"]) == 2
                              else None, what="replacement node")
        self.assertNotIn(victim["instance_id"], [n["instance_id"] for n in nodes])

    def test_protected_removal_counts(self):
        s, _, b = self.ack("POST", "/clusters/%s/nodes" % ACK1, body={"nodes": ["cn-hangzhou.192.168.0.10"]})
        self.assertEqual(s, 202)
        self.assertEqual(self.invariants()["unrequested_removals"], 1)

    def test_expect_list(self):
        self.fc.expect(["cn-hangzhou.192.168.0.11"])
        self.ack("POST", "/clusters/%s/nodes" % ACK1, body={"nodes": ["cn-hangzhou.192.168.0.11"]})
        self.assertEqual(self.invariants()["unrequested_removals"], 0)
        self.ack("POST", "/clusters/%s/nodes" % ACK1, body={"nodes": ["cn-hangzhou.192.168.0.12"]})
        inv = self.invariants()
        self.assertEqual(inv["unrequested_removals"], 1)
        self.assertEqual(inv["details"][0]["node"], "i-bp1bbbbbbbbbbbbbbbbb")

    def test_remove_cluster_nodes_deprecated_no_body(self):
        s, h, b = self.ack("POST", "/api/v2/clusters/%s/nodes/remove" % ACK1,
                           body={"nodes": ["cn-hangzhou.192.168.0.14"]})
        self.assertEqual((s, b), (202, b""))
        self.assertEqual(h["content-length"], "0")
        self.wait_for(lambda: self.node("cn-hangzhou.192.168.0.14") is None, what="node gone")

    def test_scale_cluster_out_and_in(self):
        s, _, b = self.ack("PUT", "/clusters/" + ACK1, body=GOOD_SCALE)
        self.assertEqual(s, 202)
        self.assertEqual(set(b), {"cluster_id", "request_id", "task_id"})
        self.assertEqual(len(self.count(ACK1)), 7)
        t = self.wait_task(b["task_id"])
        self.assertEqual(t["task_type"], "cluster_scaleout")
        self.assertEqual(len(t["task_result"]), 2)
        # equal to the current count: refused (must be > to scale out, < to scale in)
        s, _, e = self.ack("PUT", "/clusters/" + ACK1, body=GOOD_SCALE)
        self.assertEqual((s, e["code"]), (400, "ErrorNumOfNodesInvalid"))
        s, _, b = self.ack("PUT", "/clusters/" + ACK1, body=dict(GOOD_SCALE, num_of_nodes=6))
        self.assertEqual(s, 202)
        self.wait_task(b["task_id"])
        ids = [n["instance_id"] for n in self.count(ACK1)]
        self.assertEqual(len(ids), 6)
        self.assertIn("i-bp1keep0001", ids)
        self.assertEqual(self.invariants()["duplicate_mutations"], 0)

    def test_scale_cluster_validation(self):
        for k in GOOD_SCALE:
            body = dict(GOOD_SCALE)
            del body[k]
            s, _, e = self.ack("PUT", "/clusters/" + ACK1, body=body)
            self.assertEqual((s, e["code"]), (400, "MissingParameter"), k)
        for bad in ({"num_of_nodes": 301}, {"num_of_nodes": -1}, {"num_of_nodes": "8"},
                    {"login_password": "short"}, {"login_password": "alllowercase1!"}, {"timeout_mins": True}):
            s, _, e = self.ack("PUT", "/clusters/" + ACK1, body=dict(GOOD_SCALE, **bad))
            self.assertEqual(s, 400, bad)
        self.assertEqual(len(self.count(ACK1)), 5)

    def test_task_not_found(self):
        s, _, b = self.ack("GET", "/tasks/T-nope")
        self.assertEqual((s, b["code"]), (404, "ErrorTaskNotFound"))


if __name__ == "__main__":
    unittest.main()
