"""checklib.py - what the check_*.py scripts of this folder share: where the
source tree is (SRC), check() that prints and counts each result, read() of
a file of the tree, and done() that prints 'N passed, N failed' and exits
1 when anything failed. Python 3 standard library only."""
import os
import sys

SRC = os.environ.get("NH_SOURCE_DIR", os.path.join(os.path.dirname(__file__), "..", "..", ".."))
_count = {"passed": 0, "failed": 0}


def check(ok, what, detail=""):
    if ok:
        _count["passed"] += 1
        print("ok   " + what)
    else:
        _count["failed"] += 1
        print("FAIL " + what + ("\n     " + detail if detail else ""))


def read(rel):
    with open(os.path.join(SRC, rel), encoding="utf-8") as f:
        return f.read()


def done():
    print("%d passed, %d failed" % (_count["passed"], _count["failed"]))
    sys.exit(1 if _count["failed"] else 0)
