/*
 * test_write_gate.c - server/write_gate.c with real threads: the limit is
 * never exceeded, every waiter gets in once places are free, a waiter gives up
 * after WRITE_GATE_MAX_WAIT_MS when the holder never leaves (and the
 * ones behind it are not held up by it), no limit means no waiting, a
 * thread holds one place at most (a second enter is a no-op, one leave
 * frees it), and leave without a place is harmless; and priorities: with
 * writers of each priority waiting, places freed go to the urgent ones
 * first, then the normal ones, the background ones last, and a passed-over
 * writer still gets in; an ungated writer passes at once and holds no
 * place; and the time places were held counts held places only.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "sync/base/write_gate.h"

static void sleep_ms(int ms) {
  struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
}

static int64_t now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- the limit holds ---- */

typedef struct crowd {
  write_gate_t *gate;
  atomic_int inside, most;
  int rounds;
} crowd_t;

static void *crowd_main(void *arg) {
  crowd_t *c = arg;
  for (int i = 0; i < c->rounds; i++) {
    write_gate_enter(c->gate);
    int now = atomic_fetch_add(&c->inside, 1) + 1;
    int most = atomic_load(&c->most);
    while (now > most && !atomic_compare_exchange_weak(&c->most, &most, now)) {
    }
    usleep(200);
    atomic_fetch_sub(&c->inside, 1);
    write_gate_leave();
  }
  return NULL;
}

static int run_crowd(int limit, int threads) {
  crowd_t c;
  memset(&c, 0, sizeof c);
  c.gate = write_gate_new();
  c.rounds = 50;
  write_gate_set_limit(c.gate, limit);
  pthread_t t[16];
  for (int i = 0; i < threads; i++) {
    assert_int_equal(pthread_create(&t[i], NULL, crowd_main, &c), 0);
  }
  for (int i = 0; i < threads; i++) {
    pthread_join(t[i], NULL);
  }
  write_gate_stats_t st;
  write_gate_stats(c.gate, &st);
  assert_int_equal(st.timeouts, 0);
  assert_int_equal(st.entered, limit ? threads * c.rounds : 0);
  if (!limit) {
    assert_int_equal(st.waited, 0);
  }
  write_gate_destroy(c.gate);
  return atomic_load(&c.most);
}

static void limit_is_never_exceeded(void **state) {
  (void)state;
  assert_int_equal(run_crowd(1, 8), 1);
  int two = run_crowd(2, 8);
  assert_true(two >= 1 && two <= 2);
  int three = run_crowd(3, 12);
  assert_true(three >= 1 && three <= 3);
}

static void no_limit_lets_everyone_in(void **state) {
  (void)state;
  run_crowd(0, 8); /* nobody counted, nobody waited */
  write_gate_t *gate = write_gate_new();
  write_gate_enter(gate);
  write_gate_enter(gate); /* nothing to wait for, nothing held */
  write_gate_leave();
  write_gate_stats_t st;
  write_gate_stats(gate, &st);
  assert_int_equal(st.entered, 0);
  assert_int_equal(write_gate_limit(gate), 0);
  write_gate_destroy(gate);
}

/* ---- waiters get in ---- */

typedef struct queue {
  write_gate_t *gate;
  atomic_int arrived, passed;
} queue_t;

static void *waiter_main(void *arg) {
  queue_t *q = arg;
  atomic_fetch_add(&q->arrived, 1);
  write_gate_enter(q->gate);
  atomic_fetch_add(&q->passed, 1);
  sleep_ms(5);
  write_gate_leave();
  return NULL;
}

static void waiters_get_in_once_the_holder_leaves(void **state) {
  (void)state;
  queue_t q;
  memset(&q, 0, sizeof q);
  q.gate = write_gate_new();
  write_gate_set_limit(q.gate, 1);
  write_gate_enter(q.gate); /* this thread holds the only place */
  pthread_t t[5];
  for (int i = 0; i < 5; i++) {
    assert_int_equal(pthread_create(&t[i], NULL, waiter_main, &q), 0);
  }
  while (atomic_load(&q.arrived) < 5) {
    sleep_ms(1);
  }
  sleep_ms(50);
  assert_int_equal(atomic_load(&q.passed), 0); /* all wait for us */
  write_gate_leave();
  for (int i = 0; i < 5; i++) {
    pthread_join(t[i], NULL);
  }
  assert_int_equal(atomic_load(&q.passed), 5);
  write_gate_stats_t st;
  write_gate_stats(q.gate, &st);
  assert_int_equal(st.entered, 6);
  assert_int_equal(st.waited, 5);
  assert_int_equal(st.timeouts, 0);
  assert_true(st.wait_us > 0);
  write_gate_destroy(q.gate);
}

