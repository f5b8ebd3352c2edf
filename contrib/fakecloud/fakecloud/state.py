"""In-memory fleet: clusters, nodes, node pools and async tasks of all three clouds.

One State object per emulator; every access happens under State.lock (the
HTTP layer takes it for the whole of a request's processing). Time moves on
read: advance(now) applies every node transition and task completion whose
moment has passed, so results depend only on the clock, never on a ticker.

Vocabulary (internal, cloud-neutral):
  node.status  creating | running | removing | failed
  node.healthy True/False (Ready/Active vs NotReady/Abnormal)
  pool.state   active | deleting
  task.state   running | success | fail     (outcome decided at creation:
               success, fail or stuck -- the last two come from faults)

Every timed transition (a node becoming ready or gone, a task ending, a
Kubernetes node appearing, a pod terminating) is an entry in one heap
(`schedule`); advance() pops the entries that are due, so a request costs
what changed since the last one, not a scan of the fleet. Lookups are
indexed the same way: a cluster's nodes (by_cluster), a pool's nodes
(by_pool) and a cluster's pools (pools_by_cluster), kept in step with
`nodes` and `pools` by _add_node/_drop_node and _add_pool/_drop_pool, so a
request about one cluster reads that cluster, not the fleet (issue #21:
the emulator is never the benchmark's bottleneck).
"""

import copy
import heapq
import itertools
import json
import random
import threading
import time
import uuid

from . import k8s

PROTECT_LABEL = "nodeherd.io/protect"
COUNTERS = ("duplicate_mutations", "unrequested_removals", "over_rate_limit", "servers_kept_running",
            "nodes_removed_with_evictable_pods", "protected_nodes_removed", "pods_deleted_bypassing_eviction")
# Cluster states a mutation is accepted in, per cloud (see README "Busy clusters").
DEFAULT_CLUSTER_STATE = {"ack": "running", "cce": "Available", "modelarts": "Running"}

DEFAULT_TIMING = {"job_seconds": 1.5, "node_create_seconds": 1.0, "node_delete_seconds": 1.0}
DEFAULT_AUTH = {"ack_skew_seconds": 900, "huawei_skew_seconds": 900, "lockout_failures": 5,
                "lockout_seconds": 300, "huawei_require_host": True}


def rfc3339(t):
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


def parse_rfc3339(s):
    import calendar
    s = s.strip()
    if s.endswith("Z"):
        s = s[:-1]
    if "." in s:
        s = s.split(".", 1)[0]
    return calendar.timegm(time.strptime(s[:19], "%Y-%m-%dT%H:%M:%S"))


class SeedError(Exception):
    """A seed file that cannot be loaded; the message names the key and the fix."""


class Node:
    def __init__(self, **kw):
        self.id = kw["id"]                # ACK instance id, CCE uid, ModelArts node name
        self.name = kw["name"]
        self.cloud = kw["cloud"]          # ack | cce | modelarts
        self.cluster = kw["cluster"]      # cluster id, or ModelArts resource pool key
        self.pool = kw.get("pool")        # node pool id (ModelArts: "<pool>/<nodepool>")
        self.status = kw.get("status", "running")
        self.healthy = kw.get("healthy", True)
        self.labels = dict(kw.get("labels") or {})            # Kubernetes labels of the node
        self.annotations = dict(kw.get("annotations") or {})  # Kubernetes annotations of the node
        self.cloud_labels = dict(kw.get("cloud_labels") or {})  # CCE's own metadata.labels
        self.created = kw.get("created", time.time())
        self.ip = kw.get("ip", "")
        self.role = kw.get("role", "Worker")
        self.charge = kw.get("charge", "PostPaid")
        self.flavor = kw.get("flavor", "")
        self.az = kw.get("az", "")
        self.server_id = kw.get("server_id", "")
        self.task = kw.get("task")        # task creating/removing this node
        self.ecs_state = kw.get("ecs_state", "Running")   # ACK ECS power state: Pending Running Starting
        #                                                   Stopping Stopped (admin-settable)
        self.never_ready = bool(kw.get("never_ready", False))   # its Kubernetes node never turns Ready
        self.ready_at = None
        self.gone_at = None
        self.removal_cause = None         # 'request' | 'cloud' while removing
        self.keep_server = None           # why the server survives the removal (None: it is released)
        self.delete_failed = False        # CCE: the last deletion failed (phase Error / Deleting)

    def to_json(self):
        return {"id": self.id, "name": self.name, "cloud": self.cloud, "cluster": self.cluster,
                "pool": self.pool, "status": self.status, "healthy": self.healthy, "labels": self.labels,
                "created": rfc3339(self.created), "ip": self.ip, "role": self.role, "charge": self.charge,
                "flavor": self.flavor, "az": self.az, "task": self.task, "server_id": self.server_id,
                "annotations": self.annotations, "cloud_labels": self.cloud_labels, "ecs_state": self.ecs_state,
                "never_ready": self.never_ready, "keep_server": self.keep_server,
                "delete_failed": self.delete_failed}

    @property
    def protected(self):
        return str(self.labels.get(PROTECT_LABEL, "")).lower() == "true"


