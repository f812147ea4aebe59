/*
 * store_mongo.h - the two-phase commit store on MongoDB (or FerretDB).
 *
 * Decision log: one record per transaction, {_id: txn id, state:
 * "pending"|"committed"|"aborted", done, owner, lease, deadline: Date,
 * created_at, finished_at, ops: [{kind, shard, coll, id}]}, in the
 * collection of the minute of its id, txns_<minute> of the main database
 * (store_mongo_log_coll), so that the collector drops a finished minute
 * whole.  Every write to it is w:majority (the pool's default), so a
 * decision survives a replica set failover.
 *
 * The decision itself is the insert-once document
 * txn_decisions_<minute>/{txn id} ({state, decided_at}); a takeover by
 * recovery is the insert-once document txn_claims_<minute>/{txn
 * id}#{lease}.  An unfinished record also has a marker txn_open/{txn id}
 * ({deadline, at}), which recovery reads instead of scanning records.
 *
 * Participants: an update or delete participant is locked by inserting
 * locks/{"<shard>|<coll>|<id>"} ({txn, at}); an insert participant is its
 * own lock (its _id is unique); a fresh insert (txn_add_fresh_insert) is
 * written only by the commit, whole, with _cx naming its transaction
 * (an exclusive change of it waits until that one is finished).  A staged
 * document carries _txn: {id, kind, set}: for an update, set holds the absolute
 * new values (counters already added, version + 1), computed under the lock, so
 * applying twice writes the same thing.  A locked document's other fields are
 * its committed state; readers resolve _txn through the decision (view.h).
 *
 * Shared (escrow) participants (txn_op_is_shared): each transaction's
 * increments are an entry of _txn: {esc: [...]} (escrow.h), written by a
 * read and a write of the document under a latch: the same lock document,
 * inserted with latch: true and deleted right after that one write.  A
 * latch is waited for (it is held for one write); an exclusive lock is
 * not.  An exclusive prepare folds the decided entries into the document
 * in its own stage write, after waiting for the undecided ones.
 *
 * Why not conditional updates: on FerretDB 1.24 (SQLite) an update or
 * findAndModify with a filter is not atomic under concurrency (measured:
 * several concurrent "lock if unlocked" updates all succeed), while unique
 * inserts and deletes by _id are.  See docs/SYNC.md.
 */
#ifndef CHORUS_STORE_MONGO_H
#define CHORUS_STORE_MONGO_H

#include "sync/txn/shards.h"
#include "sync/txn/txn.h"

/* The store borrows shards, which must outlive it; it owns the process's
 * decisions (store->decisions) and its latch stripes, freed by
 * store_mongo_cleanup. */
void store_mongo_init(txn_store_t *store, shards_t *shards);
void store_mongo_cleanup(txn_store_t *store);

/* Makes the deferred increments (txn_add_deferred_increment) of coll, a
 * collection of the main database, deferred: carried in their
 * transaction's open marker, folded into the document after the commit,
 * one latched write per document for every transaction a finisher batch
 * applies, and added by readers of the exact view (pending_increments,
 * view_find) until then (store_mongo.c, "deferred increments"; SYNC.md
 * §4c).  Its other increments are escrow entries, which every view
 * shows.  Call before the store is used; at most 4 collections; every
 * process sharing the database must defer the same ones. */
void store_mongo_defer(txn_store_t *store, const char *coll);

/* Creates the index of the open markers (txn_open) in the main
 * database; idempotent. */
bool store_mongo_ensure_indexes(shards_t *shards, chorus_error_t *err);

/* The log's collections: a transaction's record, decision and claims
 * live in the collection of the minute of its id (store_mongo.c, "the
 * decision log's segments"). */
typedef enum {
  STORE_MONGO_RECORDS = 0, /* txns_<minute> */
  STORE_MONGO_DECISIONS,   /* txn_decisions_<minute> */
  STORE_MONGO_CLAIMS,      /* txn_claims_<minute> */
} store_mongo_log_t;
#define STORE_MONGO_LOG_COLL_LEN 32

/* The name of the collection holding txn_id's `which` into out.  Pure;
 * tests read the log through it. */
void store_mongo_log_coll(store_mongo_log_t which, const char *txn_id,
                          char out[STORE_MONGO_LOG_COLL_LEN]);

/* Drops the minutes of the log whose every record is finished and was
 * before older_than_ms (done ones by their finished_at, those a group's
 * finish ended, their open marker deleted and nothing written to them,
 * by their deadline), and that ended long enough before it that no
 * record of theirs can still come (store_mongo.c).  Before a minute
 * goes, the transient inserts its committed transactions still stage
 * are applied (txn.h), and its aborted transactions' participants are
 * unlocked once more:
 *
 * Late locks: a coordinator whose prepare request was still in flight when
 * recovery aborted and finished its transaction can leave a lock behind.
 * So before an aborted record is dropped, its participants are unlocked
 * once more (idempotent), long after any such request could land; and
 * readers, writers and decide() treat a missing record as aborted.
 *
 * A minute is swept by one server at a time: the one whose insert-once
 * claim of it (txn_claims_<minute>/"collect") won, or any once that
 * claim is older than orphans_before_ms (its server may be gone); two
 * sweeping at once read each other's dropped decisions as aborts and
 * drop every op again.  Minutes left only decisions or claims (a sweep
 * stopped after dropping the records) are dropped at once.  *deleted
 * counts the records dropped. */
bool store_mongo_collect(const txn_store_t *store, const char *owner,
                         int64_t older_than_ms, int64_t orphans_before_ms,
                         int64_t *deleted, chorus_error_t *err);

#endif
