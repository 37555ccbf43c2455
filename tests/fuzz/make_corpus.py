#!/usr/bin/env python3
"""make_corpus.py - writes the seed corpus of the fuzz targets into
tests/fuzz/corpus/<target>/ (committed; run.sh fuzzes a copy of it).

Seeds are small valid and near-valid inputs, so mutations start next to the
interesting edges. Tokens are signed with the targets' secret and expire in
2100. Rerun after changing a seed: the files are rewritten, never appended
to, and regression seeds found by fuzzing (regress-*) are left alone.
"""
import base64
import hashlib
import hmac
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
SECRET = b"fuzz-secret-0123456789abcdef"
EXP_2100 = 4102444800
BOOKING = "01HFUZZ0000000000000000000"
# Public keys of an identity provider, made once with python3-cryptography
# (the fuzz targets never need their private halves).
RSA_2048 = {"kty": "RSA", "kid": "rsa", "use": "sig", "alg": "RS256", "n": "k7grM8mlBRVLiZIDdRvBzpPXPYovcFwaCAmtdZRl_kp_JYRxbauBxMtoqzVqZhOl8WiYoZkzSHre5_yZCn7AYozKmmkwc7EseR496_T-gCiJ-uCck-t0KDfzB0M4_sB147-TXOKFuE5CUlutG1naCl3IFYDM3rDm2XJ_fwdbJBB-HddqfR6ahy4gBJPEMGhvpgBiOle6LDezc9P46PBcI7dZYqaAQEc0m7Xnujyx833E76f_VPh8bOd-JxsLH2wSnsnv0pC9ufdFaMV1rxPmuYMoy65HISyBYbngkIm946gks7vfKRxRCI3saWe9UX3rOuz581IdFKpIi6huhvwkrw", "e": "AQAB"}
RSA_1024 = {"kty": "RSA", "kid": "small", "n": "8mOkPDc9Zs3R10-io1uzYUNptP7qoRvtFTdwYVY0FOOdMYo3VFQ7NTR2A3HwkXq-CCwtdNbAkKKRoNu7_BhDqOsU10EnH7qziWTUbEZB0S28gOy-At3WBxrqu404M54rWrPKl2aHES5lx5RTMYAMBxrm4uwnmqAcYj-M3NGS400", "e": "AQAB"}
EC_P256 = {"kty": "EC", "crv": "P-256", "kid": "ec", "x": "b3ODce5xbYkkQZO2K5iIR1o2Wnn5k4prAmT7Na8-8mA", "y": "m_RZX1BR8YjBOh1FvhdxKSm9WgqG7z6sCgO-EvMmbu0"}
OKP_ED25519 = {"kty": "OKP", "crv": "Ed25519", "kid": "ed", "x": "OEbyUv6mnd5Gpc7f-SvlRs_VwX855cs3hfmhBxALVbw"}


def b64(raw):
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def token(header, claims, alg="sha256", key=SECRET, raw=False):
    """A compact JWS; header/claims are dicts or, when raw, JSON text."""
    h = header if raw else json.dumps(header, separators=(",", ":"))
    c = claims if raw else json.dumps(claims, separators=(",", ":"))
    signing = b64(h.encode()) + "." + b64(c.encode())
    sig = hmac.new(key, signing.encode(), getattr(hashlib, alg)).digest()
    return signing + "." + b64(sig)


HS256 = {"alg": "HS256", "typ": "JWT"}
GOOD = token(HS256, {"sub": "alice", "iat": 1700000000, "exp": EXP_2100})


