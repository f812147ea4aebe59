/*
 * store_mongo.c - see store_mongo.h.
 *
 * The only atomic primitives used are the ones every MongoDB-wire database
 * gets right under concurrency, FerretDB on SQLite included: inserting a
 * document with a unique _id (exactly one of several concurrent inserts
 * wins) and deleting one by _id.  Measured on FerretDB 1.24: a conditional
 * update or findAndModify is NOT a compare-and-set there (several
 * concurrent writers all "match"), so no correctness argument rests on one:
 *   - a participant is locked by inserting locks/{where} (updates and
 *     deletes) or by being inserted itself (inserts);
 *   - the decision is the insert of txn_decisions/{txn id};
 *   - a takeover is the insert of txn_claims/{txn id}#{lease}.
 * Writes to a locked participant are made only by its lock holder's
 * transaction, and stage absolute values computed under the lock, so that
 * applying the same transaction twice writes the same document.
 */
#include "sync/txn/store_mongo.h"

#include <assert.h>
#include <errno.h>
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "sync/base/bsonx.h"
#include "sync/txn/decisions.h"
#include "sync/txn/escrow.h"
#include "sync/txn/lock_field.h"

#define DB_LOCKS "locks"
/* txn_open/{txn id} {deadline, at}: one per unfinished transaction (see
 * mongo_claim).  A marker without its record is dropped once older than
 * OPEN_ORPHAN_MS: longer than the driver's 10 s socket timeout, so the
 * record's insert by begin has landed or failed by then. */
#define DB_OPEN "txn_open"
#define OPEN_ORPHAN_MS 30000

typedef struct target {
  db_t *db;
  mongoc_client_t *client;
  mongoc_collection_t *coll;
} target_t;

/* False (503 in err) when the participant's deployment is down: nothing
 * was sent, as if the network had failed before the request left. */
static bool target_open(shards_t *shards, int shard, const char *coll,
                        target_t *t, chorus_error_t *err) {
  t->db = shards_db(shards, shard);
  t->client = db_acquire(t->db);
  if (!t->client) {
    t->coll = NULL;
    db_error_unavailable(err);
    return false;
  }
  t->coll = db_collection(t->db, t->client, coll);
  return true;
}

static void target_close(target_t *t) {
  mongoc_collection_destroy(t->coll);
  db_release(t->db, t->client);
}

/* Before every command after the first on a borrowed client: a
 * deployment marked down since the client was borrowed refuses it at
 * once.  Without this a step's second command waits the full server
 * selection timeout (the driver knows of no primary either), and a
 * request in flight when the database died paid that once per command. */
static bool target_live(const target_t *t, chorus_error_t *err) {
  return db_check_up(t->db, err);
}

/* ---- the decision log's segments ----
 *
 * A transaction's record, decision and claims live in the collections of
 * the minute of its id (its ObjectId's seconds / LOG_SEGMENT_S): txns_<S>,
 * txn_decisions_<S>, txn_claims_<S>.  The collector drops a minute's
 * three collections once every record of it is finished and was so
 * LOG_KEEP (the caller's older_than_ms) ago: one command per collection a
 * minute, where deleting each transaction's record, decision and claims
 * by _id cost FerretDB three commands and two synced SQLite transactions
 * per transaction (docs/SYNC.md §7).
 *
 * Invariant: no record of minute S is written after LOG_LATE_MS past the
 * end of S.  begin refuses an id older than LOG_BEGIN_MAX_AGE_MS, and its
 * insert lands or fails within the driver's 10 s socket timeout; every
 * later write of a record (finish, claim) finds it first.  So once that
 * time has passed the records of S are all there, and a minute none of
 * whose records is open stays so. */
#define LOG_SEGMENT_S 60
#define LOG_BEGIN_MAX_AGE_MS 10000
#define LOG_LATE_MS (LOG_BEGIN_MAX_AGE_MS + 20000)

static const char *const log_bases[] = {
    [STORE_MONGO_RECORDS] = "txns",
    [STORE_MONGO_DECISIONS] = "txn_decisions",
    [STORE_MONGO_CLAIMS] = "txn_claims",
};

/* The minute of a transaction id; 0 for one that is not an ObjectId's
 * hex (none of ours). */
static uint32_t log_segment(const char *txn_id) {
  if (!bson_oid_is_valid(txn_id, strlen(txn_id))) {
    return 0;
  }
  bson_oid_t oid;
  bson_oid_init_from_string(&oid, txn_id);
  return (uint32_t)((uint64_t)bson_oid_get_time_t(&oid) / LOG_SEGMENT_S);
}

/* The first instant (ms) after minute S. */
static int64_t log_segment_end_ms(uint32_t seg) {
  return ((int64_t)seg + 1) * LOG_SEGMENT_S * 1000;
}

static void log_coll_of(store_mongo_log_t which, uint32_t seg,
                        char out[STORE_MONGO_LOG_COLL_LEN]) {
  assert(which <= STORE_MONGO_CLAIMS);
  snprintf(out, STORE_MONGO_LOG_COLL_LEN, "%s_%u", log_bases[which],
           (unsigned)seg);
}

void store_mongo_log_coll(store_mongo_log_t which, const char *txn_id,
                          char out[STORE_MONGO_LOG_COLL_LEN]) {
  log_coll_of(which, log_segment(txn_id), out);
}

/* target_open on the collection of the log holding txn_id's `which`. */
static bool log_open(shards_t *shards, store_mongo_log_t which,
                     const char *txn_id, target_t *t, chorus_error_t *err) {
  char coll[STORE_MONGO_LOG_COLL_LEN];
  store_mongo_log_coll(which, txn_id, coll);
  return target_open(shards, TXN_MAIN_SHARD, coll, t, err);
}

/* Whether txn_id is young enough to begin (the segments' invariant);
 * else false, 500 in err: a coordinator makes its id just before its
 * begin, so only a process stalled for seconds meets this. */
static bool log_id_young(const char *txn_id, chorus_error_t *err) {
  bson_oid_t oid;
  int64_t born_ms = 0;
  if (bson_oid_is_valid(txn_id, strlen(txn_id))) {
    bson_oid_init_from_string(&oid, txn_id);
    born_ms = (int64_t)bson_oid_get_time_t(&oid) * 1000;
  }
  if (db_now_ms() - born_ms > LOG_BEGIN_MAX_AGE_MS) {
    chorus_error_set(err, 500, "internal", "2pc begin: transaction id too old");
    return false;
  }
  return true;
}

static void append_id(bson_t *doc, const bson_value_t *id) {
  bson_append_value(doc, "_id", 3, id);
}

static bool is_duplicate(const bson_error_t *berr) {
  return chorus_bson_error_is_duplicate(berr);
}

/* Inserts doc; *dup says the _id was taken (then the call succeeds). */
static bool insert_once(const target_t *t, const bson_t *doc, bool *dup,
                        const char *what, chorus_error_t *err) {
  bson_error_t berr;
  *dup = false;
  if (!target_live(t, err)) {
    return false;
  }
  if (mongoc_collection_insert_one(t->coll, doc, NULL, NULL, &berr)) {
    return true;
  }
  if (is_duplicate(&berr)) {
    *dup = true;
    return true;
  }
  chorus_error_from_bson(err, &berr, what);
  return false;
}

/* Whether a cursor ended without an error (else err says what failed). */
static bool cursor_ok(mongoc_cursor_t *cursor, const char *what,
                      chorus_error_t *err) {
  bson_error_t berr;
  if (!mongoc_cursor_error(cursor, &berr)) {
    return true;
  }
  chorus_error_from_bson(err, &berr, what);
  return false;
}

/* Reads one document by _id into *doc (caller destroys), *found. */
static bool read_by_id(const target_t *t, const bson_value_t *id, bson_t **doc,
                       bool *found, chorus_error_t *err) {
  *doc = NULL;
  *found = false;
  if (!target_live(t, err)) {
    return false;
  }
  bson_t filter = BSON_INITIALIZER;
  append_id(&filter, id);
  /* limit 1: FerretDB then stops its scan at the document. */
  bson_t *opts = BCON_NEW("limit", BCON_INT64(1));
  mongoc_cursor_t *cursor =
      mongoc_collection_find_with_opts(t->coll, &filter, opts, NULL);
  bson_destroy(opts);
  const bson_t *d;
  *found = mongoc_cursor_next(cursor, &d);
  *doc = *found ? bson_copy(d) : NULL;
  bool ok = cursor_ok(cursor, "2pc read", err);
  if (!ok) {
    if (*doc) {
      bson_destroy(*doc);
      *doc = NULL;
    }
    *found = false;
  }
  mongoc_cursor_destroy(cursor);
  bson_destroy(&filter);
  return ok;
}

static bool read_by_string_id(const target_t *t, const char *id, bson_t **doc,
                              bool *found, chorus_error_t *err) {
  bson_value_t v = {.value_type = BSON_TYPE_UTF8};
  v.value.v_utf8.str = (char *)id;
  v.value.v_utf8.len = (uint32_t)strlen(id);
  return read_by_id(t, &v, doc, found, err);
}

static bool run_update(const target_t *t, const bson_t *filter,
                       const bson_t *update, chorus_error_t *err) {
  if (!target_live(t, err)) {
    return false;
  }
  bson_error_t berr;
  bool ok =
      mongoc_collection_update_one(t->coll, filter, update, NULL, NULL, &berr);
  if (!ok) {
    chorus_error_from_bson(err, &berr, "2pc write");
  }
  return ok;
}

static bool run_delete(const target_t *t, const bson_t *filter,
                       chorus_error_t *err) {
  if (!target_live(t, err)) {
    return false;
  }
  bson_error_t berr;
  bool ok = mongoc_collection_delete_one(t->coll, filter, NULL, NULL, &berr);
  if (!ok) {
    chorus_error_from_bson(err, &berr, "2pc delete");
  }
  return ok;
}

/* ---- the store's own state ---- */

/* The writes of escrow entries this process makes are combined per
 * document: requests (stage, fold or drop an entry) queue on the stripe of
 * the document's lock key, and one thread at a time (the leader) takes the
 * latch in the database once for every queued request of one document,
 * makes one read and one write for all of them, and lets go.  So one
 * thread per document contends for a latch in the database, and a hot
 * document takes as many entries per write as requests came meanwhile. */
#define LATCH_STRIPES 64
/* How long an op with no wait_until_ms (recovery, resolve_lock, the
 * collector) waits for a latch or an undecided shared holder. */
#define OWN_WAIT_MS 1000
/* Between looks at a latch held by another: doubling, with jitter. */
#define LATCH_SLEEP_MIN_US 500
#define LATCH_SLEEP_MAX_US 8000
/* Between looks at an undecided shared holder (an exclusive prepare
 * waiting for it). */
#define UNDECIDED_SLEEP_US 3000
/* At most this many entries are folded by one exclusive prepare; with
 * more, it waits as for an undecided one (they are folded as they go). */
#define TXN_MAX_ENTRIES_SEEN 256

/* What a latched write does to a transaction's entry. */
typedef enum { ENTRY_STAGE, ENTRY_FOLD, ENTRY_DROP } entry_step_t;

/* One request for a latched write: in a stripe's queue until a leader
 * takes it into a batch, then answered (done, under the stripe's mutex). */
typedef struct entry_req {
  char key[200]; /* the document's lock key */
  const char *txn_id;
  const txn_op_t *op;
  entry_step_t step;
  int64_t until; /* the requester waits until then */
  txn_vote_t vote;
  char lock_owner[TXN_ID_LEN + 1];
  chorus_error_t err;
  bool done;
  struct entry_req *next;
} entry_req_t;

typedef struct stripe {
  pthread_mutex_t mu;
  pthread_cond_t cv; /* a batch ended */
  bool busy;         /* a leader runs a batch */
  entry_req_t *head; /* waiting, oldest first */
} stripe_t;

/* At most this many collections take deferred increments. */
#define DEFERRED_COLLS_MAX 4

typedef struct store_mongo {
  shards_t *shards;
  decisions_t *decisions;
  /* main-database collections whose increments are deferred
   * (store_mongo_defer; "deferred increments" below) */
  char deferred[DEFERRED_COLLS_MAX][TXN_COLL_MAX];
  size_t n_deferred;
  stripe_t stripes[LATCH_STRIPES];
  /* the key of where_of's hashes, random per process */
  unsigned char where_key[crypto_shorthash_KEYBYTES];
} store_mongo_t;

/* The document a lock key names, as decisions_folded wants it: a keyed
 * 64-bit hash (SipHash), so that two keys collide with probability
 * 2^-64 whatever they look like. */
static uint64_t where_of(const store_mongo_t *sm, const char *key) {
  unsigned char h[crypto_shorthash_BYTES];
  crypto_shorthash(h, (const unsigned char *)key, strlen(key), sm->where_key);
  uint64_t v;
  memcpy(&v, h, sizeof v);
  return v;
}

/* The ids of doc's entries whose transaction fate says committed: those
 * escrow_rewrite folds.  Into *ids (the caller's to bson_free; NULL when
 * none); returns how many. */
static size_t committed_entries(const bson_t *doc, escrow_fate_fn fate,
                                void *ctx, char (**ids)[TXN_ID_LEN + 1]) {
  *ids = NULL;
  size_t n = 0, cap = escrow_count(doc);
  char id[TXN_ID_LEN + 1];
  for (size_t e = 0; e < cap && escrow_entry_id(doc, e, id); e++) {
    if (fate(ctx, id) == ESCROW_COMMITTED) {
      if (!*ids) {
        *ids = bson_malloc(sizeof **ids * cap);
      }
      memcpy((*ids)[n++], id, sizeof id);
    }
  }
  return n;
}

/* A write of the document `key` names folded the entries of ids[0..n)
 * (committed_entries of what it read): their applies need not read it
 * again (decisions_folded; fold_many). */
static void mark_folded(store_mongo_t *sm, const char *key,
                        char (*ids)[TXN_ID_LEN + 1], size_t n) {
  uint64_t where = n ? where_of(sm, key) : 0;
  for (size_t i = 0; i < n; i++) {
    decisions_folded(sm->decisions, ids[i], where);
  }
}

static bool read_decision(shards_t *shards, const char *txn_id,
                          txn_state_t *state, bool *decided,
                          chorus_error_t *err);

/* Whether increments of coll in shard are deferred (store_mongo_defer). */
static bool coll_deferred(const store_mongo_t *sm, int shard,
                          const char *coll) {
  for (size_t i = 0; shard == TXN_MAIN_SHARD && i < sm->n_deferred; i++) {
    if (!strcmp(sm->deferred[i], coll)) {
      return true;
    }
  }
  return false;
}

/* Whether op is kept apart as a deferred increment
 * (txn_add_deferred_increment, on a collection store_mongo_defer names;
 * elsewhere it is staged as any increment). */
static bool op_deferred(const store_mongo_t *sm, const txn_op_t *op) {
  return op->deferred && op->shared && op->inc &&
         coll_deferred(sm, op->shard, op->coll);
}

static void fold_deferred(store_mongo_t *sm, txn_item_t *items, size_t n);

static void sleep_us(int64_t us) {
  struct timespec ts = {(time_t)(us / 1000000), (long)(us % 1000000) * 1000L};
  nanosleep(&ts, NULL);
}

/* Sleeps before another look at a latch another holds: about *pause
 * microseconds (half to one and a half, so that two waiters drift apart),
 * then doubles *pause up to LATCH_SLEEP_MAX_US. */
static void latch_pause(int64_t *pause) {
  sleep_us(*pause / 2 + (int64_t)randombytes_uniform((uint32_t)*pause));
  *pause = *pause * 2 < LATCH_SLEEP_MAX_US ? *pause * 2 : LATCH_SLEEP_MAX_US;
}

/* Until when an op may wait (db_now_ms clock). */
static int64_t wait_limit(const txn_op_t *op) {
  return op->wait_until_ms ? op->wait_until_ms : db_now_ms() + OWN_WAIT_MS;
}

/* "<shard>|<coll>|<typed id>": the _id of a participant's lock. */
static void lock_key(const txn_op_t *op, char *out, size_t size) {
  char id[80];
  switch (op->id.value_type) {
  case BSON_TYPE_OID:
    id[0] = 'o';
    id[1] = ':';
    bson_oid_to_string(&op->id.value.v_oid, id + 2);
    break;
  case BSON_TYPE_UTF8:
    snprintf(id, sizeof id, "s:%.*s", (int)op->id.value.v_utf8.len,
             op->id.value.v_utf8.str);
    break;
  case BSON_TYPE_INT32:
    snprintf(id, sizeof id, "n:%d", op->id.value.v_int32);
    break;
  case BSON_TYPE_INT64:
    snprintf(id, sizeof id, "n:%lld", (long long)op->id.value.v_int64);
    break;
  default:
    snprintf(id, sizeof id, "x:%d", (int)op->id.value_type);
    break;
  }
  snprintf(out, size, "%d|%s|%s", op->shard, op->coll, id);
}

static stripe_t *stripe_of(store_mongo_t *sm, const char *key) {
  uint32_t h = 2166136261u;
  for (const char *p = key; *p; p++) {
    h = (h ^ (uint8_t)*p) * 16777619u;
  }
  return &sm->stripes[h % LATCH_STRIPES];
}

/* Deletes our lock document of op (nothing if another holds it). */
static bool release_lock(shards_t *shards, const char *txn_id,
                         const txn_op_t *op, chorus_error_t *err) {
  char key[200];
  lock_key(op, key, sizeof key);
  target_t t;
  if (!target_open(shards, TXN_MAIN_SHARD, DB_LOCKS, &t, err)) {
    return false;
  }
  bson_t *filter = BCON_NEW("_id", BCON_UTF8(key), "txn", BCON_UTF8(txn_id));
  bool ok = run_delete(&t, filter, err);
  bson_destroy(filter);
  target_close(&t);
  return ok;
}

/* Takes the lock document of op for txn_id: the exclusive lock, or (latch)
 * a latch, held for one write of the document's escrow entries.  Waits
 * for another's latch until until_ms, never for another's exclusive lock.
 * *holder is "" when we hold it now (or already did), else the
 * transaction that does ("?" when it kept going away), and *latch whether
 * that is a latch. */
static bool take_lock(shards_t *shards, const char *txn_id, const txn_op_t *op,
                      bool latch, int64_t until_ms, char holder[TXN_ID_LEN + 1],
                      bool *holder_latch, chorus_error_t *err) {
  char key[200];
  lock_key(op, key, sizeof key);
  target_t t;
  holder[0] = '\0';
  *holder_latch = false;
  if (!target_open(shards, TXN_MAIN_SHARD, DB_LOCKS, &t, err)) {
    return false;
  }
  bson_t *doc = BCON_NEW("_id", BCON_UTF8(key), "txn", BCON_UTF8(txn_id), "at",
                         BCON_DATE_TIME(db_now_ms()));
  if (latch) {
    BSON_APPEND_BOOL(doc, "latch", true);
  }
  bool ok = true;
  int64_t pause = LATCH_SLEEP_MIN_US;
  for (int gone = 0;;) {
    bool dup;
    ok = insert_once(&t, doc, &dup, "2pc lock", err);
    if (!ok || !dup) {
      break; /* taken (or a failure) */
    }
    bson_t *lock;
    bool found;
    ok = read_by_string_id(&t, key, &lock, &found, err);
    char who[TXN_ID_LEN + 1] = "";
    bson_iter_t it;
    bool is_latch = false;
    if (ok && found) {
      if (bson_iter_init_find(&it, lock, "txn") && BSON_ITER_HOLDS_UTF8(&it)) {
        bsonx_copy_utf8(&it, who, sizeof who);
      }
      is_latch = bson_iter_init_find(&it, lock, "latch") &&
                 BSON_ITER_HOLDS_BOOL(&it) && bson_iter_bool(&it);
    }
    if (lock) {
      bson_destroy(lock);
    }
    if (!ok || (found && !strcmp(who, txn_id))) {
      break; /* ours from an earlier attempt */
    }
    if (!found || !who[0]) {
      if (++gone < 8) {
        continue; /* released meanwhile: again */
      }
      bson_strncpy(holder, "?", TXN_ID_LEN + 1);
      break;
    }
    if (is_latch && db_now_ms() < until_ms) {
      latch_pause(&pause);
      continue; /* a latch is held for one write */
    }
    bson_strncpy(holder, who, TXN_ID_LEN + 1);
    *holder_latch = is_latch;
    break;
  }
  bson_destroy(doc);
  target_close(&t);
  return ok;
}

