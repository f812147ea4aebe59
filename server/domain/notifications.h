/*
 * notifications.h - "someone followed you, liked or replied to your
 * tweet".
 *
 * Collection "notifications": {_id: ObjectId, user_id (recipient), type:
 * "follow"|"like"|"reply"|"mention"|"repost"|"quote", actor_id, tweet_id or
 * null, created_at, version}.  A notification is inserted by the same
 * transaction as the action it reports, so it exists exactly when the action
 * does.  Its _id is derived from (recipient, type, actor, tweet)
 * (notifications_id), and it is inserted only when absent: following,
 * unfollowing and following again, or liking, unliking and liking again,
 * notifies once.  Reading state is one time per user
 * (users.notifications_read_at): a notification is read when it is not newer
 * than that, so "mark all read" changes one document.  Thread-safe.
 */
#ifndef CHORUS_NOTIFICATIONS_H
#define CHORUS_NOTIFICATIONS_H

#include <stdbool.h>

#include "server/domain/cursor.h"
#include "server/domain/users.h"
#include "sync/base/db.h"
#include "sync/events/events.h"
#include "sync/sync.h"

#define DB_NOTIFICATIONS "notifications"

typedef enum {
  NOTIFY_FOLLOW,
  NOTIFY_LIKE,
  NOTIFY_REPLY,
  NOTIFY_MENTION, /* a tweet (or an edit of one) names the recipient */
  NOTIFY_REPOST,
  NOTIFY_QUOTE,
  NOTIFY_TYPE_COUNT
} notify_type_t;

typedef struct notification {
  bson_oid_t id;
  notify_type_t type;
  user_name_t actor;
  bool has_tweet;
  bson_oid_t tweet;
  int64_t created_at_ms;
  bool read;
} notification_t;

typedef struct notification_page {
  notification_t *items; /* owned */
  size_t n;
  bool has_next;
  page_cursor_t next;
  int64_t unread;
} notification_page_t;

/* The _id of the notification of (recipient, type, actor, tweet): the
 * first 12 bytes of their BLAKE2b, so that a repeated action names the
 * same notification.  tweet may be NULL (a follow). */
void notifications_id(const bson_oid_t *recipient, notify_type_t type,
                      const bson_oid_t *actor, const bson_oid_t *tweet,
                      bson_oid_t *id);

/* Adds the insert of a notification to txn, and its "notification" event
 * (for the recipient only) to events; nothing when the recipient is the
 * actor (nobody is told of their own actions), and nothing when this
 * notification exists already (read in the committed view): a repeated
 * follow or like leaves the one it made as it is, read or unread, in its
 * place, and sends no event.  A reply or a quote is a new tweet, so its
 * notification is new: not looked up (a mention is looked up: an edit may
 * name again someone its tweet named before).  tweet may be NULL.  False with
 * err when the database could not be read; should the notification appear
 * between that read and the commit, the commit says EXISTS and the caller
 * builds again. */
bool notifications_add(db_t *db, sync_t *sync, txn_t *txn,
                       event_batch_t *events, const bson_oid_t *recipient,
                       notify_type_t type, const bson_oid_t *actor,
                       const bson_oid_t *tweet, chorus_error_t *err);

/* A notification document as stored (the skeleton of its event, too):
 * every field but the actor's names and `read`, which are left empty. */
void notifications_parse(const bson_t *doc, notification_t *n);

/* me's notifications, newest first, and how many are unread. */
bool notifications_list(db_t *db, sync_t *sync, const user_t *me,
                        const page_cursor_t *before, size_t limit,
                        notification_page_t *page, chorus_error_t *err);

/* Marks every notification up to this moment read (sets
 * users.notifications_read_at). */
bool notifications_mark_read(db_t *db, sync_t *sync, const user_t *me,
                             chorus_error_t *err);

void notification_page_destroy(notification_page_t *page);

const char *notify_type_name(notify_type_t type);

/* Creates the index of DB_NOTIFICATIONS: a user's, most recent first. */
bool notifications_ensure_indexes(db_t *db, chorus_error_t *err);

#endif
