/*
 * sessions.h - login sessions that every server accepts.
 *
 * A session is a random 256-bit token, given to the browser as the
 * HttpOnly cookie "chorus_session" (43 characters of base64url).  The
 * database keeps only a BLAKE2b-256 hash of the token as the document _id,
 * so a leaked sessions collection does not leak usable cookies.
 * Collection "sessions": {_id: hex hash, user_id: ObjectId, created_at,
 * expires_at}.  Sessions live SESSION_TTL_SECONDS; an expired one is
 * treated as absent and deleted when seen.
 *
 * Ending sessions (a logout, a password change, "log out my other
 * sessions").  Once an ending is answered, every request with an ended
 * session is refused on every server, every open WebSocket of it has been
 * asked to close (EVENT_CLOSE_SESSION_ENDED) and gets nothing more.  How:
 *   1. The ending is a transaction whose outbox holds a "session.ended"
 *      event naming what it ends (sessions_ended_t); a password change
 *      adds the new password to it (users_change_password).
 *   2. The event's publication first deletes those sessions from the
 *      database (sessions_remove_ended, called by event_enrich), then
 *      numbers it: once it exists, every lookup in the database finds
 *      them gone, and a server that applies it drops them from its
 *      session cache (model.h) and closes their WebSockets (hub.h);
 *      servers apply events in order, so nothing numbered after it
 *      reaches those WebSockets.
 *   3. The answer waits SESSIONS_CACHE_TRUST_MS after the publication,
 *      and a server answers a session from its cache only while a poll of
 *      the event log that began at most SESSIONS_CACHE_TRUST_MS ago has
 *      completed (events_polled_within; reads.h): such a poll began after
 *      the event existed, so it applied it.  A server that has not polled
 *      that recently, whether slow, stuck or cut off, asks the database.
 * No database work is added to any read, and nothing runs while idle; an
 * ending costs its transaction, the deletes and the wait.  When the
 * event cannot be published at once (the database failing after the
 * commit) the ending answers 503: its sessions end when the pump
 * publishes it (seconds later), and a retry ends them again.
 *
 * Thread-safe.
 */
#ifndef CHORUS_SESSIONS_H
#define CHORUS_SESSIONS_H

#include <stdbool.h>

#include "server/domain/ratelimit.h"
#include "server/domain/users.h"
#include "sync/base/db.h"
#include "sync/base/error.h"
#include "sync/sync.h"

#define SESSION_COOKIE "chorus_session"
#define SESSION_TOKEN_LEN 43
#define SESSION_TTL_SECONDS (30 * 24 * 3600)
#define SESSION_ID_LEN 64 /* hex of the token's BLAKE2b-256: the _id */

/* Creates a session for user_id and writes its token into token. */
bool sessions_create(db_t *db, const bson_oid_t *user_id,
                     char token[SESSION_TOKEN_LEN + 1], chorus_error_t *err);

/* The session id (the stored _id) of a token; false when the token is
 * malformed. */
bool sessions_id(const char *token, char id[SESSION_ID_LEN + 1]);

/* Finds the user of a token, and when the session expires (may be NULL);
 * 401 "not_logged_in" when the token is malformed, unknown or expired. */
bool sessions_resolve(db_t *db, mongoc_client_t *client, const char *token,
                      bson_oid_t *user_id, int64_t *expires_at_ms,
                      chorus_error_t *err);

/* The sessions' collection. */
#define DB_SESSIONS "sessions"

/* How old the newest completed poll of the event log may be for a server
 * to answer a session from its cache, and how long an ending's answer
 * waits after its event is published (see above).  Five times the idle
 * poller's longest sleep (20 ms), so that an idle server's cache almost
 * always qualifies; the cost is this much latency on every ending. */
#define SESSIONS_CACHE_TRUST_MS 100

/* What one ending ends: one session, or every session of an account but
 * one.  The "session.ended" event carries it (event_payloads.h). */
typedef struct sessions_ended {
  bool by_user;
  char session[SESSION_ID_LEN + 1]; /* !by_user: the session's id */
  bson_oid_t user;                  /* by_user: the account */
  char except[SESSION_ID_LEN + 1];  /* by_user: the one kept ("": none) */
} sessions_ended_t;

/* Whether e ends session id, a session of user. */
bool sessions_ended_includes(const sessions_ended_t *e, const char *id,
                             const bson_oid_t *user);

/* Deletes what e ends from the database (direct deletes; nothing there is
 * fine): what the publication of its event does before numbering it
 * (event_enrich). */
bool sessions_remove_ended(db_t *db, const sessions_ended_t *e,
                           chorus_error_t *err);

/* A logout: ends the token's session (step 1-3 above).  Nothing to do,
 * and true, when the token is not a session (malformed, unknown, expired,
 * ended already). */
bool sessions_end(db_t *db, sync_t *sync, const char *token,
                  chorus_error_t *err);

/* "Log out my other sessions": ends every session of user but the
 * token's. */
bool sessions_end_others(sync_t *sync, const bson_oid_t *user,
                         const char *token, chorus_error_t *err);

/* A password change by the token's session of user: under the limits of
 * ratelimit.h (a wrong current password counts as a failed login of the
 * account's username and of address), users_change_password, which ends
 * every other session of the account; the token's own session stays.
 * 403 "wrong_password", 400 for a new password that registration would
 * refuse, 429 "rate_limited" with *retry_after seconds. */
bool sessions_change_password(db_t *db, sync_t *sync,
                              const ratelimit_login_t *limits,
                              const char *address, const user_t *user,
                              const char *token, const char *current,
                              size_t current_len, const char *password,
                              size_t password_len, int *retry_after,
                              chorus_error_t *err);

/* Creates the index of DB_SESSIONS: user_id. */
bool sessions_ensure_indexes(db_t *db, chorus_error_t *err);

/* Registers an account (users_register, under the gate's registration
 * limit) and starts its session: what POST /api/register does.  token:
 * the new session's. */
bool sessions_register(db_t *db, const char *username, size_t username_len,
                       const char *password, size_t password_len,
                       ratelimit_gate_t *gate, user_t *user,
                       char token[SESSION_TOKEN_LEN + 1], chorus_error_t *err);

/* Checks a login (users_authenticate) under the login limits of
 * ratelimit.h and starts its session: what POST /api/login does.  The
 * username's counters are kept under its folded form, or under the shared
 * key "invalid" when it cannot be a username; address is the client's.
 * 429 "rate_limited" with *retry_after seconds when this username from
 * this address, or this address, has failed too often; a username that
 * failed often from anywhere makes the attempt wait first
 * (ratelimit_login_delay_ms); 401 "invalid_credentials" (which alone
 * keeps counting).  A login whose account's password changed while it
 * ran (password_changed_at, read again in the committed view once the
 * session exists) removes its session and is 401 "invalid_credentials"
 * too: the change may have ended the account's sessions before this one
 * was stored. */
bool sessions_login(db_t *db, sync_t *sync, const ratelimit_login_t *limits,
                    const char *address, const char *username,
                    size_t username_len, const char *password,
                    size_t password_len, user_t *user,
                    char token[SESSION_TOKEN_LEN + 1], int *retry_after,
                    chorus_error_t *err);

#endif
