/*
 * event_payloads.h - what each event carries, from the transaction that
 * adds it to the browsers and read models that receive it.
 *
 * An event (sync/events/events.h; its types in event_types.h) has three
 * forms:
 *   1. skeleton and audience: added by the transaction that makes the
 *      change (event_add_*), so the event exists exactly when the change
 *      commits.  The skeleton holds what the transaction knew (ids,
 *      flags); the audience says which WebSocket clients may see it
 *      (hub.h): {"users": [id...]}, {"author": id} (the author and their
 *      followers), {"tweets": [id...]} (clients showing these tweets).
 *   2. data and model: made at publication, after the commit, by
 *      event_enrich from the committed state.  "data" is what browsers
 *      get (the WebSocket message's "data"); "model" is what every
 *      server's read model applies (never sent).
 *   3. the read model parses "model" with the event_model_get_* accessors
 *      (and the hub a follow's data with event_data_get_follow).
 * This module writes and reads every one of these documents, so each
 * format has one definition (the browsers' payloads through the
 * event_data_* builders).  Browsers get the API's values only: ids as its
 * 24-hex-digit strings, times as its RFC 3339 strings, never a BSON
 * ObjectId or Date (which would reach them as {"$oid": ...}).  By type
 * (ids in skeletons, audiences and models are ObjectIds; "hex" marks a
 * 24-character string; "?" a field that may be absent):
 *
 *   tweet.created, tweet.updated
 *     skeleton {tweet, stored?: {the new tweet as stored, but its search
 *              words}, display_name?, avatar?: media id}: a new tweet
 *              that neither replies nor quotes carries what its data and
 *              model are made of (its author's names as the request
 *              knew them), read again for nothing: only the transaction
 *              that creates it knows its id, and its state then is what
 *              it stores (a change after it has its own event, of a
 *              higher version)
 *              audience {author?, tweets: [tweet, also?],
 *              tags?: [folded tags of a new tweet, or of an edit's new
 *              and replaced texts (clients on those tag pages)],
 *              timeline?: true (a new tweet: clients watching the
 *              timeline)}
 *     data     {tweet: {render_tweet's fields}, version}
 *     model    {id, author_id, author, display_name, text, created_at,
 *               edited_at?, reply_to?, quote_of?, reply_count, like_count,
 *               repost_count, quote_count, edit_count, entities (as
 *               stored: tweets.h), media? (as stored: media.h), version}
 *   tweet.deleted
 *     skeleton {tweet}; audience {author, tweets: [tweet]}
 *     data     {id: hex}
 *     model    {id}
 *   follow
 *     skeleton {follower, followee, following: bool};
 *     audience {users: [follower, followee]}
 *     data     {follower: username, followee: username, follower_id: hex,
 *               followee_id: hex, following}
 *     model    {follower, followee, following}
 *   like
 *     skeleton {user, tweet, liked: bool}; audience {users: [user]}
 *     data     {tweet: hex, liked}
 *     model    {user, tweet, liked}
 *   repost
 *     skeleton {id, user, tweet, reposted: bool, created_at};
 *     audience {author: user (the reposter and their followers)}
 *     data     {tweet: {render_tweet's fields, as a feed item of this
 *               repost: reposted_by, reposted_at}, reposted}; a
 *               repost of a deleted tweet is dropped
 *     model    {id, user, tweet, reposted, created_at, state?: the
 *               reposted tweet as tweet.updated's model (a repost)}
 *   trends (control: never in the log; each hub makes it, hub.h)
 *     data     {items: [{tag, count}]} (render_trends)
 *   notification
 *     skeleton the notification document (notifications.h);
 *     audience {users: [recipient]}
 *     data     {notification: {as GET /api/notifications shows one}}
 *     model    {} (the read models ignore it)
 *   user.updated
 *     skeleton {user}; audience {} (nobody)
 *     data     {username, display_name, avatar (render.h)}
 *     model    {id, username, display_name, avatar?: media id, version}
 *   session.ended
 *     skeleton {session: id} (a logout), or {user, except?: id} (every
 *              session of the account but except: a password change,
 *              "log out my other sessions"); ids are session ids (64 hex);
 *              audience {} (nobody: the hubs act on it, hub.h)
 *     data     {}
 *     model    as the skeleton; its publication first deletes those
 *              sessions from the database (sessions.h)
 *
 * Thread-safe.  event_enrich borrows clients of the database pool, one
 * at a time.
 */
