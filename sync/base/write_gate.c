/*
 * write_gate.c - see write_gate.h.
 *
 * A counting gate on a mutex and a condition variable.  Invariant: busy
 * (guarded by mu) is the number of threads whose `held` points here, and
 * it exceeds the limit only by writers admitted before a lowered limit.
 * A waiter that gives up does not count (it holds nothing).  A place
 * freed goes to whichever thread takes mu first, a newcomer included:
 * strict arrival order is slower (write_gate.h); but while urgent (guarded
 * by mu, the urgent writers waiting) is not zero, only urgent writers may
 * take one.
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
  int busy;   /* guarded by mu */
  int urgent; /* guarded by mu: urgent writers waiting */
  atomic_llong entered, waited, wait_us, timeouts;
};

/* The gate the calling thread holds (write_gate_enter admitted it), or
 * NULL. */
static _Thread_local write_gate_t *held;

/* Whether the calling thread's writes are urgent. */
static _Thread_local bool urgent_writes;

void write_gate_set_urgent(bool on) { urgent_writes = on; }

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
  if (held || limit == 0) {
    return;
  }
  atomic_fetch_add(&gate->entered, 1);
  bool urgent = urgent_writes;
  pthread_mutex_lock(&gate->mu);
  if (gate->busy >= atomic_load(&gate->limit) ||
      (!urgent && gate->urgent > 0)) {
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
    gate->urgent += urgent;
    while (atomic_load(&gate->limit) > 0 &&
           (gate->busy >= atomic_load(&gate->limit) ||
            (!urgent && gate->urgent > 0))) {
      if (pthread_cond_timedwait(&gate->cv, &gate->mu, &deadline) ==
              ETIMEDOUT &&
          gate->busy >= atomic_load(&gate->limit)) {
        gave_up = true;
        break;
      }
    }
    gate->urgent -= urgent;
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
}

void write_gate_leave(void) {
  write_gate_t *gate = held;
  if (!gate) {
    return;
  }
  held = NULL;
  pthread_mutex_lock(&gate->mu);
  assert(gate->busy > 0); /* this thread's place is counted */
  gate->busy--;
  /* An urgent waiter must be among those woken. */
  if (gate->urgent > 0) {
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
}
