/* daemon.c - start-up, signal loop and orderly shutdown. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fs_autoconf.h"

#include "backends.h"
#include "booking.h"
#include "change_feed.h"
#include "config.h"
#include "daemon.h"
#include "events.h"
#include "http/http_api.h"
#include "http/http_tls.h"
#include "log.h"
#include "metrics.h"
#include "policy.h"
#include "drain.h"
#include "recovery.h"
#include "shutdown_watch.h"
#include "states.h"
#include "sweeper.h"
#include "worker.h"

/* How long start waits for sales rebuilt at start to drain (drain.h). */
#define FS_START_DRAIN_WAIT_MS 5000

#ifndef FS_PLUGIN_DIR
#define FS_PLUGIN_DIR "/usr/local/lib/flashsaled"
#endif

const char *fs_daemon_plugin_dir(const char *cli_dir, const char *config_dir)
{
    const char *env = getenv("FLASHSALED_PLUGIN_DIR");
    if (cli_dir && *cli_dir)
        return cli_dir;
    if (config_dir && *config_dir)
        return config_dir;
    if (env && *env)
        return env;
    return FS_PLUGIN_DIR;
}

struct daemon {
    struct fs_config *cfg;
    struct fs_backends be;
    struct fs_service svc;
    struct fs_worker worker;
    struct fs_sweeper sweeper;
    struct fs_http http;
    struct fs_change_feed *feed;  /* NULL: the inventory has no change feed */
    int service_ready;
};

static struct fs_config *load_config(const char *path)
{
    char err[FS_CONFIG_ERR_MAX];
    struct fs_config *cfg = fs_config_load(path, err, sizeof(err));
    if (cfg && fs_tls_check(cfg, path, err, sizeof(err)) != 0) {
        fs_config_free(cfg);
        cfg = NULL;
    }
    if (!cfg)
        fprintf(stderr, "flashsaled: %s\n", err);
    return cfg;
}

/* Makes the inventory backend's total for the sale the configured one; a
 * decrease below what is held and booked is refused (and logged). */
static void apply_inventory(struct fs_service *svc, struct fs_sale *sale,
                            int64_t wanted)
{
    struct fs_sale_counts c;
    enum fs_status rc = fs_recovery_ensure_sale(svc, sale);

    if (rc == FS_OK)
        rc = fs_inventory_counts(svc->be, sale->id, &c);
    if (rc != FS_OK) {
        /* Not fatal: requests for the sale get 503 and rebuild it once the
         * backend answers; /readyz says which backend is down. */
        fs_log_warn("sale %s: inventory backend not ready (%s): will rebuild "
                    "on first use", sale->id, fs_status_name(rc));
        return;
    }
    if (c.inventory == wanted) {
        atomic_store(&sale->inventory, wanted);
        return;
    }
    rc = fs_inventory_set(svc->be, sale->id, wanted);
    if (rc == FS_OK) {
        atomic_store(&sale->inventory, wanted);
        fs_log_info("sale %s: inventory changed from %lld to %lld", sale->id,
                    (long long)c.inventory, (long long)wanted);
    } else {
        atomic_store(&sale->inventory, c.inventory);
        fs_log_error("sale %s: cannot set inventory to %lld: %lld are held or "
                     "booked; keeping %lld", sale->id, (long long)wanted,
                     (long long)(c.held + c.booked), (long long)c.inventory);
    }
}

static void prepare_sales(struct daemon *d)
{
    for (size_t i = 0; i < d->cfg->n_sales; i++)
        apply_inventory(&d->svc, fs_sales_find(&d->svc.sales, d->cfg->sales[i].id),
                        d->cfg->sales[i].inventory);
}

/* SIGHUP: new sales start, times and hold durations change, inventory
 * changes apply (a decrease below held + booked is refused), and a sale
 * dropped from the file closes. Everything else in the file needs a
 * restart; the policies are reloaded separately. */
