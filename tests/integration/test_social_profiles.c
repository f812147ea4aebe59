/*
 * test_social_profiles.c - profiles and the profile edit (docs/API.md,
 * "Profiles and follows" and PATCH /api/me):
 *   GET /api/users/<username>          profile, case-insensitive, 404
 *   GET /api/users/<username>/tweets   their tweets and replies
 *   PATCH /api/me {"display_name"?, "bio"?}
 * Counts and followed_by_me per viewer, validation in code points, wrong
 * types, unknown fields, and changes seen on both servers and on the
 * author of old tweets.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/client/testclient.h"

/* Checks the profile shape and its values. */
static void assert_profile(const tc_response_t *r, const char *username,
                           const char *display_name, const char *bio,
                           int64_t followers, int64_t following, int64_t tweets,
                           bool followed_by_me) {
  assert_string_equal(tc_json_str(r, "username"), username);
  assert_string_equal(tc_json_str(r, "display_name"), display_name);
  assert_string_equal(tc_json_str(r, "bio"), bio);
  assert_true(tc_is_rfc3339(tc_json_str(r, "created_at")));
  assert_int_equal(tc_json_int(r, "followers_count"), followers);
  assert_int_equal(tc_json_int(r, "following_count"), following);
  assert_int_equal(tc_json_int(r, "tweet_count"), tweets);
  assert_true(tc_json_has(r, "followed_by_me"));
  bson_iter_t it;
  assert_true(bson_iter_init_find(&it, r->json, "followed_by_me") &&
              BSON_ITER_HOLDS_BOOL(&it));
  assert_int_equal(bson_iter_bool(&it), followed_by_me);
  assert_false(tc_json_has(r, "password_hash"));
  assert_false(tc_json_has(r, "_id"));
}

/* name's profile as viewer sees it (GET /api/users/<name>, 200) is
 * assert_profile's. */
static void expect_profile(tc_client_t *viewer, const char *name,
                           const char *username, const char *display_name,
                           const char *bio, int64_t followers,
                           int64_t following, int64_t tweets,
                           bool followed_by_me) {
  tc_response_t r;
  tc_get_profile(viewer, name, &r);
  tc_assert_status(&r, 200);
  assert_profile(&r, username, display_name, bio, followers, following, tweets,
                 followed_by_me);
  tc_response_free(&r);
}

/* n copies of the UTF-8 sequence unit (NUL-terminated, malloc'd). */
static char *repeat(const char *unit, int n) {
  size_t len = strlen(unit);
  char *s = malloc(len * (size_t)n + 1);
  for (int i = 0; i < n; i++) {
    memcpy(s + len * (size_t)i, unit, len);
  }
  s[len * (size_t)n] = '\0';
  return s;
}

static void test_profile_lookup_ignores_case(void **state) {
  (void)state;
  char name[31], up[31], low[31];
  tc_client_t *c = tc_new_user(tc_url_a(), "ProfCase", name);
  tc_upper(name, up);
  tc_lower(name, low);
  const char *bases[] = {tc_url_a(), tc_url_b()};
  const char *spellings[] = {name, up, low};
  for (int b = 0; b < 2; b++) {
    tc_client_t *anon = tc_client_new(bases[b]);
    for (int s = 0; s < 3; s++) {
      /* The spelling the user chose, whatever was asked. */
      expect_profile(anon, spellings[s], name, name, "", 0, 0, 0, false);
    }
    tc_client_destroy(anon);
  }
  tc_client_destroy(c);
}

static void test_profile_counts_on_both_servers(void **state) {
  (void)state;
  char name[31], fan1[31], fan2[31], idol[31], id[25];
  tc_client_t *c = tc_new_user(tc_url_a(), "cnt", name);
  tc_client_t *f1 = tc_new_user(tc_url_a(), "cntfan", fan1);
  tc_client_t *f2 = tc_new_user(tc_url_b(), "cntfan", fan2);
  tc_client_t *i = tc_new_user(tc_url_b(), "cntidol", idol);
  tc_post_tweet(c, "one", id);
  tc_post_tweet(c, "two", id);
  tc_post_tweet(c, "three", id);
  tc_follow(f1, name);
  tc_follow(f2, name);
  tc_follow(c, idol);

  tc_client_t *anon_b = tc_client_new(tc_url_b());
  expect_profile(anon_b, name, name, name, "", 2, 1, 3, false);
  expect_profile(c, name, name, name, "", 2, 1, 3, false); /* self: false */
  expect_profile(anon_b, idol, idol, idol, "", 1, 0, 0, false);
  expect_profile(anon_b, fan2, fan2, fan2, "", 0, 1, 0, false);
  tc_client_destroy(anon_b);
  tc_client_destroy(i);
  tc_client_destroy(f2);
  tc_client_destroy(f1);
  tc_client_destroy(c);
}

