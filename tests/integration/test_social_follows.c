/*
 * test_social_follows.c - following (docs/API.md, "Profiles and follows"):
 *   POST/DELETE /api/users/<username>/follow   200 profile, idempotent
 *   GET /api/users/<username>/followers        most recent follow first
 *   GET /api/users/<username>/following        most recent follow first
 *   GET /api/suggestions                       people to follow
 * Counts on both profiles and both servers, self-follow, unknown users,
 * login, list order and pagination, and races of the same follow on both
 * servers at once.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/client/harness.h"
#include "tests/client/testclient.h"

/* Asserts the counts (and followed_by_me as seen by c) of name's profile. */
static void assert_counts(tc_client_t *c, const char *name, int64_t followers,
                          int64_t following, bool followed_by_me) {
  tc_response_t r;
  tc_get_profile(c, name, &r);
  tc_assert_status(&r, 200);
  if (tc_json_int(&r, "followers_count") != followers ||
      tc_json_int(&r, "following_count") != following) {
    print_error("%s: expected followers %lld following %lld; got %s\n", name,
                (long long)followers, (long long)following, r.body);
  }
  assert_int_equal(tc_json_int(&r, "followers_count"), followers);
  assert_int_equal(tc_json_int(&r, "following_count"), following);
  assert_int_equal(tc_json_bool(&r, "followed_by_me"), followed_by_me);
  tc_response_free(&r);
}

/* GET path and checks that its items' usernames are exactly names[0..n). */
static void assert_list(tc_client_t *c, const char *path,
                        const char *const *names, int n) {
  tc_assert_list(c, path, "username", names, n);
}

static void test_follow_and_unfollow_update_both_profiles(void **state) {
  (void)state;
  char fan[31], star[31];
  tc_client_t *f = tc_new_user(tc_url_a(), "fol", fan);
  tc_client_t *s = tc_new_user(tc_url_b(), "folstar", star);
  tc_client_t *f_b = tc_same_user_on(f, tc_url_b());
  tc_client_t *anon = tc_client_new(tc_url_b());

  tc_response_t r;
  tc_send_follow(f, "POST", star, &r);
  tc_assert_status(&r, 200);
  /* The answer is the followed user's profile. */
  assert_string_equal(tc_json_str(&r, "username"), star);
  assert_string_equal(tc_json_str(&r, "display_name"), star);
  assert_true(tc_json_has(&r, "bio"));
  assert_true(tc_is_rfc3339(tc_json_str(&r, "created_at")));
  assert_int_equal(tc_json_int(&r, "followers_count"), 1);
  assert_int_equal(tc_json_int(&r, "following_count"), 0);
  assert_int_equal(tc_json_int(&r, "tweet_count"), 0);
  assert_true(tc_json_bool(&r, "followed_by_me"));
  tc_response_free(&r);

  assert_counts(f_b, star, 1, 0, true);
  assert_counts(anon, star, 1, 0, false);
  assert_counts(s, star, 1, 0, false);
  assert_counts(anon, fan, 0, 1, false);
  assert_counts(s, fan, 0, 1, false); /* follows are one-way */

  /* Unfollow on the other server. */
  tc_send_follow(f_b, "DELETE", star, &r);
  tc_assert_status(&r, 200);
  assert_string_equal(tc_json_str(&r, "username"), star);
  assert_int_equal(tc_json_int(&r, "followers_count"), 0);
  assert_false(tc_json_bool(&r, "followed_by_me"));
  tc_response_free(&r);
  assert_counts(f, star, 0, 0, false);
  assert_counts(anon, fan, 0, 0, false);
  tc_client_destroy(anon);
  tc_client_destroy(f_b);
  tc_client_destroy(s);
  tc_client_destroy(f);
}

