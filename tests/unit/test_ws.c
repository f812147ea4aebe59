/*
 * test_ws.c - unit tests for ws.h: a ws_server_t on a free port inside
 * the test process, with fake callbacks (no database), talked to by
 * tc_ws clients (tests/client/wsclient.h) and by raw TCP sockets that do
 * the handshake and the framing by hand (tests/client/rawws.h) where a
 * test needs to misbehave: fragment a message, leave a frame unmasked,
 * never read, never answer pings.
 *
 * Covered: upgrades accepted and refused (401) by on_upgrade, with the
 * Cookie header and the query string delivered; plain HTTP (404); 400
 * for an Upgrade to h2c; 426 for a Sec-WebSocket-Version
 * other than 13; 403 for an Origin the origin check refuses ("null"
 * too), none needed; each refusal a JSON error in the API's shape, its
 * connection closed; an unmasked client
 * frame closing with 1002 undelivered (also a control frame, a
 * continuation, one after others in the same read, one sent before the
 * 101); echo
 * through on_message and ws_server_send; fragmented messages reassembled;
 * 1009 for a 10 KB message (whole and fragmented), 1003 for binary, 1007
 * for invalid UTF-8; ws_server_close with a code and reason; sends to
 * unknown ids; a client that never reads is closed once its queue passes
 * queue_max while another keeps receiving, and cut off when even a close
 * cannot reach it; a port in use; peers that do not answer pings
 * are dropped and those that do are kept; max_connections (503); 500
 * concurrent connections and a broadcast; ws_server_stop closing clients
 * with 1001; and the server's memory per idle connection (printed).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "server/realtime/ws.h"
#include "tests/client/rawws.h"
#include "tests/client/wsclient.h"

#define MAX_IDS 4096

/* ------------------------------------------------------------------ */
/* fake callbacks                                                      */
/* ------------------------------------------------------------------ */

typedef struct fake {
  pthread_mutex_t lock;
  ws_server_t *ws;
  bool echo;
  int upgrades, opens, closes, messages;
  int errors; /* broken promises seen on the service thread */
  char last_cookie[256];
  char last_query[256];
  bool last_query_null;
  ws_conn_id_t open_ids[MAX_IDS]; /* in order of on_open */
  ws_conn_id_t closed_ids[MAX_IDS];
} fake_t;

typedef struct conn_data {
  ws_conn_id_t id;
  int opened;
} conn_data_t;

static bool fake_upgrade(void *ctx, ws_conn_id_t id, const char *cookie,
                         const char *query, void **user_data) {
  fake_t *f = ctx;
  pthread_mutex_lock(&f->lock);
  f->upgrades++;
  snprintf(f->last_cookie, sizeof f->last_cookie, "%s", cookie ? cookie : "");
  snprintf(f->last_query, sizeof f->last_query, "%s", query ? query : "");
  f->last_query_null = query == NULL;
  pthread_mutex_unlock(&f->lock);
  if (!cookie || !strstr(cookie, "chorus_session=good")) {
    return false;
  }
  conn_data_t *d = calloc(1, sizeof *d); /* freed in fake_close */
  d->id = id;
  *user_data = d;
  return true;
}

static void fake_open(void *ctx, ws_conn_id_t id, void *user_data) {
  fake_t *f = ctx;
  conn_data_t *d = user_data;
  pthread_mutex_lock(&f->lock);
  f->errors += d->id != id || d->opened++ != 0;
  if (f->opens < MAX_IDS) {
    f->open_ids[f->opens] = id;
  }
  f->opens++;
  pthread_mutex_unlock(&f->lock);
}

static void fake_message(void *ctx, ws_conn_id_t id, void *user_data,
                         const char *data, size_t len) {
  fake_t *f = ctx;
  conn_data_t *d = user_data;
  pthread_mutex_lock(&f->lock);
  f->errors += d->id != id || d->opened != 1 || len > WS_MESSAGE_MAX ||
               !bson_utf8_validate(data, len, true);
  f->messages++;
  bool echo = f->echo;
  pthread_mutex_unlock(&f->lock);
  if (echo) {
    ws_server_send(f->ws, id, data, len);
  }
}

static void fake_close(void *ctx, ws_conn_id_t id, void *user_data) {
  fake_t *f = ctx;
  conn_data_t *d = user_data;
  pthread_mutex_lock(&f->lock);
  f->errors += d->id != id;
  pthread_mutex_unlock(&f->lock);
  free(d);
  pthread_mutex_lock(&f->lock);
  if (f->closes < MAX_IDS) {
    f->closed_ids[f->closes] = id;
  }
  f->closes++;
  pthread_mutex_unlock(&f->lock);
}

static int fake_get(fake_t *f, const int *field) {
  pthread_mutex_lock(&f->lock);
  int v = *field;
  pthread_mutex_unlock(&f->lock);
  return v;
}

static bool fake_closed(fake_t *f, ws_conn_id_t id) {
  bool found = false;
  pthread_mutex_lock(&f->lock);
  for (int i = 0; i < f->closes && i < MAX_IDS; i++) {
    found = found || f->closed_ids[i] == id;
  }
  pthread_mutex_unlock(&f->lock);
  return found;
}

static void sleep_ms(int ms) {
  struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
}

