/*
 * txn.h - the two-phase commit state machine of Chorus.
 *
 * A transaction is a list of operations (insert, update, delete) on
 * documents that may live in different collections and different database
 * deployments.  It commits atomically:
 *
 *   begin     the coordinator record {state: pending, ops, owner, deadline}
 *             is written (w:majority) to the decision log ("txns");
 *   prepare   each participant document is locked with the transaction id
 *             and the change is staged on it; a document already locked by
 *             another transaction, changed since the expected version,
 *             missing, or (for an insert) already present votes no;
 *   decide    the record's state goes pending -> committed (all voted yes)
 *             or pending -> aborted, once (store_mongo: an insert-once
 *             decision document, a compare-and-set): the one instant at
 *             which the transaction's outcome is fixed;
 *   apply     each participant applies (commit) or drops (abort) its staged
 *             change and unlocks, each step conditional on its lock, so
 *             repeating it is harmless;
 *   finish    the record is marked done (and given the decided state,
 *             for people reading it).
 *
 * Lock modes.  An op that only increments (txn_op_is_shared: an update
 * with inc, no set, no version check) takes a participant in shared
 * (escrow) mode: any number of transactions stage their increments on
 * one document at once, each as its own entry (escrow.h), and commit
 * without waiting for each other.  Every other op takes its participant
 * exclusively, and conflicts with shared holders as with exclusive ones.
 * Shared ops are prepared after all the others, so that their entries are
 * undecided for as short a time as possible.
 *
 * A coordinator that dies leaves a record whose deadline passes; any server
 * then claims it (an insert-once claim of its next lease), aborts it if
 * undecided, applies the decision and finishes it (txn_recover).  The
 * protocol is written against txn_store_t so that tests can run it over a
 * fake store; store_mongo.c is the real one.  See docs/SYNC.md.
 *
 * Thread-safety: a txn_t belongs to one thread; stores must be thread-safe.
 */
#ifndef CHORUS_TXN_H
#define CHORUS_TXN_H

#include <bson/bson.h>
#include <stdbool.h>
#include <stdint.h>

#include "sync/base/error.h"

struct decisions; /* decisions.h */

#define TXN_ID_LEN 24 /* hex ObjectId */
#define TXN_MAX_OPS 32
#define TXN_COLL_MAX 48
#define TXN_MAIN_SHARD (-1) /* "shard" of collections in the main database */

typedef enum {
  TXN_INSERT = 1,
  TXN_UPDATE = 2,
  TXN_DELETE = 3,
} txn_kind_t;

/* One participant.  Owns its bson_t members and its id value. */
typedef struct txn_op {
  txn_kind_t kind;
  int shard;               /* TXN_MAIN_SHARD or a tweet shard number */
  char coll[TXN_COLL_MAX]; /* collection name */
  bson_value_t id;         /* the document's _id */
  bson_t *doc;             /* INSERT: the whole document (with _id) */
  bson_t *set;             /* UPDATE: fields to set, or NULL */
  bson_t *inc;             /* UPDATE: fields to increment, or NULL */
  bool check_version;      /* UPDATE/DELETE: require version == version */
  int64_t version;
  bool staged_known;     /* false for ops loaded back by recovery: the
                            staged change is read from the document */
  bson_t *staged;        /* UPDATE: the absolute values prepare staged
                            on the document in this process, or NULL */
  bool in_lease;         /* set by the coordinator just before it
                            applies the op: its lease has not run out
                            (nobody else can have finished the op) */
  bool shared;           /* an increment: the shared (escrow) mode; set by
                            txn_add_update, and loaded by recovery */
  bool deferred;         /* a shared op the store may keep apart until
                            after the commit (txn_add_deferred_increment);
                            loaded by recovery */
  bool transient;        /* an insert a commit leaves staged
                            (txn_add_transient_insert); loaded by
                            recovery */
  bool fresh;            /* an insert written only by the commit
                            (txn_add_fresh_insert); loaded by recovery,
                            doc included */
  bool prepared;         /* txn_execute sent its prepare: it may hold a
                            lock or an entry */
  int64_t wait_until_ms; /* until when (db_now_ms clock) the store may
                            wait for a latch or an undecided shared
                            holder before voting LOCKED; 0: a bound of
                            its own */
  /* kind 0 (with staged_known false) means "whatever the lock on the
   * document says": how a lock of an unknown transaction is resolved. */
} txn_op_t;

typedef struct txn {
  char id[TXN_ID_LEN + 1];
  txn_op_t ops[TXN_MAX_OPS];
  size_t n_ops;
  bool invalid; /* two ops name the same document: refused (500) */
  /* Set by txn_execute for txn_complete: */
  bool apply_pending;   /* committed, its shared ops not applied yet
                           (defer_apply) */
  bool applied_any;     /* the coordinator applied an op (mid_apply) */
  bool fresh_unwritten; /* committed, but the commit's write of a fresh
                           insert failed: recovery writes it */
  int64_t deadline_ms;  /* the coordinator's lease ends */
  int64_t margin_ms;    /* no write sent without reading first after
                           deadline_ms - margin_ms */
} txn_t;

