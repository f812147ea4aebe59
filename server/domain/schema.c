/*
 * schema.c - see schema.h.
 */
#include "server/domain/schema.h"

#include "server/domain/follows.h"
#include "server/domain/likes.h"
#include "server/domain/media.h"
#include "server/domain/notifications.h"
#include "server/domain/ratelimit.h"
#include "server/domain/reposts.h"
#include "server/domain/sessions.h"
#include "server/domain/tweets.h"
#include "server/domain/users.h"

bool schema_ensure_indexes(db_t *db, shards_t *shards, chorus_error_t *err) {
  return users_ensure_indexes(db, err) && sessions_ensure_indexes(db, err) &&
         follows_ensure_indexes(db, err) && likes_ensure_indexes(db, err) &&
         ratelimit_ensure_indexes(db, err) &&
         notifications_ensure_indexes(db, err) &&
         reposts_ensure_indexes(db, err) && media_ensure_indexes(db, err) &&
         tweets_ensure_indexes(shards, err);
}
