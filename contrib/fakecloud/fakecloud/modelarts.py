"""Huawei ModelArts v2 resource-pool node pools, per ../../shared/api/huawei-modelarts.md and seed 002.

Official pages (README "What follows which page" has one row per behaviour):
BatchDeletePoolNodes https://support.huaweicloud.com/intl/en-us/api-modelarts/BatchDeletePoolNodes.html
ListPoolNodes https://support.huaweicloud.com/intl/en-us/api-modelarts/ListPoolNodes.html
ListNodePoolNodes https://support.huaweicloud.com/intl/en-us/api-modelarts/ListNodePoolNodes.html
PatchNodePool https://support.huaweicloud.com/intl/en-us/api-modelarts/PatchNodePool.html
Lite Cluster "Managing nodes" (delete: pay-per-use only; the last node stays)
https://support.huaweicloud.com/intl/en-us/usermanual-cluster-modelarts/umn-cluster-modelarts-0021.html

Refusals use the seed's 400 {"error_code": "ModelArts.50004000", "error_msg": ...};
a missing pool or node pool is 404 ModelArts.50004004 (emulator choice: the
real code is not documented), except BatchDeletePoolNodes and ListPoolNodes,
whose missing resource pool is the page's 404 ModelArts.50015001.
"""

from .common import ApiError, Response
from .state import rfc3339

DEFAULT_PATCH_TYPES = ("application/merge-patch+json", "application/json")


def bad(msg):
    return ApiError(400, "ModelArts.50004000", "Bad request. " + msg)


def not_found(what):
    return ApiError(404, "ModelArts.50004004", "Not found. " + what)


def _common(st, req):
    proj = req.params["project"]
    if proj not in st.projects:
        raise not_found("project %s" % proj)
    hdr = req.header("x-project-id")
    if hdr is not None and hdr.strip() != proj:
        raise bad("X-Project-Id header %s does not match the project %s in the path" % (hdr.strip(), proj))
    key = "%s/%s" % (proj, req.params["pool"])
    cl = st.cluster(key, "modelarts")
    if cl is None:
        raise not_found("resource pool %s" % req.params["pool"])
    return cl


def _nodepool(st, req, cl):
    pid = "%s/%s" % (cl.id, req.params["np"])
    p = st.pool(pid, "modelarts", cl.id)
    if p is None:
        raise not_found("node pool %s in resource pool %s" % (req.params["np"], cl.name))
    return p


def _bucket(p, nodes):
    if not nodes:
        return None
    azs = {}
    for n in nodes:
        azs[n.az] = azs.get(n.az, 0) + 1
    return {"nodePool": p.name, "flavor": p.flavor, "count": len(nodes), "maxCount": len(nodes),
            "azs": [{"az": a, "count": c} for a, c in sorted(azs.items())]}


def nodepool_json(st, p, with_status=True):
    res = {"nodePool": p.name, "flavor": p.flavor, "count": p.desired,
           "maxCount": p.max_count if p.max_count is not None else p.desired}
    res["network"] = p.extra.get("network")
    body = {"kind": "NodePool", "apiVersion": "v2",
            "metadata": {"name": p.name, "creationTimestamp": rfc3339(p.created),
                         "annotations": {"os.modelarts/billing.mode": "1" if p.charge != "postPaid" else "0"}},
            "spec": {"resources": res}}
    if with_status:
        nodes = st.pool_nodes(p.id)
        buckets = {"creating": [n for n in nodes if n.status == "creating"],
                   "available": [n for n in nodes if n.status == "running" and n.healthy],
                   "abnormal": [n for n in nodes if n.status == "failed" or (n.status == "running" and not n.healthy)],
                   "deleting": [n for n in nodes if n.status == "removing"]}
        # NodePoolStatus has `resources` only, no phase (ShowNodePool,
        # https://support.huaweicloud.com/intl/en-us/api-modelarts/ShowNodePool.html): a node pool
        # being deleted shows its nodes in the `deleting` bucket, then 404
        body["status"] = {"resources": {k: _bucket(p, v) for k, v in buckets.items() if v}}
    return body


def list_nodepools(st, req):
    cl = _common(st, req)
    items = [nodepool_json(st, p) for p in sorted(st.cluster_pools(cl.id, "modelarts"),
                                                  key=lambda p: (p.created, p.name))]
    return Response(200, {"apiVersion": "v2", "kind": "List", "items": items})


def show_nodepool(st, req):
    cl = _common(st, req)
    return Response(200, nodepool_json(st, _nodepool(st, req, cl)))


