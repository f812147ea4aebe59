/*
 * guard.c - see guard.h.
 *
 * Every admitted connection has a record, found by its socket number
 * (by_fd) from accept() until civetweb's connection_close callback, and
 * by the connection (civetweb's user connection data) from its first
 * begin_request on.  A record is in one of these states:
 *
 *   QUEUED   accepted, waiting in civetweb's queue for a worker
 *   HEAD     a worker reads the first request head (deadline: head)
 *   BODY     the head is in, the body is not yet read whole (deadline:
 *            body)
 *   HANDLER  the handler runs
 *   IDLE     answered; the worker waits for the next request head of a
 *            kept-alive connection (deadline: idle, or GUARD_SCARCE_IDLE_MS
 *            while workers are scarce)
 *
 * Every state but QUEUED holds a worker (busy).
 *
 * civetweb's init_connection callback, when a worker takes a connection,
 * cannot tell which one it is (mg_get_request_info is NULL until the
 * worker starts reading).  It needs not: civetweb's queue is first in,
 * first out, so the connections workers have taken are always the oldest
 * accepted ones, and each init_connection moves the oldest QUEUED record
 * (the `queue` list, in accept order) to HEAD.  Its first begin_request,
 * or its connection_close, finds the record by the peer's address and
 * port.  Should that find it still QUEUED (its worker overtook the one
 * that took an older connection before that one's init_connection ran),
 * it leaves the queue there and the next init_connection moves none
 * (`credit`), so the QUEUED records are always those no worker has.
 *
 * Addresses are counted in a small chained hash table: IPv4 addresses
 * whole (as IPv4-mapped IPv6), IPv6 addresses by their /64, which one
 * subscriber usually holds whole.  Invariant: a record whose `counted` is
 * set adds one to its address's count; `cut` is set once the guard has
 * shut its socket down, and a cut record is never shut down again.
 */
#define _GNU_SOURCE /* RTLD_NEXT */
#include "server/http/guard.h"

#include <arpa/inet.h>
#include <dlfcn.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "server/http/http.h"

enum { ST_QUEUED, ST_HEAD, ST_BODY, ST_HANDLER, ST_IDLE };

#define ADDR_TEXT_MAX 64 /* an IPv6 address with a %scope */

typedef struct gconn {
  guard_t *guard;
  struct gconn *prev, *next; /* the queue, while QUEUED */
  int fd;
  int state;
  int64_t since_us;    /* when the state began (monotonic) */
  int64_t deadline_us; /* 0: none */
  bool cut;            /* shut down by the guard */
  bool counted;        /* counted against its address */
  bool trusted;        /* from a trusted proxy: never capped, and its
                        * pooled idle connections are left to it */
  uint8_t key[16];     /* its address as counted */
  uint16_t peer_port;
  char peer[ADDR_TEXT_MAX];
  atomic_bool body_expired; /* the body deadline cut the read side */
  atomic_bool close_after;  /* the current answer closes the connection */
} gconn_t;

typedef struct addr_node {
  uint8_t key[16];
  int count;
  struct addr_node *next;
} addr_node_t;

#define ADDR_BUCKETS 1024
#define LOG_EVERY_US (10 * 1000 * 1000)

struct guard {
  guard_config_t cfg;
  char name[64];
  char trusted[512];
  int port;
  pthread_mutex_t lock;
  pthread_cond_t wake;
  pthread_t watchdog;
  bool running, stopping;
  gconn_t **by_fd; /* records by socket number */
  size_t n_fd;
  gconn_t *queue_head, *queue_tail; /* QUEUED records, oldest first */
  int credit; /* init_connection calls that move no record (see above) */
  addr_node_t *addrs[ADDR_BUCKETS];
  int64_t wake_at_us;   /* when the watchdog wakes next */
  guard_stats_t stats;  /* open, busy and the counters */
  guard_stats_t logged; /* the counters at the last log line */
  int64_t logged_at_us;
  char last_refused[ADDR_TEXT_MAX];
  bool unseen_logged;
};

