/*
 * test_validate.c - unit tests for validate.h: UTF-8 validity (ASCII,
 * 2/3/4-byte sequences, overlong forms, surrogates, out-of-range code
 * points, truncated sequences, stray continuation bytes, invalid bytes,
 * embedded NUL), code point counting, and the username, password and text
 * validators with their exact boundaries, status codes, error codes and
 * messages; plus username_fold; validate_password_for: the common
 * passwords of server/domain/data/common-passwords.txt (any letter case) and
 * the username's variants refused as "weak_password", other passwords accepted.
 *
 * Pure functions: no database, no I/O.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "server/domain/passwords.h"
#include "server/domain/validate.h"

/* A string literal as (pointer, byte length), so embedded NULs count. */
#define LIT(s) (s), (sizeof(s) - 1)

/* A 4-byte emoji: U+1F600 GRINNING FACE. */
#define EMOJI "\xF0\x9F\x98\x80"

/* Fills buf with n copies of the len-byte unit and a NUL; returns bytes. */
static size_t repeat(char *buf, size_t size, const char *unit, size_t n) {
  size_t ulen = strlen(unit);
  assert_true(ulen * n < size);
  for (size_t i = 0; i < n; i++) {
    memcpy(buf + i * ulen, unit, ulen);
  }
  buf[ulen * n] = '\0';
  return ulen * n;
}

static void expect_error(const chorus_error_t *err, int status,
                         const char *code) {
  assert_int_equal(err->status, status);
  assert_string_equal(err->code, code);
  assert_true(err->message[0] != '\0');
}

/* ------------------------------------------------------------------ */
/* utf8_is_valid                                                       */
/* ------------------------------------------------------------------ */

static void utf8_accepts_empty_string(void **state) {
  (void)state;
  assert_true(utf8_is_valid("", 0));
}

static void utf8_accepts_ascii(void **state) {
  (void)state;
  assert_true(utf8_is_valid(LIT("hello, world")));
  assert_true(utf8_is_valid(LIT(" !\"#$%&'()*+,-./0123456789:;<=>?@"
                                "ABCDEFGHIJKLMNOPQRSTUVWXYZ[\\]^_`"
                                "abcdefghijklmnopqrstuvwxyz{|}~\x7F")));
  assert_true(utf8_is_valid(LIT("\x01\t\n\r\x1F")));
}

static void utf8_accepts_two_byte_sequences(void **state) {
  (void)state;
  assert_true(utf8_is_valid(LIT("\xC2\x80")));     /* U+0080, smallest */
  assert_true(utf8_is_valid(LIT("h\xC3\xA9llo"))); /* é */
  assert_true(utf8_is_valid(LIT("\xDF\xBF")));     /* U+07FF, largest */
}

static void utf8_accepts_three_byte_sequences(void **state) {
  (void)state;
  assert_true(utf8_is_valid(LIT("\xE0\xA0\x80"))); /* U+0800, smallest */
  assert_true(utf8_is_valid(LIT("\xE2\x82\xAC"))); /* € */
  assert_true(utf8_is_valid(LIT("\xE4\xB8\xAD\xE6\x96\x87"))); /* 中文 */
  assert_true(utf8_is_valid(LIT("\xED\x9F\xBF"))); /* U+D7FF, before surr. */
  assert_true(utf8_is_valid(LIT("\xEE\x80\x80"))); /* U+E000, after surr. */
  assert_true(utf8_is_valid(LIT("\xEF\xBF\xBF"))); /* U+FFFF */
}

static void utf8_accepts_four_byte_sequences(void **state) {
  (void)state;
  assert_true(utf8_is_valid(LIT("\xF0\x90\x80\x80"))); /* U+10000 */
  assert_true(utf8_is_valid(LIT(EMOJI)));
  assert_true(utf8_is_valid(LIT("\xF4\x8F\xBF\xBF"))); /* U+10FFFF, max */
}

static void utf8_rejects_overlong_forms(void **state) {
  (void)state;
  assert_false(utf8_is_valid(LIT("\xC0\xAF")));         /* '/' in 2 */
  assert_false(utf8_is_valid(LIT("\xC1\xBF")));         /* U+7F in 2 */
  assert_false(utf8_is_valid(LIT("\xE0\x80\xAF")));     /* '/' in 3 */
  assert_false(utf8_is_valid(LIT("\xE0\x9F\xBF")));     /* U+7FF in 3 */
  assert_false(utf8_is_valid(LIT("\xF0\x80\x80\xAF"))); /* '/' in 4 */
  assert_false(utf8_is_valid(LIT("\xF0\x8F\xBF\xBF"))); /* U+FFFF in 4 */
}

