/*
 * batcher.c - see batcher.h.
 *
 * The queue is a singly linked list with a tail pointer, guarded by mu;
 * `busy` is true exactly while a leader runs a batch outside the lock.
 * Waiters sleep on cv, broadcast when a batch ends: each wakes, returns if
 * its request is done, else leads if none is running.
 */
#include "sync/base/batcher.h"

#include <assert.h>

void batcher_init(batcher_t *b, size_t max) {
  assert(max >= 1 && max <= BATCHER_MAX);
  pthread_mutex_init(&b->mu, NULL);
  pthread_cond_init(&b->cv, NULL);
  b->head = NULL;
  b->tail = &b->head;
  b->busy = false;
  b->max = max;
}

void batcher_destroy(batcher_t *b) {
  assert(b->head == NULL && !b->busy);
  pthread_cond_destroy(&b->cv);
  pthread_mutex_destroy(&b->mu);
}

void batcher_submit_many(batcher_t *b, batch_item_t *const *items, size_t k,
                         batcher_run_fn run, void *ctx) {
  assert(k >= 1);
  pthread_mutex_lock(&b->mu);
  for (size_t i = 0; i < k; i++) {
    items[i]->next = NULL;
    items[i]->done = false;
    *b->tail = items[i];
    b->tail = &items[i]->next;
  }
  /* Items run in queue order: the last one done, all of them are. */
  batch_item_t *last = items[k - 1];
  while (!last->done) {
    if (b->busy) {
      pthread_cond_wait(&b->cv, &b->mu);
      continue;
    }
    b->busy = true;
    batch_item_t *batch[BATCHER_MAX];
    size_t n = 0;
    while (b->head && n < b->max) {
      batch[n++] = b->head;
      b->head = b->head->next;
    }
    if (!b->head) {
      b->tail = &b->head;
    }
    assert(n >= 1); /* this thread's last item is queued, and not done */
    pthread_mutex_unlock(&b->mu);
    run(ctx, batch, n);
    pthread_mutex_lock(&b->mu);
    for (size_t i = 0; i < n; i++) {
      assert(!batch[i]->done);
      batch[i]->done = true; /* batch[i] may go once done is seen */
    }
    b->busy = false;
    pthread_cond_broadcast(&b->cv);
  }
  for (size_t i = 0; i < k; i++) {
    assert(items[i]->done);
  }
  pthread_mutex_unlock(&b->mu);
}

void batcher_submit(batcher_t *b, batch_item_t *item, batcher_run_fn run,
                    void *ctx) {
  batcher_submit_many(b, &item, 1, run, ctx);
}
