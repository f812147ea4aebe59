/*
 * tweets.c - see tweets.h.
 *
 * Reading a list: each shard that can hold matching tweets is asked for
 * its first matching documents in list order (query.c resolves them to
 * their committed view), and the shards' answers are merged.  One more
 * item than the page holds is read, to know whether a next page exists.
 * Then the authors' display names and the viewer's likes are joined in.
 */
#include "server/domain/tweets.h"

#include <assert.h>
#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/domain/event_payloads.h"
#include "server/domain/likes.h"
#include "server/domain/notifications.h"
#include "server/domain/reposts.h"
#include "server/domain/search.h"
#include "sync/base/bsonx.h"
#include "sync/query.h"

void tweets_coll(int shard, char out[TWEET_COLL_LEN]) {
  shards_tweet_coll(shard, out);
}

/* The stored entities (tweets.h): {type, start, end, b0, b1, username?};
 * one whose byte span is not inside the text is skipped. */
static void entities_from_bson(const bson_iter_t *array, tweet_t *t) {
  t->n_entities = 0;
  bson_iter_t it, f;
  if (!bson_iter_recurse(array, &it)) {
    return;
  }
  while (bson_iter_next(&it) && t->n_entities < TWEET_ENTITIES_MAX) {
    if (!BSON_ITER_HOLDS_DOCUMENT(&it) || !bson_iter_recurse(&it, &f)) {
      continue;
    }
    tweet_entity_t e;
    memset(&e, 0, sizeof e);
    while (bson_iter_next(&f)) {
      const char *k = bson_iter_key(&f);
      if (!strcmp(k, "type") && BSON_ITER_HOLDS_UTF8(&f)) {
        const char *name = bson_iter_utf8(&f, NULL);
        for (int type = ENTITY_MENTION; type <= ENTITY_URL; type++) {
          if (!strcmp(name, entity_type_name((entity_type_t)type))) {
            e.span.type = (entity_type_t)type;
          }
        }
      } else if (!strcmp(k, "start")) {
        e.span.start = (uint32_t)bsonx_as_int64(&f);
      } else if (!strcmp(k, "end")) {
        e.span.end = (uint32_t)bsonx_as_int64(&f);
      } else if (!strcmp(k, "b0")) {
        e.span.byte_start = (uint32_t)bsonx_as_int64(&f);
      } else if (!strcmp(k, "b1")) {
        e.span.byte_end = (uint32_t)bsonx_as_int64(&f);
      } else if (!strcmp(k, "username") && BSON_ITER_HOLDS_UTF8(&f)) {
        bsonx_copy_utf8(&f, e.username, sizeof e.username);
      }
    }
    if (e.span.type && e.span.byte_start < e.span.byte_end &&
        e.span.byte_end <= sizeof t->text) {
      t->entities[t->n_entities++] = e;
    }
  }
}

/* Keeps the entities whose spans lie inside t->text. */
static void entities_fit_text(tweet_t *t) {
  size_t len = strlen(t->text), kept = 0;
  for (size_t i = 0; i < t->n_entities; i++) {
    if (t->entities[i].span.byte_end <= len) {
      t->entities[kept++] = t->entities[i];
    }
  }
  t->n_entities = kept;
}

void tweets_parse_entities(const bson_t *doc, tweet_t *t) {
  bson_iter_t it;
  t->n_entities = 0;
  if (bson_iter_init_find(&it, doc, "entities") && BSON_ITER_HOLDS_ARRAY(&it)) {
    entities_from_bson(&it, t);
    entities_fit_text(t);
  }
}

void tweet_release(tweet_t *t) {
  media_list_free(t->media);
  t->media = NULL;
}

void tweets_from_stored(const bson_t *doc, tweet_t *t) {
  bson_iter_t it;
  memset(t, 0, sizeof *t);
  if (!bson_iter_init(&it, doc)) {
    return;
  }
  while (bson_iter_next(&it)) {
    const char *key = bson_iter_key(&it);
    if (!strcmp(key, "_id") && BSON_ITER_HOLDS_OID(&it)) {
      bson_oid_copy(bson_iter_oid(&it), &t->id);
    } else if (!strcmp(key, "author_id") && BSON_ITER_HOLDS_OID(&it)) {
      bson_oid_copy(bson_iter_oid(&it), &t->author.id);
    } else if (!strcmp(key, "author") && BSON_ITER_HOLDS_UTF8(&it)) {
      bsonx_copy_utf8(&it, t->author.username, sizeof t->author.username);
    } else if (!strcmp(key, "text") && BSON_ITER_HOLDS_UTF8(&it)) {
      bsonx_copy_utf8(&it, t->text, sizeof t->text);
    } else if (!strcmp(key, "created_at") && BSON_ITER_HOLDS_DATE_TIME(&it)) {
      t->created_at_ms = bson_iter_date_time(&it);
    } else if (!strcmp(key, "edited_at") && BSON_ITER_HOLDS_DATE_TIME(&it)) {
      t->edited_at_ms = bson_iter_date_time(&it);
    } else if (!strcmp(key, "reply_to") && BSON_ITER_HOLDS_OID(&it)) {
      bson_oid_copy(bson_iter_oid(&it), &t->reply_to);
      t->has_reply_to = true;
    } else if (!strcmp(key, "reply_count")) {
      t->reply_count = bsonx_as_int64(&it);
    } else if (!strcmp(key, "like_count")) {
      t->like_count = bsonx_as_int64(&it);
    } else if (!strcmp(key, "version")) {
      t->version = bsonx_as_int64(&it);
    } else if (!strcmp(key, "repost_count")) {
      t->repost_count = bsonx_as_int64(&it);
    } else if (!strcmp(key, "quote_count")) {
      t->quote_count = bsonx_as_int64(&it);
    } else if (!strcmp(key, "edit_count")) {
      t->edit_count = bsonx_as_int64(&it);
    } else if (!strcmp(key, "quote_of") && BSON_ITER_HOLDS_OID(&it)) {
      bson_oid_copy(bson_iter_oid(&it), &t->quote.id);
      t->has_quote_of = true;
    } else if (!strcmp(key, "entities") && BSON_ITER_HOLDS_ARRAY(&it)) {
      entities_from_bson(&it, t);
    } else if (!strcmp(key, "media") && !t->media) {
      t->media = media_list_from_bson(&it);
    }
  }
  /* Fields come in any order: drop spans past the text read. */
  entities_fit_text(t);
}

static bson_value_t oid_value(const bson_oid_t *oid) {
  bson_value_t v = {.value_type = BSON_TYPE_OID};
  bson_oid_copy(oid, &v.value.v_oid);
  return v;
}

bool tweets_parse_id(sync_t *sync, const char *id_hex, bson_oid_t *id,
                     chorus_error_t *err) {
  if (!id_hex || !bson_oid_is_valid(id_hex, strlen(id_hex)) ||
      strlen(id_hex) != TWEET_ID_LEN) {
    chorus_error_set(err, 404, "tweet_not_found", "No such tweet");
    return false;
  }
  bson_oid_init_from_string(id, id_hex);
  if (shards_of_tweet(sync_shards(sync), id) < 0) {
    chorus_error_set(err, 404, "tweet_not_found", "No such tweet");
    return false;
  }
  return true;
}

/* Reads one tweet in its committed view; *found false when none.  t
 * must hold nothing (tweet_from_bson). */
static bool read_tweet(db_t *db, sync_t *sync, const bson_oid_t *id,
                       bool *found, tweet_t *t, chorus_error_t *err) {
  char coll[TWEET_COLL_LEN];
  tweets_coll(shards_of_tweet(sync_shards(sync), id), coll);
  bson_value_t key = oid_value(id);
  bson_t *doc;
  int shard = shards_of_tweet(sync_shards(sync), id);
  if (!query_by_id(shards_db(sync_shards(sync), shard), sync, coll, &key, &doc,
                   found, err)) {
    return false;
  }
  (void)db;
  if (*found) {
    tweets_from_stored(doc, t);
    bson_destroy(doc);
  }
  return true;
}

/* The quoted tweets of tweets[0..n): text and author id, or
 * unavailable when deleted. */
