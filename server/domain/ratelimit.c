/*
 * ratelimit.c - see ratelimit.h.
 */
#include "server/domain/ratelimit.h"

#include <stdio.h>

static void forget(mongoc_collection_t *coll, ratelimit_attempt_t *a) {
  for (int i = 0; a->recorded && i < 2; i++) {
    bson_t *filter = BCON_NEW("_id", BCON_OID(&a->ids[i]));
    bson_error_t berr;
    mongoc_collection_delete_one(coll, filter, NULL, NULL, &berr);
    bson_destroy(filter);
  }
  a->recorded = false;
}

/* Attempts of key since `since`, and the oldest one's time. */
static bool count_since(mongoc_collection_t *coll, const char *key,
                        int64_t since, int64_t *count, int64_t *oldest,
                        chorus_error_t *err) {
  bson_t *filter = BCON_NEW("key", BCON_UTF8(key), "at", "{", "$gt",
                            BCON_DATE_TIME(since), "}");
  bson_error_t berr;
  *count =
      mongoc_collection_count_documents(coll, filter, NULL, NULL, NULL, &berr);
  bool ok = *count >= 0;
  *oldest = since;
  if (ok) {
    bson_t *opts =
        BCON_NEW("sort", "{", "at", BCON_INT32(1), "}", "limit", BCON_INT64(1));
    mongoc_cursor_t *cursor =
        mongoc_collection_find_with_opts(coll, filter, opts, NULL);
    const bson_t *doc;
    bson_iter_t it;
    if (mongoc_cursor_next(cursor, &doc) &&
        bson_iter_init_find(&it, doc, "at") && BSON_ITER_HOLDS_DATE_TIME(&it)) {
      *oldest = bson_iter_date_time(&it);
    }
    ok = !mongoc_cursor_error(cursor, &berr);
    mongoc_cursor_destroy(cursor);
    bson_destroy(opts);
  }
  if (!ok) {
    chorus_error_from_bson(err, &berr, "count login attempts");
  }
  bson_destroy(filter);
  return ok;
}

bool ratelimit_begin(db_t *db, const ratelimit_config_t *cfg,
                     const char *name_lc, const char *address,
                     ratelimit_attempt_t *attempt, int *retry_after,
                     chorus_error_t *err) {
  int64_t now = db_now_ms(), window_ms = (int64_t)cfg->window_s * 1000;
  char keys[2][96];
  snprintf(keys[0], sizeof keys[0], "u:%s", name_lc);
  snprintf(keys[1], sizeof keys[1], "a:%s", address);
  int limits[2] = {cfg->per_user, cfg->per_address};
  mongoc_client_t *client = db_acquire(db);
  if (!client) {
    attempt->recorded = false;
    db_error_unavailable(err);
    return false;
  }
  mongoc_collection_t *coll = db_collection(db, client, DB_LOGIN_FAILURES);
  bool ok = true;
  attempt->recorded = true;
  for (int i = 0; ok && i < 2; i++) {
    bson_oid_init(&attempt->ids[i], NULL);
    bson_t *doc = BCON_NEW("_id", BCON_OID(&attempt->ids[i]), "key",
                           BCON_UTF8(keys[i]), "at", BCON_DATE_TIME(now));
    bson_error_t berr;
    if (!db_check_up(db, err)) { /* db.h: before each further command */
      ok = false;
    } else if (!mongoc_collection_insert_one(coll, doc, NULL, NULL, &berr)) {
      ok = false;
      chorus_error_from_bson(err, &berr, "record login attempt");
    }
    bson_destroy(doc);
  }
  int64_t until = 0;
  bool blocked = false;
  for (int i = 0; ok && i < 2; i++) {
    int64_t count, oldest;
    ok = db_check_up(db, err) &&
         count_since(coll, keys[i], now - window_ms, &count, &oldest, err);
    if (ok && count > limits[i]) {
      blocked = true;
      if (oldest + window_ms > until) {
        until = oldest + window_ms;
      }
    }
  }
  if ((!ok || blocked) && db_is_up(db)) {
    forget(coll, attempt);
  }
  if (ok && db_is_up(db)) {
    /* Keep the collection small: attempts older than the window. */
    bson_t *old = BCON_NEW("key", BCON_UTF8(keys[0]), "at", "{", "$lt",
                           BCON_DATE_TIME(now - window_ms), "}");
    bson_error_t berr;
    mongoc_collection_delete_many(coll, old, NULL, NULL, &berr);
    bson_destroy(old);
  }
  mongoc_collection_destroy(coll);
  db_release(db, client);
  if (ok && blocked) {
    *retry_after = (int)((until - now + 999) / 1000);
    if (*retry_after < 1) {
      *retry_after = 1;
    }
    chorus_error_set(err, 429, "rate_limited",
                     "Too many failed logins; try again in %d seconds",
                     *retry_after);
    return false;
  }
  return ok;
}

void ratelimit_end(db_t *db, ratelimit_attempt_t *attempt, bool failed) {
  if (failed || !attempt->recorded) {
    return;
  }
  mongoc_client_t *client = db_acquire(db);
  if (!client) {
    return; /* the attempt stays counted, as after any failure */
  }
  mongoc_collection_t *coll = db_collection(db, client, DB_LOGIN_FAILURES);
  forget(coll, attempt);
  mongoc_collection_destroy(coll);
  db_release(db, client);
}

static const db_index_t ratelimit_indexes[] = {
    {"key_1_at_1", "{\"key\": 1, \"at\": 1}", false},
};

bool ratelimit_ensure_indexes(db_t *db, chorus_error_t *err) {
  return db_ensure_indexes(db, DB_LOGIN_FAILURES, ratelimit_indexes,
                           DB_INDEX_COUNT(ratelimit_indexes), err);
}