/* Polls until *field reaches want; false after timeout_ms. */
static bool wait_count(fake_t *f, const int *field, int want, int timeout_ms) {
  for (int waited = 0; waited <= timeout_ms; waited += 5) {
    if (fake_get(f, field) >= want) {
      return true;
    }
    sleep_ms(5);
  }
  return false;
}

static bool wait_closed_id(fake_t *f, ws_conn_id_t id, int timeout_ms) {
  for (int waited = 0; waited <= timeout_ms; waited += 10) {
    if (fake_closed(f, id)) {
      return true;
    }
    sleep_ms(10);
  }
  return false;
}

/* ------------------------------------------------------------------ */
/* a server on a free port                                             */
/* ------------------------------------------------------------------ */

typedef struct fixture {
  fake_t fake;
  ws_server_t *ws;
  int port;
  char url[128]; /* ws://127.0.0.1:port/ws */
} fixture_t;

static int free_port(void) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a;
  memset(&a, 0, sizeof a);
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
  socklen_t len = sizeof a;
  assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
  close(fd);
  return ntohs(a.sin_port);
}

/* The fixture's public origin: the only page that may open a socket. */
#define PAGE_ORIGIN "http://page.example:8080"

static bool fake_origin_allowed(void *ctx, const char *origin) {
  return ctx == (void *)PAGE_ORIGIN && strcmp(origin, PAGE_ORIGIN) == 0;
}

static fixture_t *fixture_start(const ws_config_t *base) {
  fixture_t *fx = calloc(1, sizeof *fx);
  pthread_mutex_init(&fx->fake.lock, NULL);
  fx->fake.echo = true;
  ws_callbacks_t cb = {&fx->fake, fake_upgrade, fake_open, fake_message,
                       fake_close};
  for (int attempt = 0; attempt < 10 && !fx->ws; attempt++) {
    ws_config_t cfg = base ? *base : (ws_config_t){0};
    cfg.host = "127.0.0.1";
    cfg.port = free_port();
    cfg.origin_allowed = fake_origin_allowed;
    cfg.origin_ctx = (void *)PAGE_ORIGIN;
    chorus_error_t err;
    fx->ws = ws_server_start(&cfg, &cb, &err);
    if (fx->ws) {
      fx->port = cfg.port;
    } else {
      assert_string_equal(err.code, "ws_listen_failed");
    }
  }
  assert_non_null(fx->ws);
  fx->fake.ws = fx->ws;
  snprintf(fx->url, sizeof fx->url, "ws://127.0.0.1:%d/ws", fx->port);
  return fx;
}

static void fixture_stop(fixture_t *fx) {
  ws_server_stop(fx->ws);
  /* every accepted connection got on_close, so every conn_data is freed */
  assert_int_equal(fx->fake.closes, fx->fake.opens);
  assert_int_equal(fx->fake.errors, 0);
  pthread_mutex_destroy(&fx->fake.lock);
  free(fx);
}

static int setup(void **state) {
  *state = fixture_start(NULL);
  return 0;
}

static int teardown(void **state) {
  fixture_stop(*state);
  return 0;
}

#define GOOD_COOKIE "theme=dark; chorus_session=good"

/* Connects a tc_ws client and returns it with its server-side id. */
static tc_ws_t *connect_ok(fixture_t *fx, const char *url, ws_conn_id_t *id) {
  int before = fake_get(&fx->fake, &fx->fake.opens);
  int status = -1;
  tc_ws_t *c = tc_ws_connect(url ? url : fx->url, GOOD_COOKIE, &status);
  assert_non_null(c);
  assert_int_equal(status, 101);
  assert_true(wait_count(&fx->fake, &fx->fake.opens, before + 1, 5000));
  if (id) {
    pthread_mutex_lock(&fx->fake.lock);
    *id = fx->fake.open_ids[before];
    pthread_mutex_unlock(&fx->fake.lock);
  }
  return c;
}

/* ------------------------------------------------------------------ */
/* tests                                                               */
/* ------------------------------------------------------------------ */

static void upgrade_accepted_with_cookie_and_query(void **state) {
  fixture_t *fx = *state;
  char url[200];
  snprintf(url, sizeof url, "%s?since=42&x=y", fx->url);
  ws_conn_id_t id = 0;
  tc_ws_t *c = connect_ok(fx, url, &id);
  assert_true(id != 0);
  pthread_mutex_lock(&fx->fake.lock);
  assert_string_equal(fx->fake.last_cookie, GOOD_COOKIE);
  assert_string_equal(fx->fake.last_query, "since=42&x=y");
  pthread_mutex_unlock(&fx->fake.lock);
  assert_int_equal(ws_server_connections(fx->ws), 1);

  /* no query at all: NULL */
  tc_ws_t *c2 = connect_ok(fx, NULL, NULL);
  pthread_mutex_lock(&fx->fake.lock);
  assert_true(fx->fake.last_query_null);
  pthread_mutex_unlock(&fx->fake.lock);
  assert_int_equal(ws_server_connections(fx->ws), 2);

  tc_ws_close(c);
  tc_ws_close(c2);
  assert_true(wait_count(&fx->fake, &fx->fake.closes, 2, 5000));
  assert_true(fake_closed(&fx->fake, id));
  assert_int_equal(ws_server_connections(fx->ws), 0);
}

