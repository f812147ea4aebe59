/*
 * db_commands.c - what runs around every database command of a pool: the
 * write gate (write_gate.h) and the slow-command log (db_set_slow_ms).
 * Both hang on the driver's APM command events, which it raises on the
 * thread that sends the command: "started" before it is sent, then
 * exactly one of "succeeded" or "failed".
 *
 * The write gate: a write command (insert, update, delete, findAndModify)
 * enters the gate when it starts and leaves it when it ends, so at most
 * the limit of them are in flight from this process.  The limit is fixed
 * by db_set_write_limit, or follows the kind of server (db_kind.c): 1 on
 * FerretDB, whose SQLite file takes one writer at a time; none on MongoDB.
 *
 * The slow-command log: a command's collection is known when it starts,
 * its duration when it ends.  One command at a time runs per thread, so
 * the two meet in that thread's slot (found by hashing the thread and
 * probing; request ids are per client and collide, and FerretDB gives
 * every connection the same id).  A thread beyond the table's size just
 * logs without the collection's name.
 */
#define _GNU_SOURCE /* pthread_getattr_np */
#include "sync/base/db_internal.h"

#include <assert.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

/* What the checked builds require left of a thread's stack when a
 * command is sent (on_command_started). */
#define DB_STACK_HEADROOM (24 * 1024)

#define DB_SLOW_SLOTS 256

typedef struct db_slow_slot {
  bool used;
  pthread_t thread;
  int64_t request_id;
  char collection[64];
} slow_slot_t;

void db_commands_init(db_t *db) {
  pthread_mutex_init(&db->slow_mu, NULL);
  db->writes = write_gate_new();
  db->write_limit = -1;
}

void db_commands_cleanup(db_t *db) {
  pthread_mutex_destroy(&db->slow_mu);
  write_gate_destroy(db->writes);
  bson_free(db->slow_slots);
}

/* ---- the write gate ---- */

static bool is_write_command(const char *name) {
  return !strcmp(name, "insert") || !strcmp(name, "update") ||
         !strcmp(name, "delete") || !strcmp(name, "findAndModify") ||
         !strcmp(name, "drop");
}

void db_set_write_limit(db_t *db, int limit) {
  db->write_limit = limit < 0 ? -1 : limit;
  if (limit >= 0) {
    write_gate_set_limit(db->writes, limit);
  }
}

void db_commands_auto_write_limit(db_t *db, bool ferretdb) {
  if (db->write_limit >= 0 ||
      write_gate_limit(db->writes) == (ferretdb ? 1 : 0)) {
    return;
  }
  /* SQLite writes one at a time: queue here, not in its busy handler
   * (write_gate.h). */
  write_gate_set_limit(db->writes, ferretdb ? 1 : 0);
  if (ferretdb) {
    fprintf(stderr,
            "chorusd: database %s: one write command in flight "
            "at a time from this server (--db-write-gate)\n",
            db->label);
  }
}

write_priority_t db_write_priority(write_priority_t p) {
  return write_gate_set_priority(p);
}

void db_write_gate_stats(db_t *db, int *limit, write_gate_stats_t *out) {
  write_gate_stats(db->writes, out);
  *limit = write_gate_limit(db->writes);
}

/* ---- the slow-command log ---- */

void db_set_slow_ms(db_t *db, int slow_ms) {
  if (slow_ms > 0 && !db->slow_slots) {
    db->slow_slots = bson_malloc0(sizeof *db->slow_slots * DB_SLOW_SLOTS);
  }
  atomic_store(&db->slow_us, slow_ms > 0 ? (long long)slow_ms * 1000 : 0);
}

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

/* Notes a starting command's collection in this thread's slot. */
static void note_started(db_t *db, const mongoc_apm_command_started_t *event) {
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

/* ---- the APM callbacks ---- */

#ifndef NDEBUG
/* The stack this thread has left below this frame, in bytes; SIZE_MAX
 * when the thread's stack cannot be learnt. */
static size_t stack_left(void) {
  static _Thread_local char *lowest; /* the stack's low end, once known */
  static _Thread_local bool known;
  if (!known) {
    pthread_attr_t attr;
    void *addr;
    size_t size;
    known = true;
    if (pthread_getattr_np(pthread_self(), &attr) == 0) {
      if (pthread_attr_getstack(&attr, &addr, &size) == 0) {
        lowest = addr;
      }
      pthread_attr_destroy(&attr);
    }
  }
  char here;
  return lowest ? (size_t)(&here - lowest) : SIZE_MAX;
}
#endif

static void on_command_started(const mongoc_apm_command_started_t *event) {
  db_t *db = mongoc_apm_command_started_get_context(event);
  /* Every database command is sent from deep in a request's stack, and a
   * civetweb worker's stack is 100 KB (docs/ARCHITECTURE.md, "Stacks"):
   * the checked builds stop here while a quarter of it is still left
   * (the driver's sending and the TLS below this need less), rather than
   * overflowing one day on a deeper path. */
  assert(stack_left() >= DB_STACK_HEADROOM);
  if (is_write_command(mongoc_apm_command_started_get_command_name(event))) {
    write_gate_enter(db->writes); /* left in on_command_succeeded/failed */
  }
  if (atomic_load(&db->slow_us)) {
    note_started(db, event);
  }
}

static void on_command_succeeded(const mongoc_apm_command_succeeded_t *event) {
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

void db_commands_watch(mongoc_apm_callbacks_t *callbacks) {
  mongoc_apm_set_command_started_cb(callbacks, on_command_started);
  mongoc_apm_set_command_succeeded_cb(callbacks, on_command_succeeded);
  mongoc_apm_set_command_failed_cb(callbacks, on_command_failed);
}
