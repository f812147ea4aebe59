/*
 * tweets.c - see tweets.h.
 *
 * Reading a list: each shard that can hold matching tweets is asked for
 * its first matching documents in list order (query.c resolves them to
 * their committed view), and the shards' answers are merged.  One more
 * item than the page holds is read, to know whether a next page exists.
 * Then the authors' display names and the viewer's likes are joined in.
 */
#include "server/domain/tweets.h"

#include <stdlib.h>
#include <string.h>

#include "server/domain/event_payloads.h"
#include "server/domain/likes.h"
#include "server/domain/notifications.h"
#include "server/domain/search.h"
#include "sync/base/bsonx.h"
#include "sync/query.h"

void tweets_coll(int shard, char out[TWEET_COLL_LEN]) {
  shards_tweet_coll(shard, out);
}

static void tweet_from_bson(const bson_t *doc, tweet_t *t) {
  bson_iter_t it;
  memset(t, 0, sizeof *t);
  if (!bson_iter_init(&it, doc)) {
    return;
  }
  while (bson_iter_next(&it)) {
    const char *key = bson_iter_key(&it);
    if (!strcmp(key, "_id") && BSON_ITER_HOLDS_OID(&it)) {
      bson_oid_copy(bson_iter_oid(&it), &t->id);
    } else if (!strcmp(key, "author_id") && BSON_ITER_HOLDS_OID(&it)) {
      bson_oid_copy(bson_iter_oid(&it), &t->author.id);
    } else if (!strcmp(key, "author") && BSON_ITER_HOLDS_UTF8(&it)) {
      bsonx_copy_utf8(&it, t->author.username, sizeof t->author.username);
    } else if (!strcmp(key, "text") && BSON_ITER_HOLDS_UTF8(&it)) {
      bsonx_copy_utf8(&it, t->text, sizeof t->text);
    } else if (!strcmp(key, "created_at") && BSON_ITER_HOLDS_DATE_TIME(&it)) {
      t->created_at_ms = bson_iter_date_time(&it);
    } else if (!strcmp(key, "edited_at") && BSON_ITER_HOLDS_DATE_TIME(&it)) {
      t->edited_at_ms = bson_iter_date_time(&it);
    } else if (!strcmp(key, "reply_to") && BSON_ITER_HOLDS_OID(&it)) {
      bson_oid_copy(bson_iter_oid(&it), &t->reply_to);
      t->has_reply_to = true;
    } else if (!strcmp(key, "reply_count")) {
      t->reply_count = bsonx_as_int64(&it);
    } else if (!strcmp(key, "like_count")) {
      t->like_count = bsonx_as_int64(&it);
    } else if (!strcmp(key, "version")) {
      t->version = bsonx_as_int64(&it);
    }
  }
}

static bson_value_t oid_value(const bson_oid_t *oid) {
  bson_value_t v = {.value_type = BSON_TYPE_OID};
  bson_oid_copy(oid, &v.value.v_oid);
  return v;
}

bool tweets_parse_id(sync_t *sync, const char *id_hex, bson_oid_t *id,
                     chorus_error_t *err) {
  if (!id_hex || !bson_oid_is_valid(id_hex, strlen(id_hex)) ||
      strlen(id_hex) != TWEET_ID_LEN) {
    chorus_error_set(err, 404, "tweet_not_found", "No such tweet");
    return false;
  }
  bson_oid_init_from_string(id, id_hex);
  if (shards_of_tweet(sync_shards(sync), id) < 0) {
    chorus_error_set(err, 404, "tweet_not_found", "No such tweet");
    return false;
  }
  return true;
}

/* Reads one tweet in its committed view; *found false when none. */
static bool read_tweet(db_t *db, sync_t *sync, const bson_oid_t *id,
                       bool *found, tweet_t *t, chorus_error_t *err) {
  char coll[TWEET_COLL_LEN];
  tweets_coll(shards_of_tweet(sync_shards(sync), id), coll);
  bson_value_t key = oid_value(id);
  bson_t *doc;
  int shard = shards_of_tweet(sync_shards(sync), id);
  if (!query_by_id(shards_db(sync_shards(sync), shard), sync, coll, &key, &doc,
                   found, err)) {
    return false;
  }
  (void)db;
  if (*found) {
    tweet_from_bson(doc, t);
    bson_destroy(doc);
  }
  return true;
}

