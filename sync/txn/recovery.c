/*
 * recovery.c - see recovery.h.
 */
#include "sync/txn/recovery.h"

#include <assert.h>
#include <stdio.h>

bool recovery_pass(const txn_store_t *store, const char *txn_id,
                   const char *owner, int64_t lease_ms, int64_t (*now_ms)(void),
                   int max, const txn_applied_hook_t *hook,
                   recovery_result_t *result, chorus_error_t *err) {
  result->recovered = 0;
  result->rolled_back = 0;
  while (result->recovered < max) {
    txn_t txn;
    txn_state_t state, final_state;
    bool found = false;
    txn_init(&txn);
    if (!store->claim(store->impl, txn_id, owner, now_ms(), lease_ms, &txn,
                      &state, &found, err)) {
      return false;
    }
    if (!found) {
      return true;
    }
    bool ok = txn_recover(store, &txn, state, &final_state, hook, err);
    if (ok) {
      assert(final_state == TXN_COMMITTED || final_state == TXN_ABORTED);
      fprintf(stderr, "chorusd[%s]: recovered transaction %s (%s, %zu ops)\n",
              owner, txn.id, txn_state_name(final_state), txn.n_ops);
      result->recovered++;
      result->rolled_back += final_state == TXN_ABORTED;
    }
    txn_cleanup(&txn);
    if (!ok) {
      return false; /* the lease runs out and someone retries later */
    }
  }
  return true;
}
