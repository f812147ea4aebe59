/*
 * bench_common.c - see bench_common.h.
 */
#include "bench/bench_common.h"

#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

/* ------------------------------------------------------------ messages */

static const char *g_name = "bench";

void bench_set_name(const char *name) { g_name = name; }

const char *bench_name(void) { return g_name; }

/* "NAME: <message><tail>" on stderr, then exit(code). */
__attribute__((format(printf, 3, 0), noreturn)) static void
vdie(int code, const char *tail, const char *fmt, va_list ap) {
  fprintf(stderr, "%s: ", g_name);
  vfprintf(stderr, fmt, ap);
  fprintf(stderr, "%s\n", tail);
  exit(code);
}

void bench_die_usage(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vdie(2, " (see --help)", fmt, ap);
}

void bench_die(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vdie(1, "", fmt, ap);
}

void *bench_alloc(size_t size) {
  void *p = malloc(size ? size : 1);
  if (!p) {
    fprintf(stderr, "%s: out of memory\n", g_name);
    exit(1);
  }
  return p;
}

FILE *bench_open_output(const char *path) {
  FILE *f = fopen(path, "w");
  if (!f) {
    fprintf(stderr, "%s: cannot write %s: %s\n", g_name, path, strerror(errno));
  }
  return f;
}

/* ------------------------------------------------------------ options */

bool bench_parse_long(const char *s, long lo, long hi, long *out) {
  char *end;
  errno = 0;
  long v = strtol(s, &end, 10);
  if (errno || end == s || *end || v < lo || v > hi) {
    return false;
  }
  *out = v;
  return true;
}

bool bench_parse_double(const char *s, double lo, double hi, double *out) {
  char *end;
  errno = 0;
  double v = strtod(s, &end);
  if (errno || end == s || *end || v < lo || v > hi) {
    return false;
  }
  *out = v;
  return true;
}

long bench_arg_long(const char *flag, const char *s, long lo, long hi) {
  long v;
  if (!bench_parse_long(s, lo, hi, &v)) {
    bench_die_usage("%s must be from %ld to %ld, not '%s'", flag, lo, hi, s);
  }
  return v;
}

double bench_arg_double(const char *flag, const char *s, double lo, double hi) {
  double v;
  if (!bench_parse_double(s, lo, hi, &v)) {
    bench_die_usage("%s must be from %g to %g, not '%s'", flag, lo, hi, s);
  }
  return v;
}

const char *bench_arg_url(const char *flag, const char *s) {
  if (strncmp(s, "http://", 7) && strncmp(s, "https://", 8)) {
    bench_die_usage("%s must start with http:// or https://, not '%s'", flag,
                    s);
  }
  char *u = strdup(s);
  if (!u) {
    bench_die("out of memory");
  }
  size_t n = strlen(u);
  if (u[n - 1] == '/') {
    u[n - 1] = '\0'; /* "http://h:p/" works too */
  }
  return u;
}

void bench_die_bad_option(char **argv) {
  bench_die_usage("unknown option or missing value: %s",
                  argv[optind - 1 > 0 ? optind - 1 : 0]);
}

void bench_no_more_args(int argc, char **argv) {
  if (optind < argc) {
    bench_die_usage("unexpected argument: %s", argv[optind]);
  }
}

