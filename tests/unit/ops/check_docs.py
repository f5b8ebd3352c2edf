#!/usr/bin/env python3
"""check_docs.py - the user documentation agrees with the binary and the unit:

- every metric the docs name is one nodeherd exports
  (contrib/prometheus/exported-metrics.txt), so a renamed metric cannot
  linger in a guide;
- no doc claims the configuration revision is in the metrics (it is not: a
  label per revision would be a new series per commit);
- no example hands a secret over with Environment= (the unit says never:
  systemd.exec(5), "not suitable for passing secrets");
- no doc announces as future what the binary does, or carries notes meant
  for the project's own work ("planned fix", "proposal for the lead",
  "known defect");
- every documented file of the Debian package exists (debian/nodeherd.docs),
  the operations guide among them.
Prints 'N passed, N failed'."""
import glob
import os
import re

from checklib import SRC, check, done, read


DOCS = ["README.md", "man/nodeherd.8", "man/nodeherd.yaml.5", "debian/nodeherd.README.Debian",
        "config/nodeherd.yaml", "systemd/nodeherd.service"] + sorted(
    os.path.relpath(p, SRC) for p in glob.glob(os.path.join(SRC, "docs", "*.md")) +
    glob.glob(os.path.join(SRC, "contrib", "*", "README.md")))
texts = {d: read(d) for d in DOCS if os.path.exists(os.path.join(SRC, d))}
check(len(texts) >= 10, "found the user documentation (%d files)" % len(texts))

exported = set()
for line in read("contrib/prometheus/exported-metrics.txt").splitlines():
    if line.strip() and not line.startswith("#"):
        exported.add(line.split()[0])
hist = {n for n in exported if re.search(r"_seconds$", n)}


def known(name):
    if name in exported:
        return True
    base = re.sub(r"_(bucket|sum|count)$", "", name)
    return base in hist


for doc, text in texts.items():
    # roff escapes hyphens and underscores differently; names use only [a-z_]
    names = set(re.findall(r"\bnodeherd_[a-z_]*[a-z]\b", text.replace("\\_", "_")))
    unknown = sorted(n for n in names if not known(n))
    check(not unknown, "%s names exported metrics only" % doc, ", ".join(unknown))
    flat = re.sub(r"\s+", " ", re.sub(r"^\.\w+ ?", "", text, flags=re.M))
    check(re.search(r"revision.{0,200}?\b(?:shown|is|appears) in [^.]*\bmetrics", flat,
                    re.I) is None,
          "%s does not put the revision in the metrics" % doc)
    bad = re.findall(r"^\s*Environment=[A-Z_]+=", text, re.M)
    check(not bad or doc == "systemd/nodeherd.service",
          "%s hands no secret over with Environment=" % doc, "; ".join(bad))
    stale = re.findall(r"planned fix|proposal for the lead|known defect|not implemented yet",
                       flat, re.I)
    check(not stale, "%s announces nothing the binary already does" % doc, "; ".join(stale))

check(re.search(r"never in Environment=", read("systemd/nodeherd.service")) is not None,
      "the unit's advice (never Environment=) is there to agree with")
shipped = read("debian/nodeherd.docs").split()
for rel in shipped:
    check(os.path.isfile(os.path.join(SRC, rel)), "debian/nodeherd.docs: %s exists" % rel)
check("docs/operations.md" in shipped, "the Debian package ships the operations guide")

done()
