/*
 * events.h - the durable, ordered event log behind real-time updates.
 *
 * Writing.  A transaction that changes something people watch adds an
 * outbox document (event_batch_commit) to its own operations, so the
 * events exist exactly when the change commits.  After the commit, the
 * coordinator publishes its outbox at once (events_flush); if it dies
 * first, any server's pump publishes outbox documents older than 2 s.
 *
 * Ordering.  Publishing gives each event the next sequence number by
 * inserting event_bells/{seq} (a unique _id: exactly one publisher gets
 * each number, and number n is only tried after n-1 exists, so the
 * sequence has no gaps; the _id is seq as a 19-digit string; a process's
 * publishers claim one at a time) and then copies it to event_log/{seq},
 * a capped collection kept for resume.  An event's key ("<outbox id>:<i>",
 * unique among bells) makes publishing idempotent.  Bells are pruned 15 s
 * (to 5 s more) after their insertion, so a publisher whose view of the
 * head is older than that can claim a number used before: the log copy
 * then finds another event under it, and the publisher takes its bell
 * back and claims a later number (the log is the authority).
 *
 * Reading.  Every server polls event_bells for the next number by _id
 * (a string _id: an index search on FerretDB too) and hands each
 * event, in order, to its listener.  A number the bells lacked while a
 * later one exists is read again from the bells (its bell may have come
 * since, its log copy still to come), else from the log, or skipped when
 * neither has it.
 * Clients that reconnect read what they missed from event_log
 * (events_read_since); a number older than the log keeps is reported, so
 * the client is told to reload instead of silently missing events.  See
 * docs/REALTIME.md.
 *
 * Thread-safe.  One events_t per process, owned by its sync_t
 * (sync_events); started by the server once its listener exists.
 */
#ifndef CHORUS_EVENTS_H
#define CHORUS_EVENTS_H

#include <bson/bson.h>
#include <stdbool.h>
#include <stdint.h>

#include "sync/base/db.h"
#include "sync/base/error.h"
#include "sync/base/rendezvous.h"
#include "sync/txn/txn.h"

#define EVENTS_PER_TXN 16

/* One event as read back: owned bson documents. */
typedef struct event {
  int64_t seq;
  char type[32];
  bson_t data;     /* the payload, as the enricher made it */
  bson_t audience; /* who may see it (see event_batch_add) */
  bson_t model;    /* what servers' read models need (never sent) */
  int64_t at_ms;
} event_t;

/* What an enricher made of an event. */
typedef enum {
  EVENTS_ENRICHED, /* publish it */
  EVENTS_DROP,     /* nothing to say (e.g. its tweet is gone meanwhile) */
  EVENTS_RETRY,    /* could not read the state now: publish later */
} events_enrich_t;

/* Turns an event's skeleton data (what the transaction knew) into its
 * payload (what clients see, into data) and the read models' payload
 * (into model), reading current state after the commit. */
typedef events_enrich_t (*events_enrich_fn)(void *ctx, const char *type,
                                            const bson_t *skeleton,
                                            bson_t *data, bson_t *model);

/* Called by the poller thread for every event, in sequence order. */
typedef void (*events_listener_fn)(void *ctx, const event_t *event);

typedef struct events events_t;

/* An event log in db (the main database), whose outbox documents are
 * read in their committed view through store (view.h); both are borrowed
 * and must outlive it.  Talks to no database until events_start. */
events_t *events_new(db_t *db, const txn_store_t *store, chorus_error_t *err);

/* Creates the indexes of the event collections (event_bells, outbox);
 * idempotent.  events_start calls it. */
bool events_ensure_indexes(db_t *db, chorus_error_t *err);

/* Creates the collections and indexes, finds the current head, and starts
 * the poller and the pump. */
bool events_start(events_t *ev, events_enrich_fn enrich, void *enrich_ctx,
                  events_listener_fn listener, void *listener_ctx,
                  chorus_error_t *err);

void events_destroy(events_t *ev);

/* Collects a transaction's events while it is built. */
typedef struct event_batch {
  size_t n;
  const char *types[EVENTS_PER_TXN];
  bson_t skeletons[EVENTS_PER_TXN];
  bson_t audiences[EVENTS_PER_TXN];
} event_batch_t;

void event_batch_init(event_batch_t *b);

/* A new event of type (a string literal); returns its skeleton and (in
 * *audience) its audience to fill: {"users": [ObjectId...]} for these
 * users, {"author": ObjectId} for an author and everyone following them,
 * {"tweets": [ObjectId...]} for clients that have these tweets on screen.
 * NULL (ignored) when the batch is full. */
bson_t *event_batch_add(event_batch_t *b, const char *type, bson_t **audience);

/* Adds to txn the outbox document (an insert into the main database)
 * holding the batch's events, nothing if it is empty, and frees the
 * batch. */
