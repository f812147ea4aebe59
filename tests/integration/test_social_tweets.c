/*
 * test_social_tweets.c - single tweets, deletes, replies and likes
 * (docs/API.md, "Tweets"):
 *   GET    /api/tweet/<id>            200 tweet on either server; 404
 *   DELETE /api/tweet/<id>            author only; gone everywhere
 *   POST   /api/tweet {"text","reply_to"}   parent's reply_count
 *   GET    /api/tweet/<id>/replies    oldest first, paginated
 *   POST/DELETE /api/tweet/<id>/like  idempotent; like_count, liked_by_me
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/client/harness.h"
#include "tests/client/testclient.h"

static const char *const BAD_IDS[] = {
    "000000000000000000000000",  "ffffffffffffffffffffffff",   "nothex",
    "6b012e4802a948e4df00a66",                                 /* 23 chars */
    "6b012e4802a948e4df00a6620",                               /* 25 chars */
    "ZZZZZZZZZZZZZZZZZZZZZZZZ",  "%7B%22%24gt%22%3A%22%22%7D", /* {"$gt":""} */
};
#define N_BAD_IDS (sizeof BAD_IDS / sizeof BAD_IDS[0])

/* Asserts like_count, reply_count and liked_by_me of a tweet as c sees it. */
static void assert_tweet_counts(tc_client_t *c, const char *id, int64_t likes,
                                int64_t replies, bool liked_by_me) {
  tc_response_t r;
  tc_get_tweet(c, id, &r);
  tc_assert_status(&r, 200);
  if (tc_json_int(&r, "like_count") != likes ||
      tc_json_int(&r, "reply_count") != replies) {
    print_error("tweet %s: expected like_count %lld reply_count %lld; got "
                "%s\n",
                id, (long long)likes, (long long)replies, r.body);
  }
  assert_int_equal(tc_json_int(&r, "like_count"), likes);
  assert_int_equal(tc_json_int(&r, "reply_count"), replies);
  assert_int_equal(tc_json_bool(&r, "liked_by_me"), liked_by_me);
  tc_response_free(&r);
}

/* name's tweet_count as c sees it. */
static int64_t tweet_count_of(tc_client_t *c, const char *name) {
  return tc_profile_int(c, name, "tweet_count");
}

static void test_get_tweet_on_both_servers(void **state) {
  (void)state;
  char name[31], id[25];
  tc_client_t *c = tc_new_user(tc_url_a(), "get", name);
  tc_post_tweet(c, "fetch me \xe2\x9c\x93", id);
  tc_client_t *viewers[] = {c, tc_client_new(tc_url_b()),
                            tc_client_new(tc_url_a()),
                            tc_same_user_on(c, tc_url_b())};
  for (int i = 0; i < 4; i++) {
    tc_response_t r;
    tc_get_tweet(viewers[i], id, &r);
    tc_assert_status(&r, 200);
    assert_string_equal(tc_json_str(&r, "id"), id);
    assert_string_equal(tc_json_str(&r, "author.username"), name);
    assert_string_equal(tc_json_str(&r, "author.display_name"), name);
    assert_string_equal(tc_json_str(&r, "text"), "fetch me \xe2\x9c\x93");
    assert_true(tc_is_rfc3339(tc_json_str(&r, "created_at")));
    assert_true(tc_json_is_null(&r, "edited_at"));
    assert_true(tc_json_is_null(&r, "reply_to"));
    assert_int_equal(tc_json_int(&r, "reply_count"), 0);
    assert_int_equal(tc_json_int(&r, "like_count"), 0);
    assert_false(tc_json_bool(&r, "liked_by_me"));
    assert_false(tc_json_has(&r, "author_id"));
    assert_false(tc_json_has(&r, "_txn"));
    tc_response_free(&r);
  }
  /* A new tweet carries the new fields from the start. */
  tc_response_t r;
  tc_send(c, "POST", "/api/tweet", "{\"text\":\"fresh\"}", &r);
  tc_assert_status(&r, 201);
  assert_true(tc_json_is_null(&r, "reply_to"));
  assert_int_equal(tc_json_int(&r, "reply_count"), 0);
  assert_int_equal(tc_json_int(&r, "like_count"), 0);
  assert_false(tc_json_bool(&r, "liked_by_me"));
  tc_response_free(&r);
  for (int i = 1; i < 4; i++) {
    tc_client_destroy(viewers[i]);
  }
  tc_client_destroy(c);
}

