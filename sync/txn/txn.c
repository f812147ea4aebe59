/*
 * txn.c - the two-phase commit state machine; see txn.h and docs/SYNC.md.
 *
 * Invariants this file maintains (the store supplies atomicity of each
 * single step):
 *   1. A participant is locked only after the record exists (begin before
 *      prepare), so recovery can always find every lock's transaction.
 *   2. The decision is made once: decide() is a compare-and-set from
 *      pending, whoever (coordinator or recovery) gets there first.
 *   3. Nothing is applied before the decision is durable, and only the
 *      decided outcome is ever applied.
 *   4. A transaction is finished (finish, or a group's finish_many) only
 *      after every participant is applied (a transient insert excepted,
 *      10), so an unfinished record is exactly a transaction that may
 *      still hold locks.
 *   5. Only the coordinator decides commit, and only after every op voted
 *      yes; recovery (and a coordinator that gives up) decides abort.
 *   6. Shared (escrow) ops are prepared after every other op; an abort
 *      applies exactly the ops whose prepare was sent (op->prepared).
 *   7. A transaction is marked open in store->decisions from its begin
 *      until just before its decision is sent, and its decision is noted
 *      there once known: readers take an open transaction as not
 *      committed without asking the database (decisions.h).
 *   8. The coordinator applies a shared op only within its lease minus
 *      the margin: an entry is rewritten by a read, then a whole-document
 *      write, and two appliers of one transaction (it and a recoverer)
 *      must not interleave those.  Past it, recovery applies.
 *   9. With defer_apply, a commit applies every op but the shared ones
 *      before txn_execute returns, the shared ones and the finish after
 *      (txn_complete): only readers through the view see escrow entries,
 *      and they count a committed one already.
 *  10. A commit never applies a transient insert (its readers read
 *      through the view); an abort deletes it as any insert; the
 *      collector applies one still there before the decision goes.
 *  11. A fresh insert's prepare writes nothing (it only votes, and
 *      op->prepared stays false, so an abort never touches it); it is
 *      written only by a commit's apply, after the decision: nothing of
 *      it exists before.  So a commit is answered COMMITTED only once
 *      its fresh inserts are written (else FAILED with the write's
 *      error, and recovery writes them): a 201 is readable at once.
 * The cheap ones are checked with assert() where they must hold.
 */
#include "sync/txn/txn.h"

#include <assert.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sync/txn/decisions.h"

static const char *const step_names[] = {
    "txn.after_begin", "txn.after_prepare", "txn.after_decision",
    "txn.mid_apply",   "txn.mid_group",     "txn.after_increments",
};
enum {
  STEP_AFTER_BEGIN,
  STEP_AFTER_PREPARE,
  STEP_AFTER_DECISION,
  STEP_MID_APPLY,
  STEP_MID_GROUP,
  STEP_AFTER_INCREMENTS
};

/* No prepare starts in the last quarter of the lease (at most 500 ms), so
 * that a recovery aborting at the deadline rarely races a late lock (and
 * store_mongo_collect cleans the rare one that does). */
#define PREPARE_MARGIN_MAX_MS 500

/* A group's lease is opts->lease_ms for every GROUP_LEASE_MEMBERS members
 * begun together (a group of 64: four leases).  Each step of a group
 * carries the writes of all its members, so a big group takes longer
 * than one transaction; with a single lease, groups of 64 likes waiting
 * behind the other server's writes outlive it and recovery aborts
 * members of live coordinators, whose requests then run again.  The
 * lease only says when a coordinator is taken for dead: a longer one
 * delays the recovery of a stopped big group, nothing else. */
#define GROUP_LEASE_MEMBERS 16

int64_t txn_group_lease_ms(int64_t lease_ms, size_t n) {
  size_t leases = n <= GROUP_LEASE_MEMBERS
                      ? 1
                      : (n + GROUP_LEASE_MEMBERS - 1) / GROUP_LEASE_MEMBERS;
  return lease_ms * (int64_t)leases;
}

static void step(const txn_exec_opts_t *opts, int which) {
  if (opts->on_step) {
    opts->on_step(opts->step_ctx, step_names[which]);
  }
}

void txn_init(txn_t *txn) { memset(txn, 0, sizeof *txn); }

void txn_cleanup(txn_t *txn) {
  for (size_t i = 0; i < txn->n_ops; i++) {
    txn_op_t *op = &txn->ops[i];
    bson_value_destroy(&op->id);
    if (op->doc) {
      bson_destroy(op->doc);
    }
    if (op->set) {
      bson_destroy(op->set);
    }
    if (op->inc) {
      bson_destroy(op->inc);
    }
    if (op->staged) {
      bson_destroy(op->staged);
    }
  }
  memset(txn, 0, sizeof *txn);
}

/* Two ops on one document would share its lock: the second would see the
 * first's lock as its own and never stage its change.  Such a transaction
 * is marked invalid and refused by txn_execute. */
