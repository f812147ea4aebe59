/*
 * events.c - the event log's life (creation, its collections, start,
 * stop) and the stored form of an event that the other files share (bell
 * ids, decoding a bell or log entry, reading one document); see events.h
 * and events_internal.h.
 */
#include "sync/events/events_internal.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "sync/base/bsonx.h"

void events_sleep_ms(int ms) {
  struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
}

events_t *events_new(db_t *db, const txn_store_t *store, chorus_error_t *err) {
  (void)err;
  events_t *ev = bson_malloc0(sizeof *ev);
  ev->db = db;
  ev->store = store;
  pthread_mutex_init(&ev->claim_lock, NULL);
  pthread_mutex_init(&ev->done_lock, NULL);
  pthread_mutex_init(&ev->own_lock, NULL);
  ev->done = bson_malloc(sizeof *ev->done * EVENTS_DONE_MAX);
  batcher_init(&ev->claims, BATCHER_MAX);
  return ev;
}

/* A bell's _id: its number as a 19-digit decimal string.  Every poll is
 * a find of one bell by _id, and FerretDB v1 answers a find by a string
 * _id from an index (scripts/ferretdb-id-index.sh) but reads and decodes
 * every bell for an Int64 one: under load, most of its CPU
 * (docs/PERFORMANCE.md).  Zero-padded, string order is number order ($gt
 * and sorts on bells).  The log keeps Int64 numbers. */
void events_bell_id(int64_t seq, char out[BELL_ID_LEN]) {
  snprintf(out, BELL_ID_LEN, "%019lld", (long long)(seq < 0 ? 0 : seq));
}

/* The number at it: a bell id (above), or a number (the log's _id); 0
 * when it is neither. */
int64_t events_iter_seq(const bson_iter_t *it) {
  if (!BSON_ITER_HOLDS_UTF8(it)) {
    return bsonx_as_int64(it);
  }
  uint32_t len;
  const char *s = bson_iter_utf8(it, &len);
  int64_t seq = 0;
  if (len == 0 || len > BELL_ID_DIGITS) {
    return 0;
  }
  for (uint32_t i = 0; i < len; i++) {
    if (s[i] < '0' || s[i] > '9') {
      return 0;
    }
    seq = seq * 10 + (s[i] - '0');
  }
  return seq;
}

int64_t events_doc_seq(const bson_t *doc) {
  bson_iter_t it;
  return bson_iter_init_find(&it, doc, "_id") ? events_iter_seq(&it) : 0;
}

bool event_from_bson(const bson_t *doc, event_t *e) {
  bson_iter_t it;
  memset(e, 0, sizeof *e);
  bson_init(&e->data);
  bson_init(&e->audience);
  bson_init(&e->model);
  if (!bson_iter_init(&it, doc)) {
    return false;
  }
  while (bson_iter_next(&it)) {
    const char *k = bson_iter_key(&it);
    uint32_t len;
    const uint8_t *data;
    if (!strcmp(k, "_id")) {
      e->seq = events_iter_seq(&it);
    } else if (!strcmp(k, "type") && BSON_ITER_HOLDS_UTF8(&it)) {
      bsonx_copy_utf8(&it, e->type, sizeof e->type);
    } else if ((!strcmp(k, "data") || !strcmp(k, "audience") ||
                !strcmp(k, "model")) &&
               BSON_ITER_HOLDS_DOCUMENT(&it)) {
      bson_iter_document(&it, &len, &data);
      bson_t sub;
      if (bson_init_static(&sub, data, len)) {
        bson_concat(!strcmp(k, "data")       ? &e->data
                    : !strcmp(k, "audience") ? &e->audience
                                             : &e->model,
                    &sub);
      }
    } else if (!strcmp(k, "at") && BSON_ITER_HOLDS_DATE_TIME(&it)) {
      e->at_ms = bson_iter_date_time(&it);
    }
  }
  return e->seq > 0;
}

void event_cleanup(event_t *e) {
  bson_destroy(&e->data);
  bson_destroy(&e->audience);
  bson_destroy(&e->model);
}

bool events_find_one(mongoc_collection_t *coll, const bson_t *filter,
                     const bson_t *sort, bson_t **out) {
  bson_t opts = BSON_INITIALIZER;
  if (sort) {
    BSON_APPEND_DOCUMENT(&opts, "sort", sort);
  }
  BSON_APPEND_INT64(&opts, "limit", 1);
  mongoc_cursor_t *cursor =
      mongoc_collection_find_with_opts(coll, filter, &opts, NULL);
  const bson_t *doc;
  *out = mongoc_cursor_next(cursor, &doc) ? bson_copy(doc) : NULL;
  bson_error_t berr;
  bool ok = !mongoc_cursor_error(cursor, &berr);
  if (!ok && *out) {
    bson_destroy(*out);
    *out = NULL;
  }
  mongoc_cursor_destroy(cursor);
  bson_destroy(&opts);
  return ok;
}

bool events_find_first(events_t *ev, const char *coll_name,
                       const bson_t *filter, const bson_t *sort, bson_t **out) {
  *out = NULL;
  mongoc_client_t *client = db_acquire(ev->db);
  if (!client) {
    return false;
  }
  mongoc_collection_t *coll = db_collection(ev->db, client, coll_name);
  bool ok = events_find_one(coll, filter, sort, out);
  mongoc_collection_destroy(coll);
  db_release(ev->db, client);
  return ok;
}

bool events_bell_at(mongoc_collection_t *bells, int64_t seq, bool *exists,
                    bson_t **doc) {
  char id[BELL_ID_LEN];
  events_bell_id(seq, id);
  bson_t *filter = BCON_NEW("_id", BCON_UTF8(id));
  bson_t *found = NULL;
  bool ok = events_find_one(bells, filter, NULL, &found);
  bson_destroy(filter);
  *exists = found != NULL;
  if (doc) {
    *doc = found;
  } else if (found) {
    bson_destroy(found);
  }
  return ok;
}

