"""Issue #20: the Kubernetes API of every ACK and CCE cluster -- credentials from the two cloud operations,
TLS client certificates, nodes mirroring the cloud's, pods, evictions and PodDisruptionBudgets, the
invariants, faults and the request log on the Kubernetes routes."""

import calendar
import json
import os
import ssl
import subprocess
import sys
import tempfile
import time
import unittest

from fc_support import ACK1, ACK2, CCE, CCE_P, NP_WEB, FakeCloudCase, K8sClient
from fakecloud.client import parse_kubeconfig_yaml

K8S_FAST = {"timing": {"node_appear_seconds": 0.3, "node_ready_seconds": 0.4, "pod_termination_seconds": 0.2,
                       "pod_recreate_seconds": 0.2}}
N10, N11, N12, N13, N14 = ("cn-hangzhou.192.168.0.%d" % i for i in range(10, 15))


def parse_ts(s):
    return calendar.timegm(time.strptime(s, "%Y-%m-%dT%H:%M:%SZ"))


def ready(node):
    return next(c["status"] for c in node["status"]["conditions"] if c["type"] == "Ready")


class K8sCase(FakeCloudCase):
    seed_overrides = {"kubernetes": K8S_FAST}

    def pods(self, cluster, pods):
        return self.fc.k8s_admin("pods", {"cluster": cluster, "pods": pods})["pods"]

    def evictable_pod(self, cluster, node, name, owner="ReplicaSet", **kw):
        spec = dict({"namespace": "default", "name": name, "node": node, "labels": {"app": "web"},
                     "owner": {"kind": owner, "name": "web-5d4f8"} if owner else None}, **kw)
        return self.pods(cluster, [spec])[0]


