/*
 * event_types.h - the types of event Chorus publishes, defined once.
 *
 * Every committed change that someone watches becomes an event in the
 * durable log (sync/events/events.h) whose type names what changed; the
 * hub also sends browsers three messages of its own ("control" types),
 * which never enter the log.  The table in event_types.c is the one list
 * of those names and of who receives each type: the producers
 * (event_payloads.h), the read model (model_apply), the hub and the web
 * client (public/js/events.js, checked against this table by
 * unit.test_event_types) all take their names from it.
 *
 * Receivers.  A type is for browsers (the hub sends it to the WebSocket
 * clients its audience names), for the read models (every server's
 * model_apply), for the hubs themselves (every server's hub acts on it
 * and sends it to nobody), or for several of these.  What each type
 * carries is in event_payloads.h.
 *
 * Pure functions on a constant table; thread-safe.
 */
#ifndef CHORUS_EVENT_TYPES_H
#define CHORUS_EVENT_TYPES_H

#include <stdbool.h>

typedef enum event_type {
  EVENT_UNKNOWN = 0,   /* a name not in the table */
  EVENT_TWEET_CREATED, /* "tweet.created" */
  EVENT_TWEET_UPDATED, /* "tweet.updated": text, counts */
  EVENT_TWEET_DELETED, /* "tweet.deleted" */
  EVENT_FOLLOW,        /* "follow": a follow or an unfollow */
  EVENT_LIKE,          /* "like": a like or an unlike */
  EVENT_REPOST,        /* "repost": a repost or an unrepost */
  EVENT_NOTIFICATION,  /* "notification": one for its recipient */
  EVENT_USER_UPDATED,  /* "user.updated": a new display name */
  EVENT_SESSION_ENDED, /* "session.ended": a logout, a password change */
  EVENT_RELOAD,        /* "reload" (control): resume impossible, reload */
  EVENT_ERROR,         /* "error" (control): a malformed client message */
  EVENT_TRENDS,        /* "trends" (control): the trends changed */
  EVENT_TYPE_COUNT
} event_type_t;

/* Receivers: bits of event_type_receivers(). */
#define EVENT_TO_BROWSERS 1u    /* the hub's WebSocket clients */
#define EVENT_TO_READ_MODELS 2u /* every server's read model */
#define EVENT_TO_HUBS 4u        /* every server's hub (not its clients) */

/* The WebSocket close code of a client whose session ended (a logout, a
 * password change, "log out my other sessions"): the hub closes every
 * connection of an ended session with it when it applies the
 * "session.ended" event.  In the application range (RFC 6455, 4000-4999);
 * public/js/events.js mirrors it as CLOSE.SESSION_ENDED (checked by
 * unit.test_event_types): the web client then shows itself logged out
 * and does not reconnect. */
#define EVENT_CLOSE_SESSION_ENDED 4401

/* The type's name as published and sent ("tweet.created"); a string
 * with static storage.  NULL for EVENT_UNKNOWN and out-of-range values. */
const char *event_type_name(event_type_t type);

/* The type of a name; EVENT_UNKNOWN when name is NULL or not in the
 * table. */
event_type_t event_type_parse(const char *name);

/* EVENT_TO_* bits; 0 for EVENT_UNKNOWN. */
unsigned event_type_receivers(event_type_t type);

/* True for the hub's own messages, which are never in the event log. */
bool event_type_is_control(event_type_t type);

#endif
