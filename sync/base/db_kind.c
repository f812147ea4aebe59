/*
 * db_kind.c - whether a deployment is MongoDB or FerretDB, and what
 * follows from it: the filter mode (db_filters_by_id_only, db.h) and the
 * write limit (db_commands.c), and which indexes are kept (db_index.c).
 * FerretDB says what it is in buildInfo
 * ("ferretdbVersion"); db_ensure_indexes asks, at start-up.
 */
#include "sync/base/db_internal.h"

#include <stdio.h>

bool db_kind_detect(db_t *db, mongoc_client_t *client, chorus_error_t *err) {
  bson_t *cmd = BCON_NEW("buildInfo", BCON_INT32(1));
  bson_t reply;
  bson_error_t berr;
  bool ok =
      mongoc_client_command_simple(client, "admin", cmd, NULL, &reply, &berr);
  if (ok) {
    bson_iter_t it;
    bool ferretdb = bson_iter_init_find(&it, &reply, "ferretdbVersion");
    atomic_store(&db->ferretdb, ferretdb);
    if (db->filters == DB_FILTERS_AUTO &&
        ferretdb != atomic_exchange(&db->id_only, ferretdb)) {
      fprintf(stderr,
              "chorusd: database %s is FerretDB: 2PC writes on one "
              "document filter by _id alone (docs/DATABASE.md)\n",
              db->label);
    }
    db_commands_auto_write_limit(db, ferretdb);
  } else {
    chorus_error_from_bson(err, &berr, "buildInfo");
  }
  bson_destroy(&reply);
  bson_destroy(cmd);
  return ok;
}

bool db_filters_by_id_only(db_t *db) { return atomic_load(&db->id_only); }

void db_set_filters(db_t *db, db_filters_t mode) {
  db->filters = mode;
  if (mode != DB_FILTERS_AUTO) {
    atomic_store(&db->id_only, mode == DB_FILTERS_ID);
  }
}
