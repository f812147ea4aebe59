/*
 * sync.c - the facade of sync/: retries, lock resolution, the recovery
 * thread, the finishers.  See sync.h.
 *
 * Finishers: a commit of increments is answered before its increments
 * are applied.  txn_execute returns once the decision is made and the
 * other ops applied (defer_apply); sync_commit hands the transaction to a
 * finisher thread, which folds its escrow entries and marks it done
 * (txn_complete), and meanwhile publishes its events and returns.
 * Readers through the view count a committed entry already (view.h); a
 * crash before the finisher is through leaves it to recovery, as a crash
 * after the decision always did.  When SYNC_QUEUE_MAX commits wait
 * already, the caller applies its own before it returns.  The finishers'
 * writes give way to every other write of the process
 * (WRITE_PRIORITY_BACKGROUND).
 *
 * Lock resolution: a transaction that finds a participant locked by X does
 * not only wait.  If X's record is gone (collected after an abort), the
 * lock is stale and is dropped; if X is done, its decision is applied to
 * that participant; if X's lease has expired, X is recovered right away.
 * Otherwise X is alive and we back off and retry.
 */
#include "sync/sync.h"

#include <assert.h>
#include <pthread.h>
#include <sodium.h>
#include <string.h>
#include <time.h>

#include "sync/base/batcher.h"
#include "sync/sync_internal.h"
#include "sync/txn/failpoint.h"
#include "sync/txn/recovery.h"
#include "sync/txn/store_mongo.h"
#include "sync/txn/view.h"

#define SYNC_MAX_ATTEMPTS 16
#define SYNC_BACKOFF_BASE_MS 4
#define SYNC_BACKOFF_MAX_MS 400
#define SYNC_COLLECT_EVERY_MS 2000
/* Longer than any prepare request can stay in flight (the driver's socket
 * timeout is 10 s), so the sweep in store_mongo_collect comes after it. */
#define SYNC_KEEP_FINISHED_MS 30000
/* A minute of the log is swept by the server that claimed it; by any
 * server once that claim is this old (its server may be gone for good). */
#define SYNC_KEEP_ORPHANS_MS 300000
#define SYNC_FINISHERS 2
#define SYNC_QUEUE_MAX 256
/* At most this many transactions in one group, and in one finisher's
 * batch. */
#define SYNC_GROUP_MAX 64

/* A groupable transaction waiting for its group (s->group). */
typedef struct group_wait {
  batch_item_t item; /* first: a batch's items are group_wait_t */
  txn_member_t member;
  /* out: the rendezvous its outbox's publication meets the others' at
   * (run_group), when it committed with one and so did another member;
   * else NULL */
  rendezvous_t *join;
} group_wait_t;

/* A commit waits about this long for its finisher (ripe, gather_due),
 * with the others that come meanwhile: the commits of one batch share
 * its latched write of each document they increment (a liked tweet's
 * count) and the write of their records, which else a like pays nearly
 * alone at tens a second.  And an author who posts again within it has
 * the stage of the next creation fold this one's entry (escrow_rewrite
 * folds every committed entry it finds), so that the apply has nothing
 * left to write (fold_many, store_mongo.c): 500 ms halves the updates of
 * the author's document per creation (docs/PERFORMANCE.md).  Never later
 * than SYNC_FINISH_SLACK_MS before a member's deadline minus its margin
 * (gather_due): the fold must start before the lease ends, or recovery
 * does it. */
#define SYNC_FINISH_GATHER_MS 500
#define SYNC_FINISH_SLACK_MS 100

/* A committed transaction waiting for a finisher. */
typedef struct queued_txn {
  txn_t txn;
  int64_t queued_ms; /* db_now_ms() when queued */
  struct queued_txn *next;
} queued_txn_t;

struct sync {
  shards_t *shards;
  events_t *events;
  txn_store_t store;
  failpoint_t failpoint;
  char owner[64];
  int64_t lease_ms;
  int interval_ms;
  sync_stats_t stats;

  pthread_t thread;
  bool running;
  bool stopping; /* guarded by mu */
  pthread_mutex_t mu;
  pthread_cond_t cv;

