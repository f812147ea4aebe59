/*
 * db_index.c - db_ensure_indexes: creates the indexes a module declares.
 *
 * Each index is created with createIndexes, which does nothing for an
 * index that already exists with the same definition, so start-up is
 * idempotent and several servers may start at once.  The same borrowed
 * client first asks what the server is (db_kind.c), so that the filter
 * mode and the write limit are known before the first request.
 *
 * On FerretDB only the unique indexes are created, and a declared index
 * that is not unique is dropped if it exists.  FerretDB (v1, SQLite)
 * pushes no filter or sort but one on _id down to its backend: every
 * other query decodes the whole collection whatever the indexes, so an
 * index that enforces nothing serves no query there, while SQLite still
 * maintains it on every insert and every write of a document (an
 * expression index on the document column: a tweet shard's five cost
 * each creation's insert; docs/DATABASE.md, "Indexes on FerretDB").  A
 * deployment that moves to MongoDB gets them at its first start there.
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

/* Runs cmd (destroyed here) on the database; a failure with error code
 * so_a or so_b (0: none) means what it asks is so already, and is no
 * error.  what names the command in err. */
static bool run_unless_so(db_t *db, mongoc_client_t *client, bson_t *cmd,
                          uint32_t so_a, uint32_t so_b, const char *what,
                          chorus_error_t *err) {
  bson_error_t berr;
  bool ok =
      mongoc_client_command_simple(client, db->name, cmd, NULL, NULL, &berr);
  ok = ok || (so_a && berr.code == so_a) || (so_b && berr.code == so_b);
  if (!ok) {
    chorus_error_from_bson(err, &berr, what);
  }
  bson_destroy(cmd);
  return ok;
}

/* Creates coll if it does not exist (48: NamespaceExists). */
static bool create_collection(db_t *db, mongoc_client_t *client,
                              const char *coll, chorus_error_t *err) {
  return run_unless_so(db, client, BCON_NEW("create", BCON_UTF8(coll)), 48, 0,
                       "create", err);
}

/* Drops index `name` of coll if it exists (26 NamespaceNotFound, 27
 * IndexNotFound: a missing one, or a missing collection, is no error). */
static bool drop_index(db_t *db, mongoc_client_t *client, const char *coll,
                       const char *name, chorus_error_t *err) {
  return run_unless_so(
      db, client,
      BCON_NEW("dropIndexes", BCON_UTF8(coll), "index", BCON_UTF8(name)), 26,
      27, "dropIndexes", err);
}

bool db_ensure_indexes(db_t *db, const char *coll, const db_index_t *specs,
                       size_t n, chorus_error_t *err) {
  mongoc_client_t *client = db_acquire(db);
  if (!client) {
    db_error_unavailable(err);
    return false;
  }
  bool ok = db_kind_detect(db, client, err);
  bool unique_only = ok && atomic_load(&db->ferretdb);
  if (unique_only) { /* createIndexes creates it where there is one */
    ok = create_collection(db, client, coll, err);
  }
  for (size_t i = 0; ok && i < n; i++) {
    ok = unique_only && !specs[i].unique
             ? drop_index(db, client, coll, specs[i].name, err)
             : create_index(db, client, coll, &specs[i], err);
  }
  db_release(db, client);
  return ok;
}
