/*
 * ws.c - the WebSocket server on libwebsockets; see ws.h.
 *
 * Ownership.  The ws_server_t owns the lws context, the service thread, the
 * id map and every ws_conn_t.  A ws_conn_t is created when on_upgrade
 * accepts (LWS_CALLBACK_HTTP_CONFIRM_UPGRADE), hangs off its wsi as lws's
 * "opaque user data" (the per-session user space is reallocated when lws
 * binds the ws protocol, the opaque pointer is not), enters the map at
 * LWS_CALLBACK_ESTABLISHED and is freed, with its queue, at
 * LWS_CALLBACK_WSI_DESTROY, which lws raises exactly once for every wsi
 * however it dies (also from lws_context_destroy).  Only the service thread
 * creates and frees connections, so it may use a ws_conn_t without the
 * lock; other threads reach one only through the map, under the lock.
 *
 * The lock (ws->lock) guards: the map, each connection's queue and close
 * request, the list of ids waiting for the service thread (pending),
 * `signalled`, `stopping` and `ctx_alive`.  It is never held while a user
 * callback runs.  lws functions other than lws_cancel_service are called
 * on the service thread only (and lws_create_context before it starts).
 */
#include "ws.h"

#include <arpa/inet.h>
#include <errno.h>
#include <libwebsockets.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

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
  ws_conn_id_t id;
  struct lws *wsi;
  void *user_data;
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
  char *rx;           /* a message being reassembled */
  size_t rx_len;
} ws_conn_t;

struct ws_server {
  ws_callbacks_t cb;
  size_t queue_max;
  int max_connections;
  lws_usec_t ping_us;
  lws_retry_bo_t no_validity; /* all zero: lws's own pings are off */
  struct lws_protocols protocols[2];
  struct lws_context *ctx;
  pthread_t thread;

  pthread_mutex_t lock;
  ws_conn_t **slots; /* open addressing, linear probing, power of two */
  size_t cap, count;
  ws_conn_id_t *pending; /* ids the service thread must look at */
  size_t n_pending, cap_pending;
  bool signalled; /* a wake-up is on its way to the service thread */
  bool stopping;
  bool ctx_alive;

  /* Service thread only. */
  int n_accepted; /* accepted upgrades not yet destroyed */
  bool stop_begun;
  bool loop_exit;
  lws_usec_t stop_deadline;
  lws_sorted_usec_list_t stop_tick;
  lws_sorted_usec_list_t ping_tick;
};

static _Atomic ws_conn_id_t next_conn_id = 1;

/* ------------------------------------------------------------------ */
/* the id map (callers hold ws->lock)                                  */
/* ------------------------------------------------------------------ */

static size_t map_home(const ws_server_t *ws, ws_conn_id_t id) {
  uint64_t h = id * UINT64_C(0x9E3779B97F4A7C15);
  return (size_t)(h ^ (h >> 32)) & (ws->cap - 1);
}

static ws_conn_t *map_find(const ws_server_t *ws, ws_conn_id_t id) {
  if (ws->count == 0) {
    return NULL;
  }
  for (size_t i = map_home(ws, id);; i = (i + 1) & (ws->cap - 1)) {
    ws_conn_t *c = ws->slots[i];
    if (!c || c->id == id) {
      return c;
    }
  }
}

static void map_place(ws_server_t *ws, ws_conn_t *conn) {
  size_t i = map_home(ws, conn->id);
  while (ws->slots[i]) {
    i = (i + 1) & (ws->cap - 1);
  }
  ws->slots[i] = conn;
}

static void map_insert(ws_server_t *ws, ws_conn_t *conn) {
  if ((ws->count + 1) * 2 > ws->cap) {
    ws_conn_t **old = ws->slots;
    size_t old_cap = ws->cap;
    ws->cap = old_cap ? old_cap * 2 : 64;
    ws->slots = bson_malloc0(ws->cap * sizeof *ws->slots);
    for (size_t i = 0; i < old_cap; i++) {
      if (old[i]) {
        map_place(ws, old[i]);
      }
    }
    bson_free(old);
  }
  map_place(ws, conn);
  ws->count++;
}

