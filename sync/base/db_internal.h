/*
 * db_internal.h - the state of a db_t, shared by the files of the db
 * module and by nothing else:
 *
 *   db.c           the pool: creation, borrowing clients, collections
 *   db_health.c    up or down, and the prober that brings it back up
 *   db_commands.c  around every command (APM): the write gate, the slow log
 *   db_kind.c      MongoDB or FerretDB, and what follows from it
 *   db_index.c     creating a module's indexes
 *
 * The driver's APM callbacks of a pool (db_health_watch, db_commands_watch)
 * get the db_t as their context; they run on driver threads.
 */
#ifndef CHORUS_DB_INTERNAL_H
#define CHORUS_DB_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>

#include "sync/base/db.h"
#include "sync/base/write_gate.h"

struct db_slow_slot;

struct db {
  /* db.c */
  mongoc_client_pool_t *pool;
  char *name;
  char label[160]; /* "<db> at <host:port,...>", for logs */
  atomic_llong acquires, wait_us, slow;

  /* db_health.c */
  atomic_bool down;
  atomic_llong outages, refused;
  atomic_llong down_since_us; /* monotonic; valid while down */
  pthread_mutex_t mu;         /* guards the fields below */
  pthread_cond_t cv;
  int64_t generation; /* bumped by every mark_down */
  bool stopping;
  pthread_t prober;

  /* db_kind.c */
  atomic_bool id_only;  /* db_filters_by_id_only() */
  atomic_bool ferretdb; /* buildInfo said so (db_index.c) */
  db_filters_t filters; /* db_set_filters(); set before sharing */

  /* db_commands.c */
  write_gate_t *writes;            /* write commands in flight (write_gate.h) */
  int write_limit;                 /* db_set_write_limit(); -1: by kind */
  atomic_llong slow_us;            /* 0: the slow-command log is off */
  pthread_mutex_t slow_mu;         /* guards slow_slots */
  struct db_slow_slot *slow_slots; /* allocated when the log is turned on */
};

/* db_health.c.  init/cleanup the lock and condition; start/stop the
 * prober thread (start: false when it cannot be created).  watch adds the
 * topology callback that marks the deployment down. */
void db_health_init(db_t *db);
bool db_health_start(db_t *db);
void db_health_stop(db_t *db);
void db_health_cleanup(db_t *db);
void db_health_watch(mongoc_apm_callbacks_t *callbacks);

/* db_commands.c.  watch adds the command callbacks (started, succeeded,
 * failed).  auto_write_limit applies the limit that suits the kind of
 * server learned by db_kind_detect, unless db_set_write_limit fixed one. */
void db_commands_init(db_t *db);
void db_commands_cleanup(db_t *db);
void db_commands_watch(mongoc_apm_callbacks_t *callbacks);
void db_commands_auto_write_limit(db_t *db, bool ferretdb);

/* db_kind.c: asks the server what it is (buildInfo) on a borrowed
 * client; sets db->ferretdb, db_filters_by_id_only (unless
 * db_set_filters fixed it) and the write limit. */
bool db_kind_detect(db_t *db, mongoc_client_t *client, chorus_error_t *err);

#endif
