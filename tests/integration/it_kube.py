#!/usr/bin/env python3
"""Kubernetes-aware scale-in (issue #20) against contrib/fakecloud, whose
ACK and CCE clusters serve a Kubernetes API: the real nodeherd binary with
`kubernetes: { kubeconfig: from-cloud }`.

What is covered here:
  - an ACK cluster: a node protected only by a Kubernetes label stays;
    victims go in the order [unhealthy, emptiest, newest] (the nodes that
    run only DaemonSet pods go, the busy newest ones stay); pods are read
    only for candidate victims;
  - a CCE cluster shrinking its nodes outside pools: a node carrying the
    cluster-autoscaler scale-down-disabled annotation and a node running a
    pod without a controller both stay; the removed nodes' servers are
    deleted (DeleteNode);
  - an ACK pool 3 -> 1 drained by nodeherd (a label-protected node, a pod
    behind a budget that refuses evictions for a while, a DaemonSet-only
    node) through two kill -9 restarts;
  - a drain that times out: the node is uncordoned and another one is
    chosen later;
  - a failed Kubernetes read removes nothing (fail closed), is shown in
    status and metrics, and the daemon carries on once it answers again;
  - a cluster removed from the file, or losing its `kubernetes:` key, in
    the middle of a drain: the node nodeherd cordoned is uncordoned before
    its client goes (nothing left cordoned);
  - the drain record in the journal: open before fakecloud sees the cordon,
    closed after (drained once the removal is journalled, which is never
    journalled twice for a node); a restart that finds the drain no longer
    wanted (the file changed while the daemon was down) uncordons the node
    from the record and closes it.
"""

import glob
import json
import os
import re
import signal
import sys
import time
import unittest
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import itlib  # noqa: E402
from itlib import harness  # noqa: E402

WEB = itlib.WEB
TRAIN = itlib.TRAIN
KEEP = "i-bp1keep0001"  # its Kubernetes label nodeherd.io/protect=true (seed)
A, B, C, D = ("i-bp1aaaaaaaaaaaaaaaaa", "i-bp1bbbbbbbbbbbbbbbbb", "i-bp1ccccccccccccccccc",
              "i-bp1ddddddddddddddddd")


def config(body):
    return harness.fleet_head(providers=("ack", "cce")) + body


def wait_for(pred, timeout=120, what="condition"):
    deadline = time.time() + timeout
    while time.time() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(0.25)
    raise AssertionError("timed out waiting for " + what)


def live_ids(fleet, cluster, loose=True):
    return sorted(n["id"] for n in itlib.live_nodes(fleet.state(), cluster)
                  if not loose or not n.get("pool"))


def journal(state_dir):
    """The records of the file journal: (record, ...) in order."""
    path = os.path.join(state_dir, "journal.log")
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return [json.loads(ln.split(" ", 1)[1]) for ln in f.read().splitlines() if " " in ln]


def drain_records(state_dir):
    """seq -> {"begin": the drain record, "closed": its closing update or None}."""
    recs = {}
    for r in journal(state_dir):
        if r.get("t") == "begin" and r.get("kind") == "drain":
            recs[r["seq"]] = {"begin": r, "closed": None}
        elif r.get("t") == "update" and r["seq"] in recs and \
                r.get("state") in ("done", "failed", "timed-out"):
            recs[r["seq"]]["closed"] = r
    return recs


def open_drains(state_dir):
    return {s: v["begin"] for s, v in drain_records(state_dir).items() if v["closed"] is None}


