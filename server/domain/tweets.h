/*
 * tweets.h - tweets: create, edit, read, list.
 *
 * Tweets live in the shard collections tweets_0 .. tweets_<N-1> (see
 * sync/txn/shards.h: sharded by author, the shard is readable from the
 * id):
 * {_id: ObjectId, author_id: ObjectId, author: username, text, words:
 * [lowercase words, for search], entities: [{type, start, end, b0, b1,
 * username?}] (entities.h: code-point and byte spans; a mention names an
 * existing account, as it spells its name), tags: [distinct folded tags],
 * mentions: [ids of the accounts mentioned], created_at: Date, edited_at:
 * Date or null, reply_to: ObjectId or null, quote_of: ObjectId or null,
 * reply_count, like_count, repost_count, quote_count, edit_count (texts
 * kept in DB_TWEET_VERSIONS), media: [{id, type, width, height, color,
 * alt}] (its images, media.h: up to MEDIA_PER_TWEET, in the order
 * given), version}.  Documents written before these fields existed lack
 * them: absent counts are 0, absent lists empty.  The
 * timeline order is (created_at desc, _id desc), a total order that cursors
 * (cursor.h) point into.
 *
 * Collection DB_TWEET_VERSIONS, the previous texts of edited tweets:
 * {_id: "<tweet hex>:<n>" (n = 1 for the first text replaced), tweet_id,
 * n, text, written_at: Date (when that text was written), replaced_at:
 * Date, version}; read by _id only (the tweet's edit_count says which
 * exist), so it needs no index.  An edit inserts one in its transaction;
 * a deleted tweet's stay (nothing reads them).
 *
 * Entities are computed from the text at creation and at every edit
 * (entities_parse, then the mentioned names looked up: only existing
 * accounts are mentions); they are never recomputed on read.  The
 * counters repost_count and quote_count change only by increments
 * (reposts.h, tweets_create, tweets_delete), like like_count.
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
#include "server/domain/entities.h"
#include "server/domain/media.h"
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
#define DB_TWEET_VERSIONS "tweet_versions"
#define TWEET_VERSION_ID_LEN (TWEET_ID_LEN + 1 + 20)
/* Entities kept per tweet (the first ones of the text; a full tweet of
 * the shortest tags, "#a " 93 times, fits), and distinct mentioned
 * usernames looked up (the first ones: a mention of a name beyond them
 * stays plain text and notifies nobody). */
#define TWEET_ENTITIES_MAX 96
#define TWEET_MENTIONS_MAX 10

/* An entity of a tweet (entities.h) as stored and shown: a mention names
 * an existing account, spelled as that account spells it. */
typedef struct tweet_entity {
  entity_t span;
  char username[USERNAME_MAX + 1]; /* mentions; else empty */
} tweet_entity_t;

/* What a quote shows of the tweet it quotes (read at the quote's read). */
typedef struct tweet_quoted {
  bool available; /* false: deleted (only id is set) */
  bson_oid_t id;
  user_name_t author;
  char text[UTF8_BYTES(TWEET_TEXT_MAX) + 1];
  int64_t created_at_ms;
} tweet_quoted_t;

typedef struct tweet {
  bson_oid_t id;
  user_name_t author; /* id, username, display name at read time */
  char text[UTF8_BYTES(TWEET_TEXT_MAX) + 1];
  int64_t created_at_ms;
  int64_t edited_at_ms; /* 0: never edited */
  bool has_reply_to;
  bson_oid_t reply_to;
  /* The author of the tweet it replies to, when that tweet exists (filled
   * by reads, as the quote is): lists show "replying to @x" without a
   * read of each parent. */
  bool has_reply_to_user;
  user_name_t reply_to_user;
  int64_t reply_count;
  int64_t like_count;
  int64_t repost_count;
  int64_t quote_count;
  bool liked_by_me;    /* for the viewer of the list; false when none */
  bool reposted_by_me; /* likewise */
  int64_t version;
  int64_t edit_count; /* previous texts kept (tweets_history) */
  size_t n_entities;
  tweet_entity_t entities[TWEET_ENTITIES_MAX];
  bool has_quote_of;
  tweet_quoted_t quote; /* when has_quote_of (filled by reads) */
  /* In a home feed: a repost by someone the viewer follows (or the
   * viewer), shown at the repost's time; the item's place in the list
   * (and a cursor pointing at it) is (reposted_at_ms, repost_id). */
  bool is_repost;
  user_name_t reposted_by;
  int64_t reposted_at_ms;
  bson_oid_t repost_id;
  /* Its images (media.h), owned: NULL when none.  A tweet_t that holds
   * them is released with tweet_release (a page's items by
   * tweet_page_destroy); copying the struct moves them, and only one of
   * the two copies may be released. */
  media_list_t *media;
} tweet_t;

