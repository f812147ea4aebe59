/*
 * ws.c - the WebSocket server on libwebsockets; see ws.h.
 *
 * Loops.  Debian's libwebsockets is built with LWS_MAX_SMP=1: one lws
 * context is served by one thread.  Pushing an event to 10,000 clients is
 * 10,000 send(2) calls, so one thread is the bottleneck of a fan-out.  The
 * server therefore runs `threads` independent loops (ws_loop_t), each an
 * lws context without a listener, with its own service thread, lock, id
 * map and pending list.  One acceptor thread owns the listening socket:
 * it accepts connections and deals them out to the loops in turn; a loop
 * adopts the socket (lws_adopt_socket_vhost) on its own thread, and lws
 * then does the HTTP upgrade as if it had accepted it.  (lws 4.1's
 * LWS_SERVER_OPTION_ALLOW_LISTEN_SHARE does not set SO_REUSEPORT on Linux,
 * so the contexts cannot each listen on the port.)  A connection lives on
 * one loop all its life; the loop's index is in the low WS_LOOP_BITS bits
 * of its id, so ws_server_send finds the loop without a shared lock.
 *
 * Ownership.  The ws_server_t owns the loops; a loop owns its lws context,
 * its service thread, its id map and every ws_conn_t on it.  A ws_conn_t
 * is created when the loop adopts a socket, with the watch of its bytes
 * (ws_mask.h), hangs off its wsi as lws's "opaque user data" (the
 * per-session user space is reallocated when lws binds the ws protocol,
 * the opaque pointer is not), becomes a WebSocket connection (an id,
 * `accepted`) when on_upgrade accepts (LWS_CALLBACK_HTTP_CONFIRM_UPGRADE),
 * enters the map at LWS_CALLBACK_ESTABLISHED and is freed, with its queue
 * and its watch, at LWS_CALLBACK_WSI_DESTROY, which lws raises exactly
 * once for every wsi however it dies (also from lws_context_destroy).  Only the
 * loop's service thread creates and frees its connections, so it may use
 * a ws_conn_t without the lock; other threads reach one only through the
 * map, under the loop's lock.
 *
 * The loop lock (loop->lock) guards: the map, each connection's queue and
 * close request, the list of ids waiting for the service thread
 * (pending), the accepted sockets waiting to be adopted (incoming),
 * `signalled`, `stopping` and `ctx_alive`.  It is never held
 * while a user callback runs.  lws functions other than
 * lws_cancel_service are called on the loop's service thread only (and
 * lws_create_context before it starts).  Server-wide state is immutable
 * after start, or atomic (the connection count against max_connections).
 */
#define _GNU_SOURCE /* accept4 */
#include "server/realtime/ws.h"

#include <arpa/inet.h>
#include <errno.h>
#include <libwebsockets.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "server/realtime/ws_mask.h"

#define WS_DEFAULT_QUEUE_MAX 1024
#define WS_DEFAULT_PING_S 20
#define WS_DEFAULT_MAX_CONNECTIONS 20000
/* lws's per-connection receive buffer; longer messages arrive in pieces. */
#define WS_RX_CHUNK 1024
/* Bytes handed to one send(2) at most. */
#define WS_TX_PACKET 16384
/* A connection asked to close that cannot even take the close frame. */
#define WS_CLOSE_GRACE_S 3
/* How often the ping sweep runs. */
#define WS_SWEEP_US LWS_US_PER_SEC
/* How long ws_server_stop waits for close handshakes. */
#define WS_STOP_GRACE_US (2 * LWS_US_PER_SEC)
#define WS_REASON_MAX 123 /* a close frame's payload is at most 125 bytes */

typedef struct ws_msg {
  struct ws_msg *next;
  size_t len;
  unsigned char buf[]; /* LWS_PRE bytes for lws, then the payload */
} ws_msg_t;

typedef struct ws_conn {
  ws_conn_id_t id; /* 0 until the upgrade is accepted */
  struct lws *wsi; /* set once established */
  void *user_data;
  bool accepted;   /* on_upgrade said yes: counted, gets on_close */
  ws_mask_t *mask; /* the socket's bytes, for unmasked frames */
  /* Under ws->lock. */
  ws_msg_t *head, *tail;
  size_t queued;
  int close_code;     /* nonzero: a close was requested */
  char *close_reason; /* NULL or at most WS_REASON_MAX bytes */
  bool drop_queue;    /* close without sending what is queued */
  bool pending;       /* id is in ws->pending */
  /* Service thread only. */
  bool close_armed;   /* grace timeout set for the requested close */
  bool ping_due;      /* write a ping at the next WRITEABLE */
  lws_usec_t last_rx; /* when the peer last sent a message or a pong */
  lws_usec_t ping_at; /* when the outstanding ping was asked for; 0: none */
  bool refuse_rx;     /* sent an unmasked frame with its upgrade request */
  char *rx;           /* a message being reassembled */
  size_t rx_len;
} ws_conn_t;

/* Loops per server at most; their index is in the low bits of an id. */
#define WS_LOOP_BITS 4
#define WS_LOOPS_MAX (1 << WS_LOOP_BITS)

typedef struct ws_loop {
  ws_server_t *ws;
  ws_conn_id_t index;
  struct lws_context *ctx;
  pthread_t thread;
  bool thread_started;

  pthread_mutex_t lock;
  ws_conn_t **slots; /* open addressing, linear probing, power of two */
  size_t cap, count;
  ws_conn_id_t *pending; /* ids the service thread must look at */
  size_t n_pending, cap_pending;
  int *incoming; /* accepted sockets for the service thread to adopt */
  size_t n_incoming, cap_incoming;
  bool signalled; /* a wake-up is on its way to the service thread */
  bool stopping;
  bool ctx_alive;

  /* Service thread only. */
  struct lws_vhost *vhost;
  int n_accepted; /* accepted upgrades on this loop not yet destroyed */
  bool stop_begun;
  bool loop_exit;
  lws_usec_t stop_deadline;
  lws_sorted_usec_list_t stop_tick;
  lws_sorted_usec_list_t ping_tick;
  lws_sorted_usec_list_t adopt_tick;
} ws_loop_t;

