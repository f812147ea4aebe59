/*
 * events_publish.c - publishing: numbering an event (its bell), copying
 * it to the log, publishing a committed outbox (events_flush) and the
 * pump that publishes what a coordinator left (and prunes old bells); see
 * events.h, "Ordering".
 */
#include "sync/events/events_internal.h"

#include <assert.h>
#include <stdio.h>
#include <string.h>

#include "sync/base/bsonx.h"
#include "sync/txn/view.h"

#define PUMP_EVERY_MS 500
/* The pump wakes this often to delete the published outboxes queued
 * (ev->done), and looks for outboxes to publish every PUMP_EVERY_MS.
 * Each delete is one SQLite transaction on FerretDB, after a read of the
 * whole outbox: every 250 ms, at 120 creations a second, about thirty go
 * in one (every 50 ms, six: five times the commands at the write gate
 * for the same documents). */
#define PUMP_TICK_MS 250
/* Published outboxes in one delete command. */
#define DONE_DELETE_MAX 128
/* Old bells are deleted once per slot of this length, by one server: the
 * delete's filter ({at: {$lt}}) makes FerretDB decode every bell (~15 s
 * of them), at every pump round that would be two servers x 2/s such
 * scans, and with each server pruning every 5 s on its own two of them
 * (during 45 s of 40 likes a second the likes' p99 was ~100-250 ms
 * higher with the prune than without). */
#define BELL_PRUNE_MS 5000

/* hint = max(hint, seq). */
static void raise_hint(events_t *ev, int64_t seq) {
  long long hint = atomic_load(&ev->hint);
  while (seq > hint && !atomic_compare_exchange_weak(&ev->hint, &hint, seq)) {
  }
}

/* events_find_one with no sort, consuming filter.  (By _id, FerretDB v1
 * reads every document of the collection: it pushes down only string and
 * ObjectId _ids.  The log is read this way only on rare paths, and bells
 * hold only the last EVENTS_BELL_KEEP_MS of events.) */
static bool find_doc(mongoc_collection_t *coll, bson_t *filter, bson_t **doc) {
  bool ok = events_find_one(coll, filter, NULL, doc);
  bson_destroy(filter);
  return ok;
}

static bool doc_has_key(const bson_t *doc, const char *key) {
  bson_iter_t it;
  return bson_iter_init_find(&it, doc, "key") && BSON_ITER_HOLDS_UTF8(&it) &&
         strcmp(bson_iter_utf8(&it, NULL), key) == 0;
}

/* An event's body: everything of a bell but its number and time. */
static void append_body(bson_t *body, const char *key, const char *type,
                        const bson_t *data, const bson_t *model,
                        const bson_t *audience) {
  BSON_APPEND_UTF8(body, "key", key);
  BSON_APPEND_UTF8(body, "type", type);
  BSON_APPEND_DOCUMENT(body, "data", data);
  BSON_APPEND_DOCUMENT(body, "model", model);
  BSON_APPEND_DOCUMENT(body, "audience", audience);
}

/* The first number above taken (a bell that exists) with no bell yet, by
 * reads only: doubling steps, then halving.  Bells are claimed in order,
 * so above a recent one they have no holes (but for the rare bell taken
 * back after a LOG_REUSED: then this stops at the hole, and the claim
 * there is refused by the log and moves on).  *free = taken + 1 when the
 * database failed. */
static void bell_frontier(mongoc_collection_t *bells, int64_t taken,
                          int64_t *free) {
  int64_t lo = taken, step = 1, hi;
  bool exists = true;
  *free = taken + 1;
  for (;;) {
    if (!events_bell_at(bells, lo + step, &exists, NULL)) {
      return;
    }
    if (!exists) {
      break;
    }
    lo += step;
    if (step < ((int64_t)1 << 20)) {
      step *= 2;
    }
  }
  hi = lo + step; /* lo exists, hi does not */
  while (hi - lo > 1) {
    int64_t mid = lo + (hi - lo) / 2;
    if (!events_bell_at(bells, mid, &exists, NULL)) {
      break;
    }
    if (exists) {
      lo = mid;
    } else {
      hi = mid;
    }
  }
  *free = lo + 1;
}

/* Claims the first free number from *seq on for the event body (whose
 * key is key): inserts its bell.  On return *bell is the bell now holding
 * key (inserted here: *inserted, or by another publisher of the same key
 * meanwhile), or NULL when the database failed or could not say (the
 * outbox stays; the pump tries again).
 *
 * A refused insert is read back by number first (an index search): the
 * number was taken by another event (then the claim jumps to the first
 * free number above it, found with reads, instead of trying each number
 * in turn with a refused write: that way a server whose view of the head
 * lags the other's climbs one write at a time, each waiting on FerretDB's
 * single writer, with its other publishers queued behind it, and under 64
 * concurrent creations one server answered 24 in 20 s and the other 453,
 * docs/PERFORMANCE.md), or by ours, or the refusal was for our key under
 * another number (then read by key: a scan of the bells on FerretDB, only
 * in that rare case). */