static bool is_number(const bson_value_t *v) {
  return v->value_type == BSON_TYPE_INT32 || v->value_type == BSON_TYPE_INT64 ||
         v->value_type == BSON_TYPE_DOUBLE;
}

static double number_of(const bson_value_t *v) {
  switch (v->value_type) {
  case BSON_TYPE_INT32:
    return v->value.v_int32;
  case BSON_TYPE_INT64:
    return (double)v->value.v_int64;
  default:
    return v->value.v_double;
  }
}

/* Whether two _id values name one document (MongoDB compares numbers by
 * value: 7, NumberLong(7) and 7.0 are the same _id). */
static bool same_id(const bson_value_t *a, const bson_value_t *b) {
  if (is_number(a) && is_number(b)) {
    return number_of(a) == number_of(b);
  }
  if (a->value_type != b->value_type) {
    return false;
  }
  bson_t x = BSON_INITIALIZER, y = BSON_INITIALIZER;
  bson_append_value(&x, "v", 1, a);
  bson_append_value(&y, "v", 1, b);
  bool same = bson_equal(&x, &y);
  bson_destroy(&x);
  bson_destroy(&y);
  return same;
}

static void check_unique(txn_t *txn) {
  txn_op_t *last = &txn->ops[txn->n_ops - 1];
  for (size_t i = 0; i + 1 < txn->n_ops; i++) {
    const txn_op_t *op = &txn->ops[i];
    if (op->shard == last->shard && !strcmp(op->coll, last->coll) &&
        same_id(&op->id, &last->id)) {
      txn->invalid = true;
    }
  }
}

static txn_op_t *add_op(txn_t *txn, txn_kind_t kind, int shard,
                        const char *coll) {
  BSON_ASSERT(txn->n_ops < TXN_MAX_OPS);
  txn_op_t *op = &txn->ops[txn->n_ops++];
  memset(op, 0, sizeof *op);
  op->kind = kind;
  op->shard = shard;
  bson_strncpy(op->coll, coll, sizeof op->coll);
  op->staged_known = true;
  return op;
}

void txn_add_insert(txn_t *txn, int shard, const char *coll,
                    const bson_t *doc) {
  txn_op_t *op = add_op(txn, TXN_INSERT, shard, coll);
  bson_iter_t it;
  BSON_ASSERT(bson_iter_init_find(&it, doc, "_id"));
  bson_value_copy(bson_iter_value(&it), &op->id);
  op->doc = bson_copy(doc);
  check_unique(txn);
}

void txn_add_transient_insert(txn_t *txn, int shard, const char *coll,
                              const bson_t *doc) {
  txn_add_insert(txn, shard, coll, doc);
  txn->ops[txn->n_ops - 1].transient = true;
}

void txn_add_fresh_insert(txn_t *txn, int shard, const char *coll,
                          const bson_t *doc) {
  txn_add_insert(txn, shard, coll, doc);
  txn->ops[txn->n_ops - 1].fresh = true;
}

void txn_add_update(txn_t *txn, int shard, const char *coll,
                    const bson_value_t *id, const bson_t *set,
                    const bson_t *inc, const int64_t *expect_version) {
  txn_op_t *op = add_op(txn, TXN_UPDATE, shard, coll);
  bson_value_copy(id, &op->id);
  op->set = set ? bson_copy(set) : NULL;
  op->inc = inc ? bson_copy(inc) : NULL;
  if (expect_version) {
    op->check_version = true;
    op->version = *expect_version;
  }
  op->shared = txn_op_is_shared(op);
  check_unique(txn);
}

void txn_add_deferred_increment(txn_t *txn, const char *coll,
                                const bson_value_t *id, const bson_t *inc) {
  txn_add_update(txn, TXN_MAIN_SHARD, coll, id, NULL, inc, NULL);
  txn_op_t *op = &txn->ops[txn->n_ops - 1];
  assert(op->shared); /* inc not empty */
  op->deferred = op->shared;
}

bool txn_op_is_shared(const txn_op_t *op) {
  return op->kind == TXN_UPDATE && op->inc && !bson_empty(op->inc) &&
         (!op->set || bson_empty(op->set)) && !op->check_version;
}

void txn_add_delete(txn_t *txn, int shard, const char *coll,
                    const bson_value_t *id, const int64_t *expect_version) {
  txn_op_t *op = add_op(txn, TXN_DELETE, shard, coll);
  bson_value_copy(id, &op->id);
  if (expect_version) {
    op->check_version = true;
    op->version = *expect_version;
  }
  check_unique(txn);
}

/* Which ops apply_ops applies. */
typedef enum { OPS_ALL, OPS_EXCLUSIVE, OPS_SHARED } ops_t;

