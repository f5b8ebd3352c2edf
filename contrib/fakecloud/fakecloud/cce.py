"""Huawei Cloud CCE v3 operations, per ../../shared/api/huawei-cce.md and seed 001.

Official pages (README "What follows which page" has one row per behaviour):
ListNodes (errorStatus) https://support.huaweicloud.com/intl/en-us/api-cce/cce_02_0244.html
DeleteNode (nodepoolScaleDown) https://support.huaweicloud.com/intl/en-us/api-cce/cce_02_0246.html
ShowCluster (status.phase) https://support.huaweicloud.com/intl/en-us/api-cce/cce_02_0238.html
CreateKubernetesClusterCert https://support.huaweicloud.com/intl/en-us/api-cce/cce_02_0248.html
"Removing a Node" https://support.huaweicloud.com/intl/en-us/usermanual-cce/cce_10_0338.html
"Deleting a Node" https://support.huaweicloud.com/intl/en-us/usermanual-cce/cce_10_0186.html

Not-found answers use 404 CCE.01404001, invalid bodies 400 CCE.01400001,
wrong content type 400 CCE.01400006 (CCE error-code page); a node already
being deleted, a yearly/monthly node's deletion and a mutation on a busy
cluster are refused with 400 CCE.01400001 (emulator choice: the page lists
no specific code).
"""

import re

from .common import ApiError, Response
from .k8s import K8sAdminError
from .state import rfc3339

NAME_RX = re.compile(r"^[a-z0-9-]{1,50}$")


def bad(msg, code="CCE.01400001"):
    return ApiError(400, code, "Invalid request: " + msg)


def not_found(what):
    return ApiError(404, "CCE.01404001", "Resource not found: " + what)


def _common(st, req):
    proj = req.params["project"]
    if proj not in st.projects:
        raise not_found("project %s" % proj)
    hdr = req.header("x-project-id")
    if hdr is not None and hdr.strip() != proj:
        raise bad("X-Project-Id header %s does not match the project %s in the path" % (hdr.strip(), proj))
    if req.method != "GET":
        ct = (req.header("content-type") or "").split(";")[0].strip().lower()
        if ct != "application/json":
            raise ApiError(400, "CCE.01400006", "Content type not supported: %r (send Content-Type: "
                           "application/json)" % (req.header("content-type") or ""))
    cid = req.params.get("cid")
    if cid is None:
        return None
    cl = st.cluster(cid, "cce")
    if cl is None or cl.project != proj:
        raise not_found("cluster %s" % cid)
    return cl


def _not_busy(st, req, cl, also=()):
    """Mutations need the cluster Available (ShowCluster status.phase); RemoveNode also accepts
    Unavailable ("Removing a Node": only when the cluster is Available or Unavailable)."""
    busy = st.check_not_busy(cl, req.op, also)
    if busy is not None:
        raise ApiError(*busy)


def _pool(st, req, cl):
    p = st.pool(req.params["np"], "cce", cl.id)
    if p is None:
        raise not_found("node pool %s in cluster %s" % (req.params["np"], cl.id))
    return p


def _phase(st, n, now, error_status=False):
    if n.status == "creating":
        half = float(st.timing["node_create_seconds"]) / 2
        return "Build" if now - n.created < half else "Installing"
    if n.status == "running":
        return "Active" if n.healthy else "Abnormal"
    if n.status == "removing":
        return "Deleting"
    if n.delete_failed and not error_status:
        return "Deleting"       # ListNodes: without errorStatus a failed deletion stays "Deleting"
    return "Error"


def _error_status(req):
    v = req.arg("errorStatus")
    return v is not None and v != ""


def node_json(st, n, now, error_status=False):
    """metadata.labels are CCE's own key/values (seed `cce_labels`), never the Kubernetes node's labels."""
    pool = st.pools.get(n.pool) if n.pool else None
    return {"kind": "Node", "apiVersion": "v3",
            "metadata": {"name": n.name, "uid": n.id, "creationTimestamp": rfc3339(n.created),
                         "updateTimestamp": rfc3339(n.created), "labels": dict(n.cloud_labels), "annotations": {},
                         "ownerReferences": ({"nodepoolName": pool.name, "nodepoolID": pool.id} if pool else {})},
            "spec": {"flavor": n.flavor, "az": n.az, "os": "EulerOS 2.9", "login": {"sshKey": "KeyPair-001"},
                     "rootVolume": {"volumetype": "SAS", "size": 50}, "dataVolumes": [{"volumetype": "SAS", "size": 100}],
                     "billingMode": 1 if n.charge == "PrePaid" else 0, "nodeNicSpec": {"primaryNic": {}}},
            "status": {"phase": _phase(st, n, now, error_status), "jobID": n.task or "", "serverId": n.server_id,
                       "privateIP": n.ip, "lastProbeTime": rfc3339(now - 30)}}