/* An entry's fate as this process knows it, without asking the
 * database. */
static escrow_fate_t known_fate(store_mongo_t *sm, const char *txn_id) {
  switch (decisions_get(sm->decisions, txn_id)) {
  case DECISIONS_COMMITTED:
    return ESCROW_COMMITTED;
  case DECISIONS_ABORTED:
    return ESCROW_ABORTED;
  case DECISIONS_OPEN:
  case DECISIONS_UNDECIDED:
  case DECISIONS_UNKNOWN:
  default:
    return ESCROW_UNDECIDED;
  }
}

/* An entry's fate, from the database if this process does not know it. */
static bool lookup_fate(store_mongo_t *sm, const char *txn_id,
                        escrow_fate_t *fate, chorus_error_t *err) {
  *fate = known_fate(sm, txn_id);
  if (*fate != ESCROW_UNDECIDED ||
      decisions_get(sm->decisions, txn_id) == DECISIONS_OPEN) {
    return true;
  }
  txn_state_t state;
  bool decided;
  if (!read_decision(sm->shards, txn_id, &state, &decided, err)) {
    return false;
  }
  if (decided) {
    decisions_put(sm->decisions, txn_id, state);
    *fate = state == TXN_COMMITTED ? ESCROW_COMMITTED : ESCROW_ABORTED;
  }
  return true;
}

/* The filter of a write to a participant read as `read`: by _id alone
 * where writes go by _id (FerretDB: the read, made under the lock or the
 * latch, checked); else also on the lock field as read (MongoDB: a
 * compare-and-set, so that a write landing after the lock was given away
 * changes nothing). */
static void participant_filter(const target_t *t, const bson_value_t *id,
                               const bson_t *read, bson_t *filter) {
  bson_init(filter);
  append_id(filter, id);
  if (db_filters_by_id_only(t->db)) {
    return;
  }
  bson_iter_t it;
  if (read && bson_iter_init_find(&it, read, TXN_LOCK_FIELD)) {
    bson_append_value(filter, TXN_LOCK_FIELD, -1, bson_iter_value(&it));
  } else {
    bson_t absent;
    BSON_APPEND_DOCUMENT_BEGIN(filter, TXN_LOCK_FIELD, &absent);
    BSON_APPEND_BOOL(&absent, "$exists", false);
    bson_append_document_end(filter, &absent);
  }
}

/* One update of a participant; *matched: whether its filter matched. */
static bool write_participant(const target_t *t, const bson_t *filter,
                              const bson_t *update, bool *matched,
                              chorus_error_t *err) {
  *matched = false;
  if (!target_live(t, err)) {
    return false;
  }
  bson_t reply;
  bson_error_t berr;
  bool ok = mongoc_collection_update_one(t->coll, filter, update, NULL, &reply,
                                         &berr);
  if (!ok) {
    chorus_error_from_bson(err, &berr, "2pc write");
  } else {
    bson_iter_t m;
    *matched = bson_iter_init_find(&m, &reply, "matchedCount") &&
               bson_iter_as_int64(&m) == 1;
  }
  bson_destroy(&reply);
  return ok;
}

/* The staged state of an update: op->set, then each op->inc field added
 * to the document's current value, then version + 1 — all absolute; and
 * _xv at that version when the document keeps one (escrow.h). */
static void staged_values(const bson_t *doc, const txn_op_t *op, bson_t *set) {
  bson_init(set);
  bson_iter_t it, cur;
  if (op->set && bson_iter_init(&it, op->set)) {
    while (bson_iter_next(&it)) {
      bson_append_value(set, bson_iter_key(&it), -1, bson_iter_value(&it));
    }
  }
  if (op->inc && bson_iter_init(&it, op->inc)) {
    while (bson_iter_next(&it)) {
      int64_t now = bson_iter_init_find(&cur, doc, bson_iter_key(&it))
                        ? bsonx_as_int64(&cur)
                        : 0;
      bson_append_int64(set, bson_iter_key(&it), -1, now + bsonx_as_int64(&it));
    }
  }
  int64_t version =
      bson_iter_init_find(&cur, doc, "version") ? bsonx_as_int64(&cur) : 0;
  BSON_APPEND_INT64(set, "version", version + 1);
  if (bson_iter_init_find(&cur, doc, ESCROW_XV)) {
    BSON_APPEND_INT64(set, ESCROW_XV, version + 1);
  }
}

/* An insert op's document as its prepare stores it: with our _txn. */
static void staged_insert(const char *txn_id, const txn_op_t *op, bson_t *doc) {
  bson_t lock;
  bson_init(doc);
  bson_concat(doc, op->doc);
  BSON_APPEND_DOCUMENT_BEGIN(doc, TXN_LOCK_FIELD, &lock);
  BSON_APPEND_UTF8(&lock, "id", txn_id);
  BSON_APPEND_UTF8(&lock, "kind", "insert");
  bson_append_document_end(doc, &lock);
}

/* ---- fresh inserts (txn_add_fresh_insert) ----
 *
 * Nothing is written before the decision; a commit inserts the document
 * whole with TXN_CREATOR_FIELD naming its transaction, and recovery
 * inserts it again from the record (a duplicate key: inserted already).
 * So until the transaction is finished the document may be inserted
 * again, and an exclusive change of it (a delete above all: the insert
 * would bring it back) votes LOCKED while its creator's open marker is
 * there (creator_open, from prepare_change).  Residual: a recovery that
 * claimed the transaction just before its coordinator finished it may
 * insert the document once more after a delete that came in between
 * (docs/SYNC.md §8). */

/* The document a fresh insert writes: op->doc and its creator. */
static void fresh_doc(const char *txn_id, const txn_op_t *op, bson_t *doc) {
  bson_init(doc);
  bson_concat(doc, op->doc);
  BSON_APPEND_UTF8(doc, TXN_CREATOR_FIELD, txn_id);
}

static bool insert_fresh(shards_t *shards, const char *txn_id,
                         const txn_op_t *op, chorus_error_t *err) {
  assert(op->fresh && op->doc); /* recovery loads it from the record */
  target_t t;
  if (!target_open(shards, op->shard, op->coll, &t, err)) {
    return false;
  }
  bson_t doc;
  fresh_doc(txn_id, op, &doc);
  bool dup;
  bool ok = insert_once(&t, &doc, &dup, "2pc insert", err);
  bson_destroy(&doc);
  target_close(&t);
  return ok; /* a duplicate: inserted already, by this commit */
}

/* The vote of a fresh insert: nothing is written, but its database must
 * answer (as an insert's prepare would have found): a ping when the
 * shard lives in another deployment than the main one, which the
 * decision needs anyway. */
static txn_vote_t fresh_vote(shards_t *shards, const txn_op_t *op,
                             chorus_error_t *err) {
  db_t *db = shards_db(shards, op->shard);
  return db == shards_db(shards, TXN_MAIN_SHARD) || db_ping(db, err)
             ? TXN_VOTE_YES
             : TXN_VOTE_ERROR;
}

/* Whether doc is a fresh insert whose transaction may not be finished
 * yet (its open marker is there): *open, creator naming it. */
static bool creator_open(shards_t *shards, const bson_t *doc,
                         char creator[TXN_ID_LEN + 1], bool *open,
                         chorus_error_t *err) {
  bson_iter_t it;
  *open = false;
  creator[0] = '\0';
  if (!bson_iter_init_find(&it, doc, TXN_CREATOR_FIELD) ||
      !BSON_ITER_HOLDS_UTF8(&it)) {
    return true;
  }
  bsonx_copy_utf8(&it, creator, TXN_ID_LEN + 1);
  target_t t;
  if (!target_open(shards, TXN_MAIN_SHARD, DB_OPEN, &t, err)) {
    return false;
  }
  bson_t *marker;
  bool ok = read_by_string_id(&t, creator, &marker, open, err);
  if (marker) {
    bson_destroy(marker);
  }
  target_close(&t);
  return ok;
}

static txn_vote_t prepare_insert(shards_t *shards, const char *txn_id,
                                 const txn_op_t *op,
                                 char lock_owner[TXN_ID_LEN + 1],
                                 chorus_error_t *err) {
  target_t t;
  if (!target_open(shards, op->shard, op->coll, &t, err)) {
    return TXN_VOTE_ERROR;
  }
  bson_t doc;
  staged_insert(txn_id, op, &doc);
  bool dup;
  txn_vote_t vote = TXN_VOTE_YES;
  if (!insert_once(&t, &doc, &dup, "2pc prepare insert", err)) {
    vote = TXN_VOTE_ERROR;
  } else if (dup) {
    bson_t *existing;
    bool found;
    if (!read_by_id(&t, &op->id, &existing, &found, err)) {
      vote = TXN_VOTE_ERROR;
    } else {
      char owner[TXN_ID_LEN + 1];
      lock_field_read_owner(existing, owner);
      if (!found) {
        vote = TXN_VOTE_LOCKED; /* deleted meanwhile: try again */
      } else if (!strcmp(owner, txn_id)) {
        vote = TXN_VOTE_YES; /* our own, from an earlier prepare */
      } else if (owner[0]) {
        memcpy(lock_owner, owner, sizeof owner);
        vote = TXN_VOTE_LOCKED;
      } else {
        vote = TXN_VOTE_EXISTS;
      }
      if (existing) {
        bson_destroy(existing);
      }
    }
  }
  bson_destroy(&doc);
  target_close(&t);
  return vote;
}

/* The fates of every entry of doc, read from the database when this
 * process does not know them; *undecided is the first entry still
 * undecided ("" when none). */
typedef struct entry_fates {
  char id[TXN_MAX_ENTRIES_SEEN][TXN_ID_LEN + 1];
  escrow_fate_t fate[TXN_MAX_ENTRIES_SEEN];
  size_t n;
} entry_fates_t;

static escrow_fate_t listed_fate(void *ctx, const char *txn_id) {
  const entry_fates_t *f = ctx;
  for (size_t i = 0; i < f->n; i++) {
    if (!strcmp(f->id[i], txn_id)) {
      return f->fate[i];
    }
  }
  return ESCROW_UNDECIDED;
}

static bool fates_of_entries(store_mongo_t *sm, const bson_t *doc,
                             entry_fates_t *f, char undecided[TXN_ID_LEN + 1],
                             chorus_error_t *err) {
  char id[TXN_ID_LEN + 1];
  undecided[0] = '\0';
  f->n = 0;
  for (size_t e = 0; escrow_entry_id(doc, e, id); e++) {
    escrow_fate_t fate;
    if (!lookup_fate(sm, id, &fate, err)) {
      return false;
    }
    if (fate == ESCROW_UNDECIDED && !undecided[0]) {
      memcpy(undecided, id, sizeof id);
    }
    if (f->n < TXN_MAX_ENTRIES_SEEN) {
      memcpy(f->id[f->n], id, sizeof id);
      f->fate[f->n++] = fate;
    } else if (!undecided[0]) {
      memcpy(undecided, id, sizeof id); /* too many to fold at once */
    }
  }
  return true;
}

/* The exclusive prepare of an update or delete: the lock document, then
 * the document read under it, then its stage.  Escrow entries on it are
 * folded (committed) or dropped (aborted) by the stage's own write, once
 * every one is decided: an undecided one is waited for until
 * op->wait_until_ms, then voted LOCKED (its holder named).  No new entry
 * can come meanwhile: entries are written under the latch, which is the
 * lock document we hold. */
static txn_vote_t prepare_change(store_mongo_t *sm, const char *txn_id,
                                 txn_op_t *op, char lock_owner[TXN_ID_LEN + 1],
                                 chorus_error_t *err) {
  shards_t *shards = sm->shards;
  char holder[TXN_ID_LEN + 1];
  bool holder_latch;
  int64_t until = wait_limit(op);
  if (!take_lock(shards, txn_id, op, false, until, holder, &holder_latch,
                 err)) {
    return TXN_VOTE_ERROR;
  }
  if (holder[0]) {
    if (strcmp(holder, "?") != 0) {
      memcpy(lock_owner, holder, sizeof holder);
    }
    return TXN_VOTE_LOCKED;
  }
  /* We hold the lock: nobody else writes the document now.  (If the
   * participant's deployment is down, the lock document stays until
   * recovery aborts the transaction and drops it.) */
  target_t t;
  if (!target_open(shards, op->shard, op->coll, &t, err)) {
    return TXN_VOTE_ERROR;
  }
  bson_t *doc = NULL;
  bool found;
  txn_vote_t vote = TXN_VOTE_YES;
  bool staged_before = false;
  entry_fates_t *fates = bson_malloc0(sizeof *fates);
  for (;;) {
    char owner[TXN_ID_LEN + 1] = "", undecided[TXN_ID_LEN + 1];
    bool creating;
    if (doc) {
      bson_destroy(doc);
    }
    if (!read_by_id(&t, &op->id, &doc, &found, err)) {
      vote = TXN_VOTE_ERROR;
      break;
    }
    lock_field_read_owner(doc, owner);
    if (!found) {
      vote = TXN_VOTE_MISSING;
    } else if (!strcmp(owner, txn_id)) {
      staged_before = true; /* by an earlier prepare */
    } else if (owner[0]) {
      memcpy(lock_owner, owner, sizeof owner); /* a staged insert */
      vote = TXN_VOTE_LOCKED;
    } else if (!creator_open(shards, doc, owner, &creating, err)) {
      vote = TXN_VOTE_ERROR;
    } else if (creating) {
      memcpy(lock_owner, owner, sizeof owner); /* its creation unfinished */
      vote = TXN_VOTE_LOCKED;
    } else if (!fates_of_entries(sm, doc, fates, undecided, err)) {
      vote = TXN_VOTE_ERROR;
    } else if (undecided[0] && db_now_ms() < until) {
      sleep_us(UNDECIDED_SLEEP_US);
      continue;
    } else if (undecided[0]) {
      memcpy(lock_owner, undecided, sizeof undecided);
      vote = TXN_VOTE_LOCKED;
    }
    break;
  }
  if (vote == TXN_VOTE_YES && !staged_before) {
    /* The committed state (entries folded), checked, then staged on. */
    bson_t folded, fold, set, update = BSON_INITIALIZER, fields, lock;
    escrow_result_t res;
    escrow_rewrite(doc, listed_fate, fates, NULL, 0, &folded, &fold, &res);
    assert(res.kept == 0); /* every entry was decided */
    if (op->check_version && !escrow_version_current(&folded, op->version)) {
      vote = TXN_VOTE_STALE;
    } else {
      bson_t *staged = NULL;
      bson_iter_t it;
      BSON_APPEND_DOCUMENT_BEGIN(&update, "$set", &fields);
      if (bson_iter_init_find(&it, &fold, "$set") &&
          BSON_ITER_HOLDS_DOCUMENT(&it)) {
        uint32_t len;
        const uint8_t *data;
        bson_t sub;
        bson_iter_document(&it, &len, &data);
        if (bson_init_static(&sub, data, len)) {
          bson_concat(&fields, &sub); /* the fold, in the same write */
        }
      }
      BSON_APPEND_DOCUMENT_BEGIN(&fields, TXN_LOCK_FIELD, &lock);
      BSON_APPEND_UTF8(&lock, "id", txn_id);
      BSON_APPEND_UTF8(&lock, "kind", txn_kind_name(op->kind));
      if (op->kind == TXN_UPDATE) {
        staged_values(&folded, op, &set);
        BSON_APPEND_DOCUMENT(&lock, "set", &set);
        staged = bson_copy(&set);
        bson_destroy(&set);
      }
      bson_append_document_end(&fields, &lock);
      bson_append_document_end(&update, &fields);
      /* Only onto the document as read: a stage that arrives after
       * recovery gave our lock away must not overwrite the next holder's
       * (atomic on MongoDB).  On FerretDB a filtered write is not atomic
       * and any filter but {_id} decodes the whole collection: the read
       * above checked, the write goes by _id (db_filters_by_id_only). */
      bson_t filter;
      participant_filter(&t, &op->id, doc, &filter);
      bool matched;
      if (!write_participant(&t, &filter, &update, &matched, err)) {
        vote = TXN_VOTE_ERROR;
      } else if (!matched) {
        vote = TXN_VOTE_LOCKED; /* someone staged it meanwhile */
      } else if (staged) {
        if (op->staged) {
          bson_destroy(op->staged);
        }
        op->staged = staged; /* for finish_op's write without a read */
        staged = NULL;
      }
      if (staged) {
        bson_destroy(staged);
      }
      bson_destroy(&filter);
    }
    bson_destroy(&update);
    bson_destroy(&folded);
    bson_destroy(&fold);
  }
  bson_free(fates);
  if (doc) {
    bson_destroy(doc);
  }
  target_close(&t);
  if (vote != TXN_VOTE_YES && vote != TXN_VOTE_ERROR) {
    chorus_error_t ignored;
    release_lock(shards, txn_id, op, &ignored); /* voted no: let go now */
  }
  return vote;
}

/* The fates a batch's rewrite uses: those its own folds and drops name,
 * then what this process knows. */
typedef struct batch_fates {
  store_mongo_t *sm;
  entry_req_t *batch;
} batch_fates_t;

static escrow_fate_t batch_fate(void *ctx, const char *txn_id) {
  const batch_fates_t *f = ctx;
  for (const entry_req_t *r = f->batch; r; r = r->next) {
    if (r->step != ENTRY_STAGE && !strcmp(r->txn_id, txn_id)) {
      return r->step == ENTRY_FOLD ? ESCROW_COMMITTED : ESCROW_ABORTED;
    }
  }
  return known_fate(f->sm, txn_id);
}

/* Every request of batch gets vote (and, when not NULL, lock_owner and
 * err). */
static void answer_all(entry_req_t *batch, txn_vote_t vote,
                       const char *lock_owner, const chorus_error_t *err) {
  for (entry_req_t *r = batch; r; r = r->next) {
    r->vote = vote;
    if (lock_owner && strcmp(lock_owner, "?") != 0) {
      bson_strncpy(r->lock_owner, lock_owner, sizeof r->lock_owner);
    }
    if (err) {
      r->err = *err;
    }
  }
}

/* One write of a document under its latch for every request of batch
 * (one document; the leader's request first): the stages add their
 * entries (op->inc), the folds and drops fold or drop theirs, and every
 * other entry this process knows decided is folded or dropped too.  The
 * latch, taken in the name of the first request's transaction, is waited
 * for until the earliest request's limit.  A document held exclusively by
 * another answers LOCKED (its holder named): staging never waits for an
 * exclusive holder, and folding or dropping there is left to that holder,
 * which folds or drops every decided entry before it stages.  A fold or
 * drop with nothing left to do answers YES. */
