/*
 * test_api_tweet.c - the original tweet API against a real server and
 * database: create, list (order, pagination, cursors under concurrent
 * inserts), edit (author only), and text validation in code points.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/client/testclient.h"

/* JSON body {"text": text} with proper escaping. */
static char *text_body(const char *text, size_t len) {
  bson_t doc = BSON_INITIALIZER;
  bson_append_utf8(&doc, "text", 4, text, (int)len);
  char *json = bson_as_relaxed_extended_json(&doc, NULL);
  bson_destroy(&doc);
  return json;
}

static void test_create_requires_login(void **state) {
  (void)state;
  tc_client_t *c = tc_client_new(tc_url_a());
  tc_expect_error(c, "POST", "/api/tweet", "{\"text\":\"hello\"}", 401,
                  "not_logged_in");
  tc_client_destroy(c);
}

static void test_create_returns_tweet(void **state) {
  (void)state;
  char name[31];
  tc_client_t *c = tc_new_user(tc_url_a(), "tw", name);
  const char *text = "h\xc3\xa9llo <b>w\xc3\xb6rld</b> \"quoted\" \\ \n"
                     "second line \xf0\x9f\x8e\xb5 {\"$gt\":1}";
  char *body = text_body(text, strlen(text));
  tc_response_t r;
  tc_send(c, "POST", "/api/tweet", body, &r);
  tc_assert_status(&r, 201);
  assert_int_equal(strlen(tc_json_str(&r, "id")), 24);
  assert_string_equal(tc_json_str(&r, "text"), text);
  assert_string_equal(tc_json_str(&r, "author.username"), name);
  assert_string_equal(tc_json_str(&r, "author.display_name"), name);
  assert_true(tc_is_rfc3339(tc_json_str(&r, "created_at")));
  assert_true(tc_json_is_null(&r, "edited_at"));
  /* New: no counts, not liked or reposted by its author. */
  assert_int_equal(tc_json_int(&r, "like_count"), 0);
  assert_int_equal(tc_json_int(&r, "reply_count"), 0);
  assert_int_equal(tc_json_int(&r, "repost_count"), 0);
  assert_false(tc_json_bool(&r, "liked_by_me"));
  assert_false(tc_json_bool(&r, "reposted_by_me"));
  char id[25];
  strcpy(id, tc_json_str(&r, "id"));
  tc_response_free(&r);
  bson_free(body);

  /* It is at the head of the timeline, stored exactly as sent. */
  tc_get_ok(c, "/api/tweet?limit=5", &r);
  int i = tc_item_index(&r, id);
  assert_true(i >= 0);
  assert_string_equal(tc_item_str(&r, i, "text"), text);
  tc_response_free(&r);
  tc_client_destroy(c);
}

static void test_text_length_in_code_points(void **state) {
  (void)state;
  char name[31];
  tc_client_t *c = tc_new_user(tc_url_a(), "tw", name);
  const char *note = "\xf0\x9f\x8e\xb5"; /* one code point, four bytes */
  char text[281 * 4 + 1];
  for (int i = 0; i < 281; i++) {
    memcpy(text + i * 4, note, 4);
  }
  tc_response_t r;
  char *body = text_body(text, 280 * 4);
  tc_send(c, "POST", "/api/tweet", body, &r);
  tc_assert_status(&r, 201); /* 280 code points, 1120 bytes */
  tc_response_free(&r);
  bson_free(body);

  body = text_body(text, 281 * 4);
  tc_expect_error(c, "POST", "/api/tweet", body, 400, "too_long");
  bson_free(body);

  char ascii[282];
  memset(ascii, 'a', 281);
  ascii[281] = '\0';
  body = text_body(ascii, 280);
  tc_expect_status(c, "POST", "/api/tweet", body, 201);
  bson_free(body);
  body = text_body(ascii, 281);
  tc_expect_error(c, "POST", "/api/tweet", body, 400, "too_long");
  bson_free(body);
  tc_client_destroy(c);
}

