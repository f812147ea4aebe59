/*
 * guard.h - the connection guard: what keeps slow, idle and greedy
 * clients from holding civetweb's workers.
 *
 * civetweb (1.15) serves each connection with one of its num_threads
 * workers for the connection's whole life: while the request head
 * arrives, while the body arrives, while the handler runs, and while a
 * kept-alive connection waits for its next request.  A client that is
 * slow on purpose, or just idle, holds a worker all that time, and a few
 * dozen such connections leave none for anybody else.  The guard bounds
 * what one client can hold and for how long:
 *
 *   - a per-address cap: at most per_address connections open at once
 *     from one client address (IPv6: one /64), counted and enforced when
 *     the connection is accepted, before it is queued for a worker.  At
 *     the cap, that address's longest-idle kept-alive connection is
 *     closed to make room; when it has none, the new connection gets a
 *     503 "too_many_connections" and is closed.  Connections from a
 *     trusted proxy (the nginx of scripts/nginx.conf) are not capped:
 *     the proxy limits each real client itself.  Nor are they closed
 *     early when workers are scarce (below): the proxy keeps a pool of
 *     them, bounded by its own configuration, and reusing one that is
 *     being closed would fail a request it cannot safely retry.
 *   - a deadline for the whole request head (head_timeout_ms from the
 *     moment a worker takes the connection) and one for the whole body
 *     (body_timeout_ms from the end of the head), whatever the pace at
 *     which the bytes arrive.  A head past its deadline is cut off
 *     (the connection is shut down: nothing is answered); a body past
 *     its deadline stops being read, and the transport answers 408 and
 *     closes (http_read_json).
 *   - kept-alive connections: closed after idle_timeout_ms without a
 *     complete next request, and, while fewer than spare_workers workers
 *     are free, closed once idle for GUARD_SCARCE_IDLE_MS; while workers
 *     are that scarce every answer also closes its connection
 *     (guard_wants_close), so waiting connections get a worker in turn.
 *
 * How: civetweb has no hook between accept() and its worker queue, so
 * this module defines accept() itself.  civetweb's calls resolve to it
 * (an executable's definition comes first in symbol lookup); for a
 * listening socket on a port registered with guard_start it admits or
 * refuses the connection, for any other socket it is the C library's
 * accept().  civetweb's init_connection, begin_request, end_request and
 * connection_close callbacks (guard_set_callbacks) follow each admitted
 * connection through its states; a watchdog thread enforces the
 * deadlines by shutting the socket down (shutdown(2) wakes the worker
 * blocked in civetweb's read at once).  A record's socket is shut down
 * only under the guard's lock and only until connection_close, which
 * civetweb calls before it closes the socket, so a socket number reused
 * later is never touched.
 *
 * Ownership: the guard copies its configuration (trusted_proxies and
 * name are copied too).  Lifecycle: guard_new; guard_set_callbacks on
 * the mg_callbacks given to mg_start; guard_start with civetweb's port
 * (before mg_start when the port is known, else right after it, before
 * any client can connect); mg_stop; guard_destroy.
 *
 * Thread-safety: every function may be called from any thread; the
 * guard's state is under one mutex, held for a few microseconds per
 * connection event.  Failure: guard_start fails (err) when the watchdog
 * thread cannot start or the port is already guarded.
 */
#ifndef CHORUS_GUARD_H
#define CHORUS_GUARD_H

#include <civetweb.h>
#include <stdbool.h>
#include <stdint.h>

#include "sync/base/error.h"

/* How long a kept-alive connection may be idle while workers are scarce
 * before it is closed: long enough for a client that has just been
 * answered to send its next request. */
#define GUARD_SCARCE_IDLE_MS 100

typedef struct guard guard_t;

typedef struct guard_config {
  const char *name;            /* the server id, for log lines */
  int workers;                 /* civetweb's num_threads */
  int per_address;             /* connections per address; 0: no cap */
  int head_timeout_ms;         /* the whole request head */
  int body_timeout_ms;         /* the whole request body */
  int idle_timeout_ms;         /* a kept-alive connection's next head */
  int spare_workers;           /* scarce below this many free workers */
  const char *trusted_proxies; /* comma-separated; never capped */
} guard_config_t;

/* What the guard has seen; the counters count since guard_new. */
typedef struct guard_stats {
  int64_t open;          /* connections open (accepted, not closed) */
  int64_t busy;          /* of which holding a worker */
  int64_t refused;       /* refused over the per-address cap */
  int64_t evicted;       /* idle, closed to make room for their address */
  int64_t head_timeouts; /* heads cut off at their deadline */
  int64_t body_timeouts; /* bodies cut off at their deadline */
  int64_t idle_timeouts; /* kept-alive connections closed idle */
  int64_t idle_scarce;   /* ... closed early while workers were scarce */
  int64_t unseen;        /* connections accept() did not see (unguarded) */
} guard_stats_t;

/* What http_read_json learns of a connection's body. */
typedef enum {
  GUARD_BODY_UNGUARDED, /* no guard follows this connection */
  GUARD_BODY_OPEN,      /* before its deadline */
  GUARD_BODY_EXPIRED,   /* past it: the read side has been shut down */
} guard_body_t;

guard_t *guard_new(const guard_config_t *cfg);

/* Sets the init_connection, begin_request, end_request and
 * connection_close members of cb (the others are left alone). */
void guard_set_callbacks(struct mg_callbacks *cb);

/* Guards the connections accepted on port and starts the watchdog. */
bool guard_start(guard_t *g, int port, chorus_error_t *err);

/* Stops the watchdog and frees everything; after mg_stop.  NULL is
 * fine. */
void guard_destroy(guard_t *g);

void guard_get_stats(guard_t *g, guard_stats_t *out);

/* The request's body has been read whole: from here on its deadline
 * does not apply. */
void guard_body_done(const struct mg_connection *conn);

guard_body_t guard_body_status(const struct mg_connection *conn);

/* True when the answer to the current request should close the
 * connection (workers were scarce when the request began). */
bool guard_wants_close(const struct mg_connection *conn);

#endif
