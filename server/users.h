/*
 * users.h - accounts: registration, password checks, lookups.
 *
 * Collection "users": {_id: ObjectId, username, username_lc, display_name,
 * bio, password_hash, created_at: Date, followers_count, following_count,
 * tweet_count}.  username_lc carries the unique index that makes usernames
 * unique case-insensitively; username keeps the spelling the user chose.
 * Passwords are stored only as libsodium Argon2id strings (t=2, m=19 MiB).
 *
 * Counters are changed only by transactions (sync/), so reads that show
 * them resolve locks through sync_view.  All functions are thread-safe.
 * Functions taking a `client` use the caller's borrowed client, so a
 * caller never holds two at once.
 */
#ifndef CHORUS_USERS_H
#define CHORUS_USERS_H

#include <stdbool.h>
#include <stdint.h>

#include "db.h"
#include "error.h"
#include "sync.h"
#include "validate.h"

typedef struct user {
  bson_oid_t id;
  char username[USERNAME_MAX + 1];
  char display_name[UTF8_BYTES(DISPLAY_NAME_MAX) + 1];
  char bio[UTF8_BYTES(BIO_MAX) + 1];
  int64_t created_at_ms;
  int64_t followers_count;
  int64_t following_count;
  int64_t tweet_count;
} user_t;

/* What a tweet shows of its author. */
typedef struct user_name {
  bson_oid_t id;
  char username[USERNAME_MAX + 1];
  char display_name[UTF8_BYTES(DISPLAY_NAME_MAX) + 1];
} user_name_t;

/* Validates and creates an account; 409 "username_taken" when the name is
 * used in any letter case. */
bool users_register(db_t *db, const char *username, size_t username_len,
                    const char *password, size_t password_len, user_t *out,
                    chorus_error_t *err);

/* Checks a username and password.  Any mismatch is the same 401
 * "invalid_credentials" and takes about the same time, so the answer does
 * not tell whether the username exists. */
bool users_authenticate(db_t *db, const char *username, size_t username_len,
                        const char *password, size_t password_len,
                        user_t *out, chorus_error_t *err);

/* The account in its committed view (its counters may be locked by a
 * transaction); 404 "user_not_found" when absent.  Borrows its own
 * clients: the caller must not hold one. */
bool users_find_by_id(db_t *db, sync_t *sync, const bson_oid_t *id,
                      user_t *out, chorus_error_t *err);

/* Fills username and display_name of names[0..n) by their id with one
 * query.  An id with no user (deleted account) keeps empty names. */
bool users_get_names(db_t *db, mongoc_client_t *client, user_name_t *names,
                     size_t n, chorus_error_t *err);

#endif
