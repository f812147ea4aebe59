/*
 * test_social_search.c - GET /api/search (docs/API.md):
 *   type=users   username or display name starting with q, ignoring case,
 *                by username
 *   type=tweets  (the default) tweets containing every word of q as a
 *                whole word, ignoring case, newest first
 *   q 1-100 characters, else 400 invalid_query; a bad type is 400.
 * Queries that look like operators or patterns ({"$gt":""}, .*, ^, [)
 * are plain text: no error, no crash, and never "match everything".
 * Every search word is unique to the run, so results are exactly ours.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "tests/client/harness.h"
#include "tests/client/testclient.h"

/* A word of letters and digits that no other run or test uses. */
static void unique_word(char out[32]) {
  static unsigned salt, counter;
  if (!salt) {
    salt = ((unsigned)getpid() * 2654435761u) ^ (unsigned)time(NULL);
  }
  snprintf(out, 32, "zq%08x%u", salt, ++counter);
}

/* Percent-encodes s for a query string. */
static void url_encode(const char *s, char *out, size_t size) {
  static const char hex[] = "0123456789ABCDEF";
  size_t n = 0;
  for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
    if (n + 4 >= size) {
      fail_msg("query too long to encode");
    }
    if (isalnum(*p) || *p == '-' || *p == '_' || *p == '.' || *p == '~') {
      out[n++] = (char)*p;
    } else {
      out[n++] = '%';
      out[n++] = hex[*p >> 4];
      out[n++] = hex[*p & 15];
    }
  }
  out[n] = '\0';
}

/* GET /api/search?q=<q>[&type=<type>][&extra]. */
static void search(tc_client_t *c, const char *q, const char *type,
                   const char *extra, tc_response_t *r) {
  char enc[2048], path[2300];
  url_encode(q, enc, sizeof enc);
  snprintf(path, sizeof path, "/api/search?q=%s%s%s%s%s", enc,
           type ? "&type=" : "", type ? type : "", extra ? "&" : "",
           extra ? extra : "");
  tc_get(c, path, r);
}

/* Searches users for q and asserts that the usernames found are exactly
 * names[0..n) (what names the search in the message). */
static void search_users_expect(tc_client_t *c, const char *q,
                                const char *const *names, int n,
                                const char *what) {
  tc_response_t r;
  search(c, q, "users", NULL, &r);
  tc_assert_status(&r, 200);
  tc_assert_items(&r, "username", names, n, what);
  tc_response_free(&r);
}

static void search_tweets_expect(tc_client_t *c, const char *q,
                                 const char *const *ids, int n) {
  tc_response_t r;
  search(c, q, "tweets", NULL, &r);
  tc_assert_status(&r, 200);
  char what[160];
  snprintf(what, sizeof what, "tweets for q=\"%s\"", q);
  tc_assert_items(&r, "id", ids, n, what);
  tc_response_free(&r);
}

/* Posts a tweet as c's user; the next write gets a later time. */
static void post(tc_client_t *c, const char *text, char id[25]) {
  tc_post_tweet(c, text, id);
  tc_tick();
}

static void set_display_name(tc_client_t *c, const char *dn) {
  bson_t doc = BSON_INITIALIZER;
  BSON_APPEND_UTF8(&doc, "display_name", dn);
  char *json = bson_as_relaxed_extended_json(&doc, NULL);
  tc_expect_status(c, "PATCH", "/api/me", json, 200);
  bson_free(json);
  bson_destroy(&doc);
}

static int cmp_lower(const void *a, const void *b) {
  char la[31], lb[31];
  const char *sa = *(const char *const *)a, *sb = *(const char *const *)b;
  size_t i;
  for (i = 0; sa[i]; i++) {
    la[i] = (char)tolower((unsigned char)sa[i]);
  }
  la[i] = '\0';
  for (i = 0; sb[i]; i++) {
    lb[i] = (char)tolower((unsigned char)sb[i]);
  }
  lb[i] = '\0';
  return strcmp(la, lb);
}