static bool read_quotes(db_t *db, sync_t *sync, tweet_t *tweets, size_t n,
                        chorus_error_t *err) {
  tweet_t *q = NULL;
  bool ok = true;
  for (size_t i = 0; ok && i < n; i++) {
    tweet_quoted_t *dst = &tweets[i].quote;
    if (!tweets[i].has_quote_of) {
      continue;
    }
    if (!q) {
      q = bson_malloc0(sizeof *q);
    }
    tweet_release(q);
    bool found = false;
    ok = read_tweet(db, sync, &dst->id, &found, q, err);
    dst->available = ok && found;
    if (dst->available) {
      dst->author = q->author;
      memcpy(dst->text, q->text, sizeof dst->text);
      dst->created_at_ms = q->created_at_ms;
    }
  }
  if (q) {
    tweet_release(q);
  }
  bson_free(q);
  return ok;
}

/* The authors of the tweets that tweets[0..n) reply to (their ids: join
 * reads the names): from the list itself when the parent is in it, else
 * read; none when the parent was deleted. */
static bool read_parents(db_t *db, sync_t *sync, tweet_t *tweets, size_t n,
                         chorus_error_t *err) {
  tweet_t *p = NULL;
  bool ok = true;
  for (size_t i = 0; ok && i < n; i++) {
    tweet_t *t = &tweets[i];
    t->has_reply_to_user = false;
    if (!t->has_reply_to) {
      continue;
    }
    for (size_t j = 0; j < n && !t->has_reply_to_user; j++) {
      if (bson_oid_equal(&tweets[j].id, &t->reply_to)) {
        t->reply_to_user.id = tweets[j].author.id;
        t->has_reply_to_user = true;
      }
    }
    if (t->has_reply_to_user) {
      continue;
    }
    if (!p) {
      p = bson_malloc0(sizeof *p);
    }
    tweet_release(p); /* the images of the parent read before */
    bool found = false;
    ok = read_tweet(db, sync, &t->reply_to, &found, p, err);
    if (ok && found) {
      t->reply_to_user.id = p->author.id;
      t->has_reply_to_user = true;
    }
  }
  if (p) {
    tweet_release(p);
  }
  bson_free(p);
  return ok;
}

/* What join_but may take as known of tweets[0..n). */
typedef struct join_known {
  /* A mark the caller sets itself (TWEETS_MARK_NONE: both read). */
  tweets_mark_kind_t mark;
  /* The tweets were just created by the viewer: their authors' names are
   * the viewer's, read by this request, and nobody can have liked or
   * reposted them before their commit (both marks false, not read). */
  bool created;
} join_known_t;

/* Display names (of authors, quoted authors, the authors replied to and
 * reposters), the quoted tweets, and the viewer's likes and reposts of
 * tweets[0..n), but for what `known` says the caller knows. */
static bool join_but(db_t *db, sync_t *sync, const user_t *viewer,
                     tweet_t *tweets, size_t n, join_known_t known,
                     chorus_error_t *err) {
  if (n == 0) {
    return true;
  }
  if (!read_quotes(db, sync, tweets, n, err) ||
      !read_parents(db, sync, tweets, n, err)) {
    return false;
  }
  /* Each tweet's names to read, in this order: its author (unless
   * created), its quoted author, its reposter, the author replied to. */
  user_name_t *names = bson_malloc0(sizeof *names * n * 4);
  size_t k = 0;
  for (size_t i = 0; i < n; i++) {
    if (!known.created) {
      names[k++] = tweets[i].author;
    }
    if (tweets[i].has_quote_of && tweets[i].quote.available) {
      names[k++] = tweets[i].quote.author;
    }
    if (tweets[i].is_repost) {
      names[k++] = tweets[i].reposted_by;
    }
    if (tweets[i].has_reply_to_user) {
      names[k++] = tweets[i].reply_to_user;
    }
  }
  bool ok = true;
  if (k > 0) {
    mongoc_client_t *client = db_acquire(db);
    ok = users_get_names(db, client, names, k, err);
    db_release(db, client);
  }
  k = 0;
  for (size_t i = 0; ok && i < n; i++) {
    if (!known.created) {
      if (names[k].username[0]) {
        tweets[i].author = names[k];
      }
      k++;
    }
    if (tweets[i].has_quote_of && tweets[i].quote.available) {
      tweets[i].quote.author = names[k++];
    }
    if (tweets[i].is_repost) {
      tweets[i].reposted_by = names[k++];
    }
    if (tweets[i].has_reply_to_user) {
      tweets[i].reply_to_user = names[k++];
      /* An account gone since: shown as a deleted parent. */
      tweets[i].has_reply_to_user = tweets[i].reply_to_user.username[0] != 0;
    }
  }
  bson_free(names);
  if (known.created) {
    for (size_t i = 0; i < n; i++) {
      tweets[i].liked_by_me = tweets[i].reposted_by_me = false;
    }
    return ok;
  }
  const bson_oid_t *me = viewer ? &viewer->id : NULL;
  return ok &&
         (known.mark == TWEETS_MARK_LIKED ||
          tweets_mark(db, sync, DB_LIKES, likes_pair_id,
                      offsetof(tweet_t, liked_by_me), me, tweets, n, err)) &&
         (known.mark == TWEETS_MARK_REPOSTED ||
          tweets_mark(db, sync, DB_REPOSTS, reposts_pair_id,
                      offsetof(tweet_t, reposted_by_me), me, tweets, n, err));
}

static bool join(db_t *db, sync_t *sync, const user_t *viewer, tweet_t *tweets,
                 size_t n, chorus_error_t *err) {
  join_known_t none = {.mark = TWEETS_MARK_NONE, .created = false};
  return join_but(db, sync, viewer, tweets, n, none, err);
}

bool tweets_get_stored(db_t *db, sync_t *sync, const char *id_hex, tweet_t *out,
                       chorus_error_t *err) {
  bson_oid_t id;
  bool found;
  out->media = NULL; /* on failure it holds nothing */
  if (!tweets_parse_id(sync, id_hex, &id, err) ||
      !read_tweet(db, sync, &id, &found, out, err)) {
    return false;
  }
  if (!found) {
    chorus_error_set(err, 404, "tweet_not_found", "No such tweet");
    return false;
  }
  return true;
}

bool tweets_get_marked(db_t *db, sync_t *sync, const user_t *viewer,
                       const char *id_hex, tweets_mark_kind_t known, bool value,
                       tweet_t *out, chorus_error_t *err) {
  if (!tweets_get_stored(db, sync, id_hex, out, err)) {
    return false;
  }
  join_known_t knows = {.mark = known, .created = false};
  if (!join_but(db, sync, viewer, out, 1, knows, err)) {
    tweet_release(out);
    return false;
  }
  if (known == TWEETS_MARK_LIKED) {
    out->liked_by_me = viewer && value;
  } else if (known == TWEETS_MARK_REPOSTED) {
    out->reposted_by_me = viewer && value;
  }
  return true;
}

bool tweets_get(db_t *db, sync_t *sync, const user_t *viewer,
                const char *id_hex, tweet_t *out, chorus_error_t *err) {
  return tweets_get_marked(db, sync, viewer, id_hex, TWEETS_MARK_NONE, false,
                           out, err);
}

/* ---- entities ---- */

/* An account a text mentions. */
typedef struct mention {
  bson_oid_t id;
  char username[USERNAME_MAX + 1]; /* as the account spells it */
} mention_t;

/* The entities of text as they are stored: mentions of existing
 * accounts only (the first TWEET_MENTIONS_MAX distinct names are looked
 * up), with their ids in ids[0..*n_ids). */
