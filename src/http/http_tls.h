/*
 * http_tls.h - TLS on the listener: the certificate and key of the `tls`
 * block, checked with OpenSSL for --check-config and handed to civetweb's
 * SSL context, and the OpenSSL 3 shim civetweb 1.15 needs (see
 * src/tls_shim/openssl3_shim.c).
 */
#ifndef FS_HTTP_TLS_H
#define FS_HTTP_TLS_H

#include <stddef.h>

#include "config.h"

/* The shims' file names, in the plugin folder ($(pkglibdir)): each name is
 * its SONAME, which is what makes it work. */
#define FS_TLS_SHIM_SSL "libssl.so"
#define FS_TLS_SHIM_CRYPTO "libcrypto.so"

/* Reads cfg->tls's certificate and key as the server will: a readable PEM
 * certificate, a readable unencrypted PEM key, and the key the certificate's
 * own. 0 when good or when TLS is off; else -1 and "file:line: why" in err
 * (`file` is the config file as the user named it). */
int fs_tls_check(const struct fs_config *cfg, const char *file, char *err,
                 size_t errlen);

/* Before mg_start, when TLS is on: loads the shims from plugin_dir, else
 * from installed_dir (the compiled-in plugin folder). -1 and err when it
 * cannot. */
int fs_tls_load_shim(const char *plugin_dir, const char *installed_dir,
                     char *err, size_t errlen);
/* After mg_stop: unloads it. Safe when never loaded. */
void fs_tls_unload_shim(void);

/* 1 when tls.min_version is 1.3 (else 1.2). */
int fs_tls_wants_13(const struct fs_config *cfg);

/* civetweb's init_ssl callback: puts the certificate chain, the key and the
 * minimum version into civetweb's SSL_CTX. 1 (done) or -1; then
 * fs_tls_error() says why (NULL while nothing failed). */
int fs_tls_setup_ctx(void *ssl_ctx, const struct fs_config *cfg);
const char *fs_tls_error(void);

#endif