static void test_search_users_by_username_prefix(void **state) {
  (void)state;
  char w[32], names[3][40], up[32], other[31];
  unique_word(w);
  /* Usernames base+"c3", base+"a1", base+"b2" (registered out of order). */
  const char *suffix[] = {"c3", "a1", "b2"};
  tc_client_t *cs[3];
  for (int i = 0; i < 3; i++) {
    snprintf(names[i], sizeof names[i], "%s%s", w, suffix[i]);
    cs[i] = tc_client_new(i % 2 ? tc_url_b() : tc_url_a());
    tc_register(cs[i], names[i], TC_PASSWORD);
  }
  /* Not a prefix: the word in the middle of a name or display name. */
  tc_client_t *co = tc_new_user(tc_url_a(), "srchoth", other);
  char dn[80];
  snprintf(dn, sizeof dn, "Not %s", w);
  set_display_name(co, dn);

  const char *sorted[] = {names[1], names[2], names[0]};
  tc_client_t *anon = tc_client_new(tc_url_b());
  tc_upper(w, up);
  const char *queries[] = {w, up};
  for (int k = 0; k < 2; k++) {
    tc_response_t r;
    search(anon, queries[k], "users", NULL, &r);
    tc_assert_status(&r, 200);
    tc_assert_items(&r, "username", sorted, 3, "users by username prefix");
    /* Items are user summaries. */
    assert_string_equal(tc_json_str(&r, "items.0.display_name"), names[1]);
    assert_string_equal(tc_json_str(&r, "items.0.bio"), "");
    assert_false(tc_json_has(&r, "items.0.password_hash"));
    tc_response_free(&r);
  }
  /* A longer prefix narrows it down. */
  char longer[40];
  snprintf(longer, sizeof longer, "%sB", up);
  tc_response_t r;
  const char *just_b[] = {names[2]};
  search_users_expect(anon, longer, just_b, 1, "longer prefix");
  /* Not a substring search. */
  search_users_expect(anon, w + 2, NULL, 0, "middle of the username");
  /* limit applies. */
  search(anon, w, "users", "limit=2", &r);
  tc_assert_status(&r, 200);
  assert_int_equal(tc_json_array_len(&r, "items"), 2);
  assert_string_equal(tc_json_str(&r, "items.0.username"), names[1]);
  tc_response_free(&r);
  tc_client_destroy(anon);
  tc_client_destroy(co);
  for (int i = 0; i < 3; i++) {
    tc_client_destroy(cs[i]);
  }
}

static void test_search_users_by_display_name_prefix(void **state) {
  (void)state;
  char w[32], w2[32], a[31], b[31], dn[80], up[32];
  unique_word(w);
  unique_word(w2);
  tc_client_t *ca = tc_new_user(tc_url_a(), "srchdn", a);
  tc_client_t *cb = tc_new_user(tc_url_b(), "srchdn", b);
  snprintf(dn, sizeof dn, "%s The Great", w);
  tc_upper(dn, dn); /* stored upper-case, searched lower-case */
  set_display_name(ca, dn);
  snprintf(dn, sizeof dn, "%s junior", w);
  set_display_name(cb, dn);

  char sorted_buf[2][31];
  strcpy(sorted_buf[0], a);
  strcpy(sorted_buf[1], b);
  const char *sorted[] = {sorted_buf[0], sorted_buf[1]};
  qsort(sorted, 2, sizeof sorted[0], cmp_lower);
  tc_client_t *anon = tc_client_new(tc_url_a());
  search_users_expect(anon, w, sorted, 2, "users by display name");
  tc_upper(w, up);
  search_users_expect(anon, up, sorted, 2, "users by display name, upper");
  /* Two words of the display name are a prefix too. */
  snprintf(dn, sizeof dn, "%s the", w);
  const char *just_a[] = {a};
  search_users_expect(anon, dn, just_a, 1, "display name with a space");

  /* A new display name replaces the old one in search. */
  set_display_name(ca, w2);
  const char *just_b[] = {b};
  search_users_expect(anon, w, just_b, 1, "after the rename");
  search_users_expect(anon, w2, just_a, 1, "the new display name");
  tc_client_destroy(anon);
  tc_client_destroy(cb);
  tc_client_destroy(ca);
}

