/*
 * ws_mask.c - see ws_mask.h.
 *
 * Each thread that watches sockets has its own table, fd -> watch, in
 * thread-local storage: recv() on any thread looks only at its own, so
 * no lock is taken and a socket number reused by another thread is
 * never mistaken for a watched one.  The table is freed when the
 * thread's last watch ends.
 */
#undef _FORTIFY_SOURCE /* its recv() is an inline wrapper: we define ours */
#include "server/realtime/ws_mask.h"

#include <bson/bson.h>
#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/types.h>

typedef enum {
  S_HTTP,    /* request heads; `tail` keeps what followed the last one */
  S_HEAD0,   /* a frame's first byte (FIN, RSV, opcode) */
  S_HEAD1,   /* its second: MASK bit and 7-bit length */
  S_LENGTH,  /* `need` more bytes of a 16- or 64-bit length */
  S_KEY,     /* `need` more bytes of the masking key */
  S_PAYLOAD, /* `remaining` more payload bytes */
} state_t;

struct ws_mask {
  int fd;
  state_t state;
  unsigned need;
  uint64_t remaining;
  int crlf;      /* S_HTTP: how much of "\r\n\r\n" was just seen */
  char *tail;    /* S_HTTP: bytes after the last head end, in one read */
  size_t n_tail; /* > WS_MASK_KEEP_MAX: too many (tail is then NULL) */
  bool bad;
  void (*on_bad)(void *ctx);
  void *ctx;
};

static _Thread_local ws_mask_t **table; /* by fd */
static _Thread_local size_t table_cap, table_count;

ws_mask_t *ws_mask_watch(int fd) {
  ws_mask_t *m = bson_malloc0(sizeof *m);
  m->fd = fd;
  m->state = S_HTTP;
  if (fd < 0) {
    return m; /* nothing to watch; ws_mask_unwatch still frees it */
  }
  if ((size_t)fd >= table_cap) {
    size_t cap = table_cap ? table_cap : 64;
    while (cap <= (size_t)fd) {
      cap *= 2;
    }
    table = bson_realloc(table, cap * sizeof *table);
    memset(table + table_cap, 0, (cap - table_cap) * sizeof *table);
    table_cap = cap;
  }
  if (!table[fd]) {
    table_count++;
  }
  table[fd] = m; /* a stale watch of a reused number loses its place */
  return m;
}

void ws_mask_unwatch(ws_mask_t *m) {
  if (!m) {
    return;
  }
  if (m->fd >= 0 && (size_t)m->fd < table_cap && table[m->fd] == m) {
    table[m->fd] = NULL;
    if (--table_count == 0) {
      bson_free(table);
      table = NULL;
      table_cap = 0;
    }
  }
  bson_free(m->tail);
  bson_free(m);
}

static void mark_bad(ws_mask_t *m) {
  if (!m->bad) {
    m->bad = true;
    if (m->on_bad) {
      m->on_bad(m->ctx);
    }
  }
}

/* Runs len bytes of frames through the parser; returns how many come
 * before the first frame that is not masked (len when all are). */
static size_t scan_frames(ws_mask_t *m, const unsigned char *p, size_t len) {
  size_t frame_start = 0; /* of the frame being parsed, in p */
  for (size_t i = 0; i < len;) {
    unsigned char c = p[i];
    switch (m->state) {
    case S_HTTP:
      return len; /* not frames yet (ws_mask_frames switches) */
    case S_HEAD0:
      frame_start = i;
      m->state = S_HEAD1;
      i++;
      break;
    case S_HEAD1:
      if (!(c & 0x80)) {
        mark_bad(m);
        return frame_start; /* 0 when its first byte came in an earlier read */
      }
      m->remaining = c & 0x7f;
      m->state = m->remaining == 126 || m->remaining == 127 ? S_LENGTH : S_KEY;
      m->need = m->remaining == 126 ? 2 : m->remaining == 127 ? 8 : 4;
      if (m->state == S_LENGTH) {
        m->remaining = 0;
      }
      i++;
      break;
    case S_LENGTH:
      m->remaining = m->remaining << 8 | c;
      i++;
      if (--m->need == 0) {
        m->state = S_KEY;
        m->need = 4;
      }
      break;
    case S_KEY:
      i++;
      if (--m->need == 0) {
        m->state = m->remaining ? S_PAYLOAD : S_HEAD0;
      }
      break;
    case S_PAYLOAD: {
      uint64_t take = len - i < m->remaining ? len - i : m->remaining;
      i += (size_t)take;
      m->remaining -= take;
      if (m->remaining == 0) {
        m->state = S_HEAD0;
      }
      break;
    }
    }
  }
  return len;
}

/* HTTP bytes: finds the ends of request heads; what follows the last one
 * in this read is kept for ws_mask_frames. */
static void scan_http(ws_mask_t *m, const unsigned char *p, size_t len) {
  static const char end[] = "\r\n\r\n";
  size_t after = SIZE_MAX;
  for (size_t i = 0; i < len; i++) {
    if (p[i] == (unsigned char)end[m->crlf]) {
      if (++m->crlf == 4) {
        m->crlf = 0;
        after = i + 1;
      }
    } else {
      m->crlf = p[i] == '\r' ? 1 : 0;
    }
  }
  if (after == SIZE_MAX) {
    return; /* inside a head: nothing to keep */
  }
  bson_free(m->tail);
  m->tail = NULL;
  m->n_tail = len - after;
  if (m->n_tail > 0 && m->n_tail <= WS_MASK_KEEP_MAX) {
    m->tail = bson_malloc(m->n_tail);
    memcpy(m->tail, p + after, m->n_tail);
  }
}

bool ws_mask_frames(ws_mask_t *m, void (*on_bad)(void *ctx), void *ctx) {
  m->on_bad = on_bad;
  m->ctx = ctx;
  m->state = S_HEAD0;
  if (m->n_tail > WS_MASK_KEEP_MAX) {
    mark_bad(m);
  } else if (m->n_tail) {
    scan_frames(m, (const unsigned char *)m->tail, m->n_tail);
  }
  bson_free(m->tail);
  m->tail = NULL;
  m->n_tail = 0;
  return !m->bad;
}

size_t ws_mask_scan(ws_mask_t *m, const void *buf, size_t n) {
  if (m->bad) {
    return 0;
  }
  if (m->state == S_HTTP) {
    scan_http(m, buf, n);
    return n;
  }
  return scan_frames(m, buf, n);
}

/* The filter lws's reads go through; see ws_mask.h. */
ssize_t recv(int fd, void *buf, size_t len, int flags) {
  ssize_t n = recvfrom(fd, buf, len, flags, NULL, NULL);
  if (table_count == 0 || n <= 0 || fd < 0 || (size_t)fd >= table_cap ||
      (flags & MSG_PEEK)) {
    return n;
  }
  ws_mask_t *m = table[fd];
  if (!m) {
    return n;
  }
  size_t good = ws_mask_scan(m, buf, (size_t)n);
  if (good == 0 && m->bad) {
    errno = EAGAIN; /* discarded: the connection is closing */
    return -1;
  }
  return (ssize_t)good;
}
