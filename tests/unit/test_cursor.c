/*
 * test_cursor.c - unit tests for cursor.h: the exact wire form of
 * pagination cursors (27 characters of unpadded base64url over big-endian
 * milliseconds and ObjectId bytes, checked against known vectors), encode
 * and decode round trips (zero, large and maximal times, fixed and random
 * ObjectIds), and decode's rejection of everything this module could not
 * have produced: NULL, empty, wrong lengths, characters outside base64url,
 * standard-base64 '+' and '/', padding, whitespace, non-canonical trailing
 * bits and times above INT64_MAX.
 *
 * Pure functions: no database.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "server/domain/cursor.h"

static bool is_base64url_char(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
         (c >= '0' && c <= '9') || c == '-' || c == '_';
}

static page_cursor_t make_cursor(int64_t ts, const char *oid_hex) {
  page_cursor_t c;
  memset(&c, 0, sizeof c);
  c.ts_ms = ts;
  bson_oid_init_from_string(&c.id, oid_hex);
  return c;
}

static void assert_round_trip(const page_cursor_t *in) {
  char buf[PAGE_CURSOR_LEN + 2];
  memset(buf, 'X', sizeof buf);
  page_cursor_encode(in, buf);
  assert_int_equal(strlen(buf), PAGE_CURSOR_LEN);
  assert_int_equal(buf[PAGE_CURSOR_LEN + 1], 'X'); /* no overrun */
  for (size_t i = 0; i < PAGE_CURSOR_LEN; i++) {
    assert_true(is_base64url_char(buf[i]));
  }
  page_cursor_t out;
  memset(&out, 0xAB, sizeof out);
  assert_true(page_cursor_decode(buf, &out));
  assert_true(out.ts_ms == in->ts_ms);
  assert_memory_equal(out.id.bytes, in->id.bytes, 12);
}

static void assert_rejected(const char *s) {
  page_cursor_t out;
  memset(&out, 0, sizeof out);
  assert_false(page_cursor_decode(s, &out));
}

/* ------------------------------------------------------------------ */
/* encoding                                                            */
/* ------------------------------------------------------------------ */

static void encode_of_zero_is_27_A(void **state) {
  (void)state;
  page_cursor_t c = make_cursor(0, "000000000000000000000000");
  char buf[PAGE_CURSOR_LEN + 1];
  page_cursor_encode(&c, buf);
  assert_string_equal(buf, "AAAAAAAAAAAAAAAAAAAAAAAAAAA");
}

static void encode_is_big_endian_time_then_oid(void **state) {
  (void)state;
  char buf[PAGE_CURSOR_LEN + 1];
  page_cursor_t c = make_cursor(1, "000000000000000000000001");
  page_cursor_encode(&c, buf);
  assert_string_equal(buf, "AAAAAAAAAAEAAAAAAAAAAAAAAAE");

  c = make_cursor(1700000000123, "65538a0011223344556677ff");
  page_cursor_encode(&c, buf);
  assert_string_equal(buf, "AAABi8_laHtlU4oAESIzRFVmd_8");
}

static void encode_of_max_time_and_ff_oid(void **state) {
  (void)state;
  char buf[PAGE_CURSOR_LEN + 1];
  page_cursor_t c = make_cursor(INT64_MAX, "ffffffffffffffffffffffff");
  page_cursor_encode(&c, buf);
  assert_string_equal(buf, "f_________________________8");
}

static void encoded_length_is_page_cursor_len(void **state) {
  (void)state;
  assert_int_equal(PAGE_CURSOR_LEN, 27);
  char buf[PAGE_CURSOR_LEN + 1];
  page_cursor_t c = make_cursor(123456789, "0123456789abcdef01234567");
  page_cursor_encode(&c, buf);
  assert_int_equal(strlen(buf), PAGE_CURSOR_LEN);
}

