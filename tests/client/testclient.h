/*
 * testclient.h - an HTTP client for integration tests, on libcurl.
 *
 * A tc_client_t is one "browser": a base URL and its own cookie jar.
 * Requests return a tc_response_t with the status, the raw body, the
 * headers and, when the body is JSON, the parsed document, which the
 * tc_json_* accessors read by dotted path ("author.username",
 * "items.0.id").  Servers under test come from the environment that
 * scripts/test.sh sets: CHORUS_TEST_URL_A and CHORUS_TEST_URL_B.
 *
 * Not thread-safe per client; use one client per thread.
 */
#ifndef CHORUS_TESTCLIENT_H
#define CHORUS_TESTCLIENT_H

#include <bson/bson.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>

#include <cmocka.h>
#include <string.h>

typedef struct tc_client tc_client_t;

typedef struct tc_response {
  long status;
  char *body; /* NUL-terminated */
  size_t len;
  char *headers; /* raw header block */
  bson_t *json;  /* NULL when the body is not a JSON object */
} tc_response_t;

/* The base URL named by an environment variable; aborts the test program
 * with a clear message when it is not set. */
const char *tc_env(const char *name);

/* Server A and B base URLs. */
const char *tc_url_a(void);
const char *tc_url_b(void);

tc_client_t *tc_client_new(const char *base_url);
void tc_client_destroy(tc_client_t *c);

/* Sends method path (appended to the base URL).  A non-NULL body is sent
 * with Content-Type: application/json unless headers name another type.
 * headers: NULL-terminated array of "Name: value" strings, or NULL. */
void tc_request(tc_client_t *c, const char *method, const char *path,
                const char *body, size_t body_len, const char *const *headers,
                tc_response_t *out);

/* Like tc_request, but a transport failure (connection refused or reset,
 * timeout) returns false with status 0 and the reason in body, instead of
 * failing the test. */
bool tc_try_request(tc_client_t *c, const char *method, const char *path,
                    const char *body, size_t body_len,
                    const char *const *headers, tc_response_t *out);

/* Whole-request timeout (default 30 s). */
void tc_client_set_timeout_ms(tc_client_t *c, long ms);

/* Shorthands with a NUL-terminated JSON body (or NULL). */
void tc_get(tc_client_t *c, const char *path, tc_response_t *out);
void tc_send(tc_client_t *c, const char *method, const char *path,
             const char *json, tc_response_t *out);

void tc_response_free(tc_response_t *r);

/* Value of a response header (case-insensitive), copied into buf; false
 * when absent. */
bool tc_header(const tc_response_t *r, const char *name, char *buf,
               size_t size);

/* The session cookie's value in c's jar, into buf; false when absent. */
bool tc_cookie(tc_client_t *c, const char *name, char *buf, size_t size);

/* Sets a cookie for c's host, as a browser that got it elsewhere would. */
void tc_set_cookie(tc_client_t *c, const char *name, const char *value);

/* JSON accessors by dotted path; NULL / -1 / false when absent or of
 * another type. */
const char *tc_json_str(const tc_response_t *r, const char *path);
int64_t tc_json_int(const tc_response_t *r, const char *path);
bool tc_json_is_null(const tc_response_t *r, const char *path);
bool tc_json_has(const tc_response_t *r, const char *path);
int tc_json_array_len(const tc_response_t *r, const char *path);

/* A username unique to this run: prefix + pid + counter, 3..30 chars.
 * Thread-safe. */
void tc_unique_name(const char *prefix, char out[31]);

/* Registers username with password on c (asserting 201). */
void tc_register(tc_client_t *c, const char *username, const char *password);

/* The password every test user is registered with. */
#define TC_PASSWORD "correct horse battery"

/* A new client on base, registered (asserting 201) as a fresh user named
 * from prefix (tc_unique_name, written to name) with TC_PASSWORD. */
tc_client_t *tc_new_user(const char *base, const char *prefix, char name[31]);

/* The causal token (the chorus_seen cookie, docs/READMODEL.md 4b).  A
 * test knows of everything it did, so by default every client sends the
 * newest token any answer in this process carried, and each assertion
 * about what a server shows is one about a reader who knows of the
 * writes before it.  A forgetful client sends only what its own jar holds
 * (tests of the staleness bound, and of the token itself). */
void tc_client_forget(tc_client_t *c);

/* A new client on base sharing c's cookie jar (its session, its causal
 * token): the same user's browser on another server of the same host,
 * as browsers keep cookies per host, not per port.  Each is destroyed on
 * its own; the jar lives until the last one is. */
tc_client_t *tc_same_user_on(tc_client_t *c, const char *base);

/* The boolean at path in r's JSON; fails the test when it is not one. */
bool tc_json_bool(const tc_response_t *r, const char *path);

/* Posts a tweet as c's user; asserts 201 and copies the id into id. */
void tc_post_tweet(tc_client_t *c, const char *text, char id[25]);

/* True when s is an RFC 3339 UTC time as Chorus renders it. */
bool tc_is_rfc3339(const char *s);

