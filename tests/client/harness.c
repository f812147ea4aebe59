/*
 * harness.c - see harness.h.
 */
#include "tests/client/harness.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "sync/base/db.h"
#include "sync/txn/shards.h"
#include "sync/txn/store_mongo.h"
#include "tests/client/testclient.h"

int64_t tc_now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t tc_wall_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void tc_sleep_ms(int ms) {
  struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
}

int tc_free_port(void) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a;
  memset(&a, 0, sizeof a);
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof a) != 0 ||
      getsockname(fd, (struct sockaddr *)&a, &len) != 0) {
    fail_msg("cannot find a free port: %s", strerror(errno));
  }
  int port = ntohs(a.sin_port);
  close(fd);
  return port;
}

void tc_server_init(tc_server_t *s, const char *id, const char *db) {
  memset(s, 0, sizeof *s);
  s->port = tc_free_port();
  do {
    s->ws_port = tc_free_port();
  } while (s->ws_port == s->port);
  snprintf(s->url, sizeof s->url, "http://127.0.0.1:%d", s->port);
  bson_strncpy(s->id, id, sizeof s->id);
  bson_strncpy(s->db, db, sizeof s->db);
  s->shards = 4;
  const char *dir = getenv("CHORUS_TEST_LOG_DIR");
  snprintf(s->log, sizeof s->log, "%s/chorusd-%s-%s.log", dir ? dir : "/tmp",
           db, id);
}

/* The last 30 lines of the file at path, on stderr. */
static void print_file_tail(const char *path) {
  char cmd[400];
  snprintf(cmd, sizeof cmd, "tail -n 30 '%s' >&2", path);
  if (system(cmd) != 0) {
    fprintf(stderr, "(no file %s)\n", path);
  }
}

/* Polls GET base/healthz until it answers 200 (true), or the child *pid
 * exits (*pid set to 0) or timeout_ms pass (false). */
static bool child_answers(const char *base, pid_t *pid, int timeout_ms) {
  tc_client_t *c = tc_client_new(base);
  tc_client_set_timeout_ms(c, 1000);
  bool up = false;
  for (int64_t until = tc_now_ms() + timeout_ms; !up && tc_now_ms() < until;) {
    tc_response_t r;
    up = tc_try_request(c, "GET", "/healthz", NULL, 0, NULL, &r) &&
         r.status == 200;
    tc_response_free(&r);
    int status;
    if (!up && waitpid(*pid, &status, WNOHANG) == *pid) {
      *pid = 0;
      break;
    }
    if (!up) {
      tc_sleep_ms(50);
    }
  }
  tc_client_destroy(c);
  return up;
}

bool tc_server_start(tc_server_t *s) {
  const char *bin = tc_env("CHORUS_TEST_CHORUSD");
  const char *uri = tc_env("CHORUS_TEST_MONGO_URI");
  char port[16], ws_port[16], shards[16];
  snprintf(port, sizeof port, "%d", s->port);
  snprintf(ws_port, sizeof ws_port, "%d", s->ws_port);
  snprintf(shards, sizeof shards, "%d", s->shards);
  char *argv[40];
  int argc = 0;
  argv[argc++] = (char *)bin;
  argv[argc++] = "--port";
  argv[argc++] = port;
  argv[argc++] = "--ws-port";
  argv[argc++] = ws_port;
  argv[argc++] = "--server-id";
  argv[argc++] = s->id;
  argv[argc++] = "--mongo-uri";
  argv[argc++] = (char *)uri;
  argv[argc++] = "--db";
  argv[argc++] = s->db;
  argv[argc++] = "--shards";
  argv[argc++] = shards;
  argv[argc++] = "--threads";
  argv[argc++] = "8";
  if (s->failpoint[0]) {
    argv[argc++] = "--test-failpoint";
    argv[argc++] = s->failpoint;
  }
  char extra[sizeof s->extra];
  bson_strncpy(extra, s->extra, sizeof extra);
  char *save = NULL;
  for (char *w = strtok_r(extra, " ", &save); w && argc < 38;
       w = strtok_r(NULL, " ", &save)) {
    argv[argc++] = w;
  }
  argv[argc] = NULL;

  pid_t pid = fork();
  if (pid == 0) {
    FILE *log = freopen(s->log, "a", stderr);
    if (log) {
      dup2(fileno(log), 1);
    }
    execv(bin, argv);
    _exit(127);
  }
  s->pid = pid;
  if (child_answers(s->url, &s->pid, 20000)) {
    return true;
  }
  fprintf(stderr, "chorusd %s did not start; its log:\n", s->id);
  print_file_tail(s->log);
  return false;
}

