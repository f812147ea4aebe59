/*
 * fuzz_ws_message.c - what a WebSocket client sends the hub
 * (hub_message.h): a message, read by hub_message_parse and applied to
 * a watched set by hub_watch_apply, then the same bytes as the
 * upgrade's query string (hub_since_parse).
 *
 * Checks: a parsed message holds only ids it named; after subscribing,
 * every id of the message is watched (up to HUB_MAX_SUBSCRIPTIONS),
 * after unsubscribing none is; the set never holds duplicates nor more
 * than HUB_MAX_SUBSCRIPTIONS; a resume point is never negative.
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

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  hub_message_t msg;
  hub_watch_t w = {NULL, 0, 0};
  if (hub_message_parse((const char *)data, size, &msg)) {
    /* Applied twice, subscribing first, so that unsubscribing has
     * something to remove. */
    hub_message_t sub = msg;
    sub.subscribe = true;
    hub_watch_apply(&w, &sub);
    check_watch(&w);
    for (size_t i = 0; i < msg.n; i++) {
      FUZZ_CHECK(hub_watch_has(&w, &msg.ids[i]) ||
                 w.n == HUB_MAX_SUBSCRIPTIONS);
    }
    hub_watch_apply(&w, &msg);
    check_watch(&w);
    for (size_t i = 0; i < msg.n; i++) {
      FUZZ_CHECK(msg.subscribe || !hub_watch_has(&w, &msg.ids[i]));
    }
    hub_message_free(&msg);
  } else {
    FUZZ_CHECK(msg.ids == NULL && msg.n == 0);
  }
  hub_watch_free(&w);
  char *query = fuzz_cstring(data, size);
  FUZZ_CHECK(hub_since_parse(query) >= 0);
  free(query);
  return 0;
}
