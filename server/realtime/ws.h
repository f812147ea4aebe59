/*
 * ws.h - the WebSocket server: many thousands of long-lived connections
 * that the rest of chorusd pushes text messages to.
 *
 * `threads` libwebsockets (lws) contexts ("loops"), each with ONE service
 * thread, all owned by the ws_server_t, serve the connections of one
 * listening port: one acceptor thread accepts every connection and deals
 * them out to the loops in turn, and a loop serves a connection all its
 * life.  Debian's lws serves a context from one thread only, and fanning
 * an event out to 10,000 connections is 10,000 send(2) calls, so the
 * loops share that work.  The rest of the server never sees lws: a
 * connection is a ws_conn_id_t (unique in the process, never reused) plus
 * an opaque user_data pointer that the ws_callbacks_t set at the upgrade
 * and get back in every later callback.
 *
 * Threads.  A connection's callbacks run on its loop's service thread,
 * one at a time and in order; callbacks of different connections may run
 * at the same time on different loops, so state the callbacks share needs
 * a lock.  Callbacks must not block (except on_upgrade, briefly).
 * ws_server_send, ws_server_close and ws_server_connections may be called
 * from any thread, including from inside a callback; they find the
 * connection's loop from its id, the connection in that loop's
 * mutex-protected map, append to its queue under the lock and wake the
 * loop (lws_cancel_service, at most once per wake-up), which asks lws for
 * a writable callback and writes one queued message per
 * LWS_CALLBACK_SERVER_WRITEABLE.  ws_server_stop must not be called from
 * a callback (it joins the service threads).
 *
 * Cost.  Per connection: lws's own state (the wsi, its ws struct and a
 * 1 KB receive buffer), a small ws_conn_t, a map slot and the queued
 * messages, each allocated on demand (LWS_PRE + length bytes) and freed
 * once written.  Inbound messages are passed on from lws's buffer when
 * they arrive in one piece and are otherwise reassembled in a buffer that
 * lives only until the message is complete.  Measured (Release build):
 * 2.3 KB RSS per idle connection, 27 MB for 10,000; those 10,000 pinged
 * every 20 s take 3% of a core.  lws 4.1 serves them with poll(2), whose
 * cost per wake-up grows with the number of connections: hence one ping
 * sweep a second rather than lws's per-connection ping timers (80% of a
 * core for the same 10,000).
 *
 * Protocol.  Any path is accepted ("/ws" by convention); a client that
 * names no subprotocol gets the only one.  Text messages only, at most
 * WS_MESSAGE_MAX bytes each, reassembled from fragments: larger ones close
 * the connection with 1009, binary ones with 1003, invalid UTF-8 with 1007
 * (lws validates as it reads).  No compression extension.  A connection
 * whose peer has sent nothing (no message, no pong) for ping_interval_s is
 * pinged, and dropped when it has not answered within another
 * ping_interval_s (checked once a second).  A connection whose
 * queue would exceed queue_max messages is too slow: its queue is dropped
 * and it is closed with 1008 "too slow" (and cut off after a few seconds
 * if it cannot even take the close frame).  A client frame that is not
 * masked (RFC 6455 5.1) closes the connection with 1002 "frame not
 * masked" without being delivered (lws 4.1 does not check: ws_mask.h).
 *
 * The upgrade.  A plain HTTP request gets 404.  An upgrade gets, in this
 * order: 400 when Upgrade is not "websocket"; 426 with
 * "Sec-WebSocket-Version: 13" when Sec-WebSocket-Version is not 13 or is
 * missing (RFC 6455 4.4; lws 4.1 would take any as 13); 403 when it has
 * an Origin that origin_allowed refuses ("null" included; without an
 * Origin, which every browser sends, it is not a browser and passes);
 * 503 beyond max_connections or during shutdown; 401 when on_upgrade
 * refuses it; else 101.
 *
 * Lifetimes.  For every upgrade that on_upgrade accepts, on_close is
 * called exactly once, after on_open or, if the handshake then failed,
 * without it; user_data belongs to the callbacks and is never touched
 * here.  A refused upgrade gets no other callback.
 */
#ifndef CHORUS_WS_H
#define CHORUS_WS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sync/base/error.h"

typedef struct ws_server ws_server_t;
typedef uint64_t ws_conn_id_t; /* unique per process, never reused; never 0 */

