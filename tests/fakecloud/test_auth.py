"""Authentication over HTTP: accepted signatures, each cloud's rejection bodies, skew, nonce, Huawei lockout."""

import json
import time
import unittest

from fc_support import ACK1, CCE_P, MA_P, FakeCloudCase

NODES = "/clusters/%s/nodes" % ACK1


class AckAuth(FakeCloudCase):
    def test_acs3_and_roa_accepted(self):
        for algo in ("acs3", "roa"):
            s, _, b = self.ack("GET", NODES, [("pageSize", "100")], algo=algo)
            self.assertEqual(s, 200, (algo, b))
            s, _, b = self.ack("PUT", "/clusters/%s/nodepools/np-none" % ACK1, body={"scaling_group": {}}, algo=algo)
            self.assertEqual(s, 404, algo)           # authenticated, then the pool is not found
        self.assertEqual({e["ak"] for e in self.fc.requests()}, {"demo-ak"})

    def test_wrong_secret_rejected(self):
        for algo in ("acs3", "roa"):
            s, _, b = self.ack("GET", NODES, sk="wrong", algo=algo)
            self.assertEqual((s, b["code"]), (403, "SignatureDoesNotMatch"), algo)
            self.assertIn("requestId", b)
        log = json.dumps(self.fc.requests())
        self.assertNotIn("demo-sk", log)
        self.assertNotIn("wrong", log)

    def test_unknown_key_missing_header_and_tampered_body(self):
        s, _, b = self.ack("GET", NODES, ak="nobody")
        self.assertEqual((s, b["code"]), (404, "InvalidAccessKeyId.NotFound"))
        s, _, b = self.c.raw("GET", NODES, "", {"host": self.c.hostport})
        self.assertEqual((s, json.loads(b)["code"]), (400, "MissingAuthorization"))
        # signed body differs from the body sent: hashed payload mismatch
        from fakecloud import sign
        h = {"host": self.c.hostport, "x-acs-action": "DeleteClusterNodes", "x-acs-version": "2015-12-15",
             "x-acs-date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "x-acs-signature-nonce": "n-1",
             "content-type": "application/json; charset=utf-8"}
        sign.acs3_sign("demo-ak", "demo-sk", "POST", NODES, [], h, b'{"nodes":["a"]}')
        s, _, b = self.c.raw("POST", NODES, "", h, b'{"nodes":["b"]}')
        self.assertEqual(s, 403)
        self.assertEqual(len(self.fc.state()["tasks"]), 0)

    def test_clock_skew(self):
        for algo in ("acs3", "roa"):
            s, _, b = self.ack("GET", NODES, algo=algo, date=time.time() - 16 * 60)
            self.assertEqual((s, b["code"]), (400, "InvalidTimeStamp.Expired"), algo)
            s, _, b = self.ack("GET", NODES, algo=algo, date=time.time() - 14 * 60)
            self.assertEqual(s, 200, algo)

    def test_nonce_replay(self):
        s, _, _ = self.ack("GET", NODES, nonce="fixed-nonce-1")
        self.assertEqual(s, 200)
        s, _, b = self.ack("GET", NODES, nonce="fixed-nonce-1")
        self.assertEqual((s, b["code"]), (400, "SignatureNonceUsed"))

    def test_unsigned_acs_header(self):
        from fakecloud import sign
        h = {"host": self.c.hostport, "x-acs-version": "2015-12-15",
             "x-acs-date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "x-acs-signature-nonce": "n-2"}
        sign.acs3_sign("demo-ak", "demo-sk", "GET", NODES, [], h, b"")
        h["x-acs-action"] = "DescribeClusterNodes"        # added after signing
        s, _, b = self.c.raw("GET", NODES, "", h)
        self.assertEqual((s, json.loads(b)["code"]), (400, "IncompleteSignature"))


class HuaweiAuth(FakeCloudCase):
    def test_accepted_for_cce_and_modelarts(self):
        self.assertEqual(self.hw("GET", CCE_P + "/nodes")[0], 200)
        self.assertEqual(self.hw("GET", MA_P)[0], 200)
        # Python/Node SDK style: every header signed, user-agent included
        s, _, _ = self.hw("GET", CCE_P + "/nodes", extra={"user-agent": "huaweicloud-usdk-python/3.0"},
                          signed=["content-type", "host", "user-agent", "x-project-id", "x-sdk-date"])
        self.assertEqual(s, 200)
        # query parameters are part of the signature
        self.assertEqual(self.hw("GET", CCE_P + "/nodepools", [("showDefaultNodePool", "true")])[0], 200)

    def test_wrong_secret_body(self):
        s, h, b = self.hw("GET", CCE_P + "/nodes", sk="wrong")
        self.assertEqual(s, 401)
        self.assertEqual(b["error_code"], "APIGW.0301")
        self.assertIn("verify aksk signature fail", b["error_msg"])
        self.assertIn("request_id", b)
        s, _, b = self.hw("GET", MA_P, ak="nobody")
        self.assertEqual(s, 401)
        self.assertIn("ak not exist", b["error_msg"])

    def test_host_must_be_signed_unless_configured(self):
        go_style = ["user-agent", "x-project-id", "x-sdk-date"]
        s, _, b = self.hw("GET", CCE_P + "/nodes", extra={"user-agent": "huaweicloud-usdk-go/3.0"}, signed=go_style)
        self.assertEqual(s, 401)
        self.assertIn("host must be signed", b["error_msg"])
        self.fc.set_auth(huawei_require_host=False)
        s, _, b = self.hw("GET", CCE_P + "/nodes", extra={"user-agent": "huaweicloud-usdk-go/3.0"}, signed=go_style)
        self.assertEqual(s, 200)
        s, _, b = self.hw("GET", CCE_P + "/nodes", signed=["host", "x-project-id"])
        self.assertEqual(s, 401)                                  # x-sdk-date is always required

    def test_clock_skew(self):
        s, _, b = self.hw("GET", CCE_P + "/nodes", date=time.time() - 20 * 60)
        self.assertEqual(s, 401)
        self.assertIn("expired", b["error_msg"])
        self.fc.set_auth(huawei_skew_seconds=1800)
        self.assertEqual(self.hw("GET", CCE_P + "/nodes", date=time.time() - 20 * 60)[0], 200)

    def test_lockout_after_five_failures(self):
        self.fc.set_auth(lockout_seconds=0.6)
        for _ in range(4):
            self.assertEqual(self.hw("GET", CCE_P + "/nodes", sk="wrong")[0], 401)
        self.assertEqual(self.hw("GET", CCE_P + "/nodes")[0], 200)      # a success resets the streak
        for _ in range(5):
            self.assertEqual(self.hw("GET", CCE_P + "/nodes", sk="wrong")[0], 401)
        s, _, b = self.hw("GET", CCE_P + "/nodes")                     # right secret, but locked
        self.assertEqual(s, 401)
        self.assertIn("reach the limit", b["error_msg"])
        self.assertIn("demo-hw-ak", self.fc.state()["auth"]["huawei_locked"])
        time.sleep(0.7)
        self.assertEqual(self.hw("GET", CCE_P + "/nodes")[0], 200)


if __name__ == "__main__":
    unittest.main()
