/*
 * http.h - the request/response helpers every handler uses.
 *
 * A handler gets an http_request_t (connection, parsed request line, path
 * parameters, the transport's settings and its own handler context) and
 * answers exactly once with http_reply_json() or http_reply_error().
 * Bodies are JSON objects of at most HTTP_BODY_MAX bytes, read and parsed
 * here with libbson; a handler then takes typed fields with
 * json_get_string(), so user JSON is never passed on as a document and
 * can never smuggle a query operator.  A body is exactly what its one
 * Content-Length declares: the framing rule (http_check_framing) refuses
 * every other way of saying how long it is, and a body that stops short
 * is an error, never a shorter request (http_read_json).
 *
 * The transport knows nothing above it: what it needs of the server is
 * an http_transport_t (server id, trusted proxies, public origins,
 * request log, metrics, and a hook for headers of successful writes), and
 * what the handlers need travels as req->ctx, which it never looks into.
 *
 * A request and everything in it belong to the civetweb worker thread
 * that serves it.
 */
#ifndef CHORUS_HTTP_H
#define CHORUS_HTTP_H

#include <bson/bson.h>
#include <civetweb.h>
#include <stdbool.h>

#include "server/http/metrics.h"
#include "server/http/origin.h"
#include "sync/base/error.h"

#define HTTP_BODY_MAX (16 * 1024)
#define HTTP_MAX_PARAMS 4

typedef struct http_request http_request_t;

/* Headers for the answer to a successful write (a 2xx answer to POST,
 * PUT, PATCH or DELETE): writes zero or more "Name: value\r\n" lines
 * into buf, which arrives as an empty string of size
 * HTTP_WRITE_HEADERS_MAX.  Called by the reply writer on the request's
 * thread, before anything is sent. */
#define HTTP_WRITE_HEADERS_MAX 128
typedef void (*http_write_headers_fn)(void *ctx, const http_request_t *req,
                                      char *buf, size_t size);

/* Called on the request's thread once its route is found and allowed,
 * just before the route's handler runs. */
typedef void (*http_before_handler_fn)(void *ctx, const http_request_t *req);

/* What the transport needs of the server it serves.  Set up before the
 * first request and read-only afterwards; the strings and objects are
 * borrowed and outlive every request. */
typedef struct http_transport {
  const char *server_id;       /* X-Chorus-Server, the request log */
  const char *trusted_proxies; /* --trusted-proxy (http_client_address) */
  const origins_t *origins;    /* --public-origin (the CSRF rule); NULL:
                                  none, every Origin is refused */
  bool log_requests;           /* every request logged, not only 5xx */
  metrics_t *metrics;          /* request counters */
  http_write_headers_fn write_headers; /* NULL: none */
  void *write_headers_ctx;
  http_before_handler_fn before_handler; /* NULL: none */
  void *before_handler_ctx;
} http_transport_t;

struct http_request {
  struct mg_connection *conn;
  const struct mg_request_info *info;
  const http_transport_t *transport;
  void *ctx; /* the handler context of the route's table (dispatch.h) */
  const char *params[HTTP_MAX_PARAMS]; /* path parameters, in order */
  size_t n_params;
  char path[1024];     /* a copy of the path that params point into */
  int status;          /* status sent, 0 until a reply */
  char request_id[65]; /* returned as X-Request-Id, and logged */
  bool close;          /* the answer closes the connection (its framing or body
                        * was wrong: what follows on it cannot be trusted) */
};

/* True for methods that change state (POST, PUT, PATCH, DELETE). */
bool http_method_is_write(const char *method);

/* CSRF defence for state-changing requests: an Origin that is not one of
 * the transport's public origins (Host plays no part), or Sec-Fetch-Site:
 * cross-site, is 403 "cross_site"; a request without either (not a
 * browser's cross-site request) passes.  POST, PUT and PATCH must declare
 * the route's body type (415): body_type NULL is application/json, which
 * a cross-site HTML form cannot send without a CORS preflight that Chorus
 * never approves.  A route that takes "multipart/form-data" (an upload),
 * which a form can send, rests on the Origin and Sec-Fetch-Site checks,
 * which every browser that sends a cross-site form applies, and on the
 * session cookie's SameSite=Lax, which keeps it off such a request. */