static void utf8_rejects_overlong_nul(void **state) {
  (void)state;
  /* "Modified UTF-8" NUL must not slip past the NUL rule. */
  assert_false(utf8_is_valid(LIT("\xC0\x80")));
  assert_false(utf8_is_valid(LIT("a\xC0\x80z")));
}

static void utf8_rejects_surrogates(void **state) {
  (void)state;
  assert_false(utf8_is_valid(LIT("\xED\xA0\x80"))); /* U+D800 */
  assert_false(utf8_is_valid(LIT("\xED\xAF\xBF"))); /* U+DBFF */
  assert_false(utf8_is_valid(LIT("\xED\xB0\x80"))); /* U+DC00 */
  assert_false(utf8_is_valid(LIT("\xED\xBF\xBF"))); /* U+DFFF */
  /* A CESU-8 surrogate pair for U+1F600 is not UTF-8 either. */
  assert_false(utf8_is_valid(LIT("\xED\xA0\xBD\xED\xB8\x80")));
}

static void utf8_rejects_code_points_above_10ffff(void **state) {
  (void)state;
  assert_false(utf8_is_valid(LIT("\xF4\x90\x80\x80"))); /* U+110000 */
  assert_false(utf8_is_valid(LIT("\xF5\x80\x80\x80")));
  assert_false(utf8_is_valid(LIT("\xF7\xBF\xBF\xBF")));
}

static void utf8_rejects_five_and_six_byte_forms(void **state) {
  (void)state;
  assert_false(utf8_is_valid(LIT("\xF8\x88\x80\x80\x80")));
  assert_false(utf8_is_valid(LIT("\xFC\x84\x80\x80\x80\x80")));
}

static void utf8_rejects_truncated_sequences(void **state) {
  (void)state;
  assert_false(utf8_is_valid(LIT("\xC3")));
  assert_false(utf8_is_valid(LIT("abc\xC3")));
  assert_false(utf8_is_valid(LIT("\xE2\x82")));
  assert_false(utf8_is_valid(LIT("\xE2")));
  assert_false(utf8_is_valid(LIT("\xF0\x9F\x98")));
  assert_false(utf8_is_valid(LIT("\xF0\x9F")));
  assert_false(utf8_is_valid(LIT("\xF0")));
  /* A lead byte followed by a non-continuation byte. */
  assert_false(utf8_is_valid(LIT("\xC3\x41")));
  assert_false(utf8_is_valid(LIT("\xE2\x82x")));
  assert_false(utf8_is_valid(LIT("\xF0\x9F\x98z")));
}

static void utf8_rejects_truncation_by_length_argument(void **state) {
  (void)state;
  /* The buffer holds a full emoji, but only 3 of its bytes are in range. */
  assert_false(utf8_is_valid(EMOJI, 3));
  assert_false(utf8_is_valid("h\xC3\xA9", 2));
  assert_true(utf8_is_valid("h\xC3\xA9", 3));
}

static void utf8_rejects_stray_continuation_bytes(void **state) {
  (void)state;
  assert_false(utf8_is_valid(LIT("\x80")));
  assert_false(utf8_is_valid(LIT("\xBF")));
  assert_false(utf8_is_valid(LIT("a\x80z")));
  assert_false(utf8_is_valid(LIT("\xC3\xA9\xA9"))); /* one too many */
}

static void utf8_rejects_invalid_bytes(void **state) {
  (void)state;
  assert_false(utf8_is_valid(LIT("\xFF")));
  assert_false(utf8_is_valid(LIT("\xFE")));
  assert_false(utf8_is_valid(LIT("abc\xFF")));
  assert_false(utf8_is_valid(LIT("\xFF\xFE")));
}

static void utf8_rejects_embedded_nul(void **state) {
  (void)state;
  assert_false(utf8_is_valid(LIT("a\0b")));
  assert_false(utf8_is_valid(LIT("\0")));
  assert_false(utf8_is_valid(LIT("abc\0")));
}

/* ------------------------------------------------------------------ */
/* utf8_count_code_points                                              */
/* ------------------------------------------------------------------ */

static void count_of_empty_is_zero(void **state) {
  (void)state;
  assert_int_equal(utf8_count_code_points("", 0), 0);
}

static void count_of_ascii_is_byte_length(void **state) {
  (void)state;
  assert_int_equal(utf8_count_code_points(LIT("hello")), 5);
  assert_int_equal(utf8_count_code_points(LIT("a b\tc\n")), 6);
}

static void count_of_two_byte_text(void **state) {
  (void)state;
  assert_int_equal(utf8_count_code_points(LIT("h\xC3\xA9llo")), 5);
  assert_int_equal(utf8_count_code_points(LIT("\xC3\xA9\xC3\xA9")), 2);
}