static int64_t now_us(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* ------------------------------------------------------------------ */
/* the guarded ports                                                   */
/* ------------------------------------------------------------------ */

#define GUARDS_MAX 16

static pthread_mutex_t registry_lock = PTHREAD_MUTEX_INITIALIZER;
static struct {
  int port;
  guard_t *guard;
  const struct mg_context *ctx; /* civetweb's, once a callback has run */
} registry[GUARDS_MAX];
static atomic_int registered; /* entries in use: accept()'s fast path */

static guard_t *registry_find(int port) {
  guard_t *g = NULL;
  pthread_mutex_lock(&registry_lock);
  for (int i = 0; i < GUARDS_MAX && !g; i++) {
    if (registry[i].guard && registry[i].port == port) {
      g = registry[i].guard;
    }
  }
  pthread_mutex_unlock(&registry_lock);
  return g;
}

/* The guard of the civetweb server conn belongs to, or NULL: found by
 * the context, which is learnt from its listening ports the first
 * time. */
static guard_t *guard_of(const struct mg_connection *conn) {
  const struct mg_context *ctx = mg_get_context(conn);
  guard_t *g = NULL;
  pthread_mutex_lock(&registry_lock);
  for (int i = 0; i < GUARDS_MAX && !g; i++) {
    if (registry[i].guard && registry[i].ctx == ctx) {
      g = registry[i].guard;
    }
  }
  pthread_mutex_unlock(&registry_lock);
  if (g || !ctx) {
    return g;
  }
  struct mg_server_port ports[4];
  int n = mg_get_server_ports(ctx, 4, ports);
  pthread_mutex_lock(&registry_lock);
  for (int k = 0; k < n && !g; k++) {
    for (int i = 0; i < GUARDS_MAX && !g; i++) {
      if (registry[i].guard && registry[i].port == ports[k].port) {
        registry[i].ctx = ctx;
        g = registry[i].guard;
      }
    }
  }
  pthread_mutex_unlock(&registry_lock);
  return g;
}

static bool registry_add(guard_t *g, int port) {
  bool ok = false;
  pthread_mutex_lock(&registry_lock);
  int free_at = -1;
  bool taken = false;
  for (int i = 0; i < GUARDS_MAX; i++) {
    if (registry[i].guard && registry[i].port == port) {
      taken = true;
    } else if (!registry[i].guard && free_at < 0) {
      free_at = i;
    }
  }
  if (!taken && free_at >= 0) {
    registry[free_at].port = port;
    registry[free_at].guard = g;
    registry[free_at].ctx = NULL;
    atomic_fetch_add(&registered, 1);
    ok = true;
  }
  pthread_mutex_unlock(&registry_lock);
  return ok;
}

static void registry_remove(guard_t *g) {
  pthread_mutex_lock(&registry_lock);
  for (int i = 0; i < GUARDS_MAX; i++) {
    if (registry[i].guard == g) {
      registry[i].guard = NULL;
      atomic_fetch_sub(&registered, 1);
    }
  }
  pthread_mutex_unlock(&registry_lock);
}

/* ------------------------------------------------------------------ */
/* addresses                                                           */
/* ------------------------------------------------------------------ */

/* The counted key (see the top of the file), the printable address and
 * the port of a peer; false for a family other than IPv4 and IPv6.  The
 * text is what civetweb makes of the address (getnameinfo, numeric), so
 * that its remote_addr finds the record. */
static bool peer_of(const struct sockaddr_storage *sa, uint8_t key[16],
                    char *text, uint16_t *port) {
  memset(key, 0, 16);
  socklen_t len;
  if (sa->ss_family == AF_INET) {
    const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
    key[10] = key[11] = 0xff;
    memcpy(key + 12, &in->sin_addr, 4);
    *port = ntohs(in->sin_port);
    len = sizeof *in;
  } else if (sa->ss_family == AF_INET6) {
    const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
    if (IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr)) {
      memcpy(key, &in6->sin6_addr, 16);
    } else {
      memcpy(key, &in6->sin6_addr, 8); /* the /64 */
    }
    *port = ntohs(in6->sin6_port);
    len = sizeof *in6;
  } else {
    return false;
  }
  if (getnameinfo((const struct sockaddr *)sa, len, text, ADDR_TEXT_MAX, NULL,
                  0, NI_NUMERICHOST) != 0) {
    text[0] = '\0';
  }
  return true;
}

