"""Runs the real nodeherd daemon against fakecloud on loopback.

Shared by the demo (contrib/demo/demo.py), the integration tests
(tests/integration/ and the other tests/ folders, through itlib), the soak
test and the benchmarks. Python 3 standard library only. Import it as

    sys.path.insert(0, os.path.join(ROOT, "tests", "support"))
    from nhtest import harness

    with Fleet(seed="contrib/fakecloud/seeds/demo.json") as f:
        d = f.daemon(config_text)          # writes config + credentials, starts `nodeherd run`
        d.wait_ready()
        f.wait_converged(d)
        assert f.invariants()["duplicate_mutations"] == 0
"""

import json
import os
import re
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(HERE)))  # tests/support/nhtest
FAKECLOUD = os.path.join(ROOT, "contrib", "fakecloud", "fakecloud.py")

ACK_AK, ACK_SK = "demo-ak", "demo-sk"
HW_AK, HW_SK = "demo-hw-ak", "demo-hw-sk"
NODE_PW = "Demo-Passw0rd!"


# How a configuration declares the emulator's providers: ack (ACK), cce
# (CCE) and ma (ModelArts), with the credential files Fleet writes.
_PROVIDER_YAML = {
    "ack": """\
  ack:
    kind: aliyun-ack
    region: cn-hangzhou
    endpoint: @ENDPOINT@
    credentials:
      access_key_id: {{ file: ack-ak }}
      access_key_secret: {{ file: ack-sk }}
    rate_limit: {{ qps: {qps}, burst: {burst} }}
""",
    "cce": """\
  cce:
    kind: huawei-cce
    region: cn-north-4
    endpoint: @ENDPOINT@
    project_id: 0123456789abcdef0123456789abcdef
    credentials: {{ ak: {{ file: hw-ak }}, sk: {{ file: hw-sk }} }}
    rate_limit: {{ qps: {qps}, burst: {burst} }}
""",
    "ma": """\
  ma:
    kind: huawei-modelarts
    region: cn-north-7
    endpoint: @ENDPOINT@
    project_id: 0123456789abcdef0123456789abcdef
    credentials: {{ ak: {{ file: hw-ak }}, sk: {{ file: hw-sk }} }}
    rate_limit: {{ qps: {qps}, burst: {burst} }}
""",
}


def fleet_head(providers=("ack", "cce", "ma"), poll="1s", job_poll="200ms", job_timeout="30s",
               qps=50, burst=20, extra_daemon=None):
    """The daemon: and providers: sections of a configuration for the
    emulator, up to and with `clusters:` (the clusters follow).
    @STATE_DIR@ and @ENDPOINT@ are left for Fleet to fill in; extra_daemon,
    when not None, is one more line of the daemon: section."""
    head = """\
daemon:
  poll_interval: {poll}
  job_poll_interval: {job_poll}
  job_timeout: {job_timeout}
  state_dir: @STATE_DIR@
  listen: 127.0.0.1:0
""".format(poll=poll, job_poll=job_poll, job_timeout=job_timeout)
    if extra_daemon is not None:
        head += extra_daemon + "\n"
    head += "providers:\n"
    for name in providers:
        head += _PROVIDER_YAML[name].format(qps=qps, burst=burst)
    return head + "clusters:\n"


def find_binary():
    env = os.environ.get("NODEHERD_BIN")
    if env:
        return env
    for cand in ("build/normal/daemon/nodeherd", "build/demo/daemon/nodeherd",
                 "build/sanitize/daemon/nodeherd"):
        p = os.path.join(ROOT, cand)
        if os.path.exists(p):
            return p
    raise RuntimeError("nodeherd binary not found: set NODEHERD_BIN")


def http_json(url, method="GET", body=None, timeout=10):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method,
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=timeout) as r:
        raw = r.read()
    return json.loads(raw) if raw else None


class NotifySocket:
    """A test-owned $NOTIFY_SOCKET that records sd_notify datagrams."""

    def __init__(self, path):
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(path)
        self.messages = []
        self.lock = threading.Lock()
        self.stop = False
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        while not self.stop:
            r, _, _ = select.select([self.sock], [], [], 0.1)
            if r:
                data = self.sock.recv(65536).decode("utf-8", "replace")
                with self.lock:
                    self.messages.append((time.monotonic(), data))

    def all(self):
        with self.lock:
            return list(self.messages)

    def wait_for(self, pred, timeout=30):
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            for _, m in self.all():
                if pred(m):
                    return m
            time.sleep(0.02)
        raise TimeoutError("no notify message matched; got: %r" % [m for _, m in self.all()])

    def close(self):
        self.stop = True
        self.thread.join(1)
        self.sock.close()


