/*
 * db.c - the pool of a deployment: creating it, borrowing clients,
 * collections; see db.h.  The other parts of a db_t are in db_health.c,
 * db_commands.c, db_kind.c and db_index.c (db_internal.h lists them).
 */
#include "sync/base/db_internal.h"

#include <stdio.h>
#include <string.h>
#include <sys/time.h>

static void uri_default_int32(mongoc_uri_t *uri, const char *option,
                              int32_t value) {
  if (!mongoc_uri_has_option(uri, option)) {
    mongoc_uri_set_option_as_int32(uri, option, value);
  }
}

static void uri_default_bool(mongoc_uri_t *uri, const char *option,
                             bool value) {
  if (!mongoc_uri_has_option(uri, option)) {
    mongoc_uri_set_option_as_bool(uri, option, value);
  }
}

static void make_label(db_t *db, const mongoc_uri_t *uri) {
  size_t n = (size_t)snprintf(db->label, sizeof db->label, "%s at ", db->name);
  const char *sep = "";
  for (const mongoc_host_list_t *h = mongoc_uri_get_hosts(uri);
       h && n < sizeof db->label; h = h->next) {
    n += (size_t)snprintf(db->label + n, sizeof db->label - n, "%s%s", sep,
                          h->host_and_port);
    sep = ",";
  }
}

db_t *db_new(const char *uri_string, const char *name, int max_clients,
             chorus_error_t *err) {
  bson_error_t berr;
  mongoc_uri_t *uri = mongoc_uri_new_with_error(uri_string, &berr);
  if (!uri) {
    chorus_error_set(err, 500, "bad_config", "invalid --mongo-uri: %s",
                     berr.message);
    return NULL;
  }
  if (!name[0] || strpbrk(name, "/\\. \"$") || strlen(name) > 63) {
    mongoc_uri_destroy(uri);
    chorus_error_set(err, 500, "bad_config", "invalid --db name '%s'", name);
    return NULL;
  }
  /* An operation that meets an unreachable deployment fails within
   * 0.5 s; once one has, the deployment is marked down and the rest fail
   * at once (db.h), so a request answers within about 0.5 s plus its own
   * work.  (With 1 s, a request in flight at a crash of the database
   * paid it for the driver's retry of its write, and again for a second
   * command on the same client: 2.6-3.6 s in all under load, above the
   * 2 s the outage test allows.)  A server that is up is selected at
   * once, whatever the load: this bounds only waits for a deployment with
   * no known primary. */
  uri_default_int32(uri, MONGOC_URI_SERVERSELECTIONTIMEOUTMS, 500);
  uri_default_int32(uri, MONGOC_URI_CONNECTTIMEOUTMS, 2000);
  uri_default_int32(uri, MONGOC_URI_SOCKETTIMEOUTMS, 10000);
  uri_default_int32(uri, MONGOC_URI_HEARTBEATFREQUENCYMS, 2000);
  /* The driver's defaults, stated: an operation that meets a primary
   * step-down (or a dropped connection) is retried once, on the new
   * primary, within the server selection timeout. */
  uri_default_bool(uri, MONGOC_URI_RETRYWRITES, true);
  uri_default_bool(uri, MONGOC_URI_RETRYREADS, true);
  if (!mongoc_uri_has_option(uri, MONGOC_URI_APPNAME)) {
    mongoc_uri_set_appname(uri, "chorusd");
  }
  if (!mongoc_uri_has_option(uri, MONGOC_URI_W)) {
    mongoc_write_concern_t *wc = mongoc_write_concern_new();
    mongoc_write_concern_set_wmajority(wc, 5000);
    mongoc_uri_set_write_concern(uri, wc);
    mongoc_write_concern_destroy(wc);
  }
  if (!mongoc_uri_has_option(uri, MONGOC_URI_READCONCERNLEVEL)) {
    /* A reader must not see a decision (or a write) that a replica set
     * failover could still roll back. */
    mongoc_read_concern_t *rc = mongoc_read_concern_new();
    mongoc_read_concern_set_level(rc, MONGOC_READ_CONCERN_LEVEL_MAJORITY);
    mongoc_uri_set_read_concern(uri, rc);
    mongoc_read_concern_destroy(rc);
  }
  mongoc_client_pool_t *pool = mongoc_client_pool_new(uri);
  if (!pool) {
    mongoc_uri_destroy(uri);
    chorus_error_set(err, 500, "bad_config", "cannot create client pool");
    return NULL;
  }
  db_t *db = bson_malloc0(sizeof *db);
  db->pool = pool;
  db->name = bson_strdup(name);
  make_label(db, uri);
  mongoc_uri_destroy(uri);
  db_health_init(db);
  db_commands_init(db);
  /* Before the first client is popped, as the driver requires. */
  mongoc_apm_callbacks_t *callbacks = mongoc_apm_callbacks_new();
  db_health_watch(callbacks);
  db_commands_watch(callbacks);
  mongoc_client_pool_set_apm_callbacks(pool, callbacks, db);
  mongoc_apm_callbacks_destroy(callbacks);
  mongoc_client_pool_set_error_api(pool, MONGOC_ERROR_API_VERSION_2);
  mongoc_client_pool_max_size(pool,
                              (uint32_t)(max_clients > 0 ? max_clients : 16));
  if (!db_health_start(db)) {
    mongoc_client_pool_destroy(pool);
    db_health_cleanup(db);
    db_commands_cleanup(db);
    bson_free(db->name);
    bson_free(db);
    chorus_error_set(err, 500, "thread", "cannot start the database prober");
    return NULL;
  }
  return db;
}

