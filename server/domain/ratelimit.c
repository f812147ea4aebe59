/*
 * ratelimit.c - see ratelimit.h.
 */
#include "server/domain/ratelimit.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

/* ---- old documents, of either mechanism ---- */

#define PRUNE_EVERY_MS 60000

/* When this server last deleted old records of each collection. */
static const char *const collections[] = {
    DB_LOGIN_FAILURES, DB_RATE_REGISTRATIONS, DB_RATE_TWEETS,
    DB_RATE_FOLLOWS,   DB_RATE_LIKES,
};
#define N_COLLECTIONS (sizeof collections / sizeof collections[0])
static _Atomic int64_t last_prune[N_COLLECTIONS];

/* Deletes coll's records older than window_ms, unless this server did so
 * less than PRUNE_EVERY_MS ago (one request of many does it). */
static void prune_maybe(mongoc_collection_t *coll, const char *name,
                        int64_t now, int64_t window_ms) {
  size_t i = 0;
  while (i < N_COLLECTIONS && strcmp(collections[i], name)) {
    i++;
  }
  if (i == N_COLLECTIONS) {
    return;
  }
  int64_t last = atomic_load(&last_prune[i]);
  if (now - last < PRUNE_EVERY_MS ||
      !atomic_compare_exchange_strong(&last_prune[i], &last, now)) {
    return;
  }
  bson_t *old =
      BCON_NEW("at", "{", "$lt", BCON_DATE_TIME(now - window_ms), "}");
  bson_error_t berr;
  mongoc_collection_delete_many(coll, old, NULL, NULL, &berr);
  bson_destroy(old);
}

/* ---- insert-then-count (logins) ---- */

static void forget_in(mongoc_collection_t *coll, ratelimit_ticket_t *t) {
  for (size_t i = 0; t->recorded && i < t->n; i++) {
    bson_t *filter = BCON_NEW("_id", BCON_OID(&t->ids[i]));
    bson_error_t berr;
    mongoc_collection_delete_one(coll, filter, NULL, NULL, &berr);
    bson_destroy(filter);
  }
  t->recorded = false;
}

/* One insert command for the request's records. */
static bool record(mongoc_collection_t *coll, const ratelimit_rule_t *rules,
                   ratelimit_ticket_t *t, int64_t now, chorus_error_t *err) {
  bson_t *docs[RATELIMIT_RULES_MAX];
  for (size_t i = 0; i < t->n; i++) {
    bson_oid_init(&t->ids[i], NULL);
    docs[i] = BCON_NEW("_id", BCON_OID(&t->ids[i]), "key",
                       BCON_UTF8(rules[i].key), "at", BCON_DATE_TIME(now));
  }
  t->recorded = true; /* a failed insert may still have stored some */
  bson_error_t berr;
  bool ok = mongoc_collection_insert_many(coll, (const bson_t **)docs, t->n,
                                          NULL, NULL, &berr);
  if (!ok) {
    chorus_error_from_bson(err, &berr, "record rate-limited request");
  }
  for (size_t i = 0; i < t->n; i++) {
    bson_destroy(docs[i]);
  }
  return ok;
}

/* The records of each rule's key in its window, into t->counts: one
 * aggregation, {$match: {$or: [{key, at: {$gt: now - window}}...]}}
 * grouped by key. */