static void test_followed_by_me_per_viewer(void **state) {
  (void)state;
  char star[31], fan[31], other[31];
  tc_client_t *s = tc_new_user(tc_url_a(), "fbm", star);
  tc_client_t *f = tc_new_user(tc_url_a(), "fbmfan", fan);
  tc_client_t *o = tc_new_user(tc_url_b(), "fbmoth", other);
  tc_follow(f, star);
  tc_client_t *f_on_b = tc_same_user_on(f, tc_url_b());
  tc_client_t *anon = tc_client_new(tc_url_a());
  struct {
    tc_client_t *viewer;
    bool expected;
  } cases[] = {
      {f, true}, {f_on_b, true}, {o, false}, {anon, false}, {s, false}};
  for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
    expect_profile(cases[k].viewer, star, star, star, "", 1, 0, 0,
                   cases[k].expected);
  }
  /* The follower's own profile is not "followed by" the star. */
  expect_profile(s, fan, fan, fan, "", 0, 1, 0, false);
  tc_client_destroy(anon);
  tc_client_destroy(f_on_b);
  tc_client_destroy(o);
  tc_client_destroy(f);
  tc_client_destroy(s);
}

static void test_unknown_profile_is_404(void **state) {
  (void)state;
  char nobody[31];
  tc_unique_name("nobody", nobody);
  const char *names[] = {nobody,
                         "ab",                         /* too short to exist */
                         "no%20such",                  /* not a username */
                         "%7B%22%24gt%22%3A%22%22%7D", /* {"$gt":""} */
                         ".%2A",                       /* .* */
                         "%24where",
                         "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"};
  tc_client_t *c = tc_client_new(tc_url_a());
  for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
    tc_expect_error(c, "GET", tc_path("/api/users/%s", names[i]), NULL, 404,
                    "user_not_found");
    char path[256];
    snprintf(path, sizeof path, "/api/users/%s/tweets", names[i]);
    tc_expect_error(c, "GET", path, NULL, 404, "user_not_found");
  }
  tc_client_destroy(c);
}

static void test_patch_me_changes_profile_everywhere(void **state) {
  (void)state;
  char name[31];
  tc_client_t *c = tc_new_user(tc_url_a(), "patch", name);
  const char *dn = "Ren\xc3\xa9\x65 \xf0\x9f\x8e\xb5 <b>&amp;</b>";
  const char *bio = "Line one\nline \"two\" {\"$gt\":\"\"} \\ \xe2\x9c\x8d";
  tc_response_t r;
  tc_patch_me(c, dn, bio, &r);
  tc_assert_status(&r, 200);
  assert_profile(&r, name, dn, bio, 0, 0, 0, false);
  tc_response_free(&r);

  tc_get_ok(c, "/api/me", &r);
  assert_string_equal(tc_json_str(&r, "display_name"), dn);
  assert_string_equal(tc_json_str(&r, "bio"), bio);
  tc_response_free(&r);

  tc_client_t *anon_b = tc_client_new(tc_url_b());
  expect_profile(anon_b, name, name, dn, bio, 0, 0, 0, false);

  /* Only what is sent changes: a bio alone keeps the display name. */
  tc_client_t *c_b = tc_same_user_on(c, tc_url_b());
  tc_patch_me(c_b, NULL, "second bio", &r);
  tc_assert_status(&r, 200);
  assert_profile(&r, name, dn, "second bio", 0, 0, 0, false);
  tc_response_free(&r);
  tc_patch_me(c, "Only Name", NULL, &r);
  tc_assert_status(&r, 200);
  assert_profile(&r, name, "Only Name", "second bio", 0, 0, 0, false);
  tc_response_free(&r);
  /* An empty bio is allowed and clears it. */
  tc_patch_me(c, NULL, "", &r);
  tc_assert_status(&r, 200);
  assert_profile(&r, name, "Only Name", "", 0, 0, 0, false);
  tc_response_free(&r);
  expect_profile(anon_b, name, name, "Only Name", "", 0, 0, 0, false);
  /* An empty object changes nothing. */
  tc_send(c, "PATCH", "/api/me", "{}", &r);
  tc_assert_status(&r, 200);
  assert_profile(&r, name, "Only Name", "", 0, 0, 0, false);
  tc_response_free(&r);
  tc_client_destroy(c_b);
  tc_client_destroy(anon_b);
  tc_client_destroy(c);
}

