/*
 * tweets.c - see tweets.h.
 *
 * Reading a list: each shard is asked for its newest matching documents,
 * the raw documents are resolved to their committed view (a staged insert
 * of an undecided transaction is dropped, which is why a shard may be
 * asked again for more), and the shards' answers are merged in timeline
 * order.  No database client is held while resolving or merging.
 */
#include "tweets.h"

#include <stdlib.h>
#include <string.h>

#include "bsonx.h"

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
    } else if (!strcmp(key, "version")) {
      t->version = bsonx_as_int64(&it);
    }
  }
}

/* Timeline order: newer first, then higher id first. */
static int timeline_cmp(const void *a, const void *b) {
  const tweet_t *x = a, *y = b;
  if (x->created_at_ms != y->created_at_ms) {
    return x->created_at_ms > y->created_at_ms ? -1 : 1;
  }
  return -bson_oid_compare(&x->id, &y->id);
}

/* Reads up to `limit` raw documents of one collection; the caller owns
 * docs[0..*n) and frees them with bson_destroy. */
static bool find_raw(db_t *db, const char *coll_name, const bson_t *filter,
                     const bson_t *opts, bson_t **docs, size_t max,
                     size_t *n, chorus_error_t *err) {
  mongoc_client_t *client = db_acquire(db);
  mongoc_collection_t *coll = db_collection(db, client, coll_name);
  mongoc_cursor_t *cursor =
      mongoc_collection_find_with_opts(coll, filter, opts, NULL);
  const bson_t *doc;
  *n = 0;
  while (*n < max && mongoc_cursor_next(cursor, &doc)) {
    docs[(*n)++] = bson_copy(doc);
  }
  bson_error_t berr;
  bool ok = !mongoc_cursor_error(cursor, &berr);
  if (!ok) {
    chorus_error_from_bson(err, &berr, "read tweets");
    for (size_t i = 0; i < *n; i++) {
      bson_destroy(docs[i]);
    }
    *n = 0;
  }
  mongoc_cursor_destroy(cursor);
  mongoc_collection_destroy(coll);
  db_release(db, client);
  return ok;
}

/* Reads one tweet in its committed view; *found false when there is no
 * such (visible) tweet, including ids that cannot be ours. */
static bool read_tweet(sync_t *sync, const bson_oid_t *id, bool *found,
                       tweet_t *t, chorus_error_t *err) {
  shards_t *shards = sync_shards(sync);
  int shard = shards_of_tweet(shards, id);
  *found = false;
  if (shard < 0) {
    return true;
  }
  char coll[16];
  shards_tweet_coll(shard, coll);
  bson_t filter = BSON_INITIALIZER;
  BSON_APPEND_OID(&filter, "_id", id);
  bson_t *doc[1];
  size_t n;
  bool ok = find_raw(shards_db(shards, shard), coll, &filter, NULL, doc, 1,
                     &n, err);
  bson_destroy(&filter);
  if (!ok || n == 0) {
    return ok;
  }
  bool visible;
  ok = sync_view(sync, doc, 1, &visible, err);
  if (ok && visible) {
    tweet_from_bson(doc[0], t);
    *found = true;
  }
  bson_destroy(doc[0]);
  return ok;
}

/* Fills display names of tweets[0..n) from their authors' accounts. */
static bool join_authors(db_t *db, tweet_t *tweets, size_t n,
                         chorus_error_t *err) {
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
  return ok;
}

/* ---- create ---- */

typedef struct create_ctx {
  shards_t *shards;
  const user_t *author;
  const char *text;
  size_t text_len;
  tweet_t *t;
} create_ctx_t;

static bool build_create(void *arg, txn_t *txn, chorus_error_t *err) {
  (void)err;
  create_ctx_t *c = arg;
  tweet_t *t = c->t;
  int shard = shards_of_user(c->shards, &c->author->id);
  char coll[16];
  shards_tweet_coll(shard, coll);
  /* A fresh id for every attempt: an aborted attempt's insert may still be
   * waiting to be rolled back. */
  shards_new_tweet_id(c->shards, shard, &t->id);
  t->created_at_ms = db_now_ms();

  bson_t doc = BSON_INITIALIZER;
  BSON_APPEND_OID(&doc, "_id", &t->id);
  BSON_APPEND_OID(&doc, "author_id", &t->author.id);
  BSON_APPEND_UTF8(&doc, "author", t->author.username);
  bson_append_utf8(&doc, "text", 4, t->text, (int)c->text_len);
  BSON_APPEND_DATE_TIME(&doc, "created_at", t->created_at_ms);
  BSON_APPEND_NULL(&doc, "edited_at");
  BSON_APPEND_NULL(&doc, "reply_to");
  BSON_APPEND_INT64(&doc, "reply_count", 0);
  BSON_APPEND_INT64(&doc, "like_count", 0);
  BSON_APPEND_INT64(&doc, "version", 1);
  txn_add_insert(txn, shard, coll, &doc);
  bson_destroy(&doc);

  bson_value_t author_id = {.value_type = BSON_TYPE_OID};
  bson_oid_copy(&c->author->id, &author_id.value.v_oid);
  bson_t inc = BSON_INITIALIZER;
  BSON_APPEND_INT64(&inc, "tweet_count", 1);
  txn_add_update(txn, TXN_MAIN_SHARD, DB_USERS, &author_id, NULL, &inc, NULL);
  bson_destroy(&inc);
  return true;
}