static void test_follow_and_unfollow_are_idempotent(void **state) {
  (void)state;
  char fan[31], star[31];
  tc_client_t *f = tc_new_user(tc_url_a(), "idem", fan);
  tc_client_t *s = tc_new_user(tc_url_a(), "idemstar", star);
  tc_client_t *f_b = tc_same_user_on(f, tc_url_b());
  tc_response_t r;

  /* Unfollowing someone never followed changes nothing. */
  tc_send_follow(f, "DELETE", star, &r);
  tc_assert_status(&r, 200);
  assert_int_equal(tc_json_int(&r, "followers_count"), 0);
  assert_false(tc_json_bool(&r, "followed_by_me"));
  tc_response_free(&r);
  assert_counts(s, fan, 0, 0, false);

  for (int i = 0; i < 3; i++) {
    tc_send_follow(i % 2 ? f_b : f, "POST", star, &r);
    tc_assert_status(&r, 200);
    assert_int_equal(tc_json_int(&r, "followers_count"), 1);
    assert_true(tc_json_bool(&r, "followed_by_me"));
    tc_response_free(&r);
  }
  assert_counts(f, star, 1, 0, true);
  assert_counts(s, fan, 0, 1, false);

  for (int i = 0; i < 3; i++) {
    tc_send_follow(i % 2 ? f : f_b, "DELETE", star, &r);
    tc_assert_status(&r, 200);
    assert_int_equal(tc_json_int(&r, "followers_count"), 0);
    assert_false(tc_json_bool(&r, "followed_by_me"));
    tc_response_free(&r);
  }
  assert_counts(f, star, 0, 0, false);
  assert_counts(s, fan, 0, 0, false);

  /* And again: follow works after unfollow. */
  tc_follow(f_b, star);
  assert_counts(f, star, 1, 0, true);
  assert_counts(s, fan, 0, 1, false);
  tc_client_destroy(f_b);
  tc_client_destroy(s);
  tc_client_destroy(f);
}

static void test_cannot_follow_self(void **state) {
  (void)state;
  char me[31], up[31];
  tc_client_t *c = tc_new_user(tc_url_a(), "selfie", me);
  tc_upper(me, up);
  tc_client_t *c_b = tc_same_user_on(c, tc_url_b());
  tc_expect_error(c, "POST", tc_path("/api/users/%s/follow", me), "", 400,
                  "cannot_follow_self");
  tc_expect_error(c_b, "POST", tc_path("/api/users/%s/follow", up), "", 400,
                  "cannot_follow_self"); /* the same account in another case */
  assert_counts(c, me, 0, 0, false);
  char path[256];
  snprintf(path, sizeof path, "/api/users/%s/followers", me);
  assert_list(c, path, NULL, 0);
  tc_client_destroy(c_b);
  tc_client_destroy(c);
}

static void test_follow_unknown_user_is_404(void **state) {
  (void)state;
  char me[31], nobody[31];
  tc_client_t *c = tc_new_user(tc_url_a(), "f404", me);
  tc_unique_name("nobody", nobody);
  const char *names[] = {nobody, "ab", "%7B%22%24gt%22%3A%22%22%7D", ".%2A"};
  for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
    tc_expect_error(c, "POST", tc_path("/api/users/%s/follow", names[i]), "",
                    404, "user_not_found");
    tc_expect_error(c, "DELETE", tc_path("/api/users/%s/follow", names[i]),
                    NULL, 404, "user_not_found");
    char path[256];
    snprintf(path, sizeof path, "/api/users/%s/followers", names[i]);
    tc_expect_error(c, "GET", path, NULL, 404, "user_not_found");
    snprintf(path, sizeof path, "/api/users/%s/following", names[i]);
    tc_expect_error(c, "GET", path, NULL, 404, "user_not_found");
  }
  assert_counts(c, me, 0, 0, false);
  tc_client_destroy(c);
}

static void test_follow_requires_login(void **state) {
  (void)state;
  char star[31];
  tc_client_t *s = tc_new_user(tc_url_a(), "anonf", star);
  tc_client_t *anon = tc_client_new(tc_url_b());
  tc_expect_error(anon, "POST", tc_path("/api/users/%s/follow", star), "", 401,
                  "not_logged_in");
  tc_expect_error(anon, "DELETE", tc_path("/api/users/%s/follow", star), NULL,
                  401, "not_logged_in");
  tc_set_cookie(anon, "chorus_session", "not-a-real-session-token");
  tc_expect_error(anon, "POST", tc_path("/api/users/%s/follow", star), "", 401,
                  "not_logged_in");
  assert_counts(s, star, 0, 0, false);
  /* The lists are public. */
  tc_client_t *anon2 = tc_client_new(tc_url_a());
  char path[256];
  snprintf(path, sizeof path, "/api/users/%s/followers", star);
  assert_list(anon2, path, NULL, 0);
  snprintf(path, sizeof path, "/api/users/%s/following", star);
  assert_list(anon2, path, NULL, 0);
  tc_client_destroy(anon2);
  tc_client_destroy(anon);
  tc_client_destroy(s);
}

