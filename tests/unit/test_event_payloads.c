/*
 * test_event_payloads.c - unit tests for event_payloads.h: the documents
 * an event carries, byte for byte.
 *
 * Adding events: each event_add_* puts one event of its type (the name
 * from event_types.h) into the batch, with exactly the skeleton and
 * audience the enrichment and the hub read (pinned as JSON, since
 * outbox documents written by one version are published by another); an
 * edit's audience names the tags of its new and its replaced text, each
 * once; a full batch takes nothing more.
 *
 * The read models' payloads: each builder's document, pinned as JSON;
 * each accessor gives back what its builder was given (optional fields
 * present and absent); accessors refuse an empty document and a payload
 * with a field of the wrong type; user.updated's version defaults to 0;
 * session.ended has two forms (one session; every session of an account
 * but one, or all), and sessions_ended_includes says which sessions
 * each ends.
 *
 * The browsers' payloads: each event_data_* builder's document, pinned
 * as JSON, holds only plain JSON values (ids as the API's hex strings,
 * times as its RFC 3339 strings; no ObjectId or Date at any depth);
 * event_data_get_follow reads back what event_data_follow wrote (and
 * ObjectId ids), defaults the flag to false, refuses missing and
 * malformed ids.
 *
 * A new tweet's tweet.created carries its stored document (but its
 * search words) and its author's names when it neither replies nor
 * quotes, and event_enrich makes its payloads from them alone (called
 * here without a database); a reply's and a quote's carry the id alone.
 *
 * event_enrich's reads of the database are covered by the integration
 * tests (test_realtime, test_read_model, test_media compares a new
 * tweet's event with the API's answer).  Pure functions: no database.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "server/domain/event_payloads.h"

#define T0 1700000000000LL /* 2023-11-14T22:13:20Z */

#define A_HEX "65a0000000000000000000a1"
#define B_HEX "65a0000000000000000000b2"
#define C_HEX "65a0000000000000000000c3"
#define OID(hex) "{ \"$oid\" : \"" hex "\" }"
/* A session id of 64 'f's. */
#define SID_F "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff"

static bson_oid_t oid(const char *hex) {
  bson_oid_t o;
  bson_oid_init_from_string(&o, hex);
  return o;
}

static void assert_json(const bson_t *doc, const char *want) {
  char *got = bson_as_relaxed_extended_json(doc, NULL);
  assert_non_null(got);
  if (strcmp(got, want) != 0) {
    print_error("got:  %s\nwant: %s\n", got, want);
  }
  assert_string_equal(got, want);
  bson_free(got);
}

/* The batch's event i: its type, skeleton and audience. */
static void assert_event(const event_batch_t *b, size_t i, event_type_t type,
                         const char *skeleton, const char *audience) {
  assert_true(i < b->n);
  assert_ptr_equal(b->types[i], event_type_name(type));
  assert_json(&b->skeletons[i], skeleton);
  assert_json(&b->audiences[i], audience);
}

/* ------------------------------------------------------------------ */
/* adding events                                                       */
/* ------------------------------------------------------------------ */

static void tweet_events(void **state) {
  (void)state;
  bson_oid_t a = oid(A_HEX), b = oid(B_HEX), c = oid(C_HEX);
  event_batch_t batch;
  event_batch_init(&batch);
  event_add_tweet(&batch, EVENT_TWEET_CREATED, &a, &b, &c);
  event_add_tweet(&batch, EVENT_TWEET_UPDATED, &c, NULL, NULL);
  event_add_tweet(&batch, EVENT_TWEET_DELETED, &a, &b, NULL);
  assert_int_equal(batch.n, 3);
  assert_event(&batch, 0, EVENT_TWEET_CREATED, "{ \"tweet\" : " OID(A_HEX) " }",
               "{ \"author\" : " OID(B_HEX) ", \"tweets\" : [ " OID(
                   A_HEX) ", " OID(C_HEX) " ] }");
  assert_event(&batch, 1, EVENT_TWEET_UPDATED, "{ \"tweet\" : " OID(C_HEX) " }",
               "{ \"tweets\" : [ " OID(C_HEX) " ] }");
  assert_event(
      &batch, 2, EVENT_TWEET_DELETED, "{ \"tweet\" : " OID(A_HEX) " }",
      "{ \"author\" : " OID(B_HEX) ", \"tweets\" : [ " OID(A_HEX) " ] }");
  event_batch_cleanup(&batch);
}