static void test_unknown_tweet_is_404_everywhere(void **state) {
  (void)state;
  char name[31];
  tc_client_t *c = tc_new_user(tc_url_b(), "t404", name);
  for (size_t i = 0; i < N_BAD_IDS; i++) {
    char path[256];
    tc_expect_error(c, "GET", tc_path("/api/tweet/%s", BAD_IDS[i]), NULL, 404,
                    "tweet_not_found");
    tc_expect_error(c, "DELETE", tc_path("/api/tweet/%s", BAD_IDS[i]), NULL,
                    404, "tweet_not_found");
    snprintf(path, sizeof path, "/api/tweet/%s/replies", BAD_IDS[i]);
    tc_expect_error(c, "GET", path, NULL, 404, "tweet_not_found");
    tc_expect_error(c, "POST", tc_path("/api/tweet/%s/like", BAD_IDS[i]), "",
                    404, "tweet_not_found");
    tc_expect_error(c, "DELETE", tc_path("/api/tweet/%s/like", BAD_IDS[i]),
                    NULL, 404, "tweet_not_found");
  }
  tc_client_destroy(c);
}

static void test_delete_by_author(void **state) {
  (void)state;
  char name[31], fan[31], keep[25], gone[25], path[256];
  tc_client_t *c = tc_new_user(tc_url_a(), "del", name);
  tc_client_t *f = tc_new_user(tc_url_b(), "delfan", fan);
  snprintf(path, sizeof path, "/api/users/%s/follow", name);
  tc_response_t r;
  tc_expect_status(f, "POST", path, "", 200);
  tc_post_tweet(c, "stays", keep);
  tc_post_tweet(c, "goes away", gone);
  assert_int_equal(tweet_count_of(f, name), 2);
  assert_true(tc_list_has(f, "/api/feed?limit=200", gone));

  tc_client_t *c_b = tc_same_user_on(c, tc_url_b());
  tc_delete_tweet(c_b, gone, &r);
  tc_assert_status(&r, 200);
  assert_true(tc_json_bool(&r, "ok"));
  tc_response_free(&r);

  tc_client_t *anon_a = tc_client_new(tc_url_a());
  tc_client_t *anon_b = tc_client_new(tc_url_b());
  tc_expect_error(anon_a, "GET", tc_path("/api/tweet/%s", gone), NULL, 404,
                  "tweet_not_found");
  tc_expect_error(anon_b, "GET", tc_path("/api/tweet/%s", gone), NULL, 404,
                  "tweet_not_found");
  tc_expect_status(anon_a, "GET", tc_path("/api/tweet/%s", keep), NULL, 200);
  assert_false(tc_list_has(anon_a, "/api/tweet?limit=200", gone));
  assert_true(tc_list_has(anon_a, "/api/tweet?limit=200", keep));
  snprintf(path, sizeof path, "/api/users/%s/tweets", name);
  assert_false(tc_list_has(anon_b, path, gone));
  assert_true(tc_list_has(anon_b, path, keep));
  assert_false(tc_list_has(f, "/api/feed?limit=200", gone));
  assert_true(tc_list_has(f, "/api/feed?limit=200", keep));
  assert_int_equal(tweet_count_of(anon_a, name), 1);
  assert_int_equal(tweet_count_of(anon_b, name), 1);

  /* Gone for good: a second delete, an edit, a like are 404. */
  tc_expect_error(c, "DELETE", tc_path("/api/tweet/%s", gone), NULL, 404,
                  "tweet_not_found");
  snprintf(path, sizeof path, "/api/tweet/%s", gone);
  tc_expect_error(c, "PUT", path, "{\"text\":\"back?\"}", 404,
                  "tweet_not_found");
  tc_expect_error(f, "POST", tc_path("/api/tweet/%s/like", gone), "", 404,
                  "tweet_not_found");
  assert_int_equal(tweet_count_of(anon_a, name), 1);

  tc_expect_status(c, "DELETE", tc_path("/api/tweet/%s", keep), NULL, 200);
  assert_int_equal(tweet_count_of(anon_b, name), 0);
  tc_client_destroy(anon_b);
  tc_client_destroy(anon_a);
  tc_client_destroy(c_b);
  tc_client_destroy(f);
  tc_client_destroy(c);
}

