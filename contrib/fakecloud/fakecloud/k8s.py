"""The Kubernetes API of every ACK and CCE cluster: nodes mirroring the cloud's, pods, PodDisruptionBudgets.

The subset nodeherd needs (../../shared/api/kubernetes.md), shaped as the
real API server sends it (https://kubernetes.io/docs/reference/kubernetes-api/):
core/v1 Node (list with limit/continue, get, merge/strategic/JSON patch),
Pod (list across or within namespaces with fieldSelector spec.nodeName /
labelSelector and paging, get, delete), the Eviction subresource
(policy/v1) and policy/v1 PodDisruptionBudget (list, get). Errors are
metav1 Status objects.

All clusters are served by one HTTPS listener (server.py); a cluster's
kubeconfig points at https://127.0.0.1:PORT/k8s/<cluster-id>. This module is
the model and the handlers; it runs under State.lock like the clouds.

Time moves through State.schedule(): a new cloud node appears in Kubernetes
`node_appear_seconds` after its creation started and turns Ready
`node_ready_seconds` later; an evicted or deleted pod terminates after
`pod_termination_seconds`; a controller-owned pod comes back on another
schedulable node `pod_recreate_seconds` later.
"""

import base64
import bisect
import hashlib
import random
import re
import time
import uuid

DEFAULT_TIMING = {"node_appear_seconds": 0.5, "node_ready_seconds": 0.5, "pod_termination_seconds": 0.3,
                  "pod_recreate_seconds": 0.5, "continue_ttl_seconds": 300.0}
DEFAULT_DAEMONSETS = [{"namespace": "kube-system", "name": "kube-proxy"}]
KUBELET_VERSION = "v1.30.1"

PROTECT_LABEL = "nodeherd.io/protect"
CA_SCALE_DOWN_DISABLED = "cluster-autoscaler.kubernetes.io/scale-down-disabled"
CA_SAFE_TO_EVICT = "cluster-autoscaler.kubernetes.io/safe-to-evict"
KARPENTER_DO_NOT_DISRUPT = "karpenter.sh/do-not-disrupt"
MIRROR_ANNOTATION = "kubernetes.io/config.mirror"
UNSCHEDULABLE_TAINT = "node.kubernetes.io/unschedulable"
NOT_READY_TAINT = "node.kubernetes.io/not-ready"
UNREACHABLE_TAINT = "node.kubernetes.io/unreachable"
CONTROLLER_TAINTS = (UNSCHEDULABLE_TAINT, NOT_READY_TAINT, UNREACHABLE_TAINT)
OWNER_API = {"ReplicaSet": "apps/v1", "DaemonSet": "apps/v1", "StatefulSet": "apps/v1", "Deployment": "apps/v1",
             "Job": "batch/v1", "ReplicationController": "v1", "Node": "v1"}
FINISHED = ("Succeeded", "Failed")
DEFAULT_NODE_ANNOTATIONS = {"node.alpha.kubernetes.io/ttl": "0",
                            "volumes.kubernetes.io/controller-managed-attach-detach": "true"}
