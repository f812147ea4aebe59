/*
 * db.h - the process's connection pool to one MongoDB deployment, its
 * health, and the creation of indexes.
 *
 * A db_t owns one mongoc_client_pool_t (never a client per request).  A
 * request borrows a client with db_acquire() and gives it back with
 * db_release(); a borrowed client belongs to one thread until released.
 * Everything else here is thread-safe.  The main database and every tweet
 * shard kept in another deployment (--shard K=URI) each have their own.
 *
 * Health.  A db_t is "up" or "down".  It goes down the moment the driver
 * loses the deployment's primary (a network error on any operation, a
 * failed heartbeat, a "shutting down" or "not primary" answer: the driver's
 * topology goes from "has a writable server" to "has none"; see the SDAM
 * topology-changed event).  While it is down db_acquire() refuses at once
 * (NULL, counted) instead of letting every operation wait for server
 * selection, so a request answers 503 in milliseconds; one background
 * prober per db_t pings the deployment (every 250 ms, each ping waiting
 * at most the server selection timeout) and brings it up again as soon as
 * a ping answers.  Only the prober talks to a deployment that is down.  A
 * refused operation was never sent: to its caller it is a network error
 * before the request left, which every caller already handles (the 2PC
 * included: recovery finishes what was in flight, docs/SYNC.md §9).
 *
 * A client borrowed before the deployment went down still reaches the
 * driver; code that sends several commands on one borrowed client checks
 * db_is_up() before each one after the first, so that a request in
 * flight at the moment of the loss waits for the driver at most once.
 *
 * Timeouts are set on the URI unless the caller set them: a server that
 * cannot be reached fails an operation after at most 0.5 s of server
 * selection (503 for the client) instead of hanging for the driver's
 * default 30 s.  Writes use w:majority and retryable writes, reads read
 * concern "majority" and retryable reads, so that an acknowledged write
 * survives a replica set failover, nobody sees a write that a failover
 * could still roll back, and an operation that meets a primary step-down
 * is retried once on the new primary by the driver.
 */
#ifndef CHORUS_DB_H
#define CHORUS_DB_H

#include <mongoc/mongoc.h>
#include <stdbool.h>

#include "sync/base/error.h"
#include "sync/base/write_gate.h"

typedef struct db db_t;

/* Connects lazily: succeeds even when the database is down (readiness
 * reports that).  Fails only on a malformed URI or database name.  Starts
 * the prober thread; db_destroy stops it. */
db_t *db_new(const char *uri, const char *name, int max_clients,
             chorus_error_t *err);
void db_destroy(db_t *db);

/* Borrows a client; waits (counted in db_pool_stats) when all are out.
 * NULL, at once, while the deployment is down (see "Health" above):
 * nothing was sent.  Every caller must check, and report it with
 * db_error_unavailable(); a function that is handed a client must accept
 * NULL and fail the same way. */
mongoc_client_t *db_acquire(db_t *db);

/* Gives a client back; NULL is ignored. */
void db_release(db_t *db, mongoc_client_t *client);

/* Fills err with the 503 "db_unavailable" of a database that cannot be
 * reached (the answer carries Retry-After). */
void db_error_unavailable(chorus_error_t *err);

/* False while the deployment is down. */
bool db_is_up(db_t *db);

/* db_is_up(), filling err with db_error_unavailable() when false: the
 * check before each further command on a borrowed client (see "Health"
 * above). */
bool db_check_up(db_t *db, chorus_error_t *err);

typedef struct db_health {
  bool up;
  int64_t outages; /* times it went down */
  int64_t refused; /* acquisitions refused while down */
  int64_t down_ms; /* how long the current outage lasts (0 when up) */
} db_health_t;

void db_health(db_t *db, db_health_t *out);

/* True when the deployment is FerretDB, learned by db_ensure_indexes
 * (false before).  FerretDB runs a query, update or delete through
 * SQLite's index only when its filter is exactly {_id: value}; any other
 * filter makes it decode every document of the collection in Go, 10x
 * slower (1.8 s instead of 0.2 s on a 15,000-tweet shard).  The
 * 2PC store then reads a document, checks its lock itself, and writes it
 * by _id alone, where on MongoDB the write's own filter checks the lock
 * (FerretDB does not apply a filtered write atomically anyway:
 * store_mongo.c). */
bool db_filters_by_id_only(db_t *db);

/* Overrides the detection for this deployment (--db-filters): ID or FULL
 * is kept whatever the server says; AUTO (the default) detects.  Call it
 * at start-up, before db_ensure_indexes. */
typedef enum { DB_FILTERS_AUTO, DB_FILTERS_ID, DB_FILTERS_FULL } db_filters_t;
void db_set_filters(db_t *db, db_filters_t mode);