/* A tweet reposted by more accounts than its deletion's transaction has
 * room for: the deletion takes what fits, the rest follow in
 * transactions of their own; none is left, and nobody's feed shows it. */
static void test_delete_of_a_much_reposted_tweet(void **state) {
  (void)state;
  enum { FANS = 40 };
  char name[31], fan[31], id[25];
  tc_client_t *c = tc_new_user(tc_url_a(), "pop", name);
  tc_post_tweet(c, "everyone reposts this", id);
  tc_client_t *last = NULL;
  for (int i = 0; i < FANS; i++) {
    tc_client_t *f = tc_new_user(i % 2 ? tc_url_a() : tc_url_b(), "rp", fan);
    tc_response_t r;
    tc_send(f, "POST", tc_path("/api/tweet/%s/repost", id), "", &r);
    tc_assert_status(&r, 200);
    tc_response_free(&r);
    if (last) {
      tc_client_destroy(last);
    }
    last = f;
  }
  assert_int_equal(tc_tweet_int(c, id, "repost_count"), FANS);
  tc_response_t r;
  tc_delete_tweet(c, id, &r);
  tc_assert_status(&r, 200);
  tc_response_free(&r);
  assert_false(tc_list_has(last, "/api/feed?limit=200", id));
  tc_db_t db;
  tc_db_open(&db, NULL, tc_env("CHORUS_TEST_DB"));
  bson_oid_t oid;
  bson_oid_init_from_string(&oid, id);
  bson_t filter = BSON_INITIALIZER;
  BSON_APPEND_OID(&filter, "tweet_id", &oid);
  assert_int_equal(tc_db_count(&db, "reposts", &filter), 0);
  bson_destroy(&filter);
  tc_db_close(&db);
  tc_client_destroy(last);
  tc_client_destroy(c);
}

static void test_delete_by_others_is_refused(void **state) {
  (void)state;
  char name[31], other[31], id[25];
  tc_client_t *c = tc_new_user(tc_url_a(), "delown", name);
  tc_client_t *o = tc_new_user(tc_url_b(), "delintr", other);
  tc_client_t *anon = tc_client_new(tc_url_a());
  tc_post_tweet(c, "not yours", id);
  tc_response_t r;
  tc_expect_error(o, "DELETE", tc_path("/api/tweet/%s", id), NULL, 403,
                  "forbidden");
  tc_expect_error(anon, "DELETE", tc_path("/api/tweet/%s", id), NULL, 401,
                  "not_logged_in");
  tc_get_tweet(anon, id, &r);
  tc_assert_status(&r, 200);
  assert_string_equal(tc_json_str(&r, "text"), "not yours");
  tc_response_free(&r);
  assert_int_equal(tweet_count_of(anon, name), 1);
  tc_client_destroy(anon);
  tc_client_destroy(o);
  tc_client_destroy(c);
}

