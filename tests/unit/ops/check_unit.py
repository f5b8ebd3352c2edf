#!/usr/bin/env python3
"""check_unit.py - systemd/nodeherd.service: the directives nodeherd relies on
are there, and `systemd-analyze security --offline=true` rates its exposure
2.0 or lower. Prints 'N passed, N failed'."""
import os
import re
import shutil
import subprocess

from checklib import SRC, check, done

UNIT = os.path.join(SRC, "systemd", "nodeherd.service")
MAX_EXPOSURE = 2.0


def directives(path):
    """{(section, key): [values]} from a unit file (comments skipped)."""
    out, section = {}, None
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.strip()
            if not line or line[0] in "#;":
                continue
            if line.startswith("["):
                section = line.strip("[]")
                continue
            key, _, value = line.partition("=")
            out.setdefault((section, key.strip()), []).append(value.strip())
    return out


d = directives(UNIT)
want = {
    "Type": "notify",
    "ExecStart": "/usr/bin/nodeherd --config /etc/nodeherd/nodeherd.yaml run",
    "WatchdogSec": "30s",
    "Restart": "on-failure",
    "StateDirectory": "nodeherd",
    "DynamicUser": "yes",
    "TimeoutStopSec": "30s",
    "ProtectSystem": "strict",
    "NoNewPrivileges": "yes",
    "CapabilityBoundingSet": "",
    "RestrictAddressFamilies": "AF_INET AF_INET6 AF_UNIX",
}
for key, value in want.items():
    got = d.get(("Service", key), [])
    check(value in got, "[Service] %s=%s (have %r)" % (key, value, got))
# `systemctl reload` reports a refused file: the file is checked (the file
# ExecStart= runs with) before SIGHUP; systemd runs ExecReload= lines in order
# and stops at the first that fails.
cfg = re.search(r"--config (\S+)", d.get(("Service", "ExecStart"), [""])[0])
check(d.get(("Service", "ExecReload"), []) ==
      ["/usr/bin/nodeherd --config %s check --quiet" % (cfg.group(1) if cfg else "?"),
       "/bin/kill -HUP $MAINPID"],
      "[Service] ExecReload= checks ExecStart='s file, then sends SIGHUP (have %r)"
      % d.get(("Service", "ExecReload"), []))
check("@system-service" in d.get(("Service", "SystemCallFilter"), []),
      "[Service] SystemCallFilter=@system-service")
# The network must still work: nothing may deny IP traffic or private the netns.
check(("Service", "PrivateNetwork") not in d and ("Service", "IPAddressDeny") not in d,
      "network left usable (no PrivateNetwork=, no IPAddressDeny=)")
with open(UNIT, encoding="utf-8") as f:
    text = f.read()
check(re.search(r"^#\s*LoadCredential=\S+:\S+", text, re.M) is not None,
      "documented LoadCredential= example present")

tool = shutil.which("systemd-analyze")
if tool is None:
    print("SKIP systemd-analyze is not installed (apt-get install systemd); "
          "exposure not checked")
else:
    r = subprocess.run([tool, "security", "--offline=true", "--no-pager", UNIT],
                       capture_output=True, text=True, timeout=60)
    m = re.search(r"Overall exposure level for \S+: ([0-9.]+)", r.stdout + r.stderr)
    check(m is not None, "systemd-analyze security printed an overall exposure")
    if m:
        level = float(m.group(1))
        check(level <= MAX_EXPOSURE,
              "exposure %.1f <= %.1f" % (level, MAX_EXPOSURE))
    else:
        print(r.stdout[-2000:], r.stderr[-2000:])

done()
