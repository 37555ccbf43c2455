/*
 * jwks_fetch.h - where the IdP's keys come from, kept fresh: auth.jwks_file
 * (re-read when it changes) and auth.jwks_url (fetched over HTTPS, cached,
 * refreshed). Request threads only ever read the current snapshot; every
 * read of a file and every fetch happens on one refresher thread, so no
 * request waits for the IdP.
 */
#ifndef FS_JWKS_FETCH_H
#define FS_JWKS_FETCH_H

#include <stddef.h>
#include <stdint.h>

#include "jwks.h"

struct fs_jwks_source_config {
    const char *file;        /* a JWKS document on disk, or NULL */
    const char *url;         /* an https:// URL, or NULL */
    const char *ca_file;     /* CA bundle for the URL; NULL: the system's */
    int64_t refresh_s;       /* the URL is fetched again this often */
    int64_t min_interval_s;  /* least time between two fetches: the bound on
                                refreshes asked for by unknown kids, and the
                                retry period while the IdP is unreachable */
    int64_t file_poll_ms;    /* how often the file's stat is looked at */
};

struct fs_jwks_source;

/* Reads the file and fetches the URL once, before returning. A file that
 * cannot be read or parsed is an error (err says why); a URL that cannot be
 * fetched is logged and retried by the refresher (the set is empty until
 * then). NULL on error. */
struct fs_jwks_source *fs_jwks_source_create(
    const struct fs_jwks_source_config *cfg, char *err, size_t errlen);
/* Starts the refresher thread. 0 on success. */
int fs_jwks_source_start(struct fs_jwks_source *src);
/* Stops and joins the refresher, frees the cached sets. NULL is ignored. */
void fs_jwks_source_free(struct fs_jwks_source *src);

/* The key named kid[0..kid_len) in the current sets (file first, then URL),
 * or NULL. On success *hold is a reference to the set that owns the key:
 * drop it with fs_jwks_unref() once the key is no longer used. */
const struct fs_jwk *fs_jwks_source_find(struct fs_jwks_source *src,
                                         const char *kid, size_t kid_len,
                                         struct fs_jwks **hold);
/* A token named a kid no set knows: asks the refresher to fetch the URL
 * again, at most once per min_interval_s however many ask. Never blocks. */
void fs_jwks_source_unknown_kid(struct fs_jwks_source *src);

#endif
