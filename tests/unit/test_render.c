/*
 * test_render.c - unit tests for render.h: RFC 3339 times (epoch, known
 * instants, millisecond edges, times before 1970), and the JSON shapes of
 * tweets, users, tweet pages and errors.  Shapes are checked the way a
 * client sees them: each document is printed with render_json, parsed back
 * with bson_new_from_json, and its keys, types and values compared
 * exactly.  Notifications alone and in pages (the WebSocket's
 * "notification" event carries one exactly as the page shows it).
 * Images: a tweet's, in order, with their URLs and escaped alt texts; a
 * profile's avatar and header; an upload's answer; and the fast page
 * printer with avatars and images on both of its paths.
 * Text with quotes, backslashes, control characters, HTML and
 * non-ASCII must survive that round trip byte for byte, and the JSON text
 * must contain no raw control characters and no extended-JSON wrappers.
 *
 * Pure functions: no database.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "server/domain/cursor.h"
#include "server/domain/render.h"

#define EMOJI "\xF0\x9F\x98\x80"

/* ------------------------------------------------------------------ */
/* helpers                                                             */
/* ------------------------------------------------------------------ */

/* Prints doc with render_json and parses the text back.  Also checks the
 * text is plain JSON: no raw control characters, no "$numberLong"-style
 * extended-JSON wrappers.  The caller destroys the result. */
static bson_t *round_trip(const bson_t *doc) {
  size_t len = 0;
  char *json = render_json(doc, &len);
  assert_non_null(json);
  assert_int_equal(len, strlen(json));
  for (size_t i = 0; i < len; i++) {
    assert_true((unsigned char)json[i] >= 0x20);
  }
  static const char *const wrappers[] = {"\"$numberLong\"", "\"$numberInt\"",
                                         "\"$date\"", "\"$oid\"",
                                         "\"$numberDouble\""};
  for (size_t i = 0; i < sizeof wrappers / sizeof wrappers[0]; i++) {
    assert_null(strstr(json, wrappers[i]));
  }
  bson_error_t berr;
  bson_t *back = bson_new_from_json((const uint8_t *)json, (ssize_t)len, &berr);
  if (!back) {
    fail_msg("render_json output does not parse: %s\n%s", berr.message, json);
  }
  bson_free(json);
  return back;
}

/* round_trip(doc), then doc destroyed: for a document made only to be
 * read back.  The caller destroys the result. */
static bson_t *read_back(bson_t *doc) {
  bson_t *back = round_trip(doc);
  bson_destroy(doc);
  return back;
}

/* doc has exactly the n keys given, in any order. */
static void assert_keys(const bson_t *doc, const char *const *keys, size_t n) {
  bson_iter_t it;
  assert_true(bson_iter_init(&it, doc));
  size_t count = 0;
  while (bson_iter_next(&it)) {
    const char *k = bson_iter_key(&it);
    bool known = false;
    for (size_t i = 0; i < n; i++) {
      known |= !strcmp(k, keys[i]);
    }
    if (!known) {
      fail_msg("unexpected key \"%s\"", k);
    }
    count++;
  }
  assert_int_equal(count, n);
  assert_int_equal(bson_count_keys(doc), n);
}

static const char *get_utf8(const bson_t *doc, const char *dotted) {
  bson_iter_t it;
  assert_true(bson_iter_init(&it, doc));
  if (!bson_iter_find_descendant(&it, dotted, &it)) {
    fail_msg("missing key %s", dotted);
  }
  assert_int_equal(bson_iter_type(&it), BSON_TYPE_UTF8);
  return bson_iter_utf8(&it, NULL);
}

static bson_type_t get_type(const bson_t *doc, const char *dotted) {
  bson_iter_t it;
  assert_true(bson_iter_init(&it, doc));
  if (!bson_iter_find_descendant(&it, dotted, &it)) {
    fail_msg("missing key %s", dotted);
  }
  return bson_iter_type(&it);
}

/* The sub-document (or array) at key, copied into *out (caller destroys). */
static void get_doc(const bson_t *doc, const char *dotted, bson_type_t type,
                    bson_t *out) {
  bson_iter_t it;
  assert_true(bson_iter_init(&it, doc));
  if (!bson_iter_find_descendant(&it, dotted, &it)) {
    fail_msg("missing key %s", dotted);
  }
  assert_int_equal(bson_iter_type(&it), type);
  const uint8_t *data;
  uint32_t len;
  if (type == BSON_TYPE_ARRAY) {
    bson_iter_array(&it, &len, &data);
  } else {
    bson_iter_document(&it, &len, &data);
  }
  assert_true(bson_init_static(out, data, len));
}

static void fill_tweet(tweet_t *t, const char *oid_hex, const char *username,
                       const char *display_name, const char *text,
                       int64_t created, int64_t edited) {
  memset(t, 0, sizeof *t);
  bson_oid_init_from_string(&t->id, oid_hex);
  bson_oid_init_from_string(&t->author.id, "0102030405060708090a0b0c");
  bson_strncpy(t->author.username, username, sizeof t->author.username);
  bson_strncpy(t->author.display_name, display_name,
               sizeof t->author.display_name);
  bson_strncpy(t->text, text, sizeof t->text);
  t->created_at_ms = created;
  t->edited_at_ms = edited;
  t->version = 7;
}

/* fill_tweet of alice's tweet 65538a0011223344556677ff. */
static void alice_tweet(tweet_t *t, const char *display_name, const char *text,
                        int64_t created, int64_t edited) {
  fill_tweet(t, "65538a0011223344556677ff", "alice", display_name, text,
             created, edited);
}

/* What a client reads of render_tweet(t) (read_back; caller destroys). */
static bson_t *tweet_seen(const tweet_t *t) {
  bson_t doc = BSON_INITIALIZER;
  render_tweet(&doc, t);
  return read_back(&doc);
}

/* What a client reads of render_tweet_page(page) (caller destroys). */
static bson_t *page_seen(const tweet_page_t *page) {
  bson_t doc = BSON_INITIALIZER;
  render_tweet_page(&doc, page);
  return read_back(&doc);
}

