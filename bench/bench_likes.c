/*
 * bench_likes.c - many users changing one document at once: likes of one
 * tweet, against the two-phase commit's shared (escrow) lock mode.
 *
 *   bench_likes --url http://127.0.0.1:P --url http://127.0.0.1:Q
 *               --sessions FILE [--rate 40] [--duration 15] [--burst 500]
 *               [--creator-pause-ms 100] [--timeout-ms 60000] [--json]
 *               [--cpu NAME:PID ...]
 *
 * FILE holds one "USERNAME TOKEN" line per account (load_dataset
 * --sessions): line 1 is the author of the liked tweets, line 2 "another
 * user", who creates tweets meanwhile, the rest are the likers (one like
 * each per phase, so none is ever refused as "already liked").
 *
 * (a) Paced: the author posts tweet T; likes of T by distinct users are
 *     sent at --rate per second for --duration seconds, alternating over
 *     the --url servers, each at its own moment on an even schedule
 *     whatever the answers (an open loop: curl's multi interface, one
 *     connection per request in flight).  Latency runs from the moment a
 *     like was due, so a client at that rate sees it; sends later than
 *     1 ms after their moment are counted.  Meanwhile the other user
 *     creates tweets one after another (--creator-pause-ms between them),
 *     timed from send to answer.  Then T's like_count is read on every
 *     server: it must equal the likes answered 200.
 * (b) Burst: the author posts tweet U; --burst likes of U by distinct
 *     users are sent at the same moment, over the servers; each is timed
 *     from that moment; then U's like_count is read on every server.
 *
 * Prints, per phase: the answers by kind (200, 409, 503, other HTTP,
 * transport), the like counts read and whether they are exact,
 * p50/p90/p99/max latency of the 200s, and (a) the creations: 201s,
 * failures, rate and p50/p90/p99/max.  --cpu NAME:PID adds the CPU of
 * those processes during phase (a) and of the whole machine (percent of
 * one core).  --json prints one JSON line instead.
 *
 * A benchmark prints figures; it exits non-zero only when it cannot run
 * (bad arguments, too few sessions, a tweet it could not post).
 */
#include <curl/curl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench/bench_common.h"

#define MAX_URLS 8

static struct {
  const char *urls[MAX_URLS];
  int n_urls;
  const char *sessions;
  double rate;
  double duration;
  int burst;
  long creator_pause_ms;
  long timeout_ms;
  bool json;
  bench_cpu_watches_t cpu;
} opt = {.rate = 40,
         .duration = 15,
         .burst = 500,
         .creator_pause_ms = 100,
         .timeout_ms = 60000};

static void usage(FILE *out) {
  fprintf(out,
          "Usage: bench_likes --url URL [--url URL ...] --sessions FILE\n"
          "                   [--rate 40] [--duration 15] [--burst 500]\n"
          "                   [--creator-pause-ms 100] [--timeout-ms 60000]\n"
          "                   [--json] [--cpu NAME:PID ...]\n"
          "Likes of one tweet paced at --rate per second for --duration\n"
          "seconds while another user creates tweets, then --burst likes\n"
          "of one tweet at once; every like by a distinct user of FILE\n"
          "(\"USERNAME TOKEN\" lines: the author, the other user, likers).\n");
}

static void add_url(const char *value) {
  if (opt.n_urls == MAX_URLS) {
    bench_die_usage("at most %d --url", MAX_URLS);
  }
  opt.urls[opt.n_urls++] = bench_arg_url("--url", value);
}

static void add_cpu(const char *value) { bench_cpu_watch_add(&opt.cpu, value); }

static void parse_args(int argc, char **argv) {
  const bench_opt_t opts[] = {
      BENCH_CALL("url", add_url),
      BENCH_STRING("sessions", &opt.sessions),
      BENCH_DOUBLE("rate", &opt.rate, 0.1, 10000),
      BENCH_DOUBLE("duration", &opt.duration, 0.1, 3600),
      BENCH_INT("burst", &opt.burst, 0, 100000),
      BENCH_LONG("creator-pause-ms", &opt.creator_pause_ms, 0, 60000),
      BENCH_LONG("timeout-ms", &opt.timeout_ms, 100, 3600000),
      BENCH_FLAG("json", &opt.json),
      BENCH_CALL("cpu", add_cpu),
  };
  bench_parse_args(argc, argv, opts, sizeof opts / sizeof opts[0], usage);
  if (opt.n_urls == 0 || !opt.sessions) {
    bench_die_usage("--url and --sessions are needed");
  }
}