static void test_replies_count_and_list_oldest_first(void **state) {
  (void)state;
  char a[31], b[31], c3[31], parent[25], rep[5][25], path[256];
  tc_client_t *ca = tc_new_user(tc_url_a(), "rep", a);
  tc_client_t *cb = tc_new_user(tc_url_b(), "repb", b);
  tc_client_t *cc = tc_new_user(tc_url_a(), "repc", c3);
  tc_post_tweet(ca, "the parent", parent);
  tc_post_reply(cb, "first reply", parent, rep[0]);
  tc_post_reply(cc, "second reply", parent, rep[1]);
  tc_post_reply(ca, "the author answers", parent, rep[2]);
  tc_post_reply(cb, "fourth", parent, rep[3]);
  tc_post_reply(cc, "fifth", parent, rep[4]);

  tc_client_t *anon = tc_client_new(tc_url_b());
  assert_tweet_counts(anon, parent, 0, 5, false);
  assert_tweet_counts(ca, parent, 0, 5, false);
  /* A reply is a tweet of its author (tweet_count counts it). */
  assert_int_equal(tweet_count_of(anon, b), 2);
  tc_response_t r;
  tc_get_tweet(anon, rep[1], &r);
  tc_assert_status(&r, 200);
  assert_string_equal(tc_json_str(&r, "reply_to"), parent);
  assert_string_equal(tc_json_str(&r, "author.username"), c3);
  tc_response_free(&r);

  snprintf(path, sizeof path, "/api/tweet/%s/replies", parent);
  tc_get_ok(anon, path, &r);
  assert_int_equal(tc_json_array_len(&r, "items"), 5);
  for (int i = 0; i < 5; i++) {
    assert_string_equal(tc_item_str(&r, i, "id"), rep[i]);
    assert_string_equal(tc_item_str(&r, i, "reply_to"), parent);
  }
  assert_true(tc_json_is_null(&r, "next"));
  tc_response_free(&r);

  /* Pages of 2, oldest first, while new replies arrive. */
  char seen[8][25];
  int n = 0;
  snprintf(path, sizeof path, "/api/tweet/%s/replies?limit=2", parent);
  for (int page = 0;; page++) {
    tc_get_ok(ca, path, &r);
    int len = tc_json_array_len(&r, "items");
    assert_true(len >= 0 && len <= 2);
    for (int i = 0; i < len; i++) {
      assert_true(n < 8);
      bson_strncpy(seen[n++], tc_item_str(&r, i, "id"), 25);
    }
    if (tc_json_is_null(&r, "next")) {
      tc_response_free(&r);
      break;
    }
    snprintf(path, sizeof path, "/api/tweet/%s/replies?limit=2&before=%s",
             parent, tc_json_str(&r, "next"));
    tc_response_free(&r);
    if (page == 0) {
      char late[25];
      tc_post_reply(cb, "late reply", parent, late);
    }
  }
  /* All five in order; the late one comes last if it is seen at all. */
  assert_true(n == 5 || n == 6);
  for (int i = 0; i < 5; i++) {
    assert_string_equal(seen[i], rep[i]);
  }
  assert_tweet_counts(anon, parent, 0, 6, false);

  snprintf(path, sizeof path, "/api/tweet/%s/replies", parent);
  tc_expect_paging_errors(anon, path, "nope");
  /* A tweet without replies has an empty list. */
  snprintf(path, sizeof path, "/api/tweet/%s/replies", rep[0]);
  tc_get_ok(anon, path, &r);
  assert_int_equal(tc_json_array_len(&r, "items"), 0);
  assert_true(tc_json_is_null(&r, "next"));
  tc_response_free(&r);
  tc_client_destroy(anon);
  tc_client_destroy(cc);
  tc_client_destroy(cb);
  tc_client_destroy(ca);
}

static void test_reply_to_missing_tweet_is_404(void **state) {
  (void)state;
  char name[31], deleted[25];
  tc_client_t *c = tc_new_user(tc_url_a(), "rep404", name);
  tc_post_tweet(c, "soon deleted", deleted);
  tc_response_t r;
  tc_expect_status(c, "DELETE", tc_path("/api/tweet/%s", deleted), NULL, 200);
  const char *targets[] = {deleted,
                           "000000000000000000000000",
                           "ffffffffffffffffffffffff",
                           "nothex",
                           "",
                           "6b012e4802a948e4df00a66",
                           "6b012e4802a948e4df00a6620",
                           "{\\\"$gt\\\":\\\"\\\"}"};
  for (size_t i = 0; i < sizeof targets / sizeof targets[0]; i++) {
    char body[256];
    snprintf(body, sizeof body,
             "{\"text\":\"reply to nothing\",\"reply_to\":\"%s\"}", targets[i]);
    tc_send(c, "POST", "/api/tweet", body, &r);
    if (r.status != 404) {
      print_error("POST /api/tweet %s\n", body);
    }
    tc_assert_error(&r, 404, "tweet_not_found");
    tc_response_free(&r);
  }
  /* No tweet was created by any of them. */
  assert_int_equal(tweet_count_of(c, name), 0);
  char path[256];
  snprintf(path, sizeof path, "/api/users/%s/tweets", name);
  tc_get_ok(c, path, &r);
  assert_int_equal(tc_json_array_len(&r, "items"), 0);
  tc_response_free(&r);
  tc_client_destroy(c);
}

