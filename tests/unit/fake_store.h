/*
 * fake_store.h - an in-memory txn_store_t for unit tests of the two-phase
 * commit (txn.h, recovery.h, view.h), modelled on the store contract of
 * txn.h.
 *
 * Shared (escrow) ops (txn_op_is_shared) are modelled as store_mongo.c
 * writes them on FerretDB, where an update is a read, then a write of the
 * whole document: each stage, fold or drop of an entry (escrow.h) reads
 * the document, runs the rmw hook (fake_store_set_rmw_hook: "another
 * request in flight" between the two), then writes the document computed
 * from its read, all under the document's latch.  Another's latch makes a
 * prepare vote LOCKED and a fold or drop fail (store_mongo waits for it,
 * until its limit); fake_store_set_latch(false) takes no latch, and a
 * write made in the hook is lost, as on FerretDB.  An exclusive prepare
 * over entries votes LOCKED (the first undecided one named) until every
 * one is decided, then folds them in its stage write; the version check
 * is escrow_version_current's.  get_decision reads the record's state.
 *
 * Participant documents are kept as the BSON documents MongoDB would hold,
 * keyed by (shard, collection, _id): a locked one carries
 * _txn: {id, kind, set?, inc?} exactly as store_mongo.c writes it, and every
 * participant step is the same single-document conditional change (lock
 * only if _txn is absent and the version matches; apply or drop only if
 * _txn.id is ours).  A committed update $sets, then $incs (with version +1,
 * which like MongoDB's $inc creates "version": 1 on a document without
 * one), then $unsets _txn; an $inc on a non-number or a key both set and
 * incremented fails as MongoDB would.  Decision records keep state, done,
 * owner, lease counter, deadline and the ops (kind, shard, coll, id), in
 * insertion order (MongoDB's natural order); claim loads ops with
 * staged_known false.  An op of kind 0 given to commit_op/abort_op takes
 * its kind from the lock (when the lock is txn_id's).  decide on a missing
 * (collected) record answers aborted.
 *
 * Fault injection: every call of the vtable counts.  fake_store_fail_after
 * makes every call after the next n fail (an outage, or a coordinator that
 * stopped: nothing after that point happens); fake_store_fail_nth fails
 * only one call (a blip).  By default a failing call has no effect; with
 * fake_store_set_lost_reply the first failing call takes effect and only
 * its reply is lost.  A failure is a 503 "db_unavailable": prepare returns
 * TXN_VOTE_ERROR, the others false.  fake_store_set_down makes one
 * participant document unreachable (503) for prepare/commit_op/abort_op.
 * FAKE_STORE_TRACE=1 in the environment logs every call to stderr.
 *
 * A fake clock (fake_clock_now) serves as txn_exec_opts_t.now_ms.
 *
 * It is also the unit tests' shared support for documents and fixtures
 * (fake_store_start, fake_store_string_id, fake_store_fields_in).
 *
 * Single-threaded; the vtable functions may be re-entered from on_step
 * callbacks and from the claim hook.
 */
#ifndef CHORUS_TEST_FAKE_STORE_H
#define CHORUS_TEST_FAKE_STORE_H

#include <bson/bson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sync/txn/txn.h"

typedef struct fake_store fake_store_t;

typedef enum {
  FAKE_BEGIN = 0,
  FAKE_DECIDE,
  FAKE_FINISH,
  FAKE_PREPARE,
  FAKE_COMMIT_OP,
  FAKE_ABORT_OP,
  FAKE_CLAIM,
  FAKE_GET_STATE,
  FAKE_GET_DECISION,
  FAKE_N_FNS
} fake_fn_t;

fake_store_t *fake_store_new(void);
void fake_store_free(fake_store_t *fs);
/* Fills store's vtable with fs as impl. */
void fake_store_bind(fake_store_t *fs, txn_store_t *store);

/* ---- fault injection ---- */
void fake_store_fail_after(fake_store_t *fs, long n);
void fake_store_fail_nth(fake_store_t *fs, long n);
void fake_store_set_lost_reply(fake_store_t *fs, bool on);
void fake_store_heal(fake_store_t *fs);
/* True once a call has failed because of fail_after/fail_nth. */
bool fake_store_failed(const fake_store_t *fs);
void fake_store_set_down(fake_store_t *fs, int shard, const char *coll,
                         const bson_value_t *id, bool down);
/* Called once (then cleared) inside the next claim, after a candidate
 * record was read and before the compare-and-set on its lease: lets a test
 * run a competing claim in that window. */
void fake_store_set_claim_hook(fake_store_t *fs, void (*fn)(void *ctx),
                               void *ctx);

/* Called at the start of every vtable call (not re-entered for the calls
 * it makes itself): lets a test act while a request is "in flight". */
void fake_store_set_call_hook(fake_store_t *fs,
                              void (*fn)(void *ctx, fake_fn_t fn), void *ctx);

