"""Alibaba Cloud ACK (API 2015-12-15) operations, per ../../shared/api/aliyun-ack.md and seeds 000, 003.

Official pages (README "What follows which page" has one row per behaviour):
DescribeClusterNodes https://www.alibabacloud.com/help/en/ack/ack-managed-and-ack-dedicated/developer-reference/api-query-nodes-in-a-cluster-1
DescribeClusterDetail https://www.alibabacloud.com/help/en/ack/ack-managed-and-ack-dedicated/developer-reference/api-cs-2015-12-15-describeclusterdetail
cluster lifecycle https://www.alibabacloud.com/help/en/ack/ack-managed-and-ack-dedicated/user-guide/cluster-abnormal-states
DescribeClusterUserKubeconfig https://www.alibabacloud.com/help/en/ack/ack-managed-and-ack-dedicated/developer-reference/api-cs-2015-12-15-describeclusteruserkubeconfig

Error codes the reference does not confirm are this emulator's choice and
are listed in README.md (ErrorClusterNotFound, ErrorNodePoolNotFound,
ErrorTaskNotFound, ErrorNodeNotFound, ErrorNodeRemoving, ErrorClusterState, ...).
"""

import hashlib
import json
import re

from .common import ApiError, Response
from .k8s import K8sAdminError
from .state import rfc3339

ACK_VERSION = "2015-12-15"
_PASSWORD_RX = [re.compile(r"[A-Z]"), re.compile(r"[a-z]"), re.compile(r"[0-9]"), re.compile(r"[^A-Za-z0-9]")]


def bad(msg, code="InvalidParameter"):
    return ApiError(400, code, msg)


def _common(st, req):
    ver = req.header("x-acs-version")
    if ver is not None and ver.strip() != ACK_VERSION:
        raise bad("x-acs-version %s is not supported; use %s" % (ver, ACK_VERSION), "InvalidVersion")
    cid = req.params.get("cid")
    if cid is None:
        return None
    cl = st.cluster(cid, "ack")
    if cl is None:
        raise ApiError(404, "ErrorClusterNotFound", "cluster %s not found" % cid)
    return cl


def _not_busy(st, req, cl):
    """A mutation on a cluster that is not `running` (DescribeClusterDetail `state`) is refused."""
    busy = st.check_not_busy(cl, req.op)
    if busy is not None:
        raise ApiError(*busy)


def _keep_server(release):
    """release_node=false keeps the ECS instance; ACK never releases PrePaid (subscription) instances
    (DeleteClusterNodes / RemoveNodePoolNodes pages: release_node)."""
    def keep(n):
        if not release:
            return "release_node is false: the ECS instance is kept"
        if n.charge == "PrePaid":
            return "PrePaid (subscription) instance: release_node does not release it"
        return None
    return keep


def _pool(st, req, cl):
    p = st.pool(req.params["np"], "ack", cl.id)
    if p is None:
        raise ApiError(404, "ErrorNodePoolNotFound", "node pool %s not found in cluster %s" % (req.params["np"], cl.id))
    return p


def _bool_arg(req, name):
    v = req.arg(name)
    if v is None:
        return False
    if v not in ("true", "false"):
        raise bad("%s must be 'true' or 'false', got %r" % (name, v))
    return v == "true"


def _int(v, name, lo, hi):
    if isinstance(v, bool) or not isinstance(v, int):
        raise bad("%s must be an integer, got %r" % (name, v))
    if not lo <= v <= hi:
        raise bad("%s must be within [%d,%d], got %d" % (name, lo, hi, v))
    return v


# DescribeClusterNodes response `state`: pending (being created), running, starting, stopping, stopped.
# The request's `state` filter adds removing, initial (= being created) and failed, which are shown
# for nodes being removed and nodes whose creation failed.
ECS_TO_STATE = {"Pending": "pending", "Running": "running", "Starting": "starting", "Stopping": "stopping",
                "Stopped": "stopped"}


def node_state(n):
    if n.status == "creating":
        return "pending"
    if n.status in ("removing", "failed"):
        return n.status
    return ECS_TO_STATE.get(n.ecs_state, "running")