static bool count(mongoc_collection_t *coll, const ratelimit_rule_t *rules,
                  ratelimit_ticket_t *t, int64_t now, chorus_error_t *err) {
  bson_t pipeline = BSON_INITIALIZER, stages, match, body, any, group, inner;
  BSON_APPEND_ARRAY_BEGIN(&pipeline, "pipeline", &stages);
  BSON_APPEND_DOCUMENT_BEGIN(&stages, "0", &match);
  BSON_APPEND_DOCUMENT_BEGIN(&match, "$match", &body);
  BSON_APPEND_ARRAY_BEGIN(&body, "$or", &any);
  for (size_t i = 0; i < t->n; i++) {
    char k[16];
    const char *key;
    bson_uint32_to_string((uint32_t)i, &key, k, sizeof k);
    bson_t *one =
        BCON_NEW("key", BCON_UTF8(rules[i].key), "at", "{", "$gt",
                 BCON_DATE_TIME(now - (int64_t)rules[i].window_s * 1000), "}");
    BSON_APPEND_DOCUMENT(&any, key, one);
    bson_destroy(one);
  }
  bson_append_array_end(&body, &any);
  bson_append_document_end(&match, &body);
  bson_append_document_end(&stages, &match);
  BSON_APPEND_DOCUMENT_BEGIN(&stages, "1", &group);
  BSON_APPEND_DOCUMENT_BEGIN(&group, "$group", &inner);
  BSON_APPEND_UTF8(&inner, "_id", "$key");
  bson_t *sum = BCON_NEW("$sum", BCON_INT32(1));
  BSON_APPEND_DOCUMENT(&inner, "n", sum);
  bson_destroy(sum);
  bson_append_document_end(&group, &inner);
  bson_append_document_end(&stages, &group);
  bson_append_array_end(&pipeline, &stages);

  mongoc_cursor_t *cursor = mongoc_collection_aggregate(coll, MONGOC_QUERY_NONE,
                                                        &pipeline, NULL, NULL);
  const bson_t *doc;
  while (mongoc_cursor_next(cursor, &doc)) {
    bson_iter_t it;
    if (!bson_iter_init_find(&it, doc, "_id") || !BSON_ITER_HOLDS_UTF8(&it)) {
      continue;
    }
    const char *key = bson_iter_utf8(&it, NULL);
    int64_t n =
        bson_iter_init_find(&it, doc, "n") && BSON_ITER_HOLDS_NUMBER(&it)
            ? bson_iter_as_int64(&it)
            : 0;
    for (size_t i = 0; i < t->n; i++) {
      if (!strcmp(rules[i].key, key)) {
        t->counts[i] = n;
      }
    }
  }
  bson_error_t berr;
  bool ok = !mongoc_cursor_error(cursor, &berr);
  if (!ok) {
    chorus_error_from_bson(err, &berr, "count rate-limited requests");
  }
  mongoc_cursor_destroy(cursor);
  bson_destroy(&pipeline);
  return ok;
}

/* The time of the oldest record of key after since (since when none). */
static int64_t oldest_since(mongoc_collection_t *coll, const char *key,
                            int64_t since) {
  bson_t *filter = BCON_NEW("key", BCON_UTF8(key), "at", "{", "$gt",
                            BCON_DATE_TIME(since), "}");
  bson_t *opts =
      BCON_NEW("sort", "{", "at", BCON_INT32(1), "}", "limit", BCON_INT64(1));
  mongoc_cursor_t *cursor =
      mongoc_collection_find_with_opts(coll, filter, opts, NULL);
  const bson_t *doc;
  bson_iter_t it;
  int64_t oldest = since;
  if (mongoc_cursor_next(cursor, &doc) && bson_iter_init_find(&it, doc, "at") &&
      BSON_ITER_HOLDS_DATE_TIME(&it)) {
    oldest = bson_iter_date_time(&it);
  }
  mongoc_cursor_destroy(cursor);
  bson_destroy(opts);
  bson_destroy(filter);
  return oldest;
}