static void test_reply_to_of_wrong_type_is_400(void **state) {
  (void)state;
  char name[31], parent[25];
  tc_client_t *c = tc_new_user(tc_url_a(), "reptype", name);
  tc_post_tweet(c, "parent", parent);
  char oid_ext[96];
  snprintf(oid_ext, sizeof oid_ext, "{\"$oid\":\"%s\"}", parent);
  const char *values[] = {"42",
                          "true",
                          "[\"x\"]",
                          "{\"$gt\":\"\"}",
                          "{\"$ne\":null}",
                          "{\"$exists\":true}",
                          oid_ext, /* extended JSON for the real id */
                          "{\"id\":\"x\"}",
                          "1.5e3"};
  for (size_t i = 0; i < sizeof values / sizeof values[0]; i++) {
    char body[256];
    snprintf(body, sizeof body, "{\"text\":\"typed\",\"reply_to\":%s}",
             values[i]);
    tc_response_t r;
    tc_send(c, "POST", "/api/tweet", body, &r);
    if (r.status != 400) {
      print_error("POST /api/tweet %s\n", body);
    }
    tc_assert_error(&r, 400, "invalid_type");
    tc_response_free(&r);
  }
  assert_tweet_counts(c, parent, 0, 0, false);
  assert_int_equal(tweet_count_of(c, name), 1);
  /* A reply without text is judged on its text. */
  char body[128];
  snprintf(body, sizeof body, "{\"reply_to\":\"%s\"}", parent);
  tc_expect_error(c, "POST", "/api/tweet", body, 400, "missing_field");
  snprintf(body, sizeof body, "{\"text\":\"  \",\"reply_to\":\"%s\"}", parent);
  tc_expect_error(c, "POST", "/api/tweet", body, 400, "empty");
  assert_tweet_counts(c, parent, 0, 0, false);
  tc_client_destroy(c);
}

static void test_deleting_a_reply_decrements_parent(void **state) {
  (void)state;
  char a[31], b[31], parent[25], r1[25], r2[25], path[256];
  tc_client_t *ca = tc_new_user(tc_url_a(), "drep", a);
  tc_client_t *cb = tc_new_user(tc_url_b(), "drepb", b);
  tc_post_tweet(ca, "parent", parent);
  tc_post_reply(cb, "one", parent, r1);
  tc_post_reply(cb, "two", parent, r2);
  assert_tweet_counts(ca, parent, 0, 2, false);
  tc_response_t r;
  tc_expect_status(cb, "DELETE", tc_path("/api/tweet/%s", r1), NULL, 200);
  assert_tweet_counts(ca, parent, 0, 1, false);
  snprintf(path, sizeof path, "/api/tweet/%s/replies", parent);
  tc_get_ok(ca, path, &r);
  assert_int_equal(tc_json_array_len(&r, "items"), 1);
  assert_string_equal(tc_json_str(&r, "items.0.id"), r2);
  tc_response_free(&r);
  /* The parent's author may not delete someone else's reply. */
  tc_expect_error(ca, "DELETE", tc_path("/api/tweet/%s", r2), NULL, 403,
                  "forbidden");
  tc_expect_status(cb, "DELETE", tc_path("/api/tweet/%s", r2), NULL, 200);
  assert_tweet_counts(ca, parent, 0, 0, false);
  assert_int_equal(tweet_count_of(ca, b), 0);
  tc_client_destroy(cb);
  tc_client_destroy(ca);
}

