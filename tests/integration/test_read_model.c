/*
 * test_read_model.c - the read model (server/model.h, server/reads.h)
 * answers GET /api/feed, GET /api/tweet and session lookups exactly as
 * the database would, on every server, at once.
 *
 * Besides servers A and B (scripts/test.sh, default model), the test starts
 * on the same database a server C with --read-model 0 (always the
 * database: the reference) and a server D with a tiny model
 * (--model-per-author 3 --model-ring 10), which must often decline and
 * ask the database.  A seeded pseudo-random workload of 150 operations
 * (tweets with and without hashtags, replies, quotes, edits, deletes,
 * likes, unlikes, reposts, unreposts, follows, unfollows, display-name
 * changes, logouts and logins), run two at a time by two users, one on A
 * and one on B, is checked after every pair without waiting or
 * retrying: the feed, timeline or a tag page of a user who acted; every
 * 12 operations every user's feed and timeline (at limit 1, 3 or 50, in
 * turn), the tags' pages and the trends; at the end all of them at every
 * limit, following `next` over pages, and cursors kept from earlier
 * pages.  Home feeds hold reposts, which the model answers from memory.  Every
 * answer of A, B and D must be byte-identical to C's, the same request sent to
 * the four at once, by a reader that knows of every operation so far: it
 * carries the causal token (chorus_seen) of the newest answer (testclient.h),
 * which a server with
 * --read-staleness-ms (20 ms by default) must honour by waiting.
 * Halfway, D is stopped and started again: it loads (and trims)
 * what it had only seen as events while the workload goes on; and a
 * fifth server E (default model) starts, loads all of it and is compared
 * from then on too.  A session
 * used on B, D and A and then ended on A or B is refused everywhere at
 * once, to a client with the logout's token and to one with the old
 * cookie alone, also in the middle of the workload.  /metrics shows
 * that the model answered on A and D, declined on D, and that C has none.
 *
 * CHORUS_TEST_SEED=<n> replays the choices of a run (its seed is printed;
 * the two operations of a pair still race each other).
 */
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "tests/client/harness.h"
#include "tests/client/testclient.h"

#define N_USERS 6
#define N_PAIRS 75        /* operations run two at a time */
#define CHECK_ALL_EVERY 6 /* pairs */
#define RESTART_D_AT 38   /* pairs: D loads a database it did not see grow */
#define MAX_TWEETS 512
#define MAX_CURSORS 10
#define READY_WAIT_MS 30000

/* The servers; C (SC) is the reference.  E runs from halfway on ("" its
 * URL before). */
enum { SA, SB, SD, SE, SC, N_SRV };
static const char *const srv_name[N_SRV] = {"A", "B", "D", "E", "C"};
static char g_url[N_SRV][64];
static tc_server_t g_c, g_d, g_e;

/* /metrics of A and D when the servers were ready, and of D before its
 * restart (-1: not read). */
static long long g_a_memory0, g_d_database0 = -1;
static long long g_d_memory1 = -1, g_d_database1 = -1;

/* ---- pseudo-random numbers (xorshift64*: the same on every machine) ---- */

static uint64_t g_rng;

static uint64_t rnd(void) {
  g_rng ^= g_rng >> 12;
  g_rng ^= g_rng << 25;
  g_rng ^= g_rng >> 27;
  return g_rng * 2685821657736338717ULL;
}

static int rnd_below(int n) { return (int)(rnd() % (uint64_t)n); }

/* ---- servers ---- */

/* SIGTERM, then SIGKILL if it has not exited 15 s later; true when it
 * was not running or exited with status 0. */
static bool stop_one(tc_server_t *s) {
  if (s->pid <= 0) {
    return true;
  }
  pid_t pid = s->pid;
  kill(pid, SIGTERM);
  int code = tc_server_wait_exit(s, 15000);
  if (code == -1) {
    fprintf(stderr,
            "chorusd %s (pid %d) did not exit 15 s after SIGTERM; "
            "killing it\n",
            s->id, (int)pid);
    tc_server_kill(s, SIGKILL);
  } else if (code != 0) {
    fprintf(stderr,
            "chorusd %s exited with status %d after SIGTERM (log: "
            "%s)\n",
            s->id, code, s->log);
  }
  return code == 0;
}

/* Also called at exit and when a sanitizer kills this program (UBSan
 * halts on error without running atexit handlers): servers C and D never
 * outlive the test. */
static void stop_servers(void) {
  stop_one(&g_e);
  stop_one(&g_d);
  stop_one(&g_c);
}

/* Present when the test is built with sanitizers (scripts/test.sh). */
extern void __sanitizer_set_death_callback(void (*callback)(void))
    __attribute__((weak));

/* GET /metrics of url into r (asserting 200). */
static void get_metrics(const char *url, tc_response_t *r) {
  tc_client_t *c = tc_client_new(url);
  tc_get_ok(c, "/metrics", r);
  tc_client_destroy(c);
}

/* The value of sample in url's /metrics; -1 (and a message) when absent. */
static long long metric_of(const char *url, const char *sample) {
  tc_response_t r;
  get_metrics(url, &r);
  double v = -1;
  if (!tc_metric_in(r.body, sample, &v)) {
    fprintf(stderr, "%s/metrics has no %s\n", url, sample);
  }
  tc_response_free(&r);
  return (long long)v;
}

/* Waits until chorus_model_ready is 1 on url; false after READY_WAIT_MS. */
static bool wait_model_ready(const char *name, const char *url) {
  int64_t t0 = tc_now_ms();
  if (tc_wait_model_ready(url, READY_WAIT_MS)) {
    fprintf(stderr, "server %s: read model ready after %lld ms\n", name,
            (long long)(tc_now_ms() - t0));
    return true;
  }
  fprintf(stderr,
          "server %s (%s): chorus_model_ready is not 1 %d s after start\n",
          name, url, READY_WAIT_MS / 1000);
  return false;
}