/* Frees what t owns (its media) and leaves it holding nothing; a zeroed
 * tweet_t is fine. */
void tweet_release(tweet_t *t);

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
  TWEETS_BY_AUTHORS, /* the home feed: any of several authors, and their
                        reposts (reposts.h); each tweet once, as its
                        newest item: its last repost by one of them, or
                        the tweet itself when none of them reposted it */
  TWEETS_WITH_WORDS, /* search: containing every word */
  TWEETS_WITH_TAG,   /* a tag page: with a folded tag (tags.h) */
} tweet_list_kind_t;

typedef struct tweet_query {
  tweet_list_kind_t kind;
  bson_oid_t author;         /* BY_AUTHOR */
  bson_oid_t parent;         /* REPLIES */
  const bson_oid_t *authors; /* BY_AUTHORS */
  size_t n_authors;
  char *const *words; /* WITH_WORDS: lowercase words */
  size_t n_words;
  const char *tag; /* WITH_TAG: folded */
} tweet_query_t;

/* The shard collection of shard k ("tweets_<k>"). */
void tweets_coll(int shard, char out[TWEET_COLL_LEN]);

/* Validates text (1-280 code points; 0-280 with images) and stores a new
 * tweet by author, with its entities, counting it in the author's
 * tweet_count in the same transaction.  With reply_to_hex (else NULL) it
 * is a reply: 404 when that tweet does not exist; the parent's
 * reply_count and its author's notification commit with it.  With
 * quote_of_hex (else NULL) it quotes that tweet: 404 when it does not
 * exist; its quote_count and its author's "quote" notification commit
 * with it.  Each account mentioned (but the author) gets a "mention"
 * notification.  media (NULL or empty: none) are uploads of the author
 * it takes, in the same transaction (media_add_attach: 404, 403, 409).
 * 429 "rate_limited" over the gate's tweet limits (ratelimit.h; NULL:
 * none).  out is the caller's to tweet_release. */
bool tweets_create(db_t *db, sync_t *sync, const user_t *author,
                   const char *text, size_t text_len, const char *reply_to_hex,
                   const char *quote_of_hex, const media_request_t *media,
                   ratelimit_gate_t *gate, tweet_t *out, chorus_error_t *err);

/* The field of a stored tweet that holds its search words (search.h). */
#define TWEETS_WORDS_FIELD "words"

/* Fills t from a stored tweet document, overwriting it whole (t must hold
 * nothing: tweet_release it first when it may; the caller's to
 * tweet_release after): what it stores, joined with nothing (its author
 * named by username alone, no quoted tweet, no parent's author). */
void tweets_from_stored(const bson_t *doc, tweet_t *t);

/* Appends t's entities as stored ("entities": [...]; tweets.h), and
 * reads them back from doc["entities"] (those inside t->text: call it
 * after the text is set). */
void tweets_append_entities(bson_t *doc, const tweet_t *t);
void tweets_parse_entities(const bson_t *doc, tweet_t *t);

/* Appends doc[key]: the array of tweets_tags(t); returns how many. */
size_t tweets_append_tags(bson_t *doc, const char *key, const tweet_t *t);

/* The distinct folded tags of t's entities, in text order; returns how
 * many. */
size_t tweets_tags(const tweet_t *t,
                   char tags[TWEET_ENTITIES_MAX][ENTITIES_TAG_BYTES + 1]);

/* One text of a tweet's history. */
typedef struct tweet_version {
  char text[UTF8_BYTES(TWEET_TEXT_MAX) + 1];
  int64_t written_at_ms; /* created_at, or the edit that wrote it */
  bool current;
} tweet_version_t;

typedef struct tweet_history {
  tweet_version_t *items; /* owned: tweet_history_destroy; newest first */
  size_t n;
} tweet_history_t;

