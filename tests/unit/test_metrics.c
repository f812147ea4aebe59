/*
 * test_metrics.c - the request counters of GET /metrics (metrics.h):
 * series by route, method and status, the latency histogram's cumulative
 * buckets, the in-flight gauge, and the overflow series once the fixed
 * table is full.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/http/metrics.h"

/* The value of the sample line that starts with `sample` (name and
 * labels), or -1 when there is none. */
static double sample_value(const char *text, const char *sample) {
  size_t n = strlen(sample);
  for (const char *at = text; (at = strstr(at, sample)); at += n) {
    if ((at == text || at[-1] == '\n') && at[n] == ' ') {
      return strtod(at + n + 1, NULL);
    }
  }
  return -1;
}

static char *render(metrics_t *m) {
  bson_string_t *out = bson_string_new(NULL);
  metrics_render_requests(m, out);
  return bson_string_free(out, false);
}

static void test_in_flight_counts_started_minus_recorded(void **state) {
  (void)state;
  metrics_t *m = metrics_new();
  assert_int_equal(metrics_in_flight(m), 0);
  metrics_request_started(m);
  metrics_request_started(m);
  metrics_request_started(m);
  assert_int_equal(metrics_in_flight(m), 3);
  metrics_record_request(m, "/api/feed", "GET", 200, 1500);
  assert_int_equal(metrics_in_flight(m), 2);
  char *text = render(m);
  assert_non_null(
      strstr(text, "# TYPE chorus_http_requests_in_flight gauge\n"));
  assert_true(sample_value(text, "chorus_http_requests_in_flight") == 2);
  bson_free(text);
  metrics_record_request(m, "/api/feed", "GET", 200, 1500);
  metrics_record_request(m, "/api/feed", "GET", 200, 1500);
  text = render(m);
  assert_true(sample_value(text, "chorus_http_requests_in_flight") == 0);
  bson_free(text);
  metrics_destroy(m);
}

static void test_series_and_cumulative_buckets(void **state) {
  (void)state;
  metrics_t *m = metrics_new();
  const int64_t us[] = {500, 2000, 2000, 700000, 9000000};
  for (size_t i = 0; i < sizeof us / sizeof us[0]; i++) {
    metrics_request_started(m);
    metrics_record_request(m, "/api/tweet", "POST", 201, us[i]);
  }
  metrics_request_started(m);
  metrics_record_request(m, "/api/tweet", "POST", 400, 100);
  char *text = render(m);
  assert_true(sample_value(text,
                           "chorus_http_requests_total{route=\"/api/"
                           "tweet\",method=\"POST\",status=\"201\"}") == 5);
  assert_true(sample_value(text,
                           "chorus_http_requests_total{route=\"/api/"
                           "tweet\",method=\"POST\",status=\"400\"}") == 1);
#define BUCKET(le)                                                             \
  sample_value(text,                                                           \
               "chorus_http_request_duration_seconds_bucket{route=\"/"         \
               "api/tweet\",method=\"POST\",status=\"201\",le=\"" le "\"}")
  assert_true(BUCKET("0.001") == 1);
  assert_true(BUCKET("0.0025") == 3);
  assert_true(BUCKET("0.5") == 3);
  assert_true(BUCKET("1") == 4);
  assert_true(BUCKET("2.5") == 4);
  assert_true(BUCKET("+Inf") == 5);
#undef BUCKET
  double sum = sample_value(text, "chorus_http_request_duration_seconds_sum{"
                                  "route=\"/api/tweet\",method=\"POST\","
                                  "status=\"201\"}");
  assert_true(sum > 9.7044 && sum < 9.7046);
  assert_true(sample_value(text, "chorus_http_requests_in_flight") == 0);
  assert_true(sample_value(text, "chorus_http_requests_unrecorded_total") == 0);
  bson_free(text);
  metrics_destroy(m);
}

static void test_full_table_counts_overflow(void **state) {
  (void)state;
  metrics_t *m = metrics_new();
  /* Statuses make distinct series of one route: one more than fit. */
  for (int i = 0; i <= METRICS_SERIES_MAX; i++) {
    metrics_request_started(m);
    metrics_record_request(m, "/api/me", "GET", 100 + i, 10);
  }
  char *text = render(m);
  assert_true(sample_value(text, "chorus_http_requests_unrecorded_total") == 1);
  assert_true(sample_value(text, "chorus_http_requests_in_flight") == 0);
  assert_true(sample_value(text, "chorus_http_requests_total{route=\"/api/"
                                 "me\",method=\"GET\",status=\"100\"}") == 1);
  bson_free(text);
  metrics_destroy(m);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_in_flight_counts_started_minus_recorded),
      cmocka_unit_test(test_series_and_cumulative_buckets),
      cmocka_unit_test(test_full_table_counts_overflow),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
