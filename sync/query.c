/*
 * query.c - see query.h.
 */
#include "sync/query.h"

#include <string.h>

#include "sync/base/bsonx.h"
#include "sync/sync_internal.h"
#include "sync/txn/lock_field.h"

/* The single value of a filter {_id: {$in: [value]}} into *one (which
 * borrows filter); false for any other filter. */
static bool single_id_in(const bson_t *filter, bson_value_t *one) {
  bson_iter_t it, in, values;
  if (bson_count_keys(filter) != 1 ||
      !bson_iter_init_find(&it, filter, "_id") ||
      !BSON_ITER_HOLDS_DOCUMENT(&it) || !bson_iter_recurse(&it, &in) ||
      !bson_iter_next(&in) || strcmp(bson_iter_key(&in), "$in") != 0 ||
      !BSON_ITER_HOLDS_ARRAY(&in) || !bson_iter_recurse(&in, &values) ||
      !bson_iter_next(&values)) {
    return false;
  }
  *one = *bson_iter_value(&values);
  return !bson_iter_next(&values) && !bson_iter_next(&in);
}

/* query_visible's and query_visible_folded's read. */
static bool visible(db_t *db, sync_t *sync, const char *coll,
                    const bson_t *filter, const bson_t *sort, size_t want,
                    bool folded, query_result_t *out, chorus_error_t *err) {
  bool (*find)(db_t *, const txn_store_t *, const char *, const bson_t *,
               const bson_t *, size_t, view_page_t *, chorus_error_t *) =
      folded ? view_find_folded : view_find;
  /* FerretDB pushes only {_id: value} down to SQLite (docs/DATABASE.md):
   * asked as {_id: {$in: [value]}}, one document is found by a scan of
   * its whole collection (a like's answer scanned every like). */
  bson_value_t one;
  if (single_id_in(filter, &one)) {
    bson_t by_id = BSON_INITIALIZER;
    bson_append_value(&by_id, "_id", 3, &one);
    bool ok = find(db, sync_store(sync), coll, &by_id, sort, want, out, err);
    bson_destroy(&by_id);
    return ok;
  }
  return find(db, sync_store(sync), coll, filter, sort, want, out, err);
}

bool query_visible(db_t *db, sync_t *sync, const char *coll,
                   const bson_t *filter, const bson_t *sort, size_t want,
                   query_result_t *out, chorus_error_t *err) {
  return visible(db, sync, coll, filter, sort, want, false, out, err);
}

bool query_visible_folded(db_t *db, sync_t *sync, const char *coll,
                          const bson_t *filter, const bson_t *sort, size_t want,
                          query_result_t *out, chorus_error_t *err) {
  return visible(db, sync, coll, filter, sort, want, true, out, err);
}

bool query_by_id(db_t *db, sync_t *sync, const char *coll,
                 const bson_value_t *id, bson_t **doc, bool *found,
                 chorus_error_t *err) {
  bson_t filter = BSON_INITIALIZER;
  bson_append_value(&filter, "_id", 3, id);
  query_result_t r;
  bool ok = query_visible(db, sync, coll, &filter, NULL, 1, &r, err);
  bson_destroy(&filter);
  *found = ok && r.n == 1;
  *doc = *found ? r.docs[0] : NULL;
  bson_free(r.docs);
  return ok;
}

bool query_count_unlocked(db_t *db, const char *coll_name, const bson_t *filter,
                          int64_t *count, chorus_error_t *err) {
  mongoc_client_t *client = db_acquire(db);
  if (!client) {
    *count = 0;
    db_error_unavailable(err);
    return false;
  }
  bson_t unlocked = BSON_INITIALIZER, absent;
  bson_concat(&unlocked, filter);
  BSON_APPEND_DOCUMENT_BEGIN(&unlocked, TXN_LOCK_FIELD, &absent);
  BSON_APPEND_BOOL(&absent, "$exists", false);
  bson_append_document_end(&unlocked, &absent);
  mongoc_collection_t *coll = db_collection(db, client, coll_name);
  bson_error_t berr;
  *count = mongoc_collection_count_documents(coll, &unlocked, NULL, NULL, NULL,
                                             &berr);
  mongoc_collection_destroy(coll);
  db_release(db, client);
  bson_destroy(&unlocked);
  if (*count < 0) {
    chorus_error_from_bson(err, &berr, coll_name);
    return false;
  }
  return true;
}

void query_result_free(query_result_t *r) { view_page_free(r); }

/* Whether a projection names fields to keep ({a: 1}), rather than fields
 * to leave out ({a: 0}); _id may be either in both. */