static void claim_number(events_t *ev, mongoc_collection_t *bells,
                         const char *key, const bson_t *body, int64_t *seq,
                         bson_t **bell, bool *inserted) {
  *bell = NULL;
  *inserted = false;
  int64_t at = db_now_ms(); /* a bell lives EVENTS_BELL_KEEP_MS from now */
  for (int tries = 0; tries < 10000; tries++) {
    if (!db_is_up(ev->db)) {
      return; /* went down since the client was borrowed (db.h) */
    }
    char id[BELL_ID_LEN];
    events_bell_id(*seq, id);
    bson_t doc = BSON_INITIALIZER;
    BSON_APPEND_UTF8(&doc, "_id", id);
    bson_concat(&doc, body);
    BSON_APPEND_DATE_TIME(&doc, "at", at);
    bson_error_t berr;
    if (mongoc_collection_insert_one(bells, &doc, NULL, NULL, &berr)) {
      *bell = bson_copy(&doc);
      *inserted = true;
      events_own_put(ev, &doc);
      bson_destroy(&doc);
      return;
    }
    bson_destroy(&doc);
    if (!chorus_bson_error_is_duplicate(&berr)) {
      return;
    }
    bson_t *taken;
    bool exists;
    if (!events_bell_at(bells, *seq, &exists, &taken)) {
      return;
    }
    if (exists && doc_has_key(taken, key)) {
      *bell = taken; /* ours, published by someone else under this number */
      return;
    }
    if (exists) {
      bson_destroy(taken);
      bell_frontier(bells, *seq, seq);
      continue;
    }
    /* Not the number: our key, under another one.  (If the key is not
     * found either, the number's bell was pruned meanwhile; do not move
     * past a number nobody may ever publish: left for the pump.) */
    if (find_doc(bells, BCON_NEW("key", BCON_UTF8(key)), bell) && !*bell) {
      fprintf(stderr,
              "chorusd: events: %s: number %lld refused as taken "
              "but not found, nor the key; left for the pump\n",
              key, (long long)*seq);
    }
    return;
  }
}

typedef enum { LOG_COPIED, LOG_REUSED, LOG_FAILED } log_copy_t;

/* Copies bell (key's) to the log under its number.  LOG_REUSED: the log
 * holds another event under that number, which was therefore used before
 * (its bell pruned while this publisher's view of the head was older than
 * EVENTS_BELL_KEEP_MS); the bell must then be taken back and a later
 * number claimed, or the event would be lost.  Only a bell just claimed
 * is checked (fresh): reading the log by number scans it on FerretDB, and
 * a bell found by key was checked by the publisher that claimed it (unless
 * it died in between, on a reused number: accepted as too rare to pay a
 * scan of the log on every retry). */
static log_copy_t copy_to_log(mongoc_collection_t *log, const bson_t *bell,
                              const char *key, bool fresh) {
  bson_t entry = BSON_INITIALIZER; /* the bell, numbered by an Int64 */
  BSON_APPEND_INT64(&entry, "_id", events_doc_seq(bell));
  bson_copy_to_excluding_noinit(bell, &entry, "_id", NULL);
  bson_error_t berr;
  bool inserted = mongoc_collection_insert_one(log, &entry, NULL, NULL, &berr);
  bson_destroy(&entry);
  if (inserted) {
    return LOG_COPIED;
  }
  if (!chorus_bson_error_is_duplicate(&berr)) {
    return LOG_FAILED;
  }
  if (!fresh) {
    return LOG_COPIED;
  }
  bson_t *logged;
  int64_t seq = events_doc_seq(bell);
  if (!find_doc(log, BCON_NEW("_id", BCON_INT64(seq)), &logged) || !logged) {
    return LOG_FAILED; /* cannot tell (or evicted meanwhile): retried */
  }
  bool ours = doc_has_key(logged, key);
  bson_destroy(logged);
  return ours ? LOG_COPIED : LOG_REUSED;
}

/* A first claim waiting for its batch (publish_first). */
typedef struct claim_req {
  batch_item_t item; /* first: a batch's items are claim_req_t */
  const char *key;
  const bson_t *body;
  bson_t *bell; /* out: our bell, inserted by the batch (the caller's) */
  bool logged;  /* out: and copied to the log */
} claim_req_t;

#define CLAIM_BATCH_MAX BATCHER_MAX

/* How many runs of numbers one batch may try: the first from the
 * process's next number, each later one from the first free number above
 * the one another server took meanwhile. */
#define CLAIM_ROUNDS 4

/* One ordered insert of bells for reqs[0..m), numbered from `from` (the
 * first refused stops it: the bells inserted are a run of consecutive
 * numbers from the first, so no gap is made).  Returns how many were
 * inserted: their bells into docs[], the others destroyed.  Called with
 * claim_lock held. */
