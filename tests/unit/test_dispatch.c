/*
 * test_dispatch.c - unit tests for the HTTP transport on its own
 * (dispatch.h, http.h, static.h): a civetweb server on a free port inside
 * the test process with two route tables of fake handlers and a fake
 * write hook (no database, nothing above server/http), talked to over raw
 * sockets so every byte of an answer can be checked.
 *
 * Covered: the exact status line and headers of an answer (X-Chorus-Server
 * from the transport, X-Request-Id, Date, Connection, Retry-After on
 * 503); each table's handlers get their own context and path parameters;
 * 404 "not_found" and 405 with the Allow list across tables; the request
 * id taken from a plain X-Request-Id and made up for any other; the CSRF
 * and content-type rule (403, 415) refusing a write before its handler,
 * a typed table's routes taking their own body type and no other;
 * (the Origin one of the transport's public origins, never judged by the
 * Host header); the write hook called for 2xx writes only; the
 * before-handler hook called on the handler's thread just before it, and
 * not for a request refused or unmatched; 500 for a
 * handler that does
 * not answer; HEAD without a body; JSON answers gzipped for clients that
 * accept it (from HTTP_GZIP_MIN bytes on, Vary either way); the metrics (route
 * pattern or "unmatched", the in-flight gauge back to 0); and the single-page
 * app's deep links (index.html for page paths, 404 for missing files, /api/
 * left alone).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "server/http/dispatch.h"
#include "server/http/static.h"

/* ------------------------------------------------------------------ */
/* fake handlers                                                       */
/* ------------------------------------------------------------------ */

static int ctx_a, ctx_b;        /* the two tables' contexts: their addresses */
static atomic_int handled;      /* handler calls */
static atomic_int hook_calls;   /* write hook calls */
static atomic_int before_calls; /* before-handler hook calls */
static void *seen_ctx;          /* req->ctx of the last handler */
static char seen_param[64];
/* The "hint" cookie as the before-handler hook last saw it on this
 * thread, and as the last handler found it there. */
static _Thread_local char before_hint[32];
static char handler_saw_hint[32];

static void reply_text(http_request_t *req, int status, const char *json) {
  http_reply_json_text(req, status, json, strlen(json), NULL);
}

/* A handler was called with req: counted, its ctx kept. */
static void note_call(http_request_t *req) {
  atomic_fetch_add(&handled, 1);
  seen_ctx = req->ctx;
  bson_strncpy(handler_saw_hint, before_hint, sizeof handler_saw_hint);
  before_hint[0] = '\0';
}

static void h_hello(http_request_t *req) {
  note_call(req);
  reply_text(req, 200, "{ \"hello\" : true }");
}

static void h_item(http_request_t *req) {
  note_call(req);
  bson_strncpy(seen_param, req->params[0], sizeof seen_param);
  reply_text(req, 200, "{ }");
}

static void h_create(http_request_t *req) {
  note_call(req);
  reply_text(req, 201, "{ \"created\" : true }");
}

static void h_refuse(http_request_t *req) {
  atomic_fetch_add(&handled, 1);
  chorus_error_t err;
  chorus_error_set(&err, 400, "bad", "Bad");
  http_reply_error(req, &err);
}

static void h_unavailable(http_request_t *req) {
  chorus_error_t err;
  chorus_error_set(&err, 503, "db_unavailable", "Later");
  http_reply_error(req, &err);
}

static void h_silent(http_request_t *req) { (void)req; }

/* A JSON answer long enough to be gzipped (HTTP_GZIP_MIN), made once. */
static char big_json[4096];
static void h_big(http_request_t *req) {
  if (!big_json[0]) {
    size_t n = 0;
    n += (size_t)snprintf(big_json, sizeof big_json, "{\"items\":[");
    for (int i = 0; n + 64 < sizeof big_json; i++) {
      n += (size_t)snprintf(big_json + n, sizeof big_json - n,
                            "%s{\"id\":%d,\"text\":\"a post\"}", i ? "," : "",
                            i);
    }
    snprintf(big_json + n, sizeof big_json - n, "]}");
  }
  http_reply_json_text(req, 200, big_json, strlen(big_json), NULL);
}