struct ws_server {
  /* Immutable after ws_server_start. */
  ws_callbacks_t cb;
  size_t queue_max;
  int max_connections;
  lws_usec_t ping_us;
  bool (*origin_allowed)(void *ctx, const char *origin);
  void *origin_ctx;
  lws_retry_bo_t no_validity; /* all zero: lws's own pings are off */
  struct lws_protocols protocols[2];
  size_t n_loops;
  ws_loop_t loops[WS_LOOPS_MAX];

  /* The acceptor thread: owns listen_fd; stop_fd (an eventfd) stops it. */
  int listen_fd, stop_fd;
  pthread_t acceptor;
  bool acceptor_started;

  _Atomic int n_accepted; /* accepted upgrades not yet destroyed, all loops */
};

/* Ids are (sequence << WS_LOOP_BITS) | loop index. */
static _Atomic ws_conn_id_t next_conn_seq = 1;

/* ------------------------------------------------------------------ */
/* the id map (callers hold loop->lock)                                  */
/* ------------------------------------------------------------------ */

static size_t map_home(const ws_loop_t *loop, ws_conn_id_t id) {
  uint64_t h = id * UINT64_C(0x9E3779B97F4A7C15);
  return (size_t)(h ^ (h >> 32)) & (loop->cap - 1);
}

static ws_conn_t *map_find(const ws_loop_t *loop, ws_conn_id_t id) {
  if (loop->count == 0) {
    return NULL;
  }
  for (size_t i = map_home(loop, id);; i = (i + 1) & (loop->cap - 1)) {
    ws_conn_t *c = loop->slots[i];
    if (!c || c->id == id) {
      return c;
    }
  }
}

static void map_place(ws_loop_t *loop, ws_conn_t *conn) {
  size_t i = map_home(loop, conn->id);
  while (loop->slots[i]) {
    i = (i + 1) & (loop->cap - 1);
  }
  loop->slots[i] = conn;
}

static void map_insert(ws_loop_t *loop, ws_conn_t *conn) {
  if ((loop->count + 1) * 2 > loop->cap) {
    ws_conn_t **old = loop->slots;
    size_t old_cap = loop->cap;
    loop->cap = old_cap ? old_cap * 2 : 64;
    loop->slots = bson_malloc0(loop->cap * sizeof *loop->slots);
    for (size_t i = 0; i < old_cap; i++) {
      if (old[i]) {
        map_place(loop, old[i]);
      }
    }
    bson_free(old);
  }
  map_place(loop, conn);
  loop->count++;
}

static void map_remove(ws_loop_t *loop, ws_conn_id_t id) {
  size_t mask = loop->cap - 1;
  size_t i = map_home(loop, id);
  for (;; i = (i + 1) & mask) {
    if (!loop->slots[i]) {
      return;
    }
    if (loop->slots[i]->id == id) {
      break;
    }
  }
  loop->slots[i] = NULL;
  loop->count--;
  /* Backward-shift deletion: move up every later entry of the run whose
   * home is not cyclically in (i, j]. */
  for (size_t j = (i + 1) & mask; loop->slots[j]; j = (j + 1) & mask) {
    size_t k = map_home(loop, loop->slots[j]->id);
    bool stays = (i <= j) ? (i < k && k <= j) : (i < k || k <= j);
    if (!stays) {
      loop->slots[i] = loop->slots[j];
      loop->slots[j] = NULL;
      i = j;
    }
  }
}

/* ------------------------------------------------------------------ */
/* queues and wake-ups (callers hold loop->lock)                         */
/* ------------------------------------------------------------------ */

/* Detaches a connection's queue; the caller frees it after unlocking. */
static ws_msg_t *take_queue_locked(ws_conn_t *conn) {
  ws_msg_t *q = conn->head;
  conn->head = conn->tail = NULL;
  conn->queued = 0;
  return q;
}

static void free_queue(ws_msg_t *m) {
  while (m) {
    ws_msg_t *next = m->next;
    bson_free(m);
    m = next;
  }
}

static void wake_locked(ws_loop_t *loop) {
  if (!loop->signalled && loop->ctx_alive) {
    loop->signalled = true;
    lws_cancel_service(loop->ctx);
  }
}

static void mark_pending_locked(ws_loop_t *loop, ws_conn_t *conn) {
  if (conn->pending) {
    return;
  }
  if (loop->n_pending == loop->cap_pending) {
    loop->cap_pending = loop->cap_pending ? loop->cap_pending * 2 : 64;
    loop->pending =
        bson_realloc(loop->pending, loop->cap_pending * sizeof *loop->pending);
  }
  loop->pending[loop->n_pending++] = conn->id;
  conn->pending = true;
  wake_locked(loop);
}

static void request_close_locked(ws_loop_t *loop, ws_conn_t *conn, int code,
                                 const char *reason, bool drop_queue) {
  if (conn->close_code) {
    return;
  }
  conn->close_code = code;
  conn->drop_queue = drop_queue;
  if (reason && *reason) {
    size_t n = strlen(reason);
    if (n > WS_REASON_MAX) {
      n = WS_REASON_MAX;
    }
    conn->close_reason = bson_malloc(n + 1);
    memcpy(conn->close_reason, reason, n);
    conn->close_reason[n] = '\0';
  }
  mark_pending_locked(loop, conn);
}