typedef enum {
  TXN_PENDING = 0,
  TXN_COMMITTED = 1,
  TXN_ABORTED = 2,
} txn_state_t;

typedef enum {
  TXN_VOTE_YES = 0,
  TXN_VOTE_LOCKED,  /* locked by another transaction (lock_owner says which) */
  TXN_VOTE_STALE,   /* its version is not the expected one */
  TXN_VOTE_MISSING, /* update/delete of a document that does not exist */
  TXN_VOTE_EXISTS,  /* insert of a document that exists */
  TXN_VOTE_ERROR,   /* the database failed; err says how */
} txn_vote_t;

/* What happened to a transaction, as its caller sees it. */
typedef enum {
  TXN_OUTCOME_COMMITTED = 0,
  TXN_OUTCOME_CONFLICT, /* aborted: lock, stale version or timeout; retry */
  TXN_OUTCOME_MISSING,  /* aborted: ops[failed_op] targets nothing */
  TXN_OUTCOME_EXISTS,   /* aborted: ops[failed_op] inserts an existing doc */
  TXN_OUTCOME_FAILED,   /* database failure; err set (503/500).  If it
                           happened after begin, recovery finishes the
                           transaction one way or the other: also after
                           a commit whose fresh insert was not written
                           (fresh_unwritten), which nothing could read
                           until recovery writes it. */
} txn_outcome_t;

/* One item of a group's step (txn_execute_group): a transaction and, for
 * the steps on participants, one of its ops; the store fills in the
 * result of each item. */
typedef struct txn_item {
  const char *txn_id;
  txn_op_t *op;      /* prepare, commit_op: the op; begin, decide, finish:
                        NULL */
  const txn_t *txn;  /* begin: the transaction */
  txn_state_t state; /* decide: in, the decision wanted; out, the actual
                        one; finish: the decision */
  txn_vote_t vote;   /* prepare: the vote */
  bool ok;           /* begin, decide, commit_op, finish: it succeeded */
  char lock_owner[TXN_ID_LEN + 1]; /* prepare: who holds it (LOCKED) */
  chorus_error_t err;              /* why it failed */
} txn_item_t;

/* The persistence the protocol needs.  Every function is idempotent when
 * repeated with the same arguments, and thread-safe. */
typedef struct txn_store {
  void *impl;
  /* What this process knows of decisions (decisions.h), or NULL: marked
   * by txn_execute and txn_recover, read by readers and the store. */
  struct decisions *decisions;
  /* Writes the coordinator record: pending, ops (locations and kinds),
   * owner, lease deadline. */
  bool (*begin)(void *impl, const txn_t *txn, const char *owner,
                int64_t deadline_ms, chorus_error_t *err);
  /* Compare-and-set pending -> to.  *actual is the state after the call:
   * `to`, or the decision someone else made first. */
  bool (*decide)(void *impl, const char *txn_id, txn_state_t to,
                 txn_state_t *actual, chorus_error_t *err);
  /* Marks the record done (all participants applied); state is the
   * decision, copied to the record for people reading it. */
  bool (*finish)(void *impl, const char *txn_id, txn_state_t state,
                 chorus_error_t *err);
  /* Locks and stages one participant; may record what it staged in
   * op->staged (owned by the op from then on). */
  txn_vote_t (*prepare)(void *impl, const char *txn_id, txn_op_t *op,
                        char lock_owner[TXN_ID_LEN + 1], chorus_error_t *err);
  /* Applies or drops the staged change of one participant and unlocks it;
   * a participant not locked by txn_id is left alone (already done).  With
   * op->in_lease the store may skip checking that (and write op->staged
   * without reading the document back): until the lease runs out only the
   * coordinator writes its participants. */
  bool (*commit_op)(void *impl, const char *txn_id, const txn_op_t *op,
                    chorus_error_t *err);
  bool (*abort_op)(void *impl, const char *txn_id, const txn_op_t *op,
                   chorus_error_t *err);
  /* Claims one unfinished transaction whose deadline is before now_ms
   * (txn_id NULL: any; else only that one) by an exclusive claim of its
   * lease, making `owner` its owner until now_ms + lease_ms.  Loads its
   * ops (staged_known false) and state.  *found is false when there was
   * nothing to claim. */
  bool (*claim)(void *impl, const char *txn_id, const char *owner,
                int64_t now_ms, int64_t lease_ms, txn_t *txn,
                txn_state_t *state, bool *found, chorus_error_t *err);
  /* Reads the state of a record; *found false when there is none (never
   * written, or finished and since collected), *done whether finished. */
  bool (*get_state)(void *impl, const char *txn_id, txn_state_t *state,
                    bool *found, bool *done, chorus_error_t *err);
  /* Reads the decision alone (one read): *decided false when none was
   * made (pending, or collected); readers need no more. */
  bool (*get_decision)(void *impl, const char *txn_id, txn_state_t *state,
                       bool *decided, chorus_error_t *err);
  /* The same steps for a group of items, each item as the single call
   * would do it, in as few commands as the store can (store_mongo: one
   * bulk write per collection).  Optional: NULL makes txn_execute_group
   * call the single function once per item.  Items of one call of
   * prepare_many and commit_many are ops of one kind (inserts, or shared
   * ops) in one collection of one shard, each of a different transaction
   * or a different document; commit_many's are commits, fresh inserts
   * (txn_add_fresh_insert) never with other ops in one call.  finish_many's
   * items are committed transactions each of whose ops is applied; it
   * may mark them finished otherwise than finish does (store_mongo: by
   * deleting their open markers, SYNC.md §3), as long as recovery then
   * leaves them alone and the collector takes them.  Deferred increments
   * (txn_add_deferred_increment) never share a call with other ops. */
  void (*begin_many)(void *impl, txn_item_t *items, size_t n, const char *owner,
                     int64_t deadline_ms);
  void (*prepare_many)(void *impl, txn_item_t *items, size_t n);
  void (*decide_many)(void *impl, txn_item_t *items, size_t n);
  void (*commit_many)(void *impl, txn_item_t *items, size_t n);
  void (*finish_many)(void *impl, txn_item_t *items, size_t n);
  /* For readers (view_find): the increments of committed transactions
   * that the store keeps apart from the documents docs[0..n) of coll
   * (as read raw) until it folds them in (store_mongo: deferred
   * increments, SYNC.md §4c), each document's summed into incs[i] (a new
   * document, the caller's; NULL when none); *again when one of them was
   * written by a fold since it was read (read them again).  Optional:
   * NULL means there are none. */
  bool (*pending_increments)(void *impl, const char *coll, bson_t *const *docs,
                             size_t n, bson_t **incs, bool *again,
                             chorus_error_t *err);
} txn_store_t;