/* ------------------------------------------------------------ sessions */

typedef struct account {
  char name[32];
  char token[64];
} account_t;

static account_t *accounts;
static int n_accounts;

static void read_sessions(void) {
  FILE *f = fopen(opt.sessions, "r");
  if (!f) {
    bench_die("cannot read %s", opt.sessions);
  }
  int cap = 1024;
  accounts = bench_alloc(sizeof *accounts * (size_t)cap);
  char line[256];
  while (fgets(line, sizeof line, f)) {
    if (n_accounts == cap) {
      cap *= 2;
      account_t *more = bench_alloc(sizeof *accounts * (size_t)cap);
      memcpy(more, accounts, sizeof *accounts * (size_t)n_accounts);
      free(accounts);
      accounts = more;
    }
    account_t *a = &accounts[n_accounts];
    if (sscanf(line, "%31s %63s", a->name, a->token) == 2) {
      n_accounts++;
    }
  }
  fclose(f);
}

/* ------------------------------------------------------------ answers */

/* How the requests of a kind ended. */
typedef struct tally {
  long ok, conflict, unavailable, other_http, transport;
  long late; /* sent more than 1 ms after their moment */
  double *lat_ms;
  size_t n_lat;
} tally_t;

static void tally_init(tally_t *t, size_t n) {
  memset(t, 0, sizeof *t);
  t->lat_ms = bench_alloc(sizeof *t->lat_ms * (n ? n : 1));
}

static void tally_add(tally_t *t, long status, long want, double ms) {
  if (status == want) {
    t->ok++;
    t->lat_ms[t->n_lat++] = ms;
  } else if (status == 409) {
    t->conflict++;
  } else if (status == 503) {
    t->unavailable++;
  } else if (status > 0) {
    t->other_http++;
  } else {
    t->transport++;
  }
}

/* ------------------------------------------------------------ likes */

typedef struct like_req {
  CURL *h;
  struct curl_slist *hdrs;
  double due_s; /* when it was due */
  long status;
  bool done;
} like_req_t;

static size_t discard(char *p, size_t size, size_t n, void *ctx) {
  (void)p;
  (void)ctx;
  return size * n;
}

/* When request k of a run starting at t0 is due: t0 + k / rate, or t0
 * for every one when rate is 0 (all at once). */
static double due_at(double t0, int k, double rate) {
  return rate > 0 ? t0 + k / rate : t0;
}

/* Likes of tweet `id` by accounts[first + k] for k < n, request k due at
 * t0 + k / rate (rate 0: all at t0), over the servers in turn, through
 * one curl multi handle; into t (latency from the moment each was due). */
