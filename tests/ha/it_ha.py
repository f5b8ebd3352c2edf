"""High availability with a real etcd: three nodeherd replicas, one
fakecloud, and the three hard cases of issue 11.

  - kill -9 the leader during convergence: another instance takes over
    within lease_ttl + one poll interval, resumes the in-flight operations
    from the etcd journal (never re-sent) and converges;
  - SIGSTOP the leader past the TTL with work it wants to do, SIGCONT it:
    not a single mutating call from it after it lost the lease;
  - restart etcd: never two leaders.

Each replica signs with its own access key (the emulator logs the key id of
every request), so the request log says who mutated when. Every test ends
with the emulator's invariants: zero duplicate mutations, and the mutations
of different replicas never interleave (no overlapping leaders)."""

import base64
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import urllib.error
import urllib.request

ROOT = os.environ.get("NH_SOURCE_DIR") or os.path.dirname(os.path.dirname(
    os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))
import itlib  # noqa: E402
from itlib import harness  # noqa: E402

# Scratch directories of this suite live under their own folder, out of the
# way of other suites' /tmp/nodeherd-it-* clean-ups.
tempfile.tempdir = tempfile.mkdtemp(prefix="nodeherd-ha-")

TTL_S = 3
POLL = "500ms"
N = 3


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


class Etcd:
    """A single-member etcd on loopback, owned by the test."""

    def __init__(self, workdir):
        self.bin = shutil.which("etcd") or ("/usr/bin/etcd" if os.path.exists("/usr/bin/etcd")
                                            else None)
        if self.bin is None:
            raise RuntimeError("etcd is not installed: apt-get install etcd-server "
                               "(scripts/deps.sh installs it); the HA tests cannot run without it")
        self.data = os.path.join(workdir, "etcd-data")
        self.client = free_port()
        self.peer = free_port()
        self.url = "http://127.0.0.1:%d" % self.client
        self.logf = open(os.path.join(workdir, "etcd.log"), "ab")
        self.proc = None
        self.start()

    def start(self):
        peer = "http://127.0.0.1:%d" % self.peer
        self.proc = subprocess.Popen(
            [self.bin, "--name", "nh-test", "--data-dir", self.data,
             "--listen-client-urls", self.url, "--advertise-client-urls", self.url,
             "--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
             "--initial-cluster", "nh-test=" + peer],
            stdout=self.logf, stderr=self.logf, stdin=subprocess.DEVNULL)
        end = time.monotonic() + 20
        while time.monotonic() < end:
            try:
                self.call("/v3/kv/range", {"key": "eA=="})
                return
            except (urllib.error.URLError, OSError):
                if self.proc.poll() is not None:
                    raise RuntimeError("etcd exited; see etcd.log")
                time.sleep(0.1)
        raise TimeoutError("etcd did not answer on " + self.url)

    def call(self, path, body):
        req = urllib.request.Request(self.url + path, data=json.dumps(body).encode(),
                                     method="POST")
        with urllib.request.urlopen(req, timeout=3) as r:
            return json.loads(r.read())

    def keys(self, prefix):
        import base64
        k = base64.b64encode(prefix.encode()).decode()
        end = base64.b64encode(prefix[:-1].encode() + bytes([ord(prefix[-1]) + 1])).decode()
        doc = self.call("/v3/kv/range", {"key": k, "range_end": end})
        return {base64.b64decode(kv["key"]).decode(): base64.b64decode(kv["value"]).decode()
                for kv in doc.get("kvs", [])}

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def close(self):
        self.stop()
        self.logf.close()


def ha_block(etcd_url, name, prefix="/nodeherd-test/", ttl=TTL_S, poll=POLL):
    return """\
ha:
  name: {name}
  etcd:
    endpoints: [{url}]
    prefix: {prefix}
    lease_ttl: {ttl}s
    poll_interval: {poll}
    timeout: 1s
""".format(name=name, url=etcd_url, ttl=ttl, poll=poll, prefix=prefix)


def ha_yaml(etcd_url, name, **kw):
    return itlib.fleet_yaml(**kw) + ha_block(etcd_url, name)