static void run_batch(store_mongo_t *sm, entry_req_t *batch) {
  shards_t *shards = sm->shards;
  const entry_req_t *lead = batch;
  int64_t until = lead->until;
  for (const entry_req_t *r = batch; r; r = r->next) {
    until = r->until < until ? r->until : until;
  }
  /* Held briefly, and every other writer of this document waits for it:
   * its commands go first through the write gate (write_gate.h). */
  write_priority_t was = db_write_priority(WRITE_PRIORITY_URGENT);
  char holder[TXN_ID_LEN + 1];
  bool holder_latch;
  chorus_error_t err;
  chorus_error_clear(&err);
  if (!take_lock(shards, lead->txn_id, lead->op, true, until, holder,
                 &holder_latch, &err)) {
    answer_all(batch, TXN_VOTE_ERROR, NULL, &err);
    db_write_priority(was);
    return;
  }
  if (holder[0]) {
    answer_all(batch, TXN_VOTE_LOCKED, holder, NULL);
    db_write_priority(was);
    return;
  }
  target_t t;
  bson_t *doc = NULL;
  bool found = false;
  if (!target_open(shards, lead->op->shard, lead->op->coll, &t, &err)) {
    answer_all(batch, TXN_VOTE_ERROR, NULL, &err);
  } else {
    if (!read_by_id(&t, &lead->op->id, &doc, &found, &err)) {
      answer_all(batch, TXN_VOTE_ERROR, NULL, &err);
    } else {
      char owner[TXN_ID_LEN + 1] = "";
      lock_field_read_owner(doc, owner);
      size_t n_adds = 0;
      for (const entry_req_t *r = batch; r; r = r->next) {
        n_adds += r->step == ENTRY_STAGE;
      }
      escrow_add_t *adds = bson_malloc0(sizeof *adds * (n_adds + 1));
      n_adds = 0;
      for (entry_req_t *r = batch; r; r = r->next) {
        r->vote = TXN_VOTE_YES;
        if (r->step != ENTRY_STAGE) {
          continue; /* nothing to do when absent or held exclusively */
        }
        if (!found) {
          r->vote = TXN_VOTE_MISSING;
        } else if (owner[0]) {
          /* An exclusive stage or a staged insert. */
          r->vote = TXN_VOTE_LOCKED;
          bson_strncpy(r->lock_owner, owner, sizeof r->lock_owner);
        } else {
          adds[n_adds++] = (escrow_add_t){r->txn_id, r->op->inc};
        }
      }
      if (found && !owner[0]) {
        batch_fates_t fates = {sm, batch};
        bson_t out, update, filter;
        escrow_result_t res;
        escrow_rewrite(doc, batch_fate, &fates, adds, n_adds, &out, &update,
                       &res);
        if (res.changed) {
          char(*folded)[TXN_ID_LEN + 1] = NULL;
          size_t n_folded =
              res.folded ? committed_entries(doc, batch_fate, &fates, &folded)
                         : 0;
          participant_filter(&t, &lead->op->id, doc, &filter);
          bool matched;
          txn_vote_t failed = TXN_VOTE_YES;
          if (!write_participant(&t, &filter, &update, &matched, &err)) {
            failed = TXN_VOTE_ERROR;
          } else if (!matched) {
            failed = TXN_VOTE_LOCKED; /* written meanwhile (MongoDB filter) */
          } else {
            char key[200];
            lock_key(lead->op, key, sizeof key);
            mark_folded(sm, key, folded, n_folded);
          }
          bson_free(folded);
          for (entry_req_t *r = batch; r; r = r->next) {
            if (failed != TXN_VOTE_YES && r->vote == TXN_VOTE_YES) {
              r->vote = failed;
              r->err = err;
            }
          }
          bson_destroy(&filter);
        }
        bson_destroy(&out);
        bson_destroy(&update);
      }
      bson_free(adds);
    }
    if (doc) {
      bson_destroy(doc);
    }
    target_close(&t);
  }
  /* Let go at once, whatever happened: a write that failed either landed
   * or not, and nobody else may write the document until we do. */
  chorus_error_t ignored;
  release_lock(shards, lead->txn_id, lead->op, &ignored);
  db_write_priority(was);
}

/* Moves the requests of stripe st's queue for key into a batch (in queue
 * order) and returns it. */
static entry_req_t *take_batch(stripe_t *st, const char *key) {
  entry_req_t *batch = NULL, **tail = &batch, **p = &st->head;
  while (*p) {
    entry_req_t *r = *p;
    if (!strcmp(r->key, key)) {
      *p = r->next;
      r->next = NULL;
      *tail = r;
      tail = &r->next;
    } else {
      p = &r->next;
    }
  }
  return batch;
}

/* Removes req from st's queue; false when a leader took it already. */
static bool leave_queue(stripe_t *st, entry_req_t *req) {
  for (entry_req_t **p = &st->head; *p; p = &(*p)->next) {
    if (*p == req) {
      *p = req->next;
      return true;
    }
  }
  return false;
}

/* A latched write of op's document for txn_id (stage, fold or drop its
 * entry), combined with the other requests of this process for that
 * document (run_batch): queued, then answered by whichever requester
 * leads the next batch, perhaps this one.  A request not taken into a
 * batch by until answers LOCKED. */
static txn_vote_t entry_write(store_mongo_t *sm, const char *txn_id,
                              const txn_op_t *op, entry_step_t step,
                              int64_t until, char lock_owner[TXN_ID_LEN + 1],
                              chorus_error_t *err) {
  entry_req_t req;
  memset(&req, 0, sizeof req);
  lock_key(op, req.key, sizeof req.key);
  req.txn_id = txn_id;
  req.op = op;
  req.step = step;
  req.until = until;
  stripe_t *st = stripe_of(sm, req.key);
  struct timespec deadline = {(time_t)(until / 1000),
                              (long)(until % 1000) * 1000000L};
  pthread_mutex_lock(&st->mu);
  entry_req_t **tail = &st->head;
  while (*tail) {
    tail = &(*tail)->next;
  }
  *tail = &req;
  while (!req.done) {
    if (!st->busy) {
      st->busy = true;
      entry_req_t *batch = take_batch(st, st->head->key);
      pthread_mutex_unlock(&st->mu);
      run_batch(sm, batch);
      pthread_mutex_lock(&st->mu);
      for (entry_req_t *r = batch; r;) {
        entry_req_t *next = r->next; /* r may go once done is set */
        r->done = true;
        r = next;
      }
      st->busy = false;
      pthread_cond_broadcast(&st->cv);
    } else if (pthread_cond_timedwait(&st->cv, &st->mu, &deadline) ==
                   ETIMEDOUT &&
               !req.done && leave_queue(st, &req)) {
      req.vote = TXN_VOTE_LOCKED; /* this process's others kept it */
      req.done = true;
    }
  }
  pthread_mutex_unlock(&st->mu);
  if (req.lock_owner[0]) {
    memcpy(lock_owner, req.lock_owner, sizeof req.lock_owner);
  }
  if (req.vote == TXN_VOTE_ERROR && err) {
    *err = req.err;
  }
  return req.vote;
}

/* The prepare of a shared op: its entry staged under the latch. */
static txn_vote_t prepare_shared(store_mongo_t *sm, const char *txn_id,
                                 const txn_op_t *op,
                                 char lock_owner[TXN_ID_LEN + 1],
                                 chorus_error_t *err) {
  return entry_write(sm, txn_id, op, ENTRY_STAGE, wait_limit(op), lock_owner,
                     err);
}

static txn_vote_t mongo_prepare(void *impl, const char *txn_id, txn_op_t *op,
                                char lock_owner[TXN_ID_LEN + 1],
                                chorus_error_t *err) {
  store_mongo_t *sm = impl;
  /* Only the coordinator prepares, with the ops it built (kind 0 is for
   * resolving a lock, never prepared). */
  assert(op->kind == TXN_INSERT || op->kind == TXN_UPDATE ||
         op->kind == TXN_DELETE);
  assert(op->staged_known);
  assert(op->shared == txn_op_is_shared(op));
  if (op->fresh) {
    return fresh_vote(sm->shards, op, err); /* writes nothing (txn.c, 11) */
  }
  if (op_deferred(sm, op)) {
    return TXN_VOTE_YES; /* in the marker begin wrote */
  }
  if (op->kind == TXN_INSERT) {
    return prepare_insert(sm->shards, txn_id, op, lock_owner, err);
  }
  return op->shared ? prepare_shared(sm, txn_id, op, lock_owner, err)
                    : prepare_change(sm, txn_id, op, lock_owner, err);
}

/* Folds (commit) or drops txn_id's entry on op's document, unless it is
 * gone already (folded or dropped by another write, or never staged):
 * that is looked at first, without the latch.  While another holds the
 * document exclusively, looks again until the entry is gone (that holder
 * folds or drops it) or until wait_until; false then. */
static bool finish_shared(store_mongo_t *sm, const char *txn_id,
                          const txn_op_t *op, bool commit,
                          chorus_error_t *err) {
  target_t t;
  if (!target_open(sm->shards, op->shard, op->coll, &t, err)) {
    return false;
  }
  int64_t until = wait_limit(op);
  bool ok = true;
  for (;;) {
    bson_t *doc;
    bool found;
    ok = read_by_id(&t, &op->id, &doc, &found, err);
    bool has = ok && found && escrow_has(doc, txn_id);
    if (doc) {
      bson_destroy(doc);
    }
    if (!ok || !has) {
      break; /* nothing left to do */
    }
    char holder[TXN_ID_LEN + 1] = "";
    txn_vote_t vote = entry_write(
        sm, txn_id, op, commit ? ENTRY_FOLD : ENTRY_DROP, until, holder, err);
    if (vote == TXN_VOTE_YES) {
      break;
    }
    if (vote == TXN_VOTE_ERROR) {
      ok = false;
      break;
    }
    if (db_now_ms() >= until) {
      chorus_error_set(err, 503, "busy", "2pc: the document stayed held by %s",
                       holder[0] ? holder : "this process");
      ok = false;
      break;
    }
    sleep_us(UNDECIDED_SLEEP_US); /* held exclusively: it folds ours */
  }
  target_close(&t);
  return ok;
}

/* One command, no read first, where the op's kind says what to do and
 * nothing staged is needed: an insert kept or dropped, a delete done or
 * dropped, an update dropped.  The filter names our lock, so a document
 * someone else finished (recovery) or locked since is left alone, as the
 * read-then-write path below would leave it.  Not on FerretDB, where that
 * filter costs ten reads by _id (db_filters_by_id_only). */
static bool finish_known(const target_t *t, const char *txn_id,
                         const txn_op_t *op, bool commit, chorus_error_t *err) {
  bson_t filter = BSON_INITIALIZER;
  append_id(&filter, &op->id);
  BSON_APPEND_UTF8(&filter, TXN_LOCK_FIELD ".id", txn_id);
  bool ok;
  if ((op->kind == TXN_INSERT && !commit) ||
      (op->kind == TXN_DELETE && commit)) {
    ok = run_delete(t, &filter, err);
  } else {
    bson_t *update =
        BCON_NEW("$unset", "{", TXN_LOCK_FIELD, BCON_UTF8(""), "}");
    ok = run_update(t, &filter, update, err);
    bson_destroy(update);
  }
  bson_destroy(&filter);
  return ok;
}

/* The commit of a participant this process prepared, by _id alone and
 * without reading it first, for FerretDB (db_filters_by_id_only): only
 * while the coordinator's lease holds (op->in_lease), when the document
 * still carries our stage (only the lock holder writes it, and recovery
 * takes over only after the deadline; see docs/SYNC.md §4).  That read
 * would be a third of the participants' database commands.  *done is false
 * (and nothing sent) when this path does not apply. */
static bool commit_in_lease(const target_t *t, const txn_op_t *op, bool *done,
                            chorus_error_t *err) {
  *done = false;
  if (!op->in_lease || !op->staged_known ||
      (op->kind == TXN_UPDATE && !op->staged) ||
      !db_filters_by_id_only(t->db)) {
    return true;
  }
  *done = true;
  bson_t filter = BSON_INITIALIZER;
  append_id(&filter, &op->id);
  bool ok;
  if (op->kind == TXN_DELETE) {
    ok = run_delete(t, &filter, err);
  } else {
    bson_t update = BSON_INITIALIZER, unset;
    if (op->kind == TXN_UPDATE && !bson_empty(op->staged)) {
      BSON_APPEND_DOCUMENT(&update, "$set", op->staged);
    }
    BSON_APPEND_DOCUMENT_BEGIN(&update, "$unset", &unset);
    BSON_APPEND_UTF8(&unset, TXN_LOCK_FIELD, "");
    bson_append_document_end(&update, &unset);
    ok = run_update(t, &filter, &update, err);
    bson_destroy(&update);
  }
  bson_destroy(&filter);
  return ok;
}

/* Applies (commit) or drops (abort) our staged change on a participant,
 * then lets go of its lock document.  The coordinator's own shared op goes
 * to finish_shared (its latch went with its prepare).  Otherwise, unless
 * finish_known() or commit_in_lease() can, the document is read: our
 * exclusive stage is applied or dropped (its kind read from the lock, so
 * ops loaded by recovery, or kind 0, work too), and our escrow entry is
 * folded or dropped under the latch; then our lock document (an exclusive
 * lock, or a latch left by a coordinator that stopped) is deleted. */
static bool finish_op(store_mongo_t *sm, const char *txn_id, const txn_op_t *op,
                      bool commit, chorus_error_t *err) {
  shards_t *shards = sm->shards;
  if (op->fresh) {
    /* 11 of txn.c: only a commit writes it; an abort has nothing */
    return !commit || insert_fresh(shards, txn_id, op, err);
  }
  if (op_deferred(sm, op)) {
    /* A latch its fold left when its process stopped (recovery: SYNC.md
     * §4, as any op of recovery deletes its transaction's lock). */
    if (!op->staged_known && !release_lock(shards, txn_id, op, err)) {
      return false;
    }
    if (!commit) {
      return true; /* nothing was staged */
    }
    txn_item_t item;
    memset(&item, 0, sizeof item);
    item.txn_id = txn_id;
    item.op = (txn_op_t *)op; /* read only */
    fold_deferred(sm, &item, 1);
    if (!item.ok && err) {
      *err = item.err;
    }
    return item.ok;
  }
  if (op->shared && op->staged_known) {
    return finish_shared(sm, txn_id, op, commit, err);
  }
  target_t t;
  if (!target_open(shards, op->shard, op->coll, &t, err)) {
    return false;
  }
  bool id_only = db_filters_by_id_only(t.db);
  if (!id_only && !op->shared &&
      (op->kind == TXN_INSERT || op->kind == TXN_DELETE ||
       (op->kind == TXN_UPDATE && !commit))) {
    bool ok = finish_known(&t, txn_id, op, commit, err);
    target_close(&t);
    return ok &&
           (op->kind == TXN_INSERT || release_lock(shards, txn_id, op, err));
  }
  bool done = false;
  if (commit && !op->shared) {
    bool ok = commit_in_lease(&t, op, &done, err);
    if (done) {
      target_close(&t);
      return ok &&
             (op->kind == TXN_INSERT || release_lock(shards, txn_id, op, err));
    }
  }
  bson_t *doc;
  bool found;
  bool ok = read_by_id(&t, &op->id, &doc, &found, err);
  char owner[TXN_ID_LEN + 1] = "";
  bool entry = false;
  if (ok && found) {
    lock_field_read_owner(doc, owner);
    entry = escrow_has(doc, txn_id);
  }
  if (ok && found && !strcmp(owner, txn_id)) {
    txn_kind_t kind = lock_field_read_kind(doc);
    bson_t filter;
    participant_filter(&t, &op->id, doc, &filter);
    if ((kind == TXN_INSERT && !commit) || (kind == TXN_DELETE && commit)) {
      ok = run_delete(&t, &filter, err);
    } else {
      bson_t update = BSON_INITIALIZER, unset;
      bson_iter_t it, set;
      if (commit && kind == TXN_UPDATE && bson_iter_init(&it, doc) &&
          bson_iter_find_descendant(&it, TXN_LOCK_FIELD ".set", &set) &&
          BSON_ITER_HOLDS_DOCUMENT(&set)) {
        uint32_t len;
        const uint8_t *data;
        bson_iter_document(&set, &len, &data);
        bson_t staged;
        if (bson_init_static(&staged, data, len) && !bson_empty(&staged)) {
          BSON_APPEND_DOCUMENT(&update, "$set", &staged);
        }
      }
      BSON_APPEND_DOCUMENT_BEGIN(&update, "$unset", &unset);
      BSON_APPEND_UTF8(&unset, TXN_LOCK_FIELD, "");
      bson_append_document_end(&update, &unset);
      ok = run_update(&t, &filter, &update, err);
      bson_destroy(&update);
    }
    bson_destroy(&filter);
  }
  if (doc) {
    bson_destroy(doc);
  }
  target_close(&t);
  if (ok && entry) {
    ok = finish_shared(sm, txn_id, op, commit, err);
  }
  /* Inserts have no lock document; deleting a missing one is harmless. */
  return ok &&
         (op->kind == TXN_INSERT || release_lock(shards, txn_id, op, err));
}

static bool mongo_commit_op(void *impl, const char *txn_id, const txn_op_t *op,
                            chorus_error_t *err) {
  return finish_op(impl, txn_id, op, true, err);
}

static bool mongo_abort_op(void *impl, const char *txn_id, const txn_op_t *op,
                           chorus_error_t *err) {
  return finish_op(impl, txn_id, op, false, err);
}

/* ---- the decision log ---- */

/* Open markers.  Recovery looks for records that are not done and whose
 * deadline has passed.  Asked of txns itself, that query reads every
 * record on FerretDB (no index but _id), and txns keeps the last
 * SYNC_KEEP_FINISHED_MS of finished transactions: at a few dozen
 * transactions a second, the two servers' passes every 250 ms decode
 * thousands of records a second (docs/PERFORMANCE.md).  So
 * each unfinished record also has a small marker, inserted before the
 * record and deleted after it is done, and recovery reads the markers.
 *
 * Invariant: a record that is not done has a marker.  It holds because
 * the marker is inserted first (begin fails if it cannot be), and a
 * marker is deleted only when its record is done, or has been missing
 * for OPEN_ORPHAN_MS.  A marker's deadline may be older than its
 * record's (after a takeover, if updating it failed): the record decides. */
/* The marker of txn (initialised here): {_id, deadline, at}, and, when
 * txn has deferred increments, dk: [their lock keys] (what readers look
 * for) and d: [{k: lock key, inc}] ("deferred increments" below). */
static void marker_doc(const store_mongo_t *sm, const txn_t *txn,
                       int64_t deadline_ms, bson_t *doc) {
  bson_init(doc);
  BSON_APPEND_UTF8(doc, "_id", txn->id);
  BSON_APPEND_DATE_TIME(doc, "deadline", deadline_ms);
  BSON_APPEND_DATE_TIME(doc, "at", db_now_ms());
  bson_t keys = BSON_INITIALIZER, incs = BSON_INITIALIZER;
  uint32_t n = 0;
  for (size_t i = 0; i < txn->n_ops; i++) {
    const txn_op_t *op = &txn->ops[i];
    if (!op_deferred(sm, op)) {
      continue;
    }
    char key[200], index[16];
    const char *k;
    lock_key(op, key, sizeof key);
    bsonx_array_append_utf8(&keys, n, key);
    bson_uint32_to_string(n++, &k, index, sizeof index);
    bson_t d;
    BSON_APPEND_DOCUMENT_BEGIN(&incs, k, &d);
    BSON_APPEND_UTF8(&d, "k", key);
    BSON_APPEND_DOCUMENT(&d, "inc", op->inc);
    bson_append_document_end(&incs, &d);
  }
  if (n) {
    BSON_APPEND_ARRAY(doc, "dk", &keys);
    BSON_APPEND_ARRAY(doc, "d", &incs);
  }
  bson_destroy(&incs);
  bson_destroy(&keys);
}