/* t's text and its entities (no mention: only tags and URLs matter). */
static void set_text(tweet_t *t, const char *text) {
  snprintf(t->text, sizeof t->text, "%s", text);
  entity_t e[TWEET_ENTITIES_MAX];
  t->n_entities = entities_parse(text, strlen(text), e, TWEET_ENTITIES_MAX);
  for (size_t i = 0; i < t->n_entities; i++) {
    memset(&t->entities[i], 0, sizeof t->entities[i]);
    t->entities[i].span = e[i];
  }
}

/* An edit's tweet.updated names the tags of the new text, then those of
 * the replaced one it does not have; and the most of both fit. */
static void edit_events_name_the_tags_of_both_texts(void **state) {
  (void)state;
  tweet_t *t = bson_malloc0(sizeof *t * 2), *was = &t[1];
  t->id = oid(A_HEX);
  t->author.id = oid(B_HEX);
  set_text(t, "#b #C #d #b");
  set_text(was, "#a #c #B #e https://x.org/#f");
  event_batch_t batch;
  event_batch_init(&batch);
  event_add_tweet_edited(&batch, t, was);
  set_text(t, "no tags");
  event_add_tweet_edited(&batch, t, was);
  /* 93 tags each, none shared: 186 in all. */
  char text[2][512]; /* longer than a tweet: the entities are what counts */
  for (int k = 0; k < 2; k++) {
    size_t len = 0;
    for (int i = 0; i < 93; i++) {
      text[k][len++] = '#';
      text[k][len++] = k ? 'x' : 'y';
      text[k][len++] = (char)('a' + i % 26);
      text[k][len++] = i < 26 ? ' ' : (char)('a' + i / 26);
      if (i >= 26) {
        text[k][len++] = ' ';
      }
    }
    text[k][len] = '\0';
  }
  set_text(t, text[0]);
  set_text(was, text[1]);
  event_add_tweet_edited(&batch, t, was);
  assert_int_equal(batch.n, 3);
  const char *skeleton = "{ \"tweet\" : " OID(A_HEX) " }";
  assert_event(&batch, 0, EVENT_TWEET_UPDATED, skeleton,
               "{ \"author\" : " OID(B_HEX) ", \"tweets\" : [ " OID(
                   A_HEX) " ], \"tags\" : [ \"b\", \"c\", \"d\", \"a\", "
                          "\"e\" ] }");
  assert_event(&batch, 1, EVENT_TWEET_UPDATED, skeleton,
               "{ \"author\" : " OID(B_HEX) ", \"tweets\" : [ " OID(
                   A_HEX) " ], \"tags\" : [ \"a\", \"c\", \"b\", \"e\" ] }");
  bson_iter_t it, tags;
  assert_true(bson_iter_init_find(&it, &batch.audiences[2], "tags") &&
              bson_iter_recurse(&it, &tags));
  int n = 0;
  while (bson_iter_next(&tags)) {
    n++;
  }
  assert_int_equal(n, 186);
  event_batch_cleanup(&batch);
  bson_free(t);
}

static void social_events(void **state) {
  (void)state;
  bson_oid_t a = oid(A_HEX), b = oid(B_HEX);
  event_batch_t batch;
  event_batch_init(&batch);
  event_add_follow(&batch, &a, &b, true);
  event_add_like(&batch, &a, &b, false);
  bson_t n = BSON_INITIALIZER;
  BSON_APPEND_OID(&n, "_id", &b);
  BSON_APPEND_UTF8(&n, "type", "like");
  event_add_notification(&batch, &a, &n);
  bson_destroy(&n);
  assert_int_equal(batch.n, 3);
  assert_event(&batch, 0, EVENT_FOLLOW,
               "{ \"follower\" : " OID(A_HEX) ", \"followee\" : " OID(
                   B_HEX) ", \"following\" : true }",
               "{ \"users\" : [ " OID(A_HEX) ", " OID(B_HEX) " ] }");
  assert_event(&batch, 1, EVENT_LIKE,
               "{ \"user\" : " OID(A_HEX) ", \"tweet\" : " OID(
                   B_HEX) ", \"liked\" : false }",
               "{ \"users\" : [ " OID(A_HEX) " ] }");
  assert_event(&batch, 2, EVENT_NOTIFICATION,
               "{ \"_id\" : " OID(B_HEX) ", \"type\" : \"like\" }",
               "{ \"users\" : [ " OID(A_HEX) " ] }");
  event_batch_cleanup(&batch);
}