/* Called at each named step ("txn.after_begin", "txn.after_prepare",
 * "txn.after_decision", "txn.mid_apply", in a group "txn.mid_group", and
 * "txn.after_increments": a commit's increments applied, its finish not
 * yet written, in txn_complete, txn_complete_group and a group applying
 * them at once); used for crash tests. */
typedef void (*txn_step_fn)(void *ctx, const char *step);

typedef struct txn_exec_opts {
  const char *owner; /* this server's id */
  int64_t lease_ms;  /* how long before others may take over */
  int64_t (*now_ms)(void);
  txn_step_fn on_step; /* may be NULL */
  void *step_ctx;
  /* A commit of shared ops returns once its decision is made and its
   * other ops applied, the shared ones still staged (txn->apply_pending):
   * the caller answers, then applies them and finishes with txn_complete
   * (or leaves them to recovery).  Other commits and aborts apply at
   * once. */
  bool defer_apply;
} txn_exec_opts_t;

/* Building a transaction.  The add functions copy what they are given.
 * Each document may appear once (else the transaction is invalid). */
void txn_init(txn_t *txn);
void txn_cleanup(txn_t *txn);
void txn_add_insert(txn_t *txn, int shard, const char *coll, const bson_t *doc);
/* An insert of a document that its reader deletes once it has used it
 * (an outbox of events): a commit leaves it staged, since every reader
 * reads it through the view, which shows it from the decision on; the
 * collector applies it if it is still there when its record is
 * collected, before the decision goes (store_mongo_collect).  So a
 * commit costs no write of it, and an abort deletes it as any insert. */
void txn_add_transient_insert(txn_t *txn, int shard, const char *coll,
                              const bson_t *doc);
/* An insert of a document whose _id nobody can know before the
 * transaction commits (a new tweet: a fresh ObjectId), so that no other
 * transaction can meet it before then: its prepare writes nothing (it
 * votes no only when its database cannot be reached; store_mongo pings a
 * deployment other than the main one), a commit inserts it whole,
 * unlocked (a duplicate key is an
 * earlier insert of the same commit), an abort has nothing to drop.  The
 * record carries the document, so that recovery inserts it again after a
 * stop.  Saves the stage and the apply of an insert (one write of the
 * document on FerretDB); it becomes readable when the commit inserts it,
 * after the decision, which its readers cannot tell: they learn its id
 * from the answer or an event, both later.  Until the transaction is
 * finished an exclusive change of the document votes LOCKED (recovery
 * could insert it again after a delete: store_mongo.c, "fresh inserts"). */
