/*
 * bench_ws.c - real-time delivery over WebSockets: how many authenticated
 * clients one server holds, what they cost in memory, and how fast an
 * event made on one server reaches every client of another.
 *
 *   bench_ws --url-a http://127.0.0.1:PA --url-b http://127.0.0.1:PB
 *            [--clients N] [--clients-a NA] [--events K] [--users U]
 *            [--interval-ms MS] [--connect-window W] [--settle-s S]
 *            [--pid NAME:PID ...] [--top FILE] [--json FILE] [--dump FILE]
 *            [--poll [--loops L]]
 *
 * 1. Registers U users (POST /api/register, Argon2id: slow on purpose, so
 *    few) and keeps their session cookies; user 0 posts one tweet T on
 *    server A.
 * 2. Asks GET /api/config of B (and of A with --clients-a) for the
 *    WebSocket's port and path (on the host of --url-b / --url-a) and
 *    opens N WebSocket clients to B (NA to A), spread round-robin over the
 *    users, each with its user's chorus_session cookie.  All of them are
 *    driven by ONE libwebsockets client context with one service thread,
 *    on libev (epoll): lws's default poll(2) loop scans every socket at
 *    each wake-up, which with 10,000 clients was half of this program's
 *    CPU and made it, not the server, the bottleneck.  (--poll --loops L
 *    uses L poll(2) contexts instead; libev allows one per process.)  At
 *    most --connect-window handshakes are in flight at a time: the server
 *    resolves each session with a database query in its event loop, and a
 *    burst of 10,000 SYNs would overflow its listen backlog.  A failed
 *    handshake is retried (--retries).  Every client sends
 *    {"type":"subscribe","tweets":[T]} once open.
 * 3. Warm-up: edits T on A (PUT /api/tweet/T) until every open client has
 *    received one warm-up tweet.updated: the server loads each new
 *    client's follows in a worker and holds its events until then, so
 *    only now is every client "ready".
 * 4. The measurement: K edits of T on A, --interval-ms apart, each with
 *    its number in the text.  t_send is taken just before the request is
 *    sent, t_answer when its 200 answer has arrived (one keep-alive
 *    connection, TCP_NODELAY).  Each client takes the arrival time of each
 *    tweet.updated (CLOCK_MONOTONIC, the moment lws hands the first byte
 *    of the message to the callback) and matches it to its event by the
 *    number in the text.  After the last answer it waits --settle-s at
 *    most for the deliveries still missing.
 *
 * Prints: clients connected (and failed, dropped), how long connecting
 * and getting ready took; VmRSS of every --pid before the clients, the
 * highest while connecting (sampled every 20 ms), with them connected,
 * the highest during the events, and VmHWM; their CPU during the events
 * and their open fds; p50/p90/p99/max delivery latency measured from
 * t_answer (the figure the target is about), from t_send (includes the
 * edit's own two-phase commit on A) and from the first client's arrival
 * of the same event (the fan-out spread inside B and this client); per
 * event the first and last arrival; the events lost (expected = clients
 * open when the events began x answered events, minus received),
 * duplicates, out-of-order sequence numbers, unexpected messages.
 *
 * The results are read under each loop's mutex after setting `frozen`, so
 * late deliveries cannot change them; the loop is not stopped (a libev
 * loop cannot be from another thread) and the process ends with _exit,
 * closing its connections.
 *
 * Chorus publishes an event (inserts its bell) before it answers the
 * request that made it, so a client may get an event before t_answer:
 * such deliveries count with a negative latency, and their number is
 * printed.
 *
 * A benchmark prints figures: it exits non-zero only when it cannot run
 * (bad arguments, registration or the tweet failed, no client connected),
 * never because a figure misses a target.
 */
#include <curl/curl.h>
#include <dirent.h>
#include <inttypes.h>
#include <libwebsockets.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "bench/bench_common.h"

#define MAX_PIDS 16
#define MAX_TIDS 256
#define MAX_LOOPS 16
#define MAX_REASONS 6
#define SCRATCH_MAX 65536

/* ------------------------------------------------------------ options */

typedef struct pid_watch {
  char name[32];
  long pid;
  long rss_before_kb, rss_connected_kb, rss_end_kb, hwm_kb;
  /* Highest VmRSS seen by the sampler (every 20 ms) while connecting and
   * warming up, and while the events were delivered. */
  long rss_peak_connect_kb, rss_peak_kb;
  long fds_connected;
  long nofile_limit;
  double cpu_start_s, cpu_used_s; /* during the events; < 0 unreadable */
  /* Its threads' CPU seconds at the start of the events, and the busiest
   * thread during them (a single event-loop thread shows here). */
  long tids[MAX_TIDS];
  double tid_start_s[MAX_TIDS];
  int n_tids;
  long busiest_tid;
  double busiest_s;
} pid_watch_t;

static struct {
  const char *url_a, *url_b;
  int clients_b, clients_a;
  int events;
  int users;
  int reg_threads;
  long interval_ms;
  int window;
  int loops;
  int retries;
  bool use_poll;
  double connect_timeout_s, ready_timeout_s, settle_s;
  const char *json_path, *top_path, *dump_path;
  pid_watch_t pids[MAX_PIDS];
  int n_pids;
} opt = {.clients_b = 10000,
         .events = 20,
         .users = 50,
         .reg_threads = 8,
         .interval_ms = 200,
         .window = 200,
         .loops = 1,
         .retries = 3,
         .connect_timeout_s = 600,
         .ready_timeout_s = 300,
         .settle_s = 10};

static void usage(FILE *out) {
  fprintf(
      out,
      "Usage: bench_ws --url-a http://HOST:PORT --url-b http://HOST:PORT "
      "[options]\n"
      "Real-time delivery: events made on A, delivered to WebSocket "
      "clients of B.\n\n"
      "  --url-a URL          server where the events are made (edits)\n"
      "  --url-b URL          server the clients connect to\n"
      "  --clients N          WebSocket clients on B (default 10000)\n"
      "  --clients-a N        WebSocket clients on A as well (default 0)\n"
      "  --events K           measured events (default 20)\n"
      "  --users U            users to register; clients are spread over\n"
      "                       them (default 50)\n"
      "  --interval-ms MS     between the starts of two events (200)\n"
      "  --connect-window W   handshakes in flight at most (200)\n"
      "  --loops L            with --poll: lws client contexts, one\n"
      "                       service thread each (default 1)\n"
      "  --retries R          retries of a failed handshake (3)\n"
      "  --poll               lws's poll(2) loop instead of libev (epoll);\n"
      "                       slower with thousands of clients\n"
      "  --connect-timeout-s S  give up connecting after S (600)\n"
      "  --ready-timeout-s S  give up the warm-up after S (300)\n"
      "  --settle-s S         wait for late deliveries after the last\n"
      "                       event's answer (10)\n"
      "  --pid NAME:PID       report VmRSS, CPU and fds of PID\n"
      "                       (repeatable; e.g. chorusd-b:1234)\n"
      "  --top FILE           save `top -b` taken during the events\n"
      "  --json FILE          also write the results as one JSON line\n"
      "  --dump FILE          write every delivery: event client ms\n"
      "                       (from the answer)\n"
      "  --register-threads T parallel registrations (default 8)\n"
      "  --help\n");
}

/* --pid NAME:PID: one more process to watch (at most MAX_PIDS). */
static void add_pid(const char *value) {
  pid_watch_t *w = &opt.pids[opt.n_pids];
  if (opt.n_pids == MAX_PIDS ||
      !bench_parse_name_pid(value, w->name, sizeof w->name, &w->pid)) {
    bench_die_usage("--pid takes NAME:PID (at most %d), not '%s'", MAX_PIDS,
                    value);
  }
  opt.n_pids++;
}