static size_t insert_run(events_t *ev, mongoc_collection_t *bells,
                         claim_req_t **reqs, size_t m, int64_t from, int64_t at,
                         bson_t **docs) {
  for (size_t i = 0; i < m; i++) {
    char id[BELL_ID_LEN];
    events_bell_id(from + (int64_t)i, id);
    docs[i] = bson_new();
    BSON_APPEND_UTF8(docs[i], "_id", id);
    bson_concat(docs[i], reqs[i]->body);
    BSON_APPEND_DATE_TIME(docs[i], "at", at);
  }
  bson_t reply;
  bson_error_t berr;
  size_t inserted = 0;
  bson_t *opts = BCON_NEW("ordered", BCON_BOOL(true));
  bool all = false;
  if (db_is_up(ev->db)) {
    all = mongoc_collection_insert_many(bells, (const bson_t **)docs, m, opts,
                                        &reply, &berr);
  } else {
    bson_init(&reply); /* the database is known down: nothing inserted */
  }
  bson_destroy(opts);
  bson_iter_t it;
  if (bson_iter_init_find(&it, &reply, "insertedCount")) {
    inserted = (size_t)bson_iter_as_int64(&it);
  }
  if (all || inserted > m) {
    inserted = all ? m : 0;
  }
  bson_destroy(&reply);
  for (size_t i = 0; i < inserted && i < m; i++) {
    events_own_put(ev, docs[i]);
  }
  if (inserted > 0) {
    raise_hint(ev, from + (int64_t)inserted - 1);
  }
  for (size_t i = inserted; i < m; i++) {
    bson_destroy(docs[i]);
    docs[i] = NULL;
  }
  return inserted;
}

/* Whether the number seq, just refused to key's bell, holds another
 * event's bell (another server took it): then the batch goes on above it.
 * False too when the database cannot say, or the refusal was for the key
 * (its event published meanwhile by the pump): the single way sorts those
 * out. */
static bool taken_by_other(mongoc_collection_t *bells, int64_t seq,
                           const char *key) {
  bson_t *taken = NULL;
  bool exists;
  bool other = events_bell_at(bells, seq, &exists, &taken) && exists &&
               !doc_has_key(taken, key);
  if (taken) {
    bson_destroy(taken);
  }
  return other;
}

/* One batch: numbers for every request in ordered inserts of bells, the
 * first from the process's next number; when another server took a
 * number in the middle, the rest go on from the first free number above
 * it (up to CLAIM_ROUNDS runs); then the log copies of every bell
 * inserted in one unordered insert.  A request whose bell was not
 * inserted, or whose copy was refused (a number used before: copy_to_log
 * tells), gets no bell, or its bell without logged: the caller goes on
 * the single way. */
static void run_claim_batch(events_t *ev, mongoc_collection_t *bells,
                            mongoc_collection_t *log, claim_req_t **reqs,
                            size_t n) {
  bson_t *docs[CLAIM_BATCH_MAX], *copies[CLAIM_BATCH_MAX];
  int64_t at = db_now_ms();
  pthread_mutex_lock(&ev->claim_lock);
  int64_t head = atomic_load(&ev->head), hint = atomic_load(&ev->hint);
  int64_t from = (hint > head ? hint : head) + 1;
  size_t inserted = 0; /* reqs[0..inserted) have bells */
  for (int round = 0; round < CLAIM_ROUNDS && inserted < n; round++) {
    size_t got = insert_run(ev, bells, reqs + inserted, n - inserted, from, at,
                            docs + inserted);
    inserted += got;
    int64_t refused = from + (int64_t)got;
    if (inserted == n || !taken_by_other(bells, refused, reqs[inserted]->key)) {
      break;
    }
    bell_frontier(bells, refused, &from);
  }
  pthread_mutex_unlock(&ev->claim_lock);
  bson_t reply;
  bson_error_t berr;
  bson_t *opts;
  bson_iter_t it;
  for (size_t i = 0; i < inserted; i++) {
    copies[i] = bson_new();
    BSON_APPEND_INT64(copies[i], "_id", events_doc_seq(docs[i]));
    bson_copy_to_excluding_noinit(docs[i], copies[i], "_id", NULL);
  }
  bool copied[CLAIM_BATCH_MAX] = {false};
  if (inserted > 0 && db_is_up(ev->db)) {
    opts = BCON_NEW("ordered", BCON_BOOL(false));
    bool ok = mongoc_collection_insert_many(log, (const bson_t **)copies,
                                            inserted, opts, &reply, &berr);
    bson_destroy(opts);
    for (size_t i = 0; i < inserted; i++) {
      copied[i] = ok;
    }
    bson_iter_t list, e;
    if (!ok && bson_iter_init_find(&it, &reply, "writeErrors") &&
        BSON_ITER_HOLDS_ARRAY(&it) && bson_iter_recurse(&it, &list) &&
        !(bson_iter_init_find(&e, &reply, "writeConcernErrors") &&
          BSON_ITER_HOLDS_ARRAY(&e) && bson_iter_recurse(&e, &e) &&
          bson_iter_next(&e))) {
      for (size_t i = 0; i < inserted; i++) {
        copied[i] = true;
      }
      while (bson_iter_next(&list)) {
        if (bson_iter_recurse(&list, &e) && bson_iter_find(&e, "index")) {
          int64_t index = bson_iter_as_int64(&e);
          if (index >= 0 && (size_t)index < inserted) {
            copied[index] = false; /* the single way checks it */
          }
        }
      }
    }
    bson_destroy(&reply);
  }
  for (size_t i = 0; i < inserted; i++) {
    reqs[i]->bell = docs[i];
    reqs[i]->logged = copied[i];
    bson_destroy(copies[i]);
  }
}