/* How many write commands (insert, update, delete, findAndModify) this
 * process may have in flight to this deployment at once; more wait for a
 * place, not in arrival order (write_gate.h: at most 1 s, then they go
 * anyway).  -1 (the default): 1 on FerretDB, whose SQLite file takes one
 * writer at a time, no limit on MongoDB, set when db_ensure_indexes
 * learns which it is; 0: no limit.  Call it at start-up, before
 * db_ensure_indexes. */
void db_set_write_limit(db_t *db, int limit);

/* The priority of the calling thread's write commands at the write gate
 * (write_gate.h: urgent, normal, background); returns the one it
 * replaces, for the caller to put back. */
write_priority_t db_write_priority(write_priority_t p);

/* The write gate's limit (0: none) and its figures so far (waits, their
 * time, timeouts, the time places were held: write_gate.h). */
void db_write_gate_stats(db_t *db, int *limit, write_gate_stats_t *out);

/* The slow-command log: every database command of this deployment that
 * takes at least slow_ms (0: off, the default) prints one JSON line on
 * stderr: {"slow_db_command": name, "collection", "db", "ms", "ok"}.
 * Call it before the db is shared between threads (at start-up). */
void db_set_slow_ms(db_t *db, int slow_ms);

/* A collection handle on a borrowed client; the caller destroys it with
 * mongoc_collection_destroy before releasing the client. */
mongoc_collection_t *db_collection(db_t *db, mongoc_client_t *client,
                                   const char *name);

/* Inserts doc into collection coll on a client borrowed for this call
 * alone: a single write outside any transaction.  False on failure, with
 * err filled in: 503 "db_unavailable" when the deployment is down (nothing
 * was sent), else the driver's error (chorus_error_from_bson, which logs
 * it with `what`).  With duplicate not NULL, *duplicate says whether the
 * failure was a duplicate key; such a failure is an expected refusal,
 * not logged, with err a 409 "duplicate" that the caller may word in its
 * own terms. */
bool db_insert_one(db_t *db, const char *coll, const bson_t *doc,
                   const char *what, bool *duplicate, chorus_error_t *err);

/* Deletes every document of coll (a handle the caller owns) whose field
 * is one of values (a BSON array, the caller's), in one command.  On
 * FerretDB that is one SQLite transaction for all of them, where a bulk
 * write of one delete per document is one synced transaction each; but
 * FerretDB pushes only {_id: value} down, so it reads the whole
 * collection for this filter: for small collections only (open markers,
 * the outbox).  Sent ungated (write_gate.h, WRITE_PRIORITY_UNGATED),
 * whatever the calling thread's priority: nearly all its time is that
 * read, through which it would hold every other write of the process
 * (measured: the outbox's deletes held the gate 19 ms each, a tenth of
 * its time under load); its write is one short SQLite transaction.
 * False, with error, when the command failed. */
bool db_delete_in(mongoc_collection_t *coll, const char *field,
                  const bson_t *values, bson_error_t *error);

/* Borrowings so far, the total time spent waiting for a client, and how
 * many waited over a millisecond. */
void db_pool_stats(db_t *db, int64_t *acquires, int64_t *wait_us,
                   int64_t *slow);

/* Sends {ping: 1}; 503 when the database cannot be reached (at once
 * while it is down). */
bool db_ping(db_t *db, chorus_error_t *err);

/* One index of a collection: its name, its keys as JSON (e.g.
 * "{\"user_id\": 1, \"created_at\": -1}"), whether it is unique.  Each
 * module declares the indexes of the collections it owns in a constant
 * table of these. */
typedef struct db_index {
  const char *name;
  const char *keys_json;
  bool unique;
} db_index_t;

/* The number of entries of such a table. */
#define DB_INDEX_COUNT(specs) (sizeof(specs) / sizeof((specs)[0]))

/* Creates specs[0..n) on collection coll (the collection too, if it does
 * not exist); idempotent, and safe when several servers start at once.
 * On FerretDB only the unique ones, and a declared index that is not
 * unique is dropped if it exists: FerretDB uses no index but _id for any
 * query, and keeping one costs every write (db_index.c).
 * Also learns what kind of server the deployment is (db_filters_by_id_only,
 * db_set_write_limit).  503 when the database cannot be reached. */
bool db_ensure_indexes(db_t *db, const char *coll, const db_index_t *specs,
                       size_t n, chorus_error_t *err);

/* The database name. */
const char *db_name(const db_t *db);

/* Routes the driver's log through one handler that keeps warnings and
 * errors and drops the warning FerretDB causes at every shutdown (it has
 * no endSessions command).  Call once, before any client exists. */
void db_log_init(void);

/* Milliseconds since the epoch, the unit of every stored time. */
int64_t db_now_ms(void);

#endif
