/*
 * test_sessions_ending.c - ending sessions (server/domain/sessions.h): a
 * logout (DELETE /api/login), "log out my other sessions" (DELETE
 * /api/me/sessions) and a password change (PUT /api/me/password), on
 * servers A and B.
 *
 * The guarantee checked for every session an ending ends: once the ending
 * is answered, every request with it is refused on both servers at once
 * (no sleep, and without the ending's causal token: a copied cookie alone)
 * on the routes that check the database, on the feed and the timeline
 * (whose session lookups the read model's cache may answer: both were
 * warmed with it first) and at the WebSocket upgrade; its WebSockets open
 * on A and on B are closed with 4401 (EVENT_CLOSE_SESSION_ENDED) within
 * 1 s of the answer and get nothing, not even a notification for their
 * user created right after it.  And for every session it does not end:
 * the same requests still succeed and its WebSocket still gets that
 * notification.  Ten logouts in a row, each checked at once on B: a
 * server whose cache answered until it applied the ending would be
 * caught in a window of a few milliseconds, which one round hits only
 * now and then and ten nearly always.
 *
 * A server stopped (SIGSTOP) while a logout is answered refuses the
 * session as soon as it runs again, and closes its WebSocket before
 * sending it anything.
 *
 * Also: the routes' errors; a wrong current password changes nothing; a
 * password change is rate limited like logins; a login with the old
 * password racing a password change never leaves a session behind, and
 * is refused after it (these on a server of the test's own, with its own
 * database, so that their failed logins count against nobody else).
 */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/client/harness.h"
#include "tests/client/testclient.h"
#include "tests/client/wsclient.h"

#define CLOSED_WITHIN_MS 1000
#define CLOSE_SESSION_ENDED 4401 /* EVENT_CLOSE_SESSION_ENDED */
#define WAIT_MS 5000
#define NEW_PASSWORD "a brand new passphrase"

/* One session of a user: its token and the Cookie header with it. */
typedef struct session {
  char token[64];
  char cookie[128];
} session_t;

static void session_of(tc_client_t *c, session_t *s) {
  tc_session_token(c, s->token, sizeof s->token);
  snprintf(s->cookie, sizeof s->cookie, "chorus_session=%s", s->token);
}

/* A new client of base logged in as name (a session of its own). */
static tc_client_t *login_on(const char *base, const char *name,
                             const char *password, session_t *s) {
  tc_client_t *c = tc_client_new(base);
  tc_response_t r;
  tc_login(c, name, password, &r);
  tc_assert_status(&r, 200);
  tc_response_free(&r);
  session_of(c, s);
  return c;
}

/* The status of method path on base with s's cookie alone: no causal
 * token (a copied cookie); the answer into *out when not NULL. */
static long send_as(const char *base, const session_t *s, const char *method,
                    const char *path, const char *body, tc_response_t *out) {
  tc_client_t *c = tc_client_with_session(base, s->token);
  tc_client_forget(c);
  tc_response_t r;
  tc_send(c, method, path, body, &r);
  long status = r.status;
  if (out) {
    *out = r;
  } else {
    tc_response_free(&r);
  }
  tc_client_destroy(c);
  return status;
}

static int upgrade_status(const char *base, const char *cookie) {
  char url[256];
  tc_ws_url(base, url, sizeof url);
  int status = 0;
  tc_ws_close(tc_ws_connect(url, cookie, &status));
  return status;
}

static tc_ws_t *ws_open(const char *base, const session_t *s) {
  char url[256];
  tc_ws_url(base, url, sizeof url);
  int status = 0;
  tc_ws_t *ws = tc_ws_connect(url, s->cookie, &status);
  if (!ws) {
    fail_msg("WebSocket upgrade to %s refused: HTTP %d", url, status);
  }
  return ws;
}

/* liked_by_me of tweet id on the first page of the timeline as s sees it
 * on base (the tweet must be there). */
static bool timeline_liked(const char *base, const session_t *s,
                           const char *id) {
  tc_response_t r;
  assert_int_equal(send_as(base, s, "GET", "/api/tweet", NULL, &r), 200);
  int i = tc_item_index(&r, id);
  assert_true(i >= 0);
  char path[32];
  snprintf(path, sizeof path, "items.%d.liked_by_me", i);
  bool liked = tc_json_bool(&r, path);
  tc_response_free(&r);
  return liked;
}

