"""HTTP handlers of the emulated Kubernetes API (see k8s.py for the model).

Routes are relative to the cluster prefix /k8s/<cluster-id> (or
/k8s/<cluster-id>/external, the CCE kubeconfig's `external` context and the
ACK public endpoint: same API, logged as endpoint "external"). Each route:
(method, regex, operation name, mutating, handler). Operation names carry a
K8s prefix so that fault rules for the clouds' operations (e.g. CCE
"ListNodes") never hit the Kubernetes routes by accident.
"""

import base64
import bisect
import json
import re

from .common import Response
from .k8s import DEFAULT_NODE_ANNOTATIONS, K8sError, bad_request, clean_taints, not_found

NS = r"(?P<ns>[a-z0-9]([-a-z0-9]*[a-z0-9])?)"
NAME = r"(?P<name>[a-z0-9]([-a-z0-9.]*[a-z0-9])?)"
MERGE_TYPES = ("application/merge-patch+json", "application/strategic-merge-patch+json")
PATCH_TYPES = MERGE_TYPES + ("application/json-patch+json",)


def _json(req):
    if not req.body:
        raise bad_request("the body of the request is empty")
    try:
        obj = json.loads(req.body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as e:
        raise bad_request("the body of the request was in an unknown format: %s" % e)
    return obj


# ---------------------------------------------------------------------- selectors


def parse_label_selector(s):
    """Equality and set-based requirements: k=v, k==v, k!=v, k, !k, k in (a,b), k notin (a,b)."""
    reqs = []
    if not s:
        return reqs
    parts, depth, cur = [], 0, ""
    for ch in s:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        if ch == "," and depth == 0:
            parts.append(cur)
            cur = ""
        else:
            cur += ch
    parts.append(cur)
    for p in parts:
        p = p.strip()
        m = re.match(r"^([A-Za-z0-9./_-]+)\s+(in|notin)\s+\(([^)]*)\)$", p)
        if m:
            vals = set(v.strip() for v in m.group(3).split(",") if v.strip())
            reqs.append((m.group(1), m.group(2), vals))
            continue
        m = re.match(r"^([A-Za-z0-9./_-]+)\s*(==|=|!=)\s*([A-Za-z0-9._-]*)$", p)
        if m:
            reqs.append((m.group(1), "!=" if m.group(2) == "!=" else "=", m.group(3)))
            continue
        m = re.match(r"^(!?)([A-Za-z0-9./_-]+)$", p)
        if m:
            reqs.append((m.group(2), "!exists" if m.group(1) else "exists", None))
            continue
        raise bad_request("unable to parse requirement: %r" % p)
    return reqs


def labels_match(labels, reqs):
    for k, op, v in reqs:
        have = labels.get(k)
        if op == "=" and have != v:
            return False
        if op == "!=" and have == v:
            return False
        if op == "in" and have not in v:
            return False
        if op == "notin" and have in v:
            return False
        if op == "exists" and k not in labels:
            return False
        if op == "!exists" and k in labels:
            return False
    return True


def parse_field_selector(s, allowed):
    reqs = []
    if not s:
        return reqs
    for p in s.split(","):
        m = re.match(r"^([A-Za-z.]+)(==|=|!=)(.*)$", p.strip())
        if not m:
            raise bad_request("invalid field selector: %r" % p)
        if m.group(1) not in allowed:
            raise bad_request('field label not supported: %s' % m.group(1))
        reqs.append((m.group(1), "!=" if m.group(2) == "!=" else "=", m.group(3)))
    return reqs


def fields_match(fields, reqs):
    for k, op, v in reqs:
        if (fields.get(k) == v) != (op == "="):
            return False
    return True


# ---------------------------------------------------------------------- paging


def _token(kc, rv, key, now):
    raw = json.dumps({"v": "meta.k8s.io/v1", "rv": rv, "start": key + "\u0000", "gen": kc.gen, "t": int(now)},
                     separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def _continue(kc, req, model):
    """(start key, list rv) from the continue token, or (None, current rv)."""
    tok = req.arg("continue")
    if not tok:
        return None, kc.rv
    try:
        d = json.loads(base64.urlsafe_b64decode(tok + "=" * (-len(tok) % 4)).decode())
        start, rv, gen, t = d["start"].rstrip("\u0000"), int(d["rv"]), int(d.get("gen", 0)), float(d.get("t", 0))
    except (ValueError, KeyError, TypeError, AttributeError):
        raise bad_request("continue key is not valid: incorrect encoded start resourceVersion (version "
                          "meta.k8s.io/v1)")
    if gen != kc.gen or req.now - t > model.timing["continue_ttl_seconds"]:
        raise K8sError(410, "Expired", "The provided continue parameter is too old to display a consistent list "
                       "result. You can start a new list without the continue parameter, or use the continue token "
                       "in this response to retrieve the remainder of the results. Continuing with the provided "
                       "token results in an inconsistent list - objects that were created, modified, or deleted "
                       "between the time the first chunk was returned and now may show up in the list.",
                       metadata={"continue": _token(kc, kc.rv, start, req.now)})
    return start, rv


def _limit(req):
    v = req.arg("limit")
    if v is None or v == "":
        return 0
    if not v.isdigit():
        raise bad_request("limit must be a non-negative integer, got %r" % v)
    return int(v)


def _node_key(s):
    return s


def _ns_key(s):
    ns, _, name = s.partition("/")
    return (ns, name)


def _page(kc, req, model, keys, keyfn, match, render, kind, selectors, parse=_node_key):
    """keys: sorted list of keys; keyfn(key) -> string for the token, parse(string) -> key. Fills up to
    `limit` matches and sets `continue` when keys remain after the last one returned (like the API
    server, which does not look ahead for matches)."""
    start, rv = _continue(kc, req, model)
    limit = _limit(req)
    i = bisect.bisect_right(keys, parse(start)) if start is not None else 0
    items = []
    last = None
    while i < len(keys):
        k = keys[i]
        i += 1
        obj = match(k)
        if obj is None:
            continue
        items.append(render(obj))
        last = k
        if limit and len(items) >= limit:
            break
    meta = {"resourceVersion": str(rv)}
    if limit and i < len(keys) and last is not None:
        meta["continue"] = _token(kc, rv, keyfn(last), req.now)
        if not selectors:
            meta["remainingItemCount"] = len(keys) - i
    return {"kind": kind, "apiVersion": "v1" if kind != "PodDisruptionBudgetList" else "policy/v1",
            "metadata": meta, "items": items}


# ---------------------------------------------------------------------- handlers


def version(model, kc, req):
    return Response(200, {"major": "1", "minor": "30", "gitVersion": "v1.30.1-fakecloud.1",
                          "gitCommit": "0000000000000000000000000000000000000000", "gitTreeState": "clean",
                          "buildDate": "2024-06-01T00:00:00Z", "goVersion": "go1.22.2", "compiler": "gc",
                          "platform": "linux/amd64"})


def api_versions(model, kc, req):
    return Response(200, {"kind": "APIVersions", "versions": ["v1"],
                          "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": "127.0.0.1"}]})


