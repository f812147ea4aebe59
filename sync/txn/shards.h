/*
 * shards.h - where documents live: the main database and the tweet shards.
 *
 * Tweets are split over N collections tweets_0 .. tweets_<N-1> by author:
 * shard = BLAKE2b(author ObjectId) mod N, so one user's timeline reads one
 * shard and the global timeline and home feed merge all of them.  Each
 * shard may live in its own deployment (`--shard K=mongodb://host:port/db`);
 * by default all live in the main database.
 *
 * A tweet's id says its shard: byte 4 of the ObjectId (the first byte of
 * its per-process random part) holds the shard number, so GET by id goes
 * straight to one shard.  N is recorded in the main database at first start
 * and a server configured with another N refuses to start, since ids and
 * authors would route to the wrong collections.
 *
 * Thread-safe after shards_new.
 */
#ifndef CHORUS_SHARDS_H
#define CHORUS_SHARDS_H

#include <bson/bson.h>
#include <stdbool.h>

#include "sync/base/db.h"
#include "sync/base/error.h"

#define SHARDS_MAX 64

typedef struct shards shards_t;

/* uris[k] (k < n) is the connection string of shard k, or NULL for the
 * main database.  The main db_t stays owned by the caller. */
shards_t *shards_new(db_t *main, int n, const char *const *uris, int pool_size,
                     chorus_error_t *err);
void shards_destroy(shards_t *shards);

int shards_count(const shards_t *shards);

/* The database of a shard; TXN_MAIN_SHARD (-1) is the main database. */
db_t *shards_db(const shards_t *shards, int shard);

#define SHARDS_COLL_LEN 24

/* "tweets_<shard>" into out. */
void shards_tweet_coll(int shard, char out[SHARDS_COLL_LEN]);

int shards_of_user(const shards_t *shards, const bson_oid_t *user);

/* A fresh ObjectId that routes to shard. */
void shards_new_tweet_id(const shards_t *shards, int shard, bson_oid_t *out);

/* The shard of a tweet id, or -1 when the id cannot be one of ours. */
int shards_of_tweet(const shards_t *shards, const bson_oid_t *id);

/* Records N in the main database, or checks it against the recorded one
 * (500 "shard_mismatch" when they differ). */
bool shards_check_count(shards_t *shards, chorus_error_t *err);

#endif
