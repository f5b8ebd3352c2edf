#!/usr/bin/env python3
"""it.cli: the command line's conventions, with the real binary.

- global options before or after the command (`plan --config X`, `check -c X`,
  `-c X check`), options and operands mixed, the last of two values wins;
- `nodeherd help COMMAND` is `nodeherd COMMAND --help`; `help`, `--help`;
- `--version`, `-V`, `version`, `COMMAND --version`; `version --json`;
- `--log-format=json` from the very first line: every line `run` and `plan`
  write to standard error is a JSON object, configuration problems found at
  start included (invalid file: errors; valid file: warnings, then the
  daemon's own lines until it stopped);
- bad values and unknown options: exit 2 and a message naming them; plan
  (exit codes as terraform's) exits 1 on any error, a bad global option
  before or after it included, with its JSON document under --json.
"""

import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import itlib  # noqa: E402
import harness  # noqa: E402

BIN = harness.find_binary()
BAD = "daemon: { poll_interval: 1 }\n"  # three errors: missing keys, no unit


def nh(*args, env=None, timeout=60):
    e = dict(os.environ)
    e.pop("NODEHERD_CONFIG", None)
    e.pop("JOURNAL_STREAM", None)
    if env:
        e.update(env)
    return subprocess.run([BIN] + list(args), capture_output=True, text=True, timeout=timeout,
                          env=e, stdin=subprocess.DEVNULL)


def assert_all_json(tc, text, what):
    lines = [ln for ln in text.splitlines() if ln.strip()]
    tc.assertTrue(lines, "%s: nothing on stderr" % what)
    for ln in lines:
        try:
            rec = json.loads(ln)
        except ValueError:
            tc.fail("%s: a line on stderr is not JSON: %r\n--- all of it:\n%s" % (what, ln, text))
        tc.assertEqual(sorted(rec), ["level", "msg", "time"], ln)
    return [json.loads(ln) for ln in lines]


