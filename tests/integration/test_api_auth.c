/*
 * test_api_auth.c - accounts and sessions against a real server and
 * database: register, login, logout, /api/me, and every way each can fail.
 */
#include <stdio.h>
#include <string.h>

#include "tests/client/testclient.h"

/* POST /api/register as username/password on c, into r. */
static void register_as(tc_client_t *c, const char *username,
                        const char *password, tc_response_t *r) {
  char *body = tc_credentials_json(username, password);
  tc_send(c, "POST", "/api/register", body, r);
  bson_free(body);
}

/* Registering username/password on c is refused with status and code. */
static void expect_register_error(tc_client_t *c, const char *username,
                                  const char *password, long status,
                                  const char *code) {
  char *body = tc_credentials_json(username, password);
  tc_expect_error(c, "POST", "/api/register", body, status, code);
  bson_free(body);
}

static void test_register_returns_user_and_logs_in(void **state) {
  (void)state;
  tc_client_t *c = tc_client_new(tc_url_a());
  char name[31];
  tc_unique_name("reg", name);
  tc_response_t r;
  register_as(c, name, TC_PASSWORD, &r);
  tc_assert_status(&r, 201);
  assert_string_equal(tc_json_str(&r, "username"), name);
  assert_string_equal(tc_json_str(&r, "display_name"), name);
  assert_string_equal(tc_json_str(&r, "bio"), "");
  assert_true(tc_is_rfc3339(tc_json_str(&r, "created_at")));
  assert_false(tc_json_has(&r, "password_hash"));
  assert_false(tc_json_has(&r, "password"));
  char cookie[512];
  assert_true(tc_header(&r, "Set-Cookie", cookie, sizeof cookie));
  assert_non_null(strstr(cookie, "chorus_session="));
  assert_non_null(strstr(cookie, "HttpOnly"));
  assert_non_null(strstr(cookie, "SameSite=Lax"));
  assert_non_null(strstr(cookie, "Path=/"));
  char token[128];
  tc_session_token(c, token, sizeof token);
  assert_int_equal(strlen(token), 43); /* 256 bits, base64url */
  tc_response_free(&r);

  tc_get_ok(c, "/api/me", &r);
  assert_string_equal(tc_json_str(&r, "username"), name);
  tc_response_free(&r);
  tc_client_destroy(c);
}

static void test_register_duplicate_is_409_in_any_case(void **state) {
  (void)state;
  char name[31], upper[31];
  tc_client_t *c = tc_new_user(tc_url_a(), "dup", name);
  expect_register_error(c, name, "another password", 409, "username_taken");
  tc_upper(name, upper);
  expect_register_error(c, upper, TC_PASSWORD, 409, "username_taken");
  tc_client_destroy(c);
}

static void test_register_validates_username(void **state) {
  (void)state;
  static const char *bad[] = {
      "ab",                              /* too short */
      "abcdefghijklmnopqrstuvwxyz12345", /* 31: too long */
      "with space",
      "dash-name",
      "dot.name",
      "émile",
      "semi;colon",
      "",
  };
  tc_client_t *c = tc_client_new(tc_url_a());
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    expect_register_error(c, bad[i], TC_PASSWORD, 400, "invalid_username");
  }
  tc_client_destroy(c);
}

static void test_register_accepts_boundary_usernames(void **state) {
  (void)state;
  tc_client_t *c = tc_client_new(tc_url_a());
  char name[31], longest[31];
  tc_unique_name("b", name);
  /* 30 characters: pad the unique name with underscores and digits. */
  size_t len = strlen(name);
  memcpy(longest, name, len);
  memset(longest + len, '_', 30 - len);
  longest[30] = '\0';
  tc_register(c, longest, TC_PASSWORD);
  tc_client_destroy(c);
}

/* Common passwords (server/domain/data/common-passwords.txt, any letter case)
 * and the username itself are 400 weak_password, on both servers, and create no
 * account: the name is still free afterwards. */