def list_nodes(model, kc, req):
    lsel = parse_label_selector(req.arg("labelSelector"))
    fsel = parse_field_selector(req.arg("fieldSelector"), ("metadata.name", "spec.unschedulable"))

    def match(name):
        kn = kc.nodes[name]
        if fsel and not fields_match({"metadata.name": name, "spec.unschedulable": str(kn.unschedulable).lower()},
                                     fsel):
            return None
        if lsel:
            obj = model.node_json(kc, kn, req.now)
            return obj if labels_match(obj["metadata"]["labels"], lsel) else None
        return kn
    body = _page(kc, req, model, kc.node_names, lambda k: k, match,
                 lambda o: o if isinstance(o, dict) else model.node_json(kc, o, req.now), "NodeList", lsel or fsel)
    return Response(200, body)


def _node(kc, req):
    kn = kc.nodes.get(req.params["name"])
    if kn is None:
        raise not_found("nodes", req.params["name"])
    return kn


def get_node(model, kc, req):
    return Response(200, dict(model.node_json(kc, _node(kc, req), req.now), kind="Node", apiVersion="v1"))


def _merge(target, patch):
    """RFC 7386 JSON merge patch."""
    if not isinstance(patch, dict):
        return patch
    if not isinstance(target, dict):
        target = {}
    out = dict(target)
    for k, v in patch.items():
        if v is None:
            out.pop(k, None)
        else:
            out[k] = _merge(out.get(k), v)
    return out


