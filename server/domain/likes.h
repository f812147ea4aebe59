/*
 * likes.h - liking tweets.
 *
 * Collection "likes": {_id: "<user hex>:<tweet hex>", user_id, tweet_id,
 * created_at, version}.  The _id makes a like unique per user and tweet
 * without a unique index.  A like, the tweet's like_count and the author's
 * notification commit in one transaction; so do an unlike and the count.
 * Both are idempotent.  Thread-safe.
 */
#ifndef CHORUS_LIKES_H
#define CHORUS_LIKES_H

#include <stdbool.h>

#include "server/domain/ratelimit.h"
#include "server/domain/tweets.h"
#include "sync/query.h"

#define DB_LIKES "likes"

/* Likes (like true) or unlikes tweet id_hex as me; out is the tweet after
 * it, as me sees it.  404 when the tweet does not exist; 429
 * "rate_limited" over the gate's like limits (ratelimit.h; NULL: none),
 * which count likes and unlikes alike. */
bool likes_set(db_t *db, sync_t *sync, const user_t *me, const char *id_hex,
               bool like, ratelimit_gate_t *gate, tweet_t *out,
               chorus_error_t *err);

/* The _id of user's like of tweet, as element i of array (a
 * tweets_pair_id_fn: tweets_mark sets liked_by_me with it). */
void likes_pair_id(bson_t *array, uint32_t i, const bson_oid_t *user,
                   const bson_oid_t *tweet);

/* Whether user likes tweet, in the committed view. */
bool likes_check(db_t *db, sync_t *sync, const bson_oid_t *user,
                 const bson_oid_t *tweet, bool *yes, chorus_error_t *err);

/* Every like (user, tweet), for the read model's load (model.h). */
bool likes_scan(db_t *db, sync_t *sync, query_pair_fn fn, void *ctx,
                chorus_error_t *err);

/* Creates the index of DB_LIKES: tweet_id. */
bool likes_ensure_indexes(db_t *db, chorus_error_t *err);

#endif