  /* The finishers and their queue (guarded by fmu). */
  bool apply_inline;
  pthread_t finishers[SYNC_FINISHERS];
  int n_finishers;
  queued_txn_t *head, *tail;
  size_t queued;
  bool finishers_stopping;
  pthread_mutex_t fmu;
  pthread_cond_t fcv;

  /* Group commit: the groupable transactions wait here for their group
   * (execute_in_group). */
  batcher_t group;
};

static void *finisher_main(void *arg);

sync_t *sync_new(db_t *main, const sync_config_t *cfg, chorus_error_t *err) {
  sync_t *s = bson_malloc0(sizeof *s);
  if (!failpoint_init(&s->failpoint, cfg->failpoint, err)) {
    bson_free(s);
    return NULL;
  }
  s->shards =
      shards_new(main, cfg->n_shards, cfg->shard_uris, cfg->pool_size, err);
  if (!s->shards) {
    bson_free(s);
    return NULL;
  }
  store_mongo_init(&s->store, s->shards);
  for (size_t i = 0; cfg->deferred_colls && cfg->deferred_colls[i]; i++) {
    store_mongo_defer(&s->store, cfg->deferred_colls[i]);
  }
  s->events = events_new(main, &s->store, err);
  bson_strncpy(s->owner, cfg->server_id, sizeof s->owner);
  s->lease_ms = cfg->lease_ms > 0 ? cfg->lease_ms : 2000;
  s->interval_ms =
      cfg->recovery_interval_ms > 0 ? cfg->recovery_interval_ms : 250;
  s->apply_inline = cfg->apply_inline;
  pthread_mutex_init(&s->mu, NULL);
  pthread_cond_init(&s->cv, NULL);
  pthread_mutex_init(&s->fmu, NULL);
  pthread_cond_init(&s->fcv, NULL);
  batcher_init(&s->group, SYNC_GROUP_MAX);
  for (int i = 0; !s->apply_inline && i < SYNC_FINISHERS; i++) {
    if (pthread_create(&s->finishers[i], NULL, finisher_main, s) == 0) {
      s->n_finishers++;
    }
  }
  return s;
}

shards_t *sync_shards(sync_t *s) { return s->shards; }

events_t *sync_events(sync_t *s) { return s->events; }

const txn_store_t *sync_store(sync_t *s) { return &s->store; }

const sync_stats_t *sync_get_stats(const sync_t *s) { return &s->stats; }

static void sleep_ms(int64_t ms) {
  struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
}

/* txn's outbox op (its id into *id), or NULL when it has none: a
 * transaction has one at most (event_batch_commit, events.h). */
static const txn_op_t *outbox_op(const txn_t *txn, bson_oid_t *id) {
  for (size_t i = 0; i < txn->n_ops; i++) {
    if (events_is_outbox(&txn->ops[i], id)) {
      return &txn->ops[i];
    }
  }
  return NULL;
}

/* A recovered transaction that committed publishes its events before it
 * is marked done, as its coordinator would have after its commit: the
 * servers' listeners get them at once rather than from the pump 2 s
 * later (events.h). */
static void publish_recovered(void *ctx, const txn_t *txn,
                              txn_state_t final_state) {
  sync_t *s = ctx;
  if (final_state != TXN_COMMITTED || !s->events) {
    return;
  }
  bson_oid_t outbox;
  if (outbox_op(txn, &outbox)) {
    events_flush(s->events, &outbox, NULL); /* ops loaded: no doc */
  }
}

/* One recovery pass: every expired unfinished transaction (up to 64). */
static void recover_now(sync_t *s, chorus_error_t *err) {
  recovery_result_t r;
  txn_applied_hook_t hook = {publish_recovered, s};
  recovery_pass(&s->store, NULL, s->owner, s->lease_ms, db_now_ms, 64, &hook,
                &r, err);
  atomic_fetch_add(&s->stats.recoveries, r.recovered);
}

