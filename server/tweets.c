/*
 * tweets.c - see tweets.h.
 */
#include "tweets.h"

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
    } else if (!strcmp(key, "version") && BSON_ITER_HOLDS_NUMBER(&it)) {
      t->version = bson_iter_as_int64(&it);
    }
  }
}

bool tweets_create(db_t *db, const user_t *author, const char *text,
                   size_t text_len, tweet_t *out, chorus_error_t *err) {
  if (!validate_text("text", text, text_len, 1, TWEET_TEXT_MAX, err)) {
    return false;
  }
  tweet_t t;
  memset(&t, 0, sizeof t);
  bson_oid_init(&t.id, NULL);
  t.author.id = author->id;
  memcpy(t.author.username, author->username, sizeof t.author.username);
  memcpy(t.author.display_name, author->display_name,
         sizeof t.author.display_name);
  memcpy(t.text, text, text_len);
  t.text[text_len] = '\0';
  t.created_at_ms = db_now_ms();
  t.version = 1;

  bson_t doc = BSON_INITIALIZER;
  BSON_APPEND_OID(&doc, "_id", &t.id);
  BSON_APPEND_OID(&doc, "author_id", &t.author.id);
  BSON_APPEND_UTF8(&doc, "author", t.author.username);
  bson_append_utf8(&doc, "text", 4, t.text, (int)text_len);
  BSON_APPEND_DATE_TIME(&doc, "created_at", t.created_at_ms);
  BSON_APPEND_NULL(&doc, "edited_at");
  BSON_APPEND_INT64(&doc, "version", t.version);

  mongoc_client_t *client = db_acquire(db);
  mongoc_collection_t *coll = db_collection(db, client, DB_TWEETS);
  bson_error_t berr;
  bool ok = mongoc_collection_insert_one(coll, &doc, NULL, NULL, &berr);
  mongoc_collection_destroy(coll);
  db_release(db, client);
  bson_destroy(&doc);
  if (!ok) {
    chorus_error_from_bson(err, &berr, "insert tweet");
    return false;
  }
  *out = t;
  return true;
}

/* Reads one tweet by id; *found says whether it exists. */
static bool find_one(mongoc_collection_t *coll, const bson_oid_t *id,
                     bool *found, tweet_t *t, chorus_error_t *err) {
  bson_t filter = BSON_INITIALIZER;
  BSON_APPEND_OID(&filter, "_id", id);
  mongoc_cursor_t *cursor =
      mongoc_collection_find_with_opts(coll, &filter, NULL, NULL);
  const bson_t *doc;
  *found = mongoc_cursor_next(cursor, &doc);
  if (*found) {
    tweet_from_bson(doc, t);
  }
  bson_error_t berr;
  bool ok = !mongoc_cursor_error(cursor, &berr);
  if (!ok) {
    chorus_error_from_bson(err, &berr, "find tweet");
  }
  mongoc_cursor_destroy(cursor);
  bson_destroy(&filter);
  return ok;
}

