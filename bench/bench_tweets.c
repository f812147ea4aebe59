/*
 * bench_tweets.c - throughput and latency of tweet creation through 2PC.
 *
 *   bench_tweets --url http://127.0.0.1:P [--url ...] --users N --threads T
 *                --duration S [--warmup S] [--shared-users] [--json]
 *                [--cpu NAME:PID ...] [--timeout-ms MS] [--dump FILE]
 *                [--no-keepalive]
 *
 * Registers N fresh users (POST /api/register, one session cookie each),
 * then runs T threads, each with its own keep-alive curl handle, that POST
 * /api/tweet as fast as the servers answer: each thread round-robin over
 * users of its own (t, t+T, t+2T, ...), as real users each post from one
 * client, so no two requests of one user are ever in flight together;
 * servers round-robin over --url.  --shared-users (automatic when N < T)
 * instead lets every thread cycle through all users, starting at user
 * t*N/T: then two threads sometimes post as the same user at once and the
 * servers' 2PC conflicts, retries and 409s show.  Every request is timed with
 * CLOCK_MONOTONIC.  After --warmup seconds (not counted) the measurement
 * window of --duration seconds begins; a request counts when it completes
 * inside the window.
 *
 * Prints one table (or, with --json, one JSON line): committed tweets (201),
 * tweets/s, p50/p90/p99/max latency of the committed requests, and the
 * failures by kind: 409 (conflict after the server's retries), 503
 * (database unavailable), other HTTP statuses, transport errors.
 * --cpu NAME:PID (repeatable, Linux) also reports the CPU used by those
 * processes during the window, as a percentage of one core, summed by
 * NAME; the benchmark's own CPU is reported as "client", and the whole
 * machine's (all processes, from /proc/stat) in the same unit.
 *
 * A benchmark prints figures; it exits non-zero only when it cannot run
 * (bad arguments, registration failed), never because of a figure.
 */
#include <curl/curl.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#define MAX_URLS 16
#define MAX_CPU 16
#define MAX_OTHER 8
#define PASSWORD "bench-password-1"

/* ------------------------------------------------------------ options */

typedef struct cpu_watch {
  char name[32];
  long pid;
  double start_s; /* CPU seconds at the start of the window */
  double used_s;  /* during the window; < 0 when unreadable */
} cpu_watch_t;

static struct {
  const char *urls[MAX_URLS];
  int n_urls;
  int users;
  int threads;
  double duration;
  double warmup;
  bool partition;
  bool shared_requested;
  bool json;
  bool no_keepalive;
  long timeout_ms;
  const char *dump;
  cpu_watch_t cpu[MAX_CPU];
  int n_cpu;
} opt = {.users = 16, .threads = 8, .duration = 20, .warmup = 2,
         .timeout_ms = 30000};

static void usage(FILE *out) {
  fprintf(out,
          "Usage: bench_tweets --url http://HOST:PORT [--url ...] [options]\n"
          "Throughput and latency of POST /api/tweet (two-phase commit).\n\n"
          "  --url URL         a chorusd server (repeatable; requests go\n"
          "                    round-robin over them)\n"
          "  --users N         users to register and post as (default 16)\n"
          "  --threads T       concurrent clients (default 8)\n"
          "  --duration S      measured seconds (default 20)\n"
          "  --warmup S        unmeasured seconds first (default 2)\n"
          "  --shared-users    every thread cycles through all users (two\n"
          "                    requests of one user may then conflict);\n"
          "                    by default each thread has users of its own\n"
          "  --cpu NAME:PID    report the CPU of PID during the window\n"
          "                    (repeatable; summed by NAME)\n"
          "  --timeout-ms MS   per-request timeout (default 30000)\n"
          "  --no-keepalive    a new connection for every request\n"
          "  --json            print one JSON line instead of the table\n"
          "  --dump FILE       write every committed request's latency (ms,\n"
          "                    one a line, in completion order per thread)\n"
          "  --help\n");
}

static bool parse_double(const char *s, double lo, double hi, double *out) {
  char *end;
  errno = 0;
  double v = strtod(s, &end);
  if (errno || end == s || *end || v < lo || v > hi) {
    return false;
  }
  *out = v;
  return true;
}

