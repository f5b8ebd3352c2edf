#!/usr/bin/env python3
"""fakecloud exactly as shipped, except that its sockets send without Nagle.

fakecloud's handler (http.server) writes an answer's headers and its body in
two send() calls. With Nagle on, the body waits for the client's ACK of the
headers, and a Linux client delays that ACK by up to 40 ms on a keep-alive
connection: every answer then costs up to 40 ms that no real cloud front end
adds. The benchmark measures nodeherd, not that stall, so by default
contrib/bench/run starts the emulator through this wrapper, which only sets
the standard library's StreamRequestHandler.disable_nagle_algorithm (TCP_NODELAY).
`contrib/bench/run --emulator-as-is` runs the unmodified emulator instead.
Same command line as contrib/fakecloud/fakecloud.py.
"""
import importlib.util
import os
import sys

FC_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
                      "contrib", "fakecloud")
sys.path.insert(0, FC_DIR)
from fakecloud import server  # noqa: E402

server.Handler.disable_nagle_algorithm = True
spec = importlib.util.spec_from_file_location("fakecloud_cli", os.path.join(FC_DIR, "fakecloud.py"))
cli = importlib.util.module_from_spec(spec)
spec.loader.exec_module(cli)
sys.exit(cli.main())
