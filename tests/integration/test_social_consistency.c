/*
 * test_social_consistency.c - stored counters under concurrency.
 *
 * Two servers of our own share a fresh database.  Worker threads, half on
 * each server, act as 8 users at random for a few hundred operations:
 * follow, unfollow, tweet, reply, quote, like, unlike, repost, unrepost,
 * edit, delete; then all of them at once do the same to one target (like,
 * follow, reply, repost, quote, unlike, unfollow, unrepost).  Every
 * answer must be a success or an honest refusal (200, 201, 404, 409) and
 * never a 5xx.  Then, once no transaction is unfinished and no document
 * locked, every stored counter is recounted from the database (users'
 * followers_count, following_count, tweet_count; tweets' like_count,
 * reply_count, repost_count, quote_count), and the API's profiles, tweets
 * and follower lists must agree with the recount on both servers.  The seed is
 * printed; CHORUS_SOCIAL_SEED repeats a run.
 *
 * A last test recounts the shared test database the same way, after
 * whatever the other test programs did to it.
 */
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "tests/client/harness.h"
#include "tests/client/testclient.h"

#define N_USERS 8
#define N_WORKERS 6
#define OPS_PER_WORKER 50
#define RUN_MS 20000 /* workers stop at OPS_PER_WORKER or after this */
#define HOT 4        /* the first HOT tweets and users draw half the traffic */
#define MAX_TWEETS 1024
#define MAX_BAD 32

typedef struct pooled {
  char id[25];
  int author;
  bool deleted;
} pooled_t;

typedef struct world {
  tc_server_t servers[2];
  char db_name[64];
  char names[N_USERS][31];
  char tokens[N_USERS][128];
  pthread_mutex_t mu; /* guards tweets, n_tweets, bad */
  pooled_t tweets[MAX_TWEETS];
  int n_tweets;
  char bad[MAX_BAD][256];
  int n_bad;
  atomic_int ops, by_status[6]; /* 200 201 404 409 other transport */
  int64_t deadline;
  pthread_barrier_t barrier; /* the burst rounds start together */
} world_t;

typedef struct worker {
  world_t *w;
  int index;
  unsigned rng;
} worker_t;

static unsigned next_rand(unsigned *s) {
  *s = *s * 1103515245u + 12345u;
  return (*s >> 8) & 0xffffff;
}

static void note_bad(world_t *w, const char *what, long status,
                     const char *body) {
  pthread_mutex_lock(&w->mu);
  if (w->n_bad < MAX_BAD) {
    snprintf(w->bad[w->n_bad], sizeof w->bad[0], "%s -> %ld %.160s", what,
             status, body ? body : "");
  }
  w->n_bad++;
  pthread_mutex_unlock(&w->mu);
}

static void add_tweet(world_t *w, const char *id, int author) {
  pthread_mutex_lock(&w->mu);
  if (w->n_tweets < MAX_TWEETS) {
    pooled_t *t = &w->tweets[w->n_tweets++];
    bson_strncpy(t->id, id, sizeof t->id);
    t->author = author;
    t->deleted = false;
  }
  pthread_mutex_unlock(&w->mu);
}

/* A random tweet (any author when author < 0); false when none. */
static bool pick_tweet(world_t *w, unsigned *rng, int author, char id[25],
                       int *index) {
  bool found = false;
  pthread_mutex_lock(&w->mu);
  if (w->n_tweets > 0) {
    bool hot = author < 0 && next_rand(rng) % 2 && w->n_tweets >= HOT;
    for (int tries = 0; tries < 20 && !found; tries++) {
      int k = (int)(next_rand(rng) % (unsigned)(hot ? HOT : w->n_tweets));
      /* Everyone's first tweet stays: the bursts need two of them. */
      if (author < 0 || (w->tweets[k].author == author && k >= N_USERS)) {
        bson_strncpy(id, w->tweets[k].id, 25);
        *index = k;
        found = true;
      }
    }
  }
  pthread_mutex_unlock(&w->mu);
  return found;
}

