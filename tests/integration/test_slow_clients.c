/*
 * test_slow_clients.c - a real chorusd, on the real database, against
 * slow, idle and greedy clients and inexact bodies; and nginx (the real
 * scripts/nginx.conf) in front of it doing the same for its clients.
 *
 * The test starts its own server (tc_server_*, its own database) with
 * limits small enough to be crossed quickly: 8 workers, 4 connections
 * per address, 2 s for a head and for a body, a minute for an idle
 * kept-alive connection, nginx's address (127.0.0.1) trusted; and, when
 * nginx is installed, nginx in front of it.  Clients talk raw HTTP
 * (tests/client/rawclient.h) from chosen loopback addresses: 127.0.0.2
 * is "the other client" whatever 127.0.0.1 does.
 *
 * What must hold:
 * - a tweet whose body stops short of its Content-Length is answered 408
 *   and its connection closed, and nothing is written; nor is one with two
 *   Content-Lengths, Content-Length with Transfer-Encoding, or a second
 *   JSON value after the first (a body with whitespace after it is
 *   posted);
 * - a head that trickles in, one header line at a time, is cut off at its
 *   deadline however steady its pace; a body likewise (408);
 * - a fifth connection from one address is refused (503, closed) while
 *   the four it holds stay open and another address is served;
 * - with far more idle kept-alive connections than workers, the server
 *   still answers a newcomer;
 * - through nginx: a slow body never reaches chorusd (nginx reads it whole
 *   first), a client over nginx's 32 requests in progress gets nginx's
 *   503 "too_many_connections" while another is served, and a head that
 *   trickles in is cut off at nginx's 5 s header deadline.
 * Time is only ever a generous bound; what is checked is that the server
 * answered, refused or closed.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "tests/client/harness.h"
#include "tests/client/rawclient.h"
#include "tests/client/testclient.h"

#ifndef CHORUS_NGINX_TEMPLATE
#error "CHORUS_NGINX_TEMPLATE (path of scripts/nginx.conf) must be defined"
#endif

#define WORKERS 8
#define PER_ADDRESS 4

static tc_server_t srv;
static tc_nginx_t nginx;
static bool have_nginx;
static char slow_db_name[64];

static int setup(void **state) {
  (void)state;
  snprintf(slow_db_name, sizeof slow_db_name, "slow_%d", (int)getpid());
  tc_server_init(&srv, "slow", slow_db_name);
  snprintf(srv.extra, sizeof srv.extra,
           "--threads %d --http-per-address %d --http-head-timeout-ms 2000 "
           "--http-body-timeout-ms 2000 --http-idle-timeout-ms 60000 "
           "--trusted-proxy 127.0.0.1",
           WORKERS, PER_ADDRESS);
  if (!tc_server_start(&srv)) {
    return -1;
  }
  char bin[512];
  have_nginx = tc_nginx_find(bin, sizeof bin) &&
               tc_nginx_start(&nginx, CHORUS_NGINX_TEMPLATE, &srv, 1);
  if (!have_nginx) {
    fprintf(stderr, "[slow] no nginx: its tests are skipped\n");
  }
  return 0;
}

static int teardown(void **state) {
  (void)state;
  if (have_nginx) {
    tc_nginx_stop(&nginx);
  }
  tc_server_kill(&srv, SIGTERM);
  if (!getenv("CHORUS_TEST_KEEP_DB")) {
    tc_db_t d;
    tc_db_open(&d, NULL, slow_db_name);
    tc_db_drop(&d);
    tc_db_close(&d);
  }
  return 0;
}

/* The server's count of connections it closed for reason. */
static double closed_for(const char *reason) {
  char sample[128];
  snprintf(sample, sizeof sample,
           "chorus_http_connections_closed_total{reason=\"%s\"}", reason);
  return tc_metric(srv.url, sample);
}

/* A fresh user's session, as a Cookie header line. */
static void new_session(char name[31], char *cookie, size_t size) {
  char token[128];
  tc_new_session(srv.url, "slow", name, token, sizeof token);
  snprintf(cookie, size, "Cookie: chorus_session=%s\r\n", token);
}

/* POST /api/tweet with the cookie line, extra header lines and a body,
 * as sent, on a fresh connection, which it returns. */
static int post_tweet_raw(const char *cookie, const char *headers,
                          const char *body) {
  int fd = tc_raw_connect(srv.port, "127.0.0.1");
  char req[2048];
  snprintf(req, sizeof req,
           "POST /api/tweet HTTP/1.1\r\nHost: 127.0.0.1\r\n"
           "Content-Type: application/json\r\n%s%s\r\n%s",
           cookie, headers, body);
  assert_true(tc_raw_send(fd, req));
  return fd;
}

