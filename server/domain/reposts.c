/*
 * reposts.c - see reposts.h.
 */
#include "server/domain/reposts.h"

#include <sodium.h>
#include <string.h>

#include "server/domain/event_payloads.h"
#include "server/domain/notifications.h"
#include "sync/base/bsonx.h"

void reposts_id(const bson_oid_t *user, const bson_oid_t *tweet,
                bson_oid_t *id) {
  static const char tag[] = "chorus.repost";
  uint8_t in[sizeof tag + 24];
  memcpy(in, tag, sizeof tag);
  memcpy(in + sizeof tag, user->bytes, 12);
  memcpy(in + sizeof tag + 12, tweet->bytes, 12);
  uint8_t h[crypto_generichash_BYTES_MIN];
  crypto_generichash(h, sizeof h, in, sizeof in, NULL, 0);
  bson_oid_init_from_data(id, h);
}

static void repost_from_bson(const bson_t *doc, repost_t *r) {
  memset(r, 0, sizeof *r);
  bsonx_find_oid(doc, "_id", &r->id);
  bsonx_find_oid(doc, "user_id", &r->user);
  bsonx_find_oid(doc, "tweet_id", &r->tweet);
  bson_iter_t it;
  if (bson_iter_init_find(&it, doc, "created_at") &&
      BSON_ITER_HOLDS_DATE_TIME(&it)) {
    r->created_at_ms = bson_iter_date_time(&it);
  }
}

typedef struct repost_ctx {
  db_t *db;
  sync_t *sync;
  const user_t *me;
  bson_oid_t tweet_id;
  bool repost;
  bool nothing_to_do; /* unrepost of a tweet not reposted */
  tweet_t *t;
} repost_ctx_t;

static bool build_repost(void *arg, txn_t *txn, chorus_error_t *err) {
  repost_ctx_t *c = arg;
  char hex[25];
  bson_oid_to_string(&c->tweet_id, hex);
  tweet_release(c->t);
  if (!tweets_get_stored(c->db, c->sync, hex, c->t, err)) {
    return false;
  }
  bson_value_t key = {.value_type = BSON_TYPE_OID};
  reposts_id(&c->me->id, &c->tweet_id, &key.value.v_oid);
  bson_value_t tweet_key = {.value_type = BSON_TYPE_OID};
  bson_oid_copy(&c->tweet_id, &tweet_key.value.v_oid);
  int shard = shards_of_tweet(sync_shards(c->sync), &c->tweet_id);
  char coll[TWEET_COLL_LEN];
  tweets_coll(shard, coll);
  int64_t now = db_now_ms();
  if (!c->repost) {
    bson_t *doc;
    bool found;
    if (!query_by_id(c->db, c->sync, DB_REPOSTS, &key, &doc, &found, err)) {
      return false;
    }
    if (doc) {
      bson_destroy(doc);
    }
    c->nothing_to_do = !found;
    if (!found) {
      return true;
    }
    txn_add_delete(txn, TXN_MAIN_SHARD, DB_REPOSTS, &key, NULL);
  } else {
    bson_t doc = BSON_INITIALIZER;
    BSON_APPEND_OID(&doc, "_id", &key.value.v_oid);
    BSON_APPEND_OID(&doc, "user_id", &c->me->id);
    BSON_APPEND_OID(&doc, "tweet_id", &c->tweet_id);
    BSON_APPEND_DATE_TIME(&doc, "created_at", now);
    BSON_APPEND_INT64(&doc, "version", 1);
    txn_add_insert(txn, TXN_MAIN_SHARD, DB_REPOSTS, &doc);
    bson_destroy(&doc);
  }
  bson_t inc = BSON_INITIALIZER;
  BSON_APPEND_INT64(&inc, "repost_count", c->repost ? 1 : -1);
  txn_add_update(txn, shard, coll, &tweet_key, NULL, &inc, NULL);
  bson_destroy(&inc);
  event_batch_t events;
  event_batch_init(&events);
  event_add_tweet(&events, EVENT_TWEET_UPDATED, &c->tweet_id, NULL, NULL);
  event_add_repost(&events, &key.value.v_oid, &c->me->id, &c->tweet_id,
                   c->repost, now);
  if (c->repost &&
      !notifications_add(c->db, c->sync, txn, &events, &c->t->author.id,
                         NOTIFY_REPOST, &c->me->id, &c->tweet_id, err)) {
    event_batch_cleanup(&events);
    return false;
  }
  event_batch_commit(&events, txn);
  return true;
}