static void upgrade_refused_is_401(void **state) {
  fixture_t *fx = *state;
  int status = -1;
  tc_ws_t *c = tc_ws_connect(fx->url, NULL, &status);
  assert_null(c);
  assert_int_equal(status, 401);
  status = -1;
  c = tc_ws_connect(fx->url, "chorus_session=bad", &status);
  assert_null(c);
  assert_int_equal(status, 401);
  assert_int_equal(fake_get(&fx->fake, &fx->fake.upgrades), 2);
  assert_int_equal(fake_get(&fx->fake, &fx->fake.opens), 0);
  assert_int_equal(fake_get(&fx->fake, &fx->fake.closes), 0);

  /* a raw upgrade gets HTTP 401 in the API's error shape, and closed */
  int fd = tc_raw_tcp(fx->port, 0);
  const char *req = "GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
                    "Connection: Upgrade\r\n"
                    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                    "Sec-WebSocket-Version: 13\r\n\r\n";
  tc_raw_write(fd, req, strlen(req));
  char head[2048];
  assert_int_equal(tc_raw_http_head(fd, head, sizeof head), 401);
  tc_raw_expect_json_error(fd, head, "not_logged_in");
  close(fd);
}

static void plain_http_is_404(void **state) {
  fixture_t *fx = *state;
  int fd = tc_raw_tcp(fx->port, 0);
  const char *req = "GET /ws HTTP/1.1\r\nHost: x\r\n\r\n";
  tc_raw_write(fd, req, strlen(req));
  assert_int_equal(tc_raw_http_status(fd), 404);
  close(fd);
  assert_int_equal(fake_get(&fx->fake, &fx->fake.upgrades), 0);
}

/* Sends an upgrade request with the good cookie, the given
 * Sec-WebSocket-Version line ("" for none) and further header lines,
 * then reads the answer's head into head; returns the socket (open) and
 * the status in *status. */
static int raw_upgrade(fixture_t *fx, const char *version, const char *headers,
                       char *head, size_t size, int *status) {
  int fd = tc_raw_tcp(fx->port, 0);
  char req[1024];
  int n = tc_raw_upgrade_request(req, sizeof req, fx->port, version, headers,
                                 GOOD_COOKIE);
  tc_raw_write(fd, req, (size_t)n);
  *status = tc_raw_http_head(fd, head, size);
  return fd;
}

/* An Upgrade to h2c (the one other protocol lws lets the server judge)
 * is 400, before on_upgrade is asked. */
static void upgrade_to_another_protocol_is_400(void **state) {
  fixture_t *fx = *state;
  int fd = tc_raw_tcp(fx->port, 0);
  const char *req = "GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: h2c\r\n"
                    "Connection: Upgrade\r\n"
                    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                    "Sec-WebSocket-Version: 13\r\n\r\n";
  tc_raw_write(fd, req, strlen(req));
  char head[2048];
  assert_int_equal(tc_raw_http_head(fd, head, sizeof head), 400);
  tc_raw_expect_json_error(fd, head, "not_websocket");
  close(fd);
  assert_int_equal(fake_get(&fx->fake, &fx->fake.upgrades), 0);
}

/* RFC 6455 4.4: any version but 13 is 426 naming 13 (lws alone says 101). */
static void upgrade_version_other_than_13_is_426(void **state) {
  fixture_t *fx = *state;
  const char *versions[] = {
      "Sec-WebSocket-Version: 12\r\n", "Sec-WebSocket-Version: 8\r\n",
      "Sec-WebSocket-Version: 14\r\n", "Sec-WebSocket-Version: 13x\r\n", ""};
  for (size_t i = 0; i < sizeof versions / sizeof *versions; i++) {
    char head[2048];
    int status;
    int fd = raw_upgrade(fx, versions[i], "", head, sizeof head, &status);
    if (status != 426) {
      fail_msg("%s: %s", versions[i][0] ? versions[i] : "no version", head);
    }
    assert_non_null(strstr(head, "\r\nSec-WebSocket-Version: 13\r\n"));
    tc_raw_expect_json_error(fd, head, "unsupported_version");
    close(fd);
  }
  assert_int_equal(fake_get(&fx->fake, &fx->fake.upgrades), 0);
  char head[2048];
  int status;
  int fd = raw_upgrade(fx, "Sec-WebSocket-Version: 13\r\n", "", head,
                       sizeof head, &status);
  assert_int_equal(status, 101);
  close(fd);
}

/* The page's origin and non-browsers (no Origin) get in; any other
 * Origin, "null" included, is 403 before on_upgrade is asked. */
static void upgrade_from_a_foreign_origin_is_403(void **state) {
  fixture_t *fx = *state;
  char own[128]; /* the socket's own host:port is no page's origin */
  snprintf(own, sizeof own, "Origin: http://127.0.0.1:%d\r\n", fx->port);
  const char *foreign[] = {
      "Origin: http://evil.example\r\n",
      "Origin: null\r\n",
      "Origin: http://page.example:8081\r\n",
      "Origin: https://page.example:8080\r\n",
      own,
  };
  for (size_t i = 0; i < sizeof foreign / sizeof *foreign; i++) {
    char head[2048];
    int status;
    int fd = raw_upgrade(fx, "Sec-WebSocket-Version: 13\r\n", foreign[i], head,
                         sizeof head, &status);
    if (status != 403) {
      fail_msg("%s -> %d", foreign[i], status);
    }
    tc_raw_expect_json_error(fd, head, "cross_site");
    close(fd);
  }
  assert_int_equal(fake_get(&fx->fake, &fx->fake.upgrades), 0);
  const char *allowed[] = {"Origin: " PAGE_ORIGIN "\r\n", ""};
  for (size_t i = 0; i < sizeof allowed / sizeof *allowed; i++) {
    char head[2048];
    int status;
    int fd = raw_upgrade(fx, "Sec-WebSocket-Version: 13\r\n", allowed[i], head,
                         sizeof head, &status);
    assert_int_equal(status, 101);
    close(fd);
  }
  assert_int_equal(fake_get(&fx->fake, &fx->fake.upgrades), 2);
  assert_true(wait_count(&fx->fake, &fx->fake.closes, 2, 5000));
}