bool tweets_edit(db_t *db, const user_t *editor, const char *id_hex,
                 const char *text, size_t text_len, tweet_t *out,
                 chorus_error_t *err) {
  if (!bson_oid_is_valid(id_hex, strlen(id_hex))) {
    chorus_error_set(err, 404, "tweet_not_found", "No such tweet");
    return false;
  }
  if (!validate_text("text", text, text_len, 1, TWEET_TEXT_MAX, err)) {
    return false;
  }
  bson_oid_t id;
  bson_oid_init_from_string(&id, id_hex);

  mongoc_client_t *client = db_acquire(db);
  mongoc_collection_t *coll = db_collection(db, client, DB_TWEETS);
  tweet_t t;
  bool found = false, ok = find_one(coll, &id, &found, &t, err);
  if (ok && !found) {
    chorus_error_set(err, 404, "tweet_not_found", "No such tweet");
    ok = false;
  }
  if (ok && !bson_oid_equal(&t.author.id, &editor->id)) {
    chorus_error_set(err, 403, "forbidden",
                     "Only the author may edit this tweet");
    ok = false;
  }
  if (ok) {
    int64_t now = db_now_ms();
    bson_t filter = BSON_INITIALIZER, update = BSON_INITIALIZER, set, inc;
    BSON_APPEND_OID(&filter, "_id", &id);
    BSON_APPEND_INT64(&filter, "version", t.version);
    BSON_APPEND_DOCUMENT_BEGIN(&update, "$set", &set);
    bson_append_utf8(&set, "text", 4, text, (int)text_len);
    BSON_APPEND_DATE_TIME(&set, "edited_at", now);
    bson_append_document_end(&update, &set);
    BSON_APPEND_DOCUMENT_BEGIN(&update, "$inc", &inc);
    BSON_APPEND_INT64(&inc, "version", 1);
    bson_append_document_end(&update, &inc);
    bson_t reply;
    bson_error_t berr;
    ok = mongoc_collection_update_one(coll, &filter, &update, NULL, &reply,
                                      &berr);
    if (!ok) {
      chorus_error_from_bson(err, &berr, "update tweet");
    } else {
      bson_iter_t it;
      int64_t matched = 0;
      if (bson_iter_init_find(&it, &reply, "matchedCount")) {
        matched = bson_iter_as_int64(&it);
      }
      if (matched != 1) {
        chorus_error_set(err, 409, "conflict",
                         "The tweet changed at the same time; try again");
        ok = false;
      }
    }
    bson_destroy(&reply);
    bson_destroy(&filter);
    bson_destroy(&update);
    if (ok) {
      memcpy(t.text, text, text_len);
      t.text[text_len] = '\0';
      t.edited_at_ms = now;
      t.version++;
      ok = users_get_names(db, client, &t.author, 1, err);
    }
  }
  mongoc_collection_destroy(coll);
  db_release(db, client);
  if (ok) {
    *out = t;
  }
  return ok;
}

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

bool tweets_list(db_t *db, const page_cursor_t *before, size_t limit,
                 tweet_page_t *page, chorus_error_t *err) {
  memset(page, 0, sizeof *page);
  if (limit < 1 || limit > TWEET_PAGE_MAX) {
    chorus_error_set(err, 400, "invalid_limit", "limit must be 1 to %d",
                     TWEET_PAGE_MAX);
    return false;
  }
  bson_t filter = BSON_INITIALIZER;
  if (before) {
    append_before_filter(&filter, before);
  }
  /* One more than asked tells whether a next page exists. */
  bson_t *opts = BCON_NEW("sort", "{", "created_at", BCON_INT32(-1), "_id",
                          BCON_INT32(-1), "}", "limit",
                          BCON_INT64((int64_t)limit + 1));
  page->items = bson_malloc0(sizeof(tweet_t) * (limit + 1));

  mongoc_client_t *client = db_acquire(db);
  mongoc_collection_t *coll = db_collection(db, client, DB_TWEETS);
  mongoc_cursor_t *cursor =
      mongoc_collection_find_with_opts(coll, &filter, opts, NULL);
  const bson_t *doc;
  size_t n = 0;
  while (n < limit + 1 && mongoc_cursor_next(cursor, &doc)) {
    tweet_from_bson(doc, &page->items[n++]);
  }
  bson_error_t berr;
  bool ok = !mongoc_cursor_error(cursor, &berr);
  if (!ok) {
    chorus_error_from_bson(err, &berr, "list tweets");
  }
  mongoc_cursor_destroy(cursor);
  mongoc_collection_destroy(coll);
  bson_destroy(opts);
  bson_destroy(&filter);

  if (ok) {
    page->has_next = n > limit;
    page->n = page->has_next ? limit : n;
    if (page->has_next) {
      page->next.ts_ms = page->items[page->n - 1].created_at_ms;
      page->next.id = page->items[page->n - 1].id;
    }
    /* Display names are read now, so a renamed author shows the new name
     * on old tweets. */
    user_name_t *names = bson_malloc0(sizeof *names * (page->n + 1));
    for (size_t i = 0; i < page->n; i++) {
      names[i] = page->items[i].author;
    }
    ok = users_get_names(db, client, names, page->n, err);
    for (size_t i = 0; ok && i < page->n; i++) {
      if (names[i].username[0]) {
        page->items[i].author = names[i];
      }
    }
    bson_free(names);
  }
  db_release(db, client);
  if (!ok) {
    tweet_page_destroy(page);
  }
  return ok;
}

void tweet_page_destroy(tweet_page_t *page) {
  bson_free(page->items);
  memset(page, 0, sizeof *page);
}
