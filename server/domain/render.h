/*
 * render.h - the JSON shapes of the API.
 *
 * Documents are built as BSON and printed with libbson's relaxed extended
 * JSON, which for the types used here (strings, int64, bool, null, arrays,
 * documents) is plain JSON with correct string escaping.  Times are
 * rendered as RFC 3339 UTC strings with milliseconds, never as BSON dates.
 *
 * Pure functions; thread-safe.
 */
#ifndef CHORUS_RENDER_H
#define CHORUS_RENDER_H

#include <bson/bson.h>

#include "server/domain/media.h"
#include "server/domain/notifications.h"
#include "server/domain/tags.h"
#include "server/domain/tweets.h"
#include "server/domain/users.h"

#define RENDER_TIME_LEN 24 /* "2026-11-21T05:27:00.123Z" */

/* Formats ms since the epoch as RFC 3339 UTC. */
void render_time(int64_t ms, char out[RENDER_TIME_LEN + 1]);

/* An image of a profile (an avatar, a header) is {id, url, thumb_url}
 * or null; a tweet's image is {id, type, width, height, alt, color, url,
 * thumb_url} (media.h: url "/media/<id>/original", thumb_url
 * "/media/<id>/thumb").  A user as a tweet or a notification names them
 * ("a name" below) is {username, display_name, avatar}. */

/* Appends {username, display_name, bio, created_at, avatar, header} of
 * u to doc. */
void render_user(bson_t *doc, const user_t *u);

/* Appends {username, display_name, bio, created_at, avatar, header,
 * followers_count, following_count, tweet_count, followed_by_me}. */
void render_profile(bson_t *doc, const user_t *u, bool followed_by_me);

/* Appends {items: [{username, display_name, bio, avatar}...], next}. */
void render_user_page(bson_t *doc, const user_page_t *page);

/* Appends doc[key]: a profile image, or null when has is false. */
void render_profile_image(bson_t *doc, const char *key, bool has,
                          const bson_oid_t *id);

/* Appends the fields of a media (an upload's answer): {id, type, width,
 * height, alt, color, url, thumb_url, thumb_width, thumb_height,
 * bytes}. */
void render_media(bson_t *doc, const media_info_t *m);

/* Appends the fields of a tweet to doc: {id, author: a name, text,
 * created_at, edited_at, reply_to, reply_count, like_count, liked_by_me},
 * then render_tweet_conversation's. */
void render_tweet(bson_t *doc, const tweet_t *t);

/* Appends {repost_count, reposted_by_me, quote_count, entities: [{type,
 * start, end, username | tag | url}], quote_of (id or null), quote
 * ({id, available, author?: a name, text?, created_at?} or null),
 * reposted_by (a name or null), reposted_at (or null), reply_to_user (the
 * name of the author replied to, or null: not a reply, or its parent
 * deleted), media: [its images]}. */
void render_tweet_conversation(bson_t *doc, const tweet_t *t);

/* Appends {items: [{text, created_at (when that text was written),
 * current}]}: a tweet's texts, newest first. */
void render_history(bson_t *doc, const tweet_history_t *h);

/* Appends the fields of a notification to doc: {id, type, actor: a name,
 * tweet (an id or null), created_at, read}. */
void render_notification(bson_t *doc, const notification_t *n);

/* Appends {items: [notification...], next, unread}. */
void render_notification_page(bson_t *doc, const notification_page_t *page);

/* Appends {items: [tweet...], next: cursor or null} to doc.  The API
 * sends render_tweet_page_json's output; this is the definition it is
 * checked against (test_render). */
void render_tweet_page(bson_t *doc, const tweet_page_t *page);

/* Appends {items: [{tag, count}]}: the trends (tags.h), best first;
 * count is the number of distinct authors. */
void render_trends(bson_t *doc, const trend_t *trends, size_t n);

/* Appends {error: {code, message}} to doc. */
void render_error(bson_t *doc, const chorus_error_t *err);

/* Prints doc as JSON; the caller frees the result with bson_free. */
char *render_json(const bson_t *doc, size_t *len);

/* The JSON of render_tweet_page, byte for byte what render_json would
 * print for it, written directly: the hot path of the home feed and the
 * timeline.  libbson's JSON printer took 345 us of the ~750 us of CPU a
 * 50-item page cost (bench/, docs/PERFORMANCE.md); this takes a few us.
 * Strings are escaped by libbson (bson_utf8_escape_for_json), as its
 * printer does.  The caller frees the result with bson_free. */
char *render_tweet_page_json(const tweet_page_t *page, size_t *len);

#endif