/* Display names and the viewer's likes of tweets[0..n). */
static bool join(db_t *db, sync_t *sync, const user_t *viewer, tweet_t *tweets,
                 size_t n, chorus_error_t *err) {
  if (n == 0) {
    return true;
  }
  user_name_t *names = bson_malloc0(sizeof *names * n);
  for (size_t i = 0; i < n; i++) {
    names[i] = tweets[i].author;
  }
  mongoc_client_t *client = db_acquire(db);
  bool ok = users_get_names(db, client, names, n, err);
  db_release(db, client);
  for (size_t i = 0; ok && i < n; i++) {
    if (names[i].username[0]) {
      tweets[i].author = names[i];
    }
  }
  bson_free(names);
  return ok &&
         likes_mark(db, sync, viewer ? &viewer->id : NULL, tweets, n, err);
}

bool tweets_get(db_t *db, sync_t *sync, const user_t *viewer,
                const char *id_hex, tweet_t *out, chorus_error_t *err) {
  bson_oid_t id;
  bool found;
  if (!tweets_parse_id(sync, id_hex, &id, err) ||
      !read_tweet(db, sync, &id, &found, out, err)) {
    return false;
  }
  if (!found) {
    chorus_error_set(err, 404, "tweet_not_found", "No such tweet");
    return false;
  }
  return join(db, sync, viewer, out, 1, err);
}

/* ---- create ---- */

typedef struct create_ctx {
  db_t *db;
  sync_t *sync;
  const user_t *author;
  const char *text;
  size_t text_len;
  bool is_reply;
  bson_oid_t parent;
  tweet_t *t;
} create_ctx_t;

static bool build_create(void *arg, txn_t *txn, chorus_error_t *err) {
  create_ctx_t *c = arg;
  shards_t *shards = sync_shards(c->sync);
  tweet_t *t = c->t;
  tweet_t parent;
  if (c->is_reply) {
    bool found;
    if (!read_tweet(c->db, c->sync, &c->parent, &found, &parent, err)) {
      return false;
    }
    if (!found) {
      chorus_error_set(err, 404, "tweet_not_found",
                       "The tweet you reply to does not exist");
      return false;
    }
  }
  int shard = shards_of_user(shards, &c->author->id);
  char coll[TWEET_COLL_LEN];
  tweets_coll(shard, coll);
  /* A fresh id for every attempt: an aborted attempt's insert may still be
   * waiting to be rolled back. */
  shards_new_tweet_id(shards, shard, &t->id);
  t->created_at_ms = db_now_ms();

  bson_t doc = BSON_INITIALIZER;
  BSON_APPEND_OID(&doc, "_id", &t->id);
  BSON_APPEND_OID(&doc, "author_id", &t->author.id);
  BSON_APPEND_UTF8(&doc, "author", t->author.username);
  bson_append_utf8(&doc, "text", 4, c->text, (int)c->text_len);
  search_append_words(&doc, "words", c->text, c->text_len);
  BSON_APPEND_DATE_TIME(&doc, "created_at", t->created_at_ms);
  BSON_APPEND_NULL(&doc, "edited_at");
  if (c->is_reply) {
    BSON_APPEND_OID(&doc, "reply_to", &c->parent);
  } else {
    BSON_APPEND_NULL(&doc, "reply_to");
  }
  BSON_APPEND_INT64(&doc, "reply_count", 0);
  BSON_APPEND_INT64(&doc, "like_count", 0);
  BSON_APPEND_INT64(&doc, "version", 1);
  txn_add_insert(txn, shard, coll, &doc);
  bson_destroy(&doc);

  bson_value_t author_id = oid_value(&c->author->id);
  bson_t inc = BSON_INITIALIZER;
  BSON_APPEND_INT64(&inc, "tweet_count", 1);
  txn_add_update(txn, TXN_MAIN_SHARD, DB_USERS, &author_id, NULL, &inc, NULL);
  bson_destroy(&inc);

  if (c->is_reply) {
    int parent_shard = shards_of_tweet(shards, &c->parent);
    char parent_coll[TWEET_COLL_LEN];
    tweets_coll(parent_shard, parent_coll);
    bson_value_t parent_id = oid_value(&c->parent);
    bson_t pinc = BSON_INITIALIZER;
    BSON_APPEND_INT64(&pinc, "reply_count", 1);
    txn_add_update(txn, parent_shard, parent_coll, &parent_id, NULL, &pinc,
                   NULL);
    bson_destroy(&pinc);
  }
  event_batch_t events;
  event_batch_init(&events);
  event_add_tweet(&events, EVENT_TWEET_CREATED, &t->id, &c->author->id,
                  c->is_reply ? &c->parent : NULL);
  bool ok = true;
  if (c->is_reply) {
    event_add_tweet(&events, EVENT_TWEET_UPDATED, &c->parent, NULL, NULL);
    ok = notifications_add(c->db, c->sync, txn, &events, &parent.author.id,
                           NOTIFY_REPLY, &c->author->id, &t->id, err);
  }
  if (ok) {
    event_batch_commit(&events, txn);
  } else {
    event_batch_cleanup(&events);
  }
  return ok;
}