static bool parse_long(const char *s, long lo, long hi, long *out) {
  char *end;
  errno = 0;
  long v = strtol(s, &end, 10);
  if (errno || end == s || *end || v < lo || v > hi) {
    return false;
  }
  *out = v;
  return true;
}

__attribute__((format(printf, 1, 2), noreturn)) static void
die_usage(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fprintf(stderr, "bench_tweets: ");
  vfprintf(stderr, fmt, ap);
  fprintf(stderr, " (see --help)\n");
  va_end(ap);
  exit(2);
}

static void parse_args(int argc, char **argv) {
  enum { O_URL = 1, O_USERS, O_THREADS, O_DURATION, O_WARMUP, O_SHARED,
         O_JSON, O_CPU, O_TIMEOUT, O_DUMP, O_NO_KEEPALIVE,
         O_HELP };
  static const struct option longopts[] = {
      {"url", required_argument, NULL, O_URL},
      {"users", required_argument, NULL, O_USERS},
      {"threads", required_argument, NULL, O_THREADS},
      {"duration", required_argument, NULL, O_DURATION},
      {"warmup", required_argument, NULL, O_WARMUP},
      {"shared-users", no_argument, NULL, O_SHARED},
      {"json", no_argument, NULL, O_JSON},
      {"cpu", required_argument, NULL, O_CPU},
      {"timeout-ms", required_argument, NULL, O_TIMEOUT},
      {"dump", required_argument, NULL, O_DUMP},
      {"no-keepalive", no_argument, NULL, O_NO_KEEPALIVE},
      {"help", no_argument, NULL, O_HELP},
      {NULL, 0, NULL, 0},
  };
  opterr = 0;
  for (;;) {
    int c = getopt_long(argc, argv, "", longopts, NULL);
    if (c == -1) {
      break;
    }
    long v;
    switch (c) {
    case O_URL: {
      if (opt.n_urls == MAX_URLS) {
        die_usage("at most %d --url", MAX_URLS);
      }
      size_t n = strlen(optarg);
      if (strncmp(optarg, "http://", 7) && strncmp(optarg, "https://", 8)) {
        die_usage("--url must start with http:// or https://, not '%s'",
                  optarg);
      }
      /* Strip one trailing '/', so "--url http://h:p/" works too. */
      char *u = strdup(optarg);
      if (!u) {
        exit(1);
      }
      if (n > 0 && u[n - 1] == '/') {
        u[n - 1] = '\0';
      }
      opt.urls[opt.n_urls++] = u;
      break;
    }
    case O_USERS:
      if (!parse_long(optarg, 1, 1000000, &v)) {
        die_usage("--users must be from 1 to 1000000, not '%s'", optarg);
      }
      opt.users = (int)v;
      break;
    case O_THREADS:
      if (!parse_long(optarg, 1, 1024, &v)) {
        die_usage("--threads must be from 1 to 1024, not '%s'", optarg);
      }
      opt.threads = (int)v;
      break;
    case O_DURATION:
      if (!parse_double(optarg, 0.1, 86400, &opt.duration)) {
        die_usage("--duration must be seconds from 0.1 to 86400, not '%s'",
                  optarg);
      }
      break;
    case O_WARMUP:
      if (!parse_double(optarg, 0, 86400, &opt.warmup)) {
        die_usage("--warmup must be seconds from 0 to 86400, not '%s'",
                  optarg);
      }
      break;
    case O_SHARED:
      opt.shared_requested = true;
      break;
    case O_JSON:
      opt.json = true;
      break;
    case O_CPU: {
      const char *colon = strrchr(optarg, ':');
      cpu_watch_t *w = &opt.cpu[opt.n_cpu];
      if (opt.n_cpu == MAX_CPU || !colon || colon == optarg ||
          (size_t)(colon - optarg) >= sizeof w->name ||
          !parse_long(colon + 1, 1, 1L << 30, &v)) {
        die_usage("--cpu takes NAME:PID (at most 16), not '%s'", optarg);
      }
      memcpy(w->name, optarg, (size_t)(colon - optarg));
      w->name[colon - optarg] = '\0';
      w->pid = v;
      opt.n_cpu++;
      break;
    }
    case O_TIMEOUT:
      if (!parse_long(optarg, 100, 3600000, &opt.timeout_ms)) {
        die_usage("--timeout-ms must be from 100 to 3600000, not '%s'",
                  optarg);
      }
      break;
    case O_NO_KEEPALIVE:
      opt.no_keepalive = true;
      break;
    case O_DUMP:
      opt.dump = optarg;
      break;
    case O_HELP:
      usage(stdout);
      exit(0);
    default:
      die_usage("unknown option or missing value: %s",
                argv[optind - 1 > 0 ? optind - 1 : 0]);
    }
  }
  if (optind < argc) {
    die_usage("unexpected argument: %s", argv[optind]);
  }
  if (opt.n_urls == 0) {
    die_usage("at least one --url is needed");
  }
  opt.partition = !opt.shared_requested && opt.users >= opt.threads;
  if (!opt.shared_requested && !opt.partition) {
    fprintf(stderr, "bench_tweets: fewer users than threads: threads share "
                    "users (as with --shared-users)\n");
  }
}