void bench_parse_args(int argc, char **argv, const bench_opt_t *opts, size_t n,
                      void (*usage)(FILE *out)) {
  /* getopt_long's table: opts[i] answers i + 1, --help n + 1. */
  struct option *longopts = bench_alloc((n + 2) * sizeof *longopts);
  for (size_t i = 0; i < n; i++) {
    bool flag = opts[i].kind == BENCH_OPT_FLAG;
    longopts[i] = (struct option){
        opts[i].name, flag ? no_argument : required_argument, NULL, (int)i + 1};
  }
  longopts[n] = (struct option){"help", no_argument, NULL, (int)n + 1};
  longopts[n + 1] = (struct option){NULL, 0, NULL, 0};
  opterr = 0; /* bench_die_bad_option says what was wrong */
  int c;
  while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
    if (c == (int)n + 1) {
      usage(stdout);
      exit(0);
    }
    if (c < 1 || c > (int)n) {
      bench_die_bad_option(argv);
    }
    const bench_opt_t *o = &opts[c - 1];
    char flag[64];
    snprintf(flag, sizeof flag, "--%s", o->name);
    switch (o->kind) {
    case BENCH_OPT_INT:
      *(int *)o->target = (int)bench_arg_long(flag, optarg, o->lo, o->hi);
      break;
    case BENCH_OPT_LONG:
      *(long *)o->target = bench_arg_long(flag, optarg, o->lo, o->hi);
      break;
    case BENCH_OPT_DOUBLE:
      *(double *)o->target = bench_arg_double(flag, optarg, o->min, o->max);
      break;
    case BENCH_OPT_URL:
      *(const char **)o->target = bench_arg_url(flag, optarg);
      break;
    case BENCH_OPT_STRING:
      *(const char **)o->target = optarg;
      break;
    case BENCH_OPT_FLAG:
      *(bool *)o->target = true;
      break;
    case BENCH_OPT_CALL:
      o->call(optarg);
      break;
    }
  }
  free(longopts);
  bench_no_more_args(argc, argv);
}

bool bench_parse_name_pid(const char *arg, char *name, size_t name_size,
                          long *pid) {
  const char *colon = strrchr(arg, ':');
  long v;
  if (!colon || colon == arg || (size_t)(colon - arg) >= name_size ||
      !bench_parse_long(colon + 1, 1, 1L << 30, &v)) {
    return false;
  }
  memcpy(name, arg, (size_t)(colon - arg));
  name[colon - arg] = '\0';
  *pid = v;
  return true;
}

/* ------------------------------------------------------------ clocks, CPU */

double bench_now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void bench_sleep_s(double s) {
  if (s <= 0) {
    return;
  }
  struct timespec nap;
  nap.tv_sec = (time_t)s;
  nap.tv_nsec = (long)((s - (double)nap.tv_sec) * 1e9);
  while (nanosleep(&nap, &nap) && errno == EINTR) {
  }
}

/* CPU seconds (utime + stime) in a /proc stat file; -1 if unreadable. */
static double stat_cpu_s(const char *path) {
  char buf[1024];
  FILE *f = fopen(path, "r");
  if (!f) {
    return -1;
  }
  size_t n = fread(buf, 1, sizeof buf - 1, f);
  fclose(f);
  buf[n] = '\0';
  /* The command name (field 2) may contain spaces: start after its ')'.
   * After it: state(3) ppid pgrp session tty_nr tpgid flags minflt cminflt
   * majflt cmajflt utime(14) stime(15). */
  const char *p = strrchr(buf, ')');
  unsigned long long utime = 0, stime = 0;
  if (!p ||
      sscanf(p + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu",
             &utime, &stime) != 2) {
    return -1;
  }
  long hz = sysconf(_SC_CLK_TCK);
  return (double)(utime + stime) / (double)(hz > 0 ? hz : 100);
}

double bench_proc_cpu_s(long pid) {
  char path[64];
  snprintf(path, sizeof path, "/proc/%ld/stat", pid);
  return stat_cpu_s(path);
}

double bench_thread_cpu_s(long pid, long tid) {
  char path[96];
  snprintf(path, sizeof path, "/proc/%ld/task/%ld/stat", pid, tid);
  return stat_cpu_s(path);
}

/* Busy and total jiffies of the whole machine; false if unreadable. */
static bool machine_jiffies(double *busy, double *total, double *steal) {
  FILE *f = fopen("/proc/stat", "r");
  if (!f) {
    return false;
  }
  unsigned long long v[8] = {0};
  int n = fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1],
                 &v[2], &v[3], &v[4], &v[5], &v[6], &v[7]);
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
  *steal = (double)v[7]; /* a VM's time its host gave to others */
  return true;
}

