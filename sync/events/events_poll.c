/*
 * events_poll.c - reading the log as it grows: the poller thread, which
 * delivers every event in order to the listener; the read barrier
 * (events_sync) readers wait on; the head and how far it lags.  See
 * events.h, "Reading".
 *
 * Invariant: a poll is a run of probes ending at a number with no bell;
 * poll_begin and poll_end alternate on the poller thread, so polls_done
 * is polls_begun or one less (with wrap-around).
 */
#include "sync/events/events_internal.h"
#include "sync/txn/decisions.h"

#include <assert.h>
#include <limits.h>
#include <linux/futex.h>
#include <stdio.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

/* Idle (nobody waiting): the poller sleeps POLL_IDLE_MS after a poll
 * that found no event.  The sleep delays only other servers' events:
 * readers waiting cut it short, and so does this process's own
 * publishing (events_poller_kick).  Two servers during 40 likes a
 * second made 1,250 finds a second with 5 ms, 1,070 with 20 ms, and the
 * likes' p50 went from 167 to 137 ms (docs/PERFORMANCE.md). */
#define POLL_IDLE_MS 20
/* Busy (readers waiting): polls begin at most this often.  Back to back,
 * two loaded servers' polls kept FerretDB at ~60 % of a core in the read
 * benchmarks; spacing them adds at most this to a read's wait. */
#define POLL_BUSY_SPACING_NS 1000000LL
/* Relaxed readers (events_sync with stale_ms > 0) skip the wait while the
 * last completed poll began at most stale_ms ago; while they are about
 * (one came within RELAXED_READERS_FOR_NS), idle polls begin every
 * stale_ms / 2 so that this normally holds.  With the 20 ms idle sleep
 * against a 20 ms bound, a third of the reads found the last poll too old
 * and waited for one (the read benchmark's p99). */
#define RELAXED_READERS_FOR_NS 1000000000LL
#define GAP_CHECK_EVERY_NS 500000000LL /* of idleness */
/* A gap check first looks for the GAP_PROBES numbers after the missing
 * one by _id (an index search each, DATABASE.md), and reads the bells
 * for the first later one ({_id: {$gt}}: FerretDB decodes every bell,
 * 0.5-2.7 s of its CPU while two servers create 150 tweets a second)
 * only when those are not there, at most every GAP_SCAN_EVERY_NS.  Idle
 * polls come every 0.5 s whenever no event arrives for that long, also
 * under load while both servers wait for the database, and a scan at
 * each would take FerretDB's CPU from the writes they wait for
 * (docs/PERFORMANCE.md, "(d)'s stalls").  A number is missing with
 * later ones more than GAP_PROBES ahead only when this server fell more
 * than 15 s behind (their bells pruned), which the scan still finds. */
#define GAP_PROBES 8
#define GAP_SCAN_EVERY_NS 5000000000LL

static int64_t monotonic_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static bool deliver_doc(events_t *ev, const bson_t *doc) {
  event_t e;
  bool ok = event_from_bson(doc, &e);
  if (ok) {
    /* Its transaction was decided before the event existed: readers that
     * wait for this event must not take it for undecided (decisions.h). */
    if (ev->store) {
      decisions_new_generation(ev->store->decisions);
    }
    ev->listener(ev->listener_ctx, &e);
    atomic_store(&ev->head, e.seq);
  }
  event_cleanup(&e);
  return ok;
}

/* futex(2) on a 32-bit counter: sleep while it still holds `seen` (at
 * most timeout, NULL: no limit), or wake everyone sleeping on it. */
static void futex_wait_on(atomic_uint *word, unsigned seen,
                          const struct timespec *timeout) {
  syscall(SYS_futex, (unsigned *)word, FUTEX_WAIT_PRIVATE, seen, timeout, NULL,
          0);
}

static void futex_wake_all(atomic_uint *word) {
  syscall(SYS_futex, (unsigned *)word, FUTEX_WAKE_PRIVATE, INT_MAX, NULL, NULL,
          0);
}

void events_poller_kick(events_t *ev) {
  atomic_fetch_add(&ev->kick, 1);
  futex_wake_all(&ev->kick);
}

void events_wake_all(events_t *ev) {
  assert(atomic_load(&ev->stopping));
  futex_wake_all(&ev->kick);
  futex_wake_all(&ev->polls_done);
}

/* Marks the start of a poll (a run of probes ending at a missing
 * number); returns its number for poll_end. */
static unsigned poll_begin(events_t *ev) {
  assert(atomic_load(&ev->polls_done) == atomic_load(&ev->polls_begun));
  ev->begin_ns = monotonic_ns();
  ev->kick_at_begin = atomic_load(&ev->kick);
  return atomic_fetch_add(&ev->polls_begun, 1) + 1;
}