class Pool:
    def __init__(self, **kw):
        self.id = kw["id"]
        self.name = kw["name"]
        self.cloud = kw["cloud"]
        self.cluster = kw["cluster"]
        self.desired = int(kw.get("desired", 0))
        self.max_count = kw.get("max_count")
        self.flavor = kw.get("flavor", "")
        self.autoscaling = dict(kw.get("autoscaling") or {"enable": False})
        self.charge = kw.get("charge", "PostPaid")
        self.in_use = bool(kw.get("in_use", False))
        self.state = "active"
        self.job = None
        self.created = kw.get("created", time.time())
        self.extra = dict(kw.get("extra") or {})
        self.conditions = list(kw.get("conditions") or [])   # CCE status.conditions set by the admin API
        self.omit_initial = bool(kw.get("omit_initial", False))  # CCE: no spec.initialNodeCount shown

    def to_json(self):
        return {"id": self.id, "name": self.name, "cloud": self.cloud, "cluster": self.cluster,
                "desired": self.desired, "max_count": self.max_count, "flavor": self.flavor,
                "autoscaling": self.autoscaling, "charge": self.charge, "in_use": self.in_use,
                "state": self.state, "job": self.job, "conditions": self.conditions,
                "omit_initial": self.omit_initial}


class Cluster:
    def __init__(self, **kw):
        self.id = kw["id"]
        self.name = kw.get("name", kw["id"])
        self.cloud = kw["cloud"]
        self.region = kw.get("region", "")
        self.project = kw.get("project")
        self.password = kw.get("login_password")  # ACK ScaleCluster check; never logged
        self.ip_next = 0
        self.instance_type = kw.get("instance_type", "")
        self.state = kw.get("state") or DEFAULT_CLUSTER_STATE[self.cloud]
        self.busy_error = kw.get("busy_error")   # {"status", "code", "message"} overriding the busy answer
        self.k8s_node_name = kw.get("k8s_node_name", "name")   # CCE: Kubernetes node name = "name" or "ip"
        self.created = kw.get("created", time.time())

    def to_json(self):
        return {"id": self.id, "name": self.name, "cloud": self.cloud, "region": self.region,
                "project": self.project, "has_login_password": self.password is not None,
                "state": self.state, "busy_error": self.busy_error}


class Task:
    def __init__(self, **kw):
        self.id = kw["id"]
        self.cloud = kw["cloud"]
        self.type = kw["type"]
        self.cluster = kw.get("cluster")
        self.target = kw.get("target")        # {"type": .., "id": ..}
        self.created = kw["created"]
        self.end = kw["end"]
        self.outcome = kw.get("outcome", "success")   # success | fail | stuck | partial
        # partial (fault subjob_fail): the first fail_first nodes of the task
        # fail (their sub-jobs / task_result say so) while the task succeeds
        self.fail_first = 0
        if self.outcome.startswith("partial:"):
            self.outcome, self.fail_first = "partial", int(self.outcome.split(":", 1)[1])
        self.failed = set()
        self.state = "running"
        self.finished_at = None
        self.add = []
        self.remove = []
        self.delete_pool = None
        self.replace_pools = set()           # pools that refill after this removal
        self.error = None
        self.exposed = kw.get("exposed", True)
        self.seq = kw.get("seq")
        self.resources = {}                  # node id -> name, for sub-jobs/task_result

    def node_succeeds(self, nid):
        """Decided as nodes join the task: every node of a successful task; in a
        partial one all but the first fail_first."""
        if self.outcome == "partial" and len(self.failed) < self.fail_first:
            self.failed.add(nid)
            return False
        return self.outcome in ("success", "partial")

    def to_json(self):
        return {"id": self.id, "cloud": self.cloud, "type": self.type, "cluster": self.cluster,
                "target": self.target, "created": rfc3339(self.created), "end": rfc3339(self.end),
                "outcome": self.outcome, "state": self.state, "add": self.add, "remove": self.remove,
                "delete_pool": self.delete_pool, "error": self.error, "exposed": self.exposed, "seq": self.seq,
                "failed_nodes": sorted(self.failed)}