static void send_likes(const char *id, int first, int n, double rate,
                       tally_t *t) {
  CURLM *multi = curl_multi_init();
  if (!multi) {
    bench_die("curl_multi_init failed");
  }
  like_req_t *reqs = bench_alloc(sizeof *reqs * (size_t)n);
  memset(reqs, 0, sizeof *reqs * (size_t)n);
  double t0 = bench_now_s() + 0.05;
  int next = 0, running = 0, finished = 0;
  while (finished < n) {
    double now = bench_now_s();
    while (next < n && due_at(t0, next, rate) <= now) {
      like_req_t *r = &reqs[next];
      r->due_s = due_at(t0, next, rate);
      if (now - r->due_s > 0.001) {
        t->late++;
      }
      char url[600], cookie[128];
      snprintf(url, sizeof url, "%s/api/tweet/%s/like",
               opt.urls[next % opt.n_urls], id);
      snprintf(cookie, sizeof cookie, "Cookie: chorus_session=%s",
               accounts[first + next].token);
      r->hdrs = curl_slist_append(NULL, "Content-Type: application/json");
      r->hdrs = curl_slist_append(r->hdrs, "Expect:");
      r->hdrs = curl_slist_append(r->hdrs, cookie);
      r->h = bench_curl_new(opt.timeout_ms);
      curl_easy_setopt(r->h, CURLOPT_URL, url);
      curl_easy_setopt(r->h, CURLOPT_HTTPHEADER, r->hdrs);
      curl_easy_setopt(r->h, CURLOPT_POSTFIELDS, "");
      curl_easy_setopt(r->h, CURLOPT_POSTFIELDSIZE, 0L);
      curl_easy_setopt(r->h, CURLOPT_WRITEFUNCTION, discard);
      curl_easy_setopt(r->h, CURLOPT_PRIVATE, r);
      curl_multi_add_handle(multi, r->h);
      next++;
      now = bench_now_s();
    }
    curl_multi_perform(multi, &running);
    CURLMsg *msg;
    int left;
    while ((msg = curl_multi_info_read(multi, &left))) {
      if (msg->msg != CURLMSG_DONE) {
        continue;
      }
      like_req_t *r;
      curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&r);
      double ms = (bench_now_s() - r->due_s) * 1000.0;
      r->status = 0;
      if (msg->data.result == CURLE_OK) {
        curl_easy_getinfo(r->h, CURLINFO_RESPONSE_CODE, &r->status);
      }
      tally_add(t, r->status, 200, ms);
      r->done = true;
      finished++;
      curl_multi_remove_handle(multi, r->h);
      curl_easy_cleanup(r->h);
      curl_slist_free_all(r->hdrs);
    }
    /* Wake for the next due like, or an answer, whichever comes first. */
    int wait_ms = 50;
    if (next < n) {
      double until = due_at(t0, next, rate) - bench_now_s();
      wait_ms = until <= 0 ? 0 : (int)(until * 1000.0);
    }
    if (wait_ms > 0) {
      curl_multi_poll(multi, NULL, 0, wait_ms, NULL);
    }
  }
  free(reqs);
  curl_multi_cleanup(multi);
}

/* ------------------------------------------------------------ tweets */

/* The value after the first key (as "\"key\"") of a JSON text: a pointer
 * to its first character, blanks and the colon skipped; NULL when absent. */
static const char *json_value(const char *json, const char *key) {
  const char *p = strstr(json, key);
  if (!p) {
    return NULL;
  }
  p += strlen(key);
  while (*p == ' ' || *p == ':') {
    p++;
  }
  return p;
}

/* POST /api/tweet with text as account a on url; the new id into id (25)
 * when not NULL.  The status (0: no answer). */
static long post_tweet(CURL *h, const char *url, const account_t *a,
                       const char *text, char *id) {
  char u[600], body[200];
  snprintf(u, sizeof u, "%s/api/tweet", url);
  snprintf(body, sizeof body, "{\"text\":\"%s\"}", text);
  bench_reply_t *r = bench_alloc(sizeof *r);
  long status = bench_http(h, "POST", u, a->token, body, r) ? r->status : 0;
  if (id) {
    const char *p = json_value(r->body, "\"id\"");
    id[0] = '\0';
    if (status == 201 && p && *p == '"') {
      snprintf(id, 25, "%.24s", p + 1);
    }
  }
  free(r);
  return status;
}

/* The like_count of tweet id as the server at url shows it; -1 when it
 * could not be read. */
static long like_count(CURL *h, const char *url, const char *id) {
  char u[600];
  snprintf(u, sizeof u, "%s/api/tweet/%s", url, id);
  bench_reply_t *r = bench_alloc(sizeof *r);
  long n = -1;
  if (bench_http(h, "GET", u, NULL, NULL, r) && r->status == 200) {
    const char *p = json_value(r->body, "\"like_count\"");
    if (p) {
      n = strtol(p, NULL, 10);
    }
  }
  free(r);
  return n;
}

/* The other user's creations during phase (a). */
typedef struct creator {
  atomic_bool stop;
  tally_t tally;
  double started_s, ended_s;
} creator_t;