typedef struct ws_callbacks {
  void *ctx;
  /* At the upgrade request, on the service thread: decide from the Cookie
   * header (NULL when absent) and the query string (NULL when absent;
   * lws has URL-decoded each "name=value" argument and they are joined
   * again with '&', e.g. "since=42") whether to accept.  Return true to
   * accept (the connection then opens), false to refuse the upgrade with
   * HTTP 401.  *user_data (NULL on entry) may be set; it is handed back in
   * on_open, on_message and on_close.  May block briefly (a cached session
   * lookup).  Required. */
  bool (*on_upgrade)(void *ctx, ws_conn_id_t id, const char *cookie,
                     const char *query, void **user_data);
  /* After the handshake; from now on ws_server_send finds the connection.
   * Must not block.  Optional. */
  void (*on_open)(void *ctx, ws_conn_id_t id, void *user_data);
  /* A complete text message: valid UTF-8, at most WS_MESSAGE_MAX bytes,
   * not NUL-terminated.  data is valid only during the call.  Must not
   * block (queue work elsewhere).  Optional. */
  void (*on_message)(void *ctx, ws_conn_id_t id, void *user_data,
                     const char *data, size_t len);
  /* The connection is gone, for any reason; user_data is not used again
   * after this.  Optional. */
  void (*on_close)(void *ctx, ws_conn_id_t id, void *user_data);
} ws_callbacks_t;

typedef struct ws_config {
  const char *host;    /* listen address, e.g. "127.0.0.1"; NULL or
                          "0.0.0.0": every interface */
  int port;            /* 0: do not start (ws_server_start returns NULL
                          with err cleared) */
  size_t queue_max;    /* outgoing messages queued per connection before
                          it is dropped as too slow (0: 1024) */
  int ping_interval_s; /* ping connections silent this long; drop those
                          that have not answered another this long later
                          (0: 20) */
  int threads;         /* service loops, 1..16 (0: one per online CPU,
                          at most 16) */
  int max_connections; /* upgrades beyond this get 503 (0: 20000); the
                          process's open-file limit must allow them */
  /* Whether a page of this origin (an upgrade's Origin header, as sent)
   * may open a connection; false is 403.  Called on a service thread;
   * must be thread-safe.  NULL: every origin may. */
  bool (*origin_allowed)(void *ctx, const char *origin);
  void *origin_ctx;
} ws_config_t;

/* Inbound limit; larger messages close that connection with 1009. */
#define WS_MESSAGE_MAX 4096

/* Status codes for ws_server_close (RFC 6455, section 7.4.1). */
#define WS_CLOSE_NORMAL 1000
#define WS_CLOSE_GOING_AWAY 1001
#define WS_CLOSE_POLICY 1008

/* Binds the port and starts the service threads and the acceptor; the
 * callbacks (copied) may run before this returns.  500
 * "ws_listen_failed" when the port cannot be bound, "ws_bad_config",
 * "ws_start_failed" or "ws_thread_failed" when the server cannot
 * start. */
ws_server_t *ws_server_start(const ws_config_t *cfg, const ws_callbacks_t *cb,
                             chorus_error_t *err);

/* Thread-safe from any thread: queues one text message (copied) for a
 * connection.  False when the connection is unknown, closing or closed,
 * or when its queue is full (it is then closed with 1008 "too slow"). */
bool ws_server_send(ws_server_t *ws, ws_conn_id_t id, const char *data,
                    size_t len);

/* Thread-safe: closes a connection with a status code (1000..4999) and a
 * reason (at most 123 bytes are sent; NULL for none), after the messages
 * already queued for it.  Unknown or closing ids are ignored. */
void ws_server_close(ws_server_t *ws, ws_conn_id_t id, int code,
                     const char *reason);

/* ws_server_close, but at once: the messages still queued for the
 * connection are dropped, not sent (a client that must get nothing
 * more, such as one whose session ended). */
void ws_server_close_now(ws_server_t *ws, ws_conn_id_t id, int code,
                         const char *reason);

/* Thread-safe, but not from a callback: stops accepting, closes every
 * connection with 1001 "going away" (waiting up to 2 s for the close
 * handshakes), stops the service threads, calls on_close for every
 * connection still known, and frees everything.  NULL is fine. */
void ws_server_stop(ws_server_t *ws);

/* Thread-safe: open connections (from on_open until on_close). */
size_t ws_server_connections(ws_server_t *ws);

#endif
