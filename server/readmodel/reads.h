/*
 * reads.h - the hot reads (home feed, global timeline, the session of a
 * request), answered from the read model (model.h) when it can, and from
 * the database otherwise.
 *
 * Freshness.  A request first calls reads_fresh(): it waits (a few ms)
 * for the event poller to complete a full poll begun after the call
 * (events_sync), so every change acknowledged to any client on any
 * server before this request began is in the model.  Only then may the
 * model or the session cache answer; when the poll does not complete in
 * READS_SYNC_TIMEOUT_MS (database slow), or a poll fails or the database
 * is known to be down, or the model is disabled or still loading,
 * everything goes to the database as before (which answers 503 at once
 * while it is down: the answer bound of docs/OPERATIONS.md holds).
 *
 * Loading.  reads_loader_start() starts a thread that loads the model
 * from the database (users, follows, likes, every tweet shard, streamed),
 * retrying every second while the database fails, and logs how long it
 * took.  Until it is loaded every read goes to the database.
 *
 * Thread-safe.
 */
#ifndef CHORUS_READS_H
#define CHORUS_READS_H

#include <stdbool.h>

#include "server/domain/cursor.h"
#include "sync/base/error.h"
#include "server/http/http.h"
#include "server/app/server.h"
#include "server/domain/tweets.h"

#define READS_SYNC_TIMEOUT_MS 500

typedef struct model_loader model_loader_t;

/* NULL when the thread cannot start (then nothing is ever read from the
 * model; the server works from the database). */
model_loader_t *reads_loader_start(chorus_server_t *srv);
/* Stops and joins the loader (NULL is fine). */
void reads_loader_stop(model_loader_t *loader);

/* The client's causal token: the newest event number it caused (every
 * successful write's answer sets it, reads_seen_header) or saw live (the
 * web client raises it from its WebSocket).  Plain decimal, not secret. */
#define READS_SEEN_COOKIE "chorus_seen"

/* True when this request may read the model and the session cache.
 * after_seq: the client's token (reads_seen), 0 for none; it matters only
 * with --read-staleness-ms > 0 (events_sync). */
bool reads_fresh(chorus_server_t *srv, int64_t after_seq);

/* The request's token; 0 when it has none or it is not a number from 1
 * to INT64_MAX (a bogus one can only make its own reads wait). */
int64_t reads_seen(const http_request_t *req);

/* The Set-Cookie line ("...\r\n") that gives the client of a successful
 * write the newest event number this server knows exists, which includes
 * the write's own events (published before the answer), or the client's
 * own token when that is higher.  Empty when this server has no event
 * log.  size: at least 128. */
void reads_seen_header(const http_request_t *req, char *buf, size_t size);

/* The user of a session token (NULL or malformed: *logged_in false).
 * A database failure is an error (503); an unknown or expired token is
 * not (*logged_in false). */
bool reads_viewer(chorus_server_t *srv, bool fresh, const char *token,
                  bson_oid_t *viewer, bool *logged_in, chorus_error_t *err);

/* The home feed of viewer: its followees' tweets and its own. */
bool reads_feed(chorus_server_t *srv, bool fresh, const bson_oid_t *viewer,
                const page_cursor_t *before, size_t limit,
                tweet_page_t *page, chorus_error_t *err);

/* The global timeline as viewer (NULL: logged out) sees it. */
bool reads_timeline(chorus_server_t *srv, bool fresh,
                    const bson_oid_t *viewer, const page_cursor_t *before,
                    size_t limit, tweet_page_t *page, chorus_error_t *err);

#endif