bool ratelimit_take(db_t *db, const char *coll_name,
                    const ratelimit_rule_t *rules, size_t n,
                    ratelimit_ticket_t *t, int *retry_after,
                    chorus_error_t *err) {
  memset(t, 0, sizeof *t);
  t->coll = coll_name;
  t->n = n < RATELIMIT_RULES_MAX ? n : RATELIMIT_RULES_MAX;
  if (t->n == 0) {
    return true;
  }
  int64_t now = db_now_ms(), widest_ms = 0;
  mongoc_client_t *client = db_acquire(db);
  if (!client) {
    db_error_unavailable(err);
    return false;
  }
  mongoc_collection_t *coll = db_collection(db, client, coll_name);
  bool ok = record(coll, rules, t, now, err) && db_check_up(db, err) &&
            count(coll, rules, t, now, err);
  /* The rule that refuses: over its limit, and of those the one whose
   * records leave the window last. */
  int64_t until = 0;
  const ratelimit_rule_t *refusing = NULL;
  for (size_t i = 0; i < t->n; i++) {
    int64_t window_ms = (int64_t)rules[i].window_s * 1000;
    widest_ms = window_ms > widest_ms ? window_ms : widest_ms;
    if (ok && rules[i].limit > 0 && t->counts[i] > rules[i].limit &&
        db_is_up(db)) {
      int64_t free_at =
          oldest_since(coll, rules[i].key, now - window_ms) + window_ms;
      if (!refusing || free_at > until) {
        refusing = &rules[i];
        until = free_at;
      }
    }
  }
  if ((!ok || refusing) && db_is_up(db)) {
    forget_in(coll, t);
  }
  if (ok && db_is_up(db)) {
    prune_maybe(coll, coll_name, now, widest_ms);
  }
  mongoc_collection_destroy(coll);
  db_release(db, client);
  if (ok && refusing) {
    int secs = (int)((until - now + 999) / 1000);
    *retry_after = secs < 1 ? 1 : secs;
    chorus_error_set(
        err, 429, "rate_limited", "Too many %s; try again in %d seconds",
        refusing->what ? refusing->what : "requests", *retry_after);
    return false;
  }
  return ok;
}

void ratelimit_forget(db_t *db, ratelimit_ticket_t *t) {
  if (!t->recorded) {
    return;
  }
  mongoc_client_t *client = db_acquire(db);
  if (!client) {
    return; /* the request stays counted, as after any failure */
  }
  mongoc_collection_t *coll = db_collection(db, client, t->coll);
  forget_in(coll, t);
  mongoc_collection_destroy(coll);
  db_release(db, client);
}

/* ---- logins ---- */

#define LOGIN_DELAY_FIRST_MS 250

int ratelimit_login_delay_ms(const ratelimit_login_t *cfg,
                             int64_t user_failures) {
  int64_t over = user_failures - cfg->slow_user;
  if (over <= 0 || cfg->delay_max_ms <= 0) {
    return 0;
  }
  int64_t ms = LOGIN_DELAY_FIRST_MS;
  for (int64_t i = 1; i < over && ms < cfg->delay_max_ms; i++) {
    ms *= 2;
  }
  return ms < cfg->delay_max_ms ? (int)ms : cfg->delay_max_ms;
}

enum { LOGIN_PAIR, LOGIN_ADDRESS, LOGIN_USER };

bool ratelimit_login_begin(db_t *db, const ratelimit_login_t *cfg,
                           const char *name_lc, const char *address,
                           ratelimit_ticket_t *t, int *delay_ms,
                           int *retry_after, chorus_error_t *err) {
  ratelimit_rule_t rules[3] = {
      [LOGIN_PAIR] = {"", cfg->per_user_address, cfg->window_s,
                      "failed logins"},
      [LOGIN_ADDRESS] = {"", cfg->per_address, cfg->window_s,
                         "failed logins from this address"},
      [LOGIN_USER] = {"", 0, cfg->window_s, NULL},
  };
  snprintf(rules[LOGIN_PAIR].key, RATELIMIT_KEY_MAX, "ua:%s@%s", name_lc,
           address);
  snprintf(rules[LOGIN_ADDRESS].key, RATELIMIT_KEY_MAX, "a:%s", address);
  snprintf(rules[LOGIN_USER].key, RATELIMIT_KEY_MAX, "u:%s", name_lc);
  *delay_ms = 0;
  if (!ratelimit_take(db, DB_LOGIN_FAILURES, rules, 3, t, retry_after, err)) {
    return false;
  }
  *delay_ms = ratelimit_login_delay_ms(cfg, t->counts[LOGIN_USER]);
  return true;
}

