#!/usr/bin/env python3
"""Runs the providers' integration driver (it_providers) against fakecloud.

Starts two emulators on 127.0.0.1 (free ports):
  - main: the demo fleet plus an ACK cluster "big" of 230 workers (three
    pages of DescribeClusterNodes) and a ModelArts resource pool "pool-big"
    whose node pool has 510 nodes (two pages), with fast jobs;
  - strict: the same fleet, but ModelArts PATCH accepts only the SDK's
    content type (application/json), for the content-type fallback, and
    BatchDeletePoolNodes leaves the node pool's count as it was.
Passes their ports as FAKECLOUD_PORT / FAKECLOUD_PORT2, runs the driver,
then checks the emulator's invariants (no duplicate mutation, no request
over the rate limit). Usage: run_it.py PATH/TO/it_providers
"""

import copy
import json
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.environ.get("NH_SOURCE_DIR") or os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(SRC, "contrib", "fakecloud"))

from fakecloud.client import DEMO_SEED, FakeCloudProcess  # noqa: E402

BIG = "b16c1u5te700000000000000000000b1"


def seeds():
    with open(DEMO_SEED, encoding="utf-8") as f:
        demo = json.load(f)
    demo["timing"] = {"job_seconds": 0.4, "node_create_seconds": 0.3, "node_delete_seconds": 0.3}
    demo["ack"]["clusters"].append({"id": BIG, "name": "big", "region": "cn-hangzhou",
                                    "instance_type": "ecs.sn1ne.large", "workers": 230})
    # a resource pool whose node pool lists its nodes on two pages (500 a page)
    demo["modelarts"]["pools"].append({"name": "pool-big", "project_id": demo["projects"][0],
                                       "region": "cn-north-7", "az": "cn-north-7c",
                                       "nodepools": [{"name": "np-big", "flavor": "modelarts.vm.2u4g.dcc",
                                                      "count": 510, "maxCount": 510,
                                                      "billing": "postPaid", "nodes": 510}]})
    strict = copy.deepcopy(demo)
    strict.setdefault("modelarts", {})["patch_content_types"] = ["application/json"]
    # the other reading of BatchDeletePoolNodes: the count stays (the client sets it)
    strict["modelarts"]["batch_delete_keeps_count"] = True
    return demo, strict


def main():
    if len(sys.argv) != 2:
        print("usage: run_it.py PATH/TO/it_providers", file=sys.stderr)
        return 2
    demo, strict = seeds()
    with FakeCloudProcess(seed=demo) as fc, FakeCloudProcess(seed=strict) as fc2:
        env = dict(os.environ, FAKECLOUD_PORT=str(fc.port), FAKECLOUD_PORT2=str(fc2.port),
                   NH_BIG_CLUSTER=BIG)
        rc = subprocess.call([sys.argv[1]], env=env, timeout=110)
        for name, f in (("main", fc), ("strict", fc2)):
            inv = f.invariants()
            bad = {k: v for k, v in inv.items()
                   if k in ("duplicate_mutations", "over_rate_limit") and v}
            if bad:
                print("fakecloud %s invariants violated: %s" % (name, json.dumps(bad)), file=sys.stderr)
                rc = rc or 1
    return rc


if __name__ == "__main__":
    sys.exit(main())
