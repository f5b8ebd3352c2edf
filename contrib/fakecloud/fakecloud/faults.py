"""Fault rules: per route (operation name or METHOD+path regex), per count or probability."""

import random
import re

PRE = ("throttle", "500", "502", "503", "reset_before", "late")
JOB = ("job_fail", "job_stuck", "subjob_fail")
POST = ("reset_after", "slow", "malformed", "truncated")
KINDS = PRE + JOB + POST


class FaultError(ValueError):
    pass


class Rule:
    def __init__(self, spec, rid):
        if not isinstance(spec, dict):
            raise FaultError("fault rule must be an object like {\"route\": \"DescribeClusterNodes\", "
                             "\"fault\": \"503\", \"count\": 1}")
        self.id = rid
        self.route = str(spec.get("route", ".*"))
        self.fault = str(spec.get("fault", ""))
        if self.fault not in KINDS:
            raise FaultError("fault %r is not one of %s" % (self.fault, ", ".join(KINDS)))
        self.count = spec.get("count")
        if self.count is not None and (not isinstance(self.count, int) or self.count < 0):
            raise FaultError("fault count must be a non-negative integer or absent (= every time)")
        self.probability = float(spec.get("probability", 1.0))
        if not 0.0 <= self.probability <= 1.0:
            raise FaultError("fault probability must be within 0..1")
        self.retry_after = spec.get("retry_after")
        self.delay = float(spec.get("delay", 2.0))
        # 5xx after processing (the mutation happened, the client sees an error)
        self.after = bool(spec.get("after", False))
        # subjob_fail: how many of the job's nodes fail while the job itself succeeds
        self.nodes = spec.get("nodes", 1)
        if not isinstance(self.nodes, int) or isinstance(self.nodes, bool) or self.nodes < 1:
            raise FaultError("fault nodes must be a positive integer (subjob_fail)")
        self.hits = 0
        try:
            self.regex = re.compile(self.route)
        except re.error as e:
            raise FaultError("fault route %r is neither an operation name nor a valid regex: %s" % (self.route, e))

    @property
    def phase(self):
        if self.fault in JOB:
            return "job"
        if self.fault in POST or (self.after and self.fault in ("500", "502", "503")):
            return "post"
        return "pre"

    def matches(self, op, method, path, cloud=None):
        """An operation name ("ShowNodePool", or "modelarts.ShowNodePool" for one cloud) matches only
        that operation; anything else is a regex searched in "METHOD /path" (e.g. "^DELETE /v2/")."""
        if self.route == op or (cloud and self.route == "%s.%s" % (cloud, op)):
            return True
        if "." in self.route and self.route.split(".", 1)[0] in ("ack", "cce", "modelarts", "k8s") \
                and self.route.split(".", 1)[1].isidentifier():
            return False
        if self.route.isidentifier():
            return False
        return self.regex.search("%s %s" % (method, path)) is not None

    def to_json(self):
        return {"id": self.id, "route": self.route, "fault": self.fault, "count": self.count,
                "probability": self.probability, "retry_after": self.retry_after, "delay": self.delay,
                "after": self.after, "nodes": self.nodes, "hits": self.hits}


class Faults:
    """Not thread-safe: callers hold State.lock."""

    def __init__(self, seed=0):
        self.rules = []
        self.next_id = 1
        self.rng = random.Random(seed)

    def add(self, spec):
        r = Rule(spec, self.next_id)
        self.next_id += 1
        self.rules.append(r)
        return r

    def clear(self):
        self.rules = []

    def fire(self, phase, op, method, path, mutating, cloud=None):
        """First rule of `phase` that matches and triggers; consumes one count. None if nothing fires."""
        for r in self.rules:
            if r.phase != phase or (r.count is not None and r.count <= 0):
                continue
            if phase == "job" and not mutating:
                continue
            if not r.matches(op, method, path, cloud):
                continue
            if r.probability < 1.0 and self.rng.random() >= r.probability:
                continue
            if r.count is not None:
                r.count -= 1
            r.hits += 1
            return r
        return None

    def to_json(self):
        return [r.to_json() for r in self.rules]
