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
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

typedef struct tc_client tc_client_t;

typedef struct tc_response {
  long status;
  char *body;    /* NUL-terminated */
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
                const char *body, size_t body_len,
                const char *const *headers, tc_response_t *out);

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

/* A username unique to this run: prefix + pid + counter, 3..30 chars. */
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

/* Asserts the status, printing the body when it differs. */
#define tc_assert_status(resp, expected)                                     \
  do {                                                                       \
    if ((resp)->status != (expected)) {                                      \
      print_error("HTTP %ld, expected %d; body: %s\n", (resp)->status,       \
                  (int)(expected), (resp)->body ? (resp)->body : "");        \
    }                                                                        \
    assert_int_equal((resp)->status, (expected));                            \
  } while (0)

/* Asserts an error response: status and error.code. */
#define tc_assert_error(resp, expected_status, expected_code)                \
  do {                                                                       \
    tc_assert_status(resp, expected_status);                                 \
    assert_non_null(tc_json_str(resp, "error.message"));                     \
    assert_string_equal(tc_json_str(resp, "error.code"), expected_code);     \
  } while (0)

#endif
