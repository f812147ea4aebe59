/*
 * test_api_errors.c - what the server does with bad requests: malformed
 * and oversized bodies, wrong content types, cross-site writes, unknown
 * routes and methods; plus the health probes and static files.  Every
 * error must be a JSON {"error":{"code","message"}} with the right status,
 * and the server must keep serving afterwards.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <mongoc/mongoc.h>

#include "tests/client/harness.h"
#include "tests/client/rawclient.h"
#include "tests/client/testclient.h"

/* Whether the test database is FerretDB. */
static bool database_is_ferretdb(void) {
  tc_db_t db;
  tc_db_open(&db, NULL, tc_env("CHORUS_TEST_DB"));
  bool ferretdb = tc_db_is_ferretdb(&db);
  tc_db_close(&db);
  return ferretdb;
}

/* The value of an unlabelled metric line "name value"; -1 if absent. */
static double metric(const char *body, const char *name) {
  double v = -1;
  return tc_metric_in(body, name, &v) ? v : -1;
}

/* A client on server A, logged in as a new user. */
static tc_client_t *logged_in(void) {
  char name[31];
  return tc_new_user(tc_url_a(), "err", name);
}

static void test_malformed_json_is_400(void **state) {
  (void)state;
  tc_client_t *c = logged_in();
  static const char *bodies[] = {
      "{",
      "{\"text\":}",
      "{\"text\":\"unterminated}",
      "not json",
      "[1,2,3]",
      "\"a string\"",
      "42",
      "null",
      "{\"text\":\"a\"} trailing",
      "{'text':'single quotes'}",
  };
  for (size_t i = 0; i < sizeof bodies / sizeof bodies[0]; i++) {
    tc_expect_error(c, "POST", "/api/tweet", bodies[i], 400, "invalid_json");
  }
  tc_expect_error(c, "POST", "/api/tweet", "", 400, "body_required");
  tc_expect_error(c, "POST", "/api/tweet", "   \n ", 400, "body_required");
  tc_client_destroy(c);
}

/* Routes that take no body (like, repost, follow, mark read, delete,
 * logout) accept none, an empty one or any object, and refuse anything
 * else as the routes with bodies do: the body is never ignored unread. */
static void test_bodyless_routes_refuse_non_objects(void **state) {
  (void)state;
  char name[31], other[31], tweet[25];
  tc_client_t *c = tc_new_user(tc_url_a(), "nob", name);
  tc_client_t *o = tc_new_user(tc_url_b(), "nob", other);
  tc_post_tweet(o, "a tweet to like", tweet);
  char like[64], repost[64], follow[64], own[25], del[64];
  snprintf(like, sizeof like, "/api/tweet/%s/like", tweet);
  snprintf(repost, sizeof repost, "/api/tweet/%s/repost", tweet);
  snprintf(follow, sizeof follow, "/api/users/%s/follow", other);
  tc_post_tweet(c, "a tweet to delete", own);
  snprintf(del, sizeof del, "/api/tweet/%s", own);
  static const char *bad[] = {"3511", "[]",    "\"x\"", "null",
                              "{",    "{} {}", "\n",    " \t"};
  const struct {
    const char *method, *path;
  } routes[] = {
      {"POST", like},
      {"DELETE", like},
      {"POST", repost},
      {"DELETE", repost},
      {"POST", follow},
      {"DELETE", follow},
      {"POST", "/api/notifications/read"},
      {"DELETE", del},
      {"DELETE", "/api/me/sessions"},
      {"DELETE", "/api/login"},
  };
  for (size_t r = 0; r < sizeof routes / sizeof routes[0]; r++) {
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
      tc_expect_error(c, routes[r].method, routes[r].path, bad[i], 400,
                      "invalid_json");
    }
  }
  /* Nothing was done: the tweet is not liked, the own tweet is still
   * there, the session still valid.  An object, or no body, is taken. */
  assert_int_equal(tc_get_int(c, tc_path("/api/tweet/%s", tweet), "like_count"),
                   0);
  assert_int_equal(tc_profile_int(c, other, "followers_count"), 0);
  tc_expect_status(c, "GET", del, NULL, 200);
  tc_expect_status(c, "GET", "/api/me", NULL, 200);
  assert_int_equal(
      tc_get_int(c, tc_path("/api/tweet/%s", tweet), "repost_count"), 0);
  tc_expect_status(c, "POST", like, "{}", 200);
  tc_expect_status(c, "POST", repost, "{\"ignored\": true}", 200);
  tc_expect_status(c, "POST", follow, "{\"unknown\":1}", 200);
  tc_expect_status(c, "DELETE", like, NULL, 200);
  tc_expect_status(c, "DELETE", like, "", 200);
  tc_client_destroy(o);
  tc_client_destroy(c);
}

