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
 * machine's (all processes, from /proc/stat) in the same unit, and of
 * it the time a VM's host gave to other guests (steal).  The time
 * the servers' write gates were held in the window (their /metrics, one
 * write command at a time on FerretDB: docs/DATABASE.md) is printed
 * per committed tweet: what a creation costs the database's one writer,
 * a figure that moves less with the machine's load than tweets/s.
 *
 * A benchmark prints figures; it exits non-zero only when it cannot run
 * (bad arguments, registration failed), never because of a figure.
 */
#include <curl/curl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bench/bench_common.h"

#define MAX_URLS 16
#define MAX_CPU 16
#define MAX_OTHER 8

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
} opt = {.users = 16,
         .threads = 8,
         .duration = 20,
         .warmup = 2,
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
          "  --dump FILE       write every committed request, one a line, in\n"
          "                    completion order per thread: its completion\n"
          "                    (Unix time, s) and its latency (ms)\n"
          "  --help\n");
}

/* --url: one more server (at most MAX_URLS). */
static void add_url(const char *value) {
  if (opt.n_urls == MAX_URLS) {
    bench_die_usage("at most %d --url", MAX_URLS);
  }
  opt.urls[opt.n_urls++] = bench_arg_url("--url", value);
}

/* --cpu NAME:PID: one more process to watch (at most MAX_CPU). */
static void add_cpu(const char *value) {
  cpu_watch_t *w = &opt.cpu[opt.n_cpu];
  if (opt.n_cpu == MAX_CPU ||
      !bench_parse_name_pid(value, w->name, sizeof w->name, &w->pid)) {
    bench_die_usage("--cpu takes NAME:PID (at most 16), not '%s'", value);
  }
  opt.n_cpu++;
}

static void parse_args(int argc, char **argv) {
  const bench_opt_t opts[] = {
      BENCH_CALL("url", add_url),
      BENCH_INT("users", &opt.users, 1, 1000000),
      BENCH_INT("threads", &opt.threads, 1, 1024),
      BENCH_DOUBLE("duration", &opt.duration, 0.1, 86400),
      BENCH_DOUBLE("warmup", &opt.warmup, 0, 86400),
      BENCH_FLAG("shared-users", &opt.shared_requested),
      BENCH_FLAG("json", &opt.json),
      BENCH_CALL("cpu", add_cpu),
      BENCH_LONG("timeout-ms", &opt.timeout_ms, 100, 3600000),
      BENCH_STRING("dump", &opt.dump),
      BENCH_FLAG("no-keepalive", &opt.no_keepalive),
  };
  bench_parse_args(argc, argv, opts, sizeof opts / sizeof opts[0], usage);
  if (opt.n_urls == 0) {
    bench_die_usage("at least one --url is needed");
  }
  opt.partition = !opt.shared_requested && opt.users >= opt.threads;
  if (!opt.shared_requested && !opt.partition) {
    fprintf(stderr, "bench_tweets: fewer users than threads: threads share "
                    "users (as with --shared-users)\n");
  }
}

/* ------------------------------------------------------------ HTTP */

static size_t discard(char *ptr, size_t size, size_t n, void *userdata) {
  (void)ptr;
  (void)userdata;
  return size * n;
}

/* ------------------------------------------------------------ users */

/* The users, and for each the headers of its posts: Content-Type, its
 * session cookie, Expect: (read-only once built). */
static bench_user_t *users;
static struct curl_slist **user_headers;

static struct curl_slist *post_headers(const char *cookie) {
  struct curl_slist *l =
      curl_slist_append(NULL, "Content-Type: application/json");
  l = curl_slist_append(l, "Expect:"); /* no 100-continue round trip */
  char line[600];
  snprintf(line, sizeof line, "Cookie: chorus_session=%s", cookie);
  return curl_slist_append(l, line);
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
  double *lat_ms;     /* of the 201s */
  double *end_unix_s; /* each 201's completion, wall clock (for --dump) */
  size_t n_lat, cap_lat;
} worker_t;

