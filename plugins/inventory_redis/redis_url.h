/*
 * redis_url.h - parses the plugin's `url` option,
 * redis://[user:password@]host[:port][/db], into the parts hiredis needs.
 */
#ifndef FS_INVENTORY_REDIS_URL_H
#define FS_INVENTORY_REDIS_URL_H

#include <stddef.h>

#define REDIS_URL_HOST_MAX 255
#define REDIS_URL_CRED_MAX 255

struct redis_url {
    char host[REDIS_URL_HOST_MAX + 1];      /* name or address, no brackets */
    int port;                               /* default 6379 */
    char user[REDIS_URL_CRED_MAX + 1];      /* ACL user; empty: none */
    char password[REDIS_URL_CRED_MAX + 1];  /* empty: no AUTH */
    int db;                                 /* SELECT'ed when non-zero */
};

/* Fills *out and returns 0, or writes a reason into err and returns -1.
 * User and password may be percent-encoded (a ':' or '@' in a password must
 * be). "user@" without a colon is refused as ambiguous; a password alone is
 * written ":password@". */
int redis_url_parse(const char *url, struct redis_url *out, char *err,
                    size_t errlen);

#endif