/* RFC 6455 5.1: an unmasked client frame closes with 1002 and is never
 * delivered, whatever comes before it (lws 4.1 alone delivers it). */
static void unmasked_frame_closes_1002(void **state) {
  fixture_t *fx = *state;
  /* A text frame first thing. */
  int fd = tc_raw_ws(fx->port, 0, GOOD_COOKIE);
  tc_raw_frame(fd, 1, true, false, "hello", 5);
  assert_int_equal(tc_raw_close_code(fd), 1002);
  close(fd);
  assert_int_equal(fake_get(&fx->fake, &fx->fake.messages), 0);

  /* After a masked message (echoed), in the same write as another. */
  fd = tc_raw_ws(fx->port, 0, GOOD_COOKIE);
  tc_raw_frame(fd, 1, true, true, "fine", 4);
  int opcode;
  char buf[256];
  size_t len;
  assert_true(tc_raw_read_frame(fd, &opcode, buf, sizeof buf, &len));
  assert_string_equal(buf, "fine");
  unsigned char two[] = {0x81, 0x84,    1,       2,       3,
                         4,    'm' ^ 1, 'o' ^ 2, 'r' ^ 3, 'e' ^ 4,
                         0x81, 0x03,    'b',     'a',     'd'};
  tc_raw_write(fd, two, sizeof two);
  assert_int_equal(tc_raw_close_code(fd), 1002);
  close(fd);
  /* "more", before it, was delivered (its echo came after the close). */
  assert_int_equal(fake_get(&fx->fake, &fx->fake.messages), 2);

  /* A control frame (ping), a fragment's continuation, a long one. */
  fd = tc_raw_ws(fx->port, 0, GOOD_COOKIE);
  tc_raw_frame(fd, 9, true, false, "p", 1);
  assert_int_equal(tc_raw_close_code(fd), 1002); /* lws never saw it */
  close(fd);
  fd = tc_raw_ws(fx->port, 0, GOOD_COOKIE);
  tc_raw_frame(fd, 1, false, true, "par", 3);
  tc_raw_frame(fd, 0, true, false, "tial", 4);
  assert_int_equal(tc_raw_close_code(fd), 1002);
  close(fd);
  char big[3000];
  memset(big, 'x', sizeof big);
  fd = tc_raw_ws(fx->port, 0, GOOD_COOKIE);
  tc_raw_frame(fd, 1, true, true, big, sizeof big); /* 16-bit length, masked */
  char echoed[sizeof big + 1];
  assert_true(tc_raw_read_frame(fd, &opcode, echoed, sizeof echoed, &len));
  assert_int_equal(len, sizeof big);
  tc_raw_frame(fd, 1, true, false, big, sizeof big);
  assert_int_equal(tc_raw_close_code(fd), 1002);
  close(fd);
  assert_int_equal(fake_get(&fx->fake, &fx->fake.messages), 3);
  assert_true(wait_count(&fx->fake, &fx->fake.closes, 5, 5000));
}

/* Frames a client sent with its upgrade request, before the 101: taken
 * as lws takes them when masked, closed with 1002 when not. */
static void frames_before_the_101(void **state) {
  fixture_t *fx = *state;
  for (int masked = 1; masked >= 0; masked--) {
    int fd = tc_raw_tcp(fx->port, 0);
    char req[512];
    int n = tc_raw_upgrade_request(req, sizeof req, fx->port, TC_RAW_VERSION_13,
                                   "", GOOD_COOKIE);
    unsigned char frame[] = {0x81, 0x82, 9, 9, 9, 9, 'h' ^ 9, 'i' ^ 9};
    if (!masked) {
      unsigned char plain[] = {0x81, 0x02, 'h', 'i'};
      memcpy(frame, plain, sizeof plain);
    }
    char all[600];
    memcpy(all, req, (size_t)n);
    memcpy(all + n, frame, masked ? sizeof frame : 4);
    tc_raw_write(fd, all, (size_t)n + (masked ? sizeof frame : 4));
    assert_int_equal(tc_raw_http_status(fd), 101);
    if (masked) {
      int opcode;
      char buf[64];
      size_t len;
      assert_true(tc_raw_read_frame(fd, &opcode, buf, sizeof buf, &len));
      assert_string_equal(buf, "hi");
    } else {
      assert_int_equal(tc_raw_close_code(fd), 1002);
    }
    close(fd);
  }
  assert_int_equal(fake_get(&fx->fake, &fx->fake.messages), 1);
  assert_true(wait_count(&fx->fake, &fx->fake.closes, 2, 5000));
}