static void parse_args(int argc, char **argv) {
  const bench_opt_t opts[] = {
      BENCH_URL("url-a", &opt.url_a),
      BENCH_URL("url-b", &opt.url_b),
      BENCH_INT("clients", &opt.clients_b, 0, 1000000),
      BENCH_INT("clients-a", &opt.clients_a, 0, 1000000),
      BENCH_INT("events", &opt.events, 1, 100000),
      BENCH_INT("users", &opt.users, 1, 10000),
      BENCH_LONG("interval-ms", &opt.interval_ms, 0, 600000),
      BENCH_INT("connect-window", &opt.window, 1, 100000),
      BENCH_INT("loops", &opt.loops, 1, MAX_LOOPS),
      BENCH_INT("retries", &opt.retries, 0, 100),
      BENCH_DOUBLE("connect-timeout-s", &opt.connect_timeout_s, 1, 86400),
      BENCH_DOUBLE("ready-timeout-s", &opt.ready_timeout_s, 1, 86400),
      BENCH_DOUBLE("settle-s", &opt.settle_s, 0, 3600),
      BENCH_CALL("pid", add_pid),
      BENCH_STRING("top", &opt.top_path),
      BENCH_STRING("json", &opt.json_path),
      BENCH_STRING("dump", &opt.dump_path),
      BENCH_INT("register-threads", &opt.reg_threads, 1, 256),
      BENCH_FLAG("poll", &opt.use_poll),
  };
  bench_parse_args(argc, argv, opts, sizeof opts / sizeof opts[0], usage);
  if (!opt.url_a || !opt.url_b) {
    bench_die_usage(
        "--url-a and --url-b are needed (they may be the same server)");
  }
  if (opt.clients_a + opt.clients_b == 0) {
    bench_die_usage("no clients: --clients and --clients-a are both 0");
  }
  if (opt.loops > 1 && !opt.use_poll) {
    bench_die_usage("--loops above 1 needs --poll (libwebsockets' libev loop "
                    "allows one loop per process)");
  }
}

/* ------------------------------------------------------------ clocks, /proc */

/* A "Key:   123 kB" line of /proc/PID/status, in kB; -1 if unreadable. */
static long proc_status_kb(long pid, const char *key) {
  char path[64], line[256];
  snprintf(path, sizeof path, "/proc/%ld/status", pid);
  FILE *f = fopen(path, "r");
  if (!f) {
    return -1;
  }
  size_t klen = strlen(key);
  long v = -1;
  while (fgets(line, sizeof line, f)) {
    if (!strncmp(line, key, klen) && line[klen] == ':') {
      v = strtol(line + klen + 1, NULL, 10);
      break;
    }
  }
  fclose(f);
  return v;
}

static long proc_fds(long pid) {
  char path[64];
  snprintf(path, sizeof path, "/proc/%ld/fd", pid);
  DIR *d = opendir(path);
  if (!d) {
    return -1;
  }
  long n = 0;
  struct dirent *e;
  while ((e = readdir(d))) {
    if (e->d_name[0] != '.') {
      n++;
    }
  }
  closedir(d);
  return n;
}

/* The soft "Max open files" of pid; -1 if unreadable. */
static long proc_nofile(long pid) {
  char path[64], line[256];
  snprintf(path, sizeof path, "/proc/%ld/limits", pid);
  FILE *f = fopen(path, "r");
  if (!f) {
    return -1;
  }
  long v = -1;
  while (fgets(line, sizeof line, f)) {
    if (!strncmp(line, "Max open files", 14)) {
      v = strtol(line + 14, NULL, 10);
      break;
    }
  }
  fclose(f);
  return v;
}

/* Up to max thread ids of pid; how many. */
static int proc_tids(long pid, long *tids, int max) {
  char path[64];
  snprintf(path, sizeof path, "/proc/%ld/task", pid);
  DIR *d = opendir(path);
  if (!d) {
    return 0;
  }
  int n = 0;
  struct dirent *e;
  while ((e = readdir(d)) && n < max) {
    if (e->d_name[0] != '.') {
      tids[n++] = strtol(e->d_name, NULL, 10);
    }
  }
  closedir(d);
  return n;
}

/* ------------------------------------------------------------ JSON */

/* The string value of "key" in a JSON text (spaces allowed around ':'),
 * copied into out; false if absent or too long. */
static bool json_string(const char *json, const char *key, char *out,
                        size_t cap) {
  char pat[64];
  snprintf(pat, sizeof pat, "\"%s\"", key);
  const char *p = strstr(json, pat);
  if (!p) {
    return false;
  }
  p += strlen(pat);
  while (*p == ' ' || *p == ':') {
    p++;
  }
  if (*p != '"') {
    return false;
  }
  p++;
  size_t n = strcspn(p, "\"");
  if (p[n] != '"' || n >= cap) {
    return false;
  }
  memcpy(out, p, n);
  out[n] = '\0';
  return true;
}

/* The WebSocket URL GET /api/config answers for a page at base
 * ("http://host:port"): {"ws_port", "ws_path"} are relative to the
 * page's host (ws_port null: the page's own port, behind nginx); false
 * if the answer or base is not like that. */
static bool ws_url_from_config(const char *base, const char *json, char *out,
                               size_t cap) {
  char path[256];
  const char *p = strstr(json, "\"ws_port\"");
  if (strncmp(base, "http://", 7) || !p ||
      !json_string(json, "ws_path", path, sizeof path) || path[0] != '/') {
    return false;
  }
  p += strlen("\"ws_port\"");
  while (*p == ' ' || *p == ':') {
    p++;
  }
  const char *authority = base + 7;
  size_t host_len = strcspn(authority, ":/");
  size_t authority_len = strcspn(authority, "/");
  int n;
  if (!strncmp(p, "null", 4)) {
    n = snprintf(out, cap, "ws://%.*s%s", (int)authority_len, authority, path);
  } else {
    char *e;
    long port = strtol(p, &e, 10);
    if (e == p || port < 1 || port > 65535) {
      return false;
    }
    n = snprintf(out, cap, "ws://%.*s:%ld%s", (int)host_len, authority, port,
                 path);
  }
  return n > 0 && (size_t)n < cap;
}

/* ------------------------------------------------------------ users */

static bench_user_t *users;

/* ------------------------------------------------------------ clients */

enum { C_QUEUED, C_CONNECTING, C_OPEN, C_FAILED, C_CLOSED };

typedef struct client {
  int idx;
  int user;
  int server; /* 0: B, 1: A */
  int state;  /* C_*, service thread only (read by main after the join) */
  int attempts;
  bool sub_sent;
  bool warm;
  bool closed_early; /* dropped while the events were measured */
  int64_t last_seq;
  struct lws *wsi;
  char *rx;
  size_t rx_len;
  double rx_t;
  double t_start, t_open;
} client_t;

typedef struct loop {
  int id;
  struct lws_context *ctx;
  pthread_t thread;
  lws_sorted_usec_list_t pump;
  int *queue; /* ring of client indexes to connect */
  size_t q_cap, q_head, q_len;
  int inflight;
  /* Recursive: lws may call back from inside lws_client_connect_via_info.
   * Held by the service thread while it changes a client; the main thread
   * takes it once, to set `frozen`, before it reads the results. */
  pthread_mutex_t mu;
  bool frozen; /* the results are being read: change nothing */
  char *scratch;
} loop_t;

typedef struct target {
  char host[256];
  char host_header[300];
  char path[256];
  int port;
} target_t;

static client_t *clients;
static int n_clients;
static loop_t loops[MAX_LOOPS];
static target_t targets[2]; /* 0: B, 1: A */
static char tweet_id[25];
static char run_tag[24]; /* "wsb" + hex: marks this run's texts */
static size_t run_tag_len;
static double *arrive; /* [client * events + event]; 0: not received */

