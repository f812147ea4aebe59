/*
 * test_api_origins.c - who may act with a user's cookie, on a real server
 * started with the default public origins (scripts/test.sh: --host
 * 127.0.0.1, so http://127.0.0.1:PORT and http://localhost:PORT):
 *
 * - DNS rebinding: a page of another name that resolves to the server
 *   sends a Host and an Origin that agree; its write is 403 cross_site
 *   and nothing is created (the rule never compares Origin with Host);
 * - writes from the public origins pass, from any other origin (another
 *   port of the same host, the WebSocket port, "null") are 403; writes
 *   without Origin (not a browser) pass;
 * - CORS: a preflight from another origin gets no
 *   Access-Control-Allow-Origin (civetweb's default answered it with *),
 *   and neither does a file or an API answer to a request with an Origin;
 * - GET /api/config takes nothing from the Host header;
 * - WebSocket upgrades: a foreign or "null" Origin is 403, the public
 *   origins and no Origin are 101; a Sec-WebSocket-Version other than 13
 *   is 426 with "Sec-WebSocket-Version: 13"; each refusal is a JSON error
 *   in the API's shape; an unmasked client frame closes the connection
 *   with 1002.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tests/client/rawws.h"
#include "tests/client/testclient.h"
#include "tests/client/wsclient.h"

/* The port of base ("http://127.0.0.1:PORT"). */
static int port_of(const char *base) {
  const char *colon = strrchr(base, ':');
  assert_non_null(colon);
  return atoi(colon + 1);
}

/* The WebSocket port of the server at base (from GET /api/config). */
static int ws_port_of(const char *base) {
  char url[256];
  tc_ws_url(base, url, sizeof url);
  return port_of(url); /* ws://127.0.0.1:PORT/ws: atoi stops at '/' */
}

static void test_dns_rebinding_cannot_register(void **state) {
  (void)state;
  int port = port_of(tc_url_a());
  tc_client_t *c = tc_client_new(tc_url_a());
  char name[31], host[96], origin[96];
  tc_unique_name("rebind", name);
  snprintf(host, sizeof host, "Host: rebind.evil.example:%d", port);
  snprintf(origin, sizeof origin, "Origin: http://rebind.evil.example:%d",
           port);
  const char *headers[] = {host, origin, NULL};
  char *body = tc_credentials_json(name, TC_PASSWORD);
  tc_response_t r;
  tc_request(c, "POST", "/api/register", body, strlen(body), headers, &r);
  tc_assert_error(&r, 403, "cross_site");
  tc_response_free(&r);
  char path[64];
  snprintf(path, sizeof path, "/api/users/%s", name);
  tc_expect_error(c, "GET", path, NULL, 404, "user_not_found");

  /* The same request from the server's own page registers. */
  snprintf(origin, sizeof origin, "Origin: http://127.0.0.1:%d", port);
  const char *own[] = {origin, "Sec-Fetch-Site: same-origin", NULL};
  tc_request(c, "POST", "/api/register", body, strlen(body), own, &r);
  tc_assert_status(&r, 201);
  tc_response_free(&r);
  free(body);
  tc_client_destroy(c);
}

static void test_writes_from_the_public_origins_only(void **state) {
  (void)state;
  int port = port_of(tc_url_a());
  int ws_port = ws_port_of(tc_url_a());
  char name[31], token[100];
  tc_new_session(tc_url_a(), "orig", name, token, sizeof token);
  tc_client_t *c = tc_client_with_session(tc_url_a(), token);
  const char *tweet = "{\"text\":\"from a page\"}";

  char own_ip[96], own_name[96], other_port[96], ws[96];
  snprintf(own_ip, sizeof own_ip, "Origin: http://127.0.0.1:%d", port);
  snprintf(own_name, sizeof own_name, "Origin: http://localhost:%d", port);
  snprintf(other_port, sizeof other_port, "Origin: http://localhost:%d",
           port_of(tc_url_b()));
  snprintf(ws, sizeof ws, "Origin: http://127.0.0.1:%d", ws_port);
  const char *allowed[] = {own_ip, own_name, NULL};
  for (int i = 0; allowed[i]; i++) {
    const char *h[] = {allowed[i], NULL};
    tc_response_t r;
    tc_request(c, "POST", "/api/tweet", tweet, strlen(tweet), h, &r);
    tc_assert_status(&r, 201);
    tc_response_free(&r);
  }
  tc_response_t r;
  tc_request(c, "POST", "/api/tweet", tweet, strlen(tweet), NULL, &r);
  tc_assert_status(&r, 201); /* no Origin: not a browser */
  tc_response_free(&r);

  const char *refused[] = {other_port, ws, "Origin: null",
                           "Origin: http://evil.example", NULL};
  for (int i = 0; refused[i]; i++) {
    const char *h[] = {refused[i], NULL};
    tc_request(c, "POST", "/api/tweet", tweet, strlen(tweet), h, &r);
    if (r.status != 403) {
      print_error("%s\n", refused[i]);
    }
    tc_assert_error(&r, 403, "cross_site");
    tc_response_free(&r);
  }
  assert_int_equal(tc_profile_int(c, name, "tweet_count"), 3);
  tc_client_destroy(c);
}

