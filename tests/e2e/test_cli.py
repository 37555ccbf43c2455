"""test_cli.py - the command line: --version, --help, usage errors,
--check-config with line numbers, the token subcommand, and the process's
life cycle (SIGTERM exits 0 promptly; a busy port is a clean failure)."""

import os
import re
import shutil
import socket
import subprocess
import tempfile
import time

import harness
from harness import SECRET, note

BROKEN_CASES = [
    # (name, text, line the error must name)
    ("bad-inventory", """listen: "127.0.0.1:18080"
plugins:
  queue: { name: memory }
  inventory: { name: memory }
  storage: { name: sqlite, path: data/bookings.db }
auth: { jwt_secret: "a-test-secret-of-enough-length" }
sales:
  - id: launch
    inventory: ten
    hold_seconds: 300
""", 9),
    ("unknown-plugin-key", """listen: "127.0.0.1:18080"
auth:
  jwt_secret: "a-test-secret-of-enough-length"
plugins:
  queue: { name: memory }
  inventory: { name: memory }
  storage:
    name: sqlite
    pth: data/bookings.db
sales:
  - { id: launch, inventory: 10 }
""", 9),
    ("bad-sale-id", """listen: "127.0.0.1:18080"
auth: { jwt_secret: "a-test-secret-of-enough-length" }
sales:
  - { id: launch, inventory: 10 }
  - { id: "bad id!", inventory: 10 }
""", 5),
    ("bad-starts-at", """listen: "127.0.0.1:18080"
auth: { jwt_secret: "a-test-secret-of-enough-length" }
sales:
  - id: launch
    inventory: 10
    starts_at: "next tuesday"
""", 6),
]


