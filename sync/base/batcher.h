/*
 * batcher.h - requests of many threads served in batches: whoever finds no
 * batch running leads one for everything queued.
 *
 * Why.  The database answers a bulk command of 16 writes in little more
 * time than one write (docs/PERFORMANCE.md, "Creation in groups"), so
 * threads that want the same kind of write at the same moment are better
 * served together.  A thread submits its request and waits; if no batch is
 * running it becomes the leader: it takes up to `max` requests from the
 * head of the queue (its own among them, or not: the queue is served in
 * order), runs them with its own `run` and `ctx`, marks them done and
 * leads again while its own is not done.  A lone request is run at once by
 * its own thread; no timer, no extra thread.
 *
 * Invariants (asserted):
 *   - at most one batch runs at a time per batcher;
 *   - a request is run exactly once, in one batch, in queue order;
 *   - a request is marked done only after its batch has run, and its
 *     submitter returns only after that.
 *
 * Ownership: a request (batch_item_t) belongs to its submitter, typically
 * embedded in a struct on its stack; the batcher links it only while
 * batcher_submit runs.  `run` may read and write the requests it is given
 * (each submitter reads its results after batcher_submit returns) and must
 * not keep pointers to them.
 *
 * Thread-safety: batcher_submit from any number of threads; init and
 * destroy from one thread while no submit runs.
 */
#ifndef CHORUS_BATCHER_H
#define CHORUS_BATCHER_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>

/* The most requests one batch may take. */
#define BATCHER_MAX 64

typedef struct batch_item {
  struct batch_item *next; /* the queue's (private) */
  bool done;               /* the queue's (private) */
} batch_item_t;

/* Runs items[0..n), 1 <= n <= the batcher's max, on the leader's thread
 * with the leader's ctx.  Nothing to return: results go into the items. */
typedef void (*batcher_run_fn)(void *ctx, batch_item_t **items, size_t n);

typedef struct batcher {
  pthread_mutex_t mu;
  pthread_cond_t cv;
  batch_item_t *head, **tail; /* the queue, guarded by mu */
  bool busy;                  /* a batch is running, guarded by mu */
  size_t max;
} batcher_t;

/* max: the most requests a batch takes, 1..BATCHER_MAX. */
void batcher_init(batcher_t *b, size_t max);

/* The queue must be empty (no submit running). */
void batcher_destroy(batcher_t *b);

/* Queues item and returns once a batch has run it: run by this thread
 * (with run and ctx) when it leads, else by another leader with its own.
 * Never fails. */
void batcher_submit(batcher_t *b, batch_item_t *item, batcher_run_fn run,
                    void *ctx);

/* batcher_submit for items[0..k), k >= 1, queued together in that order
 * (no other thread's request between them): returns once every one has
 * run, in one batch or, beyond the batcher's max, in consecutive ones. */
void batcher_submit_many(batcher_t *b, batch_item_t *const *items, size_t k,
                         batcher_run_fn run, void *ctx);

#endif