/* ---- values in parsed JSON (a response's json, a WebSocket message) ----
 * By dotted path, as the tc_json_* accessors; NULL / -1 when absent or of
 * another type. */
const char *tc_bson_str(const bson_t *doc, const char *path);
int64_t tc_bson_int(const bson_t *doc, const char *path);
/* false when absent or not a boolean. */
bool tc_bson_bool(const bson_t *doc, const char *path);

/* ---- text ---- */

/* ASCII upper / lower case copy of s into out (as large as s). */
void tc_upper(const char *s, char *out);
void tc_lower(const char *s, char *out);

/* {"username": username, "password": password} with proper escaping;
 * allocated (bson_free). */
char *tc_credentials_json(const char *username, const char *password);

/* A JSON text of exactly size bytes: head (an object's "{" and members,
 * without its closing brace), spaces, and "}" last; allocated (free),
 * NUL-terminated.  For the limits on a body's size. */
char *tc_padded_json(const char *head, size_t size);

/* ---- sessions ---- */

/* c's session token (the chorus_session cookie) into token; fails the test
 * when c has none. */
void tc_session_token(tc_client_t *c, char *token, size_t size);

/* "chorus_session=<c's token>": the Cookie header of c's session, for a
 * WebSocket upgrade (tc_ws_connect). */
void tc_session_cookie(tc_client_t *c, char *out, size_t size);

/* A new client on base that sends token as its session cookie (the same
 * user's session, seen from another browser; a jar of its own). */
tc_client_t *tc_client_with_session(const char *base, const char *token);

/* Registers a fresh user on base (tc_new_user: name from prefix, password
 * TC_PASSWORD) and keeps only its session token. */
void tc_new_session(const char *base, const char *prefix, char name[31],
                    char *token, size_t size);

/* POST /api/login as username with password, on c, into r (which the
 * caller frees). */
void tc_login(tc_client_t *c, const char *username, const char *password,
              tc_response_t *r);

/* fmt filled in as printf does: a request path in one expression, as in
 * tc_expect_status(c, "GET", tc_path("/api/users/%s", name), NULL, 200).
 * The text lives in one of 8 buffers of the calling thread, reused
 * round-robin: it stays valid for the next 7 calls on that thread. */
__attribute__((format(printf, 1, 2))) const char *tc_path(const char *fmt, ...);

/* ---- one request and the answer it must get ----
 * A json of "" sends an empty body declared as JSON (what a POST without
 * a body needs); NULL sends no body. */

/* Sends and asserts the status; the answer is freed. */
void tc_expect_status(tc_client_t *c, const char *method, const char *path,
                      const char *json, long status);

/* Sends and asserts an error answer (tc_assert_error); the answer is
 * freed. */
void tc_expect_error(tc_client_t *c, const char *method, const char *path,
                     const char *json, long status, const char *code);

/* POST path with an empty JSON body, into r. */
void tc_post_empty(tc_client_t *c, const char *path, tc_response_t *r);

/* GET path and asserts 200, into r (which the caller frees). */
void tc_get_ok(tc_client_t *c, const char *path, tc_response_t *r);

/* The integer at field of GET path's answer (asserting 200; -1 when the
 * field is absent). */
int64_t tc_get_int(tc_client_t *c, const char *path, const char *field);

/* ---- the API's resources ---- */

/* GET /api/users/<name> / DELETE or GET /api/tweet/<id>, into r. */
void tc_get_profile(tc_client_t *c, const char *name, tc_response_t *r);
void tc_get_tweet(tc_client_t *c, const char *id, tc_response_t *r);
void tc_delete_tweet(tc_client_t *c, const char *id, tc_response_t *r);

/* PATCH /api/me with the string fields display_name and bio (NULL:
 * absent, so unchanged), into r. */
void tc_patch_me(tc_client_t *c, const char *display_name, const char *bio,
                 tc_response_t *r);

/* A field of name's profile / of tweet id, as c sees it (asserting 200). */
int64_t tc_profile_int(tc_client_t *c, const char *name, const char *field);
int64_t tc_tweet_int(tc_client_t *c, const char *id, const char *field);

/* method ("POST": follow, "DELETE": unfollow, or any other to see it
 * refused) /api/users/<name>/follow, into r. */
void tc_send_follow(tc_client_t *c, const char *method, const char *name,
                    tc_response_t *r);

/* method ("POST": like, "DELETE": unlike) /api/tweet/<id>/like, into r. */
void tc_send_like(tc_client_t *c, const char *method, const char *id,
                  tc_response_t *r);

/* Follows / unfollows name / likes tweet id as c's user, asserting 200.
 * Each then waits TC_TICK_MS, so that what the test does next has a later
 * time (the API orders by milliseconds). */
void tc_follow(tc_client_t *c, const char *name);
void tc_unfollow(tc_client_t *c, const char *name);
void tc_like(tc_client_t *c, const char *id);

/* Posts a reply with text to tweet parent as c's user; asserts 201 and
 * that the answer is that reply (reply_to, text, no replies yet), copies
 * its id into id and waits TC_TICK_MS. */
