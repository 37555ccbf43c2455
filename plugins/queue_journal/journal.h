/*
 * journal.h - the `journal` queue's file: every message published and every
 * message let go, appended to segment files in one folder, read back at
 * start.
 *
 * The folder holds `lock` (flock: one process at a time) and segments named
 * by a growing sequence number (0000000000000001.seg ...). A record is
 *
 *     crc32 (4) | type 'P' or 'A' (1) | tag (8) | length (4) | body
 *
 * in the machine's byte order, the CRC (zlib's) over everything after it.
 * 'P' is a published message, 'A' one acknowledged or dropped. A segment
 * whose messages are all let go, and every one before it, is deleted. At
 * open the survivors (published, never let go) are read back in order and
 * written into one fresh segment, and the old ones are deleted; a record
 * cut short or damaged ends its segment's reading there (a crash in the
 * middle of a write leaves that at the end of the last one).
 *
 * Appends are the caller's to serialize (the FIFO's lock); durability is
 * paid for apart from them: journal_wait_durable() for sync `full`, or a
 * thread every interval for `interval`.
 */
#ifndef QUEUE_JOURNAL_FILE_H
#define QUEUE_JOURNAL_FILE_H

#include <stddef.h>
#include <stdint.h>

#include "flashsaled/fs_plugin.h"

struct journal;

struct journal_options {
    const char *dir;
    uint64_t segment_bytes;  /* a new segment past this size */
    int sync_full;           /* 1: every publish waits for its fdatasync */
    int64_t interval_ms;     /* sync_full 0: fdatasync this often */
    const struct fs_host *host;
    const char *log_name;
};

/* A surviving message, in publish order. Nonzero stops the open. */
typedef int (*journal_survivor_cb)(void *arg, uint64_t tag, const void *body,
                                   size_t len);

/* *last_tag: the largest tag in the folder (0: none), so that new tags
 * never meet an old record. */
struct journal *journal_open(const struct journal_options *o,
                             journal_survivor_cb cb, void *arg,
                             uint64_t *last_tag, char *err, size_t errlen);
/* Syncs what is written and closes; NULL is fine. */
void journal_close(struct journal *j);

/* Serialized by the caller. 0: appended, *end is the journal's length
 * after it (for journal_wait_durable). */
int journal_append(struct journal *j, uint64_t tag, const void *body,
                   size_t len, uint64_t *end);
/* Serialized by the caller: the message is let go. A lost 'A' record only
 * means the message is handed out again after a restart. */
void journal_forget(struct journal *j, uint64_t tag);

/* sync_full: returns 0 once every byte up to `end` is on disk, sharing one
 * fdatasync with every caller waiting meanwhile; otherwise 0 at once. -1
 * when the disk refused: the journal refuses every append from then on. */
int journal_wait_durable(struct journal *j, uint64_t end);

/* FS_OK, or FS_UNAVAILABLE with the reason, after a write or sync failed. */
enum fs_status journal_health(struct journal *j, char *detail, size_t len);

#endif