static const route_t table_a[] = {
    {"GET", "/api/hello", h_hello},    {"GET", "/api/item/:id", h_item},
    {"POST", "/api/create", h_create}, {"POST", "/api/refuse", h_refuse},
    {"GET", "/api/shared", h_hello},   {"GET", "/api/big", h_big},
};

static const route_t table_b[] = {
    {"GET", "/healthz", h_hello},      {"DELETE", "/api/item/:id", h_item},
    {"POST", "/api/shared", h_create}, {"GET", "/api/down", h_unavailable},
    {"GET", "/api/silent", h_silent},
};

/* Writes that take forms (dispatch_add_routes_typed). */
static const route_t table_form[] = {
    {"POST", "/api/upload", h_create},
};

/* Adds the client's "hint" cookie, to show the hook sees the request. */
static void write_hook(void *ctx, const http_request_t *req, char *buf,
                       size_t size) {
  assert_ptr_equal(ctx, &hook_calls);
  atomic_fetch_add(&hook_calls, 1);
  char hint[32];
  if (!http_cookie(req, "hint", hint, sizeof hint)) {
    bson_strncpy(hint, "none", sizeof hint);
  }
  snprintf(buf, size, "X-Hook: %s\r\n", hint);
}

/* Notes the client's "hint" cookie on this thread, for the handler. */
static void before_hook(void *ctx, const http_request_t *req) {
  assert_ptr_equal(ctx, &before_calls);
  atomic_fetch_add(&before_calls, 1);
  if (!http_cookie(req, "hint", before_hint, sizeof before_hint)) {
    bson_strncpy(before_hint, "none", sizeof before_hint);
  }
}

/* ------------------------------------------------------------------ */
/* the server                                                          */
/* ------------------------------------------------------------------ */

static metrics_t *metrics;
static origins_t *origins; /* the public origin: the page's */
static dispatch_t *dispatch;
static struct mg_context *http;
static int port;
static char public_dir[] = "/tmp/chorus_test_dispatch_XXXXXX";
static static_set_t *files; /* public_dir, loaded */

static void write_file(const char *name, const char *text) {
  char path[256];
  snprintf(path, sizeof path, "%s/%s", public_dir, name);
  FILE *f = fopen(path, "w");
  assert_non_null(f);
  fputs(text, f);
  fclose(f);
}

static int start(void **state) {
  (void)state;
  assert_non_null(mkdtemp(public_dir));
  write_file("index.html", "<!doctype html><title>app</title>\n");
  write_file("app.js", "console.log(1);\n");
  /* Long enough for gzip to shrink it. */
  char big[2048] = "";
  for (int i = 0; i < 40; i++) {
    strcat(big, "export const again = 'and again';\n");
  }
  write_file("big.js", big);
  chorus_error_t err;
  files = static_load(public_dir, &err);
  assert_non_null(files);
  metrics = metrics_new();
  origins = origins_parse("http://page.example:8080", &err);
  assert_non_null(origins);
  http_transport_t t = {
      .server_id = "unit-1",
      .trusted_proxies = "",
      .origins = origins,
      .log_requests = false,
      .metrics = metrics,
      .write_headers = write_hook,
      .write_headers_ctx = &hook_calls,
      .before_handler = before_hook,
      .before_handler_ctx = &before_calls,
  };
  dispatch = dispatch_new(&t);
  dispatch_add_routes(dispatch, table_a, sizeof table_a / sizeof table_a[0],
                      &ctx_a);
  dispatch_add_routes(dispatch, table_b, sizeof table_b / sizeof table_b[0],
                      &ctx_b);
  dispatch_add_routes_typed(dispatch, table_form, 1, &ctx_b,
                            "multipart/form-data");
  mg_init_library(0);
  const char *options[] = {"listening_ports",
                           "127.0.0.1:0",
                           "num_threads",
                           "4",
                           "document_root",
                           public_dir,
                           "enable_directory_listing",
                           "no",
                           NULL};
  struct mg_callbacks cb;
  memset(&cb, 0, sizeof cb);
  http = mg_start(&cb, NULL, options);
  assert_non_null(http);
  struct mg_server_port ports[2];
  assert_true(mg_get_server_ports(http, 2, ports) >= 1);
  port = ports[0].port;
  mg_set_request_handler(http, "/api", dispatch_serve, dispatch);
  mg_set_request_handler(http, "/healthz", dispatch_serve, dispatch);
  mg_set_request_handler(http, "/", static_serve_app, files);
  return 0;
}