int tc_server_kill(tc_server_t *s, int sig) {
  int status = 0;
  if (s->pid > 0) {
    kill(s->pid, sig);
    waitpid(s->pid, &status, 0);
    s->pid = 0;
  }
  return status;
}

int tc_server_wait_exit(tc_server_t *s, int timeout_ms) {
  for (int64_t until = tc_now_ms() + timeout_ms; s->pid > 0;) {
    int status;
    if (waitpid(s->pid, &status, WNOHANG) == s->pid) {
      s->pid = 0;
      return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    }
    if (tc_now_ms() >= until) {
      return -1;
    }
    tc_sleep_ms(20);
  }
  return -1;
}

/* Pairs still running (tc_pairs_stop_all). */
static tc_pair_t *pairs_running[16];

void tc_pair_start(tc_pair_t *p, const char *prefix, const char *tag,
                   const char *extra) {
  snprintf(p->db, sizeof p->db, "%s_%s_%d", prefix, tag, (int)getpid());
  for (int i = 0; i < 2; i++) {
    char id[32];
    snprintf(id, sizeof id, "%s_%c", tag, i ? 'b' : 'a');
    tc_server_init(&p->s[i], id, p->db);
    bson_strncpy(p->s[i].extra, extra, sizeof p->s[i].extra);
  }
  for (size_t k = 0; k < sizeof pairs_running / sizeof pairs_running[0]; k++) {
    if (!pairs_running[k]) {
      pairs_running[k] = p;
      break;
    }
  }
  for (int i = 0; i < 2; i++) {
    assert_true(tc_server_start(&p->s[i]));
  }
}

void tc_pair_stop(tc_pair_t *p) {
  for (size_t k = 0; k < sizeof pairs_running / sizeof pairs_running[0]; k++) {
    if (pairs_running[k] == p) {
      pairs_running[k] = NULL;
    }
  }
  for (int i = 0; i < 2; i++) {
    tc_server_kill(&p->s[i], SIGTERM);
  }
  tc_db_t db;
  tc_db_open(&db, NULL, p->db);
  tc_db_drop(&db);
  tc_db_close(&db);
}

void tc_pairs_stop_all(void) {
  for (size_t k = 0; k < sizeof pairs_running / sizeof pairs_running[0]; k++) {
    if (pairs_running[k]) {
      tc_pair_stop(pairs_running[k]);
    }
  }
}

void tc_db_open(tc_db_t *d, const char *uri, const char *name) {
  static bool initialised;
  if (!initialised) {
    mongoc_init();
    db_log_init();
    initialised = true;
  }
  memset(d, 0, sizeof *d);
  d->client = mongoc_client_new(uri ? uri : tc_env("CHORUS_TEST_MONGO_URI"));
  assert_non_null(d->client);
  bson_strncpy(d->name, name, sizeof d->name);
  d->db = mongoc_client_get_database(d->client, name);
}

void tc_db_close(tc_db_t *d) {
  if (d->db) {
    mongoc_database_destroy(d->db);
    mongoc_client_destroy(d->client);
  }
  memset(d, 0, sizeof *d);
}

void tc_db_drop(tc_db_t *d) {
  bson_error_t err;
  mongoc_database_drop(d->db, &err);
}

bool tc_db_is_ferretdb(tc_db_t *d) {
  bson_t *cmd = BCON_NEW("buildInfo", BCON_INT32(1));
  bson_t reply;
  bson_error_t err;
  if (!mongoc_client_command_simple(d->client, "admin", cmd, NULL, &reply,
                                    &err)) {
    fail_msg("buildInfo: %s", err.message);
  }
  bson_iter_t it;
  bool ferretdb = bson_iter_init_find(&it, &reply, "ferretdbVersion");
  bson_destroy(&reply);
  bson_destroy(cmd);
  return ferretdb;
}

int64_t tc_db_count(tc_db_t *d, const char *coll_name, const bson_t *filter) {
  mongoc_collection_t *coll = mongoc_database_get_collection(d->db, coll_name);
  bson_error_t err;
  bson_t empty = BSON_INITIALIZER;
  int64_t n = mongoc_collection_count_documents(coll, filter ? filter : &empty,
                                                NULL, NULL, NULL, &err);
  if (n < 0) {
    fail_msg("count %s.%s: %s", d->name, coll_name, err.message);
  }
  mongoc_collection_destroy(coll);
  return n;
}

/* One minute's open markers: the ids to look for among its records. */
typedef struct marker_minute {
  char coll[STORE_MONGO_LOG_COLL_LEN];
  bson_t ids; /* an array */
  uint32_t n;
} marker_minute_t;