static void test_deleting_a_parent_keeps_its_replies(void **state) {
  (void)state;
  char a[31], b[31], parent[25], reply[25], nested[25], path[256];
  tc_client_t *ca = tc_new_user(tc_url_a(), "dpar", a);
  tc_client_t *cb = tc_new_user(tc_url_b(), "dparb", b);
  tc_post_tweet(ca, "parent to be deleted", parent);
  tc_post_reply(cb, "orphan to be", parent, reply);
  tc_post_reply(ca, "a reply to the reply", reply, nested);
  /* Only direct replies count. */
  assert_tweet_counts(cb, parent, 0, 1, false);
  assert_tweet_counts(cb, reply, 0, 1, false);
  tc_response_t r;
  tc_expect_status(ca, "DELETE", tc_path("/api/tweet/%s", parent), NULL, 200);

  tc_client_t *anon = tc_client_new(tc_url_a());
  tc_get_tweet(anon, reply, &r);
  tc_assert_status(&r, 200);
  assert_string_equal(tc_json_str(&r, "reply_to"), parent);
  assert_int_equal(tc_json_int(&r, "reply_count"), 1);
  tc_response_free(&r);
  tc_expect_error(anon, "GET", tc_path("/api/tweet/%s", parent), NULL, 404,
                  "tweet_not_found");
  snprintf(path, sizeof path, "/api/tweet/%s/replies", parent);
  tc_expect_error(anon, "GET", path, NULL, 404, "tweet_not_found");
  snprintf(path, sizeof path, "/api/users/%s/tweets", b);
  assert_true(tc_list_has(anon, path, reply));
  snprintf(path, sizeof path, "/api/tweet/%s/replies", reply);
  assert_true(tc_list_has(anon, path, nested));
  /* The orphan can still be liked, replied to and deleted. */
  tc_expect_status(ca, "POST", tc_path("/api/tweet/%s/like", reply), "", 200);
  char more[25];
  tc_post_reply(ca, "still works", reply, more);
  assert_tweet_counts(cb, reply, 1, 2, false);
  tc_expect_status(cb, "DELETE", tc_path("/api/tweet/%s", reply), NULL, 200);
  assert_int_equal(tweet_count_of(anon, b), 0);
  assert_int_equal(tweet_count_of(anon, a), 2);
  tc_client_destroy(anon);
  tc_client_destroy(cb);
  tc_client_destroy(ca);
}

static void test_like_and_unlike_per_viewer(void **state) {
  (void)state;
  char a[31], b[31], c3[31], id[25], path[256];
  tc_client_t *ca = tc_new_user(tc_url_a(), "like", a);
  tc_client_t *cb = tc_new_user(tc_url_a(), "likeb", b);
  tc_client_t *cc = tc_new_user(tc_url_b(), "likec", c3);
  tc_client_t *anon = tc_client_new(tc_url_b());
  tc_client_t *cb_on_b = tc_same_user_on(cb, tc_url_b());
  tc_post_tweet(ca, "like me", id);

  tc_response_t r;
  for (int i = 0; i < 3; i++) { /* idempotent, on either server */
    tc_send_like(i % 2 ? cb_on_b : cb, "POST", id, &r);
    tc_assert_status(&r, 200);
    assert_string_equal(tc_json_str(&r, "id"), id);
    assert_int_equal(tc_json_int(&r, "like_count"), 1);
    assert_true(tc_json_bool(&r, "liked_by_me"));
    tc_response_free(&r);
  }
  assert_tweet_counts(cb, id, 1, 0, true);
  assert_tweet_counts(cb_on_b, id, 1, 0, true);
  assert_tweet_counts(ca, id, 1, 0, false);
  assert_tweet_counts(cc, id, 1, 0, false);
  assert_tweet_counts(anon, id, 1, 0, false);

  tc_send_like(cc, "POST", id, &r);
  tc_assert_status(&r, 200);
  assert_int_equal(tc_json_int(&r, "like_count"), 2);
  assert_true(tc_json_bool(&r, "liked_by_me"));
  tc_response_free(&r);
  assert_tweet_counts(ca, id, 2, 0, false);

  /* Lists show liked_by_me for their viewer too. */
  snprintf(path, sizeof path, "/api/users/%s/tweets", a);
  tc_get_ok(cb_on_b, path, &r);
  assert_string_equal(tc_json_str(&r, "items.0.id"), id);
  assert_int_equal(tc_json_int(&r, "items.0.like_count"), 2);
  assert_true(tc_json_bool(&r, "items.0.liked_by_me"));
  tc_response_free(&r);
  tc_get_ok(ca, path, &r);
  assert_false(tc_json_bool(&r, "items.0.liked_by_me"));
  tc_response_free(&r);
  tc_get_ok(anon, path, &r);
  assert_false(tc_json_bool(&r, "items.0.liked_by_me"));
  tc_response_free(&r);

  /* Someone who never liked it unliking changes nothing. */
  tc_send_like(ca, "DELETE", id, &r);
  tc_assert_status(&r, 200);
  assert_int_equal(tc_json_int(&r, "like_count"), 2);
  assert_false(tc_json_bool(&r, "liked_by_me"));
  tc_response_free(&r);

  for (int i = 0; i < 3; i++) {
    tc_send_like(i % 2 ? cb : cb_on_b, "DELETE", id, &r);
    tc_assert_status(&r, 200);
    assert_int_equal(tc_json_int(&r, "like_count"), 1);
    assert_false(tc_json_bool(&r, "liked_by_me"));
    tc_response_free(&r);
  }
  assert_tweet_counts(cb, id, 1, 0, false);
  assert_tweet_counts(cc, id, 1, 0, true);
  tc_expect_status(cc, "DELETE", tc_path("/api/tweet/%s/like", id), NULL, 200);
  assert_tweet_counts(anon, id, 0, 0, false);
  /* Like again after unlike. */
  tc_expect_status(cb, "POST", tc_path("/api/tweet/%s/like", id), "", 200);
  assert_tweet_counts(cb_on_b, id, 1, 0, true);
  tc_client_destroy(cb_on_b);
  tc_client_destroy(anon);
  tc_client_destroy(cc);
  tc_client_destroy(cb);
  tc_client_destroy(ca);
}

