/*
 * rawclient.h - HTTP over plain sockets for tests that must control every
 * byte and its timing: heads and bodies sent in pieces, ambiguous
 * framing, connections held open without a request, and connections
 * from a chosen loopback address (on Linux all of 127.0.0.0/8 is this
 * machine, so a server sees 127.0.0.2 as another client than 127.0.0.1).
 *
 * Sockets are blocking, with a 10 s receive timeout as a bound for a test
 * gone wrong.  Like the rest of tests/client these are test tools: they
 * abort the test (cmocka) on what should never fail, such as a refused
 * connect.  The caller closes each socket with close(2).
 */
#ifndef CHORUS_RAWCLIENT_H
#define CHORUS_RAWCLIENT_H

#include <stdbool.h>
#include <stddef.h>

/* A connection to 127.0.0.1:port from the loopback address src. */
int tc_raw_connect(int port, const char *src);

/* Sends text whole; false when the server has closed the connection. */
bool tc_raw_send(int fd, const char *text);

/* Reads one answer (its head and Content-Length bytes of body) into buf,
 * NUL-terminated; "" when the server closed the connection, or the
 * receive timeout passed, before any byte. */
void tc_raw_read_answer(int fd, char *buf, size_t size);

/* True when the server closes fd (end of stream or reset) within
 * wait_ms; bytes arriving before are skipped. */
bool tc_raw_closed_within(int fd, int wait_ms);

/* True when fd is open with nothing to read: the server has neither
 * answered nor closed it. */
bool tc_raw_still_open(int fd);

/* True when answer's status code is code (e.g. "408"). */
bool tc_raw_status_is(const char *answer, const char *code);

#endif
