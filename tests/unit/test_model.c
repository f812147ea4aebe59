/*
 * test_model.c - unit tests for model.h: the in-memory read model.
 *
 * Readiness: not ready (reads return false with an empty page) before a
 * load, during the first load and after model_load_abort; ready after
 * model_load_end; a reload replaces the whole state.
 *
 * Feed: the viewer's own tweets and those of followees, newest first by
 * (created_at, _id); others' excluded; limit, has_next and `next` (the
 * last item); walking pages with before = next gives exactly the
 * reference order (checked against a brute-force reference for many
 * limits, with many created_at ties); arbitrary cursors; liked_by_me
 * from loaded likes and "like" events; current author names (a
 * "user.updated" rename shows on old tweets); every tweet field.
 *
 * Timeline: everyone's tweets in the same order; with a small ring only
 * pages above the ring's oldest held tweet are answered, a ring that never
 * dropped anything pages to its end.
 *
 * Truncation: with a small per_author, a truncated author list answers
 * only pages above its oldest held tweet (also when another, complete,
 * author's older tweets are involved, after trimming caused by events,
 * after a tweet.created of an old tweet, and after its held tweets are
 * deleted); a complete list pages to the end.
 *
 * Events (payloads from event_model_*): tweet.created, tweet.updated
 * (newer versions replace, older ones are ignored, unknown tweets are not
 * created), tweet.deleted (for good: later created/updated events do not
 * bring a tweet back), follow, like, user.updated; unknown types, empty
 * payloads, payloads of another type and payloads with a field of the
 * wrong type are ignored.  Events during a load are replayed over the
 * snapshot at model_load_end.  Applying an event twice changes nothing.
 *
 * Sessions: miss before put, hit after, expiry, eviction by
 * "session.ended" (one session; every session of an account but one, or
 * all of them, other accounts' untouched), a put with an epoch older than
 * a session.ended is ignored; sessions work with the model not ready,
 * loading or ready.
 *
 * Limits: more than FOLLOWS_FEED_MAX followees, and authors with no
 * known name, make reads return false; names come from model_load_user,
 * user.updated and tweet.created, never from model_load_tweet.
 * Statistics.  Readers running while events are applied and the model
 * reloads see only well-formed, ordered pages, and the model's
 * invariants (model_check_invariants) hold whenever they look.
 *
 * Reposts: items of the reposter's followers' feeds (and the
 * reposter's) at the repost's time, with reposted_by and the repost's
 * key as cursor; reposted_by_me; loaded ones wait for their tweet's
 * record, those of missing tweets are skipped; unrepost, repost again,
 * deletion of the original; a repost of a tweet no list holds shows the
 * state its event carries and follows later updates; racing events
 * settle to the database.
 *
 * Tags and trends: tag pages follow the current text (creation, edits
 * adding and removing a tag, older states ignored, deletion), tag lists
 * truncate like author lists and are cut where an update gives a tag to
 * a tweet no list holds; trends count distinct authors of the window's
 * tweets, follow edits and deletions, ignore older states and tweets
 * outside the window, move with the clock, keep the best ten, break ties
 * by the tag.
 *
 * Invariants: every test ends with model_check_invariants (teardown).
 *
 * Pure memory: no database.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "server/domain/entities.h"
#include "server/domain/event_payloads.h"
#include "server/domain/follows.h"
#include "server/domain/reposts.h"
#include "server/readmodel/model.h"

#define T0 1700000000000LL /* a plausible created_at, in ms */

/* The model under test, and the items of the pages it returned that
 * are not yet destroyed: the teardown frees them even when a test fails
 * half-way. */
static model_t *m;

#define LIVE_MAX 64
static tweet_t *live[LIVE_MAX];

static void track(const tweet_page_t *p) {
  if (!p->items) {
    return;
  }
  for (size_t i = 0; i < LIVE_MAX; i++) {
    if (!live[i]) {
      live[i] = p->items;
      return;
    }
  }
  fail_msg("more than %d pages alive", LIVE_MAX);
}

/* tweet_page_destroy, for pages from feed() and timeline(). */
static void page_done(tweet_page_t *p) {
  for (size_t i = 0; p->items && i < LIVE_MAX; i++) {
    if (live[i] == p->items) {
      live[i] = NULL;
    }
  }
  tweet_page_destroy(p);
}

/* After every test: the model's invariants still hold (model.c), then
 * everything is freed.  A broken invariant fails the test. */
static int teardown(void **state) {
  (void)state;
  int rc = 0;
  if (m && !model_check_invariants(m)) {
    print_error("model_check_invariants failed after the test\n");
    rc = -1;
  }
  for (size_t i = 0; i < LIVE_MAX; i++) {
    bson_free(live[i]);
    live[i] = NULL;
  }
  if (m) {
    model_destroy(m);
    m = NULL;
  }
  return rc;
}

/* Whether the model is loaded (its statistics say). */
static bool ready(void) {
  model_stats_t st;
  model_get_stats(m, &st);
  return st.ready;
}

/* per_author / ring 0: the defaults. */
static void start(size_t per_author, size_t ring) {
  model_config_t cfg = {.per_author = per_author, .ring = ring};
  m = model_new(&cfg);
  assert_non_null(m);
}

/* ------------------------------------------------------------------ */
/* ids, users, tweets                                                  */
/* ------------------------------------------------------------------ */

/* Deterministic ids: a kind byte, zeros, n big-endian in the last four
 * bytes, so ids of one kind compare (memcmp) like their numbers. */
static bson_oid_t oid_of(uint8_t kind, uint32_t n) {
  bson_oid_t o;
  memset(&o, 0, sizeof o);
  o.bytes[0] = kind;
  o.bytes[8] = (uint8_t)(n >> 24);
  o.bytes[9] = (uint8_t)(n >> 16);
  o.bytes[10] = (uint8_t)(n >> 8);
  o.bytes[11] = (uint8_t)n;
  return o;
}

static bson_oid_t uid(uint32_t n) { return oid_of(0x5a, n); }
static bson_oid_t tid(uint32_t n) { return oid_of(0x65, n); }

static uint32_t num_of(const bson_oid_t *o) {
  return (uint32_t)o->bytes[8] << 24 | (uint32_t)o->bytes[9] << 16 |
         (uint32_t)o->bytes[10] << 8 | (uint32_t)o->bytes[11];
}

static user_name_t name_of(uint32_t n) {
  user_name_t u;
  memset(&u, 0, sizeof u);
  u.id = uid(n);
  snprintf(u.username, sizeof u.username, "user%u", (unsigned)n);
  snprintf(u.display_name, sizeof u.display_name, "User %u", (unsigned)n);
  return u;
}

/* Tweet n by user `author` at ts: text "tweet <n>", version 1, the
 * author's names filled in (model_load_tweet ignores them). */
static tweet_t make_tweet(uint32_t n, uint32_t author, int64_t ts) {
  tweet_t t;
  memset(&t, 0, sizeof t);
  t.id = tid(n);
  t.author = name_of(author);
  snprintf(t.text, sizeof t.text, "tweet %u", (unsigned)n);
  t.created_at_ms = ts;
  t.version = 1;
  return t;
}

static page_cursor_t cursor_at(uint32_t n, int64_t ts) {
  page_cursor_t c;
  memset(&c, 0, sizeof c);
  c.ts_ms = ts;
  c.id = tid(n);
  return c;
}

static void session_id(uint32_t n, char out[SESSION_ID_LEN + 1]) {
  snprintf(out, SESSION_ID_LEN + 1, "%064x", (unsigned)n);
}

/* ------------------------------------------------------------------ */
/* loading and events                                                  */
/* ------------------------------------------------------------------ */

static void load_user(uint32_t n) {
  user_name_t u = name_of(n);
  model_load_user(m, &u);
}

static void load_follow(uint32_t a, uint32_t b) {
  bson_oid_t x = uid(a), y = uid(b);
  model_load_follow(m, &x, &y);
}

static void load_like(uint32_t user, uint32_t tweet) {
  bson_oid_t u = uid(user), t = tid(tweet);
  model_load_like(m, &u, &t);
}

static void load_tweet(uint32_t n, uint32_t author, int64_t ts) {
  tweet_t t = make_tweet(n, author, ts);
  model_load_tweet(m, &t);
}

/* Applies the event type with payload p, then destroys p. */
static void apply_payload(const char *type, bson_t *p) {
  model_apply(m, type, p);
  bson_destroy(p);
}

static void apply_tweet(const char *type, const tweet_t *t) {
  bson_t p = BSON_INITIALIZER;
  event_model_tweet(&p, t);
  apply_payload(type, &p);
}

static void apply_created(uint32_t n, uint32_t author, int64_t ts) {
  tweet_t t = make_tweet(n, author, ts);
  apply_tweet("tweet.created", &t);
}

static void apply_deleted(uint32_t n) {
  bson_oid_t id = tid(n);
  bson_t p = BSON_INITIALIZER;
  event_model_tweet_deleted(&p, &id);
  apply_payload("tweet.deleted", &p);
}

static void apply_follow(uint32_t a, uint32_t b, bool following) {
  bson_oid_t x = uid(a), y = uid(b);
  bson_t p = BSON_INITIALIZER;
  event_model_follow(&p, &x, &y, following);
  apply_payload("follow", &p);
}

static void apply_like(uint32_t user, uint32_t tweet, bool liked) {
  bson_oid_t u = uid(user), t = tid(tweet);
  bson_t p = BSON_INITIALIZER;
  event_model_like(&p, &u, &t, liked);
  apply_payload("like", &p);
}

static void apply_user(const user_name_t *u) {
  bson_t p = BSON_INITIALIZER;
  event_model_user(&p, u);
  apply_payload("user.updated", &p);
}

static void apply_session_ended(const char *sid) {
  bson_t p = BSON_INITIALIZER;
  event_model_session_ended(&p, sid);
  apply_payload("session.ended", &p);
}

/* A default model loading users 1 and 2, 1 following 2; the load is
 * left open. */
static void start_pair(void) {
  start(0, 0);
  model_load_begin(m);
  load_user(1);
  load_user(2);
  load_follow(1, 2);
}

/* ------------------------------------------------------------------ */
/* reading                                                             */
/* ------------------------------------------------------------------ */

/* model_feed as user viewer; a false answer must leave an empty page. */
static bool feed(uint32_t viewer, const page_cursor_t *before, size_t limit,
                 tweet_page_t *page) {
  bson_oid_t v = uid(viewer);
  memset(page, 0, sizeof *page);
  bool ok = model_feed(m, &v, before, limit, page);
  track(page);
  if (!ok) {
    assert_int_equal(page->n, 0);
  }
  return ok;
}

/* model_timeline; viewer 0 is logged out (NULL). */
static bool timeline(uint32_t viewer, const page_cursor_t *before, size_t limit,
                     tweet_page_t *page) {
  bson_oid_t v = uid(viewer);
  memset(page, 0, sizeof *page);
  bool ok = model_timeline(m, viewer ? &v : NULL, before, limit, page);
  track(page);
  if (!ok) {
    assert_int_equal(page->n, 0);
  }
  return ok;
}

static void assert_feed_declined(uint32_t viewer, const page_cursor_t *before,
                                 size_t limit) {
  tweet_page_t p;
  assert_false(feed(viewer, before, limit, &p));
  page_done(&p);
}

static void assert_timeline_declined(const page_cursor_t *before,
                                     size_t limit) {
  tweet_page_t p;
  assert_false(timeline(0, before, limit, &p));
  page_done(&p);
}

static void print_page(const char *what, const tweet_page_t *p) {
  print_message("%s (%zu items, has_next %d):", what, p->n, (int)p->has_next);
  for (size_t i = 0; i < p->n; i++) {
    print_message(" %u@%lld", (unsigned)num_of(&p->items[i].id),
                  (long long)(p->items[i].created_at_ms - T0));
  }
  print_message("\n");
}

/* The page holds exactly tweets want[0..n), in that order. */
static void assert_ids(const tweet_page_t *p, const uint32_t *want, size_t n) {
  bool same = p->n == n;
  for (size_t i = 0; same && i < n; i++) {
    bson_oid_t w = tid(want[i]);
    same = bson_oid_equal(&w, &p->items[i].id);
  }
  if (!same) {
    print_message("expected:");
    for (size_t i = 0; i < n; i++) {
      print_message(" %u", (unsigned)want[i]);
    }
    print_message("\n");
    print_page("actual", p);
    fail_msg("page holds other tweets");
  }
}

#define ASSERT_IDS(p, ...)                                                     \
  do {                                                                         \
    const uint32_t want_[] = {__VA_ARGS__};                                    \
    assert_ids((p), want_, sizeof want_ / sizeof want_[0]);                    \
  } while (0)

/* The feed of viewer (is_feed) or the timeline as viewer answers exactly
 * tweets want[0..n), in that order. */
static void expect_page(bool is_feed, uint32_t viewer,
                        const page_cursor_t *before, size_t limit,
                        const uint32_t *want, size_t n) {
  tweet_page_t p;
  assert_true(is_feed ? feed(viewer, before, limit, &p)
                      : timeline(viewer, before, limit, &p));
  assert_ids(&p, want, n);
  page_done(&p);
}

#define EXPECT_FEED(viewer, before, limit, ...)                                \
  do {                                                                         \
    const uint32_t want_[] = {__VA_ARGS__};                                    \
    expect_page(true, (viewer), (before), (limit), want_,                      \
                sizeof want_ / sizeof want_[0]);                               \
  } while (0)

#define EXPECT_TIMELINE(viewer, before, limit, ...)                            \
  do {                                                                         \
    const uint32_t want_[] = {__VA_ARGS__};                                    \
    expect_page(false, (viewer), (before), (limit), want_,                     \
                sizeof want_ / sizeof want_[0]);                               \
  } while (0)

/* The feed of viewer (is_feed) or the timeline as viewer shows tweets 3,
 * 2, 1 with these liked_by_me. */
static void expect_likes(bool is_feed, uint32_t viewer, bool liked3,
                         bool liked2, bool liked1) {
  tweet_page_t p;
  assert_true(is_feed ? feed(viewer, NULL, 10, &p)
                      : timeline(viewer, NULL, 10, &p));
  ASSERT_IDS(&p, 3, 2, 1);
  assert_int_equal(p.items[0].liked_by_me, liked3);
  assert_int_equal(p.items[1].liked_by_me, liked2);
  assert_int_equal(p.items[2].liked_by_me, liked1);
  page_done(&p);
}

/* A one-item page of the feed of viewer (is_feed) or of the timeline is
 * declined, or exactly [first]: what a model that may not know the newest
 * tweet can answer. */
static void expect_first_or_declined(bool is_feed, uint32_t viewer,
                                     uint32_t first) {
  tweet_page_t p;
  bool ok = is_feed ? feed(viewer, NULL, 1, &p) : timeline(viewer, NULL, 1, &p);
  if (ok) {
    ASSERT_IDS(&p, first);
  }
  page_done(&p);
}