/* ---- ungated writes ---- */

typedef struct ungated {
  write_gate_t *gate;
  atomic_int passed;
} ungated_t;

/* Enters as an ungated writer while another thread holds the only
 * place, then as a normal one once it is free: the ungated write took no
 * place, so the normal one gets in. */
static void *ungated_main(void *arg) {
  ungated_t *u = arg;
  write_priority_t was = write_gate_set_priority(WRITE_PRIORITY_UNGATED);
  write_gate_enter(u->gate);
  atomic_fetch_add(&u->passed, 1);
  write_gate_leave(); /* holds none: harmless */
  write_gate_set_priority(was);
  return NULL;
}

static void ungated_writes_pass_and_hold_no_place(void **state) {
  (void)state;
  ungated_t u;
  memset(&u, 0, sizeof u);
  u.gate = write_gate_new();
  write_gate_set_limit(u.gate, 1);
  write_gate_enter(u.gate); /* this thread holds the only place */
  pthread_t t;
  assert_int_equal(pthread_create(&t, NULL, ungated_main, &u), 0);
  pthread_join(t, NULL);
  assert_int_equal(atomic_load(&u.passed), 1);
  write_gate_stats_t st;
  write_gate_stats(u.gate, &st);
  assert_int_equal(st.entered, 1); /* ours only */
  assert_int_equal(st.waited, 0);
  assert_int_equal(st.timeouts, 0);
  write_gate_leave();
  /* An ungated writer inside: a normal one still gets the place. */
  write_priority_t was = write_gate_set_priority(WRITE_PRIORITY_UNGATED);
  write_gate_enter(u.gate);
  write_gate_set_priority(was);
  queue_t q;
  memset(&q, 0, sizeof q);
  q.gate = u.gate;
  assert_int_equal(pthread_create(&t, NULL, waiter_main, &q), 0);
  pthread_join(t, NULL);
  assert_int_equal(atomic_load(&q.passed), 1);
  write_gate_stats(u.gate, &st);
  assert_int_equal(st.entered, 2);
  assert_int_equal(st.waited, 0);
  write_gate_leave();
  write_gate_destroy(u.gate);
}

/* ---- a holder that never leaves ---- */

typedef struct timed {
  write_gate_t *gate;
  int64_t waited_ms;
} timed_t;

static void *timed_main(void *arg) {
  timed_t *t = arg;
  int64_t start = now_ms();
  write_gate_enter(t->gate);
  t->waited_ms = now_ms() - start;
  write_gate_leave();
  return NULL;
}

static void a_stuck_holder_costs_one_wait_not_a_hang(void **state) {
  (void)state;
  write_gate_t *gate = write_gate_new();
  write_gate_set_limit(gate, 1);
  write_gate_enter(gate); /* held, and never given back below */
  timed_t a = {gate, 0}, b = {gate, 0};
  pthread_t ta, tb;
  assert_int_equal(pthread_create(&ta, NULL, timed_main, &a), 0);
  sleep_ms(300);
  assert_int_equal(pthread_create(&tb, NULL, timed_main, &b), 0);
  pthread_join(ta, NULL);
  pthread_join(tb, NULL);
  /* Each gave up after the maximum wait (the holder is still in), and
   * neither waited much longer. */
  assert_true(a.waited_ms >= WRITE_GATE_MAX_WAIT_MS - 5);
  assert_true(a.waited_ms < 3 * WRITE_GATE_MAX_WAIT_MS);
  assert_true(b.waited_ms >= WRITE_GATE_MAX_WAIT_MS - 5);
  assert_true(b.waited_ms < 3 * WRITE_GATE_MAX_WAIT_MS);
  write_gate_stats_t st;
  write_gate_stats(gate, &st);
  assert_int_equal(st.timeouts, 2);
  /* Once the holder leaves, the next one goes at once. */
  write_gate_leave();
  timed_t c = {gate, 0};
  timed_main(&c);
  write_gate_stats(gate, &st);
  assert_int_equal(st.timeouts, 2);
  assert_int_equal(st.waited, 2);
  write_gate_destroy(gate);
}