static void test_text_must_be_real_text(void **state) {
  (void)state;
  char name[31];
  tc_client_t *c = tc_new_user(tc_url_a(), "tw", name);
  static const struct {
    const char *body;
    int status;
    const char *code;
  } cases[] = {
      {"{\"text\":\"\"}", 400, "empty"},
      {"{\"text\":\"   \\n\\t \"}", 400, "empty"},
      {"{\"text\":\"nul \\u0000 inside\"}", 400, "invalid_utf8"},
      {"{\"text\":\"bad \xff byte\"}", 400, NULL}, /* invalid JSON/UTF-8 */
      {"{\"text\":\"overlong \xc0\xaf\"}", 400, NULL},
      {"{\"text\":42}", 400, "invalid_type"},
      {"{\"text\":{\"$gt\":\"\"}}", 400, "invalid_type"},
      {"{\"text\":[\"a\"]}", 400, "invalid_type"},
      {"{\"text\":null}", 400, "invalid_type"},
      {"{\"txt\":\"typo\"}", 400, "missing_field"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    tc_response_t r;
    tc_send(c, "POST", "/api/tweet", cases[i].body, &r);
    if (cases[i].code) {
      tc_assert_error(&r, cases[i].status, cases[i].code);
    } else {
      tc_assert_status(&r, cases[i].status);
      assert_non_null(tc_json_str(&r, "error.code"));
    }
    tc_response_free(&r);
  }
  tc_client_destroy(c);
}

/* Collects up to max ids of the whole timeline, walking pages of `limit`,
 * and checks every page's order.  Returns the count. */
static int walk_timeline(tc_client_t *c, int limit, char (*ids)[25], int max) {
  char path[128], cursor[64] = "", prev_time[32] = "";
  int n = 0;
  for (;;) {
    tc_response_t r;
    if (cursor[0]) {
      snprintf(path, sizeof path, "/api/tweet?limit=%d&before=%s", limit,
               cursor);
    } else {
      snprintf(path, sizeof path, "/api/tweet?limit=%d", limit);
    }
    tc_get_ok(c, path, &r);
    int len = tc_json_array_len(&r, "items");
    assert_true(len >= 0 && len <= limit);
    for (int i = 0; i < len && n < max; i++) {
      strcpy(ids[n], tc_item_str(&r, i, "id"));
      const char *t = tc_item_str(&r, i, "created_at");
      /* RFC 3339 with fixed width compares as text. */
      if (prev_time[0]) {
        assert_true(strcmp(t, prev_time) <= 0);
      }
      strcpy(prev_time, t);
      n++;
    }
    bool more = !tc_json_is_null(&r, "next");
    if (more) {
      assert_int_equal(len, limit);
      strcpy(cursor, tc_json_str(&r, "next"));
    }
    tc_response_free(&r);
    if (!more || n >= max) {
      return n;
    }
  }
}

static void test_pagination_has_no_duplicates_or_gaps(void **state) {
  (void)state;
  char name[31];
  tc_client_t *c = tc_new_user(tc_url_a(), "tw", name);
  char mine[7][25];
  for (int i = 0; i < 7; i++) {
    char text[32];
    snprintf(text, sizeof text, "page test %d", i);
    tc_post_tweet(c, text, mine[i]);
  }
  enum { MAX = 5000 };
  char(*ids)[25] = calloc(MAX, 25);
  int n = walk_timeline(c, 3, ids, MAX);
  /* No duplicates anywhere. */
  for (int i = 0; i < n; i++) {
    for (int j = i + 1; j < n; j++) {
      assert_string_not_equal(ids[i], ids[j]);
    }
  }
  /* Mine are all there, newest first. */
  int pos[7];
  for (int k = 0; k < 7; k++) {
    pos[k] = -1;
    for (int i = 0; i < n; i++) {
      if (!strcmp(ids[i], mine[k])) {
        pos[k] = i;
      }
    }
    assert_true(pos[k] >= 0);
  }
  for (int k = 1; k < 7; k++) {
    assert_true(pos[k] < pos[k - 1]);
  }
  free(ids);
  tc_client_destroy(c);
}

static void test_cursor_is_stable_under_inserts(void **state) {
  (void)state;
  char name[31];
  tc_client_t *c = tc_new_user(tc_url_a(), "tw", name);
  char old[6][25], fresh[4][25];
  for (int i = 0; i < 6; i++) {
    tc_post_tweet(c, "before the page", old[i]);
  }
  tc_response_t first;
  tc_get_ok(c, "/api/tweet?limit=3", &first);
  assert_string_equal(tc_json_str(&first, "items.0.id"), old[5]);
  assert_string_equal(tc_json_str(&first, "items.2.id"), old[3]);
  char cursor[64];
  strcpy(cursor, tc_json_str(&first, "next"));
  tc_response_free(&first);

  /* New tweets arrive on both servers between the two pages. */
  char other_name[31];
  tc_client_t *other = tc_new_user(tc_url_b(), "tw", other_name);
  for (int i = 0; i < 4; i++) {
    tc_post_tweet(i % 2 ? c : other, "arrived later", fresh[i]);
  }
  char path[128];
  snprintf(path, sizeof path, "/api/tweet?limit=3&before=%s", cursor);
  tc_response_t second;
  tc_get_ok(c, path, &second);
  assert_int_equal(tc_json_array_len(&second, "items"), 3);
  assert_string_equal(tc_json_str(&second, "items.0.id"), old[2]);
  assert_string_equal(tc_json_str(&second, "items.1.id"), old[1]);
  assert_string_equal(tc_json_str(&second, "items.2.id"), old[0]);
  tc_response_free(&second);

  /* And the fresh ones lead a new first page. */
  tc_get_ok(c, "/api/tweet?limit=4", &first);
  for (int i = 0; i < 4; i++) {
    assert_string_equal(tc_item_str(&first, i, "id"), fresh[3 - i]);
  }
  tc_response_free(&first);
  tc_client_destroy(other);
  tc_client_destroy(c);
}

static void test_limit_and_cursor_validation(void **state) {
  (void)state;
  tc_client_t *c = tc_client_new(tc_url_a());
  static const char *bad_limits[] = {
      "0", "201", "-1", "abc", "", "1e2", "99999999999999999999"};
  for (size_t i = 0; i < sizeof bad_limits / sizeof bad_limits[0]; i++) {
    char path[96];
    snprintf(path, sizeof path, "/api/tweet?limit=%s", bad_limits[i]);
    tc_expect_error(c, "GET", path, NULL, 400, "invalid_limit");
  }
  static const char *bad_cursors[] = {"x", "abc",
                                      "AAAAAAAAAAAAAAAAAAAAAAAAAA%21",
                                      "AAAAAAAAAAAAAAAAAAAAAAAAAAAA"};
  for (size_t i = 0; i < sizeof bad_cursors / sizeof bad_cursors[0]; i++) {
    char path[96];
    snprintf(path, sizeof path, "/api/tweet?before=%s", bad_cursors[i]);
    tc_expect_error(c, "GET", path, NULL, 400, "invalid_cursor");
  }
  tc_response_t r;
  tc_get_ok(c, "/api/tweet?limit=200", &r);
  assert_true(tc_json_array_len(&r, "items") <= 200);
  tc_response_free(&r);
  tc_get_ok(c, "/api/tweet", &r);
  assert_true(tc_json_array_len(&r, "items") <= 50);
  assert_true(tc_json_has(&r, "next"));
  tc_response_free(&r);
  tc_client_destroy(c);
}

static void test_edit_by_author(void **state) {
  (void)state;
  char name[31], id[25], path[64];
  tc_client_t *c = tc_new_user(tc_url_a(), "tw", name);
  tc_post_tweet(c, "first draft", id);
  snprintf(path, sizeof path, "/api/tweet/%s", id);
  tc_response_t r;
  tc_send(c, "PUT", path, "{\"text\":\"second draft \xe2\x9c\x8d\"}", &r);
  tc_assert_status(&r, 200);
  assert_string_equal(tc_json_str(&r, "id"), id);
  assert_string_equal(tc_json_str(&r, "text"), "second draft \xe2\x9c\x8d");
  const char *edited = tc_json_str(&r, "edited_at");
  assert_true(tc_is_rfc3339(edited));
  assert_true(strcmp(edited, tc_json_str(&r, "created_at")) >= 0);
  tc_response_free(&r);

  tc_get(c, "/api/tweet?limit=1", &r);
  assert_string_equal(tc_json_str(&r, "items.0.id"), id);
  assert_string_equal(tc_json_str(&r, "items.0.text"),
                      "second draft \xe2\x9c\x8d");
  assert_true(tc_is_rfc3339(tc_json_str(&r, "items.0.edited_at")));
  tc_response_free(&r);

  /* Invalid new text changes nothing. */
  tc_expect_error(c, "PUT", path, "{\"text\":\"\"}", 400, "empty");
  tc_get(c, "/api/tweet?limit=1", &r);
  assert_string_equal(tc_json_str(&r, "items.0.text"),
                      "second draft \xe2\x9c\x8d");
  tc_response_free(&r);
  tc_client_destroy(c);
}

static void test_edit_by_others_is_refused(void **state) {
  (void)state;
  char author[31], intruder[31], id[25], path[64];
  tc_client_t *a = tc_new_user(tc_url_a(), "tw", author);
  tc_client_t *b = tc_new_user(tc_url_a(), "tw", intruder);
  tc_client_t *anon = tc_client_new(tc_url_a());
  tc_post_tweet(a, "mine only", id);
  snprintf(path, sizeof path, "/api/tweet/%s", id);
  tc_response_t r;
  tc_expect_error(b, "PUT", path, "{\"text\":\"hijacked\"}", 403, "forbidden");
  tc_expect_error(anon, "PUT", path, "{\"text\":\"hijacked\"}", 401,
                  "not_logged_in");
  tc_get(a, "/api/tweet?limit=1", &r);
  assert_string_equal(tc_json_str(&r, "items.0.text"), "mine only");
  assert_true(tc_json_is_null(&r, "items.0.edited_at"));
  tc_response_free(&r);
  tc_client_destroy(anon);
  tc_client_destroy(b);
  tc_client_destroy(a);
}

static void test_edit_unknown_ids_is_404(void **state) {
  (void)state;
  char name[31];
  tc_client_t *c = tc_new_user(tc_url_a(), "tw", name);
  static const char *ids[] = {"000000000000000000000000",
                              "ffffffffffffffffffffffff", "nothex",
                              "6b012e4802a948e4df00a66", /* 23 chars */
                              "6b012e4802a948e4df00a6620" /* 25 chars */};
  for (size_t i = 0; i < sizeof ids / sizeof ids[0]; i++) {
    char path[96];
    snprintf(path, sizeof path, "/api/tweet/%s", ids[i]);
    tc_expect_error(c, "PUT", path, "{\"text\":\"x\"}", 404, "tweet_not_found");
  }
  tc_client_destroy(c);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_create_requires_login),
      cmocka_unit_test(test_create_returns_tweet),
      cmocka_unit_test(test_text_length_in_code_points),
      cmocka_unit_test(test_text_must_be_real_text),
      cmocka_unit_test(test_pagination_has_no_duplicates_or_gaps),
      cmocka_unit_test(test_cursor_is_stable_under_inserts),
      cmocka_unit_test(test_limit_and_cursor_validation),
      cmocka_unit_test(test_edit_by_author),
      cmocka_unit_test(test_edit_by_others_is_refused),
      cmocka_unit_test(test_edit_unknown_ids_is_404),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