/* ------------------------------------------------------------------ */
/* the service thread                                                  */
/* ------------------------------------------------------------------ */

static ws_loop_t *loop_of(struct lws *wsi) {
  return lws_context_user(lws_get_context(wsi));
}

/* Makes lws send a close frame with code and reason once the callback
 * returns -1. */
static int close_with(struct lws *wsi, int code, const char *reason) {
  lws_close_reason(wsi, (enum lws_close_status)code,
                   (unsigned char *)(uintptr_t)reason,
                   reason ? strlen(reason) : 0);
  return -1;
}

/* Answers an upgrade request with an HTTP error instead, in the API's
 * error shape ({"error":{"code","message"}}, docs/API.md) as the HTTP
 * port answers, not lws's HTML page; headers: further header lines
 * ("Name: value\r\n"...), which name the connection's fate (lws closes
 * it once the callback returns).  The message must need no JSON
 * escaping. */
static int refuse_upgrade(struct lws *wsi, int status, const char *reason,
                          const char *headers, const char *code,
                          const char *message) {
  char body[256];
  int body_len = snprintf(body, sizeof body,
                          "{\"error\":{\"code\":\"%s\",\"message\":\"%s\"}}\n",
                          code, message);
  unsigned char buf[LWS_PRE + 640];
  unsigned char *start = buf + LWS_PRE;
  int n = snprintf((char *)start, sizeof buf - LWS_PRE,
                   "HTTP/1.1 %d %s\r\n%s"
                   "Content-Type: application/json\r\n"
                   "Content-Length: %d\r\n\r\n%s",
                   status, reason, headers, body_len, body);
  if (body_len <= 0 || (size_t)body_len >= sizeof body || n <= 0 ||
      (size_t)n >= sizeof buf - LWS_PRE ||
      lws_write(wsi, start, (size_t)n, LWS_WRITE_HTTP) != n) {
    return -1;
  }
  return 1;
}

/* A header's value, allocated; NULL when absent or unreadable. */
static char *copy_header(struct lws *wsi, enum lws_token_indexes h) {
  int n = lws_hdr_total_length(wsi, h);
  if (n <= 0) {
    return NULL;
  }
  char *s = bson_malloc((size_t)n + 1);
  if (lws_hdr_copy(wsi, s, n + 1, h) < 0) {
    bson_free(s);
    return NULL;
  }
  return s;
}

/* The query string: lws keeps each argument as a fragment. */
static char *copy_query(struct lws *wsi) {
  int total = lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_URI_ARGS);
  if (total <= 0) {
    return NULL;
  }
  char *s = bson_malloc((size_t)total + 1);
  size_t used = 0;
  for (int i = 0;; i++) {
    int flen = lws_hdr_fragment_length(wsi, WSI_TOKEN_HTTP_URI_ARGS, i);
    if (flen < 0 || used + (size_t)flen + (i ? 1 : 0) > (size_t)total) {
      break;
    }
    if (i) {
      s[used++] = '&';
    }
    int got = lws_hdr_copy_fragment(wsi, s + used, (int)(total + 1 - used),
                                    WSI_TOKEN_HTTP_URI_ARGS, i);
    if (got < 0) {
      break;
    }
    used += (size_t)got;
  }
  s[used] = '\0';
  return s;
}

static bool version_is_13(struct lws *wsi) {
  char *v = copy_header(wsi, WSI_TOKEN_VERSION);
  bool ok = v && strcmp(v, "13") == 0;
  bson_free(v);
  return ok;
}

/* A browser names the page that opens the socket in Origin; a page of
 * another origin, or an opaque one ("null"), must not act with the
 * user's cookie.  No Origin: not a browser (which always sends one), and
 * a program can send whatever Origin it likes anyway. */
static bool origin_refused(const ws_server_t *ws, struct lws *wsi) {
  if (!ws->origin_allowed) {
    return false;
  }
  char *origin = copy_header(wsi, WSI_TOKEN_ORIGIN);
  bool refused = origin && !ws->origin_allowed(ws->origin_ctx, origin);
  bson_free(origin);
  return refused;
}

/* The socket's first unmasked frame (ws_mask.h), on the service thread
 * from inside lws's read: ask for the close, with nothing more sent. */
static void on_unmasked(void *ctx) {
  ws_conn_t *conn = ctx;
  ws_loop_t *loop = loop_of(conn->wsi);
  pthread_mutex_lock(&loop->lock);
  request_close_locked(loop, conn, LWS_CLOSE_STATUS_PROTOCOL_ERR,
                       "frame not masked", true);
  pthread_mutex_unlock(&loop->lock);
}