static void *recovery_main(void *arg) {
  sync_t *s = arg;
  int64_t last_collect = 0;
  pthread_mutex_lock(&s->mu);
  while (!s->stopping) {
    pthread_mutex_unlock(&s->mu);
    chorus_error_t err;
    recover_now(s, &err); /* a failure is retried next tick */
    int64_t now = db_now_ms();
    if (now - last_collect >= SYNC_COLLECT_EVERY_MS) {
      /* Nobody waits for the collector: requests' writes go first. */
      write_priority_t was = db_write_priority(WRITE_PRIORITY_BACKGROUND);
      int64_t deleted = 0; /* a failure is retried next time */
      store_mongo_collect(&s->store, s->owner, now - SYNC_KEEP_FINISHED_MS,
                          now - SYNC_KEEP_ORPHANS_MS, &deleted, &err);
      db_write_priority(was);
      last_collect = now;
    }
    pthread_mutex_lock(&s->mu);
    if (!s->stopping) {
      struct timespec until;
      clock_gettime(CLOCK_REALTIME, &until);
      until.tv_nsec += (long)s->interval_ms * 1000000L;
      until.tv_sec += until.tv_nsec / 1000000000L;
      until.tv_nsec %= 1000000000L;
      pthread_cond_timedwait(&s->cv, &s->mu, &until);
    }
  }
  pthread_mutex_unlock(&s->mu);
  return NULL;
}

bool sync_start(sync_t *s, chorus_error_t *err) {
  if (!shards_check_count(s->shards, err) ||
      !store_mongo_ensure_indexes(s->shards, err)) {
    return false;
  }
  if (pthread_create(&s->thread, NULL, recovery_main, s) != 0) {
    chorus_error_set(err, 500, "thread", "cannot start the recovery thread");
    return false;
  }
  s->running = true;
  return true;
}

void sync_destroy(sync_t *s) {
  if (!s) {
    return;
  }
  /* The finishers first: they finish what is queued, then stop. */
  pthread_mutex_lock(&s->fmu);
  s->finishers_stopping = true;
  pthread_cond_broadcast(&s->fcv);
  pthread_mutex_unlock(&s->fmu);
  for (int i = 0; i < s->n_finishers; i++) {
    pthread_join(s->finishers[i], NULL);
  }
  pthread_cond_destroy(&s->fcv);
  pthread_mutex_destroy(&s->fmu);
  batcher_destroy(&s->group);
  if (s->running) {
    pthread_mutex_lock(&s->mu);
    s->stopping = true;
    pthread_cond_signal(&s->cv);
    pthread_mutex_unlock(&s->mu);
    pthread_join(s->thread, NULL);
  }
  pthread_cond_destroy(&s->cv);
  pthread_mutex_destroy(&s->mu);
  events_destroy(s->events);
  store_mongo_cleanup(&s->store);
  shards_destroy(s->shards);
  bson_free(s);
}

/* See the comment at the top of this file. */
static void resolve_lock(sync_t *s, const char *holder, const txn_op_t *op) {
  txn_state_t state;
  bool found, done;
  chorus_error_t err;
  if (!s->store.get_state(s->store.impl, holder, &state, &found, &done, &err)) {
    return;
  }
  txn_op_t where; /* location only: the lock says the rest */
  memset(&where, 0, sizeof where);
  where.shard = op->shard;
  bson_strncpy(where.coll, op->coll, sizeof where.coll);
  where.id = op->id; /* borrowed, not owned: never cleaned up */
  if (!found) {
    s->store.abort_op(s->store.impl, holder, &where, &err);
  } else if (done) {
    if (state == TXN_COMMITTED) {
      s->store.commit_op(s->store.impl, holder, &where, &err);
    } else {
      s->store.abort_op(s->store.impl, holder, &where, &err);
    }
  } else {
    recovery_result_t r;
    txn_applied_hook_t hook = {publish_recovered, s};
    recovery_pass(&s->store, holder, s->owner, s->lease_ms, db_now_ms, 1, &hook,
                  &r, &err);
    atomic_fetch_add(&s->stats.recoveries, r.recovered);
  }
}

static void backoff(int attempt) {
  int64_t ceiling = SYNC_BACKOFF_BASE_MS << attempt;
  if (ceiling > SYNC_BACKOFF_MAX_MS) {
    ceiling = SYNC_BACKOFF_MAX_MS;
  }
  /* "Full jitter": anywhere up to the ceiling, so two servers retrying the
   * same conflict drift apart. */
  sleep_ms(1 + (int64_t)randombytes_uniform((uint32_t)ceiling));
}

static txn_exec_opts_t exec_opts(sync_t *s) {
  txn_exec_opts_t opts = {
      .owner = s->owner,
      .lease_ms = s->lease_ms,
      .now_ms = db_now_ms,
      .on_step = failpoint_hit,
      .step_ctx = &s->failpoint,
      .defer_apply = !s->apply_inline,
  };
  return opts;
}

