/*
 * test_rate_limits.c - the write limits (docs/API.md "Rate limits"):
 * registrations per address; tweets (creations and replies), follows and
 * unfollows, likes and unlikes per account and per address.  Each is
 * exact across servers (alternating A and B, and in parallel), answered
 * 429 rate_limited with Retry-After within the window, refused writes
 * leave nothing behind and do not count, invalid requests do not count,
 * the window ends, and --rate-limits 0 turns every write limit off.
 *
 * The servers are the tests' own (the suite's shared ones run with
 * CHORUS_RATE_LIMITS=0): one pair with the default limits, which refuse
 * part of 30 registrations from one address, 60 tweets and 40 follow
 * toggles sent in a burst, and one with small limits for the per-address and
 * parallel cases.  Both take X-Real-IP from 127.0.0.1 (--trusted-proxy),
 * so each test acts from addresses of its own.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/client/harness.h"
#include "tests/client/testclient.h"

#define PROXY "--rate-limits 1 --trusted-proxy 127.0.0.1"

static tc_pair_t defaults, small;

/* A fresh client address for each caller: 10.x.y.z. */
static void fresh_address(char out[32]) {
  static int n;
  n++;
  snprintf(out, 32, "10.%d.%d.%d", (n >> 16) & 255, (n >> 8) & 255, n & 255);
}

/* One user's browser on both servers of a pair, from one address. */
typedef struct actor {
  tc_client_t *on[2];
  char name[31];
  char address[32];
} actor_t;

/* method path with body (NULL: none) on server `server` of the actor,
 * from its address. */
static void send_from(const actor_t *a, int server, const char *method,
                      const char *path, const char *body, tc_response_t *r) {
  char header[64];
  snprintf(header, sizeof header, "X-Real-IP: %s", a->address);
  const char *headers[] = {header, NULL};
  tc_request(a->on[server], method, path, body, body ? strlen(body) : 0,
             headers, r);
}

/* POST /api/register of the actor's name with password, from its
 * address, on server. */
static void register_from(const actor_t *a, int server, const char *password,
                          tc_response_t *r) {
  char *body = tc_credentials_json(a->name, password);
  send_from(a, server, "POST", "/api/register", body, r);
  bson_free(body);
}

/* Clients for a new actor on pair p, named from prefix, at address (NULL:
 * a fresh one); not registered (each client has a cookie jar of its own
 * until actor_new). */
static void actor_init(actor_t *a, const tc_pair_t *p, const char *prefix,
                       const char *address) {
  memset(a, 0, sizeof *a);
  a->on[0] = tc_client_new(p->s[0].url);
  a->on[1] = tc_client_new(p->s[1].url);
  tc_unique_name(prefix, a->name);
  if (address) {
    bson_strncpy(a->address, address, sizeof a->address);
  } else {
    fresh_address(a->address);
  }
}

/* actor_init, then registered (from an address of its own, so that no
 * registration limit is touched), logged in on both servers and acting
 * from address. */
static void actor_new(actor_t *a, const tc_pair_t *p, const char *prefix,
                      const char *address) {
  actor_init(a, p, prefix, NULL);
  tc_response_t r;
  register_from(a, 0, TC_PASSWORD, &r);
  tc_assert_status(&r, 201);
  tc_response_free(&r);
  tc_client_destroy(a->on[1]);
  a->on[1] = tc_same_user_on(a->on[0], p->s[1].url);
  if (address) {
    bson_strncpy(a->address, address, sizeof a->address);
  }
}

static void actor_free(actor_t *a) {
  tc_client_destroy(a->on[1]);
  tc_client_destroy(a->on[0]);
}

/* r is 429 rate_limited with a Retry-After of 1..window_s seconds, a
 * message naming `whose` ("account", "address") and no session cookie. */
static void assert_limited(const tc_response_t *r, int window_s,
                           const char *whose) {
  if (r->status != 429) {
    print_error("expected 429, got %ld: %s\n", r->status, r->body);
  }
  tc_assert_error(r, 429, "rate_limited");
  char value[32];
  assert_true(tc_header(r, "Retry-After", value, sizeof value));
  char *end;
  long secs = strtol(value, &end, 10);
  if (!(*end == '\0' && secs >= 1 && secs <= window_s)) {
    fail_msg("Retry-After: %s (window %d s)", value, window_s);
  }
  const char *message = tc_json_str(r, "error.message");
  assert_non_null(message);
  if (!strstr(message, whose)) {
    fail_msg("\"%s\" does not name the %s", message, whose);
  }
  assert_false(tc_header(r, "Set-Cookie", value, sizeof value));
}

