/*
 * wsclient.c - see wsclient.h.
 *
 * The engine (one lws client context, its service thread, a mutex and a
 * condition variable) is shared by every connection.  Test threads never
 * call lws except lws_cancel_service: they put a connection on the
 * engine's pending list (to connect it, or because it has frames to send
 * or must close) and wake the service thread, which does the lws calls in
 * LWS_CALLBACK_EVENT_WAIT_CANCELLED.  Callbacks update the connection's
 * state under the mutex and broadcast the condition variable, on which
 * the test threads wait.
 *
 * A tc_ws_t is referenced by its wsi (lws's opaque user data) until
 * LWS_CALLBACK_WSI_DESTROY; the state then becomes GONE and only then may
 * tc_ws_close (or a failed tc_ws_connect) free it.  `busy` additionally
 * keeps it alive while the service thread works on it without the mutex.
 */
#include "tests/client/wsclient.h"
#include "tests/client/testclient.h"

#include <bson/bson.h>
#include <errno.h>
#include <libwebsockets.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define TC_WS_RX_MAX (16 * 1024 * 1024)
#define TC_WS_WAIT_CONNECT_MS 20000
#define TC_WS_WAIT_GONE_MS 20000

typedef enum { TC_CONNECTING, TC_OPEN, TC_CLOSED, TC_GONE } tc_state_t;

typedef struct tc_frame {
  struct tc_frame *next;
  size_t len;
  bool binary;
  unsigned char buf[]; /* LWS_PRE, then the payload */
} tc_frame_t;

typedef struct tc_text {
  struct tc_text *next;
  char *s;
} tc_text_t;

struct tc_ws {
  /* Set before the connection is handed to the engine. */
  char host[256];
  char host_header[300];
  char path[2048];
  int port;
  char *cookie;
  char *origin; /* NULL: none sent */
  /* Under g.lock. */
  tc_state_t state;
  int http_status;
  int close_code;
  bool want_close;
  bool connect_requested;
  bool pending;
  bool busy;
  tc_frame_t *out_head, *out_tail;
  tc_text_t *in_head, *in_tail;
  /* Service thread only. */
  struct lws *wsi;
  char *rx;
  size_t rx_len;
  bool rx_overflow;
};

static struct {
  pthread_once_t once;
  pthread_mutex_t lock;
  pthread_cond_t cond; /* any state change of any connection */
  struct lws_context *ctx;
  pthread_t thread;
  int users;
  bool stopping;
  bool exit; /* set with the wake-up, under the lock */
  tc_ws_t **pending;
  size_t n_pending, cap_pending;
} g = {.once = PTHREAD_ONCE_INIT, .lock = PTHREAD_MUTEX_INITIALIZER};

static struct lws_protocols client_protocols[2];

/* ------------------------------------------------------------------ */
/* helpers                                                             */
/* ------------------------------------------------------------------ */

static void engine_init_once(void) {
  pthread_condattr_t attr;
  pthread_condattr_init(&attr);
  pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
  pthread_cond_init(&g.cond, &attr);
  pthread_condattr_destroy(&attr);
}

static struct timespec deadline_in(int ms) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  if (ms < 0) {
    ms = 0;
  }
  ts.tv_sec += ms / 1000;
  ts.tv_nsec += (long)(ms % 1000) * 1000000L;
  if (ts.tv_nsec >= 1000000000L) {
    ts.tv_sec++;
    ts.tv_nsec -= 1000000000L;
  }
  return ts;
}

/* Waits on g.cond until the deadline; false when it passed. */
static bool wait_until(const struct timespec *deadline) {
  return pthread_cond_timedwait(&g.cond, &g.lock, deadline) != ETIMEDOUT;
}

