/*
 * tags.h - hashtags: the tag a client names, a tag's tweets and the
 * trends.
 *
 * A tag as a client names it (GET /api/tags/<tag>, a WebSocket
 * subscription) is a hashtag's text without its '#': what entities_parse
 * takes for a tag after a '#' (1-ENTITIES_TAG_MAX letters, marks, digits
 * and '_', at least one letter).  tags_parse checks it and gives its
 * folded form (entities_fold_tag): the form a tweet stores in "tags"
 * (tweets.h) and every lookup uses, so "Chorus" and "CHORUS" name one
 * tag.
 *
 * Trends: the TRENDS_MAX tags used by the most distinct authors in the
 * tweets created in the last TRENDS_WINDOW_MS (24 h) before now, each
 * with that number of authors; a tweet counts with the tags of its
 * current text, and a deleted tweet not at all.  Ties go to the tag whose
 * folded form is first in byte order (strcmp), so the answer is a
 * function of the tweets alone: the read model (model.h) and the
 * database (tags_trends) rank with the same function (tags_trends_offer)
 * and answer alike.
 *
 * Thread-safe; nothing here holds state.
 */
#ifndef CHORUS_TAGS_H
#define CHORUS_TAGS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "server/domain/cursor.h"
#include "server/domain/entities.h"
#include "server/domain/tweets.h"
#include "sync/base/db.h"
#include "sync/base/error.h"
#include "sync/sync.h"

#define TAG_SIZE (ENTITIES_TAG_BYTES + 1) /* a folded tag and its NUL */
#define TRENDS_MAX 10
#define TRENDS_WINDOW_MS (24LL * 3600 * 1000)

typedef struct trend {
  char tag[TAG_SIZE]; /* folded */
  int64_t count;      /* distinct authors */
} trend_t;

/* The folded form of the tag tag[0..len) (no '#') into out; 400
 * "invalid_tag" when it is not a tag. */
bool tags_parse(const char *tag, size_t len, char out[TAG_SIZE],
                chorus_error_t *err);

/* Whether a ranks before b: more authors, then the smaller tag. */
bool tags_trend_before(const trend_t *a, const trend_t *b);

/* Offers (tag, count) to the ranking top[0..*n) (at most TRENDS_MAX, in
 * rank order): it enters at its place when it ranks among the best
 * TRENDS_MAX.  Each tag is to be offered once. */
void tags_trends_offer(trend_t top[TRENDS_MAX], size_t *n, const char *tag,
                       int64_t count);

/* The trends at now_ms from the database: every tweet created since
 * now_ms - TRENDS_WINDOW_MS, read in pages of every shard (on FerretDB a
 * scan of each shard per page: docs/DATABASE.md).  *n how many. */
bool tags_trends(db_t *db, sync_t *sync, int64_t now_ms,
                 trend_t top[TRENDS_MAX], size_t *n, chorus_error_t *err);

/* A page of the tweets whose current text has the folded tag, newest
 * first (tweets_list, TWEETS_WITH_TAG). */
bool tags_tweets(db_t *db, sync_t *sync, const char *tag,
                 const page_cursor_t *before, size_t limit,
                 const user_t *viewer, tweet_page_t *page, chorus_error_t *err);

#endif
