"""Shared pieces of the integration tests: the fleet declaration used
against contrib/fakecloud/seeds/demo.json, and checks on the emulator's state."""

import os
import sys

ROOT = os.environ.get("NH_SOURCE_DIR") or os.path.dirname(os.path.dirname(
    os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "tests", "support"))
from nhtest import harness  # noqa: E402,F401
# `from itlib import harness` is the usual spelling; a plain `import harness`
# after `import itlib` gets the very same module (one FAKECLOUD, one ROOT).
sys.modules.setdefault("harness", harness)

SEED = os.path.join(ROOT, "contrib", "fakecloud", "seeds", "demo.json")

WEB = "c8f2d1e0a9b84c6e9f1d2a3b4c5d6e7f"
POOLS = "c0ffee00000000000000000000000002"
TRAIN = "6f1c0000-0000-0000-0000-000000000001"
PROTECTED = "i-bp1keep0001"
UNHEALTHY_GPU = "a1b2c3d4-0000-4000-8000-000000000005"


def fleet_yaml(web=3, np_web=4, np_batch=1, gpu=3, np1=3, prune=True, poll="1s",
               job_poll="200ms", job_timeout="20s", qps=50, burst=20, extra_daemon="",
               web_extra=""):
    head = harness.fleet_head(poll=poll, job_poll=job_poll, job_timeout=job_timeout, qps=qps,
                              burst=burst, extra_daemon=extra_daemon)
    return head + """\
  - name: web
    provider: ack
    id: {WEB}
    workers: {web}
    scale_out:
      instance_type: ecs.sn1ne.large
      system_disk: {{ category: cloud_efficiency, size_gb: 40 }}
      login_password: {{ file: ack-node-pw }}
    scale_in: {{ max_per_cycle: 5, protect: [{PROTECTED}] }}
{web_extra}
  - name: pools
    provider: ack
    id: {POOLS}
    scale_in: {{ max_per_cycle: 5 }}
    node_pools:
      - {{ name: np-web, nodes: {np_web} }}
      - {{ name: np-batch, nodes: {np_batch} }}
  - name: train
    provider: cce
    id: {TRAIN}
    scale_in: {{ max_per_cycle: 5 }}
    login: {{ ssh_key: KeyPair-001 }}
    node_pools:
      - {{ name: gpu-a, nodes: {gpu} }}
  - name: ai
    provider: ma
    pool: pool-abc
    prune: {prune}
    scale_in: {{ max_per_cycle: 5 }}
    node_pools:
      - {{ name: nodepool-1, flavor: modelarts.vm.2u4g.dcc, nodes: {np1} }}
""".format(**dict(locals(), WEB=WEB, POOLS=POOLS, TRAIN=TRAIN, PROTECTED=PROTECTED,
                  prune="true" if prune else "false"))


def live_nodes(state, cluster_id=None, pool_name=None):
    pools = {p["id"]: p["name"] for p in state["pools"]}
    out = []
    for n in state["nodes"]:
        if cluster_id and n["cluster"] != cluster_id:
            continue
        if pool_name is not None and pools.get(n["pool"]) != pool_name:
            continue
        if pool_name is None and n.get("pool"):
            continue
        if n["status"] in ("removing", "deleting", "Deleting"):
            continue
        out.append(n)
    return out


def pool(state, name):
    for p in state["pools"]:
        if p["name"] == name:
            return p
    return None


def assert_final(tc, state, web=3, np_web=4, np_batch=1, gpu=3, np1=3, pruned=True):
    """The emulator's own view matches the declaration."""
    workers = live_nodes(state, WEB)
    tc.assertEqual(len(workers), web, [n["id"] for n in workers])
    tc.assertIn(PROTECTED, [n["id"] for n in workers], "the protected node was removed")
    tc.assertEqual(len(live_nodes(state, POOLS, "np-web")), np_web)
    tc.assertEqual(len(live_nodes(state, POOLS, "np-batch")), np_batch)
    gpu_nodes = live_nodes(state, TRAIN, "gpu-a")
    tc.assertEqual(len(gpu_nodes), gpu)
    if gpu < 4:
        tc.assertNotIn(UNHEALTHY_GPU, [n["id"] for n in gpu_nodes],
                       "the unhealthy node should have gone first")
    tc.assertEqual(pool(state, "nodepool-1")["desired"], np1)
    if pruned:
        tc.assertIsNone(pool(state, "nodepool-old"), "undeclared pool not pruned")


def assert_clean(tc, fleet):
    inv = fleet.invariants()
    tc.assertEqual(inv.get("duplicate_mutations"), 0, inv)
    tc.assertEqual(inv.get("unrequested_removals"), 0, inv)
    tc.assertEqual(inv.get("over_rate_limit", 0), 0, inv)
