/*
 * users.h - accounts: registration, password checks, lookups.
 *
 * Collection "users": {_id: ObjectId, username, username_lc, display_name,
 * display_name_lc, bio, password_hash, password_changed_at?: Date,
 * created_at: Date, followers_count, following_count, tweet_count,
 * notifications_read_at: Date, avatar, header: ObjectId or null (media.h:
 * images the account's profile uses; absent: none), media_bytes (the
 * bytes of the account's media, against its quota: media.h; absent: 0),
 * version}.
 * The _lc fields are search_fold()ed copies for case-insensitive lookup
 * and prefix search.  username_lc carries the unique index that makes usernames
 * unique case-insensitively; username keeps the spelling the user chose.
 * Passwords are stored only as libsodium Argon2id strings (t=2, m=19 MiB).
 * A password is changed by a transaction (users_change_password), which
 * also sets password_changed_at (absent until the first change), so a
 * login that raced a change can tell (sessions_login).
 *
 * Counters are changed only by transactions (sync/).  Those a creation
 * or a follow changes (tweet_count, followers_count, following_count) are
 * deferred increments (txn_add_deferred_increment, users_deferred_colls):
 * each rides in its transaction's open marker until a finisher folds it
 * into the document, and reads that show them (users_find_by_id,
 * users_find_by_username) add those not folded yet; users_find_account
 * and pages, which show none, read them as folded
 * (user_t.counters_folded).  The others (a deletion's tweet_count and
 * media_bytes, an upload's media_bytes) are escrow entries or exclusive
 * changes, which every read shows as committed.  All functions are
 * thread-safe.
 * Functions taking a `client` use the caller's borrowed client, so a
 * caller never holds two at once.
 */
#ifndef CHORUS_USERS_H
#define CHORUS_USERS_H

#include <stdbool.h>
#include <stdint.h>

#include "server/domain/cursor.h"
#include "server/domain/ratelimit.h"
#include "server/domain/validate.h"
#include "sync/base/db.h"
#include "sync/base/error.h"
#include "sync/sync.h"

typedef struct user {
  bson_oid_t id;
  char username[USERNAME_MAX + 1];
  char display_name[UTF8_BYTES(DISPLAY_NAME_MAX) + 1];
  char bio[UTF8_BYTES(BIO_MAX) + 1];
  int64_t created_at_ms;
  int64_t followers_count;
  int64_t following_count;
  int64_t tweet_count;
  int64_t notifications_read_at_ms;
  int64_t version; /* of the document: bumped by every transaction on it
                      (by an increment's once it is folded in) */
  /* When the password was last changed (strictly increasing); 0 never. */
  int64_t password_changed_at_ms;
  bool has_avatar, has_header;
  bson_oid_t avatar, header; /* media ids, when has_ */
  int64_t media_bytes;
  /* Read by users_find_account: the three counts above may lag their
   * committed values (not media_bytes); nothing renders them. */
  bool counters_folded;
} user_t;

/* A page of users (lists, search); next is an opaque cursor string. */
typedef struct user_page {
  user_t *items; /* owned; user_page_destroy */
  size_t n;
  bool has_next;
  char next[NAME_CURSOR_MAX + 1];
} user_page_t;

/* What a tweet shows of its author. */
typedef struct user_name {
  bson_oid_t id;
  char username[USERNAME_MAX + 1];
  char display_name[UTF8_BYTES(DISPLAY_NAME_MAX) + 1];
  /* The account document's version these names were read at, where the
   * reader needs it (the read model orders renames by it); 0: unknown. */
  int64_t version;
  bool has_avatar;
  bson_oid_t avatar; /* its avatar's media id, when has_avatar */
} user_name_t;

/* The names (and avatar) of u as a tweet shows its author. */
void user_name_of(const user_t *u, user_name_t *out);

/* Validates (validate_username, validate_password_for) and creates an
 * account; 429 "rate_limited" (gate->retry_after) over the gate's
 * registration limit (ratelimit.h; NULL gate: none); 409
 * "username_taken" when the name is used in any letter case. */
bool users_register(db_t *db, const char *username, size_t username_len,
                    const char *password, size_t password_len,
                    ratelimit_gate_t *gate, user_t *out, chorus_error_t *err);

/* Checks a username and password.  Any mismatch is the same 401
 * "invalid_credentials" and takes about the same time, so the answer does
 * not tell whether the username exists. */
bool users_authenticate(db_t *db, const char *username, size_t username_len,
                        const char *password, size_t password_len, user_t *out,
                        chorus_error_t *err);

