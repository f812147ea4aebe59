/*
 * events.c - see events.h.
 */
#include "sync/events/events.h"

#include <limits.h>
#include <linux/futex.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "sync/base/bsonx.h"
#include "sync/query.h"

#define DB_OUTBOX "outbox"
#define DB_BELLS "event_bells"
#define DB_LOG "event_log"
/* Idle (nobody waiting, no event for a while): the poller sleeps between
 * polls, POLL_IDLE_MS for the first POLL_IDLE_FAST_FOR_NS after the last
 * event, POLL_IDLE_SLOW_MS after that.  Idle polls were a fixed 5 ms
 * until session 7: two idle servers' 400 probes/s kept FerretDB at 22 %
 * of a core, a third of its operations during the creation benchmark.
 * The longer sleep delays only events of other servers (readers cut the
 * sleep short, and so does this process's own publishing: poller_kick). */
#define POLL_IDLE_MS 5
#define POLL_IDLE_SLOW_MS 20
#define POLL_IDLE_FAST_FOR_NS 200000000LL
/* Busy (readers waiting): polls begin at most this often.  Back to back,
 * two loaded servers' polls kept FerretDB at ~60 % of a core in the read
 * benchmarks; spacing them adds at most this to a read's wait. */
#define POLL_BUSY_SPACING_NS 1000000LL
/* Relaxed readers (events_sync with stale_ms > 0) skip the wait while the
 * last completed poll began at most stale_ms ago; while they are about
 * (one came within RELAXED_READERS_FOR_NS), idle polls begin every
 * stale_ms / 2 so that this normally holds.  With the 20 ms idle sleep
 * against a 20 ms bound, a third of the reads found the last poll too old
 * and waited for one (the read benchmark's p99). */
#define RELAXED_READERS_FOR_NS 1000000000LL
#define POLL_FAILED_MS 100
#define GAP_CHECK_EVERY_NS 500000000LL /* of idleness */
#define PUMP_EVERY_MS 500
/* Old bells are deleted every this many pump rounds (5 s): the delete's
 * filter ({at: {$lt}}) makes FerretDB decode every bell, and at every
 * round that was two servers x 2/s scans of ~15 s of bells. */
#define BELL_PRUNE_EVERY 10

struct events {
  db_t *db;
  sync_t *sync;
  events_enrich_fn enrich;
  void *enrich_ctx;
  events_listener_fn listener;
  void *listener_ctx;
  atomic_ullong sync_at_once, sync_waited, sync_failed; /* events_sync */
  atomic_llong relaxed_read_ns; /* when a relaxed reader last came (about) */
  atomic_int relaxed_ms;        /* its stale_ms */
  atomic_llong head; /* last delivered */
  atomic_llong hint; /* highest number known to exist */
  /* Held while this process claims a number (claim_number): its
   * publishers take numbers one at a time, each from the last one taken
   * here, instead of all trying the same next number at once.  Without
   * it, 16 concurrent creations made ~14 bell inserts each (every failed
   * one a write on the database), which on FerretDB's single SQLite
   * writer slowed every other write (docs/PERFORMANCE.md, session 6). */
  pthread_mutex_t claim_lock;
  pthread_t poller, pump;
  bool running;
  atomic_bool stopping;
  /* The read barrier (events_sync): numbers of polls begun and done
   * (32-bit, compared with wrap-around), how many readers wait, and a
   * counter readers bump to cut the poller's idle sleep short.  Readers
   * and the poller meet on futexes, not a mutex: under load every poll
   * releases dozens of readers at once, and with a condition variable
   * they then queued on its mutex one by one (17 % of the server's CPU in
   * lock waits, measured with perf during the feed benchmark). */
  atomic_uint polls_begun, polls_done, kick;
  /* Poller thread only: when the current run of empty polls began (0
   * while events come), and kick when the poll under way began. */
  int64_t idle_since_ns;
  unsigned kick_at_begin;
  atomic_uint last_failed; /* the last poll a probe of which failed */
  /* When (monotonic ns) the last completed poll began, for events_sync's
   * stale_ms; begin_ns is the poll under way (poller thread only). */
  atomic_llong done_begin_ns;
  int64_t begin_ns;
  atomic_int waiters;
};

static void sleep_ms(int ms) {
  struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
}

events_t *events_new(db_t *db, sync_t *sync, chorus_error_t *err) {
  (void)err;
  events_t *ev = bson_malloc0(sizeof *ev);
  ev->db = db;
  ev->sync = sync;
  pthread_mutex_init(&ev->claim_lock, NULL);
  return ev;
}

/* hint = max(hint, seq). */
static void raise_hint(events_t *ev, int64_t seq) {
  long long hint = atomic_load(&ev->hint);
  while (seq > hint && !atomic_compare_exchange_weak(&ev->hint, &hint, seq)) {
  }
}

/* ---- writing ---- */