static int stop(void **state) {
  (void)state;
  mg_stop(http);
  mg_exit_library();
  dispatch_destroy(dispatch);
  metrics_destroy(metrics);
  origins_destroy(origins);
  static_destroy(files);
  static const char *const names[] = {"index.html", "app.js", "big.js"};
  for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
    char path[256];
    snprintf(path, sizeof path, "%s/%s", public_dir, names[i]);
    unlink(path);
  }
  return rmdir(public_dir);
}

/* Sends a whole request (with Connection: close) and returns the whole
 * answer; the caller frees it. */
static char *exchange(const char *request) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  assert_true(fd >= 0);
  struct sockaddr_in a;
  memset(&a, 0, sizeof a);
  a.sin_family = AF_INET;
  a.sin_port = htons((uint16_t)port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof a), 0);
  size_t len = strlen(request);
  assert_int_equal(send(fd, request, len, 0), (ssize_t)len);
  size_t cap = 65536, n = 0;
  char *buf = malloc(cap);
  ssize_t got;
  while ((got = recv(fd, buf + n, cap - 1 - n, 0)) > 0) {
    n += (size_t)got;
    assert_true(n < cap - 1);
  }
  buf[n] = '\0';
  close(fd);
  return buf;
}

/* "METHOD path" with extra header lines ("" for none) and a body (NULL
 * for none). */
static char *request(const char *method, const char *path, const char *headers,
                     const char *body) {
  char req[2048];
  char length[48] = "";
  if (body) {
    snprintf(length, sizeof length, "Content-Length: %zu\r\n", strlen(body));
  }
  snprintf(req, sizeof req,
           "%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
           "%s%s\r\n%s",
           method, path, headers, length, body ? body : "");
  return exchange(req);
}

/* The answer's status line is line (without its CRLF). */
static void assert_status(const char *answer, const char *line) {
  size_t n = strcspn(answer, "\r");
  if (n != strlen(line) || strncmp(answer, line, n) != 0) {
    fail_msg("status line \"%.*s\", expected \"%s\"", (int)n, answer, line);
  }
}

/* request(), whose answer must have the status line; the caller frees
 * it. */
static char *answered(const char *method, const char *path, const char *headers,
                      const char *body, const char *status_line) {
  char *r = request(method, path, headers, body);
  assert_status(r, status_line);
  return r;
}

static const char *body_of(const char *answer) {
  const char *b = strstr(answer, "\r\n\r\n");
  assert_non_null(b);
  return b + 4;
}

/* The value of header name (with ": "), copied into buf; NULL when
 * absent. */
static const char *header(const char *answer, const char *name, char *buf,
                          size_t size) {
  char key[64];
  snprintf(key, sizeof key, "\r\n%s: ", name);
  const char *at = strstr(answer, key);
  const char *end_of_head = strstr(answer, "\r\n\r\n");
  if (!at || at > end_of_head) {
    return NULL;
  }
  at += strlen(key);
  size_t n = strcspn(at, "\r");
  assert_true(n < size);
  memcpy(buf, at, n);
  buf[n] = '\0';
  return buf;
}

/* The answer's header name has the value given, or is absent (NULL). */
static void expect_header(const char *answer, const char *name,
                          const char *value) {
  char buf[256];
  const char *got = header(answer, name, buf, sizeof buf);
  if (value) {
    assert_non_null(got);
    assert_string_equal(got, value);
  } else {
    assert_null(got);
  }
}

static double sample(const char *sample_name) {
  bson_string_t *out = bson_string_new(NULL);
  metrics_render_requests(metrics, out);
  double v = -1;
  const char *at = strstr(out->str, sample_name);
  if (at) {
    v = strtod(at + strlen(sample_name) + 1, NULL);
  }
  bson_string_free(out, true);
  return v;
}