void ratelimit_login_end(db_t *db, ratelimit_ticket_t *t, bool failed) {
  if (!failed) {
    ratelimit_forget(db, t);
  }
}

/* ---- writes: a numbered log per key ----
 *
 * Each admitted write holds one slot document per key it falls under:
 * {_id: "<key>|<bucket>|<slot>", at: Date}, bucket = its time / window,
 * slots numbered from 0 in each bucket in the order they were taken.
 * Taking a slot is an insert of its _id, which one taker alone wins, and
 * a slot is tried only once the one before it is known taken, so the
 * slots of a bucket have no gaps.  The previous bucket's slots, then this
 * one's, number the key's writes of the last two windows: a write taking
 * slot s when the previous bucket holds p is write number p + s, and goes
 * only when write number p + s - limit is older than the window (or there
 * is none).  So any limit + 1 writes in a row span at least a window: no
 * window holds more than limit writes, on however many servers.  Every
 * operation is by _id, which FerretDB answers through an index; a count
 * (what logins use) reads the whole collection, which grows with every
 * write of the window (docs/PERFORMANCE.md, "Rate limits").  Slots are
 * deleted only by age (older than two windows), never by a request, which
 * would leave a gap.  So a write under two keys (account and address)
 * that took its slot of one and is then refused under the other keeps
 * that slot: under a burst past one limit, the other may admit fewer
 * writes than its limit in that window, never more. */

/* What this server last saw of a key: the first free slot of a bucket,
 * and how many slots the bucket before that one holds (-1: not counted). */
typedef struct hint {
  uint64_t hash; /* of collection and key; 0: none */
  int64_t bucket, next;
  int64_t prev_bucket, prev_count;
} hint_t;

/* A power of 2; a key whose hint another key's replaced starts afresh. */
#define HINTS 4096
static hint_t hints[HINTS];
static pthread_mutex_t hints_mu = PTHREAD_MUTEX_INITIALIZER;

static uint64_t key_hash(const char *coll, const char *key) {
  uint64_t h = 14695981039346656037ULL;
  for (const char *p = coll; *p; p++) {
    h = (h ^ (unsigned char)*p) * 1099511628211ULL;
  }
  h = (h ^ '|') * 1099511628211ULL;
  for (const char *p = key; *p; p++) {
    h = (h ^ (unsigned char)*p) * 1099511628211ULL;
  }
  return h ? h : 1;
}

/* One key's part in a write. */
typedef struct claim {
  const ratelimit_rule_t *rule;
  uint64_t hash;
  int64_t window_ms, bucket;
  int64_t slot;      /* the slot to take */
  int64_t prev;      /* slots of bucket - 1; -1: not counted yet */
  int64_t prev_from; /* the slots of bucket - 1 below this are taken */
  bool done;
} claim_t;

static void hint_load(claim_t *c) {
  pthread_mutex_lock(&hints_mu);
  const hint_t *h = &hints[c->hash & (HINTS - 1)];
  if (h->hash == c->hash && h->bucket == c->bucket) {
    c->slot = h->next;
  }
  if (h->hash == c->hash && h->prev_bucket == c->bucket - 1) {
    c->prev = h->prev_count;
  } else if (h->hash == c->hash && h->bucket == c->bucket - 1) {
    c->prev_from = h->next; /* seen while it was current: a lower bound */
  }
  pthread_mutex_unlock(&hints_mu);
}

static void hint_store(const claim_t *c) {
  pthread_mutex_lock(&hints_mu);
  hints[c->hash & (HINTS - 1)] =
      (hint_t){c->hash, c->bucket, c->done ? c->slot + 1 : c->slot,
               c->bucket - 1, c->prev};
  pthread_mutex_unlock(&hints_mu);
}