static void *creator_main(void *arg) {
  creator_t *c = arg;
  CURL *h = bench_curl_new(opt.timeout_ms);
  c->started_s = bench_now_s();
  for (long k = 0; !atomic_load(&c->stop); k++) {
    char text[64];
    snprintf(text, sizeof text, "posted while a tweet is liked, %ld", k);
    double t = bench_now_s();
    long status =
        post_tweet(h, opt.urls[k % opt.n_urls], &accounts[1], text, NULL);
    tally_add(&c->tally, status, 201, (bench_now_s() - t) * 1000.0);
    if (opt.creator_pause_ms > 0) {
      bench_sleep_s((double)opt.creator_pause_ms / 1000.0);
    }
  }
  c->ended_s = bench_now_s();
  curl_easy_cleanup(h);
  return NULL;
}

/* ------------------------------------------------------------ output */

typedef struct phase {
  const char *name;
  int sent;
  tally_t likes;
  long counts[MAX_URLS];
  bool exact;
  double elapsed_s;
} phase_t;

static void print_dist_json(const char *key, tally_t *t) {
  bench_dist_t d = bench_dist_of(t->lat_ms, t->n_lat);
  printf("\"%s\":{\"p50\":%.1f,\"p90\":%.1f,\"p99\":%.1f,\"max\":%.1f}", key,
         d.p50, d.p90, d.p99, d.max);
}

static void print_phase_json(phase_t *p) {
  printf("\"%s\":{\"sent\":%d,\"ok\":%ld,\"conflict_409\":%ld,"
         "\"unavailable_503\":%ld,\"other_http\":%ld,\"transport\":%ld,"
         "\"late_sends\":%ld,\"elapsed_s\":%.2f,\"exact\":%s,\"like_counts\":[",
         p->name, p->sent, p->likes.ok, p->likes.conflict, p->likes.unavailable,
         p->likes.other_http, p->likes.transport, p->likes.late, p->elapsed_s,
         p->exact ? "true" : "false");
  for (int i = 0; i < opt.n_urls; i++) {
    printf("%s%ld", i ? "," : "", p->counts[i]);
  }
  printf("],");
  print_dist_json("latency_ms", &p->likes);
  printf("}");
}

static void print_phase_text(phase_t *p) {
  bench_dist_t d = bench_dist_of(p->likes.lat_ms, p->likes.n_lat);
  printf("%s: %d likes sent in %.1f s: %ld x 200, %ld x 409, %ld x 503, "
         "%ld other HTTP, %ld transport; %ld late sends\n",
         p->name, p->sent, p->elapsed_s, p->likes.ok, p->likes.conflict,
         p->likes.unavailable, p->likes.other_http, p->likes.transport,
         p->likes.late);
  printf("  like_count read:");
  for (int i = 0; i < opt.n_urls; i++) {
    printf(" %ld (%s)", p->counts[i], opt.urls[i]);
  }
  printf(" -> %s\n", p->exact ? "exact" : "NOT EXACT");
  printf("  latency of the 200s, ms: p50 %.1f  p90 %.1f  p99 %.1f  max %.1f\n",
         d.p50, d.p90, d.p99, d.max);
}

/* Runs one phase: likes of a fresh tweet by accounts[first..first+n). */
static void run_phase(phase_t *p, CURL *h, const char *name, int first, int n,
                      double rate) {
  memset(p, 0, sizeof *p);
  p->name = name;
  p->sent = n;
  tally_init(&p->likes, (size_t)n);
  char id[25], text[64];
  snprintf(text, sizeof text, "liked in phase %s", name);
  if (post_tweet(h, opt.urls[0], &accounts[0], text, id) != 201 || !id[0]) {
    bench_die("the author could not post the tweet of phase %s", name);
  }
  double t = bench_now_s();
  send_likes(id, first, n, rate, &p->likes);
  p->elapsed_s = bench_now_s() - t;
  p->exact = true;
  for (int i = 0; i < opt.n_urls; i++) {
    p->counts[i] = like_count(h, opt.urls[i], id);
    p->exact = p->exact && p->counts[i] == p->likes.ok;
  }
}