static void count_of_cjk_text(void **state) {
  (void)state;
  /* 中文字 = 3 code points in 9 bytes */
  assert_int_equal(
      utf8_count_code_points(LIT("\xE4\xB8\xAD\xE6\x96\x87\xE5\xAD\x97")), 3);
}

static void count_of_four_byte_emoji_is_one(void **state) {
  (void)state;
  assert_int_equal(utf8_count_code_points(LIT(EMOJI)), 1);
  assert_int_equal(utf8_count_code_points(LIT("a" EMOJI "b" EMOJI)), 4);
}

static void count_of_mixed_widths(void **state) {
  (void)state;
  /* a é € 😀 = 1+2+3+4 bytes, 4 code points */
  assert_int_equal(utf8_count_code_points(LIT("a\xC3\xA9\xE2\x82\xAC" EMOJI)),
                   4);
}

static void count_respects_length_argument(void **state) {
  (void)state;
  assert_int_equal(utf8_count_code_points("hello", 3), 3);
}

/* ------------------------------------------------------------------ */
/* validate_username                                                   */
/* ------------------------------------------------------------------ */

static void username_of_3_chars_is_accepted(void **state) {
  (void)state;
  chorus_error_t err = {0};
  assert_true(validate_username(LIT("abc"), &err));
  assert_int_equal(err.status, 0);
}

static void username_of_30_chars_is_accepted(void **state) {
  (void)state;
  chorus_error_t err = {0};
  assert_true(validate_username(LIT("abcdefghijklmnopqrstuvwxyz0123"), &err));
  assert_int_equal(err.status, 0);
}

static void username_of_2_chars_is_rejected(void **state) {
  (void)state;
  chorus_error_t err = {0};
  assert_false(validate_username(LIT("ab"), &err));
  expect_error(&err, 400, "invalid_username");
}

static void username_of_31_chars_is_rejected(void **state) {
  (void)state;
  chorus_error_t err = {0};
  assert_false(validate_username(LIT("abcdefghijklmnopqrstuvwxyz01234"), &err));
  expect_error(&err, 400, "invalid_username");
}

static void username_empty_is_rejected(void **state) {
  (void)state;
  chorus_error_t err = {0};
  assert_false(validate_username("", 0, &err));
  expect_error(&err, 400, "invalid_username");
}

static void username_with_underscore_digits_and_case_is_accepted(void **state) {
  (void)state;
  chorus_error_t err = {0};
  assert_true(validate_username(LIT("a_b"), &err));
  assert_true(validate_username(LIT("___"), &err));
  assert_true(validate_username(LIT("123"), &err));
  assert_true(validate_username(LIT("Alice_99"), &err));
  assert_true(validate_username(LIT("ZZZ"), &err));
  assert_int_equal(err.status, 0);
}

static void username_with_hyphen_is_rejected(void **state) {
  (void)state;
  chorus_error_t err = {0};
  assert_false(validate_username(LIT("al-ice"), &err));
  expect_error(&err, 400, "invalid_username");
}

static void username_with_space_is_rejected(void **state) {
  (void)state;
  chorus_error_t err = {0};
  assert_false(validate_username(LIT("al ice"), &err));
  expect_error(&err, 400, "invalid_username");
  chorus_error_clear(&err);
  assert_false(validate_username(LIT("alice "), &err));
  expect_error(&err, 400, "invalid_username");
}

static void username_with_punctuation_is_rejected(void **state) {
  (void)state;
  static const char *const bad[] = {"al.ice", "al@ice", "al$ice", "a/bc",
                                    "a\\bc",  "a'bc",   "a\"bc",  "a<b>",
                                    "a%20b",  "a+bc",   "a\tbc",  "abc\n"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    chorus_error_t err = {0};
    assert_false(validate_username(bad[i], strlen(bad[i]), &err));
    expect_error(&err, 400, "invalid_username");
  }
}

static void username_with_non_ascii_is_rejected(void **state) {
  (void)state;
  chorus_error_t err = {0};
  assert_false(validate_username(LIT("jos\xC3\xA9"), &err)); /* josé */
  expect_error(&err, 400, "invalid_username");
  chorus_error_clear(&err);
  /* Three é: 3 characters but 6 bytes, still not allowed. */
  assert_false(validate_username(LIT("\xC3\xA9\xC3\xA9\xC3\xA9"), &err));
  expect_error(&err, 400, "invalid_username");
  chorus_error_clear(&err);
  assert_false(validate_username(LIT("abc\xFF"), &err));
  expect_error(&err, 400, "invalid_username");
}

static void username_with_nul_is_rejected(void **state) {
  (void)state;
  chorus_error_t err = {0};
  assert_false(validate_username(LIT("abc\0def"), &err));
  expect_error(&err, 400, "invalid_username");
}

