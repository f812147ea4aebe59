/*
 * decisions.h - what this process knows of transactions' decisions,
 * so that readers and appliers of documents with escrow entries
 * (escrow.h) ask the database as little as possible.
 *
 * Two kinds of knowledge, both safe to forget (forgotten, the caller
 * reads the decision from the database):
 *   - a decision, once made, never changes (docs/SYNC.md §8): a decision
 *     read or made here is kept;
 *   - "open": this process coordinates the transaction and has not sent
 *     its decision.  Only its coordinator commits a transaction, so an
 *     open one is not committed (recovery may abort it meanwhile, which
 *     is not committed either).  txn_execute marks it open after begin
 *     and forgets that before it sends the decision.
 *
 * A fixed table of DECISIONS_SLOTS entries; a new entry replaces the one
 * in its slot.  Thread-safe (one mutex).
 */
#ifndef CHORUS_DECISIONS_H
#define CHORUS_DECISIONS_H

#include <stdbool.h>

#include "sync/txn/txn.h"

#define DECISIONS_SLOTS 8192

typedef enum {
  DECISIONS_UNKNOWN = 0, /* ask the database */
  DECISIONS_OPEN,        /* coordinated here, no decision sent: not committed */
  DECISIONS_COMMITTED,
  DECISIONS_ABORTED,
} decisions_fate_t;

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

#endif
