/*
 * users.c - see users.h.
 */
#include "users.h"

#include <sodium.h>
#include <string.h>

#include "bsonx.h"

#define PWHASH_OPSLIMIT 2
#define PWHASH_MEMLIMIT (19u << 20)

/* Verified against when the username does not exist, so that a login for
 * an unknown user costs one Argon2id hash like any other.  It is the hash
 * of a fixed password nobody can send (it fails validation). */
static const char dummy_hash[crypto_pwhash_STRBYTES] =
    "$argon2id$v=19$m=19456,t=2,p=1$QW+5hWueUoZUOBzAEaR7iQ$"
    "0sM+EPcPrzZMWNwbr9TN8/7ls0FBKNHKwCjBkq7/VoM";

static void user_from_bson(const bson_t *doc, user_t *u) {
  bson_iter_t it;
  memset(u, 0, sizeof *u);
  if (!bson_iter_init(&it, doc)) {
    return;
  }
  while (bson_iter_next(&it)) {
    const char *key = bson_iter_key(&it);
    if (!strcmp(key, "_id") && BSON_ITER_HOLDS_OID(&it)) {
      bson_oid_copy(bson_iter_oid(&it), &u->id);
    } else if (!strcmp(key, "username") && BSON_ITER_HOLDS_UTF8(&it)) {
      bsonx_copy_utf8(&it, u->username, sizeof u->username);
    } else if (!strcmp(key, "display_name") && BSON_ITER_HOLDS_UTF8(&it)) {
      bsonx_copy_utf8(&it, u->display_name, sizeof u->display_name);
    } else if (!strcmp(key, "bio") && BSON_ITER_HOLDS_UTF8(&it)) {
      bsonx_copy_utf8(&it, u->bio, sizeof u->bio);
    } else if (!strcmp(key, "created_at") && BSON_ITER_HOLDS_DATE_TIME(&it)) {
      u->created_at_ms = bson_iter_date_time(&it);
    } else if (!strcmp(key, "followers_count")) {
      u->followers_count = bsonx_as_int64(&it);
    } else if (!strcmp(key, "following_count")) {
      u->following_count = bsonx_as_int64(&it);
    } else if (!strcmp(key, "tweet_count")) {
      u->tweet_count = bsonx_as_int64(&it);
    }
  }
}

bool users_register(db_t *db, const char *username, size_t username_len,
                    const char *password, size_t password_len, user_t *out,
                    chorus_error_t *err) {
  if (!validate_username(username, username_len, err) ||
      !validate_password(password, password_len, err)) {
    return false;
  }
  char hash[crypto_pwhash_STRBYTES];
  if (crypto_pwhash_str(hash, password, password_len, PWHASH_OPSLIMIT,
                        PWHASH_MEMLIMIT) != 0) {
    chorus_error_set(err, 503, "overloaded",
                     "The server is out of memory; try again shortly");
    return false;
  }
  user_t u;
  memset(&u, 0, sizeof u);
  bson_oid_init(&u.id, NULL);
  memcpy(u.username, username, username_len);
  u.username[username_len] = '\0';
  memcpy(u.display_name, username, username_len);
  u.display_name[username_len] = '\0';
  u.created_at_ms = db_now_ms();
  char folded[USERNAME_MAX + 1];
  username_fold(username, username_len, folded);

  bson_t doc = BSON_INITIALIZER;
  BSON_APPEND_OID(&doc, "_id", &u.id);
  BSON_APPEND_UTF8(&doc, "username", u.username);
  BSON_APPEND_UTF8(&doc, "username_lc", folded);
  BSON_APPEND_UTF8(&doc, "display_name", u.display_name);
  BSON_APPEND_UTF8(&doc, "bio", "");
  BSON_APPEND_UTF8(&doc, "password_hash", hash);
  BSON_APPEND_DATE_TIME(&doc, "created_at", u.created_at_ms);
  BSON_APPEND_INT64(&doc, "followers_count", 0);
  BSON_APPEND_INT64(&doc, "following_count", 0);
  BSON_APPEND_INT64(&doc, "tweet_count", 0);
  sodium_memzero(hash, sizeof hash);

  mongoc_client_t *client = db_acquire(db);
  mongoc_collection_t *coll = db_collection(db, client, DB_USERS);
  bson_error_t berr;
  bool ok = mongoc_collection_insert_one(coll, &doc, NULL, NULL, &berr);
  mongoc_collection_destroy(coll);
  db_release(db, client);
  bson_destroy(&doc);
  if (!ok) {
    if (chorus_bson_error_is_duplicate(&berr)) {
      chorus_error_set(err, 409, "username_taken",
                       "That username is already taken");
    } else {
      chorus_error_from_bson(err, &berr, "insert user");
    }
    return false;
  }
  *out = u;
  return true;
}

/* Finds the user document by folded username; *found tells whether it was
 * there.  The password hash is copied into hash. */