/* Applies the decided state to the ops of `which` (a commit: all of them;
 * an abort: those whose prepare was sent, op->prepared, but ops[skip]);
 * stops at the first failure.  The coordinator (opts given) marks each op
 * in_lease while its clock is before lease_end, and leaves a shared op to
 * recovery past it (8); recovery (opts NULL) never marks them.  The
 * "txn.mid_apply" step comes after the first op a coordinator applies
 * (txn->applied_any). */
static bool apply_ops(const txn_store_t *store, txn_t *txn, txn_state_t state,
                      const txn_exec_opts_t *opts, int64_t lease_end,
                      size_t skip, ops_t which, chorus_error_t *err) {
  assert(state == TXN_COMMITTED || state == TXN_ABORTED); /* 3 */
  for (size_t i = 0; i < txn->n_ops; i++) {
    txn_op_t *op = &txn->ops[i];
    if (i == skip || (state == TXN_ABORTED && !op->prepared) ||
        (state == TXN_COMMITTED && op->transient) || /* 10 */
        (which == OPS_EXCLUSIVE && op->shared) ||
        (which == OPS_SHARED && !op->shared)) {
      continue;
    }
    assert(!(op->fresh && op->prepared)); /* 11 */
    op->in_lease = opts && opts->now_ms() < lease_end;
    op->wait_until_ms = opts ? lease_end : 0;
    if (opts && op->shared && !op->in_lease) {
      chorus_error_set(err, 503, "lease",
                       "the coordinator's lease ran out before it applied");
      return false; /* 8 */
    }
    bool ok = state == TXN_COMMITTED
                  ? store->commit_op(store->impl, txn->id, op, err)
                  : store->abort_op(store->impl, txn->id, op, err);
    if (!ok) {
      txn->fresh_unwritten = txn->fresh_unwritten ||
                             (state == TXN_COMMITTED && op->fresh); /* 11 */
      return false;
    }
    if (!txn->applied_any && opts) {
      txn->applied_any = true;
      step(opts, STEP_MID_APPLY);
    }
    txn->applied_any = true;
  }
  return true;
}

/* A committed transaction's outcome: COMMITTED, durable whatever its
 * apply did (readers see its staged changes through the view), but for a
 * fresh insert not written (11): FAILED with the write's error, apply_err
 * (into err, when not NULL); recovery writes it. */
static txn_outcome_t committed_outcome(const txn_t *txn,
                                       const chorus_error_t *apply_err,
                                       chorus_error_t *err) {
  if (!txn->fresh_unwritten) {
    return TXN_OUTCOME_COMMITTED;
  }
  if (err) {
    *err = *apply_err;
  }
  return TXN_OUTCOME_FAILED;
}

static bool has_shared(const txn_t *txn) {
  for (size_t i = 0; i < txn->n_ops; i++) {
    if (txn->ops[i].shared) {
      return true;
    }
  }
  return false;
}

static txn_outcome_t outcome_of_vote(txn_vote_t vote) {
  switch (vote) {
  case TXN_VOTE_YES:
    return TXN_OUTCOME_COMMITTED;
  case TXN_VOTE_MISSING:
    return TXN_OUTCOME_MISSING;
  case TXN_VOTE_EXISTS:
    return TXN_OUTCOME_EXISTS;
  case TXN_VOTE_ERROR:
    return TXN_OUTCOME_FAILED;
  case TXN_VOTE_LOCKED:
  case TXN_VOTE_STALE:
  default:
    return TXN_OUTCOME_CONFLICT;
  }
}

/* The order of preparation (6): every op that is not shared, then the
 * shared ones, each group in op order. */
static size_t prepare_order(const txn_t *txn, size_t order[TXN_MAX_OPS]) {
  size_t n = 0;
  for (int shared = 0; shared < 2; shared++) {
    for (size_t i = 0; i < txn->n_ops; i++) {
      if (txn->ops[i].shared == (shared == 1)) {
        order[n++] = i;
      }
    }
  }
  assert(n == txn->n_ops);
  return n;
}