def node_json(st, n):
    state = node_state(n)
    ready = st.k8s.ready_of(n)
    if n.status == "failed" or not n.healthy:
        node_status = "NotReady"
    elif n.ecs_state == "Stopped":
        node_status = "Offline"
    elif ready is not None:
        node_status = {"True": "Ready", "False": "NotReady", "Unknown": "Unknown"}[ready]
    elif n.status == "creating":
        node_status = "Unknown"
    else:
        node_status = "Ready"
    inst = "Pending" if n.status == "creating" else "Stopped" if n.status == "failed" else n.ecs_state
    return {"instance_id": n.id, "node_name": n.name, "instance_name": "worker-k8s-for-cs-" + n.cluster[:8],
            "instance_role": n.role, "nodepool_id": n.pool or "", "state": state, "node_status": node_status,
            "instance_status": inst, "creation_time": rfc3339(n.created),
            "error_message": "" if n.status != "failed" else "instance failed to join the cluster",
            "instance_charge_type": n.charge, "instance_type": n.flavor, "instance_type_family": n.flavor.rsplit(".", 1)[0],
            "ip_address": [n.ip], "host_name": n.name, "image_id": "aliyun_3_x64_20G_alibase_20240819.vhd",
            "source": "ess_attach" if n.pool else "ROS", "spot_strategy": "NoSpot", "is_aliyun_node": True,
            "expired_time": "", "is_leader": False, "state_reason": ""}


def _pool_json(st, p):
    nodes = st.pool_nodes(p.id)
    c = {"total_nodes": len(nodes),
         "healthy_nodes": sum(1 for n in nodes if n.status == "running" and n.healthy),
         "serving_nodes": sum(1 for n in nodes if n.status == "running" and n.healthy),
         "initial_nodes": sum(1 for n in nodes if n.status == "creating"),
         "failed_nodes": sum(1 for n in nodes if n.status == "failed"),
         "offline_nodes": sum(1 for n in nodes if n.status == "running" and not n.healthy),
         "removing_nodes": sum(1 for n in nodes if n.status == "removing")}
    c["state"] = "removing" if c["removing_nodes"] else "scaling" if c["initial_nodes"] else "active"
    cl = st.clusters[p.cluster]
    return {"nodepool_info": {"nodepool_id": p.id, "name": p.name, "type": "ess", "is_default": False,
                              "region_id": cl.region, "resource_group_id": "", "created": rfc3339(p.created),
                              "updated": rfc3339(p.created)},
            "scaling_group": {"desired_size": p.desired,
                              "scaling_group_id": "asg-" + hashlib.sha256(p.id.encode()).hexdigest()[:18],
                              "instance_types": [p.flavor], "instance_charge_type": p.charge,
                              "system_disk_category": "cloud_essd", "system_disk_size": 120},
            "auto_scaling": {"enable": bool(p.autoscaling.get("enable")),
                             "min_instances": p.autoscaling.get("min_instances", 0),
                             "max_instances": p.autoscaling.get("max_instances", 10), "type": "cpu"},
            "status": c}


def _task_resp(req, t, extra=None, status=200):
    req.task_id = t.id
    body = {"request_id": req.request_id, "task_id": t.id}
    body.update(extra or {})
    return Response(status, body)


# ---------------------------------------------------------------- reads

def describe_cluster_nodes(st, req):
    """The page documents five query parameters: instanceIds, nodepool_id, state, pageSize, pageNumber.
    Anything else (nodeLabels, nodeNames, nodeIps, ...) is ignored like any unknown parameter: the answer
    lists every node."""
    cl = _common(st, req)
    size = req.arg("pageSize", "10")
    num = req.arg("pageNumber", "1")
    if not size.isdigit() or not 1 <= int(size) <= 100:
        raise bad("pageSize must be an integer within [1,100], got %r" % size)
    if not num.isdigit() or int(num) < 1:
        raise bad("pageNumber must be an integer >= 1, got %r" % num)
    size, num = int(size), int(num)
    state = req.arg("state", "all")
    states = {"all": None, "running": "running", "removing": "removing", "initial": "creating", "failed": "failed"}
    if state not in states:
        raise bad("state must be one of all, running, removing, initial, failed; got %r" % state)
    nodes = st.cluster_nodes(cl.id)
    pool = req.arg("nodepool_id")
    if pool:
        nodes = [n for n in nodes if n.pool == pool]
    if state == "running":
        nodes = [n for n in nodes if node_state(n) == "running"]     # not the stopped/starting/stopping ones
    elif states[state]:
        nodes = [n for n in nodes if n.status == states[state]]
    v = req.arg("instanceIds")
    if v:
        want = set(x.strip() for x in v.split(","))
        nodes = [n for n in nodes if n.id in want]
    page = nodes[(num - 1) * size: num * size]
    return Response(200, {"nodes": [node_json(st, n) for n in page],
                          "page": {"page_number": num, "page_size": size, "total_count": len(nodes)}})