static int on_confirm_upgrade(ws_loop_t *loop, struct lws *wsi,
                              const char *upgrade) {
  ws_conn_t *conn = lws_get_opaque_user_data(wsi);
  if (!conn || conn->accepted) {
    return -1;
  }
  if (!upgrade || strcasecmp(upgrade, "websocket") != 0) {
    return refuse_upgrade(wsi, 400, "Bad Request", "Connection: close\r\n",
                          "not_websocket", "Upgrade must be websocket");
  }
  /* RFC 6455 4.4: a version other than 13 (or none) gets 426 with the
   * version we speak.  lws 4.1 takes any version as 13 and has no option
   * to refuse one. */
  if (!version_is_13(wsi)) {
    return refuse_upgrade(wsi, 426, "Upgrade Required",
                          "Sec-WebSocket-Version: 13\r\n"
                          "Upgrade: websocket\r\n"
                          "Connection: Upgrade\r\n",
                          "unsupported_version",
                          "Sec-WebSocket-Version must be 13");
  }
  ws_server_t *ws = loop->ws;
  if (origin_refused(ws, wsi)) {
    return refuse_upgrade(wsi, 403, "Forbidden", "Connection: close\r\n",
                          "cross_site",
                          "WebSocket upgrades are accepted from the public "
                          "origins only");
  }
  pthread_mutex_lock(&loop->lock);
  bool stopping = loop->stopping;
  pthread_mutex_unlock(&loop->lock);
  if (stopping) {
    return refuse_upgrade(wsi, 503, "Service Unavailable",
                          "Retry-After: 1\r\nConnection: close\r\n", "stopping",
                          "The server is stopping");
  }
  if (atomic_load(&ws->n_accepted) >= ws->max_connections) {
    return refuse_upgrade(wsi, 503, "Service Unavailable",
                          "Retry-After: 1\r\nConnection: close\r\n",
                          "overloaded",
                          "The server holds as many WebSockets as it may");
  }
  ws_conn_id_t id =
      (atomic_fetch_add(&next_conn_seq, 1) << WS_LOOP_BITS) | loop->index;
  char *cookie = copy_header(wsi, WSI_TOKEN_HTTP_COOKIE);
  char *query = copy_query(wsi);
  void *user_data = NULL;
  bool ok = ws->cb.on_upgrade(ws->cb.ctx, id, cookie, query, &user_data);
  bson_free(cookie);
  bson_free(query);
  if (!ok) {
    return refuse_upgrade(wsi, 401, "Unauthorized", "Connection: close\r\n",
                          "not_logged_in", "You are not logged in");
  }
  conn->id = id;
  conn->user_data = user_data;
  conn->accepted = true;
  atomic_fetch_add(&ws->n_accepted, 1);
  loop->n_accepted++;
  return 0;
}

static int on_established(ws_loop_t *loop, struct lws *wsi) {
  ws_conn_t *conn = lws_get_opaque_user_data(wsi);
  if (!conn || !conn->accepted) {
    return -1;
  }
  conn->wsi = wsi;
  conn->last_rx = lws_now_usecs();
  pthread_mutex_lock(&loop->lock);
  map_insert(loop, conn);
  pthread_mutex_unlock(&loop->lock);
  /* In the map: on_unmasked can ask for the close from here on. */
  conn->refuse_rx = !ws_mask_frames(conn->mask, on_unmasked, conn);
  if (loop->ws->cb.on_open) {
    loop->ws->cb.on_open(loop->ws->cb.ctx, conn->id, conn->user_data);
  }
  if (loop->stop_begun) {
    ws_server_close(loop->ws, conn->id, WS_CLOSE_GOING_AWAY, "going away");
  }
  return 0;
}

static int deliver(ws_loop_t *loop, struct lws *wsi, ws_conn_t *conn,
                   const char *data, size_t len) {
  /* lws validates already (LWS_SERVER_OPTION_VALIDATE_UTF8); this is the
   * promise on_message relies on, so keep it even if lws changes. */
  if (!bson_utf8_validate(data, len, true)) {
    return close_with(wsi, LWS_CLOSE_STATUS_INVALID_PAYLOAD, "invalid UTF-8");
  }
  if (loop->ws->cb.on_message) {
    loop->ws->cb.on_message(loop->ws->cb.ctx, conn->id, conn->user_data, data,
                            len);
  }
  return 0;
}

static int on_receive(ws_loop_t *loop, struct lws *wsi, const char *in,
                      size_t len) {
  ws_conn_t *conn = lws_get_opaque_user_data(wsi);
  if (!conn || !conn->wsi) {
    return -1;
  }
  if (conn->refuse_rx) { /* an unmasked frame lws took before the 101 */
    return close_with(wsi, LWS_CLOSE_STATUS_PROTOCOL_ERR, "frame not masked");
  }
  conn->last_rx = lws_now_usecs(); /* any traffic proves the peer alive */
  conn->ping_at = 0;
  if (lws_frame_is_binary(wsi)) {
    return close_with(wsi, LWS_CLOSE_STATUS_UNACCEPTABLE_OPCODE,
                      "text messages only");
  }
  if (conn->rx_len + len > WS_MESSAGE_MAX) {
    bson_free(conn->rx);
    conn->rx = NULL;
    conn->rx_len = 0;
    return close_with(wsi, LWS_CLOSE_STATUS_MESSAGE_TOO_LARGE,
                      "message too big");
  }
  bool final = lws_is_final_fragment(wsi);
  if (final && conn->rx_len == 0) {
    return deliver(loop, wsi, conn, len ? in : "", len); /* in one piece */
  }
  if (len) {
    conn->rx = bson_realloc(conn->rx, conn->rx_len + len);
    memcpy(conn->rx + conn->rx_len, in, len);
    conn->rx_len += len;
  }
  if (!final) {
    return 0;
  }
  char *msg = conn->rx;
  size_t msg_len = conn->rx_len;
  conn->rx = NULL;
  conn->rx_len = 0;
  int rc = deliver(loop, wsi, conn, msg ? msg : "", msg_len);
  bson_free(msg);
  return rc;
}

