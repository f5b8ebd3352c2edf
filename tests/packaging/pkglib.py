"""Shared helpers of the packaging tests (Python standard library only)."""

import glob
import os
import shutil
import subprocess
import sys

SRC = os.environ.get("NH_SOURCE_DIR") or os.path.dirname(os.path.dirname(
    os.path.dirname(os.path.abspath(__file__))))
BUILD = os.environ.get("NH_BUILD_DIR") or os.path.join(SRC, "build", "packaging-tests")
WORK = os.path.join(BUILD, "packaging")
SKIP = 77  # ctest SKIP_RETURN_CODE


def fail(msg):
    print("FAIL: " + msg)
    sys.exit(1)


def need(tools, why):
    """Skips (exit 77) when a tool is missing, except in CI, where
    scripts/deps.sh must have installed it and a skip would hide that."""
    missing = [t for t in tools if shutil.which(t) is None]
    if not missing:
        return
    msg = "%s not installed (%s); scripts/deps.sh installs it" % (", ".join(missing), why)
    if os.environ.get("CI") == "true":
        fail(msg)
    print("SKIP: " + msg)
    sys.exit(SKIP)


def run(argv, what, cwd=None, env=None, log=None, ok=(0,)):
    """Runs argv; on an unexpected exit status fails with the output's tail."""
    r = subprocess.run(argv, cwd=cwd, env=env, stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, text=True)
    if log:
        with open(log, "w") as f:
            f.write(r.stdout)
    if r.returncode not in ok:
        fail("%s: exit %d\n%s" % (what, r.returncode, r.stdout[-6000:]))
    return r


def version():
    return subprocess.run(["dpkg-parsechangelog", "-l", os.path.join(SRC, "debian", "changelog"),
                           "-S", "Version"], capture_output=True, text=True,
                          check=True).stdout.strip()


def built_deb():
    """The .deb packaging.deb built (the ctest fixture), or None."""
    debs = sorted(glob.glob(os.path.join(WORK, "deb", "nodeherd_%s_*.deb" % version())))
    return debs[-1] if debs else None