/* The value of Access-Control-Allow-Origin in r, or NULL. */
static const char *allow_origin(const tc_response_t *r, char *buf,
                                size_t size) {
  return tc_header(r, "Access-Control-Allow-Origin", buf, size) ? buf : NULL;
}

static void test_no_cors_for_other_origins(void **state) {
  (void)state;
  tc_client_t *c = tc_client_new(tc_url_a());
  const char *preflight[] = {
      "Origin: http://evil.example", "Access-Control-Request-Method: POST",
      "Access-Control-Request-Headers: content-type", NULL};
  const char *paths[] = {"/api/tweet", "/api/login", "/", "/index.html"};
  for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++) {
    tc_response_t r;
    char buf[128];
    tc_request(c, "OPTIONS", paths[i], NULL, 0, preflight, &r);
    if (allow_origin(&r, buf, sizeof buf)) {
      fail_msg("OPTIONS %s: Access-Control-Allow-Origin: %s", paths[i], buf);
    }
    assert_false(
        r.status >= 200 && r.status < 300 &&
        tc_header(&r, "Access-Control-Allow-Methods", buf, sizeof buf));
    tc_response_free(&r);
  }
  const char *origin[] = {"Origin: http://evil.example", NULL};
  const char *gets[] = {"/index.html", "/js/live.js", "/api/config",
                        "/healthz"};
  for (size_t i = 0; i < sizeof gets / sizeof gets[0]; i++) {
    tc_response_t r;
    char buf[128];
    tc_request(c, "GET", gets[i], NULL, 0, origin, &r);
    tc_assert_status(&r, 200);
    if (allow_origin(&r, buf, sizeof buf)) {
      fail_msg("GET %s: Access-Control-Allow-Origin: %s", gets[i], buf);
    }
    tc_response_free(&r);
  }
  tc_client_destroy(c);
}

static void test_config_takes_nothing_from_host(void **state) {
  (void)state;
  int ws_port = ws_port_of(tc_url_a());
  tc_client_t *c = tc_client_new(tc_url_a());
  const char *hosts[] = {"Host: evil.example:8080", "Host: evil.example",
                         "Host: [::1]:1", NULL};
  for (int i = 0; hosts[i]; i++) {
    const char *h[] = {hosts[i], NULL};
    tc_response_t r;
    tc_request(c, "GET", "/api/config", NULL, 0, h, &r);
    tc_assert_status(&r, 200);
    assert_null(strstr(r.body, "evil"));
    assert_null(strstr(r.body, "::1"));
    assert_int_equal(tc_json_int(&r, "ws_port"), ws_port);
    assert_string_equal(tc_json_str(&r, "ws_path"), "/ws");
    tc_response_free(&r);
  }
  tc_client_destroy(c);
}

static void test_websocket_upgrade_origins(void **state) {
  (void)state;
  char name[31], token[100], cookie[160], url[256];
  tc_new_session(tc_url_a(), "wso", name, token, sizeof token);
  snprintf(cookie, sizeof cookie, "chorus_session=%s", token);
  tc_ws_url(tc_url_a(), url, sizeof url);
  int port = port_of(tc_url_a());
  char own_ip[96], own_name[96], ws_self[96], rebind[96];
  snprintf(own_ip, sizeof own_ip, "http://127.0.0.1:%d", port);
  snprintf(own_name, sizeof own_name, "http://localhost:%d", port);
  snprintf(ws_self, sizeof ws_self, "http://127.0.0.1:%d", port_of(url));
  snprintf(rebind, sizeof rebind, "http://rebind.evil.example:%d", port);
  const char *refused[] = {"http://evil.example", "null", ws_self, rebind};
  for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++) {
    int status = 0;
    tc_ws_t *ws = tc_ws_connect_origin(url, cookie, refused[i], &status);
    if (ws) {
      fail_msg("Origin %s: upgraded", refused[i]);
    }
    assert_int_equal(status, 403);
  }
  const char *allowed[] = {own_ip, own_name, NULL};
  for (size_t i = 0; i < sizeof allowed / sizeof allowed[0]; i++) {
    int status = 0;
    tc_ws_t *ws = tc_ws_connect_origin(url, cookie, allowed[i], &status);
    assert_non_null(ws);
    assert_int_equal(status, 101);
    tc_ws_close(ws);
  }
}