class Credentials(K8sCase):
    def test_ack_describe_cluster_user_kubeconfig(self):
        t0 = time.time()
        s, h, b = self.ack("GET", "/k8s/%s/user_config" % ACK1, [("PrivateIpAddress", "true"),
                                                                  ("TemporaryDurationMinutes", "15")])
        self.assertEqual(s, 200, b)
        self.assertEqual(set(b), {"config", "expiration"})
        self.assertAlmostEqual(parse_ts(b["expiration"]), t0 + 900, delta=5)
        cfg = b["config"]
        for k in ("apiVersion: v1", "kind: Config", "certificate-authority-data:", "client-certificate-data:",
                  "client-key-data:", "current-context:"):
            self.assertIn(k, cfg)
        self.assertIn("server: %s\n" % self.fc.k8s()["urls"][ACK1], cfg)        # internal endpoint
        pem = parse_kubeconfig_yaml(cfg)["cert"]
        end = subprocess.run(["openssl", "x509", "-noout", "-enddate"], input=pem, capture_output=True,
                             check=True).stdout.decode().strip().split("=", 1)[1]
        self.assertEqual(calendar.timegm(time.strptime(end, "%b %d %H:%M:%S %Y GMT")), parse_ts(b["expiration"]))
        kc = K8sClient.from_kubeconfig(cfg)
        self.addCleanup(kc.close)
        s, _, nodes = kc.get("/api/v1/nodes")
        self.assertEqual((s, nodes["kind"], len(nodes["items"])), (200, "NodeList", 5))
        # the public endpoint: same API server, logged as "external"
        _, _, pub = self.ack("GET", "/k8s/%s/user_config" % ACK1, [("PrivateIpAddress", "false")])
        self.assertIn("/k8s/%s/external\n" % ACK1, pub["config"])
        self.assertGreater(parse_ts(pub["expiration"]), t0 + 86400 * 365)     # no duration: a long validity
        kp = K8sClient.from_kubeconfig(pub["config"])
        self.addCleanup(kp.close)
        self.assertEqual(kp.get("/api/v1/nodes")[0], 200)
        log = [e for e in self.fc.requests() if e["cloud"] == "k8s"]
        self.assertEqual([e["endpoint"] for e in log], ["internal", "external"])
        ops = [e for e in self.fc.requests() if e["op"] == "DescribeClusterUserKubeconfig"]
        self.assertEqual([e["mutating"] for e in ops], [False, False])
        self.assertNotIn("BEGIN", json.dumps(self.fc.requests()))              # no key material in the log

    def test_ack_user_config_validation(self):
        for pairs in ([("TemporaryDurationMinutes", "14")], [("TemporaryDurationMinutes", "4321")],
                      [("TemporaryDurationMinutes", "x")], [("PrivateIpAddress", "yes")]):
            s, _, e = self.ack("GET", "/k8s/%s/user_config" % ACK1, pairs)
            self.assertEqual((s, e["code"]), (400, "InvalidParameter"), pairs)
        s, _, e = self.ack("GET", "/k8s/nope/user_config")
        self.assertEqual((s, e["code"]), (404, "ErrorClusterNotFound"))
        self.assertEqual(self.ack("GET", "/k8s/%s/user_config" % ACK1, sk="wrong")[0], 403)     # signed call

    def test_cce_create_kubernetes_cluster_cert(self):
        s, h, b = self.hw("POST", CCE_P + "/clustercert", body={"duration": 30})
        self.assertEqual(s, 200, b)
        self.assertIn("port-id", h)
        self.assertEqual((b["kind"], b["apiVersion"], b["current-context"]), ("Config", "v1", "external"))
        ctx = {c["name"]: c["context"] for c in b["contexts"]}
        self.assertEqual(set(ctx), {"internal", "external"})
        clusters = {c["name"]: c["cluster"] for c in b["clusters"]}
        internal = clusters[ctx["internal"]["cluster"]]
        external = clusters[ctx["external"]["cluster"]]
        self.assertIn("certificate-authority-data", internal)
        self.assertIs(external.get("insecure-skip-tls-verify"), True)
        self.assertNotIn("certificate-authority-data", external)
        self.assertTrue(internal["server"].startswith("https://127.0.0.1:"))
        user = b["users"][0]["user"]
        self.assertEqual(set(user), {"client-certificate-data", "client-key-data"})
        kc = K8sClient.from_cce(b, "internal")
        self.addCleanup(kc.close)
        s, _, nodes = kc.get("/api/v1/nodes")
        self.assertEqual(s, 200)
        self.assertEqual(len(nodes["items"]), 6)
        creds = self.fc.k8s_admin("credentials?cluster=" + CCE, None, "GET")["credentials"]
        self.assertAlmostEqual(parse_ts(creds[0]["expires"]) - parse_ts(creds[0]["issued"]), 30 * 86400, delta=2)
        self.assertEqual(self.hw("POST", CCE_P + "/clustercert", body={"duration": -1})[0], 200)
        for body in ({}, {"duration": 0}, {"duration": 1828}, {"duration": "30"}, {"duration": True}):
            s, _, e = self.hw("POST", CCE_P + "/clustercert", body=body)
            self.assertEqual((s, e["errorCode"]), (400, "CCE.01400001"), body)

    def test_tls_client_certificate_or_token_required(self):
        info = self.fc.k8s()
        url = info["urls"][ACK1]
        anon = K8sClient(url, info["ca"].encode())
        self.addCleanup(anon.close)
        s, _, b = anon.get("/api/v1/nodes")
        self.assertEqual((s, b["kind"], b["reason"], b["code"]), (401, "Status", "Unauthorized", 401))
        self.assertEqual(self.fc.requests()[-1]["auth_error"], "no client certificate and no bearer token")
        # a bearer token issued by the admin API works; a made-up one does not
        tok = self.k8s(ACK1, auth="token")
        self.assertEqual(tok.get("/api/v1/nodes")[0], 200)
        fake = K8sClient(url, info["ca"].encode(), token="made-up")
        self.addCleanup(fake.close)
        self.assertEqual(fake.get("/api/v1/nodes")[0], 401)
        # a credential of another cluster is refused
        other = self.k8s(ACK2)
        other.prefix = "/k8s/" + ACK1
        self.assertEqual(other.get("/api/v1/nodes")[0], 401)
        self.assertIn("belongs to cluster", self.fc.requests()[-1]["auth_error"])

    def test_certificate_from_another_ca_fails_the_handshake(self):
        d = tempfile.mkdtemp()
        self.addCleanup(lambda: subprocess.run(["rm", "-rf", d]))
        key, crt = os.path.join(d, "k.pem"), os.path.join(d, "c.pem")
        subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                        "-nodes", "-keyout", key, "-out", crt, "-days", "1", "-subj", "/CN=intruder"],
                       check=True, capture_output=True)
        with open(crt, "rb") as f, open(key, "rb") as g:
            c = K8sClient(self.fc.k8s()["urls"][ACK1], self.fc.k8s()["ca"].encode(), f.read(), g.read())
        self.addCleanup(c.close)
        with self.assertRaises((ssl.SSLError, ConnectionError, OSError)):
            c.get("/api/v1/nodes")

    def test_expired_revoked_and_reset_credentials_get_401(self):
        c = self.k8s(ACK1)
        self.assertEqual(c.get("/api/v1/nodes")[0], 200)
        self.fc.k8s_admin("credentials", {"action": "expire", "cluster": ACK1})
        s, _, b = c.get("/api/v1/nodes")
        self.assertEqual((s, b["reason"]), (401, "Unauthorized"))
        self.assertIn("expired", self.fc.requests()[-1]["auth_error"])
        c2 = self.k8s(ACK1)
        self.assertEqual(c2.get("/api/v1/nodes")[0], 200)
        self.fc.k8s_admin("credentials", {"action": "revoke", "cluster": ACK1})
        self.assertEqual(c2.get("/api/v1/nodes")[0], 401)
        short = self.fc.k8s_admin("credentials", {"action": "issue", "cluster": ACK1, "seconds": 1.5})["kubeconfig"]
        c3 = K8sClient.from_kubeconfig(short)           # a short credential runs out by itself
        self.addCleanup(c3.close)
        self.assertEqual(c3.get("/api/v1/nodes")[0], 200)
        self.wait_for(lambda: c3.get("/api/v1/nodes")[0] == 401, what="credential expiry")
        time.sleep(1.0)                                  # past the certificate's own notAfter too
        c5 = K8sClient.from_kubeconfig(short)           # a new TLS connection: 401, not a failed handshake
        self.addCleanup(c5.close)
        self.assertEqual(c5.get("/api/v1/nodes")[0], 401)
        c4 = self.k8s(ACK1)
        self.fc.reset()                                  # a reset forgets every issued credential
        self.assertEqual(c4.get("/api/v1/nodes")[0], 401)

    def test_test_only_credential_lifetime(self):
        """The test-only override: both credential operations hand out short-lived credentials, which get
        401 once expired; 0 goes back to what was asked."""
        self.assertEqual(self.fc.k8s_admin("timing", {"test_credential_seconds": 2})["test_credential_seconds"], 2)
        t0 = time.time()
        s, _, b = self.ack("GET", "/k8s/%s/user_config" % ACK1, [("PrivateIpAddress", "true"),
                                                                  ("TemporaryDurationMinutes", "15")])
        self.assertEqual(s, 200, b)
        self.assertAlmostEqual(parse_ts(b["expiration"]), t0 + 2, delta=2)
        c = K8sClient.from_kubeconfig(b["config"])
        self.addCleanup(c.close)
        self.assertEqual(c.get("/api/v1/nodes")[0], 200)
        self.wait_for(lambda: c.get("/api/v1/nodes")[0] == 401, what="the short credential expires")
        creds = self.fc.k8s_admin("credentials?cluster=" + CCE, None, "GET")["credentials"]
        before = {x["id"] for x in creds}
        self.assertEqual(self.hw("POST", CCE_P + "/clustercert", body={"duration": 1})[0], 200)
        new = [x for x in self.fc.k8s_admin("credentials?cluster=" + CCE, None, "GET")["credentials"]
               if x["id"] not in before]
        self.assertEqual(len(new), 1, new)
        self.assertLessEqual(parse_ts(new[0]["expires"]) - parse_ts(new[0]["issued"]), 3)
        self.assertIsNone(self.fc.k8s_admin("timing", {"test_credential_seconds": 0})["test_credential_seconds"])
        s, _, b = self.ack("GET", "/k8s/%s/user_config" % ACK1, [("TemporaryDurationMinutes", "15")])
        self.assertAlmostEqual(parse_ts(b["expiration"]), time.time() + 900, delta=5)