static void slot_id(char *out, size_t size, const char *key, int64_t bucket,
                    int64_t slot) {
  snprintf(out, size, "%s|%lld|%lld", key, (long long)bucket, (long long)slot);
}

#define SLOT_ID_MAX (RATELIMIT_KEY_MAX + 48)

/* Whether a slot is taken, and when (*at: not changed when it is not). */
static bool slot_read(db_t *db, mongoc_collection_t *coll, const char *key,
                      int64_t bucket, int64_t slot, bool *taken, int64_t *at,
                      chorus_error_t *err) {
  char id[SLOT_ID_MAX];
  slot_id(id, sizeof id, key, bucket, slot);
  if (!db_check_up(db, err)) {
    return false;
  }
  bson_t *filter = BCON_NEW("_id", BCON_UTF8(id));
  bson_t *opts = BCON_NEW("limit", BCON_INT64(1));
  mongoc_cursor_t *cursor =
      mongoc_collection_find_with_opts(coll, filter, opts, NULL);
  const bson_t *doc;
  bson_iter_t it;
  *taken = mongoc_cursor_next(cursor, &doc);
  if (*taken && bson_iter_init_find(&it, doc, "at") &&
      BSON_ITER_HOLDS_DATE_TIME(&it)) {
    *at = bson_iter_date_time(&it);
  }
  bson_error_t berr;
  bool ok = !mongoc_cursor_error(cursor, &berr);
  if (!ok) {
    chorus_error_from_bson(err, &berr, "read rate-limit slot");
  }
  mongoc_cursor_destroy(cursor);
  bson_destroy(opts);
  bson_destroy(filter);
  return ok;
}

/* The first free slot of bucket, the slots below from being taken: reads
 * from, from + 1, from + 3, from + 7 ... up to a free one, then halves the
 * gap between the last taken and it. */
static bool first_free(db_t *db, mongoc_collection_t *coll, const char *key,
                       int64_t bucket, int64_t from, int64_t *out,
                       chorus_error_t *err) {
  int64_t taken_below = from - 1, free_at = from, step = 1, at;
  bool taken = true;
  while (taken) {
    if (!slot_read(db, coll, key, bucket, free_at, &taken, &at, err)) {
      return false;
    }
    if (taken) {
      taken_below = free_at;
      free_at += step;
      step *= 2;
    }
  }
  while (free_at - taken_below > 1) {
    int64_t mid = taken_below + (free_at - taken_below) / 2;
    if (!slot_read(db, coll, key, bucket, mid, &taken, &at, err)) {
      return false;
    }
    *(taken ? &taken_below : &free_at) = mid;
  }
  *out = free_at;
  return true;
}

/* Whether c may take its slot: false in *go with *free_at, when write
 * number prev + slot - limit is inside the window, the time it leaves. */
static bool may_take(db_t *db, mongoc_collection_t *coll, claim_t *c,
                     int64_t now, bool *go, int64_t *free_at,
                     chorus_error_t *err) {
  *go = true;
  if (c->prev < 0 && !first_free(db, coll, c->rule->key, c->bucket - 1,
                                 c->prev_from, &c->prev, err)) {
    return false;
  }
  int64_t back = c->prev + c->slot - c->rule->limit;
  if (back < 0) {
    return true;
  }
  bool in_this = back >= c->prev, taken;
  int64_t at = 0;
  if (!slot_read(db, coll, c->rule->key, in_this ? c->bucket : c->bucket - 1,
                 in_this ? back - c->prev : back, &taken, &at, err)) {
    return false;
  }
  /* Absent: deleted for its age. */
  *go = !taken || at <= now - c->window_ms;
  *free_at = at + c->window_ms;
  return true;
}