static bool resolve_entities(db_t *db, sync_t *sync, const char *text,
                             size_t len, tweet_t *t, mention_t *ids,
                             size_t *n_ids, chorus_error_t *err) {
  entity_t found[TWEET_ENTITIES_MAX];
  size_t n = entities_parse(text, len, found, TWEET_ENTITIES_MAX);
  char names[TWEET_MENTIONS_MAX][USERNAME_MAX + 1];
  char spelled[TWEET_MENTIONS_MAX][USERNAME_MAX + 1]; /* the account's */
  bool exists[TWEET_MENTIONS_MAX];
  user_t u;
  *n_ids = 0;
  t->n_entities = 0;
  size_t n_names = 0;
  for (size_t i = 0; i < n; i++) {
    tweet_entity_t *e = &t->entities[t->n_entities];
    memset(e, 0, sizeof *e);
    e->span = found[i];
    if (found[i].type != ENTITY_MENTION) {
      t->n_entities++;
      continue;
    }
    char lc[USERNAME_MAX + 1];
    username_fold(text + found[i].byte_start + 1,
                  found[i].byte_end - found[i].byte_start - 1, lc);
    size_t k = 0;
    while (k < n_names && strcmp(names[k], lc)) {
      k++;
    }
    if (k == n_names) {
      if (n_names == TWEET_MENTIONS_MAX) {
        continue; /* beyond the names looked up: plain text */
      }
      memcpy(names[k], lc, sizeof lc);
      chorus_error_t lookup;
      exists[k] = users_find_by_username(db, sync, lc, strlen(lc), &u, &lookup);
      if (!exists[k] && lookup.status != 404) {
        *err = lookup;
        return false;
      }
      if (exists[k]) {
        ids[*n_ids].id = u.id;
        memcpy(ids[*n_ids].username, u.username, sizeof ids[*n_ids].username);
        memcpy(spelled[k], u.username, sizeof spelled[k]);
        (*n_ids)++;
      }
      n_names++;
    }
    if (exists[k]) {
      memcpy(e->username, spelled[k], sizeof e->username);
      t->n_entities++;
    }
  }
  return true;
}
/* ---- create ---- */

/* Appends the stored entities, the distinct folded tags and the ids of
 * the accounts mentioned (tweets.h). */
void tweets_append_entities(bson_t *doc, const tweet_t *t) {
  bson_t array;
  BSON_APPEND_ARRAY_BEGIN(doc, "entities", &array);
  for (size_t i = 0; i < t->n_entities; i++) {
    const tweet_entity_t *e = &t->entities[i];
    char buf[16];
    const char *key;
    size_t klen = bson_uint32_to_string((uint32_t)i, &key, buf, sizeof buf);
    bson_t item;
    bson_append_document_begin(&array, key, (int)klen, &item);
    BSON_APPEND_UTF8(&item, "type", entity_type_name(e->span.type));
    BSON_APPEND_INT32(&item, "start", (int32_t)e->span.start);
    BSON_APPEND_INT32(&item, "end", (int32_t)e->span.end);
    BSON_APPEND_INT32(&item, "b0", (int32_t)e->span.byte_start);
    BSON_APPEND_INT32(&item, "b1", (int32_t)e->span.byte_end);
    if (e->span.type == ENTITY_MENTION) {
      BSON_APPEND_UTF8(&item, "username", e->username);
    }
    bson_append_document_end(&array, &item);
  }
  bson_append_array_end(doc, &array);
}

size_t tweets_append_tags(bson_t *doc, const char *key, const tweet_t *t) {
  char(*tags)[ENTITIES_TAG_BYTES + 1] =
      bson_malloc(sizeof *tags * TWEET_ENTITIES_MAX);
  size_t n = tweets_tags(t, tags);
  bson_t array;
  bson_append_array_begin(doc, key, -1, &array);
  for (size_t i = 0; i < n; i++) {
    bsonx_array_append_utf8(&array, (uint32_t)i, tags[i]);
  }
  bson_append_array_end(doc, &array);
  bson_free(tags);
  return n;
}

static void append_conversation(bson_t *doc, const tweet_t *t,
                                const mention_t *mentions, size_t n_mentions) {
  bson_t array;
  tweets_append_entities(doc, t);
  tweets_append_tags(doc, "tags", t);
  BSON_APPEND_ARRAY_BEGIN(doc, "mentions", &array);
  for (size_t i = 0; i < n_mentions; i++) {
    bsonx_array_append_oid(&array, (uint32_t)i, &mentions[i].id);
  }
  bson_append_array_end(doc, &array);
}

size_t tweets_tags(const tweet_t *t,
                   char tags[TWEET_ENTITIES_MAX][ENTITIES_TAG_BYTES + 1]) {
  size_t n = 0;
  for (size_t i = 0; i < t->n_entities; i++) {
    const entity_t *e = &t->entities[i].span;
    if (e->type != ENTITY_HASHTAG) {
      continue;
    }
    entities_fold_tag(t->text + e->byte_start + 1,
                      e->byte_end - e->byte_start - 1, tags[n], sizeof tags[n]);
    size_t k = 0;
    while (k < n && strcmp(tags[k], tags[n])) {
      k++;
    }
    n += k == n;
  }
  return n;
}

/* Notifies each of mentions[0..n) but those old (an edit's previous
 * state; NULL: none) named already, of tweet by its author. */
static bool notify_mentions(db_t *db, sync_t *sync, txn_t *txn,
                            event_batch_t *events, const tweet_t *tweet,
                            const mention_t *mentions, size_t n,
                            const tweet_t *old, chorus_error_t *err) {
  for (size_t i = 0; i < n; i++) {
    bool named_before = false;
    for (size_t e = 0; old && e < old->n_entities; e++) {
      named_before = named_before ||
                     (old->entities[e].span.type == ENTITY_MENTION &&
                      !strcmp(old->entities[e].username, mentions[i].username));
    }
    if (!named_before &&
        !notifications_add(db, sync, txn, events, &mentions[i].id,
                           NOTIFY_MENTION, &tweet->author.id, &tweet->id,
                           err)) {
      return false;
    }
  }
  return true;
}

typedef struct create_ctx {
  db_t *db;
  sync_t *sync;
  const user_t *author;
  const char *text;
  size_t text_len;
  bool is_reply;
  bson_oid_t parent;
  bool is_quote;
  bson_oid_t quoted;
  mention_t mentions[TWEET_MENTIONS_MAX];
  size_t n_mentions;
  const media_request_t *media; /* NULL: none */
  size_t media_ops[2];          /* the last build's ops of the media:
                                   [first, end) */
  tweet_t *t;
} create_ctx_t;

/* Adds the increment of counter (and of also, unless NULL) by delta on
 * tweet id to txn: one op, since a transaction names a document once (a
 * reply that quotes its parent changes two counts of one tweet). */
static void add_count(txn_t *txn, shards_t *shards, const bson_oid_t *id,
                      const char *counter, const char *also, int64_t delta) {
  int shard = shards_of_tweet(shards, id);
  char coll[TWEET_COLL_LEN];
  tweets_coll(shard, coll);
  bson_value_t key = oid_value(id);
  bson_t inc = BSON_INITIALIZER;
  BSON_APPEND_INT64(&inc, counter, delta);
  if (also) {
    BSON_APPEND_INT64(&inc, also, delta);
  }
  txn_add_update(txn, shard, coll, &key, NULL, &inc, NULL);
  bson_destroy(&inc);
}

/* Reads the tweet id that a new tweet replies to or quotes; 404 with
 * what (a message) when it does not exist. */
static bool read_other(create_ctx_t *c, const bson_oid_t *id, tweet_t *out,
                       const char *what, chorus_error_t *err) {
  bool found;
  if (!read_tweet(c->db, c->sync, id, &found, out, err)) {
    return false;
  }
  if (!found) {
    chorus_error_set(err, 404, "tweet_not_found", "%s", what);
    return false;
  }
  return true;
}

#define NO_PARENT "The tweet you reply to does not exist"
#define NO_QUOTED "The tweet you quote does not exist"