def _json_patch(doc, ops):
    """RFC 6902 subset: add, replace, remove, test on object paths (and list indexes / '-')."""
    if not isinstance(ops, list):
        raise bad_request("json patch must be an array of operations")
    doc = json.loads(json.dumps(doc))
    for op in ops:
        if not isinstance(op, dict) or op.get("op") not in ("add", "replace", "remove", "test") or \
                not isinstance(op.get("path"), str) or not op["path"].startswith("/"):
            raise K8sError(422, "Invalid", "the json patch operation %r is not supported" % (op,))
        parts = [p.replace("~1", "/").replace("~0", "~") for p in op["path"][1:].split("/")]
        cur = doc
        for p in parts[:-1]:
            if isinstance(cur, list):
                cur = cur[int(p)]
            else:
                if p not in cur:
                    if op["op"] == "add":
                        cur[p] = {}
                    else:
                        raise K8sError(422, "Invalid", "jsonpatch %s operation does not apply: doc is missing "
                                                       "path: %s" % (op["op"], op["path"]))
                cur = cur[p]
        last = parts[-1]
        if op["op"] == "test":
            have = cur[int(last)] if isinstance(cur, list) else cur.get(last)
            if have != op.get("value"):
                raise K8sError(422, "Invalid", "testing value %s failed" % op["path"])
        elif op["op"] == "remove":
            if isinstance(cur, list):
                del cur[int(last)]
            elif last in cur:
                del cur[last]
            else:
                raise K8sError(422, "Invalid", "jsonpatch remove operation does not apply: doc is missing path: %s"
                               % op["path"])
        elif isinstance(cur, list):
            if last == "-":
                cur.append(op.get("value"))
            elif op["op"] == "add":
                cur.insert(int(last), op.get("value"))
            else:
                cur[int(last)] = op.get("value")
        else:
            if op["op"] == "replace" and last not in cur:
                raise K8sError(422, "Invalid", "jsonpatch replace operation does not apply: doc is missing key: %s"
                               % op["path"])
            cur[last] = op.get("value")
    return doc


def patch_node(model, kc, req):
    """Cordon/uncordon and labels/annotations/taints. Other fields of the patch are accepted and ignored
    (they are status or immutable for a client like nodeherd)."""
    kn = _node(kc, req)
    ct = (req.header("content-type") or "").split(";")[0].strip().lower()
    if ct not in PATCH_TYPES:
        raise K8sError(415, "UnsupportedMediaType", "the body of the request was in an unknown format - accepted "
                       "media types include: application/json-patch+json, application/merge-patch+json, "
                       "application/apply-patch+yaml")
    patch = _json(req)
    cur = model.node_json(kc, kn, req.now)
    if ct in MERGE_TYPES:
        if not isinstance(patch, dict):
            raise bad_request("a merge patch must be a JSON object")
        rv = (patch.get("metadata") or {}).get("resourceVersion") if isinstance(patch.get("metadata"), dict) \
            else None
        if rv is not None and str(rv) != str(kn.rv):
            raise K8sError(409, "Conflict", 'Operation cannot be fulfilled on nodes "%s": the object has been '
                           'modified; please apply your changes to the latest version and try again' % kn.name,
                           {"name": kn.name, "kind": "nodes"})
        new = _merge(cur, patch)
    else:
        new = _json_patch(cur, patch)
    meta = new.get("metadata") or {}
    spec = new.get("spec") or {}
    if meta.get("name", kn.name) != kn.name:
        raise bad_request("the name of the object (%s) does not match the name on the URL (%s)"
                          % (meta.get("name"), kn.name))
    labels, annotations = meta.get("labels") or {}, meta.get("annotations") or {}
    for what, d in (("labels", labels), ("annotations", annotations)):
        if not isinstance(d, dict) or not all(isinstance(v, str) for v in d.values()):
            raise K8sError(422, "Invalid", 'Node "%s" is invalid: metadata.%s: values must be strings'
                           % (kn.name, what))
    unsched = spec.get("unschedulable", False)
    if not isinstance(unsched, bool):
        raise K8sError(422, "Invalid", 'Node "%s" is invalid: spec.unschedulable: must be a boolean' % kn.name)
    taints = clean_taints(spec.get("taints") or [], kn.name)
    n = model.st.nodes.get(kn.cloud_id)
    # User labels/annotations live on the cloud node (the protection checks read them): keep the keys
    # that are not the defaults the kubelet/cloud set (a default key given another value is kept).
    dl = model.default_labels(kc, kn, n)
    n.labels = {k: v for k, v in labels.items() if k in n.labels or dl.get(k) != v}
    n.annotations = {k: v for k, v in annotations.items()
                     if k in n.annotations or DEFAULT_NODE_ANNOTATIONS.get(k) != v}
    if unsched != kn.unschedulable:
        kn.cloud_cordon = False
    kn.unschedulable = unsched
    kn.taints = taints
    kn.rv = kc.bump()
    model._place_pending(kc, req.now)
    return Response(200, dict(model.node_json(kc, kn, req.now), kind="Node", apiVersion="v1"))


