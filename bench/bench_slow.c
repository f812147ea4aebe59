/*
 * bench_slow.c - what other clients get from a server while one address
 * holds thousands of slow or idle connections to it.
 *
 *   bench_slow --url http://127.0.0.1:P [--read PATH] [--from ADDR]
 *              [--connections N] [--mix HEAD:BODY:IDLE] [--clients K]
 *              [--rate R] [--baseline S] [--ramp S] [--duration S]
 *              [--timeout-ms MS] [--fresh] [--json]
 *
 * The attacker: one thread (epoll) keeps --connections (2000) connections
 * open from --from (127.0.0.2: on Linux all of 127.0.0.0/8 is this
 * machine, so the server sees another address than its other clients'
 * 127.0.0.1), split by --mix (1:1:1) into
 *   slow heads   "GET /healthz HTTP/1.1" and then one header line a second,
 *                never the blank line that ends the head;
 *   slow bodies  "POST /api/login" with Content-Length: 10000 (under the
 *                16 KiB limit), then one byte of body a second;
 *   idle         one "GET /healthz" on a kept-alive connection, its answer
 *                read, then nothing.
 * A connection the server refuses or closes is opened again a second
 * later, so the attacker always tries to hold all of them.
 *
 * The other clients: --clients (4) threads, each with a kept-alive curl
 * handle (with --fresh, a new connection for every request: new visitors
 * rather than clients already connected), send --rate (100) requests a
 * second in all, on an even schedule,
 * alternately GET /healthz and GET --read (/api/tweet?limit=20, the global
 * timeline).  A request's latency runs from the moment the schedule says
 * to send it, not from when it was sent, so a server that stalls is
 * charged for the requests it held back (no coordinated omission).  A
 * request that fails, answers other than 200 or takes over --timeout-ms
 * (5000) is an error, and so is each request the schedule had no time
 * left to send in the window behind such ones.
 *
 * Phases: --baseline (5) seconds without the attacker; the attacker opens
 * its connections and --ramp (5) seconds pass; --duration (20) seconds
 * measured under attack.  Prints, per phase and target, requests, the
 * rate achieved, p50/p99/max latency and errors; and what the attacker
 * got: connections opened, answered 503 (refused), closed by the server,
 * and held open at the end by kind.  --json prints one JSON line instead.
 *
 * A benchmark prints figures; it exits non-zero only when it cannot run.
 */
#include <arpa/inet.h>
#include <curl/curl.h>
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "bench/bench_common.h"

/* ------------------------------------------------------------ options */

typedef struct options {
  const char *url;
  const char *read;
  const char *from;
  long connections;
  long mix[3]; /* heads, bodies, idle */
  long clients;
  double rate;
  double baseline_s, ramp_s, duration_s;
  long timeout_ms;
  bool fresh;
  bool json;
} options_t;

static void usage(FILE *out) {
  fprintf(out, "usage: bench_slow --url URL [--read PATH] [--from ADDR]\n"
               "                  [--connections N] [--mix HEAD:BODY:IDLE]\n"
               "                  [--clients K] [--rate R] [--baseline S]\n"
               "                  [--ramp S] [--duration S] [--timeout-ms MS]\n"
               "                  [--fresh] [--json]\n");
}

static void parse_mix(const char *s, long mix[3]) {
  char *end;
  for (int i = 0; i < 3; i++) {
    errno = 0;
    mix[i] = strtol(s, &end, 10);
    if (errno || end == s || mix[i] < 0 || mix[i] > 1000 ||
        *end != (i < 2 ? ':' : '\0')) {
      bench_die_usage("--mix takes HEAD:BODY:IDLE weights, not '%s'", s);
    }
    s = end + 1;
  }
  if (mix[0] + mix[1] + mix[2] == 0) {
    bench_die_usage("--mix needs a weight above 0");
  }
}