static bool build_create(void *arg, txn_t *txn, chorus_error_t *err) {
  create_ctx_t *c = arg;
  shards_t *shards = sync_shards(c->sync);
  tweet_t *t = c->t;
  /* Two of them do not fit on every thread's stack comfortably. */
  tweet_t *other = bson_malloc0(sizeof *other * 2);
  tweet_t *parent = &other[0], *quoted = &other[1];
  bool ok =
      (!c->is_reply || read_other(c, &c->parent, parent, NO_PARENT, err)) &&
      (!c->is_quote || read_other(c, &c->quoted, quoted, NO_QUOTED, err));
  /* Their authors are all this needs of them. */
  tweet_release(parent);
  tweet_release(quoted);
  /* The images first: what the tweet stores of them is read here. */
  tweet_release(t);
  c->media_ops[0] = txn->n_ops;
  ok = ok && (!c->media || media_add_attach(c->db, c->sync, txn, &c->author->id,
                                            c->media, &t->media, err));
  c->media_ops[1] = txn->n_ops;
  if (!ok) {
    bson_free(other);
    return false;
  }
  int shard = shards_of_user(shards, &c->author->id);
  char coll[TWEET_COLL_LEN];
  tweets_coll(shard, coll);
  /* A fresh id for every attempt: an aborted attempt's insert may still be
   * waiting to be rolled back. */
  shards_new_tweet_id(shards, shard, &t->id);
  t->created_at_ms = db_now_ms();

  bson_t doc = BSON_INITIALIZER;
  BSON_APPEND_OID(&doc, "_id", &t->id);
  BSON_APPEND_OID(&doc, "author_id", &t->author.id);
  BSON_APPEND_UTF8(&doc, "author", t->author.username);
  bson_append_utf8(&doc, "text", 4, c->text, (int)c->text_len);
  search_append_words(&doc, TWEETS_WORDS_FIELD, c->text, c->text_len);
  append_conversation(&doc, t, c->mentions, c->n_mentions);
  BSON_APPEND_DATE_TIME(&doc, "created_at", t->created_at_ms);
  BSON_APPEND_NULL(&doc, "edited_at");
  if (c->is_reply) {
    BSON_APPEND_OID(&doc, "reply_to", &c->parent);
  } else {
    BSON_APPEND_NULL(&doc, "reply_to");
  }
  if (c->is_quote) {
    BSON_APPEND_OID(&doc, "quote_of", &c->quoted);
  } else {
    BSON_APPEND_NULL(&doc, "quote_of");
  }
  BSON_APPEND_INT64(&doc, "reply_count", 0);
  BSON_APPEND_INT64(&doc, "like_count", 0);
  BSON_APPEND_INT64(&doc, "repost_count", 0);
  BSON_APPEND_INT64(&doc, "quote_count", 0);
  BSON_APPEND_INT64(&doc, "edit_count", 0);
  if (t->media) {
    media_list_append(&doc, "media", t->media);
  }
  BSON_APPEND_INT64(&doc, "version", 1);
  /* Its id is fresh: nobody meets it before the commit inserts it. */
  txn_add_fresh_insert(txn, shard, coll, &doc);

  bson_value_t author_id = oid_value(&c->author->id);
  bson_t inc = BSON_INITIALIZER;
  BSON_APPEND_INT64(&inc, "tweet_count", 1);
  txn_add_deferred_increment(txn, DB_USERS, &author_id, &inc); /* users.h */
  bson_destroy(&inc);

  /* Op 2 (a reply) or 2 or 3 (a quote) after the images' ops:
   * tweets_create reads these. */
  bool quotes_parent =
      c->is_reply && c->is_quote && bson_oid_equal(&c->parent, &c->quoted);
  if (c->is_reply) {
    add_count(txn, shards, &c->parent, "reply_count",
              quotes_parent ? "quote_count" : NULL, 1);
  }
  if (c->is_quote && !quotes_parent) {
    add_count(txn, shards, &c->quoted, "quote_count", NULL, 1);
  }
  event_batch_t events;
  event_batch_init(&events);
  event_add_tweet_created(&events, t, &doc);
  bson_destroy(&doc);
  if (c->is_reply) {
    event_add_tweet(&events, EVENT_TWEET_UPDATED, &c->parent, NULL, NULL);
    ok = notifications_add(c->db, c->sync, txn, &events, &parent->author.id,
                           NOTIFY_REPLY, &c->author->id, &t->id, err);
  }
  if (ok && c->is_quote) {
    if (!quotes_parent) {
      event_add_tweet(&events, EVENT_TWEET_UPDATED, &c->quoted, NULL, NULL);
    }
    ok = notifications_add(c->db, c->sync, txn, &events, &quoted->author.id,
                           NOTIFY_QUOTE, &c->author->id, &t->id, err);
  }
  ok = ok && notify_mentions(c->db, c->sync, txn, &events, t, c->mentions,
                             c->n_mentions, NULL, err);
  if (ok) {
    event_batch_commit(&events, txn);
  } else {
    event_batch_cleanup(&events);
  }
  bson_free(other);
  return ok;
}

/* A tweet id from the API; 404 with what when it cannot name one. */
static bool parse_other(sync_t *sync, const char *hex, bson_oid_t *id,
                        const char *what, chorus_error_t *err) {
  if (!tweets_parse_id(sync, hex, id, err)) {
    chorus_error_set(err, 404, "tweet_not_found", "%s", what);
    return false;
  }
  return true;
}

bool tweets_create(db_t *db, sync_t *sync, const user_t *author,
                   const char *text, size_t text_len, const char *reply_to_hex,
                   const char *quote_of_hex, const media_request_t *media,
                   ratelimit_gate_t *gate, tweet_t *out, chorus_error_t *err) {
  bool has_media = media && media->n > 0;
  if (!validate_text("text", text, text_len, has_media ? 0 : 1, TWEET_TEXT_MAX,
                     err)) {
    return false;
  }
  tweet_t *t = bson_malloc0(sizeof *t);
  create_ctx_t *ctx = bson_malloc0(sizeof *ctx);
  *ctx = (create_ctx_t){.db = db,
                        .sync = sync,
                        .author = author,
                        .text = text,
                        .text_len = text_len,
                        .media = has_media ? media : NULL,
                        .t = t};
  bool ok = false;
  if (reply_to_hex &&
      !parse_other(sync, reply_to_hex, &ctx->parent, NO_PARENT, err)) {
    goto done;
  }
  if (quote_of_hex &&
      !parse_other(sync, quote_of_hex, &ctx->quoted, NO_QUOTED, err)) {
    goto done;
  }
  ctx->is_reply = t->has_reply_to = reply_to_hex != NULL;
  t->reply_to = ctx->parent;
  ctx->is_quote = t->has_quote_of = quote_of_hex != NULL;
  t->quote.id = ctx->quoted;
  if (!ratelimit_gate_pass(gate, RATELIMIT_TWEET, err)) {
    goto done;
  }
  user_name_of(author, &t->author); /* as the answer shows it */
  memcpy(t->text, text, text_len);
  t->text[text_len] = '\0';
  t->version = 1;
  if (!resolve_entities(db, sync, text, text_len, t, ctx->mentions,
                        &ctx->n_mentions, err)) {
    goto done;
  }
  for (int round = 0; round < 3 && !ok; round++) {
    size_t failed_op, base;
    switch (sync_commit(sync, build_create, ctx, &failed_op, err)) {
    case TXN_OUTCOME_COMMITTED:
      /* The quoted tweet as readers see it (it may be gone already);
       * the rest is known. */
      ok = join_but(db, sync, author, t, 1,
                    (join_known_t){.mark = TWEETS_MARK_NONE, .created = true},
                    err);
      if (ok) {
        *out = *t;
        t->media = NULL; /* moved to out */
      }
      goto done;
    case TXN_OUTCOME_MISSING:
      if (failed_op >= ctx->media_ops[0] && failed_op < ctx->media_ops[1]) {
        continue; /* an image taken meanwhile: the build says how */
      }
      base = ctx->media_ops[1];
      if (failed_op == base + 1) { /* the author's account */
        chorus_error_set(err, 401, "not_logged_in", "You are not logged in");
      } else { /* what it replies to or quotes went away meanwhile */
        chorus_error_set(err, 404, "tweet_not_found", "%s",
                         failed_op == base + 2 && ctx->is_reply ? NO_PARENT
                                                                : NO_QUOTED);
      }
      goto done;
    case TXN_OUTCOME_EXISTS:
      chorus_error_set(err, 500, "internal", "Tweet id collision");
      goto done;
    default:
      goto done; /* err set by sync_commit or the build */
    }
  }
  chorus_error_set(err, 409, "media_in_use",
                   "An image is being used by another tweet; try again");
done:
  tweet_release(t);
  bson_free(ctx);
  bson_free(t);
  return ok;
}

