/*
 * users.c - see users.h.
 */
#include "server/domain/users.h"

#include <sodium.h>
#include <string.h>
#include <strings.h>

#include "server/domain/event_payloads.h"
#include "server/domain/media.h"
#include "server/domain/search.h"
#include "sync/base/bsonx.h"
#include "sync/events/events.h"
#include "sync/query.h"

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
    } else if (!strcmp(key, "notifications_read_at") &&
               BSON_ITER_HOLDS_DATE_TIME(&it)) {
      u->notifications_read_at_ms = bson_iter_date_time(&it);
    } else if (!strcmp(key, "version")) {
      u->version = bsonx_as_int64(&it);
    } else if (!strcmp(key, "password_changed_at") &&
               BSON_ITER_HOLDS_DATE_TIME(&it)) {
      u->password_changed_at_ms = bson_iter_date_time(&it);
    } else if (!strcmp(key, "avatar") && BSON_ITER_HOLDS_OID(&it)) {
      bson_oid_copy(bson_iter_oid(&it), &u->avatar);
      u->has_avatar = true;
    } else if (!strcmp(key, "header") && BSON_ITER_HOLDS_OID(&it)) {
      bson_oid_copy(bson_iter_oid(&it), &u->header);
      u->has_header = true;
    } else if (!strcmp(key, "media_bytes")) {
      u->media_bytes = bsonx_as_int64(&it);
    }
  }
}

void user_name_of(const user_t *u, user_name_t *out) {
  memset(out, 0, sizeof *out);
  out->id = u->id;
  memcpy(out->username, u->username, sizeof out->username);
  memcpy(out->display_name, u->display_name, sizeof out->display_name);
  out->version = u->version;
  out->has_avatar = u->has_avatar;
  out->avatar = u->avatar;
}

/* Hashes a new password (registration, a change) that passed
 * validate_password_for. */
static bool hash_password(const char *password, size_t password_len,
                          char hash[crypto_pwhash_STRBYTES],
                          chorus_error_t *err) {
  if (crypto_pwhash_str(hash, password, password_len, PWHASH_OPSLIMIT,
                        PWHASH_MEMLIMIT) != 0) {
    chorus_error_set(err, 503, "overloaded",
                     "The server is out of memory; try again shortly");
    return false;
  }
  return true;
}