static void events_for_the_read_models_only(void **state) {
  (void)state;
  bson_oid_t a = oid(A_HEX);
  event_batch_t batch;
  event_batch_init(&batch);
  event_add_user_updated(&batch, &a);
  event_add_session_ended(&batch, "abc");
  event_add_sessions_ended_for_user(&batch, &a, "def");
  event_add_sessions_ended_for_user(&batch, &a, NULL);
  assert_int_equal(batch.n, 4);
  /* Their audience is nobody. */
  assert_event(&batch, 0, EVENT_USER_UPDATED, "{ \"user\" : " OID(A_HEX) " }",
               "{ }");
  assert_event(&batch, 1, EVENT_SESSION_ENDED, "{ \"session\" : \"abc\" }",
               "{ }");
  assert_event(&batch, 2, EVENT_SESSION_ENDED,
               "{ \"user\" : " OID(A_HEX) ", \"except\" : \"def\" }", "{ }");
  assert_event(&batch, 3, EVENT_SESSION_ENDED, "{ \"user\" : " OID(A_HEX) " }",
               "{ }");
  event_batch_cleanup(&batch);
}

static void a_full_batch_takes_nothing(void **state) {
  (void)state;
  bson_oid_t a = oid(A_HEX), b = oid(B_HEX);
  event_batch_t batch;
  event_batch_init(&batch);
  for (size_t i = 0; i < EVENTS_PER_TXN; i++) {
    event_add_like(&batch, &a, &b, true);
  }
  event_add_tweet(&batch, EVENT_TWEET_CREATED, &a, &b, NULL);
  event_add_follow(&batch, &a, &b, true);
  event_add_like(&batch, &a, &b, true);
  event_add_notification(&batch, &a, &(bson_t)BSON_INITIALIZER);
  event_add_user_updated(&batch, &a);
  event_add_session_ended(&batch, "abc");
  assert_int_equal(batch.n, EVENTS_PER_TXN);
  for (size_t i = 0; i < EVENTS_PER_TXN; i++) {
    assert_ptr_equal(batch.types[i], event_type_name(EVENT_LIKE));
  }
  event_batch_cleanup(&batch);
}

/* ------------------------------------------------------------------ */
/* the read models' payloads                                           */
/* ------------------------------------------------------------------ */

static tweet_t sample_tweet(bool optional_fields) {
  tweet_t t;
  memset(&t, 0, sizeof t);
  t.id = oid(A_HEX);
  t.author.id = oid(B_HEX);
  snprintf(t.author.username, sizeof t.author.username, "alice");
  snprintf(t.author.display_name, sizeof t.author.display_name, "Alice A.");
  snprintf(t.text, sizeof t.text, "hello \"world\"");
  t.created_at_ms = T0;
  if (optional_fields) {
    t.edited_at_ms = T0 + 1000;
    t.has_reply_to = true;
    t.reply_to = oid(C_HEX);
  }
  t.reply_count = 3;
  t.like_count = 4;
  t.version = 5;
  return t;
}

static void tweet_payload(void **state) {
  (void)state;
  /* Without, then with, the optional fields (edited_at, reply_to). */
#define HEAD                                                                   \
  "{ \"id\" : " OID(A_HEX) ", \"author_id\" : " OID(                           \
      B_HEX) ", \"author\" : \"alice\", \"display_name\" : \"Alice A.\", "     \
             "\"text\" : \"hello \\\"world\\\"\", \"created_at\" : { "         \
             "\"$date\" : "                                                    \
             "\"2023-11-14T22:13:20Z\" }, "
#define TAIL                                                                   \
  "\"reply_count\" : 3, \"like_count\" : 4, \"repost_count\" : 0, "            \
  "\"quote_count\" : 0, \"edit_count\" : 0, \"entities\" : [  ], "             \
  "\"version\" : 5 }"
  static const char *const want[2] = {
      HEAD TAIL,
      HEAD "\"edited_at\" : { \"$date\" : \"2023-11-14T22:13:21Z\" }, "
           "\"reply_to\" : " OID(C_HEX) ", " TAIL,
  };
#undef HEAD
#undef TAIL
  for (int optional = 0; optional < 2; optional++) {
    tweet_t t = sample_tweet(optional);
    bson_t p = BSON_INITIALIZER;
    event_model_tweet(&p, &t);
    assert_json(&p, want[optional]);
    tweet_t got;
    memset(&got, 0xAB, sizeof got);
    assert_true(event_model_get_tweet(&p, &got));
    assert_memory_equal(&got, &t, sizeof t); /* padding included: memset */
    bson_destroy(&p);
  }
}

