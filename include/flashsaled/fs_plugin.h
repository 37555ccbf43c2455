/*
 * fs_plugin.h - the whole flashsaled plugin ABI.
 *
 * This is the only header a plugin author includes. A plugin is a shared
 * object named <kind>_<name>.so (for example inventory_redis.so) that exports
 * one symbol, FS_PLUGIN_SYMBOL, of type `const struct fs_plugin`. The daemon
 * dlopen()s it with RTLD_NOW|RTLD_LOCAL, checks abi_version, struct_size,
 * kind, name and that every operation of the kind is set, and refuses the
 * plugin with a message naming the file otherwise.
 *
 * Lifecycle: the core parses the plugin's YAML block against `options`
 * (unknown keys and values of the wrong type are config errors with line
 * numbers), fills a zeroed struct of `config_size` bytes, calls validate() if
 * the plugin has one, then create(), then health() and the
 * kind's operations from any thread, and destroy() once at shutdown. The
 * config struct and every string in it stay valid until destroy() returns.
 *
 * Threading: every operation may be called concurrently from many threads,
 * except the queue's consume/ack/nack, which the core calls from one consumer
 * thread per queue instance. A plugin that cannot be called concurrently must
 * leave FS_PLUGIN_THREAD_SAFE out of `flags`; the core then serializes calls.
 *
 * Errors: operations return enum fs_status. FS_UNAVAILABLE means "the backend
 * cannot be reached now, retry later": the core answers clients 503 and retries
 * background work with backoff. Anything else unexpected is FS_ERROR.
 *
 * See docs/plugins.md for the guide and examples/ for a plugin built out of
 * tree against this header.
 */
#ifndef FLASHSALED_FS_PLUGIN_H
#define FLASHSALED_FS_PLUGIN_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Bumped on every incompatible change of any struct or signature below.
 * Structs only grow at their end; struct_size tells the core how much of a
 * descriptor a plugin built against an older minor layout provides. */
#define FS_PLUGIN_ABI_VERSION 1u
#define FS_PLUGIN_SYMBOL "fs_plugin_descriptor"

/* Sale and booking ids: 1 to 64 characters of [A-Za-z0-9._-]. */
#define FS_ID_MAX 64
/* User ids (the JWT `sub`): 1 to 128 printable bytes. */
#define FS_USER_MAX 128
/* Rejection reasons: sold_out, duplicate, policy, closed. */
#define FS_REASON_MAX 31
/* Largest queue message the core publishes. */
#define FS_MESSAGE_MAX 1024

/* One outcome vocabulary for every layer; mapped to HTTP in one place. */
enum fs_status {
    FS_OK = 0,
    FS_NOT_FOUND,    /* no such booking, hold or sale state */
    FS_SOLD_OUT,     /* no stock left */
    FS_DUPLICATE,    /* the user already has an active booking in this sale */
    FS_CONFLICT,     /* a conditional change lost: the current state differs */
    FS_EXPIRED,      /* the hold's expiry has passed */
    FS_UNAVAILABLE,  /* backend unreachable or overloaded: retry later */
    FS_TIMEOUT,      /* consume: nothing arrived in time */
    FS_INVALID,      /* bad argument */
    FS_ERROR,        /* anything else */
    /* Outcomes of the core's own layers; plugins never return these. */
    FS_CLOSED,       /* the sale is not open */
    FS_QUEUE_FULL    /* the sale's queue is at its depth limit: retry later */
};

enum fs_plugin_kind {
    FS_PLUGIN_QUEUE = 1,
    FS_PLUGIN_INVENTORY = 2,
    FS_PLUGIN_STORAGE = 3
};

/* queued -> hold -> booked | deleted | expired; queued -> rejected | deleted. */
enum fs_booking_state {
    FS_STATE_NONE = 0,
    FS_STATE_QUEUED,
    FS_STATE_HOLD,
    FS_STATE_BOOKED,
    FS_STATE_DELETED,
    FS_STATE_EXPIRED,
    FS_STATE_REJECTED
};

/* ---- checks every plugin needs (inline: nothing to link) ----------------- */

