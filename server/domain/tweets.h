/*
 * tweets.h - tweets: create, edit, read, list.
 *
 * Tweets live in the shard collections tweets_0 .. tweets_<N-1> (see
 * sync/txn/shards.h: sharded by author, the shard is readable from the
 * id):
 * {_id: ObjectId, author_id: ObjectId, author: username, text, words:
 * [lowercase words, for search], created_at: Date, edited_at: Date or
 * null, reply_to: ObjectId or null, reply_count, like_count, version}.  The
 * timeline order is (created_at desc, _id desc), a total order that cursors
 * (cursor.h) point into.
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

#include "server/domain/cursor.h"
#include "server/domain/ratelimit.h"
#include "server/domain/users.h"
#include "server/domain/validate.h"
#include "sync/base/db.h"
#include "sync/base/error.h"
#include "sync/sync.h"

#define TWEET_ID_LEN 24 /* hex ObjectId */
#define TWEET_PAGE_DEFAULT 50
#define TWEET_PAGE_MAX 200
#define TWEET_COLL_LEN SHARDS_COLL_LEN

typedef struct tweet {
  bson_oid_t id;
  user_name_t author; /* id, username, display name at read time */
  char text[UTF8_BYTES(TWEET_TEXT_MAX) + 1];
  int64_t created_at_ms;
  int64_t edited_at_ms; /* 0: never edited */
  bool has_reply_to;
  bson_oid_t reply_to;
  int64_t reply_count;
  int64_t like_count;
  bool liked_by_me; /* for the viewer of the list; false when none */
  int64_t version;
} tweet_t;

typedef struct tweet_page {
  tweet_t *items; /* owned; free with tweet_page_destroy */
  size_t n;
  bool has_next;
  page_cursor_t next; /* valid when has_next */
} tweet_page_t;

/* Which tweets a list shows. */
typedef enum {
  TWEETS_ALL,        /* the global timeline */
  TWEETS_BY_AUTHOR,  /* one user's tweets and replies */
  TWEETS_REPLIES,    /* replies to one tweet, oldest first */
  TWEETS_BY_AUTHORS, /* the home feed: any of several authors */
  TWEETS_WITH_WORDS, /* search: containing every word */
} tweet_list_kind_t;

typedef struct tweet_query {
  tweet_list_kind_t kind;
  bson_oid_t author;         /* BY_AUTHOR */
  bson_oid_t parent;         /* REPLIES */
  const bson_oid_t *authors; /* BY_AUTHORS */
  size_t n_authors;
  char *const *words; /* WITH_WORDS: lowercase words */
  size_t n_words;
} tweet_query_t;

/* The shard collection of shard k ("tweets_<k>"). */
void tweets_coll(int shard, char out[TWEET_COLL_LEN]);

/* Validates text (1-280 code points) and stores a new tweet by author,
 * counting it in the author's tweet_count in the same transaction.  With
 * reply_to_hex (else NULL) it is a reply: 404 when that tweet does not
 * exist; the parent's reply_count and its author's notification commit
 * with it.  429 "rate_limited" over the gate's tweet limits (ratelimit.h;
 * NULL: none). */
bool tweets_create(db_t *db, sync_t *sync, const user_t *author,
                   const char *text, size_t text_len, const char *reply_to_hex,
                   ratelimit_gate_t *gate, tweet_t *out, chorus_error_t *err);

/* Replaces the text of tweet id_hex and sets edited_at.  404 when there is
 * no such tweet (or id_hex is not an id), 403 when editor is not its
 * author. */
bool tweets_edit(db_t *db, sync_t *sync, const user_t *editor,
                 const char *id_hex, const char *text, size_t text_len,
                 tweet_t *out, chorus_error_t *err);

/* Deletes a tweet of user's (403 otherwise, 404 if absent), with its
 * author's tweet_count and its parent's reply_count.  Its replies stay. */
bool tweets_delete(db_t *db, sync_t *sync, const user_t *user,
                   const char *id_hex, chorus_error_t *err);

/* One tweet as `viewer` (NULL: logged out) sees it; 404 when absent. */
bool tweets_get(db_t *db, sync_t *sync, const user_t *viewer,
                const char *id_hex, tweet_t *out, chorus_error_t *err);

/* Parses a tweet id; false (404 into err) when it cannot name a tweet. */
bool tweets_parse_id(sync_t *sync, const char *id_hex, bson_oid_t *id,
                     chorus_error_t *err);

/* A page of the tweets q selects, newest first (oldest first for
 * replies), strictly after `before` when it is not NULL, at most limit
 * (1..TWEET_PAGE_MAX) items, as viewer (NULL: logged out) sees them. */
bool tweets_list(db_t *db, sync_t *sync, const tweet_query_t *q,
                 const page_cursor_t *before, size_t limit,
                 const user_t *viewer, tweet_page_t *page, chorus_error_t *err);

void tweet_page_destroy(tweet_page_t *page);

/* Called for every tweet of tweets_scan (author.display_name empty);
 * false stops the scan. */
typedef bool (*tweets_scan_fn)(void *ctx, const tweet_t *t);

/* Every tweet of every shard, streamed, for the read model's load
 * (model.h). */
bool tweets_scan(sync_t *sync, tweets_scan_fn fn, void *ctx,
                 chorus_error_t *err);

/* Creates the indexes of every tweet shard collection tweets_K, each in
 * its shard's deployment: the global timeline, an author's timeline, a
 * tweet's replies, search by word. */
bool tweets_ensure_indexes(shards_t *shards, chorus_error_t *err);

/* tweets_list of the user named username (TWEETS_BY_AUTHOR; 404 when
 * there is none). */
bool tweets_list_by_name(db_t *db, sync_t *sync, const char *username,
                         size_t len, const page_cursor_t *before, size_t limit,
                         const user_t *viewer, tweet_page_t *page,
                         chorus_error_t *err);

/* tweets_list of the replies to the tweet parent_hex (TWEETS_REPLIES;
 * 404 when there is no such tweet). */
bool tweets_list_replies(db_t *db, sync_t *sync, const char *parent_hex,
                         const page_cursor_t *before, size_t limit,
                         const user_t *viewer, tweet_page_t *page,
                         chorus_error_t *err);

/* tweets_list of the tweets containing every word of the query q (len
 * bytes, search_words); none when q has no word. */
bool tweets_search(db_t *db, sync_t *sync, const char *q, size_t len,
                   const page_cursor_t *before, size_t limit,
                   const user_t *viewer, tweet_page_t *page,
                   chorus_error_t *err);

#endif