/* Two images: a PNG with an alt text to escape, a GIF without one. */
static media_list_t *two_images(void) {
  media_ref_t refs[2];
  memset(refs, 0, sizeof refs);
  bson_oid_init_from_string(&refs[0].id, "aaaaaaaaaaaaaaaaaaaaaaa1");
  refs[0].type = IMAGE_PNG;
  refs[0].width = 640;
  refs[0].height = 480;
  strcpy(refs[0].color, "#102030");
  refs[0].alt = "a \"cat\" \\ on a mat " EMOJI;
  bson_oid_init_from_string(&refs[1].id, "aaaaaaaaaaaaaaaaaaaaaaa2");
  refs[1].type = IMAGE_GIF;
  refs[1].width = 1;
  refs[1].height = 2048;
  strcpy(refs[1].color, "#ffffff");
  refs[1].alt = NULL;
  return media_list_new(refs, 2);
}

static bool is_lower_hex(const char *s) {
  for (; *s; s++) {
    if (!((*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'f'))) {
      return false;
    }
  }
  return true;
}

/* ------------------------------------------------------------------ */
/* render_time                                                         */
/* ------------------------------------------------------------------ */

static void assert_time(int64_t ms, const char *expected) {
  char buf[RENDER_TIME_LEN + 8];
  memset(buf, 'X', sizeof buf);
  render_time(ms, buf);
  assert_string_equal(buf, expected);
  assert_int_equal(strlen(buf), RENDER_TIME_LEN);
  assert_int_equal(buf[RENDER_TIME_LEN + 1], 'X'); /* no overrun */
}

static void time_of_zero_is_the_epoch(void **state) {
  (void)state;
  assert_time(0, "1970-01-01T00:00:00.000Z");
}

static void time_of_known_instant_has_milliseconds(void **state) {
  (void)state;
  assert_time(1700000000123, "2023-11-14T22:13:20.123Z");
  assert_time(1763702820123, "2025-11-21T05:27:00.123Z");
}

static void time_millisecond_edges(void **state) {
  (void)state;
  assert_time(1, "1970-01-01T00:00:00.001Z");
  assert_time(999, "1970-01-01T00:00:00.999Z");
  assert_time(1000, "1970-01-01T00:00:01.000Z");
  assert_time(86399999, "1970-01-01T23:59:59.999Z");
  assert_time(86400000, "1970-01-02T00:00:00.000Z");
}

static void time_of_calendar_edges(void **state) {
  (void)state;
  assert_time(946684800000, "2000-01-01T00:00:00.000Z");
  assert_time(1709208000000, "2024-02-29T12:00:00.000Z"); /* leap day */
  assert_time(253402300799999, "9999-12-31T23:59:59.999Z");
}

static void time_of_minus_one_is_last_ms_of_1969(void **state) {
  (void)state;
  assert_time(-1, "1969-12-31T23:59:59.999Z");
}

static void time_before_epoch_rounds_toward_minus_infinity(void **state) {
  (void)state;
  assert_time(-999, "1969-12-31T23:59:59.001Z");
  assert_time(-1000, "1969-12-31T23:59:59.000Z");
  assert_time(-1001, "1969-12-31T23:59:58.999Z");
  assert_time(-86400000, "1969-12-31T00:00:00.000Z");
}

static void time_outside_rfc3339_is_clamped(void **state) {
  (void)state;
  assert_time(253402300800000, "9999-12-31T23:59:59.999Z"); /* year 10000 */
  assert_time(INT64_MAX, "9999-12-31T23:59:59.999Z");
  assert_time(-62167219200001, "0000-01-01T00:00:00.000Z"); /* year -1 */
  assert_time(INT64_MIN, "0000-01-01T00:00:00.000Z");
  assert_time(-62167219200000, "0000-01-01T00:00:00.000Z"); /* year 0 */
}

/* The digit-by-digit printer agrees with strftime + snprintf (what it
 * replaced) on a spread of instants from year 0 to 9999. */
static void time_matches_strftime_everywhere(void **state) {
  (void)state;
  uint64_t x = 0x9e3779b97f4a7c15u;
  for (int i = 0; i < 20000; i++) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    int64_t ms = -62167219200000 + (int64_t)(x % 315537897600000u);
    time_t secs = (time_t)(ms / 1000);
    int millis = (int)(ms % 1000);
    if (millis < 0) {
      millis += 1000;
      secs -= 1;
    }
    struct tm tm;
    assert_non_null(gmtime_r(&secs, &tm));
    char expected[64];
    size_t n = strftime(expected, sizeof expected, "%Y-%m-%dT%H:%M:%S", &tm);
    if (tm.tm_year + 1900 < 1000) { /* %Y does not pad years below 1000 */
      n = (size_t)snprintf(expected, sizeof expected,
                           "%04d-%02d-%02dT%02d:%02d:%02d", tm.tm_year + 1900,
                           tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
                           tm.tm_sec);
    }
    snprintf(expected + n, sizeof expected - n, ".%03dZ", millis);
    assert_time(ms, expected);
  }
}

/* ------------------------------------------------------------------ */
/* render_tweet                                                        */
/* ------------------------------------------------------------------ */

static void tweet_has_exactly_the_api_keys(void **state) {
  (void)state;
  tweet_t t;
  alice_tweet(&t, "Alice A.", "hello", 1700000000123, 0);
  bson_t *back = tweet_seen(&t);

  static const char *const keys[] = {
      "id",          "author",        "text",           "created_at",
      "edited_at",   "reply_to",      "reply_count",    "like_count",
      "liked_by_me", "repost_count",  "reposted_by_me", "quote_count",
      "entities",    "quote_of",      "quote",          "reposted_by",
      "reposted_at", "reply_to_user", "media"};
  assert_keys(back, keys, 19);
  assert_int_equal(get_type(back, "reply_to"), BSON_TYPE_NULL);
  assert_int_equal(get_type(back, "liked_by_me"), BSON_TYPE_BOOL);
  bson_t author;
  get_doc(back, "author", BSON_TYPE_DOCUMENT, &author);
  static const char *const akeys[] = {"username", "display_name", "avatar"};
  assert_keys(&author, akeys, 3);
  assert_int_equal(get_type(back, "author.avatar"), BSON_TYPE_NULL);
  bson_t media;
  get_doc(back, "media", BSON_TYPE_ARRAY, &media);
  assert_int_equal(bson_count_keys(&media), 0);

  bson_destroy(back);
}