/* ------------------------------------------------------------ clocks */

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* CPU seconds (user + system) of pid from /proc/PID/stat; -1 if unreadable. */
static double proc_cpu_s(long pid) {
  char path[64], buf[1024];
  snprintf(path, sizeof path, "/proc/%ld/stat", pid);
  FILE *f = fopen(path, "r");
  if (!f) {
    return -1;
  }
  size_t n = fread(buf, 1, sizeof buf - 1, f);
  fclose(f);
  buf[n] = '\0';
  /* The command name (field 2) may contain spaces: start after its ')'. */
  char *p = strrchr(buf, ')');
  if (!p) {
    return -1;
  }
  unsigned long long utime = 0, stime = 0;
  /* After ')': state(3) ppid pgrp session tty_nr tpgid flags minflt
   * cminflt majflt cmajflt utime(14) stime(15). */
  if (sscanf(p + 1,
             " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu",
             &utime, &stime) != 2) {
    return -1;
  }
  long hz = sysconf(_SC_CLK_TCK);
  return (double)(utime + stime) / (double)(hz > 0 ? hz : 100);
}

/* Busy and total jiffies of the whole machine from /proc/stat; false if
 * unreadable. */
static bool machine_jiffies(double *busy, double *total) {
  FILE *f = fopen("/proc/stat", "r");
  if (!f) {
    return false;
  }
  unsigned long long v[8] = {0};
  int n = fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0],
                 &v[1], &v[2], &v[3], &v[4], &v[5], &v[6], &v[7]);
  fclose(f);
  if (n < 4) {
    return false;
  }
  double sum = 0;
  for (int i = 0; i < 8; i++) {
    sum += (double)v[i];
  }
  *total = sum;
  *busy = sum - (double)v[3] - (double)v[4]; /* minus idle and iowait */
  return true;
}

static double self_cpu_s(void) {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
         (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

/* ------------------------------------------------------------ HTTP */

typedef struct header_capture {
  char cookie[512]; /* value of chorus_session from Set-Cookie */
} header_capture_t;

static size_t discard(char *ptr, size_t size, size_t n, void *userdata) {
  (void)ptr;
  (void)userdata;
  return size * n;
}

typedef struct body_capture {
  char text[512];
  size_t len;
} body_capture_t;

static size_t keep_some(char *ptr, size_t size, size_t n, void *userdata) {
  body_capture_t *b = userdata;
  size_t add = size * n, room = sizeof b->text - 1 - b->len;
  size_t take = add < room ? add : room;
  memcpy(b->text + b->len, ptr, take);
  b->len += take;
  b->text[b->len] = '\0';
  return add;
}

static size_t on_header(char *ptr, size_t size, size_t n, void *userdata) {
  header_capture_t *h = userdata;
  size_t len = size * n;
  static const char name[] = "set-cookie:";
  if (len > sizeof name && !strncasecmp(ptr, name, sizeof name - 1)) {
    const char *p = ptr + sizeof name - 1, *end = ptr + len;
    while (p < end && *p == ' ') {
      p++;
    }
    static const char key[] = "chorus_session=";
    if ((size_t)(end - p) > sizeof key - 1 &&
        !strncmp(p, key, sizeof key - 1)) {
      p += sizeof key - 1;
      size_t v = 0;
      while (p + v < end && p[v] != ';' && p[v] != '\r' && p[v] != '\n') {
        v++;
      }
      if (v > 0 && v < sizeof h->cookie) {
        memcpy(h->cookie, p, v);
        h->cookie[v] = '\0';
      }
    }
  }
  return len;
}

static CURL *new_handle(void) {
  CURL *h = curl_easy_init();
  if (!h) {
    fprintf(stderr, "bench_tweets: curl_easy_init failed\n");
    exit(1);
  }
  curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(h, CURLOPT_TCP_NODELAY, 1L);
  curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, opt.timeout_ms);
  curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, 5000L);
  curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, discard);
  curl_easy_setopt(h, CURLOPT_POST, 1L);
  return h;
}

