/*
 * event_types.c - see event_types.h.
 *
 * Invariant: row i of the table describes event type i (checked by
 * assert() on every lookup), so a type's row is found by index and a
 * name by a walk of the rows.
 */
#include "server/domain/event_types.h"

#include <assert.h>
#include <stddef.h>
#include <string.h>

typedef struct event_type_row {
  event_type_t type;
  const char *name;
  unsigned receivers;
  bool control;
} event_type_row_t;

#define BOTH (EVENT_TO_BROWSERS | EVENT_TO_READ_MODELS)

static const event_type_row_t rows[EVENT_TYPE_COUNT] = {
    {EVENT_UNKNOWN, NULL, 0, false},
    {EVENT_TWEET_CREATED, "tweet.created", BOTH, false},
    {EVENT_TWEET_UPDATED, "tweet.updated", BOTH, false},
    {EVENT_TWEET_DELETED, "tweet.deleted", BOTH, false},
    {EVENT_FOLLOW, "follow", BOTH, false},
    /* To the liker's own clients (other tabs), and the read models. */
    {EVENT_LIKE, "like", BOTH, false},
    /* To the reposter and their followers (the feed's new item), and the
     * read models. */
    {EVENT_REPOST, "repost", BOTH, false},
    {EVENT_NOTIFICATION, "notification", EVENT_TO_BROWSERS, false},
    /* Tweets show their author's current name: the read models learn it
     * from this. */
    {EVENT_USER_UPDATED, "user.updated", EVENT_TO_READ_MODELS, false},
    /* Every server's session cache forgets the sessions, and its hub
     * closes their WebSockets. */
    {EVENT_SESSION_ENDED, "session.ended", EVENT_TO_READ_MODELS | EVENT_TO_HUBS,
     false},
    {EVENT_RELOAD, "reload", EVENT_TO_BROWSERS, true},
    {EVENT_ERROR, "error", EVENT_TO_BROWSERS, true},
    /* Made by each hub from its read model (hub.h), to every client. */
    {EVENT_TRENDS, "trends", EVENT_TO_BROWSERS, true},
};

static const event_type_row_t *row_of(event_type_t type) {
  if ((unsigned)type >= EVENT_TYPE_COUNT) {
    return &rows[EVENT_UNKNOWN];
  }
  assert(rows[type].type == type);
  return &rows[type];
}

const char *event_type_name(event_type_t type) { return row_of(type)->name; }

event_type_t event_type_parse(const char *name) {
  for (size_t i = 1; name && i < EVENT_TYPE_COUNT; i++) {
    assert(rows[i].type == (event_type_t)i);
    if (!strcmp(rows[i].name, name)) {
      return rows[i].type;
    }
  }
  return EVENT_UNKNOWN;
}

unsigned event_type_receivers(event_type_t type) {
  return row_of(type)->receivers;
}

bool event_type_is_control(event_type_t type) { return row_of(type)->control; }
