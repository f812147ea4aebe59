/*
 * follows.c - see follows.h.
 */
#include "server/domain/follows.h"

#include <stdio.h>
#include <string.h>

#include "server/domain/event_payloads.h"
#include "server/domain/notifications.h"
#include "sync/base/bsonx.h"
#include "sync/query.h"

typedef struct follow_ctx {
  db_t *db;
  sync_t *sync;
  const user_t *me;
  const user_t *target;
  bool follow;
} follow_ctx_t;

static void add_counter(txn_t *txn, const bson_oid_t *user, const char *field,
                        int64_t delta) {
  bson_value_t id = {.value_type = BSON_TYPE_OID};
  bson_oid_copy(user, &id.value.v_oid);
  bson_t inc = BSON_INITIALIZER;
  BSON_APPEND_INT64(&inc, field, delta);
  txn_add_deferred_increment(txn, DB_USERS, &id, &inc); /* users.h */
  bson_destroy(&inc);
}

static bool build_follow(void *arg, txn_t *txn, chorus_error_t *err) {
  follow_ctx_t *c = arg;
  char id[BSONX_PAIR_ID_LEN + 1];
  bsonx_pair_id(&c->me->id, &c->target->id, id);
  bson_value_t key = {.value_type = BSON_TYPE_UTF8};
  key.value.v_utf8.str = id;
  key.value.v_utf8.len = (uint32_t)strlen(id);
  bool exists;
  bson_t *doc;
  if (!query_by_id(c->db, c->sync, DB_FOLLOWS, &key, &doc, &exists, err)) {
    return false;
  }
  if (doc) {
    bson_destroy(doc);
  }
  if (exists == c->follow) {
    return true; /* already so: an empty transaction */
  }
  int64_t delta = c->follow ? 1 : -1;
  if (c->follow) {
    bson_t d = BSON_INITIALIZER;
    BSON_APPEND_UTF8(&d, "_id", id);
    BSON_APPEND_OID(&d, "follower_id", &c->me->id);
    BSON_APPEND_OID(&d, "followee_id", &c->target->id);
    BSON_APPEND_DATE_TIME(&d, "created_at", db_now_ms());
    BSON_APPEND_INT64(&d, "version", 1);
    txn_add_insert(txn, TXN_MAIN_SHARD, DB_FOLLOWS, &d);
    bson_destroy(&d);
  } else {
    txn_add_delete(txn, TXN_MAIN_SHARD, DB_FOLLOWS, &key, NULL);
  }
  add_counter(txn, &c->me->id, "following_count", delta);
  add_counter(txn, &c->target->id, "followers_count", delta);
  event_batch_t events;
  event_batch_init(&events);
  event_add_follow(&events, &c->me->id, &c->target->id, c->follow);
  bool ok = !c->follow ||
            notifications_add(c->db, c->sync, txn, &events, &c->target->id,
                              NOTIFY_FOLLOW, &c->me->id, NULL, err);
  if (ok) {
    event_batch_commit(&events, txn);
  } else {
    event_batch_cleanup(&events);
  }
  return ok;
}

bool follows_set(db_t *db, sync_t *sync, const user_t *me, const char *username,
                 size_t len, bool follow, ratelimit_gate_t *gate,
                 user_t *target, chorus_error_t *err) {
  user_t t;
  if (!users_find_by_username(db, sync, username, len, &t, err)) {
    return false;
  }
  if (bson_oid_equal(&t.id, &me->id)) {
    chorus_error_set(err, 400, "cannot_follow_self",
                     "You cannot follow yourself");
    return false;
  }
  if (!ratelimit_gate_pass(gate, RATELIMIT_FOLLOW, err)) {
    return false;
  }
  follow_ctx_t ctx = {db, sync, me, &t, follow};
  for (int round = 0; round < 3; round++) {
    size_t failed;
    txn_outcome_t outcome = sync_commit(sync, build_follow, &ctx, &failed, err);
    if (outcome == TXN_OUTCOME_COMMITTED) {
      return users_find_by_id(db, sync, &t.id, target, err);
    }
    if (outcome == TXN_OUTCOME_EXISTS || outcome == TXN_OUTCOME_MISSING) {
      /* The follow appeared or went away meanwhile (or an account did):
       * build again from what is there now. */
      if (!users_find_by_id(db, sync, &t.id, &t, err)) {
        return false;
      }
      continue;
    }
    return false;
  }
  chorus_error_set(err, 409, "conflict", "Try again");
  return false;
}

bool follows_check(db_t *db, sync_t *sync, const bson_oid_t *a,
                   const bson_oid_t *b, bool *yes, chorus_error_t *err) {
  return query_pair_exists(db, sync, DB_FOLLOWS, a, b, yes, err);
}

bool follows_followees(db_t *db, sync_t *sync, const bson_oid_t *user,
                       bson_oid_t **ids, size_t *n, chorus_error_t *err) {
  bson_t filter = BSON_INITIALIZER;
  BSON_APPEND_OID(&filter, "follower_id", user);
  query_result_t r;
  bool ok = query_visible(db, sync, DB_FOLLOWS, &filter, NULL, FOLLOWS_FEED_MAX,
                          &r, err);
  bson_destroy(&filter);
  if (!ok) {
    return false;
  }
  *ids = bson_malloc0(sizeof **ids * (r.n + 1));
  *n = 0;
  for (size_t i = 0; i < r.n; i++) {
    if (bsonx_find_oid(r.docs[i], "followee_id", &(*ids)[*n])) {
      (*n)++;
    }
  }
  query_result_free(&r);
  return true;
}