static atomic_int n_open, n_established, n_failed_attempts, n_failed_final,
    n_dropped, n_warm, n_unexpected, n_out_of_order, n_dup;
static atomic_long n_received;
static atomic_bool measuring; /* events phase: drops count as early */

static pthread_mutex_t reasons_lock = PTHREAD_MUTEX_INITIALIZER;
static struct {
  char text[160];
  int count;
} reasons[MAX_REASONS];
static int n_reasons;
static char unexpected_sample[200];

static void note_reason(const char *text) {
  pthread_mutex_lock(&reasons_lock);
  int i;
  for (i = 0; i < n_reasons; i++) {
    if (!strcmp(reasons[i].text, text)) {
      break;
    }
  }
  if (i == n_reasons && n_reasons < MAX_REASONS) {
    snprintf(reasons[i].text, sizeof reasons[i].text, "%s", text);
    n_reasons++;
  }
  if (i < n_reasons) {
    reasons[i].count++;
  }
  pthread_mutex_unlock(&reasons_lock);
}

static void queue_push(loop_t *l, int idx) {
  l->queue[(l->q_head + l->q_len) % l->q_cap] = idx;
  l->q_len++;
}

static const struct lws_protocols *client_protocols;

static void pump_cb(lws_sorted_usec_list_t *sul);

static void conn_failed(loop_t *l, client_t *c, const char *why) {
  if (c->state != C_CONNECTING) {
    return;
  }
  l->inflight--;
  c->wsi = NULL;
  atomic_fetch_add(&n_failed_attempts, 1);
  note_reason(why && *why ? why : "connection failed");
  if (c->attempts <= opt.retries) {
    c->state = C_QUEUED;
    queue_push(l, c->idx);
    lws_sul_schedule(l->ctx, 0, &l->pump, pump_cb, 50 * LWS_US_PER_MS);
  } else {
    c->state = C_FAILED;
    atomic_fetch_add(&n_failed_final, 1);
  }
}

static void start_connect(loop_t *l, client_t *c) {
  const target_t *t = &targets[c->server];
  struct lws_client_connect_info ci;
  memset(&ci, 0, sizeof ci);
  ci.context = l->ctx;
  ci.address = t->host;
  ci.port = t->port;
  ci.path = t->path;
  ci.host = t->host_header;
  ci.origin = NULL; /* a program, not a page: no Origin (ws.h) */
  ci.protocol = NULL;
  ci.local_protocol_name = client_protocols[0].name;
  ci.opaque_user_data = c;
  ci.pwsi = &c->wsi;
  c->state = C_CONNECTING;
  c->attempts++;
  if (c->t_start == 0) {
    c->t_start = bench_now_s();
  }
  l->inflight++;
  if (!lws_client_connect_via_info(&ci)) {
    conn_failed(l, c, "lws_client_connect_via_info failed");
  }
}

static void pump_cb(lws_sorted_usec_list_t *sul) {
  loop_t *l = lws_container_of(sul, loop_t, pump);
  pthread_mutex_lock(&l->mu);
  if (l->frozen) {
    pthread_mutex_unlock(&l->mu);
    return;
  }
  while (l->q_len && l->inflight < opt.window) {
    int idx = l->queue[l->q_head];
    l->q_head = (l->q_head + 1) % l->q_cap;
    l->q_len--;
    start_connect(l, &clients[idx]);
  }
  /* Only while there is something to connect: every wake-up of a loop
   * polls all its sockets. */
  if (l->q_len) {
    lws_sul_schedule(l->ctx, 0, &l->pump, pump_cb, 2 * LWS_US_PER_MS);
  }
  pthread_mutex_unlock(&l->mu);
}

/* A number after "key" (spaces and ':' skipped) within [p, end). */
static bool find_int(const char *p, const char *key, int64_t *out) {
  const char *k = strstr(p, key);
  if (!k) {
    return false;
  }
  k += strlen(key);
  while (*k == ' ' || *k == ':') {
    k++;
  }
  char *e;
  long long v = strtoll(k, &e, 10);
  if (e == k) {
    return false;
  }
  *out = v;
  return true;
}

/* One whole message (NUL-terminated) that began to arrive at t. */
static void on_message(client_t *c, const char *msg, double t) {
  int64_t seq = 0;
  if (find_int(msg, "\"seq\"", &seq) && seq > 0) {
    if (seq <= c->last_seq) {
      atomic_fetch_add(&n_out_of_order, 1);
    }
    c->last_seq = seq;
  }
  const char *tag =
      strstr(msg, "\"tweet.updated\"") ? strstr(msg, run_tag) : NULL;
  if (tag && tag[run_tag_len] == 'e') {
    char *e;
    long i = strtol(tag + run_tag_len + 1, &e, 10);
    if (e != tag + run_tag_len + 1 && i >= 0 && i < opt.events) {
      double *slot = &arrive[(size_t)c->idx * (size_t)opt.events + (size_t)i];
      if (*slot == 0) {
        *slot = t;
        atomic_fetch_add(&n_received, 1);
      } else {
        atomic_fetch_add(&n_dup, 1);
      }
      return;
    }
  } else if (tag && tag[run_tag_len] == 'w') {
    if (!c->warm) {
      c->warm = true;
      atomic_fetch_add(&n_warm, 1);
    }
    return;
  }
  if (atomic_fetch_add(&n_unexpected, 1) == 0) {
    pthread_mutex_lock(&reasons_lock);
    snprintf(unexpected_sample, sizeof unexpected_sample, "%.190s", msg);
    pthread_mutex_unlock(&reasons_lock);
  }
}

static void on_receive(loop_t *l, client_t *c, struct lws *wsi, const char *in,
                       size_t len) {
  bool final = lws_is_final_fragment(wsi) && !lws_remaining_packet_payload(wsi);
  if (c->rx_len == 0 && c->rx == NULL) {
    c->rx_t = bench_now_s();
    if (final && len < SCRATCH_MAX) { /* the usual case: one piece */
      memcpy(l->scratch, in, len);
      l->scratch[len] = '\0';
      on_message(c, l->scratch, c->rx_t);
      return;
    }
  }
  char *grown = realloc(c->rx, c->rx_len + len + 1);
  if (!grown) {
    fprintf(stderr, "bench_ws: out of memory\n");
    exit(1);
  }
  c->rx = grown;
  memcpy(c->rx + c->rx_len, in, len);
  c->rx_len += len;
  c->rx[c->rx_len] = '\0';
  if (final) {
    on_message(c, c->rx, c->rx_t);
    free(c->rx);
    c->rx = NULL;
    c->rx_len = 0;
  }
}

static int on_writeable(client_t *c, struct lws *wsi) {
  if (c->sub_sent) {
    return 0;
  }
  char buf[LWS_PRE + 128];
  int n = snprintf(buf + LWS_PRE, sizeof buf - LWS_PRE,
                   "{\"type\":\"subscribe\",\"tweets\":[\"%s\"]}", tweet_id);
  if (lws_write(wsi, (unsigned char *)buf + LWS_PRE, (size_t)n,
                LWS_WRITE_TEXT) < n) {
    return -1;
  }
  c->sub_sent = true;
  return 0;
}

static int client_event(loop_t *l, client_t *c, struct lws *wsi,
                        enum lws_callback_reasons reason, void *user, void *in,
                        size_t len);

