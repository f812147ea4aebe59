/*
 * test_guard.c - unit tests for what slow, idle and greedy clients get
 * from the HTTP transport (guard.h, http_read_json, http_check_framing):
 * a civetweb server inside the test process with the dispatch, the
 * connection guard and two fake routes (no database), talked to over raw
 * sockets from chosen loopback addresses (127.0.0.0/8 is all local, so
 * 127.0.0.2 is "another client").
 *
 * Two servers, one per group, with the limits small enough to be crossed
 * quickly:
 *   - bodies (no cap, body deadline 300 ms, idle 500 ms): a body that
 *     stops short or trickles past its deadline is 408 and closes, and is
 *     never handed to the handler; one whose client gives up is 400; two
 *     Content-Lengths, Content-Length with Transfer-Encoding, and chunked
 *     bodies are refused; anything after the JSON object but whitespace
 *     is 400; a kept-alive connection idle past its timeout is closed.
 *   - connections (6 workers, 3 per address, head deadline 5 s, one spare
 *     worker, 127.0.0.3 a trusted proxy): a head that trickles in is cut
 *     at its deadline whatever its pace; a fourth connection from one
 *     address is refused with 503 while another address is served; an
 *     idle kept-alive connection of an address at its cap makes room for
 *     a new one; a trusted proxy is not capped, nor are its idle
 *     connections closed when workers are scarce; idle kept-alive
 *     connections are closed when no worker is free, so others are
 *     served, and answers given then close their connection.
 * Timing is only ever a generous bound: what is checked is that the
 * server closed, refused or answered, never how fast.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "server/http/dispatch.h"
#include "server/http/guard.h"
#include "tests/client/rawclient.h"

/* ------------------------------------------------------------------ */
/* fake handlers                                                       */
/* ------------------------------------------------------------------ */

static atomic_int processed; /* bodies the echo handler got whole */

static void h_hello(http_request_t *req) {
  const char *json = "{\"hello\":true}";
  http_reply_json_text(req, 200, json, strlen(json), NULL);
}

/* Reads the JSON body and answers it back: a body it gets is "processed"
 * (where a real handler would write). */
static void h_echo(http_request_t *req) {
  bson_t body;
  chorus_error_t err;
  if (!http_read_json(req, true, &body, &err)) {
    http_reply_error(req, &err);
    return;
  }
  atomic_fetch_add(&processed, 1);
  http_reply_json(req, 200, &body, NULL);
  bson_destroy(&body);
}

static const route_t routes[] = {
    {"GET", "/healthz", h_hello},
    {"POST", "/api/echo", h_echo},
};

/* ------------------------------------------------------------------ */
/* the server                                                          */
/* ------------------------------------------------------------------ */

#define WORKERS 6

static metrics_t *metrics;
static dispatch_t *dispatch;
static guard_t *guard;
static struct mg_context *http;
static int port;

static void start(const guard_config_t *gc) {
  metrics = metrics_new();
  http_transport_t t = {.server_id = "unit", .metrics = metrics};
  dispatch = dispatch_new(&t);
  dispatch_add_routes(dispatch, routes, sizeof routes / sizeof routes[0], NULL);
  guard = guard_new(gc);
  mg_init_library(0);
  char threads[16];
  snprintf(threads, sizeof threads, "%d", gc->workers);
  const char *options[] = {"listening_ports",
                           "127.0.0.1:0",
                           "num_threads",
                           threads,
                           "enable_keep_alive",
                           "yes",
                           "keep_alive_timeout_ms",
                           "60000",
                           "request_timeout_ms",
                           "60000",
                           NULL};
  struct mg_callbacks cb;
  memset(&cb, 0, sizeof cb);
  guard_set_callbacks(&cb);
  http = mg_start(&cb, NULL, options);
  assert_non_null(http);
  struct mg_server_port ports[2];
  assert_true(mg_get_server_ports(http, 2, ports) >= 1);
  port = ports[0].port;
  chorus_error_t err;
  assert_true(guard_start(guard, port, &err));
  mg_set_request_handler(http, "/api", dispatch_serve, dispatch);
  mg_set_request_handler(http, "/healthz", dispatch_serve, dispatch);
}

