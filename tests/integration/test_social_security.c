/*
 * test_social_security.c - the social routes against hostile input:
 *
 * - operator injection: every string field of every body given an object,
 *   array, number, boolean or extended-JSON value is 400 invalid_type and
 *   changes nothing; operator-looking path segments are just unknown names;
 * - CSRF: a cross-site Origin (or Sec-Fetch-Site) is 403 cross_site, and a
 *   POST/PATCH/PUT that is not application/json is 415, on every new
 *   state-changing route, with no effect;
 * - authorization: other users' tweets cannot be edited or deleted (403),
 *   one user's unlike/unfollow/read never touches another's; every route
 *   that acts as a user is 401 without a session;
 * - login rate limits (429 rate_limited with Retry-After): per username
 *   from one address (default 10 failures, shared by the servers, any
 *   letter case, also with the right password while blocked) and per
 *   client address; failures for a username from other addresses never
 *   refuse its owner (they only slow its logins down).  These run on
 *   servers of their own, on their own databases, so the shared servers'
 *   per-address counter (every test comes from 127.0.0.1) is never
 *   touched.
 */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tests/client/harness.h"
#include "tests/client/testclient.h"

#define WRONG "wrong horse battery"

/* ------------------------------------------------------------ injection */

static const char *const BAD_VALUES[] = {
    "{\"$gt\":\"\"}",
    "{\"$ne\":null}",
    "{\"$regex\":\".*\"}",
    "{\"$where\":\"sleep(1000)\"}",
    "{\"$exists\":true}",
    "{\"$in\":[\"a\",\"b\"]}",
    "[\"x\"]",
    "[]",
    "{}",
    "42",
    "-1",
    "true",
    "{\"$oid\":\"000000000000000000000000\"}",
    "{\"$date\":\"2020-01-01T00:00:00Z\"}",
    "{\"$symbol\":\"x\"}",
    "{\"$code\":\"function(){return true}\"}",
    "{\"$minKey\":1}",
    "{\"$numberLong\":\"1\"}",
    "{\"$binary\":\"AA==\",\"$type\":\"00\"}",
};
#define N_BAD_VALUES (sizeof BAD_VALUES / sizeof BAD_VALUES[0])

static void expect_invalid_type(tc_client_t *c, const char *method,
                                const char *path, const char *body) {
  tc_response_t r;
  tc_send(c, method, path, body, &r);
  if (r.status != 400 || !tc_json_str(&r, "error.code") ||
      strcmp(tc_json_str(&r, "error.code"), "invalid_type")) {
    print_error("%s %s %s\n", method, path, body);
  }
  tc_assert_error(&r, 400, "invalid_type");
  char cookie[256];
  assert_false(tc_header(&r, "Set-Cookie", cookie, sizeof cookie));
  tc_response_free(&r);
}

/* One JSON field a route takes, as a body template whose "%v" stands for
 * the field's value. */
typedef struct field {
  tc_client_t *c;
  const char *method, *path, *tmpl;
} field_t;

/* Every step-th of BAD_VALUES, put in every one of fields[0..n), is
 * refused as invalid_type (expect_invalid_type). */
static void expect_fields_refuse_bad_values(const field_t *fields, size_t n,
                                            size_t step) {
  for (size_t i = 0; i < N_BAD_VALUES; i += step) {
    for (size_t k = 0; k < n; k++) {
      const char *at = strstr(fields[k].tmpl, "%v");
      assert_non_null(at);
      char body[512];
      snprintf(body, sizeof body, "%.*s%s%s", (int)(at - fields[k].tmpl),
               fields[k].tmpl, BAD_VALUES[i], at + 2);
      expect_invalid_type(fields[k].c, fields[k].method, fields[k].path, body);
    }
  }
}