void tc_post_reply(tc_client_t *c, const char *text, const char *parent,
                   char id[25]);

/* How long tc_follow, tc_like, tc_post_reply and tc_tick wait. */
#define TC_TICK_MS 3

/* Waits TC_TICK_MS: what the test writes next gets a later time. */
void tc_tick(void);

/* ---- lists ({"items": [...], "next": ...}) ---- */

/* The index of the item whose id is id in r's items, or -1. */
int tc_item_index(const tc_response_t *r, const char *id);

/* Field (a dotted path) of item i of r's items: tc_json_str, tc_json_int,
 * tc_json_bool and tc_json_is_null of "items.<i>.<field>". */
const char *tc_item_str(const tc_response_t *r, int i, const char *field);
int64_t tc_item_int(const tc_response_t *r, int i, const char *field);
bool tc_item_bool(const tc_response_t *r, int i, const char *field);
bool tc_item_is_null(const tc_response_t *r, int i, const char *field);

/* Whether id is among the items of GET path (asserting 200). */
bool tc_list_has(tc_client_t *c, const char *path, const char *id);

/* Asserts that the items' field values are exactly values[0..n), in
 * order; what names the list in the message when they are not. */
void tc_assert_items(const tc_response_t *r, const char *field,
                     const char *const *values, int n, const char *what);

/* The paging errors of the list at path (which may hold a query already):
 * limit=0 is 400 invalid_limit and before=bad_cursor 400 invalid_cursor. */
void tc_expect_paging_errors(tc_client_t *c, const char *path,
                             const char *bad_cursor);

/* GET path, asserting 200, then tc_assert_items. */
void tc_assert_list(tc_client_t *c, const char *path, const char *field,
                    const char *const *values, int n);

/* ---- requests sent at the same moment ---- */

/* One side of a race: a request sent from a thread of its own, with a
 * client of its own (no cmocka assertion runs on those threads). */
typedef struct tc_racer {
  const char *base;  /* the server */
  const char *token; /* the session token sent; NULL: none */
  const char *method;
  const char *path;
  const char *body; /* JSON; NULL: none, "" an empty one */
  long want;        /* the status of a success; 0: 200 */
  int times;        /* how often it is sent, one after another; 0: once */
  long status;      /* out: the last answer's status; 0: no answer */
  int failed;       /* out: answers neither want nor 409, or none */
} tc_racer_t;

/* Sends racers[0..n) (at most 32) at the same moment and waits for all;
 * an answer neither want nor 409 is printed. */
void tc_race(tc_racer_t *racers, int n);

/* tc_race, then asserts that every answer was its success (want) or 409
 * (the API's "conflict": nothing happened, try again) and that one at
 * least succeeded; prints how many were 409 (what names the race).
 * Returns how many succeeded. */
int tc_race_expect(tc_racer_t *racers, int n, const char *what);

/* ---- /metrics (Prometheus text) ---- */

/* The value of the sample named exactly sample (name and labels, as
 * "chorus_ws_clients" or "chorus_db_up{deployment=\"main\"}") in body;
 * false when absent. */
bool tc_metric_in(const char *body, const char *sample, double *out);

/* The value of sample in base's /metrics (asserting 200); fails the test
 * when it is absent. */
double tc_metric(const char *base, const char *sample);

/* Polls base's /metrics until chorus_model_ready is 1 (the read model is
 * loaded); false when it is not within timeout_ms. */
bool tc_wait_model_ready(const char *base, int timeout_ms);

/* Asserts the status, printing the body when it differs. */
#define tc_assert_status(resp, expected)                                       \
  do {                                                                         \
    if ((resp)->status != (expected)) {                                        \
      print_error("HTTP %ld, expected %d; body: %s\n", (resp)->status,         \
                  (int)(expected), (resp)->body ? (resp)->body : "");          \
    }                                                                          \
    assert_int_equal((resp)->status, (expected));                              \
  } while (0)

/* Asserts an error response: status and error.code. */
#define tc_assert_error(resp, expected_status, expected_code)                  \
  do {                                                                         \
    tc_assert_status(resp, expected_status);                                   \
    assert_non_null(tc_json_str(resp, "error.message"));                       \
    assert_string_equal(tc_json_str(resp, "error.code"), expected_code);       \
  } while (0)

/* Asserts that the string at a dotted path of a response's JSON is
 * `expected`; a missing one fails (cmocka's assert_string_equal would
 * dereference NULL), and either way the body is printed. */
#define tc_assert_json_str(resp, path, expected)                               \
  do {                                                                         \
    const char *tc_got_ = tc_json_str(resp, path);                             \
    if (!tc_got_ || strcmp(tc_got_, (expected))) {                             \
      print_error("%s: %s, expected \"%s\"; body: %.4000s\n", (path),          \
                  tc_got_ ? tc_got_ : "(missing)", (expected),                 \
                  (resp)->body ? (resp)->body : "");                           \
    }                                                                          \
    assert_non_null(tc_got_);                                                  \
    assert_string_equal(tc_got_, (expected));                                  \
  } while (0)

#endif
