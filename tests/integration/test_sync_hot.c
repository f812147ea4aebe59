/*
 * test_sync_hot.c - many transactions changing one document at once: the
 * shared (escrow) lock mode of increments (docs/SYNC.md §4a), on the real
 * database with real servers.
 *
 * Through both servers of the test run, N_FANS users at the same moment
 * like one tweet, then unlike it; follow one account, then unfollow it;
 * reply to one tweet.  Every answer is a success (never 409), and the
 * counter, read on both servers and recounted in the database once every
 * transaction is finished, is exact.  While likes keep coming, the
 * tweet's author edits it (exclusive: it waits for the increments in
 * flight and is not made stale by them) and then deletes it: both
 * succeed.  An author's tweet_count, a deferred increment, is read
 * exactly on both servers while its increments are being folded in.
 *
 * Then, for each failpoint, a server armed with it is killed while
 * coordinating a like of a tweet that the other server's users are liking
 * at the same moment: increments of one document are pending on behalf
 * of a dead coordinator and of live ones.  The live likes all succeed; the
 * survivor finishes the dead one's within the bound; readers never see
 * the count go down; the count ends equal to the likes that exist, every
 * acknowledged like among them; no lock and no unfinished transaction is
 * left; and an edit of the tweet goes through.
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

#define N_FANS 40        /* users acting at once */
#define SETTLE_MS 15000  /* every transaction finished by then */
#define RECOVERY_MS 8000 /* a dead coordinator's likes finished by then */

typedef struct fan {
  char name[31];
  char token[128];
} fan_t;

/* ---- users, registered on several threads ---- */

typedef struct signup {
  const char *base;
  fan_t *fans;
  int first, n;
  atomic_int *failed;
} signup_t;

static void *signup_main(void *arg) {
  signup_t *s = arg;
  for (int i = s->first; i < s->first + s->n; i++) {
    tc_client_t *c = tc_client_new(s->base);
    tc_unique_name("hot", s->fans[i].name);
    char *body = tc_credentials_json(s->fans[i].name, TC_PASSWORD);
    tc_response_t r;
    bool ok = tc_try_request(c, "POST", "/api/register", body, strlen(body),
                             NULL, &r) &&
              r.status == 201 &&
              tc_cookie(c, "chorus_session", s->fans[i].token,
                        sizeof s->fans[i].token);
    if (!ok) {
      atomic_fetch_add(s->failed, 1);
    }
    tc_response_free(&r);
    bson_free(body);
    tc_client_destroy(c);
  }
  return NULL;
}

/* Registers fans[0..n) on base, four at a time. */
static void sign_up(const char *base, fan_t *fans, int n) {
  enum { THREADS = 4 };
  pthread_t th[THREADS];
  signup_t s[THREADS];
  atomic_int failed = 0;
  for (int t = 0; t < THREADS; t++) {
    int from = n * t / THREADS, to = n * (t + 1) / THREADS;
    s[t] = (signup_t){base, fans, from, to - from, &failed};
    assert_int_equal(pthread_create(&th[t], NULL, signup_main, &s[t]), 0);
  }
  for (int t = 0; t < THREADS; t++) {
    pthread_join(th[t], NULL);
  }
  assert_int_equal(atomic_load(&failed), 0);
}

/* ---- requests sent at once ---- */

typedef struct shot {
  const char *base;
  const char *token;
  char method[8];
  char path[160];
  char body[200]; /* "" : none */
  long status;    /* out: 0 when there was no answer */
  pthread_barrier_t *start;
} shot_t;

static void *shot_main(void *arg) {
  shot_t *s = arg;
  tc_client_t *c = tc_client_with_session(s->base, s->token);
  tc_client_set_timeout_ms(c, 60000);
  pthread_barrier_wait(s->start);
  tc_response_t r;
  bool body = s->body[0] || !strcmp(s->method, "POST");
  s->status = tc_try_request(c, s->method, s->path, body ? s->body : NULL,
                             strlen(s->body), NULL, &r)
                  ? r.status
                  : 0;
  tc_response_free(&r);
  tc_client_destroy(c);
  return NULL;
}