def _conditions(p, now):
    """status.conditions: Scalable=True unless the admin API set conditions (Scalable, QuotaInsufficient,
    ResourceInsufficient, LockedByOrder, UnexpectedError, Error ...)."""
    conds = {"Scalable": {"type": "Scalable", "status": "True", "reason": "", "message": ""}}
    for c in p.conditions:
        conds[c["type"]] = {"type": c["type"], "status": c["status"], "reason": c.get("reason", ""),
                            "message": c.get("message", "")}
    return [dict(c, lastProbeTime=rfc3339(now), lastTransitTime=rfc3339(p.created)) for c in conds.values()]


def _cond_true(p, ctype):
    return any(c["type"] == ctype and c["status"] == "True" for c in p.conditions)


def _cond_false(p, ctype):
    return any(c["type"] == ctype and c["status"] == "False" for c in p.conditions)


def pool_json(st, p, now, with_job=True):
    nodes = st.pool_nodes(p.id)
    status = {"currentNode": sum(1 for n in nodes if n.status != "removing"),
              "creatingNode": sum(1 for n in nodes if n.status == "creating"),
              "deletingNode": sum(1 for n in nodes if n.status == "removing"),
              "phase": "",
              "conditions": _conditions(p, now)}
    if with_job:
        status["jobId"] = p.job or ""
    cl = st.clusters[p.cluster]
    body = {"kind": "NodePool", "apiVersion": "v3",
            "metadata": {"name": p.name, "uid": p.id, "creationTimestamp": rfc3339(p.created),
                         "updateTimestamp": rfc3339(now)},
            "spec": {"type": "vm", "initialNodeCount": p.desired,
                     "autoscaling": {"enable": bool(p.autoscaling.get("enable")),
                                     "minNodeCount": p.autoscaling.get("minNodeCount", 0),
                                     "maxNodeCount": p.autoscaling.get("maxNodeCount", 0),
                                     "scaleDownCooldownTime": p.autoscaling.get("scaleDownCooldownTime", 0),
                                     "priority": p.autoscaling.get("priority", 0)},
                     "nodeManagement": {"serverGroupReference": ""},
                     "nodeTemplate": {"flavor": p.flavor, "az": "random", "os": "EulerOS 2.9",
                                      "billingMode": 1 if p.charge == "PrePaid" else 0,
                                      "login": {"sshKey": "KeyPair-001"}}},
            "status": status, "_cluster": cl.id}
    if p.omit_initial:
        del body["spec"]["initialNodeCount"]
    return body


def _strip(d):
    d.pop("_cluster", None)
    return d


# ---------------------------------------------------------------- reads

def list_nodes(st, req):
    cl = _common(st, req)
    es = _error_status(req)
    return Response(200, {"kind": "List", "apiVersion": "v3",
                          "items": [node_json(st, n, req.now, es) for n in st.cluster_nodes(cl.id)]})


def show_node(st, req):
    cl = _common(st, req)
    n = st.nodes.get(req.params["nid"])
    if n is None or n.cluster != cl.id:
        raise not_found("node %s in cluster %s" % (req.params["nid"], cl.id))
    return Response(200, node_json(st, n, req.now, _error_status(req)))


