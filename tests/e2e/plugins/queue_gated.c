/*
 * queue_gated.c - a test plugin, never installed: the memory queue, except
 * that consume() delivers nothing while the file named by `gate` exists, and
 * does not return at all while the file named by `stall` exists (and
 * creates `stall`.reached when it begins to wait, for the test to know).
 *
 * End-to-end tests use it to keep accepted requests in the queue (the worker
 * finds nothing to decide) so that a sale's queue reaches its depth limit
 * deterministically, without racing the worker; `stall` stands for a backend
 * call that hangs, so that a shutdown has something to wait for. It is the
 * memory plugin's
 * own code, compiled in here, so it queues exactly as the shipped one does.
 */
#include <stdio.h>
#include <unistd.h>

/* The memory plugin's descriptor under another name: this file exports its
 * own. */
#define fs_plugin_descriptor queue_gated_memory_descriptor
#include "plugins/queue_memory/queue_memory.c"
#undef fs_plugin_descriptor

struct queue_gated_config {
    struct queue_memory_config memory;
    char *gate;
    char *stall;
};

static const struct fs_option queue_gated_options[] = {
    {FS_OPT_INT, "capacity", "1000000",
     offsetof(struct queue_gated_config, memory.capacity),
     "as the memory queue's"},
    {FS_OPT_PATH, "gate", NULL, offsetof(struct queue_gated_config, gate),
     "while this file exists, consume delivers nothing"},
    {FS_OPT_PATH, "stall", "", offsetof(struct queue_gated_config, stall),
     "while this file exists, consume does not return"},
    {FS_OPT_END, NULL, NULL, 0, NULL},
};

/* One queue per daemon: the files' paths can live beside it. */
static char gate_path[4096];
static char stall_path[4096];

static int queue_gated_create(const struct fs_host *host, const void *config,
                              void **ctx, char *err, size_t errlen)
{
    const struct queue_gated_config *cfg = config;

    if (!cfg || !cfg->gate || !*cfg->gate) {
        snprintf(err, errlen, "gate: a file path is required");
        return -1;
    }
    snprintf(gate_path, sizeof(gate_path), "%s", cfg->gate);
    snprintf(stall_path, sizeof(stall_path), "%s", cfg->stall ? cfg->stall : "");
    return queue_memory_create(host, &cfg->memory, ctx, err, errlen);
}

static enum fs_status queue_gated_consume(void *ctx, struct fs_delivery *out,
                                          size_t max, size_t *n, int timeout_ms)
{
    if (stall_path[0] && access(stall_path, F_OK) == 0) {
        char reached[sizeof(stall_path) + 8];
        FILE *f;

        snprintf(reached, sizeof(reached), "%s.reached", stall_path);
        if ((f = fopen(reached, "w")))
            fclose(f);
    }
    while (stall_path[0] && access(stall_path, F_OK) == 0)
        usleep(20 * 1000);
    if (access(gate_path, F_OK) == 0) {
        /* Closed: wait a little, as an empty queue would, and deliver none. */
        usleep((useconds_t)(timeout_ms < 50 ? timeout_ms : 50) * 1000);
        *n = 0;
        return FS_TIMEOUT;
    }
    return queue_memory_consume(ctx, out, max, n, timeout_ms);
}

static const struct fs_queue_ops queue_gated_ops = {
    .publish = queue_memory_publish,
    .consume = queue_gated_consume,
    .ack = queue_memory_ack,
    .nack = queue_memory_nack,
    .depth = queue_memory_depth,
};

const struct fs_plugin fs_plugin_descriptor = {
    .abi_version = FS_PLUGIN_ABI_VERSION,
    .struct_size = sizeof(struct fs_plugin),
    .kind = FS_PLUGIN_QUEUE,
    .name = "gated",
    .description = "test only: the memory queue, closed while a file exists",
    .version = "1.0.0",
    .flags = FS_PLUGIN_THREAD_SAFE,
    .options = queue_gated_options,
    .config_size = sizeof(struct queue_gated_config),
    .create = queue_gated_create,
    .destroy = queue_memory_destroy,
    .health = queue_memory_health,
    .queue = &queue_gated_ops,
};