int64_t tc_db_unfinished_txns(tc_db_t *d) {
  /* Not done and still with its open marker: a group's finish deletes
   * the marker only (docs/SYNC.md §3).  Each marker's record is in the
   * log's collection of its minute; the records of a minute are counted
   * in one command (a FerretDB count reads the whole collection: one per
   * marker made this check take seconds after an outage, while recovery
   * waited behind it). */
  mongoc_collection_t *open = mongoc_database_get_collection(d->db, "txn_open");
  bson_t filter = BSON_INITIALIZER;
  bson_t *opts = BCON_NEW("projection", "{", "_id", BCON_INT32(1), "}");
  mongoc_cursor_t *cursor =
      mongoc_collection_find_with_opts(open, &filter, opts, NULL);
  const bson_t *marker;
  marker_minute_t minutes[64];
  size_t n_minutes = 0;
  bson_iter_t it;
  while (mongoc_cursor_next(cursor, &marker)) {
    if (!bson_iter_init_find(&it, marker, "_id") ||
        !BSON_ITER_HOLDS_UTF8(&it)) {
      continue;
    }
    const char *id = bson_iter_utf8(&it, NULL);
    char coll[STORE_MONGO_LOG_COLL_LEN];
    store_mongo_log_coll(STORE_MONGO_RECORDS, id, coll);
    size_t m = 0;
    while (m < n_minutes && strcmp(minutes[m].coll, coll) != 0) {
      m++;
    }
    if (m == n_minutes) {
      assert_true(n_minutes < sizeof minutes / sizeof *minutes);
      bson_strncpy(minutes[m].coll, coll, sizeof minutes[m].coll);
      bson_init(&minutes[m].ids);
      minutes[m].n = 0;
      n_minutes++;
    }
    char key[16];
    const char *k;
    bson_uint32_to_string(minutes[m].n++, &k, key, sizeof key);
    BSON_APPEND_UTF8(&minutes[m].ids, k, id);
  }
  bson_error_t err;
  if (mongoc_cursor_error(cursor, &err)) {
    fail_msg("read %s.txn_open: %s", d->name, err.message);
  }
  mongoc_cursor_destroy(cursor);
  bson_destroy(opts);
  mongoc_collection_destroy(open);
  int64_t n = 0;
  for (size_t m = 0; m < n_minutes; m++) {
    bson_t rec = BSON_INITIALIZER, in;
    BSON_APPEND_DOCUMENT_BEGIN(&rec, "_id", &in);
    BSON_APPEND_ARRAY(&in, "$in", &minutes[m].ids);
    bson_append_document_end(&rec, &in);
    BSON_APPEND_BOOL(&rec, "done", false);
    n += tc_db_count(d, minutes[m].coll, &rec);
    bson_destroy(&rec);
    bson_destroy(&minutes[m].ids);
  }
  return n;
}

int64_t tc_db_count_logs(tc_db_t *d, store_mongo_log_t which,
                         const bson_t *filter) {
  char base[STORE_MONGO_LOG_COLL_LEN], coll[STORE_MONGO_LOG_COLL_LEN];
  store_mongo_log_coll(which, "", base); /* "<base>_0" */
  base[strlen(base) - 1] = '\0';         /* "<base>_" */
  bson_error_t err;
  char **names =
      mongoc_database_get_collection_names_with_opts(d->db, NULL, &err);
  if (!names) {
    fail_msg("list %s: %s", d->name, err.message);
  }
  int64_t n = 0;
  for (size_t i = 0; names[i]; i++) {
    const char *digits = names[i] + strlen(base);
    if (!strncmp(names[i], base, strlen(base)) && *digits &&
        strspn(digits, "0123456789") == strlen(digits)) {
      snprintf(coll, sizeof coll, "%s", names[i]);
      n += tc_db_count(d, coll, filter);
    }
  }
  bson_strfreev(names);
  return n;
}

/* tc_db_count of the log's collection `which` holding txn_id's
 * (store_mongo_log_coll), with filter (NULL: all). */
int64_t tc_db_count_log(tc_db_t *d, store_mongo_log_t which, const char *txn_id,
                        const bson_t *filter) {
  char coll[STORE_MONGO_LOG_COLL_LEN];
  store_mongo_log_coll(which, txn_id, coll);
  return tc_db_count(d, coll, filter);
}

int64_t tc_db_locked_docs(tc_db_t *d, int n_shards, tc_db_t **dbs) {
  bson_t *filter = BCON_NEW("_txn", "{", "$exists", BCON_BOOL(true), "}");
  int64_t n = tc_db_count(d, "users", filter);
  for (int k = 0; k < n_shards; k++) {
    char coll[SHARDS_COLL_LEN];
    shards_tweet_coll(k, coll);
    n += tc_db_count(dbs && dbs[k] ? dbs[k] : d, coll, filter);
  }
  bson_destroy(filter);
  return n;
}