static int group_setup(void **state) {
  (void)state;
  const char *db = tc_env("CHORUS_TEST_DB");
  bson_strncpy(g_url[SA], tc_url_a(), sizeof g_url[SA]);
  bson_strncpy(g_url[SB], tc_url_b(), sizeof g_url[SB]);
  tc_server_init(&g_c, "rm_c", db);
  bson_strncpy(g_c.extra, "--read-model 0", sizeof g_c.extra);
  tc_server_init(&g_d, "rm_d", db);
  bson_strncpy(g_d.extra, "--read-model 1 --model-per-author 3 --model-ring 10",
               sizeof g_d.extra);
  tc_server_init(&g_e, "rm_e", db); /* the default model */
  atexit(stop_servers);
  if (__sanitizer_set_death_callback) {
    __sanitizer_set_death_callback(stop_servers);
  }
  if (!tc_server_start(&g_c) || !tc_server_start(&g_d)) {
    fprintf(stderr, "could not start servers C and D\n");
    stop_servers();
    return -1;
  }
  bson_strncpy(g_url[SC], g_c.url, sizeof g_url[SC]);
  bson_strncpy(g_url[SD], g_d.url, sizeof g_url[SD]);
  if (!wait_model_ready("A", g_url[SA]) || !wait_model_ready("B", g_url[SB]) ||
      !wait_model_ready("D", g_url[SD])) {
    stop_servers();
    return -1;
  }
  g_a_memory0 =
      metric_of(g_url[SA], "chorus_model_reads_total{source=\"memory\"}");
  g_d_database0 =
      metric_of(g_url[SD], "chorus_model_reads_total{source=\"database\"}");
  return 0;
}

static int group_teardown(void **state) {
  (void)state;
  bool e_ok = stop_one(&g_e), d_ok = stop_one(&g_d), c_ok = stop_one(&g_c);
  return e_ok && d_ok && c_ok ? 0 : -1;
}

/* ---- users and their sessions ---- */

typedef struct rm_user {
  char name[31];
  char token[128];       /* "" when logged out */
  tc_client_t *c[N_SRV]; /* the session on each server; NULL logged out */
} rm_user_t;

typedef struct rm_tweet {
  char id[25];
  int author;
  bool alive;
} rm_tweet_t;

typedef struct rm_cursor {
  int user;         /* -1: logged out */
  const char *list; /* the list's path (static) */
  int limit;
  char next[64];
} rm_cursor_t;

typedef struct world {
  rm_user_t users[N_USERS];
  tc_client_t *anon[N_SRV];
  rm_tweet_t tweets[MAX_TWEETS];
  int n_tweets;
  rm_cursor_t cursors[MAX_CURSORS];
  int n_cursors, next_cursor;
  int op;            /* operations done, for messages */
  char last_op[420]; /* what they were */
  long compared;     /* bodies compared with C's */
  int64_t read_ms;   /* time spent reading them */
} world_t;

static void user_sessions_close(rm_user_t *u) {
  for (int k = 0; k < N_SRV; k++) {
    if (u->c[k]) {
      tc_client_destroy(u->c[k]);
      u->c[k] = NULL;
    }
  }
  u->token[0] = '\0';
}

/* u's session is token: one client holding it per server. */
static void user_sessions_open(rm_user_t *u, const char *token) {
  user_sessions_close(u);
  bson_strncpy(u->token, token, sizeof u->token);
  for (int k = 0; k < N_SRV; k++) {
    if (g_url[k][0]) {
      u->c[k] = tc_client_with_session(g_url[k], token);
    }
  }
}

static bool logged_in(const rm_user_t *u) { return u->token[0] != '\0'; }

/* ---- comparing with the reference ---- */

/* One GET on one server, by a thread of its own. */
typedef struct fetch {
  pthread_t thread;
  tc_client_t *client;
  const char *path;
  bool sent;
  tc_response_t r;
} fetch_t;

static void *fetch_main(void *arg) {
  fetch_t *f = arg;
  f->sent = tc_try_request(f->client, "GET", f->path, NULL, 0, NULL, &f->r);
  return NULL;
}

/* Says where got (from server k) and ref (from C) part, with some
 * context, and both bodies when they are short.  (On stderr: cmocka's
 * print_error cuts long messages.) */
static void report_difference(const world_t *w, int user, const char *path,
                              int k, const tc_response_t *got,
                              const tc_response_t *ref) {
  size_t at = 0;
  while (at < got->len && at < ref->len && got->body[at] == ref->body[at]) {
    at++;
  }
  size_t from = at > 300 ? at - 300 : 0;
  fprintf(stderr,
          "after operation %d (%s):\nGET %s as %s: server %s differs from "
          "the database (server C): HTTP %ld and %ld, %zu and %zu bytes, "
          "first difference at byte %zu:\n  %s: ...%.600s\n  C: ...%.600s\n",
          w->op, w->last_op, path,
          user >= 0 ? w->users[user].name : "(logged out)", srv_name[k],
          got->status, ref->status, got->len, ref->len, at, srv_name[k],
          got->body + from, ref->body + from);
  if (got->len < 4000 && ref->len < 4000) {
    fprintf(stderr, "whole bodies:\n  %s: %s\n  C: %s\n", srv_name[k],
            got->body, ref->body);
  }
}

/* GET path as user (-1: logged out) on A, B, D, E and C at once (E once
 * it runs); each body
 * must be byte-identical to C's.  Returns C's answer in ref (the caller
 * frees it). */