static void echo(void **state) {
  fixture_t *fx = *state;
  tc_ws_t *c = connect_ok(fx, NULL, NULL);
  const char *msgs[] = {"hello", "", "{\"type\":\"ping\"}", "h\xc3\xa9llo"};
  for (size_t i = 0; i < sizeof msgs / sizeof *msgs; i++) {
    assert_true(tc_ws_send_text(c, msgs[i], strlen(msgs[i])));
    char *got = tc_ws_recv(c, 5000);
    assert_non_null(got);
    assert_string_equal(got, msgs[i]);
    bson_free(got);
  }
  /* exactly WS_MESSAGE_MAX is fine */
  char *big = malloc(WS_MESSAGE_MAX + 1);
  memset(big, 'a', WS_MESSAGE_MAX);
  big[WS_MESSAGE_MAX] = '\0';
  assert_true(tc_ws_send_text(c, big, WS_MESSAGE_MAX));
  char *got = tc_ws_recv(c, 5000);
  assert_non_null(got);
  assert_string_equal(got, big);
  bson_free(got);
  free(big);
  /* many in a row arrive in order */
  for (int i = 0; i < 200; i++) {
    char m[32];
    snprintf(m, sizeof m, "m%d", i);
    assert_true(tc_ws_send_text(c, m, strlen(m)));
  }
  for (int i = 0; i < 200; i++) {
    char m[32];
    snprintf(m, sizeof m, "m%d", i);
    got = tc_ws_recv(c, 5000);
    assert_non_null(got);
    assert_string_equal(got, m);
    bson_free(got);
  }
  assert_false(tc_ws_is_closed(c, NULL));
  tc_ws_close(c);
}

static void fragments_are_reassembled(void **state) {
  fixture_t *fx = *state;
  int fd = tc_raw_ws(fx->port, 0, GOOD_COOKIE);
  tc_raw_frame(fd, 1, false, true, "hel", 3);
  tc_raw_frame(fd, 9, true, true, "p", 1); /* a ping between fragments */
  tc_raw_frame(fd, 0, false, true, "lo ", 3);
  tc_raw_frame(fd, 0, true, true, "world", 5);
  int opcode;
  char buf[8192];
  size_t len;
  assert_true(tc_raw_read_frame(fd, &opcode, buf, sizeof buf, &len));
  assert_int_equal(opcode, 10); /* the pong */
  assert_true(tc_raw_read_frame(fd, &opcode, buf, sizeof buf, &len));
  assert_int_equal(opcode, 1);
  assert_string_equal(buf, "hello world");

  /* 3 x 2000 bytes in fragments: over WS_MESSAGE_MAX */
  char part[2000];
  memset(part, 'x', sizeof part);
  tc_raw_frame(fd, 1, false, true, part, sizeof part);
  tc_raw_frame(fd, 0, false, true, part, sizeof part);
  tc_raw_frame(fd, 0, true, true, part, sizeof part);
  assert_true(tc_raw_read_frame(fd, &opcode, buf, sizeof buf, &len));
  assert_int_equal(opcode, 8);
  assert_true(len >= 2);
  assert_int_equal((unsigned char)buf[0] << 8 | (unsigned char)buf[1], 1009);
  close(fd);
  assert_true(wait_count(&fx->fake, &fx->fake.closes, 1, 5000));
}

static void close_code_after(fixture_t *fx, const void *data, size_t len,
                             bool binary, int want) {
  tc_ws_t *c = connect_ok(fx, NULL, NULL);
  int before = fake_get(&fx->fake, &fx->fake.messages);
  assert_true(tc_ws_send_raw_frame(c, data, len, binary));
  int code = 0;
  assert_true(tc_ws_wait_closed(c, 5000, &code));
  assert_int_equal(code, want);
  assert_int_equal(fake_get(&fx->fake, &fx->fake.messages), before);
  tc_ws_close(c);
}

static void too_big_closes_1009(void **state) {
  fixture_t *fx = *state;
  size_t n = 10 * 1024;
  char *big = malloc(n);
  memset(big, 'b', n);
  close_code_after(fx, big, n, false, 1009);
  close_code_after(fx, big, WS_MESSAGE_MAX + 1, false, 1009);
  free(big);
}

static void binary_closes_1003(void **state) {
  close_code_after(*state, "\x01\x02\x03", 3, true, 1003);
}

static void invalid_utf8_closes_1007(void **state) {
  fixture_t *fx = *state;
  close_code_after(fx, "bad \xff\xfe text", 11, false, 1007);
  close_code_after(fx, "\xc3", 1, false, 1007);         /* truncated */
  close_code_after(fx, "\xed\xa0\x80", 3, false, 1007); /* surrogate */
}

static void server_close_with_code_and_reason(void **state) {
  fixture_t *fx = *state;
  ws_conn_id_t id;
  tc_ws_t *c = connect_ok(fx, NULL, &id);
  assert_true(ws_server_send(fx->ws, id, "before", 6));
  ws_server_close(fx->ws, id, 4000, "session ended");
  assert_false(ws_server_send(fx->ws, id, "after", 5)); /* closing */
  char *got = tc_ws_recv(c, 5000); /* queued before the close: sent */
  assert_non_null(got);
  assert_string_equal(got, "before");
  bson_free(got);
  int code = 0;
  assert_true(tc_ws_wait_closed(c, 5000, &code));
  assert_int_equal(code, 4000);
  assert_null(tc_ws_recv(c, 100));
  assert_true(wait_closed_id(&fx->fake, id, 5000));
  tc_ws_close(c);
  ws_server_close(fx->ws, id, 1000, NULL); /* unknown now: ignored */
}