static void expect_error(const char *answer, const char *status,
                         const char *code) {
  if (!tc_raw_status_is(answer, status) || !strstr(answer, code)) {
    fail_msg("expected %s %s, got: %.300s", status, code, answer);
  }
}

static int64_t tweets_of(const char *name) {
  tc_client_t *c = tc_client_new(srv.url);
  int64_t n = tc_profile_int(c, name, "tweet_count");
  tc_response_t r;
  tc_get_ok(c, tc_path("/api/users/%s/tweets", name), &r);
  assert_int_equal(tc_json_array_len(&r, "items"), n);
  tc_response_free(&r);
  tc_client_destroy(c);
  return n;
}

/* ------------------------------------------------------------------ */

static void short_body_is_408_and_never_written(void **state) {
  (void)state;
  char name[31], cookie[200], answer[4096];
  new_session(name, cookie, sizeof cookie);
  /* A whole JSON object, 28 bytes short of what the head declares. */
  int fd = post_tweet_raw(cookie, "Content-Length: 40\r\n", "{\"text\":\"a\"}");
  tc_raw_read_answer(fd, answer, sizeof answer);
  expect_error(answer, "408", "\"body_timeout\"");
  assert_non_null(strstr(answer, "\r\nConnection: close\r\n"));
  assert_true(tc_raw_closed_within(fd, 10000));
  close(fd);
  assert_int_equal(tweets_of(name), 0);
}

static void inexact_bodies_are_never_written(void **state) {
  (void)state;
  char name[31], cookie[200], answer[4096];
  new_session(name, cookie, sizeof cookie);
  static const char *const refused[][3] = {
      {"Content-Length: 12\r\nContent-Length: 13\r\n", "{\"text\":\"a\"}",
       "\"bad_framing\""},
      {"Content-Length: 12\r\nTransfer-Encoding: chunked\r\n",
       "{\"text\":\"a\"}", "\"bad_framing\""},
      {"Content-Length: 24\r\n", "{\"text\":\"a\"}{\"text\":\"b\"}",
       "\"invalid_json\""},
  };
  for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++) {
    int fd = post_tweet_raw(cookie, refused[i][0], refused[i][1]);
    tc_raw_read_answer(fd, answer, sizeof answer);
    expect_error(answer, "400", refused[i][2]);
    close(fd);
  }
  assert_int_equal(tweets_of(name), 0);
  int fd =
      post_tweet_raw(cookie, "Content-Length: 15\r\n", "{\"text\":\"a\"} \r\n");
  tc_raw_read_answer(fd, answer, sizeof answer);
  if (!tc_raw_status_is(answer, "201")) {
    fail_msg("expected 201, got: %.300s", answer);
  }
  close(fd);
  assert_int_equal(tweets_of(name), 1);
}

/* Sends a request line, then one line of filler every 100 ms for up to
 * 20 s: true when the server cut the connection first. */
static bool trickle_is_cut(int fd, const char *start, const char *filler) {
  if (!tc_raw_send(fd, start)) {
    return true;
  }
  for (int i = 0; i < 200; i++) {
    if (!tc_raw_send(fd, filler) || !tc_raw_still_open(fd)) {
      return true;
    }
    usleep(100000);
  }
  return false;
}

static void trickling_head_is_cut_at_its_deadline(void **state) {
  (void)state;
  double before = closed_for("head_timeout");
  int fd = tc_raw_connect(srv.port, "127.0.0.2");
  assert_true(
      trickle_is_cut(fd, "GET /healthz HTTP/1.1\r\nHost: x\r\n", "X-A: b\r\n"));
  close(fd);
  assert_true(closed_for("head_timeout") > before);
}

static void trickling_body_is_cut_at_its_deadline(void **state) {
  (void)state;
  double before = closed_for("body_timeout");
  int fd = tc_raw_connect(srv.port, "127.0.0.2");
  assert_true(trickle_is_cut(fd,
                             "POST /api/login HTTP/1.1\r\nHost: x\r\n"
                             "Content-Type: application/json\r\n"
                             "Content-Length: 1000\r\n\r\n{",
                             " "));
  close(fd);
  assert_true(closed_for("body_timeout") > before);
}

static void connections_over_the_cap_are_refused(void **state) {
  (void)state;
  double before = closed_for("refused");
  int held[PER_ADDRESS];
  for (int i = 0; i < PER_ADDRESS; i++) {
    held[i] = tc_raw_connect(srv.port, "127.0.0.2");
  }
  int extra = tc_raw_connect(srv.port, "127.0.0.2");
  char answer[4096];
  tc_raw_read_answer(extra, answer, sizeof answer);
  if (answer[0]) { /* a reset may beat the 503 */
    expect_error(answer, "503", "\"too_many_connections\"");
  }
  assert_true(tc_raw_closed_within(extra, 10000));
  close(extra);
  tc_client_t *c = tc_client_new(srv.url);
  tc_expect_status(c, "GET", "/healthz", NULL, 200);
  tc_client_destroy(c);
  for (int i = 0; i < PER_ADDRESS; i++) {
    assert_true(tc_raw_still_open(held[i]));
    close(held[i]);
  }
  assert_true(closed_for("refused") > before);
}