static void tweet_values_are_exact(void **state) {
  (void)state;
  tweet_t t;
  alice_tweet(&t, "Alice A.", "hello", 1700000000123, 0);
  bson_t *back = tweet_seen(&t);

  const char *id = get_utf8(back, "id");
  assert_int_equal(strlen(id), 24);
  assert_true(is_lower_hex(id));
  assert_string_equal(id, "65538a0011223344556677ff");
  assert_string_equal(get_utf8(back, "author.username"), "alice");
  assert_string_equal(get_utf8(back, "author.display_name"), "Alice A.");
  assert_string_equal(get_utf8(back, "text"), "hello");
  assert_string_equal(get_utf8(back, "created_at"), "2023-11-14T22:13:20.123Z");

  bson_destroy(back);
}

static void tweet_id_is_24_lowercase_hex_for_random_oids(void **state) {
  (void)state;
  for (int i = 0; i < 50; i++) {
    tweet_t t;
    fill_tweet(&t, "000000000000000000000000", "bob", "", "x", 1, 0);
    bson_oid_init(&t.id, NULL);
    char expected[25];
    bson_oid_to_string(&t.id, expected);
    bson_t *back = tweet_seen(&t);
    const char *id = get_utf8(back, "id");
    assert_int_equal(strlen(id), 24);
    assert_true(is_lower_hex(id));
    assert_string_equal(id, expected);
    bson_destroy(back);
  }
}

static void tweet_edited_at_is_null_until_edited(void **state) {
  (void)state;
  tweet_t t;
  alice_tweet(&t, "Alice", "hi", 1700000000123, 0);
  bson_t *back = tweet_seen(&t);
  assert_int_equal(get_type(back, "edited_at"), BSON_TYPE_NULL);
  bson_destroy(back);
  t.edited_at_ms = 1700000060456;
  back = tweet_seen(&t);
  assert_string_equal(get_utf8(back, "edited_at"), "2023-11-14T22:14:20.456Z");
  assert_string_equal(get_utf8(back, "created_at"), "2023-11-14T22:13:20.123Z");
  bson_destroy(back);
}

static void tweet_times_are_strings_not_dates(void **state) {
  (void)state;
  tweet_t t;
  alice_tweet(&t, "Alice", "hi", 1700000000123, 1700000000999);
  bson_t doc = BSON_INITIALIZER;
  render_tweet(&doc, &t);
  /* Before printing too: the BSON itself holds strings. */
  assert_int_equal(get_type(&doc, "created_at"), BSON_TYPE_UTF8);
  assert_int_equal(get_type(&doc, "edited_at"), BSON_TYPE_UTF8);
  assert_int_equal(get_type(&doc, "id"), BSON_TYPE_UTF8);
  bson_destroy(&doc);
}

static void tweet_is_appended_to_existing_fields(void **state) {
  (void)state;
  tweet_t t;
  alice_tweet(&t, "Alice", "hi", 0, 0);
  bson_t doc = BSON_INITIALIZER;
  BSON_APPEND_UTF8(&doc, "server", "a");
  render_tweet(&doc, &t);
  bson_t *back = read_back(&doc);
  static const char *const keys[] = {
      "server",      "id",          "author",        "text",
      "created_at",  "edited_at",   "reply_to",      "reply_count",
      "like_count",  "liked_by_me", "repost_count",  "reposted_by_me",
      "quote_count", "entities",    "quote_of",      "quote",
      "reposted_by", "reposted_at", "reply_to_user", "media"};
  assert_keys(back, keys, 20);
  assert_string_equal(get_utf8(back, "server"), "a");
  assert_string_equal(get_utf8(back, "created_at"), "1970-01-01T00:00:00.000Z");
  bson_destroy(back);
}

static void assert_text_round_trips(const char *text) {
  tweet_t t;
  alice_tweet(&t, text, text, 1700000000123, 0);
  assert_string_equal(t.text, text); /* fits */
  bson_t *back = tweet_seen(&t);
  assert_string_equal(get_utf8(back, "text"), text);
  assert_string_equal(get_utf8(back, "author.display_name"), text);
  bson_destroy(back);
}

static void tweet_text_with_quotes_and_backslashes_round_trips(void **state) {
  (void)state;
  assert_text_round_trips("\"quoted\"");
  assert_text_round_trips("back\\slash");
  assert_text_round_trips("\\\"");
  assert_text_round_trips("\\u0041 is not A");
  assert_text_round_trips("ends with backslash \\");
  assert_text_round_trips("\"");
  assert_text_round_trips("' single '");
  assert_text_round_trips("{\"$where\": \"1\"}");
  assert_text_round_trips("a/b </ c");
}

static void tweet_text_with_newlines_and_controls_round_trips(void **state) {
  (void)state;
  assert_text_round_trips("line1\nline2");
  assert_text_round_trips("\r\n\t\b\f");
  assert_text_round_trips("\x01\x02\x1F");
  assert_text_round_trips("bell\x07 esc\x1B[31m del\x7F");
  assert_text_round_trips("\n");
}

static void tweet_text_with_html_round_trips(void **state) {
  (void)state;
  assert_text_round_trips("<script>alert(\"x\")</script>");
  assert_text_round_trips("</script><img src=x onerror=alert(1)>");
  assert_text_round_trips("&amp; &lt; <b>bold</b>");
}