def show_cluster(st, req):
    """ShowCluster: status.phase Available, or a busy/abnormal phase (set with the admin API). Error is
    shown as Deleting unless the errorStatus query is sent (the page's errorStatus note)."""
    cl = _common(st, req)
    phase = cl.state
    if phase == "Error" and not _error_status(req):
        phase = "Deleting"
    ep = []
    if st.k8s_endpoint is not None and cl.id in st.k8s.clusters:
        ep = [{"url": st.k8s.url(cl.id), "type": "Internal"}, {"url": st.k8s.url(cl.id, True), "type": "External"}]
    return Response(200, {"kind": "Cluster", "apiVersion": "v3",
                          "metadata": {"name": cl.name, "uid": cl.id, "creationTimestamp": rfc3339(cl.created),
                                       "updateTimestamp": rfc3339(cl.created), "labels": {}, "annotations": {}},
                          "spec": {"category": "CCE", "type": "VirtualMachine", "flavor": "cce.s2.small",
                                   "version": "v1.30", "platformVersion": "cce.10.0", "description": "",
                                   "hostNetwork": {"vpc": "vpc-fakecloud", "subnet": "subnet-fakecloud"},
                                   "containerNetwork": {"mode": "vpc-router", "cidr": "172.16.0.0/16"},
                                   "kubernetesSvcIpRange": "10.247.0.0/16", "billingMode": 0},
                          "status": {"phase": phase, "endpoints": ep}})


def create_cluster_cert(st, req):
    """CreateKubernetesClusterCert: body {"duration": days (1..1827, -1 = the maximum)}; the kubeconfig as
    JSON, contexts `internal` (CA data) and `external` (insecure-skip-tls-verify), users with
    client-certificate-data + client-key-data; response header Port-ID."""
    cl = _common(st, req)
    body = req.json(bad)
    d = body.get("duration")
    if isinstance(d, bool) or not isinstance(d, int) or not (d == -1 or 1 <= d <= 1827):
        raise bad("duration is required: an integer number of days within [1,1827], or -1 for the maximum")
    days = 1827 if d == -1 else d
    if cl.id not in st.k8s.clusters or st.k8s_endpoint is None:
        raise ApiError(503, "CCE.01500001", "fakecloud: the emulated Kubernetes API is off (openssl missing or "
                                            "--k8s-listen off)")
    try:
        cred = st.k8s.issue(cl.id, "cert", st.k8s.cloud_credential_seconds(days * 86400.0), req.now,
                            "cce-clustercert", user="user")
    except K8sAdminError as e:
        raise ApiError(503, "CCE.01500001", "fakecloud: %s" % e)
    return Response(200, st.k8s.kubeconfig_cce(cl.id, cred), {"Port-ID": "port-" + cl.id[:8]})


def list_node_pools(st, req):
    cl = _common(st, req)
    items = [_strip(pool_json(st, p, req.now)) for p in sorted(st.cluster_pools(cl.id, "cce"),
                                                                 key=lambda p: p.created)]
    if req.arg("showDefaultNodePool") == "true":
        loose = [n for n in st.cluster_nodes(cl.id) if not n.pool]
        items.insert(0, {"kind": "NodePool", "apiVersion": "v3",
                         "metadata": {"name": "DefaultPool", "uid": cl.id + "-DefaultPool"},
                         "spec": {"type": "vm", "initialNodeCount": sum(1 for n in loose if n.status != "removing"),
                                  "autoscaling": {"enable": False}},
                         "status": {"currentNode": sum(1 for n in loose if n.status != "removing"),
                                    "creatingNode": sum(1 for n in loose if n.status == "creating"),
                                    "deletingNode": sum(1 for n in loose if n.status == "removing"), "phase": ""}})
    return Response(200, {"kind": "List", "apiVersion": "v3", "items": items})


def show_node_pool(st, req):
    cl = _common(st, req)
    return Response(200, _strip(pool_json(st, _pool(st, req, cl), req.now)))


def _job_phase(t, now):
    if t.state == "success":
        return "Success"
    if t.state == "fail":
        return "Failed"
    return "Initializing" if now - t.created < 0.2 * (t.end - t.created) else "Running"


