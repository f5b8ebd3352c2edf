#!/usr/bin/env python3
"""packaging.container: contrib/container/build makes an OCI image from the
.deb (packaging.deb's, the ctest fixture) and Debian packages, without any
image registry; the archive's digests verify; its config is the
Containerfile's (non-root user, entry point, volume, port); and the image's
own root, unpacked and entered with chroot(2) as the image's user (this
machine runs no container engine), runs `nodeherd version`, `nodeherd check`
on the shipped example, and `nodeherd plan` and `nodeherd run` against the
emulator on loopback until the fleet converges, writing nothing outside its
state volume and /tmp.
"""

import json
import os
import re
import shutil
import stat
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from pkglib import SKIP, SRC, WORK, built_deb, fail, need, run, version  # noqa: E402

sys.path.insert(0, os.path.join(SRC, "tests", "support"))

UID = GID = 65532
WRAPPER = r'''#!%(python)s
# Runs the image's nodeherd in its root, as its user, with the image's Env
# (as a runtime would) under the caller's, and host paths under the root
# translated (the test harness writes configs and sockets there).
import os, sys
root = %(root)r
def inside(s):
    return s[len(root):] or "/" if s.startswith(root + "/") or s == root else s
args = [a.replace(root + "/", "/") for a in sys.argv[1:]]
env = dict(%(image_env)r)
env.update({k: inside(v) for k, v in os.environ.items()
            if k not in ("PATH", "LD_PRELOAD", "ASAN_OPTIONS", "UBSAN_OPTIONS", "PYTHONPATH")
            and not k.startswith("NH_")})
os.chroot(root)
os.chdir("/var/lib/nodeherd")
os.setgroups([])
os.setgid(%(gid)d)
os.setuid(%(uid)d)
os.execve("/usr/bin/nodeherd", ["/usr/bin/nodeherd"] + args, env)
'''


def snapshot(root):
    """{path: (mtime_ns, size, mode)} of everything outside the writable places."""
    writable = ("tmp", "dev", "proc", "sys", os.path.join("var", "lib", "nodeherd"))
    out = {}
    for d, dirs, files in os.walk(root):
        rel = os.path.relpath(d, root)
        rel = "" if rel == "." else rel
        dirs[:] = [n for n in dirs if os.path.join(rel, n) not in writable]
        for n in files + dirs:
            st = os.lstat(os.path.join(d, n))
            out[os.path.join(rel, n)] = (st.st_mtime_ns, st.st_size, st.st_mode)
    return out


