/*
 * query.h - reading documents as committed: the one read path of the
 * storage modules.
 *
 * query_visible() runs a find on one collection, copies the raw documents,
 * gives the client back, and passes the copies through sync_view, so that
 * documents locked by an undecided transaction show their committed state
 * and staged inserts stay hidden.  Because hidden documents take places in
 * a raw page, a page that comes back short is asked again with a larger
 * limit until it is full or the collection has no more.
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

typedef struct query_result {
  bson_t **docs; /* owned; query_result_free */
  size_t n;
} query_result_t;

/* Up to `want` visible documents of coll matching filter in the order of
 * `sort` (NULL: natural).  On failure *out is empty (nothing to free).  opts may add a projection (it must keep _txn);
 * it must not contain sort or limit. */
bool query_visible(db_t *db, sync_t *sync, const char *coll,
                   const bson_t *filter, const bson_t *sort, size_t want,
                   query_result_t *out, chorus_error_t *err);

/* The one visible document with this _id; *found false when none. */
bool query_by_id(db_t *db, sync_t *sync, const char *coll,
                 const bson_value_t *id, bson_t **doc, bool *found,
                 chorus_error_t *err);

/* Counts documents matching filter (raw: staged inserts included). */
bool query_count(db_t *db, const char *coll, const bson_t *filter,
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
 * sync_view first.  projection may be NULL (it must keep the lock field).
 * Used by the read model's load (model.h). */
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