/* ------------------------------------------------------------------ */
/* tests                                                               */
/* ------------------------------------------------------------------ */

static void answer_has_exactly_the_transport_headers(void **state) {
  (void)state;
  char *r = request("GET", "/api/hello", "X-Request-Id: abc-123\r\n", NULL);
  /* Status line, then the headers in this order, then Date and
   * Connection. */
  const char *expect = "HTTP/1.1 200 OK\r\n"
                       "Content-Type: application/json; charset=utf-8\r\n"
                       "Content-Length: 18\r\n"
                       "Cache-Control: no-store\r\n"
                       "X-Content-Type-Options: nosniff\r\n"
                       "X-Chorus-Server: unit-1\r\n"
                       "X-Request-Id: abc-123\r\n"
                       "Date: ";
  assert_memory_equal(r, expect, strlen(expect));
  const char *tail = strstr(r, "GMT\r\nConnection: close\r\n\r\n");
  assert_non_null(tail);
  assert_string_equal(body_of(r), "{ \"hello\" : true }");
  assert_ptr_equal(seen_ctx, &ctx_a);
  free(r);
}

static void each_table_gets_its_own_context_and_params(void **state) {
  (void)state;
  char *r = request("GET", "/api/item/x%20y", "", NULL);
  assert_non_null(strstr(r, "HTTP/1.1 200 OK\r\n"));
  assert_ptr_equal(seen_ctx, &ctx_a);
  assert_string_equal(seen_param, "x y");
  free(r);
  r = request("DELETE", "/api/item/42", "", NULL);
  assert_non_null(strstr(r, "HTTP/1.1 200 OK\r\n"));
  assert_ptr_equal(seen_ctx, &ctx_b);
  assert_string_equal(seen_param, "42");
  free(r);
  r = request("GET", "/healthz", "", NULL);
  assert_ptr_equal(seen_ctx, &ctx_b);
  free(r);
}

static void unknown_path_is_404_not_found(void **state) {
  (void)state;
  int before = atomic_load(&handled);
  char *r = answered("GET", "/api/nope", "", NULL, "HTTP/1.1 404 Not Found");
  assert_string_equal(body_of(r),
                      "{ \"error\" : { \"code\" : \"not_found\", \"message\" "
                      ": \"No such API endpoint\" } }");
  assert_int_equal(atomic_load(&handled), before);
  free(r);
}

static void wrong_method_is_405_with_allow_across_tables(void **state) {
  (void)state;
  char *r = answered("DELETE", "/api/shared", "", NULL,
                     "HTTP/1.1 405 Method Not Allowed");
  expect_header(r, "Allow", "GET, POST");
  assert_string_equal(body_of(r),
                      "{ \"error\" : { \"code\" : \"method_not_allowed\", "
                      "\"message\" : \"DELETE is not allowed here; use GET, "
                      "POST\" } }");
  free(r);
  /* The first table's route wins for its method; the second's for its. */
  r = request("GET", "/api/shared", "", NULL);
  assert_ptr_equal(seen_ctx, &ctx_a);
  free(r);
  r = answered("POST", "/api/shared", "Content-Type: application/json\r\n",
               "{}", "HTTP/1.1 201 Created");
  assert_ptr_equal(seen_ctx, &ctx_b);
  free(r);
}

static void request_id_is_the_clients_plain_token_or_made_up(void **state) {
  (void)state;
  char buf[128];
  char *r = request("GET", "/api/hello", "X-Request-Id: A.b_c-9\r\n", NULL);
  expect_header(r, "X-Request-Id", "A.b_c-9");
  free(r);
  r = request("GET", "/api/hello", "X-Request-Id: not plain!\r\n", NULL);
  assert_non_null(header(r, "X-Request-Id", buf, sizeof buf));
  assert_int_equal(strlen(buf), 16);
  assert_int_equal(strspn(buf, "0123456789abcdef"), 16);
  free(r);
  r = request("GET", "/api/nope", "", NULL); /* 404s have one too */
  assert_non_null(header(r, "X-Request-Id", buf, sizeof buf));
  assert_int_equal(strlen(buf), 16);
  free(r);
}

