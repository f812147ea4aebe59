/*
 * dispatch.c - see dispatch.h.
 *
 * The tables are concatenated into one array, so matching, the Allow
 * list of a 405 and the precedence of routes are exactly router_match's
 * over a single table; ctxs[i] is the handler context of routes[i], and
 * bodies[i] the body type its writes take.
 * Invariant: no table is added once a request has been served.
 */
#include "server/http/dispatch.h"

#include <assert.h>
#include <sodium.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

struct dispatch {
  http_transport_t transport;
  route_t *routes;
  void **ctxs;
  const char **bodies; /* the body type of each route's writes; NULL: JSON */
  size_t n;
  atomic_bool serving; /* a request has been served: the tables are fixed */
};

dispatch_t *dispatch_new(const http_transport_t *transport) {
  dispatch_t *d = bson_malloc0(sizeof *d);
  d->transport = *transport;
  return d;
}

void dispatch_destroy(dispatch_t *d) {
  if (!d) {
    return;
  }
  bson_free(d->routes);
  bson_free(d->ctxs);
  bson_free(d->bodies);
  bson_free(d);
}

void dispatch_add_routes_typed(dispatch_t *d, const route_t *routes, size_t n,
                               void *ctx, const char *body_type) {
  assert(!atomic_load(&d->serving));
  d->routes = bson_realloc(d->routes, sizeof *d->routes * (d->n + n));
  d->ctxs = bson_realloc(d->ctxs, sizeof *d->ctxs * (d->n + n));
  d->bodies = bson_realloc(d->bodies, sizeof *d->bodies * (d->n + n));
  for (size_t i = 0; i < n; i++) {
    d->routes[d->n + i] = routes[i];
    d->ctxs[d->n + i] = ctx;
    d->bodies[d->n + i] = body_type;
  }
  d->n += n;
}

void dispatch_add_routes(dispatch_t *d, const route_t *routes, size_t n,
                         void *ctx) {
  dispatch_add_routes_typed(d, routes, n, ctx, NULL);
}

/* The request's id: the client's X-Request-Id when it is a plain token
 * (so a proxy's id carries through), else 16 random hex digits. */
static void assign_request_id(http_request_t *req) {
  const char *given = mg_get_header(req->conn, "X-Request-Id");
  size_t n = given ? strlen(given) : 0;
  bool plain = n > 0 && n < sizeof req->request_id &&
               strspn(given, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstu"
                             "vwxyz0123456789._-") == n;
  if (plain) {
    memcpy(req->request_id, given, n + 1);
  } else {
    unsigned char raw[8];
    randombytes_buf(raw, sizeof raw);
    sodium_bin2hex(req->request_id, sizeof req->request_id, raw, sizeof raw);
  }
}

/* One JSON line per request on stderr; t is RFC 3339 UTC with ms. */
static void log_request(const http_request_t *req, const char *route,
                        int64_t us) {
  struct timespec now;
  struct tm tm;
  char t[32];
  clock_gettime(CLOCK_REALTIME, &now);
  gmtime_r(&now.tv_sec, &tm);
  size_t n = strftime(t, sizeof t, "%Y-%m-%dT%H:%M:%S", &tm);
  snprintf(t + n, sizeof t - n, ".%03dZ", (int)(now.tv_nsec / 1000000));
  fprintf(stderr,
          "{\"t\":\"%s\",\"server\":\"%s\",\"id\":\"%s\","
          "\"method\":\"%s\",\"route\":\"%s\",\"status\":%d,"
          "\"ms\":%.3f}\n",
          t, req->transport->server_id, req->request_id,
          req->info->request_method, route, req->status, (double)us / 1000);
}

int dispatch_serve(struct mg_connection *conn, void *cbdata) {
  dispatch_t *d = cbdata;
  atomic_store(&d->serving, true);
  http_request_t req;
  memset(&req, 0, sizeof req);
  req.conn = conn;
  req.info = mg_get_request_info(conn);
  req.transport = &d->transport;
  int64_t started = bson_get_monotonic_time();
  metrics_request_started(d->transport.metrics);
  assign_request_id(&req);

  const route_t *route = NULL;
  char allow[64];
  chorus_error_t err;
  chorus_error_clear(&err);
  if (!http_check_framing(&req, &err)) {
    http_reply_error(&req, &err); /* whatever the route; it closes */
    goto answered;
  }
  switch (router_match(d->routes, d->n, req.info->request_method,
                       req.info->local_uri, &req, &route, allow,
                       sizeof allow)) {
  case ROUTE_FOUND:
    req.ctx = d->ctxs[route - d->routes];
    if (http_method_is_write(req.info->request_method) &&
        !http_check_write_allowed(&req, d->bodies[route - d->routes], &err)) {
      http_reply_error(&req, &err);
    } else {
      if (d->transport.before_handler) {
        d->transport.before_handler(d->transport.before_handler_ctx, &req);
      }
      route->fn(&req);
    }
    break;
  case ROUTE_BAD_METHOD: {
    char header[96];
    snprintf(header, sizeof header, "Allow: %s\r\n", allow);
    chorus_error_set(&err, 405, "method_not_allowed",
                     "%s is not allowed here; use %s", req.info->request_method,
                     allow);
    http_reply_error_headers(&req, &err, header);
    break;
  }
  case ROUTE_NOT_FOUND:
    chorus_error_set(&err, 404, "not_found", "No such API endpoint");
    http_reply_error(&req, &err);
    break;
  }
answered:
  if (req.status == 0) {
    /* A handler that forgot to answer is a bug; never leave the client
     * hanging. */
    http_reply_error(&req, NULL);
  }
  const char *pattern = route ? route->pattern : "unmatched";
  int64_t us = bson_get_monotonic_time() - started;
  metrics_record_request(d->transport.metrics, pattern,
                         req.info->request_method, req.status, us);
  if (d->transport.log_requests || req.status >= 500) {
    log_request(&req, pattern, us);
  }
  return req.status;
}