static size_t addr_bucket(const uint8_t key[16]) {
  uint64_t h = 1469598103934665603ULL; /* FNV-1a */
  for (int i = 0; i < 16; i++) {
    h = (h ^ key[i]) * 1099511628211ULL;
  }
  return (size_t)(h % ADDR_BUCKETS);
}

static addr_node_t *addr_find(guard_t *g, const uint8_t key[16], bool create) {
  addr_node_t **head = &g->addrs[addr_bucket(key)];
  for (addr_node_t *a = *head; a; a = a->next) {
    if (!memcmp(a->key, key, 16)) {
      return a;
    }
  }
  if (!create) {
    return NULL;
  }
  addr_node_t *a = bson_malloc0(sizeof *a);
  memcpy(a->key, key, 16);
  a->next = *head;
  *head = a;
  return a;
}

/* One connection fewer for key; the node goes with its last one. */
static void addr_release(guard_t *g, const uint8_t key[16]) {
  addr_node_t **p = &g->addrs[addr_bucket(key)];
  for (; *p; p = &(*p)->next) {
    if (!memcmp((*p)->key, key, 16)) {
      if (--(*p)->count <= 0) {
        addr_node_t *gone = *p;
        *p = gone->next;
        bson_free(gone);
      }
      return;
    }
  }
}

/* ------------------------------------------------------------------ */
/* records                                                             */
/* ------------------------------------------------------------------ */

static bool holds_worker(int state) { return state != ST_QUEUED; }

static bool is_scarce(const guard_t *g) {
  return g->cfg.workers - g->stats.busy < g->cfg.spare_workers;
}

/* Enters state; timeout_ms > 0 sets its deadline (and wakes the watchdog
 * when that comes before its next wake-up). */
static void set_state(guard_t *g, gconn_t *c, int state, int timeout_ms) {
  if (holds_worker(state) && !holds_worker(c->state)) {
    g->stats.busy++;
  }
  c->state = state;
  c->since_us = now_us();
  c->deadline_us = timeout_ms > 0 ? c->since_us + timeout_ms * 1000LL : 0;
  if (c->deadline_us && c->deadline_us < g->wake_at_us) {
    g->wake_at_us = c->deadline_us;
    pthread_cond_signal(&g->wake);
  }
}

/* True when c's socket is still the connection it was accepted as:
 * civetweb's port, and the same peer.  A record that outlived its socket
 * (should civetweb ever close one without its callback) must not touch
 * the socket that took its number. */
static bool still_ours(const guard_t *g, const gconn_t *c) {
  struct sockaddr_storage sa;
  socklen_t len = sizeof sa;
  uint8_t key[16];
  char text[ADDR_TEXT_MAX];
  uint16_t port = 0;
  if (getsockname(c->fd, (struct sockaddr *)&sa, &len) != 0 ||
      !peer_of(&sa, key, text, &port) || port != g->port) {
    return false;
  }
  len = sizeof sa;
  return getpeername(c->fd, (struct sockaddr *)&sa, &len) == 0 &&
         peer_of(&sa, key, text, &port) && port == c->peer_port &&
         !strcmp(text, c->peer);
}

static void cut(guard_t *g, gconn_t *c, int how) {
  if (still_ours(g, c)) {
    shutdown(c->fd, how);
  }
  c->cut = true;
}

static void queue_push(guard_t *g, gconn_t *c) {
  c->prev = g->queue_tail;
  c->next = NULL;
  if (g->queue_tail) {
    g->queue_tail->next = c;
  } else {
    g->queue_head = c;
  }
  g->queue_tail = c;
}

static void queue_remove(guard_t *g, gconn_t *c) {
  if (c->prev) {
    c->prev->next = c->next;
  } else {
    g->queue_head = c->next;
  }
  if (c->next) {
    c->next->prev = c->prev;
  } else {
    g->queue_tail = c->prev;
  }
  c->prev = c->next = NULL;
}

/* The record of the connection ri describes (its peer's address and
 * port are unique among the open connections to a port), or NULL. */
static gconn_t *find_peer(guard_t *g, const struct mg_request_info *ri) {
  for (size_t i = 0; i < g->n_fd; i++) {
    gconn_t *c = g->by_fd[i];
    if (c && c->peer_port == ri->remote_port &&
        !strcmp(c->peer, ri->remote_addr)) {
      return c;
    }
  }
  return NULL;
}

