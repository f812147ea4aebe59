/*
 * hub_message.h - what a WebSocket client sends the hub, read: the
 * upgrade's resume point (?since=N), the tags it names (?tags=a,b),
 * whether it wants the trends (?trends=1) and every new tweet
 * (?timeline=1), and its messages
 * {"type":"subscribe"|"unsubscribe","tweets":[id...],"tags":[tag...],
 * "timeline":true} (any of the three), applied to the set of tweets and
 * the set of tags it watches and to whether it watches the timeline (every
 * new tweet: the global timeline and profile pages on screen; hub.h).  A tag is
 * what tags_parse takes (no '#'), kept folded; what is not a tag is skipped.
 *
 * Pure functions on memory the caller owns: no locks, no I/O; the hub
 * calls hub_watch_apply and hub_tags_apply under its mutex.  A
 * hub_watch_t holds at most HUB_MAX_SUBSCRIPTIONS distinct ids, a
 * hub_tags_t at most HUB_MAX_TAGS distinct tags, in no particular order.
 */
#ifndef CHORUS_HUB_MESSAGE_H
#define CHORUS_HUB_MESSAGE_H

#include <bson/bson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "server/domain/tags.h"

#define HUB_MAX_SUBSCRIPTIONS 500
#define HUB_MAX_TAGS 10

/* The tweets one client watches (zero-initialised: empty). */
typedef struct hub_watch {
  bson_oid_t *ids; /* owned; grown on demand */
  size_t n, cap;
} hub_watch_t;

/* The tags one client watches (zero-initialised: empty). */
typedef struct hub_tags {
  char tags[HUB_MAX_TAGS][TAG_SIZE]; /* folded */
  size_t n;
} hub_tags_t;

/* A client message, read. */
typedef struct hub_message {
  bool subscribe;  /* else unsubscribe */
  bson_oid_t *ids; /* owned (hub_message_free): the well-formed ids, in
                      order; elements that are not 24 hex digits are
                      skipped */
  size_t n;
  char (*tags)[TAG_SIZE]; /* owned likewise: the elements of "tags" that
                             are tags, folded, in order */
  size_t n_tags;
  bool timeline; /* "timeline": true: (un)subscribe the timeline */
} hub_message_t;

/* Reads data[0..len) (any bytes) as a client message into msg (then the
 * caller's: hub_message_free).  False, with nothing to free, when it is
 * not a JSON object whose "type" is "subscribe" or "unsubscribe" and
 * whose "tweets" or "tags" is an array or whose "timeline" is a boolean
 * ("timeline": false changes nothing). */
bool hub_message_parse(const char *data, size_t len, hub_message_t *msg);

void hub_message_free(hub_message_t *msg);

/* Subscribes to (up to HUB_MAX_SUBSCRIPTIONS in all) or unsubscribes
 * from the message's ids. */
void hub_watch_apply(hub_watch_t *w, const hub_message_t *msg);

/* True when w watches id. */
bool hub_watch_has(const hub_watch_t *w, const bson_oid_t *id);

void hub_watch_free(hub_watch_t *w);

/* Subscribes to (up to HUB_MAX_TAGS in all) or unsubscribes from the
 * message's tags. */
void hub_tags_apply(hub_tags_t *t, const hub_message_t *msg);

/* True when t watches the folded tag. */
bool hub_tags_has(const hub_tags_t *t, const char *tag);

/* The resume point of an upgrade's query string (NULL: none): the whole
 * number its "since" parameter starts with (strtoll), 0 when absent or
 * negative. */
int64_t hub_since_parse(const char *query);

/* The tags an upgrade's query string (NULL: none) names in its "tags"
 * parameter, comma-separated, into t (emptied first; those that are not
 * tags are skipped, at most HUB_MAX_TAGS kept). */
void hub_tags_parse(const char *query, hub_tags_t *t);

/* Whether an upgrade's query string (NULL: none) asks for the trends:
 * its "trends" parameter is "1". */
bool hub_trends_parse(const char *query);

/* Whether an upgrade's query string (NULL: none) asks for every new
 * tweet: its "timeline" parameter is "1". */
bool hub_timeline_parse(const char *query);

/* Whether a client watching the timeline (watching) still does after
 * msg: subscribe with "timeline": true starts, unsubscribe with it stops,
 * anything else keeps. */
bool hub_timeline_apply(bool watching, const hub_message_t *msg);

#endif
