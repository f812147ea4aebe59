/*
 * test_sync_chaos.c - hundreds of transactions while servers are killed
 * at random, then an invariant check.
 *
 * Two servers share a fresh database.  Writer threads create and edit
 * tweets through either server at random while a killer thread SIGKILLs a
 * random server and restarts it, over and over.  Writes that were
 * acknowledged (201/200) are recorded; writes whose answer was lost may or
 * may not have happened.  After the chaos stops and recovery has had its
 * time: every acknowledged tweet exists with its last acknowledged text
 * (unless a later edit's answer was lost), no document is locked, no
 * transaction is unfinished, and every user's stored tweet_count equals
 * the tweets that exist.  The seed is printed; CHORUS_CHAOS_SEED repeats
 * a run.  Server b runs with --db-filters full, so the 2PC store's write
 * path for MongoDB (filters that check the lock, single-command finishes)
 * races the FerretDB one (writes by _id after a read) on one database.
 */
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tests/client/harness.h"
#include "tests/client/testclient.h"

#define SETTLE_BOUND_MS 45000
#define N_WRITERS 4
#define N_USERS 6
#define TARGET_TXNS 600 /* aimed for within MAX_RUN_MS */
#define MIN_TXNS 300    /* required: "hundreds of transactions" */
#define MIN_KILLS 6
#define MAX_RUN_MS 60000
#define MAX_TWEETS 400

typedef struct acked_tweet {
  char id[25];
  char text[64];  /* last acknowledged text */
  bool uncertain; /* an edit after it may have applied */
} acked_tweet_t;

typedef struct world {
  tc_server_t servers[2];
  pthread_mutex_t servers_mu; /* kill/restart vs. reading urls */
  char tokens[N_USERS][128];
  atomic_int attempts;
  atomic_int acked;
  atomic_int lost;
  atomic_int kills;
  atomic_bool stop;
  atomic_int restart_failed; /* 1 + the server that did not come back */
  unsigned seed;
} world_t;

typedef struct writer {
  world_t *w;
  int index;
  unsigned rng;
  acked_tweet_t tweets[MAX_TWEETS];
  int n_tweets;
} writer_t;

static unsigned next_rand(unsigned *state) {
  *state = *state * 1103515245u + 12345u;
  return (*state >> 8) & 0xffffff;
}

static tc_client_t *client_for(world_t *w, int server, int user) {
  pthread_mutex_lock(&w->servers_mu);
  tc_client_t *c =
      tc_client_with_session(w->servers[server].url, w->tokens[user]);
  pthread_mutex_unlock(&w->servers_mu);
  tc_client_set_timeout_ms(c, 8000);
  return c;
}

static void *writer_main(void *arg) {
  writer_t *wr = arg;
  world_t *w = wr->w;
  int n = 0;
  while (!atomic_load(&w->stop)) {
    int server = (int)(next_rand(&wr->rng) % 2);
    /* Each writer owns one user, so its edits never race its own. */
    tc_client_t *c = client_for(w, server, wr->index);
    bool edit = wr->n_tweets > 0 && next_rand(&wr->rng) % 10 < 3;
    char body[128], path[64], text[64];
    snprintf(text, sizeof text, "w%d n%d %s", wr->index, n++,
             edit ? "edited" : "new");
    snprintf(body, sizeof body, "{\"text\":\"%s\"}", text);
    tc_response_t r;
    acked_tweet_t *target = NULL;
    bool sent;
    if (edit) {
      target = &wr->tweets[next_rand(&wr->rng) % (unsigned)wr->n_tweets];
      snprintf(path, sizeof path, "/api/tweet/%s", target->id);
      sent = tc_try_request(c, "PUT", path, body, strlen(body), NULL, &r);
    } else {
      sent =
          tc_try_request(c, "POST", "/api/tweet", body, strlen(body), NULL, &r);
    }
    atomic_fetch_add(&w->attempts, 1);
    if (sent && (r.status == 201 || r.status == 200)) {
      atomic_fetch_add(&w->acked, 1);
      if (edit) {
        bson_strncpy(target->text, text, sizeof target->text);
        target->uncertain = false;
      } else if (wr->n_tweets < MAX_TWEETS) {
        acked_tweet_t *t = &wr->tweets[wr->n_tweets++];
        bson_strncpy(t->id, tc_json_str(&r, "id"), sizeof t->id);
        bson_strncpy(t->text, text, sizeof t->text);
        t->uncertain = false;
      }
    } else if (!sent || r.status == 503 || r.status == 500) {
      /* The answer was lost or the outcome is unknown. */
      atomic_fetch_add(&w->lost, 1);
      if (edit) {
        target->uncertain = true;
      }
    } else if (r.status != 409) {
      print_error("unexpected answer %ld: %s\n", r.status, r.body);
      fail();
    }
    tc_response_free(&r);
    tc_client_destroy(c);
  }
  return NULL;
}

