/*
 * fuzz_range.c - the headers of a conditional or partial GET of an
 * image (GET /media/<id>/<variant>, http_reply_blob): the Range header
 * (http_parse_range) against bodies of several sizes, and If-None-Match
 * (http_etag_matches).  The input is the header's value; its first two
 * bytes also choose one of the sizes.
 *
 * Checks: an accepted range lies inside the body (first <= last < size)
 * and is what the header asks: "bytes=a-b" from a to b (or the end),
 * "bytes=-n" the last n bytes; a range refused as unsatisfiable starts
 * at or past the end (or asks for the last 0 bytes); a header not of the
 * bytes unit is ignored; an entity tag matches only a header that names
 * it, quotes and all, or is "*".
 */
#include "tests/fuzz/fuzz.h"

#include <strings.h>

#include "server/http/http.h"

static void check_range(const char *header, size_t size) {
  size_t first = 0, last = 0;
  http_range_t r = http_parse_range(header, size, &first, &last);
  bool bytes = !strncasecmp(header, "bytes=", 6);
  FUZZ_CHECK(bytes || r == HTTP_RANGE_NONE);
  if (r == HTTP_RANGE_OK) {
    FUZZ_CHECK(first <= last && last < size);
    const char *spec = header + 6;
    if (spec[0] == '-') { /* the last n bytes */
      unsigned long long n = strtoull(spec + 1, NULL, 10);
      FUZZ_CHECK(n > 0 && last == size - 1 &&
                 (n >= size ? first == 0 : first == size - n));
    } else {
      char *end;
      unsigned long long a = strtoull(spec, &end, 10);
      FUZZ_CHECK(*end == '-' && first == a);
      if (end[1]) {
        unsigned long long b = strtoull(end + 1, NULL, 10);
        FUZZ_CHECK(b >= a && last == (b >= size ? size - 1 : b));
      } else {
        FUZZ_CHECK(last == size - 1);
      }
    }
  } else if (r == HTTP_RANGE_UNSATISFIABLE) {
    const char *spec = header + 6;
    FUZZ_CHECK(bytes);
    FUZZ_CHECK(size == 0 ||
               (spec[0] == '-' ? strtoull(spec + 1, NULL, 10) == 0
                               : strtoull(spec, NULL, 10) >= size));
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static const size_t sizes[] = {0, 1, 2, 10, 344, 65536, 8u << 20};
  char *header = fuzz_cstring(data, size);
  for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
    check_range(header, sizes[i]);
  }
  /* A body length the input picks, beside the fixed ones. */
  if (size >= 2) {
    check_range(header, ((size_t)data[0] << 8) | data[1]);
  }
  (void)http_parse_range(NULL, 10, &(size_t){0}, &(size_t){0});
  static const char *const etags[] = {"\"a1b2c3\"", "\"a1b2c3-gz\"", "\"\""};
  for (size_t i = 0; i < sizeof etags / sizeof etags[0]; i++) {
    bool match = http_etag_matches(header, etags[i]);
    const char *p = header + strspn(header, " \t");
    FUZZ_CHECK(!match || *p == '*' || strstr(header, etags[i]) != NULL);
  }
  FUZZ_CHECK(!http_etag_matches(NULL, "\"a1b2c3\""));
  free(header);
  return 0;
}
