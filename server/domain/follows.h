/*
 * follows.h - who follows whom.
 *
 * Collection "follows": {_id: "<follower hex>:<followee hex>",
 * follower_id, followee_id, created_at, version}.  A follow, both users'
 * counters (following_count, followers_count) and the followee's
 * notification commit in one transaction; an unfollow and the counters in
 * another.  Both are idempotent.  Thread-safe.
 */
#ifndef CHORUS_FOLLOWS_H
#define CHORUS_FOLLOWS_H

#include <stdbool.h>

#include "server/domain/cursor.h"
#include "server/domain/ratelimit.h"
#include "server/domain/users.h"
#include "sync/base/db.h"
#include "sync/query.h"
#include "sync/sync.h"

#define DB_FOLLOWS "follows"
#define FOLLOWS_FEED_MAX 5000 /* followees a home feed reads at most */

/* me follows (follow true) or unfollows the user named username; target
 * is that user afterwards.  400 following oneself, 404 no such user, 429
 * "rate_limited" over the gate's follow limits (ratelimit.h; NULL: none),
 * which count follows and unfollows alike, changes or not. */
bool follows_set(db_t *db, sync_t *sync, const user_t *me, const char *username,
                 size_t len, bool follow, ratelimit_gate_t *gate,
                 user_t *target, chorus_error_t *err);

/* Whether a follows b. */
bool follows_check(db_t *db, sync_t *sync, const bson_oid_t *a,
                   const bson_oid_t *b, bool *yes, chorus_error_t *err);

/* Everyone user follows (at most FOLLOWS_FEED_MAX), in no particular
 * order; *ids is allocated (bson_free). */
bool follows_followees(db_t *db, sync_t *sync, const bson_oid_t *user,
                       bson_oid_t **ids, size_t *n, chorus_error_t *err);

/* Every follow edge (follower, followee), for the read model's load
 * (model.h). */
bool follows_scan(db_t *db, sync_t *sync, query_pair_fn fn, void *ctx,
                  chorus_error_t *err);

/* user's followers (followers true) or followees, most recent follow
 * first, strictly after the cursor `before` (NULL: from the start). */
bool follows_list(db_t *db, sync_t *sync, const bson_oid_t *user,
                  bool followers, const char *before, size_t limit,
                  user_page_t *page, chorus_error_t *err);

/* People to follow: the accounts that have posted, the most followed
 * first (ties by username), leaving out viewer (NULL: logged out) and
 * everyone viewer follows; among the FOLLOWS_SUGGEST_SCAN most followed
 * accounts only (so a viewer who follows all of them gets none), at most
 * limit, no next page.  The users' collection index on (followers_count
 * desc, username_lc) answers it (users.h). */
#define FOLLOWS_SUGGEST_SCAN 200
bool follows_suggestions(db_t *db, sync_t *sync, const bson_oid_t *viewer,
                         size_t limit, user_page_t *page, chorus_error_t *err);

/* Creates the indexes of DB_FOLLOWS: a user's followees and a user's
 * followers, most recent first. */
bool follows_ensure_indexes(db_t *db, chorus_error_t *err);

/* The user named username (users_find_by_username: 404) and whether
 * viewer (NULL: logged out, then false) follows them: a profile page. */
bool follows_get_profile(db_t *db, sync_t *sync, const char *username,
                         size_t len, const bson_oid_t *viewer, user_t *user,
                         bool *followed_by_viewer, chorus_error_t *err);

/* follows_list of the user named username (404 when there is none). */
bool follows_list_by_name(db_t *db, sync_t *sync, const char *username,
                          size_t len, bool followers, const char *before,
                          size_t limit, user_page_t *page, chorus_error_t *err);

#endif