static void *killer_main(void *arg) {
  world_t *w = arg;
  unsigned rng = w->seed ^ 0x5bd1e995u;
  while (!atomic_load(&w->stop)) {
    tc_sleep_ms(600 + (int)(next_rand(&rng) % 900));
    if (atomic_load(&w->stop)) {
      break;
    }
    int victim = (int)(next_rand(&rng) % 2);
    pthread_mutex_lock(&w->servers_mu);
    tc_server_kill(&w->servers[victim], SIGKILL);
    pthread_mutex_unlock(&w->servers_mu);
    atomic_fetch_add(&w->kills, 1);
    tc_sleep_ms(200 + (int)(next_rand(&rng) % 400));
    pthread_mutex_lock(&w->servers_mu);
    bool up = tc_server_start(&w->servers[victim]);
    pthread_mutex_unlock(&w->servers_mu);
    if (!up) {
      /* Reported by the main thread: cmocka's fail() must not run on
       * another thread (it longjmps to the test's frame, and the program
       * dies without a word). */
      atomic_store(&w->restart_failed, victim + 1);
      atomic_store(&w->stop, true);
      break;
    }
  }
  return NULL;
}

/* The stored text of a tweet by id, looked up on every shard. */
static bool stored_text(tc_db_t *db, const char *id_hex, char *text,
                        size_t size) {
  bson_oid_t oid;
  bson_oid_init_from_string(&oid, id_hex);
  bson_t *filter = BCON_NEW("_id", BCON_OID(&oid));
  bool found = false;
  for (int k = 0; k < 4 && !found; k++) {
    char coll_name[16];
    snprintf(coll_name, sizeof coll_name, "tweets_%d", k & 3);
    mongoc_collection_t *coll =
        mongoc_database_get_collection(db->db, coll_name);
    mongoc_cursor_t *cursor =
        mongoc_collection_find_with_opts(coll, filter, NULL, NULL);
    const bson_t *doc;
    bson_iter_t it;
    if (mongoc_cursor_next(cursor, &doc) &&
        bson_iter_init_find(&it, doc, "text") && BSON_ITER_HOLDS_UTF8(&it)) {
      bson_strncpy(text, bson_iter_utf8(&it, NULL), size);
      found = true;
    }
    mongoc_cursor_destroy(cursor);
    mongoc_collection_destroy(coll);
  }
  bson_destroy(filter);
  return found;
}