/* has_next, and next names the last item. */
static void assert_next_is_last(const tweet_page_t *p) {
  assert_true(p->has_next);
  assert_true(p->n > 0);
  const tweet_t *last = &p->items[p->n - 1];
  assert_true(p->next.ts_ms == last->created_at_ms);
  assert_true(bson_oid_equal(&p->next.id, &last->id));
}

static void assert_author(const tweet_t *t, const char *username,
                          const char *display_name) {
  assert_string_equal(t->author.username, username);
  assert_string_equal(t->author.display_name, display_name);
}

/* The feed of 1 is tweet 1 alone, shown with these author names. */
static void expect_feed_of_tweet_1(const char *username,
                                   const char *display_name) {
  tweet_page_t p;
  assert_true(feed(1, NULL, 10, &p));
  ASSERT_IDS(&p, 1);
  assert_author(&p.items[0], username, display_name);
  page_done(&p);
}

/* The item for tweet n in p, or NULL. */
static const tweet_t *find_item(const tweet_page_t *p, uint32_t n) {
  bson_oid_t id = tid(n);
  for (size_t i = 0; i < p->n; i++) {
    if (bson_oid_equal(&p->items[i].id, &id)) {
      return &p->items[i];
    }
  }
  return NULL;
}

static bool tweets_equal(const tweet_t *a, const tweet_t *b) {
  return bson_oid_equal(&a->id, &b->id) &&
         bson_oid_equal(&a->author.id, &b->author.id) &&
         !strcmp(a->author.username, b->author.username) &&
         !strcmp(a->author.display_name, b->author.display_name) &&
         !strcmp(a->text, b->text) && a->created_at_ms == b->created_at_ms &&
         a->edited_at_ms == b->edited_at_ms &&
         a->has_reply_to == b->has_reply_to &&
         (!a->has_reply_to || bson_oid_equal(&a->reply_to, &b->reply_to)) &&
         a->reply_count == b->reply_count && a->like_count == b->like_count &&
         a->liked_by_me == b->liked_by_me && a->version == b->version;
}

static bool pages_equal(const tweet_page_t *a, const tweet_page_t *b) {
  if (a->n != b->n || a->has_next != b->has_next) {
    return false;
  }
  if (a->has_next && (a->next.ts_ms != b->next.ts_ms ||
                      !bson_oid_equal(&a->next.id, &b->next.id))) {
    return false;
  }
  for (size_t i = 0; i < a->n; i++) {
    if (!tweets_equal(&a->items[i], &b->items[i])) {
      return false;
    }
  }
  return true;
}

/* Everything viewer 1 can read: feed and timeline, first 200. */
typedef struct snapshot {
  bool feed_ok, timeline_ok;
  tweet_page_t feed, timeline;
} snapshot_t;

static void take(snapshot_t *s) {
  s->feed_ok = feed(1, NULL, TWEET_PAGE_MAX, &s->feed);
  s->timeline_ok = timeline(1, NULL, TWEET_PAGE_MAX, &s->timeline);
}

static void drop(snapshot_t *s) {
  page_done(&s->feed);
  page_done(&s->timeline);
}

static void assert_same_snapshot(const snapshot_t *a, const snapshot_t *b,
                                 const char *what) {
  if (a->feed_ok != b->feed_ok || a->timeline_ok != b->timeline_ok ||
      !pages_equal(&a->feed, &b->feed) ||
      !pages_equal(&a->timeline, &b->timeline)) {
    print_page("feed before", &a->feed);
    print_page("feed after", &b->feed);
    print_page("timeline before", &a->timeline);
    print_page("timeline after", &b->timeline);
    fail_msg("%s changed what the model shows", what);
  }
}

/* ------------------------------------------------------------------ */
/* a brute-force reference                                             */
/* ------------------------------------------------------------------ */

typedef struct spec {
  uint32_t n;
  uint32_t author;
  int64_t ts;
} spec_t;

static int newest_first(const void *pa, const void *pb) {
  const spec_t *a = pa, *b = pb;
  if (a->ts != b->ts) {
    return a->ts > b->ts ? -1 : 1;
  }
  return a->n > b->n ? -1 : a->n < b->n ? 1 : 0;
}

/* The numbers of the tweets of specs whose author is in authors (all
 * when n_authors is 0) strictly after `before` (if not NULL; its id
 * must be a tweet id), newest first.  Returns how many. */
static size_t reference(const spec_t *specs, size_t n_specs,
                        const uint32_t *authors, size_t n_authors,
                        const page_cursor_t *before, uint32_t *out) {
  spec_t *sorted = malloc(sizeof *sorted * n_specs);
  assert_non_null(sorted);
  memcpy(sorted, specs, sizeof *sorted * n_specs);
  qsort(sorted, n_specs, sizeof *sorted, newest_first);
  size_t k = 0;
  for (size_t i = 0; i < n_specs; i++) {
    bool wanted = n_authors == 0;
    for (size_t j = 0; j < n_authors; j++) {
      wanted = wanted || sorted[i].author == authors[j];
    }
    if (wanted && before) {
      uint32_t bn = num_of(&before->id);
      wanted = sorted[i].ts < before->ts_ms ||
               (sorted[i].ts == before->ts_ms && sorted[i].n < bn);
    }
    if (wanted) {
      out[k++] = sorted[i].n;
    }
  }
  free(sorted);
  return k;
}

/* Walks the feed of viewer (or the timeline when viewer is 0) with pages
 * of `limit`, each from the previous `next`, and checks it is exactly
 * want[0..n): every page full but the last, has_next exactly when more
 * follow, next the last item. */
static void walk(uint32_t viewer, size_t limit, const uint32_t *want,
                 size_t n) {
  size_t done = 0;
  page_cursor_t before;
  memset(&before, 0, sizeof before);
  bool first = true;
  for (;;) {
    tweet_page_t p;
    bool ok = viewer ? feed(viewer, first ? NULL : &before, limit, &p)
                     : timeline(0, first ? NULL : &before, limit, &p);
    assert_true(ok);
    size_t left = n - done;
    size_t expect = left < limit ? left : limit;
    if (p.n != expect) {
      print_page("page", &p);
    }
    assert_int_equal(p.n, expect);
    assert_ids(&p, want + done, expect);
    done += expect;
    if (done < n) {
      assert_next_is_last(&p);
      before = p.next;
      first = false;
      page_done(&p);
    } else {
      assert_false(p.has_next);
      page_done(&p);
      break;
    }
  }
}

/* ------------------------------------------------------------------ */
/* readiness                                                           */
/* ------------------------------------------------------------------ */

static void not_ready_before_a_load(void **state) {
  (void)state;
  m = model_new(NULL);
  assert_non_null(m);
  assert_false(ready());
  assert_feed_declined(1, NULL, 10);
  assert_timeline_declined(NULL, 10);
  page_cursor_t c = cursor_at(1, T0);
  assert_feed_declined(1, &c, 10);
  assert_timeline_declined(&c, 10);
  model_stats_t st;
  model_get_stats(m, &st);
  assert_false(st.ready);
  assert_int_equal(st.loads, 0);
  assert_int_equal(st.tweets, 0);
  assert_int_equal(st.users, 0);
}

static void ready_after_a_load(void **state) {
  (void)state;
  start(0, 0);
  model_load_begin(m);
  assert_false(ready());
  load_user(1);
  assert_feed_declined(1, NULL, 10);
  assert_timeline_declined(NULL, 10);
  model_load_end(m);
  assert_true(ready());

  /* Nothing to show is an answer: empty, no next page. */
  tweet_page_t p;
  assert_true(feed(1, NULL, 10, &p));
  assert_int_equal(p.n, 0);
  assert_false(p.has_next);
  page_done(&p);
  assert_true(timeline(0, NULL, 10, &p));
  assert_int_equal(p.n, 0);
  assert_false(p.has_next);
  page_done(&p);
  assert_true(timeline(1, NULL, TWEET_PAGE_MAX, &p));
  assert_int_equal(p.n, 0);
  page_done(&p);
}

static void load_abort_leaves_the_model_not_ready(void **state) {
  (void)state;
  start(0, 0);
  model_load_begin(m);
  load_user(1);
  load_tweet(1, 1, T0);
  model_load_abort(m);
  assert_false(ready());
  assert_feed_declined(1, NULL, 10);
  assert_timeline_declined(NULL, 10);

  /* A later load works, and has nothing of the aborted one. */
  model_load_begin(m);
  load_user(1);
  model_load_end(m);
  assert_true(ready());
  tweet_page_t p;
  assert_true(timeline(0, NULL, 10, &p));
  assert_int_equal(p.n, 0);
  page_done(&p);

  /* Aborting a reload of a ready model: empty and not ready. */
  model_load_begin(m);
  load_user(1);
  load_tweet(2, 1, T0);
  model_load_abort(m);
  assert_false(ready());
  assert_feed_declined(1, NULL, 10);
  assert_timeline_declined(NULL, 10);
  model_stats_t st;
  model_get_stats(m, &st);
  assert_false(st.ready);
  assert_int_equal(st.loads, 1);
}

static void events_queued_by_an_aborted_load_are_dropped(void **state) {
  (void)state;
  start(0, 0);
  model_load_begin(m);
  apply_created(1, 1, T0);
  model_load_abort(m);
  model_load_begin(m);
  load_user(1);
  model_load_end(m);
  tweet_page_t p;
  assert_true(timeline(0, NULL, 10, &p));
  assert_int_equal(p.n, 0);
  page_done(&p);
}

static void a_reload_replaces_everything(void **state) {
  (void)state;
  start_pair();
  load_tweet(1, 2, T0 + 10);
  load_tweet(2, 2, T0 + 20);
  load_like(1, 1);
  model_load_end(m);

  tweet_page_t p;
  assert_true(feed(1, NULL, 10, &p));
  ASSERT_IDS(&p, 2, 1);
  assert_true(p.items[1].liked_by_me);
  page_done(&p);

  /* The database now says: 1 follows nobody, tweet 2 is gone, 3 is new,
   * nothing is liked. */
  model_load_begin(m);
  load_user(1);
  load_user(2);
  load_tweet(1, 2, T0 + 10);
  load_tweet(3, 2, T0 + 30);
  model_load_end(m);
  assert_true(ready());
  assert_true(feed(1, NULL, 10, &p));
  assert_int_equal(p.n, 0);
  page_done(&p);
  assert_true(timeline(1, NULL, 10, &p));
  ASSERT_IDS(&p, 3, 1);
  assert_false(p.items[1].liked_by_me);
  page_done(&p);
  model_stats_t st;
  model_get_stats(m, &st);
  assert_int_equal(st.loads, 2);
  assert_int_equal(st.tweets, 2);
}

/* ------------------------------------------------------------------ */
/* feed                                                                */
/* ------------------------------------------------------------------ */

static void feed_is_own_and_followees_tweets_newest_first(void **state) {
  (void)state;
  start(0, 0);
  model_load_begin(m);
  for (uint32_t u = 1; u <= 4; u++) {
    load_user(u);
  }
  load_follow(1, 2);
  load_follow(1, 3);
  load_follow(4, 1);
  load_follow(2, 4);
  /* (n, author, ts), loaded in no particular order. */
  load_tweet(5, 2, T0 + 250);
  tweet_t reply = make_tweet(9, 3, T0 + 50);
  reply.has_reply_to = true;
  reply.reply_to = tid(4);
  model_load_tweet(m, &reply);
  load_tweet(1, 1, T0 + 100);
  load_tweet(8, 1, T0 + 250);
  load_tweet(3, 3, T0 + 150);
  load_tweet(7, 4, T0 + 250);
  load_tweet(2, 2, T0 + 200);
  load_tweet(6, 3, T0 + 250);
  load_tweet(4, 4, T0 + 300);
  model_load_end(m);

  tweet_page_t p;
  assert_true(feed(1, NULL, 50, &p));
  /* ts 250 three times: higher id first (8, 6, 5); 4 and 7 are by a user
   * 1 does not follow. */
  ASSERT_IDS(&p, 8, 6, 5, 2, 3, 1, 9);
  assert_false(p.has_next);
  for (size_t i = 0; i < p.n; i++) {
    const tweet_t *t = &p.items[i];
    uint32_t author = num_of(&t->author.id);
    user_name_t want = name_of(author);
    assert_author(t, want.username, want.display_name);
    char text[32];
    snprintf(text, sizeof text, "tweet %u", (unsigned)num_of(&t->id));
    assert_string_equal(t->text, text);
    assert_false(t->liked_by_me);
    assert_int_equal(t->version, 1);
  }
  const tweet_t *r = find_item(&p, 9);
  assert_non_null(r);
  assert_true(r->has_reply_to);
  bson_oid_t four = tid(4);
  assert_true(bson_oid_equal(&r->reply_to, &four));
  assert_true(r->created_at_ms == T0 + 50);
  assert_false(find_item(&p, 2)->has_reply_to);
  page_done(&p);

  /* 4 follows 1: 4, 8 and 7 tie at 250 (8 first), then 1. */
  EXPECT_FEED(4, NULL, 50, 4, 8, 7, 1);
  /* 2 follows 4. */
  EXPECT_FEED(2, NULL, 50, 4, 7, 5, 2);
  /* 3 follows nobody. */
  EXPECT_FEED(3, NULL, 50, 6, 3, 9);
}

static void feed_limit_sets_has_next_and_next(void **state) {
  (void)state;
  start_pair();
  load_tweet(1, 2, T0 + 1);
  load_tweet(2, 2, T0 + 2);
  load_tweet(3, 1, T0 + 3);
  model_load_end(m);

  tweet_page_t p;
  assert_true(feed(1, NULL, 2, &p));
  ASSERT_IDS(&p, 3, 2);
  assert_next_is_last(&p);
  page_cursor_t next = p.next;
  page_done(&p);
  assert_true(feed(1, &next, 2, &p));
  ASSERT_IDS(&p, 1);
  assert_false(p.has_next);
  page_done(&p);

  /* Exactly as many as the limit: no next page. */
  assert_true(feed(1, NULL, 3, &p));
  ASSERT_IDS(&p, 3, 2, 1);
  assert_false(p.has_next);
  page_done(&p);

  assert_true(feed(1, NULL, 1, &p));
  ASSERT_IDS(&p, 3);
  assert_next_is_last(&p);
  page_done(&p);

  /* After the last one: empty, no next. */
  page_cursor_t end = cursor_at(1, T0 + 1);
  assert_true(feed(1, &end, 5, &p));
  assert_int_equal(p.n, 0);
  assert_false(p.has_next);
  page_done(&p);
}

/* 40 tweets by 5 authors with many created_at ties. */
#define N_MANY 40
static void load_many(spec_t *specs) {
  model_load_begin(m);
  for (uint32_t u = 1; u <= 5; u++) {
    load_user(u);
  }
  load_follow(1, 2);
  load_follow(1, 3);
  load_follow(2, 5);
  for (uint32_t i = 0; i < N_MANY; i++) {
    /* load in a scrambled order (17 is prime to 40) */
    uint32_t n = (i * 17) % N_MANY + 1;
    specs[n - 1] = (spec_t){n, 1 + n % 5, T0 + (int64_t)((n * 7) % 11) * 10};
  }
  for (uint32_t i = 0; i < N_MANY; i++) {
    uint32_t n = (i * 17) % N_MANY + 1;
    load_tweet(n, specs[n - 1].author, specs[n - 1].ts);
  }
  model_load_end(m);
}