static void parse_options(int argc, char **argv, options_t *o) {
  *o = (options_t){.read = "/api/tweet?limit=20",
                   .from = "127.0.0.2",
                   .connections = 2000,
                   .mix = {1, 1, 1},
                   .clients = 4,
                   .rate = 100,
                   .baseline_s = 5,
                   .ramp_s = 5,
                   .duration_s = 20,
                   .timeout_ms = 5000};
  static const struct option longopts[] = {
      {"url", required_argument, NULL, 'u'},
      {"read", required_argument, NULL, 'r'},
      {"from", required_argument, NULL, 'f'},
      {"connections", required_argument, NULL, 'n'},
      {"mix", required_argument, NULL, 'm'},
      {"clients", required_argument, NULL, 'c'},
      {"rate", required_argument, NULL, 'R'},
      {"baseline", required_argument, NULL, 'b'},
      {"ramp", required_argument, NULL, 'p'},
      {"duration", required_argument, NULL, 'd'},
      {"timeout-ms", required_argument, NULL, 't'},
      {"fresh", no_argument, NULL, 'F'},
      {"json", no_argument, NULL, 'j'},
      {"help", no_argument, NULL, 'h'},
      {NULL, 0, NULL, 0}};
  int c;
  while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
    switch (c) {
    case 'u':
      o->url = bench_arg_url("--url", optarg);
      break;
    case 'r':
      if (optarg[0] != '/') {
        bench_die_usage("--read takes a path starting with /");
      }
      o->read = optarg;
      break;
    case 'f': {
      struct in_addr a;
      if (inet_pton(AF_INET, optarg, &a) != 1) {
        bench_die_usage("--from takes an IPv4 address, not '%s'", optarg);
      }
      o->from = optarg;
      break;
    }
    case 'n':
      o->connections = bench_arg_long("--connections", optarg, 0, 100000);
      break;
    case 'm':
      parse_mix(optarg, o->mix);
      break;
    case 'c':
      o->clients = bench_arg_long("--clients", optarg, 1, 256);
      break;
    case 'R':
      o->rate = bench_arg_double("--rate", optarg, 1, 100000);
      break;
    case 'b':
      o->baseline_s = bench_arg_double("--baseline", optarg, 0, 3600);
      break;
    case 'p':
      o->ramp_s = bench_arg_double("--ramp", optarg, 0, 3600);
      break;
    case 'd':
      o->duration_s = bench_arg_double("--duration", optarg, 1, 3600);
      break;
    case 't':
      o->timeout_ms = bench_arg_long("--timeout-ms", optarg, 100, 600000);
      break;
    case 'F':
      o->fresh = true;
      break;
    case 'j':
      o->json = true;
      break;
    case 'h':
      usage(stdout);
      exit(0);
    default:
      bench_die_bad_option(argv);
    }
  }
  bench_no_more_args(argc, argv);
  if (!o->url) {
    bench_die_usage("--url is required");
  }
}

/* ------------------------------------------------------------ attacker */

enum { KIND_HEAD, KIND_BODY, KIND_IDLE, KINDS };
static const char *const kind_names[KINDS] = {"slow heads", "slow bodies",
                                              "idle"};

typedef struct slot {
  int fd; /* -1 while closed */
  int kind;
  bool connected; /* the connection is established */
  bool answered;  /* idle: its answer has arrived */
  double next_s;  /* when to send the next byte, or to reconnect */
  long trickled;  /* header lines or body bytes sent */
} slot_t;

typedef struct attacker {
  const options_t *o;
  struct sockaddr_in server, from;
  slot_t *slots;
  int epfd;
  atomic_bool stop;
  /* counted by the attacker thread; read after it stops, or roughly */
  atomic_long opened, refused, closed, failed_connects;
  atomic_long open_now[KINDS];
  pthread_t thread;
} attacker_t;

static void slot_close(attacker_t *a, slot_t *s, double now) {
  if (s->fd >= 0) {
    if (s->connected) {
      atomic_fetch_sub(&a->open_now[s->kind], 1);
    }
    close(s->fd);
  }
  s->fd = -1;
  s->connected = s->answered = false;
  s->trickled = 0;
  s->next_s = now + 1.0; /* reconnect a second later */
}