static void test_deeply_nested_json_is_rejected_not_crashing(void **state) {
  (void)state;
  tc_client_t *c = logged_in();
  enum { DEPTH = 4000 };
  char *body = malloc(DEPTH * 6 + 16);
  size_t n = 0;
  n += (size_t)sprintf(body + n, "{\"text\":");
  for (int i = 0; i < DEPTH; i++) {
    n += (size_t)sprintf(body + n, "[");
  }
  for (int i = 0; i < DEPTH; i++) {
    n += (size_t)sprintf(body + n, "]");
  }
  sprintf(body + n, "}");
  tc_response_t r;
  tc_send(c, "POST", "/api/tweet", body, &r);
  assert_true(r.status == 400 || r.status == 413);
  assert_non_null(tc_json_str(&r, "error.code"));
  tc_response_free(&r);
  free(body);
  tc_expect_status(c, "GET", "/healthz", NULL, 200);
  tc_client_destroy(c);
}

static void test_body_over_16k_is_413(void **state) {
  (void)state;
  tc_client_t *c = logged_in();
  size_t size = 16 * 1024 + 1;
  char *body = tc_padded_json("{\"text\":\"x\"", size);
  tc_response_t r;
  tc_expect_error(c, "POST", "/api/tweet", body, 413, "body_too_large");

  /* A body must declare its length: chunked is refused before reading. */
  const char *chunked[] = {"Transfer-Encoding: chunked", NULL};
  tc_request(c, "POST", "/api/tweet", body, size, chunked, &r);
  tc_assert_error(&r, 411, "length_required");
  tc_response_free(&r);
  free(body);

  /* Exactly 16 KiB is accepted (then judged on its content). */
  body = tc_padded_json("{\"text\":\"x\"", 16 * 1024);
  tc_expect_status(c, "POST", "/api/tweet", body, 201);
  free(body);
  tc_client_destroy(c);
}

static void test_content_type_must_be_json(void **state) {
  (void)state;
  tc_client_t *c = logged_in();
  static const char *types[] = {
      "Content-Type: text/plain",
      "Content-Type: application/x-www-form-urlencoded",
      "Content-Type: multipart/form-data; boundary=x",
      "Content-Type: application/jsonp",
      "Content-Type:",
  };
  for (size_t i = 0; i < sizeof types / sizeof types[0]; i++) {
    const char *headers[] = {types[i], NULL};
    tc_response_t r;
    tc_request(c, "POST", "/api/tweet", "{\"text\":\"x\"}", 12, headers, &r);
    tc_assert_error(&r, 415, "unsupported_media_type");
    tc_response_free(&r);
  }
  const char *ok[] = {"Content-Type: application/json; charset=utf-8", NULL};
  tc_response_t r;
  tc_request(c, "POST", "/api/tweet", "{\"text\":\"x\"}", 12, ok, &r);
  tc_assert_status(&r, 201);
  tc_response_free(&r);
  tc_client_destroy(c);
}