def _job_json(st, t, now):
    phase = _job_phase(t, now)
    subs = []
    for nid, name in t.resources.items():
        n = st.nodes.get(nid)
        if phase in ("Success", "Failed"):
            sp = "Failed" if nid in t.failed else phase
        elif nid in t.add:
            sp = "Success" if n is not None and n.status == "running" else "Running"
        else:
            sp = "Success" if n is None else "Running"
        subs.append({"kind": "Job", "apiVersion": "v3",
                     "metadata": {"uid": "%s-%s" % (t.id[:8], nid[:8]), "creationTimestamp": rfc3339(t.created),
                                  "updateTimestamp": rfc3339(t.finished_at or now)},
                     "spec": {"type": "CreateNode" if nid in t.add else "DeleteNode", "clusterUID": t.cluster,
                              "resourceID": nid, "resourceName": name, "extendParam": {}, "subJobs": []},
                     "status": {"phase": sp, "reason": "" if sp != "Failed" else
                                (t.error or {}).get("message", "injected failure (fault subjob_fail)")}})
    tgt = t.target or {}
    return {"kind": "Job", "apiVersion": "v3",
            "metadata": {"uid": t.id, "creationTimestamp": rfc3339(t.created),
                         "updateTimestamp": rfc3339(t.finished_at or now)},
            "spec": {"type": t.type, "clusterUID": t.cluster, "resourceID": tgt.get("id", t.cluster),
                     "resourceName": tgt.get("name", tgt.get("id", "")), "extendParam": {}, "subJobs": subs},
            "status": {"phase": phase, "reason": "" if phase != "Failed" else (t.error or {}).get("message", "")}}


def show_job(st, req):
    _common(st, req)
    t = st.tasks.get(req.params["jid"])
    if t is None or t.cloud != "cce" or st.clusters.get(t.cluster) is None \
            or st.clusters[t.cluster].project != req.params["project"]:
        raise not_found("job %s" % req.params["jid"])
    return Response(200, _job_json(st, t, req.now))


# ---------------------------------------------------------------- mutations

def _int(v, name, lo=0):
    if isinstance(v, bool) or not isinstance(v, int) or v < lo:
        raise bad("%s must be an integer >= %d, got %r" % (name, lo, v))
    return v


def scale_node_pool(st, req):
    cl = _common(st, req)
    p = _pool(st, req, cl)
    body = req.json(bad)
    if body.get("kind") != "NodePool" or body.get("apiVersion") != "v3":
        raise bad("kind must be \"NodePool\" and apiVersion \"v3\"")
    spec = body.get("spec")
    if not isinstance(spec, dict):
        raise bad("spec is required: {\"desiredNodeCount\": N, \"scaleGroups\": [\"default\"]}")
    groups = spec.get("scaleGroups")
    if not isinstance(groups, list) or not groups or not all(isinstance(g, str) for g in groups):
        raise bad("spec.scaleGroups is required: a non-empty array of scale-group names (\"default\")")
    for g in groups:
        if g != "default":
            raise bad("scale group %r does not exist in node pool %s (only \"default\")" % (g, p.name))
    # The real pitfall: an omitted desiredNodeCount means 0 and empties the scale group.
    desired = _int(spec.get("desiredNodeCount", 0), "spec.desiredNodeCount")
    opts = spec.get("options") or {}
    if opts.get("scalableChecking", "instant") not in ("instant", "async"):
        raise bad("spec.options.scalableChecking must be instant or async")
    if desired < p.desired and len(groups) != 1:
        raise bad("scale-in accepts exactly one scale group")
    if p.autoscaling.get("enable"):
        raise bad("node pool %s has autoscaling enabled; disable it before scaling manually" % p.name)
    _not_busy(st, req, cl)
    outcome = _check_scalable(p, desired, opts.get("scalableChecking", "instant"), req.job_outcome)
    st.claim_size("pool-size", p.id, desired, req.seq, req.op)
    p.desired = desired
    p.omit_initial = False
    t = st.converge_pool(p, req.now, req.seq, outcome, "ScaleNodePool", req.op)
    if t is not None:
        t.target["name"] = p.name
        req.task_id = t.id
    st.remember_size("pool-size", p.id, desired, t)
    return Response(200, {"orderID": "CS%d" % int(req.now)} if p.charge == "PrePaid" else {})