class Cli(harness.DaemonTestCase):
    START_DAEMON = False

    def setUp(self):
        super().setUp()
        self.tmp = tempfile.mkdtemp(prefix="flashsaled-e2e-cli-")
        self.addCleanup(shutil.rmtree, self.tmp, True)
        os.makedirs(os.path.join(self.tmp, "policies"))

    def cli(self, *args):
        p = harness.run_cli(args)
        return p.returncode, p.stdout.decode(errors="replace"), p.stderr.decode(errors="replace")

    def good_config(self):
        path = os.path.join(self.tmp, "good.yaml")
        with open(path, "w") as f:
            f.write(harness.render_config(harness.free_port(), harness.DEFAULT_SALES))
        os.makedirs(os.path.join(self.tmp, "policies"), exist_ok=True)
        os.makedirs(os.path.join(self.tmp, "data"), exist_ok=True)
        return path

    def test_version_prints_name_and_semver(self):
        rc, out, err = self.cli("--version")
        self.assertEqual(rc, 0, err)
        self.assertRegex(out.strip(), r"^flashsaled \d+\.\d+\.\d+")
        note("--version -> %r" % out.strip())

    def test_help_prints_usage_and_exits_0(self):
        rc, out, err = self.cli("--help")
        self.assertEqual(rc, 0, err)
        self.assertRegex(out.lower(), r"usage")
        for opt in ("--config", "--check-config", "--plugin-dir", "--version"):
            self.assertIn(opt, out, "--help does not mention %s" % opt)
        self.assertIn("token", out, "--help does not mention the token subcommand")
        note("--help -> exit 0, %d lines of usage" % len(out.splitlines()))

    def test_unknown_option_is_a_usage_error(self):
        for args in (["--no-such-option"], ["--config"], ["no-such-subcommand"]):
            rc, out, err = self.cli(*args)
            self.assertEqual(rc, 2, "%s -> exit %d (%r)" % (args, rc, err))
            self.assertTrue(err.strip(), "%s: nothing on stderr" % args)
            note("%s -> exit 2, %r" % (args, err.strip().splitlines()[0][:80]))

    def test_check_config_accepts_the_sample_config(self):
        sample = os.path.join(harness.SRCDIR, "etc", "flashsaled.yaml")
        self.assertTrue(os.path.exists(sample), "sample config %s missing" % sample)
        rc, out, err = self.cli("--check-config", sample, "--plugin-dir", harness.PLUGIN_DIR)
        self.assertEqual(rc, 0, "--check-config %s: exit %d\n%s" % (sample, rc, err))
        self.assertIn("warning: auth.jwt_secret is the sample config's, which is public", err)
        note("--check-config etc/flashsaled.yaml -> exit 0, warns of the public sample secret")

    def test_check_config_accepts_the_test_config(self):
        path = self.good_config()
        rc, out, err = self.cli("--check-config", path, "--plugin-dir", harness.PLUGIN_DIR)
        self.assertEqual(rc, 0, err)
        self.assertNotIn("jwt_secret", err, "a secret of one's own draws no warning")
        note("--check-config on the harness config -> exit 0")

    def test_the_daemon_warns_loudly_when_it_runs_on_the_sample_secret(self):
        d = self.start_daemon([harness.LAUNCH], secret="change-me-this-sample-secret-is-public")
        self.assertEqual(self.client(d).request("GET", "/healthz").status, 200)
        self.assertIn("warn  auth.jwt_secret is the sample config's, which is public", d.full_log())
        plain = self.start_daemon([harness.LAUNCH])
        self.assertEqual(self.client(plain).request("GET", "/healthz").status, 200)
        self.assertNotIn("sample config's", plain.full_log())
        note("the sample secret in use -> a warning at start; a secret of one's own -> none")

    def test_check_config_names_the_broken_line(self):
        for name, text, line in BROKEN_CASES:
            path = os.path.join(self.tmp, name + ".yaml")
            with open(path, "w") as f:
                f.write(text)
            rc, out, err = self.cli("--check-config", path, "--plugin-dir", harness.PLUGIN_DIR)
            self.assertNotEqual(rc, 0, "%s accepted" % name)
            self.assertRegex(err, r"(^|[\s/])%s\.yaml:%d:" % (re.escape(name), line),
                             "%s: stderr must say FILE:%d: (got %r)" % (name, line, err))
            note("%-18s -> exit %d, %r" % (name, rc, err.strip().splitlines()[0][:100]))

    def misspelt_plugin(self, old, new, plugin_dir):
        """--check-config of the sample config with plugin `old` renamed
        `new`: (exit code, stderr, the line of the name)."""
        with open(os.path.join(harness.SRCDIR, "etc", "flashsaled.yaml")) as f:
            lines = f.read().split("\n")
        at = next(i for i, l in enumerate(lines) if l.strip() == "name: %s" % old)
        lines[at] = lines[at].replace(old, new)
        path = os.path.join(self.tmp, "plugin-%s.yaml" % new)
        with open(path, "w") as f:
            f.write("\n".join(lines))
        rc, out, err = self.cli("--check-config", path, "--plugin-dir", plugin_dir)
        return rc, err, at + 1

    def test_a_misspelt_plugin_name_names_its_line_and_the_closest_plugin(self):
        rc, err, line = self.misspelt_plugin("sqlite", "sqlit", harness.PLUGIN_DIR)
        self.assertEqual(rc, 1, err)
        self.assertIn("plugin-sqlit.yaml:%d: plugins.storage.name 'sqlit': no such plugin in %s; "
                      "did you mean 'sqlite'?" % (line, harness.PLUGIN_DIR), err)
        self.assertEqual(err.count(harness.PLUGIN_DIR), 1, "the path said once: %r" % err)
        rc, err, line = self.misspelt_plugin("sqlite", "postgres", harness.PLUGIN_DIR)
        self.assertIn(":%d: plugins.storage.name 'postgres': no such plugin" % line, err)
        self.assertIn("known plugins: mongo, sqlite", err)
        note("name: sqlit -> line %d, did you mean 'sqlite'; postgres -> the list" % line)

    def test_a_real_plugin_this_build_lacks_says_how_to_build_it(self):
        embedded = os.path.join(self.tmp, "embedded-only")
        os.makedirs(embedded)
        for f in ("queue_memory.so", "queue_journal.so", "inventory_memory.so",
                  "storage_sqlite.so"):
            shutil.copy(os.path.join(harness.PLUGIN_DIR, f), embedded)
        rc, err, line = self.misspelt_plugin("sqlite", "mongo", embedded)
        self.assertEqual(rc, 1, err)
        self.assertIn(":%d: plugins.storage.name 'mongo': this build has no mongo plugin "
                      "(install libmongoc-dev, then configure --with-mongo)" % line, err)
        note("storage mongo on an embedded-only build -> %r" % err.strip()[:120])

    def plugin_config(self, name, plugins):
        """A config whose plugin blocks are `plugins` (kind -> lines under
        it, the first `name: ...`), each key on a line of its own: (path,
        {key: line})."""
        lines = ['listen: "127.0.0.1:18080"',
                 "auth: { jwt_secret: %s }" % harness.yaml_scalar(SECRET),
                 "plugins:"]
        lines_of = {}
        for kind in ("queue", "inventory", "storage"):
            lines.append("  %s:" % kind)
            for text in plugins.get(kind, ("name: memory" if kind != "storage"
                                           else "name: sqlite",)):
                lines.append("    " + text)
                lines_of[text.split(":")[0]] = len(lines)
        lines += ["sales:", "  - { id: launch, inventory: 10 }"]
        path = os.path.join(self.tmp, name + ".yaml")
        with open(path, "w") as f:
            f.write("\n".join(lines) + "\n")
        return path, lines_of

    def need_plugins(self, *files):
        missing = [f for f in files
                   if not os.path.exists(os.path.join(harness.PLUGIN_DIR, f))]
        if missing:
            self.skipTest("this build lacks %s (configure --with-redis "
                          "--with-rabbitmq --with-mongo)" % ", ".join(missing))

    def listener(self):
        """A socket that listens but never accepts: a plugin that connected
        would leave a connection in its backlog."""
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.addCleanup(s.close)
        s.bind((harness.HOST, 0))
        s.listen(16)
        s.setblocking(False)
        return s, "%s:%d" % (harness.HOST, s.getsockname()[1])

    def assert_nothing_connected(self, sock):
        try:
            conn, peer = sock.accept()
        except BlockingIOError:
            return
        conn.close()
        self.fail("--check-config connected to %s:%d" % sock.getsockname())

    def test_check_config_checks_each_plugins_values_with_file_and_line(self):
        self.need_plugins("inventory_redis.so", "queue_rabbitmq.so", "storage_mongo.so")
        sock, addr = self.listener()
        cases = [
            # (name, kind, block lines, the key to blame, message)
            ("sqlite-synchronous", "storage",
             ("name: sqlite", "path: data/b.db", "synchronous: fulll"), "synchronous",
             "plugins.storage.sqlite: synchronous must be full or normal, not fulll"),
            ("redis-url", "inventory",
             ("name: redis", "url: http://%s" % addr), "url",
             "plugins.inventory.redis: url: expected "
             "redis://[user:password@]host[:port][/db]"),
            ("redis-pool", "inventory",
             ("name: redis", "url: redis://%s" % addr, "pool_size: 0"), "pool_size",
             "plugins.inventory.redis: pool_size: 0 is out of range (1 to 1024)"),
            ("rabbitmq-url", "queue",
             ("name: rabbitmq", "url: http://guest:s3cr3t@%s/" % addr), "url",
             "plugins.queue.rabbitmq: url: expected "
             "amqp://user:password@host:port/vhost or amqps://..."),
            ("rabbitmq-prefetch", "queue",
             ("name: rabbitmq", "url: amqp://%s/" % addr, "prefetch: 70000"), "prefetch",
             "plugins.queue.rabbitmq: prefetch must be 1 to 65535, not 70000"),
            ("mongo-pool", "storage",
             ("name: mongo", "uri: mongodb://%s" % addr, "pool_size: 5000"), "pool_size",
             "plugins.storage.mongo: pool_size must be 0 to 1024, not 5000"),
            ("mongo-uri", "storage",
             ("name: mongo", "uri: mysql://%s" % addr), "uri",
             "plugins.storage.mongo: uri: "),
        ]
        for name, kind, block, key, message in cases:
            with self.subTest(name):
                path, lines_of = self.plugin_config(name, {kind: block})
                started = time.monotonic()
                rc, out, err = self.cli("--check-config", path,
                                        "--plugin-dir", harness.PLUGIN_DIR)
                self.assertEqual(rc, 1, "%s: exit %d, %r" % (name, rc, out + err))
                self.assertIn("flashsaled: %s:%d: %s" % (path, lines_of[key], message),
                              err)
                self.assertNotIn("s3cr3t", err, "the url's password is echoed")
                self.assertNotIn("configuration is valid", out)
                self.assert_nothing_connected(sock)
                note("%-18s -> %.2f s, %r" % (name, time.monotonic() - started,
                                             err.strip()[len("flashsaled: ") + len(path):][:90]))

    def test_check_config_of_good_plugin_values_connects_to_nothing(self):
        self.need_plugins("inventory_redis.so", "queue_rabbitmq.so", "storage_mongo.so")
        sock, addr = self.listener()
        path, _ = self.plugin_config("good-real", {
            "queue": ("name: rabbitmq", "url: amqp://guest:guest@%s/" % addr, "prefetch: 10"),
            "inventory": ("name: redis", "url: redis://%s/2" % addr, "pool_size: 4"),
            "storage": ("name: mongo", "uri: mongodb://%s" % addr, "write_concern: 1"),
        })
        rc, out, err = self.cli("--check-config", path, "--plugin-dir", harness.PLUGIN_DIR)
        self.assertEqual(rc, 0, err)
        self.assertIn("configuration is valid", out)
        self.assert_nothing_connected(sock)
        note("rabbitmq, redis and mongo at %s (listening, never accepting) -> valid, "
             "no connection in its backlog" % addr)

    def test_check_config_reports_yaml_syntax_errors_with_a_line(self):
        path = os.path.join(self.tmp, "syntax.yaml")
        with open(path, "w") as f:
            f.write('listen: "127.0.0.1:18080"\nauth: { jwt_secret: "x"\nsales: [\n')
        rc, out, err = self.cli("--check-config", path, "--plugin-dir", harness.PLUGIN_DIR)
        self.assertNotEqual(rc, 0)
        self.assertRegex(err, r"syntax\.yaml:\d+:", err)
        note("unterminated flow mapping -> exit %d, %r" % (rc, err.strip().splitlines()[0][:100]))

    def test_check_config_of_a_missing_file_fails(self):
        rc, out, err = self.cli("--check-config", os.path.join(self.tmp, "nope.yaml"),
                                "--plugin-dir", harness.PLUGIN_DIR)
        self.assertNotEqual(rc, 0)
        self.assertIn("nope.yaml", err)
        note("missing file -> exit %d, %r" % (rc, err.strip()[:100]))

    def test_token_subcommand_mints_a_verifiable_hs256_token(self):
        path = self.good_config()
        rc, out, err = self.cli("token", "--config", path, "--user", "alice", "--ttl", "120")
        self.assertEqual(rc, 0, err)
        tok = out.strip()
        header, claims, _ = harness.decode_jwt(tok)
        self.assertEqual(header.get("alg"), "HS256", header)
        self.assertEqual(claims.get("sub"), "alice", claims)
        self.assertEqual(claims["exp"] - claims["iat"], 120, claims)
        self.assertLessEqual(abs(claims["iat"] - time.time()), harness.scaled(5), claims)
        self.assertTrue(harness.jwt_signature_ok(tok, SECRET))
        self.assertFalse(harness.jwt_signature_ok(tok, SECRET + "x"))
        note("token --user alice --ttl 120 -> HS256, sub alice, exp-iat 120, signature ok")
        rc, out, err = self.cli("token", "--config", path)
        self.assertNotEqual(rc, 0, "token without --user must fail")
        note("token without --user -> exit %d" % rc)

    def test_sigterm_exits_0_promptly_even_with_an_idle_keepalive_client(self):
        d = self.start_daemon([harness.LAUNCH])
        c = self.client(d)
        self.assertEqual(c.request("GET", "/healthz").status, 200)  # connection now idle
        rc, secs, killed = d.stop()
        self.assertFalse(killed, "SIGTERM did not stop the daemon within %.0f s"
                         % harness.STOP_TIMEOUT)
        self.assertEqual(rc, 0, "exit code after SIGTERM")
        note("SIGTERM with an idle keep-alive connection -> exit 0 in %.2f s" % secs)

    def test_a_busy_port_is_a_clean_startup_failure(self):
        blocker = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.addCleanup(blocker.close)
        blocker.bind((harness.HOST, 0))
        blocker.listen(1)
        port = blocker.getsockname()[1]
        path = os.path.join(self.tmp, "busy.yaml")
        with open(path, "w") as f:
            f.write(harness.render_config(port, [harness.LAUNCH]))
        os.makedirs(os.path.join(self.tmp, "policies"), exist_ok=True)
        os.makedirs(os.path.join(self.tmp, "data"), exist_ok=True)
        try:
            p = subprocess.run([harness.DAEMON, "--config", path, "--plugin-dir", harness.PLUGIN_DIR],
                               stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, timeout=harness.scaled(15), cwd=self.tmp)
        except subprocess.TimeoutExpired:
            self.fail("daemon kept running on a port it could not bind")
        self.assertNotEqual(p.returncode, 0)
        self.assertTrue(p.stderr.strip(), "no reason given on stderr")
        lines = p.stderr.decode(errors="replace").strip().splitlines()
        why = [l for l in lines if re.search(r"error|bind|listen|port|in use", l, re.I)] or lines
        note("listen on a busy port -> exit %d, %r" % (p.returncode, why[0][:120]))

    def test_an_ipv6_listen_address_is_served_or_refused_naming_ipv6(self):
        # Debian 12's civetweb is built without IPv6; a build with it must
        # answer on the address instead. Either way, never a vague failure.
        port = harness.free_port()
        path = os.path.join(self.tmp, "v6.yaml")
        with open(path, "w") as f:
            f.write(harness.render_config(port, [harness.LAUNCH]).replace(
                '"%s:%d"' % (harness.HOST, port), '"[::1]:%d"' % port, 1))
        with open(path) as f:
            self.assertIn('"[::1]:%d"' % port, f.read(), "the test config has no listen line")
        os.makedirs(os.path.join(self.tmp, "policies"), exist_ok=True)
        os.makedirs(os.path.join(self.tmp, "data"), exist_ok=True)
        p = subprocess.Popen([harness.DAEMON, "--config", path, "--plugin-dir",
                              harness.PLUGIN_DIR], stdin=subprocess.DEVNULL,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=self.tmp)
        def reap():
            if p.poll() is None:
                p.kill()
            p.communicate()
        self.addCleanup(reap)
        deadline = time.monotonic() + harness.scaled(15)
        while time.monotonic() < deadline and p.poll() is None:
            try:
                with socket.create_connection(("::1", port), timeout=1) as s:
                    s.sendall(b"GET /healthz HTTP/1.0\r\n\r\n")
                    self.assertIn(b" 200 ", s.recv(64))
                note("[::1] listen -> served on IPv6")
                return
            except OSError:
                time.sleep(0.05)
        self.assertIsNotNone(p.poll(), "neither served on [::1] nor exited")
        err = p.communicate()[1].decode(errors="replace")
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("built without IPv6", err)
        note("[::1] listen -> exit %d naming IPv6" % p.returncode)

    def test_an_unreachable_storage_fails_the_start_within_its_timeout_naming_it(self):
        self.need_plugins("storage_mongo.so")
        port = harness.free_port()  # closed again: nothing listens there
        timeout_ms = 2000
        path = os.path.join(self.tmp, "no-mongo.yaml")
        with open(path, "w") as f:
            f.write(harness.render_config(harness.free_port(), [harness.LAUNCH, harness.SHORT],
                                          plugin_lines=(
                "  queue: { name: memory }",
                "  inventory: { name: memory }",
                "  storage: { name: mongo, uri: \"mongodb://fsuser:hunter2@%s:%d/\", "
                "timeout_ms: %d }" % (harness.HOST, port, timeout_ms))))
        started = time.monotonic()
        # One server selection (timeout_ms) and no more: not one per sale
        # and one more for the re-queue, as before.
        bound = harness.scaled(2 * timeout_ms / 1000.0)
        try:
            p = subprocess.run([harness.DAEMON, "--config", path], stdin=subprocess.DEVNULL,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               timeout=harness.scaled(60), cwd=self.tmp)
        except subprocess.TimeoutExpired:
            self.fail("the daemon kept running without its storage")
        secs = time.monotonic() - started
        err = p.stderr.decode(errors="replace")
        self.assertEqual(p.returncode, 1, err)
        self.assertLess(secs, bound, "gave up after %.1f s, not within about one "
                        "timeout_ms (%d ms):\n%s" % (secs, timeout_ms, err))
        last = err.strip().splitlines()[-1]
        self.assertIn("error storage plugin 'mongo' does not answer: mongodb %s:%d: "
                      % (harness.HOST, port), last)
        self.assertNotIn("hunter2", err, "the uri's password is in the log")
        note("storage mongo on closed port %d -> exit 1 in %.2f s (timeout_ms %d): %r"
             % (port, secs, timeout_ms, last[25:160]))

    def test_an_unreachable_queue_or_inventory_is_named_and_the_start_goes_on(self):
        self.need_plugins("inventory_redis.so", "queue_rabbitmq.so")
        port = harness.free_port()  # closed again: nothing listens there
        d = self.start_daemon([harness.LAUNCH], plugin_lines=(
            "  queue: { name: rabbitmq, url: \"amqp://guest:s3cr3t@%s:%d/\" }"
            % (harness.HOST, port),
            "  inventory: { name: redis, url: \"redis://:s3cr3t@%s:%d/\" }"
            % (harness.HOST, port),
            "  storage: { name: sqlite, path: data/bookings.db }"))
        r = self.client(d).request("GET", "/readyz")
        self.assertEqual(r.status, 503, r)
        log = d.full_log()
        for kind, name, scheme in (("inventory", "redis", "redis"),
                                   ("queue", "rabbitmq", "amqp")):
            self.assertIn("warn  %s plugin '%s' does not answer yet: %s %s:%d: "
                          % (kind, name, scheme, harness.HOST, port), log)
        self.assertNotIn("s3cr3t", log, "a url's password is in the log")
        note("redis and rabbitmq on closed port %d -> started, each named with its "
             "address in a warning, /readyz 503" % port)


if __name__ == "__main__":
    harness.main()