/* The record of conn, which begin_request or connection_close has just
 * identified: a QUEUED one leaves the queue (see the top of the file). */
static gconn_t *identify(guard_t *g, const struct mg_connection *conn) {
  gconn_t *c = find_peer(g, mg_get_request_info(conn));
  if (c && c->state == ST_QUEUED) {
    queue_remove(g, c);
    g->credit++;
    set_state(g, c, ST_HEAD, 0);
  }
  return c;
}

/* Forgets c; the caller holds the lock. */
static void drop(guard_t *g, gconn_t *c) {
  if (c->state == ST_QUEUED) {
    queue_remove(g, c);
  }
  if ((size_t)c->fd < g->n_fd && g->by_fd[c->fd] == c) {
    g->by_fd[c->fd] = NULL;
  }
  if (c->counted) {
    addr_release(g, c->key);
  }
  if (holds_worker(c->state)) {
    g->stats.busy--;
  }
  g->stats.open--;
  bson_free(c);
}

static void put_record(guard_t *g, gconn_t *c) {
  if ((size_t)c->fd >= g->n_fd) {
    size_t n = g->n_fd ? g->n_fd : 1024;
    while (n <= (size_t)c->fd) {
      n *= 2;
    }
    g->by_fd = bson_realloc(g->by_fd, n * sizeof *g->by_fd);
    memset(g->by_fd + g->n_fd, 0, (n - g->n_fd) * sizeof *g->by_fd);
    g->n_fd = n;
  }
  if (g->by_fd[c->fd]) {
    /* civetweb closed that socket without its callback (only queued
     * sockets, at mg_stop): the record is stale. */
    drop(g, g->by_fd[c->fd]);
  }
  g->by_fd[c->fd] = c;
  g->stats.open++;
  queue_push(g, c);
}

/* The longest-idle kept-alive connection of key, or NULL. */
static gconn_t *oldest_idle(guard_t *g, const uint8_t key[16]) {
  gconn_t *best = NULL;
  for (size_t i = 0; i < g->n_fd; i++) {
    gconn_t *c = g->by_fd[i];
    if (c && c->state == ST_IDLE && !c->cut && c->counted &&
        !memcmp(c->key, key, 16) && (!best || c->since_us < best->since_us)) {
      best = c;
    }
  }
  return best;
}

/* ------------------------------------------------------------------ */
/* accept()                                                            */
/* ------------------------------------------------------------------ */

/* Admits fd (peer) or says no; a record is made for an admitted one. */
static bool admit(guard_t *g, int fd, const struct sockaddr_storage *peer) {
  gconn_t *c = bson_malloc0(sizeof *c);
  c->guard = g;
  c->fd = fd;
  c->state = ST_QUEUED;
  if (!peer_of(peer, c->key, c->peer, &c->peer_port)) {
    bson_free(c); /* not TCP/IP: nothing to count */
    return true;
  }
  c->trusted = http_address_listed(c->peer, g->trusted);
  bool capped = g->cfg.per_address > 0 && !c->trusted;
  bool ok = true;
  pthread_mutex_lock(&g->lock);
  if (capped) {
    addr_node_t *a = addr_find(g, c->key, true);
    if (a->count >= g->cfg.per_address) {
      gconn_t *idle = oldest_idle(g, c->key);
      if (idle) {
        cut(g, idle, SHUT_RDWR);
        idle->counted = false;
        a->count--;
        g->stats.evicted++;
      } else {
        ok = false;
        g->stats.refused++;
        bson_strncpy(g->last_refused, c->peer, sizeof g->last_refused);
      }
    }
    if (ok) {
      a->count++;
      c->counted = true;
    }
  }
  if (ok) {
    c->since_us = now_us();
    put_record(g, c);
  }
  pthread_mutex_unlock(&g->lock);
  if (!ok) {
    bson_free(c);
  }
  return ok;
}