/* The texts tweet id_hex has had, the current one first, then the ones
 * edits replaced, newest first; 404 when there is no such tweet. */
bool tweets_history(db_t *db, sync_t *sync, const char *id_hex,
                    tweet_history_t *out, chorus_error_t *err);
void tweet_history_destroy(tweet_history_t *h);

/* Replaces the text of tweet id_hex (and its entities; its images stay)
 * and sets edited_at, keeping the text it replaces (tweets_history).
 * Accounts the new text mentions and the previous one did not are
 * notified.  404 when there is no such tweet (or id_hex is not an id),
 * 403 when editor is not its author. */
bool tweets_edit(db_t *db, sync_t *sync, const user_t *editor,
                 const char *id_hex, const char *text, size_t text_len,
                 tweet_t *out, chorus_error_t *err);

/* Deletes a tweet of user's (403 otherwise, 404 if absent), with its
 * author's tweet_count, its parent's reply_count, the quoted tweet's
 * quote_count, its reposts (reposts.h) and its images (media_add_removal:
 * their documents and their bytes of the author's media_bytes in the
 * same transaction, their files after it).  Its replies and quotes stay
 * (a quote then shows it unavailable). */
bool tweets_delete(db_t *db, sync_t *sync, const user_t *user,
                   const char *id_hex, chorus_error_t *err);

/* One tweet as `viewer` (NULL: logged out) sees it; 404 when absent.
 * out is the caller's to tweet_release (as is every tweet_t filled by a
 * function of this module, likes.h and reposts.h). */
bool tweets_get(db_t *db, sync_t *sync, const user_t *viewer,
                const char *id_hex, tweet_t *out, chorus_error_t *err);

/* The viewer's marks of a tweet (tweet_t.liked_by_me, reposted_by_me). */
typedef enum {
  TWEETS_MARK_NONE,
  TWEETS_MARK_LIKED,
  TWEETS_MARK_REPOSTED
} tweets_mark_kind_t;

/* tweets_get, with the viewer's mark `known` taken as `value` instead of
 * read (one read fewer): the answer to the viewer's own like or repost,
 * whose outcome the caller knows.  TWEETS_MARK_NONE: tweets_get. */
bool tweets_get_marked(db_t *db, sync_t *sync, const user_t *viewer,
                       const char *id_hex, tweets_mark_kind_t known, bool value,
                       tweet_t *out, chorus_error_t *err);

/* The tweet as stored, in one read and nothing joined: its author's id
 * but no names, neither the quoted tweet nor the parent read, no marks
 * (false); 404 when absent.  What a write needs of the tweet it acts on.
 * out as tweets_get's. */
bool tweets_get_stored(db_t *db, sync_t *sync, const char *id_hex, tweet_t *out,
                       chorus_error_t *err);

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

/* Appends to array, as element i, the _id of user's document about tweet
 * in a collection of pairs (likes, reposts). */
typedef void (*tweets_pair_id_fn)(bson_t *array, uint32_t i,
                                  const bson_oid_t *user,
                                  const bson_oid_t *tweet);

/* Sets the flag at flag_offset in each of tweets[0..n) (offsetof(tweet_t,
 * liked_by_me), ...) to whether coll holds viewer's document about it
 * (NULL viewer: all false), with one query by _id (pair_id names them). */
bool tweets_mark(db_t *db, sync_t *sync, const char *coll,
                 tweets_pair_id_fn pair_id, size_t flag_offset,
                 const bson_oid_t *viewer, tweet_t *tweets, size_t n,
                 chorus_error_t *err);

/* The place of a list item in its list, as a cursor: a tweet's
 * (created_at, id), a repost's (reposted_at, repost_id). */
void tweets_item_key(const tweet_t *t, page_cursor_t *key);

/* Called for every tweet of tweets_scan (author.display_name empty);
 * false stops the scan. */
typedef bool (*tweets_scan_fn)(void *ctx, const tweet_t *t);

/* Every tweet of every shard, streamed, for the read model's load
 * (model.h). */
bool tweets_scan(sync_t *sync, tweets_scan_fn fn, void *ctx,
                 chorus_error_t *err);

/* Creates the indexes of every tweet shard collection tweets_K, each in
 * its shard's deployment: the global timeline, an author's timeline, a
 * tweet's replies, search by word, a tag's tweets. */
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