static void test_followers_most_recent_first(void **state) {
  (void)state;
  char star[31], fans[4][31], path[256];
  tc_client_t *s = tc_new_user(tc_url_a(), "lst", star);
  tc_client_t *f[4];
  for (int i = 0; i < 4; i++) {
    f[i] = tc_new_user(i % 2 ? tc_url_b() : tc_url_a(), "lstfan", fans[i]);
  }
  tc_response_t r;
  tc_expect_error(f[0], "PATCH", tc_path("/api/users/%s/follow", star), NULL,
                  405, "method_not_allowed"); /* not a method of this route */
  /* A display name and bio, to see the summaries carry them. */
  tc_send(f[1], "PATCH", "/api/me",
          "{\"display_name\":\"Fan One\",\"bio\":\"hello\"}", &r);
  tc_assert_status(&r, 200);
  tc_response_free(&r);
  for (int i = 0; i < 3; i++) {
    tc_follow(f[i], star);
  }
  snprintf(path, sizeof path, "/api/users/%s/followers", star);
  const char *order1[] = {fans[2], fans[1], fans[0]};
  assert_list(s, path, order1, 3);

  /* Items are user summaries. */
  tc_client_t *anon = tc_client_new(tc_url_b());
  tc_get_ok(anon, path, &r);
  assert_string_equal(tc_json_str(&r, "items.1.username"), fans[1]);
  assert_string_equal(tc_json_str(&r, "items.1.display_name"), "Fan One");
  assert_string_equal(tc_json_str(&r, "items.1.bio"), "hello");
  assert_string_equal(tc_json_str(&r, "items.0.bio"), "");
  assert_false(tc_json_has(&r, "items.0.password_hash"));
  assert_false(tc_json_has(&r, "items.0._id"));
  assert_true(tc_json_is_null(&r, "next"));
  tc_response_free(&r);

  /* Pages of 2. */
  snprintf(path, sizeof path, "/api/users/%s/followers?limit=2", star);
  tc_get_ok(anon, path, &r);
  assert_int_equal(tc_json_array_len(&r, "items"), 2);
  assert_string_equal(tc_json_str(&r, "items.0.username"), fans[2]);
  assert_string_equal(tc_json_str(&r, "items.1.username"), fans[1]);
  assert_non_null(tc_json_str(&r, "next"));
  char next[128];
  bson_strncpy(next, tc_json_str(&r, "next"), sizeof next);
  tc_response_free(&r);
  /* A new follower between the pages does not shift the second page. */
  tc_follow(f[3], star);
  snprintf(path, sizeof path, "/api/users/%s/followers?limit=2&before=%s", star,
           next);
  tc_get_ok(anon, path, &r);
  assert_int_equal(tc_json_array_len(&r, "items"), 1);
  assert_string_equal(tc_json_str(&r, "items.0.username"), fans[0]);
  assert_true(tc_json_is_null(&r, "next"));
  tc_response_free(&r);

  /* Unfollow removes; following again puts it first. */
  tc_unfollow(f[1], star);
  snprintf(path, sizeof path, "/api/users/%s/followers", star);
  const char *order2[] = {fans[3], fans[2], fans[0]};
  assert_list(anon, path, order2, 3);
  tc_follow(f[1], star);
  const char *order3[] = {fans[1], fans[3], fans[2], fans[0]};
  assert_list(anon, path, order3, 4);
  assert_counts(anon, star, 4, 0, false);

  snprintf(path, sizeof path, "/api/users/%s/followers", star);
  tc_expect_paging_errors(anon, path, "%21%21");
  snprintf(path, sizeof path, "/api/users/%s/followers?limit=201", star);
  tc_expect_error(anon, "GET", path, NULL, 400, "invalid_limit");
  tc_client_destroy(anon);
  for (int i = 0; i < 4; i++) {
    tc_client_destroy(f[i]);
  }
  tc_client_destroy(s);
}

