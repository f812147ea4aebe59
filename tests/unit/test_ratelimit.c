/*
 * test_ratelimit.c - unit tests for ratelimit.h's pure part: the wait of
 * a login for a username that failed often (ratelimit_login_delay_ms):
 * none up to --login-slow-user failures in the window, then 250 ms
 * doubling per further failure, never over --login-delay-max-ms (0: no
 * wait at all), and no overflow however many failures there are.
 *
 * What ratelimit_take and the gates do against the database is covered
 * by integration.test_rate_limits and integration.test_social_security.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "server/domain/ratelimit.h"

static void no_wait_up_to_the_threshold(void **state) {
  (void)state;
  ratelimit_login_t cfg = {10, 50, 10, 2000, 300};
  for (int64_t f = -1; f <= 10; f++) {
    assert_int_equal(ratelimit_login_delay_ms(&cfg, f), 0);
  }
}

static void the_wait_doubles_then_stops_at_the_bound(void **state) {
  (void)state;
  ratelimit_login_t cfg = {10, 50, 10, 2000, 300};
  assert_int_equal(ratelimit_login_delay_ms(&cfg, 11), 250);
  assert_int_equal(ratelimit_login_delay_ms(&cfg, 12), 500);
  assert_int_equal(ratelimit_login_delay_ms(&cfg, 13), 1000);
  assert_int_equal(ratelimit_login_delay_ms(&cfg, 14), 2000);
  assert_int_equal(ratelimit_login_delay_ms(&cfg, 15), 2000);
  assert_int_equal(ratelimit_login_delay_ms(&cfg, 1000000), 2000);
  assert_int_equal(ratelimit_login_delay_ms(&cfg, INT64_MAX), 2000);
  cfg.delay_max_ms = 700; /* a bound between two steps */
  assert_int_equal(ratelimit_login_delay_ms(&cfg, 12), 500);
  assert_int_equal(ratelimit_login_delay_ms(&cfg, 13), 700);
  cfg.delay_max_ms = 100; /* below the first step */
  assert_int_equal(ratelimit_login_delay_ms(&cfg, 11), 100);
}

static void a_bound_of_zero_never_waits(void **state) {
  (void)state;
  ratelimit_login_t cfg = {10, 50, 1, 0, 300};
  assert_int_equal(ratelimit_login_delay_ms(&cfg, 2), 0);
  assert_int_equal(ratelimit_login_delay_ms(&cfg, 1000), 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(no_wait_up_to_the_threshold),
      cmocka_unit_test(the_wait_doubles_then_stops_at_the_bound),
      cmocka_unit_test(a_bound_of_zero_never_waits),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