def describe_cluster_detail(st, req):
    """DescribeClusterDetail: the subset a client needs, `state` first (running, or a busy state)."""
    cl = _common(st, req)
    nodes = st.cluster_nodes(cl.id)
    endpoints = {"intranet_api_server_endpoint": st.k8s.url(cl.id) if st.k8s_endpoint else "",
                 "api_server_endpoint": st.k8s.url(cl.id, external=True) if st.k8s_endpoint else ""}
    return Response(200, {"cluster_id": cl.id, "name": cl.name, "region_id": cl.region, "state": cl.state,
                          "cluster_type": "ManagedKubernetes", "cluster_spec": "ack.pro.small", "profile": "Default",
                          "init_version": "1.30.1-aliyun.1", "current_version": "1.30.1-aliyun.1",
                          "next_version": "", "created": rfc3339(cl.created), "updated": rfc3339(cl.created),
                          "size": len(nodes), "deletion_protection": False, "network_mode": "vpc",
                          "resource_group_id": "rg-fakecloud", "vpc_id": "vpc-fakecloud",
                          "vswitch_ids": "vsw-fakecloud", "container_cidr": "172.20.0.0/16",
                          "service_cidr": "172.21.0.0/20", "proxy_mode": "ipvs", "security_group_id": "sg-fakecloud",
                          "master_url": json.dumps(endpoints), "tags": [], "maintenance_window": {},
                          "meta_data": "{}", "parameters": {}})


def describe_user_kubeconfig(st, req):
    """DescribeClusterUserKubeconfig: {"config": kubeconfig YAML, "expiration": RFC 3339}. A client
    certificate for the emulated API server; PrivateIpAddress=true gives the internal endpoint, false
    (the default) the public one (same server, logged as endpoint "external")."""
    cl = _common(st, req)
    private = _bool_arg(req, "PrivateIpAddress")
    minutes = req.arg("TemporaryDurationMinutes")
    if minutes is not None:
        if not minutes.isdigit() or not 15 <= int(minutes) <= 4320:
            raise bad("TemporaryDurationMinutes must be an integer within [15,4320], got %r" % minutes)
        seconds = int(minutes) * 60.0
    else:
        seconds = 3 * 365 * 86400.0        # "the system sets a longer validity period"
    seconds = st.k8s.cloud_credential_seconds(seconds)   # a test-only override (README), else as asked
    if cl.id not in st.k8s.clusters or st.k8s_endpoint is None:
        raise ApiError(503, "ServiceUnavailable", "fakecloud: the emulated Kubernetes API is off (openssl missing "
                                                  "or --k8s-listen off)")
    try:
        cred = st.k8s.issue(cl.id, "cert", seconds, req.now, "ack-user-config", user="2%015d" % (req.seq or 0))
    except K8sAdminError as e:
        raise ApiError(503, "ServiceUnavailable", "fakecloud: %s" % e)
    config = st.k8s.kubeconfig_yaml(cl.id, cred, user="2%015d" % (req.seq or 0), external=not private)
    return Response(200, {"config": config, "expiration": rfc3339(req.now + seconds)})


def describe_node_pools(st, req):
    cl = _common(st, req)
    name = req.arg("NodepoolName")
    pools = [p for p in st.cluster_pools(cl.id, "ack") if not name or p.name == name]
    return Response(200, {"nodepools": [_pool_json(st, p) for p in sorted(pools, key=lambda p: p.created)]})


def describe_node_pool_detail(st, req):
    cl = _common(st, req)
    return Response(200, _pool_json(st, _pool(st, req, cl)))