/* Sends shots[0..n) at the same moment and waits for every answer. */
static void fire(shot_t *shots, int n) {
  pthread_t *th = bson_malloc0(sizeof *th * (size_t)n);
  pthread_barrier_t start;
  pthread_barrier_init(&start, NULL, (unsigned)n);
  for (int i = 0; i < n; i++) {
    shots[i].start = &start;
    assert_int_equal(pthread_create(&th[i], NULL, shot_main, &shots[i]), 0);
  }
  for (int i = 0; i < n; i++) {
    pthread_join(th[i], NULL);
  }
  pthread_barrier_destroy(&start);
  bson_free(th);
}

/* One shot per fan, every other one through B: method on path. */
static void fire_all(const fan_t *fans, int n, const char *method,
                     const char *path, const char *body, long want,
                     const char *what) {
  shot_t *shots = bson_malloc0(sizeof *shots * (size_t)n);
  for (int i = 0; i < n; i++) {
    shots[i].base = i % 2 ? tc_url_b() : tc_url_a();
    shots[i].token = fans[i].token;
    bson_strncpy(shots[i].method, method, sizeof shots[i].method);
    bson_strncpy(shots[i].path, path, sizeof shots[i].path);
    bson_strncpy(shots[i].body, body ? body : "", sizeof shots[i].body);
  }
  fire(shots, n);
  int bad = 0;
  for (int i = 0; i < n; i++) {
    if (shots[i].status != want) {
      fprintf(stderr, "%s: %s %s by %s answered %ld (not %ld)\n", what, method,
              shots[i].path, fans[i].name, shots[i].status, want);
      bad++;
    }
  }
  bson_free(shots);
  assert_int_equal(bad, 0); /* never a 409: increments share */
}

/* ---- the database's view ---- */

static void settle(void) {
  tc_db_t db;
  tc_db_open(&db, NULL, tc_env("CHORUS_TEST_DB"));
  assert_true(tc_db_wait_settled(&db, 4, NULL, SETTLE_MS));
  assert_int_equal(tc_db_counter_mismatches(&db, 4, NULL), 0);
  tc_db_close(&db);
}

/* A field of tweet id as both servers show it equals want. */
static void expect_tweet_int(tc_client_t *a, tc_client_t *b, const char *id,
                             const char *field, int64_t want) {
  assert_int_equal(tc_tweet_int(a, id, field), want);
  assert_int_equal(tc_tweet_int(b, id, field), want);
}

/* ---- the tests on the servers of the run ---- */

static fan_t fans[N_FANS];
static char author[31];
static tc_client_t *author_a, *author_b;

static int group_setup(void **state) {
  (void)state;
  sign_up(tc_url_a(), fans, N_FANS / 2);
  sign_up(tc_url_b(), fans + N_FANS / 2, N_FANS - N_FANS / 2);
  author_a = tc_new_user(tc_url_a(), "hot_author", author);
  author_b = tc_same_user_on(author_a, tc_url_b());
  return 0;
}

static int group_teardown(void **state) {
  (void)state;
  tc_client_destroy(author_a);
  tc_client_destroy(author_b);
  return 0;
}

static void likes_of_one_tweet_never_conflict(void **state) {
  (void)state;
  char id[25], path[64];
  tc_post_tweet(author_a, "liked by everyone at once", id);
  snprintf(path, sizeof path, "/api/tweet/%s/like", id);
  fire_all(fans, N_FANS, "POST", path, "", 200, "like");
  expect_tweet_int(author_a, author_b, id, "like_count", N_FANS);
  settle();
  fire_all(fans, N_FANS, "DELETE", path, NULL, 200, "unlike");
  expect_tweet_int(author_a, author_b, id, "like_count", 0);
  settle();
}