/* ---- edit and delete ---- */

typedef struct change_ctx {
  db_t *db;
  sync_t *sync;
  const user_t *user;
  bson_oid_t id;
  const char *text; /* NULL: delete */
  size_t text_len;
  tweet_t *t;     /* the tweet as read by the last build */
  tweet_t *now_t; /* an edit: the new text's entities (tweets_edit) */
  mention_t mentions[TWEET_MENTIONS_MAX];
  size_t n_mentions;
  int64_t now;
  bool parent_gone;  /* the parent vanished: leave its count alone */
  bool quoted_gone;  /* likewise the quoted tweet */
  size_t media_ops;  /* a deletion: ops of its images (after the tweet's) */
  bool more_reposts; /* a deletion left reposts for later transactions */
} change_ctx_t;

/* The _id of the n-th previous text of tweet id (n from 1). */
static void version_id(const bson_oid_t *id, int64_t n,
                       char out[TWEET_VERSION_ID_LEN + 1]) {
  char hex[25];
  bson_oid_to_string(id, hex);
  snprintf(out, TWEET_VERSION_ID_LEN + 1, "%s:%" PRId64, hex, n);
}

/* An edit: keeps the text being replaced in DB_TWEET_VERSIONS and sets
 * the new one with its entities; new mentions are notified. */
static bool build_edit(change_ctx_t *c, txn_t *txn, int shard, const char *coll,
                       chorus_error_t *err) {
  tweet_t *old = c->t, *t = c->now_t;
  char vid[TWEET_VERSION_ID_LEN + 1];
  version_id(&c->id, old->edit_count + 1, vid);
  bson_t v = BSON_INITIALIZER;
  BSON_APPEND_UTF8(&v, "_id", vid);
  BSON_APPEND_OID(&v, "tweet_id", &c->id);
  BSON_APPEND_INT64(&v, "n", old->edit_count + 1);
  BSON_APPEND_UTF8(&v, "text", old->text);
  BSON_APPEND_DATE_TIME(&v, "written_at",
                        old->edited_at_ms ? old->edited_at_ms
                                          : old->created_at_ms);
  BSON_APPEND_DATE_TIME(&v, "replaced_at", c->now);
  BSON_APPEND_INT64(&v, "version", 1);
  txn_add_insert(txn, TXN_MAIN_SHARD, DB_TWEET_VERSIONS, &v);
  bson_destroy(&v);

  bson_value_t id = oid_value(&c->id);
  bson_t set = BSON_INITIALIZER;
  bson_append_utf8(&set, "text", 4, c->text, (int)c->text_len);
  search_append_words(&set, TWEETS_WORDS_FIELD, c->text, c->text_len);
  append_conversation(&set, t, c->mentions, c->n_mentions);
  BSON_APPEND_DATE_TIME(&set, "edited_at", c->now);
  BSON_APPEND_INT64(&set, "edit_count", old->edit_count + 1);
  txn_add_update(txn, shard, coll, &id, &set, NULL, &old->version);
  bson_destroy(&set);
  event_batch_t events;
  event_batch_init(&events);
  t->id = c->id;
  t->author.id = c->user->id;
  event_add_tweet_edited(&events, t, old);
  if (!notify_mentions(c->db, c->sync, txn, &events, t, c->mentions,
                       c->n_mentions, old, err)) {
    event_batch_cleanup(&events);
    return false;
  }
  event_batch_commit(&events, txn);
  return true;
}

/* Re-reads the tweet on every attempt, so the version it checks is the
 * one the author check was made against. */
static bool build_change(void *arg, txn_t *txn, chorus_error_t *err) {
  change_ctx_t *c = arg;
  bool found;
  tweet_release(c->t);
  if (!read_tweet(c->db, c->sync, &c->id, &found, c->t, err)) {
    return false;
  }
  if (!found) {
    chorus_error_set(err, 404, "tweet_not_found", "No such tweet");
    return false;
  }
  if (!bson_oid_equal(&c->t->author.id, &c->user->id)) {
    chorus_error_set(err, 403, "forbidden",
                     c->text ? "Only the author may edit this tweet"
                             : "Only the author may delete this tweet");
    return false;
  }
  shards_t *shards = sync_shards(c->sync);
  int shard = shards_of_tweet(shards, &c->id);
  char coll[TWEET_COLL_LEN];
  tweets_coll(shard, coll);
  bson_value_t id = oid_value(&c->id);
  c->now = db_now_ms();
  if (c->text) {
    return build_edit(c, txn, shard, coll, err);
  }
  txn_add_delete(txn, shard, coll, &id, &c->t->version);
  /* Its images go with it, their bytes off the author's quota in the
   * author's one op. */
  bson_oid_t media[MEDIA_PER_TWEET];
  size_t n_media = 0;
  for (size_t i = 0; c->t->media && i < c->t->media->n; i++) {
    media[n_media++] = c->t->media->items[i].id;
  }
  int64_t media_bytes = 0;
  if (n_media > 0 && !media_add_removal(c->db, c->sync, txn, media, n_media,
                                        &media_bytes, err)) {
    return false;
  }
  c->media_ops = txn->n_ops - 1;
  bson_value_t author = oid_value(&c->user->id);
  bson_t inc = BSON_INITIALIZER;
  BSON_APPEND_INT64(&inc, "tweet_count", -1);
  if (media_bytes > 0) {
    BSON_APPEND_INT64(&inc, "media_bytes", -media_bytes);
  }
  txn_add_update(txn, TXN_MAIN_SHARD, DB_USERS, &author, NULL, &inc, NULL);
  bson_destroy(&inc);
  /* Op media_ops + 2: the parent's count, then the quoted tweet's
   * (change() reads which one went away). */
  bool parent = c->t->has_reply_to && !c->parent_gone &&
                shards_of_tweet(shards, &c->t->reply_to) >= 0;
  bool quoted = c->t->has_quote_of && !c->quoted_gone &&
                shards_of_tweet(shards, &c->t->quote.id) >= 0;
  bool quoted_parent =
      parent && quoted && bson_oid_equal(&c->t->reply_to, &c->t->quote.id);
  if (parent) {
    add_count(txn, shards, &c->t->reply_to, "reply_count",
              quoted_parent ? "quote_count" : NULL, -1);
  }
  if (quoted && !quoted_parent) {
    add_count(txn, shards, &c->t->quote.id, "quote_count", NULL, -1);
  }
  event_batch_t events;
  event_batch_init(&events);
  event_add_tweet(&events, EVENT_TWEET_DELETED, &c->id, &c->user->id, NULL);
  if (parent) {
    event_add_tweet(&events, EVENT_TWEET_UPDATED, &c->t->reply_to, NULL, NULL);
  }
  if (quoted && !quoted_parent) {
    event_add_tweet(&events, EVENT_TWEET_UPDATED, &c->t->quote.id, NULL, NULL);
  }
  event_batch_commit(&events, txn);
  /* Its reposts go with it (out of every feed): as many as the
   * transaction has room for, the others by tweets_delete after it. */
  return reposts_add_removal(c->db, c->sync, txn, &c->id,
                             TXN_MAX_OPS - txn->n_ops, &c->more_reposts, err);
}

