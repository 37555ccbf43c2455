"""test_tls.py - TLS on the listener (tls: cert_file, key_file, min_version
and an 's' port in listen): a booking over HTTPS checked by curl --cacert
against a CA the test makes with the openssl CLI, HTTP and HTTPS ports side
by side, plain HTTP sent to the TLS port refused without harm, the minimum
version, and --check-config naming what is wrong with a certificate or key.

The daemon under test must exit 0 after SIGTERM (the harness checks it), so
under the sanitizers a leak in the TLS set-up fails these tests too."""

import os
import shutil
import subprocess
import tempfile

import harness
from harness import HOST, LAUNCH, note, scaled, token_for

CURL_TIMEOUT = scaled(10)
PKI = None  # the test's certificates, made once (setUpModule)


def openssl(*args, cwd):
    r = subprocess.run(["openssl"] + list(args), cwd=cwd, stdin=subprocess.DEVNULL,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=scaled(30))
    if r.returncode != 0:
        raise AssertionError("openssl %s failed: %s" % (" ".join(args), r.stderr.decode()))


def make_pki(d):
    """A CA, a server certificate it signs for 127.0.0.1, and the files the
    --check-config cases need: a key of another certificate, an encrypted
    key, garbage where a certificate should be."""
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"]
    openssl("req", "-x509", *ec, "-keyout", "ca.key", "-out", "ca.pem", "-days", "2",
            "-subj", "/CN=flashsaled test CA", cwd=d)
    openssl("req", *ec, "-keyout", "server.key", "-out", "server.csr",
            "-subj", "/CN=127.0.0.1", cwd=d)
    with open(os.path.join(d, "san.ext"), "w") as f:
        f.write("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
            "-CAcreateserial", "-out", "server.pem", "-days", "2", "-extfile", "san.ext",
            cwd=d)
    openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256",
            "-out", "other.key", cwd=d)
    openssl("pkey", "-in", "server.key", "-aes256", "-passout", "pass:secret",
            "-out", "encrypted.key", cwd=d)
    with open(os.path.join(d, "garbage.pem"), "w") as f:
        f.write("-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydGlmaWNhdGU=\n"
                "-----END CERTIFICATE-----\n")
    with open(os.path.join(d, "combined.pem"), "w") as f:
        for name in ("server.pem", "server.key"):
            with open(os.path.join(d, name)) as part:
                f.write(part.read())
    return {name: os.path.join(d, name) for name in os.listdir(d)}


def setUpModule():
    global PKI
    d = tempfile.mkdtemp(prefix="flashsaled-tls-")
    PKI = make_pki(d)
    PKI["dir"] = d


def tearDownModule():
    shutil.rmtree(PKI["dir"], ignore_errors=True)


def tls_block(cert, key=None, min_version="1.2"):
    keys = ["cert_file: %s" % harness.yaml_scalar(cert)]
    if key:
        keys.append("key_file: %s" % harness.yaml_scalar(key))
    keys.append("min_version: %s" % harness.yaml_scalar(min_version))
    return "tls: { %s }" % ", ".join(keys)


def curl(url, *args):
    """curl verifying the server against the test's CA. (rc, status, headers,
    body, stderr); status 0 when no answer."""
    r = subprocess.run(["curl", "-sS", "-i", "--max-time", str(CURL_TIMEOUT),
                        "--cacert", PKI["ca.pem"], "-A", harness.USER_AGENT] + list(args) + [url],
                       stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=CURL_TIMEOUT + scaled(5))
    head, _, body = r.stdout.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1]) if r.returncode == 0 and lines[0].startswith("HTTP/") else 0
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return r.returncode, status, headers, body, r.stderr.decode("latin-1")