static int stop(void **state) {
  (void)state;
  mg_stop(http);
  guard_destroy(guard);
  mg_exit_library();
  dispatch_destroy(dispatch);
  metrics_destroy(metrics);
  return 0;
}

static int start_bodies(void **state) {
  (void)state;
  guard_config_t gc = {.name = "bodies",
                       .workers = WORKERS,
                       .per_address = 0,
                       .head_timeout_ms = 10000,
                       .body_timeout_ms = 300,
                       .idle_timeout_ms = 500,
                       .spare_workers = 0};
  start(&gc);
  return 0;
}

static int start_connections(void **state) {
  (void)state;
  guard_config_t gc = {.name = "connections",
                       .workers = WORKERS,
                       .per_address = 3,
                       .head_timeout_ms = 5000,
                       .body_timeout_ms = 10000,
                       .idle_timeout_ms = 60000,
                       .spare_workers = 1,
                       .trusted_proxies = "10.9.9.9, 127.0.0.3"};
  start(&gc);
  return 0;
}

static guard_stats_t stats(void) {
  guard_stats_t s;
  guard_get_stats(guard, &s);
  return s;
}

static int64_t now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Waits (10 s at most) until no connection is open: what a test leaves
 * behind never weighs on the next. */
static int settle(void **state) {
  (void)state;
  for (int64_t until = now_ms() + 10000; now_ms() < until;) {
    if (stats().open == 0) {
      return 0;
    }
    usleep(10000);
  }
  fail_msg("%lld connections still open", (long long)stats().open);
  return -1;
}

/* ------------------------------------------------------------------ */
/* raw sockets (tests/client/rawclient.h)                              */
/* ------------------------------------------------------------------ */

static int connect_from(const char *src) { return tc_raw_connect(port, src); }

/* GET /healthz on a kept-alive connection from src; asserts the 200 and
 * returns the connection, idle after its answer. */