int tc_db_tweet_count_mismatches(tc_db_t *d, int n_shards, tc_db_t **dbs) {
  mongoc_collection_t *users = mongoc_database_get_collection(d->db, "users");
  bson_t empty = BSON_INITIALIZER;
  mongoc_cursor_t *cursor =
      mongoc_collection_find_with_opts(users, &empty, NULL, NULL);
  const bson_t *doc;
  int bad = 0;
  while (mongoc_cursor_next(cursor, &doc)) {
    bson_iter_t it;
    const bson_oid_t *id = NULL;
    int64_t stored = 0;
    if (bson_iter_init_find(&it, doc, "_id") && BSON_ITER_HOLDS_OID(&it)) {
      id = bson_iter_oid(&it);
    }
    if (bson_iter_init_find(&it, doc, "tweet_count")) {
      stored = bson_iter_as_int64(&it);
    }
    if (!id) {
      continue;
    }
    bson_t *filter = BCON_NEW("author_id", BCON_OID(id));
    int64_t actual = 0;
    for (int k = 0; k < n_shards; k++) {
      char coll[SHARDS_COLL_LEN];
      shards_tweet_coll(k, coll);
      actual += tc_db_count(dbs && dbs[k] ? dbs[k] : d, coll, filter);
    }
    bson_destroy(filter);
    if (actual != stored) {
      char hex[25];
      bson_oid_to_string(id, hex);
      fprintf(stderr, "user %s: tweet_count %lld but %lld tweets\n", hex,
              (long long)stored, (long long)actual);
      bad++;
    }
  }
  bson_error_t err;
  if (mongoc_cursor_error(cursor, &err)) {
    fail_msg("scan users: %s", err.message);
  }
  mongoc_cursor_destroy(cursor);
  mongoc_collection_destroy(users);
  return bad;
}

/* ---- social counters (follows, likes, replies) ---- */

int64_t tc_db_locked_in(tc_db_t *d, const char *coll) {
  bson_t *filter = BCON_NEW("_txn", "{", "$exists", BCON_BOOL(true), "}");
  int64_t n = tc_db_count(d, coll, filter);
  bson_destroy(filter);
  return n;
}

/* The databases a two-phase commit writes: the main one and the shards'
 * (dbs as in tc_db_locked_docs). */
typedef struct txn_dbs {
  tc_db_t *d;
  int n_shards;
  tc_db_t **dbs;
} txn_dbs_t;

/* No transaction is unfinished and no user or tweet is locked. */
static bool finished_now(const txn_dbs_t *t) {
  return tc_db_unfinished_txns(t->d) == 0 &&
         tc_db_locked_docs(t->d, t->n_shards, t->dbs) == 0;
}

/* finished_now, and no follow, like or notification carries a staged
 * change and no lock document (sync/store_mongo.c) is left in any
 * database. */
static bool settled_now(const txn_dbs_t *t) {
  static const char *const colls[] = {"follows", "likes", "notifications"};
  bool settled = finished_now(t);
  for (size_t i = 0; settled && i < sizeof colls / sizeof colls[0]; i++) {
    settled = tc_db_locked_in(t->d, colls[i]) == 0;
  }
  settled = settled && tc_db_count(t->d, "locks", NULL) == 0;
  for (int k = 0; settled && t->dbs && k < t->n_shards; k++) {
    settled = !t->dbs[k] || tc_db_count(t->dbs[k], "locks", NULL) == 0;
  }
  return settled;
}

/* Polls holds(t) every 50 ms until it is true (true) or timeout_ms pass
 * (false). */
static bool wait_until(bool (*holds)(const txn_dbs_t *), const txn_dbs_t *t,
                       int timeout_ms) {
  for (int64_t until = tc_now_ms() + timeout_ms;;) {
    if (holds(t)) {
      return true;
    }
    if (tc_now_ms() >= until) {
      return false;
    }
    tc_sleep_ms(50);
  }
}

bool tc_db_wait_settled(tc_db_t *d, int n_shards, tc_db_t **dbs,
                        int timeout_ms) {
  txn_dbs_t t = {d, n_shards, dbs};
  return wait_until(settled_now, &t, timeout_ms);
}

int64_t tc_db_count_tweets(tc_db_t *d, int n_shards, tc_db_t **dbs,
                           const bson_t *filter) {
  int64_t n = 0;
  for (int k = 0; k < n_shards; k++) {
    char coll[SHARDS_COLL_LEN];
    shards_tweet_coll(k, coll);
    n += tc_db_count(dbs && dbs[k] ? dbs[k] : d, coll, filter);
  }
  return n;
}

