/*
 * test_batcher.c - unit tests for batcher.h: a lone request is run at once
 * by its own thread; many threads' requests are each run exactly once, in
 * batches of at most `max`, one batch at a time; requests queued while a
 * batch runs go together into the next; a batch takes requests in queue
 * order; results written by the leader's run are what each submitter
 * reads; the leader's ctx is the one passed to run; requests submitted
 * together run together, in order.
 *
 * No database, no I/O: threads and a condition to hold a batch open.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>
#include <pthread.h>
#include <stdatomic.h>

#include "sync/base/batcher.h"

typedef struct req {
  batch_item_t item; /* first */
  int value;
  int result;           /* value * 2, written by run */
  pthread_t ran_on;     /* the thread that ran it */
  const void *ran_with; /* the ctx it was run with */
  int batch_no;
} req_t;

typedef struct fixture {
  batcher_t b;
  atomic_int running; /* batches running at once: never above 1 */
  atomic_int max_running;
  atomic_int batches;
  atomic_int runs; /* requests run */
  size_t largest;
  /* Holding the first batch open until `release`. */
  pthread_mutex_t mu;
  pthread_cond_t cv;
  bool hold, held, release;
  int order[1024]; /* values in the order run */
  size_t n_order;
} fixture_t;

static void run(void *ctx, batch_item_t **items, size_t n) {
  fixture_t *f = ctx;
  int now = atomic_fetch_add(&f->running, 1) + 1;
  if (now > atomic_load(&f->max_running)) {
    atomic_store(&f->max_running, now);
  }
  int no = atomic_fetch_add(&f->batches, 1) + 1;
  assert_true(n >= 1 && n <= f->b.max);
  pthread_mutex_lock(&f->mu);
  if (n > f->largest) {
    f->largest = n;
  }
  for (size_t i = 0; i < n; i++) {
    req_t *r = (req_t *)items[i];
    r->result = r->value * 2;
    r->ran_on = pthread_self();
    r->ran_with = ctx;
    r->batch_no = no;
    f->order[f->n_order++] = r->value;
  }
  if (f->hold) {
    f->hold = false;
    f->held = true;
    pthread_cond_broadcast(&f->cv);
    while (!f->release) {
      pthread_cond_wait(&f->cv, &f->mu);
    }
  }
  pthread_mutex_unlock(&f->mu);
  atomic_fetch_add(&f->runs, (int)n);
  atomic_fetch_sub(&f->running, 1);
}

static void fixture_init(fixture_t *f, size_t max) {
  memset(f, 0, sizeof *f);
  batcher_init(&f->b, max);
  pthread_mutex_init(&f->mu, NULL);
  pthread_cond_init(&f->cv, NULL);
}

static void fixture_destroy(fixture_t *f) {
  batcher_destroy(&f->b);
  pthread_cond_destroy(&f->cv);
  pthread_mutex_destroy(&f->mu);
}

static void test_lone_request(void **state) {
  (void)state;
  fixture_t f;
  fixture_init(&f, 8);
  req_t r = {.value = 21};
  batcher_submit(&f.b, &r.item, run, &f);
  assert_int_equal(r.result, 42);
  assert_true(pthread_equal(r.ran_on, pthread_self()));
  assert_ptr_equal(r.ran_with, &f);
  assert_int_equal(f.batches, 1);
  /* Again: the batcher is reusable and still runs a lone request at once. */
  req_t r2 = {.value = 5};
  batcher_submit(&f.b, &r2.item, run, &f);
  assert_int_equal(r2.result, 10);
  assert_int_equal(f.batches, 2);
  fixture_destroy(&f);
}

typedef struct worker {
  fixture_t *f;
  req_t *reqs;
  int n;
} worker_t;

static void *work(void *arg) {
  worker_t *w = arg;
  for (int i = 0; i < w->n; i++) {
    batcher_submit(&w->f->b, &w->reqs[i].item, run, w->f);
  }
  return NULL;
}

static void test_many_threads(void **state) {
  (void)state;
  enum { THREADS = 16, EACH = 50 };
  fixture_t f;
  fixture_init(&f, 4);
  static req_t reqs[THREADS][EACH];
  memset(reqs, 0, sizeof reqs);
  pthread_t t[THREADS];
  worker_t w[THREADS];
  for (int i = 0; i < THREADS; i++) {
    for (int j = 0; j < EACH; j++) {
      reqs[i][j].value = i * EACH + j;
    }
    w[i] = (worker_t){&f, reqs[i], EACH};
    assert_int_equal(pthread_create(&t[i], NULL, work, &w[i]), 0);
  }
  for (int i = 0; i < THREADS; i++) {
    pthread_join(t[i], NULL);
  }
  assert_int_equal(f.runs, THREADS * EACH);
  assert_int_equal(f.max_running, 1);
  assert_true(f.largest <= 4);
  /* Each run exactly once, with its result. */
  static bool seen[THREADS * EACH];
  memset(seen, 0, sizeof seen);
  for (size_t k = 0; k < f.n_order; k++) {
    assert_false(seen[f.order[k]]);
    seen[f.order[k]] = true;
  }
  for (int i = 0; i < THREADS; i++) {
    for (int j = 0; j < EACH; j++) {
      assert_int_equal(reqs[i][j].result, 2 * reqs[i][j].value);
      assert_ptr_equal(reqs[i][j].ran_with, &f);
    }
    /* One thread's requests run in the order it submitted them. */
    for (int j = 1; j < EACH; j++) {
      assert_true(reqs[i][j].batch_no > reqs[i][j - 1].batch_no);
    }
  }
  fixture_destroy(&f);
}

