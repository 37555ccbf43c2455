/*
 * openssl3_shim.c - lets Debian 12's civetweb (1.15) serve TLS with OpenSSL 3.
 *
 * Why it exists: libcivetweb 1.15 does not link OpenSSL; at mg_start it
 * dlopen()s "libssl.so" and "libcrypto.so" and looks up each function it
 * uses. One of them, SSL_get_peer_certificate, is gone from OpenSSL 3's
 * exports (it became a macro for SSL_get1_peer_certificate; civetweb issue
 * #1334). civetweb stores the missing lookup as NULL and calls it on the
 * first TLS connection: SIGSEGV. This library's SONAME is "libssl.so" and it
 * links libssl.so.3; the daemon dlopen()s it before mg_start, so glibc
 * answers civetweb's dlopen("libssl.so") with this already-loaded library,
 * and civetweb's dlsym() finds SSL_get_peer_certificate here and every other
 * function in libssl.so.3, its dependency. (src/http/http_tls.c loads it.)
 *
 * References: SSL_get1_peer_certificate returns a new reference, exactly as
 * OpenSSL 1.1's SSL_get_peer_certificate did (only the name changed). The one
 * caller, ssl_get_client_cert_info() in civetweb 1.15's src/civetweb.c, keeps
 * the certificate in request_info.client_cert->peer_cert and X509_free()s it
 * once the connection's requests are done: one reference taken, one given
 * back, so neither a leak nor a double free. (The daemon asks for no client
 * certificate, so the call returns NULL anyway.)
 *
 * When civetweb links OpenSSL 3 itself (1.16 and later), this is not needed
 * and does no harm.
 */
#include <openssl/ssl.h>

#undef SSL_get_peer_certificate

/* Exported under the OpenSSL 1.1 name civetweb looks up. */
X509 *SSL_get_peer_certificate(const SSL *ssl);

X509 *SSL_get_peer_certificate(const SSL *ssl)
{
    return SSL_get1_peer_certificate(ssl);
}