bool tc_db_user_oid(tc_db_t *d, const char *username, bson_oid_t *out) {
  char lc[64];
  size_t i;
  for (i = 0; username[i] && i < sizeof lc - 1; i++) {
    char ch = username[i];
    lc[i] = (char)(ch >= 'A' && ch <= 'Z' ? ch - 'A' + 'a' : ch);
  }
  lc[i] = '\0';
  mongoc_collection_t *users = mongoc_database_get_collection(d->db, "users");
  bson_t *filter = BCON_NEW("username_lc", BCON_UTF8(lc));
  mongoc_cursor_t *cursor =
      mongoc_collection_find_with_opts(users, filter, NULL, NULL);
  const bson_t *doc;
  bool found = false;
  if (mongoc_cursor_next(cursor, &doc)) {
    bson_iter_t it;
    if (bson_iter_init_find(&it, doc, "_id") && BSON_ITER_HOLDS_OID(&it)) {
      bson_oid_copy(bson_iter_oid(&it), out);
      found = true;
    }
  }
  bson_error_t err;
  if (mongoc_cursor_error(cursor, &err)) {
    fail_msg("find user %s: %s", username, err.message);
  }
  mongoc_cursor_destroy(cursor);
  bson_destroy(filter);
  mongoc_collection_destroy(users);
  return found;
}

/* An open-addressing map from ObjectId to four counters. */
typedef struct oid_counts {
  bson_oid_t id;
  bool used;
  int64_t n[4];
} oid_counts_t;

typedef struct oid_map {
  oid_counts_t *slots;
  size_t cap; /* a power of two */
  size_t len;
} oid_map_t;

static oid_counts_t *oid_map_slot(oid_map_t *m, const bson_oid_t *id) {
  if (2 * (m->len + 1) > m->cap) {
    oid_map_t bigger = {NULL, m->cap ? 2 * m->cap : 1024, 0};
    bigger.slots = bson_malloc0(bigger.cap * sizeof *bigger.slots);
    for (size_t i = 0; i < m->cap; i++) {
      if (m->slots[i].used) {
        *oid_map_slot(&bigger, &m->slots[i].id) = m->slots[i];
      }
    }
    bson_free(m->slots);
    *m = bigger;
  }
  size_t i = (size_t)bson_oid_hash(id) & (m->cap - 1);
  while (m->slots[i].used && !bson_oid_equal(&m->slots[i].id, id)) {
    i = (i + 1) & (m->cap - 1);
  }
  if (!m->slots[i].used) {
    m->slots[i].used = true;
    bson_oid_copy(id, &m->slots[i].id);
    m->len++;
  }
  return &m->slots[i];
}

static int64_t oid_map_get(oid_map_t *m, const bson_oid_t *id, int k) {
  return oid_map_slot(m, id)->n[k];
}

static const bson_oid_t *doc_oid(const bson_t *doc, const char *key) {
  bson_iter_t it;
  return bson_iter_init_find(&it, doc, key) && BSON_ITER_HOLDS_OID(&it)
             ? bson_iter_oid(&it)
             : NULL;
}

static int64_t doc_int(const bson_t *doc, const char *key) {
  bson_iter_t it;
  return bson_iter_init_find(&it, doc, key) && BSON_ITER_HOLDS_NUMBER(&it)
             ? bson_iter_as_int64(&it)
             : 0;
}

typedef void (*doc_fn)(const bson_t *doc, void *ctx);

static void scan(mongoc_database_t *db, const char *coll_name, doc_fn fn,
                 void *ctx) {
  mongoc_collection_t *coll = mongoc_database_get_collection(db, coll_name);
  bson_t empty = BSON_INITIALIZER;
  mongoc_cursor_t *cursor =
      mongoc_collection_find_with_opts(coll, &empty, NULL, NULL);
  const bson_t *doc;
  while (mongoc_cursor_next(cursor, &doc)) {
    fn(doc, ctx);
  }
  bson_error_t err;
  if (mongoc_cursor_error(cursor, &err)) {
    fail_msg("scan %s: %s", coll_name, err.message);
  }
  mongoc_cursor_destroy(cursor);
  mongoc_collection_destroy(coll);
}

enum { C_FOLLOWERS, C_FOLLOWING, C_TWEETS };
enum { C_LIKES, C_REPLIES, C_REPOSTS, C_QUOTES };

typedef struct recount {
  oid_map_t users;  /* C_FOLLOWERS, C_FOLLOWING, C_TWEETS */
  oid_map_t tweets; /* C_LIKES, C_REPLIES, C_REPOSTS, C_QUOTES */
  int bad;
} recount_t;