static void feed_pages_follow_the_cursor_without_gaps(void **state) {
  (void)state;
  start(0, 0);
  spec_t specs[N_MANY];
  load_many(specs);
  uint32_t want[N_MANY];
  const uint32_t of_1[] = {1, 2, 3};
  size_t n1 = reference(specs, N_MANY, of_1, 3, NULL, want);
  assert_true(n1 > 10 && n1 < N_MANY);
  const size_t limits[] = {1, 2, 3, 5, 7, 8};
  for (size_t i = 0; i < sizeof limits / sizeof limits[0]; i++) {
    walk(1, limits[i], want, n1);
  }
  walk(1, n1, want, n1);
  walk(1, n1 - 1, want, n1);
  walk(1, n1 + 1, want, n1);
  walk(1, TWEET_PAGE_MAX, want, n1);

  const uint32_t of_2[] = {2, 5};
  size_t n2 = reference(specs, N_MANY, of_2, 2, NULL, want);
  walk(2, 3, want, n2);
  const uint32_t of_4[] = {4};
  size_t n4 = reference(specs, N_MANY, of_4, 1, NULL, want);
  walk(4, 2, want, n4);
}

static void feed_after_any_cursor(void **state) {
  (void)state;
  start(0, 0);
  spec_t specs[N_MANY];
  load_many(specs);
  const uint32_t of_1[] = {1, 2, 3};
  /* Cursors that name no tweet of the feed: ids above and below all,
   * between two, a tweet of an author 1 does not follow, times between
   * and outside. */
  const page_cursor_t cursors[] = {
      cursor_at(1000, T0 + 50),  cursor_at(0, T0 + 50), cursor_at(20, T0 + 50),
      cursor_at(4, specs[3].ts), cursor_at(5, T0 + 55), cursor_at(0, T0 + 1000),
      cursor_at(0, T0 - 1),      cursor_at(1000, T0),
  };
  for (size_t i = 0; i < sizeof cursors / sizeof cursors[0]; i++) {
    uint32_t want[N_MANY];
    size_t n = reference(specs, N_MANY, of_1, 3, &cursors[i], want);
    tweet_page_t p;
    assert_true(feed(1, &cursors[i], TWEET_PAGE_MAX, &p));
    assert_ids(&p, want, n);
    assert_false(p.has_next);
    page_done(&p);
    if (n > 1) {
      assert_true(feed(1, &cursors[i], 1, &p));
      assert_ids(&p, want, 1);
      assert_next_is_last(&p);
      page_done(&p);
    }
  }
}

static void feed_page_of_the_largest_limit(void **state) {
  (void)state;
  start(1000, 0); /* room for all 250 tweets of one author */
  model_load_begin(m);
  load_user(1);
  for (uint32_t n = 1; n <= TWEET_PAGE_MAX + 50; n++) {
    load_tweet(n, 1, T0 + n / 3); /* ties of three */
  }
  model_load_end(m);
  uint32_t want[TWEET_PAGE_MAX + 50];
  for (uint32_t i = 0; i < TWEET_PAGE_MAX + 50; i++) {
    want[i] = TWEET_PAGE_MAX + 50 - i;
  }
  walk(1, TWEET_PAGE_MAX, want, TWEET_PAGE_MAX + 50);
  walk(0, TWEET_PAGE_MAX, want, TWEET_PAGE_MAX + 50);
}

static void liked_by_me_from_loaded_likes_and_events(void **state) {
  (void)state;
  start(0, 0);
  model_load_begin(m);
  for (uint32_t u = 1; u <= 3; u++) {
    load_user(u);
  }
  load_follow(1, 2);
  load_follow(3, 2);
  load_tweet(1, 2, T0 + 1);
  load_tweet(2, 2, T0 + 2);
  load_tweet(3, 2, T0 + 3);
  load_like(1, 2);
  load_like(3, 1);
  model_load_end(m);

  expect_likes(true, 1, false, true, false);
  expect_likes(true, 3, false, false, true);

  apply_like(1, 3, true);
  apply_like(1, 2, false);
  expect_likes(true, 1, true, false, false);

  /* The timeline: liked_by_me for its viewer, all false logged out. */
  expect_likes(false, 1, true, false, false);
  expect_likes(false, 3, false, false, true);
  expect_likes(false, 0, false, false, false);
  /* A viewer the model has never heard of likes nothing. */
  expect_likes(false, 99, false, false, false);
}

static void author_names_are_the_current_ones(void **state) {
  (void)state;
  start_pair();
  load_tweet(1, 2, T0 + 1);
  load_tweet(2, 1, T0 + 2);
  model_load_end(m);

  tweet_page_t p;
  assert_true(feed(1, NULL, 10, &p));
  ASSERT_IDS(&p, 2, 1);
  assert_author(&p.items[0], "user1", "User 1");
  assert_author(&p.items[1], "user2", "User 2");
  page_done(&p);

  user_name_t renamed = name_of(2);
  snprintf(renamed.display_name, sizeof renamed.display_name,
           "Zo\xc3\xab \xe2\x9c\xa8");
  apply_user(&renamed);
  tweet_t t3 = make_tweet(3, 2, T0 + 3);
  t3.author = renamed; /* published after the rename */
  apply_tweet("tweet.created", &t3);
  assert_true(feed(1, NULL, 10, &p));
  ASSERT_IDS(&p, 3, 2, 1);
  /* The rename shows on the old tweet (1) as on the new one. */
  assert_author(&p.items[0], "user2", "Zo\xc3\xab \xe2\x9c\xa8");
  assert_author(&p.items[1], "user1", "User 1");
  assert_author(&p.items[2], "user2", "Zo\xc3\xab \xe2\x9c\xa8");
  page_done(&p);

  /* A second rename, of the username too; the timeline shows it. */
  snprintf(renamed.username, sizeof renamed.username, "zoe");
  snprintf(renamed.display_name, sizeof renamed.display_name, "Zoe");
  apply_user(&renamed);
  assert_true(timeline(0, NULL, 10, &p));
  ASSERT_IDS(&p, 3, 2, 1);
  assert_author(&p.items[0], "zoe", "Zoe");
  assert_author(&p.items[2], "zoe", "Zoe");
  page_done(&p);
}

/* Two renames racing on two servers may publish out of commit order:
 * the names read at the higher version of the account win, whatever the
 * order of the events, during a load as after it. */
static void renames_are_ordered_by_the_account_version(void **state) {
  (void)state;
  start(0, 0);
  model_load_begin(m);
  user_name_t loaded = name_of(1);
  loaded.version = 5;
  model_load_user(m, &loaded);
  /* Queued during the load: an event older than what the load read. */
  user_name_t stale = name_of(1);
  snprintf(stale.display_name, sizeof stale.display_name, "Stale");
  stale.version = 4;
  apply_user(&stale);
  load_tweet(1, 1, T0 + 1);
  model_load_end(m);
  tweet_page_t p;
  assert_true(timeline(0, NULL, 10, &p));
  assert_author(&p.items[0], "user1", "User 1");
  page_done(&p);

  user_name_t newer = name_of(1), older = name_of(1);
  snprintf(newer.display_name, sizeof newer.display_name, "Bea");
  newer.version = 8;
  snprintf(older.display_name, sizeof older.display_name, "Ann");
  older.version = 7;
  apply_user(&newer); /* published first ... */
  apply_user(&older); /* ... the older rename's event after it */
  assert_true(timeline(0, NULL, 10, &p));
  assert_author(&p.items[0], "user1", "Bea");
  page_done(&p);

  /* The same version again (a re-published event) is applied. */
  snprintf(newer.display_name, sizeof newer.display_name, "Bea again");
  apply_user(&newer);
  /* A tweet event's author names (version unknown) never rename. */
  tweet_t t2 = make_tweet(2, 1, T0 + 2);
  snprintf(t2.author.display_name, sizeof t2.author.display_name, "Tweet");
  apply_tweet("tweet.created", &t2);
  assert_true(timeline(0, NULL, 10, &p));
  ASSERT_IDS(&p, 2, 1);
  assert_author(&p.items[0], "user1", "Bea again");
  assert_author(&p.items[1], "user1", "Bea again");
  page_done(&p);
}

static void every_field_of_a_tweet_comes_through(void **state) {
  (void)state;
  start(0, 0);
  model_load_begin(m);
  load_user(1);
  load_user(2);
  tweet_t loaded = make_tweet(1, 2, T0 + 5);
  snprintf(loaded.text, sizeof loaded.text,
           "caf\xc3\xa9 \xf0\x9f\x90\xa6 \"quoted\" \\ <b>");
  loaded.edited_at_ms = T0 + 99;
  loaded.has_reply_to = true;
  loaded.reply_to = tid(77);
  loaded.reply_count = 12;
  loaded.like_count = 345;
  loaded.version = 9;
  model_load_tweet(m, &loaded);
  model_load_end(m);
  apply_deleted(77); /* the parent of `loaded`, known deleted */

  tweet_t created = make_tweet(2, 2, T0 + 6);
  memset(created.text, 'x', 100);
  created.text[100] = '\0';
  created.edited_at_ms = T0 + 7;
  created.has_reply_to = true;
  created.reply_to = tid(1);
  created.reply_count = 3;
  created.like_count = 4;
  created.version = 5;
  apply_tweet("tweet.created", &created);

  tweet_page_t p;
  assert_true(timeline(0, NULL, 10, &p));
  ASSERT_IDS(&p, 2, 1);
  assert_true(tweets_equal(&p.items[0], &created));
  assert_true(tweets_equal(&p.items[1], &loaded));
  /* The authors replied to: that of tweet 1, none for a deleted one. */
  assert_true(p.items[0].has_reply_to_user);
  assert_true(bson_oid_equal(&p.items[0].reply_to_user.id, &loaded.author.id));
  assert_string_equal(p.items[0].reply_to_user.username,
                      loaded.author.username);
  assert_false(p.items[1].has_reply_to_user);
  page_done(&p);
}

/* A reply whose parent the model neither holds nor knows deleted: the
 * database answers (it reads the parent's author). */
static void reply_to_an_unknown_tweet_is_not_answered(void **state) {
  (void)state;
  start(0, 0);
  model_load_begin(m);
  load_user(1);
  tweet_t reply = make_tweet(1, 1, T0 + 5);
  reply.has_reply_to = true;
  reply.reply_to = tid(78);
  model_load_tweet(m, &reply);
  model_load_end(m);
  tweet_page_t p;
  assert_false(timeline(0, NULL, 10, &p));
  apply_deleted(78);
  assert_true(timeline(0, NULL, 10, &p));
  ASSERT_IDS(&p, 1);
  assert_false(p.items[0].has_reply_to_user);
  page_done(&p);
}

/* ------------------------------------------------------------------ */
/* timeline                                                            */
/* ------------------------------------------------------------------ */

static void timeline_is_everyone_newest_first(void **state) {
  (void)state;
  start(0, 0);
  spec_t specs[N_MANY];
  load_many(specs);
  uint32_t want[N_MANY];
  size_t n = reference(specs, N_MANY, NULL, 0, NULL, want);
  assert_int_equal(n, N_MANY);
  walk(0, 1, want, n);
  walk(0, 6, want, n);
  walk(0, N_MANY, want, n);
  walk(0, TWEET_PAGE_MAX, want, n);
  page_cursor_t c = cursor_at(13, specs[12].ts);
  size_t k = reference(specs, N_MANY, NULL, 0, &c, want);
  tweet_page_t p;
  assert_true(timeline(0, &c, TWEET_PAGE_MAX, &p));
  assert_ids(&p, want, k);
  page_done(&p);
}

/* 20 tweets (n at T0 + n) by 2 and 3, in a model with ring 8. */
static void load_twenty(void) {
  model_load_begin(m);
  for (uint32_t u = 1; u <= 3; u++) {
    load_user(u);
  }
  load_follow(1, 2);
  load_follow(1, 3);
  for (uint32_t n = 20; n >= 1; n--) {
    load_tweet(n, 2 + n % 2, T0 + n);
  }
  model_load_end(m);
}

static void timeline_answers_only_above_the_ring(void **state) {
  (void)state;
  start(0, 8);
  load_twenty();
  /* The ring holds 20..13. */
  tweet_page_t p;
  assert_true(timeline(0, NULL, 5, &p));
  ASSERT_IDS(&p, 20, 19, 18, 17, 16);
  assert_next_is_last(&p);
  page_cursor_t next = p.next;
  page_done(&p);
  assert_true(timeline(0, &next, 1, &p));
  ASSERT_IDS(&p, 15);
  assert_next_is_last(&p);
  page_done(&p);

  /* Pages that reach below 13. */
  assert_timeline_declined(NULL, 10);
  assert_timeline_declined(NULL, TWEET_PAGE_MAX);
  assert_timeline_declined(&next, 10);
  page_cursor_t c = cursor_at(13, T0 + 13);
  assert_timeline_declined(&c, 1);
  c = cursor_at(10, T0 + 10);
  assert_timeline_declined(&c, 1);
  c = cursor_at(0, T0);
  assert_timeline_declined(&c, 1);

  /* The feed does not depend on the ring: all 20, to the end. */
  assert_true(feed(1, NULL, TWEET_PAGE_MAX, &p));
  assert_int_equal(p.n, 20);
  assert_false(p.has_next);
  page_done(&p);

  /* New tweets push the ring on: 22..15 now. */
  apply_created(21, 2, T0 + 21);
  apply_created(22, 3, T0 + 22);
  EXPECT_TIMELINE(0, NULL, 4, 22, 21, 20, 19);
  c = cursor_at(17, T0 + 17);
  assert_timeline_declined(&c, 2);
  assert_timeline_declined(NULL, 8);
}

static void
timeline_of_a_ring_that_never_dropped_pages_to_the_end(void **state) {
  (void)state;
  start(0, 8);
  model_load_begin(m);
  load_user(1);
  for (uint32_t n = 1; n <= 5; n++) {
    load_tweet(n, 1, T0 + n);
  }
  model_load_end(m);
  const uint32_t want[] = {5, 4, 3, 2, 1};
  walk(0, TWEET_PAGE_MAX, want, 5);
  walk(0, 2, want, 5);
  walk(0, 5, want, 5);
  /* Three more fill it exactly: still complete. */
  apply_created(6, 1, T0 + 6);
  apply_created(7, 1, T0 + 7);
  apply_created(8, 1, T0 + 8);
  const uint32_t want8[] = {8, 7, 6, 5, 4, 3, 2, 1};
  walk(0, 3, want8, 8);
  walk(0, TWEET_PAGE_MAX, want8, 8);
}

static void timeline_declines_when_the_ring_lost_all_it_held(void **state) {
  (void)state;
  start(0, 8);
  load_twenty();
  for (uint32_t n = 20; n >= 13; n--) {
    apply_deleted(n);
  }
  /* Tweets 12 and older exist but have left the ring: it cannot know the
   * newest one (answering is only allowed when exact). */
  expect_first_or_declined(false, 0, 12);
  assert_timeline_declined(NULL, TWEET_PAGE_MAX);
}

