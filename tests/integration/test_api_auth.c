/*
 * test_api_auth.c - accounts and sessions against a real server and
 * database: register, login, logout, /api/me, and every way each can fail.
 */
#include <stdio.h>
#include <string.h>

#include "tests/client/testclient.h"

#define PASSWORD "correct horse battery"

static void register_body(char *out, size_t size, const char *username,
                          const char *password) {
  snprintf(out, size, "{\"username\":\"%s\",\"password\":\"%s\"}", username,
           password);
}

static void test_register_returns_user_and_logs_in(void **state) {
  (void)state;
  tc_client_t *c = tc_client_new(tc_url_a());
  char name[31], body[256];
  tc_unique_name("reg", name);
  register_body(body, sizeof body, name, PASSWORD);
  tc_response_t r;
  tc_send(c, "POST", "/api/register", body, &r);
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
  assert_true(tc_cookie(c, "chorus_session", token, sizeof token));
  assert_int_equal(strlen(token), 43); /* 256 bits, base64url */
  tc_response_free(&r);

  tc_get(c, "/api/me", &r);
  tc_assert_status(&r, 200);
  assert_string_equal(tc_json_str(&r, "username"), name);
  tc_response_free(&r);
  tc_client_destroy(c);
}

static void test_register_duplicate_is_409_in_any_case(void **state) {
  (void)state;
  tc_client_t *c = tc_client_new(tc_url_a());
  char name[31], upper[31], body[256];
  tc_unique_name("dup", name);
  tc_register(c, name, PASSWORD);
  tc_response_t r;
  register_body(body, sizeof body, name, "another password");
  tc_send(c, "POST", "/api/register", body, &r);
  tc_assert_error(&r, 409, "username_taken");
  tc_response_free(&r);

  for (size_t i = 0; i <= strlen(name); i++) {
    upper[i] = (char)((name[i] >= 'a' && name[i] <= 'z') ? name[i] - 32
                                                          : name[i]);
  }
  register_body(body, sizeof body, upper, PASSWORD);
  tc_send(c, "POST", "/api/register", body, &r);
  tc_assert_error(&r, 409, "username_taken");
  tc_response_free(&r);
  tc_client_destroy(c);
}

static void test_register_validates_username(void **state) {
  (void)state;
  static const char *bad[] = {
      "ab",                                   /* too short */
      "abcdefghijklmnopqrstuvwxyz12345",      /* 31: too long */
      "with space", "dash-name", "dot.name", "émile", "semi;colon",
      "",
  };
  tc_client_t *c = tc_client_new(tc_url_a());
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    char body[256];
    register_body(body, sizeof body, bad[i], PASSWORD);
    tc_response_t r;
    tc_send(c, "POST", "/api/register", body, &r);
    tc_assert_error(&r, 400, "invalid_username");
    tc_response_free(&r);
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
  tc_register(c, longest, PASSWORD);
  tc_client_destroy(c);
}

static void test_register_validates_password(void **state) {
  (void)state;
  tc_client_t *c = tc_client_new(tc_url_a());
  char name[31], body[512], big[130];
  tc_unique_name("pw", name);
  tc_response_t r;
  register_body(body, sizeof body, name, "1234567"); /* 7 bytes */
  tc_send(c, "POST", "/api/register", body, &r);
  tc_assert_error(&r, 400, "invalid_password");
  tc_response_free(&r);

  memset(big, 'x', 129);
  big[129] = '\0';
  register_body(body, sizeof body, name, big);
  tc_send(c, "POST", "/api/register", body, &r);
  tc_assert_error(&r, 400, "invalid_password");
  tc_response_free(&r);

  big[128] = '\0'; /* exactly 128 bytes is fine */
  register_body(body, sizeof body, name, big);
  tc_send(c, "POST", "/api/register", body, &r);
  tc_assert_status(&r, 201);
  tc_response_free(&r);
  tc_client_destroy(c);
}

static void test_register_rejects_wrong_types_and_operators(void **state) {
  (void)state;
  static const char *bodies[] = {
      "{\"username\":{\"$gt\":\"\"},\"password\":\"" PASSWORD "\"}",
      "{\"username\":\"someone\",\"password\":{\"$ne\":null}}",
      "{\"username\":123,\"password\":\"" PASSWORD "\"}",
      "{\"username\":[\"a\"],\"password\":\"" PASSWORD "\"}",
      "{\"username\":null,\"password\":\"" PASSWORD "\"}",
      "{\"username\":true,\"password\":\"" PASSWORD "\"}",
  };
  tc_client_t *c = tc_client_new(tc_url_a());
  for (size_t i = 0; i < sizeof bodies / sizeof bodies[0]; i++) {
    tc_response_t r;
    tc_send(c, "POST", "/api/register", bodies[i], &r);
    tc_assert_error(&r, 400, "invalid_type");
    tc_response_free(&r);
  }
  tc_response_t r;
  tc_send(c, "POST", "/api/register", "{\"username\":\"onlyname\"}", &r);
  tc_assert_error(&r, 400, "missing_field");
  tc_response_free(&r);
  tc_client_destroy(c);
}