static void username_validator_accepts_null_err(void **state) {
  (void)state;
  assert_false(validate_username(LIT("a"), NULL));
  assert_true(validate_username(LIT("alice"), NULL));
}

/* ------------------------------------------------------------------ */
/* validate_password                                                   */
/* ------------------------------------------------------------------ */

static void password_of_8_bytes_is_accepted(void **state) {
  (void)state;
  chorus_error_t err = {0};
  assert_true(validate_password(LIT("12345678"), &err));
  assert_int_equal(err.status, 0);
}

static void password_of_128_bytes_is_accepted(void **state) {
  (void)state;
  char buf[200];
  size_t n = repeat(buf, sizeof buf, "p", 128);
  chorus_error_t err = {0};
  assert_true(validate_password(buf, n, &err));
  assert_int_equal(err.status, 0);
}

static void password_of_7_bytes_is_rejected(void **state) {
  (void)state;
  chorus_error_t err = {0};
  assert_false(validate_password(LIT("1234567"), &err));
  expect_error(&err, 400, "invalid_password");
}

static void password_of_129_bytes_is_rejected(void **state) {
  (void)state;
  char buf[200];
  size_t n = repeat(buf, sizeof buf, "p", 129);
  chorus_error_t err = {0};
  assert_false(validate_password(buf, n, &err));
  expect_error(&err, 400, "invalid_password");
}

static void password_length_is_counted_in_bytes(void **state) {
  (void)state;
  chorus_error_t err = {0};
  /* 4 emoji = 4 characters but 16 bytes: long enough. */
  assert_true(validate_password(LIT(EMOJI EMOJI EMOJI EMOJI), &err));
  /* 2 emoji = 8 bytes: exactly the minimum. */
  assert_true(validate_password(LIT(EMOJI EMOJI), &err));
  /* 32 emoji = 128 bytes ok, 33 = 132 bytes too long. */
  char buf[200];
  size_t n = repeat(buf, sizeof buf, EMOJI, 32);
  assert_true(validate_password(buf, n, &err));
  assert_int_equal(err.status, 0);
  n = repeat(buf, sizeof buf, EMOJI, 33);
  assert_false(validate_password(buf, n, &err));
  expect_error(&err, 400, "invalid_password");
}

static void password_with_spaces_and_symbols_is_accepted(void **state) {
  (void)state;
  chorus_error_t err = {0};
  assert_true(validate_password(LIT("  correct horse \"battery\" \\ "), &err));
  assert_int_equal(err.status, 0);
}

static void password_with_invalid_utf8_is_rejected(void **state) {
  (void)state;
  chorus_error_t err = {0};
  assert_false(validate_password(LIT("password\xFF"), &err));
  expect_error(&err, 400, "invalid_password");
  chorus_error_clear(&err);
  assert_false(validate_password(LIT("password\xC0\xAF"), &err));
  expect_error(&err, 400, "invalid_password");
  chorus_error_clear(&err);
  assert_false(validate_password(LIT("password\xED\xA0\x80"), &err));
  expect_error(&err, 400, "invalid_password");
  chorus_error_clear(&err);
  assert_false(validate_password(LIT("password\xF0\x9F\x98"), &err));
  expect_error(&err, 400, "invalid_password");
}

static void password_with_nul_is_rejected(void **state) {
  (void)state;
  chorus_error_t err = {0};
  assert_false(validate_password(LIT("pass\0word"), &err));
  expect_error(&err, 400, "invalid_password");
}

/* ------------------------------------------------------------------ */
/* validate_password_for                                               */
/* ------------------------------------------------------------------ */

static void expect_weak(const char *username, const char *password) {
  chorus_error_t err = {0};
  if (validate_password_for(username, strlen(username), password,
                            strlen(password), &err)) {
    fail_msg("'%s' for %s was accepted", password, username);
  }
  expect_error(&err, 400, "weak_password");
}

static void expect_strong(const char *username, const char *password) {
  chorus_error_t err = {0};
  if (!validate_password_for(username, strlen(username), password,
                             strlen(password), &err)) {
    fail_msg("'%s' for %s was refused: %s", password, username, err.message);
  }
}

static void the_common_list_is_loaded(void **state) {
  (void)state;
  /* server/domain/data/common-passwords.txt: 30,000 distinct lines. */
  assert_int_equal(passwords_load(), 30000);
  assert_int_equal(passwords_load(), 30000);         /* once */
  assert_true(passwords_is_common(LIT("123456")));   /* the first line */
  assert_true(passwords_is_common(LIT("geekboy")));  /* the last line */
  assert_true(passwords_is_common(LIT("mercede1"))); /* near the end */
  assert_false(passwords_is_common(LIT("")));
  assert_false(passwords_is_common(LIT("correct horse battery")));
  assert_false(passwords_is_common(LIT("password\n12345678")));
}