static void count_follow(const bson_t *doc, void *ctx) {
  recount_t *rc = ctx;
  const bson_oid_t *follower = doc_oid(doc, "follower_id");
  const bson_oid_t *followee = doc_oid(doc, "followee_id");
  if (follower && followee) {
    oid_map_slot(&rc->users, followee)->n[C_FOLLOWERS]++;
    oid_map_slot(&rc->users, follower)->n[C_FOLLOWING]++;
  }
}

static void count_like(const bson_t *doc, void *ctx) {
  recount_t *rc = ctx;
  const bson_oid_t *tweet = doc_oid(doc, "tweet_id");
  if (tweet) {
    oid_map_slot(&rc->tweets, tweet)->n[C_LIKES]++;
  }
}

static void count_repost(const bson_t *doc, void *ctx) {
  recount_t *rc = ctx;
  const bson_oid_t *tweet = doc_oid(doc, "tweet_id");
  if (tweet) {
    oid_map_slot(&rc->tweets, tweet)->n[C_REPOSTS]++;
  }
}

static void count_tweet(const bson_t *doc, void *ctx) {
  recount_t *rc = ctx;
  const bson_oid_t *author = doc_oid(doc, "author_id");
  const bson_oid_t *parent = doc_oid(doc, "reply_to");
  const bson_oid_t *quoted = doc_oid(doc, "quote_of");
  if (author) {
    oid_map_slot(&rc->users, author)->n[C_TWEETS]++;
  }
  if (parent) {
    oid_map_slot(&rc->tweets, parent)->n[C_REPLIES]++;
  }
  if (quoted) {
    oid_map_slot(&rc->tweets, quoted)->n[C_QUOTES]++;
  }
}

static void check_counter(recount_t *rc, const char *what, const bson_oid_t *id,
                          const char *field, int64_t stored, int64_t actual) {
  if (stored != actual) {
    char hex[25];
    bson_oid_to_string(id, hex);
    fprintf(stderr, "%s %s: %s %lld but %lld counted\n", what, hex, field,
            (long long)stored, (long long)actual);
    rc->bad++;
  }
}

static void check_user(const bson_t *doc, void *ctx) {
  recount_t *rc = ctx;
  const bson_oid_t *id = doc_oid(doc, "_id");
  if (!id) {
    return;
  }
  check_counter(rc, "user", id, "followers_count",
                doc_int(doc, "followers_count"),
                oid_map_get(&rc->users, id, C_FOLLOWERS));
  check_counter(rc, "user", id, "following_count",
                doc_int(doc, "following_count"),
                oid_map_get(&rc->users, id, C_FOLLOWING));
  check_counter(rc, "user", id, "tweet_count", doc_int(doc, "tweet_count"),
                oid_map_get(&rc->users, id, C_TWEETS));
}

static void check_tweet(const bson_t *doc, void *ctx) {
  recount_t *rc = ctx;
  const bson_oid_t *id = doc_oid(doc, "_id");
  if (!id) {
    return;
  }
  check_counter(rc, "tweet", id, "like_count", doc_int(doc, "like_count"),
                oid_map_get(&rc->tweets, id, C_LIKES));
  check_counter(rc, "tweet", id, "reply_count", doc_int(doc, "reply_count"),
                oid_map_get(&rc->tweets, id, C_REPLIES));
  check_counter(rc, "tweet", id, "repost_count", doc_int(doc, "repost_count"),
                oid_map_get(&rc->tweets, id, C_REPOSTS));
  check_counter(rc, "tweet", id, "quote_count", doc_int(doc, "quote_count"),
                oid_map_get(&rc->tweets, id, C_QUOTES));
}

int tc_db_counter_mismatches(tc_db_t *d, int n_shards, tc_db_t **dbs) {
  recount_t rc;
  memset(&rc, 0, sizeof rc);
  scan(d->db, "follows", count_follow, &rc);
  scan(d->db, "likes", count_like, &rc);
  scan(d->db, "reposts", count_repost, &rc);
  for (int k = 0; k < n_shards; k++) {
    char coll[SHARDS_COLL_LEN];
    shards_tweet_coll(k, coll);
    scan((dbs && dbs[k] ? dbs[k] : d)->db, coll, count_tweet, &rc);
  }
  scan(d->db, "users", check_user, &rc);
  for (int k = 0; k < n_shards; k++) {
    char coll[SHARDS_COLL_LEN];
    shards_tweet_coll(k, coll);
    scan((dbs && dbs[k] ? dbs[k] : d)->db, coll, check_tweet, &rc);
  }
  bson_free(rc.users.slots);
  bson_free(rc.tweets.slots);
  return rc.bad;
}

/* ---- nginx in front of chorusd servers ---- */