def describe_task_info(st, req):
    _common(st, req)
    t = st.tasks.get(req.params["tid"])
    if t is None or t.cloud != "ack":
        raise ApiError(404, "ErrorTaskNotFound", "task %s not found" % req.params["tid"])
    now = req.now
    updated = t.finished_at or now
    stage = {"state": t.state, "start_time": rfc3339(t.created), "end_time": rfc3339(t.finished_at) if t.finished_at else "",
             "message": "", "outputs": {}}
    per = {"running": "initial", "success": "success", "fail": "failed"}[t.state]
    body = {"task_id": t.id, "cluster_id": t.cluster, "task_type": t.type, "state": t.state,
            "created": rfc3339(t.created), "updated": rfc3339(updated),
            "current_stage": "" if t.state != "running" else "ProcessNodes", "stages": [stage],
            "task_result": [{"data": nid, "status": "failed" if nid in t.failed and t.state != "running"
                             else per} for nid in t.add + t.remove],
            "events": [{"action": t.type, "level": "Normal" if t.state != "fail" else "Warning",
                        "message": "task %s %s" % (t.id, t.state), "reason": t.state, "source": "fakecloud",
                        "timestamp": rfc3339(updated)}],
            "target": {"id": (t.target or {}).get("id", t.cluster), "type": (t.target or {}).get("type", "cluster")}}
    if t.state == "fail":
        body["error"] = dict(t.error or {})
    return Response(200, body)


# ---------------------------------------------------------------- mutations

def _json(req):
    return req.json(bad)


MAX_ADD_PER_CALL = 500


def modify_node_pool(st, req):
    cl = _common(st, req)
    p = _pool(st, req, cl)
    _not_busy(st, req, cl)
    body = _json(req)
    sg = body.get("scaling_group")
    desired = None
    if sg is not None:
        if not isinstance(sg, dict):
            raise bad("scaling_group must be an object like {\"desired_size\": 5}")
        if "desired_size" in sg:
            desired = _int(sg["desired_size"], "scaling_group.desired_size", 0, 2000)
    if desired is not None and p.autoscaling.get("enable"):
        raise bad("node pool %s has auto scaling enabled; scaling_group.desired_size cannot be set"
                  % p.id, "ErrorNodePoolAutoScalingEnabled")
    # "You can add at most 500 nodes in one API call"
    # (https://www.alibabacloud.com/help/doc-detail/184928.htm, ModifyClusterNodePool desired_size)
    if desired is not None and desired - p.desired > MAX_ADD_PER_CALL:
        raise bad("scaling_group.desired_size %d adds %d nodes to node pool %s (desired %d); at most %d "
                  "nodes can be added in one call" % (desired, desired - p.desired, p.id, p.desired,
                                                      MAX_ADD_PER_CALL), "InvalidParameter")
    t = None
    if desired is not None:
        st.claim_size("pool-size", p.id, desired, req.seq, req.op)
        p.desired = desired
        t = st.converge_pool(p, req.now, req.seq, req.job_outcome, "nodepool_update", req.op)
    if t is None:
        t = st.new_task("ack", "nodepool_update", cl.id, {"type": "nodepool", "id": p.id}, req.now,
                        req.job_outcome, req.seq)
    if desired is not None:
        st.remember_size("pool-size", p.id, desired, t)
    return _task_resp(req, t, {"nodepool_id": p.id})


def scale_node_pool(st, req):
    cl = _common(st, req)
    p = _pool(st, req, cl)
    _not_busy(st, req, cl)
    body = _json(req)
    if "count" not in body:
        raise bad("count is required: the number of nodes to add (1..500)", "MissingParameter")
    count = _int(body["count"], "count", 1, 500)
    if p.autoscaling.get("enable"):
        raise bad("node pool %s has auto scaling enabled; it cannot be scaled manually" % p.id,
                  "ErrorNodePoolAutoScalingEnabled")
    st.claim_size("pool-add", p.id, count, req.seq, req.op)
    p.desired += count
    t = st.converge_pool(p, req.now, req.seq, req.job_outcome, "nodepool_scaleout", req.op)
    if t is None:
        t = st.new_task("ack", "nodepool_scaleout", cl.id, {"type": "nodepool", "id": p.id}, req.now,
                        req.job_outcome, req.seq)
    st.remember_size("pool-add", p.id, count, t)
    return _task_resp(req, t, {"nodepool_id": p.id})


