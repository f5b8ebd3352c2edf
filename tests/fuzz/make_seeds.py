#!/usr/bin/env python3
"""Regenerates the seed corpora of fuzz_providers and fuzz_config.

    python3 tests/fuzz/make_seeds.py          # writes tests/fuzz/corpus/{providers,config}/seed-*

providers: real answers of contrib/fakecloud (demo seed) to every read,
mutation, job and error the daemon parses, each prefixed with the selector
byte of fuzz_providers.c (the order of `enum target`).
config: the annotated example, the demo configuration and the bad-input
corpus of tests/reliability/configs/.

Stdlib only; fakecloud runs on 127.0.0.1 only.
"""

import hashlib
import json
import os
import shutil
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "contrib", "fakecloud"))
from fakecloud.client import CloudClient, FakeCloudProcess  # noqa: E402

TARGETS = ["ack_nodes", "ack_pools", "ack_pool_detail", "ack_task_id", "ack_task", "ack_error",
           "cce_nodes", "cce_pools", "cce_pool", "cce_job_id", "cce_job", "hw_error", "ma_pools",
           "ma_pool", "error_body", "time", "ma_nodes", "ack_cluster", "cce_cluster"]
SEL = {t: i for i, t in enumerate(TARGETS)}

WEB = "c8f2d1e0a9b84c6e9f1d2a3b4c5d6e7f"
POOLS = "c0ffee00000000000000000000000002"
PROJ = "0123456789abcdef0123456789abcdef"
TRAIN = "6f1c0000-0000-0000-0000-000000000001"
CCE = "/api/v3/projects/%s/clusters/%s" % (PROJ, TRAIN)
MA = "/v2/%s/pools/pool-abc/nodepools" % PROJ


def write(dirname, name, data):
    os.makedirs(dirname, exist_ok=True)
    h = hashlib.sha1(data).hexdigest()[:8]
    with open(os.path.join(dirname, "seed-%s-%s" % (name, h)), "wb") as f:
        f.write(data)


