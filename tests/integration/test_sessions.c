/*
 * test_sessions.c - the one session resolver (server/readmodel/reads.h,
 * reads_session) seen from outside, for HTTP and WebSocket alike, on
 * servers A and B and servers of the test's own.
 *
 * Covers: a session ended on A is refused at once by B's HTTP routes that
 * check the database, and at B's and A's WebSocket upgrades (which use
 * the read model's session cache without waiting for the event log),
 * even right after the same token was accepted there (so it was cached):
 * the logout answers only once every server has applied its event or
 * asks the database (docs/READMODEL.md 6b; test_sessions_ending.c covers
 * every route and open WebSockets);
 * a server started with --read-model 0 has no cache and accepts, then
 * refuses, an upgrade by asking the database each time; a malformed or
 * unknown token is refused everywhere.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/client/harness.h"
#include "tests/client/testclient.h"
#include "tests/client/wsclient.h"

/* The HTTP status of an upgrade to base's WebSocket with cookie (101
 * when accepted; the connection is then closed again). */
static int upgrade(const char *base, const char *cookie) {
  char url[256];
  tc_ws_url(base, url, sizeof url);
  int status = 0;
  tc_ws_t *ws = tc_ws_connect(url, cookie, &status);
  tc_ws_close(ws);
  return status;
}

/* A fresh user on base; its session cookie ("chorus_session=...") into
 * cookie. */
static tc_client_t *user_with_cookie(const char *base, char *cookie,
                                     size_t size) {
  char name[31], token[100];
  tc_client_t *c = tc_new_user(base, "ses", name);
  assert_true(tc_cookie(c, "chorus_session", token, sizeof token));
  snprintf(cookie, size, "chorus_session=%s", token);
  return c;
}

static void logout(tc_client_t *c) {
  tc_response_t r;
  tc_send(c, "DELETE", "/api/login", NULL, &r);
  tc_assert_status(&r, 200);
  tc_response_free(&r);
}

static void test_session_ended_elsewhere_is_refused_everywhere(void **state) {
  (void)state;
  char cookie[160];
  tc_client_t *a = user_with_cookie(tc_url_a(), cookie, sizeof cookie);
  /* Accepted on both (and so cached by both read models). */
  assert_int_equal(upgrade(tc_url_b(), cookie), 101);
  assert_int_equal(upgrade(tc_url_a(), cookie), 101);
  char token[100];
  assert_true(tc_cookie(a, "chorus_session", token, sizeof token));

  logout(a);

  /* B's routes that check the database refuse it at once. */
  tc_client_t *b = tc_client_new(tc_url_b());
  tc_set_cookie(b, "chorus_session", token);
  tc_response_t r;
  tc_get(b, "/api/me", &r);
  tc_assert_status(&r, 401);
  tc_response_free(&r);
  /* And the upgrades, at once. */
  assert_int_equal(upgrade(tc_url_b(), cookie), 401);
  assert_int_equal(upgrade(tc_url_a(), cookie), 401);
  tc_client_destroy(b);
  tc_client_destroy(a);
}

static void test_without_read_model_upgrades_ask_the_database(void **state) {
  (void)state;
  tc_server_t plain;
  tc_server_init(&plain, "ses-no-model", getenv("CHORUS_TEST_DB"));
  snprintf(plain.extra, sizeof plain.extra, "--read-model 0");
  assert_true(tc_server_start(&plain));
  char cookie[160];
  tc_client_t *a = user_with_cookie(tc_url_a(), cookie, sizeof cookie);
  assert_int_equal(upgrade(plain.url, cookie), 101);
  logout(a);
  /* No cache: the very next upgrade asks the database. */
  assert_int_equal(upgrade(plain.url, cookie), 401);
  assert_int_equal(upgrade(plain.url, NULL), 401);
  tc_client_destroy(a);
  tc_server_kill(&plain, SIGTERM);
}

static void test_malformed_and_unknown_tokens_are_refused(void **state) {
  (void)state;
  static const char *const cookies[] = {
      "chorus_session=",
      "chorus_session=short",
      "chorus_session=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
      "chorus_session=!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!",
      "other=1",
  };
  for (size_t i = 0; i < sizeof cookies / sizeof cookies[0]; i++) {
    assert_int_equal(upgrade(tc_url_a(), cookies[i]), 401);
    assert_int_equal(upgrade(tc_url_b(), cookies[i]), 401);
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_session_ended_elsewhere_is_refused_everywhere),
      cmocka_unit_test(test_without_read_model_upgrades_ask_the_database),
      cmocka_unit_test(test_malformed_and_unknown_tokens_are_refused),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
