/*
 * sessions.c - see sessions.h.  Randomness and hashing are libsodium's.
 */
#include "server/domain/sessions.h"

#include <sodium.h>
#include <string.h>
#include <time.h>

#include "server/domain/event_payloads.h"
#include "sync/events/events.h"

#define TOKEN_BYTES 32
#define HASH_HEX_LEN (crypto_generichash_BYTES * 2)
_Static_assert(HASH_HEX_LEN == SESSION_ID_LEN, "a session id is a hash");

static bool token_hash_hex(const char *token, char out[HASH_HEX_LEN + 1]) {
  if (!token || strlen(token) != SESSION_TOKEN_LEN) {
    return false;
  }
  unsigned char raw[TOKEN_BYTES];
  size_t n = 0;
  if (sodium_base642bin(raw, sizeof raw, token, SESSION_TOKEN_LEN, NULL, &n,
                        NULL, sodium_base64_VARIANT_URLSAFE_NO_PADDING) != 0 ||
      n != TOKEN_BYTES) {
    return false;
  }
  unsigned char h[crypto_generichash_BYTES];
  crypto_generichash(h, sizeof h, raw, sizeof raw, NULL, 0);
  sodium_bin2hex(out, HASH_HEX_LEN + 1, h, sizeof h);
  return true;
}

bool sessions_create(db_t *db, const bson_oid_t *user_id,
                     char token[SESSION_TOKEN_LEN + 1], chorus_error_t *err) {
  unsigned char raw[TOKEN_BYTES];
  randombytes_buf(raw, sizeof raw);
  sodium_bin2base64(token, SESSION_TOKEN_LEN + 1, raw, sizeof raw,
                    sodium_base64_VARIANT_URLSAFE_NO_PADDING);
  char id[HASH_HEX_LEN + 1];
  BSON_ASSERT(token_hash_hex(token, id));

  int64_t now = db_now_ms();
  bson_t doc = BSON_INITIALIZER;
  BSON_APPEND_UTF8(&doc, "_id", id);
  BSON_APPEND_OID(&doc, "user_id", user_id);
  BSON_APPEND_DATE_TIME(&doc, "created_at", now);
  BSON_APPEND_DATE_TIME(&doc, "expires_at",
                        now + (int64_t)SESSION_TTL_SECONDS * 1000);
  bool ok = db_insert_one(db, DB_SESSIONS, &doc, "insert session", NULL, err);
  bson_destroy(&doc);
  return ok;
}

static bool delete_by_id(mongoc_collection_t *coll, const char *id,
                         chorus_error_t *err) {
  bson_t filter = BSON_INITIALIZER;
  BSON_APPEND_UTF8(&filter, "_id", id);
  bson_error_t berr;
  bool ok = mongoc_collection_delete_one(coll, &filter, NULL, NULL, &berr);
  if (!ok) {
    chorus_error_from_bson(err, &berr, "delete session");
  }
  bson_destroy(&filter);
  return ok;
}

bool sessions_id(const char *token, char id[SESSION_ID_LEN + 1]) {
  return token_hash_hex(token, id);
}

bool sessions_resolve(db_t *db, mongoc_client_t *client, const char *token,
                      bson_oid_t *user_id, int64_t *expires_at_ms,
                      chorus_error_t *err) {
  char id[HASH_HEX_LEN + 1];
  if (!token_hash_hex(token, id)) {
    chorus_error_set(err, 401, "not_logged_in", "You are not logged in");
    return false;
  }
  if (!client) {
    db_error_unavailable(err);
    return false;
  }
  mongoc_collection_t *coll = db_collection(db, client, DB_SESSIONS);
  bson_t filter = BSON_INITIALIZER;
  BSON_APPEND_UTF8(&filter, "_id", id);
  mongoc_cursor_t *cursor =
      mongoc_collection_find_with_opts(coll, &filter, NULL, NULL);
  const bson_t *doc;
  bool found = false, expired = false;
  if (mongoc_cursor_next(cursor, &doc)) {
    bson_iter_t it;
    if (bson_iter_init_find(&it, doc, "user_id") && BSON_ITER_HOLDS_OID(&it)) {
      bson_oid_copy(bson_iter_oid(&it), user_id);
      found = true;
    }
    if (bson_iter_init_find(&it, doc, "expires_at") &&
        BSON_ITER_HOLDS_DATE_TIME(&it)) {
      if (expires_at_ms) {
        *expires_at_ms = bson_iter_date_time(&it);
      }
      expired = bson_iter_date_time(&it) <= db_now_ms();
    } else if (expires_at_ms) {
      *expires_at_ms = db_now_ms(); /* no expiry recorded: do not cache */
    }
  }
  bson_error_t berr;
  bool ok = !mongoc_cursor_error(cursor, &berr);
  mongoc_cursor_destroy(cursor);
  bson_destroy(&filter);
  if (ok && expired) {
    delete_by_id(coll, id, NULL);
  }
  mongoc_collection_destroy(coll);
  if (!ok) {
    chorus_error_from_bson(err, &berr, "find session");
    return false;
  }
  if (!found || expired) {
    chorus_error_set(err, 401, "not_logged_in", "You are not logged in");
    return false;
  }
  return true;
}