class Cli(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.mkdtemp(prefix="nodeherd-cli-")
        cls.bad = os.path.join(cls.dir, "bad.yaml")
        with open(cls.bad, "w") as f:
            f.write(BAD)
        cls.good = os.path.join(cls.dir, "good.yaml")
        with open(cls.good, "w") as f:
            f.write("providers: {}\nclusters: []\n")

    @classmethod
    def tearDownClass(cls):
        import shutil
        shutil.rmtree(cls.dir, ignore_errors=True)

    def test_global_options_before_or_after_the_command(self):
        want = nh("--config", self.bad, "check")
        self.assertEqual(want.returncode, 2)
        self.assertIn("configuration invalid (3 errors)", want.stderr)
        for args in (["check", "--config", self.bad], ["check", "-c", self.bad],
                     ["-c", self.bad, "check"], ["check", "--config=%s" % self.bad],
                     ["check", "-c%s" % self.bad]):
            r = nh(*args)
            self.assertEqual((r.returncode, r.stderr, r.stdout),
                             (want.returncode, want.stderr, want.stdout), args)
        # plan reads the same file the same way (it never gets to the clouds);
        # any error is its exit 1
        for args in (["plan", "--config", self.bad], ["--config", self.bad, "plan"]):
            r = nh(*args)
            self.assertEqual(r.returncode, 1, args)
            self.assertIn("%s: configuration invalid (3 errors)" % self.bad, r.stderr, args)
            self.assertNotIn("unrecognized option", r.stderr)
        # given twice, the last one wins
        r = nh("-c", self.bad, "check", "-c", self.good)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("%s: configuration OK" % self.good, r.stdout)
        # operands and options mixed; "--" ends the options
        r = nh("check", self.good, "-q")
        self.assertEqual((r.returncode, r.stdout), (0, ""), r.stderr)
        r = nh("check", "--", "-q")
        self.assertEqual(r.returncode, 2)
        self.assertIn("-q", r.stderr)
        # $NODEHERD_CONFIG is the default, an option overrides it
        r = nh("check", env={"NODEHERD_CONFIG": self.good})
        self.assertEqual(r.returncode, 0, r.stderr)
        r = nh("check", "-c", self.bad, env={"NODEHERD_CONFIG": self.good})
        self.assertEqual(r.returncode, 2)

    def test_help_command_is_the_commands_help(self):
        for cmd in ("run", "plan", "check", "status", "version"):
            a, b = nh("help", cmd), nh(cmd, "--help")
            self.assertEqual((a.returncode, b.returncode), (0, 0), cmd)
            self.assertEqual(a.stdout, b.stdout, cmd)
            self.assertTrue(a.stdout.startswith("Usage: nodeherd %s" % cmd), a.stdout)
            self.assertEqual(nh(cmd, "-h").stdout, a.stdout)
        top = nh("help")
        self.assertEqual(top.returncode, 0)
        self.assertEqual(top.stdout, nh("--help").stdout)
        self.assertEqual(nh("help", "help").stdout, top.stdout)
        self.assertIn("before or after the command", top.stdout)
        r = nh("help", "nope")
        self.assertEqual(r.returncode, 2)
        self.assertIn('unknown command "nope"', r.stderr)
        self.assertEqual(nh("help", "plan", "run").returncode, 2)

    def test_version_everywhere_and_as_json(self):
        v = nh("version")
        self.assertEqual(v.returncode, 0)
        self.assertRegex(v.stdout, r"^nodeherd \d+\.\d+\.\d+\n$")
        for args in (["--version"], ["-V"], ["plan", "--version"], ["check", "-V", "x.yaml"],
                     ["-c", "/nonexistent", "--version"]):
            r = nh(*args)
            self.assertEqual((r.returncode, r.stdout), (0, v.stdout), args)
        j = nh("version", "--json")
        self.assertEqual(j.returncode, 0, j.stderr)
        doc = json.loads(j.stdout)
        self.assertEqual(doc["name"], "nodeherd")
        self.assertEqual("nodeherd %s\n" % doc["version"], v.stdout)
        for lib in ("libcurl", "libuv", "libyaml", "json-c", "libmicrohttpd", "openssl"):
            self.assertRegex(doc["libraries"][lib], r"\d+\.\d+", lib)
        r = nh("version", "--bogus")
        self.assertEqual(r.returncode, 2)

    def test_bad_values_and_unknown_options(self):
        for args, needle in ((["--log-format=xml", "check"], "--log-format"),
                             (["check", "--log-format", "xml"], "--log-format"),
                             (["check", "--allow-endpoint", "https://x.example"],
                              "--allow-endpoint"),
                             (["--allow-endpoint=https://x.example", "status"],
                              "--allow-endpoint"),
                             (["check", "-c"], "requires an argument"),
                             (["frobnicate"], 'unknown command "frobnicate"'),
                             ([], "Usage:")):
            r = nh(*args)
            self.assertEqual(r.returncode, 2, args)
            self.assertIn(needle, r.stderr, args)
            self.assertEqual(r.stdout, "", args)
        # a bad value is its own message, without the usage text after it
        r = nh("check", "--log-level=loud")
        self.assertEqual(r.returncode, 2)
        self.assertNotIn("Usage:", r.stderr)
        # plan: exit 1 on any error, before or after the command; with --json
        # (anywhere) one JSON document on standard output that says why
        for args, needle in ((["plan", "--log-level=loud"], "--log-level"),
                             (["--log-level=loud", "plan"], "--log-level"),
                             (["plan", "--bogus"], "--bogus"),
                             (["--bogus", "plan"], "--bogus"),
                             (["plan", "--allow-endpoint", "https://x.example"],
                              "--allow-endpoint"),
                             (["--allow-endpoint", "https://x.example", "plan"],
                              "--allow-endpoint"),
                             (["plan", "-c"], "-c needs a value")):
            r = nh(*args, "-c", self.good) if args[-1] != "-c" else nh(*args)
            self.assertEqual(r.returncode, 1, args)
            self.assertIn(needle, r.stderr, args)
            self.assertEqual(r.stdout, "", args)
            at = args.index("plan") + 1
            j = nh(*(args[:at] + ["--json"] + args[at:]))
            self.assertEqual(j.returncode, 1, args)
            self.assertIn(needle, j.stderr, args)
            doc = json.loads(j.stdout)
            self.assertIsInstance(doc, dict, args)
            # getopt names an unknown option before the command on stderr only
            self.assertIn("invalid global option" if args[0] == "--bogus" else needle.split()[0],
                          json.dumps(doc), args)

    def test_log_format_json_from_the_first_line_invalid_config(self):
        for args in (["--log-format=json", "--config", self.bad, "run"],
                     ["run", "--config", self.bad, "--log-format", "json"],
                     ["--log-format", "plain", "run", "-c", self.bad, "--log-format=json"]):
            r = nh(*args)
            self.assertEqual(r.returncode, 2, args)
            recs = assert_all_json(self, r.stderr, " ".join(args))
            self.assertEqual([x["level"] for x in recs], ["err"] * 4)
            self.assertIn("daemon.poll_interval", recs[2]["msg"])
            self.assertIn("configuration invalid (3 errors); not starting", recs[-1]["msg"])
        r = nh("plan", "-c", self.bad, "--log-format=json")
        self.assertEqual(r.returncode, 1)
        recs = assert_all_json(self, r.stderr, "plan")
        self.assertIn("configuration invalid (3 errors)", recs[-1]["msg"])
        # plain stays the compiler-style lines a person or CI reads
        r = nh("plan", "-c", self.bad)
        self.assertIn("%s:1:11: daemon.poll_interval" % self.bad, r.stderr)

    def test_log_format_json_from_the_first_line_running_daemon(self):
        """A valid file with a warning at load (a group-readable credential),
        the daemon's start, its first poll, a reload and its stop: every line
        JSON, the warning first."""
        fleet = harness.Fleet(seed=itlib.SEED)
        try:
            os.chmod(os.path.join(fleet.creds, "hw-sk"), 0o640)
            # harness passes --log-format plain before `run`; after it, json wins
            d = fleet.daemon(itlib.fleet_yaml(), extra_args=["--log-format=json"])
            d.wait_ready(120)
            d.signal(signal.SIGHUP)
            end = time.monotonic() + 60
            while "configuration revision" not in d.log() and time.monotonic() < end:
                time.sleep(0.05)
            self.assertEqual(d.stop(), 0)
            log = d.log().replace("--- start\n", "", 1)
            recs = assert_all_json(self, log, "run")
            self.assertEqual(recs[0]["level"], "warning", recs[0])
            self.assertIn("is readable by its group", recs[0]["msg"])
            msgs = [x["msg"] for x in recs]
            self.assertTrue(any(m.startswith("nodeherd ") and "starting" in m for m in msgs), msgs)
            self.assertTrue(any(m.startswith("ready:") for m in msgs), msgs)
            self.assertTrue(any(re.search(r"reload \(SIGHUP\).*applied", m) for m in msgs), msgs)
            self.assertEqual(msgs[-1], "stopped")
        finally:
            fleet.close()


if __name__ == "__main__":
    unittest.main(verbosity=2)