/* The leader's own collections, for the batch it runs. */
typedef struct claim_ctx {
  events_t *ev;
  mongoc_collection_t *bells, *log;
} claim_ctx_t;

static void run_claim_items(void *ctx, batch_item_t **items, size_t n) {
  claim_ctx_t *c = ctx;
  claim_req_t *reqs[CLAIM_BATCH_MAX];
  for (size_t i = 0; i < n; i++) {
    reqs[i] = (claim_req_t *)items[i]; /* item is its first member */
  }
  run_claim_batch(c->ev, c->bells, c->log, reqs, n);
}

/* The body of the event key from the enricher, appended to body (what
 * the enricher said: EVENTS_ENRICHED, or dropped, or to be retried). */
static events_enrich_t enrich_body(events_t *ev, const char *key,
                                   const char *type, const bson_t *skeleton,
                                   const bson_t *audience, bson_t *body) {
  bson_t data = BSON_INITIALIZER, model = BSON_INITIALIZER;
  events_enrich_t what =
      ev->enrich(ev->enrich_ctx, type, skeleton, &data, &model);
  append_body(body, key, type, &data, &model, audience);
  bson_destroy(&data);
  bson_destroy(&model);
  return what;
}

/* The body of the event key: from its bell if it has one (*bell), else
 * from the enricher (with the client given back meanwhile: the enricher
 * reads with its own).  False when it is to be tried again later; *keep
 * false when the enricher dropped it. */
static bool event_body(events_t *ev, mongoc_client_t **client,
                       const bson_t *bell, const char *key, const char *type,
                       const bson_t *skeleton, const bson_t *audience,
                       bson_t *body, bool *keep) {
  *keep = true;
  if (bell) {
    bson_copy_to_excluding_noinit(bell, body, "_id", "at", NULL);
    return true;
  }
  db_release(ev->db, *client);
  events_enrich_t what = enrich_body(ev, key, type, skeleton, audience, body);
  *keep = what == EVENTS_ENRICHED;
  *client = db_acquire(ev->db);
  return *client && what != EVENTS_RETRY;
}

/* Publishes the event key, whose bell's body is body, from where its
 * first claim left it: bell (the caller's, taken; NULL when it has none
 * yet: it is numbered here the single way), fresh (this attempt inserted
 * bell) and logged (bell is in the log already).  False when it is to be
 * tried again later.  client is the caller's. */
static bool publish_claimed(events_t *ev, mongoc_client_t *client,
                            const char *key, const bson_t *body, bson_t *bell,
                            bool fresh, bool logged) {
  mongoc_collection_t *bells = db_collection(ev->db, client, DB_BELLS);
  mongoc_collection_t *log = db_collection(ev->db, client, DB_LOG);
  int64_t floor = 0; /* numbers up to this one are known to be used */
  bool ok = true, published = logged;
  for (int round = 0; !logged && round < 3; round++) {
    if (!bell) {
      pthread_mutex_lock(&ev->claim_lock);
      int64_t head = atomic_load(&ev->head), hint = atomic_load(&ev->hint);
      int64_t from = hint > head ? hint : head;
      from = (floor > from ? floor : from) + 1;
      int64_t seq = from;
      claim_number(ev, bells, key, body, &seq, &bell, &fresh);
      if (bell && fresh) {
        raise_hint(ev, seq); /* the next claim here starts after it */
      }
      pthread_mutex_unlock(&ev->claim_lock);
      if (seq - from > 256) {
        fprintf(stderr,
                "chorusd: events: %s: climbed from %lld to %lld "
                "(head %lld, hint %lld)\n",
                key, (long long)from, (long long)seq, (long long)head,
                (long long)hint);
      }
      if (!bell) {
        ok = false;
        break;
      }
    }
    if (!db_is_up(ev->db)) {
      ok = false; /* the pump writes the copy later (idempotent) */
      break;
    }
    log_copy_t copied = copy_to_log(log, bell, key, fresh);
    if (copied != LOG_REUSED) {
      published = copied == LOG_COPIED;
      ok = published;
      break;
    }
    /* Take the bell back (only if it is still ours) and claim a later
     * number.  A server whose poller read the bell meanwhile sees the
     * event twice, under two numbers: payloads are states (versioned
     * tweets and accounts, like and follow pairs), which the read model
     * applies idempotently and the web client merges by id. */
    floor = events_doc_seq(bell);
    fprintf(stderr,
            "chorusd: events: %s: number %lld was used before (its "
            "bell pruned); publishing it under a later one\n",
            key, (long long)floor);
    bson_t *kept = events_own_take(ev, floor); /* not for this poller */
    if (kept) {
      bson_destroy(kept);
    }
    char id[BELL_ID_LEN];
    events_bell_id(floor, id);
    bson_t *mine = BCON_NEW("_id", BCON_UTF8(id), "key", BCON_UTF8(key));
    bson_error_t berr;
    ok = mongoc_collection_delete_one(bells, mine, NULL, NULL, &berr);
    bson_destroy(mine);
    bson_destroy(bell);
    bell = NULL;
  }
  if (published) {
    raise_hint(ev, events_doc_seq(bell));
    events_poller_kick(ev); /* this server's clients get it without waiting */
  }
  if (bell) {
    bson_destroy(bell);
  }
  mongoc_collection_destroy(log);
  mongoc_collection_destroy(bells);
  return ok && published;
}

