/*
 * test_social_feed.c - the home feed (docs/API.md, GET /api/feed): my own
 * tweets and those of the people I follow, newest first, nobody else's;
 * follows and unfollows take effect at once; deleted tweets leave it;
 * pages never repeat or skip a tweet while new ones are posted on the
 * other server between (and during) page reads.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/client/harness.h"
#include "tests/client/testclient.h"

/* Posts a tweet as c's user; the next write gets a later time. */
static void post(tc_client_t *c, const char *text, char id[25]) {
  tc_post_tweet(c, text, id);
  tc_tick();
}

/* GET path; asserts that the items' ids are exactly ids[0..n). */
static void assert_ids(tc_client_t *c, const char *path, const char *const *ids,
                       int n) {
  tc_assert_list(c, path, "id", ids, n);
}

static void test_feed_requires_login(void **state) {
  (void)state;
  tc_client_t *anon = tc_client_new(tc_url_a());
  tc_expect_error(anon, "GET", "/api/feed", NULL, 401, "not_logged_in");
  tc_set_cookie(anon, "chorus_session", "forged-session-token");
  tc_expect_error(anon, "GET", "/api/feed", NULL, 401, "not_logged_in");
  tc_client_destroy(anon);
}

static void test_feed_of_a_new_user(void **state) {
  (void)state;
  char me[31], id[25];
  tc_client_t *c = tc_new_user(tc_url_a(), "feednew", me);
  assert_ids(c, "/api/feed", NULL, 0);
  tc_response_t r;
  tc_get(c, "/api/feed", &r);
  assert_true(tc_json_is_null(&r, "next"));
  tc_response_free(&r);
  post(c, "only me", id);
  const char *mine[] = {id};
  assert_ids(c, "/api/feed", mine, 1);
  tc_client_destroy(c);
}

static void test_feed_shows_own_and_followed_only(void **state) {
  (void)state;
  char u[31], v[31], w[31], v1[25], w1[25], u1[25], v2[25], w2[25], u2[25];
  tc_client_t *cu = tc_new_user(tc_url_a(), "feedu", u);
  tc_client_t *cv = tc_new_user(tc_url_b(), "feedv", v);
  tc_client_t *cw = tc_new_user(tc_url_a(), "feedw", w);
  tc_follow(cu, v);
  tc_follow(cv, w); /* v follows w: not u's business */
  post(cv, "v one", v1);
  post(cw, "w one", w1);
  post(cu, "u one", u1);
  post(cv, "v two", v2);
  post(cw, "w two", w2);
  post(cu, "u two", u2);
  const char *expected[] = {u2, v2, u1, v1};
  assert_ids(cu, "/api/feed", expected, 4);
  tc_client_t *cu_b = tc_same_user_on(cu, tc_url_b());
  assert_ids(cu_b, "/api/feed", expected, 4);
  /* v's feed: v and w. */
  const char *v_expected[] = {w2, v2, w1, v1};
  assert_ids(cv, "/api/feed", v_expected, 4);

  /* Items are full tweets. */
  tc_response_t r;
  tc_get_ok(cu, "/api/feed?limit=2", &r);
  assert_string_equal(tc_json_str(&r, "items.1.author.username"), v);
  assert_string_equal(tc_json_str(&r, "items.1.text"), "v two");
  assert_true(tc_json_has(&r, "items.1.like_count"));
  assert_true(tc_json_has(&r, "items.1.liked_by_me"));
  assert_true(tc_json_has(&r, "items.1.reply_count"));
  assert_true(tc_json_has(&r, "items.1.reply_to"));
  assert_non_null(tc_json_str(&r, "next"));
  tc_response_free(&r);
  tc_client_destroy(cu_b);
  tc_client_destroy(cw);
  tc_client_destroy(cv);
  tc_client_destroy(cu);
}

