"""Fleet generator for the benchmarks: a fakecloud seed and the matching
nodeherd configuration for N clusters spread over ACK, CCE and ModelArts.

Every seeded node carries an explicit id, name and IP (fakecloud otherwise
derives IPs with a scan over all nodes per node, quadratic at 10,000 nodes).
Each provider gets its own access key, so fakecloud's per-key rate limit is
a per-provider limit, as nodeherd's `rate_limit` is. Python 3 stdlib only.
"""

PROJECT = "0123456789abcdef0123456789abcdef"
KEYS = {"ack": ("bench-ack-ak", "bench-ack-sk"),
        "cce": ("bench-cce-ak", "bench-cce-sk"),
        "ma": ("bench-ma-ak", "bench-ma-sk")}
CLOUDS = ("ack", "cce", "ma")
FLAVOR = "modelarts.vm.2u4g.dcc"
CREATED = "2025-01-01T00:00:00Z"


def _ip(i, j, k):
    # A /16 per thousand clusters: unique for i < 65536, j < 64, k < 4.
    v = (i * 256 + j * 4 + k)
    return "10.%d.%d.%d" % ((v >> 16) & 255, (v >> 8) & 255, v & 255)


class Cluster:
    def __init__(self, i, cloud, n_pools, nodes):
        self.i, self.cloud, self.n_pools, self.nodes = i, cloud, n_pools, nodes
        self.name = "%s-%05d" % (cloud, i)
        if cloud == "ack":
            self.id = "c%031x" % (0xbe0c0000 + i)
            self.pool_ids = ["np%08x%024x" % (i, j) for j in range(n_pools)]
        elif cloud == "cce":
            self.id = "%08x-0000-4000-8000-%012x" % (0xcce00000 + i, 0)
            self.pool_ids = ["%08x-0000-4000-8000-%012x" % (0xcce00000 + i, j + 1) for j in range(n_pools)]
        else:
            self.id = "pool-%05d" % i
            self.pool_ids = ["%s/%s/np-%02d" % (PROJECT, self.id, j) for j in range(n_pools)]
        self.pool_names = ["np-%02d" % j for j in range(n_pools)]

    def path_keys(self):
        """Strings that appear in the URL path of this cluster's requests."""
        return [self.id]

    def seed(self):
        i = self.i
        if self.cloud == "ack":
            pools = []
            for j in range(self.n_pools):
                nodes = [{"instance_id": "i-bp%06x%02x%09x" % (i, j, k),
                          "name": "cn-hangzhou.%s" % _ip(i, j, k), "ip": _ip(i, j, k),
                          "created": CREATED} for k in range(self.nodes)]
                pools.append({"id": self.pool_ids[j], "name": self.pool_names[j],
                              "desired_size": self.nodes, "auto_scaling": False,
                              "instance_type": "ecs.g6.large", "nodes": nodes})
            return {"id": self.id, "name": self.name, "region": "cn-hangzhou", "workers": 0,
                    "nodepools": pools}
        if self.cloud == "cce":
            pools = []
            for j in range(self.n_pools):
                nodes = [{"uid": "%08x-%04x-4000-8000-%012x" % (0xcce00000 + i, j, k),
                          "name": "%s-%s-%d" % (self.name, self.pool_names[j], k),
                          "ip": _ip(i, j, k), "created": CREATED} for k in range(self.nodes)]
                pools.append({"id": self.pool_ids[j], "name": self.pool_names[j],
                              "initialNodeCount": self.nodes, "flavor": "c7.large.2",
                              "autoscaling": {"enable": False}, "nodes": nodes})
            return {"id": self.id, "project_id": PROJECT, "name": self.name, "region": "cn-north-4",
                    "flavor": "c7.large.2", "nodes": 0, "nodepools": pools}
        pools = []
        for j in range(self.n_pools):
            nodes = [{"name": "os-node-%05d-%02d-%d" % (i, j, k), "ip": _ip(i, j, k),
                      "created": CREATED} for k in range(self.nodes)]
            pools.append({"name": self.pool_names[j], "flavor": FLAVOR, "count": self.nodes,
                          "maxCount": 64, "billing": "postPaid", "nodes": nodes})
        return {"name": self.id, "project_id": PROJECT, "az": "cn-north-7c", "nodepools": pools}


def make_clusters(n, n_pools, nodes):
    return [Cluster(i, CLOUDS[i % 3], n_pools, nodes) for i in range(n)]


def seed(clusters, timing=None, qps=0, burst=0):
    s = {"credentials": [{"ak": ak, "sk": sk} for ak, sk in KEYS.values()],
         "projects": [PROJECT],
         "timing": timing or {"job_seconds": 2.0, "node_create_seconds": 1.5,
                              "node_delete_seconds": 1.0},
         "ratelimit": {"qps": qps, "burst": burst},
         "ack": {"clusters": [c.seed() for c in clusters if c.cloud == "ack"]},
         "cce": {"clusters": [c.seed() for c in clusters if c.cloud == "cce"]},
         "modelarts": {"pools": [c.seed() for c in clusters if c.cloud == "ma"]}}
    return s


def secrets():
    out = {}
    for cloud, (ak, sk) in KEYS.items():
        out[cloud + "-ak"] = ak
        out[cloud + "-sk"] = sk
    return out


def config(clusters, desired=None, poll="30s", job_poll="1s", job_timeout="10m", qps=1000,
           burst=1000, listen="127.0.0.1:0", scale_in=True):
    """desired: {cluster name: [nodes per pool]} overriding the seeded size. scale_in=False leaves
    out each cluster's scale_in line (the default applies), so 5,000 clusters fit in nodeherd's
    1 MiB configuration file."""
    desired = desired or {}
    out = ["daemon:",
           "  poll_interval: %s" % poll,
           "  job_poll_interval: %s" % job_poll,
           "  job_timeout: %s" % job_timeout,
           "  state_dir: @STATE_DIR@",
           "  listen: %s" % listen,
           "providers:",
           "  ack:",
           "    kind: aliyun-ack",
           "    region: cn-hangzhou",
           "    endpoint: @ENDPOINT@",
           "    credentials:",
           "      access_key_id: { file: ack-ak }",
           "      access_key_secret: { file: ack-sk }",
           "    rate_limit: { qps: %s, burst: %s }" % (qps, burst)]
    for cloud, kind, region in (("cce", "huawei-cce", "cn-north-4"),
                                ("ma", "huawei-modelarts", "cn-north-7")):
        out += ["  %s:" % cloud,
                "    kind: %s" % kind,
                "    region: %s" % region,
                "    endpoint: @ENDPOINT@",
                "    project_id: %s" % PROJECT,
                "    credentials: { ak: { file: %s-ak }, sk: { file: %s-sk } }" % (cloud, cloud),
                "    rate_limit: { qps: %s, burst: %s }" % (qps, burst)]
    out.append("clusters:")
    for c in clusters:
        sizes = desired.get(c.name) or [c.nodes] * c.n_pools
        out.append("  - name: %s" % c.name)
        out.append("    provider: %s" % c.cloud)
        out.append(("    pool: %s" if c.cloud == "ma" else "    id: %s") % c.id)
        if scale_in:
            out.append("    scale_in: { max_per_cycle: 5 }")
        out.append("    node_pools:")
        for j in range(c.n_pools):
            extra = ", flavor: %s" % FLAVOR if c.cloud == "ma" else ""
            out.append("      - { name: %s, nodes: %d%s }" % (c.pool_names[j], sizes[j], extra))
    return "\n".join(out) + "\n"