static void test_patch_me_lengths_in_code_points(void **state) {
  (void)state;
  char name[31];
  tc_client_t *c = tc_new_user(tc_url_a(), "plen", name);
  const char *note = "\xf0\x9f\x8e\xb5"; /* 1 code point, 4 bytes */
  struct {
    const char *unit;
    int n;
    bool is_bio;
    bool ok;
  } cases[] = {
      {"a", 50, false, true},        {"a", 51, false, false},
      {note, 50, false, true},       {note, 51, false, false},
      {"\xc3\xa9", 50, false, true}, {"a", 1, false, true},
      {"a", 160, true, true},        {"a", 161, true, false},
      {note, 160, true, true},       {note, 161, true, false},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    char *s = repeat(cases[i].unit, cases[i].n);
    tc_response_t r;
    tc_patch_me(c, cases[i].is_bio ? NULL : s, cases[i].is_bio ? s : NULL, &r);
    if (cases[i].ok) {
      tc_assert_status(&r, 200);
      assert_string_equal(
          tc_json_str(&r, cases[i].is_bio ? "bio" : "display_name"), s);
    } else {
      if (r.status != 400) {
        print_error("case %zu: %d x '%s' in %s\n", i, cases[i].n, cases[i].unit,
                    cases[i].is_bio ? "bio" : "display_name");
      }
      tc_assert_status(&r, 400);
      assert_non_null(tc_json_str(&r, "error.code"));
    }
    tc_response_free(&r);
    free(s);
  }
  /* The refused ones changed nothing: the last accepted values stand. */
  char *dn = repeat("a", 1), *bio = repeat(note, 160);
  tc_response_t r;
  tc_get_profile(c, name, &r);
  tc_assert_status(&r, 200);
  assert_string_equal(tc_json_str(&r, "display_name"), dn);
  assert_string_equal(tc_json_str(&r, "bio"), bio);
  tc_response_free(&r);
  free(dn);
  free(bio);
  tc_client_destroy(c);
}

static void test_patch_me_rejects_blank_display_name(void **state) {
  (void)state;
  char name[31];
  tc_client_t *c = tc_new_user(tc_url_a(), "pblank", name);
  tc_response_t r;
  tc_patch_me(c, "Kept", NULL, &r);
  tc_assert_status(&r, 200);
  tc_response_free(&r);
  static const char *blanks[] = {
      "",
      " ",
      "   \t\n ",
      "\xc2\xa0",                  /* no-break space */
      "\xe2\x80\x8b",              /* zero-width space */
      "\xe3\x80\x80 \xef\xbb\xbf", /* ideographic space, BOM */
  };
  for (size_t i = 0; i < sizeof blanks / sizeof blanks[0]; i++) {
    tc_patch_me(c, blanks[i], NULL, &r);
    if (r.status != 400) {
      print_error("blank display name #%zu accepted\n", i);
    }
    tc_assert_status(&r, 400);
    assert_non_null(tc_json_str(&r, "error.code"));
    tc_response_free(&r);
  }
  tc_get_profile(c, name, &r);
  tc_assert_status(&r, 200);
  assert_string_equal(tc_json_str(&r, "display_name"), "Kept");
  tc_response_free(&r);
  tc_client_destroy(c);
}