bool sessions_ended_includes(const sessions_ended_t *e, const char *id,
                             const bson_oid_t *user) {
  if (!e->by_user) {
    return !strcmp(e->session, id);
  }
  return bson_oid_equal(&e->user, user) && strcmp(e->except, id) != 0;
}

bool sessions_remove_ended(db_t *db, const sessions_ended_t *e,
                           chorus_error_t *err) {
  mongoc_client_t *client = db_acquire(db);
  if (!client) {
    db_error_unavailable(err);
    return false;
  }
  mongoc_collection_t *coll = db_collection(db, client, DB_SESSIONS);
  bool ok;
  if (!e->by_user) {
    ok = delete_by_id(coll, e->session, err);
  } else {
    /* {user_id, _id: {$ne: except}}: one command however many there are
     * (an account can hold thousands: successful logins are not
     * limited). */
    bson_t filter = BSON_INITIALIZER, ne;
    BSON_APPEND_OID(&filter, "user_id", &e->user);
    if (e->except[0]) {
      BSON_APPEND_DOCUMENT_BEGIN(&filter, "_id", &ne);
      BSON_APPEND_UTF8(&ne, "$ne", e->except);
      bson_append_document_end(&filter, &ne);
    }
    bson_error_t berr;
    ok = mongoc_collection_delete_many(coll, &filter, NULL, NULL, &berr);
    if (!ok) {
      chorus_error_from_bson(err, &berr, "delete sessions");
    }
    bson_destroy(&filter);
  }
  mongoc_collection_destroy(coll);
  db_release(db, client);
  return ok;
}

/* Builds an ending: its outbox alone (the publication deletes the
 * sessions: sessions.h, step 2). */
static bool build_end(void *arg, txn_t *txn, chorus_error_t *err) {
  (void)err;
  const sessions_ended_t *e = arg;
  event_batch_t events;
  event_batch_init(&events);
  if (e->by_user) {
    event_add_sessions_ended_for_user(&events, &e->user,
                                      e->except[0] ? e->except : NULL);
  } else {
    event_add_session_ended(&events, e->session);
  }
  event_batch_commit(&events, txn);
  return true;
}

/* The end of every ending (step 3): once its event is out, wait until
 * every server has applied it or asks the database. */
static bool announce(bool committed, bool published, chorus_error_t *err) {
  if (!committed) {
    return false;
  }
  if (!published) {
    chorus_error_set(err, 503, "not_announced",
                     "The sessions end once every server is told; try again "
                     "shortly");
    return false;
  }
  struct timespec wait = {0, SESSIONS_CACHE_TRUST_MS * 1000000L};
  while (nanosleep(&wait, &wait) != 0) {
  }
  return true;
}

static bool end_sessions(sync_t *sync, const sessions_ended_t *e,
                         chorus_error_t *err) {
  size_t failed;
  bool published;
  txn_outcome_t outcome = sync_commit_published(sync, build_end, (void *)e,
                                                &failed, &published, err);
  return announce(outcome == TXN_OUTCOME_COMMITTED, published, err);
}

bool sessions_end(db_t *db, sync_t *sync, const char *token,
                  chorus_error_t *err) {
  sessions_ended_t e;
  memset(&e, 0, sizeof e);
  if (!token_hash_hex(token, e.session)) {
    return true; /* nothing could match */
  }
  /* Only a session that exists is ended: a made-up token publishes
   * nothing. */
  bson_oid_t user;
  chorus_error_t found;
  mongoc_client_t *client = db_acquire(db);
  bool exists = sessions_resolve(db, client, token, &user, NULL, &found);
  db_release(db, client);
  bool ok;
  if (exists) {
    ok = end_sessions(sync, &e, err);
  } else {
    ok = found.status < 500; /* unknown, expired: nothing to end */
    if (!ok && err) {
      *err = found;
    }
  }
  sodium_memzero(&e, sizeof e);
  return ok;
}

bool sessions_end_others(sync_t *sync, const bson_oid_t *user,
                         const char *token, chorus_error_t *err) {
  sessions_ended_t e;
  memset(&e, 0, sizeof e);
  e.by_user = true;
  e.user = *user;
  if (!token_hash_hex(token, e.except)) {
    chorus_error_set(err, 401, "not_logged_in", "You are not logged in");
    return false;
  }
  bool ok = end_sessions(sync, &e, err);
  sodium_memzero(&e, sizeof e);
  return ok;
}

