/*
 * event_payloads.c - see event_payloads.h.
 */
#include "server/domain/event_payloads.h"

#include <assert.h>
#include <sodium.h>
#include <string.h>

#include "server/domain/notifications.h"
#include "server/domain/render.h"
#include "sync/base/bsonx.h"

/* ---- adding events ---- */

/* A new event of type in b; NULL when the batch is full. */
static bson_t *add(event_batch_t *b, event_type_t type, bson_t **audience) {
  assert(event_type_name(type) && !event_type_is_control(type));
  return event_batch_add(b, event_type_name(type), audience);
}

/* Appends the audience {"users": [a, b?]}. */
static void audience_users(bson_t *audience, const bson_oid_t *a,
                           const bson_oid_t *b) {
  bson_t users;
  BSON_APPEND_ARRAY_BEGIN(audience, "users", &users);
  bsonx_array_append_oid(&users, 0, a);
  if (b) {
    bsonx_array_append_oid(&users, 1, b);
  }
  bson_append_array_end(audience, &users);
}

/* Appends audience["tags"]: the distinct folded tags of t and of was
 * (NULL: none). */
static void append_tags(bson_t *audience, const tweet_t *t,
                        const tweet_t *was) {
  char(*tags)[ENTITIES_TAG_BYTES + 1] =
      bson_malloc(sizeof *tags * 2 * TWEET_ENTITIES_MAX);
  size_t n = tweets_tags(t, tags), end = n;
  end += was ? tweets_tags(was, tags + n) : 0;
  for (size_t i = n; i < end; i++) { /* was's, kept unless t has them */
    size_t k = 0;
    while (k < n && strcmp(tags[k], tags[i])) {
      k++;
    }
    if (k == n) {
      memcpy(tags[n], tags[i], sizeof tags[n]);
      n++;
    }
  }
  bson_t array;
  BSON_APPEND_ARRAY_BEGIN(audience, "tags", &array);
  for (size_t i = 0; i < n; i++) {
    bsonx_array_append_utf8(&array, (uint32_t)i, tags[i]);
  }
  bson_append_array_end(audience, &array);
  bson_free(tags);
}

/* A tweet event; tagged (not NULL): its tags (and those of was, not
 * NULL: the text an edit replaced) join the audience, and with timeline
 * the clients watching the timeline. */
static bson_t *add_tweet(event_batch_t *b, event_type_t type,
                         const bson_oid_t *tweet, const bson_oid_t *author,
                         const bson_oid_t *also_tweet, const tweet_t *tagged,
                         const tweet_t *was, bool timeline) {
  assert(type == EVENT_TWEET_CREATED || type == EVENT_TWEET_UPDATED ||
         type == EVENT_TWEET_DELETED);
  bson_t *audience;
  bson_t *skeleton = add(b, type, &audience);
  if (!skeleton) {
    return NULL;
  }
  BSON_APPEND_OID(skeleton, "tweet", tweet);
  if (author) {
    BSON_APPEND_OID(audience, "author", author);
  }
  bson_t array;
  BSON_APPEND_ARRAY_BEGIN(audience, "tweets", &array);
  bsonx_array_append_oid(&array, 0, tweet);
  if (also_tweet) {
    bsonx_array_append_oid(&array, 1, also_tweet);
  }
  bson_append_array_end(audience, &array);
  if (tagged) {
    append_tags(audience, tagged, was);
  }
  if (timeline) {
    BSON_APPEND_BOOL(audience, "timeline", true);
  }
  return skeleton;
}

void event_add_tweet(event_batch_t *b, event_type_t type,
                     const bson_oid_t *tweet, const bson_oid_t *author,
                     const bson_oid_t *also_tweet) {
  add_tweet(b, type, tweet, author, also_tweet, NULL, NULL, false);
}