static void send_to_unknown_id_is_false(void **state) {
  fixture_t *fx = *state;
  assert_false(ws_server_send(fx->ws, 0, "x", 1));
  assert_false(ws_server_send(fx->ws, 123456789, "x", 1));
  ws_conn_id_t id;
  tc_ws_t *c = connect_ok(fx, NULL, &id);
  assert_true(ws_server_send(fx->ws, id, "x", 1));
  assert_false(ws_server_send(fx->ws, id + 1000000, "x", 1));
  tc_ws_close(c);
  assert_true(wait_closed_id(&fx->fake, id, 5000));
  assert_false(ws_server_send(fx->ws, id, "x", 1)); /* closed */
}

static void slow_client_is_dropped(void **state) {
  (void)state;
  ws_config_t cfg = {.queue_max = 64};
  fixture_t *fx = fixture_start(&cfg);
  ws_conn_id_t fast_id, slow_id;
  tc_ws_t *fast = connect_ok(fx, NULL, &fast_id);
  int fd = tc_raw_ws(fx->port, 4096, GOOD_COOKIE); /* never reads again */
  assert_true(wait_count(&fx->fake, &fx->fake.opens, 2, 5000));
  slow_id = fx->fake.open_ids[1];

  char msg[1024];
  memset(msg, 's', sizeof msg);
  /* Bursts of 8 (an eighth of the queue) a millisecond apart: the queue
   * fills only because the socket does, and that takes megabytes.  (Bursts
   * of 32 overflowed the queue once in a full ASan run on two busy cores:
   * the service thread went without CPU for two bursts.) */
  int sent = 0;
  bool full = false;
  while (!full && sent < 200000) {
    for (int i = 0; i < 8 && !full; i++) {
      full = !ws_server_send(fx->ws, slow_id, msg, sizeof msg);
      sent += !full;
    }
    sleep_ms(1);
  }
  assert_true(full);
  assert_true(sent > 1000); /* not dropped before its socket was full */
  assert_false(ws_server_send(fx->ws, slow_id, msg, sizeof msg));

  /* the other connection is not held up (bursts below queue_max) */
  for (int burst = 0; burst < 4; burst++) {
    for (int i = 0; i < 50; i++) {
      char m[32];
      snprintf(m, sizeof m, "fast %d.%d", burst, i);
      assert_true(ws_server_send(fx->ws, fast_id, m, strlen(m)));
    }
    for (int i = 0; i < 50; i++) {
      char m[32];
      snprintf(m, sizeof m, "fast %d.%d", burst, i);
      char *got = tc_ws_recv(fast, 5000);
      assert_non_null(got);
      assert_string_equal(got, m);
      bson_free(got);
    }
  }
  /* the slow one cannot take the close frame: cut off after the grace */
  assert_true(wait_closed_id(&fx->fake, slow_id, 10000));
  assert_false(fake_closed(&fx->fake, fast_id));
  assert_int_equal(ws_server_connections(fx->ws), 1);
  close(fd);
  tc_ws_close(fast);
  fixture_stop(fx);
}

static int64_t now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ws_server_close sends what is queued first; a peer that never reads
 * never gets there, and is cut off after the grace period. */
static void undeliverable_close_is_cut_off(void **state) {
  (void)state;
  ws_config_t cfg = {.queue_max = 100000};
  fixture_t *fx = fixture_start(&cfg);
  int fd = tc_raw_ws(fx->port, 4096, GOOD_COOKIE); /* never reads again */
  assert_true(wait_count(&fx->fake, &fx->fake.opens, 1, 5000));
  ws_conn_id_t id = fx->fake.open_ids[0];
  char msg[1024];
  memset(msg, 'q', sizeof msg);
  for (int sent = 0; sent < 8000; sent += 32) {
    for (int i = 0; i < 32; i++) {
      assert_true(ws_server_send(fx->ws, id, msg, sizeof msg));
    }
    sleep_ms(1);
  }
  int64_t t0 = now_ms();
  ws_server_close(fx->ws, id, 4001, "bye");
  sleep_ms(500);
  assert_false(fake_closed(&fx->fake, id)); /* still trying */
  assert_true(wait_closed_id(&fx->fake, id, 10000));
  int64_t took = now_ms() - t0;
  assert_true(took >= 2000 && took <= 8000);
  close(fd);
  fixture_stop(fx);
}

static void unanswered_pings_drop_the_peer(void **state) {
  (void)state;
  ws_config_t cfg = {.ping_interval_s = 1};
  fixture_t *fx = fixture_start(&cfg);
  ws_conn_id_t live_id;
  tc_ws_t *live = connect_ok(fx, NULL, &live_id); /* answers pings */
  int fd = tc_raw_ws(fx->port, 0, GOOD_COOKIE);   /* never answers */
  assert_true(wait_count(&fx->fake, &fx->fake.opens, 2, 5000));
  ws_conn_id_t dead_id = fx->fake.open_ids[1];
  assert_true(wait_closed_id(&fx->fake, dead_id, 6000));
  sleep_ms(1500);
  assert_false(fake_closed(&fx->fake, live_id));
  assert_false(tc_ws_is_closed(live, NULL));
  assert_true(tc_ws_send_text(live, "still here", 10));
  char *got = tc_ws_recv(live, 5000);
  assert_non_null(got);
  assert_string_equal(got, "still here");
  bson_free(got);
  close(fd);
  tc_ws_close(live);
  fixture_stop(fx);
}