static int client_callback(struct lws *wsi, enum lws_callback_reasons reason,
                           void *user, void *in, size_t len) {
  client_t *c = wsi ? lws_get_opaque_user_data(wsi) : NULL;
  loop_t *l = wsi ? lws_context_user(lws_get_context(wsi)) : NULL;
  if (!c || !l) {
    return lws_callback_http_dummy(wsi, reason, user, in, len);
  }
  pthread_mutex_lock(&l->mu);
  int rc = l->frozen ? 0 : client_event(l, c, wsi, reason, user, in, len);
  pthread_mutex_unlock(&l->mu);
  return rc;
}

static int client_event(loop_t *l, client_t *c, struct lws *wsi,
                        enum lws_callback_reasons reason, void *user, void *in,
                        size_t len) {
  switch (reason) {
  case LWS_CALLBACK_CLIENT_APPEND_HANDSHAKE_HEADER:
    if (c) {
      unsigned char **p = in, *end = *p + len;
      char cookie[600];
      int n = snprintf(cookie, sizeof cookie, "chorus_session=%s",
                       users[c->user].cookie);
      if (lws_add_http_header_by_token(wsi, WSI_TOKEN_HTTP_COOKIE,
                                       (unsigned char *)cookie, n, p, end)) {
        return -1;
      }
    }
    return 0;
  case LWS_CALLBACK_CLIENT_CONNECTION_ERROR:
    if (c && l) {
      char why[160];
      int status = lws_http_client_http_response(wsi);
      if (status && status != 101) {
        snprintf(why, sizeof why, "HTTP %d: %.*s", status,
                 in ? (int)(len < 100 ? len : 100) : 0,
                 in ? (const char *)in : "");
      } else {
        snprintf(why, sizeof why, "%.*s", in ? (int)(len < 150 ? len : 150) : 0,
                 in ? (const char *)in : "");
      }
      conn_failed(l, c, why);
    }
    return 0;
  case LWS_CALLBACK_CLIENT_ESTABLISHED:
    if (c && l && c->state == C_CONNECTING) {
      l->inflight--;
      c->state = C_OPEN;
      c->t_open = bench_now_s();
      atomic_fetch_add(&n_open, 1);
      atomic_fetch_add(&n_established, 1);
      lws_callback_on_writable(wsi);
    }
    return 0;
  case LWS_CALLBACK_CLIENT_RECEIVE:
    if (c && l) {
      on_receive(l, c, wsi, in, len);
    }
    return 0;
  case LWS_CALLBACK_CLIENT_WRITEABLE:
    return c ? on_writeable(c, wsi) : 0;
  case LWS_CALLBACK_WS_PEER_INITIATED_CLOSE:
    if (c && l) {
      const unsigned char *p = in;
      char why[160];
      snprintf(why, sizeof why, "closed by the server: %d %.*s",
               len >= 2 ? (p[0] << 8 | p[1]) : 1005,
               len > 2 ? (int)(len - 2 < 100 ? len - 2 : 100) : 0,
               len > 2 ? (const char *)p + 2 : "");
      note_reason(why);
    }
    return 0;
  case LWS_CALLBACK_CLIENT_CLOSED:
  case LWS_CALLBACK_WSI_DESTROY:
    if (c && l) {
      if (c->state == C_OPEN) {
        c->state = C_CLOSED;
        atomic_fetch_sub(&n_open, 1);
        atomic_fetch_add(&n_dropped, 1);
        if (atomic_load(&measuring)) {
          c->closed_early = true;
        }
        if (reason == LWS_CALLBACK_CLIENT_CLOSED) {
          note_reason("connection closed while open");
        }
      } else if (c->state == C_CONNECTING) {
        conn_failed(l, c, "closed during the handshake");
      }
      if (reason == LWS_CALLBACK_WSI_DESTROY) {
        lws_set_opaque_user_data(wsi, NULL);
        c->wsi = NULL;
        free(c->rx);
        c->rx = NULL;
        c->rx_len = 0;
      }
    }
    return 0;
  default:
    return lws_callback_http_dummy(wsi, reason, user, in, len);
  }
}

static struct lws_protocols protocols_storage[2];

static void *loop_main(void *arg) {
  loop_t *l = arg;
  lws_sul_schedule(l->ctx, 0, &l->pump, pump_cb, 1);
  /* With libev, lws_service runs the event loop until the process ends;
   * with poll(2) it returns after each wake-up. */
  for (;;) {
    if (lws_service(l->ctx, 0) < 0) {
      fprintf(stderr, "bench_ws: lws_service failed in loop %d\n", l->id);
      break;
    }
    pthread_mutex_lock(&l->mu);
    bool frozen = l->frozen;
    pthread_mutex_unlock(&l->mu);
    if (frozen) {
      break;
    }
  }
  return NULL;
}

static bool loop_start(loop_t *l, int id) {
  l->id = id;
  pthread_mutexattr_t ma;
  pthread_mutexattr_init(&ma);
  pthread_mutexattr_settype(&ma, PTHREAD_MUTEX_RECURSIVE);
  pthread_mutex_init(&l->mu, &ma);
  pthread_mutexattr_destroy(&ma);
  struct lws_context_creation_info info;
  memset(&info, 0, sizeof info);
  info.port = CONTEXT_PORT_NO_LISTEN;
  info.protocols = client_protocols;
  info.gid = -1;
  info.uid = -1;
  info.user = l;
  info.timeout_secs = 30;
  info.connect_timeout_secs = 30;
  /* Handshakes in flight each need a header table. */
  info.max_http_header_pool =
      (unsigned short)(opt.window > 60000 ? 60000 : opt.window);
  /* poll(2) costs time in proportion to every socket the loop has, at
   * each wake-up: with 10,000 clients that was half of this program's
   * CPU.  libev uses epoll. */
  if (!opt.use_poll) {
    info.options |= LWS_SERVER_OPTION_LIBEV;
  }
  l->ctx = lws_create_context(&info);
  if (!l->ctx && !opt.use_poll) {
    fprintf(stderr, "bench_ws: no libev event loop in libwebsockets (the "
                    "libwebsockets-evlib-ev package); using poll(2)\n");
    opt.use_poll = true;
    info.options &= ~(uint64_t)LWS_SERVER_OPTION_LIBEV;
    l->ctx = lws_create_context(&info);
  }
  if (!l->ctx) {
    fprintf(stderr, "bench_ws: lws_create_context failed\n");
    return false;
  }
  l->scratch = malloc(SCRATCH_MAX + 1);
  if (!l->scratch) {
    return false;
  }
  if (pthread_create(&l->thread, NULL, loop_main, l)) {
    fprintf(stderr, "bench_ws: pthread_create failed\n");
    return false;
  }
  return true;
}

/* From now on the service threads change nothing, and what they changed
 * before is visible to this thread.  The loops are not stopped (a libev
 * loop cannot be from outside); the process ends with its connections. */
static void loops_freeze(void) {
  for (int i = 0; i < opt.loops; i++) {
    pthread_mutex_lock(&loops[i].mu);
    loops[i].frozen = true;
    pthread_mutex_unlock(&loops[i].mu);
    lws_cancel_service(loops[i].ctx);
  }
}

/* ws://host:port/path into t; false if it is not one. */
static bool parse_ws_url(const char *url, target_t *t) {
  if (strncmp(url, "ws://", 5)) {
    return false;
  }
  const char *h = url + 5;
  const char *colon = strchr(h, ':');
  const char *slash = strchr(h, '/');
  if (!colon || (slash && slash < colon) ||
      (size_t)(colon - h) >= sizeof t->host) {
    return false;
  }
  memcpy(t->host, h, (size_t)(colon - h));
  t->host[colon - h] = '\0';
  char *e;
  long port = strtol(colon + 1, &e, 10);
  if (e == colon + 1 || port < 1 || port > 65535) {
    return false;
  }
  t->port = (int)port;
  snprintf(t->path, sizeof t->path, "%s", *e == '/' ? e : "/");
  char host[sizeof t->host];
  memcpy(host, t->host, sizeof host);
  snprintf(t->host_header, sizeof t->host_header, "%s:%d", host, t->port);
  return true;
}

