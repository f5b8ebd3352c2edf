"""Issue #19: the emulator follows the clouds' pages, not the daemon. One test (or more) per behaviour;
README "What follows which page" names the page of each."""

import json
import unittest

from fc_support import (ACK1, ACK2, CCE, CCE_P, GPU_A, MA_P, MA_POOL, NP_BATCH, NP_WEB, PROJECT, CloudClient,
                        FakeCloudCase, FakeCloudProcess, demo_seed, js)

POOL = CCE_P + "/nodepools/" + GPU_A
NP1 = MA_P + "/nodepool-1"
PATCH_CT = "application/merge-patch+json"
MA_NP1 = "%s/pool-abc/nodepool-1" % PROJECT


class AckReference(FakeCloudCase):
    def nodes(self, cluster, *pairs):
        s, _, b = self.ack("GET", "/clusters/%s/nodes" % cluster, [("pageSize", "100")] + list(pairs))
        self.assertEqual(s, 200, b)
        return b

    def test_undocumented_query_parameters_are_ignored(self):
        """DescribeClusterNodes documents instanceIds, nodepool_id, state, pageSize, pageNumber only."""
        for arg, val in (("nodeLabels", "nodeherd.io/protect=true"), ("nodeNames", "cn-hangzhou.192.168.0.11"),
                         ("nodeIps", "192.168.0.12"), ("bogus", "x")):
            b = self.nodes(ACK1, (arg, val))
            self.assertEqual(b["page"]["total_count"], 5, arg)
        b = self.nodes(ACK1, ("instanceIds", "i-bp1aaaaaaaaaaaaaaaaa,i-bp1bbbbbbbbbbbbbbbbb"))
        self.assertEqual(sorted(n["instance_id"] for n in b["nodes"]),
                         ["i-bp1aaaaaaaaaaaaaaaaa", "i-bp1bbbbbbbbbbbbbbbbb"])
        self.assertNotIn("labels", b["nodes"][0])           # the node list carries no Kubernetes labels

    def test_node_states_follow_the_response_enum(self):
        self.fc.mutate(action="set_node", node="i-bp1aaaaaaaaaaaaaaaaa", ecs_state="Stopped")
        self.fc.mutate(action="set_node", node="i-bp1bbbbbbbbbbbbbbbbb", ecs_state="Starting")
        self.fc.mutate(action="set_node", node="i-bp1ccccccccccccccccc", ecs_state="Stopping")
        by = {n["instance_id"]: n for n in self.nodes(ACK1)["nodes"]}
        self.assertEqual((by["i-bp1aaaaaaaaaaaaaaaaa"]["state"], by["i-bp1aaaaaaaaaaaaaaaaa"]["instance_status"],
                          by["i-bp1aaaaaaaaaaaaaaaaa"]["node_status"]), ("stopped", "Stopped", "Offline"))
        self.assertEqual(by["i-bp1bbbbbbbbbbbbbbbbb"]["state"], "starting")
        self.assertEqual(by["i-bp1ccccccccccccccccc"]["state"], "stopping")
        self.assertEqual(by["i-bp1ddddddddddddddddd"]["state"], "running")
        self.assertEqual([n["instance_id"] for n in self.nodes(ACK1, ("state", "running"))["nodes"]],
                         ["i-bp1keep0001", "i-bp1ddddddddddddddddd"])
        # being created: "pending"; the request filter calls them "initial"
        self.ack("PUT", "/clusters/%s/nodepools/%s" % (ACK2, NP_WEB), body={"scaling_group": {"desired_size": 4}})
        new = [n for n in self.nodes(ACK2, ("nodepool_id", NP_WEB))["nodes"] if n["state"] == "pending"]
        self.assertEqual(len(new), 1)
        self.assertEqual(new[0]["instance_status"], "Pending")
        self.assertEqual([n["instance_id"] for n in self.nodes(ACK2, ("state", "initial"))["nodes"]],
                         [new[0]["instance_id"]])
        with self.assertRaises(RuntimeError):
            self.fc.mutate(action="set_node", node="i-bp1aaaaaaaaaaaaaaaaa", ecs_state="Asleep")

    def test_charge_type_and_release_node(self):
        """release_node=false keeps the ECS instance; release_node never releases PrePaid instances."""
        self.fc.mutate(action="set_node", node="i-bp1bbbbbbbbbbbbbbbbb", charge="PrePaid")
        by = {n["instance_id"]: n for n in self.nodes(ACK1)["nodes"]}
        self.assertEqual(by["i-bp1bbbbbbbbbbbbbbbbb"]["instance_charge_type"], "PrePaid")
        self.assertEqual(by["i-bp1aaaaaaaaaaaaaaaaa"]["instance_charge_type"], "PostPaid")
        p = "/clusters/%s/nodes" % ACK1
        self.assertEqual(self.ack("POST", p, body={"nodes": ["cn-hangzhou.192.168.0.11"], "release_node": True})[0],
                         202)                                                      # PostPaid, released
        self.assertEqual(self.ack("POST", p, body={"nodes": ["cn-hangzhou.192.168.0.12"], "release_node": True})[0],
                         202)                                                      # PrePaid: kept
        self.assertEqual(self.ack("POST", p, body={"nodes": ["cn-hangzhou.192.168.0.13"]})[0], 202)  # default false
        self.wait_for(lambda: len(self.nodes(ACK1)["nodes"]) == 2, what="three nodes gone")
        inv = self.invariants()
        self.assertEqual(inv["servers_kept_running"], 2)
        kept = {k["node"]: k for k in self.fc.state()["kept_servers"]}
        self.assertEqual(set(kept), {"i-bp1bbbbbbbbbbbbbbbbb", "i-bp1ccccccccccccccccc"})
        self.assertIn("PrePaid", kept["i-bp1bbbbbbbbbbbbbbbbb"]["why"])
        self.assertIn("release_node is false", kept["i-bp1ccccccccccccccccc"]["why"])

    def test_remove_node_pool_nodes_release_semantics(self):
        ids = [n["instance_id"] for n in self.nodes(ACK2, ("nodepool_id", NP_BATCH))["nodes"]]
        path = "/clusters/%s/nodepools/%s/nodes" % (ACK2, NP_BATCH)
        self.assertEqual(self.ack("DELETE", path, [("instance_ids", json.dumps(ids[:1])),
                                                   ("release_node", "true")])[0], 200)
        self.assertEqual(self.ack("DELETE", path, [("instance_ids", json.dumps(ids[1:]))])[0], 200)
        self.wait_for(lambda: self.nodes(ACK2, ("nodepool_id", NP_BATCH))["nodes"] == [], what="pool emptied")
        self.assertEqual([k["node"] for k in self.fc.state()["kept_servers"]], ids[1:])

    def test_cluster_detail_and_busy_cluster_refuses_mutations(self):
        s, _, b = self.ack("GET", "/clusters/" + ACK2)
        self.assertEqual((s, b["state"], b["cluster_id"]), (200, "running", ACK2))
        self.assertIn("intranet_api_server_endpoint", json.loads(b["master_url"]))
        for state in ("upgrading", "updating", "scaling", "removing"):
            self.fc.mutate(action="set_cluster", cluster=ACK2, state=state)
            self.assertEqual(self.ack("GET", "/clusters/" + ACK2)[2]["state"], state)
            s, _, e = self.ack("PUT", "/clusters/%s/nodepools/%s" % (ACK2, NP_WEB),
                               body={"scaling_group": {"desired_size": 5}})
            self.assertEqual((s, e["code"]), (400, "ErrorClusterState"), state)
            self.assertIn(state, e["message"])
            s, _, e = self.ack("POST", "/clusters/%s/nodes" % ACK2,
                               body={"nodes": [self.nodes(ACK2)["nodes"][0]["node_name"]]})
            self.assertEqual(s, 400)
        self.assertEqual(self.ack("GET", "/clusters/%s/nodes" % ACK2)[0], 200)     # reads still work
        self.assertEqual(self.fc.state()["tasks"], [])
        # the answer can be changed for a test of another classification
        self.fc.mutate(action="set_cluster", cluster=ACK2, busy_error={"status": 409, "code": "Conflict"})
        s, _, e = self.ack("PUT", "/clusters/%s/nodepools/%s" % (ACK2, NP_WEB),
                           body={"scaling_group": {"desired_size": 5}})
        self.assertEqual((s, e["code"]), (409, "Conflict"))
        self.fc.mutate(action="set_cluster", cluster=ACK2, state="running", busy_error=None)
        self.assertEqual(self.ack("PUT", "/clusters/%s/nodepools/%s" % (ACK2, NP_WEB),
                                  body={"scaling_group": {"desired_size": 5}})[0], 200)
        with self.assertRaises(RuntimeError):
            self.fc.mutate(action="set_cluster", cluster=ACK2, state="Available")   # a CCE phase


    def test_modify_node_pool_adds_at_most_500_per_call(self):
        """ModifyClusterNodePool desired_size: "You can add at most 500 nodes in one API call"."""
        path = "/clusters/%s/nodepools/%s" % (ACK2, NP_WEB)
        s, _, e = self.ack("PUT", path, body={"scaling_group": {"desired_size": 504}})    # 3 + 501
        self.assertEqual((s, e["code"]), (400, "InvalidParameter"))
        self.assertIn("at most 500", e["message"])
        self.assertEqual(self.fc.state()["tasks"], [])
        s, _, b = self.ack("PUT", path, body={"scaling_group": {"desired_size": 1}})     # down: no limit
        self.assertEqual(s, 200, b)