static bool change(change_ctx_t *ctx, chorus_error_t *err) {
  for (int round = 0; round < 4; round++) {
    size_t failed_op;
    switch (sync_commit(ctx->sync, build_change, ctx, &failed_op, err)) {
    case TXN_OUTCOME_COMMITTED:
      return true;
    case TXN_OUTCOME_MISSING:
      if (!ctx->text && failed_op > 0 && failed_op <= ctx->media_ops) {
        continue; /* an image went away meanwhile: read them again */
      }
      if (!ctx->text && failed_op == ctx->media_ops + 2 &&
          ctx->t->has_reply_to && !ctx->parent_gone) {
        ctx->parent_gone = true; /* a deleted parent has no count to fix */
        continue;
      }
      if (!ctx->text && failed_op >= ctx->media_ops + 2 &&
          ctx->t->has_quote_of && !ctx->quoted_gone) {
        ctx->quoted_gone = true; /* likewise a deleted quoted tweet */
        continue;
      }
      if (!ctx->text && failed_op >= ctx->media_ops + 2) {
        continue; /* a repost went away meanwhile: read them again */
      }
      chorus_error_set(err, 404, "tweet_not_found", "No such tweet");
      return false;
    case TXN_OUTCOME_EXISTS:
      if (ctx->text) {
        continue; /* another edit kept the same version number: again */
      }
      return false;
    default:
      return false;
    }
  }
  chorus_error_set(err, 409, "conflict", "The tweet keeps changing; try again");
  return false;
}

bool tweets_edit(db_t *db, sync_t *sync, const user_t *editor,
                 const char *id_hex, const char *text, size_t text_len,
                 tweet_t *out, chorus_error_t *err) {
  tweet_t *both = bson_malloc0(sizeof *both * 2);
  change_ctx_t *ctx = bson_malloc0(sizeof *ctx);
  *ctx = (change_ctx_t){.db = db,
                        .sync = sync,
                        .user = editor,
                        .text = text,
                        .text_len = text_len,
                        .t = &both[0],
                        .now_t = &both[1]};
  tweet_t *t = &both[0];
  bool ok = false;
  if (!tweets_parse_id(sync, id_hex, &ctx->id, err) ||
      !validate_text("text", text, text_len, 1, TWEET_TEXT_MAX, err)) {
    goto done;
  }
  memcpy(both[1].text, text, text_len);
  both[1].text[text_len] = '\0';
  if (!resolve_entities(db, sync, text, text_len, &both[1], ctx->mentions,
                        &ctx->n_mentions, err) ||
      !change(ctx, err)) {
    goto done;
  }
  memcpy(t->text, text, text_len);
  t->text[text_len] = '\0';
  t->n_entities = both[1].n_entities;
  memcpy(t->entities, both[1].entities, sizeof t->entities);
  t->edited_at_ms = ctx->now;
  t->edit_count++;
  t->version++;
  ok = join(db, sync, editor, t, 1, err);
  if (ok) {
    *out = *t;
    t->media = NULL; /* moved to out */
  }
done:
  tweet_release(t);
  bson_free(ctx);
  bson_free(both);
  return ok;
}

bool tweets_delete(db_t *db, sync_t *sync, const user_t *user,
                   const char *id_hex, chorus_error_t *err) {
  tweet_t *t = bson_malloc0(sizeof *t);
  change_ctx_t *ctx = bson_malloc0(sizeof *ctx);
  *ctx = (change_ctx_t){.db = db, .sync = sync, .user = user, .t = t};
  bool ok = tweets_parse_id(sync, id_hex, &ctx->id, err) && change(ctx, err);
  if (ok && ctx->more_reposts) {
    /* The deletion is answered whatever this does: reposts of a deleted
     * tweet left behind are skipped by every reader (reposts.h). */
    chorus_error_t later;
    reposts_remove_rest(db, sync, &ctx->id, &later);
  }
  tweet_release(t);
  bson_free(ctx);
  bson_free(t);
  return ok;
}

/* ---- edit history ---- */

bool tweets_history(db_t *db, sync_t *sync, const char *id_hex,
                    tweet_history_t *out, chorus_error_t *err) {
  memset(out, 0, sizeof *out);
  tweet_t *t = bson_malloc0(sizeof *t);
  bool ok = tweets_get(db, sync, NULL, id_hex, t, err);
  tweet_release(t); /* its texts are all this reads */
  if (!ok) {
    bson_free(t);
    return false;
  }
  /* The current text, then the kept ones by _id, newest first. */
  size_t n = (size_t)(t->edit_count > 0 ? t->edit_count : 0) + 1;
  out->items = bson_malloc0(sizeof *out->items * n);
  tweet_version_t *cur = &out->items[out->n++];
  memcpy(cur->text, t->text, sizeof cur->text);
  cur->written_at_ms = t->edited_at_ms ? t->edited_at_ms : t->created_at_ms;
  cur->current = true;
  bson_t filter = BSON_INITIALIZER, in_doc, in;
  BSON_APPEND_DOCUMENT_BEGIN(&filter, "_id", &in_doc);
  BSON_APPEND_ARRAY_BEGIN(&in_doc, "$in", &in);
  for (int64_t k = t->edit_count; k >= 1; k--) {
    char vid[TWEET_VERSION_ID_LEN + 1], buf[16];
    const char *key;
    version_id(&t->id, k, vid);
    bson_uint32_to_string((uint32_t)(t->edit_count - k), &key, buf, sizeof buf);
    BSON_APPEND_UTF8(&in, key, vid);
  }
  bson_append_array_end(&in_doc, &in);
  bson_append_document_end(&filter, &in_doc);
  bson_t *sort = BCON_NEW("n", BCON_INT32(-1));
  query_result_t r;
  ok =
      t->edit_count == 0 || query_visible(db, sync, DB_TWEET_VERSIONS, &filter,
                                          sort, (size_t)t->edit_count, &r, err);
  for (size_t i = 0; ok && t->edit_count > 0 && i < r.n && out->n < n; i++) {
    tweet_version_t *v = &out->items[out->n++];
    bson_iter_t it;
    if (bson_iter_init_find(&it, r.docs[i], "text") &&
        BSON_ITER_HOLDS_UTF8(&it)) {
      bsonx_copy_utf8(&it, v->text, sizeof v->text);
    }
    if (bson_iter_init_find(&it, r.docs[i], "written_at") &&
        BSON_ITER_HOLDS_DATE_TIME(&it)) {
      v->written_at_ms = bson_iter_date_time(&it);
    }
  }
  if (ok && t->edit_count > 0) {
    query_result_free(&r);
  }
  bson_destroy(sort);
  bson_destroy(&filter);
  bson_free(t);
  if (!ok) {
    tweet_history_destroy(out);
  }
  return ok;
}

void tweet_history_destroy(tweet_history_t *h) {
  bson_free(h->items);
  memset(h, 0, sizeof *h);
}

/* ---- lists ---- */

/* Negative when a comes first in a newest-first list (is newer). */
static int key_order(const page_cursor_t *a, const page_cursor_t *b) {
  if (a->ts_ms != b->ts_ms) {
    return a->ts_ms > b->ts_ms ? -1 : 1;
  }
  return -bson_oid_compare(&a->id, &b->id);
}

/* Timeline order: newer first, then higher id first (or the reverse). */
static int newest_first(const void *a, const void *b) {
  page_cursor_t x, y;
  tweets_item_key(a, &x);
  tweets_item_key(b, &y);
  return key_order(&x, &y);
}

void tweets_item_key(const tweet_t *t, page_cursor_t *key) {
  key->ts_ms = t->is_repost ? t->reposted_at_ms : t->created_at_ms;
  key->id = t->is_repost ? t->repost_id : t->id;
}

/* Adds the newest `want` reposts by q's authors (a home feed) after
 * before to all[*n..], as feed items of their tweets.  A repost of a
 * tweet gone meanwhile (beyond what a deletion removes: reposts.h) is
 * skipped, and more are read in its place. */
static bool add_reposts(db_t *db, sync_t *sync, const tweet_query_t *q,
                        const page_cursor_t *before, size_t want, tweet_t *all,
                        size_t *n, chorus_error_t *err) {
  page_cursor_t after;
  const page_cursor_t *from = before;
  size_t got = 0;
  bool ok = true, more = true;
  while (ok && more && got < want) {
    repost_t *r;
    size_t n_r;
    if (!reposts_list_by_users(db, sync, q->authors, q->n_authors, from,
                               want - got, &r, &n_r, err)) {
      return false;
    }
    more = n_r == want - got;
    for (size_t i = 0; ok && i < n_r; i++) {
      bool found = false;
      tweet_t *t = &all[*n];
      ok = read_tweet(db, sync, &r[i].tweet, &found, t, err);
      if (ok && found) {
        t->is_repost = true;
        t->reposted_by.id = r[i].user;
        t->reposted_at_ms = r[i].created_at_ms;
        t->repost_id = r[i].id;
        (*n)++;
        got++;
      }
    }
    if (n_r > 0) {
      after.ts_ms = r[n_r - 1].created_at_ms;
      after.id = r[n_r - 1].id;
      from = &after;
    }
    bson_free(r);
  }
  return ok;
}

