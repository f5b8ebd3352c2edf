"""nodeherd's Python test support (standard library only).

harness: runs the real daemon against contrib/fakecloud on loopback; used by
the tests, the demo (contrib/demo/demo.py), contrib/soak and contrib/bench.
Put tests/support on sys.path and `from nhtest import harness`.
"""
