"""Admin API, rate limiting, request log, CLI behaviour (listening line, loopback only, SIGTERM, --log)."""

import json
import os
import signal
import subprocess
import sys
import tempfile
import unittest

from fc_support import ACK1, ACK2, CCE_P, FC_DIR, MA_P, NP_WEB, FakeCloudCase, FakeCloudProcess, CloudClient, demo_seed

NODES = "/clusters/%s/nodes" % ACK1
ENTRY = os.path.join(FC_DIR, "fakecloud.py")


class Admin(FakeCloudCase):
    def test_state_shape_and_no_secrets(self):
        st = self.fc.state()
        self.assertEqual(len([c for c in st["clusters"] if c["cloud"] == "ack"]), 2)
        self.assertEqual(len([n for n in st["nodes"] if n["cluster"] == ACK1]), 5)
        self.assertEqual(sorted(p["name"] for p in st["pools"]), ["gpu-a", "nodepool-1", "nodepool-old",
                                                                  "np-batch", "np-web"])
        self.assertIn("demo-ak", st["credentials"])
        self.assertNotIn("demo-sk", json.dumps(st))
        protected = [n for n in st["nodes"] if n["labels"].get("nodeherd.io/protect") == "true"]
        self.assertEqual([n["id"] for n in protected], ["i-bp1keep0001"])

    def test_requests_since(self):
        self.ack("GET", NODES)
        self.hw("GET", MA_P)
        log = self.fc.requests()
        first = log[0]["seq"]                      # sequence numbers keep growing across resets
        self.assertEqual([e["seq"] for e in log], [first, first + 1])
        e = log[1]
        self.assertEqual((e["cloud"], e["op"], e["mutating"], e["status"], e["ak"]),
                         ("modelarts", "ListNodePools", False, 200, "demo-hw-ak"))
        for k in ("time", "method", "path", "query", "body_sha256", "fault"):
            self.assertIn(k, e)
        self.assertEqual(log[0]["action"], "Op")              # the client helper's x-acs-action
        self.assertIsNone(e["action"])
        self.assertEqual([x["seq"] for x in self.fc.requests(since=first)], [first + 1])
        self.ack("PUT", "/clusters/%s/nodepools/%s" % (ACK2, NP_WEB), body={"scaling_group": {"desired_size": 4}})
        m = self.fc.requests(since=first + 1)[0]
        self.assertTrue(m["mutating"])
        self.assertTrue(m["task"].startswith("T-"))

    def test_rate_limit_per_credential(self):
        self.fc.set_ratelimit(qps=0.5, burst=2, retry_after=2)
        codes = [self.ack("GET", NODES)[0] for _ in range(3)]
        self.assertEqual(codes, [200, 200, 400])
        s, h, b = self.ack("GET", NODES)
        self.assertEqual(b["code"], "Throttling.User")
        self.assertEqual(h["x-acs-retry-after"], "2000")
        # a separate credential has its own bucket
        codes = [self.hw("GET", MA_P)[0] for _ in range(3)]
        self.assertEqual(codes, [200, 200, 429])
        s, h, b = self.hw("GET", MA_P)
        self.assertEqual((b["error_code"], h["retry-after"]), ("APIGW.0308", "2"))
        inv = self.invariants()
        self.assertEqual(inv["over_rate_limit"], 4)
        self.assertEqual({d["ak"] for d in inv["details"]}, {"demo-ak", "demo-hw-ak"})
        self.fc.set_ratelimit(qps=0, burst=0)
        self.assertEqual(self.ack("GET", NODES)[0], 200)

    def test_rate_limit_counts_calls_per_window_not_their_spacing(self):
        # The clouds publish "N calls per W seconds" (Alibaba "Request Rate:
        # 5/1 s", Huawei APIG "limit:XX,time:1 second"): calls back to back
        # are fine as long as the window's count holds. A token bucket of
        # qps 3 would have refused the second of these.
        rl = self.fc.set_ratelimit(limit=3, window=0.5)
        self.assertEqual((rl["limit"], rl["window"]), (3, 0.5))
        self.assertEqual([self.ack("GET", NODES)[0] for _ in range(4)], [200, 200, 200, 400])
        import time
        time.sleep(0.6)  # the window slid past all three
        self.assertEqual([self.ack("GET", NODES)[0] for _ in range(4)], [200, 200, 200, 400])

    def test_rate_limit_counts_arrivals_not_when_the_emulator_got_to_them(self):
        # Three calls, then three more 1.3 s later: within a limit of 3 per
        # second as they arrive. The emulator is stopped meanwhile (as a
        # busy machine stalls it), so it handles all six at once; counting at
        # handler time made them one burst (3 over the limit).
        import threading
        import time
        clients = [CloudClient(self.fc.port) for _ in range(6)]
        try:
            for cl in clients:  # connections open before the stall
                self.assertEqual(cl.ack("GET", NODES)[0], 200)
            self.fc.set_ratelimit(limit=3, window=1.0)
            codes = [None] * 6

            def call(i):
                codes[i] = clients[i].ack("GET", NODES)[0]

            threads = [threading.Thread(target=call, args=(i,)) for i in range(6)]
            os.kill(self.fc.proc.pid, signal.SIGSTOP)
            try:
                for t in threads[:3]:
                    t.start()
                time.sleep(1.3)
                for t in threads[3:]:
                    t.start()
                time.sleep(0.3)  # all six sent: they wait in the kernel
            finally:
                os.kill(self.fc.proc.pid, signal.SIGCONT)
            for t in threads:
                t.join(30)
            self.assertEqual(codes, [200] * 6)
            self.assertEqual(self.invariants()["over_rate_limit"], 0)
            log = [e for e in self.fc.requests() if e["op"] == "DescribeClusterNodes"][-6:]
            arrivals = sorted(e["arrival"] for e in log)
            self.assertGreater(arrivals[3] - arrivals[2], 1.0)       # stamped when they came
            self.assertLess(max(e["epoch"] for e in log) - min(e["epoch"] for e in log), 1.0)  # handled together
        finally:
            for cl in clients:
                cl.close()

    def test_many_connections_at_once_wait_in_the_backlog(self):
        # A client opening hundreds of connections at once (nodeherd's first
        # poll) is not left to TCP's retries (1, 3, 7, 15 ... s). With
        # socketserver's listen backlog of 5, the server dropped the
        # handshakes that did not fit and these answers took 15 s and more.
        import socket
        import time
        socks = []
        os.kill(self.fc.proc.pid, signal.SIGSTOP)
        try:
            for _ in range(200):
                s = socket.create_connection(("127.0.0.1", self.fc.port), timeout=30)
                s.sendall(b"GET /_fake/invariants HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                socks.append(s)
            time.sleep(0.2)
        finally:
            os.kill(self.fc.proc.pid, signal.SIGCONT)
        t0 = time.monotonic()
        try:
            for s in socks:
                self.assertTrue(s.recv(64).startswith(b"HTTP/1.1 200"))
            self.assertLess(time.monotonic() - t0, 5.0)
        finally:
            for s in socks:
                s.close()

    def test_rate_limit_out_of_order_arrivals(self):
        from fakecloud.ratelimit import RateLimiter
        r = RateLimiter(limit=3, window=1.0)
        self.assertEqual([r.take("k", t) for t in (0.5, 0.9, 1.2)], [True] * 3)
        self.assertTrue(r.take("k", 0.1))    # handled late: (0.1 .. 1.1) holds 0.1, 0.5, 0.9
        self.assertFalse(r.take("k", 0.95))  # (0.2 .. 1.2] already holds 0.5, 0.9, 1.2
        self.assertTrue(r.take("k", 1.51))
        self.assertTrue(r.take("other", 0.95))

    def test_rate_limit_qps_burst_is_what_a_bucket_sends_in_one_window(self):
        rl = self.fc.set_ratelimit(qps=10, burst=2)
        self.assertEqual((rl["limit"], rl["window"]), (12, 1.0))
        self.assertEqual(self.fc.set_ratelimit(qps=40, burst=10, window=60)["limit"], 2410)
        self.assertEqual(self.fc.set_ratelimit(qps=0, burst=0)["limit"], 0)  # off

    def test_rate_limit_per_minute_names_its_period(self):
        self.fc.set_ratelimit(limit=2, window=60)
        self.assertEqual([self.hw("GET", MA_P)[0] for _ in range(3)], [200, 200, 429])
        s, h, b = self.hw("GET", MA_P)
        self.assertIn("limit:2,time:1 minute", b["error_msg"])
        self.assertEqual(self.invariants()["over_rate_limit"], 2)

    def test_rate_limit_refuses_bad_settings(self):
        for body in ({"window": 0, "qps": 1}, {"limit": -1}, {"limit": 1.5}, {"qps": "fast"},
                     {"qps": 1, "windw": 2}):
            with self.assertRaises(RuntimeError, msg=body):
                self.fc.admin("POST", "/_fake/ratelimit", body)

    def test_timing(self):
        t = self.fc.set_timing(job_seconds=0.1)
        self.assertEqual(t["job_seconds"], 0.1)
        with self.assertRaises(RuntimeError):
            self.fc.set_timing(bogus=1)
        with self.assertRaises(RuntimeError):
            self.fc.set_timing(job_seconds=-1)

    def test_mutate_and_reset(self):
        self.fc.mutate(action="unhealthy", node="i-bp1aaaaaaaaaaaaaaaaa")
        _, _, b = self.ack("GET", NODES, [("instanceIds", "i-bp1aaaaaaaaaaaaaaaaa")])
        self.assertEqual(b["nodes"][0]["node_status"], "NotReady")
        self.fc.mutate(action="remove_node", node="cn-hangzhou.192.168.0.14")
        r = self.fc.mutate(action="add_node", cluster=ACK1, node={"labels": {"x": "y"}})
        new = r["results"][0]["node"]
        self.assertTrue(new["id"].startswith("i-bp1"))
        _, _, b = self.ack("GET", NODES, [("pageSize", "100")])
        ids = [n["instance_id"] for n in b["nodes"]]
        self.assertEqual(len(ids), 5)
        self.assertIn(new["id"], ids)
        self.assertNotIn("i-bp1ddddddddddddddddd", ids)
        self.assertEqual(self.invariants()["unrequested_removals"], 0)   # behind the client's back is not counted
        for bad in ({"action": "explode"}, {"action": "unhealthy", "node": "nope"}, {"action": "add_node"}):
            with self.assertRaises(RuntimeError):
                self.fc.mutate(**bad)
        self.fc.reset()
        _, _, b = self.ack("GET", NODES, [("pageSize", "100")])
        self.assertIn("i-bp1ddddddddddddddddd", [n["instance_id"] for n in b["nodes"]])
        self.assertEqual(b["nodes"][1]["node_status"], "Ready")

    def test_expect_set_and_clear(self):
        self.assertEqual(self.fc.expect(["a", "b"])["removals"], ["a", "b"])
        self.assertIsNone(self.fc.admin("DELETE", "/_fake/expect")["removals"])
        with self.assertRaises(RuntimeError):
            self.fc.admin("POST", "/_fake/expect", {"removals": "a"})

    def test_chunked_request_body(self):
        import http.client
        conn = http.client.HTTPConnection("127.0.0.1", self.fc.port, timeout=5)
        try:
            conn.request("POST", "/_fake/expect", body=iter([b'{"removals": ', b'["n-1"]}']),
                         headers={"Transfer-Encoding": "chunked"}, encode_chunked=True)
            r = conn.getresponse()
            self.assertEqual((r.status, json.loads(r.read())), (200, {"removals": ["n-1"]}))
        finally:
            conn.close()

    def test_mutate_duplicate_id_is_refused(self):
        with self.assertRaises(RuntimeError) as cm:
            self.fc.mutate(action="add_node", cluster=ACK1, node={"instance_id": "i-bp1keep0001"})
        self.assertIn("appears twice", str(cm.exception))

    def test_unknown_admin_route(self):
        with self.assertRaises(RuntimeError):
            self.fc.admin("GET", "/_fake/nothing")

    def test_keep_alive_and_content_length(self):
        for _ in range(3):
            s, h, _ = self.c.ack("GET", NODES)
            self.assertEqual(s, 200)
            self.assertIn("content-length", h)
        self.assertIsNotNone(self.c.conn)          # same connection reused
        s, h, b = self.c.raw("GET", "/nowhere")
        self.assertEqual((s, int(h["content-length"])), (404, len(b)))
        s, h, b = self.c.raw("GET", "/_fake/invariants")
        self.assertEqual(int(h["content-length"]), len(b))
        self.assertEqual(set(json.loads(b)), {"duplicate_mutations", "unrequested_removals", "over_rate_limit",
                                              "servers_kept_running", "nodes_removed_with_evictable_pods",
                                              "protected_nodes_removed", "pods_deleted_bypassing_eviction",
                                              "nodes_left_cordoned", "details"})


class Cli(unittest.TestCase):
    def test_listening_line_sigterm_and_log_file(self):
        with tempfile.TemporaryDirectory() as d:
            log = os.path.join(d, "req.jsonl")
            fc = FakeCloudProcess(seed=demo_seed(credentials=[]), credentials=["cli-ak:cli-sk"], log=log).start()
            try:
                c = CloudClient(fc.port)
                self.assertEqual(c.huawei("GET", CCE_P + "/nodes", ak="cli-ak", sk="cli-sk")[0], 200)
                self.assertEqual(c.ack("GET", NODES, ak="cli-ak", sk="cli-sk")[0], 200)
                self.assertEqual(c.ack("GET", NODES, ak="demo-ak", sk="demo-sk")[0], 404)   # not declared
                c.close()
                proc = fc.proc
                proc.send_signal(signal.SIGTERM)
                self.assertEqual(proc.wait(5), 0)
            finally:
                fc.stop()
            with open(log) as f:
                text = f.read()
            lines = [json.loads(x) for x in text.splitlines()]
            self.assertEqual([e["seq"] for e in lines], [1, 2, 3])
            self.assertEqual(lines[0]["op"], "ListNodes")
            self.assertNotIn("cli-sk", text)

    def run_cli(self, *args):
        return subprocess.run([sys.executable, ENTRY] + list(args), capture_output=True, text=True, timeout=10)

    def test_refuses_non_loopback(self):
        r = self.run_cli("--listen", "0.0.0.0:0")
        self.assertEqual(r.returncode, 2)
        self.assertIn("not a loopback address", r.stderr)
        self.assertEqual(r.stdout, "")
        r = self.run_cli("--listen", "example.com:80")
        self.assertEqual(r.returncode, 2)

    def test_bad_seed_and_credential(self):
        with tempfile.NamedTemporaryFile("w", suffix=".json") as f:
            f.write("{not json")
            f.flush()
            r = self.run_cli("--listen", "127.0.0.1:0", "--seed", f.name)
            self.assertEqual(r.returncode, 2)
            self.assertIn("cannot load seed", r.stderr)
        r = self.run_cli("--listen", "127.0.0.1:0", "--credential", "nocolon")
        self.assertEqual(r.returncode, 2)
        with tempfile.NamedTemporaryFile("w", suffix=".json") as f:
            json.dump({"ack": {"clusters": [{"name": "no-id"}]}}, f)
            f.flush()
            r = self.run_cli("--listen", "127.0.0.1:0", "--seed", f.name)
            self.assertEqual(r.returncode, 2)
            self.assertIn("needs key 'id'", r.stderr)

    def test_listening_line_format(self):
        p = subprocess.Popen([sys.executable, ENTRY, "--listen", "127.0.0.1:0"], stdout=subprocess.PIPE, text=True)
        try:
            line = p.stdout.readline()
            self.assertRegex(line, r"^fakecloud listening on 127\.0\.0\.1:[1-9][0-9]*\n$")
        finally:
            p.send_signal(signal.SIGINT)
            self.assertEqual(p.wait(5), 0)
            p.stdout.close()


if __name__ == "__main__":
    unittest.main()