static void follows_of_one_account_never_conflict(void **state) {
  (void)state;
  int64_t before = tc_profile_int(author_a, author, "followers_count");
  char path[80];
  snprintf(path, sizeof path, "/api/users/%s/follow", author);
  fire_all(fans, N_FANS, "POST", path, "", 200, "follow");
  assert_int_equal(tc_profile_int(author_a, author, "followers_count"),
                   before + N_FANS);
  assert_int_equal(tc_profile_int(author_b, author, "followers_count"),
                   before + N_FANS);
  assert_int_equal(tc_profile_int(author_a, fans[0].name, "following_count"),
                   1);
  settle();
  fire_all(fans, N_FANS, "DELETE", path, NULL, 200, "unfollow");
  assert_int_equal(tc_profile_int(author_b, author, "followers_count"), before);
  settle();
}

static void replies_to_one_tweet_never_conflict(void **state) {
  (void)state;
  char id[25];
  tc_post_tweet(author_a, "answered by everyone at once", id);
  char body[120];
  snprintf(body, sizeof body, "{\"text\":\"a reply\",\"reply_to\":\"%s\"}", id);
  fire_all(fans, N_FANS, "POST", "/api/tweet", body, 201, "reply");
  expect_tweet_int(author_a, author_b, id, "reply_count", N_FANS);
  assert_int_equal(tc_profile_int(author_b, fans[1].name, "tweet_count"), 1);
  settle();
}

/* Likes keep coming from every fan (like, unlike, like...) while the
 * author edits the tweet, then deletes it. */
typedef struct churn {
  const fan_t *fan;
  const char *base;
  const char *id;
  atomic_bool *stop;
  int likes, unlikes, other; /* answers: 200 like, 200 unlike, else */
  long other_status;
} churn_t;

static void *churn_main(void *arg) {
  churn_t *c = arg;
  tc_client_t *cl = tc_client_with_session(c->base, c->fan->token);
  tc_client_set_timeout_ms(cl, 60000);
  char path[96];
  snprintf(path, sizeof path, "/api/tweet/%s/like", c->id);
  for (bool like = true; !atomic_load(c->stop); like = !like) {
    tc_response_t r;
    long status = tc_try_request(cl, like ? "POST" : "DELETE", path,
                                 like ? "" : NULL, 0, NULL, &r)
                      ? r.status
                      : 0;
    tc_response_free(&r);
    if (status == 200) {
      like ? c->likes++ : c->unlikes++;
    } else if (status == 404) {
      break; /* deleted */
    } else {
      c->other++;
      c->other_status = status;
    }
  }
  tc_client_destroy(cl);
  return NULL;
}

static void edit_and_delete_among_increments(void **state) {
  (void)state;
  enum { CHURNERS = 16 };
  char id[25];
  tc_post_tweet(author_a, "edited while liked", id);
  atomic_bool stop = false;
  churn_t churn[CHURNERS];
  pthread_t th[CHURNERS];
  for (int i = 0; i < CHURNERS; i++) {
    churn[i] = (churn_t){
        &fans[i], i % 2 ? tc_url_b() : tc_url_a(), id, &stop, 0, 0, 0, 0};
    assert_int_equal(pthread_create(&th[i], NULL, churn_main, &churn[i]), 0);
  }
  tc_sleep_ms(300);
  char body[96], path[64];
  snprintf(path, sizeof path, "/api/tweet/%s", id);
  for (int e = 0; e < 3; e++) {
    snprintf(body, sizeof body, "{\"text\":\"edit %d while liked\"}", e);
    tc_response_t r;
    tc_send(e % 2 ? author_b : author_a, "PUT", path, body, &r);
    tc_assert_status(&r, 200); /* not stale, not 409 */
    tc_response_free(&r);
    tc_sleep_ms(100);
  }
  tc_response_t r;
  tc_get_tweet(author_b, id, &r);
  tc_assert_status(&r, 200);
  assert_string_equal(tc_json_str(&r, "text"), "edit 2 while liked");
  tc_response_free(&r);
  /* every fan's likes stop once; the count is then exact */
  atomic_store(&stop, true);
  int likes = 0;
  for (int i = 0; i < CHURNERS; i++) {
    pthread_join(th[i], NULL);
    assert_int_equal(churn[i].other, 0);
    likes += churn[i].likes - churn[i].unlikes;
  }
  expect_tweet_int(author_a, author_b, id, "like_count", likes);
  settle();
  /* and a delete among likes */
  atomic_store(&stop, false);
  for (int i = 0; i < CHURNERS; i++) {
    churn[i] = (churn_t){
        &fans[i], i % 2 ? tc_url_b() : tc_url_a(), id, &stop, 0, 0, 0, 0};
    assert_int_equal(pthread_create(&th[i], NULL, churn_main, &churn[i]), 0);
  }
  tc_sleep_ms(300);
  tc_delete_tweet(author_b, id, &r);
  assert_true(r.status == 200 || r.status == 204);
  tc_response_free(&r);
  tc_sleep_ms(200);
  atomic_store(&stop, true);
  for (int i = 0; i < CHURNERS; i++) {
    pthread_join(th[i], NULL);
    assert_int_equal(churn[i].other, 0);
  }
  tc_get_tweet(author_a, id, &r);
  assert_int_equal(r.status, 404);
  tc_response_free(&r);
  settle();
}