/* ------------------------------------------------------------------ */
/* truncated author lists                                              */
/* ------------------------------------------------------------------ */

/* per_author 4: user 2 has tweets 1..20 at T0 + 1000 + n (truncated:
 * it holds the newest 4 to 8), user 3 tweets 31, 32 at T0 + 5000, 5001
 * and 33, 34 at T0 + 500, 400 (complete).  1 follows 2 and 3; 5 follows
 * 3. */
static void load_truncated(void) {
  model_load_begin(m);
  for (uint32_t u = 1; u <= 5; u++) {
    load_user(u);
  }
  load_follow(1, 2);
  load_follow(1, 3);
  load_follow(5, 3);
  for (uint32_t n = 1; n <= 20; n++) {
    load_tweet(n, 2, T0 + 1000 + n);
  }
  load_tweet(31, 3, T0 + 5000);
  load_tweet(32, 3, T0 + 5001);
  load_tweet(33, 3, T0 + 500);
  load_tweet(34, 3, T0 + 400);
  model_load_end(m);
}

static void truncated_author_answers_only_above_its_oldest_tweet(void **state) {
  (void)state;
  start(4, 0);
  load_truncated();
  tweet_page_t p;
  /* 1 follows 2 and 3; 2 is truncated below at least 13. */
  assert_true(feed(1, NULL, 3, &p));
  ASSERT_IDS(&p, 32, 31, 20);
  assert_next_is_last(&p);
  page_cursor_t next = p.next;
  page_done(&p);
  assert_true(feed(1, &next, 1, &p));
  ASSERT_IDS(&p, 19);
  assert_next_is_last(&p);
  page_done(&p);

  /* Pages that need tweets of 2 older than it holds (at most 8). */
  assert_feed_declined(1, NULL, 11);
  assert_feed_declined(1, NULL, TWEET_PAGE_MAX);
  assert_feed_declined(1, &next, 20);
  page_cursor_t c = cursor_at(12, T0 + 1012);
  assert_feed_declined(1, &c, 1);
  /* 33 and 34 (complete author 3) are older than what 2 holds: a page
   * that would show them also needs 2's unknown tweets, even when the
   * page is full and 34 is there to decide `next`. */
  c = cursor_at(13, T0 + 1013);
  assert_feed_declined(1, &c, 1);
  assert_feed_declined(1, &c, 2);
  c = cursor_at(1, T0 + 1001);
  assert_feed_declined(1, &c, 1);
  assert_feed_declined(1, &c, 5);

  /* 5 follows only 3, whose list is complete: to the end. */
  const uint32_t want[] = {32, 31, 33, 34};
  walk(5, 1, want, 4);
  walk(5, 3, want, 4);
  walk(5, TWEET_PAGE_MAX, want, 4);

  /* 2's own feed is its truncated list. */
  EXPECT_FEED(2, NULL, 2, 20, 19);
  assert_feed_declined(2, NULL, TWEET_PAGE_MAX);
}

static void trimming_by_events_truncates_a_list(void **state) {
  (void)state;
  start(4, 0);
  model_load_begin(m);
  for (uint32_t u = 1; u <= 3; u++) {
    load_user(u);
  }
  load_follow(1, 2);
  load_tweet(1, 2, T0 + 1);
  load_tweet(2, 2, T0 + 2);
  load_tweet(100, 3, T0 + 1);
  model_load_end(m);

  /* 2 has two tweets: complete. */
  const uint32_t two[] = {2, 1};
  walk(1, TWEET_PAGE_MAX, two, 2);

  /* 3 gets two more (four in all, not over per_author): still
   * complete. */
  apply_created(101, 3, T0 + 2);
  apply_created(102, 3, T0 + 3);
  const uint32_t three[] = {102, 101, 100};
  walk(3, TWEET_PAGE_MAX, three, 3);
  walk(3, 1, three, 3);

  /* 2 gets 20 more: the list must have dropped its oldest. */
  for (uint32_t n = 3; n <= 22; n++) {
    apply_created(n, 2, T0 + n);
  }
  tweet_page_t p;
  assert_true(feed(1, NULL, 3, &p));
  ASSERT_IDS(&p, 22, 21, 20);
  assert_next_is_last(&p);
  page_done(&p);
  assert_feed_declined(1, NULL, TWEET_PAGE_MAX);
  page_cursor_t c = cursor_at(3, T0 + 3);
  assert_feed_declined(1, &c, 1);
}

/* A tweet.created of an old tweet (e.g. replayed after the author posted
 * many more) must not make a truncated list look complete down to it. */
static void old_tweet_created_does_not_fill_a_truncated_gap(void **state) {
  (void)state;
  start(4, 4); /* a small ring too: it does not keep the old records */
  load_truncated();
  apply_created(5, 2, T0 + 1005);
  apply_created(4, 2, T0 + 1004);
  tweet_page_t p;
  if (feed(2, NULL, 5, &p)) {
    ASSERT_IDS(&p, 20, 19, 18, 17, 16);
  }
  page_done(&p);
  page_cursor_t c = cursor_at(12, T0 + 1012);
  if (feed(2, &c, 1, &p)) {
    ASSERT_IDS(&p, 11);
  }
  page_done(&p);
  assert_feed_declined(2, NULL, TWEET_PAGE_MAX);

  /* The same through a load: the author posts 30 tweets while the
   * database is read; the snapshot has all of them. */
  model_load_begin(m);
  for (uint32_t n = 101; n <= 130; n++) {
    apply_created(n, 4, T0 + n);
  }
  load_user(4);
  for (uint32_t n = 101; n <= 130; n++) {
    load_tweet(n, 4, T0 + n);
  }
  model_load_end(m);
  for (size_t limit = 1; limit <= 12; limit++) {
    bool ok = feed(4, NULL, limit, &p);
    if (ok) {
      for (size_t i = 0; i < p.n; i++) {
        assert_int_equal(num_of(&p.items[i].id), 130 - i);
      }
      assert_int_equal(p.n, limit);
    }
    page_done(&p);
  }
  assert_feed_declined(4, NULL, TWEET_PAGE_MAX);
}

static void truncated_list_that_lost_all_it_held_declines(void **state) {
  (void)state;
  start(4, 0);
  load_truncated();
  for (uint32_t n = 20; n >= 13; n--) {
    apply_deleted(n);
  }
  /* 2's newest tweet is now 12 or older, which the model never held. */
  expect_first_or_declined(true, 2, 12);
  assert_feed_declined(2, NULL, TWEET_PAGE_MAX);
  assert_feed_declined(1, NULL, TWEET_PAGE_MAX);
  /* The feed of 1 starts with 3's two newer tweets: answering that
   * page is allowed (not required), and then it must be exact. */
  tweet_page_t p;
  if (feed(1, NULL, 1, &p)) {
    ASSERT_IDS(&p, 32);
    assert_next_is_last(&p);
  }
  page_done(&p);
}

/* ------------------------------------------------------------------ */
/* events                                                              */
/* ------------------------------------------------------------------ */

/* Users 1..3; 1 follows 2; tweets 1 (by 2) and 2 (by 3). */
static void load_small(void) {
  model_load_begin(m);
  for (uint32_t u = 1; u <= 3; u++) {
    load_user(u);
  }
  load_follow(1, 2);
  load_tweet(1, 2, T0 + 10);
  load_tweet(2, 3, T0 + 20);
  model_load_end(m);
}

static void
created_event_shows_in_feeds_of_followers_and_timeline(void **state) {
  (void)state;
  start(0, 0);
  load_small();
  apply_created(3, 2, T0 + 30);
  apply_created(4, 3, T0 + 40);
  tweet_page_t p;
  assert_true(feed(1, NULL, 10, &p));
  ASSERT_IDS(&p, 3, 1);
  assert_author(&p.items[0], "user2", "User 2");
  assert_string_equal(p.items[0].text, "tweet 3");
  page_done(&p);
  EXPECT_FEED(2, NULL, 10, 3, 1);
  EXPECT_FEED(3, NULL, 10, 4, 2);
  EXPECT_TIMELINE(0, NULL, 10, 4, 3, 2, 1);

  /* An event for an older tweet lands in its place in the order. */
  apply_created(5, 2, T0 + 15);
  EXPECT_FEED(1, NULL, 10, 3, 5, 1);
}

static void updated_event_replaces_only_with_a_newer_version(void **state) {
  (void)state;
  start_pair();
  tweet_t t = make_tweet(1, 2, T0 + 10);
  t.version = 2;
  t.like_count = 1;
  snprintf(t.text, sizeof t.text, "two");
  model_load_tweet(m, &t);
  model_load_end(m);

  t.version = 3;
  t.like_count = 5;
  t.reply_count = 2;
  t.edited_at_ms = T0 + 11;
  snprintf(t.text, sizeof t.text, "three");
  apply_tweet("tweet.updated", &t);
  tweet_page_t p;
  assert_true(feed(1, NULL, 10, &p));
  ASSERT_IDS(&p, 1);
  assert_string_equal(p.items[0].text, "three");
  assert_int_equal(p.items[0].version, 3);
  assert_int_equal(p.items[0].like_count, 5);
  assert_int_equal(p.items[0].reply_count, 2);
  assert_true(p.items[0].edited_at_ms == T0 + 11);
  page_done(&p);

  /* Older versions are ignored, by tweet.updated and tweet.created. */
  tweet_t old = t;
  old.version = 1;
  old.like_count = 0;
  old.reply_count = 0;
  old.edited_at_ms = 0;
  snprintf(old.text, sizeof old.text, "one");
  apply_tweet("tweet.updated", &old);
  apply_tweet("tweet.created", &old);
  old.version = 2;
  apply_tweet("tweet.updated", &old);
  assert_true(timeline(0, NULL, 10, &p));
  ASSERT_IDS(&p, 1);
  assert_string_equal(p.items[0].text, "three");
  assert_int_equal(p.items[0].version, 3);
  assert_int_equal(p.items[0].like_count, 5);
  assert_int_equal(p.items[0].reply_count, 2);
  page_done(&p);

  /* A much newer version still applies. */
  t.version = 40;
  t.like_count = 0;
  snprintf(t.text, sizeof t.text, "forty");
  apply_tweet("tweet.updated", &t);
  assert_true(timeline(0, NULL, 10, &p));
  assert_string_equal(p.items[0].text, "forty");
  assert_int_equal(p.items[0].like_count, 0);
  page_done(&p);
}

static void updated_event_of_an_unknown_tweet_creates_nothing(void **state) {
  (void)state;
  start(0, 0);
  load_small();
  tweet_t t = make_tweet(9, 2, T0 + 90);
  t.version = 2;
  apply_tweet("tweet.updated", &t);
  EXPECT_FEED(1, NULL, 10, 1);
  EXPECT_TIMELINE(0, NULL, 10, 2, 1);
  model_stats_t st;
  model_get_stats(m, &st);
  assert_int_equal(st.tweets, 2);
}

static void deleted_event_removes_a_tweet_for_good(void **state) {
  (void)state;
  start(0, 0);
  load_small();
  apply_created(3, 2, T0 + 30);
  apply_deleted(1);
  apply_deleted(3);
  tweet_page_t p;
  assert_true(feed(1, NULL, 10, &p));
  assert_int_equal(p.n, 0);
  assert_false(p.has_next);
  page_done(&p);
  EXPECT_TIMELINE(0, NULL, 10, 2);
  model_stats_t st;
  model_get_stats(m, &st);
  assert_int_equal(st.tweets, 1);

  /* Late or replayed events for them do not bring them back. */
  tweet_t t = make_tweet(1, 2, T0 + 10);
  apply_tweet("tweet.created", &t);
  t.version = 7;
  apply_tweet("tweet.updated", &t);
  apply_tweet("tweet.created", &t);
  apply_created(3, 2, T0 + 30);
  EXPECT_TIMELINE(0, NULL, 10, 2);
  assert_true(feed(1, NULL, 10, &p));
  assert_int_equal(p.n, 0);
  page_done(&p);

  /* Deleting what is not there is harmless. */
  apply_deleted(555);
  EXPECT_TIMELINE(0, NULL, 10, 2);
}

static void follow_events_change_the_feed(void **state) {
  (void)state;
  start(0, 0);
  load_small();
  tweet_page_t p;
  apply_follow(1, 3, true);
  EXPECT_FEED(1, NULL, 10, 2, 1);
  apply_follow(1, 2, false);
  EXPECT_FEED(1, NULL, 10, 2);
  apply_follow(1, 3, false);
  assert_true(feed(1, NULL, 10, &p));
  assert_int_equal(p.n, 0);
  page_done(&p);
  /* Unfollowing someone not followed changes nothing. */
  apply_follow(1, 2, false);
  assert_true(feed(1, NULL, 10, &p));
  assert_int_equal(p.n, 0);
  page_done(&p);
  /* A follow by someone else does not touch 1's feed; new tweets of a
   * followee show up. */
  apply_follow(2, 3, true);
  apply_follow(1, 2, true);
  apply_created(3, 2, T0 + 30);
  EXPECT_FEED(1, NULL, 10, 3, 1);
  EXPECT_FEED(2, NULL, 10, 3, 2, 1);
}

static void like_events_change_liked_by_me(void **state) {
  (void)state;
  start(0, 0);
  load_small();
  tweet_page_t p;
  apply_like(1, 1, true);
  assert_true(feed(1, NULL, 10, &p));
  ASSERT_IDS(&p, 1);
  assert_true(p.items[0].liked_by_me);
  page_done(&p);
  assert_true(feed(2, NULL, 10, &p));
  assert_false(p.items[0].liked_by_me);
  page_done(&p);
  apply_like(1, 1, false);
  assert_true(feed(1, NULL, 10, &p));
  assert_false(p.items[0].liked_by_me);
  page_done(&p);
  /* Liking a new tweet, and one the model does not hold. */
  apply_created(3, 2, T0 + 30);
  apply_like(1, 3, true);
  apply_like(1, 999, true);
  assert_true(feed(1, NULL, 10, &p));
  ASSERT_IDS(&p, 3, 1);
  assert_true(p.items[0].liked_by_me);
  assert_false(p.items[1].liked_by_me);
  page_done(&p);
}

/* A copy of doc with the value of key `victim` replaced by one of
 * another type. */
static void mutate(const bson_t *doc, const char *victim, bson_t *out) {
  bson_init(out);
  bson_iter_t it;
  assert_true(bson_iter_init(&it, doc));
  while (bson_iter_next(&it)) {
    const char *k = bson_iter_key(&it);
    if (strcmp(k, victim) != 0) {
      assert_true(bson_append_iter(out, k, -1, &it));
    } else if (BSON_ITER_HOLDS_UTF8(&it)) {
      BSON_APPEND_INT32(out, k, 7);
    } else {
      BSON_APPEND_UTF8(out, k, "x");
    }
  }
}

/* Whether the value at it is, or (a document) contains, one of ids or
 * the time ts. */