/* Publishes one event under key, again (the pump, or a coordinator's
 * retry); idempotent.  It first looks for a bell of key, to publish what
 * an earlier attempt claimed.  (A coordinator's first attempt does not:
 * nobody else has published it yet, except a pump that took it for
 * abandoned, and then the claim meets that bell through the unique key
 * (claim_number).  That lookup reads every bell on FerretDB (by key): a
 * third of its CPU under 8 concurrent creations, docs/PERFORMANCE.md.) */
static bool publish_again(events_t *ev, const char *key, const char *type,
                          const bson_t *skeleton, const bson_t *audience) {
  mongoc_client_t *client = db_acquire(ev->db);
  if (!client) {
    return false; /* the database is down: the pump retries */
  }
  bson_t *bell = NULL;
  mongoc_collection_t *bells = db_collection(ev->db, client, DB_BELLS);
  bool ok = find_doc(bells, BCON_NEW("key", BCON_UTF8(key)), &bell);
  mongoc_collection_destroy(bells);
  bson_t body = BSON_INITIALIZER;
  bool keep = true;
  if (ok) {
    ok = event_body(ev, &client, bell, key, type, skeleton, audience, &body,
                    &keep);
  }
  if (ok && client && keep) {
    ok = publish_claimed(ev, client, key, &body, bell, false, false);
    bell = NULL; /* taken */
  }
  if (bell) {
    bson_destroy(bell);
  }
  bson_destroy(&body);
  if (!client) {
    return false;
  }
  db_release(ev->db, client);
  return ok;
}

/* Deletes what filter matches in coll (every match when many, else one)
 * on a client borrowed for it.  Best effort: when it fails (the database
 * down), a later round deletes the documents. */
static void delete_quietly(events_t *ev, const char *coll, const bson_t *filter,
                           bool many) {
  mongoc_client_t *client = db_acquire(ev->db);
  if (!client) {
    return;
  }
  mongoc_collection_t *c = db_collection(ev->db, client, coll);
  bson_error_t berr;
  if (many) {
    mongoc_collection_delete_many(c, filter, NULL, NULL, &berr);
  } else {
    mongoc_collection_delete_one(c, filter, NULL, NULL, &berr);
  }
  mongoc_collection_destroy(c);
  db_release(ev->db, client);
}

/* Deletes the published outboxes queued in ev->done, up to
 * DONE_DELETE_MAX in one command ({_id: {$in}}, db_delete_in: one SQLite
 * transaction on FerretDB, after a read of the whole outbox, which holds
 * only events not yet deleted; ungated, as every db_delete_in).  Best
 * effort: what fails is
 * published again, found published, and deleted by a pump round
 * (EVENTS_PUMP_AGE_MS on). */
static void delete_done(events_t *ev) {
  bson_oid_t ids[DONE_DELETE_MAX];
  for (;;) {
    pthread_mutex_lock(&ev->done_lock);
    size_t n = ev->n_done < DONE_DELETE_MAX ? ev->n_done : DONE_DELETE_MAX;
    ev->n_done -= n;
    memcpy(ids, ev->done + ev->n_done, sizeof *ids * n);
    pthread_mutex_unlock(&ev->done_lock);
    if (n == 0) {
      return;
    }
    mongoc_client_t *client = db_acquire(ev->db);
    if (!client) {
      return; /* the database is down: the pump publishes them again */
    }
    mongoc_collection_t *c = db_collection(ev->db, client, DB_OUTBOX);
    bson_t list = BSON_INITIALIZER;
    for (size_t i = 0; i < n; i++) {
      bsonx_array_append_oid(&list, (uint32_t)i, &ids[i]);
    }
    bson_error_t berr;
    bool ok = db_delete_in(c, "_id", &list, &berr); /* the outbox is small */
    bson_destroy(&list);
    mongoc_collection_destroy(c);
    db_release(ev->db, client);
    if (!ok) {
      return; /* left to the pump */
    }
  }
}

/* Queues outbox id (all its events published) for delete_done; when the
 * queue is full, deletes it at once. */
