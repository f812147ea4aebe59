/*
 * test_social_notifications.c - GET /api/notifications and POST
 * /api/notifications/read (docs/API.md): a follow, a like and a reply
 * notify their target (never oneself), newest first, with "unread";
 * taking one back and doing it again notifies once, and leaves the
 * notification read or unread, where it was;
 * reading marks everything up to now and later ones are unread again;
 * per user, on both servers, paginated, logged in only.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/client/harness.h"
#include "tests/client/testclient.h"

/* A reply to parent as c's user, its id into id. */
static void reply(tc_client_t *c, const char *parent, char id[25]) {
  tc_post_reply(c, "a reply", parent, id);
}

static void mark_read(tc_client_t *c) {
  tc_response_t r;
  tc_post_empty(c, "/api/notifications/read", &r);
  tc_assert_status(&r, 200);
  assert_true(tc_json_bool(&r, "ok"));
  assert_int_equal(tc_json_int(&r, "unread"), 0);
  tc_response_free(&r);
}

typedef struct expected {
  const char *type;
  const char *actor;
  const char *tweet; /* NULL: null */
  bool read;
} expected_t;

/* GET /api/notifications[?extra] and checks items and unread exactly. */
static void assert_notifications(tc_client_t *c, const char *query,
                                 const expected_t *items, int n,
                                 int64_t unread) {
  char path[256];
  snprintf(path, sizeof path, "/api/notifications%s", query ? query : "");
  tc_response_t r;
  tc_get_ok(c, path, &r);
  int len = tc_json_array_len(&r, "items");
  if (len != n || tc_json_int(&r, "unread") != unread) {
    print_error("GET %s: expected %d items and unread %lld; got %s\n", path, n,
                (long long)unread, r.body);
  }
  assert_int_equal(len, n);
  assert_int_equal(tc_json_int(&r, "unread"), unread);
  for (int i = 0; i < n; i++) {
    const char *type = tc_item_str(&r, i, "type");
    const char *actor = tc_item_str(&r, i, "actor.username");
    if (!type || strcmp(type, items[i].type) || !actor ||
        strcmp(actor, items[i].actor)) {
      print_error("item %d: expected %s by %s; got %s\n", i, items[i].type,
                  items[i].actor, r.body);
    }
    assert_string_equal(type, items[i].type);
    assert_string_equal(actor, items[i].actor);
    assert_non_null(tc_item_str(&r, i, "actor.display_name"));
    if (items[i].tweet) {
      assert_non_null(tc_item_str(&r, i, "tweet"));
      assert_string_equal(tc_item_str(&r, i, "tweet"), items[i].tweet);
    } else {
      assert_true(tc_item_is_null(&r, i, "tweet"));
    }
    assert_int_equal(tc_item_bool(&r, i, "read"), items[i].read);
    assert_non_null(tc_item_str(&r, i, "id"));
    assert_int_equal(strlen(tc_item_str(&r, i, "id")), 24);
    assert_true(tc_is_rfc3339(tc_item_str(&r, i, "created_at")));
  }
  tc_response_free(&r);
}

static void test_notifications_require_login(void **state) {
  (void)state;
  tc_client_t *anon = tc_client_new(tc_url_a());
  tc_expect_error(anon, "GET", "/api/notifications", NULL, 401,
                  "not_logged_in");
  tc_expect_error(anon, "POST", "/api/notifications/read", "", 401,
                  "not_logged_in");
  tc_set_cookie(anon, "chorus_session", "made-up-session");
  tc_expect_error(anon, "GET", "/api/notifications", NULL, 401,
                  "not_logged_in");
  tc_client_destroy(anon);
}

static void test_new_user_has_none(void **state) {
  (void)state;
  char me[31];
  tc_client_t *c = tc_new_user(tc_url_a(), "ntfnew", me);
  assert_notifications(c, NULL, NULL, 0, 0);
  tc_response_t r;
  tc_get(c, "/api/notifications", &r);
  assert_true(tc_json_is_null(&r, "next"));
  tc_response_free(&r);
  tc_client_destroy(c);
}

static void test_follow_like_reply_notify_the_target(void **state) {
  (void)state;
  char a[31], b[31], c3[31], t[25], rep[25];
  tc_client_t *ca = tc_new_user(tc_url_a(), "ntf", a);
  tc_client_t *cb = tc_new_user(tc_url_b(), "ntfb", b);
  tc_client_t *cc = tc_new_user(tc_url_b(), "ntfc", c3);
  tc_post_tweet(ca, "notify me", t);
  tc_follow(cb, a);
  tc_like(cb, t);
  reply(cc, t, rep);
  const expected_t want[] = {
      {"reply", c3, rep, false},
      {"like", b, t, false},
      {"follow", b, NULL, false},
  };
  assert_notifications(ca, NULL, want, 3, 3);
  tc_client_t *ca_b = tc_same_user_on(ca, tc_url_b());
  assert_notifications(ca_b, NULL, want, 3, 3);
  /* The actors were not notified of anything. */
  assert_notifications(cb, NULL, NULL, 0, 0);
  assert_notifications(cc, NULL, NULL, 0, 0);

  /* A reply to the reply notifies the replier, not the first author. */
  char rep2[25];
  reply(ca, rep, rep2);
  const expected_t for_c[] = {{"reply", a, rep2, false}};
  assert_notifications(cc, NULL, for_c, 1, 1);
  assert_notifications(ca, NULL, want, 3, 3);
  tc_client_destroy(ca_b);
  tc_client_destroy(cc);
  tc_client_destroy(cb);
  tc_client_destroy(ca);
}

