/*
 * http_tls.c - TLS on the listener (civetweb's `s` ports).
 *
 * civetweb 1.15 reads its certificate from one PEM holding both key and
 * certificate (ssl_certificate). Rather than write the user's two files into
 * a combined temporary copy of the private key, the daemon fills civetweb's
 * SSL_CTX itself from its init_ssl callback (which civetweb calls for exactly
 * this; returning 1 tells it the certificate is set). --check-config runs
 * the same loading on a scratch SSL_CTX, so what it accepts is what the
 * server serves.
 *
 * Why shims are loaded first: see src/tls_shim/openssl3_shim.c and
 * src/tls_shim/libcrypto_name.c.
 */
#include <dlfcn.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>

#include "http_tls.h"

static void *shims[2];  /* libcrypto.so, libssl.so */
/* Written by fs_tls_setup_ctx, which civetweb calls in mg_start's thread. */
static char setup_error[512];

/* What names the place of an error: the config file and its lines. */
struct where {
    const char *file;
    const struct fs_config *cfg;
    char *err;
    size_t errlen;
};

static int failf(const struct where *w, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int failf(const struct where *w, int line, const char *fmt, ...)
{
    va_list ap;
    int n = line > 0 ? snprintf(w->err, w->errlen, "%s:%d: ", w->file, line)
                     : snprintf(w->err, w->errlen, "%s: ", w->file);

    if (n < 0 || (size_t)n >= w->errlen)
        return -1;
    va_start(ap, fmt);
    vsnprintf(w->err + n, w->errlen - (size_t)n, fmt, ap);
    va_end(ap);
    return -1;
}

/* OpenSSL's reason for the last failure, and an empty queue after. */
static const char *openssl_reason(void)
{
    static _Thread_local char text[256];
    unsigned long e = ERR_peek_last_error();

    if (e == 0)
        snprintf(text, sizeof(text), "no reason given");
    else
        ERR_error_string_n(e, text, sizeof(text));
    ERR_clear_error();
    return text;
}

int fs_tls_wants_13(const struct fs_config *cfg)
{
    return cfg->tls.min_version && strcmp(cfg->tls.min_version, "1.3") == 0;
}

/* An encrypted key cannot be used by a daemon that nobody types into: say
 * so instead of letting OpenSSL prompt on the terminal. */
static int no_password(char *buf, int size, int rwflag, void *u)
{
    (void)buf; (void)size; (void)rwflag; (void)u;
    return -1;
}

/* The file opened for reading, or NULL and the reason in err. A folder
 * opens too on Linux, and then reads as no PEM at all: say what it is. */
static FILE *open_file(const struct where *w, const char *key, int line,
                       const char *path)
{
    struct stat st;
    FILE *f;

    if (stat(path, &st) != 0 || !(f = fopen(path, "rb"))) {
        failf(w, line, "%s: cannot read %s: %s", key, path, strerror(errno));
        return NULL;
    }
    if (!S_ISREG(st.st_mode)) {
        fclose(f);
        failf(w, line, "%s: %s is not a file", key, path);
        return NULL;
    }
    return f;
}

static int readable(const struct where *w, const char *key, int line,
                    const char *path)
{
    FILE *f = open_file(w, key, line, path);

    if (!f)
        return -1;
    fclose(f);
    return 0;
}

static EVP_PKEY *read_key(const struct where *w, const char *path, int line)
{
    FILE *f = open_file(w, "tls.key_file", line, path);
    EVP_PKEY *key;

    if (!f)
        return NULL;
    key = PEM_read_PrivateKey(f, NULL, no_password, NULL);
    fclose(f);
    if (!key)
        failf(w, line, "tls.key_file: %s holds no usable PEM private key "
              "(an encrypted key is refused: the daemon cannot ask for its "
              "password) (OpenSSL: %s)", path, openssl_reason());
    return key;
}

/* The certificate chain, then the key, which must be the certificate's own. */
static int load_into_ctx(SSL_CTX *ctx, const struct where *w)
{
    const struct fs_config *cfg = w->cfg;
    const char *key_path = cfg->tls.key_file ? cfg->tls.key_file
                                             : cfg->tls.cert_file;
    int key_line = cfg->tls.key_file ? cfg->tls.key_line : cfg->tls.cert_line;
    EVP_PKEY *key;
    int rc = -1;

    ERR_clear_error();
    if (readable(w, "tls.cert_file", cfg->tls.cert_line, cfg->tls.cert_file) != 0)
        return -1;
    if (SSL_CTX_use_certificate_chain_file(ctx, cfg->tls.cert_file) != 1)
        return failf(w, cfg->tls.cert_line, "tls.cert_file: %s holds no "
                     "usable PEM certificate (OpenSSL: %s)",
                     cfg->tls.cert_file, openssl_reason());
    if (!(key = read_key(w, key_path, key_line)))
        return -1;
    if (X509_check_private_key(SSL_CTX_get0_certificate(ctx), key) != 1)
        failf(w, key_line, "tls.key_file: the key in %s is not the key of the "
              "certificate in %s (OpenSSL: %s)", key_path, cfg->tls.cert_file,
              openssl_reason());
    else if (SSL_CTX_use_PrivateKey(ctx, key) != 1)
        failf(w, key_line, "tls.key_file: the key in %s cannot be used "
              "(OpenSSL: %s)", key_path, openssl_reason());
    else if (SSL_CTX_set_min_proto_version(ctx, fs_tls_wants_13(cfg)
                                                    ? TLS1_3_VERSION
                                                    : TLS1_2_VERSION) != 1)
        failf(w, cfg->tls.min_version_line, "tls.min_version: not accepted (OpenSSL: %s)",
              openssl_reason());
    else
        rc = 0;
    EVP_PKEY_free(key);
    return rc;
}

int fs_tls_check(const struct fs_config *cfg, const char *file, char *err,
                 size_t errlen)
{
    struct where w = {file, cfg, err, errlen};
    SSL_CTX *ctx;
    int rc;

    if (!cfg->tls.cert_file)
        return 0;
    if (!(ctx = SSL_CTX_new(TLS_server_method())))
        return failf(&w, cfg->tls.cert_line, "tls: OpenSSL cannot make a "
                     "context (%s)", openssl_reason());
    rc = load_into_ctx(ctx, &w);
    SSL_CTX_free(ctx);
    return rc;
}

int fs_tls_setup_ctx(void *ssl_ctx, const struct fs_config *cfg)
{
    struct where w = {cfg->path, cfg, setup_error, sizeof(setup_error)};

    return load_into_ctx(ssl_ctx, &w) == 0 ? 1 : -1;
}

const char *fs_tls_error(void)
{
    return setup_error[0] ? setup_error : NULL;
}

static void *open_shim(const char *dir, const char *name, char *err,
                       size_t errlen)
{
    char path[4096];
    void *h;

    snprintf(path, sizeof(path), "%s/%s", dir, name);
    h = dlopen(path, RTLD_NOW | RTLD_GLOBAL);
    if (!h)
        snprintf(err, errlen, "cannot load %s, which TLS needs with "
                 "civetweb 1.15 and OpenSSL 3: %s", path, dlerror());
    return h;
}

/* From plugin_dir, else from the installed plugin folder: a plugin folder
 * of one's own need not hold the shims. */
static void *find_shim(const char *plugin_dir, const char *installed_dir,
                       const char *name, char *err, size_t errlen)
{
    void *h = open_shim(plugin_dir, name, err, errlen);

    if (!h && strcmp(plugin_dir, installed_dir) != 0)
        h = open_shim(installed_dir, name, err, errlen);
    return h;
}

int fs_tls_load_shim(const char *plugin_dir, const char *installed_dir,
                     char *err, size_t errlen)
{
    static const char *const names[2] = {FS_TLS_SHIM_CRYPTO, FS_TLS_SHIM_SSL};

    for (size_t i = 0; i < 2; i++) {
        if (!shims[i] &&
            !(shims[i] = find_shim(plugin_dir, installed_dir, names[i], err, errlen))) {
            fs_tls_unload_shim();
            return -1;
        }
    }
    return 0;
}

void fs_tls_unload_shim(void)
{
    for (size_t i = 2; i-- > 0;) {
        if (shims[i])
            dlclose(shims[i]);
        shims[i] = NULL;
    }
}