class Nodes(K8sCase):
    def test_nodes_mirror_the_clouds(self):
        c = self.k8s(ACK1)
        _, _, b = c.get("/api/v1/nodes")
        nodes = {n["metadata"]["name"]: n for n in b["items"]}
        self.assertEqual(set(nodes), {N10, N11, N12, N13, N14})
        n = nodes[N10]
        self.assertNotIn("kind", n)                                      # list items carry no kind
        self.assertEqual(n["spec"]["providerID"], "cn-hangzhou.i-bp1keep0001")
        self.assertEqual(n["metadata"]["labels"]["nodeherd.io/protect"], "true")
        self.assertEqual(sorted((a["type"], a["address"]) for a in n["status"]["addresses"]),
                         [("Hostname", N10), ("InternalIP", "192.168.0.10")])
        self.assertEqual(ready(n), "True")
        self.assertNotIn("unschedulable", n["spec"])
        for k in ("name", "uid", "labels", "annotations", "creationTimestamp", "resourceVersion"):
            self.assertIn(k, n["metadata"])
        s, _, one = c.get("/api/v1/nodes/" + N11)
        self.assertEqual((s, one["kind"], one["apiVersion"]), (200, "Node", "v1"))
        s, _, e = c.get("/api/v1/nodes/nope")
        self.assertEqual((s, e["reason"], e["details"]), (404, "NotFound", {"name": "nope", "kind": "nodes"}))
        # CCE: names and IPs mirror metadata.name / status.privateIP, providerID carries the server id
        cce = {n["metadata"]["uid"]: n for n in self.hw("GET", CCE_P + "/nodes")[2]["items"]}
        k = self.k8s_nodes(CCE)
        for n in cce.values():
            kn = k[n["metadata"]["name"]]
            self.assertEqual(kn["spec"]["providerID"], "cce://" + n["status"]["serverId"])
            self.assertIn({"type": "InternalIP", "address": n["status"]["privateIP"]}, kn["status"]["addresses"])
        self.assertEqual(ready(k["gpu-a-node-3"]), "False")              # Abnormal in CCE: NotReady

    def test_list_paging_and_stale_continue(self):
        c = self.k8s(ACK1)
        s, _, p1 = c.get("/api/v1/nodes", limit=2)
        self.assertEqual((s, len(p1["items"]), p1["metadata"]["remainingItemCount"]), (200, 2, 3))
        names = [n["metadata"]["name"] for n in p1["items"]]
        tok = p1["metadata"]["continue"]
        while tok:
            s, _, p = c.get("/api/v1/nodes", limit=2, **{"continue": tok})
            self.assertEqual(s, 200)
            names += [n["metadata"]["name"] for n in p["items"]]
            tok = p["metadata"].get("continue")
        self.assertEqual(names, sorted([N10, N11, N12, N13, N14]))
        _, _, p1 = c.get("/api/v1/nodes", limit=2)
        self.fc.k8s_admin("continue", {"cluster": ACK1})                # every outstanding token is now stale
        s, _, e = c.get("/api/v1/nodes", limit=2, **{"continue": p1["metadata"]["continue"]})
        self.assertEqual((s, e["reason"], e["code"]), (410, "Expired", 410))
        self.assertIn("continue", e["metadata"])
        self.assertEqual(c.get("/api/v1/nodes", limit=2)[0], 200)          # a fresh walk works
        self.assertEqual(c.get("/api/v1/nodes", **{"continue": "garbage!"})[0], 400)
        self.assertEqual(c.get("/api/v1/nodes", limit="x")[0], 400)
        s, _, b = c.get("/api/v1/nodes", labelSelector="nodeherd.io/protect=true")
        self.assertEqual([n["metadata"]["name"] for n in b["items"]], [N10])
        self.assertEqual(c.get("/api/v1/nodes", fieldSelector="spec.podCIDR=x")[0], 400)
        self.assertEqual(c.get("/api/v1/bogus")[0], 404)
        self.assertEqual(c.request("PUT", "/api/v1/nodes/" + N10, {})[0], 405)

    def test_cordon_uncordon_and_annotations(self):
        c = self.k8s(ACK1)
        s, _, n = c.patch("/api/v1/nodes/" + N11, {"spec": {"unschedulable": True},
                                                    "metadata": {"annotations": {"nodeherd.io/draining": "op-1"}}})
        self.assertEqual(s, 200)
        self.assertIs(n["spec"]["unschedulable"], True)
        self.assertIn({"key": "node.kubernetes.io/unschedulable", "effect": "NoSchedule",
                       "timeAdded": n["spec"]["taints"][0]["timeAdded"]}, n["spec"]["taints"])
        self.assertEqual(n["metadata"]["annotations"]["nodeherd.io/draining"], "op-1")
        inv = self.invariants()
        self.assertEqual(inv["nodes_left_cordoned"], 1)
        self.assertIn({"kind": "nodes_left_cordoned", "cluster": ACK1, "node": N11}, inv["details"])
        s, _, n = c.patch("/api/v1/nodes/" + N11, {"spec": {"unschedulable": False},
                                                    "metadata": {"annotations": {"nodeherd.io/draining": None}}})
        self.assertEqual(s, 200)
        self.assertNotIn("unschedulable", n["spec"])
        self.assertNotIn("nodeherd.io/draining", n["metadata"]["annotations"])
        self.assertIn("node.alpha.kubernetes.io/ttl", n["metadata"]["annotations"])
        self.assertEqual(self.invariants()["nodes_left_cordoned"], 0)
        # other patch types, preconditions, bad media type
        s, _, n = c.patch("/api/v1/nodes/" + N12, {"metadata": {"labels": {"team": "a"}}},
                          "application/strategic-merge-patch+json")
        self.assertEqual((s, n["metadata"]["labels"]["team"]), (200, "a"))
        s, _, n = c.patch("/api/v1/nodes/" + N12, [{"op": "add", "path": "/spec/unschedulable", "value": True}],
                          "application/json-patch+json")
        self.assertEqual((s, n["spec"]["unschedulable"]), (200, True))
        s, _, e = c.patch("/api/v1/nodes/" + N12, {"metadata": {"resourceVersion": "1"},
                                                    "spec": {"unschedulable": False}})
        self.assertEqual((s, e["reason"]), (409, "Conflict"))
        s, _, e = c.patch("/api/v1/nodes/" + N12, {"spec": {"unschedulable": False}}, "application/json")
        self.assertEqual((s, e["reason"]), (415, "UnsupportedMediaType"))
        self.assertEqual(c.patch("/api/v1/nodes/" + N12, {"spec": {"unschedulable": "yes"}})[0], 422)
        self.assertEqual(c.patch("/api/v1/nodes/nope", {})[0], 404)
        # Kubernetes labels never show in the ACK node list
        _, _, b = self.ack("GET", "/clusters/%s/nodes" % ACK1, [("pageSize", "100")])
        self.assertNotIn("team", json.dumps(b))
        self.assertEqual(self.invariants()["nodes_left_cordoned"], 1)       # N12 is still cordoned

    def test_scale_out_nodes_appear_then_turn_ready(self):
        self.fc.k8s_admin("timing", {"node_appear_seconds": 1.0, "node_ready_seconds": 0.6})
        before = set(self.k8s_nodes(ACK2))
        self.ack("PUT", "/clusters/%s/nodepools/%s" % (ACK2, NP_WEB), body={"scaling_group": {"desired_size": 4}})
        self.assertEqual(set(self.k8s_nodes(ACK2)), before)                 # not registered yet
        new = self.wait_for(lambda: (set(self.k8s_nodes(ACK2)) - before) or None, what="new node registered")
        (name,) = new
        node = self.k8s_nodes(ACK2)[name]
        if ready(node) == "False":                                          # NotReady first (if we were quick)
            self.assertIn("node.kubernetes.io/not-ready", json.dumps(node["spec"].get("taints")))
        self.wait_for(lambda: ready(self.k8s_nodes(ACK2)[name]) == "True", what="new node Ready")
        self.assertEqual(self.k8s_nodes(ACK2)[name]["metadata"]["labels"]["alibabacloud.com/nodepool-id"], NP_WEB)
        ack = {n["node_name"]: n for n in self.ack("GET", "/clusters/%s/nodes" % ACK2,
                                                   [("pageSize", "100")])[2]["nodes"]}
        self.assertEqual(ack[name]["node_status"], "Ready")

    def test_a_node_that_never_turns_ready(self):
        self.fc.k8s_admin("timing", {"never_ready_next": 1})
        before = set(self.k8s_nodes(ACK2))
        self.ack("PUT", "/clusters/%s/nodepools/%s" % (ACK2, NP_WEB), body={"scaling_group": {"desired_size": 4}})
        new = self.wait_for(lambda: (set(self.k8s_nodes(ACK2)) - before) or None, what="new node registered")
        (name,) = new
        def ack_node():
            nodes = self.ack("GET", "/clusters/%s/nodes" % ACK2, [("pageSize", "100")])[2]["nodes"]
            return next(n for n in nodes if n["node_name"] == name)
        self.wait_for(lambda: ack_node()["state"] == "running", what="cloud says running")
        time.sleep(1.0)                                                     # > node_ready_seconds (0.4)
        self.assertEqual(ready(self.k8s_nodes(ACK2)[name]), "False")
        self.assertEqual((ack_node()["state"], ack_node()["node_status"]), ("running", "NotReady"))
        # and an existing node made never-Ready by the admin API
        self.fc.k8s_admin("nodes", {"cluster": ACK1, "node": N13, "never_ready": True})
        self.assertEqual(ready(self.k8s_nodes(ACK1)[N13]), "False")

    def test_cloud_removal_deletes_the_node_and_counts(self):
        self.evictable_pod(ACK1, N11, "web-1")
        self.pods(ACK1, [{"namespace": "kube-system", "name": "etcd-x", "node": N12, "mirror": True},
                         {"namespace": "default", "name": "job-done", "node": N12, "phase": "Succeeded",
                          "owner": {"kind": "Job", "name": "nightly"}}])
        self.pods(ACK1, [{"namespace": "default", "name": "keep-me", "node": N12, "phase": "Running",
                          "owner": {"kind": "DaemonSet", "name": "agent"},
                          "annotations": {"cluster-autoscaler.kubernetes.io/safe-to-evict": "false"}}])
        self.fc.k8s_admin("nodes", [{"cluster": ACK1, "node": N13,
                                     "annotations": {"cluster-autoscaler.kubernetes.io/scale-down-disabled": "true"}},
                                    {"cluster": ACK1, "node": N14, "annotations": {"karpenter.sh/do-not-disrupt":
                                                                                   "true"}}])
        s, _, b = self.ack("POST", "/clusters/%s/nodes" % ACK1,
                           body={"nodes": [N10, N11, N12, N13, N14], "release_node": True})
        self.assertEqual(s, 202)
        k = self.k8s_nodes(ACK1)
        self.assertTrue(all(n["spec"].get("unschedulable") for n in k.values()))   # the cloud cordons at once
        self.assertEqual(self.invariants()["nodes_left_cordoned"], 0)             # ...but they are leaving
        inv = self.invariants()
        self.assertEqual(inv["nodes_removed_with_evictable_pods"], 1)
        d = [x for x in inv["details"] if x["kind"] == "nodes_removed_with_evictable_pods"][0]
        self.assertEqual((d["name"], d["pods"]), (N11, ["default/web-1"]))
        self.assertEqual(inv["protected_nodes_removed"], 4)
        whys = sorted(x["why"] for x in inv["details"] if x["kind"] == "protected_nodes_removed")
        self.assertEqual(whys, ['annotation cluster-autoscaler.kubernetes.io/scale-down-disabled: "true"',
                                'annotation karpenter.sh/do-not-disrupt: "true"', "label nodeherd.io/protect=true",
                                'pod default/keep-me annotation cluster-autoscaler.kubernetes.io/safe-to-evict: '
                                '"false"'])
        self.wait_for(lambda: self.k8s_nodes(ACK1) == {}, what="Kubernetes nodes gone with the cloud's")
        # the pods went with their nodes; web-1's ReplicaSet makes a replacement that waits unscheduled
        st = self.wait_for(lambda: (lambda s: s if s["pending"] else None)(self.fc.k8s_state(ACK1)),
                           what="replacement pending")
        self.assertEqual(len(st["pods"]), 1)
        p = st["pods"][0]
        self.assertTrue(p["metadata"]["name"].startswith("web-5d4f8-"))
        self.assertEqual((p["status"]["phase"], p["spec"].get("nodeName")), ("Pending", None))
        # a new node takes it
        self.fc.mutate(action="add_node", cluster=ACK1, node={"name": "cn-hangzhou.192.168.0.99", "ip": "192.168.0.99"})
        self.wait_for(lambda: self.k8s_pods(ACK1).get("default/" + p["metadata"]["name"], {}).get("spec", {})
                      .get("nodeName") == "cn-hangzhou.192.168.0.99", what="pending pod scheduled")

    def test_failed_removal_uncordons_and_drain_node_drains(self):
        self.fc.add_fault(route="DeleteClusterNodes", fault="job_fail", count=1)
        s, _, b = self.ack("POST", "/clusters/%s/nodes" % ACK1, body={"nodes": [N11]})
        self.assertTrue(self.k8s_nodes(ACK1)[N11]["spec"].get("unschedulable"))
        self.wait_for(lambda: not self.k8s_nodes(ACK1)[N11]["spec"].get("unschedulable"), what="uncordoned")
        self.assertEqual(self.invariants()["nodes_left_cordoned"], 0)
        # drain_node: the cloud evicts the pods itself, nothing is counted, the pod comes back elsewhere
        self.evictable_pod(ACK1, N12, "web-2")
        self.ack("POST", "/clusters/%s/nodes" % ACK1, body={"nodes": [N12], "drain_node": True, "release_node": True})
        self.assertEqual(self.invariants()["nodes_removed_with_evictable_pods"], 0)
        self.wait_for(lambda: [p for p in self.k8s_pods(ACK1).values() if p["metadata"]["name"].startswith("web-5d4f8-")
                               and p["spec"].get("nodeName") not in (None, N12)] or None, what="replacement pod")