static void common_passwords_are_refused(void **state) {
  (void)state;
  expect_weak("alice", "password");
  expect_weak("alice", "12345678");
  expect_weak("alice", "qwertyuiop");
  expect_weak("alice", "iloveyou");
  expect_weak("alice", "1qaz2wsx");
  expect_weak("alice", "11234567"); /* the 29,998th */
  /* Letter case is ignored, as the list intends. */
  expect_weak("alice", "PASSWORD");
  expect_weak("alice", "PassWord");
  expect_weak("alice", "QwertyUIOP");
}

static void the_username_and_its_variants_are_refused(void **state) {
  (void)state;
  expect_weak("margarita", "margarita");
  expect_weak("margarita", "MARGARITA");
  expect_weak("Margarita", "mArGaRiTa");
  expect_weak("margarita", "atiragram"); /* reversed */
  expect_weak("bobby", "bobbybobby");    /* repeated */
  expect_weak("bob", "bobbobbob");       /* repeated */
  expect_weak("alice", "Alice2024!");    /* digits and symbols around */
  expect_weak("alice", "123alice");
  expect_weak("alice", "!!alice!!");
  expect_weak("alice_1984", "ALICE1984");   /* the username's own digits */
  expect_weak("alice_1984", "alice_1984!"); /* ...and more */
  expect_weak("alice_1984", "ecila!2024");  /* reversed core */
}

static void other_passwords_are_accepted(void **state) {
  (void)state;
  expect_strong("alice", "correct horse battery");
  expect_strong("alice", "alice in wonderland"); /* more than the name */
  expect_strong("alice", "malice aforethought");
  expect_strong("bob", "bob-the-builder-99");
  /* A short username's core (under 3 letters) only rules out itself. */
  expect_strong("x_1234567", "x98765432");
  expect_weak("x_1234567", "X_1234567");
  expect_strong("alice", "p\xc3\xa4ssw\xc3\xb6rd \xf0\x9f\x94\x91");
  expect_strong("someone", "bench-password-1"); /* bench_common.h */
}

static void password_for_checks_length_and_utf8_first(void **state) {
  (void)state;
  chorus_error_t err = {0};
  assert_false(validate_password_for(LIT("alice"), LIT("short"), &err));
  expect_error(&err, 400, "invalid_password");
  assert_false(validate_password_for(LIT("alice"), LIT("pass\0word!"), &err));
  expect_error(&err, 400, "invalid_password");
}

/* ------------------------------------------------------------------ */
/* validate_text                                                       */
/* ------------------------------------------------------------------ */

static void text_of_one_char_is_accepted(void **state) {
  (void)state;
  chorus_error_t err = {0};
  assert_true(validate_text("text", LIT("a"), 1, TWEET_TEXT_MAX, &err));
  assert_true(validate_text("text", LIT(EMOJI), 1, TWEET_TEXT_MAX, &err));
  assert_int_equal(err.status, 0);
}

static void text_of_280_ascii_chars_is_accepted(void **state) {
  (void)state;
  char buf[400];
  size_t n = repeat(buf, sizeof buf, "x", 280);
  chorus_error_t err = {0};
  assert_true(validate_text("text", buf, n, 1, 280, &err));
  assert_int_equal(err.status, 0);
}

static void text_of_281_ascii_chars_is_too_long(void **state) {
  (void)state;
  char buf[400];
  size_t n = repeat(buf, sizeof buf, "x", 281);
  chorus_error_t err = {0};
  assert_false(validate_text("text", buf, n, 1, 280, &err));
  expect_error(&err, 400, "too_long");
}

static void text_of_280_four_byte_emoji_is_accepted(void **state) {
  (void)state;
  char buf[UTF8_BYTES(TWEET_TEXT_MAX) + 8];
  size_t n = repeat(buf, sizeof buf, EMOJI, 280);
  assert_int_equal(n, 1120);
  assert_int_equal(n, UTF8_BYTES(TWEET_TEXT_MAX));
  chorus_error_t err = {0};
  assert_true(validate_text("text", buf, n, 1, 280, &err));
  assert_int_equal(err.status, 0);
}

static void text_of_281_four_byte_emoji_is_too_long(void **state) {
  (void)state;
  char buf[UTF8_BYTES(TWEET_TEXT_MAX + 1) + 8];
  size_t n = repeat(buf, sizeof buf, EMOJI, 281);
  assert_int_equal(n, 1124);
  chorus_error_t err = {0};
  assert_false(validate_text("text", buf, n, 1, 280, &err));
  expect_error(&err, 400, "too_long");
  assert_non_null(strstr(err.message, "text"));
  assert_non_null(strstr(err.message, "280"));
}