static int on_writeable(ws_loop_t *loop, struct lws *wsi) {
  ws_conn_t *conn = lws_get_opaque_user_data(wsi);
  if (!conn || !conn->wsi) {
    return 0;
  }
  pthread_mutex_lock(&loop->lock);
  if (conn->close_code && (conn->drop_queue || !conn->head)) {
    char reason[WS_REASON_MAX + 1] = "";
    int code = conn->close_code;
    if (conn->close_reason) {
      bson_strncpy(reason, conn->close_reason, sizeof reason);
    }
    ws_msg_t *dropped = take_queue_locked(conn);
    pthread_mutex_unlock(&loop->lock);
    free_queue(dropped);
    return close_with(wsi, code, reason);
  }
  if (conn->ping_due) {
    conn->ping_due = false;
    bool more = conn->head != NULL;
    pthread_mutex_unlock(&loop->lock);
    /* Not empty: lws 4.1 does not report an empty pong. */
    unsigned char ping[LWS_PRE + 4] = {[LWS_PRE] = 'p', 'i', 'n', 'g'};
    if (lws_write(wsi, ping + LWS_PRE, 4, LWS_WRITE_PING) < 4) {
      return -1;
    }
    if (more) {
      lws_callback_on_writable(wsi);
    }
    return 0;
  }
  ws_msg_t *m = conn->head;
  if (m) {
    conn->head = m->next;
    if (!conn->head) {
      conn->tail = NULL;
    }
    conn->queued--;
  }
  pthread_mutex_unlock(&loop->lock);
  if (!m) {
    return 0;
  }
  int n = lws_write(wsi, m->buf + LWS_PRE, m->len, LWS_WRITE_TEXT);
  bool ok = n >= 0 && (size_t)n >= m->len;
  bson_free(m);
  if (!ok) {
    return -1;
  }
  pthread_mutex_lock(&loop->lock);
  bool more = conn->head || conn->close_code;
  pthread_mutex_unlock(&loop->lock);
  if (more) {
    lws_callback_on_writable(wsi);
  }
  return 0;
}

static void on_wsi_destroy(ws_loop_t *loop, struct lws *wsi) {
  ws_conn_t *conn = lws_get_opaque_user_data(wsi);
  if (!conn) {
    return; /* lws's own, or a socket whose adoption failed */
  }
  lws_set_opaque_user_data(wsi, NULL);
  ws_mask_unwatch(conn->mask);
  if (conn->accepted) {
    pthread_mutex_lock(&loop->lock);
    if (conn->wsi) {
      map_remove(loop, conn->id);
    }
    ws_msg_t *queue = take_queue_locked(conn);
    pthread_mutex_unlock(&loop->lock);
    free_queue(queue);
    atomic_fetch_sub(&loop->ws->n_accepted, 1);
    loop->n_accepted--;
    if (loop->ws->cb.on_close) {
      loop->ws->cb.on_close(loop->ws->cb.ctx, conn->id, conn->user_data);
    }
  }
  bson_free(conn->close_reason);
  bson_free(conn->rx);
  bson_free(conn);
}

/* Once a second: ping the connections the peer has been silent on for
 * ping_us, drop those that have not answered the ping within another
 * ping_us.  (lws's own per-connection ping timers fire at scattered
 * times; with poll(2) each wake-up costs time linear in the number of
 * connections, so 10,000 connections pinged every 20 s kept a core 80%
 * busy.  A sweep does each second's pings in one wake-up.) */
static void ping_sweep(lws_sorted_usec_list_t *sul) {
  ws_loop_t *loop = lws_container_of(sul, ws_loop_t, ping_tick);
  lws_usec_t now = lws_now_usecs();
  pthread_mutex_lock(&loop->lock);
  for (size_t i = 0; i < loop->cap; i++) {
    ws_conn_t *conn = loop->slots[i];
    if (!conn || conn->close_code) {
      continue;
    }
    if (conn->ping_at) {
      if (now - conn->ping_at >= loop->ws->ping_us) {
        lws_set_timeout(conn->wsi, PENDING_TIMEOUT_USER_OK,
                        LWS_TO_KILL_ASYNC); /* no answer: dead */
      }
    } else if (now - conn->last_rx >= loop->ws->ping_us) {
      conn->ping_at = now;
      conn->ping_due = true;
      lws_callback_on_writable(conn->wsi);
    }
  }
  pthread_mutex_unlock(&loop->lock);
  lws_sul_schedule(loop->ctx, 0, &loop->ping_tick, ping_sweep, WS_SWEEP_US);
}

static void stop_tick(lws_sorted_usec_list_t *sul) {
  ws_loop_t *loop = lws_container_of(sul, ws_loop_t, stop_tick);
  if (loop->n_accepted == 0 || lws_now_usecs() >= loop->stop_deadline) {
    loop->loop_exit = true;
    /* Timers run before lws polls: without a wake-up, lws_service would
     * first wait for the next event. */
    lws_cancel_service(loop->ctx);
    return;
  }
  lws_sul_schedule(loop->ctx, 0, &loop->stop_tick, stop_tick,
                   50 * LWS_US_PER_MS);
}

/* Hands the sockets the acceptor gave this loop to lws.  A timer, not
 * on_wake itself: lws is then not in the middle of its pass over the
 * poll set that the new sockets join. */
static void adopt_incoming(lws_sorted_usec_list_t *sul) {
  ws_loop_t *loop = lws_container_of(sul, ws_loop_t, adopt_tick);
  pthread_mutex_lock(&loop->lock);
  int *fds = loop->incoming;
  size_t n = loop->n_incoming;
  bool stopping = loop->stopping;
  loop->incoming = NULL;
  loop->n_incoming = loop->cap_incoming = 0;
  pthread_mutex_unlock(&loop->lock);
  for (size_t i = 0; i < n; i++) {
    if (stopping) {
      close(fds[i]);
      continue;
    }
    /* Watched before lws can read a byte of it (ws_mask.h). */
    ws_conn_t *conn = bson_malloc0(sizeof *conn);
    conn->mask = ws_mask_watch(fds[i]);
    struct lws *wsi = lws_adopt_socket_vhost(loop->vhost, fds[i]);
    if (wsi) {
      lws_set_opaque_user_data(wsi, conn);
    } else { /* lws closed the socket */
      ws_mask_unwatch(conn->mask);
      bson_free(conn);
    }
  }
  bson_free(fds);
}

