/*
 * reposts.h - reposting tweets: sharing someone's tweet with one's
 * followers.
 *
 * Collection "reposts": {_id: ObjectId (reposts_id: derived from the
 * user and the tweet, so a repost is unique per user and tweet without a
 * unique index), user_id, tweet_id, created_at, version}.  A repost, the
 * tweet's repost_count (an increment: SYNC.md §4a) and the author's
 * "repost" notification commit in one transaction; so do an unrepost and
 * the count.  Both are idempotent.  Deleting a tweet deletes its reposts
 * in the same transaction (reposts_add_removal).
 *
 * A repost is an item of the home feed of the reposter's followers (and
 * the reposter's), at the repost's time (tweet_t.is_repost; tweets.h),
 * unless that feed holds a newer item of the same tweet: a home feed shows
 * each tweet once (tweets.h, TWEETS_BY_AUTHORS).  Thread-safe.
 */
#ifndef CHORUS_REPOSTS_H
#define CHORUS_REPOSTS_H

#include <stdbool.h>

#include "server/domain/cursor.h"
#include "server/domain/ratelimit.h"
#include "server/domain/tweets.h"
#include "sync/query.h"

#define DB_REPOSTS "reposts"
/* The reposts a tweet's deletion removes at most: beyond them, the
 * others stay in the collection (feeds skip reposts of deleted tweets). */
#define REPOSTS_REMOVAL_MAX 1000
#define REPOSTS_REMOVAL_BATCH 16

/* One repost as stored. */
typedef struct repost {
  bson_oid_t id, user, tweet;
  int64_t created_at_ms;
} repost_t;

/* The _id of user's repost of tweet. */
void reposts_id(const bson_oid_t *user, const bson_oid_t *tweet,
                bson_oid_t *id);

/* Reposts (repost true) or unreposts tweet id_hex as me; out is the
 * tweet after it, as me sees it.  404 when the tweet does not exist; 429
 * "rate_limited" over the gate's like limits (ratelimit.h; NULL: none),
 * which count reposts and unreposts as likes. */
bool reposts_set(db_t *db, sync_t *sync, const user_t *me, const char *id_hex,
                 bool repost, ratelimit_gate_t *gate, tweet_t *out,
                 chorus_error_t *err);

/* reposts_id as element i of array (a tweets_pair_id_fn: tweets_mark
 * sets reposted_by_me with it). */
void reposts_pair_id(bson_t *array, uint32_t i, const bson_oid_t *user,
                     const bson_oid_t *tweet);

/* Adds the deletion of the reposts of tweet to txn, at most room of
 * them (the ops the transaction has left): a tweet's deletion.  *more
 * says whether others are left, for reposts_remove_rest after the
 * commit. */
bool reposts_add_removal(db_t *db, sync_t *sync, txn_t *txn,
                         const bson_oid_t *tweet, size_t room, bool *more,
                         chorus_error_t *err);

/* Deletes the reposts of a deleted tweet that its deletion's
 * transaction had no room for, in transactions of up to
 * REPOSTS_REMOVAL_BATCH (at most REPOSTS_REMOVAL_MAX in all).  Until
 * they are gone, readers skip them (a repost of a tweet that is gone
 * shows nothing). */
bool reposts_remove_rest(db_t *db, sync_t *sync, const bson_oid_t *tweet,
                         chorus_error_t *err);

/* The newest reposts by any of users[0..n), newest first ((created_at,
 * _id) desc), strictly after before when not NULL, at most want;
 * *out owned by the caller (bson_free), *n_out how many. */
bool reposts_list_by_users(db_t *db, sync_t *sync, const bson_oid_t *users,
                           size_t n, const page_cursor_t *before, size_t want,
                           repost_t **out, size_t *n_out, chorus_error_t *err);

/* Called for every repost of reposts_scan; false stops the scan. */
typedef bool (*reposts_scan_fn)(void *ctx, const repost_t *r);

/* Every repost of any of tweets[0..n_tweets) by any of
 * users[0..n_users), in no particular order, to fn (a home feed from the
 * database: which of its items is each tweet's newest, tweets.h). */
bool reposts_of_tweets_by_users(db_t *db, sync_t *sync, const bson_oid_t *users,
                                size_t n_users, const bson_oid_t *tweets,
                                size_t n_tweets, reposts_scan_fn fn, void *ctx,
                                chorus_error_t *err);

/* Every repost, streamed, for the read model's load (model.h). */
bool reposts_scan(db_t *db, sync_t *sync, reposts_scan_fn fn, void *ctx,
                  chorus_error_t *err);

/* user's repost of tweet as stored: *found false when there is none. */
bool reposts_get(db_t *db, sync_t *sync, const bson_oid_t *user,
                 const bson_oid_t *tweet, repost_t *out, bool *found,
                 chorus_error_t *err);

/* Creates the indexes of DB_REPOSTS: a user's newest, a tweet's. */
bool reposts_ensure_indexes(db_t *db, chorus_error_t *err);

#endif
