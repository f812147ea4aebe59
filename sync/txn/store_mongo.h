/*
 * store_mongo.h - the two-phase commit store on MongoDB (or FerretDB).
 *
 * Decision log: collection "txns" of the main database, one record per
 * transaction: {_id: txn id, state: "pending"|"committed"|"aborted", done,
 * owner, lease, deadline: Date, created_at, finished_at, ops: [{kind, shard,
 * coll, id}]}.  Every write to it is w:majority (the pool's default), so
 * a decision survives a replica set failover.
 *
 * The decision itself is the insert-once document txn_decisions/{txn id}
 * ({state, decided_at}); a takeover by recovery is the insert-once
 * document txn_claims/{txn id}#{lease}.  An unfinished record also has a
 * marker txn_open/{txn id} ({deadline, at}), which recovery reads instead
 * of scanning txns.
 *
 * Participants: an update or delete participant is locked by inserting
 * locks/{"<shard>|<coll>|<id>"} ({txn, at}); an insert participant is its
 * own lock (its _id is unique).  A staged document carries _txn: {id,
 * kind, set}: for an update, set holds the absolute new values (counters
 * already added, version + 1), computed under the lock, so applying twice
 * writes the same thing.  A locked document's other fields are its
 * committed state; readers resolve _txn through the decision (view.h).
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

/* Creates the indexes of the decision log's collections (txns, txn_open,
 * txn_claims) in the main database; idempotent. */
bool store_mongo_ensure_indexes(shards_t *shards, chorus_error_t *err);

/* Deletes finished records whose transaction ended before older_than_ms:
 * done ones by their finished_at, those a group's finish ended (their
 * open marker deleted, nothing written to them) by their deadline; the
 * transient inserts of committed ones still there are applied first
 * (txn.h).
 *
 * Late locks: a coordinator whose prepare request was still in flight when
 * recovery aborted and finished its transaction can leave a lock behind.
 * So before an aborted record is deleted, its participants are unlocked
 * once more (idempotent), long after any such request could land; and
 * readers, writers and decide() treat a missing record as aborted.
 *
 * Each server collects the records it owns (owner, the coordinator or the
 * recovery that claimed it last), finished before older_than_ms, and any
 * record finished before orphans_before_ms whoever owns it (its server
 * may be gone): two servers collecting the same records at once read
 * each other's deleted decisions as aborts and sweep every op again.
 *
 * At most STORE_MONGO_COLLECT_MAX records per call, deleted with their
 * decisions and claims in one command per collection; *deleted says how
 * many: a caller that wants them all calls again while it is the
 * maximum. */
#define STORE_MONGO_COLLECT_MAX 500
bool store_mongo_collect(const txn_store_t *store, const char *owner,
                         int64_t older_than_ms, int64_t orphans_before_ms,
                         int64_t *deleted, chorus_error_t *err);

#endif
