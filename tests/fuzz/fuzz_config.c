/*
 * fuzz_config.c - fs_config_load (config.c) on arbitrary YAML: the file an
 * admin writes, and --check-config reads.
 *
 * Each input is written to a file in a private folder under /dev/shm (tmpfs:
 * no disk). A memfd would be nicer, but fs_config_load() takes the
 * realpath() of its argument to resolve relative paths, and the realpath of
 * /proc/self/fd/N for a memfd ("/memfd:x (deleted)") does not exist.
 *
 * Invariants: the load gives either a config that meets config.h's promises
 * or an error "<path>:<line>: ..." that names the file and a line; the plugin
 * blocks then go through fs_config_apply_options() with an option table of
 * every type, under the same rule. LeakSanitizer checks that both free all.
 */
#include <ctype.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "fuzz_check.h"
#include "ids.h"

static char dir[64];
static char path[128];

struct sample_options {
    char *path;
    char *mode;
    int64_t timeout_ms;
    int tls;
};

static const struct fs_option sample_table[] = {
    {FS_OPT_PATH, "path", "data/x.db", offsetof(struct sample_options, path), "a file"},
    {FS_OPT_STRING, "mode", "full", offsetof(struct sample_options, mode), "a word"},
    {FS_OPT_INT, "timeout_ms", "5000", offsetof(struct sample_options, timeout_ms), "ms"},
    {FS_OPT_BOOL, "tls", "false", offsetof(struct sample_options, tls), "a flag"},
    {FS_OPT_END, NULL, NULL, 0, NULL},
};

static void remove_dir(void)
{
    unlink(path);
    rmdir(dir);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    /* tmpfs where there is one; else $TMPDIR or /tmp. */
    snprintf(dir, sizeof(dir), "/dev/shm/fs-fuzz-config-XXXXXX");
    if (!mkdtemp(dir)) {
        const char *tmp = getenv("TMPDIR");
        snprintf(dir, sizeof(dir), "%s/fs-fuzz-config-XXXXXX",
                 tmp && tmp[0] && strlen(tmp) < 32 ? tmp : "/tmp");
        if (!mkdtemp(dir))
            abort();
    }
    snprintf(path, sizeof(path), "%s/flashsaled.yaml", dir);
    atexit(remove_dir);
    return 0;
}

/* "<path>:<line>: <message>" with line >= 1; or out of memory. */
static void check_error(const char *err)
{
    size_t n = strlen(path);
    const char *p = err + n;
    if (strstr(err, "out of memory"))
        return;
    if (strncmp(err, path, n) != 0 || *p != ':' || !isdigit((unsigned char)p[1])) {
        fprintf(stderr, "error without file and line: %s\n", err);
        FUZZ_CHECK(!"error names the file and a line");
    }
    FUZZ_CHECK(strtol(p + 1, NULL, 10) >= 1);
}

static void check_config(const struct fs_config *cfg)
{
    FUZZ_CHECK(cfg->path && cfg->path[0] == '/');
    FUZZ_CHECK(cfg->dir && cfg->dir[0] == '/');
    FUZZ_CHECK(cfg->listen && cfg->log_level && cfg->policies_dir);
    FUZZ_CHECK(cfg->policies_dir[0] == '/');
    FUZZ_CHECK(cfg->jwt_secret && strlen(cfg->jwt_secret) >= 16);
    FUZZ_CHECK(cfg->queue.name && cfg->inventory.name && cfg->storage.name);
    for (size_t i = 0; i < cfg->n_sales; i++) {
        const struct fs_sale_config *s = &cfg->sales[i];
        FUZZ_CHECK(fs_id_valid(s->id));
        FUZZ_CHECK(s->inventory >= 0 && s->hold_seconds > 0);
        FUZZ_CHECK(!s->starts_at_ms || !s->ends_at_ms ||
                   s->ends_at_ms > s->starts_at_ms);
        FUZZ_CHECK(fs_config_sale(cfg, s->id) == &cfg->sales[i] ||
                   !"sale ids are unique");
    }
}

static void check_block(const struct fs_config *cfg,
                        const struct fs_plugin_config *block, const char *kind)
{
    struct sample_options out;
    char err[FS_CONFIG_ERR_MAX];
    struct fs_option_values *values;

    memset(&out, 0, sizeof(out));
    err[0] = '\0';
    values = fs_config_apply_options(block, kind, sample_table, &out, cfg->dir,
                                     path, err, sizeof(err));
    if (!values) {
        check_error(err);
        return;
    }
    FUZZ_CHECK(out.path && out.path[0] == '/');
    FUZZ_CHECK(out.mode != NULL);
    FUZZ_CHECK(out.tls == 0 || out.tls == 1);
    fs_config_options_free(values);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[FS_CONFIG_ERR_MAX];
    struct fs_config *cfg;
    FILE *f = fopen(path, "wb");

    if (!f)
        abort();
    if (size && fwrite(data, 1, size, f) != size)
        abort();
    fclose(f);
    err[0] = '\0';
    cfg = fs_config_load(path, err, sizeof(err));
    if (!cfg) {
        check_error(err);
        return 0;
    }
    check_config(cfg);
    check_block(cfg, &cfg->queue, "queue");
    check_block(cfg, &cfg->inventory, "inventory");
    check_block(cfg, &cfg->storage, "storage");
    fs_config_free(cfg);
    return 0;
}