class KubeScaleIn(unittest.TestCase):
    def setUp(self):
        self.fleet = harness.Fleet(seed=itlib.SEED)
        self.fleet.admin("timing", "POST", {"job_seconds": 0.3, "node_create_seconds": 0.2,
                                            "node_delete_seconds": 0.2})

    def tearDown(self):
        self.fleet.close()

    def k8s_state(self, cluster):
        return self.fleet.admin("k8s/state?cluster=" + cluster)

    def pods(self, cluster, pods):
        self.fleet.admin("k8s/pods", "POST", {"cluster": cluster, "pods": pods})

    def test_ack_label_protects_and_emptiest_goes_first(self):
        # drain: nodeherd's (the cloud's drain_node off); a and b run no pod
        # that counts, so their drains are a cordon each
        f = self.fleet
        # c and d (the newest) run a Deployment's pods; a and b only kube-proxy
        self.pods(WEB, [{"namespace": "shop", "name": "cart-%d" % i, "node": n,
                         "owner": "ReplicaSet", "labels": {"app": "cart"}}
                        for i, n in enumerate((C, D, D))])
        d = f.daemon(config(
            "  - name: web\n    provider: ack\n    id: %s\n    workers: 3\n"
            "    kubernetes: { kubeconfig: from-cloud }\n"
            "    scale_in: { max_per_cycle: 5 }\n" % WEB))
        d.wait_ready()
        wait_for(lambda: len(live_ids(f, WEB)) == 3, what="web at 3 workers")
        time.sleep(2)  # a few more cycles: nothing else goes
        self.assertEqual(live_ids(f, WEB), sorted([KEEP, C, D]))
        inv = f.invariants()
        self.assertEqual(inv.get("protected_nodes_removed"), 0, inv)
        self.assertEqual(inv.get("nodes_removed_with_evictable_pods"), 0, inv)
        self.assertEqual(inv.get("pods_deleted_bypassing_eviction"), 0, inv)
        itlib.assert_clean(self, f)
        # pods were read for candidate victims only: never for the protected node
        reqs = f.requests()
        pod_reads = [r for r in reqs if r["op"].endswith("K8sListPods")]
        self.assertTrue(pod_reads)
        keep_name = "cn-hangzhou.192.168.0.10"
        self.assertFalse([r for r in pod_reads if keep_name in r.get("path", "")], pod_reads[:3])
        st = d.status()
        web = [c for c in st["clusters"] if c["name"] == "web"][0]
        self.assertEqual(web["kubernetes"], {"reachable": True, "why": None})
        self.assertEqual(d.stop(), 0)

    def test_ack_pool_drained_scale_in_through_two_kill9(self):
        """The issue's first "Done when": an ACK pool 3 -> 1 whose newest node
        is protected only by a Kubernetes label, whose second runs a pod
        behind a budget that refuses evictions for a few seconds, and whose
        oldest runs only a DaemonSet pod: the two unprotected nodes go
        (drained by nodeherd, the cloud's drain off), the protected one
        stays, no node is removed with an evictable pod, at least one
        eviction is retried after a 429, no pod is deleted directly, nothing
        stays cordoned - through two kill -9 restarts."""
        f = self.fleet
        pools = itlib.POOLS
        st = f.state()
        np_web = [p for p in st["pools"] if p["name"] == "np-web"][0]["id"]
        nodes = sorted((n for n in st["nodes"] if n["pool"] == np_web),
                       key=lambda n: (n.get("created") or "", n["id"]))
        self.assertEqual(len(nodes), 3)
        oldest, second, newest = (n["id"] for n in nodes)
        f.admin("k8s/nodes", "POST", {"cluster": pools, "node": newest,
                                      "labels": {"nodeherd.io/protect": "true"}})
        self.pods(pools, [{"namespace": "shop", "name": "api-0", "node": second,
                           "owner": "ReplicaSet", "labels": {"app": "api"}}])
        f.admin("k8s/pdbs", "POST", {"cluster": pools, "pdbs": [{
            "namespace": "shop", "name": "api", "selector": {"matchLabels": {"app": "api"}},
            "minAvailable": 1, "refuse_seconds": 6}]})
        cfg = config(
            "  - name: pools\n    provider: ack\n    id: %s\n"
            "    kubernetes: { kubeconfig: from-cloud }\n"
            "    scale_in: { max_per_cycle: 5, drain_timeout: 2m }\n"
            "    node_pools:\n      - { name: np-web, nodes: 1 }\n"
            "      - { name: np-batch }\n" % pools)
        d = f.daemon(cfg)
        d.wait_ready()

        def cordoned():
            return [n["metadata"]["name"] for n in self.k8s_state(pools)["nodes"]
                    if n["spec"].get("unschedulable")]

        # kill -9 while a drain is under way (a node cordoned by nodeherd);
        # its drain record was durable before the cordon
        first = wait_for(cordoned, timeout=60, what="a cordon")
        recs = open_drains(f.state_dir)
        self.assertTrue([r for r in recs.values() if r["node_names"] == first[:1] and
                         r["mark"] == "nodeherd.pools" and r["cluster"] == "pools" and
                         r["deadline"] > r["started"]], (first, recs))
        d.kill9()
        d.start()
        d.wait_ready()
        # and again once an eviction has been refused by the budget
        wait_for(lambda: [r for r in f.requests() if r["op"].endswith("K8sEvictPod") and
                          r.get("status") == 429], timeout=60, what="a 429 eviction")
        d.kill9()
        d.start()
        d.wait_ready()

        def done():
            live = [n["id"] for n in itlib.live_nodes(f.state(), pools, "np-web")]
            return live == [newest] and not cordoned()

        wait_for(done, timeout=180, what="np-web at the protected node only, nothing cordoned")
        inv = f.invariants()
        for k in ("nodes_removed_with_evictable_pods", "protected_nodes_removed",
                  "pods_deleted_bypassing_eviction", "nodes_left_cordoned"):
            self.assertEqual(inv.get(k), 0, inv)
        itlib.assert_clean(self, f)
        ev = [r for r in f.requests() if r["op"].endswith("K8sEvictPod")]
        self.assertTrue([r for r in ev if r.get("status") == 429], ev)
        self.assertTrue([r for r in ev if r.get("status") in (200, 201)], ev)
        # the cloud's own drain was off: nodeherd drained
        removals = [r for r in f.mutations() if r["op"] == "RemoveNodePoolNodes"]
        self.assertTrue(removals)
        for r in removals:
            self.assertNotIn("drain_node=true", r.get("path", "") + r.get("query", ""), r)
        self.assertEqual(d.stop(), 0)
        # every drain record is closed; the two removed nodes' as drained,
        # each after its removal was journalled, and no removal journalled twice
        recs = drain_records(f.state_dir)
        self.assertFalse([s for s, v in recs.items() if v["closed"] is None], recs)
        drained = sorted(v["begin"]["node_ids"][0] for v in recs.values()
                         if v["closed"]["result"].startswith("drained"))
        self.assertEqual(drained, sorted([oldest, second]), recs)
        removed = []
        seen_removal = set()
        for r in journal(f.state_dir):
            if r.get("t") == "begin" and r.get("kind") == "remove-nodes":
                removed += r["node_ids"]
                seen_removal |= set(r["node_ids"])
            if r.get("t") == "update" and r["seq"] in recs and \
                    (r.get("result") or "").startswith("drained"):
                self.assertIn(recs[r["seq"]]["begin"]["node_ids"][0], seen_removal, r)
        self.assertEqual(sorted(removed), sorted([oldest, second]))

    def pin_a_behind_refusing_budget(self):
        """a: one pod, behind a budget that never allows its eviction; b, c,
        d: two pods each (a is the emptiest: chosen first)."""
        pods = [{"namespace": "shop", "name": "pinned-0", "node": A, "owner": "ReplicaSet",
                 "labels": {"app": "pinned"}}]
        for n in (B, C, D):
            pods += [{"namespace": "shop", "name": "web-%s-%d" % (n[-2:], i), "node": n,
                      "owner": "ReplicaSet", "labels": {"app": "web"}} for i in range(2)]
        self.pods(WEB, pods)
        self.fleet.admin("k8s/pdbs", "POST", {"cluster": WEB, "pdbs": [{
            "namespace": "shop", "name": "pinned", "selector": {"matchLabels": {"app": "pinned"}},
            "minAvailable": 1, "refuse": True}]})

    def test_drain_timeout_uncordons_and_chooses_again(self):
        f = self.fleet
        self.pin_a_behind_refusing_budget()
        d = f.daemon(config(
            "  - name: web\n    provider: ack\n    id: %s\n    workers: 4\n"
            "    kubernetes: { kubeconfig: from-cloud }\n"
            "    scale_in: { drain_timeout: 10s }\n" % WEB))
        d.wait_ready()

        def draining_note():
            web = [c for c in d.status()["clusters"] if c["name"] == "web"][0]
            return [n for n in web["notes"] if "draining node cn-hangzhou.192.168.0.11" in
                    n.get("message", n.get("msg", "")) and "holds shop/pinned-0" in
                    n.get("message", n.get("msg", ""))]

        wait_for(draining_note, timeout=60, what="a note on the drain held by a budget")
        with urllib.request.urlopen(d.url("/metrics"), timeout=10) as r:
            self.assertIn('nodeherd_drains_in_progress{cluster="web"} 1', r.read().decode())
        wait_for(lambda: len(live_ids(f, WEB)) == 4, timeout=120, what="web at 4 workers")
        live = live_ids(f, WEB)
        self.assertIn(A, live)   # its drain timed out: it stayed
        self.assertIn(KEEP, live)
        inv = f.invariants()
        for k in ("nodes_removed_with_evictable_pods", "protected_nodes_removed",
                  "pods_deleted_bypassing_eviction", "nodes_left_cordoned"):
            self.assertEqual(inv.get(k), 0, inv)
        self.assertIn("drain of node cn-hangzhou.192.168.0.11 timed-out", d.log())
        a_name = "cn-hangzhou.192.168.0.11"
        patches = [r for r in f.requests() if r["op"].endswith("K8sPatchNode") and
                   r.get("path", "").endswith(a_name)]
        self.assertEqual(len(patches), 2, patches)  # cordoned, then uncordoned
        self.assertEqual(d.stop(), 0)

    def test_cce_loose_nodes_annotation_and_bare_pod_stay(self):
        f = self.fleet
        for i in (3, 4):
            f.admin("mutate", "POST", {"action": "add_node", "cluster": TRAIN, "node": {
                "uid": "a1b2c3d4-0000-4000-8000-00000000010%d" % i, "name": "train-node-%d" % i,
                "created": "2025-03-0%dT00:00:00Z" % i}})
        loose = live_ids(f, TRAIN)
        self.assertEqual(len(loose), 4, loose)
        held_ann, held_pod = "a1b2c3d4-0000-4000-8000-000000000103", \
            "a1b2c3d4-0000-4000-8000-000000000104"
        f.admin("k8s/nodes", "POST", {"cluster": TRAIN, "node": held_ann, "annotations": {
            "cluster-autoscaler.kubernetes.io/scale-down-disabled": "true"}})
        self.pods(TRAIN, [{"namespace": "default", "name": "solo", "node": held_pod,
                           "owner": None}])
        cfg = config(
            "  - name: train\n    provider: cce\n    id: %s\n    workers: 2\n"
            "    kubernetes: { kubeconfig: from-cloud }\n"
            "    login: { ssh_key: KeyPair-001 }\n"
            "    scale_in: { max_per_cycle: 5 }\n" % TRAIN)
        # the plan says which pod holds which node
        path = f.write_config(f.config_text(cfg))
        env = dict(os.environ, CREDENTIALS_DIRECTORY=f.creds, NO_PROXY="*")
        import subprocess
        p = subprocess.run([f.binary, "--config", path, "plan"], env=env, capture_output=True,
                           text=True, timeout=120)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        self.assertIn('pod "default/solo"', p.stdout)
        self.assertIn("scale-down-disabled", p.stdout)
        d = f.daemon(config_path=path)
        d.wait_ready()
        wait_for(lambda: len(live_ids(f, TRAIN)) == 2, what="train at 2 loose nodes")
        time.sleep(2)
        self.assertEqual(live_ids(f, TRAIN), sorted([held_ann, held_pod]))
        inv = f.invariants()
        self.assertEqual(inv.get("protected_nodes_removed"), 0, inv)
        self.assertEqual(inv.get("nodes_removed_with_evictable_pods"), 0, inv)
        self.assertEqual(inv.get("servers_kept_running"), 0, inv)
        self.assertIn("DeleteNode", {r["op"] for r in f.mutations()})
        itlib.assert_clean(self, f)
        self.assertEqual(d.stop(), 0)

    def test_failed_kubernetes_read_removes_nothing(self):
        f = self.fleet
        f.fault(route="K8sListNodes", fault="503", count=100000)
        d = f.daemon(config(
            "  - name: web\n    provider: ack\n    id: %s\n    workers: 4\n"
            "    kubernetes: { kubeconfig: from-cloud }\n" % WEB))
        d.wait_ready()

        def unreachable():
            web = [c for c in d.status()["clusters"] if c["name"] == "web"][0]
            k = web.get("kubernetes") or {}
            return k.get("reachable") is False and web

        web = wait_for(unreachable, what="kubernetes unreachable in status")
        self.assertIn("listing the nodes", web["kubernetes"]["why"])
        with urllib.request.urlopen(d.url("/metrics"), timeout=10) as r:
            self.assertIn('nodeherd_kube_reachable{cluster="web"} 0', r.read().decode())
        time.sleep(3)  # several cycles
        self.assertEqual([m for m in f.mutations() if m.get("cloud") != "k8s"], [])
        self.assertEqual(len(live_ids(f, WEB)), 5)
        f.clear_faults()
        wait_for(lambda: len(live_ids(f, WEB)) == 4, what="web at 4 once Kubernetes answers")
        self.assertIn(KEEP, live_ids(f, WEB))
        self.assertEqual(d.stop(), 0)

    def start_held_drain(self):
        """web 5 -> 4, its emptiest node a behind a budget that never allows
        the eviction: a drain that goes on (timeout 10m) with a cordoned."""
        f = self.fleet
        self.pin_a_behind_refusing_budget()
        # a second cluster, unchanged, so that the file still declares one
        pools_np = "  - name: pools\n    provider: ack\n    id: %s\n" \
            "    node_pools:\n      - { name: np-web, nodes: 3 }\n      - { name: np-batch }\n" \
            % itlib.POOLS
        d = f.daemon(config(
            "  - name: web\n    provider: ack\n    id: %s\n    workers: 4\n"
            "    kubernetes: { kubeconfig: from-cloud }\n"
            "    scale_in: { drain_timeout: 10m }\n" % WEB + pools_np))
        d.wait_ready()
        a_name = "cn-hangzhou.192.168.0.11"

        def cordoned():
            return [n["metadata"]["name"] for n in self.k8s_state(WEB)["nodes"]
                    if n["spec"].get("unschedulable")]

        wait_for(lambda: cordoned() == [a_name], timeout=60, what="a cordoned by its drain")
        # the drain is held by the budget: at least one eviction refused
        wait_for(lambda: [r for r in f.requests() if r["op"].endswith("K8sEvictPod") and
                          r.get("status") == 429], timeout=60, what="a 429 eviction")
        return d, pools_np, a_name, cordoned

    def assert_released(self, d, a_name, cordoned):
        f = self.fleet
        wait_for(lambda: not cordoned(), timeout=60, what="a uncordoned after the reload")
        inv = f.invariants()
        for k in ("nodes_removed_with_evictable_pods", "protected_nodes_removed",
                  "pods_deleted_bypassing_eviction", "nodes_left_cordoned"):
            self.assertEqual(inv.get(k), 0, inv)
        wait_for(lambda: "node %s uncordoned (nodeherd no longer drains" % a_name in d.log(),
                 timeout=30, what="the uncordon in the log")
        self.assertNotIn("stays cordoned by nodeherd", d.log())
        self.assertIn(A, live_ids(f, WEB))  # nothing removed
        # the annotation went with the cordon
        node = [n for n in self.k8s_state(WEB)["nodes"] if n["metadata"]["name"] == a_name][0]
        self.assertNotIn("nodeherd.io/draining",
                         (node["metadata"].get("annotations") or {}), node)

    def test_cluster_removed_mid_drain_is_uncordoned(self):
        f = self.fleet
        d, pools_np, a_name, cordoned = self.start_held_drain()
        f.write_config(config(pools_np))
        d.signal(signal.SIGHUP)
        self.assert_released(d, a_name, cordoned)
        self.assertIn("web: the cluster is no longer declared; uncordoning the 1 node", d.log())
        time.sleep(2)  # a few cycles: nobody cordons it again
        self.assertEqual(cordoned(), [])
        self.assertEqual(d.stop(), 0)

    def test_restart_finds_drain_no_longer_wanted_uncordons_from_record(self):
        """kill -9 mid-drain, the file changed while the daemon was down (web
        kept at 5: nothing to remove): the next start finds the drain record
        open, the node no longer chosen, and undoes nodeherd's cordon from
        the record; the record is closed, nothing is removed."""
        f = self.fleet
        d, pools_np, a_name, cordoned = self.start_held_drain()
        recs = [(s, r) for s, r in open_drains(f.state_dir).items()
                if r["node_names"] == [a_name]]
        self.assertEqual(len(recs), 1, open_drains(f.state_dir))
        seq = recs[0][0]
        d.kill9()
        self.assertEqual(cordoned(), [a_name])
        f.write_config(config(
            "  - name: web\n    provider: ack\n    id: %s\n    workers: 5\n"
            "    kubernetes: { kubeconfig: from-cloud }\n"
            "    scale_in: { drain_timeout: 10m }\n" % WEB + pools_np))
        d.start()
        d.wait_ready()
        wait_for(lambda: not cordoned(), timeout=60, what="a uncordoned after the restart")
        wait_for(lambda: drain_records(f.state_dir)[seq]["closed"], timeout=30,
                 what="its drain record closed")
        closed = drain_records(f.state_dir)[seq]["closed"]
        self.assertEqual(closed["state"], "failed", closed)
        self.assertTrue(closed["result"].startswith("undone: node %s is no longer chosen" % a_name),
                        closed)
        log = d.log()
        self.assertIn("web: drain record %d of node %s found open" % (seq, a_name), log)
        self.assertIn("web: node %s (drain record %d) is no longer chosen; nodeherd's cordon is "
                      "undone" % (a_name, seq), log)
        self.assertIn("node %s uncordoned (nodeherd's cordon undone)" % a_name, log)
        node = [n for n in self.k8s_state(WEB)["nodes"] if n["metadata"]["name"] == a_name][0]
        self.assertNotIn("nodeherd.io/draining", (node["metadata"].get("annotations") or {}), node)
        time.sleep(2)  # a few cycles: nobody cordons it again, nothing removed
        self.assertEqual(cordoned(), [])
        self.assertIn(A, live_ids(f, WEB))
        self.assertFalse(open_drains(f.state_dir))
        inv = f.invariants()
        for k in ("nodes_removed_with_evictable_pods", "protected_nodes_removed",
                  "pods_deleted_bypassing_eviction", "nodes_left_cordoned"):
            self.assertEqual(inv.get(k), 0, inv)
        self.assertEqual(d.stop(), 0)

    def restart_without_draining(self, cluster_tail):
        """kill -9 mid-drain, the file rewritten (web at its size, with
        cluster_tail) while the daemon is down, a restart: returns (daemon,
        a's name, the drain record's seq, cordoned(), its closing entry)."""
        f = self.fleet
        d, pools_np, a_name, cordoned = self.start_held_drain()
        recs = [s for s, r in open_drains(f.state_dir).items() if r["node_names"] == [a_name]]
        self.assertEqual(len(recs), 1, open_drains(f.state_dir))
        seq = recs[0]
        d.kill9()
        f.write_config(config(
            "  - name: web\n    provider: ack\n    id: %s\n    workers: 5\n" % WEB +
            cluster_tail + pools_np))
        d.start()
        d.wait_ready()
        wait_for(lambda: drain_records(f.state_dir)[seq]["closed"], timeout=60,
                 what="its drain record closed")
        return d, a_name, seq, cordoned, drain_records(f.state_dir)[seq]["closed"]

    def test_restart_without_kubernetes_closes_the_drain_record_and_says_how_to_uncordon(self):
        """The kubernetes: key went while the daemon was down: nodeherd
        cannot reach the cluster's API any more, so it cannot undo its
        cordon; the open drain record is closed (not left open for ever)
        and the log names the node and the kubectl command. Nothing is
        removed."""
        f = self.fleet
        d, a_name, seq, cordoned, closed = self.restart_without_draining("")
        self.assertEqual(closed["state"], "failed", closed)
        self.assertTrue(closed["result"].startswith("abandoned: the cluster has no kubernetes: "
                                                    "access; node %s" % a_name), closed)
        self.assertIn("web: drain record %d of node %s found open, but the cluster has no "
                      "kubernetes: access any more" % (seq, a_name), d.log())
        self.assertIn("kubectl uncordon %s" % a_name, d.log())
        self.assertEqual(cordoned(), [a_name])  # out of nodeherd's reach: the operator's
        self.assertIn(A, live_ids(f, WEB))
        self.assertFalse(open_drains(f.state_dir))
        self.assertEqual(d.stop(), 0)

    def test_restart_with_drain_off_uncordons_from_the_record(self):
        """scale_in.drain: false while the daemon was down, kubernetes: kept:
        the open record's node is uncordoned (nodeherd's own cordon) and the
        record closed; nothing is removed."""
        f = self.fleet
        d, a_name, seq, cordoned, closed = self.restart_without_draining(
            "    kubernetes: { kubeconfig: from-cloud }\n    scale_in: { drain: false }\n")
        self.assertEqual(closed["state"], "failed", closed)
        self.assertEqual(closed["result"],
                         "undone: the cluster no longer drains; node %s uncordoned" % a_name)
        wait_for(lambda: not cordoned(), timeout=60, what="a uncordoned after the restart")
        self.assertIn(A, live_ids(f, WEB))
        self.assertFalse(open_drains(f.state_dir))
        self.assertEqual(f.invariants().get("nodes_left_cordoned"), 0, f.invariants())
        self.assertEqual(d.stop(), 0)

    def test_kubernetes_key_removed_mid_drain_is_uncordoned(self):
        f = self.fleet
        d, pools_np, a_name, cordoned = self.start_held_drain()
        # without kubernetes: and at its current size (nothing to remove)
        f.write_config(config(
            "  - name: web\n    provider: ack\n    id: %s\n    workers: 5\n" % WEB + pools_np))
        d.signal(signal.SIGHUP)
        self.assert_released(d, a_name, cordoned)
        self.assertIn("web: its kubernetes: key was removed; uncordoning the 1 node", d.log())
        self.assertEqual(d.stop(), 0)

    def drain_series(self, d):
        """{(cluster, pool, node): value} of nodeherd_drain_pods_left."""
        out = {}
        for line in d.metrics().splitlines():
            if line.startswith("nodeherd_drain_pods_left{"):
                labels = dict(re.findall(r'(\w+)="([^"]*)"', line[:line.rindex("}")]))
                out[(labels.get("cluster"), labels.get("pool"), labels.get("node"))] = \
                    float(line.rsplit(" ", 1)[1])
        return out

    def test_drain_metrics_per_node_go_with_the_drain(self):
        """nodeherd_drain_pods_left{cluster,pool,node}: a series for the node
        being drained while a budget holds its pod, none once the drain has
        ended (drained and removed)."""
        f = self.fleet
        d, _pools_np, a_name, _cordoned = self.start_held_drain()
        self.assertIn("# TYPE nodeherd_drain_pods_left gauge", d.metrics())
        wait_for(lambda: self.drain_series(d) == {("web", "", a_name): 1.0}, timeout=60,
                 what="one series: a's drain, 1 pod left")
        # the budget lets go: the pod is evicted, a drained and removed
        f.admin("k8s/pdbs", "DELETE", {"cluster": WEB, "namespace": "shop", "name": "pinned"})
        wait_for(lambda: A not in live_ids(f, WEB), timeout=120, what="a removed once drained")
        wait_for(lambda: self.drain_series(d) == {}, timeout=60, what="the series gone")
        time.sleep(2)  # a few more cycles: it does not come back
        self.assertEqual(self.drain_series(d), {})
        self.assertIn('nodeherd_drains_in_progress{cluster="web"} 0', d.metrics())
        inv = f.invariants()
        for k in ("nodes_removed_with_evictable_pods", "pods_deleted_bypassing_eviction",
                  "nodes_left_cordoned"):
            self.assertEqual(inv.get(k), 0, inv)
        self.assertEqual(d.stop(), 0)

    # ---- the bounds of issue #20 made configurable, and what they govern ----

    def test_node_never_ready_is_reported_then_the_first_victim(self):
        """kubernetes.ready_timeout: a new node the cloud reports running but
        Kubernetes never sees Ready is pending (not converged) until the
        bound, then reported unhealthy, and a later scale-in removes it
        first (order [unhealthy, oldest]: without the report the oldest
        node would go)."""
        f = self.fleet
        f.admin("mutate", "POST", {"action": "healthy", "node": itlib.UNHEALTHY_GPU})
        f.admin("k8s/timing", "POST", {"never_ready_next": 1})

        def pool_ids():
            return sorted(n["id"] for n in itlib.live_nodes(f.state(), TRAIN, "gpu-a"))

        def cfg(n):
            return config(
                "  - name: train\n    provider: cce\n    id: %s\n"
                "    kubernetes: { kubeconfig: from-cloud, ready_timeout: 30s }\n"
                "    login: { ssh_key: KeyPair-001 }\n"
                "    scale_in: { max_per_cycle: 5, order: [unhealthy, oldest] }\n"
                "    node_pools:\n      - { name: gpu-a, nodes: %d }\n" % (TRAIN, n))

        before = pool_ids()
        self.assertEqual(len(before), 4, before)
        d = f.daemon(cfg(5))
        d.wait_ready()
        new = wait_for(lambda: sorted(set(pool_ids()) - set(before)), what="the new node")
        self.assertEqual(len(new), 1, new)

        def running():
            n = [x for x in f.state()["nodes"] if x["id"] == new[0]]
            return n and n[0]["status"] == "running"

        wait_for(running, what="the new node running in the cloud")
        t_running = time.time()
        mark = f.requests()[-1]["seq"]
        # two Kubernetes node reads after the cloud said running: the
        # daemon's view includes it
        wait_for(lambda: len([r for r in f.requests() if r["seq"] > mark and
                              "K8sListNodes" in r["op"]]) >= 2, what="two reads after that")

        def train():
            return [c for c in d.status()["clusters"] if c["name"] == "train"][0]

        def msgs(c):
            return " | ".join(n.get("message", n.get("msg", "")) for n in c["notes"])

        t = train()
        self.assertLess(time.time() - t_running, 25, "too slow to see the node before its bound")
        self.assertIn("1 not ready (1 starting, 0 unhealthy)", msgs(t))
        m = d.metrics()
        self.assertIn('nodeherd_cluster_converged{cluster="train"} 0', m)
        self.assertIn('nodeherd_nodes{cluster="train",pool="gpu-a",state="creating"} 1', m)
        self.assertNotIn("has not seen it Ready", d.log())
        # after the bound: reported, counted unhealthy, still not converged
        wait_for(lambda: "1 not ready (0 starting, 1 unhealthy)" in msgs(train()), timeout=120,
                 what="the node reported unhealthy after ready_timeout")
        self.assertRegex(d.log(), r"train: node \S+ runs in the cloud but Kubernetes has not seen "
                                  r"it Ready \d+ s after its creation \(ready_timeout 30 s\)")
        # warned once, not on every read while it stays so
        mark = f.requests()[-1]["seq"]
        wait_for(lambda: len([r for r in f.requests() if r["seq"] > mark and
                              "K8sListNodes" in r["op"]]) >= 3, what="three more reads")
        warned = re.findall(r"warning\s+train: node \S+ runs in the cloud but Kubernetes has not "
                            r"seen it Ready", d.log())
        self.assertEqual(len(warned), 1, d.log()[-3000:])
        m = d.metrics()
        self.assertIn('nodeherd_cluster_converged{cluster="train"} 0', m)
        self.assertIn('nodeherd_nodes{cluster="train",pool="gpu-a",state="not_ready"} 1', m)
        # a scale-in: the never-Ready node goes first, the oldest stays
        f.write_config(cfg(4))
        d.signal(signal.SIGHUP)
        wait_for(lambda: len(pool_ids()) == 4, what="gpu-a back at 4")
        time.sleep(2)  # a few more cycles: nothing else goes
        self.assertEqual(pool_ids(), before)
        inv = f.invariants()
        for k in ("nodes_removed_with_evictable_pods", "protected_nodes_removed",
                  "pods_deleted_bypassing_eviction", "nodes_left_cordoned"):
            self.assertEqual(inv.get(k), 0, inv)
        itlib.assert_clean(self, f)
        self.assertEqual(d.stop(), 0)

    def test_cloud_credentials_renewed_before_they_expire(self):
        """Credentials from ACK DescribeClusterUserKubeconfig are renewed
        with a third of their life left: with the emulator's test-only 9 s
        lifetime (the cloud's shortest is 15 min) the daemon fetches new
        ones before each expires, keeps reading nodes, never gets a 401, and
        no kubeconfig material reaches an output."""
        f = self.fleet
        f.admin("k8s/timing", "POST", {"test_credential_seconds": 9})
        d = f.daemon(config(
            "  - name: web\n    provider: ack\n    id: %s\n    workers: 5\n"
            "    kubernetes: { kubeconfig: from-cloud }\n" % WEB))
        d.wait_ready()

        def creds():
            c = f.admin("k8s/credentials?cluster=" + WEB)["credentials"]
            return sorted((x for x in c if x["origin"] == "ack-user-config"),
                          key=lambda x: x["issued"])

        wait_for(lambda: len(creds()) >= 4, timeout=180, what="three renewals")
        mark = f.requests()[-1]["seq"]
        wait_for(lambda: [r for r in f.requests() if r["seq"] > mark and
                          "K8sListNodes" in r["op"] and r.get("status") == 200],
                 what="nodes read with the newest credentials")
        got = creds()
        for prev, nxt in zip(got, got[1:]):
            self.assertLess(nxt["issued"], prev["expires"], got)  # renewed before it ended
        k8s = [r for r in f.requests() if "K8s" in r["op"]]
        self.assertGreater(len(k8s), 0)
        self.assertEqual([r for r in k8s if r.get("status") == 401], [])
        web = [c for c in d.status()["clusters"] if c["name"] == "web"][0]
        self.assertIs((web.get("kubernetes") or {}).get("reachable"), True, web)
        self.assertIn("Kubernetes credentials from the cloud", d.log())
        # the secrets canary's kubeconfig patterns (tests/reliability/it_secrets.py)
        kube = re.compile(r"-----BEGIN|PRIVATE KEY|LS0tLS1CRUdJT|client-key-data|"
                          r"client-certificate-data|certificate-authority-data")
        outputs = {"/metrics": d.metrics(), "/api/v1/status": json.dumps(d.status())}
        self.assertEqual(d.stop(), 0)
        outputs["daemon log"] = d.log()
        for path in glob.glob(os.path.join(f.state_dir, "**"), recursive=True):
            if os.path.isfile(path):
                with open(path, "rb") as fh:
                    outputs[path] = fh.read().decode("latin-1")
        for what, text in outputs.items():
            km = kube.search(text)
            self.assertIsNone(km, "kubeconfig material in %s: %s" % (
                what, text[max(0, km.start() - 100):km.end() + 50] if km else ""))


if __name__ == "__main__":
    unittest.main(verbosity=2)