static bool mark_open(const store_mongo_t *sm, const txn_t *txn,
                      int64_t deadline_ms, chorus_error_t *err) {
  target_t t;
  if (!target_open(sm->shards, TXN_MAIN_SHARD, DB_OPEN, &t, err)) {
    return false;
  }
  bson_t doc;
  marker_doc(sm, txn, deadline_ms, &doc);
  bool dup;
  bool ok = insert_once(&t, &doc, &dup, "2pc mark open", err);
  bson_destroy(&doc);
  target_close(&t);
  return ok; /* a duplicate is our own earlier begin */
}

/* Best effort: a marker left behind is dropped by a later claim pass. */
static void unmark_open(shards_t *shards, const char *txn_id) {
  target_t t;
  chorus_error_t ignored;
  if (!target_open(shards, TXN_MAIN_SHARD, DB_OPEN, &t, &ignored)) {
    return;
  }
  bson_t *filter = BCON_NEW("_id", BCON_UTF8(txn_id));
  run_delete(&t, filter, &ignored);
  bson_destroy(filter);
  target_close(&t);
}

/* Best effort: the marker's deadline follows a takeover's, so that the
 * passes until then do not read the record. */
static void remark_open(shards_t *shards, const char *txn_id,
                        int64_t deadline_ms) {
  target_t t;
  chorus_error_t ignored;
  if (!target_open(shards, TXN_MAIN_SHARD, DB_OPEN, &t, &ignored)) {
    return;
  }
  bson_t *filter = BCON_NEW("_id", BCON_UTF8(txn_id));
  bson_t *update =
      BCON_NEW("$set", "{", "deadline", BCON_DATE_TIME(deadline_ms), "}");
  run_update(&t, filter, update, &ignored);
  bson_destroy(update);
  bson_destroy(filter);
  target_close(&t);
}

/* The record begin writes. */
static void record_doc(const txn_t *txn, const char *owner, int64_t deadline_ms,
                       bson_t *doc) {
  bson_t ops;
  bson_init(doc);
  BSON_APPEND_UTF8(doc, "_id", txn->id);
  BSON_APPEND_UTF8(doc, "state", txn_state_name(TXN_PENDING));
  BSON_APPEND_BOOL(doc, "done", false);
  BSON_APPEND_UTF8(doc, "owner", owner);
  BSON_APPEND_INT64(doc, "lease", 1);
  BSON_APPEND_DATE_TIME(doc, "deadline", deadline_ms);
  BSON_APPEND_DATE_TIME(doc, "created_at", db_now_ms());
  BSON_APPEND_ARRAY_BEGIN(doc, "ops", &ops);
  for (size_t i = 0; i < txn->n_ops; i++) {
    const txn_op_t *op = &txn->ops[i];
    char key[16];
    const char *k;
    bson_uint32_to_string((uint32_t)i, &k, key, sizeof key);
    bson_t o;
    BSON_APPEND_DOCUMENT_BEGIN(&ops, k, &o);
    BSON_APPEND_UTF8(&o, "kind", txn_kind_name(op->kind));
    if (op->shared) { /* inc: recovery folds a deferred one from here */
      BSON_APPEND_BOOL(&o, "shared", true);
      BSON_APPEND_DOCUMENT(&o, "inc", op->inc);
    }
    if (op->deferred) {
      BSON_APPEND_BOOL(&o, "deferred", true);
    }
    if (op->transient) {
      BSON_APPEND_BOOL(&o, "transient", true);
    }
    if (op->fresh) { /* recovery inserts it from here */
      BSON_APPEND_BOOL(&o, "fresh", true);
      BSON_APPEND_DOCUMENT(&o, "doc", op->doc);
    }
    BSON_APPEND_INT32(&o, "shard", op->shard);
    BSON_APPEND_UTF8(&o, "coll", op->coll);
    bson_append_value(&o, "id", 2, &op->id);
    bson_append_document_end(&ops, &o);
  }
  bson_append_array_end(doc, &ops);
}

static bool mongo_begin(void *impl, const txn_t *txn, const char *owner,
                        int64_t deadline_ms, chorus_error_t *err) {
  const store_mongo_t *sm = impl;
  shards_t *shards = sm->shards;
  if (!log_id_young(txn->id, err)) {
    return false;
  }
  bson_t doc;
  record_doc(txn, owner, deadline_ms, &doc);
  /* The marker first: a record without one would never be recovered. */
  bool ok = mark_open(sm, txn, deadline_ms, err);
  target_t t;
  if (ok && !log_open(shards, STORE_MONGO_RECORDS, txn->id, &t, err)) {
    ok = false;
  } else if (ok) {
    bool dup;
    ok = insert_once(&t, &doc, &dup, "2pc begin", err);
    target_close(&t); /* a duplicate is our own earlier begin */
  }
  bson_destroy(&doc);
  return ok;
}

static bool parse_state(const char *s, txn_state_t *state) {
  if (!strcmp(s, "pending")) {
    *state = TXN_PENDING;
  } else if (!strcmp(s, "committed")) {
    *state = TXN_COMMITTED;
  } else if (!strcmp(s, "aborted")) {
    *state = TXN_ABORTED;
  } else {
    return false;
  }
  return true;
}

/* The decision of txn_id, if one was made. */
static bool read_decision(shards_t *shards, const char *txn_id,
                          txn_state_t *state, bool *decided,
                          chorus_error_t *err) {
  target_t t;
  *decided = false;
  if (!log_open(shards, STORE_MONGO_DECISIONS, txn_id, &t, err)) {
    return false;
  }
  bson_t *doc;
  bool ok = read_by_string_id(&t, txn_id, &doc, decided, err);
  bson_iter_t it;
  if (ok && *decided) {
    *decided = bson_iter_init_find(&it, doc, "state") &&
               BSON_ITER_HOLDS_UTF8(&it) &&
               parse_state(bson_iter_utf8(&it, NULL), state);
  }
  if (doc) {
    bson_destroy(doc);
  }
  target_close(&t);
  return ok;
}

static bool mongo_decide(void *impl, const char *txn_id, txn_state_t to,
                         txn_state_t *actual, chorus_error_t *err) {
  shards_t *shards = ((store_mongo_t *)impl)->shards;
  assert(to == TXN_COMMITTED || to == TXN_ABORTED); /* pending -> one */
  target_t t;
  if (!log_open(shards, STORE_MONGO_DECISIONS, txn_id, &t, err)) {
    return false;
  }
  bson_t *doc =
      BCON_NEW("_id", BCON_UTF8(txn_id), "state", BCON_UTF8(txn_state_name(to)),
               "decided_at", BCON_DATE_TIME(db_now_ms()));
  bool dup;
  bool ok = insert_once(&t, doc, &dup, "2pc decide", err);
  bson_destroy(doc);
  target_close(&t);
  if (!ok) {
    return false;
  }
  *actual = to;
  if (dup) {
    bool decided;
    if (!read_decision(shards, txn_id, actual, &decided, err)) {
      return false;
    }
    if (!decided) {
      *actual = TXN_ABORTED; /* collected meanwhile: only aborts can be */
    }
  }
  /* Every decision document holds what a decide wrote: never pending. */
  assert(*actual == TXN_COMMITTED || *actual == TXN_ABORTED);
  return true;
}

/* The record's state is set here, not at the decision: it is only for
 * people reading the log (nothing reads it), and a write more per
 * transaction at decide cost a read and an update on FerretDB. */
static bool mongo_finish(void *impl, const char *txn_id, txn_state_t state,
                         chorus_error_t *err) {
  shards_t *shards = ((store_mongo_t *)impl)->shards;
  assert(state == TXN_COMMITTED || state == TXN_ABORTED); /* decided */
  target_t t;
  if (!log_open(shards, STORE_MONGO_RECORDS, txn_id, &t, err)) {
    return false;
  }
  bson_t *filter = BCON_NEW("_id", BCON_UTF8(txn_id));
  bson_t *update = BCON_NEW(
      "$set", "{", "state", BCON_UTF8(txn_state_name(state)), "done",
      BCON_BOOL(true), "finished_at", BCON_DATE_TIME(db_now_ms()), "}");
  bool ok = run_update(&t, filter, update, err);
  bson_destroy(update);
  bson_destroy(filter);
  target_close(&t);
  if (ok) {
    unmark_open(shards, txn_id);
  }
  return ok;
}

static bool mongo_get_state(void *impl, const char *txn_id, txn_state_t *state,
                            bool *found, bool *done, chorus_error_t *err) {
  shards_t *shards = ((store_mongo_t *)impl)->shards;
  bool decided;
  *done = false;
  *found = false;
  if (!read_decision(shards, txn_id, state, &decided, err)) {
    return false;
  }
  target_t t;
  if (!log_open(shards, STORE_MONGO_RECORDS, txn_id, &t, err)) {
    return false;
  }
  bson_t *rec;
  bool ok = read_by_string_id(&t, txn_id, &rec, found, err);
  bson_iter_t it;
  if (ok && *found) {
    *done = bson_iter_init_find(&it, rec, "done") &&
            BSON_ITER_HOLDS_BOOL(&it) && bson_iter_bool(&it);
  }
  if (rec) {
    bson_destroy(rec);
  }
  target_close(&t);
  if (ok && *found && !*done) {
    /* finished by a group's finish: its marker gone (SYNC.md §3) */
    bson_t *marker = NULL;
    bool marked = true;
    if ((ok = target_open(shards, TXN_MAIN_SHARD, DB_OPEN, &t, err))) {
      ok = read_by_string_id(&t, txn_id, &marker, &marked, err);
      target_close(&t);
    }
    if (marker) {
      bson_destroy(marker);
    }
    *done = ok && !marked;
  }
  if (decided) {
    *found = true; /* a decision without its record is still a decision */
  } else {
    *state = TXN_PENDING;
  }
  return ok;
}

static bool mongo_get_decision(void *impl, const char *txn_id,
                               txn_state_t *state, bool *decided,
                               chorus_error_t *err) {
  return read_decision(((store_mongo_t *)impl)->shards, txn_id, state, decided,
                       err);
}

/* Fills txn (ops with staged_known false) and lease from a record. */
static bool load_record(const bson_t *rec, txn_t *txn, int64_t *lease) {
  bson_iter_t it, ops, o;
  txn_init(txn);
  *lease = 0;
  if (!bson_iter_init(&it, rec)) {
    return false;
  }
  while (bson_iter_next(&it)) {
    const char *key = bson_iter_key(&it);
    if (!strcmp(key, "_id") && BSON_ITER_HOLDS_UTF8(&it)) {
      bsonx_copy_utf8(&it, txn->id, sizeof txn->id);
    } else if (!strcmp(key, "lease")) {
      *lease = bsonx_as_int64(&it);
    } else if (!strcmp(key, "ops") && BSON_ITER_HOLDS_ARRAY(&it) &&
               bson_iter_recurse(&it, &ops)) {
      while (bson_iter_next(&ops) && txn->n_ops < TXN_MAX_OPS) {
        if (!bson_iter_recurse(&ops, &o)) {
          continue;
        }
        txn_op_t *op = &txn->ops[txn->n_ops++];
        memset(op, 0, sizeof *op);
        while (bson_iter_next(&o)) {
          const char *k = bson_iter_key(&o);
          if (!strcmp(k, "kind") && BSON_ITER_HOLDS_UTF8(&o)) {
            const char *kind = bson_iter_utf8(&o, NULL);
            op->kind = !strcmp(kind, "insert")   ? TXN_INSERT
                       : !strcmp(kind, "update") ? TXN_UPDATE
                                                 : TXN_DELETE;
          } else if (!strcmp(k, "shared") && BSON_ITER_HOLDS_BOOL(&o)) {
            op->shared = bson_iter_bool(&o);
          } else if (!strcmp(k, "deferred") && BSON_ITER_HOLDS_BOOL(&o)) {
            op->deferred = bson_iter_bool(&o);
          } else if (!strcmp(k, "transient") && BSON_ITER_HOLDS_BOOL(&o)) {
            op->transient = bson_iter_bool(&o);
          } else if (!strcmp(k, "fresh") && BSON_ITER_HOLDS_BOOL(&o)) {
            op->fresh = bson_iter_bool(&o);
          } else if (!strcmp(k, "doc") && BSON_ITER_HOLDS_DOCUMENT(&o) &&
                     !op->doc) {
            uint32_t len;
            const uint8_t *data;
            bson_iter_document(&o, &len, &data);
            op->doc = bson_new_from_data(data, len);
          } else if (!strcmp(k, "inc") && BSON_ITER_HOLDS_DOCUMENT(&o) &&
                     !op->inc) {
            uint32_t len;
            const uint8_t *data;
            bson_iter_document(&o, &len, &data);
            op->inc = bson_new_from_data(data, len);
          } else if (!strcmp(k, "shard")) {
            op->shard = (int)bsonx_as_int64(&o);
          } else if (!strcmp(k, "coll") && BSON_ITER_HOLDS_UTF8(&o)) {
            bsonx_copy_utf8(&o, op->coll, sizeof op->coll);
          } else if (!strcmp(k, "id")) {
            bson_value_copy(bson_iter_value(&o), &op->id);
          }
        }
      }
    }
  }
  return txn->id[0] != '\0';
}

/* Takes over a record: exactly one claimant wins the insert of claim
 * document "<txn>#<n>" for the next lease number n.  A claim whose owner
 * died before it could move the record's lease on is itself stale after
 * lease_ms, and the next number is tried then. */
static bool claim_record(shards_t *shards, const target_t *txns,
                         const txn_t *txn, int64_t lease, const char *owner,
                         int64_t now_ms, int64_t lease_ms, bool *won,
                         chorus_error_t *err) {
  target_t t;
  *won = false;
  if (!log_open(shards, STORE_MONGO_CLAIMS, txn->id, &t, err)) {
    return false;
  }
  bool ok = true;
  int64_t n = lease + 1;
  for (int tries = 0; ok && !*won && tries < 8; tries++, n++) {
    char key[TXN_ID_LEN + 24];
    snprintf(key, sizeof key, "%s#%lld", txn->id, (long long)n);
    bson_t *doc =
        BCON_NEW("_id", BCON_UTF8(key), "txn", BCON_UTF8(txn->id), "owner",
                 BCON_UTF8(owner), "at", BCON_DATE_TIME(now_ms));
    bool dup;
    ok = insert_once(&t, doc, &dup, "2pc claim", err);
    bson_destroy(doc);
    if (!ok) {
      break;
    }
    if (!dup) {
      *won = true;
      break;
    }
    /* Taken: by a live claimant (give up) or a dead one (try the next). */
    bson_t *claim;
    bool found;
    ok = read_by_string_id(&t, key, &claim, &found, err);
    bson_iter_t it;
    bool stale = ok && found && bson_iter_init_find(&it, claim, "at") &&
                 BSON_ITER_HOLDS_DATE_TIME(&it) &&
                 bson_iter_date_time(&it) + lease_ms < now_ms;
    if (claim) {
      bson_destroy(claim);
    }
    if (!stale) {
      break;
    }
  }
  target_close(&t);
  if (ok && *won) {
    bson_t *filter = BCON_NEW("_id", BCON_UTF8(txn->id));
    bson_t *update = BCON_NEW("$set", "{", "owner", BCON_UTF8(owner),
                              "deadline", BCON_DATE_TIME(now_ms + lease_ms),
                              "lease", BCON_INT64(n), "}");
    ok = run_update(txns, filter, update, err);
    bson_destroy(update);
    bson_destroy(filter);
    if (ok) {
      remark_open(shards, txn->id, now_ms + lease_ms);
    }
  }
  return ok;
}

/* Whether a record is done, and its deadline. */
static void record_status(const bson_t *rec, bool *done, int64_t *deadline) {
  bson_iter_t it;
  *done = bson_iter_init_find(&it, rec, "done") && BSON_ITER_HOLDS_BOOL(&it) &&
          bson_iter_bool(&it);
  *deadline = bson_iter_init_find(&it, rec, "deadline") &&
                      BSON_ITER_HOLDS_DATE_TIME(&it)
                  ? bson_iter_date_time(&it)
                  : 0;
}

/* Claims the transaction of record rec if it is not done and its deadline
 * has passed (*found: claimed here). */
static bool claim_if_expired(shards_t *shards, const target_t *txns,
                             const bson_t *rec, const char *owner,
                             int64_t now_ms, int64_t lease_ms, txn_t *txn,
                             bool *found, chorus_error_t *err) {
  bool done;
  int64_t deadline, lease;
  record_status(rec, &done, &deadline);
  if (done || deadline >= now_ms) {
    return true;
  }
  txn_cleanup(txn);
  if (!load_record(rec, txn, &lease)) {
    return true;
  }
  return claim_record(shards, txns, txn, lease, owner, now_ms, lease_ms, found,
                      err);
}

/* The markers past their deadline (up to 16, the longest past first):
 * each one's record claimed if it is abandoned, the marker dropped if its
 * record is done or long missing, its deadline moved on if the record's
 * was (see mark_open).  Longest past first: a claim moves its marker's
 * deadline a lease on, so every abandoned transaction comes to the front
 * in turn.  In stored order a pass could take the same 16 again and again
 * while their recoveries fail, and never one further back whose own
 * recovery is what they wait for: a server killed inside a fold leaves
 * its latches in the name of one transaction, and every other recovery
 * that needs those accounts waits until that one's frees them
 * (test_sync_group, test_recovery_takes_the_longest_expired_first). */
static bool claim_from_markers(shards_t *shards, const char *owner,
                               int64_t now_ms, int64_t lease_ms, txn_t *txn,
                               bool *found, chorus_error_t *err) {
  target_t open;
  if (!target_open(shards, TXN_MAIN_SHARD, DB_OPEN, &open, err)) {
    return false;
  }
  bson_t *filter =
      BCON_NEW("deadline", "{", "$lt", BCON_DATE_TIME(now_ms), "}");
  bson_t *opts = BCON_NEW("sort", "{", "deadline", BCON_INT32(1), "}", "limit",
                          BCON_INT64(16));
  mongoc_cursor_t *cursor =
      mongoc_collection_find_with_opts(open.coll, filter, opts, NULL);
  const bson_t *marker;
  bool ok = true;
  while (ok && !*found && mongoc_cursor_next(cursor, &marker)) {
    bson_iter_t it;
    char id[TXN_ID_LEN + 1];
    if (!bson_iter_init_find(&it, marker, "_id") ||
        !BSON_ITER_HOLDS_UTF8(&it)) {
      continue;
    }
    bsonx_copy_utf8(&it, id, sizeof id);
    int64_t at =
        bson_iter_init_find(&it, marker, "at") && BSON_ITER_HOLDS_DATE_TIME(&it)
            ? bson_iter_date_time(&it)
            : 0;
    bson_t *rec = NULL;
    bool exists, done;
    int64_t deadline;
    target_t txns;
    if (!(ok = log_open(shards, STORE_MONGO_RECORDS, id, &txns, err))) {
      break;
    }
    ok = read_by_string_id(&txns, id, &rec, &exists, err);
    if (ok && exists) {
      record_status(rec, &done, &deadline);
      if (done) {
        unmark_open(shards, id);
      } else if (deadline >= now_ms) {
        remark_open(shards, id, deadline);
      } else {
        ok = claim_if_expired(shards, &txns, rec, owner, now_ms, lease_ms, txn,
                              found, err);
      }
    } else if (ok && at + OPEN_ORPHAN_MS < now_ms) {
      unmark_open(shards, id);
    }
    if (rec) {
      bson_destroy(rec);
    }
    target_close(&txns);
  }
  ok = ok && cursor_ok(cursor, "2pc find open", err);
  mongoc_cursor_destroy(cursor);
  bson_destroy(opts);
  bson_destroy(filter);
  target_close(&open);
  return ok;
}