/* 👩‍👩‍👧‍👦: four people joined by ZERO WIDTH JOINERs, 7 code
 * points, 25 bytes, one user-perceived character. */
#define FAMILY                                                                 \
  "\xF0\x9F\x91\xA9\xE2\x80\x8D\xF0\x9F\x91\xA9\xE2\x80\x8D\xF0\x9F\x91\xA7"   \
  "\xE2\x80\x8D\xF0\x9F\x91\xA6"
#define FLAG_FR "\xF0\x9F\x87\xAB\xF0\x9F\x87\xB7" /* 🇫🇷: 2 code points */
#define E_ACUTE "e\xCC\x81" /* e + COMBINING ACUTE ACCENT */

static void graphemes_are_user_perceived_characters(void **state) {
  (void)state;
  assert_int_equal(strlen(FAMILY), 25);
  assert_int_equal(utf8_count_code_points(LIT(FAMILY)), 7);
  assert_int_equal(utf8_count_graphemes(LIT(FAMILY)), 1);
  assert_int_equal(utf8_count_graphemes(LIT(FLAG_FR)), 1);
  assert_int_equal(utf8_count_graphemes(LIT(E_ACUTE)), 1);
  assert_int_equal(utf8_count_graphemes(LIT("ab" FAMILY "c\r\n")), 5);
  assert_int_equal(utf8_count_graphemes("", 0), 0);
}

static void text_counts_a_family_emoji_as_one(void **state) {
  (void)state;
  char buf[UTF8_BYTES(TWEET_TEXT_MAX) + 64];
  /* 279 letters and the family: 280 characters, 304 bytes. */
  size_t n = repeat(buf, sizeof buf, "x", 279);
  memcpy(buf + n, FAMILY, strlen(FAMILY));
  n += strlen(FAMILY);
  chorus_error_t err = {0};
  assert_true(validate_text("text", buf, n, 1, TWEET_TEXT_MAX, &err));
  buf[n++] = 'y'; /* 281 */
  assert_false(validate_text("text", buf, n, 1, TWEET_TEXT_MAX, &err));
  expect_error(&err, 400, "too_long");
}

static void text_of_280_combined_letters_is_accepted(void **state) {
  (void)state;
  char buf[1000];
  /* 560 code points, 280 characters: refused by a code point count. */
  size_t n = repeat(buf, sizeof buf, E_ACUTE, 280);
  chorus_error_t err = {0};
  assert_true(validate_text("text", buf, n, 1, TWEET_TEXT_MAX, &err));
  n = repeat(buf, sizeof buf, E_ACUTE, 281);
  assert_false(validate_text("text", buf, n, 1, TWEET_TEXT_MAX, &err));
  expect_error(&err, 400, "too_long");
}

static void text_over_the_byte_bound_is_too_long(void **state) {
  (void)state;
  char buf[2000];
  /* 44 families are 1100 bytes: within UTF8_BYTES(280) = 1120; 45 are
   * 1125, over it though only 45 characters. */
  size_t n = repeat(buf, sizeof buf, FAMILY, 44);
  chorus_error_t err = {0};
  assert_true(validate_text("text", buf, n, 1, TWEET_TEXT_MAX, &err));
  n = repeat(buf, sizeof buf, FAMILY, 45);
  assert_false(validate_text("text", buf, n, 1, TWEET_TEXT_MAX, &err));
  expect_error(&err, 400, "too_long");
  assert_non_null(strstr(err.message, "1120 bytes"));
}

static void text_of_280_cjk_chars_is_accepted(void **state) {
  (void)state;
  char buf[1000];
  size_t n = repeat(buf, sizeof buf, "\xE4\xB8\xAD", 280);
  chorus_error_t err = {0};
  assert_true(validate_text("text", buf, n, 1, 280, &err));
  n = repeat(buf, sizeof buf, "\xE4\xB8\xAD", 281);
  assert_false(validate_text("text", buf, n, 1, 280, &err));
  expect_error(&err, 400, "too_long");
}

static void text_empty_is_rejected_as_empty(void **state) {
  (void)state;
  chorus_error_t err = {0};
  assert_false(validate_text("text", "", 0, 1, 280, &err));
  expect_error(&err, 400, "empty");
  assert_non_null(strstr(err.message, "text"));
}

static void text_whitespace_only_is_rejected_as_empty(void **state) {
  (void)state;
  static const char *const blank[] = {" ",  "   ",  "\t",
                                      "\n", "\r\n", " \t\n\v\f\r "};
  for (size_t i = 0; i < sizeof blank / sizeof blank[0]; i++) {
    chorus_error_t err = {0};
    assert_false(
        validate_text("text", blank[i], strlen(blank[i]), 1, 280, &err));
    expect_error(&err, 400, "empty");
  }
}