/* ------------------------------------------------------------ top */

static pthread_t top_thread;
static bool top_started;

static void *top_main(void *arg) {
  (void)arg;
  FILE *p = popen("top -b -n 2 -d 1 -w 200 2>&1", "r");
  if (!p) {
    return NULL;
  }
  /* Keep the second frame only: the first shows CPU since start. */
  size_t cap = 1 << 16, len = 0;
  char *all = malloc(cap);
  if (!all) {
    pclose(p);
    return NULL;
  }
  size_t n;
  while ((n = fread(all + len, 1, cap - 1 - len, p)) > 0) {
    len += n;
    if (len + 1 >= cap) {
      char *g = realloc(all, cap * 2);
      if (!g) {
        break;
      }
      all = g;
      cap *= 2;
    }
  }
  pclose(p);
  all[len] = '\0';
  const char *second = all;
  const char *first = strstr(all, "top - ");
  if (first) {
    const char *s = strstr(first + 1, "\ntop - ");
    if (s) {
      second = s + 1;
    }
  }
  FILE *out = fopen(opt.top_path, "w");
  if (out) {
    /* The summary and the 25 busiest processes. */
    int lines = 0;
    for (const char *q = second; *q && lines < 33; q++) {
      fputc(*q, out);
      if (*q == '\n') {
        lines++;
      }
    }
    fclose(out);
  }
  free(all);
  return NULL;
}

/* ------------------------------------------------------------ stats */

static void print_dist(const char *label, const bench_dist_t *d) {
  printf("  %-34s p50 %7.1f  p90 %7.1f  p99 %7.1f  max %7.1f  (min %.1f, "
         "mean %.1f)\n",
         label, d->p50, d->p90, d->p99, d->max, d->min, d->mean);
}

static void json_dist(FILE *f, const char *key, const bench_dist_t *d) {
  fprintf(f,
          "\"%s\":{\"n\":%zu,\"p50\":%.2f,\"p90\":%.2f,\"p99\":%.2f,"
          "\"max\":%.2f,\"min\":%.2f,\"mean\":%.2f}",
          key, d->n, d->p50, d->p90, d->p99, d->max, d->min, d->mean);
}

/* VmRSS of every --pid every 20 ms; the highest per phase (0: connecting
 * and warm-up, 1: the events).  Only this thread writes them until it is
 * joined. */
static atomic_int rss_phase;
static atomic_bool rss_stop;
static long rss_max[2][MAX_PIDS];
static pthread_t rss_thread;

static void *rss_main(void *arg) {
  (void)arg;
  while (!atomic_load(&rss_stop)) {
    int ph = atomic_load(&rss_phase);
    for (int i = 0; i < opt.n_pids; i++) {
      long v = proc_status_kb(opt.pids[i].pid, "VmRSS");
      if (v > rss_max[ph][i]) {
        rss_max[ph][i] = v;
      }
    }
    bench_sleep_s(0.02);
  }
  return NULL;
}

/* ------------------------------------------------------------ main */

typedef struct event_rec {
  double t_send, t_answer;
  long status;
  bool ok;
} event_rec_t;

