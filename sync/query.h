/*
 * query.h - reading documents as committed: the one read path of the
 * storage modules.
 *
 * Every function here reads documents of participant collections as
 * readers must see them (view.h): documents locked by an undecided
 * transaction show their committed state, staged inserts stay hidden,
 * and the lock itself never reaches the caller.  Callers never name the
 * lock field: query_scan keeps it in any projection, and
 * query_count_unlocked leaves locked documents out for them.
 *
 * Thread-safe; the caller must hold no database client.
 */
#ifndef CHORUS_QUERY_H
#define CHORUS_QUERY_H

#include <bson/bson.h>
#include <stdbool.h>

#include "sync/base/db.h"
#include "sync/base/error.h"
#include "sync/sync.h"
#include "sync/txn/view.h"

/* docs[0..n), owned; query_result_free. */
typedef view_page_t query_result_t;

/* Up to `want` visible documents of coll matching filter in the order of
 * `sort` (NULL: natural): view_find of the process's store, which asks a
 * short page again with a larger limit.  A filter {_id: {$in: [v]}} is
 * asked as {_id: v} (the same documents; FerretDB finds those by its
 * index, the other by a scan).  On failure *out is empty (nothing to
 * free). */
bool query_visible(db_t *db, sync_t *sync, const char *coll,
                   const bson_t *filter, const bson_t *sort, size_t want,
                   query_result_t *out, chorus_error_t *err);

/* The one visible document with this _id; *found false when none. */
bool query_by_id(db_t *db, sync_t *sync, const char *coll,
                 const bson_value_t *id, bson_t **doc, bool *found,
                 chorus_error_t *err);

/* query_visible with counters as folded (view_find_folded): a deferred
 * increment of a committed transaction may be missing from them for
 * under a second.  For reads that show no counter (the session's account
 * on every request, lists of accounts): one read where query_visible
 * takes one more for the page and one per document. */
bool query_visible_folded(db_t *db, sync_t *sync, const char *coll,
                          const bson_t *filter, const bson_t *sort, size_t want,
                          query_result_t *out, chorus_error_t *err);

/* Counts the documents matching filter that no transaction holds: a
 * document being inserted, changed or deleted by a transaction in flight
 * is not counted, whatever its outcome (one command, no view: for counts
 * shown as a hint, such as unread notifications). */
bool query_count_unlocked(db_t *db, const char *coll, const bson_t *filter,
                          int64_t *count, chorus_error_t *err);

void query_result_free(query_result_t *r);

/* Called for each (a, b) of query_scan_pairs; false stops the scan. */
typedef bool (*query_pair_fn)(void *ctx, const bson_oid_t *a,
                              const bson_oid_t *b);

/* Called for each document of a scan; false stops the scan. */
typedef bool (*query_scan_fn)(void *ctx, const bson_t *doc);

/* Every visible document of coll (in natural order), streamed: a
 * collection far larger than memory allows can be read.  Unlocked
 * documents go to fn as the cursor returns them; documents locked by a
 * transaction are copied and, once the cursor is closed, passed through
 * sync_view first.  projection may be NULL; one that names fields to keep
 * keeps the lock field too (added here), one that names fields to leave
 * out must not name it. */
bool query_scan(db_t *db, sync_t *sync, const char *coll,
                const bson_t *projection, query_scan_fn fn, void *ctx,
                chorus_error_t *err);

/* Whether the visible document of a pair collection (follows, likes) with
 * the _id bsonx_pair_id(a, b) exists. */
bool query_pair_exists(db_t *db, sync_t *sync, const char *coll,
                       const bson_oid_t *a, const bson_oid_t *b, bool *yes,
                       chorus_error_t *err);

/* query_scan of a collection of pairs (follows, likes): fn gets the two
 * ObjectId fields field_a and field_b of every document that has both. */
bool query_scan_pairs(db_t *db, sync_t *sync, const char *coll,
                      const char *field_a, const char *field_b,
                      query_pair_fn fn, void *ctx, chorus_error_t *err);

#endif