/* s works on base: the feed, the timeline (liked is a tweet s liked), the
 * routes that check the database, and the upgrade.  Run before an ending,
 * it also puts s into base's session cache. */
static void assert_accepted(const char *base, const session_t *s,
                            const char *liked) {
  assert_int_equal(send_as(base, s, "GET", "/api/feed", NULL, NULL), 200);
  assert_true(timeline_liked(base, s, liked));
  assert_int_equal(send_as(base, s, "GET", "/api/me", NULL, NULL), 200);
  assert_int_equal(send_as(base, s, "GET", "/api/notifications", NULL, NULL),
                   200);
  assert_int_equal(upgrade_status(base, s->cookie), 101);
}

/* s is logged out on base: the same requests, each refused (the timeline
 * answers as to someone logged out). */
static void assert_refused(const char *base, const session_t *s,
                           const char *liked) {
  tc_response_t r;
  assert_int_equal(send_as(base, s, "GET", "/api/feed", NULL, &r), 401);
  assert_string_equal(tc_json_str(&r, "error.code"), "not_logged_in");
  tc_response_free(&r);
  assert_false(timeline_liked(base, s, liked));
  assert_int_equal(send_as(base, s, "GET", "/api/me", NULL, NULL), 401);
  assert_int_equal(send_as(base, s, "GET", "/api/notifications", NULL, NULL),
                   401);
  assert_int_equal(
      send_as(base, s, "POST", "/api/tweet", "{\"text\":\"still here\"}", NULL),
      401);
  assert_int_equal(upgrade_status(base, s->cookie), 401);
}

/* ws was closed with 4401 within CLOSED_WITHIN_MS of answered_at (the
 * ending's answer) and received nothing at all. */
static void assert_ended(tc_ws_t *ws, int64_t answered_at) {
  int64_t left = CLOSED_WITHIN_MS - (tc_now_ms() - answered_at);
  int code = 0;
  if (!tc_ws_wait_closed(ws, left > 0 ? (int)left : 0, &code)) {
    fail_msg("a WebSocket of an ended session is still open %lld ms after "
             "the answer",
             (long long)(tc_now_ms() - answered_at));
  }
  assert_int_equal(code, CLOSE_SESSION_ENDED);
  char *m = tc_ws_recv(ws, 0);
  if (m) {
    fail_msg("a WebSocket of an ended session received %s", m);
  }
  tc_ws_close(ws);
}

/* ws is open and gets a notification (the one just created for its
 * user). */
static void assert_notified(tc_ws_t *ws) {
  for (;;) {
    bson_t *m = tc_ws_recv_json(ws, WAIT_MS);
    if (!m) {
      fail_msg("no notification within %d ms", WAIT_MS);
    }
    bool found = !strcmp(tc_bson_str(m, "type"), "notification");
    bson_destroy(m);
    if (found) {
      break;
    }
  }
  assert_false(tc_ws_is_closed(ws, NULL));
}

/* A user on A with one tweet it likes (*tweet), and another user on B
 * (*fan) who can notify it. */
static tc_client_t *user_with_tweet(const char *prefix, char name[31],
                                    session_t *s, char tweet[25],
                                    tc_client_t **fan) {
  tc_client_t *c = tc_new_user(tc_url_a(), prefix, name);
  session_of(c, s);
  tc_post_tweet(c, "a tweet I like", tweet);
  tc_like(c, tweet);
  char fan_name[31];
  *fan = tc_new_user(tc_url_b(), "fan", fan_name);
  return c;
}

/* fan's action that notifies name's user: a follow. */
static void notify(tc_client_t *fan, const char *name) { tc_follow(fan, name); }

static void test_logout_is_refused_everywhere_at_once(void **state) {
  (void)state;
  char name[31], tweet[25];
  session_t s;
  tc_client_t *fan;
  tc_client_t *c = user_with_tweet("endlo", name, &s, tweet, &fan);
  assert_accepted(tc_url_a(), &s, tweet);
  assert_accepted(tc_url_b(), &s, tweet);
  tc_ws_t *on_a = ws_open(tc_url_a(), &s);
  tc_ws_t *on_b = ws_open(tc_url_b(), &s);

  tc_expect_status(c, "DELETE", "/api/login", NULL, 200);
  int64_t answered_at = tc_now_ms();
  assert_refused(tc_url_b(), &s, tweet);
  assert_refused(tc_url_a(), &s, tweet);
  notify(fan, name);
  assert_ended(on_a, answered_at);
  assert_ended(on_b, answered_at);
  tc_client_destroy(fan);
  tc_client_destroy(c);
}

