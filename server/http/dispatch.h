/*
 * dispatch.h - the one civetweb request handler for route tables.
 *
 * The layers above hand their route tables to a dispatch_t, each with
 * the context its handlers get as req->ctx; the app registers
 * dispatch_serve with civetweb for the paths the tables cover.  For every
 * request it:
 *   - gives it an id (the client's X-Request-Id when that is a plain
 *     token, else 16 random hex digits), answered as X-Request-Id;
 *   - refuses a request whose body length is ambiguous, before anything
 *     else (http_check_framing: 400 or 411, and the connection closes);
 *   - matches "METHOD /path" against the tables, in the order they were
 *     added (router.h): 404 "not_found" when no route has the path, 405
 *     "method_not_allowed" with an Allow header when only other methods
 *     do;
 *   - refuses a state-changing request that fails the CSRF and
 *     content-type rule (http_check_write_allowed, with the body type of
 *     the route's table) before its handler runs;
 *   - calls the transport's before_handler, then the route's handler;
 *   - answers 500 for a handler that forgot to answer;
 *   - counts it in the transport's metrics (the in-flight gauge while it
 *     runs, then route pattern, method, status and latency) and logs one
 *     JSON line on stderr when the transport says so, or for any 5xx.
 *
 * Ownership: the dispatch copies the transport settings (their strings
 * and metrics stay borrowed) and the route entries (patterns and
 * methods stay borrowed: string literals).  Thread-safety: tables are
 * added before the first request (dispatch_serve asserts that); after
 * that dispatch_serve runs on any number of worker threads at once.
 */
#ifndef CHORUS_DISPATCH_H
#define CHORUS_DISPATCH_H

#include <civetweb.h>
#include <stddef.h>

#include "server/http/http.h"
#include "server/http/router.h"

typedef struct dispatch dispatch_t;

dispatch_t *dispatch_new(const http_transport_t *transport);
void dispatch_destroy(dispatch_t *d);

/* Appends routes[0..n), whose handlers get ctx as req->ctx; their
 * writes take JSON bodies (Content-Type: application/json). */
void dispatch_add_routes(dispatch_t *d, const route_t *routes, size_t n,
                         void *ctx);

/* The same for routes whose writes take bodies of body_type instead (a
 * string literal, such as "multipart/form-data"; http_check_write_allowed
 * says what a route taking a form's type rests on). */
void dispatch_add_routes_typed(dispatch_t *d, const route_t *routes, size_t n,
                               void *ctx, const char *body_type);

/* civetweb request handler; cbdata is the dispatch_t.  Returns the
 * status sent. */
int dispatch_serve(struct mg_connection *conn, void *cbdata);

#endif