/* Applies a commit answered at its commit point and marks it done; a
 * failure leaves it to recovery, which finds it past its lease. */
static void complete(sync_t *s, txn_t *txn) {
  txn_exec_opts_t opts = exec_opts(s);
  chorus_error_t err;
  txn_complete(&s->store, txn, &opts, &err);
}

/* Until when a finisher may wait for more commits to join those queued
 * from q on: SYNC_FINISH_GATHER_MS after the oldest, but never into the
 * last SYNC_FINISH_SLACK_MS before any one's writes must have started
 * (deadline - margin), which a busy write gate may take. */
static int64_t gather_due(const queued_txn_t *q) {
  int64_t due = q->queued_ms + SYNC_FINISH_GATHER_MS;
  for (; q; q = q->next) {
    int64_t limit =
        q->txn.deadline_ms - q->txn.margin_ms - SYNC_FINISH_SLACK_MS;
    due = limit < due ? limit : due;
  }
  return due;
}

/* Whether a finisher woken for the queue's oldest commit takes q with
 * it (always with take_all: stopping, or the queue pressed): q has
 * waited half the gather (time for its author's next stage to
 * fold its entry, if the author posts again soon), or its writes must
 * start within that time.  A batch of the SYNC_GROUP_MAX oldest instead
 * took commits a few milliseconds old under load (64 queue up within
 * 400 ms at 160 creations a second): a quarter of the creations had
 * their author's entry folded by the finisher's own latched write, which
 * the author's next stage would have done anyway. */
static bool ripe(const queued_txn_t *q, int64_t now, bool take_all) {
  int64_t half = SYNC_FINISH_GATHER_MS / 2;
  return take_all || q->queued_ms + half <= now ||
         q->txn.deadline_ms - q->txn.margin_ms - SYNC_FINISH_SLACK_MS <=
             now + half;
}

/* Whether the queue is so long that its commits are taken at once, the
 * oldest first, ripe or not: under a burst (500 likes of one tweet at
 * once) waiting for ripeness let the queue fill, and a commit that finds
 * it full is applied before its answer (finish_later). (fmu held) */
static bool pressed(const sync_t *s) { return s->queued >= SYNC_QUEUE_MAX / 2; }

/* A finisher waits until the oldest commit queued is due (gather_due),
 * or the queue is pressed, takes it and every other ripe one (up to
 * SYNC_GROUP_MAX; every one when pressed), and applies
 * them together: their increments folded in one latched write per
 * document, their records finished in one write. */
static void *finisher_main(void *arg) {
  sync_t *s = arg;
  /* Nobody waits for these writes: requests in flight go first. */
  db_write_priority(WRITE_PRIORITY_BACKGROUND);
  txn_exec_opts_t opts = exec_opts(s);
  queued_txn_t *batch[SYNC_GROUP_MAX];
  txn_t *txns[SYNC_GROUP_MAX];
  pthread_mutex_lock(&s->fmu);
  for (;;) {
    while (!s->head && !s->finishers_stopping) {
      pthread_cond_wait(&s->fcv, &s->fmu);
    }
    if (!s->head) {
      break; /* stopping, and nothing is left */
    }
    while (s->head && !s->finishers_stopping && !pressed(s)) {
      int64_t due = gather_due(s->head);
      if (db_now_ms() >= due) {
        break;
      }
      struct timespec until = {(time_t)(due / 1000),
                               (long)(due % 1000) * 1000000L};
      pthread_cond_timedwait(&s->fcv, &s->fmu, &until);
    }
    if (!s->head) {
      continue; /* the other finisher took them */
    }
    size_t n = 0;
    int64_t now = db_now_ms();
    for (queued_txn_t *prev = NULL, *q = s->head; q && n < SYNC_GROUP_MAX;) {
      queued_txn_t *next = q->next;
      if (n > 0 && !ripe(q, now, s->finishers_stopping || pressed(s))) {
        prev = q; /* left for a later batch */
        q = next;
        continue;
      }
      if (prev) {
        prev->next = next;
      } else {
        s->head = next;
      }
      if (s->tail == q) {
        s->tail = prev;
      }
      s->queued--;
      batch[n] = q;
      txns[n] = &q->txn;
      n++;
      q = next;
    }
    assert(n > 0 && (s->head != NULL) == (s->tail != NULL));
    pthread_mutex_unlock(&s->fmu);
    txn_complete_group(&s->store, txns, n, &opts);
    for (size_t i = 0; i < n; i++) {
      txn_cleanup(&batch[i]->txn);
      bson_free(batch[i]);
    }
    pthread_mutex_lock(&s->fmu);
  }
  pthread_mutex_unlock(&s->fmu);
  return NULL;
}