/* The window a cache answering until it applied the ending would leave
 * is milliseconds wide: a round hits it only now and then, ROUNDS of them
 * nearly always. */
#define ROUNDS 10

static void test_logouts_in_a_row_are_refused_at_once(void **state) {
  (void)state;
  char name[31], tweet[25];
  session_t first;
  tc_client_t *fan;
  tc_client_t *c = user_with_tweet("endrow", name, &first, tweet, &fan);
  int refused = 0;
  for (int i = 0; i < ROUNDS; i++) {
    session_t s;
    tc_client_t *round = login_on(tc_url_a(), name, TC_PASSWORD, &s);
    /* Cached on B, by the feed's lookup and by the upgrade's. */
    assert_int_equal(send_as(tc_url_b(), &s, "GET", "/api/feed", NULL, NULL),
                     200);
    assert_int_equal(upgrade_status(tc_url_b(), s.cookie), 101);
    tc_expect_status(round, "DELETE", "/api/login", NULL, 200);
    long feed = send_as(tc_url_b(), &s, "GET", "/api/feed", NULL, NULL);
    int upgrade = upgrade_status(tc_url_b(), s.cookie);
    if (feed != 401 || upgrade != 401) {
      fail_msg("round %d: right after the logout on A, B answered its feed "
               "%ld and its upgrade %d",
               i, feed, upgrade);
    }
    refused++;
    tc_client_destroy(round);
  }
  assert_int_equal(refused, ROUNDS);
  tc_client_destroy(fan);
  tc_client_destroy(c);
}

static void test_a_logout_leaves_the_other_sessions(void **state) {
  (void)state;
  char name[31], tweet[25];
  session_t s1, s2;
  tc_client_t *fan;
  tc_client_t *c1 = user_with_tweet("endkeep", name, &s1, tweet, &fan);
  tc_client_t *c2 = login_on(tc_url_b(), name, TC_PASSWORD, &s2);
  assert_accepted(tc_url_b(), &s1, tweet);
  assert_accepted(tc_url_b(), &s2, tweet);
  tc_ws_t *ws1 = ws_open(tc_url_b(), &s1);
  tc_ws_t *ws2 = ws_open(tc_url_a(), &s2);

  tc_expect_status(c1, "DELETE", "/api/login", NULL, 200);
  int64_t answered_at = tc_now_ms();
  assert_refused(tc_url_b(), &s1, tweet);
  assert_accepted(tc_url_b(), &s2, tweet);
  assert_accepted(tc_url_a(), &s2, tweet);
  notify(fan, name);
  assert_ended(ws1, answered_at);
  assert_notified(ws2);
  tc_ws_close(ws2);
  tc_client_destroy(fan);
  tc_client_destroy(c2);
  tc_client_destroy(c1);
}

static void test_logging_out_the_other_sessions(void **state) {
  (void)state;
  char name[31], tweet[25];
  session_t s1, s2, s3;
  tc_client_t *fan;
  tc_client_t *c1 = user_with_tweet("endoth", name, &s1, tweet, &fan);
  tc_client_t *c2 = login_on(tc_url_a(), name, TC_PASSWORD, &s2);
  tc_client_t *c3 = login_on(tc_url_b(), name, TC_PASSWORD, &s3);
  const session_t *all[] = {&s1, &s2, &s3};
  for (int i = 0; i < 3; i++) {
    assert_accepted(tc_url_a(), all[i], tweet);
    assert_accepted(tc_url_b(), all[i], tweet);
  }
  tc_ws_t *ws1 = ws_open(tc_url_b(), &s1);
  tc_ws_t *ws2 = ws_open(tc_url_a(), &s2);
  tc_ws_t *ws3 = ws_open(tc_url_b(), &s3);
  tc_ws_t *ws3a = ws_open(tc_url_a(), &s3);

  tc_expect_status(c1, "DELETE", "/api/me/sessions", NULL, 200);
  int64_t answered_at = tc_now_ms();
  for (int i = 1; i < 3; i++) {
    assert_refused(tc_url_b(), all[i], tweet);
    assert_refused(tc_url_a(), all[i], tweet);
  }
  assert_accepted(tc_url_b(), &s1, tweet);
  assert_accepted(tc_url_a(), &s1, tweet);
  notify(fan, name);
  assert_ended(ws2, answered_at);
  assert_ended(ws3, answered_at);
  assert_ended(ws3a, answered_at);
  assert_notified(ws1);
  tc_ws_close(ws1);

  /* Alone now: nothing more to end.  Logged out: 401. */
  tc_expect_status(c1, "DELETE", "/api/me/sessions", NULL, 200);
  tc_client_t *nobody = tc_client_new(tc_url_a());
  tc_expect_error(nobody, "DELETE", "/api/me/sessions", NULL, 401,
                  "not_logged_in");
  tc_expect_error(c2, "DELETE", "/api/me/sessions", NULL, 401, "not_logged_in");
  tc_client_destroy(nobody);
  tc_client_destroy(fan);
  tc_client_destroy(c3);
  tc_client_destroy(c2);
  tc_client_destroy(c1);
}