def providers(out):
    seeds = []

    def add(target, body, header=None):
        if header is not None or target in ("ack_error", "hw_error"):
            body = (header or "").encode() + b"\n" + body
        seeds.append((target, bytes([SEL[target]]) + body))

    with FakeCloudProcess(seed=os.path.join(ROOT, "contrib", "fakecloud", "seeds", "demo.json")) as fc:
        fc.set_timing(job_seconds=0.2, node_create_seconds=0.1, node_delete_seconds=0.1)
        c = CloudClient(fc.port)
        ack = lambda m, p, q=(), b=None: c.ack(m, p, q, b)  # noqa: E731
        hw = lambda m, p, q=(), b=None: c.huawei(m, p, q, b)  # noqa: E731
        _, _, b = ack("GET", "/clusters/%s/nodes" % WEB, [("pageSize", "100"), ("pageNumber", "1")])
        add("ack_nodes", b)
        _, _, b = ack("GET", "/clusters/%s/nodes" % WEB, [("pageSize", "2"), ("pageNumber", "2")])
        add("ack_nodes", b)
        _, _, b = ack("GET", "/clusters/%s/nodepools" % POOLS)
        add("ack_pools", b)
        pools = json.loads(b)["nodepools"]
        npid = pools[0]["nodepool_info"]["nodepool_id"]
        _, _, b = ack("GET", "/clusters/%s/nodepools/%s" % (POOLS, npid))
        add("ack_pool_detail", b)
        _, _, b = ack("PUT", "/clusters/%s/nodepools/%s" % (POOLS, npid), (),
                      {"scaling_group": {"desired_size": 5}})
        add("ack_task_id", b)
        task = json.loads(b).get("task_id")
        if task:
            _, _, b = ack("GET", "/tasks/%s" % task)
            add("ack_task", b)
            time.sleep(0.5)
            _, _, b = ack("GET", "/tasks/%s" % task)
            add("ack_task", b)
        fc.add_fault(route="DeleteClusterNodes", fault="job_fail", count=1)
        _, _, b = ack("POST", "/clusters/%s/nodes" % WEB, (),
                      {"nodes": ["cn-hangzhou.192.168.0.11"], "release_node": True,
                       "drain_node": True})
        add("ack_task_id", b)
        task = json.loads(b).get("task_id")
        if task:
            time.sleep(0.5)
            _, _, b = ack("GET", "/tasks/%s" % task)
            add("ack_task", b)
        _, _, b = ack("GET", "/clusters/nope/nodes")
        add("ack_error", b)
        add("error_body", b)
        fc.add_fault(route="DescribeClusterNodes", fault="throttle", count=1, retry_after=2)
        _, h, b = ack("GET", "/clusters/%s/nodes" % WEB)
        add("ack_error", b, h.get("x-acs-retry-after", ""))
        _, _, b = c.ack("GET", "/clusters/%s/nodes" % WEB, sk="wrong-sk")
        add("ack_error", b)

        _, _, b = hw("GET", CCE + "/nodes")
        add("cce_nodes", b)
        _, _, b = hw("GET", CCE + "/nodepools")
        add("cce_pools", b)
        np = json.loads(b)["items"][0]["metadata"]["uid"]
        _, _, b = hw("GET", CCE + "/nodepools/" + np)
        add("cce_pool", b)
        _, _, b = hw("PUT", CCE + "/nodes/operation/remove", (),
                     {"spec": {"login": {"sshKey": "KeyPair-001"},
                               "nodes": [{"uid": "a1b2c3d4-0000-4000-8000-000000000001"}]}})
        add("cce_job_id", b)
        job = (json.loads(b).get("status") or {}).get("jobID")
        if job:
            _, _, b = hw("GET", "/api/v3/projects/%s/jobs/%s" % (PROJ, job))
            add("cce_job", b)
            time.sleep(0.5)
            _, _, b = hw("GET", "/api/v3/projects/%s/jobs/%s" % (PROJ, job))
            add("cce_job", b)
        _, _, b = hw("DELETE", CCE + "/nodes/a1b2c3d4-0000-4000-8000-000000000002")
        add("cce_job_id", b)
        _, _, b = hw("GET", CCE + "/nodepools/nope")
        add("hw_error", b)
        add("error_body", b)
        fc.add_fault(route="ListNodes", fault="throttle", count=1, retry_after=3)
        _, h, b = hw("GET", CCE + "/nodes")
        add("hw_error", b, h.get("retry-after", ""))
        _, _, b = c.huawei("GET", CCE + "/nodes", sk="wrong")
        add("hw_error", b)

        _, _, b = hw("GET", MA)
        add("ma_pools", b)
        _, _, b = hw("GET", MA + "/nodepool-1")
        add("ma_pool", b)
        _, _, b = hw("GET", MA + "/nope")
        add("hw_error", b)
        _, _, b = hw("GET", MA + "/nodepool-1/nodes", [("limit", "1")])
        add("ma_nodes", b)
        _, _, b = hw("GET", MA + "/nodepool-1/nodes")
        add("ma_nodes", b)
        _, _, b = ack("GET", "/clusters/%s" % WEB)
        add("ack_cluster", b)
        _, _, b = hw("GET", CCE, [("errorStatus", "true")])
        add("cce_cluster", b)
        c.close()

    # hand-written edge cases
    add("error_body", b"<html><body>502 Bad Gateway\r\n</body></html>")
    add("error_body", b'{"error":{"code":"X","message":"m","request_id":"r"}}')
    add("ack_error", b'{"code":"Throttling.User","message":"slow down","requestId":"r1"}', "1500")
    add("hw_error", b'{"error_code":"APIGW.0308","error_msg":"The throttling threshold has been reached"}',
        "Wed, 21 Oct 2015 07:28:00 GMT")
    add("hw_error", b'{"error_code":"APIGW.0301","error_msg":"Incorrect IAM authentication information: '
                    b'reach the limit"}')
    for t in (b"2025-01-02T03:04:05Z", b"2025-01-02T03:04:05.123+08:00",
              b"2025-01-02 03:04:05.123 +0000 UTC", b"120", b"Wed, 21 Oct 2015 07:28:00 GMT"):
        add("time", t)
    add("ack_task_id", b"")
    for target, data in seeds:
        write(out, target, data)
    return len(seeds)


def configs(out):
    n = 0
    srcs = [os.path.join(ROOT, "config", "nodeherd.yaml")]
    ex = os.path.join(ROOT, "config", "examples")
    srcs += [os.path.join(ex, f) for f in sorted(os.listdir(ex)) if f.endswith(".yaml")]
    bad = os.path.join(ROOT, "tests", "reliability", "configs")
    if os.path.isdir(bad):
        srcs += [os.path.join(bad, f) for f in sorted(os.listdir(bad)) if f.endswith(".yaml")]
    for p in srcs:
        with open(p, "rb") as f:
            data = f.read()
        if len(data) > 64 * 1024:
            continue
        # credentials the fuzzer's setup provides (see fuzz_config.c)
        for a, b in ((b"ack-ak", b"ak"), (b"ack-sk", b"sk"), (b"hw-ak", b"ak"), (b"hw-sk", b"sk"),
                     (b"ack-node-pw", b"pw"), (b"@ENDPOINT@", b"http://127.0.0.1:1"),
                     (b"@STATE_DIR@", b"/tmp/nh-fuzz-state")):
            data = data.replace(a, b)
        write(out, os.path.splitext(os.path.basename(p))[0], data)
        n += 1
    return n


def main():
    base = os.path.join(ROOT, "tests", "fuzz", "corpus")
    for name, fn in (("providers", providers), ("config", configs)):
        d = os.path.join(base, name)
        for f in os.listdir(d) if os.path.isdir(d) else ():
            if f.startswith("seed-"):
                os.unlink(os.path.join(d, f))
        print("%s: %d seeds" % (name, fn(d)))


if __name__ == "__main__":
    main()