/* A poll completed (or failed: the database did not answer a probe):
 * wake the waiters, then, after a completed one, sleep POLL_IDLE_MS
 * unless someone waits for the next one.  (A reader
 * that arrives after the waiters check bumps kick, so the sleep does not
 * begin or ends.) */
static void poll_end(events_t *ev, unsigned n, bool failed) {
  assert(n == atomic_load(&ev->polls_begun));
  if (failed) {
    atomic_store(&ev->last_failed, n);
  } else {
    atomic_store(&ev->done_begin_ns, ev->begin_ns);
  }
  atomic_store(&ev->polls_done, n);
  if (atomic_load(&ev->waiters) > 0) {
    futex_wake_all(&ev->polls_done);
  }
  /* A kick since the poll began (a bell this poll may have missed) ends
   * the sleep at once: the futex's word differs from kick_at_begin. */
  unsigned kick = ev->kick_at_begin;
  if (!failed && atomic_load(&ev->waiters) == 0 &&
      !atomic_load(&ev->stopping)) {
    long sleep_ns = POLL_IDLE_MS * 1000000L;
    int relaxed_ms = atomic_load(&ev->relaxed_ms);
    if (relaxed_ms > 0 && relaxed_ms * 500000L < sleep_ns &&
        ev->begin_ns - atomic_load(&ev->relaxed_read_ns) <
            RELAXED_READERS_FOR_NS) {
      sleep_ns = relaxed_ms * 500000L; /* stale_ms / 2 */
    }
    struct timespec idle = {0, sleep_ns};
    futex_wait_on(&ev->kick, kick, &idle);
  } else if (!failed) {
    int64_t left = POLL_BUSY_SPACING_NS - (monotonic_ns() - ev->begin_ns);
    if (left > 0) {
      struct timespec wait = {0, (long)left};
      nanosleep(&wait, NULL);
    }
  }
}

bool events_sync(events_t *ev, int timeout_ms, int stale_ms,
                 int64_t after_seq) {
  if (!ev->running) {
    return false;
  }
  int64_t now = monotonic_ns();
  if (stale_ms > 0) {
    /* Noted at most once a millisecond: one cache line for every reader. */
    if (now - atomic_load_explicit(&ev->relaxed_read_ns, memory_order_relaxed) >
        1000000LL) {
      atomic_store(&ev->relaxed_ms, stale_ms);
      atomic_store(&ev->relaxed_read_ns, now);
    }
    /* A poll that began at most stale_ms ago completed, and everything
     * this process published itself, or the client knows of, has been
     * delivered. */
    int64_t begun = atomic_load(&ev->done_begin_ns);
    int64_t head = atomic_load(&ev->head);
    if (begun > 0 && now - begun <= (int64_t)stale_ms * 1000000LL &&
        head >= atomic_load(&ev->hint) && head >= after_seq) {
      atomic_fetch_add_explicit(&ev->sync_at_once, 1, memory_order_relaxed);
      return true;
    }
  }
  int64_t deadline = now + (int64_t)timeout_ms * 1000000LL;
  atomic_fetch_add(&ev->waiters, 1);
  /* A poll already under way may have probed before this call began. */
  unsigned target = atomic_load(&ev->polls_begun) + 1;
  events_poller_kick(ev);
  bool ok = false;
  for (;;) {
    unsigned done = atomic_load(&ev->polls_done);
    if ((int)(done - target) >= 0) {
      /* Failed if the poll that released us (or one after) failed: the
       * reader then goes to the database, which is down or failing. */
      unsigned failed = atomic_load(&ev->last_failed);
      ok = failed == 0 || (int)(failed - target) < 0;
      break;
    }
    int64_t left = deadline - monotonic_ns();
    if (left <= 0 || atomic_load(&ev->stopping)) {
      break;
    }
    struct timespec wait = {(time_t)(left / 1000000000LL),
                            (long)(left % 1000000000LL)};
    futex_wait_on(&ev->polls_done, done, &wait);
  }
  atomic_fetch_sub(&ev->waiters, 1);
  atomic_fetch_add_explicit(ok ? &ev->sync_waited : &ev->sync_failed, 1,
                            memory_order_relaxed);
  return ok;
}

bool events_polled_within(events_t *ev, int within_ms) {
  if (!ev || !ev->running) {
    return false;
  }
  int64_t begun = atomic_load(&ev->done_begin_ns);
  return begun > 0 && monotonic_ns() - begun <= (int64_t)within_ms * 1000000LL;
}

