/*
 * rawws.h - WebSocket by hand over a plain TCP socket, for tests that must
 * do what no library client does: send a version other than 13, an
 * unmasked frame, a frame together with the upgrade request, fragments
 * with a ping between them; never read; never answer a ping.
 *
 * Everything blocks the caller and fails the test (cmocka) on what it
 * asserts; reads give up after a timeout.  The socket is the caller's to
 * close.
 */
#ifndef CHORUS_RAWWS_H
#define CHORUS_RAWWS_H

#include <stdbool.h>
#include <stddef.h>

/* Sec-WebSocket-Version line of a good upgrade request. */
#define TC_RAW_VERSION_13 "Sec-WebSocket-Version: 13\r\n"

/* A TCP connection to 127.0.0.1:port; rcvbuf > 0 sets SO_RCVBUF first. */
int tc_raw_tcp(int port, int rcvbuf);

/* Reads exactly len bytes; false on timeout or end of stream. */
bool tc_raw_read(int fd, void *buf, size_t len, int timeout_ms);

/* Writes all of buf (fails the test if it cannot). */
void tc_raw_write(int fd, const void *buf, size_t len);

/* "GET /ws" upgrade request for 127.0.0.1:port into buf: the
 * Sec-WebSocket-Version line `version` ("" for none), further header
 * lines `headers` ("Name: value\r\n"..., "" for none) and cookie (NULL:
 * no Cookie).  Returns its length. */
int tc_raw_upgrade_request(char *buf, size_t size, int port,
                           const char *version, const char *headers,
                           const char *cookie);

/* Reads an HTTP answer's head byte by byte (so that no frame bytes are
 * consumed) into head (NUL-terminated); returns the status, or 0. */
int tc_raw_http_head(int fd, char *head, size_t size);

/* tc_raw_http_head without keeping the head. */
int tc_raw_http_status(int fd);

/* After tc_raw_http_head read head from fd: the answer is a JSON error
 * in the API's shape ({"error":{"code","message"}}) whose code is `code`,
 * and the server then closes the connection. */
void tc_raw_expect_json_error(int fd, const char *head, const char *code);

/* A connection that has done the handshake (101 asserted) with cookie. */
int tc_raw_ws(int port, int rcvbuf, const char *cookie);

/* Sends one client frame, masked as a client must or not. */
void tc_raw_frame(int fd, int opcode, bool fin, bool masked, const void *data,
                  size_t len);

/* Reads one server frame into buf (NUL-terminated, less than cap bytes);
 * false on timeout, end of stream or a longer frame. */
bool tc_raw_read_frame(int fd, int *opcode, char *buf, size_t cap, size_t *len);

/* Reads frames until a close; returns its status code (1005 when it has
 * none), or -1 when none came. */
int tc_raw_close_code(int fd);

#endif
