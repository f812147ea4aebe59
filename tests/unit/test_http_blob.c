/*
 * test_http_blob.c - unit tests for what http_reply_blob decides from a
 * request's headers (http.h): the one byte range of a Range header
 * (first-last, first-, -suffix; ranges past the end; what is ignored:
 * several ranges, another unit, malformed or reversed ones, numbers too
 * long), and If-None-Match against an entity tag (lists, weak tags, *).
 * The answers themselves (206, 304, 416 and their headers) are checked
 * against real servers by integration.test_media.
 *
 * Pure functions: no I/O.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "server/http/http.h"

static void assert_range(const char *header, size_t size, size_t first,
                         size_t last) {
  size_t a = 999, b = 999;
  if (http_parse_range(header, size, &a, &b) != HTTP_RANGE_OK) {
    fail_msg("not a range of %zu bytes: %s", size, header);
  }
  assert_int_equal(a, first);
  assert_int_equal(b, last);
}

static void assert_kind(const char *header, size_t size, http_range_t kind) {
  size_t a, b;
  assert_int_equal(http_parse_range(header, size, &a, &b), kind);
}

static void ranges_within_the_body(void **state) {
  (void)state;
  assert_range("bytes=0-9", 100, 0, 9);
  assert_range("bytes=10-10", 100, 10, 10);
  assert_range("bytes=90-", 100, 90, 99);
  assert_range("bytes=0-", 100, 0, 99);
  assert_range("bytes=50-1000", 100, 50, 99); /* cut at the end */
  assert_range("bytes=-5", 100, 95, 99);
  assert_range("bytes=-100", 100, 0, 99);
  assert_range("bytes=-1000", 100, 0, 99);
  assert_range("BYTES=1-2", 100, 1, 2);
  assert_range("bytes=99-99", 100, 99, 99);
}

static void ranges_past_the_end(void **state) {
  (void)state;
  assert_kind("bytes=100-", 100, HTTP_RANGE_UNSATISFIABLE);
  assert_kind("bytes=100-200", 100, HTTP_RANGE_UNSATISFIABLE);
  assert_kind("bytes=-0", 100, HTTP_RANGE_UNSATISFIABLE);
  assert_kind("bytes=0-", 0, HTTP_RANGE_UNSATISFIABLE);
  assert_kind("bytes=-5", 0, HTTP_RANGE_UNSATISFIABLE);
}

static void ranges_ignored(void **state) {
  (void)state;
  static const char *const ignored[] = {
      NULL,
      "",
      "bytes=",
      "bytes=-",
      "bytes=0-1,4-5",
      "bytes=0-1, 4-5",
      "items=0-9",
      "bytes=9-0",
      "bytes=a-b",
      "bytes=1-2x",
      "bytes= 1-2",
      "bytes=0-9 ",
      "bytes=1234567890123456-",
      "bytes=--5",
  };
  for (size_t i = 0; i < sizeof ignored / sizeof ignored[0]; i++) {
    size_t a, b;
    if (http_parse_range(ignored[i], 100, &a, &b) != HTTP_RANGE_NONE) {
      fail_msg("not ignored: %s", ignored[i] ? ignored[i] : "(none)");
    }
  }
}

static void entity_tags(void **state) {
  (void)state;
  const char *tag = "\"abc-o\"";
  assert_true(http_etag_matches("\"abc-o\"", tag));
  assert_true(http_etag_matches("W/\"abc-o\"", tag)); /* weak comparison */
  assert_true(http_etag_matches("\"x\", \"abc-o\"", tag));
  assert_true(http_etag_matches(" \"x\",W/\"abc-o\" ", tag));
  assert_true(http_etag_matches("*", tag));
  assert_false(http_etag_matches(NULL, tag));
  assert_false(http_etag_matches("", tag));
  assert_false(http_etag_matches("\"abc-t\"", tag));
  assert_false(http_etag_matches("abc-o", tag)); /* unquoted */
  assert_false(http_etag_matches("\"abc-o", tag));
  assert_false(http_etag_matches("\"abc\"", tag));
  assert_false(http_etag_matches("\"x\", junk, \"abc-o\"", tag));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(ranges_within_the_body),
      cmocka_unit_test(ranges_past_the_end),
      cmocka_unit_test(ranges_ignored),
      cmocka_unit_test(entity_tags),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