static void *worker_main(void *arg) {
  worker_t *wk = arg;
  world_t *w = wk->w;
  tc_client_t *clients[N_USERS];
  const char *base = w->servers[wk->index % 2].url;
  for (int u = 0; u < N_USERS; u++) {
    clients[u] = tc_client_with_session(base, w->tokens[u]);
    tc_client_set_timeout_ms(clients[u], 20000);
  }
  for (int n = 0; n < OPS_PER_WORKER && tc_now_ms() < w->deadline; n++) {
    int me = (int)(next_rand(&wk->rng) % N_USERS);
    int other = (me + 1 + (int)(next_rand(&wk->rng) % (N_USERS - 1))) % N_USERS;
    if (next_rand(&wk->rng) % 2) { /* a hot user */
      other = (int)(next_rand(&wk->rng) % HOT);
      if (other == me) {
        other = (me + 1) % HOT;
      }
    }
    unsigned dice = next_rand(&wk->rng) % 100;
    tc_client_t *c = clients[me];
    char path[128], body[160], id[25], what[200];
    const char *method;
    const char *send = NULL;
    int index = -1;
    enum {
      TWEET,
      REPLY,
      QUOTE,
      LIKE,
      UNLIKE,
      REPOST,
      UNREPOST,
      FOLLOW,
      UNFOLLOW,
      DELETE,
      EDIT
    } op;
    if (dice < 12) {
      op = TWEET;
    } else if (dice < 22) {
      op = REPLY;
    } else if (dice < 29) {
      op = QUOTE;
    } else if (dice < 41) {
      op = LIKE;
    } else if (dice < 48) {
      op = UNLIKE;
    } else if (dice < 58) {
      op = REPOST;
    } else if (dice < 64) {
      op = UNREPOST;
    } else if (dice < 75) {
      op = FOLLOW;
    } else if (dice < 83) {
      op = UNFOLLOW;
    } else if (dice < 95) {
      op = DELETE;
    } else {
      op = EDIT;
    }
    if (op != TWEET && op != FOLLOW && op != UNFOLLOW &&
        !pick_tweet(w, &wk->rng, op == DELETE || op == EDIT ? me : -1, id,
                    &index)) {
      op = TWEET;
    }
    switch (op) {
    case TWEET:
      method = "POST";
      snprintf(path, sizeof path, "/api/tweet");
      snprintf(body, sizeof body, "{\"text\":\"w%d op%d\"}", wk->index, n);
      send = body;
      break;
    case REPLY:
    case QUOTE:
      method = "POST";
      snprintf(path, sizeof path, "/api/tweet");
      snprintf(body, sizeof body, "{\"text\":\"w%d op%d\",\"%s\":\"%s\"}",
               wk->index, n, op == REPLY ? "reply_to" : "quote_of", id);
      send = body;
      break;
    case LIKE:
    case UNLIKE:
    case REPOST:
    case UNREPOST:
      method = op == LIKE || op == REPOST ? "POST" : "DELETE";
      snprintf(path, sizeof path, "/api/tweet/%s/%s", id,
               op == LIKE || op == UNLIKE ? "like" : "repost");
      send = op == LIKE || op == REPOST ? "" : NULL;
      break;
    case FOLLOW:
    case UNFOLLOW:
      method = op == FOLLOW ? "POST" : "DELETE";
      snprintf(path, sizeof path, "/api/users/%s/follow", w->names[other]);
      send = op == FOLLOW ? "" : NULL;
      break;
    case DELETE:
      method = "DELETE";
      snprintf(path, sizeof path, "/api/tweet/%s", id);
      break;
    case EDIT:
    default:
      method = "PUT";
      snprintf(path, sizeof path, "/api/tweet/%s", id);
      snprintf(body, sizeof body, "{\"text\":\"w%d op%d edited\"}", wk->index,
               n);
      send = body;
      break;
    }
    tc_response_t r; /* no cmocka assertion may run in a thread */
    bool sent = tc_try_request(c, method, path, send, send ? strlen(send) : 0,
                               NULL, &r);
    atomic_fetch_add(&w->ops, 1);
    snprintf(what, sizeof what, "%s %s as %s", method, path, w->names[me]);
    if (!sent) {
      atomic_fetch_add(&w->by_status[5], 1);
      note_bad(w, what, 0, r.body);
    } else if (r.status == 200 || r.status == 201) {
      atomic_fetch_add(&w->by_status[r.status == 200 ? 0 : 1], 1);
      if ((op == TWEET || op == REPLY || op == QUOTE) &&
          tc_json_str(&r, "id")) {
        add_tweet(w, tc_json_str(&r, "id"), me);
      } else if (op == DELETE) {
        pthread_mutex_lock(&w->mu);
        w->tweets[index].deleted = true;
        pthread_mutex_unlock(&w->mu);
      }
    } else if (r.status == 404 && op != FOLLOW && op != UNFOLLOW &&
               op != TWEET) {
      atomic_fetch_add(&w->by_status[2], 1); /* the tweet was deleted */
    } else if (r.status == 409) {
      atomic_fetch_add(&w->by_status[3], 1);
    } else {
      atomic_fetch_add(&w->by_status[4], 1);
      note_bad(w, what, r.status, r.body);
    }
    tc_response_free(&r);
  }

  /* Bursts: every worker, each as a different user, does the same thing
   * to the same target at the same moment. */
  static const char *const bursts[] = {"like",     "follow",  "reply",
                                       "repost",   "quote",   "unlike",
                                       "unfollow", "unrepost"};
  int me = 1 + wk->index; /* users 1..N_WORKERS; user 0 is the target */
  for (size_t b = 0; b < sizeof bursts / sizeof bursts[0]; b++) {
    char path[128], body[160], what[200];
    const char *method = "POST", *send = "";
    if (strstr(bursts[b], "like") || strstr(bursts[b], "repost")) {
      snprintf(path, sizeof path, "/api/tweet/%s/%s", w->tweets[0].id,
               bursts[b] + (bursts[b][0] == 'u' ? 2 : 0));
      if (bursts[b][0] == 'u') {
        method = "DELETE";
        send = NULL;
      }
    } else if (!strcmp(bursts[b], "reply") || !strcmp(bursts[b], "quote")) {
      snprintf(path, sizeof path, "/api/tweet");
      snprintf(body, sizeof body, "{\"text\":\"burst\",\"%s\":\"%s\"}",
               bursts[b][0] == 'r' ? "reply_to" : "quote_of", w->tweets[1].id);
      send = body;
    } else {
      snprintf(path, sizeof path, "/api/users/%s/follow", w->names[0]);
      if (bursts[b][0] == 'u') {
        method = "DELETE";
        send = NULL;
      }
    }
    pthread_barrier_wait(&w->barrier);
    tc_response_t r;
    bool sent = tc_try_request(clients[me], method, path, send,
                               send ? strlen(send) : 0, NULL, &r);
    atomic_fetch_add(&w->ops, 1);
    snprintf(what, sizeof what, "burst %s %s as %s", method, path,
             w->names[me]);
    if (sent && (r.status == 200 || r.status == 201)) {
      atomic_fetch_add(&w->by_status[r.status == 200 ? 0 : 1], 1);
      if (r.status == 201 && tc_json_str(&r, "id")) {
        add_tweet(w, tc_json_str(&r, "id"), me);
      }
    } else if (sent && r.status == 409) {
      atomic_fetch_add(&w->by_status[3], 1);
    } else {
      atomic_fetch_add(&w->by_status[sent ? 4 : 5], 1);
      note_bad(w, what, r.status, r.body);
    }
    tc_response_free(&r);
  }
  for (int u = 0; u < N_USERS; u++) {
    tc_client_destroy(clients[u]);
  }
  return NULL;
}