void event_add_tweet_created(event_batch_t *b, const tweet_t *t,
                             const bson_t *stored) {
  bson_t *skeleton =
      add_tweet(b, EVENT_TWEET_CREATED, &t->id, &t->author.id,
                t->has_reply_to ? &t->reply_to : NULL, t, NULL, true);
  if (!skeleton || !stored || t->has_reply_to || t->has_quote_of) {
    return; /* a reply or a quote shows the state of another tweet */
  }
  bson_t sub;
  BSON_APPEND_DOCUMENT_BEGIN(skeleton, "stored", &sub);
  bson_copy_to_excluding_noinit(stored, &sub, TWEETS_WORDS_FIELD, NULL);
  bson_append_document_end(skeleton, &sub);
  BSON_APPEND_UTF8(skeleton, "display_name", t->author.display_name);
  if (t->author.has_avatar) {
    BSON_APPEND_OID(skeleton, "avatar", &t->author.avatar);
  }
}

void event_add_tweet_edited(event_batch_t *b, const tweet_t *t,
                            const tweet_t *was) {
  add_tweet(b, EVENT_TWEET_UPDATED, &t->id, &t->author.id, NULL, t, was, false);
}

void event_add_follow(event_batch_t *b, const bson_oid_t *follower,
                      const bson_oid_t *followee, bool following) {
  bson_t *audience;
  bson_t *skeleton = add(b, EVENT_FOLLOW, &audience);
  if (!skeleton) {
    return;
  }
  BSON_APPEND_OID(skeleton, "follower", follower);
  BSON_APPEND_OID(skeleton, "followee", followee);
  BSON_APPEND_BOOL(skeleton, "following", following);
  audience_users(audience, follower, followee);
}

void event_add_like(event_batch_t *b, const bson_oid_t *user,
                    const bson_oid_t *tweet, bool liked) {
  bson_t *audience;
  bson_t *skeleton = add(b, EVENT_LIKE, &audience);
  if (!skeleton) {
    return;
  }
  BSON_APPEND_OID(skeleton, "user", user);
  BSON_APPEND_OID(skeleton, "tweet", tweet);
  BSON_APPEND_BOOL(skeleton, "liked", liked);
  audience_users(audience, user, NULL);
}

void event_add_repost(event_batch_t *b, const bson_oid_t *id,
                      const bson_oid_t *user, const bson_oid_t *tweet,
                      bool reposted, int64_t created_at_ms) {
  bson_t *audience;
  bson_t *skeleton = add(b, EVENT_REPOST, &audience);
  if (!skeleton) {
    return;
  }
  event_repost_t r = {*id, *user, *tweet, reposted, created_at_ms};
  event_model_repost(skeleton, &r, NULL);
  BSON_APPEND_OID(audience, "author", user);
}

void event_add_notification(event_batch_t *b, const bson_oid_t *recipient,
                            const bson_t *notification) {
  bson_t *audience;
  bson_t *skeleton = add(b, EVENT_NOTIFICATION, &audience);
  if (!skeleton) {
    return;
  }
  bson_concat(skeleton, notification);
  audience_users(audience, recipient, NULL);
}

void event_add_user_updated(event_batch_t *b, const bson_oid_t *user) {
  bson_t *audience;
  bson_t *skeleton = add(b, EVENT_USER_UPDATED, &audience);
  if (skeleton) {
    BSON_APPEND_OID(skeleton, "user", user);
  }
}

void event_add_session_ended(event_batch_t *b, const char *session_id) {
  bson_t *audience;
  bson_t *skeleton = add(b, EVENT_SESSION_ENDED, &audience);
  if (skeleton) {
    event_model_session_ended(skeleton, session_id);
  }
}

void event_add_sessions_ended_for_user(event_batch_t *b, const bson_oid_t *user,
                                       const char *except_session) {
  bson_t *audience;
  bson_t *skeleton = add(b, EVENT_SESSION_ENDED, &audience);
  if (skeleton) {
    event_model_sessions_ended_for_user(skeleton, user, except_session);
  }
}

/* ---- the read models' payloads ---- */

static bool get_bool(const bson_t *doc, const char *key, bool *out) {
  bson_iter_t it;
  if (bson_iter_init_find(&it, doc, key) && BSON_ITER_HOLDS_BOOL(&it)) {
    *out = bson_iter_bool(&it);
    return true;
  }
  return false;
}

static bool get_utf8(const bson_t *doc, const char *key, char *out,
                     size_t size) {
  bson_iter_t it;
  if (bson_iter_init_find(&it, doc, key) && BSON_ITER_HOLDS_UTF8(&it)) {
    bsonx_copy_utf8(&it, out, size);
    return true;
  }
  return false;
}