/* The service thread was woken: adopt new sockets, ask lws to write for
 * every connection that has something queued or must close, and begin
 * stopping. */
static void on_wake(ws_loop_t *loop) {
  bool begin_stop = false;
  pthread_mutex_lock(&loop->lock);
  if (loop->n_incoming) {
    lws_sul_schedule(loop->ctx, 0, &loop->adopt_tick, adopt_incoming, 1);
  }
  if (loop->stopping && !loop->stop_begun) {
    loop->stop_begun = begin_stop = true;
    for (size_t i = 0; i < loop->cap; i++) {
      if (loop->slots[i]) {
        request_close_locked(loop, loop->slots[i], WS_CLOSE_GOING_AWAY,
                             "going away", false);
      }
    }
  }
  for (size_t i = 0; i < loop->n_pending; i++) {
    ws_conn_t *conn = map_find(loop, loop->pending[i]);
    if (!conn) {
      continue; /* gone meanwhile */
    }
    conn->pending = false;
    if (conn->close_code && !conn->close_armed) {
      conn->close_armed = true;
      lws_set_timeout(conn->wsi, PENDING_TIMEOUT_USER_OK, WS_CLOSE_GRACE_S);
    }
    lws_callback_on_writable(conn->wsi);
  }
  loop->n_pending = 0;
  /* Cleared last: whatever was queued before is handled above, and
   * whatever comes after sends a new wake-up. */
  loop->signalled = false;
  pthread_mutex_unlock(&loop->lock);
  if (begin_stop) {
    loop->stop_deadline = lws_now_usecs() + WS_STOP_GRACE_US;
    stop_tick(&loop->stop_tick);
  }
}

static int ws_callback(struct lws *wsi, enum lws_callback_reasons reason,
                       void *user, void *in, size_t len) {
  ws_loop_t *loop = wsi ? loop_of(wsi) : NULL;
  if (!loop) {
    return lws_callback_http_dummy(wsi, reason, user, in, len);
  }
  switch (reason) {
  case LWS_CALLBACK_HTTP_CONFIRM_UPGRADE:
    return on_confirm_upgrade(loop, wsi, in);
  case LWS_CALLBACK_ESTABLISHED:
    return on_established(loop, wsi);
  case LWS_CALLBACK_RECEIVE:
    return on_receive(loop, wsi, in, len);
  case LWS_CALLBACK_SERVER_WRITEABLE:
    return on_writeable(loop, wsi);
  case LWS_CALLBACK_RECEIVE_PONG: {
    ws_conn_t *conn = lws_get_opaque_user_data(wsi);
    if (conn && conn->wsi) {
      conn->last_rx = lws_now_usecs();
      conn->ping_at = 0;
    }
    return 0;
  }
  case LWS_CALLBACK_WSI_DESTROY:
    on_wsi_destroy(loop, wsi);
    return 0;
  case LWS_CALLBACK_EVENT_WAIT_CANCELLED:
    on_wake(loop);
    return 0;
  default:
    /* plain HTTP gets 404 there */
    return lws_callback_http_dummy(wsi, reason, user, in, len);
  }
}

static void *service_main(void *arg) {
  ws_loop_t *loop = arg;
  lws_sul_schedule(loop->ctx, 0, &loop->ping_tick, ping_sweep, WS_SWEEP_US);
  while (!loop->loop_exit) {
    if (lws_service(loop->ctx, 0) < 0) {
      fprintf(stderr, "chorusd: websocket: service loop failed\n");
      break;
    }
  }
  lws_sul_cancel(&loop->ping_tick);
  lws_sul_cancel(&loop->stop_tick);
  lws_sul_cancel(&loop->adopt_tick);
  pthread_mutex_lock(&loop->lock);
  loop->ctx_alive = false;
  pthread_mutex_unlock(&loop->lock);
  lws_context_destroy(loop->ctx); /* on_close for whatever is left */
  loop->ctx = NULL;
  return NULL;
}

/* ------------------------------------------------------------------ */
/* the public functions                                                */
/* ------------------------------------------------------------------ */

/* The listening socket: non-blocking, SO_REUSEADDR (a restart must not
 * wait for TIME_WAIT), on host (an address or a name; NULL, "" and
 * "0.0.0.0": every IPv4 interface).  -1 with err set on failure. */
static int listen_open(const char *host, int port, chorus_error_t *err) {
  bool any = !host || !*host || strcmp(host, "0.0.0.0") == 0;
  struct addrinfo hints, *res = NULL;
  memset(&hints, 0, sizeof hints);
  hints.ai_family = any ? AF_INET : AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  char service[8];
  snprintf(service, sizeof service, "%d", port);
  int rc = getaddrinfo(any ? NULL : host, service, &hints, &res);
  if (rc != 0) {
    chorus_error_set(err, 500, "ws_listen_failed",
                     "cannot serve WebSocket on %s:%d: %s", any ? "*" : host,
                     port, gai_strerror(rc));
    return -1;
  }
  int fd = -1, e = 0;
  for (struct addrinfo *ai = res; ai && fd < 0; ai = ai->ai_next) {
    fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
                0);
    if (fd < 0) {
      e = errno;
      continue;
    }
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 ||
        listen(fd, SOMAXCONN) != 0) {
      e = errno;
      close(fd);
      fd = -1;
    }
  }
  freeaddrinfo(res);
  if (fd < 0) {
    chorus_error_set(err, 500, "ws_listen_failed",
                     "cannot serve WebSocket on %s:%d: %s", any ? "*" : host,
                     port, strerror(e));
  }
  return fd;
}