void bench_cpu_mark(bench_cpu_mark_t *m) {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  m->self_s = (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
              (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
  m->busy = m->total = m->steal = 0;
  m->machine = machine_jiffies(&m->busy, &m->total, &m->steal);
  m->at_s = bench_now_s();
}

double bench_self_cpu_pct(const bench_cpu_mark_t *a, const bench_cpu_mark_t *b,
                          double window_s) {
  return 100.0 * (b->self_s - a->self_s) / window_s;
}

double bench_machine_cpu_pct(const bench_cpu_mark_t *a,
                             const bench_cpu_mark_t *b) {
  if (!a->machine || !b->machine || b->total <= a->total) {
    return -1;
  }
  return 100.0 * (double)bench_cores() * (b->busy - a->busy) /
         (b->total - a->total);
}

double bench_steal_pct(const bench_cpu_mark_t *a, const bench_cpu_mark_t *b) {
  if (!a->machine || !b->machine || b->total <= a->total) {
    return -1;
  }
  return 100.0 * (double)bench_cores() * (b->steal - a->steal) /
         (b->total - a->total);
}

void bench_cpu_watch_add(bench_cpu_watches_t *ws, const char *value) {
  if (ws->n == BENCH_CPU_MAX) {
    bench_die_usage("at most %d --cpu", BENCH_CPU_MAX);
  }
  bench_cpu_watch_t *w = &ws->w[ws->n];
  if (!bench_parse_name_pid(value, w->name, sizeof w->name, &w->pid)) {
    bench_die_usage("--cpu wants NAME:PID, not '%s'", value);
  }
  ws->n++;
}

void bench_cpu_watch_start(bench_cpu_watches_t *ws) {
  for (int i = 0; i < ws->n; i++) {
    ws->w[i].start_s = bench_proc_cpu_s(ws->w[i].pid);
  }
}

void bench_cpu_watch_stop(bench_cpu_watches_t *ws) {
  for (int i = 0; i < ws->n; i++) {
    double end = bench_proc_cpu_s(ws->w[i].pid);
    ws->w[i].used_s =
        end >= 0 && ws->w[i].start_s >= 0 ? end - ws->w[i].start_s : -1;
  }
}

void bench_cpu_watch_json(const bench_cpu_watches_t *ws, double window_s) {
  for (int i = 0; i < ws->n; i++) {
    bool first = true;
    for (int j = 0; j < i; j++) {
      first = first && strcmp(ws->w[j].name, ws->w[i].name) != 0;
    }
    if (!first) {
      continue;
    }
    double sum = 0;
    for (int j = i; j < ws->n; j++) {
      if (!strcmp(ws->w[j].name, ws->w[i].name) && ws->w[j].used_s >= 0) {
        sum += ws->w[j].used_s;
      }
    }
    printf("\"%s\":%.1f,", ws->w[i].name, 100.0 * sum / window_s);
  }
}

long bench_cores(void) {
  long n = sysconf(_SC_NPROCESSORS_ONLN);
  return n > 0 ? n : 1;
}

/* ------------------------------------------------------------ statistics */

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

/* Nearest-rank percentile p of sorted v[0..n), n > 0. */
static double percentile(const double *v, size_t n, double p) {
  size_t rank = (size_t)((p / 100.0) * (double)n + 0.999999999);
  if (rank < 1) {
    rank = 1;
  }
  if (rank > n) {
    rank = n;
  }
  return v[rank - 1];
}

bench_dist_t bench_dist_of(double *v, size_t n) {
  bench_dist_t d = {0};
  d.n = n;
  if (!n) {
    return d;
  }
  qsort(v, n, sizeof *v, cmp_double);
  double sum = 0;
  for (size_t i = 0; i < n; i++) {
    sum += v[i];
  }
  d.p50 = percentile(v, n, 50);
  d.p90 = percentile(v, n, 90);
  d.p99 = percentile(v, n, 99);
  d.max = v[n - 1];
  d.min = v[0];
  d.mean = sum / (double)n;
  return d;
}

/* ------------------------------------------------------------ HTTP */

/* curl's body callback: keeps what fits of the body in the reply. */
static size_t on_body(char *ptr, size_t size, size_t n, void *userdata) {
  bench_reply_t *r = userdata;
  size_t add = size * n, room = sizeof r->body - 1 - r->len;
  size_t take = add < room ? add : room;
  memcpy(r->body + r->len, ptr, take);
  r->len += take;
  r->body[r->len] = '\0';
  return add;
}

/* curl's header callback: keeps the chorus_session value of a Set-Cookie. */
static size_t on_header(char *ptr, size_t size, size_t n, void *userdata) {
  bench_reply_t *r = userdata;
  size_t len = size * n;
  static const char name[] = "set-cookie:";
  static const char key[] = "chorus_session=";
  if (len > sizeof name && !strncasecmp(ptr, name, sizeof name - 1)) {
    const char *p = ptr + sizeof name - 1, *end = ptr + len;
    while (p < end && *p == ' ') {
      p++;
    }
    if ((size_t)(end - p) > sizeof key - 1 &&
        !strncmp(p, key, sizeof key - 1)) {
      p += sizeof key - 1;
      size_t v = 0;
      while (p + v < end && p[v] != ';' && p[v] != '\r' && p[v] != '\n') {
        v++;
      }
      if (v > 0 && v < sizeof r->cookie) {
        memcpy(r->cookie, p, v);
        r->cookie[v] = '\0';
      }
    }
  }
  return len;
}

CURL *bench_curl_new(long timeout_ms) {
  CURL *h = curl_easy_init();
  if (!h) {
    fprintf(stderr, "%s: curl_easy_init failed\n", g_name);
    exit(1);
  }
  curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(h, CURLOPT_TCP_NODELAY, 1L);
  curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, timeout_ms);
  curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, 5000L);
  return h;
}