static bool holds_essential(bson_iter_t *it, const bson_oid_t *ids,
                            size_t n_ids, int64_t ts, bool bools) {
  if (BSON_ITER_HOLDS_OID(it)) {
    for (size_t i = 0; i < n_ids; i++) {
      if (bson_oid_equal(bson_iter_oid(it), &ids[i])) {
        return true;
      }
    }
    return false;
  }
  if (BSON_ITER_HOLDS_DATE_TIME(it)) {
    return ts && bson_iter_date_time(it) == ts;
  }
  if (BSON_ITER_HOLDS_INT64(it)) {
    return ts && bson_iter_int64(it) == ts;
  }
  if (BSON_ITER_HOLDS_BOOL(it)) {
    return bools;
  }
  if (BSON_ITER_HOLDS_DOCUMENT(it)) {
    bson_iter_t child;
    if (bson_iter_recurse(it, &child)) {
      while (bson_iter_next(&child)) {
        if (holds_essential(&child, ids, n_ids, ts, bools)) {
          return true;
        }
      }
    }
  }
  return false;
}

/* Applies payload with the value of its key number `index` of the
 * wrong type; when that key holds an essential value (see
 * holds_essential) the event must change nothing. */
static void apply_mutant(const char *type, const bson_t *payload,
                         uint32_t index, const bson_oid_t *ids, size_t n_ids,
                         int64_t ts, bool bools) {
  bson_iter_t it;
  assert_true(bson_iter_init(&it, payload));
  for (uint32_t i = 0; i <= index; i++) {
    assert_true(bson_iter_next(&it));
  }
  bool essential = holds_essential(&it, ids, n_ids, ts, bools);
  bson_t bad;
  mutate(payload, bson_iter_key(&it), &bad);
  snapshot_t before, after;
  take(&before);
  model_apply(m, type, &bad);
  take(&after);
  if (essential) {
    char what[128];
    snprintf(what, sizeof what, "%s with a bad \"%s\"", type,
             bson_iter_key(&it));
    assert_same_snapshot(&before, &after, what);
  }
  drop(&before);
  drop(&after);
  bson_destroy(&bad);
}

static void apply_mutants(const char *type, const bson_t *payload,
                          const bson_oid_t *ids, size_t n_ids, int64_t ts,
                          bool bools) {
  uint32_t n = bson_count_keys(payload);
  assert_true(n > 0);
  for (uint32_t i = 0; i < n; i++) {
    apply_mutant(type, payload, i, ids, n_ids, ts, bools);
  }
}

static void unknown_and_malformed_events_are_ignored(void **state) {
  (void)state;
  start(0, 0);
  load_small();
  apply_like(1, 1, true);
  snapshot_t base, now;
  take(&base);
  assert_true(base.feed_ok && base.timeline_ok);

  tweet_t t = make_tweet(10, 2, T0 + 100);
  bson_t tweet_p = BSON_INITIALIZER;
  event_model_tweet(&tweet_p, &t);
  bson_oid_t user2 = uid(2), user1 = uid(1), tweet1 = tid(1);
  bson_t follow_p = BSON_INITIALIZER;
  event_model_follow(&follow_p, &user1, &user2, false);
  bson_t like_p = BSON_INITIALIZER;
  event_model_like(&like_p, &user1, &tweet1, false);
  bson_t deleted_p = BSON_INITIALIZER;
  event_model_tweet_deleted(&deleted_p, &tweet1);
  user_name_t renamed = name_of(2);
  snprintf(renamed.display_name, sizeof renamed.display_name, "Other");
  bson_t user_p = BSON_INITIALIZER;
  event_model_user(&user_p, &renamed);
  bson_t empty = BSON_INITIALIZER;

  /* Unknown types, with payloads that would mean something. */
  model_apply(m, "tweet.exploded", &tweet_p);
  model_apply(m, "", &tweet_p);
  model_apply(m, "tweet", &deleted_p);
  model_apply(m, "follows", &follow_p);
  take(&now);
  assert_same_snapshot(&base, &now, "an unknown type");
  drop(&now);

  /* Empty payloads. */
  const char *types[] = {"tweet.created", "tweet.updated", "tweet.deleted",
                         "follow",        "like",          "user.updated"};
  for (size_t i = 0; i < sizeof types / sizeof types[0]; i++) {
    model_apply(m, types[i], &empty);
  }
  model_apply(m, "session.ended", &empty);
  take(&now);
  assert_same_snapshot(&base, &now, "an empty payload");
  drop(&now);

  /* A payload of another type. */
  model_apply(m, "tweet.created", &follow_p);
  model_apply(m, "tweet.created", &like_p);
  model_apply(m, "tweet.deleted", &user_p);
  model_apply(m, "follow", &tweet_p);
  model_apply(m, "like", &deleted_p);
  model_apply(m, "user.updated", &deleted_p);
  take(&now);
  assert_same_snapshot(&base, &now, "a payload of another type");
  drop(&now);

  /* One field of the wrong type.  Each tweet.created mutant is of a
   * tweet of its own, so that one applied leniently cannot hide the
   * next; a tweet.updated of tweet 1 must not apply without its id. */
  uint32_t n_keys = bson_count_keys(&tweet_p);
  assert_true(n_keys > 0);
  for (uint32_t i = 0; i < n_keys; i++) {
    tweet_t ti = make_tweet(200 + i, 2, T0 + 100 + i);
    bson_t pi = BSON_INITIALIZER;
    event_model_tweet(&pi, &ti);
    const bson_oid_t ids[] = {ti.id, user2};
    apply_mutant("tweet.created", &pi, i, ids, 2, ti.created_at_ms, false);
    bson_destroy(&pi);

    tweet_t ui = make_tweet(1, 2, T0 + 10);
    ui.version = 2 + i;
    snprintf(ui.text, sizeof ui.text, "mutant %u", (unsigned)i);
    bson_init(&pi);
    event_model_tweet(&pi, &ui);
    apply_mutant("tweet.updated", &pi, i, &tweet1, 1, 0, false);
    bson_destroy(&pi);
  }
  const bson_oid_t follow_ids[] = {user1, user2};
  apply_mutants("follow", &follow_p, follow_ids, 2, 0, true);
  const bson_oid_t like_ids[] = {user1, tweet1};
  apply_mutants("like", &like_p, like_ids, 2, 0, true);
  apply_mutants("tweet.deleted", &deleted_p, &tweet1, 1, 0, false);
  apply_mutants("user.updated", &user_p, &user2, 1, 0, false);
  char sid[SESSION_ID_LEN + 1];
  session_id(1, sid);
  bson_t session_p = BSON_INITIALIZER;
  event_model_session_ended(&session_p, sid);
  apply_mutants("session.ended", &session_p, NULL, 0, 0, false);

  /* The model still works. */
  user_name_t two = name_of(2);
  apply_user(&two);
  apply_created(11, 2, T0 + 10000);
  EXPECT_FEED(1, NULL, 1, 11);

  bson_destroy(&tweet_p);
  bson_destroy(&follow_p);
  bson_destroy(&like_p);
  bson_destroy(&deleted_p);
  bson_destroy(&user_p);
  bson_destroy(&session_p);
  bson_destroy(&empty);
  drop(&base);
}

static void payloads_are_documents_of_their_fields(void **state) {
  (void)state;
  /* Each payload function appends something to out, and keeps what out
   * already held. */
  tweet_t t = make_tweet(1, 2, T0);
  bson_oid_t a = uid(1), b = uid(2), id = tid(1);
  user_name_t u = name_of(1);
  char sid[SESSION_ID_LEN + 1];
  session_id(3, sid);
  for (int kind = 0; kind < 6; kind++) {
    bson_t out = BSON_INITIALIZER;
    BSON_APPEND_UTF8(&out, "zz_before", "kept");
    switch (kind) {
    case 0:
      event_model_tweet(&out, &t);
      break;
    case 1:
      event_model_tweet_deleted(&out, &id);
      break;
    case 2:
      event_model_follow(&out, &a, &b, true);
      break;
    case 3:
      event_model_like(&out, &a, &id, false);
      break;
    case 4:
      event_model_user(&out, &u);
      break;
    default:
      event_model_session_ended(&out, sid);
      break;
    }
    assert_true(bson_count_keys(&out) > 1);
    bson_iter_t it;
    assert_true(bson_iter_init_find(&it, &out, "zz_before"));
    assert_string_equal(bson_iter_utf8(&it, NULL), "kept");
    bson_destroy(&out);
  }
}

/* ------------------------------------------------------------------ */
/* events during a load                                                */
/* ------------------------------------------------------------------ */

static void events_during_a_load_are_replayed_over_the_snapshot(void **state) {
  (void)state;
  start(0, 0);
  model_load_begin(m);
  /* Events that commit while the database is being read. */
  apply_created(1, 2, T0 + 10); /* not in the snapshot */
  tweet_t two = make_tweet(2, 2, T0 + 20);
  two.version = 2;
  snprintf(two.text, sizeof two.text, "new");
  apply_tweet("tweet.updated", &two); /* snapshot has version 1 */
  tweet_t three = make_tweet(3, 2, T0 + 30);
  three.version = 2;
  snprintf(three.text, sizeof three.text, "older event");
  apply_tweet("tweet.updated", &three); /* snapshot has version 3 */
  apply_deleted(4);                     /* snapshot still has it */
  apply_follow(1, 3, false);            /* snapshot still has it */
  apply_follow(1, 4, true);             /* snapshot does not */
  apply_like(1, 5, false);              /* snapshot still has it */
  apply_like(1, 6, true);               /* snapshot does not */
  user_name_t renamed = name_of(2);
  snprintf(renamed.display_name, sizeof renamed.display_name, "Renamed");
  apply_created(7, 2, T0 + 70); /* snapshot has it too */
  apply_user(&renamed);         /* snapshot has the old name */
  assert_false(ready());
  assert_feed_declined(1, NULL, 10);

  for (uint32_t u = 1; u <= 4; u++) {
    load_user(u);
  }
  load_follow(1, 2);
  load_follow(1, 3);
  two.version = 1;
  snprintf(two.text, sizeof two.text, "old");
  model_load_tweet(m, &two);
  three.version = 3;
  snprintf(three.text, sizeof three.text, "snapshot");
  model_load_tweet(m, &three);
  load_tweet(4, 2, T0 + 40);
  load_tweet(5, 2, T0 + 50);
  load_tweet(6, 2, T0 + 60);
  load_tweet(7, 2, T0 + 70);
  load_tweet(8, 3, T0 + 80);
  load_tweet(9, 4, T0 + 90);
  load_like(1, 5);
  model_load_end(m);
  assert_true(ready());

  tweet_page_t p;
  assert_true(feed(1, NULL, 20, &p));
  /* 8 (by 3, unfollowed) is out, 9 (by 4, followed) in, 4 deleted. */
  ASSERT_IDS(&p, 9, 7, 6, 5, 3, 2, 1);
  assert_string_equal(find_item(&p, 2)->text, "new");
  assert_int_equal(find_item(&p, 2)->version, 2);
  assert_string_equal(find_item(&p, 3)->text, "snapshot");
  assert_int_equal(find_item(&p, 3)->version, 3);
  assert_false(find_item(&p, 5)->liked_by_me);
  assert_true(find_item(&p, 6)->liked_by_me);
  assert_author(find_item(&p, 1), "user2", "Renamed");
  assert_author(find_item(&p, 5), "user2", "Renamed");
  page_done(&p);
  EXPECT_TIMELINE(0, NULL, 20, 9, 8, 7, 6, 5, 3, 2, 1);

  /* The deleted tweet stays deleted for events after the load too. */
  apply_created(4, 2, T0 + 40);
  assert_true(timeline(0, NULL, 20, &p));
  assert_null(find_item(&p, 4));
  page_done(&p);
}

static void created_then_deleted_during_a_load(void **state) {
  (void)state;
  start(0, 0);
  model_load_begin(m);
  apply_created(1, 1, T0 + 10);
  apply_created(2, 1, T0 + 20);
  apply_deleted(1);
  load_user(1);
  load_tweet(2, 1, T0 + 20); /* the snapshot was read in between */
  model_load_end(m);
  EXPECT_TIMELINE(0, NULL, 10, 2);
}

/* ------------------------------------------------------------------ */
/* idempotence                                                         */
/* ------------------------------------------------------------------ */

static void applying_an_event_twice_changes_nothing_more(void **state) {
  (void)state;
  start(0, 0);
  load_small();
  snapshot_t once, twice;
  tweet_t t3 = make_tweet(3, 2, T0 + 30);
  tweet_t t1 = make_tweet(1, 2, T0 + 10);
  t1.version = 2;
  t1.like_count = 1;
  snprintf(t1.text, sizeof t1.text, "edited");
  user_name_t renamed = name_of(3);
  snprintf(renamed.username, sizeof renamed.username, "three");

  for (int step = 0; step < 9; step++) {
    for (int k = 0; k < 2; k++) {
      switch (step) {
      case 0:
        apply_tweet("tweet.created", &t3);
        break;
      case 1:
        apply_tweet("tweet.updated", &t1);
        break;
      case 2:
        apply_like(1, 1, true);
        break;
      case 3:
        apply_follow(1, 3, true);
        break;
      case 4:
        apply_user(&renamed);
        break;
      case 5:
        apply_like(1, 1, false);
        break;
      case 6:
        apply_follow(1, 3, false);
        break;
      case 7:
        apply_deleted(3);
        break;
      default:
        apply_created(4, 1, T0 + 40);
        break;
      }
      take(k == 0 ? &once : &twice);
    }
    char what[64];
    snprintf(what, sizeof what, "the second application of step %d", step);
    assert_same_snapshot(&once, &twice, what);
    drop(&once);
    drop(&twice);
  }

  /* And the end state is the expected one. */
  tweet_page_t p;
  assert_true(feed(1, NULL, 10, &p));
  ASSERT_IDS(&p, 4, 1);
  assert_string_equal(p.items[1].text, "edited");
  assert_false(p.items[1].liked_by_me);
  page_done(&p);
  assert_true(timeline(0, NULL, 10, &p));
  ASSERT_IDS(&p, 4, 2, 1);
  assert_author(&p.items[1], "three", "User 3");
  page_done(&p);
}

/* ------------------------------------------------------------------ */
/* sessions                                                            */
/* ------------------------------------------------------------------ */

static void session_cache_basics(void) {
  char s1[SESSION_ID_LEN + 1], s2[SESSION_ID_LEN + 1];
  session_id(1, s1);
  session_id(2, s2);
  bson_oid_t u1 = uid(1), u2 = uid(2), got;

  assert_false(model_session_get(m, s1, T0, &got));
  model_session_put(m, s1, &u1, T0 + 1000, model_session_epoch(m));
  model_session_put(m, s2, &u2, T0 + 2000, model_session_epoch(m));
  memset(&got, 0, sizeof got);
  assert_true(model_session_get(m, s1, T0, &got));
  assert_true(bson_oid_equal(&got, &u1));
  assert_true(model_session_get(m, s2, T0 + 1500, &got));
  assert_true(bson_oid_equal(&got, &u2));

  /* Expiry: a hit until the instant it expires. */
  assert_true(model_session_get(m, s1, T0 + 999, &got));
  assert_false(model_session_get(m, s1, T0 + 1000, &got));
  assert_false(model_session_get(m, s1, T0 + 5000, &got));

  /* session.ended evicts that session only. */
  model_session_put(m, s1, &u1, T0 + 1000, model_session_epoch(m));
  apply_session_ended(s1);
  assert_false(model_session_get(m, s1, T0, &got));
  assert_true(model_session_get(m, s2, T0, &got));
  assert_true(bson_oid_equal(&got, &u2));
}