bool http_check_write_allowed(const http_request_t *req, const char *body_type,
                              chorus_error_t *err);

/* The framing rule, for every request the dispatch serves: the body's
 * length is given by at most one Content-Length value (the header may
 * repeat it, identically), a whole number.  Content-Length with
 * Transfer-Encoding, differing or malformed values, or more than one
 * Transfer-Encoding header: 400 "bad_framing"; Transfer-Encoding alone
 * (a chunked body): 411 "length_required".  On failure req->close is
 * set: after such a request the connection's bytes cannot be trusted. */
bool http_check_framing(http_request_t *req, chorus_error_t *err);

/* Reads and parses the body as a JSON object into body (which the caller
 * must not have initialised, and must bson_destroy on success).  The body
 * is read whole, exactly its Content-Length, before anything is parsed:
 * one that stops short (the client closed, or the connection guard's
 * body deadline passed: guard.h) is 408 "body_timeout" when the deadline
 * passed, else 400 "body_incomplete", and req->close is set.  An empty
 * body is 400 when `required`, else an empty document.  413 over
 * HTTP_BODY_MAX (req->close: the body is left unread); 400 for malformed
 * JSON, a non-object, or anything but whitespace after the object. */
bool http_read_json(http_request_t *req, bool required, bson_t *body,
                    chorus_error_t *err);

/* Reads the body whole, exactly its Content-Length, into *data (a
 * bson_malloc'd copy with a NUL after its len bytes; the caller frees it
 * with bson_free), as http_read_json does: 413 "body_too_large" over max
 * (req->close: the body is left unread), 408 "body_timeout" or 400
 * "body_incomplete" when it stops short (req->close).  An empty body is
 * *len 0 (*data holds just the NUL).  On failure *data is NULL. */
bool http_read_body(http_request_t *req, size_t max, char **data, size_t *len,
                    chorus_error_t *err);

/* The parse of http_read_json, on a body already read: data[0..len) (any
 * bytes, not NUL-terminated) as one JSON object with only whitespace
 * around it, into body (the caller's to bson_destroy on success).  Empty
 * or all whitespace when `required`: 400 "body_required"; empty when not:
 * an empty document (no body); anything else that is not exactly one
 * object of UTF-8 text, whitespace alone included: 400 "invalid_json".
 * Pure: safe from any thread. */
bool http_parse_json(const char *data, size_t len, bool required, bson_t *body,
                     chorus_error_t *err);

/* Takes a string field.  400 when present with another type, or absent
 * while required; *s is NULL when absent and not required. */
bool json_get_string(const bson_t *doc, const char *key, bool required,
                     const char **s, size_t *len, chorus_error_t *err);

/* A query string parameter, URL-decoded into buf.  Returns false when it
 * is absent (buf is then cleared); 400 into err (and *bad set) when longer
 * than buf or containing a NUL (%00). */
bool http_query_param(const http_request_t *req, const char *name, char *buf,
                      size_t size, bool *bad, chorus_error_t *err);

/* The client's address into buf (at least 46 bytes): the connection's
 * peer, unless that peer is one of the comma-separated addresses in
 * `trusted` (a proxy such as the nginx of scripts/nginx.conf) and
 * real_ip (its X-Real-IP header, may be NULL) is a valid IPv4 or IPv6
 * address, which is then taken instead.  A header from anyone else is
 * ignored: clients cannot choose their own address. */
void http_client_address(const char *peer, const char *real_ip,
                         const char *trusted, char *buf, size_t size);

/* True when addr is one of the comma-separated addresses of list
 * (spaces around them ignored; NULL or "" lists nothing). */