static void encoding_uses_only_base64url_chars(void **state) {
  (void)state;
  /* Many random ids and times exercise all 64 symbols; none may be '+',
   * '/' or '='. */
  bool seen_dash = false, seen_underscore = false;
  for (int i = 0; i < 2000; i++) {
    page_cursor_t c;
    memset(&c, 0, sizeof c);
    bson_oid_init(&c.id, NULL);
    /* Spread the random oid bytes into the time too. */
    uint64_t t = 0;
    memcpy(&t, c.id.bytes + 4, 8);
    c.ts_ms = (int64_t)(t >> 1);
    char buf[PAGE_CURSOR_LEN + 1];
    page_cursor_encode(&c, buf);
    assert_int_equal(strlen(buf), PAGE_CURSOR_LEN);
    for (size_t j = 0; j < PAGE_CURSOR_LEN; j++) {
      assert_true(is_base64url_char(buf[j]));
      seen_dash |= buf[j] == '-';
      seen_underscore |= buf[j] == '_';
    }
  }
  assert_true(seen_dash);
  assert_true(seen_underscore);
}

/* ------------------------------------------------------------------ */
/* round trips                                                         */
/* ------------------------------------------------------------------ */

static void round_trip_of_zero(void **state) {
  (void)state;
  page_cursor_t c = make_cursor(0, "000000000000000000000000");
  assert_round_trip(&c);
}

static void round_trip_of_current_times(void **state) {
  (void)state;
  static const int64_t times[] = {1,
                                  999,
                                  1000,
                                  1700000000123,
                                  1763702820123 /* 2025-11-21 */,
                                  4102444800000 /* 2100-01-01 */};
  for (size_t i = 0; i < sizeof times / sizeof times[0]; i++) {
    page_cursor_t c = make_cursor(times[i], "65538a0011223344556677ff");
    assert_round_trip(&c);
  }
}

static void round_trip_of_large_times(void **state) {
  (void)state;
  static const int64_t times[] = {INT64_C(0xFFFFFFFF), INT64_C(0x100000000),
                                  INT64_C(0x0123456789ABCDEF), INT64_MAX - 1,
                                  INT64_MAX};
  for (size_t i = 0; i < sizeof times / sizeof times[0]; i++) {
    page_cursor_t c = make_cursor(times[i], "ffffffffffffffffffffffff");
    assert_round_trip(&c);
  }
}

static void round_trip_of_random_oids(void **state) {
  (void)state;
  for (int i = 0; i < 500; i++) {
    page_cursor_t c;
    memset(&c, 0, sizeof c);
    bson_oid_init(&c.id, NULL);
    c.ts_ms = 1700000000000 + i * 7919;
    assert_round_trip(&c);
  }
}

static void round_trip_of_oid_byte_patterns(void **state) {
  (void)state;
  static const char *const oids[] = {
      "000000000000000000000000", "ffffffffffffffffffffffff",
      "0123456789abcdef01234567", "fedcba9876543210fedcba98",
      "800000000000000000000001", "7f7f7f7f7f7f7f7f7f7f7f7f"};
  for (size_t i = 0; i < sizeof oids / sizeof oids[0]; i++) {
    page_cursor_t c = make_cursor(42, oids[i]);
    assert_round_trip(&c);
  }
}

static void distinct_cursors_encode_differently(void **state) {
  (void)state;
  char a[PAGE_CURSOR_LEN + 1], b[PAGE_CURSOR_LEN + 1];
  page_cursor_t ca = make_cursor(1000, "65538a0011223344556677ff");
  page_cursor_t cb = make_cursor(1001, "65538a0011223344556677ff");
  page_cursor_encode(&ca, a);
  page_cursor_encode(&cb, b);
  assert_string_not_equal(a, b);
  cb = make_cursor(1000, "65538a0011223344556677fe");
  page_cursor_encode(&cb, b);
  assert_string_not_equal(a, b);
}

/* ------------------------------------------------------------------ */
/* decode rejections                                                   */
/* ------------------------------------------------------------------ */