static void test_operator_injection_in_every_body_field(void **state) {
  (void)state;
  char me[31], fresh[31], id[25], path[256], body[512];
  tc_client_t *c = tc_new_user(tc_url_a(), "inj", me);
  tc_post_tweet(c, "original text", id);
  tc_response_t r;
  tc_send(c, "PATCH", "/api/me", "{\"display_name\":\"Safe\",\"bio\":\"bio\"}",
          &r);
  tc_assert_status(&r, 200);
  tc_response_free(&r);
  tc_unique_name("injnew", fresh);
  tc_client_t *anon = tc_client_new(tc_url_b());
  snprintf(path, sizeof path, "/api/tweet/%s", id);

  char fresh_password[128];
  snprintf(fresh_password, sizeof fresh_password,
           "{\"username\":\"%s\",\"password\":%%v}", fresh);
  const field_t fields[] = {
      {anon, "POST", "/api/register",
       "{\"username\":%v,\"password\":\"" TC_PASSWORD "\"}"},
      {anon, "POST", "/api/register", fresh_password},
      {c, "PATCH", "/api/me", "{\"display_name\":%v}"},
      {c, "PATCH", "/api/me", "{\"bio\":%v}"},
      {c, "PATCH", "/api/me", "{\"display_name\":\"ok\",\"bio\":%v}"},
      {c, "POST", "/api/tweet", "{\"text\":%v}"},
      {c, "POST", "/api/tweet", "{\"text\":\"ok\",\"reply_to\":%v}"},
      {c, "PUT", path, "{\"text\":%v}"},
  };
  expect_fields_refuse_bad_values(fields, sizeof fields / sizeof fields[0], 1);
  /* Nothing changed: no account, no tweet, no new name, no new text. */
  snprintf(body, sizeof body, "/api/users/%s", fresh);
  tc_expect_error(anon, "GET", body, NULL, 404, "user_not_found");
  assert_int_equal(tc_profile_int(anon, me, "tweet_count"), 1);
  snprintf(body, sizeof body, "/api/users/%s", me);
  tc_get_ok(anon, body, &r);
  assert_string_equal(tc_json_str(&r, "display_name"), "Safe");
  assert_string_equal(tc_json_str(&r, "bio"), "bio");
  tc_response_free(&r);
  tc_get_ok(anon, path, &r);
  assert_string_equal(tc_json_str(&r, "text"), "original text");
  assert_true(tc_json_is_null(&r, "edited_at"));
  tc_response_free(&r);
  /* The name is still free. */
  tc_register(anon, fresh, TC_PASSWORD);
  tc_client_destroy(anon);
  tc_client_destroy(c);
}

static void test_operator_injection_in_paths(void **state) {
  (void)state;
  char me[31];
  tc_client_t *c = tc_new_user(tc_url_a(), "injpath", me);
  static const char *names[] = {
      "%7B%22%24gt%22%3A%22%22%7D", /* {"$gt":""} */
      "%7B%22%24ne%22%3Anull%7D",   /* {"$ne":null} */
      "%24gt",
      "%24where",
      ".%2A",
      "%5E",
      "%5B%5D",
      "a%7Cb",
      "%2F.%2A%2F",
      "__proto__",
      "constructor",
  };
  for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
    char path[256];
    snprintf(path, sizeof path, "/api/users/%s", names[i]);
    tc_expect_error(c, "GET", path, NULL, 404, "user_not_found");
    snprintf(path, sizeof path, "/api/users/%s/follow", names[i]);
    tc_expect_error(c, "POST", path, "", 404, "user_not_found");
    snprintf(path, sizeof path, "/api/users/%s/followers", names[i]);
    tc_expect_error(c, "GET", path, NULL, 404, "user_not_found");
    snprintf(path, sizeof path, "/api/tweet/%s", names[i]);
    tc_expect_error(c, "GET", path, NULL, 404, "tweet_not_found");
    snprintf(path, sizeof path, "/api/tweet/%s/like", names[i]);
    tc_expect_error(c, "POST", path, "", 404, "tweet_not_found");
  }
  assert_int_equal(tc_profile_int(c, me, "following_count"), 0);
  tc_client_destroy(c);
}

/* ----------------------------------------------------------------- CSRF */

typedef struct world {
  char a[31], b[31], c[31];
  tc_client_t *ca, *cb, *cc;
  char ta[25], tb[25], liked[25];
} world_t;

/* a follows c, likes `liked` (b's), has 1 unread notification (b follows
 * a); ta is a's tweet, tb is b's. */
static void world_init(world_t *w) {
  w->ca = tc_new_user(tc_url_a(), "csrfa", w->a);
  w->cb = tc_new_user(tc_url_b(), "csrfb", w->b);
  w->cc = tc_new_user(tc_url_a(), "csrfc", w->c);
  tc_post_tweet(w->ca, "a's tweet", w->ta);
  tc_post_tweet(w->cb, "b's tweet", w->tb);
  tc_post_tweet(w->cb, "b's liked tweet", w->liked);
  tc_follow(w->ca, w->c);
  tc_like(w->ca, w->liked);
  tc_follow(w->cb, w->a);
}

static void world_destroy(world_t *w) {
  tc_client_destroy(w->cc);
  tc_client_destroy(w->cb);
  tc_client_destroy(w->ca);
}

/* Everything in the world is as world_init left it. */
static void world_unchanged(world_t *w) {
  tc_client_t *anon = tc_client_new(tc_url_b());
  tc_response_t r;
  char path[256];
  assert_int_equal(tc_profile_int(anon, w->b, "followers_count"), 0);
  assert_int_equal(tc_profile_int(anon, w->c, "followers_count"), 1);
  assert_int_equal(tc_profile_int(anon, w->a, "following_count"), 1);
  assert_int_equal(tc_profile_int(anon, w->a, "tweet_count"), 1);
  snprintf(path, sizeof path, "/api/users/%s", w->a);
  tc_get_ok(anon, path, &r);
  assert_string_equal(tc_json_str(&r, "display_name"), w->a);
  tc_response_free(&r);
  snprintf(path, sizeof path, "/api/tweet/%s", w->ta);
  tc_get_ok(anon, path, &r);
  assert_string_equal(tc_json_str(&r, "text"), "a's tweet");
  tc_response_free(&r);
  assert_int_equal(tc_tweet_int(anon, w->tb, "like_count"), 0);
  assert_int_equal(tc_tweet_int(anon, w->tb, "reply_count"), 0);
  assert_int_equal(tc_tweet_int(anon, w->liked, "like_count"), 1);
  tc_get_ok(w->ca, "/api/notifications", &r);
  assert_int_equal(tc_json_int(&r, "unread"), 1);
  tc_response_free(&r);
  tc_get_ok(w->ca, "/api/me", &r); /* still logged in */
  tc_response_free(&r);
  tc_client_destroy(anon);
}