static void test_liking_own_tweet_is_allowed(void **state) {
  (void)state;
  char a[31], id[25];
  tc_client_t *ca = tc_new_user(tc_url_a(), "selflike", a);
  tc_post_tweet(ca, "I like this", id);
  tc_response_t r;
  tc_send_like(ca, "POST", id, &r);
  tc_assert_status(&r, 200);
  assert_int_equal(tc_json_int(&r, "like_count"), 1);
  assert_true(tc_json_bool(&r, "liked_by_me"));
  tc_response_free(&r);
  tc_client_t *anon = tc_client_new(tc_url_b());
  assert_tweet_counts(anon, id, 1, 0, false);
  tc_client_destroy(anon);
  tc_client_destroy(ca);
}

static void test_likes_and_deletes_require_login(void **state) {
  (void)state;
  char a[31], id[25];
  tc_client_t *ca = tc_new_user(tc_url_a(), "likeanon", a);
  tc_post_tweet(ca, "try me", id);
  tc_client_t *anon = tc_client_new(tc_url_b());
  tc_expect_error(anon, "POST", tc_path("/api/tweet/%s/like", id), "", 401,
                  "not_logged_in");
  tc_expect_error(anon, "DELETE", tc_path("/api/tweet/%s/like", id), NULL, 401,
                  "not_logged_in");
  char body[128];
  snprintf(body, sizeof body, "{\"text\":\"anon reply\",\"reply_to\":\"%s\"}",
           id);
  tc_expect_error(anon, "POST", "/api/tweet", body, 401, "not_logged_in");
  assert_tweet_counts(ca, id, 0, 0, false);
  tc_client_destroy(anon);
  tc_client_destroy(ca);
}

