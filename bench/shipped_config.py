#!/usr/bin/env python3
"""shipped_config.py - a sample config as shipped, with only its addresses
changed, for the benchmarks that must run what a new user runs.

Owns: copying etc/flashsaled.yaml or etc/flashsaled-real.yaml line by line,
comments and all, and changing only what must differ on a bench machine:
the listen port, the servers' URLs, the queue / key prefix / database names
(so that no measurement sees another's), the token secret, where the plugins
and policies are, the SQLite file and the journal's folder, and the sale's
item count when the run asks for other than the shipped 1,000. Every other line, the http block, the
plugin settings, the policies, the worker and the log level, stays as
shipped. Exits 1 naming the line it expected when a sample no longer has it,
so the benchmark cannot silently run a config that is not the shipped one.

    shipped_config.py etc/flashsaled-real.yaml OUT --port P --secret S \\
        --plugins DIR --policies DIR --name N --amqp URL --redis URL \\
        --mongo URI [--items K]
    shipped_config.py etc/flashsaled.yaml OUT --port P --secret S \\
        --plugins DIR --policies DIR --data DIR [--items K]

Python 3 standard library only.
"""

import argparse
import json
import re
import sys


def scalar(s):
    """A YAML double-quoted scalar (JSON's string syntax is a subset)."""
    return json.dumps(s)


class Rewriter:
    def __init__(self, lines):
        self.lines = lines

    def find(self, pattern, section=None, kind=None, what=""):
        """(index, match) of the first line matching PATTERN under top-level
        SECTION (and plugin KIND), any section when None; exits naming WHAT
        when there is none."""
        pat = re.compile(pattern)
        for i, (sec, knd, line) in enumerate(self.where()):
            if (section and sec != section) or (kind and knd != kind):
                continue
            m = pat.match(line)
            if m:
                return i, m
        sys.exit("shipped_config.py: no %s" % what)

    def replace(self, section, kind, key, value):
        """Sets KEY's value in SECTION (and plugin KIND), keeping its comment."""
        indent = r"\s{4,}" if kind else r"\s+"    # a plugin's own keys, not its header
        i, m = self.find(r"^(%s)%s:\s*(\S.*?)?(\s+#.*)?$" % (indent, re.escape(key)),
                         section, kind, "`%s:` under %s%s" % (
                             key, section, "." + kind if kind else ""))
        self.lines[i] = "%s%s: %s%s\n" % (m.group(1), key, value, m.group(3) or "")

    def insert_after(self, section, kind, key, text):
        """Adds TEXT (a whole line) right after KEY's line."""
        i, _ = self.find(r"^\s+%s:" % re.escape(key), section, kind,
                         "`%s:` under %s" % (key, section))
        self.lines.insert(i + 1, text + "\n")

    def set_listen(self, value):
        i, _ = self.find(r"^listen:", what="top-level `listen:`")
        self.lines[i] = "listen: %s\n" % value

    def insert_after_top(self, section, text):
        i, _ = self.find(r"^%s:" % re.escape(section), what="top-level `%s:`" % section)
        self.lines.insert(i + 1, text + "\n")

    def where(self):
        """(top-level section, plugin kind, line) for every line."""
        section = kind = None
        out = []
        for line in self.lines:
            top = re.match(r"^([A-Za-z_]+):", line)
            if top:
                section, kind = top.group(1), None
            sub = re.match(r"^  ([a-z]+):\s*(#.*)?$", line)
            if section == "plugins" and sub:
                kind = sub.group(1)
            out.append((section, kind, line))
        return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("sample")
    ap.add_argument("out")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--secret", required=True)
    ap.add_argument("--plugins", required=True)
    ap.add_argument("--policies", required=True)
    ap.add_argument("--items", type=int)
    ap.add_argument("--data", help="the SQLite file's and the journal's "
                    "folder (embedded)")
    ap.add_argument("--name", help="queue, key prefix and database (real set)")
    ap.add_argument("--amqp")
    ap.add_argument("--redis")
    ap.add_argument("--mongo")
    a = ap.parse_args()

    with open(a.sample) as f:
        r = Rewriter(f.readlines())
    r.set_listen(scalar("127.0.0.1:%d" % a.port))
    r.insert_after_top("plugins", "  dir: %s" % scalar(a.plugins))
    r.replace("auth", None, "jwt_secret", scalar(a.secret))
    r.replace("policies", None, "dir", scalar(a.policies))
    if a.name:
        r.replace("plugins", "queue", "url", scalar(a.amqp))
        r.replace("plugins", "queue", "queue", a.name)
        r.replace("plugins", "inventory", "url", scalar(a.redis))
        r.replace("plugins", "inventory", "prefix", a.name)
        r.replace("plugins", "storage", "uri", scalar(a.mongo))
        r.replace("plugins", "storage", "database", a.name)
    if a.data:
        r.insert_after("plugins", "storage", "name",
                       "    path: %s" % scalar(a.data + "/bookings.db"))
        _, queue = r.find(r"^\s+name:\s*(\S+)", "plugins", "queue",
                          "`name:` under plugins.queue")
        if queue.group(1) == "journal":
            r.insert_after("plugins", "queue", "name",
                           "    path: %s" % scalar(a.data + "/queue"))
    if a.items is not None:
        r.replace("sales", None, "inventory", str(a.items))
    with open(a.out, "w") as f:
        f.writelines(r.lines)
    return 0


if __name__ == "__main__":
    sys.exit(main())
