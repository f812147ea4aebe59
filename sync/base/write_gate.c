/*
 * write_gate.c - see write_gate.h.
 *
 * A counting gate on a mutex and a condition variable.  Invariant: busy
 * (guarded by mu) is the number of threads whose `held` points here, and
 * it exceeds the limit only by writers admitted before a lowered limit.
 * A waiter that gives up does not count (it holds nothing).  A place
 * freed goes to whichever thread takes mu first, a newcomer included:
 * strict arrival order is slower (write_gate.h); but a place goes to a
 * writer only while no writer of a higher priority waits (waiting[],
 * guarded by mu, counts the waiters of each priority).
 */
#include "sync/base/write_gate.h"

#include <assert.h>
#include <bson/bson.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <time.h>

struct write_gate {
  pthread_mutex_t mu;
  pthread_cond_t cv; /* on CLOCK_MONOTONIC */
  atomic_int limit;
  int busy;                           /* guarded by mu */
  int waiting[WRITE_GATE_PRIORITIES]; /* guarded by mu */
  atomic_llong entered, waited, wait_us, timeouts, held_us;
};

/* The gate the calling thread holds (write_gate_enter admitted it), or
 * NULL. */
static _Thread_local write_gate_t *held;

/* When the calling thread was admitted to `held` (monotonic, us). */
static _Thread_local int64_t held_since;

/* The priority of the calling thread's writes. */
static _Thread_local write_priority_t priority = WRITE_PRIORITY_NORMAL;

write_priority_t write_gate_set_priority(write_priority_t p) {
  write_priority_t before = priority;
  priority = p;
  return before;
}

/* Whether a writer of priority p must wait now (mu held). */
static bool must_wait(const write_gate_t *gate, int p) {
  if (gate->busy >= atomic_load(&gate->limit)) {
    return true;
  }
  for (int q = p + 1; q < WRITE_GATE_PRIORITIES; q++) {
    if (gate->waiting[q] > 0) {
      return true;
    }
  }
  return false;
}

write_gate_t *write_gate_new(void) {
  write_gate_t *gate = bson_malloc0(sizeof *gate);
  pthread_mutex_init(&gate->mu, NULL);
  pthread_condattr_t attr;
  pthread_condattr_init(&attr);
  pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
  pthread_cond_init(&gate->cv, &attr);
  pthread_condattr_destroy(&attr);
  return gate;
}

void write_gate_destroy(write_gate_t *gate) {
  if (!gate) {
    return;
  }
  pthread_cond_destroy(&gate->cv);
  pthread_mutex_destroy(&gate->mu);
  bson_free(gate);
}

void write_gate_set_limit(write_gate_t *gate, int limit) {
  atomic_store(&gate->limit, limit > 0 ? limit : 0);
  pthread_mutex_lock(&gate->mu);
  pthread_cond_broadcast(&gate->cv); /* a larger limit admits more */
  pthread_mutex_unlock(&gate->mu);
}

int write_gate_limit(write_gate_t *gate) { return atomic_load(&gate->limit); }

static int64_t monotonic_us(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

void write_gate_enter(write_gate_t *gate) {
  int limit = atomic_load(&gate->limit);
  if (held || limit == 0 || priority == WRITE_PRIORITY_UNGATED) {
    return;
  }
  atomic_fetch_add(&gate->entered, 1);
  int p = (int)priority;
  pthread_mutex_lock(&gate->mu);
  if (must_wait(gate, p)) {
    atomic_fetch_add(&gate->waited, 1);
    int64_t start = monotonic_us();
    struct timespec deadline;
    clock_gettime(CLOCK_MONOTONIC, &deadline);
    deadline.tv_sec += WRITE_GATE_MAX_WAIT_MS / 1000;
    deadline.tv_nsec += (long)(WRITE_GATE_MAX_WAIT_MS % 1000) * 1000000L;
    if (deadline.tv_nsec >= 1000000000L) {
      deadline.tv_sec++;
      deadline.tv_nsec -= 1000000000L;
    }
    bool gave_up = false;
    gate->waiting[p]++;
    while (atomic_load(&gate->limit) > 0 && must_wait(gate, p)) {
      if (pthread_cond_timedwait(&gate->cv, &gate->mu, &deadline) ==
              ETIMEDOUT &&
          must_wait(gate, p)) {
        gave_up = true;
        break;
      }
    }
    gate->waiting[p]--;
    atomic_fetch_add(&gate->wait_us, monotonic_us() - start);
    if (gave_up) {
      atomic_fetch_add(&gate->timeouts, 1);
      pthread_mutex_unlock(&gate->mu);
      return;
    }
  }
  gate->busy++;
  pthread_mutex_unlock(&gate->mu);
  held = gate;
  held_since = monotonic_us();
}

void write_gate_leave(void) {
  write_gate_t *gate = held;
  if (!gate) {
    return;
  }
  held = NULL;
  atomic_fetch_add(&gate->held_us, monotonic_us() - held_since);
  pthread_mutex_lock(&gate->mu);
  assert(gate->busy > 0); /* this thread's place is counted */
  gate->busy--;
  /* Waiters of several priorities: wake them all, the highest takes it
   * (one woken at random might be one that must let another go first). */
  int levels = 0;
  for (int q = 0; q < WRITE_GATE_PRIORITIES; q++) {
    levels += gate->waiting[q] > 0;
  }
  if (levels > 1) {
    pthread_cond_broadcast(&gate->cv);
  } else {
    pthread_cond_signal(&gate->cv);
  }
  pthread_mutex_unlock(&gate->mu);
}

void write_gate_stats(write_gate_t *gate, write_gate_stats_t *out) {
  out->entered = atomic_load(&gate->entered);
  out->waited = atomic_load(&gate->waited);
  out->wait_us = atomic_load(&gate->wait_us);
  out->timeouts = atomic_load(&gate->timeouts);
  out->held_us = atomic_load(&gate->held_us);
}
