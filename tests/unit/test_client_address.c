/*
 * test_client_address.c - unit tests for http_client_address (http.h):
 * which address a request is counted under for the per-address login
 * limit and the logs.  The peer's own address unless the peer is a
 * listed trusted proxy AND its X-Real-IP is a valid IP address; a header
 * from an untrusted peer, or an invalid header, never changes it.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "server/http/http.h"

static const char *addr(const char *peer, const char *real_ip,
                        const char *trusted) {
  static char buf[64];
  memset(buf, 'x', sizeof buf);
  http_client_address(peer, real_ip, trusted, buf, sizeof buf);
  return buf;
}

static void untrusted_peer_keeps_its_address(void **state) {
  (void)state;
  assert_string_equal(addr("203.0.113.7", "198.51.100.1", ""), "203.0.113.7");
  assert_string_equal(addr("203.0.113.7", "198.51.100.1", NULL), "203.0.113.7");
  assert_string_equal(addr("203.0.113.7", "198.51.100.1", "127.0.0.1"),
                      "203.0.113.7");
  /* a prefix of a listed address is not that address */
  assert_string_equal(addr("127.0.0.1", "198.51.100.1", "127.0.0.10"),
                      "127.0.0.1");
  assert_string_equal(addr("127.0.0.10", "198.51.100.1", "127.0.0.1"),
                      "127.0.0.10");
}

static void trusted_peer_gives_the_client_address(void **state) {
  (void)state;
  assert_string_equal(addr("127.0.0.1", "198.51.100.1", "127.0.0.1"),
                      "198.51.100.1");
  assert_string_equal(addr("10.0.0.2", "2001:db8::1", "10.0.0.1, 10.0.0.2"),
                      "2001:db8::1");
  assert_string_equal(addr("::1", "198.51.100.9", " 127.0.0.1 ,::1 "),
                      "198.51.100.9");
}

static void bad_or_missing_header_is_ignored(void **state) {
  (void)state;
  const char *t = "127.0.0.1";
  assert_string_equal(addr("127.0.0.1", NULL, t), "127.0.0.1");
  assert_string_equal(addr("127.0.0.1", "", t), "127.0.0.1");
  assert_string_equal(addr("127.0.0.1", "198.51.100.1, 10.0.0.1", t),
                      "127.0.0.1");
  assert_string_equal(addr("127.0.0.1", "not an address", t), "127.0.0.1");
  assert_string_equal(addr("127.0.0.1", "198.51.100.1 ", t), "127.0.0.1");
  assert_string_equal(addr("127.0.0.1", "256.1.1.1", t), "127.0.0.1");
}

static void result_fits_the_buffer(void **state) {
  (void)state;
  char small[8];
  http_client_address("2001:db8::1234:5678", NULL, "", small, sizeof small);
  assert_int_equal(strlen(small), sizeof small - 1);
  http_client_address(NULL, NULL, "", small, sizeof small);
  assert_string_equal(small, "");
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(untrusted_peer_keeps_its_address),
      cmocka_unit_test(trusted_peer_gives_the_client_address),
      cmocka_unit_test(bad_or_missing_header_is_ignored),
      cmocka_unit_test(result_fits_the_buffer),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
