"""Certificates for the emulated Kubernetes API servers, made with the `openssl` command line.

Python's standard library can serve TLS and check client certificates but
cannot create certificates, so fakecloud runs `openssl` (OpenSSL 3: `req -x509
-CA`) into a private temporary directory at startup: one CA, one server
certificate for 127.0.0.1 / localhost, and one client certificate per
credential the clouds hand out. Keys are EC P-256 (fast to make). Nothing is
written outside the temporary directory, which is removed on close().
"""

import base64
import os
import shutil
import ssl
import subprocess
import tempfile
import threading
import time

OPENSSL = shutil.which("openssl")
X509_V_FLAG_NO_CHECK_TIME = 0x200000      # OpenSSL >= 1.1.0; not among Python's named VERIFY_* flags


class TlsError(RuntimeError):
    pass


def _b64(data):
    return base64.b64encode(data).decode("ascii")


class Authority:
    """A throwaway CA plus the API server's certificate. Thread-safe (one lock around openssl)."""

    def __init__(self, openssl=None):
        self.openssl = openssl or OPENSSL
        if not self.openssl:
            raise TlsError("the openssl command is not installed (apt-get install openssl); the emulated "
                           "Kubernetes API needs it to make certificates")
        self.dir = tempfile.mkdtemp(prefix="fakecloud-tls-")
        os.chmod(self.dir, 0o700)
        self.lock = threading.Lock()
        self.serial = 1000
        self.ca_crt = os.path.join(self.dir, "ca.crt")
        self.ca_key = os.path.join(self.dir, "ca.key")
        self.srv_crt = os.path.join(self.dir, "server.crt")
        self.srv_key = os.path.join(self.dir, "server.key")
        try:
            self._run(["req", "-x509", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                       "-nodes", "-keyout", self.ca_key, "-out", self.ca_crt, "-days", "3650",
                       "-subj", "/CN=fakecloud-kubernetes-ca",
                       "-addext", "basicConstraints=critical,CA:TRUE",
                       "-addext", "keyUsage=critical,keyCertSign,cRLSign"])
            self._issue(self.srv_crt, self.srv_key, "/CN=kube-apiserver", 3650,
                        ["subjectAltName=IP:127.0.0.1,IP:::1,DNS:localhost", "extendedKeyUsage=serverAuth",
                         "keyUsage=critical,digitalSignature", "basicConstraints=critical,CA:FALSE"])
        except Exception:
            self.close()
            raise
        with open(self.ca_crt, "rb") as f:
            self.ca_pem = f.read()
        # `openssl ca` signs client certificates with an exact notAfter (`req -days` counts whole days)
        os.mkdir(os.path.join(self.dir, "issued"))
        open(os.path.join(self.dir, "index.txt"), "w").close()
        self.ca_cnf = os.path.join(self.dir, "ca.cnf")
        with open(self.ca_cnf, "w") as f:
            f.write("[ca]\ndefault_ca = fc\n[fc]\ndatabase = %s\nnew_certs_dir = %s\ncertificate = %s\n"
                    "private_key = %s\nserial = %s\ndefault_md = sha256\npolicy = any\nunique_subject = no\n"
                    "copy_extensions = none\n[any]\norganizationName = optional\ncommonName = supplied\n"
                    "[client]\nextendedKeyUsage = clientAuth\nkeyUsage = critical,digitalSignature\n"
                    "basicConstraints = critical,CA:FALSE\n"
                    % (os.path.join(self.dir, "index.txt"), os.path.join(self.dir, "issued"), self.ca_crt,
                       self.ca_key, os.path.join(self.dir, "serial")))

    def _run(self, args):
        try:
            r = subprocess.run([self.openssl] + args, capture_output=True, timeout=30, cwd=self.dir)
        except (OSError, subprocess.TimeoutExpired) as e:
            raise TlsError("openssl %s failed: %s" % (args[0], e))
        if r.returncode != 0:
            raise TlsError("openssl %s failed (exit %d): %s" % (args[0], r.returncode,
                                                                 r.stderr.decode("utf-8", "replace").strip()[:500]))

    def _issue(self, crt, key, subject, days, exts):
        self.serial += 1
        args = ["req", "-x509", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                "-keyout", key, "-out", crt, "-days", str(int(days)), "-subj", subject,
                "-CA", self.ca_crt, "-CAkey", self.ca_key, "-set_serial", str(self.serial)]
        for e in exts:
            args += ["-addext", e]
        self._run(args)
        return self.serial

    def client_cert(self, user, not_after, group="system:masters", not_before=None):
        """A fresh client certificate valid until `not_after` (unix seconds, to the second): (serial as
        upper-case hex like ssl.getpeercert(), cert PEM, key PEM)."""
        def stamp(t):
            return time.strftime("%Y%m%d%H%M%SZ", time.gmtime(t))
        with self.lock:
            self.serial += 1
            serial = self.serial
            crt = os.path.join(self.dir, "client.crt")
            key = os.path.join(self.dir, "client.key")
            csr = os.path.join(self.dir, "client.csr")
            with open(os.path.join(self.dir, "serial"), "w") as f:
                f.write("%04X\n" % serial)
            self._run(["req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                       "-keyout", key, "-out", csr, "-subj", "/O=%s/CN=%s" % (group, user)])
            self._run(["ca", "-batch", "-config", self.ca_cnf, "-in", csr, "-out", crt, "-notext",
                       "-extensions", "client", "-startdate", stamp(not_before if not_before else time.time() - 60),
                       "-enddate", stamp(max(not_after, time.time() + 1))])
            with open(crt, "rb") as f:
                cert_pem = f.read()
            with open(key, "rb") as f:
                key_pem = f.read()
            for p in (crt, key, csr, os.path.join(self.dir, "issued", "%04X.pem" % serial)):
                if os.path.exists(p):
                    os.unlink(p)
        return "%X" % serial, cert_pem, key_pem

    def server_context(self):
        """TLS server context: our certificate; a client certificate is optional (bearer tokens are
        allowed) but, when sent, must chain to our CA. Its validity dates are not checked at the TLS
        level (OpenSSL X509_V_FLAG_NO_CHECK_TIME): like kube-apiserver, which requests the certificate
        and judges it in its authenticator, an expired one gets a 401, not a failed handshake."""
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(self.srv_crt, self.srv_key)
        ctx.load_verify_locations(self.ca_crt)
        ctx.verify_mode = ssl.CERT_OPTIONAL
        try:
            ctx.verify_flags = ctx.verify_flags | X509_V_FLAG_NO_CHECK_TIME
        except (ValueError, OSError):
            pass
        return ctx

    def ca_b64(self):
        return _b64(self.ca_pem)

    def close(self):
        if self.dir and os.path.isdir(self.dir):
            shutil.rmtree(self.dir, ignore_errors=True)
        self.dir = None


def b64(data):
    return _b64(data if isinstance(data, bytes) else data.encode("utf-8"))
