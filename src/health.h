/*
 * health.h - the backends' readiness as the HTTP layer shows it (/readyz,
 * the admin page): one place asks the plugins, so that the two pages cannot
 * disagree, and one place keeps credentials out of what they show.
 */
#ifndef FS_HEALTH_H
#define FS_HEALTH_H

#include <stddef.h>

#include "service.h"

#define FS_HEALTH_KINDS 3
#define FS_HEALTH_DETAIL_MAX 256

struct fs_backend_health {
    const char *kind;    /* "queue", "inventory", "storage" */
    const char *plugin;  /* the plugin's name */
    int ready;
    char detail[FS_HEALTH_DETAIL_MAX];  /* why not ready; "" when ready */
};

/* Asks every backend's plugin. Returns 1 when all are ready. */
int fs_health_check(struct fs_service *svc,
                    struct fs_backend_health out[FS_HEALTH_KINDS]);

/* Copies `in` with the user:password@ of any URL in it replaced by ***@. */
void fs_health_scrub_userinfo(const char *in, char *out, size_t size);

#endif