static void compare(world_t *w, int user, const char *path,
                    tc_response_t *ref) {
  fetch_t f[N_SRV];
  memset(f, 0, sizeof f);
  bool up[N_SRV];
  int64_t t0 = tc_now_ms();
  for (int k = 0; k < N_SRV; k++) {
    up[k] = g_url[k][0] != '\0';
    if (!up[k]) {
      continue;
    }
    f[k].client = user >= 0 ? w->users[user].c[k] : w->anon[k];
    f[k].path = path;
    assert_int_equal(pthread_create(&f[k].thread, NULL, fetch_main, &f[k]), 0);
  }
  for (int k = 0; k < N_SRV; k++) {
    if (up[k]) {
      pthread_join(f[k].thread, NULL);
    }
  }
  w->read_ms += tc_now_ms() - t0;
  for (int k = 0; k < N_SRV; k++) {
    if (up[k] && !f[k].sent) {
      print_error("GET %s on %s: %s\n", path, srv_name[k], f[k].r.body);
    }
    assert_true(!up[k] || f[k].sent);
  }
  for (int k = 0; k < SC; k++) {
    if (!up[k]) {
      continue;
    }
    bool same = f[k].r.status == f[SC].r.status && f[k].r.len == f[SC].r.len &&
                memcmp(f[k].r.body, f[SC].r.body, f[k].r.len) == 0;
    if (!same) {
      report_difference(w, user, path, k, &f[k].r, &f[SC].r);
    }
    assert_true(same);
    w->compared++;
  }
  if (user >= 0) {
    tc_assert_status(&f[SC].r, 200);
  }
  for (int k = 0; k < SC; k++) {
    if (up[k]) {
      tc_response_free(&f[k].r);
    }
  }
  *ref = f[SC].r;
}

static void keep_cursor(world_t *w, int user, const char *list, int limit,
                        const char *next) {
  rm_cursor_t *c = &w->cursors[w->next_cursor];
  w->next_cursor = (w->next_cursor + 1) % MAX_CURSORS;
  if (w->n_cursors < MAX_CURSORS) {
    w->n_cursors++;
  }
  c->user = user;
  c->list = list;
  c->limit = limit;
  bson_strncpy(c->next, next, sizeof c->next);
}

/* The lists compared: the feed, the timeline, and the pages of the tags
 * the workload's texts use (static strings: kept cursors point to them). */
#define FEED "/api/feed"
#define TIMELINE "/api/tweet"
static const char *const tag_lists[] = {"/api/tags/rmalpha", "/api/tags/rmbeta",
                                        "/api/tags/rm_gamma1"};
#define N_TAGS ((int)(sizeof tag_lists / sizeof *tag_lists))

/* One list as user (-1: logged out) at limit, following `next` for up to
 * pages pages. */
static void check_list(world_t *w, int user, const char *list, int limit,
                       int pages) {
  if (user >= 0 && !logged_in(&w->users[user])) {
    user = -1;
  }
  char next[64] = "";
  for (int p = 0; p < pages; p++) {
    char path[160];
    snprintf(path, sizeof path, "%s?limit=%d%s%s", list, limit,
             next[0] ? "&before=" : "", next);
    tc_response_t ref;
    compare(w, user, path, &ref);
    const char *n = ref.status == 200 && !tc_json_is_null(&ref, "next")
                        ? tc_json_str(&ref, "next")
                        : NULL;
    if (n) {
      bson_strncpy(next, n, sizeof next);
      if (rnd_below(3) == 0) {
        keep_cursor(w, user, list, limit, next);
      }
    }
    tc_response_free(&ref);
    if (!n) {
      break;
    }
  }
}

/* The trends, as a user or logged out. */
static void check_trends(world_t *w, int user) {
  tc_response_t ref;
  compare(w, user >= 0 && logged_in(&w->users[user]) ? user : -1, "/api/trends",
          &ref);
  tc_assert_status(&ref, 200);
  tc_response_free(&ref);
}

/* The page after cursor i, kept from an earlier page: the writes since
 * may have deleted the tweet it names. */
static void check_old_cursor(world_t *w, int i) {
  rm_cursor_t *c = &w->cursors[i];
  int user = c->user >= 0 && logged_in(&w->users[c->user]) ? c->user : -1;
  char path[160];
  snprintf(path, sizeof path, "%s?limit=%d&before=%s", c->list, c->limit,
           c->next);
  tc_response_t ref;
  compare(w, user, path, &ref);
  tc_response_free(&ref);
}

static void check_old_cursors(world_t *w) {
  for (int i = 0; i < w->n_cursors; i++) {
    check_old_cursor(w, i);
  }
}

static int random_limit(void) {
  static const int some[] = {1, 2, 3, 5, 50};
  return some[rnd_below(5)];
}

static const int limits[] = {1, 3, 50};

/* The first page of every user's feed and timeline (and of the
 * logged-out timeline) at limits[l], the tags' first pages and the
 * trends, and the page after a kept cursor. */
static void check_all(world_t *w, int l) {
  for (int u = 0; u < N_USERS; u++) {
    check_list(w, u, FEED, limits[l], 1);
    check_list(w, u, TIMELINE, limits[l], 1);
  }
  check_list(w, -1, TIMELINE, limits[l], 1);
  for (int t = 0; t < N_TAGS; t++) {
    check_list(w, t % N_USERS, tag_lists[t], limits[l], 1);
  }
  check_trends(w, -1);
  if (w->n_cursors > 0) {
    check_old_cursor(w, rnd_below(w->n_cursors));
  }
}

/* Every user's feed and timeline at limits 1, 3 and 50 over a few pages,
 * every tag's pages, the trends, and the cursors kept from earlier
 * pages. */
static void full_check(world_t *w) {
  static const int feed_pages[] = {2, 1, 1}, timeline_pages[] = {2, 1, 2};
  for (int u = 0; u < N_USERS; u++) {
    for (int l = 0; l < 3; l++) {
      check_list(w, u, FEED, limits[l], feed_pages[l]);
      check_list(w, u, TIMELINE, limits[l], timeline_pages[l]);
    }
    check_list(w, u, tag_lists[u % N_TAGS], 3, 3);
  }
  check_list(w, -1, TIMELINE, 3, 2);
  for (int t = 0; t < N_TAGS; t++) {
    check_list(w, -1, tag_lists[t], 50, 2);
  }
  check_trends(w, 0);
  check_old_cursors(w);
}

/* ---- operations ----
 * They are planned by the test's thread (every random choice, so a seed
 * replays them) and run two at a time, by two users, one on A and one on
 * B, each in its own thread; they never act on the same tweet.  Results
 * are checked by the test's thread. */

