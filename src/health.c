/*
 * health.c - the backends' readiness (health.h).
 */
#include <string.h>

#include "health.h"
#include "plugin_loader.h"
#include "states.h"

void fs_health_scrub_userinfo(const char *in, char *out, size_t size)
{
    size_t o = 0;

    if (size == 0)
        return;
    while (*in && o + 1 < size) {
        if (strncmp(in, "://", 3) == 0) {
            size_t span = strcspn(in + 3, "@/ \t");
            for (int i = 0; i < 3 && o + 1 < size; i++)
                out[o++] = *in++;
            if (in[span] == '@') {
                for (const char *m = "***"; *m && o + 1 < size; m++)
                    out[o++] = *m;
                in += span;
            }
            continue;
        }
        out[o++] = *in++;
    }
    out[o] = '\0';
}

int fs_health_check(struct fs_service *svc,
                    struct fs_backend_health out[FS_HEALTH_KINDS])
{
    struct fs_backend *parts[FS_HEALTH_KINDS] = {
        &svc->be->queue, &svc->be->inventory, &svc->be->storage};
    int all = 1;

    for (size_t i = 0; i < FS_HEALTH_KINDS; i++) {
        char detail[FS_HEALTH_DETAIL_MAX] = "";
        enum fs_status rc = fs_backend_health(parts[i], detail, sizeof(detail));

        out[i].kind = fs_plugin_kind_name(parts[i]->kind);
        out[i].plugin = parts[i]->plugin->name;
        out[i].ready = rc == FS_OK;
        out[i].detail[0] = '\0';
        if (rc != FS_OK) {
            all = 0;
            fs_health_scrub_userinfo(detail[0] ? detail : fs_status_name(rc),
                                     out[i].detail, sizeof(out[i].detail));
        }
    }
    return all;
}