def main():
    need(["dpkg-deb", "dpkg-parsechangelog", "tar"], "assembling the image")
    if shutil.which("mmdebstrap") is None:
        print("note: mmdebstrap not installed: the build script falls back to apt-get download")
    ver = version()
    deb = built_deb()
    if deb is None:
        fail("no .deb from packaging.deb in %s (run the packaging.deb test first)" % WORK)
    out = os.path.join(WORK, "container")
    shutil.rmtree(out, ignore_errors=True)
    t0 = time.monotonic()
    r = run([os.path.join(SRC, "contrib/container/build"), "--deb", deb, "--out", out],
            "contrib/container/build", log=os.path.join(WORK, "container-build.log"))
    method = open(os.path.join(out, "root-method")).read().strip()
    image = os.path.join(out, "nodeherd-%s.oci.tar" % ver)
    print("ok: built %s in %.0fs; root from %s" % (os.path.basename(image),
                                                     time.monotonic() - t0, method))

    # The archive verifies and the config is the Containerfile's.
    root = os.path.join(WORK, "container-root")
    shutil.rmtree(root, ignore_errors=True)
    r = run([sys.executable, os.path.join(SRC, "contrib/container/oci.py"), "extract", image,
             root], "oci.py extract (digest verification)")
    cfg = json.loads(r.stdout)
    c = cfg["config"]
    expect = {"User": "%d:%d" % (UID, GID), "Entrypoint": ["/usr/bin/nodeherd"],
              "WorkingDir": "/var/lib/nodeherd"}
    for k, v in expect.items():
        if c.get(k) != v:
            fail("image config %s is %r, expected %r" % (k, c.get(k), v))
    if "run" not in c.get("Cmd", []) or "--log-format=json" not in c.get("Cmd", []):
        fail("image Cmd %r does not run the daemon with JSON logs" % c.get("Cmd"))
    if "/var/lib/nodeherd" not in c.get("Volumes", {}) or "9464/tcp" not in c.get(
            "ExposedPorts", {}):
        fail("image config lacks the state volume or the metrics port: %r" % c)
    env = dict(e.split("=", 1) for e in c.get("Env", []))  # the image's Env
    if env.get("CREDENTIALS_DIRECTORY") != "/run/secrets/nodeherd":
        fail("image Env lacks CREDENTIALS_DIRECTORY=/run/secrets/nodeherd: %r" % env)
    if c.get("Labels", {}).get("org.opencontainers.image.version") != ver:
        fail("image version label is not %s" % ver)

    # The root: distroless, the user, the CA bundle, the state volume.
    for absent in ("bin/sh", "usr/bin/sh", "bin/bash", "usr/bin/apt", "usr/bin/dpkg"):
        if os.path.lexists(os.path.join(root, absent)):
            fail("the image ships /%s; the runtime image has no shell or package manager"
                 % absent)
    if "nodeherd:x:%d:%d:" % (UID, GID) not in open(os.path.join(root, "etc/passwd")).read():
        fail("/etc/passwd has no nodeherd user %d" % UID)
    bundle = open(os.path.join(root, "etc/ssl/certs/ca-certificates.crt")).read()
    if bundle.count("BEGIN CERTIFICATE") < 50:
        fail("the CA bundle has %d certificates" % bundle.count("BEGIN CERTIFICATE"))
    st = os.stat(os.path.join(root, "var/lib/nodeherd"))
    if (st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode)) != (UID, GID, 0o700):
        fail("/var/lib/nodeherd is %d:%d %o, expected %d:%d 700" % (
            st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode), UID, GID))
    for rel in ("usr/bin/nodeherd", "etc/nodeherd/nodeherd.yaml"):
        if os.stat(os.path.join(root, rel)).st_uid != 0:
            fail("/%s is not root's: the image user could change it" % rel)
    print("ok: OCI archive verified; non-root user %d, no shell, %d CA certificates"
          % (UID, bundle.count("BEGIN CERTIFICATE")))

    if os.geteuid() != 0:
        print("SKIP: not root: cannot chroot into the image to run its binary")
        return SKIP

    # What a container runtime provides: device nodes, a writable /tmp, the
    # credentials mount.
    for name, major, minor in (("null", 1, 3), ("zero", 1, 5), ("urandom", 1, 9),
                               ("random", 1, 8)):
        p = os.path.join(root, "dev", name)
        os.mknod(p, 0o666 | stat.S_IFCHR, os.makedev(major, minor))
        os.chmod(p, 0o666)
    wrapper = os.path.join(WORK, "nodeherd-in-image")
    with open(wrapper, "w") as f:
        f.write(WRAPPER % {"python": sys.executable, "root": root, "uid": UID, "gid": GID,
                           "image_env": env})
    os.chmod(wrapper, 0o755)

    r = run([wrapper, "version"], "nodeherd version (in the image)")
    if r.stdout.strip() != "nodeherd %s" % ver:
        fail("the image's nodeherd version says %r" % r.stdout.strip())
    r = run([wrapper, "check", "/etc/nodeherd/nodeherd.yaml"], "check /etc/nodeherd/nodeherd.yaml")
    print("ok: in the image as %d: %s" % (UID, r.stdout.strip()))

    # The shipped example, credentials from the mounted-secrets directory.
    secrets = os.path.join(root, "run/secrets/nodeherd")
    from nhtest import harness  # noqa: E402  (tests/support/nhtest/harness.py)
    for name, value in {"ack-ak": harness.ACK_AK, "ack-sk": harness.ACK_SK,
                        "hw-ak": harness.HW_AK, "hw-sk": harness.HW_SK,
                        "ack-node-pw": harness.NODE_PW}.items():
        p = os.path.join(secrets, name)
        with open(p, "w") as f:
            f.write(value + "\n")
        os.chown(p, 0, GID)
        os.chmod(p, 0o440)
    example = "/usr/share/doc/nodeherd/examples/demo.yaml"
    r = run([wrapper, "check", example], "check the shipped example " + example)
    if "configuration OK" not in r.stdout:
        fail("check of %s: %s" % (example, r.stdout))
    broken = os.path.join(root, "tmp", "broken.yaml")
    with open(broken, "w") as f:
        f.write(open(os.path.join(root, example.lstrip("/"))).read().replace(
            "workers: 7", "workers: seven"))
    r = run([wrapper, "check", broken], "check a broken copy", ok=(2,))
    if not re.search(r"^/tmp/broken\.yaml:\d+:\d+: ", r.stdout, re.M):
        fail("check did not name the broken file's position:\n" + r.stdout)
    print("ok: check %s: OK, and a broken copy is refused at FILE:LINE:COL" % example)
    before = snapshot(root)

    # Against the emulator: plan, then run until converged.
    tmp = os.path.join(root, "tmp")
    tempfile.tempdir = tmp
    os.environ["NODEHERD_BIN"] = wrapper
    template = open(os.path.join(SRC, "config/examples/demo.yaml")).read()
    template = re.sub(r"http://127\.0\.0\.1:\d+", "@ENDPOINT@", template)
    template = re.sub(r"state_dir: \S+", "state_dir: /var/lib/nodeherd", template)
    old_umask = os.umask(0o022)
    with harness.Fleet(seed="contrib/fakecloud/seeds/demo.json") as fl:
        os.chown(fl.dir, UID, GID)
        for n in os.listdir(fl.creds):
            os.chown(os.path.join(fl.creds, n), UID, GID)
        os.chown(fl.creds, UID, GID)
        cfgpath = fl.write_config(template)
        penv = dict(os.environ, CREDENTIALS_DIRECTORY=fl.creds, NO_PROXY="*",
                    STATE_DIRECTORY="/var/lib/nodeherd")
        r = run([wrapper, "--config", cfgpath, "--log-format=json", "plan",
                 "--detailed-exitcode"], "plan --detailed-exitcode in the image", env=penv,
                ok=(2,))
        for cl in ("web", "shop", "train", "ai"):
            if cl not in r.stdout:
                fail("the plan does not mention cluster %s:\n%s" % (cl, r.stdout))
        print("ok: plan in the image against the emulator: changes pending (exit 2)")

        os.umask(0)  # the harness's notify socket must be writable by the image user
        d = fl.daemon(config_path=cfgpath, env={"STATE_DIRECTORY": "/var/lib/nodeherd"})
        os.umask(0o022)
        d.wait_ready(60)
        st = fl.wait_converged(d, timeout=60)
        inv = fl.invariants()
        if inv.get("duplicate_mutations", 0) != 0:
            fail("duplicate mutations: %r" % inv)
        rss = "?"
        try:  # the wrapper exec()s nodeherd: same pid
            for line in open("/proc/%d/status" % d.proc.pid):
                if line.startswith("VmHWM"):
                    rss = line.split(":")[1].strip()
        except OSError:
            pass
        rc = d.stop()
        if rc != 0:
            fail("nodeherd run exited %s on SIGTERM:\n%s" % (rc, d.log()[-3000:]))
        print("ok: run in the image as %d converged %d clusters; peak RSS %s; clean stop"
              % (UID, len(st["clusters"]), rss))
    os.umask(old_umask)
    journal = os.listdir(os.path.join(root, "var/lib/nodeherd"))
    if not journal:
        fail("the daemon wrote no state journal into the state volume")
    changed = sorted(k for k, v in snapshot(root).items() if before.get(k) != v)
    if changed:
        fail("the daemon changed the image outside /tmp and the state volume: %s" % changed)
    print("ok: state in the volume (%s); the rest of the root untouched (read-only friendly)"
          % ", ".join(sorted(journal)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
