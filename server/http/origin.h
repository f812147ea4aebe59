/*
 * origin.h - the public origins: the pages allowed to change state and
 * to open WebSockets.
 *
 * An origin is "scheme://host[:port]" (RFC 6454), what a browser sends in
 * the Origin header of a state-changing request and of every WebSocket
 * upgrade.  An origins_t is a fixed list of them; a request's Origin is
 * allowed when it names one of them.  Comparison is on a canonical form:
 * scheme and host in lower case, the port always written (80 for http,
 * 443 for https when absent), so "http://LocalHost" and
 * "http://localhost:80" are the same origin.  Only http and https with a
 * host and an optional port are origins here: "null", a path, a query,
 * user information or an empty host never are (and never match).
 *
 * The list is configuration (--public-origin), or by default the
 * addresses the server's own page is served from (origins_default).  It
 * is never derived from a request: the Host header is the client's to
 * choose, and a page of another site whose name resolves to this server
 * (DNS rebinding) sends a Host and an Origin that agree.
 *
 * Thread-safety: immutable after creation; any thread may ask.
 */
#ifndef CHORUS_ORIGIN_H
#define CHORUS_ORIGIN_H

#include <stdbool.h>
#include <stddef.h>

#include "sync/base/error.h"

/* A canonical origin ("https://" + 253-byte name + ":65535") fits. */
#define ORIGIN_MAX 280

typedef struct origins origins_t;

/* The comma-separated origins in list (spaces around entries ignored;
 * one trailing "/" allowed, as in a pasted URL).  At least one.  NULL
 * with 400 "bad_config" naming the first entry that is not an origin. */
origins_t *origins_parse(const char *list, chorus_error_t *err);

/* The origins a page served by this server directly has: http://H:port
 * for host H the server listens on.  For a loopback host (127.x.x.x,
 * ::1, "localhost") both "localhost" and the loopback address the server
 * listens on; for every interface ("", "0.0.0.0", "::") "localhost",
 * 127.0.0.1 and each address of the machine's network interfaces
 * (getifaddrs: IPv4, and IPv6 other than link-local for "::"); for any
 * other address or name, that one.  A host name is taken as written:
 * name the pages' origins with --public-origin when they are not these. */
origins_t *origins_default(const char *host, int port, chorus_error_t *err);

/* Whether origin (an Origin header's value) is one of o's. */
bool origins_allow(const origins_t *o, const char *origin);

/* The list, canonical, comma-separated, into buf (for the start-up log). */
void origins_describe(const origins_t *o, char *buf, size_t size);

/* NULL is fine. */
void origins_destroy(origins_t *o);

/* Writes the canonical form of origin into out (ORIGIN_MAX bytes); false
 * when it is not an origin as above. */
bool origin_canonical(const char *origin, char out[ORIGIN_MAX]);

#endif