static void reload_sales(struct daemon *d)
{
    char err[FS_CONFIG_ERR_MAX];
    struct fs_config *next = fs_config_load(d->cfg->path, err, sizeof(err));
    struct fs_sales *sales = &d->svc.sales;

    if (!next) {
        fs_log_error("SIGHUP: sales not reloaded: %s", err);
        return;
    }
    pthread_mutex_lock(&sales->write_lock);
    for (size_t i = 0; i < next->n_sales; i++) {
        int added = 0;
        struct fs_sale *sale = fs_sales_upsert(sales, &next->sales[i], &added);
        if (!sale) {
            fs_log_error("SIGHUP: sale %s not added: at most %d sales can be "
                         "added without a restart", next->sales[i].id,
                         FS_SALES_RELOAD_ROOM);
            continue;
        }
        if (added)
            fs_log_info("SIGHUP: sale %s added", sale->id);
        apply_inventory(&d->svc, sale, next->sales[i].inventory);
    }
    for (size_t i = 0; i < fs_sales_count(sales); i++) {
        struct fs_sale *sale = fs_sales_at(sales, i);
        if (!fs_config_sale(next, sale->id) && fs_sale_is_open(sale, fs_now_ms())) {
            atomic_store(&sale->ends_at_ms, fs_now_ms());
            fs_log_info("SIGHUP: sale %s is no longer in the config: closed",
                        sale->id);
        }
    }
    pthread_mutex_unlock(&sales->write_lock);
    fs_config_free(next);
}

/* Asks each started backend once whether it answers, storage first. Each
 * health() call is bounded by its plugin's own connect or server-selection
 * timeout. Storage is the truth the start rebuilds the sales from and
 * re-queues accepted bookings from: without it the start cannot finish, so
 * it fails here, naming the plugin and its address, instead of after every
 * sale's rebuild and the re-queue have each waited out that timeout and
 * ended in a bare "unavailable". A queue or inventory that is down is not
 * fatal (docs/plugins.md): requests get 503 and /readyz names it. */
static int probe_backends(struct daemon *d)
{
    struct fs_backend *parts[] = {&d->be.storage, &d->be.inventory,
                                  &d->be.queue};
    char detail[512];

    for (size_t i = 0; i < 3; i++) {
        struct fs_backend *b = parts[i];
        detail[0] = '\0';
        if (fs_backend_health(b, detail, sizeof(detail)) == FS_OK)
            continue;
        if (b == &d->be.storage) {
            fs_log_error("storage plugin '%s' does not answer: %s; cannot "
                         "start without it (stored bookings are re-queued "
                         "and sales rebuilt from it)", b->plugin->name,
                         detail[0] ? detail : "no reason given");
            return -1;
        }
        fs_log_warn("%s plugin '%s' does not answer yet: %s; requests get "
                    "503 until it does", fs_plugin_kind_name(b->kind),
                    b->plugin->name, detail[0] ? detail : "no reason given");
    }
    return 0;
}

/* The re-queue reads storage and publishes to the queue: say which of the
 * two is failing, with each one's own account (its address and reason). */
static void requeue_failed(struct daemon *d, enum fs_status rc)
{
    char storage[512] = "", queue[512] = "";
    enum fs_status s = fs_backend_health(&d->be.storage, storage, sizeof(storage));
    enum fs_status q = fs_backend_health(&d->be.queue, queue, sizeof(queue));

    fs_log_error("cannot re-queue stored bookings (%s): storage plugin '%s' "
                 "%s: %s; queue plugin '%s' %s: %s", fs_status_name(rc),
                 d->be.storage.plugin->name, s == FS_OK ? "answers" : "fails",
                 storage, d->be.queue.plugin->name,
                 q == FS_OK ? "answers" : "fails", queue);
}