/* Sends the same request `total` times alternating servers: the first
 * `allowed` answer `ok_status`, every later one 429 (assert_limited). */
static void expect_allowed_then_limited(const actor_t *a, const char *method,
                                        const char *const *paths,
                                        size_t n_paths, const char *body,
                                        int total, int allowed, long ok_status,
                                        int window_s, const char *whose) {
  for (int i = 0; i < total; i++) {
    tc_response_t r;
    send_from(a, i % 2, method, paths[(size_t)i % n_paths], body, &r);
    if (i < allowed) {
      if (r.status != ok_status) {
        print_error("request %d of %d: %ld %s\n", i + 1, total, r.status,
                    r.body);
      }
      tc_assert_status(&r, ok_status);
    } else {
      if (r.status != 429) {
        print_error("request %d of %d (limit %d)\n", i + 1, total, allowed);
      }
      assert_limited(&r, window_s, whose);
    }
    tc_response_free(&r);
  }
}

/* Posts a tweet as the actor on server, asserting 201; its id into id. */
static void post_from(const actor_t *a, int server, char id[25]) {
  tc_response_t r;
  send_from(a, server, "POST", "/api/tweet", "{\"text\":\"a tweet\"}", &r);
  tc_assert_status(&r, 201);
  bson_strncpy(id, tc_json_str(&r, "id"), 25);
  tc_response_free(&r);
}

/* Toggles path (POST, then DELETE, ...) `total` times alternating
 * servers: the first `allowed` answer 200, every later one 429 with
 * Retry-After up to window_s, naming the account. */
static void toggle_allowed_then_limited(const actor_t *a, const char *path,
                                        int total, int allowed, int window_s) {
  for (int i = 0; i < total; i++) {
    tc_response_t r;
    bool on = i % 2 == 0;
    send_from(a, i % 2, on ? "POST" : "DELETE", path, on ? "" : NULL, &r);
    if (i < allowed) {
      tc_assert_status(&r, 200);
    } else {
      assert_limited(&r, window_s, "account");
    }
    tc_response_free(&r);
  }
}

static int group_setup(void **state) {
  (void)state;
  tc_pair_start(&defaults, "rate", "dflt", PROXY);
  tc_pair_start(&small, "rate", "small",
                PROXY " --limit-tweet-account 4 --limit-tweet-address 6 "
                      "--limit-follow-account 4 --limit-follow-address 6 "
                      "--limit-like-account 4 --limit-like-address 6 "
                      "--limit-register-address 2 --limit-register-window-s "
                      "4");
  return 0;
}

static int group_teardown(void **state) {
  (void)state;
  tc_pairs_stop_all();
  return 0;
}

/* ------------------------------------------------------- registrations */

static void test_registrations_per_address(void **state) {
  (void)state;
  char address[32];
  fresh_address(address);
  /* Invalid attempts do not count: a weak password, a bad name. */
  actor_t a;
  actor_init(&a, &defaults, "rlreg", address);
  tc_response_t r;
  for (int i = 0; i < 3; i++) {
    register_from(&a, i % 2, "password", &r);
    tc_assert_error(&r, 400, "weak_password");
    tc_response_free(&r);
  }
  actor_free(&a);
  /* 30 registrations from one address, alternating servers: the default
   * limit is 10 an hour. */
  char refused[20][31];
  for (int i = 0; i < 30; i++) {
    actor_init(&a, &defaults, "rlreg", address);
    register_from(&a, i % 2, TC_PASSWORD, &r);
    if (i < 10) {
      tc_assert_status(&r, 201);
    } else {
      assert_limited(&r, 3600, "address");
      bson_strncpy(refused[i - 10], a.name, sizeof refused[0]);
      tc_expect_error(a.on[0], "GET", "/api/me", NULL, 401, "not_logged_in");
    }
    tc_response_free(&r);
    actor_free(&a);
  }
  /* A refused registration created nothing: its name is free. */
  tc_client_t *c = tc_client_new(defaults.s[1].url);
  char path[64];
  snprintf(path, sizeof path, "/api/users/%s", refused[0]);
  tc_expect_error(c, "GET", path, NULL, 404, "user_not_found");
  tc_client_destroy(c);
  /* Another address registers, that very name too. */
  actor_init(&a, &defaults, "rlreg", NULL);
  bson_strncpy(a.name, refused[0], sizeof a.name);
  register_from(&a, 1, TC_PASSWORD, &r);
  tc_assert_status(&r, 201);
  tc_response_free(&r);
  actor_free(&a);
}