class CceReference(FakeCloudCase):
    seed_overrides = {}

    def pool(self):
        return self.hw("GET", POOL)[2]

    def test_cce_labels_are_not_kubernetes_labels(self):
        uid = "a1b2c3d4-0000-4000-8000-000000000001"
        self.fc.mutate(action="set_node", node=uid, labels={"nodeherd.io/protect": "true"},
                       cloud_labels={"cce.cloud.com/tag": "a"})
        n = self.hw("GET", CCE_P + "/nodes/" + uid)[2]
        self.assertEqual(n["metadata"]["labels"], {"cce.cloud.com/tag": "a"})
        k = self.k8s_nodes(CCE)["train-node-1"]
        self.assertEqual(k["metadata"]["labels"]["nodeherd.io/protect"], "true")
        self.assertNotIn("cce.cloud.com/tag", k["metadata"]["labels"])

    def test_remove_node_leaves_the_server_running(self):
        uid = "a1b2c3d4-0000-4000-8000-000000000002"
        s, _, b = self.hw("PUT", CCE_P + "/nodes/operation/remove", body={"spec": {"nodes": [{"uid": uid}]}})
        self.assertEqual(s, 200)
        self.wait_for(lambda: self.hw("GET", CCE_P + "/nodes/" + uid)[0] == 404, what="node out of the cluster")
        inv = self.invariants()
        self.assertEqual(inv["servers_kept_running"], 1)
        kept = self.fc.state()["kept_servers"]
        self.assertEqual([k["node"] for k in kept], [uid])
        self.assertTrue(kept[0]["server"])
        self.assertNotIn("train-node-2", self.k8s_nodes(CCE))

    def test_delete_node_deletes_the_server_and_lowers_the_pool(self):
        uid = "a1b2c3d4-0000-4000-8000-000000000004"
        self.assertEqual(self.hw("DELETE", CCE_P + "/nodes/" + uid)[0], 200)
        self.assertEqual(self.pool()["spec"]["initialNodeCount"], 3)
        self.wait_for(lambda: self.node(uid) is None, what="deleted")
        self.assertEqual(self.invariants()["servers_kept_running"], 0)
        uid = "a1b2c3d4-0000-4000-8000-000000000003"
        self.assertEqual(self.hw("DELETE", CCE_P + "/nodes/" + uid, [("nodepoolScaleDown", "NoScaleDown")])[0], 200)
        self.assertEqual(self.pool()["spec"]["initialNodeCount"], 3)

    def test_yearly_monthly_node_cannot_be_deleted(self):
        uid = "a1b2c3d4-0000-4000-8000-000000000003"
        self.fc.mutate(action="set_node", node=uid, charge="PrePaid")
        self.assertEqual(self.hw("GET", CCE_P + "/nodes/" + uid)[2]["spec"]["billingMode"], 1)
        s, _, e = self.hw("DELETE", CCE_P + "/nodes/" + uid)
        self.assertEqual((s, e["errorCode"]), (400, "CCE.01400001"))
        self.assertIn("yearly/monthly", e["errorMessage"])
        self.assertEqual(self.node(uid)["status"], "running")
        self.assertEqual(self.pool()["spec"]["initialNodeCount"], 4)
        # RemoveNode is allowed (the server is kept anyway)
        s, _, _ = self.hw("PUT", CCE_P + "/nodes/operation/remove", body={"spec": {"nodes": [{"uid": uid}]}})
        self.assertEqual(s, 200)

    def test_failed_deletion_shows_deleting_without_error_status(self):
        self.fc.add_fault(route="DeleteNode", fault="job_fail", count=1)
        uid = "a1b2c3d4-0000-4000-8000-000000000006"
        jid = self.hw("DELETE", CCE_P + "/nodes/" + uid)[2]["status"]["jobID"]
        self.wait_for(lambda: self.hw("GET", "/api/v3/projects/%s/jobs/%s" % (PROJECT, jid))[2]["status"]["phase"]
                      == "Failed", what="failed job")
        plain = {n["metadata"]["uid"]: n["status"]["phase"] for n in self.hw("GET", CCE_P + "/nodes")[2]["items"]}
        err = {n["metadata"]["uid"]: n["status"]["phase"]
               for n in self.hw("GET", CCE_P + "/nodes", [("errorStatus", "true")])[2]["items"]}
        self.assertEqual((plain[uid], err[uid]), ("Deleting", "Error"))
        self.assertEqual(plain["a1b2c3d4-0000-4000-8000-000000000001"], "Active")
        # an Error node can be deleted again (not a duplicate)
        self.assertEqual(self.hw("DELETE", CCE_P + "/nodes/" + uid)[0], 200)
        self.assertEqual(self.invariants()["duplicate_mutations"], 0)

    def test_remove_node_refuses_nodes_being_created(self):
        self.hw("POST", POOL + "/operation/scale", body={"kind": "NodePool", "apiVersion": "v3",
                                                         "spec": {"desiredNodeCount": 5, "scaleGroups": ["default"]}})
        new = [n for n in self.fc.state()["nodes"] if n["status"] == "creating"][0]
        s, _, e = self.hw("PUT", CCE_P + "/nodes/operation/remove", body={"spec": {"nodes": [{"uid": new["id"]}]}})
        self.assertEqual(s, 400)
        self.assertIn("Active, Abnormal or Error", e["errorMessage"])

    def test_pool_conditions_from_the_admin_api(self):
        scale = {"kind": "NodePool", "apiVersion": "v3", "spec": {"desiredNodeCount": 6, "scaleGroups": ["default"]}}
        self.fc.mutate(action="set_pool", pool=GPU_A, conditions=[
            {"type": "Scalable", "status": "False", "reason": "QuotaInsufficient", "message": "ECS quota"},
            {"type": "QuotaInsufficient", "status": "True", "reason": "ecs", "message": "no quota"}])
        conds = {c["type"]: c for c in self.pool()["status"]["conditions"]}
        self.assertEqual((conds["Scalable"]["status"], conds["QuotaInsufficient"]["status"]), ("False", "True"))
        for k in ("reason", "message", "lastProbeTime", "lastTransitTime"):
            self.assertIn(k, conds["Scalable"])
        s, _, e = self.hw("POST", POOL + "/operation/scale", body=scale)            # instant check: refused
        self.assertEqual((s, e["errorCode"]), (400, "CCE.01400001"))
        self.assertEqual(self.pool()["spec"]["initialNodeCount"], 4)
        scale["spec"]["options"] = {"scalableChecking": "async"}                    # async: accepted, then fails
        self.assertEqual(self.hw("POST", POOL + "/operation/scale", body=scale)[0], 200)
        self.wait_for(lambda: sum(1 for n in self.fc.state()["nodes"] if n["pool"] == GPU_A
                                  and n["status"] == "failed") == 2, what="failed new nodes")
        self.fc.mutate(action="set_pool", pool=GPU_A, conditions=[{"type": "LockedByOrder", "status": "True"}])
        s, _, e = self.hw("PUT", POOL, body={"spec": {"initialNodeCount": 3}})
        self.assertEqual(s, 400)
        self.assertIn("LockedByOrder", e["errorMessage"])
        with self.assertRaises(RuntimeError):
            self.fc.mutate(action="set_pool", pool=GPU_A, conditions=[{"type": "Scalable", "status": "maybe"}])

    def test_pool_without_initial_node_count(self):
        self.fc.mutate(action="set_pool", pool=GPU_A, omit_initial=True)
        p = self.pool()
        self.assertNotIn("initialNodeCount", p["spec"])
        self.assertEqual(p["status"]["currentNode"], 4)
        self.assertNotIn("initialNodeCount", self.hw("GET", CCE_P + "/nodepools")[2]["items"][0]["spec"])
        self.hw("POST", POOL + "/operation/scale", body={"kind": "NodePool", "apiVersion": "v3",
                                                         "spec": {"desiredNodeCount": 4, "scaleGroups": ["default"]}})
        self.assertEqual(self.pool()["spec"]["initialNodeCount"], 4)

    def test_show_cluster_and_busy_phases(self):
        s, _, c = self.hw("GET", CCE_P)
        self.assertEqual((s, c["kind"], c["status"]["phase"], c["metadata"]["uid"]), (200, "Cluster", "Available", CCE))
        self.assertEqual({e["type"] for e in c["status"]["endpoints"]}, {"Internal", "External"})
        uid = "a1b2c3d4-0000-4000-8000-000000000003"
        for phase in ("Upgrading", "Creating", "ScalingUp", "Resizing", "Hibernation"):
            self.fc.mutate(action="set_cluster", cluster=CCE, state=phase)
            self.assertEqual(self.hw("GET", CCE_P)[2]["status"]["phase"], phase)
            s, _, e = self.hw("DELETE", CCE_P + "/nodes/" + uid)
            self.assertEqual((s, e["errorCode"]), (400, "CCE.01400001"), phase)
            self.assertIn(phase, e["errorMessage"])
        s, _, e = self.hw("POST", POOL + "/operation/scale", body={"kind": "NodePool", "apiVersion": "v3",
                                                                   "spec": {"desiredNodeCount": 5,
                                                                            "scaleGroups": ["default"]}})
        self.assertEqual(s, 400)
        # UpdateNodePool is allowed while the cluster scales; RemoveNode while it is Unavailable
        self.fc.mutate(action="set_cluster", cluster=CCE, state="ScalingUp")
        self.assertEqual(self.hw("PUT", POOL, body={"spec": {"initialNodeCount": 4}})[0], 200)
        self.fc.mutate(action="set_cluster", cluster=CCE, state="Unavailable")
        self.assertEqual(self.hw("DELETE", CCE_P + "/nodes/" + uid)[0], 400)
        self.assertEqual(self.hw("PUT", CCE_P + "/nodes/operation/remove",
                                 body={"spec": {"nodes": [{"uid": uid}]}})[0], 200)
        # Error is shown as Deleting unless errorStatus is sent
        self.fc.mutate(action="set_cluster", cluster=CCE, state="Error")
        self.assertEqual(self.hw("GET", CCE_P)[2]["status"]["phase"], "Deleting")
        self.assertEqual(self.hw("GET", CCE_P, [("errorStatus", "true")])[2]["status"]["phase"], "Error")


