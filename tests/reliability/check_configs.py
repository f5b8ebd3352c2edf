#!/usr/bin/env python3
"""Bad-input corpus: `nodeherd check` (the real binary) on hostile and
invalid configurations, each with the exact output it must print.

Committed cases: tests/reliability/configs/NAME.yaml with NAME.expect:

    exit 2                       <- the exit status
    FILE:12:5: clusters[0]...    <- the complete output, one line each, with
    FILE: configuration invalid (1 error)     FILE = the path given and
                                              CREDS = $CREDENTIALS_DIRECTORY
    re:FILE: cannot open .*      <- a line may be a regular expression

Cases git cannot hold well (10 MB files, symlink loops, FIFOs, devices,
credential files with the wrong mode, unreadable files) are created here at
run time (RUNTIME below). Every case also checks that no credential value
(the "CANARY-..." bytes of the credential files) appears in the output.

    NODEHERD_BIN=build/daemon/nodeherd python3 tests/reliability/check_configs.py [-v] [NAME...]
    --update   rewrite the .expect files from the current output (review the diff!)
"""

import os
import re
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
CORPUS = os.path.join(HERE, "configs")
CANARY = "CANARY-"
CRED_NAMES = ("ack-ak", "ack-sk", "hw-ak", "hw-sk", "ack-node-pw")

ACK_WITH_SECRET = """providers:
  ack:
    kind: aliyun-ack
    region: cn-hangzhou
    credentials:
      access_key_id: {{ file: ack-ak }}
      access_key_secret: {{ file: {secret} }}
clusters: []
"""
SECRET_AT = "FILE:7:28: providers.ack.credentials.access_key_secret: "
EMPTY = "providers: {}\nclusters: []\n"


def binary():
    b = os.environ.get("NODEHERD_BIN")
    if not b:
        sys.exit("check_configs.py: set NODEHERD_BIN to the nodeherd binary")
    return b


