/*
 * db.c - see db.h.
 *
 * The schema lives in one table below (index_specs): each entry is created
 * with createIndexes, which is a no-op for an index that already exists
 * with the same definition, so start-up is idempotent and several servers
 * may start at once.
 */
#include "db.h"

#include <stdio.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/time.h>

struct db {
  mongoc_client_pool_t *pool;
  char *name;
  atomic_llong acquires, wait_us, slow;
};

typedef struct index_spec {
  const char *collection;
  const char *name;
  const char *keys_json;
  bool unique;
} index_spec_t;

/* Invariant: every query Chorus issues filters or sorts on one of these
 * (or on _id).  Usernames are unique case-insensitively through
 * username_lc.  A NULL collection means "the tweet shard collection". */
static const index_spec_t index_specs[] = {
    {DB_USERS, "username_lc_1", "{\"username_lc\": 1}", true},
    {DB_SESSIONS, "user_id_1", "{\"user_id\": 1}", false},
    {DB_TXNS, "done_1_deadline_1", "{\"done\": 1, \"deadline\": 1}", false},
    {DB_USERS, "display_name_lc_1", "{\"display_name_lc\": 1}", false},
    {"follows", "follower_id_1_created_at_-1",
     "{\"follower_id\": 1, \"created_at\": -1}", false},
    {"follows", "followee_id_1_created_at_-1",
     "{\"followee_id\": 1, \"created_at\": -1}", false},
    {"likes", "tweet_id_1", "{\"tweet_id\": 1}", false},
    {"txn_claims", "txn_1", "{\"txn\": 1}", false},
    {"login_failures", "key_1_at_1", "{\"key\": 1, \"at\": 1}", false},
    {"notifications", "user_id_1_created_at_-1",
     "{\"user_id\": 1, \"created_at\": -1}", false},
};

static const index_spec_t event_index_specs[] = {
    {"event_bells", "key_1", "{\"key\": 1}", true},
    {"event_bells", "at_1", "{\"at\": 1}", false},
    {"outbox", "created_at_1", "{\"created_at\": 1}", false},
};

static const index_spec_t tweet_index_specs[] = {
    {NULL, "created_at_-1__id_-1", "{\"created_at\": -1, \"_id\": -1}",
     false},
    {NULL, "author_id_1_created_at_-1",
     "{\"author_id\": 1, \"created_at\": -1}", false},
    {NULL, "reply_to_1_created_at_1",
     "{\"reply_to\": 1, \"created_at\": 1}", false},
    {NULL, "words_1_created_at_-1", "{\"words\": 1, \"created_at\": -1}",
     false},
};

