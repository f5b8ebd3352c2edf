#!/usr/bin/env python3
"""Secrets canary: every credential is a recognisable fake ("CANARY-...");
every command and scenario runs with them, and none of them may appear in
any output: stdout and stderr of check, plan, plan --json, status,
status --json; the daemon's log through a run with faults, a config edit,
SIGHUP, kill -9 and a restart; /metrics, /api/v1/status, /healthz,
/readyz and the status page; the journal and audit.log in state_dir; and
any core file the scenario leaves (a SIGABRT at the end, with an unlimited
core size, in a scratch working directory).

Credentials: the ACK AccessKey secret, the Huawei SK (CCE), the ModelArts
IAM token, the ACK node login password (sent in ScaleCluster) and the CCE
node login password (sent in RemoveNode). The AccessKey ids are canaries
too: they are credentials by the configuration's own rules.
"""

import glob
import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "integration"))
import itlib  # noqa: E402
from itlib import harness  # noqa: E402

SECRETS = {
    "ack-ak": "CANARY-AK-ack-51d0e2",
    "ack-sk": "CANARY-SK-7f3a9c-ack",
    "hw-ak": "CANARY-AK-hw-8b2f41",
    "hw-sk": "CANARY-SK-7f3a9c-hw",
    "ma-token": "CANARY-TOKEN-7f3a9c-ma",
    "ack-node-pw": "Canary-Pw-7f3a9c!",
    "cce-pw": "Canary-Cce-7f3a9c!",
}
# any of them, also partly (a prefix of 12 characters is enough to leak)
PATTERN = re.compile("|".join(re.escape(v[:12]) for v in SECRETS.values()) + "|7f3a9c")


def config(web=3, gpu=4):
    y = itlib.fleet_yaml(web=web, gpu=gpu, qps=20, burst=10, job_timeout="5s")
    for name in ("ack-ak", "ack-sk", "hw-ak", "hw-sk", "ack-node-pw"):
        assert "{ file: %s }" % name in y, name
    # ModelArts by IAM token, CCE removals with a login password
    head, sep, tail = y.rpartition("credentials: { ak: { file: hw-ak }, sk: { file: hw-sk } }")
    y = head + "credentials: { token: { file: ma-token } }" + tail
    # train's workers outside pools are managed too and removed with
    # RemoveNode (release_instances: false), which carries the password; its
    # pool (4 nodes seeded) only grows: with release_instances false CCE
    # cannot shrink a pool and keep the servers, so that would be blocked
    y = y.replace("login: { ssh_key: KeyPair-001 }",
                  "login: { username: root, password: { file: cce-pw } }\n    workers: 1")
    head, sep, tail = y.partition("    provider: cce\n")
    old = "    scale_in: { max_per_cycle: 5 }\n"
    assert sep and tail.startswith("    id: ") and old in tail
    return head + sep + tail.replace(old, "    scale_in: { max_per_cycle: 5, release_instances: false }\n", 1)


