/*
 * db_index.c - db_ensure_indexes: creates the indexes a module declares.
 *
 * Each index is created with createIndexes, which does nothing for an
 * index that already exists with the same definition, so start-up is
 * idempotent and several servers may start at once.  The same borrowed
 * client first asks what the server is (db_kind.c), so that the filter
 * mode and the write limit are known before the first request.
 */
#include "sync/base/db_internal.h"

static bool create_index(db_t *db, mongoc_client_t *client, const char *coll,
                         const db_index_t *spec, chorus_error_t *err) {
  bson_error_t berr;
  bson_t *keys =
      bson_new_from_json((const uint8_t *)spec->keys_json, -1, &berr);
  BSON_ASSERT(keys); /* the callers' tables are constant and valid */
  bson_t cmd = BSON_INITIALIZER, indexes, index;
  BSON_APPEND_UTF8(&cmd, "createIndexes", coll);
  BSON_APPEND_ARRAY_BEGIN(&cmd, "indexes", &indexes);
  BSON_APPEND_DOCUMENT_BEGIN(&indexes, "0", &index);
  BSON_APPEND_DOCUMENT(&index, "key", keys);
  BSON_APPEND_UTF8(&index, "name", spec->name);
  if (spec->unique) {
    BSON_APPEND_BOOL(&index, "unique", true);
  }
  bson_append_document_end(&indexes, &index);
  bson_append_array_end(&cmd, &indexes);
  bool ok =
      mongoc_client_command_simple(client, db->name, &cmd, NULL, NULL, &berr);
  if (!ok) {
    chorus_error_from_bson(err, &berr, "createIndexes");
  }
  bson_destroy(&cmd);
  bson_destroy(keys);
  return ok;
}

bool db_ensure_indexes(db_t *db, const char *coll, const db_index_t *specs,
                       size_t n, chorus_error_t *err) {
  mongoc_client_t *client = db_acquire(db);
  if (!client) {
    db_error_unavailable(err);
    return false;
  }
  bool ok = db_kind_detect(db, client, err);
  for (size_t i = 0; ok && i < n; i++) {
    ok = create_index(db, client, coll, &specs[i], err);
  }
  db_release(db, client);
  return ok;
}
