"""Shared helpers for the fakecloud unittest suite: import path, demo seed with fast timing, one
emulator process per test class (reset before every test)."""

import copy
import json
import os
import sys
import time
import unittest

SRC = os.environ.get("NH_SOURCE_DIR") or os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
FC_DIR = os.path.join(SRC, "contrib", "fakecloud")
if FC_DIR not in sys.path:
    sys.path.insert(0, FC_DIR)

from fakecloud.client import CloudClient, FakeCloudProcess, DEMO_SEED, K8sClient  # noqa: E402,F401

PROJECT = "0123456789abcdef0123456789abcdef"
ACK1 = "c8f2d1e0a9b84c6e9f1d2a3b4c5d6e7f"
ACK2 = "c0ffee00000000000000000000000002"
NP_WEB = "np4b2e1c0d9a8f7e6d5c4b3a2918f7e6d5"
NP_BATCH = "np9a8b7c6d5e4f30211f0e9d8c7b6a5948"
CCE = "6f1c0000-0000-0000-0000-000000000001"
GPU_A = "7e1a0000-0000-4000-8000-0000000000a1"
CCE_P = "/api/v3/projects/%s/clusters/%s" % (PROJECT, CCE)
MA_P = "/v2/%s/pools/pool-abc/nodepools" % PROJECT
FAST = {"job_seconds": 0.8, "node_create_seconds": 0.6, "node_delete_seconds": 0.6}   # margin for a loaded machine
MA_POOL = "/v2/%s/pools/pool-abc" % PROJECT


def demo_seed(**overrides):
    with open(DEMO_SEED, encoding="utf-8") as f:
        seed = json.load(f)
    seed["timing"] = dict(FAST)
    for k, v in overrides.items():
        seed[k] = v
    return copy.deepcopy(seed)


def js(body):
    return json.loads(body.decode("utf-8")) if body else None


class FakeCloudCase(unittest.TestCase):
    """One fakecloud process per class; state, faults, limits and log are reset before each test."""

    seed_overrides = {}

    @classmethod
    def setUpClass(cls):
        cls.fc = FakeCloudProcess(seed=demo_seed(**cls.seed_overrides)).start()

    @classmethod
    def tearDownClass(cls):
        cls.fc.stop()

    def setUp(self):
        self.fc.reset()
        self.c = CloudClient(self.fc.port)

    def tearDown(self):
        self.c.close()

    # helpers -------------------------------------------------------------
    def ack(self, method, path, pairs=(), body=None, **kw):
        s, h, b = self.c.ack(method, path, pairs, body, **kw)
        return s, h, js(b) if b and h.get("content-type", "").startswith("application/json") else b

    def hw(self, method, path, pairs=(), body=None, **kw):
        s, h, b = self.c.huawei(method, path, pairs, body, **kw)
        return s, h, js(b) if b and h.get("content-type", "").startswith("application/json") else b

    def wait_for(self, pred, timeout=5.0, step=0.05, what="condition"):
        deadline = time.time() + timeout
        while time.time() < deadline:
            v = pred()
            if v:
                return v
            time.sleep(step)
        self.fail("timed out waiting for %s" % what)

    def invariants(self):
        return self.fc.invariants()

    def node(self, key):
        for n in self.fc.state()["nodes"]:
            if key in (n["id"], n["name"]):
                return n
        return None

    def k8s(self, cluster, **kw):
        """A Kubernetes client for `cluster` (closed after the test)."""
        c = self.fc.k8s_client(cluster, **kw)
        self.addCleanup(c.close)
        return c

    def k8s_nodes(self, cluster):
        return {n["metadata"]["name"]: n for n in self.fc.k8s_state(cluster)["nodes"]}

    def k8s_pods(self, cluster):
        return {"%s/%s" % (p["metadata"]["namespace"], p["metadata"]["name"]): p
                for p in self.fc.k8s_state(cluster)["pods"]}
