/*
 * ratelimit.c - see ratelimit.h.
 */
#include "ratelimit.h"

#include <stdio.h>

static void key_of(char *out, size_t size, char kind, const char *value) {
  snprintf(out, size, "%c:%s", kind, value);
}

/* Reads one counter; *count 0 when absent or its window has passed. */
static bool read_counter(mongoc_collection_t *coll, const char *key,
                         int64_t now, int64_t window_ms, int64_t *count,
                         int64_t *window_start, chorus_error_t *err) {
  bson_t *filter = BCON_NEW("_id", BCON_UTF8(key));
  mongoc_cursor_t *cursor =
      mongoc_collection_find_with_opts(coll, filter, NULL, NULL);
  const bson_t *doc;
  *count = 0;
  *window_start = now;
  if (mongoc_cursor_next(cursor, &doc)) {
    bson_iter_t it;
    int64_t start = 0, n = 0;
    if (bson_iter_init_find(&it, doc, "window_start") &&
        BSON_ITER_HOLDS_DATE_TIME(&it)) {
      start = bson_iter_date_time(&it);
    }
    if (bson_iter_init_find(&it, doc, "count") &&
        BSON_ITER_HOLDS_NUMBER(&it)) {
      n = bson_iter_as_int64(&it);
    }
    if (start + window_ms > now) {
      *count = n;
      *window_start = start;
    }
  }
  bson_error_t berr;
  bool ok = !mongoc_cursor_error(cursor, &berr);
  if (!ok) {
    chorus_error_from_bson(err, &berr, "read login failures");
  }
  mongoc_cursor_destroy(cursor);
  bson_destroy(filter);
  return ok;
}

bool ratelimit_check(db_t *db, const ratelimit_config_t *cfg,
                     const char *name_lc, const char *address,
                     int *retry_after, chorus_error_t *err) {
  int64_t now = db_now_ms(), window_ms = (int64_t)cfg->window_s * 1000;
  char keys[2][96];
  key_of(keys[0], sizeof keys[0], 'u', name_lc);
  key_of(keys[1], sizeof keys[1], 'a', address);
  int limits[2] = {cfg->per_user, cfg->per_address};
  mongoc_client_t *client = db_acquire(db);
  mongoc_collection_t *coll = db_collection(db, client, DB_LOGIN_FAILURES);
  bool ok = true, blocked = false;
  int64_t until = 0;
  for (int i = 0; ok && i < 2; i++) {
    int64_t count, start;
    ok = read_counter(coll, keys[i], now, window_ms, &count, &start, err);
    if (ok && count >= limits[i]) {
      blocked = true;
      if (start + window_ms > until) {
        until = start + window_ms;
      }
    }
  }
  mongoc_collection_destroy(coll);
  db_release(db, client);
  if (ok && blocked) {
    *retry_after = (int)((until - now + 999) / 1000);
    chorus_error_set(err, 429, "rate_limited",
                     "Too many failed logins; try again in %d seconds",
                     *retry_after);
    return false;
  }
  return ok;
}

void ratelimit_record_failure(db_t *db, const ratelimit_config_t *cfg,
                              const char *name_lc, const char *address) {
  int64_t now = db_now_ms(), window_ms = (int64_t)cfg->window_s * 1000;
  char keys[2][96];
  key_of(keys[0], sizeof keys[0], 'u', name_lc);
  key_of(keys[1], sizeof keys[1], 'a', address);
  mongoc_client_t *client = db_acquire(db);
  mongoc_collection_t *coll = db_collection(db, client, DB_LOGIN_FAILURES);
  for (int i = 0; i < 2; i++) {
    bson_error_t berr;
    bson_t reply;
    bson_t *in_window = BCON_NEW("_id", BCON_UTF8(keys[i]), "window_start",
                                 "{", "$gt", BCON_DATE_TIME(now - window_ms),
                                 "}");
    bson_t *inc = BCON_NEW("$inc", "{", "count", BCON_INT64(1), "}");
    bool ok = mongoc_collection_update_one(coll, in_window, inc, NULL, &reply,
                                           &berr);
    bson_iter_t it;
    bool counted = ok && bson_iter_init_find(&it, &reply, "matchedCount") &&
                   bson_iter_as_int64(&it) == 1;
    bson_destroy(&reply);
    if (ok && !counted) {
      /* No counter in this window: start one. */
      bson_t *id = BCON_NEW("_id", BCON_UTF8(keys[i]));
      bson_t *fresh = BCON_NEW("count", BCON_INT64(1), "window_start",
                               BCON_DATE_TIME(now));
      bson_t *opts = BCON_NEW("upsert", BCON_BOOL(true));
      mongoc_collection_replace_one(coll, id, fresh, opts, NULL, &berr);
      bson_destroy(opts);
      bson_destroy(fresh);
      bson_destroy(id);
    }
    bson_destroy(inc);
    bson_destroy(in_window);
  }
  mongoc_collection_destroy(coll);
  db_release(db, client);
}

void ratelimit_reset(db_t *db, const char *name_lc) {
  char key[96];
  key_of(key, sizeof key, 'u', name_lc);
  mongoc_client_t *client = db_acquire(db);
  mongoc_collection_t *coll = db_collection(db, client, DB_LOGIN_FAILURES);
  bson_t *filter = BCON_NEW("_id", BCON_UTF8(key));
  bson_error_t berr;
  mongoc_collection_delete_one(coll, filter, NULL, NULL, &berr);
  bson_destroy(filter);
  mongoc_collection_destroy(coll);
  db_release(db, client);
}
