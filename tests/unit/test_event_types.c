/*
 * test_event_types.c - unit tests for event_types.h: the one table of
 * event type names.
 *
 * The web client: public/js/events.js (its path is compiled in as
 * CHORUS_EVENTS_JS) names exactly the types a browser can receive, the
 * logged ones for browsers and the hub's control messages, each under
 * the key that is its name in capitals with '.' as '_'; and the close
 * code of an ended session (EVENT_CLOSE_SESSION_ENDED) as
 * CLOSE.SESSION_ENDED.
 *
 * The table: every type has a name, unique, that parses back to it and
 * fits event_t's type field; at least one receiver; control types go to
 * browsers only; session.ended goes to the read models and the hubs (which
 * close its WebSockets), not to browsers.  Unknown names (NULL, empty, near
 * misses, other case) parse as EVENT_UNKNOWN, which has no name and no
 * receiver, and so do out-of-range values.
 *
 * Pure functions and one file read: no database.
 */
#include <ctype.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "server/domain/event_types.h"
#include "sync/events/events.h"

#ifndef CHORUS_EVENTS_JS
#error "CHORUS_EVENTS_JS: the path of public/js/events.js"
#endif

#define JS_NAMES_MAX 32

typedef struct js_names {
  char key[JS_NAMES_MAX][64];
  char name[JS_NAMES_MAX][64];
  size_t n;
} js_names_t;

/* The entries `KEY: 'name',` of events.js, in order. */
static void read_js(js_names_t *out) {
  memset(out, 0, sizeof *out);
  FILE *f = fopen(CHORUS_EVENTS_JS, "r");
  if (!f) {
    fail_msg("cannot open %s", CHORUS_EVENTS_JS);
  }
  char line[256];
  while (fgets(line, sizeof line, f)) {
    char key[64], name[64];
    if (sscanf(line, " %63[A-Z_] : '%63[^']'", key, name) == 2) {
      assert_true(out->n < JS_NAMES_MAX);
      strcpy(out->key[out->n], key);
      strcpy(out->name[out->n], name);
      out->n++;
    }
  }
  fclose(f);
}

/* The number after `SESSION_ENDED:` in events.js's CLOSE; -1 if none. */
static long read_js_close_code(void) {
  FILE *f = fopen(CHORUS_EVENTS_JS, "r");
  if (!f) {
    fail_msg("cannot open %s", CHORUS_EVENTS_JS);
  }
  char line[256];
  long code = -1;
  bool in_close = false;
  while (fgets(line, sizeof line, f)) {
    in_close = in_close || strstr(line, "export const CLOSE") != NULL;
    long n;
    if (in_close && sscanf(line, " SESSION_ENDED : %ld", &n) == 1) {
      code = n;
    }
  }
  fclose(f);
  return code;
}

static bool browser_visible(event_type_t t) {
  return (event_type_receivers(t) & EVENT_TO_BROWSERS) != 0;
}

/* ------------------------------------------------------------------ */
/* the web client's list                                               */
/* ------------------------------------------------------------------ */

static void js_names_exactly_the_browser_types(void **state) {
  (void)state;
  js_names_t js;
  read_js(&js);
  assert_true(js.n > 0);
  /* Every JS name is a type a browser receives, named once. */
  for (size_t i = 0; i < js.n; i++) {
    event_type_t t = event_type_parse(js.name[i]);
    if (t == EVENT_UNKNOWN || !browser_visible(t)) {
      fail_msg("events.js names '%s', which no browser receives", js.name[i]);
    }
    for (size_t k = 0; k < i; k++) {
      if (!strcmp(js.name[k], js.name[i])) {
        fail_msg("events.js names '%s' twice", js.name[i]);
      }
    }
  }
  /* Every type a browser receives is in the JS list. */
  size_t visible = 0;
  for (int t = 1; t < EVENT_TYPE_COUNT; t++) {
    if (!browser_visible((event_type_t)t)) {
      continue;
    }
    visible++;
    bool found = false;
    for (size_t i = 0; i < js.n; i++) {
      found = found || !strcmp(js.name[i], event_type_name((event_type_t)t));
    }
    if (!found) {
      fail_msg("events.js lacks '%s'", event_type_name((event_type_t)t));
    }
  }
  assert_int_equal(js.n, visible);
}

static void js_keys_are_the_names_in_capitals(void **state) {
  (void)state;
  js_names_t js;
  read_js(&js);
  for (size_t i = 0; i < js.n; i++) {
    char want[64];
    size_t k = 0;
    for (; js.name[i][k] && k + 1 < sizeof want; k++) {
      char c = js.name[i][k];
      want[k] = c == '.' ? '_' : (char)toupper((unsigned char)c);
    }
    want[k] = '\0';
    assert_string_equal(js.key[i], want);
  }
}

