/*
 * test_entities.c - unit tests for entities.h: mentions, hashtags and
 * URLs found in text, their code-point and byte offsets (ASCII, 2-, 3-
 * and 4-byte characters before and inside spans), the boundary rule
 * (emails, "a#b", "##b"), punctuation at the ends of mentions and URLs
 * (balanced and unbalanced brackets, trailing dots, quotes), tags of
 * letters of many scripts with marks, tags of digits only, the length
 * limits (usernames 3-30, tags 1-50), the max argument, every byte
 * offset agreeing with its code-point offset, and tag folding; a tag as
 * clients name it (tags_parse) and the trends' ranking
 * (tags_trends_offer).
 *
 * Pure functions: no database, no I/O.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "server/domain/entities.h"
#include "server/domain/tags.h"
#include "server/domain/validate.h"

#define MAX 128

/* The entities of text as "type:start-end=slice" joined by spaces,
 * checking on the way that each byte span holds exactly end - start code
 * points and starts where start code points end. */
static void describe(const char *text, char *out, size_t size) {
  entity_t e[MAX];
  size_t len = strlen(text);
  size_t n = entities_parse(text, len, e, MAX);
  out[0] = '\0';
  size_t at = 0;
  for (size_t i = 0; i < n; i++) {
    assert_int_equal(utf8_count_code_points(text, e[i].byte_start), e[i].start);
    assert_int_equal(utf8_count_code_points(text + e[i].byte_start,
                                            e[i].byte_end - e[i].byte_start),
                     e[i].end - e[i].start);
    int w = snprintf(out + at, size - at, "%s%s:%u-%u=%.*s", i ? " " : "",
                     entity_type_name(e[i].type), e[i].start, e[i].end,
                     (int)(e[i].byte_end - e[i].byte_start),
                     text + e[i].byte_start);
    assert_true(w > 0 && (size_t)w < size - at);
    at += (size_t)w;
  }
}

static void expect(const char *text, const char *want) {
  char got[4096];
  describe(text, got, sizeof got);
  if (strcmp(got, want) != 0) {
    fail_msg("text \"%s\"\n  want \"%s\"\n  got  \"%s\"", text, want, got);
  }
}

static void plain_text_has_none(void **state) {
  (void)state;
  expect("", "");
  expect("hello world", "");
  expect("@ # http:// https://", "");
  expect("a tweet about C# and F# and 50% off", "");
}

static void mentions(void **state) {
  (void)state;
  expect("@bob hi", "mention:0-4=@bob");
  expect("hi @bob_99", "mention:3-10=@bob_99");
  expect("@alice and @Bob", "mention:0-6=@alice mention:11-15=@Bob");
  expect("(@bob) @bob's @bob, @bob. @bob!",
         "mention:1-5=@bob mention:7-11=@bob mention:14-18=@bob "
         "mention:20-24=@bob mention:26-30=@bob");
}

static void emails_and_addresses_are_not_mentions(void **state) {
  (void)state;
  expect("mail bob@example.com", "");
  expect("ask @bob@mastodon.social", "");
  expect("@@bob", "");
  expect("x_@bob", "");
  expect("caf\xC3\xA9@bob", ""); /* after a non-ASCII letter */
  expect("-@bob", "mention:1-5=@bob");
}

static void mention_lengths(void **state) {
  (void)state;
  expect("@ab", "");
  expect("@abc", "mention:0-4=@abc");
  expect("@abcdefghijabcdefghijabcdefghij", /* 30 */
         "mention:0-31=@abcdefghijabcdefghijabcdefghij");
  expect("@abcdefghijabcdefghijabcdefghijk", ""); /* 31 */
  expect("@bob\xC3\xA9", "");                     /* a longer word */
}

static void hashtags(void **state) {
  (void)state;
  expect("#chorus", "hashtag:0-7=#chorus");
  expect("I love #C_lang, #x!", "hashtag:7-14=#C_lang hashtag:16-18=#x");
  expect("#one #two", "hashtag:0-4=#one hashtag:5-9=#two");
  expect("#tag#two", "hashtag:0-4=#tag");
  expect("a#b ##c &#39;", "");
}

static void hashtags_of_digits(void **state) {
  (void)state;
  expect("#2024 #1 #_ #__", "");
  expect("#2024olympics #v2", "hashtag:0-13=#2024olympics hashtag:14-17=#v2");
}

