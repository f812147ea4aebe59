/*
 * test_http_json.c - unit tests for http_parse_json (http.h: the parse of
 * every request body) and for the message invariant of error.h: every
 * chorus_error_t message is valid UTF-8, so that every refusal renders as
 * a JSON error.  Covers empty and whitespace bodies on both kinds of
 * route, one object with whitespace around it, non-objects, trailing data,
 * malformed JSON, bodies that are not UTF-8 (inside and outside strings,
 * truncated sequences, stray continuation bytes, overlong forms,
 * surrogates), embedded NULs; and chorus_error_set's repair of quoted
 * bytes and of a multi-byte sequence cut by the buffer's end.
 *
 * Pure functions: no database, no I/O.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "server/domain/validate.h"
#include "server/http/http.h"
#include "sync/base/error.h"

/* A string literal as (pointer, byte length), so embedded NULs count. */
#define LIT(s) (s), (sizeof(s) - 1)

static void assert_message_utf8(const chorus_error_t *err) {
  assert_true(err->message[0] != '\0');
  assert_true(utf8_is_valid(err->message, strlen(err->message)));
}

/* Parses and expects a 400 with `code`; the message is valid UTF-8. */
static void refused(const char *data, size_t len, bool required,
                    const char *code) {
  bson_t body;
  chorus_error_t err;
  chorus_error_clear(&err);
  assert_false(http_parse_json(data, len, required, &body, &err));
  assert_int_equal(err.status, 400);
  assert_string_equal(err.code, code);
  assert_message_utf8(&err);
}

/* Parses and expects success with `n` top-level fields. */
static void accepted(const char *data, size_t len, bool required, uint32_t n) {
  bson_t body;
  chorus_error_t err;
  chorus_error_clear(&err);
  assert_true(http_parse_json(data, len, required, &body, &err));
  assert_int_equal(bson_count_keys(&body), n);
  bson_destroy(&body);
}

static void test_empty_bodies(void **state) {
  (void)state;
  accepted(LIT(""), false, 0);
  /* Whitespace is a body, and not a JSON object: a route without a body
   * takes none or an object (docs/API.md). */
  refused(LIT(" \t\r\n"), false, "invalid_json");
  refused(LIT("\n"), false, "invalid_json");
  refused(LIT(""), true, "body_required");
  refused(LIT("  \n"), true, "body_required");
}

static void test_objects(void **state) {
  (void)state;
  accepted(LIT("{}"), true, 0);
  accepted(LIT(" {\"text\":\"a\"} \n"), true, 1);
  accepted(LIT("{\"a\":1,\"b\":{\"c\":[1,2]}}"), false, 2);
  accepted(LIT("{\"text\":\"\xC3\xA9\xF0\x9F\x98\x80\"}"), true, 1);
  accepted(LIT("{\"text\":\"}{\"}"), true, 1); /* braces in a string */
}

static void test_not_one_object(void **state) {
  (void)state;
  refused(LIT("[]"), true, "invalid_json");
  refused(LIT("\"text\""), false, "invalid_json");
  refused(LIT("42"), false, "invalid_json");
  refused(LIT("{\"text\":\"a\"}{\"text\":\"b\"}"), true, "invalid_json");
  refused(LIT("{} x"), true, "invalid_json");
  refused(LIT("{}\0"), true, "invalid_json");
  refused(LIT("\0{}"), true, "invalid_json");
}

static void test_malformed(void **state) {
  (void)state;
  refused(LIT("{"), true, "invalid_json");
  refused(LIT("{ "), false, "invalid_json");
  refused(LIT("{\"a\""), true, "invalid_json");
  refused(LIT("{\"a\":}"), true, "invalid_json");
  refused(LIT("{a:1}"), true, "invalid_json");
  refused(LIT("{\"a\":1,}"), true, "invalid_json");
}

/* A body that is not UTF-8 is refused with a message that is: the
 * parser's own message would quote the bad bytes. */
static void test_not_utf8(void **state) {
  (void)state;
  refused(LIT("{ \xA0"), true, "invalid_json"); /* stray continuation */
  refused(LIT("{ \xFF}"), false, "invalid_json");
  refused(LIT("{\"text\":\"\xC3\"}"), true, "invalid_json"); /* truncated */
  refused(LIT("{\"text\":\"\xE2\x82\"}"), true, "invalid_json");
  refused(LIT("{\"text\":\"\xC0\xAF\"}"), true, "invalid_json"); /* overlong */
  refused(LIT("{\"text\":\"\xED\xA0\x80\"}"), true, "invalid_json"); /* D800 */
  refused(LIT("{\"text\":\"\xF4\x90\x80\x80\"}"), true, "invalid_json");
  refused(LIT("{\"\xFE\":1}"), true, "invalid_json");
  refused(LIT("{\"text\":\"a\0b\"}"), true, "invalid_json");
  chorus_error_t err;
  bson_t body;
  assert_false(http_parse_json(LIT("{ \xA0"), true, &body, &err));
  assert_string_equal(err.message, "The body must be UTF-8");
}

static void test_error_message_repaired(void **state) {
  (void)state;
  chorus_error_t err;
  chorus_error_set(&err, 400, "x", "at \"%s\"",
                   "\xA0\xFF"
                   "ok\xC3");
  assert_string_equal(err.message, "at \"??ok?\"");
  chorus_error_set(&err, 400, "x", "%s", "caf\xC3\xA9 \xF0\x9F\x98\x80");
  assert_string_equal(err.message, "caf\xC3\xA9 \xF0\x9F\x98\x80");
  chorus_error_set(&err, 400, "x", "%s", "\xED\xA0\x80"); /* surrogate */
  assert_string_equal(err.message, "???");

  /* A 3-byte character cut by the buffer's end: its bytes become '?'. */
  char text[sizeof err.message + 8];
  size_t fill = sizeof err.message - 3; /* two of its bytes fit */
  memset(text, 'a', fill);
  memcpy(text + fill, "\xE2\x82\xAC", 3);
  text[fill + 3] = '\0';
  chorus_error_set(&err, 400, "x", "%s", text);
  assert_message_utf8(&err);
  assert_int_equal(strlen(err.message), sizeof err.message - 1);
  assert_int_equal(err.message[fill], '?');
  assert_int_equal(err.message[fill + 1], '?');

  chorus_error_set(NULL, 400, "x", "%s", "ignored");
  assert_int_equal(err.status, 400);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_empty_bodies),
      cmocka_unit_test(test_objects),
      cmocka_unit_test(test_not_one_object),
      cmocka_unit_test(test_malformed),
      cmocka_unit_test(test_not_utf8),
      cmocka_unit_test(test_error_message_repaired),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
