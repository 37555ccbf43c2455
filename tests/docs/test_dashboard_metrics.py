"""test_dashboard_metrics.py - keeps the Grafana dashboard
(contrib/grafana/flashsaled.json) and the Prometheus alert rules
(contrib/prometheus/flashsaled-rules.yml) true to the daemon.

`promtool check rules` checks the rules file, and every query of the
dashboard turned into a recording rule (Grafana's variables replaced), so a
PromQL slip in either fails here. Then a daemon started by the harness, on
the embedded plugins and again on the real set (Redis, RabbitMQ and the
MongoDB-wire server, each started here on a free port), takes some traffic
(202s, a hold, a confirm, 409s sold_out and already_booked), and every
metric name the two files use must be in its GET /metrics, with every label
they match on. The only names allowed from elsewhere are those Prometheus
and the blackbox exporter make (NOT_FROM_THE_DAEMON). promtool (Debian
package prometheus) missing fails the test; it never skips.

Runs under make check (FS_SRCDIR, FS_DAEMON, FS_PLUGIN_DIR are set there);
needs python3-yaml for the rules file."""

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "e2e"))
import harness  # noqa: E402
import real_backends  # noqa: E402
from harness import note, token_for  # noqa: E402

try:
    import yaml
except ImportError:  # said by the test that needs it, not at import time
    yaml = None

DASHBOARD = os.path.join(harness.SRCDIR, "contrib", "grafana", "flashsaled.json")
RULES = os.path.join(harness.SRCDIR, "contrib", "prometheus", "flashsaled-rules.yml")

# Series the files may use that the daemon does not make, and who makes them.
NOT_FROM_THE_DAEMON = {
    "up": "Prometheus, for each scrape target",
    "probe_success": "the blackbox exporter probing GET /readyz",
}
# Labels Prometheus adds to every scraped series.
TARGET_LABELS = {"job", "instance"}
# Grafana's variables, as promtool can parse them.
GRAFANA_VARIABLES = {"$__rate_interval": "1m", "$__interval": "1m", "$job": ".*",
                     "$instance": ".*", "$sale": ".*"}

# PromQL words that are not metric names (aggregations may put `by (...)`
# before their parenthesis); the ones that take a label list.
AGGREGATIONS = {"sum", "min", "max", "avg", "group", "stddev", "stdvar", "count",
                "count_values", "bottomk", "topk", "quantile"}
KEYWORDS = AGGREGATIONS | {"by", "without", "on", "ignoring", "group_left", "group_right",
                           "bool", "and", "or", "unless", "offset", "atan2", "inf", "nan"}
LABEL_LISTS = {"by", "without", "on", "ignoring", "group_left", "group_right"}
IDENT = re.compile(r"[A-Za-z_:][A-Za-z0-9_:]*")
NUMBER = re.compile(r"[0-9]+(\.[0-9]*)?([eE][+-]?[0-9]+)?")
MATCHER = re.compile(r'\s*([A-Za-z_][A-Za-z0-9_]*)\s*(=~|!~|!=|=)\s*'
                     r'("(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\')\s*,?')


def skip_string(text, i):
    """Index just past the string literal that starts at i."""
    quote, i = text[i], i + 1
    while i < len(text):
        if text[i] == "\\" and quote != "`":
            i += 2
            continue
        if text[i] == quote:
            return i + 1
        i += 1
    raise AssertionError("unclosed string in %r" % text)


def skip_to(text, i, close):
    """Index just past the `close` that ends the bracket opened before i,
    strings skipped."""
    depth = 1
    opener = {")": "(", "]": "[", "}": "{"}[close]
    while i < len(text):
        ch = text[i]
        if ch in "\"'`":
            i = skip_string(text, i)
            continue
        if ch == opener:
            depth += 1
        elif ch == close:
            depth -= 1
            if depth == 0:
                return i + 1
        i += 1
    raise AssertionError("unclosed %r in %r" % (opener, text))


def selectors(expr):
    """[(metric name, {label names matched})] of a PromQL expression."""
    found = []
    i = 0
    while i < len(expr):
        ch = expr[i]
        if ch in "\"'`":
            i = skip_string(expr, i)
            continue
        if ch == "[":                       # a range or a subquery's step
            i = skip_to(expr, i + 1, "]")
            continue
        m = NUMBER.match(expr, i) if ch.isdigit() else None
        if m:
            i = m.end()
            continue
        m = IDENT.match(expr, i)
        if not m:
            i += 1
            continue
        word, i = m.group(0), m.end()
        rest = expr[i:].lstrip()
        if word.lower() in LABEL_LISTS:
            if rest.startswith("("):
                i = skip_to(expr, expr.index("(", i) + 1, ")")
            continue
        if word.lower() in KEYWORDS or rest.startswith("("):
            continue                        # an operator, a function, an aggregation
        labels = set()
        if rest.startswith("{"):
            start = expr.index("{", i) + 1
            end = skip_to(expr, start, "}")
            body, pos = expr[start:end - 1], 0
            while pos < len(body.strip()):
                mm = MATCHER.match(body, pos)
                if not mm:
                    raise AssertionError("cannot read the matchers {%s} in %r" % (body, expr))
                labels.add(mm.group(1))
                pos = mm.end()
            i = end
        found.append((word, labels))
    return found