class ModelArtsReference(FakeCloudCase):
    def show(self, path=NP1):
        return self.hw("GET", path)[2]

    def names(self, np="nodepool-1"):
        return [n["metadata"]["name"] for n in self.hw("GET", MA_P + "/" + np + "/nodes")[2]["items"]]

    def test_batch_delete_names_victims_and_lowers_count(self):
        victim = self.names()[0]
        s, h, b = self.hw("POST", MA_POOL + "/nodes/batch-delete", body={"deleteNodeNames": [victim]})
        self.assertEqual(s, 200)
        self.assertIn("x-request-id", h)
        p = self.show()
        self.assertEqual(p["spec"]["resources"]["count"], 1)                # the count drops: no replacement
        self.assertEqual(p["status"]["resources"]["deleting"]["count"], 1)
        self.wait_for(lambda: self.names() == [n for n in self.names() if n != victim] and len(self.names()) == 1,
                      what="victim gone")
        self.assertNotIn(victim, self.names())
        self.assertEqual(self.show()["status"]["resources"]["available"]["count"], 1)
        s, _, e = self.hw("POST", MA_POOL + "/nodes/batch-delete", body={"deleteNodeNames": [victim]})
        self.assertEqual(s, 404)
        self.assertEqual(self.invariants()["duplicate_mutations"], 1)
        self.assertEqual(self.invariants()["unrequested_removals"], 0)

    def test_batch_delete_other_reading_keeps_the_count(self):
        """The page is silent on `count`: batch_delete_keeps_count plays the reading where it stays."""
        seed = demo_seed()
        seed["modelarts"]["batch_delete_keeps_count"] = True
        fc = FakeCloudProcess(seed=seed).start()
        self.addCleanup(fc.stop)
        c = CloudClient(fc.port)
        self.addCleanup(c.close)

        def names():
            return [n["metadata"]["name"] for n in js(c.huawei("GET", MA_P + "/nodepool-1/nodes")[2])["items"]]

        victim = names()[0]
        self.assertEqual(c.huawei("POST", MA_POOL + "/nodes/batch-delete",
                                  body={"deleteNodeNames": [victim]})[0], 200)
        self.assertEqual(js(c.huawei("GET", NP1)[2])["spec"]["resources"]["count"], 2)
        self.wait_for(lambda: victim not in names() and len(names()) == 2, what="a replacement")

    def test_batch_delete_keeps_one_node_and_validates(self):
        everyone = self.names() + self.names("nodepool-old")
        self.assertEqual(len(everyone), 3)
        s, _, e = self.hw("POST", MA_POOL + "/nodes/batch-delete", body={"deleteNodeNames": everyone})
        self.assertEqual((s, e["error_code"]), (400, "ModelArts.50004000"))
        self.assertIn("at least one node", e["error_msg"])
        for body in ({}, {"deleteNodeNames": []}, {"deleteNodeNames": "x"}, {"deleteNodeNames": [1]}):
            self.assertEqual(self.hw("POST", MA_POOL + "/nodes/batch-delete", body=body)[0], 400, body)
        s, _, e = self.hw("POST", MA_POOL + "/nodes/batch-delete", body={"deleteNodeNames": ["os-node-nope"]})
        self.assertEqual(s, 404)
        s, _, e = self.hw("POST", "/v2/%s/pools/nope/nodes/batch-delete" % PROJECT,
                          body={"deleteNodeNames": [everyone[0]]})
        self.assertEqual((s, e["error_code"], e["error_msg"]), (404, "ModelArts.50015001", "pool not found"))
        self.assertEqual(self.fc.state()["tasks"], [])

    def test_yearly_monthly_pool_refuses_batch_delete_and_delete(self):
        self.fc.mutate(action="set_pool", pool=MA_NP1, charge="prePaid")
        s, _, e = self.hw("POST", MA_POOL + "/nodes/batch-delete", body={"deleteNodeNames": self.names()[:1]})
        self.assertEqual((s, e["error_code"]), (400, "ModelArts.50004000"))
        self.assertIn("yearly/monthly", e["error_msg"])
        s, _, e = self.hw("DELETE", NP1)
        self.assertEqual(s, 400)
        self.assertIn("yearly/monthly", e["error_msg"])
        self.assertEqual(self.show()["metadata"]["annotations"]["os.modelarts/billing.mode"], "1")

    def test_node_pool_status_has_no_phase(self):
        """NodePoolStatus is `resources` only (ShowNodePool): a deleted node pool shows a deleting bucket."""
        self.assertEqual(self.hw("DELETE", MA_P + "/nodepool-old")[0], 200)
        p = self.hw("GET", MA_P + "/nodepool-old")[2]
        self.assertNotIn("phase", p["status"])
        self.assertEqual(p["status"]["resources"]["deleting"]["count"], 1)
        self.assertEqual(list(p["status"]), ["resources"])

    def test_list_pool_nodes_paged(self):
        s, _, b = self.hw("GET", MA_POOL + "/nodes", [("limit", "2")])
        self.assertEqual((s, b["kind"], len(b["items"]), b["metadata"]["remainingItemCount"]), (200, "NodeList", 2, 1))
        s, _, b2 = self.hw("GET", MA_POOL + "/nodes", [("limit", "2"), ("continue", b["metadata"]["continue"])])
        self.assertEqual((len(b2["items"]), b2["metadata"]["continue"]), (1, ""))
        pools = {n["metadata"]["labels"]["os.modelarts.node/nodepool"] for n in b["items"] + b2["items"]}
        self.assertEqual(pools, {"nodepool-1", "nodepool-old"})
        self.assertEqual(self.hw("GET", MA_POOL + "/nodes", [("limit", "501")])[0], 400)
        s, _, e = self.hw("GET", "/v2/%s/pools/nope/nodes" % PROJECT)
        self.assertEqual((s, e["error_code"]), (404, "ModelArts.50015001"))

    def test_lowering_count_removes_the_newest_healthy_nodes(self):
        self.hw("PATCH", NP1, body={"spec": {"resources": {"flavor": "modelarts.vm.2u4g.dcc", "count": 4,
                                                           "maxCount": 4}}}, content_type=PATCH_CT)
        self.wait_for(lambda: self.show()["status"]["resources"].get("available", {}).get("count") == 4,
                      what="4 available")
        st = {n["name"]: n for n in self.fc.state()["nodes"] if n["pool"] == MA_NP1}
        by_age = sorted(st.values(), key=lambda n: (n["created"], n["id"]))
        sick = by_age[0]["name"]                             # the oldest node turns unhealthy
        self.fc.mutate(action="unhealthy", node=sick)
        newest = by_age[-1]["name"]
        self.hw("PATCH", NP1, body={"spec": {"resources": {"flavor": "modelarts.vm.2u4g.dcc", "count": 3,
                                                           "maxCount": 4}}}, content_type=PATCH_CT)
        removing = [n["name"] for n in self.fc.state()["nodes"] if n["pool"] == MA_NP1 and n["status"] == "removing"]
        self.assertEqual(removing, [newest])                 # a healthy one, not the sick one
        self.assertNotIn(sick, removing)


if __name__ == "__main__":
    unittest.main()