/* 1 if id is a sale or booking id: 1 to FS_ID_MAX of [A-Za-z0-9._-]. */
static inline int fs_plugin_id_ok(const char *id)
{
    size_t i;
    if (!id)
        return 0;
    for (i = 0; id[i]; i++) {
        char c = id[i];
        if (i >= FS_ID_MAX)
            return 0;
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
              (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-'))
            return 0;
    }
    return i > 0;
}

/* 1 if user is 1 to FS_USER_MAX bytes with no control character. */
static inline int fs_plugin_user_ok(const char *user)
{
    size_t i;
    if (!user)
        return 0;
    for (i = 0; user[i]; i++) {
        unsigned char c = (unsigned char)user[i];
        if (i >= FS_USER_MAX || c < 0x20 || c == 0x7f)
            return 0;
    }
    return i > 0;
}

/* queued, hold and booked count against the one-per-user rule. */
static inline int fs_plugin_state_active(enum fs_booking_state state)
{
    return state == FS_STATE_QUEUED || state == FS_STATE_HOLD ||
           state == FS_STATE_BOOKED;
}

/* ---- host API: what the core offers a plugin ---------------------------- */

enum fs_log_level { FS_LOG_ERROR = 0, FS_LOG_WARN, FS_LOG_INFO, FS_LOG_DEBUG };

struct fs_host {
    uint32_t abi_version;  /* FS_PLUGIN_ABI_VERSION of the daemon */
    uint32_t struct_size;  /* sizeof(struct fs_host) of the daemon */
    /* Logs through the daemon's logger, prefixed with the plugin's name. */
    void (*log)(enum fs_log_level level, const char *plugin,
                const char *fmt, ...)
#if defined(__GNUC__)
        __attribute__((format(printf, 3, 4)))
#endif
        ;
    /* Wall clock, Unix milliseconds. Plugins use this, not time(), so that
     * tests can reason about expiry. */
    int64_t (*now_ms)(void);
};

/* ---- configuration ------------------------------------------------------- */

enum fs_option_type {
    FS_OPT_END = 0,
    FS_OPT_STRING,  /* char *      */
    FS_OPT_PATH,    /* char *, made absolute against the config file's folder */
    FS_OPT_INT,     /* int64_t     */
    FS_OPT_BOOL     /* int (0 / 1) */
};

/* One key of a plugin's YAML block. The same table parses, validates and
 * documents (`flashsaled --help-plugin KIND NAME`). */
struct fs_option {
    enum fs_option_type type;
    const char *name;
    const char *default_value;  /* NULL: required (strings) or zero */
    size_t offset;              /* offsetof() in the plugin's config struct */
    const char *description;
};

/* ---- data passed through the operations ---------------------------------- */

struct fs_booking {
    char booking_id[FS_ID_MAX + 1];
    char sale_id[FS_ID_MAX + 1];
    char user_id[FS_USER_MAX + 1];
    enum fs_booking_state state;
    char reason[FS_REASON_MAX + 1];  /* for rejected; empty otherwise */
    int64_t created_ms;              /* when the request was accepted */
    int64_t updated_ms;              /* last state change */
    int64_t hold_expires_ms;         /* 0 unless the booking is or was held */
    uint32_t hold_seconds;           /* hold length chosen at accept time */
};

/* A hold or confirmed item as the inventory sees it. */
struct fs_hold {
    char booking_id[FS_ID_MAX + 1];
    char user_id[FS_USER_MAX + 1];
    enum fs_booking_state state;  /* FS_STATE_HOLD or FS_STATE_BOOKED */
    int64_t expires_ms;           /* holds only */
};

struct fs_sale_counts {
    int64_t inventory;
    int64_t available;
    int64_t held;
    int64_t booked;
};

/* A conditional state change: applied only if the stored state is `from`. */
struct fs_transition {
    const char *booking_id;
    enum fs_booking_state from;
    enum fs_booking_state to;
    const char *reason;       /* NULL or a rejection reason */
    int64_t hold_expires_ms;  /* written when to == FS_STATE_HOLD */
    int64_t at_ms;            /* becomes updated_ms */
};

struct fs_delivery {
    uint64_t tag;     /* plugin's handle for ack / nack */
    int redelivered;  /* the broker may have handed this out before */
    size_t len;
    char body[FS_MESSAGE_MAX];
};

/* ---- operations of each kind --------------------------------------------- */

struct fs_queue_ops {
    /* Returns once the message is as durable as the queue can make it (for a
     * broker: after its publisher confirm). FS_UNAVAILABLE: not accepted. */
    enum fs_status (*publish)(void *ctx, const void *body, size_t len);
    /* Up to `max` deliveries in FIFO order, waiting at most timeout_ms for the
     * first. FS_OK with *n >= 1, FS_TIMEOUT with *n == 0, or an error. */
    enum fs_status (*consume)(void *ctx, struct fs_delivery *out, size_t max,
                              size_t *n, int timeout_ms);
    enum fs_status (*ack)(void *ctx, uint64_t tag);
    /* requeue != 0: hand the message out again (at the head if possible). */
    enum fs_status (*nack)(void *ctx, uint64_t tag, int requeue);
    /* Messages waiting or unacknowledged. */
    enum fs_status (*depth)(void *ctx, uint64_t *out);
};

struct fs_inventory_ops {
    /* The sale's live counts. FS_NOT_FOUND when the backend holds no state
     * for the sale (never created, or lost in a restart): the core then
     * rebuilds it from storage before serving the sale. */
    enum fs_status (*counts)(void *ctx, const char *sale_id,
                             struct fs_sale_counts *out);
    /* Installs a sale's state from storage's truth, atomically and only if the
     * backend has none: FS_OK installed, FS_CONFLICT already present. */
    enum fs_status (*rebuild)(void *ctx, const char *sale_id, int64_t inventory,
                              const struct fs_hold *entries, size_t n);
    /* One atomic step: refuse a user who already holds or booked (FS_DUPLICATE,
     * their booking id in `existing`), refuse when no stock is left
     * (FS_SOLD_OUT), else take one item and record the hold until expires_ms.
     * Idempotent by booking_id: reserving a booking that already holds or
     * booked its item answers FS_OK and takes nothing. */
    enum fs_status (*reserve)(void *ctx, const char *sale_id, const char *user_id,
                              const char *booking_id, int64_t expires_ms,
                              char existing[FS_ID_MAX + 1]);
    /* Turns a live hold into a booked item. FS_OK (also when already booked),
     * FS_EXPIRED when expires_ms <= now_ms (the item is not given back here:
     * expire_due does that), FS_NOT_FOUND when there is no such hold. */
    enum fs_status (*confirm)(void *ctx, const char *sale_id,
                              const char *booking_id, int64_t now_ms);
    /* Gives a held item back, exactly once: FS_OK if this call released it,
     * FS_NOT_FOUND if there was no hold (already released, expired, or never
     * taken), FS_CONFLICT if the item is booked. */
    enum fs_status (*release)(void *ctx, const char *sale_id,
                              const char *booking_id);
    /* Releases up to `max` holds with expires_ms <= now_ms, atomically each,
     * and reports them; every hold is reported by exactly one call. */
    enum fs_status (*expire_due)(void *ctx, const char *sale_id, int64_t now_ms,
                                 struct fs_hold *out, size_t max, size_t *n);
    /* The inventory's view of one booking: FS_OK with out->state HOLD or
     * BOOKED, or FS_NOT_FOUND. */
    enum fs_status (*lookup)(void *ctx, const char *sale_id,
                             const char *booking_id, struct fs_hold *out);
    /* Changes a sale's total: FS_CONFLICT if below held + booked. */
    enum fs_status (*set_inventory)(void *ctx, const char *sale_id,
                                    int64_t inventory);
    /* The user's held or booked item in the sale: FS_OK with its booking id,
     * or FS_NOT_FOUND. Lets the core answer "already booked" before "sold
     * out" without touching storage. */
    enum fs_status (*find_user)(void *ctx, const char *sale_id,
                                const char *user_id,
                                char booking_id[FS_ID_MAX + 1]);
};

struct fs_storage_ops {
    /* Records a new booking (state queued). FS_DUPLICATE when the user already
     * has an active (queued, hold or booked) booking in the sale, with its id
     * in `existing`; FS_CONFLICT when booking_id exists. Returns once durable:
     * a booking answered 202 survives a crash of the daemon. */
    enum fs_status (*insert)(void *ctx, const struct fs_booking *b,
                             char existing[FS_ID_MAX + 1]);
    /* Applies n conditional changes as one durable write. results[i] is FS_OK,
     * FS_CONFLICT (current[i] says what is stored) or FS_NOT_FOUND. The return
     * value is FS_OK when results[] is valid, an error when nothing was
     * applied. */
    enum fs_status (*transition)(void *ctx, const struct fs_transition *t,
                                 size_t n, enum fs_status *results,
                                 enum fs_booking_state *current);
    enum fs_status (*get)(void *ctx, const char *booking_id,
                          struct fs_booking *out);
    /* Calls cb for each booking of sale_id (NULL: every sale) in `state`,
     * oldest accepted first, until cb returns non-zero. */
    enum fs_status (*list)(void *ctx, const char *sale_id,
                           enum fs_booking_state state,
                           int (*cb)(void *arg, const struct fs_booking *b),
                           void *arg);
};

/* Claims: exact acceptance (DESIGN.md section 9, invariant 7). Optional for
 * an inventory plugin; a plugin that sets fs_plugin.claims gets the accept
 * path below, one without keeps the old one (the core then counts its own
 * pending requests and, with a queue shared by several daemons, may answer
 * 202 to more users than there are items).
 *
 * A claim is a unit of stock taken at accept time for one booking, before
 * the request is queued. Its life:
 *
 *   claim() ----------> unconfirmed, leased until lease_until_ms
 *      | claim_durable()        | claim_expire() once the lease has passed:
 *      v                        v the item goes back, reported exactly once
 *   durable (no lease) ---> claim_to_hold() by the worker ---> a hold
 *      \-- release() (publish failed, cancel of a queued booking): back
 *
 * The core calls claim_durable() only after the queue confirmed the
 * request's message, and answers 202 only if it said FS_OK. claim_expire()
 * and claim_durable() decide the race between a slow request and the lease
 * atomically, so a claim either became durable (its 202 stands) or went
 * back (the request answers 503), never both. A claim is never given back
 * while its request may still answer 202, whatever the lease length: the
 * lease only bounds how long a claim of a daemon that died stays taken.
 *
 * Claims count against the stock (available) but in neither held nor
 * booked: a sale's counts keep available + held + booked + claims ==
 * inventory. find_user() and reserve()'s one-per-user rule see claims like
 * holds; release() gives an unconfirmed or durable claim back like a hold;
 * confirm() answers FS_NOT_FOUND for a claim (it is not a hold yet);
 * lookup() reports a claim with state FS_STATE_QUEUED; rebuild() accepts
 * entries with state FS_STATE_QUEUED and installs them as durable claims. */
struct fs_claim_ops {
    uint32_t struct_size;  /* sizeof(struct fs_claim_ops) of the plugin */
    /* One atomic step: refuse a user who already has a durable claim, hold
     * or booked item (FS_DUPLICATE, its booking id in `existing`), answer
     * FS_UNAVAILABLE ("ask again later", its id in `existing`) for a user
     * whose claim is still unconfirmed, since that request may yet fail or
     * its daemon be dead; refuse when no stock is left (FS_SOLD_OUT), else
     * take one item as an unconfirmed claim leased until lease_until_ms.
     * FS_NOT_FOUND: no state for the sale (the core rebuilds it).
     * Idempotent by booking id like reserve(). */
    enum fs_status (*claim)(void *ctx, const char *sale_id, const char *user_id,
                            const char *booking_id, int64_t lease_until_ms,
                            char existing[FS_ID_MAX + 1]);
    /* Marks n claims durable (their requests are safely queued), in one
     * round trip. results[i]: FS_OK (now durable, or already a durable
     * claim, hold or booked item), FS_EXPIRED (no such claim: its lease ran
     * out or it was given back; the request must not answer 202). The return
     * value is FS_OK when results[] is valid; FS_NOT_FOUND when the sale has
     * no state (every claim of it is gone). */
    enum fs_status (*claim_durable)(void *ctx, const char *sale_id,
                                    const char *const *booking_ids, size_t n,
                                    enum fs_status *results);
    /* Turns the booking's claim (durable or not) into a hold until
     * expires_ms. FS_OK also when the booking already holds or booked its
     * item (a redelivery); FS_EXPIRED when it has no claim (given back: the
     * request was never answered 202); FS_NOT_FOUND when the sale has no
     * state. */
    enum fs_status (*claim_to_hold)(void *ctx, const char *sale_id,
                                    const char *booking_id, int64_t expires_ms);
    /* Gives back up to `max` unconfirmed claims whose lease_until_ms <=
     * now_ms and reports them (state FS_STATE_QUEUED, expires_ms the lease);
     * every claim is reported by exactly one call. */
    enum fs_status (*claim_expire)(void *ctx, const char *sale_id,
                                   int64_t now_ms, struct fs_hold *out,
                                   size_t max, size_t *n);
    /* Reports every durable claim of the sale (state FS_STATE_QUEUED,
     * expires_ms 0) through cb, in no particular order, until cb returns
     * nonzero. The core's claim audit (src/claim_audit.c) publishes again
     * the message of a durable claim that outlived the queue's messages (a
     * broker that lost a confirmed message). FS_NOT_FOUND when the sale has
     * no state. Appended after claim_expire: a plugin built before it has a
     * smaller struct_size, and the core then does no audit. */
    enum fs_status (*list_durable)(void *ctx, const char *sale_id,
                                   int (*cb)(void *arg, const struct fs_hold *c),
                                   void *arg);
};

/* Batch records: storage off the accept path (issue 14 item 3). Optional
 * for a storage plugin. With it, and a queue that sets FS_QUEUE_DURABLE,
 * and an inventory with claims, the accept path writes nothing to storage:
 * a 202 rests on the claim and the queued message, and the worker records
 * each booking as it decides it (a hold, rejected or deleted), in one call
 * per batch, before it acks the messages. */
struct fs_storage_batch_ops {
    uint32_t struct_size;  /* sizeof(struct fs_storage_batch_ops) of the plugin */
    /* Records n bookings, each with its own state (any state; `queued`
     * when FS_STATE_NONE), unordered: one refused does not stop the
     * others. Idempotent by booking_id: a booking already stored is left
     * as it is. results[i]: FS_OK (written), FS_CONFLICT (a booking with
     * this id is already stored: not an error, nothing written),
     * FS_DUPLICATE (an active booking would be the user's second active
     * one in the sale: nothing written). Returns once every FS_OK is
     * durable, like insert(). The return value is FS_OK when results[] is
     * valid; FS_UNAVAILABLE or FS_ERROR when the outcome is unknown: some
     * may have been written, and calling again with the same bookings is
     * safe (those then answer FS_CONFLICT). */
    enum fs_status (*insert_many)(void *ctx, const struct fs_booking *b,
                                  size_t n, enum fs_status *results);
};

/* Changes: how every daemon learns what the others changed (DESIGN.md
 * section 9, invariant 9). Optional for an inventory plugin; without it the
 * core reads counts from the inventory per request and wakes event streams
 * only for changes made by its own process.
 *
 * The core hands the plugin a struct fs_change_hooks with watch(); the
 * plugin calls the hooks from one thread of its own, in the order the
 * backend applied the changes, for every change any daemon sharing the
 * backend makes (this one included). Hooks are quick and never call back
 * into the plugin. */
struct fs_change_hooks {
    void *arg;  /* passed back to every hook */
    /* The sale's counts after a change, or as sync() read them. */
    void (*sale_counts)(void *arg, const char *sale_id,
                        const struct fs_sale_counts *counts);
    /* sync() found no state for the sale (never installed, or lost). */
    void (*sale_unknown)(void *arg, const char *sale_id);
    /* The user took an item of the sale (a claim, a reserve, or a rebuild
     * installed theirs), or, in a sync with holders, holds or claimed one.
     * The core then answers that user's request from the inventory even
     * when the sale is sold out, so that they hear already_booked and their
     * booking id, not sold_out. */
    void (*sale_holder)(void *arg, const char *sale_id, const char *user_id);
    /* A daemon announced (announce()) that the booking changed. */
    void (*booking)(void *arg, const char *booking_id);
    /* The end of one sync(): every sale it named was reported above, and
     * with_holders as sync() was asked. */
    void (*synced)(void *arg, int with_holders);
    /* live 1: the plugin (re)subscribed and from now on misses nothing; what
     * changed before may have been missed, so the core calls sync() and
     * re-reads what it shows. live 0: the subscription is lost; the plugin
     * reconnects with backoff and calls live(arg, 1) again. */
    void (*live)(void *arg, int live);
};

struct fs_change_ops {
    uint32_t struct_size;  /* sizeof(struct fs_change_ops) of the plugin */
    /* Starts delivering to hooks (the plugin keeps a copy) from a thread of
     * its own. Called once, after create(). */
    enum fs_status (*watch)(void *ctx, const struct fs_change_hooks *hooks);
    /* Stops delivering: when it returns no hook runs or will run. Called
     * once, before destroy(), if watch() answered FS_OK. */
    void (*unwatch)(void *ctx);
    /* sync() and announce() are called only after watch() returned FS_OK
     * and before unwatch() is called, one at a time, from one core thread
     * (a live(1) that comes before watch() returns is answered after it).
     *
     * Reports every named sale's counts (sale_counts or sale_unknown),
     * with_holders != 0: every user who holds or claimed one of its items
     * first (sale_holder), then synced(), through the hooks of this process
     * only, in order with the changes: a report is never older than a
     * change delivered before it. One round trip whatever n. */
    enum fs_status (*sync)(void *ctx, const char *const *sale_ids, size_t n,
                           int with_holders);
    /* Tells every daemon (this one too) through the booking hook that these
     * bookings changed. One round trip whatever n. */
    enum fs_status (*announce)(void *ctx, const char *const *booking_ids,
                               size_t n);
};

/* ---- the descriptor ------------------------------------------------------ */

#define FS_PLUGIN_THREAD_SAFE 0x1u  /* operations may run concurrently */
/* Every operation is a call inside this process, no round trip to a server:
 * the core then calls it for each request as it comes instead of gathering
 * calls of several requests into one (claim_durable), which only pays when
 * a call costs a round trip. */
#define FS_PLUGIN_IN_PROCESS  0x8u
/* Queue plugins: messages survive a restart of the daemon (and may be
 * consumed by several daemons). With claims and storage_batch, this is what
 * takes storage off the accept path (see struct fs_storage_batch_ops). */
#define FS_QUEUE_DURABLE      0x2u
/* Queue plugins, with FS_QUEUE_DURABLE: only this daemon consumes what it
 * publishes (a file of its own, like the `journal` plugin), so its depth is
 * this daemon's and a sale's queued count is its own. Without it a durable
 * queue is taken as shared by every daemon (a broker). */
#define FS_QUEUE_LOCAL        0x4u

struct fs_plugin {
    uint32_t abi_version;  /* FS_PLUGIN_ABI_VERSION */
    uint32_t struct_size;  /* sizeof(struct fs_plugin) */
    enum fs_plugin_kind kind;
    const char *name;         /* as written under plugins.<kind>.name */
    const char *description;  /* one line, shown by --help-plugin */
    const char *version;      /* the plugin's own version string */
    uint32_t flags;  /* FS_PLUGIN_* and FS_QUEUE_* bits */

    const struct fs_option *options;  /* ends with type FS_OPT_END */
    size_t config_size;               /* bytes of the plugin's config struct */

    /* Connects or opens; on failure writes a reason into err and returns
     * non-zero. A backend that is down at start is not a failure for plugins
     * that reconnect: they return 0 and report it through health(). */
    int (*create)(const struct fs_host *host, const void *config, void **ctx,
                  char *err, size_t errlen);
    void (*destroy)(void *ctx);
    /* FS_OK when the backend answers; otherwise a short reason in detail,
     * starting with the address used and never a password ("redis
     * 10.0.0.6:6379: connect: Connection refused"). The core calls it once
     * right after create() and names the plugin with this detail when the
     * backend does not answer, so it should wait no longer than the
     * plugin's connect timeout. */
    enum fs_status (*health)(void *ctx, char *detail, size_t len);

    const struct fs_queue_ops *queue;          /* kind FS_PLUGIN_QUEUE */
    const struct fs_inventory_ops *inventory;  /* kind FS_PLUGIN_INVENTORY */
    const struct fs_storage_ops *storage;      /* kind FS_PLUGIN_STORAGE */

    /* Inventory plugins only, optional: exact acceptance (see above). Took
     * the first reserved slot, so older descriptors read as NULL here. */
    const struct fs_claim_ops *claims;

    /* Optional: checks a filled config struct for bad values (ranges,
     * enums, URL syntax) without any I/O: no connecting, no files. The core
     * calls it from --check-config and before create(), so a mistake is
     * reported with the file and line of the key instead of at start-up.
     * Returns 0 if the values are good; otherwise non-zero, with *key set to
     * the option's name (a string that lives as long as the plugin; NULL
     * when no one key is to blame) and the reason in err. create() should
     * call it too, so that one copy of each check exists. Took the second
     * reserved slot, so older descriptors read as NULL here and are simply
     * not validated before create(). */
    int (*validate)(const void *config, const char **key, char *err,
                    size_t errlen);

    /* Storage plugins only, optional: batch records (see above). Took the
     * third reserved slot, so older descriptors read as NULL here. */
    const struct fs_storage_batch_ops *storage_batch;

    /* Inventory plugins only, optional: the change feed (see above). Took
     * the fourth reserved slot, so older descriptors read as NULL here. */
    const struct fs_change_ops *changes;

    void *reserved[4];  /* zero: room to grow without a new ABI version */
};

#ifdef __cplusplus
}
#endif

#endif /* FLASHSALED_FS_PLUGIN_H */
