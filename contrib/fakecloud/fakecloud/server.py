"""HTTP layer: routing, auth, rate limit, faults, request log, then the cloud handlers.

One ThreadingHTTPServer, HTTP/1.1 keep-alive, Content-Length on every answer.
Everything between reading the request and producing the answer runs under
State.lock; slow-answer sleeps and socket writes happen outside it.
"""

import hashlib
import http.server
import io
import ipaddress
import json
import re
import socket
import ssl
import struct
import sys
import threading
import traceback
import time
import uuid

from . import ack, admin, cce, k8sapi, modelarts
from .auth import Authenticator
from .common import ApiError, Response
from .faults import Faults
from .k8s import K8sError
from .ratelimit import RateLimiter
from .sign import lower_headers, split_query
from .state import State

K8S_PATH = re.compile(r"^/k8s/(?P<cid>[A-Za-z0-9._~-]+)(?P<ext>/external)?(?P<rest>/.*)?$")


class Request:
    def __init__(self, method, raw_path, headers, body, now, arrival=None):
        self.method = method
        path, _, query = raw_path.partition("?")
        self.path = path
        self.query = query
        self.pairs = split_query(query)
        self.headers = headers
        self.body = body
        self.now = now
        # when the request reached this host (the kernel's receive time of its
        # first bytes, see ArrivalReader), else when its handler ran
        self.arrival = now if arrival is None else arrival
        self.params = {}
        self.cloud = None
        self.op = None
        self.mutating = False
        self.seq = None
        self.ak = None
        self.job_outcome = "success"
        self.request_id = str(uuid.uuid4()).upper()
        self._json = None

    def header(self, name, default=None):
        v = self.headers.get(name.lower())
        return v[0] if v else default

    def arg(self, name, default=None):
        for k, v in self.pairs:
            if k == name:
                return "" if v is None else v
        return default

    def json(self, error):
        """Parsed JSON body; `error(msg)` builds the cloud's invalid-request ApiError."""
        if self._json is None:
            if not self.body:
                raise error("request body is empty; a JSON object is required")
            try:
                self._json = json.loads(self.body.decode("utf-8"))
            except (UnicodeDecodeError, ValueError) as e:
                raise error("request body is not valid JSON: %s" % e)
            if not isinstance(self._json, dict):
                raise error("request body must be a JSON object")
        return self._json


def error_body(cloud, status, code, message, request_id):
    if code.startswith("APIGW.") or code.startswith("APIG."):
        return {"error_code": code, "error_msg": message, "request_id": request_id}
    if cloud == "ack":
        return {"code": code, "message": message, "requestId": request_id, "status": status}
    if cloud == "cce":
        return {"errorCode": code, "errorMessage": message}
    return {"error_code": code, "error_msg": message}


ROUTES = []
for _cloud, _mod in (("ack", ack), ("cce", cce), ("modelarts", modelarts)):
    for _method, _pattern, _op, _mutating, _fn in _mod.ROUTES:
        ROUTES.append((_cloud, _method, re.compile("^" + _pattern + "$"), _op, _mutating, _fn))


def cloud_of_path(path):
    if path.startswith("/api/v3/"):
        return "cce"
    if path.startswith("/v2/"):
        return "modelarts"
    return "ack"


def match_route(method, path):
    """(cloud, op, mutating, fn, params) or (cloud, None, ...) when no route fits."""
    allowed = False
    for cloud, m, rx, op, mutating, fn in ROUTES:
        mm = rx.match(path)
        if mm is None:
            continue
        allowed = True
        if m == method:
            return cloud, op, mutating, fn, mm.groupdict()
    return cloud_of_path(path), None, allowed, None, {}


