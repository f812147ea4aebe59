/*
 * router.h - matching "METHOD /path" against a static route table.
 *
 * Patterns are literal segments and ":name" parameters ("/api/tweet/:id").
 * A parameter matches one non-empty segment; its value is the already
 * URL-decoded text, pointed into req->path.  A path that matches some
 * route under another method is 405 with an Allow list, so clients can
 * tell a wrong method from a wrong path.
 *
 * Pure; thread-safe.
 */
#ifndef CHORUS_ROUTER_H
#define CHORUS_ROUTER_H

#include <stddef.h>

#include "server/http/http.h"

typedef void (*route_fn)(http_request_t *req);

typedef struct route {
  const char *method;
  const char *pattern;
  route_fn fn;
} route_t;

typedef enum {
  ROUTE_FOUND,
  ROUTE_NOT_FOUND,
  ROUTE_BAD_METHOD,
} route_result_t;

/* Matches method and path (copied into req->path) against routes[0..n).
 * On ROUTE_FOUND, *found is the route and req->params are set.  On
 * ROUTE_BAD_METHOD, allow holds "GET, POST"-style methods. */
route_result_t router_match(const route_t *routes, size_t n, const char *method,
                            const char *path, http_request_t *req,
                            const route_t **found, char *allow,
                            size_t allow_size);

#endif
