#!/usr/bin/env python3
"""packaging.deb: the Debian package builds from a copy of this tree with
`dpkg-buildpackage -us -uc -b` (Build-Depends checked), lintian reports no
errors, and the package unpacked into a scratch root ships what it must:
the binary (which runs from there), the hardened unit where
dh_installsystemd put it, the configuration as a conffile, the man pages,
the docs, maintainer scripts that are valid sh and do not start the service.

Leaves WORK/deb/nodeherd_VERSION_ARCH.deb for packaging.container.
"""

import os
import re
import shutil
import subprocess
import sys

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
    if re.search(r"deb-systemd-invoke\s+(\$_dh_action|start|restart)", post):
        fail("postinst starts the service; it must wait to be configured")
    # dh_installsystemd --no-enable only re-creates the links of a unit the
    # administrator enabled (`debian-installed` guard); the default form
    # enables it on first installation.
    if re.search(r"deb-systemd-helper\s+enable", post) and "debian-installed" not in post:
        fail("postinst enables the service on installation; it must wait to be configured")
    if "install -d -m 0700" not in post or "/etc/nodeherd/credentials" not in post:
        fail("postinst does not create /etc/nodeherd/credentials 0700")
    if "/var/lib/private/nodeherd" not in scripts.get("postrm", ""):
        fail("postrm does not remove the state on purge")
    print("ok: conffile, unit, man pages, docs, maintainer scripts")

    # The unpacked binary runs and accepts the shipped configuration.
    nh = os.path.join(root, "usr/bin/nodeherd")
    r = run([nh, "version"], "nodeherd version (from the package)")
    if r.stdout.strip() != "nodeherd %s" % ver:
        fail("nodeherd version says %r, the package is %s" % (r.stdout.strip(), ver))
    r = run([nh, "check", os.path.join(root, "etc/nodeherd/nodeherd.yaml")],
            "nodeherd check on the shipped /etc/nodeherd/nodeherd.yaml")
    print("ok: %s; %s" % (ver, r.stdout.strip()))
    man = run(["man", "-l", "-Tutf8", os.path.join(root, "usr/share/man/man8/nodeherd.8.gz")],
              "man -l nodeherd.8", ok=(0,)) if shutil.which("man") else None
    if man is not None and "nodeherd" not in man.stdout:
        fail("nodeherd.8 renders without mentioning nodeherd")
    return 0


if __name__ == "__main__":
    sys.exit(main())