static void test_concurrent_likes_count_exactly(void **state) {
  (void)state;
  enum { N = 8 };
  char a[31], id[25], like_path[96], tokens[N][128];
  tc_client_t *ca = tc_new_user(tc_url_a(), "clike", a);
  tc_post_tweet(ca, "popular", id);
  snprintf(like_path, sizeof like_path, "/api/tweet/%s/like", id);
  /* The same user liking on both servers at once: one like. */
  tc_session_token(ca, tokens[0], sizeof tokens[0]);
  tc_racer_t likers[N];
  for (int i = 0; i < N; i++) {
    likers[i] = (tc_racer_t){.base = i % 2 ? tc_url_b() : tc_url_a(),
                             .token = tokens[0],
                             .method = "POST",
                             .path = like_path,
                             .body = ""};
  }
  tc_race_expect(likers, N, "one user liking one tweet 8 times at once");
  assert_tweet_counts(ca, id, 1, 0, true);

  /* N different users at once: one like each that succeeded. */
  for (int i = 0; i < N; i++) {
    char name[31];
    tc_new_session(likers[i].base, "clikefan", name, tokens[i],
                   sizeof tokens[i]);
    likers[i].token = tokens[i];
  }
  tc_race_expect(likers, N, "8 users liking one tweet at once");
  bool liked[N];
  int64_t want = 1;
  for (int i = 0; i < N; i++) {
    liked[i] = likers[i].status == 200;
    want += liked[i];
  }
  assert_tweet_counts(ca, id, want, 0, true);
  for (int i = 0; i < N; i++) {
    likers[i].method = "DELETE";
    likers[i].body = NULL;
  }
  tc_race_expect(likers, N, "8 users unliking one tweet at once");
  want = 1;
  for (int i = 0; i < N; i++) {
    want += liked[i] && likers[i].status != 200;
  }
  assert_tweet_counts(ca, id, want, 0, true);
  /* Each liker sees their own state. */
  for (int i = 0; i < N; i++) {
    tc_client_t *u = tc_client_with_session(likers[i].base, tokens[i]);
    assert_tweet_counts(u, id, want, 0, liked[i] && likers[i].status != 200);
    tc_client_destroy(u);
  }
  tc_client_destroy(ca);
}

static void test_concurrent_replies_count_exactly(void **state) {
  (void)state;
  enum { N = 8 };
  char a[31], id[25], body[128], tokens[N][128];
  tc_client_t *ca = tc_new_user(tc_url_a(), "crep", a);
  tc_post_tweet(ca, "discuss", id);
  snprintf(body, sizeof body, "{\"text\":\"me too\",\"reply_to\":\"%s\"}", id);
  tc_racer_t repliers[N];
  for (int i = 0; i < N; i++) {
    char name[31];
    const char *base = i % 2 ? tc_url_b() : tc_url_a();
    tc_new_session(base, "crepfan", name, tokens[i], sizeof tokens[i]);
    repliers[i] = (tc_racer_t){.base = base,
                               .token = tokens[i],
                               .method = "POST",
                               .path = "/api/tweet",
                               .body = body,
                               .want = 201};
  }
  int made = tc_race_expect(repliers, N, "8 replies to one tweet at once");
  assert_tweet_counts(ca, id, 0, made, false);
  char path[128];
  snprintf(path, sizeof path, "/api/tweet/%s/replies?limit=200", id);
  tc_response_t r;
  tc_get_ok(ca, path, &r);
  assert_int_equal(tc_json_array_len(&r, "items"), made);
  tc_response_free(&r);
  tc_client_destroy(ca);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_get_tweet_on_both_servers),
      cmocka_unit_test(test_unknown_tweet_is_404_everywhere),
      cmocka_unit_test(test_delete_by_author),
      cmocka_unit_test(test_delete_of_a_much_reposted_tweet),
      cmocka_unit_test(test_delete_by_others_is_refused),
      cmocka_unit_test(test_replies_count_and_list_oldest_first),
      cmocka_unit_test(test_reply_to_missing_tweet_is_404),
      cmocka_unit_test(test_reply_to_of_wrong_type_is_400),
      cmocka_unit_test(test_deleting_a_reply_decrements_parent),
      cmocka_unit_test(test_deleting_a_parent_keeps_its_replies),
      cmocka_unit_test(test_like_and_unlike_per_viewer),
      cmocka_unit_test(test_liking_own_tweet_is_allowed),
      cmocka_unit_test(test_likes_and_deletes_require_login),
      cmocka_unit_test(test_concurrent_likes_count_exactly),
      cmocka_unit_test(test_concurrent_replies_count_exactly),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