bool follows_list(db_t *db, sync_t *sync, const bson_oid_t *user,
                  bool followers, const char *before, size_t limit,
                  user_page_t *page, chorus_error_t *err) {
  memset(page, 0, sizeof *page);
  /* Followers of X: edges {followee_id: X}, the other end follower_id. */
  const char *mine = followers ? "followee_id" : "follower_id";
  const char *other = followers ? "follower_id" : "followee_id";
  bson_t filter = BSON_INITIALIZER;
  BSON_APPEND_OID(&filter, mine, user);
  if (before) {
    page_cursor_t c;
    if (!page_cursor_decode(before, &c)) {
      bson_destroy(&filter);
      chorus_error_set(err, 400, "invalid_cursor",
                       "before is not a cursor this server issued");
      return false;
    }
    page_cursor_append_filter_on(&filter, &c, false, other);
  }
  bson_t *sort = BCON_NEW("created_at", BCON_INT32(-1), other, BCON_INT32(-1));
  query_result_t r;
  bool ok =
      query_visible(db, sync, DB_FOLLOWS, &filter, sort, limit + 1, &r, err);
  bson_destroy(sort);
  bson_destroy(&filter);
  if (!ok) {
    return false;
  }
  page->has_next = r.n > limit;
  size_t n = page->has_next ? limit : r.n;
  bson_oid_t *ids = bson_malloc0(sizeof *ids * (n + 1));
  page_cursor_t last = {0, {{0}}};
  for (size_t i = 0; i < n; i++) {
    bsonx_find_oid(r.docs[i], other, &ids[i]);
    bson_iter_t it;
    if (i == n - 1 && bson_iter_init_find(&it, r.docs[i], "created_at") &&
        BSON_ITER_HOLDS_DATE_TIME(&it)) {
      last.ts_ms = bson_iter_date_time(&it);
      last.id = ids[i];
    }
  }
  query_result_free(&r);
  page->items = bson_malloc0(sizeof *page->items * (n + 1));
  ok = users_get_many(db, sync, ids, n, page->items, &page->n, err);
  bson_free(ids);
  if (ok && page->has_next) {
    char cursor[PAGE_CURSOR_LEN + 1];
    page_cursor_encode(&last, cursor);
    bson_strncpy(page->next, cursor, sizeof page->next);
  }
  if (!ok) {
    user_page_destroy(page);
  }
  return ok;
}

bool follows_suggestions(db_t *db, sync_t *sync, const bson_oid_t *viewer,
                         size_t limit, user_page_t *page, chorus_error_t *err) {
  memset(page, 0, sizeof *page);
  bson_oid_t *followed = NULL, *ids = NULL;
  size_t n_followed = 0, n = 0;
  query_result_t r = {0};
  bool have_r = false;
  bson_t *filter = BCON_NEW("tweet_count", "{", "$gt", BCON_INT64(0), "}");
  bson_t *sort =
      BCON_NEW("followers_count", BCON_INT32(-1), "username_lc", BCON_INT32(1));
  bool ok = !viewer ||
            follows_followees(db, sync, viewer, &followed, &n_followed, err);
  /* Ranked by the counters as folded, as the index has them. */
  ok = ok && (have_r = query_visible_folded(db, sync, DB_USERS, filter, sort,
                                            FOLLOWS_SUGGEST_SCAN, &r, err));
  if (ok) {
    ids = bson_malloc0(sizeof *ids * (limit + 1));
    for (size_t i = 0; i < r.n && n < limit; i++) {
      bson_oid_t id;
      bool skip = !bsonx_find_oid(r.docs[i], "_id", &id) ||
                  (viewer && bson_oid_equal(&id, viewer));
      for (size_t k = 0; !skip && k < n_followed; k++) {
        skip = bson_oid_equal(&id, &followed[k]);
      }
      if (!skip) {
        ids[n++] = id;
      }
    }
    page->items = bson_malloc0(sizeof *page->items * (n + 1));
    ok = users_get_many(db, sync, ids, n, page->items, &page->n, err);
  }
  if (have_r) {
    query_result_free(&r);
  }
  bson_destroy(filter);
  bson_destroy(sort);
  bson_free(followed);
  bson_free(ids);
  if (!ok) {
    user_page_destroy(page);
  }
  return ok;
}

bool follows_scan(db_t *db, sync_t *sync, query_pair_fn fn, void *ctx,
                  chorus_error_t *err) {
  return query_scan_pairs(db, sync, DB_FOLLOWS, "follower_id", "followee_id",
                          fn, ctx, err);
}

static const db_index_t follows_indexes[] = {
    {"follower_id_1_created_at_-1", "{\"follower_id\": 1, \"created_at\": -1}",
     false},
    {"followee_id_1_created_at_-1", "{\"followee_id\": 1, \"created_at\": -1}",
     false},
};

bool follows_ensure_indexes(db_t *db, chorus_error_t *err) {
  return db_ensure_indexes(db, DB_FOLLOWS, follows_indexes,
                           DB_INDEX_COUNT(follows_indexes), err);
}

bool follows_get_profile(db_t *db, sync_t *sync, const char *username,
                         size_t len, const bson_oid_t *viewer, user_t *user,
                         bool *followed_by_viewer, chorus_error_t *err) {
  *followed_by_viewer = false;
  return users_find_by_username(db, sync, username, len, user, err) &&
         (!viewer ||
          follows_check(db, sync, viewer, &user->id, followed_by_viewer, err));
}

bool follows_list_by_name(db_t *db, sync_t *sync, const char *username,
                          size_t len, bool followers, const char *before,
                          size_t limit, user_page_t *page,
                          chorus_error_t *err) {
  user_t u;
  return users_find_by_username(db, sync, username, len, &u, err) &&
         follows_list(db, sync, &u.id, followers, before, limit, page, err);
}