/* ------------------------------------------------------------ users */

typedef struct user {
  char name[31];
  struct curl_slist *headers; /* Content-Type, Cookie, Expect: (read-only) */
} user_t;

static user_t *users;
static atomic_int next_user;
static atomic_int register_failed;

static struct curl_slist *json_headers(const char *cookie) {
  struct curl_slist *l = curl_slist_append(NULL,
                                           "Content-Type: application/json");
  l = curl_slist_append(l, "Expect:"); /* no 100-continue round trip */
  if (cookie) {
    char line[600];
    snprintf(line, sizeof line, "Cookie: chorus_session=%s", cookie);
    l = curl_slist_append(l, line);
  }
  return l;
}

/* Registers users[i] on a server; false (with a message) on failure. */
static bool register_user(CURL *h, int i, struct curl_slist *hdrs) {
  user_t *u = &users[i];
  char url[600], body[200];
  snprintf(url, sizeof url, "%s/api/register", opt.urls[i % opt.n_urls]);
  snprintf(body, sizeof body, "{\"username\":\"%s\",\"password\":\"%s\"}",
           u->name, PASSWORD);
  header_capture_t hc = {{0}};
  body_capture_t bc = {{0}, 0};
  curl_easy_setopt(h, CURLOPT_URL, url);
  curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
  curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
  curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
  curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
  curl_easy_setopt(h, CURLOPT_HEADERDATA, &hc);
  curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, keep_some);
  curl_easy_setopt(h, CURLOPT_WRITEDATA, &bc);
  CURLcode rc = curl_easy_perform(h);
  curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, NULL);
  curl_easy_setopt(h, CURLOPT_HEADERDATA, NULL);
  curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, discard);
  curl_easy_setopt(h, CURLOPT_WRITEDATA, NULL);
  if (rc != CURLE_OK) {
    fprintf(stderr, "bench_tweets: POST %s: %s\n", url,
            curl_easy_strerror(rc));
    return false;
  }
  long status = 0;
  curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
  if (status != 201 || !hc.cookie[0]) {
    fprintf(stderr,
            "bench_tweets: POST %s as %s: HTTP %ld%s; body: %s\n", url,
            u->name, status, hc.cookie[0] ? "" : " (no chorus_session cookie)",
            bc.text);
    return false;
  }
  u->headers = json_headers(hc.cookie);
  return true;
}

static void *register_worker(void *arg) {
  (void)arg;
  CURL *h = new_handle();
  struct curl_slist *hdrs = json_headers(NULL);
  for (;;) {
    int i = atomic_fetch_add(&next_user, 1);
    if (i >= opt.users || atomic_load(&register_failed)) {
      break;
    }
    if (!register_user(h, i, hdrs)) {
      atomic_store(&register_failed, 1);
    }
  }
  curl_slist_free_all(hdrs);
  curl_easy_cleanup(h);
  return NULL;
}

/* ------------------------------------------------------------ the run */

typedef struct other_status {
  long status;
  uint64_t count;
} other_status_t;

typedef struct worker {
  int id;
  pthread_t thread;
  /* results, in the window */
  uint64_t ok, conflict, unavailable, other, transport;
  other_status_t others[MAX_OTHER];
  int n_others;
  CURLcode last_transport;
  double *lat_ms; /* of the 201s */
  size_t n_lat, cap_lat;
} worker_t;

static double window_start, window_end;
/* Commits per second of the window, for the throughput over time. */
static atomic_uint *per_second;
static size_t n_seconds;
static atomic_uint_fast64_t tweet_seq;