static void sessions_work_before_any_load(void **state) {
  (void)state;
  start(0, 0);
  session_cache_basics();
}

static void sessions_work_during_a_load(void **state) {
  (void)state;
  start(0, 0);
  model_load_begin(m);
  session_cache_basics();
  model_load_end(m);
}

static void sessions_work_when_ready(void **state) {
  (void)state;
  start(0, 0);
  load_small();
  session_cache_basics();
}

static void unknown_session_misses(void **state) {
  (void)state;
  start(0, 0);
  load_small();
  char s1[SESSION_ID_LEN + 1], s2[SESSION_ID_LEN + 1];
  session_id(1, s1);
  session_id(2, s2);
  bson_oid_t u1 = uid(1), got;
  assert_false(model_session_get(m, s1, T0, &got));
  model_session_put(m, s1, &u1, T0 + 1000, model_session_epoch(m));
  assert_false(model_session_get(m, s2, T0, &got));
  /* A session.ended for a session that is not cached is harmless. */
  apply_session_ended(s2);
  assert_true(model_session_get(m, s1, T0, &got));
}

static void put_with_an_epoch_older_than_an_end_is_ignored(void **state) {
  (void)state;
  start(0, 0);
  load_small();
  char s1[SESSION_ID_LEN + 1], s9[SESSION_ID_LEN + 1];
  session_id(1, s1);
  session_id(9, s9);
  bson_oid_t u1 = uid(1), got;

  /* The lookup raced the logout of that very session. */
  uint64_t epoch = model_session_epoch(m);
  apply_session_ended(s1);
  model_session_put(m, s1, &u1, T0 + 1000, epoch);
  assert_false(model_session_get(m, s1, T0, &got));

  /* Of any session. */
  epoch = model_session_epoch(m);
  apply_session_ended(s9);
  model_session_put(m, s1, &u1, T0 + 1000, epoch);
  assert_false(model_session_get(m, s1, T0, &got));

  /* An epoch taken after the end: cached. */
  epoch = model_session_epoch(m);
  model_session_put(m, s1, &u1, T0 + 1000, epoch);
  assert_true(model_session_get(m, s1, T0, &got));
  assert_true(bson_oid_equal(&got, &u1));

  /* The same within a load (model not ready). */
  model_load_begin(m);
  epoch = model_session_epoch(m);
  apply_session_ended(s1);
  char s7[SESSION_ID_LEN + 1];
  session_id(7, s7);
  model_session_put(m, s7, &u1, T0 + 1000, epoch);
  assert_false(model_session_get(m, s7, T0, &got));
  assert_false(model_session_get(m, s1, T0, &got));
  model_load_end(m);
}

static void an_ending_by_account_keeps_one_session(void **state) {
  (void)state;
  start(0, 0);
  load_small();
  char sid[6][SESSION_ID_LEN + 1];
  for (uint32_t i = 0; i < 6; i++) {
    session_id(100 + i, sid[i]);
  }
  /* Sessions 0-3 are user 1's, 4-5 user 2's; many others around them, so
   * that the walk meets deletions in every part of the table. */
  bson_oid_t u1 = uid(1), u2 = uid(2), got;
  for (uint32_t i = 0; i < 6; i++) {
    model_session_put(m, sid[i], i < 4 ? &u1 : &u2, T0 + 1000,
                      model_session_epoch(m));
  }
  for (uint32_t i = 0; i < 200; i++) {
    char other[SESSION_ID_LEN + 1];
    session_id(1000 + i, other);
    model_session_put(m, other, i % 2 ? &u1 : &u2, T0 + 1000,
                      model_session_epoch(m));
  }
  uint64_t epoch = model_session_epoch(m);
  bson_t p = BSON_INITIALIZER;
  event_model_sessions_ended_for_user(&p, &u1, sid[2]);
  model_apply(m, "session.ended", &p);
  assert_true(model_session_epoch(m) > epoch);
  for (uint32_t i = 0; i < 6; i++) {
    assert_int_equal(model_session_get(m, sid[i], T0, &got), i == 2 || i >= 4);
  }
  for (uint32_t i = 0; i < 200; i++) {
    char other[SESSION_ID_LEN + 1];
    session_id(1000 + i, other);
    assert_int_equal(model_session_get(m, other, T0, &got), i % 2 == 0);
  }
  model_stats_t st;
  model_get_stats(m, &st);
  assert_int_equal(st.sessions, 3 + 100);
  /* All of them. */
  bson_reinit(&p);
  event_model_sessions_ended_for_user(&p, &u1, NULL);
  model_apply(m, "session.ended", &p);
  assert_false(model_session_get(m, sid[2], T0, &got));
  assert_true(model_session_get(m, sid[4], T0, &got));
  bson_destroy(&p);
}

static void session_count_in_stats(void **state) {
  (void)state;
  start(0, 0);
  char s1[SESSION_ID_LEN + 1];
  session_id(1, s1);
  bson_oid_t u1 = uid(1);
  model_stats_t st;
  model_get_stats(m, &st);
  assert_int_equal(st.sessions, 0);
  model_session_put(m, s1, &u1, T0 + 1000, model_session_epoch(m));
  model_get_stats(m, &st);
  assert_int_equal(st.sessions, 1);
  /* Putting the same session again does not count it twice. */
  model_session_put(m, s1, &u1, T0 + 1000, model_session_epoch(m));
  model_get_stats(m, &st);
  assert_int_equal(st.sessions, 1);
  apply_session_ended(s1);
  model_get_stats(m, &st);
  assert_int_equal(st.sessions, 0);
}

/* ------------------------------------------------------------------ */
/* limits                                                              */
/* ------------------------------------------------------------------ */

static void feed_of_more_than_the_followee_limit_declines(void **state) {
  (void)state;
  start(0, 0);
  /* 1 follows 2 .. FOLLOWS_FEED_MAX + 1: exactly the limit. */
  model_load_begin(m);
  for (uint32_t u = 1; u <= FOLLOWS_FEED_MAX + 3; u++) {
    load_user(u);
  }
  for (uint32_t u = 2; u <= FOLLOWS_FEED_MAX + 1; u++) {
    load_follow(1, u);
  }
  load_tweet(1, 2, T0 + 1);
  load_tweet(2, FOLLOWS_FEED_MAX + 1, T0 + 2);
  load_tweet(3, FOLLOWS_FEED_MAX + 2, T0 + 3);
  model_load_end(m);

  EXPECT_FEED(1, NULL, 10, 2, 1);

  apply_follow(1, FOLLOWS_FEED_MAX + 2, true);
  assert_feed_declined(1, NULL, 10);
  /* Others' feeds are unaffected. */
  EXPECT_FEED(2, NULL, 10, 1);
  apply_follow(1, FOLLOWS_FEED_MAX + 3, true);
  assert_feed_declined(1, NULL, 10);
  apply_follow(1, FOLLOWS_FEED_MAX + 3, false);
  apply_follow(1, 3, false);
  EXPECT_FEED(1, NULL, 10, 3, 2, 1);

  /* Loaded over the limit. */
  model_load_begin(m);
  for (uint32_t u = 1; u <= FOLLOWS_FEED_MAX + 2; u++) {
    load_user(u);
  }
  for (uint32_t u = 2; u <= FOLLOWS_FEED_MAX + 2; u++) {
    load_follow(1, u);
  }
  load_tweet(1, 2, T0 + 1);
  model_load_end(m);
  assert_feed_declined(1, NULL, 10);
  EXPECT_TIMELINE(1, NULL, 10, 1);
}

static void pages_with_an_author_of_no_known_name_decline(void **state) {
  (void)state;
  start_pair();
  load_follow(1, 9);
  tweet_t t = make_tweet(1, 9, T0 + 10);
  memset(t.author.username, 0, sizeof t.author.username);
  memset(t.author.display_name, 0, sizeof t.author.display_name);
  model_load_tweet(m, &t);
  load_tweet(2, 2, T0 + 20);
  model_load_end(m);

  assert_feed_declined(1, NULL, 10);
  assert_timeline_declined(NULL, 10);
  page_cursor_t c = cursor_at(2, T0 + 20);
  assert_feed_declined(1, &c, 10);
  /* 2's feed does not contain it. */
  tweet_page_t p;
  EXPECT_FEED(2, NULL, 10, 2);

  /* A tweet.created of 9 carries its names. */
  apply_created(3, 9, T0 + 30);
  assert_true(feed(1, NULL, 10, &p));
  ASSERT_IDS(&p, 3, 2, 1);
  assert_author(&p.items[0], "user9", "User 9");
  assert_author(&p.items[2], "user9", "User 9");
  page_done(&p);
  EXPECT_TIMELINE(0, NULL, 10, 3, 2, 1);
}

static void user_event_names_an_unknown_author(void **state) {
  (void)state;
  start(0, 0);
  model_load_begin(m);
  load_user(1);
  load_follow(1, 8);
  tweet_t t = make_tweet(1, 8, T0 + 10);
  memset(t.author.username, 0, sizeof t.author.username);
  memset(t.author.display_name, 0, sizeof t.author.display_name);
  model_load_tweet(m, &t);
  model_load_end(m);
  assert_feed_declined(1, NULL, 10);
  assert_timeline_declined(NULL, 10);

  user_name_t u = name_of(8);
  apply_user(&u);
  expect_feed_of_tweet_1("user8", "User 8");
}

/* Ends a load in which 1 follows author, whose tweet 1 is loaded as
 * tweets_scan reads it: the username of the tweet document, no display
 * name (names that model_load_tweet must not take). */
static void load_end_with_scanned_tweet_of(uint32_t author) {
  load_user(1);
  load_follow(1, author);
  tweet_t t = make_tweet(1, author, T0 + 10);
  t.author.display_name[0] = '\0';
  model_load_tweet(m, &t);
  model_load_end(m);
}

/* tweets_scan fills author.username from the tweet document (the name
 * at creation time) and no display name: model_load_tweet must not take
 * names from it (model.h: "names are not" used). */
static void load_tweet_does_not_name_its_author(void **state) {
  (void)state;
  start(0, 0);
  model_load_begin(m);
  load_end_with_scanned_tweet_of(9);
  /* 9 has no name from model_load_user nor from an event. */
  assert_feed_declined(1, NULL, 10);
  assert_timeline_declined(NULL, 10);
}

/* A user who registered after the loader read the users (so with no
 * model_load_user) and tweeted while the load ran: the queued
 * tweet.created carries the current names, which must be the ones
 * shown, not what the tweet document had. */
static void
queued_created_event_names_an_author_unknown_to_the_load(void **state) {
  (void)state;
  start(0, 0);
  model_load_begin(m);
  apply_created(1, 9, T0 + 10); /* names "user9", "User 9" */
  load_end_with_scanned_tweet_of(9);
  expect_feed_of_tweet_1("user9", "User 9");
}

/* ------------------------------------------------------------------ */
/* statistics                                                          */
/* ------------------------------------------------------------------ */

static void stats_follow_what_happens(void **state) {
  (void)state;
  start(0, 4);
  model_stats_t st, prev;
  model_get_stats(m, &st);
  assert_false(st.ready);
  assert_int_equal(st.loads, 0);
  assert_int_equal(st.tweets, 0);
  assert_int_equal(st.users, 0);

  model_load_begin(m);
  for (uint32_t u = 1; u <= 3; u++) {
    load_user(u);
  }
  load_follow(1, 2);
  for (uint32_t n = 1; n <= 5; n++) {
    load_tweet(n, 2 + n % 2, T0 + n);
  }
  model_load_end(m);
  model_get_stats(m, &st);
  assert_true(st.ready);
  assert_int_equal(st.loads, 1);
  assert_int_equal(st.tweets, 5);
  assert_int_equal(st.users, 3);

  prev = st;
  apply_created(6, 2, T0 + 6);
  model_get_stats(m, &st);
  assert_true(st.applied > prev.applied);
  assert_int_equal(st.tweets, 6);
  prev = st;
  apply_deleted(6);
  model_get_stats(m, &st);
  assert_true(st.applied > prev.applied);
  assert_int_equal(st.tweets, 5);

  tweet_page_t p;
  prev = st;
  assert_true(feed(1, NULL, 10, &p));
  page_done(&p);
  model_get_stats(m, &st);
  assert_int_equal(st.answered, prev.answered + 1);
  assert_int_equal(st.declined, prev.declined);
  prev = st;
  assert_true(timeline(0, NULL, 1, &p)); /* 5; then 4, the ring holds 3 */
  page_done(&p);
  model_get_stats(m, &st);
  assert_int_equal(st.answered, prev.answered + 1);

  /* The ring (4) holds 5..2: the whole timeline cannot be answered. */
  prev = st;
  assert_timeline_declined(NULL, TWEET_PAGE_MAX);
  model_get_stats(m, &st);
  assert_int_equal(st.declined, prev.declined + 1);
  assert_int_equal(st.answered, prev.answered);

  /* A new user, named by an event. */
  user_name_t u = name_of(4);
  apply_user(&u);
  model_get_stats(m, &st);
  assert_int_equal(st.users, 4);

  model_load_begin(m);
  load_user(1);
  model_load_end(m);
  model_get_stats(m, &st);
  assert_int_equal(st.loads, 2);
  assert_int_equal(st.tweets, 0);
  assert_int_equal(st.users, 1);
}

/* ------------------------------------------------------------------ */
/* concurrency                                                         */
/* ------------------------------------------------------------------ */

typedef struct reader {
  pthread_t thread;
  atomic_int pages;
  int bad;
} reader_t;

static atomic_bool readers_stop;

static bool newer(const tweet_t *a, const tweet_t *b) {
  return a->created_at_ms > b->created_at_ms ||
         (a->created_at_ms == b->created_at_ms &&
          bson_oid_compare(&a->id, &b->id) > 0);
}

static void *reader_main(void *arg) {
  reader_t *r = arg;
  bson_oid_t v = uid(1);
  while (!atomic_load(&readers_stop)) {
    tweet_page_t p;
    memset(&p, 0, sizeof p);
    bool ok = atomic_load(&r->pages) % 2 ? model_feed(m, &v, NULL, 50, &p)
                                         : model_timeline(m, &v, NULL, 50, &p);
    if (ok) {
      for (size_t i = 0; i < p.n; i++) {
        if (!p.items[i].author.username[0] ||
            (i > 0 && !newer(&p.items[i - 1], &p.items[i]))) {
          r->bad++;
        }
      }
      if (p.has_next &&
          (p.n == 0 || p.next.ts_ms != p.items[p.n - 1].created_at_ms)) {
        r->bad++;
      }
    } else if (p.n != 0) {
      r->bad++;
    }
    tweet_page_destroy(&p);
    if (atomic_load(&r->pages) % 16 == 0 && !model_check_invariants(m)) {
      r->bad++; /* they hold between any two calls, loads included */
    }
    atomic_fetch_add(&r->pages, 1);
    /* Leave the writer room: a reader-preferring lock would otherwise
     * let spinning readers hold it off for minutes. */
    nanosleep(&(struct timespec){.tv_nsec = 20000}, NULL);
  }
  return NULL;
}