/* Gives an accepted socket to a loop (in turn) and wakes it. */
static void deal_socket(ws_server_t *ws, int fd, size_t *next) {
  ws_loop_t *loop = &ws->loops[*next];
  *next = (*next + 1) % ws->n_loops;
  pthread_mutex_lock(&loop->lock);
  if (loop->stopping || !loop->ctx_alive) {
    pthread_mutex_unlock(&loop->lock);
    close(fd);
    return;
  }
  if (loop->n_incoming == loop->cap_incoming) {
    loop->cap_incoming = loop->cap_incoming ? loop->cap_incoming * 2 : 64;
    loop->incoming =
        bson_realloc(loop->incoming, loop->cap_incoming * sizeof(int));
  }
  loop->incoming[loop->n_incoming++] = fd;
  wake_locked(loop);
  pthread_mutex_unlock(&loop->lock);
}

/* The acceptor thread: accepts until stop_fd is signalled.  Out of file
 * descriptors (EMFILE), it backs off for a moment instead of spinning. */
static void *acceptor_main(void *arg) {
  ws_server_t *ws = arg;
  size_t next = 0;
  struct pollfd fds[2] = {{.fd = ws->listen_fd, .events = POLLIN},
                          {.fd = ws->stop_fd, .events = POLLIN}};
  for (;;) {
    int n = poll(fds, 2, -1);
    if (n < 0 && errno != EINTR) {
      fprintf(stderr, "chorusd: websocket: poll: %s\n", strerror(errno));
      return NULL;
    }
    if (fds[1].revents) {
      return NULL;
    }
    if (n <= 0 || !fds[0].revents) {
      continue;
    }
    for (;;) {
      int fd = accept4(ws->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
      if (fd < 0) {
        if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS ||
            errno == ENOMEM) {
          poll(&fds[1], 1, 100);
        }
        break; /* EAGAIN, or a connection that died in the backlog */
      }
      int one = 1; /* each event is one small write: send it now */
      setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
      deal_socket(ws, fd, &next);
    }
  }
}

static void log_emit(int level, const char *line) {
  (void)level;
  fprintf(stderr, "chorusd: websocket: %s", line);
}

static void log_init(void) { lws_set_log_level(LLL_ERR | LLL_WARN, log_emit); }

/* Stops the acceptor, then the loops that were started (threads joined,
 * contexts destroyed), and frees everything. */
static void server_free(ws_server_t *ws) {
  if (ws->acceptor_started) {
    uint64_t one = 1;
    ssize_t w = write(ws->stop_fd, &one, sizeof one);
    (void)w; /* an eventfd write of 1 cannot fail here */
    pthread_join(ws->acceptor, NULL);
  }
  if (ws->listen_fd >= 0) {
    close(ws->listen_fd);
  }
  if (ws->stop_fd >= 0) {
    close(ws->stop_fd);
  }
  for (size_t i = 0; i < ws->n_loops; i++) {
    ws_loop_t *loop = &ws->loops[i];
    pthread_mutex_lock(&loop->lock);
    loop->stopping = true;
    loop->signalled = false; /* make sure this wake-up is sent */
    wake_locked(loop);
    pthread_mutex_unlock(&loop->lock);
  }
  for (size_t i = 0; i < ws->n_loops; i++) {
    ws_loop_t *loop = &ws->loops[i];
    if (loop->thread_started) {
      pthread_join(loop->thread, NULL);
    } else if (loop->ctx) {
      lws_context_destroy(loop->ctx);
    }
    /* lws_context_destroy raised WSI_DESTROY for every connection. */
    for (size_t k = 0; k < loop->n_incoming; k++) {
      close(loop->incoming[k]); /* never adopted */
    }
    bson_free(loop->incoming);
    bson_free(loop->slots);
    bson_free(loop->pending);
    pthread_mutex_destroy(&loop->lock);
  }
  bson_free(ws);
}

static int default_threads(void) {
  long n = sysconf(_SC_NPROCESSORS_ONLN);
  return n < 1 ? 1 : n > WS_LOOPS_MAX ? WS_LOOPS_MAX : (int)n;
}

