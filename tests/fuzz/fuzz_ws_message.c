/*
 * fuzz_ws_message.c - what a WebSocket client sends the hub
 * (hub_message.h): a message, read by hub_message_parse and applied to
 * the watched sets by hub_watch_apply and hub_tags_apply and to the
 * timeline watch by hub_timeline_apply, then the same bytes as the
 * upgrade's query string (hub_since_parse, hub_tags_parse,
 * hub_trends_parse, hub_timeline_parse).
 *
 * Checks: a parsed message holds only ids it named and tags that are
 * tags, folded; after subscribing, every id and tag of the message is
 * watched (up to HUB_MAX_SUBSCRIPTIONS and HUB_MAX_TAGS), after
 * unsubscribing none is; the sets never hold duplicates nor more than
 * their bounds; a message naming the timeline starts its watch when it
 * subscribes and ends it when it unsubscribes, and one that does not name
 * it leaves the watch as it was; a resume point is never negative; the
 * query's tags are distinct folded tags, at most HUB_MAX_TAGS (its flags,
 * trends and timeline, are read for ASan and UBSan only).
 */
#include "tests/fuzz/fuzz.h"

#include "server/realtime/hub_message.h"

static void check_watch(const hub_watch_t *w) {
  FUZZ_CHECK(w->n <= HUB_MAX_SUBSCRIPTIONS && w->n <= w->cap);
  for (size_t i = 0; i < w->n; i++) {
    for (size_t j = i + 1; j < w->n; j++) {
      FUZZ_CHECK(!bson_oid_equal(&w->ids[i], &w->ids[j]));
    }
  }
}

/* Distinct tags, each one tags_parse folds to itself. */
static void check_tags(const hub_tags_t *t) {
  FUZZ_CHECK(t->n <= HUB_MAX_TAGS);
  for (size_t i = 0; i < t->n; i++) {
    char folded[TAG_SIZE];
    chorus_error_t err;
    FUZZ_CHECK(tags_parse(t->tags[i], strlen(t->tags[i]), folded, &err) &&
               !strcmp(folded, t->tags[i]));
    for (size_t j = i + 1; j < t->n; j++) {
      FUZZ_CHECK(strcmp(t->tags[i], t->tags[j]) != 0);
    }
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  hub_message_t msg;
  hub_watch_t w = {NULL, 0, 0};
  hub_tags_t tags;
  memset(&tags, 0, sizeof tags);
  if (hub_message_parse((const char *)data, size, &msg)) {
    /* Applied twice, subscribing first, so that unsubscribing has
     * something to remove. */
    hub_message_t sub = msg;
    sub.subscribe = true;
    hub_watch_apply(&w, &sub);
    hub_tags_apply(&tags, &sub);
    check_watch(&w);
    check_tags(&tags);
    for (size_t i = 0; i < msg.n; i++) {
      FUZZ_CHECK(hub_watch_has(&w, &msg.ids[i]) ||
                 w.n == HUB_MAX_SUBSCRIPTIONS);
    }
    for (size_t i = 0; i < msg.n_tags; i++) {
      FUZZ_CHECK(hub_tags_has(&tags, msg.tags[i]) || tags.n == HUB_MAX_TAGS);
    }
    hub_watch_apply(&w, &msg);
    hub_tags_apply(&tags, &msg);
    check_watch(&w);
    check_tags(&tags);
    for (size_t i = 0; i < msg.n; i++) {
      FUZZ_CHECK(msg.subscribe || !hub_watch_has(&w, &msg.ids[i]));
    }
    for (size_t i = 0; i < msg.n_tags; i++) {
      FUZZ_CHECK(msg.subscribe || !hub_tags_has(&tags, msg.tags[i]));
    }
    /* The timeline watch, from either state. */
    for (int watching = 0; watching <= 1; watching++) {
      bool after = hub_timeline_apply(watching, &msg);
      FUZZ_CHECK(after == (msg.timeline ? msg.subscribe : (bool)watching));
    }
    hub_message_free(&msg);
  } else {
    FUZZ_CHECK(msg.ids == NULL && msg.n == 0 && msg.tags == NULL &&
               msg.n_tags == 0);
  }
  hub_watch_free(&w);
  char *query = fuzz_cstring(data, size);
  FUZZ_CHECK(hub_since_parse(query) >= 0);
  hub_tags_parse(query, &tags);
  check_tags(&tags);
  (void)hub_trends_parse(query);
  (void)hub_timeline_parse(query);
  free(query);
  return 0;
}