static void test_search_tweets_whole_words_ignoring_case(void **state) {
  (void)state;
  char w[32], name[31], text[160], up[32];
  char hit1[25], hit2[25], hit3[25], miss1[25], miss2[25];
  unique_word(w);
  tc_upper(w, up);
  tc_client_t *c = tc_new_user(tc_url_a(), "srchw", name);
  snprintf(text, sizeof text, "the %s sat on the mat", w);
  post(c, text, hit1);
  snprintf(text, sizeof text, "%segory is a longer word", w); /* "category" */
  post(c, text, miss1);
  snprintf(text, sizeof text, "con%s has it inside", w);
  post(c, text, miss2);
  snprintf(text, sizeof text, "LOUD %s", up);
  post(c, text, hit2);
  snprintf(text, sizeof text, "%s", w);
  post(c, text, hit3);

  const char *hits[] = {hit3, hit2, hit1};
  tc_client_t *anon = tc_client_new(tc_url_b());
  search_tweets_expect(anon, w, hits, 3);
  search_tweets_expect(anon, up, hits, 3);
  /* The default type is tweets. */
  tc_response_t r;
  search(anon, w, NULL, NULL, &r);
  tc_assert_status(&r, 200);
  tc_assert_items(&r, "id", hits, 3, "default type");
  assert_string_equal(tc_json_str(&r, "items.0.author.username"), name);
  assert_true(tc_json_has(&r, "items.0.like_count"));
  tc_response_free(&r);
  /* The longer word finds only itself. */
  snprintf(text, sizeof text, "%segory", w);
  const char *cat[] = {miss1};
  search_tweets_expect(anon, text, cat, 1);
  (void)miss2;
  tc_client_destroy(anon);
  tc_client_destroy(c);
}

static void test_search_tweets_need_every_word(void **state) {
  (void)state;
  char w1[32], w2[32], name[31], text[160], q[100];
  char both[25], only1[25], only2[25], both_rev[25];
  unique_word(w1);
  unique_word(w2);
  tc_client_t *c = tc_new_user(tc_url_b(), "srchall", name);
  snprintf(text, sizeof text, "%s and %s together", w1, w2);
  post(c, text, both);
  snprintf(text, sizeof text, "only %s here", w1);
  post(c, text, only1);
  snprintf(text, sizeof text, "only %s here", w2);
  post(c, text, only2);
  snprintf(text, sizeof text, "%s before %s", w2, w1);
  post(c, text, both_rev);
  tc_client_t *anon = tc_client_new(tc_url_a());
  const char *expect_both[] = {both_rev, both};
  snprintf(q, sizeof q, "%s %s", w1, w2);
  search_tweets_expect(anon, q, expect_both, 2);
  snprintf(q, sizeof q, "  %s    %s ", w2, w1);
  search_tweets_expect(anon, q, expect_both, 2);
  const char *expect_1[] = {both_rev, only1, both};
  search_tweets_expect(anon, w1, expect_1, 3);
  /* A third word nobody used: nothing. */
  char w3[32];
  unique_word(w3);
  snprintf(q, sizeof q, "%s %s %s", w1, w2, w3);
  search_tweets_expect(anon, q, NULL, 0);
  tc_client_destroy(anon);
  tc_client_destroy(c);
}

