/*
 * test_events_gap.c - the poller's pass over a gap (events_deliver_gap,
 * events_internal.h) on the real database, with no server: the numbers
 * below a bell seen are delivered in order, each from its bell when it
 * is there (also when its log copy is not yet), else from the log, and
 * only a number that has neither is counted lost.
 *
 * The poller calls it once a later bell exists while the next number had
 * none at its probe.  Bells are claimed in order, so the next number's
 * bell may simply have come between the two reads, with the later one,
 * its log copy still to be written: a pass that read the log alone
 * skipped such an event for good on that server (its read model then
 * missed a tweet every other server had).
 *
 * Each case writes bells and log entries of its own into a database of
 * its own, as the publishers would, and records what the listener is
 * given.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "sync/events/events_internal.h"
#include "tests/client/harness.h"
#include "tests/client/testclient.h"

#define MAX_SEEN 16

typedef struct seen {
  size_t n;
  int64_t seq[MAX_SEEN];
  char type[MAX_SEEN][32];
} seen_t;

typedef struct fixture {
  tc_db_t d;
  char name[64];
  db_t *db;
  events_t *ev;
  seen_t seen;
} fixture_t;

static void on_event(void *ctx, const event_t *e) {
  seen_t *s = ctx;
  assert_true(s->n < MAX_SEEN);
  s->seq[s->n] = e->seq;
  bson_strncpy(s->type[s->n], e->type, sizeof s->type[s->n]);
  s->n++;
}

static int setup(void **state) {
  fixture_t *f = bson_malloc0(sizeof *f);
  snprintf(f->name, sizeof f->name, "gap_%d", (int)getpid());
  tc_db_open(&f->d, NULL, f->name);
  chorus_error_t err = {0};
  f->db = db_new(tc_env("CHORUS_TEST_MONGO_URI"), f->name, 2, &err);
  assert_non_null(f->db);
  f->ev = events_new(f->db, NULL, &err);
  assert_non_null(f->ev);
  f->ev->listener = on_event; /* as events_start would; no threads */
  f->ev->listener_ctx = &f->seen;
  *state = f;
  return 0;
}

static int teardown(void **state) {
  fixture_t *f = *state;
  events_destroy(f->ev);
  db_destroy(f->db);
  tc_db_drop(&f->d);
  tc_db_close(&f->d);
  bson_free(f);
  return 0;
}

/* Event seq as its publisher writes it: its bell (into_log false: its
 * _id the 19-digit string) or its log copy (an Int64 _id); its type says
 * which, for assert_seen. */
static void put_event(fixture_t *f, bool into_log, int64_t seq) {
  char key[32];
  snprintf(key, sizeof key, "k:%lld", (long long)seq);
  bson_t doc = BSON_INITIALIZER;
  if (into_log) {
    BSON_APPEND_INT64(&doc, "_id", seq);
  } else {
    char id[BELL_ID_LEN];
    events_bell_id(seq, id);
    BSON_APPEND_UTF8(&doc, "_id", id);
  }
  BSON_APPEND_UTF8(&doc, "key", key);
  BSON_APPEND_UTF8(&doc, "type", into_log ? "log" : "bell");
  bson_t data = BSON_INITIALIZER;
  BSON_APPEND_DOCUMENT(&doc, "data", &data);
  BSON_APPEND_DATE_TIME(&doc, "at", 1);
  mongoc_collection_t *c =
      mongoc_database_get_collection(f->d.db, into_log ? DB_LOG : DB_BELLS);
  bson_error_t berr;
  assert_true(mongoc_collection_insert_one(c, &doc, NULL, NULL, &berr));
  mongoc_collection_destroy(c);
  bson_destroy(&doc);
}

static void put_bell(fixture_t *f, int64_t seq) { put_event(f, false, seq); }

static void put_logged(fixture_t *f, int64_t seq) { put_event(f, true, seq); }

static void assert_seen(const fixture_t *f, size_t i, int64_t seq,
                        const char *from) {
  assert_true(i < f->seen.n);
  assert_int_equal(f->seen.seq[i], seq);
  assert_string_equal(f->seen.type[i], from);
}

/* The poller's probe found no bell 11; then 12 and 13 were there, all
 * three inserted meanwhile and none copied to the log yet: 11 and 12 are
 * delivered from their bells, nothing is lost, the head is 12. */
static void test_bells_that_came_late_are_delivered(void **state) {
  fixture_t *f = *state;
  put_bell(f, 11);
  put_bell(f, 12);
  put_bell(f, 13);
  int64_t lost = 0;
  assert_true(events_deliver_gap(f->ev, 11, 13, &lost));
  assert_int_equal(lost, 0);
  assert_int_equal(f->seen.n, 2);
  assert_seen(f, 0, 11, "bell");
  assert_seen(f, 1, 12, "bell");
  assert_int_equal(events_head(f->ev), 12);
}

/* 21 and 23 pruned (in the log only), 22 and 25 with their bells but no
 * log copy, 24 in neither, 26 the bell seen: 21-25 in order, each from
 * where it is, and 24 alone counted lost. */
static void test_a_mixed_run_is_delivered_in_order(void **state) {
  fixture_t *f = *state;
  put_logged(f, 21);
  put_bell(f, 22);
  put_logged(f, 23);
  put_bell(f, 25);
  put_bell(f, 26);
  int64_t lost = 0;
  assert_true(events_deliver_gap(f->ev, 21, 26, &lost));
  assert_int_equal(lost, 1);
  assert_int_equal(f->seen.n, 4);
  assert_seen(f, 0, 21, "log");
  assert_seen(f, 1, 22, "bell");
  assert_seen(f, 2, 23, "log");
  assert_seen(f, 3, 25, "bell");
  assert_int_equal(events_head(f->ev), 25);
}

/* A number with both (its bell not yet pruned) is delivered once; one
 * whose bell is gone and whose log entry is there too. */
static void test_each_number_is_delivered_once(void **state) {
  fixture_t *f = *state;
  put_bell(f, 31);
  put_logged(f, 31);
  put_logged(f, 32);
  put_bell(f, 33);
  put_logged(f, 33);
  put_bell(f, 34);
  int64_t lost = 0;
  assert_true(events_deliver_gap(f->ev, 31, 34, &lost));
  assert_int_equal(lost, 0);
  assert_int_equal(f->seen.n, 3);
  assert_seen(f, 0, 31, "bell");
  assert_seen(f, 1, 32, "log");
  assert_int_equal(f->seen.seq[2], 33);
  assert_int_equal(events_head(f->ev), 33);
}

/* Numbers with neither, up to the bell seen: all counted lost, nothing
 * delivered (the poller then moves its head past them). */
static void test_numbers_in_neither_are_lost(void **state) {
  fixture_t *f = *state;
  put_bell(f, 45);
  int64_t lost = 0;
  assert_true(events_deliver_gap(f->ev, 41, 45, &lost));
  assert_int_equal(lost, 4);
  assert_int_equal(f->seen.n, 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_bells_that_came_late_are_delivered,
                                      setup, teardown),
      cmocka_unit_test_setup_teardown(test_a_mixed_run_is_delivered_in_order,
                                      setup, teardown),
      cmocka_unit_test_setup_teardown(test_each_number_is_delivered_once, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_numbers_in_neither_are_lost, setup,
                                      teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