static int oldest_first(const void *a, const void *b) {
  return newest_first(b, a);
}

/* The filter of q on shard k; false when the shard cannot hold any. */
static bool shard_filter(sync_t *sync, const tweet_query_t *q, int k,
                         bson_t *filter) {
  shards_t *shards = sync_shards(sync);
  bson_init(filter);
  switch (q->kind) {
  case TWEETS_ALL:
    return true;
  case TWEETS_BY_AUTHOR:
    BSON_APPEND_OID(filter, "author_id", &q->author);
    return shards_of_user(shards, &q->author) == k;
  case TWEETS_REPLIES:
    BSON_APPEND_OID(filter, "reply_to", &q->parent);
    return true;
  case TWEETS_BY_AUTHORS: {
    bson_t in_doc, in;
    uint32_t n = 0;
    BSON_APPEND_DOCUMENT_BEGIN(filter, "author_id", &in_doc);
    BSON_APPEND_ARRAY_BEGIN(&in_doc, "$in", &in);
    for (size_t i = 0; i < q->n_authors; i++) {
      if (shards_of_user(shards, &q->authors[i]) == k) {
        bsonx_array_append_oid(&in, n++, &q->authors[i]);
      }
    }
    bson_append_array_end(&in_doc, &in);
    bson_append_document_end(filter, &in_doc);
    return n > 0;
  }
  case TWEETS_WITH_WORDS: {
    bson_t all_doc, all;
    BSON_APPEND_DOCUMENT_BEGIN(filter, TWEETS_WORDS_FIELD, &all_doc);
    BSON_APPEND_ARRAY_BEGIN(&all_doc, "$all", &all);
    for (size_t i = 0; i < q->n_words; i++) {
      char buf[16];
      const char *key;
      size_t len = bson_uint32_to_string((uint32_t)i, &key, buf, sizeof buf);
      bson_append_utf8(&all, key, (int)len, q->words[i], -1);
    }
    bson_append_array_end(&all_doc, &all);
    bson_append_document_end(filter, &all_doc);
    return q->n_words > 0;
  }
  case TWEETS_WITH_TAG:
    BSON_APPEND_UTF8(filter, "tags", q->tag);
    return true;
  }
  return false;
}

/* The first `want` items of q strictly after before (NULL: from the
 * start), in list order, into *out (owned: release each, then bson_free;
 * *n of them, at most want); every source of items was read as far as
 * want, so *n < want means there are no more. */
static bool list_items(db_t *db, sync_t *sync, const tweet_query_t *q,
                       const page_cursor_t *before, size_t want, tweet_t **out,
                       size_t *n_out, chorus_error_t *err) {
  bool ascending = q->kind == TWEETS_REPLIES;
  shards_t *shards = sync_shards(sync);
  int n_shards = shards_count(shards);
  bool feed = q->kind == TWEETS_BY_AUTHORS;
  tweet_t *all =
      bson_malloc0(sizeof *all * want * (size_t)(n_shards + (feed ? 1 : 0)));
  size_t n = 0;
  bson_t *sort =
      ascending ? BCON_NEW("created_at", BCON_INT32(1), "_id", BCON_INT32(1))
                : BCON_NEW("created_at", BCON_INT32(-1), "_id", BCON_INT32(-1));
  bool ok = true;
  for (int k = 0; ok && k < n_shards; k++) {
    bson_t filter;
    if (shard_filter(sync, q, k, &filter)) {
      if (before) {
        page_cursor_append_filter(&filter, before, ascending);
      }
      char coll[TWEET_COLL_LEN];
      tweets_coll(k, coll);
      query_result_t r;
      ok = query_visible(shards_db(shards, k), sync, coll, &filter, sort, want,
                         &r, err);
      for (size_t i = 0; ok && i < r.n; i++) {
        tweets_from_stored(r.docs[i], &all[n++]);
      }
      if (ok) {
        query_result_free(&r);
      }
    }
    bson_destroy(&filter);
  }
  bson_destroy(sort);
  if (ok && feed) {
    ok = add_reposts(db, sync, q, before, want, all, &n, err);
  }
  if (!ok) {
    for (size_t i = 0; i < n; i++) {
      tweet_release(&all[i]);
    }
    bson_free(all);
    return false;
  }
  qsort(all, n, sizeof *all, ascending ? oldest_first : newest_first);
  for (size_t i = want; i < n; i++) {
    tweet_release(&all[i]); /* read, not shown */
  }
  *out = all;
  *n_out = n < want ? n : want;
  return true;
}

/* Items of a home feed and whether a newer item of the same tweet
 * exists (superseded[i]). */
typedef struct supersede {
  const tweet_t *items;
  bool *superseded;
  size_t n;
} supersede_t;

static bool supersede_by_repost(void *ctx, const repost_t *r) {
  supersede_t *s = ctx;
  page_cursor_t k = {.ts_ms = r->created_at_ms, .id = r->id};
  for (size_t i = 0; i < s->n; i++) {
    page_cursor_t item;
    tweets_item_key(&s->items[i], &item);
    if (bson_oid_equal(&s->items[i].id, &r->tweet) &&
        key_order(&k, &item) < 0) {
      s->superseded[i] = true;
    }
  }
  return true;
}

/* Marks each of items[0..n) (of the home feed of q's authors) that is not
 * its tweet's newest item in that feed: the tweet itself, when its
 * author is one of them, and each of their reposts of it are its items. */
static bool mark_superseded(db_t *db, sync_t *sync, const tweet_query_t *q,
                            const tweet_t *items, size_t n, bool *superseded,
                            chorus_error_t *err) {
  bson_oid_t *ids = bson_malloc(sizeof *ids * (n ? n : 1));
  size_t n_ids = 0;
  for (size_t i = 0; i < n; i++) {
    superseded[i] = false;
    size_t k = 0;
    while (k < n_ids && !bson_oid_equal(&ids[k], &items[i].id)) {
      k++;
    }
    if (k == n_ids) {
      ids[n_ids++] = items[i].id;
    }
    if (!items[i].is_repost) {
      continue;
    }
    /* A repost stamped before its tweet (clocks of two servers). */
    page_cursor_t made = {.ts_ms = items[i].created_at_ms, .id = items[i].id};
    page_cursor_t item;
    tweets_item_key(&items[i], &item);
    for (size_t a = 0; a < q->n_authors && key_order(&made, &item) < 0; a++) {
      if (bson_oid_equal(&q->authors[a], &items[i].author.id)) {
        superseded[i] = true;
        break;
      }
    }
  }
  supersede_t s = {items, superseded, n};
  bool ok = reposts_of_tweets_by_users(db, sync, q->authors, q->n_authors, ids,
                                       n_ids, supersede_by_repost, &s, err);
  bson_free(ids);
  return ok;
}

/* list_items for a home feed: each tweet once, as its newest item (the
 * tweet's own when no author of the feed reposted it, else the newest of
 * their reposts), so that neither two reposts of one tweet nor a tweet
 * and a repost of it are both listed; paging stays exact, since whether
 * an item is its tweet's newest does not depend on the page. */