static void outbox_done(events_t *ev, const bson_oid_t *id) {
  pthread_mutex_lock(&ev->done_lock);
  bool queued = ev->n_done < EVENTS_DONE_MAX;
  if (queued) {
    bson_oid_copy(id, &ev->done[ev->n_done++]);
  }
  pthread_mutex_unlock(&ev->done_lock);
  if (!queued) {
    bson_t *filter = BCON_NEW("_id", BCON_OID(id));
    delete_quietly(ev, DB_OUTBOX, filter, false);
    bson_destroy(filter);
  }
}

/* One event of an outbox being published. */
typedef struct outbox_event {
  char key[40];
  const char *type; /* borrowed from the outbox */
  bson_t skeleton, audience;
  bson_t body; /* its bell's body, once enriched */
  bool keep;   /* false: the enricher dropped it */
  claim_req_t req;
} outbox_event_t;

/* The events of outbox (at most EVENTS_PER_TXN) into ev_out[], their keys
 * "<outbox id>:<i>"; how many. */
static size_t outbox_events(const bson_t *outbox, const char *hex,
                            outbox_event_t *out) {
  bson_iter_t it, list, e;
  size_t n = 0;
  if (!bson_iter_init_find(&it, outbox, "events") ||
      !BSON_ITER_HOLDS_ARRAY(&it) || !bson_iter_recurse(&it, &list)) {
    return 0;
  }
  for (int i = 0; n < EVENTS_PER_TXN && bson_iter_next(&list); i++) {
    if (!bson_iter_recurse(&list, &e)) {
      continue;
    }
    outbox_event_t *o = &out[n++];
    memset(o, 0, sizeof *o);
    snprintf(o->key, sizeof o->key, "%s:%d", hex, i);
    o->type = "";
    o->keep = true;
    bson_init(&o->skeleton);
    bson_init(&o->audience);
    bson_init(&o->body);
    while (bson_iter_next(&e)) {
      const char *k = bson_iter_key(&e);
      uint32_t len;
      const uint8_t *data;
      if (!strcmp(k, "type") && BSON_ITER_HOLDS_UTF8(&e)) {
        o->type = bson_iter_utf8(&e, NULL);
      } else if ((!strcmp(k, "data") || !strcmp(k, "audience")) &&
                 BSON_ITER_HOLDS_DOCUMENT(&e)) {
        bson_iter_document(&e, &len, &data);
        bson_t sub;
        if (bson_init_static(&sub, data, len)) {
          bson_concat(!strcmp(k, "data") ? &o->skeleton : &o->audience, &sub);
        }
      }
    }
  }
  return n;
}

/* The first claims of items[0..k) (claim_req_t), queued together
 * (batcher_submit_many): one ordered insert of bells and one insert of
 * log copies, with the other publishers' claims queued meanwhile.  False
 * when the database is down (nothing claimed: each item goes the single
 * way, or to the pump). */
static bool claim_together(events_t *ev, batch_item_t **items, size_t k) {
  if (k == 0) {
    return true;
  }
  mongoc_client_t *client = db_acquire(ev->db);
  if (!client) {
    return false;
  }
  mongoc_collection_t *bells = db_collection(ev->db, client, DB_BELLS);
  mongoc_collection_t *log = db_collection(ev->db, client, DB_LOG);
  claim_ctx_t ctx = {ev, bells, log};
  batcher_submit_many(&ev->claims, items, k, run_claim_items, &ctx);
  mongoc_collection_destroy(log);
  mongoc_collection_destroy(bells);
  db_release(ev->db, client);
  return true;
}

/* rendezvous_run_fn of a group's publishers: claim_together. */
static void claim_met(void *ctx, void *const *items, size_t n) {
  claim_together(ctx, (batch_item_t **)items, n);
}

/* A coordinator's first attempt at the events list[0..n) of its
 * committed outbox: every body enriched, then every first claim queued
 * together (claim_together; with join, not NULL, those of every
 * publisher of its group at once: rendezvous.h), then each event finished
 * the single way where its claim fell short.  Enrichment stops at the
 * first event that cannot be enriched now (false: tried again later);
 * the ones before it are published. */
static bool publish_first(events_t *ev, outbox_event_t *list, size_t n,
                          rendezvous_t *join) {
  size_t ready = 0;
  bool ok = true;
  for (; ready < n; ready++) {
    outbox_event_t *o = &list[ready];
    events_enrich_t what =
        enrich_body(ev, o->key, o->type, &o->skeleton, &o->audience, &o->body);
    o->keep = what == EVENTS_ENRICHED;
    if (what == EVENTS_RETRY) {
      ok = false;
      break;
    }
  }
  batch_item_t *items[EVENTS_PER_TXN];
  size_t k = 0;
  for (size_t i = 0; i < ready; i++) {
    if (list[i].keep) {
      list[i].req.key = list[i].key;
      list[i].req.body = &list[i].body;
      items[k++] = &list[i].req.item;
    }
  }
  if (join) {
    rendezvous_arrive(join, (void *const *)items, k, claim_met, ev);
  } else if (!claim_together(ev, items, k)) {
    return false; /* the database is down: the pump retries */
  }
  if (k == 0) {
    return ok;
  }
  mongoc_client_t *client = db_acquire(ev->db);
  if (!client) {
    return false; /* the database is down: the pump retries */
  }
  for (size_t i = 0; i < ready; i++) {
    outbox_event_t *o = &list[i];
    if (o->keep) {
      bool done = publish_claimed(ev, client, o->key, &o->body, o->req.bell,
                                  o->req.bell != NULL, o->req.logged);
      o->req.bell = NULL; /* taken */
      ok = ok && done;
    }
  }
  db_release(ev->db, client);
  return ok;
}