/* ---- coordinators killed with increments pending ---- */

typedef struct watch {
  tc_client_t *c;
  const char *id;
  atomic_bool *stop;
  int64_t last, drops; /* like_count last seen; times it went down */
  int failures;
} watch_t;

static void *watch_main(void *arg) {
  watch_t *w = arg;
  char path[64];
  snprintf(path, sizeof path, "/api/tweet/%s", w->id);
  while (!atomic_load(w->stop)) {
    tc_response_t r;
    if (tc_try_request(w->c, "GET", path, NULL, 0, NULL, &r) &&
        r.status == 200) {
      int64_t n = tc_json_int(&r, "like_count");
      w->drops += n < w->last;
      w->last = n > w->last ? n : w->last;
    } else {
      w->failures++;
    }
    tc_response_free(&r);
    tc_sleep_ms(10);
  }
  return NULL;
}

/* Likes of `id` by the tweet's count in the database (the likes that
 * exist) and whether every acknowledged one is among them. */
static int64_t likes_in_db(tc_db_t *db, const char *id) {
  bson_oid_t oid;
  bson_oid_init_from_string(&oid, id);
  bson_t *filter = BCON_NEW("tweet_id", BCON_OID(&oid));
  int64_t n = tc_db_count(db, "likes", filter);
  bson_destroy(filter);
  return n;
}