def auth_seeds():
    s = {
        "valid": "Bearer " + GOOD,
        "valid-lowercase-spaces": "bearer   " + GOOD + "  ",
        "valid-tabs": "\tBearer " + GOOD + "\t",
        "no-exp": "Bearer " + token(HS256, {"sub": "bob"}),
        "expired": "Bearer " + token(HS256, {"sub": "bob", "exp": 1600000000}),
        "exp-string": "Bearer " + token(HS256, {"sub": "bob", "exp": "4102444800"}),
        "exp-real": "Bearer " + token(HS256, {"sub": "bob", "exp": 4102444800.5}),
        "no-sub": "Bearer " + token(HS256, {"exp": EXP_2100}),
        "sub-empty": "Bearer " + token(HS256, {"sub": ""}),
        "sub-space": "Bearer " + token(HS256, {"sub": "a b"}),
        "sub-129": "Bearer " + token(HS256, {"sub": "u" * 129}),
        "sub-number": "Bearer " + token(HS256, {"sub": 7}),
        "dup-sub": "Bearer " + token('{"alg":"HS256"}', '{"sub":"a","sub":"b"}', raw=True),
        "dup-alg": "Bearer " + token('{"alg":"HS256","alg":"none"}', '{"sub":"a"}', raw=True),
        "alg-none": "Bearer " + b64(b'{"alg":"none"}') + "." + b64(b'{"sub":"a"}') + ".",
        "alg-hs512": "Bearer " + token({"alg": "HS512"}, {"sub": "a"}, alg="sha512"),
        "alg-hs384": "Bearer " + token({"alg": "HS384"}, {"sub": "a"}, alg="sha384"),
        "no-alg": "Bearer " + token({"typ": "JWT"}, {"sub": "a"}),
        "wrong-key": "Bearer " + token(HS256, {"sub": "a"}, key=b"not-the-secret-at-all"),
        "padded": "Bearer " + GOOD + "==",
        "four-parts": "Bearer " + GOOD + ".e30",
        "empty-signature": "Bearer " + GOOD.rsplit(".", 1)[0] + ".",
        "payload-array": "Bearer " + token('{"alg":"HS256"}', '["sub"]', raw=True),
        "basic": "Basic YWxpY2U6cGFzc3dvcmQ=",
        "bearer-only": "Bearer ",
        "empty": "",
        "rs256-kid": "Bearer " + b64(b'{"alg":"RS256","kid":"rsa"}') + "." +
                     b64(b'{"sub":"a","exp":4102444800}') + "." + b64(bytes(256)),
        "es256-kid": "Bearer " + b64(b'{"alg":"ES256","kid":"ec"}') + "." +
                     b64(b'{"sub":"a","exp":4102444800}') + "." + b64(bytes(64)),
        "eddsa-kid": "Bearer " + b64(b'{"alg":"EdDSA","kid":"ed"}') + "." +
                     b64(b'{"sub":"a","exp":4102444800}') + "." + b64(bytes(64)),
        "hs256-rsa-kid": "Bearer " + token({"alg": "HS256", "kid": "rsa"}, {"sub": "a"}),
        "idp-rs256": 'K\x00{"iss":"https://idp.fuzz","aud":"flashsaled","sub":"a","exp":%d}' % EXP_2100,
        "idp-es256": 'K\x01{"iss":"https://idp.fuzz","aud":["x","flashsaled"],"sub":"b","exp":%d,"nbf":1}' % EXP_2100,
        "idp-eddsa": 'K\x02{"iss":"https://idp.fuzz","aud":"flashsaled","sub":"c","exp":%d}' % EXP_2100,
        "idp-no-exp": 'K\x02{"iss":"https://idp.fuzz","aud":"flashsaled","sub":"c"}',
        "idp-wrong-iss": 'K\x00{"iss":"https://evil","aud":"flashsaled","sub":"c","exp":%d}' % EXP_2100,
        "signed-plain": 'S\n{"sub":"carol","exp":%d}' % EXP_2100,
        "signed-headers": 'S{"kid":"k1","typ":"JWT"}\n{"sub":"dave"}',
        "signed-expired": 'S\n{"sub":"erin","exp":1}',
        "signed-exp-string": 'S\n{"sub":"erin","exp":"x"}',
        "signed-sub-object": 'S\n{"sub":{"a":1}}',
        "signed-sub-unicode": 'S\n{"sub":"caf\\u00e9"}',
    }
    return s


