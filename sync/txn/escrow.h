/*
 * escrow.h - shared (escrow) holders of a participant document: the
 * increments of any number of transactions staged on one document at
 * once.
 *
 * A participant's lock field (lock_field.h) holds one of two things:
 *   {id, kind, set}          an exclusive stage: one transaction's insert,
 *                            update or delete (the X mode);
 *   {esc: [{id: <txn id>, inc: {<field>: delta, ...}}, ...]}
 *                            escrow entries: each the increments of one
 *                            transaction whose op on this document only
 *                            increments (the S mode, txn_op_is_shared).
 * Never both: an exclusive holder folds every entry away before it stages.
 *
 * The document's other fields are its committed state except for
 * committed entries not yet folded in.  Folding an entry adds its deltas
 * to the fields and 1 to version (every committed change bumps version);
 * dropping one removes it.  The committed view of a document with entries
 * is its fields plus the deltas of the entries whose transaction
 * committed, version plus their number.
 *
 * Versions.  Increments bump version, yet must not make an exclusive
 * change that checked the version go stale (it would starve under a
 * stream of likes): _xv, kept beside version, is the version as it was
 * after the last change that was not an increment.  A fold writes it when
 * absent (as the version before the first increment folded), an exclusive
 * update keeps it at its new version when present; absent, it equals
 * version.  A version-checked op expecting v is current when
 * xv <= v <= version: nothing but increments happened since v.
 *
 * Deferred increments.  An increment of a collection whose increments
 * are deferred (store_mongo, SYNC.md §4c) stages nothing on the document:
 * it rides in its transaction's open marker until a latched write after
 * the commit folds it in.  _fd, beside version, lists the transactions
 * whose deferred increments such a write folded in and whose markers may
 * still be there; a fold keeps an id in _fd while its marker lives (a
 * marker goes only once every op of its transaction is applied), so a
 * committed transaction's increment is folded in exactly when its id is
 * in _fd or its marker is gone.  version counts a deferred increment
 * from its fold on (1 each, as an entry's), and readers add the others
 * to the fields alone: so the version a reader sees is the document's
 * as folded, and the version rule above holds unchanged.
 *
 * Pure functions of documents; thread-safe; outputs are the caller's.
 */
#ifndef CHORUS_ESCROW_H
#define CHORUS_ESCROW_H

#include <bson/bson.h>
#include <stdbool.h>
#include <stddef.h>

#include "sync/txn/txn.h"

#define ESCROW_FIELD "esc"  /* in the lock field */
#define ESCROW_XV "_xv"     /* beside version; see above */
#define ESCROW_FOLDED "_fd" /* beside version: deferred increments folded */

/* What is known of an entry's transaction. */
typedef enum {
  ESCROW_UNDECIDED = 0, /* pending, or not known here */
  ESCROW_COMMITTED,
  ESCROW_ABORTED,
} escrow_fate_t;

/* The fate of the entry of txn_id, as the caller knows it. */
typedef escrow_fate_t (*escrow_fate_fn)(void *ctx, const char *txn_id);

/* How many entries doc carries (0 without a lock, or with an exclusive
 * stage). */
size_t escrow_count(const bson_t *doc);

/* Whether doc carries an entry of txn_id. */
bool escrow_has(const bson_t *doc, const char *txn_id);

/* The id of the i-th entry (i < escrow_count) into id; false past the
 * end. */
bool escrow_entry_id(const bson_t *doc, size_t i, char id[TXN_ID_LEN + 1]);

/* What escrow_rewrite did. */
typedef struct escrow_result {
  size_t folded;   /* committed entries added to the fields */
  size_t dropped;  /* aborted entries removed */
  size_t kept;     /* entries left (undecided, and the one added) */
  size_t deferred; /* deferred increments folded in
                      (escrow_fold_deferred) */
  bool changed;    /* the document differs: a write is needed */
} escrow_result_t;

/* An entry to add: a transaction's id and its increments. */
typedef struct escrow_add {
  const char *id;
  const bson_t *inc;
} escrow_add_t;

/* The document doc becomes when every entry fate says committed is folded
 * in, every aborted one dropped, and adds[0..n_adds) added (each once:
 * not when doc or an earlier add has an entry of its id); into *out (a
 * new document, the caller's: the lock field last, or gone when no entry
 * is left) and into update the write that makes it ({$set: ..., $unset?:
 * {_txn: ""}}; empty when nothing changes).  A fold writes _xv when doc
 * has none. */
void escrow_rewrite(const bson_t *doc, escrow_fate_fn fate, void *ctx,
                    const escrow_add_t *adds, size_t n_adds, bson_t *out,
                    bson_t *update, escrow_result_t *res);

/* doc as committed (the lock field and _xv left out): fields plus the
 * deltas of entries fate says committed; into out (initialised here).
 * For a document with entries only; see view_apply for the rest. */
void escrow_view(const bson_t *doc, escrow_fate_fn fate, void *ctx,
                 bson_t *out);

/* Whether a version-checked op expecting `expected` may change doc (its
 * committed state, entries folded): xv <= expected <= version. */
bool escrow_version_current(const bson_t *doc, int64_t expected);

/* Whether a transaction's marker is still there, as the caller read it. */
typedef bool (*escrow_live_fn)(void *ctx, const char *txn_id);

/* Whether doc's _fd lists txn_id: its deferred increments are in the
 * fields. */
bool escrow_deferred_folded(const bson_t *doc, const char *txn_id);

/* The write (into update: {$set: ...}, and $unset of the lock field when
 * its last entry goes; empty when nothing changes) that folds into doc the
 * deferred increments adds[0..n_adds) — each of a committed transaction
 * whose marker the caller found, skipped when doc's _fd lists it or an
 * earlier add has its id: their deltas added to the fields and 1 each to
 * version (_xv written as a fold writes it), doc's escrow entries folded
 * or dropped as fate says (as escrow_rewrite), and _fd set to the ids of
 * doc's _fd whose marker live says is there, then the adds' ids.  doc
 * must carry no exclusive stage.  res->deferred counts the adds folded. */
void escrow_fold_deferred(const bson_t *doc, escrow_fate_fn fate, void *ctx,
                          const escrow_add_t *adds, size_t n_adds,
                          escrow_live_fn live, void *live_ctx, bson_t *update,
                          escrow_result_t *res);

/* doc, a committed view, with the deltas of inc added to its fields (a
 * field it lacks is created), version unchanged: the committed deferred
 * increments not folded in yet (view_find); into out (initialised
 * here). */
void escrow_add_increments(const bson_t *doc, const bson_t *inc, bson_t *out);

#endif