typedef struct write_route {
  const char *method;
  char path[128];
  const char *body; /* NULL: none */
} write_route_t;

static int world_routes(const world_t *w, write_route_t *routes) {
  int n = 0;
  routes[n] = (write_route_t){"POST", "", ""};
  snprintf(routes[n++].path, 128, "/api/users/%s/follow", w->b);
  routes[n] = (write_route_t){"DELETE", "", NULL};
  snprintf(routes[n++].path, 128, "/api/users/%s/follow", w->c);
  routes[n] =
      (write_route_t){"PATCH", "/api/me", "{\"display_name\":\"pwned\"}"};
  n++;
  routes[n] = (write_route_t){"DELETE", "", NULL};
  snprintf(routes[n++].path, 128, "/api/tweet/%s", w->ta);
  routes[n] = (write_route_t){"PUT", "", "{\"text\":\"pwned\"}"};
  snprintf(routes[n++].path, 128, "/api/tweet/%s", w->ta);
  routes[n] = (write_route_t){"POST", "", ""};
  snprintf(routes[n++].path, 128, "/api/tweet/%s/like", w->tb);
  routes[n] = (write_route_t){"DELETE", "", NULL};
  snprintf(routes[n++].path, 128, "/api/tweet/%s/like", w->liked);
  routes[n] = (write_route_t){"POST", "/api/notifications/read", ""};
  n++;
  static char reply_body[128];
  snprintf(reply_body, sizeof reply_body,
           "{\"text\":\"pwned\",\"reply_to\":\"%s\"}", w->tb);
  routes[n++] = (write_route_t){"POST", "/api/tweet", reply_body};
  return n;
}

static void test_cross_site_writes_are_refused(void **state) {
  (void)state;
  world_t w;
  world_init(&w);
  write_route_t routes[16];
  int n = world_routes(&w, routes);
  const char *host = strstr(tc_url_a(), "://") + 3;
  char other_port[200], suffix[200], https[200];
  snprintf(other_port, sizeof other_port, "Origin: http://127.0.0.1:1");
  snprintf(suffix, sizeof suffix, "Origin: http://%s.evil.example", host);
  snprintf(https, sizeof https, "Origin: http://evil.example/%s", host);
  const char *evil[][3] = {
      {"Origin: http://evil.example", NULL, NULL},
      {"Origin: null", NULL, NULL},
      {"Sec-Fetch-Site: cross-site", NULL, NULL},
      {other_port, NULL, NULL},
      {suffix, NULL, NULL},
      {https, NULL, NULL},
  };
  for (int i = 0; i < n; i++) {
    for (size_t k = 0; k < sizeof evil / sizeof evil[0]; k++) {
      tc_response_t r;
      const char *body = routes[i].body;
      tc_request(w.ca, routes[i].method, routes[i].path, body,
                 body ? strlen(body) : 0, evil[k], &r);
      if (r.status != 403) {
        print_error("%s %s with %s\n", routes[i].method, routes[i].path,
                    evil[k][0]);
      }
      tc_assert_error(&r, 403, "cross_site");
      tc_response_free(&r);
    }
  }
  world_unchanged(&w);
  world_destroy(&w);
}