int main(int argc, char **argv) {
  bench_set_name("bench_ws");
  parse_args(argc, argv);
  setvbuf(stdout, NULL, _IOLBF, 0);
  n_clients = opt.clients_b + opt.clients_a;

  /* File descriptors: one per client, and a few. */
  struct rlimit rl;
  long fd_limit = -1;
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
    if (rl.rlim_cur < rl.rlim_max) {
      rl.rlim_cur = rl.rlim_max;
      setrlimit(RLIMIT_NOFILE, &rl);
      getrlimit(RLIMIT_NOFILE, &rl);
    }
    fd_limit = (long)rl.rlim_cur;
  }
  if (fd_limit > 0 && (long)n_clients + 64 > fd_limit) {
    fprintf(stderr,
            "bench_ws: WARNING: %d clients need about %d file descriptors; "
            "the limit is %ld (hard limit: raise it with ulimit -n as root)\n",
            n_clients, n_clients + 64, fd_limit);
  }
  for (int i = 0; i < opt.n_pids; i++) {
    pid_watch_t *w = &opt.pids[i];
    w->nofile_limit = proc_nofile(w->pid);
    w->rss_before_kb = proc_status_kb(w->pid, "VmRSS");
    if (w->rss_before_kb < 0) {
      fprintf(stderr, "bench_ws: --pid %s:%ld: no such process\n", w->name,
              w->pid);
      return 2;
    }
  }

  if (curl_global_init(CURL_GLOBAL_ALL) != CURLE_OK) {
    fprintf(stderr, "bench_ws: curl_global_init failed\n");
    return 1;
  }
  unsigned salt =
      ((unsigned)time(NULL) ^ ((unsigned)getpid() << 12)) & 0xffffff;
  snprintf(run_tag, sizeof run_tag, "wsb%06x", salt);
  run_tag_len = strlen(run_tag);

  /* ---- users */
  users = calloc((size_t)opt.users, sizeof *users);
  if (!users) {
    return 1;
  }
  for (int i = 0; i < opt.users; i++) {
    snprintf(users[i].name, sizeof users[i].name, "ws_%06x_%d", salt, i);
  }
  double t_reg = bench_now_s();
  /* Alternate the servers: both hash passwords. */
  const char *reg_urls[2] = {opt.url_a, opt.url_b};
  if (!bench_register_users(users, opt.users, reg_urls, 2, opt.reg_threads)) {
    fprintf(stderr, "bench_ws: registration failed; nothing measured\n");
    return 1;
  }
  t_reg = bench_now_s() - t_reg;
  fprintf(stderr, "bench_ws: registered %d users in %.1f s\n", opt.users,
          t_reg);

  /* ---- the tweet, and where the WebSockets are */
  CURL *h = bench_curl_new(60000);
  bench_reply_t *r = malloc(sizeof *r);
  if (!r) {
    return 1;
  }
  char url[700], body[400];
  snprintf(url, sizeof url, "%s/api/tweet", opt.url_a);
  snprintf(body, sizeof body, "{\"text\":\"%s watched tweet\"}", run_tag);
  if (!bench_http(h, "POST", url, users[0].cookie, body, r) ||
      r->status != 201 ||
      !json_string(r->body, "id", tweet_id, sizeof tweet_id) ||
      strlen(tweet_id) != 24) {
    fprintf(stderr, "bench_ws: POST %s: HTTP %ld: %.300s\n", url, r->status,
            r->body);
    return 1;
  }
  for (int s = 0; s < 2; s++) {
    if (s == 1 && opt.clients_a == 0) {
      continue;
    }
    const char *base = s == 0 ? opt.url_b : opt.url_a;
    char ws_url[400];
    snprintf(url, sizeof url, "%s/api/config", base);
    if (!bench_http(h, "GET", url, NULL, NULL, r) || r->status != 200 ||
        !ws_url_from_config(base, r->body, ws_url, sizeof ws_url) ||
        !parse_ws_url(ws_url, &targets[s])) {
      fprintf(stderr, "bench_ws: GET %s: HTTP %ld: %.300s\n", url, r->status,
              r->body);
      return 1;
    }
    fprintf(stderr, "bench_ws: server %s: %s\n", s == 0 ? "B" : "A", ws_url);
  }

  /* ---- clients */
  clients = calloc((size_t)n_clients, sizeof *clients);
  arrive = calloc((size_t)n_clients * (size_t)opt.events, sizeof *arrive);
  if (!clients || !arrive) {
    fprintf(stderr, "bench_ws: out of memory\n");
    return 1;
  }
  for (int l = 0; l < opt.loops; l++) {
    loops[l].q_cap = (size_t)n_clients / (size_t)opt.loops + 2;
    loops[l].queue = calloc(loops[l].q_cap, sizeof *loops[l].queue);
    if (!loops[l].queue) {
      return 1;
    }
  }
  for (int i = 0; i < n_clients; i++) {
    client_t *c = &clients[i];
    c->idx = i;
    c->user = i % opt.users;
    c->server = i < opt.clients_b ? 0 : 1;
    c->state = C_QUEUED;
    queue_push(&loops[i % opt.loops], i);
  }
  lws_set_log_level(LLL_ERR, NULL);
  protocols_storage[0].name = "bench-ws";
  protocols_storage[0].callback = client_callback;
  protocols_storage[0].rx_buffer_size = 2048;
  client_protocols = protocols_storage;

  if (opt.n_pids && pthread_create(&rss_thread, NULL, rss_main, NULL)) {
    fprintf(stderr, "bench_ws: pthread_create failed\n");
    return 1;
  }
  double t_connect = bench_now_s();
  for (int l = 0; l < opt.loops; l++) {
    if (!loop_start(&loops[l], l)) {
      return 1;
    }
  }
  double last_report = t_connect;
  for (;;) {
    int done = atomic_load(&n_established) + atomic_load(&n_failed_final);
    double t = bench_now_s();
    if (done >= n_clients || t - t_connect > opt.connect_timeout_s) {
      break;
    }
    if (t - last_report >= 5) {
      fprintf(stderr, "bench_ws: connecting: %d open, %d failed attempts\n",
              atomic_load(&n_open), atomic_load(&n_failed_attempts));
      last_report = t;
    }
    bench_sleep_s(0.02);
  }
  double connect_wall = bench_now_s() - t_connect;
  int connected = atomic_load(&n_established);
  fprintf(stderr, "bench_ws: %d of %d clients connected in %.1f s\n", connected,
          n_clients, connect_wall);
  if (connected == 0) {
    fprintf(stderr, "bench_ws: no client could connect; nothing measured\n");
    for (int i = 0; i < n_reasons; i++) {
      fprintf(stderr, "  %dx %s\n", reasons[i].count, reasons[i].text);
    }
    return 1;
  }

  /* ---- warm-up: every client ready (follows loaded, subscribed) */
  double t_ready = bench_now_s();
  int warmups = 0;
  long warm_fail = 0;
  while (atomic_load(&n_warm) < atomic_load(&n_open) &&
         bench_now_s() - t_ready < opt.ready_timeout_s) {
    snprintf(url, sizeof url, "%s/api/tweet/%s", opt.url_a, tweet_id);
    snprintf(body, sizeof body, "{\"text\":\"%sw%d warm-up\"}", run_tag,
             warmups);
    if (!bench_http(h, "PUT", url, users[0].cookie, body, r) ||
        r->status != 200) {
      warm_fail++;
      fprintf(stderr, "bench_ws: warm-up edit: HTTP %ld: %.200s\n", r->status,
              r->body);
    }
    warmups++;
    double until = bench_now_s() + 5;
    while (atomic_load(&n_warm) < atomic_load(&n_open) &&
           bench_now_s() < until) {
      bench_sleep_s(0.01);
    }
    fprintf(stderr, "bench_ws: warm-up %d: %d of %d open clients ready\n",
            warmups, atomic_load(&n_warm), atomic_load(&n_open));
  }
  double ready_wall = bench_now_s() - t_ready;
  int ready = atomic_load(&n_warm);
  bench_sleep_s(1); /* let the last warm-up deliveries finish */

  for (int i = 0; i < opt.n_pids; i++) {
    pid_watch_t *w = &opt.pids[i];
    w->rss_connected_kb = proc_status_kb(w->pid, "VmRSS");
    w->fds_connected = proc_fds(w->pid);
  }
  long self_rss_connected = proc_status_kb(getpid(), "VmRSS");

  /* ---- the events */
  int open_at_start = atomic_load(&n_open);
  bool *open_start = calloc((size_t)n_clients, sizeof *open_start);
  event_rec_t *ev = calloc((size_t)opt.events, sizeof *ev);
  if (!open_start || !ev) {
    return 1;
  }
  /* The service threads own `state`; an open client stays open or is
   * marked closed_early from now on, so this snapshot is safe enough to
   * decide who was expected to receive (read again after the join). */
  atomic_store(&measuring, true);
  atomic_store(&rss_phase, 1);
  fprintf(stderr,
          "bench_ws: %d open clients (%d ready); making %d events on A, "
          "%ld ms apart\n",
          open_at_start, ready, opt.events, opt.interval_ms);
  bench_cpu_mark_t cpu0, cpu1;
  bench_cpu_mark(&cpu0);
  for (int i = 0; i < opt.n_pids; i++) {
    pid_watch_t *w = &opt.pids[i];
    w->cpu_start_s = bench_proc_cpu_s(w->pid);
    w->n_tids = proc_tids(w->pid, w->tids, MAX_TIDS);
    for (int t = 0; t < w->n_tids; t++) {
      w->tid_start_s[t] = bench_thread_cpu_s(w->pid, w->tids[t]);
    }
  }
  double t_events = bench_now_s();
  for (int i = 0; i < opt.events; i++) {
    bench_sleep_s(t_events + (double)i * (double)opt.interval_ms / 1000.0 -
                  bench_now_s());
    if (opt.top_path && !top_started && i >= opt.events / 4) {
      top_started = pthread_create(&top_thread, NULL, top_main, NULL) == 0;
    }
    snprintf(url, sizeof url, "%s/api/tweet/%s", opt.url_a, tweet_id);
    snprintf(body, sizeof body, "{\"text\":\"%se%d event\"}", run_tag, i);
    ev[i].t_send = bench_now_s();
    bool sent = bench_http(h, "PUT", url, users[0].cookie, body, r);
    ev[i].t_answer = bench_now_s();
    ev[i].status = sent ? r->status : 0;
    ev[i].ok = sent && r->status == 200;
    if (!ev[i].ok) {
      fprintf(stderr, "bench_ws: event %d: HTTP %ld: %.200s\n", i, ev[i].status,
              r->body);
    }
  }
  /* Wait for the deliveries still missing. */
  long n_ok = 0;
  for (int i = 0; i < opt.events; i++) {
    n_ok += ev[i].ok;
  }
  double settle_until = bench_now_s() + opt.settle_s;
  while (bench_now_s() < settle_until) {
    long want = n_ok * (long)atomic_load(&n_open);
    if (atomic_load(&n_received) >= want && atomic_load(&n_dropped) == 0) {
      break;
    }
    bench_sleep_s(0.01);
  }
  double t_end = bench_now_s();
  double cpu_window = t_end - t_events;
  bench_cpu_mark(&cpu1);
  for (int i = 0; i < opt.n_pids; i++) {
    pid_watch_t *w = &opt.pids[i];
    double end = bench_proc_cpu_s(w->pid);
    w->busiest_tid = 0;
    w->busiest_s = 0;
    for (int t = 0; t < w->n_tids; t++) {
      double te = bench_thread_cpu_s(w->pid, w->tids[t]);
      if (te >= 0 && w->tid_start_s[t] >= 0 &&
          te - w->tid_start_s[t] > w->busiest_s) {
        w->busiest_s = te - w->tid_start_s[t];
        w->busiest_tid = w->tids[t];
      }
    }
    w->cpu_used_s = (end < 0 || w->cpu_start_s < 0) ? -1 : end - w->cpu_start_s;
    w->rss_end_kb = proc_status_kb(w->pid, "VmRSS");
    w->hwm_kb = proc_status_kb(w->pid, "VmHWM");
    (void)w;
  }
  long self_rss_end = proc_status_kb(getpid(), "VmRSS");
  long self_hwm = proc_status_kb(getpid(), "VmHWM");
  atomic_store(&measuring, false);
  if (opt.n_pids) {
    atomic_store(&rss_stop, true);
    pthread_join(rss_thread, NULL);
  }
  for (int i = 0; i < opt.n_pids; i++) {
    pid_watch_t *w = &opt.pids[i];
    w->rss_peak_connect_kb = rss_max[0][i];
    w->rss_peak_kb =
        rss_max[1][i] > w->rss_end_kb ? rss_max[1][i] : w->rss_end_kb;
  }
  if (top_started) {
    pthread_join(top_thread, NULL);
  }
  loops_freeze();

  /* ---- results (the service threads have stopped) */
  int expected_clients = 0;
  for (int c = 0; c < n_clients; c++) {
    /* Open at the start of the events: open now, or dropped since. */
    open_start[c] = (clients[c].state == C_OPEN || clients[c].closed_early) &&
                    clients[c].t_open > 0 && clients[c].t_open <= t_events;
    expected_clients += open_start[c];
  }
  size_t cap = (size_t)n_clients * (size_t)opt.events;
  double *lat_ans = malloc((cap ? cap : 1) * sizeof *lat_ans);
  double *lat_send = malloc((cap ? cap : 1) * sizeof *lat_send);
  double *spread = malloc((cap ? cap : 1) * sizeof *spread);
  double *ev_lat = malloc(((size_t)n_clients + 1) * sizeof *ev_lat);
  double *put_ms = malloc(((size_t)opt.events + 1) * sizeof *put_ms);
  if (!lat_ans || !lat_send || !spread || !ev_lat || !put_ms) {
    return 1;
  }
  size_t n_lat = 0, n_put = 0;
  long expected = 0, received = 0, before_answer = 0;
  long lost_dropped = 0;
  FILE *dump = opt.dump_path ? fopen(opt.dump_path, "w") : NULL;
  typedef struct per_event {
    long received;
    bench_dist_t d;
    double first_ms; /* first arrival, from the answer */
  } per_event_t;
  per_event_t *pe = calloc((size_t)opt.events, sizeof *pe);
  if (!pe) {
    return 1;
  }
  for (int i = 0; i < opt.events; i++) {
    if (!ev[i].ok) {
      continue;
    }
    put_ms[n_put++] = (ev[i].t_answer - ev[i].t_send) * 1000.0;
    double first = 0;
    for (int c = 0; c < n_clients; c++) {
      double a = arrive[(size_t)c * (size_t)opt.events + (size_t)i];
      if (a > 0 && (first == 0 || a < first)) {
        first = a;
      }
    }
    size_t n_ev = 0;
    for (int c = 0; c < n_clients; c++) {
      if (!open_start[c]) {
        continue;
      }
      expected++;
      double a = arrive[(size_t)c * (size_t)opt.events + (size_t)i];
      if (a == 0) {
        if (clients[c].closed_early) {
          lost_dropped++;
        }
        continue;
      }
      received++;
      double ms = (a - ev[i].t_answer) * 1000.0;
      lat_ans[n_lat] = ms;
      lat_send[n_lat] = (a - ev[i].t_send) * 1000.0;
      spread[n_lat] = (a - first) * 1000.0;
      n_lat++;
      ev_lat[n_ev++] = ms;
      before_answer += ms < 0;
      if (dump) {
        fprintf(dump, "%d %d %.3f\n", i, c, ms);
      }
    }
    pe[i].received = (long)n_ev;
    pe[i].d = bench_dist_of(ev_lat, n_ev);
    pe[i].first_ms = first > 0 ? (first - ev[i].t_answer) * 1000.0 : 0;
  }
  if (dump) {
    fclose(dump);
  }
  /* Deliveries to clients of B only, the figure the target is about. */
  double *lat_b = malloc((cap ? cap : 1) * sizeof *lat_b);
  size_t n_b = 0;
  if (!lat_b) {
    return 1;
  }
  for (int i = 0; i < opt.events; i++) {
    if (!ev[i].ok) {
      continue;
    }
    for (int c = 0; c < opt.clients_b; c++) {
      double a = arrive[(size_t)c * (size_t)opt.events + (size_t)i];
      if (open_start[c] && a > 0) {
        lat_b[n_b++] = (a - ev[i].t_answer) * 1000.0;
      }
    }
  }
  bench_dist_t d_ans = bench_dist_of(lat_ans, n_lat),
               d_send = bench_dist_of(lat_send, n_lat),
               d_spread = bench_dist_of(spread, n_lat),
               d_put = bench_dist_of(put_ms, n_put),
               d_b = bench_dist_of(lat_b, n_b);
  long lost = expected - received;
  /* Connection times. */
  double *hs = malloc(((size_t)n_clients + 1) * sizeof *hs);
  size_t n_hs = 0;
  double last_open = t_connect;
  for (int c = 0; c < n_clients; c++) {
    if (clients[c].t_open > 0) {
      hs[n_hs++] = (clients[c].t_open - clients[c].t_start) * 1000.0;
      if (clients[c].t_open > last_open) {
        last_open = clients[c].t_open;
      }
    }
  }
  bench_dist_t d_hs = bench_dist_of(hs, n_hs);
  double connect_s = last_open - t_connect;
  double client_cpu = bench_self_cpu_pct(&cpu0, &cpu1, cpu_window);
  long ncpu = bench_cores();
  double machine_cpu = bench_machine_cpu_pct(&cpu0, &cpu1);

  /* ---- print */
  printf("Real-time delivery over WebSockets (events made on A, clients on "
         "B%s)\n",
         opt.clients_a ? " and A" : "");
  printf("  servers              A %s, B %s\n", opt.url_a, opt.url_b);
  printf("  clients asked        %d on B", opt.clients_b);
  if (opt.clients_a) {
    printf(", %d on A", opt.clients_a);
  }
  printf(" (%d users, %d lws %s loop%s, %d handshakes in flight at most; "
         "fd limit %ld)\n",
         opt.users, opt.loops, opt.use_poll ? "poll" : "libev",
         opt.loops == 1 ? "" : "s", opt.window, fd_limit);
  printf("  clients connected    %d  (failed for good %d, failed attempts "
         "%d, dropped later %d)\n",
         connected, atomic_load(&n_failed_final),
         atomic_load(&n_failed_attempts), atomic_load(&n_dropped));
  for (int i = 0; i < n_reasons; i++) {
    printf("      %dx %s\n", reasons[i].count, reasons[i].text);
  }
  printf("  connecting took      %.1f s (%.0f clients/s); handshake ms p50 "
         "%.1f p99 %.1f max %.1f\n",
         connect_s, connect_s > 0 ? (double)connected / connect_s : 0, d_hs.p50,
         d_hs.p99, d_hs.max);
  printf("  ready (warm-up)      %d of %d in %.1f s after connecting (%d "
         "warm-up event%s)\n",
         ready, connected, ready_wall, warmups, warmups == 1 ? "" : "s");
  printf("  events               %ld of %d made (PUT on A, answered 200), "
         "%ld ms apart\n",
         n_ok, opt.events, opt.interval_ms);
  printf("  deliveries           %ld of %ld expected (%d clients open at the "
         "start x %ld events)\n",
         received, expected, expected_clients, n_ok);
  printf("  events lost          %ld%s\n", lost,
         lost_dropped ? " (some to clients dropped by the server)" : "");
  printf("  duplicates %d, out-of-order seq %d, other messages %d%s%s\n",
         atomic_load(&n_dup), atomic_load(&n_out_of_order),
         atomic_load(&n_unexpected), unexpected_sample[0] ? ": " : "",
         unexpected_sample);
  printf("  latency, ms:\n");
  print_dist("from the 200 answer (B clients)", &d_b);
  if (opt.clients_a) {
    print_dist("from the 200 answer (all)", &d_ans);
  }
  print_dist("from sending the edit", &d_send);
  print_dist("from the first arrival (fan-out)", &d_spread);
  print_dist("the edit itself (PUT on A)", &d_put);
  printf("  deliveries before the answer   %ld of %ld\n", before_answer,
         received);
  if (opt.events <= 100) {
    printf("  per event, ms from the answer: received / first / p50 / p99 / "
           "last arrival\n");
    for (int i = 0; i < opt.events; i++) {
      if (!ev[i].ok) {
        printf("    %3d  not made (HTTP %ld)\n", i, ev[i].status);
        continue;
      }
      printf("    %3d  %6ld  %7.1f  %7.1f  %7.1f  %7.1f   (PUT %.0f ms)\n", i,
             pe[i].received, pe[i].first_ms, pe[i].d.p50, pe[i].d.p99,
             pe[i].d.max, (ev[i].t_answer - ev[i].t_send) * 1000.0);
    }
  }
  printf("  memory (VmRSS, MB): before clients / peak while connecting / "
         "connected / peak in events / VmHWM (ever); fds connected (limit); "
         "CPU %% of one core during the events (%.1f s)\n",
         cpu_window);
  for (int i = 0; i < opt.n_pids; i++) {
    pid_watch_t *w = &opt.pids[i];
    printf("    %-14s %6.1f / %6.1f / %6.1f / %6.1f / %6.1f   fds %ld (%ld)"
           "   CPU %.0f (busiest thread %ld: %.0f)\n",
           w->name, (double)w->rss_before_kb / 1024.0,
           (double)w->rss_peak_connect_kb / 1024.0,
           (double)w->rss_connected_kb / 1024.0,
           (double)w->rss_peak_kb / 1024.0, (double)w->hwm_kb / 1024.0,
           w->fds_connected, w->nofile_limit,
           w->cpu_used_s < 0 ? -1 : 100.0 * w->cpu_used_s / cpu_window,
           w->busiest_tid, 100.0 * w->busiest_s / cpu_window);
  }
  printf("    %-14s %6s / %6s / %6.1f / %6.1f / %6.1f   CPU %.0f\n", "bench_ws",
         "-", "-", (double)self_rss_connected / 1024.0,
         (double)self_rss_end / 1024.0, (double)self_hwm / 1024.0, client_cpu);
  if (machine_cpu >= 0) {
    printf("    whole machine  CPU %.0f of %ld00\n", machine_cpu, ncpu);
  }

  FILE *f = opt.json_path ? bench_open_output(opt.json_path) : NULL;
  if (f) {
    fprintf(f,
            "{\"clients_b\":%d,\"clients_a\":%d,\"users\":%d,\"loops\":%d,"
            "\"event_lib\":\"%s\","
            "\"window\":%d,\"fd_limit\":%ld,\"connected\":%d,"
            "\"failed\":%d,\"failed_attempts\":%d,\"dropped\":%d,"
            "\"connect_s\":%.2f,\"ready\":%d,\"ready_s\":%.2f,"
            "\"warmups\":%d,\"events\":%d,\"events_made\":%ld,"
            "\"interval_ms\":%ld,\"expected\":%ld,\"received\":%ld,"
            "\"lost\":%ld,\"duplicates\":%d,\"out_of_order\":%d,"
            "\"unexpected\":%d,\"before_answer\":%ld,",
            opt.clients_b, opt.clients_a, opt.users, opt.loops,
            opt.use_poll ? "poll" : "libev", opt.window, fd_limit, connected,
            atomic_load(&n_failed_final), atomic_load(&n_failed_attempts),
            atomic_load(&n_dropped), connect_s, ready, ready_wall, warmups,
            opt.events, n_ok, opt.interval_ms, expected, received, lost,
            atomic_load(&n_dup), atomic_load(&n_out_of_order),
            atomic_load(&n_unexpected), before_answer);
    json_dist(f, "latency_ms", &d_b);
    fputc(',', f);
    json_dist(f, "latency_all_ms", &d_ans);
    fputc(',', f);
    json_dist(f, "latency_from_send_ms", &d_send);
    fputc(',', f);
    json_dist(f, "fanout_ms", &d_spread);
    fputc(',', f);
    json_dist(f, "edit_ms", &d_put);
    fputc(',', f);
    json_dist(f, "handshake_ms", &d_hs);
    fprintf(f, ",\"per_event\":[");
    for (int i = 0; i < opt.events; i++) {
      fprintf(f,
              "%s{\"ok\":%s,\"received\":%ld,\"first\":%.2f,"
              "\"p50\":%.2f,\"p99\":%.2f,\"max\":%.2f,"
              "\"edit_ms\":%.2f}",
              i ? "," : "", ev[i].ok ? "true" : "false", pe[i].received,
              pe[i].first_ms, pe[i].d.p50, pe[i].d.p99, pe[i].d.max,
              (ev[i].t_answer - ev[i].t_send) * 1000.0);
    }
    fprintf(f, "],\"reasons\":[");
    for (int i = 0; i < n_reasons; i++) {
      fprintf(f, "%s{\"count\":%d,\"text\":\"", i ? "," : "", reasons[i].count);
      for (const char *p = reasons[i].text; *p; p++) {
        if (*p == '"' || *p == '\\') {
          fputc('\\', f);
        }
        if ((unsigned char)*p >= 0x20) {
          fputc(*p, f);
        }
      }
      fprintf(f, "\"}");
    }
    fprintf(f, "],\"cpu_window_s\":%.2f,\"processes\":{", cpu_window);
    for (int i = 0; i < opt.n_pids; i++) {
      pid_watch_t *w = &opt.pids[i];
      fprintf(f,
              "%s\"%s\":{\"pid\":%ld,\"rss_before_kb\":%ld,"
              "\"rss_peak_connect_kb\":%ld,"
              "\"rss_connected_kb\":%ld,\"rss_peak_kb\":%ld,"
              "\"rss_end_kb\":%ld,\"hwm_kb\":%ld,\"fds\":%ld,"
              "\"nofile\":%ld,\"cpu_pct\":",
              i ? "," : "", w->name, w->pid, w->rss_before_kb,
              w->rss_peak_connect_kb, w->rss_connected_kb, w->rss_peak_kb,
              w->rss_end_kb, w->hwm_kb, w->fds_connected, w->nofile_limit);
      if (w->cpu_used_s < 0) {
        fprintf(f, "null");
      } else {
        fprintf(f, "%.1f", 100.0 * w->cpu_used_s / cpu_window);
      }
      fprintf(f, ",\"busiest_thread_cpu_pct\":%.1f}",
              100.0 * w->busiest_s / cpu_window);
    }
    fprintf(f,
            "},\"bench\":{\"rss_connected_kb\":%ld,\"rss_end_kb\":%ld,"
            "\"hwm_kb\":%ld,\"cpu_pct\":%.1f},\"machine_cpu_pct\":",
            self_rss_connected, self_rss_end, self_hwm, client_cpu);
    if (machine_cpu >= 0) {
      fprintf(f, "%.1f", machine_cpu);
    } else {
      fprintf(f, "null");
    }
    fprintf(f, ",\"cores\":%ld}\n", ncpu);
    fclose(f);
  }

  /* The connections close with the process (the loops still hold them). */
  fflush(stdout);
  fflush(stderr);
  _exit(0);
}