txn_outcome_t txn_execute(const txn_store_t *store, txn_t *txn,
                          const txn_exec_opts_t *opts, size_t *failed_op,
                          char lock_owner[TXN_ID_LEN + 1],
                          chorus_error_t *err) {
  bson_oid_t oid;
  bson_oid_init(&oid, NULL);
  bson_oid_to_string(&oid, txn->id);
  *failed_op = 0;
  lock_owner[0] = '\0';

  assert(txn->n_ops <= TXN_MAX_OPS);
  int64_t deadline = opts->now_ms() + opts->lease_ms;
  int64_t margin = opts->lease_ms / 4 < PREPARE_MARGIN_MAX_MS
                       ? opts->lease_ms / 4
                       : PREPARE_MARGIN_MAX_MS;
  txn->deadline_ms = deadline;
  txn->margin_ms = margin;
  txn->apply_pending = false;
  txn->applied_any = false;
  txn->fresh_unwritten = false;
  if (txn->invalid) {
    chorus_error_set(err, 500, "internal",
                     "a transaction names one document twice");
    return TXN_OUTCOME_FAILED;
  }
  if (!store->begin(store->impl, txn, opts->owner, deadline, err)) {
    return TXN_OUTCOME_FAILED; /* nothing was written that matters */
  }
  decisions_open(store->decisions, txn->id); /* 7 */
  step(opts, STEP_AFTER_BEGIN);

  /* Phase 1 (1: the record exists, so every lock can be traced to it),
   * shared ops last (6). */
  size_t order[TXN_MAX_OPS];
  size_t n_order = prepare_order(txn, order);
  txn_vote_t vote = TXN_VOTE_YES;
  size_t prepared = 0;
  chorus_error_t prepare_err;
  chorus_error_clear(&prepare_err);
  for (size_t k = 0; k < n_order && vote == TXN_VOTE_YES; k++) {
    size_t i = order[k];
    txn_op_t *op = &txn->ops[i];
    if (opts->now_ms() > deadline - margin) {
      vote = TXN_VOTE_STALE; /* too slow: give up before recovery does */
      *failed_op = i;
      break;
    }
    op->prepared = !op->fresh; /* 11: its vote writes nothing */
    op->wait_until_ms = deadline - margin;
    prepared++;
    vote = store->prepare(store->impl, txn->id, op, lock_owner, &prepare_err);
    if (vote != TXN_VOTE_YES) {
      *failed_op = i;
    }
  }
  step(opts, STEP_AFTER_PREPARE);

  /* The decision.  A coordinator that has outlived its lease commits no
   * more: recovery may already have aborted and swept the transaction. */
  txn_state_t want = vote == TXN_VOTE_YES ? TXN_COMMITTED : TXN_ABORTED;
  if (want == TXN_COMMITTED && opts->now_ms() > deadline) {
    want = TXN_ABORTED;
    vote = TXN_VOTE_STALE;
    *failed_op = txn->n_ops; /* every op voted yes: too late, not refused */
  }
  decisions_close(store->decisions, txn->id); /* 7: about to be sent */
  txn_state_t actual;
  if (!store->decide(store->impl, txn->id, want, &actual, err)) {
    return TXN_OUTCOME_FAILED; /* recovery will abort or finish it */
  }
  decisions_put(store->decisions, txn->id, actual);
  /* 2, 5: decided once, and a commit only as asked, by us, after every
   * op voted yes. */
  assert(actual == TXN_COMMITTED || actual == TXN_ABORTED);
  assert(actual == TXN_ABORTED ||
         (want == TXN_COMMITTED && prepared == txn->n_ops));
  assert(*failed_op <= txn->n_ops);
  step(opts, STEP_AFTER_DECISION);

  if (actual == TXN_COMMITTED && opts->defer_apply && has_shared(txn)) {
    /* Every op but the shared ones now, so that a reader of raw documents
     * (sessions, names) finds the change once the client has its answer;
     * the shared ones (folds of escrow entries, which only readers through
     * the view see) and the finish after the answer: txn_complete.  A
     * failure here leaves everything to recovery. */
    chorus_error_t apply_err;
    txn->apply_pending =
        apply_ops(store, txn, TXN_COMMITTED, opts, deadline - margin, SIZE_MAX,
                  OPS_EXCLUSIVE, &apply_err);
    return committed_outcome(txn, &apply_err, err);
  }

  /* Phase 2.  An abort only needs the ops we may have locked; a commit
   * means every op was prepared.  When a prepare failed on a database
   * error, that participant's database is likely down: we do not wait on
   * it again, and leave its cleanup (and the finish) to recovery, which
   * keeps retrying until it answers.  The decision is durable already. */
  bool leave_to_recovery = actual == TXN_ABORTED && vote == TXN_VOTE_ERROR;
  size_t skip = leave_to_recovery ? *failed_op : SIZE_MAX;
  /* Writes without reading back (op->in_lease) only while a write sent
   * now lands well before recovery may take over: the prepare margin. */
  chorus_error_t apply_err;
  if (apply_ops(store, txn, actual, opts, deadline - margin, skip, OPS_ALL,
                &apply_err) &&
      !leave_to_recovery) {
    chorus_error_t finish_err;
    /* A failure is left to recovery. */
    store->finish(store->impl, txn->id, actual, &finish_err);
  }

  if (actual == TXN_COMMITTED) {
    return committed_outcome(txn, &apply_err, err);
  }
  if (want == TXN_COMMITTED) {
    /* Recovery aborted us first (we were too slow): retryable. */
    return TXN_OUTCOME_CONFLICT;
  }
  if (vote == TXN_VOTE_ERROR && err) {
    *err = prepare_err;
  }
  return outcome_of_vote(vote);
}