static void test_patch_me_rejects_wrong_types(void **state) {
  (void)state;
  char name[31];
  tc_client_t *c = tc_new_user(tc_url_a(), "ptype", name);
  tc_response_t r;
  tc_patch_me(c, "Before", "before bio", &r);
  tc_assert_status(&r, 200);
  tc_response_free(&r);
  static const char *values[] = {
      "42",
      "true",
      "null",
      "[\"x\"]",
      "{\"$gt\":\"\"}",
      "{\"$ne\":null}",
      "{\"$regex\":\".*\"}",
      "{\"$oid\":\"000000000000000000000000\"}",
      "{\"$numberLong\":\"5\"}",
      "3.5",
  };
  static const char *fields[] = {"display_name", "bio"};
  for (size_t f = 0; f < 2; f++) {
    for (size_t i = 0; i < sizeof values / sizeof values[0]; i++) {
      char body[128];
      snprintf(body, sizeof body, "{\"%s\":%s}", fields[f], values[i]);
      tc_send(c, "PATCH", "/api/me", body, &r);
      if (r.status != 400) {
        print_error("PATCH /api/me %s\n", body);
      }
      tc_assert_error(&r, 400, "invalid_type");
      tc_response_free(&r);
    }
  }
  /* Not text at all. */
  static const char *bad_text[] = {
      "{\"bio\":\"nul \\u0000 inside\"}",
      "{\"display_name\":\"nul \\u0000\"}",
      "{\"bio\":\"bad \xff byte\"}",
      "{\"display_name\":\"overlong \xc0\xaf\"}",
  };
  for (size_t i = 0; i < sizeof bad_text / sizeof bad_text[0]; i++) {
    tc_send(c, "PATCH", "/api/me", bad_text[i], &r);
    tc_assert_status(&r, 400);
    assert_non_null(tc_json_str(&r, "error.code"));
    tc_response_free(&r);
  }
  /* One bad field refuses the whole change. */
  char *long_bio = repeat("b", 161);
  tc_patch_me(c, "Changed", long_bio, &r);
  tc_assert_status(&r, 400);
  tc_response_free(&r);
  free(long_bio);
  tc_send(c, "PATCH", "/api/me", "{\"display_name\":\"Changed\",\"bio\":7}",
          &r);
  tc_assert_error(&r, 400, "invalid_type");
  tc_response_free(&r);
  tc_expect_status(c, "PATCH", "/api/me",
                   "{\"display_name\":\"\",\"bio\":\"x\"}", 400);
  /* Not a JSON object. */
  tc_expect_error(c, "PATCH", "/api/me", "[\"display_name\"]", 400,
                  "invalid_json");

  expect_profile(c, name, name, "Before", "before bio", 0, 0, 0, false);
  tc_client_destroy(c);
}

static void test_patch_me_ignores_unknown_fields(void **state) {
  (void)state;
  char name[31];
  tc_client_t *c = tc_new_user(tc_url_a(), "punk", name);
  tc_response_t r;
  tc_send(c, "PATCH", "/api/me",
          "{\"display_name\":\"New Name\",\"username\":\"admin\","
          "\"username_lc\":\"admin\",\"followers_count\":1000,"
          "\"following_count\":5,\"tweet_count\":7,"
          "\"password\":\"new password 123\",\"password_hash\":\"x\","
          "\"created_at\":\"2000-01-01T00:00:00.000Z\",\"_id\":\"x\","
          "\"$set\":{\"followers_count\":1}}",
          &r);
  tc_assert_status(&r, 200);
  assert_profile(&r, name, "New Name", "", 0, 0, 0, false);
  const char *created = tc_json_str(&r, "created_at");
  assert_string_not_equal(created, "2000-01-01T00:00:00.000Z");
  tc_response_free(&r);

  tc_client_t *b = tc_client_new(tc_url_b());
  expect_profile(b, name, name, "New Name", "", 0, 0, 0, false);
  /* The password did not change. */
  tc_login(b, name, TC_PASSWORD, &r);
  tc_assert_status(&r, 200);
  tc_response_free(&r);
  tc_client_destroy(b);
  tc_client_destroy(c);
}

static void test_patch_me_requires_login(void **state) {
  (void)state;
  tc_client_t *c = tc_client_new(tc_url_a());
  tc_expect_error(c, "PATCH", "/api/me", "{\"display_name\":\"ghost\"}", 401,
                  "not_logged_in");
  tc_set_cookie(c, "chorus_session",
                "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA");
  tc_expect_error(c, "PATCH", "/api/me", "{\"display_name\":\"ghost\"}", 401,
                  "not_logged_in");
  tc_client_destroy(c);
}

static void test_new_display_name_on_old_tweets(void **state) {
  (void)state;
  char name[31], id[25], path[96];
  tc_client_t *c = tc_new_user(tc_url_a(), "dnold", name);
  tc_post_tweet(c, "written under the old name", id);
  tc_response_t r;
  tc_patch_me(c, "Brand New \xe2\x98\x85", NULL, &r);
  tc_assert_status(&r, 200);
  tc_response_free(&r);

  tc_client_t *anon_b = tc_client_new(tc_url_b());
  snprintf(path, sizeof path, "/api/tweet/%s", id);
  tc_get_ok(anon_b, path, &r);
  assert_string_equal(tc_json_str(&r, "author.username"), name);
  assert_string_equal(tc_json_str(&r, "author.display_name"),
                      "Brand New \xe2\x98\x85");
  tc_response_free(&r);

  snprintf(path, sizeof path, "/api/users/%s/tweets", name);
  tc_get_ok(anon_b, path, &r);
  assert_int_equal(tc_json_array_len(&r, "items"), 1);
  assert_string_equal(tc_json_str(&r, "items.0.id"), id);
  assert_string_equal(tc_json_str(&r, "items.0.author.display_name"),
                      "Brand New \xe2\x98\x85");
  tc_response_free(&r);

  /* The global timeline too (it is at or near the head). */
  tc_get_ok(c, "/api/tweet?limit=200", &r);
  bool seen = false;
  for (int i = 0; i < tc_json_array_len(&r, "items"); i++) {
    if (!strcmp(tc_item_str(&r, i, "id"), id)) {
      assert_string_equal(tc_item_str(&r, i, "author.display_name"),
                          "Brand New \xe2\x98\x85");
      seen = true;
    }
  }
  assert_true(seen);
  tc_response_free(&r);
  tc_client_destroy(anon_b);
  tc_client_destroy(c);
}