/* Waits delay_ms (0: not at all): a username others keep failing for is
 * slowed down, never refused (ratelimit_login_delay_ms). */
static void login_delay(int delay_ms) {
  if (delay_ms > 0) {
    struct timespec ts = {delay_ms / 1000, (long)(delay_ms % 1000) * 1000000};
    nanosleep(&ts, NULL);
  }
}

bool sessions_change_password(db_t *db, sync_t *sync,
                              const ratelimit_login_t *limits,
                              const char *address, const user_t *user,
                              const char *token, const char *current,
                              size_t current_len, const char *password,
                              size_t password_len, int *retry_after,
                              chorus_error_t *err) {
  char except[HASH_HEX_LEN + 1];
  if (!token_hash_hex(token, except)) {
    chorus_error_set(err, 401, "not_logged_in", "You are not logged in");
    return false;
  }
  char name_lc[USERNAME_MAX + 1];
  username_fold(user->username, strlen(user->username), name_lc);
  ratelimit_ticket_t attempt;
  chorus_error_t e;
  bool published = false;
  int delay_ms = 0;
  bool ok = ratelimit_login_begin(db, limits, name_lc, address, &attempt,
                                  &delay_ms, retry_after, &e);
  if (ok || e.status != 429) {
    login_delay(ok ? delay_ms : 0);
    ok = ok &&
         users_change_password(db, sync, user, current, current_len, password,
                               password_len, except, &published, &e);
    /* Only a wrong current password keeps counting. */
    ratelimit_login_end(db, &attempt, !ok && e.status == 403);
  }
  sodium_memzero(except, sizeof except);
  if (!ok) {
    if (err) {
      *err = e;
    }
    return false;
  }
  return announce(true, published, err);
}

static const db_index_t sessions_indexes[] = {
    {"user_id_1", "{\"user_id\": 1}", false},
};

bool sessions_ensure_indexes(db_t *db, chorus_error_t *err) {
  return db_ensure_indexes(db, DB_SESSIONS, sessions_indexes,
                           DB_INDEX_COUNT(sessions_indexes), err);
}

bool sessions_register(db_t *db, const char *username, size_t username_len,
                       const char *password, size_t password_len,
                       ratelimit_gate_t *gate, user_t *user,
                       char token[SESSION_TOKEN_LEN + 1], chorus_error_t *err) {
  return users_register(db, username, username_len, password, password_len,
                        gate, user, err) &&
         sessions_create(db, &user->id, token, err);
}

/* The login's own session is removed again when the account's password
 * changed since users_authenticate read it (sessions.h). */
static bool confirm_login(db_t *db, sync_t *sync, const user_t *user,
                          const char *token, chorus_error_t *err) {
  user_t now;
  bool ok = users_find_by_id(db, sync, &user->id, &now, err);
  if (ok && now.password_changed_at_ms != user->password_changed_at_ms) {
    ok = false;
    chorus_error_set(err, 401, "invalid_credentials",
                     "Wrong username or password");
  }
  if (!ok) {
    /* Its token was never given out: no server has it cached. */
    sessions_ended_t e;
    memset(&e, 0, sizeof e);
    BSON_ASSERT(token_hash_hex(token, e.session));
    sessions_remove_ended(db, &e, NULL);
  }
  return ok;
}

bool sessions_login(db_t *db, sync_t *sync, const ratelimit_login_t *limits,
                    const char *address, const char *username,
                    size_t username_len, const char *password,
                    size_t password_len, user_t *user,
                    char token[SESSION_TOKEN_LEN + 1], int *retry_after,
                    chorus_error_t *err) {
  /* The counter key: the folded name when it could be one, else the
   * shared key "invalid" (such logins always fail; never stored
   * verbatim). */
  char name_lc[USERNAME_MAX + 1];
  if (validate_username(username, username_len, NULL)) {
    username_fold(username, username_len, name_lc);
  } else {
    bson_strncpy(name_lc, "invalid", sizeof name_lc);
  }
  ratelimit_ticket_t attempt;
  chorus_error_t e;
  int delay_ms = 0;
  bool ok = ratelimit_login_begin(db, limits, name_lc, address, &attempt,
                                  &delay_ms, retry_after, &e);
  if (ok || e.status != 429) {
    login_delay(ok ? delay_ms : 0);
    ok = ok && users_authenticate(db, username, username_len, password,
                                  password_len, user, &e);
    /* Only a wrong password keeps counting. */
    ratelimit_login_end(db, &attempt, !ok && e.status == 401);
  }
  if (!ok) {
    if (err) {
      *err = e;
    }
    return false;
  }
  return sessions_create(db, &user->id, token, err) &&
         confirm_login(db, sync, user, token, err);
}