bool tweets_create(db_t *db, sync_t *sync, const user_t *author,
                   const char *text, size_t text_len, const char *reply_to_hex,
                   ratelimit_gate_t *gate, tweet_t *out, chorus_error_t *err) {
  if (!validate_text("text", text, text_len, 1, TWEET_TEXT_MAX, err)) {
    return false;
  }
  tweet_t t;
  memset(&t, 0, sizeof t);
  create_ctx_t ctx = {db, sync, author, text, text_len, false, {{0}}, &t};
  if (reply_to_hex) {
    if (!tweets_parse_id(sync, reply_to_hex, &ctx.parent, err)) {
      chorus_error_set(err, 404, "tweet_not_found",
                       "The tweet you reply to does not exist");
      return false;
    }
    ctx.is_reply = true;
    t.has_reply_to = true;
    t.reply_to = ctx.parent;
  }
  if (!ratelimit_gate_pass(gate, RATELIMIT_TWEET, err)) {
    return false;
  }
  t.author.id = author->id;
  memcpy(t.author.username, author->username, sizeof t.author.username);
  memcpy(t.author.display_name, author->display_name,
         sizeof t.author.display_name);
  memcpy(t.text, text, text_len);
  t.text[text_len] = '\0';
  t.version = 1;
  size_t failed_op;
  switch (sync_commit(sync, build_create, &ctx, &failed_op, err)) {
  case TXN_OUTCOME_COMMITTED:
    *out = t;
    return true;
  case TXN_OUTCOME_MISSING:
    if (failed_op == 1) { /* the author's account */
      chorus_error_set(err, 401, "not_logged_in", "You are not logged in");
    } else { /* the parent went away between the read and the lock */
      chorus_error_set(err, 404, "tweet_not_found",
                       "The tweet you reply to does not exist");
    }
    return false;
  case TXN_OUTCOME_EXISTS:
    chorus_error_set(err, 500, "internal", "Tweet id collision");
    return false;
  default:
    return false; /* err set by sync_commit or the build */
  }
}

/* ---- edit and delete ---- */

typedef struct change_ctx {
  db_t *db;
  sync_t *sync;
  const user_t *user;
  bson_oid_t id;
  const char *text; /* NULL: delete */
  size_t text_len;
  tweet_t *t; /* the tweet as read by the last build */
  int64_t now;
  bool parent_gone; /* the parent vanished: leave its count alone */
} change_ctx_t;

/* Re-reads the tweet on every attempt, so the version it checks is the
 * one the author check was made against. */
