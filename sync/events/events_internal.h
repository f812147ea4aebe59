/*
 * events_internal.h - the state of the event log, shared by its files and
 * by nothing else:
 *
 *   events.c          its life (creation, collections, start, stop) and
 *                     the stored form of an event (bell ids, decoding)
 *   events_outbox.c   a transaction's events, as an outbox document
 *   events_publish.c  numbering, bells, the log copy, flush, the pump
 *   events_poll.c     the poller, delivery, the read barrier (events_sync)
 *   events_replay.c   reading back from the log (events_read_since)
 *
 * Threads: the poller (events_poll.c) and the pump (events_publish.c),
 * started by events_start; publishers (events_flush) and readers
 * (events_sync, events_read_since) on any thread.
 */
#ifndef CHORUS_EVENTS_INTERNAL_H
#define CHORUS_EVENTS_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>

#include "sync/base/batcher.h"
#include "sync/events/events.h"

#define DB_OUTBOX "outbox"
#define DB_BELLS "event_bells"
#define DB_LOG "event_log"

#define EVENTS_PUMP_AGE_MS 2000   /* outboxes older than this are pumped */
#define EVENTS_BELL_KEEP_MS 15000 /* bells are pruned after this (+5 s) */
#define EVENTS_LOG_MAX 100000     /* events kept for resume */
#define POLL_FAILED_MS 100        /* between tries at a failing database */
#define EVENTS_DONE_MAX 1024      /* published outboxes waiting for deletion */
#define EVENTS_OWN_SLOTS 256 /* bells of this process kept for its poller */

/* A bell this process inserted, kept for its poller (own_lock). */
typedef struct own_bell {
  int64_t seq;
  bson_t *doc; /* the bell as inserted; NULL: empty slot */
} own_bell_t;

struct events {
  db_t *db;                 /* the main database: outbox, bells, log */
  const txn_store_t *store; /* the committed view of outbox documents */
  events_enrich_fn enrich;
  void *enrich_ctx;
  events_listener_fn listener;
  void *listener_ctx;
  atomic_ullong sync_at_once, sync_waited, sync_failed; /* events_sync */
  atomic_llong relaxed_read_ns; /* when a relaxed reader last came (about) */
  atomic_int relaxed_ms;        /* its stale_ms */
  atomic_llong head;            /* last delivered */
  atomic_llong hint;            /* highest number known to exist */
  /* Held while this process claims a number (claim_number): its
   * publishers take numbers one at a time, each from the last one taken
   * here, instead of all trying the same next number at once.  Without
   * it, 16 concurrent creations made ~14 bell inserts each (every failed
   * one a write on the database), which on FerretDB's single SQLite
   * writer slowed every other write (docs/PERFORMANCE.md). */
  pthread_mutex_t claim_lock;
  /* Publishers' first claims wait here for the next batch (batcher.h):
   * the leader claims a run of numbers for every queued event in one
   * ordered insert of bells and copies them to the log in one insert
   * (events_publish.c, publish_first). */
  batcher_t claims;
  /* Outboxes published and not deleted yet (ids, at most
   * EVENTS_DONE_MAX): publish_outbox queues them here and the pump
   * deletes them together every PUMP_TICK_MS, one command (ungated,
   * db_delete_in), where each writer's answer waited for a delete
   * of its own (under a burst of likes, up to the write gate's 1 s each).
   * The queue lost in a crash costs the pump a look at each of those
   * events 2 s later (publish_again), nothing more.  Under done_lock. */
  pthread_mutex_t done_lock;
  bson_oid_t *done;
  size_t n_done;
  /* The bells this process inserted (slot seq % EVENTS_OWN_SLOTS, a
   * later number replacing an earlier one): its poller delivers a number
   * found here without reading it back from the database, which with two
   * servers is about half the finds of bells, and finds cost FerretDB
   * more of its CPU than any other command (docs/PERFORMANCE.md).  What
   * is here is exactly what the database holds under that number: the
   * document of an insert that succeeded.  Under own_lock. */
  pthread_mutex_t own_lock;
  own_bell_t own[EVENTS_OWN_SLOTS];
  pthread_t poller, pump;
  bool running;
  atomic_bool stopping;
  /* The read barrier (events_sync): numbers of polls begun and done
   * (32-bit, compared with wrap-around), how many readers wait, and a
   * counter readers bump to cut the poller's idle sleep short.  Readers
   * and the poller meet on futexes, not a mutex: under load every poll
   * releases dozens of readers at once, and with a condition variable
   * they then queued on its mutex one by one (17 % of the server's CPU in
   * lock waits, measured with perf during the feed benchmark). */
  atomic_uint polls_begun, polls_done, kick;
  /* Poller thread only: when the current run of empty polls began (0
   * while events come), and kick when the poll under way began. */
  int64_t idle_since_ns;
  unsigned kick_at_begin;
  atomic_uint last_failed; /* the last poll a probe of which failed */
  /* When (monotonic ns) the last completed poll began, for events_sync's
   * stale_ms; begin_ns is the poll under way (poller thread only). */
  atomic_llong done_begin_ns;
  int64_t begin_ns;
  atomic_int waiters;
};