ws_server_t *ws_server_start(const ws_config_t *cfg, const ws_callbacks_t *cb,
                             chorus_error_t *err) {
  static pthread_once_t log_once = PTHREAD_ONCE_INIT;
  chorus_error_clear(err);
  if (cfg->port == 0) {
    return NULL;
  }
  if (!cb || !cb->on_upgrade || cfg->port < 0 || cfg->port > 65535 ||
      cfg->threads < 0 || cfg->threads > WS_LOOPS_MAX) {
    chorus_error_set(err, 500, "ws_bad_config",
                     "websocket: bad port %d, threads %d (0..%d) or no "
                     "on_upgrade",
                     cfg->port, cfg->threads, WS_LOOPS_MAX);
    return NULL;
  }
  int listen_fd = listen_open(cfg->host, cfg->port, err);
  if (listen_fd < 0) {
    return NULL;
  }
  pthread_once(&log_once, log_init);

  ws_server_t *ws = bson_malloc0(sizeof *ws);
  ws->listen_fd = listen_fd;
  ws->stop_fd = eventfd(0, EFD_CLOEXEC);
  ws->cb = *cb;
  ws->queue_max = cfg->queue_max ? cfg->queue_max : WS_DEFAULT_QUEUE_MAX;
  ws->max_connections = cfg->max_connections > 0 ? cfg->max_connections
                                                 : WS_DEFAULT_MAX_CONNECTIONS;
  int ping =
      cfg->ping_interval_s > 0 ? cfg->ping_interval_s : WS_DEFAULT_PING_S;
  ws->ping_us = (lws_usec_t)ping * LWS_US_PER_SEC;
  ws->origin_allowed = cfg->origin_allowed;
  ws->origin_ctx = cfg->origin_ctx;
  ws->protocols[0].name = "chorus";
  ws->protocols[0].callback = ws_callback;
  ws->protocols[0].rx_buffer_size = WS_RX_CHUNK;
  ws->protocols[0].tx_packet_size = WS_TX_PACKET;
  int threads = cfg->threads > 0 ? cfg->threads : default_threads();
  if (ws->stop_fd < 0) {
    chorus_error_set(err, 500, "ws_thread_failed", "eventfd: %s",
                     strerror(errno));
    server_free(ws);
    return NULL;
  }

  struct lws_context_creation_info info;
  memset(&info, 0, sizeof info);
  info.port = CONTEXT_PORT_NO_LISTEN_SERVER; /* the acceptor listens */
  info.protocols = ws->protocols;
  info.options = LWS_SERVER_OPTION_VALIDATE_UTF8;
  info.gid = -1;
  info.uid = -1;
  info.retry_and_idle_policy = &ws->no_validity; /* see ping_sweep */
  info.vhost_name = "chorus-ws";
  info.server_string = "chorusd";

  for (int i = 0; i < threads; i++) {
    ws_loop_t *loop = &ws->loops[i];
    loop->ws = ws;
    loop->index = (ws_conn_id_t)i;
    pthread_mutex_init(&loop->lock, NULL);
    ws->n_loops++;
    info.user = loop;
    loop->ctx = lws_create_context(&info);
    loop->vhost =
        loop->ctx ? lws_get_vhost_by_name(loop->ctx, "chorus-ws") : NULL;
    if (!loop->vhost) {
      chorus_error_set(err, 500, "ws_start_failed",
                       "cannot create the WebSocket context %d", i);
      server_free(ws);
      return NULL;
    }
    loop->ctx_alive = true;
  }
  /* Threads only once every context exists, so that a failure above has
   * no thread to stop. */
  for (size_t i = 0; i <= ws->n_loops; i++) {
    bool acceptor = i == ws->n_loops; /* last: loops are ready for it */
    int rc = acceptor ? pthread_create(&ws->acceptor, NULL, acceptor_main, ws)
                      : pthread_create(&ws->loops[i].thread, NULL, service_main,
                                       &ws->loops[i]);
    if (rc != 0) {
      chorus_error_set(err, 500, "ws_thread_failed",
                       "cannot start a WebSocket thread: %s", strerror(rc));
      server_free(ws);
      return NULL;
    }
    if (acceptor) {
      ws->acceptor_started = true;
    } else {
      ws->loops[i].thread_started = true;
    }
  }
  return ws;
}

/* The loop an id belongs to; NULL for an id no loop ever gave out. */
static ws_loop_t *loop_of_id(ws_server_t *ws, ws_conn_id_t id) {
  size_t i = (size_t)(id & (WS_LOOPS_MAX - 1));
  return i < ws->n_loops ? &ws->loops[i] : NULL;
}

bool ws_server_send(ws_server_t *ws, ws_conn_id_t id, const char *data,
                    size_t len) {
  ws_loop_t *loop = loop_of_id(ws, id);
  if (!loop) {
    return false;
  }
  ws_msg_t *m = bson_malloc(sizeof *m + LWS_PRE + len);
  m->next = NULL;
  m->len = len;
  if (len) {
    memcpy(m->buf + LWS_PRE, data, len);
  }
  ws_msg_t *dropped = NULL;
  bool queued = false;
  pthread_mutex_lock(&loop->lock);
  ws_conn_t *conn = loop->stopping ? NULL : map_find(loop, id);
  if (conn && !conn->close_code) {
    if (conn->queued >= ws->queue_max) {
      dropped = take_queue_locked(conn);
      request_close_locked(loop, conn, WS_CLOSE_POLICY, "too slow", true);
    } else {
      if (conn->tail) {
        conn->tail->next = m;
      } else {
        conn->head = m;
      }
      conn->tail = m;
      conn->queued++;
      queued = true;
      mark_pending_locked(loop, conn);
    }
  }
  pthread_mutex_unlock(&loop->lock);
  free_queue(dropped);
  if (!queued) {
    bson_free(m);
  }
  return queued;
}

static void close_conn(ws_server_t *ws, ws_conn_id_t id, int code,
                       const char *reason, bool drop_queue) {
  if (code < 1000 || code > 4999 || code == 1005 || code == 1006 ||
      code == 1015) {
    code = WS_CLOSE_NORMAL; /* those may not be sent in a close frame */
  }
  ws_loop_t *loop = loop_of_id(ws, id);
  if (!loop) {
    return;
  }
  ws_msg_t *dropped = NULL;
  pthread_mutex_lock(&loop->lock);
  ws_conn_t *conn = map_find(loop, id);
  if (conn) {
    if (drop_queue) {
      dropped = take_queue_locked(conn);
      conn->drop_queue = true; /* also when a close was asked for already */
    }
    request_close_locked(loop, conn, code, reason, drop_queue);
  }
  pthread_mutex_unlock(&loop->lock);
  free_queue(dropped);
}

void ws_server_close(ws_server_t *ws, ws_conn_id_t id, int code,
                     const char *reason) {
  close_conn(ws, id, code, reason, false);
}

void ws_server_close_now(ws_server_t *ws, ws_conn_id_t id, int code,
                         const char *reason) {
  close_conn(ws, id, code, reason, true);
}

void ws_server_stop(ws_server_t *ws) {
  if (ws) {
    server_free(ws); /* the loops close their connections in parallel */
  }
}

size_t ws_server_connections(ws_server_t *ws) {
  size_t n = 0;
  for (size_t i = 0; i < ws->n_loops; i++) {
    ws_loop_t *loop = &ws->loops[i];
    pthread_mutex_lock(&loop->lock);
    n += loop->count;
    pthread_mutex_unlock(&loop->lock);
  }
  return n;
}