static bool get_date(const bson_t *doc, const char *key, int64_t *out) {
  bson_iter_t it;
  if (bson_iter_init_find(&it, doc, key) && BSON_ITER_HOLDS_DATE_TIME(&it)) {
    *out = bson_iter_date_time(&it);
    return true;
  }
  return false;
}

static bool get_int(const bson_t *doc, const char *key, int64_t *out) {
  bson_iter_t it;
  if (bson_iter_init_find(&it, doc, key) &&
      (BSON_ITER_HOLDS_INT64(&it) || BSON_ITER_HOLDS_INT32(&it))) {
    *out = bsonx_as_int64(&it);
    return true;
  }
  return false;
}

void event_model_tweet(bson_t *out, const tweet_t *t) {
  BSON_APPEND_OID(out, "id", &t->id);
  BSON_APPEND_OID(out, "author_id", &t->author.id);
  BSON_APPEND_UTF8(out, "author", t->author.username);
  BSON_APPEND_UTF8(out, "display_name", t->author.display_name);
  BSON_APPEND_UTF8(out, "text", t->text);
  BSON_APPEND_DATE_TIME(out, "created_at", t->created_at_ms);
  if (t->edited_at_ms) {
    BSON_APPEND_DATE_TIME(out, "edited_at", t->edited_at_ms);
  }
  if (t->has_reply_to) {
    BSON_APPEND_OID(out, "reply_to", &t->reply_to);
  }
  if (t->has_quote_of) {
    BSON_APPEND_OID(out, "quote_of", &t->quote.id);
  }
  BSON_APPEND_INT64(out, "reply_count", t->reply_count);
  BSON_APPEND_INT64(out, "like_count", t->like_count);
  BSON_APPEND_INT64(out, "repost_count", t->repost_count);
  BSON_APPEND_INT64(out, "quote_count", t->quote_count);
  BSON_APPEND_INT64(out, "edit_count", t->edit_count);
  tweets_append_entities(out, t);
  if (t->media) {
    media_list_append(out, "media", t->media);
  }
  BSON_APPEND_INT64(out, "version", t->version);
}

bool event_model_get_tweet(const bson_t *p, tweet_t *t) {
  memset(t, 0, sizeof *t);
  t->has_reply_to = bsonx_find_oid(p, "reply_to", &t->reply_to);
  get_date(p, "edited_at", &t->edited_at_ms);
  get_utf8(p, "author", t->author.username, sizeof t->author.username);
  get_utf8(p, "display_name", t->author.display_name,
           sizeof t->author.display_name);
  t->has_quote_of = bsonx_find_oid(p, "quote_of", &t->quote.id);
  get_int(p, "repost_count", &t->repost_count);
  get_int(p, "quote_count", &t->quote_count);
  get_int(p, "edit_count", &t->edit_count);
  bool text_ok = get_utf8(p, "text", t->text, sizeof t->text);
  tweets_parse_entities(p, t);
  bson_iter_t media;
  if (bson_iter_init_find(&media, p, "media")) {
    t->media = media_list_from_bson(&media);
  }
  return text_ok && bsonx_find_oid(p, "id", &t->id) &&
         bsonx_find_oid(p, "author_id", &t->author.id) &&
         get_date(p, "created_at", &t->created_at_ms) &&
         get_int(p, "reply_count", &t->reply_count) &&
         get_int(p, "like_count", &t->like_count) &&
         get_int(p, "version", &t->version);
}

void event_model_tweet_deleted(bson_t *out, const bson_oid_t *id) {
  BSON_APPEND_OID(out, "id", id);
}

bool event_model_get_tweet_deleted(const bson_t *p, bson_oid_t *id) {
  return bsonx_find_oid(p, "id", id);
}

void event_model_follow(bson_t *out, const bson_oid_t *follower,
                        const bson_oid_t *followee, bool following) {
  BSON_APPEND_OID(out, "follower", follower);
  BSON_APPEND_OID(out, "followee", followee);
  BSON_APPEND_BOOL(out, "following", following);
}

