#!/usr/bin/env python3
"""mint_tokens.py - HS256 JWTs for distinct users, minted up front for wrk.

Owns: writing COUNT tokens, one per line, for the users <prefix>0 ..
<prefix>COUNT-1, signed with the daemon's secret (the same shape as
`flashsaled token`: header {"alg":"HS256","typ":"JWT"}, claims sub, iat,
exp). Minting here and not in the load generator keeps the client's cost per
request the same for the baseline and for flashsaled.

A file already there is kept when its stamp (secret digest, count, prefix)
matches and its tokens still have more than half their lifetime left, so a
million tokens are minted once and reused by later runs.

Python 3 standard library only.
"""

import argparse
import base64
import hashlib
import hmac
import json
import os
import sys
import time


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=")


def stamp_of(secret, count, prefix):
    digest = hashlib.sha256(secret.encode()).hexdigest()[:16]
    return "%s %d %s" % (digest, count, prefix)


def cached(path, stamp, ttl):
    """True when `path` holds tokens minted for `stamp` that are still young."""
    meta = path + ".stamp"
    try:
        with open(meta) as f:
            saved, minted = f.read().rsplit(" ", 1)
        return saved == stamp and time.time() - float(minted) < ttl / 2
    except (OSError, ValueError):
        return False


def mint(path, secret, count, prefix, ttl):
    key = secret.encode()
    head = b64url(b'{"alg":"HS256","typ":"JWT"}') + b"."
    now = int(time.time())
    tmp = path + ".tmp"
    with open(tmp, "wb") as out:
        for i in range(count):
            claims = json.dumps({"sub": "%s%d" % (prefix, i), "iat": now,
                                 "exp": now + ttl}, separators=(",", ":"))
            signing_input = head + b64url(claims.encode())
            sig = b64url(hmac.digest(key, signing_input, "sha256"))
            out.write(signing_input + b"." + sig + b"\n")
    os.replace(tmp, path)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--secret", required=True)
    ap.add_argument("--count", type=int, required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--prefix", default="bench-u")
    ap.add_argument("--ttl", type=int, default=7 * 86400,
                    help="token lifetime in seconds (default a week)")
    args = ap.parse_args()

    stamp = stamp_of(args.secret, args.count, args.prefix)
    if cached(args.out, stamp, args.ttl):
        print("mint_tokens: reusing %s (%d tokens)" % (args.out, args.count))
        return 0
    started = time.monotonic()
    mint(args.out, args.secret, args.count, args.prefix, args.ttl)
    with open(args.out + ".stamp", "w") as f:
        f.write("%s %d" % (stamp, int(time.time())))
    print("mint_tokens: %d tokens in %.1f s -> %s"
          % (args.count, time.monotonic() - started, args.out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
