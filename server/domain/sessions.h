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

/* Deletes the session of a token (absent is fine), in a transaction that
 * publishes "session.ended" so that every server's session cache
 * (model.h) forgets it before it answers another request. */
bool sessions_delete(sync_t *sync, const char *token, chorus_error_t *err);

/* The sessions' collection. */
#define DB_SESSIONS "sessions"

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
 * keeps counting). */
bool sessions_login(db_t *db, const ratelimit_login_t *limits,
                    const char *address, const char *username,
                    size_t username_len, const char *password,
                    size_t password_len, user_t *user,
                    char token[SESSION_TOKEN_LEN + 1], int *retry_after,
                    chorus_error_t *err);

#endif