static void test_follow_and_unfollow_change_the_feed(void **state) {
  (void)state;
  char u[31], v[31], u1[25], v1[25], v2[25];
  tc_client_t *cu = tc_new_user(tc_url_a(), "feedf", u);
  tc_client_t *cv = tc_new_user(tc_url_b(), "feedfv", v);
  post(cv, "v before the follow", v1);
  post(cu, "u", u1);
  const char *alone[] = {u1};
  assert_ids(cu, "/api/feed", alone, 1);
  /* Following shows the followee's earlier tweets too. */
  tc_follow(cu, v);
  const char *both[] = {u1, v1};
  assert_ids(cu, "/api/feed", both, 2);
  post(cv, "v after the follow", v2);
  const char *three[] = {v2, u1, v1};
  assert_ids(cu, "/api/feed", three, 3);
  /* Unfollowing (on the other server) removes them all. */
  tc_client_t *cu_b = tc_same_user_on(cu, tc_url_b());
  tc_unfollow(cu_b, v);
  assert_ids(cu, "/api/feed", alone, 1);
  assert_ids(cu_b, "/api/feed", alone, 1);
  tc_follow(cu, v);
  assert_ids(cu_b, "/api/feed", three, 3);
  tc_client_destroy(cu_b);
  tc_client_destroy(cv);
  tc_client_destroy(cu);
}

static void test_feed_drops_deleted_tweets(void **state) {
  (void)state;
  char u[31], v[31], v1[25], v2[25], path[256];
  tc_client_t *cu = tc_new_user(tc_url_a(), "feedd", u);
  tc_client_t *cv = tc_new_user(tc_url_b(), "feeddv", v);
  tc_follow(cu, v);
  post(cv, "stays", v1);
  post(cv, "deleted", v2);
  snprintf(path, sizeof path, "/api/tweet/%s", v2);
  tc_expect_status(cv, "DELETE", path, NULL, 200);
  const char *left[] = {v1};
  assert_ids(cu, "/api/feed", left, 1);
  tc_client_destroy(cv);
  tc_client_destroy(cu);
}

static void test_feed_order_across_many_authors(void **state) {
  (void)state;
  enum { AUTHORS = 4, PER = 3 };
  char u[31], names[AUTHORS][31], ids[AUTHORS * PER][25];
  tc_client_t *cu = tc_new_user(tc_url_a(), "feedo", u);
  tc_client_t *authors[AUTHORS];
  for (int i = 0; i < AUTHORS; i++) {
    authors[i] =
        tc_new_user(i % 2 ? tc_url_b() : tc_url_a(), "feedoa", names[i]);
    tc_follow(cu, names[i]);
  }
  for (int k = 0; k < AUTHORS * PER; k++) {
    char text[32];
    snprintf(text, sizeof text, "tweet %d", k);
    post(authors[(k * 3) % AUTHORS], text, ids[k]);
  }
  const char *expected[AUTHORS * PER];
  for (int k = 0; k < AUTHORS * PER; k++) {
    expected[k] = ids[AUTHORS * PER - 1 - k];
  }
  assert_ids(cu, "/api/feed?limit=200", expected, AUTHORS * PER);
  /* liked_by_me is the viewer's. */
  tc_like(cu, ids[5]);
  tc_response_t r;
  tc_get_ok(cu, "/api/feed?limit=200", &r);
  for (int i = 0; i < AUTHORS * PER; i++) {
    assert_int_equal(tc_item_bool(&r, i, "liked_by_me"),
                     i == AUTHORS * PER - 1 - 5);
  }
  tc_response_free(&r);
  for (int i = 0; i < AUTHORS; i++) {
    tc_client_destroy(authors[i]);
  }
  tc_client_destroy(cu);
}