static void many_idle_connections_do_not_starve_the_server(void **state) {
  (void)state;
  enum { IDLE = 5 * WORKERS };
  int idle[IDLE];
  char src[32], answer[4096];
  /* Each from an address of its own, so no cap applies; the queue beyond
   * the workers is served as idle ones make way. */
  for (int i = 0; i < IDLE; i++) {
    snprintf(src, sizeof src, "127.0.0.%d", 100 + i);
    idle[i] = tc_raw_connect(srv.port, src);
    assert_true(
        tc_raw_send(idle[i], "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"));
  }
  for (int i = 0; i < IDLE; i++) {
    tc_raw_read_answer(idle[i], answer, sizeof answer);
    assert_true(tc_raw_status_is(answer, "200"));
  }
  /* The idle timeout is a minute; the server answers a newcomer within
   * 10 s all the same. */
  tc_client_t *c = tc_client_new(srv.url);
  tc_client_set_timeout_ms(c, 10000);
  tc_expect_status(c, "GET", "/healthz", NULL, 200);
  tc_client_destroy(c);
  for (int i = 0; i < IDLE; i++) {
    close(idle[i]);
  }
}

/* ------------------------------------------------------------------ */
/* through nginx                                                       */
/* ------------------------------------------------------------------ */

/* A slow body to nginx from src: the head and a first byte. */
static int slow_body_to_nginx(const char *src) {
  int fd = tc_raw_connect(nginx.port, src);
  assert_true(tc_raw_send(fd, "POST /api/login HTTP/1.1\r\nHost: x\r\n"
                              "Content-Type: application/json\r\n"
                              "Content-Length: 1000\r\n\r\n{"));
  return fd;
}

static void nginx_keeps_slow_bodies_and_greedy_clients_away(void **state) {
  (void)state;
  if (!have_nginx) {
    skip();
  }
  double bodies = closed_for("body_timeout");
  /* 32 requests in progress from one address: nginx reads their bodies
   * itself; a 33rd is refused by nginx, not by chorusd. */
  int slow[32];
  for (int i = 0; i < 32; i++) {
    slow[i] = slow_body_to_nginx("127.0.0.2");
  }
  int extra = tc_raw_connect(nginx.port, "127.0.0.2");
  char answer[4096];
  bool refused = false;
  /* nginx counts a request once its head is read: retry until the 32
   * are counted (each attempt is a fresh request). */
  for (int attempt = 0; attempt < 50 && !refused; attempt++) {
    assert_true(tc_raw_send(extra, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"));
    tc_raw_read_answer(extra, answer, sizeof answer);
    refused = tc_raw_status_is(answer, "503");
    if (!refused) {
      usleep(100000);
    }
  }
  assert_true(refused);
  assert_non_null(strstr(answer, "\"too_many_connections\""));
  close(extra);
  tc_client_t *c = tc_client_new(nginx.url);
  tc_expect_status(c, "GET", "/healthz", NULL, 200);
  tc_client_destroy(c);
  /* Had nginx passed them on, they would hold every worker of chorusd. */
  assert_true(tc_metric(srv.url, "chorus_http_connections{state=\"busy\"}") <
              WORKERS);
  assert_true(closed_for("body_timeout") == bodies);
  for (int i = 0; i < 32; i++) {
    close(slow[i]);
  }
}

static void nginx_cuts_a_trickling_head(void **state) {
  (void)state;
  if (!have_nginx) {
    skip();
  }
  int fd = tc_raw_connect(nginx.port, "127.0.0.2");
  assert_true(
      trickle_is_cut(fd, "GET /healthz HTTP/1.1\r\nHost: x\r\n", "X-A: b\r\n"));
  close(fd);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(short_body_is_408_and_never_written),
      cmocka_unit_test(inexact_bodies_are_never_written),
      cmocka_unit_test(trickling_head_is_cut_at_its_deadline),
      cmocka_unit_test(trickling_body_is_cut_at_its_deadline),
      cmocka_unit_test(connections_over_the_cap_are_refused),
      cmocka_unit_test(many_idle_connections_do_not_starve_the_server),
      cmocka_unit_test(nginx_keeps_slow_bodies_and_greedy_clients_away),
      cmocka_unit_test(nginx_cuts_a_trickling_head),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