static void writes_failing_the_csrf_rule_never_reach_the_handler(void **state) {
  (void)state;
  int before = atomic_load(&handled);
  char *r = answered("POST", "/api/create", "", "{}",
                     "HTTP/1.1 415 Unsupported Media Type");
  assert_non_null(strstr(body_of(r), "unsupported_media_type"));
  free(r);
  r = answered("POST", "/api/create",
               "Content-Type: application/json\r\n"
               "Origin: http://evil.example\r\n",
               "{}", "HTTP/1.1 403 Forbidden");
  assert_non_null(strstr(body_of(r), "cross_site"));
  free(r);
  r = answered("DELETE", "/api/item/1", "Sec-Fetch-Site: cross-site\r\n", NULL,
               "HTTP/1.1 403 Forbidden");
  free(r);
  /* The Origin of the Host the request names is no public origin: a page
   * of a name that resolves here (DNS rebinding) sends both. */
  r = request("POST", "/api/create",
              "Content-Type: application/json\r\n"
              "Origin: http://127.0.0.1\r\n",
              "{}");
  assert_status(r, "HTTP/1.1 403 Forbidden");
  free(r);
  r = exchange("POST /api/create HTTP/1.1\r\n"
               "Host: rebind.evil.example:8080\r\n"
               "Origin: http://rebind.evil.example:8080\r\n"
               "Content-Type: application/json\r\n"
               "Connection: close\r\nContent-Length: 2\r\n\r\n{}");
  assert_status(r, "HTTP/1.1 403 Forbidden");
  assert_non_null(strstr(body_of(r), "cross_site"));
  free(r);
  assert_int_equal(atomic_load(&handled), before);
  /* The public origin (any case, the port written or not), JSON: through;
   * no Origin at all (not a browser): through. */
  r = request("POST", "/api/create",
              "Content-Type: application/json; charset=utf-8\r\n"
              "Origin: http://page.example:8080\r\n",
              "{}");
  assert_status(r, "HTTP/1.1 201 Created");
  free(r);
  r = request("POST", "/api/create",
              "Content-Type: application/json\r\n"
              "Origin: HTTP://Page.Example:8080\r\n"
              "Sec-Fetch-Site: same-origin\r\n",
              "{}");
  assert_status(r, "HTTP/1.1 201 Created");
  free(r);
  r = request("DELETE", "/api/item/1", "", NULL);
  assert_status(r, "HTTP/1.1 200 OK");
  free(r);
  assert_int_equal(atomic_load(&handled), before + 3);
}

/* A table's body type: its route takes that type and no other, the
 * others still JSON alone; the Origin rule is the same. */
static void typed_routes_take_their_body_type_only(void **state) {
  (void)state;
  int before = atomic_load(&handled);
  char *r = request("POST", "/api/upload",
                    "Content-Type: multipart/form-data; boundary=x\r\n", "");
  assert_status(r, "HTTP/1.1 201 Created");
  free(r);
  r = answered("POST", "/api/upload", "Content-Type: application/json\r\n",
               "{}", "HTTP/1.1 415 Unsupported Media Type");
  assert_non_null(strstr(body_of(r), "multipart/form-data"));
  free(r);
  r = answered("POST", "/api/upload",
               "Content-Type: multipart/form-data-x; boundary=x\r\n", "",
               "HTTP/1.1 415 Unsupported Media Type");
  free(r);
  r = answered("POST", "/api/create",
               "Content-Type: multipart/form-data; boundary=x\r\n", "",
               "HTTP/1.1 415 Unsupported Media Type");
  free(r);
  r = answered("POST", "/api/upload",
               "Content-Type: multipart/form-data; boundary=x\r\n"
               "Origin: http://evil.example\r\n",
               "", "HTTP/1.1 403 Forbidden");
  free(r);
  r = answered("POST", "/api/upload",
               "Content-Type: multipart/form-data; boundary=x\r\n"
               "Sec-Fetch-Site: cross-site\r\n",
               "", "HTTP/1.1 403 Forbidden");
  free(r);
  assert_int_equal(atomic_load(&handled), before + 1);
}