static void wake_locked(tc_ws_t *ws) {
  if (!ws->pending) {
    if (g.n_pending == g.cap_pending) {
      g.cap_pending = g.cap_pending ? g.cap_pending * 2 : 64;
      g.pending = bson_realloc(g.pending, g.cap_pending * sizeof *g.pending);
    }
    g.pending[g.n_pending++] = ws;
    ws->pending = true;
  }
  lws_cancel_service(g.ctx);
}

static void free_frames(tc_frame_t *f) {
  while (f) {
    tc_frame_t *next = f->next;
    bson_free(f);
    f = next;
  }
}

static void free_texts(tc_text_t *t) {
  while (t) {
    tc_text_t *next = t->next;
    bson_free(t->s);
    bson_free(t);
    t = next;
  }
}

/* ------------------------------------------------------------------ */
/* the service thread                                                  */
/* ------------------------------------------------------------------ */

static void start_connect(tc_ws_t *ws) {
  struct lws_client_connect_info ci;
  memset(&ci, 0, sizeof ci);
  ci.context = g.ctx;
  ci.address = ws->host;
  ci.port = ws->port;
  ci.path = ws->path;
  ci.host = ws->host_header;
  ci.origin = NULL;   /* sent by hand (client_callback): lws adds "http://" */
  ci.protocol = NULL; /* no subprotocol: the server's default */
  ci.local_protocol_name = client_protocols[0].name;
  ci.opaque_user_data = ws;
  ci.pwsi = &ws->wsi;
  if (!lws_client_connect_via_info(&ci)) {
    pthread_mutex_lock(&g.lock);
    ws->state = TC_GONE;
    pthread_cond_broadcast(&g.cond);
    pthread_mutex_unlock(&g.lock);
  }
}

static void on_wake(void) {
  pthread_mutex_lock(&g.lock);
  size_t n = g.n_pending;
  tc_ws_t **list = g.pending;
  g.pending = NULL;
  g.n_pending = g.cap_pending = 0;
  for (size_t i = 0; i < n; i++) {
    list[i]->pending = false;
    list[i]->busy = true;
  }
  pthread_mutex_unlock(&g.lock);

  for (size_t i = 0; i < n; i++) {
    tc_ws_t *ws = list[i];
    pthread_mutex_lock(&g.lock);
    bool connect = ws->connect_requested;
    ws->connect_requested = false;
    bool open = ws->state == TC_OPEN;
    pthread_mutex_unlock(&g.lock);
    if (connect) {
      start_connect(ws);
    } else if (open && ws->wsi) {
      lws_callback_on_writable(ws->wsi);
    }
  }

  pthread_mutex_lock(&g.lock);
  for (size_t i = 0; i < n; i++) {
    list[i]->busy = false;
  }
  pthread_cond_broadcast(&g.cond);
  pthread_mutex_unlock(&g.lock);
  bson_free(list);
}

static int on_writeable(tc_ws_t *ws, struct lws *wsi) {
  pthread_mutex_lock(&g.lock);
  tc_frame_t *f = ws->out_head;
  if (f) {
    ws->out_head = f->next;
    if (!ws->out_head) {
      ws->out_tail = NULL;
    }
  }
  bool close = !f && ws->want_close;
  pthread_mutex_unlock(&g.lock);
  if (close) {
    lws_close_reason(wsi, LWS_CLOSE_STATUS_NORMAL, NULL, 0);
    return -1;
  }
  if (!f) {
    return 0;
  }
  int n = lws_write(wsi, f->buf + LWS_PRE, f->len,
                    f->binary ? LWS_WRITE_BINARY : LWS_WRITE_TEXT);
  bool ok = n >= 0 && (size_t)n >= f->len;
  bson_free(f);
  if (!ok) {
    return -1;
  }
  pthread_mutex_lock(&g.lock);
  bool more = ws->out_head || ws->want_close;
  pthread_mutex_unlock(&g.lock);
  if (more) {
    lws_callback_on_writable(wsi);
  }
  return 0;
}