#include <fcntl.h>
#include <sys/prctl.h>
#include <sys/stat.h>

bool tc_nginx_find(char *path, size_t size) {
  const char *env_path = getenv("PATH");
  char dirs[4096];
  bson_strncpy(dirs, env_path ? env_path : "", sizeof dirs);
  char *save = NULL;
  for (char *d = strtok_r(dirs, ":", &save); d;
       d = strtok_r(NULL, ":", &save)) {
    char candidate[512];
    snprintf(candidate, sizeof candidate, "%s/nginx", d[0] ? d : ".");
    if (access(candidate, X_OK) == 0) {
      bson_strncpy(path, candidate, size);
      return true;
    }
  }
  if (access("/usr/sbin/nginx", X_OK) == 0) {
    bson_strncpy(path, "/usr/sbin/nginx", size);
    return true;
  }
  return false;
}

/* Appends s with every key replaced by val. */
static void append_replaced(bson_string_t *out, const char *s, const char *key,
                            const char *val) {
  size_t klen = strlen(key);
  for (const char *hit; (hit = strstr(s, key)) != NULL; s = hit + klen) {
    char *part = bson_strndup(s, (size_t)(hit - s));
    bson_string_append(out, part);
    bson_free(part);
    bson_string_append(out, val);
  }
  bson_string_append(out, s);
}

/* One template line (no newline) into out, as scripts/run.sh renders it. */
static void render_line(bson_string_t *out, const char *line,
                        const char *prefix, const char *listen,
                        const tc_server_t *servers, int n_servers) {
  const char *p = line;
  while (*p == ' ' || *p == '\t') {
    p++;
  }
  if (*p == '#') {
    bson_string_append_printf(out, "%s\n", line);
    return;
  }
  bson_string_t *a = bson_string_new("");
  append_replaced(a, line, "@PREFIX@", prefix);
  bson_string_t *b = bson_string_new("");
  append_replaced(b, a->str, "@LISTEN@", listen);
  bson_string_free(a, true);
  bool http = strstr(b->str, "@HTTP_SERVER@") != NULL;
  bool ws = strstr(b->str, "@WS_SERVER@") != NULL;
  if (!http && !ws) {
    bson_string_append_printf(out, "%s\n", b->str);
  }
  for (int k = 0; (http || ws) && k < n_servers; k++) {
    char addr[64];
    snprintf(addr, sizeof addr, "127.0.0.1:%d",
             http ? servers[k].port : servers[k].ws_port);
    append_replaced(out, b->str, http ? "@HTTP_SERVER@" : "@WS_SERVER@", addr);
    bson_string_append(out, "\n");
  }
  bson_string_free(b, true);
}

static bool render_nginx_conf(const char *template_path, const char *conf_path,
                              const char *prefix, const char *listen,
                              const tc_server_t *servers, int n_servers) {
  FILE *in = fopen(template_path, "r");
  if (!in) {
    fprintf(stderr, "cannot read %s: %s\n", template_path, strerror(errno));
    return false;
  }
  bson_string_t *out = bson_string_new("");
  char line[4096];
  while (fgets(line, sizeof line, in)) {
    line[strcspn(line, "\n")] = '\0';
    render_line(out, line, prefix, listen, servers, n_servers);
  }
  fclose(in);
  FILE *f = fopen(conf_path, "w");
  bool ok = f && fwrite(out->str, 1, out->len, f) == out->len;
  if (f && fclose(f) != 0) {
    ok = false;
  }
  if (!ok) {
    fprintf(stderr, "cannot write %s\n", conf_path);
  }
  bson_string_free(out, true);
  return ok;
}

void tc_nginx_init(tc_nginx_t *n) {
  memset(n, 0, sizeof *n);
  n->port = tc_free_port();
  snprintf(n->url, sizeof n->url, "http://127.0.0.1:%d", n->port);
}

