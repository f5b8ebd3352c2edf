#!/usr/bin/env python3
"""fakecloud: local emulator of the Alibaba ACK, Huawei CCE and ModelArts operations nodeherd uses.

    python3 contrib/fakecloud/fakecloud.py --listen 127.0.0.1:PORT [--seed FILE]
            [--credential AK:SK]... [--log FILE] [--k8s-listen HOST:PORT|off]

Serves all three clouds on one loopback port, and the Kubernetes API of every
ACK/CCE cluster over HTTPS on a second one (GET /_fake/k8s says where), prints
one line "fakecloud listening on HOST:PORT" when ready, exits 0 on
SIGTERM/SIGINT. See README.md next to this file.
"""

import argparse
import json
import os
import signal
import sys
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from fakecloud.server import FakeCloud, make_k8s_server, make_server, serve_in_thread  # noqa: E402
from fakecloud.state import SeedError  # noqa: E402
from fakecloud.faults import FaultError  # noqa: E402
from fakecloud import tls  # noqa: E402


def parse_args(argv):
    ap = argparse.ArgumentParser(prog="fakecloud", description=__doc__.splitlines()[0])
    ap.add_argument("--listen", default="127.0.0.1:0", help="loopback HOST:PORT (port 0 picks a free one)")
    ap.add_argument("--seed", help="seed file (JSON): fleet, credentials, timing, faults")
    ap.add_argument("--credential", action="append", default=[], metavar="AK:SK",
                    help="accept this access key (repeatable; valid for all three clouds)")
    ap.add_argument("--log", help="append every cloud request as one JSON line to this file")
    ap.add_argument("--k8s-listen", default=None, metavar="HOST:PORT",
                    help="loopback HOST:PORT of the emulated Kubernetes API (HTTPS; default: the --listen host, a "
                         "free port), or 'off'")
    return ap.parse_args(argv)


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    creds = {}
    for c in args.credential:
        ak, sep, sk = c.partition(":")
        if not sep or not ak or not sk:
            print("fakecloud: --credential must be AK:SK, got %r" % c.split(":")[0], file=sys.stderr)
            return 2
        creds[ak] = sk
    seed = {}
    if args.seed:
        try:
            with open(args.seed, encoding="utf-8") as f:
                seed = json.load(f)
        except (OSError, ValueError) as e:
            print("fakecloud: cannot load seed %s: %s (the seed must be JSON; see README.md)" % (args.seed, e),
                  file=sys.stderr)
            return 2
    try:
        fake = FakeCloud(seed, creds, args.log)
        srv = make_server(args.listen, fake)
    except (SeedError, FaultError, ValueError, OSError) as e:
        print("fakecloud: %s" % e, file=sys.stderr)
        return 2
    host, port = srv.server_address[:2]
    ksrv = None
    k8s_on = args.k8s_listen != "off" and (seed.get("kubernetes") or {}).get("enabled", True) is not False
    if k8s_on:
        listen = args.k8s_listen or "%s:0" % (("[%s]" % host) if ":" in host else host)
        try:
            authority = tls.Authority()
        except tls.TlsError as e:
            print("fakecloud: the emulated Kubernetes API is off: %s" % e, file=sys.stderr)
        else:
            try:
                ksrv = make_k8s_server(listen, fake, authority)
            except (ValueError, OSError) as e:
                authority.close()
                srv.server_close()
                fake.close()
                print("fakecloud: --k8s-listen %s: %s" % (listen, e), file=sys.stderr)
                return 2
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    serve_in_thread(srv)
    if ksrv is not None:
        serve_in_thread(ksrv)
    print("fakecloud listening on %s:%d" % (("[%s]" % host) if ":" in host else host, port), flush=True)
    while not stop.wait(0.5):
        pass
    for s in (srv, ksrv):
        if s is not None:
            s.shutdown()
            s.server_close()
    fake.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