bool users_register(db_t *db, const char *username, size_t username_len,
                    const char *password, size_t password_len,
                    ratelimit_gate_t *gate, user_t *out, chorus_error_t *err) {
  /* Counted once valid, before the costly hash. */
  if (!validate_username(username, username_len, err) ||
      !validate_password_for(username, username_len, password, password_len,
                             err) ||
      !ratelimit_gate_pass(gate, RATELIMIT_REGISTER, err)) {
    return false;
  }
  char hash[crypto_pwhash_STRBYTES];
  if (!hash_password(password, password_len, hash, err)) {
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
  u.notifications_read_at_ms = u.created_at_ms;
  char folded[USERNAME_MAX + 1];
  username_fold(username, username_len, folded);

  bson_t doc = BSON_INITIALIZER;
  BSON_APPEND_OID(&doc, "_id", &u.id);
  BSON_APPEND_UTF8(&doc, "username", u.username);
  BSON_APPEND_UTF8(&doc, "username_lc", folded);
  BSON_APPEND_UTF8(&doc, "display_name", u.display_name);
  BSON_APPEND_UTF8(&doc, "display_name_lc", folded);
  BSON_APPEND_UTF8(&doc, "bio", "");
  BSON_APPEND_UTF8(&doc, "password_hash", hash);
  BSON_APPEND_DATE_TIME(&doc, "created_at", u.created_at_ms);
  BSON_APPEND_INT64(&doc, "followers_count", 0);
  BSON_APPEND_INT64(&doc, "following_count", 0);
  BSON_APPEND_INT64(&doc, "tweet_count", 0);
  BSON_APPEND_DATE_TIME(&doc, "notifications_read_at", u.created_at_ms);
  BSON_APPEND_INT64(&doc, "version", 1);
  sodium_memzero(hash, sizeof hash);

  bool taken;
  bool ok = db_insert_one(db, DB_USERS, &doc, "insert user", &taken, err);
  bson_destroy(&doc);
  if (!ok) {
    if (taken) {
      chorus_error_set(err, 409, "username_taken",
                       "That username is already taken");
    }
    return false;
  }
  *out = u;
  return true;
}

/* Finds the user document by folded username; *found tells whether it was
 * there.  The password hash is copied into hash. */
static bool find_login(db_t *db, const char *folded, bool *found, user_t *u,
                       char hash[crypto_pwhash_STRBYTES], chorus_error_t *err) {
  *found = false;
  mongoc_client_t *client = db_acquire(db);
  if (!client) {
    db_error_unavailable(err);
    return false;
  }
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
                        const char *password, size_t password_len, user_t *out,
                        chorus_error_t *err) {
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

/* One user by a filter, in its committed view; its deferred counts as
 * folded when `folded` (users.h). */
static bool find_one(db_t *db, sync_t *sync, const bson_t *filter, bool folded,
                     user_t *out, chorus_error_t *err) {
  query_result_t r;
  if (!(folded ? query_visible_folded
               : query_visible)(db, sync, DB_USERS, filter, NULL, 1, &r, err)) {
    return false;
  }
  bool found = r.n == 1;
  if (found) {
    user_from_bson(r.docs[0], out);
    out->counters_folded = folded;
  }
  query_result_free(&r);
  if (!found) {
    chorus_error_set(err, 404, "user_not_found", "No such user");
  }
  return found;
}

static bool find_by_id(db_t *db, sync_t *sync, const bson_oid_t *id,
                       bool folded, user_t *out, chorus_error_t *err) {
  bson_t filter = BSON_INITIALIZER;
  BSON_APPEND_OID(&filter, "_id", id);
  bool ok = find_one(db, sync, &filter, folded, out, err);
  bson_destroy(&filter);
  return ok;
}

bool users_find_by_id(db_t *db, sync_t *sync, const bson_oid_t *id, user_t *out,
                      chorus_error_t *err) {
  return find_by_id(db, sync, id, false, out, err);
}

bool users_find_account(db_t *db, sync_t *sync, const bson_oid_t *id,
                        user_t *out, chorus_error_t *err) {
  return find_by_id(db, sync, id, true, out, err);
}

const char *const *users_deferred_colls(void) {
  static const char *const colls[] = {DB_USERS, NULL};
  return colls;
}

bool users_find_by_username(db_t *db, sync_t *sync, const char *username,
                            size_t len, user_t *out, chorus_error_t *err) {
  if (!validate_username(username, len, NULL)) {
    chorus_error_set(err, 404, "user_not_found", "No such user");
    return false;
  }
  char folded[USERNAME_MAX + 1];
  username_fold(username, len, folded);
  bson_t filter = BSON_INITIALIZER;
  BSON_APPEND_UTF8(&filter, "username_lc", folded);
  bool ok = find_one(db, sync, &filter, false, out, err);
  bson_destroy(&filter);
  return ok;
}

typedef struct profile_ctx {
  db_t *db;
  sync_t *sync;
  const user_t *me;
  const users_profile_change_t *c;
  media_request_t avatar, header; /* the new images asked for (n 0 or 1) */
  size_t image_ops[2]; /* the last build's ops of images: [first, end) */
  size_t user_op;      /* the last build's op of the account */
} profile_ctx_t;

/* An image field of the account as c asks it: *set the new one (has:
 * false for none), which replaces what u has (*replaced, to remove);
 * nothing when it stays. */
static void image_change(bool asked, const media_request_t *want, bool has_now,
                         const bson_oid_t *now, bool *change, bool *has_new,
                         bson_oid_t *replaced, size_t *n_replaced) {
  *change = false;
  *has_new = asked && want->n == 1;
  if (!asked || (has_now && *has_new && bson_oid_equal(now, &want->ids[0])) ||
      (!has_now && !*has_new)) {
    return; /* unchanged */
  }
  *change = true;
  if (has_now) {
    replaced[(*n_replaced)++] = *now;
  }
}

static void append_image(bson_t *set, const char *key, bool has,
                         const media_request_t *r) {
  if (has) {
    BSON_APPEND_OID(set, key, &r->ids[0]);
  } else {
    BSON_APPEND_NULL(set, key);
  }
}

/* The account's names and bio as asked; its images as asked, each new
 * one taken (media_add_attach) and each one it replaces removed, checked
 * against the version read; its user.updated event when the names or the
 * avatar change. */
static bool build_profile(void *arg, txn_t *txn, chorus_error_t *err) {
  profile_ctx_t *p = arg;
  const users_profile_change_t *c = p->c;
  bool images = c->avatar_set || c->header_set;
  user_t *u = bson_malloc0(sizeof *u);
  bool ok = true;
  if (images) {
    ok = users_find_by_id(p->db, p->sync, &p->me->id, u, err);
    if (!ok && err->status == 404) {
      chorus_error_set(err, 401, "not_logged_in", "You are not logged in");
    }
  }
  bool avatar_change = false, header_change = false, has_avatar, has_header;
  bson_oid_t replaced[2];
  size_t n_replaced = 0;
  image_change(c->avatar_set, &p->avatar, u->has_avatar, &u->avatar,
               &avatar_change, &has_avatar, replaced, &n_replaced);
  image_change(c->header_set, &p->header, u->has_header, &u->header,
               &header_change, &has_header, replaced, &n_replaced);
  p->image_ops[0] = txn->n_ops;
  int64_t freed = 0;
  media_list_t *taken = NULL;
  if (ok && avatar_change && has_avatar) {
    ok = media_add_attach(p->db, p->sync, txn, &p->me->id, &p->avatar, &taken,
                          err);
    media_list_free(taken);
  }
  if (ok && header_change && has_header) {
    ok = media_add_attach(p->db, p->sync, txn, &p->me->id, &p->header, &taken,
                          err);
    media_list_free(taken);
  }
  ok =
      ok && (n_replaced == 0 || media_add_removal(p->db, p->sync, txn, replaced,
                                                  n_replaced, &freed, err));
  p->image_ops[1] = txn->n_ops;
  if (!ok) {
    bson_free(u);
    return false;
  }
  bson_value_t id = {.value_type = BSON_TYPE_OID};
  bson_oid_copy(&p->me->id, &id.value.v_oid);
  bson_t set = BSON_INITIALIZER, inc = BSON_INITIALIZER;
  if (c->display_name) {
    char *folded = search_fold(c->display_name, c->dn_len);
    bson_append_utf8(&set, "display_name", -1, c->display_name, (int)c->dn_len);
    BSON_APPEND_UTF8(&set, "display_name_lc", folded);
    bson_free(folded);
  }
  if (c->bio) {
    bson_append_utf8(&set, "bio", -1, c->bio, (int)c->bio_len);
  }
  if (avatar_change) {
    append_image(&set, "avatar", has_avatar, &p->avatar);
  }
  if (header_change) {
    append_image(&set, "header", has_header, &p->header);
  }
  if (freed > 0) {
    BSON_APPEND_INT64(&inc, "media_bytes", -freed);
  }
  bool check = avatar_change || header_change;
  p->user_op = txn->n_ops;
  txn_add_update(txn, TXN_MAIN_SHARD, DB_USERS, &id, &set,
                 bson_empty(&inc) ? NULL : &inc, check ? &u->version : NULL);
  bson_destroy(&set);
  bson_destroy(&inc);
  bson_free(u);
  if (c->display_name || avatar_change) {
    /* Tweets show their author's current name and avatar: the servers'
     * read models (model.h) learn them from this event.  Its audience
     * is nobody. */
    event_batch_t events;
    event_batch_init(&events);
    event_add_user_updated(&events, &p->me->id);
    event_batch_commit(&events, txn);
  }
  return true;
}

/* One image field of a change into r (n 1), or none (n 0). */
static bool image_request(bool asked, const char *hex, media_request_t *r,
                          chorus_error_t *err) {
  memset(r, 0, sizeof *r);
  return !asked || !hex || media_request_add(r, hex, strlen(hex), NULL, 0, err);
}

bool users_update_profile(db_t *db, sync_t *sync, const user_t *me,
                          const users_profile_change_t *c, user_t *out,
                          chorus_error_t *err) {
  profile_ctx_t *p = bson_malloc0(sizeof *p);
  *p = (profile_ctx_t){.db = db, .sync = sync, .me = me, .c = c};
  bool ok =
      (!c->display_name ||
       validate_text("display_name", c->display_name, c->dn_len, 1,
                     DISPLAY_NAME_MAX, err)) &&
      (!c->bio || validate_text("bio", c->bio, c->bio_len, 0, BIO_MAX, err)) &&
      image_request(c->avatar_set, c->avatar_hex, &p->avatar, err) &&
      image_request(c->header_set, c->header_hex, &p->header, err);
  if (ok && p->avatar.n == 1 && p->header.n == 1 &&
      bson_oid_equal(&p->avatar.ids[0], &p->header.ids[0])) {
    chorus_error_set(err, 400, "invalid_media",
                     "The avatar and the header must be two uploads");
    ok = false;
  }
  bool changes = c->display_name || c->bio || c->avatar_set || c->header_set;
  for (int round = 0; ok && changes && round < 4; round++) {
    size_t failed;
    txn_outcome_t outcome = sync_commit(sync, build_profile, p, &failed, err);
    if (outcome == TXN_OUTCOME_COMMITTED) {
      changes = false;
    } else if (outcome == TXN_OUTCOME_MISSING && failed >= p->image_ops[0] &&
               failed < p->image_ops[1]) {
      continue; /* an image taken or gone meanwhile: the build says how */
    } else if (outcome == TXN_OUTCOME_MISSING && failed == p->user_op) {
      chorus_error_set(err, 401, "not_logged_in", "You are not logged in");
      ok = false;
    } else if (outcome == TXN_OUTCOME_MISSING) {
      chorus_error_set(err, 409, "conflict",
                       "The profile keeps changing; try again");
      ok = false;
    } else {
      ok = false; /* err set by the build or sync_commit */
    }
  }
  if (ok && changes) {
    chorus_error_set(err, 409, "conflict",
                     "The profile keeps changing; try again");
    ok = false;
  }
  bson_free(p);
  return ok && users_find_by_id(db, sync, &me->id, out, err);
}

typedef struct password_ctx {
  db_t *db;
  sync_t *sync;
  const bson_oid_t *id;
  const char *current;
  size_t current_len;
  const char *hash; /* the new password's */
  const char *except_session;
} password_ctx_t;

/* Reads the account as committed, checks the current password against
 * it and stages the new one, expecting the version it read. */
static bool build_password(void *arg, txn_t *txn, chorus_error_t *err) {
  password_ctx_t *c = arg;
  bson_value_t id = {.value_type = BSON_TYPE_OID};
  bson_oid_copy(c->id, &id.value.v_oid);
  bson_t *doc = NULL;
  bool found = false;
  if (!query_by_id(c->db, c->sync, DB_USERS, &id, &doc, &found, err)) {
    return false;
  }
  char hash[crypto_pwhash_STRBYTES] = "";
  user_t u;
  memset(&u, 0, sizeof u);
  if (found) {
    bson_iter_t it;
    user_from_bson(doc, &u);
    if (bson_iter_init_find(&it, doc, "password_hash") &&
        BSON_ITER_HOLDS_UTF8(&it)) {
      bsonx_copy_utf8(&it, hash, sizeof hash);
    }
    bson_destroy(doc);
  }
  bool match = hash[0] &&
               crypto_pwhash_str_verify(hash, c->current, c->current_len) == 0;
  sodium_memzero(hash, sizeof hash);
  if (!found) {
    chorus_error_set(err, 401, "not_logged_in", "You are not logged in");
    return false;
  }
  if (!match) {
    chorus_error_set(err, 403, "wrong_password",
                     "The current password is wrong");
    return false;
  }
  /* Strictly increasing, so that a login can tell any change happened. */
  int64_t now = db_now_ms();
  int64_t changed_at =
      now > u.password_changed_at_ms ? now : u.password_changed_at_ms + 1;
  bson_t set = BSON_INITIALIZER;
  BSON_APPEND_UTF8(&set, "password_hash", c->hash);
  BSON_APPEND_DATE_TIME(&set, "password_changed_at", changed_at);
  txn_add_update(txn, TXN_MAIN_SHARD, DB_USERS, &id, &set, NULL, &u.version);
  bson_destroy(&set);
  event_batch_t events;
  event_batch_init(&events);
  event_add_sessions_ended_for_user(&events, c->id, c->except_session);
  event_batch_commit(&events, txn);
  return true;
}

bool users_change_password(db_t *db, sync_t *sync, const user_t *user,
                           const char *current, size_t current_len,
                           const char *password, size_t password_len,
                           const char *except_session, bool *published,
                           chorus_error_t *err) {
  *published = false;
  char hash[crypto_pwhash_STRBYTES];
  if (!validate_password_for(user->username, strlen(user->username), password,
                             password_len, err) ||
      !hash_password(password, password_len, hash, err)) {
    return false;
  }
  password_ctx_t ctx = {db,          sync, &user->id,     current,
                        current_len, hash, except_session};
  size_t failed;
  txn_outcome_t outcome = sync_commit_published(sync, build_password, &ctx,
                                                &failed, published, err);
  sodium_memzero(hash, sizeof hash);
  if (outcome == TXN_OUTCOME_MISSING) {
    chorus_error_set(err, 401, "not_logged_in", "You are not logged in");
  }
  return outcome == TXN_OUTCOME_COMMITTED;
}

/* {field: {$gte: prefix, $lt: prefix + U+10FFFF}} */
static void append_prefix(bson_t *doc, const char *field, const char *prefix,
                          const char *after) {
  bson_t range;
  char *upper = bson_strdup_printf("%s\xf4\x8f\xbf\xbf", prefix);
  bson_append_document_begin(doc, field, -1, &range);
  if (after && strcmp(after, prefix) >= 0) {
    BSON_APPEND_UTF8(&range, "$gt", after);
  } else {
    BSON_APPEND_UTF8(&range, "$gte", prefix);
  }
  BSON_APPEND_UTF8(&range, "$lt", upper);
  bson_append_document_end(doc, &range);
  bson_free(upper);
}

bool users_search(db_t *db, sync_t *sync, const char *q, size_t q_len,
                  const char *after, size_t limit, user_page_t *page,
                  chorus_error_t *err) {
  memset(page, 0, sizeof *page);
  char *prefix = search_fold(q, q_len);
  /* Usernames and display names are searched separately (each an index
   * range) and merged by username. */
  bson_t by_name = BSON_INITIALIZER, by_display = BSON_INITIALIZER;
  append_prefix(&by_name, "username_lc", prefix, after);
  append_prefix(&by_display, "display_name_lc", prefix, NULL);
  if (after) {
    bson_t gt;
    BSON_APPEND_DOCUMENT_BEGIN(&by_display, "username_lc", &gt);
    BSON_APPEND_UTF8(&gt, "$gt", after);
    bson_append_document_end(&by_display, &gt);
  }
  bson_t *sort = BCON_NEW("username_lc", BCON_INT32(1));
  query_result_t a, b;
  /* A page shows no counter: read as folded (users.h). */
  bool ok = query_visible_folded(db, sync, DB_USERS, &by_name, sort, limit + 1,
                                 &a, err);
  if (ok && !query_visible_folded(db, sync, DB_USERS, &by_display, sort,
                                  limit + 1, &b, err)) {
    query_result_free(&a);
    ok = false;
  }
  bson_destroy(sort);
  bson_destroy(&by_name);
  bson_destroy(&by_display);
  bson_free(prefix);
  if (!ok) {
    return false;
  }
  /* Merge two sorted lists without duplicates. */
  user_t *all = bson_malloc0(sizeof *all * (a.n + b.n + 1));
  size_t n = 0, i = 0, j = 0;
  while (i < a.n || j < b.n) {
    user_t x, y;
    if (i < a.n) {
      user_from_bson(a.docs[i], &x);
    }
    if (j < b.n) {
      user_from_bson(b.docs[j], &y);
    }
    x.counters_folded = y.counters_folded = true;
    int cmp = i == a.n ? 1 : j == b.n ? -1 : strcasecmp(x.username, y.username);
    if (cmp <= 0) {
      all[n++] = x;
      i++;
      j += cmp == 0;
    } else {
      all[n++] = y;
      j++;
    }
  }
  query_result_free(&a);
  query_result_free(&b);
  page->has_next = n > limit;
  page->n = page->has_next ? limit : n;
  page->items = all;
  if (page->has_next) {
    char folded[USERNAME_MAX + 1];
    const char *last = all[page->n - 1].username;
    username_fold(last, strlen(last), folded);
    name_cursor_encode(folded, page->next);
  }
  return true;
}

bool users_get_many(db_t *db, sync_t *sync, const bson_oid_t *ids, size_t n,
                    user_t *out, size_t *found, chorus_error_t *err) {
  *found = 0;
  if (n == 0) {
    return true;
  }
  bson_t filter = BSON_INITIALIZER, id_doc, in;
  BSON_APPEND_DOCUMENT_BEGIN(&filter, "_id", &id_doc);
  BSON_APPEND_ARRAY_BEGIN(&id_doc, "$in", &in);
  for (size_t i = 0; i < n; i++) {
    bsonx_array_append_oid(&in, (uint32_t)i, &ids[i]);
  }
  bson_append_array_end(&id_doc, &in);
  bson_append_document_end(&filter, &id_doc);
  query_result_t r;
  bool ok = query_visible_folded(db, sync, DB_USERS, &filter, NULL, n, &r, err);
  bson_destroy(&filter);
  if (!ok) {
    return false;
  }
  user_t *got = bson_malloc0(sizeof *got * (r.n + 1));
  for (size_t k = 0; k < r.n; k++) {
    user_from_bson(r.docs[k], &got[k]);
    got[k].counters_folded = true;
  }
  for (size_t i = 0; i < n; i++) {
    for (size_t k = 0; k < r.n; k++) {
      if (bson_oid_equal(&ids[i], &got[k].id)) {
        out[(*found)++] = got[k];
        break;
      }
    }
  }
  bson_free(got);
  query_result_free(&r);
  return true;
}

void user_page_destroy(user_page_t *page) {
  bson_free(page->items);
  memset(page, 0, sizeof *page);
}

/* On FerretDB a filter {_id: x} is answered through SQLite (a read with
 * limit 1 stops at the document) while {_id: {$in: [...]}} decodes every
 * account in Go: 0.7-0.9 s on 10,000 accounts against ~50 ms per id.  So
 * a few names are read one by one there (db_filters_by_id_only). */
#define NAMES_BY_ID_MAX 8

/* One find of users by filter; fills the names of those of names[0..n)
 * it returns. */
static bool find_names(db_t *db, mongoc_client_t *client, const bson_t *filter,
                       int64_t limit, user_name_t *names, size_t n,
                       chorus_error_t *err) {
  bson_t *opts =
      BCON_NEW("projection", "{", "username", BCON_INT32(1), "display_name",
               BCON_INT32(1), "avatar", BCON_INT32(1), "}");
  if (limit > 0) {
    BSON_APPEND_INT64(opts, "limit", limit);
  }
  mongoc_collection_t *coll = db_collection(db, client, DB_USERS);
  mongoc_cursor_t *cursor =
      mongoc_collection_find_with_opts(coll, filter, opts, NULL);
  const bson_t *doc;
  while (mongoc_cursor_next(cursor, &doc)) {
    user_t u;
    user_from_bson(doc, &u);
    for (size_t i = 0; i < n; i++) {
      if (bson_oid_equal(&names[i].id, &u.id)) {
        memcpy(names[i].username, u.username, sizeof u.username);
        memcpy(names[i].display_name, u.display_name, sizeof u.display_name);
        names[i].has_avatar = u.has_avatar;
        names[i].avatar = u.avatar;
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
  return ok;
}

bool users_get_names(db_t *db, mongoc_client_t *client, user_name_t *names,
                     size_t n, chorus_error_t *err) {
  for (size_t i = 0; i < n; i++) {
    names[i].username[0] = names[i].display_name[0] = '\0';
    names[i].has_avatar = false;
  }
  if (n == 0) {
    return true;
  }
  if (!client) {
    db_error_unavailable(err);
    return false;
  }
  if (db_filters_by_id_only(db) && n <= NAMES_BY_ID_MAX) {
    bool ok = true;
    for (size_t i = 0; ok && i < n; i++) {
      bson_t *filter = BCON_NEW("_id", BCON_OID(&names[i].id));
      ok = db_check_up(db, err) && /* db.h: before each further command */
           find_names(db, client, filter, 1, names, n, err);
      bson_destroy(filter);
    }
    return ok;
  }
  bson_t filter = BSON_INITIALIZER, id_doc, in;
  BSON_APPEND_DOCUMENT_BEGIN(&filter, "_id", &id_doc);
  BSON_APPEND_ARRAY_BEGIN(&id_doc, "$in", &in);
  for (size_t i = 0; i < n; i++) {
    bsonx_array_append_oid(&in, (uint32_t)i, &names[i].id);
  }
  bson_append_array_end(&id_doc, &in);
  bson_append_document_end(&filter, &id_doc);
  bool ok = find_names(db, client, &filter, 0, names, n, err);
  bson_destroy(&filter);
  return ok;
}

typedef struct name_scan {
  users_name_fn fn;
  void *ctx;
} name_scan_t;

static bool name_doc(void *ctx, const bson_t *doc) {
  name_scan_t *scan = ctx;
  user_t u;
  user_from_bson(doc, &u);
  user_name_t name;
  user_name_of(&u, &name);
  return !name.username[0] || scan->fn(scan->ctx, &name);
}

bool users_scan_names(db_t *db, sync_t *sync, users_name_fn fn, void *ctx,
                      chorus_error_t *err) {
  name_scan_t scan = {fn, ctx};
  bson_t *projection =
      BCON_NEW("username", BCON_INT32(1), "display_name", BCON_INT32(1),
               "avatar", BCON_INT32(1), "version", BCON_INT32(1));
  bool ok = query_scan(db, sync, DB_USERS, projection, name_doc, &scan, err);
  bson_destroy(projection);
  return ok;
}

static const db_index_t users_indexes[] = {
    {"username_lc_1", "{\"username_lc\": 1}", true},
    {"display_name_lc_1", "{\"display_name_lc\": 1}", false},
    /* People to follow (follows_suggestions): the most followed first. */
    {"followers_count_-1_username_lc_1",
     "{\"followers_count\": -1, \"username_lc\": 1}", false},
};

bool users_ensure_indexes(db_t *db, chorus_error_t *err) {
  return db_ensure_indexes(db, DB_USERS, users_indexes,
                           DB_INDEX_COUNT(users_indexes), err);
}
