/*
 * schema.h - every index of the domain's collections, created at start-up.
 *
 * Each domain module declares the indexes of the collections it owns
 * (<module>_ensure_indexes, at the end of its header); this calls them in
 * turn.  Invariant: every query the domain sends filters or sorts on one
 * of these indexes (or on _id).  The collections of sync/ (the 2PC's, the
 * event log's) are indexed by sync/ itself (sync_start, events_start).
 *
 * Idempotent, and safe when several servers start at once: the server
 * calls it before it serves its first request (the unique username_lc
 * index above all), and bench/load_dataset.c after a bulk load.
 */
#ifndef CHORUS_SCHEMA_H
#define CHORUS_SCHEMA_H

#include <stdbool.h>

#include "sync/base/db.h"
#include "sync/base/error.h"
#include "sync/sync.h" /* shards_t, as sync_shards() gives it */

/* Creates the indexes of the main database's collections (db) and of
 * every tweet shard (shards); 503 when a database cannot be reached. */
bool schema_ensure_indexes(db_t *db, shards_t *shards, chorus_error_t *err);

#endif