/* -------------------------------------------------------------- tweets */

static void test_tweets_per_account(void **state) {
  (void)state;
  char address[32];
  fresh_address(address);
  actor_t a, b;
  actor_new(&a, &defaults, "rltw", address);
  actor_new(&b, &defaults, "rltwb", address);
  tc_response_t r;
  /* Invalid tweets do not count. */
  send_from(&a, 0, "POST", "/api/tweet", "{\"text\":\"   \"}", &r);
  tc_assert_error(&r, 400, "empty");
  tc_response_free(&r);
  /* 60 tweets in a burst: the default limit is 30 in 10 minutes. */
  const char *path[] = {"/api/tweet"};
  expect_allowed_then_limited(&a, "POST", path, 1, "{\"text\":\"burst\"}", 60,
                              30, 201, 600, "account");
  /* A reply is a tweet too; b's tweet is b's. */
  char id[25];
  post_from(&b, 1, id);
  char body[96];
  snprintf(body, sizeof body, "{\"text\":\"re\",\"reply_to\":\"%s\"}", id);
  send_from(&a, 1, "POST", "/api/tweet", body, &r);
  assert_limited(&r, 600, "account");
  tc_response_free(&r);
  /* Refused tweets left nothing: 30 tweets, no reply. */
  assert_int_equal(tc_profile_int(a.on[0], a.name, "tweet_count"), 30);
  assert_int_equal(tc_tweet_int(b.on[0], id, "reply_count"), 0);
  actor_free(&b);
  actor_free(&a);
}

/* ---------------------------------------------------- follows, likes */

static void test_follow_toggles_per_account(void **state) {
  (void)state;
  actor_t a, target;
  actor_new(&a, &defaults, "rlfol", NULL);
  actor_new(&target, &defaults, "rlfolt", NULL);
  char path[80];
  snprintf(path, sizeof path, "/api/users/%s/follow", target.name);
  /* 40 toggles: the default limit is 30 follows and unfollows in 10
   * minutes. */
  toggle_allowed_then_limited(&a, path, 40, 30, 600);
  /* The 30th was an unfollow; refused follows changed nothing. */
  assert_int_equal(tc_profile_int(a.on[1], target.name, "followers_count"), 0);
  actor_free(&target);
  actor_free(&a);
}

static void test_like_toggles_per_account(void **state) {
  (void)state;
  actor_t a, author;
  actor_new(&a, &defaults, "rllike", NULL);
  actor_new(&author, &defaults, "rllikea", NULL);
  char id[25];
  post_from(&author, 0, id);
  tc_response_t r;
  char path[80];
  snprintf(path, sizeof path, "/api/tweet/%s/like", id);
  /* A like of what cannot be a tweet id is 404 and does not count. */
  send_from(&a, 0, "POST", "/api/tweet/nope/like", "", &r);
  tc_assert_status(&r, 404);
  tc_response_free(&r);
  /* 70 toggles: the default limit is 60 likes and unlikes in 10 minutes. */
  toggle_allowed_then_limited(&a, path, 70, 60, 600);
  assert_int_equal(tc_tweet_int(a.on[0], id, "like_count"), 0);
  actor_free(&author);
  actor_free(&a);
}

/* ------------------------------------------------------ per address */

static void test_writes_per_address(void **state) {
  (void)state;
  /* Three accounts behind one address share its limits (6 of each in
   * the small pair), each far below its own (4); another address is not
   * touched. */
  char address[32];
  fresh_address(address);
  actor_t a[3], elsewhere, target;
  for (int i = 0; i < 3; i++) {
    actor_new(&a[i], &small, "rladdr", address);
  }
  actor_new(&elsewhere, &small, "rladdre", NULL);
  actor_new(&target, &small, "rladdrt", NULL);
  char tweet[25], follow[80], like[80];
  post_from(&target, 0, tweet);
  tc_response_t r;
  snprintf(follow, sizeof follow, "/api/users/%s/follow", target.name);
  snprintf(like, sizeof like, "/api/tweet/%s/like", tweet);
  const char *paths[] = {"/api/tweet", follow, like};
  for (int kind = 0; kind < 3; kind++) {
    for (int i = 0; i < 6; i++) {
      send_from(&a[i % 3], i % 2, "POST", paths[kind],
                kind ? "" : "{\"text\":\"shared\"}", &r);
      tc_assert_status(&r, kind ? 200 : 201);
      tc_response_free(&r);
    }
    send_from(&a[1], 1, "POST", paths[kind],
              kind ? "" : "{\"text\":\"shared\"}", &r);
    assert_limited(&r, 600, "address");
    tc_response_free(&r);
    send_from(&elsewhere, 0, "POST", paths[kind],
              kind ? "" : "{\"text\":\"elsewhere\"}", &r);
    tc_assert_status(&r, kind ? 200 : 201);
    tc_response_free(&r);
  }
  for (int i = 0; i < 3; i++) {
    actor_free(&a[i]);
  }
  actor_free(&elsewhere);
  actor_free(&target);
}