static void slot_open(attacker_t *a, slot_t *s, double now) {
  s->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
  if (s->fd < 0) {
    s->next_s = now + 1.0;
    return;
  }
  if (bind(s->fd, (struct sockaddr *)&a->from, sizeof a->from) != 0 ||
      (connect(s->fd, (struct sockaddr *)&a->server, sizeof a->server) != 0 &&
       errno != EINPROGRESS)) {
    atomic_fetch_add(&a->failed_connects, 1);
    close(s->fd);
    s->fd = -1;
    s->next_s = now + 1.0;
    return;
  }
  struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP,
                           .data.ptr = s};
  epoll_ctl(a->epfd, EPOLL_CTL_ADD, s->fd, &ev);
  s->next_s = now + 3600; /* until connected */
}

static bool slot_send(slot_t *s, const char *text) {
  size_t n = strlen(text);
  return send(s->fd, text, n, MSG_NOSIGNAL | MSG_DONTWAIT) == (ssize_t)n;
}

/* The connection is up: the start of its request. */
static void slot_connected(attacker_t *a, slot_t *s, double now) {
  s->connected = true;
  atomic_fetch_add(&a->opened, 1);
  atomic_fetch_add(&a->open_now[s->kind], 1);
  struct epoll_event ev = {.events = EPOLLIN | EPOLLRDHUP, .data.ptr = s};
  epoll_ctl(a->epfd, EPOLL_CTL_MOD, s->fd, &ev);
  const char *start =
      s->kind == KIND_HEAD ? "GET /healthz HTTP/1.1\r\nHost: bench\r\n"
      : s->kind == KIND_BODY
          ? "POST /api/login HTTP/1.1\r\nHost: bench\r\n"
            "Content-Type: application/json\r\nContent-Length: 10000\r\n\r\n"
          : "GET /healthz HTTP/1.1\r\nHost: bench\r\n\r\n";
  if (!slot_send(s, start)) {
    slot_close(a, s, now);
    return;
  }
  /* Spread the trickles over the second. */
  s->next_s = now + (double)(rand() % 1000) / 1000.0;
}

static void slot_readable(attacker_t *a, slot_t *s, double now) {
  char buf[4096];
  ssize_t n = recv(s->fd, buf, sizeof buf, MSG_DONTWAIT);
  if (n > 0) {
    if (!s->answered && n >= 12 && !memcmp(buf, "HTTP/1.1 503", 12)) {
      atomic_fetch_add(&a->refused, 1);
    }
    s->answered = true;
    return;
  }
  if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
    return;
  }
  atomic_fetch_add(&a->closed, 1);
  slot_close(a, s, now);
}

static void slot_due(attacker_t *a, slot_t *s, double now) {
  if (s->fd < 0) {
    slot_open(a, s, now);
    return;
  }
  if (!s->connected || s->kind == KIND_IDLE) {
    s->next_s = now + 3600;
    return;
  }
  if (s->kind == KIND_HEAD) {
    char line[64];
    snprintf(line, sizeof line, "X-Slow-%ld: 1\r\n", s->trickled);
    if (!slot_send(s, line)) {
      atomic_fetch_add(&a->closed, 1);
      slot_close(a, s, now);
      return;
    }
  } else if (s->trickled < 9999) {
    if (!slot_send(s, " ")) {
      atomic_fetch_add(&a->closed, 1);
      slot_close(a, s, now);
      return;
    }
  }
  s->trickled++;
  s->next_s = now + 1.0;
}

static void *attacker_main(void *arg) {
  attacker_t *a = arg;
  struct epoll_event events[256];
  while (!atomic_load(&a->stop)) {
    int n = epoll_wait(a->epfd, events, 256, 20);
    double now = bench_now_s();
    for (int i = 0; i < n; i++) {
      slot_t *s = events[i].data.ptr;
      if (s->fd < 0) {
        continue;
      }
      if (!s->connected) {
        int err = 0;
        socklen_t len = sizeof err;
        getsockopt(s->fd, SOL_SOCKET, SO_ERROR, &err, &len);
        if (err || (events[i].events & (EPOLLERR | EPOLLHUP))) {
          atomic_fetch_add(&a->failed_connects, 1);
          slot_close(a, s, now);
          continue;
        }
        slot_connected(a, s, now);
        continue;
      }
      if (events[i].events & (EPOLLIN | EPOLLRDHUP | EPOLLERR | EPOLLHUP)) {
        slot_readable(a, s, now);
      }
    }
    for (long i = 0; i < a->o->connections; i++) {
      if (a->slots[i].next_s <= now) {
        slot_due(a, &a->slots[i], now);
      }
    }
  }
  return NULL;
}