/* Tells a refused client why (best effort: never waits) and closes. */
static void refuse(int fd) {
  static const char body[] =
      "{\"error\":{\"code\":\"too_many_connections\",\"message\":\"Too many "
      "connections from your address; close some and try again\"}}";
  char reply[512];
  int n = snprintf(reply, sizeof reply,
                   "HTTP/1.1 503 Service Unavailable\r\n"
                   "Content-Type: application/json; charset=utf-8\r\n"
                   "Content-Length: %zu\r\n"
                   "Cache-Control: no-store\r\n"
                   "Retry-After: 1\r\n"
                   "Connection: close\r\n\r\n%s",
                   sizeof body - 1, body);
  (void)!send(fd, reply, (size_t)n, MSG_DONTWAIT | MSG_NOSIGNAL);
  shutdown(fd, SHUT_WR);
  /* What the client sent already is read, so that closing sends a FIN
   * behind the answer rather than a reset that could discard it. */
  char sink[4096];
  for (int i = 0; i < 4 && recv(fd, sink, sizeof sink, MSG_DONTWAIT) > 0; i++) {
  }
  close(fd);
}

typedef int (*accept_fn)(int, struct sockaddr *, socklen_t *);
static pthread_once_t accept_once = PTHREAD_ONCE_INIT;
static accept_fn libc_accept;

static void find_accept(void) {
  *(void **)&libc_accept = dlsym(RTLD_NEXT, "accept");
}

/* civetweb's accept() (see guard.h).  A refused connection is closed
 * here and reported as ECONNABORTED, which civetweb's master thread
 * ignores. */
int accept(int fd, struct sockaddr *addr, socklen_t *len) {
  pthread_once(&accept_once, find_accept);
  int s = libc_accept(fd, addr, len);
  if (s < 0 || atomic_load(&registered) == 0) {
    return s;
  }
  int saved = errno;
  struct sockaddr_storage local, peer;
  socklen_t local_len = sizeof local, peer_len = sizeof peer;
  guard_t *g = NULL;
  if (getsockname(fd, (struct sockaddr *)&local, &local_len) == 0) {
    uint8_t key[16];
    char text[ADDR_TEXT_MAX];
    uint16_t port = 0;
    if (peer_of(&local, key, text, &port)) {
      g = registry_find(port);
    }
  }
  if (g && getpeername(s, (struct sockaddr *)&peer, &peer_len) == 0 &&
      !admit(g, s, &peer)) {
    refuse(s);
    errno = ECONNABORTED;
    return -1;
  }
  errno = saved;
  return s;
}

/* ------------------------------------------------------------------ */
/* civetweb's callbacks                                                */
/* ------------------------------------------------------------------ */

static int on_init_connection(const struct mg_connection *conn, void **data) {
  *data = NULL; /* the record is attached by the first begin_request */
  guard_t *g = guard_of(conn);
  if (!g) {
    return 0;
  }
  pthread_mutex_lock(&g->lock);
  bool log_unseen = false;
  if (g->credit > 0) {
    g->credit--;
  } else if (g->queue_head) {
    gconn_t *c = g->queue_head;
    queue_remove(g, c);
    set_state(g, c, ST_HEAD, g->cfg.head_timeout_ms);
  } else {
    g->stats.unseen++;
    log_unseen = !g->unseen_logged;
    g->unseen_logged = true;
  }
  if (is_scarce(g)) {
    pthread_cond_signal(&g->wake);
  }
  pthread_mutex_unlock(&g->lock);
  if (log_unseen) {
    fprintf(stderr,
            "chorusd[%s]: http guard: a connection was not seen by "
            "accept(); such connections are not guarded\n",
            g->name);
  }
  return 0;
}

static int on_begin_request(struct mg_connection *conn) {
  gconn_t *c = mg_get_user_connection_data(conn);
  guard_t *g = c ? c->guard : guard_of(conn);
  if (!g) {
    return 0;
  }
  const struct mg_request_info *ri = mg_get_request_info(conn);
  bool body = ri->content_length > 0 ||
              mg_get_header(conn, "Transfer-Encoding") != NULL;
  pthread_mutex_lock(&g->lock);
  if (!c && (c = identify(g, conn)) != NULL) {
    mg_set_user_connection_data(conn, c);
  }
  if (c) {
    set_state(g, c, body ? ST_BODY : ST_HANDLER,
              body ? g->cfg.body_timeout_ms : 0);
  }
  bool scarce = is_scarce(g) && !(c && c->trusted);
  pthread_mutex_unlock(&g->lock);
  if (c) {
    atomic_store(&c->close_after, scarce);
  }
  if (scarce) {
    mg_disable_connection_keep_alive(conn);
  }
  return 0; /* civetweb goes on to the handler */
}