def dashboard_queries(dash):
    """Every target's expr of every panel (rows' panels included), and the
    templating queries, as (where, text)."""
    out = []

    def walk(panels):
        for p in panels:
            for t in p.get("targets", []):
                if t.get("expr"):
                    out.append(("panel %r" % p.get("title"), t["expr"]))
            walk(p.get("panels", []))
    walk(dash.get("panels", []))
    for v in dash.get("templating", {}).get("list", []):
        q = v.get("query")
        if isinstance(q, dict):
            q = q.get("query")
        if v.get("type") == "query" and q:
            out.append(("variable $%s" % v["name"], q))
    return out


LABEL_VALUES = re.compile(r"^\s*label_values\((.*),\s*([A-Za-z_][A-Za-z0-9_]*)\s*\)\s*$", re.S)


def as_promql(query):
    """A dashboard query as plain PromQL, and the label a label_values()
    variable reads (or None)."""
    m = LABEL_VALUES.match(query)
    expr, label = (m.group(1), m.group(2)) if m else (query, None)
    for var, value in GRAFANA_VARIABLES.items():
        expr = expr.replace(var, value)
    if "$" in expr:
        raise AssertionError("a Grafana variable this test does not know: %r" % query)
    return expr, label


def rule_exprs(rules_text):
    """(alert or record name, expr) of every rule of a rules file."""
    doc = yaml.safe_load(rules_text)
    return [(r.get("alert") or r.get("record"), r["expr"])
            for g in doc["groups"] for r in g["rules"]]


def exposition(text):
    """{sample name: {label names}} of Prometheus text."""
    series = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = re.match(r"([A-Za-z_:][A-Za-z0-9_:]*)(\{([^}]*)\})?\s", line)
        if not m:
            raise AssertionError("not a sample line in /metrics: %r" % line)
        names = set(re.findall(r'([A-Za-z_][A-Za-z0-9_]*)="', m.group(3) or ""))
        series.setdefault(m.group(1), set()).update(names)
    return series


def promtool():
    path = shutil.which("promtool")
    if not path:
        raise AssertionError("promtool not found: install Debian's prometheus package "
                             "(apt-get install prometheus)")
    return path


class FilesParse(unittest.TestCase):
    def test_promtool_accepts_the_rules(self):
        p = subprocess.run([promtool(), "check", "rules", RULES], stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, timeout=harness.scaled(60))
        out = p.stdout.decode(errors="replace")
        self.assertEqual(p.returncode, 0, "promtool check rules %s:\n%s" % (RULES, out))
        note("promtool check rules: %s" % out.strip().splitlines()[-1].strip())

    def test_promtool_accepts_every_dashboard_query(self):
        with open(DASHBOARD, encoding="utf-8") as f:
            queries = dashboard_queries(json.load(f))
        self.assertGreater(len(queries), 10, "too few queries found in %s" % DASHBOARD)
        rules = [{"record": "dashboard:query_%d" % n, "expr": as_promql(q)[0]}
                 for n, (_, q) in enumerate(queries)]
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "dashboard-queries.yml")
            with open(path, "w", encoding="utf-8") as f:
                json.dump({"groups": [{"name": "dashboard", "rules": rules}]}, f, indent=1)
            p = subprocess.run([promtool(), "check", "rules", path], stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, timeout=harness.scaled(60))
        out = p.stdout.decode(errors="replace")
        self.assertEqual(p.returncode, 0, "a dashboard query is not PromQL:\n%s\n%s"
                         % (out, "\n".join("%s: %s" % w for w in queries)))
        note("promtool parses all %d dashboard queries" % len(queries))

    def test_the_query_reader_finds_names_and_labels(self):
        # The reader below the metric check, on a query of each shape used.
        got = selectors('histogram_quantile(0.99, sum by (job, le) (rate('
                        'a_bucket{job="x",code=~"5.."}[5m]))) > 1 and on (sale) '
                        'b{sale!=""} / ignoring (le) c - time() + absent(up{job="y"})')
        self.assertEqual(got, [("a_bucket", {"job", "code"}), ("b", {"sale"}), ("c", set()),
                               ("up", {"job"})])