static void tweet_text_with_non_ascii_round_trips(void **state) {
  (void)state;
  assert_text_round_trips("h\xC3\xA9llo");
  assert_text_round_trips("\xE4\xB8\xAD\xE6\x96\x87");
  assert_text_round_trips(EMOJI " " EMOJI);
  assert_text_round_trips("\xE2\x80\xA8 line sep \xE2\x80\xA9 para sep");
  assert_text_round_trips("\xEF\xBB\xBF BOM \xEF\xBF\xBF");
  assert_text_round_trips("\xF4\x8F\xBF\xBF");
}

static void tweet_of_280_emoji_round_trips(void **state) {
  (void)state;
  char text[UTF8_BYTES(TWEET_TEXT_MAX) + 1];
  for (size_t i = 0; i < TWEET_TEXT_MAX; i++) {
    memcpy(text + i * 4, EMOJI, 4);
  }
  text[UTF8_BYTES(TWEET_TEXT_MAX)] = '\0';
  tweet_t t;
  alice_tweet(&t, "A", text, 1, 0);
  bson_t *back = tweet_seen(&t);
  const char *got = get_utf8(back, "text");
  assert_int_equal(strlen(got), 1120);
  assert_string_equal(got, text);
  bson_destroy(back);
}

static void tweet_with_empty_display_name_renders_empty_string(void **state) {
  (void)state;
  tweet_t t;
  alice_tweet(&t, "", "hi", 1, 0);
  bson_t *back = tweet_seen(&t);
  assert_string_equal(get_utf8(back, "author.display_name"), "");
  bson_destroy(back);
}

/* ------------------------------------------------------------------ */
/* render_tweet_page                                                   */
/* ------------------------------------------------------------------ */

static void page_without_next_has_null_next(void **state) {
  (void)state;
  tweet_t items[2];
  alice_tweet(&items[0], "A", "second", 2000, 0);
  fill_tweet(&items[1], "65538a0011223344556677fe", "bob", "B", "first", 1000,
             1500);
  tweet_page_t page = {.items = items, .n = 2, .has_next = false};
  bson_t *back = page_seen(&page);

  static const char *const keys[] = {"items", "next"};
  assert_keys(back, keys, 2);
  assert_int_equal(get_type(back, "next"), BSON_TYPE_NULL);

  bson_t arr;
  get_doc(back, "items", BSON_TYPE_ARRAY, &arr);
  assert_int_equal(bson_count_keys(&arr), 2);
  assert_string_equal(get_utf8(back, "items.0.id"), "65538a0011223344556677ff");
  assert_string_equal(get_utf8(back, "items.0.text"), "second");
  assert_string_equal(get_utf8(back, "items.0.author.username"), "alice");
  assert_int_equal(get_type(back, "items.0.edited_at"), BSON_TYPE_NULL);
  assert_string_equal(get_utf8(back, "items.1.id"), "65538a0011223344556677fe");
  assert_string_equal(get_utf8(back, "items.1.text"), "first");
  assert_string_equal(get_utf8(back, "items.1.author.username"), "bob");
  assert_string_equal(get_utf8(back, "items.1.edited_at"),
                      "1970-01-01T00:00:01.500Z");

  bson_t item;
  get_doc(back, "items.1", BSON_TYPE_DOCUMENT, &item);
  static const char *const tkeys[] = {
      "id",          "author",        "text",           "created_at",
      "edited_at",   "reply_to",      "reply_count",    "like_count",
      "liked_by_me", "repost_count",  "reposted_by_me", "quote_count",
      "entities",    "quote_of",      "quote",          "reposted_by",
      "reposted_at", "reply_to_user", "media"};
  assert_keys(&item, tkeys, 19);

  bson_destroy(back);
}

static void page_with_next_has_decodable_cursor(void **state) {
  (void)state;
  tweet_t items[1];
  alice_tweet(&items[0], "A", "t", 1700000000123, 0);
  tweet_page_t page = {.items = items, .n = 1, .has_next = true};
  page.next.ts_ms = 1700000000123;
  bson_oid_init_from_string(&page.next.id, "65538a0011223344556677ff");

  bson_t *back = page_seen(&page);

  const char *next = get_utf8(back, "next");
  assert_int_equal(strlen(next), PAGE_CURSOR_LEN);
  assert_string_equal(next, "AAABi8_laHtlU4oAESIzRFVmd_8");
  page_cursor_t c;
  assert_true(page_cursor_decode(next, &c));
  assert_true(c.ts_ms == page.next.ts_ms);
  assert_memory_equal(c.id.bytes, page.next.id.bytes, 12);

  bson_destroy(back);
}

static void page_next_round_trips_for_random_cursors(void **state) {
  (void)state;
  for (int i = 0; i < 50; i++) {
    tweet_page_t page = {.items = NULL, .n = 0, .has_next = true};
    page.next.ts_ms = 1700000000000 + i * 104729;
    bson_oid_init(&page.next.id, NULL);
    bson_t *back = page_seen(&page);
    page_cursor_t c;
    assert_true(page_cursor_decode(get_utf8(back, "next"), &c));
    assert_true(c.ts_ms == page.next.ts_ms);
    assert_memory_equal(c.id.bytes, page.next.id.bytes, 12);
    bson_destroy(back);
  }
}

static void empty_page_has_empty_items_array(void **state) {
  (void)state;
  tweet_page_t page = {.items = NULL, .n = 0, .has_next = false};
  bson_t *back = page_seen(&page);
  static const char *const keys[] = {"items", "next"};
  assert_keys(back, keys, 2);
  bson_t arr;
  get_doc(back, "items", BSON_TYPE_ARRAY, &arr);
  assert_int_equal(bson_count_keys(&arr), 0);
  assert_int_equal(get_type(back, "next"), BSON_TYPE_NULL);
  bson_destroy(back);
}