bool event_model_get_follow(const bson_t *p, bson_oid_t *follower,
                            bson_oid_t *followee, bool *following) {
  return bsonx_find_oid(p, "follower", follower) &&
         bsonx_find_oid(p, "followee", followee) &&
         get_bool(p, "following", following);
}

void event_model_like(bson_t *out, const bson_oid_t *user,
                      const bson_oid_t *tweet, bool liked) {
  BSON_APPEND_OID(out, "user", user);
  BSON_APPEND_OID(out, "tweet", tweet);
  BSON_APPEND_BOOL(out, "liked", liked);
}

bool event_model_get_like(const bson_t *p, bson_oid_t *user, bson_oid_t *tweet,
                          bool *liked) {
  return bsonx_find_oid(p, "user", user) && bsonx_find_oid(p, "tweet", tweet) &&
         get_bool(p, "liked", liked);
}

void event_model_repost(bson_t *out, const event_repost_t *r,
                        const tweet_t *state) {
  BSON_APPEND_OID(out, "id", &r->id);
  BSON_APPEND_OID(out, "user", &r->user);
  BSON_APPEND_OID(out, "tweet", &r->tweet);
  BSON_APPEND_BOOL(out, "reposted", r->reposted);
  BSON_APPEND_DATE_TIME(out, "created_at", r->created_at_ms);
  if (state) {
    bson_t sub;
    BSON_APPEND_DOCUMENT_BEGIN(out, "state", &sub);
    event_model_tweet(&sub, state);
    bson_append_document_end(out, &sub);
  }
}

bool event_model_get_repost_state(const bson_t *p, tweet_t *t) {
  bson_iter_t it;
  uint32_t len;
  const uint8_t *data;
  bson_t state;
  memset(t, 0, sizeof *t);
  if (!bson_iter_init_find(&it, p, "state") || !BSON_ITER_HOLDS_DOCUMENT(&it)) {
    return false;
  }
  bson_iter_document(&it, &len, &data);
  return bson_init_static(&state, data, len) &&
         event_model_get_tweet(&state, t);
}

bool event_model_get_repost(const bson_t *p, event_repost_t *r) {
  memset(r, 0, sizeof *r);
  return bsonx_find_oid(p, "id", &r->id) &&
         bsonx_find_oid(p, "user", &r->user) &&
         bsonx_find_oid(p, "tweet", &r->tweet) &&
         get_bool(p, "reposted", &r->reposted) &&
         get_date(p, "created_at", &r->created_at_ms);
}

void event_model_user(bson_t *out, const user_name_t *user) {
  BSON_APPEND_OID(out, "id", &user->id);
  BSON_APPEND_UTF8(out, "username", user->username);
  BSON_APPEND_UTF8(out, "display_name", user->display_name);
  if (user->has_avatar) {
    BSON_APPEND_OID(out, "avatar", &user->avatar);
  }
  BSON_APPEND_INT64(out, "version", user->version);
}

bool event_model_get_user(const bson_t *p, user_name_t *user) {
  memset(user, 0, sizeof *user);
  bson_iter_t v;
  user->version =
      bson_iter_init_find(&v, p, "version") ? bsonx_as_int64(&v) : 0;
  user->has_avatar = bsonx_find_oid(p, "avatar", &user->avatar);
  return bsonx_find_oid(p, "id", &user->id) &&
         get_utf8(p, "username", user->username, sizeof user->username) &&
         get_utf8(p, "display_name", user->display_name,
                  sizeof user->display_name);
}

void event_model_session_ended(bson_t *out, const char *session_id) {
  BSON_APPEND_UTF8(out, "session", session_id);
}

void event_model_sessions_ended_for_user(bson_t *out, const bson_oid_t *user,
                                         const char *except_session) {
  BSON_APPEND_OID(out, "user", user);
  if (except_session) {
    BSON_APPEND_UTF8(out, "except", except_session);
  }
}

bool event_model_get_session_ended(const bson_t *p, sessions_ended_t *ended) {
  memset(ended, 0, sizeof *ended);
  if (get_utf8(p, "session", ended->session, sizeof ended->session)) {
    return true;
  }
  bson_iter_t it;
  if (bson_iter_init_find(&it, p, "except") && !BSON_ITER_HOLDS_UTF8(&it)) {
    return false;
  }
  get_utf8(p, "except", ended->except, sizeof ended->except);
  ended->by_user = bsonx_find_oid(p, "user", &ended->user);
  return ended->by_user;
}

