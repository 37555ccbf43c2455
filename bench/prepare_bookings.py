#!/usr/bin/env python3
"""prepare_bookings.py - real bookings for the status-polling benchmark.

Owns: POSTing one booking for each of the first COUNT users of a token file
to a running flashsaled, from a few keep-alive connections, and writing
"TOKEN PATH" lines (the owner's token and the booking's Location) for
bench/users.lua. Fails (exit 1, saying why) unless every user got a 202.

Python 3 standard library only.
"""

import argparse
import http.client
import sys
import threading


def book(port, sale, tokens, out, errors):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        for tok in tokens:
            conn.request("POST", "/booking-service/book-item/" + sale,
                         headers={"Authorization": "Bearer " + tok})
            resp = conn.getresponse()
            body = resp.read()
            location = resp.getheader("Location")
            if resp.status != 202 or not location:
                errors.append("HTTP %d %r" % (resp.status, body[:200]))
                return
            out.append(tok + " " + location)
    except OSError as e:
        errors.append(str(e))
    finally:
        conn.close()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--tokens", required=True)
    ap.add_argument("--count", type=int, required=True)
    ap.add_argument("--sale", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--connections", type=int, default=8)
    args = ap.parse_args()

    tokens = []
    with open(args.tokens) as f:
        for line in f:
            tokens.append(line.strip())
            if len(tokens) == args.count:
                break
    if len(tokens) < args.count:
        print("prepare_bookings: %s has only %d tokens" % (args.tokens, len(tokens)))
        return 1

    outs, errors, workers = [], [], []
    for k in range(args.connections):
        out = []
        outs.append(out)
        t = threading.Thread(target=book, args=(args.port, args.sale,
                                                tokens[k::args.connections], out, errors))
        t.start()
        workers.append(t)
    for t in workers:
        t.join()
    lines = [line for out in outs for line in out]
    if errors or len(lines) != args.count:
        print("prepare_bookings: %d of %d booked; first error: %s"
              % (len(lines), args.count, errors[0] if errors else "none"))
        return 1
    with open(args.out, "w") as f:
        f.write("\n".join(lines) + "\n")
    print("prepare_bookings: %d bookings -> %s" % (len(lines), args.out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