static void readers_see_ordered_pages_while_events_apply(void **state) {
  (void)state;
  start(8, 32);
  load_small();
  atomic_store(&readers_stop, false);
  reader_t readers[3];
  for (size_t i = 0; i < 3; i++) {
    atomic_init(&readers[i].pages, 0);
    readers[i].bad = 0;
  }
  for (size_t i = 0; i < 3; i++) {
    assert_int_equal(
        pthread_create(&readers[i].thread, NULL, reader_main, &readers[i]), 0);
  }
  /* Start writing once every reader is reading. */
  for (size_t i = 0; i < 3; i++) {
    while (atomic_load(&readers[i].pages) == 0) {
      nanosleep(&(struct timespec){.tv_nsec = 100000}, NULL);
    }
  }
  char sid[SESSION_ID_LEN + 1];
  session_id(1, sid);
  bson_oid_t u1 = uid(1), got;
  for (uint32_t n = 100; n < 2100; n++) {
    apply_created(n, 2 + n % 2, T0 + n);
    if (n % 3 == 0) {
      apply_deleted(n - 50);
    }
    if (n % 7 == 0) {
      apply_follow(1, 3, n % 2 == 0);
      apply_like(1, n - 1, true);
    }
    if (n % 101 == 0) {
      user_name_t u = name_of(2);
      snprintf(u.display_name, sizeof u.display_name, "Two %u", (unsigned)n);
      apply_user(&u);
      model_session_put(m, sid, &u1, T0 + 1000, model_session_epoch(m));
      (void)model_session_get(m, sid, T0, &got);
      apply_session_ended(sid);
    }
    if (n == 1000) {
      /* A reload under the readers' feet. */
      model_load_begin(m);
      apply_created(5000, 2, T0 + 5000);
      for (uint32_t u = 1; u <= 3; u++) {
        load_user(u);
      }
      load_follow(1, 2);
      for (uint32_t k = 900; k < 1000; k++) {
        load_tweet(k, 2 + k % 2, T0 + k);
      }
      model_load_end(m);
    }
  }
  atomic_store(&readers_stop, true);
  for (size_t i = 0; i < 3; i++) {
    assert_int_equal(pthread_join(readers[i].thread, NULL), 0);
    assert_int_equal(readers[i].bad, 0);
  }

  /* The end state: the newest tweets, newest first. */
  EXPECT_TIMELINE(0, NULL, 3, 5000, 2099, 2098);
}

/* A like and an unlike of one pair published out of commit order: the
 * model holds the stale state until the pair's check settles it from the
 * database; a settlement taken before a newer event is dropped. */
static void racing_pair_events_settle_to_the_database(void **state) {
  (void)state;
  start_pair();
  load_tweet(1, 2, T0 + 10);
  model_load_end(m);
  apply_like(1, 1, true);  /* committed second, published first */
  apply_like(1, 1, false); /* committed first, published last */
  tweet_page_t p;
  assert_true(feed(1, NULL, 10, &p));
  assert_false(p.items[0].liked_by_me); /* stale until settled */
  page_done(&p);
  model_check_t checks[8];
  size_t n = model_take_checks(m, checks, 8);
  assert_int_equal(n, 2);
  assert_int_equal(model_take_checks(m, checks + n, 8), 0);
  for (size_t i = 0; i < n; i++) {
    assert_int_equal(checks[i].kind, MODEL_CHECK_LIKE);
    model_settle_check(m, &checks[i], true); /* the database has the like */
  }
  assert_true(feed(1, NULL, 10, &p));
  assert_true(p.items[0].liked_by_me);
  page_done(&p);

  /* An event after the check was taken wins over the settlement. */
  apply_follow(1, 2, false);
  n = model_take_checks(m, checks, 8);
  assert_int_equal(n, 1);
  assert_int_equal(checks[0].kind, MODEL_CHECK_FOLLOW);
  apply_follow(1, 2, false);
  model_settle_check(m, &checks[0], true); /* read before the new event */
  assert_true(feed(1, NULL, 10, &p));
  assert_int_equal(p.n, 0); /* still not following */
  page_done(&p);
  n = model_take_checks(m, checks, 8);
  assert_int_equal(n, 1);
  model_settle_check(m, &checks[0], false);
  assert_true(feed(1, NULL, 10, &p));
  assert_int_equal(p.n, 0);
  page_done(&p);
}

/* ------------------------------------------------------------------ */
/* reposts                                                             */
/* ------------------------------------------------------------------ */

static void load_repost(uint32_t user, uint32_t tweet, int64_t ts) {
  repost_t r;
  memset(&r, 0, sizeof r);
  r.user = uid(user);
  r.tweet = tid(tweet);
  reposts_id(&r.user, &r.tweet, &r.id);
  r.created_at_ms = ts;
  model_load_repost(m, &r);
}

/* A "repost" event: user reposted (or not) tweet at ts; state: the
 * tweet as the event carries it, or NULL. */
static void apply_repost(uint32_t user, uint32_t tweet, bool reposted,
                         int64_t ts, const tweet_t *state) {
  event_repost_t r = {.user = uid(user),
                      .tweet = tid(tweet),
                      .reposted = reposted,
                      .created_at_ms = ts};
  reposts_id(&r.user, &r.tweet, &r.id);
  bson_t p = BSON_INITIALIZER;
  event_model_repost(&p, &r, state);
  apply_payload("repost", &p);
}

/* Item i of p is tweet n shown as user's repost at ts. */
static void assert_repost_item(const tweet_page_t *p, size_t i, uint32_t n,
                               uint32_t user, int64_t ts) {
  const tweet_t *t = &p->items[i];
  bson_oid_t id = tid(n), by = uid(user), rid;
  reposts_id(&by, &id, &rid);
  assert_true(bson_oid_equal(&t->id, &id));
  assert_true(t->is_repost);
  assert_true(bson_oid_equal(&t->reposted_by.id, &by));
  char name[16];
  snprintf(name, sizeof name, "user%u", (unsigned)user);
  assert_string_equal(t->reposted_by.username, name);
  assert_int_equal(t->reposted_at_ms, ts);
  assert_true(bson_oid_equal(&t->repost_id, &rid));
}

/* 1 follows 2; 3 writes tweets 1 and 4, 2 writes tweet 2; 2 reposted 1
 * (loaded before its tweet: it waits for its record) and 5, a tweet
 * that no longer exists (skipped, as feeds do). */
static void load_reposts(void) {
  start_pair();
  load_user(3);
  load_repost(2, 1, T0 + 30);
  load_repost(2, 5, T0 + 35);
  load_tweet(1, 3, T0 + 10);
  load_tweet(2, 2, T0 + 20);
  load_tweet(4, 3, T0 + 25);
  model_load_end(m);
}

static void reposts_are_feed_items_of_the_reposters_followers(void **state) {
  (void)state;
  load_reposts();
  tweet_page_t p;
  assert_true(feed(1, NULL, 10, &p));
  ASSERT_IDS(&p, 1, 2);
  assert_repost_item(&p, 0, 1, 2, T0 + 30);
  assert_false(p.items[1].is_repost);
  page_done(&p);
  /* A page ends at the repost: its key is the cursor. */
  assert_true(feed(1, NULL, 1, &p));
  assert_true(p.has_next);
  assert_int_equal(p.next.ts_ms, T0 + 30);
  assert_true(bson_oid_equal(&p.next.id, &p.items[0].repost_id));
  page_cursor_t next = p.next;
  page_done(&p);
  EXPECT_FEED(1, &next, 10, 2);
  /* The reposter's own feed has it too; reposted_by_me is the viewer's. */
  assert_true(feed(2, NULL, 10, &p));
  ASSERT_IDS(&p, 1, 2);
  assert_true(p.items[0].reposted_by_me);
  page_done(&p);
  assert_true(timeline(2, NULL, 10, &p));
  assert_true(find_item(&p, 1)->reposted_by_me);
  assert_false(find_item(&p, 4)->reposted_by_me);
  page_done(&p);
  assert_true(timeline(1, NULL, 10, &p));
  assert_false(find_item(&p, 1)->reposted_by_me);
  page_done(&p);

  /* Unrepost, repost again later, repost another one. */
  apply_repost(2, 1, false, T0 + 30, NULL);
  EXPECT_FEED(1, NULL, 10, 2);
  tweet_t t1 = make_tweet(1, 3, T0 + 10), t4 = make_tweet(4, 3, T0 + 25);
  apply_repost(2, 1, true, T0 + 40, &t1);
  apply_repost(2, 4, true, T0 + 50, &t4);
  apply_repost(2, 4, true, T0 + 50, &t4); /* twice: no change */
  assert_true(feed(1, NULL, 10, &p));
  ASSERT_IDS(&p, 4, 1, 2);
  assert_repost_item(&p, 0, 4, 2, T0 + 50);
  assert_repost_item(&p, 1, 1, 2, T0 + 40);
  page_done(&p);
  /* The original's deletion takes its reposts with it. */
  apply_deleted(4);
  EXPECT_FEED(1, NULL, 10, 1, 2);
  assert_true(timeline(2, NULL, 10, &p));
  ASSERT_IDS(&p, 2, 1);
  page_done(&p);
}

/* A repost of a tweet no list holds is shown from the state its event
 * carries, and the record then follows the tweet's updates. */
static void a_repost_shows_a_tweet_the_lists_dropped(void **state) {
  (void)state;
  start(2, 4);
  model_load_begin(m);
  for (uint32_t u = 1; u <= 3; u++) {
    load_user(u);
  }
  load_follow(1, 2);
  for (uint32_t n = 1; n <= 10; n++) {
    load_tweet(n, 3, T0 + n);
  }
  model_load_end(m);
  tweet_t t = make_tweet(1, 3, T0 + 1);
  t.like_count = 5;
  t.version = 2;
  apply_repost(2, 1, true, T0 + 100, &t);
  tweet_page_t p;
  assert_true(feed(1, NULL, 1, &p));
  assert_repost_item(&p, 0, 1, 2, T0 + 100);
  assert_int_equal(p.items[0].like_count, 5);
  page_done(&p);
  t.like_count = 6;
  t.version = 3;
  apply_tweet("tweet.updated", &t);
  t.like_count = 1;
  t.version = 1; /* older: ignored */
  apply_tweet("tweet.updated", &t);
  assert_true(feed(1, NULL, 1, &p));
  assert_int_equal(p.items[0].like_count, 6);
  page_done(&p);
  /* A repost whose event carries no state, of a tweet not held: its
   * place in the reposter's list becomes unknown. */
  apply_repost(2, 2, true, T0 + 200, NULL);
  assert_feed_declined(1, NULL, 1);
}

/* A repost and an unrepost of one pair published out of commit order:
 * the settlement from the database puts it right. */
static void racing_repost_events_settle_to_the_database(void **state) {
  (void)state;
  start_pair();
  load_tweet(1, 2, T0 + 10);
  model_load_end(m);
  tweet_t t = make_tweet(1, 2, T0 + 10);
  apply_repost(1, 1, true, T0 + 20, &t);
  apply_repost(1, 1, false, T0 + 20, NULL); /* the older state, last */
  EXPECT_FEED(1, NULL, 10, 1);
  model_check_t checks[8];
  size_t n = model_take_checks(m, checks, 8);
  assert_int_equal(n, 2);
  repost_t r = {.user = uid(1), .tweet = tid(1), .created_at_ms = T0 + 20};
  reposts_id(&r.user, &r.tweet, &r.id);
  for (size_t i = 0; i < n; i++) {
    assert_int_equal(checks[i].kind, MODEL_CHECK_REPOST);
    model_settle_repost(m, &checks[i], &r, &t);
  }
  tweet_page_t p;
  assert_true(feed(1, NULL, 10, &p));
  ASSERT_IDS(&p, 1); /* the repost: the tweet's newest item */
  assert_repost_item(&p, 0, 1, 1, T0 + 20);
  assert_true(p.items[0].reposted_by_me);
  page_done(&p);
  /* Settled absent (an unrepost the events missed). */
  apply_repost(1, 1, true, T0 + 20, &t);
  n = model_take_checks(m, checks, 8);
  assert_int_equal(n, 1);
  model_settle_repost(m, &checks[0], NULL, NULL);
  EXPECT_FEED(1, NULL, 10, 1);
}

/* 1 follows 2 and 3, not 4.  2 writes tweets 1 and 3, 4 writes 2.  3
 * reposts 1 and 2, 4 reposts 1, and 1 reposts 2: 1's feed shows each
 * tweet once, as its newest item of that feed. */
static void a_feed_shows_each_tweet_once_as_its_newest_item(void **state) {
  (void)state;
  start(0, 0);
  model_load_begin(m);
  for (uint32_t u = 1; u <= 4; u++) {
    load_user(u);
  }
  load_follow(1, 2);
  load_follow(1, 3);
  load_tweet(1, 2, T0 + 10);
  load_tweet(2, 4, T0 + 20);
  load_tweet(3, 2, T0 + 30);
  load_repost(3, 1, T0 + 40);
  load_repost(3, 2, T0 + 45);
  load_repost(4, 1, T0 + 50); /* 4 is not followed: not 1's item */
  load_repost(1, 2, T0 + 60);
  model_load_end(m);
  tweet_page_t p;
  assert_true(feed(1, NULL, 10, &p));
  ASSERT_IDS(&p, 2, 1, 3);
  assert_repost_item(&p, 0, 2, 1, T0 + 60); /* not 3's, older */
  assert_repost_item(&p, 1, 1, 3, T0 + 40); /* not the tweet, older */
  assert_false(p.items[2].is_repost);
  assert_false(p.has_next);
  page_done(&p);
  /* Pages of one: the same items, no tweet twice, next only while one
   * is left. */
  page_cursor_t next;
  assert_true(feed(1, NULL, 1, &p));
  ASSERT_IDS(&p, 2);
  assert_true(p.has_next);
  next = p.next;
  page_done(&p);
  assert_true(feed(1, &next, 1, &p));
  ASSERT_IDS(&p, 1);
  assert_true(p.has_next);
  next = p.next;
  page_done(&p);
  assert_true(feed(1, &next, 1, &p));
  ASSERT_IDS(&p, 3);
  assert_false(p.has_next); /* only tweet 1 itself follows: not shown */
  page_done(&p);
  /* Each viewer's own feed: 3 follows nobody, 4 sees its own. */
  EXPECT_FEED(3, NULL, 10, 2, 1);
  assert_true(feed(4, NULL, 10, &p));
  ASSERT_IDS(&p, 1, 2);
  assert_repost_item(&p, 0, 1, 4, T0 + 50);
  assert_false(p.items[1].is_repost); /* its own tweet, older */
  page_done(&p);
  /* 3's repost of 1 goes: the tweet itself is its newest item again; 2
   * reposts its own tweet 3: that repost is. */
  apply_repost(3, 1, false, T0 + 40, NULL);
  tweet_t t3 = make_tweet(3, 2, T0 + 30);
  apply_repost(2, 3, true, T0 + 70, &t3);
  assert_true(feed(1, NULL, 10, &p));
  ASSERT_IDS(&p, 3, 2, 1);
  assert_repost_item(&p, 0, 3, 2, T0 + 70);
  assert_false(p.items[2].is_repost);
  page_done(&p);
  /* 1 unfollows 3: 3's repost of 2 was superseded by 1's own anyway. */
  apply_follow(1, 3, false);
  EXPECT_FEED(1, NULL, 10, 3, 2, 1);
}