static void test_search_words_next_to_punctuation(void **state) {
  (void)state;
  char w[32], name[31], text[160], ids[4][25];
  unique_word(w);
  tc_client_t *c = tc_new_user(tc_url_a(), "srchp", name);
  const char *before[] = {"Hello, ", "(", "end of sentence ", "\""};
  const char *after[] = {"!", ")", ".", "\" quoted"};
  for (int i = 0; i < 4; i++) {
    snprintf(text, sizeof text, "%s%s%s", before[i], w, after[i]);
    post(c, text, ids[i]);
  }
  const char *hits[] = {ids[3], ids[2], ids[1], ids[0]};
  search_tweets_expect(c, w, hits, 4);
  tc_client_destroy(c);
}

static void test_search_tweets_newest_first_in_pages(void **state) {
  (void)state;
  char w[32], a[31], b[31], text[96], ids[5][25];
  unique_word(w);
  tc_client_t *ca = tc_new_user(tc_url_a(), "srchpg", a);
  tc_client_t *cb = tc_new_user(tc_url_b(), "srchpg", b);
  for (int i = 0; i < 5; i++) {
    snprintf(text, sizeof text, "number %d of %s", i, w);
    post(i % 2 ? cb : ca, text, ids[i]);
  }
  const char *all[] = {ids[4], ids[3], ids[2], ids[1], ids[0]};
  search_tweets_expect(ca, w, all, 5);
  tc_response_t r;
  search(ca, w, "tweets", "limit=2", &r);
  tc_assert_status(&r, 200);
  tc_assert_items(&r, "id", all, 2, "first page");
  char next[128], extra[200];
  bson_strncpy(next, tc_json_str(&r, "next"), sizeof next);
  tc_response_free(&r);
  char late[25];
  snprintf(text, sizeof text, "late %s", w);
  post(cb, text, late);
  snprintf(extra, sizeof extra, "limit=2&before=%s", next);
  search(ca, w, "tweets", extra, &r);
  tc_assert_status(&r, 200);
  tc_assert_items(&r, "id", all + 2, 2, "second page");
  bson_strncpy(next, tc_json_str(&r, "next"), sizeof next);
  tc_response_free(&r);
  snprintf(extra, sizeof extra, "limit=2&before=%s", next);
  search(ca, w, "tweets", extra, &r);
  tc_assert_status(&r, 200);
  tc_assert_items(&r, "id", all + 4, 1, "last page");
  assert_true(tc_json_is_null(&r, "next"));
  tc_response_free(&r);
  tc_client_destroy(cb);
  tc_client_destroy(ca);
}

static void test_search_follows_edits_and_deletes(void **state) {
  (void)state;
  char w1[32], w2[32], name[31], text[96], id[25], path[64];
  unique_word(w1);
  unique_word(w2);
  tc_client_t *c = tc_new_user(tc_url_a(), "srched", name);
  snprintf(text, sizeof text, "first %s", w1);
  post(c, text, id);
  const char *hit[] = {id};
  search_tweets_expect(c, w1, hit, 1);
  snprintf(path, sizeof path, "/api/tweet/%s", id);
  char body[128];
  snprintf(body, sizeof body, "{\"text\":\"now %s\"}", w2);
  tc_expect_status(c, "PUT", path, body, 200);
  search_tweets_expect(c, w1, NULL, 0);
  search_tweets_expect(c, w2, hit, 1);
  tc_expect_status(c, "DELETE", path, NULL, 200);
  search_tweets_expect(c, w2, NULL, 0);
  tc_client_destroy(c);
}

