"""test_auth.py - who may book: HS256 bearer tokens signed with the configured
secret, `exp` honoured, `sub` is the user. Everything else is 401 with
WWW-Authenticate: Bearer, and never creates a booking."""

import hashlib
import time

import harness
from harness import SECRET, b64url, make_jwt, note, token_for, wait_booking

HS256 = {"alg": "HS256", "typ": "JWT"}


def claims(sub="u-auth", ttl=3600, **extra):
    now = int(time.time())
    c = {"sub": sub, "iat": now, "exp": now + ttl}
    c.update(extra)
    return {k: v for k, v in c.items() if v is not None}


def bad_tokens():
    """(what, Authorization header value) pairs that must all be refused."""
    good = token_for("u-auth")
    head, payload, sig = good.split(".")
    now = int(time.time())
    forged_payload = b64url('{"sub":"someone-else","iat":%d,"exp":%d}' % (now, now + 3600))
    return [
        ("garbage bearer", "Bearer garbage"),
        ("empty bearer", "Bearer "),
        ("not Bearer scheme", "Basic " + b64url("u-auth:pw")),
        ("token without scheme", good),
        ("two parts", "Bearer " + head + "." + payload),
        ("bad base64", "Bearer %%%." + payload + "." + sig),
        ("alg none, no signature",
         "Bearer " + make_jwt({"alg": "none", "typ": "JWT"}, claims(), secret=None)),
        ("alg none, signature kept",
         "Bearer " + make_jwt({"alg": "none", "typ": "JWT"}, claims(), secret=None) + sig),
        ("alg NONE", "Bearer " + make_jwt({"alg": "NONE"}, claims(), secret=None)),
        ("HS512 with the right secret",
         "Bearer " + make_jwt({"alg": "HS512", "typ": "JWT"}, claims(), digest=hashlib.sha512)),
        ("HS384 with the right secret",
         "Bearer " + make_jwt({"alg": "HS384", "typ": "JWT"}, claims(), digest=hashlib.sha384)),
        ("RS256 header on an HMAC signature", "Bearer " + make_jwt({"alg": "RS256"}, claims())),
        ("wrong secret", "Bearer " + make_jwt(HS256, claims(), secret="not-the-secret-at-all!!")),
        ("payload swapped, signature kept", "Bearer " + head + "." + forged_payload + "." + sig),
        ("signature truncated", "Bearer " + good[:-4]),
        ("expired an hour ago", "Bearer " + make_jwt(HS256, claims(ttl=-3600))),
        ("no sub", "Bearer " + make_jwt(HS256, claims(sub=None))),
        ("empty sub", "Bearer " + make_jwt(HS256, claims(sub=""))),
        ("numeric sub", "Bearer " + make_jwt(HS256, claims(sub=12345))),
        ("sub of 200 chars", "Bearer " + make_jwt(HS256, claims(sub="u" * 200))),
        ("token over 4 KB", "Bearer " + make_jwt(HS256, claims(pad="p" * 5000))),
    ]


class Auth(harness.DaemonTestCase):
    SALES = [harness.LAUNCH]

    def test_post_without_authorization_is_401(self):
        self.assertUnauthenticated(self.c.book("launch", None))
        note("POST without Authorization -> 401")

    def test_every_bad_token_is_401_and_books_nothing(self):
        for what, value in bad_tokens():
            with self.subTest(token=what):
                r = self.c.request("POST", "/booking-service/book-item/launch",
                                   headers={"Authorization": value})
                self.assertUnauthenticated(r)
                note("%-34s -> 401" % what)
        view = self.sale_view(self.c, "launch")
        self.assertEqual((view["available"], view["held"], view["booked"]), (100, 0, 0), view)
        note("nothing was booked: %s" % view)

    def test_bad_tokens_cannot_read_or_change_a_booking(self):
        bid, tok, _ = self.hold_for(self.c, "launch", "u-auth")
        path = harness.booking_path("launch", bid)
        for what, value in bad_tokens():
            for method in ("GET", "PUT", "DELETE"):
                body = {"status": "booked"} if method == "PUT" else None
                r = self.c.request(method, path, body=body, headers={"Authorization": value})
                with self.subTest(token=what, method=method):
                    self.assertUnauthenticated(r)
        self.assertEqual(wait_booking(self.c, "launch", bid, tok)["status"], "hold")
        note("GET/PUT/DELETE with %d bad tokens -> 401; booking still hold" % len(bad_tokens()))

    def test_valid_token_books_for_its_sub(self):
        bid, tok = self.book_ok(self.c, "launch", "u-valid")
        b = wait_booking(self.c, "launch", bid, tok)
        self.assertEqual(b["status"], "hold", b)
        # The same user with a freshly minted token is the same user.
        self.assertEqual(self.c.get_booking("launch", bid, token_for("u-valid")).status, 200)
        note("valid HS256 token -> 202, booking readable with another token of the same sub")

    def test_token_without_exp_or_iat_claims_still_needs_signature(self):
        # exp is honoured when present; a token without it is either accepted
        # or refused, but a forged one never is.
        t = make_jwt(HS256, {"sub": "u-noexp"}, secret="wrong-secret-wrong-secret")
        self.assertUnauthenticated(self.c.book("launch", t))
        note("unsigned-by-us token without exp -> 401")

    def test_cli_minted_token_is_accepted(self):
        p = harness.run_cli(["token", "--config", self.daemon.config_path, "--user", "u-cli"])
        self.assertEqual(p.returncode, 0, p.stderr.decode(errors="replace"))
        tok = p.stdout.decode().strip()
        header, cl, _ = harness.decode_jwt(tok)
        self.assertEqual(header.get("alg"), "HS256", header)
        self.assertEqual(cl.get("sub"), "u-cli", cl)
        self.assertTrue(harness.jwt_signature_ok(tok, SECRET), "signature not HS256 with the secret")
        r = self.c.book("launch", tok)
        self.assertEqual(r.status, 202, r)
        b = wait_booking(self.c, "launch", r.json["booking_id"], tok)
        self.assertEqual(b["status"], "hold", b)
        # the booking belongs to sub u-cli: a Python-minted token of u-cli sees it
        self.assertEqual(self.c.get_booking("launch", b["booking_id"], token_for("u-cli")).status, 200)
        note("flashsaled token --user u-cli -> %s... accepted, booking %s" % (tok[:20], b["booking_id"]))

    def test_cli_minted_token_with_past_ttl_is_refused(self):
        # --ttl 1 then wait for it to lapse (bounded poll, not a fixed sleep)
        p = harness.run_cli(["token", "--config", self.daemon.config_path, "--user", "u-ttl",
                             "--ttl", "1"])
        self.assertEqual(p.returncode, 0, p.stderr.decode(errors="replace"))
        tok = p.stdout.decode().strip()
        _, cl, _ = harness.decode_jwt(tok)
        self.assertEqual(cl["exp"] - cl["iat"], 1, cl)
        harness.wait_until(lambda: time.time() >= cl["exp"] + 1.05, timeout=harness.scaled(5), what="token expiry")
        self.assertUnauthenticated(self.c.book("launch", tok))
        note("token with --ttl 1, used after exp -> 401")


if __name__ == "__main__":
    harness.main()