static void hashtags_in_many_scripts(void **state) {
  (void)state;
  /* Greek, Cyrillic, CJK, Arabic, Devanagari with its vowel signs
   * (marks), Japanese kana. */
  expect("#\xCE\xB1\xCE\xB8\xCE\xAE\xCE\xBD\xCE\xB1", /* #αθήνα */
         "hashtag:0-6=#\xCE\xB1\xCE\xB8\xCE\xAE\xCE\xBD\xCE\xB1");
  expect("\xD0\xBF\xD1\x80\xD0\xB8 #\xD0\x9C\xD0\xBE\xD1\x81\xD0\xBA"
         "\xD0\xB2\xD0\xB0",
         "hashtag:4-11=#\xD0\x9C\xD0\xBE\xD1\x81\xD0\xBA\xD0\xB2\xD0\xB0");
  expect("#\xE5\x8C\x97\xE4\xBA\xAC\xE3\x80\x82", /* #北京。 */
         "hashtag:0-3=#\xE5\x8C\x97\xE4\xBA\xAC");
  expect("#\xD8\xB3\xD9\x84\xD8\xA7\xD9\x85", /* #سلام */
         "hashtag:0-5=#\xD8\xB3\xD9\x84\xD8\xA7\xD9\x85");
  expect("#\xE0\xA4\xB9\xE0\xA4\xBF\xE0\xA4\x82\xE0\xA4\xA6\xE0\xA5\x80",
         /* #हिंदी: letters and marks */
         "hashtag:0-6=#\xE0\xA4\xB9\xE0\xA4\xBF\xE0\xA4\x82\xE0\xA4\xA6"
         "\xE0\xA5\x80");
  expect("#\xE3\x81\x95\xE3\x81\x8F\xE3\x82\x89", /* #さくら */
         "hashtag:0-4=#\xE3\x81\x95\xE3\x81\x8F\xE3\x82\x89");
  /* Emoji and symbols end a tag. */
  expect("#cat\xF0\x9F\x98\xBA #\xF0\x9F\x98\xBA", "hashtag:0-4=#cat");
}

static void hashtag_lengths(void **state) {
  (void)state;
  char text[128], want[256];
  memset(text, 'a', sizeof text);
  text[0] = '#';
  text[51] = '\0'; /* 50 letters */
  snprintf(want, sizeof want, "hashtag:0-51=%s", text);
  expect(text, want);
  text[51] = 'a';
  text[52] = '\0'; /* 51 letters */
  expect(text, "");
}

static void offsets_count_code_points(void **state) {
  (void)state;
  /* é (2 bytes), € (3 bytes), 😀 (4 bytes) before the spans. */
  expect("\xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80 @bob #tag https://x.org",
         "mention:4-8=@bob hashtag:9-13=#tag url:14-27=https://x.org");
  expect("\xF0\x9F\x98\x80\xF0\x9F\x98\x80 #\xC3\xA9t\xC3\xA9",
         "hashtag:3-7=#\xC3\xA9t\xC3\xA9");
  /* e and a combining acute (2 code points, one character), a family of
   * three emoji joined by ZWJ (5 code points) and a flag (2 regional
   * indicators): each code point counts. */
  expect("e\xCC\x81 \xF0\x9F\x91\xA9\xE2\x80\x8D\xF0\x9F\x91\xA9\xE2\x80\x8D"
         "\xF0\x9F\x91\xA7 \xF0\x9F\x87\xAB\xF0\x9F\x87\xB7 @bob #tag",
         "mention:12-16=@bob hashtag:17-21=#tag");
  /* A combining mark belongs to the word before it: no mention after
   * it, and it continues a tag. */
  expect("e\xCC\x81@bob #e\xCC\x81t\xCC\x81",
         "hashtag:7-12=#e\xCC\x81t\xCC\x81");
}