void events_add(txn_t *txn, size_t n, const char *const *types,
                const bson_t *const *skeletons, const bson_t *const *audiences,
                bson_oid_t *outbox_id) {
  bson_oid_init(outbox_id, NULL);
  bson_t doc = BSON_INITIALIZER, list;
  BSON_APPEND_OID(&doc, "_id", outbox_id);
  BSON_APPEND_ARRAY_BEGIN(&doc, "events", &list);
  for (size_t i = 0; i < n && i < EVENTS_PER_TXN; i++) {
    char buf[16];
    const char *key;
    bson_uint32_to_string((uint32_t)i, &key, buf, sizeof buf);
    bson_t e;
    BSON_APPEND_DOCUMENT_BEGIN(&list, key, &e);
    BSON_APPEND_UTF8(&e, "type", types[i]);
    BSON_APPEND_DOCUMENT(&e, "data", skeletons[i]);
    BSON_APPEND_DOCUMENT(&e, "audience", audiences[i]);
    bson_append_document_end(&list, &e);
  }
  bson_append_array_end(&doc, &list);
  BSON_APPEND_DATE_TIME(&doc, "created_at", db_now_ms());
  BSON_APPEND_INT64(&doc, "version", 1);
  txn_add_insert(txn, TXN_MAIN_SHARD, DB_OUTBOX, &doc);
  bson_destroy(&doc);
}

void event_batch_init(event_batch_t *b) { memset(b, 0, sizeof *b); }

bson_t *event_batch_add(event_batch_t *b, const char *type,
                        bson_t **audience) {
  if (b->n == EVENTS_PER_TXN) {
    *audience = NULL;
    return NULL;
  }
  size_t i = b->n++;
  b->types[i] = type;
  bson_init(&b->skeletons[i]);
  bson_init(&b->audiences[i]);
  *audience = &b->audiences[i];
  return &b->skeletons[i];
}

void event_batch_cleanup(event_batch_t *b) {
  for (size_t i = 0; i < b->n; i++) {
    bson_destroy(&b->skeletons[i]);
    bson_destroy(&b->audiences[i]);
  }
  b->n = 0;
}

void event_batch_commit(event_batch_t *b, txn_t *txn) {
  if (b->n > 0) {
    const bson_t *sk[EVENTS_PER_TXN], *au[EVENTS_PER_TXN];
    for (size_t i = 0; i < b->n; i++) {
      sk[i] = &b->skeletons[i];
      au[i] = &b->audiences[i];
    }
    bson_oid_t id;
    events_add(txn, b->n, b->types, sk, au, &id);
  }
  event_batch_cleanup(b);
}

bool events_is_outbox(const txn_op_t *op, bson_oid_t *outbox_id) {
  if (op->kind != TXN_INSERT || op->shard != TXN_MAIN_SHARD ||
      strcmp(op->coll, DB_OUTBOX) != 0 || op->id.value_type != BSON_TYPE_OID) {
    return false;
  }
  bson_oid_copy(&op->id.value.v_oid, outbox_id);
  return true;
}

/* The first document of coll matching filter (which this consumes), or
 * NULL, into *doc (the caller's); false when the database could not say.
 * (By _id, FerretDB v1 reads every document of the collection: it pushes
 * down only string and ObjectId _ids.  Bells and the log are read this
 * way only on rare paths; the poller's probe is the exception, and bells
 * hold only the last EVENTS_BELL_KEEP_MS of events.) */
static bool find_doc(mongoc_collection_t *coll, bson_t *filter,
                     bson_t **doc) {
  bson_t *opts = BCON_NEW("limit", BCON_INT64(1));
  mongoc_cursor_t *cursor =
      mongoc_collection_find_with_opts(coll, filter, opts, NULL);
  const bson_t *got;
  *doc = mongoc_cursor_next(cursor, &got) ? bson_copy(got) : NULL;
  bson_error_t berr;
  bool ok = !mongoc_cursor_error(cursor, &berr);
  if (!ok && *doc) {
    bson_destroy(*doc);
    *doc = NULL;
  }
  mongoc_cursor_destroy(cursor);
  bson_destroy(opts);
  bson_destroy(filter);
  return ok;
}

/* A bell's _id: its number as a 19-digit decimal string.  Every poll is
 * a find of one bell by _id, and FerretDB v1 answers a find by a string
 * _id from an index (scripts/ferretdb-id-index.sh) but reads and decodes
 * every bell for an Int64 one: under load that was most of its CPU
 * (docs/PERFORMANCE.md, session 6).  Zero-padded, string order is number
 * order ($gt and sorts on bells).  The log keeps Int64 numbers. */
#define BELL_ID_DIGITS 19
#define BELL_ID_LEN 24 /* room for a sign, never written: seq >= 0 */
static void bell_id(int64_t seq, char out[BELL_ID_LEN]) {
  snprintf(out, BELL_ID_LEN, "%019lld", (long long)(seq < 0 ? 0 : seq));
}

/* The number at it: a bell id (above), or a number (the log, and bells
 * written before bell ids were strings); 0 when it is neither. */