/* Inserts the slots of the claims not done, in one command; a slot taken
 * meanwhile moves its claim to the next free one. */
static bool take_slots(db_t *db, mongoc_collection_t *coll, claim_t *c,
                       size_t n, int64_t now, chorus_error_t *err) {
  bson_t *docs[RATELIMIT_RULES_MAX];
  claim_t *of[RATELIMIT_RULES_MAX];
  size_t m = 0;
  for (size_t k = 0; k < n; k++) {
    if (!c[k].done) {
      char id[SLOT_ID_MAX];
      slot_id(id, sizeof id, c[k].rule->key, c[k].bucket, c[k].slot);
      of[m] = &c[k];
      docs[m++] = BCON_NEW("_id", BCON_UTF8(id), "at", BCON_DATE_TIME(now));
    }
  }
  bson_t *opts = BCON_NEW("ordered", BCON_BOOL(false));
  bson_t reply = BSON_INITIALIZER;
  bson_error_t berr = {0};
  bool dup[RATELIMIT_RULES_MAX] = {false};
  bool ok = db_check_up(db, err);
  if (ok) {
    bson_destroy(&reply); /* insert_many initializes it, whatever happens */
    ok = mongoc_collection_insert_many(coll, (const bson_t **)docs, m, opts,
                                       &reply, &berr);
  }
  if (!ok && berr.domain) {
    /* Duplicates are the slots others took; anything else fails. */
    bson_iter_t it, e;
    ok = bson_iter_init_find(&it, &reply, "writeErrors") &&
         BSON_ITER_HOLDS_ARRAY(&it) && bson_iter_recurse(&it, &e);
    while (ok && bson_iter_next(&e)) {
      bson_iter_t f;
      int64_t index = -1, code = 0;
      if (BSON_ITER_HOLDS_DOCUMENT(&e) && bson_iter_recurse(&e, &f)) {
        while (bson_iter_next(&f)) {
          if (!strcmp(bson_iter_key(&f), "index")) {
            index = bson_iter_as_int64(&f);
          } else if (!strcmp(bson_iter_key(&f), "code")) {
            code = bson_iter_as_int64(&f);
          }
        }
      }
      ok = code == 11000 && index >= 0 && (size_t)index < m;
      if (ok) {
        dup[index] = true;
      }
    }
    if (!ok) {
      chorus_error_from_bson(err, &berr, "take rate-limit slot");
    }
  }
  bson_destroy(&reply);
  bson_destroy(opts);
  for (size_t i = 0; i < m; i++) {
    bson_destroy(docs[i]);
    if (ok && dup[i]) {
      ok = first_free(db, coll, of[i]->rule->key, of[i]->bucket,
                      of[i]->slot + 1, &of[i]->slot, err);
    } else if (ok) {
      of[i]->done = true;
    }
  }
  return ok;
}