class Daemon:
    def __init__(self, fleet, config_path, extra_args=(), env=None, log_name="nodeherd.log",
                 prefix=(), global_args=()):
        self.fleet = fleet
        self.config_path = config_path
        self.log_path = os.path.join(fleet.dir, log_name)
        self.notify = NotifySocket(os.path.join(fleet.dir, "notify-%d.sock" % len(fleet.daemons)))
        e = dict(os.environ)
        e.update({
            "CREDENTIALS_DIRECTORY": fleet.creds,
            "NOTIFY_SOCKET": self.notify.path,
            "NO_PROXY": "*",
        })
        e.pop("STATE_DIRECTORY", None)
        e.pop("JOURNAL_STREAM", None)
        if env:
            e.update(env)
        self.logf = open(self.log_path, "ab")
        # prefix: a wrapper such as prlimit; global_args: before the command
        self.argv = list(prefix) + [fleet.binary, "--config", config_path, "--log-format",
                                    "plain", "--log-level", "info"] + list(global_args) + [
                                        "run"] + list(extra_args)
        self.env = e
        self.proc = None
        self.port = None
        self.start()

    def ready_count(self):
        return len([1 for _, m in self.notify.all() if "READY=1" in m.split("\n")])

    def start(self):
        self.ready_base = self.ready_count()
        self.logf.write(b"--- start\n")
        self.logf.flush()
        self.proc = subprocess.Popen(self.argv, stdout=self.logf, stderr=self.logf, env=self.env,
                                     stdin=subprocess.DEVNULL)
        self.port = None

    def log(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def wait_port(self, timeout=20):
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            m = re.findall(r"metrics and health on http://\S+ \(port (\d+)\)", self.log())
            if m:
                self.port = int(m[-1])
                return self.port
            if self.proc.poll() is not None:
                raise RuntimeError("nodeherd exited (%s):\n%s" % (self.proc.returncode,
                                                                   self.log()[-4000:]))
            time.sleep(0.02)
        raise TimeoutError("nodeherd did not log its port:\n" + self.log()[-4000:])

    def wait_ready(self, timeout=60):
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if self.ready_count() > self.ready_base:
                break
            if self.proc.poll() is not None:
                raise RuntimeError("nodeherd exited (%s):\n%s" % (self.proc.returncode,
                                                                   self.log()[-4000:]))
            time.sleep(0.02)
        else:
            raise TimeoutError("no READY=1:\n" + self.log()[-4000:])
        if self.port is None:
            try:
                self.wait_port(5)
            except TimeoutError:
                pass
        return True

    def url(self, path):
        if self.port is None:
            self.wait_port()
        return "http://127.0.0.1:%d%s" % (self.port, path)

    def status(self):
        return http_json(self.url("/api/v1/status"))

    def metrics(self):
        with urllib.request.urlopen(self.url("/metrics"), timeout=10) as r:
            return r.read().decode()

    def signal(self, sig):
        self.proc.send_signal(sig)

    def kill9(self):
        self.proc.kill()
        self.proc.wait()

    def stop(self, timeout=40):
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else None
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise

    def close(self):
        try:
            if self.proc and self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()
        finally:
            self.notify.close()
            self.logf.close()


class Fleet:
    """fakecloud on a free loopback port, a scratch directory, credentials."""

    def __init__(self, seed=None, credentials=None, fakecloud_args=(), keep=False):
        self.dir = tempfile.mkdtemp(prefix="nodeherd-it-")
        self.keep = keep or os.environ.get("NH_KEEP_TMP") == "1"
        self.binary = find_binary()
        self.creds = os.path.join(self.dir, "credentials")
        os.makedirs(self.creds, mode=0o700)
        for name, value in {"ack-ak": ACK_AK, "ack-sk": ACK_SK, "hw-ak": HW_AK,
                            "hw-sk": HW_SK, "ack-node-pw": NODE_PW}.items():
            self.write_secret(name, value)
        self.state_dir = os.path.join(self.dir, "state")
        self.daemons = []
        args = [sys.executable, FAKECLOUD, "--listen", "127.0.0.1:0",
                "--log", os.path.join(self.dir, "fakecloud.jsonl")]
        if seed:
            args += ["--seed", seed if os.path.isabs(seed) else os.path.join(ROOT, seed)]
        for c in credentials or ("%s:%s" % (ACK_AK, ACK_SK), "%s:%s" % (HW_AK, HW_SK)):
            args += ["--credential", c]
        args += list(fakecloud_args)
        self.fc_log = open(os.path.join(self.dir, "fakecloud.out"), "wb")
        self.fc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=self.fc_log,
                                   stdin=subprocess.DEVNULL)
        line = self._read_line(self.fc.stdout, 20)
        m = re.search(r"(\d+\.\d+\.\d+\.\d+|\[[0-9a-f:]+\]):(\d+)", line)
        if not m:
            raise RuntimeError("fakecloud did not say where it listens: %r" % line)
        self.port = int(m.group(2))
        self.endpoint = "http://127.0.0.1:%d" % self.port

    @staticmethod
    def _read_line(pipe, timeout):
        end = time.monotonic() + timeout
        buf = b""
        fd = pipe.fileno()
        while time.monotonic() < end:
            r, _, _ = select.select([fd], [], [], 0.1)
            if r:
                ch = os.read(fd, 1)
                if not ch:
                    break
                if ch == b"\n":
                    return buf.decode()
                buf += ch
        raise RuntimeError("fakecloud did not start: %r" % buf)

    def write_secret(self, name, value):
        p = os.path.join(self.creds, name)
        fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(value + "\n")

    # --- fakecloud admin API ---
    def admin(self, path, method="GET", body=None):
        return http_json(self.endpoint + "/_fake/" + path, method=method, body=body)

    def state(self):
        return self.admin("state")

    def requests(self, since=0):
        r = self.admin("requests?since=%d" % since)
        return r["requests"] if isinstance(r, dict) and "requests" in r else r

    def mutations(self, since=0):
        return [r for r in self.requests(since) if r.get("mutating")]

    def invariants(self):
        return self.admin("invariants")

    def fault(self, **rule):
        return self.admin("faults", "POST", rule)

    def clear_faults(self):
        return self.admin("faults", "DELETE")

    # --- configuration ---
    def config_text(self, template):
        return (template.replace("@ENDPOINT@", self.endpoint)
                .replace("@STATE_DIR@", self.state_dir))

    def write_config(self, text, name="nodeherd.yaml"):
        path = os.path.join(self.dir, name)
        tmp = path + ".tmp"
        with open(tmp, "w") as f:
            f.write(self.config_text(text))
        os.rename(tmp, path)
        return path

    def daemon(self, config_text=None, config_path=None, extra_args=(), env=None, log_name=None,
               prefix=(), global_args=()):
        if config_path is None:
            config_path = self.write_config(config_text)
        d = Daemon(self, config_path, extra_args, env,
                   log_name or "nodeherd-%d.log" % len(self.daemons), prefix, global_args)
        self.daemons.append(d)
        return d

    def wait_converged(self, d, timeout=90, pred=None):
        """Waits until every cluster reports `converged` (or pred(status) is true)."""
        end = time.monotonic() + timeout
        last = None
        while time.monotonic() < end:
            try:
                last = d.status()
                if pred(last) if pred else all(c["state"] == "converged"
                                               for c in last["clusters"]):
                    return last
            except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
                pass
            if d.proc.poll() is not None:
                raise RuntimeError("nodeherd exited (%s):\n%s" % (d.proc.returncode,
                                                                   d.log()[-4000:]))
            time.sleep(0.1)
        raise TimeoutError("not converged; last status:\n%s\nlog tail:\n%s" % (
            json.dumps(last, indent=1)[-6000:], d.log()[-6000:]))

    def close(self):
        for d in self.daemons:
            d.close()
        if self.fc.poll() is None:
            self.fc.send_signal(signal.SIGTERM)
            try:
                self.fc.wait(10)
            except subprocess.TimeoutExpired:
                self.fc.kill()
                self.fc.wait()
        self.fc.stdout.close()
        self.fc_log.close()
        if not self.keep:
            shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        if exc[0] is not None:
            self.keep = self.keep or os.environ.get("CI") != "true"
            sys.stderr.write("kept scratch dir %s\n" % self.dir if self.keep else "")
        self.close()