static void on_receive(tc_ws_t *ws, struct lws *wsi, const char *in,
                       size_t len) {
  if (ws->rx_len + len > TC_WS_RX_MAX) {
    ws->rx_overflow = true;
  } else if (len) {
    ws->rx = bson_realloc(ws->rx, ws->rx_len + len + 1);
    memcpy(ws->rx + ws->rx_len, in, len);
    ws->rx_len += len;
  }
  if (!lws_is_final_fragment(wsi)) {
    return;
  }
  char *s = ws->rx ? ws->rx : bson_strdup("");
  s[ws->rx_len] = '\0';
  bool overflow = ws->rx_overflow;
  ws->rx = NULL;
  ws->rx_len = 0;
  ws->rx_overflow = false;
  if (overflow) {
    fprintf(stderr, "tc_ws: dropped a message over %d bytes\n", TC_WS_RX_MAX);
    bson_free(s);
    return;
  }
  tc_text_t *t = bson_malloc0(sizeof *t);
  t->s = s;
  pthread_mutex_lock(&g.lock);
  if (ws->in_tail) {
    ws->in_tail->next = t;
  } else {
    ws->in_head = t;
  }
  ws->in_tail = t;
  pthread_cond_broadcast(&g.cond);
  pthread_mutex_unlock(&g.lock);
}

static void set_state(tc_ws_t *ws, tc_state_t state, int http_status,
                      int close_code) {
  pthread_mutex_lock(&g.lock);
  if (state > ws->state) {
    ws->state = state;
  }
  if (http_status) {
    ws->http_status = http_status;
  }
  if (close_code && !ws->close_code) {
    ws->close_code = close_code;
  }
  pthread_cond_broadcast(&g.cond);
  pthread_mutex_unlock(&g.lock);
}

static int client_callback(struct lws *wsi, enum lws_callback_reasons reason,
                           void *user, void *in, size_t len) {
  tc_ws_t *ws = wsi ? lws_get_opaque_user_data(wsi) : NULL;
  switch (reason) {
  case LWS_CALLBACK_EVENT_WAIT_CANCELLED:
    on_wake();
    return 0;
  case LWS_CALLBACK_CLIENT_APPEND_HANDSHAKE_HEADER: {
    unsigned char **p = in, *end = *p + len;
    if (ws && ws->cookie &&
        lws_add_http_header_by_token(wsi, WSI_TOKEN_HTTP_COOKIE,
                                     (unsigned char *)ws->cookie,
                                     (int)strlen(ws->cookie), p, end)) {
      return -1;
    }
    if (ws && ws->origin &&
        lws_add_http_header_by_token(wsi, WSI_TOKEN_ORIGIN,
                                     (unsigned char *)ws->origin,
                                     (int)strlen(ws->origin), p, end)) {
      return -1;
    }
    return 0;
  }
  case LWS_CALLBACK_ESTABLISHED_CLIENT_HTTP:
    if (ws) {
      set_state(ws, TC_CONNECTING, lws_http_client_http_response(wsi), 0);
    }
    return 0;
  case LWS_CALLBACK_CLIENT_CONNECTION_ERROR:
    if (ws && getenv("TC_WS_DEBUG")) {
      fprintf(stderr, "tc_ws: %s:%d%s: %.*s\n", ws->host, ws->port, ws->path,
              in ? (int)len : 0, in ? (const char *)in : "");
    }
    return 0;
  case LWS_CALLBACK_CLIENT_ESTABLISHED:
    if (ws) {
      set_state(ws, TC_OPEN, 101, 0);
      lws_callback_on_writable(wsi); /* anything queued meanwhile */
    }
    return 0;
  case LWS_CALLBACK_CLIENT_RECEIVE:
    if (ws) {
      on_receive(ws, wsi, in, len);
    }
    return 0;
  case LWS_CALLBACK_WS_PEER_INITIATED_CLOSE:
    if (ws) {
      const unsigned char *p = in;
      int code = len >= 2 ? (p[0] << 8 | p[1]) : 1005;
      set_state(ws, TC_OPEN, 0, code);
    }
    return 0;
  case LWS_CALLBACK_CLIENT_WRITEABLE:
    return ws ? on_writeable(ws, wsi) : 0;
  case LWS_CALLBACK_CLIENT_CLOSED:
    if (ws) {
      pthread_mutex_lock(&g.lock);
      bool ours = ws->want_close;
      pthread_mutex_unlock(&g.lock);
      set_state(ws, TC_CLOSED, 0, ours ? 1000 : 1006);
    }
    return 0;
  case LWS_CALLBACK_WSI_DESTROY:
    if (ws) {
      lws_set_opaque_user_data(wsi, NULL);
      bson_free(ws->rx);
      ws->rx = NULL;
      ws->wsi = NULL;
      pthread_mutex_lock(&g.lock);
      bool was_open = ws->state == TC_OPEN;
      bool ours = ws->want_close;
      pthread_mutex_unlock(&g.lock);
      set_state(ws, TC_GONE, 0, was_open ? (ours ? 1000 : 1006) : 0);
    }
    return 0;
  default:
    return lws_callback_http_dummy(wsi, reason, user, in, len);
  }
}