void event_batch_commit(event_batch_t *b, txn_t *txn);

/* Frees a batch not committed. */
void event_batch_cleanup(event_batch_t *b);

/* True when op is the outbox insert of a transaction (sync_commit then
 * publishes it after the commit). */
bool events_is_outbox(const txn_op_t *op, bson_oid_t *outbox_id);

/* Publishes one committed outbox document now (best effort: the pump
 * retries what fails).  committed: the outbox document as the committed
 * transaction inserted it (its op's doc), tried first without reading it
 * back; NULL (recovery) reads it.  True when every event of it was
 * published (numbered, its bell inserted) before this returned; false
 * when some are left to the pump, or the log is not started. */
bool events_flush(events_t *ev, const bson_oid_t *outbox_id,
                  const bson_t *committed);

/* events_flush as one of the publishers of a group's committed outboxes
 * (sync.c), which meet at join (NULL: alone): their first claims go
 * together, one ordered insert of bells and one insert of log copies for
 * all of them (REALTIME.md), where each coordinator's thread on its own
 * would claim with whichever others happened to be queued.  Every thread
 * given join must call this exactly once (rendezvous.h); each waits in it
 * until all of them have enriched their events. */
bool events_flush_joined(events_t *ev, rendezvous_t *join,
                         const bson_oid_t *outbox_id, const bson_t *committed);

/* The read barrier.  Waits until the poller has completed a full poll
 * (asked for the next event and found none) that began after this call,
 * so every event published before the call has been delivered to the
 * listener.  The poller skips its idle sleep while someone waits.  False
 * when that did not happen within timeout_ms (the database is slow, or
 * the poller is not running), or at once when such a poll failed (the
 * database is down or failing).
 *
 * stale_ms > 0 relaxes it: true at once when a poll that began at most
 * stale_ms before this call has completed, every event this process
 * published itself has been delivered, and so has every event numbered up
 * to after_seq (the newest event the client is known to have caused or
 * seen, from any server; 0 for none).  Then an event published by another
 * process less than stale_ms before the call may be missing unless the
 * client knew of it; this process's own writes never are.  When that does
 * not hold, the call waits as in exact mode (a poll begun after it sees
 * everything, so a bogus after_seq costs the caller a wait, no more).
 * 0: exact. */
bool events_sync(events_t *ev, int timeout_ms, int stale_ms, int64_t after_seq);

/* How events_sync calls ended so far: at once (relaxed mode's shortcut),
 * after a wait for a poll, or without a poll (timeout, failure). */
typedef struct events_sync_stats {
  uint64_t at_once;
  uint64_t waited;
  uint64_t failed;
} events_sync_stats_t;

void events_get_sync_stats(events_t *ev, events_sync_stats_t *out);

/* True when a poll that began at most within_ms ago (this process's
 * monotonic clock) has completed, so every event whose bell was inserted
 * before that poll began has been delivered to the listener.  Never
 * waits, never asks the database; false before events_start, and for a
 * NULL ev.  What makes a cache fed by the log trustworthy without
 * asking anyone (sessions.h, SESSIONS_CACHE_TRUST_MS). */
bool events_polled_within(events_t *ev, int within_ms);

/* The newest sequence number the poller has delivered. */
int64_t events_head(events_t *ev);

/* A reader is about to read the database (not the model) for a client
 * that knows event seq exists (its causal token; 0: none).  When the
 * poller has not delivered seq yet, this forgets what the process took
 * for undecided a moment ago (decisions_new_generation), so the reads
 * that follow see the commit of that event and of every one before it,
 * as they would after its delivery: a like answered by one server is in
 * the next answer of another to the same client, count included.  Never
 * waits, never asks the database; thread-safe; nothing to do for a NULL
 * ev or one without a store. */
void events_read_after(events_t *ev, int64_t seq);

/* The highest sequence number this server knows was published (by itself
 * or seen); published - head is how far delivery lags. */
int64_t events_published(events_t *ev);

/* Waits until the poller has delivered event seq, when seq was issued
 * (its bell exists), at most timeout_ms: a client resuming here may know
 * of numbers it saw on another server, which this one delivers a poll
 * later, or after waiting out a gap (0.5 s of idleness).  True when
 * delivered; false at once when seq has no bell (never issued, or
 * pruned) or the database cannot say, else after timeout_ms or at stop.
 * Asks the database once; thread-safe. */
bool events_wait_delivered(events_t *ev, int64_t seq, int timeout_ms);

/* Events with seq > since (at most max), from the log, oldest first.
 * *gone is true when events after `since` have already left the log (the
 * reader must start over).  The caller frees with events_free. */
bool events_read_since(events_t *ev, int64_t since, size_t max,
                       event_t **events, size_t *n, bool *gone,
                       chorus_error_t *err);

void events_free(event_t *events, size_t n);

#endif
