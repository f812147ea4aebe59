/*
 * model.h - the read model: what one server keeps in memory so that the
 * hot reads (home feed, global timeline, "who is this cookie") do not go
 * to the database.
 *
 * Why.  On FerretDB every query decodes every document of its collection
 * (docs/PERFORMANCE.md): with 1,000,000 tweets a home feed took 120 s and
 * a session lookup 11 ms.  MongoDB with indexes would answer in
 * milliseconds; this model makes the hot reads independent of either.
 *
 * What it holds.
 *   - users: id -> username, display name; whom they follow (sorted ids);
 *     which tweets they like (sorted ids).
 *   - tweets: per author the newest ones (cfg.per_author, or all when
 *     fewer, after a load or a trim; up to twice that before the next
 *     trim), per tag likewise, and a ring of the newest cfg.ring tweets
 *     of everyone.  One record per tweet, shared.
 *   - reposts: per user the newest ones (likewise), and every tweet each
 *     user has reposted; the tweets of the trends' window (Tags below).
 *   - sessions: token hash -> user id, expiry; filled on demand, at most
 *     MODEL_SESSIONS_MAX (emptied when full).
 *
 * How it stays exact.  It is loaded once from the database and then fed
 * every committed change, in order, from the event log (events.h): each
 * event carries a "model" payload that publication builds
 * (event_enrich, event_payloads.h) and model_apply parses with that
 * module's accessors.  Events are full states, not deltas (a tweet
 * event carries the whole tweet and its version; a follow event says
 * following or not), so applying an event twice, or replaying events
 * over a snapshot that already contains them, gives the same result.
 * During a load the events that arrive are queued and replayed on top of
 * the snapshot (model_load_end), so nothing that commits while the
 * database is being read is lost.  A tweet event never brings back a
 * tweet this model saw deleted (the ids of the last 65,536 deletions are
 * remembered), and an older version never replaces a newer one.
 *
 * A reader must first make sure every change acknowledged before its
 * request started has been applied (events_sync: the poller completes a
 * full poll after the call); then the model answers as the database
 * would.
 *
 * What it does not know.  An author list holds only the newest tweets: a
 * list that had to drop older ones is "truncated", and everything at or
 * below its floor, the newest tweet it dropped, is unknown.  A page is
 * answered only when every item it returns (and the one after it, which
 * decides `next`) is newer than the floor of every truncated list
 * involved;
 * otherwise the read functions return false and the caller asks the
 * database.  The same holds for the ring.  A viewer following more than
 * FOLLOWS_FEED_MAX users, or an author with no known name, also makes
 * them return false.
 *
 * Reposts.  Each user's newest reposts are entries of a list like the
 * author lists (bounded by cfg.per_author, with a floor), and every tweet
 * each user has reposted is known (reposted_by_me); an entry holds the
 * record of the tweet it shows, which a repost event carries (so a
 * repost of an old tweet is shown from memory too).  Repost events race
 * like likes, so each queues a check (below).  A home feed merges each
 * followee's tweets and reposts, each tweet once, as its newest item
 * (tweets.h): an item of a tweet the feed holds a newer item of is left
 * out, and a feed page declines from the first item at or below a floor
 * (whether that item is shown is not known there).  A quote is answered only
 * when the quoted tweet is held (or remembered deleted: shown unavailable).
 *
 * Tags.  Each folded tag (tags.h) has a list of its newest tweets, like
 * an author's (cfg.per_author, with a floor), read by model_tag.  The
 * trends (model_trends) count, for each tag, the distinct authors of the
 * tweets created in the last TRENDS_WINDOW_MS: every tweet of that
 * window is known (its id, author, version and tags: a few dozen bytes
 * each), from the load and the events, so the count is exact, whatever
 * the lists hold.
 *
 * Thread-safety: every function may be called from any thread.  Readers
 * share a read lock; the functions that change the model (model_apply,
 * the loader's, the session cache's put, the settling of checks) take
 * the write lock.
 * Ownership: pages returned are the caller's (tweet_page_destroy).
 */
#ifndef CHORUS_MODEL_H
#define CHORUS_MODEL_H

#include <bson/bson.h>
#include <stdbool.h>
#include <stdint.h>

#include "server/domain/cursor.h"
#include "server/domain/reposts.h"
#include "server/domain/sessions.h"
#include "server/domain/tags.h"
#include "server/domain/tweets.h"
#include "server/domain/users.h"

#define MODEL_PER_AUTHOR_DEFAULT 64
#define MODEL_RING_DEFAULT 1024
#define MODEL_SESSIONS_MAX 65536

typedef struct model model_t;

typedef struct model_config {
  size_t per_author; /* 0: MODEL_PER_AUTHOR_DEFAULT; also per tag and the
                        reposts per user */
  size_t ring;       /* 0: MODEL_RING_DEFAULT */
  /* The clock of the trends' window, in ms since the epoch; NULL:
   * db_now_ms (tests give their own). */
  int64_t (*now_ms)(void);
} model_config_t;

typedef struct model_stats {
  bool ready;
  uint64_t loads;    /* completed loads */
  uint64_t applied;  /* events applied */
  uint64_t answered; /* reads answered from memory */
  uint64_t declined; /* reads handed back to the database */
  uint64_t tweets;   /* tweet records held */
  uint64_t users;    /* users known */
  uint64_t sessions; /* sessions cached */
} model_stats_t;