/* A new tweet's event carries what its payloads are made of: they come
 * from its skeleton, with no database (db NULL), and equal the builders'
 * for the same tweet; a reply's and a quote's do not carry it. */
static void a_new_tweet_carries_its_state(void **state) {
  (void)state;
  tweet_t t = sample_tweet(false);
  t.reply_count = t.like_count = 0;
  t.version = 1;
  t.author.has_avatar = true;
  t.author.avatar = oid(C_HEX);
  bson_t *stored = BCON_NEW(
      "_id", BCON_OID(&t.id), "author_id", BCON_OID(&t.author.id), "author",
      BCON_UTF8("alice"), "text", BCON_UTF8(t.text), TWEETS_WORDS_FIELD, "[",
      BCON_UTF8("hello"), "]", "created_at", BCON_DATE_TIME(T0), "edited_at",
      BCON_NULL, "reply_to", BCON_NULL, "quote_of", BCON_NULL, "reply_count",
      BCON_INT64(0), "like_count", BCON_INT64(0), "repost_count", BCON_INT64(0),
      "quote_count", BCON_INT64(0), "edit_count", BCON_INT64(0), "entities",
      "[", "]", "version", BCON_INT64(1));
  event_batch_t batch;
  event_batch_init(&batch);
  event_add_tweet_created(&batch, &t, stored);
  assert_int_equal(batch.n, 1);
  assert_json(
      &batch.skeletons[0],
      "{ \"tweet\" : " OID(A_HEX) ", \"stored\" : { \"_id\" : " OID(
          A_HEX) ", \"author_id\" : " OID(B_HEX) ", \"author\" : "
                                                 "\"alice\", \"text\" : "
                                                 "\"hello \\\"world\\\"\", "
                                                 "\"created_at\" : { \"$date\" "
                                                 ": "
                                                 "\"2023-11-14T22:13:20Z\" }, "
                                                 "\"edited_at\" : null, "
                                                 "\"reply_to\" : null, "
                                                 "\"quote_of\" : null, "
                                                 "\"reply_count\" : 0, "
                                                 "\"like_count\" : 0, "
                                                 "\"repost_count\" : 0, "
                                                 "\"quote_count\" : 0, "
                                                 "\"edit_count\" : 0, "
                                                 "\"entities\" : [  ], "
                                                 "\"version\" : "
                                                 "1 }, \"display_name\" : "
                                                 "\"Alice A.\", \"avatar\" "
                                                 ": " OID(C_HEX) " }");
  bson_t data = BSON_INITIALIZER, model = BSON_INITIALIZER;
  assert_int_equal(event_enrich(NULL, NULL, "tweet.created",
                                &batch.skeletons[0], &data, &model),
                   EVENTS_ENRICHED);
  bson_t want_data = BSON_INITIALIZER, want_model = BSON_INITIALIZER;
  event_data_tweet(&want_data, &t);
  event_model_tweet(&want_model, &t);
  char *want = bson_as_relaxed_extended_json(&want_data, NULL);
  assert_json(&data, want);
  bson_free(want);
  want = bson_as_relaxed_extended_json(&want_model, NULL);
  assert_json(&model, want);
  bson_free(want);
  bson_destroy(&want_data);
  bson_destroy(&want_model);
  bson_destroy(&data);
  bson_destroy(&model);
  event_batch_cleanup(&batch);
  /* A reply, a quote: the id alone (their payloads show other tweets). */
  for (int quote = 0; quote < 2; quote++) {
    tweet_t other = t;
    other.has_reply_to = !quote;
    other.has_quote_of = quote;
    other.reply_to = other.quote.id = oid(C_HEX);
    event_batch_init(&batch);
    event_add_tweet_created(&batch, &other, stored);
    bson_iter_t it;
    assert_false(bson_iter_init_find(&it, &batch.skeletons[0], "stored"));
    event_batch_cleanup(&batch);
  }
  bson_destroy(stored);
}

/* A tweet's images ride in its payload as stored, and come back as a
 * list of their own (the caller's to release). */