static int kept_alive_from(const char *src) {
  int fd = connect_from(src);
  assert_true(tc_raw_send(fd, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"));
  char answer[2048];
  tc_raw_read_answer(fd, answer, sizeof answer);
  assert_true(strncmp(answer, "HTTP/1.1 200 ", 13) == 0);
  return fd;
}

static void assert_status(const char *answer, const char *code) {
  if (!tc_raw_status_is(answer, code)) {
    fail_msg("expected %s, got: %.200s", code, answer);
  }
}

/* POST /api/echo with extra header lines and a body as sent. */
static void post_echo(int fd, const char *headers, const char *body) {
  char req[1024];
  snprintf(req, sizeof req,
           "POST /api/echo HTTP/1.1\r\nHost: x\r\n"
           "Content-Type: application/json\r\n%s\r\n%s",
           headers, body);
  assert_true(tc_raw_send(fd, req));
}

/* ------------------------------------------------------------------ */
/* bodies                                                              */
/* ------------------------------------------------------------------ */

static void body_short_of_its_length_is_408_and_never_processed(void **s) {
  (void)s;
  int before = atomic_load(&processed);
  int64_t timeouts = stats().body_timeouts;
  int fd = connect_from("127.0.0.1");
  post_echo(fd, "Content-Length: 40\r\n", "{\"text\":\"a\"");
  char answer[2048];
  tc_raw_read_answer(fd, answer, sizeof answer);
  assert_status(answer, "408");
  assert_non_null(strstr(answer, "\"body_timeout\""));
  assert_non_null(strstr(answer, "\r\nConnection: close\r\n"));
  assert_true(tc_raw_closed_within(fd, 10000));
  close(fd);
  assert_int_equal(atomic_load(&processed), before);
  assert_true(stats().body_timeouts > timeouts);
}

static void body_trickling_past_its_deadline_is_cut_off(void **s) {
  (void)s;
  int before = atomic_load(&processed);
  int fd = connect_from("127.0.0.1");
  post_echo(fd, "Content-Length: 200\r\n", "{");
  /* One byte every 20 ms would take 4 s; the deadline is 300 ms. */
  int sent = 1;
  while (sent < 199 && tc_raw_send(fd, " ")) {
    sent++;
    usleep(20000);
  }
  assert_true(sent < 199); /* the server stopped reading, and closed */
  char answer[2048];
  tc_raw_read_answer(fd, answer, sizeof answer);
  assert_status(answer, "408");
  assert_non_null(strstr(answer, "\"body_timeout\""));
  assert_true(tc_raw_closed_within(fd, 10000));
  close(fd);
  assert_int_equal(atomic_load(&processed), before);
}

static void body_its_client_gave_up_on_is_400(void **s) {
  (void)s;
  int before = atomic_load(&processed);
  int fd = connect_from("127.0.0.1");
  post_echo(fd, "Content-Length: 40\r\n", "{\"text\":\"a\"}");
  shutdown(fd, SHUT_WR); /* nothing more will come */
  char answer[2048];
  tc_raw_read_answer(fd, answer, sizeof answer);
  assert_status(answer, "400");
  assert_non_null(strstr(answer, "\"body_incomplete\""));
  close(fd);
  assert_int_equal(atomic_load(&processed), before);
}

/* Sends headers and body on a fresh connection: the answer into buf. */
static void echo_once(const char *headers, const char *body, char *buf,
                      size_t size) {
  int fd = connect_from("127.0.0.1");
  post_echo(fd, headers, body);
  tc_raw_read_answer(fd, buf, size);
  close(fd);
}

static void ambiguous_lengths_are_refused_and_close(void **s) {
  (void)s;
  int before = atomic_load(&processed);
  static const char *const ambiguous[] = {
      "Content-Length: 12\r\nContent-Length: 13\r\n",
      "Content-Length: 12, 13\r\n",
      "Content-Length: +12\r\n",
      "Content-Length: 12\r\nTransfer-Encoding: chunked\r\n",
      "Transfer-Encoding: chunked\r\nContent-Length: 12\r\n",
      "Transfer-Encoding: identity\r\nContent-Length: 12\r\n",
  };
  char answer[2048];
  for (size_t i = 0; i < sizeof ambiguous / sizeof ambiguous[0]; i++) {
    echo_once(ambiguous[i], "{\"text\":\"a\"}", answer, sizeof answer);
    assert_status(answer, "400");
    assert_non_null(strstr(answer, "\"bad_framing\""));
    assert_non_null(strstr(answer, "\r\nConnection: close\r\n"));
  }
  echo_once("Transfer-Encoding: chunked\r\n",
            "c\r\n{\"text\":\"a\"}\r\n0\r\n\r\n", answer, sizeof answer);
  assert_status(answer, "411");
  assert_non_null(strstr(answer, "\"length_required\""));
  assert_int_equal(atomic_load(&processed), before);

  /* One length said twice alike is one length. */
  echo_once("Content-Length: 12\r\nContent-Length: 12\r\n", "{\"text\":\"a\"}",
            answer, sizeof answer);
  assert_status(answer, "200");
  echo_once("Content-Length: 12, 12\r\n", "{\"text\":\"a\"}", answer,
            sizeof answer);
  assert_status(answer, "200");
  assert_int_equal(atomic_load(&processed), before + 2);
}

static void only_whitespace_may_follow_the_json_object(void **s) {
  (void)s;
  static const char *const trailing[] = {
      "{\"text\":\"a\"}{\"text\":\"b\"}",
      "{\"text\":\"a\"} x",
      "{\"text\":\"}{\"}]",
  };
  char headers[64], answer[2048];
  int before = atomic_load(&processed);
  for (size_t i = 0; i < sizeof trailing / sizeof trailing[0]; i++) {
    snprintf(headers, sizeof headers, "Content-Length: %zu\r\n",
             strlen(trailing[i]));
    echo_once(headers, trailing[i], answer, sizeof answer);
    assert_status(answer, "400");
    assert_non_null(strstr(answer, "\"invalid_json\""));
  }
  assert_int_equal(atomic_load(&processed), before);
  static const char *const fine[] = {
      "{\"text\":\"a\"}  \r\n\t",
      " \n{\"text\":\"}{\\\"\"}\n",
  };
  for (size_t i = 0; i < sizeof fine / sizeof fine[0]; i++) {
    snprintf(headers, sizeof headers, "Content-Length: %zu\r\n",
             strlen(fine[i]));
    echo_once(headers, fine[i], answer, sizeof answer);
    assert_status(answer, "200");
  }
  assert_int_equal(atomic_load(&processed), before + 2);
}

static void exact_bodies_keep_the_connection_alive(void **s) {
  (void)s;
  int fd = connect_from("127.0.0.1");
  char answer[2048];
  for (int i = 0; i < 3; i++) {
    post_echo(fd, "Content-Length: 12\r\n", "{\"text\":\"a\"}");
    tc_raw_read_answer(fd, answer, sizeof answer);
    assert_status(answer, "200");
    assert_non_null(strstr(answer, "\r\nConnection: keep-alive\r\n"));
  }
  close(fd);
}

static void idle_kept_alive_connection_is_closed_after_its_timeout(void **s) {
  (void)s;
  int64_t idle = stats().idle_timeouts;
  int fd = kept_alive_from("127.0.0.1");
  assert_true(tc_raw_closed_within(fd, 10000)); /* the idle timeout is 500 ms */
  close(fd);
  assert_true(stats().idle_timeouts > idle);
}

/* ------------------------------------------------------------------ */
/* connections                                                         */
/* ------------------------------------------------------------------ */

static void head_trickling_in_is_cut_at_its_deadline(void **s) {
  (void)s;
  int64_t heads = stats().head_timeouts;
  int fd = connect_from("127.0.0.2");
  assert_true(tc_raw_send(fd, "GET /healthz HTTP/1.1\r\n"));
  /* A header line every 50 ms for 10 s, never the blank line that ends
   * the head: cut off at the 5 s deadline, however steadily it comes. */
  int lines = 0;
  while (lines < 200 && tc_raw_send(fd, "X-A: b\r\n")) {
    lines++;
    usleep(50000);
  }
  assert_true(lines < 200);
  close(fd);
  assert_true(stats().head_timeouts > heads);
}

static void connections_over_the_cap_are_refused_others_served(void **s) {
  (void)s;
  int64_t refused = stats().refused;
  int held[3];
  for (int i = 0; i < 3; i++) {
    held[i] = connect_from("127.0.0.2"); /* no request: not idle */
  }
  char answer[2048];
  for (int i = 0; i < 2; i++) {
    int extra = connect_from("127.0.0.2");
    tc_raw_read_answer(extra, answer, sizeof answer);
    /* The 503 is sent as the connection is refused; a reset may beat it. */
    if (answer[0]) {
      assert_status(answer, "503");
      assert_non_null(strstr(answer, "\"too_many_connections\""));
    }
    assert_true(tc_raw_closed_within(extra, 10000));
    close(extra);
  }
  assert_int_equal(stats().refused, refused + 2);
  int other = kept_alive_from("127.0.0.1");
  close(other);
  for (int i = 0; i < 3; i++) {
    assert_true(tc_raw_still_open(held[i]));
    close(held[i]);
  }
}

static void idle_connection_at_the_cap_makes_room(void **s) {
  (void)s;
  int64_t evicted = stats().evicted;
  int idle[3];
  for (int i = 0; i < 3; i++) {
    idle[i] = kept_alive_from("127.0.0.2");
    usleep(10000); /* idle[0] has been idle longest */
  }
  int fresh = kept_alive_from("127.0.0.2");
  assert_true(tc_raw_closed_within(idle[0], 10000));
  assert_true(tc_raw_still_open(idle[1]) && tc_raw_still_open(idle[2]));
  assert_int_equal(stats().evicted, evicted + 1);
  for (int i = 0; i < 3; i++) {
    close(idle[i]);
  }
  close(fresh);
}

static void trusted_proxy_is_not_capped(void **s) {
  (void)s;
  int64_t refused = stats().refused, scarce = stats().idle_scarce;
  /* Five kept-alive connections from the proxy (the cap is 3), and a
   * head arriving slowly on the last worker: workers are scarce, but the
   * proxy's idle pool is left to the proxy. */
  int fds[WORKERS - 1];
  for (int i = 0; i < WORKERS - 1; i++) {
    fds[i] = kept_alive_from("127.0.0.3");
  }
  int slow = connect_from("127.0.0.30");
  assert_true(tc_raw_send(slow, "GET /healthz HTTP/1.1\r\n"));
  for (int64_t until = now_ms() + 10000;
       stats().busy < WORKERS && now_ms() < until;) {
    usleep(10000);
  }
  usleep(5 * GUARD_SCARCE_IDLE_MS * 1000);
  for (int i = 0; i < WORKERS - 1; i++) {
    assert_true(tc_raw_still_open(fds[i]));
    close(fds[i]);
  }
  close(slow);
  assert_int_equal(stats().refused, refused);
  assert_int_equal(stats().idle_scarce, scarce);
}

static void idle_connections_make_way_when_workers_are_scarce(void **s) {
  (void)s;
  int64_t scarce = stats().idle_scarce;
  /* Idle kept-alive connections on all workers but one, each from an
   * address of its own (no cap applies), and a head arriving slowly on
   * the last: no worker is free. */
  int idle[WORKERS - 1];
  char src[32];
  for (int i = 0; i < WORKERS - 1; i++) {
    snprintf(src, sizeof src, "127.0.0.%d", 20 + i);
    idle[i] = kept_alive_from(src);
  }
  int slow = connect_from("127.0.0.30");
  assert_true(tc_raw_send(slow, "GET /healthz HTTP/1.1\r\n"));
  /* The idle timeout is a minute: idle ones are closed because a worker
   * is needed (as many as it takes), and a newcomer is served. */
  int fresh = kept_alive_from("127.0.0.1");
  int closed = 0;
  for (int i = 0; i < WORKERS - 1; i++) {
    closed += !tc_raw_still_open(idle[i]);
    close(idle[i]);
  }
  assert_true(closed >= 1);
  assert_true(tc_raw_still_open(slow));
  assert_true(stats().idle_scarce > scarce);
  close(fresh);
  close(slow);
}

static void answers_close_while_workers_are_scarce(void **s) {
  (void)s;
  /* Heads arriving slowly hold all workers but one; they are not idle,
   * so nothing makes way for the last request, whose answer then closes
   * its connection to give its worker back. */
  int slow[WORKERS - 1];
  char src[32];
  for (int i = 0; i < WORKERS - 1; i++) {
    snprintf(src, sizeof src, "127.0.0.%d", 40 + i);
    slow[i] = connect_from(src);
    assert_true(tc_raw_send(slow[i], "GET /healthz HTTP/1.1\r\n"));
  }
  for (int64_t until = now_ms() + 10000;
       stats().busy < WORKERS - 1 && now_ms() < until;) {
    usleep(10000);
  }
  int fd = connect_from("127.0.0.1");
  assert_true(tc_raw_send(fd, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"));
  char answer[2048];
  tc_raw_read_answer(fd, answer, sizeof answer);
  assert_status(answer, "200");
  assert_non_null(strstr(answer, "\r\nConnection: close\r\n"));
  assert_true(tc_raw_closed_within(fd, 10000));
  close(fd);
  for (int i = 0; i < WORKERS - 1; i++) {
    close(slow[i]);
  }
}

int main(void) {
  const struct CMUnitTest bodies[] = {
      cmocka_unit_test_teardown(
          body_short_of_its_length_is_408_and_never_processed, settle),
      cmocka_unit_test_teardown(body_trickling_past_its_deadline_is_cut_off,
                                settle),
      cmocka_unit_test_teardown(body_its_client_gave_up_on_is_400, settle),
      cmocka_unit_test_teardown(ambiguous_lengths_are_refused_and_close,
                                settle),
      cmocka_unit_test_teardown(only_whitespace_may_follow_the_json_object,
                                settle),
      cmocka_unit_test_teardown(exact_bodies_keep_the_connection_alive, settle),
      cmocka_unit_test_teardown(
          idle_kept_alive_connection_is_closed_after_its_timeout, settle),
  };
  const struct CMUnitTest connections[] = {
      cmocka_unit_test_teardown(head_trickling_in_is_cut_at_its_deadline,
                                settle),
      cmocka_unit_test_teardown(
          connections_over_the_cap_are_refused_others_served, settle),
      cmocka_unit_test_teardown(idle_connection_at_the_cap_makes_room, settle),
      cmocka_unit_test_teardown(trusted_proxy_is_not_capped, settle),
      cmocka_unit_test_teardown(
          idle_connections_make_way_when_workers_are_scarce, settle),
      cmocka_unit_test_teardown(answers_close_while_workers_are_scarce, settle),
  };
  int failed =
      cmocka_run_group_tests_name("bodies", bodies, start_bodies, stop);
  failed += cmocka_run_group_tests_name("connections", connections,
                                        start_connections, stop);
  return failed;
}