static void killed_with_increments_pending(const char *step) {
  char db_name[64];
  snprintf(db_name, sizeof db_name, "hot_%d_%s", (int)getpid(), step + 4);
  for (char *p = db_name; *p; p++) {
    *p = *p == '.' ? '_' : *p;
  }
  tc_server_t a, b;
  tc_server_init(&b, "b", db_name);
  assert_true(tc_server_start(&b));
  enum { LIVE = 12, DOOMED = 4 };
  fan_t users[LIVE + DOOMED];
  sign_up(b.url, users, LIVE + DOOMED);
  char name[31], id[25];
  tc_client_t *writer = tc_new_user(b.url, "hot_writer", name);
  tc_post_tweet(writer, "liked through a crash", id);
  tc_server_init(&a, "a", db_name);
  bson_strncpy(a.failpoint, step, sizeof a.failpoint);
  assert_true(tc_server_start(&a));

  atomic_bool stop = false;
  watch_t w = {tc_client_new(b.url), id, &stop, 0, 0, 0};
  pthread_t watcher;
  assert_int_equal(pthread_create(&watcher, NULL, watch_main, &w), 0);
  /* LIVE likes through B and DOOMED through A, at once: A dies at the
   * step in the first one that reaches it. */
  shot_t shots[LIVE + DOOMED];
  memset(shots, 0, sizeof shots);
  for (int i = 0; i < LIVE + DOOMED; i++) {
    shots[i].base = i < LIVE ? b.url : a.url;
    shots[i].token = users[i].token;
    bson_strncpy(shots[i].method, "POST", sizeof shots[i].method);
    snprintf(shots[i].path, sizeof shots[i].path, "/api/tweet/%s/like", id);
  }
  fire(shots, LIVE + DOOMED);
  assert_int_equal(tc_server_wait_exit(&a, 10000), 86);
  int64_t crashed_at = tc_now_ms();
  for (int i = 0; i < LIVE; i++) {
    assert_int_equal(shots[i].status, 200); /* never blocked by the dead */
  }

  /* The survivor finishes what A left, within the bound. */
  tc_db_t db;
  tc_db_open(&db, NULL, db_name);
  assert_true(tc_db_wait_settled(&db, 4, NULL, RECOVERY_MS));
  int64_t took = tc_now_ms() - crashed_at;
  int64_t n = likes_in_db(&db, id);
  assert_int_equal(tc_db_counter_mismatches(&db, 4, NULL), 0);
  atomic_store(&stop, true);
  pthread_join(watcher, NULL);
  assert_int_equal(w.drops, 0); /* a committed like never disappears */
  assert_int_equal(w.failures, 0);
  assert_int_equal(tc_tweet_int(writer, id, "like_count"), n);
  int acked = 0;
  for (int i = 0; i < LIVE + DOOMED; i++) {
    acked += shots[i].status == 200;
  }
  assert_true(n >= acked && n <= LIVE + DOOMED); /* every 200 is counted */
  print_message("  %s: %d likes answered, %lld exist; settled %lld ms after "
                "the crash\n",
                step, acked, (long long)n, (long long)took);

  /* An exclusive change goes through (it waits for nothing left). */
  char path[64];
  snprintf(path, sizeof path, "/api/tweet/%s", id);
  tc_response_t r;
  tc_send(writer, "PUT", path, "{\"text\":\"edited after the crash\"}", &r);
  tc_assert_status(&r, 200);
  assert_int_equal(tc_json_int(&r, "like_count"), n);
  tc_response_free(&r);

  tc_client_destroy(w.c);
  tc_client_destroy(writer);
  tc_server_kill(&b, SIGTERM);
  tc_db_drop(&db);
  tc_db_close(&db);
}

/* ---- an author's counter read while its increments are folded ---- */

/* The author's tweet_count is a deferred increment (sync/txn/
 * store_mongo.c, "deferred increments"): each creation's +1 rides in its
 * transaction's open marker until a finisher folds a batch of them into
 * the account, and a profile read adds those not folded yet.  POSTERS
 * threads post as one author through both servers while a reader reads
 * the profile in a loop, alternately on A and B: every read must be
 * exact at some instant of its request, so at least the creations
 * answered before it was sent, at most those sent before its answer, and
 * never less than the read before it (a read racing a fold must neither
 * miss the folded increments nor count them twice).  Meanwhile the
 * author changes the password, a change checked against the account's
 * version: the pending increments do not make it stale. */
#define POSTERS 8
#define POSTS_EACH 25

typedef struct count_race {
  const char *token;
  atomic_int sent, acked, failed, posters_left;
} count_race_t;

typedef struct poster {
  count_race_t *race;
  int index;
} poster_t;

static void *poster_main(void *arg) {
  poster_t *p = arg;
  count_race_t *race = p->race;
  tc_client_t *c = tc_client_with_session(
      p->index % 2 ? tc_url_b() : tc_url_a(), race->token);
  for (int i = 0; i < POSTS_EACH; i++) {
    char body[96];
    snprintf(body, sizeof body, "{\"text\":\"race %d.%d\"}", p->index, i);
    atomic_fetch_add(&race->sent, 1);
    tc_response_t r;
    bool ok =
        tc_try_request(c, "POST", "/api/tweet", body, strlen(body), NULL, &r) &&
        r.status == 201;
    tc_response_free(&r);
    if (ok) {
      atomic_fetch_add(&race->acked, 1);
    } else {
      atomic_fetch_add(&race->failed, 1);
    }
  }
  tc_client_destroy(c);
  atomic_fetch_sub(&race->posters_left, 1);
  return NULL;
}