static bool projection_keeps(const bson_t *projection) {
  bson_iter_t it;
  if (!bson_iter_init(&it, projection)) {
    return false;
  }
  while (bson_iter_next(&it)) {
    if (strcmp(bson_iter_key(&it), "_id") != 0 && bson_iter_as_bool(&it)) {
      return true;
    }
  }
  return false;
}

bool query_scan(db_t *db, sync_t *sync, const char *coll_name,
                const bson_t *projection, query_scan_fn fn, void *ctx,
                chorus_error_t *err) {
  mongoc_client_t *client = db_acquire(db);
  if (!client) {
    db_error_unavailable(err);
    return false;
  }
  bson_t opts = BSON_INITIALIZER, filter = BSON_INITIALIZER;
  if (projection) {
    /* A locked document must come with its lock, to be resolved. */
    bson_t fields;
    bson_iter_t lock;
    BSON_APPEND_DOCUMENT_BEGIN(&opts, "projection", &fields);
    bson_concat(&fields, projection);
    if (projection_keeps(projection) &&
        !bson_iter_init_find(&lock, projection, TXN_LOCK_FIELD)) {
      BSON_APPEND_INT32(&fields, TXN_LOCK_FIELD, 1);
    }
    bson_append_document_end(&opts, &fields);
  }
  BSON_APPEND_INT32(&opts, "batchSize", 1000);
  mongoc_collection_t *coll = db_collection(db, client, coll_name);
  mongoc_cursor_t *cursor =
      mongoc_collection_find_with_opts(coll, &filter, &opts, NULL);
  bson_t **locked = NULL;
  size_t n_locked = 0, cap = 0;
  bool go = true;
  const bson_t *doc;
  while (go && mongoc_cursor_next(cursor, &doc)) {
    bson_iter_t it;
    if (!bson_iter_init_find(&it, doc, TXN_LOCK_FIELD)) {
      go = fn(ctx, doc);
      continue;
    }
    if (n_locked == cap) {
      cap = cap ? cap * 2 : 16;
      locked = bson_realloc(locked, sizeof *locked * cap);
    }
    locked[n_locked++] = bson_copy(doc);
  }
  bson_error_t berr;
  bool ok = !mongoc_cursor_error(cursor, &berr);
  if (!ok) {
    chorus_error_from_bson(err, &berr, coll_name);
  }
  mongoc_cursor_destroy(cursor);
  mongoc_collection_destroy(coll);
  db_release(db, client);
  bson_destroy(&opts);
  bson_destroy(&filter);
  if (ok && go && n_locked > 0) {
    bool *visible = bson_malloc0(sizeof *visible * n_locked);
    ok = sync_view(sync, locked, n_locked, visible, err);
    for (size_t i = 0; ok && go && i < n_locked; i++) {
      if (visible[i]) {
        go = fn(ctx, locked[i]);
      }
    }
    bson_free(visible);
  }
  for (size_t i = 0; i < n_locked; i++) {
    bson_destroy(locked[i]);
  }
  bson_free(locked);
  return ok;
}

typedef struct pair_scan {
  const char *field_a, *field_b;
  query_pair_fn fn;
  void *ctx;
} pair_scan_t;

static bool pair_doc(void *ctx, const bson_t *doc) {
  pair_scan_t *p = ctx;
  bson_oid_t a, b;
  if (bsonx_find_oid(doc, p->field_a, &a) &&
      bsonx_find_oid(doc, p->field_b, &b)) {
    return p->fn(p->ctx, &a, &b);
  }
  return true;
}

bool query_scan_pairs(db_t *db, sync_t *sync, const char *coll,
                      const char *field_a, const char *field_b,
                      query_pair_fn fn, void *ctx, chorus_error_t *err) {
  pair_scan_t p = {field_a, field_b, fn, ctx};
  bson_t *projection = BCON_NEW(field_a, BCON_INT32(1), field_b, BCON_INT32(1));
  bool ok = query_scan(db, sync, coll, projection, pair_doc, &p, err);
  bson_destroy(projection);
  return ok;
}

bool query_pair_exists(db_t *db, sync_t *sync, const char *coll,
                       const bson_oid_t *a, const bson_oid_t *b, bool *yes,
                       chorus_error_t *err) {
  char id[BSONX_PAIR_ID_LEN + 1];
  bsonx_pair_id(a, b, id);
  bson_value_t key = {.value_type = BSON_TYPE_UTF8};
  key.value.v_utf8.str = id;
  key.value.v_utf8.len = (uint32_t)strlen(id);
  bson_t *doc;
  if (!query_by_id(db, sync, coll, &key, &doc, yes, err)) {
    return false;
  }
  if (doc) {
    bson_destroy(doc);
  }
  return true;
}