bool txn_complete(const txn_store_t *store, txn_t *txn,
                  const txn_exec_opts_t *opts, chorus_error_t *err) {
  assert(txn->apply_pending); /* 3: committed, decided by txn_execute */
  txn->apply_pending = false;
  if (!apply_ops(store, txn, TXN_COMMITTED, opts,
                 txn->deadline_ms - txn->margin_ms, SIZE_MAX, OPS_SHARED,
                 err)) {
    return false;
  }
  step(opts, STEP_AFTER_INCREMENTS);
  return store->finish(store->impl, txn->id, TXN_COMMITTED, err);
}

/* ---- group commit ---- */

bool txn_groupable(const txn_t *txn) {
  if (txn->invalid || txn->n_ops == 0) {
    return false;
  }
  for (size_t i = 0; i < txn->n_ops; i++) {
    if (txn->ops[i].kind != TXN_INSERT && !txn->ops[i].shared) {
      return false;
    }
  }
  return true;
}

/* Which step of a group a call of run_items makes. */
typedef enum {
  ITEMS_BEGIN,
  ITEMS_PREPARE,
  ITEMS_DECIDE,
  ITEMS_COMMIT,
  ITEMS_FINISH
} items_step_t;

/* One step for n items: the store's _many function, else its single
 * function once per item. */
static void run_items_once(const txn_store_t *store, items_step_t what,
                           txn_item_t *items, size_t n,
                           const txn_exec_opts_t *opts, int64_t deadline) {
  void (*many)(void *, txn_item_t *, size_t) = NULL;
  switch (what) {
  case ITEMS_BEGIN:
    if (store->begin_many) {
      store->begin_many(store->impl, items, n, opts->owner, deadline);
      return;
    }
    break;
  case ITEMS_PREPARE:
    many = store->prepare_many;
    break;
  case ITEMS_DECIDE:
    many = store->decide_many;
    break;
  case ITEMS_COMMIT:
    many = store->commit_many;
    break;
  case ITEMS_FINISH:
    many = store->finish_many;
    break;
  }
  if (many) {
    many(store->impl, items, n);
    return;
  }
  for (size_t i = 0; i < n; i++) {
    txn_item_t *it = &items[i];
    switch (what) {
    case ITEMS_BEGIN:
      it->ok =
          store->begin(store->impl, it->txn, opts->owner, deadline, &it->err);
      break;
    case ITEMS_PREPARE:
      it->vote = store->prepare(store->impl, it->txn_id, it->op, it->lock_owner,
                                &it->err);
      break;
    case ITEMS_DECIDE:
      it->ok = store->decide(store->impl, it->txn_id, it->state, &it->state,
                             &it->err);
      break;
    case ITEMS_COMMIT:
      it->ok = store->commit_op(store->impl, it->txn_id, it->op, &it->err);
      break;
    case ITEMS_FINISH:
      it->ok = store->finish(store->impl, it->txn_id, it->state, &it->err);
      break;
    }
  }
}

static int by_target(const void *a, const void *b) {
  const txn_op_t *x = ((const txn_item_t *)a)->op;
  const txn_op_t *y = ((const txn_item_t *)b)->op;
  if (x->shard != y->shard) {
    return x->shard < y->shard ? -1 : 1;
  }
  int c = strcmp(x->coll, y->coll);
  if (c) {
    return c;
  }
  if (x->fresh != y->fresh) {
    return (int)x->fresh - (int)y->fresh; /* one kind a call */
  }
  return (int)x->deferred - (int)y->deferred;
}

/* A step on participants (prepare, commit): one call per collection of
 * one shard (items sorted so), *calls counting the calls made; the step
 * `after_first` (-1: none) is called after the first call. */
static void run_items(const txn_store_t *store, items_step_t what,
                      txn_item_t *items, size_t n, const txn_exec_opts_t *opts,
                      int after_first, size_t *calls) {
  if (what != ITEMS_PREPARE && what != ITEMS_COMMIT) {
    run_items_once(store, what, items, n, opts, 0);
    return;
  }
  qsort(items, n, sizeof *items, by_target);
  for (size_t from = 0; from < n;) {
    size_t to = from + 1;
    while (to < n && by_target(&items[from], &items[to]) == 0) {
      to++;
    }
    run_items_once(store, what, items + from, to - from, opts, 0);
    if ((*calls)++ == 0 && after_first >= 0) {
      step(opts, after_first);
    }
    from = to;
  }
}

/* Where a member is in its group. */
typedef struct member_state {
  bool live; /* still in the group's steps */
  txn_vote_t vote;
  size_t prepared;
  txn_state_t want, actual;
  bool applied_ok; /* every op applied so far */
} member_state_t;

static txn_t *txn_of_op(txn_member_t *members, size_t n, const txn_op_t *op,
                        size_t *which) {
  *which = 0;
  for (size_t i = 0; i < n; i++) {
    txn_t *txn = members[i].txn;
    if (op >= txn->ops && op < txn->ops + txn->n_ops) {
      *which = i;
      return txn;
    }
  }
  assert(!"an item's op belongs to a member");
  return NULL;
}

