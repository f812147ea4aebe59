/*
 * sweeper.h - the thread that removes what nothing uses any more: the
 * files of deleted images, and uploads left unattached (media.h).
 *
 * Every SWEEPER_TRASH_MS it removes the files media_trash lists as due
 * (media_sweep_trash: a deleted tweet's images go within about a second),
 * and every unattached_ms / 10 (at least a second, at most a minute) the
 * uploads unattached for unattached_ms (media_sweep_unattached).  Every
 * server runs one; they may sweep the same records at once (each removal
 * is a transaction, each file removal idempotent).  A failed pass (the
 * database down) is tried again at the next tick.  Its writes give way to
 * the requests' at the write gate (WRITE_PRIORITY_BACKGROUND).
 *
 * Ownership: borrows the store, which outlives it.  Lifecycle:
 * sweeper_start, then sweeper_stop (joins the thread) before the store
 * is destroyed.  Thread-safe.
 */
#ifndef CHORUS_SWEEPER_H
#define CHORUS_SWEEPER_H

#include <stdbool.h>

#include "server/domain/media.h"
#include "sync/base/error.h"

#define SWEEPER_TRASH_MS 1000

typedef struct sweeper sweeper_t;

/* Starts the thread; NULL with err (500) when it cannot. */
sweeper_t *sweeper_start(media_store_t *store, chorus_error_t *err);

/* Stops the thread and frees everything; NULL is fine. */
void sweeper_stop(sweeper_t *s);

/* What the sweeps removed so far. */
void sweeper_stats(sweeper_t *s, media_sweep_stats_t *out);

#endif