bool reposts_set(db_t *db, sync_t *sync, const user_t *me, const char *id_hex,
                 bool repost, ratelimit_gate_t *gate, tweet_t *out,
                 chorus_error_t *err) {
  tweet_t *t = bson_malloc0(sizeof *t);
  repost_ctx_t ctx = {db, sync, me, {{0}}, repost, false, t};
  bool ok = false, done = false;
  if (!tweets_parse_id(sync, id_hex, &ctx.tweet_id, err) ||
      !ratelimit_gate_pass(gate, RATELIMIT_LIKE, err)) {
    bson_free(t);
    return false;
  }
  for (int round = 0; round < 3 && !done; round++) {
    size_t failed;
    txn_outcome_t outcome = sync_commit(sync, build_repost, &ctx, &failed, err);
    done = outcome == TXN_OUTCOME_COMMITTED ||
           /* already reposted / already not: idempotent */
           (outcome == TXN_OUTCOME_EXISTS && repost && failed == 0) ||
           (outcome == TXN_OUTCOME_MISSING && !repost && failed == 0);
    if (done) {
      ok = tweets_get_marked(db, sync, me, id_hex, TWEETS_MARK_REPOSTED, repost,
                             out, err);
    } else if (outcome != TXN_OUTCOME_MISSING &&
               outcome != TXN_OUTCOME_EXISTS) {
      done = true; /* err set by sync_commit or the build */
    }
    /* Else the tweet went away meanwhile (the next build says 404), or
     * its notification appeared (the next build leaves it out). */
  }
  if (!done) {
    chorus_error_set(err, 409, "conflict",
                     "The tweet keeps changing; try again");
  }
  tweet_release(t);
  bson_free(t);
  return ok;
}

void reposts_pair_id(bson_t *array, uint32_t i, const bson_oid_t *user,
                     const bson_oid_t *tweet) {
  bson_oid_t id;
  reposts_id(user, tweet, &id);
  bsonx_array_append_oid(array, i, &id);
}

bool reposts_add_removal(db_t *db, sync_t *sync, txn_t *txn,
                         const bson_oid_t *tweet, size_t room, bool *more,
                         chorus_error_t *err) {
  *more = false;
  bson_t filter = BSON_INITIALIZER;
  BSON_APPEND_OID(&filter, "tweet_id", tweet);
  query_result_t r;
  /* One more than there is room for, to know whether any is left. */
  bool ok =
      query_visible(db, sync, DB_REPOSTS, &filter, NULL, room + 1, &r, err);
  bson_destroy(&filter);
  for (size_t i = 0; ok && i < r.n; i++) {
    bson_value_t key = {.value_type = BSON_TYPE_OID};
    if (i == room) {
      *more = true;
    } else if (bsonx_find_oid(r.docs[i], "_id", &key.value.v_oid)) {
      txn_add_delete(txn, TXN_MAIN_SHARD, DB_REPOSTS, &key, NULL);
    }
  }
  if (ok) {
    query_result_free(&r);
  }
  return ok;
}

typedef struct rest_ctx {
  db_t *db;
  sync_t *sync;
  const bson_oid_t *tweet;
  bool more;
} rest_ctx_t;

static bool build_rest(void *arg, txn_t *txn, chorus_error_t *err) {
  rest_ctx_t *c = arg;
  return reposts_add_removal(c->db, c->sync, txn, c->tweet,
                             REPOSTS_REMOVAL_BATCH, &c->more, err);
}

bool reposts_remove_rest(db_t *db, sync_t *sync, const bson_oid_t *tweet,
                         chorus_error_t *err) {
  rest_ctx_t c = {db, sync, tweet, true};
  for (size_t done = 0; c.more && done < REPOSTS_REMOVAL_MAX;
       done += REPOSTS_REMOVAL_BATCH) {
    size_t failed;
    switch (sync_commit(sync, build_rest, &c, &failed, err)) {
    case TXN_OUTCOME_COMMITTED:
      break;
    case TXN_OUTCOME_MISSING:
      c.more = true; /* one went away meanwhile (an unrepost): again */
      break;
    default:
      return false;
    }
  }
  return true;
}

/* Appends key: {$in: ids[0..n)} to filter. */
static void append_in(bson_t *filter, const char *key, const bson_oid_t *ids,
                      size_t n) {
  bson_t in_doc, in;
  BSON_APPEND_DOCUMENT_BEGIN(filter, key, &in_doc);
  BSON_APPEND_ARRAY_BEGIN(&in_doc, "$in", &in);
  for (size_t i = 0; i < n; i++) {
    bsonx_array_append_oid(&in, (uint32_t)i, &ids[i]);
  }
  bson_append_array_end(&in_doc, &in);
  bson_append_document_end(filter, &in_doc);
}