def _check_scalable(p, desired, checking, outcome):
    """Emulator choice for the pool conditions (the pages describe them, not their effect): LockedByOrder
    =True refuses any count change; Scalable=False, QuotaInsufficient=True or ResourceInsufficient=True
    refuse a scale-out with scalableChecking "instant" (the default) and make it fail with "async"."""
    if _cond_true(p, "LockedByOrder") and desired != p.desired:
        raise bad("node pool %s is locked by an unpaid order (condition LockedByOrder); pay or cancel the order "
                  "first" % p.name)
    short = _cond_false(p, "Scalable") or _cond_true(p, "QuotaInsufficient") or _cond_true(p, "ResourceInsufficient")
    if short and desired > p.desired:
        if checking == "instant":
            raise bad("node pool %s cannot scale out now (conditions: %s); retry later or use "
                      "scalableChecking async" % (p.name, ", ".join("%s=%s" % (c["type"], c["status"])
                                                                     for c in p.conditions)))
        return "fail"
    return outcome


def update_node_pool(st, req):
    cl = _common(st, req)
    p = _pool(st, req, cl)
    _not_busy(st, req, cl, also=("ScalingUp", "ScalingDown"))
    body = req.json(bad)
    spec = body.get("spec")
    if not isinstance(spec, dict):
        raise bad("spec is required (send spec.initialNodeCount, or spec.ignoreInitialNodeCount: true)")
    meta = body.get("metadata") or {}
    if "name" in meta:
        if not isinstance(meta["name"], str) or not NAME_RX.match(meta["name"]) or meta["name"] == "DefaultPool":
            raise bad("metadata.name must be 1-50 lower-case letters, digits or '-' and not DefaultPool")
    ignore = spec.get("ignoreInitialNodeCount", False)
    if not isinstance(ignore, bool):
        raise bad("spec.ignoreInitialNodeCount must be a boolean")
    if "initialNodeCount" in spec:
        desired = _int(spec["initialNodeCount"], "spec.initialNodeCount")
    elif ignore:
        desired = p.desired
    else:
        desired = 0   # the documented pitfall: an omitted initialNodeCount resets the pool to 0
    if "autoscaling" in spec:
        if not isinstance(spec["autoscaling"], dict):
            raise bad("spec.autoscaling must be an object")
        p.autoscaling.update(spec["autoscaling"])
    if "name" in meta:
        p.name = meta["name"]
    t = None
    if desired != p.desired or not ignore:
        outcome = _check_scalable(p, desired, "instant", req.job_outcome)
        st.claim_size("pool-size", p.id, desired, req.seq, req.op)
        p.desired = desired
        p.omit_initial = False
        t = st.converge_pool(p, req.now, req.seq, outcome, "UpdateNodePool", req.op)
        if t is not None:
            t.target["name"] = p.name
            req.task_id = t.id
        st.remember_size("pool-size", p.id, desired, t)
    return Response(200, _strip(pool_json(st, p, req.now, with_job=False)))


def _check_login(login):
    if login is None:
        return None
    if not isinstance(login, dict):
        raise bad("spec.login must be an object with sshKey or userPassword")
    if "sshKey" in login:
        if not isinstance(login["sshKey"], str) or not login["sshKey"]:
            raise bad("spec.login.sshKey must be a key-pair name")
        return {"sshKey": login["sshKey"]}
    up = login.get("userPassword")
    if isinstance(up, dict) and isinstance(up.get("password"), str) and up["password"]:
        return {"userPassword": {"username": up.get("username", "root")}}   # password shielded in the answer
    raise bad("spec.login needs sshKey or userPassword.password")