static void test_writes_must_be_json(void **state) {
  (void)state;
  world_t w;
  world_init(&w);
  write_route_t routes[16];
  int n = world_routes(&w, routes);
  const char *types[] = {"Content-Type: text/plain",
                         "Content-Type: application/x-www-form-urlencoded",
                         "Content-Type: multipart/form-data; boundary=x",
                         "Content-Type: application/jsonx"};
  for (int i = 0; i < n; i++) {
    if (!strcmp(routes[i].method, "DELETE")) {
      continue; /* no body, no type needed */
    }
    const char *body = routes[i].body;
    for (size_t k = 0; k < sizeof types / sizeof types[0]; k++) {
      const char *headers[] = {types[k], NULL};
      tc_response_t r;
      tc_request(w.ca, routes[i].method, routes[i].path, body, strlen(body),
                 headers, &r);
      if (r.status != 415) {
        print_error("%s %s with %s\n", routes[i].method, routes[i].path,
                    types[k]);
      }
      tc_assert_error(&r, 415, "unsupported_media_type");
      tc_response_free(&r);
    }
    /* No body and no Content-Type at all (what a bare form or <img> ping
     * might manage) is refused too. */
    tc_response_t r;
    tc_request(w.ca, routes[i].method, routes[i].path, NULL, 0, NULL, &r);
    if (r.status != 415) {
      print_error("%s %s without a Content-Type\n", routes[i].method,
                  routes[i].path);
    }
    tc_assert_error(&r, 415, "unsupported_media_type");
    tc_response_free(&r);
  }
  world_unchanged(&w);

  /* The same writes from the same origin go through. */
  char origin[300];
  snprintf(origin, sizeof origin, "Origin: http://%s",
           strstr(tc_url_a(), "://") + 3);
  const char *same[] = {origin, "Sec-Fetch-Site: same-origin", NULL};
  char path[256];
  snprintf(path, sizeof path, "/api/users/%s/follow", w.b);
  tc_response_t r;
  tc_request(w.ca, "POST", path, "", 0, same, &r);
  tc_assert_status(&r, 200);
  tc_response_free(&r);
  tc_request(w.ca, "POST", "/api/notifications/read", "", 0, same, &r);
  tc_assert_status(&r, 200);
  tc_response_free(&r);
  assert_int_equal(tc_profile_int(w.cc, w.b, "followers_count"), 1);
  world_destroy(&w);
}

/* -------------------------------------------------------- authorization */

static void test_no_acting_on_others_behalf(void **state) {
  (void)state;
  world_t w;
  world_init(&w);
  char path[256];
  tc_response_t r;
  /* b cannot edit or delete a's tweet, on either server. */
  tc_client_t *cb_a = tc_client_new(tc_url_a());
  char token[128];
  tc_session_token(w.cb, token, sizeof token);
  tc_set_cookie(cb_a, "chorus_session", token);
  tc_client_t *as_b[] = {w.cb, cb_a};
  for (int i = 0; i < 2; i++) {
    snprintf(path, sizeof path, "/api/tweet/%s", w.ta);
    tc_expect_error(as_b[i], "DELETE", path, NULL, 403, "forbidden");
    tc_expect_error(as_b[i], "PUT", path, "{\"text\":\"pwned\"}", 403,
                    "forbidden");
  }
  /* b unliking a tweet a liked removes nothing of a's. */
  snprintf(path, sizeof path, "/api/tweet/%s/like", w.liked);
  tc_send(w.cb, "DELETE", path, NULL, &r);
  tc_assert_status(&r, 200);
  assert_false(tc_json_bool(&r, "liked_by_me"));
  tc_response_free(&r);
  snprintf(path, sizeof path, "/api/tweet/%s", w.liked);
  tc_get_ok(w.ca, path, &r);
  assert_true(tc_json_bool(&r, "liked_by_me"));
  tc_response_free(&r);
  /* b unfollowing c does not end a's follow of c. */
  snprintf(path, sizeof path, "/api/users/%s/follow", w.c);
  tc_send(w.cb, "DELETE", path, NULL, &r);
  tc_assert_status(&r, 200);
  tc_response_free(&r);
  /* b reading notifications marks none of a's. */
  tc_request(w.cb, "POST", "/api/notifications/read", "", 0, NULL, &r);
  tc_assert_status(&r, 200);
  tc_response_free(&r);
  /* b renaming renames b only. */
  tc_send(w.cb, "PATCH", "/api/me", "{\"display_name\":\"b only\"}", &r);
  tc_assert_status(&r, 200);
  assert_string_equal(tc_json_str(&r, "username"), w.b);
  tc_response_free(&r);
  world_unchanged(&w);
  tc_client_destroy(cb_a);
  world_destroy(&w);
}

static void test_acting_routes_need_a_session(void **state) {
  (void)state;
  world_t w;
  world_init(&w);
  write_route_t routes[16];
  int n = world_routes(&w, routes);
  /* A session that was logged out, and one that never existed. */
  char old_token[128], gone_name[31];
  tc_client_t *gone = tc_new_user(tc_url_a(), "csrfgone", gone_name);
  tc_session_token(gone, old_token, sizeof old_token);
  tc_response_t r;
  tc_expect_status(gone, "DELETE", "/api/login", NULL, 200);
  tc_client_t *clients[3] = {tc_client_new(tc_url_a()),
                             tc_client_new(tc_url_b()),
                             tc_client_new(tc_url_b())};
  tc_set_cookie(clients[1], "chorus_session", old_token);
  tc_set_cookie(clients[2], "chorus_session",
                "0000000000000000000000000000000000000000000");
  for (int k = 0; k < 3; k++) {
    for (int i = 0; i < n; i++) {
      const char *body = routes[i].body;
      tc_request(clients[k], routes[i].method, routes[i].path, body,
                 body ? strlen(body) : 0, NULL, &r);
      if (r.status != 401) {
        print_error("%s %s (client %d)\n", routes[i].method, routes[i].path, k);
      }
      tc_assert_error(&r, 401, "not_logged_in");
      tc_response_free(&r);
    }
    tc_expect_error(clients[k], "GET", "/api/feed", NULL, 401, "not_logged_in");
    tc_expect_error(clients[k], "GET", "/api/notifications", NULL, 401,
                    "not_logged_in");
  }
  world_unchanged(&w);
  for (int k = 0; k < 3; k++) {
    tc_client_destroy(clients[k]);
  }
  tc_client_destroy(gone);
  world_destroy(&w);
}