class Pods(K8sCase):
    def test_list_pods_by_node_with_paging(self):
        for i in range(5):
            self.evictable_pod(ACK1, N11, "web-%d" % i)
        self.evictable_pod(ACK1, N12, "other", labels={"app": "api"})
        self.pods(ACK1, [{"namespace": "team-b", "name": "b-1", "node": N11, "owner": None}])
        c = self.k8s(ACK1)
        names, tok = [], None
        while True:
            q = {"fieldSelector": "spec.nodeName=" + N11, "limit": 3}
            if tok:
                q["continue"] = tok
            s, _, b = c.get("/api/v1/pods", **q)
            self.assertEqual((s, b["kind"]), (200, "PodList"))
            names += ["%s/%s" % (p["metadata"]["namespace"], p["metadata"]["name"]) for p in b["items"]]
            tok = b["metadata"].get("continue")
            if not tok:
                break
        self.assertEqual(len(names), 7)                                    # 5 web + team-b/b-1 + kube-proxy
        self.assertIn("team-b/b-1", names)
        self.assertEqual(len([n for n in names if n.startswith("kube-system/kube-proxy-")]), 1)
        _, _, b = c.get("/api/v1/namespaces/default/pods", labelSelector="app=api")
        self.assertEqual([p["metadata"]["name"] for p in b["items"]], ["other"])
        _, _, b = c.get("/api/v1/namespaces/team-b/pods")
        self.assertEqual([p["metadata"]["name"] for p in b["items"]], ["b-1"])
        p = [x for x in c.get("/api/v1/pods", fieldSelector="spec.nodeName=" + N11)[2]["items"]
             if x["metadata"]["name"] == "web-0"][0]
        self.assertEqual(p["metadata"]["ownerReferences"][0]["kind"], "ReplicaSet")
        self.assertEqual((p["spec"]["nodeName"], p["status"]["phase"]), (N11, "Running"))
        self.assertEqual(c.get("/api/v1/pods", fieldSelector="spec.hostname=x")[0], 400)
        s, _, one = c.get("/api/v1/namespaces/default/pods/web-0")
        self.assertEqual((s, one["kind"]), (200, "Pod"))

    def test_eviction_then_the_controller_recreates_elsewhere(self):
        self.evictable_pod(ACK1, N11, "web-1")
        c = self.k8s(ACK1)
        c.patch("/api/v1/nodes/" + N11, {"spec": {"unschedulable": True}})
        s, _, b = c.evict("default", "web-1")
        self.assertEqual((s, b), (201, {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success",
                                        "code": 201}))
        s, _, p = c.get("/api/v1/namespaces/default/pods/web-1")
        if s == 200:
            self.assertIn("deletionTimestamp", p["metadata"])
        self.wait_for(lambda: c.get("/api/v1/namespaces/default/pods/web-1")[0] == 404, what="pod gone")
        s, _, e = c.evict("default", "web-1")
        self.assertEqual((s, e["reason"], e["details"]["kind"]), (404, "NotFound", "pods"))
        new = self.wait_for(lambda: [p for n, p in self.k8s_pods(ACK1).items() if n.startswith("default/web-5d4f8-")],
                            what="replacement")
        self.assertNotEqual(new[0]["spec"]["nodeName"], N11)              # not on the cordoned node
        self.assertEqual(new[0]["metadata"]["generateName"], "web-5d4f8-")
        self.assertEqual(self.invariants()["pods_deleted_bypassing_eviction"], 0)

    def test_what_comes_back_after_eviction(self):
        self.pods(ACK1, [{"namespace": "default", "name": "bare", "node": N11, "owner": None},
                         {"namespace": "kube-system", "name": "static-web", "node": N11, "mirror": True},
                         {"namespace": "default", "name": "db-0", "node": N11,
                          "owner": {"kind": "StatefulSet", "name": "db"}}])
        c = self.k8s(ACK1)
        before = self.k8s_pods(ACK1)
        ds = [p for p in before if p.startswith("kube-system/kube-proxy-") and
              before[p]["spec"]["nodeName"] == N11][0]
        for ns_name in ("default/bare", "kube-system/static-web", "default/db-0", ds):
            ns, name = ns_name.split("/")
            self.assertEqual(c.evict(ns, name)[0], 201, ns_name)

        def settled():
            p = self.k8s_pods(ACK1)
            if any("deletionTimestamp" in x["metadata"] for x in p.values()):
                return None
            dss = [x for x in p if x.startswith("kube-system/kube-proxy-") and p[x]["spec"].get("nodeName") == N11]
            if len(dss) == 1 and "default/db-0" in p and "kube-system/static-web" in p:
                return p
            return None
        pods = self.wait_for(settled, what="recreations")
        self.assertNotIn("default/bare", pods)                          # nothing recreates a bare pod
        self.assertNotIn(ds, pods)                                     # the DaemonSet made a new one on N11
        for k in ("default/db-0", "kube-system/static-web"):           # same names, new pods
            self.assertNotEqual(pods[k]["metadata"]["uid"], before[k]["metadata"]["uid"])
        self.assertEqual(pods["kube-system/static-web"]["spec"]["nodeName"], N11)
        self.assertEqual(pods["kube-system/static-web"]["metadata"]["ownerReferences"][0]["kind"], "Node")

    def test_pdb_refuses_for_n_attempts_then_allows(self):
        self.evictable_pod(ACK1, N11, "web-1")
        self.fc.k8s_admin("pdbs", {"cluster": ACK1, "pdbs": [{"name": "web", "selector": {"matchLabels": {"app": "web"}},
                                                              "minAvailable": 1, "refuse_attempts": 2}]})
        c = self.k8s(ACK1)
        for _ in range(2):
            s, h, e = c.evict("default", "web-1")
            self.assertEqual((s, e["reason"], e["code"]), (429, "TooManyRequests", 429))
            self.assertEqual(e["message"], "Cannot evict pod as it would violate the pod's disruption budget.")
            self.assertEqual(e["details"]["causes"][0]["reason"], "DisruptionBudget")
        self.assertEqual(c.evict("default", "web-1")[0], 201)
        _, _, b = c.get("/apis/policy/v1/namespaces/default/poddisruptionbudgets")
        self.assertEqual((b["kind"], b["items"][0]["metadata"]["name"]), ("PodDisruptionBudgetList", "web"))
        self.assertEqual(c.get("/apis/policy/v1/namespaces/default/poddisruptionbudgets/web")[2]["spec"]
                         ["minAvailable"], 1)

    def test_pdb_refuses_for_n_seconds(self):
        self.evictable_pod(ACK1, N11, "web-1")
        c = self.k8s(ACK1)
        self.fc.k8s_admin("pdbs", {"cluster": ACK1, "name": "web", "selector": {"matchLabels": {"app": "web"}},
                                   "refuse_seconds": 2.0})
        self.assertEqual(c.evict("default", "web-1")[0], 429)
        self.assertEqual(c.get("/apis/policy/v1/poddisruptionbudgets")[2]["items"][0]["status"]
                         ["disruptionsAllowed"], 0)
        self.wait_for(lambda: c.evict("default", "web-1")[0] == 201, timeout=10, step=0.2, what="PDB window over")

    def test_pdb_min_available_counts_healthy_pods(self):
        self.fc.k8s_admin("timing", {"pod_termination_seconds": 2.0})
        self.evictable_pod(ACK1, N11, "web-1")
        self.evictable_pod(ACK1, N12, "web-2")
        self.fc.k8s_admin("pdbs", {"cluster": ACK1, "name": "web", "selector": {"matchLabels": {"app": "web"}},
                                   "minAvailable": 1})
        c = self.k8s(ACK1)
        self.assertEqual(c.evict("default", "web-1")[0], 201)
        s, _, e = c.evict("default", "web-2")                       # web-1 is terminating: 1 healthy, 1 needed
        self.assertEqual(s, 429)
        self.assertIn("needs 1 healthy pods and has 1 currently", e["details"]["causes"][0]["message"])
        self.wait_for(lambda: c.evict("default", "web-2")[0] == 201, timeout=10, step=0.2, what="replacement healthy")

    def test_two_pdbs_and_bad_eviction_bodies(self):
        self.evictable_pod(ACK1, N11, "web-1")
        self.fc.k8s_admin("pdbs", {"cluster": ACK1, "pdbs": [
            {"name": "a", "selector": {"matchLabels": {"app": "web"}}, "minAvailable": 0},
            {"name": "b", "selector": {"matchLabels": {}}, "minAvailable": 0}]})
        c = self.k8s(ACK1)
        s, _, e = c.evict("default", "web-1")
        self.assertEqual((s, e["reason"]), (500, "InternalError"))
        self.assertIn("more than one PodDisruptionBudget", e["message"])
        p = "/api/v1/namespaces/default/pods/web-1/eviction"
        for body in ({"apiVersion": "policy/v1", "kind": "Eviction", "metadata": {"name": "other"}},
                     {"apiVersion": "policy/v1", "kind": "Pod", "metadata": {"name": "web-1"}},
                     {"apiVersion": "policy/v1", "kind": "Eviction", "metadata": {"name": "web-1",
                                                                                 "namespace": "x"}}):
            self.assertEqual(c.request("POST", p, body)[0], 400, body)
        self.assertEqual(c.request("POST", p, b"{nope")[0], 400)
        s, _, e = c.request("POST", p, {"apiVersion": "policy/v1", "kind": "Eviction",
                                        "metadata": {"name": "web-1", "namespace": "default"}}, "text/plain")
        self.assertEqual((s, e["reason"]), (415, "UnsupportedMediaType"))

    def test_uid_precondition(self):
        """A pod recreated under the same name (StatefulSet) is another pod: a precondition on the old
        uid gets 409 and the new pod stays."""
        uid = self.pods(ACK1, [{"namespace": "default", "name": "db-0", "node": N11,
                                "owner": {"kind": "StatefulSet", "name": "db"}}])[0]["metadata"]["uid"]
        c = self.k8s(ACK1)
        self.assertEqual(c.evict("default", "db-0")[0], 201)
        new = self.wait_for(lambda: (lambda p: p if p and p["metadata"]["uid"] != uid and
                                     "deletionTimestamp" not in p["metadata"] else None)(
            self.k8s_pods(ACK1).get("default/db-0")), what="db-0 recreated")
        body = {"apiVersion": "policy/v1", "kind": "Eviction", "metadata": {"name": "db-0", "namespace": "default"},
                "deleteOptions": {"preconditions": {"uid": uid}}}
        s, _, e = c.request("POST", "/api/v1/namespaces/default/pods/db-0/eviction", body)
        self.assertEqual((s, e["reason"]), (409, "Conflict"))
        self.assertIn("Precondition failed", e["message"])
        s, _, e = c.request("DELETE", "/api/v1/namespaces/default/pods/db-0", {"preconditions": {"uid": uid}})
        self.assertEqual(s, 409)
        self.assertNotIn("deletionTimestamp", self.k8s_pods(ACK1)["default/db-0"]["metadata"])
        body["deleteOptions"]["preconditions"]["uid"] = new["metadata"]["uid"]
        self.assertEqual(c.request("POST", "/api/v1/namespaces/default/pods/db-0/eviction", body)[0], 201)

    def test_delete_bypasses_eviction_and_is_counted(self):
        self.evictable_pod(ACK1, N11, "web-1")
        self.fc.k8s_admin("pdbs", {"cluster": ACK1, "name": "web", "selector": {"matchLabels": {"app": "web"}},
                                   "refuse": True})
        c = self.k8s(ACK1)
        self.assertEqual(c.evict("default", "web-1")[0], 429)
        s, _, p = c.request("DELETE", "/api/v1/namespaces/default/pods/web-1")
        self.assertEqual((s, p["kind"]), (200, "Pod"))
        self.assertIn("deletionTimestamp", p["metadata"])
        inv = self.invariants()
        self.assertEqual(inv["pods_deleted_bypassing_eviction"], 1)
        d = [x for x in inv["details"] if x["kind"] == "pods_deleted_bypassing_eviction"][0]
        self.assertEqual((d["pod"], d["node"]), ("default/web-1", N11))
        self.assertEqual(c.request("DELETE", "/api/v1/namespaces/default/pods/nope")[0], 404)

    def test_admin_validation(self):
        for bad in ({"name": "x", "node": "nope"}, {"name": "Bad_Name", "node": N11},
                    {"name": "x", "node": N11, "owner": "Deployment2"}, {"name": "x", "node": N11, "phase": "Gone"}):
            with self.assertRaises(RuntimeError):
                self.pods(ACK1, [bad])
        with self.assertRaises(RuntimeError):
            self.pods("nope", [{"name": "x"}])
        self.evictable_pod(ACK1, N11, "web-1")
        with self.assertRaises(RuntimeError):
            self.evictable_pod(ACK1, N11, "web-1")                  # exists
        with self.assertRaises(RuntimeError):
            self.fc.k8s_admin("pdbs", {"cluster": ACK1, "name": "p", "minAvailable": "lots"})
        with self.assertRaises(RuntimeError):
            self.fc.k8s_admin("timing", {"pod_recreate_seconds": -1})
        self.fc.k8s_admin("pods", {"cluster": ACK1, "namespace": "default", "name": "web-1"}, "DELETE")
        self.assertNotIn("default/web-1", self.k8s_pods(ACK1))
        self.assertEqual(self.invariants()["pods_deleted_bypassing_eviction"], 0)   # admin deletions do not count