static void max_connections_is_503(void **state) {
  (void)state;
  ws_config_t cfg = {.max_connections = 2};
  fixture_t *fx = fixture_start(&cfg);
  tc_ws_t *a = connect_ok(fx, NULL, NULL);
  tc_ws_t *b = connect_ok(fx, NULL, NULL);
  int status = 0;
  assert_null(tc_ws_connect(fx->url, GOOD_COOKIE, &status));
  assert_int_equal(status, 503);
  char head[2048];
  int fd = raw_upgrade(fx, TC_RAW_VERSION_13, "", head, sizeof head, &status);
  assert_int_equal(status, 503);
  assert_non_null(strstr(head, "\r\nRetry-After: 1\r\n"));
  tc_raw_expect_json_error(fd, head, "overloaded");
  close(fd);
  tc_ws_close(a);
  assert_true(wait_count(&fx->fake, &fx->fake.closes, 1, 5000));
  tc_ws_t *c = connect_ok(fx, NULL, NULL); /* room again */
  tc_ws_close(b);
  tc_ws_close(c);
  fixture_stop(fx);
}

#define MANY 500

static void many_connections_get_a_broadcast(void **state) {
  fixture_t *fx = *state;
  tc_ws_t **c = calloc(MANY, sizeof *c);
  for (int i = 0; i < MANY; i++) {
    int status = 0;
    c[i] = tc_ws_connect(fx->url, GOOD_COOKIE, &status);
    assert_non_null(c[i]);
  }
  assert_true(wait_count(&fx->fake, &fx->fake.opens, MANY, 10000));
  assert_int_equal(ws_server_connections(fx->ws), MANY);
  for (int round = 0; round < 3; round++) {
    char m[32];
    snprintf(m, sizeof m, "broadcast %d", round);
    for (int i = 0; i < MANY; i++) {
      assert_true(ws_server_send(fx->ws, fx->fake.open_ids[i], m, strlen(m)));
    }
    for (int i = 0; i < MANY; i++) {
      char *got = tc_ws_recv(c[i], 10000);
      assert_non_null(got);
      assert_string_equal(got, m);
      bson_free(got);
    }
  }
  for (int i = 0; i < MANY; i++) {
    tc_ws_close(c[i]);
  }
  free(c);
  assert_true(wait_count(&fx->fake, &fx->fake.closes, MANY, 10000));
  assert_int_equal(ws_server_connections(fx->ws), 0);
}

static void stop_closes_with_1001(void **state) {
  (void)state;
  fixture_t *fx = fixture_start(NULL);
  tc_ws_t *c[3];
  for (int i = 0; i < 3; i++) {
    c[i] = connect_ok(fx, NULL, NULL);
  }
  int raw = tc_raw_ws(fx->port, 0, GOOD_COOKIE); /* never answers the close */
  assert_true(wait_count(&fx->fake, &fx->fake.opens, 4, 5000));
  ws_server_stop(fx->ws);
  assert_int_equal(fx->fake.closes, 4); /* all done when stop returns */
  assert_int_equal(fx->fake.errors, 0);
  for (int i = 0; i < 3; i++) {
    int code = 0;
    assert_true(tc_ws_wait_closed(c[i], 5000, &code));
    assert_int_equal(code, 1001);
    tc_ws_close(c[i]);
  }
  int opcode;
  char buf[256];
  size_t len;
  assert_true(tc_raw_read_frame(raw, &opcode, buf, sizeof buf, &len));
  assert_int_equal(opcode, 8);
  assert_int_equal((unsigned char)buf[0] << 8 | (unsigned char)buf[1], 1001);
  close(raw);
  pthread_mutex_destroy(&fx->fake.lock);
  free(fx);
}

/* Three loops: the acceptor deals connections out in turn (the loop is in
 * the low 4 bits of an id), each loop's connections get their messages,
 * and a thread count out of range is refused. */
static void loops_share_the_connections(void **state) {
  (void)state;
  ws_config_t cfg = {.threads = 3};
  fixture_t *fx = fixture_start(&cfg);
  enum { N = 30 };
  tc_ws_t *c[N];
  for (int i = 0; i < N; i++) {
    c[i] = connect_ok(fx, NULL, NULL);
  }
  assert_int_equal(ws_server_connections(fx->ws), N);
  int per_loop[16] = {0};
  for (int i = 0; i < N; i++) {
    per_loop[fx->fake.open_ids[i] & 15]++;
  }
  assert_int_equal(per_loop[0], N / 3);
  assert_int_equal(per_loop[1], N / 3);
  assert_int_equal(per_loop[2], N / 3);
  for (int i = 0; i < N; i++) {
    char m[32];
    snprintf(m, sizeof m, "to %d", i);
    assert_true(ws_server_send(fx->ws, fx->fake.open_ids[i], m, strlen(m)));
  }
  for (int i = 0; i < N; i++) {
    char m[32];
    snprintf(m, sizeof m, "to %d", i);
    char *got = tc_ws_recv(c[i], 10000);
    assert_non_null(got);
    assert_string_equal(got, m);
    bson_free(got);
  }
  /* An id whose loop bits name no loop is unknown, not a crash. */
  assert_false(
      ws_server_send(fx->ws, (fx->fake.open_ids[0] & ~15u) | 9, "x", 1));
  for (int i = 0; i < N; i++) {
    tc_ws_close(c[i]);
  }
  assert_true(wait_count(&fx->fake, &fx->fake.closes, N, 10000));
  assert_int_equal(ws_server_connections(fx->ws), 0);

  ws_callbacks_t cb = {&fx->fake, fake_upgrade, NULL, NULL, NULL};
  ws_config_t bad = {.host = "127.0.0.1", .port = fx->port, .threads = 17};
  chorus_error_t err;
  assert_null(ws_server_start(&bad, &cb, &err));
  assert_string_equal(err.code, "ws_bad_config");
  bad.threads = -1;
  assert_null(ws_server_start(&bad, &cb, &err));
  assert_string_equal(err.code, "ws_bad_config");
  fixture_stop(fx);
}