bool tweets_create(db_t *db, sync_t *sync, const user_t *author,
                   const char *text, size_t text_len, tweet_t *out,
                   chorus_error_t *err) {
  (void)db;
  if (!validate_text("text", text, text_len, 1, TWEET_TEXT_MAX, err)) {
    return false;
  }
  tweet_t t;
  memset(&t, 0, sizeof t);
  t.author.id = author->id;
  memcpy(t.author.username, author->username, sizeof t.author.username);
  memcpy(t.author.display_name, author->display_name,
         sizeof t.author.display_name);
  memcpy(t.text, text, text_len);
  t.text[text_len] = '\0';
  t.version = 1;
  create_ctx_t ctx = {sync_shards(sync), author, text, text_len, &t};
  size_t failed_op;
  switch (sync_commit(sync, build_create, &ctx, &failed_op, err)) {
  case TXN_OUTCOME_COMMITTED:
    *out = t;
    return true;
  case TXN_OUTCOME_MISSING: /* the author's account is gone */
    chorus_error_set(err, 401, "not_logged_in", "You are not logged in");
    return false;
  case TXN_OUTCOME_EXISTS:
    chorus_error_set(err, 500, "internal", "Tweet id collision");
    return false;
  default:
    return false; /* err set by sync_commit */
  }
}

/* ---- edit ---- */

typedef struct edit_ctx {
  sync_t *sync;
  const user_t *editor;
  bson_oid_t id;
  const char *text;
  size_t text_len;
  tweet_t *t;   /* the tweet as read by the last build */
  int64_t now;
} edit_ctx_t;

/* Re-reads the tweet on every attempt, so the version it checks is the
 * one the author check was made against. */
static bool build_edit(void *arg, txn_t *txn, chorus_error_t *err) {
  edit_ctx_t *c = arg;
  bool found;
  if (!read_tweet(c->sync, &c->id, &found, c->t, err)) {
    return false;
  }
  if (!found) {
    chorus_error_set(err, 404, "tweet_not_found", "No such tweet");
    return false;
  }
  if (!bson_oid_equal(&c->t->author.id, &c->editor->id)) {
    chorus_error_set(err, 403, "forbidden",
                     "Only the author may edit this tweet");
    return false;
  }
  int shard = shards_of_tweet(sync_shards(c->sync), &c->id);
  char coll[16];
  shards_tweet_coll(shard, coll);
  c->now = db_now_ms();
  bson_value_t id = {.value_type = BSON_TYPE_OID};
  bson_oid_copy(&c->id, &id.value.v_oid);
  bson_t set = BSON_INITIALIZER;
  bson_append_utf8(&set, "text", 4, c->text, (int)c->text_len);
  BSON_APPEND_DATE_TIME(&set, "edited_at", c->now);
  txn_add_update(txn, shard, coll, &id, &set, NULL, &c->t->version);
  bson_destroy(&set);
  return true;
}

bool tweets_edit(db_t *db, sync_t *sync, const user_t *editor,
                 const char *id_hex, const char *text, size_t text_len,
                 tweet_t *out, chorus_error_t *err) {
  if (!bson_oid_is_valid(id_hex, strlen(id_hex))) {
    chorus_error_set(err, 404, "tweet_not_found", "No such tweet");
    return false;
  }
  if (!validate_text("text", text, text_len, 1, TWEET_TEXT_MAX, err)) {
    return false;
  }
  tweet_t t;
  edit_ctx_t ctx = {sync, editor, {{0}}, text, text_len, &t, 0};
  bson_oid_init_from_string(&ctx.id, id_hex);
  size_t failed_op;
  switch (sync_commit(sync, build_edit, &ctx, &failed_op, err)) {
  case TXN_OUTCOME_COMMITTED:
    break;
  case TXN_OUTCOME_MISSING: /* deleted between the read and the lock */
    chorus_error_set(err, 404, "tweet_not_found", "No such tweet");
    return false;
  default:
    return false;
  }
  memcpy(t.text, text, text_len);
  t.text[text_len] = '\0';
  t.edited_at_ms = ctx.now;
  t.version++;
  if (!join_authors(db, &t, 1, err)) {
    return false;
  }
  *out = t;
  return true;
}