def remove_node(st, req):
    cl = _common(st, req)
    body = req.json(bad)
    if body.get("apiVersion", "v3") != "v3" or body.get("kind", "RemoveNodesTask") != "RemoveNodesTask":
        raise bad("apiVersion must be v3 and kind RemoveNodesTask")
    spec = body.get("spec")
    if not isinstance(spec, dict):
        raise bad("spec is required: {\"nodes\": [{\"uid\": ...}]}")
    items = spec.get("nodes")
    if not isinstance(items, list) or not items:
        raise bad("spec.nodes is required: a non-empty array of {\"uid\": node id}")
    if len(items) > 200:
        raise bad("spec.nodes has %d entries; at most 200 nodes can be removed at a time" % len(items))
    uids = []
    for it in items:
        if not isinstance(it, dict) or not isinstance(it.get("uid"), str) or not it["uid"]:
            raise bad("each entry of spec.nodes must be {\"uid\": node id}")
        uids.append(it["uid"])
    if len(set(uids)) != len(uids):
        raise bad("spec.nodes lists the same uid twice")
    login = _check_login(spec.get("login"))
    _not_busy(st, req, cl, also=("Unavailable",))
    nodes = _resolve(st, req, cl, uids)
    for n in nodes:
        if n.status == "creating":
            raise bad("node %s is %s; a node can be removed only when it is Active, Abnormal or Error"
                      % (n.id, _phase(st, n, req.now)))
    t = st.new_task("cce", "RemoveNode", cl.id, {"type": "cluster", "id": cl.id, "name": cl.name}, req.now,
                    req.job_outcome, req.seq, removing=True)
    for n in nodes:
        if n.pool:
            t.replace_pools.add(n.pool)      # emulator choice: RemoveNode leaves pool counts alone
    # "Removing a Node": the node leaves the cluster, its OS is reinstalled, the server keeps running.
    st.start_removal(nodes, t, req.now, "request", req.seq, req.op,
                     lambda n: "RemoveNode: the node leaves the cluster, its server keeps running")
    req.task_id = t.id
    echo = {"nodes": [{"uid": u} for u in uids]}
    if login is not None:
        echo["login"] = login
    return Response(200, {"apiVersion": "v3", "kind": "RemoveNodesTask", "spec": echo, "status": {"jobID": t.id}})


def _resolve(st, req, cl, uids):
    dup = st.duplicate_removal(uids, req.seq, req.op)
    nodes = []
    for u in uids:
        n = st.nodes.get(u)
        if n is None or n.cluster != cl.id:
            raise not_found("node %s in cluster %s" % (u, cl.id))
        if u in dup or n.status == "removing":
            raise bad("node %s is already being deleted" % u)
        nodes.append(n)
    return nodes


def delete_node(st, req):
    cl = _common(st, req)
    mode = req.arg("nodepoolScaleDown")
    if mode is not None and mode != "NoScaleDown":
        raise bad("nodepoolScaleDown only accepts NoScaleDown, got %r" % mode)
    _not_busy(st, req, cl)
    n = _resolve(st, req, cl, [req.params["nid"]])[0]
    if n.charge == "PrePaid":
        # "Deleting a Node": yearly/monthly ECS nodes cannot be deleted directly; unsubscribe from them.
        raise bad("node %s is billed yearly/monthly (spec.billingMode 1) and cannot be deleted; unsubscribe from "
                  "it in the Billing Center, or remove it from the cluster (RemoveNode)" % n.id)
    t = st.new_task("cce", "DeleteNode", cl.id, {"type": "node", "id": n.id, "name": n.name}, req.now,
                    req.job_outcome, req.seq, removing=True)
    if n.pool:
        if mode is None:
            p = st.pools[n.pool]
            p.desired = max(0, p.desired - 1)
        else:
            t.replace_pools.add(n.pool)
    st.start_removal([n], t, req.now, "request", req.seq, req.op)
    req.task_id = t.id
    return Response(200, node_json(st, n, req.now))


P = r"/api/v3/projects/(?P<project>[A-Za-z0-9._~-]+)"
C = P + r"/clusters/(?P<cid>[A-Za-z0-9._~-]+)"
NP = C + r"/nodepools/(?P<np>[A-Za-z0-9._~-]+)"

ROUTES = [
    ("GET", C, "ShowCluster", False, show_cluster),
    ("POST", C + r"/clustercert", "CreateKubernetesClusterCert", False, create_cluster_cert),
    ("GET", C + r"/nodes", "ListNodes", False, list_nodes),
    ("PUT", C + r"/nodes/operation/remove", "RemoveNode", True, remove_node),
    ("GET", C + r"/nodes/(?P<nid>[A-Za-z0-9._~-]+)", "ShowNode", False, show_node),
    ("DELETE", C + r"/nodes/(?P<nid>[A-Za-z0-9._~-]+)", "DeleteNode", True, delete_node),
    ("GET", C + r"/nodepools", "ListNodePools", False, list_node_pools),
    ("GET", NP, "ShowNodePool", False, show_node_pool),
    ("PUT", NP, "UpdateNodePool", True, update_node_pool),
    ("POST", NP + r"/operation/scale", "ScaleNodePool", True, scale_node_pool),
    ("GET", P + r"/jobs/(?P<jid>[A-Za-z0-9._~-]+)", "ShowJob", False, show_job),
]