void db_destroy(db_t *db) {
  if (!db) {
    return;
  }
  db_health_stop(db);
  /* The pool's callbacks may still run while it closes: the state they
   * touch goes after it. */
  mongoc_client_pool_destroy(db->pool);
  db_health_cleanup(db);
  db_commands_cleanup(db);
  bson_free(db->name);
  bson_free(db);
}

static mongoc_client_t *refuse(db_t *db) {
  atomic_fetch_add(&db->refused, 1);
  return NULL;
}

mongoc_client_t *db_acquire(db_t *db) {
  atomic_fetch_add(&db->acquires, 1);
  if (atomic_load(&db->down)) {
    return refuse(db);
  }
  mongoc_client_t *client = mongoc_client_pool_try_pop(db->pool);
  if (client) {
    return client;
  }
  /* All clients are out: wait, and count the wait. */
  int64_t t0 = bson_get_monotonic_time();
  client = mongoc_client_pool_pop(db->pool);
  int64_t waited = bson_get_monotonic_time() - t0;
  atomic_fetch_add(&db->wait_us, waited);
  if (waited > 1000) {
    atomic_fetch_add(&db->slow, 1);
  }
  if (atomic_load(&db->down)) {
    /* It went down while we waited. */
    mongoc_client_pool_push(db->pool, client);
    return refuse(db);
  }
  return client;
}

void db_error_unavailable(chorus_error_t *err) {
  chorus_error_set(err, 503, "db_unavailable",
                   "The database is unavailable; try again shortly");
}

void db_pool_stats(db_t *db, int64_t *acquires, int64_t *wait_us,
                   int64_t *slow) {
  *acquires = atomic_load(&db->acquires);
  *wait_us = atomic_load(&db->wait_us);
  *slow = atomic_load(&db->slow);
}

void db_release(db_t *db, mongoc_client_t *client) {
  if (client) {
    mongoc_client_pool_push(db->pool, client);
  }
}

mongoc_collection_t *db_collection(db_t *db, mongoc_client_t *client,
                                   const char *name) {
  return mongoc_client_get_collection(client, db->name, name);
}

bool db_insert_one(db_t *db, const char *coll, const bson_t *doc,
                   const char *what, bool *duplicate, chorus_error_t *err) {
  if (duplicate) {
    *duplicate = false;
  }
  mongoc_client_t *client = db_acquire(db);
  if (!client) {
    db_error_unavailable(err);
    return false;
  }
  mongoc_collection_t *c = db_collection(db, client, coll);
  bson_error_t berr;
  bool ok = mongoc_collection_insert_one(c, doc, NULL, NULL, &berr);
  mongoc_collection_destroy(c);
  db_release(db, client);
  if (!ok && duplicate && chorus_bson_error_is_duplicate(&berr)) {
    *duplicate = true;
    chorus_error_set(err, 409, "duplicate", "It exists already");
  } else if (!ok) {
    chorus_error_from_bson(err, &berr, what);
  }
  return ok;
}

bool db_delete_in(mongoc_collection_t *coll, const char *field,
                  const bson_t *values, bson_error_t *error) {
  bson_t filter = BSON_INITIALIZER, in;
  BSON_APPEND_DOCUMENT_BEGIN(&filter, field, &in);
  BSON_APPEND_ARRAY(&in, "$in", values);
  bson_append_document_end(&filter, &in);
  write_priority_t was = db_write_priority(WRITE_PRIORITY_UNGATED);
  bool ok = mongoc_collection_delete_many(coll, &filter, NULL, NULL, error);
  db_write_priority(was);
  bson_destroy(&filter);
  return ok;
}

const char *db_name(const db_t *db) { return db->name; }

static void log_handler(mongoc_log_level_t level, const char *domain,
                        const char *message, void *user_data) {
  (void)user_data;
  if (level > MONGOC_LOG_LEVEL_WARNING ||
      (level == MONGOC_LOG_LEVEL_WARNING && strstr(message, "endSessions"))) {
    return;
  }
  fprintf(stderr, "chorusd: %s: %s: %s\n", mongoc_log_level_str(level), domain,
          message);
}

void db_log_init(void) { mongoc_log_set_handler(log_handler, NULL); }

int64_t db_now_ms(void) {
  struct timeval tv;
  gettimeofday(&tv, NULL);
  return (int64_t)tv.tv_sec * 1000 + tv.tv_usec / 1000;
}
