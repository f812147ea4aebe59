/*
 * test_social_follows.c - following (docs/API.md, "Profiles and follows"):
 *   POST/DELETE /api/users/<username>/follow   200 profile, idempotent
 *   GET /api/users/<username>/followers        most recent follow first
 *   GET /api/users/<username>/following        most recent follow first
 * Counts on both profiles and both servers, self-follow, unknown users,
 * login, list order and pagination, and races of the same follow on both
 * servers at once.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/client/harness.h"
#include "tests/client/testclient.h"


/* POST or DELETE /api/users/<name>/follow. */
static void send_follow(tc_client_t *c, const char *method, const char *name,
                        tc_response_t *r) {
  char path[256];
  snprintf(path, sizeof path, "/api/users/%s/follow", name);
  if (!strcmp(method, "POST")) {
    tc_request(c, "POST", path, "", 0, NULL, r); /* JSON, empty body */
  } else {
    tc_send(c, method, path, NULL, r);
  }
}

static void follow_ok(tc_client_t *c, const char *name) {
  tc_response_t r;
  send_follow(c, "POST", name, &r);
  tc_assert_status(&r, 200);
  tc_response_free(&r);
  tc_sleep_ms(3); /* distinct follow times for the order checks */
}

static void unfollow_ok(tc_client_t *c, const char *name) {
  tc_response_t r;
  send_follow(c, "DELETE", name, &r);
  tc_assert_status(&r, 200);
  tc_response_free(&r);
}

/* Asserts the counts (and followed_by_me as seen by c) of name's profile. */
static void assert_counts(tc_client_t *c, const char *name, int64_t followers,
                          int64_t following, bool followed_by_me) {
  char path[256];
  snprintf(path, sizeof path, "/api/users/%s", name);
  tc_response_t r;
  tc_get_ok(c, path, &r);
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
  tc_response_t r;
  tc_get_ok(c, path, &r);
  int len = tc_json_array_len(&r, "items");
  if (len != n) {
    print_error("GET %s: expected %d items, got %s\n", path, n, r.body);
  }
  assert_int_equal(len, n);
  for (int i = 0; i < n; i++) {
    char key[48];
    snprintf(key, sizeof key, "items.%d.username", i);
    const char *got = tc_json_str(&r, key);
    if (!got || strcmp(got, names[i])) {
      print_error("GET %s: item %d is %s, expected %s; body %s\n", path, i,
                  got ? got : "(none)", names[i], r.body);
    }
    assert_non_null(got);
    assert_string_equal(got, names[i]);
  }
  tc_response_free(&r);
}