static bool find_login(db_t *db, const char *folded, bool *found, user_t *u,
                       char hash[crypto_pwhash_STRBYTES],
                       chorus_error_t *err) {
  mongoc_client_t *client = db_acquire(db);
  mongoc_collection_t *coll = db_collection(db, client, DB_USERS);
  bson_t filter = BSON_INITIALIZER;
  BSON_APPEND_UTF8(&filter, "username_lc", folded);
  mongoc_cursor_t *cursor =
      mongoc_collection_find_with_opts(coll, &filter, NULL, NULL);
  const bson_t *doc;
  bson_error_t berr;
  *found = false;
  if (mongoc_cursor_next(cursor, &doc)) {
    bson_iter_t it;
    user_from_bson(doc, u);
    if (bson_iter_init_find(&it, doc, "password_hash") &&
        BSON_ITER_HOLDS_UTF8(&it)) {
      bsonx_copy_utf8(&it, hash, crypto_pwhash_STRBYTES);
      *found = true;
    }
  }
  bool ok = !mongoc_cursor_error(cursor, &berr);
  if (!ok) {
    chorus_error_from_bson(err, &berr, "find user for login");
  }
  mongoc_cursor_destroy(cursor);
  bson_destroy(&filter);
  mongoc_collection_destroy(coll);
  db_release(db, client);
  return ok;
}

bool users_authenticate(db_t *db, const char *username, size_t username_len,
                        const char *password, size_t password_len,
                        user_t *out, chorus_error_t *err) {
  bool plausible = validate_username(username, username_len, NULL) &&
                   validate_password(password, password_len, NULL);
  bool found = false;
  char hash[crypto_pwhash_STRBYTES] = "";
  user_t u;
  memset(&u, 0, sizeof u);
  if (plausible) {
    char folded[USERNAME_MAX + 1];
    username_fold(username, username_len, folded);
    if (!find_login(db, folded, &found, &u, hash, err)) {
      return false;
    }
  }
  /* Always pay for one verification, so timing says nothing. */
  bool match = crypto_pwhash_str_verify(found ? hash : dummy_hash, password,
                                        password_len) == 0;
  sodium_memzero(hash, sizeof hash);
  if (!plausible || !found || !match) {
    chorus_error_set(err, 401, "invalid_credentials",
                     "Wrong username or password");
    return false;
  }
  *out = u;
  return true;
}

bool users_find_by_id(db_t *db, sync_t *sync, const bson_oid_t *id,
                      user_t *out, chorus_error_t *err) {
  mongoc_client_t *client = db_acquire(db);
  mongoc_collection_t *coll = db_collection(db, client, DB_USERS);
  bson_t filter = BSON_INITIALIZER;
  BSON_APPEND_OID(&filter, "_id", id);
  mongoc_cursor_t *cursor =
      mongoc_collection_find_with_opts(coll, &filter, NULL, NULL);
  const bson_t *doc;
  bson_t *raw = mongoc_cursor_next(cursor, &doc) ? bson_copy(doc) : NULL;
  bson_error_t berr;
  bool ok = !mongoc_cursor_error(cursor, &berr);
  mongoc_cursor_destroy(cursor);
  bson_destroy(&filter);
  mongoc_collection_destroy(coll);
  db_release(db, client);
  if (!ok) {
    chorus_error_from_bson(err, &berr, "find user");
  }
  bool visible = raw != NULL;
  if (ok && raw) {
    ok = sync_view(sync, &raw, 1, &visible, err);
  }
  if (ok && visible) {
    user_from_bson(raw, out);
  }
  if (raw) {
    bson_destroy(raw);
  }
  if (ok && !visible) {
    chorus_error_set(err, 404, "user_not_found", "No such user");
    return false;
  }
  return ok;
}

bool users_get_names(db_t *db, mongoc_client_t *client, user_name_t *names,
                     size_t n, chorus_error_t *err) {
  if (n == 0) {
    return true;
  }
  bson_t filter = BSON_INITIALIZER, id_doc, in;
  BSON_APPEND_DOCUMENT_BEGIN(&filter, "_id", &id_doc);
  BSON_APPEND_ARRAY_BEGIN(&id_doc, "$in", &in);
  for (size_t i = 0; i < n; i++) {
    bsonx_array_append_oid(&in, (uint32_t)i, &names[i].id);
    names[i].username[0] = names[i].display_name[0] = '\0';
  }
  bson_append_array_end(&id_doc, &in);
  bson_append_document_end(&filter, &id_doc);

  bson_t *opts = BCON_NEW("projection", "{", "username", BCON_INT32(1),
                          "display_name", BCON_INT32(1), "}");
  mongoc_collection_t *coll = db_collection(db, client, DB_USERS);
  mongoc_cursor_t *cursor =
      mongoc_collection_find_with_opts(coll, &filter, opts, NULL);
  const bson_t *doc;
  while (mongoc_cursor_next(cursor, &doc)) {
    user_t u;
    user_from_bson(doc, &u);
    for (size_t i = 0; i < n; i++) {
      if (bson_oid_equal(&names[i].id, &u.id)) {
        memcpy(names[i].username, u.username, sizeof u.username);
        memcpy(names[i].display_name, u.display_name, sizeof u.display_name);
      }
    }
  }
  bson_error_t berr;
  bool ok = !mongoc_cursor_error(cursor, &berr);
  if (!ok) {
    chorus_error_from_bson(err, &berr, "find author names");
  }
  mongoc_cursor_destroy(cursor);
  mongoc_collection_destroy(coll);
  bson_destroy(opts);
  bson_destroy(&filter);
  return ok;
}