static void *submit_one(void *arg) {
  req_t **pr = arg;
  fixture_t *f = (fixture_t *)pr[1];
  batcher_submit(&f->b, &pr[0]->item, run, f);
  return NULL;
}

/* Requests that arrive while a batch runs wait and go into the next batch
 * together, in the order they were queued, at most max of them. */
static void test_queued_while_running(void **state) {
  (void)state;
  fixture_t f;
  fixture_init(&f, 3);
  f.hold = true;
  req_t first = {.value = 100};
  void *arg0[2] = {&first, &f};
  pthread_t t0;
  assert_int_equal(pthread_create(&t0, NULL, submit_one, arg0), 0);
  pthread_mutex_lock(&f.mu);
  while (!f.held) {
    pthread_cond_wait(&f.cv, &f.mu);
  }
  pthread_mutex_unlock(&f.mu);

  /* Queue five while the first batch is held open, one at a time so the
   * queue order is known. */
  req_t later[5];
  void *args[5][2];
  pthread_t t[5];
  for (int i = 0; i < 5; i++) {
    memset(&later[i], 0, sizeof later[i]);
    later[i].value = i;
    args[i][0] = &later[i];
    args[i][1] = &f;
    assert_int_equal(pthread_create(&t[i], NULL, submit_one, args[i]), 0);
    for (;;) { /* until it is queued */
      pthread_mutex_lock(&f.b.mu);
      size_t queued = 0;
      for (batch_item_t *it = f.b.head; it; it = it->next) {
        queued++;
      }
      pthread_mutex_unlock(&f.b.mu);
      if (queued == (size_t)i + 1) {
        break;
      }
      sched_yield();
    }
  }
  pthread_mutex_lock(&f.mu);
  f.release = true;
  pthread_cond_broadcast(&f.cv);
  pthread_mutex_unlock(&f.mu);
  pthread_join(t0, NULL);
  for (int i = 0; i < 5; i++) {
    pthread_join(t[i], NULL);
  }
  assert_int_equal(f.batches, 3); /* [100], [0 1 2], [3 4] */
  int expect[] = {100, 0, 1, 2, 3, 4};
  assert_int_equal(f.n_order, 6);
  for (int i = 0; i < 6; i++) {
    assert_int_equal(f.order[i], expect[i]);
  }
  assert_int_equal(later[0].batch_no, later[2].batch_no);
  assert_int_equal(later[3].batch_no, later[4].batch_no);
  assert_true(later[3].batch_no > later[2].batch_no);
  assert_int_equal(f.max_running, 1);
  fixture_destroy(&f);
}

typedef struct many_worker {
  fixture_t *f;
  req_t *reqs;
  int rounds, k; /* rounds submissions of k requests each */
} many_worker_t;

static void *work_many(void *arg) {
  many_worker_t *w = arg;
  for (int r = 0; r < w->rounds; r++) {
    batch_item_t *items[8];
    for (int i = 0; i < w->k; i++) {
      items[i] = &w->reqs[r * w->k + i].item;
    }
    batcher_submit_many(&w->f->b, items, (size_t)w->k, run, w->f);
    for (int i = 0; i < w->k; i++) { /* every one has run on return */
      req_t *q = &w->reqs[r * w->k + i];
      assert_int_equal(q->result, 2 * q->value);
    }
  }
  return NULL;
}

/* Requests submitted together run in their order with no other thread's
 * request between them, in one batch or, beyond max, consecutive ones;
 * each submitter returns only once all of its requests have run. */
static void test_submitted_together(void **state) {
  (void)state;
  enum { THREADS = 8, ROUNDS = 25, K = 5 }; /* 1,000 values: f.order */
  fixture_t f;
  fixture_init(&f, 4); /* K > max: a submission spans two batches */
  static req_t reqs[THREADS][ROUNDS * K];
  memset(reqs, 0, sizeof reqs);
  pthread_t t[THREADS];
  many_worker_t w[THREADS];
  for (int i = 0; i < THREADS; i++) {
    for (int j = 0; j < ROUNDS * K; j++) {
      reqs[i][j].value = i * ROUNDS * K + j;
    }
    w[i] = (many_worker_t){&f, reqs[i], ROUNDS, K};
    assert_int_equal(pthread_create(&t[i], NULL, work_many, &w[i]), 0);
  }
  for (int i = 0; i < THREADS; i++) {
    pthread_join(t[i], NULL);
  }
  assert_int_equal(f.runs, THREADS * ROUNDS * K);
  assert_int_equal(f.max_running, 1);
  assert_true(f.largest <= 4);
  assert_int_equal(f.n_order, THREADS * ROUNDS * K);
  /* Each submission's K values appear together and in order. */
  for (size_t k = 0; k < f.n_order;) {
    int v = f.order[k];
    assert_int_equal(v % K, 0); /* a submission starts at its first */
    for (int i = 1; i < K; i++) {
      assert_int_equal(f.order[k + (size_t)i], v + i);
    }
    k += K;
  }
  fixture_destroy(&f);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_lone_request),
      cmocka_unit_test(test_many_threads),
      cmocka_unit_test(test_queued_while_running),
      cmocka_unit_test(test_submitted_together),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