/* Publishes every event of an outbox document, then queues it for
 * deletion (outbox_done); false when some event could not be published
 * (the outbox stays).  first: the
 * committing server's first attempt (publish_first), else each event is
 * looked for first (publish_again). */
static bool publish_outbox(events_t *ev, const bson_t *outbox, bool first,
                           rendezvous_t **join) {
  bson_iter_t it;
  char hex[25];
  if (!bson_iter_init_find(&it, outbox, "_id") || !BSON_ITER_HOLDS_OID(&it)) {
    return true; /* not an outbox: nothing to publish */
  }
  bson_oid_t id;
  bson_oid_copy(bson_iter_oid(&it), &id);
  bson_oid_to_string(&id, hex);
  outbox_event_t *list = bson_malloc(sizeof *list * EVENTS_PER_TXN);
  size_t n = outbox_events(outbox, hex, list);
  bool ok = true;
  if (first) {
    ok = publish_first(ev, list, n, *join);
    *join = NULL; /* arrived */
  } else {
    for (size_t i = 0; ok && i < n; i++) {
      ok = publish_again(ev, list[i].key, list[i].type, &list[i].skeleton,
                         &list[i].audience);
    }
  }
  for (size_t i = 0; i < n; i++) {
    bson_destroy(&list[i].skeleton);
    bson_destroy(&list[i].audience);
    bson_destroy(&list[i].body);
    if (list[i].req.bell) {
      bson_destroy(list[i].req.bell);
    }
  }
  bson_free(list);
  if (ok) {
    outbox_done(ev, &id);
  }
  return ok;
}

/* Whether this server is the one to prune the bells in slot (of
 * BELL_PRUNE_MS): the first whose insert of the slot's claim into the
 * bells succeeds.  The claim is {_id: "-prune-<slot>", key: the same,
 * at}: its _id sorts before every number's (a bell's _id is its 19
 * digits), so no reader of numbers meets it (the poller and the claims
 * ask for numbers, the gap check for those above one, the start for the
 * highest); its key keeps the unique index on keys satisfied (MongoDB
 * counts a missing key as one null); its `at` has a later prune delete
 * it. */
static bool claim_prune(events_t *ev, int64_t slot, int64_t now) {
  char id[48];
  snprintf(id, sizeof id, "-prune-%lld", (long long)slot);
  bson_t *doc = BCON_NEW("_id", BCON_UTF8(id), "key", BCON_UTF8(id), "at",
                         BCON_DATE_TIME(now));
  bool dup;
  chorus_error_t err;
  bool mine = db_insert_one(ev->db, DB_BELLS, doc, "bell prune", &dup, &err);
  bson_destroy(doc);
  return mine;
}

/* The outbox document id in its committed view into *doc (the caller's;
 * NULL when it is not there, or its transaction did not commit). */
static bool read_outbox(events_t *ev, const bson_oid_t *id, bson_t **doc,
                        chorus_error_t *err) {
  bson_t *filter = BCON_NEW("_id", BCON_OID(id));
  view_page_t page;
  bool ok =
      view_find(ev->db, ev->store, DB_OUTBOX, filter, NULL, 1, &page, err);
  bson_destroy(filter);
  *doc = page.n == 1 ? page.docs[0] : NULL; /* taken from the page */
  bson_free(page.docs);
  return ok;
}

bool events_flush(events_t *ev, const bson_oid_t *outbox_id,
                  const bson_t *committed) {
  return events_flush_joined(ev, NULL, outbox_id, committed);
}

