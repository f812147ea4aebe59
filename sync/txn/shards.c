/*
 * shards.c - see shards.h.
 */
#include "sync/txn/shards.h"

#include <sodium.h>
#include <stdio.h>
#include <string.h>

#include "sync/txn/txn.h"

struct shards {
  db_t *main;
  int n;
  db_t *dbs[SHARDS_MAX]; /* NULL: the main database */
};

shards_t *shards_new(db_t *main, int n, const char *const *uris, int pool_size,
                     chorus_error_t *err) {
  if (n < 1 || n > SHARDS_MAX) {
    chorus_error_set(err, 500, "bad_config", "--shards must be 1 to %d",
                     SHARDS_MAX);
    return NULL;
  }
  shards_t *s = bson_malloc0(sizeof *s);
  s->main = main;
  s->n = n;
  for (int k = 0; k < n; k++) {
    if (!uris || !uris[k]) {
      continue;
    }
    bson_error_t berr;
    mongoc_uri_t *uri = mongoc_uri_new_with_error(uris[k], &berr);
    if (!uri) {
      chorus_error_set(err, 500, "bad_config", "--shard %d: %s", k,
                       berr.message);
      shards_destroy(s);
      return NULL;
    }
    const char *name = mongoc_uri_get_database(uri);
    char db_name[64];
    bson_strncpy(db_name, name ? name : "chorus", sizeof db_name);
    mongoc_uri_destroy(uri);
    s->dbs[k] = db_new(uris[k], db_name, pool_size, err);
    if (!s->dbs[k]) {
      shards_destroy(s);
      return NULL;
    }
  }
  return s;
}

void shards_destroy(shards_t *s) {
  if (!s) {
    return;
  }
  for (int k = 0; k < s->n; k++) {
    db_destroy(s->dbs[k]);
  }
  bson_free(s);
}

int shards_count(const shards_t *s) { return s->n; }

db_t *shards_db(const shards_t *s, int shard) {
  if (shard == TXN_MAIN_SHARD || shard < 0 || shard >= s->n || !s->dbs[shard]) {
    return s->main;
  }
  return s->dbs[shard];
}

void shards_tweet_coll(int shard, char out[SHARDS_COLL_LEN]) {
  snprintf(out, SHARDS_COLL_LEN, "tweets_%d", shard);
}

int shards_of_user(const shards_t *s, const bson_oid_t *user) {
  unsigned char h[8];
  crypto_generichash(h, sizeof h, user->bytes, sizeof user->bytes, NULL, 0);
  uint64_t v = 0;
  for (int i = 0; i < 8; i++) {
    v = (v << 8) | h[i];
  }
  return (int)(v % (uint64_t)s->n);
}

void shards_new_tweet_id(const shards_t *s, int shard, bson_oid_t *out) {
  (void)s;
  bson_oid_init(out, NULL);
  out->bytes[4] = (uint8_t)shard;
}

int shards_of_tweet(const shards_t *s, const bson_oid_t *id) {
  int shard = id->bytes[4];
  return shard < s->n ? shard : -1;
}

bool shards_check_count(shards_t *s, chorus_error_t *err) {
  mongoc_client_t *client = db_acquire(s->main);
  if (!client) {
    db_error_unavailable(err);
    return false;
  }
  mongoc_collection_t *coll = db_collection(s->main, client, "meta");
  bson_t *filter = BCON_NEW("_id", BCON_UTF8("shards"));
  bson_t *update = BCON_NEW("$setOnInsert", "{", "n", BCON_INT32(s->n), "}");
  bson_t *opts = BCON_NEW("upsert", BCON_BOOL(true));
  bson_error_t berr;
  bool ok =
      mongoc_collection_update_one(coll, filter, update, opts, NULL, &berr);
  if (!ok && chorus_bson_error_is_duplicate(&berr)) {
    /* Another server created it at the same moment: it exists now. */
    ok = true;
  }
  if (!ok) {
    chorus_error_from_bson(err, &berr, "record shard count");
  }
  if (ok) {
    mongoc_cursor_t *cursor =
        mongoc_collection_find_with_opts(coll, filter, NULL, NULL);
    const bson_t *doc;
    bson_iter_t it;
    int recorded = -1;
    if (mongoc_cursor_next(cursor, &doc) &&
        bson_iter_init_find(&it, doc, "n") && BSON_ITER_HOLDS_NUMBER(&it)) {
      recorded = (int)bson_iter_as_int64(&it);
    }
    if (mongoc_cursor_error(cursor, &berr)) {
      chorus_error_from_bson(err, &berr, "read shard count");
      ok = false;
    } else if (recorded != s->n) {
      chorus_error_set(err, 500, "shard_mismatch",
                       "this database was set up with %d tweet shards; "
                       "start chorusd with --shards %d",
                       recorded, recorded);
      ok = false;
    }
    mongoc_cursor_destroy(cursor);
  }
  bson_destroy(opts);
  bson_destroy(update);
  bson_destroy(filter);
  mongoc_collection_destroy(coll);
  db_release(s->main, client);
  return ok;
}