static void test_following_most_recent_first(void **state) {
  (void)state;
  char fan[31], stars[3][31], path[256];
  tc_client_t *f = tc_new_user(tc_url_a(), "fing", fan);
  tc_client_t *s[3];
  for (int i = 0; i < 3; i++) {
    s[i] = tc_new_user(tc_url_b(), "fingstar", stars[i]);
  }
  tc_client_t *f_b = tc_same_user_on(f, tc_url_b());
  tc_follow(f, stars[0]);
  tc_follow(f_b, stars[1]);
  tc_follow(f, stars[2]);
  snprintf(path, sizeof path, "/api/users/%s/following", fan);
  const char *order1[] = {stars[2], stars[1], stars[0]};
  assert_list(f, path, order1, 3);
  assert_counts(s[0], fan, 0, 3, false);

  /* Summaries show the current display name. */
  tc_response_t r;
  tc_send(s[0], "PATCH", "/api/me", "{\"display_name\":\"Renamed Star\"}", &r);
  tc_assert_status(&r, 200);
  tc_response_free(&r);
  tc_get_ok(f_b, path, &r);
  assert_string_equal(tc_json_str(&r, "items.2.display_name"), "Renamed Star");
  tc_response_free(&r);

  snprintf(path, sizeof path, "/api/users/%s/following?limit=1", fan);
  char seen[3][31];
  int n = 0;
  for (;;) {
    tc_get_ok(f, path, &r);
    assert_int_equal(tc_json_array_len(&r, "items"), 1);
    assert_true(n < 3);
    bson_strncpy(seen[n++], tc_json_str(&r, "items.0.username"), 31);
    if (tc_json_is_null(&r, "next")) {
      tc_response_free(&r);
      break;
    }
    snprintf(path, sizeof path, "/api/users/%s/following?limit=1&before=%s",
             fan, tc_json_str(&r, "next"));
    tc_response_free(&r);
  }
  assert_int_equal(n, 3);
  for (int i = 0; i < 3; i++) {
    assert_string_equal(seen[i], order1[i]);
  }

  tc_unfollow(f, stars[1]);
  snprintf(path, sizeof path, "/api/users/%s/following", fan);
  const char *order2[] = {stars[2], stars[0]};
  assert_list(f, path, order2, 2);
  assert_counts(s[1], fan, 0, 2, false);
  assert_counts(f, stars[1], 0, 0, false);
  tc_client_destroy(f_b);
  for (int i = 0; i < 3; i++) {
    tc_client_destroy(s[i]);
  }
  tc_client_destroy(f);
}

static void test_repeated_follow_keeps_its_place(void **state) {
  (void)state;
  char star[31], a[31], b[31], path[256];
  tc_client_t *s = tc_new_user(tc_url_a(), "keep", star);
  tc_client_t *fa = tc_new_user(tc_url_a(), "keepa", a);
  tc_client_t *fb = tc_new_user(tc_url_b(), "keepb", b);
  tc_follow(fa, star);
  tc_follow(fb, star);
  tc_follow(fa, star); /* idempotent: not a new follow */
  snprintf(path, sizeof path, "/api/users/%s/followers", star);
  const char *order[] = {b, a};
  assert_list(s, path, order, 2);
  assert_counts(s, star, 2, 0, false);
  tc_client_destroy(fb);
  tc_client_destroy(fa);
  tc_client_destroy(s);
}

/* racers[0..n): each POSTs path (a follow) with session tokens[i % n_tokens],
 * on A and on B in turn. */
static void follow_racers(tc_racer_t *racers, int n, char (*tokens)[128],
                          int n_tokens, const char *path) {
  for (int i = 0; i < n; i++) {
    racers[i] = (tc_racer_t){.base = i % 2 ? tc_url_b() : tc_url_a(),
                             .token = tokens[i % n_tokens],
                             .method = "POST",
                             .path = path,
                             .body = ""};
  }
}

/* Makes racer a follow (POST) or an unfollow (DELETE). */
static void racer_follows(tc_racer_t *racer, bool follow) {
  racer->method = follow ? "POST" : "DELETE";
  racer->body = follow ? "" : NULL;
}

/* The stored followers_count of user id, read from the database. */
static int64_t stored_followers(tc_db_t *db, const bson_oid_t *id) {
  mongoc_collection_t *users = mongoc_database_get_collection(db->db, "users");
  bson_t *by_id = BCON_NEW("_id", BCON_OID(id));
  mongoc_cursor_t *cur =
      mongoc_collection_find_with_opts(users, by_id, NULL, NULL);
  const bson_t *doc;
  int64_t n = -1;
  bson_iter_t it;
  if (mongoc_cursor_next(cur, &doc) &&
      bson_iter_init_find(&it, doc, "followers_count")) {
    n = bson_iter_as_int64(&it);
  }
  mongoc_cursor_destroy(cur);
  bson_destroy(by_id);
  mongoc_collection_destroy(users);
  return n;
}