static void test_changing_the_password(void **state) {
  (void)state;
  char name[31], tweet[25];
  session_t s1, s2;
  tc_client_t *fan;
  tc_client_t *c1 = user_with_tweet("endpw", name, &s1, tweet, &fan);
  tc_client_t *c2 = login_on(tc_url_b(), name, TC_PASSWORD, &s2);
  assert_accepted(tc_url_a(), &s2, tweet);
  assert_accepted(tc_url_b(), &s2, tweet);
  tc_ws_t *ws1 = ws_open(tc_url_a(), &s1);
  tc_ws_t *ws2 = ws_open(tc_url_b(), &s2);
  tc_ws_t *ws2a = ws_open(tc_url_a(), &s2);

  /* What is refused changes nothing (a wrong current password, which
   * counts as a failed login, is on a server of the test's own below). */
  const char *path = "/api/me/password";
  tc_client_t *nobody = tc_client_new(tc_url_a());
  tc_expect_error(nobody, "PUT", path,
                  "{\"current_password\":\"" TC_PASSWORD
                  "\",\"new_password\":\"" NEW_PASSWORD "\"}",
                  401, "not_logged_in");
  tc_client_destroy(nobody);
  tc_expect_error(c1, "PUT", path,
                  "{\"current_password\":\"" TC_PASSWORD
                  "\",\"new_password\":\"short\"}",
                  400, "invalid_password");
  /* The rule of registration: no commonly used password, nor the
   * username itself. */
  tc_expect_error(c1, "PUT", path,
                  "{\"current_password\":\"" TC_PASSWORD
                  "\",\"new_password\":\"Password123\"}",
                  400, "weak_password");
  char body[160];
  snprintf(body, sizeof body,
           "{\"current_password\":\"" TC_PASSWORD
           "\",\"new_password\":\"%s2024!\"}",
           name);
  tc_expect_error(c1, "PUT", path, body, 400, "weak_password");
  tc_expect_error(c1, "PUT", path, "{\"current_password\":\"" TC_PASSWORD "\"}",
                  400, "missing_field");
  tc_expect_error(c1, "PUT", path,
                  "{\"current_password\":\"" TC_PASSWORD
                  "\",\"new_password\":{\"$gt\":\"\"}}",
                  400, "invalid_type");
  assert_accepted(tc_url_b(), &s2, tweet);

  tc_expect_status(c1, "PUT", path,
                   "{\"current_password\":\"" TC_PASSWORD
                   "\",\"new_password\":\"" NEW_PASSWORD "\"}",
                   200);
  int64_t answered_at = tc_now_ms();
  assert_refused(tc_url_b(), &s2, tweet);
  assert_refused(tc_url_a(), &s2, tweet);
  assert_accepted(tc_url_b(), &s1, tweet); /* the changing session stays */
  notify(fan, name);
  assert_ended(ws2, answered_at);
  assert_ended(ws2a, answered_at);
  assert_notified(ws1);
  tc_ws_close(ws1);

  /* The new password logs in (the old one: on a server of the test's
   * own, below). */
  session_t s3;
  tc_client_destroy(login_on(tc_url_b(), name, NEW_PASSWORD, &s3));
  tc_client_destroy(fan);
  tc_client_destroy(c2);
  tc_client_destroy(c1);
}

/* An upgrade sent from a thread of its own (no cmocka assertion runs
 * there): its HTTP status. */
typedef struct upgrader {
  const char *base;
  const char *cookie;
  int status;
} upgrader_t;

static void *upgrade_main(void *arg) {
  upgrader_t *u = arg;
  u->status = upgrade_status(u->base, u->cookie);
  return NULL;
}