static void *engine_main(void *arg) {
  (void)arg;
  for (;;) {
    if (lws_service(g.ctx, 0) < 0) {
      break;
    }
    /* Read under the lock: whoever sets it wakes lws under the lock too,
     * so the context is not destroyed while lws_cancel_service uses it. */
    pthread_mutex_lock(&g.lock);
    bool done = g.exit;
    pthread_mutex_unlock(&g.lock);
    if (done) {
      break;
    }
  }
  lws_context_destroy(g.ctx);
  return NULL;
}

/* Starts the engine for its first user; g.lock held. */
static bool engine_acquire_locked(void) {
  while (g.stopping) {
    pthread_cond_wait(&g.cond, &g.lock);
  }
  if (g.users++ > 0) {
    return true;
  }
  lws_set_log_level(LLL_ERR | LLL_WARN, NULL);
  client_protocols[0].name = "tc-ws";
  client_protocols[0].callback = client_callback;
  struct lws_context_creation_info info;
  memset(&info, 0, sizeof info);
  info.port = CONTEXT_PORT_NO_LISTEN;
  info.protocols = client_protocols;
  info.gid = -1;
  info.uid = -1;
  g.ctx = lws_create_context(&info);
  if (!g.ctx) {
    g.users--;
    return false;
  }
  g.exit = false;
  if (pthread_create(&g.thread, NULL, engine_main, NULL) != 0) {
    lws_context_destroy(g.ctx);
    g.ctx = NULL;
    g.users--;
    return false;
  }
  return true;
}

/* Stops the engine after its last user; g.lock held on entry and exit. */
static void engine_release_locked(void) {
  if (--g.users > 0) {
    return;
  }
  g.stopping = true;
  g.exit = true;
  lws_cancel_service(g.ctx);
  pthread_mutex_unlock(&g.lock);
  pthread_join(g.thread, NULL);
  pthread_mutex_lock(&g.lock);
  g.ctx = NULL;
  bson_free(g.pending);
  g.pending = NULL;
  g.n_pending = g.cap_pending = 0;
  g.stopping = false;
  pthread_cond_broadcast(&g.cond);
}

/* ------------------------------------------------------------------ */
/* the API                                                             */
/* ------------------------------------------------------------------ */