static bool feed_items(db_t *db, sync_t *sync, const tweet_query_t *q,
                       const page_cursor_t *before, size_t want, tweet_t **out,
                       size_t *n_out, chorus_error_t *err) {
  tweet_t *kept = bson_malloc0(sizeof *kept * want);
  size_t n_kept = 0;
  page_cursor_t from;
  const page_cursor_t *after = before;
  bool ok = true, more = true;
  while (ok && more && n_kept < want) {
    tweet_t *all;
    size_t n;
    ok = list_items(db, sync, q, after, want, &all, &n, err);
    if (!ok) {
      break;
    }
    bool *superseded = bson_malloc0(sizeof *superseded * (n ? n : 1));
    ok = mark_superseded(db, sync, q, all, n, superseded, err);
    for (size_t i = 0; i < n; i++) {
      if (ok && !superseded[i] && n_kept < want) {
        kept[n_kept++] = all[i]; /* moves its images */
      } else {
        tweet_release(&all[i]);
      }
    }
    more = n == want;
    if (n > 0) {
      tweets_item_key(&all[n - 1], &from);
      after = &from;
    }
    bson_free(superseded);
    bson_free(all);
  }
  if (!ok) {
    for (size_t i = 0; i < n_kept; i++) {
      tweet_release(&kept[i]);
    }
    bson_free(kept);
    return false;
  }
  *out = kept;
  *n_out = n_kept;
  return true;
}

bool tweets_list(db_t *db, sync_t *sync, const tweet_query_t *q,
                 const page_cursor_t *before, size_t limit,
                 const user_t *viewer, tweet_page_t *page,
                 chorus_error_t *err) {
  memset(page, 0, sizeof *page);
  if (limit < 1 || limit > TWEET_PAGE_MAX) {
    chorus_error_set(err, 400, "invalid_limit", "limit must be 1 to %d",
                     TWEET_PAGE_MAX);
    return false;
  }
  tweet_t *all;
  size_t n;
  bool ok = q->kind == TWEETS_BY_AUTHORS
                ? feed_items(db, sync, q, before, limit + 1, &all, &n, err)
                : list_items(db, sync, q, before, limit + 1, &all, &n, err);
  if (!ok) {
    return false;
  }
  page->has_next = n > limit;
  page->n = page->has_next ? limit : n;
  for (size_t i = page->n; i < n; i++) {
    tweet_release(&all[i]); /* read, not shown */
  }
  page->items = all;
  if (page->has_next) {
    tweets_item_key(&all[page->n - 1], &page->next);
  }
  /* Display names are read now, so a renamed author shows the new name
   * on old tweets. */
  if (!join(db, sync, viewer, page->items, page->n, err)) {
    tweet_page_destroy(page);
    return false;
  }
  return true;
}

void tweet_page_destroy(tweet_page_t *page) {
  for (size_t i = 0; i < page->n; i++) {
    tweet_release(&page->items[i]);
  }
  bson_free(page->items);
  memset(page, 0, sizeof *page);
}

bool tweets_mark(db_t *db, sync_t *sync, const char *coll,
                 tweets_pair_id_fn pair_id, size_t flag_offset,
                 const bson_oid_t *viewer, tweet_t *tweets, size_t n,
                 chorus_error_t *err) {
  assert(flag_offset + sizeof(bool) <= sizeof(tweet_t));
  for (size_t i = 0; i < n; i++) {
    *(bool *)((char *)&tweets[i] + flag_offset) = false;
  }
  if (!viewer || n == 0) {
    return true;
  }
  bson_t filter = BSON_INITIALIZER, id_doc, in;
  BSON_APPEND_DOCUMENT_BEGIN(&filter, "_id", &id_doc);
  BSON_APPEND_ARRAY_BEGIN(&id_doc, "$in", &in);
  for (size_t i = 0; i < n; i++) {
    pair_id(&in, (uint32_t)i, viewer, &tweets[i].id);
  }
  bson_append_array_end(&id_doc, &in);
  bson_append_document_end(&filter, &id_doc);
  query_result_t r;
  bool ok = query_visible(db, sync, coll, &filter, NULL, n, &r, err);
  bson_destroy(&filter);
  for (size_t k = 0; ok && k < r.n; k++) {
    bson_oid_t tweet;
    for (size_t i = 0; i < n && bsonx_find_oid(r.docs[k], "tweet_id", &tweet);
         i++) {
      if (bson_oid_equal(&tweet, &tweets[i].id)) {
        *(bool *)((char *)&tweets[i] + flag_offset) = true;
      }
    }
  }
  if (ok) {
    query_result_free(&r);
  }
  return ok;
}

typedef struct tweet_scan {
  tweets_scan_fn fn;
  void *ctx;
  tweet_t t; /* too big for the stack of every call */
} tweet_scan_t;

static bool tweet_doc(void *ctx, const bson_t *doc) {
  tweet_scan_t *scan = ctx;
  tweets_from_stored(doc, &scan->t);
  bool more = scan->fn(scan->ctx, &scan->t);
  tweet_release(&scan->t);
  return more;
}

bool tweets_scan(sync_t *sync, tweets_scan_fn fn, void *ctx,
                 chorus_error_t *err) {
  shards_t *shards = sync_shards(sync);
  tweet_scan_t *scan = bson_malloc0(sizeof *scan);
  scan->fn = fn;
  scan->ctx = ctx;
  bson_t *projection = BCON_NEW(TWEETS_WORDS_FIELD, BCON_INT32(0));
  bool ok = true;
  for (int k = 0; ok && k < shards_count(shards); k++) {
    char coll[TWEET_COLL_LEN];
    tweets_coll(k, coll);
    ok = query_scan(shards_db(shards, k), sync, coll, projection, tweet_doc,
                    scan, err);
  }
  bson_destroy(projection);
  bson_free(scan);
  return ok;
}

static const db_index_t tweets_indexes[] = {
    {"created_at_-1__id_-1", "{\"created_at\": -1, \"_id\": -1}", false},
    {"author_id_1_created_at_-1", "{\"author_id\": 1, \"created_at\": -1}",
     false},
    {"reply_to_1_created_at_1", "{\"reply_to\": 1, \"created_at\": 1}", false},
    {"words_1_created_at_-1", "{\"words\": 1, \"created_at\": -1}", false},
    {"tags_1_created_at_-1", "{\"tags\": 1, \"created_at\": -1}", false},
};

bool tweets_ensure_indexes(shards_t *shards, chorus_error_t *err) {
  bool ok = true;
  for (int k = 0; ok && k < shards_count(shards); k++) {
    char coll[TWEET_COLL_LEN];
    tweets_coll(k, coll);
    ok = db_ensure_indexes(shards_db(shards, k), coll, tweets_indexes,
                           DB_INDEX_COUNT(tweets_indexes), err);
  }
  return ok;
}

bool tweets_list_by_name(db_t *db, sync_t *sync, const char *username,
                         size_t len, const page_cursor_t *before, size_t limit,
                         const user_t *viewer, tweet_page_t *page,
                         chorus_error_t *err) {
  user_t u;
  if (!users_find_by_username(db, sync, username, len, &u, err)) {
    return false;
  }
  tweet_query_t q = {.kind = TWEETS_BY_AUTHOR, .author = u.id};
  return tweets_list(db, sync, &q, before, limit, viewer, page, err);
}

bool tweets_list_replies(db_t *db, sync_t *sync, const char *parent_hex,
                         const page_cursor_t *before, size_t limit,
                         const user_t *viewer, tweet_page_t *page,
                         chorus_error_t *err) {
  tweet_t parent;
  if (!tweets_get(db, sync, NULL, parent_hex, &parent, err)) {
    return false;
  }
  tweet_release(&parent);
  tweet_query_t q = {.kind = TWEETS_REPLIES, .parent = parent.id};
  return tweets_list(db, sync, &q, before, limit, viewer, page, err);
}

bool tweets_search(db_t *db, sync_t *sync, const char *q, size_t len,
                   const page_cursor_t *before, size_t limit,
                   const user_t *viewer, tweet_page_t *page,
                   chorus_error_t *err) {
  char *words[SEARCH_MAX_WORDS];
  size_t n = search_words(q, len, words, SEARCH_MAX_WORDS);
  if (n == 0) {
    /* Only punctuation or symbols: no word can match. */
    memset(page, 0, sizeof *page);
    return true;
  }
  tweet_query_t tq = {.kind = TWEETS_WITH_WORDS, .words = words, .n_words = n};
  bool ok = tweets_list(db, sync, &tq, before, limit, viewer, page, err);
  search_words_free(words, n);
  return ok;
}