static void tweet_payload_with_images(void **state) {
  (void)state;
  tweet_t t = sample_tweet(false);
  media_ref_t refs[2];
  memset(refs, 0, sizeof refs);
  refs[0].id = oid(C_HEX);
  refs[0].type = IMAGE_JPEG;
  refs[0].width = 2048;
  refs[0].height = 1536;
  snprintf(refs[0].color, sizeof refs[0].color, "#0a0b0c");
  refs[0].alt = "a \"view\"";
  refs[1] = refs[0];
  refs[1].id = oid(B_HEX);
  refs[1].type = IMAGE_GIF;
  refs[1].alt = "";
  t.media = media_list_new(refs, 2);
  bson_t p = BSON_INITIALIZER;
  event_model_tweet(&p, &t);
  tweet_t got;
  memset(&got, 0xAB, sizeof got);
  assert_true(event_model_get_tweet(&p, &got));
  assert_non_null(got.media);
  assert_ptr_not_equal(got.media, t.media);
  assert_true(media_list_equal(got.media, t.media));
  assert_string_equal(got.media->items[0].alt, "a \"view\"");
  assert_int_equal(got.media->items[1].type, IMAGE_GIF);
  /* Everything else as without them. */
  media_list_t *kept = got.media;
  got.media = t.media;
  assert_memory_equal(&got, &t, sizeof t);
  media_list_free(kept);
  tweet_release(&t);
  bson_destroy(&p);
}

static void pair_payloads(void **state) {
  (void)state;
  bson_oid_t a = oid(A_HEX), b = oid(B_HEX), x, y;
  bool flag = false;
  bson_t p = BSON_INITIALIZER;
  event_model_follow(&p, &a, &b, true);
  assert_json(&p, "{ \"follower\" : " OID(A_HEX) ", \"followee\" : " OID(
                      B_HEX) ", \"following\" : true }");
  assert_true(event_model_get_follow(&p, &x, &y, &flag));
  assert_true(bson_oid_equal(&x, &a) && bson_oid_equal(&y, &b) && flag);
  assert_false(event_model_get_like(&p, &x, &y, &flag)); /* another type */
  bson_reinit(&p);
  event_model_like(&p, &b, &a, false);
  assert_json(&p, "{ \"user\" : " OID(B_HEX) ", \"tweet\" : " OID(
                      A_HEX) ", \"liked\" : false }");
  flag = true;
  assert_true(event_model_get_like(&p, &x, &y, &flag));
  assert_true(bson_oid_equal(&x, &b) && bson_oid_equal(&y, &a) && !flag);
  assert_false(event_model_get_follow(&p, &x, &y, &flag));
  bson_reinit(&p);
  event_model_tweet_deleted(&p, &a);
  assert_json(&p, "{ \"id\" : " OID(A_HEX) " }");
  assert_true(event_model_get_tweet_deleted(&p, &x));
  assert_true(bson_oid_equal(&x, &a));
  bson_destroy(&p);
}

