"""The status page at / rendered by headless Chromium against a daemon
driving the emulator (issue 13, item 3).

The fleet has a job in flight (web's scale-out, its cloud task stuck), a
blocked cluster (train: workers: on huawei-cce) and converged ones. Chromium
loads the page, lets its script fetch /api/v1/status and render
(--virtual-time-budget), and the rendered DOM's text is compared with
/api/v1/status read right after: every cluster's name and state, every
pool's declared and observed counts, the job in flight, the blocked note with
its fix, the role and the revision. The page holds nothing that could change
the fleet (no form, button or input; links only to read-only GETs).
Screenshots at desktop and phone width (390x844) are kept in
$NH_BUILD_DIR/artifacts/visibility/ (or the kept scratch directory).

Chromium comes from the Debian package `chromium` (scripts/deps.sh)."""

import html.parser
import os
import shutil
import struct
import subprocess
import tempfile
import unittest

import vislib
from vislib import harness, itlib

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-extensions", "--disable-default-apps", "--no-default-browser-check",
         "--disable-client-side-phishing-detection", "--no-proxy-server", "--mute-audio",
         "--hide-scrollbars", "--virtual-time-budget=5000"]
VOID = {"meta", "link", "br", "img", "input", "hr", "col", "source", "wbr", "area", "base"}


class Node:
    def __init__(self, tag, attrs, parent):
        self.tag, self.attrs, self.parent, self.children = tag, dict(attrs), parent, []

    def text(self):
        return "".join(c if isinstance(c, str) else c.text() for c in self.children)

    def find_all(self, tag=None, cls=None):
        out = []
        for c in self.children:
            if isinstance(c, Node):
                if (tag is None or c.tag == tag) and (
                        cls is None or cls in (c.attrs.get("class") or "").split()):
                    out.append(c)
                out.extend(c.find_all(tag, cls))
        return out

    def by_id(self, ident):
        for n in self.find_all():
            if n.attrs.get("id") == ident:
                return n
        return None