static void on_end_request(const struct mg_connection *conn, int status) {
  (void)status;
  gconn_t *c = mg_get_user_connection_data(conn);
  if (!c) {
    return;
  }
  guard_t *g = c->guard;
  pthread_mutex_lock(&g->lock);
  set_state(g, c, ST_IDLE, g->cfg.idle_timeout_ms);
  pthread_mutex_unlock(&g->lock);
  atomic_store(&c->close_after, false);
}

static void on_connection_close(const struct mg_connection *conn) {
  gconn_t *c = mg_get_user_connection_data(conn);
  guard_t *g = c ? c->guard : guard_of(conn);
  if (!g) {
    return;
  }
  pthread_mutex_lock(&g->lock);
  if (!c) {
    c = identify(g, conn); /* it never began a request */
  }
  if (c) {
    drop(g, c);
  }
  pthread_mutex_unlock(&g->lock);
}

void guard_set_callbacks(struct mg_callbacks *cb) {
  cb->init_connection = on_init_connection;
  cb->begin_request = on_begin_request;
  cb->end_request = on_end_request;
  cb->connection_close = on_connection_close;
}

/* ------------------------------------------------------------------ */
/* the watchdog                                                        */
/* ------------------------------------------------------------------ */

/* One line every LOG_EVERY_US when something was refused or cut. */
static void maybe_log(guard_t *g, int64_t now) {
  if (now - g->logged_at_us < LOG_EVERY_US) {
    return;
  }
  const guard_stats_t *s = &g->stats, *l = &g->logged;
  long long refused = s->refused - l->refused;
  long long evicted = s->evicted - l->evicted;
  long long heads = s->head_timeouts - l->head_timeouts;
  long long bodies = s->body_timeouts - l->body_timeouts;
  long long idle = s->idle_timeouts - l->idle_timeouts;
  long long scarce = s->idle_scarce - l->idle_scarce;
  if (refused || evicted || heads || bodies || idle || scarce) {
    fprintf(stderr,
            "chorusd[%s]: http guard, last %d s: %lld connections refused "
            "over the per-address cap of %d%s%s%s, %lld idle ones closed for "
            "a new one of their address; %lld heads and %lld bodies cut at "
            "their deadline; %lld idle kept-alive connections closed, %lld "
            "of them early (workers scarce); %lld open, %lld busy of %d "
            "workers\n",
            g->name, LOG_EVERY_US / 1000000, refused, g->cfg.per_address,
            refused ? " (last from " : "", refused ? g->last_refused : "",
            refused ? ")" : "", evicted, heads, bodies, idle + scarce, scarce,
            (long long)s->open, (long long)s->busy, g->cfg.workers);
  }
  g->logged = *s;
  g->logged_at_us = now;
}

/* Cuts what is past its deadline; returns when to look again. */
static int64_t watch_once(guard_t *g, int64_t now) {
  int64_t next = now + 1000000;
  bool scarce = is_scarce(g);
  for (size_t i = 0; i < g->n_fd; i++) {
    gconn_t *c = g->by_fd[i];
    if (!c || c->cut || !c->deadline_us) {
      continue;
    }
    int64_t due = c->deadline_us;
    if (c->state == ST_IDLE && scarce && !c->trusted) {
      int64_t early = c->since_us + GUARD_SCARCE_IDLE_MS * 1000LL;
      if (early < due && early <= now) {
        cut(g, c, SHUT_RDWR);
        g->stats.idle_scarce++;
        continue;
      }
      due = early < due ? early : due;
    }
    if (due > now) {
      next = due < next ? due : next;
      continue;
    }
    switch (c->state) {
    case ST_HEAD:
      cut(g, c, SHUT_RDWR);
      g->stats.head_timeouts++;
      break;
    case ST_BODY:
      /* Only the read side: the handler still answers 408. */
      atomic_store(&c->body_expired, true);
      cut(g, c, SHUT_RD);
      g->stats.body_timeouts++;
      break;
    case ST_IDLE:
      cut(g, c, SHUT_RDWR);
      g->stats.idle_timeouts++;
      break;
    default:
      break;
    }
  }
  return next;
}