typedef enum {
  OP_TWEET,
  OP_REPLY,
  OP_EDIT,
  OP_DELETE,
  OP_QUOTE,
  OP_LIKE,
  OP_UNLIKE,
  OP_REPOST,
  OP_UNREPOST,
  OP_FOLLOW,
  OP_UNFOLLOW,
  OP_RENAME,
  OP_LOGOUT,
  OP_LOGOUT_LOGIN,
  OP_LOGIN
} op_kind_t;

typedef struct op {
  world_t *w;
  op_kind_t kind;
  int user, srv, srv2; /* srv2: where OP_LOGOUT_LOGIN logs in again */
  int tweet;           /* the tweet acted on (index), or -1 */
  int target;          /* the user followed or unfollowed */
  char path[128];
  char *body; /* JSON, or NULL */
  char desc[200];
  pthread_t thread;
  /* results */
  char fail[1200]; /* "" when everything answered as expected */
  char new_id[25];
  char new_token[128];
} op_t;

static void op_failed(op_t *op, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void op_failed(op_t *op, const char *fmt, ...) {
  if (op->fail[0]) {
    return; /* the first one says it */
  }
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(op->fail, sizeof op->fail, fmt, ap);
  va_end(ap);
}

/* One request of an operation; false (and op->fail) when it did not
 * answer `expect`.  out may be NULL. */
static bool op_request(op_t *op, tc_client_t *c, const char *server,
                       const char *method, const char *path, const char *body,
                       long expect, tc_response_t *out) {
  tc_response_t r;
  bool sent =
      tc_try_request(c, method, path, body, body ? strlen(body) : 0, NULL, &r);
  bool ok = sent && r.status == expect;
  if (!ok) {
    op_failed(op, "%s %s on %s: HTTP %ld, expected %ld: %s", method, path,
              server, r.status, expect, r.body ? r.body : "");
  }
  if (out) {
    *out = r;
  } else {
    tc_response_free(&r);
  }
  return ok;
}

/* Logs the user out on op->srv with its session just used on B, D, E
 * (once it runs) and A, so cached where there is a model; the old session
 * must then be refused on every server at once, to a client that knows of
 * the logout (its token) and to one that does not (a copy of the old
 * cookie alone: docs/READMODEL.md 6b). */

/* A client on server k with u's (ended) session cookie, which knows of
 * the logout (the test's causal token, testclient.h) or not. */
static tc_client_t *old_session_on(const rm_user_t *u, int k, bool knows) {
  tc_client_t *c = tc_client_with_session(g_url[k], u->token);
  if (!knows) {
    tc_client_forget(c);
  }
  return c;
}
static void run_logout(op_t *op) {
  rm_user_t *user = &op->w->users[op->user];
  static const int warm[] = {SB, SD, SE, SA};
  for (int i = 0; i < 4; i++) {
    if (!user->c[warm[i]]) {
      continue; /* E not running yet */
    }
    if (!op_request(op, user->c[warm[i]], srv_name[warm[i]], "GET",
                    "/api/feed?limit=1", NULL, 200, NULL)) {
      return;
    }
  }
  if (!op_request(op, user->c[op->srv], srv_name[op->srv], "DELETE",
                  "/api/login", NULL, 200, NULL)) {
    return;
  }
  static const int after[] = {SB, SD, SE, SA, SC};
  for (int i = 0; i < N_SRV; i++) {
    int k = after[i];
    if (!user->c[k]) {
      continue;
    }
    tc_client_t *c = old_session_on(user, k, true);
    tc_response_t r;
    if (op_request(op, c, srv_name[k], "GET", "/api/feed", NULL, 401, &r)) {
      const char *code = tc_json_str(&r, "error.code");
      if (!code || strcmp(code, "not_logged_in") != 0) {
        op_failed(op, "GET /api/feed on %s: %s", srv_name[k], r.body);
      }
    }
    tc_response_free(&r);
    tc_client_destroy(c);
    if (op->fail[0]) {
      char what[sizeof op->fail];
      bson_strncpy(what, op->fail, sizeof what);
      op->fail[0] = '\0';
      op_failed(op, "%s logged out on %s, then its old session: %s", user->name,
                srv_name[op->srv], what);
      return;
    }
  }
  for (int i = 0; i < N_SRV; i++) {
    int k = after[i];
    if (!user->c[k]) {
      continue;
    }
    tc_client_t *c = old_session_on(user, k, false);
    tc_response_t r;
    bool sent = tc_try_request(c, "GET", "/api/feed", NULL, 0, NULL, &r);
    long status = sent ? r.status : 0;
    tc_response_free(&r);
    tc_client_destroy(c);
    if (status != 401) {
      op_failed(op,
                "%s logged out on %s, then its old session without the "
                "logout's token: GET /api/feed on %s HTTP %ld",
                user->name, srv_name[op->srv], srv_name[k], status);
      return;
    }
  }
}

static void run_login(op_t *op, int srv) {
  rm_user_t *user = &op->w->users[op->user];
  tc_client_t *c = tc_client_new(g_url[srv]);
  char *body = tc_credentials_json(user->name, TC_PASSWORD);
  if (op_request(op, c, srv_name[srv], "POST", "/api/login", body, 200, NULL) &&
      !tc_cookie(c, "chorus_session", op->new_token, sizeof op->new_token)) {
    op_failed(op, "POST /api/login on %s: no session cookie", srv_name[srv]);
  }
  bson_free(body);
  tc_client_destroy(c);
}

static void run_op(op_t *op) {
  rm_user_t *user = &op->w->users[op->user];
  tc_client_t *c = user->c[op->srv];
  const char *server = srv_name[op->srv];
  tc_response_t r;
  switch (op->kind) {
  case OP_TWEET:
  case OP_REPLY:
  case OP_QUOTE:
    if (op_request(op, c, server, "POST", "/api/tweet", op->body, 201, &r)) {
      const char *id = tc_json_str(&r, "id");
      bson_strncpy(op->new_id, id ? id : "", sizeof op->new_id);
    }
    tc_response_free(&r);
    break;
  case OP_EDIT:
    op_request(op, c, server, "PUT", op->path, op->body, 200, NULL);
    break;
  case OP_DELETE:
  case OP_UNLIKE:
  case OP_UNREPOST:
  case OP_UNFOLLOW:
    op_request(op, c, server, "DELETE", op->path, NULL, 200, NULL);
    break;
  case OP_LIKE:
  case OP_REPOST:
  case OP_FOLLOW:
    op_request(op, c, server, "POST", op->path, "", 200, NULL);
    break;
  case OP_RENAME:
    op_request(op, c, server, "PATCH", "/api/me", op->body, 200, NULL);
    break;
  case OP_LOGOUT:
    run_logout(op);
    break;
  case OP_LOGOUT_LOGIN:
    run_logout(op);
    if (!op->fail[0]) {
      run_login(op, op->srv2);
    }
    break;
  case OP_LOGIN:
    run_login(op, op->srv);
    break;
  }
}

static void *op_main(void *arg) {
  run_op(arg);
  return NULL;
}

/* ---- planning ---- */

static const char *const words[] = {
    "alpha",       "beta",           "gamma",   "über",
    "naïve",       "日本語",         "😀",       "\"quoted\"",
    "back\\slash", "<b>x</b>",       "tab\tin", "line\nbreak",
    "&amp;",       "{\"$gt\":\"\"}", "null",    "read",
    "model",       "café",           "ok",      "🎉🎉"};
#define N_WORDS ((int)(sizeof words / sizeof *words))

static void random_text(char *out, size_t size, const char *tag) {
  if (rnd_below(20) == 0) {
    /* 280 code points of 4 bytes: the longest text there is. */
    out[0] = '\0';
    for (int i = 0; i < 280 && strlen(out) + 5 < size; i++) {
      strcat(out, i % 2 ? "😀" : "🎉");
    }
    return;
  }
  snprintf(out, size, "%s", tag);
  static const char *const tags[] = {"#rmalpha", "#RMBeta", "#rm_Gamma1"};
  for (int i = 0; i < 3; i++) {
    if (rnd_below(4) == 0) { /* a quarter of the texts have each tag */
      strcat(out, " ");
      strcat(out, tags[i]);
    }
  }
  int n = 1 + rnd_below(8);
  for (int i = 0; i < n; i++) {
    const char *word = words[rnd_below(N_WORDS)];
    if (strlen(out) + strlen(word) + 2 < size) {
      strcat(out, " ");
      strcat(out, word);
    }
  }
}

static void random_display_name(char *out, size_t size, int n) {
  int kind = rnd_below(5);
  if (kind == 0) {
    out[0] = '\0';
    for (int i = 0; i < 50 && strlen(out) + 5 < size; i++) {
      strcat(out, "😀"); /* 50 characters, 200 bytes: the longest */
    }
  } else if (kind == 1) {
    snprintf(out, size, "Ünïcödé \"%d\" \\ <%d>", n, n);
  } else {
    snprintf(out, size, "Name %d %s", n, words[rnd_below(N_WORDS)]);
  }
}

/* A JSON object with one string member (two when key2 is not NULL). */
static char *json_obj(const char *key, const char *value, const char *key2,
                      const char *value2) {
  bson_t doc = BSON_INITIALIZER;
  BSON_APPEND_UTF8(&doc, key, value);
  if (key2) {
    BSON_APPEND_UTF8(&doc, key2, value2);
  }
  char *json = bson_as_relaxed_extended_json(&doc, NULL);
  bson_destroy(&doc);
  return json;
}

/* A random live tweet (by author, or anyone when -1) other than avoid. */
static int random_alive_tweet(world_t *w, int author, int avoid) {
  int candidates[MAX_TWEETS], n = 0;
  for (int i = 0; i < w->n_tweets; i++) {
    if (w->tweets[i].alive && i != avoid &&
        (author < 0 || w->tweets[i].author == author)) {
      candidates[n++] = i;
    }
  }
  return n ? candidates[rnd_below(n)] : -1;
}

/* A random logged-in user other than avoid; user 0 twice as likely (it
 * posts the most: long author lists). -1 when there is none. */
static int random_actor(world_t *w, int avoid) {
  int candidates[N_USERS + 1], n = 0;
  for (int u = 0; u < N_USERS; u++) {
    if (u != avoid && logged_in(&w->users[u])) {
      candidates[n++] = u;
      if (u == 0) {
        candidates[n++] = u;
      }
    }
  }
  return n ? candidates[rnd_below(n)] : -1;
}

static int count_logged_in(world_t *w) {
  int n = 0;
  for (int u = 0; u < N_USERS; u++) {
    n += logged_in(&w->users[u]);
  }
  return n;
}

/* Plans an operation on server srv by someone other than other->user,
 * touching no tweet other touches (other NULL: none). */
static void plan_op(world_t *w, op_t *op, int srv, const op_t *other) {
  memset(op, 0, sizeof *op);
  op->w = w;
  op->srv = srv;
  op->tweet = -1;
  int avoid_user = other ? other->user : -1;
  int avoid_tweet = other ? other->tweet : -1;
  int n_in = count_logged_in(w) - (other && other->kind == OP_LOGOUT);
  int roll = rnd_below(100);
  int out = -1; /* a logged-out user, if any */
  for (int u = 0; u < N_USERS; u++) {
    if (u != avoid_user && !logged_in(&w->users[u])) {
      out = u;
    }
  }
  if (out >= 0 && (roll < 6 || n_in < 3)) {
    op->kind = OP_LOGIN;
    op->user = out;
    snprintf(op->desc, sizeof op->desc, "%s logs in on %s", w->users[out].name,
             srv_name[srv]);
    return;
  }
  int u = op->user = random_actor(w, avoid_user);
  assert_true(u >= 0);
  const char *name = w->users[u].name;
  char text[1200], tag[48];
  int t;
  if (roll < 35) {
    op->kind = OP_TWEET;
    snprintf(tag, sizeof tag, "tweet%d", w->op + 1);
    random_text(text, sizeof text, tag);
    op->body = json_obj("text", text, NULL, NULL);
    snprintf(op->desc, sizeof op->desc, "%s tweets on %s", name, srv_name[srv]);
  } else if (roll < 49 && (t = random_alive_tweet(w, -1, avoid_tweet)) >= 0) {
    /* A reply to t, or a quote of it. */
    bool reply = roll < 45;
    op->kind = reply ? OP_REPLY : OP_QUOTE;
    op->tweet = t;
    snprintf(tag, sizeof tag, "%s%d", reply ? "reply" : "quote", w->op + 1);
    random_text(text, sizeof text, tag);
    op->body = json_obj("text", text, reply ? "reply_to" : "quote_of",
                        w->tweets[t].id);
    snprintf(op->desc, sizeof op->desc, "%s %s %s on %s", name,
             reply ? "replies to" : "quotes", w->tweets[t].id, srv_name[srv]);
  } else if (roll < 55 && (t = random_alive_tweet(w, u, avoid_tweet)) >= 0) {
    op->kind = OP_EDIT;
    op->tweet = t;
    snprintf(tag, sizeof tag, "edit%d", w->op + 1);
    random_text(text, sizeof text, tag);
    op->body = json_obj("text", text, NULL, NULL);
    snprintf(op->path, sizeof op->path, "/api/tweet/%s", w->tweets[t].id);
    snprintf(op->desc, sizeof op->desc, "%s edits %s on %s", name,
             w->tweets[t].id, srv_name[srv]);
  } else if (roll < 61 && (t = random_alive_tweet(w, u, avoid_tweet)) >= 0) {
    op->kind = OP_DELETE;
    op->tweet = t;
    snprintf(op->path, sizeof op->path, "/api/tweet/%s", w->tweets[t].id);
    snprintf(op->desc, sizeof op->desc, "%s deletes %s on %s", name,
             w->tweets[t].id, srv_name[srv]);
  } else if (roll < 72 && (t = random_alive_tweet(w, -1, avoid_tweet)) >= 0) {
    op->kind = rnd_below(3) ? OP_LIKE : OP_UNLIKE;
    op->tweet = t;
    snprintf(op->path, sizeof op->path, "/api/tweet/%s/like", w->tweets[t].id);
    snprintf(op->desc, sizeof op->desc, "%s %s %s on %s", name,
             op->kind == OP_LIKE ? "likes" : "unlikes", w->tweets[t].id,
             srv_name[srv]);
  } else if (roll < 80 && (t = random_alive_tweet(w, -1, avoid_tweet)) >= 0) {
    op->kind = rnd_below(3) ? OP_REPOST : OP_UNREPOST;
    op->tweet = t;
    snprintf(op->path, sizeof op->path, "/api/tweet/%s/repost",
             w->tweets[t].id);
    snprintf(op->desc, sizeof op->desc, "%s %s %s on %s", name,
             op->kind == OP_REPOST ? "reposts" : "unreposts", w->tweets[t].id,
             srv_name[srv]);
  } else if (roll < 89) {
    op->kind = rnd_below(5) < 3 ? OP_FOLLOW : OP_UNFOLLOW;
    op->target = (u + 1 + rnd_below(N_USERS - 1)) % N_USERS;
    snprintf(op->path, sizeof op->path, "/api/users/%s/follow",
             w->users[op->target].name);
    snprintf(op->desc, sizeof op->desc, "%s %s %s on %s", name,
             op->kind == OP_FOLLOW ? "follows" : "unfollows",
             w->users[op->target].name, srv_name[srv]);
  } else if (roll < 94) {
    op->kind = OP_RENAME;
    char display[256];
    random_display_name(display, sizeof display, w->op + 1);
    op->body = json_obj("display_name", display, NULL, NULL);
    snprintf(op->desc, sizeof op->desc, "%s changes display name on %s", name,
             srv_name[srv]);
  } else if (n_in > 3) {
    op->kind = OP_LOGOUT;
    snprintf(op->desc, sizeof op->desc, "%s logs out on %s", name,
             srv_name[srv]);
  } else {
    op->kind = OP_LOGOUT_LOGIN;
    op->srv2 = srv == SA ? SB : SA;
    snprintf(op->desc, sizeof op->desc, "%s logs out on %s and in again on %s",
             name, srv_name[srv], srv_name[op->srv2]);
  }
}

/* After the operation ran: its failure fails the test; the world learns
 * what it did. */
static void finish_op(world_t *w, op_t *op) {
  if (op->fail[0]) {
    fprintf(stderr, "operation %d (%s): %s\n", w->op, op->desc, op->fail);
  }
  assert_true(op->fail[0] == '\0');
  rm_user_t *user = &w->users[op->user];
  switch (op->kind) {
  case OP_TWEET:
  case OP_REPLY:
  case OP_QUOTE:
    assert_int_equal(strlen(op->new_id), 24);
    if (w->n_tweets < MAX_TWEETS) {
      rm_tweet_t *t = &w->tweets[w->n_tweets++];
      bson_strncpy(t->id, op->new_id, sizeof t->id);
      t->author = op->user;
      t->alive = true;
    }
    break;
  case OP_DELETE:
    w->tweets[op->tweet].alive = false;
    break;
  case OP_LOGOUT:
    user_sessions_close(user);
    break;
  case OP_LOGOUT_LOGIN:
  case OP_LOGIN:
    user_sessions_open(user, op->new_token);
    break;
  default:
    break;
  }
  bson_free(op->body);
  op->body = NULL;
}

/* Two operations at once, one on A and one on B; their users into
 * actors. */
static void run_pair(world_t *w, int actors[2]) {
  op_t ops[2];
  int first = rnd_below(2) ? SA : SB;
  plan_op(w, &ops[0], first, NULL);
  plan_op(w, &ops[1], first == SA ? SB : SA, &ops[0]);
  for (int i = 0; i < 2; i++) {
    assert_int_equal(pthread_create(&ops[i].thread, NULL, op_main, &ops[i]), 0);
  }
  for (int i = 0; i < 2; i++) {
    pthread_join(ops[i].thread, NULL);
  }
  snprintf(w->last_op, sizeof w->last_op, "%s || %s", ops[0].desc, ops[1].desc);
  w->op += 2;
  for (int i = 0; i < 2; i++) {
    finish_op(w, &ops[i]);
    actors[i] = ops[i].user;
  }
}

/* Stops D (SIGTERM, exit 0) and starts it again: it loads the model from
 * a database with users, follows, likes and tweets it only saw as events
 * (its lists trimmed at load this time), while the workload goes on at
 * once (reads fall back to the database until it is loaded; events that
 * come during the load are replayed). */
static void restart_d(world_t *w) {
  g_d_memory1 = (long long)tc_metric(
      g_url[SD], "chorus_model_reads_total{source=\"memory\"}");
  g_d_database1 = (long long)tc_metric(
      g_url[SD], "chorus_model_reads_total{source=\"database\"}");
  assert_true(stop_one(&g_d));
  assert_true(tc_server_start(&g_d));
  assert_string_equal(g_d.url, g_url[SD]);
  bson_strncpy(w->last_op, "D restarted", sizeof w->last_op);
  fprintf(stderr, "server D restarted after %d operations\n", w->op);
}

/* Starts E (the default model) on the same database: it loads everything
 * there is while the workload goes on, and is compared from then on. */
static void start_e(world_t *w) {
  assert_true(tc_server_start(&g_e));
  bson_strncpy(g_url[SE], g_e.url, sizeof g_url[SE]);
  w->anon[SE] = tc_client_new(g_url[SE]);
  for (int u = 0; u < N_USERS; u++) {
    if (logged_in(&w->users[u])) {
      w->users[u].c[SE] = tc_client_with_session(g_url[SE], w->users[u].token);
    }
  }
  fprintf(stderr, "server E started after %d operations\n", w->op);
}

static uint64_t seed_from_env(void) {
  const char *s = getenv("CHORUS_TEST_SEED");
  if (s && *s) {
    return strtoull(s, NULL, 10);
  }
  return ((uint64_t)time(NULL) << 20) ^ (uint64_t)getpid();
}

/* ---- tests ---- */

/* A session used on every server (so cached where there is a model) and
 * then ended on A, or on B, is refused on every server at once. */
static void test_logout_ends_cached_sessions(void **state) {
  (void)state;
  world_t *w = bson_malloc0(sizeof *w);
  tc_client_t *c = tc_new_user(g_url[SA], "rmlo", w->users[0].name);
  tc_client_destroy(c);
  for (int round = 0; round < 4; round++) {
    op_t op;
    memset(&op, 0, sizeof op);
    op.w = w;
    op.user = 0;
    run_login(&op, round % 2 ? SB : SA);
    assert_string_equal(op.fail, "");
    user_sessions_open(&w->users[0], op.new_token);
    op.srv = round / 2 ? SB : SA; /* logged in on A/B, out on A/B */
    run_logout(&op);
    if (op.fail[0]) {
      fprintf(stderr, "round %d: %s\n", round, op.fail);
    }
    assert_string_equal(op.fail, "");
    user_sessions_close(&w->users[0]);
  }
  bson_free(w);
}

/* The item of tweet id in user's first feed page as the database (C)
 * answers it, every server answering the same: its reposter (NULL: the
 * tweet itself); asserts the tweet is there exactly once. */
static const char *once_in_feed(world_t *w, int user, const char *id,
                                char by[31]) {
  tc_response_t ref;
  compare(w, user, FEED "?limit=50", &ref);
  int at = -1, n = tc_json_array_len(&ref, "items");
  for (int i = 0; i < n; i++) {
    if (!strcmp(tc_item_str(&ref, i, "id"), id)) {
      assert_int_equal(at, -1); /* once */
      at = i;
    }
  }
  assert_true(at >= 0);
  const char *who = tc_item_is_null(&ref, at, "reposted_by")
                        ? NULL
                        : tc_item_str(&ref, at, "reposted_by.username");
  if (who) {
    bson_strncpy(by, who, 31);
  }
  tc_response_free(&ref);
  return who ? by : NULL;
}

/* A tweet of one followee reposted by two others, one on A and one on B,
 * and by the follower: one item of the follower's feed, the newest
 * repost, and as reposts go the one before, then the tweet itself; every
 * server answers as the database does, at every limit over every page. */
static void test_a_tweet_is_one_item_of_a_feed(void **state) {
  (void)state;
  world_t *w = bson_malloc0(sizeof *w);
  bson_strncpy(w->last_op, "reposts of one tweet", sizeof w->last_op);
  for (int u = 0; u < 4; u++) {
    char token[128];
    tc_new_session(g_url[u % 2 ? SB : SA], "rmone", w->users[u].name, token,
                   sizeof token);
    user_sessions_open(&w->users[u], token);
  }
  for (int u = 0; u < 3; u++) { /* 3 follows 0, 1 and 2 */
    tc_follow(w->users[3].c[SA], w->users[u].name);
  }
  char id[25], other[25], path[96], by[31];
  tc_post_tweet(w->users[0].c[SA], "once only", id);
  tc_post_tweet(w->users[1].c[SB], "in between", other);
  snprintf(path, sizeof path, "/api/tweet/%s/repost", id);
  const int reposters[] = {1, 2, 3}; /* in this order */
  for (int i = 0; i < 3; i++) {
    tc_response_t r;
    tc_post_empty(w->users[reposters[i]].c[i % 2 ? SB : SA], path, &r);
    tc_assert_status(&r, 200);
    tc_response_free(&r);
    assert_string_equal(once_in_feed(w, 3, id, by),
                        w->users[reposters[i]].name);
  }
  for (int l = 0; l < 3; l++) {
    check_list(w, 3, FEED, limits[l], 4);
  }
  /* Unreposted, newest first: the repost before is the item, then the
   * tweet itself. */
  for (int i = 2; i >= 0; i--) {
    tc_response_t r;
    tc_send(w->users[reposters[i]].c[i % 2 ? SA : SB], "DELETE", path, NULL,
            &r);
    tc_assert_status(&r, 200);
    tc_response_free(&r);
    const char *now = once_in_feed(w, 3, id, by);
    if (i > 0) {
      assert_string_equal(now, w->users[reposters[i - 1]].name);
    } else {
      assert_null(now);
    }
    for (int l = 0; l < 3; l++) {
      check_list(w, 3, FEED, limits[l], 4);
    }
  }
  for (int u = 0; u < 4; u++) {
    user_sessions_close(&w->users[u]);
  }
  bson_free(w);
}

static void test_workload_matches_database(void **state) {
  (void)state;
  static world_t w;
  memset(&w, 0, sizeof w);
  uint64_t seed = seed_from_env();
  g_rng = seed ? seed : 1;
  fprintf(stderr, "workload seed: CHORUS_TEST_SEED=%llu\n",
          (unsigned long long)seed);
  int64_t t0 = tc_now_ms();
  for (int k = 0; k < N_SRV; k++) {
    if (g_url[k][0]) {
      w.anon[k] = tc_client_new(g_url[k]);
    }
  }
  /* Users, half registered on A and half on B; a follow graph. */
  for (int u = 0; u < N_USERS; u++) {
    int srv = u % 2 ? SB : SA;
    char token[128];
    tc_new_session(g_url[srv], "rm", w.users[u].name, token, sizeof token);
    user_sessions_open(&w.users[u], token);
  }
  bson_strncpy(w.last_op, "setting up", sizeof w.last_op);
  for (int u = 0; u < N_USERS - 1; u++) { /* the last one follows nobody */
    for (int i = 1; i <= 2; i++) {
      tc_follow(w.users[u].c[u % 2 ? SA : SB], w.users[(u + i) % N_USERS].name);
    }
  }
  int64_t writing_ms = 0;
  for (int pair = 1; pair <= N_PAIRS; pair++) {
    if (pair == RESTART_D_AT) {
      restart_d(&w);
      start_e(&w);
    }
    int64_t t1 = tc_now_ms();
    int actors[2];
    run_pair(&w, actors);
    writing_ms += tc_now_ms() - t1;
    /* Read at once, no waiting: the feed of one of the users who acted,
     * or the timeline as the other; every CHECK_ALL_EVERY pairs, every
     * user's, at a limit that changes each time; at the end all of it. */
    int i = rnd_below(2);
    check_list(&w, actors[i],
               i == 0         ? FEED
               : rnd_below(2) ? TIMELINE
                              : tag_lists[rnd_below(N_TAGS)],
               random_limit(), 1);
    if (pair % CHECK_ALL_EVERY == 0) {
      check_all(&w, (pair / CHECK_ALL_EVERY) % 3);
    }
  }
  /* D is back and loaded long since (a database this small loads in
   * milliseconds): a bounded wait, not a retry. */
  assert_true(wait_model_ready("D", g_url[SD]));
  assert_true(wait_model_ready("E", g_url[SE]));
  full_check(&w);
  int alive = 0;
  for (int i = 0; i < w.n_tweets; i++) {
    alive += w.tweets[i].alive;
  }
  fprintf(stderr,
          "%d operations (%.1f s), %d tweets posted (%d left), %ld answers "
          "compared with the database's (%.1f s); %.1f s in all\n",
          w.op, (double)writing_ms / 1000.0, w.n_tweets, alive, w.compared,
          (double)w.read_ms / 1000.0, (double)(tc_now_ms() - t0) / 1000.0);
  for (int u = 0; u < N_USERS; u++) {
    user_sessions_close(&w.users[u]);
  }
  for (int k = 0; k < N_SRV; k++) {
    if (w.anon[k]) {
      tc_client_destroy(w.anon[k]);
    }
  }
}

/* The model answered on A, D and E, D (tiny) declined some reads, and C
 * has no model. */
static void test_metrics_show_both_paths(void **state) {
  (void)state;
  long long a_memory = (long long)tc_metric(
      g_url[SA], "chorus_model_reads_total{source=\"memory\"}");
  long long d_memory = (long long)tc_metric(
      g_url[SD], "chorus_model_reads_total{source=\"memory\"}");
  long long d_database = (long long)tc_metric(
      g_url[SD], "chorus_model_reads_total{source=\"database\"}");
  assert_true(g_url[SE][0] != '\0'); /* the workload test started it */
  long long e_memory = (long long)tc_metric(
      g_url[SE], "chorus_model_reads_total{source=\"memory\"}");
  fprintf(stderr,
          "reads from memory on A: %lld -> %lld; on D before its restart: "
          "%lld from memory, %lld -> %lld from the database; after: %lld "
          "and %lld; on E: %lld from memory\n",
          g_a_memory0, a_memory, g_d_memory1, g_d_database0, g_d_database1,
          d_memory, d_database, e_memory);
  assert_true(g_a_memory0 >= 0 && g_d_database0 >= 0);
  assert_true(a_memory > g_a_memory0);
  /* The restart happened (the workload test ran) and both D's declined
   * some pages and answered others. */
  assert_true(g_d_memory1 > 0 && g_d_database1 > g_d_database0);
  assert_true(d_memory > 0 && d_database > 0);
  assert_true(e_memory > 0);
  tc_response_t r;
  get_metrics(g_url[SC], &r);
  double v = 0;
  bool has_ready = tc_metric_in(r.body, "chorus_model_ready", &v);
  bool has_memory =
      tc_metric_in(r.body, "chorus_model_reads_total{source=\"memory\"}", &v);
  if (has_ready || (has_memory && v != 0)) {
    fprintf(stderr, "server C (--read-model 0) shows a read model:\n%s\n",
            r.body);
  }
  assert_false(has_ready);
  assert_true(!has_memory || v == 0);
  tc_response_free(&r);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_logout_ends_cached_sessions),
      cmocka_unit_test(test_a_tweet_is_one_item_of_a_feed),
      cmocka_unit_test(test_workload_matches_database),
      cmocka_unit_test(test_metrics_show_both_paths),
  };
  return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