def _lookup_for_removal(st, req, cl, keys, by):
    """Resolve node keys (names or instance ids); all must exist and be removable, else nothing happens."""
    dup = st.duplicate_removal(keys, req.seq, req.op)
    nodes = []
    for k in keys:
        n = next((x for x in st.cluster_nodes(cl.id) if getattr(x, by) == k), None)
        if n is None:
            raise ApiError(404, "ErrorNodeNotFound", "node %s (%s) not found in cluster %s"
                           % (k, "node name" if by == "name" else "instance id", cl.id))
        if n.role != "Worker":
            raise bad("node %s is a %s; only Worker nodes can be removed" % (k, n.role), "ErrorNotWorkerNode")
        if k in dup or n.status == "removing":
            raise bad("node %s is already being removed" % k, "ErrorNodeRemoving")
        nodes.append(n)
    if len(set(n.id for n in nodes)) != len(nodes):
        raise bad("the same node is listed twice")
    return nodes


def _nodes_body(req):
    body = _json(req)
    nodes = body.get("nodes")
    if not isinstance(nodes, list) or not nodes or not all(isinstance(x, str) and x for x in nodes):
        raise bad("nodes is required: a non-empty array of node names (e.g. cn-hangzhou.192.168.0.10)",
                  "MissingParameter" if nodes is None else "InvalidParameter")
    for k in ("release_node", "drain_node"):
        if k in body and not isinstance(body[k], bool):
            raise bad("%s must be a boolean" % k)
    return nodes


def _remove_cluster_nodes(st, req, cl, names, ttype):
    _not_busy(st, req, cl)
    body = _json(req)
    nodes = _lookup_for_removal(st, req, cl, names, "name")
    t = st.new_task("ack", ttype, cl.id, {"type": "cluster", "id": cl.id}, req.now, req.job_outcome, req.seq,
                    removing=True)
    for n in nodes:
        if n.pool:
            t.replace_pools.add(n.pool)     # the pool keeps its desired size and replaces the node
    st.start_removal(nodes, t, req.now, "request", req.seq, req.op, _keep_server(body.get("release_node", False)),
                     drain=bool(body.get("drain_node", False)))
    return t


def delete_cluster_nodes(st, req):
    cl = _common(st, req)
    t = _remove_cluster_nodes(st, req, cl, _nodes_body(req), "remove_nodes")
    return _task_resp(req, t, {"cluster_id": cl.id}, status=202)


def remove_cluster_nodes(st, req):
    """Deprecated RemoveClusterNodes: 202 with no body (no task id)."""
    cl = _common(st, req)
    t = _remove_cluster_nodes(st, req, cl, _nodes_body(req), "remove_nodes")
    t.exposed = False
    req.task_id = t.id
    return Response(202, None)


def remove_node_pool_nodes(st, req):
    cl = _common(st, req)
    p = _pool(st, req, cl)
    raw = req.arg("instance_ids")
    by = "id"
    if raw is None and req.arg("nodes") is not None:
        raw, by = req.arg("nodes"), "name"
    if raw is None:
        raise bad("instance_ids is required: a JSON array of instance ids in the query, "
                  "e.g. instance_ids=[\"i-bp1...\"]", "MissingParameter")
    try:
        keys = json.loads(raw)
    except ValueError:
        raise bad("instance_ids must be a JSON array of strings, got %r" % raw)
    if not isinstance(keys, list) or not keys or not all(isinstance(k, str) and k for k in keys):
        raise bad("instance_ids must be a non-empty JSON array of strings")
    release, drain = _bool_arg(req, "release_node"), _bool_arg(req, "drain_node")
    _bool_arg(req, "concurrency")
    _not_busy(st, req, cl)
    nodes = _lookup_for_removal(st, req, cl, keys, by)
    for n in nodes:
        if n.pool != p.id:
            raise bad("node %s does not belong to node pool %s" % (n.id, p.id), "ErrorNodeNotInNodePool")
    t = st.new_task("ack", "nodepool_remove_nodes", cl.id, {"type": "nodepool", "id": p.id}, req.now,
                    req.job_outcome, req.seq, removing=True)
    p.desired = max(0, p.desired - len(nodes))
    st.start_removal(nodes, t, req.now, "request", req.seq, req.op, _keep_server(release), drain=drain)
    p.job = t.id
    return _task_resp(req, t)