/* ------------------------------------------------------------ exactness */

typedef struct poster {
  const char *base;
  const char *token;
  const char *address;
  long status;
} poster_t;

static void *post_main(void *arg) {
  poster_t *p = arg;
  tc_client_t *c = tc_client_with_session(p->base, p->token);
  char header[64];
  snprintf(header, sizeof header, "X-Real-IP: %s", p->address);
  const char *headers[] = {header, NULL};
  static const char body[] = "{\"text\":\"all at once\"}";
  tc_response_t r; /* no cmocka assertion may run in a thread */
  tc_try_request(c, "POST", "/api/tweet", body, strlen(body), headers, &r);
  p->status = r.status;
  tc_response_free(&r);
  tc_client_destroy(c);
  return NULL;
}

/* Which limit a refusal of test_limit_holds_under_parallel_writes may
 * name: the account's, or the address's once the refused parallel writes
 * took its slots too (each may hold one: ratelimit.c) and it frees
 * later. */
static const char *limited_by(const tc_response_t *r) {
  const char *message = r->json ? tc_json_str(r, "error.message") : NULL;
  return message && strstr(message, "address") ? "address" : "account";
}

static void test_limit_holds_under_parallel_writes(void **state) {
  (void)state;
  /* 16 tweets of one account sent at once to both servers, with a limit
   * of 4 per account and 6 per address: at most 4 are created, the rest
   * answered 429, and no later write goes past the limit. */
  enum { N = 16, LIMIT = 4 };
  actor_t a;
  actor_new(&a, &small, "rlpar", NULL);
  char token[128];
  tc_session_token(a.on[0], token, sizeof token);
  poster_t p[N];
  pthread_t threads[N];
  for (int i = 0; i < N; i++) {
    p[i] = (poster_t){small.s[i % 2].url, token, a.address, 0};
    pthread_create(&threads[i], NULL, post_main, &p[i]);
  }
  int created = 0, limited = 0;
  for (int i = 0; i < N; i++) {
    pthread_join(threads[i], NULL);
    created += p[i].status == 201;
    limited += p[i].status == 429;
  }
  fprintf(stderr, "%d parallel tweets (limit %d): %d created, %d refused\n", N,
          LIMIT, created, limited);
  assert_int_equal(created + limited, N);
  assert_true(created <= LIMIT);
  /* Refusing early is safe (a write refused under one key may already
   * hold its slot of the other: ratelimit.c), so one by one the account
   * reaches at most the limit, and never more. */
  tc_response_t r;
  int total = created;
  for (int more = created; more < LIMIT; more++) {
    send_from(&a, more % 2, "POST", "/api/tweet", "{\"text\":\"one more\"}",
              &r);
    bool ok = r.status == 201;
    if (!ok) {
      assert_limited(&r, 600, limited_by(&r));
    }
    tc_response_free(&r);
    if (!ok) {
      break;
    }
    total++;
  }
  send_from(&a, 1, "POST", "/api/tweet", "{\"text\":\"over\"}", &r);
  assert_limited(&r, 600, limited_by(&r));
  tc_response_free(&r);
  assert_true(total <= LIMIT);
  assert_int_equal(tc_profile_int(a.on[0], a.name, "tweet_count"), total);
  actor_free(&a);
}

static void test_the_window_ends(void **state) {
  (void)state;
  /* Registrations in the small pair: 2 per address in 4 seconds. */
  char address[32];
  fresh_address(address);
  actor_t a;
  tc_response_t r;
  for (int i = 0; i < 3; i++) {
    actor_init(&a, &small, "rlwin", address);
    register_from(&a, i % 2, TC_PASSWORD, &r);
    if (i < 2) {
      tc_assert_status(&r, 201);
    } else {
      assert_limited(&r, 4, "address");
    }
    tc_response_free(&r);
    actor_free(&a);
  }
  tc_sleep_ms(4500);
  actor_init(&a, &small, "rlwin", address);
  register_from(&a, 1, TC_PASSWORD, &r);
  tc_assert_status(&r, 201);
  tc_response_free(&r);
  actor_free(&a);
}