static void uri_default_int32(mongoc_uri_t *uri, const char *option,
                              int32_t value) {
  if (!mongoc_uri_has_option(uri, option)) {
    mongoc_uri_set_option_as_int32(uri, option, value);
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
  uri_default_int32(uri, MONGOC_URI_SERVERSELECTIONTIMEOUTMS, 1500);
  uri_default_int32(uri, MONGOC_URI_CONNECTTIMEOUTMS, 2000);
  uri_default_int32(uri, MONGOC_URI_SOCKETTIMEOUTMS, 10000);
  uri_default_int32(uri, MONGOC_URI_HEARTBEATFREQUENCYMS, 2000);
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
  mongoc_uri_destroy(uri);
  if (!pool) {
    chorus_error_set(err, 500, "bad_config", "cannot create client pool");
    return NULL;
  }
  mongoc_client_pool_set_error_api(pool, MONGOC_ERROR_API_VERSION_2);
  mongoc_client_pool_max_size(pool, (uint32_t)(max_clients > 0 ? max_clients
                                                               : 16));
  db_t *db = bson_malloc0(sizeof *db);
  db->pool = pool;
  db->name = bson_strdup(name);
  return db;
}

void db_destroy(db_t *db) {
  if (!db) {
    return;
  }
  mongoc_client_pool_destroy(db->pool);
  bson_free(db->name);
  bson_free(db);
}

mongoc_client_t *db_acquire(db_t *db) {
  mongoc_client_t *client = mongoc_client_pool_try_pop(db->pool);
  atomic_fetch_add(&db->acquires, 1);
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
  return client;
}

void db_pool_stats(db_t *db, int64_t *acquires, int64_t *wait_us,
                   int64_t *slow) {
  *acquires = atomic_load(&db->acquires);
  *wait_us = atomic_load(&db->wait_us);
  *slow = atomic_load(&db->slow);
}

void db_release(db_t *db, mongoc_client_t *client) {
  mongoc_client_pool_push(db->pool, client);
}

mongoc_collection_t *db_collection(db_t *db, mongoc_client_t *client,
                                   const char *name) {
  return mongoc_client_get_collection(client, db->name, name);
}

bool db_ping(db_t *db, chorus_error_t *err) {
  mongoc_client_t *client = db_acquire(db);
  bson_t cmd = BSON_INITIALIZER;
  bson_error_t berr;
  BSON_APPEND_INT32(&cmd, "ping", 1);
  bool ok = mongoc_client_command_simple(client, db->name, &cmd, NULL, NULL,
                                         &berr);
  bson_destroy(&cmd);
  db_release(db, client);
  if (!ok) {
    chorus_error_from_bson(err, &berr, "ping");
  }
  return ok;
}

static bool create_index(db_t *db, mongoc_client_t *client, const char *coll,
                         const index_spec_t *spec, chorus_error_t *err) {
  bson_error_t berr;
  bson_t *keys =
      bson_new_from_json((const uint8_t *)spec->keys_json, -1, &berr);
  BSON_ASSERT(keys); /* the tables above are constant and valid */
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
  bool ok = mongoc_client_command_simple(client, db->name, &cmd, NULL, NULL,
                                         &berr);
  if (!ok) {
    chorus_error_from_bson(err, &berr, "createIndexes");
  }
  bson_destroy(&cmd);
  bson_destroy(keys);
  return ok;
}

static bool create_indexes(db_t *db, const index_spec_t *specs, size_t n,
                           const char *coll, chorus_error_t *err) {
  mongoc_client_t *client = db_acquire(db);
  bool ok = true;
  for (size_t i = 0; ok && i < n; i++) {
    ok = create_index(db, client, coll ? coll : specs[i].collection,
                      &specs[i], err);
  }
  db_release(db, client);
  return ok;
}

bool db_ensure_indexes(db_t *db, chorus_error_t *err) {
  return create_indexes(db, index_specs,
                        sizeof index_specs / sizeof index_specs[0], NULL, err);
}

bool db_ensure_event_indexes(db_t *db, chorus_error_t *err) {
  return create_indexes(db, event_index_specs,
                        sizeof event_index_specs / sizeof event_index_specs[0],
                        NULL, err);
}

const char *db_name(const db_t *db) { return db->name; }

bool db_ensure_tweet_indexes(db_t *db, const char *coll, chorus_error_t *err) {
  return create_indexes(db, tweet_index_specs,
                        sizeof tweet_index_specs / sizeof tweet_index_specs[0],
                        coll, err);
}

static void log_handler(mongoc_log_level_t level, const char *domain,
                        const char *message, void *user_data) {
  (void)user_data;
  if (level > MONGOC_LOG_LEVEL_WARNING ||
      (level == MONGOC_LOG_LEVEL_WARNING && strstr(message, "endSessions"))) {
    return;
  }
  fprintf(stderr, "chorusd: %s: %s: %s\n", mongoc_log_level_str(level),
          domain, message);
}

void db_log_init(void) { mongoc_log_set_handler(log_handler, NULL); }

int64_t db_now_ms(void) {
  struct timeval tv;
  gettimeofday(&tv, NULL);
  return (int64_t)tv.tv_sec * 1000 + tv.tv_usec / 1000;
}