static void urls(void **state) {
  (void)state;
  expect("see https://chorus.example/a/b?c=d&e=f#g now",
         "url:4-40=https://chorus.example/a/b?c=d&e=f#g");
  expect("HTTP://EXAMPLE.COM", "url:0-18=HTTP://EXAMPLE.COM");
  expect("http://localhost:8080/x", "url:0-23=http://localhost:8080/x");
  expect("ftp://x.org mailto:bob@x.org", "");
  expect("https:// nothing http://", "");
  expect("https://-x", "");
  expect("xhttps://x.org", "");
  expect("https://b\xC3\xBC"
         "cher.de/\xC3\xA4", /* an IRI */
         "url:0-19=https://b\xC3\xBC"
         "cher.de/\xC3\xA4");
}

static void urls_lose_trailing_punctuation(void **state) {
  (void)state;
  expect("go to https://x.org.", "url:6-19=https://x.org");
  expect("https://x.org/a, https://y.org/b!? 'https://z.org'",
         "url:0-15=https://x.org/a url:17-32=https://y.org/b "
         "url:36-49=https://z.org");
  expect("https://x.org/...", "url:0-14=https://x.org/");
  expect("\"https://x.org\" <https://y.org>",
         "url:1-14=https://x.org url:17-30=https://y.org");
}

static void urls_and_brackets(void **state) {
  (void)state;
  expect("(see https://x.org/a)", "url:5-20=https://x.org/a");
  expect("https://en.wikipedia.org/wiki/C_(language)",
         "url:0-42=https://en.wikipedia.org/wiki/C_(language)");
  expect("[https://x.org/a_(b)]", "url:1-20=https://x.org/a_(b)");
  expect("https://x.org/a).", "url:0-15=https://x.org/a");
}

static void spans_inside_urls_are_the_url(void **state) {
  (void)state;
  expect("https://x.org/@bob/#tag @bob",
         "url:0-23=https://x.org/@bob/#tag mention:24-28=@bob");
}

static void white_space_ends_spans(void **state) {
  (void)state;
  /* No-break space, ideographic space, a line feed. */
  expect("https://x.org\xC2\xA0"
         "a",
         "url:0-13=https://x.org");
  expect("#a\xE3\x80\x80#b\n@bob", "hashtag:0-2=#a hashtag:3-5=#b "
                                   "mention:6-10=@bob");
}

static void max_limits_the_result(void **state) {
  (void)state;
  entity_t e[2];
  const char *text = "#a #b #c";
  assert_int_equal(entities_parse(text, strlen(text), e, 2), 2);
  assert_int_equal(e[1].start, 3);
  assert_int_equal(entities_parse(text, strlen(text), e, 0), 0);
}

static void a_full_tweet_of_tags(void **state) {
  (void)state;
  /* 93 tags of "#a " fit 280 code points: every one found. */
  char text[300];
  size_t len = 0;
  for (int i = 0; i < 93; i++) {
    memcpy(text + len, "#a ", 3);
    len += 3;
  }
  text[len] = '\0';
  entity_t e[MAX];
  assert_int_equal(entities_parse(text, len, e, MAX), 93);
  assert_int_equal(e[92].start, 276);
  assert_int_equal(e[92].end, 278);
}

static void text_is_read_only_within_len(void **state) {
  (void)state;
  /* len cuts "@bob" and "https://x.org" short: no read past it. */
  entity_t e[4];
  assert_int_equal(entities_parse("@bo", 3, e, 4), 0);
  assert_int_equal(entities_parse("https://x.org", 8, e, 4), 0);
  assert_int_equal(entities_parse("#tag", 2, e, 4), 1);
  assert_int_equal(e[0].byte_end, 2);
  /* A truncated multi-byte character at the end. */
  assert_int_equal(entities_parse("#a\xC3", 3, e, 4), 1);
}

static void fold_tag(void **state) {
  (void)state;
  char out[ENTITIES_TAG_BYTES + 1];
  assert_int_equal(entities_fold_tag("Chorus", 6, out, sizeof out), 6);
  assert_string_equal(out, "chorus");
  assert_int_equal(entities_fold_tag("\xCE\x91\xCE\x98", 4, out, sizeof out),
                   4);
  assert_string_equal(out, "\xCE\xB1\xCE\xB8"); /* ΑΘ -> αθ */
  entities_fold_tag("\xC3\x89T\xC3\x89", 5, out, sizeof out);
  assert_string_equal(out, "\xC3\xA9t\xC3\xA9"); /* ÉTÉ -> été */
  assert_int_equal(entities_fold_tag("abc", 3, out, 3), 0);
  assert_int_equal(entities_fold_tag("abc", 3, out, 4), 3);
}