#ifndef CHORUS_EVENT_PAYLOADS_H
#define CHORUS_EVENT_PAYLOADS_H

#include <bson/bson.h>
#include <stdbool.h>

#include "server/domain/event_types.h"
#include "server/domain/notifications.h"
#include "server/domain/sessions.h"
#include "server/domain/tags.h"
#include "server/domain/tweets.h"
#include "server/domain/users.h"
#include "sync/base/db.h"
#include "sync/events/events.h"
#include "sync/sync.h"

/* ---- adding events to a transaction's batch ----
 * Each adds one event to b (nothing when the batch is full). */

/* type: EVENT_TWEET_CREATED, _UPDATED or _DELETED.  The audience: the
 * author and their followers when author is not NULL, and clients
 * showing the tweet or also_tweet (NULL: none; e.g. a reply's parent). */
void event_add_tweet(event_batch_t *b, event_type_t type,
                     const bson_oid_t *tweet, const bson_oid_t *author,
                     const bson_oid_t *also_tweet);

/* tweet.created of t (id, author, reply_to and entities set): its
 * audience also names its tags (tweets_tags).  stored: the document its
 * transaction inserts, whole (NULL: not known); with it, a tweet that
 * neither replies nor quotes carries its state in its skeleton (the
 * table above), borrowed and copied. */
void event_add_tweet_created(event_batch_t *b, const tweet_t *t,
                             const bson_t *stored);

/* tweet.updated of an edit: t the tweet with its new text (id, author
 * and entities set), was with the text replaced (entities set); the
 * audience is the author's followers, clients showing the tweet, and
 * clients on the pages of the tags of either text (the tweet joins or
 * leaves them). */
void event_add_tweet_edited(event_batch_t *b, const tweet_t *t,
                            const tweet_t *was);

void event_add_follow(event_batch_t *b, const bson_oid_t *follower,
                      const bson_oid_t *followee, bool following);

void event_add_like(event_batch_t *b, const bson_oid_t *user,
                    const bson_oid_t *tweet, bool liked);

/* A repost (reposted true) or an unrepost of tweet by user; id is the
 * repost's (reposts_id), at the time created_at_ms. */
void event_add_repost(event_batch_t *b, const bson_oid_t *id,
                      const bson_oid_t *user, const bson_oid_t *tweet,
                      bool reposted, int64_t created_at_ms);

/* notification: the document inserted (copied into the skeleton). */
void event_add_notification(event_batch_t *b, const bson_oid_t *recipient,
                            const bson_t *notification);

void event_add_user_updated(event_batch_t *b, const bson_oid_t *user);

void event_add_session_ended(event_batch_t *b, const char *session_id);

/* Every session of user but except_session (NULL: every one). */
void event_add_sessions_ended_for_user(event_batch_t *b, const bson_oid_t *user,
                                       const char *except_session);

/* ---- publication ----
 * events_enrich_fn's work (events.h) with its context spelled out: reads
 * the committed state the event's skeleton points to and appends the
 * browsers' payload to data and the read models' to model.  EVENTS_DROP
 * for an unknown type, a malformed skeleton, or a thing that is gone (a
 * deleted tweet's updates: its deletion has its own event);
 * EVENTS_RETRY when the database could not answer. */
events_enrich_t event_enrich(db_t *db, sync_t *sync, const char *type,
                             const bson_t *skeleton, bson_t *data,
                             bson_t *model);