class Catcher:
    """A TCP listener on 127.0.0.1 that records every connection and byte: the
    host a hostile configuration points an endpoint at. Reached as
    https://0.0.0.0:PORT (a connection to 0.0.0.0 goes to the local host, so it
    stays on loopback, and 0.0.0.0 is neither loopback nor a cloud domain by
    nodeherd's rules)."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.connections = 0
        self.data = b""
        self.lock = threading.Lock()
        threading.Thread(target=self._run, daemon=True).start()

    def _run(self):
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            with self.lock:
                self.connections += 1
            c.settimeout(2)
            try:
                buf = c.recv(65536)
            except OSError:
                buf = b""
            with self.lock:
                self.data += buf
            c.close()

    def close(self):
        self.sock.close()


class SecretsCanary(unittest.TestCase):
    def setUp(self):
        creds = ("%s:%s" % (SECRETS["ack-ak"], SECRETS["ack-sk"]),
                 "%s:%s" % (SECRETS["hw-ak"], SECRETS["hw-sk"]))
        # train's gpu-a cannot shrink here (release_instances false), so its
        # seeded Abnormal node is made healthy: converged means every declared
        # node ready (issue 17), and this test is about secrets, not health
        with open(itlib.SEED) as f:
            seed = json.load(f)
        for n in seed["cce"]["clusters"][0]["nodepools"][0]["nodes"]:
            n.pop("healthy", None)
        fd, self.seed_path = tempfile.mkstemp(prefix="nh-canary-seed-", suffix=".json")
        with os.fdopen(fd, "w") as f:
            json.dump(seed, f)
        self.fleet = harness.Fleet(seed=self.seed_path, credentials=creds)
        for k, v in SECRETS.items():
            self.fleet.write_secret(k, v)
        self.fleet.admin("auth", "POST", {"tokens": [SECRETS["ma-token"]]})
        self.fleet.admin("timing", "POST", {"job_seconds": 0.3, "node_create_seconds": 0.2,
                                            "node_delete_seconds": 0.2})
        self.scanned = []

    def tearDown(self):
        self.fleet.close()
        os.unlink(self.seed_path)

    def scan(self, what, text):
        if isinstance(text, bytes):
            text = text.decode("latin-1")
        self.scanned.append((what, len(text)))
        m = PATTERN.search(text)
        if m:
            s = max(0, m.start() - 200)
            self.fail("a secret leaked into %s: ...%s..." % (what, text[s:m.end() + 100]))

    def cmd(self, args, cfg, ok=(0,), global_args=()):
        f = self.fleet
        env = dict(os.environ, CREDENTIALS_DIRECTORY=f.creds, NO_PROXY="*")
        p = subprocess.run([f.binary, "--config", cfg] + list(global_args) + args, env=env,
                           capture_output=True, timeout=120, cwd=f.dir)
        self.scan("`nodeherd %s` stdout" % " ".join(args), p.stdout)
        self.scan("`nodeherd %s` stderr" % " ".join(args), p.stderr)
        self.assertIn(p.returncode, ok, "%s: %s %s" % (args, p.stdout[-2000:], p.stderr[-2000:]))
        return p

    def http(self, d, path):
        with urllib.request.urlopen(d.url(path), timeout=10) as r:
            return r.read()

    def scan_endpoints(self, d, when):
        for path in ("/metrics", "/api/v1/status", "/healthz", "/readyz", "/"):
            try:
                self.scan("%s %s" % (path, when), self.http(d, path))
            except urllib.error.HTTPError as e:  # /readyz may be 503 at times
                self.scan("%s %s" % (path, when), e.read())

    def test_no_secret_anywhere(self):
        f = self.fleet
        cfg = f.write_config(config())
        self.cmd(["check"], cfg)
        self.cmd(["plan"], cfg)
        self.cmd(["plan", "--json"], cfg)
        self.cmd(["plan", "--detailed-exitcode"], cfg, ok=(2,))
        # a wrong secret: the auth error answers must not echo what was sent
        f.write_secret("ack-sk", SECRETS["ack-sk"] + "-wrong")
        self.cmd(["plan"], cfg, ok=(0, 1, 2))
        f.write_secret("ack-sk", SECRETS["ack-sk"])

        # faults on the calls that carry secrets in their bodies
        f.fault(route="ScaleCluster", fault="reset_after", count=1)
        f.fault(route="RemoveNode", fault="malformed", count=1)
        f.fault(route="DeleteClusterNodes", fault="503", count=1)
        f.fault(route="modelarts.ListNodePools", fault="truncated", count=1)
        d = f.daemon(config_path=cfg, extra_args=())
        d.wait_ready()
        f.wait_converged(d, timeout=120)
        self.scan_endpoints(d, "after convergence")
        url = "http://127.0.0.1:%d" % d.port
        self.cmd(["status", "--url", url], cfg)
        self.cmd(["status", "--json", "--url", url], cfg)
        # scale out (ScaleCluster sends the node password), remove with a login password
        f.write_config(config(web=6, gpu=4))
        f.wait_converged(d, timeout=120, pred=lambda s: all(
            c["state"] == "converged" for c in s["clusters"]) and
            len(itlib.live_nodes(f.state(), itlib.WEB)) == 6)
        # a broken reload, then SIGHUP
        f.write_config(config(web=6, gpu=4).replace("workers: 6", "workers: six"))
        time.sleep(1.5)
        f.write_config(config(web=4, gpu=4))
        d.signal(signal.SIGHUP)
        f.wait_converged(d, timeout=120, pred=lambda s: all(
            c["state"] == "converged" for c in s["clusters"]) and
            len(itlib.live_nodes(f.state(), itlib.WEB)) == 4)
        self.scan_endpoints(d, "after reload")
        # kill -9 mid-flight and restart
        f.write_config(config(web=5, gpu=5))
        time.sleep(0.7)
        d.kill9()
        d.start()
        d.wait_ready()
        f.wait_converged(d, timeout=120)
        self.scan_endpoints(d, "after restart")
        itlib.assert_clean(self, f)
        # the calls that carry secrets really happened (the scan is not vacuous)
        ops = {r["op"] for r in f.mutations()}
        for op in ("ScaleCluster", "RemoveNode", "PatchNodePool"):
            self.assertIn(op, ops)
        self.assertTrue(PATTERN.search(open(os.path.join(f.creds, "cce-pw")).read()))

        # SIGABRT with cores enabled: the daemon must not leave its memory behind
        self.assertEqual(d.stop(), 0)
        core_dir = os.path.join(f.dir, "cwd")
        os.makedirs(core_dir)
        env = dict(d.env)
        p = subprocess.Popen(["sh", "-c", "ulimit -c unlimited 2>/dev/null; exec \"$@\"", "sh"] + d.argv,
                             cwd=core_dir, env=env, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
        time.sleep(2)
        p.send_signal(signal.SIGABRT)
        p.wait(30)
        cores = glob.glob(os.path.join(core_dir, "core*")) + glob.glob(os.path.join(f.dir, "core*"))
        for c in cores:
            with open(c, "rb") as fh:
                self.scan("core file %s" % c, fh.read())

        # files the daemon wrote
        for path in glob.glob(os.path.join(f.state_dir, "**"), recursive=True):
            if os.path.isfile(path):
                with open(path, "rb") as fh:
                    self.scan(os.path.relpath(path, f.dir), fh.read())
        for dd in f.daemons:
            self.scan("daemon log %s" % dd.log_path, dd.log())
        names = [w for w, _ in self.scanned]
        self.assertTrue(any("journal" in n for n in names), names)
        self.assertTrue(any("audit" in n for n in names), names)
        sys.stderr.write("scanned %d outputs (%d bytes), %d core files\n" % (
            len(self.scanned), sum(n for _, n in self.scanned), len(cores)))

    def test_no_kubeconfig_material_anywhere(self):
        """Issue #20: Kubernetes credentials fetched from the clouds (ACK
        DescribeClusterUserKubeconfig, CCE CreateKubernetesClusterCert) and an
        operator's kubeconfig given as a secret never reach an output: no
        PEM block, no base64 of one, no kubeconfig key names, no token."""
        f = self.fleet
        # an operator's kubeconfig with a bearer token, for the pools cluster
        issued = f.admin("k8s/credentials", "POST", {"action": "issue", "cluster": itlib.POOLS,
                                                     "auth": "token", "seconds": 3600})
        kubeconfig = issued["kubeconfig"]
        m = re.search(r"token:\s*\"?([A-Za-z0-9._~+/=-]{12,})", kubeconfig)
        self.assertIsNotNone(m, "the issued kubeconfig has no token")
        token = m.group(1)
        f.write_secret("pools-kubeconfig", kubeconfig)
        y = config(web=4)
        y = y.replace("    scale_in: { max_per_cycle: 5, protect: [%s] }\n" % itlib.PROTECTED,
                      "    scale_in: { max_per_cycle: 5, protect: [%s] }\n"
                      "    kubernetes: { kubeconfig: from-cloud }\n" % itlib.PROTECTED, 1)
        y = y.replace("    id: %s\n" % itlib.POOLS,
                      "    id: %s\n    kubernetes: { kubeconfig: { file: pools-kubeconfig } }\n"
                      % itlib.POOLS, 1)
        y = y.replace("    id: %s\n" % itlib.TRAIN,
                      "    id: %s\n    kubernetes: { kubeconfig: from-cloud }\n" % itlib.TRAIN, 1)
        self.assertEqual(y.count("kubernetes:"), 3, y)
        cfg = f.write_config(y)
        kube = re.compile(r"-----BEGIN|PRIVATE KEY|LS0tLS1CRUdJT|client-key-data|"
                          r"client-certificate-data|certificate-authority-data|" +
                          re.escape(token[:12]))
        self.assertTrue(kube.search(kubeconfig))  # the pattern finds what it looks for

        def scan(what, text):
            if isinstance(text, bytes):
                text = text.decode("latin-1")
            self.scan(what, text)
            km = kube.search(text)
            if km:
                st = max(0, km.start() - 200)
                self.fail("kubeconfig material leaked into %s: ...%s..." % (
                    what, text[st:km.end() + 100]))

        for args in (["check"], ["plan"], ["plan", "--json"]):
            p = self.cmd(args, cfg, ok=(0, 1, 2))
            scan("`nodeherd %s` stdout" % " ".join(args), p.stdout)
            scan("`nodeherd %s` stderr" % " ".join(args), p.stderr)
        d = f.daemon(config_path=cfg, extra_args=())
        d.wait_ready()
        # web goes 5 -> 4 on an observation that read Kubernetes
        deadline = time.time() + 120
        while time.time() < deadline and len(itlib.live_nodes(f.state(), itlib.WEB)) != 4:
            time.sleep(0.3)
        self.assertEqual(len(itlib.live_nodes(f.state(), itlib.WEB)), 4)
        url = "http://127.0.0.1:%d" % d.port
        for args in (["status", "--url", url], ["status", "--json", "--url", url]):
            p = self.cmd(args, cfg, ok=(0, 1, 2))
            scan("`nodeherd %s` stdout" % " ".join(args), p.stdout)
        for path in ("/metrics", "/api/v1/status", "/healthz", "/readyz", "/"):
            try:
                scan("%s" % path, self.http(d, path))
            except urllib.error.HTTPError as e:
                scan("%s" % path, e.read())
        # the credentials were fetched and used (the scan is not vacuous)
        ops = [r["op"] for r in f.requests()]
        for op in ("DescribeClusterUserKubeconfig", "CreateKubernetesClusterCert"):
            self.assertIn(op, ops)
        self.assertGreaterEqual(sum(1 for o in ops if "K8sListNodes" in o), 3, sorted(set(ops)))
        self.assertEqual(d.stop(), 0)
        for path in glob.glob(os.path.join(f.state_dir, "**"), recursive=True):
            if os.path.isfile(path):
                with open(path, "rb") as fh:
                    scan(os.path.relpath(path, f.dir), fh.read())
        for dd in f.daemons:
            scan("daemon log %s" % dd.log_path, dd.log())

    def test_hostile_endpoint_gets_nothing(self):
        """Issue 23: a change that points an endpoint at a catcher and sends the
        AccessKey secret as the AccessKey id is refused at load by check, plan
        and run; the catcher sees no connection. Named on the command line,
        the same host is contacted (so the catcher would have caught it)."""
        f = self.fleet
        catcher = Catcher()
        self.addCleanup(catcher.close)
        y = config()
        ack = "endpoint: @ENDPOINT@\n    credentials:\n      access_key_id: { file: ack-ak }"
        self.assertIn(ack, y)
        y = y.replace(ack, "endpoint: https://0.0.0.0:%d\n    credentials:\n"
                           "      access_key_id: { file: ack-sk }" % catcher.port, 1)
        cfg = f.write_config(y, name="hostile.yaml")
        for args in (["check"], ["plan"], ["plan", "--json"], ["run", "--dry-run"], ["run"]):
            # plan exits 1 on any error, as terraform plan (issue 17)
            p = self.cmd(args, cfg, ok=(1,) if args[0] == "plan" else (2,))
            self.assertIn("providers.ack.endpoint: host \"0.0.0.0\" is neither loopback nor in "
                          "aliyun-ack's own domains", p.stderr.decode())
            self.assertIn("--allow-endpoint 0.0.0.0", p.stderr.decode())
        time.sleep(0.5)
        self.assertEqual(catcher.connections, 0)
        # the positive control: allowed on the command line, the host is contacted
        # (TLS to a catcher without a trusted certificate: the handshake fails
        # before any header, so nothing leaks here either)
        self.cmd(["plan", "--timeout", "5s"], cfg, ok=(0, 1, 2),
                 global_args=["--allow-endpoint", "0.0.0.0"])
        self.assertGreater(catcher.connections, 0)
        self.assertIsNone(PATTERN.search(catcher.data.decode("latin-1")))


if __name__ == "__main__":
    unittest.main(verbosity=2)