/* ---- the browsers' payloads ---- */

static void append_hex(bson_t *out, const char *key, const bson_oid_t *id) {
  char hex[25];
  bson_oid_to_string(id, hex);
  BSON_APPEND_UTF8(out, key, hex);
}

/* The ObjectId whose 24 hex digits are doc[key], or doc[key] itself when
 * it is one (the form of the events a server of an older version
 * published, still in the log while servers of both run). */
static bool get_hex_oid(const bson_t *doc, const char *key, bson_oid_t *out) {
  bson_iter_t it;
  uint32_t len = 0;
  const char *s;
  if (!bson_iter_init_find(&it, doc, key)) {
    return false;
  }
  if (BSON_ITER_HOLDS_OID(&it)) {
    bson_oid_copy(bson_iter_oid(&it), out);
    return true;
  }
  if (!BSON_ITER_HOLDS_UTF8(&it) || !(s = bson_iter_utf8(&it, &len)) ||
      len != 24 || !bson_oid_is_valid(s, len)) {
    return false;
  }
  bson_oid_init_from_string(out, s);
  return true;
}

void event_data_tweet(bson_t *out, const tweet_t *t) {
  bson_t sub;
  BSON_APPEND_DOCUMENT_BEGIN(out, "tweet", &sub);
  render_tweet(&sub, t);
  bson_append_document_end(out, &sub);
  BSON_APPEND_INT64(out, "version", t->version);
}

void event_data_tweet_deleted(bson_t *out, const bson_oid_t *id) {
  append_hex(out, "id", id);
}

void event_data_follow(bson_t *out, const user_name_t *follower,
                       const user_name_t *followee, bool following) {
  BSON_APPEND_UTF8(out, "follower", follower->username);
  BSON_APPEND_UTF8(out, "followee", followee->username);
  append_hex(out, "follower_id", &follower->id);
  append_hex(out, "followee_id", &followee->id);
  BSON_APPEND_BOOL(out, "following", following);
}

void event_data_like(bson_t *out, const bson_oid_t *tweet, bool liked) {
  append_hex(out, "tweet", tweet);
  BSON_APPEND_BOOL(out, "liked", liked);
}

void event_data_notification(bson_t *out, const notification_t *n) {
  bson_t sub;
  BSON_APPEND_DOCUMENT_BEGIN(out, "notification", &sub);
  render_notification(&sub, n);
  bson_append_document_end(out, &sub);
}

void event_data_trends(bson_t *out, const trend_t *trends, size_t n) {
  render_trends(out, trends, n);
}

void event_data_user(bson_t *out, const user_name_t *user) {
  BSON_APPEND_UTF8(out, "username", user->username);
  BSON_APPEND_UTF8(out, "display_name", user->display_name);
  render_profile_image(out, "avatar", user->has_avatar, &user->avatar);
}

bool event_data_get_follow(const bson_t *data, bson_oid_t *follower,
                           bson_oid_t *followee, bool *following) {
  *following = false;
  get_bool(data, "following", following);
  return get_hex_oid(data, "follower_id", follower) &&
         get_hex_oid(data, "followee_id", followee);
}

/* ---- publication: what receivers see of an event ---- */

/* A failed read is retried later unless it says the thing is gone. */
static events_enrich_t failed(const chorus_error_t *err) {
  return err->status == 404 ? EVENTS_DROP : EVENTS_RETRY;
}

static bool skeleton_bool(const bson_t *skeleton, const char *key) {
  bool value = false;
  get_bool(skeleton, key, &value);
  return value;
}

/* Names of n users (1 or 2) by id; false with err. */
static bool names_of(db_t *db, user_name_t *names, size_t n,
                     chorus_error_t *err) {
  mongoc_client_t *client = db_acquire(db);
  bool ok = users_get_names(db, client, names, n, err);
  db_release(db, client);
  return ok;
}

/* The new tweet id as a tweet.created skeleton carries it (stored, its
 * author's names: event_add_tweet_created), as tweets_get shows it to
 * nobody in particular; false when the skeleton does not carry it.  t is
 * the caller's to tweet_release when true. */