static void test_random_kills_keep_invariants(void **state) {
  (void)state;
  static world_t w;
  memset(&w, 0, sizeof w);
  const char *seed_env = getenv("CHORUS_CHAOS_SEED");
  w.seed = seed_env ? (unsigned)strtoul(seed_env, NULL, 10)
                    : (unsigned)time(NULL) ^ (unsigned)getpid();
  fprintf(stderr, "chaos seed %u (CHORUS_CHAOS_SEED=%u repeats it)\n", w.seed,
          w.seed);
  pthread_mutex_init(&w.servers_mu, NULL);
  char db_name[64];
  snprintf(db_name, sizeof db_name, "chaos_%d", (int)getpid());
  tc_server_init(&w.servers[0], "a", db_name);
  tc_server_init(&w.servers[1], "b", db_name);
  snprintf(w.servers[1].extra, sizeof w.servers[1].extra, "--db-filters full");
  assert_true(tc_server_start(&w.servers[0]));
  assert_true(tc_server_start(&w.servers[1]));

  for (int u = 0; u < N_USERS; u++) {
    char name[31];
    tc_new_session(w.servers[u % 2].url, "chaos", name, w.tokens[u],
                   sizeof w.tokens[u]);
  }

  static writer_t writers[N_WRITERS];
  pthread_t threads[N_WRITERS], killer;
  for (int i = 0; i < N_WRITERS; i++) {
    memset(&writers[i], 0, sizeof writers[i]);
    writers[i].w = &w;
    writers[i].index = i;
    writers[i].rng = w.seed + (unsigned)i * 7919u;
    pthread_create(&threads[i], NULL, writer_main, &writers[i]);
  }
  pthread_create(&killer, NULL, killer_main, &w);
  int64_t started = tc_now_ms();
  while ((atomic_load(&w.attempts) < TARGET_TXNS ||
          atomic_load(&w.kills) < MIN_KILLS) &&
         tc_now_ms() - started < MAX_RUN_MS) {
    tc_sleep_ms(100);
  }
  atomic_store(&w.stop, true);
  pthread_join(killer, NULL);
  for (int i = 0; i < N_WRITERS; i++) {
    pthread_join(threads[i], NULL);
  }
  if (atomic_load(&w.restart_failed)) {
    fail_msg("server %c did not restart within 20 s after a SIGKILL (its "
             "log: %s)",
             "ab"[atomic_load(&w.restart_failed) - 1],
             w.servers[atomic_load(&w.restart_failed) - 1].log);
  }
  fprintf(stderr,
          "chaos: %d writes attempted, %d acknowledged, %d lost, %d kills\n",
          atomic_load(&w.attempts), atomic_load(&w.acked), atomic_load(&w.lost),
          atomic_load(&w.kills));
  assert_true(atomic_load(&w.attempts) >= MIN_TXNS);
  assert_true(atomic_load(&w.kills) >= MIN_KILLS);
  assert_true(atomic_load(&w.acked) > 0);

  /* Recovery gets its time (the servers are both up now): within a lease
   * or two; a late write of a killed coordinator (still queued in the
   * database when it died) within the sweep of finished aborted
   * transactions (30 s, sync.c). */
  tc_db_t db;
  tc_db_open(&db, NULL, db_name);
  if (!tc_db_wait_finished(&db, 4, NULL, 10000)) {
    fprintf(stderr, "chaos: after 10 s still %lld unfinished, %lld locked\n",
            (long long)tc_db_unfinished_txns(&db),
            (long long)tc_db_locked_docs(&db, 4, NULL));
    assert_true(tc_db_wait_finished(&db, 4, NULL, SETTLE_BOUND_MS - 10000));
  }
  assert_int_equal(tc_db_tweet_count_mismatches(&db, 4, NULL), 0);

  int checked = 0;
  for (int i = 0; i < N_WRITERS; i++) {
    for (int t = 0; t < writers[i].n_tweets; t++) {
      acked_tweet_t *a = &writers[i].tweets[t];
      char text[128];
      if (!stored_text(&db, a->id, text, sizeof text)) {
        fail_msg("acknowledged tweet %s (%s) is missing", a->id, a->text);
      }
      if (!a->uncertain) {
        assert_string_equal(text, a->text);
      }
      checked++;
    }
  }
  fprintf(stderr, "chaos: %d acknowledged tweets verified\n", checked);

  tc_server_kill(&w.servers[0], SIGTERM);
  tc_server_kill(&w.servers[1], SIGTERM);
  tc_db_drop(&db);
  tc_db_close(&db);
  pthread_mutex_destroy(&w.servers_mu);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_random_kills_keep_invariants),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
