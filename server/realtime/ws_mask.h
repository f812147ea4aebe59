/*
 * ws_mask.h - RFC 6455 section 5.1 for ws.c: "a server MUST close the
 * connection upon receiving a frame that is not masked".
 *
 * libwebsockets 4.1 (Debian's) does not: it takes an unmasked frame's
 * payload as it stands (lws closes with 1002 "client unmasked" only from
 * a much later release), and it shows its user neither a frame's mask
 * bit (no accessor; the bit is in its private per-connection state) nor
 * the bytes it reads (no hook between its recv(2) and its frame parser).
 * So this module watches those bytes where they come from: it defines
 * recv(), which the process's libraries then call instead of libc's
 * (the executable's definition comes first in symbol lookup), and which
 * calls recvfrom(2) and, for a socket the calling thread watches, runs
 * the bytes through a frame-header parser that sees every header's mask
 * bit.  Any other socket, and every thread that watches none (civetweb's
 * workers, the database driver's, a test's own clients), costs one
 * thread-local load on top of the system call.  A program that links
 * chorus_core and calls recv() itself (unit.test_dispatch) gets this
 * definition too, from the archive before libc, to the same effect.
 *
 * A watch belongs to one thread (a loop's service thread, which is the
 * only thread lws reads that loop's sockets on): it starts before lws
 * adopts the socket and ends when lws destroys the connection.  Until
 * ws_mask_frames, the bytes are HTTP: the parser only notes where each
 * request head ends ("\r\n\r\n") and keeps what followed the last one in
 * the same read, which a client may have sent before our 101 (RFC 6455
 * says it must wait; lws takes such bytes as frames).  From
 * ws_mask_frames on, the bytes are frames, starting with those kept.
 * The first frame whose mask bit is clear makes the watch bad: recv
 * returns only the bytes before that frame (lws never parses it), every
 * later read of that socket is discarded (recv says EAGAIN, so lws waits
 * for the close) and on_bad is called once, on this thread, from inside
 * recv or ws_mask_frames: it must not call lws, only ask for the close.
 * More than WS_MASK_KEEP_MAX bytes before the 101 count as unmasked.
 */
#ifndef CHORUS_WS_MASK_H
#define CHORUS_WS_MASK_H

#include <stdbool.h>
#include <stddef.h>

#define WS_MASK_KEEP_MAX 4096

typedef struct ws_mask ws_mask_t;

/* Starts watching socket fd on the calling thread.  The caller owns the
 * watch and ends it with ws_mask_unwatch on the same thread. */
ws_mask_t *ws_mask_watch(int fd);

/* The upgrade is done: the bytes after the last request head are
 * frames.  on_bad(ctx) is called the first time one is not masked (also
 * from here, for the bytes kept from before the 101).  Returns false when
 * those kept bytes were bad: lws has them already and will parse them, so
 * the caller must deliver nothing more of this connection. */
bool ws_mask_frames(ws_mask_t *m, void (*on_bad)(void *ctx), void *ctx);

/* What recv() does with n bytes it read from m's socket: runs them
 * through the parser (request heads before ws_mask_frames, frames after)
 * and returns how many lws may have: n, or fewer (those before the first
 * unmasked frame; 0 once the watch is bad, when on_bad has been called).
 * A watch of fd -1 is in no table and sees only what this is given. */
size_t ws_mask_scan(ws_mask_t *m, const void *buf, size_t n);

/* Stops watching and frees m (NULL is fine); on the thread that watched.
 * Before fd is reused: at the latest when lws destroys the connection,
 * which is on this thread right after it closes the socket. */
void ws_mask_unwatch(ws_mask_t *m);

#endif