static void attacker_start(attacker_t *a, const options_t *o) {
  memset(a, 0, sizeof *a);
  a->o = o;
  const char *hostport = strstr(o->url, "://") + 3;
  char host[64];
  size_t hl = strcspn(hostport, ":/");
  if (hl >= sizeof host) {
    bench_die_usage("--url host too long");
  }
  memcpy(host, hostport, hl);
  host[hl] = '\0';
  long port = hostport[hl] == ':' ? atol(hostport + hl + 1) : 80;
  a->server.sin_family = AF_INET;
  a->server.sin_port = htons((uint16_t)port);
  if (inet_pton(AF_INET, host, &a->server.sin_addr) != 1) {
    bench_die_usage("--url must name an IPv4 address, not '%s'", host);
  }
  a->from.sin_family = AF_INET;
  inet_pton(AF_INET, o->from, &a->from.sin_addr);
  a->epfd = epoll_create1(0);
  if (a->epfd < 0) {
    bench_die("epoll_create1: %s", strerror(errno));
  }
  a->slots = bench_alloc((size_t)(o->connections + 1) * sizeof *a->slots);
  long total = o->mix[0] + o->mix[1] + o->mix[2];
  double now = bench_now_s();
  for (long i = 0; i < o->connections; i++) {
    slot_t *s = &a->slots[i];
    memset(s, 0, sizeof *s);
    s->fd = -1;
    long w = i % total;
    s->kind = w < o->mix[0]               ? KIND_HEAD
              : w < o->mix[0] + o->mix[1] ? KIND_BODY
                                          : KIND_IDLE;
    /* Opened over the first second: a burst is not the point. */
    s->next_s = now + (double)i / (double)(o->connections ? o->connections : 1);
  }
  atomic_init(&a->stop, false);
  if (pthread_create(&a->thread, NULL, attacker_main, a) != 0) {
    bench_die("cannot start the attacker thread");
  }
}

static void attacker_stop(attacker_t *a) {
  atomic_store(&a->stop, true);
  pthread_join(a->thread, NULL);
  for (long i = 0; i < a->o->connections; i++) {
    if (a->slots[i].fd >= 0) {
      close(a->slots[i].fd);
    }
  }
  close(a->epfd);
  free(a->slots);
}

/* ------------------------------------------------------------ clients */

enum { TARGET_HEALTHZ, TARGET_READ, TARGETS };

typedef struct sample {
  double latency_ms;
  bool ok;
} sample_t;

typedef struct series {
  sample_t *v;
  size_t n, cap;
} series_t;

typedef struct client {
  const options_t *o;
  int index;
  pthread_t thread;
  double start_s, end_s; /* the window this client runs */
  series_t got[TARGETS];
} client_t;

static void series_add(series_t *s, double ms, bool ok) {
  if (s->n == s->cap) {
    s->cap = s->cap ? s->cap * 2 : 1024;
    sample_t *v = bench_alloc(s->cap * sizeof *v);
    if (s->n) {
      memcpy(v, s->v, s->n * sizeof *v);
    }
    free(s->v);
    s->v = v;
  }
  s->v[s->n++] = (sample_t){ms, ok};
}

