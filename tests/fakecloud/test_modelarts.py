"""ModelArts node pools end to end: list/show/nodes, PATCH count, DELETE (seed 002) and its refusals."""

import unittest

from fc_support import MA_P, PROJECT, FakeCloudCase

NP1 = MA_P + "/nodepool-1"
OLD = MA_P + "/nodepool-old"
PATCH_CT = "application/merge-patch+json"


def patch(count, flavor="modelarts.vm.2u4g.dcc", max_count=None):
    res = {"flavor": flavor, "count": count}
    res["maxCount"] = count if max_count is None else max_count
    return {"spec": {"resources": res}}


class ModelArts(FakeCloudCase):
    def show(self, path=NP1):
        return self.hw("GET", path)

    def test_list_and_show(self):
        s, h, b = self.hw("GET", MA_P)
        self.assertEqual(s, 200)
        self.assertIn("x-request-id", h)
        self.assertEqual([p["metadata"]["name"] for p in b["items"]], ["nodepool-1", "nodepool-old"])
        s, _, p = self.show()
        self.assertEqual((p["kind"], p["apiVersion"]), ("NodePool", "v2"))
        r = p["spec"]["resources"]
        self.assertEqual((r["flavor"], r["count"], r["maxCount"], r["nodePool"]),
                         ("modelarts.vm.2u4g.dcc", 2, 2, "nodepool-1"))
        st = p["status"]["resources"]
        self.assertEqual(set(st), {"available"})
        self.assertEqual(st["available"]["count"], 2)
        self.assertEqual(st["available"]["azs"], [{"az": "cn-north-7c", "count": 2}])

    def test_list_nodes_paged(self):
        s, _, b = self.hw("GET", NP1 + "/nodes", [("limit", "1")])
        self.assertEqual((s, b["kind"], len(b["items"])), (200, "NodeList", 1))
        self.assertEqual(b["metadata"]["remainingItemCount"], 1)
        s, _, b2 = self.hw("GET", NP1 + "/nodes", [("limit", "1"), ("continue", b["metadata"]["continue"])])
        self.assertEqual(b2["metadata"]["continue"], "")
        self.assertNotEqual(b["items"][0]["metadata"]["name"], b2["items"][0]["metadata"]["name"])
        self.assertEqual(b2["items"][0]["status"]["phase"], "Available")

    def test_not_found(self):
        s, _, b = self.hw("GET", MA_P + "/nope")
        self.assertEqual((s, b["error_code"]), (404, "ModelArts.50004004"))
        s, _, b = self.hw("GET", "/v2/%s/pools/nope/nodepools" % PROJECT)
        self.assertEqual(s, 404)
        s, _, b = self.hw("GET", "/v2/%s/pools/pool-abc/nodepools" % ("f" * 32))
        self.assertEqual(s, 404)

    def test_patch_count_counters_move(self):
        s, _, b = self.hw("PATCH", NP1, body=patch(3), content_type=PATCH_CT)
        self.assertEqual(s, 200)
        self.assertEqual(b["spec"]["resources"]["count"], 3)
        self.assertNotIn("status", b)
        _, _, p = self.show()
        self.assertEqual(p["status"]["resources"]["creating"]["count"], 1)
        self.wait_for(lambda: (lambda p: "creating" not in p["status"]["resources"]
                               and p["status"]["resources"]["available"]["count"] == 3)(self.show()[2]),
                      what="pool converged")
        # scale in: the pool picks the victim; the deleting bucket shows up, then goes
        s, _, b = self.hw("PATCH", NP1, body=patch(1), content_type="application/json;charset=UTF-8")
        self.assertEqual(s, 200)
        self.assertEqual(self.show()[2]["status"]["resources"]["deleting"]["count"], 2)
        self.wait_for(lambda: set(self.show()[2]["status"]["resources"]) == {"available"}, what="deleted")

    def test_patch_validation(self):
        cases = [(patch(3, flavor="modelarts.vm.other"), PATCH_CT), (patch(-1), PATCH_CT), (patch(3, max_count=2), PATCH_CT),
                 ({"spec": {}}, PATCH_CT), (patch(3), "text/plain")]
        for body, ct in cases:
            s, _, b = self.hw("PATCH", NP1, body=body, content_type=ct)
            self.assertEqual((s, b["error_code"]), (400, "ModelArts.50004000"), (body, ct))
        self.assertEqual(self.show()[2]["spec"]["resources"]["count"], 2)

    def test_patch_duplicate_while_converging(self):
        self.hw("PATCH", NP1, body=patch(4), content_type=PATCH_CT)
        self.hw("PATCH", NP1, body=patch(4), content_type=PATCH_CT)
        self.assertEqual(self.invariants()["duplicate_mutations"], 1)

    def test_delete_node_pool(self):
        s, _, b = self.hw("DELETE", OLD)
        self.assertEqual(s, 200)
        self.assertEqual(b["metadata"]["name"], "nodepool-old")
        self.assertEqual(b["status"]["resources"]["available"]["count"], 1)
        _, _, p = self.show(OLD)
        self.assertEqual(p["status"]["resources"]["deleting"]["count"], 1)
        s, _, e = self.hw("DELETE", OLD)          # second delete while deleting: refused, duplicate
        self.assertEqual((s, e["error_code"]), (400, "ModelArts.50004000"))
        self.wait_for(lambda: self.show(OLD)[0] == 404, what="node pool gone")
        s, _, e = self.hw("DELETE", OLD)
        self.assertEqual(s, 404)
        self.assertEqual(self.invariants()["duplicate_mutations"], 2)
        self.assertEqual([p["metadata"]["name"] for p in self.hw("GET", MA_P)[2]["items"]], ["nodepool-1"])

    def test_delete_refused_in_use_or_subscription(self):
        pid = "%s/pool-abc/nodepool-1" % PROJECT
        self.fc.mutate(action="set_pool", pool=pid, in_use=True)
        s, _, e = self.hw("DELETE", NP1)
        self.assertEqual((s, set(e)), (400, {"error_code", "error_msg"}))
        self.assertEqual(e["error_code"], "ModelArts.50004000")
        self.assertIn("in use", e["error_msg"])
        self.fc.mutate(action="set_pool", pool=pid, in_use=False, charge="prePaid")
        s, _, e = self.hw("DELETE", NP1)
        self.assertEqual(s, 400)
        self.assertIn("yearly/monthly", e["error_msg"])
        self.assertEqual(self.show()[0], 200)

    def test_delete_with_seed_example_body(self):
        s, _, _ = self.hw("DELETE", OLD, body=b"{ }")
        self.assertEqual(s, 200)

    def test_delete_job_fail_keeps_pool(self):
        self.fc.add_fault(route="DeleteNodePool", fault="job_fail", count=1)
        self.assertEqual(self.hw("DELETE", OLD)[0], 200)
        self.wait_for(lambda: "deleting" not in self.show(OLD)[2]["status"]["resources"], what="delete failed")
        _, _, p = self.show(OLD)
        self.assertNotIn("phase", p["status"])
        self.assertEqual(p["status"]["resources"]["available"]["count"], 1)
        self.assertEqual(self.hw("DELETE", OLD)[0], 200)              # retry after failure: allowed
        self.assertEqual(self.invariants()["duplicate_mutations"], 0)

    def test_patch_job_fail_shows_abnormal(self):
        self.fc.add_fault(route="PatchNodePool", fault="job_fail", count=1)
        self.hw("PATCH", NP1, body=patch(3), content_type=PATCH_CT)
        self.wait_for(lambda: "abnormal" in self.show()[2]["status"]["resources"], what="abnormal bucket")
        self.assertNotIn("creating", self.show()[2]["status"]["resources"])

    def test_delete_unexpected_counts(self):
        self.fc.expect(["nodepool-1"])
        self.hw("DELETE", OLD)
        inv = self.invariants()
        self.assertEqual(inv["unrequested_removals"], 1)


if __name__ == "__main__":
    unittest.main()