static bool build_change(void *arg, txn_t *txn, chorus_error_t *err) {
  change_ctx_t *c = arg;
  bool found;
  if (!read_tweet(c->db, c->sync, &c->id, &found, c->t, err)) {
    return false;
  }
  if (!found) {
    chorus_error_set(err, 404, "tweet_not_found", "No such tweet");
    return false;
  }
  if (!bson_oid_equal(&c->t->author.id, &c->user->id)) {
    chorus_error_set(err, 403, "forbidden",
                     c->text ? "Only the author may edit this tweet"
                             : "Only the author may delete this tweet");
    return false;
  }
  shards_t *shards = sync_shards(c->sync);
  int shard = shards_of_tweet(shards, &c->id);
  char coll[TWEET_COLL_LEN];
  tweets_coll(shard, coll);
  bson_value_t id = oid_value(&c->id);
  c->now = db_now_ms();
  if (c->text) {
    bson_t set = BSON_INITIALIZER;
    bson_append_utf8(&set, "text", 4, c->text, (int)c->text_len);
    search_append_words(&set, "words", c->text, c->text_len);
    BSON_APPEND_DATE_TIME(&set, "edited_at", c->now);
    txn_add_update(txn, shard, coll, &id, &set, NULL, &c->t->version);
    bson_destroy(&set);
    event_batch_t events;
    event_batch_init(&events);
    event_add_tweet(&events, EVENT_TWEET_UPDATED, &c->id, &c->user->id, NULL);
    event_batch_commit(&events, txn);
    return true;
  }
  txn_add_delete(txn, shard, coll, &id, &c->t->version);
  bson_value_t author = oid_value(&c->user->id);
  bson_t inc = BSON_INITIALIZER;
  BSON_APPEND_INT64(&inc, "tweet_count", -1);
  txn_add_update(txn, TXN_MAIN_SHARD, DB_USERS, &author, NULL, &inc, NULL);
  bson_destroy(&inc);
  if (c->t->has_reply_to && !c->parent_gone) {
    int parent_shard = shards_of_tweet(shards, &c->t->reply_to);
    if (parent_shard >= 0) {
      char parent_coll[TWEET_COLL_LEN];
      tweets_coll(parent_shard, parent_coll);
      bson_value_t parent = oid_value(&c->t->reply_to);
      bson_t pinc = BSON_INITIALIZER;
      BSON_APPEND_INT64(&pinc, "reply_count", -1);
      txn_add_update(txn, parent_shard, parent_coll, &parent, NULL, &pinc,
                     NULL);
      bson_destroy(&pinc);
    }
  }
  event_batch_t events;
  event_batch_init(&events);
  event_add_tweet(&events, EVENT_TWEET_DELETED, &c->id, &c->user->id, NULL);
  if (c->t->has_reply_to && !c->parent_gone) {
    event_add_tweet(&events, EVENT_TWEET_UPDATED, &c->t->reply_to, NULL, NULL);
  }
  event_batch_commit(&events, txn);
  return true;
}

static bool change(change_ctx_t *ctx, chorus_error_t *err) {
  for (int round = 0; round < 3; round++) {
    size_t failed_op;
    switch (sync_commit(ctx->sync, build_change, ctx, &failed_op, err)) {
    case TXN_OUTCOME_COMMITTED:
      return true;
    case TXN_OUTCOME_MISSING:
      if (failed_op == 2) {
        ctx->parent_gone = true; /* a deleted parent has no count to fix */
        continue;
      }
      chorus_error_set(err, 404, "tweet_not_found", "No such tweet");
      return false;
    default:
      return false;
    }
  }
  chorus_error_set(err, 409, "conflict", "The tweet keeps changing; try again");
  return false;
}

bool tweets_edit(db_t *db, sync_t *sync, const user_t *editor,
                 const char *id_hex, const char *text, size_t text_len,
                 tweet_t *out, chorus_error_t *err) {
  tweet_t t;
  change_ctx_t ctx = {db, sync, editor, {{0}}, text, text_len, &t, 0, false};
  if (!tweets_parse_id(sync, id_hex, &ctx.id, err) ||
      !validate_text("text", text, text_len, 1, TWEET_TEXT_MAX, err) ||
      !change(&ctx, err)) {
    return false;
  }
  memcpy(t.text, text, text_len);
  t.text[text_len] = '\0';
  t.edited_at_ms = ctx.now;
  t.version++;
  if (!join(db, sync, editor, &t, 1, err)) {
    return false;
  }
  *out = t;
  return true;
}

bool tweets_delete(db_t *db, sync_t *sync, const user_t *user,
                   const char *id_hex, chorus_error_t *err) {
  tweet_t t;
  change_ctx_t ctx = {db, sync, user, {{0}}, NULL, 0, &t, 0, false};
  return tweets_parse_id(sync, id_hex, &ctx.id, err) && change(&ctx, err);
}

/* ---- lists ---- */

/* Timeline order: newer first, then higher id first (or the reverse). */
static int newest_first(const void *a, const void *b) {
  const tweet_t *x = a, *y = b;
  if (x->created_at_ms != y->created_at_ms) {
    return x->created_at_ms > y->created_at_ms ? -1 : 1;
  }
  return -bson_oid_compare(&x->id, &y->id);
}