static int start(struct daemon *d, const char *plugin_dir)
{
    char err[1024];
    size_t requeued = 0;
    enum fs_status rc;

    if (fs_backends_open(&d->be, d->cfg, plugin_dir, err, sizeof(err)) != 0 ||
        fs_backends_start(&d->be, err, sizeof(err)) != 0) {
        fs_log_error("%s", err);
        return -1;
    }
    if (probe_backends(d) != 0)
        return -1;
    if (fs_service_init(&d->svc, d->cfg, &d->be) != 0) {
        fs_log_error("cannot set up the booking service");
        return -1;
    }
    d->service_ready = 1;
    /* Before the sales are prepared: their rebuilds' counts reach the
     * replicas like any change. */
    d->feed = fs_change_feed_start(&d->svc);
    prepare_sales(d);
    if (fs_worker_start(&d->worker, &d->svc) != 0 ||
        fs_sweeper_start(&d->sweeper, &d->svc) != 0) {
        fs_log_error("cannot start the worker threads");
        return -1;
    }
    rc = fs_recovery_requeue(&d->svc, &requeued);
    if (rc != FS_OK) {
        requeue_failed(d, rc);
        return -1;
    }
    if (requeued)
        fs_log_info("re-queued %zu bookings accepted before the last stop",
                    requeued);
    /* A sale rebuilt at start drains the requests queued before it; most
     * starts find the queue empty and its marker back within moments, so
     * the first requests are not told 503 for it. A long backlog drains
     * while the daemon answers (503 for that sale meanwhile). */
    if (fs_drain_wait(&d->svc, FS_START_DRAIN_WAIT_MS) != 0)
        fs_log_warn("still draining after %d ms: those sales answer 503 "
                    "until the queue is through", FS_START_DRAIN_WAIT_MS);
    /* Before the first request: a broken policy stops the start, with
     * the file and line. */
    if (fs_policy_reload(d->cfg, 0) != 0)
        return -1;
    fs_events_init((size_t)d->cfg->http.max_streams,
                   (size_t)d->cfg->http.max_streams_per_user);
    if (d->cfg->tls.cert_file &&
        fs_tls_load_shim(plugin_dir, FS_PLUGIN_DIR, err, sizeof(err)) != 0) {
        fs_log_error("%s", err);
        return -1;
    }
    if (fs_http_start(&d->http, &d->svc, err, sizeof(err)) != 0) {
        fs_log_error("%s", err);
        return -1;
    }
    fs_log_info("flashsaled %s listening on %s (queue %s, inventory %s, "
                "storage %s, %zu sales)", PACKAGE_VERSION, d->cfg->listen,
                d->be.queue.plugin->name, d->be.inventory.plugin->name,
                d->be.storage.plugin->name, fs_sales_count(&d->svc.sales));
    if (fs_config_uses_sample_secret(d->cfg))
        fs_log_warn("%s", FS_SAMPLE_SECRET_WARNING);
    return 0;
}

/* Reverse order of start; each step is safe if its part never started.
 * The watch names a part that keeps shutdown waiting (shutdown_watch.h). */
static void stop(struct daemon *d)
{
    struct fs_shutdown_watch watch;

    fs_shutdown_watch_start(&watch, "ending the event streams");
    if (d->service_ready)
        atomic_store(&d->svc.accepting, 0);
    fs_events_shutdown();  /* event streams end, so the HTTP threads can */
    fs_shutdown_watch_part(&watch, "finishing the HTTP requests in flight");
    fs_http_stop(&d->http);
    fs_tls_unload_shim();  /* civetweb is done with OpenSSL */
    fs_policy_shutdown();  /* after the HTTP threads freed their Lua states */
    fs_shutdown_watch_part(&watch, "waiting for the worker's batch in flight");
    fs_worker_stop(&d->worker);
    fs_shutdown_watch_part(&watch, "waiting for the sweeper's pass in flight");
    fs_sweeper_stop(&d->sweeper);
    fs_shutdown_watch_part(&watch, "stopping the change feed");
    fs_change_feed_stop(d->feed);  /* after every notifier, before the plugin */
    fs_shutdown_watch_part(&watch, "closing the backends");
    fs_backends_close(&d->be);
    fs_shutdown_watch_end(&watch);
    if (d->service_ready)
        fs_service_free(&d->svc);
}

static void wait_for_stop(struct daemon *d)
{
    sigset_t set;
    int sig = 0;

    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
    for (;;) {
        if (sigwait(&set, &sig) != 0)
            continue;
        if (sig == SIGHUP) {
            fs_log_info("SIGHUP: reloading the sales and the policies");
            reload_sales(d);
            fs_policy_reload(d->cfg, 1);
            continue;
        }
        fs_log_info("%s: stopping: no new requests, finishing those in flight",
                    sig == SIGTERM ? "SIGTERM" : "SIGINT");
        return;
    }
}

