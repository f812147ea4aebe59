/*
 * recovery.h - finishing transactions whose coordinator stopped.
 *
 * A coordinator record whose deadline has passed and that is not done
 * belongs to a coordinator that crashed, hung or lost the database.  Any
 * server may take it over: the claim is exclusive (in store_mongo the
 * insert-once document "<txn>#<lease>") on the record's lease counter, so
 * exactly one server wins each takeover, and it then has a fresh deadline
 * to finish in.  Finishing is txn_recover(): abort if undecided, apply the
 * decision everywhere, call the hook, mark done.  Every step is
 * idempotent, so a takeover of a takeover (the recoverer crashed too) is
 * safe.
 *
 * Pure functions over a txn_store_t; the periodic thread is in sync.c.
 */
#ifndef CHORUS_RECOVERY_H
#define CHORUS_RECOVERY_H

#include <stdbool.h>
#include <stdint.h>

#include "sync/txn/txn.h"

typedef struct recovery_result {
  int recovered;   /* transactions finished by this pass */
  int rolled_back; /* of which ended aborted */
} recovery_result_t;

/* Claims and finishes expired unfinished transactions (any, or only
 * txn_id when it is not NULL) until none is left or max is reached.  The
 * clock is read afresh for every claim, so a long pass never hands out a
 * lease that has already run out. */
bool recovery_pass(const txn_store_t *store, const char *txn_id,
                   const char *owner, int64_t lease_ms, int64_t (*now_ms)(void),
                   int max, const txn_applied_hook_t *hook,
                   recovery_result_t *result, chorus_error_t *err);

#endif
