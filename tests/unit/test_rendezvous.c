/*
 * test_rendezvous.c - unit tests for rendezvous.h: one thread alone runs
 * its requests at once; of many, the last to arrive runs every thread's
 * requests once, in arrival order, with its own ctx, after all have
 * arrived; no thread returns before the run has ended; threads arriving
 * with nothing count too; the rendezvous frees itself (ASan's leak check
 * sees it).
 *
 * No database, no I/O: threads, and an arrival held back until the
 * others are waiting.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>
#include <pthread.h>
#include <stdatomic.h>
#include <unistd.h>

#include "sync/base/rendezvous.h"

typedef struct run_log {
  atomic_int runs;    /* run calls */
  atomic_int arrived; /* threads inside rendezvous_arrive */
  int seen_arrived;   /* arrivals when the run began */
  int values[256];    /* the values run, in order */
  size_t n;
  pthread_t ran_on;
  const void *ran_with;
} run_log_t;

typedef struct caller {
  run_log_t *log; /* the ctx each thread gives */
  int values[4];
  size_t k;
  int done_runs; /* runs seen when its arrival returned */
} caller_t;

static void run(void *ctx, void *const *items, size_t n) {
  run_log_t *log = ctx;
  atomic_fetch_add(&log->runs, 1);
  log->seen_arrived = atomic_load(&log->arrived);
  log->ran_on = pthread_self();
  log->ran_with = ctx;
  for (size_t i = 0; i < n; i++) {
    log->values[log->n++] = *(const int *)items[i];
  }
}

static void arrive(rendezvous_t *r, caller_t *c) {
  void *items[4];
  for (size_t i = 0; i < c->k; i++) {
    items[i] = &c->values[i];
  }
  atomic_fetch_add(&c->log->arrived, 1);
  rendezvous_arrive(r, c->k ? items : NULL, c->k, run, c->log);
  c->done_runs = atomic_load(&c->log->runs);
}

static void test_alone(void **state) {
  (void)state;
  run_log_t log;
  memset(&log, 0, sizeof log);
  caller_t c = {.log = &log, .values = {7, 8}, .k = 2};
  arrive(rendezvous_new(1), &c);
  assert_int_equal(log.runs, 1);
  assert_int_equal(c.done_runs, 1);
  assert_int_equal(log.n, 2);
  assert_int_equal(log.values[0], 7);
  assert_int_equal(log.values[1], 8);
  assert_true(pthread_equal(log.ran_on, pthread_self()));
  /* alone with nothing: run once, with nothing */
  memset(&log, 0, sizeof log);
  caller_t none = {.log = &log};
  arrive(rendezvous_new(1), &none);
  assert_int_equal(log.runs, 1);
  assert_int_equal(log.n, 0);
}

typedef struct worker {
  rendezvous_t *r;
  caller_t c;
} worker_t;

static void *work(void *arg) {
  worker_t *w = arg;
  arrive(w->r, &w->c);
  return NULL;
}

/* The last of THREADS runs everyone's, once all have arrived, and
 * nobody returns before: the last is held back until the others wait. */
static void test_the_last_runs_everyones(void **state) {
  (void)state;
  enum { THREADS = 8 };
  run_log_t log;
  memset(&log, 0, sizeof log);
  rendezvous_t *r = rendezvous_new(THREADS + 1);
  worker_t w[THREADS];
  pthread_t t[THREADS];
  for (int i = 0; i < THREADS; i++) {
    w[i] = (worker_t){.r = r, .c = {.log = &log, .k = (size_t)(i % 3)}};
    for (size_t j = 0; j < w[i].c.k; j++) {
      w[i].c.values[j] = i * 10 + (int)j;
    }
    assert_int_equal(pthread_create(&t[i], NULL, work, &w[i]), 0);
  }
  while (atomic_load(&log.arrived) < THREADS) {
    usleep(1000);
  }
  usleep(20000); /* they are inside rendezvous_arrive, waiting */
  assert_int_equal(log.runs, 0);
  caller_t last = {.log = &log, .values = {99}, .k = 1};
  arrive(r, &last);
  for (int i = 0; i < THREADS; i++) {
    assert_int_equal(pthread_join(t[i], NULL), 0);
    assert_int_equal(w[i].c.done_runs, 1); /* returned after the run */
  }
  assert_int_equal(log.runs, 1);
  assert_int_equal(log.seen_arrived, THREADS + 1);
  assert_true(pthread_equal(log.ran_on, pthread_self()));
  assert_ptr_equal(log.ran_with, &log);
  /* every value once; each thread's in its order; the last one's last */
  size_t want = 1;
  for (int i = 0; i < THREADS; i++) {
    want += w[i].c.k;
    int at = -1;
    for (size_t j = 0; j < w[i].c.k; j++) {
      int found = -1;
      for (size_t v = 0; v < log.n; v++) {
        if (log.values[v] == w[i].c.values[j]) {
          assert_int_equal(found, -1);
          found = (int)v;
        }
      }
      assert_true(found > at);
      at = found;
    }
  }
  assert_int_equal(log.n, want);
  assert_int_equal(log.values[log.n - 1], 99);
}

/* Rendezvous after rendezvous of threads arriving in any order. */
static void test_many_rounds(void **state) {
  (void)state;
  enum { THREADS = 6, ROUNDS = 200 };
  for (int round = 0; round < ROUNDS; round++) {
    run_log_t log;
    memset(&log, 0, sizeof log);
    rendezvous_t *r = rendezvous_new(THREADS);
    worker_t w[THREADS];
    pthread_t t[THREADS];
    for (int i = 0; i < THREADS; i++) {
      w[i] = (worker_t){.r = r, .c = {.log = &log, .values = {i}, .k = 1}};
      assert_int_equal(pthread_create(&t[i], NULL, work, &w[i]), 0);
    }
    for (int i = 0; i < THREADS; i++) {
      assert_int_equal(pthread_join(t[i], NULL), 0);
      assert_int_equal(w[i].c.done_runs, 1);
    }
    assert_int_equal(log.runs, 1);
    assert_int_equal(log.seen_arrived, THREADS);
    assert_int_equal(log.n, THREADS);
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_alone),
      cmocka_unit_test(test_the_last_runs_everyones),
      cmocka_unit_test(test_many_rounds),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