void events_get_sync_stats(events_t *ev, events_sync_stats_t *out) {
  out->at_once = atomic_load(&ev->sync_at_once);
  out->waited = atomic_load(&ev->sync_waited);
  out->failed = atomic_load(&ev->sync_failed);
}

/* Delivers the bells numbered [*at, to) while they are there, from
 * *at on (*at: the first not delivered); false when the database failed. */
static bool deliver_bells(events_t *ev, mongoc_collection_t *bells, int64_t *at,
                          int64_t to) {
  for (; *at < to; (*at)++) {
    bool exists;
    bson_t *bell = NULL;
    if (!events_bell_at(bells, *at, &exists, &bell)) {
      return false;
    }
    if (!bell) {
      return true;
    }
    deliver_doc(ev, bell); /* head = *at */
    bson_destroy(bell);
  }
  return true;
}

/* Each number in [*at, to), which the log lacks: from its bell, else
 * counted in *lost; then *at = to.  False when the database failed (*at:
 * the first not done). */
static bool deliver_unlogged(events_t *ev, mongoc_collection_t *bells,
                             int64_t *at, int64_t to, int64_t *lost) {
  while (*at < to) {
    if (!deliver_bells(ev, bells, at, to)) {
      return false;
    }
    if (*at < to) {
      (*lost)++;
      (*at)++;
    }
  }
  return true;
}

bool events_deliver_gap(events_t *ev, int64_t from, int64_t to, int64_t *lost) {
  assert(from < to);
  mongoc_client_t *client = db_acquire(ev->db);
  if (!client) {
    return false;
  }
  mongoc_collection_t *bells = db_collection(ev->db, client, DB_BELLS);
  mongoc_collection_t *log = db_collection(ev->db, client, DB_LOG);
  int64_t at = from;
  /* Their bells first: a run whose bells came late costs no read of the
   * log (by an Int64 _id, a scan of it on FerretDB). */
  bool ok = deliver_bells(ev, bells, &at, to);
  if (ok && at < to) {
    /* A bell is gone: the log from there, and for each number it lacks,
     * the bell again (a later one may be there with its copy still to
     * come).  One client: the bells are read between the cursor's
     * batches. */
    bson_t *filter = BCON_NEW("_id", "{", "$gte", BCON_INT64(at), "$lt",
                              BCON_INT64(to), "}");
    bson_t *opts = BCON_NEW("sort", "{", "_id", BCON_INT32(1), "}");
    mongoc_cursor_t *cursor =
        mongoc_collection_find_with_opts(log, filter, opts, NULL);
    bson_destroy(opts);
    bson_destroy(filter);
    const bson_t *doc;
    while (ok && mongoc_cursor_next(cursor, &doc)) {
      int64_t seq = events_doc_seq(doc);
      if (seq < at) {
        continue;
      }
      bson_t *logged = bson_copy(doc); /* the cursor's is gone at its next */
      ok = deliver_unlogged(ev, bells, &at, seq, lost);
      if (ok) {
        deliver_doc(ev, logged); /* head = seq */
        at = seq + 1;
      }
      bson_destroy(logged);
    }
    bson_error_t berr;
    ok = ok && !mongoc_cursor_error(cursor, &berr) &&
         deliver_unlogged(ev, bells, &at, to, lost);
    mongoc_cursor_destroy(cursor);
  }
  mongoc_collection_destroy(log);
  mongoc_collection_destroy(bells);
  db_release(ev->db, client);
  return ok;
}

void events_own_put(events_t *ev, const bson_t *bell) {
  int64_t seq = events_doc_seq(bell);
  if (seq <= 0) {
    return;
  }
  bson_t *copy = bson_copy(bell);
  pthread_mutex_lock(&ev->own_lock);
  own_bell_t *slot = &ev->own[seq % EVENTS_OWN_SLOTS];
  bson_t *old = slot->doc;
  slot->seq = seq;
  slot->doc = copy;
  pthread_mutex_unlock(&ev->own_lock);
  if (old) {
    bson_destroy(old);
  }
}

bson_t *events_own_take(events_t *ev, int64_t seq) {
  bson_t *doc = NULL;
  pthread_mutex_lock(&ev->own_lock);
  own_bell_t *slot = &ev->own[seq % EVENTS_OWN_SLOTS];
  if (slot->doc && slot->seq == seq) {
    doc = slot->doc;
    slot->doc = NULL;
  }
  pthread_mutex_unlock(&ev->own_lock);
  return doc;
}

/* The first bell numbered above next (into *first, the caller's; NULL
 * when none was found): one of the GAP_PROBES numbers after next, found
 * by _id, else, when scan, the first of a scan of the bells above next.
 * False when the database failed. */