static double window_start, window_end;
/* Commits per second of the window, for the throughput over time. */
static atomic_uint *per_second;
static size_t n_seconds;
static atomic_uint_fast64_t tweet_seq;

/* The wall clock, in seconds: what server logs can be compared with. */
static double unix_now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void add_latency(worker_t *w, double ms) {
  if (w->n_lat == w->cap_lat) {
    w->cap_lat = w->cap_lat ? w->cap_lat * 2 : 4096;
    w->lat_ms = realloc(w->lat_ms, w->cap_lat * sizeof *w->lat_ms);
    w->end_unix_s = realloc(w->end_unix_s, w->cap_lat * sizeof *w->end_unix_s);
    if (!w->lat_ms || !w->end_unix_s) {
      fprintf(stderr, "bench_tweets: out of memory\n");
      exit(1);
    }
  }
  w->end_unix_s[w->n_lat] = unix_now_s();
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
  CURL *h = bench_curl_new(opt.timeout_ms);
  curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, discard);
  curl_easy_setopt(h, CURLOPT_POST, 1L);
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
  int user =
      opt.partition ? w->id : (int)((long)w->id * opt.users / opt.threads);
  int server = w->id % opt.n_urls;
  char body[64];
  for (;;) {
    double t0 = bench_now_s();
    if (t0 >= window_end) {
      break;
    }
    uint64_t n = atomic_fetch_add(&tweet_seq, 1);
    int len =
        snprintf(body, sizeof body, "{\"text\":\"bench %" PRIu64 "\"}", n);
    curl_easy_setopt(h, CURLOPT_URL, urls[server]);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, user_headers[user]);
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, (long)len);
    CURLcode rc = curl_easy_perform(h);
    double t1 = bench_now_s();
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
      atomic_fetch_add(&per_second[sec < n_seconds ? sec : n_seconds - 1], 1);
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

/* The time the servers' write gates were held so far, summed (their
 * metric chorus_db_write_gate_held_seconds_total); -1 when one cannot
 * be read. */