static void user_and_session_payloads(void **state) {
  (void)state;
  user_name_t u;
  memset(&u, 0, sizeof u);
  u.id = oid(A_HEX);
  snprintf(u.username, sizeof u.username, "bob");
  snprintf(u.display_name, sizeof u.display_name, "Bob B.");
  u.version = 7;
  bson_t p = BSON_INITIALIZER;
  event_model_user(&p, &u);
  assert_json(&p,
              "{ \"id\" : " OID(
                  A_HEX) ", \"username\" : \"bob\", "
                         "\"display_name\" : \"Bob B.\", \"version\" : 7 }");
  user_name_t got;
  assert_true(event_model_get_user(&p, &got));
  assert_memory_equal(&got, &u, sizeof u);
  /* With an avatar. */
  u.has_avatar = true;
  u.avatar = oid(C_HEX);
  bson_reinit(&p);
  event_model_user(&p, &u);
  assert_json(&p, "{ \"id\" : " OID(
                      A_HEX) ", \"username\" : \"bob\", "
                             "\"display_name\" : \"Bob B.\", \"avatar\" : " OID(
                                 C_HEX) ", \"version\" : 7 }");
  assert_true(event_model_get_user(&p, &got));
  assert_memory_equal(&got, &u, sizeof u);
  u.has_avatar = false;
  memset(&u.avatar, 0, sizeof u.avatar);
  /* Without a version: 0. */
  bson_reinit(&p);
  BSON_APPEND_OID(&p, "id", &u.id);
  BSON_APPEND_UTF8(&p, "username", "bob");
  BSON_APPEND_UTF8(&p, "display_name", "Bob B.");
  assert_true(event_model_get_user(&p, &got));
  assert_int_equal(got.version, 0);

  char sid[SESSION_ID_LEN + 1], other[SESSION_ID_LEN + 1];
  memset(sid, 'f', SESSION_ID_LEN);
  sid[SESSION_ID_LEN] = '\0';
  memset(other, 'e', SESSION_ID_LEN);
  other[SESSION_ID_LEN] = '\0';
  sessions_ended_t back;
  /* One session. */
  bson_reinit(&p);
  event_model_session_ended(&p, sid);
  assert_true(event_model_get_session_ended(&p, &back));
  assert_false(back.by_user);
  assert_string_equal(back.session, sid);
  assert_true(sessions_ended_includes(&back, sid, &u.id));
  assert_false(sessions_ended_includes(&back, other, &u.id));
  /* Every session of an account but one. */
  bson_reinit(&p);
  event_model_sessions_ended_for_user(&p, &u.id, sid);
  assert_json(&p, "{ \"user\" : " OID(A_HEX) ", \"except\" : \"" SID_F "\" }");
  assert_true(event_model_get_session_ended(&p, &back));
  assert_true(back.by_user);
  assert_true(bson_oid_equal(&back.user, &u.id));
  assert_string_equal(back.except, sid);
  assert_false(sessions_ended_includes(&back, sid, &u.id));
  assert_true(sessions_ended_includes(&back, other, &u.id));
  bson_oid_t stranger = oid(B_HEX);
  assert_false(sessions_ended_includes(&back, other, &stranger));
  /* ... or every one. */
  bson_reinit(&p);
  event_model_sessions_ended_for_user(&p, &u.id, NULL);
  assert_true(event_model_get_session_ended(&p, &back));
  assert_true(back.by_user);
  assert_string_equal(back.except, "");
  assert_true(sessions_ended_includes(&back, sid, &u.id));
  assert_true(sessions_ended_includes(&back, other, &u.id));
  bson_destroy(&p);
}

static void accessors_refuse_what_is_not_their_payload(void **state) {
  (void)state;
  bson_t empty = BSON_INITIALIZER;
  tweet_t t;
  bson_oid_t x, y;
  bool flag;
  user_name_t u;
  sessions_ended_t ended;
  assert_false(event_model_get_tweet(&empty, &t));
  assert_false(event_model_get_tweet_deleted(&empty, &x));
  assert_false(event_model_get_follow(&empty, &x, &y, &flag));
  assert_false(event_model_get_like(&empty, &x, &y, &flag));
  assert_false(event_model_get_user(&empty, &u));
  assert_false(event_model_get_session_ended(&empty, &ended));
  /* An ending by account needs an ObjectId user, and a string except. */
  bson_t ending = BSON_INITIALIZER;
  BSON_APPEND_UTF8(&ending, "user", A_HEX);
  assert_false(event_model_get_session_ended(&ending, &ended));
  bson_reinit(&ending);
  bson_oid_t a = oid(A_HEX);
  BSON_APPEND_OID(&ending, "user", &a);
  BSON_APPEND_INT32(&ending, "except", 1);
  assert_false(event_model_get_session_ended(&ending, &ended));
  bson_destroy(&ending);

  /* Each required field of a tweet payload, of the wrong type. */
  const char *required[] = {"id",          "author_id",  "text",   "created_at",
                            "reply_count", "like_count", "version"};
  tweet_t sample = sample_tweet(false);
  for (size_t i = 0; i < sizeof required / sizeof required[0]; i++) {
    bson_t full = BSON_INITIALIZER, bad = BSON_INITIALIZER;
    event_model_tweet(&full, &sample);
    bson_copy_to_excluding_noinit(&full, &bad, required[i], NULL);
    BSON_APPEND_DOUBLE(&bad, required[i], 1.5);
    assert_false(event_model_get_tweet(&bad, &t));
    bson_destroy(&full);
    bson_destroy(&bad);
  }
  bson_t p = BSON_INITIALIZER;
  BSON_APPEND_OID(&p, "follower", &sample.id);
  BSON_APPEND_OID(&p, "followee", &sample.id);
  BSON_APPEND_UTF8(&p, "following", "yes");
  assert_false(event_model_get_follow(&p, &x, &y, &flag));
  bson_destroy(&p);
}

