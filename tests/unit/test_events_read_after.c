/*
 * test_events_read_after.c - unit tests for events_read_after
 * (events.h): a reader whose client knows of an event this process has
 * not delivered yet does not trust what the process took for undecided a
 * moment ago (decisions.h), so a commit answered by another server is
 * read as committed; a token this process has delivered, or none, leaves
 * the marks alone (they still spare readers their questions); a decision
 * known here is never forgotten; a NULL log, or one without a store, is
 * harmless.
 *
 * No database: events_new only stores its arguments; the poller's head is
 * set as deliver_doc sets it.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "sync/events/events_internal.h"
#include "sync/txn/decisions.h"

static const char theirs[] = "0123456789abcdef01234567";
static const char known[] = "76543210fedcba9876543210";

typedef struct fixture {
  txn_store_t store;
  events_t *ev;
} fixture_t;

static int setup(void **state) {
  fixture_t *f = test_calloc(1, sizeof *f);
  chorus_error_t err;
  f->store.decisions = decisions_new();
  f->ev = events_new(NULL, &f->store, &err);
  assert_non_null(f->ev);
  atomic_store(&f->ev->head, 41); /* events up to 41 delivered */
  *state = f;
  return 0;
}

static int teardown(void **state) {
  fixture_t *f = *state;
  events_destroy(f->ev);
  decisions_free(f->store.decisions);
  test_free(f);
  return 0;
}

/* theirs: asked a moment ago, undecided then. */
static void mark_undecided(fixture_t *f) {
  decisions_undecided(f->store.decisions, theirs,
                      decisions_generation(f->store.decisions));
  assert_int_equal(decisions_get(f->store.decisions, theirs),
                   DECISIONS_UNDECIDED);
}

static void a_token_ahead_of_the_poller_forgets_the_marks(void **state) {
  fixture_t *f = *state;
  mark_undecided(f);
  events_read_after(f->ev, 42);
  /* asked again: the database has its commit */
  assert_int_equal(decisions_get(f->store.decisions, theirs),
                   DECISIONS_UNKNOWN);
}

static void a_delivered_token_or_none_keeps_them(void **state) {
  fixture_t *f = *state;
  mark_undecided(f);
  events_read_after(f->ev, 0);  /* no token */
  events_read_after(f->ev, 41); /* delivered: its delivery forgot them */
  events_read_after(f->ev, 7);
  assert_int_equal(decisions_get(f->store.decisions, theirs),
                   DECISIONS_UNDECIDED);
  /* the poller delivers 42: a token of 42 is no longer ahead */
  atomic_store(&f->ev->head, 42);
  events_read_after(f->ev, 42);
  assert_int_equal(decisions_get(f->store.decisions, theirs),
                   DECISIONS_UNDECIDED);
}

static void decisions_known_stay(void **state) {
  fixture_t *f = *state;
  decisions_put(f->store.decisions, known, TXN_COMMITTED);
  decisions_open(f->store.decisions, theirs);
  events_read_after(f->ev, 1000);
  assert_int_equal(decisions_get(f->store.decisions, known),
                   DECISIONS_COMMITTED);
  assert_int_equal(decisions_get(f->store.decisions, theirs), DECISIONS_OPEN);
}

static void a_mark_asked_before_the_call_is_not_kept(void **state) {
  fixture_t *f = *state;
  /* a reader read the generation, then asked the database; meanwhile a
   * request with a newer token came: its answer "undecided" may predate
   * the commit that request knows of, so it is not kept */
  uint64_t asked_in = decisions_generation(f->store.decisions);
  events_read_after(f->ev, 42);
  decisions_undecided(f->store.decisions, theirs, asked_in);
  assert_int_equal(decisions_get(f->store.decisions, theirs),
                   DECISIONS_UNKNOWN);
}

static void harmless_without_a_log_or_a_store(void **state) {
  (void)state;
  events_read_after(NULL, 42);
  chorus_error_t err;
  events_t *ev = events_new(NULL, NULL, &err);
  assert_non_null(ev);
  events_read_after(ev, 42);
  events_destroy(ev);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(
          a_token_ahead_of_the_poller_forgets_the_marks, setup, teardown),
      cmocka_unit_test_setup_teardown(a_delivered_token_or_none_keeps_them,
                                      setup, teardown),
      cmocka_unit_test_setup_teardown(decisions_known_stay, setup, teardown),
      cmocka_unit_test_setup_teardown(a_mark_asked_before_the_call_is_not_kept,
                                      setup, teardown),
      cmocka_unit_test(harmless_without_a_log_or_a_store),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