/* --------------------------------------------------- methods and sizes */

static void test_wrong_methods_are_405_with_allow(void **state) {
  (void)state;
  char me[31], id[25];
  tc_client_t *c = tc_new_user(tc_url_a(), "meth", me);
  tc_post_tweet(c, "methods", id);
  char paths[8][128];
  snprintf(paths[0], 128, "/api/users/%s", me);
  snprintf(paths[1], 128, "/api/users/%s/follow", me);
  snprintf(paths[2], 128, "/api/users/%s/followers", me);
  snprintf(paths[3], 128, "/api/tweet/%s/like", id);
  snprintf(paths[4], 128, "/api/tweet/%s/replies", id);
  snprintf(paths[5], 128, "/api/notifications/read");
  snprintf(paths[6], 128, "/api/feed");
  snprintf(paths[7], 128, "/api/me");
  static const struct {
    const char *method;
    const char *allowed[3];
  } cases[] = {
      {"PUT", {"GET", NULL}},    {"GET", {"POST", "DELETE", NULL}},
      {"POST", {"GET", NULL}},   {"PUT", {"POST", "DELETE", NULL}},
      {"DELETE", {"GET", NULL}}, {"GET", {"POST", NULL}},
      {"POST", {"GET", NULL}},   {"DELETE", {"GET", "PATCH", NULL}},
  };
  for (int i = 0; i < 8; i++) {
    tc_response_t r;
    const char *body = strcmp(cases[i].method, "DELETE") ? "{}" : NULL;
    tc_send(c, cases[i].method, paths[i], body, &r);
    if (r.status != 405) {
      print_error("%s %s\n", cases[i].method, paths[i]);
    }
    tc_assert_error(&r, 405, "method_not_allowed");
    char allow[64];
    assert_true(tc_header(&r, "Allow", allow, sizeof allow));
    for (int k = 0; cases[i].allowed[k]; k++) {
      if (!strstr(allow, cases[i].allowed[k])) {
        fail_msg("%s %s: Allow is \"%s\", missing %s", cases[i].method,
                 paths[i], allow, cases[i].allowed[k]);
      }
    }
    tc_response_free(&r);
  }
  tc_client_destroy(c);
}

static void test_bodies_over_16k_are_413(void **state) {
  (void)state;
  char me[31], id[25];
  tc_client_t *c = tc_new_user(tc_url_a(), "big", me);
  tc_post_tweet(c, "parent", id);
  size_t size = 16 * 1024 + 1;
  char *body = tc_padded_json("{\"bio\":\"x\"", size);
  tc_expect_error(c, "PATCH", "/api/me", body, 413, "body_too_large");
  free(body);
  char head[96];
  snprintf(head, sizeof head, "{\"text\":\"x\",\"reply_to\":\"%s\"", id);
  body = tc_padded_json(head, size);
  tc_expect_error(c, "POST", "/api/tweet", body, 413, "body_too_large");
  free(body);
  tc_response_t r;
  assert_int_equal(tc_profile_int(c, me, "tweet_count"), 1);
  assert_int_equal(tc_tweet_int(c, id, "reply_count"), 0);
  char path[256];
  snprintf(path, sizeof path, "/api/users/%s", me);
  tc_get_ok(c, path, &r);
  assert_string_equal(tc_json_str(&r, "bio"), "");
  tc_response_free(&r);
  tc_client_destroy(c);
}

/* ----------------------------------------------------- login rate limits */

static tc_pair_t *defaults; /* default limits: 10 per username, 50 per
                              address */

static void pair_start(tc_pair_t *p, const char *tag, const char *extra) {
  tc_pair_start(p, "social_sec", tag, extra);
}

static int group_setup(void **state) {
  (void)state;
  defaults = calloc(1, sizeof *defaults);
  pair_start(defaults, "dflt", "");
  return 0;
}

static int group_teardown(void **state) {
  (void)state;
  tc_pairs_stop_all(); /* also the pairs of tests that failed */
  free(defaults);
  return 0;
}

/* POST /api/login as username/password on base, from address (NULL:
 * this machine's; else X-Real-IP, which servers started with
 * --trusted-proxy 127.0.0.1 take for the client's address). */
static void login_from(const char *base, const char *address,
                       const char *username, const char *password,
                       tc_response_t *r) {
  tc_client_t *c = tc_client_new(base);
  char *body = tc_credentials_json(username, password);
  char header[96];
  snprintf(header, sizeof header, "X-Real-IP: %s", address ? address : "");
  const char *headers[] = {address ? header : NULL, NULL};
  tc_request(c, "POST", "/api/login", body, strlen(body), headers, r);
  bson_free(body);
  tc_client_destroy(c);
}