static void *watchdog_main(void *arg) {
  guard_t *g = arg;
  pthread_mutex_lock(&g->lock);
  while (!g->stopping) {
    int64_t now = now_us();
    int64_t next = watch_once(g, now);
    maybe_log(g, now);
    g->wake_at_us = next;
    struct timespec at = {(time_t)(next / 1000000),
                          (long)(next % 1000000) * 1000};
    pthread_cond_timedwait(&g->wake, &g->lock, &at);
  }
  pthread_mutex_unlock(&g->lock);
  return NULL;
}

/* ------------------------------------------------------------------ */
/* the guard                                                           */
/* ------------------------------------------------------------------ */

guard_t *guard_new(const guard_config_t *cfg) {
  guard_t *g = bson_malloc0(sizeof *g);
  g->cfg = *cfg;
  bson_strncpy(g->name, cfg->name ? cfg->name : "", sizeof g->name);
  bson_strncpy(g->trusted, cfg->trusted_proxies ? cfg->trusted_proxies : "",
               sizeof g->trusted);
  g->cfg.name = g->name;
  g->cfg.trusted_proxies = g->trusted;
  pthread_mutex_init(&g->lock, NULL);
  pthread_condattr_t attr;
  pthread_condattr_init(&attr);
  pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
  pthread_cond_init(&g->wake, &attr);
  pthread_condattr_destroy(&attr);
  g->logged_at_us = now_us();
  return g;
}

bool guard_start(guard_t *g, int port, chorus_error_t *err) {
  if (!registry_add(g, port)) {
    chorus_error_set(err, 500, "guard_failed",
                     "port %d is already guarded, or too many are", port);
    return false;
  }
  g->port = port;
  if (pthread_create(&g->watchdog, NULL, watchdog_main, g) != 0) {
    registry_remove(g);
    chorus_error_set(err, 500, "guard_failed",
                     "cannot start the connection guard's thread");
    return false;
  }
  g->running = true;
  return true;
}

void guard_destroy(guard_t *g) {
  if (!g) {
    return;
  }
  registry_remove(g);
  if (g->running) {
    pthread_mutex_lock(&g->lock);
    g->stopping = true;
    pthread_cond_signal(&g->wake);
    pthread_mutex_unlock(&g->lock);
    pthread_join(g->watchdog, NULL);
  }
  for (size_t i = 0; i < g->n_fd; i++) {
    if (g->by_fd[i]) {
      drop(g, g->by_fd[i]);
    }
  }
  bson_free(g->by_fd);
  for (size_t b = 0; b < ADDR_BUCKETS; b++) {
    while (g->addrs[b]) {
      addr_node_t *next = g->addrs[b]->next;
      bson_free(g->addrs[b]);
      g->addrs[b] = next;
    }
  }
  pthread_cond_destroy(&g->wake);
  pthread_mutex_destroy(&g->lock);
  bson_free(g);
}

void guard_get_stats(guard_t *g, guard_stats_t *out) {
  pthread_mutex_lock(&g->lock);
  *out = g->stats;
  pthread_mutex_unlock(&g->lock);
}

void guard_body_done(const struct mg_connection *conn) {
  gconn_t *c = mg_get_user_connection_data(conn);
  if (!c) {
    return;
  }
  guard_t *g = c->guard;
  pthread_mutex_lock(&g->lock);
  if (c->state == ST_BODY) {
    set_state(g, c, ST_HANDLER, 0);
  }
  pthread_mutex_unlock(&g->lock);
}

guard_body_t guard_body_status(const struct mg_connection *conn) {
  gconn_t *c = mg_get_user_connection_data(conn);
  if (!c) {
    return GUARD_BODY_UNGUARDED;
  }
  return atomic_load(&c->body_expired) ? GUARD_BODY_EXPIRED : GUARD_BODY_OPEN;
}

bool guard_wants_close(const struct mg_connection *conn) {
  gconn_t *c = mg_get_user_connection_data(conn);
  return c && atomic_load(&c->close_after);
}
