/*
 * metrics.h - the HTTP request counters of GET /metrics (Prometheus
 * text).
 *
 * Requests are counted by route pattern ("/api/tweet/:id", so the number
 * of series stays bounded), method and status, with a latency histogram
 * per route, and the requests being answered now are a gauge (each
 * metrics_request_started is matched by one metrics_record_request); the
 * dispatch (dispatch.h) records every request.  The rest of the page is
 * read from the modules that own it when it is asked for
 * (server/app/metrics_page.h).
 *
 * Thread-safe: recording is lock-free (atomics); the series table has a
 * fixed size, and a series that does not fit is counted in an overflow
 * series instead.
 */
#ifndef CHORUS_METRICS_H
#define CHORUS_METRICS_H

#include <bson/bson.h>
#include <stdbool.h>
#include <stdint.h>

#define METRICS_SERIES_MAX 256
#define METRICS_BUCKETS 11

typedef struct metrics metrics_t;

metrics_t *metrics_new(void);
void metrics_destroy(metrics_t *m);

/* A request has begun: the in-flight gauge rises until its
 * metrics_record_request. */
void metrics_request_started(metrics_t *m);

/* Requests started and not yet recorded. */
int64_t metrics_in_flight(const metrics_t *m);

/* Counts one answered request (and ends one metrics_request_started).
 * route is a string with static lifetime (a route table pattern, or
 * "unmatched"). */
void metrics_record_request(metrics_t *m, const char *route, const char *method,
                            int status, int64_t duration_us);

/* Appends the request series in Prometheus text format to out. */
void metrics_render_requests(metrics_t *m, bson_string_t *out);

#endif
