#!/usr/bin/env python3
"""A loopback stand-in for a Kubernetes API server, for the kube client tests
(Python 3 standard library and the openssl command line only).

    kubesrv.py --gen DIR
        writes a throwaway PKI into DIR with the openssl CLI and exits:
        ca.pem/ca.key (the cluster CA), server.pem/server.key (signed by it,
        SAN IP:127.0.0.1, DNS:localhost), client.pem/client.key (CN
        nodeherd-test, clientAuth), rsa-client.pem/rsa-client.key (RSA),
        client-enc.key (client.key encrypted, passphrase "x"),
        other-ca.pem/other-ca.key (an unrelated CA), rogue.pem/rogue.key
        (a client certificate signed by the unrelated CA).

    kubesrv.py --dir DIR [--require-client-cert] [--token TOKEN]
        serves https on 127.0.0.1 (port 0) with DIR/server.pem, verifying
        client certificates against DIR/ca.pem (required, or optional as a
        real API server does), plus a plain-http control port. Prints
        "PORT <api> CTL <ctl>".

API (the subset nodeherd uses; answers shaped like the real thing):
  GET   /api/v1/nodes?limit&continue            NodeList pages
  GET   /api/v1/nodes/NAME                      Node or 404 Status
  PATCH /api/v1/nodes/NAME                      merge patch; 415 unless
        application/merge-patch+json; metadata.resourceVersion is a
        precondition (409 when stale)
  GET   /api/v1/pods?fieldSelector=spec.nodeName=NAME&limit&continue
  POST  /api/v1/namespaces/NS/pods/NAME/eviction  policy/v1 Eviction:
        201 and the pod goes; 404 unknown pod; 409 uid precondition failed.
        A pod given with "_linger": N (pod_objs) is terminating after its
        eviction instead: it gets metadata.deletionTimestamp and is listed N
        more times (complete lists of its node), then goes; evicting it
        again answers 201 and changes nothing.
Authentication: a verified client certificate, or "Authorization: Bearer
TOKEN"; else 401.

Control port (plain http, loopback):
  POST /_ctl  JSON, any of:
      {"reset": true}
      {"nodes": N}                       N generated nodes node-0000...
      {"node_objs": [..]}                nodes as given
      {"gen_pods": {"node": NAME, "count": N}}
      {"pod_objs": [..]}                 pods as given (spec.nodeName used)
      {"faults": [F, ..]}                one-shot answers, checked in order:
         F = {"method", "path", "prefix": bool, "query_has": str,
              "skip": n (let n matching requests through first),
              "times": n (default 1), "status": code, "headers": {..},
              "body": str | "body_json": obj, "delay_ms": n}
  GET  /_log[?clear=1]   {"log": [{"method","path","query","auth","ctype",
                          "body","t"}]} (auth: "cert:CN", "bearer",
                          "bearer-bad" or "none"; t: monotonic ms)
  GET  /_state           {"nodes": {NAME: {"unschedulable", "annotations",
                          "rv"}}, "pods": ["ns/name", ..]}
"""
import base64
import json
import os
import ssl
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

LOCK = threading.Lock()
STATE = {}
TOKEN = [None]


def reset():
    STATE.clear()
    STATE.update({"nodes": [], "pods": [], "faults": [], "log": [], "seen": {}})


reset()


def now_ms():
    return time.monotonic() * 1000.0


# ---- PKI ----