static void test_follow_and_unfollow_update_both_profiles(void **state) {
  (void)state;
  char fan[31], star[31];
  tc_client_t *f = tc_new_user(tc_url_a(), "fol", fan);
  tc_client_t *s = tc_new_user(tc_url_b(), "folstar", star);
  tc_client_t *f_b = tc_same_user_on(f, tc_url_b());
  tc_client_t *anon = tc_client_new(tc_url_b());

  tc_response_t r;
  send_follow(f, "POST", star, &r);
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
  send_follow(f_b, "DELETE", star, &r);
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
  send_follow(f, "DELETE", star, &r);
  tc_assert_status(&r, 200);
  assert_int_equal(tc_json_int(&r, "followers_count"), 0);
  assert_false(tc_json_bool(&r, "followed_by_me"));
  tc_response_free(&r);
  assert_counts(s, fan, 0, 0, false);

  for (int i = 0; i < 3; i++) {
    send_follow(i % 2 ? f_b : f, "POST", star, &r);
    tc_assert_status(&r, 200);
    assert_int_equal(tc_json_int(&r, "followers_count"), 1);
    assert_true(tc_json_bool(&r, "followed_by_me"));
    tc_response_free(&r);
  }
  assert_counts(f, star, 1, 0, true);
  assert_counts(s, fan, 0, 1, false);

  for (int i = 0; i < 3; i++) {
    send_follow(i % 2 ? f : f_b, "DELETE", star, &r);
    tc_assert_status(&r, 200);
    assert_int_equal(tc_json_int(&r, "followers_count"), 0);
    assert_false(tc_json_bool(&r, "followed_by_me"));
    tc_response_free(&r);
  }
  assert_counts(f, star, 0, 0, false);
  assert_counts(s, fan, 0, 0, false);

  /* And again: follow works after unfollow. */
  follow_ok(f_b, star);
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
  for (size_t i = 0; me[i]; i++) {
    up[i] = (char)(me[i] >= 'a' && me[i] <= 'z' ? me[i] - 32 : me[i]);
    up[i + 1] = '\0';
  }
  tc_client_t *c_b = tc_same_user_on(c, tc_url_b());
  tc_response_t r;
  send_follow(c, "POST", me, &r);
  tc_assert_error(&r, 400, "cannot_follow_self");
  tc_response_free(&r);
  send_follow(c_b, "POST", up, &r); /* the same account in another case */
  tc_assert_error(&r, 400, "cannot_follow_self");
  tc_response_free(&r);
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
    tc_response_t r;
    send_follow(c, "POST", names[i], &r);
    tc_assert_error(&r, 404, "user_not_found");
    tc_response_free(&r);
    send_follow(c, "DELETE", names[i], &r);
    tc_assert_error(&r, 404, "user_not_found");
    tc_response_free(&r);
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
  tc_response_t r;
  send_follow(anon, "POST", star, &r);
  tc_assert_error(&r, 401, "not_logged_in");
  tc_response_free(&r);
  send_follow(anon, "DELETE", star, &r);
  tc_assert_error(&r, 401, "not_logged_in");
  tc_response_free(&r);
  tc_set_cookie(anon, "chorus_session", "not-a-real-session-token");
  send_follow(anon, "POST", star, &r);
  tc_assert_error(&r, 401, "not_logged_in");
  tc_response_free(&r);
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
  send_follow(f[0], "PATCH", star, &r); /* not a method of this route */
  tc_assert_error(&r, 405, "method_not_allowed");
  tc_response_free(&r);
  /* A display name and bio, to see the summaries carry them. */
  tc_send(f[1], "PATCH", "/api/me",
          "{\"display_name\":\"Fan One\",\"bio\":\"hello\"}", &r);
  tc_assert_status(&r, 200);
  tc_response_free(&r);
  for (int i = 0; i < 3; i++) {
    follow_ok(f[i], star);
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
  follow_ok(f[3], star);
  snprintf(path, sizeof path, "/api/users/%s/followers?limit=2&before=%s",
           star, next);
  tc_get_ok(anon, path, &r);
  assert_int_equal(tc_json_array_len(&r, "items"), 1);
  assert_string_equal(tc_json_str(&r, "items.0.username"), fans[0]);
  assert_true(tc_json_is_null(&r, "next"));
  tc_response_free(&r);

  /* Unfollow removes; following again puts it first. */
  unfollow_ok(f[1], star);
  snprintf(path, sizeof path, "/api/users/%s/followers", star);
  const char *order2[] = {fans[3], fans[2], fans[0]};
  assert_list(anon, path, order2, 3);
  follow_ok(f[1], star);
  const char *order3[] = {fans[1], fans[3], fans[2], fans[0]};
  assert_list(anon, path, order3, 4);
  assert_counts(anon, star, 4, 0, false);

  snprintf(path, sizeof path, "/api/users/%s/followers?limit=0", star);
  tc_expect_error(anon, "GET", path, NULL, 400, "invalid_limit");
  snprintf(path, sizeof path, "/api/users/%s/followers?limit=201", star);
  tc_expect_error(anon, "GET", path, NULL, 400, "invalid_limit");
  snprintf(path, sizeof path, "/api/users/%s/followers?before=%%21%%21", star);
  tc_expect_error(anon, "GET", path, NULL, 400, "invalid_cursor");
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
  follow_ok(f, stars[0]);
  follow_ok(f_b, stars[1]);
  follow_ok(f, stars[2]);
  snprintf(path, sizeof path, "/api/users/%s/following", fan);
  const char *order1[] = {stars[2], stars[1], stars[0]};
  assert_list(f, path, order1, 3);
  assert_counts(s[0], fan, 0, 3, false);

  /* Summaries show the current display name. */
  tc_response_t r;
  tc_send(s[0], "PATCH", "/api/me", "{\"display_name\":\"Renamed Star\"}",
          &r);
  tc_assert_status(&r, 200);
  tc_response_free(&r);
  tc_get_ok(f_b, path, &r);
  assert_string_equal(tc_json_str(&r, "items.2.display_name"),
                      "Renamed Star");
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

  unfollow_ok(f, stars[1]);
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
  follow_ok(fa, star);
  follow_ok(fb, star);
  follow_ok(fa, star); /* idempotent: not a new follow */
  snprintf(path, sizeof path, "/api/users/%s/followers", star);
  const char *order[] = {b, a};
  assert_list(s, path, order, 2);
  assert_counts(s, star, 2, 0, false);
  tc_client_destroy(fb);
  tc_client_destroy(fa);
  tc_client_destroy(s);
}

typedef struct racer {
  const char *base;
  const char *token;
  const char *target;
  const char *method;
  long status;
} racer_t;

static void *race_main(void *arg) {
  racer_t *rc = arg;
  tc_client_t *c = tc_client_with_session(rc->base, rc->token);
  char path[256];
  snprintf(path, sizeof path, "/api/users/%s/follow", rc->target);
  bool post = !strcmp(rc->method, "POST");
  tc_response_t r; /* no cmocka assertion may run in a thread */
  tc_try_request(c, rc->method, path, post ? "" : NULL, 0, NULL, &r);
  rc->status = r.status;
  if (r.status != 200) {
    fprintf(stderr, "%s follow: %ld %s\n", rc->method, r.status, r.body);
  }
  tc_response_free(&r);
  tc_client_destroy(c);
  return NULL;
}

/* Runs the racers at once.  Each answer must be 200, or 409 (the API's
 * "conflict": the change did not happen, try again); returns how many
 * were 200 and prints how many were 409. */
static int race(racer_t *racers, int n, const char *what) {
  pthread_t threads[16];
  for (int i = 0; i < n; i++) {
    racers[i].status = 0;
    pthread_create(&threads[i], NULL, race_main, &racers[i]);
  }
  int ok = 0, conflicts = 0;
  for (int i = 0; i < n; i++) {
    pthread_join(threads[i], NULL);
  }
  for (int i = 0; i < n; i++) {
    if (racers[i].status != 200 && racers[i].status != 409) {
      fail_msg("%s: %s follow answered %ld", what, racers[i].method,
               racers[i].status);
    }
    ok += racers[i].status == 200;
    conflicts += racers[i].status == 409;
  }
  if (conflicts) {
    fprintf(stderr, "%s: %d of %d concurrent requests answered 409\n", what,
            conflicts, n);
  }
  assert_true(ok >= 1); /* someone always gets through */
  return ok;
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
    char fan[31], star[31], token[128];
    tc_client_t *f = tc_new_user(tc_url_a(), "race", fan);
    tc_client_t *s = tc_new_user(tc_url_b(), "racestar", star);
    tc_session_token(f, token, sizeof token);
    racer_t racers[N];
    for (int i = 0; i < N; i++) {
      racers[i] = (racer_t){i % 2 ? tc_url_b() : tc_url_a(), token, star,
                            "POST", 0};
    }
    race(racers, N, "one user following one user 8 times at once");
    assert_counts(f, star, 1, 0, true);
    assert_counts(s, fan, 0, 1, false);

    /* Mixed follows and unfollows: whatever wins, counts match the state. */
    for (int i = 0; i < N; i++) {
      racers[i].method = i % 3 ? "DELETE" : "POST";
    }
    race(racers, N, "follows and unfollows of one pair at once");
    char path[256];
    snprintf(path, sizeof path, "/api/users/%s", star);
    tc_response_t r;
    tc_get_ok(f, path, &r);
    bool following = tc_json_bool(&r, "followed_by_me");
    tc_response_free(&r);
    assert_counts(f, star, following ? 1 : 0, 0, following);
    assert_counts(s, fan, 0, following ? 1 : 0, false);
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
    char key[48];
    snprintf(key, sizeof key, "items.%d.username", k);
    const char *u = tc_json_str(&r, key);
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
    tc_client_t *f = tc_new_user(tc_url_b(), "crowdfan", fans[i]);
    tc_session_token(f, tokens[i], sizeof tokens[i]);
    tc_client_destroy(f);
  }
  tc_db_t db;
  tc_db_open(&db, NULL, tc_env("CHORUS_TEST_DB"));
  bson_oid_t id;
  assert_true(tc_db_user_oid(&db, star, &id));

  racer_t racers[N];
  for (int i = 0; i < N; i++) {
    racers[i] = (racer_t){i % 2 ? tc_url_b() : tc_url_a(), tokens[i], star,
                          "POST", 0};
  }
  race(racers, N, "8 users following one user at once");
  bool following[N];
  for (int i = 0; i < N; i++) {
    following[i] = racers[i].status == 200;
  }
  assert_followers_are(s, &db, &id, star, fans, following, N);

  for (int i = 0; i < N; i++) {
    racers[i].method = "DELETE";
  }
  race(racers, N, "8 users unfollowing one user at once");
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
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
