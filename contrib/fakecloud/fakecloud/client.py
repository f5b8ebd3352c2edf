"""Helpers for test scripts: start fakecloud on a free port, call its admin API, send signed requests.

    import sys; sys.path.insert(0, "<repo>/contrib/fakecloud")
    from fakecloud.client import FakeCloudProcess, CloudClient

    with FakeCloudProcess(seed="contrib/fakecloud/seeds/demo.json") as fc:
        print(fc.endpoint)                       # "127.0.0.1:PORT"
        fc.add_fault(route="DescribeClusterNodes", fault="503", count=1)
        c = CloudClient(fc.port)
        status, hdrs, body = c.ack("GET", "/clusters/<id>/nodes", [("pageSize", "100")], ak="demo-ak", sk="demo-sk")
        assert fc.invariants()["duplicate_mutations"] == 0

Stdlib only. The signing here uses fakecloud.sign (an implementation independent of nodeherd's C signer).
"""

import base64
import email.utils
import http.client
import json
import os
import signal
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.parse
import uuid

from . import sign

HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ENTRY = os.path.join(HERE, "fakecloud.py")
DEMO_SEED = os.path.join(HERE, "seeds", "demo.json")


class FakeCloudProcess:
    """A fakecloud child process on 127.0.0.1:<free port>. `seed` may be a path or a dict."""

    def __init__(self, seed=None, credentials=(), log=None, extra_args=(), python=sys.executable):
        self.seed = seed
        self.credentials = list(credentials)
        self.log = log
        self.extra_args = list(extra_args)
        self.python = python
        self.proc = None
        self.port = None
        self._tmp = None

    @property
    def endpoint(self):
        return "127.0.0.1:%d" % self.port

    @property
    def url(self):
        return "http://" + self.endpoint

    def start(self, timeout=10.0):
        args = [self.python, ENTRY, "--listen", "127.0.0.1:0"]
        if isinstance(self.seed, dict):
            fd, self._tmp = tempfile.mkstemp(prefix="fakecloud-seed-", suffix=".json")
            with os.fdopen(fd, "w") as f:
                json.dump(self.seed, f)
            args += ["--seed", self._tmp]
        elif self.seed:
            args += ["--seed", self.seed]
        for c in self.credentials:
            args += ["--credential", c]
        if self.log:
            args += ["--log", self.log]
        args += self.extra_args
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        deadline = time.time() + timeout
        line = self.proc.stdout.readline()
        if not line.startswith("fakecloud listening on "):
            err = self.proc.stderr.read() if self.proc.poll() is not None else ""
            self.stop()
            raise RuntimeError("fakecloud did not start: %r %s" % (line, err))
        self.port = int(line.strip().rsplit(":", 1)[1])
        if time.time() > deadline:
            raise RuntimeError("fakecloud took longer than %.0f s to start" % timeout)
        return self

    def stop(self, timeout=5.0):
        """SIGTERM, wait; returns the exit code (kills after `timeout`)."""
        rc = None
        if self.proc is not None:
            if self.proc.poll() is None:
                self.proc.send_signal(signal.SIGTERM)
                try:
                    rc = self.proc.wait(timeout)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    rc = self.proc.wait()
            else:
                rc = self.proc.returncode
            for s in (self.proc.stdout, self.proc.stderr):
                if s:
                    s.close()
            self.proc = None
        if self._tmp:
            os.unlink(self._tmp)
            self._tmp = None
        return rc

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    # ---------------------------------------------------------------- admin

    def admin(self, method, path, body=None):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            data = None if body is None else json.dumps(body).encode()
            conn.request(method, path, body=data, headers={"Content-Type": "application/json"} if data else {})
            r = conn.getresponse()
            payload = r.read()
            obj = json.loads(payload) if payload else None
            if r.status >= 400:
                raise RuntimeError("fakecloud admin %s %s: %d %s" % (method, path, r.status, obj))
            return obj
        finally:
            conn.close()

    def state(self):
        return self.admin("GET", "/_fake/state")

    def requests(self, since=0):
        return self.admin("GET", "/_fake/requests?since=%d" % since)["requests"]

    def invariants(self):
        return self.admin("GET", "/_fake/invariants")

    def add_fault(self, **rule):
        return self.admin("POST", "/_fake/faults", rule)

    def clear_faults(self):
        return self.admin("DELETE", "/_fake/faults")

    def set_ratelimit(self, qps=0, burst=0, retry_after=None, window=None, limit=None):
        body = {"qps": qps, "burst": burst, "retry_after": retry_after}
        if window is not None:
            body["window"] = window
        if limit is not None:
            body["limit"] = limit
        return self.admin("POST", "/_fake/ratelimit", body)

    def set_timing(self, **timing):
        return self.admin("POST", "/_fake/timing", timing)

    def set_auth(self, **auth):
        return self.admin("POST", "/_fake/auth", auth)

    def expect(self, removals):
        return self.admin("POST", "/_fake/expect", {"removals": removals})

    def reset(self):
        return self.admin("POST", "/_fake/reset", {})

    def mutate(self, **m):
        return self.admin("POST", "/_fake/mutate", m)

    # ---------------------------------------------------------------- Kubernetes

    def k8s(self):
        """{"enabled", "host", "port", "ca", "urls", "timing", ...} of the emulated Kubernetes API."""
        return self.admin("GET", "/_fake/k8s")

    def k8s_state(self, cluster):
        return self.admin("GET", "/_fake/k8s/state?cluster=" + urllib.parse.quote(cluster))

    def k8s_admin(self, what, body, method="POST"):
        return self.admin(method, "/_fake/k8s/" + what, body)

    def k8s_client(self, cluster, auth="cert", seconds=3600, **kw):
        """A K8sClient for `cluster` with a credential issued by the admin API (not through a cloud)."""
        r = self.k8s_admin("credentials", {"action": "issue", "cluster": cluster, "auth": auth, "seconds": seconds})
        return K8sClient.from_kubeconfig(r["kubeconfig"], **kw)