class State:
    def __init__(self, seed=None, credentials=None):
        self.lock = threading.RLock()
        self.seed = copy.deepcopy(seed or {})
        self.extra_credentials = dict(credentials or {})
        self.k8s_endpoint = None    # set by the server when the Kubernetes listener is up; survives load()
        self.load(self.seed)

    # ------------------------------------------------------------------ seed

    def load(self, seed):
        self.rng = random.Random(json.dumps(seed, sort_keys=True))
        self.clusters = {}
        self.pools = {}
        self.nodes = {}
        self.by_cluster = {}        # cluster id -> {node id: node}
        self.by_pool = {}           # pool id -> {node id: node}
        self.pools_by_cluster = {}  # cluster id -> {pool id: pool}, in insertion order (as `pools`)
        self.by_name = {}           # node name -> node
        self.ips = set()
        self.timers = []            # heap of (time, seq, fn, args); see schedule()
        self.timer_seq = itertools.count()
        self.tasks = {}
        self.kept_servers = []      # servers left running by a removal (servers_kept_running)
        self.gone = {}              # node id -> {"name", "cause", "seq", "time"}
        self.gone_names = {}
        self.deleted_pools = {}     # pool id -> info
        self.size_claims = {}       # (kind, target) -> (value, task id)
        self.violations = []
        self.counts = {k: 0 for k in COUNTERS}
        self.expect = None
        self.projects = set(seed.get("projects") or [])
        self.timing = dict(DEFAULT_TIMING)
        self.timing.update(seed.get("timing") or {})
        self.auth = dict(DEFAULT_AUTH)
        self.auth.update(seed.get("auth") or {})
        self.credentials = {}
        for c in seed.get("credentials") or []:
            if not isinstance(c, dict) or "ak" not in c or "sk" not in c:
                got = sorted(c) if isinstance(c, dict) else type(c).__name__
                raise SeedError("seed: every entry of 'credentials' needs 'ak' and 'sk' (got %s)" % (got,))
            self.credentials[c["ak"]] = c["sk"]
        self.credentials.update(self.extra_credentials)
        self.tokens = {}
        for t in seed.get("tokens") or []:
            tok = t["token"] if isinstance(t, dict) else t
            self.tokens[tok] = t.get("project_id") if isinstance(t, dict) else None
        if seed.get("expect") is not None:
            self.expect = set(seed["expect"].get("removals") or [])
        now = time.time()
        self.k8s = k8s.K8sModel(self, seed.get("kubernetes"), now)
        for c in (seed.get("ack") or {}).get("clusters") or []:
            self._load_ack_cluster(c, now)
        for c in (seed.get("cce") or {}).get("clusters") or []:
            self._load_cce_cluster(c, now)
        for p in (seed.get("modelarts") or {}).get("pools") or []:
            self._load_ma_pool(p, now)
        try:
            self.k8s.load_objects(now)
        except k8s.K8sAdminError as e:
            raise SeedError("seed: kubernetes: %s" % e)

    def _need(self, obj, key, where):
        if key not in obj:
            raise SeedError("seed: %s needs key '%s'" % (where, key))
        return obj[key]

    def _node_specs(self, spec, where):
        if spec is None:
            return []
        if isinstance(spec, int):
            return [{} for _ in range(spec)]
        if isinstance(spec, list):
            return [s if isinstance(s, dict) else {} for s in spec]
        raise SeedError("seed: %s must be a count or a list of node objects" % where)

    def _seed_node_common(self, s, i, now):
        created = s.get("created")
        created = parse_rfc3339(created) if isinstance(created, str) else now - 86400 * 10 + i * 60
        charge = s.get("charge", "PostPaid")
        if s.get("billing_mode") not in (None, 0):        # CCE spelling: spec.billingMode non-zero
            charge = "PrePaid"
        return {"status": s.get("status", "running"), "healthy": s.get("healthy", True),
                "labels": s.get("labels") or {}, "created": created, "charge": charge,
                "annotations": s.get("annotations") or {},
                "cloud_labels": s.get("cce_labels") or s.get("cloud_labels") or {},
                "ecs_state": s.get("ecs_state", "Running"), "never_ready": s.get("never_ready", False)}

    def _load_ack_cluster(self, c, now):
        cid = self._need(c, "id", "ack.clusters[]")
        cl = Cluster(id=cid, name=c.get("name"), cloud="ack", region=c.get("region", "cn-hangzhou"),
                     login_password=c.get("login_password"), state=c.get("state"),
                     instance_type=c.get("instance_type", "ecs.sn1ne.large"))
        self._add_cluster(cl)
        for i, s in enumerate(self._node_specs(c.get("workers"), "ack cluster %s workers" % cid)):
            self._add_node("ack", cl, None, s, self._seed_node_common(s, i, now))
        for p in c.get("nodepools") or []:
            pid = p.get("id") or ("np" + self._hex(30))
            pool = Pool(id=pid, name=self._need(p, "name", "ack nodepool"), cloud="ack", cluster=cid,
                        desired=p.get("desired_size", 0), flavor=p.get("instance_type", cl.instance_type),
                        autoscaling={"enable": bool(p.get("auto_scaling", False)),
                                     "min_instances": p.get("min_instances", 0),
                                     "max_instances": p.get("max_instances", 10)},
                        charge=p.get("charge", "PostPaid"))
            if pid in self.pools:
                raise SeedError("seed: node pool id %s appears twice" % pid)
            self._add_pool(pool)
            specs = self._node_specs(p.get("nodes", pool.desired), "ack nodepool %s nodes" % pid)
            for i, s in enumerate(specs):
                self._add_node("ack", cl, pool, s, self._seed_node_common(s, i, now))

    def _load_cce_cluster(self, c, now):
        cid = self._need(c, "id", "cce.clusters[]")
        proj = self._need(c, "project_id", "cce cluster %s" % cid)
        self.projects.add(proj)
        cl = Cluster(id=cid, name=c.get("name"), cloud="cce", project=proj, region=c.get("region", "cn-north-4"),
                     instance_type=c.get("flavor", "c7.large.2"), state=c.get("status"),
                     k8s_node_name=c.get("k8s_node_name", "name"))
        if cl.k8s_node_name not in ("name", "ip"):
            raise SeedError("seed: cce cluster %s k8s_node_name must be \"name\" or \"ip\"" % cid)
        self._add_cluster(cl)
        for i, s in enumerate(self._node_specs(c.get("nodes"), "cce cluster %s nodes" % cid)):
            self._add_node("cce", cl, None, s, self._seed_node_common(s, i, now))
        for p in c.get("nodepools") or []:
            pid = p.get("id") or self._uuid()
            specs = self._node_specs(p.get("nodes", p.get("initialNodeCount") or 0), "cce nodepool nodes")
            desired = p.get("initialNodeCount")
            pool = Pool(id=pid, name=self._need(p, "name", "cce nodepool"), cloud="cce", cluster=cid,
                        desired=len(specs) if desired is None else desired, flavor=p.get("flavor", cl.instance_type),
                        autoscaling=p.get("autoscaling") or {"enable": False}, charge=p.get("charge", "PostPaid"),
                        conditions=p.get("conditions"), omit_initial=("initialNodeCount" in p and desired is None))
            self._add_pool(pool)
            for i, s in enumerate(specs):
                self._add_node("cce", cl, pool, s, self._seed_node_common(s, i, now))

    def _load_ma_pool(self, p, now):
        name = self._need(p, "name", "modelarts.pools[]")
        proj = self._need(p, "project_id", "modelarts pool %s" % name)
        self.projects.add(proj)
        key = "%s/%s" % (proj, name)
        cl = Cluster(id=key, name=name, cloud="modelarts", project=proj, region=p.get("region", "cn-north-7"),
                     state=p.get("status"))
        cl.az = p.get("az", "cn-north-7c")
        self._add_cluster(cl)
        for np in p.get("nodepools") or []:
            npname = self._need(np, "name", "modelarts pool %s nodepool" % name)
            count = int(np.get("count", 0))
            pool = Pool(id="%s/%s" % (key, npname), name=npname, cloud="modelarts", cluster=key,
                        desired=count, max_count=int(np.get("maxCount", count)),
                        flavor=np.get("flavor", "modelarts.vm.2u4g.dcc"),
                        charge=np.get("billing", "postPaid"), in_use=np.get("in_use", False),
                        extra={"network": np.get("network") or {
                            "vpc": "277e9abc-0e6b-431a-9232-cfd25d5fc566",
                            "subnet": "03796378-c356-4c14-826b-e4913aa9c8b9",
                            "securityGroups": ["0a15b48d-06f1-41e4-b782-ade90087bf59"]}})
            self._add_pool(pool)
            for i, s in enumerate(self._node_specs(np.get("nodes", count), "modelarts nodepool nodes")):
                self._add_node("modelarts", cl, pool, s, self._seed_node_common(s, i, now))

    # ------------------------------------------------------------------ ids

    def _hex(self, n):
        return "".join(self.rng.choice("0123456789abcdef") for _ in range(n))

    def _alnum(self, n):
        return "".join(self.rng.choice("abcdefghijklmnopqrstuvwxyz0123456789") for _ in range(n))

    def _uuid(self):
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    def new_id(self, prefix=""):
        return prefix + self._hex(24)

    def _add_cluster(self, cl):
        if cl.id in self.clusters:
            raise SeedError("seed: cluster id %s appears twice" % cl.id)
        cl.index = len(self.clusters)
        self.clusters[cl.id] = cl
        self.by_cluster[cl.id] = {}
        self.pools_by_cluster[cl.id] = {}
        self.k8s.add_cluster(cl)

    def _add_pool(self, pool):
        self.pools[pool.id] = pool
        self.pools_by_cluster.setdefault(pool.cluster, {})[pool.id] = pool

    def _drop_pool(self, pid):
        pool = self.pools.pop(pid)
        self.pools_by_cluster.get(pool.cluster, {}).pop(pid, None)
        return pool

    def _add_node(self, cloud, cl, pool, s, common, task=None, seeded=True):
        ip = s.get("ip")
        if not ip:
            while True:
                subnet = getattr(cl, "index", 0)
                ip = "192.168.%d.%d" % ((subnet * 4 + cl.ip_next // 240) % 256, cl.ip_next % 240 + 10)
                cl.ip_next += 1
                if ip not in self.ips:
                    break
        if cloud == "ack":
            nid = s.get("instance_id") or s.get("id") or ("i-bp1" + self._alnum(17))
            name = s.get("name") or "%s.%s" % (cl.region, ip)
        elif cloud == "cce":
            nid = s.get("uid") or s.get("id") or self._uuid()
            prefix = pool.name if pool else (cl.name or "node")
            name = s.get("name") or "%s-%s" % (prefix, self._alnum(5))
        else:
            name = s.get("name") or "os-node-%s" % self._alnum(8)
            nid = name
        if nid in self.nodes:
            raise SeedError("seed: node id %s appears twice; give each node a unique id" % nid)
        n = Node(id=nid, name=name, cloud=cloud, cluster=cl.id, pool=pool.id if pool else None, ip=ip,
                 role=s.get("role", "Worker"), flavor=(pool.flavor if pool else cl.instance_type),
                 az=s.get("az", getattr(cl, "az", "") or (cl.region + "a")),
                 server_id=s.get("server_id") or (self._uuid() if cloud == "cce" else ""), task=task, **common)
        self.nodes[nid] = n
        self.by_cluster[cl.id][nid] = n
        if n.pool is not None:
            self.by_pool.setdefault(n.pool, {})[nid] = n
        self.by_name[n.name] = n
        self.ips.add(ip)
        self.k8s.node_added(n, n.created if not seeded else time.time(), seeded)
        return n

    # ------------------------------------------------------------------ queries

    def cluster(self, cid, cloud):
        c = self.clusters.get(cid)
        return c if c is not None and c.cloud == cloud else None

    def pool(self, pid, cloud, cluster=None):
        p = self.pools.get(pid)
        if p is None or p.cloud != cloud or (cluster is not None and p.cluster != cluster):
            return None
        return p

    def cluster_nodes(self, cid):
        return sorted(self.by_cluster.get(cid, {}).values(), key=lambda n: (n.created, n.id))

    def cluster_pools(self, cid, cloud):
        """A cluster's node pools of `cloud`, in the order they were added (as `pools`)."""
        return [p for p in self.pools_by_cluster.get(cid, {}).values() if p.cloud == cloud]

    def pool_nodes(self, pid):
        self.pools[pid]  # KeyError for an unknown pool, as before the index
        return sorted(self.by_pool.get(pid, {}).values(), key=lambda n: (n.created, n.id))

    def find_node(self, cid, key):
        """By id or name within a cluster."""
        n = self.node_by_key(key)
        return n if n is not None and n.cluster == cid else None

    def node_by_key(self, key):
        """By node id, else by node name (any cluster)."""
        return self.nodes.get(key) or self.by_name.get(key)

    def was_removed(self, key):
        return key in self.gone or key in self.gone_names

    # ------------------------------------------------------------------ time

    def schedule(self, when, fn, *args):
        """Call fn(when, *args) once the clock passes `when` (from advance()). Callbacks re-check the
        state they act on: an entry may have been overtaken (a node removed, a task failed)."""
        heapq.heappush(self.timers, (when, next(self.timer_seq), fn, args))

    def advance(self, now=None):
        now = time.time() if now is None else now
        while self.timers and self.timers[0][0] <= now:
            when, _, fn, args = heapq.heappop(self.timers)
            fn(when, *args)

    def _set_ready_at(self, n, when):
        n.ready_at = when
        if when is not None:
            self.schedule(when, self._ready_due, n.id)

    def _set_gone_at(self, n, when):
        n.gone_at = when
        if when is not None:
            self.schedule(when, self._gone_due, n.id)

    def _ready_due(self, when, nid):
        n = self.nodes.get(nid)
        if n is not None and n.status == "creating" and n.ready_at is not None and n.ready_at <= when:
            n.status = "running"
            n.ready_at = None

    def _gone_due(self, when, nid):
        n = self.nodes.get(nid)
        if n is not None and n.status == "removing" and n.gone_at is not None and n.gone_at <= when:
            self._drop_node(n, when)

    def _task_due(self, when, tid):
        t = self.tasks.get(tid)
        if t is not None and t.state == "running" and t.outcome != "stuck" and t.end <= when:
            self._finish(t, when)

    def _drop_node(self, n, now):
        info = {"id": n.id, "name": n.name, "cause": n.removal_cause, "task": n.task, "time": rfc3339(now),
                "cluster": n.cluster, "pool": n.pool}
        self.gone[n.id] = info
        self.gone_names[n.name] = info
        del self.nodes[n.id]
        self.by_cluster.get(n.cluster, {}).pop(n.id, None)
        if n.pool is not None:
            self.by_pool.get(n.pool, {}).pop(n.id, None)
        if self.by_name.get(n.name) is n:
            del self.by_name[n.name]
        self.ips.discard(n.ip)
        if n.keep_server and n.removal_cause != "mutate":
            kept = {"cloud": n.cloud, "cluster": n.cluster, "node": n.id, "name": n.name,
                    "server": n.server_id or n.id, "ip": n.ip, "charge": n.charge, "why": n.keep_server,
                    "time": rfc3339(now)}
            self.kept_servers.append(kept)
            self.violation("servers_kept_running", None, None, dict(kept, kind_detail="removed from the cluster; "
                                                                   "the server keeps running (and billing)"))
        self.k8s.node_gone(n, now)

    def release_stuck(self, now):
        """The fault clears: stuck tasks finish normally from now on (a real cloud's stuck job
        ends eventually, or an operator resolves it). Returns how many were released."""
        n = 0
        for t in self.tasks.values():
            if t.state == "running" and t.outcome == "stuck":
                t.outcome = "success"
                t.end = max(t.end, now)
                self.schedule(t.end, self._task_due, t.id)
                for nid in t.add:
                    node = self.nodes.get(nid)
                    if node is not None and node.status == "creating" and node.ready_at is None:
                        self._set_ready_at(node, t.end)
                for nid in t.remove:
                    node = self.nodes.get(nid)
                    if node is not None and node.status == "removing" and node.gone_at is None:
                        self._set_gone_at(node, t.end)
                n += 1
        return n

    def _finish(self, t, now):
        t.finished_at = now
        if t.outcome == "fail":
            t.state = "fail"
            t.error = {"code": "FakeCloud.JobFailed", "message": "injected failure (fault job_fail)"}
            for nid in t.add:
                n = self.nodes.get(nid)
                if n is not None and n.status == "creating":
                    n.status, n.healthy, n.ready_at = "failed", False, None
            for nid in t.remove:
                n = self.nodes.get(nid)
                if n is not None and n.status == "removing":
                    # CCE keeps a node whose deletion failed in the Error phase (shown as Deleting without
                    # the errorStatus query, ListNodes page); the other clouds undo the removal.
                    if n.cloud == "cce":
                        n.status, n.healthy, n.delete_failed = "failed", False, True
                    else:
                        n.status = "running"
                    n.gone_at, n.removal_cause, n.keep_server = None, None, None
                    self.k8s.removal_undone(n)
            if t.delete_pool and t.delete_pool in self.pools:
                self.pools[t.delete_pool].state = "active"
            return
        t.state = "success"
        for nid in t.failed:  # partial: these nodes' sub-jobs failed
            n = self.nodes.get(nid)
            if n is not None and n.status == "creating":
                n.status, n.healthy, n.ready_at = "failed", False, None
            elif n is not None and n.status == "removing":
                n.status, n.gone_at, n.removal_cause = "running", None, None
        for nid in t.add:
            n = self.nodes.get(nid)
            if n is not None and n.status == "creating":
                n.status, n.ready_at = "running", None
        for nid in t.remove:
            n = self.nodes.get(nid)
            if n is not None and n.status == "removing":
                self._drop_node(n, now)
        if t.delete_pool and t.delete_pool in self.pools:
            p = self._drop_pool(t.delete_pool)
            for n in list(self.by_pool.get(p.id, {}).values()):
                self._drop_node(n, now)
            self.deleted_pools[p.id] = {"id": p.id, "name": p.name, "time": rfc3339(now), "task": t.id}
        for pid in sorted(t.replace_pools):
            if pid in self.pools and self.pools[pid].state == "active":
                self.converge_pool(self.pools[pid], now, seq=None, task_type="nodepool_replace")

    # ------------------------------------------------------------------ mutations

    def new_task(self, cloud, ttype, cluster, target, now, outcome="success", seq=None, exposed=True,
                 adding=False, removing=False):
        tm = self.timing
        dur = float(tm["job_seconds"])
        if adding:
            dur = max(dur, float(tm["node_create_seconds"]))
        if removing:
            dur = max(dur, float(tm["node_delete_seconds"]))
        if cloud == "ack":
            tid = "T-" + self._hex(24)
        else:
            tid = self._uuid()
        t = Task(id=tid, cloud=cloud, type=ttype, cluster=cluster, target=target, created=now, end=now + dur,
                 outcome=outcome or "success", seq=seq, exposed=exposed)
        self.tasks[tid] = t
        self.schedule(t.end, self._task_due, tid)
        return t

    def create_nodes(self, cl, pool, count, task, now):
        made = []
        for _ in range(count):
            n = self._add_node(cl.cloud, cl, pool, {}, {"status": "creating", "healthy": True, "labels": {},
                                                        "created": now, "charge": pool.charge if pool else "PostPaid"},
                               task=task.id, seeded=False)
            if task.node_succeeds(n.id):
                self._set_ready_at(n, now + float(self.timing["node_create_seconds"]))
            task.add.append(n.id)
            task.resources[n.id] = n.name
            made.append(n)
        return made

    def start_removal(self, nodes, task, now, cause, seq=None, op=None, keep_server=None, drain=False):
        """Mark nodes removing under `task`; account unrequested removals. keep_server(node) -> reason or
        None says whether the node's server survives the removal (servers_kept_running); drain: the cloud
        drains the node itself (ACK drain_node)."""
        for n in nodes:
            n.status = "removing"
            n.removal_cause = cause
            n.delete_failed = False
            n.task = task.id
            n.keep_server = keep_server(n) if keep_server else None
            if task.node_succeeds(n.id):
                self._set_gone_at(n, now + float(self.timing["node_delete_seconds"]))
            task.remove.append(n.id)
            task.resources[n.id] = n.name
            self.check_removal_allowed(n, seq, op, cause)
            self.k8s.removal_started(n, cause, seq, op, now, drain)

    def check_removal_allowed(self, n, seq, op, cause):
        why = None
        if n.protected:
            why = "node carries %s=true" % PROTECT_LABEL
        elif self.expect is not None and not ({n.id, n.name, n.pool or "", (n.pool or "").split("/")[-1]}
                                              & self.expect):
            why = "node is not on the expected-removals list"
        if why:
            self.violation("unrequested_removals", seq, op, {"node": n.id, "name": n.name, "cause": cause,
                                                             "why": why})

    def violation(self, kind, seq, op, detail):
        self.counts[kind] += 1
        d = {"kind": kind, "seq": seq, "op": op}
        d.update(detail)
        self.violations.append(d)

    @staticmethod
    def victim_order(nodes, cloud=None):
        """Which nodes a cloud removes when it picks. ACK and CCE: failed, unhealthy, still creating, then
        newest. ModelArts (lowering `count` with PatchNodePool): the newest healthy nodes first -- the
        service does not look at what runs there (issue #19's model of that page's silence), then
        creating, unhealthy, failed."""
        if cloud == "modelarts":
            def rank(n):
                healthy = n.status == "running" and n.healthy
                return (0 if healthy else 1 if n.status == "creating" else 2 if n.status == "running" else 3,
                        -n.created)
            # equal creation times: the larger id counts as the newer one
            return sorted(sorted(nodes, key=lambda n: n.id, reverse=True), key=rank)

        def rank(n):
            return (0 if n.status == "failed" else 1 if not n.healthy else 2 if n.status == "creating" else 3,
                    -n.created)
        return sorted(nodes, key=rank)

    def converge_pool(self, pool, now, seq=None, outcome="success", task_type="nodepool_scale", op=None,
                      exposed=True):
        """Create or remove (cloud-chosen) nodes so that live nodes == pool.desired. Returns the task or None."""
        live = [n for n in self.pool_nodes(pool.id) if n.status in ("creating", "running", "failed")]
        diff = pool.desired - len(live)
        if diff == 0:
            return None
        cl = self.clusters[pool.cluster]
        t = self.new_task(pool.cloud, task_type, cl.id, {"type": "nodepool", "id": pool.id}, now, outcome, seq,
                          exposed=exposed, adding=diff > 0, removing=diff < 0)
        if diff > 0:
            self.create_nodes(cl, pool, diff, t, now)
        else:
            keep = None
            if pool.cloud == "ack":
                keep = (lambda n: "PrePaid (subscription) instance: ACK does not release it"
                        if n.charge == "PrePaid" else None)
            self.start_removal(self.victim_order(live, pool.cloud)[:-diff], t, now, "cloud", seq, op, keep)
        pool.job = t.id
        return t

    def claim_size(self, kind, target, value, seq, op):
        """Duplicate check for absolute/additive size changes: same value, same target, earlier job running."""
        prev = self.size_claims.get((kind, target))
        if prev is not None and prev[0] == value:
            t = self.tasks.get(prev[1]) if prev[1] else None
            if t is not None and t.state == "running":
                self.violation("duplicate_mutations", seq, op, {"target": target, "value": value,
                                                                "first_task": t.id, "first_seq": t.seq})
                return True
        return False

    def remember_size(self, kind, target, value, task):
        self.size_claims[(kind, target)] = (value, task.id if task else None)

    def duplicate_removal(self, keys, seq, op):
        """keys: node ids/names asked for removal. Returns the subset already removing or removed by an API call."""
        dup = []
        for k in keys:
            n = self.node_by_key(k)
            if n is not None and n.status == "removing":
                dup.append(k)
            elif n is None and self.was_removed(k):
                info = self.gone.get(k) or self.gone_names.get(k)
                if info.get("cause") in ("request", "cloud"):
                    dup.append(k)
        if dup:
            self.violation("duplicate_mutations", seq, op, {"nodes": dup})
        return dup

    # ------------------------------------------------------------------ admin

    def snapshot(self, now=None):
        now = time.time() if now is None else now
        return {"time": rfc3339(now),
                "clusters": [c.to_json() for c in self.clusters.values()],
                "pools": [p.to_json() for p in self.pools.values()],
                "nodes": [n.to_json() for n in sorted(self.nodes.values(), key=lambda n: (n.cluster, n.created, n.id))],
                "tasks": [t.to_json() for t in sorted(self.tasks.values(), key=lambda t: t.created)],
                "gone": list(self.gone.values()),
                "deleted_pools": list(self.deleted_pools.values()),
                "kept_servers": list(self.kept_servers),
                "timing": self.timing,
                "expect": sorted(self.expect) if self.expect is not None else None,
                "credentials": sorted(self.credentials),     # access key ids only, never secrets
                "projects": sorted(self.projects)}

    def invariants(self, now=None):
        d = dict(self.counts)
        cordoned = self.k8s.cordoned_nodes()
        d["nodes_left_cordoned"] = len(cordoned)
        d["details"] = list(self.violations) + [{"kind": "nodes_left_cordoned", "cluster": c, "node": name}
                                                for c, name in cordoned]
        return d

    def mutate(self, m, now):
        """Test hook: change the fleet behind the client's back. Returns a short description."""
        action = m.get("action")
        if action in ("set_node", "unhealthy", "healthy"):
            n = self._mutate_node(m)
            if action == "unhealthy":
                n.healthy = False
            elif action == "healthy":
                n.healthy = True
            if "ecs_state" in m and m["ecs_state"] not in ECS_STATES:
                raise KeyError("mutate set_node: ecs_state must be one of %s" % ", ".join(ECS_STATES))
            if "charge" in m and m["charge"] not in ("PrePaid", "PostPaid"):
                raise KeyError("mutate set_node: charge must be PrePaid or PostPaid")
            for k in ("healthy", "status", "ecs_state", "charge", "never_ready", "delete_failed"):
                if k in m:
                    setattr(n, k, m[k])
            for k in ("labels", "annotations", "cloud_labels"):
                if k in m:
                    if not isinstance(m[k], dict):
                        raise KeyError("mutate set_node: %s must be an object of key/values" % k)
                    setattr(n, k, dict(m[k]))
            self.k8s.node_changed(n, now)
            return {"node": n.to_json()}
        if action == "remove_node":
            n = self._mutate_node(m)
            n.removal_cause = "mutate"
            self._drop_node(n, now)
            return {"removed": n.id}
        if action == "add_node":
            cl = self.clusters.get(m.get("cluster"))
            if cl is None:
                raise KeyError("mutate add_node: unknown cluster %r (use a cluster id from /_fake/state)"
                               % m.get("cluster"))
            pool = self.pools.get(m["pool"]) if m.get("pool") else None
            spec = dict(m.get("node") or {})
            common = self._seed_node_common(spec, 0, now)
            common["created"] = now
            n = self._add_node(cl.cloud, cl, pool, spec, common)
            return {"node": n.to_json()}
        if action == "set_pool":
            p = self.pools.get(m.get("pool"))
            if p is None:
                raise KeyError("mutate set_pool: unknown pool %r (use a pool id from /_fake/state)" % m.get("pool"))
            if "conditions" in m:
                conds = m["conditions"]
                if not isinstance(conds, list) or not all(isinstance(c, dict) and isinstance(c.get("type"), str)
                                                          and c.get("status") in ("True", "False", "Unknown")
                                                          for c in conds):
                    raise KeyError("mutate set_pool: conditions must be a list of {\"type\": T, \"status\": "
                                   "\"True\"|\"False\"|\"Unknown\", \"reason\", \"message\"}")
            for k in ("desired", "in_use", "charge", "autoscaling", "max_count", "state", "conditions",
                      "omit_initial"):
                if k in m:
                    setattr(p, k, m[k])
            return {"pool": p.to_json()}
        if action == "set_cluster":
            cl = self.clusters.get(m.get("cluster"))
            if cl is None:
                raise KeyError("mutate set_cluster: unknown cluster %r (use a cluster id from /_fake/state)"
                               % m.get("cluster"))
            if "state" in m:
                allowed = CLUSTER_STATES.get(cl.cloud)
                if allowed is not None and m["state"] not in allowed:
                    raise KeyError("mutate set_cluster: %s cluster state must be one of %s"
                                   % (cl.cloud, ", ".join(allowed)))
                cl.state = m["state"]
            if "busy_error" in m:
                be = m["busy_error"]
                if be is not None and (not isinstance(be, dict) or not isinstance(be.get("status"), int)
                                       or not isinstance(be.get("code"), str)):
                    raise KeyError("mutate set_cluster: busy_error must be null or {\"status\": int, "
                                   "\"code\": str, \"message\": str}")
                cl.busy_error = be
            return {"cluster": cl.to_json()}
        raise KeyError("mutate: unknown action %r (set_node, unhealthy, healthy, remove_node, add_node, set_pool, "
                       "set_cluster)" % action)

    def _mutate_node(self, m):
        key = m.get("node")
        n = self.node_by_key(key) if isinstance(key, str) else None
        if n is None:
            raise KeyError("mutate: unknown node %r (use an id or name from /_fake/state)" % key)
        return n

    # ------------------------------------------------------------------ busy clusters

    def check_not_busy(self, cl, op, also=()):
        """Refuse a mutation on a cluster whose state is not the cloud's ready state (ACK `running`, CCE
        `Available`) nor one of `also`. The refusal's status/code is this emulator's choice (README) unless
        the admin API set busy_error on the cluster."""
        ready = DEFAULT_CLUSTER_STATE[cl.cloud]
        if cl.cloud == "modelarts" or cl.state == ready or cl.state in also:
            return None
        be = cl.busy_error or BUSY_ERROR[cl.cloud]
        msg = be.get("message") or ("cluster %s is %s; %s is accepted only while the cluster is %s"
                                    % (cl.id, cl.state, op, " or ".join((ready,) + tuple(also))))
        return be["status"], be["code"], msg


ECS_STATES = ("Pending", "Running", "Starting", "Stopping", "Stopped")
# ACK: DescribeClusterDetail `state` (API page) plus the lifecycle page's upgrading/draining/removing/
# inactive/unavailable. CCE: ShowCluster status.phase (API page).
CLUSTER_STATES = {
    "ack": ("initial", "failed", "running", "updating", "updating_failed", "scaling", "waiting", "disconnected",
            "stopped", "deleting", "deleted", "delete_failed", "upgrading", "draining", "removing", "inactive",
            "unavailable"),
    "cce": ("Available", "Unavailable", "ScalingUp", "ScalingDown", "Creating", "Deleting", "Upgrading",
            "Resizing", "ResizeFailed", "RollingBack", "RollbackFailed", "Hibernating", "Hibernation", "Freezing",
            "Frozen", "UnFreezing", "Awaking", "Empty", "Error"),
}
# The references name no error code for "cluster busy": these are choices (README).
BUSY_ERROR = {"ack": {"status": 400, "code": "ErrorClusterState"},
              "cce": {"status": 400, "code": "CCE.01400001"}}
