"""Admin API under /_fake/ (JSON in, JSON out; not authenticated, not logged, not rate limited).

Called with State.lock held and time already advanced.
"""

import json

from .common import Response
from .faults import FaultError
from .state import SeedError


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
            return _ok({"requests": [e for e in fake.log if e["seq"] > int(since)], "last_seq": fake.seq})
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
                    fake.limiter.configure(b.get("qps", 0), b.get("burst", 0), b.get("retry_after"))
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