/* ---- list ---- */

/* {$or: [{created_at: {$lt: T}}, {created_at: T, _id: {$lt: id}}]} */
static void append_before_filter(bson_t *filter, const page_cursor_t *c) {
  bson_t or, a, b, lt_ts, lt_id;
  BSON_APPEND_ARRAY_BEGIN(filter, "$or", &or);
  BSON_APPEND_DOCUMENT_BEGIN(&or, "0", &a);
  BSON_APPEND_DOCUMENT_BEGIN(&a, "created_at", &lt_ts);
  BSON_APPEND_DATE_TIME(&lt_ts, "$lt", c->ts_ms);
  bson_append_document_end(&a, &lt_ts);
  bson_append_document_end(&or, &a);
  BSON_APPEND_DOCUMENT_BEGIN(&or, "1", &b);
  BSON_APPEND_DATE_TIME(&b, "created_at", c->ts_ms);
  BSON_APPEND_DOCUMENT_BEGIN(&b, "_id", &lt_id);
  BSON_APPEND_OID(&lt_id, "$lt", &c->id);
  bson_append_document_end(&b, &lt_id);
  bson_append_document_end(&or, &b);
  bson_append_array_end(filter, &or);
}

/* Appends to out[*n..) the first `want` visible tweets of one shard in
 * timeline order.  Staged inserts of undecided transactions take places
 * in a raw page but are not visible, so a short page is asked again for
 * more until it has enough or the shard is exhausted. */
static bool list_shard(sync_t *sync, int shard, const bson_t *filter,
                       size_t want, tweet_t *out, size_t *n,
                       chorus_error_t *err) {
  shards_t *shards = sync_shards(sync);
  char coll[16];
  shards_tweet_coll(shard, coll);
  for (size_t ask = want;; ask *= 2) {
    bson_t *opts = BCON_NEW("sort", "{", "created_at", BCON_INT32(-1), "_id",
                            BCON_INT32(-1), "}", "limit",
                            BCON_INT64((int64_t)ask));
    bson_t **docs = bson_malloc0(sizeof *docs * ask);
    bool *visible = bson_malloc0(sizeof *visible * ask);
    size_t got = 0, shown = 0;
    bool ok = find_raw(shards_db(shards, shard), coll, filter, opts, docs,
                       ask, &got, err) &&
              sync_view(sync, docs, got, visible, err);
    for (size_t i = 0; i < got; i++) {
      if (ok && visible[i] && shown < want) {
        tweet_from_bson(docs[i], &out[*n + shown++]);
      }
      bson_destroy(docs[i]);
    }
    bson_free(visible);
    bson_free(docs);
    bson_destroy(opts);
    if (!ok) {
      return false;
    }
    if (shown == want || got < ask) {
      *n += shown;
      return true;
    }
  }
}

bool tweets_list(db_t *db, sync_t *sync, const page_cursor_t *before,
                 size_t limit, tweet_page_t *page, chorus_error_t *err) {
  memset(page, 0, sizeof *page);
  if (limit < 1 || limit > TWEET_PAGE_MAX) {
    chorus_error_set(err, 400, "invalid_limit", "limit must be 1 to %d",
                     TWEET_PAGE_MAX);
    return false;
  }
  int n_shards = shards_count(sync_shards(sync));
  /* One more than asked tells whether a next page exists. */
  size_t want = limit + 1;
  tweet_t *all = bson_malloc0(sizeof *all * want * (size_t)n_shards);
  size_t n = 0;
  bson_t filter = BSON_INITIALIZER;
  if (before) {
    append_before_filter(&filter, before);
  }
  bool ok = true;
  for (int k = 0; ok && k < n_shards; k++) {
    ok = list_shard(sync, k, &filter, want, all, &n, err);
  }
  bson_destroy(&filter);
  if (ok) {
    qsort(all, n, sizeof *all, timeline_cmp);
    page->has_next = n > limit;
    page->n = page->has_next ? limit : n;
    if (page->has_next) {
      page->next.ts_ms = all[page->n - 1].created_at_ms;
      page->next.id = all[page->n - 1].id;
    }
    page->items = all;
    /* Display names are read now, so a renamed author shows the new name
     * on old tweets. */
    ok = join_authors(db, page->items, page->n, err);
  } else {
    bson_free(all);
  }
  if (!ok) {
    tweet_page_destroy(page);
  }
  return ok;
}

void tweet_page_destroy(tweet_page_t *page) {
  bson_free(page->items);
  memset(page, 0, sizeof *page);
}
