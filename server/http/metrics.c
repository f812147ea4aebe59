/*
 * metrics.c - see metrics.h.
 *
 * The series table is open-addressed by (route, method, status) pointer
 * and value identity; a slot is claimed once with a compare-and-swap on
 * its route pointer and never freed, so readers need no lock.
 */
#include "server/http/metrics.h"

#include <bson/bson.h>
#include <stdatomic.h>
#include <string.h>

/* Upper bounds of the latency buckets, in seconds (the last is +Inf). */
static const double bucket_le[METRICS_BUCKETS] = {
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5};

typedef struct series {
  _Atomic(const char *) route; /* NULL: free slot */
  char method[8];
  int status;
  atomic_bool ready; /* method/status written */
  atomic_llong count;
  atomic_llong sum_us;
  atomic_llong buckets[METRICS_BUCKETS];
} series_t;

struct metrics {
  series_t series[METRICS_SERIES_MAX];
  atomic_llong overflow;
  atomic_llong in_flight; /* started - recorded; never below 0 */
};

metrics_t *metrics_new(void) { return bson_malloc0(sizeof(metrics_t)); }

void metrics_destroy(metrics_t *m) { bson_free(m); }

static uint32_t hash(const char *route, const char *method, int status) {
  uint32_t h = 2166136261u;
  for (const char *p = route; *p; p++) {
    h = (h ^ (unsigned char)*p) * 16777619u;
  }
  for (const char *p = method; *p; p++) {
    h = (h ^ (unsigned char)*p) * 16777619u;
  }
  return (h ^ (uint32_t)status) * 16777619u;
}

void metrics_request_started(metrics_t *m) {
  atomic_fetch_add(&m->in_flight, 1);
}

int64_t metrics_in_flight(const metrics_t *m) {
  return atomic_load(&m->in_flight);
}

void metrics_record_request(metrics_t *m, const char *route, const char *method,
                            int status, int64_t duration_us) {
  atomic_fetch_sub(&m->in_flight, 1);
  uint32_t h = hash(route, method, status);
  for (int probe = 0; probe < METRICS_SERIES_MAX; probe++) {
    series_t *s = &m->series[(h + (uint32_t)probe) % METRICS_SERIES_MAX];
    const char *cur = atomic_load(&s->route);
    if (!cur) {
      const char *expected = NULL;
      if (atomic_compare_exchange_strong(&s->route, &expected, route)) {
        bson_strncpy(s->method, method, sizeof s->method);
        s->status = status;
        atomic_store(&s->ready, true);
        cur = route;
      } else {
        cur = expected;
      }
    }
    if (cur != route || !atomic_load(&s->ready) || s->status != status ||
        strcmp(s->method, method) != 0) {
      continue;
    }
    atomic_fetch_add(&s->count, 1);
    atomic_fetch_add(&s->sum_us, duration_us);
    double secs = (double)duration_us / 1e6;
    for (int b = 0; b < METRICS_BUCKETS; b++) {
      if (secs <= bucket_le[b]) {
        atomic_fetch_add(&s->buckets[b], 1);
        break;
      }
    }
    return;
  }
  atomic_fetch_add(&m->overflow, 1);
}

void metrics_render_requests(metrics_t *m, bson_string_t *out) {
  bson_string_append_printf(
      out,
      "# HELP chorus_http_requests_in_flight API requests being answered "
      "now (this one included).\n"
      "# TYPE chorus_http_requests_in_flight gauge\n"
      "chorus_http_requests_in_flight %lld\n",
      (long long)metrics_in_flight(m));
  bson_string_append(out, "# HELP chorus_http_requests_total HTTP API requests "
                          "answered, by route, method and status.\n"
                          "# TYPE chorus_http_requests_total counter\n");
  for (int i = 0; i < METRICS_SERIES_MAX; i++) {
    series_t *s = &m->series[i];
    if (!atomic_load(&s->ready)) {
      continue;
    }
    bson_string_append_printf(
        out,
        "chorus_http_requests_total{route=\"%s\",method=\"%s\",status=\"%d\"}"
        " %lld\n",
        atomic_load(&s->route), s->method, s->status,
        (long long)atomic_load(&s->count));
  }
  bson_string_append_printf(
      out,
      "# HELP chorus_http_requests_unrecorded_total API requests answered "
      "whose series did not fit the table.\n"
      "# TYPE chorus_http_requests_unrecorded_total counter\n"
      "chorus_http_requests_unrecorded_total %lld\n",
      (long long)atomic_load(&m->overflow));
  bson_string_append(out, "# HELP chorus_http_request_duration_seconds Time to "
                          "answer an API request.\n"
                          "# TYPE chorus_http_request_duration_seconds "
                          "histogram\n");
  for (int i = 0; i < METRICS_SERIES_MAX; i++) {
    series_t *s = &m->series[i];
    if (!atomic_load(&s->ready)) {
      continue;
    }
    const char *route = atomic_load(&s->route);
    long long cumulative = 0;
    for (int b = 0; b < METRICS_BUCKETS; b++) {
      cumulative += atomic_load(&s->buckets[b]);
      bson_string_append_printf(
          out,
          "chorus_http_request_duration_seconds_bucket{route=\"%s\","
          "method=\"%s\",status=\"%d\",le=\"%g\"} %lld\n",
          route, s->method, s->status, bucket_le[b], cumulative);
    }
    long long count = atomic_load(&s->count);
    bson_string_append_printf(
        out,
        "chorus_http_request_duration_seconds_bucket{route=\"%s\","
        "method=\"%s\",status=\"%d\",le=\"+Inf\"} %lld\n"
        "chorus_http_request_duration_seconds_sum{route=\"%s\","
        "method=\"%s\",status=\"%d\"} %.6f\n"
        "chorus_http_request_duration_seconds_count{route=\"%s\","
        "method=\"%s\",status=\"%d\"} %lld\n",
        route, s->method, s->status, count, route, s->method, s->status,
        (double)atomic_load(&s->sum_us) / 1e6, route, s->method, s->status,
        count);
  }
}
