/*
 * redis_url.c - see redis_url.h. Strict on purpose: a typo in the url must
 * fail --check-config with a reason, not connect somewhere unexpected.
 */
#include <ctype.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "redis_url.h"

#define REDIS_DEFAULT_PORT 6379

static int url_fail(char *err, size_t errlen, const char *why)
{
    snprintf(err, errlen, "%s", why);
    return -1;
}

static int hex_value(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c = (char)tolower((unsigned char)c);
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

/* Percent-decodes [s, s+len) into out (NUL-terminated). */
static int decode_part(const char *s, size_t len, char *out, size_t cap,
                       const char *what, char *err, size_t errlen)
{
    size_t i, o = 0;

    for (i = 0; i < len; i++) {
        int c = (unsigned char)s[i];

        if (c == '%') {
            int hi = i + 2 < len ? hex_value(s[i + 1]) : -1;
            int lo = i + 2 < len ? hex_value(s[i + 2]) : -1;

            if (hi < 0 || lo < 0) {
                snprintf(err, errlen, "url: bad percent-escape in the %s", what);
                return -1;
            }
            c = hi * 16 + lo;
            i += 2;
            if (c == 0) {
                snprintf(err, errlen, "url: the %s contains %%00", what);
                return -1;
            }
        }
        if (o + 1 >= cap) {
            snprintf(err, errlen, "url: the %s is longer than %zu bytes", what,
                     cap - 1);
            return -1;
        }
        out[o++] = (char)c;
    }
    out[o] = '\0';
    return 0;
}

static int parse_number(const char *s, size_t len, long min, long max,
                        long *out)
{
    long v = 0;
    size_t i;

    if (len == 0 || len > 10)
        return -1;
    for (i = 0; i < len; i++) {
        if (!isdigit((unsigned char)s[i]))
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    if (v < min || v > max)
        return -1;
    *out = v;
    return 0;
}

/* userinfo is [s, s+len): "user:password" or ":password". */
static int parse_userinfo(const char *s, size_t len, struct redis_url *out,
                          char *err, size_t errlen)
{
    const char *colon = memchr(s, ':', len);

    if (!colon)
        return url_fail(err, errlen,
                        "url: credentials need a ':' - write "
                        "redis://:PASSWORD@host for a password or "
                        "redis://USER:PASSWORD@host for an ACL user");
    if (decode_part(s, (size_t)(colon - s), out->user, sizeof(out->user),
                    "user name", err, errlen) != 0)
        return -1;
    if (decode_part(colon + 1, len - (size_t)(colon - s) - 1, out->password,
                    sizeof(out->password), "password", err, errlen) != 0)
        return -1;
    if (out->user[0] && !out->password[0])
        return url_fail(err, errlen, "url: an ACL user needs a password");
    return 0;
}

/* hostport is [s, s+len): "host", "host:port", "[v6]" or "[v6]:port". */
static int parse_hostport(const char *s, size_t len, struct redis_url *out,
                          char *err, size_t errlen)
{
    const char *host = s, *port = NULL, *end = s + len;
    size_t hlen;
    long v;

    if (len && s[0] == '[') {
        const char *close = memchr(s, ']', len);

        if (!close)
            return url_fail(err, errlen, "url: '[' without ']' in the host");
        host = s + 1;
        hlen = (size_t)(close - host);
        if (close + 1 < end) {
            if (close[1] != ':')
                return url_fail(err, errlen, "url: junk after ']' in the host");
            port = close + 2;
        }
    } else {
        const char *colon = memchr(s, ':', len);

        hlen = colon ? (size_t)(colon - s) : len;
        if (colon)
            port = colon + 1;
    }
    if (hlen == 0)
        return url_fail(err, errlen, "url: no host");
    if (hlen > REDIS_URL_HOST_MAX)
        return url_fail(err, errlen, "url: the host is too long");
    for (size_t i = 0; i < hlen; i++)
        if (!isalnum((unsigned char)host[i]) && !strchr(".-_:%", host[i]))
            return url_fail(err, errlen, "url: bad character in the host");
    memcpy(out->host, host, hlen);
    out->host[hlen] = '\0';
    out->port = REDIS_DEFAULT_PORT;
    if (port) {
        if (parse_number(port, (size_t)(end - port), 1, 65535, &v) != 0)
            return url_fail(err, errlen,
                            "url: the port must be a number from 1 to 65535");
        out->port = (int)v;
    }
    return 0;
}

int redis_url_parse(const char *url, struct redis_url *out, char *err,
                    size_t errlen)
{
    static const char scheme[] = "redis://";
    const char *p, *path, *at;
    long db = 0;

    memset(out, 0, sizeof(*out));
    if (!url || !url[0])
        return url_fail(err, errlen, "url: empty");
    if (strncasecmp(url, "rediss://", 9) == 0)
        return url_fail(err, errlen,
                        "url: rediss:// (TLS) is not supported: this build "
                        "uses hiredis 0.14, which has no TLS");
    if (strncasecmp(url, scheme, sizeof(scheme) - 1) != 0)
        return url_fail(err, errlen,
                        "url: expected redis://[user:password@]host[:port][/db]");
    p = url + sizeof(scheme) - 1;
    if (strpbrk(p, "?#"))
        return url_fail(err, errlen,
                        "url: query strings and fragments are not supported");
    path = strchr(p, '/');
    if (!path)
        path = p + strlen(p);
    /* The last '@' before the path: a password may hold an unescaped '@'. */
    at = NULL;
    for (const char *q = p; q < path; q++)
        if (*q == '@')
            at = q;
    if (at) {
        if (parse_userinfo(p, (size_t)(at - p), out, err, errlen) != 0)
            return -1;
        p = at + 1;
    }
    if (parse_hostport(p, (size_t)(path - p), out, err, errlen) != 0)
        return -1;
    if (*path && path[1] &&
        parse_number(path + 1, strlen(path + 1), 0, INT_MAX, &db) != 0)
        return url_fail(err, errlen,
                        "url: the database after '/' must be a number");
    out->db = (int)db;
    return 0;
}