class DomParser(html.parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.root = self.cur = Node("#root", {}, None)

    def handle_starttag(self, tag, attrs):
        n = Node(tag, attrs, self.cur)
        self.cur.children.append(n)
        if tag not in VOID:
            self.cur = n

    def handle_endtag(self, tag):
        n = self.cur
        while n is not None and n.tag != tag:
            n = n.parent
        if n is not None and n.parent is not None:
            self.cur = n.parent

    def handle_data(self, data):
        self.cur.children.append(data)


def parse_dom(text):
    p = DomParser()
    p.feed(text)
    p.close()
    return p.root


def rows(card, title):
    """The rows of the table under the h3 `title` in a cluster card, as
    {data-label: cell text}."""
    kids = [c for c in card.children if isinstance(c, Node)]
    for i, k in enumerate(kids):
        if k.tag == "h3" and k.text().strip().lower() == title.lower():
            nxt = kids[i + 1]
            if nxt.tag != "table":
                return []
            return [{td.attrs.get("data-label"): td.text().strip() for td in tr.find_all("td")}
                    for tr in nxt.find_all("tbody")[0].find_all("tr")]
    raise AssertionError("no section %r in card %r" % (title, card.text()[:200]))


def png_size(path):
    with open(path, "rb") as fh:
        head = fh.read(24)
    assert head[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG: %s" % path
    return struct.unpack(">II", head[16:24])


def count(v):
    return "" if v is None else str(v)


class StatusPageTest(unittest.TestCase):
    def setUp(self):
        if CHROMIUM is None:
            self.fail("chromium is not installed: run `sh scripts/deps.sh` (PKGS lists chromium)")
        self.fleet = harness.Fleet(seed=itlib.SEED)
        vislib.fast_timing(self.fleet)
        build = os.environ.get("NH_BUILD_DIR")
        self.artifacts = (os.path.join(build, "artifacts", "visibility") if build
                          else os.path.join(self.fleet.dir, "artifacts"))
        if not build:
            self.fleet.keep = True
        os.makedirs(self.artifacts, exist_ok=True)
        self.profile = tempfile.mkdtemp(prefix="chromium-", dir=self.fleet.dir)

    def tearDown(self):
        self.fleet.close()

    def chromium(self, url, *args):
        env = dict(os.environ, DBUS_SESSION_BUS_ADDRESS="disabled:", NO_PROXY="*")
        p = subprocess.run([CHROMIUM] + FLAGS + ["--user-data-dir=" + self.profile] + list(args)
                           + [url], capture_output=True, timeout=90, env=env)
        self.assertEqual(p.returncode, 0, p.stderr.decode(errors="replace")[-3000:])
        return p.stdout.decode("utf-8", "replace")

    def test_page_shows_what_the_status_api_says(self):
        f = self.fleet
        f.fault(route="ScaleCluster", fault="job_stuck")
        d = f.daemon(vislib.busy_fleet_text())
        d.wait_ready()
        f.wait_converged(d, timeout=60, pred=vislib.busy_ready)
        before = len(f.mutations())

        dom_text = self.chromium(d.url("/"), "--window-size=1280,2400", "--dump-dom")
        with open(os.path.join(self.artifacts, "status-page.html"), "w") as fh:
            fh.write(dom_text)
        st = d.status()
        dom = parse_dom(dom_text)

        # header: role, ready, revision
        self.assertEqual(dom.by_id("role").text(), st["role"])
        self.assertEqual(dom.by_id("ready").text(), "ready")
        self.assertIn("revision " + st["revision"], dom.by_id("meta").text())
        self.assertEqual(dom.by_id("banner").text(), "", "the page could not read the API")

        cards = dom.by_id("clusters").find_all("section", "card")
        self.assertEqual([c.find_all("h2")[0].text() for c in cards],
                         [c["name"] for c in st["clusters"]])
        for card, c in zip(cards, st["clusters"]):
            name = c["name"]
            self.assertEqual(card.find_all("span", "badge")[0].text(), c["state"], name)
            got = [(r["Pool"], r["Declared"], r["Observed"]) for r in
                   rows(card, "Declared vs observed")]
            want = [(g["pool"] or "(workers)", count(g["declared"]), count(g["observed"]))
                    for g in c["groups"]]
            self.assertEqual(got, want, name)
            self.assertTrue(want, name)
            flight = rows(card, "In flight") if c["in_flight"] else []
            self.assertEqual([(r["Kind"], r["Job"], r["State"]) for r in flight],
                             [(o["kind"], o["job"] or "", o["state"]) for o in c["in_flight"]])
            notes = card.find_all("ul", "notes")
            shown = notes[0].text() if notes else ""
            for n in c["notes"]:
                self.assertIn(n["msg"], shown, name)
                if n["fix"]:
                    self.assertIn("Fix: " + n["fix"], shown, name)
            recent = rows(card, "Recent actions") if c["recent"] else []
            self.assertEqual([(r["Kind"], r["Result"], r["Revision"]) for r in recent],
                             [(a["kind"], a["result"], a["revision"]) for a in c["recent"]])

        by = {c["name"]: c for c in st["clusters"]}
        self.assertEqual(by["web"]["in_flight"][0]["kind"], "scale-cluster")
        self.assertTrue(any(n["kind"] == "blocked" for n in by["train"]["notes"]))
        self.assertEqual(sum(len(c["recent"]) for c in st["clusters"]), 5)

        # read-only: nothing to press or fill in; links only to GET endpoints
        for tag in ("form", "button", "input", "select", "textarea", "iframe"):
            self.assertEqual(dom.find_all(tag), [], tag)
        self.assertEqual(sorted(a.attrs.get("href") for a in dom.find_all("a")),
                         ["api/v1/status", "metrics"])
        self.assertEqual([s for s in dom.find_all("script") if s.attrs.get("src")], [])
        self.assertEqual([ln for ln in dom.find_all("link") if ln.attrs.get("rel") != "icon"], [])

        # screenshots: desktop and phone width
        for name, size in (("desktop", (1280, 2000)), ("phone", (390, 844))):
            png = os.path.join(self.artifacts, "status-page-%s.png" % name)
            if os.path.exists(png):
                os.unlink(png)
            self.chromium(d.url("/"), "--window-size=%d,%d" % size, "--screenshot=" + png)
            self.assertEqual(png_size(png), size)
            self.assertGreater(os.path.getsize(png), 20000, "an empty-looking screenshot")
        print("screenshots in %s" % self.artifacts)
        self.assertEqual(len(f.mutations()), before, "loading the page changed the fleet")
        self.assertEqual(d.stop(), 0)


if __name__ == "__main__":
    unittest.main(verbosity=2)
