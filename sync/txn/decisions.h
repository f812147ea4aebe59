/*
 * decisions.h - what this process knows of transactions' decisions,
 * so that readers and appliers of documents with escrow entries
 * (escrow.h) ask the database as little as possible.
 *
 * Three kinds of knowledge, all safe to forget (forgotten, the caller
 * reads the decision, or the document, from the database):
 *   - a decision, once made, never changes (docs/SYNC.md §8): a decision
 *     read or made here is kept;
 *   - "open": this process coordinates the transaction and has not sent
 *     its decision.  Only its coordinator commits a transaction, so an
 *     open one is not committed (recovery may abort it meanwhile, which
 *     is not committed either).  txn_execute marks it open after begin
 *     and forgets that before it sends the decision;
 *   - "folded": a write of this process folded a committed
 *     transaction's escrow entry on a document, so its apply has nothing
 *     left to do there (decisions_folded; store_mongo.c's fold_many).
 *
 * A fixed table of DECISIONS_SLOTS entries; a new entry replaces the one
 * in its slot.  Thread-safe (one mutex).
 */
#ifndef CHORUS_DECISIONS_H
#define CHORUS_DECISIONS_H

#include <stdbool.h>
#include <stdint.h>

#include "sync/txn/txn.h"

#define DECISIONS_SLOTS 8192

typedef enum {
  DECISIONS_UNKNOWN = 0, /* ask the database */
  DECISIONS_OPEN,        /* coordinated here, no decision sent: not committed */
  DECISIONS_COMMITTED,
  DECISIONS_ABORTED,
  DECISIONS_UNDECIDED, /* undecided in the database a moment ago (below) */
} decisions_fate_t;

/* How long a reader may take a transaction the database said undecided
 * for undecided without asking again. */
#define DECISIONS_UNDECIDED_MS 25

typedef struct decisions decisions_t;

decisions_t *decisions_new(void);
void decisions_free(decisions_t *d);

/* txn_id is coordinated here and its decision not sent. */
void decisions_open(decisions_t *d, const char *txn_id);

/* Its decision is about to be sent: forgets the open mark (a decision
 * known already stays). */
void decisions_close(decisions_t *d, const char *txn_id);

/* txn_id was decided (state: TXN_COMMITTED or TXN_ABORTED). */
void decisions_put(decisions_t *d, const char *txn_id, txn_state_t state);

decisions_fate_t decisions_get(decisions_t *d, const char *txn_id);

/* The current generation (below): read before asking the database for a
 * decision, and given to decisions_undecided. */
uint64_t decisions_generation(decisions_t *d);

/* The database had no decision for txn_id when asked in generation
 * `generation` (decisions_generation before the question; a mark of an
 * earlier generation than the current one is not kept).
 * decisions_get answers DECISIONS_UNDECIDED for it for
 * DECISIONS_UNDECIDED_MS and within the current generation only, then
 * DECISIONS_UNKNOWN again; a decided or open mark of it is kept.  So
 * readers of a hot document whose escrow entries belong to another
 * process's transactions in flight ask for each of them about once per
 * DECISIONS_UNDECIDED_MS, not once per read (under a burst of likes, every
 * read of the tweet asked for each of hundreds of entries).  What a read
 * may miss that way is a commit of the last DECISIONS_UNDECIDED_MS that
 * no reader of this process has seen yet: reads stay committed-only and,
 * in one process, never go back (once a read learns the decision it is
 * kept); a reader that waited for an event of the transaction reads after
 * a new generation (below), so it sees the commit. */
void decisions_undecided(decisions_t *d, const char *txn_id,
                         uint64_t generation);

/* Starts a new generation: every DECISIONS_UNDECIDED mark is forgotten.
 * Called for every event delivered to this process (its transaction was
 * decided before its event existed), and by decisions_put for every
 * commit this process makes or learns: so the reads after a commit (the
 * answer, the enrichment of its events) take no transaction for
 * undecided that committed before it, and the event of the last of
 * concurrent increments carries all of them, as docs/SYNC.md §5 needs. */
void decisions_new_generation(decisions_t *d);

/* How many folded entries (below) a decision keeps. */
#define DECISIONS_FOLDED_MAX 4

/* A write of this process folded the escrow entry of txn_id, a committed
 * transaction, on the document `where` names (a keyed hash of its lock
 * key, the caller's: equal for one document, unequal for two, but with
 * probability 2^-64).  Kept with the decision: not when this process does
 * not hold txn_id's commit (the mark is then lost, which is safe), and at
 * most DECISIONS_FOLDED_MAX a transaction. */
void decisions_folded(decisions_t *d, const char *txn_id, uint64_t where);

/* Whether decisions_folded said so of txn_id and where: then the entry is
 * gone from that document for good (escrow.h), and its apply has nothing
 * to do there.  False when not known (read the document). */
bool decisions_was_folded(decisions_t *d, const char *txn_id, uint64_t where);

/* The clock DECISIONS_UNDECIDED_MS is measured on (monotonic ms; NULL:
 * the process's monotonic clock).  For tests; before any other use. */
void decisions_set_clock(decisions_t *d, int64_t (*now_ms)(void));

#endif