PHASE = {"creating": "Creating", "removing": "Deleting", "failed": "Abnormal"}


def _node_item(st, n):
    p = st.pools.get(n.pool)
    pname = p.name if p else ""
    return {"kind": "Node", "apiVersion": "v1",
            "metadata": {"name": n.name, "creationTimestamp": rfc3339(n.created),
                         "labels": dict(n.labels, **{"os.modelarts.node/nodepool": pname})},
            "spec": {"flavor": n.flavor},
            "status": {"phase": PHASE.get(n.status, "Available" if n.healthy else "Abnormal"), "az": n.az,
                       "privateIp": n.ip}}


def _paged_nodes(st, req, nodes, lo=1):
    """limit (default 500) / continue (the previous page's metadata.continue) paging."""
    limit = req.arg("limit", "500") or "500"
    start = req.arg("continue", "") or "0"
    if not limit.isdigit() or int(limit) < lo or int(limit) > 500 or not start.isdigit():
        raise bad("limit must be an integer within [%d,500] and continue the token of a previous page" % lo)
    limit, start = int(limit) or 500, int(start)
    page = nodes[start:start + limit]
    nxt = start + len(page)
    return Response(200, {"apiVersion": "v2", "kind": "NodeList",
                          "metadata": {"continue": str(nxt) if nxt < len(nodes) else "",
                                       "remainingItemCount": max(0, len(nodes) - nxt)},
                          "items": [_node_item(st, n) for n in page]})


def list_nodepool_nodes(st, req):
    cl = _common(st, req)
    p = _nodepool(st, req, cl)
    return _paged_nodes(st, req, st.pool_nodes(p.id))


def _resource_pool(st, req):
    """The pool-level routes answer the pages' 404 ModelArts.50015001 for a missing resource pool."""
    try:
        return _common(st, req)
    except ApiError as e:
        if e.status == 404 and "resource pool" in e.message:
            raise ApiError(404, "ModelArts.50015001", "pool not found")
        raise


def list_pool_nodes(st, req):
    """ListPoolNodes: every node of the resource pool, across its node pools; limit 0..500 (default 500)."""
    cl = _resource_pool(st, req)
    return _paged_nodes(st, req, st.cluster_nodes(cl.id), lo=0)


def batch_delete_pool_nodes(st, req):
    """BatchDeletePoolNodes: the named nodes go; at least one node stays in the resource pool. The page
    says the nodes are "permanently removed" and the Lite Cluster guide says to delete abnormal nodes "and
    add new ones for substitution": by default the service does not replace them, so each node pool's
    `count` drops by its deleted nodes (this emulator's reading; `batch_delete_keeps_count` plays the
    other one). Yearly/monthly (prePaid) node pools are refused: their nodes are unsubscribed, not
    deleted."""
    cl = _resource_pool(st, req)
    body = req.json(bad)
    names = body.get("deleteNodeNames")
    if not isinstance(names, list) or not names or not all(isinstance(x, str) and x for x in names):
        raise bad("deleteNodeNames is required: a non-empty array of node names (metadata.name of ListPoolNodes)")
    if len(set(names)) != len(names):
        raise bad("deleteNodeNames lists the same node twice")
    dup = st.duplicate_removal(names, req.seq, req.op)
    nodes = []
    for k in names:
        n = st.find_node(cl.id, k)
        if n is None:
            raise not_found("node %s in resource pool %s" % (k, cl.name))
        if k in dup or n.status == "removing":
            raise bad("node %s is already being deleted" % k)
        p = st.pools.get(n.pool)
        if p is not None and str(p.charge).lower() not in ("postpaid", "0"):
            raise bad("node %s belongs to yearly/monthly node pool %s; it cannot be deleted: unsubscribe from it"
                      % (k, p.name))
        if p is not None and p.state == "deleting":
            raise bad("node pool %s of node %s is being deleted" % (p.name, k))
        nodes.append(n)
    left = sum(1 for n in st.cluster_nodes(cl.id) if n.status != "removing") - len(nodes)
    if left < 1:
        raise bad("at least one node must stay in resource pool %s" % cl.name)
    t = st.new_task("modelarts", "BatchDeletePoolNodes", cl.id, {"type": "pool", "id": cl.id}, req.now,
                    req.job_outcome, req.seq, removing=True)
    # The page does not say whether `count` drops with the nodes. Default: it does (this emulator's
    # reading); seed "modelarts": {"batch_delete_keeps_count": true} plays the other reading: the count
    # stays and the service replaces the nodes once they are gone.
    keeps = bool((st.seed.get("modelarts") or {}).get("batch_delete_keeps_count"))
    for n in nodes:
        p = st.pools.get(n.pool)
        if p is not None and keeps:
            t.replace_pools.add(p.id)
        elif p is not None:
            p.desired = max(0, p.desired - 1)
    st.start_removal(nodes, t, req.now, "request", req.seq, req.op)
    req.task_id = t.id
    return Response(200, {})


