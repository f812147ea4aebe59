/*
 * reads.h - the hot reads (home feed, global timeline) and the one
 * session resolver ("whose session is this token"), answered from the
 * read model (model.h) when they may be, and from the database
 * otherwise.
 *
 * Freshness.  A feed or timeline request first calls reads_fresh(): it
 * waits (a few ms) for the event poller to complete a full poll begun
 * after the call (events_sync), so every change acknowledged to any
 * client on any server before this request began is in the model.  Only
 * then may the model or the session cache answer; when the poll does not
 * complete in READS_SYNC_TIMEOUT_MS (database slow), or a poll fails or
 * the database is known to be down, or the model is disabled or still
 * loading, everything goes to the database (which answers 503 at once
 * while it is down: the answer bound of docs/OPERATIONS.md holds).
 *
 * Sessions.  reads_session() is the only place that turns a session
 * token into a user, for HTTP and WebSocket alike; its freshness
 * argument says what may answer (reads_freshness_t).  The cache holds
 * the hash of a token (sessions_id), never the token, and forgets a
 * session when this server applies its "session.ended" event.  It
 * answers only while the event log has completed a poll that began at
 * most SESSIONS_CACHE_TRUST_MS ago (events_polled_within): an ending
 * answers that long after its event existed (sessions.h), so once it is
 * answered every server has applied it or asks the database.
 *
 * Loading.  reads_start() starts a thread that loads the model
 * from the database (users, follows, likes, reposts, every tweet shard,
 * streamed),
 * retrying every second while the database fails, and logs how long it
 * took; then it settles racing follow, like and repost events (model.h).  Until
 * the model is loaded every read goes to the database.
 *
 * Ownership: a reads_t borrows its database, sync and model, which
 * outlive it.  Thread-safe: every function but reads_new and
 * reads_destroy may be called from any thread.
 */
#ifndef CHORUS_READS_H
#define CHORUS_READS_H

#include <stdbool.h>

#include "server/domain/cursor.h"
#include "server/domain/tags.h"
#include "server/domain/tweets.h"
#include "server/domain/users.h"
#include "server/readmodel/model.h"
#include "sync/base/db.h"
#include "sync/base/error.h"
#include "sync/sync.h"

#define READS_SYNC_TIMEOUT_MS 500

typedef struct reads reads_t;

typedef struct reads_config {
  db_t *db;
  sync_t *sync;
  model_t *model;        /* NULL: --read-model 0, the database answers */
  int staleness_ms;      /* --read-staleness-ms (events_sync) */
  const char *server_id; /* for the loader's log lines; borrowed */
  /* Whether the event log completed a poll that began at most within_ms
   * ago; NULL: events_polled_within on sync's log (unit tests give their
   * own). */
  bool (*polled_within)(void *ctx, int within_ms);
  void *polled_ctx;
} reads_config_t;

reads_t *reads_new(const reads_config_t *cfg);

/* Stops the loader (reads_start) and frees r; NULL is fine. */
void reads_destroy(reads_t *r);

/* To be called once, as soon as the event log feeds the model
 * (events_start): every event from then on reaches it.  Session lookups
 * fill the cache only from then on (an answer read from the database
 * earlier could miss the "session.ended" of a logout that raced it,
 * which the log never replays to this server); and the model starts
 * loading in the background.  False when the loader thread cannot start
 * (then nothing is ever read from the model; the server works from the
 * database).  Without a model it does nothing. */
bool reads_start(reads_t *r);

/* ---- freshness ---- */

/* The client's causal token: the newest event number it caused (every
 * successful write's answer sets it, reads_token_for_write) or saw live
 * (the web client raises it from its WebSocket).  Plain decimal, not
 * secret. */
#define READS_SEEN_COOKIE "chorus_seen"

/* A token's value (the cookie's text, NULL when absent) as a number; 0
 * when absent or not a number from 1 to INT64_MAX (a bogus one can only
 * make its own reads wait). */
int64_t reads_token_parse(const char *value);

/* The token to give the client of a successful write: the newest event
 * number this server knows exists, which includes the write's own
 * events (published before the answer), or own (the client's token)
 * when that is higher; 0 when there is none to give. */
