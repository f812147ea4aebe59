/*
 * decisions.c - see decisions.h.
 *
 * Invariant: a slot holding DECISIONS_COMMITTED or DECISIONS_ABORTED for
 * an id holds that id's decision (decisions never change), and one
 * holding DECISIONS_OPEN an id whose decision this process has not sent.
 * So a decided slot is never turned open again, and closing clears only
 * an open mark of the same id.  A DECISIONS_UNDECIDED mark never replaces
 * a decided or open slot of the same id, and is answered only while it is
 * younger than DECISIONS_UNDECIDED_MS and of the current generation.
 * Folded marks (n_folded > 0) are only on a slot holding
 * DECISIONS_COMMITTED for its id; every write of a slot's id or fate
 * clears them (set_slot).
 */
#include "sync/txn/decisions.h"

#include <assert.h>
#include <pthread.h>
#include <string.h>
#include <time.h>

typedef struct slot {
  char id[TXN_ID_LEN + 1];
  decisions_fate_t fate;
  /* DECISIONS_UNDECIDED: answered until this time, in this generation */
  int64_t until_ms;
  uint64_t generation;
  /* DECISIONS_COMMITTED: the documents whose entry of it a write of this
   * process folded (decisions_folded) */
  uint64_t folded[DECISIONS_FOLDED_MAX];
  size_t n_folded;
} slot_t;

struct decisions {
  pthread_mutex_t mu;
  uint64_t generation;
  int64_t (*now_ms)(void);
  slot_t slots[DECISIONS_SLOTS];
};

static int64_t monotonic_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

decisions_t *decisions_new(void) {
  decisions_t *d = bson_malloc0(sizeof *d);
  pthread_mutex_init(&d->mu, NULL);
  d->now_ms = monotonic_ms;
  return d;
}

void decisions_set_clock(decisions_t *d, int64_t (*now_ms)(void)) {
  d->now_ms = now_ms ? now_ms : monotonic_ms;
}

void decisions_free(decisions_t *d) {
  if (!d) {
    return;
  }
  pthread_mutex_destroy(&d->mu);
  bson_free(d);
}

/* Gives slot s to txn_id with fate (its folded marks cleared). */
static void set_slot(slot_t *s, const char *txn_id, decisions_fate_t fate) {
  if (strcmp(s->id, txn_id) != 0 || fate != DECISIONS_COMMITTED) {
    s->n_folded = 0;
  }
  bson_strncpy(s->id, txn_id, sizeof s->id);
  s->fate = fate;
}

/* FNV-1a of the id: ids are ObjectIds, whose low bytes (a counter) vary
 * most, and all of them count. */
static slot_t *slot_of(decisions_t *d, const char *txn_id) {
  uint32_t h = 2166136261u;
  for (const char *p = txn_id; *p; p++) {
    h = (h ^ (uint8_t)*p) * 16777619u;
  }
  return &d->slots[h % DECISIONS_SLOTS];
}

void decisions_open(decisions_t *d, const char *txn_id) {
  if (!d) {
    return;
  }
  pthread_mutex_lock(&d->mu);
  slot_t *s = slot_of(d, txn_id);
  bool decided_same =
      !strcmp(s->id, txn_id) &&
      (s->fate == DECISIONS_COMMITTED || s->fate == DECISIONS_ABORTED);
  if (!decided_same) {
    set_slot(s, txn_id, DECISIONS_OPEN);
  }
  pthread_mutex_unlock(&d->mu);
}

void decisions_close(decisions_t *d, const char *txn_id) {
  if (!d) {
    return;
  }
  pthread_mutex_lock(&d->mu);
  slot_t *s = slot_of(d, txn_id);
  if (!strcmp(s->id, txn_id) && s->fate == DECISIONS_OPEN) {
    set_slot(s, "", DECISIONS_UNKNOWN);
  }
  pthread_mutex_unlock(&d->mu);
}

void decisions_put(decisions_t *d, const char *txn_id, txn_state_t state) {
  assert(state == TXN_COMMITTED || state == TXN_ABORTED);
  if (!d) {
    return;
  }
  pthread_mutex_lock(&d->mu);
  slot_t *s = slot_of(d, txn_id);
  set_slot(s, txn_id,
           state == TXN_COMMITTED ? DECISIONS_COMMITTED : DECISIONS_ABORTED);
  if (state == TXN_COMMITTED) {
    d->generation++; /* see decisions_new_generation */
  }
  pthread_mutex_unlock(&d->mu);
}

uint64_t decisions_generation(decisions_t *d) {
  if (!d) {
    return 0;
  }
  pthread_mutex_lock(&d->mu);
  uint64_t g = d->generation;
  pthread_mutex_unlock(&d->mu);
  return g;
}

void decisions_undecided(decisions_t *d, const char *txn_id,
                         uint64_t generation) {
  if (!d) {
    return;
  }
  pthread_mutex_lock(&d->mu);
  if (generation != d->generation) {
    pthread_mutex_unlock(&d->mu); /* an event came while it was asked */
    return;
  }
  slot_t *s = slot_of(d, txn_id);
  bool known_same = !strcmp(s->id, txn_id) && s->fate != DECISIONS_UNKNOWN &&
                    s->fate != DECISIONS_UNDECIDED;
  if (!known_same) {
    set_slot(s, txn_id, DECISIONS_UNDECIDED);
    s->until_ms = d->now_ms() + DECISIONS_UNDECIDED_MS;
    s->generation = generation;
  }
  pthread_mutex_unlock(&d->mu);
}

void decisions_new_generation(decisions_t *d) {
  if (!d) {
    return;
  }
  pthread_mutex_lock(&d->mu);
  d->generation++;
  pthread_mutex_unlock(&d->mu);
}

decisions_fate_t decisions_get(decisions_t *d, const char *txn_id) {
  if (!d) {
    return DECISIONS_UNKNOWN;
  }
  pthread_mutex_lock(&d->mu);
  slot_t *s = slot_of(d, txn_id);
  decisions_fate_t f = !strcmp(s->id, txn_id) ? s->fate : DECISIONS_UNKNOWN;
  if (f == DECISIONS_UNDECIDED &&
      (s->generation != d->generation || d->now_ms() >= s->until_ms)) {
    f = DECISIONS_UNKNOWN; /* too old to answer: ask the database */
  }
  pthread_mutex_unlock(&d->mu);
  return f;
}

void decisions_folded(decisions_t *d, const char *txn_id, uint64_t where) {
  if (!d) {
    return;
  }
  pthread_mutex_lock(&d->mu);
  slot_t *s = slot_of(d, txn_id);
  if (!strcmp(s->id, txn_id) && s->fate == DECISIONS_COMMITTED &&
      s->n_folded < DECISIONS_FOLDED_MAX) {
    s->folded[s->n_folded++] = where;
  }
  assert(s->n_folded == 0 || s->fate == DECISIONS_COMMITTED);
  pthread_mutex_unlock(&d->mu);
}

bool decisions_was_folded(decisions_t *d, const char *txn_id, uint64_t where) {
  if (!d) {
    return false;
  }
  bool found = false;
  pthread_mutex_lock(&d->mu);
  slot_t *s = slot_of(d, txn_id);
  if (!strcmp(s->id, txn_id) && s->fate == DECISIONS_COMMITTED) {
    for (size_t i = 0; i < s->n_folded && !found; i++) {
      found = s->folded[i] == where;
    }
  }
  pthread_mutex_unlock(&d->mu);
  return found;
}
