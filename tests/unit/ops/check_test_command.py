#!/usr/bin/env python3
"""check_test_command.py - the test command's two modes do what the README
says: `sh scripts/test.sh` (CI, `.ci/run`) installs packages, checks the
formatting and runs every test in the normal, sanitizer and fuzz trees;
`sh scripts/test.sh --quick` (the edit-compile-test loop) installs nothing,
checks the formatting and runs the unit tests of the normal tree only.
Read from `--print`, which shows the steps without running them.
Prints 'N passed, N failed'."""
import os
import re
import subprocess

from checklib import SRC, check, done


def steps(*args):
    env = dict(os.environ)
    env.pop("NH_CTEST_ARGS", None)
    r = subprocess.run(["sh", os.path.join(SRC, "scripts", "test.sh"), "--print"] + list(args),
                       capture_output=True, text=True, timeout=60, env=env)
    check(r.returncode == 0, "scripts/test.sh --print %s exits 0" % " ".join(args), r.stderr)
    return [l[2:] for l in r.stdout.splitlines() if l.startswith("+ ")]


full = steps()
quick = steps("--quick")
trees = lambda ss: sorted({m.group(1) for s in ss for m in [re.search(r"-B \S*/build/(\w+)", s)] if m})
ctests = lambda ss: [s for s in ss if s.startswith("ctest ")]

check(any("scripts/deps.sh" in s for s in full), "full: installs packages (scripts/deps.sh)")
check(any("scripts/check-format.sh" in s for s in full), "full: checks the formatting")
check(trees(full) == ["fuzz", "normal", "sanitize"], "full: normal, sanitizer and fuzz trees",
      str(trees(full)))
check(any(s.startswith("ctest") and "/build/sanitize" in s and " -L " not in s for s in full),
      "full: every test of the sanitizer tree")

check(not any("deps.sh" in s for s in quick), "quick: installs no package", str(quick))
check(any("scripts/check-format.sh" in s for s in quick), "quick: checks the formatting")
check(trees(quick) == ["normal"], "quick: the normal tree only", str(trees(quick)))
check(len(ctests(quick)) == 1 and re.search(r"(^| )-L unit( |$)", ctests(quick)[0]) is not None,
      "quick: the unit tests only (-L unit)", str(ctests(quick)))

r = subprocess.run(["sh", os.path.join(SRC, "scripts", "test.sh"), "--bogus"],
                   capture_output=True, text=True, timeout=60)
check(r.returncode == 2 and "--bogus" in r.stderr, "an unknown argument is refused (exit 2)")

with open(os.path.join(SRC, "README.md"), encoding="utf-8") as f:
    readme = f.read()
check("sh scripts/test.sh --quick" in readme, "README documents the quick mode")
check("scripts/check-format.sh" in readme, "README documents the formatting check")
with open(os.path.join(SRC, ".ci", "run"), encoding="utf-8") as f:
    ci = f.read()
check(re.search(r"^exec sh scripts/test\.sh\s*$", ci, re.M) is not None,
      ".ci/run runs the full suite (no --quick)")

done()
