#!/usr/bin/env python3
"""Loopback HTTP/1.1 test server for the net tests (Python stdlib only).

Started by the C tests on 127.0.0.1 port 0; prints "PORT <n>" on stdout.
With "--tls DIR" it serves https with a fresh self-signed certificate for
127.0.0.1/localhost, written to DIR/cert.pem (the tests' CA file).
Keep-alive is on, so connection reuse is observable (X-Conn: client port).

Routes (query parameters in brackets):
  /ok [delay_ms, size]      200 "ok" (or size bytes) after an optional delay
  /stall                    reads the request, never answers (until killed)
  /reset-mid-body           promises 100000 bytes, sends 1000, then RST
  /throttle key times [retry_after] [acs_ms] [code]
                            the first `times` hits of key answer `code`
                            (default 429) with the hint headers; then 200
  /status key code          answers `code` every time
  /fail key times [code]    the first `times` hits answer code (503), then 200
  /big size [chunked]       a body of `size` bytes (chunked: no length)
  /mutate-then-drop key     reads the request (any method), records it,
                            closes the connection without an answer
  /echo                     JSON: method, headers, body length
  /hits key                 JSON: {"count": n, "times_ms": [...], "conns": [...]}
Every route records (monotonic ms, client port) under its key (default:
the path), so tests can count arrivals and measure gaps between them.
"""
import json
import os
import socket
import ssl
import subprocess
import struct
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

LOCK = threading.Lock()
HITS = {}  # key -> list of (ms, port, method)


def now_ms():
    return time.monotonic() * 1000.0


def record(key, port, method):
    with LOCK:
        HITS.setdefault(key, []).append((now_ms(), port, method))
        return len(HITS[key])


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "nh-testserver"

    def log_message(self, fmt, *args):  # quiet
        pass

    def _read_body(self):
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n > 0 else b""

    def _send(self, code, body=b"", headers=None):
        self.send_response(code)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("X-Conn", str(self.client_address[1]))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        if body and self.command != "HEAD":
            self.wfile.write(body)

    def _drop(self, rst=True):
        if rst:
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                       struct.pack("ii", 1, 0))
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def _handle(self):
        u = urlsplit(self.path)
        q = {k: v[-1] for k, v in parse_qs(u.query).items()}
        key = q.get("key", u.path)
        port = self.client_address[1]
        body = self._read_body()
        if u.path == "/hits":
            with LOCK:
                h = list(HITS.get(key, []))
            out = {"count": len(h), "times_ms": [t for t, _, _ in h],
                   "conns": [p for _, p, _ in h], "methods": [m for _, _, m in h]}
            return self._send(200, json.dumps(out).encode(),
                              {"Content-Type": "application/json"})
        n = record(key, port, self.command)
        if u.path == "/ok":
            delay = int(q.get("delay_ms", "0"))
            if delay:
                time.sleep(delay / 1000.0)
            size = int(q.get("size", "0"))
            payload = b"x" * size if size else b"ok"
            return self._send(200, payload, {"X-Test": "  hello  "})
        if u.path == "/stall":
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                time.sleep(0.05)
            return self._drop()
        if u.path == "/reset-mid-body":
            self.send_response(200)
            self.send_header("Content-Length", "100000")
            self.end_headers()
            self.wfile.write(b"y" * 1000)
            self.wfile.flush()
            time.sleep(0.05)
            return self._drop(rst=True)
        if u.path == "/throttle":
            if n <= int(q.get("times", "1")):
                hdrs = {}
                if "retry_after" in q:
                    hdrs["Retry-After"] = q["retry_after"]
                if "acs_ms" in q:
                    hdrs["x-acs-retry-after"] = q["acs_ms"]
                return self._send(int(q.get("code", "429")), b'{"code":"Throttling"}', hdrs)
            return self._send(200, b"ok")
        if u.path == "/status":
            return self._send(int(q.get("code", "200")), b"status")
        if u.path == "/fail":
            if n <= int(q.get("times", "1")):
                return self._send(int(q.get("code", "503")), b"fail")
            return self._send(200, b"ok")
        if u.path == "/big":
            size = int(q.get("size", "1000"))
            if q.get("chunked"):
                self.send_response(200)
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                left = size
                while left > 0:
                    c = min(left, 65536)
                    self.wfile.write(b"%x\r\n" % c + b"z" * c + b"\r\n")
                    left -= c
                self.wfile.write(b"0\r\n\r\n")
                return None
            return self._send(200, b"z" * size)
        if u.path == "/mutate-then-drop":
            return self._drop(rst=False)
        if u.path == "/echo":
            out = {"method": self.command, "headers": {k.lower(): v for k, v in self.headers.items()},
                   "body_len": len(body)}
            return self._send(200, json.dumps(out).encode(), {"Content-Type": "application/json"})
        return self._send(404, b"no such route")

    do_GET = do_PUT = do_POST = do_DELETE = do_PATCH = do_HEAD = _handle


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 4096
    tls = None  # ssl.SSLContext when serving https

    def finish_request(self, request, client_address):
        if self.tls is not None:  # handshake in the connection's thread
            request = self.tls.wrap_socket(request, server_side=True)
        super().finish_request(request, client_address)

    def handle_error(self, request, client_address):  # resets are expected here
        pass


def make_cert(d):
    """A self-signed certificate for 127.0.0.1 and localhost in directory d."""
    cert, key = os.path.join(d, "cert.pem"), os.path.join(d, "key.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:prime256v1", "-nodes", "-days", "2",
                    "-subj", "/CN=localhost", "-addext",
                    "subjectAltName=IP:127.0.0.1,DNS:localhost",
                    "-keyout", key, "-out", cert],
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return cert, key


def main():
    srv = Server(("127.0.0.1", 0), Handler)
    if len(sys.argv) == 3 and sys.argv[1] == "--tls":
        cert, key = make_cert(sys.argv[2])
        srv.tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        srv.tls.load_cert_chain(cert, key)
    sys.stdout.write("PORT %d\n" % srv.server_address[1])
    sys.stdout.flush()
    try:
        srv.serve_forever(poll_interval=0.1)
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