bool events_flush_joined(events_t *ev, rendezvous_t *join,
                         const bson_oid_t *outbox_id, const bson_t *committed) {
  /* The coordinator's first attempt needs no read: the committed outbox
   * is the document it inserted (a commit only takes the lock off). */
  bool first =
      ev->running && committed && publish_outbox(ev, committed, true, &join);
  if (join) {
    /* arrives, with nothing to claim */
    rendezvous_arrive(join, NULL, 0, claim_met, ev);
  }
  if (first) {
    return true;
  }
  if (!ev->running) {
    return false; /* not started: the pump of a running server publishes it */
  }
  /* The events should be out before the writer is answered: readers on
   * every server wait for them (events_sync), and the pump would publish
   * them only EVENTS_PUMP_AGE_MS later, after later events.  So a failed
   * attempt is retried a few times before leaving it to the pump. */
  static const int backoff_ms[] = {0, 10, 50, 200};
  const char *why = "";
  for (size_t i = 0; i < sizeof backoff_ms / sizeof *backoff_ms; i++) {
    if (i > 0 && !db_is_up(ev->db)) {
      why = "the database is down";
      break; /* do not hold the writer's answer: the pump will */
    }
    events_sleep_ms(backoff_ms[i]);
    bson_t *doc;
    chorus_error_t err;
    if (!read_outbox(ev, outbox_id, &doc, &err)) {
      why = "cannot read the outbox";
      continue;
    }
    if (!doc) {
      /* Published and deleted by a pump (only for outboxes older than
       * EVENTS_PUMP_AGE_MS), or not visible yet: look again. */
      why = "outbox not found";
      continue;
    }
    rendezvous_t *none = NULL;
    bool ok = publish_outbox(ev, doc, i == 0 && !committed, &none);
    bson_destroy(doc);
    if (ok) {
      return true;
    }
    why = "publishing failed";
  }
  char hex[25];
  bson_oid_to_string(outbox_id, hex);
  fprintf(stderr,
          "chorusd: events: outbox %s not published (%s); the pump "
          "will\n",
          hex, why);
  return false;
}

/* Whether this process published the outbox doc and has it queued for
 * deletion (delete_done takes it at the next tick).  The pump leaves
 * such an outbox alone: publishing it again would look each event's bell
 * up by key, a read of every bell on FerretDB (0.8-2.5 s of its CPU with
 * two servers creating 150 tweets a second), and under that load the
 * deletes lag seconds behind the answers, the pump's own rounds among
 * what holds them up (docs/PERFORMANCE.md, "(d)'s stalls"). */
static bool queued_for_deletion(events_t *ev, const bson_t *doc) {
  bson_iter_t it;
  if (!bson_iter_init_find(&it, doc, "_id") || !BSON_ITER_HOLDS_OID(&it)) {
    return false;
  }
  const bson_oid_t *id = bson_iter_oid(&it);
  bool queued = false;
  pthread_mutex_lock(&ev->done_lock);
  for (size_t i = 0; i < ev->n_done && !queued; i++) {
    queued = bson_oid_equal(&ev->done[i], id);
  }
  pthread_mutex_unlock(&ev->done_lock);
  return queued;
}

void *events_pump_main(void *arg) {
  events_t *ev = arg;
  int64_t pruned_slot = db_now_ms() / BELL_PRUNE_MS; /* the first in 5 s */
  while (!atomic_load(&ev->stopping)) {
    for (int i = 0;
         i < PUMP_EVERY_MS / PUMP_TICK_MS && !atomic_load(&ev->stopping); i++) {
      events_sleep_ms(PUMP_TICK_MS);
      delete_done(ev);
    }
    int64_t now = db_now_ms();
    /* Outbox documents whose coordinator did not publish them. */
    bson_t *stale = BCON_NEW("created_at", "{", "$lt",
                             BCON_DATE_TIME(now - EVENTS_PUMP_AGE_MS), "}");
    bson_t *sort = BCON_NEW("created_at", BCON_INT32(1));
    view_page_t page;
    chorus_error_t err;
    /* Only of finished transactions: an unfinished one's coordinator, or
     * recovery, publishes it once its fresh inserts are in (a tweet
     * published before it exists would be dropped by its enrichment). */
    if (view_find_finished(ev->db, ev->store, DB_OUTBOX, stale, sort, 64, &page,
                           &err)) {
      /* Each event of an outbox published again looks its bell up by
       * key, which reads every bell on FerretDB: after a burst whose
       * outboxes' deletes waited behind its writes, a page takes
       * seconds, and a stop does not wait for the rest of it (another
       * server's pump, or this one's next start, publishes them). */
      for (size_t i = 0; i < page.n && !atomic_load(&ev->stopping); i++) {
        rendezvous_t *none = NULL;
        if (!queued_for_deletion(ev, page.docs[i])) {
          publish_outbox(ev, page.docs[i], false, &none);
        }
      }
      view_page_free(&page);
    }
    bson_destroy(sort);
    bson_destroy(stale);
    /* Bells older than they are needed, once a slot. */
    int64_t slot = now / BELL_PRUNE_MS;
    if (slot == pruned_slot) {
      continue;
    }
    pruned_slot = slot;
    write_priority_t was = db_write_priority(WRITE_PRIORITY_UNGATED);
    if (claim_prune(ev, slot, now)) {
      bson_t *old = BCON_NEW("at", "{", "$lt",
                             BCON_DATE_TIME(now - EVENTS_BELL_KEEP_MS), "}");
      delete_quietly(ev, DB_BELLS, old, true);
      bson_destroy(old);
    }
    db_write_priority(was);
  }
  delete_done(ev); /* what the last ticks left */
  return NULL;
}