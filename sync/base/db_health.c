/*
 * db_health.c - whether a deployment is up, and the prober that brings it
 * back up; see "Health" in db.h.
 *
 * The pool's SDAM topology-changed callback marks the deployment down
 * when the driver's view goes from "has a writable server" to "has none"
 * (it runs on driver threads, with the topology locked, so it only flips
 * an atomic and signals the prober).  The prober pings through the pool:
 * while a ping waits in server selection the driver re-checks the server
 * every 500 ms (its minimum heartbeat interval), so a deployment that is
 * back is seen within about half a second.  A generation number keeps a
 * ping that answered just before a new failure from marking the
 * deployment up again.
 *
 * Invariant: down_since_us is set whenever down is true (mark_down sets it
 * before it flips down; only the prober flips it back).
 */
#include "sync/base/db_internal.h"

#include <assert.h>
#include <stdio.h>
#include <time.h>

/* Between two pings of a deployment that is down. */
#define DB_PROBE_INTERVAL_MS 250

/* Marks the deployment down (idempotent) and wakes the prober. */
static void mark_down(db_t *db, const char *why) {
  pthread_mutex_lock(&db->mu);
  db->generation++;
  bool was_down = atomic_load(&db->down);
  if (!was_down) {
    atomic_store(&db->down_since_us, bson_get_monotonic_time());
    atomic_store(&db->down, true);
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

void db_health_watch(mongoc_apm_callbacks_t *callbacks) {
  mongoc_apm_set_topology_changed_cb(callbacks, on_topology_changed);
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
  bool ok =
      mongoc_client_command_simple(client, db->name, &cmd, NULL, NULL, berr);
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
      assert(atomic_load(&db->down)); /* only the prober brings it up */
      int64_t took_ms =
          (bson_get_monotonic_time() - atomic_load(&db->down_since_us)) / 1000;
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

void db_health_init(db_t *db) {
  pthread_mutex_init(&db->mu, NULL);
  pthread_cond_init(&db->cv, NULL);
}

bool db_health_start(db_t *db) {
  return pthread_create(&db->prober, NULL, prober_main, db) == 0;
}

void db_health_stop(db_t *db) {
  pthread_mutex_lock(&db->mu);
  db->stopping = true;
  pthread_cond_signal(&db->cv);
  pthread_mutex_unlock(&db->mu);
  pthread_join(db->prober, NULL); /* at most one ping (0.5 s) away */
}

void db_health_cleanup(db_t *db) {
  pthread_cond_destroy(&db->cv);
  pthread_mutex_destroy(&db->mu);
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