bool http_address_listed(const char *addr, const char *list);

/* http_client_address for a request, with the transport's trusted
 * proxies. */
void http_request_address(const http_request_t *req, char *buf, size_t size);

/* A cookie's value into buf; false when absent or too long. */
bool http_cookie(const http_request_t *req, const char *name, char *buf,
                 size_t size);

/* The same from a Cookie header's value (NULL: no header): civetweb's
 * parser (mg_get_cookie).  Pure: safe from any thread. */
bool http_cookie_parse(const char *header, const char *name, char *buf,
                       size_t size);

/* Sends status and doc as JSON.  extra_headers, when not NULL, is one or
 * more "Name: value\r\n" lines (e.g. Set-Cookie).  Every answer carries
 * X-Chorus-Server and X-Request-Id; a 503 carries Retry-After: 1; a
 * successful write carries what the transport's write_headers adds.  The
 * answer says Connection: close, and civetweb closes the connection after
 * it, when the client asked for that, when req->close is set, or when the
 * connection guard wants it (workers scarce: guard_wants_close).  A body
 * of HTTP_GZIP_MIN bytes or more goes gzipped (gzip.h, its fastest
 * level) to a client whose Accept-Encoding names gzip, with
 * "Vary: Accept-Encoding" either way. */
#define HTTP_GZIP_MIN 1024
void http_reply_json(http_request_t *req, int status, const bson_t *doc,
                     const char *extra_headers);

/* The same with a body already printed as JSON (json, len: borrowed). */
void http_reply_json_text(http_request_t *req, int status, const char *json,
                          size_t len, const char *extra_headers);

/* What a Range header asks of a body of size bytes (RFC 9110 14.2). */
typedef enum {
  HTTP_RANGE_NONE,          /* none, or one this server ignores (several
                               ranges, another unit, malformed): answer
                               the whole body with 200 */
  HTTP_RANGE_OK,            /* bytes [*first, *last] of the body: 206 */
  HTTP_RANGE_UNSATISFIABLE, /* a valid range past the end: 416 */
} http_range_t;

/* Parses a Range header value (NULL: none) against a body of size bytes:
 * one "bytes=a-b", "bytes=a-" or "bytes=-n" range.  Pure. */
http_range_t http_parse_range(const char *header, size_t size, size_t *first,
                              size_t *last);

/* Whether an If-None-Match header value (NULL: none) names etag (a
 * quoted strong entity tag such as "\"abc\""), by the weak comparison
 * of RFC 9110 13.1.2, or is "*".  Pure. */
bool http_etag_matches(const char *if_none_match, const char *etag);

/* Answers a GET or HEAD for an immutable body data[0..len) (borrowed) of
 * content_type whose entity tag is etag (quoted), with Cache-Control:
 * cache_control: 304 when If-None-Match names it; else the Range asked
 * (206 with Content-Range; an If-Range that is not etag asks for the
 * whole body), 416 with a Content-Range that gives len for a range past
 * the end, or 200 with the whole body; Accept-Ranges: bytes and
 * X-Content-Type-Options: nosniff always. */
void http_reply_blob(http_request_t *req, const char *content_type,
                     const char *etag, const char *cache_control,
                     const void *data, size_t len);

/* civetweb's http_error callback: the errors civetweb answers itself,
 * before any handler (a malformed request line or header, a method it
 * does not serve such as TRACE, a path it cannot decode), in the API's
 * shape {"error":{"code","message"}} as JSON, closing the connection.
 * Returns 0 (answered). */
int http_civetweb_error(struct mg_connection *conn, int status,
                        const char *errmsg);

/* Sends {"error": {"code", "message"}} with err->status (500 if unset). */
void http_reply_error(http_request_t *req, const chorus_error_t *err);

/* The same with extra header lines (e.g. Allow, Retry-After; may be
 * NULL). */
void http_reply_error_headers(http_request_t *req, const chorus_error_t *err,
                              const char *extra_headers);

#endif
