"""Independent request-signature verifiers (and signers) for the three clouds.

Written from ../../shared/api/signing.md, not from nodeherd's C signer, so the
emulator is a second implementation the daemon is checked against.

All functions here are pure: no clock, no global state. Time-skew, nonce
replay and lockout live in auth.py.
"""

import base64
import hashlib
import hmac
import urllib.parse

EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()


def pct(s):
    """RFC 3986 unreserved kept, every other UTF-8 byte as upper-case %XX."""
    if isinstance(s, bytes):
        return urllib.parse.quote(s, safe="-_.~")
    return urllib.parse.quote(s.encode("utf-8"), safe="-_.~")


def sha256_hex(data):
    return hashlib.sha256(data).hexdigest()


def split_query(raw_query):
    """Wire query string -> list of (key, value), percent-decoded (no '+' rule).

    A parameter without '=' is returned with value None so that signers that
    emit `key` and those that emit `key=` can both be reproduced.
    """
    pairs = []
    if not raw_query:
        return pairs
    for part in raw_query.split("&"):
        if part == "":
            continue
        if "=" in part:
            k, v = part.split("=", 1)
            pairs.append((urllib.parse.unquote(k), urllib.parse.unquote(v)))
        else:
            pairs.append((urllib.parse.unquote(part), None))
    return pairs


def _bytes_key(s):
    return s.encode("utf-8")


class Verdict:
    """Result of a verification: ok, the access key seen, and why not."""

    __slots__ = ("ok", "ak", "reason", "detail")

    def __init__(self, ok, ak=None, reason="", detail=""):
        self.ok = ok
        self.ak = ak
        self.reason = reason      # machine word: 'missing', 'malformed', 'unknown_ak', 'mismatch', 'unsigned'
        self.detail = detail      # human text, never contains secrets

    def __repr__(self):
        return "Verdict(ok=%r, ak=%r, reason=%r, detail=%r)" % (self.ok, self.ak, self.reason, self.detail)


def _canon_header_value(headers, name):
    vals = headers.get(name)
    if vals is None:
        return None
    if isinstance(vals, str):
        return vals.strip()
    vals = sorted(v.strip() for v in vals)
    return ",".join(vals)


def lower_headers(items):
    """[(name, value), ...] -> {lower name: [values]}"""
    out = {}
    for k, v in items:
        out.setdefault(k.lower(), []).append(v)
    return out


def _first(headers, name):
    v = headers.get(name)
    if v is None:
        return None
    if isinstance(v, str):
        return v
    return v[0]


# ---------------------------------------------------------------------------
# Alibaba ACS3-HMAC-SHA256 (V3)

ACS3 = "ACS3-HMAC-SHA256"


def acs3_canonical_query(pairs):
    items = sorted(pairs, key=lambda kv: (_bytes_key(kv[0]), _bytes_key(kv[1] or "")))
    return "&".join("%s=%s" % (k, pct(v or "")) for k, v in items)


def acs3_canonical_request(method, path, pairs, headers, signed_names, hashed_payload):
    canon_headers = ""
    for name in signed_names:
        val = _canon_header_value(headers, name)
        canon_headers += "%s:%s\n" % (name, "" if val is None else val)
    return "\n".join([method.upper(), path or "/", acs3_canonical_query(pairs),
                      canon_headers, ";".join(signed_names), hashed_payload])


def acs3_signature(secret, canonical_request):
    sts = ACS3 + "\n" + sha256_hex(canonical_request.encode("utf-8"))
    return hmac.new(secret.encode("utf-8"), sts.encode("utf-8"), hashlib.sha256).hexdigest()


def acs3_default_signed(headers):
    return sorted(n for n in headers if n in ("host", "content-type") or n.startswith("x-acs-"))


def acs3_sign(ak, secret, method, path, pairs, headers, body=b""):
    """Add x-acs-content-sha256 and Authorization to `headers` (lower-case dict of str)."""
    headers["x-acs-content-sha256"] = sha256_hex(body)
    signed = acs3_default_signed(headers)
    creq = acs3_canonical_request(method, path, pairs, headers, signed, headers["x-acs-content-sha256"])
    sig = acs3_signature(secret, creq)
    headers["authorization"] = "%s Credential=%s,SignedHeaders=%s,Signature=%s" % (ACS3, ak, ";".join(signed), sig)
    return headers


