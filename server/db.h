/*
 * db.h - the process's one connection pool to MongoDB, and its schema.
 *
 * A db_t owns one mongoc_client_pool_t (never a client per request).  A
 * request borrows a client with db_acquire() and gives it back with
 * db_release(); a borrowed client belongs to one thread until released.
 * Everything else here is thread-safe.
 *
 * Timeouts are set on the URI unless the caller set them: a server that
 * cannot be reached fails an operation after about 1.5 s (503 for the
 * client) instead of hanging for the driver's default 30 s.  Writes use
 * w:majority so that an acknowledged write survives a replica set
 * failover, and reads use read concern "majority" so that nobody sees a
 * write that a failover could still roll back.
 */
#ifndef CHORUS_DB_H
#define CHORUS_DB_H

#include <mongoc/mongoc.h>
#include <stdbool.h>

#include "error.h"

typedef struct db db_t;

/* Collection names, in one place. */
#define DB_USERS "users"
#define DB_SESSIONS "sessions"
#define DB_TXNS "txns"

/* Connects lazily: succeeds even when the database is down (readiness
 * reports that).  Fails only on a malformed URI or database name. */
db_t *db_new(const char *uri, const char *name, int max_clients,
             chorus_error_t *err);
void db_destroy(db_t *db);

/* Borrows a client; waits (counted in db_pool_stats) when all are out. */
mongoc_client_t *db_acquire(db_t *db);
void db_release(db_t *db, mongoc_client_t *client);

/* A collection handle on a borrowed client; the caller destroys it with
 * mongoc_collection_destroy before releasing the client. */
mongoc_collection_t *db_collection(db_t *db, mongoc_client_t *client,
                                   const char *name);

/* Borrowings so far, the total time spent waiting for a client, and how
 * many waited over a millisecond. */
void db_pool_stats(db_t *db, int64_t *acquires, int64_t *wait_us,
                   int64_t *slow);

/* Sends {ping: 1}; 503 when the database cannot be reached. */
bool db_ping(db_t *db, chorus_error_t *err);

/* Creates every index of the main database's collections; idempotent. */
bool db_ensure_indexes(db_t *db, chorus_error_t *err);

/* The indexes of the event collections (events.c). */
bool db_ensure_event_indexes(db_t *db, chorus_error_t *err);

/* The database name. */
const char *db_name(const db_t *db);

/* Creates the indexes of one tweet shard collection (tweets_K). */
bool db_ensure_tweet_indexes(db_t *db, const char *coll, chorus_error_t *err);

/* Routes the driver's log through one handler that keeps warnings and
 * errors and drops the warning FerretDB causes at every shutdown (it has
 * no endSessions command).  Call once, before any client exists. */
void db_log_init(void);

/* Milliseconds since the epoch, the unit of every stored time. */
int64_t db_now_ms(void);

#endif