def jwks_seeds():
    def doc(*keys):
        return json.dumps({"keys": list(keys)})
    return {
        "all-three": doc(RSA_2048, EC_P256, OKP_ED25519),
        "rsa": doc(RSA_2048),
        "rsa-1024": doc(RSA_1024),
        "ec": doc(EC_P256),
        "ed": doc(OKP_ED25519),
        "dup-kid": doc(EC_P256, dict(OKP_ED25519, kid="ec")),
        "skipped": doc({"kty": "oct", "kid": "s", "k": "c2VjcmV0"},
                       dict(RSA_2048, use="enc"), dict(EC_P256, crv="P-384"), OKP_ED25519),
        "alg-mismatch": doc(dict(RSA_2048, alg="ES256"), OKP_ED25519),
        "ec-off-curve": doc(dict(EC_P256, y=EC_P256["x"])),
        "empty": doc(),
        "not-jwks": '{"kty":"RSA"}',
        "no-kid": doc({k: v for k, v in OKP_ED25519.items() if k != "kid"}),
    }


def ids_seeds():
    return {
        "sale": "launch",
        "booking": BOOKING,
        "one": "a",
        "max": "a" * 64,
        "over": "a" * 65,
        "punct": "sale.2026_x-y",
        "space": "a b",
        "slash": "a/b",
        "percent": "a%2Fb",
        "user-email": "user@example.com",
        "user-128": "u" * 128,
        "user-129": "u" * 129,
        "del": "a\x7f",
        "utf8": "caf\u00e9",
        "nul": "ab\x00cd",
    }


def message(**over):
    m = {"b": BOOKING, "s": "launch", "u": "alice", "h": 300,
         "t": 1700000000000, "o": "0123456789abcdef"}
    m.update(over)
    return json.dumps({k: v for k, v in m.items() if v is not None},
                      separators=(",", ":"))


def message_seeds():
    return {
        "valid": message(),
        "no-origin": message(o=None),
        "empty-origin": message(o=""),
        "origin-17": message(o="0123456789abcdefX"),
        "hold-0": message(h=0),
        "hold-max": message(h=86400),
        "hold-over": message(h=86401),
        "hold-string": message(h="300"),
        "t-negative": message(t=-1),
        "t-max": message(t=9223372036854775807),
        "t-real": message(t=1.5),
        "user-space": message(u="a b"),
        "bad-booking": message(b="a/b"),
        "dup-key": '{"b":"x","b":"y","s":"launch","u":"a","h":1,"t":0,"o":""}',
        "escaped": message(u="a\\\"b", o="\u00e9\u00e9"),
        "array": "[1,2,3]",
        "nested": '{"b":{"b":{"b":{}}}}',
        "truncated": message()[:-5],
    }


def config_seeds():
    with open(os.path.join(ROOT, "etc", "flashsaled.yaml")) as f:
        sample = f.read()
    minimal = ('auth:\n  jwt_secret: "0123456789abcdef0123"\n'
               'sales:\n  - id: launch\n    inventory: 10\n')
    return {
        "sample": sample,
        "minimal": minimal,
        "plugins": minimal + (
            "plugins:\n  dir: lib\n  queue:\n    name: memory\n    path: q.db\n"
            "    mode: fast\n    timeout_ms: 10\n    tls: yes\n"
            "  storage:\n    name: sqlite\n    pth: x\n"),
        "times": minimal.replace("inventory: 10\n", "inventory: 10\n"
                                 "    starts_at: \"2026-12-01T10:00:00Z\"\n"
                                 "    ends_at: \"2026-12-01T12:00:00.5+02:00\"\n"),
        "times-reversed": minimal + ("  - id: b\n    inventory: 1\n"
                                     "    starts_at: 2026-12-01T12:00:00Z\n"
                                     "    ends_at: 2026-12-01T10:00:00Z\n"),
        "dup-sale": minimal + "  - id: launch\n    inventory: 1\n",
        "short-secret": 'auth:\n  jwt_secret: "short"\n',
        "secret-file": "auth:\n  jwt_secret_file: missing_secret\n",
        "both-secrets": 'auth:\n  jwt_secret: "0123456789abcdef0123"\n  jwt_secret_file: s\n',
        "unknown-key": minimal + "http:\n  thread: 4\n",
        "bad-number": minimal + "http:\n  threads: ten\n",
        "policies": minimal + "policies:\n  dir: /tmp/p\n  settings:\n    a: 1\n    b: x\n",
        "admin": minimal + "admin:\n  token: 0123456789abcdef\ntrusted: x\n",
        "aliases": ('base: &s "0123456789abcdef0123"\nauth:\n  jwt_secret: *s\n'
                    'sales: &l\n  - id: a\n    inventory: 1\n'),
        "merge": minimal + "http: &h\n  threads: 4\nworker:\n  <<: *h\n",
        "two-docs": minimal + "---\nlisten: x\n",
        "tab-indent": "auth:\n\tjwt_secret: x\n",
        "bad-indent": "auth:\n  jwt_secret: x\n    oops: 1\n",
        "flow": '{auth: {jwt_secret: "0123456789abcdef0123"}, sales: [{id: x, inventory: 0}]}',
        "not-mapping": "- a\n- b\n",
        "empty": "",
        "bad-utf8": "listen: \"\xff\xfe\"\n",
        "tag": minimal + "listen: !!binary aGVsbG8=\n",
        "null-values": minimal + "log:\n  level: ~\nworker:\n",
        "header": minimal.replace("auth:\n", "auth:\n  trusted_user_header: X-User\n"),
    }


