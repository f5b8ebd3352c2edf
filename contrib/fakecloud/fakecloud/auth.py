"""Authentication as the clouds check it: signature, clock skew, nonce replay, Huawei AK lockout.

Not thread-safe: callers hold State.lock. Answers are (status, code, message)
tuples; the HTTP layer renders them in each cloud's error shape.
"""

import calendar
import hashlib
import time
from email.utils import parsedate_tz, mktime_tz

from . import sign


class AuthResult:
    __slots__ = ("ok", "ak", "error", "method")

    def __init__(self, ok, ak=None, error=None, method=""):
        self.ok = ok
        self.ak = ak            # access key id, or "token:<sha256 prefix>" -- never the secret
        self.error = error      # (status, code, message)
        self.method = method    # acs3 | roa | sdk-hmac-sha256 | token


def _parse_acs_date(s):
    try:
        return calendar.timegm(time.strptime(s.strip(), "%Y-%m-%dT%H:%M:%SZ"))
    except ValueError:
        return None


def _parse_http_date(s):
    t = parsedate_tz(s.strip())
    return None if t is None else mktime_tz(t)


def _parse_sdk_date(s):
    try:
        return calendar.timegm(time.strptime(s.strip(), "%Y%m%dT%H%M%SZ"))
    except ValueError:
        return None


def token_label(token):
    return "token:" + hashlib.sha256(token.encode("utf-8")).hexdigest()[:12]


class Authenticator:
    def __init__(self, state):
        self.state = state
        self.nonces = {}        # (ak, nonce) -> time seen
        self.failures = {}      # huawei ak -> consecutive failures
        self.locked = {}        # huawei ak -> locked until

    def reset(self):
        self.nonces.clear()
        self.failures.clear()
        self.locked.clear()

    def _secret(self, ak):
        return self.state.credentials.get(ak)

    # ------------------------------------------------------------------ Alibaba

    def check_ack(self, method, path, pairs, headers, body, now):
        auth = (headers.get("authorization") or [""])[0]
        skew = float(self.state.auth["ack_skew_seconds"])
        if not auth:
            return AuthResult(False, error=(400, "MissingAuthorization",
                                            "The request has no Authorization header."))
        if auth.startswith(sign.ACS3 + " "):
            kind = "acs3"
            ds = (headers.get("x-acs-date") or [None])[0]
            t = _parse_acs_date(ds) if ds else None
            if ds is None or t is None:
                return AuthResult(False, error=(400, "InvalidTimeStamp.Format",
                                                "x-acs-date must be UTC YYYY-MM-DDTHH:MM:SSZ."))
            v = sign.verify_acs3(method, path, pairs, headers, body, self._secret)
        elif auth.startswith("acs "):
            kind = "roa"
            ds = (headers.get("date") or [None])[0]
            t = _parse_http_date(ds) if ds else None
            if ds is None or t is None:
                return AuthResult(False, error=(400, "InvalidTimeStamp.Format",
                                                "Date must be an RFC 1123 GMT date."))
            sm = (headers.get("x-acs-signature-method") or ["HMAC-SHA1"])[0]
            if sm.strip() != "HMAC-SHA1":
                return AuthResult(False, error=(400, "InvalidSignatureMethod",
                                                "x-acs-signature-method must be HMAC-SHA1 for acs signatures."))
            v = sign.verify_roa(method, path, pairs, headers, body, self._secret)
        else:
            return AuthResult(False, error=(400, "IncompleteSignature",
                                            "Authorization must be 'ACS3-HMAC-SHA256 ...' or 'acs AK:signature'."))
        if abs(now - t) > skew:
            return AuthResult(False, v.ak, (400, "InvalidTimeStamp.Expired",
                                            "Specified time stamp or date value is expired (more than %d s from "
                                            "server time)." % skew), kind)
        if not v.ok:
            if v.reason == "unknown_ak":
                return AuthResult(False, v.ak, (404, "InvalidAccessKeyId.NotFound",
                                                "Specified access key is not found."), kind)
            if v.reason == "mismatch":
                return AuthResult(False, v.ak, (403, "SignatureDoesNotMatch",
                                                "The request signature does not conform to Aliyun standards: "
                                                + v.detail), kind)
            return AuthResult(False, v.ak, (400, "IncompleteSignature", "The request signature is incomplete: "
                                            + v.detail), kind)
        nonce = (headers.get("x-acs-signature-nonce") or [None])[0]
        if nonce:
            self._expire_nonces(now, skew)
            if (v.ak, nonce) in self.nonces:
                return AuthResult(False, v.ak, (400, "SignatureNonceUsed",
                                                "Specified signature nonce was used already."), kind)
            self.nonces[(v.ak, nonce)] = now
        return AuthResult(True, v.ak, method=kind)

    def _expire_nonces(self, now, window):
        if len(self.nonces) > 4096:
            for k in [k for k, t in self.nonces.items() if now - t > window]:
                del self.nonces[k]

    # ------------------------------------------------------------------ Huawei

    def check_huawei(self, method, path, pairs, headers, body, now):
        prefix = "Incorrect IAM authentication information: "
        auth = (headers.get("authorization") or [""])[0]
        token = (headers.get("x-auth-token") or [""])[0]
        if not auth and token:
            if token in self.state.tokens:
                return AuthResult(True, token_label(token), method="token")
            return AuthResult(False, token_label(token), (401, "APIGW.0301", prefix + "decrypt token fail"), "token")
        if not auth:
            return AuthResult(False, error=(401, "APIGW.0301", prefix + "x-auth-token not found"))
        parsed = sign.parse_hw_authorization(auth)
        ak = parsed[0] if parsed else None
        if ak is not None and self.locked.get(ak, 0) > now:
            return AuthResult(False, ak, (401, "APIGW.0301", prefix + "AK access failed to reach the limit,forbidden."),
                              "sdk-hmac-sha256")
        required = ["x-sdk-date"] + (["host"] if self.state.auth.get("huawei_require_host", True) else [])
        v = sign.verify_hw(method, path, pairs, headers, body, self._secret, required=required)
        err = None
        if not v.ok:
            if v.reason == "unknown_ak":
                err = (401, "APIGW.0301", prefix + "Get secretKey failed,ak:%s,err:ak not exist" % v.ak)
            elif v.reason == "missing":
                err = (401, "APIGW.0301", prefix + "x-auth-token not found")
            else:
                err = (401, "APIGW.0301", prefix + "verify aksk signature fail, " + v.detail)
        else:
            t = _parse_sdk_date((headers.get("x-sdk-date") or [""])[0])
            skew = float(self.state.auth["huawei_skew_seconds"])
            if t is None:
                err = (401, "APIGW.0301", prefix + "verify aksk signature fail, invalid x-sdk-date format")
            elif abs(now - t) > skew:
                err = (401, "APIGW.0301", prefix + "verify aksk signature fail, x-sdk-date expired "
                       "(more than %d s from server time)" % skew)
        if err is None:
            self.failures.pop(v.ak, None)
            return AuthResult(True, v.ak, method="sdk-hmac-sha256")
        if ak is not None and v.reason != "unknown_ak":
            n = self.failures.get(ak, 0) + 1
            self.failures[ak] = n
            if n >= int(self.state.auth["lockout_failures"]):
                self.locked[ak] = now + float(self.state.auth["lockout_seconds"])
                self.failures[ak] = 0
        return AuthResult(False, ak, err, "sdk-hmac-sha256")

    def to_json(self, now):
        return {"huawei_failures": dict(self.failures),
                "huawei_locked": {k: round(v - now, 3) for k, v in self.locked.items() if v > now}}