static void text_with_surrounding_whitespace_is_accepted(void **state) {
  (void)state;
  chorus_error_t err = {0};
  assert_true(validate_text("text", LIT("  hi  "), 1, 280, &err));
  assert_true(validate_text("text", LIT("\n.\n"), 1, 280, &err));
  assert_int_equal(err.status, 0);
}

static void text_with_invalid_utf8_is_rejected(void **state) {
  (void)state;
  static const char *const bad[] = {"\xFF",     "abc\xC3",
                                    "\xC0\xAF", "\xED\xA0\x80",
                                    "\x80",     "ok\xF4\x90\x80\x80"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    chorus_error_t err = {0};
    assert_false(validate_text("text", bad[i], strlen(bad[i]), 1, 280, &err));
    expect_error(&err, 400, "invalid_utf8");
    assert_non_null(strstr(err.message, "text"));
  }
}

static void text_with_nul_is_rejected_as_invalid_utf8(void **state) {
  (void)state;
  chorus_error_t err = {0};
  assert_false(validate_text("text", LIT("hello\0world"), 1, 280, &err));
  expect_error(&err, 400, "invalid_utf8");
}

static void text_error_message_names_the_field(void **state) {
  (void)state;
  chorus_error_t err = {0};
  assert_false(validate_text("display_name", "", 0, 1, 50, &err));
  expect_error(&err, 400, "empty");
  assert_non_null(strstr(err.message, "display_name"));

  chorus_error_clear(&err);
  char buf[100];
  size_t n = repeat(buf, sizeof buf, "x", 51);
  assert_false(validate_text("display_name", buf, n, 1, 50, &err));
  expect_error(&err, 400, "too_long");
  assert_non_null(strstr(err.message, "display_name"));
  assert_non_null(strstr(err.message, "50"));

  chorus_error_clear(&err);
  assert_false(validate_text("bio", LIT("\xFF"), 0, 160, &err));
  expect_error(&err, 400, "invalid_utf8");
  assert_non_null(strstr(err.message, "bio"));
}

static void text_with_min_zero_accepts_empty_and_blank(void **state) {
  (void)state;
  chorus_error_t err = {0};
  assert_true(validate_text("bio", "", 0, 0, BIO_MAX, &err));
  assert_true(validate_text("bio", LIT("   "), 0, BIO_MAX, &err));
  assert_int_equal(err.status, 0);
}

static void text_max_is_checked_in_code_points_not_bytes(void **state) {
  (void)state;
  chorus_error_t err = {0};
  /* 5 code points, 10 bytes, max 5: accepted. */
  assert_true(validate_text("text",
                            LIT("\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9"
                                "\xC3\xA9"),
                            1, 5, &err));
  /* 6 code points, max 5: too long. */
  assert_false(validate_text("text",
                             LIT("\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9"
                                 "\xC3\xA9z"),
                             1, 5, &err));
  expect_error(&err, 400, "too_long");
}

/* ------------------------------------------------------------------ */
/* username_fold                                                       */
/* ------------------------------------------------------------------ */

static void fold_lowercases_ascii_letters(void **state) {
  (void)state;
  char out[USERNAME_MAX + 1];
  memset(out, 'X', sizeof out);
  username_fold(LIT("AlIcE_99"), out);
  assert_string_equal(out, "alice_99");
}

static void fold_keeps_lowercase_digits_and_underscore(void **state) {
  (void)state;
  char out[USERNAME_MAX + 1];
  username_fold(LIT("bob_1_2_3"), out);
  assert_string_equal(out, "bob_1_2_3");
}

static void fold_of_30_chars_fills_buffer_exactly(void **state) {
  (void)state;
  char out[USERNAME_MAX + 2];
  memset(out, 'X', sizeof out);
  username_fold(LIT("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123"), out);
  assert_string_equal(out, "abcdefghijklmnopqrstuvwxyz0123");
  assert_int_equal(out[USERNAME_MAX], '\0');
  assert_int_equal(out[USERNAME_MAX + 1], 'X'); /* untouched */
}

static void fold_uses_only_len_bytes(void **state) {
  (void)state;
  char out[USERNAME_MAX + 1];
  username_fold("ABCDEF", 3, out);
  assert_string_equal(out, "abc");
}

