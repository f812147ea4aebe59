/*
 * write_gate.h - at most N write commands in flight from this process to
 * one database deployment.
 *
 * Why.  FerretDB keeps a database in one SQLite file, and SQLite lets one
 * connection write at a time.  A FerretDB connection that finds the file
 * locked sleeps in SQLite's busy handler (1, 2, 5, 10 ... 100 ms steps)
 * and looks again, so while the lock is free most writers are asleep:
 * under 64 concurrent tweet creations (16 writes each) the lock stood idle
 * between the sleeps, and requests waited seconds.  Queued here instead,
 * a write is sent the moment the previous one of this process is
 * answered, and only the servers (not their threads) contend in SQLite.
 * Measured: 29 -> 42-46 creations/s, p99 5.5 -> 2.2-3.8 s
 * (docs/PERFORMANCE.md).  On MongoDB writes to different documents run
 * in parallel, so db_commands.c sets no limit there.
 *
 * Not in arrival order: a place freed goes to whichever thread takes it
 * first, often the next write of a transaction already under way.  A
 * strict queue is slower: every transaction then waits the whole queue
 * for each of its 16 writes, all of them advancing in lockstep, holding
 * their locks longer (measured: 32 instead of 42 creations/s).  A writer
 * passed over again and again is bounded by the wait limit.
 *
 * Use.  db_commands.c calls write_gate_enter when the driver starts a
 * write command
 * (its APM "command started" callback, on the thread that sends it) and
 * write_gate_leave when the command succeeds or fails (the same thread;
 * the driver reports every started command as one or the other).  A
 * thread holds at most one gate at a time; which one is kept in a
 * thread-local pointer, the one piece of state here outside the gate.
 *
 * Priorities.  A thread may give its writes a priority
 * (write_gate_set_priority): a place freed goes only to a waiter of the
 * highest priority waiting.  Urgent: the few writes others wait for, a
 * latch held for one write of a hot document (sync/txn/store_mongo.c),
 * which behind a queue of ordinary writes was held many times as long.
 * Background: writes nobody waits for, the apply of a commit already
 * answered (sync.c's finishers).  A waiter passed over gives up after
 * WRITE_GATE_MAX_WAIT_MS like any other.  Ungated: a write whose cost is
 * a read, sent at once and holding no place: the pruning of old bells
 * (sync/events), a delete whose filter makes FerretDB decode every bell
 * (~250 ms under load) for one short SQLite write; through the gate it
 * would hold every other write of the process that long.
 *
 * A waiter gives up after WRITE_GATE_MAX_WAIT_MS and sends its write
 * anyway (counted in timeouts): a write stuck on a database that stopped
 * answering must not stop every other write of the process (requests
 * answer 503 within 2 s of an outage, docs/OPERATIONS.md).
 *
 * Thread-safety: every function may be called from any thread.
 * write_gate_set_limit is meant for start-up (db_commands.c sets it when
 * db_kind.c learns what the server is), before writes are sent.
 */
#ifndef CHORUS_WRITE_GATE_H
#define CHORUS_WRITE_GATE_H

#include <stdint.h>

#define WRITE_GATE_MAX_WAIT_MS 1000

typedef struct write_gate write_gate_t;

/* A gate with no limit (every write passes at once). */
write_gate_t *write_gate_new(void);
void write_gate_destroy(write_gate_t *gate);

/* At most limit writes in flight; 0: no limit. */
void write_gate_set_limit(write_gate_t *gate, int limit);
int write_gate_limit(write_gate_t *gate);

/* Waits for a place (at most WRITE_GATE_MAX_WAIT_MS), unless there is no
 * limit or the calling thread already holds a gate. */
void write_gate_enter(write_gate_t *gate);

/* Gives back the place the calling thread holds, if any. */
void write_gate_leave(void);

typedef enum {
  WRITE_PRIORITY_UNGATED = -1, /* passes at once, holds no place */
  WRITE_PRIORITY_BACKGROUND = 0,
  WRITE_PRIORITY_NORMAL = 1, /* every thread's, until it sets another */
  WRITE_PRIORITY_URGENT = 2,
} write_priority_t;
#define WRITE_GATE_PRIORITIES 3

/* The priority of the calling thread's next writes (thread-local, for
 * every gate); returns the one it replaces. */
write_priority_t write_gate_set_priority(write_priority_t p);

typedef struct write_gate_stats {
  int64_t entered;  /* writes that went through a limit */
  int64_t waited;   /* of those, how many found it full */
  int64_t wait_us;  /* total time spent waiting */
  int64_t timeouts; /* waits given up after WRITE_GATE_MAX_WAIT_MS */
  /* Total time places were held, from admission to the write's answer:
   * with a limit of 1, the share of the time the database's writer
   * worked for this process, and divided by the writes' purpose (e.g.
   * tweets created), their cost at the gate (bench/bench_tweets.c).  A
   * write that gave up waiting, or passed ungated, is not in it. */
  int64_t held_us;
} write_gate_stats_t;

void write_gate_stats(write_gate_t *gate, write_gate_stats_t *out);

#endif