static void decode_of_known_vector_gives_exact_fields(void **state) {
  (void)state;
  page_cursor_t c;
  assert_true(page_cursor_decode("AAABi8_laHtlU4oAESIzRFVmd_8", &c));
  assert_true(c.ts_ms == 1700000000123);
  char hex[25];
  bson_oid_to_string(&c.id, hex);
  assert_string_equal(hex, "65538a0011223344556677ff");
}

static void decode_rejects_null(void **state) {
  (void)state;
  assert_rejected(NULL);
}

static void decode_rejects_empty_string(void **state) {
  (void)state;
  assert_rejected("");
}

static void decode_rejects_wrong_lengths(void **state) {
  (void)state;
  assert_rejected("A");
  assert_rejected("AAAA");
  assert_rejected("AAAAAAAAAAAAAAAAAAAAAAAAAA");   /* 26 */
  assert_rejected("AAAAAAAAAAAAAAAAAAAAAAAAAAAA"); /* 28 */
  assert_rejected("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA");
  /* Valid cursor with one character more or less. */
  assert_rejected("AAABi8_laHtlU4oAESIzRFVmd_");
  assert_rejected("AAABi8_laHtlU4oAESIzRFVmd_8A");
}

static void decode_rejects_padded_strings(void **state) {
  (void)state;
  /* Standard padding of 20 bytes is one '='. */
  assert_rejected("AAABi8_laHtlU4oAESIzRFVmd_8=");
  /* Padding inside the 27 characters. */
  assert_rejected("AAABi8_laHtlU4oAESIzRFVmd_=");
  assert_rejected("AAAAAAAAAAAAAAAAAAAAAAAAA==");
  assert_rejected("===========================");
}

static void decode_rejects_standard_base64_alphabet(void **state) {
  (void)state;
  /* '+' and '/' are the non-URL-safe twins of '-' and '_'. */
  assert_rejected("AAABi8/laHtlU4oAESIzRFVmd_8");
  assert_rejected("AAABi8_laHtlU4oAESIzRFVmd/8");
  assert_rejected("AAAAAAAAAA+AAAAAAAAAAAAAAAA");
}

static void decode_rejects_invalid_characters(void **state) {
  (void)state;
  assert_rejected("AAAAAAAAAAAAAAAAAAAAAAAAAA!");
  assert_rejected("AAAAAAAAAAAAA.AAAAAAAAAAAAA");
  assert_rejected("AAAAAAAAAAAAA AAAAAAAAAAAAA");
  assert_rejected(" AAAAAAAAAAAAAAAAAAAAAAAAAA");
  assert_rejected("AAAAAAAAAAAAAAAAAAAAAAAAAA\n");
  assert_rejected("AAAAAAAAAAAAAAAAAAAAAAAAAA\t");
  assert_rejected("AAAAAAAAAAAAAAAAAAAAAAAAA\xC3\xA9"); /* 27 bytes */
  assert_rejected("AAAAAAAAAAAAAAAAAAAAAAAAAA\xFF");
}

/* libsodium 1.0.18's decoder takes every byte above 0x7F for a
 * character of the alphabet ("\xCF" decodes as '_'); found by
 * tests/fuzz/fuzz_cursor.c.  Neither kind of cursor may have two spellings. */
static void
decode_rejects_high_bytes_libsodium_takes_for_letters(void **state) {
  (void)state;
  page_cursor_t c;
  assert_true(page_cursor_decode("AbLD0OX2gOxpBkLD0OX2g_xpBks", &c));
  assert_rejected("AbLD0OX2gOxpBkLD0OX2g\xCFxpBks");
  char key[64];
  assert_true(name_cursor_decode("YWxpY2U", key, sizeof key));
  assert_string_equal(key, "alice");
  assert_false(name_cursor_decode("YWxpY2\xD5", key, sizeof key));
  for (int b = 0x80; b <= 0xFF; b++) {
    char s[PAGE_CURSOR_LEN + 1];
    memset(s, 'A', PAGE_CURSOR_LEN);
    s[PAGE_CURSOR_LEN] = '\0';
    s[5] = (char)b;
    assert_rejected(s);
    char name[] = "YWxpY2U";
    name[2] = (char)b;
    assert_false(name_cursor_decode(name, key, sizeof key));
  }
}

