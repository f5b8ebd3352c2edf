"""Admin API under /_fake/ (JSON in, JSON out; not authenticated, not logged, not rate limited).

Called with State.lock held and time already advanced.
"""

import json
import time

from .common import Response
from .faults import FaultError
from .k8s import K8sAdminError
from .state import SeedError


def _log_since(log, since):
    """Entries of the request log with seq > since. The log is appended under the state lock in seq
    order, so a binary search finds the first one: a poll of the newest entries costs what is new,
    not the whole log."""
    lo, hi = 0, len(log)
    while lo < hi:
        mid = (lo + hi) // 2
        if log[mid]["seq"] > since:
            hi = mid
        else:
            lo = mid + 1
    return log[lo:]


def _ok(obj, status=200):
    return Response(status, obj)


def _bad(msg, status=400):
    return Response(status, {"error": msg})


def _body(req):
    if not req.body:
        return {}
    try:
        return json.loads(req.body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as e:
        raise FaultError("admin: body is not valid JSON: %s" % e)


def handle(fake, req):
    st = fake.state
    path = req.path.rstrip("/")
    m = req.method
    try:
        if path == "/_fake/state" and m == "GET":
            d = st.snapshot(req.now)
            d["faults"] = fake.faults.to_json()
            d["ratelimit"] = fake.limiter.to_json()
            d["auth"] = dict(st.auth, **fake.auth.to_json(req.now))
            return _ok(d)
        if path == "/_fake/requests" and m == "GET":
            since = req.arg("since", "0")
            if not since.isdigit():
                return _bad("since must be a request sequence number (integer >= 0)")
            return _ok({"requests": _log_since(fake.log, int(since)), "last_seq": fake.seq})
        if path == "/_fake/faults":
            if m == "GET":
                return _ok({"faults": fake.faults.to_json()})
            if m == "DELETE":
                fake.faults.clear()
                released = st.release_stuck(req.now)
                return _ok({"faults": [], "released_stuck_tasks": released})
            if m == "POST":
                b = _body(req)
                specs = b if isinstance(b, list) else b.get("faults", [b]) if isinstance(b, dict) else None
                if not specs:
                    return _bad("POST /_fake/faults takes a rule, a list of rules or {\"faults\": [...]}")
                added = [fake.faults.add(s).to_json() for s in specs]
                return _ok({"added": added, "faults": fake.faults.to_json()})
        if path == "/_fake/ratelimit":
            if m == "POST":
                b = _body(req)
                try:
                    unknown = set(b) - {"qps", "burst", "retry_after", "window", "limit"}
                    if unknown:
                        return _bad("ratelimit: unknown key(s) %s; known: qps, burst, window, limit, "
                                    "retry_after" % sorted(unknown))
                    fake.limiter.configure(b.get("qps", 0), b.get("burst", 0), b.get("retry_after"),
                                           b.get("window"), b.get("limit"))
                except (TypeError, ValueError) as e:
                    return _bad(str(e))
            return _ok(fake.limiter.to_json())
        if path == "/_fake/timing":
            if m == "POST":
                b = _body(req)
                for k, v in b.items():
                    if k not in st.timing or isinstance(v, bool) or not isinstance(v, (int, float)) or v < 0:
                        return _bad("timing: %r is not one of %s with a number >= 0" % (k, sorted(st.timing)))
                st.timing.update(b)
            return _ok(st.timing)
        if path == "/_fake/auth":
            if m == "POST":
                b = _body(req)
                reset_lockout = b.pop("reset_lockout", True)
                for c in b.pop("credentials", []) or []:
                    st.credentials[c["ak"]] = c["sk"]
                for t in b.pop("tokens", []) or []:
                    st.tokens[t] = None
                for k, v in b.items():
                    if k not in st.auth:
                        return _bad("auth: %r is not one of %s" % (k, sorted(st.auth)))
                    st.auth[k] = v
                if reset_lockout:
                    fake.auth.failures.clear()
                    fake.auth.locked.clear()
            return _ok(dict(st.auth, **fake.auth.to_json(req.now)))
        if path == "/_fake/expect":
            if m == "DELETE":
                st.expect = None
            elif m == "POST":
                b = _body(req)
                r = b.get("removals")
                if r is not None and (not isinstance(r, list) or not all(isinstance(x, str) for x in r)):
                    return _bad("expect: removals must be a list of node ids/names (or null to clear)")
                st.expect = None if r is None else set(r)
            return _ok({"removals": sorted(st.expect) if st.expect is not None else None})
        if path == "/_fake/invariants" and m == "GET":
            return _ok(st.invariants())
        if path == "/_fake/k8s" or path.startswith("/_fake/k8s/"):
            try:
                return _k8s(fake, st, req, path, m)
            except (K8sAdminError, KeyError) as e:
                return _bad(str(e.args[0]) if e.args else "kubernetes admin request failed")
        if path == "/_fake/reset" and m == "POST":
            fake.reset()
            return _ok({"reset": True})
        if path == "/_fake/mutate" and m == "POST":
            b = _body(req)
            items = b if isinstance(b, list) else [b]
            try:
                return _ok({"results": [st.mutate(x, req.now) for x in items]})
            except (KeyError, SeedError) as e:
                return _bad(str(e.args[0]) if e.args else "mutate failed")
    except FaultError as e:
        return _bad(str(e))
    return _bad("unknown admin route %s %s (see contrib/fakecloud/README.md)" % (m, req.path), 404)


def _items(b, key):
    """A body with one object, a list, or {"<key>": [...]} (plus "cluster")."""
    if isinstance(b, list):
        return b
    if isinstance(b, dict) and key in b:
        v = b[key]
        return v if isinstance(v, list) else [v]
    return [b]


def _need_cluster(b):
    cid = b.get("cluster") if isinstance(b, dict) else None
    if not isinstance(cid, str):
        raise K8sAdminError("the body needs \"cluster\": the id of an ACK or CCE cluster")
    return cid


def _k8s(fake, st, req, path, m):
    """The emulated Kubernetes API's admin routes (README "Kubernetes admin API")."""
    model = st.k8s
    ep = st.k8s_endpoint
    if path == "/_fake/k8s" and m == "GET":
        return _ok({"enabled": ep is not None and model.enabled,
                    "host": ep["host"] if ep else None, "port": ep["port"] if ep else None,
                    "ca": ep["authority"].ca_pem.decode() if ep else None,
                    "urls": {cid: model.url(cid) for cid in model.clusters} if ep else {},
                    "timing": model.timing, "daemonsets": model.daemonsets,
                    "never_ready_next": model.never_ready_next})
    if path == "/_fake/k8s/state" and m == "GET":
        cid = req.arg("cluster")
        return _ok(model.snapshot(cid, req.now))
    if path == "/_fake/k8s/timing":
        if m == "POST":
            b = _body(req)
            if not isinstance(b, dict):
                raise K8sAdminError("timing: send an object")
            if "never_ready_next" in b:
                v = b.pop("never_ready_next")
                if isinstance(v, bool) or not isinstance(v, int) or v < 0:
                    raise K8sAdminError("never_ready_next must be an integer >= 0")
                model.never_ready_next = v
            if "test_credential_seconds" in b:
                v = b.pop("test_credential_seconds")
                if v is not None and (isinstance(v, bool) or not isinstance(v, (int, float)) or v < 0):
                    raise K8sAdminError("test_credential_seconds must be a number of seconds >= 0, or null")
                model.test_credential_seconds = v or None
            model.set_timing(b)
        return _ok(dict(model.timing, never_ready_next=model.never_ready_next,
                        test_credential_seconds=model.test_credential_seconds))
    if path == "/_fake/k8s/pods":
        b = _body(req)
        cid = _need_cluster(b)
        if m == "POST":
            return _ok({"pods": [model.add_pod(cid, p, req.now) for p in _items(b, "pods")]})
        if m == "DELETE":
            return _ok(model.delete_pod_admin(cid, b.get("namespace", "default"), b.get("name")))
    if path == "/_fake/k8s/pdbs":
        b = _body(req)
        cid = _need_cluster(b)
        if m == "POST":
            return _ok({"pdbs": [model.add_pdb(cid, p, req.now) for p in _items(b, "pdbs")]})
        if m == "DELETE":
            return _ok(model.delete_pdb_admin(cid, b.get("namespace", "default"), b.get("name")))
    if path == "/_fake/k8s/nodes" and m == "POST":
        b = _body(req)
        out = []
        for x in _items(b, "nodes"):
            cid = x.get("cluster") if isinstance(x, dict) and "cluster" in x else _need_cluster(b)
            if not isinstance(x, dict):
                raise K8sAdminError("each node change is an object like {\"node\": name, \"labels\": {...}}")
            out.append(model.set_node_admin(cid, x, req.now))
        return _ok({"nodes": out})
    if path == "/_fake/k8s/continue" and m == "POST":
        return _ok(model.expire_continue(_need_cluster(_body(req))))
    if path == "/_fake/k8s/credentials":
        if m == "GET":
            return _ok({"credentials": model.creds_json(req.arg("cluster"))})
        if m == "POST":
            b = _body(req)
            action = b.get("action")
            if action in ("expire", "revoke"):
                n = model.expire_creds(b.get("cluster"), b.get("id"), req.now, revoke=action == "revoke")
                return _ok({action + "d": n})
            if action == "issue":
                cid = _need_cluster(b)
                model._cluster(cid)
                kind = b.get("auth", "cert")
                secs = b.get("seconds", 3600)
                if kind not in ("cert", "token") or isinstance(secs, bool) or not isinstance(secs, (int, float)) \
                        or secs <= 0:
                    raise K8sAdminError("issue: auth must be cert or token and seconds a number > 0")
                cred = model.issue(cid, kind, float(secs), req.now, "admin", b.get("user"))
                return _ok({"kubeconfig": model.kubeconfig_yaml(cid, cred, user=b.get("user")),
                            "expiration": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(req.now + float(secs)))})
            raise K8sAdminError("credentials: action must be issue, expire or revoke")
    return _bad("unknown admin route %s %s (see contrib/fakecloud/README.md)" % (m, req.path), 404)