static int oldest_first(const void *a, const void *b) {
  return newest_first(b, a);
}

/* The filter of q on shard k; false when the shard cannot hold any. */
static bool shard_filter(sync_t *sync, const tweet_query_t *q, int k,
                         bson_t *filter) {
  shards_t *shards = sync_shards(sync);
  bson_init(filter);
  switch (q->kind) {
  case TWEETS_ALL:
    return true;
  case TWEETS_BY_AUTHOR:
    BSON_APPEND_OID(filter, "author_id", &q->author);
    return shards_of_user(shards, &q->author) == k;
  case TWEETS_REPLIES:
    BSON_APPEND_OID(filter, "reply_to", &q->parent);
    return true;
  case TWEETS_BY_AUTHORS: {
    bson_t in_doc, in;
    uint32_t n = 0;
    BSON_APPEND_DOCUMENT_BEGIN(filter, "author_id", &in_doc);
    BSON_APPEND_ARRAY_BEGIN(&in_doc, "$in", &in);
    for (size_t i = 0; i < q->n_authors; i++) {
      if (shards_of_user(shards, &q->authors[i]) == k) {
        bsonx_array_append_oid(&in, n++, &q->authors[i]);
      }
    }
    bson_append_array_end(&in_doc, &in);
    bson_append_document_end(filter, &in_doc);
    return n > 0;
  }
  case TWEETS_WITH_WORDS: {
    bson_t all_doc, all;
    BSON_APPEND_DOCUMENT_BEGIN(filter, "words", &all_doc);
    BSON_APPEND_ARRAY_BEGIN(&all_doc, "$all", &all);
    for (size_t i = 0; i < q->n_words; i++) {
      char buf[16];
      const char *key;
      size_t len = bson_uint32_to_string((uint32_t)i, &key, buf, sizeof buf);
      bson_append_utf8(&all, key, (int)len, q->words[i], -1);
    }
    bson_append_array_end(&all_doc, &all);
    bson_append_document_end(filter, &all_doc);
    return q->n_words > 0;
  }
  }
  return false;
}

bool tweets_list(db_t *db, sync_t *sync, const tweet_query_t *q,
                 const page_cursor_t *before, size_t limit,
                 const user_t *viewer, tweet_page_t *page,
                 chorus_error_t *err) {
  memset(page, 0, sizeof *page);
  if (limit < 1 || limit > TWEET_PAGE_MAX) {
    chorus_error_set(err, 400, "invalid_limit", "limit must be 1 to %d",
                     TWEET_PAGE_MAX);
    return false;
  }
  bool ascending = q->kind == TWEETS_REPLIES;
  shards_t *shards = sync_shards(sync);
  int n_shards = shards_count(shards);
  size_t want = limit + 1;
  tweet_t *all = bson_malloc0(sizeof *all * want * (size_t)n_shards);
  size_t n = 0;
  bson_t *sort =
      ascending ? BCON_NEW("created_at", BCON_INT32(1), "_id", BCON_INT32(1))
                : BCON_NEW("created_at", BCON_INT32(-1), "_id", BCON_INT32(-1));
  bool ok = true;
  for (int k = 0; ok && k < n_shards; k++) {
    bson_t filter;
    if (shard_filter(sync, q, k, &filter)) {
      if (before) {
        page_cursor_append_filter(&filter, before, ascending);
      }
      char coll[TWEET_COLL_LEN];
      tweets_coll(k, coll);
      query_result_t r;
      ok = query_visible(shards_db(shards, k), sync, coll, &filter, sort, want,
                         &r, err);
      for (size_t i = 0; ok && i < r.n; i++) {
        tweet_from_bson(r.docs[i], &all[n++]);
      }
      if (ok) {
        query_result_free(&r);
      }
    }
    bson_destroy(&filter);
  }
  bson_destroy(sort);
  if (!ok) {
    bson_free(all);
    return false;
  }
  qsort(all, n, sizeof *all, ascending ? oldest_first : newest_first);
  page->has_next = n > limit;
  page->n = page->has_next ? limit : n;
  page->items = all;
  if (page->has_next) {
    page->next.ts_ms = all[page->n - 1].created_at_ms;
    page->next.id = all[page->n - 1].id;
  }
  /* Display names are read now, so a renamed author shows the new name
   * on old tweets. */
  if (!join(db, sync, viewer, page->items, page->n, err)) {
    tweet_page_destroy(page);
    return false;
  }
  return true;
}