static void login(const char *base, const char *username, const char *password,
                  tc_response_t *r) {
  login_from(base, NULL, username, password, r);
}

static void expect_login_from(const char *base, const char *address,
                              const char *username, const char *password,
                              long status) {
  tc_response_t r;
  login_from(base, address, username, password, &r);
  if (r.status != status) {
    print_error("login %s/%s on %s from %s\n", username,
                strcmp(password, TC_PASSWORD) ? "wrong" : "right", base,
                address ? address : "here");
  }
  tc_assert_status(&r, status);
  if (status == 401) {
    assert_string_equal(tc_json_str(&r, "error.code"), "invalid_credentials");
  }
  tc_response_free(&r);
}

static void expect_login(const char *base, const char *username,
                         const char *password, long status) {
  expect_login_from(base, NULL, username, password, status);
}

/* Asserts 429 rate_limited, a Retry-After of 1..window seconds and no
 * session cookie. */
static void expect_limited_from(const char *base, const char *address,
                                const char *username, const char *password,
                                int window_s) {
  tc_response_t r;
  login_from(base, address, username, password, &r);
  if (r.status != 429) {
    print_error("login %s/%s on %s\n", username,
                strcmp(password, TC_PASSWORD) ? "wrong" : "right", base);
  }
  tc_assert_error(&r, 429, "rate_limited");
  char value[32];
  assert_true(tc_header(&r, "Retry-After", value, sizeof value));
  char *end;
  long secs = strtol(value, &end, 10);
  assert_true(*end == '\0' && secs >= 1 && secs <= window_s);
  assert_false(tc_header(&r, "Set-Cookie", value, sizeof value));
  tc_response_free(&r);
}

static void expect_limited(const char *base, const char *username,
                           const char *password, int window_s) {
  expect_limited_from(base, NULL, username, password, window_s);
}

static void register_on(const char *base, const char *prefix, char name[31]) {
  tc_client_t *c = tc_new_user(base, prefix, name);
  tc_client_destroy(c);
}

static void test_login_limit_per_username(void **state) {
  (void)state;
  const char *A = defaults->s[0].url, *B = defaults->s[1].url;
  char name[31], other[31];
  tc_client_t *session = tc_new_user(A, "rl", name);
  register_on(B, "rlother", other);
  /* Ten failures from this address, alternating servers: all plain 401s. */
  for (int i = 0; i < 10; i++) {
    expect_login(i % 2 ? B : A, name, WRONG, 401);
  }
  /* The eleventh from here is refused, on either server, even with the
   * right password. */
  expect_limited(B, name, WRONG, 300);
  expect_limited(A, name, TC_PASSWORD, 300);
  expect_limited(B, name, TC_PASSWORD, 300);
  /* Only this username: another logs in, and existing sessions work. */
  expect_login(A, other, TC_PASSWORD, 200);
  tc_expect_status(session, "GET", "/api/me", NULL, 200);
  tc_client_destroy(session);
}

static void test_login_limit_ignores_username_case(void **state) {
  (void)state;
  const char *A = defaults->s[0].url, *B = defaults->s[1].url;
  char name[31], up[31], mixed[31];
  register_on(A, "RlCase", name);
  for (size_t i = 0; i <= strlen(name); i++) {
    char ch = name[i];
    up[i] = (char)(ch >= 'a' && ch <= 'z' ? ch - 32 : ch);
    mixed[i] = (char)(i % 2 ? up[i] : (ch >= 'A' && ch <= 'Z' ? ch + 32 : ch));
  }
  const char *spellings[] = {name, up, mixed};
  for (int i = 0; i < 10; i++) {
    expect_login(i % 2 ? B : A, spellings[i % 3], WRONG, 401);
  }
  expect_limited(A, up, TC_PASSWORD, 300);
  expect_limited(B, mixed, TC_PASSWORD, 300);
  expect_limited(A, name, TC_PASSWORD, 300);
}

static void test_login_success_does_not_clear_failures(void **state) {
  (void)state;
  /* "429 after 10 failures for one username within 5 minutes": a
   * successful login in between is not a failure, and it does not undo
   * the ones before it either (otherwise a guesser gets ten more tries
   * each time the real user logs in). */
  const char *A = defaults->s[0].url, *B = defaults->s[1].url;
  char name[31];
  register_on(A, "rlok", name);
  for (int i = 0; i < 4; i++) {
    expect_login(i % 2 ? B : A, name, WRONG, 401);
  }
  expect_login(A, name, TC_PASSWORD, 200);
  expect_login(B, name, TC_PASSWORD, 200);
  for (int i = 0; i < 6; i++) {
    expect_login(i % 2 ? B : A, name, WRONG, 401);
  }
  expect_limited(A, name, TC_PASSWORD, 300);
}

/* Failures for a username from one address block that pair only: its
 * owner, elsewhere, logs in on either server (a limit per username alone
 * would let anyone's ten guesses lock the owner out), and a third
 * address is still answered (slowed, not refused). */