static void *client_main(void *arg) {
  client_t *c = arg;
  const options_t *o = c->o;
  CURL *h = bench_curl_new(o->timeout_ms);
  if (o->fresh) {
    curl_easy_setopt(h, CURLOPT_FRESH_CONNECT, 1L);
    curl_easy_setopt(h, CURLOPT_FORBID_REUSE, 1L);
  }
  bench_reply_t *r = bench_alloc(sizeof *r);
  char urls[TARGETS][600];
  snprintf(urls[TARGET_HEALTHZ], sizeof urls[0], "%s/healthz", o->url);
  snprintf(urls[TARGET_READ], sizeof urls[0], "%s%s", o->url, o->read);
  double interval = (double)o->clients / o->rate;
  /* The clients' schedules interleave evenly. */
  double due = c->start_s + interval * c->index / (double)o->clients;
  long k = c->index;
  for (; due < c->end_s && bench_now_s() < c->end_s; k++, due += interval) {
    double now = bench_now_s();
    if (due > now) {
      bench_sleep_s(due - now);
    }
    int target = (int)(k % TARGETS);
    bool sent = bench_http(h, "GET", urls[target], NULL, NULL, r);
    double done = bench_now_s();
    series_add(&c->got[target], (done - due) * 1000.0,
               sent && r->status == 200);
  }
  /* What the schedule had to send in the window and could not, behind
   * requests that took too long: errors. */
  for (; due < c->end_s; k++, due += interval) {
    series_add(&c->got[k % TARGETS], 0, false);
  }
  free(r);
  curl_easy_cleanup(h);
  return NULL;
}

typedef struct result {
  size_t requests, errors;
  double rate;
  bench_dist_t ok; /* latency of the successful requests */
} result_t;

/* Runs the clients for seconds; results per target. */
static void run_clients(const options_t *o, double seconds,
                        result_t out[TARGETS]) {
  client_t *cs = bench_alloc((size_t)o->clients * sizeof *cs);
  double start = bench_now_s() + 0.05;
  for (long i = 0; i < o->clients; i++) {
    memset(&cs[i], 0, sizeof cs[i]);
    cs[i].o = o;
    cs[i].index = (int)i;
    cs[i].start_s = start;
    cs[i].end_s = start + seconds;
    if (pthread_create(&cs[i].thread, NULL, client_main, &cs[i]) != 0) {
      bench_die("cannot start a client thread");
    }
  }
  for (long i = 0; i < o->clients; i++) {
    pthread_join(cs[i].thread, NULL);
  }
  double elapsed = bench_now_s() - start;
  for (int t = 0; t < TARGETS; t++) {
    size_t n = 0;
    for (long i = 0; i < o->clients; i++) {
      n += cs[i].got[t].n;
    }
    double *ok = bench_alloc((n ? n : 1) * sizeof *ok);
    size_t n_ok = 0, errors = 0;
    for (long i = 0; i < o->clients; i++) {
      for (size_t k = 0; k < cs[i].got[t].n; k++) {
        if (cs[i].got[t].v[k].ok) {
          ok[n_ok++] = cs[i].got[t].v[k].latency_ms;
        } else {
          errors++;
        }
      }
    }
    out[t].requests = n;
    out[t].errors = errors;
    out[t].rate = (double)n_ok / elapsed;
    out[t].ok = bench_dist_of(ok, n_ok);
    free(ok);
  }
  for (long i = 0; i < o->clients; i++) {
    for (int t = 0; t < TARGETS; t++) {
      free(cs[i].got[t].v);
    }
  }
  free(cs);
}

/* ------------------------------------------------------------ main */

static void print_row(const char *phase, const char *target,
                      const result_t *r) {
  printf("%-13s %-22s %8zu %8.1f %8.2f %8.2f %9.2f %7zu\n", phase, target,
         r->requests, r->rate, r->ok.p50, r->ok.p99, r->ok.max, r->errors);
}

static void print_json_result(const char *name, const result_t *r) {
  printf("\"%s\":{\"requests\":%zu,\"rate\":%.1f,\"p50_ms\":%.2f,"
         "\"p99_ms\":%.2f,\"max_ms\":%.2f,\"errors\":%zu}",
         name, r->requests, r->rate, r->ok.p50, r->ok.p99, r->ok.max,
         r->errors);
}