void tweet_page_destroy(tweet_page_t *page) {
  bson_free(page->items);
  memset(page, 0, sizeof *page);
}

typedef struct tweet_scan {
  tweets_scan_fn fn;
  void *ctx;
  tweet_t t; /* too big for the stack of every call */
} tweet_scan_t;

static bool tweet_doc(void *ctx, const bson_t *doc) {
  tweet_scan_t *scan = ctx;
  tweet_from_bson(doc, &scan->t);
  return scan->fn(scan->ctx, &scan->t);
}

bool tweets_scan(sync_t *sync, tweets_scan_fn fn, void *ctx,
                 chorus_error_t *err) {
  shards_t *shards = sync_shards(sync);
  tweet_scan_t *scan = bson_malloc0(sizeof *scan);
  scan->fn = fn;
  scan->ctx = ctx;
  bson_t *projection = BCON_NEW("words", BCON_INT32(0));
  bool ok = true;
  for (int k = 0; ok && k < shards_count(shards); k++) {
    char coll[TWEET_COLL_LEN];
    tweets_coll(k, coll);
    ok = query_scan(shards_db(shards, k), sync, coll, projection, tweet_doc,
                    scan, err);
  }
  bson_destroy(projection);
  bson_free(scan);
  return ok;
}

static const db_index_t tweets_indexes[] = {
    {"created_at_-1__id_-1", "{\"created_at\": -1, \"_id\": -1}", false},
    {"author_id_1_created_at_-1", "{\"author_id\": 1, \"created_at\": -1}",
     false},
    {"reply_to_1_created_at_1", "{\"reply_to\": 1, \"created_at\": 1}", false},
    {"words_1_created_at_-1", "{\"words\": 1, \"created_at\": -1}", false},
};

bool tweets_ensure_indexes(shards_t *shards, chorus_error_t *err) {
  bool ok = true;
  for (int k = 0; ok && k < shards_count(shards); k++) {
    char coll[TWEET_COLL_LEN];
    tweets_coll(k, coll);
    ok = db_ensure_indexes(shards_db(shards, k), coll, tweets_indexes,
                           DB_INDEX_COUNT(tweets_indexes), err);
  }
  return ok;
}

bool tweets_list_by_name(db_t *db, sync_t *sync, const char *username,
                         size_t len, const page_cursor_t *before, size_t limit,
                         const user_t *viewer, tweet_page_t *page,
                         chorus_error_t *err) {
  user_t u;
  if (!users_find_by_username(db, sync, username, len, &u, err)) {
    return false;
  }
  tweet_query_t q = {.kind = TWEETS_BY_AUTHOR, .author = u.id};
  return tweets_list(db, sync, &q, before, limit, viewer, page, err);
}

bool tweets_list_replies(db_t *db, sync_t *sync, const char *parent_hex,
                         const page_cursor_t *before, size_t limit,
                         const user_t *viewer, tweet_page_t *page,
                         chorus_error_t *err) {
  tweet_t parent;
  if (!tweets_get(db, sync, NULL, parent_hex, &parent, err)) {
    return false;
  }
  tweet_query_t q = {.kind = TWEETS_REPLIES, .parent = parent.id};
  return tweets_list(db, sync, &q, before, limit, viewer, page, err);
}

bool tweets_search(db_t *db, sync_t *sync, const char *q, size_t len,
                   const page_cursor_t *before, size_t limit,
                   const user_t *viewer, tweet_page_t *page,
                   chorus_error_t *err) {
  char *words[SEARCH_MAX_WORDS];
  size_t n = search_words(q, len, words, SEARCH_MAX_WORDS);
  if (n == 0) {
    /* Only punctuation or symbols: no word can match. */
    memset(page, 0, sizeof *page);
    return true;
  }
  tweet_query_t tq = {.kind = TWEETS_WITH_WORDS, .words = words, .n_words = n};
  bool ok = tweets_list(db, sync, &tq, before, limit, viewer, page, err);
  search_words_free(words, n);
  return ok;
}