bool reposts_list_by_users(db_t *db, sync_t *sync, const bson_oid_t *users,
                           size_t n, const page_cursor_t *before, size_t want,
                           repost_t **out, size_t *n_out, chorus_error_t *err) {
  *out = NULL;
  *n_out = 0;
  if (n == 0) {
    return true;
  }
  bson_t filter = BSON_INITIALIZER;
  append_in(&filter, "user_id", users, n);
  if (before) {
    page_cursor_append_filter(&filter, before, false);
  }
  bson_t *sort = BCON_NEW("created_at", BCON_INT32(-1), "_id", BCON_INT32(-1));
  query_result_t r;
  bool ok = query_visible(db, sync, DB_REPOSTS, &filter, sort, want, &r, err);
  bson_destroy(sort);
  bson_destroy(&filter);
  if (ok) {
    *out = bson_malloc0(sizeof **out * (r.n ? r.n : 1));
    for (size_t i = 0; i < r.n; i++) {
      repost_from_bson(r.docs[i], &(*out)[i]);
    }
    *n_out = r.n;
    query_result_free(&r);
  }
  return ok;
}

typedef struct repost_scan {
  reposts_scan_fn fn;
  void *ctx;
} repost_scan_t;

static bool repost_doc(void *ctx, const bson_t *doc) {
  repost_scan_t *scan = ctx;
  repost_t r;
  repost_from_bson(doc, &r);
  return scan->fn(scan->ctx, &r);
}

bool reposts_scan(db_t *db, sync_t *sync, reposts_scan_fn fn, void *ctx,
                  chorus_error_t *err) {
  repost_scan_t scan = {fn, ctx};
  return query_scan(db, sync, DB_REPOSTS, NULL, repost_doc, &scan, err);
}

#define REPOSTS_OF_PAGE 256

bool reposts_of_tweets_by_users(db_t *db, sync_t *sync, const bson_oid_t *users,
                                size_t n_users, const bson_oid_t *tweets,
                                size_t n_tweets, reposts_scan_fn fn, void *ctx,
                                chorus_error_t *err) {
  bson_oid_t after = {{0}};
  bool ok = true, more = n_users > 0 && n_tweets > 0, first = true;
  bson_t *sort = BCON_NEW("_id", BCON_INT32(1));
  /* Pages in _id order, each after the last one read. */
  while (ok && more) {
    bson_t filter = BSON_INITIALIZER;
    append_in(&filter, "tweet_id", tweets, n_tweets);
    append_in(&filter, "user_id", users, n_users);
    if (!first) {
      bson_t gt;
      BSON_APPEND_DOCUMENT_BEGIN(&filter, "_id", &gt);
      BSON_APPEND_OID(&gt, "$gt", &after);
      bson_append_document_end(&filter, &gt);
    }
    query_result_t r;
    ok = query_visible(db, sync, DB_REPOSTS, &filter, sort, REPOSTS_OF_PAGE, &r,
                       err);
    bson_destroy(&filter);
    if (!ok) {
      break;
    }
    more = r.n == REPOSTS_OF_PAGE;
    for (size_t i = 0; i < r.n; i++) {
      repost_t rp;
      repost_from_bson(r.docs[i], &rp);
      after = rp.id;
      if (!fn(ctx, &rp)) {
        more = false;
        break;
      }
    }
    first = false;
    query_result_free(&r);
  }
  bson_destroy(sort);
  return ok;
}

bool reposts_get(db_t *db, sync_t *sync, const bson_oid_t *user,
                 const bson_oid_t *tweet, repost_t *out, bool *found,
                 chorus_error_t *err) {
  bson_value_t key = {.value_type = BSON_TYPE_OID};
  reposts_id(user, tweet, &key.value.v_oid);
  bson_t *doc = NULL;
  if (!query_by_id(db, sync, DB_REPOSTS, &key, &doc, found, err)) {
    return false;
  }
  if (*found) {
    repost_from_bson(doc, out);
  }
  if (doc) {
    bson_destroy(doc);
  }
  return true;
}

static const db_index_t reposts_indexes[] = {
    {"user_id_1_created_at_-1", "{\"user_id\": 1, \"created_at\": -1}", false},
    {"tweet_id_1", "{\"tweet_id\": 1}", false},
};

bool reposts_ensure_indexes(db_t *db, chorus_error_t *err) {
  return db_ensure_indexes(db, DB_REPOSTS, reposts_indexes,
                           DB_INDEX_COUNT(reposts_indexes), err);
}