def run(args, cwd):
    subprocess.run(["openssl"] + args, cwd=cwd, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def ec_key(d, name):
    run(["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256",
         "-out", name], d)


def make_ca(d, name, cn):
    ec_key(d, name + ".key")
    run(["req", "-x509", "-new", "-key", name + ".key", "-days", "2", "-subj", "/CN=" + cn,
         "-addext", "basicConstraints=critical,CA:TRUE",
         "-addext", "keyUsage=critical,keyCertSign,cRLSign", "-out", name + ".pem"], d)


def make_leaf(d, name, ca, cn, ext, rsa=False):
    if rsa:
        run(["genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048",
             "-out", name + ".key"], d)
    else:
        ec_key(d, name + ".key")
    run(["req", "-new", "-key", name + ".key", "-subj", "/CN=" + cn, "-out", name + ".csr"], d)
    with open(os.path.join(d, name + ".ext"), "w") as f:
        f.write(ext)
    run(["x509", "-req", "-in", name + ".csr", "-CA", ca + ".pem", "-CAkey", ca + ".key",
         "-set_serial", str(int.from_bytes(os.urandom(8), "big")), "-days", "2",
         "-extfile", name + ".ext", "-out", name + ".pem"], d)
    os.unlink(os.path.join(d, name + ".csr"))
    os.unlink(os.path.join(d, name + ".ext"))


def gen(d):
    os.makedirs(d, exist_ok=True)
    make_ca(d, "ca", "nodeherd-test-ca")
    make_ca(d, "other-ca", "unrelated-ca")
    make_leaf(d, "server", "ca", "kube-apiserver",
              "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n")
    client = "extendedKeyUsage=clientAuth\n"
    make_leaf(d, "client", "ca", "nodeherd-test", client)
    make_leaf(d, "rsa-client", "ca", "nodeherd-rsa", client, rsa=True)
    make_leaf(d, "rogue", "other-ca", "nodeherd-rogue", client)
    run(["pkey", "-in", "client.key", "-aes256", "-passout", "pass:x",
         "-out", "client-enc.key"], d)


# ---- objects ----

def status(code, reason, message, details=None):
    s = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
         "message": message, "reason": reason, "code": code}
    if details is not None:
        s["details"] = details
    return s