static int64_t iter_seq(const bson_iter_t *it) {
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

static int64_t doc_seq(const bson_t *doc) {
  bson_iter_t it;
  return bson_iter_init_find(&it, doc, "_id") ? iter_seq(&it) : 0;
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

/* Whether the bell numbered seq exists (*exists; the bell itself into
 * *doc when doc is not NULL): one index search on a string _id. */
static bool bell_at(mongoc_collection_t *bells, int64_t seq, bool *exists,
                    bson_t **doc) {
  char id[BELL_ID_LEN];
  bell_id(seq, id);
  bson_t *found = NULL;
  bool ok = find_doc(bells, BCON_NEW("_id", BCON_UTF8(id)), &found);
  *exists = ok && found;
  if (doc) {
    *doc = found;
  } else if (found) {
    bson_destroy(found);
  }
  return ok;
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
    if (!bell_at(bells, lo + step, &exists, NULL)) {
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
    if (!bell_at(bells, mid, &exists, NULL)) {
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
 * in turn with a refused write: a server whose view of the head lagged
 * the other's climbed one write at a time, each waiting on FerretDB's
 * single writer, and its other publishers queued behind it, so under 64
 * concurrent creations one server answered 24 in 20 s and the other 453
 * (docs/PERFORMANCE.md, session 6)), or by ours, or the refusal was for
 * our key under another number (then read by key: a scan of the bells on
 * FerretDB, only in that rare case). */
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
    bell_id(*seq, id);
    bson_t doc = BSON_INITIALIZER;
    BSON_APPEND_UTF8(&doc, "_id", id);
    bson_concat(&doc, body);
    BSON_APPEND_DATE_TIME(&doc, "at", at);
    bson_error_t berr;
    if (mongoc_collection_insert_one(bells, &doc, NULL, NULL, &berr)) {
      *bell = bson_copy(&doc);
      *inserted = true;
      bson_destroy(&doc);
      return;
    }
    bson_destroy(&doc);
    if (!chorus_bson_error_is_duplicate(&berr)) {
      return;
    }
    bson_t *taken;
    bool exists;
    if (!bell_at(bells, *seq, &exists, &taken)) {
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
      fprintf(stderr, "chorusd: events: %s: number %lld refused as taken "
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
  BSON_APPEND_INT64(&entry, "_id", doc_seq(bell));
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
  if (!find_doc(log, BCON_NEW("_id", BCON_INT64(doc_seq(bell))), &logged) ||
      !logged) {
    return LOG_FAILED; /* cannot tell (or evicted meanwhile): retried */
  }
  bool ours = doc_has_key(logged, key);
  bson_destroy(logged);
  return ours ? LOG_COPIED : LOG_REUSED;
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
  bson_t data = BSON_INITIALIZER, model = BSON_INITIALIZER;
  events_enrich_t what =
      ev->enrich(ev->enrich_ctx, type, skeleton, &data, &model);
  *keep = what == EVENTS_ENRICHED;
  append_body(body, key, type, &data, &model, audience);
  bson_destroy(&data);
  bson_destroy(&model);
  *client = db_acquire(ev->db);
  return *client && what != EVENTS_RETRY;
}

/* Cuts the poller's idle sleep short (or keeps it from beginning). */
static void poller_kick(events_t *ev);

/* Publishes one event under key; idempotent.  A retry (!first) first
 * looks for a bell of key, to publish what an earlier attempt claimed.
 * The first attempt, right after the commit, does not: nobody else has
 * published it yet, except a pump that took it for abandoned, and then
 * the claim meets that bell through the unique key (claim_number).  That
 * lookup reads every bell on FerretDB (by key), and made a third of its
 * CPU under 8 concurrent creations (docs/PERFORMANCE.md, session 6). */
static bool publish_one(events_t *ev, const char *key, const char *type,
                        const bson_t *skeleton, const bson_t *audience,
                        bool first) {
  mongoc_client_t *client = db_acquire(ev->db);
  if (!client) {
    return false; /* the database is down: the pump retries */
  }
  bson_t *bell = NULL;
  bool ok = true;
  if (!first) {
    mongoc_collection_t *bells = db_collection(ev->db, client, DB_BELLS);
    ok = find_doc(bells, BCON_NEW("key", BCON_UTF8(key)), &bell);
    mongoc_collection_destroy(bells);
  }
  bson_t body = BSON_INITIALIZER;
  bool keep = true, published = false, fresh = false;
  if (ok) {
    ok = event_body(ev, &client, bell, key, type, skeleton, audience, &body,
                    &keep);
  }
  if (!client) {
    bson_destroy(&body);
    if (bell) {
      bson_destroy(bell);
    }
    return false;
  }
  mongoc_collection_t *bells = db_collection(ev->db, client, DB_BELLS);
  mongoc_collection_t *log = db_collection(ev->db, client, DB_LOG);
  int64_t floor = 0; /* numbers up to this one are known to be used */
  for (int round = 0; ok && keep && round < 3; round++) {
    if (!bell) {
      pthread_mutex_lock(&ev->claim_lock);
      int64_t head = atomic_load(&ev->head), hint = atomic_load(&ev->hint);
      int64_t from = hint > head ? hint : head;
      from = (floor > from ? floor : from) + 1;
      int64_t seq = from;
      claim_number(ev, bells, key, &body, &seq, &bell, &fresh);
      if (bell && fresh) {
        raise_hint(ev, seq); /* the next claim here starts after it */
      }
      pthread_mutex_unlock(&ev->claim_lock);
      if (seq - from > 256) {
        fprintf(stderr, "chorusd: events: %s: climbed from %lld to %lld "
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
    floor = doc_seq(bell);
    fprintf(stderr, "chorusd: events: %s: number %lld was used before (its "
                    "bell pruned); publishing it under a later one\n",
            key, (long long)floor);
    char id[BELL_ID_LEN];
    bell_id(floor, id);
    bson_t *mine = BCON_NEW("_id", BCON_UTF8(id), "key", BCON_UTF8(key));
    bson_error_t berr;
    ok = mongoc_collection_delete_one(bells, mine, NULL, NULL, &berr);
    bson_destroy(mine);
    bson_destroy(bell);
    bell = NULL;
  }
  if (published) {
    raise_hint(ev, doc_seq(bell));
    poller_kick(ev); /* this server's clients get it without waiting */
  }
  if (bell) {
    bson_destroy(bell);
  }
  bson_destroy(&body);
  mongoc_collection_destroy(log);
  mongoc_collection_destroy(bells);
  db_release(ev->db, client);
  return ok && (published || !keep);
}

/* Publishes every event of an outbox document, then deletes it; false
 * when some event could not be published (the outbox stays).  first: the
 * committing server's first attempt (publish_one). */
static bool publish_outbox(events_t *ev, const bson_t *outbox, bool first) {
  bson_iter_t it, list, e;
  char hex[25];
  if (!bson_iter_init_find(&it, outbox, "_id") || !BSON_ITER_HOLDS_OID(&it)) {
    return true; /* not an outbox: nothing to publish */
  }
  bson_oid_t id;
  bson_oid_copy(bson_iter_oid(&it), &id);
  bson_oid_to_string(&id, hex);
  bool ok = true;
  if (bson_iter_init_find(&it, outbox, "events") &&
      BSON_ITER_HOLDS_ARRAY(&it) && bson_iter_recurse(&it, &list)) {
    for (int i = 0; ok && bson_iter_next(&list); i++) {
      if (!bson_iter_recurse(&list, &e)) {
        continue;
      }
      const char *type = "";
      bson_t skeleton = BSON_INITIALIZER, audience = BSON_INITIALIZER;
      while (bson_iter_next(&e)) {
        const char *k = bson_iter_key(&e);
        uint32_t len;
        const uint8_t *data;
        if (!strcmp(k, "type") && BSON_ITER_HOLDS_UTF8(&e)) {
          type = bson_iter_utf8(&e, NULL);
        } else if ((!strcmp(k, "data") || !strcmp(k, "audience")) &&
                   BSON_ITER_HOLDS_DOCUMENT(&e)) {
          bson_iter_document(&e, &len, &data);
          bson_t sub;
          if (bson_init_static(&sub, data, len)) {
            bson_concat(!strcmp(k, "data") ? &skeleton : &audience, &sub);
          }
        }
      }
      char key[40];
      snprintf(key, sizeof key, "%s:%d", hex, i);
      ok = publish_one(ev, key, type, &skeleton, &audience, first);
      bson_destroy(&skeleton);
      bson_destroy(&audience);
    }
  }
  mongoc_client_t *client = ok ? db_acquire(ev->db) : NULL;
  if (client) {
    mongoc_collection_t *coll = db_collection(ev->db, client, DB_OUTBOX);
    bson_t *filter = BCON_NEW("_id", BCON_OID(&id));
    bson_error_t berr;
    mongoc_collection_delete_one(coll, filter, NULL, NULL, &berr);
    bson_destroy(filter);
    mongoc_collection_destroy(coll);
    db_release(ev->db, client);
  }
  return ok;
}

void events_flush(events_t *ev, const bson_oid_t *outbox_id,
                  const bson_t *committed) {
  if (!ev->running) {
    return; /* not started: the pump of a running server publishes it */
  }
  /* The coordinator's first attempt needs no read: the committed outbox
   * is the document it inserted (a commit only takes the lock off). */
  if (committed && publish_outbox(ev, committed, true)) {
    return;
  }
  bson_value_t id = {.value_type = BSON_TYPE_OID};
  bson_oid_copy(outbox_id, &id.value.v_oid);
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
    sleep_ms(backoff_ms[i]);
    bson_t *doc;
    bool found;
    chorus_error_t err;
    if (!query_by_id(ev->db, ev->sync, DB_OUTBOX, &id, &doc, &found, &err)) {
      why = "cannot read the outbox";
      continue;
    }
    if (!found) {
      /* Published and deleted by a pump (only for outboxes older than
       * EVENTS_PUMP_AGE_MS), or not visible yet: look again. */
      why = "outbox not found";
      continue;
    }
    bool ok = publish_outbox(ev, doc, i == 0 && !committed);
    bson_destroy(doc);
    if (ok) {
      return;
    }
    why = "publishing failed";
  }
  char hex[25];
  bson_oid_to_string(outbox_id, hex);
  fprintf(stderr, "chorusd: events: outbox %s not published (%s); the pump "
                  "will\n", hex, why);
}

/* ---- reading ---- */

static bool event_from_bson(const bson_t *doc, event_t *e) {
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
      e->seq = iter_seq(&it);
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

static void event_cleanup(event_t *e) {
  bson_destroy(&e->data);
  bson_destroy(&e->audience);
  bson_destroy(&e->model);
}

void events_free(event_t *events, size_t n) {
  for (size_t i = 0; i < n; i++) {
    event_cleanup(&events[i]);
  }
  bson_free(events);
}

/* Finds one document of coll by filter/sort; copies it. */
static bool find_first(events_t *ev, const char *coll_name,
                       const bson_t *filter, const bson_t *sort,
                       bson_t **out) {
  *out = NULL;
  mongoc_client_t *client = db_acquire(ev->db);
  if (!client) {
    return false;
  }
  mongoc_collection_t *coll = db_collection(ev->db, client, coll_name);
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
  mongoc_cursor_destroy(cursor);
  bson_destroy(&opts);
  mongoc_collection_destroy(coll);
  db_release(ev->db, client);
  return ok;
}

static bool deliver_doc(events_t *ev, const bson_t *doc) {
  event_t e;
  bool ok = event_from_bson(doc, &e);
  if (ok) {
    ev->listener(ev->listener_ctx, &e);
    atomic_store(&ev->head, e.seq);
  }
  event_cleanup(&e);
  return ok;
}

/* futex(2) on a 32-bit counter: sleep while it still holds `seen` (at
 * most timeout, NULL: no limit), or wake everyone sleeping on it. */
static void futex_wait_on(atomic_uint *word, unsigned seen,
                          const struct timespec *timeout) {
  syscall(SYS_futex, (unsigned *)word, FUTEX_WAIT_PRIVATE, seen, timeout,
          NULL, 0);
}

static void futex_wake_all(atomic_uint *word) {
  syscall(SYS_futex, (unsigned *)word, FUTEX_WAKE_PRIVATE, INT_MAX, NULL,
          NULL, 0);
}

/* Marks the start of a poll (a run of probes ending at a missing
 * number); returns its number for poll_end. */
static int64_t monotonic_ns(void);

static void poller_kick(events_t *ev) {
  atomic_fetch_add(&ev->kick, 1);
  futex_wake_all(&ev->kick);
}

static unsigned poll_begin(events_t *ev) {
  ev->begin_ns = monotonic_ns();
  ev->kick_at_begin = atomic_load(&ev->kick);
  return atomic_fetch_add(&ev->polls_begun, 1) + 1;
}

/* A poll completed (or failed: the database did not answer a probe):
 * wake the waiters, then, after a completed one, sleep (POLL_IDLE_MS or
 * POLL_IDLE_SLOW_MS) unless someone waits for the next one.  (A reader that arrives after
 * the waiters check bumps kick, so the sleep does not begin or ends.) */
static void poll_end(events_t *ev, unsigned n, bool failed) {
  if (failed) {
    atomic_store(&ev->last_failed, n);
  } else {
    atomic_store(&ev->done_begin_ns, ev->begin_ns);
  }
  atomic_store(&ev->polls_done, n);
  if (atomic_load(&ev->waiters) > 0) {
    futex_wake_all(&ev->polls_done);
  }
  /* A kick since the poll began (a bell this poll may have missed) ends
   * the sleep at once: the futex no longer holds kick_at_begin. */
  unsigned kick = ev->kick_at_begin;
  if (!failed && atomic_load(&ev->waiters) == 0 &&
      !atomic_load(&ev->stopping)) {
    bool slow = ev->idle_since_ns &&
                ev->begin_ns - ev->idle_since_ns >= POLL_IDLE_FAST_FOR_NS;
    long sleep_ns = (slow ? POLL_IDLE_SLOW_MS : POLL_IDLE_MS) * 1000000L;
    int relaxed_ms = atomic_load(&ev->relaxed_ms);
    if (relaxed_ms > 0 && relaxed_ms * 500000L < sleep_ns &&
        ev->begin_ns - atomic_load(&ev->relaxed_read_ns) <
            RELAXED_READERS_FOR_NS) {
      sleep_ns = relaxed_ms * 500000L; /* stale_ms / 2 */
    }
    struct timespec idle = {0, sleep_ns};
    futex_wait_on(&ev->kick, kick, &idle);
  } else if (!failed) {
    int64_t left = POLL_BUSY_SPACING_NS - (monotonic_ns() - ev->begin_ns);
    if (left > 0) {
      struct timespec wait = {0, (long)left};
      nanosleep(&wait, NULL);
    }
  }
}

static int64_t monotonic_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

bool events_sync(events_t *ev, int timeout_ms, int stale_ms,
                 int64_t after_seq) {
  if (!ev->running) {
    return false;
  }
  int64_t now = monotonic_ns();
  if (stale_ms > 0) {
    /* Noted at most once a millisecond: one cache line for every reader. */
    if (now - atomic_load_explicit(&ev->relaxed_read_ns,
                                   memory_order_relaxed) > 1000000LL) {
      atomic_store(&ev->relaxed_ms, stale_ms);
      atomic_store(&ev->relaxed_read_ns, now);
    }
    /* A poll that began at most stale_ms ago completed, and everything
     * this process published itself, or the client knows of, has been
     * delivered. */
    int64_t begun = atomic_load(&ev->done_begin_ns);
    int64_t head = atomic_load(&ev->head);
    if (begun > 0 && now - begun <= (int64_t)stale_ms * 1000000LL &&
        head >= atomic_load(&ev->hint) && head >= after_seq) {
      atomic_fetch_add_explicit(&ev->sync_at_once, 1, memory_order_relaxed);
      return true;
    }
  }
  int64_t deadline = now + (int64_t)timeout_ms * 1000000LL;
  atomic_fetch_add(&ev->waiters, 1);
  /* A poll already under way may have probed before this call began. */
  unsigned target = atomic_load(&ev->polls_begun) + 1;
  poller_kick(ev);
  bool ok = false;
  for (;;) {
    unsigned done = atomic_load(&ev->polls_done);
    if ((int)(done - target) >= 0) {
      /* Failed if the poll that released us (or one after) failed: the
       * reader then goes to the database, which is down or failing. */
      unsigned failed = atomic_load(&ev->last_failed);
      ok = failed == 0 || (int)(failed - target) < 0;
      break;
    }
    int64_t left = deadline - monotonic_ns();
    if (left <= 0 || atomic_load(&ev->stopping)) {
      break;
    }
    struct timespec wait = {(time_t)(left / 1000000000LL),
                            (long)(left % 1000000000LL)};
    futex_wait_on(&ev->polls_done, done, &wait);
  }
  atomic_fetch_sub(&ev->waiters, 1);
  atomic_fetch_add_explicit(ok ? &ev->sync_waited : &ev->sync_failed, 1,
                            memory_order_relaxed);
  return ok;
}

void events_get_sync_stats(events_t *ev, events_sync_stats_t *out) {
  out->at_once = atomic_load(&ev->sync_at_once);
  out->waited = atomic_load(&ev->sync_waited);
  out->failed = atomic_load(&ev->sync_failed);
}

/* Delivers, in order, the logged events numbered [from, to); *lost
 * counts the numbers in between that the log does not have (head moves
 * past them).  False when the database failed (head stays at the last
 * number passed). */
static bool deliver_logged_range(events_t *ev, int64_t from, int64_t to,
                                 int64_t *lost) {
  mongoc_client_t *client = db_acquire(ev->db);
  if (!client) {
    return false;
  }
  mongoc_collection_t *coll = db_collection(ev->db, client, DB_LOG);
  bson_t *filter = BCON_NEW("_id", "{", "$gte", BCON_INT64(from), "$lt",
                            BCON_INT64(to), "}");
  bson_t *opts = BCON_NEW("sort", "{", "_id", BCON_INT32(1), "}");
  mongoc_cursor_t *cursor =
      mongoc_collection_find_with_opts(coll, filter, opts, NULL);
  const bson_t *doc;
  int64_t expect = from;
  while (mongoc_cursor_next(cursor, &doc)) {
    bson_iter_t it;
    int64_t seq = bson_iter_init_find(&it, doc, "_id") ? iter_seq(&it) : 0;
    if (seq < expect) {
      continue;
    }
    *lost += seq - expect;
    deliver_doc(ev, doc); /* head = seq */
    expect = seq + 1;
  }
  bson_error_t berr;
  bool ok = !mongoc_cursor_error(cursor, &berr);
  if (ok) {
    *lost += to - expect;
  }
  mongoc_cursor_destroy(cursor);
  bson_destroy(opts);
  bson_destroy(filter);
  mongoc_collection_destroy(coll);
  db_release(ev->db, client);
  return ok;
}

static void *poller_main(void *arg) {
  events_t *ev = arg;
  int64_t next_gap_check_ns = 0;
  unsigned poll = poll_begin(ev);
  while (!atomic_load(&ev->stopping)) {
    int64_t next = atomic_load(&ev->head) + 1;
    char id[BELL_ID_LEN];
    bell_id(next, id);
    bson_t *filter = BCON_NEW("_id", BCON_UTF8(id));
    bson_t *doc = NULL;
    bool ok = find_first(ev, DB_BELLS, filter, NULL, &doc);
    bson_destroy(filter);
    if (ok && doc) {
      deliver_doc(ev, doc);
      bson_destroy(doc);
      ev->idle_since_ns = 0;
      continue;
    }
    if (!ok) {
      /* The database is down (refused at once, db.h) or failing: readers
       * waiting are told at once; do not spin: delivery resumes within
       * POLL_FAILED_MS of it coming back. */
      poll_end(ev, poll, true);
      sleep_ms(POLL_FAILED_MS);
      poll = poll_begin(ev);
      continue;
    }
    if (!ev->idle_since_ns) {
      ev->idle_since_ns = ev->begin_ns;
      next_gap_check_ns = ev->begin_ns + GAP_CHECK_EVERY_NS;
    }
    if (ev->begin_ns >= next_gap_check_ns) {
      next_gap_check_ns = ev->begin_ns + GAP_CHECK_EVERY_NS;
      /* A later number exists but `next` is not among the bells (it was
       * collected while this server was behind): take it from the log. */
      bson_t *later = BCON_NEW("_id", "{", "$gt", BCON_UTF8(id), "}");
      bson_t *sort = BCON_NEW("_id", BCON_INT32(1));
      bson_t *first = NULL;
      if (find_first(ev, DB_BELLS, later, sort, &first) && first &&
          doc_seq(first) > next) {
        /* Every number from next to the first later bell: delivered from
         * the log where it is there, skipped where it is not, in one
         * pass (one by one, a run of missing numbers stalled delivery
         * for minutes: one number per gap check). */
        int64_t upto = doc_seq(first);
        int64_t lost = 0;
        if (deliver_logged_range(ev, next, upto, &lost)) {
          atomic_store(&ev->head, upto - 1); /* the rest are lost */
        }
        if (lost) {
          fprintf(stderr, "chorusd: events %lld..%lld: %lld lost, skipped\n",
                  (long long)next, (long long)upto - 1, (long long)lost);
        }
      }
      if (first) {
        bson_destroy(first);
      }
      bson_destroy(sort);
      bson_destroy(later);
      continue;
    }
    poll_end(ev, poll, false);
    poll = poll_begin(ev);
  }
  return NULL;
}

static void *pump_main(void *arg) {
  events_t *ev = arg;
  unsigned round = 0;
  while (!atomic_load(&ev->stopping)) {
    for (int i = 0; i < PUMP_EVERY_MS / 50 && !atomic_load(&ev->stopping);
         i++) {
      sleep_ms(50);
    }
    int64_t now = db_now_ms();
    /* Outbox documents whose coordinator did not publish them. */
    bson_t *stale = BCON_NEW("created_at", "{", "$lt",
                             BCON_DATE_TIME(now - EVENTS_PUMP_AGE_MS), "}");
    bson_t *sort = BCON_NEW("created_at", BCON_INT32(1));
    query_result_t r;
    chorus_error_t err;
    if (query_visible(ev->db, ev->sync, DB_OUTBOX, stale, sort, 64, &r,
                      &err)) {
      for (size_t i = 0; i < r.n; i++) {
        publish_outbox(ev, r.docs[i], false);
      }
      query_result_free(&r);
    }
    bson_destroy(sort);
    bson_destroy(stale);
    /* Bells older than they are needed. */
    if (++round % BELL_PRUNE_EVERY != 0) {
      continue;
    }
    mongoc_client_t *client = db_acquire(ev->db);
    if (!client) {
      continue; /* the database is down */
    }
    mongoc_collection_t *bells = db_collection(ev->db, client, DB_BELLS);
    bson_t *old = BCON_NEW("at", "{", "$lt",
                           BCON_DATE_TIME(now - EVENTS_BELL_KEEP_MS), "}");
    bson_error_t berr;
    mongoc_collection_delete_many(bells, old, NULL, NULL, &berr);
    bson_destroy(old);
    mongoc_collection_destroy(bells);
    db_release(ev->db, client);
  }
  return NULL;
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
  bool ok = find_first(ev, coll, &empty, sort, &doc);
  if (ok && doc && bson_iter_init_find(&it, doc, "_id")) {
    *seq = iter_seq(&it);
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
    sleep_ms(POLL_FAILED_MS);
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
  if (pthread_create(&ev->poller, NULL, poller_main, ev) != 0 ||
      pthread_create(&ev->pump, NULL, pump_main, ev) != 0) {
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
    futex_wake_all(&ev->kick);
    futex_wake_all(&ev->polls_done);
    pthread_join(ev->poller, NULL);
    pthread_join(ev->pump, NULL);
  }
  pthread_mutex_destroy(&ev->claim_lock);
  bson_free(ev);
}

int64_t events_head(events_t *ev) { return atomic_load(&ev->head); }

int64_t events_published(events_t *ev) {
  int64_t hint = atomic_load(&ev->hint), head = atomic_load(&ev->head);
  return hint > head ? hint : head;
}

static int event_seq_cmp(const void *a, const void *b) {
  int64_t x = ((const event_t *)a)->seq, y = ((const event_t *)b)->seq;
  return (x > y) - (x < y);
}

/* The numbers in (since, upto] that events (n of them, ascending) lack
 * are read from the bells, and merged in: an event the pollers delivered
 * before its publisher wrote its log copy (the copy waits on the database,
 * or the publisher died before it and the pump writes it seconds later).
 * A client resuming in that window saw nothing of it live (it was not
 * connected yet) and would not find it in the log.  At most RESUME_FILL
 * numbers are looked up (each an index search); a number in neither the
 * log nor the bells was lost and is skipped, as the pollers do.  Keeps at
 * most max events. */
#define RESUME_FILL 32
static void fill_from_bells(events_t *ev, int64_t since, int64_t upto,
                            size_t max, event_t **events, size_t *n) {
  if (*n == max && *n > 0 && (*events)[*n - 1].seq < upto) {
    upto = (*events)[*n - 1].seq; /* truncated: only gaps below its end */
  }
  int64_t missing[RESUME_FILL];
  size_t n_missing = 0, i = 0;
  for (int64_t seq = since + 1; seq <= upto && n_missing < RESUME_FILL;
       seq++) {
    while (i < *n && (*events)[i].seq < seq) {
      i++;
    }
    if (i >= *n || (*events)[i].seq != seq) {
      missing[n_missing++] = seq;
    }
  }
  if (n_missing == 0) {
    return;
  }
  *events = bson_realloc(*events, sizeof **events * (*n + n_missing + 1));
  size_t found = 0;
  for (size_t k = 0; k < n_missing; k++) {
    char id[BELL_ID_LEN];
    bell_id(missing[k], id);
    bson_t *filter = BCON_NEW("_id", BCON_UTF8(id));
    bson_t *bell = NULL;
    if (find_first(ev, DB_BELLS, filter, NULL, &bell) && bell) {
      event_t *e = &(*events)[*n + found];
      if (event_from_bson(bell, e)) {
        found++;
      } else {
        event_cleanup(e);
      }
    }
    if (bell) {
      bson_destroy(bell);
    }
    bson_destroy(filter);
  }
  if (found == 0) {
    return;
  }
  *n += found;
  qsort(*events, *n, sizeof **events, event_seq_cmp);
  while (*n > max) {
    event_cleanup(&(*events)[--*n]);
  }
}

bool events_read_since(events_t *ev, int64_t since, size_t max,
                       event_t **events, size_t *n, bool *gone,
                       chorus_error_t *err) {
  *events = NULL;
  *n = 0;
  *gone = false;
  /* Every event delivered before the caller's client was registered is
   * numbered up to this, or one more: the poller stores the head after
   * its listener has run (fill_from_bells; the hub drops what it has
   * already sent, so one number too many is harmless, one too few not). */
  int64_t delivered = atomic_load(&ev->head) + 1;
  /* The oldest kept event must be at most since + 1. */
  bson_t empty = BSON_INITIALIZER;
  bson_t *asc = BCON_NEW("_id", BCON_INT32(1));
  bson_t *oldest = NULL;
  if (!find_first(ev, DB_LOG, &empty, asc, &oldest)) {
    bson_destroy(asc);
    chorus_error_set(err, 503, "db_unavailable",
                     "The database is unavailable; try again shortly");
    return false;
  }
  bson_iter_t it;
  int64_t first = 0;
  if (oldest && bson_iter_init_find(&it, oldest, "_id")) {
    first = bsonx_as_int64(&it);
  }
  if (oldest) {
    bson_destroy(oldest);
  }
  int64_t head = atomic_load(&ev->head);
  if ((first > since + 1) || (first == 0 && since < head)) {
    *gone = true;
    bson_destroy(asc);
    return true;
  }
  mongoc_client_t *client = db_acquire(ev->db);
  if (!client) {
    bson_destroy(asc);
    db_error_unavailable(err);
    return false;
  }
  bson_t *filter = BCON_NEW("_id", "{", "$gt", BCON_INT64(since), "}");
  mongoc_collection_t *coll = db_collection(ev->db, client, DB_LOG);
  bson_t opts = BSON_INITIALIZER;
  BSON_APPEND_DOCUMENT(&opts, "sort", asc);
  BSON_APPEND_INT64(&opts, "limit", (int64_t)max);
  mongoc_cursor_t *cursor =
      mongoc_collection_find_with_opts(coll, filter, &opts, NULL);
  const bson_t *doc;
  *events = bson_malloc0(sizeof **events * (max + 1));
  while (*n < max && mongoc_cursor_next(cursor, &doc)) {
    if (event_from_bson(doc, &(*events)[*n])) {
      (*n)++;
    } else {
      event_cleanup(&(*events)[*n]);
    }
  }
  bson_error_t berr;
  bool ok = !mongoc_cursor_error(cursor, &berr);
  if (!ok) {
    chorus_error_from_bson(err, &berr, "read event log");
  }
  mongoc_cursor_destroy(cursor);
  bson_destroy(&opts);
  mongoc_collection_destroy(coll);
  db_release(ev->db, client);
  bson_destroy(filter);
  bson_destroy(asc);
  if (ok) {
    fill_from_bells(ev, since, delivered, max, events, n);
  }
  return ok;
}