static void js_close_code_of_an_ended_session(void **state) {
  (void)state;
  assert_int_equal(read_js_close_code(), EVENT_CLOSE_SESSION_ENDED);
  /* The application's range (RFC 6455, 7.4.2). */
  assert_true(EVENT_CLOSE_SESSION_ENDED >= 4000 &&
              EVENT_CLOSE_SESSION_ENDED <= 4999);
}

/* ------------------------------------------------------------------ */
/* the table                                                           */
/* ------------------------------------------------------------------ */

static void every_type_has_a_unique_name_that_parses_back(void **state) {
  (void)state;
  event_t e;
  for (int t = 1; t < EVENT_TYPE_COUNT; t++) {
    const char *name = event_type_name((event_type_t)t);
    assert_non_null(name);
    assert_true(name[0] != '\0');
    assert_true(strlen(name) < sizeof e.type); /* read back from the log */
    assert_int_equal(event_type_parse(name), t);
    for (int k = 1; k < t; k++) {
      assert_string_not_equal(event_type_name((event_type_t)k), name);
    }
  }
}

static void the_wire_names(void **state) {
  (void)state;
  /* Stored in the event log and sent to browsers: never renamed. */
  static const struct {
    event_type_t type;
    const char *name;
  } wire[] = {
      {EVENT_TWEET_CREATED, "tweet.created"},
      {EVENT_TWEET_UPDATED, "tweet.updated"},
      {EVENT_TWEET_DELETED, "tweet.deleted"},
      {EVENT_FOLLOW, "follow"},
      {EVENT_LIKE, "like"},
      {EVENT_REPOST, "repost"},
      {EVENT_NOTIFICATION, "notification"},
      {EVENT_USER_UPDATED, "user.updated"},
      {EVENT_SESSION_ENDED, "session.ended"},
      {EVENT_RELOAD, "reload"},
      {EVENT_ERROR, "error"},
      {EVENT_TRENDS, "trends"},
  };
  for (size_t i = 0; i < sizeof wire / sizeof wire[0]; i++) {
    assert_string_equal(event_type_name(wire[i].type), wire[i].name);
  }
}

static void receivers(void **state) {
  (void)state;
  for (int t = 1; t < EVENT_TYPE_COUNT; t++) {
    unsigned r = event_type_receivers((event_type_t)t);
    assert_true(r != 0);
    assert_int_equal(
        r & ~(EVENT_TO_BROWSERS | EVENT_TO_READ_MODELS | EVENT_TO_HUBS), 0);
    if (event_type_is_control((event_type_t)t)) {
      assert_int_equal(r, EVENT_TO_BROWSERS);
    }
  }
  assert_int_equal(event_type_receivers(EVENT_USER_UPDATED),
                   EVENT_TO_READ_MODELS);
  assert_int_equal(event_type_receivers(EVENT_SESSION_ENDED),
                   EVENT_TO_READ_MODELS | EVENT_TO_HUBS);
  assert_int_equal(event_type_receivers(EVENT_NOTIFICATION), EVENT_TO_BROWSERS);
  assert_int_equal(event_type_receivers(EVENT_FOLLOW),
                   EVENT_TO_BROWSERS | EVENT_TO_READ_MODELS);
  assert_true(event_type_is_control(EVENT_RELOAD));
  assert_true(event_type_is_control(EVENT_ERROR));
  assert_true(event_type_is_control(EVENT_TRENDS));
  assert_false(event_type_is_control(EVENT_TWEET_CREATED));
}

static void unknown_names_and_values(void **state) {
  (void)state;
  const char *unknown[] = {
      "",        "tweet", "tweet.",         "tweet.exploded", "Follow",
      "follow ", " like", "tweet.created.", "subscribe",      "unsubscribe"};
  for (size_t i = 0; i < sizeof unknown / sizeof unknown[0]; i++) {
    assert_int_equal(event_type_parse(unknown[i]), EVENT_UNKNOWN);
  }
  assert_int_equal(event_type_parse(NULL), EVENT_UNKNOWN);
  assert_null(event_type_name(EVENT_UNKNOWN));
  assert_null(event_type_name(EVENT_TYPE_COUNT));
  assert_null(event_type_name((event_type_t)1000));
  assert_int_equal(event_type_receivers(EVENT_UNKNOWN), 0);
  assert_int_equal(event_type_receivers((event_type_t)1000), 0);
  assert_false(event_type_is_control(EVENT_UNKNOWN));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(js_names_exactly_the_browser_types),
      cmocka_unit_test(js_keys_are_the_names_in_capitals),
      cmocka_unit_test(js_close_code_of_an_ended_session),
      cmocka_unit_test(every_type_has_a_unique_name_that_parses_back),
      cmocka_unit_test(the_wire_names),
      cmocka_unit_test(receivers),
      cmocka_unit_test(unknown_names_and_values),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