def parse_acs3_authorization(value):
    if not value.startswith(ACS3 + " "):
        return None
    fields = {}
    for part in value[len(ACS3) + 1:].split(","):
        if "=" not in part:
            return None
        k, v = part.strip().split("=", 1)
        fields[k] = v
    if not {"Credential", "SignedHeaders", "Signature"} <= set(fields):
        return None
    return fields["Credential"], [h for h in fields["SignedHeaders"].split(";") if h], fields["Signature"]


ACS3_REQUIRED_SIGNED = ("host", "x-acs-content-sha256", "x-acs-date", "x-acs-signature-nonce")


def verify_acs3(method, path, pairs, headers, body, secret_for, required=ACS3_REQUIRED_SIGNED):
    """headers: {lower name: [values]}; secret_for(ak) -> secret or None."""
    auth = _first(headers, "authorization")
    if not auth:
        return Verdict(False, reason="missing", detail="no Authorization header")
    parsed = parse_acs3_authorization(auth)
    if parsed is None:
        return Verdict(False, reason="malformed",
                       detail="Authorization is not 'ACS3-HMAC-SHA256 Credential=..,SignedHeaders=..,Signature=..'")
    ak, signed, sig = parsed
    if signed != sorted(signed):
        return Verdict(False, ak, "malformed", "SignedHeaders must be sorted")
    for need in required:
        if need not in signed:
            return Verdict(False, ak, "unsigned", "header %s must be signed" % need)
    for name in signed:
        if name not in headers:
            return Verdict(False, ak, "malformed", "signed header %s was not sent" % name)
    for name in headers:
        if name.startswith("x-acs-") and name not in signed:
            return Verdict(False, ak, "unsigned", "header %s was sent but not signed" % name)
    body_hash = sha256_hex(body)
    claimed = _first(headers, "x-acs-content-sha256")
    if claimed is not None and claimed.strip() != body_hash:
        return Verdict(False, ak, "mismatch", "x-acs-content-sha256 does not match the body sent")
    secret = secret_for(ak)
    if secret is None:
        return Verdict(False, ak, "unknown_ak", "access key %s is not known" % ak)
    creq = acs3_canonical_request(method, path, pairs, headers, signed, claimed.strip() if claimed else body_hash)
    want = acs3_signature(secret, creq)
    if not hmac.compare_digest(want, sig.lower()):
        return Verdict(False, ak, "mismatch", "signature does not match (hashed canonical request %s)"
                       % sha256_hex(creq.encode("utf-8")))
    return Verdict(True, ak)


# ---------------------------------------------------------------------------
# Alibaba legacy ROA HMAC-SHA1 (V2)


def roa_string_to_sign(method, headers, path, pairs, empty_value_eq=False):
    def h(name):
        v = _first(headers, name)
        return "" if v is None else v.strip()

    xacs = sorted(n for n in headers if n.startswith("x-acs-"))
    canon = "".join("%s:%s\n" % (n, _first(headers, n).strip()) for n in xacs)
    resource = path
    if pairs:
        items = sorted(pairs, key=lambda kv: _bytes_key(kv[0]))
        parts = []
        for k, v in items:
            if v is None or v == "":
                parts.append(k + "=" if empty_value_eq else k)
            else:
                parts.append("%s=%s" % (k, v))
        resource += "?" + "&".join(parts)
    head = [method.upper(), h("accept"), h("content-md5"), h("content-type"), h("date")]
    return "\n".join(head) + "\n" + canon + resource


def roa_signature(secret, string_to_sign):
    mac = hmac.new(secret.encode("utf-8"), string_to_sign.encode("utf-8"), hashlib.sha1).digest()
    return base64.b64encode(mac).decode("ascii")


def roa_sign(ak, secret, method, path, pairs, headers):
    sts = roa_string_to_sign(method, headers, path, pairs)
    headers["authorization"] = "acs %s:%s" % (ak, roa_signature(secret, sts))
    return headers


def content_md5(body):
    return base64.b64encode(hashlib.md5(body).digest()).decode("ascii")


def verify_roa(method, path, pairs, headers, body, secret_for):
    auth = _first(headers, "authorization")
    if not auth:
        return Verdict(False, reason="missing", detail="no Authorization header")
    if not auth.startswith("acs ") or ":" not in auth[4:]:
        return Verdict(False, reason="malformed", detail="Authorization is not 'acs AK:signature'")
    ak, sig = auth[4:].strip().rsplit(":", 1)
    if _first(headers, "date") is None:
        return Verdict(False, ak, "unsigned", "Date header is required")
    md5 = _first(headers, "content-md5")
    if md5 is not None and body and md5.strip() != content_md5(body):
        return Verdict(False, ak, "mismatch", "Content-MD5 does not match the body sent")
    secret = secret_for(ak)
    if secret is None:
        return Verdict(False, ak, "unknown_ak", "access key %s is not known" % ak)
    for eq in (False, True):
        want = roa_signature(secret, roa_string_to_sign(method, headers, path, pairs, eq))
        if hmac.compare_digest(want, sig.strip()):
            return Verdict(True, ak)
    return Verdict(False, ak, "mismatch", "signature does not match")