static void test_feed_cursor_is_stable_under_inserts(void **state) {
  (void)state;
  char u[31], v[31], old[6][25], fresh[4][25], path[256];
  tc_client_t *cu = tc_new_user(tc_url_a(), "feedc", u);
  tc_client_t *cv = tc_new_user(tc_url_b(), "feedcv", v);
  tc_follow(cu, v);
  for (int i = 0; i < 6; i++) {
    post(i % 2 ? cu : cv, "before the first page", old[i]);
  }
  tc_response_t first;
  tc_get_ok(cu, "/api/feed?limit=3", &first);
  const char *page1[] = {old[5], old[4], old[3]};
  for (int i = 0; i < 3; i++) {
    assert_string_equal(tc_item_str(&first, i, "id"), page1[i]);
  }
  char cursor[128];
  bson_strncpy(cursor, tc_json_str(&first, "next"), sizeof cursor);
  tc_response_free(&first);

  /* New tweets by both, on the other server, between the pages. */
  tc_client_t *cu_b = tc_same_user_on(cu, tc_url_b());
  for (int i = 0; i < 4; i++) {
    post(i % 2 ? cu_b : cv, "arrived later", fresh[i]);
  }
  snprintf(path, sizeof path, "/api/feed?limit=3&before=%s", cursor);
  const char *page2[] = {old[2], old[1], old[0]};
  assert_ids(cu, path, page2, 3);
  snprintf(path, sizeof path, "/api/feed?limit=10&before=%s", cursor);
  assert_ids(cu, path, page2, 3);
  const char *head[] = {fresh[3], fresh[2], fresh[1], fresh[0], old[5]};
  assert_ids(cu, "/api/feed?limit=5", head, 5);

  tc_expect_paging_errors(cu, "/api/feed", "garbage");
  tc_expect_error(cu, "GET", "/api/feed?limit=201", NULL, 400, "invalid_limit");
  tc_client_destroy(cu_b);
  tc_client_destroy(cv);
  tc_client_destroy(cu);
}

/* ---- a walk through the feed while two authors keep posting ---- */

#define MAX_POSTED 400

typedef struct poster {
  const char *base;
  char token[128];
  atomic_bool *stop;
  char ids[MAX_POSTED][25];
  int n;
  int failures;
} poster_t;

static void *poster_main(void *arg) {
  poster_t *p = arg;
  tc_client_t *c = tc_client_with_session(p->base, p->token);
  while (!atomic_load(p->stop) && p->n < MAX_POSTED) {
    tc_response_t r; /* no cmocka assertion may run in a thread */
    const char *body = "{\"text\":\"posted during the walk\"}";
    if (tc_try_request(c, "POST", "/api/tweet", body, strlen(body), NULL, &r) &&
        r.status == 201 && tc_json_str(&r, "id")) {
      bson_strncpy(p->ids[p->n++], tc_json_str(&r, "id"), 25);
    } else {
      fprintf(stderr, "post during walk: %ld %s\n", r.status, r.body);
      p->failures++;
    }
    tc_response_free(&r);
  }
  tc_client_destroy(c);
  return NULL;
}

static bool in_list(char (*ids)[25], int n, const char *id) {
  for (int i = 0; i < n; i++) {
    if (!strcmp(ids[i], id)) {
      return true;
    }
  }
  return false;
}