class FaultsAndLog(K8sCase):
    def test_faults_on_kubernetes_routes(self):
        c = self.k8s(ACK1)
        self.fc.add_fault(route="K8sListNodes", fault="throttle", count=1, retry_after=2)
        s, h, e = c.get("/api/v1/nodes")
        self.assertEqual((s, h["retry-after"], e["reason"], e["details"]["retryAfterSeconds"]),
                         (429, "2", "TooManyRequests", 2))
        self.assertEqual(c.get("/api/v1/nodes")[0], 200)
        self.fc.add_fault(route="k8s.K8sGetNode", fault="503", count=1)
        s, _, e = c.get("/api/v1/nodes/" + N10)
        self.assertEqual((s, e["reason"]), (503, "ServiceUnavailable"))
        self.fc.add_fault(route="^PATCH /k8s/", fault="500", count=1)
        s, _, e = c.patch("/api/v1/nodes/" + N10, {"spec": {"unschedulable": True}})
        self.assertEqual((s, e["reason"]), (500, "InternalError"))
        self.assertNotIn("unschedulable", self.k8s_nodes(ACK1)[N10]["spec"])   # refused before processing
        self.fc.add_fault(route="K8sPatchNode", fault="reset_after", count=1)
        with self.assertRaises((ConnectionError, OSError)):
            c.patch("/api/v1/nodes/" + N10, {"spec": {"unschedulable": True}})
        self.assertIs(self.k8s_nodes(ACK1)[N10]["spec"].get("unschedulable"), True)   # applied, never heard
        # a CCE fault rule named ListNodes does not hit the Kubernetes node list
        self.fc.add_fault(route="ListNodes", fault="503")
        self.assertEqual(c.get("/api/v1/nodes")[0], 200)
        log = [e for e in self.fc.requests() if e["cloud"] == "k8s"]
        self.assertEqual([(e["op"], e["status"], e["fault"]) for e in log],
                         [("K8sListNodes", 429, "throttle"), ("K8sListNodes", 200, None),
                          ("K8sGetNode", 503, "503"), ("K8sPatchNode", 500, "500"),
                          ("K8sPatchNode", None, "reset_after"), ("K8sListNodes", 200, None)])
        self.assertTrue(all(e["ak"].startswith("cert:") and e["cluster"] == ACK1 for e in log))
        self.assertEqual([e["mutating"] for e in log], [False, False, False, True, True, False])
        self.assertEqual(self.invariants()["over_rate_limit"], 0)

    def test_log_file_has_kubernetes_requests(self):
        c = self.k8s(CCE)
        c.get("/api/v1/nodes", limit=1)
        c.get("/version")
        e = [x for x in self.fc.requests() if x["cloud"] == "k8s"]
        self.assertEqual([x["op"] for x in e], ["K8sListNodes", "K8sVersion"])
        self.assertEqual(e[0]["query"], "limit=1")
        self.assertEqual(e[0]["path"], "/k8s/%s/api/v1/nodes" % CCE)