bool tc_nginx_start(tc_nginx_t *n, const char *template_path,
                    const tc_server_t *servers, int n_servers) {
  if (n->port == 0) {
    tc_nginx_init(n);
  }
  n->pid = 0;
  char bin[512];
  if (!tc_nginx_find(bin, sizeof bin)) {
    fprintf(stderr, "nginx not found on PATH or at /usr/sbin/nginx "
                    "(scripts/deps.sh installs it)\n");
    return false;
  }
  const char *dir = getenv("CHORUS_TEST_LOG_DIR");
  snprintf(n->prefix, sizeof n->prefix, "%s/nginx-%d-%d", dir ? dir : "/tmp",
           (int)getpid(), n->port);
  char logs[300], tmp[300], conf[300], error_log[320], stderr_log[320];
  snprintf(logs, sizeof logs, "%s/logs", n->prefix);
  snprintf(tmp, sizeof tmp, "%s/tmp", n->prefix);
  snprintf(conf, sizeof conf, "%s/nginx.conf", n->prefix);
  snprintf(error_log, sizeof error_log, "%s/error.log", logs);
  snprintf(stderr_log, sizeof stderr_log, "%s/stderr.log", logs);
  if ((mkdir(n->prefix, 0755) != 0 && errno != EEXIST) ||
      (mkdir(logs, 0755) != 0 && errno != EEXIST) ||
      (mkdir(tmp, 0755) != 0 && errno != EEXIST)) {
    fprintf(stderr, "cannot create %s: %s\n", n->prefix, strerror(errno));
    return false;
  }
  char listen[32];
  snprintf(listen, sizeof listen, "127.0.0.1:%d", n->port);
  if (!render_nginx_conf(template_path, conf, n->prefix, listen, servers,
                         n_servers)) {
    return false;
  }

  char *argv[] = {bin,  "-p",      n->prefix, "-c",          conf,
                  "-e", error_log, "-g",      "daemon off;", NULL};
  pid_t parent = getpid();
  pid_t pid = fork();
  if (pid == 0) {
    /* nginx must not outlive a test that crashed or was killed. */
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (getppid() != parent) {
      _exit(1);
    }
    int fd = open(stderr_log, O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (fd >= 0) {
      dup2(fd, 1);
      dup2(fd, 2);
      close(fd);
    }
    execv(bin, argv);
    _exit(127);
  }
  if (pid < 0) {
    fprintf(stderr, "fork: %s\n", strerror(errno));
    return false;
  }
  n->pid = pid;
  if (child_answers(n->url, &n->pid, 10000)) {
    return true;
  }
  fprintf(stderr, "nginx (%s) did not come up on port %d; its logs:\n", conf,
          n->port);
  print_file_tail(stderr_log);
  print_file_tail(error_log);
  tc_nginx_stop(n);
  return false;
}

void tc_nginx_stop(tc_nginx_t *n) {
  if (n->pid <= 0) {
    return;
  }
  kill(n->pid, SIGTERM);
  int status;
  for (int64_t until = tc_now_ms() + 5000;;) {
    if (waitpid(n->pid, &status, WNOHANG) == n->pid) {
      break;
    }
    if (tc_now_ms() >= until) {
      kill(n->pid, SIGKILL);
      waitpid(n->pid, &status, 0);
      break;
    }
    tc_sleep_ms(20);
  }
  n->pid = 0;
}

/* ---- a database server of the test's own ---- */

void tc_dbserver_init(tc_dbserver_t *d, const char *name) {
  memset(d, 0, sizeof *d);
  d->port = tc_free_port();
  const char *dir = getenv("CHORUS_TEST_LOG_DIR");
  snprintf(d->dir, sizeof d->dir, "%s/%s-%d", dir ? dir : "/tmp", name,
           d->port);
}

int tc_dbserver_run(const tc_dbserver_t *d, const char *verb) {
  char cmd[512];
  snprintf(cmd, sizeof cmd, "bash '%s' %s --port %d --dir '%s' >&2",
           tc_env("CHORUS_TEST_MONGO_SETUP"), verb, d->port, d->dir);
  return system(cmd);
}

void tc_dbserver_start(tc_dbserver_t *d) {
  assert_int_equal(tc_dbserver_run(d, "start"), 0);
  char cmd[512];
  snprintf(cmd, sizeof cmd, "bash '%s' uri --port %d --dir '%s'",
           tc_env("CHORUS_TEST_MONGO_SETUP"), d->port, d->dir);
  FILE *p = popen(cmd, "r");
  assert_non_null(p);
  assert_non_null(fgets(d->uri, sizeof d->uri, p));
  pclose(p);
  d->uri[strcspn(d->uri, "\r\n")] = '\0';
}

/* ---- the end of two-phase commits ---- */

bool tc_db_wait_finished(tc_db_t *d, int n_shards, tc_db_t **dbs,
                         int timeout_ms) {
  txn_dbs_t t = {d, n_shards, dbs};
  return wait_until(finished_now, &t, timeout_ms);
}

/* ---- acknowledged tweets ---- */

bool tc_db_has_tweet(tc_db_t *d, int n_shards, tc_db_t **dbs,
                     const char *id_hex) {
  bson_oid_t oid;
  bson_oid_init_from_string(&oid, id_hex);
  bson_t *filter = BCON_NEW("_id", BCON_OID(&oid));
  int64_t found = tc_db_count_tweets(d, n_shards, dbs, filter);
  bson_destroy(filter);
  return found == 1;
}