bool bench_http_typed(CURL *h, const char *method, const char *url,
                      const char *cookie, const char *content_type,
                      const void *body, size_t len, bench_reply_t *r) {
  memset(r, 0, sizeof *r);
  struct curl_slist *hdrs = NULL;
  char line[600];
  if (body) {
    snprintf(line, sizeof line, "Content-Type: %s", content_type);
    hdrs = curl_slist_append(hdrs, line);
    hdrs = curl_slist_append(hdrs, "Expect:"); /* no 100-continue round trip */
  }
  if (cookie) {
    snprintf(line, sizeof line, "Cookie: chorus_session=%s", cookie);
    hdrs = curl_slist_append(hdrs, line);
  }
  curl_easy_setopt(h, CURLOPT_URL, url);
  curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
  curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
  curl_easy_setopt(h, CURLOPT_WRITEDATA, r);
  curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
  curl_easy_setopt(h, CURLOPT_HEADERDATA, r);
  if (!strcmp(method, "GET")) {
    curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, NULL);
    curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
  } else {
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, body ? (const char *)body : "");
    curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE,
                     (curl_off_t)(body ? len : 0));
    curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST,
                     strcmp(method, "POST") ? method : NULL);
  }
  CURLcode rc = curl_easy_perform(h);
  curl_easy_setopt(h, CURLOPT_HTTPHEADER, NULL);
  curl_easy_setopt(h, CURLOPT_WRITEDATA, NULL);
  curl_easy_setopt(h, CURLOPT_HEADERDATA, NULL);
  curl_slist_free_all(hdrs);
  if (rc != CURLE_OK) {
    fprintf(stderr, "%s: %s %s: %s\n", g_name, method, url,
            curl_easy_strerror(rc));
    return false;
  }
  curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &r->status);
  return true;
}

bool bench_http(CURL *h, const char *method, const char *url,
                const char *cookie, const char *body, bench_reply_t *r) {
  return bench_http_typed(h, method, url, cookie, "application/json", body,
                          body ? strlen(body) : 0, r);
}

/* A whole answer's body, for bench_metric. */
typedef struct grown {
  char *data;
  size_t len, cap;
} grown_t;

