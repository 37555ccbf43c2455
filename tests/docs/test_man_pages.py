"""test_man_pages.py - keeps the man pages in docs/man true to the code.

Every key of the core's key tables (src/config.c) is documented in
flashsaled.yaml(5) with its range; every key of every plugin this build has
(as `flashsaled --help-plugin` prints it) with its type and default; every
option of src/main.c in flashsaled(8); every hook, fs.* helper and setting
of the shipped policies in flashsaled-policies(7). The mdoc itself is linted
by `mandoc -T lint -W warning docs/man/*` (make lint-man), not here: mandoc
is not among the build's dependencies.

Runs under make check (FS_SRCDIR, FS_DAEMON, FS_PLUGIN_DIR are set there);
the embedded plugins must be built, the real ones are checked when built
and named in the output when not."""

import os
import re
import subprocess
import unittest

SRCDIR = os.environ.get("FS_SRCDIR",
                        os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
DAEMON = os.environ.get("FS_DAEMON", "flashsaled")
PLUGIN_DIR = os.environ.get("FS_PLUGIN_DIR", "")
# The data folder this build compiled in ($(localstatedir)/lib/flashsaled):
# the page shows the Debian package's, /var/lib/flashsaled, in its place.
DATA_DIR = os.environ.get("FS_DATA_DIR", "")
PAGE_DATA_DIR = "/var/lib/flashsaled"
MAN = os.path.join(SRCDIR, "docs", "man")

EMBEDDED = [("queue", "memory"), ("queue", "journal"), ("inventory", "memory"),
            ("storage", "sqlite")]
REAL = [("queue", "rabbitmq"), ("inventory", "redis"), ("storage", "mongo")]
LIMITS = {"INT32_MAX": 2147483647}


def read(*parts):
    with open(os.path.join(*parts), encoding="utf-8") as f:
        return f.read()


def unescape(mdoc):
    """mdoc text as a reader sees it: '\\-' is '-', '\\&' nothing."""
    return mdoc.replace("\\-", "-").replace("\\&", "")


def item_lines(page):
    """Every '.It' line of a page, unescaped, keyed by its first Cm word."""
    items = {}
    for line in unescape(page).splitlines():
        m = re.match(r"\.It Cm (\S+)", line)
        if m:
            items.setdefault(m.group(1), line)
    return items


def subsection(page, title):
    """The text of '.Ss title' up to the next .Ss or .Sh."""
    m = re.search(r"^\.Ss %s\n(.*?)(?=^\.S[sh] )" % re.escape(title), page,
                  re.M | re.S)
    return m.group(1) if m else None


def core_key_tables():
    """{table name: [(key, parser, min, max)]} from src/config.c."""
    src = read(SRCDIR, "src", "config.c")
    tables = {}
    for m in re.finditer(r"static const struct key_spec (\w+)_keys\[\] = \{(.*?)\n\};",
                         src, re.S):
        rows = re.findall(r'\{"(\w+)", (\w+), [^,]*(?:\([^)]*\))?, ([\w-]+),\s*([\w-]+),',
                          m.group(2))
        tables[m.group(1)] = rows
    return tables


def help_plugin(kind, name):
    """[(key, type, default)] as the built plugin declares them."""
    p = subprocess.run([DAEMON, "--help-plugin", kind, name, "--plugin-dir", PLUGIN_DIR],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=30)
    if p.returncode != 0:
        raise AssertionError("flashsaled --help-plugin %s %s failed: %s"
                             % (kind, name, p.stderr.decode(errors="replace")))
    return re.findall(r"^(\w+) \((\w+), default (.*)\)$",
                      p.stdout.decode(), re.M)


class PageTest(unittest.TestCase):
    longMessage = False  # say what is missing, not the whole page


class ConfigPage(PageTest):
    page = read(MAN, "flashsaled.yaml.5")
    items = item_lines(page)

    def test_every_core_key_is_documented_with_its_range(self):
        tables = core_key_tables()
        self.assertIn("top", tables, "no key tables found in src/config.c")
        checked = 0
        for table, rows in tables.items():
            for key, parser, lo, hi in rows:
                if table == "top":
                    # sections have their own .Ss; plain top-level keys an .It
                    if parser == "parse_section" or key == "sales":
                        self.assertRegex(self.page, r"(?m)^\.Ss %s$" % key,
                                         "section %s has no .Ss" % key)
                        continue
                    name = key
                elif table == "sale":
                    name = key
                else:
                    name = "%s.%s" % (table, key)
                self.assertIn(name, self.items,
                              "config key %s is not in flashsaled.yaml.5" % name)
                if parser == "parse_int":
                    lo = LIMITS.get(lo, lo)
                    hi = LIMITS.get(hi, hi)
                    want = ("%s or more" % lo if hi == "INT64_MAX"
                            else "%s to %s" % (lo, hi))
                    self.assertIn(want, self.items[name],
                                  "%s: range %s not in its .It line" % (name, want))
                checked += 1
        self.assertGreater(checked, 25)

    def test_every_documented_dotted_key_exists(self):
        tables = core_key_tables()
        known = {"%s.%s" % (t, k[0]) for t, rows in tables.items() for k in rows}
        for name in self.items:
            if "." in name and name.split(".")[0] in tables:
                self.assertIn(name, known, "%s is documented but not a key" % name)

    def check_plugin(self, kind, name):
        text = subsection(self.page, "%s: %s" % (kind, name))
        self.assertIsNotNone(text, "no '.Ss %s: %s' in flashsaled.yaml.5" % (kind, name))
        items = item_lines(text)
        keys = help_plugin(kind, name)
        for key, type_, default in keys:
            self.assertIn(key, items, "plugins.%s.%s: key %s is not documented"
                          % (kind, name, key))
            line = items[key]
            self.assertIn("Pq %s ," % type_, line, "%s.%s: type" % (name, key))
            if DATA_DIR and default.startswith(DATA_DIR + "/"):
                default = PAGE_DATA_DIR + default[len(DATA_DIR):]
            if default:
                self.assertIn(default, line, "%s.%s: default %s" % (name, key, default))
            else:
                self.assertIn("default empty", line, "%s.%s: empty default" % (name, key))
        self.assertEqual(sorted(items), sorted(k for k, _, _ in keys),
                         "%s %s: documented keys differ from the plugin's" % (kind, name))

    def test_embedded_plugins_keys_match_help_plugin(self):
        for kind, name in EMBEDDED:
            self.check_plugin(kind, name)

    def test_real_plugins_keys_match_help_plugin(self):
        # Every plugin the page documents must be built, or its keys go
        # unchecked: a build without one fails here rather than passing
        # on a smaller check.
        missing = [("%s_%s" % (kind, name)) for kind, name in REAL
                   if not os.path.exists(os.path.join(PLUGIN_DIR, "%s_%s.so" % (kind, name)))]
        self.assertEqual(missing, [], "plugins documented in flashsaled.yaml(5) but not built "
                         "in %s: configure with --with-redis --with-rabbitmq --with-mongo "
                         "(Debian: libhiredis-dev librabbitmq-dev libmongoc-dev)" % PLUGIN_DIR)
        for kind, name in REAL:
            self.check_plugin(kind, name)


class DaemonPage(PageTest):
    page = unescape(read(MAN, "flashsaled.8"))

    def test_every_long_option_is_documented(self):
        src = read(SRCDIR, "src", "main.c")
        options = set(re.findall(r'\{"([\w-]+)", (?:required|no)_argument', src))
        self.assertGreaterEqual(len(options), 8)
        for opt in options:
            self.assertRegex(self.page, r"Fl -%s\b" % re.escape(opt),
                             "--%s is not in flashsaled.8" % opt)

    def test_signals_environment_and_exit_codes_are_documented(self):
        for word in ("SIGTERM", "SIGINT", "SIGHUP", "FLASHSALED_PLUGIN_DIR"):
            self.assertIn(word, self.page, "%s is not in flashsaled.8" % word)
        exit_status = self.page.split(".Sh EXIT STATUS", 1)[1].split(".Sh ", 1)[0]
        self.assertEqual(re.findall(r"^\.It (\d)$", exit_status, re.M), ["0", "1", "2"])


class PoliciesPage(PageTest):
    page = unescape(read(MAN, "flashsaled-policies.7"))

    def test_every_hook_and_helper_is_documented(self):
        policy = read(SRCDIR, "src", "policy.c")
        helpers = read(SRCDIR, "src", "policy_helpers.c")
        hooks = re.search(r"HOOK_NAMES\[HOOKS\] = \{(.*?)\};", policy, re.S).group(1)
        for hook in re.findall(r'"(\w+)"', hooks):
            self.assertIn(".It Fn %s req" % hook, self.page, "hook %s" % hook)
        names = re.findall(r'\{"(\w+)", l_\w+\}', helpers)
        names += re.findall(r'lua_setfield\(L, -2, "(\w+)"\);\n}', helpers)
        names += ["hit", "count"]
        for name in names:
            self.assertIn(".It Fn fs.%s" % name, self.page, "helper fs.%s" % name)
        self.assertIn(".It Va fs.settings", self.page, "fs.settings")

    def test_every_shipped_policy_and_setting_is_documented(self):
        folder = os.path.join(SRCDIR, "policies")
        files = sorted(f for f in os.listdir(folder) if f.endswith(".lua"))
        self.assertEqual(len(files), 3)
        for f in files:
            self.assertIn(".Ss %s" % f, self.page, "policy %s" % f)
            for setting in re.findall(r'"((?:bot|user)_\w+)"', read(folder, f)):
                self.assertIn(".It Cm %s " % setting, self.page,
                              "%s: setting %s" % (f, setting))
        for pattern in ("hold_seconds_ Ns Ar sale-id", "hold_group_ Ns Ar name"):
            self.assertIn(pattern, self.page, "hold_duration.lua: %s" % pattern)


if __name__ == "__main__":
    unittest.main(verbosity=2)