static void decode_rejects_27_non_base64_characters(void **state) {
  (void)state;
  assert_rejected("!!!!!!!!!!!!!!!!!!!!!!!!!!!");
  assert_rejected("...........................");
  assert_rejected("***************************");
  assert_rejected("%%%%%%%%%%%%%%%%%%%%%%%%%%%");
  assert_rejected("                           ");
}

static void decode_rejects_non_canonical_trailing_bits(void **state) {
  (void)state;
  /* 27 characters carry 162 bits for 160: the last character's low two
   * bits must be zero.  "...d_8" is canonical; 9, -, _ and B set them. */
  page_cursor_t c;
  assert_true(page_cursor_decode("AAABi8_laHtlU4oAESIzRFVmd_8", &c));
  assert_rejected("AAABi8_laHtlU4oAESIzRFVmd_9");
  assert_rejected("AAABi8_laHtlU4oAESIzRFVmd__");
  assert_rejected("AAAAAAAAAAAAAAAAAAAAAAAAAAB");
  assert_rejected("AAAAAAAAAAAAAAAAAAAAAAAAAAD");
}

static void decode_rejects_time_above_int64_max(void **state) {
  (void)state;
  /* First byte 0x80: the time does not fit int64_t. */
  assert_rejected("gAAAAAAAAAAAAAAAAAAAAAAAAAA");
  /* All 20 bytes 0xFF. */
  assert_rejected("__________________________8");
}

static void decode_of_encoded_negative_time_is_rejected(void **state) {
  (void)state;
  /* Times before 1970 never name a tweet; such a cursor does not decode
   * back to a negative time. */
  page_cursor_t c = make_cursor(-1, "000000000000000000000000");
  char buf[PAGE_CURSOR_LEN + 1];
  page_cursor_encode(&c, buf);
  assert_int_equal(strlen(buf), PAGE_CURSOR_LEN);
  assert_rejected(buf);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(encode_of_zero_is_27_A),
      cmocka_unit_test(encode_is_big_endian_time_then_oid),
      cmocka_unit_test(encode_of_max_time_and_ff_oid),
      cmocka_unit_test(encoded_length_is_page_cursor_len),
      cmocka_unit_test(encoding_uses_only_base64url_chars),
      cmocka_unit_test(round_trip_of_zero),
      cmocka_unit_test(round_trip_of_current_times),
      cmocka_unit_test(round_trip_of_large_times),
      cmocka_unit_test(round_trip_of_random_oids),
      cmocka_unit_test(round_trip_of_oid_byte_patterns),
      cmocka_unit_test(distinct_cursors_encode_differently),
      cmocka_unit_test(decode_of_known_vector_gives_exact_fields),
      cmocka_unit_test(decode_rejects_null),
      cmocka_unit_test(decode_rejects_empty_string),
      cmocka_unit_test(decode_rejects_wrong_lengths),
      cmocka_unit_test(decode_rejects_padded_strings),
      cmocka_unit_test(decode_rejects_standard_base64_alphabet),
      cmocka_unit_test(decode_rejects_invalid_characters),
      cmocka_unit_test(decode_rejects_27_non_base64_characters),
      cmocka_unit_test(decode_rejects_high_bytes_libsodium_takes_for_letters),
      cmocka_unit_test(decode_rejects_non_canonical_trailing_bits),
      cmocka_unit_test(decode_rejects_time_above_int64_max),
      cmocka_unit_test(decode_of_encoded_negative_time_is_rejected),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