static void add_latency(worker_t *w, double ms) {
  if (w->n_lat == w->cap_lat) {
    w->cap_lat = w->cap_lat ? w->cap_lat * 2 : 4096;
    w->lat_ms = realloc(w->lat_ms, w->cap_lat * sizeof *w->lat_ms);
    if (!w->lat_ms) {
      fprintf(stderr, "bench_tweets: out of memory\n");
      exit(1);
    }
  }
  w->lat_ms[w->n_lat++] = ms;
}

static void add_other(worker_t *w, long status) {
  for (int i = 0; i < w->n_others; i++) {
    if (w->others[i].status == status) {
      w->others[i].count++;
      return;
    }
  }
  if (w->n_others < MAX_OTHER) {
    w->others[w->n_others++] = (other_status_t){status, 1};
  }
}

static void *post_worker(void *arg) {
  worker_t *w = arg;
  CURL *h = new_handle();
  if (opt.no_keepalive) {
    curl_easy_setopt(h, CURLOPT_FORBID_REUSE, 1L);
    curl_easy_setopt(h, CURLOPT_FRESH_CONNECT, 1L);
  }
  char urls[MAX_URLS][600];
  for (int i = 0; i < opt.n_urls; i++) {
    snprintf(urls[i], sizeof urls[i], "%s/api/tweet", opt.urls[i]);
  }
  /* Users: id, id+T, id+2T, ... only, or (shared) all of them, starting
   * at an offset per thread. */
  int step = opt.partition ? opt.threads : 1;
  int user = opt.partition ? w->id
                           : (int)((long)w->id * opt.users / opt.threads);
  int server = w->id % opt.n_urls;
  char body[64];
  for (;;) {
    double t0 = now_s();
    if (t0 >= window_end) {
      break;
    }
    uint64_t n = atomic_fetch_add(&tweet_seq, 1);
    int len = snprintf(body, sizeof body, "{\"text\":\"bench %" PRIu64 "\"}",
                       n);
    curl_easy_setopt(h, CURLOPT_URL, urls[server]);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, users[user].headers);
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, (long)len);
    CURLcode rc = curl_easy_perform(h);
    double t1 = now_s();
    user += step;
    if (user >= opt.users) {
      user = opt.partition ? w->id : 0;
    }
    server = (server + 1) % opt.n_urls;
    if (t1 < window_start || t1 > window_end) {
      continue; /* warm-up, or finished after the window closed */
    }
    if (rc != CURLE_OK) {
      w->transport++;
      w->last_transport = rc;
      continue;
    }
    long status = 0;
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    if (status == 201) {
      size_t sec = (size_t)(t1 - window_start);
      atomic_fetch_add(&per_second[sec < n_seconds ? sec : n_seconds - 1],
                       1);
      w->ok++;
      add_latency(w, (t1 - t0) * 1000.0);
    } else if (status == 409) {
      w->conflict++;
    } else if (status == 503) {
      w->unavailable++;
    } else {
      w->other++;
      add_other(w, status);
    }
  }
  curl_easy_cleanup(h);
  return NULL;
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

/* Nearest-rank percentile of a sorted array. */
static double percentile(const double *v, size_t n, double p) {
  if (n == 0) {
    return 0;
  }
  size_t rank = (size_t)((p / 100.0) * (double)n + 0.999999999);
  if (rank < 1) {
    rank = 1;
  }
  if (rank > n) {
    rank = n;
  }
  return v[rank - 1];
}

/* Sums --cpu entries by name into names/pct; returns how many names. */
static int cpu_by_name(char names[][32], double *pct, double window) {
  int n = 0;
  for (int i = 0; i < opt.n_cpu; i++) {
    int j;
    for (j = 0; j < n; j++) {
      if (!strcmp(names[j], opt.cpu[i].name)) {
        break;
      }
    }
    if (j == n) {
      snprintf(names[n], 32, "%s", opt.cpu[i].name);
      pct[n] = 0;
      n++;
    }
    if (opt.cpu[i].used_s < 0 || pct[j] < 0) {
      pct[j] = -1; /* a process went away: unknown */
    } else {
      pct[j] += 100.0 * opt.cpu[i].used_s / window;
    }
  }
  return n;
}

