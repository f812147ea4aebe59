/*
 * test_origin.c - unit tests for origin.h: the canonical form of an
 * origin (scheme and host case, the default port), what is not an origin
 * (null, paths, user information, other schemes, bad ports), parsing a
 * --public-origin list, the default list for each kind of --host
 * (loopback address, "localhost", a name, an IPv6 literal, every
 * interface) and the check of an Origin header against a list.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <string.h>

#include "server/http/origin.h"

static void canonical_form(void **state) {
  (void)state;
  static const char *const pairs[][2] = {
      {"http://localhost:8080", "http://localhost:8080"},
      {"HTTP://LocalHost:8080", "http://localhost:8080"},
      {"http://chorus.example", "http://chorus.example:80"},
      {"https://chorus.example", "https://chorus.example:443"},
      {"https://chorus.example:443", "https://chorus.example:443"},
      {"http://127.0.0.1:80", "http://127.0.0.1:80"},
      {"http://[::1]:8080", "http://[::1]:8080"},
      {"http://[FE80::1]", "http://[fe80::1]:80"},
      {"http://a-b_c.example:65535", "http://a-b_c.example:65535"},
  };
  for (size_t i = 0; i < sizeof pairs / sizeof pairs[0]; i++) {
    char out[ORIGIN_MAX];
    if (!origin_canonical(pairs[i][0], out)) {
      fail_msg("%s is an origin", pairs[i][0]);
    }
    assert_string_equal(out, pairs[i][1]);
  }
}

static void what_is_not_an_origin(void **state) {
  (void)state;
  static const char *const bad[] = {
      "",
      "null",
      "localhost:8080",
      "ws://localhost:8080",
      "file://",
      "http://",
      "http://:8080",
      "http://localhost:",
      "http://localhost:0",
      "http://localhost:65536",
      "http://localhost:123456",
      "http://localhost:8080/",
      "http://localhost:8080/path",
      "http://localhost?x",
      "http://localhost#x",
      "http://user@localhost",
      "http://local host",
      "http://[::1",
      "http://[]:80",
      "http://[::1]x",
      "http://evil.example\r\nX: y",
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    char out[ORIGIN_MAX];
    if (origin_canonical(bad[i], out)) {
      fail_msg("\"%s\" is not an origin, got %s", bad[i], out);
    }
  }
  char out[ORIGIN_MAX];
  assert_false(origin_canonical(NULL, out));
}

static void describe(const origins_t *o, char *buf, size_t size) {
  origins_describe(o, buf, size);
}

static void a_configured_list(void **state) {
  (void)state;
  chorus_error_t err;
  origins_t *o = origins_parse(
      " https://Chorus.example , http://localhost:8000/,http://localhost:8000",
      &err);
  assert_non_null(o);
  char all[512];
  describe(o, all, sizeof all);
  assert_string_equal(all, "https://chorus.example:443, http://localhost:8000");
  assert_true(origins_allow(o, "https://chorus.example"));
  assert_true(origins_allow(o, "https://CHORUS.example:443"));
  assert_true(origins_allow(o, "http://localhost:8000"));
  static const char *const refused[] = {
      "http://chorus.example",       /* another scheme */
      "https://chorus.example:8443", /* another port */
      "https://evil.chorus.example", /* another host */
      "https://chorus.example.evil.example",
      "http://localhost:8001",
      "http://127.0.0.1:8000", /* the same machine, another origin */
      "null",
      "",
  };
  for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++) {
    if (origins_allow(o, refused[i])) {
      fail_msg("%s allowed", refused[i]);
    }
  }
  assert_false(origins_allow(o, NULL));
  assert_false(origins_allow(NULL, "https://chorus.example"));
  origins_destroy(o);

  static const char *const bad[] = {"", " , ", "http://a:1,null",
                                    "https://chorus.example/app"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    chorus_error_clear(&err);
    assert_null(origins_parse(bad[i], &err));
    assert_int_equal(err.status, 400);
    assert_string_equal(err.code, "bad_config");
    assert_non_null(strstr(err.message, "--public-origin"));
  }
  origins_destroy(NULL);
}

/* The default list for --host h and port 8080, described. */
static void default_for(const char *h, char *all, size_t size) {
  chorus_error_t err;
  origins_t *o = origins_default(h, 8080, &err);
  assert_non_null(o);
  describe(o, all, size);
  origins_destroy(o);
}

static void the_default_is_the_servers_own_addresses(void **state) {
  (void)state;
  char all[4096];
  default_for("127.0.0.1", all, sizeof all);
  assert_string_equal(all, "http://127.0.0.1:8080, http://localhost:8080");
  default_for("localhost", all, sizeof all);
  assert_string_equal(all, "http://localhost:8080, http://127.0.0.1:8080, "
                           "http://[::1]:8080");
  default_for("::1", all, sizeof all);
  assert_string_equal(all, "http://[::1]:8080, http://localhost:8080");
  default_for("[::1]", all, sizeof all);
  assert_string_equal(all, "http://[::1]:8080, http://localhost:8080");
  default_for("192.0.2.7", all, sizeof all);
  assert_string_equal(all, "http://192.0.2.7:8080");
  default_for("Chorus.Internal", all, sizeof all);
  assert_string_equal(all, "http://chorus.internal:8080");
  /* Every interface: localhost, 127.0.0.1 and each interface's address
   * (the loopback interface's is 127.0.0.1 again, listed once). */
  default_for("0.0.0.0", all, sizeof all);
  assert_int_equal(strncmp(all, "http://localhost:8080, http://127.0.0.1:8080",
                           strlen("http://localhost:8080, "
                                  "http://127.0.0.1:8080")),
                   0);
  assert_null(strstr(all + 1, "http://127.0.0.1:8080, http://127.0.0.1"));
  default_for("", all, sizeof all);
  assert_int_equal(strncmp(all, "http://localhost:8080", 21), 0);

  chorus_error_t err;
  origins_t *o = origins_default("127.0.0.1", 80, &err);
  assert_true(origins_allow(o, "http://127.0.0.1")); /* port 80 implied */
  assert_true(origins_allow(o, "http://localhost"));
  assert_false(origins_allow(o, "https://localhost"));
  assert_false(origins_allow(o, "http://rebind.evil.example"));
  origins_destroy(o);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(canonical_form),
      cmocka_unit_test(what_is_not_an_origin),
      cmocka_unit_test(a_configured_list),
      cmocka_unit_test(the_default_is_the_servers_own_addresses),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
