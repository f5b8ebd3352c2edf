#!/usr/bin/env python3
"""check_man.py - the man pages format without a single warning (groff -ww
and man --warnings), nodeherd(8) has its sections, and every long option the
CLI accepts (daemon/main.c, daemon/cli.c, daemon/cmd_*.c) is documented in it. Also checks
nodeherd.yaml(5) when that page exists. Prints 'N passed, N failed'."""
import glob
import os
import re
import shutil
import subprocess

from checklib import SRC, check, done


def lint(page):
    name = os.path.relpath(page, SRC)
    if shutil.which("groff"):
        r = subprocess.run(["groff", "-ww", "-z", "-man", page], capture_output=True, text=True,
                           timeout=60)
        check(r.returncode == 0 and r.stderr.strip() == "", name + ": groff -ww -z -man is silent",
              r.stderr)
    else:
        print("SKIP groff is not installed (apt-get install groff)")
    if shutil.which("man"):
        env = dict(os.environ, MANWIDTH="80", LC_ALL="C.UTF-8")
        r = subprocess.run(["man", "--warnings", "-l", "-Tutf8", page], capture_output=True,
                           text=True, timeout=60, env=env)
        check(r.returncode == 0 and r.stderr.strip() == "" and len(r.stdout) > 500,
              name + ": man --warnings -l -Tutf8 renders without warnings", r.stderr)
    else:
        print("SKIP man is not installed (apt-get install man-db)")


page8 = os.path.join(SRC, "man", "nodeherd.8")
lint(page8)
with open(page8, encoding="utf-8") as f:
    text = f.read()
sections = re.findall(r'^\.SH\s+"?([^"\n]+)"?', text, re.M)
for s in ["NAME", "SYNOPSIS", "DESCRIPTION", "COMMANDS", "OPTIONS", "EXIT STATUS", "SIGNALS",
          "FILES", "ENVIRONMENT", "SAFETY", "SEE ALSO"]:
    check(s in sections, "nodeherd.8 has section " + s)
for cmd in ["run", "plan", "check", "status", "version"]:
    check(re.search(r"^\.B %s$" % cmd, text, re.M) is not None, "nodeherd.8 documents " + cmd)
for env in ["NOTIFY_SOCKET", "WATCHDOG_USEC", "CREDENTIALS_DIRECTORY", "STATE_DIRECTORY",
            "JOURNAL_STREAM", "NODEHERD_CONFIG"]:
    check(env in text, "nodeherd.8 explains $" + env)
for sig in ["SIGHUP", "SIGTERM", "SIGINT"]:
    check(sig in text, "nodeherd.8 explains " + sig)

# Every long option of the CLI, from the sources, must appear as \-\-name.
opts = set()
for src in [os.path.join(SRC, "daemon", "main.c"), os.path.join(SRC, "daemon", "cli.c")] + glob.glob(
        os.path.join(SRC, "daemon", "cmd_*.c")):
    with open(src, encoding="utf-8") as f:
        opts.update(re.findall(r'\{"([a-z][a-z-]*)",\s*(?:no|required|optional)_argument',
                               f.read()))
check(len(opts) >= 8, "found the CLI's long options in the sources (%d)" % len(opts))
for o in sorted(opts):
    check("\\-\\-" + o.replace("-", "\\-") in text, "nodeherd.8 documents --" + o)

page5 = os.path.join(SRC, "man", "nodeherd.yaml.5")
if os.path.exists(page5):
    lint(page5)
else:
    print("SKIP man/nodeherd.yaml.5 does not exist yet")

done()