static void raising_the_limit_admits_waiters(void **state) {
  (void)state;
  write_gate_t *gate = write_gate_new();
  write_gate_set_limit(gate, 1);
  write_gate_enter(gate);
  timed_t a = {gate, 0};
  pthread_t ta;
  assert_int_equal(pthread_create(&ta, NULL, timed_main, &a), 0);
  sleep_ms(100);
  write_gate_set_limit(gate, 2);
  pthread_join(ta, NULL);
  write_gate_stats_t st;
  write_gate_stats(gate, &st);
  assert_int_equal(st.timeouts, 0); /* admitted, not given up */
  assert_true(a.waited_ms < WRITE_GATE_MAX_WAIT_MS);
  write_gate_leave();
  write_gate_destroy(gate);
}

/* ---- priorities ---- */

typedef struct ranked {
  write_gate_t *gate;
  write_priority_t priority;
  atomic_int *order; /* the next admission number */
  int admitted;      /* out: this writer's admission number */
} ranked_t;

static void *ranked_main(void *arg) {
  ranked_t *r = arg;
  write_gate_set_priority(r->priority);
  write_gate_enter(r->gate);
  r->admitted = atomic_fetch_add(r->order, 1);
  usleep(2000);
  write_gate_leave();
  return NULL;
}

static void higher_priorities_get_in_first(void **state) {
  (void)state;
  write_gate_t *gate = write_gate_new();
  write_gate_set_limit(gate, 1);
  write_gate_enter(gate); /* held while the others line up */
  atomic_int order = 1;
  enum { N = 9 };
  static const write_priority_t lineup[N] = {
      WRITE_PRIORITY_BACKGROUND, WRITE_PRIORITY_NORMAL, WRITE_PRIORITY_URGENT,
      WRITE_PRIORITY_BACKGROUND, WRITE_PRIORITY_NORMAL, WRITE_PRIORITY_URGENT,
      WRITE_PRIORITY_BACKGROUND, WRITE_PRIORITY_NORMAL, WRITE_PRIORITY_URGENT};
  ranked_t r[N];
  pthread_t th[N];
  for (int i = 0; i < N; i++) {
    r[i] = (ranked_t){gate, lineup[i], &order, 0};
    assert_int_equal(pthread_create(&th[i], NULL, ranked_main, &r[i]), 0);
  }
  sleep_ms(200); /* every one waits now */
  write_gate_leave();
  for (int i = 0; i < N; i++) {
    pthread_join(th[i], NULL);
  }
  /* the three urgent ones took places 1-3, the normal 4-6, then the
   * background ones */
  for (int i = 0; i < N; i++) {
    int rank = (int)lineup[i];
    int first = (WRITE_PRIORITY_URGENT - rank) * 3 + 1;
    assert_in_range(r[i].admitted, first, first + 2);
  }
  write_gate_destroy(gate);
  write_gate_set_priority(WRITE_PRIORITY_NORMAL);
}

/* ---- the time places were held ---- */

static void held_time_counts_places_held_only(void **state) {
  (void)state;
  write_gate_t *gate = write_gate_new();
  write_gate_stats_t st;
  /* no limit: nothing is held */
  write_gate_enter(gate);
  sleep_ms(20);
  write_gate_leave();
  write_gate_stats(gate, &st);
  assert_int_equal(st.held_us, 0);
  /* a place held for 50 ms counts at least that */
  write_gate_set_limit(gate, 1);
  write_gate_enter(gate);
  sleep_ms(50);
  write_gate_leave();
  write_gate_stats(gate, &st);
  assert_true(st.held_us >= 50000);
  int64_t before = st.held_us;
  /* an ungated write holds nothing */
  write_gate_set_priority(WRITE_PRIORITY_UNGATED);
  write_gate_enter(gate);
  sleep_ms(20);
  write_gate_leave();
  write_gate_set_priority(WRITE_PRIORITY_NORMAL);
  write_gate_stats(gate, &st);
  assert_int_equal(st.held_us, before);
  /* a second enter while holding is the same place */
  write_gate_enter(gate);
  write_gate_enter(gate);
  sleep_ms(20);
  write_gate_leave();
  write_gate_leave(); /* holds nothing now: harmless */
  write_gate_stats(gate, &st);
  assert_true(st.held_us >= before + 20000);
  write_gate_destroy(gate);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(limit_is_never_exceeded),
      cmocka_unit_test(no_limit_lets_everyone_in),
      cmocka_unit_test(waiters_get_in_once_the_holder_leaves),
      cmocka_unit_test(a_stuck_holder_costs_one_wait_not_a_hang),
      cmocka_unit_test(raising_the_limit_admits_waiters),
      cmocka_unit_test(higher_priorities_get_in_first),
      cmocka_unit_test(ungated_writes_pass_and_hold_no_place),
      cmocka_unit_test(held_time_counts_places_held_only),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