static void write_hook_runs_for_successful_writes_only(void **state) {
  (void)state;
  int before = atomic_load(&hook_calls);
  char *r =
      request("POST", "/api/create",
              "Content-Type: application/json\r\nCookie: hint=7\r\n", "{}");
  expect_header(r, "X-Hook", "7");
  /* After the handler's own headers, before Date. */
  assert_true(strstr(r, "X-Hook: 7\r\n") < strstr(r, "Date: "));
  free(r);
  assert_int_equal(atomic_load(&hook_calls), before + 1);
  r = request("DELETE", "/api/item/9", "", NULL);
  expect_header(r, "X-Hook", "none");
  free(r);
  assert_int_equal(atomic_load(&hook_calls), before + 2);
  /* A failed write, a refused one, a read: no hook. */
  r = answered("POST", "/api/refuse", "Content-Type: application/json\r\n",
               "{}", "HTTP/1.1 400 Bad Request");
  expect_header(r, "X-Hook", NULL);
  free(r);
  r = request("POST", "/api/create", "", "{}");
  expect_header(r, "X-Hook", NULL);
  free(r);
  r = request("GET", "/api/hello", "Cookie: hint=1\r\n", NULL);
  expect_header(r, "X-Hook", NULL);
  free(r);
  assert_int_equal(atomic_load(&hook_calls), before + 2);
}

static void before_hook_runs_just_before_the_handler(void **state) {
  (void)state;
  int before = atomic_load(&before_calls);
  char *r = request("GET", "/api/hello", "Cookie: hint=5\r\n", NULL);
  free(r);
  assert_string_equal(handler_saw_hint, "5");
  r = request("POST", "/api/create", "Content-Type: application/json\r\n",
              "{}");
  free(r);
  assert_string_equal(handler_saw_hint, "none");
  assert_int_equal(atomic_load(&before_calls), before + 2);
  /* Unmatched, a wrong method, a write refused by the CSRF rule: no
   * handler, no hook. */
  r = answered("GET", "/api/nowhere", "", NULL, "HTTP/1.1 404 Not Found");
  free(r);
  r = answered("PUT", "/api/hello", "", "{}",
               "HTTP/1.1 405 Method Not Allowed");
  free(r);
  r = answered("POST", "/api/create",
               "Content-Type: application/json\r\n"
               "Sec-Fetch-Site: cross-site\r\n",
               "{}", "HTTP/1.1 403 Forbidden");
  free(r);
  assert_int_equal(atomic_load(&before_calls), before + 2);
}

static void unavailable_has_retry_after(void **state) {
  (void)state;
  char *r = answered("GET", "/api/down", "", NULL,
                     "HTTP/1.1 503 Service Unavailable");
  expect_header(r, "Retry-After", "1");
  free(r);
  r = request("GET", "/api/hello", "", NULL);
  expect_header(r, "Retry-After", NULL);
  free(r);
}

static void silent_handler_is_answered_500(void **state) {
  (void)state;
  char *r = answered("GET", "/api/silent", "", NULL,
                     "HTTP/1.1 500 Internal Server Error");
  assert_string_equal(body_of(r),
                      "{ \"error\" : { \"code\" : \"internal\", \"message\" : "
                      "\"Internal error\" } }");
  free(r);
}

static void head_has_the_length_but_no_body(void **state) {
  (void)state;
  char *r = answered("HEAD", "/api/hello", "", NULL, "HTTP/1.1 200 OK");
  expect_header(r, "Content-Length", "18");
  assert_string_equal(body_of(r), "");
  free(r);
}

static void requests_are_counted_by_pattern(void **state) {
  (void)state;
  double item = sample("chorus_http_requests_total{route=\"/api/item/:id\","
                       "method=\"GET\",status=\"200\"}");
  double unmatched = sample("chorus_http_requests_total{route=\"unmatched\","
                            "method=\"GET\",status=\"404\"}");
  free(request("GET", "/api/item/1", "", NULL));
  free(request("GET", "/api/item/2", "", NULL));
  free(request("GET", "/api/missing", "", NULL));
  assert_true(sample("chorus_http_requests_total{route=\"/api/item/:id\","
                     "method=\"GET\",status=\"200\"}") ==
              (item < 0 ? 0 : item) + 2);
  assert_true(sample("chorus_http_requests_total{route=\"unmatched\","
                     "method=\"GET\",status=\"404\"}") ==
              (unmatched < 0 ? 0 : unmatched) + 1);
  assert_int_equal(metrics_in_flight(metrics), 0);
}

