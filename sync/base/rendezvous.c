/*
 * rendezvous.c - see rendezvous.h.
 *
 * Invariants: left <= arrived <= expected; ran is set once, by the
 * thread whose arrival made arrived == expected, after its run; a thread
 * leaves (left++) only once ran is set; the one that makes left ==
 * expected frees the rendezvous.
 */
#include "sync/base/rendezvous.h"

#include <assert.h>
#include <bson/bson.h>
#include <pthread.h>
#include <stdbool.h>
#include <string.h>

struct rendezvous {
  pthread_mutex_t mu;
  pthread_cond_t cv;
  size_t expected, arrived, left;
  bool ran;
  void **items; /* every arrival's, in arrival order */
  size_t n_items, cap;
};

rendezvous_t *rendezvous_new(size_t expected) {
  assert(expected >= 1);
  rendezvous_t *r = bson_malloc0(sizeof *r);
  pthread_mutex_init(&r->mu, NULL);
  pthread_cond_init(&r->cv, NULL);
  r->expected = expected;
  return r;
}

void rendezvous_arrive(rendezvous_t *r, void *const *items, size_t k,
                       rendezvous_run_fn run, void *ctx) {
  pthread_mutex_lock(&r->mu);
  assert(r->arrived < r->expected && !r->ran);
  if (r->n_items + k > r->cap) {
    r->cap = 2 * (r->n_items + k);
    r->items = bson_realloc(r->items, sizeof *r->items * r->cap);
  }
  if (k > 0) {
    memcpy(r->items + r->n_items, items, sizeof *items * k);
    r->n_items += k;
  }
  if (++r->arrived == r->expected) {
    /* Nobody adds to items any more: run them unlocked. */
    pthread_mutex_unlock(&r->mu);
    run(ctx, r->items, r->n_items);
    pthread_mutex_lock(&r->mu);
    r->ran = true;
    pthread_cond_broadcast(&r->cv);
  }
  while (!r->ran) {
    pthread_cond_wait(&r->cv, &r->mu);
  }
  assert(r->left < r->arrived);
  bool last = ++r->left == r->expected;
  pthread_mutex_unlock(&r->mu);
  if (last) {
    pthread_cond_destroy(&r->cv);
    pthread_mutex_destroy(&r->mu);
    bson_free(r->items);
    bson_free(r);
  }
}