static bool mongo_claim(void *impl, const char *txn_id, const char *owner,
                        int64_t now_ms, int64_t lease_ms, txn_t *txn,
                        txn_state_t *state, bool *found, chorus_error_t *err) {
  shards_t *shards = ((store_mongo_t *)impl)->shards;
  *found = false;
  bool ok;
  if (txn_id) {
    target_t t;
    if (!log_open(shards, STORE_MONGO_RECORDS, txn_id, &t, err)) {
      return false;
    }
    bson_t *rec;
    bool exists;
    ok = read_by_string_id(&t, txn_id, &rec, &exists, err);
    if (ok && exists) {
      ok = claim_if_expired(shards, &t, rec, owner, now_ms, lease_ms, txn,
                            found, err);
    }
    if (rec) {
      bson_destroy(rec);
    }
    target_close(&t);
  } else {
    ok = claim_from_markers(shards, owner, now_ms, lease_ms, txn, found, err);
  }
  if (ok && *found) {
    bool decided;
    ok = read_decision(shards, txn->id, state, &decided, err);
    if (ok && !decided) {
      *state = TXN_PENDING;
    }
  }
  if (!ok || !*found) {
    txn_cleanup(txn);
    *found = false;
  }
  assert(!*found || (txn->id[0] && txn->n_ops <= TXN_MAX_OPS));
  return ok;
}

/* ---- collection of finished minutes of the log ---- */

/* Which of the transactions batch[i] with pick[i] have a document in coll
 * of shard whose `field` (a dotted path) is their id: found[i]; one find
 * ({field: {$in}}: on FerretDB a scan, so only for collections that hold
 * little, the open markers and the transient inserts not yet deleted).
 * False (err) when it could not be read. */
static bool find_by_txn(shards_t *shards, int shard, const char *coll,
                        const char *field, txn_t *batch, const bool *pick,
                        bool *found, size_t n, chorus_error_t *err) {
  bson_t ids = BSON_INITIALIZER;
  uint32_t n_ids = 0;
  for (size_t i = 0; i < n; i++) {
    found[i] = false;
    if (pick[i]) {
      bsonx_array_append_utf8(&ids, n_ids++, batch[i].id);
    }
  }
  bool ok = true;
  target_t t;
  if (n_ids && (ok = target_open(shards, shard, coll, &t, err))) {
    if ((ok = target_live(&t, err))) {
      bson_t *filter = BCON_NEW(field, "{", "$in", BCON_ARRAY(&ids), "}");
      bson_t *opts = BCON_NEW("projection", "{", field, BCON_INT32(1), "}");
      mongoc_cursor_t *cursor =
          mongoc_collection_find_with_opts(t.coll, filter, opts, NULL);
      const bson_t *doc;
      bson_iter_t it, at;
      while (mongoc_cursor_next(cursor, &doc)) {
        if (!bson_iter_init(&it, doc) ||
            !bson_iter_find_descendant(&it, field, &at) ||
            !BSON_ITER_HOLDS_UTF8(&at)) {
          continue;
        }
        const char *id = bson_iter_utf8(&at, NULL);
        for (size_t i = 0; i < n; i++) {
          found[i] = found[i] || (pick[i] && !strcmp(batch[i].id, id));
        }
      }
      ok = cursor_ok(cursor, "2pc collect", err);
      mongoc_cursor_destroy(cursor);
      bson_destroy(opts);
      bson_destroy(filter);
    }
    target_close(&t);
  }
  bson_destroy(&ids);
  return ok;
}

/* Applies the transient inserts (txn.h) of the committed records of
 * batch[0..n) (aborted[i] false) that are still staged, before their
 * decisions go: per collection holding any, one find of the documents
 * its transactions still stage (find_by_txn on the lock's id), then the
 * commit of each (a read first: staged_known is false).  Records kept
 * already (keep[i]) are left alone; one whose transient insert could not
 * be read or applied is kept too (false, err). */
static bool apply_transients(store_mongo_t *sm, txn_t *batch,
                             const bool *aborted, bool *keep, size_t n,
                             chorus_error_t *err) {
  bool ok = true;
  size_t cap = n ? n : 1;
  bool *pick = bson_malloc0(sizeof *pick * cap);
  bool *staged = bson_malloc0(sizeof *staged * cap);
  /* where[w]: the collections of the transient ops met so far */
  const txn_op_t *where[TXN_MAX_OPS];
  size_t n_where = 0;
  for (size_t i = 0; i < n; i++) {
    for (size_t k = 0; !aborted[i] && !keep[i] && k < batch[i].n_ops; k++) {
      const txn_op_t *op = &batch[i].ops[k];
      bool met = !op->transient;
      for (size_t w = 0; !met && w < n_where; w++) {
        met = where[w]->shard == op->shard && !strcmp(where[w]->coll, op->coll);
      }
      if (!met && n_where < TXN_MAX_OPS) {
        where[n_where++] = op;
      }
    }
  }
  for (size_t w = 0; w < n_where; w++) {
    const txn_op_t *in = where[w];
    for (size_t i = 0; i < n; i++) {
      pick[i] = false;
      for (size_t k = 0; !aborted[i] && !keep[i] && k < batch[i].n_ops; k++) {
        const txn_op_t *op = &batch[i].ops[k];
        pick[i] = pick[i] || (op->transient && op->shard == in->shard &&
                              !strcmp(op->coll, in->coll));
      }
    }
    if (!find_by_txn(sm->shards, in->shard, in->coll, TXN_LOCK_FIELD ".id",
                     batch, pick, staged, n, err)) {
      for (size_t i = 0; i < n; i++) {
        keep[i] = keep[i] || pick[i];
      }
      ok = false;
      continue;
    }
    for (size_t i = 0; i < n; i++) {
      for (size_t k = 0; staged[i] && k < batch[i].n_ops; k++) {
        const txn_op_t *op = &batch[i].ops[k];
        if (op->transient && op->shard == in->shard &&
            !strcmp(op->coll, in->coll) &&
            !finish_op(sm, batch[i].id, op, true, err)) {
          keep[i] = true;
          ok = false;
        }
      }
    }
  }
  bson_free(staged);
  bson_free(pick);
  return ok;
}

/* The records a sweep holds at once (each txn_t is a few KB). */
#define SWEEP_BATCH 128

static int cmp_segment(const void *a, const void *b) {
  uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
  return x < y ? -1 : x > y;
}

static int cmp_txn_id(const void *a, const void *b) { return strcmp(a, b); }

/* The minutes the log holds: each once, in order, in *segs (caller
 * frees), has_records[i] whether txns_<S> exists; from the names of the
 * main database's collections. */
static bool log_list(shards_t *shards, uint32_t **segs, bool **has_records,
                     size_t *n, chorus_error_t *err) {
  *segs = NULL;
  *has_records = NULL;
  *n = 0;
  target_t t;
  if (!target_open(shards, TXN_MAIN_SHARD, DB_OPEN, &t, err)) {
    return false;
  }
  mongoc_database_t *database =
      mongoc_client_get_database(t.client, db_name(t.db));
  bson_error_t berr;
  char **names = NULL;
  bool ok = target_live(&t, err);
  if (ok && !(names = mongoc_database_get_collection_names_with_opts(
                  database, NULL, &berr))) {
    chorus_error_from_bson(err, &berr, "2pc collect: list collections");
    ok = false;
  }
  size_t cap = 0;
  for (size_t i = 0; names && names[i]; i++) {
    cap++;
  }
  /* found[k]: minute, whether it is a records collection */
  uint32_t *found = bson_malloc0(sizeof *found * (cap ? cap : 1));
  bool *rec = bson_malloc0(sizeof *rec * (cap ? cap : 1));
  size_t m = 0;
  for (size_t i = 0; names && names[i]; i++) {
    for (int w = STORE_MONGO_RECORDS; w <= STORE_MONGO_CLAIMS; w++) {
      size_t len = strlen(log_bases[w]);
      const char *digits = names[i] + len + 1;
      if (strncmp(names[i], log_bases[w], len) || names[i][len] != '_' ||
          !*digits || strspn(digits, "0123456789") != strlen(digits) ||
          strlen(digits) > 9) {
        continue;
      }
      found[m] = (uint32_t)strtoul(digits, NULL, 10);
      rec[m++] = w == STORE_MONGO_RECORDS;
    }
  }
  *segs = bson_malloc0(sizeof **segs * (m ? m : 1));
  *has_records = bson_malloc0(sizeof **has_records * (m ? m : 1));
  uint32_t *sorted = bson_malloc0(sizeof *sorted * (m ? m : 1));
  memcpy(sorted, found, sizeof *found * m);
  qsort(sorted, m, sizeof *sorted, cmp_segment);
  for (size_t k = 0; k < m; k++) {
    if (*n && (*segs)[*n - 1] == sorted[k]) {
      continue;
    }
    (*segs)[*n] = sorted[k];
    for (size_t j = 0; j < m; j++) {
      (*has_records)[*n] =
          (*has_records)[*n] || (found[j] == sorted[k] && rec[j]);
    }
    (*n)++;
  }
  bson_free(sorted);
  bson_free(rec);
  bson_free(found);
  bson_strfreev(names);
  mongoc_database_destroy(database);
  target_close(&t);
  return ok;
}

/* Whether this server may sweep minute seg: the insert-once claim
 * txn_claims_<S>/"collect" is its own, or older than orphans_before_ms
 * (its server stopped on the way).  Two servers sweeping one minute at
 * once would each find decisions the other had just dropped, take them
 * for aborts and drop every op again (harmless, finished transactions
 * being applied, but thousands of reads). */
static bool log_claim_segment(shards_t *shards, uint32_t seg, const char *owner,
                              int64_t orphans_before_ms, bool *mine,
                              chorus_error_t *err) {
  char coll[STORE_MONGO_LOG_COLL_LEN];
  log_coll_of(STORE_MONGO_CLAIMS, seg, coll);
  target_t t;
  *mine = false;
  if (!target_open(shards, TXN_MAIN_SHARD, coll, &t, err)) {
    return false;
  }
  bson_t *doc = BCON_NEW("_id", BCON_UTF8("collect"), "owner", BCON_UTF8(owner),
                         "at", BCON_DATE_TIME(db_now_ms()));
  bool dup;
  bool ok = insert_once(&t, doc, &dup, "2pc collect claim", err);
  bson_destroy(doc);
  *mine = ok && !dup;
  bson_t *claim = NULL;
  bool found = false;
  if (ok && dup &&
      (ok = read_by_string_id(&t, "collect", &claim, &found, err)) && found) {
    bson_iter_t it;
    *mine = (bson_iter_init_find(&it, claim, "owner") &&
             BSON_ITER_HOLDS_UTF8(&it) &&
             !strcmp(bson_iter_utf8(&it, NULL), owner)) ||
            (bson_iter_init_find(&it, claim, "at") &&
             BSON_ITER_HOLDS_DATE_TIME(&it) &&
             bson_iter_date_time(&it) < orphans_before_ms);
  }
  if (claim) {
    bson_destroy(claim);
  }
  target_close(&t);
  return ok;
}

/* Whether an open marker (txn_open) belongs to minute seg: one read of
 * the markers, which are the open transactions only. */
static bool log_segment_open(shards_t *shards, uint32_t seg, bool *open,
                             chorus_error_t *err) {
  target_t t;
  *open = false;
  if (!target_open(shards, TXN_MAIN_SHARD, DB_OPEN, &t, err)) {
    return false;
  }
  bool ok = target_live(&t, err);
  if (ok) {
    bson_t filter = BSON_INITIALIZER;
    bson_t *opts = BCON_NEW("projection", "{", "_id", BCON_INT32(1), "}");
    mongoc_cursor_t *cursor =
        mongoc_collection_find_with_opts(t.coll, &filter, opts, NULL);
    const bson_t *doc;
    bson_iter_t it;
    while (mongoc_cursor_next(cursor, &doc)) {
      *open = *open || (bson_iter_init_find(&it, doc, "_id") &&
                        BSON_ITER_HOLDS_UTF8(&it) &&
                        log_segment(bson_iter_utf8(&it, NULL)) == seg);
    }
    ok = cursor_ok(cursor, "2pc collect", err);
    mongoc_cursor_destroy(cursor);
    bson_destroy(opts);
    bson_destroy(&filter);
  }
  target_close(&t);
  return ok;
}

/* The committed transactions of minute seg: their ids, sorted, in
 * *ids (caller frees; TXN_ID_LEN + 1 bytes each), *n of them. */
static bool log_committed(shards_t *shards, uint32_t seg, char **ids, size_t *n,
                          chorus_error_t *err) {
  char coll[STORE_MONGO_LOG_COLL_LEN];
  log_coll_of(STORE_MONGO_DECISIONS, seg, coll);
  *ids = NULL;
  *n = 0;
  target_t t;
  if (!target_open(shards, TXN_MAIN_SHARD, coll, &t, err)) {
    return false;
  }
  bool ok = target_live(&t, err);
  size_t cap = 0;
  if (ok) {
    bson_t *filter =
        BCON_NEW("state", BCON_UTF8(txn_state_name(TXN_COMMITTED)));
    bson_t *opts = BCON_NEW("projection", "{", "_id", BCON_INT32(1), "}");
    mongoc_cursor_t *cursor =
        mongoc_collection_find_with_opts(t.coll, filter, opts, NULL);
    const bson_t *doc;
    bson_iter_t it;
    while (mongoc_cursor_next(cursor, &doc)) {
      if (!bson_iter_init_find(&it, doc, "_id") || !BSON_ITER_HOLDS_UTF8(&it)) {
        continue;
      }
      if (*n == cap) {
        cap = cap ? 2 * cap : 256;
        *ids = bson_realloc(*ids, cap * (TXN_ID_LEN + 1));
      }
      bsonx_copy_utf8(&it, *ids + *n * (TXN_ID_LEN + 1), TXN_ID_LEN + 1);
      (*n)++;
    }
    ok = cursor_ok(cursor, "2pc collect", err);
    mongoc_cursor_destroy(cursor);
    bson_destroy(opts);
    bson_destroy(filter);
  }
  target_close(&t);
  if (*n) {
    qsort(*ids, *n, TXN_ID_LEN + 1, cmp_txn_id);
  }
  return ok;
}

/* Sweeps batch[0..n) of a minute's records: the committed ones'
 * transient inserts still staged applied, the aborted ones' ops dropped
 * once more (late locks, see store_mongo.h); *clean false when one of
 * them could not be. */
static bool sweep_batch(store_mongo_t *sm, txn_t *batch, const bool *aborted,
                        size_t n, bool *clean, chorus_error_t *err) {
  bool *keep = bson_malloc0(sizeof *keep * (n ? n : 1));
  bool ok = apply_transients(sm, batch, aborted, keep, n, err);
  for (size_t i = 0; i < n; i++) {
    for (size_t k = 0; ok && aborted[i] && k < batch[i].n_ops; k++) {
      ok = finish_op(sm, batch[i].id, &batch[i].ops[k], false, err);
    }
    *clean = *clean && !keep[i];
    txn_cleanup(&batch[i]);
  }
  *clean = *clean && ok;
  bson_free(keep);
  return ok;
}

/* Whether minute seg's records may go: none is open, each finished
 * before older_than_ms (done: finished_at; a group's member, its marker
 * gone: its deadline, within which it finished), and each is swept
 * (sweep_batch).  *n_records counts them. */
static bool log_sweep_segment(store_mongo_t *sm, uint32_t seg,
                              int64_t older_than_ms, bool *ready,
                              int64_t *n_records, chorus_error_t *err) {
  shards_t *shards = sm->shards;
  bool open;
  *ready = false;
  *n_records = 0;
  if (!log_segment_open(shards, seg, &open, err)) {
    return false;
  }
  if (open) {
    return true;
  }
  char *committed;
  size_t n_committed;
  if (!log_committed(shards, seg, &committed, &n_committed, err)) {
    bson_free(committed);
    return false;
  }
  char coll[STORE_MONGO_LOG_COLL_LEN];
  log_coll_of(STORE_MONGO_RECORDS, seg, coll);
  target_t t;
  if (!target_open(shards, TXN_MAIN_SHARD, coll, &t, err)) {
    bson_free(committed);
    return false;
  }
  bool ok = target_live(&t, err);
  bool clean = ok;
  if (ok) {
    bson_t filter = BSON_INITIALIZER;
    mongoc_cursor_t *cursor =
        mongoc_collection_find_with_opts(t.coll, &filter, NULL, NULL);
    txn_t *batch = bson_malloc0(sizeof *batch * SWEEP_BATCH);
    bool *aborted = bson_malloc0(sizeof *aborted * SWEEP_BATCH);
    size_t n = 0;
    const bson_t *rec;
    while (ok && clean && mongoc_cursor_next(cursor, &rec)) {
      bool done;
      int64_t deadline, lease;
      bson_iter_t it;
      record_status(rec, &done, &deadline);
      int64_t finished = !done ? deadline
                         : bson_iter_init_find(&it, rec, "finished_at") &&
                                 BSON_ITER_HOLDS_DATE_TIME(&it)
                             ? bson_iter_date_time(&it)
                             : INT64_MAX;
      (*n_records)++;
      if (finished >= older_than_ms) {
        clean = false; /* finished too recently */
      } else if (load_record(rec, &batch[n], &lease)) {
        /* no decision at all: it never committed */
        aborted[n] =
            !n_committed || !bsearch(batch[n].id, committed, n_committed,
                                     TXN_ID_LEN + 1, cmp_txn_id);
        n++;
      } else {
        txn_cleanup(&batch[n]);
      }
      if (n == SWEEP_BATCH) {
        ok = sweep_batch(sm, batch, aborted, n, &clean, err);
        n = 0;
      }
    }
    if (n) {
      if (ok && clean) {
        ok = sweep_batch(sm, batch, aborted, n, &clean, err);
      } else {
        for (size_t i = 0; i < n; i++) {
          txn_cleanup(&batch[i]);
        }
      }
    }
    ok = cursor_ok(cursor, "2pc collect", err) && ok;
    mongoc_cursor_destroy(cursor);
    bson_free(aborted);
    bson_free(batch);
    bson_destroy(&filter);
  }
  target_close(&t);
  bson_free(committed);
  *ready = ok && clean;
  return ok;
}

/* Drops minute seg's collections: records first, so that a sweep
 * stopped half way finds either the records (and sweeps again) or
 * none (and drops the rest). */
static bool log_drop_segment(shards_t *shards, uint32_t seg,
                             chorus_error_t *err) {
  bool ok = true;
  for (int w = STORE_MONGO_RECORDS; ok && w <= STORE_MONGO_CLAIMS; w++) {
    char coll[STORE_MONGO_LOG_COLL_LEN];
    log_coll_of((store_mongo_log_t)w, seg, coll);
    target_t t;
    if (!(ok = target_open(shards, TXN_MAIN_SHARD, coll, &t, err))) {
      break;
    }
    bson_error_t berr;
    if ((ok = target_live(&t, err)) &&
        !mongoc_collection_drop_with_opts(t.coll, NULL, &berr) &&
        berr.code != 26 /* NamespaceNotFound: dropped already */) {
      chorus_error_from_bson(err, &berr, "2pc collect: drop");
      ok = false;
    }
    target_close(&t);
  }
  return ok;
}

