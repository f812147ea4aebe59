/*
 * db.c - see db.h.
 *
 * The schema lives in one table below (index_specs): each entry is created
 * with createIndexes, which is a no-op for an index that already exists
 * with the same definition, so start-up is idempotent and several servers
 * may start at once.
 *
 * Health (db.h): the pool's SDAM topology-changed callback marks the
 * deployment down when the driver's view goes from "has a writable server"
 * to "has none" (it runs on driver threads, with the topology locked, so it
 * only flips an atomic and signals the prober).  The prober pings through
 * the pool: while a ping waits in server selection the driver re-checks the
 * server every 500 ms (its minimum heartbeat interval), so a deployment that
 * is back is seen within about half a second.  A generation number keeps a
 * ping that answered just before a new failure from marking the deployment
 * up again.
 */
#include "sync/base/db.h"

#include "sync/base/write_gate.h"

#include <pthread.h>
#include <stdio.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

/* Between two pings of a deployment that is down. */
#define DB_PROBE_INTERVAL_MS 250

/* The slow-command log (db_set_slow_ms): a command's collection is known
 * when it starts, its duration when it ends.  The driver runs both
 * callbacks on the thread that runs the command, one command at a time
 * per thread, so the two meet in that thread's slot (found by hashing the
 * thread and probing; request ids are per client and collide, and
 * FerretDB gives every connection the same id).  A thread beyond the
 * table's size just logs without the collection's name. */
#define DB_SLOW_SLOTS 256

typedef struct slow_slot {
  bool used;
  pthread_t thread;
  int64_t request_id;
  char command[32];
  char collection[64];
} slow_slot_t;

struct db {
  mongoc_client_pool_t *pool;
  char *name;
  char label[160]; /* "<db> at <host:port,...>", for logs */
  atomic_llong acquires, wait_us, slow;

  atomic_bool down;
  atomic_llong outages, refused;
  atomic_llong down_since_us; /* monotonic; valid while down */
  pthread_mutex_t mu;         /* guards the fields below */
  pthread_cond_t cv;
  int64_t generation;         /* bumped by every mark_down */
  bool stopping;
  pthread_t prober;