def write(path, data, mode=0o644):
    with open(path, "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode())
    os.chmod(path, mode)


def secret_case(secret, expect_lines, code=2):
    def prep(d, creds):
        write(os.path.join(d, "cfg.yaml"), ACK_WITH_SECRET.format(secret=secret))
        return "cfg.yaml"
    return prep, code, expect_lines


def file_case(make, expect_lines, code=2):
    def prep(d, creds):
        return make(d)
    return prep, code, expect_lines


def mk_big(d):
    write(os.path.join(d, "big.yaml"), EMPTY + "# " + "x" * (10 * 1024 * 1024) + "\n")
    return "big.yaml"


def mk_exact(d, extra):
    data = EMPTY.encode()
    data += b"#" * (1024 * 1024 - len(data) - 1) + b"\n" + b"\n" * extra
    write(os.path.join(d, "edge.yaml"), data)
    return "edge.yaml"


def mk_loop(d):
    os.symlink("b.yaml", os.path.join(d, "a.yaml"))
    os.symlink("a.yaml", os.path.join(d, "b.yaml"))
    return "a.yaml"


def mk_fifo(d):
    os.mkfifo(os.path.join(d, "fifo.yaml"))
    return "fifo.yaml"


def mk_dev(dev):
    def m(d):
        os.symlink(dev, os.path.join(d, "dev.yaml"))
        return "dev.yaml"
    return m


def mk_dir_without_yaml(d):
    os.mkdir(os.path.join(d, "fleet"))
    write(os.path.join(d, "fleet", "README"), "no yaml here\n")
    return "fleet"


def cred(creds, name, data, mode=0o600):
    write(os.path.join(creds, name), data, mode)


def mk_kube_volume(creds):
    ts = os.path.join(creds, "..2024_05_01_10_00_00.123")
    os.mkdir(ts)
    cred(ts, "kube-sk", "CANARY-kube\n", 0o400)
    os.symlink("..2024_05_01_10_00_00.123", os.path.join(creds, "..data"))
    os.symlink("..data/kube-sk", os.path.join(creds, "kube-sk"))


def prep_cred(fn):
    """A secret case whose credential file is made by fn(creds_dir)."""
    def wrap(secret, expect_lines, code=2):
        def prep(d, creds):
            fn(creds)
            write(os.path.join(d, "cfg.yaml"), ACK_WITH_SECRET.format(secret=secret))
            return "cfg.yaml"
        return prep, code, expect_lines
    return wrap


INVALID = "FILE: configuration invalid (1 error)"
OK1 = "FILE: configuration OK (1 provider, 0 clusters)"
RUNTIME = {
    "rt-10mb-file": file_case(mk_big, [
        "FILE: file is larger than 1 MiB (10485790 bytes); split or trim it", INVALID]),
    "rt-1mib-exactly": file_case(lambda d: mk_exact(d, 0), [
        "FILE: configuration OK (0 providers, 0 clusters)"], 0),
    "rt-1mib-plus-one": file_case(lambda d: mk_exact(d, 1), [
        "FILE: file is larger than 1 MiB (1048577 bytes); split or trim it", INVALID]),
    "rt-symlink-loop": file_case(mk_loop, [
        "re:FILE: cannot open the configuration file: Too many levels of symbolic links.*",
        INVALID]),
    "rt-fifo": file_case(mk_fifo, [
        "FILE: not a regular file; point --config at a YAML file", INVALID]),
    "rt-dev-zero": file_case(mk_dev("/dev/zero"), [
        "FILE: not a regular file; point --config at a YAML file", INVALID]),
    "rt-dev-urandom": file_case(mk_dev("/dev/urandom"), [
        "FILE: not a regular file; point --config at a YAML file", INVALID]),
    "rt-missing-file": file_case(lambda d: "missing.yaml", [
        "FILE: cannot open the configuration file: No such file or directory; give the right "
        "path with --config or $NODEHERD_CONFIG", INVALID]),
    "rt-dir-without-yaml": file_case(mk_dir_without_yaml, [
        "FILE: no *.yaml or *.yml files in this directory; name the files to check, or put the "
        "fleet's configuration files here"]),
    # secret files: nodeherd.yaml(5) SECRETS: other-readable refused ("chmod 600"),
    # group-readable accepted with a warning, regular files of 1..64 KiB only
    "rt-secret-world-readable": prep_cred(lambda c: cred(c, "wr", "CANARY-wr\n", 0o644))("wr", [
        SECRET_AT + "credential file CREDS/wr is readable by other users; chmod 600 CREDS/wr",
        INVALID]),
    "rt-secret-world-readable-via-symlink": prep_cred(
        lambda c: (cred(c, "wr", "CANARY-wr\n", 0o604), os.symlink("wr", os.path.join(c, "ln"))))(
        "ln", [SECRET_AT + "credential file CREDS/ln is readable by other users; chmod 600 CREDS/ln",
               INVALID]),
    "rt-secret-group-readable": prep_cred(lambda c: cred(c, "gr", "CANARY-gr\n", 0o640))("gr", [
        "FILE:7:28: warning: providers.ack.credentials.access_key_secret: credential file "
        "CREDS/gr is readable by its group; chmod 600 CREDS/gr unless that is intended", OK1], 0),
    "rt-secret-directory": prep_cred(lambda c: os.mkdir(os.path.join(c, "dir")))("dir", [
        SECRET_AT + "credential file CREDS/dir ($CREDENTIALS_DIRECTORY) is not a regular file",
        INVALID]),
    "rt-secret-symlink-loop": prep_cred(
        lambda c: (os.symlink("l2", os.path.join(c, "l1")), os.symlink("l1", os.path.join(c, "l2"))))(
        "l1", [SECRET_AT + "credential file CREDS/l1 ($CREDENTIALS_DIRECTORY): Too many levels of "
               "symbolic links", INVALID]),
    "rt-secret-fifo": prep_cred(lambda c: os.mkfifo(os.path.join(c, "fifo"), 0o600))("fifo", [
        SECRET_AT + "credential file CREDS/fifo ($CREDENTIALS_DIRECTORY) is not a regular file",
        INVALID]),
    "rt-secret-dev-zero": prep_cred(lambda c: os.symlink("/dev/zero", os.path.join(c, "z")))("z", [
        SECRET_AT + "credential file CREDS/z ($CREDENTIALS_DIRECTORY) is a symbolic link that "
        "leads outside CREDS; links are followed only within the credential directory: put the "
        "file itself there", INVALID]),
    # issue 23: files others can write (the credential could be swapped) are refused
    "rt-secret-mode-0622": prep_cred(lambda c: cred(c, "pw", "CANARY-pw\n", 0o622))("pw", [
        SECRET_AT + "credential file CREDS/pw is writable by other users; chmod 600 CREDS/pw "
        "(anyone who can write it can swap the credential)", INVALID]),
    "rt-secret-mode-0602": prep_cred(lambda c: cred(c, "pw", "CANARY-pw\n", 0o602))("pw", [
        SECRET_AT + "credential file CREDS/pw is writable by other users; chmod 600 CREDS/pw "
        "(anyone who can write it can swap the credential)", INVALID]),
    "rt-secret-mode-0620": prep_cred(lambda c: cred(c, "pw", "CANARY-pw\n", 0o620))("pw", [
        SECRET_AT + "credential file CREDS/pw is writable by its group; chmod 600 CREDS/pw "
        "(anyone who can write it can swap the credential)", INVALID]),
    # a link to a file elsewhere, even a private one, is not followed
    "rt-secret-symlink-outside": prep_cred(lambda c: (
        cred(os.path.dirname(c), "elsewhere", "CANARY-elsewhere\n", 0o600),
        os.symlink(os.path.join(os.path.dirname(c), "elsewhere"), os.path.join(c, "ln"))))("ln", [
        SECRET_AT + "credential file CREDS/ln ($CREDENTIALS_DIRECTORY) is a symbolic link that "
        "leads outside CREDS; links are followed only within the credential directory: put the "
        "file itself there", INVALID]),
    "rt-secret-symlink-climbs-out": prep_cred(lambda c: (
        cred(os.path.dirname(c), "elsewhere", "CANARY-elsewhere\n", 0o600),
        os.symlink("../elsewhere", os.path.join(c, "ln"))))("ln", [
        SECRET_AT + "credential file CREDS/ln ($CREDENTIALS_DIRECTORY) is a symbolic link that "
        "leads outside CREDS; links are followed only within the credential directory: put the "
        "file itself there", INVALID]),
    # a Kubernetes secret volume: NAME -> ..data/NAME -> ..TIMESTAMP/NAME (mode 0400 here;
    # the group-readable 0440 of defaultMode is in unit.secret)
    "rt-secret-kubernetes-volume": prep_cred(mk_kube_volume)("kube-sk", [OK1], 0),
    # with $CREDENTIALS_DIRECTORY set, references are plain names inside it
    "rt-secret-dotdot": secret_case("../creds/ack-sk", [
        SECRET_AT + "credential file \"../creds/ack-sk\": with $CREDENTIALS_DIRECTORY set, a "
        "file reference is a plain name inside it (no \"/\", no \"..\"); hand the file to the "
        "service under that name (LoadCredential=NAME:PATH)", INVALID]),
    "rt-secret-absolute": secret_case("/etc/passwd", [
        SECRET_AT + "credential file \"/etc/passwd\": with $CREDENTIALS_DIRECTORY set, a file "
        "reference is a plain name inside it (no \"/\", no \"..\"); hand the file to the "
        "service under that name (LoadCredential=NAME:PATH)", INVALID]),
    "rt-secret-empty": prep_cred(lambda c: cred(c, "e", ""))("e", [
        SECRET_AT + "credential file CREDS/e is empty; write the credential into it", INVALID]),
    "rt-secret-only-newlines": prep_cred(lambda c: cred(c, "nl", "\n\n\n"))("nl", [
        SECRET_AT + "credential file CREDS/nl is empty; write the credential into it", INVALID]),
    "rt-secret-over-64k": prep_cred(lambda c: cred(c, "big", "CANARY-" + "x" * (64 * 1024)))("big", [
        SECRET_AT + "credential file CREDS/big is larger than 64 KiB; is it the right file?",
        INVALID]),
    "rt-secret-missing": secret_case("absent", [
        SECRET_AT + "credential file CREDS/absent ($CREDENTIALS_DIRECTORY) does not exist; create "
        "it (mode 0600) or pass it with systemd LoadCredential=absent:PATH", INVALID]),
}
# Global options before `check`: (configuration, arguments, exit status, output).
EXFILTRATION = ACK_WITH_SECRET.replace("access_key_id: {{ file: ack-ak }}",
                                       "access_key_id: {{ file: ack-sk }}").replace(
    "clusters: []", "    endpoint: https://catcher.example.net:8443\nclusters: []").format(
    secret="ack-sk")
WITH_ARGS = {
    # issue 23: the host of an endpoint override outside the cloud's domains must be named
    # on the command line; the file alone cannot send credentials there
    "rt-endpoint-allowed-by-flag": (EXFILTRATION, ["--allow-endpoint", "catcher.example.net"], 0,
                                    [OK1]),
    "rt-endpoint-flag-names-another-host": (
        EXFILTRATION, ["--allow-endpoint", "other.example.net"], 2, [
            "FILE:8:5: providers.ack.endpoint: host \"catcher.example.net\" is neither loopback "
            "nor in aliyun-ack's own domains (*.aliyuncs.com): the credentials would go to it; if "
            "that host is meant to receive them (a proxy, a private endpoint), start nodeherd "
            "with --allow-endpoint catcher.example.net", INVALID]),
    "rt-endpoint-flag-not-a-host": (EXFILTRATION, ["--allow-endpoint", "https://x.example"], 2, [
        "nodeherd: --allow-endpoint: expected a host name or address (at most 16 of them), got "
        "\"https://x.example\""]),
}

if os.geteuid() == 0:
    def _chown_nobody(c):
        cred(c, "pw", "CANARY-pw\n", 0o600)
        os.chown(os.path.join(c, "pw"), 65534, 65534)
    RUNTIME["rt-secret-owned-by-another-user"] = prep_cred(_chown_nobody)("pw", [
        SECRET_AT + "credential file CREDS/pw is owned by user 65534, neither this user (0) nor "
        "root; chown it to one of them", INVALID])

# Unreadable files: as root everything is readable, so these run as nobody
# (setpriv) when the test runs as root, and with chmod 000 otherwise.
UNREADABLE = {
    "rt-secret-unreadable": [
        "FILE:6:24: providers.ack.credentials.access_key_id: credential file CREDS/ack-ak "
        "($CREDENTIALS_DIRECTORY) is not readable by this user; chown it to the nodeherd user or "
        "use LoadCredential=",
        "FILE:7:28: providers.ack.credentials.access_key_secret: credential file CREDS/ack-sk "
        "($CREDENTIALS_DIRECTORY) is not readable by this user; chown it to the nodeherd user or "
        "use LoadCredential=", "FILE: configuration invalid (2 errors)"],
    "rt-config-unreadable": [
        "re:FILE: cannot open the configuration file: Permission denied.*", INVALID],
}


def match(expect, got, file, creds):
    exp = [l.replace("FILE", file).replace("CREDS", creds) for l in expect]
    if len(exp) != len(got):
        return False
    for e, g in zip(exp, got):
        if e.startswith("re:"):
            if not re.fullmatch(e[3:], g):
                return False
        elif e != g:
            return False
    return True


class Runner:
    def __init__(self, verbose=False):
        self.bin = binary()
        self.verbose = verbose
        self.failures = []
        self.n = 0

    def run(self, name, cwd, target, creds, code, expect, env=None, argv_prefix=(), args=()):
        e = dict(os.environ, CREDENTIALS_DIRECTORY=creds)
        e.pop("NH_REL_UNSET_VARIABLE", None)
        e.pop("NODEHERD_CONFIG", None)
        e.update(env or {})
        try:
            p = subprocess.run(list(argv_prefix) + [self.bin] + list(args) + ["check", target],
                               cwd=cwd, env=e,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                               errors="replace", timeout=20)
        except subprocess.TimeoutExpired:
            self.failures.append("%s: `nodeherd check` hung (> 20 s)" % name)
            return None
        out = p.stdout
        got = out.splitlines()
        self.n += 1
        problems = []
        if p.returncode != code:
            problems.append("exit %d, expected %d" % (p.returncode, code))
        if not match(expect, got, target, creds):
            problems.append("output differs")
        if CANARY in out:
            problems.append("a credential value appears in the output")
        if "AddressSanitizer" in out or "runtime error:" in out:
            problems.append("sanitizer report")
        if problems:
            self.failures.append("%s: %s\n  expected:\n    %s\n  got:\n    %s" % (
                name, "; ".join(problems),
                "\n    ".join(l.replace("FILE", target).replace("CREDS", creds) for l in expect),
                "\n    ".join(got)))
        elif self.verbose:
            print("ok   %s" % name)
        return p


def make_creds(root, mode=0o700):
    creds = os.path.join(root, "creds")
    os.mkdir(creds)
    os.chmod(creds, mode)
    for n in CRED_NAMES:
        write(os.path.join(creds, n), "%s%s-7f3a9c\n" % (CANARY, n), 0o600)
    return creds


def read_expect(path):
    code, lines = 2, []
    with open(path) as f:
        for l in f.read().splitlines():
            if l.startswith("exit "):
                code = int(l.split()[1])
            elif l.startswith("#"):
                continue
            else:
                lines.append(l)
    return code, lines


def main():
    args = [a for a in sys.argv[1:] if not a.startswith("-")]
    verbose = "-v" in sys.argv
    update = "--update" in sys.argv
    r = Runner(verbose)
    tmp = tempfile.mkdtemp(prefix="nh-badcfg-")
    try:
        creds = make_creds(tmp)
        names = sorted(f[:-5] for f in os.listdir(CORPUS) if f.endswith(".yaml"))
        for n in names:
            if args and n not in args:
                continue
            exp_path = os.path.join(CORPUS, n + ".expect")
            if update:
                p = subprocess.run([r.bin, "check", n + ".yaml"], cwd=CORPUS, stdout=subprocess.PIPE,
                                   stderr=subprocess.STDOUT, text=True, errors="replace",
                                   env=dict(os.environ, CREDENTIALS_DIRECTORY=creds))
                with open(exp_path, "w") as f:
                    f.write("exit %d\n" % p.returncode)
                    for l in p.stdout.splitlines():
                        f.write(l.replace(n + ".yaml", "FILE").replace(creds, "CREDS") + "\n")
                continue
            if not os.path.exists(exp_path):
                r.failures.append("%s: no %s.expect next to it" % (n, n))
                continue
            code, lines = read_expect(exp_path)
            r.run(n, CORPUS, n + ".yaml", creds, code, lines)
        for n, (prep, code, lines) in sorted(RUNTIME.items()):
            if args and n not in args:
                continue
            d = tempfile.mkdtemp(dir=tmp)
            c = make_creds(d)
            target = prep(d, c)
            r.run(n, d, target, c, code, lines)
        for n, (text, gargs, code, lines) in sorted(WITH_ARGS.items()):
            if args and n not in args:
                continue
            d = tempfile.mkdtemp(dir=tmp)
            c = make_creds(d)
            write(os.path.join(d, "cfg.yaml"), text)
            r.run(n, d, "cfg.yaml", c, code, lines, args=gargs)
        for n, lines in sorted(UNREADABLE.items()):
            if args and n not in args:
                continue
            d = tempfile.mkdtemp(dir=tmp)
            os.chmod(tmp, 0o755)
            os.chmod(d, 0o755)
            c = make_creds(d, 0o755)
            cfg = "cfg.yaml"
            write(os.path.join(d, cfg), ACK_WITH_SECRET.format(secret="ack-sk"),
                  0o600 if n == "rt-config-unreadable" else 0o644)
            if os.geteuid() == 0:
                if shutil.which("setpriv") is None:
                    print("skip %s: root without setpriv" % n)
                    continue
                # the binary must be reachable by nobody (build trees usually are)
                prefix = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]
            else:
                prefix = []
                for n2 in ("ack-ak", "ack-sk"):
                    os.chmod(os.path.join(c, n2), 0o000)
            r.run(n, d, cfg, c, 2, lines, argv_prefix=prefix)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    if update:
        print("updated the .expect files; review `git diff tests/reliability/configs`")
        return 0
    for f in r.failures:
        print("FAIL " + f)
    print("%d cases, %d failed" % (r.n, len(r.failures)))
    if r.n < 60 and not args:
        print("FAIL: the corpus must hold at least 60 cases")
        return 1
    return 1 if r.failures else 0


if __name__ == "__main__":
    sys.exit(main())