static void page_items_keep_order_and_array_indexes(void **state) {
  (void)state;
  enum { N = 12 }; /* more than 10: two-digit array keys */
  tweet_t *items = calloc(N, sizeof *items);
  assert_non_null(items);
  for (int i = 0; i < N; i++) {
    char text[32];
    snprintf(text, sizeof text, "tweet %d", i);
    alice_tweet(&items[i], "A", text, (int64_t)(N - i) * 1000, 0);
  }
  tweet_page_t page = {.items = items, .n = N, .has_next = false};
  bson_t *back = page_seen(&page);

  bson_t arr;
  get_doc(back, "items", BSON_TYPE_ARRAY, &arr);
  bson_iter_t it;
  assert_true(bson_iter_init(&it, &arr));
  int i = 0;
  while (bson_iter_next(&it)) {
    char key[16], text[32];
    snprintf(key, sizeof key, "%d", i);
    snprintf(text, sizeof text, "tweet %d", i);
    assert_string_equal(bson_iter_key(&it), key);
    bson_iter_t child;
    assert_true(bson_iter_recurse(&it, &child));
    assert_true(bson_iter_find(&child, "text"));
    assert_string_equal(bson_iter_utf8(&child, NULL), text);
    i++;
  }
  assert_int_equal(i, N);

  bson_destroy(back);
  free(items);
}

/* ------------------------------------------------------------------ */
/* render_error                                                        */
/* ------------------------------------------------------------------ */

/* What a client reads of render_error for the error (status, code,
 * message), or for a cleared one when code is NULL (caller destroys). */
static bson_t *error_seen(int status, const char *code, const char *message) {
  chorus_error_t err;
  chorus_error_clear(&err);
  if (code) {
    chorus_error_set(&err, status, code, "%s", message);
  }
  bson_t doc = BSON_INITIALIZER;
  render_error(&doc, &err);
  return read_back(&doc);
}

static void error_has_code_and_message_only(void **state) {
  (void)state;
  bson_t *back = error_seen(404, "not_found", "No tweet abc");

  static const char *const keys[] = {"error"};
  assert_keys(back, keys, 1);
  bson_t e;
  get_doc(back, "error", BSON_TYPE_DOCUMENT, &e);
  static const char *const ekeys[] = {"code", "message"};
  assert_keys(&e, ekeys, 2);
  assert_string_equal(get_utf8(back, "error.code"), "not_found");
  assert_string_equal(get_utf8(back, "error.message"), "No tweet abc");

  bson_destroy(back);
}

static void error_does_not_render_status(void **state) {
  (void)state;
  chorus_error_t err;
  chorus_error_clear(&err);
  chorus_error_set(&err, 400, "too_long", "text must be at most 280");
  bson_t doc = BSON_INITIALIZER;
  render_error(&doc, &err);
  bson_iter_t it;
  assert_true(bson_iter_init(&it, &doc));
  assert_false(bson_iter_find_descendant(&it, "error.status", &it));
  bson_destroy(&doc);
}

static void error_message_with_special_chars_round_trips(void **state) {
  (void)state;
  bson_t *back =
      error_seen(400, "bad", "\"q\" \\ \n <script> h\xC3\xA9 " EMOJI);
  assert_string_equal(get_utf8(back, "error.message"),
                      "\"q\" \\ \n <script> h\xC3\xA9 " EMOJI);
  bson_destroy(back);
}

static void error_unset_renders_internal(void **state) {
  (void)state;
  bson_t *back = error_seen(0, NULL, NULL);
  assert_string_equal(get_utf8(back, "error.code"), "internal");
  assert_string_equal(get_utf8(back, "error.message"), "Internal error");
  bson_destroy(back);
}

/* ------------------------------------------------------------------ */
/* render_user                                                         */
/* ------------------------------------------------------------------ */

static void user_has_exactly_public_keys(void **state) {
  (void)state;
  user_t u;
  memset(&u, 0, sizeof u);
  bson_oid_init_from_string(&u.id, "0102030405060708090a0b0c");
  strcpy(u.username, "Alice_1");
  strcpy(u.display_name, "Alice \"the\" first");
  strcpy(u.bio, "line1\nline2 <b>hi</b> h\xC3\xA9");
  u.created_at_ms = 1700000000123;
  u.followers_count = 5;
  u.following_count = 6;
  u.tweet_count = 7;

  bson_t doc = BSON_INITIALIZER;
  render_user(&doc, &u);
  bson_t *back = read_back(&doc);

  static const char *const keys[] = {"username",   "display_name", "bio",
                                     "created_at", "avatar",       "header"};
  assert_keys(back, keys, 6);
  assert_int_equal(get_type(back, "avatar"), BSON_TYPE_NULL);
  assert_int_equal(get_type(back, "header"), BSON_TYPE_NULL);
  assert_string_equal(get_utf8(back, "username"), "Alice_1");
  assert_string_equal(get_utf8(back, "display_name"), "Alice \"the\" first");
  assert_string_equal(get_utf8(back, "bio"),
                      "line1\nline2 <b>hi</b> h\xC3\xA9");
  assert_string_equal(get_utf8(back, "created_at"), "2023-11-14T22:13:20.123Z");

  bson_destroy(back);
}

static void user_with_empty_bio_renders_empty_strings(void **state) {
  (void)state;
  user_t u;
  memset(&u, 0, sizeof u);
  strcpy(u.username, "bob");
  bson_t doc = BSON_INITIALIZER;
  render_user(&doc, &u);
  bson_t *back = read_back(&doc);
  assert_string_equal(get_utf8(back, "username"), "bob");
  assert_string_equal(get_utf8(back, "display_name"), "");
  assert_string_equal(get_utf8(back, "bio"), "");
  assert_string_equal(get_utf8(back, "created_at"), "1970-01-01T00:00:00.000Z");
  bson_destroy(back);
}

/* ------------------------------------------------------------------ */
/* render_json                                                         */
/* ------------------------------------------------------------------ */

static void json_len_matches_text_and_may_be_null(void **state) {
  (void)state;
  bson_t doc = BSON_INITIALIZER;
  BSON_APPEND_UTF8(&doc, "a", "b");
  size_t len = 0;
  char *json = render_json(&doc, &len);
  assert_non_null(json);
  assert_int_equal(len, strlen(json));
  assert_non_null(strstr(json, "\"a\""));
  assert_non_null(strstr(json, "\"b\""));
  bson_free(json);
  json = render_json(&doc, NULL);
  assert_non_null(json);
  bson_free(json);
  bson_destroy(&doc);
}

