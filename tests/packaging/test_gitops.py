#!/usr/bin/env python3
"""packaging.gitops: `nodeherd check DIR` on a fleet directory, and the CI
step of docs/gitops.md, run verbatim (extracted from the guide) in a git
fleet repository against the emulator:

- check DIR: every *.yaml/*.yml file in name order, positions naming the
  right file, hidden files/subdirectories/other files skipped, an empty
  directory refused, a cluster declared in two files refused (exit 2) at the
  second file's position, naming both;
- the CI step, with read-only keys and no write-only secret: changes
  pending -> exit 0 and plan.md says the fleet differs; only a refused
  change -> differs too (never "nothing to do"); after the daemon applied
  the merge -> "converged"; an invalid file -> exit 1 naming
  FILE:LINE:COL; an unreachable cloud -> exit 1, "plan FAILED"; rollback by
  `git revert` brings back the previous declaration, which plans cleanly.
"""

import os
import re
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from pkglib import SRC, fail, need  # noqa: E402

sys.path.insert(0, os.path.join(SRC, "tests", "support"))
from nhtest import harness  # noqa: E402

NH = os.environ.get("NODEHERD_BIN") or harness.find_binary()
WEB_ID = "c8f2d1e0a9b84c6e9f1d2a3b4c5d6e7f"


def sh(cmd, cwd, env=None):
    return subprocess.run(cmd, cwd=cwd, env=env, shell=isinstance(cmd, str), text=True,
                          capture_output=True)


def ci_step():
    doc = open(os.path.join(SRC, "docs", "gitops.md")).read()
    m = re.search(r"<!-- ci-step:begin -->\n~~~sh\n(.*?)~~~\n<!-- ci-step:end -->", doc, re.S)
    if not m:
        fail("docs/gitops.md has no ci-step block between its markers")
    return m.group(1)


def line_of(path, needle):
    for n, line in enumerate(open(path), 1):
        if needle in line:
            return n
    raise AssertionError("%s not in %s" % (needle, path))


def test_check_dir(fl, tmp, demo):
    d = os.path.join(tmp, "checkdir")
    os.makedirs(os.path.join(d, "sub.yaml"))
    with open(os.path.join(d, "a.yaml"), "w") as f:
        f.write(demo)
    with open(os.path.join(d, "b.yml"), "w") as f:
        f.write("daemon:\n  poll_interval: soon\n")
    with open(os.path.join(d, ".hidden.yaml"), "w") as f:
        f.write(": : :\n")
    with open(os.path.join(d, "notes.txt"), "w") as f:
        f.write("not yaml: [\n")
    env = dict(os.environ, CREDENTIALS_DIRECTORY=fl.creds)
    r = subprocess.run([NH, "check", d], env=env, capture_output=True, text=True)
    if r.returncode != 2:
        fail("check DIR with an invalid file: exit %d\n%s%s" % (r.returncode, r.stdout, r.stderr))
    if not re.search(r"^%s/a\.yaml: configuration OK \(3 providers, 4 clusters\)$"
                     % re.escape(d), r.stdout, re.M):
        fail("check DIR did not report a.yaml OK:\n" + r.stdout)
    if not re.search(r"^%s/b\.yml:2:3: daemon\.poll_interval: " % re.escape(d), r.stderr, re.M):
        fail("check DIR did not name b.yml:2:3:\n" + r.stderr)
    for junk in (".hidden", "sub.yaml", "notes.txt"):
        if junk in r.stdout + r.stderr:
            fail("check DIR looked at %s:\n%s%s" % (junk, r.stdout, r.stderr))
    pos = [m.group(1) for m in re.finditer(r"^\S*/(\w+\.ya?ml)[:]", r.stdout + r.stderr, re.M)]
    if not pos or any(p not in ("a.yaml", "b.yml") for p in pos):
        fail("check DIR named other files: %s" % pos)
    print("ok: check DIR: a.yaml OK, b.yml:2:3 named, hidden/subdir/other files skipped")

    # A cluster in two files: an error at the second file's position, once
    # per cloud cluster, naming both files' positions.
    os.remove(os.path.join(d, "b.yml"))
    c = os.path.join(d, "c.yaml")
    with open(c, "w") as f:
        f.write("# the same fleet again\n" + demo)
    r = subprocess.run([NH, "check", d], env=env, capture_output=True, text=True)
    if r.returncode != 2:
        fail("check DIR with a cluster declared twice: exit %d\n%s" % (r.returncode, r.stderr))
    want = "%s:%d:" % (c, line_of(c, "- name: web"))
    first = "\"web\" at %s:%d:" % (os.path.join(d, "a.yaml"),
                                   line_of(os.path.join(d, "a.yaml"), "- name: web"))
    w = [l for l in r.stderr.splitlines() if "the aliyun-ack cluster %s" % WEB_ID in l]
    if len(w) != 1 or not w[0].startswith(want) or first not in w[0] or \
            "\"web\" at %s" % want not in w[0] or "declared 2 times" not in w[0]:
        fail("no duplicate error for web at %s naming a.yaml:\n%s" % (want, r.stderr))
    if len([l for l in r.stderr.splitlines() if " is declared 2 times: " in l]) != 4:
        fail("expected 4 duplicate errors (web, shop, train, ai):\n" + r.stderr)
    if "4 cloud clusters are declared in more than one file" not in r.stderr:
        fail("no summary of the duplicates:\n" + r.stderr)
    print("ok: a cluster declared in two files is an error at %s" % want)

    e = os.path.join(tmp, "empty")
    os.makedirs(e)
    r = subprocess.run([NH, "check", e], env=env, capture_output=True, text=True)
    if r.returncode != 2 or "no *.yaml or *.yml files" not in r.stderr:
        fail("check of an empty directory: exit %d: %s" % (r.returncode, r.stderr))
    r = subprocess.run([NH, "check", os.path.join(d, "a.yaml"), e], env=env,
                       capture_output=True, text=True)
    if r.returncode != 2 or "a.yaml: configuration OK" not in r.stdout:
        fail("check FILE EMPTYDIR: exit %d" % r.returncode)
    print("ok: an empty directory is refused (exit 2)")