/* ---- events.c: the stored form ---- */

/* A bell's _id: its number as a 19-digit decimal string (events.c says
 * why); the log keeps Int64 numbers. */
#define BELL_ID_DIGITS 19
#define BELL_ID_LEN 24 /* room for a sign, never written: seq >= 0 */
void events_bell_id(int64_t seq, char out[BELL_ID_LEN]);

/* The number at it: a bell id, or a number (the log); 0 when neither. */
int64_t events_iter_seq(const bson_iter_t *it);

/* The number of a bell or log entry (its _id); 0 when it has none. */
int64_t events_doc_seq(const bson_t *doc);

/* A bell or log entry as an event (initialised here, even on failure:
 * event_cleanup it); false when it has no number. */
bool event_from_bson(const bson_t *doc, event_t *e);
void event_cleanup(event_t *e);

/* The first document of coll (the caller's collection, of a client it
 * holds) matching filter in the order of sort (NULL: natural), copied
 * into *out (the caller's; NULL when none); false when the database could
 * not say (*out NULL). */
bool events_find_one(mongoc_collection_t *coll, const bson_t *filter,
                     const bson_t *sort, bson_t **out);

/* events_find_one on the collection named coll, with a client borrowed
 * from ev's database for the call. */
bool events_find_first(events_t *ev, const char *coll, const bson_t *filter,
                       const bson_t *sort, bson_t **out);

/* Whether the bell numbered seq exists (*exists; the bell itself into
 * *doc, the caller's, when doc is not NULL): one index search on a string
 * _id.  False when the database could not say (*exists false). */
bool events_bell_at(mongoc_collection_t *bells, int64_t seq, bool *exists,
                    bson_t **doc);

/* The bell numbered seq into *bell (the caller's; NULL when there is
 * none), with a client borrowed for the call; false when the database
 * could not say. */
bool events_find_bell(events_t *ev, int64_t seq, bson_t **bell);

void events_sleep_ms(int ms);

/* ---- events_poll.c ---- */

/* Keeps a copy of bell (just inserted by this process) for the poller. */
void events_own_put(events_t *ev, const bson_t *bell);

/* The bell numbered seq that this process inserted, if it still has it:
 * the caller's (bson_destroy), removed from the ring; else NULL. */
bson_t *events_own_take(events_t *ev, int64_t seq);

/* Cuts the poller's idle sleep short (or keeps it from beginning). */
void events_poller_kick(events_t *ev);

/* Wakes the poller and every reader waiting in events_sync (at stop, once
 * stopping is set). */
void events_wake_all(events_t *ev);

/* Delivers, in order, the events numbered [from, to) (from < to), which
 * the poller found no bell for after a bell numbered `to` was seen: each
 * from its bell, read again, else from the log; *lost counts the numbers
 * that have neither, skipped.  Bells are claimed in order (events.h,
 * "Ordering"), so a number below one seen has its bell by then unless
 * it is gone for good (pruned while this server was behind, or taken back
 * after a reused number, then in the log), and its log copy may still be
 * to come: its publisher copies after numbering.  False when the database
 * failed (head is the last number delivered).  Poller thread only. */
bool events_deliver_gap(events_t *ev, int64_t from, int64_t to, int64_t *lost);

/* The poller thread (arg: the events_t). */
void *events_poller_main(void *arg);

/* ---- events_publish.c ---- */

/* The pump thread (arg: the events_t). */
void *events_pump_main(void *arg);

#endif