static void fold_makes_case_variants_equal(void **state) {
  (void)state;
  char a[USERNAME_MAX + 1], b[USERNAME_MAX + 1];
  username_fold(LIT("Alice"), a);
  username_fold(LIT("aLICE"), b);
  assert_string_equal(a, b);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(utf8_accepts_empty_string),
      cmocka_unit_test(utf8_accepts_ascii),
      cmocka_unit_test(utf8_accepts_two_byte_sequences),
      cmocka_unit_test(utf8_accepts_three_byte_sequences),
      cmocka_unit_test(utf8_accepts_four_byte_sequences),
      cmocka_unit_test(utf8_rejects_overlong_forms),
      cmocka_unit_test(utf8_rejects_overlong_nul),
      cmocka_unit_test(utf8_rejects_surrogates),
      cmocka_unit_test(utf8_rejects_code_points_above_10ffff),
      cmocka_unit_test(utf8_rejects_five_and_six_byte_forms),
      cmocka_unit_test(utf8_rejects_truncated_sequences),
      cmocka_unit_test(utf8_rejects_truncation_by_length_argument),
      cmocka_unit_test(utf8_rejects_stray_continuation_bytes),
      cmocka_unit_test(utf8_rejects_invalid_bytes),
      cmocka_unit_test(utf8_rejects_embedded_nul),
      cmocka_unit_test(count_of_empty_is_zero),
      cmocka_unit_test(count_of_ascii_is_byte_length),
      cmocka_unit_test(count_of_two_byte_text),
      cmocka_unit_test(count_of_cjk_text),
      cmocka_unit_test(count_of_four_byte_emoji_is_one),
      cmocka_unit_test(count_of_mixed_widths),
      cmocka_unit_test(count_respects_length_argument),
      cmocka_unit_test(username_of_3_chars_is_accepted),
      cmocka_unit_test(username_of_30_chars_is_accepted),
      cmocka_unit_test(username_of_2_chars_is_rejected),
      cmocka_unit_test(username_of_31_chars_is_rejected),
      cmocka_unit_test(username_empty_is_rejected),
      cmocka_unit_test(username_with_underscore_digits_and_case_is_accepted),
      cmocka_unit_test(username_with_hyphen_is_rejected),
      cmocka_unit_test(username_with_space_is_rejected),
      cmocka_unit_test(username_with_punctuation_is_rejected),
      cmocka_unit_test(username_with_non_ascii_is_rejected),
      cmocka_unit_test(username_with_nul_is_rejected),
      cmocka_unit_test(username_validator_accepts_null_err),
      cmocka_unit_test(password_of_8_bytes_is_accepted),
      cmocka_unit_test(password_of_128_bytes_is_accepted),
      cmocka_unit_test(password_of_7_bytes_is_rejected),
      cmocka_unit_test(password_of_129_bytes_is_rejected),
      cmocka_unit_test(password_length_is_counted_in_bytes),
      cmocka_unit_test(password_with_spaces_and_symbols_is_accepted),
      cmocka_unit_test(password_with_invalid_utf8_is_rejected),
      cmocka_unit_test(password_with_nul_is_rejected),
      cmocka_unit_test(the_common_list_is_loaded),
      cmocka_unit_test(common_passwords_are_refused),
      cmocka_unit_test(the_username_and_its_variants_are_refused),
      cmocka_unit_test(other_passwords_are_accepted),
      cmocka_unit_test(password_for_checks_length_and_utf8_first),
      cmocka_unit_test(text_of_one_char_is_accepted),
      cmocka_unit_test(text_of_280_ascii_chars_is_accepted),
      cmocka_unit_test(text_of_281_ascii_chars_is_too_long),
      cmocka_unit_test(text_of_280_four_byte_emoji_is_accepted),
      cmocka_unit_test(text_of_281_four_byte_emoji_is_too_long),
      cmocka_unit_test(text_of_280_cjk_chars_is_accepted),
      cmocka_unit_test(graphemes_are_user_perceived_characters),
      cmocka_unit_test(text_counts_a_family_emoji_as_one),
      cmocka_unit_test(text_of_280_combined_letters_is_accepted),
      cmocka_unit_test(text_over_the_byte_bound_is_too_long),
      cmocka_unit_test(text_empty_is_rejected_as_empty),
      cmocka_unit_test(text_whitespace_only_is_rejected_as_empty),
      cmocka_unit_test(text_with_surrounding_whitespace_is_accepted),
      cmocka_unit_test(text_with_invalid_utf8_is_rejected),
      cmocka_unit_test(text_with_nul_is_rejected_as_invalid_utf8),
      cmocka_unit_test(text_error_message_names_the_field),
      cmocka_unit_test(text_with_min_zero_accepts_empty_and_blank),
      cmocka_unit_test(text_max_is_checked_in_code_points_not_bytes),
      cmocka_unit_test(fold_lowercases_ascii_letters),
      cmocka_unit_test(fold_keeps_lowercase_digits_and_underscore),
      cmocka_unit_test(fold_of_30_chars_fills_buffer_exactly),
      cmocka_unit_test(fold_uses_only_len_bytes),
      cmocka_unit_test(fold_makes_case_variants_equal),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