def body_seeds():
    deep16 = '{"a":' * 15 + "[]" + "}" * 15
    deep17 = '{"a":' * 16 + "[]" + "}" * 16
    return {
        "booked": '{"status":"booked"}',
        "deleted": '{"status":"deleted"}',
        "spaces": ' { "status" : "booked" } \n',
        "escaped": '{"status":"bo\\u006bed"}',
        "object": "{}",
        "empty": "",
        "extra-key": '{"status":"booked","x":1}',
        "dup-key": '{"status":"booked","status":"booked"}',
        "wrong-type": '{"status":1}',
        "array": '["status","booked"]',
        "null": "null",
        "depth-16": deep16,
        "depth-17": deep17,
        "quote-braces": '{"a":"\\"{{{{{{{{{{{{{{{{{{"}',
        "nul": '{"status":"booked\\u0000"}',
        "unicode": '{"status":"\u00e9"}',
        "trailing": '{"status":"booked"} x',
    }


def http_seeds():
    auth = "Authorization: Bearer " + GOOD + "\n"
    bk = "/booking-service/book-item/launch"

    def req(ctl, line, headers="", body="", policy=0):
        return bytes([ctl, policy]) + (line + "\n" + headers + "\n" + body).encode()

    return {
        "book": req(0, "POST " + bk, auth + "Content-Length: 0\n"),
        "book-body": req(0, "POST " + bk, auth + "Content-Length: 2\n", "{}"),
        "book-sold-out": req(2, "POST " + bk, auth),
        "book-duplicate": req(3, "POST " + bk, auth),
        "book-unavailable": req(6, "POST " + bk, auth),
        "book-closed": req(10, "POST " + bk, auth),
        "get": req(0x20, "GET " + bk + "/" + BOOKING, auth),
        "head": req(0x20, "HEAD " + bk + "/" + BOOKING, auth),
        "get-expired-hold": req(0x50, "GET " + bk + "/" + BOOKING, auth),
        "get-rejected": req(0x60, "GET " + bk + "/" + BOOKING, auth),
        "put": req(0x20, "PUT " + bk + "/" + BOOKING, auth, '{"status":"booked"}'),
        "put-conflict": req(0x44, "PUT " + bk + "/" + BOOKING, auth, '{"status":"booked"}'),
        "delete": req(0x20, "DELETE " + bk + "/" + BOOKING, auth),
        "delete-body": req(0x20, "DELETE " + bk + "/" + BOOKING, auth, '{"status":"deleted"}'),
        "events": req(0x10, "GET " + bk + "/" + BOOKING + "/events", auth),
        "events-last-id": req(0x10, "GET " + bk + "/" + BOOKING + "/events",
                              auth + "Last-Event-ID: 2\n"),
        "events-full": req(7, "GET " + bk + "/" + BOOKING + "/events", auth),
        "events-post": req(0, "POST " + bk + "/" + BOOKING + "/events", auth),
        "sale": req(0, "GET /booking-service/sales/launch"),
        "sale-missing": req(1, "GET /booking-service/sales/launch"),
        "healthz": req(0, "GET /healthz"),
        "readyz": req(0, "GET /readyz"),
        "readyz-down": req(6, "GET /readyz"),
        "metrics": req(0, "GET /metrics"),
        "admin": req(0, "GET /admin/sales", "Authorization: Bearer 0123456789abcdef\n"),
        "method": req(0, "PATCH " + bk, auth),
        "double-slash": req(0, "GET /booking-service//sales/launch"),
        "trailing-slash": req(0, "GET /healthz/"),
        "bad-id": req(0, "POST /booking-service/book-item/a%2Fb", auth),
        "deep-path": req(0, "GET /a/b/c/d/e/f/g/h"),
        "no-uri": req(0, "GET "),
        "trusted": req(0x80, "POST " + bk, "X-User: alice\n"),
        "trusted-bad": req(0x80, "POST " + bk, "X-User: a b\n"),
        "too-large": req(0, "POST " + bk, auth + "Content-Length: 5000\n"),
        "length-short": req(0, "PUT " + bk + "/" + BOOKING,
                            auth + "Content-Length: 5\n", '{"status":"booked"}'),
        "no-token": req(0, "POST " + bk),
        "policy-deny": req(0, "POST " + bk, auth + "User-Agent: bot\n", policy=1 | (1 << 2)),
        "policy-deny-repeat": req(0, "POST " + bk, auth, policy=1),
        "policy-slow": req(0, "PUT " + bk + "/" + BOOKING, auth, '{"status":"booked"}', policy=2 | (29 << 2)),
        "policy-error": req(0x20, "DELETE " + bk + "/" + BOOKING, auth, policy=3),
    }