/* The prepares of one kind (shared or not) of every member still voting
 * yes, in one run_items; the group's first write of a prepare is
 * followed by "txn.mid_group" (8: past deadline - margin nothing is
 * sent, as txn_execute's prepare loop). */
static void prepare_pass(const txn_store_t *store, txn_member_t *members,
                         member_state_t *ms, size_t n, bool shared,
                         const txn_exec_opts_t *opts, int64_t deadline,
                         int64_t margin, txn_item_t *items, size_t *calls) {
  size_t k = 0;
  bool late = opts->now_ms() > deadline - margin;
  for (size_t i = 0; i < n; i++) {
    txn_t *txn = members[i].txn;
    if (!ms[i].live || ms[i].vote != TXN_VOTE_YES) {
      continue;
    }
    for (size_t j = 0; j < txn->n_ops; j++) {
      txn_op_t *op = &txn->ops[j];
      if (op->shared != shared) {
        continue;
      }
      if (late) {
        ms[i].vote = TXN_VOTE_STALE; /* too slow: give up before recovery */
        members[i].failed_op = j;
        break;
      }
      op->prepared = !op->fresh; /* 11: its vote writes nothing */
      op->wait_until_ms = deadline - margin;
      ms[i].prepared++;
      memset(&items[k], 0, sizeof items[k]);
      items[k].txn_id = txn->id;
      items[k].op = op;
      k++;
    }
  }
  run_items(store, ITEMS_PREPARE, items, k, opts, STEP_MID_GROUP, calls);
  for (size_t x = 0; x < k; x++) {
    size_t i = 0;
    txn_t *txn = txn_of_op(members, n, items[x].op, &i);
    if (items[x].vote == TXN_VOTE_YES || ms[i].vote != TXN_VOTE_YES) {
      continue;
    }
    ms[i].vote = items[x].vote;
    members[i].failed_op = (size_t)(items[x].op - txn->ops);
    memcpy(members[i].lock_owner, items[x].lock_owner,
           sizeof members[i].lock_owner);
    members[i].err = items[x].err;
  }
}

/* Commits the ops of `which` (OPS_EXCLUSIVE or OPS_SHARED) of the
 * members marked in `pick`, together; a member whose op failed, or whose
 * shared op comes after its lease minus margin (8), is left to recovery
 * (pick[i] false after).  "txn.mid_apply" follows the first call when a
 * member had applied nothing yet.  A member whose fresh insert failed is
 * marked fresh_unwritten, its error into fresh_err[i] (OPS_EXCLUSIVE;
 * NULL for OPS_SHARED, which has none). */
static void commit_pass(const txn_store_t *store, txn_t **txns, bool *pick,
                        size_t n, ops_t which, const txn_exec_opts_t *opts,
                        txn_item_t *items, chorus_error_t *fresh_err) {
  size_t k = 0;
  bool first_apply = false;
  for (size_t i = 0; i < n; i++) {
    txn_t *txn = txns[i];
    if (!pick[i]) {
      continue;
    }
    int64_t lease_end = txn->deadline_ms - txn->margin_ms;
    bool in_lease = opts->now_ms() < lease_end;
    if (which == OPS_SHARED && !in_lease) {
      pick[i] = false; /* 8 */
      continue;
    }
    for (size_t j = 0; j < txn->n_ops; j++) {
      txn_op_t *op = &txn->ops[j];
      if ((which == OPS_SHARED) != op->shared || op->transient) { /* 10 */
        continue;
      }
      op->in_lease = in_lease;
      op->wait_until_ms = lease_end;
      memset(&items[k], 0, sizeof items[k]);
      items[k].txn_id = txn->id;
      items[k].op = op;
      k++;
    }
    first_apply = first_apply || !txn->applied_any;
  }
  size_t calls = 0;
  run_items(store, ITEMS_COMMIT, items, k, opts,
            first_apply ? STEP_MID_APPLY : -1, &calls);
  for (size_t x = 0; x < k; x++) {
    for (size_t i = 0; i < n; i++) {
      if (items[x].op >= txns[i]->ops &&
          items[x].op < txns[i]->ops + txns[i]->n_ops) {
        txns[i]->applied_any = true;
        pick[i] = pick[i] && items[x].ok;
        if (!items[x].ok && items[x].op->fresh && !txns[i]->fresh_unwritten) {
          assert(fresh_err);               /* fresh inserts are exclusive ops */
          txns[i]->fresh_unwritten = true; /* 11 */
          fresh_err[i] = items[x].err;
        }
      }
    }
  }
}