static void test_cross_site_writes_are_403(void **state) {
  (void)state;
  tc_client_t *c = logged_in();
  const char *evil[] = {"Origin: http://evil.example", NULL};
  tc_response_t r;
  tc_request(c, "POST", "/api/tweet", "{\"text\":\"csrf\"}", 15, evil, &r);
  tc_assert_error(&r, 403, "cross_site");
  tc_response_free(&r);
  tc_request(c, "DELETE", "/api/login", NULL, 0, evil, &r);
  tc_assert_error(&r, 403, "cross_site");
  tc_response_free(&r);
  const char *null_origin[] = {"Origin: null", NULL};
  tc_request(c, "POST", "/api/tweet", "{\"text\":\"csrf\"}", 15, null_origin,
             &r);
  tc_assert_error(&r, 403, "cross_site");
  tc_response_free(&r);
  const char *fetch_site[] = {"Sec-Fetch-Site: cross-site", NULL};
  tc_request(c, "POST", "/api/tweet", "{\"text\":\"csrf\"}", 15, fetch_site,
             &r);
  tc_assert_error(&r, 403, "cross_site");
  tc_response_free(&r);

  /* The session survived: the DELETE above was refused. */
  tc_expect_status(c, "GET", "/api/me", NULL, 200);

  /* Same origin is fine. */
  char origin[300];
  const char *host = strstr(tc_url_a(), "://") + 3;
  snprintf(origin, sizeof origin, "Origin: http://%s", host);
  const char *same[] = {origin, "Sec-Fetch-Site: same-origin", NULL};
  tc_request(c, "POST", "/api/tweet", "{\"text\":\"same origin\"}", 22, same,
             &r);
  tc_assert_status(&r, 201);
  tc_response_free(&r);
  tc_client_destroy(c);
}

static void test_unknown_routes_and_methods(void **state) {
  (void)state;
  tc_client_t *c = tc_client_new(tc_url_a());
  tc_response_t r;
  tc_expect_error(c, "GET", "/api/nope", NULL, 404, "not_found");
  tc_expect_error(c, "GET", "/api", NULL, 404, "not_found");
  tc_expect_error(c, "GET", "/api/tweet/abc/def/ghi", NULL, 404, "not_found");

  char allow[64];
  tc_send(c, "DELETE", "/api/tweet", NULL, &r);
  tc_assert_error(&r, 405, "method_not_allowed");
  assert_true(tc_header(&r, "Allow", allow, sizeof allow));
  assert_string_equal(allow, "GET, POST");
  tc_response_free(&r);
  tc_send(c, "GET", "/api/register", NULL, &r);
  tc_assert_error(&r, 405, "method_not_allowed");
  assert_true(tc_header(&r, "Allow", allow, sizeof allow));
  assert_string_equal(allow, "POST");
  tc_response_free(&r);
  tc_send(c, "GET", "/api/tweet/000000000000000000000000", NULL, &r);
  assert_true(r.status == 405 || r.status == 404);
  assert_non_null(tc_json_str(&r, "error.code"));
  tc_response_free(&r);
  tc_client_destroy(c);
}

/* What civetweb refuses itself, before any handler (a method it does not
 * serve, a request line it cannot parse), is answered in the API's error
 * shape as JSON too (http_civetweb_error; found by schemathesis,
 * integration.test_openapi). */
static void test_civetweb_errors_are_json(void **state) {
  (void)state;
  tc_client_t *c = tc_client_new(tc_url_a());
  tc_response_t r;
  tc_send(c, "TRACE", "/api/tweet", NULL, &r);
  assert_true(r.status >= 400 && r.status < 500);
  assert_non_null(tc_json_str(&r, "error.code"));
  assert_non_null(tc_json_str(&r, "error.message"));
  char type[64];
  assert_true(tc_header(&r, "Content-Type", type, sizeof type));
  assert_string_equal(type, "application/json; charset=utf-8");
  tc_response_free(&r);
  tc_client_destroy(c);

  const char *colon = strrchr(tc_url_a(), ':');
  assert_non_null(colon);
  int fd = tc_raw_connect(atoi(colon + 1), "127.0.0.1");
  assert_true(tc_raw_send(fd, "DELETE /api/tweet/\xC2\xB3 HTTP/1.1\r\n"
                              "Host: x\r\nBad Header\r\n\r\n"));
  char answer[2048];
  tc_raw_read_answer(fd, answer, sizeof answer);
  assert_true(tc_raw_status_is(answer, "400"));
  assert_non_null(strstr(answer, "application/json"));
  assert_non_null(strstr(answer, "{ \"error\" : { \"code\" : \"bad_request\""));
  close(fd);
}