static void test_same_follow_raced_on_both_servers_counts_once(void **state) {
  (void)state;
  enum { N = 8 };
  for (int round = 0; round < 3; round++) {
    char fan[31], star[31], token[1][128], follow_path[96];
    tc_client_t *f = tc_new_user(tc_url_a(), "race", fan);
    tc_client_t *s = tc_new_user(tc_url_b(), "racestar", star);
    tc_session_token(f, token[0], sizeof token[0]);
    snprintf(follow_path, sizeof follow_path, "/api/users/%s/follow", star);
    tc_racer_t racers[N];
    follow_racers(racers, N, token, 1, follow_path);
    tc_race_expect(racers, N, "one user following one user 8 times at once");
    assert_counts(f, star, 1, 0, true);
    assert_counts(s, fan, 0, 1, false);

    /* Mixed follows and unfollows: whatever wins, counts match the state. */
    for (int i = 0; i < N; i++) {
      racer_follows(&racers[i], i % 3 == 0);
    }
    tc_race_expect(racers, N, "follows and unfollows of one pair at once");
    tc_response_t r;
    tc_get_profile(f, star, &r);
    tc_assert_status(&r, 200);
    bool following = tc_json_bool(&r, "followed_by_me");
    tc_response_free(&r);
    assert_counts(f, star, following ? 1 : 0, 0, following);
    assert_counts(s, fan, 0, following ? 1 : 0, false);
    char path[256];
    snprintf(path, sizeof path, "/api/users/%s/followers", star);
    const char *list[] = {fan};
    assert_list(s, path, list, following ? 1 : 0);
    tc_client_destroy(s);
    tc_client_destroy(f);
  }
}

/* Checks star's followers (API list and count, follow documents) are
 * exactly the fans with expected[i]. */
static void assert_followers_are(tc_client_t *c, tc_db_t *db,
                                 const bson_oid_t *star_id, const char *star,
                                 char (*fans)[31], const bool *expected,
                                 int n) {
  int want = 0;
  for (int i = 0; i < n; i++) {
    want += expected[i];
  }
  char path[256];
  snprintf(path, sizeof path, "/api/users/%s/followers?limit=200", star);
  tc_response_t r;
  tc_get_ok(c, path, &r);
  bson_t *filter = BCON_NEW("followee_id", BCON_OID(star_id));
  int64_t docs = tc_db_count(db, "follows", filter);
  bson_destroy(filter);
  int listed = tc_json_array_len(&r, "items");
  if (listed != want || docs != want) {
    print_error("expected %d followers; %d listed, %lld follow documents\n",
                want, listed, (long long)docs);
  }
  assert_int_equal(listed, want);
  assert_int_equal(docs, want);
  for (int k = 0; k < listed; k++) {
    const char *u = tc_item_str(&r, k, "username");
    bool known = false;
    for (int i = 0; i < n; i++) {
      known = known || (expected[i] && !strcmp(u, fans[i]));
    }
    if (!known) {
      fail_msg("%s is listed as a follower but should not be", u);
    }
  }
  tc_response_free(&r);
  assert_counts(c, star, want, 0, false);
}

static void test_many_followers_at_once(void **state) {
  (void)state;
  enum { N = 8 };
  char star[31], fans[N][31], tokens[N][128];
  tc_client_t *s = tc_new_user(tc_url_a(), "crowd", star);
  for (int i = 0; i < N; i++) {
    tc_new_session(tc_url_b(), "crowdfan", fans[i], tokens[i],
                   sizeof tokens[i]);
  }
  tc_db_t db;
  tc_db_open(&db, NULL, tc_env("CHORUS_TEST_DB"));
  bson_oid_t id;
  assert_true(tc_db_user_oid(&db, star, &id));

  char follow_path[96];
  snprintf(follow_path, sizeof follow_path, "/api/users/%s/follow", star);
  tc_racer_t racers[N];
  follow_racers(racers, N, tokens, N, follow_path);
  tc_race_expect(racers, N, "8 users following one user at once");
  bool following[N];
  for (int i = 0; i < N; i++) {
    following[i] = racers[i].status == 200;
  }
  assert_followers_are(s, &db, &id, star, fans, following, N);

  for (int i = 0; i < N; i++) {
    racer_follows(&racers[i], false);
  }
  tc_race_expect(racers, N, "8 users unfollowing one user at once");
  for (int i = 0; i < N; i++) {
    following[i] = following[i] && racers[i].status != 200;
  }
  assert_followers_are(s, &db, &id, star, fans, following, N);

  /* And the stored counter itself, once every transaction is finished. */
  assert_true(tc_db_wait_settled(&db, 4, NULL, 10000));
  int want = 0;
  for (int i = 0; i < N; i++) {
    want += following[i];
  }
  assert_int_equal(stored_followers(&db, &id), want);
  tc_db_close(&db);
  tc_client_destroy(s);
}

