#!/usr/bin/env python3
"""packaging.deb: the Debian package builds from a copy of this tree with
`dpkg-buildpackage -us -uc -b` (Build-Depends checked), lintian reports no
errors, and the package unpacked into a scratch root ships what it must:
the binary (which runs from there), the hardened unit where
dh_installsystemd put it, the configuration as a conffile, the man pages,
the docs (the operations guide included), maintainer scripts that are
valid sh. The maintainer scripts are then run, in the order dpkg runs them,
with deb-systemd-helper, deb-systemd-invoke and systemctl replaced by
recorders, through install, upgrade, remove and purge: never enabled or
started on installation, not stopped before an upgrade and try-restarted
after it (restarted only if it was running), stopped by `apt remove`, its
enablement state purged.

Leaves WORK/deb/nodeherd_VERSION_ARCH.deb for packaging.container.
"""

import os
import re
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from pkglib import SRC, WORK, fail, need, run, version  # noqa: E402


def copy_tree(dst):
    """The source tree without git metadata, build trees or debhelper output."""
    def ignore(d, names):
        top = os.path.abspath(d) == os.path.abspath(SRC)
        return [n for n in names
                if n in (".git", "__pycache__", "obj-x86_64-linux-gnu")
                or (top and (n == "build" or n.startswith("build-")))
                or (os.path.basename(d) == "debian" and n in ("nodeherd", ".debhelper", "files",
                                                              "tmp", "debhelper-build-stamp"))]
    shutil.copytree(SRC, dst, symlinks=True, ignore=ignore)


# ---- the maintainer scripts, run as dpkg runs them, with recorders ----

RECORDER = """#!/bin/sh
# records "NAME ARGS" and answers like the real tool would for this test
echo "$(basename "$0") $*" >> "$NH_CALLS"
case "$(basename "$0") $1" in
    "deb-systemd-helper debian-installed") [ -e "$NH_STATE/installed" ];;
    "deb-systemd-helper was-enabled") [ -e "$NH_STATE/enabled" ];;
    "deb-systemd-helper update-state") touch "$NH_STATE/installed";;
    *) exit 0;;
esac
"""