static void test_search_query_validation(void **state) {
  (void)state;
  tc_client_t *c = tc_client_new(tc_url_a());
  tc_response_t r;
  const char *paths[] = {
      "/api/search", "/api/search?q=", "/api/search?type=users",
      "/api/search?q=&type=users", "/api/search?type=tweets&q="};
  for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++) {
    tc_get(c, paths[i], &r);
    if (r.status != 400) {
      print_error("GET %s\n", paths[i]);
    }
    tc_assert_error(&r, 400, "invalid_query");
    tc_response_free(&r);
  }
  /* Lengths in characters (code points). */
  char q[2048];
  struct {
    const char *unit;
    int n;
    bool ok;
  } lengths[] = {{"a", 1, true},
                 {"a", 100, true},
                 {"a", 101, false},
                 {"a", 1000, false},
                 {"\xc3\xa9", 100, true},
                 {"\xc3\xa9", 101, false},
                 {"\xf0\x9f\x8e\xb5", 100, true},
                 {"\xf0\x9f\x8e\xb5", 101, false}};
  const char *types[] = {"tweets", "users"};
  for (size_t i = 0; i < sizeof lengths / sizeof lengths[0]; i++) {
    size_t ul = strlen(lengths[i].unit), n = 0;
    for (int k = 0; k < lengths[i].n; k++, n += ul) {
      memcpy(q + n, lengths[i].unit, ul);
    }
    q[n] = '\0';
    for (int t = 0; t < 2; t++) {
      search(c, q, types[t], NULL, &r);
      if (lengths[i].ok ? r.status != 200 : r.status != 400) {
        print_error("q of %d x '%s' (type %s)\n", lengths[i].n, lengths[i].unit,
                    types[t]);
      }
      if (lengths[i].ok) {
        tc_assert_status(&r, 200);
        assert_true(tc_json_array_len(&r, "items") >= 0);
      } else {
        tc_assert_error(&r, 400, "invalid_query");
      }
      tc_response_free(&r);
    }
  }
  const char *bad_types[] = {"bogus", "USERS_", "", "user", "tweets,users"};
  for (size_t i = 0; i < sizeof bad_types / sizeof bad_types[0]; i++) {
    char path[128];
    snprintf(path, sizeof path, "/api/search?q=hello&type=%s", bad_types[i]);
    tc_get(c, path, &r);
    if (r.status != 400) {
      print_error("GET %s\n", path);
    }
    tc_assert_status(&r, 400);
    assert_non_null(tc_json_str(&r, "error.code"));
    tc_response_free(&r);
  }
  tc_expect_paging_errors(c, "/api/search?q=hello", "%25%25");
  tc_client_destroy(c);
}

/* A NUL byte in a parameter must not cut it short: "tweets\0x" is not a
 * type. */
static void test_search_nul_in_type_is_refused(void **state) {
  (void)state;
  tc_client_t *c = tc_client_new(tc_url_a());
  const char *paths[] = {"/api/search?q=hello&type=tweets%00",
                         "/api/search?q=hello&type=users%00junk"};
  for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++) {
    tc_response_t r;
    tc_get(c, paths[i], &r);
    if (r.status != 400) {
      print_error("GET %s\n", paths[i]);
    }
    tc_assert_status(&r, 400);
    tc_response_free(&r);
  }
  tc_client_destroy(c);
}

/* Lower-cased copy. */
static void lower(const char *s, char *out, size_t size) {
  size_t i;
  for (i = 0; s[i] && i + 1 < size; i++) {
    out[i] = (char)tolower((unsigned char)s[i]);
  }
  out[i] = '\0';
}

/* Whether every run of letters and digits in q occurs in text (ignoring
 * case); when q has none, whether q itself occurs in text. */
static bool plausible_match(const char *q, const char *text) {
  char lq[256], lt[1200];
  lower(q, lq, sizeof lq);
  lower(text, lt, sizeof lt);
  bool any = false;
  for (const char *p = lq; *p;) {
    if (!isalnum((unsigned char)*p)) {
      p++;
      continue;
    }
    char word[128];
    size_t n = 0;
    while (isalnum((unsigned char)*p) && n + 1 < sizeof word) {
      word[n++] = *p++;
    }
    word[n] = '\0';
    any = true;
    if (!strstr(lt, word)) {
      return false;
    }
  }
  return any || strstr(lt, lq) != NULL;
}