int main(int argc, char **argv) {
  bench_set_name("bench_likes");
  parse_args(argc, argv);
  curl_global_init(CURL_GLOBAL_DEFAULT);
  read_sessions();
  int paced = (int)(opt.rate * opt.duration + 0.5);
  int need = 2 + (paced > opt.burst ? paced : opt.burst);
  if (n_accounts < need) {
    bench_die("%s has %d sessions; %d are needed (author, other user, %d "
              "likers)",
              opt.sessions, n_accounts, need, need - 2);
  }
  CURL *h = bench_curl_new(opt.timeout_ms);

  /* (a) paced likes, the other user creating tweets meanwhile. */
  creator_t creator;
  memset(&creator, 0, sizeof creator);
  tally_init(&creator.tally, 1 << 16);
  bench_cpu_mark_t m0, m1;
  bench_cpu_watch_start(&opt.cpu);
  bench_cpu_mark(&m0);
  pthread_t creator_thread;
  if (pthread_create(&creator_thread, NULL, creator_main, &creator) != 0) {
    bench_die("cannot start the creating thread");
  }
  phase_t a;
  run_phase(&a, h, "paced", 2, paced, opt.rate);
  atomic_store(&creator.stop, true);
  pthread_join(creator_thread, NULL);
  bench_cpu_mark(&m1);
  double window = m1.at_s - m0.at_s;
  bench_cpu_watch_stop(&opt.cpu);
  double machine = bench_machine_cpu_pct(&m0, &m1);
  double self = bench_self_cpu_pct(&m0, &m1, window);

  /* (b) a burst. */
  phase_t b;
  memset(&b, 0, sizeof b);
  if (opt.burst > 0) {
    run_phase(&b, h, "burst", 2, opt.burst, 0);
  }
  curl_easy_cleanup(h);

  double creations_s = creator.ended_s - creator.started_s;
  bench_dist_t cd = bench_dist_of(creator.tally.lat_ms, creator.tally.n_lat);
  if (opt.json) {
    printf("{\"rate\":%.1f,\"duration_s\":%.1f,\"burst_size\":%d,", opt.rate,
           opt.duration, opt.burst);
    print_phase_json(&a);
    printf(",");
    if (opt.burst > 0) {
      print_phase_json(&b);
      printf(",");
    }
    printf("\"creations\":{\"ok\":%ld,\"failed\":%ld,\"per_s\":%.2f,",
           creator.tally.ok,
           creator.tally.conflict + creator.tally.unavailable +
               creator.tally.other_http + creator.tally.transport,
           creations_s > 0 ? (double)creator.tally.ok / creations_s : 0);
    print_dist_json("latency_ms", &creator.tally);
    printf("},\"cpu_pct\":{");
    bench_cpu_watch_json(&opt.cpu, window);
    printf("\"client\":%.1f},\"machine_cpu_pct\":%.1f,\"cores\":%ld}\n", self,
           machine, bench_cores());
    return 0;
  }
  print_phase_text(&a);
  printf("  meanwhile the other user created %ld tweets (%.2f/s), %ld failed;"
         " latency ms: p50 %.1f  p90 %.1f  p99 %.1f  max %.1f\n",
         creator.tally.ok,
         creations_s > 0 ? (double)creator.tally.ok / creations_s : 0,
         creator.tally.conflict + creator.tally.unavailable +
             creator.tally.other_http + creator.tally.transport,
         cd.p50, cd.p90, cd.p99, cd.max);
  if (opt.cpu.n > 0 || machine >= 0) {
    printf("  CPU during it, %% of one core:");
    for (int i = 0; i < opt.cpu.n; i++) {
      printf(" %s %.0f", opt.cpu.w[i].name,
             opt.cpu.w[i].used_s >= 0 ? 100.0 * opt.cpu.w[i].used_s / window
                                      : -1.0);
    }
    printf(" client %.0f; whole machine %.0f of %ld\n", self, machine,
           bench_cores() * 100);
  }
  if (opt.burst > 0) {
    print_phase_text(&b);
  }
  return 0;
}