static void type_names(void **state) {
  (void)state;
  assert_string_equal(entity_type_name(ENTITY_MENTION), "mention");
  assert_string_equal(entity_type_name(ENTITY_HASHTAG), "hashtag");
  assert_string_equal(entity_type_name(ENTITY_URL), "url");
  assert_null(entity_type_name((entity_type_t)0));
}

/* tags_parse: a tag as clients name it (no '#'), folded; 400 otherwise. */
static void tags_as_clients_name_them(void **state) {
  (void)state;
  char out[TAG_SIZE];
  chorus_error_t err;
  assert_true(tags_parse("Chorus", 6, out, &err));
  assert_string_equal(out, "chorus");
  assert_true(tags_parse("\xC3\x89T\xC3\x89_2024", 10, out, &err));
  assert_string_equal(out, "\xC3\xA9t\xC3\xA9_2024"); /* ÉTÉ_2024 */
  char longest[ENTITIES_TAG_MAX + 2];
  memset(longest, 'a', sizeof longest);
  assert_true(tags_parse(longest, ENTITIES_TAG_MAX, out, &err));
  static const char *const bad[] = {"2024", "_",   "#a",   "a-b",
                                    "a b",  "a.b", "\xC3", "a\xC3"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    memset(&err, 0, sizeof err);
    assert_false(tags_parse(bad[i], strlen(bad[i]), out, &err));
    assert_int_equal(err.status, 400);
    assert_string_equal(err.code, "invalid_tag");
  }
  assert_false(tags_parse("", 0, out, &err));
  assert_false(tags_parse(longest, ENTITIES_TAG_MAX + 1, out, &err));
  assert_false(tags_parse("a\0b", 3, out, &err)); /* a NUL inside */
}

/* tags_trends_offer keeps the best TRENDS_MAX: more authors first, ties
 * by the tag's bytes. */
static void trends_rank_by_authors_then_tag(void **state) {
  (void)state;
  trend_t top[TRENDS_MAX];
  size_t n = 0;
  static const struct {
    const char *tag;
    int64_t count;
  } offers[] = {{"m", 1}, {"b", 5}, {"a", 5}, {"z", 9}, {"c", 2},
                {"d", 2}, {"e", 3}, {"f", 1}, {"g", 7}, {"h", 1},
                {"i", 4}, {"j", 1}, {"k", 8}};
  for (size_t i = 0; i < sizeof offers / sizeof offers[0]; i++) {
    tags_trends_offer(top, &n, offers[i].tag, offers[i].count);
  }
  assert_int_equal(n, TRENDS_MAX);
  static const char *const want[TRENDS_MAX] = {"z", "k", "g", "a", "b",
                                               "i", "e", "c", "d", "f"};
  for (size_t i = 0; i < TRENDS_MAX; i++) {
    assert_string_equal(top[i].tag, want[i]);
  }
  assert_int_equal(top[0].count, 9);
  assert_int_equal(top[9].count, 1);
  assert_true(tags_trend_before(&top[3], &top[4])); /* a before b */
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(plain_text_has_none),
      cmocka_unit_test(mentions),
      cmocka_unit_test(emails_and_addresses_are_not_mentions),
      cmocka_unit_test(mention_lengths),
      cmocka_unit_test(hashtags),
      cmocka_unit_test(hashtags_of_digits),
      cmocka_unit_test(hashtags_in_many_scripts),
      cmocka_unit_test(hashtag_lengths),
      cmocka_unit_test(offsets_count_code_points),
      cmocka_unit_test(urls),
      cmocka_unit_test(urls_lose_trailing_punctuation),
      cmocka_unit_test(urls_and_brackets),
      cmocka_unit_test(spans_inside_urls_are_the_url),
      cmocka_unit_test(white_space_ends_spans),
      cmocka_unit_test(max_limits_the_result),
      cmocka_unit_test(a_full_tweet_of_tags),
      cmocka_unit_test(text_is_read_only_within_len),
      cmocka_unit_test(fold_tag),
      cmocka_unit_test(type_names),
      cmocka_unit_test(tags_as_clients_name_them),
      cmocka_unit_test(trends_rank_by_authors_then_tag),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