static void counts_read_exactly_while_folds_run(void **state) {
  (void)state;
  char name[31];
  tc_client_t *a = tc_new_user(tc_url_a(), "racer", name);
  tc_client_t *b = tc_client_new(tc_url_b());
  char token[128];
  tc_session_token(a, token, sizeof token);
  count_race_t race;
  memset(&race, 0, sizeof race);
  race.token = token;
  atomic_store(&race.posters_left, POSTERS);
  pthread_t th[POSTERS];
  poster_t posters[POSTERS];
  for (int i = 0; i < POSTERS; i++) {
    posters[i] = (poster_t){&race, i};
    assert_int_equal(pthread_create(&th[i], NULL, poster_main, &posters[i]), 0);
  }
  char path[80];
  snprintf(path, sizeof path, "/api/users/%s", name);
  int reads = 0, below = 0, above = 0, backwards = 0;
  int64_t last = 0;
  bool changed_password = false;
  while (atomic_load(&race.posters_left) > 0) {
    int lo = atomic_load(&race.acked);
    tc_response_t r;
    tc_get_ok(reads % 2 ? b : a, path, &r);
    int64_t n = tc_json_int(&r, "tweet_count");
    tc_response_free(&r);
    int hi = atomic_load(&race.sent);
    below += n < lo;
    above += n > hi;
    backwards += n < last;
    if (n < lo || n > hi || n < last) {
      fprintf(stderr,
              "read %d: tweet_count %lld, answered %d, sent %d, "
              "last read %lld\n",
              reads, (long long)n, lo, hi, (long long)last);
    }
    last = n;
    reads++;
    if (!changed_password && lo >= POSTERS * POSTS_EACH / 2) {
      changed_password = true;
      char body[160];
      snprintf(body, sizeof body,
               "{\"current_password\":\"%s\",\"new_password\":\"%s\"}",
               TC_PASSWORD, "changed while counting");
      tc_send(a, "PUT", "/api/me/password", body, &r);
      tc_assert_status(&r, 200); /* never 409 */
      tc_response_free(&r);
    }
  }
  for (int i = 0; i < POSTERS; i++) {
    pthread_join(th[i], NULL);
  }
  print_message("  %d profile reads during %d creations\n", reads,
                atomic_load(&race.acked));
  assert_int_equal(atomic_load(&race.failed), 0);
  assert_true(changed_password);
  assert_true(reads > 0);
  assert_int_equal(below, 0);
  assert_int_equal(above, 0);
  assert_int_equal(backwards, 0);
  assert_int_equal(tc_profile_int(a, name, "tweet_count"),
                   POSTERS * POSTS_EACH);
  assert_int_equal(tc_profile_int(b, name, "tweet_count"),
                   POSTERS * POSTS_EACH);
  settle(); /* and folded: the stored counts are the true ones */
  tc_client_destroy(b);
  tc_client_destroy(a);
}

static void killed_after_begin(void **state) {
  (void)state;
  killed_with_increments_pending("txn.after_begin");
}
static void killed_after_prepare(void **state) {
  (void)state;
  killed_with_increments_pending("txn.after_prepare");
}
static void killed_after_decision(void **state) {
  (void)state;
  killed_with_increments_pending("txn.after_decision");
}
static void killed_mid_apply(void **state) {
  (void)state;
  killed_with_increments_pending("txn.mid_apply");
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(likes_of_one_tweet_never_conflict),
      cmocka_unit_test(follows_of_one_account_never_conflict),
      cmocka_unit_test(replies_to_one_tweet_never_conflict),
      cmocka_unit_test(edit_and_delete_among_increments),
      cmocka_unit_test(counts_read_exactly_while_folds_run),
      cmocka_unit_test(killed_after_begin),
      cmocka_unit_test(killed_after_prepare),
      cmocka_unit_test(killed_after_decision),
      cmocka_unit_test(killed_mid_apply),
  };
  return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