static void map_remove(ws_server_t *ws, ws_conn_id_t id) {
  size_t mask = ws->cap - 1;
  size_t i = map_home(ws, id);
  for (;; i = (i + 1) & mask) {
    if (!ws->slots[i]) {
      return;
    }
    if (ws->slots[i]->id == id) {
      break;
    }
  }
  ws->slots[i] = NULL;
  ws->count--;
  /* Backward-shift deletion: move up every later entry of the run whose
   * home is not cyclically in (i, j]. */
  for (size_t j = (i + 1) & mask; ws->slots[j]; j = (j + 1) & mask) {
    size_t k = map_home(ws, ws->slots[j]->id);
    bool stays = (i <= j) ? (i < k && k <= j) : (i < k || k <= j);
    if (!stays) {
      ws->slots[i] = ws->slots[j];
      ws->slots[j] = NULL;
      i = j;
    }
  }
}

/* ------------------------------------------------------------------ */
/* queues and wake-ups (callers hold ws->lock)                         */
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

static void wake_locked(ws_server_t *ws) {
  if (!ws->signalled && ws->ctx_alive) {
    ws->signalled = true;
    lws_cancel_service(ws->ctx);
  }
}

static void mark_pending_locked(ws_server_t *ws, ws_conn_t *conn) {
  if (conn->pending) {
    return;
  }
  if (ws->n_pending == ws->cap_pending) {
    ws->cap_pending = ws->cap_pending ? ws->cap_pending * 2 : 64;
    ws->pending = bson_realloc(ws->pending,
                               ws->cap_pending * sizeof *ws->pending);
  }
  ws->pending[ws->n_pending++] = conn->id;
  conn->pending = true;
  wake_locked(ws);
}

static void request_close_locked(ws_server_t *ws, ws_conn_t *conn, int code,
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
  mark_pending_locked(ws, conn);
}

/* ------------------------------------------------------------------ */
/* the service thread                                                  */
/* ------------------------------------------------------------------ */