static void test_register_refuses_weak_passwords(void **state) {
  (void)state;
  tc_client_t *a = tc_client_new(tc_url_a());
  tc_client_t *b = tc_client_new(tc_url_b());
  char name[31], upper[31], suffixed[64];
  tc_unique_name("weakpw", name);
  tc_upper(name, upper);
  snprintf(suffixed, sizeof suffixed, "%s2024!", upper);
  static const char *const common[] = {"password",   "12345678", "Password",
                                       "QWERTYUIOP", "iloveyou", "sunshine"};
  for (size_t i = 0; i < sizeof common / sizeof common[0]; i++) {
    expect_register_error(i % 2 ? b : a, name, common[i], 400, "weak_password");
  }
  expect_register_error(a, name, name, 400, "weak_password");
  expect_register_error(b, name, upper, 400, "weak_password");
  expect_register_error(a, name, suffixed, 400, "weak_password");
  tc_expect_error(a, "GET", "/api/me", NULL, 401, "not_logged_in");
  tc_register(b, name, TC_PASSWORD);
  tc_client_destroy(b);
  tc_client_destroy(a);
}

static void test_register_validates_password(void **state) {
  (void)state;
  tc_client_t *c = tc_client_new(tc_url_a());
  char name[31], big[130];
  tc_unique_name("pw", name);
  expect_register_error(c, name, "1234567", 400, /* 7 bytes */
                        "invalid_password");
  memset(big, 'x', 129);
  big[129] = '\0';
  expect_register_error(c, name, big, 400, "invalid_password");
  big[128] = '\0'; /* exactly 128 bytes is fine */
  tc_register(c, name, big);
  tc_client_destroy(c);
}

static void test_register_rejects_wrong_types_and_operators(void **state) {
  (void)state;
  static const char *bodies[] = {
      "{\"username\":{\"$gt\":\"\"},\"password\":\"" TC_PASSWORD "\"}",
      "{\"username\":\"someone\",\"password\":{\"$ne\":null}}",
      "{\"username\":123,\"password\":\"" TC_PASSWORD "\"}",
      "{\"username\":[\"a\"],\"password\":\"" TC_PASSWORD "\"}",
      "{\"username\":null,\"password\":\"" TC_PASSWORD "\"}",
      "{\"username\":true,\"password\":\"" TC_PASSWORD "\"}",
  };
  tc_client_t *c = tc_client_new(tc_url_a());
  for (size_t i = 0; i < sizeof bodies / sizeof bodies[0]; i++) {
    tc_expect_error(c, "POST", "/api/register", bodies[i], 400, "invalid_type");
  }
  tc_expect_error(c, "POST", "/api/register", "{\"username\":\"onlyname\"}",
                  400, "missing_field");
  tc_client_destroy(c);
}

static void test_login_and_me(void **state) {
  (void)state;
  tc_client_t *reg = tc_client_new(tc_url_a());
  tc_client_t *c = tc_client_new(tc_url_a());
  char name[31];
  tc_unique_name("login", name);
  tc_register(reg, name, TC_PASSWORD);

  tc_expect_error(c, "GET", "/api/me", NULL, 401, "not_logged_in");
  tc_response_t r;
  tc_login(c, name, TC_PASSWORD, &r);
  tc_assert_status(&r, 200);
  assert_string_equal(tc_json_str(&r, "username"), name);
  tc_response_free(&r);

  tc_get_ok(c, "/api/me", &r);
  assert_string_equal(tc_json_str(&r, "username"), name);
  tc_response_free(&r);

  /* Usernames log in case-insensitively and keep their spelling. */
  char upper[31];
  tc_upper(name, upper);
  tc_client_t *c2 = tc_client_new(tc_url_a());
  tc_login(c2, upper, TC_PASSWORD, &r);
  tc_assert_status(&r, 200);
  assert_string_equal(tc_json_str(&r, "username"), name);
  tc_response_free(&r);
  tc_client_destroy(c2);
  tc_client_destroy(c);
  tc_client_destroy(reg);
}