/* Hands a commit txn_execute left staged to a finisher (txn is emptied:
 * the finisher owns its ops), or applies it here when the queue is full
 * or there is no finisher. */
static void finish_later(sync_t *s, txn_t *txn) {
  pthread_mutex_lock(&s->fmu);
  bool queue = s->n_finishers > 0 && !s->finishers_stopping &&
               s->queued < SYNC_QUEUE_MAX;
  if (queue) {
    queued_txn_t *q = bson_malloc0(sizeof *q);
    q->txn = *txn; /* moves the ops' documents */
    q->queued_ms = db_now_ms();
    memset(txn, 0, sizeof *txn);
    if (s->tail) {
      s->tail->next = q;
    } else {
      s->head = q;
    }
    s->tail = q;
    s->queued++;
    pthread_cond_signal(&s->fcv);
  }
  pthread_mutex_unlock(&s->fmu);
  if (!queue) {
    complete(s, txn);
  }
}

/* Runs the queued groupable transactions, up to SYNC_GROUP_MAX of them
 * from the head of the queue, as one group (txn_execute_group); hands
 * its commits left apply_pending to the finishers (their txn_t moved:
 * the members' are emptied). */
static void run_group(void *ctx, batch_item_t **items, size_t n) {
  sync_t *s = ctx;
  /* On the heap: 64 members are ~21 KB, and a group runs on a civetweb
   * worker whose whole stack is 100 KB. */
  txn_member_t *members = bson_malloc(n * sizeof *members);
  assert(n <= SYNC_GROUP_MAX);
  for (size_t i = 0; i < n; i++) {
    members[i] = ((group_wait_t *)items[i])->member; /* item is first */
  }
  txn_exec_opts_t opts = exec_opts(s);
  atomic_fetch_add(&s->stats.groups, 1);
  atomic_fetch_add(&s->stats.grouped, (long)n);
  txn_execute_group(&s->store, members, n, &opts);
  /* The members committed with events publish them meeting at one
   * rendezvous, where their first claims go together
   * (events_flush_joined). */
  bool *publishes = bson_malloc0(sizeof *publishes * n);
  size_t n_publish = 0;
  for (size_t i = 0; i < n; i++) {
    bson_oid_t outbox;
    publishes[i] = members[i].outcome == TXN_OUTCOME_COMMITTED &&
                   outbox_op(members[i].txn, &outbox);
    n_publish += publishes[i];
  }
  rendezvous_t *join =
      s->events && n_publish > 1 ? rendezvous_new(n_publish) : NULL;
  for (size_t i = 0; i < n; i++) {
    ((group_wait_t *)items[i])->join = publishes[i] ? join : NULL;
  }
  bson_free(publishes);
  for (size_t i = 0; i < n; i++) {
    ((group_wait_t *)items[i])->member = members[i];
    if (members[i].txn->apply_pending) {
      finish_later(s, members[i].txn); /* applied meanwhile, or here */
    }
  }
  bson_free(members);
}

/* txn_execute for a groupable transaction, in the next group of this
 * process (batcher.h): queued, then run by whichever waiting thread finds
 * no group running (the leader), perhaps this one, together with every
 * other queued.  So concurrent commits share each step's commands, one
 * group at a time per process, and a lone commit runs at once.  A commit
 * left apply_pending is with the finishers on return (txn emptied). */