NAME_RX = re.compile(r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$")


def ts(t):
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


class K8sError(Exception):
    """Rendered as a metav1 Status with this HTTP code."""

    def __init__(self, code, reason, message, details=None, metadata=None, headers=None):
        super().__init__(message)
        self.code, self.reason, self.message = code, reason, message
        self.details, self.metadata = details, metadata
        self.headers = headers or {}

    def body(self):
        b = {"kind": "Status", "apiVersion": "v1", "metadata": self.metadata or {}, "status": "Failure",
             "message": self.message, "reason": self.reason, "code": self.code}
        if self.details is not None:
            b["details"] = self.details
        return b


class K8sAdminError(ValueError):
    """A bad admin/seed request about Kubernetes objects; the message names the key and the fix."""


def not_found(kind, name):
    return K8sError(404, "NotFound", '%s "%s" not found' % (kind, name), {"name": name, "kind": kind})


def bad_request(msg):
    return K8sError(400, "BadRequest", msg)


def clean_taints(taints, name):
    """User taints of a node (the node lifecycle controller's own keys are dropped: it re-adds them)."""
    if not isinstance(taints, list):
        raise K8sError(422, "Invalid", 'Node "%s" is invalid: spec.taints: must be a list' % name)
    out = []
    for t in taints:
        if not isinstance(t, dict) or not isinstance(t.get("key"), str) or \
                t.get("effect") not in ("NoSchedule", "PreferNoSchedule", "NoExecute"):
            raise K8sError(422, "Invalid", 'Node "%s" is invalid: spec.taints: each taint needs a key and an '
                           'effect (NoSchedule, PreferNoSchedule, NoExecute)' % name)
        if t["key"] in CONTROLLER_TAINTS:
            continue
        out.append({k: t[k] for k in ("key", "value", "effect", "timeAdded") if k in t})
    return out


def _uid(*parts):
    return str(uuid.UUID(hashlib.sha256("\x00".join(parts).encode()).hexdigest()[:32], version=4))


# ---------------------------------------------------------------------- objects


class KNode:
    def __init__(self, name, cloud_id, now, ready):
        self.name = name
        self.cloud_id = cloud_id
        self.uid = str(uuid.uuid4())
        self.created = now
        self.ready = ready              # the kubelet has reported Ready once (timing), see ready_state()
        self.ready_since = now
        self.unschedulable = False
        self.cloud_cordon = False       # cordoned by the cloud's own removal (undone if the removal fails)
        self.taints = []                # user taints (the controller's are added when rendered)
        self.rv = 0


class Pod:
    def __init__(self, ns, name, node, now, owner=None, labels=None, annotations=None, phase="Running",
                 template=None):
        self.ns, self.name = ns, name
        self.uid = str(uuid.uuid4())
        self.node = node or ""
        self.owner = owner              # {"kind", "name", "uid", "controller"} or None
        self.labels = dict(labels or {})
        self.annotations = dict(annotations or {})
        self.phase = phase if self.node else "Pending"
        self.created = now
        self.deleting_at = None         # deletionTimestamp (the moment it was asked to go)
        self.gone_at = None
        self.rv = 0
        self.template = template        # how to make its replacement

    @property
    def key(self):
        return (self.ns, self.name)

    @property
    def kind(self):
        return self.owner["kind"] if self.owner else None

    @property
    def mirror(self):
        return MIRROR_ANNOTATION in self.annotations

    def evictable(self):
        """Counts for nodes_removed_with_evictable_pods: not DaemonSet, not mirror, not finished."""
        return self.kind != "DaemonSet" and not self.mirror and self.phase not in FINISHED


class Pdb:
    def __init__(self, ns, name, spec, now):
        self.ns, self.name = ns, name
        self.uid = str(uuid.uuid4())
        self.created = now
        self.rv = 0
        sel = spec.get("selector", {"matchLabels": spec.get("match_labels") or {}})
        if not isinstance(sel, dict) or not isinstance(sel.get("matchLabels", {}), dict):
            raise K8sAdminError("pdb %s/%s: selector must be {\"matchLabels\": {...}}" % (ns, name))
        self.selector = {"matchLabels": dict(sel.get("matchLabels") or {})}
        self.min_available = spec.get("minAvailable")
        self.max_unavailable = spec.get("maxUnavailable")
        for k, v in (("minAvailable", self.min_available), ("maxUnavailable", self.max_unavailable)):
            if v is not None and not (isinstance(v, int) and not isinstance(v, bool) and v >= 0) \
                    and not (isinstance(v, str) and re.match(r"^[0-9]{1,3}%$", v)):
                raise K8sAdminError("pdb %s/%s: %s must be an integer >= 0 or a percentage like \"50%%\""
                                    % (ns, name, k))
        rs = spec.get("refuse_seconds")
        ra = spec.get("refuse_attempts")
        for k, v in (("refuse_seconds", rs), ("refuse_attempts", ra)):
            if v is not None and (isinstance(v, bool) or not isinstance(v, (int, float)) or v < 0):
                raise K8sAdminError("pdb %s/%s: %s must be a number >= 0" % (ns, name, k))
        self.refuse_until = now + float(rs) if rs is not None else None
        self.refuse_attempts = int(ra) if ra is not None else None
        self.refuse = bool(spec.get("refuse", False))     # refuse every eviction until changed
        self.attempts = 0

    def matches(self, pod):
        return pod.ns == self.ns and all(pod.labels.get(k) == v for k, v in self.selector["matchLabels"].items())

    @property
    def scripted(self):
        return self.refuse or self.refuse_until is not None or self.refuse_attempts is not None


class KCluster:
    def __init__(self, cl):
        self.cid = cl.id
        self.cloud = cl.cloud
        self.nodes = {}          # name -> KNode
        self.node_names = []     # sorted
        self.by_cloud = {}       # cloud node id -> name
        self.pods = {}           # (ns, name) -> Pod
        self.pod_keys = []       # sorted
        self.pods_by_node = {}   # node name -> set of keys
        self.pending = []        # keys of unscheduled pods
        self.pdbs = {}           # (ns, name) -> Pdb
        self.rv = 100
        self.gen = 0             # continue tokens issued before a bump of gen are expired (410)

    def bump(self):
        self.rv += 1
        return self.rv


class Cred:
    def __init__(self, kind, key, cluster, user, issued, expires, origin):
        self.kind, self.key, self.cluster, self.user = kind, key, cluster, user
        self.issued, self.expires, self.origin = issued, expires, origin
        self.revoked = False

    def label(self):
        if self.kind == "cert":
            return "cert:%s" % self.key
        return "token:" + hashlib.sha256(self.key.encode()).hexdigest()[:12]

    def to_json(self):
        return {"kind": self.kind, "id": self.label(), "cluster": self.cluster, "user": self.user,
                "origin": self.origin, "issued": ts(self.issued), "expires": ts(self.expires),
                "revoked": self.revoked}


# ---------------------------------------------------------------------- the model


class K8sModel:
    """All clusters' Kubernetes objects. Lives in State (reset with it); the HTTPS endpoint and its CA
    live in State.k8s_endpoint (set by the server, survives resets)."""

    def __init__(self, st, cfg, now):
        self.st = st
        cfg = cfg or {}
        if not isinstance(cfg, dict):
            raise K8sAdminError("kubernetes must be an object")
        self.cfg = cfg
        self.enabled = bool(cfg.get("enabled", True))
        self.timing = dict(DEFAULT_TIMING)
        self.set_timing(cfg.get("timing") or {})
        self.daemonsets = list(cfg.get("daemonsets", DEFAULT_DAEMONSETS) or [])
        self.never_ready_next = int(cfg.get("never_ready_next", 0) or 0)
        # TEST-ONLY (not cloud behaviour): when set, the kubeconfigs the two credential operations hand out
        # last this many seconds whatever was asked, so that renewals can be tested in seconds
        self.test_credential_seconds = None
        self.clusters = {}
        self.certs = {}          # serial (int) -> Cred
        self.tokens = {}         # token -> Cred
        # its own generator: pod names never shift the cloud's deterministic node ids
        self.rng = random.Random("k8s:" + str(sorted(cfg.items())))

    # ------------------------------------------------------------------ setup

    def set_timing(self, t):
        for k, v in t.items():
            if k not in DEFAULT_TIMING or isinstance(v, bool) or not isinstance(v, (int, float)) or v < 0:
                raise K8sAdminError("kubernetes timing: %r is not one of %s with a number >= 0"
                                    % (k, sorted(DEFAULT_TIMING)))
        self.timing.update({k: float(v) for k, v in t.items()})

    def add_cluster(self, cl):
        if cl.cloud in ("ack", "cce") and self.enabled:
            self.clusters[cl.id] = KCluster(cl)

    def load_objects(self, now):
        """Seeded pods and PDBs (after the nodes)."""
        for cid, c in (self.cfg.get("clusters") or {}).items():
            if cid not in self.clusters:
                raise K8sAdminError("clusters: %s is not an ACK or CCE cluster of the seed" % cid)
            for p in c.get("pods") or []:
                self.add_pod(cid, p, now)
            for p in c.get("pdbs") or []:
                self.add_pdb(cid, p, now)

    def endpoint(self):
        return getattr(self.st, "k8s_endpoint", None)

    def url(self, cid, external=False):
        ep = self.endpoint()
        return "https://%s:%d/k8s/%s%s" % (ep["host"], ep["port"], cid, "/external" if external else "")

    def _rand(self, n):
        return "".join(self.rng.choice("bcdfghjklmnpqrstvwxz2456789") for _ in range(n))

    # ------------------------------------------------------------------ naming

    def kname(self, n):
        cl = self.st.clusters[n.cluster]
        if n.cloud == "cce" and cl.k8s_node_name == "ip":
            return n.ip
        return n.name

    def provider_id(self, n):
        cl = self.st.clusters[n.cluster]
        if n.cloud == "ack":
            return "%s.%s" % (cl.region, n.id)          # what ACK's cloud controller writes
        return "cce://%s" % (n.server_id or n.id)      # emulator choice: carries the ECS server id

    def lookup(self, cid, key):
        """Kubernetes node by its name, or by the cloud node's id or name."""
        kc = self.clusters.get(cid)
        if kc is None:
            return None, None
        if key in kc.nodes:
            return kc, kc.nodes[key]
        n = self.st.node_by_key(key)
        if n is not None and n.cluster == cid and n.id in kc.by_cloud:
            return kc, kc.nodes[kc.by_cloud[n.id]]
        return kc, None

    # ------------------------------------------------------------------ hooks from the cloud model

    def node_added(self, n, now, seeded):
        kc = self.clusters.get(n.cluster)
        if kc is None:
            return
        if self.never_ready_next > 0 and not seeded:
            self.never_ready_next -= 1
            n.never_ready = True
        if seeded and n.status in ("running", "removing"):
            self._appear(kc, n, now, ready=True)
        elif n.status == "creating":
            when = max(now, n.created + self.timing["node_appear_seconds"])
            self.st.schedule(when, self._appear_due, kc.cid, n.id)

    def _appear_due(self, when, cid, nid):
        kc = self.clusters.get(cid)
        n = self.st.nodes.get(nid)
        if kc is None or n is None or n.status == "failed" or nid in kc.by_cloud:
            return
        kn = self._appear(kc, n, when, ready=False)
        self.st.schedule(when + self.timing["node_ready_seconds"], self._ready_due, cid, kn.name, kn.uid)

    def _ready_due(self, when, cid, name, uid):
        kc = self.clusters.get(cid)
        kn = kc.nodes.get(name) if kc else None
        if kn is None or kn.uid != uid or kn.ready:
            return
        kn.ready, kn.ready_since = True, when
        kn.rv = kc.bump()
        self._place_pending(kc, when)

    def _appear(self, kc, n, now, ready):
        name = self.kname(n)
        if name in kc.nodes:
            return kc.nodes[name]
        kn = KNode(name, n.id, now, ready)
        kn.rv = kc.bump()
        kc.nodes[name] = kn
        bisect.insort(kc.node_names, name)
        kc.by_cloud[n.id] = name
        kc.pods_by_node.setdefault(name, set())
        for ds in self.daemonsets:
            self._new_pod(kc, ds.get("namespace", "kube-system"),
                          "%s-%s" % (ds["name"], self._rand(5)), name, now,
                          owner=self._owner(kc, "DaemonSet", ds["name"]),
                          labels={"app": ds["name"]}, annotations={})
        if ready:
            self._place_pending(kc, now)
        return kn

    def ready_of(self, n):
        """The Ready condition status of the cloud node's Kubernetes node, or None if it has none."""
        kc = self.clusters.get(n.cluster)
        if kc is None or n.id not in kc.by_cloud:
            return None
        return self.ready_state(kc.nodes[kc.by_cloud[n.id]], n)[0]

    def removal_started(self, n, cause, seq, op, now, drain=False):
        kc = self.clusters.get(n.cluster)
        kn = None
        if kc is not None and n.id in kc.by_cloud:
            kn = kc.nodes[kc.by_cloud[n.id]]
        if cause != "mutate" and kc is not None:
            why = []
            if str(n.labels.get(PROTECT_LABEL, "")).lower() == "true":
                why.append("label %s=true" % PROTECT_LABEL)
            for a in (CA_SCALE_DOWN_DISABLED, KARPENTER_DO_NOT_DISRUPT):
                if str(n.annotations.get(a, "")).lower() == "true":
                    why.append("annotation %s: \"true\"" % a)
            if kn is not None:
                # pods that forbid draining their node (kubernetes.md: safe-to-evict "false", do-not-disrupt)
                for k in sorted(kc.pods_by_node.get(kn.name, ())):
                    p = kc.pods[k]
                    if p.phase in FINISHED:
                        continue
                    if str(p.annotations.get(CA_SAFE_TO_EVICT, "")).lower() == "false":
                        why.append("pod %s/%s annotation %s: \"false\"" % (p.ns, p.name, CA_SAFE_TO_EVICT))
                    if str(p.annotations.get(KARPENTER_DO_NOT_DISRUPT, "")).lower() == "true":
                        why.append("pod %s/%s annotation %s: \"true\"" % (p.ns, p.name, KARPENTER_DO_NOT_DISRUPT))
            if why:
                self.st.violation("protected_nodes_removed", seq, op,
                                  {"cluster": n.cluster, "node": n.id, "name": n.name, "cause": cause,
                                   "why": "; ".join(why)})
            if kn is not None:
                pods = [kc.pods[k] for k in sorted(kc.pods_by_node.get(kn.name, ()))]
                live = [p for p in pods if p.evictable()]
                if drain:
                    # ACK drain_node: the cloud evicts the pods itself (emulator: without PDB checks)
                    for p in live:
                        self._terminate(kc, p, now)
                    live = []
                if live:
                    self.st.violation("nodes_removed_with_evictable_pods", seq, op,
                                      {"cluster": n.cluster, "node": n.id, "name": kn.name, "cause": cause,
                                       "pods": ["%s/%s" % p.key for p in live]})
        if kn is not None and not kn.unschedulable:
            # Both clouds mark a node unschedulable as its removal starts (ACK DeleteClusterNodes page,
            # CCE "Deleting a Node": "the backend will set the node to the unschedulable state").
            kn.unschedulable, kn.cloud_cordon = True, True
            kn.rv = kc.bump()

    def removal_undone(self, n):
        kc, kn = self.lookup(n.cluster, n.id)
        if kn is not None and kn.cloud_cordon:
            kn.unschedulable, kn.cloud_cordon = False, False
            kn.rv = kc.bump()

    def node_changed(self, n, now):
        kc, kn = self.lookup(n.cluster, n.id)
        if kn is not None:
            kn.rv = kc.bump()
            self._place_pending(kc, now)

    def node_gone(self, n, now):
        """The cloud removed the node: its Kubernetes node goes, with its pods (controller-owned ones are
        recreated elsewhere, like the pod garbage collector and the ReplicaSet controller would)."""
        kc = self.clusters.get(n.cluster)
        if kc is None or n.id not in kc.by_cloud:
            return
        name = kc.by_cloud.pop(n.id)
        kn = kc.nodes.pop(name)
        i = bisect.bisect_left(kc.node_names, name)
        if i < len(kc.node_names) and kc.node_names[i] == name:
            del kc.node_names[i]
        for key in sorted(kc.pods_by_node.pop(name, ())):
            pod = kc.pods.get(key)
            if pod is not None:
                self._remove_pod(kc, pod)
                self._replace(kc, pod, now, gone_node=name)
        del kn
        kc.bump()

    def cordoned_nodes(self):
        """(cluster, node) of cordoned Kubernetes nodes still present, not counting those the cloud is
        removing (they are on their way out)."""
        out = []
        for cid, kc in self.clusters.items():
            for name in kc.node_names:
                kn = kc.nodes[name]
                n = self.st.nodes.get(kn.cloud_id)
                if kn.unschedulable and not (n is not None and n.status == "removing"):
                    out.append((cid, name))
        return out

    # ------------------------------------------------------------------ pods

    def _owner(self, kc, kind, name, controller=True):
        return {"kind": kind, "name": name, "uid": _uid(kc.cid, kind, name), "controller": controller}

    def _new_pod(self, kc, ns, name, node, now, owner=None, labels=None, annotations=None, phase="Running",
                 template=None):
        pod = Pod(ns, name, node, now, owner, labels, annotations, phase, template)
        pod.rv = kc.bump()
        kc.pods[pod.key] = pod
        bisect.insort(kc.pod_keys, pod.key)
        if pod.node:
            kc.pods_by_node.setdefault(pod.node, set()).add(pod.key)
        else:
            kc.pending.append(pod.key)
        return pod

    def _remove_pod(self, kc, pod):
        kc.pods.pop(pod.key, None)
        i = bisect.bisect_left(kc.pod_keys, pod.key)
        if i < len(kc.pod_keys) and kc.pod_keys[i] == pod.key:
            del kc.pod_keys[i]
        if pod.node:
            kc.pods_by_node.get(pod.node, set()).discard(pod.key)
        kc.bump()

    def _schedulable(self, kc, now, exclude=None):
        """Ready, schedulable nodes whose cloud node is not being removed, least loaded first."""
        out = []
        for name in kc.node_names:
            kn = kc.nodes[name]
            n = self.st.nodes.get(kn.cloud_id)
            if name == exclude or kn.unschedulable or n is None or n.status == "removing":
                continue
            if self.ready_state(kn, n)[0] != "True":
                continue
            out.append((len(kc.pods_by_node.get(name, ())), name))
        return [name for _, name in sorted(out)]

    def _place_pending(self, kc, now):
        if not kc.pending:
            return
        still = []
        for key in kc.pending:
            pod = kc.pods.get(key)
            if pod is None or pod.node:
                continue
            nodes = self._schedulable(kc, now)
            if not nodes:
                still.append(key)
                continue
            pod.node, pod.phase = nodes[0], "Running"
            pod.rv = kc.bump()
            kc.pods_by_node.setdefault(pod.node, set()).add(key)
        kc.pending = still

    def _terminate(self, kc, pod, now, grace=None):
        """Graceful deletion: deletionTimestamp now, gone after the grace period."""
        if pod.deleting_at is None:
            pod.deleting_at = now
            g = self.timing["pod_termination_seconds"] if grace is None else grace
            pod.gone_at = now + g
            pod.rv = kc.bump()
            self.st.schedule(pod.gone_at, self._pod_gone_due, kc.cid, pod.key, pod.uid)

    def _pod_gone_due(self, when, cid, key, uid):
        kc = self.clusters.get(cid)
        pod = kc.pods.get(key) if kc else None
        if pod is None or pod.uid != uid:
            return
        self._remove_pod(kc, pod)
        self._replace(kc, pod, when)

    def _replace(self, kc, pod, now, gone_node=None):
        """What brings a pod back after it went: the kubelet (mirror pods), the DaemonSet controller (same
        node), another controller (a new pod on another schedulable node), nothing (bare pods)."""
        kind = pod.kind
        if pod.phase in FINISHED:
            return                      # a finished pod (a Job's) is not run again
        if pod.mirror:
            if gone_node is None and pod.node in kc.nodes:
                self._new_pod(kc, pod.ns, pod.name, pod.node, now, pod.owner, pod.labels, pod.annotations)
            return
        if kind == "DaemonSet":
            if gone_node is None:
                self.st.schedule(now + self.timing["pod_recreate_seconds"], self._recreate_due, kc.cid,
                                 pod.ns, pod.name, pod.owner, pod.labels, pod.annotations, pod.node)
            return
        if kind is None or kind == "Node" or not pod.owner.get("controller", True):
            return
        self.st.schedule(now + self.timing["pod_recreate_seconds"], self._recreate_due, kc.cid, pod.ns, pod.name,
                         pod.owner, pod.labels, pod.annotations, None)

    def _recreate_due(self, when, cid, ns, old_name, owner, labels, annotations, node):
        kc = self.clusters.get(cid)
        if kc is None:
            return
        kind = owner["kind"]
        if kind == "DaemonSet":
            if node not in kc.nodes:
                return
            name = "%s-%s" % (owner["name"], self._rand(5))
        else:
            name = old_name if kind == "StatefulSet" else "%s-%s" % (owner["name"], self._rand(5))
            nodes = self._schedulable(kc, when)
            node = nodes[0] if nodes else ""
        if (ns, name) in kc.pods:
            name = "%s-%s" % (owner["name"], self._rand(6))
        self._new_pod(kc, ns, name, node, when, owner, labels, annotations)

    # ------------------------------------------------------------------ admin: pods, PDBs, nodes

    def _cluster(self, cid):
        kc = self.clusters.get(cid)
        if kc is None:
            raise K8sAdminError("unknown cluster %r: use the id of an ACK or CCE cluster from /_fake/state" % (cid,))
        return kc

    def add_pod(self, cid, spec, now):
        kc = self._cluster(cid)
        if not isinstance(spec, dict):
            raise K8sAdminError("a pod is an object like {\"namespace\": \"default\", \"name\": \"web-1\", "
                                "\"node\": \"<node>\", \"owner\": \"ReplicaSet\"}")
        ns = spec.get("namespace", "default")
        owner = spec.get("owner")
        if isinstance(owner, str):
            owner = {"kind": owner}
        if owner is not None:
            if not isinstance(owner, dict) or owner.get("kind") not in OWNER_API:
                raise K8sAdminError("pod owner must be null, a kind (%s) or {\"kind\", \"name\", \"controller\"}"
                                    % ", ".join(sorted(OWNER_API)))
            oname = owner.get("name") or "%s-%s" % (spec.get("app") or "app", owner["kind"].lower())
            owner = self._owner(kc, owner["kind"], oname, bool(owner.get("controller", True)))
        node = spec.get("node")
        nodename = ""
        if node:
            _, kn = self.lookup(cid, node)
            if kn is None:
                raise K8sAdminError("pod node %r is not a Kubernetes node of cluster %s (yet): use a name from "
                                    "/_fake/k8s/state?cluster=%s" % (node, cid, cid))
            nodename = kn.name
        annotations = dict(spec.get("annotations") or {})
        if spec.get("mirror"):
            annotations.setdefault(MIRROR_ANNOTATION, hashlib.sha256(str(spec).encode()).hexdigest()[:32])
            if nodename:
                owner = {"kind": "Node", "name": nodename, "uid": kc.nodes[nodename].uid, "controller": True}
        name = spec.get("name") or "%s-%s" % ((owner or {}).get("name") or "pod", self._rand(5))
        if not NAME_RX.match(ns) or not NAME_RX.match(name):
            raise K8sAdminError("pod %s/%s: namespace and name must be lower-case DNS names" % (ns, name))
        if (ns, name) in kc.pods:
            raise K8sAdminError("pod %s/%s already exists in cluster %s" % (ns, name, cid))
        phase = spec.get("phase", "Running")
        if phase not in ("Pending", "Running", "Succeeded", "Failed", "Unknown"):
            raise K8sAdminError("pod phase must be Pending, Running, Succeeded, Failed or Unknown")
        labels = spec.get("labels") or {}
        if not isinstance(labels, dict) or not isinstance(annotations, dict):
            raise K8sAdminError("pod labels and annotations must be objects of strings")
        pod = self._new_pod(kc, ns, name, nodename, now, owner, labels, annotations, phase)
        return self.pod_json(kc, pod)

    def delete_pod_admin(self, cid, ns, name):
        kc = self._cluster(cid)
        pod = kc.pods.get((ns, name))
        if pod is None:
            raise K8sAdminError("no pod %s/%s in cluster %s" % (ns, name, cid))
        self._remove_pod(kc, pod)
        return {"deleted": "%s/%s" % (ns, name)}

    def add_pdb(self, cid, spec, now):
        kc = self._cluster(cid)
        if not isinstance(spec, dict) or not spec.get("name"):
            raise K8sAdminError("a pdb is an object like {\"namespace\": \"default\", \"name\": \"web\", "
                                "\"selector\": {\"matchLabels\": {\"app\": \"web\"}}, \"refuse_seconds\": 5}")
        ns = spec.get("namespace", "default")
        pdb = Pdb(ns, spec["name"], spec, now)
        pdb.rv = kc.bump()
        kc.pdbs[(ns, pdb.name)] = pdb
        return self.pdb_json(kc, pdb, now)

    def delete_pdb_admin(self, cid, ns, name):
        kc = self._cluster(cid)
        if kc.pdbs.pop((ns, name), None) is None:
            raise K8sAdminError("no pdb %s/%s in cluster %s" % (ns, name, cid))
        kc.bump()
        return {"deleted": "%s/%s" % (ns, name)}

    def set_node_admin(self, cid, spec, now):
        kc = self._cluster(cid)
        key = spec.get("node")
        n = self.st.find_node(cid, key) if isinstance(key, str) else None
        _, kn = self.lookup(cid, key) if isinstance(key, str) else (None, None)
        if n is None and kn is not None:
            n = self.st.nodes.get(kn.cloud_id)
        if n is None:
            raise K8sAdminError("unknown node %r in cluster %s (a Kubernetes node name, or a cloud node id/name)"
                                % (key, cid))
        for k in ("labels", "annotations"):
            if k in spec:
                v = spec[k]
                if not isinstance(v, dict):
                    raise K8sAdminError("%s must be an object; a null value removes the key" % k)
                d = getattr(n, k)
                for kk, vv in v.items():
                    if vv is None:
                        d.pop(kk, None)
                    else:
                        d[kk] = str(vv)
        if "never_ready" in spec:
            n.never_ready = bool(spec["never_ready"])
        if kn is not None:
            if "unschedulable" in spec:
                kn.unschedulable = bool(spec["unschedulable"])
                kn.cloud_cordon = False
            if "taints" in spec:
                try:
                    kn.taints = clean_taints(spec["taints"], kn.name)
                except K8sError as e:
                    raise K8sAdminError(e.message)
            if spec.get("ready") is True and not kn.ready:
                kn.ready, kn.ready_since = True, now
            kn.rv = kc.bump()
            self._place_pending(kc, now)
        return {"node": self.node_json(kc, kn, now) if kn is not None else None, "cloud_node": n.id}

    def expire_continue(self, cid):
        kc = self._cluster(cid)
        kc.gen += 1
        return {"cluster": cid, "generation": kc.gen}

    # ------------------------------------------------------------------ credentials

    def cloud_credential_seconds(self, asked):
        """The lifetime of a credential from DescribeClusterUserKubeconfig or CreateKubernetesClusterCert:
        what was asked, unless the test-only override test_credential_seconds is set."""
        return float(self.test_credential_seconds) if self.test_credential_seconds else asked

    def issue(self, cid, kind, seconds, now, origin, user=None):
        """A credential for cluster cid valid `seconds`: ("cert", serial, cert_pem, key_pem) or
        ("token", token)."""
        ep = self.endpoint()
        if ep is None:
            raise K8sAdminError("the emulated Kubernetes API is off (openssl missing, or --k8s-listen off)")
        user = user or ("fakecloud-%s" % origin)
        if kind == "token":
            token = "fk8s-" + uuid.uuid4().hex + uuid.uuid4().hex
            self.tokens[token] = Cred("token", token, cid, user, now, now + seconds, origin)
            return ("token", token)
        serial, cert, key = ep["authority"].client_cert(user, now + seconds, not_before=now - 60)
        serial = int(serial, 16)
        self.certs[serial] = Cred("cert", serial, cid, user, now, now + seconds, origin)
        return ("cert", serial, cert, key)

    def authenticate(self, cid, peer_serial, bearer, now):
        """(label, None) or (label, reason): the reason a 401 is answered (never sent to the client)."""
        if bearer is not None:
            c = self.tokens.get(bearer)
            label = "token:" + hashlib.sha256(bearer.encode()).hexdigest()[:12]
            if c is None:
                return label, "unknown bearer token"
        elif peer_serial is not None:
            c = self.certs.get(peer_serial)
            label = "cert:%d" % peer_serial
            if c is None:
                return label, "client certificate not issued by this emulator since its last reset"
        else:
            return None, "no client certificate and no bearer token"
        if c.revoked:
            return c.label(), "credential revoked"
        if now >= c.expires:
            return c.label(), "credential expired at %s" % ts(c.expires)
        if c.cluster != cid:
            return c.label(), "credential belongs to cluster %s" % c.cluster
        return c.label(), None

    def expire_creds(self, cid=None, ident=None, now=None, revoke=False):
        n = 0
        for c in list(self.certs.values()) + list(self.tokens.values()):
            if cid is not None and c.cluster != cid:
                continue
            if ident is not None and c.label() != ident:
                continue
            if revoke:
                c.revoked = True
            else:
                c.expires = min(c.expires, now)
            n += 1
        return n

    def kubeconfig_yaml(self, cid, cred, cluster_name="kubernetes", user=None, external=False):
        """ACK-style kubeconfig YAML (DescribeClusterUserKubeconfig `config`)."""
        ep = self.endpoint()
        user = user or "fakecloud-user"
        ctx = "%s-%s" % (user, cid)
        lines = ["apiVersion: v1", "clusters:", "- cluster:",
                 "    server: %s" % self.url(cid, external),
                 "    certificate-authority-data: %s" % ep["authority"].ca_b64(),
                 "  name: %s" % cluster_name, "contexts:", "- context:",
                 "    cluster: %s" % cluster_name, "    user: \"%s\"" % user, "  name: %s" % ctx,
                 "current-context: %s" % ctx, "kind: Config", "preferences: {}", "users:",
                 "- name: \"%s\"" % user, "  user:"]
        lines += self._user_lines(cred)
        return "\n".join(lines) + "\n"

    @staticmethod
    def _user_lines(cred):
        if cred[0] == "token":
            return ["    token: %s" % cred[1]]
        return ["    client-certificate-data: %s" % base64.b64encode(cred[2]).decode(),
                "    client-key-data: %s" % base64.b64encode(cred[3]).decode()]

    def kubeconfig_cce(self, cid, cred):
        """CCE CreateKubernetesClusterCert answer: the kubeconfig as JSON, contexts `internal` (CA data)
        and `external` (insecure-skip-tls-verify), current-context `external` like the page's example."""
        ep = self.endpoint()
        user = {"name": "user", "user": {}}
        if cred[0] == "token":
            user["user"]["token"] = cred[1]
        else:
            user["user"]["client-certificate-data"] = base64.b64encode(cred[2]).decode()
            user["user"]["client-key-data"] = base64.b64encode(cred[3]).decode()
        return {"kind": "Config", "apiVersion": "v1", "preferences": {},
                "clusters": [{"name": "internalCluster",
                              "cluster": {"server": self.url(cid),
                                          "certificate-authority-data": ep["authority"].ca_b64()}},
                             {"name": "externalCluster",
                              "cluster": {"server": self.url(cid, external=True), "insecure-skip-tls-verify": True}}],
                "users": [user],
                "contexts": [{"name": "internal", "context": {"cluster": "internalCluster", "user": "user"}},
                             {"name": "external", "context": {"cluster": "externalCluster", "user": "user"}}],
                "current-context": "external"}

    def creds_json(self, cid=None):
        return [c.to_json() for c in list(self.certs.values()) + list(self.tokens.values())
                if cid is None or c.cluster == cid]

    # ------------------------------------------------------------------ rendering

    def ready_state(self, kn, n):
        """(status, reason, message) of the Ready condition."""
        if n is None or n.status == "failed":
            return "False", "KubeletNotReady", "node is not ready: the server failed"
        if n.ecs_state in ("Stopped", "Stopping", "Starting", "Pending"):
            return "Unknown", "NodeStatusUnknown", "Kubelet stopped posting node status."
        if not n.healthy:
            return "False", "KubeletNotReady", "container runtime is down"
        if not kn.ready or n.never_ready:
            return "False", "KubeletNotReady", "container runtime network not ready: NetworkReady=false " \
                                               "reason:NetworkPluginNotReady message:Network plugin returns error: " \
                                               "cni plugin not initialized"
        return "True", "KubeletReady", "kubelet is posting ready status"

    def default_labels(self, kc, kn, n):
        """The labels the kubelet and the cloud put on a node (user labels live on the cloud node)."""
        cl = self.st.clusters[kc.cid]
        labels = {"kubernetes.io/hostname": kn.name, "kubernetes.io/os": "linux", "kubernetes.io/arch": "amd64",
                  "beta.kubernetes.io/os": "linux", "beta.kubernetes.io/arch": "amd64",
                  "node.kubernetes.io/instance-type": n.flavor if n else "",
                  "topology.kubernetes.io/region": cl.region, "topology.kubernetes.io/zone": n.az if n else ""}
        if n is not None and n.pool:
            pool = self.st.pools.get(n.pool)
            if kc.cloud == "ack":
                labels["alibabacloud.com/nodepool-id"] = n.pool
            elif pool is not None:
                labels["cce.cloud.com/cce-nodepool"] = pool.name
        return labels

    def node_json(self, kc, kn, now):
        n = self.st.nodes.get(kn.cloud_id)
        labels = self.default_labels(kc, kn, n)
        if n is not None:
            labels.update(n.labels)
        status, reason, msg = self.ready_state(kn, n)
        since = kn.ready_since if status == "True" else kn.created
        conds = [{"type": t, "status": "False", "lastHeartbeatTime": ts(now), "lastTransitionTime": ts(kn.created),
                  "reason": "KubeletHas" + r, "message": m}
                 for t, r, m in (("MemoryPressure", "SufficientMemory", "kubelet has sufficient memory available"),
                                 ("DiskPressure", "NoDiskPressure", "kubelet has no disk pressure"),
                                 ("PIDPressure", "SufficientPID", "kubelet has sufficient PID available"))]
        conds.append({"type": "Ready", "status": status, "lastHeartbeatTime": ts(now),
                      "lastTransitionTime": ts(since), "reason": reason, "message": msg})
        taints = [dict(t) for t in kn.taints]
        if kn.unschedulable:
            taints.append({"key": UNSCHEDULABLE_TAINT, "effect": "NoSchedule", "timeAdded": ts(kn.created)})
        if status == "False":
            taints.append({"key": NOT_READY_TAINT, "effect": "NoSchedule", "timeAdded": ts(kn.created)})
        elif status == "Unknown":
            taints.append({"key": UNREACHABLE_TAINT, "effect": "NoSchedule", "timeAdded": ts(kn.created)})
        spec = {"providerID": self.provider_id(n) if n else "",
                "podCIDR": "172.20.%d.0/24" % (int(hashlib.sha256(kn.uid.encode()).hexdigest()[:4], 16) % 256)}
        spec["podCIDRs"] = [spec["podCIDR"]]
        if kn.unschedulable:
            spec["unschedulable"] = True
        if taints:
            spec["taints"] = taints
        addresses = [{"type": "InternalIP", "address": n.ip if n else ""},
                     {"type": "Hostname", "address": kn.name}]
        return {"metadata": {"name": kn.name, "uid": kn.uid, "resourceVersion": str(kn.rv),
                             "creationTimestamp": ts(kn.created), "labels": labels,
                             "annotations": dict(DEFAULT_NODE_ANNOTATIONS, **(n.annotations if n else {}))},
                "spec": spec,
                "status": {"capacity": {"cpu": "4", "ephemeral-storage": "123722704Ki", "memory": "16232304Ki",
                                        "pods": "110"},
                           "allocatable": {"cpu": "3900m", "ephemeral-storage": "114022843818", "memory": "13580656Ki",
                                           "pods": "110"},
                           "conditions": conds, "addresses": addresses,
                           "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}},
                           "nodeInfo": {"machineID": _uid(kn.uid, "m").replace("-", ""),
                                        "systemUUID": _uid(kn.uid, "s"), "bootID": _uid(kn.uid, "b"),
                                        "kernelVersion": "5.10.134-16.3.al8.x86_64",
                                        "osImage": "Alibaba Cloud Linux 3" if kc.cloud == "ack" else "EulerOS 2.0",
                                        "containerRuntimeVersion": "containerd://1.6.28",
                                        "kubeletVersion": KUBELET_VERSION, "kubeProxyVersion": KUBELET_VERSION,
                                        "operatingSystem": "linux", "architecture": "amd64"}}}

    def pod_json(self, kc, pod):
        meta = {"name": pod.name, "namespace": pod.ns, "uid": pod.uid, "resourceVersion": str(pod.rv),
                "creationTimestamp": ts(pod.created), "labels": dict(pod.labels), "annotations": dict(pod.annotations)}
        if pod.owner:
            o = pod.owner
            meta["ownerReferences"] = [{"apiVersion": OWNER_API[o["kind"]], "kind": o["kind"], "name": o["name"],
                                        "uid": o["uid"], "controller": bool(o.get("controller", True)),
                                        "blockOwnerDeletion": True}]
            if o["kind"] not in ("DaemonSet", "StatefulSet", "Node"):
                meta["generateName"] = o["name"] + "-"
        if pod.deleting_at is not None:
            meta["deletionTimestamp"] = ts(pod.gone_at)
            meta["deletionGracePeriodSeconds"] = max(0, int(round(pod.gone_at - pod.deleting_at)))
        n = None
        spec = {"containers": [{"name": "main", "image": "registry.local/%s:1.0" % ((pod.owner or {}).get("name")
                                                                                  or pod.name),
                                "resources": {}, "terminationMessagePath": "/dev/termination-log",
                                "imagePullPolicy": "IfNotPresent"}],
                "restartPolicy": "Always", "terminationGracePeriodSeconds": 30, "dnsPolicy": "ClusterFirst",
                "serviceAccountName": "default", "schedulerName": "default-scheduler", "priority": 0,
                "enableServiceLinks": True, "preemptionPolicy": "PreemptLowerPriority",
                "tolerations": [{"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute",
                                 "tolerationSeconds": 300},
                                {"key": "node.kubernetes.io/unreachable", "operator": "Exists",
                                 "effect": "NoExecute", "tolerationSeconds": 300}]}
        status = {"phase": pod.phase, "qosClass": "BestEffort"}
        if pod.node:
            spec["nodeName"] = pod.node
            kn = kc.nodes.get(pod.node)
            n = self.st.nodes.get(kn.cloud_id) if kn else None
            status["hostIP"] = n.ip if n else ""
            status["startTime"] = ts(pod.created)
            ready = "True" if pod.phase == "Running" and pod.deleting_at is None else "False"
            status["conditions"] = [{"type": "Initialized", "status": "True", "lastTransitionTime": ts(pod.created)},
                                    {"type": "Ready", "status": ready, "lastTransitionTime": ts(pod.created)},
                                    {"type": "ContainersReady", "status": ready,
                                     "lastTransitionTime": ts(pod.created)},
                                    {"type": "PodScheduled", "status": "True", "lastTransitionTime": ts(pod.created)}]
            h = int(hashlib.sha256(pod.uid.encode()).hexdigest()[:6], 16)
            status["podIP"] = "172.20.%d.%d" % ((h >> 8) % 256, h % 250 + 2)
        else:
            status["conditions"] = [{"type": "PodScheduled", "status": "False", "reason": "Unschedulable",
                                     "message": "0/%d nodes are available: no schedulable Ready node."
                                                % len(kc.nodes), "lastTransitionTime": ts(pod.created)}]
        return {"metadata": meta, "spec": spec, "status": status}

    def _healthy(self, kc, pdb):
        lo = bisect.bisect_left(kc.pod_keys, (pdb.ns, ""))
        hi = bisect.bisect_left(kc.pod_keys, (pdb.ns + "\u0000", ""))
        pods = [kc.pods[k] for k in kc.pod_keys[lo:hi] if pdb.matches(kc.pods[k])]
        healthy = sum(1 for p in pods if p.phase == "Running" and p.deleting_at is None and p.node)
        return len(pods), healthy

    @staticmethod
    def _desired(expected, pdb):
        def val(v):
            if isinstance(v, str):
                return -(-expected * int(v[:-1]) // 100)     # ceil, as the disruption controller rounds up
            return v
        if pdb.min_available is not None:
            return val(pdb.min_available)
        if pdb.max_unavailable is not None:
            return max(0, expected - val(pdb.max_unavailable))
        return 0

    def pdb_allowed(self, kc, pdb, now):
        """disruptionsAllowed as status reports it (scripted PDBs: 0 while refusing)."""
        if pdb.scripted:
            refusing = pdb.refuse or (pdb.refuse_until is not None and now < pdb.refuse_until) or \
                (pdb.refuse_attempts is not None and pdb.attempts < pdb.refuse_attempts)
            return 0 if refusing else 1
        expected, healthy = self._healthy(kc, pdb)
        return max(0, healthy - self._desired(expected, pdb))

    def pdb_json(self, kc, pdb, now):
        expected, healthy = self._healthy(kc, pdb)
        spec = {"selector": pdb.selector}
        if pdb.min_available is not None:
            spec["minAvailable"] = pdb.min_available
        if pdb.max_unavailable is not None:
            spec["maxUnavailable"] = pdb.max_unavailable
        return {"metadata": {"name": pdb.name, "namespace": pdb.ns, "uid": pdb.uid, "resourceVersion": str(pdb.rv),
                             "generation": 1, "creationTimestamp": ts(pdb.created)},
                "spec": spec,
                "status": {"observedGeneration": 1, "disruptionsAllowed": self.pdb_allowed(kc, pdb, now),
                           "currentHealthy": healthy, "desiredHealthy": self._desired(expected, pdb),
                           "expectedPods": expected,
                           "conditions": [{"type": "DisruptionAllowed",
                                           "status": "True" if self.pdb_allowed(kc, pdb, now) > 0 else "False",
                                           "reason": "SufficientPods" if self.pdb_allowed(kc, pdb, now) > 0
                                           else "InsufficientPods", "message": "", "observedGeneration": 1,
                                           "lastTransitionTime": ts(pdb.created)}]}}

    def snapshot(self, cid, now):
        kc = self._cluster(cid)
        return {"cluster": cid, "resourceVersion": str(kc.rv), "timing": self.timing,
                "nodes": [self.node_json(kc, kc.nodes[n], now) for n in kc.node_names],
                "pods": [self.pod_json(kc, kc.pods[k]) for k in kc.pod_keys],
                "pdbs": [self.pdb_json(kc, p, now) for p in kc.pdbs.values()],
                "pending": ["%s/%s" % k for k in kc.pending],
                "credentials": self.creds_json(cid)}