/* Sends an upgrade with the version line and cookie to the WebSocket
 * port; the answer's head into head; the status.  fd stays open. */
static int raw_upgrade(int fd, int port, const char *version,
                       const char *cookie, char *head, size_t size) {
  char req[1024];
  int n = tc_raw_upgrade_request(req, sizeof req, port, version, "", cookie);
  tc_raw_write(fd, req, (size_t)n);
  return tc_raw_http_head(fd, head, size);
}

/* A session cookie of a new user on base, and base's WebSocket port. */
static int ws_session(const char *base, char *cookie, size_t size) {
  char name[31], token[100];
  tc_new_session(base, "wsv", name, token, sizeof token);
  snprintf(cookie, size, "chorus_session=%s", token);
  return ws_port_of(base);
}

static void test_websocket_version_other_than_13_is_426(void **state) {
  (void)state;
  char cookie[160], head[2048];
  int port = ws_session(tc_url_b(), cookie, sizeof cookie);

  const char *versions[] = {"Sec-WebSocket-Version: 12\r\n",
                            "Sec-WebSocket-Version: 7\r\n", ""};
  for (size_t i = 0; i < sizeof versions / sizeof versions[0]; i++) {
    int fd = tc_raw_tcp(port, 0);
    assert_int_equal(
        raw_upgrade(fd, port, versions[i], cookie, head, sizeof head), 426);
    assert_non_null(strstr(head, "\r\nSec-WebSocket-Version: 13\r\n"));
    tc_raw_expect_json_error(fd, head, "unsupported_version");
    close(fd);
  }
}

/* A refused upgrade is answered as the HTTP port answers bad input: a
 * JSON error in the API's shape (a foreign Origin, no session). */
static void test_websocket_refusals_are_json_errors(void **state) {
  (void)state;
  char cookie[160], head[2048];
  int port = ws_session(tc_url_a(), cookie, sizeof cookie);
  int fd = tc_raw_tcp(port, 0);
  char req[1024];
  int n = tc_raw_upgrade_request(req, sizeof req, port, TC_RAW_VERSION_13,
                                 "Origin: http://evil.example\r\n", cookie);
  tc_raw_write(fd, req, (size_t)n);
  assert_int_equal(tc_raw_http_head(fd, head, sizeof head), 403);
  tc_raw_expect_json_error(fd, head, "cross_site");
  close(fd);
  fd = tc_raw_tcp(port, 0);
  assert_int_equal(raw_upgrade(fd, port, TC_RAW_VERSION_13,
                               "chorus_session=nobody", head, sizeof head),
                   401);
  tc_raw_expect_json_error(fd, head, "not_logged_in");
  close(fd);
}

static void test_websocket_unmasked_frame_closes_1002(void **state) {
  (void)state;
  char cookie[160], head[2048];
  int port = ws_session(tc_url_b(), cookie, sizeof cookie);
  int fd = tc_raw_tcp(port, 0);
  assert_int_equal(
      raw_upgrade(fd, port, TC_RAW_VERSION_13, cookie, head, sizeof head), 101);
  const char *text = "{\"type\":\"subscribe\"}";
  tc_raw_frame(fd, 1, true, false, text, strlen(text));
  int code = tc_raw_close_code(fd);
  assert_int_equal(code, 1002);
  close(fd);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_dns_rebinding_cannot_register),
      cmocka_unit_test(test_writes_from_the_public_origins_only),
      cmocka_unit_test(test_no_cors_for_other_origins),
      cmocka_unit_test(test_config_takes_nothing_from_host),
      cmocka_unit_test(test_websocket_upgrade_origins),
      cmocka_unit_test(test_websocket_version_other_than_13_is_426),
      cmocka_unit_test(test_websocket_unmasked_frame_closes_1002),
      cmocka_unit_test(test_websocket_refusals_are_json_errors),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