/* ------------------------------------------------------------------ */
/* the browsers' payloads                                              */
/* ------------------------------------------------------------------ */

/* Fails unless every value in doc, at any depth, is one JSON has: a
 * string, number, boolean, null, object or array (never an ObjectId, a
 * Date or another BSON type, which browsers would get as {"$oid": ...}). */
static void assert_plain_json(const bson_t *doc) {
  bson_iter_t it;
  assert_true(bson_iter_init(&it, doc));
  while (bson_iter_next(&it)) {
    bson_type_t type = bson_iter_type(&it);
    if (type == BSON_TYPE_DOCUMENT || type == BSON_TYPE_ARRAY) {
      uint32_t len;
      const uint8_t *data;
      if (type == BSON_TYPE_DOCUMENT) {
        bson_iter_document(&it, &len, &data);
      } else {
        bson_iter_array(&it, &len, &data);
      }
      bson_t sub;
      assert_true(bson_init_static(&sub, data, len));
      assert_plain_json(&sub);
    } else if (type != BSON_TYPE_UTF8 && type != BSON_TYPE_INT32 &&
               type != BSON_TYPE_INT64 && type != BSON_TYPE_DOUBLE &&
               type != BSON_TYPE_BOOL && type != BSON_TYPE_NULL) {
      fail_msg("%s is of BSON type 0x%02x", bson_iter_key(&it), (int)type);
    }
  }
}

static void tweet_data(void **state) {
  (void)state;
  tweet_t t = sample_tweet(true);
  t.liked_by_me = false;
  bson_t d = BSON_INITIALIZER;
  event_data_tweet(&d, &t);
  assert_json(&d, "{ \"tweet\" : { \"id\" : \"" A_HEX
                  "\", \"author\" : { \"username\" : \"alice\", "
                  "\"display_name\" : \"Alice A.\", \"avatar\" : null }, "
                  "\"text\" : \"hello "
                  "\\\"world\\\"\", \"created_at\" : "
                  "\"2023-11-14T22:13:20.000Z\", \"edited_at\" : "
                  "\"2023-11-14T22:13:21.000Z\", \"reply_to\" : \"" C_HEX
                  "\", \"reply_count\" : 3, \"like_count\" : 4, "
                  "\"liked_by_me\" : false, \"repost_count\" : 0, "
                  "\"reposted_by_me\" : false, \"quote_count\" : 0, "
                  "\"entities\" : [  ], \"quote_of\" : null, \"quote\" : null, "
                  "\"reposted_by\" : null, \"reposted_at\" : null, "
                  "\"reply_to_user\" : null, \"media\" : [  ] }, "
                  "\"version\" : 5 }");
  assert_plain_json(&d);
  bson_reinit(&d);
  bson_oid_t a = oid(A_HEX);
  event_data_tweet_deleted(&d, &a);
  assert_json(&d, "{ \"id\" : \"" A_HEX "\" }");
  assert_plain_json(&d);
  bson_destroy(&d);
}

static user_name_t name_of(const char *hex, const char *username,
                           const char *display_name) {
  user_name_t u;
  memset(&u, 0, sizeof u);
  u.id = oid(hex);
  snprintf(u.username, sizeof u.username, "%s", username);
  snprintf(u.display_name, sizeof u.display_name, "%s", display_name);
  return u;
}

