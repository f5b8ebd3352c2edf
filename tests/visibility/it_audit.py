"""Audit trail against the real daemon and the emulator (issue 13, item 1).

One daemon follows a configuration published five ways, each a reload
through `current/nodeherd.yaml` (the path the daemon was given):

  1. a plain git checkout (.git/HEAD -> refs/heads/main -> sha), created with
     real `git init` + `git commit`;
  2. a new commit in that checkout, published by renaming the committed
     content into place;
  3. a linked worktree on another branch (.git is a file "gitdir: ...",
     the branch ref lives in the common directory), reached by swapping the
     `current` symlink the way git-sync does;
  4. a directory outside git whose file carries `revision: release-42`;
  5. a directory outside git without it (sha256:<16 hex> of the bytes).

Checked: every mutation in the emulator's request log has its audit
operation (cluster, pool, action, rule, the cloud's job id when there is
one, a final result) with the revision of the configuration that asked for
it; the state journal records the same revision for the same operation;
`nodeherd status` shows the newest revision in the cluster's recent actions;
no secret reaches audit.log."""

import hashlib
import os
import time
import unittest

import vislib
from vislib import harness, itlib


class AuditTest(unittest.TestCase):
    def setUp(self):
        self.fleet = harness.Fleet(seed=itlib.SEED)
        vislib.fast_timing(self.fleet)

    def tearDown(self):
        self.fleet.close()

    def wait_phase(self, d, revision, cluster, pool, declared):
        vislib.wait_for(lambda: d.status()["revision"] == revision, 20,
                        "the daemon to load revision %s" % revision, d)
        return self.fleet.wait_converged(
            d, timeout=60, pred=lambda s: s["revision"] == revision and all(
                c["state"] == "converged" and not c["in_flight"] for c in s["clusters"])
            and vislib.settled(s, cluster, pool, declared))

    def test_every_mutation_is_audited_with_the_revision_that_caused_it(self):
        f = self.fleet
        root = os.path.join(f.dir, "gitops")
        repo = os.path.join(root, "repo")
        os.makedirs(repo)
        # 1. plain checkout
        vislib.git(repo, "init", "-q")
        with open(os.path.join(repo, "nodeherd.yaml"), "w") as fh:
            fh.write(f.config_text(itlib.fleet_yaml()))
        vislib.git(repo, "add", "nodeherd.yaml")
        vislib.git(repo, "commit", "-q", "-m", "fleet")
        with open(os.path.join(repo, ".git", "HEAD")) as fh:
            self.assertEqual(fh.read().strip(), "ref: refs/heads/main")
        sha1 = vislib.git(repo, "rev-parse", "HEAD").strip()
        os.symlink("repo", os.path.join(root, "current"))
        d = f.daemon(config_path=os.path.join(root, "current", "nodeherd.yaml"))
        d.wait_ready()
        phases = []  # (revision, audit seqs first seen in that phase)
        seen = set()

        def close_phase(rev):
            ops = vislib.audit_ops(vislib.audit_lines(f.state_dir))
            new = set(ops) - seen
            seen.update(new)
            self.assertTrue(new, "no audited operation under %s" % rev)
            phases.append((rev, new))

        s = self.wait_phase(d, "git:" + sha1, "web", None, 3)
        close_phase("git:" + sha1)

        # 2. a new commit, then the committed bytes renamed into place
        text2 = f.config_text(itlib.fleet_yaml(web=4))
        nxt = os.path.join(repo, "nodeherd.yaml.next")
        with open(nxt, "w") as fh:
            fh.write(text2)
        blob = vislib.git(repo, "hash-object", "-w", nxt).strip()
        vislib.git(repo, "update-index", "--cacheinfo", "100644,%s,nodeherd.yaml" % blob)
        vislib.git(repo, "commit", "-q", "-m", "web: 4")
        sha2 = vislib.git(repo, "rev-parse", "HEAD").strip()
        self.assertNotEqual(sha1, sha2)
        os.rename(nxt, os.path.join(repo, "nodeherd.yaml"))
        self.wait_phase(d, "git:" + sha2, "web", None, 4)
        close_phase("git:" + sha2)

        # 3. linked worktree on branch `next`, published by a symlink swap
        wt = os.path.join(root, "wt3")
        vislib.git(repo, "worktree", "add", "-q", "-b", "next", wt, "main")
        self.assertTrue(os.path.isfile(os.path.join(wt, ".git")))
        with open(os.path.join(wt, "nodeherd.yaml"), "w") as fh:
            fh.write(f.config_text(itlib.fleet_yaml(web=3)))
        vislib.git(wt, "commit", "-q", "-a", "-m", "web: 3")
        sha3 = vislib.git(wt, "rev-parse", "HEAD").strip()
        self.assertEqual(vislib.git(repo, "rev-parse", "HEAD").strip(), sha2)
        vislib.swap_symlink(os.path.join(root, "current"), "wt3")
        s = self.wait_phase(d, "git:" + sha3, "web", None, 3)
        close_phase("git:" + sha3)
        web = [c for c in s["clusters"] if c["name"] == "web"][0]
        self.assertEqual(web["recent"][0]["revision"], "git:" + sha3, web["recent"])
        self.assertEqual(web["recent"][1]["revision"], "git:" + sha2, web["recent"])

        # 4. a publisher-written revision: key
        pub4 = os.path.join(root, "pub4")
        os.makedirs(pub4)
        with open(os.path.join(pub4, "nodeherd.yaml"), "w") as fh:
            fh.write("revision: release-42\n" + f.config_text(itlib.fleet_yaml(np_web=5)))
        vislib.swap_symlink(os.path.join(root, "current"), "pub4")
        self.wait_phase(d, "release-42", "pools", "np-web", 5)
        close_phase("release-42")

        # 5. no git, no revision: key: a hash of the bytes
        pub5 = os.path.join(root, "pub5")
        os.makedirs(pub5)
        text5 = f.config_text(itlib.fleet_yaml(np_web=5, np1=4))
        with open(os.path.join(pub5, "nodeherd.yaml"), "w") as fh:
            fh.write(text5)
        rev5 = "sha256:" + hashlib.sha256(text5.encode()).hexdigest()[:16]
        vislib.swap_symlink(os.path.join(root, "current"), "pub5")
        self.wait_phase(d, rev5, "ai", "nodepool-1", 4)
        close_phase(rev5)
        self.assertEqual(d.stop(), 0)

        # --- the audit trail ---
        lines = vislib.audit_lines(f.state_dir)
        ops = vislib.audit_ops(lines)
        for ln in lines:
            for k in ("time", "seq", "cluster", "pool", "action", "rule", "why", "from", "target",
                      "nodes", "event", "job", "detail", "revision"):
                self.assertIn(k, ln, ln)
        for rev, seqs in phases:
            for s_ in seqs:
                op = ops[s_]
                # every event of the operation carries its revision
                revs = {ln["revision"] for ln in lines if ln["seq"] == s_}
                self.assertEqual(revs, {rev}, "seq %d: %r" % (s_, op))
                self.assertEqual(op["events"][0], "issued", op)
                self.assertIsNotNone(op["final"], "seq %d never finished: %r" % (s_, op))
                self.assertEqual(op["final"]["event"], "done", op["final"])
                self.assertIn(op["first"]["rule"], ("declared", "prune", "unhealthy-first"), op)
        # --- every mutation the cloud saw has its audit operation, and back ---
        state = f.state()
        pool_ids = {p["name"]: p["id"] for p in state["pools"]}
        muts = vislib.processed_mutations(f)
        self.assertGreaterEqual(len(muts), len(ops))
        paired, unmatched = vislib.match_mutations(muts, ops, pool_ids)
        self.assertEqual(unmatched, [], "mutations without an audit entry")
        self.assertEqual(set(paired.values()), set(ops), "audit operations the cloud never saw")
        for m in muts:
            op = ops[paired[m["seq"]]]
            job = op["final"]["job"]
            if m["cloud"] == "ack":  # ACK always answers with a task id
                self.assertEqual(job, m["task"], (m, op["final"]))
            elif job is not None:
                self.assertEqual(job, m["task"], (m, op["final"]))
        kinds = {(o["first"]["cluster"], o["first"]["action"]) for o in ops.values()}
        for want in (("web", "remove-nodes"), ("web", "scale-cluster"), ("pools", "scale-pool"),
                     ("train", "remove-nodes"), ("ai", "delete-pool"), ("ai", "scale-pool")):
            self.assertIn(want, kinds)
        # --- the state journal records the same revision for the same operation ---
        begins = vislib.journal_begins(f.state_dir)
        for s_, op in ops.items():
            self.assertIn(s_, begins, "audit seq %d is not in the state journal" % s_)
            b = begins[s_]
            self.assertEqual(b["revision"], op["first"]["revision"], (b, op["first"]))
            self.assertEqual((b["cluster"], b["kind"], b["pool_name"]),
                             (op["first"]["cluster"], op["first"]["action"], op["first"]["pool"]))
        self.assertEqual(set(begins), set(ops), "journalled operations missing from the audit")
        # --- no secret anywhere in the trail ---
        with open(os.path.join(f.state_dir, "audit.log")) as fh:
            raw = fh.read()
        for secret in vislib.SECRETS:
            self.assertNotIn(secret, raw)
        self.assertEqual(os.stat(os.path.join(f.state_dir, "audit.log")).st_mode & 0o777, 0o600)
        itlib.assert_clean(self, f)

    # Edited in place and then committed (the order a person, `git pull` and
    # `git reset --hard` all use: working tree first, ref last): the reload on
    # the file change still sees the previous commit; the daemon also watches
    # HEAD's reflog (<gitdir>/logs/HEAD, daemon/cmd_run.c watch_git) and
    # reloads again when HEAD moves, so the revision follows the commit.
    def test_commit_after_in_place_edit_moves_the_revision(self):
        f = self.fleet
        repo = os.path.join(f.dir, "repo")
        os.makedirs(repo)
        vislib.git(repo, "init", "-q")
        path = os.path.join(repo, "nodeherd.yaml")
        with open(path, "w") as fh:
            fh.write(f.config_text(itlib.fleet_yaml()))
        vislib.git(repo, "add", "nodeherd.yaml")
        vislib.git(repo, "commit", "-q", "-m", "fleet")
        d = f.daemon(config_path=path)
        d.wait_ready()
        f.wait_converged(d)
        with open(path, "w") as fh:
            fh.write(f.config_text(itlib.fleet_yaml(web=4)))
        vislib.git(repo, "commit", "-q", "-a", "-m", "web: 4")
        sha2 = vislib.git(repo, "rev-parse", "HEAD").strip()
        try:
            vislib.wait_for(lambda: d.status()["revision"] == "git:" + sha2, 30,
                            "the revision to follow the commit")
        finally:
            d.stop()

    # git appends HEAD's reflog while it holds the ref's lock and renames the
    # moved ref into place only after (refs/files-backend.c), so the reload
    # the reflog triggers may still read the previous commit. Played here
    # with a wide gap between the two steps: the revision must still follow.
    def test_reflog_written_before_the_ref_moves(self):
        f = self.fleet
        repo = os.path.join(f.dir, "repo")
        os.makedirs(repo)
        vislib.git(repo, "init", "-q", "-b", "main")
        path = os.path.join(repo, "nodeherd.yaml")
        with open(path, "w") as fh:
            fh.write(f.config_text(itlib.fleet_yaml()))
        vislib.git(repo, "add", "nodeherd.yaml")
        vislib.git(repo, "commit", "-q", "-m", "fleet")
        sha1 = vislib.git(repo, "rev-parse", "HEAD").strip()
        d = f.daemon(config_path=path)
        try:
            d.wait_ready()
            vislib.wait_for(lambda: d.status()["revision"] == "git:" + sha1, 30,
                            "the first revision")
            tree = vislib.git(repo, "rev-parse", "HEAD^{tree}").strip()
            sha2 = vislib.git(repo, "commit-tree", tree, "-p", sha1,
                              "-m", "same file").strip()
            with open(os.path.join(repo, ".git", "logs", "HEAD"), "a") as fh:
                fh.write("%s %s t <t@example.invalid> 0 +0000\tcommit: same file\n"
                         % (sha1, sha2))
            time.sleep(1.0)  # the reload on the reflog has read the old ref by now
            ref = os.path.join(repo, ".git", "refs", "heads", "main")
            with open(ref + ".lock", "w") as fh:
                fh.write(sha2 + "\n")
            os.rename(ref + ".lock", ref)
            vislib.wait_for(lambda: d.status()["revision"] == "git:" + sha2, 30,
                            "the revision to follow the ref")
        finally:
            d.stop()


if __name__ == "__main__":
    unittest.main(verbosity=2)