class Replicas:
    """N daemons, each with its own state dir, credentials (access key
    ha-ak-I / ha-hw-ak-I) and config file."""

    def __init__(self, fleet, etcd, n=N):
        self.fleet, self.etcd = fleet, etcd
        self.d = []
        self.watch_stop = False
        self.samples = []  # (time, [roles])
        for i in range(n):
            self.d.append(self.start_one(i))
        self.thread = threading.Thread(target=self._watch, daemon=True)
        self.thread.start()

    def creds_dir(self, i):
        c = os.path.join(self.fleet.dir, "creds-%d" % i)
        if not os.path.isdir(c):
            os.makedirs(c, mode=0o700)
            for name, value in {"ack-ak": "ha-ak-%d" % i, "ack-sk": harness.ACK_SK,
                                "hw-ak": "ha-hw-ak-%d" % i, "hw-sk": harness.HW_SK,
                                "ack-node-pw": harness.NODE_PW}.items():
                fd = os.open(os.path.join(c, name), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
                with os.fdopen(fd, "w") as f:
                    f.write(value + "\n")
        return c

    def write_config(self, i, **kw):
        text = ha_yaml(self.etcd.url, "replica-%d" % i, **kw).replace(
            "@STATE_DIR@", os.path.join(self.fleet.dir, "state-%d" % i))
        return self.fleet.write_config(text, "nodeherd-%d.yaml" % i)

    def start_one(self, i, **kw):
        path = self.write_config(i, **kw)
        return self.fleet.daemon(config_path=path, env={"CREDENTIALS_DIRECTORY": self.creds_dir(i)},
                                 log_name="nodeherd-%d.log" % i)

    def role(self, i):
        d = self.d[i]
        if d.proc.poll() is not None:
            return "dead"
        try:
            with urllib.request.urlopen(d.url("/api/v1/status"), timeout=0.5) as r:
                return json.loads(r.read()).get("role", "?")
        except (urllib.error.URLError, OSError, TimeoutError, ValueError):
            return "?"

    def _watch(self):
        while not self.watch_stop:
            roles = [self.role(i) if self.d[i].port else "?" for i in range(len(self.d))]
            self.samples.append((time.monotonic(), roles))
            time.sleep(0.1)

    def leaders(self):
        return [i for i in range(len(self.d)) if self.role(i) == "leader"]

    def wait_leader(self, exclude=(), timeout=30):
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            ls = [i for i in self.leaders() if i not in exclude]
            if ls:
                return ls[0], time.monotonic()
            time.sleep(0.05)
        raise TimeoutError("no leader among %s:\n%s" % (
            [i for i in range(len(self.d)) if i not in exclude],
            "\n".join(self.d[i].log()[-2000:] for i in range(len(self.d)))))

    def close(self):
        self.watch_stop = True
        self.thread.join(2)


def ak_of(req):
    ak = req.get("ak") or ""
    for prefix in ("ha-ak-", "ha-hw-ak-"):
        if ak.startswith(prefix):
            return int(ak[len(prefix):])
    return None


class HaTest(unittest.TestCase):
    def setUp(self):
        creds = ["%s:%s" % (harness.ACK_AK, harness.ACK_SK), "%s:%s" % (harness.HW_AK, harness.HW_SK)]
        for i in range(N):
            creds += ["ha-ak-%d:%s" % (i, harness.ACK_SK), "ha-hw-ak-%d:%s" % (i, harness.HW_SK)]
        self.fleet = harness.Fleet(seed=itlib.SEED, credentials=creds)
        self.etcd = None
        self.rep = None
        try:
            self.etcd = Etcd(self.fleet.dir)
        except Exception:
            self.fleet.keep = True
            self.fleet.close()
            raise

    def tearDown(self):
        if self.rep:
            self.rep.close()
        if self.etcd:
            self.etcd.close()
        self.fleet.close()

    def assert_no_overlap(self):
        """The emulator's request log: zero duplicate mutations, and each
        replica's mutations form blocks that never interleave with another's
        more often than leadership changed hands."""
        itlib.assert_clean(self, self.fleet)
        muts = sorted(self.fleet.mutations(), key=lambda r: r["seq"])
        owners = [ak_of(r) for r in muts]
        self.assertNotIn(None, owners, "a mutation not from a replica: %s" % muts)
        blocks = [o for k, o in enumerate(owners) if k == 0 or owners[k - 1] != o]
        # who led, in order, as sampled every 100 ms
        led = []
        for _, roles in self.rep.samples:
            if roles.count("leader") == 1:
                i = roles.index("leader")
                if not led or led[-1] != i:
                    led.append(i)
        it = iter(led)
        self.assertTrue(all(b in it for b in blocks),
                        "replicas mutated out of leadership order: mutations by %s, "
                        "leaders %s" % (blocks, led))
        both = [(t, r) for t, r in self.rep.samples if r.count("leader") > 1]
        self.assertEqual(both, [], "two leaders at once")
        return muts

    def test_failover_pause_and_etcd_restart(self):
        f = self.fleet
        f.admin("timing", "POST", {"job_seconds": 3.0, "node_create_seconds": 2.0,
                                    "node_delete_seconds": 1.5})
        rep = self.rep = Replicas(f, self.etcd)
        for d in rep.d:
            d.wait_ready()
        old, _ = rep.wait_leader()
        others = [i for i in range(N) if i != old]
        # Exactly one leads; the others say follower, on STATUS= too.
        time.sleep(1.0)
        self.assertEqual(rep.leaders(), [old])
        for i in others:
            self.assertEqual(rep.role(i), "follower")
            self.assertTrue(any("follower; " in m for _, m in rep.d[i].notify.all()))
        m = rep.d[old].metrics()
        # labelled with the fleet (the etcd prefix) so alerts count per fleet
        self.assertRegex(m, r'(?m)^nodeherd_leader\{fleet="/nodeherd-test/"\} 1$')
        self.assertRegex(rep.d[others[0]].metrics(),
                         r'(?m)^nodeherd_leader\{fleet="/nodeherd-test/"\} 0$')

        # ---- 1. kill -9 the leader with operations in flight ----
        end = time.monotonic() + 30
        while time.monotonic() < end and not self.etcd.keys("/nodeherd-test/ops/"):
            time.sleep(0.05)
        open_before = self.etcd.keys("/nodeherd-test/ops/")
        self.assertTrue(open_before, "the leader never journalled an operation in etcd")
        rep.d[old].kill9()
        t_kill = time.monotonic()
        new, t_new = rep.wait_leader(exclude=(old,), timeout=20)
        took = t_new - t_kill
        sys.stderr.write("takeover after kill -9: %.2f s\n" % took)
        # lease_ttl + one poll interval, plus etcd's 500 ms expiry sweep and sampling
        self.assertLess(took, TTL_S + 0.5 + 1.0, "takeover took %.1f s" % took)
        self.assertRegex(rep.d[new].log(), r"leadership gained: resuming [1-9]\d* operation")
        f.wait_converged(rep.d[new], timeout=90)
        itlib.assert_final(self, f.state())
        self.assertEqual(self.etcd.keys("/nodeherd-test/ops/"), {},
                         "closed operations must leave the etcd journal")
        self.assert_no_overlap()
        resumed = set(open_before)  # the same keys were closed by the new leader
        self.assertTrue(resumed)

        # ---- 2. SIGSTOP the leader past the TTL, with work it wants ----
        rep.d[old].start()  # the killed replica comes back as a follower
        rep.d[old].wait_ready()
        paused = new
        rep.d[paused].signal(signal.SIGSTOP)
        t_stop = time.monotonic()
        since = max([r["seq"] for r in f.requests()] + [0])
        # The paused replica alone is told to change things: if it mutated
        # after waking, the emulator would see it.
        rep.write_config(paused, web=4, np_web=5)
        nxt, t_next = rep.wait_leader(exclude=(paused,), timeout=20)
        sys.stderr.write("takeover after SIGSTOP: %.2f s\n" % (t_next - t_stop))
        self.assertLess(t_next - t_stop, TTL_S + 0.5 + 1.0)
        time.sleep(0.5)
        rep.d[paused].signal(signal.SIGCONT)
        # It wakes, notices the changed file, observes, plans... and must
        # not send anything.
        end = time.monotonic() + 6
        while time.monotonic() < end and "not mutating" not in rep.d[paused].log() and \
                "lost the leadership" not in rep.d[paused].log():
            time.sleep(0.1)
        time.sleep(3)
        late = [r for r in f.mutations(since) if ak_of(r) == paused]
        self.assertEqual(late, [], "the paused leader mutated after losing its lease")
        self.assertEqual(rep.role(paused), "follower")
        self.assertIn("lost the leadership", rep.d[paused].log())
        self.assertEqual(rep.d[paused].stop(), 0)  # its diverging config must never lead

        # ---- 3. restart etcd: never two leaders ----
        for i in range(N):
            if i != paused:
                rep.write_config(i, web=2)  # work for the leader across the restart
        time.sleep(1.0)
        self.etcd.stop()
        time.sleep(TTL_S + 1)
        self.assertEqual(rep.leaders(), [], "a leader kept leading without etcd")
        self.etcd.start()
        lead, _ = rep.wait_leader(exclude=(paused,), timeout=30)
        time.sleep(2)
        self.assertEqual(rep.leaders(), [lead])
        f.wait_converged(rep.d[lead], timeout=90)
        itlib.assert_final(self, f.state(), web=2)
        self.assert_no_overlap()
        for i in range(N):
            if i != paused:
                self.assertEqual(rep.d[i].stop(), 0, rep.d[i].log()[-3000:])

    # ---- issue 22, point 1: a deposed leader never sends a call it fenced earlier ----

    def deposed_leader_once(self, run, unaware=False):
        """Replicas A and B; A's ScaleCluster is throttled (retry_after 7 s);
        A's lease is revoked, B leads, resumes A's operation, sees no effect
        and sends its own ScaleCluster. A must never send its throttled call
        afterwards. unaware: A polls etcd every 20 s with a 40 s lease, so
        it still believes it leads when its call is due again; only the
        fence at hand-off (a fresh etcd transaction) can stop it. Returns
        (A's ScaleCluster requests after the throttled one, B's, the
        emulator's duplicate_mutations)."""
        f = self.fleet
        f.admin("reset", "POST", {})
        f.admin("timing", "POST", {"job_seconds": 30.0, "node_create_seconds": 25.0,
                                    "node_delete_seconds": 25.0})
        f.fault(route="ScaleCluster", fault="throttle", retry_after=7, count=1)
        prefix = "/nodeherd-deposed-%d/" % run
        text = itlib.fleet_yaml(web=6)
        out, skip = [], False
        for ln in text.splitlines(True):
            if ln.startswith("  - name: "):
                skip = ln.strip() != "- name: web"
            if not skip:
                out.append(ln)
        text = "".join(out).replace("    rate_limit:", "    timeout: 4s\n    rate_limit:")
        rep = self.rep = Replicas(f, self.etcd, n=0)
        for i in range(2):
            timing = {"ttl": 40, "poll": "20s" if i == 0 else POLL} if unaware else {}
            cfg = f.write_config((text + ha_block(self.etcd.url, "replica-%d" % i, prefix,
                                                  **timing)).replace(
                "@STATE_DIR@", os.path.join(f.dir, "state-%d-%d" % (run, i))),
                "nodeherd-%d-%d.yaml" % (run, i))
            rep.d.append(f.daemon(config_path=cfg, env={"CREDENTIALS_DIRECTORY": rep.creds_dir(i)},
                                  log_name="nodeherd-%d-%d.log" % (run, i)))
            if unaware and i == 0:
                rep.wait_leader(timeout=30)  # the slow one leads
        a, _ = rep.wait_leader(timeout=30)
        b = 1 - a
        if unaware:
            self.assertEqual(a, 0)
        # A's call is throttled by the cloud
        end = time.monotonic() + 30
        thr = []
        while time.monotonic() < end and not thr:
            thr = [r for r in f.requests() if r["op"] == "ScaleCluster" and r["fault"] == "throttle"]
            time.sleep(0.02)
        self.assertTrue(thr, "no throttled ScaleCluster:\n" + rep.d[a].log()[-3000:])
        self.assertEqual(ak_of(thr[0]), a)
        t_thr = time.time()
        # A is deposed: its lease is revoked
        kv = self.etcd.call("/v3/kv/range", {"key": base64.b64encode(
            (prefix + "leader").encode()).decode()})["kvs"][0]
        self.etcd.call("/v3/lease/revoke", {"ID": kv["lease"]})
        rep.wait_leader(exclude=(a,), timeout=20)
        # B resumes A's operation, sees no effect, sends its own call
        end = time.monotonic() + 60
        done = []
        while time.monotonic() < end and not done:
            done = [r for r in f.mutations() if r["op"] == "ScaleCluster" and 200 <= (r["status"] or 0) < 300]
            time.sleep(0.05)
        self.assertTrue(done, "B never sent its ScaleCluster:\n" + rep.d[b].log()[-4000:])
        # past A's retry_after, with room
        until = max(t_thr + 7 + 4, time.time() + 2)
        while time.time() < until:
            time.sleep(0.1)
        if unaware:
            log = rep.d[a].log()
            self.assertRegex(log, r"fence: the election key is no longer ours",
                             "A was not stopped by the fence:\n" + log[-3000:])
            self.assertNotIn("lost the leadership: the election key is gone", log)
        sc = [r for r in f.mutations() if r["op"] == "ScaleCluster"]
        # every call of A's after its throttled one reached the cloud after A was deposed
        by_a = [r for r in sc if ak_of(r) == a and r["seq"] > thr[0]["seq"]]
        by_b = [r for r in sc if ak_of(r) == b]
        dup = f.invariants()["duplicate_mutations"]
        rep.close()
        for d in rep.d:
            d.stop()
        return len(by_a), len(by_b), dup

    def test_drain_only_by_the_leader_and_resumed_after_kill9(self):
        """Issue #20: cordons and evictions are mutations: only the leader
        sends them. The leader is killed -9 mid-drain (a budget holds the
        pod); the next leader finds the drain record in etcd and resumes
        the drain (same operation id in the cordon annotation), the node
        goes, nothing stays cordoned, and no follower ever cordoned or
        evicted."""
        f = self.fleet
        pools = itlib.POOLS
        st = f.state()
        batch = [p["id"] for p in st["pools"] if p["name"] == "np-batch"][0]
        batch_nodes = [n["id"] for n in st["nodes"] if n.get("pool") == batch]
        self.assertEqual(len(batch_nodes), 2)
        f.admin("k8s/pods", "POST", {"cluster": pools, "pods": [
            {"namespace": "shop", "name": "job-%d" % i, "node": n, "owner": "ReplicaSet",
             "labels": {"app": "job"}} for i, n in enumerate(batch_nodes)]})
        f.admin("k8s/pdbs", "POST", {"cluster": pools, "pdbs": [{
            "namespace": "shop", "name": "job", "selector": {"matchLabels": {"app": "job"}},
            "minAvailable": 1, "refuse_seconds": 8}]})

        class KubeReplicas(Replicas):
            def write_config(self, i, **kw):
                text = ha_yaml(self.etcd.url, "replica-%d" % i, **kw).replace(
                    "@STATE_DIR@", os.path.join(self.fleet.dir, "state-%d" % i))
                text = text.replace("    id: %s\n" % pools, "    id: %s\n    kubernetes: "
                                    "{ kubeconfig: from-cloud }\n" % pools, 1)
                assert "kubernetes:" in text
                return self.fleet.write_config(text, "nodeherd-%d.yaml" % i)

        rep = self.rep = KubeReplicas(f, self.etcd)
        for d in rep.d:
            d.wait_ready()
        old, _ = rep.wait_leader()

        def k8s_mutations():
            return [r for r in f.requests() if r.get("cloud") == "k8s" and r.get("mutating")]

        # mid-drain: cordoned, an eviction refused by the budget
        end = time.monotonic() + 60
        while time.monotonic() < end and not [r for r in k8s_mutations()
                                              if r["op"].endswith("K8sEvictPod")]:
            time.sleep(0.05)
        rep.d[old].kill9()
        new, _ = rep.wait_leader(exclude=(old,), timeout=20)

        def done():
            live = itlib.live_nodes(f.state(), pools, "np-batch")
            cordoned = [n for n in f.admin("k8s/state?cluster=" + pools)["nodes"]
                        if n["spec"].get("unschedulable")]
            return len(live) == 1 and not cordoned

        end = time.monotonic() + 120
        while time.monotonic() < end and not done():
            time.sleep(0.2)
        self.assertTrue(done(), rep.d[new].log()[-3000:])
        # the drain record travelled through etcd: the new leader found it
        # open and resumed the drain from it (same cordon), then closed it
        log = rep.d[new].log()
        self.assertRegex(log, r"pools: drain record \d+ of node \S+ found open", log[-3000:])
        self.assertRegex(log, r"pools: resuming the drain of node \S+ \(record \d+, cordon "
                         r"still ours\)", log[-3000:])
        self.assertRegex(log, r"pools: drain record \d+ closed: drained: ", log[-3000:])
        inv = f.invariants()
        for k in ("nodes_removed_with_evictable_pods", "protected_nodes_removed",
                  "pods_deleted_bypassing_eviction", "nodes_left_cordoned"):
            self.assertEqual(inv.get(k), 0, inv)
        # who sent each Kubernetes mutation: its client certificate was issued
        # by DescribeClusterUserKubeconfig request seq N (user "2" + N), signed
        # with the replica's own access key
        creds = f.admin("k8s/credentials?cluster=" + pools)["credentials"]
        by_seq = {r["seq"]: ak_of(r) for r in f.requests()
                  if r["op"] == "DescribeClusterUserKubeconfig"}
        owner = {c["id"]: by_seq.get(int(c["user"][1:])) for c in creds
                 if c["user"].startswith("2")}
        senders = [owner.get(r.get("ak")) for r in k8s_mutations()]
        self.assertTrue(senders)
        self.assertNotIn(None, senders, (senders, owner, k8s_mutations()[:2]))
        self.assertTrue(set(senders) <= {old, new}, senders)
        # the old leader until it died, the new one after: never interleaved
        blocks = [o for k, o in enumerate(senders) if k == 0 or senders[k - 1] != o]
        self.assertIn(blocks, ([old, new], [new]), senders)
        self.assertIn(new, senders)
        itlib.assert_clean(self, f)
        cloud = [ak_of(r) for r in f.mutations() if r.get("cloud") != "k8s"]
        self.assertTrue(set(cloud) <= {old, new}, cloud)

    def test_deposed_leader_never_sends_its_throttled_call(self):
        self.deposed_leader_runs(unaware=False)

    def test_deposed_leader_unaware_is_stopped_by_the_fence(self):
        self.deposed_leader_runs(unaware=True)

    def deposed_leader_runs(self, unaware):
        runs = int(os.environ.get("NH_DEPOSED_RUNS", "1"))
        tally = []
        for run in range(runs):
            got = self.deposed_leader_once(run, unaware)
            tally.append(got)
            sys.stderr.write("deposed-leader%s run %d: A sent %d, B sent %d, duplicate_mutations "
                             "%d\n" % ((" (unaware)" if unaware else "", run) + got))
        sys.stderr.write("deposed-leader%s tally over %d runs: %d duplicate mutations, %d calls "
                         "from the deposed leader\n" % (" (unaware)" if unaware else "", runs,
                                                          sum(t[2] for t in tally),
                                                          sum(t[0] for t in tally)))
        for a_sent, b_sent, dup in tally:
            self.assertEqual((a_sent, b_sent, dup), (0, 1, 0), tally)

    # ---- issue 22, point 5: the local journal in HA mode ----

    def test_ha_refuses_a_local_journal_with_open_operations(self):
        """With ha: operations live in etcd; the local journal is never
        resumed (a follower could not close its operations, and the leader
        would not know them). One that still holds open operations from a
        single-instance run stops the start, naming the file and the fix."""
        f = self.fleet
        f.admin("timing", "POST", {"job_seconds": 30.0, "node_create_seconds": 25.0,
                                    "node_delete_seconds": 25.0})
        sd = os.path.join(f.dir, "state-single")
        single = itlib.fleet_yaml().replace("@STATE_DIR@", sd)
        d = f.daemon(config_path=f.write_config(single, "single.yaml"), log_name="single.log")
        d.wait_ready()
        end = time.monotonic() + 30
        while time.monotonic() < end and not any(c["in_flight"] for c in d.status()["clusters"]):
            time.sleep(0.05)
        d.kill9()
        with open(os.path.join(sd, "journal.log"), "rb") as fh:
            before = fh.read()
        ha = (single + ha_block(self.etcd.url, "replica-x"))
        h = f.daemon(config_path=f.write_config(ha, "ha.yaml"), log_name="ha.log")
        try:
            rc = h.proc.wait(20)
        except subprocess.TimeoutExpired:
            rc = None
        self.assertIsNotNone(rc, "started in HA mode over open local operations:\n" +
                             h.log()[-3000:])
        self.assertNotEqual(rc, 0)
        log = h.log()
        self.assertIn(os.path.join(sd, "journal.log"), log)
        self.assertRegex(log, r"open operation")
        self.assertRegex(log, r"without ha:")
        with open(os.path.join(sd, "journal.log"), "rb") as fh:
            self.assertEqual(fh.read(), before, "the local journal was changed")
        self.assertEqual(self.etcd.keys("/nodeherd-test/"), {}, "it campaigned")


if __name__ == "__main__":
    try:
        unittest.main(verbosity=2)
    finally:
        try:
            os.rmdir(tempfile.tempdir)  # empty unless a failed run kept its scratch dir
        except OSError:
            pass