class FakeCloud:
    """The emulator: state + auth + limiter + faults + request log. Thread-safe through state.lock."""

    def __init__(self, seed=None, credentials=None, log_path=None):
        self.seed = seed or {}
        self.state = State(self.seed, credentials)
        self.auth = Authenticator(self.state)
        self.limiter = RateLimiter()
        self.faults = Faults()
        self.log = []
        self.seq = 0
        self.log_file = open(log_path, "a", encoding="utf-8") if log_path else None
        self.authority = None
        self.state.k8s_endpoint = None
        self._apply_seed_extras()

    def enable_k8s(self, authority, host, port):
        """The HTTPS listener of the emulated Kubernetes API is up at host:port (see make_k8s_server)."""
        self.authority = authority
        self.state.k8s_endpoint = {"host": host, "port": port, "authority": authority}

    def _apply_seed_extras(self):
        rl = self.seed.get("ratelimit") or {}
        self.limiter.configure(rl.get("qps", 0), rl.get("burst", 0), rl.get("retry_after"),
                               rl.get("window"), rl.get("limit"))
        self.faults.clear()
        for f in self.seed.get("faults") or []:
            self.faults.add(f)

    def reset(self):
        with self.state.lock:
            self.state.load(self.state.seed)
            self.auth.reset()
            self._apply_seed_extras()
            self.log = []

    def close(self):
        if self.log_file:
            self.log_file.close()
            self.log_file = None
        if self.authority is not None:
            self.authority.close()
            self.authority = None

    # ------------------------------------------------------------------ one request

    def handle(self, method, raw_path, header_items, body, arrival=None):
        """Returns (Response or None, action) where action is None, 'reset_before', 'reset_after',
        ('slow', delay) or 'truncated'. Admin paths are served here too (not logged). `arrival`:
        when the request reached this host (epoch seconds), if the HTTP layer knows."""
        now = time.time()
        headers = lower_headers(header_items)
        req = Request(method, raw_path, headers, body, now, arrival)
        if req.path.startswith("/_fake/") or req.path == "/_fake":
            with self.state.lock:
                self.state.advance(now)
                return admin.handle(self, req), None
        cloud, op, mutating, fn, params = match_route(method, req.path)
        req.cloud, req.op, req.params = cloud, op, params
        req.mutating = bool(mutating) if op else method not in ("GET", "HEAD")
        with self.state.lock:
            self.state.advance(now)
            self.seq += 1
            req.seq = self.seq
            resp, fault, action = self._process(req, fn)
            self._log(req, resp, fault)
        return resp, action

    def _process(self, req, fn):
        st = self.state
        if req.op is None:
            if req.cloud == "ack":
                return self._err(req, 404, "InvalidApi.NotFound",
                                 "Specified api is not found, please check your url and method."), None, None
            return self._err(req, 404, "APIGW.0101",
                             "The API does not exist or has not been published in the environment"), None, None
        # authentication
        if req.cloud == "ack":
            a = self.auth.check_ack(req.method, req.path, req.pairs, req.headers, req.body, req.now)
        else:
            a = self.auth.check_huawei(req.method, req.path, req.pairs, req.headers, req.body, req.now)
        req.ak = a.ak
        if not a.ok:
            return self._err(req, *a.error), None, None
        # rate limit: counted by arrival, as a cloud's gateway counts (not
        # when this emulator got round to the request: see ratelimit.py)
        if not self.limiter.take(a.ak, req.arrival):
            st.violation("over_rate_limit", req.seq, req.op, {"ak": a.ak})
            return self._throttle(req, self.limiter.retry_after), None, None
        # faults before processing
        rule = self.faults.fire("pre", req.op, req.method, req.path, req.mutating, req.cloud)
        if rule is not None:
            if rule.fault == "throttle":
                return self._throttle(req, rule.retry_after), rule, None
            if rule.fault == "reset_before":
                return None, rule, "reset_before"
            if rule.fault == "late":
                # The gateway gives up (503) but the backend has the request
                # queued: it is processed `delay` seconds later.
                if req.mutating:
                    t = threading.Timer(rule.delay, self._apply_late, (req, fn))
                    t.daemon = True
                    t.start()
                return self._server_error(req, 503), rule, None
            return self._server_error(req, int(rule.fault)), rule, None
        job = self.faults.fire("job", req.op, req.method, req.path, req.mutating, req.cloud)
        if job is not None:
            req.job_outcome = {"job_fail": "fail", "job_stuck": "stuck",
                               "subjob_fail": "partial:%d" % job.nodes}[job.fault]
        try:
            resp = fn(st, req)
        except ApiError as e:
            resp = self._err(req, e.status, e.code, e.message)
            resp.headers.update(e.headers)
        self._stamp(req, resp)
        fired = job
        post = self.faults.fire("post", req.op, req.method, req.path, req.mutating, req.cloud)
        if post is None:
            return resp, fired, None
        if post.fault in ("500", "502", "503"):
            return self._server_error(req, int(post.fault)), post, None
        if post.fault == "reset_after":
            return None, post, "reset_after"
        if post.fault == "slow":
            return resp, post, ("slow", post.delay)
        if post.fault == "malformed":
            resp.body = b'{"request_id": "' + req.request_id.encode() + b'", <html>oops</html>'
            return resp, post, None
        if post.fault == "truncated":
            data = resp.payload()
            resp.body = data[:max(1, len(data) // 2)]
            return resp, post, None
        return resp, fired, None

    def _apply_late(self, req, fn):
        """A `late` request, processed now (its log entry, written when it
        arrived, shows the 503 its caller got)."""
        with self.state.lock:
            now = time.time()
            self.state.advance(now)
            req.now = now
            try:
                fn(self.state, req)
            except ApiError:
                pass

    # ------------------------------------------------------------------ Kubernetes

    def handle_k8s(self, method, raw_path, header_items, body, peer_serial):
        """One request to the emulated Kubernetes API (HTTPS listener). peer_serial: the verified client
        certificate's serial number, or None."""
        now = time.time()
        headers = lower_headers(header_items)
        req = Request(method, raw_path, headers, body, now)
        req.cloud = "k8s"
        with self.state.lock:
            self.state.advance(now)
            self.seq += 1
            req.seq = self.seq
            resp, fault, action = self._process_k8s(req, peer_serial)
            self._log(req, resp, fault)
        return resp, action

    def _k8s_status(self, req, err):
        r = Response(err.code, err.body(), err.headers)
        r.code = err.reason
        self._stamp(req, r)
        return r

    def _process_k8s(self, req, peer_serial):
        st = self.state
        model = st.k8s
        m = K8S_PATH.match(req.path)
        kc = model.clusters.get(m.group("cid")) if m else None
        if kc is None:
            req.mutating = req.method not in ("GET", "HEAD")
            return self._k8s_status(req, K8sError(404, "NotFound", "the server could not find the requested "
                                                                   "resource", {})), None, None
        req.k8s_cluster = kc.cid
        req.k8s_endpoint = "external" if m.group("ext") else "internal"
        op, mutating, fn, params = k8sapi.match(req.method, m.group("rest") or "/")
        req.op, req.params = op, params
        req.mutating = bool(mutating) if op else req.method not in ("GET", "HEAD")
        auth = req.header("authorization") or ""
        bearer = auth[7:].strip() if auth[:7].lower() == "bearer " else None
        label, why = model.authenticate(kc.cid, peer_serial, bearer, req.now)
        req.ak = label
        if why is not None:
            req.auth_error = why
            return self._k8s_status(req, K8sError(401, "Unauthorized", "Unauthorized")), None, None
        rule = self.faults.fire("pre", op or "", req.method, req.path, req.mutating, "k8s")
        if rule is not None:
            if rule.fault == "throttle":
                ra = int(max(1, float(rule.retry_after if rule.retry_after is not None else 1)))
                return self._k8s_status(req, K8sError(429, "TooManyRequests", "Too many requests, please try "
                                                      "again later.", {"retryAfterSeconds": ra},
                                                      headers={"Retry-After": str(ra)})), rule, None
            if rule.fault == "reset_before":
                return None, rule, "reset_before"
            if rule.fault == "late":  # no queued backend here: a plain 503
                return self._k8s_server_error(req, 503), rule, None
            return self._k8s_server_error(req, int(rule.fault)), rule, None
        if op is None:
            if mutating:
                return self._k8s_status(req, K8sError(405, "MethodNotAllowed", "the server does not allow this "
                                                      "method on the requested resource", {})), None, None
            return self._k8s_status(req, K8sError(404, "NotFound", "the server could not find the requested "
                                                  "resource", {})), None, None
        try:
            resp = fn(model, kc, req)
        except K8sError as e:
            resp = self._k8s_status(req, e)
        self._stamp(req, resp)
        post = self.faults.fire("post", op, req.method, req.path, req.mutating, "k8s")
        if post is None:
            return resp, None, None
        if post.fault in ("500", "502", "503"):
            return self._k8s_server_error(req, int(post.fault)), post, None
        if post.fault == "reset_after":
            return None, post, "reset_after"
        if post.fault == "slow":
            return resp, post, ("slow", post.delay)
        if post.fault == "malformed":
            resp.body = b'{"kind": "Status", <html>oops</html>'
            return resp, post, None
        if post.fault == "truncated":
            data = resp.payload()
            resp.body = data[:max(1, len(data) // 2)]
            return resp, post, None
        return resp, None, None

    def _k8s_server_error(self, req, status):
        if status == 502:
            return self._server_error(req, 502)
        if status == 500:
            e = K8sError(500, "InternalError", "Internal error occurred: fakecloud injected a server error",
                         {"causes": [{"message": "fakecloud injected a server error"}]})
        else:
            e = K8sError(503, "ServiceUnavailable", "the server is currently unable to handle the request", {})
        return self._k8s_status(req, e)

    def _stamp(self, req, resp):
        if req.cloud == "k8s":
            resp.headers.setdefault("Content-Type", "application/json")
            resp.headers.setdefault("Audit-Id", req.request_id.lower())
            resp.headers.setdefault("Cache-Control", "no-cache, private")
        elif req.cloud == "ack":
            resp.headers.setdefault("x-acs-request-id", req.request_id)
        else:
            resp.headers.setdefault("X-Request-Id", req.request_id)

    def _err(self, req, status, code, message):
        r = Response(status, error_body(req.cloud, status, code, message, req.request_id))
        r.code = code
        self._stamp(req, r)
        return r

    def _throttle(self, req, retry_after):
        if req.cloud == "ack":
            r = self._err(req, 400, "Throttling.User", "Request was denied due to user flow control.")
            if retry_after is not None:
                r.headers["x-acs-retry-after"] = str(int(float(retry_after) * 1000))
        else:
            r = self._err(req, 429, "APIGW.0308", "The throttling threshold has been reached: policy user over "
                          "ratelimit,limit:%d,time:%s" % (max(1, self.limiter.limit),
                                                          self.limiter.describe_window()))
            if retry_after is not None:
                r.headers["Retry-After"] = str(int(max(0, float(retry_after))))
        return r

    def _server_error(self, req, status):
        if status == 502:
            r = Response(502, b"<html><head><title>502 Bad Gateway</title></head><body><h1>502 Bad Gateway</h1>"
                              b"</body></html>", {"Content-Type": "text/html"})
            r.code = "BadGateway"
            self._stamp(req, r)
            return r
        if req.cloud == "ack":
            code = "InternalError" if status == 500 else "ServiceUnavailable"
            msg = ("The request processing has failed due to some unknown error." if status == 500
                   else "The request has failed due to a temporary failure of the server.")
        elif req.cloud == "cce":
            code, msg = ("CCE.01500001", "Internal server error") if status == 500 else \
                ("APIGW.0203", "Backend unavailable")
        else:
            code, msg = ("ModelArts.50005000", "Internal server error") if status == 500 else \
                ("APIGW.0203", "Backend unavailable")
        return self._err(req, status, code, msg)

    def _log(self, req, resp, fault):
        e = {"seq": req.seq, "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(req.now))
             + ".%03dZ" % int((req.now % 1) * 1000), "epoch": round(req.now, 6),
             "arrival": round(req.arrival, 6),
             "method": req.method, "path": req.path, "query": req.query,
             "body_sha256": hashlib.sha256(req.body).hexdigest(), "body_len": len(req.body),
             "cloud": req.cloud, "op": req.op, "mutating": req.mutating,
             "status": resp.status if resp is not None else None,
             "code": resp.code if resp is not None else None,
             "fault": fault.fault if fault is not None else None,
             "ak": req.ak, "action": req.header("x-acs-action") if req.cloud == "ack" else None,
             "request_id": req.request_id,
             "job_outcome": req.job_outcome if req.mutating and req.cloud != "k8s" else None,
             "task": getattr(req, "task_id", None)}
        if req.cloud == "k8s":
            e["cluster"] = getattr(req, "k8s_cluster", None)
            e["endpoint"] = getattr(req, "k8s_endpoint", None)
            e["auth_error"] = getattr(req, "auth_error", None)
        self.log.append(e)
        if self.log_file:
            self.log_file.write(json.dumps(e, ensure_ascii=False) + "\n")
            self.log_file.flush()


# ---------------------------------------------------------------------- HTTP


SO_TIMESTAMPNS = getattr(socket, "SO_TIMESTAMPNS", 35)  # Linux; the module names it from Python 3.13 on
_STAMP_SPACE = socket.CMSG_SPACE(16) if hasattr(socket, "CMSG_SPACE") else 0


class ArrivalReader(io.RawIOBase):
    """The raw reader under a connection's rfile: recvmsg() instead of recv(), so that every read
    also brings the kernel's receive timestamp (SO_TIMESTAMPNS, set on the listening socket and
    inherited by accepted ones) of the bytes it returned. A request's arrival is then when its
    first bytes reached this host, not when a handler thread got round to it: on a busy
    machine the threads of this emulator run late and unevenly (one interpreter lock), and
    requests that arrived spaced were stamped together, as a burst (ratelimit.py)."""

    def __init__(self, sock):
        super().__init__()
        self.sock = sock
        self.stamp = None   # epoch seconds of the bytes last read, None if the kernel gave none

    def readable(self):
        return True

    def readinto(self, buf):
        n, anc, _flags, _addr = self.sock.recvmsg_into([buf], _STAMP_SPACE)
        for level, kind, data in anc:
            if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS and len(data) >= 16:
                sec, nsec = struct.unpack("qq", data[:16])
                self.stamp = sec + nsec / 1e9
        return n

    def close(self):  # the socket is the server's to close (as with socket.SocketIO)
        self.sock = None
        super().close()


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body go out in two writes; with Nagle on, the second waits
    # for the client's delayed ACK (~40 ms per answer on loopback).
    disable_nagle_algorithm = True
    server_version = "fakecloud/1.0"
    fake = None            # set on the server class
    _arrival_reader = None
    arrival = None

    def setup(self):
        super().setup()
        if type(self.connection) is socket.socket and _STAMP_SPACE:  # not TLS: recvmsg on the raw socket
            self.rfile.close()  # the makefile() reader; the socket stays open
            self._arrival_reader = ArrivalReader(self.connection)
            self.rfile = io.BufferedReader(self._arrival_reader, max(self.rbufsize, io.DEFAULT_BUFFER_SIZE))

    def parse_request(self):
        # The request line has just been read: the last read brought its first bytes (clients do
        # not pipeline; a pipelined request shares the stamp of the read that brought it).
        self.arrival = self._arrival_reader.stamp if self._arrival_reader is not None else None
        return super().parse_request()

    def log_message(self, fmt, *args):  # quiet: the request log is the record
        pass

    def _read_body(self):
        te = (self.headers.get("Transfer-Encoding") or "").lower()
        if "chunked" in te:
            out = b""
            while True:
                line = self.rfile.readline(65537)
                size = int(line.split(b";", 1)[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline(65537) not in (b"\r\n", b"\n", b""):
                        pass
                    return out
                out += self.rfile.read(size)
                self.rfile.readline(3)
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n > 0 else b""

    def _serve(self):
        try:
            body = self._read_body()
        except (ValueError, OSError):
            self.close_connection = True
            resp, action = Response(400, {"error": "fakecloud: unreadable request body (bad chunked encoding "
                                                   "or Content-Length)"}), None
        else:
            try:
                resp, action = self._dispatch(body)
            except Exception as e:  # an emulator bug must still produce an answer, and say so
                traceback.print_exc(file=sys.stderr)
                resp, action = Response(500, {"error": "fakecloud internal error: %s: %s (this is an emulator "
                                                       "bug, please report it)" % (type(e).__name__, e)}), None
        if action in ("reset_before", "reset_after"):
            self._reset()
            return
        if isinstance(action, tuple) and action[0] == "slow":
            time.sleep(action[1])
        data = resp.payload()
        self.send_response(resp.status)
        ctype = resp.headers.pop("Content-Type", "application/json;charset=UTF-8")
        if data or resp.status != 202:
            self.send_header("Content-Type", ctype)
        for k, v in resp.headers.items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def _reset(self):
        """Abort the connection with a TCP RST and no answer."""
        self.close_connection = True
        try:
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.rfile.close()
            self.connection.close()
        except OSError:
            pass

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = _serve

    def _dispatch(self, body):
        return self.server.fake.handle(self.command, self.path, list(self.headers.items()), body, self.arrival)


class K8sHandler(Handler):
    """The emulated Kubernetes API (HTTPS): same framing, faults and log as the clouds."""
    server_version = "fakecloud-kube-apiserver/1.0"

    def _dispatch(self, body):
        serial = None
        try:
            cert = self.connection.getpeercert()
        except (ValueError, OSError):
            cert = None
        if cert and cert.get("serialNumber"):
            serial = int(cert["serialNumber"], 16)
        return self.server.fake.handle_k8s(self.command, self.path, list(self.headers.items()), body, serial)


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    # listen() backlog. socketserver's default of 5 dropped the SYNs of a
    # client opening hundreds of connections at once (nodeherd's first poll
    # of 1,000 clusters); each came back after TCP's SYN retry (1, 3, 7, 15,
    # 31 s), which no cloud front end adds: start -> READY=1 took 32 s at
    # 1,000 clusters / 10,000 pools (contrib/bench/README.md). The kernel
    # caps it at net.core.somaxconn.
    request_queue_size = 4096

    def handle_error(self, request, client_address):  # a reset client is not an emulator error
        pass


class TlsServer(Server):
    """TLS handshake in the connection's own thread (a slow client never blocks accept())."""
    ssl_context = None

    def finish_request(self, request, client_address):
        request.settimeout(30)
        try:
            conn = self.ssl_context.wrap_socket(request, server_side=True)
        except (ssl.SSLError, OSError):
            return
        try:
            conn.settimeout(None)
            self.RequestHandlerClass(conn, client_address, self)
        finally:
            try:
                conn.close()
            except OSError:
                pass


def check_loopback(host):
    if host == "localhost":
        return "127.0.0.1"
    try:
        ip = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        raise ValueError("--listen host %r is not an IP address; use 127.0.0.1 or ::1" % host)
    if not ip.is_loopback:
        raise ValueError("--listen %s is not a loopback address; fakecloud binds only 127.0.0.0/8 or ::1" % host)
    return str(ip)


def parse_listen(listen):
    host, sep, port = listen.rpartition(":")
    if not sep:
        raise ValueError("--listen must be HOST:PORT, e.g. 127.0.0.1:0")
    return check_loopback(host), int(port)


def make_server(listen, fake):
    host, port = parse_listen(listen)
    cls = type("BoundServer", (Server,), {})
    if ":" in host:
        cls.address_family = socket.AF_INET6
    srv = cls((host, port), Handler)
    try:  # accepted sockets inherit it: every request gets its arrival time (ArrivalReader)
        srv.socket.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
    except OSError:
        pass  # no kernel timestamps here: requests are stamped when their handler runs
    srv.fake = fake
    return srv


def make_k8s_server(listen, fake, authority):
    """The HTTPS listener of every cluster's Kubernetes API; tells `fake` where it is."""
    host, port = parse_listen(listen)
    cls = type("BoundTlsServer", (TlsServer,), {})
    if ":" in host:
        cls.address_family = socket.AF_INET6
    srv = cls((host, port), K8sHandler)
    srv.ssl_context = authority.server_context()
    srv.fake = fake
    fake.enable_k8s(authority, host if ":" not in host else "[%s]" % host, srv.server_address[1])
    return srv


def serve_in_thread(srv):
    t = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
    t.start()
    return t
