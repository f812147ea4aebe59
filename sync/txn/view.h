/*
 * view.h - what readers see of documents that transactions may have locked.
 *
 * A document read from a participant collection is shown as its committed
 * state.  Unlocked, that is the document itself.  Locked by transaction X,
 * it depends on X's decision in the log: committed means the staged change
 * counts (an insert exists, an update is applied, a delete is gone) even
 * before phase 2 reaches this document; pending, aborted or missing means
 * it does not.  A document with escrow entries (escrow.h) shows its
 * fields plus the increments of the entries whose transaction committed.
 * A document of a collection whose increments are deferred (store_mongo.h,
 * store_mongo_defer) shows, through view_find, its fields plus the
 * increments of committed transactions not folded into it yet
 * (txn_store_t.pending_increments).  So a transaction becomes visible to
 * every reader at the single instant its decision is written, and a
 * reader never sees half of one, nor anything of an undecided one.
 *
 * Decisions come from what the process knows (txn_store_t.decisions:
 * decided, or open here, hence not committed), else from one read of the
 * decision each (get_decision).  The sync-private fields _xv and _fd
 * (escrow.h) and _cx (lock_field.h) are left out too.
 *
 * Thread-safe; the caller must not hold a client of the main database's
 * pool while calling (it borrows one).
 */
#ifndef CHORUS_VIEW_H
#define CHORUS_VIEW_H

#include <bson/bson.h>
#include <stdbool.h>

#include "sync/base/db.h"
#include "sync/txn/txn.h"

/* Rewrites docs[0..n) in place into their committed view, without the lock
 * field.  visible[i] is false for a document that does not exist in that
 * view (the caller skips it).  Looks each distinct transaction up once. */
bool view_resolve(const txn_store_t *store, bson_t **docs, size_t n,
                  bool *visible, chorus_error_t *err);

/* Documents in their committed view: owned, view_page_free. */
typedef struct view_page {
  bson_t **docs;
  size_t n;
} view_page_t;

/* Up to `want` documents of coll (in db) that exist in the committed
 * view, matching filter in the order of sort (NULL: natural), each
 * rewritten by view_resolve.  Hidden documents take places in a raw page,
 * so a page that comes back short is asked again with a larger limit
 * until it is full or the collection has no more.  On failure *out is
 * empty (nothing to free).  The caller holds no client of db's pool nor
 * of the main database's.  Where the store keeps deferred increments
 * apart, they are added (one read of the open markers for the page and
 * one read of each document again, to see that no fold wrote it
 * meanwhile: then the page is read again, and after 8 such reads in a
 * row, 503 "busy"). */
bool view_find(db_t *db, const txn_store_t *store, const char *coll,
               const bson_t *filter, const bson_t *sort, size_t want,
               view_page_t *out, chorus_error_t *err);

/* view_find without the deferred increments: counters as folded into the
 * documents, which may lag their committed values by the time until the
 * fold (a finisher's batch: under a second); everything else as
 * view_find.  For readers that do not show those counters and read on
 * every request (the session's account), sparing them the reads the
 * increments take. */
bool view_find_folded(db_t *db, const txn_store_t *store, const char *coll,
                      const bson_t *filter, const bson_t *sort, size_t want,
                      view_page_t *out, chorus_error_t *err);

/* view_find, but a document some transaction still stages (a transient
 * insert: an outbox) is shown only once that transaction is finished
 * (get_state), so that everything its commit writes, a fresh insert
 * included (txn.h), is there: the events pump's read of the outboxes
 * coordinators left.  One read of the transaction's state per such
 * document. */
bool view_find_finished(db_t *db, const txn_store_t *store, const char *coll,
                        const bson_t *filter, const bson_t *sort, size_t want,
                        view_page_t *out, chorus_error_t *err);

void view_page_free(view_page_t *page);

/* The committed view of one document with a known decision: exposed for
 * tests.  `committed` says whether the lock's transaction committed (for
 * a document with escrow entries: whether every entry's did).  Returns
 * false (not visible) or fills out (initialised here). */
bool view_apply(const bson_t *doc, bool committed, bson_t *out);

#endif