/* ---- the browsers' payloads ----
 * The builders append an event's data (the WebSocket message's "data",
 * as the table above says); event_enrich uses them. */

/* tweet.created, tweet.updated: {tweet: {as the API shows it}, version}. */
void event_data_tweet(bson_t *out, const tweet_t *t);

/* tweet.deleted: {id: hex}. */
void event_data_tweet_deleted(bson_t *out, const bson_oid_t *id);

/* follow: the names and ids of follower and followee. */
void event_data_follow(bson_t *out, const user_name_t *follower,
                       const user_name_t *followee, bool following);

/* like: {tweet: hex, liked}. */
void event_data_like(bson_t *out, const bson_oid_t *tweet, bool liked);

/* notification: {notification: {as GET /api/notifications shows one}}. */
void event_data_notification(bson_t *out, const notification_t *n);

/* trends: {items: [{tag, count}]}. */
void event_data_trends(bson_t *out, const trend_t *trends, size_t n);

/* user.updated: {username, display_name, avatar}. */
void event_data_user(bson_t *out, const user_name_t *user);

/* A follow event's data: false when an id is missing or not 24 hex
 * digits (an ObjectId is read too: the data of events published by an
 * older version); *following false when absent. */
bool event_data_get_follow(const bson_t *data, bson_oid_t *follower,
                           bson_oid_t *followee, bool *following);

/* ---- the read models' payloads ----
 * The builders append to out; event_enrich uses them, and tests build
 * events with them.  The accessors return false when p is not such a
 * payload (a field missing or of the wrong type); their outputs are then
 * unspecified. */
void event_model_tweet(bson_t *out, const tweet_t *t);
/* Fills t's own fields and t->author's id, username and display_name
 * (empty when absent); liked_by_me false.  t is overwritten whole (it
 * must hold nothing) and is then the caller's to tweet_release, whatever
 * the answer. */
bool event_model_get_tweet(const bson_t *p, tweet_t *t);

void event_model_tweet_deleted(bson_t *out, const bson_oid_t *id);
bool event_model_get_tweet_deleted(const bson_t *p, bson_oid_t *id);

void event_model_follow(bson_t *out, const bson_oid_t *follower,
                        const bson_oid_t *followee, bool following);
bool event_model_get_follow(const bson_t *p, bson_oid_t *follower,
                            bson_oid_t *followee, bool *following);

void event_model_like(bson_t *out, const bson_oid_t *user,
                      const bson_oid_t *tweet, bool liked);
bool event_model_get_like(const bson_t *p, bson_oid_t *user, bson_oid_t *tweet,
                          bool *liked);

/* A repost's model payload. */
typedef struct event_repost {
  bson_oid_t id, user, tweet;
  bool reposted;
  int64_t created_at_ms;
} event_repost_t;
/* state: the reposted tweet (a repost's payload), or NULL. */
void event_model_repost(bson_t *out, const event_repost_t *r,
                        const tweet_t *state);
bool event_model_get_repost(const bson_t *p, event_repost_t *r);
/* The reposted tweet's state a repost's payload carries; false when it
 * has none (an unrepost) or it is malformed.  t as event_model_get_tweet
 * leaves it. */
bool event_model_get_repost_state(const bson_t *p, tweet_t *t);

/* user->version orders renames (model.h). */
void event_model_user(bson_t *out, const user_name_t *user);
/* version 0 when absent. */
bool event_model_get_user(const bson_t *p, user_name_t *user);

void event_model_session_ended(bson_t *out, const char *session_id);
/* except_session NULL: every session of user. */
void event_model_sessions_ended_for_user(bson_t *out, const bson_oid_t *user,
                                         const char *except_session);
/* Either form; ids cut to SESSION_ID_LEN characters. */
bool event_model_get_session_ended(const bson_t *p, sessions_ended_t *ended);

#endif