static int64_t count_in(tc_db_t *db, const char *coll, const char *field,
                        const bson_oid_t *id) {
  bson_t *filter = BCON_NEW(field, BCON_OID(id));
  int64_t n = tc_db_count(db, coll, filter);
  bson_destroy(filter);
  return n;
}

static int64_t count_tweets(tc_db_t *db, const char *field,
                            const bson_oid_t *id) {
  bson_t *filter = BCON_NEW(field, BCON_OID(id));
  int64_t n = tc_db_count_tweets(db, 4, NULL, filter);
  bson_destroy(filter);
  return n;
}

/* The API's view of every user and pooled tweet, on both servers, against
 * the database's true counts. */
static int api_disagreements(world_t *w, tc_db_t *db) {
  int bad = 0;
  for (int s = 0; s < 2; s++) {
    tc_client_t *c = tc_client_with_session(w->servers[s].url, w->tokens[0]);
    for (int u = 0; u < N_USERS; u++) {
      bson_oid_t id;
      assert_true(tc_db_user_oid(db, w->names[u], &id));
      int64_t want[3] = {count_in(db, "follows", "followee_id", &id),
                         count_in(db, "follows", "follower_id", &id),
                         count_tweets(db, "author_id", &id)};
      const char *fields[3] = {"followers_count", "following_count",
                               "tweet_count"};
      char path[128];
      tc_response_t r;
      tc_get_profile(c, w->names[u], &r);
      tc_assert_status(&r, 200);
      for (int k = 0; k < 3; k++) {
        if (tc_json_int(&r, fields[k]) != want[k]) {
          fprintf(stderr, "server %s: %s %s is %lld, %lld in the database\n",
                  w->servers[s].id, w->names[u], fields[k],
                  (long long)tc_json_int(&r, fields[k]), (long long)want[k]);
          bad++;
        }
      }
      tc_response_free(&r);
      const char *lists[2] = {"followers", "following"};
      for (int k = 0; k < 2; k++) {
        snprintf(path, sizeof path, "/api/users/%s/%s?limit=200", w->names[u],
                 lists[k]);
        tc_get_ok(c, path, &r);
        if (tc_json_array_len(&r, "items") != want[k]) {
          fprintf(stderr,
                  "server %s: %s has %d %s listed, %lld in the "
                  "database\n",
                  w->servers[s].id, w->names[u], tc_json_array_len(&r, "items"),
                  lists[k], (long long)want[k]);
          bad++;
        }
        tc_response_free(&r);
      }
    }
    for (int t = 0; t < w->n_tweets; t++) {
      bson_oid_t id;
      bson_oid_init_from_string(&id, w->tweets[t].id);
      tc_response_t r;
      tc_get_tweet(c, w->tweets[t].id, &r);
      bson_t *by_id = BCON_NEW("_id", BCON_OID(&id));
      int64_t exists = tc_db_count_tweets(db, 4, NULL, by_id);
      bson_destroy(by_id);
      if (r.status == 404) {
        if (exists) {
          fprintf(stderr, "tweet %s: 404 but it is in the database\n",
                  w->tweets[t].id);
          bad++;
        }
      } else {
        tc_assert_status(&r, 200);
        int64_t likes = count_in(db, "likes", "tweet_id", &id);
        int64_t replies = count_tweets(db, "reply_to", &id);
        int64_t reposts = count_in(db, "reposts", "tweet_id", &id);
        int64_t quotes = count_tweets(db, "quote_of", &id);
        if (!exists || tc_json_int(&r, "like_count") != likes ||
            tc_json_int(&r, "reply_count") != replies ||
            tc_json_int(&r, "repost_count") != reposts ||
            tc_json_int(&r, "quote_count") != quotes) {
          fprintf(stderr,
                  "server %s: tweet %s shows like_count %lld reply_count "
                  "%lld repost_count %lld quote_count %lld; database: %lld "
                  "likes, %lld replies, %lld reposts, %lld quotes%s\n",
                  w->servers[s].id, w->tweets[t].id,
                  (long long)tc_json_int(&r, "like_count"),
                  (long long)tc_json_int(&r, "reply_count"),
                  (long long)tc_json_int(&r, "repost_count"),
                  (long long)tc_json_int(&r, "quote_count"), (long long)likes,
                  (long long)replies, (long long)reposts, (long long)quotes,
                  exists ? "" : ", and no such tweet");
          bad++;
        }
      }
      tc_response_free(&r);
    }
    tc_client_destroy(c);
  }
  return bad;
}