static void test_own_actions_notify_nobody(void **state) {
  (void)state;
  char a[31], t[25], rep[25];
  tc_client_t *ca = tc_new_user(tc_url_a(), "ntfself", a);
  tc_post_tweet(ca, "talking to myself", t);
  tc_like(ca, t);
  reply(ca, t, rep);
  tc_like(ca, rep);
  char path[256];
  snprintf(path, sizeof path, "/api/users/%s/follow", a);
  tc_expect_error(ca, "POST", path, "", 400, "cannot_follow_self");
  assert_notifications(ca, NULL, NULL, 0, 0);
  tc_client_destroy(ca);
}

static void test_repeated_actions_notify_once(void **state) {
  (void)state;
  char a[31], b[31], t[25];
  tc_client_t *ca = tc_new_user(tc_url_a(), "ntfidem", a);
  tc_client_t *cb = tc_new_user(tc_url_b(), "ntfidemb", b);
  tc_post_tweet(ca, "once is enough", t);
  tc_follow(cb, a);
  tc_follow(cb, a); /* idempotent: nothing new happened */
  tc_like(cb, t);
  tc_like(cb, t);
  const expected_t want[] = {{"like", b, t, false}, {"follow", b, NULL, false}};
  assert_notifications(ca, NULL, want, 2, 2);
  tc_client_destroy(cb);
  tc_client_destroy(ca);
}

/* DELETE /api/tweet/<id>/like as c, asserting 200. */
static void unlike(tc_client_t *c, const char *id) {
  tc_response_t r;
  tc_send_like(c, "DELETE", id, &r);
  tc_assert_status(&r, 200);
  tc_response_free(&r);
}

/* Taking an action back and doing it again notifies once: the
 * notification the first one made stays, unread or read as it was, in
 * its place; 40 follow toggles (20 follows) still make one. */
static void test_undone_and_redone_actions_notify_once(void **state) {
  (void)state;
  char a[31], b[31], d[31], t[25];
  tc_client_t *ca = tc_new_user(tc_url_a(), "ntfredo", a);
  tc_client_t *cb = tc_new_user(tc_url_b(), "ntfredob", b);
  tc_client_t *cb_a = tc_same_user_on(cb, tc_url_a());
  tc_client_t *cd = tc_new_user(tc_url_b(), "ntfredod", d);
  tc_post_tweet(ca, "toggle me", t);
  tc_like(cb, t);
  unlike(cb_a, t);
  tc_like(cb_a, t); /* like, unlike, like: one like */
  tc_follow(cb, a);
  tc_unfollow(cb_a, a);
  tc_follow(cb, a); /* follow, unfollow, follow: one follow */
  const expected_t once[] = {{"follow", b, NULL, false}, {"like", b, t, false}};
  assert_notifications(ca, NULL, once, 2, 2);

  /* Read, then toggled again and again on both servers: still the same
   * two, still read, under a newer one. */
  mark_read(ca);
  tc_follow(cd, a);
  for (int i = 0; i < 20; i++) {
    tc_unfollow(i % 2 ? cb : cb_a, a);
    tc_follow(i % 2 ? cb_a : cb, a);
  }
  unlike(cb, t);
  tc_like(cb_a, t);
  const expected_t still[] = {{"follow", d, NULL, false},
                              {"follow", b, NULL, true},
                              {"like", b, t, true}};
  assert_notifications(ca, NULL, still, 3, 1);
  tc_client_destroy(cd);
  tc_client_destroy(cb_a);
  tc_client_destroy(cb);
  tc_client_destroy(ca);
}