static void json_of_int64_is_a_plain_number(void **state) {
  (void)state;
  bson_t doc = BSON_INITIALIZER;
  BSON_APPEND_INT64(&doc, "n", 1700000000123);
  BSON_APPEND_BOOL(&doc, "b", true);
  bson_t *back = read_back(&doc); /* checks there is no "$numberLong" */
  bson_iter_t it;
  assert_true(bson_iter_init_find(&it, back, "n"));
  assert_true(bson_iter_as_int64(&it) == 1700000000123);
  assert_true(bson_iter_init_find(&it, back, "b"));
  assert_int_equal(bson_iter_type(&it), BSON_TYPE_BOOL);
  assert_true(bson_iter_bool(&it));
  bson_destroy(back);
}

/* render_tweet_page_json must print exactly what render_json prints for
 * render_tweet_page: every tweet field, both null forms, the cursor, and
 * text with every ASCII byte, quotes, backslashes and multi-byte UTF-8. */
static void assert_fast_page_json_matches(const tweet_page_t *page) {
  bson_t doc = BSON_INITIALIZER;
  render_tweet_page(&doc, page);
  size_t slow_len, fast_len;
  char *slow = render_json(&doc, &slow_len);
  char *fast = render_tweet_page_json(page, &fast_len);
  assert_string_equal(fast, slow);
  assert_int_equal(fast_len, slow_len);
  bson_free(slow);
  bson_free(fast);
  bson_destroy(&doc);
}

static void fast_tweet_page_json_is_byte_identical(void **state) {
  (void)state;
  tweet_page_t page;
  memset(&page, 0, sizeof page);
  assert_fast_page_json_matches(&page); /* empty, no next */

  enum { N = 6 };
  tweet_t items[N];
  memset(items, 0, sizeof items);
  static const char *texts[N] = {
      "plain words",
      "quote \" backslash \\ slash / tab \t nl \n cr \r ff \f bs \b",
      "caf\xc3\xa9 \xf0\x9f\x8e\xb6 \xe2\x80\xa8 line sep \xe2\x80\xa9",
      "<script>alert('x')</script> & \x7f del",
      "",
      "x",
  };
  for (int i = 0; i < N; i++) {
    bson_oid_init_from_string(&items[i].id, "6b01735d000240e7fc00ae7d");
    items[i].id.bytes[11] = (uint8_t)i;
    bson_oid_init_from_string(&items[i].author.id, "6b01735d000240e7fc00ae00");
    snprintf(items[i].author.username, sizeof items[i].author.username,
             "user_%d", i);
    snprintf(items[i].author.display_name, sizeof items[i].author.display_name,
             "Name \"%d\" \xc3\xa9", i);
    bson_strncpy(items[i].text, texts[i], sizeof items[i].text);
    items[i].created_at_ms = 1763700000123LL - i * 1000;
    items[i].edited_at_ms = i % 2 ? 1763700009999LL : 0;
    items[i].has_reply_to = i % 3 == 0;
    items[i].reply_to = items[0].id;
    items[i].reply_count = i * 7;
    items[i].like_count = i == 5 ? INT64_MAX : i;
    items[i].liked_by_me = i % 2 == 0;
    items[i].repost_count = i * 3;
    items[i].quote_count = i;
    items[i].reposted_by_me = i % 3 == 1;
  }
  /* Entities, a quote (available and not), a repost: the spliced path. */
  bson_strncpy(items[0].text, "@bob #Tag https://x.org/\"a",
               sizeof items[0].text);
  entity_t spans[3];
  size_t n_spans =
      entities_parse(items[0].text, strlen(items[0].text), spans, 3);
  assert_int_equal(n_spans, 3);
  for (size_t k = 0; k < n_spans; k++) {
    items[0].entities[k].span = spans[k];
  }
  items[0].n_entities = n_spans;
  bson_strncpy(items[0].entities[0].username, "Bob",
               sizeof items[0].entities[0].username);
  items[1].has_quote_of = true;
  items[1].quote.id = items[2].id;
  items[1].quote.available = true;
  items[1].quote.author = items[2].author;
  bson_strncpy(items[1].quote.text, "quoted \"text\"",
               sizeof items[1].quote.text);
  items[1].quote.created_at_ms = 1763700000000LL;
  items[3].has_quote_of = true;
  items[3].quote.id = items[2].id; /* deleted: unavailable */
  items[5].is_repost = true;
  items[5].reposted_by = items[1].author;
  items[5].reposted_at_ms = 1763700000777LL;
  /* A reply showing its parent's author (3); one whose parent was
   * deleted (0: none). */
  items[3].has_reply_to_user = true;
  items[3].reply_to_user = items[0].author;
  /* Every byte from 1 to 127 in one text. */
  for (int b = 1; b < 128; b++) {
    items[4].text[b - 1] = (char)b;
  }
  items[4].text[127] = '\0';
  /* An author with an avatar on the plain path (2) and on the spliced
   * one (quoted by 1), images with an alt text to escape (3). */
  items[2].author.has_avatar = true;
  bson_oid_init_from_string(&items[2].author.avatar,
                            "0f0e0d0c0b0a090807060504");
  items[1].quote.author = items[2].author;
  items[3].media = two_images();
  page.items = items;
  page.n = N;
  assert_fast_page_json_matches(&page);
  page.has_next = true;
  page.next.ts_ms = items[N - 1].created_at_ms;
  page.next.id = items[N - 1].id;
  assert_fast_page_json_matches(&page);
  page.n = 1;
  assert_fast_page_json_matches(&page);
  media_list_free(items[3].media);
}

/* ------------------------------------------------------------------ */
/* images                                                              */
/* ------------------------------------------------------------------ */