def lifecycle(ctrl):
    """Runs preinst/postinst/prerm/postrm for install, upgrade, remove and
    purge with deb-systemd-helper, deb-systemd-invoke, systemctl and install
    recorded, and checks what each step asked systemd to do."""
    tmp = tempfile.mkdtemp(prefix="nodeherd-maint-")
    try:
        bindir = os.path.join(tmp, "bin")
        state = os.path.join(tmp, "state")
        run_systemd = os.path.join(tmp, "run-systemd-system")  # stands for /run/systemd/system
        for d in (bindir, state, run_systemd):
            os.makedirs(d)
        for tool in ("deb-systemd-helper", "deb-systemd-invoke", "systemctl", "install"):
            p = os.path.join(bindir, tool)
            with open(p, "w") as f:
                f.write(RECORDER)
            os.chmod(p, 0o755)
        scripts = {}
        for s in ("preinst", "postinst", "prerm", "postrm"):
            p = os.path.join(ctrl, s)
            if os.path.exists(p):
                # every absolute path the scripts touch, moved into the scratch root
                text = (open(p).read().replace("/run/systemd/system", run_systemd)
                        .replace("/var/lib/", tmp + "/var/lib/")
                        .replace("/etc/nodeherd", tmp + "/etc/nodeherd"))
                q = os.path.join(tmp, s)
                with open(q, "w") as f:
                    f.write(text)
                os.chmod(q, 0o755)
                scripts[s] = q
        calls = os.path.join(tmp, "calls")
        env = dict(os.environ, PATH=bindir + ":" + os.environ["PATH"], NH_CALLS=calls,
                   NH_STATE=state)
        env.pop("DPKG_ROOT", None)

        def step(*invocations):
            """Runs the scripts (name, args...) in order; the systemd calls they made."""
            open(calls, "w").close()
            for name, *args in invocations:
                if name in scripts:
                    r = subprocess.run(["sh", "-e", scripts[name]] + list(args), env=env,
                                       capture_output=True, text=True)
                    if r.returncode != 0:
                        fail("%s %s: exit %d\n%s%s" % (name, " ".join(args), r.returncode,
                                                        r.stdout, r.stderr))
            return [l for l in open(calls).read().splitlines()
                    if not l.startswith(("install ", "systemctl --system daemon-reload"))]

        def invoked(calls_made):
            return [c for c in calls_made if c.startswith(("deb-systemd-invoke", "systemctl "))]

        # first installation: registered, not enabled, not started
        got = step(("preinst", "install"), ("postinst", "configure", ""))
        if invoked(got):
            fail("installation asks systemd to %s; the service must wait to be configured"
                 % invoked(got))
        if any(re.match(r"deb-systemd-helper (enable|unmask)", c) for c in got):
            fail("installation enables the service: %s" % got)
        if not any(c.startswith("deb-systemd-helper update-state") for c in got):
            fail("installation does not register the unit's state: %s" % got)
        print("ok: install: registered, neither enabled nor started (%s)" % "; ".join(got))

        # upgrade (dpkg: old prerm upgrade, new preinst upgrade, unpack, old
        # postrm upgrade, new postinst configure OLD): not stopped before,
        # try-restarted after, i.e. back on the new binary if it was running
        got = step(("prerm", "upgrade", "0.1.1"), ("preinst", "upgrade", "0.1.0"),
                   ("postrm", "upgrade", "0.1.1"), ("postinst", "configure", "0.1.0"))
        inv = invoked(got)
        if any(re.search(r"\bstop\b", c) for c in inv):
            fail("upgrade stops the service (and nothing starts it again): %s" % inv)
        if inv != ["deb-systemd-invoke try-restart nodeherd.service"]:
            fail("upgrade should try-restart the service (restart it only if it was running), "
                 "asked %s" % inv)
        # an administrator's enablement is re-created, not forced
        open(os.path.join(state, "enabled"), "w").close()
        got = step(("postinst", "configure", "0.1.0"))
        if "deb-systemd-helper enable nodeherd.service" not in got:
            fail("upgrade drops the administrator's enablement: %s" % got)
        print("ok: upgrade: not stopped, then %s" % inv[0])

        # apt remove: stopped; the enablement state kept for a reinstall
        got = step(("prerm", "remove"), ("postrm", "remove"))
        if "deb-systemd-invoke stop nodeherd.service" not in invoked(got):
            fail("`apt remove` leaves the daemon running: %s" % got)
        if any(c.startswith("deb-systemd-helper purge") for c in got):
            fail("remove purges the enablement state: %s" % got)
        print("ok: remove: %s" % invoked(got)[0])

        # apt purge: the state forgotten
        got = step(("postrm", "purge"))
        if "deb-systemd-helper purge nodeherd.service" not in got:
            fail("purge does not purge the unit's state: %s" % got)
        print("ok: purge: deb-systemd-helper purge")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def main():
    need(["dpkg-buildpackage", "dpkg-checkbuilddeps", "dh", "lintian"],
         "building and checking the .deb")
    ver = version()
    work = os.path.join(WORK, "deb")
    shutil.rmtree(work, ignore_errors=True)
    src = os.path.join(work, "nodeherd-" + ver)
    copy_tree(src)

    # Build-Depends are satisfied (what `apt-get build-dep` would install).
    run(["dpkg-checkbuilddeps"], "dpkg-checkbuilddeps (debian/control Build-Depends)", cwd=src)
    env = dict(os.environ, DEB_BUILD_OPTIONS="nocheck parallel=2")
    for k in ("NODEHERD_BIN", "ASAN_OPTIONS", "UBSAN_OPTIONS", "MAKEFLAGS", "CREDENTIALS_DIRECTORY"):
        env.pop(k, None)
    run(["dpkg-buildpackage", "-us", "-uc", "-b"], "dpkg-buildpackage -us -uc -b", cwd=src,
        env=env, log=os.path.join(work, "build.log"))
    arch = subprocess.run(["dpkg", "--print-architecture"], capture_output=True, text=True,
                          check=True).stdout.strip()
    deb = os.path.join(work, "nodeherd_%s_%s.deb" % (ver, arch))
    if not os.path.exists(deb):
        fail("dpkg-buildpackage succeeded but %s is missing" % deb)
    print("ok: built %s" % os.path.basename(deb))

    # lintian: no errors (warnings are printed, not fatal).
    r = run(["lintian", "--fail-on", "error", "--no-tag-display-limit", deb], "lintian",
            ok=(0, 1, 2))
    tags = [l for l in r.stdout.splitlines() if re.match(r"^[EWIXPO]: ", l)]
    errors = [l for l in tags if l.startswith("E: ")]
    if r.returncode != 0 or errors:
        fail("lintian reports errors:\n" + r.stdout)
    print("ok: lintian: no errors (%d other tags)%s" % (
        len(tags), "".join("\n    " + t for t in tags)))

    # Control data.
    def field(name):
        return subprocess.run(["dpkg-deb", "-f", deb, name], capture_output=True, text=True,
                              check=True).stdout.strip()
    if field("Version") != ver or field("Package") != "nodeherd":
        fail("control: Package/Version are %s/%s" % (field("Package"), field("Version")))
    depends = field("Depends")
    for lib in ("libuv1", "libcurl4", "libyaml-0-2", "libjson-c5", "libsystemd0", "libssl3",
                "libmicrohttpd12"):
        if not re.search(r"(^|, )%s\b" % re.escape(lib), depends):
            fail("Depends lacks %s (shlibs): %s" % (lib, depends))
    print("ok: Depends: %s" % depends)

    ctrl = os.path.join(work, "control")
    root = os.path.join(work, "root")
    run(["dpkg-deb", "-e", deb, ctrl], "dpkg-deb -e")
    run(["dpkg-deb", "-x", deb, root], "dpkg-deb -x")
    conffiles = open(os.path.join(ctrl, "conffiles")).read().split()
    if conffiles != ["/etc/nodeherd/nodeherd.yaml"]:
        fail("conffiles: expected only /etc/nodeherd/nodeherd.yaml, got %s" % conffiles)

    must = {
        "usr/bin/nodeherd": 0o755,
        "etc/nodeherd/nodeherd.yaml": 0o644,
        "lib/systemd/system/nodeherd.service": 0o644,
        "usr/share/man/man8/nodeherd.8.gz": 0o644,
        "usr/share/man/man5/nodeherd.yaml.5.gz": 0o644,
        "usr/share/doc/nodeherd/copyright": 0o644,
        "usr/share/doc/nodeherd/README.Debian": 0o644,
        "usr/share/doc/nodeherd/gitops.md.gz": 0o644,
        "usr/share/doc/nodeherd/operations.md.gz": 0o644,
        "usr/share/doc/nodeherd/examples/demo.yaml": 0o644,
    }
    for rel, mode in must.items():
        p = os.path.join(root, rel)
        if not os.path.isfile(p):
            fail("the package does not ship /%s" % rel)
        if os.stat(p).st_mode & 0o7777 != mode:
            fail("/%s has mode %o, expected %o" % (rel, os.stat(p).st_mode & 0o7777, mode))
    if os.path.exists(os.path.join(root, "usr/lib/systemd/system/nodeherd.service")):
        fail("the unit is shipped twice (also in /usr/lib/systemd/system)")
    for d in ("var/lib/nodeherd", "var/lib/private"):
        if os.path.exists(os.path.join(root, d)):
            fail("/%s is shipped; StateDirectory= creates it" % d)

    # The unit as shipped is the repository's, and says what the package relies on.
    unit = open(os.path.join(root, "lib/systemd/system/nodeherd.service")).read()
    if unit != open(os.path.join(SRC, "systemd/nodeherd.service")).read():
        fail("the shipped unit differs from systemd/nodeherd.service")
    for line in ("ExecStart=/usr/bin/nodeherd --config /etc/nodeherd/nodeherd.yaml run",
                 "ExecReload=/usr/bin/nodeherd --config /etc/nodeherd/nodeherd.yaml check --quiet",
                 "StateDirectory=nodeherd", "DynamicUser=yes", "Type=notify"):
        if not re.search(r"^%s$" % re.escape(line), unit, re.M):
            fail("the unit lacks %s" % line)

    # Maintainer scripts: valid sh, the unit registered but not enabled or
    # started, the credentials directory made root-only.
    scripts = {}
    for s in ("postinst", "postrm", "preinst", "prerm"):
        p = os.path.join(ctrl, s)
        if os.path.exists(p):
            run(["sh", "-n", p], "sh -n %s" % s)
            scripts[s] = open(p).read()
    post = scripts.get("postinst", "")
    if "deb-systemd-helper" not in post:
        fail("postinst does not register the unit (dh_installsystemd)")
    if "install -d -m 0700" not in post or "/etc/nodeherd/credentials" not in post:
        fail("postinst does not create /etc/nodeherd/credentials 0700")
    if "/var/lib/private/nodeherd" not in scripts.get("postrm", ""):
        fail("postrm does not remove the state on purge")
    print("ok: conffile, unit, man pages, docs, maintainer scripts")
    lifecycle(ctrl)

    # The unpacked binary runs and accepts the shipped configuration.
    nh = os.path.join(root, "usr/bin/nodeherd")
    r = run([nh, "version"], "nodeherd version (from the package)")
    if r.stdout.strip() != "nodeherd %s" % ver:
        fail("nodeherd version says %r, the package is %s" % (r.stdout.strip(), ver))
    r = run([nh, "check", os.path.join(root, "etc/nodeherd/nodeherd.yaml")],
            "nodeherd check on the shipped /etc/nodeherd/nodeherd.yaml")
    print("ok: %s; %s" % (ver, r.stdout.strip()))
    # The unit's first ExecReload= line, on the shipped file and on a broken
    # one: silent success, or a failure that makes `systemctl reload` fail.
    reload_check = [l.split("=", 1)[1].split() for l in unit.splitlines()
                    if l.startswith("ExecReload=")][0]
    shipped = os.path.join(root, "etc/nodeherd/nodeherd.yaml")
    argv = [nh] + [shipped if a == "/etc/nodeherd/nodeherd.yaml" else a for a in reload_check[1:]]
    r = run(argv, "ExecReload's check on the shipped file")
    if r.stdout.strip():
        fail("ExecReload's check is not quiet on success: %r" % r.stdout)
    broken = os.path.join(work, "broken.yaml")
    with open(broken, "w") as f:
        f.write("daemon: { poll_interval: 1 }\n")
    argv = [nh] + [broken if a == "/etc/nodeherd/nodeherd.yaml" else a for a in reload_check[1:]]
    r = run(argv, "ExecReload's check on a broken file", ok=(2,))
    if "broken.yaml:1:11: daemon.poll_interval" not in r.stdout:
        fail("ExecReload's check does not say why the file is refused:\n" + r.stdout)
    print("ok: ExecReload= refuses a broken file (exit 2, with its position) before SIGHUP")
    man = run(["man", "-l", "-Tutf8", os.path.join(root, "usr/share/man/man8/nodeherd.8.gz")],
              "man -l nodeherd.8", ok=(0,)) if shutil.which("man") else None
    if man is not None and "nodeherd" not in man.stdout:
        fail("nodeherd.8 renders without mentioning nodeherd")
    return 0


if __name__ == "__main__":
    sys.exit(main())