int main(int argc, char **argv) {
  bench_set_name("bench_slow");
  options_t o;
  parse_options(argc, argv, &o);
  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
    if ((long)rl.rlim_cur < o.connections + 64) {
      bench_die("open-files limit %ld is too low for %ld connections",
                (long)rl.rlim_cur, o.connections);
    }
  }
  curl_global_init(CURL_GLOBAL_DEFAULT);
  srand(1);

  result_t base[TARGETS], attacked[TARGETS];
  memset(base, 0, sizeof base);
  if (o.baseline_s > 0) {
    run_clients(&o, o.baseline_s, base);
  }
  attacker_t a;
  attacker_start(&a, &o);
  bench_sleep_s(o.ramp_s);
  long opened0 = atomic_load(&a.opened), refused0 = atomic_load(&a.refused),
       closed0 = atomic_load(&a.closed);
  run_clients(&o, o.duration_s, attacked);
  long held[KINDS];
  for (int k = 0; k < KINDS; k++) {
    held[k] = atomic_load(&a.open_now[k]);
  }
  long opened = atomic_load(&a.opened) - opened0;
  long refused = atomic_load(&a.refused) - refused0;
  long closed = atomic_load(&a.closed) - closed0;
  long failed = atomic_load(&a.failed_connects);
  attacker_stop(&a);

  long per_kind[KINDS] = {0, 0, 0};
  long total = o.mix[0] + o.mix[1] + o.mix[2];
  for (long i = 0; i < o.connections; i++) {
    long w = i % total;
    per_kind[w < o.mix[0] ? 0 : w < o.mix[0] + o.mix[1] ? 1 : 2]++;
  }
  if (o.json) {
    printf("{\"url\":\"%s\",\"connections\":%ld,\"mix\":\"%ld:%ld:%ld\","
           "\"rate\":%.1f,\"clients\":%ld,\"fresh\":%s,"
           "\"duration_s\":%.1f,",
           o.url, o.connections, o.mix[0], o.mix[1], o.mix[2], o.rate,
           o.clients, o.fresh ? "true" : "false", o.duration_s);
    print_json_result("base_healthz", &base[TARGET_HEALTHZ]);
    printf(",");
    print_json_result("base_read", &base[TARGET_READ]);
    printf(",");
    print_json_result("attack_healthz", &attacked[TARGET_HEALTHZ]);
    printf(",");
    print_json_result("attack_read", &attacked[TARGET_READ]);
    printf(",\"attacker\":{\"opened\":%ld,\"refused\":%ld,\"closed\":%ld,"
           "\"failed_connects\":%ld,\"held_heads\":%ld,\"held_bodies\":%ld,"
           "\"held_idle\":%ld}}\n",
           opened, refused, closed, failed, held[0], held[1], held[2]);
  } else {
    printf("%s: %ld connections from %s (%ld %s, %ld %s, %ld %s); "
           "%ld clients (%s), %.0f requests/s in all\n",
           o.url, o.connections, o.from, per_kind[0], kind_names[0],
           per_kind[1], kind_names[1], per_kind[2], kind_names[2], o.clients,
           o.fresh ? "a new connection per request" : "kept-alive", o.rate);
    printf("%-13s %-22s %8s %8s %8s %8s %9s %7s\n", "phase", "target",
           "requests", "ok/s", "p50 ms", "p99 ms", "max ms", "errors");
    if (o.baseline_s > 0) {
      print_row("no attack", "/healthz", &base[TARGET_HEALTHZ]);
      print_row("no attack", o.read, &base[TARGET_READ]);
    }
    print_row("under attack", "/healthz", &attacked[TARGET_HEALTHZ]);
    print_row("under attack", o.read, &attacked[TARGET_READ]);
    printf("attacker during the %.0f s window: %ld connections opened, %ld "
           "answered 503, %ld closed by the server; open at its end: %ld "
           "slow heads, %ld slow bodies, %ld idle (%ld failed connects in "
           "all)\n",
           o.duration_s, opened, refused, closed, held[0], held[1], held[2],
           failed);
  }
  curl_global_cleanup();
  return 0;
}