static bool first_later_bell(events_t *ev, int64_t next, bool scan,
                             bson_t **first) {
  *first = NULL;
  for (int64_t k = 1; k <= GAP_PROBES; k++) {
    bool ok = events_find_bell(ev, next + k, first);
    if (!ok || *first) {
      return ok;
    }
  }
  if (!scan) {
    return true;
  }
  char id[BELL_ID_LEN];
  events_bell_id(next, id);
  bson_t *later = BCON_NEW("_id", "{", "$gt", BCON_UTF8(id), "}");
  bson_t *sort = BCON_NEW("_id", BCON_INT32(1));
  bool ok = events_find_first(ev, DB_BELLS, later, sort, first);
  bson_destroy(sort);
  bson_destroy(later);
  return ok;
}

void *events_poller_main(void *arg) {
  events_t *ev = arg;
  int64_t next_gap_check_ns = 0, next_gap_scan_ns = 0;
  unsigned poll = poll_begin(ev);
  while (!atomic_load(&ev->stopping)) {
    int64_t next = atomic_load(&ev->head) + 1;
    bson_t *doc = events_own_take(ev, next);
    bool ok = true;
    if (!doc) {
      ok = events_find_bell(ev, next, &doc);
    }
    if (ok && doc) {
      deliver_doc(ev, doc);
      bson_destroy(doc);
      ev->idle_since_ns = 0;
      continue;
    }
    if (!ok) {
      /* The database is down (refused at once, db.h) or failing: readers
       * waiting are told at once; do not spin: delivery resumes within
       * POLL_FAILED_MS of it coming back. */
      poll_end(ev, poll, true);
      events_sleep_ms(POLL_FAILED_MS);
      poll = poll_begin(ev);
      continue;
    }
    if (!ev->idle_since_ns) {
      ev->idle_since_ns = ev->begin_ns;
      next_gap_check_ns = ev->begin_ns + GAP_CHECK_EVERY_NS;
    }
    if (ev->begin_ns >= next_gap_check_ns) {
      next_gap_check_ns = ev->begin_ns + GAP_CHECK_EVERY_NS;
      /* A later number may exist with `next` not among the bells when
       * this probe was made: its bell pruned while this server was
       * behind, or inserted since (with the later one), its log copy
       * perhaps still to come: events_deliver_gap tells them apart. */
      bool scan = ev->begin_ns >= next_gap_scan_ns;
      if (scan) {
        next_gap_scan_ns = ev->begin_ns + GAP_SCAN_EVERY_NS;
      }
      bson_t *first = NULL;
      if (first_later_bell(ev, next, scan, &first) && first &&
          events_doc_seq(first) > next) {
        /* Every number from next to the first later bell, in one pass
         * (one by one, a run of missing numbers stalled delivery for
         * minutes: one number per gap check). */
        int64_t upto = events_doc_seq(first);
        int64_t lost = 0;
        if (events_deliver_gap(ev, next, upto, &lost)) {
          atomic_store(&ev->head, upto - 1); /* the rest are lost */
        }
        if (lost) {
          fprintf(stderr, "chorusd: events %lld..%lld: %lld lost, skipped\n",
                  (long long)next, (long long)upto - 1, (long long)lost);
        }
      }
      if (first) {
        bson_destroy(first);
      }
      continue;
    }
    poll_end(ev, poll, false);
    poll = poll_begin(ev);
  }
  return NULL;
}

int64_t events_head(events_t *ev) { return atomic_load(&ev->head); }

bool events_wait_delivered(events_t *ev, int64_t seq, int timeout_ms) {
  if (atomic_load(&ev->head) >= seq) {
    return true;
  }
  bson_t *bell = NULL;
  if (!ev->running || !events_find_bell(ev, seq, &bell) || !bell) {
    return false;
  }
  bson_destroy(bell);
  int64_t deadline = monotonic_ns() + (int64_t)timeout_ms * 1000000LL;
  while (atomic_load(&ev->head) < seq) {
    if (atomic_load(&ev->stopping) || monotonic_ns() >= deadline) {
      return false;
    }
    events_poller_kick(ev); /* no idle sleep before its next probe */
    events_sleep_ms(POLL_IDLE_MS);
  }
  return true;
}

void events_read_after(events_t *ev, int64_t seq) {
  if (ev && ev->store && seq > atomic_load(&ev->head)) {
    decisions_new_generation(ev->store->decisions);
  }
}

int64_t events_published(events_t *ev) {
  int64_t hint = atomic_load(&ev->hint), head = atomic_load(&ev->head);
  return hint > head ? hint : head;
}