GROUPING = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\(([^)]*)\)")


def grouping_labels(expr):
    """The labels an expression groups or matches on (by, on, ...)."""
    return {l.strip() for m in GROUPING.finditer(expr) for l in m.group(1).split(",")
            if l.strip()}


def used_queries():
    """(where, expr, {labels read outside selectors}) of every query of the
    dashboard and every rule."""
    if yaml is None:
        raise AssertionError("python3-yaml is not installed: apt-get install python3-yaml")
    out = []
    with open(DASHBOARD, encoding="utf-8") as f:
        for where, q in dashboard_queries(json.load(f)):
            expr, label = as_promql(q)
            out.append(("dashboard " + where, expr,
                        grouping_labels(expr) | ({label} if label else set())))
    with open(RULES, encoding="utf-8") as f:
        for alert, expr in rule_exprs(f.read()):
            out.append(("rule " + alert, expr, grouping_labels(expr)))
    return out


def problems_against(live, queries):
    """What the queries read that a daemon's /metrics (live) does not have."""
    problems = []
    for where, expr, grouped in queries:
        found = selectors(expr)
        if not found:
            problems.append("%s reads no metric: %r" % (where, expr))
        for name, labels in found:
            if name in NOT_FROM_THE_DAEMON:
                have = TARGET_LABELS
            elif name in live:
                have = TARGET_LABELS | live[name]
            else:
                problems.append("%s: %s is not in the daemon's /metrics" % (where, name))
                continue
            if labels - have:
                problems.append("%s: %s has no label %s" % (where, name, sorted(labels - have)))
        have_any = set(TARGET_LABELS)
        for name, _ in found:
            have_any |= live.get(name, set())
        if grouped - have_any:
            problems.append("%s groups by %s, which none of its metrics has"
                            % (where, sorted(grouped - have_any)))
    return problems


class CheckFindsWhatIsMissing(unittest.TestCase):
    def test_a_missing_metric_label_or_grouping_is_reported(self):
        live = {"flashsaled_x_total": {"code"}}
        queries = [("q1", 'rate(flashsaled_x_total{code="1"}[1m])', set()),
                   ("q2", 'flashsaled_gone', set()),
                   ("q3", 'flashsaled_x_total{sale="a"}', set()),
                   ("q4", 'sum by (state) (flashsaled_x_total)', {"state"}),
                   ("q5", 'up{job="a"} == 0', set())]
        got = problems_against(live, queries)
        self.assertEqual(got, [
            "q2: flashsaled_gone is not in the daemon's /metrics",
            "q3: flashsaled_x_total has no label ['sale']",
            "q4 groups by ['state'], which none of its metrics has"])


class MetricsOfALiveDaemon:
    """The check, on a daemon of the subclass's plugin set."""

    def traffic(self, c):
        """202s, a hold, a confirm, and 409s of both kinds, so that every
        counter and histogram the files read has counted something."""
        first, tok, _ = self.hold_for(c, "watched", "alice")
        r = c.confirm("watched", first, tok)
        self.assertEqual((r.status, r.json["status"]), (200, "booked"), r)
        self.hold_for(c, "watched", "bob")
        self.assertError(c.book("watched", token_for("alice")), 409, "already_booked")
        r = harness.book_settled(c, "watched", token_for("carol"))
        self.assertEqual((r.status, r.json["error"]), (409, "sold_out"), r)

    def check_live_metrics(self, daemon):
        c = self.client(daemon)
        self.traffic(c)
        r = c.request("GET", "/metrics")
        self.assertEqual(r.status, 200, r)
        live = exposition(r.body.decode("utf-8"))
        queries = used_queries()
        problems = problems_against(live, queries)
        self.assertEqual(problems, [], "\n".join(problems))
        own = sorted({n for _, e, _ in queries for n, _ in selectors(e)
                      if n.startswith("flashsaled_")})
        self.assertGreaterEqual(len(own), 10, "the files read too few flashsaled metrics: %s"
                                % own)
        note("%d queries read %d flashsaled metrics, all in /metrics with their labels: %s"
             % (len(queries), len(own), " ".join(own)))


SALES = [{"id": "watched", "inventory": 2, "hold_seconds": 300}]


class EmbeddedPlugins(MetricsOfALiveDaemon, harness.DaemonTestCase):
    START_DAEMON = False

    def test_every_metric_used_is_in_a_live_daemons_metrics(self):
        self.check_live_metrics(self.start_daemon(SALES))


class RealPlugins(MetricsOfALiveDaemon, real_backends.RealBackendsCase):
    def test_every_metric_used_is_in_a_live_daemons_metrics(self):
        self.check_live_metrics(self.real_daemon(SALES))


if __name__ == "__main__":
    harness.main()