bool store_mongo_collect(const txn_store_t *store, const char *owner,
                         int64_t older_than_ms, int64_t orphans_before_ms,
                         int64_t *deleted, chorus_error_t *err) {
  store_mongo_t *sm = store->impl;
  uint32_t *segs;
  bool *has_records;
  size_t n;
  *deleted = 0;
  bool ok = log_list(sm->shards, &segs, &has_records, &n, err);
  for (size_t i = 0; ok && i < n; i++) {
    if (log_segment_end_ms(segs[i]) + LOG_LATE_MS > older_than_ms) {
      break; /* in order: this minute and the later ones may still grow */
    }
    bool ready = true, mine = true;
    int64_t records = 0;
    if (has_records[i]) {
      ok = log_claim_segment(sm->shards, segs[i], owner, orphans_before_ms,
                             &mine, err) &&
           (!mine || log_sweep_segment(sm, segs[i], older_than_ms, &ready,
                                       &records, err));
    }
    if (ok && mine && ready &&
        (ok = log_drop_segment(sm->shards, segs[i], err))) {
      *deleted += records;
    }
  }
  bson_free(has_records);
  bson_free(segs);
  return ok;
}

/* ---- groups (txn_execute_group) ----
 *
 * Each _many function does what its single function does for every item,
 * in one unordered bulk write per collection: the statements of one
 * command succeed or fail each on its own (writeErrors name them), and a
 * duplicate key of one goes the single function's way (a read, as after
 * insert_once's duplicate).  A command that fails as a whole fails every
 * item of it, as a single write that failed: some of its statements may
 * have landed, which every step already allows (a lost reply). */

typedef enum { BULK_INSERT, BULK_UPDATE } bulk_kind_t;

/* At most this many statements go in one update command.  FerretDB 1.24
 * keeps each statement of an update command reading from one of its
 * SQLite connections until the whole command ends (msg_update.go closes
 * the statements' queries when it returns) and takes one more for each
 * statement's write, out of at most 100 per database: one command of 100
 * statements, or two servers' commands of 60 at once, would wait for a
 * connection that only their own end frees, until the client's socket
 * times out (docs/DATABASE.md, "Bulk updates").  Each statement is its
 * own SQLite transaction there anyway, so smaller commands cost only
 * their round trips.  Inserts and deletes free their reads as they go. */
#define BULK_UPDATE_MAX 16

/* One unordered bulk command on t: see bulk_write. */
static bool bulk_command(const target_t *t, bulk_kind_t kind, bson_t *const *a,
                         bson_t *const *b, size_t n, bool *failed, bool *dup,
                         chorus_error_t *err) {
  if (!target_live(t, err)) {
    return false;
  }
  bson_t *opts = BCON_NEW("ordered", BCON_BOOL(false));
  mongoc_bulk_operation_t *bulk =
      mongoc_collection_create_bulk_operation_with_opts(t->coll, opts);
  bson_destroy(opts);
  bson_error_t berr;
  bool ok = true;
  for (size_t i = 0; i < n && ok; i++) {
    switch (kind) {
    case BULK_INSERT:
      ok = mongoc_bulk_operation_insert_with_opts(bulk, a[i], NULL, &berr);
      break;
    case BULK_UPDATE:
      ok = mongoc_bulk_operation_update_one_with_opts(bulk, a[i], b[i], NULL,
                                                      &berr);
      break;
    }
  }
  bson_t reply = BSON_INITIALIZER;
  if (ok) {
    ok = mongoc_bulk_operation_execute(bulk, &reply, &berr) != 0;
  }
  bson_iter_t it, list, e;
  bool per_statement = false;
  if (!ok && bson_iter_init_find(&it, &reply, "writeErrors") &&
      BSON_ITER_HOLDS_ARRAY(&it) && bson_iter_recurse(&it, &list)) {
    while (bson_iter_next(&list)) {
      int64_t index = -1, code = 0;
      if (bson_iter_recurse(&list, &e)) {
        while (bson_iter_next(&e)) {
          if (!strcmp(bson_iter_key(&e), "index")) {
            index = bson_iter_as_int64(&e);
          } else if (!strcmp(bson_iter_key(&e), "code")) {
            code = bson_iter_as_int64(&e);
          }
        }
      }
      if (index >= 0 && (size_t)index < n) {
        failed[index] = true;
        dup[index] = code == 11000 || code == 11001;
        per_statement = true;
      }
    }
  }
  bool wc_failed = bson_iter_init_find(&it, &reply, "writeConcernErrors") &&
                   BSON_ITER_HOLDS_ARRAY(&it) &&
                   bson_iter_recurse(&it, &list) && bson_iter_next(&list);
  if (!ok && (!per_statement || wc_failed)) {
    chorus_error_from_bson(err, &berr, "2pc bulk write");
  }
  bson_destroy(&reply);
  mongoc_bulk_operation_destroy(bulk);
  return ok || (per_statement && !wc_failed);
}

/* An unordered bulk write on t of n statements: documents (insert), or
 * filters a[i] with updates b[i] (update), each by
 * _id; updates in commands of at most BULK_UPDATE_MAX statements.
 * failed[i] and dup[i] (a duplicate key) for the statements the replies
 * name; false (err) when a command failed as a whole or its write concern
 * was not met (the commands after it are not sent). */
static bool bulk_write(const target_t *t, bulk_kind_t kind, bson_t *const *a,
                       bson_t *const *b, size_t n, bool *failed, bool *dup,
                       chorus_error_t *err) {
  memset(failed, 0, sizeof *failed * n);
  memset(dup, 0, sizeof *dup * n);
  size_t step = kind == BULK_UPDATE ? BULK_UPDATE_MAX : n;
  for (size_t i = 0; i < n; i += step) {
    size_t k = n - i < step ? n - i : step;
    if (!bulk_command(t, kind, a + i, b ? b + i : NULL, k, failed + i, dup + i,
                      err)) {
      return false;
    }
  }
  return true;
}

/* The statements of a bulk write, owned. */
typedef struct stmts {
  bson_t **a, **b;
  bool *failed, *dup;
  size_t *item; /* which item each statement is for */
  size_t n;
} stmts_t;

static void stmts_init(stmts_t *s, size_t cap) {
  cap = cap ? cap : 1;
  s->a = bson_malloc0(sizeof *s->a * cap);
  s->b = bson_malloc0(sizeof *s->b * cap);
  s->failed = bson_malloc0(sizeof *s->failed * cap);
  s->dup = bson_malloc0(sizeof *s->dup * cap);
  s->item = bson_malloc0(sizeof *s->item * cap);
  s->n = 0;
}

static void stmts_add(stmts_t *s, size_t item, bson_t *a, bson_t *b) {
  s->a[s->n] = a;
  s->b[s->n] = b;
  s->item[s->n] = item;
  s->n++;
}

static void stmts_cleanup(stmts_t *s) {
  for (size_t i = 0; i < s->n; i++) {
    bson_destroy(s->a[i]);
    if (s->b[i]) {
      bson_destroy(s->b[i]);
    }
  }
  bson_free(s->a);
  bson_free(s->b);
  bson_free(s->failed);
  bson_free(s->dup);
  bson_free(s->item);
  memset(s, 0, sizeof *s);
}

/* Runs s on coll of shard; statement i's outcome into s->failed[i] (and
 * s->dup[i]); false (err) when the command failed as a whole. */
static bool stmts_run(shards_t *shards, int shard, const char *coll,
                      bulk_kind_t kind, stmts_t *s, chorus_error_t *err) {
  target_t t;
  if (!target_open(shards, shard, coll, &t, err)) {
    return false;
  }
  bool ok = bulk_write(&t, kind, s->a, s->b, s->n, s->failed, s->dup, err);
  target_close(&t);
  return ok;
}

/* Runs the inserts s into the log collection `which` of the minute of
 * each statement's transaction (items[s->item[x]].txn_id): one command
 * per minute, two when a group straddles a minute's end.  Statement x's
 * outcome into s->failed[x] and s->dup[x]; a command that fails as a
 * whole fails each of its statements, err saying why.  Reorders s. */
static void log_stmts_run(shards_t *shards, store_mongo_log_t which,
                          const txn_item_t *items, stmts_t *s,
                          chorus_error_t *err) {
  uint32_t *seg = bson_malloc0(sizeof *seg * (s->n ? s->n : 1));
  for (size_t x = 0; x < s->n; x++) {
    seg[x] = log_segment(items[s->item[x]].txn_id);
  }
  for (size_t x = 1; x < s->n; x++) { /* minutes together, in order */
    for (size_t y = x; y > 0 && seg[y - 1] > seg[y]; y--) {
      uint32_t g = seg[y];
      seg[y] = seg[y - 1];
      seg[y - 1] = g;
      bson_t *a = s->a[y], *b = s->b[y];
      s->a[y] = s->a[y - 1];
      s->b[y] = s->b[y - 1];
      s->a[y - 1] = a;
      s->b[y - 1] = b;
      size_t item = s->item[y];
      s->item[y] = s->item[y - 1];
      s->item[y - 1] = item;
    }
  }
  for (size_t x = 0, k; x < s->n; x += k) {
    for (k = 1; x + k < s->n && seg[x + k] == seg[x]; k++) {
    }
    char coll[STORE_MONGO_LOG_COLL_LEN];
    log_coll_of(which, seg[x], coll);
    target_t t;
    bool ran = target_open(shards, TXN_MAIN_SHARD, coll, &t, err);
    if (ran) {
      ran = bulk_write(&t, BULK_INSERT, s->a + x, s->b + x, k, s->failed + x,
                       s->dup + x, err);
      target_close(&t);
    }
    for (size_t y = x; !ran && y < x + k; y++) {
      s->failed[y] = true;
      s->dup[y] = false;
    }
  }
  bson_free(seg);
}

static void mongo_begin_many(void *impl, txn_item_t *items, size_t n,
                             const char *owner, int64_t deadline_ms) {
  const store_mongo_t *sm = impl;
  shards_t *shards = sm->shards;
  stmts_t marks, recs;
  stmts_init(&marks, n);
  stmts_init(&recs, n);
  chorus_error_t err;
  chorus_error_clear(&err);
  for (size_t i = 0; i < n; i++) {
    items[i].ok = false;
    chorus_error_clear(&items[i].err);
    if (!log_id_young(items[i].txn_id, &items[i].err)) {
      continue;
    }
    bson_t mark;
    marker_doc(sm, items[i].txn, deadline_ms, &mark);
    stmts_add(&marks, i, bson_copy(&mark), NULL);
    bson_destroy(&mark);
  }
  /* The markers first: a record without one would never be recovered. */
  if (stmts_run(shards, TXN_MAIN_SHARD, DB_OPEN, BULK_INSERT, &marks, &err)) {
    for (size_t x = 0; x < marks.n; x++) {
      if (marks.failed[x] && !marks.dup[x]) {
        continue; /* a duplicate is our own earlier begin */
      }
      bson_t rec;
      record_doc(items[marks.item[x]].txn, owner, deadline_ms, &rec);
      stmts_add(&recs, marks.item[x], bson_copy(&rec), NULL);
      bson_destroy(&rec);
    }
    log_stmts_run(shards, STORE_MONGO_RECORDS, items, &recs, &err);
    for (size_t x = 0; x < recs.n; x++) {
      items[recs.item[x]].ok = !recs.failed[x] || recs.dup[x];
    }
  }
  for (size_t i = 0; i < n; i++) {
    if (!items[i].ok && !items[i].err.status) {
      items[i].err = err;
      if (!err.status) {
        chorus_error_set(&items[i].err, 500, "db_error", "2pc begin failed");
      }
    }
  }
  stmts_cleanup(&recs);
  stmts_cleanup(&marks);
}

static void mongo_decide_many(void *impl, txn_item_t *items, size_t n) {
  shards_t *shards = ((store_mongo_t *)impl)->shards;
  stmts_t s;
  stmts_init(&s, n);
  for (size_t i = 0; i < n; i++) {
    assert(items[i].state == TXN_COMMITTED || items[i].state == TXN_ABORTED);
    stmts_add(&s, i,
              BCON_NEW("_id", BCON_UTF8(items[i].txn_id), "state",
                       BCON_UTF8(txn_state_name(items[i].state)), "decided_at",
                       BCON_DATE_TIME(db_now_ms())),
              NULL);
  }
  chorus_error_t err;
  chorus_error_clear(&err);
  log_stmts_run(shards, STORE_MONGO_DECISIONS, items, &s, &err);
  for (size_t x = 0; x < s.n; x++) {
    txn_item_t *it = &items[s.item[x]];
    it->ok = !s.failed[x] || s.dup[x];
    if (s.dup[x]) {
      /* decided first by recovery: its decision counts (mongo_decide) */
      it->ok = mongo_decide(impl, it->txn_id, it->state, &it->state, &it->err);
    } else if (!it->ok) {
      it->err = err;
      if (!err.status) {
        chorus_error_set(&it->err, 500, "db_error", "2pc decide failed");
      }
    }
  }
  stmts_cleanup(&s);
}

/* A group's finish (every member committed and applied, within its
 * lease): its markers deleted in one command, and nothing written to its
 * records.  A record whose marker is gone is finished (invariant of
 * txn_open): recovery never looks for it, a claim of it by id finds
 * nothing to do but what is done already (its ops applied: each apply
 * reads first), and the collector takes it once its deadline is 30 s
 * past (store_mongo_collect).  FerretDB writes each statement of a bulk
 * update in its own SQLite transaction: setting `done` on each record
 * cost a group one write per member, the markers' delete costs one. */
static void mongo_finish_many(void *impl, txn_item_t *items, size_t n) {
  shards_t *shards = ((store_mongo_t *)impl)->shards;
  bson_t marks = BSON_INITIALIZER; /* the ids of the markers to delete */
  for (size_t i = 0; i < n; i++) {
    assert(items[i].state == TXN_COMMITTED); /* txn.c: finish_pass */
    bsonx_array_append_utf8(&marks, (uint32_t)i, items[i].txn_id);
  }
  chorus_error_t err;
  chorus_error_clear(&err);
  bool ok = false;
  target_t t;
  if (n && target_open(shards, TXN_MAIN_SHARD, DB_OPEN, &t, &err)) {
    bson_error_t berr;
    if (target_live(&t, &err)) {
      ok = db_delete_in(t.coll, "_id", &marks, &berr); /* txn_open is small */
      if (!ok) {
        chorus_error_from_bson(&err, &berr, "2pc finish");
      }
    }
    target_close(&t);
  }
  for (size_t i = 0; i < n; i++) {
    items[i].ok = ok; /* else recovery finishes it, after its deadline */
    if (!ok) {
      items[i].err = err;
      if (!err.status) {
        chorus_error_set(&items[i].err, 500, "db_error", "2pc finish failed");
      }
    }
  }
  bson_destroy(&marks);
}

/* The prepares of inserts into one collection: one bulk insert; a
 * duplicate goes prepare_insert's way (it reads what is there). */
/* s (initialised here): one insert of items[i]'s document, as make
 * builds it, per item. */
static void insert_stmts(const txn_item_t *items, size_t n,
                         void (*make)(const char *, const txn_op_t *, bson_t *),
                         stmts_t *s) {
  stmts_init(s, n);
  for (size_t i = 0; i < n; i++) {
    bson_t doc;
    make(items[i].txn_id, items[i].op, &doc);
    stmts_add(s, i, bson_copy(&doc), NULL);
    bson_destroy(&doc);
  }
}

static void prepare_inserts_many(store_mongo_t *sm, txn_item_t *items,
                                 size_t n) {
  stmts_t s;
  insert_stmts(items, n, staged_insert, &s);
  chorus_error_t err;
  chorus_error_clear(&err);
  bool ran = stmts_run(sm->shards, items[0].op->shard, items[0].op->coll,
                       BULK_INSERT, &s, &err);
  for (size_t i = 0; i < n; i++) {
    txn_item_t *it = &items[i];
    if (!ran) {
      it->vote = TXN_VOTE_ERROR;
      it->err = err;
    } else if (s.dup[i]) {
      it->vote = prepare_insert(sm->shards, it->txn_id, it->op, it->lock_owner,
                                &it->err);
    } else if (s.failed[i]) {
      it->vote = TXN_VOTE_ERROR;
      chorus_error_set(&it->err, 500, "db_error", "2pc prepare insert failed");
    } else {
      it->vote = TXN_VOTE_YES;
    }
  }
  stmts_cleanup(&s);
}

/* The fates a group's latched write uses: its own folds, then what this
 * process knows. */
typedef struct group_fates {
  store_mongo_t *sm;
  const txn_item_t *items;
  const size_t *which;
  size_t n;
  bool fold;
} group_fates_t;

static escrow_fate_t group_fate(void *ctx, const char *txn_id) {
  const group_fates_t *f = ctx;
  for (size_t i = 0; f->fold && i < f->n; i++) {
    if (!strcmp(f->items[f->which[i]].txn_id, txn_id)) {
      return ESCROW_COMMITTED;
    }
  }
  return known_fate(f->sm, txn_id);
}

/* One document of a group's latched write: its items. */
typedef struct group_doc {
  char key[200];
  size_t *which; /* indexes of its items */
  size_t n;
  bool latched; /* our latch is in the database */
  bool alone;   /* done by the single path (entry_write, finish_shared) */
  bool held;    /* its latch was another's: the whole document again */
  char (*folded)[TXN_ID_LEN + 1]; /* the committed entries its write folds */
  size_t n_folded;
} group_doc_t;

/* Appends {_id: key, txn: txn_id}, the filter of one latch, as element
 * i of the array `pairs`. */
static void latch_pair_append(bson_t *pairs, uint32_t i, const char *key,
                              const char *txn_id) {
  char index[16];
  const char *name;
  bson_uint32_to_string(i, &name, index, sizeof index);
  bson_t pair;
  BSON_APPEND_DOCUMENT_BEGIN(pairs, name, &pair);
  BSON_APPEND_UTF8(&pair, "_id", key);
  BSON_APPEND_UTF8(&pair, "txn", txn_id);
  bson_append_document_end(pairs, &pair);
}

/* Deletes the latches `pairs` names (latch_pair_append) in one command,
 * {$or: pairs}: FerretDB deletes each statement of a bulk delete in its
 * own SQLite transaction, and every latched write of a group frees one
 * latch per document it wrote; one filter deletes them all in one
 * (`locks` holds only the locks and latches held, so its scan there is
 * short; MongoDB uses the _id index for each clause).  Best effort: a
 * latch left behind is its holder's, and recovery of that transaction
 * deletes it (SYNC.md §7). */
static void delete_latches(shards_t *shards, const bson_t *pairs) {
  target_t t;
  chorus_error_t ignored;
  if (!target_open(shards, TXN_MAIN_SHARD, DB_LOCKS, &t, &ignored)) {
    return;
  }
  if (target_live(&t, &ignored)) {
    bson_t filter = BSON_INITIALIZER;
    BSON_APPEND_ARRAY(&filter, "$or", pairs);
    bson_error_t berr;
    mongoc_collection_delete_many(t.coll, &filter, NULL, NULL, &berr);
    bson_destroy(&filter);
  }
  target_close(&t);
}

/* The documents items[0..n) name (but those skip[] marks; NULL: none),
 * each with the indexes of its items, into docs (room for n, zeroed;
 * each doc's which the caller's to bson_free); returns how many. */
static size_t group_docs(const txn_item_t *items, size_t n, const bool *skip,
                         group_doc_t *docs) {
  size_t n_docs = 0;
  for (size_t i = 0; i < n; i++) {
    if (skip && skip[i]) {
      continue;
    }
    char key[200];
    lock_key(items[i].op, key, sizeof key);
    size_t d = 0;
    while (d < n_docs && strcmp(docs[d].key, key) != 0) {
      d++;
    }
    if (d == n_docs) {
      bson_strncpy(docs[d].key, key, sizeof docs[d].key);
      docs[d].which = bson_malloc0(sizeof *docs[d].which * n);
      n_docs++;
    }
    docs[d].which[docs[d].n++] = i;
  }
  return n_docs;
}

/* Inserts the latch of each of docs[0..n_docs) but those alone, named
 * after its first item's transaction, in one command (the statements
 * into latches, initialised here: outcome per statement); false (err)
 * when the command failed as a whole or open is false. */