/* Marks done every member picked (its ops all applied), together. */
static void finish_pass(const txn_store_t *store, txn_t **txns,
                        const bool *pick, const txn_state_t *state, size_t n,
                        const txn_exec_opts_t *opts, txn_item_t *items) {
  size_t k = 0;
  for (size_t i = 0; i < n; i++) {
    if (pick[i]) {
      memset(&items[k], 0, sizeof items[k]);
      items[k].txn_id = txns[i]->id;
      items[k].state = state[i];
      k++;
    }
  }
  /* A failure is left to recovery. */
  run_items_once(store, ITEMS_FINISH, items, k, opts, 0);
}

void txn_execute_group(const txn_store_t *store, txn_member_t *members,
                       size_t n, const txn_exec_opts_t *opts) {
  int64_t deadline = opts->now_ms() + txn_group_lease_ms(opts->lease_ms, n);
  int64_t margin = opts->lease_ms / 4 < PREPARE_MARGIN_MAX_MS
                       ? opts->lease_ms / 4
                       : PREPARE_MARGIN_MAX_MS;
  member_state_t *ms = bson_malloc0(sizeof *ms * (n ? n : 1));
  txn_item_t *items = bson_malloc0(sizeof *items * (n * TXN_MAX_OPS + 1));
  txn_t **txns = bson_malloc0(sizeof *txns * (n ? n : 1));
  bool *pick = bson_malloc0(sizeof *pick * (n ? n : 1));
  txn_state_t *states = bson_malloc0(sizeof *states * (n ? n : 1));

  for (size_t i = 0; i < n; i++) {
    txn_t *txn = members[i].txn;
    assert(txn_groupable(txn));
    assert(txn->n_ops <= TXN_MAX_OPS);
    bson_oid_t oid;
    bson_oid_init(&oid, NULL);
    bson_oid_to_string(&oid, txn->id);
    txn->deadline_ms = deadline;
    txn->margin_ms = margin;
    txn->apply_pending = false;
    txn->applied_any = false;
    txn->fresh_unwritten = false;
    txns[i] = txn;
    members[i].failed_op = 0;
    members[i].lock_owner[0] = '\0';
    chorus_error_clear(&members[i].err);
    ms[i].live = true;
    ms[i].vote = TXN_VOTE_YES;
    memset(&items[i], 0, sizeof items[i]);
    items[i].txn_id = txn->id;
    items[i].txn = txn;
  }

  /* begin (1: every record before any prepare) */
  run_items_once(store, ITEMS_BEGIN, items, n, opts, deadline);
  bool any = false;
  for (size_t i = 0; i < n; i++) {
    if (!items[i].ok) {
      ms[i].live = false;
      members[i].outcome = TXN_OUTCOME_FAILED; /* nothing that matters */
      members[i].err = items[i].err;
      continue;
    }
    decisions_open(store->decisions, txns[i]->id); /* 7 */
    any = true;
  }
  if (any) {
    step(opts, STEP_AFTER_BEGIN);
  }

  /* prepare: the inserts, then the shared ops (6) */
  size_t calls = 0;
  prepare_pass(store, members, ms, n, false, opts, deadline, margin, items,
               &calls);
  prepare_pass(store, members, ms, n, true, opts, deadline, margin, items,
               &calls);
  if (any) {
    step(opts, STEP_AFTER_PREPARE);
  }

  /* decide */
  size_t k = 0;
  for (size_t i = 0; i < n; i++) {
    if (!ms[i].live) {
      continue;
    }
    txn_t *txn = txns[i];
    ms[i].want = ms[i].vote == TXN_VOTE_YES ? TXN_COMMITTED : TXN_ABORTED;
    if (ms[i].want == TXN_COMMITTED && opts->now_ms() > deadline) {
      ms[i].want = TXN_ABORTED; /* a coordinator past its lease */
      ms[i].vote = TXN_VOTE_STALE;
      members[i].failed_op = txn->n_ops;
    }
    decisions_close(store->decisions, txn->id); /* 7: about to be sent */
    memset(&items[k], 0, sizeof items[k]);
    items[k].txn_id = txn->id;
    items[k].state = ms[i].want;
    k++;
  }
  run_items_once(store, ITEMS_DECIDE, items, k, opts, 0);
  k = 0;
  for (size_t i = 0; i < n; i++) {
    if (!ms[i].live) {
      continue;
    }
    txn_item_t *it = &items[k++];
    assert(!strcmp(it->txn_id, txns[i]->id));
    if (!it->ok) {
      ms[i].live = false; /* recovery will abort or finish it */
      members[i].outcome = TXN_OUTCOME_FAILED;
      members[i].err = it->err;
      continue;
    }
    ms[i].actual = it->state;
    decisions_put(store->decisions, txns[i]->id, it->state);
    /* 2, 5 */
    assert(it->state == TXN_COMMITTED || it->state == TXN_ABORTED);
    assert(it->state == TXN_ABORTED ||
           (ms[i].want == TXN_COMMITTED && ms[i].prepared == txns[i]->n_ops));
  }
  if (any) {
    step(opts, STEP_AFTER_DECISION);
  }

  /* apply: the committed members' inserts together (9: before the
   * answer), their increments now or after it (txn_complete_group) */
  for (size_t i = 0; i < n; i++) {
    pick[i] = ms[i].live && ms[i].actual == TXN_COMMITTED;
    states[i] = ms[i].actual;
  }
  chorus_error_t *fresh_err = bson_malloc0(sizeof *fresh_err * (n ? n : 1));
  commit_pass(store, txns, pick, n, OPS_EXCLUSIVE, opts, items, fresh_err);
  for (size_t i = 0; i < n; i++) {
    if (!ms[i].live || ms[i].actual != TXN_COMMITTED) {
      continue;
    }
    members[i].outcome =
        committed_outcome(txns[i], &fresh_err[i], &members[i].err);
    if (pick[i] && has_shared(txns[i]) && opts->defer_apply) {
      txns[i]->apply_pending = true;
      pick[i] = false; /* finished by txn_complete_group */
    }
  }
  if (!opts->defer_apply) {
    commit_pass(store, txns, pick, n, OPS_SHARED, opts, items, NULL);
    step(opts, STEP_AFTER_INCREMENTS);
  }
  bson_free(fresh_err);
  finish_pass(store, txns, pick, states, n, opts, items);

  /* the aborted members, each alone (as txn_execute's phase 2) */
  for (size_t i = 0; i < n; i++) {
    if (!ms[i].live || ms[i].actual != TXN_ABORTED) {
      continue;
    }
    txn_t *txn = txns[i];
    bool leave_to_recovery = ms[i].vote == TXN_VOTE_ERROR;
    size_t skip = leave_to_recovery ? members[i].failed_op : SIZE_MAX;
    chorus_error_t apply_err, finish_err;
    if (apply_ops(store, txn, TXN_ABORTED, opts, deadline - margin, skip,
                  OPS_ALL, &apply_err) &&
        !leave_to_recovery) {
      store->finish(store->impl, txn->id, TXN_ABORTED, &finish_err);
    }
    if (ms[i].want == TXN_COMMITTED) {
      members[i].outcome = TXN_OUTCOME_CONFLICT; /* recovery aborted it */
    } else {
      members[i].outcome = outcome_of_vote(ms[i].vote);
    }
  }
  bson_free(states);
  bson_free(pick);
  bson_free(txns);
  bson_free(items);
  bson_free(ms);
}