# ---------------------------------------------------------------------------
# Huawei SDK-HMAC-SHA256

HW = "SDK-HMAC-SHA256"


def hw_canonical_uri(path):
    segs = urllib.parse.unquote(path).split("/")
    uri = "/".join(pct(s) for s in segs)
    if not uri.endswith("/"):
        uri += "/"
    return uri


def hw_canonical_query(pairs):
    by_key = {}
    for k, v in pairs:
        by_key.setdefault(k, []).append(v or "")
    out = []
    for k in sorted(by_key, key=_bytes_key):
        for v in sorted(by_key[k], key=_bytes_key):
            out.append("%s=%s" % (pct(k), pct(v)))
    return "&".join(out)


def hw_canonical_request(method, path, pairs, headers, signed_names, hashed_payload):
    canon_headers = ""
    for name in signed_names:
        val = _canon_header_value(headers, name)
        canon_headers += "%s:%s\n" % (name, "" if val is None else val)
    return "\n".join([method.upper(), hw_canonical_uri(path), hw_canonical_query(pairs),
                      canon_headers, ";".join(signed_names), hashed_payload])


def hw_signature(secret, sdk_date, canonical_request):
    sts = "%s\n%s\n%s" % (HW, sdk_date, sha256_hex(canonical_request.encode("utf-8")))
    return hmac.new(secret.encode("utf-8"), sts.encode("utf-8"), hashlib.sha256).hexdigest()


def hw_sign(ak, secret, method, path, pairs, headers, body=b"", signed=None):
    """headers: lower-case dict of str; must contain x-sdk-date. Adds authorization."""
    if signed is None:
        signed = sorted(n for n in headers if n in ("content-type", "host", "x-project-id", "x-sdk-date",
                                                     "x-security-token"))
    payload = headers.get("x-sdk-content-sha256") or sha256_hex(body)
    creq = hw_canonical_request(method, path, pairs, headers, signed, payload)
    sig = hw_signature(secret, headers["x-sdk-date"], creq)
    headers["authorization"] = "%s Access=%s, SignedHeaders=%s, Signature=%s" % (HW, ak, ";".join(signed), sig)
    return headers


def parse_hw_authorization(value):
    if not value.startswith(HW + " "):
        return None
    fields = {}
    for part in value[len(HW) + 1:].split(","):
        part = part.strip()
        if "=" not in part:
            return None
        k, v = part.split("=", 1)
        fields[k.strip()] = v.strip()
    if not {"Access", "SignedHeaders", "Signature"} <= set(fields):
        return None
    return fields["Access"], [h for h in fields["SignedHeaders"].split(";") if h], fields["Signature"]


def verify_hw(method, path, pairs, headers, body, secret_for, required=("x-sdk-date",)):
    auth = _first(headers, "authorization")
    if not auth:
        return Verdict(False, reason="missing", detail="no Authorization header")
    parsed = parse_hw_authorization(auth)
    if parsed is None:
        return Verdict(False, reason="malformed",
                       detail="Authorization is not 'SDK-HMAC-SHA256 Access=.., SignedHeaders=.., Signature=..'")
    ak, signed, sig = parsed
    for need in required:
        if need not in signed:
            return Verdict(False, ak, "unsigned", "header %s must be signed" % need)
    for name in signed:
        if name not in headers:
            return Verdict(False, ak, "malformed", "signed header %s was not sent" % name)
    secret = secret_for(ak)
    if secret is None:
        return Verdict(False, ak, "unknown_ak", "access key %s is not known" % ak)
    payload = _first(headers, "x-sdk-content-sha256")
    payload = payload.strip() if payload else sha256_hex(body)
    creq = hw_canonical_request(method, path, pairs, headers, signed, payload)
    want = hw_signature(secret, _first(headers, "x-sdk-date").strip(), creq)
    if not hmac.compare_digest(want, sig.lower()):
        return Verdict(False, ak, "mismatch", "signature does not match (hashed canonical request %s)"
                       % sha256_hex(creq.encode("utf-8")))
    return Verdict(True, ak)