static bool parse_url(tc_ws_t *ws, const char *url) {
  if (strncmp(url, "ws://", 5) != 0) {
    return false;
  }
  const char *h = url + 5;
  const char *slash = strchr(h, '/');
  const char *colon = strchr(h, ':');
  const char *host_end = slash ? slash : h + strlen(h);
  if (colon && colon < host_end) {
    ws->port = atoi(colon + 1);
    host_end = colon;
  } else {
    ws->port = 80;
  }
  size_t hl = (size_t)(host_end - h);
  if (hl == 0 || hl >= sizeof ws->host || ws->port <= 0 || ws->port > 65535) {
    return false;
  }
  memcpy(ws->host, h, hl);
  ws->host[hl] = '\0';
  snprintf(ws->host_header, sizeof ws->host_header, "%s:%d", ws->host,
           ws->port);
  int n = snprintf(ws->path, sizeof ws->path, "%s", slash ? slash : "/");
  return n > 0 && (size_t)n < sizeof ws->path;
}

static void destroy(tc_ws_t *ws) {
  free_frames(ws->out_head);
  free_texts(ws->in_head);
  bson_free(ws->cookie);
  bson_free(ws->origin);
  bson_free(ws);
}

tc_ws_t *tc_ws_connect(const char *url, const char *cookie, int *http_status) {
  return tc_ws_connect_origin(url, cookie, NULL, http_status);
}

tc_ws_t *tc_ws_connect_origin(const char *url, const char *cookie,
                              const char *origin, int *http_status) {
  if (http_status) {
    *http_status = 0;
  }
  tc_ws_t *ws = bson_malloc0(sizeof *ws);
  if (!parse_url(ws, url)) {
    fprintf(stderr, "tc_ws_connect: bad URL %s\n", url);
    destroy(ws);
    return NULL;
  }
  ws->cookie = cookie ? bson_strdup(cookie) : NULL;
  ws->origin = origin ? bson_strdup(origin) : NULL;
  ws->state = TC_CONNECTING;
  ws->connect_requested = true;

  pthread_once(&g.once, engine_init_once);
  pthread_mutex_lock(&g.lock);
  if (!engine_acquire_locked()) {
    pthread_mutex_unlock(&g.lock);
    destroy(ws);
    return NULL;
  }
  wake_locked(ws);
  struct timespec deadline = deadline_in(TC_WS_WAIT_CONNECT_MS);
  while (ws->state == TC_CONNECTING) {
    if (!wait_until(&deadline)) {
      /* lws times out handshakes itself; this should not happen.  The
       * engine may still use ws, so it is leaked rather than freed. */
      fprintf(stderr, "tc_ws_connect: %s: no answer\n", url);
      pthread_mutex_unlock(&g.lock);
      return NULL;
    }
  }
  if (http_status) {
    *http_status = ws->http_status;
  }
  if (ws->state != TC_OPEN) {
    /* refused: wait until lws is done with it */
    while (ws->state != TC_GONE || ws->busy || ws->pending) {
      pthread_cond_wait(&g.cond, &g.lock);
    }
    engine_release_locked();
    pthread_mutex_unlock(&g.lock);
    destroy(ws);
    return NULL;
  }
  pthread_mutex_unlock(&g.lock);
  return ws;
}

static bool queue_frame(tc_ws_t *ws, const void *data, size_t len,
                        bool binary) {
  tc_frame_t *f = bson_malloc(sizeof *f + LWS_PRE + len);
  f->next = NULL;
  f->len = len;
  f->binary = binary;
  if (len) {
    memcpy(f->buf + LWS_PRE, data, len);
  }
  pthread_mutex_lock(&g.lock);
  bool ok = ws->state == TC_OPEN && !ws->want_close;
  if (ok) {
    if (ws->out_tail) {
      ws->out_tail->next = f;
    } else {
      ws->out_head = f;
    }
    ws->out_tail = f;
    wake_locked(ws);
  }
  pthread_mutex_unlock(&g.lock);
  if (!ok) {
    bson_free(f);
  }
  return ok;
}

bool tc_ws_send_text(tc_ws_t *ws, const char *data, size_t len) {
  return queue_frame(ws, data, len, false);
}

bool tc_ws_send_raw_frame(tc_ws_t *ws, const void *data, size_t len,
                          bool binary) {
  return queue_frame(ws, data, len, binary);
}