static bool starts_with_ignoring_case(const char *s, const char *prefix) {
  for (; *prefix; s++, prefix++) {
    if (tolower((unsigned char)*s) != tolower((unsigned char)*prefix)) {
      return false;
    }
  }
  return true;
}

static void test_search_operators_are_plain_text(void **state) {
  (void)state;
  char w[32], name[31], text[160], marker[25];
  unique_word(w);
  tc_client_t *c = tc_new_user(tc_url_a(), "srchop", name);
  /* Two recent tweets that no query below can honestly match. */
  snprintf(text, sizeof text, "marker %s", w);
  post(c, text, marker);
  char special[25];
  post(c, "regex bait .* ^ $ [a-z]+ (x|y) {\"$gt\":\"\"} \\d", special);
  static const char *queries[] = {
      "{\"$gt\":\"\"}",
      "{\"$ne\":null}",
      ".*",
      "^",
      "$",
      ".",
      "*",
      "+",
      "?",
      "[",
      "]",
      "(",
      ")",
      "{",
      "}",
      "|",
      "\\",
      "\\\\",
      "/.*/",
      "(?i)",
      "[a-z]+",
      "a|b",
      "^$",
      "$where",
      "$regex",
      "%",
      "'",
      "\"",
      ";",
      "' OR '1'='1",
      "\\b",
      "\xf0\x9f\x8e\xb5",
      "  .*  ",
  };
  tc_client_t *anon = tc_client_new(tc_url_b());
  for (size_t i = 0; i < sizeof queries / sizeof queries[0]; i++) {
    const char *q = queries[i];
    tc_response_t r;
    search(anon, q, "tweets", "limit=200", &r);
    if (r.status != 200) {
      print_error("tweets q=%s\n", q);
    }
    tc_assert_status(&r, 200);
    int len = tc_json_array_len(&r, "items");
    assert_true(len >= 0);
    for (int k = 0; k < len; k++) {
      if (!strcmp(tc_item_str(&r, k, "id"), marker)) {
        fail_msg("q=%s matched an unrelated tweet (matches everything?)", q);
      }
      if (!plausible_match(q, tc_item_str(&r, k, "text"))) {
        fail_msg("q=%s matched \"%s\"", q, tc_item_str(&r, k, "text"));
      }
    }
    tc_response_free(&r);

    search(anon, q, "users", "limit=200", &r);
    if (r.status != 200) {
      print_error("users q=%s\n", q);
    }
    tc_assert_status(&r, 200);
    len = tc_json_array_len(&r, "items");
    assert_true(len >= 0);
    for (int k = 0; k < len; k++) {
      const char *u = tc_item_str(&r, k, "username");
      const char *dn = tc_item_str(&r, k, "display_name");
      if (!starts_with_ignoring_case(u, q) &&
          !starts_with_ignoring_case(dn, q)) {
        fail_msg("users q=%s matched %s (%s)", q, u, dn);
      }
    }
    tc_response_free(&r);
  }
  /* Still serving. */
  tc_expect_status(anon, "GET", "/healthz", NULL, 200);
  const char *found[] = {marker};
  search_tweets_expect(anon, w, found, 1);
  tc_client_destroy(anon);
  tc_client_destroy(c);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_search_users_by_username_prefix),
      cmocka_unit_test(test_search_users_by_display_name_prefix),
      cmocka_unit_test(test_search_tweets_whole_words_ignoring_case),
      cmocka_unit_test(test_search_tweets_need_every_word),
      cmocka_unit_test(test_search_words_next_to_punctuation),
      cmocka_unit_test(test_search_tweets_newest_first_in_pages),
      cmocka_unit_test(test_search_follows_edits_and_deletes),
      cmocka_unit_test(test_search_query_validation),
      cmocka_unit_test(test_search_operators_are_plain_text),
      cmocka_unit_test(test_search_nul_in_type_is_refused),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