/* A feed whose next item lies at or below a truncated list's floor
 * cannot tell whether that item is shown (a newer repost of it may be
 * among those dropped): it declines, as for items of the page. */
static void a_feed_at_a_floor_declines(void **state) {
  (void)state;
  start(1, 0); /* one tweet and one repost per user */
  model_load_begin(m);
  for (uint32_t u = 1; u <= 3; u++) {
    load_user(u);
  }
  load_follow(1, 2);
  load_follow(1, 3);
  load_tweet(1, 2, T0 + 10);
  load_tweet(2, 2, T0 + 20);
  load_tweet(3, 2, T0 + 35); /* 2's list keeps this one */
  load_repost(3, 1, T0 + 30);
  load_repost(3, 2, T0 + 40); /* 3's list keeps this one */
  model_load_end(m);
  tweet_page_t p;
  assert_true(feed(1, NULL, 1, &p));
  ASSERT_IDS(&p, 2);
  assert_repost_item(&p, 0, 2, 3, T0 + 40);
  assert_true(p.has_next); /* tweet 3, above both floors */
  page_done(&p);
  /* After tweet 3 comes tweet 2 itself, below 3's floor (T0 + 30). */
  assert_feed_declined(1, NULL, 2);
}

/* ------------------------------------------------------------------ */
/* tags and trends                                                     */
/* ------------------------------------------------------------------ */

static int64_t fake_now;
static int64_t fake_clock(void) { return fake_now; }

/* A model whose trends' window ends at fake_now. */
static void start_clocked(size_t per_author, size_t ring) {
  model_config_t cfg = {
      .per_author = per_author, .ring = ring, .now_ms = fake_clock};
  m = model_new(&cfg);
  assert_non_null(m);
}

/* Tweet n (as make_tweet) with text and its hashtags and URLs. */
static tweet_t make_text(uint32_t n, uint32_t author, int64_t ts,
                         const char *text) {
  tweet_t t = make_tweet(n, author, ts);
  snprintf(t.text, sizeof t.text, "%s", text);
  entity_t found[TWEET_ENTITIES_MAX];
  size_t k = entities_parse(t.text, strlen(t.text), found, TWEET_ENTITIES_MAX);
  for (size_t i = 0; i < k; i++) {
    if (found[i].type != ENTITY_MENTION) {
      memset(&t.entities[t.n_entities], 0, sizeof t.entities[0]);
      t.entities[t.n_entities++].span = found[i];
    }
  }
  return t;
}

static void load_text(uint32_t n, uint32_t author, int64_t ts,
                      const char *text) {
  tweet_t t = make_text(n, author, ts, text);
  model_load_tweet(m, &t);
}

/* tweet.updated of tweet n with text at version. */
static void apply_text(const char *type, uint32_t n, uint32_t author,
                       int64_t ts, const char *text, int64_t version) {
  tweet_t t = make_text(n, author, ts, text);
  t.version = version;
  apply_tweet(type, &t);
}

static bool tag_page(const char *tag, const page_cursor_t *before, size_t limit,
                     tweet_page_t *page) {
  bson_oid_t v = uid(1);
  memset(page, 0, sizeof *page);
  bool ok = model_tag(m, &v, tag, before, limit, page);
  track(page);
  if (!ok) {
    assert_int_equal(page->n, 0);
  }
  return ok;
}

#define EXPECT_TAG(tag, ...)                                                   \
  do {                                                                         \
    const uint32_t want_[] = {__VA_ARGS__};                                    \
    tweet_page_t p_;                                                           \
    assert_true(tag_page((tag), NULL, 50, &p_));                               \
    assert_ids(&p_, want_, sizeof want_ / sizeof want_[0]);                    \
    page_done(&p_);                                                            \
  } while (0)

static void expect_tag_empty(const char *tag) {
  tweet_page_t p;
  assert_true(tag_page(tag, NULL, 50, &p));
  assert_int_equal(p.n, 0);
  assert_false(p.has_next);
  page_done(&p);
}

static void tag_pages_follow_the_current_text(void **state) {
  (void)state;
  start(0, 0);
  model_load_begin(m);
  load_user(1);
  load_user(2);
  load_text(1, 1, T0 + 1, "#Chorus one");
  load_text(2, 2, T0 + 2, "#chorus and #Other");
  load_text(3, 1, T0 + 3, "no tag, https://x.org/#chorus");
  model_load_end(m);
  EXPECT_TAG("chorus", 2, 1);
  EXPECT_TAG("other", 2);
  expect_tag_empty("nothing");
  apply_text("tweet.created", 4, 2, T0 + 4, "#CHORUS!", 1);
  EXPECT_TAG("chorus", 4, 2, 1);
  apply_text("tweet.updated", 1, 1, T0 + 1, "no more", 2);
  EXPECT_TAG("chorus", 4, 2);
  apply_text("tweet.updated", 3, 1, T0 + 3, "now #chorus", 2);
  EXPECT_TAG("chorus", 4, 3, 2);
  apply_text("tweet.updated", 3, 1, T0 + 3, "older, without", 1);
  EXPECT_TAG("chorus", 4, 3, 2); /* an older state is ignored */
  apply_deleted(2);
  EXPECT_TAG("chorus", 4, 3);
  expect_tag_empty("other");
}

/* With per_author 2 a tag's list holds its newest 2 to 4 tweets: pages
 * reaching below them are declined; and an update giving a tag to a
 * tweet no list holds makes that tag's list unknown there. */
static void tag_lists_are_truncated_like_author_lists(void **state) {
  (void)state;
  start(2, 2);
  model_load_begin(m);
  load_user(1);
  load_user(2);
  for (uint32_t n = 1; n <= 10; n++) {
    load_text(n, 2, T0 + n, "#t");
  }
  model_load_end(m);
  tweet_page_t p;
  assert_true(tag_page("t", NULL, 1, &p));
  ASSERT_IDS(&p, 10);
  assert_true(p.has_next);
  page_done(&p);
  assert_false(tag_page("t", NULL, 3, &p));
  page_done(&p);
  apply_text("tweet.created", 11, 2, T0 + 11, "#t again", 1);
  assert_true(tag_page("t", NULL, 2, &p));
  ASSERT_IDS(&p, 11, 10);
  page_done(&p);
  /* Tweet 5 is held by no list any more. */
  apply_text("tweet.updated", 5, 2, T0 + 5, "#fresh", 2);
  assert_false(tag_page("fresh", NULL, 50, &p));
  page_done(&p);
  apply_text("tweet.created", 12, 1, T0 + 12, "#fresh too", 1);
  apply_text("tweet.created", 13, 1, T0 + 13, "#fresh three", 1);
  assert_true(tag_page("fresh", NULL, 1, &p)); /* above the cut */
  ASSERT_IDS(&p, 13);
  assert_true(p.has_next);
  page_done(&p);
  assert_false(tag_page("fresh", NULL, 2, &p)); /* what is after 12? */
  page_done(&p);
}

#define HOUR (3600LL * 1000)

/* The trends as "tag:count tag:count ...". */
static void trends_string(char *out, size_t size) {
  trend_t top[TRENDS_MAX];
  size_t n;
  assert_true(model_trends(m, top, &n));
  out[0] = '\0';
  for (size_t i = 0; i < n; i++) {
    size_t len = strlen(out);
    snprintf(out + len, size - len, "%s%s:%lld", i ? " " : "", top[i].tag,
             (long long)top[i].count);
  }
}

#define EXPECT_TRENDS(want)                                                    \
  do {                                                                         \
    char got_[1024];                                                           \
    trends_string(got_, sizeof got_);                                          \
    assert_string_equal(got_, (want));                                         \
  } while (0)

static void trends_count_distinct_authors_in_the_window(void **state) {
  (void)state;
  fake_now = T0 + 100 * HOUR;
  int64_t t = fake_now - 10 * HOUR; /* inside the window */
  start_clocked(0, 0);
  trend_t top[TRENDS_MAX];
  size_t n;
  assert_false(model_trends(m, top, &n)); /* not loaded */
  model_load_begin(m);
  for (uint32_t u = 1; u <= 5; u++) {
    load_user(u);
  }
  load_text(1, 1, t + 1, "#a #b");
  load_text(2, 2, t + 2, "#A");
  load_text(3, 2, t + 3, "#a again");
  load_text(4, 3, t + 4, "#b");
  load_text(5, 4, fake_now - 25 * HOUR, "#c, too old");
  model_load_end(m);
  EXPECT_TRENDS("a:2 b:2");
  apply_text("tweet.created", 6, 5, t + 6, "#b", 1);
  apply_text("tweet.created", 7, 4, fake_now - 30 * HOUR, "#c late", 1);
  EXPECT_TRENDS("b:3 a:2");
  apply_text("tweet.updated", 1, 1, t + 1, "#a only", 2);
  EXPECT_TRENDS("a:2 b:2");
  apply_text("tweet.updated", 1, 1, t + 1, "#a #b", 1); /* older: ignored */
  EXPECT_TRENDS("a:2 b:2");
  apply_deleted(2);
  EXPECT_TRENDS("a:2 b:2"); /* 2 has another #a */
  apply_deleted(3);
  EXPECT_TRENDS("b:2 a:1");
  /* The window moves on: tweet 1 (#a) leaves it, then 4 (#b). */
  fake_now = t + 1 + 24 * HOUR; /* exactly 24 hours: still in */
  EXPECT_TRENDS("b:2 a:1");
  fake_now = t + 2 + 24 * HOUR;
  EXPECT_TRENDS("b:2");
  fake_now = t + 5 + 24 * HOUR;
  EXPECT_TRENDS("b:1");
  /* A tweet older than the window, by an event: not counted. */
  apply_text("tweet.created", 8, 3, t + 2, "#z", 1);
  EXPECT_TRENDS("b:1");
}

static void trends_are_the_best_ten(void **state) {
  (void)state;
  fake_now = T0 + 100 * HOUR;
  start_clocked(0, 0);
  model_load_begin(m);
  for (uint32_t u = 1; u <= 12; u++) {
    load_user(u);
  }
  /* Tag "kN" is used by N authors (N = 1..12), each once. */
  uint32_t n = 0;
  for (uint32_t k = 1; k <= 12; k++) {
    for (uint32_t u = 1; u <= k; u++) {
      char text[32];
      snprintf(text, sizeof text, "#k%u", (unsigned)k);
      n++;
      load_text(n, u, fake_now - HOUR + n, text);
    }
  }
  model_load_end(m);
  EXPECT_TRENDS("k12:12 k11:11 k10:10 k9:9 k8:8 k7:7 k6:6 k5:5 k4:4 k3:3");
  /* Ties: by the tag's bytes. */
  apply_text("tweet.created", 1000, 1, fake_now - 1, "#k1 #k2", 1);
  apply_text("tweet.created", 1001, 3, fake_now - 1, "#k1 #k2", 1);
  apply_text("tweet.created", 1002, 4, fake_now - 1, "#k1", 1);
  EXPECT_TRENDS("k12:12 k11:11 k10:10 k9:9 k8:8 k7:7 k6:6 k5:5 k4:4 k1:3");
}

int main(void) {
#define T(f) cmocka_unit_test_teardown(f, teardown)
  const struct CMUnitTest tests[] = {
      T(not_ready_before_a_load),
      T(ready_after_a_load),
      T(load_abort_leaves_the_model_not_ready),
      T(events_queued_by_an_aborted_load_are_dropped),
      T(a_reload_replaces_everything),
      T(feed_is_own_and_followees_tweets_newest_first),
      T(feed_limit_sets_has_next_and_next),
      T(feed_pages_follow_the_cursor_without_gaps),
      T(feed_after_any_cursor),
      T(feed_page_of_the_largest_limit),
      T(liked_by_me_from_loaded_likes_and_events),
      T(author_names_are_the_current_ones),
      T(renames_are_ordered_by_the_account_version),
      T(every_field_of_a_tweet_comes_through),
      T(reply_to_an_unknown_tweet_is_not_answered),
      T(timeline_is_everyone_newest_first),
      T(timeline_answers_only_above_the_ring),
      T(timeline_of_a_ring_that_never_dropped_pages_to_the_end),
      T(timeline_declines_when_the_ring_lost_all_it_held),
      T(truncated_author_answers_only_above_its_oldest_tweet),
      T(trimming_by_events_truncates_a_list),
      T(old_tweet_created_does_not_fill_a_truncated_gap),
      T(truncated_list_that_lost_all_it_held_declines),
      T(created_event_shows_in_feeds_of_followers_and_timeline),
      T(updated_event_replaces_only_with_a_newer_version),
      T(updated_event_of_an_unknown_tweet_creates_nothing),
      T(deleted_event_removes_a_tweet_for_good),
      T(follow_events_change_the_feed),
      T(like_events_change_liked_by_me),
      T(unknown_and_malformed_events_are_ignored),
      T(payloads_are_documents_of_their_fields),
      T(events_during_a_load_are_replayed_over_the_snapshot),
      T(created_then_deleted_during_a_load),
      T(applying_an_event_twice_changes_nothing_more),
      T(sessions_work_before_any_load),
      T(sessions_work_during_a_load),
      T(sessions_work_when_ready),
      T(unknown_session_misses),
      T(put_with_an_epoch_older_than_an_end_is_ignored),
      T(an_ending_by_account_keeps_one_session),
      T(session_count_in_stats),
      T(feed_of_more_than_the_followee_limit_declines),
      T(pages_with_an_author_of_no_known_name_decline),
      T(user_event_names_an_unknown_author),
      T(load_tweet_does_not_name_its_author),
      T(queued_created_event_names_an_author_unknown_to_the_load),
      T(stats_follow_what_happens),
      T(readers_see_ordered_pages_while_events_apply),
      T(racing_pair_events_settle_to_the_database),
      T(reposts_are_feed_items_of_the_reposters_followers),
      T(a_repost_shows_a_tweet_the_lists_dropped),
      T(racing_repost_events_settle_to_the_database),
      T(a_feed_shows_each_tweet_once_as_its_newest_item),
      T(a_feed_at_a_floor_declines),
      T(tag_pages_follow_the_current_text),
      T(tag_lists_are_truncated_like_author_lists),
      T(trends_count_distinct_authors_in_the_window),
      T(trends_are_the_best_ten),
  };
#undef T
  return cmocka_run_group_tests(tests, NULL, NULL);
}