static void test_login_failures_never_lock_the_owner_out(void **state) {
  (void)state;
  static tc_pair_t p; /* static: the teardown may stop it after a failure */
  pair_start(&p, "owner", "--trusted-proxy 127.0.0.1");
  const char *A = p.s[0].url, *B = p.s[1].url;
  const char *guesser = "203.0.113.66", *owner = "198.51.100.20";
  char name[31];
  register_on(A, "rlowner", name);
  for (int i = 0; i < 10; i++) {
    expect_login_from(i % 2 ? B : A, guesser, name, WRONG, 401);
  }
  expect_limited_from(A, guesser, name, WRONG, 300);
  expect_limited_from(B, guesser, name, TC_PASSWORD, 300);
  expect_login_from(A, owner, name, TC_PASSWORD, 200);
  expect_login_from(B, owner, name, TC_PASSWORD, 200);
  expect_login_from(B, "192.0.2.9", name, WRONG, 401);
  expect_login_from(A, owner, name, TC_PASSWORD, 200);
  tc_pair_stop(&p);
}

/* Guesses for one username spread over many addresses, each far below
 * its own limits: every one is answered 401 (after a wait once the
 * username has failed --login-slow-user times), none refused, and the
 * owner logs in from yet another address. */
static void
test_login_failures_from_many_addresses_only_slow_down(void **state) {
  (void)state;
  static tc_pair_t p; /* static: the teardown may stop it after a failure */
  pair_start(&p, "slow",
             "--trusted-proxy 127.0.0.1 --login-slow-user 3 "
             "--login-delay-max-ms 100");
  const char *A = p.s[0].url, *B = p.s[1].url;
  char name[31];
  register_on(B, "rlslow", name);
  for (int i = 0; i < 25; i++) {
    char address[32];
    snprintf(address, sizeof address, "203.0.113.%d", i + 1);
    expect_login_from(i % 2 ? B : A, address, name, WRONG, 401);
  }
  expect_login_from(A, "198.51.100.21", name, TC_PASSWORD, 200);
  expect_login_from(B, "198.51.100.22", name, TC_PASSWORD, 200);
  tc_pair_stop(&p);
}

static void test_login_injection_is_400(void **state) {
  (void)state;
  const char *A = defaults->s[0].url;
  char name[31];
  register_on(A, "rlinj", name);
  tc_client_t *c = tc_client_new(A);
  char name_password[128];
  snprintf(name_password, sizeof name_password,
           "{\"username\":\"%s\",\"password\":%%v}", name);
  const field_t fields[] = {
      {c, "POST", "/api/login", name_password},
      {c, "POST", "/api/login",
       "{\"username\":%v,\"password\":\"" TC_PASSWORD "\"}"},
  };
  expect_fields_refuse_bad_values(fields, 2, 3);
  tc_expect_error(c, "GET", "/api/me", NULL, 401, "not_logged_in");
  tc_client_destroy(c);
  expect_login(A, name, TC_PASSWORD, 200);
}

static void test_login_limit_window_ends(void **state) {
  (void)state;
  static tc_pair_t p; /* static: the teardown may stop it after a failure */
  pair_start(&p, "win",
             "--login-limit-user-address 3 --login-limit-address 1000 "
             "--login-window-s 2");
  char name[31];
  register_on(p.s[0].url, "rlwin", name);
  for (int i = 0; i < 3; i++) {
    expect_login(p.s[i % 2].url, name, WRONG, 401);
  }
  expect_limited(p.s[1].url, name, TC_PASSWORD, 2);
  tc_sleep_ms(2600);
  expect_login(p.s[0].url, name, WRONG, 401); /* a new window */
  expect_login(p.s[1].url, name, TC_PASSWORD, 200);
  tc_pair_stop(&p);
}

static void test_login_limit_per_address(void **state) {
  (void)state;
  static tc_pair_t p; /* static: the teardown may stop it after a failure */
  pair_start(&p, "addr",
             "--login-limit-user-address 100 --login-limit-address 6 "
             "--login-window-s 3");
  const char *A = p.s[0].url, *B = p.s[1].url;
  char names[4][31], nobody[31];
  for (int i = 0; i < 4; i++) {
    register_on(i % 2 ? B : A, "rladdr", names[i]);
  }
  tc_unique_name("rlnobody", nobody);
  /* Six failures over three usernames (and an unknown one) and both
   * servers, each name far below its own limit. */
  expect_login(A, names[0], WRONG, 401);
  expect_login(B, names[0], WRONG, 401);
  expect_login(A, names[1], WRONG, 401);
  expect_login(B, nobody, TC_PASSWORD, 401);
  expect_login(A, names[2], WRONG, 401);
  expect_login(B, names[2], WRONG, 401);
  /* This address is now blocked for everyone, right password or not, on
   * both servers, and a forwarded-for header does not change the address. */
  expect_limited(B, names[3], TC_PASSWORD, 3);
  expect_limited(A, names[0], TC_PASSWORD, 3);
  expect_limited(A, nobody, WRONG, 3);
  tc_client_t *c = tc_client_new(B);
  char *body = tc_credentials_json(names[3], TC_PASSWORD);
  const char *forwarded[] = {"X-Forwarded-For: 203.0.113.7",
                             "X-Real-IP: 203.0.113.7",
                             "Forwarded: for=203.0.113.7", NULL};
  tc_response_t r;
  tc_request(c, "POST", "/api/login", body, strlen(body), forwarded, &r);
  tc_assert_error(&r, 429, "rate_limited");
  tc_response_free(&r);
  bson_free(body);
  tc_client_destroy(c);
  /* Registering still works (it is not a login failure), and the window
   * ends. */
  char late[31];
  register_on(A, "rladdrlate", late);
  tc_sleep_ms(3600);
  expect_login(B, names[3], TC_PASSWORD, 200);
  expect_login(A, late, TC_PASSWORD, 200);
  tc_pair_stop(&p);
}

