/*
 * jwks_fetch.c - owns the IdP's current key sets and the one thread that
 * refreshes them: auth.jwks_file, re-read when its stat changes, and
 * auth.jwks_url, fetched with libcurl.
 *
 * Why a thread and libcurl: a request that needs a key must never wait on
 * the IdP (a slow or dead IdP would otherwise hold civetweb threads during
 * a sale), so fetches happen here, off the request path, and a request that
 * names an unknown kid only asks for a refresh and is answered at once.
 * libcurl is the HTTP client every distribution keeps patched, speaks HTTPS
 * through the same OpenSSL, and bounds a fetch in time and size with plain
 * options; a hand-written client over OpenSSL would have to get redirects,
 * chunked bodies and certificate checks right itself.
 *
 * The sets are immutable and reference-counted (jwks.h). The lock guards
 * only the two pointers: a request takes it long enough to find a key and
 * take a reference, then verifies without it, and a refresh swaps a pointer.
 * A set that cannot be refreshed keeps serving (stale), which is logged on
 * the change and shown in /metrics (flashsaled_jwks_stale).
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <curl/curl.h>

#include "jwks_fetch.h"
#include "log.h"
#include "metrics.h"

#define CONNECT_TIMEOUT_MS 5000L
#define FETCH_TIMEOUT_MS 10000L

/* What tells a changed file from the one read: an editor's rename changes
 * the inode, an in-place write the size or the time. */
struct file_id {
    dev_t dev;
    ino_t ino;
    off_t size;
    struct timespec mtime;
};

struct fs_jwks_source {
    char *file, *url, *ca_file;
    int64_t refresh_ms, min_interval_ms, file_poll_ms;

    pthread_mutex_t lock;
    pthread_cond_t wake;
    struct fs_jwks *file_set, *url_set;  /* under lock */
    int stop, refresh_asked;             /* under lock */
    atomic_int stopping;                 /* read by a fetch in flight */
    int url_ok;                          /* under lock: the last fetch worked */

    /* The refresher's own. */
    int started;
    pthread_t thread;
    struct file_id file_seen;
    int file_missing;
    int64_t url_last_try_ms, file_last_check_ms;
};

static int64_t mono_ms(void)
{
    return fs_mono_ns() / 1000000;
}

/* ---- fetching the URL ---------------------------------------------------- */

struct body {
    char *buf;
    size_t len;
};

/* Returning less than given makes libcurl stop with CURLE_WRITE_ERROR: how
 * a document past FS_JWKS_DOC_MAX is cut off. */
static size_t on_body(char *data, size_t size, size_t count, void *userdata)
{
    struct body *b = userdata;
    size_t n = size * count;

    if (n > FS_JWKS_DOC_MAX - b->len)
        return 0;
    char *grown = realloc(b->buf, b->len + n + 1);
    if (grown == NULL)
        return 0;
    memcpy(grown + b->len, data, n);
    b->buf = grown;
    b->len += n;
    b->buf[b->len] = '\0';
    return n;
}

/* Non-zero aborts the transfer: a daemon asked to stop does not wait for
 * a slow IdP to answer. */
static int on_progress(void *userdata, curl_off_t dltotal, curl_off_t dlnow,
                       curl_off_t ultotal, curl_off_t ulnow)
{
    const struct fs_jwks_source *src = userdata;
    (void)dltotal;
    (void)dlnow;
    (void)ultotal;
    (void)ulnow;
    return atomic_load(&src->stopping);
}

static void fetch_options(CURL *c, const struct fs_jwks_source *src,
                          struct body *b, char *curl_err)
{
    curl_easy_setopt(c, CURLOPT_URL, src->url);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "https");
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, CONNECT_TIMEOUT_MS);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, FETCH_TIMEOUT_MS);
    curl_easy_setopt(c, CURLOPT_USERAGENT, "flashsaled");
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, b);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, curl_err);
    curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, on_progress);
    curl_easy_setopt(c, CURLOPT_XFERINFODATA, src);
    if (src->ca_file != NULL)
        curl_easy_setopt(c, CURLOPT_CAINFO, src->ca_file);
}

/* GETs the URL; 0 and the body on a 200, else -1 and err. */
static int fetch_url(const struct fs_jwks_source *src, struct body *b,
                     char *err, size_t errlen)
{
    char curl_err[CURL_ERROR_SIZE] = "";
    long status = 0;
    CURL *c = curl_easy_init();

    if (c == NULL) {
        snprintf(err, errlen, "cannot set up libcurl");
        return -1;
    }
    fetch_options(c, src, b, curl_err);
    CURLcode rc = curl_easy_perform(c);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_cleanup(c);
    if (rc == CURLE_WRITE_ERROR)
        snprintf(err, errlen, "the document is larger than %d bytes",
                 FS_JWKS_DOC_MAX);
    else if (rc != CURLE_OK)
        snprintf(err, errlen, "%s", curl_err[0] ? curl_err
                                                : curl_easy_strerror(rc));
    else if (status != 200)
        snprintf(err, errlen, "the server answered HTTP %ld", status);
    return rc == CURLE_OK && status == 200 ? 0 : -1;
}