void txn_add_fresh_insert(txn_t *txn, int shard, const char *coll,
                          const bson_t *doc);
void txn_add_update(txn_t *txn, int shard, const char *coll,
                    const bson_value_t *id, const bson_t *set,
                    const bson_t *inc, const int64_t *expect_version);
void txn_add_delete(txn_t *txn, int shard, const char *coll,
                    const bson_value_t *id, const int64_t *expect_version);

/* An increment (a shared op, as txn_add_update with inc alone) of a
 * document of the main database that readers who do not show it need not
 * see at once: a store may carry it apart from the document and fold it
 * in after the commit, readers of the exact view still counting it from
 * the decision on (store_mongo: deferred increments, for the collections
 * store_mongo_defer names; another store stages it as any increment). */
void txn_add_deferred_increment(txn_t *txn, const char *coll,
                                const bson_value_t *id, const bson_t *inc);

/* Whether op takes its participant in shared (escrow) mode: an update
 * that only increments (inc not empty, no set, no version check). */
bool txn_op_is_shared(const txn_op_t *op);

/* Runs the whole protocol once (no retry).  On an abort, *failed_op is
 * the index of the op that voted no and lock_owner (when the vote was
 * LOCKED) the transaction holding it; *failed_op is n_ops when every op
 * voted yes but the lease had run out by the decision (CONFLICT: a
 * coordinator past its lease never commits, since recovery may already
 * have aborted the transaction). */
txn_outcome_t txn_execute(const txn_store_t *store, txn_t *txn,
                          const txn_exec_opts_t *opts, size_t *failed_op,
                          char lock_owner[TXN_ID_LEN + 1], chorus_error_t *err);

/* Applies the shared ops of a commit txn_execute left staged
 * (defer_apply) and marks it done, as txn_execute would have; the ops
 * whose turn comes after the coordinator's lease minus its margin are left
 * to recovery (false).  Calls the "txn.mid_apply" step after the first op
 * when txn_execute applied none. */
bool txn_complete(const txn_store_t *store, txn_t *txn,
                  const txn_exec_opts_t *opts, chorus_error_t *err);

/* Group commit.  Whether txn may join a group: every op an insert or an
 * increment (shared), none of them exclusive (an exclusive prepare may
 * wait for undecided increments, which would hold the whole group). */
bool txn_groupable(const txn_t *txn);

/* What txn_execute returned, for one member of a group. */
typedef struct txn_member {
  txn_t *txn; /* the caller's, built and not executed yet */
  txn_outcome_t outcome;
  size_t failed_op;
  char lock_owner[TXN_ID_LEN + 1];
  chorus_error_t err;
} txn_member_t;

/* Runs txn_execute for each of n groupable transactions at once: the
 * same protocol, the same stored form and the same outcomes, each
 * transaction its own record, votes and decision, but every step sent
 * for all of them together (begin_many ... finish_many, one call per
 * collection): the begins, the inserts, then the increments (coalesced
 * per document), the decisions, the applies.  A member that votes no
 * goes no further in the group and is aborted alone; the others go on.
 * Steps are called once per group; between two collections' writes of one
 * step "txn.mid_group" (the group's members are then half written, each
 * one finished by recovery like a transaction stopped at that step).
 * With opts->defer_apply, committed members with shared ops come back
 * with apply_pending, for txn_complete_group. */
void txn_execute_group(const txn_store_t *store, txn_member_t *members,
                       size_t n, const txn_exec_opts_t *opts);

/* The lease of a group of n members begun together: lease_ms for every
 * 16 of them (one for up to 16, four for 64).  Its members' records
 * carry the deadline it gives, so recovery waits for it. */
int64_t txn_group_lease_ms(int64_t lease_ms, size_t n);

/* txn_complete for the n members of a group left apply_pending, their
 * shared ops folded together (one commit_many per collection), then
 * their records finished together. */
void txn_complete_group(const txn_store_t *store, txn_t **txns, size_t n,
                        const txn_exec_opts_t *opts);

/* Called by txn_recover once a recovered transaction's decision has been
 * applied everywhere and before it is marked done (sync.c publishes the
 * events of a committed one there, so that they are out by the time
 * anyone can see the transaction as finished). */
typedef struct txn_applied_hook {
  void (*fn)(void *ctx, const txn_t *txn, txn_state_t final_state);
  void *ctx;
} txn_applied_hook_t;

/* Finishes a transaction claimed with store->claim: decides abort if it
 * is still pending, applies the decision to every participant, calls
 * hook (may be NULL), marks it done.  *final_state says how it ended. */
bool txn_recover(const txn_store_t *store, txn_t *txn, txn_state_t state,
                 txn_state_t *final_state, const txn_applied_hook_t *hook,
                 chorus_error_t *err);

const char *txn_state_name(txn_state_t state);
const char *txn_kind_name(txn_kind_t kind);

#endif