def policy_seeds():
    def req(hook, user="alice", ip="203.0.113.7", agent="Mozilla/5.0",
            sale="launch", path="/booking-service/book-item/launch",
            booking="", headers=""):
        return bytes([hook]) + "\n".join(
            [user, ip, agent, sale, path, booking]).encode() + b"\n" + headers.encode()

    return {
        "book": req(0),
        "book-bot": req(0, agent="curl/8.0"),
        "book-no-agent": req(0, agent=""),
        "book-denied-net": req(0, ip="192.0.2.10"),
        "book-xff": req(0, ip="10.0.0.1", headers="X-Forwarded-For: 198.51.100.1, 10.0.0.2\n"),
        "book-xff-v6": req(0, ip="::1", headers="x-forwarded-for: 2001:db8::1,fd00::5\n"),
        "book-xff-junk": req(0, ip="10.9.9.9", headers="X-Forwarded-For: 1.2.3.4.5, ::ffff:1.2.3.4, [::1]:80, 999.1.1.1\n"),
        "book-ipv4-mapped": req(0, ip="::ffff:192.0.2.1"),
        "confirm": req(1, booking=BOOKING),
        "cancel": req(2, booking=BOOKING),
    }


TARGETS = {
    "fuzz_auth": auth_seeds,
    "fuzz_ids": ids_seeds,
    "fuzz_message": message_seeds,
    "fuzz_config": config_seeds,
    "fuzz_json_body": body_seeds,
    "fuzz_http_request": http_seeds,
    "fuzz_policy": policy_seeds,
    "fuzz_jwks": jwks_seeds,
}


def main():
    for target, seeds in TARGETS.items():
        folder = os.path.join(HERE, "corpus", target)
        os.makedirs(folder, exist_ok=True)
        for name in os.listdir(folder):
            if name.startswith("seed-"):
                os.remove(os.path.join(folder, name))
        for name, text in seeds().items():
            if isinstance(text, bytes):
                data = text
            elif name == "bad-utf8":
                data = text.encode("latin-1")
            else:
                data = text.encode()
            with open(os.path.join(folder, "seed-" + name), "wb") as f:
                f.write(data)
    return 0


if __name__ == "__main__":
    sys.exit(main())