static int compare_at(const void *a, const void *b) {
  int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
  return x < y ? -1 : x > y;
}

/* Registrations from one address (2 per 4 s in the small pair) sent
 * without pause for three windows, alternating servers, so that some
 * windows straddle the log's buckets: the stored slots of the address
 * show no 3 admitted within 4 s, and the limit was reached each window. */
static void test_no_window_holds_more_than_the_limit(void **state) {
  (void)state;
  char address[32];
  fresh_address(address);
  int admitted = 0;
  for (int64_t end = tc_now_ms() + 12000; tc_now_ms() < end;) {
    actor_t a;
    actor_init(&a, &small, "rlslide", address);
    tc_response_t r;
    register_from(&a, admitted % 2, TC_PASSWORD, &r);
    assert_true(r.status == 201 || r.status == 429);
    admitted += r.status == 201;
    tc_response_free(&r);
    actor_free(&a);
    tc_sleep_ms(50);
  }
  tc_db_t db;
  tc_db_open(&db, NULL, small.db);
  mongoc_collection_t *coll =
      mongoc_database_get_collection(db.db, "rate_registrations");
  char prefix[64];
  snprintf(prefix, sizeof prefix, "^a:%s\\|", address);
  bson_t *filter = BCON_NEW("_id", "{", "$regex", BCON_UTF8(prefix), "}");
  mongoc_cursor_t *cursor =
      mongoc_collection_find_with_opts(coll, filter, NULL, NULL);
  int64_t at[64];
  int n = 0;
  const bson_t *doc;
  while (mongoc_cursor_next(cursor, &doc) && n < 64) {
    bson_iter_t it;
    assert_true(bson_iter_init_find(&it, doc, "at"));
    at[n++] = bson_iter_date_time(&it);
  }
  mongoc_cursor_destroy(cursor);
  bson_destroy(filter);
  mongoc_collection_destroy(coll);
  tc_db_close(&db);
  fprintf(stderr, "%d registrations admitted, %d slots stored\n", admitted, n);
  assert_int_equal(n, admitted);
  assert_true(admitted >= 6); /* 2 in each of 3 windows at least */
  qsort(at, (size_t)n, sizeof at[0], compare_at);
  for (int i = 0; i + 2 < n; i++) {
    if (at[i + 2] - at[i] < 4000) {
      fail_msg("3 registrations within %lld ms",
               (long long)(at[i + 2] - at[i]));
    }
  }
}

/* -------------------------------------------------------------- off */

static void test_rate_limits_off(void **state) {
  (void)state;
  /* --rate-limits 0 overrides every --limit-*. */
  static tc_pair_t off; /* static: the teardown may stop it */
  tc_pair_start(&off, "rate", "off",
                "--rate-limits 0 --trusted-proxy 127.0.0.1 "
                "--limit-register-address 1 --limit-tweet-account 1 "
                "--limit-tweet-address 1");
  char address[32];
  fresh_address(address);
  actor_t a;
  for (int i = 0; i < 3; i++) {
    actor_init(&a, &off, "rloff", address);
    tc_response_t r;
    register_from(&a, i % 2, TC_PASSWORD, &r);
    tc_assert_status(&r, 201);
    tc_response_free(&r);
    actor_free(&a);
  }
  actor_new(&a, &off, "rloff", address);
  const char *path[] = {"/api/tweet"};
  expect_allowed_then_limited(&a, "POST", path, 1, "{\"text\":\"free\"}", 3, 3,
                              201, 600, "account");
  actor_free(&a);
  tc_pair_stop(&off);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_registrations_per_address),
      cmocka_unit_test(test_tweets_per_account),
      cmocka_unit_test(test_follow_toggles_per_account),
      cmocka_unit_test(test_like_toggles_per_account),
      cmocka_unit_test(test_writes_per_address),
      cmocka_unit_test(test_limit_holds_under_parallel_writes),
      cmocka_unit_test(test_the_window_ends),
      cmocka_unit_test(test_no_window_holds_more_than_the_limit),
      cmocka_unit_test(test_rate_limits_off),
  };
  return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
