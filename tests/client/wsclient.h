/*
 * wsclient.h - a blocking WebSocket client for tests, on libwebsockets.
 *
 * Every tc_ws_t of the process shares one lws client context and one
 * service thread, started by the first tc_ws_connect and stopped when the
 * last connection is closed with tc_ws_close.  Calls block the caller
 * (connect until the handshake is answered, recv until a message, the
 * close or the timeout) while the service thread does the I/O, answers
 * pings at once and collects every text message the server sends, in
 * order, until the test takes it.  The client never validates what it
 * sends, so tests can send invalid UTF-8, oversized and binary messages.
 *
 * A tc_ws_t may be used from one thread at a time; different connections
 * from different threads.  tc_ws_close must be called for every tc_ws_t
 * that tc_ws_connect returned (it also frees it).
 */
#ifndef CHORUS_WSCLIENT_H
#define CHORUS_WSCLIENT_H

#include <bson/bson.h>
#include <stdbool.h>
#include <stddef.h>

typedef struct tc_ws tc_ws_t;

/* Connects to ws://host:port/path?query (host a name or IPv4 address),
 * sending cookie, when not NULL, as the Cookie header's value, and no
 * Origin (a program, not a browser page).  Returns NULL when the upgrade
 * was refused or failed; *http_status (when not NULL) is then the
 * server's HTTP status (e.g. 401, 503) or 0 when there was no HTTP answer
 * at all, and 101 on success. */
tc_ws_t *tc_ws_connect(const char *url, const char *cookie, int *http_status);

/* tc_ws_connect as a browser page of origin (e.g. "http://127.0.0.1:8080")
 * does it: with that Origin header (NULL: none). */
tc_ws_t *tc_ws_connect_origin(const char *url, const char *cookie,
                              const char *origin, int *http_status);

/* Queues one text message (one frame); false when the connection is not
 * open. */
bool tc_ws_send_text(tc_ws_t *ws, const char *data, size_t len);

/* Queues one final frame with opcode binary (2) or text (1) and whatever
 * payload, for bad-frame tests; false when the connection is not open. */
bool tc_ws_send_raw_frame(tc_ws_t *ws, const void *data, size_t len,
                          bool binary);

/* The next message the server sent (messages that arrived before a close
 * are still returned), waiting up to timeout_ms; NUL-terminated and
 * allocated (bson_free).  NULL on timeout or once closed and drained. */
char *tc_ws_recv(tc_ws_t *ws, int timeout_ms);

/* True once the connection is closed; *close_code (when not NULL) is the
 * status code of the server's close frame, 1005 when it had none, 1006
 * when the connection ended without one, 1000 after our own tc_ws_close,
 * 0 while open. */
bool tc_ws_is_closed(tc_ws_t *ws, int *close_code);

/* Waits up to timeout_ms for the connection to be closed (messages that
 * arrive meanwhile stay for tc_ws_recv); true and *close_code as above
 * when it was. */
bool tc_ws_wait_closed(tc_ws_t *ws, int timeout_ms, int *close_code);

/* Closes (status 1000 when still open), waits for the connection to be
 * gone and frees ws.  NULL is fine. */
void tc_ws_close(tc_ws_t *ws);

/* ---- for integration tests (these fail the test on what they assert) ---- */

/* The WebSocket URL a page at base (http://host:port) opens, into out:
 * GET /api/config must answer 200 with {"ws_port", "ws_path"}, which are
 * relative to base's host (ws_port null: base's port too), as the web
 * client takes them. */
void tc_ws_url(const char *base, char *out, size_t size);

/* The next message, parsed (bson_destroy it), waiting up to timeout_ms;
 * NULL when none came.  Fails the test when it is not JSON. */
bson_t *tc_ws_recv_json(tc_ws_t *ws, int timeout_ms);

#endif