static void tweet_images_render_in_order_with_urls(void **state) {
  (void)state;
  tweet_t t;
  alice_tweet(&t, "Alice A.", "", 1700000000123, 0);
  t.media = two_images();
  bson_t *back = tweet_seen(&t);
  tweet_release(&t);
  assert_null(t.media);
  bson_t media, item;
  get_doc(back, "media", BSON_TYPE_ARRAY, &media);
  assert_int_equal(bson_count_keys(&media), 2);
  get_doc(back, "media.0", BSON_TYPE_DOCUMENT, &item);
  static const char *const keys[] = {"id",  "type",  "width", "height",
                                     "alt", "color", "url",   "thumb_url"};
  assert_keys(&item, keys, 8);
  assert_string_equal(get_utf8(back, "media.0.id"), "aaaaaaaaaaaaaaaaaaaaaaa1");
  assert_string_equal(get_utf8(back, "media.0.type"), "image/png");
  assert_string_equal(get_utf8(back, "media.0.alt"),
                      "a \"cat\" \\ on a mat " EMOJI);
  assert_string_equal(get_utf8(back, "media.0.color"), "#102030");
  assert_string_equal(get_utf8(back, "media.0.url"),
                      "/media/aaaaaaaaaaaaaaaaaaaaaaa1/original");
  assert_string_equal(get_utf8(back, "media.0.thumb_url"),
                      "/media/aaaaaaaaaaaaaaaaaaaaaaa1/thumb");
  assert_int_equal(get_type(back, "media.0.width"), BSON_TYPE_INT32);
  assert_string_equal(get_utf8(back, "media.1.id"), "aaaaaaaaaaaaaaaaaaaaaaa2");
  assert_string_equal(get_utf8(back, "media.1.type"), "image/gif");
  assert_string_equal(get_utf8(back, "media.1.alt"), "");
  bson_destroy(back);
}

static void user_images_render_their_urls(void **state) {
  (void)state;
  user_t u;
  memset(&u, 0, sizeof u);
  strcpy(u.username, "alice");
  u.has_avatar = true;
  bson_oid_init_from_string(&u.avatar, "bbbbbbbbbbbbbbbbbbbbbbb1");
  bson_t doc = BSON_INITIALIZER;
  render_profile(&doc, &u, false);
  bson_t *back = read_back(&doc);
  bson_t avatar;
  get_doc(back, "avatar", BSON_TYPE_DOCUMENT, &avatar);
  static const char *const keys[] = {"id", "url", "thumb_url"};
  assert_keys(&avatar, keys, 3);
  assert_string_equal(get_utf8(back, "avatar.url"),
                      "/media/bbbbbbbbbbbbbbbbbbbbbbb1/original");
  assert_string_equal(get_utf8(back, "avatar.thumb_url"),
                      "/media/bbbbbbbbbbbbbbbbbbbbbbb1/thumb");
  assert_int_equal(get_type(back, "header"), BSON_TYPE_NULL);
  bson_destroy(back);
}

static void media_answer_has_exactly_its_keys(void **state) {
  (void)state;
  media_info_t *m = calloc(1, sizeof *m);
  assert_non_null(m);
  bson_oid_init_from_string(&m->id, "ccccccccccccccccccccccc1");
  m->type = IMAGE_WEBP;
  m->width = 2048;
  m->height = 1024;
  m->thumb_width = 400;
  m->thumb_height = 200;
  strcpy(m->color, "#abcdef");
  strcpy(m->alt, "alt");
  m->bytes = 12345;
  bson_t doc = BSON_INITIALIZER;
  render_media(&doc, m);
  bson_t *back = read_back(&doc);
  static const char *const keys[] = {
      "id",  "type",      "width",       "height",       "alt",  "color",
      "url", "thumb_url", "thumb_width", "thumb_height", "bytes"};
  assert_keys(back, keys, 11);
  assert_string_equal(get_utf8(back, "type"), "image/webp");
  assert_string_equal(get_utf8(back, "thumb_url"),
                      "/media/ccccccccccccccccccccccc1/thumb");
  bson_destroy(back);
  free(m);
}

/* Pages whose text needs far more than the printer's first guess (512
 * bytes a tweet): the longest texts, every character escaped to six
 * bytes (\u0001) or a four-byte code point, 1 to 50 items, so the buffer
 * grows once, several times, or not at all. */
static void fast_tweet_page_json_grows_for_long_text(void **state) {
  (void)state;
  enum { N = 50 };
  tweet_t *items = calloc(N, sizeof *items);
  assert_non_null(items);
  for (int i = 0; i < N; i++) {
    bson_oid_init_from_string(&items[i].id, "6b01735d000240e7fc00ae7d");
    items[i].id.bytes[10] = (uint8_t)i;
    snprintf(items[i].author.username, sizeof items[i].author.username, "u%d",
             i);
    snprintf(items[i].author.display_name, sizeof items[i].author.display_name,
             "\x01\x02 %d", i);
    size_t cap = sizeof items[i].text - 1, n = 0;
    if (i % 2 == 0) { /* control bytes: six bytes each once escaped */
      while (n < TWEET_TEXT_MAX && n < cap) {
        items[i].text[n] = (char)(1 + (n + (size_t)i) % 31);
        n++;
      }
    } else { /* four-byte code points, as many as fit */
      while (n + 4 <= cap && n / 4 < TWEET_TEXT_MAX) {
        memcpy(items[i].text + n, "\xf0\x9f\x8e\xb6", 4);
        n += 4;
      }
    }
    items[i].text[n] = '\0';
    items[i].created_at_ms = 1763700000123LL - i;
    items[i].like_count = -i; /* negative counts print as libbson does */
  }
  tweet_page_t page;
  memset(&page, 0, sizeof page);
  page.items = items;
  for (size_t n = 1; n <= N; n += 7) {
    page.n = n;
    assert_fast_page_json_matches(&page);
  }
  page.n = N;
  page.has_next = true;
  assert_fast_page_json_matches(&page);
  free(items);
}

/* ------------------------------------------------------------------ */
/* notifications                                                       */
/* ------------------------------------------------------------------ */