def _pod_keys(kc, req, ns, fsel):
    """Index lookups: spec.nodeName=X uses the per-node index, a namespace the sorted keys' range."""
    node = next((v for k, op, v in fsel if k == "spec.nodeName" and op == "="), None)
    if node is not None:
        keys = sorted(kc.pods_by_node.get(node, ()))
    else:
        keys = kc.pod_keys
    if ns is not None:
        lo = bisect.bisect_left(keys, (ns, ""))
        hi = bisect.bisect_left(keys, (ns + "\u0000", ""))
        keys = keys[lo:hi]
    return keys


def list_pods(model, kc, req):
    ns = req.params.get("ns")
    lsel = parse_label_selector(req.arg("labelSelector"))
    fsel = parse_field_selector(req.arg("fieldSelector"), ("spec.nodeName", "metadata.name", "metadata.namespace",
                                                           "status.phase"))
    keys = _pod_keys(kc, req, ns, fsel)

    def match(key):
        p = kc.pods[key]
        if fsel and not fields_match({"spec.nodeName": p.node, "metadata.name": p.name, "metadata.namespace": p.ns,
                                      "status.phase": p.phase}, fsel):
            return None
        if lsel and not labels_match(p.labels, lsel):
            return None
        return p
    body = _page(kc, req, model, keys, lambda k: "%s/%s" % k, match, lambda p: model.pod_json(kc, p), "PodList",
                 lsel or fsel, _ns_key)
    return Response(200, body)


def _pod(kc, req):
    p = kc.pods.get((req.params["ns"], req.params["name"]))
    if p is None:
        raise not_found("pods", req.params["name"])
    return p


def get_pod(model, kc, req):
    return Response(200, dict(model.pod_json(kc, _pod(kc, req)), kind="Pod", apiVersion="v1"))