static void test_read_marks_everything_up_to_now(void **state) {
  (void)state;
  char a[31], b[31], d[31], t[25];
  tc_client_t *ca = tc_new_user(tc_url_a(), "ntfread", a);
  tc_client_t *cb = tc_new_user(tc_url_b(), "ntfreadb", b);
  tc_client_t *cd = tc_new_user(tc_url_a(), "ntfreadd", d);
  tc_post_tweet(ca, "read me", t);
  tc_follow(cb, a);
  tc_like(cb, t);
  const expected_t unread2[] = {{"like", b, t, false},
                                {"follow", b, NULL, false}};
  assert_notifications(ca, NULL, unread2, 2, 2);

  tc_client_t *ca_b = tc_same_user_on(ca, tc_url_b());
  mark_read(ca_b);
  const expected_t read2[] = {{"like", b, t, true}, {"follow", b, NULL, true}};
  assert_notifications(ca, NULL, read2, 2, 0);
  assert_notifications(ca_b, NULL, read2, 2, 0);

  /* Newer ones are unread; the older stay read. */
  tc_like(cd, t);
  tc_follow(cd, a);
  const expected_t mixed[] = {{"follow", d, NULL, false},
                              {"like", d, t, false},
                              {"like", b, t, true},
                              {"follow", b, NULL, true}};
  assert_notifications(ca_b, NULL, mixed, 4, 2);
  mark_read(ca);
  mark_read(ca); /* again: still fine */
  const expected_t all_read[] = {{"follow", d, NULL, true},
                                 {"like", d, t, true},
                                 {"like", b, t, true},
                                 {"follow", b, NULL, true}};
  assert_notifications(ca, NULL, all_read, 4, 0);

  /* Reading is per user: someone else's read marks nothing of a's. */
  char e[31];
  tc_client_t *ce = tc_new_user(tc_url_b(), "ntfreade", e);
  tc_follow(ce, a);
  mark_read(cb);
  const expected_t one_new[] = {{"follow", e, NULL, false}};
  assert_notifications(ca, "?limit=1", one_new, 1, 1);
  tc_client_destroy(ce);
  tc_client_destroy(ca_b);
  tc_client_destroy(cd);
  tc_client_destroy(cb);
  tc_client_destroy(ca);
}

static void test_notifications_in_pages(void **state) {
  (void)state;
  enum { N = 5 };
  char a[31], fans[N][31];
  tc_client_t *ca = tc_new_user(tc_url_a(), "ntfpage", a);
  for (int i = 0; i < N; i++) {
    tc_client_t *f =
        tc_new_user(i % 2 ? tc_url_b() : tc_url_a(), "ntfpagef", fans[i]);
    tc_follow(f, a);
    tc_client_destroy(f);
  }
  char seen[N + 2][31];
  int n = 0;
  char path[256];
  snprintf(path, sizeof path, "/api/notifications?limit=2");
  for (int page = 0;; page++) {
    tc_response_t r;
    tc_get_ok(ca, path, &r);
    /* unread counts all of them, the late one too once it exists. */
    assert_int_equal(tc_json_int(&r, "unread"), page == 0 ? N : N + 1);
    int len = tc_json_array_len(&r, "items");
    assert_true(len >= 0 && len <= 2);
    for (int i = 0; i < len; i++) {
      assert_true(n < N + 2);
      bson_strncpy(seen[n++], tc_item_str(&r, i, "actor.username"), 31);
    }
    bool more = !tc_json_is_null(&r, "next");
    if (more) {
      snprintf(path, sizeof path, "/api/notifications?limit=2&before=%s",
               tc_json_str(&r, "next"));
    }
    tc_response_free(&r);
    if (!more) {
      break;
    }
    if (page == 0) {
      /* A newer one between pages does not shift the next page. */
      char late[31];
      tc_client_t *f = tc_new_user(tc_url_b(), "ntflate", late);
      tc_follow(f, a);
      tc_client_destroy(f);
    }
  }
  assert_int_equal(n, N);
  for (int i = 0; i < N; i++) {
    assert_string_equal(seen[i], fans[N - 1 - i]);
  }
  tc_expect_paging_errors(ca, "/api/notifications", "%25");
  tc_client_destroy(ca);
}

static void test_actor_shows_current_display_name(void **state) {
  (void)state;
  char a[31], b[31];
  tc_client_t *ca = tc_new_user(tc_url_a(), "ntfdn", a);
  tc_client_t *cb = tc_new_user(tc_url_b(), "ntfdnb", b);
  tc_follow(cb, a);
  tc_response_t r;
  tc_expect_status(cb, "PATCH", "/api/me", "{\"display_name\":\"Bee Renamed\"}",
                   200);
  tc_get_ok(ca, "/api/notifications", &r);
  assert_string_equal(tc_json_str(&r, "items.0.actor.username"), b);
  assert_string_equal(tc_json_str(&r, "items.0.actor.display_name"),
                      "Bee Renamed");
  tc_response_free(&r);
  tc_client_destroy(cb);
  tc_client_destroy(ca);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_notifications_require_login),
      cmocka_unit_test(test_new_user_has_none),
      cmocka_unit_test(test_follow_like_reply_notify_the_target),
      cmocka_unit_test(test_own_actions_notify_nobody),
      cmocka_unit_test(test_repeated_actions_notify_once),
      cmocka_unit_test(test_undone_and_redone_actions_notify_once),
      cmocka_unit_test(test_read_marks_everything_up_to_now),
      cmocka_unit_test(test_notifications_in_pages),
      cmocka_unit_test(test_actor_shows_current_display_name),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