/* ---- swapping sets ------------------------------------------------------- */

static size_t set_size(const struct fs_jwks *set)
{
    return set ? set->n : 0;
}

/* Publishes the key count and staleness; under lock. */
static void publish_state(const struct fs_jwks_source *src)
{
    fs_metrics_jwks_state((long)(set_size(src->file_set) +
                                 set_size(src->url_set)),
                          src->url != NULL && !src->url_ok);
}

static void swap_set(struct fs_jwks_source *src, struct fs_jwks **slot,
                     struct fs_jwks *set)
{
    pthread_mutex_lock(&src->lock);
    struct fs_jwks *old = *slot;
    *slot = set;
    publish_state(src);
    pthread_mutex_unlock(&src->lock);
    fs_jwks_unref(old);  /* requests still verifying keep their reference */
}

static int refresh_url(struct fs_jwks_source *src, char *err, size_t errlen)
{
    struct body b = {0};
    struct fs_jwks *set = NULL;

    if (fetch_url(src, &b, err, errlen) == 0)
        set = fs_jwks_parse(b.buf ? b.buf : "", b.len, err, errlen);
    free(b.buf);
    fs_metrics_jwks_refresh("url", set != NULL);
    pthread_mutex_lock(&src->lock);
    int was_ok = src->url_ok;
    src->url_ok = set != NULL;
    size_t cached = set_size(src->url_set);
    publish_state(src);
    pthread_mutex_unlock(&src->lock);
    if (set == NULL) {
        /* Logged when it starts failing, not on every retry. */
        if (was_ok)
            fs_log_warn("auth.jwks_url: cannot refresh %s: %s; serving the "
                        "%zu cached keys until it answers", src->url, err,
                        cached);
        return -1;
    }
    if (!was_ok)
        fs_log_info("auth.jwks_url: %zu keys from %s", set->n, src->url);
    swap_set(src, &src->url_set, set);
    return 0;
}

static int file_id_of(const char *path, struct file_id *id)
{
    struct stat st;

    if (stat(path, &st) != 0)
        return -1;
    *id = (struct file_id){.dev = st.st_dev, .ino = st.st_ino,
                           .size = st.st_size, .mtime = st.st_mtim};
    return 0;
}

static int file_id_equal(const struct file_id *a, const struct file_id *b)
{
    return a->dev == b->dev && a->ino == b->ino && a->size == b->size &&
           a->mtime.tv_sec == b->mtime.tv_sec &&
           a->mtime.tv_nsec == b->mtime.tv_nsec;
}

static int load_file(struct fs_jwks_source *src, char *err, size_t errlen)
{
    struct fs_jwks *set = fs_jwks_load_file(src->file, err, errlen);

    if (set == NULL)
        return -1;
    swap_set(src, &src->file_set, set);
    return 0;
}

/* Re-reads the file when its stat changed. A file that vanished or no
 * longer parses leaves the keys read before in place. */
static void check_file(struct fs_jwks_source *src)
{
    char err[512];
    struct file_id now;

    if (file_id_of(src->file, &now) != 0) {
        if (!src->file_missing)
            fs_log_warn("auth.jwks_file: cannot see '%s' (%s); keeping the "
                        "keys read before", src->file, strerror(errno));
        src->file_missing = 1;
        return;
    }
    if (!src->file_missing && file_id_equal(&now, &src->file_seen))
        return;
    src->file_missing = 0;
    src->file_seen = now;
    int ok = load_file(src, err, sizeof(err)) == 0;
    fs_metrics_jwks_refresh("file", ok);
    if (ok)
        fs_log_info("auth.jwks_file: re-read '%s'", src->file);
    else
        fs_log_warn("auth.jwks_file: '%s' changed but is refused, keeping "
                    "the keys read before: %s", src->file, err);
}

/* ---- the refresher thread ------------------------------------------------ */

/* When the URL is due next; under lock. */
static int64_t url_due_ms(const struct fs_jwks_source *src)
{
    int urgent = src->refresh_asked || !src->url_ok;
    return src->url_last_try_ms +
           (urgent ? src->min_interval_ms : src->refresh_ms);
}

static void wait_until(struct fs_jwks_source *src, int64_t due_ms)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    int64_t wait_ms = due_ms - mono_ms();
    ts.tv_sec += wait_ms / 1000;
    ts.tv_nsec += (wait_ms % 1000) * 1000000;
    if (ts.tv_nsec >= 1000000000) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000;
    }
    pthread_cond_timedwait(&src->wake, &src->lock, &ts);
}

static void *refresher(void *arg)
{
    struct fs_jwks_source *src = arg;
    char err[512];

    pthread_mutex_lock(&src->lock);
    while (!src->stop) {
        int64_t now = mono_ms();
        int64_t file_due = src->file ? src->file_last_check_ms +
                                           src->file_poll_ms : INT64_MAX;
        int64_t url_due = src->url ? url_due_ms(src) : INT64_MAX;
        int64_t due = file_due < url_due ? file_due : url_due;
        if (due > now) {
            wait_until(src, due);
            continue;
        }
        if (url_due <= now)
            src->refresh_asked = 0;
        pthread_mutex_unlock(&src->lock);
        if (file_due <= now) {
            src->file_last_check_ms = now;
            check_file(src);
        }
        if (url_due <= now) {
            src->url_last_try_ms = now;
            refresh_url(src, err, sizeof(err));
        }
        pthread_mutex_lock(&src->lock);
    }
    pthread_mutex_unlock(&src->lock);
    return NULL;
}