static void test_feed_walk_while_others_post(void **state) {
  (void)state;
  enum { BEFORE = 12, LIMIT = 2 };
  char u[31], v[31], w[31], before_ids[BEFORE][25];
  tc_client_t *cu = tc_new_user(tc_url_a(), "feedw", u);
  tc_client_t *cv = tc_new_user(tc_url_b(), "feedwv", v);
  tc_client_t *cw = tc_new_user(tc_url_b(), "feedww", w);
  tc_follow(cu, v);
  tc_follow(cu, w);
  for (int i = 0; i < BEFORE; i++) {
    post(i % 3 == 0   ? cu
         : i % 3 == 1 ? cv
                      : cw,
         "before the walk", before_ids[i]);
  }
  atomic_bool stop = false;
  poster_t *posters = calloc(2, sizeof *posters);
  tc_client_t *owners[2] = {cv, cw};
  for (int i = 0; i < 2; i++) {
    posters[i].base = tc_url_b();
    posters[i].stop = &stop;
    tc_session_token(owners[i], posters[i].token, sizeof posters[i].token);
  }
  pthread_t threads[2];
  for (int i = 0; i < 2; i++) {
    pthread_create(&threads[i], NULL, poster_main, &posters[i]);
  }

  /* Walk the whole feed on server A, LIMIT at a time. */
  enum { MAX_SEEN = 1000 };
  char(*seen)[25] = calloc(MAX_SEEN, 25);
  char(*times)[32] = calloc(MAX_SEEN, 32);
  int n = 0;
  char path[256];
  snprintf(path, sizeof path, "/api/feed?limit=%d", LIMIT);
  for (;;) {
    tc_response_t r;
    tc_get_ok(cu, path, &r);
    int len = tc_json_array_len(&r, "items");
    assert_true(len >= 0 && len <= LIMIT);
    for (int i = 0; i < len; i++) {
      assert_true(n < MAX_SEEN);
      bson_strncpy(seen[n], tc_item_str(&r, i, "id"), 25);
      bson_strncpy(times[n], tc_item_str(&r, i, "created_at"), 32);
      n++;
    }
    bool more = !tc_json_is_null(&r, "next");
    if (more) {
      snprintf(path, sizeof path, "/api/feed?limit=%d&before=%s", LIMIT,
               tc_json_str(&r, "next"));
    }
    tc_response_free(&r);
    if (!more) {
      break;
    }
    tc_sleep_ms(20); /* let the posters get ahead */
  }
  atomic_store(&stop, true);
  for (int i = 0; i < 2; i++) {
    pthread_join(threads[i], NULL);
  }
  fprintf(stderr,
          "walked %d tweets in pages of %d while %d + %d were "
          "posted\n",
          n, LIMIT, posters[0].n, posters[1].n);
  assert_int_equal(posters[0].failures + posters[1].failures, 0);

  /* Newest first (RFC 3339 with milliseconds compares as text), no
   * repeats, and every tweet seen is one of ours. */
  for (int i = 0; i < n; i++) {
    if (i > 0) {
      assert_true(strcmp(times[i], times[i - 1]) <= 0);
    }
    for (int j = i + 1; j < n; j++) {
      if (!strcmp(seen[i], seen[j])) {
        fail_msg("tweet %s seen twice (positions %d and %d)", seen[i], i, j);
      }
    }
    assert_true(in_list(before_ids, BEFORE, seen[i]) ||
                in_list(posters[0].ids, posters[0].n, seen[i]) ||
                in_list(posters[1].ids, posters[1].n, seen[i]));
  }
  /* No gaps: every tweet that existed before the walk was seen, and the
   * walk ends with exactly them, oldest last. */
  for (int i = 0; i < BEFORE; i++) {
    if (!in_list(seen, n, before_ids[i])) {
      fail_msg("tweet %s (posted before the walk) was skipped", before_ids[i]);
    }
  }
  assert_true(n >= BEFORE);
  for (int i = 0; i < BEFORE; i++) {
    assert_string_equal(seen[n - 1 - i], before_ids[i]);
  }
  free(times);
  free(seen);
  free(posters);
  tc_client_destroy(cw);
  tc_client_destroy(cv);
  tc_client_destroy(cu);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_feed_requires_login),
      cmocka_unit_test(test_feed_of_a_new_user),
      cmocka_unit_test(test_feed_shows_own_and_followed_only),
      cmocka_unit_test(test_follow_and_unfollow_change_the_feed),
      cmocka_unit_test(test_feed_drops_deleted_tweets),
      cmocka_unit_test(test_feed_order_across_many_authors),
      cmocka_unit_test(test_feed_cursor_is_stable_under_inserts),
      cmocka_unit_test(test_feed_walk_while_others_post),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