def patch_nodepool(st, req):
    cl = _common(st, req)
    p = _nodepool(st, req, cl)
    ct = (req.header("content-type") or "").split(";")[0].strip().lower()
    allowed = (st.seed.get("modelarts") or {}).get("patch_content_types") or DEFAULT_PATCH_TYPES
    if ct not in allowed:
        raise bad("Content-Type %r is not supported for PATCH; use one of %s"
                  % (req.header("content-type") or "", ", ".join(allowed)))
    body = req.json(bad)
    res = (body.get("spec") or {}).get("resources") if isinstance(body.get("spec"), dict) else None
    if not isinstance(res, dict):
        raise bad("spec.resources is required: {\"flavor\": .., \"count\": .., \"maxCount\": ..}")
    if res.get("flavor") != p.flavor:
        raise bad("spec.resources.flavor must be the node pool's flavor %s, got %r" % (p.flavor, res.get("flavor")))
    count = res.get("count")
    if isinstance(count, bool) or not isinstance(count, int) or count < 0:
        raise bad("spec.resources.count must be an integer >= 0, got %r" % (count,))
    mc = res.get("maxCount")
    if mc is not None and (isinstance(mc, bool) or not isinstance(mc, int) or mc < count):
        raise bad("spec.resources.maxCount must be an integer >= count, got %r" % (mc,))
    if p.state == "deleting":
        raise bad("node pool %s is being deleted" % p.name)
    st.claim_size("pool-size", p.id, count, req.seq, req.op)
    p.desired = count
    p.max_count = mc if mc is not None else max(p.max_count or 0, count)
    t = st.converge_pool(p, req.now, req.seq, req.job_outcome, "PatchNodePool", req.op)
    if t is not None:
        req.task_id = t.id
    st.remember_size("pool-size", p.id, count, t)
    return Response(200, nodepool_json(st, p, with_status=False))


def delete_nodepool(st, req):
    proj = req.params["project"]
    pid = "%s/%s/%s" % (proj, req.params["pool"], req.params["np"])
    if pid in st.deleted_pools or (pid in st.pools and st.pools[pid].state == "deleting"):
        st.violation("duplicate_mutations", req.seq, req.op, {"target": pid, "why": "node pool already deleted "
                                                              "or being deleted"})
    cl = _common(st, req)
    p = _nodepool(st, req, cl)
    if p.state == "deleting":
        raise bad("node pool %s is already being deleted" % p.name)
    if str(p.charge).lower() not in ("postpaid", "0"):
        raise bad("node pool %s belongs to a yearly/monthly resource pool; deletion is not supported" % p.name)
    if p.in_use:
        raise bad("node pool %s is in use and cannot be deleted" % p.name)
    before = nodepool_json(st, p)
    t = st.new_task("modelarts", "DeleteNodePool", cl.id, {"type": "nodepool", "id": p.id}, req.now,
                    req.job_outcome, req.seq, removing=True)
    t.delete_pool = p.id
    p.state = "deleting"
    p.job = t.id
    st.start_removal([n for n in st.pool_nodes(p.id) if n.status != "removing"], t, req.now, "request",
                     req.seq, req.op)
    req.task_id = t.id
    return Response(200, before)


POOL = r"/v2/(?P<project>[A-Za-z0-9._~-]+)/pools/(?P<pool>[A-Za-z0-9._~-]+)"
NP_BASE = POOL + r"/nodepools"
NP = NP_BASE + r"/(?P<np>[A-Za-z0-9._~-]+)"

ROUTES = [
    ("GET", NP_BASE, "ListNodePools", False, list_nodepools),
    ("GET", NP, "ShowNodePool", False, show_nodepool),
    ("PATCH", NP, "PatchNodePool", True, patch_nodepool),
    ("DELETE", NP, "DeleteNodePool", True, delete_nodepool),
    ("GET", NP + r"/nodes", "ListNodePoolNodes", False, list_nodepool_nodes),
    ("GET", POOL + r"/nodes", "ListPoolNodes", False, list_pool_nodes),
    ("POST", POOL + r"/nodes/batch-delete", "BatchDeletePoolNodes", True, batch_delete_pool_nodes),
]
