/*
 * ratelimit.c - see ratelimit.h.
 */
#include "server/domain/ratelimit.h"

#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

/* ---- the mechanism ---- */

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
  ratelimit_ticket_t ticket;
  return ratelimit_take(gate->db, actions[action].coll, rules, n, &ticket,
                        &gate->retry_after, err);
}

static const db_index_t ratelimit_indexes[] = {
    {"key_1_at_1", "{\"key\": 1, \"at\": 1}", false},
};

bool ratelimit_ensure_indexes(db_t *db, chorus_error_t *err) {
  for (size_t i = 0; i < N_COLLECTIONS; i++) {
    if (!db_ensure_indexes(db, collections[i], ratelimit_indexes,
                           DB_INDEX_COUNT(ratelimit_indexes), err)) {
      return false;
    }
  }
  return true;
}