static void port_in_use_and_port_zero(void **state) {
  fixture_t *fx = *state;
  fake_t fake;
  memset(&fake, 0, sizeof fake);
  ws_callbacks_t cb = {&fake, fake_upgrade, NULL, NULL, NULL};
  ws_config_t cfg = {.host = "127.0.0.1", .port = fx->port};
  chorus_error_t err;
  assert_null(ws_server_start(&cfg, &cb, &err));
  assert_int_equal(err.status, 500);
  assert_string_equal(err.code, "ws_listen_failed");
  cfg.port = 0;
  assert_null(ws_server_start(&cfg, &cb, &err));
  assert_int_equal(err.status, 0);
  ws_server_stop(NULL);
}

static long rss_kb(void) {
  FILE *f = fopen("/proc/self/statm", "r");
  long pages = 0, resident = 0;
  if (f) {
    if (fscanf(f, "%ld %ld", &pages, &resident) != 2) {
      resident = 0;
    }
    fclose(f);
  }
  return resident * (sysconf(_SC_PAGESIZE) / 1024);
}

#define IDLE 2000

/* Raw clients cost this process no user memory, so the growth of RSS is
 * the server's.  Printed for the record; the bound is loose because
 * AddressSanitizer's redzones and quarantine inflate it. */
static void memory_per_idle_connection(void **state) {
  fixture_t *fx = *state;
  int *fds = calloc(IDLE, sizeof *fds);
  /* warm up: the first connections grow lws's and libc's pools */
  for (int i = 0; i < 50; i++) {
    fds[i] = tc_raw_ws(fx->port, 0, GOOD_COOKIE);
  }
  assert_true(wait_count(&fx->fake, &fx->fake.opens, 50, 5000));
  long before = rss_kb();
  for (int i = 50; i < IDLE; i++) {
    fds[i] = tc_raw_ws(fx->port, 0, GOOD_COOKIE);
  }
  assert_true(wait_count(&fx->fake, &fx->fake.opens, IDLE, 10000));
  sleep_ms(200);
  long after = rss_kb();
  double per = (double)(after - before) * 1024.0 / (IDLE - 50);
  printf("[ memory ] %d idle connections: RSS %ld KB -> %ld KB, "
         "%.0f bytes per connection\n",
         IDLE, before, after, per);
#if defined(__SANITIZE_ADDRESS__)
  assert_true(per < 64 * 1024);
#else
  assert_true(per < 20 * 1024);
#endif
  for (int i = 0; i < IDLE; i++) {
    close(fds[i]);
  }
  free(fds);
  assert_true(wait_count(&fx->fake, &fx->fake.closes, IDLE, 10000));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(upgrade_accepted_with_cookie_and_query,
                                      setup, teardown),
      cmocka_unit_test_setup_teardown(upgrade_refused_is_401, setup, teardown),
      cmocka_unit_test_setup_teardown(plain_http_is_404, setup, teardown),
      cmocka_unit_test_setup_teardown(upgrade_to_another_protocol_is_400, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(upgrade_version_other_than_13_is_426,
                                      setup, teardown),
      cmocka_unit_test_setup_teardown(upgrade_from_a_foreign_origin_is_403,
                                      setup, teardown),
      cmocka_unit_test_setup_teardown(unmasked_frame_closes_1002, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(frames_before_the_101, setup, teardown),
      cmocka_unit_test_setup_teardown(echo, setup, teardown),
      cmocka_unit_test_setup_teardown(fragments_are_reassembled, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(too_big_closes_1009, setup, teardown),
      cmocka_unit_test_setup_teardown(binary_closes_1003, setup, teardown),
      cmocka_unit_test_setup_teardown(invalid_utf8_closes_1007, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(server_close_with_code_and_reason, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(send_to_unknown_id_is_false, setup,
                                      teardown),
      cmocka_unit_test(slow_client_is_dropped),
      cmocka_unit_test(undeliverable_close_is_cut_off),
      cmocka_unit_test(unanswered_pings_drop_the_peer),
      cmocka_unit_test(max_connections_is_503),
      cmocka_unit_test_setup_teardown(many_connections_get_a_broadcast, setup,
                                      teardown),
      cmocka_unit_test(stop_closes_with_1001),
      cmocka_unit_test(loops_share_the_connections),
      cmocka_unit_test_setup_teardown(port_in_use_and_port_zero, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(memory_per_idle_connection, setup,
                                      teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