def scale_cluster(st, req):
    cl = _common(st, req)
    _not_busy(st, req, cl)
    body = _json(req)
    spec = {"disable_rollback": bool, "timeout_mins": int, "worker_instance_type": str,
            "worker_system_disk_category": str, "worker_system_disk_size": int, "login_password": str,
            "num_of_nodes": int}
    for k, typ in spec.items():
        if k not in body:
            raise bad("%s is required (seed 003: disable_rollback, timeout_mins, worker_instance_type, "
                      "worker_system_disk_category, worker_system_disk_size, login_password, num_of_nodes)" % k,
                      "MissingParameter")
        v = body[k]
        if (typ is int and (isinstance(v, bool) or not isinstance(v, int))) or not isinstance(v, typ):
            raise bad("%s must be of type %s" % (k, typ.__name__))
    pw = body["login_password"]
    if not 8 <= len(pw) <= 30 or not all(rx.search(pw) for rx in _PASSWORD_RX):
        raise bad("login_password must be 8-30 characters with upper- and lower-case letters, digits and "
                  "special characters", "ErrorPasswordInvalid")
    if cl.password is not None and pw != cl.password:
        raise bad("login_password does not match the password set when the cluster was created",
                  "ErrorPasswordNotMatch")
    target = _int(body["num_of_nodes"], "num_of_nodes", 0, 300)
    workers = [n for n in st.cluster_nodes(cl.id) if n.role == "Worker" and not n.pool
               and n.status in ("creating", "running", "failed")]
    dup = st.claim_size("cluster-size", cl.id, target, req.seq, req.op)
    if target == len(workers):
        raise bad("num_of_nodes %d equals the current worker count %d: to scale out it must be larger, to scale "
                  "in smaller%s" % (target, len(workers), " (a scale to this size is already running)" if dup else ""),
                  "ErrorNumOfNodesInvalid")
    out = target > len(workers)
    t = st.new_task("ack", "cluster_scaleout" if out else "cluster_scalein", cl.id, {"type": "cluster", "id": cl.id},
                    req.now, req.job_outcome, req.seq, adding=out, removing=not out)
    if out:
        st.create_nodes(cl, None, target - len(workers), t, req.now)
    else:
        st.start_removal(st.victim_order(workers)[:len(workers) - target], t, req.now, "cloud", req.seq, req.op,
                         _keep_server(True))
    st.remember_size("cluster-size", cl.id, target, t)
    return _task_resp(req, t, {"cluster_id": cl.id}, status=202)


CID = r"/clusters/(?P<cid>[A-Za-z0-9._~-]+)"
NP = CID + r"/nodepools/(?P<np>[A-Za-z0-9._~-]+)"

ROUTES = [
    ("GET", CID + r"/nodes", "DescribeClusterNodes", False, describe_cluster_nodes),
    ("POST", CID + r"/nodes", "DeleteClusterNodes", True, delete_cluster_nodes),
    ("POST", r"/api/v2" + CID + r"/nodes/remove", "RemoveClusterNodes", True, remove_cluster_nodes),
    ("PUT", CID, "ScaleCluster", True, scale_cluster),
    ("GET", CID, "DescribeClusterDetail", False, describe_cluster_detail),
    ("GET", r"/k8s/(?P<cid>[A-Za-z0-9._~-]+)/user_config", "DescribeClusterUserKubeconfig", False,
     describe_user_kubeconfig),
    ("GET", CID + r"/nodepools", "DescribeClusterNodePools", False, describe_node_pools),
    ("GET", NP, "DescribeClusterNodePoolDetail", False, describe_node_pool_detail),
    ("PUT", NP, "ModifyClusterNodePool", True, modify_node_pool),
    ("POST", NP, "ScaleClusterNodePool", True, scale_node_pool),
    ("DELETE", NP + r"/nodes", "RemoveNodePoolNodes", True, remove_node_pool_nodes),
    ("GET", r"/tasks/(?P<tid>[A-Za-z0-9._~-]+)", "DescribeTaskInfo", False, describe_task_info),
]