def test_ci_step(fl, tmp, demo):
    need(["git"], "the fleet repository")
    step = ci_step()
    repo = os.path.join(tmp, "fleet-repo")
    os.makedirs(os.path.join(repo, "fleet"))
    prod = os.path.join(repo, "fleet", "production.yaml")
    with open(prod, "w") as f:
        f.write(demo)
    genv = dict(os.environ, GIT_AUTHOR_NAME="ci", GIT_AUTHOR_EMAIL="ci@example.org",
                GIT_COMMITTER_NAME="ci", GIT_COMMITTER_EMAIL="ci@example.org",
                GIT_CONFIG_NOSYSTEM="1", HOME=tmp)
    for cmd in (["git", "init", "-q", "-b", "main"], ["git", "add", "fleet"],
                ["git", "commit", "-q", "-m", "fleet: production"]):
        r = sh(cmd, repo, genv)
        if r.returncode:
            fail("%s: %s" % (cmd, r.stderr))
    # CI has the read credentials only: no node login password (write-only).
    ci_creds = os.path.join(tmp, "ci-creds")
    os.makedirs(ci_creds, mode=0o700)
    for name in ("ack-ak", "ack-sk", "hw-ak", "hw-sk"):
        shutil.copy(os.path.join(fl.creds, name), ci_creds)
    env = dict(genv, NODEHERD=NH, CREDENTIALS_DIRECTORY=ci_creds, NO_PROXY="*")
    env.pop("STATE_DIRECTORY", None)

    def step_run(what, want_rc):
        r = sh(["sh", "-c", step], repo, env)
        if r.returncode != want_rc:
            fail("CI step (%s): exit %d, expected %d\nstdout:\n%s\nstderr:\n%s"
                 % (what, r.returncode, want_rc, r.stdout[-4000:], r.stderr[-4000:]))
        md = open(os.path.join(repo, "plan.md")).read() if os.path.exists(
            os.path.join(repo, "plan.md")) else ""
        return r, md

    # 1. a pull request: a fleet that differs is a successful plan.
    r, md = step_run("changes pending", 0)
    if "### production: differs from its declaration\nPlan: " not in md or \
            " changes to make" not in md:
        fail("plan.md does not say production differs, with the Plan line:\n" + md)
    plan = open(os.path.join(repo, "plan-production.txt")).read()
    for cl in ("web", "shop", "train", "ai"):
        if cl not in plan:
            fail("plan-production.txt does not mention %s:\n%s" % (cl, plan))
    head = sh(["git", "rev-parse", "--short", "HEAD"], repo, genv).stdout.strip()
    if "## nodeherd plan (%s)" % head not in md:
        fail("plan.md does not name the commit %s:\n%s" % (head, md[:300]))
    print("ok: CI step (read keys only, no node password): production differs -> exit 0, "
          "plan.md posted content:\n    "
          + "\n    ".join(md.splitlines()[:6]))

    # 2. merged: the daemon reads the checkout and applies it; the next
    #    plan of the same commit is clean.
    d = fl.daemon(config_path=prod)
    d.wait_ready(60)
    fl.wait_converged(d, timeout=60)
    d.stop()
    r, md = step_run("converged", 0)
    if "### production: converged, nothing to do" not in md:
        fail("after the daemon converged, plan.md says:\n" + md)
    print("ok: CI step after the daemon applied the merge: converged, nothing to do")

    # 2b. a pull request whose only change is refused (max_removal_share):
    #     the fleet differs; the step must not say "nothing to do".
    with open(prod, "w") as f:
        f.write(demo.replace("workers: 7", "workers: 1\n    min: 0"))
    r, md = step_run("only a refused change", 0)
    if "### production: differs from its declaration" not in md or "nothing to do" in md or \
            "0 changes to make, 1 blocked or refused" not in md:
        fail("a refused change is not reported as a difference:\n" + md)
    print("ok: CI step with only a refused change: differs, 0 changes to make, 1 refused")

    # 3. a pull request that breaks the file: check fails, naming the place.
    broken = demo.replace("workers: 7", "workers: -3")
    with open(prod, "w") as f:
        f.write(broken)
    r, _ = step_run("invalid file", 1)
    if not re.search(r"^fleet/production\.yaml:%d:\d+: " % line_of(prod, "workers: -3"),
                     r.stderr, re.M):
        fail("the CI step did not print the invalid file's position:\n" + r.stderr)
    print("ok: CI step on an invalid file: exit 1, fleet/production.yaml:LINE:COL named")

    # 4. a cloud that cannot be observed: plan FAILED, exit 1.
    with open(prod, "w") as f:
        f.write(re.sub(r"http://127\.0\.0\.1:\d+", "http://127.0.0.1:9", demo))
    r, md = step_run("unreachable cloud", 1)
    if "### production: plan FAILED" not in md:
        fail("plan.md does not report the failed plan:\n" + md)
    print("ok: CI step with an unreachable cloud: exit 1, plan FAILED in plan.md")

    # 5. rollback: a merged change reverted with git revert plans as before.
    with open(prod, "w") as f:
        f.write(demo.replace("workers: 7", "workers: 5"))
    sh(["git", "commit", "-q", "-am", "fleet: web to 5"], repo, genv)
    r = sh(["git", "revert", "--no-edit", "HEAD"], repo, genv)
    if r.returncode:
        fail("git revert: %s" % r.stderr)
    if open(prod).read() != demo:
        fail("git revert did not restore the declaration")
    r, md = step_run("after revert", 0)
    if "### production: converged, nothing to do" not in md:
        fail("after git revert, plan.md says:\n" + md)
    print("ok: git revert of a merged change: the plan is back to converged")


def main():
    if not os.path.exists(NH):
        fail("nodeherd binary %s does not exist" % NH)
    tmp = tempfile.mkdtemp(prefix="nh-gitops-")
    try:
        with harness.Fleet(seed="contrib/fakecloud/seeds/demo.json") as fl:
            demo = open(os.path.join(SRC, "config/examples/demo.yaml")).read()
            demo = re.sub(r"http://127\.0\.0\.1:\d+", fl.endpoint, demo)
            demo = re.sub(r"state_dir: \S+", "state_dir: " + os.path.join(tmp, "state"), demo)
            test_check_dir(fl, tmp, demo)
            test_ci_step(fl, tmp, demo)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