static bool known_created(const bson_t *skeleton, const bson_oid_t *id,
                          tweet_t *t) {
  bson_iter_t it;
  uint32_t len;
  const uint8_t *raw;
  bson_t stored;
  if (!bson_iter_init_find(&it, skeleton, "stored") ||
      !BSON_ITER_HOLDS_DOCUMENT(&it)) {
    return false;
  }
  bson_iter_document(&it, &len, &raw);
  if (!bson_init_static(&stored, raw, len)) {
    return false;
  }
  tweets_from_stored(&stored, t);
  if (!bson_oid_equal(&t->id, id) || t->has_reply_to || t->has_quote_of ||
      !get_utf8(skeleton, "display_name", t->author.display_name,
                sizeof t->author.display_name)) {
    tweet_release(t);
    return false;
  }
  t->author.has_avatar = bsonx_find_oid(skeleton, "avatar", &t->author.avatar);
  return true;
}

static events_enrich_t enrich_tweet(db_t *db, sync_t *sync, event_type_t type,
                                    const bson_t *skeleton, bson_t *data,
                                    bson_t *model) {
  bson_oid_t id;
  if (!bsonx_find_oid(skeleton, "tweet", &id)) {
    return EVENTS_DROP;
  }
  if (type == EVENT_TWEET_DELETED) {
    event_data_tweet_deleted(data, &id);
    event_model_tweet_deleted(model, &id);
    return EVENTS_ENRICHED;
  }
  tweet_t t;
  if (type == EVENT_TWEET_CREATED && known_created(skeleton, &id, &t)) {
    event_data_tweet(data, &t);
    event_model_tweet(model, &t);
    tweet_release(&t);
    return EVENTS_ENRICHED;
  }
  char hex[25];
  bson_oid_to_string(&id, hex);
  chorus_error_t err;
  if (!tweets_get(db, sync, NULL, hex, &t, &err)) {
    return failed(&err); /* gone meanwhile: its deletion has its own event */
  }
  event_data_tweet(data, &t);
  event_model_tweet(model, &t);
  tweet_release(&t);
  return EVENTS_ENRICHED;
}

static events_enrich_t enrich_follow(db_t *db, const bson_t *skeleton,
                                     bson_t *data, bson_t *model) {
  user_name_t names[2];
  memset(names, 0, sizeof names);
  chorus_error_t err;
  if (!bsonx_find_oid(skeleton, "follower", &names[0].id) ||
      !bsonx_find_oid(skeleton, "followee", &names[1].id)) {
    return EVENTS_DROP;
  }
  if (!names_of(db, names, 2, &err)) {
    return failed(&err);
  }
  bool following = skeleton_bool(skeleton, "following");
  event_data_follow(data, &names[0], &names[1], following);
  event_model_follow(model, &names[0].id, &names[1].id, following);
  return EVENTS_ENRICHED;
}

static events_enrich_t enrich_like(const bson_t *skeleton, bson_t *data,
                                   bson_t *model) {
  bson_oid_t user, tweet;
  if (!bsonx_find_oid(skeleton, "user", &user) ||
      !bsonx_find_oid(skeleton, "tweet", &tweet)) {
    return EVENTS_DROP;
  }
  bool liked = skeleton_bool(skeleton, "liked");
  event_data_like(data, &tweet, liked);
  event_model_like(model, &user, &tweet, liked);
  return EVENTS_ENRICHED;
}

/* The reposted tweet as a feed item of this repost; a repost of a tweet
 * gone meanwhile is dropped (the deletion removed it). */
static events_enrich_t enrich_repost(db_t *db, sync_t *sync,
                                     const bson_t *skeleton, bson_t *data,
                                     bson_t *model) {
  event_repost_t r;
  if (!event_model_get_repost(skeleton, &r)) {
    return EVENTS_DROP;
  }
  char hex[25];
  bson_oid_to_string(&r.tweet, hex);
  tweet_t *t = bson_malloc0(sizeof *t);
  chorus_error_t err;
  events_enrich_t result = EVENTS_ENRICHED;
  user_name_t by = {.id = r.user};
  if (!tweets_get(db, sync, NULL, hex, t, &err) ||
      !names_of(db, &by, 1, &err)) {
    result = failed(&err);
  } else {
    t->is_repost = true;
    t->reposted_by = by;
    t->reposted_at_ms = r.created_at_ms;
    t->repost_id = r.id;
    bson_t sub;
    BSON_APPEND_DOCUMENT_BEGIN(data, "tweet", &sub);
    render_tweet(&sub, t);
    bson_append_document_end(data, &sub);
    BSON_APPEND_BOOL(data, "reposted", r.reposted);
    event_model_repost(model, &r, r.reposted ? t : NULL);
  }
  tweet_release(t);
  bson_free(t);
  return result;
}

