#!/usr/bin/env python3
"""Regenerates the seed corpora of fuzz_kubeconfig and fuzz_kube.

    python3 tests/fuzz/make_kube_seeds.py   # writes tests/fuzz/corpus/{kubeconfig,kube}/seed-*

kubeconfig: kubeconfigs as ACK (YAML) and CCE (JSON, "internal" context)
return them, an operator's token kubeconfig, an http loopback one and a
refused exec plugin, each prefixed with the selector byte of
fuzz_kubeconfig.c (format, context). The PKI is made with the openssl CLI
(tests/unit/kube/kubesrv.py --gen) in a temporary directory: the CA and the
client certificate and key in the seeds are throwaway test material that
certifies nothing.
kube: API answers as tests/unit/kube/kubesrv.py writes them (NodeList and
PodList pages, a Node, Status bodies), prefixed with fuzz_kube.c's two
selector bytes.

Stdlib only.
"""

import base64
import hashlib
import json
import os
import shutil
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "tests", "unit", "kube"))
import kubesrv  # noqa: E402


def write(target, name, data):
    d = os.path.join(ROOT, "tests", "fuzz", "corpus", target)
    os.makedirs(d, exist_ok=True)
    h = hashlib.sha256(data).hexdigest()[:8]
    with open(os.path.join(d, "seed-%s-%s" % (name, h)), "wb") as f:
        f.write(data)


def b64(d, name):
    with open(os.path.join(d, name), "rb") as f:
        return base64.b64encode(f.read()).decode()


def kubeconfigs(d):
    ca, cert, key = b64(d, "ca.pem"), b64(d, "client.pem"), b64(d, "client.key")
    ack = ("apiVersion: v1\nclusters:\n- cluster:\n    server: https://192.168.0.100:6443\n"
           "    certificate-authority-data: %s\n  name: kubernetes\ncontexts:\n- context:\n"
           "    cluster: kubernetes\n    user: \"2756xx\"\n  name: 2756xx-c8f2\n"
           "current-context: 2756xx-c8f2\nkind: Config\npreferences: {}\nusers:\n"
           "- name: \"2756xx\"\n  user:\n    client-certificate-data: %s\n"
           "    client-key-data: %s\n") % (ca, cert, key)
    cce = json.dumps({
        "kind": "Config", "apiVersion": "v1", "preferences": {},
        "clusters": [{"name": "internalCluster", "cluster": {
            "server": "https://192.168.0.8:5443", "certificate-authority-data": ca}},
            {"name": "externalCluster", "cluster": {
                "server": "https://1.2.3.4:5443", "insecure-skip-tls-verify": True}}],
        "users": [{"name": "user", "user": {"client-certificate-data": cert,
                                            "client-key-data": key}}],
        "contexts": [{"name": "internal", "context": {"cluster": "internalCluster",
                                                      "user": "user"}},
                     {"name": "external", "context": {"cluster": "externalCluster",
                                                      "user": "user"}}],
        "current-context": "external"})
    token = ("apiVersion: v1\nkind: Config\ncurrent-context: c\ncontexts:\n- name: c\n"
             "  context: {cluster: k, user: u}\nclusters:\n- name: k\n  cluster:\n"
             "    server: https://api.example:6443\n    certificate-authority-data: %s\n"
             "users:\n- name: u\n  user:\n    token: fuzz-token-0123456789\n") % ca
    loop = ("current-context: c\ncontexts:\n- name: c\n  context: {cluster: k, user: u}\n"
            "clusters:\n- name: k\n  cluster: {server: \"http://127.0.0.1:8080\"}\n"
            "users:\n- name: u\n  user: {token: abcdefgh12345678}\n")
    execp = ("current-context: c\ncontexts:\n- name: c\n  context: {cluster: k, user: u}\n"
             "clusters:\n- name: k\n  cluster: {server: https://x:6443, "
             "certificate-authority-data: %s}\nusers:\n- name: u\n  user:\n    exec:\n"
             "      command: aws\n      args: [eks, get-token]\n") % ca
    write("kubeconfig", "ack", bytes([1]) + ack.encode())
    write("kubeconfig", "cce", bytes([5]) + cce.encode())
    write("kubeconfig", "token", bytes([0]) + token.encode())
    write("kubeconfig", "loopback", bytes([0]) + loop.encode())
    write("kubeconfig", "exec", bytes([1]) + execp.encode())


def answers():
    def j(o):
        return json.dumps(o).encode()
    nodes = [kubesrv.gen_node(i) for i in range(3)]
    nodes[1]["spec"]["unschedulable"] = True
    nodes[1]["metadata"]["annotations"]["nodeherd.io/draining"] = "op-1"
    nodes[2]["status"]["addresses"].insert(0, {"type": "InternalIP", "address": "fd00::2"})
    page = {"kind": "NodeList", "apiVersion": "v1",
            "metadata": {"resourceVersion": "100", "continue": "eyJydiI6MTAwLCJzdGFydCI6M30="},
            "items": nodes}
    write("kube", "nodes", bytes([0, 0]) + j(page))
    pods = [kubesrv.gen_pod("n1", i) for i in range(2)]
    pods.append({"metadata": {"namespace": "kube-system", "name": "ds-x", "uid": "u3",
                              "ownerReferences": [{"kind": "DaemonSet", "controller": True}]},
                 "spec": {"nodeName": "n1"}, "status": {"phase": "Running"}})
    pods.append({"metadata": {"namespace": "kube-system", "name": "static", "uid": "u4",
                              "annotations": {"kubernetes.io/config.mirror": "h",
                                              "karpenter.sh/do-not-disrupt": "true",
                                              "cluster-autoscaler.kubernetes.io/safe-to-evict":
                                              "false"}},
                 "spec": {"nodeName": "n1"}, "status": {"phase": "Succeeded"}})
    write("kube", "pods", bytes([1, 0]) + j({"kind": "PodList", "metadata": {}, "items": pods}))
    n = kubesrv.gen_node(1)
    n["metadata"]["name"] = "n1"
    write("kube", "node", bytes([2, 0]) + j(n))
    write("kube", "status-pdb", bytes([7, 73]) + j(kubesrv.status(
        429, "TooManyRequests", "Cannot evict pod as it would violate the pod's disruption "
        "budget.", {"causes": [{"reason": "DisruptionBudget"}], "retryAfterSeconds": 10})))
    write("kube", "status-two-pdb", bytes([7, 144]) + j(kubesrv.status(
        500, "InternalError", "This pod has more than one PodDisruptionBudget, which the "
        "eviction subresource does not support.")))
    write("kube", "status-uid", bytes([7, 53]) + j(kubesrv.status(
        409, "Conflict", "Precondition failed: UID in precondition: a, UID in object meta: b")))


def main():
    d = tempfile.mkdtemp(prefix="nh-kube-seeds-")
    try:
        kubesrv.gen(d)
        for t in ("kubeconfig", "kube"):
            shutil.rmtree(os.path.join(ROOT, "tests", "fuzz", "corpus", t), ignore_errors=True)
        kubeconfigs(d)
        answers()
    finally:
        shutil.rmtree(d)


if __name__ == "__main__":
    main()