/* Whether the list at path (as c reads it) names username. */
static bool lists(tc_client_t *c, const char *path, const char *username) {
  tc_response_t r;
  tc_get_ok(c, path, &r);
  bool found = false;
  int n = tc_json_array_len(&r, "items");
  for (int i = 0; i < n && !found; i++) {
    found = !strcmp(tc_item_str(&r, i, "username"), username);
  }
  assert_true(tc_json_is_null(&r, "next"));
  tc_response_free(&r);
  return found;
}

/* People to follow: accounts that posted, the most followed first, not
 * the viewer nor anyone the viewer follows. */
static void test_suggestions_are_the_most_followed_not_followed(void **state) {
  (void)state;
  enum { FANS = 6 };
  char star[31], quiet[31], viewer[31], fan[31], id[25];
  tc_client_t *s = tc_new_user(tc_url_a(), "sgstar", star);
  tc_client_t *q = tc_new_user(tc_url_a(), "sgquiet", quiet);
  tc_client_t *v = tc_new_user(tc_url_b(), "sgview", viewer);
  tc_post_tweet(s, "a post by the star", id);
  tc_post_tweet(v, "a post by the viewer", id);
  for (int i = 0; i < FANS; i++) {
    tc_client_t *f = tc_new_user(tc_url_a(), "sgfan", fan);
    tc_follow(f, star);
    tc_follow(f, quiet); /* followed, but never posted */
    tc_client_destroy(f);
  }
  /* "Posted" is a tweet_count above 0, which the suggestions' filter
   * reads as folded: up to a finisher batch after the post (SYNC.md
   * §4c).  Once every transaction is finished, it is there. */
  tc_db_t db;
  tc_db_open(&db, NULL, tc_env("CHORUS_TEST_DB"));
  assert_true(tc_db_wait_settled(&db, 4, NULL, 10000));
  tc_db_close(&db);
  const char *path = "/api/suggestions?limit=200";
  tc_client_t *anon = tc_client_new(tc_url_b());
  assert_true(lists(anon, path, star));
  assert_false(lists(anon, path, quiet));
  assert_true(lists(v, path, star));
  assert_false(lists(v, path, viewer));
  tc_follow(v, star);
  assert_false(lists(v, path, star));
  assert_true(lists(anon, path, star));

  /* The most followed first. */
  tc_response_t r;
  tc_get_ok(anon, "/api/suggestions?limit=20", &r);
  int n = tc_json_array_len(&r, "items");
  assert_true(n > 0 && n <= 20);
  int64_t prev = INT64_MAX;
  for (int i = 0; i < n; i++) {
    int64_t followers =
        tc_profile_int(anon, tc_item_str(&r, i, "username"), "followers_count");
    assert_true(followers <= prev);
    prev = followers;
  }
  tc_response_free(&r);
  tc_get_ok(anon, "/api/suggestions?limit=1", &r);
  assert_int_equal(tc_json_array_len(&r, "items"), 1);
  tc_response_free(&r);
  tc_client_destroy(anon);
  tc_client_destroy(v);
  tc_client_destroy(q);
  tc_client_destroy(s);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_follow_and_unfollow_update_both_profiles),
      cmocka_unit_test(test_follow_and_unfollow_are_idempotent),
      cmocka_unit_test(test_cannot_follow_self),
      cmocka_unit_test(test_follow_unknown_user_is_404),
      cmocka_unit_test(test_follow_requires_login),
      cmocka_unit_test(test_followers_most_recent_first),
      cmocka_unit_test(test_following_most_recent_first),
      cmocka_unit_test(test_repeated_follow_keeps_its_place),
      cmocka_unit_test(test_same_follow_raced_on_both_servers_counts_once),
      cmocka_unit_test(test_many_followers_at_once),
      cmocka_unit_test(test_suggestions_are_the_most_followed_not_followed),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