class CloudClient:
    """Signed requests to a running fakecloud (one keep-alive connection)."""

    def __init__(self, port, host="127.0.0.1", timeout=10):
        self.host, self.port, self.timeout = host, port, timeout
        self.conn = None

    def close(self):
        if self.conn:
            self.conn.close()
            self.conn = None

    def raw(self, method, path, query="", headers=None, body=b""):
        """Send exactly these bytes; returns (status, {lower header: value}, body bytes)."""
        if self.conn is None:
            self.conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
        target = path + ("?" + query if query else "")
        try:
            self.conn.putrequest(method, target, skip_host=True, skip_accept_encoding=True)
            for k, v in (headers or {}).items():
                self.conn.putheader(k, v)
            if body or method in ("POST", "PUT", "PATCH"):
                self.conn.putheader("Content-Length", str(len(body)))
            self.conn.endheaders(body if body else None)
            r = self.conn.getresponse()
            data = r.read()
            hdrs = {k.lower(): v for k, v in r.getheaders()}
            if r.will_close:
                self.close()
            return r.status, hdrs, data
        except (ConnectionError, http.client.HTTPException, OSError):
            self.close()
            raise

    @property
    def hostport(self):
        return "%s:%d" % (self.host, self.port)

    def ack(self, method, path, pairs=(), body=None, ak="demo-ak", sk="demo-sk", algo="acs3", action="",
            date=None, nonce=None, extra=None):
        data = b"" if body is None else (body if isinstance(body, bytes) else json.dumps(body).encode())
        pairs = list(pairs)
        now = time.time() if date is None else date
        h = {"host": self.hostport, "x-acs-version": "2015-12-15", "x-acs-action": action or "Op",
             "x-acs-signature-nonce": nonce or uuid.uuid4().hex, "accept": "application/json"}
        if data:
            h["content-type"] = "application/json; charset=utf-8"
        h.update(extra or {})
        if algo == "acs3":
            h["x-acs-date"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now))
            sign.acs3_sign(ak, sk, method, path, pairs, h, data)
        else:
            h["date"] = email.utils.formatdate(now, usegmt=True)
            h["x-acs-signature-method"] = "HMAC-SHA1"
            h["x-acs-signature-version"] = "1.0"
            if data:
                h["content-md5"] = sign.content_md5(data)
            sign.roa_sign(ak, sk, method, path, pairs, h)
        query = sign.acs3_canonical_query(pairs)
        return self.raw(method, path, query, h, data)

    def huawei(self, method, path, pairs=(), body=None, ak="demo-hw-ak", sk="demo-hw-sk",
               project="0123456789abcdef0123456789abcdef", content_type="application/json", signed=None,
               date=None, token=None, extra=None):
        data = b"" if body is None else (body if isinstance(body, bytes) else json.dumps(body).encode())
        pairs = list(pairs)
        now = time.time() if date is None else date
        h = {"host": self.hostport, "x-project-id": project,
             "x-sdk-date": time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(now))}
        if content_type:
            h["content-type"] = content_type
        h.update(extra or {})
        if token is not None:
            h["x-auth-token"] = token
        else:
            sign.hw_sign(ak, sk, method, path, pairs, h, data, signed=signed)
        return self.raw(method, path, sign.hw_canonical_query(pairs), h, data)