static void test_wrong_credentials_look_the_same(void **state) {
  (void)state;
  tc_client_t *c = tc_client_new(tc_url_a());
  char name[31], unknown[31];
  tc_unique_name("cred", name);
  tc_unique_name("nobody", unknown);
  tc_register(c, name, TC_PASSWORD);
  tc_client_t *fresh = tc_client_new(tc_url_a());

  tc_response_t wrong_pw, no_user, short_pw;
  tc_login(fresh, name, "not the password", &wrong_pw);
  tc_login(fresh, unknown, TC_PASSWORD, &no_user);
  tc_login(fresh, name, "x", &short_pw);
  tc_assert_error(&wrong_pw, 401, "invalid_credentials");
  tc_assert_error(&no_user, 401, "invalid_credentials");
  tc_assert_error(&short_pw, 401, "invalid_credentials");
  assert_string_equal(wrong_pw.body, no_user.body);
  assert_string_equal(wrong_pw.body, short_pw.body);
  char cookie[256];
  assert_false(tc_header(&wrong_pw, "Set-Cookie", cookie, sizeof cookie));
  tc_response_free(&wrong_pw);
  tc_response_free(&no_user);
  tc_response_free(&short_pw);

  tc_expect_status(fresh, "GET", "/api/me", NULL, 401);
  tc_client_destroy(fresh);
  tc_client_destroy(c);
}

static void test_logout_ends_only_that_session(void **state) {
  (void)state;
  tc_client_t *one = tc_client_new(tc_url_a());
  tc_client_t *two = tc_client_new(tc_url_a());
  char name[31], token[128];
  tc_unique_name("logout", name);
  tc_register(one, name, TC_PASSWORD);
  tc_response_t r;
  tc_login(two, name, TC_PASSWORD, &r);
  tc_assert_status(&r, 200);
  tc_response_free(&r);
  tc_session_token(one, token, sizeof token);

  tc_send(one, "DELETE", "/api/login", NULL, &r);
  tc_assert_status(&r, 200);
  char cookie[256];
  assert_true(tc_header(&r, "Set-Cookie", cookie, sizeof cookie));
  assert_non_null(strstr(cookie, "Max-Age=0"));
  tc_response_free(&r);

  tc_expect_status(one, "GET", "/api/me", NULL, 401);

  /* The old token, replayed by someone who kept it, is dead too. */
  tc_client_t *replay = tc_client_with_session(tc_url_a(), token);
  tc_expect_error(replay, "GET", "/api/me", NULL, 401, "not_logged_in");
  tc_expect_status(two, "GET", "/api/me", NULL, 200);

  /* Logging out without a session is harmless. */
  tc_expect_status(replay, "DELETE", "/api/login", NULL, 200);
  tc_client_destroy(replay);
  tc_client_destroy(two);
  tc_client_destroy(one);
}

static void test_forged_cookies_are_401(void **state) {
  (void)state;
  static const char *forged[] = {
      "x",
      "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", /* valid shape */
      "!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!",
      "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
  };
  for (size_t i = 0; i < sizeof forged / sizeof forged[0]; i++) {
    tc_client_t *c = tc_client_with_session(tc_url_a(), forged[i]);
    tc_expect_error(c, "GET", "/api/me", NULL, 401, "not_logged_in");
    tc_client_destroy(c);
  }
}

static void test_unicode_password(void **state) {
  (void)state;
  static const char password[] = "p\xc3\xa4ssw\xc3\xb6rd \xf0\x9f\x94\x91";
  tc_client_t *c = tc_client_new(tc_url_a());
  char name[31];
  tc_unique_name("uni", name);
  tc_register(c, name, password);
  tc_client_t *c2 = tc_client_new(tc_url_a());
  tc_response_t r;
  tc_login(c2, name, password, &r);
  tc_assert_status(&r, 200);
  tc_response_free(&r);
  tc_client_destroy(c2);
  tc_client_destroy(c);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_register_returns_user_and_logs_in),
      cmocka_unit_test(test_register_duplicate_is_409_in_any_case),
      cmocka_unit_test(test_register_validates_username),
      cmocka_unit_test(test_register_accepts_boundary_usernames),
      cmocka_unit_test(test_register_validates_password),
      cmocka_unit_test(test_register_refuses_weak_passwords),
      cmocka_unit_test(test_register_rejects_wrong_types_and_operators),
      cmocka_unit_test(test_login_and_me),
      cmocka_unit_test(test_wrong_credentials_look_the_same),
      cmocka_unit_test(test_logout_ends_only_that_session),
      cmocka_unit_test(test_forged_cookies_are_401),
      cmocka_unit_test(test_unicode_password),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