static void page_paths_get_the_app_and_files_stay_files(void **state) {
  (void)state;
  char *r = answered("GET", "/u/alice", "", NULL, "HTTP/1.1 200 OK");
  assert_non_null(strstr(r, "text/html; charset=utf-8"));
  assert_string_equal(body_of(r), "<!doctype html><title>app</title>\n");
  free(r);
  r = answered("GET", "/app.js", "", NULL, "HTTP/1.1 200 OK");
  assert_string_equal(body_of(r), "console.log(1);\n");
  free(r);
  r = request("GET", "/nope.js", "", NULL); /* a missing file */
  assert_int_equal(strncmp(r, "HTTP/1.1 404 ", 13), 0);
  free(r);
  r = request("GET", "/t/../index.html", "", NULL);
  assert_null(strstr(r, "HTTP/1.1 500"));
  free(r);
}

/* A file under its versioned name is cached for a year; index.html and
 * the unversioned names are revalidated (no-cache) by their ETag. */
static void versioned_files_are_immutable_and_the_page_is_not(void **state) {
  (void)state;
  char path[128], buf[512], etag[64];
  snprintf(path, sizeof path, "/v/%s/app.js", static_version(files));
  char *r = answered("GET", path, "", NULL, "HTTP/1.1 200 OK");
  assert_string_equal(body_of(r), "console.log(1);\n");
  assert_string_equal(header(r, "Cache-Control", buf, sizeof buf),
                      "public, max-age=31536000, immutable");
  assert_string_equal(header(r, "Content-Type", buf, sizeof buf),
                      "text/javascript; charset=utf-8");
  assert_non_null(header(r, "Content-Security-Policy", buf, sizeof buf));
  assert_string_equal(header(r, "X-Content-Type-Options", buf, sizeof buf),
                      "nosniff");
  free(r);
  r = request("GET", "/v/0123456789abcdef/app.js", "", NULL); /* old */
  assert_int_equal(strncmp(r, "HTTP/1.1 404 ", 13), 0);
  free(r);
  r = answered("GET", "/", "", NULL, "HTTP/1.1 200 OK");
  assert_string_equal(header(r, "Cache-Control", buf, sizeof buf), "no-cache");
  assert_non_null(header(r, "ETag", etag, sizeof etag));
  free(r);
  char inm[128];
  snprintf(inm, sizeof inm, "If-None-Match: %s\r\n", etag);
  r = answered("GET", "/u/bob", inm, NULL, "HTTP/1.1 304 Not Modified");
  assert_string_equal(body_of(r), "");
  free(r);
}

/* A request that accepts gzip gets it where it is smaller. */
static void gzip_is_sent_to_who_accepts_it(void **state) {
  (void)state;
  char buf[128];
  const static_file_t *big = static_find(files, "/big.js");
  assert_non_null(big->gz);
  char *r = answered("GET", "/big.js", "Accept-Encoding: gzip, deflate\r\n",
                     NULL, "HTTP/1.1 200 OK");
  assert_string_equal(header(r, "Content-Encoding", buf, sizeof buf), "gzip");
  assert_string_equal(header(r, "Vary", buf, sizeof buf), "Accept-Encoding");
  assert_int_equal(atoi(header(r, "Content-Length", buf, sizeof buf)),
                   (int)big->gz_len);
  assert_memory_equal(body_of(r), big->gz, big->gz_len);
  free(r);
  r = answered("GET", "/big.js", "Accept-Encoding: br\r\n", NULL,
               "HTTP/1.1 200 OK");
  assert_null(header(r, "Content-Encoding", buf, sizeof buf));
  assert_int_equal(atoi(header(r, "Content-Length", buf, sizeof buf)),
                   (int)big->len);
  free(r);
}

