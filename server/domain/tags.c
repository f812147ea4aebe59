/*
 * tags.c - see tags.h.
 *
 * Invariant of a ranking top[0..n): n <= TRENDS_MAX and
 * tags_trend_before(top[i], top[i + 1]) for every i (checked by assert()
 * where it changes).
 */
#include "server/domain/tags.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "server/domain/validate.h"
#include "sync/base/bsonx.h"
#include "sync/query.h"

bool tags_parse(const char *tag, size_t len, char out[TAG_SIZE],
                chorus_error_t *err) {
  char text[ENTITIES_TAG_BYTES + 2];
  entity_t e;
  bool ok = len > 0 && len <= ENTITIES_TAG_BYTES && utf8_is_valid(tag, len);
  if (ok) {
    text[0] = '#';
    memcpy(text + 1, tag, len);
    /* One hashtag spanning all of "#<tag>": the parser's own rule. */
    ok = entities_parse(text, len + 1, &e, 1) == 1 &&
         e.type == ENTITY_HASHTAG && e.byte_start == 0 &&
         e.byte_end == len + 1 &&
         entities_fold_tag(tag, len, out, TAG_SIZE) > 0;
  }
  if (!ok) {
    chorus_error_set(err, 400, "invalid_tag",
                     "A tag is 1 to %d letters, digits or _ (at least one "
                     "letter), without #",
                     ENTITIES_TAG_MAX);
  }
  return ok;
}

bool tags_trend_before(const trend_t *a, const trend_t *b) {
  if (a->count != b->count) {
    return a->count > b->count;
  }
  return strcmp(a->tag, b->tag) < 0;
}

void tags_trends_offer(trend_t top[TRENDS_MAX], size_t *n, const char *tag,
                       int64_t count) {
  trend_t t;
  bson_strncpy(t.tag, tag, sizeof t.tag);
  t.count = count;
  size_t at = *n;
  while (at > 0 && tags_trend_before(&t, &top[at - 1])) {
    at--;
  }
  if (at == TRENDS_MAX) {
    return; /* ranks below all of the best */
  }
  size_t keep = *n < TRENDS_MAX ? *n : TRENDS_MAX - 1;
  memmove(&top[at + 1], &top[at], sizeof *top * (keep - at));
  top[at] = t;
  *n = keep + 1;
  for (size_t i = 1; i < *n; i++) {
    assert(tags_trend_before(&top[i - 1], &top[i]));
  }
}

/* ---- trends from the database ---- */

/* One use of a tag by an author (a tweet of the window); tag points into
 * the uses' own copy. */
typedef struct use {
  char *tag;
  bson_oid_t author;
} use_t;

typedef struct uses {
  use_t *items;
  size_t n, cap;
} uses_t;

static int use_cmp(const void *a, const void *b) {
  const use_t *x = a, *y = b;
  int c = strcmp(x->tag, y->tag);
  return c ? c : bson_oid_compare(&x->author, &y->author);
}

/* Adds the uses of one stored tweet ({author_id, tags: [...]}). */
static void add_uses(uses_t *u, const bson_t *doc) {
  bson_oid_t author;
  bson_iter_t it, tag;
  if (!bsonx_find_oid(doc, "author_id", &author) ||
      !bson_iter_init_find(&it, doc, "tags") || !BSON_ITER_HOLDS_ARRAY(&it) ||
      !bson_iter_recurse(&it, &tag)) {
    return;
  }
  while (bson_iter_next(&tag)) {
    if (!BSON_ITER_HOLDS_UTF8(&tag)) {
      continue;
    }
    if (u->n == u->cap) {
      u->cap = u->cap ? u->cap * 2 : 64;
      u->items = bson_realloc(u->items, sizeof *u->items * u->cap);
    }
    u->items[u->n].tag = bson_strdup(bson_iter_utf8(&tag, NULL));
    u->items[u->n++].author = author;
  }
}

/* Tweets read per query: on FerretDB each query scans the shard, so the
 * pages are large. */
#define TRENDS_PAGE 5000

/* The uses of the tweets of shard k created at or after cutoff, read a
 * page at a time, newest first. */
static bool shard_uses(sync_t *sync, int k, int64_t cutoff, uses_t *u,
                       chorus_error_t *err) {
  shards_t *shards = sync_shards(sync);
  char coll[TWEET_COLL_LEN];
  tweets_coll(k, coll);
  bson_t *sort = BCON_NEW("created_at", BCON_INT32(-1), "_id", BCON_INT32(-1));
  page_cursor_t after;
  bool more = true, ok = true, has_after = false;
  while (ok && more) {
    bson_t filter = BSON_INITIALIZER, since;
    BSON_APPEND_DOCUMENT_BEGIN(&filter, "created_at", &since);
    BSON_APPEND_DATE_TIME(&since, "$gte", cutoff);
    bson_append_document_end(&filter, &since);
    if (has_after) {
      page_cursor_append_filter(&filter, &after, false);
    }
    query_result_t r;
    ok = query_visible(shards_db(shards, k), sync, coll, &filter, sort,
                       TRENDS_PAGE, &r, err);
    bson_destroy(&filter);
    if (!ok) {
      break;
    }
    for (size_t i = 0; i < r.n; i++) {
      add_uses(u, r.docs[i]);
    }
    more = r.n == TRENDS_PAGE;
    if (more) {
      bson_iter_t it;
      bsonx_find_oid(r.docs[r.n - 1], "_id", &after.id);
      after.ts_ms = bson_iter_init_find(&it, r.docs[r.n - 1], "created_at") &&
                            BSON_ITER_HOLDS_DATE_TIME(&it)
                        ? bson_iter_date_time(&it)
                        : cutoff;
      has_after = true;
    }
    query_result_free(&r);
  }
  bson_destroy(sort);
  return ok;
}

bool tags_trends(db_t *db, sync_t *sync, int64_t now_ms,
                 trend_t top[TRENDS_MAX], size_t *n, chorus_error_t *err) {
  uses_t u = {NULL, 0, 0};
  bool ok = true;
  *n = 0;
  (void)db; /* tweets live in their shards' deployments */
  for (int k = 0; ok && k < shards_count(sync_shards(sync)); k++) {
    ok = shard_uses(sync, k, now_ms - TRENDS_WINDOW_MS, &u, err);
  }
  if (ok && u.n > 0) {
    /* Sorted by (tag, author): each tag's run, its distinct authors. */
    qsort(u.items, u.n, sizeof *u.items, use_cmp);
    int64_t authors = 0;
    for (size_t i = 0; i < u.n; i++) {
      bool new_tag = i == 0 || strcmp(u.items[i].tag, u.items[i - 1].tag);
      if (new_tag) {
        authors = 0;
      }
      if (new_tag ||
          !bson_oid_equal(&u.items[i].author, &u.items[i - 1].author)) {
        authors++;
      }
      if (i + 1 == u.n || strcmp(u.items[i].tag, u.items[i + 1].tag)) {
        tags_trends_offer(top, n, u.items[i].tag, authors);
      }
    }
  }
  for (size_t i = 0; i < u.n; i++) {
    bson_free(u.items[i].tag);
  }
  bson_free(u.items);
  return ok;
}

bool tags_tweets(db_t *db, sync_t *sync, const char *tag,
                 const page_cursor_t *before, size_t limit,
                 const user_t *viewer, tweet_page_t *page,
                 chorus_error_t *err) {
  tweet_query_t q = {.kind = TWEETS_WITH_TAG, .tag = tag};
  return tweets_list(db, sync, &q, before, limit, viewer, page, err);
}
