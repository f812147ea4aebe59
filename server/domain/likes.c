/*
 * likes.c - see likes.h.
 */
#include "server/domain/likes.h"

#include <stdio.h>
#include <string.h>

#include "server/domain/event_payloads.h"
#include "server/domain/notifications.h"
#include "sync/base/bsonx.h"
#include "sync/query.h"

typedef struct like_ctx {
  db_t *db;
  sync_t *sync;
  const user_t *me;
  bson_oid_t tweet_id;
  bool like;
  bool nothing_to_do; /* unlike of a tweet not liked */
} like_ctx_t;

static bool build_like(void *arg, txn_t *txn, chorus_error_t *err) {
  like_ctx_t *c = arg;
  char hex[25];
  bson_oid_to_string(&c->tweet_id, hex);
  tweet_t t;
  if (!tweets_get_stored(c->db, c->sync, hex, &t, err)) {
    return false;
  }
  tweet_release(&t); /* its author is all this needs */
  char id[BSONX_PAIR_ID_LEN + 1];
  bsonx_pair_id(&c->me->id, &c->tweet_id, id);
  bson_value_t like_key = {.value_type = BSON_TYPE_UTF8};
  like_key.value.v_utf8.str = id;
  like_key.value.v_utf8.len = (uint32_t)strlen(id);
  bson_value_t tweet_key = {.value_type = BSON_TYPE_OID};
  bson_oid_copy(&c->tweet_id, &tweet_key.value.v_oid);
  int shard = shards_of_tweet(sync_shards(c->sync), &c->tweet_id);
  char coll[TWEET_COLL_LEN];
  tweets_coll(shard, coll);
  bson_t inc = BSON_INITIALIZER;
  if (c->like) {
    bson_t doc = BSON_INITIALIZER;
    BSON_APPEND_UTF8(&doc, "_id", id);
    BSON_APPEND_OID(&doc, "user_id", &c->me->id);
    BSON_APPEND_OID(&doc, "tweet_id", &c->tweet_id);
    BSON_APPEND_DATE_TIME(&doc, "created_at", db_now_ms());
    BSON_APPEND_INT64(&doc, "version", 1);
    txn_add_insert(txn, TXN_MAIN_SHARD, DB_LIKES, &doc);
    bson_destroy(&doc);
    BSON_APPEND_INT64(&inc, "like_count", 1);
    txn_add_update(txn, shard, coll, &tweet_key, NULL, &inc, NULL);
    event_batch_t events;
    event_batch_init(&events);
    event_add_tweet(&events, EVENT_TWEET_UPDATED, &c->tweet_id, NULL, NULL);
    event_add_like(&events, &c->me->id, &c->tweet_id, true);
    if (!notifications_add(c->db, c->sync, txn, &events, &t.author.id,
                           NOTIFY_LIKE, &c->me->id, &c->tweet_id, err)) {
      event_batch_cleanup(&events);
      bson_destroy(&inc);
      return false;
    }
    event_batch_commit(&events, txn);
  } else {
    bson_t *doc;
    bool found;
    if (!query_by_id(c->db, c->sync, DB_LIKES, &like_key, &doc, &found, err)) {
      bson_destroy(&inc);
      return false;
    }
    if (doc) {
      bson_destroy(doc);
    }
    c->nothing_to_do = !found;
    if (found) {
      txn_add_delete(txn, TXN_MAIN_SHARD, DB_LIKES, &like_key, NULL);
      BSON_APPEND_INT64(&inc, "like_count", -1);
      txn_add_update(txn, shard, coll, &tweet_key, NULL, &inc, NULL);
      event_batch_t events;
      event_batch_init(&events);
      event_add_tweet(&events, EVENT_TWEET_UPDATED, &c->tweet_id, NULL, NULL);
      event_add_like(&events, &c->me->id, &c->tweet_id, false);
      event_batch_commit(&events, txn);
    }
  }
  bson_destroy(&inc);
  return true;
}

bool likes_set(db_t *db, sync_t *sync, const user_t *me, const char *id_hex,
               bool like, ratelimit_gate_t *gate, tweet_t *out,
               chorus_error_t *err) {
  like_ctx_t ctx = {db, sync, me, {{0}}, like, false};
  if (!tweets_parse_id(sync, id_hex, &ctx.tweet_id, err) ||
      !ratelimit_gate_pass(gate, RATELIMIT_LIKE, err)) {
    return false;
  }
  for (int round = 0; round < 3; round++) {
    size_t failed;
    txn_outcome_t outcome = sync_commit(sync, build_like, &ctx, &failed, err);
    bool done = outcome == TXN_OUTCOME_COMMITTED ||
                /* already liked / already not liked: idempotent */
                (outcome == TXN_OUTCOME_EXISTS && like && failed == 0) ||
                (outcome == TXN_OUTCOME_MISSING && !like && failed == 0);
    if (ctx.nothing_to_do && outcome == TXN_OUTCOME_COMMITTED) {
      done = true; /* an empty transaction: nothing was liked */
    }
    if (done) {
      return tweets_get_marked(db, sync, me, id_hex, TWEETS_MARK_LIKED, like,
                               out, err);
    }
    if (outcome == TXN_OUTCOME_MISSING || outcome == TXN_OUTCOME_EXISTS) {
      /* The tweet went away meanwhile (the next build says 404), or its
       * notification appeared (the next build leaves it out). */
      continue;
    }
    return false;
  }
  chorus_error_set(err, 409, "conflict", "The tweet keeps changing; try again");
  return false;
}

void likes_pair_id(bson_t *array, uint32_t i, const bson_oid_t *user,
                   const bson_oid_t *tweet) {
  char id[BSONX_PAIR_ID_LEN + 1], key[16];
  const char *k;
  bsonx_pair_id(user, tweet, id);
  bson_uint32_to_string(i, &k, key, sizeof key);
  BSON_APPEND_UTF8(array, k, id);
}

bool likes_scan(db_t *db, sync_t *sync, query_pair_fn fn, void *ctx,
                chorus_error_t *err) {
  return query_scan_pairs(db, sync, DB_LIKES, "user_id", "tweet_id", fn, ctx,
                          err);
}

bool likes_check(db_t *db, sync_t *sync, const bson_oid_t *user,
                 const bson_oid_t *tweet, bool *yes, chorus_error_t *err) {
  return query_pair_exists(db, sync, DB_LIKES, user, tweet, yes, err);
}

static const db_index_t likes_indexes[] = {
    {"tweet_id_1", "{\"tweet_id\": 1}", false},
};

bool likes_ensure_indexes(db_t *db, chorus_error_t *err) {
  return db_ensure_indexes(db, DB_LIKES, likes_indexes,
                           DB_INDEX_COUNT(likes_indexes), err);
}