/* A server that was stopped (SIGSTOP: alive, but it ran nothing) while a
 * logout was answered: the logout did not wait for it, and once it runs
 * again it refuses the session at once, even to an upgrade that was
 * waiting in its socket's queue and that its cache answered before (its
 * last poll is too old for the cache to answer), and closes the
 * session's open WebSocket before sending it anything the logout
 * preceded. */
static tc_server_t stuck; /* the teardown stops it after a failure */

static int stuck_stop(void **state) {
  (void)state;
  if (stuck.pid) {
    kill(stuck.pid, SIGCONT);
    tc_server_kill(&stuck, SIGTERM);
  }
  return 0;
}

static void test_a_stopped_server_refuses_once_it_runs_again(void **state) {
  (void)state;
  tc_server_init(&stuck, "end-stuck", getenv("CHORUS_TEST_DB"));
  assert_true(tc_server_start(&stuck));
  char name[31], tweet[25];
  session_t s;
  tc_client_t *fan;
  tc_client_t *c = user_with_tweet("endstop", name, &s, tweet, &fan);
  assert_accepted(stuck.url, &s, tweet);
  tc_ws_t *ws = ws_open(stuck.url, &s);

  assert_int_equal(kill(stuck.pid, SIGSTOP), 0);
  tc_expect_status(c, "DELETE", "/api/login", NULL, 200);
  notify(fan, name);
  /* Upgrades waiting in the stopped server's queue: the first ones it
   * handles once it runs again come before its poller's next probe (which
   * asks the database) has applied the logout. */
  enum { UPGRADES = 8 };
  upgrader_t u[UPGRADES];
  pthread_t threads[UPGRADES];
  for (int i = 0; i < UPGRADES; i++) {
    u[i] = (upgrader_t){stuck.url, s.cookie, 0};
    pthread_create(&threads[i], NULL, upgrade_main, &u[i]);
  }
  tc_sleep_ms(200);
  int64_t resumed_at = tc_now_ms();
  assert_int_equal(kill(stuck.pid, SIGCONT), 0);
  for (int i = 0; i < UPGRADES; i++) {
    pthread_join(threads[i], NULL);
  }
  for (int i = 0; i < UPGRADES; i++) {
    assert_int_equal(u[i].status, 401);
  }
  assert_refused(stuck.url, &s, tweet);
  assert_ended(ws, resumed_at);
  tc_server_kill(&stuck, SIGTERM);
  tc_client_destroy(fan);
  tc_client_destroy(c);
}

/* ---- on a server of the test's own ---- */

static tc_server_t own; /* static: the teardown stops it after a failure */

static int own_start(void **state) {
  (void)state;
  char db[64];
  snprintf(db, sizeof db, "sessions_ending_%d", (int)getpid());
  tc_server_init(&own, "end", db);
  snprintf(own.extra, sizeof own.extra,
           "--login-limit-user 4 --login-limit-address 1000");
  return tc_server_start(&own) ? 0 : -1;
}

static int own_stop(void **state) {
  (void)state;
  if (own.pid) {
    tc_server_kill(&own, SIGTERM);
  }
  return 0;
}

static void test_a_password_change_is_rate_limited(void **state) {
  (void)state;
  char name[31];
  tc_client_t *c = tc_new_user(own.url, "endrl", name);
  const char *wrong = "{\"current_password\":\"not the password\","
                      "\"new_password\":\"" NEW_PASSWORD "\"}";
  for (int i = 0; i < 4; i++) {
    tc_expect_error(c, "PUT", "/api/me/password", wrong, 403, "wrong_password");
  }
  /* The account's username is blocked, right password or not, here and
   * at the login. */
  tc_response_t r;
  tc_send(c, "PUT", "/api/me/password",
          "{\"current_password\":\"" TC_PASSWORD
          "\",\"new_password\":\"" NEW_PASSWORD "\"}",
          &r);
  tc_assert_error(&r, 429, "rate_limited");
  char retry[16];
  assert_true(tc_header(&r, "Retry-After", retry, sizeof retry));
  assert_true(atoi(retry) > 0);
  tc_response_free(&r);
  tc_client_t *other = tc_client_new(own.url);
  tc_login(other, name, TC_PASSWORD, &r);
  tc_assert_error(&r, 429, "rate_limited");
  tc_response_free(&r);
  tc_client_destroy(other);
  tc_expect_status(c, "GET", "/api/me", NULL, 200);
  tc_client_destroy(c);
}