int fs_daemon_run(const char *config_path, const char *plugin_dir)
{
    struct daemon d;
    int code = 1;

    memset(&d, 0, sizeof(d));
    d.cfg = load_config(config_path);
    if (!d.cfg)
        return 1;
    fs_log_set_level((enum fs_log_level)fs_log_level_parse(d.cfg->log_level));
    fs_log_set_format((enum fs_log_format)fs_log_format_parse(d.cfg->log_format));
    fs_metrics_init();
    if (start(&d, fs_daemon_plugin_dir(plugin_dir, d.cfg->plugins_dir)) == 0) {
        wait_for_stop(&d);
        code = 0;
    }
    stop(&d);
    if (code == 0)
        fs_log_info("stopped");
    fs_config_free(d.cfg);
    return code;
}

static const char *option_type_name(enum fs_option_type t)
{
    switch (t) {
    case FS_OPT_STRING: return "string";
    case FS_OPT_PATH: return "path";
    case FS_OPT_INT: return "integer";
    case FS_OPT_BOOL: return "boolean";
    default: return "?";
    }
}

int fs_daemon_help_plugin(const char *kind, const char *name,
                          const char *plugin_dir)
{
    static const enum fs_plugin_kind kinds[] = {
        FS_PLUGIN_QUEUE, FS_PLUGIN_INVENTORY, FS_PLUGIN_STORAGE};
    struct fs_backend b;
    char err[1024];
    const struct fs_option *o;
    int found = -1;

    for (size_t i = 0; i < 3; i++)
        if (strcmp(kind, fs_plugin_kind_name(kinds[i])) == 0)
            found = (int)i;
    if (found < 0) {
        fprintf(stderr, "flashsaled: plugin kind is queue, inventory or storage\n");
        return 2;
    }
    if (fs_plugin_open(&b, fs_daemon_plugin_dir(plugin_dir, NULL), kinds[found],
                       name, err, sizeof(err)) != 0) {
        fprintf(stderr, "flashsaled: %s\n", err);
        return 1;
    }
    printf("plugins.%s.name: %s (%s)\n  %s\n\n", kind, name,
           b.plugin->version ? b.plugin->version : "no version",
           b.plugin->description ? b.plugin->description : "");
    for (o = b.plugin->options; o && o->type != FS_OPT_END; o++)
        printf("%s (%s, default %s)\n  %s\n", o->name, option_type_name(o->type),
               o->default_value ? o->default_value : "none: required",
               o->description ? o->description : "");
    fs_plugin_close(&b);
    return 0;
}

int fs_daemon_check_config(const char *config_path, const char *plugin_dir)
{
    char err[1024];
    struct fs_backends be;
    struct fs_policy_set *policies;
    struct fs_config *cfg = load_config(config_path);

    if (!cfg)
        return 1;
    if (fs_backends_open(&be, cfg, fs_daemon_plugin_dir(plugin_dir, cfg->plugins_dir),
                         err, sizeof(err)) != 0) {
        fprintf(stderr, "flashsaled: %s\n", err);
        fs_config_free(cfg);
        return 1;
    }
    fs_backends_close(&be);
    if (fs_policy_set_load_config(cfg, &policies, err, sizeof(err)) != 0) {
        fprintf(stderr, "flashsaled: policy %s\n", err);
        fs_policy_shutdown();
        fs_config_free(cfg);
        return 1;
    }
    if (fs_policy_set_note(policies))
        fprintf(stderr, "flashsaled: warning: %s\n", fs_policy_set_note(policies));
    if (fs_config_uses_sample_secret(cfg))
        fprintf(stderr, "flashsaled: warning: %s\n", FS_SAMPLE_SECRET_WARNING);
    printf("%s: configuration is valid (%zu sales; queue %s, inventory %s, "
           "storage %s; %zu policy files)\n", cfg->path, cfg->n_sales,
           cfg->queue.name, cfg->inventory.name, cfg->storage.name,
           fs_policy_set_count(policies));
    fs_policy_set_release(policies);
    fs_policy_shutdown();
    fs_config_free(cfg);
    return 0;
}