char *tc_ws_recv(tc_ws_t *ws, int timeout_ms) {
  struct timespec deadline = deadline_in(timeout_ms);
  char *s = NULL;
  pthread_mutex_lock(&g.lock);
  for (;;) {
    if (ws->in_head) {
      tc_text_t *t = ws->in_head;
      ws->in_head = t->next;
      if (!ws->in_head) {
        ws->in_tail = NULL;
      }
      s = t->s;
      bson_free(t);
      break;
    }
    if (ws->state >= TC_CLOSED || !wait_until(&deadline)) {
      break;
    }
  }
  pthread_mutex_unlock(&g.lock);
  return s;
}

bool tc_ws_is_closed(tc_ws_t *ws, int *close_code) {
  pthread_mutex_lock(&g.lock);
  bool closed = ws->state >= TC_CLOSED;
  if (close_code) {
    *close_code = closed ? ws->close_code : 0;
  }
  pthread_mutex_unlock(&g.lock);
  return closed;
}

bool tc_ws_wait_closed(tc_ws_t *ws, int timeout_ms, int *close_code) {
  struct timespec deadline = deadline_in(timeout_ms);
  pthread_mutex_lock(&g.lock);
  while (ws->state < TC_CLOSED && wait_until(&deadline)) {
  }
  bool closed = ws->state >= TC_CLOSED;
  if (close_code) {
    *close_code = closed ? ws->close_code : 0;
  }
  pthread_mutex_unlock(&g.lock);
  return closed;
}

void tc_ws_close(tc_ws_t *ws) {
  if (!ws) {
    return;
  }
  pthread_mutex_lock(&g.lock);
  if (ws->state < TC_GONE) {
    ws->want_close = true;
    wake_locked(ws);
  }
  struct timespec deadline = deadline_in(TC_WS_WAIT_GONE_MS);
  while (ws->state != TC_GONE || ws->busy || ws->pending) {
    if (!wait_until(&deadline)) {
      fprintf(stderr, "tc_ws_close: the connection did not go away\n");
      pthread_mutex_unlock(&g.lock);
      return; /* leaked: lws may still use it */
    }
  }
  engine_release_locked();
  pthread_mutex_unlock(&g.lock);
  destroy(ws);
}

/* ---- for integration tests ---- */

void tc_ws_url(const char *base, char *out, size_t size) {
  tc_client_t *c = tc_client_new(base);
  tc_response_t r;
  tc_get_ok(c, "/api/config", &r);
  const char *path = tc_json_str(&r, "ws_path");
  assert_non_null(path);
  assert_int_equal(path[0], '/');
  assert_true(tc_json_has(&r, "ws_port"));
  assert_int_equal(strncmp(base, "http://", 7), 0);
  const char *authority = base + 7;
  int n;
  if (tc_json_is_null(&r, "ws_port")) { /* the page's own host and port */
    n = snprintf(out, size, "ws://%.*s%s", (int)strcspn(authority, "/"),
                 authority, path);
  } else { /* the page's host, another port */
    int64_t port = tc_json_int(&r, "ws_port");
    assert_true(port > 0 && port < 65536);
    n = snprintf(out, size, "ws://%.*s:%lld%s", (int)strcspn(authority, ":/"),
                 authority, (long long)port, path);
  }
  assert_true(n > 0 && (size_t)n < size);
  tc_response_free(&r);
  tc_client_destroy(c);
}

bson_t *tc_ws_recv_json(tc_ws_t *ws, int timeout_ms) {
  char *text = tc_ws_recv(ws, timeout_ms);
  if (!text) {
    return NULL;
  }
  bson_error_t err;
  bson_t *doc = bson_new_from_json((const uint8_t *)text, -1, &err);
  if (!doc) {
    fail_msg("WebSocket message is not JSON: %s", text);
  }
  bson_free(text);
  return doc;
}