/* Called inside every latched write (stage, fold or drop of an escrow
 * entry), between its read and its write (not re-entered). */
void fake_store_set_rmw_hook(fake_store_t *fs, void (*fn)(void *ctx),
                             void *ctx);
/* Whether latched writes take the latch (default true). */
void fake_store_set_latch(fake_store_t *fs, bool on);
/* Latched writes that changed a document. */
long fake_store_latched_writes(const fake_store_t *fs);
/* Makes txn_id hold the latch of a document (NULL or "": nobody): a
 * latch left by a coordinator that stopped within its write. */
void fake_store_hold_latch(fake_store_t *fs, int shard, const char *coll,
                           const bson_value_t *id, const char *txn_id);
/* The escrow entries a stored document carries. */
size_t fake_store_entries(const fake_store_t *fs, int shard, const char *coll,
                          const bson_value_t *id);

/* ---- call accounting ---- */
long fake_store_calls(const fake_store_t *fs);
long fake_store_calls_of(const fake_store_t *fs, fake_fn_t fn);
/* commit_op calls made with op->in_lease (reset with the calls). */
long fake_store_commits_in_lease(const fake_store_t *fs);
void fake_store_reset_calls(fake_store_t *fs);

/* ---- participants ---- */
/* Stores doc (with _id; may carry a _txn lock) as is, replacing any. */
void fake_store_put(fake_store_t *fs, int shard, const char *coll,
                    const bson_t *doc);
void fake_store_remove(fake_store_t *fs, int shard, const char *coll,
                       const bson_value_t *id);
/* The stored document (lock included) or NULL when absent. */
const bson_t *fake_store_raw(const fake_store_t *fs, int shard,
                             const char *coll, const bson_value_t *id);
bool fake_store_exists(const fake_store_t *fs, int shard, const char *coll,
                       const bson_value_t *id);
/* Whether it carries a lock; owner (may be NULL) gets its txn id. */
bool fake_store_locked(const fake_store_t *fs, int shard, const char *coll,
                       const bson_value_t *id, char owner[TXN_ID_LEN + 1]);
/* A numeric field of the stored document (not the committed view). */
bool fake_store_field(const fake_store_t *fs, int shard, const char *coll,
                      const bson_value_t *id, const char *field,
                      int64_t *value);
/* Its "version" field, or -1 when absent (or the document is). */
int64_t fake_store_version(const fake_store_t *fs, int shard, const char *coll,
                           const bson_value_t *id);
/* The committed view (view_apply with the lock's recorded decision; a
 * missing record counts as aborted).  Returns false when invisible; else
 * fills out (caller destroys) when out is not NULL. */
bool fake_store_visible(const fake_store_t *fs, int shard, const char *coll,
                        const bson_value_t *id, bson_t *out);
/* A numeric field of the committed view; false when invisible or absent. */
bool fake_store_view_field(const fake_store_t *fs, int shard, const char *coll,
                           const bson_value_t *id, const char *field,
                           int64_t *value);
size_t fake_store_doc_count(const fake_store_t *fs);    /* present docs */
size_t fake_store_locked_count(const fake_store_t *fs); /* carrying _txn */

/* ---- decision records ---- */
bool fake_store_record(const fake_store_t *fs, const char *txn_id,
                       txn_state_t *state, bool *done);
bool fake_store_record_owner(const fake_store_t *fs, const char *txn_id,
                             char *owner, size_t size, int64_t *lease,
                             int64_t *deadline);
size_t fake_store_record_count(const fake_store_t *fs);
size_t fake_store_unfinished(const fake_store_t *fs); /* not done */
/* store_mongo_collect: unlocks once more the participants of aborted
 * records finished before older_than_ms (late locks), then deletes all
 * records finished before it (fake clock times). */
bool fake_store_collect(fake_store_t *fs, int64_t older_than_ms,
                        int64_t *deleted);

/* ---- shared support of the tests ---- */
/* A test's fresh start: a new store bound to store (fake_store_bind), and
 * the fake clock at 1,000,000 ms with no tick.  The caller frees the store
 * (fake_store_free). */
fake_store_t *fake_store_start(txn_store_t *store);
/* A string _id value that borrows s (which must outlive it). */
bson_value_t fake_store_string_id(const char *s);
/* Whether every field of a is in b with an equal value: numbers by value
 * whatever their type (int32 7, int64 7 and 7.0 are equal), anything else
 * by its BSON.  One-way: b may have more fields; field order is free. */
bool fake_store_fields_in(const bson_t *a, const bson_t *b);

/* ---- the fake clock ---- */
int64_t fake_clock_now(void); /* returns the time, then adds the tick */
void fake_clock_set(int64_t ms);
void fake_clock_advance(int64_t ms);
void fake_clock_set_tick(int64_t ms);
int64_t fake_clock_peek(void); /* the time, without ticking */

#endif
