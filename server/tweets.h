/*
 * tweets.h - tweets: create, edit, read, list.
 *
 * Tweets live in the shard collections tweets_0 .. tweets_<N-1> (see
 * sync/shards.h: sharded by author, the shard is readable from the id):
 * {_id: ObjectId, author_id: ObjectId, author: username, text, created_at:
 * Date, edited_at: Date or null, reply_to: ObjectId or null, reply_count,
 * like_count, version: Int64}.  The timeline order is (created_at desc,
 * _id desc), a total order that cursors (cursor.h) point into.
 *
 * Every write is a transaction through sync/ (a new tweet and its author's
 * tweet_count commit together; an edit checks the version it read), and
 * every read passes through sync_view, so readers only ever see committed
 * states.  Handlers never see a collection.  Thread-safe.
 */
#ifndef CHORUS_TWEETS_H
#define CHORUS_TWEETS_H

#include <stdbool.h>
#include <stdint.h>

#include "cursor.h"
#include "db.h"
#include "error.h"
#include "sync.h"
#include "users.h"
#include "validate.h"

#define TWEET_ID_LEN 24       /* hex ObjectId */
#define TWEET_PAGE_DEFAULT 50
#define TWEET_PAGE_MAX 200

typedef struct tweet {
  bson_oid_t id;
  user_name_t author;  /* id, username, display name at read time */
  char text[UTF8_BYTES(TWEET_TEXT_MAX) + 1];
  int64_t created_at_ms;
  int64_t edited_at_ms; /* 0: never edited */
  int64_t version;
} tweet_t;

typedef struct tweet_page {
  tweet_t *items;      /* owned; free with tweet_page_destroy */
  size_t n;
  bool has_next;
  page_cursor_t next;  /* valid when has_next */
} tweet_page_t;

/* Validates text (1-280 code points) and stores a new tweet by author,
 * counting it in the author's tweet_count in the same transaction. */
bool tweets_create(db_t *db, sync_t *sync, const user_t *author,
                   const char *text, size_t text_len, tweet_t *out,
                   chorus_error_t *err);

/* Replaces the text of tweet id_hex and sets edited_at.  404 when there is
 * no such tweet (or id_hex is not an id), 403 when editor is not its
 * author, 409 when it changed concurrently. */
bool tweets_edit(db_t *db, sync_t *sync, const user_t *editor,
                 const char *id_hex, const char *text, size_t text_len,
                 tweet_t *out, chorus_error_t *err);

/* All tweets, newest first, strictly after `before` when it is not NULL;
 * at most limit (1..TWEET_PAGE_MAX) items. */
bool tweets_list(db_t *db, sync_t *sync, const page_cursor_t *before,
                 size_t limit, tweet_page_t *page, chorus_error_t *err);

void tweet_page_destroy(tweet_page_t *page);

#endif
