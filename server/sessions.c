/*
 * sessions.c - see sessions.h.  Randomness and hashing are libsodium's.
 */
#include "sessions.h"

#include <sodium.h>
#include <string.h>

#define TOKEN_BYTES 32
#define HASH_HEX_LEN (crypto_generichash_BYTES * 2)

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

bool sessions_resolve(db_t *db, mongoc_client_t *client, const char *token,
                      bson_oid_t *user_id, chorus_error_t *err) {
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
        BSON_ITER_HOLDS_DATE_TIME(&it) &&
        bson_iter_date_time(&it) <= db_now_ms()) {
      expired = true;
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

bool sessions_delete(db_t *db, const char *token, chorus_error_t *err) {
  char id[HASH_HEX_LEN + 1];
  if (!token_hash_hex(token, id)) {
    return true; /* nothing could match */
  }
  mongoc_client_t *client = db_acquire(db);
  if (!client) {
    db_error_unavailable(err);
    return false;
  }
  mongoc_collection_t *coll = db_collection(db, client, DB_SESSIONS);
  bool ok = delete_by_id(coll, id, err);
  mongoc_collection_destroy(coll);
  db_release(db, client);
  return ok;
}