/* The account in its committed view (its counters may be locked by a
 * transaction); 404 "user_not_found" when absent.  Borrows its own
 * clients: the caller must not hold one. */
bool users_find_by_id(db_t *db, sync_t *sync, const bson_oid_t *id, user_t *out,
                      chorus_error_t *err);

/* users_find_by_id with the counters as folded into the document
 * (query_visible_folded; out->counters_folded): one read where
 * users_find_by_id takes three, for the session's account, read on every
 * request that needs no counter. */
bool users_find_account(db_t *db, sync_t *sync, const bson_oid_t *id,
                        user_t *out, chorus_error_t *err);

/* The collections whose deferred increments the server defers
 * (sync_config_t.deferred_colls, NULL-ended): the accounts', whose counts
 * every creation and follow changes, and only profiles show. */
const char *const *users_deferred_colls(void);

/* By username, ignoring case; 404 "user_not_found". */
bool users_find_by_username(db_t *db, sync_t *sync, const char *username,
                            size_t len, user_t *out, chorus_error_t *err);

/* What a profile update changes: each field NULL (or its _set false)
 * when unchanged.  An image is an upload of the account's own (media.h),
 * or none (its _hex NULL with _set true). */
typedef struct users_profile_change {
  const char *display_name; /* 1-50 code points */
  size_t dn_len;
  const char *bio; /* 0-160 code points */
  size_t bio_len;
  bool avatar_set;
  const char *avatar_hex;
  bool header_set;
  const char *header_hex;
} users_profile_change_t;

/* Changes me's profile as c says, validated (400), in one transaction;
 * out is the result.  A new avatar or header takes the upload
 * (media_add_attach: 404, 403, 409); the one it replaces (or removes) is
 * deleted with its bytes of media_bytes (media_add_removal).  Tweets show
 * their author's current names and avatar: the read models learn them
 * from the transaction's user.updated event. */
bool users_update_profile(db_t *db, sync_t *sync, const user_t *me,
                          const users_profile_change_t *c, user_t *out,
                          chorus_error_t *err);

/* Changes the password of account user: current must be its password
 * (403 "wrong_password" otherwise), password is validated as at
 * registration (validate_password_for: 400).  One transaction, checked against
 * the account's version (a change racing another is retried, and then finds its
 * current password wrong), that also sets password_changed_at and adds the
 * "session.ended" event that ends every other session of the account
 * but except_session (a session id; NULL: every one; sessions.h says
 * what the event does).  *published: the event was published before
 * this returned (sync_commit_published). */
bool users_change_password(db_t *db, sync_t *sync, const user_t *user,
                           const char *current, size_t current_len,
                           const char *password, size_t password_len,
                           const char *except_session, bool *published,
                           chorus_error_t *err);

/* Users whose username or display name starts with q (folded), ordered by
 * username, strictly after the name cursor `after` when not NULL; their
 * counters as folded (a page shows none). */
bool users_search(db_t *db, sync_t *sync, const char *q, size_t q_len,
                  const char *after, size_t limit, user_page_t *page,
                  chorus_error_t *err);

/* The users with these ids (committed view, counters as folded: for
 * pages, which show none), in the order of ids; an id with no user is
 * left out.  out has room for n. */
bool users_get_many(db_t *db, sync_t *sync, const bson_oid_t *ids, size_t n,
                    user_t *out, size_t *found, chorus_error_t *err);

void user_page_destroy(user_page_t *page);

/* Called for every account of users_scan_names; false stops the scan. */
typedef bool (*users_name_fn)(void *ctx, const user_name_t *name);

/* Every account's id and names, streamed, for the read model's load
 * (model.h). */
bool users_scan_names(db_t *db, sync_t *sync, users_name_fn fn, void *ctx,
                      chorus_error_t *err);

/* Fills username, display_name and avatar of names[0..n) by their id:
 * one query ({_id: {$in: ...}}), or one per id for a few ids on a
 * database that answers $in on _id slowly (db_filters_by_id_only).  An
 * id with no user (deleted account) gets empty names and no avatar. */
bool users_get_names(db_t *db, mongoc_client_t *client, user_name_t *names,
                     size_t n, chorus_error_t *err);

/* The accounts' collection. */
#define DB_USERS "users"

/* Creates the indexes of DB_USERS: username_lc (unique: usernames are
 * unique case-insensitively), display_name_lc (search) and
 * (followers_count desc, username_lc) (people to follow, follows.h). */
bool users_ensure_indexes(db_t *db, chorus_error_t *err);

#endif