/* The notification, shaped as GET /api/notifications shows it. */
static events_enrich_t enrich_notification(db_t *db, const bson_t *skeleton,
                                           bson_t *data) {
  notification_t n;
  bson_oid_t actor;
  chorus_error_t err;
  if (!bsonx_find_oid(skeleton, "actor_id", &actor)) {
    return EVENTS_DROP;
  }
  notifications_parse(skeleton, &n);
  if (!names_of(db, &n.actor, 1, &err)) {
    return failed(&err);
  }
  event_data_notification(data, &n);
  return EVENTS_ENRICHED;
}

static events_enrich_t enrich_user(db_t *db, sync_t *sync,
                                   const bson_t *skeleton, bson_t *data,
                                   bson_t *model) {
  user_name_t name;
  memset(&name, 0, sizeof name);
  chorus_error_t err;
  if (!bsonx_find_oid(skeleton, "user", &name.id)) {
    return EVENTS_DROP;
  }
  /* The committed view with its version: two renames racing on two
   * servers may publish out of commit order, and the read models keep
   * the names of the highest version (model.h).  The last enrichment
   * reads after the last rename committed, so the highest version read
   * carries the final names. */
  user_t u;
  if (!users_find_by_id(db, sync, &name.id, &u, &err)) {
    return failed(&err); /* 404: no such account (any more) */
  }
  user_name_of(&u, &name);
  event_data_user(data, &name);
  event_model_user(model, &name);
  return EVENTS_ENRICHED;
}

/* Deletes the sessions first (sessions.h, step 2): the event is numbered
 * only once they are gone from the database.  Run again on a retry:
 * deleting twice is harmless. */
static events_enrich_t enrich_session_ended(db_t *db, const bson_t *skeleton,
                                            bson_t *model) {
  sessions_ended_t ended;
  if (!event_model_get_session_ended(skeleton, &ended)) {
    return EVENTS_DROP;
  }
  chorus_error_t err;
  if (!sessions_remove_ended(db, &ended, &err)) {
    return EVENTS_RETRY;
  }
  if (ended.by_user) {
    event_model_sessions_ended_for_user(model, &ended.user,
                                        ended.except[0] ? ended.except : NULL);
  } else {
    event_model_session_ended(model, ended.session);
  }
  sodium_memzero(&ended, sizeof ended);
  return EVENTS_ENRICHED;
}

events_enrich_t event_enrich(db_t *db, sync_t *sync, const char *type,
                             const bson_t *skeleton, bson_t *data,
                             bson_t *model) {
  event_type_t t = event_type_parse(type);
  switch (t) {
  case EVENT_TWEET_CREATED:
  case EVENT_TWEET_UPDATED:
  case EVENT_TWEET_DELETED:
    return enrich_tweet(db, sync, t, skeleton, data, model);
  case EVENT_FOLLOW:
    return enrich_follow(db, skeleton, data, model);
  case EVENT_LIKE:
    return enrich_like(skeleton, data, model);
  case EVENT_REPOST:
    return enrich_repost(db, sync, skeleton, data, model);
  case EVENT_NOTIFICATION:
    return enrich_notification(db, skeleton, data);
  case EVENT_USER_UPDATED:
    return enrich_user(db, sync, skeleton, data, model);
  case EVENT_SESSION_ENDED:
    return enrich_session_ended(db, skeleton, model);
  case EVENT_UNKNOWN:
  case EVENT_RELOAD:
  case EVENT_ERROR:
  case EVENT_TRENDS:
  case EVENT_TYPE_COUNT:
  default:
    return EVENTS_DROP; /* not a type the log holds */
  }
}