static void test_user_tweets_newest_first_with_replies(void **state) {
  (void)state;
  char name[31], other[31], up[31], t[4][25], parent[25], reply[25];
  tc_client_t *c = tc_new_user(tc_url_a(), "utw", name);
  tc_client_t *o = tc_new_user(tc_url_b(), "utwoth", other);
  tc_post_tweet(o, "someone else's", parent);
  tc_post_tweet(c, "first", t[0]);
  tc_post_tweet(c, "second", t[1]);
  tc_post_reply(c, "a reply", parent, reply);
  tc_post_tweet(c, "third", t[2]);
  tc_post_tweet(o, "someone else's again", t[3]);

  const char *expected[] = {t[2], reply, t[1], t[0]};
  tc_upper(name, up);
  tc_client_t *anon = tc_client_new(tc_url_b());
  char path[256];
  snprintf(path, sizeof path, "/api/users/%s/tweets", up);
  tc_response_t r;
  tc_get_ok(anon, path, &r);
  assert_int_equal(tc_json_array_len(&r, "items"), 4);
  for (int i = 0; i < 4; i++) {
    assert_string_equal(tc_item_str(&r, i, "id"), expected[i]);
    assert_string_equal(tc_item_str(&r, i, "author.username"), name);
  }
  assert_string_equal(tc_json_str(&r, "items.1.reply_to"), parent);
  assert_true(tc_json_is_null(&r, "items.0.reply_to"));
  assert_true(tc_json_is_null(&r, "next"));
  tc_response_free(&r);

  /* Pages of 3: no repeats, no gaps. */
  snprintf(path, sizeof path, "/api/users/%s/tweets?limit=3", name);
  tc_get_ok(anon, path, &r);
  assert_int_equal(tc_json_array_len(&r, "items"), 3);
  assert_string_equal(tc_json_str(&r, "items.2.id"), t[1]);
  assert_non_null(tc_json_str(&r, "next"));
  snprintf(path, sizeof path, "/api/users/%s/tweets?limit=3&before=%s", name,
           tc_json_str(&r, "next"));
  tc_response_free(&r);
  tc_post_tweet(c, "arrives between pages", t[3]);
  tc_get_ok(anon, path, &r);
  assert_int_equal(tc_json_array_len(&r, "items"), 1);
  assert_string_equal(tc_json_str(&r, "items.0.id"), t[0]);
  assert_true(tc_json_is_null(&r, "next"));
  tc_response_free(&r);

  snprintf(path, sizeof path, "/api/users/%s/tweets", name);
  tc_expect_paging_errors(anon, path, "zzz");

  /* A user with no tweets has an empty list. */
  char quiet[31];
  tc_client_t *q = tc_new_user(tc_url_a(), "utwq", quiet);
  snprintf(path, sizeof path, "/api/users/%s/tweets", quiet);
  tc_get_ok(anon, path, &r);
  assert_int_equal(tc_json_array_len(&r, "items"), 0);
  assert_true(tc_json_is_null(&r, "next"));
  tc_response_free(&r);
  tc_client_destroy(q);
  tc_client_destroy(anon);
  tc_client_destroy(o);
  tc_client_destroy(c);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_profile_lookup_ignores_case),
      cmocka_unit_test(test_profile_counts_on_both_servers),
      cmocka_unit_test(test_followed_by_me_per_viewer),
      cmocka_unit_test(test_unknown_profile_is_404),
      cmocka_unit_test(test_patch_me_changes_profile_everywhere),
      cmocka_unit_test(test_patch_me_lengths_in_code_points),
      cmocka_unit_test(test_patch_me_rejects_blank_display_name),
      cmocka_unit_test(test_patch_me_rejects_wrong_types),
      cmocka_unit_test(test_patch_me_ignores_unknown_fields),
      cmocka_unit_test(test_patch_me_requires_login),
      cmocka_unit_test(test_new_display_name_on_old_tweets),
      cmocka_unit_test(test_user_tweets_newest_first_with_replies),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