  atomic_bool id_only;        /* db_filters_by_id_only() */
  db_filters_t filters;       /* db_set_filters(); set before sharing */
  atomic_llong slow_us;       /* 0: the slow-command log is off */
  write_gate_t *writes;       /* write commands in flight (write_gate.h) */
  int write_limit;            /* db_set_write_limit(); -1: auto */
  pthread_mutex_t slow_mu;    /* guards slow_slots */
  slow_slot_t *slow_slots;    /* DB_SLOW_SLOTS, allocated when turned on */
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
    {"txn_open", "deadline_1", "{\"deadline\": 1}", false},
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

/* Marks the deployment down (idempotent) and wakes the prober. */
static void mark_down(db_t *db, const char *why) {
  pthread_mutex_lock(&db->mu);
  db->generation++;
  bool was_down = atomic_exchange(&db->down, true);
  if (!was_down) {
    atomic_store(&db->down_since_us, bson_get_monotonic_time());
    atomic_fetch_add(&db->outages, 1);
    pthread_cond_signal(&db->cv);
  }
  pthread_mutex_unlock(&db->mu);
  if (!was_down) {
    fprintf(stderr,
            "chorusd: database %s unreachable (%s); answering 503 until a "
            "ping succeeds\n",
            db->label, why);
  }
}

/* SDAM: called by the driver whenever its view of the deployment changes
 * (on its monitor threads, or on a thread whose operation met an error),
 * with the topology locked: it must not call into the driver. */
static void on_topology_changed(const mongoc_apm_topology_changed_t *event) {
  db_t *db = mongoc_apm_topology_changed_get_context(event);
  const mongoc_topology_description_t *before =
      mongoc_apm_topology_changed_get_previous_description(event);
  const mongoc_topology_description_t *after =
      mongoc_apm_topology_changed_get_new_description(event);
  /* Only a loss: at start-up the description begins with no writable
   * server, which says nothing yet. */
  if (mongoc_topology_description_has_writable_server(before) &&
      !mongoc_topology_description_has_writable_server(after)) {
    mark_down(db, "the driver lost the primary");
  }
}

/* ---- the slow-command log ---- */

/* This thread's slot (slow_mu held); NULL when the table is full. */
static slow_slot_t *slow_slot_of_thread(db_t *db, bool take) {
  pthread_t self = pthread_self();
  size_t h = 0;
  const unsigned char *p = (const unsigned char *)&self;
  for (size_t i = 0; i < sizeof self; i++) {
    h = h * 31 + p[i];
  }
  for (size_t i = 0; i < DB_SLOW_SLOTS; i++) {
    slow_slot_t *slot = &db->slow_slots[(h + i) % DB_SLOW_SLOTS];
    if (slot->used && pthread_equal(slot->thread, self)) {
      return slot;
    }
    if (!slot->used) {
      if (!take) {
        return NULL;
      }
      slot->used = true;
      slot->thread = self;
      return slot;
    }
  }
  return NULL;
}

static bool is_write_command(const char *name) {
  return !strcmp(name, "insert") || !strcmp(name, "update") ||
         !strcmp(name, "delete") || !strcmp(name, "findAndModify");
}

static void on_command_started(const mongoc_apm_command_started_t *event) {
  db_t *db = mongoc_apm_command_started_get_context(event);
  if (is_write_command(mongoc_apm_command_started_get_command_name(event))) {
    write_gate_enter(db->writes); /* left in on_command_succeeded/failed */
  }
  if (!atomic_load(&db->slow_us)) {
    return;
  }
  int64_t rid = mongoc_apm_command_started_get_request_id(event);
  const bson_t *cmd = mongoc_apm_command_started_get_command(event);
  bson_iter_t it;
  const char *coll = "";
  /* {find: "coll", ...}; {getMore: <cursor id>, collection: "coll"} */
  if (bson_iter_init(&it, cmd) && bson_iter_next(&it) &&
      BSON_ITER_HOLDS_UTF8(&it)) {
    coll = bson_iter_utf8(&it, NULL);
  } else if (bson_iter_init_find(&it, cmd, "collection") &&
             BSON_ITER_HOLDS_UTF8(&it)) {
    coll = bson_iter_utf8(&it, NULL);
  }
  pthread_mutex_lock(&db->slow_mu);
  slow_slot_t *slot = slow_slot_of_thread(db, true);
  if (slot) {
    slot->request_id = rid;
    bson_strncpy(slot->command,
                 mongoc_apm_command_started_get_command_name(event),
                 sizeof slot->command);
    bson_strncpy(slot->collection, coll, sizeof slot->collection);
  }
  pthread_mutex_unlock(&db->slow_mu);
}

static void log_if_slow(db_t *db, int64_t rid, const char *name,
                        int64_t duration_us, bool ok) {
  int64_t slow_us = atomic_load(&db->slow_us);
  if (!slow_us || duration_us < slow_us) {
    return;
  }
  char coll[64] = "";
  pthread_mutex_lock(&db->slow_mu);
  const slow_slot_t *slot = slow_slot_of_thread(db, false);
  if (slot && slot->request_id == rid) {
    bson_strncpy(coll, slot->collection, sizeof coll);
  }
  pthread_mutex_unlock(&db->slow_mu);
  /* Names of commands and collections are ours: no JSON escaping needed
   * beyond what their character sets allow (no quotes, no backslashes). */
  fprintf(stderr,
          "{\"slow_db_command\":\"%s\",\"collection\":\"%s\","
          "\"db\":\"%s\",\"ms\":%.3f,\"ok\":%s}\n",
          name, coll, db->name, (double)duration_us / 1000.0,
          ok ? "true" : "false");
}

static void on_command_succeeded(
    const mongoc_apm_command_succeeded_t *event) {
  write_gate_leave();
  log_if_slow(mongoc_apm_command_succeeded_get_context(event),
              mongoc_apm_command_succeeded_get_request_id(event),
              mongoc_apm_command_succeeded_get_command_name(event),
              mongoc_apm_command_succeeded_get_duration(event), true);
}

static void on_command_failed(const mongoc_apm_command_failed_t *event) {
  write_gate_leave();
  log_if_slow(mongoc_apm_command_failed_get_context(event),
              mongoc_apm_command_failed_get_request_id(event),
              mongoc_apm_command_failed_get_command_name(event),
              mongoc_apm_command_failed_get_duration(event), false);
}

void db_set_slow_ms(db_t *db, int slow_ms) {
  if (slow_ms > 0 && !db->slow_slots) {
    db->slow_slots = bson_malloc0(sizeof *db->slow_slots * DB_SLOW_SLOTS);
  }
  atomic_store(&db->slow_us, slow_ms > 0 ? (long long)slow_ms * 1000 : 0);
}

/* A client for the prober: not refused while down. */
static mongoc_client_t *pop_client(db_t *db) {
  mongoc_client_t *client = mongoc_client_pool_try_pop(db->pool);
  return client ? client : mongoc_client_pool_pop(db->pool);
}

static bool ping_with(db_t *db, mongoc_client_t *client, bson_error_t *berr) {
  bson_t cmd = BSON_INITIALIZER;
  BSON_APPEND_INT32(&cmd, "ping", 1);
  /* NULL read preference: the primary, i.e. a deployment that can take
   * writes. */
  bool ok = mongoc_client_command_simple(client, db->name, &cmd, NULL, NULL,
                                         berr);
  bson_destroy(&cmd);
  return ok;
}

static void *prober_main(void *arg) {
  db_t *db = arg;
  pthread_mutex_lock(&db->mu);
  while (!db->stopping) {
    if (!atomic_load(&db->down)) {
      pthread_cond_wait(&db->cv, &db->mu);
      continue;
    }
    int64_t generation = db->generation;
    pthread_mutex_unlock(&db->mu);
    mongoc_client_t *client = pop_client(db);
    bson_error_t berr;
    bool ok = ping_with(db, client, &berr);
    mongoc_client_pool_push(db->pool, client);
    pthread_mutex_lock(&db->mu);
    if (ok && generation == db->generation) {
      int64_t took_ms =
          (bson_get_monotonic_time() - atomic_load(&db->down_since_us)) /
          1000;
      atomic_store(&db->down, false);
      fprintf(stderr, "chorusd: database %s answers again (down %lld ms)\n",
              db->label, (long long)took_ms);
    } else if (!ok && !db->stopping) {
      struct timespec until;
      clock_gettime(CLOCK_REALTIME, &until);
      until.tv_nsec += (long)DB_PROBE_INTERVAL_MS * 1000000L;
      until.tv_sec += until.tv_nsec / 1000000000L;
      until.tv_nsec %= 1000000000L;
      pthread_cond_timedwait(&db->cv, &db->mu, &until);
    }
  }
  pthread_mutex_unlock(&db->mu);
  return NULL;
}

static void uri_default_bool(mongoc_uri_t *uri, const char *option,
                             bool value) {
  if (!mongoc_uri_has_option(uri, option)) {
    mongoc_uri_set_option_as_bool(uri, option, value);
  }
}

static void make_label(db_t *db, const mongoc_uri_t *uri) {
  size_t n = (size_t)snprintf(db->label, sizeof db->label, "%s at ",
                              db->name);
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
   * work.  (It was 1 s: a request in flight at a crash of the database
   * paid it for the driver's retry of its write, and again for a second
   * command on the same client, 2.6-3.6 s in all under load, above the
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
  pthread_mutex_init(&db->mu, NULL);
  pthread_cond_init(&db->cv, NULL);
  pthread_mutex_init(&db->slow_mu, NULL);
  db->writes = write_gate_new();
  db->write_limit = -1;
  /* Before the first client is popped, as the driver requires.  The
   * command callbacks return at once while the slow log is off. */
  mongoc_apm_callbacks_t *callbacks = mongoc_apm_callbacks_new();
  mongoc_apm_set_topology_changed_cb(callbacks, on_topology_changed);
  mongoc_apm_set_command_started_cb(callbacks, on_command_started);
  mongoc_apm_set_command_succeeded_cb(callbacks, on_command_succeeded);
  mongoc_apm_set_command_failed_cb(callbacks, on_command_failed);
  mongoc_client_pool_set_apm_callbacks(pool, callbacks, db);
  mongoc_apm_callbacks_destroy(callbacks);
  mongoc_client_pool_set_error_api(pool, MONGOC_ERROR_API_VERSION_2);
  mongoc_client_pool_max_size(pool, (uint32_t)(max_clients > 0 ? max_clients
                                                               : 16));
  if (pthread_create(&db->prober, NULL, prober_main, db) != 0) {
    mongoc_client_pool_destroy(pool);
    pthread_cond_destroy(&db->cv);
    pthread_mutex_destroy(&db->mu);
    pthread_mutex_destroy(&db->slow_mu);
    write_gate_destroy(db->writes);
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
  pthread_mutex_lock(&db->mu);
  db->stopping = true;
  pthread_cond_signal(&db->cv);
  pthread_mutex_unlock(&db->mu);
  pthread_join(db->prober, NULL); /* at most one ping (0.5 s) away */
  mongoc_client_pool_destroy(db->pool);
  pthread_cond_destroy(&db->cv);
  pthread_mutex_destroy(&db->mu);
  pthread_mutex_destroy(&db->slow_mu);
  write_gate_destroy(db->writes);
  bson_free(db->slow_slots);
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

bool db_is_up(db_t *db) { return !atomic_load(&db->down); }

bool db_check_up(db_t *db, chorus_error_t *err) {
  if (db_is_up(db)) {
    return true;
  }
  db_error_unavailable(err);
  return false;
}

void db_health(db_t *db, db_health_t *out) {
  out->up = !atomic_load(&db->down);
  out->outages = atomic_load(&db->outages);
  out->refused = atomic_load(&db->refused);
  out->down_ms =
      out->up ? 0
              : (bson_get_monotonic_time() - atomic_load(&db->down_since_us)) /
                    1000;
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

bool db_ping(db_t *db, chorus_error_t *err) {
  mongoc_client_t *client = db_acquire(db);
  if (!client) {
    db_error_unavailable(err);
    return false;
  }
  bson_error_t berr;
  bool ok = ping_with(db, client, &berr);
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

/* What kind of server this is (db_filters_by_id_only): FerretDB says so
 * in buildInfo ("ferretdbVersion"). */
static bool detect_server(db_t *db, mongoc_client_t *client,
                          chorus_error_t *err) {
  bson_t *cmd = BCON_NEW("buildInfo", BCON_INT32(1));
  bson_t reply;
  bson_error_t berr;
  bool ok = mongoc_client_command_simple(client, "admin", cmd, NULL, &reply,
                                         &berr);
  if (ok) {
    bson_iter_t it;
    bool ferretdb = bson_iter_init_find(&it, &reply, "ferretdbVersion");
    if (db->filters == DB_FILTERS_AUTO &&
        ferretdb != atomic_exchange(&db->id_only, ferretdb)) {
      fprintf(stderr, "chorusd: database %s is FerretDB: 2PC writes on one "
                      "document filter by _id alone (docs/DATABASE.md)\n",
              db->label);
    }
    if (db->write_limit < 0 &&
        write_gate_limit(db->writes) != (ferretdb ? 1 : 0)) {
      /* SQLite writes one at a time: queue here, not in its busy
       * handler (write_gate.h). */
      write_gate_set_limit(db->writes, ferretdb ? 1 : 0);
      if (ferretdb) {
        fprintf(stderr, "chorusd: database %s: one write command in flight "
                        "at a time from this server (--db-write-gate)\n",
                db->label);
      }
    }
  } else {
    chorus_error_from_bson(err, &berr, "buildInfo");
  }
  bson_destroy(&reply);
  bson_destroy(cmd);
  return ok;
}

bool db_filters_by_id_only(db_t *db) { return atomic_load(&db->id_only); }

void db_set_write_limit(db_t *db, int limit) {
  db->write_limit = limit < 0 ? -1 : limit;
  if (limit >= 0) {
    write_gate_set_limit(db->writes, limit);
  }
}

void db_write_gate_stats(db_t *db, int *limit, int64_t *waited,
                         int64_t *wait_us, int64_t *timeouts) {
  write_gate_stats_t st;
  write_gate_stats(db->writes, &st);
  *limit = write_gate_limit(db->writes);
  *waited = st.waited;
  *wait_us = st.wait_us;
  *timeouts = st.timeouts;
}

void db_set_filters(db_t *db, db_filters_t mode) {
  db->filters = mode;
  if (mode != DB_FILTERS_AUTO) {
    atomic_store(&db->id_only, mode == DB_FILTERS_ID);
  }
}

static bool create_indexes(db_t *db, const index_spec_t *specs, size_t n,
                           const char *coll, chorus_error_t *err) {
  mongoc_client_t *client = db_acquire(db);
  if (!client) {
    db_error_unavailable(err);
    return false;
  }
  bool ok = detect_server(db, client, err);
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