/* The gunzip of in[0..len) into out (at most size bytes); its length. */
static size_t gunzip(const char *in, size_t len, char *out, size_t size) {
  z_stream z;
  memset(&z, 0, sizeof z);
  assert_int_equal(inflateInit2(&z, 15 + 16), Z_OK);
  z.next_in = (Bytef *)in;
  z.avail_in = (uInt)len;
  z.next_out = (Bytef *)out;
  z.avail_out = (uInt)size;
  assert_int_equal(inflate(&z, Z_FINISH), Z_STREAM_END);
  size_t n = z.total_out;
  inflateEnd(&z);
  return n;
}

static void json_is_gzipped_for_who_accepts_it(void **state) {
  (void)state;
  char buf[128];
  static char plain[sizeof big_json];
  char *r =
      answered("GET", "/api/big", "Accept-Encoding: gzip, deflate, br\r\n",
               NULL, "HTTP/1.1 200 OK");
  assert_string_equal(header(r, "Content-Encoding", buf, sizeof buf), "gzip");
  assert_string_equal(header(r, "Vary", buf, sizeof buf), "Accept-Encoding");
  size_t sent = (size_t)atoi(header(r, "Content-Length", buf, sizeof buf));
  size_t len = strlen(big_json);
  assert_true(sent < len / 4); /* JSON shrinks */
  assert_int_equal(gunzip(body_of(r), sent, plain, sizeof plain), len);
  assert_memory_equal(plain, big_json, len);
  free(r);
  /* Not asked for (or only as part of another token): as it is, with
   * Vary all the same. */
  const char *others[] = {"", "Accept-Encoding: br\r\n",
                          "Accept-Encoding: gzipx, xgzip\r\n"};
  for (size_t i = 0; i < sizeof others / sizeof *others; i++) {
    r = answered("GET", "/api/big", others[i], NULL, "HTTP/1.1 200 OK");
    assert_null(header(r, "Content-Encoding", buf, sizeof buf));
    assert_string_equal(header(r, "Vary", buf, sizeof buf), "Accept-Encoding");
    assert_string_equal(body_of(r), big_json);
    free(r);
  }
  /* A short answer goes as it is, without Vary. */
  r = answered("GET", "/api/hello", "Accept-Encoding: gzip\r\n", NULL,
               "HTTP/1.1 200 OK");
  assert_null(header(r, "Content-Encoding", buf, sizeof buf));
  assert_null(header(r, "Vary", buf, sizeof buf));
  free(r);
  /* HEAD: the length of what GET would send, no body. */
  r = answered("HEAD", "/api/big", "Accept-Encoding: gzip\r\n", NULL,
               "HTTP/1.1 200 OK");
  assert_int_equal((size_t)atoi(header(r, "Content-Length", buf, sizeof buf)),
                   sent);
  assert_string_equal(body_of(r), "");
  free(r);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(answer_has_exactly_the_transport_headers),
      cmocka_unit_test(each_table_gets_its_own_context_and_params),
      cmocka_unit_test(unknown_path_is_404_not_found),
      cmocka_unit_test(wrong_method_is_405_with_allow_across_tables),
      cmocka_unit_test(request_id_is_the_clients_plain_token_or_made_up),
      cmocka_unit_test(writes_failing_the_csrf_rule_never_reach_the_handler),
      cmocka_unit_test(typed_routes_take_their_body_type_only),
      cmocka_unit_test(write_hook_runs_for_successful_writes_only),
      cmocka_unit_test(before_hook_runs_just_before_the_handler),
      cmocka_unit_test(unavailable_has_retry_after),
      cmocka_unit_test(silent_handler_is_answered_500),
      cmocka_unit_test(head_has_the_length_but_no_body),
      cmocka_unit_test(requests_are_counted_by_pattern),
      cmocka_unit_test(page_paths_get_the_app_and_files_stay_files),
      cmocka_unit_test(versioned_files_are_immutable_and_the_page_is_not),
      cmocka_unit_test(gzip_is_sent_to_who_accepts_it),
      cmocka_unit_test(json_is_gzipped_for_who_accepts_it),
  };
  return cmocka_run_group_tests(tests, start, stop);
}
