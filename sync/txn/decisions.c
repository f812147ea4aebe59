/*
 * decisions.c - see decisions.h.
 *
 * Invariant: a slot holding DECISIONS_COMMITTED or DECISIONS_ABORTED for
 * an id holds that id's decision (decisions never change), and one
 * holding DECISIONS_OPEN an id whose decision this process has not sent.
 * So a decided slot is never turned open again, and closing clears only
 * an open mark of the same id.
 */
#include "sync/txn/decisions.h"

#include <assert.h>
#include <pthread.h>
#include <string.h>

typedef struct slot {
  char id[TXN_ID_LEN + 1];
  decisions_fate_t fate;
} slot_t;

struct decisions {
  pthread_mutex_t mu;
  slot_t slots[DECISIONS_SLOTS];
};

decisions_t *decisions_new(void) {
  decisions_t *d = bson_malloc0(sizeof *d);
  pthread_mutex_init(&d->mu, NULL);
  return d;
}

void decisions_free(decisions_t *d) {
  if (!d) {
    return;
  }
  pthread_mutex_destroy(&d->mu);
  bson_free(d);
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
  bool decided_same = !strcmp(s->id, txn_id) && s->fate != DECISIONS_OPEN &&
                      s->fate != DECISIONS_UNKNOWN;
  if (!decided_same) {
    bson_strncpy(s->id, txn_id, sizeof s->id);
    s->fate = DECISIONS_OPEN;
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
    s->id[0] = '\0';
    s->fate = DECISIONS_UNKNOWN;
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
  bson_strncpy(s->id, txn_id, sizeof s->id);
  s->fate = state == TXN_COMMITTED ? DECISIONS_COMMITTED : DECISIONS_ABORTED;
  pthread_mutex_unlock(&d->mu);
}

decisions_fate_t decisions_get(decisions_t *d, const char *txn_id) {
  if (!d) {
    return DECISIONS_UNKNOWN;
  }
  pthread_mutex_lock(&d->mu);
  slot_t *s = slot_of(d, txn_id);
  decisions_fate_t f = !strcmp(s->id, txn_id) ? s->fate : DECISIONS_UNKNOWN;
  pthread_mutex_unlock(&d->mu);
  return f;
}