static double gate_held_s(void) {
  double sum = 0;
  for (int i = 0; i < opt.n_urls; i++) {
    double v =
        bench_metric(opt.urls[i], "chorus_db_write_gate_held_seconds_total");
    if (v < 0) {
      return -1;
    }
    sum += v;
  }
  return sum;
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
  bench_set_name("bench_tweets");
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
  double r0 = bench_now_s();
  if (!bench_register_users(users, opt.users, opt.urls, opt.n_urls,
                            opt.threads)) {
    fprintf(stderr, "bench_tweets: registration failed; nothing measured\n");
    return 1;
  }
  user_headers = calloc((size_t)opt.users, sizeof *user_headers);
  if (!user_headers) {
    return 1;
  }
  for (int i = 0; i < opt.users; i++) {
    user_headers[i] = post_headers(users[i].cookie);
  }
  fprintf(stderr,
          "bench_tweets: registered %d users in %.1f s; posting for %g s "
          "(+%g s warm-up) with %d threads on %d server%s\n",
          opt.users, bench_now_s() - r0, opt.duration, opt.warmup, opt.threads,
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
  double start = bench_now_s();
  window_start = start + opt.warmup;
  window_end = window_start + opt.duration;
  for (int i = 0; i < opt.threads; i++) {
    workers[i].id = i;
    if (pthread_create(&workers[i].thread, NULL, post_worker, &workers[i])) {
      fprintf(stderr, "bench_tweets: pthread_create failed\n");
      return 1;
    }
  }
  /* CPU samples at the window's edges (this thread only waits), and the
   * servers' write gates. */
  bench_cpu_mark_t cpu0, cpu1;
  bench_sleep_s(window_start - bench_now_s());
  bench_cpu_mark(&cpu0);
  for (int i = 0; i < opt.n_cpu; i++) {
    opt.cpu[i].start_s = bench_proc_cpu_s(opt.cpu[i].pid);
  }
  double held0 = gate_held_s();
  bench_sleep_s(window_end - bench_now_s());
  bench_cpu_mark(&cpu1);
  double held1 = gate_held_s();
  double held = held0 < 0 || held1 < 0 ? -1 : held1 - held0;
  for (int i = 0; i < opt.n_cpu; i++) {
    double end = bench_proc_cpu_s(opt.cpu[i].pid);
    opt.cpu[i].used_s =
        (end < 0 || opt.cpu[i].start_s < 0) ? -1 : end - opt.cpu[i].start_s;
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
  FILE *dump = opt.dump ? bench_open_output(opt.dump) : NULL;
  if (dump) {
    for (int i = 0; i < opt.threads; i++) {
      for (size_t j = 0; j < workers[i].n_lat; j++) {
        fprintf(dump, "%.3f %.3f\n", workers[i].end_unix_s[j],
                workers[i].lat_ms[j]);
      }
    }
    fclose(dump);
  }
  size_t at = 0;
  for (int i = 0; i < opt.threads; i++) {
    memcpy(lat + at, workers[i].lat_ms, workers[i].n_lat * sizeof *lat);
    at += workers[i].n_lat;
    free(workers[i].lat_ms);
    free(workers[i].end_unix_s);
  }
  bench_dist_t lat_d = bench_dist_of(lat, n_lat);
  double p50 = lat_d.p50, p90 = lat_d.p90, p99 = lat_d.p99, max = lat_d.max,
         mean = lat_d.mean;
  uint64_t requests = ok + conflict + unavailable + other + transport;
  double rate = (double)ok / opt.duration;
  double cpu_window =
      cpu1.at_s - cpu0.at_s > 0 ? cpu1.at_s - cpu0.at_s : opt.duration;
  double client_cpu = bench_self_cpu_pct(&cpu0, &cpu1, cpu_window);
  long ncpu = bench_cores();
  /* Whole machine, in the same unit (% of one core): cores x busy share. */
  double machine_cpu = bench_machine_cpu_pct(&cpu0, &cpu1);
  double steal = bench_steal_pct(&cpu0, &cpu1);
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
           "\"errors\":{\"conflict_409\":%" PRIu64
           ",\"unavailable_503\":%" PRIu64 ",\"other_http\":%" PRIu64
           ",\"transport\":%" PRIu64 "},"
           "\"other_statuses\":{",
           opt.n_urls, opt.threads, opt.users, opt.partition ? "false" : "true",
           opt.duration, opt.warmup, requests, ok, rate, rate_first, rate_last,
           p50, p90, p99, max, mean, conflict, unavailable, other, transport);
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
      printf("},\"machine_cpu_pct\":%.1f,\"steal_pct\":%.1f,", machine_cpu,
             steal);
    } else {
      printf("},\"machine_cpu_pct\":null,\"steal_pct\":null,");
    }
    if (held >= 0 && ok > 0) {
      printf("\"gate_held_s\":%.3f,\"gate_ms_per_tweet\":%.3f,", held,
             1000.0 * held / (double)ok);
    } else {
      printf("\"gate_held_s\":null,\"gate_ms_per_tweet\":null,");
    }
    printf("\"cores\":%ld}\n", ncpu);
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
           "  (mean %.1f)\n",
           p50, p90, p99, max, mean);
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
      printf("; whole machine %.0f of %ld00 (stolen by the VM's host %.0f)",
             machine_cpu, ncpu, steal);
    }
    printf("\n");
    if (held >= 0 && ok > 0) {
      printf("  write gate held      %.2f s = %.2f ms per tweet (%.0f %% of "
             "the window, per server)\n",
             held, 1000.0 * held / (double)ok,
             100.0 * held / (opt.duration * opt.n_urls));
    }
  }

  free(lat);
  free(workers);
  free(per_second);
  for (int i = 0; i < opt.users; i++) {
    curl_slist_free_all(user_headers[i]);
  }
  free(user_headers);
  free(users);
  for (int i = 0; i < opt.n_urls; i++) {
    free((char *)opt.urls[i]);
  }
  curl_global_cleanup();
  return 0;
}