static void test_json_headers_on_every_answer(void **state) {
  (void)state;
  tc_client_t *c = tc_client_new(tc_url_a());
  tc_response_t r;
  char value[256];
  tc_get(c, "/api/me", &r);
  assert_true(tc_header(&r, "Content-Type", value, sizeof value));
  assert_string_equal(value, "application/json; charset=utf-8");
  assert_true(tc_header(&r, "Cache-Control", value, sizeof value));
  assert_string_equal(value, "no-store");
  assert_true(tc_header(&r, "X-Content-Type-Options", value, sizeof value));
  assert_true(tc_header(&r, "X-Chorus-Server", value, sizeof value));
  tc_response_free(&r);
  tc_client_destroy(c);
}

static void test_health_probes(void **state) {
  (void)state;
  tc_client_t *c = tc_client_new(tc_url_a());
  tc_response_t r;
  tc_get_ok(c, "/healthz", &r);
  assert_string_equal(tc_json_str(&r, "status"), "ok");
  tc_response_free(&r);
  tc_get_ok(c, "/readyz", &r);
  assert_string_equal(tc_json_str(&r, "status"), "ok");
  assert_true(tc_json_has(&r, "database"));
  tc_response_free(&r);
  tc_client_destroy(c);
}

static void test_static_page_has_csp(void **state) {
  (void)state;
  tc_client_t *c = tc_client_new(tc_url_a());
  tc_response_t r;
  char value[512];
  tc_get_ok(c, "/", &r);
  assert_non_null(strstr(r.body, "<html"));
  assert_true(tc_header(&r, "Content-Security-Policy", value, sizeof value));
  assert_non_null(strstr(value, "script-src 'self'"));
  assert_null(strstr(value, "unsafe-inline"));
  tc_response_free(&r);
  tc_expect_status(c, "GET", "/js/main.js", NULL, 200);
  tc_get(c, "/../CMakeLists.txt", &r);
  assert_true(r.status == 404 || r.status == 400 || r.status == 403);
  tc_response_free(&r);
  tc_client_destroy(c);
}

static void test_app_paths_get_the_page(void **state) {
  (void)state;
  tc_client_t *c = tc_client_new(tc_url_a());
  tc_response_t r;
  char value[512];
  static const char *app_paths[] = {"/u/somebody",
                                    "/t/6b012e4802a948e4df00a662", "/search",
                                    "/notifications", "/global"};
  for (size_t i = 0; i < sizeof app_paths / sizeof app_paths[0]; i++) {
    tc_get_ok(c, app_paths[i], &r);
    assert_non_null(strstr(r.body, "<html"));
    assert_true(tc_header(&r, "Content-Security-Policy", value, sizeof value));
    tc_response_free(&r);
  }
  /* Missing files and API paths stay 404 (the API's as JSON). */
  tc_expect_status(c, "GET", "/nope.js", NULL, 404);
  tc_expect_error(c, "GET", "/api/nope", NULL, 404, "not_found");
  tc_client_destroy(c);
}