static bool latches_take(shards_t *shards, bool open, const group_doc_t *docs,
                         size_t n_docs, const txn_item_t *items,
                         stmts_t *latches, chorus_error_t *err) {
  stmts_init(latches, n_docs);
  for (size_t d = 0; d < n_docs; d++) {
    if (!docs[d].alone) {
      stmts_add(latches, d,
                BCON_NEW("_id", BCON_UTF8(docs[d].key), "txn",
                         BCON_UTF8(items[docs[d].which[0]].txn_id), "at",
                         BCON_DATE_TIME(db_now_ms()), "latch", BCON_BOOL(true)),
                NULL);
    }
  }
  return open &&
         stmts_run(shards, TXN_MAIN_SHARD, DB_LOCKS, BULK_INSERT, latches, err);
}

/* Lets go of what latches_take took, whatever happened since (a latch
 * whose insert failed may have landed; one another held is left): one
 * command for all, each latch by its key and holder (delete_latches). */
static void latches_let_go(shards_t *shards, bool open, const stmts_t *latches,
                           const group_doc_t *docs, const txn_item_t *items) {
  bson_t held = BSON_INITIALIZER;
  uint32_t n_held = 0;
  for (size_t x = 0; x < latches->n; x++) {
    if (!latches->dup[x]) {
      const group_doc_t *gd = &docs[latches->item[x]];
      latch_pair_append(&held, n_held++, gd->key, items[gd->which[0]].txn_id);
    }
  }
  if (open && n_held) {
    delete_latches(shards, &held);
  }
  bson_destroy(&held);
}

/* The latched writes of shared ops of one collection, stage (prepare) or
 * fold (commit): every document latched in one bulk insert, each read,
 * the writes of all of them in one bulk update (by _id: FerretDB), the
 * latches deleted in one bulk delete; the items of one document share
 * its latch and its write (their increments coalesced in its entries).
 * A document whose latch another holds is left as it is: the indexes of
 * its items go into again[] (n at most), and the count is returned, for
 * entries_many to try them again.  One that (a fold) another holds
 * exclusively goes the single way, which waits.  Where writes filter
 * (MongoDB), every item goes the single way: a bulk update does not say
 * which statement matched. */
static size_t entries_try(store_mongo_t *sm, txn_item_t *items, size_t n,
                          bool fold, size_t *again) {
  shards_t *shards = sm->shards;
  const txn_op_t *op0 = items[0].op;
  group_doc_t *docs = bson_malloc0(sizeof *docs * n);
  size_t n_docs = 0;
  target_t t;
  chorus_error_t err;
  chorus_error_clear(&err);
  bool open = target_open(shards, op0->shard, op0->coll, &t, &err);
  bool by_id = open && db_filters_by_id_only(t.db);
  n_docs = group_docs(items, n, NULL, docs);
  for (size_t d = 0; d < n_docs; d++) {
    docs[d].alone = !by_id;
  }
  for (size_t i = 0; i < n; i++) {
    items[i].vote = TXN_VOTE_YES;
    items[i].ok = true;
  }
  /* Held briefly, and every other writer of these documents waits. */
  write_priority_t was = db_write_priority(WRITE_PRIORITY_URGENT);
  stmts_t latches;
  bool ran = latches_take(shards, open, docs, n_docs, items, &latches, &err);
  stmts_t writes;
  stmts_init(&writes, n_docs);
  for (size_t x = 0; x < latches.n; x++) {
    group_doc_t *gd = &docs[latches.item[x]];
    /* A latch that failed may have landed: deleted below in any case. */
    gd->latched = ran && !latches.failed[x];
    gd->held = ran && latches.dup[x];
    if (!gd->latched) {
      for (size_t j = 0; j < gd->n && !gd->held; j++) {
        items[gd->which[j]].vote = TXN_VOTE_ERROR;
        items[gd->which[j]].ok = false;
        items[gd->which[j]].err = err;
      }
      continue;
    }
    const txn_op_t *op = items[gd->which[0]].op;
    bson_t *doc;
    bool found;
    if (!read_by_id(&t, &op->id, &doc, &found, &err)) {
      for (size_t j = 0; j < gd->n; j++) {
        items[gd->which[j]].vote = TXN_VOTE_ERROR;
        items[gd->which[j]].ok = false;
        items[gd->which[j]].err = err;
      }
      continue;
    }
    char owner[TXN_ID_LEN + 1] = "";
    lock_field_read_owner(doc, owner);
    escrow_add_t *adds = bson_malloc0(sizeof *adds * (gd->n + 1));
    size_t n_adds = 0;
    for (size_t j = 0; j < gd->n; j++) {
      txn_item_t *it = &items[gd->which[j]];
      if (fold) {
        continue; /* nothing to do when absent */
      }
      if (!found) {
        it->vote = TXN_VOTE_MISSING;
      } else if (owner[0]) {
        it->vote = TXN_VOTE_LOCKED; /* an exclusive stage, a staged insert */
        bson_strncpy(it->lock_owner, owner, sizeof it->lock_owner);
      } else {
        adds[n_adds++] = (escrow_add_t){it->txn_id, it->op->inc};
      }
    }
    if (found && owner[0] && fold) {
      gd->alone = true; /* held exclusively: finish_shared waits */
    } else if (found && !owner[0]) {
      group_fates_t fates = {sm, items, gd->which, gd->n, fold};
      bson_t out, update;
      escrow_result_t res;
      escrow_rewrite(doc, group_fate, &fates, adds, n_adds, &out, &update,
                     &res);
      if (res.folded > 0) {
        gd->n_folded = committed_entries(doc, group_fate, &fates, &gd->folded);
      }
      if (res.changed) {
        bson_t *filter = bson_new();
        append_id(filter, &op->id);
        stmts_add(&writes, latches.item[x], filter, bson_copy(&update));
      }
      bson_destroy(&update);
      bson_destroy(&out);
    }
    bson_free(adds);
    if (doc) {
      bson_destroy(doc);
    }
  }
  if (open && writes.n > 0) {
    chorus_error_t werr;
    chorus_error_clear(&werr);
    bool wrote = bulk_write(&t, BULK_UPDATE, writes.a, writes.b, writes.n,
                            writes.failed, writes.dup, &werr);
    for (size_t x = 0; x < writes.n; x++) {
      if (wrote && !writes.failed[x]) {
        group_doc_t *gd = &docs[writes.item[x]];
        mark_folded(sm, gd->key, gd->folded, gd->n_folded);
        continue;
      }
      group_doc_t *gd = &docs[writes.item[x]];
      for (size_t j = 0; j < gd->n; j++) {
        txn_item_t *it = &items[gd->which[j]];
        if (it->vote == TXN_VOTE_YES) {
          it->vote = TXN_VOTE_ERROR;
          it->ok = false;
          it->err = werr;
          if (!werr.status) {
            chorus_error_set(&it->err, 500, "db_error", "2pc write failed");
          }
        }
      }
    }
  }
  latches_let_go(shards, open, &latches, docs, items); /* at once (run_batch) */
  db_write_priority(was);
  size_t n_again = 0;
  for (size_t d = 0; d < n_docs; d++) {
    for (size_t j = 0; docs[d].held && j < docs[d].n; j++) {
      again[n_again++] = docs[d].which[j];
    }
    for (size_t j = 0; docs[d].alone && j < docs[d].n; j++) {
      txn_item_t *it = &items[docs[d].which[j]];
      if (fold) {
        it->ok = finish_shared(sm, it->txn_id, it->op, true, &it->err);
      } else {
        it->vote =
            prepare_shared(sm, it->txn_id, it->op, it->lock_owner, &it->err);
      }
    }
    bson_free(docs[d].which);
    bson_free(docs[d].folded);
  }
  stmts_cleanup(&writes);
  stmts_cleanup(&latches);
  if (open) {
    target_close(&t);
  }
  bson_free(docs);
  return n_again;
}

/* entries_try, and again for the items of documents whose latch another
 * held, all of them together, after a pause (doubling, with jitter),
 * until none is left or an item's wait ends (wait_until_ms; without one,
 * OWN_WAIT_MS from the first try): then each goes the single way.  Sent
 * each the single way at once, a group of 64 likes takes its hot tweet's
 * latch 64 times in a row against the other server's group and outlives
 * its lease. */
static void entries_many(store_mongo_t *sm, txn_item_t *items, size_t n,
                         bool fold) {
  int64_t since = db_now_ms();
  int64_t pause = LATCH_SLEEP_MIN_US;
  size_t *again = bson_malloc(sizeof *again * n);
  size_t *next = bson_malloc(sizeof *next * n);
  txn_item_t *sub = bson_malloc(sizeof *sub * n);
  size_t k = entries_try(sm, items, n, fold, again);
  while (k > 0) {
    int64_t until = INT64_MAX;
    for (size_t j = 0; j < k; j++) {
      int64_t u = items[again[j]].op->wait_until_ms;
      u = u > 0 ? u : since + OWN_WAIT_MS;
      until = u < until ? u : until;
    }
    latch_pause(&pause);
    if (db_now_ms() >= until) {
      for (size_t j = 0; j < k; j++) {
        txn_item_t *it = &items[again[j]];
        if (fold) {
          it->ok = finish_shared(sm, it->txn_id, it->op, true, &it->err);
        } else {
          it->vote =
              prepare_shared(sm, it->txn_id, it->op, it->lock_owner, &it->err);
        }
      }
      break;
    }
    for (size_t j = 0; j < k; j++) {
      sub[j] = items[again[j]];
    }
    size_t k2 = entries_try(sm, sub, k, fold, next);
    for (size_t j = 0; j < k; j++) {
      items[again[j]] = sub[j];
    }
    for (size_t j = 0; j < k2; j++) {
      next[j] = again[next[j]]; /* an index into items */
    }
    memcpy(again, next, sizeof *again * k2);
    k = k2;
  }
  bson_free(sub);
  bson_free(next);
  bson_free(again);
}

/* The folds of a group's commits (one collection): only the items whose
 * entry is still on its document go to the latched write
 * (entries_many); the others are done.  Where writes go by _id
 * (FerretDB; elsewhere each item goes finish_shared's way, which reads
 * first itself), an entry is known gone when a write of this process
 * folded it (decisions_was_folded: the stage of a later transaction of
 * the same author, typically), else each document is read once, without
 * a latch.  Safe: an entry is added before its transaction's decision,
 * so after it, absent means folded by a latched write of its document
 * (another transaction's stage folds every committed entry it finds,
 * escrow_rewrite), and nothing adds it again (escrow.h; SYNC.md §4a,
 * invariant 3).  A document that cannot be read keeps its items: the
 * latched write reports. */
static void fold_many(store_mongo_t *sm, txn_item_t *items, size_t n) {
  target_t t;
  chorus_error_t err;
  chorus_error_clear(&err);
  if (!target_open(sm->shards, items[0].op->shard, items[0].op->coll, &t,
                   &err)) {
    entries_many(sm, items, n, true);
    return;
  }
  if (!db_filters_by_id_only(t.db)) {
    target_close(&t);
    entries_many(sm, items, n, true);
    return;
  }
  size_t *keep = bson_malloc(sizeof *keep * n);
  bool *seen = bson_malloc0(sizeof *seen * n);
  char(*keys)[200] = bson_malloc(sizeof *keys * n);
  for (size_t i = 0; i < n; i++) {
    lock_key(items[i].op, keys[i], sizeof keys[i]);
  }
  size_t k = 0;
  for (size_t i = 0; i < n; i++) {
    if (!seen[i] && decisions_was_folded(sm->decisions, items[i].txn_id,
                                         where_of(sm, keys[i]))) {
      seen[i] = true;
      items[i].ok = true;
    }
    if (seen[i]) {
      continue;
    }
    bson_t *doc = NULL;
    bool found = false;
    bool read = read_by_id(&t, &items[i].op->id, &doc, &found, &err);
    for (size_t j = i; j < n; j++) {
      if (seen[j] || strcmp(keys[i], keys[j]) != 0) {
        continue;
      }
      seen[j] = true;
      if (!read || (found && escrow_has(doc, items[j].txn_id))) {
        keep[k++] = j;
      } else {
        items[j].ok = true; /* folded already (or the document is gone) */
      }
    }
    if (doc) {
      bson_destroy(doc);
    }
  }
  bson_free(keys);
  target_close(&t);
  if (k > 0) {
    txn_item_t *sub = bson_malloc(sizeof *sub * k);
    for (size_t j = 0; j < k; j++) {
      sub[j] = items[keep[j]];
    }
    entries_many(sm, sub, k, true);
    for (size_t j = 0; j < k; j++) {
      items[keep[j]] = sub[j];
    }
    bson_free(sub);
  }
  bson_free(seen);
  bson_free(keep);
}

/* ---- deferred increments ----
 *
 * An increment of a collection store_mongo_defer names (the users'
 * counters) writes nothing to its document before the answer: begin puts
 * it into the transaction's open marker (marker_doc: dk, d), its prepare
 * votes yes at once, and its apply, after the answer (a finisher batch,
 * txn_complete, or recovery), folds it into the document with one latched
 * write per document for every transaction of the batch
 * (fold_deferred), the document's _fd then listing it (escrow.h).  A
 * reader adds the increments of committed transactions whose markers it
 * finds and the document's _fd does not list to its counters
 * (mongo_pending, for view_find); version counts a deferred increment
 * from its fold on, so a version read is the document's as folded, and
 * the version check of exclusive changes stays escrow.h's.  So a creation costs
 * the author's document no write of its own, and a batch of an author's
 * creations one.
 *
 * Exactly once: the fold of transaction T into document D happens under
 * D's latch, which it reads under; T's increment is folded in when D's
 * _fd lists T, or when T's marker is gone (a marker goes only once every
 * op of its transaction is applied, and a fold keeps an id in _fd while
 * its marker is there).  So a fold finding T's marker and T not in _fd
 * adds it, and any later one (a recovery of T, a retry) skips it. */

/* A growing list of transaction ids. */
typedef struct id_list {
  char (*id)[TXN_ID_LEN + 1];
  size_t n, cap;
} id_list_t;

static void id_list_push(id_list_t *l, const char *id) {
  if (strlen(id) != TXN_ID_LEN) {
    return;
  }
  if (l->n == l->cap) {
    l->cap = l->cap ? l->cap * 2 : 16;
    l->id = bson_realloc(l->id, sizeof *l->id * l->cap);
  }
  memcpy(l->id[l->n++], id, TXN_ID_LEN + 1);
}

static bool id_list_has(void *ctx, const char *id) {
  const id_list_t *l = ctx;
  for (size_t i = 0; i < l->n; i++) {
    if (!strcmp(l->id[i], id)) {
      return true;
    }
  }
  return false;
}

/* Appends the ids doc's _fd lists to l. */
static void id_list_push_folded(id_list_t *l, const bson_t *doc) {
  bson_iter_t it, a;
  if (doc && bson_iter_init_find(&it, doc, ESCROW_FOLDED) &&
      BSON_ITER_HOLDS_ARRAY(&it) && bson_iter_recurse(&it, &a)) {
    while (bson_iter_next(&a)) {
      if (BSON_ITER_HOLDS_UTF8(&a)) {
        id_list_push(l, bson_iter_utf8(&a, NULL));
      }
    }
  }
}

/* Reads the open markers matching filter (projection: their _id, and d
 * when with_incs) and calls fn for each; false (err) when the read
 * failed. */
static bool markers_each(shards_t *shards, const bson_t *filter, bool with_incs,
                         void (*fn)(void *ctx, const bson_t *marker), void *ctx,
                         chorus_error_t *err) {
  target_t t;
  if (!target_open(shards, TXN_MAIN_SHARD, DB_OPEN, &t, err)) {
    return false;
  }
  if (!target_live(&t, err)) {
    target_close(&t);
    return false;
  }
  bson_t *opts = with_incs
                     ? BCON_NEW("projection", "{", "d", BCON_INT32(1), "}")
                     : BCON_NEW("projection", "{", "_id", BCON_INT32(1), "}");
  mongoc_cursor_t *cursor =
      mongoc_collection_find_with_opts(t.coll, filter, opts, NULL);
  const bson_t *m;
  while (mongoc_cursor_next(cursor, &m)) {
    fn(ctx, m);
  }
  bool ok = cursor_ok(cursor, "2pc markers", err);
  mongoc_cursor_destroy(cursor);
  bson_destroy(opts);
  target_close(&t);
  return ok;
}

static void push_marker_id(void *ctx, const bson_t *marker) {
  bson_iter_t it;
  if (bson_iter_init_find(&it, marker, "_id") && BSON_ITER_HOLDS_UTF8(&it)) {
    id_list_push(ctx, bson_iter_utf8(&it, NULL));
  }
}

/* Which of ids still have their open marker, into live (one read of
 * txn_open, which holds only unfinished transactions). */
static bool markers_live(shards_t *shards, const id_list_t *ids,
                         id_list_t *live, chorus_error_t *err) {
  if (ids->n == 0) {
    return true;
  }
  bson_t filter = BSON_INITIALIZER, in, list = BSON_INITIALIZER;
  for (size_t i = 0; i < ids->n; i++) {
    bsonx_array_append_utf8(&list, (uint32_t)i, ids->id[i]);
  }
  BSON_APPEND_DOCUMENT_BEGIN(&filter, "_id", &in);
  BSON_APPEND_ARRAY(&in, "$in", &list);
  bson_append_document_end(&filter, &in);
  bool ok = markers_each(shards, &filter, false, push_marker_id, live, err);
  bson_destroy(&list);
  bson_destroy(&filter);
  return ok;
}

static void fold_fail(txn_item_t *it, bool *done, const chorus_error_t *err,
                      const char *what) {
  it->ok = false;
  *done = true;
  if (err && err->status) {
    it->err = *err;
  } else {
    chorus_error_set(&it->err, 500, "db_error", "2pc: %s failed", what);
  }
}

/* One try of fold_deferred for the items not done[]: every document
 * latched in one bulk insert, each read, their markers and those their
 * _fd lists read in one query, the writes (by _id: FerretDB) in one bulk
 * update, the latches deleted in one command.  An item is done (ok, or
 * failed with err) unless its document's latch was another's or the
 * document carries an exclusive stage (its holder applies it first);
 * returns how many are not. */