def _grace(req):
    g = req.arg("gracePeriodSeconds")
    if req.body:
        try:
            opts = json.loads(req.body.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            raise bad_request("the body of the request was in an unknown format")
        if isinstance(opts, dict) and "gracePeriodSeconds" in opts:
            g = opts["gracePeriodSeconds"]
        elif isinstance(opts, dict) and isinstance(opts.get("deleteOptions"), dict):
            g = opts["deleteOptions"].get("gracePeriodSeconds", g)
    if g is None:
        return None
    try:
        g = int(g)
    except (TypeError, ValueError):
        raise bad_request("gracePeriodSeconds must be an integer")
    return 0 if g <= 0 else None


def _check_uid(p, opts):
    pre = opts.get("preconditions") if isinstance(opts, dict) else None
    uid = pre.get("uid") if isinstance(pre, dict) else None
    if uid is not None and uid != p.uid:
        raise K8sError(409, "Conflict", "Precondition failed: UID in precondition: %s, UID in object meta: %s"
                       % (uid, p.uid), {"name": p.name, "kind": "pods"})


def delete_pod(model, kc, req):
    """Works like the API server's graceful delete, but bypasses PodDisruptionBudgets: counted in
    pods_deleted_bypassing_eviction. DeleteOptions preconditions.uid is honoured (409)."""
    p = _pod(kc, req)
    if req.body:
        try:
            opts = json.loads(req.body.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            raise bad_request("the body of the request was in an unknown format")
        _check_uid(p, opts if isinstance(opts, dict) else {})
    model.st.violation("pods_deleted_bypassing_eviction", req.seq, req.op,
                       {"cluster": kc.cid, "pod": "%s/%s" % p.key, "node": p.node})
    model._terminate(kc, p, req.now, _grace(req))
    body = dict(model.pod_json(kc, p), kind="Pod", apiVersion="v1")
    if p.gone_at is not None and p.gone_at <= req.now:
        model.st.advance(req.now)
    return Response(200, body)


def evict_pod(model, kc, req):
    """POST .../pods/{name}/eviction (policy/v1 Eviction): 201 and the pod terminates; 429 while a
    PodDisruptionBudget does not allow it; 500 when several budgets select the pod; 404 when gone; 409 when
    deleteOptions.preconditions.uid names another pod (one recreated under the same name)."""
    ct = (req.header("content-type") or "").split(";")[0].strip().lower()
    if ct != "application/json":
        raise K8sError(415, "UnsupportedMediaType", "the body of the request was in an unknown format - accepted "
                       "media types include: application/json, application/yaml, "
                       "application/vnd.kubernetes.protobuf")
    ev = _json(req)
    if not isinstance(ev, dict) or ev.get("kind", "Eviction") != "Eviction" or \
            ev.get("apiVersion", "policy/v1") not in ("policy/v1", "policy/v1beta1"):
        raise bad_request("the body must be a policy/v1 Eviction: {\"apiVersion\": \"policy/v1\", \"kind\": "
                          "\"Eviction\", \"metadata\": {\"name\": ..., \"namespace\": ...}}")
    meta = ev.get("metadata") or {}
    if not isinstance(meta, dict) or meta.get("name") != req.params["name"]:
        raise bad_request("name in URL does not match name in Eviction object")
    if meta.get("namespace") not in (None, req.params["ns"]):
        raise bad_request("namespace in URL does not match namespace in Eviction object")
    p = _pod(kc, req)
    opts = ev.get("deleteOptions") if isinstance(ev.get("deleteOptions"), dict) else {}
    _check_uid(p, opts)
    grace = 0 if opts.get("gracePeriodSeconds") == 0 else None
    ignore = p.phase in ("Succeeded", "Failed", "Pending") or p.deleting_at is not None
    if not ignore:
        pdbs = [b for b in kc.pdbs.values() if b.matches(p)]
        if len(pdbs) > 1:
            raise K8sError(500, "InternalError", "This pod has more than one PodDisruptionBudget, which the "
                           "eviction subresource does not support.")
        if pdbs:
            b = pdbs[0]
            allowed = model.pdb_allowed(kc, b, req.now)
            b.attempts += 1
            if allowed <= 0:
                expected, healthy = model._healthy(kc, b)
                if b.scripted:
                    why = "The disruption budget %s does not allow a disruption now (fakecloud: scripted refusal)" \
                        % b.name
                else:
                    why = "The disruption budget %s needs %d healthy pods and has %d currently" \
                        % (b.name, model._desired(expected, b), healthy)
                raise K8sError(429, "TooManyRequests", "Cannot evict pod as it would violate the pod's "
                               "disruption budget.", {"causes": [{"reason": "DisruptionBudget", "message": why}]})
    model._terminate(kc, p, req.now, grace)
    if grace == 0:
        model.st.advance(req.now)
    return Response(201, {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "code": 201})


def list_pdbs(model, kc, req):
    ns = req.params.get("ns")
    keys = sorted(k for k in kc.pdbs if ns is None or k[0] == ns)
    body = _page(kc, req, model, keys, lambda k: "%s/%s" % k, lambda k: kc.pdbs[k],
                 lambda b: model.pdb_json(kc, b, req.now), "PodDisruptionBudgetList", None, _ns_key)
    return Response(200, body)


def get_pdb(model, kc, req):
    b = kc.pdbs.get((req.params["ns"], req.params["name"]))
    if b is None:
        raise not_found("poddisruptionbudgets.policy", req.params["name"])
    return Response(200, dict(model.pdb_json(kc, b, req.now), kind="PodDisruptionBudget", apiVersion="policy/v1"))


ROUTES = [
    ("GET", r"/version/?", "K8sVersion", False, version),
    ("GET", r"/api/?", "K8sApiVersions", False, api_versions),
    ("GET", r"/api/v1/nodes", "K8sListNodes", False, list_nodes),
    ("GET", r"/api/v1/nodes/" + NAME, "K8sGetNode", False, get_node),
    ("PATCH", r"/api/v1/nodes/" + NAME, "K8sPatchNode", True, patch_node),
    ("GET", r"/api/v1/pods", "K8sListPods", False, list_pods),
    ("GET", r"/api/v1/namespaces/" + NS + r"/pods", "K8sListPods", False, list_pods),
    ("GET", r"/api/v1/namespaces/" + NS + r"/pods/" + NAME, "K8sGetPod", False, get_pod),
    ("DELETE", r"/api/v1/namespaces/" + NS + r"/pods/" + NAME, "K8sDeletePod", True, delete_pod),
    ("POST", r"/api/v1/namespaces/" + NS + r"/pods/" + NAME + r"/eviction", "K8sEvictPod", True, evict_pod),
    ("GET", r"/apis/policy/v1/poddisruptionbudgets", "K8sListPDBs", False, list_pdbs),
    ("GET", r"/apis/policy/v1/namespaces/" + NS + r"/poddisruptionbudgets", "K8sListPDBs", False, list_pdbs),
    ("GET", r"/apis/policy/v1/namespaces/" + NS + r"/poddisruptionbudgets/" + NAME, "K8sGetPDB", False, get_pdb),
]
COMPILED = [(m, re.compile("^" + rx + "$"), op, mut, fn) for m, rx, op, mut, fn in ROUTES]


def match(method, path):
    """(op, mutating, fn, params) or (None, allowed_other_method, None, {})."""
    other = False
    for m, rx, op, mut, fn in COMPILED:
        mm = rx.match(path)
        if mm is None:
            continue
        if m == method:
            return op, mut, fn, {k: v for k, v in mm.groupdict().items() if v is not None}
        other = True
    return None, other, None, {}