/* The world of a running test, for the teardown to stop its servers if
 * the test fails half-way. */
static world_t *current;

static int group_teardown(void **state) {
  (void)state;
  if (current) {
    for (int i = 0; i < 2; i++) {
      tc_server_kill(&current->servers[i], SIGTERM);
    }
  }
  return 0;
}

static void test_mixed_workload_keeps_counters_true(void **state) {
  (void)state;
  world_t *w = calloc(1, sizeof *w);
  current = w;
  pthread_mutex_init(&w->mu, NULL);
  snprintf(w->db_name, sizeof w->db_name, "social_cons_%d", (int)getpid());
  for (int i = 0; i < 2; i++) {
    tc_server_init(&w->servers[i], i ? "cons_b" : "cons_a", w->db_name);
    assert_true(tc_server_start(&w->servers[i]));
  }
  for (int u = 0; u < N_USERS; u++) {
    tc_client_t *c = tc_new_user(w->servers[u % 2].url, "cons", w->names[u]);
    tc_session_token(c, w->tokens[u], sizeof w->tokens[u]);
    char id[25];
    tc_post_tweet(c, "a first tweet", id);
    add_tweet(w, id, u);
    tc_client_destroy(c);
  }
  const char *env = getenv("CHORUS_SOCIAL_SEED");
  unsigned seed = env ? (unsigned)strtoul(env, NULL, 10)
                      : (unsigned)time(NULL) ^ (unsigned)getpid();
  fprintf(stderr, "seed %u (CHORUS_SOCIAL_SEED=%u repeats it)\n", seed, seed);
  pthread_barrier_init(&w->barrier, NULL, N_WORKERS);
  worker_t workers[N_WORKERS];
  pthread_t threads[N_WORKERS];
  int64_t started = tc_now_ms();
  w->deadline = started + RUN_MS;
  for (int i = 0; i < N_WORKERS; i++) {
    workers[i] = (worker_t){w, i, seed + (unsigned)i * 7919u};
    pthread_create(&threads[i], NULL, worker_main, &workers[i]);
  }
  for (int i = 0; i < N_WORKERS; i++) {
    pthread_join(threads[i], NULL);
  }
  fprintf(stderr,
          "%d operations in %lld ms: %d x 200, %d x 201, %d x 404, %d x 409, "
          "%d other, %d lost; %d tweets made\n",
          atomic_load(&w->ops), (long long)(tc_now_ms() - started),
          atomic_load(&w->by_status[0]), atomic_load(&w->by_status[1]),
          atomic_load(&w->by_status[2]), atomic_load(&w->by_status[3]),
          atomic_load(&w->by_status[4]), atomic_load(&w->by_status[5]),
          w->n_tweets);
  for (int i = 0; i < w->n_bad && i < MAX_BAD; i++) {
    fprintf(stderr, "unexpected: %s\n", w->bad[i]);
  }

  tc_db_t db;
  tc_db_open(&db, NULL, w->db_name);
  bool settled = tc_db_wait_settled(&db, 4, NULL, 20000);
  if (!settled) {
    fprintf(stderr,
            "not settled after 20 s: %lld unfinished transactions, "
            "%lld locked documents\n",
            (long long)tc_db_unfinished_txns(&db),
            (long long)tc_db_locked_docs(&db, 4, NULL));
  }
  int mismatches = tc_db_counter_mismatches(&db, 4, NULL);
  int api_bad = api_disagreements(w, &db);
  fprintf(stderr,
          "%d stored counters disagree with the recount; %d API "
          "answers disagree with the database\n",
          mismatches, api_bad);

  for (int i = 0; i < 2; i++) {
    tc_server_kill(&w->servers[i], SIGTERM);
  }
  if (w->n_bad == 0 && settled && mismatches == 0 && api_bad == 0) {
    tc_db_drop(&db); /* kept for inspection otherwise */
  } else {
    fprintf(stderr, "database %s kept for inspection\n", w->db_name);
  }
  tc_db_close(&db);
  int n_bad = w->n_bad;
  current = NULL;
  pthread_barrier_destroy(&w->barrier);
  pthread_mutex_destroy(&w->mu);
  free(w);
  assert_int_equal(n_bad, 0);
  assert_true(settled);
  assert_int_equal(mismatches, 0);
  assert_int_equal(api_bad, 0);
}

static void test_shared_database_counters_are_true(void **state) {
  (void)state;
  tc_db_t db;
  tc_db_open(&db, NULL, tc_env("CHORUS_TEST_DB"));
  assert_true(tc_db_wait_settled(&db, 4, NULL, 20000));
  int mismatches = tc_db_counter_mismatches(&db, 4, NULL);
  if (mismatches) {
    fprintf(stderr,
            "%d stored counters in %s disagree with the recount "
            "(after the test programs that ran before this one)\n",
            mismatches, db.name);
  }
  tc_db_close(&db);
  assert_int_equal(mismatches, 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_mixed_workload_keeps_counters_true),
      cmocka_unit_test(test_shared_database_counters_are_true),
  };
  return cmocka_run_group_tests(tests, NULL, group_teardown);
}