static txn_outcome_t execute_in_group(sync_t *s, txn_t *txn, size_t *failed_op,
                                      char holder[TXN_ID_LEN + 1],
                                      rendezvous_t **join,
                                      chorus_error_t *err) {
  group_wait_t req;
  memset(&req, 0, sizeof req);
  req.member.txn = txn;
  batcher_submit(&s->group, &req.item, run_group, s);
  *join = req.join;
  *failed_op = req.member.failed_op;
  memcpy(holder, req.member.lock_owner, TXN_ID_LEN + 1);
  if (err && req.member.outcome != TXN_OUTCOME_COMMITTED) {
    *err = req.member.err;
  }
  return req.member.outcome;
}

txn_outcome_t sync_commit_published(sync_t *s, sync_build_fn build, void *ctx,
                                    size_t *failed_op, bool *published,
                                    chorus_error_t *err) {
  *published = false;
  txn_exec_opts_t opts = exec_opts(s);
  /* On the heap: with its TXN_MAX_OPS ops it would take 5 KB of a
   * civetweb worker's stack, which is 100 KB in all. */
  txn_t *txn = bson_malloc(sizeof *txn);
  for (int attempt = 0; attempt < SYNC_MAX_ATTEMPTS; attempt++) {
    txn_init(txn);
    if (!build(ctx, txn, err)) {
      txn_cleanup(txn);
      bson_free(txn);
      return TXN_OUTCOME_FAILED;
    }
    if (txn->n_ops == 0) {
      txn_cleanup(txn); /* nothing to change: trivially committed */
      bson_free(txn);
      *published = true;
      return TXN_OUTCOME_COMMITTED;
    }
    char holder[TXN_ID_LEN + 1];
    /* The outbox as inserted, for its publication (a commit in a group
     * hands its ops to a finisher). */
    bson_oid_t outbox;
    const txn_op_t *op = outbox_op(txn, &outbox);
    bson_t *outbox_doc = op ? bson_copy(op->doc) : NULL;
    rendezvous_t *join = NULL; /* a group's, when there are events */
    txn_outcome_t outcome =
        txn_groupable(txn)
            ? execute_in_group(s, txn, failed_op, holder, &join, err)
            : txn_execute(&s->store, txn, &opts, failed_op, holder, err);
    /* run_group gives a join only to a member committed with an outbox */
    assert(!join || (outcome == TXN_OUTCOME_COMMITTED && outbox_doc));
    if (outcome != TXN_OUTCOME_COMMITTED && outbox_doc) {
      bson_destroy(outbox_doc);
      outbox_doc = NULL;
    }
    if (outcome == TXN_OUTCOME_CONFLICT) {
      atomic_fetch_add(&s->stats.conflicts, 1);
      if (holder[0]) {
        assert(*failed_op < txn->n_ops); /* the op that met the lock */
        resolve_lock(s, holder, &txn->ops[*failed_op]);
      }
      txn_cleanup(txn);
      if (attempt + 1 < SYNC_MAX_ATTEMPTS) {
        backoff(attempt);
      }
      continue;
    }
    switch (outcome) {
    case TXN_OUTCOME_COMMITTED: {
      atomic_fetch_add(&s->stats.commits, 1);
      if (txn->apply_pending) {
        finish_later(s, txn); /* applied meanwhile, or here */
      }
      *published = true; /* unless it has an outbox that fails */
      if (outbox_doc) {
        /* or the pump */
        *published = events_flush_joined(s->events, join, &outbox, outbox_doc);
        bson_destroy(outbox_doc);
      }
      break;
    }
    case TXN_OUTCOME_FAILED:
      atomic_fetch_add(&s->stats.failures, 1);
      break;
    default:
      atomic_fetch_add(&s->stats.aborts, 1);
      break;
    }
    txn_cleanup(txn);
    bson_free(txn);
    return outcome;
  }
  bson_free(txn);
  atomic_fetch_add(&s->stats.aborts, 1);
  atomic_fetch_add(&s->stats.retries_exhausted, 1);
  chorus_error_set(err, 409, "conflict",
                   "Too many concurrent changes to the same data; try again");
  return TXN_OUTCOME_CONFLICT;
}

txn_outcome_t sync_commit(sync_t *s, sync_build_fn build, void *ctx,
                          size_t *failed_op, chorus_error_t *err) {
  bool published;
  return sync_commit_published(s, build, ctx, failed_op, &published, err);
}

bool sync_view(sync_t *s, bson_t **docs, size_t n, bool *visible,
               chorus_error_t *err) {
  return view_resolve(&s->store, docs, n, visible, err);
}