static void social_data(void **state) {
  (void)state;
  user_name_t alice = name_of(A_HEX, "alice", "Alice A.");
  user_name_t bob = name_of(B_HEX, "bob", "");
  bson_t d = BSON_INITIALIZER;
  event_data_follow(&d, &alice, &bob, true);
  assert_json(&d, "{ \"follower\" : \"alice\", \"followee\" : \"bob\", "
                  "\"follower_id\" : \"" A_HEX "\", \"followee_id\" : \"" B_HEX
                  "\", \"following\" : true }");
  assert_plain_json(&d);
  bson_reinit(&d);
  bson_oid_t c = oid(C_HEX);
  event_data_like(&d, &c, false);
  assert_json(&d, "{ \"tweet\" : \"" C_HEX "\", \"liked\" : false }");
  assert_plain_json(&d);
  bson_reinit(&d);
  notification_t n;
  memset(&n, 0, sizeof n);
  n.id = oid(C_HEX);
  n.type = NOTIFY_LIKE;
  n.actor = alice;
  n.has_tweet = true;
  n.tweet = oid(B_HEX);
  n.created_at_ms = T0;
  event_data_notification(&d, &n);
  assert_json(&d,
              "{ \"notification\" : { \"id\" : \"" C_HEX
              "\", \"type\" : \"like\", \"actor\" : { \"username\" : "
              "\"alice\", \"display_name\" : \"Alice A.\", \"avatar\" : "
              "null }, \"tweet\" : "
              "\"" B_HEX "\", \"created_at\" : \"2023-11-14T22:13:20.000Z\", "
              "\"read\" : false } }");
  assert_plain_json(&d);
  bson_reinit(&d);
  n.type = NOTIFY_FOLLOW;
  n.has_tweet = false;
  event_data_notification(&d, &n);
  assert_plain_json(&d);
  bson_reinit(&d);
  event_data_user(&d, &alice);
  assert_json(&d, "{ \"username\" : \"alice\", \"display_name\" : "
                  "\"Alice A.\", \"avatar\" : null }");
  assert_plain_json(&d);
  bson_reinit(&d);
  alice.has_avatar = true;
  alice.avatar = oid(C_HEX);
  event_data_user(&d, &alice);
  assert_json(&d,
              "{ \"username\" : \"alice\", \"display_name\" : "
              "\"Alice A.\", \"avatar\" : { \"id\" : \"" C_HEX
              "\", \"url\" : \"/media/" C_HEX
              "/original\", \"thumb_url\" : \"/media/" C_HEX "/thumb\" } }");
  assert_plain_json(&d);
  bson_destroy(&d);
}

static void follow_data_is_read_back(void **state) {
  (void)state;
  user_name_t alice = name_of(A_HEX, "alice", ""),
              bob = name_of(B_HEX, "bob", "");
  bson_oid_t a = alice.id, b = bob.id, x, y;
  bool following = false;
  bson_t d = BSON_INITIALIZER;
  event_data_follow(&d, &alice, &bob, true);
  assert_true(event_data_get_follow(&d, &x, &y, &following));
  assert_true(bson_oid_equal(&x, &a) && bson_oid_equal(&y, &b) && following);
  /* The flag defaults to false. */
  bson_reinit(&d);
  BSON_APPEND_UTF8(&d, "follower_id", A_HEX);
  BSON_APPEND_UTF8(&d, "followee_id", B_HEX);
  assert_true(event_data_get_follow(&d, &x, &y, &following));
  assert_false(following);
  /* Ids as ObjectIds: the data of events an older version published. */
  bson_reinit(&d);
  BSON_APPEND_OID(&d, "follower_id", &a);
  BSON_APPEND_OID(&d, "followee_id", &b);
  assert_true(event_data_get_follow(&d, &x, &y, &following));
  assert_true(bson_oid_equal(&x, &a) && bson_oid_equal(&y, &b));
  /* A missing, short or non-hex id. */
  static const char *const bad[] = {"65a0000000000000000000b", "zz" B_HEX,
                                    "65a0000000000000000000bz", ""};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    bson_reinit(&d);
    BSON_APPEND_UTF8(&d, "follower_id", A_HEX);
    BSON_APPEND_UTF8(&d, "followee_id", bad[i]);
    assert_false(event_data_get_follow(&d, &x, &y, &following));
  }
  bson_reinit(&d);
  BSON_APPEND_UTF8(&d, "follower_id", A_HEX);
  assert_false(event_data_get_follow(&d, &x, &y, &following));
  bson_destroy(&d);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(tweet_events),
      cmocka_unit_test(edit_events_name_the_tags_of_both_texts),
      cmocka_unit_test(social_events),
      cmocka_unit_test(events_for_the_read_models_only),
      cmocka_unit_test(a_full_batch_takes_nothing),
      cmocka_unit_test(tweet_payload),
      cmocka_unit_test(tweet_payload_with_images),
      cmocka_unit_test(a_new_tweet_carries_its_state),
      cmocka_unit_test(pair_payloads),
      cmocka_unit_test(user_and_session_payloads),
      cmocka_unit_test(accessors_refuse_what_is_not_their_payload),
      cmocka_unit_test(tweet_data),
      cmocka_unit_test(social_data),
      cmocka_unit_test(follow_data_is_read_back),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
