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
  mongoc_client_t *client = db_acquire(db);
  if (!client) {
    bson_destroy(&doc);
    db_error_unavailable(err);
    return false;
  }
  mongoc_collection_t *coll = db_collection(db, client, DB_SESSIONS);
  bson_error_t berr;
  bool ok = mongoc_collection_insert_one(coll, &doc, NULL, NULL, &berr);
  mongoc_collection_destroy(coll);
  db_release(db, client);
  bson_destroy(&doc);
  if (!ok) {
    chorus_error_from_bson(err, &berr, "insert session");
  }
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

static bool build_delete(void *arg, txn_t *txn, chorus_error_t *err) {
  (void)err;
  const char *id = arg;
  bson_value_t key = {.value_type = BSON_TYPE_UTF8};
  key.value.v_utf8.str = (char *)id;
  key.value.v_utf8.len = (uint32_t)strlen(id);
  txn_add_delete(txn, TXN_MAIN_SHARD, DB_SESSIONS, &key, NULL);
  event_batch_t events;
  event_batch_init(&events);
  event_add_session_ended(&events, id);
  event_batch_commit(&events, txn);
  return true;
}

bool sessions_delete(sync_t *sync, const char *token, chorus_error_t *err) {
  char id[HASH_HEX_LEN + 1];
  if (!token_hash_hex(token, id)) {
    return true; /* nothing could match */
  }
  size_t failed;
  txn_outcome_t outcome = sync_commit(sync, build_delete, id, &failed, err);
  sodium_memzero(id, sizeof id);
  /* MISSING: no such session (logged out already, or expired). */
  return outcome == TXN_OUTCOME_COMMITTED || outcome == TXN_OUTCOME_MISSING;
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

bool sessions_login(db_t *db, const ratelimit_login_t *limits,
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
    if (ok && delay_ms > 0) {
      /* A username others keep failing for: slowed, never refused. */
      struct timespec ts = {delay_ms / 1000, (long)(delay_ms % 1000) * 1000000};
      nanosleep(&ts, NULL);
    }
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
  return sessions_create(db, &user->id, token, err);
}
