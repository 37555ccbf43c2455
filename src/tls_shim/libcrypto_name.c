/*
 * libcrypto_name.c - the second name civetweb 1.15 dlopen()s: "libcrypto.so".
 *
 * That name (an unversioned symlink) comes with libssl-dev only, which a
 * machine that runs the daemon need not have; without it civetweb cannot
 * start TLS. This library's SONAME is libcrypto.so and it links
 * libcrypto.so.3: loaded before mg_start (src/http/http_tls.c), it answers
 * civetweb's dlopen("libcrypto.so"), whose lookups then find every function
 * in libcrypto.so.3. It needs no code of its own; the one function below
 * keeps the link to libcrypto.so.3 under --as-needed.
 */
#include <openssl/crypto.h>

unsigned long fs_tls_shim_crypto_version(void);

unsigned long fs_tls_shim_crypto_version(void)
{
    return OpenSSL_version_num();
}