static ws_server_t *server_of(struct lws *wsi) {
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

/* Answers an upgrade request with an HTTP status instead; lws then ends
 * the HTTP transaction. */
static int refuse_upgrade(struct lws *wsi, unsigned int status) {
  if (lws_return_http_status(wsi, status, NULL)) {
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

static int on_confirm_upgrade(ws_server_t *ws, struct lws *wsi,
                              const char *upgrade) {
  if (!upgrade || strcasecmp(upgrade, "websocket") != 0) {
    return refuse_upgrade(wsi, HTTP_STATUS_BAD_REQUEST);
  }
  pthread_mutex_lock(&ws->lock);
  bool stopping = ws->stopping;
  pthread_mutex_unlock(&ws->lock);
  if (stopping || ws->n_accepted >= ws->max_connections) {
    return refuse_upgrade(wsi, HTTP_STATUS_SERVICE_UNAVAILABLE);
  }
  ws_conn_id_t id = atomic_fetch_add(&next_conn_id, 1);
  char *cookie = copy_header(wsi, WSI_TOKEN_HTTP_COOKIE);
  char *query = copy_query(wsi);
  void *user_data = NULL;
  bool ok = ws->cb.on_upgrade(ws->cb.ctx, id, cookie, query, &user_data);
  bson_free(cookie);
  bson_free(query);
  if (!ok) {
    return refuse_upgrade(wsi, HTTP_STATUS_UNAUTHORIZED);
  }
  ws_conn_t *conn = bson_malloc0(sizeof *conn);
  conn->id = id;
  conn->user_data = user_data;
  lws_set_opaque_user_data(wsi, conn);
  ws->n_accepted++;
  return 0;
}

static int on_established(ws_server_t *ws, struct lws *wsi) {
  ws_conn_t *conn = lws_get_opaque_user_data(wsi);
  if (!conn) {
    return -1;
  }
  conn->wsi = wsi;
  conn->last_rx = lws_now_usecs();
  pthread_mutex_lock(&ws->lock);
  map_insert(ws, conn);
  pthread_mutex_unlock(&ws->lock);
  if (ws->cb.on_open) {
    ws->cb.on_open(ws->cb.ctx, conn->id, conn->user_data);
  }
  if (ws->stop_begun) {
    ws_server_close(ws, conn->id, WS_CLOSE_GOING_AWAY, "going away");
  }
  return 0;
}

static int deliver(ws_server_t *ws, struct lws *wsi, ws_conn_t *conn,
                   const char *data, size_t len) {
  /* lws validates already (LWS_SERVER_OPTION_VALIDATE_UTF8); this is the
   * promise on_message relies on, so keep it even if lws changes. */
  if (!bson_utf8_validate(data, len, true)) {
    return close_with(wsi, LWS_CLOSE_STATUS_INVALID_PAYLOAD, "invalid UTF-8");
  }
  if (ws->cb.on_message) {
    ws->cb.on_message(ws->cb.ctx, conn->id, conn->user_data, data, len);
  }
  return 0;
}

static int on_receive(ws_server_t *ws, struct lws *wsi, const char *in,
                      size_t len) {
  ws_conn_t *conn = lws_get_opaque_user_data(wsi);
  if (!conn) {
    return -1;
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
    return deliver(ws, wsi, conn, len ? in : "", len); /* in one piece */
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
  int rc = deliver(ws, wsi, conn, msg ? msg : "", msg_len);
  bson_free(msg);
  return rc;
}

static int on_writeable(ws_server_t *ws, struct lws *wsi) {
  ws_conn_t *conn = lws_get_opaque_user_data(wsi);
  if (!conn) {
    return 0;
  }
  pthread_mutex_lock(&ws->lock);
  if (conn->close_code && (conn->drop_queue || !conn->head)) {
    char reason[WS_REASON_MAX + 1] = "";
    int code = conn->close_code;
    if (conn->close_reason) {
      bson_strncpy(reason, conn->close_reason, sizeof reason);
    }
    ws_msg_t *dropped = take_queue_locked(conn);
    pthread_mutex_unlock(&ws->lock);
    free_queue(dropped);
    return close_with(wsi, code, reason);
  }
  if (conn->ping_due) {
    conn->ping_due = false;
    bool more = conn->head != NULL;
    pthread_mutex_unlock(&ws->lock);
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
  pthread_mutex_unlock(&ws->lock);
  if (!m) {
    return 0;
  }
  int n = lws_write(wsi, m->buf + LWS_PRE, m->len, LWS_WRITE_TEXT);
  bool ok = n >= 0 && (size_t)n >= m->len;
  bson_free(m);
  if (!ok) {
    return -1;
  }
  pthread_mutex_lock(&ws->lock);
  bool more = conn->head || conn->close_code;
  pthread_mutex_unlock(&ws->lock);
  if (more) {
    lws_callback_on_writable(wsi);
  }
  return 0;
}

static void on_wsi_destroy(ws_server_t *ws, struct lws *wsi) {
  ws_conn_t *conn = lws_get_opaque_user_data(wsi);
  if (!conn) {
    return; /* the listener, or an HTTP connection never upgraded */
  }
  lws_set_opaque_user_data(wsi, NULL);
  pthread_mutex_lock(&ws->lock);
  if (conn->wsi) {
    map_remove(ws, conn->id);
  }
  ws_msg_t *queue = take_queue_locked(conn);
  pthread_mutex_unlock(&ws->lock);
  free_queue(queue);
  ws->n_accepted--;
  if (ws->cb.on_close) {
    ws->cb.on_close(ws->cb.ctx, conn->id, conn->user_data);
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
  ws_server_t *ws = lws_container_of(sul, ws_server_t, ping_tick);
  lws_usec_t now = lws_now_usecs();
  pthread_mutex_lock(&ws->lock);
  for (size_t i = 0; i < ws->cap; i++) {
    ws_conn_t *conn = ws->slots[i];
    if (!conn || conn->close_code) {
      continue;
    }
    if (conn->ping_at) {
      if (now - conn->ping_at >= ws->ping_us) {
        lws_set_timeout(conn->wsi, PENDING_TIMEOUT_USER_OK,
                        LWS_TO_KILL_ASYNC); /* no answer: dead */
      }
    } else if (now - conn->last_rx >= ws->ping_us) {
      conn->ping_at = now;
      conn->ping_due = true;
      lws_callback_on_writable(conn->wsi);
    }
  }
  pthread_mutex_unlock(&ws->lock);
  lws_sul_schedule(ws->ctx, 0, &ws->ping_tick, ping_sweep, WS_SWEEP_US);
}

static void stop_tick(lws_sorted_usec_list_t *sul) {
  ws_server_t *ws = lws_container_of(sul, ws_server_t, stop_tick);
  if (ws->n_accepted == 0 || lws_now_usecs() >= ws->stop_deadline) {
    ws->loop_exit = true;
    /* Timers run before lws polls: without a wake-up, lws_service would
     * first wait for the next event. */
    lws_cancel_service(ws->ctx);
    return;
  }
  lws_sul_schedule(ws->ctx, 0, &ws->stop_tick, stop_tick,
                   50 * LWS_US_PER_MS);
}

/* The service thread was woken: ask lws to write for every connection
 * that has something queued or must close, and begin stopping. */
static void on_wake(ws_server_t *ws) {
  bool begin_stop = false;
  pthread_mutex_lock(&ws->lock);
  if (ws->stopping && !ws->stop_begun) {
    ws->stop_begun = begin_stop = true;
    for (size_t i = 0; i < ws->cap; i++) {
      if (ws->slots[i]) {
        request_close_locked(ws, ws->slots[i], WS_CLOSE_GOING_AWAY,
                             "going away", false);
      }
    }
  }
  for (size_t i = 0; i < ws->n_pending; i++) {
    ws_conn_t *conn = map_find(ws, ws->pending[i]);
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
  ws->n_pending = 0;
  /* Cleared last: whatever was queued before is handled above, and
   * whatever comes after sends a new wake-up. */
  ws->signalled = false;
  pthread_mutex_unlock(&ws->lock);
  if (begin_stop) {
    ws->stop_deadline = lws_now_usecs() + WS_STOP_GRACE_US;
    stop_tick(&ws->stop_tick);
  }
}

static int ws_callback(struct lws *wsi, enum lws_callback_reasons reason,
                       void *user, void *in, size_t len) {
  ws_server_t *ws = wsi ? server_of(wsi) : NULL;
  if (!ws) {
    return lws_callback_http_dummy(wsi, reason, user, in, len);
  }
  switch (reason) {
  case LWS_CALLBACK_HTTP_CONFIRM_UPGRADE:
    return on_confirm_upgrade(ws, wsi, in);
  case LWS_CALLBACK_ESTABLISHED:
    return on_established(ws, wsi);
  case LWS_CALLBACK_RECEIVE:
    return on_receive(ws, wsi, in, len);
  case LWS_CALLBACK_SERVER_WRITEABLE:
    return on_writeable(ws, wsi);
  case LWS_CALLBACK_RECEIVE_PONG: {
    ws_conn_t *conn = lws_get_opaque_user_data(wsi);
    if (conn) {
      conn->last_rx = lws_now_usecs();
      conn->ping_at = 0;
    }
    return 0;
  }
  case LWS_CALLBACK_WSI_DESTROY:
    on_wsi_destroy(ws, wsi);
    return 0;
  case LWS_CALLBACK_EVENT_WAIT_CANCELLED:
    on_wake(ws);
    return 0;
  default:
    /* plain HTTP gets 404 there */
    return lws_callback_http_dummy(wsi, reason, user, in, len);
  }
}

static void *service_main(void *arg) {
  ws_server_t *ws = arg;
  lws_sul_schedule(ws->ctx, 0, &ws->ping_tick, ping_sweep, WS_SWEEP_US);
  while (!ws->loop_exit) {
    if (lws_service(ws->ctx, 0) < 0) {
      fprintf(stderr, "chorusd: websocket: service loop failed\n");
      break;
    }
  }
  lws_sul_cancel(&ws->ping_tick);
  lws_sul_cancel(&ws->stop_tick);
  pthread_mutex_lock(&ws->lock);
  ws->ctx_alive = false;
  pthread_mutex_unlock(&ws->lock);
  lws_context_destroy(ws->ctx); /* on_close for whatever is left */
  ws->ctx = NULL;
  return NULL;
}

/* ------------------------------------------------------------------ */
/* the public functions                                                */
/* ------------------------------------------------------------------ */

/* Binds (and closes) a socket like lws's listener would, so that a port
 * in use is reported here with its errno: lws 4.1 also logs it, and leaks
 * a little when lws_create_context fails.  An interface name (not an
 * address) is left to lws. */
static bool probe_port(const char *host, int port, chorus_error_t *err) {
  struct sockaddr_storage ss;
  socklen_t len;
  memset(&ss, 0, sizeof ss);
  struct sockaddr_in *v4 = (struct sockaddr_in *)&ss;
  struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)&ss;
  if (!host || !*host || strcmp(host, "0.0.0.0") == 0) {
    v4->sin_family = AF_INET;
    v4->sin_addr.s_addr = htonl(INADDR_ANY);
    v4->sin_port = htons((uint16_t)port);
    len = sizeof *v4;
  } else if (inet_pton(AF_INET, host, &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons((uint16_t)port);
    len = sizeof *v4;
  } else if (inet_pton(AF_INET6, host, &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons((uint16_t)port);
    len = sizeof *v6;
  } else {
    return true;
  }
  int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    return true; /* let lws try */
  }
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  int rc = bind(fd, (struct sockaddr *)&ss, len);
  int e = errno;
  close(fd);
  if (rc != 0) {
    chorus_error_set(err, 500, "ws_listen_failed",
                     "cannot serve WebSocket on %s:%d: %s",
                     host ? host : "*", port, strerror(e));
    return false;
  }
  return true;
}

static void log_emit(int level, const char *line) {
  (void)level;
  fprintf(stderr, "chorusd: websocket: %s", line);
}

static void log_init(void) { lws_set_log_level(LLL_ERR | LLL_WARN, log_emit); }

ws_server_t *ws_server_start(const ws_config_t *cfg, const ws_callbacks_t *cb,
                             chorus_error_t *err) {
  static pthread_once_t log_once = PTHREAD_ONCE_INIT;
  chorus_error_clear(err);
  if (cfg->port == 0) {
    return NULL;
  }
  if (!cb || !cb->on_upgrade || cfg->port < 0 || cfg->port > 65535) {
    chorus_error_set(err, 500, "ws_bad_config",
                     "websocket: bad port %d or no on_upgrade", cfg->port);
    return NULL;
  }
  if (!probe_port(cfg->host, cfg->port, err)) {
    return NULL;
  }
  pthread_once(&log_once, log_init);

  ws_server_t *ws = bson_malloc0(sizeof *ws);
  ws->cb = *cb;
  ws->queue_max = cfg->queue_max ? cfg->queue_max : WS_DEFAULT_QUEUE_MAX;
  ws->max_connections = cfg->max_connections > 0 ? cfg->max_connections
                                                  : WS_DEFAULT_MAX_CONNECTIONS;
  int ping = cfg->ping_interval_s > 0 ? cfg->ping_interval_s
                                      : WS_DEFAULT_PING_S;
  ws->ping_us = (lws_usec_t)ping * LWS_US_PER_SEC;
  ws->protocols[0].name = "chorus";
  ws->protocols[0].callback = ws_callback;
  ws->protocols[0].rx_buffer_size = WS_RX_CHUNK;
  ws->protocols[0].tx_packet_size = WS_TX_PACKET;
  pthread_mutex_init(&ws->lock, NULL);

  const char *host = cfg->host;
  bool any = !host || !*host || strcmp(host, "0.0.0.0") == 0;
  struct in_addr v4;
  struct lws_context_creation_info info;
  memset(&info, 0, sizeof info);
  info.port = cfg->port;
  info.iface = any ? NULL : host;
  info.protocols = ws->protocols;
  info.options = LWS_SERVER_OPTION_VALIDATE_UTF8;
  if ((host && strcmp(host, "0.0.0.0") == 0) ||
      (!any && inet_pton(AF_INET, host, &v4) == 1)) {
    info.options |= LWS_SERVER_OPTION_DISABLE_IPV6;
  }
  info.gid = -1;
  info.uid = -1;
  info.user = ws;
  info.retry_and_idle_policy = &ws->no_validity; /* see ping_sweep */
  info.vhost_name = "chorus-ws";
  info.server_string = "chorusd";

  ws->ctx = lws_create_context(&info);
  if (!ws->ctx) {
    chorus_error_set(err, 500, "ws_listen_failed",
                     "cannot serve WebSocket on %s:%d (port in use?)",
                     host ? host : "*", cfg->port);
    pthread_mutex_destroy(&ws->lock);
    bson_free(ws);
    return NULL;
  }
  ws->ctx_alive = true;
  int rc = pthread_create(&ws->thread, NULL, service_main, ws);
  if (rc != 0) {
    chorus_error_set(err, 500, "ws_thread_failed",
                     "cannot start the WebSocket thread: %s", strerror(rc));
    lws_context_destroy(ws->ctx);
    pthread_mutex_destroy(&ws->lock);
    bson_free(ws);
    return NULL;
  }
  return ws;
}

bool ws_server_send(ws_server_t *ws, ws_conn_id_t id, const char *data,
                    size_t len) {
  ws_msg_t *m = bson_malloc(sizeof *m + LWS_PRE + len);
  m->next = NULL;
  m->len = len;
  if (len) {
    memcpy(m->buf + LWS_PRE, data, len);
  }
  ws_msg_t *dropped = NULL;
  bool queued = false;
  pthread_mutex_lock(&ws->lock);
  ws_conn_t *conn = ws->stopping ? NULL : map_find(ws, id);
  if (conn && !conn->close_code) {
    if (conn->queued >= ws->queue_max) {
      dropped = take_queue_locked(conn);
      request_close_locked(ws, conn, WS_CLOSE_POLICY, "too slow", true);
    } else {
      if (conn->tail) {
        conn->tail->next = m;
      } else {
        conn->head = m;
      }
      conn->tail = m;
      conn->queued++;
      queued = true;
      mark_pending_locked(ws, conn);
    }
  }
  pthread_mutex_unlock(&ws->lock);
  free_queue(dropped);
  if (!queued) {
    bson_free(m);
  }
  return queued;
}

void ws_server_close(ws_server_t *ws, ws_conn_id_t id, int code,
                     const char *reason) {
  if (code < 1000 || code > 4999 || code == 1005 || code == 1006 ||
      code == 1015) {
    code = WS_CLOSE_NORMAL; /* those may not be sent in a close frame */
  }
  pthread_mutex_lock(&ws->lock);
  ws_conn_t *conn = map_find(ws, id);
  if (conn) {
    request_close_locked(ws, conn, code, reason, false);
  }
  pthread_mutex_unlock(&ws->lock);
}

void ws_server_stop(ws_server_t *ws) {
  if (!ws) {
    return;
  }
  pthread_mutex_lock(&ws->lock);
  ws->stopping = true;
  ws->signalled = false; /* make sure this wake-up is sent */
  wake_locked(ws);
  pthread_mutex_unlock(&ws->lock);
  pthread_join(ws->thread, NULL);
  /* lws_context_destroy raised WSI_DESTROY for every connection. */
  bson_free(ws->slots);
  bson_free(ws->pending);
  pthread_mutex_destroy(&ws->lock);
  bson_free(ws);
}

size_t ws_server_connections(ws_server_t *ws) {
  pthread_mutex_lock(&ws->lock);
  size_t n = ws->count;
  pthread_mutex_unlock(&ws->lock);
  return n;
}