int main(int argc, char **argv) {
  parse_args(argc, argv);
  if (curl_global_init(CURL_GLOBAL_ALL) != CURLE_OK) {
    fprintf(stderr, "bench_tweets: curl_global_init failed\n");
    return 1;
  }

  /* Usernames unique per run: [A-Za-z0-9_], at most 30 characters. */
  users = calloc((size_t)opt.users, sizeof *users);
  if (!users) {
    return 1;
  }
  unsigned salt = (unsigned)time(NULL) & 0xffffff;
  for (int i = 0; i < opt.users; i++) {
    snprintf(users[i].name, sizeof users[i].name, "bench_%x_%x_%d",
             (unsigned)getpid(), salt, i);
  }

  /* Registration (Argon2id on the server: slow on purpose), in parallel. */
  double r0 = now_s();
  int n_reg = opt.threads < opt.users ? opt.threads : opt.users;
  pthread_t *reg = calloc((size_t)n_reg, sizeof *reg);
  if (!reg) {
    return 1;
  }
  for (int i = 0; i < n_reg; i++) {
    if (pthread_create(&reg[i], NULL, register_worker, NULL)) {
      fprintf(stderr, "bench_tweets: pthread_create failed\n");
      return 1;
    }
  }
  for (int i = 0; i < n_reg; i++) {
    pthread_join(reg[i], NULL);
  }
  free(reg);
  if (atomic_load(&register_failed)) {
    fprintf(stderr, "bench_tweets: registration failed; nothing measured\n");
    return 1;
  }
  fprintf(stderr,
          "bench_tweets: registered %d users in %.1f s; posting for %g s "
          "(+%g s warm-up) with %d threads on %d server%s\n",
          opt.users, now_s() - r0, opt.duration, opt.warmup, opt.threads,
          opt.n_urls, opt.n_urls == 1 ? "" : "s");

  /* The run. */
  worker_t *workers = calloc((size_t)opt.threads, sizeof *workers);
  if (!workers) {
    return 1;
  }
  n_seconds = (size_t)opt.duration;
  if ((double)n_seconds < opt.duration) {
    n_seconds++;
  }
  per_second = calloc(n_seconds, sizeof *per_second);
  if (!per_second) {
    return 1;
  }
  double start = now_s();
  window_start = start + opt.warmup;
  window_end = window_start + opt.duration;
  for (int i = 0; i < opt.threads; i++) {
    workers[i].id = i;
    if (pthread_create(&workers[i].thread, NULL, post_worker, &workers[i])) {
      fprintf(stderr, "bench_tweets: pthread_create failed\n");
      return 1;
    }
  }
  /* CPU samples at the window's edges (this thread only waits). */
  struct timespec nap;
  double wait = window_start - now_s();
  if (wait > 0) {
    nap.tv_sec = (time_t)wait;
    nap.tv_nsec = (long)((wait - (double)nap.tv_sec) * 1e9);
    while (nanosleep(&nap, &nap) && errno == EINTR) {
    }
  }
  double self0 = self_cpu_s(), cpu_t0 = now_s();
  double busy0 = 0, total0 = 0, busy1 = 0, total1 = 0;
  bool have_machine = machine_jiffies(&busy0, &total0);
  for (int i = 0; i < opt.n_cpu; i++) {
    opt.cpu[i].start_s = proc_cpu_s(opt.cpu[i].pid);
  }
  wait = window_end - now_s();
  if (wait > 0) {
    nap.tv_sec = (time_t)wait;
    nap.tv_nsec = (long)((wait - (double)nap.tv_sec) * 1e9);
    while (nanosleep(&nap, &nap) && errno == EINTR) {
    }
  }
  double self1 = self_cpu_s(), cpu_t1 = now_s();
  have_machine = have_machine && machine_jiffies(&busy1, &total1) &&
                 total1 > total0;
  for (int i = 0; i < opt.n_cpu; i++) {
    double end = proc_cpu_s(opt.cpu[i].pid);
    opt.cpu[i].used_s = (end < 0 || opt.cpu[i].start_s < 0)
                            ? -1
                            : end - opt.cpu[i].start_s;
  }
  for (int i = 0; i < opt.threads; i++) {
    pthread_join(workers[i].thread, NULL);
  }

  /* Totals. */
  uint64_t ok = 0, conflict = 0, unavailable = 0, other = 0, transport = 0;
  other_status_t others[MAX_OTHER];
  int n_others = 0;
  CURLcode last_transport = CURLE_OK;
  size_t n_lat = 0;
  for (int i = 0; i < opt.threads; i++) {
    worker_t *w = &workers[i];
    ok += w->ok;
    conflict += w->conflict;
    unavailable += w->unavailable;
    other += w->other;
    transport += w->transport;
    n_lat += w->n_lat;
    if (w->transport) {
      last_transport = w->last_transport;
    }
    for (int j = 0; j < w->n_others; j++) {
      int k;
      for (k = 0; k < n_others; k++) {
        if (others[k].status == w->others[j].status) {
          others[k].count += w->others[j].count;
          break;
        }
      }
      if (k == n_others && n_others < MAX_OTHER) {
        others[n_others++] = w->others[j];
      }
    }
  }
  double *lat = malloc((n_lat ? n_lat : 1) * sizeof *lat);
  if (!lat) {
    return 1;
  }
  if (opt.dump) {
    FILE *f = fopen(opt.dump, "w");
    if (!f) {
      fprintf(stderr, "bench_tweets: cannot write %s: %s\n", opt.dump,
              strerror(errno));
    } else {
      for (int i = 0; i < opt.threads; i++) {
        for (size_t j = 0; j < workers[i].n_lat; j++) {
          fprintf(f, "%.3f\n", workers[i].lat_ms[j]);
        }
      }
      fclose(f);
    }
  }
  size_t at = 0;
  for (int i = 0; i < opt.threads; i++) {
    memcpy(lat + at, workers[i].lat_ms, workers[i].n_lat * sizeof *lat);
    at += workers[i].n_lat;
    free(workers[i].lat_ms);
  }
  qsort(lat, n_lat, sizeof *lat, cmp_double);
  double sum = 0;
  for (size_t i = 0; i < n_lat; i++) {
    sum += lat[i];
  }
  double p50 = percentile(lat, n_lat, 50), p90 = percentile(lat, n_lat, 90),
         p99 = percentile(lat, n_lat, 99), max = n_lat ? lat[n_lat - 1] : 0,
         mean = n_lat ? sum / (double)n_lat : 0;
  uint64_t requests = ok + conflict + unavailable + other + transport;
  double rate = (double)ok / opt.duration;
  double cpu_window = cpu_t1 - cpu_t0 > 0 ? cpu_t1 - cpu_t0 : opt.duration;
  double client_cpu = 100.0 * (self1 - self0) / cpu_window;
  long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
  /* Whole machine, in the same unit (% of one core): cores x busy share. */
  double machine_cpu =
      have_machine ? 100.0 * (double)(ncpu > 0 ? ncpu : 1) *
                         (busy1 - busy0) / (total1 - total0)
                   : -1;
  /* Throughput in the first and the last quarter of the window (whole
   * seconds): on FerretDB every query scans its collection, so the rate
   * falls as the run adds tweets. */
  size_t quarter = n_seconds / 4 ? n_seconds / 4 : 1;
  uint64_t first_q = 0, last_q = 0;
  for (size_t i = 0; i < quarter && i < n_seconds; i++) {
    first_q += atomic_load(&per_second[i]);
  }
  size_t full = (size_t)opt.duration; /* seconds that are whole */
  size_t last_from = full > quarter ? full - quarter : 0;
  for (size_t i = last_from; i < full; i++) {
    last_q += atomic_load(&per_second[i]);
  }
  double rate_first = (double)first_q / (double)quarter;
  double rate_last =
      full > last_from ? (double)last_q / (double)(full - last_from) : 0;
  char cpu_names[MAX_CPU][32];
  double cpu_pct[MAX_CPU];
  int n_cpu_names = cpu_by_name(cpu_names, cpu_pct, cpu_window);

  if (opt.json) {
    printf("{\"servers\":%d,\"threads\":%d,\"users\":%d,"
           "\"shared_users\":%s,\"duration_s\":%.1f,\"warmup_s\":%.1f,"
           "\"requests\":%" PRIu64 ",\"committed\":%" PRIu64
           ",\"tweets_per_s\":%.1f,\"tweets_per_s_first_quarter\":%.1f,"
           "\"tweets_per_s_last_quarter\":%.1f,"
           "\"latency_ms\":{\"p50\":%.2f,\"p90\":%.2f,\"p99\":%.2f,"
           "\"max\":%.2f,\"mean\":%.2f},"
           "\"errors\":{\"conflict_409\":%" PRIu64 ",\"unavailable_503\":%"
           PRIu64 ",\"other_http\":%" PRIu64 ",\"transport\":%" PRIu64 "},"
           "\"other_statuses\":{",
           opt.n_urls, opt.threads, opt.users,
           opt.partition ? "false" : "true", opt.duration, opt.warmup,
           requests, ok, rate, rate_first, rate_last, p50, p90, p99, max, mean, conflict,
           unavailable, other, transport);
    for (int i = 0; i < n_others; i++) {
      printf("%s\"%ld\":%" PRIu64, i ? "," : "", others[i].status,
             others[i].count);
    }
    printf("},\"per_second\":[");
    for (size_t i = 0; i < n_seconds; i++) {
      printf("%s%u", i ? "," : "", atomic_load(&per_second[i]));
    }
    printf("],\"cpu_pct\":{\"client\":%.1f", client_cpu);
    for (int i = 0; i < n_cpu_names; i++) {
      if (cpu_pct[i] < 0) {
        printf(",\"%s\":null", cpu_names[i]);
      } else {
        printf(",\"%s\":%.1f", cpu_names[i], cpu_pct[i]);
      }
    }
    if (machine_cpu >= 0) {
      printf("},\"machine_cpu_pct\":%.1f,\"cores\":%ld}\n", machine_cpu,
             ncpu);
    } else {
      printf("},\"machine_cpu_pct\":null,\"cores\":%ld}\n", ncpu);
    }
  } else {
    printf("Tweet creation through 2PC (POST /api/tweet)\n");
    printf("  servers              %d", opt.n_urls);
    for (int i = 0; i < opt.n_urls; i++) {
      printf("%s%s", i ? ", " : "  (", opt.urls[i]);
    }
    printf(")\n");
    printf("  threads              %d\n", opt.threads);
    printf("  users                %d%s\n", opt.users,
           opt.partition ? " (each thread its own)"
                         : " (shared: threads cycle through all)");
    printf("  duration             %.1f s (after %.1f s warm-up)\n",
           opt.duration, opt.warmup);
    printf("  requests             %" PRIu64 "\n", requests);
    printf("  committed (201)      %" PRIu64 "\n", ok);
    printf("  tweets/s             %.1f  (first quarter %.1f, last %.1f)\n",
           rate, rate_first, rate_last);
    if (n_seconds <= 60) {
      printf("  commits each second ");
      for (size_t i = 0; i < n_seconds; i++) {
        printf(" %u", atomic_load(&per_second[i]));
      }
      printf("\n");
    }
    printf("  latency of 201s, ms  p50 %.1f  p90 %.1f  p99 %.1f  max %.1f"
           "  (mean %.1f)\n", p50, p90, p99, max, mean);
    printf("  409 conflict         %" PRIu64 "\n", conflict);
    printf("  503 unavailable      %" PRIu64 "\n", unavailable);
    printf("  other HTTP status    %" PRIu64, other);
    for (int i = 0; i < n_others; i++) {
      printf("%s%ld x%" PRIu64, i ? ", " : "  (", others[i].status,
             others[i].count);
    }
    printf("%s\n", n_others ? ")" : "");
    printf("  transport errors     %" PRIu64, transport);
    if (transport) {
      printf("  (last: %s)", curl_easy_strerror(last_transport));
    }
    printf("\n");
    printf("  CPU %% of one core    client %.0f", client_cpu);
    for (int i = 0; i < n_cpu_names; i++) {
      if (cpu_pct[i] < 0) {
        printf(", %s ?", cpu_names[i]);
      } else {
        printf(", %s %.0f", cpu_names[i], cpu_pct[i]);
      }
    }
    if (machine_cpu >= 0) {
      printf("; whole machine %.0f of %ld00", machine_cpu, ncpu);
    }
    printf("\n");
  }

  free(lat);
  free(workers);
  free(per_second);
  for (int i = 0; i < opt.users; i++) {
    curl_slist_free_all(users[i].headers);
  }
  free(users);
  for (int i = 0; i < opt.n_urls; i++) {
    free((char *)opt.urls[i]);
  }
  curl_global_cleanup();
  return 0;
}