def gen_node(i):
    name = "node-%04d" % i
    return {
        "kind": "Node", "apiVersion": "v1",
        "metadata": {
            "name": name, "uid": "uid-%s" % name, "resourceVersion": "1",
            "creationTimestamp": "2024-03-01T10:%02d:%02dZ" % (i // 60 % 60, i % 60),
            "labels": {"kubernetes.io/hostname": name, "node.kubernetes.io/instance-type":
                       "ecs.g7.large", "topology.kubernetes.io/zone": "cn-test-a"},
            "annotations": {"node.alpha.kubernetes.io/ttl": "0"},
            "managedFields": [{"manager": "kubelet", "fieldsV1": {"f:status": {"f:a": {}}}}],
        },
        "spec": {"providerID": "cn-test.i-%04d" % i, "podCIDR": "172.20.%d.0/24" % (i % 250)},
        "status": {
            "conditions": [{"type": "MemoryPressure", "status": "False"},
                           {"type": "Ready", "status": "True"}],
            "addresses": [{"type": "InternalIP", "address": "10.0.%d.%d" % (i // 250, i % 250 + 1)},
                          {"type": "Hostname", "address": name}],
            "images": [{"names": ["registry.example/app:%d" % j], "sizeBytes": 1000}
                       for j in range(3)],
        },
    }


def gen_pod(node, i):
    return {
        "metadata": {"namespace": "shop", "name": "%s-pod-%d" % (node, i),
                     "uid": "pod-uid-%s-%d" % (node, i),
                     "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet",
                                          "name": "web-1", "controller": True}]},
        "spec": {"nodeName": node},
        "status": {"phase": "Running"},
    }


def find_node(name):
    for n in STATE["nodes"]:
        if n["metadata"]["name"] == name:
            return n
    return None


def page(items, q, kind):
    limit = int(q.get("limit", "0") or 0)
    start = 0
    if "continue" in q:
        try:
            tok = json.loads(base64.b64decode(q["continue"]).decode())
            start = int(tok["start"])
        except Exception:
            return 400, status(400, "BadRequest", "invalid continue token")
    end = len(items) if limit <= 0 else min(len(items), start + limit)
    meta = {"resourceVersion": "100"}
    if end < len(items):
        meta["continue"] = base64.b64encode(
            json.dumps({"rv": 100, "start": end}).encode()).decode()
        meta["remainingItemCount"] = len(items) - end
    return 200, {"kind": kind, "apiVersion": "v1", "metadata": meta, "items": items[start:end]}


def shown(p):
    """A pod as the API shows it (test-only keys, starting with '_', left out)."""
    return {k: v for k, v in p.items() if not k.startswith("_")}


def linger_tick(pods):
    """After a complete list of a node's pods: an evicted pod with "_linger": N
    (still terminating) is listed N more times, then goes."""
    for p in pods:
        if p.get("_evicted"):
            p["_linger"] -= 1
            if p["_linger"] <= 0:
                STATE["pods"].remove(p)


def merge(dst, patch):
    for k, v in patch.items():
        if v is None:
            dst.pop(k, None)
        elif isinstance(v, dict) and isinstance(dst.get(k), dict):
            merge(dst[k], v)
        elif isinstance(v, dict):
            dst[k] = {}
            merge(dst[k], v)
        else:
            dst[k] = v


# ---- handlers ----

class Api(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "kubesrv"

    def log_message(self, fmt, *args):
        pass

    def reply(self, code, obj=None, raw=None, headers=None):
        body = raw if raw is not None else (json.dumps(obj).encode() if obj is not None else b"")
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def auth(self):
        cert = self.connection.getpeercert() if hasattr(self.connection, "getpeercert") else None
        if cert:
            for rdn in cert.get("subject", ()):
                for k, v in rdn:
                    if k == "commonName":
                        return "cert:" + v
            return "cert:?"
        h = self.headers.get("Authorization")
        if h is None:
            return "none"
        return "bearer" if TOKEN[0] is not None and h == "Bearer " + TOKEN[0] else "bearer-bad"

    def fault(self, method, path, query):
        with LOCK:
            for f in STATE["faults"]:
                if f.get("method", method) != method:
                    continue
                fp = f.get("path", path)
                if not (path.startswith(fp) if f.get("prefix") else path == fp):
                    continue
                if f.get("query_has", "") not in query:
                    continue
                if f.get("skip", 0) > 0:
                    f["skip"] -= 1
                    continue
                if f.get("times", 1) <= 0:
                    continue
                f["times"] = f.get("times", 1) - 1
                return dict(f)
        return None

    def handle_any(self, method):
        u = urlsplit(self.path)
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n) if n > 0 else b""
        who = self.auth()
        with LOCK:
            STATE["log"].append({"method": method, "path": u.path, "query": u.query,
                                 "auth": who, "ctype": self.headers.get("Content-Type", ""),
                                 "body": body.decode("utf-8", "replace"), "t": now_ms()})
        if who not in ("bearer",) and not who.startswith("cert:"):
            return self.reply(401, status(401, "Unauthorized", "Unauthorized"))
        f = self.fault(method, u.path, u.query)
        if f is not None:
            if f.get("delay_ms"):
                time.sleep(f["delay_ms"] / 1000.0)
            raw = f["body"].encode() if "body" in f else None
            return self.reply(f.get("status", 200), f.get("body_json"), raw, f.get("headers"))
        q = {k: v[-1] for k, v in parse_qs(u.query).items()}
        parts = [p for p in u.path.split("/") if p]
        with LOCK:
            code, obj = self.route(method, parts, q, body)
        self.reply(code, obj)

    def route(self, method, parts, q, body):
        if parts == ["api", "v1", "nodes"] and method == "GET":
            return page(STATE["nodes"], q, "NodeList")
        if len(parts) == 4 and parts[:3] == ["api", "v1", "nodes"]:
            node = find_node(parts[3])
            if node is None:
                return 404, status(404, "NotFound", 'nodes "%s" not found' % parts[3])
            if method == "GET":
                return 200, node
            if method == "PATCH":
                if self.headers.get("Content-Type") != "application/merge-patch+json":
                    return 415, status(415, "UnsupportedMediaType", "wrong content type")
                p = json.loads(body)
                want = p.get("metadata", {}).get("resourceVersion")
                have = node["metadata"]["resourceVersion"]
                if want is not None and want != have:
                    return 409, status(409, "Conflict",
                                       'Operation cannot be fulfilled on nodes "%s": the object '
                                       'has been modified; please apply your changes to the '
                                       'latest version and try again' % parts[3])
                p.get("metadata", {}).pop("resourceVersion", None)
                merge(node, p)
                node["metadata"]["resourceVersion"] = str(int(have) + 1)
                return 200, node
        if parts == ["api", "v1", "pods"] and method == "GET":
            sel = q.get("fieldSelector", "")
            if not sel.startswith("spec.nodeName="):
                return 400, status(400, "BadRequest", "fieldSelector required here")
            name = sel[len("spec.nodeName="):]
            pods = [p for p in STATE["pods"] if p.get("spec", {}).get("nodeName") == name]
            code, obj = page([shown(p) for p in pods], q, "PodList")
            if code == 200 and "continue" not in obj["metadata"]:
                linger_tick(pods)
            return code, obj
        if (len(parts) == 7 and parts[:3] == ["api", "v1", "namespaces"] and parts[4] == "pods"
                and parts[6] == "eviction" and method == "POST"):
            ns, name = parts[3], parts[5]
            if self.headers.get("Content-Type") != "application/json":
                return 415, status(415, "UnsupportedMediaType", "wrong content type")
            ev = json.loads(body)
            if (ev.get("apiVersion") != "policy/v1" or ev.get("kind") != "Eviction" or
                    ev.get("metadata") != {"name": name, "namespace": ns}):
                return 400, status(400, "BadRequest", "not a policy/v1 Eviction of that pod")
            for i, p in enumerate(STATE["pods"]):
                m = p["metadata"]
                if m["namespace"] == ns and m["name"] == name:
                    uid = ev.get("deleteOptions", {}).get("preconditions", {}).get("uid")
                    if uid is not None and uid != m["uid"]:
                        return 409, status(409, "Conflict",
                                           "Precondition failed: UID in precondition: %s, UID "
                                           "in object meta: %s" % (uid, m["uid"]))
                    if p.get("_linger", 0) > 0:  # terminating: listed a while longer
                        m.setdefault("deletionTimestamp", "2024-03-01T10:00:00Z")
                        p["_evicted"] = True
                    else:
                        del STATE["pods"][i]
                    return 201, {"kind": "Status", "apiVersion": "v1", "status": "Success",
                                 "code": 201}
            return 404, status(404, "NotFound", 'pods "%s" not found' % name)
        return 404, status(404, "NotFound", "the server could not find the requested resource")

    def do_GET(self):
        self.handle_any("GET")

    def do_POST(self):
        self.handle_any("POST")

    def do_PATCH(self):
        self.handle_any("PATCH")


class Ctl(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        pass

    def reply(self, obj):
        body = json.dumps(obj).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        u = urlsplit(self.path)
        with LOCK:
            if u.path == "/_log":
                out = {"log": list(STATE["log"])}
                if "clear=1" in u.query:
                    STATE["log"].clear()
            else:
                out = {"nodes": {n["metadata"]["name"]: {
                    "unschedulable": n.get("spec", {}).get("unschedulable", False),
                    "annotations": n["metadata"].get("annotations", {}),
                    "rv": n["metadata"]["resourceVersion"]} for n in STATE["nodes"]},
                    "pods": ["%s/%s" % (p["metadata"]["namespace"], p["metadata"]["name"])
                             for p in STATE["pods"]]}
        self.reply(out)

    def do_POST(self):
        n = int(self.headers.get("Content-Length") or 0)
        c = json.loads(self.rfile.read(n) or b"{}")
        with LOCK:
            if c.get("reset"):
                reset()
            if "nodes" in c:
                STATE["nodes"] += [gen_node(i) for i in range(c["nodes"])]
            STATE["nodes"] += c.get("node_objs", [])
            if "gen_pods" in c:
                g = c["gen_pods"]
                STATE["pods"] += [gen_pod(g["node"], i) for i in range(g["count"])]
            STATE["pods"] += c.get("pod_objs", [])
            STATE["faults"] += c.get("faults", [])
        self.reply({"ok": True})


class TlsServer(ThreadingHTTPServer):
    daemon_threads = True
    tls = None

    def finish_request(self, request, client_address):
        try:
            request = self.tls.wrap_socket(request, server_side=True)
        except (ssl.SSLError, OSError):
            return  # a refused certificate: the client sees the alert
        super().finish_request(request, client_address)

    def handle_error(self, request, client_address):
        pass


class CtlServer(ThreadingHTTPServer):
    daemon_threads = True


def main():
    a = sys.argv[1:]
    if len(a) == 2 and a[0] == "--gen":
        gen(a[1])
        return
    d = a[a.index("--dir") + 1]
    if "--token" in a:
        TOKEN[0] = a[a.index("--token") + 1]
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(os.path.join(d, "server.pem"), os.path.join(d, "server.key"))
    ctx.load_verify_locations(os.path.join(d, "ca.pem"))
    ctx.verify_mode = ssl.CERT_REQUIRED if "--require-client-cert" in a else ssl.CERT_OPTIONAL
    api = TlsServer(("127.0.0.1", 0), Api)
    api.tls = ctx
    ctl = CtlServer(("127.0.0.1", 0), Ctl)
    threading.Thread(target=ctl.serve_forever, kwargs={"poll_interval": 0.1},
                     daemon=True).start()
    sys.stdout.write("PORT %d CTL %d\n" % (api.server_address[1], ctl.server_address[1]))
    sys.stdout.flush()
    try:
        api.serve_forever(poll_interval=0.1)
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