/* The numbered log's ratelimit_take for rules[0..n): nothing to forget. */
static bool take_numbered(db_t *db, const char *coll_name,
                          const ratelimit_rule_t *rules, size_t n,
                          int *retry_after, chorus_error_t *err) {
  claim_t c[RATELIMIT_RULES_MAX];
  int64_t now = db_now_ms(), widest_ms = 0;
  for (size_t k = 0; k < n; k++) {
    int64_t window_ms = (int64_t)rules[k].window_s * 1000;
    c[k] = (claim_t){&rules[k], key_hash(coll_name, rules[k].key),
                     window_ms, now / window_ms,
                     0,         -1,
                     0,         false};
    widest_ms = window_ms > widest_ms ? window_ms : widest_ms;
    hint_load(&c[k]);
  }
  mongoc_client_t *client = db_acquire(db);
  if (!client) {
    db_error_unavailable(err);
    return false;
  }
  mongoc_collection_t *coll = db_collection(db, client, coll_name);
  bool ok = true, refused = false;
  int64_t until = now;
  const ratelimit_rule_t *refusing = NULL;
  /* Each round takes a slot at least one further (a claim that lost its
   * slot moves on): within limit + 1 rounds a key goes or is refused. */
  for (bool all_done = false; ok && !refused && !all_done;) {
    for (size_t k = 0; ok && k < n; k++) {
      bool go = true;
      int64_t free_at = now;
      ok = c[k].done || may_take(db, coll, &c[k], now, &go, &free_at, err);
      if (ok && !go) {
        refused = true;
        if (!refusing || free_at > until) {
          refusing = c[k].rule;
          until = free_at;
        }
      }
    }
    if (ok && !refused) {
      now = db_now_ms();
      ok = take_slots(db, coll, c, n, now, err);
    }
    all_done = true;
    for (size_t k = 0; k < n; k++) {
      all_done = all_done && c[k].done;
    }
  }
  for (size_t k = 0; k < n; k++) {
    if (c[k].prev >= 0) {
      hint_store(&c[k]);
    }
  }
  if (ok && db_is_up(db)) {
    /* The log reads back at most the bucket before the current one. */
    prune_maybe(coll, coll_name, now, 2 * widest_ms + PRUNE_EVERY_MS);
  }
  mongoc_collection_destroy(coll);
  db_release(db, client);
  if (ok && refused) {
    int secs = (int)((until - now + 999) / 1000);
    *retry_after = secs < 1 ? 1 : secs;
    chorus_error_set(err, 429, "rate_limited",
                     "Too many %s; try again in %d seconds", refusing->what,
                     *retry_after);
    return false;
  }
  return ok;
}

/* ---- writes ---- */

static const struct {
  const char *coll;
  const char *per_account, *per_address; /* the 429's words */
} actions[RATELIMIT_ACTIONS] = {
    [RATELIMIT_REGISTER] = {DB_RATE_REGISTRATIONS, NULL,
                            "registrations from this address"},
    [RATELIMIT_TWEET] = {DB_RATE_TWEETS, "tweets from this account",
                         "tweets from this address"},
    [RATELIMIT_FOLLOW] = {DB_RATE_FOLLOWS, "follows from this account",
                          "follows from this address"},
    [RATELIMIT_LIKE] = {DB_RATE_LIKES, "likes from this account",
                        "likes from this address"},
};

bool ratelimit_gate_pass(ratelimit_gate_t *gate, ratelimit_action_t action,
                         chorus_error_t *err) {
  if (!gate || !gate->limits || !gate->limits->enabled ||
      action >= RATELIMIT_ACTIONS) {
    return true;
  }
  const ratelimit_limit_t *lim = &gate->limits->of[action];
  ratelimit_rule_t rules[2];
  size_t n = 0;
  if (gate->account && actions[action].per_account && lim->per_account > 0) {
    char hex[25];
    bson_oid_to_string(gate->account, hex);
    rules[n] = (ratelimit_rule_t){"", lim->per_account, lim->window_s,
                                  actions[action].per_account};
    snprintf(rules[n++].key, RATELIMIT_KEY_MAX, "u:%s", hex);
  }
  if (lim->per_address > 0) {
    rules[n] = (ratelimit_rule_t){"", lim->per_address, lim->window_s,
                                  actions[action].per_address};
    snprintf(rules[n++].key, RATELIMIT_KEY_MAX, "a:%s", gate->address);
  }
  return n == 0 || take_numbered(gate->db, actions[action].coll, rules, n,
                                 &gate->retry_after, err);
}

static const db_index_t login_indexes[] = {
    {"key_1_at_1", "{\"key\": 1, \"at\": 1}", false},
};

bool ratelimit_ensure_indexes(db_t *db, chorus_error_t *err) {
  /* The write limits' slots are found by _id alone. */
  return db_ensure_indexes(db, DB_LOGIN_FAILURES, login_indexes,
                           DB_INDEX_COUNT(login_indexes), err);
}