static size_t on_whole_body(char *ptr, size_t size, size_t nmemb, void *ud) {
  grown_t *g = ud;
  size_t n = size * nmemb;
  if (g->len + n + 1 > g->cap) {
    size_t cap = g->cap ? g->cap : 16384;
    while (cap < g->len + n + 1) {
      cap *= 2;
    }
    char *data = realloc(g->data, cap);
    if (!data) {
      return 0; /* curl stops with an error */
    }
    g->data = data;
    g->cap = cap;
  }
  memcpy(g->data + g->len, ptr, n);
  g->len += n;
  g->data[g->len] = '\0';
  return n;
}

double bench_metric(const char *base, const char *sample) {
  char url[600];
  snprintf(url, sizeof url, "%s/metrics", base);
  CURL *h = bench_curl_new(5000);
  grown_t g = {0};
  curl_easy_setopt(h, CURLOPT_URL, url);
  curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_whole_body);
  curl_easy_setopt(h, CURLOPT_WRITEDATA, &g);
  CURLcode rc = curl_easy_perform(h);
  long status = 0;
  curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
  curl_easy_cleanup(h);
  double v = -1;
  size_t n = strlen(sample);
  bool found = false;
  for (const char *line = g.data;
       rc == CURLE_OK && status == 200 && line && *line && !found;) {
    if (!strncmp(line, sample, n) && line[n] == ' ') {
      v = strtod(line + n + 1, NULL);
      found = true;
    }
    line = strchr(line, '\n');
    line = line ? line + 1 : NULL;
  }
  if (!found) {
    fprintf(stderr, "%s: %s: no %s (%s, HTTP %ld)\n", g_name, url, sample,
            rc == CURLE_OK ? "read" : curl_easy_strerror(rc), status);
  }
  free(g.data);
  return v;
}

/* What the registering threads share. */
typedef struct registration {
  bench_user_t *users;
  int n;
  const char *const *urls;
  int n_urls;
  atomic_int next;
  atomic_bool failed;
} registration_t;

/* One registering thread: takes the next user until none is left or one
 * registration failed. */
static void *register_main(void *arg) {
  registration_t *reg = arg;
  CURL *h = bench_curl_new(60000);
  bench_reply_t *r = bench_alloc(sizeof *r);
  for (;;) {
    int i = atomic_fetch_add(&reg->next, 1);
    if (i >= reg->n || atomic_load(&reg->failed)) {
      break;
    }
    bench_user_t *u = &reg->users[i];
    char url[600], body[200];
    snprintf(url, sizeof url, "%s/api/register", reg->urls[i % reg->n_urls]);
    snprintf(body, sizeof body, "{\"username\":\"%s\",\"password\":\"%s\"}",
             u->name, BENCH_PASSWORD);
    if (!bench_http(h, "POST", url, NULL, body, r) || r->status != 201 ||
        !r->cookie[0]) {
      fprintf(stderr, "%s: POST %s as %s: HTTP %ld%s: %.300s\n", g_name, url,
              u->name, r->status,
              r->cookie[0] ? "" : " (no chorus_session cookie)", r->body);
      atomic_store(&reg->failed, true);
      break;
    }
    memcpy(u->cookie, r->cookie, sizeof u->cookie);
  }
  free(r);
  curl_easy_cleanup(h);
  return NULL;
}

bool bench_register_users(bench_user_t *users, int n, const char *const *urls,
                          int n_urls, int threads) {
  registration_t reg = {.users = users, .n = n, .urls = urls, .n_urls = n_urls};
  atomic_init(&reg.next, 0);
  atomic_init(&reg.failed, false);
  int n_threads = threads < n ? threads : n;
  pthread_t *tids = bench_alloc((size_t)n_threads * sizeof *tids);
  int started = 0;
  for (; started < n_threads; started++) {
    if (pthread_create(&tids[started], NULL, register_main, &reg)) {
      fprintf(stderr, "%s: pthread_create failed\n", g_name);
      atomic_store(&reg.failed, true);
      break;
    }
  }
  for (int i = 0; i < started; i++) {
    pthread_join(tids[i], NULL);
  }
  free(tids);
  return !atomic_load(&reg.failed);
}