def parse_kubeconfig_yaml(text):
    """The fields of a single-cluster, single-user kubeconfig YAML as ACK returns it (and fakecloud's admin
    API issues): {"server", "ca", "cert", "key", "token"} (PEM bytes for ca/cert/key). A deliberately small
    reader for test scripts, not a YAML parser."""
    out = {}
    for line in text.splitlines():
        s = line.strip()
        for key, name in (("server:", "server"), ("certificate-authority-data:", "ca"),
                          ("client-certificate-data:", "cert"), ("client-key-data:", "key"), ("token:", "token")):
            if s.startswith(key):
                v = s[len(key):].strip().strip('"')
                out[name] = base64.b64decode(v) if name in ("ca", "cert", "key") else v
    return out


class K8sClient:
    """HTTPS requests to fakecloud's emulated Kubernetes API with the credentials of a kubeconfig.

        kc = K8sClient.from_kubeconfig(ack_answer["config"])          # ACK YAML
        kc = K8sClient.from_cce(cce_answer)                           # CCE JSON, context "internal"
        status, headers, body = kc.get("/api/v1/nodes", limit=2)
    """

    def __init__(self, server, ca_pem, cert_pem=None, key_pem=None, token=None, timeout=10, verify=True):
        self.server = server.rstrip("/")
        u = urllib.parse.urlsplit(self.server)
        self.host, self.port, self.prefix = u.hostname, u.port, u.path
        self.token = token
        self.timeout = timeout
        self._dir = tempfile.mkdtemp(prefix="fakecloud-k8s-client-")
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        if verify:
            ctx.load_verify_locations(cadata=ca_pem.decode() if isinstance(ca_pem, bytes) else ca_pem)
        else:
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
        if cert_pem and key_pem:
            cf, kf = os.path.join(self._dir, "c.pem"), os.path.join(self._dir, "k.pem")
            with open(cf, "wb") as f:
                f.write(cert_pem)
            with open(kf, "wb") as f:
                f.write(key_pem)
            ctx.load_cert_chain(cf, kf)
        self.ctx = ctx
        self.conn = None

    @classmethod
    def from_kubeconfig(cls, text, **kw):
        k = parse_kubeconfig_yaml(text)
        return cls(k["server"], k.get("ca"), k.get("cert"), k.get("key"), k.get("token"), **kw)

    @classmethod
    def from_cce(cls, cfg, context="internal", **kw):
        ctx = next(c for c in cfg["contexts"] if c["name"] == context)["context"]
        cluster = next(c for c in cfg["clusters"] if c["name"] == ctx["cluster"])["cluster"]
        user = next(u for u in cfg["users"] if u["name"] == ctx["user"])["user"]
        ca = base64.b64decode(cluster["certificate-authority-data"]) if "certificate-authority-data" in cluster \
            else None
        cert = base64.b64decode(user["client-certificate-data"]) if "client-certificate-data" in user else None
        key = base64.b64decode(user["client-key-data"]) if "client-key-data" in user else None
        return cls(cluster["server"], ca, cert, key, user.get("token"),
                   verify=not cluster.get("insecure-skip-tls-verify", False), **kw)

    def close(self):
        if self.conn:
            self.conn.close()
            self.conn = None
        if self._dir:
            import shutil
            shutil.rmtree(self._dir, ignore_errors=True)
            self._dir = None

    def request(self, method, path, body=None, content_type="application/json", query=None, headers=None):
        """(status, {lower header: value}, parsed JSON or raw bytes)."""
        if self.conn is None:
            self.conn = http.client.HTTPSConnection(self.host, self.port, timeout=self.timeout, context=self.ctx)
        target = self.prefix + path
        if query:
            target += "?" + urllib.parse.urlencode([(k, v) for k, v in query.items() if v is not None])
        data = None if body is None else (body if isinstance(body, bytes) else json.dumps(body).encode())
        h = {"Accept": "application/json"}
        if data is not None:
            h["Content-Type"] = content_type
        if self.token:
            h["Authorization"] = "Bearer " + self.token
        h.update(headers or {})
        try:
            self.conn.request(method, target, body=data, headers=h)
            r = self.conn.getresponse()
            raw = r.read()
        except (ConnectionError, http.client.HTTPException, OSError):
            self.conn.close()
            self.conn = None
            raise
        hdrs = {k.lower(): v for k, v in r.getheaders()}
        try:
            obj = json.loads(raw) if raw else None
        except ValueError:
            obj = raw
        return r.status, hdrs, obj

    def get(self, path, **query):
        return self.request("GET", path, query=query or None)

    def patch(self, path, body, content_type="application/merge-patch+json"):
        return self.request("PATCH", path, body, content_type)

    def evict(self, ns, name):
        return self.request("POST", "/api/v1/namespaces/%s/pods/%s/eviction" % (ns, name),
                            {"apiVersion": "policy/v1", "kind": "Eviction",
                             "metadata": {"name": name, "namespace": ns}})

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
