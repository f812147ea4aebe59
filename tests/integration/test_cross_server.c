/*
 * test_cross_server.c - two servers, one database: whatever happens on one
 * server is what the other serves.  Accounts, sessions and tweets made on
 * A are seen on B and the other way round, and a username raced on both
 * at once is given to exactly one account.
 */
#include <stdio.h>
#include <string.h>

#include "tests/client/testclient.h"

/* Whether page r holds tweet id, with this text. */
static bool page_has(const tc_response_t *r, const char *id, const char *text) {
  int i = tc_item_index(r, id);
  return i >= 0 && !strcmp(tc_item_str(r, i, "text"), text);
}

static void test_register_on_a_login_on_b(void **state) {
  (void)state;
  char name[31];
  tc_client_t *a = tc_new_user(tc_url_a(), "xs", name);
  tc_client_t *b = tc_client_new(tc_url_b());
  tc_response_t r;
  tc_login(b, name, TC_PASSWORD, &r);
  tc_assert_status(&r, 200);
  assert_string_equal(tc_json_str(&r, "username"), name);
  tc_response_free(&r);
  tc_client_destroy(b);
  tc_client_destroy(a);
}

static void test_session_from_a_works_on_b(void **state) {
  (void)state;
  char name[31], token[128];
  tc_client_t *a = tc_new_user(tc_url_a(), "xs", name);
  tc_session_token(a, token, sizeof token);

  tc_client_t *b = tc_client_with_session(tc_url_b(), token);
  tc_response_t r;
  tc_get_ok(b, "/api/me", &r);
  assert_string_equal(tc_json_str(&r, "username"), name);
  char server[64];
  assert_true(tc_header(&r, "X-Chorus-Server", server, sizeof server));
  tc_response_free(&r);

  /* Logging out on B ends the session on A too. */
  tc_expect_status(b, "DELETE", "/api/login", NULL, 200);
  tc_expect_error(a, "GET", "/api/me", NULL, 401, "not_logged_in");
  tc_client_destroy(b);
  tc_client_destroy(a);
}

static void test_tweet_on_a_edit_on_b(void **state) {
  (void)state;
  char name[31], id[25], path[64];
  tc_client_t *a = tc_new_user(tc_url_a(), "xs", name);
  tc_post_tweet(a, "written on A", id);

  /* The same browser on B (one cookie jar: the session and the causal
   * token of A's answer), so the write is there at once whatever
   * --read-staleness-ms is; other users' reads are bounded by it
   * (test_model_race). */
  tc_client_t *b = tc_same_user_on(a, tc_url_b());
  tc_response_t r;
  tc_get_ok(b, "/api/tweet?limit=20", &r);
  assert_true(page_has(&r, id, "written on A"));
  tc_response_free(&r);

  snprintf(path, sizeof path, "/api/tweet/%s", id);
  tc_expect_status(b, "PUT", path, "{\"text\":\"edited on B\"}", 200);

  tc_get(a, "/api/tweet?limit=20", &r);
  assert_true(page_has(&r, id, "edited on B"));
  tc_response_free(&r);
  tc_client_destroy(b);
  tc_client_destroy(a);
}

/* The causal token: every successful write's answer sets chorus_seen to
 * an event number at least that of its own events; reads never set it;
 * a failed write does not; a token that is not a number is ignored and a
 * token from the future only makes the read wait for a fresh poll. */
static void test_write_answers_carry_the_token(void **state) {
  (void)state;
  char name[31], id[25], cookie[160];
  tc_client_t *a = tc_new_user(tc_url_a(), "xt", name);
  tc_response_t r;
  tc_send(a, "POST", "/api/tweet", "{\"text\":\"token\"}", &r);
  tc_assert_status(&r, 201);
  assert_true(tc_header(&r, "Set-Cookie", cookie, sizeof cookie));
  long long first = 0;
  assert_int_equal(sscanf(cookie, "chorus_seen=%lld;", &first), 1);
  assert_true(first > 0);
  assert_non_null(strstr(cookie, "; Path=/; Max-Age=60; SameSite=Lax"));
  bson_strncpy(id, tc_json_str(&r, "id"), sizeof id);
  tc_response_free(&r);

  tc_client_t *b = tc_same_user_on(a, tc_url_b());
  tc_client_forget(b); /* it sends what its jar holds, bogus ones too */
  tc_send(b, "POST", "/api/tweet", "{\"text\":\"token on B\"}", &r);
  tc_assert_status(&r, 201);
  long long second = 0;
  assert_true(tc_header(&r, "Set-Cookie", cookie, sizeof cookie));
  assert_int_equal(sscanf(cookie, "chorus_seen=%lld;", &second), 1);
  assert_true(second > first);
  tc_response_free(&r);

  tc_get_ok(b, "/api/feed", &r);
  assert_false(tc_header(&r, "Set-Cookie", cookie, sizeof cookie));
  tc_response_free(&r);
  tc_send(b, "POST", "/api/tweet", "{\"text\":\"\"}", &r);
  tc_assert_status(&r, 400);
  assert_false(tc_header(&r, "Set-Cookie", cookie, sizeof cookie));
  tc_response_free(&r);

  static const char *const bogus[] = {
      "abc", "-5", "0", "12x", "99999999999999999999", "9223372036854775807"};
  for (size_t i = 0; i < sizeof bogus / sizeof *bogus; i++) {
    tc_set_cookie(b, "chorus_seen", bogus[i]);
    tc_get_ok(b, "/api/tweet?limit=5", &r);
    assert_true(page_has(&r, id, "token"));
    tc_response_free(&r);
  }
  tc_client_destroy(b);
  tc_client_destroy(a);
}

static void test_username_race_across_servers(void **state) {
  (void)state;
  for (int round = 0; round < 5; round++) {
    char name[31];
    tc_unique_name("race", name);
    char *body = tc_credentials_json(name, TC_PASSWORD);
    tc_racer_t races[4];
    for (int i = 0; i < 4; i++) {
      races[i] = (tc_racer_t){.base = i % 2 ? tc_url_b() : tc_url_a(),
                              .method = "POST",
                              .path = "/api/register",
                              .body = body,
                              .want = 201};
    }
    tc_race(races, 4);
    int created = 0, taken = 0;
    for (int i = 0; i < 4; i++) {
      created += races[i].status == 201;
      taken += races[i].status == 409;
    }
    bson_free(body);
    assert_int_equal(created, 1);
    assert_int_equal(taken, 3);
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_register_on_a_login_on_b),
      cmocka_unit_test(test_session_from_a_works_on_b),
      cmocka_unit_test(test_tweet_on_a_edit_on_b),
      cmocka_unit_test(test_write_answers_carry_the_token),
      cmocka_unit_test(test_username_race_across_servers),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