static notification_t sample_notification(bool with_tweet) {
  notification_t n;
  memset(&n, 0, sizeof n);
  bson_oid_init_from_string(&n.id, "65a0000000000000000000a1");
  n.type = with_tweet ? NOTIFY_REPLY : NOTIFY_FOLLOW;
  bson_oid_init_from_string(&n.actor.id, "65a0000000000000000000b2");
  bson_strncpy(n.actor.username, "alice", sizeof n.actor.username);
  bson_strncpy(n.actor.display_name, "Alice \"A\" " EMOJI,
               sizeof n.actor.display_name);
  n.has_tweet = with_tweet;
  if (with_tweet) {
    bson_oid_init_from_string(&n.tweet, "65a0000000000000000000c3");
  }
  n.created_at_ms = 1700000000123;
  n.read = with_tweet;
  return n;
}

static void notification_has_exactly_the_api_keys(void **state) {
  (void)state;
  for (int with_tweet = 0; with_tweet < 2; with_tweet++) {
    notification_t n = sample_notification(with_tweet);
    bson_t doc = BSON_INITIALIZER;
    render_notification(&doc, &n);
    bson_t *back = read_back(&doc);
    const char *keys[] = {"id", "type", "actor", "tweet", "created_at", "read"};
    assert_keys(back, keys, 6);
    assert_string_equal(get_utf8(back, "id"), "65a0000000000000000000a1");
    assert_string_equal(get_utf8(back, "type"),
                        with_tweet ? "reply" : "follow");
    assert_string_equal(get_utf8(back, "actor.username"), "alice");
    assert_string_equal(get_utf8(back, "actor.display_name"),
                        "Alice \"A\" " EMOJI);
    if (with_tweet) {
      assert_string_equal(get_utf8(back, "tweet"), "65a0000000000000000000c3");
    } else {
      assert_int_equal(get_type(back, "tweet"), BSON_TYPE_NULL);
    }
    assert_string_equal(get_utf8(back, "created_at"),
                        "2023-11-14T22:13:20.123Z");
    assert_int_equal(get_type(back, "read"), BSON_TYPE_BOOL);
    bson_destroy(back);
  }
}

static void notification_page_items_are_the_notification(void **state) {
  (void)state;
  notification_t items[2] = {sample_notification(true),
                             sample_notification(false)};
  notification_page_t page;
  memset(&page, 0, sizeof page);
  page.items = items;
  page.n = 2;
  page.unread = 5;
  bson_t doc = BSON_INITIALIZER;
  render_notification_page(&doc, &page);
  bson_t *back = round_trip(&doc);
  const char *keys[] = {"items", "next", "unread"};
  assert_keys(back, keys, 3);
  assert_int_equal(get_type(back, "next"), BSON_TYPE_NULL);
  assert_int_equal(get_type(&doc, "unread"), BSON_TYPE_INT64);
  for (size_t i = 0; i < 2; i++) {
    char key[16];
    snprintf(key, sizeof key, "items.%zu", i);
    bson_t item, alone = BSON_INITIALIZER;
    get_doc(&doc, key, BSON_TYPE_DOCUMENT, &item);
    render_notification(&alone, &items[i]);
    assert_true(bson_equal(&item, &alone)); /* byte for byte */
    bson_destroy(&alone);
  }
  bson_destroy(back);
  bson_destroy(&doc);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(time_of_zero_is_the_epoch),
      cmocka_unit_test(time_of_known_instant_has_milliseconds),
      cmocka_unit_test(time_millisecond_edges),
      cmocka_unit_test(time_of_calendar_edges),
      cmocka_unit_test(time_of_minus_one_is_last_ms_of_1969),
      cmocka_unit_test(time_before_epoch_rounds_toward_minus_infinity),
      cmocka_unit_test(time_outside_rfc3339_is_clamped),
      cmocka_unit_test(time_matches_strftime_everywhere),
      cmocka_unit_test(fast_tweet_page_json_grows_for_long_text),
      cmocka_unit_test(tweet_has_exactly_the_api_keys),
      cmocka_unit_test(tweet_values_are_exact),
      cmocka_unit_test(tweet_id_is_24_lowercase_hex_for_random_oids),
      cmocka_unit_test(tweet_edited_at_is_null_until_edited),
      cmocka_unit_test(tweet_times_are_strings_not_dates),
      cmocka_unit_test(tweet_is_appended_to_existing_fields),
      cmocka_unit_test(tweet_text_with_quotes_and_backslashes_round_trips),
      cmocka_unit_test(tweet_text_with_newlines_and_controls_round_trips),
      cmocka_unit_test(tweet_text_with_html_round_trips),
      cmocka_unit_test(tweet_text_with_non_ascii_round_trips),
      cmocka_unit_test(tweet_of_280_emoji_round_trips),
      cmocka_unit_test(tweet_with_empty_display_name_renders_empty_string),
      cmocka_unit_test(page_without_next_has_null_next),
      cmocka_unit_test(page_with_next_has_decodable_cursor),
      cmocka_unit_test(page_next_round_trips_for_random_cursors),
      cmocka_unit_test(empty_page_has_empty_items_array),
      cmocka_unit_test(page_items_keep_order_and_array_indexes),
      cmocka_unit_test(error_has_code_and_message_only),
      cmocka_unit_test(error_does_not_render_status),
      cmocka_unit_test(error_message_with_special_chars_round_trips),
      cmocka_unit_test(error_unset_renders_internal),
      cmocka_unit_test(user_has_exactly_public_keys),
      cmocka_unit_test(user_with_empty_bio_renders_empty_strings),
      cmocka_unit_test(json_len_matches_text_and_may_be_null),
      cmocka_unit_test(json_of_int64_is_a_plain_number),
      cmocka_unit_test(fast_tweet_page_json_is_byte_identical),
      cmocka_unit_test(tweet_images_render_in_order_with_urls),
      cmocka_unit_test(user_images_render_their_urls),
      cmocka_unit_test(media_answer_has_exactly_its_keys),
      cmocka_unit_test(notification_has_exactly_the_api_keys),
      cmocka_unit_test(notification_page_items_are_the_notification),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