static void test_a_wrong_current_password_changes_nothing(void **state) {
  (void)state;
  char name[31];
  session_t s1, s2;
  tc_client_t *c1 = tc_new_user(own.url, "endwrong", name);
  session_of(c1, &s1);
  tc_client_t *c2 = login_on(own.url, name, TC_PASSWORD, &s2);
  tc_expect_error(c1, "PUT", "/api/me/password",
                  "{\"current_password\":\"not the password\","
                  "\"new_password\":\"" NEW_PASSWORD "\"}",
                  403, "wrong_password");
  tc_expect_status(c2, "GET", "/api/me", NULL, 200);
  tc_client_destroy(login_on(own.url, name, TC_PASSWORD, &s2));
  tc_client_destroy(c2);
  tc_client_destroy(c1);
}

/* A thread logging in with the old password until it is refused: the
 * tokens of the logins that succeeded. */
#define RACE_LOGINS 64
typedef struct racer {
  const char *name;
  char tokens[RACE_LOGINS][64];
  int n;
  long last; /* the status that stopped it */
} racer_t;

static void *racer_main(void *arg) {
  racer_t *r = arg;
  char *body = tc_credentials_json(r->name, TC_PASSWORD);
  while (r->n < RACE_LOGINS) {
    tc_client_t *c = tc_client_new(own.url);
    tc_response_t resp; /* no cmocka assertion may run in a thread */
    tc_try_request(c, "POST", "/api/login", body, strlen(body), NULL, &resp);
    r->last = resp.status;
    bool ok = resp.status == 200 &&
              tc_cookie(c, "chorus_session", r->tokens[r->n], 64);
    tc_response_free(&resp);
    tc_client_destroy(c);
    if (!ok) {
      break;
    }
    r->n++;
  }
  bson_free(body);
  return NULL;
}

static void test_a_login_racing_a_password_change_leaves_nothing(void **state) {
  (void)state;
  enum { RACERS = 3 };
  char name[31];
  tc_client_t *c = tc_new_user(own.url, "endrace", name);
  racer_t racers[RACERS];
  pthread_t threads[RACERS];
  for (int i = 0; i < RACERS; i++) {
    memset(&racers[i], 0, sizeof racers[i]);
    racers[i].name = name;
    pthread_create(&threads[i], NULL, racer_main, &racers[i]);
  }
  tc_sleep_ms(300); /* logins under way */
  tc_expect_status(c, "PUT", "/api/me/password",
                   "{\"current_password\":\"" TC_PASSWORD
                   "\",\"new_password\":\"" NEW_PASSWORD "\"}",
                   200);
  int logins = 0;
  for (int i = 0; i < RACERS; i++) {
    pthread_join(threads[i], NULL);
    assert_int_equal(racers[i].last, 401); /* stopped by the new password */
    logins += racers[i].n;
  }
  /* Every session an old-password login got is gone. */
  for (int i = 0; i < RACERS; i++) {
    for (int k = 0; k < racers[i].n; k++) {
      tc_client_t *old = tc_client_with_session(own.url, racers[i].tokens[k]);
      tc_expect_status(old, "GET", "/api/me", NULL, 401);
      tc_client_destroy(old);
    }
  }
  printf("# %d logins with the old password, none left a session\n", logins);
  tc_expect_status(c, "GET", "/api/me", NULL, 200);
  session_t s;
  tc_client_destroy(login_on(own.url, name, NEW_PASSWORD, &s));
  tc_client_destroy(c);
}

int main(void) {
  const struct CMUnitTest shared[] = {
      cmocka_unit_test(test_logout_is_refused_everywhere_at_once),
      cmocka_unit_test(test_logouts_in_a_row_are_refused_at_once),
      cmocka_unit_test(test_a_logout_leaves_the_other_sessions),
      cmocka_unit_test(test_logging_out_the_other_sessions),
      cmocka_unit_test(test_changing_the_password),
      cmocka_unit_test(test_a_stopped_server_refuses_once_it_runs_again),
  };
  const struct CMUnitTest own_server[] = {
      cmocka_unit_test(test_a_wrong_current_password_changes_nothing),
      cmocka_unit_test(test_a_password_change_is_rate_limited),
      cmocka_unit_test(test_a_login_racing_a_password_change_leaves_nothing),
  };
  int failed = cmocka_run_group_tests_name("A and B", shared, NULL, stuck_stop);
  failed += cmocka_run_group_tests_name("a server of its own", own_server,
                                        own_start, own_stop);
  return failed;
}