int64_t reads_token_for_write(reads_t *r, int64_t own);

/* A request is about to read the database with the client's token seen
 * (0: none): what it reads includes every commit whose event is numbered
 * up to seen, though this server's poller may not have delivered it yet
 * (events_read_after: no "undecided a moment ago" is trusted then).  A
 * like answered by another server is in this server's next answer to
 * the same client, its count included.  Never waits, never asks the
 * database. */
void reads_database_after(reads_t *r, int64_t seen);

/* True when this request may read the model and the session cache.
 * after_seq: the client's token, 0 for none; it matters only with
 * --read-staleness-ms > 0 (events_sync). */
bool reads_fresh(reads_t *r, int64_t after_seq);

/* ---- sessions ---- */

/* What may answer a session lookup.  In both cache modes the cache
 * answers only while a poll of the event log that began at most
 * SESSIONS_CACHE_TRUST_MS ago has completed, so an ending answered before
 * the lookup is applied (sessions.h); otherwise the database answers. */
typedef enum {
  /* The database, at once: writes and every route but the feed and the
   * timeline (docs/READMODEL.md 4b).  The cache is neither read nor
   * filled. */
  READS_DATABASE,
  /* The cache, after this request's reads_fresh() returned true; the
   * database on a miss, whose answer is cached. */
  READS_SYNCED,
  /* The cache as far as this server has applied the event log, without
   * waiting for it (the WebSocket upgrade, on a service thread that must
   * not wait); the database on a miss, whose answer is cached.  With
   * --read-model 0 there is no cache, and every lookup asks the
   * database. */
  READS_APPLIED,
} reads_freshness_t;

/* The user of a session token.  *logged_in is false (and true returned)
 * when token is NULL, malformed, unknown or expired; false with err
 * (503, 500) only when the database failed. */
bool reads_session(reads_t *r, const char *token, reads_freshness_t fresh,
                   bson_oid_t *user, bool *logged_in, chorus_error_t *err);

/* The same, with the account itself, its counters as folded
 * (users_find_account: a handler that shows them reads the account with
 * users_find_by_id); a session whose account is gone is logged out. */
bool reads_session_user(reads_t *r, const char *token, reads_freshness_t fresh,
                        user_t *user, bool *logged_in, chorus_error_t *err);

/* ---- pages ----
 * Both wait for freshness (reads_fresh with the client's token seen),
 * resolve the session token (NULL: none) at that freshness, and answer
 * from the model when they may, else from the database.  limit is
 * 1..TWEET_PAGE_MAX; before NULL for the first page.  The page is the
 * caller's (tweet_page_destroy). */

/* The home feed of the token's user: its followees' tweets and its own;
 * 401 "not_logged_in" without a session. */
bool reads_feed(reads_t *r, const char *token, int64_t seen,
                const page_cursor_t *before, size_t limit, tweet_page_t *page,
                chorus_error_t *err);

/* The global timeline as the token's user (or anyone logged out) sees
 * it. */
bool reads_timeline(reads_t *r, const char *token, int64_t seen,
                    const page_cursor_t *before, size_t limit,
                    tweet_page_t *page, chorus_error_t *err);

/* The tweets with a folded tag (tags_parse), likewise. */
bool reads_tag(reads_t *r, const char *token, int64_t seen, const char *tag,
               const page_cursor_t *before, size_t limit, tweet_page_t *page,
               chorus_error_t *err);

/* ---- trends ----
 * The trends now (tags.h), top[0..*n).  READS_SYNCED (a page): from the
 * model after reads_fresh with the client's token seen, else from the
 * database.  READS_APPLIED (the hub's pushes): from the model as far as
 * this server has applied the log; while it is loading, 503 "not_ready"
 * (asking the database instead would scan every shard's recent tweets on
 * FerretDB, and the hub tries again); with no model, from the database.
 * READS_DATABASE: from the database. */
bool reads_trends(reads_t *r, int64_t seen, reads_freshness_t fresh,
                  trend_t top[TRENDS_MAX], size_t *n, chorus_error_t *err);

#endif