class TlsListener(harness.DaemonTestCase):
    START_DAEMON = False

    def start_tls(self, min_version="1.2", cert=None, key=None):
        self.tls_port = harness.free_port()
        d = self.start_daemon([LAUNCH], listen_extra=["%s:%ds" % (HOST, self.tls_port)],
                              extra_lines=[tls_block(cert or PKI["server.pem"],
                                                     key if key is not None else PKI["server.key"],
                                                     min_version)])
        self.daemon = d
        self.https = "https://%s:%d" % (HOST, self.tls_port)
        return d

    def test_booking_over_https_verified_by_curl(self):
        self.start_tls()
        auth = "Authorization: Bearer %s" % token_for("tls-alice")
        rc, status, headers, body, err = curl(
            self.https + "/booking-service/book-item/launch", "-X", "POST", "-H", auth)
        self.assertEqual((rc, status), (0, 202), "POST over HTTPS: curl %d %s %r" % (rc, err, body))
        booking = harness.json.loads(body)
        self.assertEqual(booking["status"], "queued")
        self.assertIn("x-request-id", headers)
        path = "/booking-service/book-item/launch/%s" % booking["booking_id"]
        rc, status, _, body, err = curl(self.https + path, "-H", auth)
        self.assertEqual((rc, status), (0, 200), "GET over HTTPS: curl %d %s" % (rc, err))
        self.assertEqual(harness.json.loads(body)["booking_id"], booking["booking_id"])
        note("POST and GET of a booking over HTTPS, curl --cacert verified the chain")
        unverified = subprocess.run(
            ["curl", "-sS", "--max-time", str(CURL_TIMEOUT), self.https + "/healthz"],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            timeout=CURL_TIMEOUT + scaled(5))
        self.assertEqual(unverified.returncode, 60,
                         "curl without the CA must refuse the certificate (exit 60): %r"
                         % unverified.stderr)
        note("curl without --cacert refuses the test CA's certificate: it is real TLS")

    def test_http_and_https_side_by_side(self):
        self.start_tls()
        tok = token_for("tls-bob")
        r = self.client().book("launch", tok)
        self.assertEqual(r.status, 202, "POST over plain HTTP: %r" % r)
        rc, status, _, body, err = curl(self.https + "/booking-service/book-item/launch",
                                        "-X", "POST", "-H", "Authorization: Bearer %s" % tok)
        self.assertEqual((rc, status), (0, 409), "second POST over HTTPS: curl %d %s" % (rc, err))
        self.assertEqual(harness.json.loads(body)["error"], "already_booked")
        rc, status, _, body, _ = curl(self.https + "/booking-service/sales/launch")
        self.assertEqual(status, 200)
        self.assertEqual(harness.json.loads(body), self.sale_view(self.client(), "launch"))
        note("one sale, one user, both ports: 202 over HTTP, 409 already_booked over HTTPS")

    def test_plain_http_to_the_tls_port_is_refused_and_harms_nothing(self):
        self.start_tls()
        for i in range(20):
            out = harness.raw_exchange(self.tls_port,
                                       b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            self.assertFalse(out.startswith(b"HTTP/1.1 200"),
                             "plain HTTP served on the TLS port: %r" % out[:200])
        note("20 plain-HTTP requests on the TLS port: closed without an answer (%r)" % out[:40])
        self.assertTrue(self.daemon.alive(), "the daemon died")
        rc, status, _, _, err = curl(self.https + "/healthz")
        self.assertEqual((rc, status), (0, 200), "HTTPS after them: curl %d %s" % (rc, err))
        self.assertEqual(self.client().request("GET", "/healthz").status, 200)
        note("HTTPS and HTTP still answer 200")

    def test_min_version_13_refuses_a_tls12_client(self):
        self.start_tls(min_version="1.3")
        old_rc, status, _, _, _ = curl(self.https + "/healthz", "--tls-max", "1.2")
        self.assertNotEqual(old_rc, 0, "a TLS 1.2 client was served with min_version 1.3")
        self.assertEqual(status, 0)
        rc, status, _, _, err = curl(self.https + "/healthz", "--tlsv1.3")
        self.assertEqual((rc, status), (0, 200), "TLS 1.3 client: curl %d %s" % (rc, err))
        note("min_version 1.3: a TLS 1.2 client gets no answer (curl exit %d), 1.3 is served"
             % old_rc)

    def test_key_in_the_certificate_file(self):
        self.start_tls(cert=PKI["combined.pem"], key="")
        rc, status, _, _, err = curl(self.https + "/healthz")
        self.assertEqual((rc, status), (0, 200), "curl %d %s" % (rc, err))
        note("tls.cert_file holding certificate and key, no key_file: served")


class TlsCheckConfig(harness.DaemonTestCase):
    """--check-config (and a start) refuse a TLS block that cannot work, with
    file:line and the reason."""
    START_DAEMON = False

    def check(self, tls_line, listen="127.0.0.1:18080,127.0.0.1:18443s",
              command="--check-config"):
        d = tempfile.mkdtemp(prefix="flashsaled-tlscfg-")
        self.addCleanup(shutil.rmtree, d, True)
        path = os.path.join(d, "flashsaled.yaml")
        lines = ['listen: "%s"' % listen,
                 'auth: { jwt_secret: "a-test-secret-of-enough-length" }']
        if tls_line:
            lines.append(tls_line)
        lines.append("sales: [ { id: launch, inventory: 10 } ]")
        with open(path, "w") as f:
            f.write("\n".join(lines) + "\n")
        r = harness.run_cli([command, path, "--plugin-dir", harness.PLUGIN_DIR])
        return r.returncode, r.stderr.decode(), path

    def assertRefused(self, tls_line, line, *words, listen="127.0.0.1:18080,127.0.0.1:18443s"):
        rc, err, path = self.check(tls_line, listen)
        self.assertEqual(rc, 1, "exit %d, expected 1:\n%s" % (rc, err))
        self.assertIn("%s:%d: " % (path, line), err)
        for w in words:
            self.assertIn(w, err)
        self.assertNotIn("Sanitizer", err)
        note("refused: %s" % err.strip().split(": ", 1)[1])

    def test_good_certificate_and_key_pass(self):
        rc, err, _ = self.check(tls_block(PKI["server.pem"], PKI["server.key"]))
        self.assertEqual(rc, 0, err)

    def test_missing_certificate(self):
        self.assertRefused(tls_block(os.path.join(PKI["dir"], "nowhere.pem"), PKI["server.key"]),
                           3, "tls.cert_file", "nowhere.pem", "No such file")

    def test_garbage_certificate(self):
        self.assertRefused(tls_block(PKI["garbage.pem"], PKI["server.key"]),
                           3, "tls.cert_file", "garbage.pem", "no usable PEM certificate")

    def test_key_of_another_certificate(self):
        self.assertRefused(tls_block(PKI["server.pem"], PKI["other.key"]),
                           3, "tls.key_file", "other.key", "is not the key of the certificate")

    def test_encrypted_key(self):
        self.assertRefused(tls_block(PKI["server.pem"], PKI["encrypted.key"]),
                           3, "tls.key_file", "encrypted")

    def test_key_path_is_a_folder(self):
        self.assertRefused(tls_block(PKI["server.pem"], PKI["dir"]),
                           3, "tls.key_file", "is not a file")

    def test_tls_port_without_certificate(self):
        self.assertRefused(None, 1, "listen", "TLS port", "tls.cert_file")

    def test_certificate_without_tls_port(self):
        self.assertRefused(tls_block(PKI["server.pem"], PKI["server.key"]), 3,
                           "no port in listen", listen="127.0.0.1:18080")

    def test_unknown_min_version(self):
        self.assertRefused(tls_block(PKI["server.pem"], PKI["server.key"], "1.1"), 3,
                           "tls.min_version", "1.2 or 1.3")

    def test_a_start_with_a_mismatched_key_fails_with_the_reason(self):
        listen = "127.0.0.1:%d,127.0.0.1:%ds" % (harness.free_port(), harness.free_port())
        rc, err, path = self.check(tls_block(PKI["server.pem"], PKI["other.key"]),
                                   listen=listen, command="--config")
        self.assertEqual(rc, 1, "exit %d, expected 1:\n%s" % (rc, err))
        self.assertIn("%s:3: tls.key_file: " % path, err)
        self.assertIn("is not the key of the certificate", err)
        note("the daemon refuses to start with the reason, exit 1")


if __name__ == "__main__":
    harness.main()