/* ---- the public side ----------------------------------------------------- */

static int copy_config(struct fs_jwks_source *src,
                       const struct fs_jwks_source_config *cfg)
{
    src->refresh_ms = cfg->refresh_s * 1000;
    src->min_interval_ms = cfg->min_interval_s * 1000;
    src->file_poll_ms = cfg->file_poll_ms > 0 ? cfg->file_poll_ms : 1000;
    src->file = cfg->file ? strdup(cfg->file) : NULL;
    src->url = cfg->url ? strdup(cfg->url) : NULL;
    src->ca_file = cfg->ca_file ? strdup(cfg->ca_file) : NULL;
    return (cfg->file && !src->file) || (cfg->url && !src->url) ||
                   (cfg->ca_file && !src->ca_file)
               ? -1
               : 0;
}

static int init_sync(struct fs_jwks_source *src)
{
    pthread_condattr_t attr;

    if (pthread_condattr_init(&attr) != 0)
        return -1;
    /* The refresher's deadlines must not move when the wall clock does. */
    int rc = pthread_condattr_setclock(&attr, CLOCK_MONOTONIC) != 0 ||
             pthread_cond_init(&src->wake, &attr) != 0;
    pthread_condattr_destroy(&attr);
    if (rc)
        return -1;
    if (pthread_mutex_init(&src->lock, NULL) != 0) {
        pthread_cond_destroy(&src->wake);
        return -1;
    }
    return 0;
}

static int first_load(struct fs_jwks_source *src, char *err, size_t errlen)
{
    char why[512];

    if (src->file != NULL) {
        file_id_of(src->file, &src->file_seen);
        src->file_last_check_ms = mono_ms();
        if (load_file(src, why, sizeof(why)) != 0) {
            snprintf(err, errlen, "auth.jwks_file: %s", why);
            return -1;
        }
    }
    if (src->url != NULL) {
        src->url_ok = 1;  /* so that a first failure is logged */
        src->url_last_try_ms = mono_ms();
        refresh_url(src, why, sizeof(why));
    }
    return 0;
}

struct fs_jwks_source *fs_jwks_source_create(
    const struct fs_jwks_source_config *cfg, char *err, size_t errlen)
{
    struct fs_jwks_source *src = calloc(1, sizeof(*src));

    if (src == NULL || init_sync(src) != 0) {
        free(src);
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    atomic_init(&src->stopping, 0);
    /* Paired with curl_global_cleanup in fs_jwks_source_free; libcurl
     * counts them (thread-safe since 7.84). */
    curl_global_init(CURL_GLOBAL_DEFAULT);
    if (copy_config(src, cfg) != 0) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    if (first_load(src, err, errlen) != 0)
        goto fail;
    return src;
fail:
    fs_jwks_source_free(src);
    return NULL;
}

int fs_jwks_source_start(struct fs_jwks_source *src)
{
    if (pthread_create(&src->thread, NULL, refresher, src) != 0)
        return -1;
    src->started = 1;
    return 0;
}

void fs_jwks_source_free(struct fs_jwks_source *src)
{
    if (src == NULL)
        return;
    if (src->started) {
        atomic_store(&src->stopping, 1);
        pthread_mutex_lock(&src->lock);
        src->stop = 1;
        pthread_cond_signal(&src->wake);
        pthread_mutex_unlock(&src->lock);
        pthread_join(src->thread, NULL);
    }
    fs_jwks_unref(src->file_set);
    fs_jwks_unref(src->url_set);
    pthread_cond_destroy(&src->wake);
    pthread_mutex_destroy(&src->lock);
    free(src->file);
    free(src->url);
    free(src->ca_file);
    free(src);
    curl_global_cleanup();
}

const struct fs_jwk *fs_jwks_source_find(struct fs_jwks_source *src,
                                         const char *kid, size_t kid_len,
                                         struct fs_jwks **hold)
{
    const struct fs_jwk *key = NULL;

    *hold = NULL;
    pthread_mutex_lock(&src->lock);
    struct fs_jwks *sets[] = {src->file_set, src->url_set};
    for (size_t i = 0; i < 2 && key == NULL; i++)
        if ((key = fs_jwks_find(sets[i], kid, kid_len)) != NULL)
            *hold = fs_jwks_ref(sets[i]);
    pthread_mutex_unlock(&src->lock);
    return key;
}

void fs_jwks_source_unknown_kid(struct fs_jwks_source *src)
{
    if (src->url == NULL)
        return;
    pthread_mutex_lock(&src->lock);
    if (!src->refresh_asked) {
        src->refresh_asked = 1;
        pthread_cond_signal(&src->wake);
    }
    pthread_mutex_unlock(&src->lock);
}
