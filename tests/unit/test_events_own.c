/*
 * test_events_own.c - unit tests for the bells a process keeps for its own
 * poller (events_own_put / events_own_take, events_internal.h): a bell put
 * is taken once, by its number only, as an equal copy the taker owns; a
 * number never put, or put under another number of the same slot, gives
 * nothing; a later number replaces an earlier one of its slot (freed, no
 * leak under ASan); a document with no number is not kept; what is left
 * at events_destroy is freed; concurrent puts and takes keep every number
 * taken at most once and equal to what was put.
 *
 * No database: events_new only stores its arguments.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>
#include <pthread.h>
#include <stdatomic.h>

#include "sync/events/events_internal.h"

static events_t *new_events(void) {
  chorus_error_t err;
  events_t *ev = events_new(NULL, NULL, &err);
  assert_non_null(ev);
  return ev;
}

/* A bell as claim_number inserts it: its number as the _id, a body. */
static bson_t *bell(int64_t seq, const char *key) {
  char id[BELL_ID_LEN];
  events_bell_id(seq, id);
  return BCON_NEW("_id", BCON_UTF8(id), "key", BCON_UTF8(key), "type",
                  BCON_UTF8("tweet.updated"), "at", BCON_DATE_TIME(1));
}

static void assert_same_doc(const bson_t *a, const bson_t *b) {
  assert_int_equal(a->len, b->len);
  assert_memory_equal(bson_get_data(a), bson_get_data(b), a->len);
}

static void taken_once_by_its_number(void **state) {
  (void)state;
  events_t *ev = new_events();
  bson_t *b = bell(7, "k7");
  events_own_put(ev, b);
  assert_null(events_own_take(ev, 6));
  assert_null(events_own_take(ev, 8));
  assert_null(events_own_take(ev, 7 + EVENTS_OWN_SLOTS)); /* same slot */
  bson_t *got = events_own_take(ev, 7);
  assert_non_null(got);
  assert_ptr_not_equal(got, b); /* a copy: the putter keeps its own */
  assert_same_doc(got, b);
  assert_null(events_own_take(ev, 7)); /* once */
  bson_destroy(got);
  bson_destroy(b);
  events_destroy(ev);
}

static void later_number_replaces_its_slot(void **state) {
  (void)state;
  events_t *ev = new_events();
  bson_t *early = bell(3, "early");
  bson_t *late = bell(3 + EVENTS_OWN_SLOTS, "late");
  events_own_put(ev, early);
  events_own_put(ev, late); /* frees the copy of early */
  assert_null(events_own_take(ev, 3));
  bson_t *got = events_own_take(ev, 3 + EVENTS_OWN_SLOTS);
  assert_non_null(got);
  assert_same_doc(got, late);
  bson_destroy(got);
  bson_destroy(early);
  bson_destroy(late);
  events_destroy(ev);
}

static void no_number_not_kept(void **state) {
  (void)state;
  events_t *ev = new_events();
  bson_t *none = BCON_NEW("key", BCON_UTF8("k"));
  bson_t *odd = BCON_NEW("_id", BCON_UTF8("not a number"));
  events_own_put(ev, none);
  events_own_put(ev, odd);
  for (int64_t s = 0; s < EVENTS_OWN_SLOTS; s++) {
    assert_null(events_own_take(ev, s));
  }
  bson_destroy(none);
  bson_destroy(odd);
  events_destroy(ev);
}

static void left_ones_freed_at_destroy(void **state) {
  (void)state;
  events_t *ev = new_events();
  for (int64_t s = 1; s <= 2 * EVENTS_OWN_SLOTS + 5; s++) {
    bson_t *b = bell(s, "k");
    events_own_put(ev, b);
    bson_destroy(b);
  }
  /* The last EVENTS_OWN_SLOTS numbers are there, the earlier ones not. */
  bson_t *got = events_own_take(ev, 2 * EVENTS_OWN_SLOTS + 5);
  assert_non_null(got);
  bson_destroy(got);
  assert_null(events_own_take(ev, EVENTS_OWN_SLOTS + 5));
  events_destroy(ev); /* ASan: the rest freed */
}

#define RACE_N 20000

typedef struct race {
  events_t *ev;
  atomic_int taken[RACE_N + 1];
  atomic_bool putting_done;
  atomic_int wrong;
} race_t;

static void *putter(void *arg) {
  race_t *r = arg;
  for (int64_t s = 1; s <= RACE_N; s++) {
    char key[32];
    snprintf(key, sizeof key, "k%lld", (long long)s);
    bson_t *b = bell(s, key);
    events_own_put(r->ev, b);
    bson_destroy(b);
  }
  atomic_store(&r->putting_done, true);
  return NULL;
}

static void *taker(void *arg) {
  race_t *r = arg;
  int64_t next = 1;
  while (next <= RACE_N) {
    bson_t *got = events_own_take(r->ev, next);
    if (got) {
      char key[32];
      snprintf(key, sizeof key, "k%lld", (long long)next);
      bson_iter_t it;
      if (events_doc_seq(got) != next ||
          !bson_iter_init_find(&it, got, "key") ||
          strcmp(bson_iter_utf8(&it, NULL), key) != 0) {
        atomic_fetch_add(&r->wrong, 1);
      }
      atomic_fetch_add(&r->taken[next], 1);
      bson_destroy(got);
      next++;
    } else if (atomic_load(&r->putting_done)) {
      next++; /* replaced before it was taken: the poller would read it */
    }
  }
  return NULL;
}

static void concurrent_puts_and_takes(void **state) {
  (void)state;
  race_t *r = calloc(1, sizeof *r);
  assert_non_null(r);
  r->ev = new_events();
  pthread_t a, b;
  assert_int_equal(pthread_create(&b, NULL, taker, r), 0);
  assert_int_equal(pthread_create(&a, NULL, putter, r), 0);
  pthread_join(a, NULL);
  pthread_join(b, NULL);
  assert_int_equal(atomic_load(&r->wrong), 0);
  int taken = 0;
  for (int s = 1; s <= RACE_N; s++) {
    assert_true(atomic_load(&r->taken[s]) <= 1);
    taken += atomic_load(&r->taken[s]);
  }
  assert_true(taken > 0);
  events_destroy(r->ev);
  free(r);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(taken_once_by_its_number),
      cmocka_unit_test(later_number_replaces_its_slot),
      cmocka_unit_test(no_number_not_kept),
      cmocka_unit_test(left_ones_freed_at_destroy),
      cmocka_unit_test(concurrent_puts_and_takes),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