typedef struct guesser {
  const char *base;
  const char *name;
  long status;
} guesser_t;

static void *guess_main(void *arg) {
  guesser_t *g = arg;
  tc_client_t *c = tc_client_new(g->base);
  char *body = tc_credentials_json(g->name, WRONG);
  tc_response_t r; /* no cmocka assertion may run in a thread */
  tc_try_request(c, "POST", "/api/login", body, strlen(body), NULL, &r);
  g->status = r.status;
  tc_response_free(&r);
  bson_free(body);
  tc_client_destroy(c);
  return NULL;
}

static void test_login_limit_holds_under_parallel_guesses(void **state) {
  (void)state;
  /* Twenty guesses sent at once to both servers: no more than the limit
   * may be checked against the password (answered 401); the rest are
   * 429.  In all, exactly the limit is checked before the username is
   * blocked. */
  enum { N = 20, LIMIT = 5 };
  static tc_pair_t p; /* static: the teardown may stop it after a failure */
  pair_start(&p, "par",
             "--login-limit-user-address 5 --login-limit-address 1000 "
             "--login-window-s 300");
  char name[31];
  register_on(p.s[0].url, "rlpar", name);
  guesser_t g[N];
  pthread_t threads[N];
  for (int i = 0; i < N; i++) {
    g[i] = (guesser_t){p.s[i % 2].url, name, 0};
    pthread_create(&threads[i], NULL, guess_main, &g[i]);
  }
  int answered_401 = 0, answered_429 = 0;
  for (int i = 0; i < N; i++) {
    pthread_join(threads[i], NULL);
    answered_401 += g[i].status == 401;
    answered_429 += g[i].status == 429;
  }
  fprintf(stderr,
          "%d parallel wrong logins (limit %d): %d answered 401, %d "
          "answered 429\n",
          N, LIMIT, answered_401, answered_429);
  assert_int_equal(answered_401 + answered_429, N);
  assert_true(answered_401 <= LIMIT);
  /* Refusing a guess early is safe; but then the failures that were
   * really checked are all that count: guessing on, one at a time, gets
   * exactly LIMIT 401s in all before the 429s. */
  int more_401 = 0;
  for (int i = 0; i <= LIMIT; i++) {
    tc_response_t r;
    login(p.s[i % 2].url, name, WRONG, &r);
    assert_true(r.status == 401 || r.status == 429);
    more_401 += r.status == 401;
    bool limited = r.status == 429;
    tc_response_free(&r);
    if (limited) {
      break;
    }
  }
  fprintf(stderr, "then %d more wrong logins answered 401 before a 429\n",
          more_401);
  assert_int_equal(answered_401 + more_401, LIMIT);
  expect_limited(p.s[1].url, name, TC_PASSWORD, 300);
  tc_pair_stop(&p);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_operator_injection_in_every_body_field),
      cmocka_unit_test(test_operator_injection_in_paths),
      cmocka_unit_test(test_cross_site_writes_are_refused),
      cmocka_unit_test(test_writes_must_be_json),
      cmocka_unit_test(test_no_acting_on_others_behalf),
      cmocka_unit_test(test_acting_routes_need_a_session),
      cmocka_unit_test(test_wrong_methods_are_405_with_allow),
      cmocka_unit_test(test_bodies_over_16k_are_413),
      cmocka_unit_test(test_login_limit_per_username),
      cmocka_unit_test(test_login_limit_ignores_username_case),
      cmocka_unit_test(test_login_success_does_not_clear_failures),
      cmocka_unit_test(test_login_failures_never_lock_the_owner_out),
      cmocka_unit_test(test_login_failures_from_many_addresses_only_slow_down),
      cmocka_unit_test(test_login_injection_is_400),
      cmocka_unit_test(test_login_limit_window_ends),
      cmocka_unit_test(test_login_limit_per_address),
      cmocka_unit_test(test_login_limit_holds_under_parallel_guesses),
  };
  return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