static void test_login_and_me(void **state) {
  (void)state;
  tc_client_t *reg = tc_client_new(tc_url_a());
  tc_client_t *c = tc_client_new(tc_url_a());
  char name[31], body[256];
  tc_unique_name("login", name);
  tc_register(reg, name, PASSWORD);

  tc_response_t r;
  tc_get(c, "/api/me", &r);
  tc_assert_error(&r, 401, "not_logged_in");
  tc_response_free(&r);

  register_body(body, sizeof body, name, PASSWORD);
  tc_send(c, "POST", "/api/login", body, &r);
  tc_assert_status(&r, 200);
  assert_string_equal(tc_json_str(&r, "username"), name);
  tc_response_free(&r);

  tc_get(c, "/api/me", &r);
  tc_assert_status(&r, 200);
  assert_string_equal(tc_json_str(&r, "username"), name);
  tc_response_free(&r);

  /* Usernames log in case-insensitively and keep their spelling. */
  char upper[31];
  for (size_t i = 0; i <= strlen(name); i++) {
    upper[i] = (char)((name[i] >= 'a' && name[i] <= 'z') ? name[i] - 32
                                                          : name[i]);
  }
  tc_client_t *c2 = tc_client_new(tc_url_a());
  register_body(body, sizeof body, upper, PASSWORD);
  tc_send(c2, "POST", "/api/login", body, &r);
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
  char name[31], unknown[31], body[256];
  tc_unique_name("cred", name);
  tc_unique_name("nobody", unknown);
  tc_register(c, name, PASSWORD);
  tc_client_t *fresh = tc_client_new(tc_url_a());

  tc_response_t wrong_pw, no_user, short_pw;
  register_body(body, sizeof body, name, "not the password");
  tc_send(fresh, "POST", "/api/login", body, &wrong_pw);
  register_body(body, sizeof body, unknown, PASSWORD);
  tc_send(fresh, "POST", "/api/login", body, &no_user);
  register_body(body, sizeof body, name, "x");
  tc_send(fresh, "POST", "/api/login", body, &short_pw);
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

  tc_response_t r;
  tc_get(fresh, "/api/me", &r);
  tc_assert_status(&r, 401);
  tc_response_free(&r);
  tc_client_destroy(fresh);
  tc_client_destroy(c);
}

static void test_logout_ends_only_that_session(void **state) {
  (void)state;
  tc_client_t *one = tc_client_new(tc_url_a());
  tc_client_t *two = tc_client_new(tc_url_a());
  char name[31], body[256], token[128];
  tc_unique_name("logout", name);
  tc_register(one, name, PASSWORD);
  register_body(body, sizeof body, name, PASSWORD);
  tc_response_t r;
  tc_send(two, "POST", "/api/login", body, &r);
  tc_assert_status(&r, 200);
  tc_response_free(&r);
  assert_true(tc_cookie(one, "chorus_session", token, sizeof token));

  tc_send(one, "DELETE", "/api/login", NULL, &r);
  tc_assert_status(&r, 200);
  char cookie[256];
  assert_true(tc_header(&r, "Set-Cookie", cookie, sizeof cookie));
  assert_non_null(strstr(cookie, "Max-Age=0"));
  tc_response_free(&r);

  tc_get(one, "/api/me", &r);
  tc_assert_status(&r, 401);
  tc_response_free(&r);

  /* The old token, replayed by someone who kept it, is dead too. */
  tc_client_t *replay = tc_client_new(tc_url_a());
  tc_set_cookie(replay, "chorus_session", token);
  tc_get(replay, "/api/me", &r);
  tc_assert_error(&r, 401, "not_logged_in");
  tc_response_free(&r);

  tc_get(two, "/api/me", &r);
  tc_assert_status(&r, 200);
  tc_response_free(&r);

  /* Logging out without a session is harmless. */
  tc_send(replay, "DELETE", "/api/login", NULL, &r);
  tc_assert_status(&r, 200);
  tc_response_free(&r);
  tc_client_destroy(replay);
  tc_client_destroy(two);
  tc_client_destroy(one);
}

static void test_forged_cookies_are_401(void **state) {
  (void)state;
  static const char *forged[] = {
      "x", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", /* valid shape */
      "!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!",
      "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
  };
  for (size_t i = 0; i < sizeof forged / sizeof forged[0]; i++) {
    tc_client_t *c = tc_client_new(tc_url_a());
    tc_set_cookie(c, "chorus_session", forged[i]);
    tc_response_t r;
    tc_get(c, "/api/me", &r);
    tc_assert_error(&r, 401, "not_logged_in");
    tc_response_free(&r);
    tc_client_destroy(c);
  }
}

static void test_unicode_password(void **state) {
  (void)state;
  tc_client_t *c = tc_client_new(tc_url_a());
  char name[31], body[256];
  tc_unique_name("uni", name);
  register_body(body, sizeof body, name, "p\xc3\xa4ssw\xc3\xb6rd \xf0\x9f\x94\x91");
  tc_response_t r;
  tc_send(c, "POST", "/api/register", body, &r);
  tc_assert_status(&r, 201);
  tc_response_free(&r);
  tc_client_t *c2 = tc_client_new(tc_url_a());
  tc_send(c2, "POST", "/api/login", body, &r);
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
      cmocka_unit_test(test_register_rejects_wrong_types_and_operators),
      cmocka_unit_test(test_login_and_me),
      cmocka_unit_test(test_wrong_credentials_look_the_same),
      cmocka_unit_test(test_logout_ends_only_that_session),
      cmocka_unit_test(test_forged_cookies_are_401),
      cmocka_unit_test(test_unicode_password),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