static size_t fold_deferred_try(store_mongo_t *sm, txn_item_t *items, size_t n,
                                bool *done) {
  shards_t *shards = sm->shards;
  const txn_op_t *op0 = items[0].op;
  for (size_t i = 0; i < n; i++) {
    assert(items[i].op->shard == op0->shard &&
           !strcmp(items[i].op->coll, op0->coll)); /* txn.h: one collection */
  }
  group_doc_t *docs = bson_malloc0(sizeof *docs * n);
  size_t n_docs = group_docs(items, n, done, docs);
  /* read[d]: docs[d] read under its latch, into doc[d] (NULL: missing) */
  bool *read = bson_malloc0(sizeof *read * (n_docs + 1));
  bson_t **doc = bson_malloc0(sizeof *doc * (n_docs + 1));
  chorus_error_t err;
  chorus_error_clear(&err);
  target_t t;
  bool open = target_open(shards, op0->shard, op0->coll, &t, &err);
  bool by_id = open && db_filters_by_id_only(t.db);
  /* Held briefly, and every other writer of these documents waits. */
  write_priority_t was = db_write_priority(WRITE_PRIORITY_URGENT);
  stmts_t latches;
  bool ran = latches_take(shards, open, docs, n_docs, items, &latches, &err);
  id_list_t ids = {NULL, 0, 0}, live = {NULL, 0, 0};
  for (size_t x = 0; x < latches.n; x++) {
    size_t d = latches.item[x];
    group_doc_t *fd = &docs[d];
    fd->latched = ran && !latches.failed[x];
    if (!fd->latched) {
      for (size_t j = 0; j < fd->n && !(ran && latches.dup[x]); j++) {
        fold_fail(&items[fd->which[j]], &done[fd->which[j]], &err, "latch");
      }
      continue; /* another's latch: again later */
    }
    bool found;
    read[d] =
        read_by_id(&t, &items[fd->which[0]].op->id, &doc[d], &found, &err);
    if (!read[d]) {
      for (size_t j = 0; j < fd->n; j++) {
        fold_fail(&items[fd->which[j]], &done[fd->which[j]], &err, "read");
      }
      continue;
    }
    for (size_t j = 0; j < fd->n; j++) {
      id_list_push(&ids, items[fd->which[j]].txn_id);
    }
    id_list_push_folded(&ids, doc[d]);
  }
  bool marked = markers_live(shards, &ids, &live, &err);
  stmts_t writes;
  stmts_init(&writes, n_docs);
  for (size_t d = 0; d < n_docs; d++) {
    group_doc_t *fd = &docs[d];
    if (!fd->latched || !read[d]) {
      continue;
    }
    char owner[TXN_ID_LEN + 1] = "";
    lock_field_read_owner(doc[d], owner);
    if (!marked) {
      for (size_t j = 0; j < fd->n; j++) {
        fold_fail(&items[fd->which[j]], &done[fd->which[j]], &err, "markers");
      }
      continue;
    }
    if (doc[d] && owner[0]) {
      continue; /* staged exclusively: its holder applies first */
    }
    /* The fates of the entries an escrow write left on it (folded or
     * dropped by this write too). */
    entry_fates_t *fates = bson_malloc0(sizeof *fates);
    char undecided[TXN_ID_LEN + 1];
    bool fated =
        !doc[d] || fates_of_entries(sm, doc[d], fates, undecided, &err);
    escrow_add_t *adds = bson_malloc0(sizeof *adds * fd->n);
    size_t n_adds = 0;
    for (size_t j = 0; j < fd->n; j++) {
      txn_item_t *it = &items[fd->which[j]];
      if (!doc[d] || !id_list_has(&live, it->txn_id) ||
          escrow_deferred_folded(doc[d], it->txn_id)) {
        it->ok = true; /* folded already, or nothing to fold into */
        done[fd->which[j]] = true;
      } else if (!fated) {
        fold_fail(it, &done[fd->which[j]], &err, "fold");
      } else {
        adds[n_adds++] = (escrow_add_t){it->txn_id, it->op->inc};
      }
    }
    if (n_adds) {
      bson_t update, filter;
      escrow_result_t res;
      escrow_fold_deferred(doc[d], listed_fate, fates, adds, n_adds,
                           id_list_has, &live, &update, &res);
      assert(res.changed && res.deferred > 0);
      participant_filter(&t, &items[fd->which[0]].op->id, doc[d], &filter);
      if (!by_id) { /* MongoDB: a compare-and-set on _fd too */
        bson_iter_t it;
        if (bson_iter_init_find(&it, doc[d], ESCROW_FOLDED)) {
          bson_append_value(&filter, ESCROW_FOLDED, -1, bson_iter_value(&it));
        } else {
          bson_t absent;
          BSON_APPEND_DOCUMENT_BEGIN(&filter, ESCROW_FOLDED, &absent);
          BSON_APPEND_BOOL(&absent, "$exists", false);
          bson_append_document_end(&filter, &absent);
        }
      }
      stmts_add(&writes, d, bson_copy(&filter), bson_copy(&update));
      bson_destroy(&filter);
      bson_destroy(&update);
    }
    bson_free(fates);
    bson_free(adds);
  }
  chorus_error_t werr;
  chorus_error_clear(&werr);
  bool wrote = true;
  if (by_id && writes.n) {
    wrote = bulk_write(&t, BULK_UPDATE, writes.a, writes.b, writes.n,
                       writes.failed, writes.dup, &werr);
  }
  for (size_t x = 0; x < writes.n; x++) {
    group_doc_t *fd = &docs[writes.item[x]];
    bool ok = wrote && !writes.failed[x], matched = true;
    if (!by_id) {
      ok = write_participant(&t, writes.a[x], writes.b[x], &matched, &werr);
    }
    for (size_t j = 0; j < fd->n; j++) {
      size_t i = fd->which[j];
      if (done[i]) {
        continue;
      }
      if (!ok) {
        fold_fail(&items[i], &done[i], &werr, "fold");
      } else if (matched) {
        items[i].ok = true;
        done[i] = true;
      } /* else changed meanwhile (MongoDB): again */
    }
  }
  latches_let_go(shards, open, &latches, docs, items);
  db_write_priority(was);
  size_t left = 0;
  for (size_t d = 0; d < n_docs; d++) {
    for (size_t j = 0; j < docs[d].n; j++) {
      left += !done[docs[d].which[j]];
    }
    if (doc[d]) {
      bson_destroy(doc[d]);
    }
    bson_free(docs[d].which);
  }
  bson_free(doc);
  bson_free(read);
  bson_free(ids.id);
  bson_free(live.id);
  stmts_cleanup(&writes);
  stmts_cleanup(&latches);
  if (open) {
    target_close(&t);
  }
  bson_free(docs);
  return left;
}

/* The applies of committed deferred increments of one collection
 * (items[i].ok, .err): fold_deferred_try, and again for the documents
 * another held, after a pause (doubling, with jitter), until none is left
 * or an item's wait ends (wait_until_ms; without one, OWN_WAIT_MS from
 * the first try); those left fail (503), and recovery folds them. */
static void fold_deferred(store_mongo_t *sm, txn_item_t *items, size_t n) {
  int64_t since = db_now_ms(), until = INT64_MAX;
  int64_t pause = LATCH_SLEEP_MIN_US;
  bool *done = bson_malloc0(sizeof *done * n);
  for (size_t i = 0; i < n; i++) {
    assert(op_deferred(sm, items[i].op) && items[i].op->inc);
    items[i].ok = false;
    chorus_error_clear(&items[i].err);
    int64_t u = items[i].op->wait_until_ms;
    u = u > 0 ? u : since + OWN_WAIT_MS;
    until = u < until ? u : until;
  }
  while (fold_deferred_try(sm, items, n, done) > 0 && db_now_ms() < until) {
    latch_pause(&pause);
  }
  for (size_t i = 0; i < n; i++) {
    if (!done[i]) {
      chorus_error_set(&items[i].err, 503, "busy",
                       "2pc: a document stayed held; recovery folds it");
    }
  }
  bson_free(done);
}

/* What mongo_pending gathers from the markers: per document, the sum of
 * its committed increments (incs[i], NULL: none). */
typedef struct pending_ctx {
  store_mongo_t *sm;
  bson_t *const *docs;
  char (*keys)[200];
  size_t n;
  bson_t **incs;
  bool ok;
  chorus_error_t *err;
} pending_ctx_t;

static void pending_of_marker(void *arg, const bson_t *marker) {
  pending_ctx_t *c = arg;
  bson_iter_t it, list, d;
  char id[TXN_ID_LEN + 1] = "";
  if (!c->ok || !bson_iter_init_find(&it, marker, "_id") ||
      !BSON_ITER_HOLDS_UTF8(&it)) {
    return;
  }
  bsonx_copy_utf8(&it, id, sizeof id);
  if (!bson_iter_init_find(&list, marker, "d") ||
      !BSON_ITER_HOLDS_ARRAY(&list) || !bson_iter_recurse(&list, &it)) {
    return;
  }
  escrow_fate_t fate = ESCROW_UNDECIDED;
  bool looked = false;
  while (bson_iter_next(&it)) {
    const char *k = NULL;
    bson_t inc;
    bool has_inc = false;
    if (!BSON_ITER_HOLDS_DOCUMENT(&it) || !bson_iter_recurse(&it, &d)) {
      continue;
    }
    while (bson_iter_next(&d)) {
      if (!strcmp(bson_iter_key(&d), "k") && BSON_ITER_HOLDS_UTF8(&d)) {
        k = bson_iter_utf8(&d, NULL);
      } else if (!strcmp(bson_iter_key(&d), "inc") &&
                 BSON_ITER_HOLDS_DOCUMENT(&d)) {
        uint32_t len;
        const uint8_t *data;
        bson_iter_document(&d, &len, &data);
        has_inc = bson_init_static(&inc, data, len);
      }
    }
    for (size_t i = 0; k && has_inc && i < c->n; i++) {
      if (strcmp(c->keys[i], k) != 0 ||
          escrow_deferred_folded(c->docs[i], id)) {
        continue;
      }
      if (!looked) {
        looked = true;
        c->ok = lookup_fate(c->sm, id, &fate, c->err);
      }
      if (c->ok && fate == ESCROW_COMMITTED) { /* incs[i] += inc */
        bson_t empty = BSON_INITIALIZER, sum;
        escrow_add_increments(c->incs[i] ? c->incs[i] : &empty, &inc, &sum);
        if (c->incs[i]) {
          bson_destroy(c->incs[i]);
        }
        c->incs[i] = bson_copy(&sum);
        bson_destroy(&sum);
      }
    }
  }
}

/* Whether a and b carry the same _fd (both none, or equal bytes). */
static bool same_folded(const bson_t *a, const bson_t *b) {
  bson_iter_t x, y;
  bool has_x = a && bson_iter_init_find(&x, a, ESCROW_FOLDED);
  bool has_y = b && bson_iter_init_find(&y, b, ESCROW_FOLDED);
  if (!has_x || !has_y) {
    return has_x == has_y;
  }
  const bson_value_t *vx = bson_iter_value(&x), *vy = bson_iter_value(&y);
  if (vx->value_type != BSON_TYPE_ARRAY || vy->value_type != BSON_TYPE_ARRAY) {
    return false;
  }
  return vx->value.v_doc.data_len == vy->value.v_doc.data_len &&
         !memcmp(vx->value.v_doc.data, vy->value.v_doc.data,
                 vx->value.v_doc.data_len);
}

static bool mongo_pending(void *impl, const char *coll, bson_t *const *docs,
                          size_t n, bson_t **incs, bool *again,
                          chorus_error_t *err) {
  store_mongo_t *sm = impl;
  *again = false;
  for (size_t i = 0; i < n; i++) {
    incs[i] = NULL;
  }
  if (n == 0 || !coll_deferred(sm, TXN_MAIN_SHARD, coll)) {
    return true;
  }
  char(*keys)[200] = bson_malloc0(sizeof *keys * n);
  bson_value_t *ids = bson_malloc0(sizeof *ids * n);
  bson_t list = BSON_INITIALIZER;
  for (size_t i = 0; i < n; i++) {
    bson_iter_t it;
    txn_op_t op;
    memset(&op, 0, sizeof op);
    op.shard = TXN_MAIN_SHARD;
    bson_strncpy(op.coll, coll, sizeof op.coll);
    if (bson_iter_init_find(&it, docs[i], "_id")) {
      bson_value_copy(bson_iter_value(&it), &ids[i]);
      op.id = ids[i]; /* borrowed */
    }
    lock_key(&op, keys[i], sizeof keys[i]);
    bsonx_array_append_utf8(&list, (uint32_t)i, keys[i]);
  }
  /* The documents as read, then the markers naming them, then each
   * document again: a fold between the first read and the markers' would
   * hide its increments from both, so the answer holds only when no fold
   * wrote a document meanwhile (_fd unchanged: every fold changes it). */
  bson_t filter = BSON_INITIALIZER, in;
  BSON_APPEND_DOCUMENT_BEGIN(&filter, "dk", &in);
  BSON_APPEND_ARRAY(&in, "$in", &list);
  bson_append_document_end(&filter, &in);
  pending_ctx_t c = {sm, docs, keys, n, incs, true, err};
  bool ok =
      markers_each(sm->shards, &filter, true, pending_of_marker, &c, err) &&
      c.ok;
  target_t t;
  if (ok && target_open(sm->shards, TXN_MAIN_SHARD, coll, &t, err)) {
    for (size_t i = 0; ok && i < n && !*again; i++) {
      bson_t *now = NULL;
      bool found;
      ok = read_by_id(&t, &ids[i], &now, &found, err);
      *again = ok && (!found || !same_folded(docs[i], now));
      if (now) {
        bson_destroy(now);
      }
    }
    target_close(&t);
  } else {
    ok = false;
  }
  for (size_t i = 0; !ok && i < n; i++) {
    if (incs[i]) {
      bson_destroy(incs[i]);
      incs[i] = NULL;
    }
  }
  for (size_t i = 0; i < n; i++) {
    bson_value_destroy(&ids[i]);
  }
  bson_destroy(&filter);
  bson_destroy(&list);
  bson_free(ids);
  bson_free(keys);
  return ok;
}

static void mongo_prepare_many(void *impl, txn_item_t *items, size_t n) {
  store_mongo_t *sm = impl;
  assert(n > 0);
  for (size_t i = 0; i < n; i++) {
    /* one kind, one collection (txn.h) */
    assert(items[i].op->shared == items[0].op->shared);
    assert(items[i].op->shared || items[i].op->kind == TXN_INSERT);
    assert(items[i].op->fresh == items[0].op->fresh);
    assert(items[i].op->deferred == items[0].op->deferred); /* txn.h */
  }
  if (items[0].op->fresh) { /* one vote for all: writes nothing */
    chorus_error_t err;
    chorus_error_clear(&err);
    txn_vote_t vote = fresh_vote(sm->shards, items[0].op, &err);
    for (size_t i = 0; i < n; i++) {
      items[i].vote = vote;
      items[i].err = err;
    }
  } else if (op_deferred(sm, items[0].op)) {
    for (size_t i = 0; i < n; i++) {
      items[i].vote = TXN_VOTE_YES; /* in the markers begin wrote */
    }
  } else if (items[0].op->shared) {
    entries_many(sm, items, n, false);
  } else {
    prepare_inserts_many(sm, items, n);
  }
}

/* The commits of fresh inserts into one collection: one bulk insert; a
 * duplicate key is an earlier insert of the same commit. */
static void commit_fresh_many(store_mongo_t *sm, txn_item_t *items, size_t n) {
  for (size_t i = 0; i < n; i++) {
    assert(items[i].op->fresh); /* txn.c: one kind a call */
  }
  stmts_t s;
  insert_stmts(items, n, fresh_doc, &s);
  chorus_error_t err;
  chorus_error_clear(&err);
  bool ran = stmts_run(sm->shards, items[0].op->shard, items[0].op->coll,
                       BULK_INSERT, &s, &err);
  for (size_t i = 0; i < n; i++) {
    txn_item_t *it = &items[i];
    it->ok = ran && (!s.failed[i] || s.dup[i]);
    if (!it->ok) {
      it->err = err;
      if (!err.status) {
        chorus_error_set(&it->err, 500, "db_error", "2pc insert failed");
      }
    }
  }
  stmts_cleanup(&s);
}

/* The commits of one collection's ops: shared ones folded together
 * (entries_many); fresh inserts in one bulk insert (commit_fresh_many);
 * other inserts within the lease on FerretDB (commit_in_lease) in one
 * bulk update; any other the single way. */
static void mongo_commit_many(void *impl, txn_item_t *items, size_t n) {
  store_mongo_t *sm = impl;
  assert(n > 0);
  for (size_t i = 0; i < n; i++) {
    assert(items[i].op->deferred == items[0].op->deferred); /* txn.h */
  }
  if (op_deferred(sm, items[0].op)) {
    fold_deferred(sm, items, n);
    return;
  }
  if (items[0].op->shared) {
    fold_many(sm, items, n);
    return;
  }
  if (items[0].op->fresh) {
    commit_fresh_many(sm, items, n);
    return;
  }
  stmts_t s;
  stmts_init(&s, n);
  bool by_id = db_filters_by_id_only(shards_db(sm->shards, items[0].op->shard));
  for (size_t i = 0; i < n; i++) {
    txn_item_t *it = &items[i];
    assert(it->op->kind == TXN_INSERT && !it->op->fresh);
    if (!by_id || !it->op->in_lease || !it->op->staged_known) {
      it->ok = finish_op(sm, it->txn_id, it->op, true, &it->err);
      continue;
    }
    bson_t *filter = bson_new();
    append_id(filter, &it->op->id);
    stmts_add(&s, i, filter,
              BCON_NEW("$unset", "{", TXN_LOCK_FIELD, BCON_UTF8(""), "}"));
  }
  chorus_error_t err;
  chorus_error_clear(&err);
  bool ran = s.n == 0 || stmts_run(sm->shards, items[0].op->shard,
                                   items[0].op->coll, BULK_UPDATE, &s, &err);
  for (size_t x = 0; x < s.n; x++) {
    txn_item_t *it = &items[s.item[x]];
    it->ok = ran && !s.failed[x];
    if (!it->ok) {
      it->err = err;
      if (!err.status) {
        chorus_error_set(&it->err, 500, "db_error", "2pc apply failed");
      }
    }
  }
  stmts_cleanup(&s);
}

/* ---- indexes ----
 *
 * Recovery finds unfinished records through their markers' deadline,
 * readers the deferred increments of a document through dk.  The log's
 * minutes need none: their records, decisions and claims are
 * read by _id, and the collector reads a whole minute at once. */
static const db_index_t open_indexes[] = {
    {"deadline_1", "{\"deadline\": 1}", false},
    {"dk_1", "{\"dk\": 1}", false}, /* readers' deferred increments */
};

bool store_mongo_ensure_indexes(shards_t *shards, chorus_error_t *err) {
  db_t *db = shards_db(shards, TXN_MAIN_SHARD);
  return db_ensure_indexes(db, DB_OPEN, open_indexes,
                           DB_INDEX_COUNT(open_indexes), err);
}

void store_mongo_init(txn_store_t *store, shards_t *shards) {
  memset(store, 0, sizeof *store);
  store_mongo_t *sm = bson_malloc0(sizeof *sm);
  sm->shards = shards;
  sm->decisions = decisions_new();
  randombytes_buf(sm->where_key, sizeof sm->where_key);
  for (int i = 0; i < LATCH_STRIPES; i++) {
    pthread_mutex_init(&sm->stripes[i].mu, NULL);
    pthread_cond_init(&sm->stripes[i].cv, NULL);
  }
  store->impl = sm;
  store->decisions = sm->decisions;
  store->get_decision = mongo_get_decision;
  store->begin = mongo_begin;
  store->decide = mongo_decide;
  store->finish = mongo_finish;
  store->prepare = mongo_prepare;
  store->commit_op = mongo_commit_op;
  store->abort_op = mongo_abort_op;
  store->claim = mongo_claim;
  store->get_state = mongo_get_state;
  store->begin_many = mongo_begin_many;
  store->prepare_many = mongo_prepare_many;
  store->decide_many = mongo_decide_many;
  store->commit_many = mongo_commit_many;
  store->finish_many = mongo_finish_many;
  store->pending_increments = mongo_pending;
}

void store_mongo_defer(txn_store_t *store, const char *coll) {
  store_mongo_t *sm = store->impl;
  assert(sm->n_deferred < DEFERRED_COLLS_MAX);
  if (sm->n_deferred < DEFERRED_COLLS_MAX &&
      !coll_deferred(sm, TXN_MAIN_SHARD, coll)) {
    bson_strncpy(sm->deferred[sm->n_deferred++], coll, TXN_COLL_MAX);
  }
}

void store_mongo_cleanup(txn_store_t *store) {
  store_mongo_t *sm = store->impl;
  if (!sm) {
    return;
  }
  for (int i = 0; i < LATCH_STRIPES; i++) {
    pthread_cond_destroy(&sm->stripes[i].cv);
    pthread_mutex_destroy(&sm->stripes[i].mu);
  }
  decisions_free(sm->decisions);
  bson_free(sm);
  memset(store, 0, sizeof *store);
}