class Cli(unittest.TestCase):
    def test_k8s_listen_off_and_loopback_only(self):
        from fc_support import FC_DIR, CloudClient, FakeCloudProcess, demo_seed
        fc = FakeCloudProcess(seed=demo_seed(), extra_args=["--k8s-listen", "off"]).start()
        try:
            self.assertFalse(fc.k8s()["enabled"])
            c = CloudClient(fc.port)
            s, _, b = c.ack("GET", "/k8s/%s/user_config" % ACK1)
            self.assertEqual(s, 503)
            self.assertIn("Kubernetes API is off", json.loads(b)["message"])
            c.close()
        finally:
            self.assertEqual(fc.stop(), 0)
        r = subprocess.run([sys.executable, os.path.join(FC_DIR, "fakecloud.py"),
                            "--listen", "127.0.0.1:0", "--k8s-listen", "0.0.0.0:0"],
                           capture_output=True, text=True, timeout=20)
        self.assertEqual(r.returncode, 2)
        self.assertIn("not a loopback address", r.stderr)
        self.assertEqual(r.stdout, "")


class CceNodeNames(FakeCloudCase):
    seed_overrides = {"kubernetes": K8S_FAST}

    @classmethod
    def setUpClass(cls):
        from fc_support import demo_seed, FakeCloudProcess
        seed = demo_seed(kubernetes=K8S_FAST)
        seed["cce"]["clusters"][0]["k8s_node_name"] = "ip"
        cls.fc = FakeCloudProcess(seed=seed).start()

    def test_node_name_can_be_the_private_ip(self):
        cce = {n["status"]["privateIP"] for n in self.hw("GET", CCE_P + "/nodes")[2]["items"]}
        self.assertEqual(set(self.k8s_nodes(CCE)), cce)


if __name__ == "__main__":
    unittest.main()