void txn_complete_group(const txn_store_t *store, txn_t **txns, size_t n,
                        const txn_exec_opts_t *opts) {
  bool *pick = bson_malloc0(sizeof *pick * (n ? n : 1));
  txn_state_t *states = bson_malloc0(sizeof *states * (n ? n : 1));
  txn_item_t *items = bson_malloc0(sizeof *items * (n * TXN_MAX_OPS + 1));
  for (size_t i = 0; i < n; i++) {
    assert(txns[i]->apply_pending); /* 3: committed by txn_execute_group */
    txns[i]->apply_pending = false;
    pick[i] = true;
    states[i] = TXN_COMMITTED;
  }
  commit_pass(store, txns, pick, n, OPS_SHARED, opts, items, NULL);
  step(opts, STEP_AFTER_INCREMENTS);
  finish_pass(store, txns, pick, states, n, opts, items);
  bson_free(items);
  bson_free(states);
  bson_free(pick);
}

bool txn_recover(const txn_store_t *store, txn_t *txn, txn_state_t state,
                 txn_state_t *final_state, const txn_applied_hook_t *hook,
                 chorus_error_t *err) {
  if (state == TXN_PENDING &&
      !store->decide(store->impl, txn->id, TXN_ABORTED, &state, err)) {
    return false;
  }
  assert(state == TXN_COMMITTED || state == TXN_ABORTED); /* 2 */
  decisions_put(store->decisions, txn->id, state);
  *final_state = state;
  /* Every op, as if every prepare had been sent (a lost reply, a late
   * lock): dropping an op never staged changes nothing; a fresh insert
   * is never prepared (11), and only a commit writes it. */
  for (size_t i = 0; i < txn->n_ops; i++) {
    txn->ops[i].prepared = !txn->ops[i].fresh;
  }
  if (!apply_ops(store, txn, state, NULL, 0, SIZE_MAX, OPS_ALL, err)) {
    return false;
  }
  if (hook && hook->fn) {
    hook->fn(hook->ctx, txn, state);
  }
  return store->finish(store->impl, txn->id, state, err);
}

const char *txn_state_name(txn_state_t state) {
  switch (state) {
  case TXN_COMMITTED:
    return "committed";
  case TXN_ABORTED:
    return "aborted";
  case TXN_PENDING:
  default:
    return "pending";
  }
}

const char *txn_kind_name(txn_kind_t kind) {
  switch (kind) {
  case TXN_INSERT:
    return "insert";
  case TXN_UPDATE:
    return "update";
  case TXN_DELETE:
  default:
    return "delete";
  }
}