static void test_request_ids_and_metrics(void **state) {
  (void)state;
  tc_client_t *c = tc_client_new(tc_url_a());
  tc_response_t r;
  char id[80];
  /* A plain id from the client (e.g. a proxy's) is kept... */
  const char *given[] = {"X-Request-Id: trace-42.a_b", NULL};
  tc_request(c, "GET", "/api/tweet?limit=1", NULL, 0, given, &r);
  tc_assert_status(&r, 200);
  assert_true(tc_header(&r, "X-Request-Id", id, sizeof id));
  assert_string_equal(id, "trace-42.a_b");
  tc_response_free(&r);
  /* ...anything else is replaced by a fresh one. */
  const char *odd[] = {"X-Request-Id: <script>", NULL};
  tc_request(c, "GET", "/api/me", NULL, 0, odd, &r);
  assert_true(tc_header(&r, "X-Request-Id", id, sizeof id));
  assert_int_equal(strlen(id), 16);
  assert_null(strchr(id, '<'));
  tc_response_free(&r);
  char other[80];
  tc_get(c, "/api/me", &r);
  assert_true(tc_header(&r, "X-Request-Id", other, sizeof other));
  assert_string_not_equal(id, other);
  tc_response_free(&r);

  /* A write on server A, for the write gate's held time below. */
  tc_client_destroy(logged_in());
  tc_get_ok(c, "/metrics", &r);
  assert_true(tc_header(&r, "Content-Type", id, sizeof id));
  assert_non_null(strstr(id, "text/plain"));
  assert_non_null(strstr(r.body, "chorus_http_requests_total{route=\"/api/me\","
                                 "method=\"GET\",status=\"401\"}"));
  assert_non_null(
      strstr(r.body, "chorus_http_request_duration_seconds_bucket"));
  assert_non_null(strstr(r.body, "chorus_txn_total{outcome=\"committed\"}"));
  assert_non_null(strstr(r.body, "chorus_ws_clients"));
  assert_non_null(strstr(r.body, "chorus_event_lag"));
  assert_non_null(strstr(r.body, "chorus_db_pool_wait_seconds_total"));
  /* ctest runs one test at a time (-j1) and nothing else asks server A
   * for anything now: the only request in flight is this one, once the
   * registration above is counted out (a request is, just after its
   * answer is sent: this may ask before that; not for long). */
  for (int tries = 0;
       metric(r.body, "chorus_http_requests_in_flight") != 1 && tries < 50;
       tries++) {
    tc_response_free(&r);
    tc_sleep_ms(10);
    tc_get_ok(c, "/metrics", &r);
  }
  assert_true(metric(r.body, "chorus_http_requests_in_flight") == 1);
  /* One write at a time per server on FerretDB (SQLite has one writer),
   * no limit on MongoDB (--db-write-gate -1, write_gate.h). */
  assert_true(metric(r.body, "chorus_db_write_gate_limit") ==
              (database_is_ferretdb() ? 1 : 0));
  assert_true(metric(r.body, "chorus_db_write_gate_waits_total") >= 0);
  assert_true(metric(r.body, "chorus_db_write_gate_wait_seconds_total") >= 0);
  assert_true(metric(r.body, "chorus_db_write_gate_timeouts_total") >= 0);
  /* The registration's writes held the gate for some time on FerretDB;
   * without a limit no write is counted. */
  double held = metric(r.body, "chorus_db_write_gate_held_seconds_total");
  assert_true(database_is_ferretdb() ? held > 0 : held == 0);
  tc_response_free(&r);
  tc_client_destroy(c);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_malformed_json_is_400),
      cmocka_unit_test(test_bodyless_routes_refuse_non_objects),
      cmocka_unit_test(test_deeply_nested_json_is_rejected_not_crashing),
      cmocka_unit_test(test_body_over_16k_is_413),
      cmocka_unit_test(test_content_type_must_be_json),
      cmocka_unit_test(test_cross_site_writes_are_403),
      cmocka_unit_test(test_unknown_routes_and_methods),
      cmocka_unit_test(test_civetweb_errors_are_json),
      cmocka_unit_test(test_json_headers_on_every_answer),
      cmocka_unit_test(test_health_probes),
      cmocka_unit_test(test_static_page_has_csp),
      cmocka_unit_test(test_request_ids_and_metrics),
      cmocka_unit_test(test_app_paths_get_the_page),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