/* cfg may be NULL (defaults). */
model_t *model_new(const model_config_t *cfg);
void model_destroy(model_t *m);

/* ---- loading ----
 * model_load_begin() empties the model and starts queueing events;
 * the model_load_* feeders add what the database holds (any order);
 * model_load_end() trims, replays the queued events in order and makes
 * the model ready.  model_load_abort() drops a failed load: the model is
 * empty and not ready, and events are not queued.  One load at a time. */
void model_load_begin(model_t *m);
void model_load_user(model_t *m, const user_name_t *user);
void model_load_follow(model_t *m, const bson_oid_t *follower,
                       const bson_oid_t *followee);
void model_load_like(model_t *m, const bson_oid_t *user,
                     const bson_oid_t *tweet);
/* A repost as stored: see "Reposts" above. */
void model_load_repost(model_t *m, const repost_t *r);
/* t->author.id and the tweet's own fields are used; names are not. */
void model_load_tweet(model_t *m, const tweet_t *t);
void model_load_end(model_t *m);
void model_load_abort(model_t *m);

/* ---- events ----
 * Applies one event: type as published (event_types.h), payload its
 * "model" document (event_payloads.h).  Types that are not for the read
 * models, unknown types and malformed payloads are ignored.  Called in
 * sequence order by the event poller. */
void model_apply(model_t *m, const char *type, const bson_t *payload);

/* ---- reading ----
 * Both return false when the model cannot answer exactly (not ready, or
 * see "What it does not know"); *page is then empty.  limit is
 * 1..TWEET_PAGE_MAX; before NULL for the first page; viewer NULL when
 * logged out (liked_by_me all false).  Names are the current ones. */
bool model_feed(model_t *m, const bson_oid_t *viewer,
                const page_cursor_t *before, size_t limit, tweet_page_t *page);
bool model_timeline(model_t *m, const bson_oid_t *viewer,
                    const page_cursor_t *before, size_t limit,
                    tweet_page_t *page);
/* The tweets with the folded tag (tags_parse). */
bool model_tag(model_t *m, const bson_oid_t *viewer, const char *tag,
               const page_cursor_t *before, size_t limit, tweet_page_t *page);
/* The trends now (tags.h), top[0..*n); false when not ready. */
bool model_trends(model_t *m, trend_t top[TRENDS_MAX], size_t *n);

/* ---- sessions ----
 * A cache of positive answers.  A "session.ended" event drops what it
 * ends: one session, or every session of an account but one
 * (sessions_ended_t).  The epoch is taken before asking the database;
 * model_session_put ignores the answer when a session ended since then,
 * so an ending that raced the lookup is never undone.  Whether the cache
 * may answer at all is the caller's to decide (reads.h). */
uint64_t model_session_epoch(model_t *m);
bool model_session_get(model_t *m, const char *session_id, int64_t now_ms,
                       bson_oid_t *user);
void model_session_put(model_t *m, const char *session_id,
                       const bson_oid_t *user, int64_t expires_at_ms,
                       uint64_t epoch);

/* ---- settling follows and likes ----
 * A follow or like event carries the state its transaction wrote, and
 * two transactions on the same pair (a like on A racing an unlike on B)
 * may publish their events out of commit order: the older state would
 * win.  So every such event also queues a check of its pair; a server
 * thread takes the checks (model_take_checks), reads each pair's
 * committed state from the database, and settles it
 * (model_settle_check).  A settlement is dropped when another event for
 * the pair was applied after the check was taken (that event queued its
 * own check, which reads later), so the last read of every pair happens
 * after its last event and the model converges to the database. */
typedef enum {
  MODEL_CHECK_FOLLOW,
  MODEL_CHECK_LIKE,
  MODEL_CHECK_REPOST
} model_check_kind_t;

typedef struct model_check {
  model_check_kind_t kind;
  bson_oid_t a, b; /* follower, followee / user, tweet (like, repost) */
  uint64_t ticket; /* for model_settle_check */
} model_check_t;

/* Moves up to max queued checks into out; returns how many. */
size_t model_take_checks(model_t *m, model_check_t *out, size_t max);

/* Sets the pair's state to what the database said (present) unless an
 * event for the pair was applied after the check was taken.  A follow or
 * a like. */
void model_settle_check(model_t *m, const model_check_t *check, bool present);

/* The same for a repost: r is the repost as stored and t its tweet as
 * the database shows it, or both NULL when there is none (or the tweet
 * is gone). */
void model_settle_repost(model_t *m, const model_check_t *check,
                         const repost_t *r, const tweet_t *t);

void model_get_stats(model_t *m, model_stats_t *out);

/* Walks everything under the read lock and checks the invariants stated
 * in model.c (lists ordered and within their bounds, records held by
 * exactly the lists that say so, no deleted tweet held, sorted followees
 * and likes, the session cache's bound, ...).  False, saying which one
 * on stderr, when one is broken; never aborts.  For tests and debugging:
 * it takes time linear in everything held. */
bool model_check_invariants(model_t *m);

#endif
