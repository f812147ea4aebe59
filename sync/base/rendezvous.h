/*
 * rendezvous.h - a known number of threads meet once: each brings its
 * requests, the last to arrive runs all of them together with its own
 * `run`, and none returns before they have run.
 *
 * Why.  The members of a transaction group (sync.c) publish their events
 * each on its own thread, all at the same moment; claimed through the
 * claims' batcher alone, the first to come leads a batch of its own and
 * the others follow in a second one.  Meeting first, a group's claims go
 * in one batch: one insert of bells and one of log copies for all of them
 * (sync/events/events_publish.c).
 *
 * Invariants (asserted): at most `expected` arrivals; the requests are
 * run once, after the last arrival, on the thread of the last to arrive,
 * in arrival order (each thread's in the order it gave them); no
 * rendezvous_arrive returns before that run has ended; the last to return
 * frees the rendezvous.
 *
 * Ownership: a request stays its bringer's (it is blocked in
 * rendezvous_arrive until the run has ended); the rendezvous belongs to
 * the threads that have not arrived yet and is freed by the last to
 * return, so nobody may touch it after arriving.
 *
 * Thread-safety: rendezvous_arrive once from each of `expected` threads.
 * A thread that never arrives blocks the others forever: every thread
 * given the rendezvous must arrive, on every path.
 */
#ifndef CHORUS_RENDEZVOUS_H
#define CHORUS_RENDEZVOUS_H

#include <stddef.h>

typedef struct rendezvous rendezvous_t;

/* Runs items[0..n) (n may be 0), every thread's requests, on the last
 * thread to arrive, with that thread's ctx. */
typedef void (*rendezvous_run_fn)(void *ctx, void *const *items, size_t n);

/* A rendezvous of `expected` threads (>= 1). */
rendezvous_t *rendezvous_new(size_t expected);

/* Arrives with items[0..k) (k may be 0; items may then be NULL) and
 * returns once every thread's have been run: by this thread, with run and
 * ctx, when it is the last to arrive.  Never fails. */
void rendezvous_arrive(rendezvous_t *r, void *const *items, size_t k,
                       rendezvous_run_fn run, void *ctx);

#endif