bool events_find_bell(events_t *ev, int64_t seq, bson_t **bell) {
  *bell = NULL;
  mongoc_client_t *client = db_acquire(ev->db);
  if (!client) {
    return false;
  }
  mongoc_collection_t *bells = db_collection(ev->db, client, DB_BELLS);
  bool exists;
  bool ok = events_bell_at(bells, seq, &exists, bell);
  mongoc_collection_destroy(bells);
  db_release(ev->db, client);
  return ok;
}

/* The highest number in coll (0 when it is empty) into *seq; false when
 * the database could not say.  Never guess 0 on an error: the poller would
 * then deliver the whole log again. */
static bool max_seq(events_t *ev, const char *coll, int64_t *seq) {
  bson_t empty = BSON_INITIALIZER;
  bson_t *sort = BCON_NEW("_id", BCON_INT32(-1));
  bson_t *doc = NULL;
  bson_iter_t it;
  *seq = 0;
  bool ok = events_find_first(ev, coll, &empty, sort, &doc);
  if (ok && doc && bson_iter_init_find(&it, doc, "_id")) {
    *seq = events_iter_seq(&it);
  }
  if (doc) {
    bson_destroy(doc);
  }
  bson_destroy(sort);
  return ok;
}

/* The highest number published so far, asked for until the database
 * answers or EVENTS_START_WAIT_MS have passed (a blip at start-up must
 * not fail the server, nor make it start from 0). */
#define EVENTS_START_WAIT_MS 10000
static bool find_head(events_t *ev, int64_t *head, chorus_error_t *err) {
  for (int waited = 0;; waited += POLL_FAILED_MS) {
    int64_t bells, log;
    if (max_seq(ev, DB_BELLS, &bells) && max_seq(ev, DB_LOG, &log)) {
      *head = bells > log ? bells : log;
      return true;
    }
    if (waited >= EVENTS_START_WAIT_MS) {
      chorus_error_set(err, 503, "db_unavailable",
                       "cannot read the event log's head");
      return false;
    }
    events_sleep_ms(POLL_FAILED_MS);
  }
}

static const db_index_t bells_indexes[] = {
    {"key_1", "{\"key\": 1}", true},
    {"at_1", "{\"at\": 1}", false},
};
static const db_index_t outbox_indexes[] = {
    {"created_at_1", "{\"created_at\": 1}", false},
};

bool events_ensure_indexes(db_t *db, chorus_error_t *err) {
  return db_ensure_indexes(db, DB_BELLS, bells_indexes,
                           DB_INDEX_COUNT(bells_indexes), err) &&
         db_ensure_indexes(db, DB_OUTBOX, outbox_indexes,
                           DB_INDEX_COUNT(outbox_indexes), err);
}

/* The capped log and the indexes. */
static bool create_collections(events_t *ev, chorus_error_t *err) {
  mongoc_client_t *client = db_acquire(ev->db);
  if (!client) {
    db_error_unavailable(err);
    return false;
  }
  bson_error_t berr;
  mongoc_database_t *database =
      mongoc_client_get_database(client, db_name(ev->db));
  bson_t *opts = BCON_NEW("capped", BCON_BOOL(true), "size",
                          BCON_INT64((int64_t)EVENTS_LOG_MAX * 2048), "max",
                          BCON_INT64(EVENTS_LOG_MAX));
  mongoc_collection_t *log =
      mongoc_database_create_collection(database, DB_LOG, opts, &berr);
  bool ok = log != NULL || berr.code == 48; /* NamespaceExists */
  if (log) {
    mongoc_collection_destroy(log);
  }
  if (!ok) {
    chorus_error_from_bson(err, &berr, "create event_log");
  }
  bson_destroy(opts);
  mongoc_database_destroy(database);
  db_release(ev->db, client);
  return ok && events_ensure_indexes(ev->db, err);
}

bool events_start(events_t *ev, events_enrich_fn enrich, void *enrich_ctx,
                  events_listener_fn listener, void *listener_ctx,
                  chorus_error_t *err) {
  ev->enrich = enrich;
  ev->enrich_ctx = enrich_ctx;
  ev->listener = listener;
  ev->listener_ctx = listener_ctx;
  if (!create_collections(ev, err)) {
    return false;
  }
  int64_t head;
  if (!find_head(ev, &head, err)) {
    return false;
  }
  atomic_store(&ev->head, head);
  atomic_store(&ev->hint, head);
  if (pthread_create(&ev->poller, NULL, events_poller_main, ev) != 0 ||
      pthread_create(&ev->pump, NULL, events_pump_main, ev) != 0) {
    chorus_error_set(err, 500, "thread", "cannot start the event threads");
    return false;
  }
  ev->running = true;
  return true;
}

void events_destroy(events_t *ev) {
  if (!ev) {
    return;
  }
  if (ev->running) {
    atomic_store(&ev->stopping, true);
    events_wake_all(ev);
    pthread_join(ev->poller, NULL);
    pthread_join(ev->pump, NULL);
  }
  pthread_mutex_destroy(&ev->claim_lock);
  pthread_mutex_destroy(&ev->done_lock);
  pthread_mutex_destroy(&ev->own_lock);
  for (size_t i = 0; i < EVENTS_OWN_SLOTS; i++) {
    if (ev->own[i].doc) {
      bson_destroy(ev->own[i].doc);
    }
  }
  bson_free(ev->done);
  batcher_destroy(&ev->claims);
  bson_free(ev);
}
