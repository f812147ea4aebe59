/*
 * sync.h - atomic multi-document writes for the rest of Chorus.
 *
 * The only door to the two-phase commit (txn.h), the tweet shards
 * (shards.h), crash recovery (recovery.h) and the committed view of locked
 * documents (view.h).  Domain code builds a transaction in a callback and
 * calls sync_commit(), which runs the protocol, retries conflicts with
 * backoff, and says what happened; it reads participant documents through
 * query.h, which shows them as committed (sync_view).  Nothing outside
 * sync/ knows how locking or recovery works.
 *
 * One sync_t per process, owned by the server context.  Thread-safe.
 */
#ifndef CHORUS_SYNC_H
#define CHORUS_SYNC_H

#include <stdatomic.h>
#include <stdbool.h>

#include "sync/base/db.h"
#include "sync/base/error.h"
#include "sync/events/events.h"
#include "sync/txn/shards.h"
#include "sync/txn/txn.h"

typedef struct sync_config {
  int n_shards;                       /* tweet shards, 1..SHARDS_MAX */
  const char *shard_uris[SHARDS_MAX]; /* NULL: in the main database */
  const char *server_id;              /* coordinator/recoverer name */
  const char *failpoint;              /* NULL or a step name */
  int64_t lease_ms;                   /* coordinator lease */
  int recovery_interval_ms;           /* how often to look for orphans */
  int pool_size;                      /* per shard deployment */
  bool apply_inline; /* apply a commit's increments before sync_commit
                        returns, instead of after (its finishers: sync.c) */
  /* Main-database collections whose increments are deferred, NULL-ended
   * (store_mongo_defer; SYNC.md §4c); NULL: none.  Every server of one
   * database must name the same. */
  const char *const *deferred_colls;
} sync_config_t;

typedef struct sync_stats {
  atomic_long commits;   /* transactions committed */
  atomic_long aborts;    /* transactions that ended aborted */
  atomic_long conflicts; /* attempts that hit a lock or a stale version */
  atomic_long retries_exhausted; /* commits given up with 409 */
  atomic_long recoveries;        /* orphaned transactions finished here */
  atomic_long failures;          /* database failures (503/500) */
  atomic_long groups;            /* groups run (txn_execute_group) */
  atomic_long grouped;           /* transactions run in them */
} sync_stats_t;

typedef struct sync sync_t;

/* Creates the shard map and the store; starts nothing. */
sync_t *sync_new(db_t *main, const sync_config_t *cfg, chorus_error_t *err);

/* Checks the shard count recorded in the database, creates the indexes of
 * the 2PC's collections and starts the recovery thread. */
bool sync_start(sync_t *sync, chorus_error_t *err);

/* Stops the recovery thread and frees everything. */
void sync_destroy(sync_t *sync);

shards_t *sync_shards(sync_t *sync);

/* The event log (events.h), created with the sync_t and destroyed with
 * it; started by the server once its listener exists (events_start). */
events_t *sync_events(sync_t *sync);
const sync_stats_t *sync_get_stats(const sync_t *sync);

/* Fills an empty transaction; false (with err) to give up.  Adding no op
 * at all means there is nothing to do: sync_commit then returns COMMITTED
 * without touching the database. */
typedef bool (*sync_build_fn)(void *ctx, txn_t *txn, chorus_error_t *err);

/* Builds and commits a transaction, rebuilding and retrying it with
 * jittered exponential backoff while it conflicts (a lock held by another
 * transaction, a stale version).  Returns:
 *   COMMITTED  - durable and visible to every reader on every server, its
 *                events published, its ops applied but the increments
 *                (shared ops), which a finisher thread applies after this
 *                returns (unless apply_inline), or recovery if this
 *                process stops first;
 *   MISSING / EXISTS - aborted, ops[*failed_op] of the last attempt found
 *                nothing / something already there (the caller knows what
 *                that means: 404, already liked, ...);
 *   CONFLICT   - still conflicting after the last retry: err is 409;
 *   FAILED     - err says why (build's own error, or 503/500 from the
 *                database; recovery then finishes the attempt). */
txn_outcome_t sync_commit(sync_t *sync, sync_build_fn build, void *ctx,
                          size_t *failed_op, chorus_error_t *err);

/* sync_commit, saying also whether the events the transaction added were
 * published before it returned (*published; true when it added none):
 * false after a COMMITTED outcome means the pump publishes them later
 * (the database failed meanwhile), and after any other outcome that
 * nothing was published.  For a writer whose answer promises what its
 * events do (sessions.h: an ending). */
txn_outcome_t sync_commit_published(sync_t *sync, sync_build_fn build,
                                    void *ctx, size_t *failed_op,
                                    bool *published, chorus_error_t *err);

/* The committed view of documents read from participant collections; see
 * view.h.  The caller holds no client of the main pool. */
bool sync_view(sync_t *sync, bson_t **docs, size_t n, bool *visible,
               chorus_error_t *err);

#endif
