/*
 * notifications.c - see notifications.h.
 */
#include "server/domain/notifications.h"

#include <sodium.h>
#include <string.h>

#include "server/domain/event_payloads.h"
#include "sync/query.h"

static const char *const type_names[NOTIFY_TYPE_COUNT] = {
    [NOTIFY_FOLLOW] = "follow", [NOTIFY_LIKE] = "like",
    [NOTIFY_REPLY] = "reply",   [NOTIFY_MENTION] = "mention",
    [NOTIFY_REPOST] = "repost", [NOTIFY_QUOTE] = "quote",
};

const char *notify_type_name(notify_type_t type) {
  return (unsigned)type < NOTIFY_TYPE_COUNT ? type_names[type]
                                            : type_names[NOTIFY_REPLY];
}

/* The type named t; NOTIFY_REPLY for an unknown name. */
static notify_type_t notify_type_parse(const char *t) {
  for (int i = 0; i < NOTIFY_TYPE_COUNT; i++) {
    if (!strcmp(type_names[i], t)) {
      return (notify_type_t)i;
    }
  }
  return NOTIFY_REPLY;
}

void notifications_id(const bson_oid_t *recipient, notify_type_t type,
                      const bson_oid_t *actor, const bson_oid_t *tweet,
                      bson_oid_t *id) {
  /* "chorus.notify", the type, the three ids (zeros for no tweet). */
  static const char tag[] = "chorus.notify";
  uint8_t in[sizeof tag + 1 + 3 * 12];
  memcpy(in, tag, sizeof tag);
  in[sizeof tag] = (uint8_t)type;
  memcpy(in + sizeof tag + 1, recipient->bytes, 12);
  memcpy(in + sizeof tag + 13, actor->bytes, 12);
  memset(in + sizeof tag + 25, 0, 12);
  if (tweet) {
    memcpy(in + sizeof tag + 25, tweet->bytes, 12);
  }
  uint8_t h[crypto_generichash_BYTES_MIN];
  crypto_generichash(h, sizeof h, in, sizeof in, NULL, 0);
  bson_oid_init_from_data(id, h);
}

bool notifications_add(db_t *db, sync_t *sync, txn_t *txn,
                       event_batch_t *events, const bson_oid_t *recipient,
                       notify_type_t type, const bson_oid_t *actor,
                       const bson_oid_t *tweet, chorus_error_t *err) {
  if (bson_oid_equal(recipient, actor)) {
    return true;
  }
  bson_oid_t id;
  notifications_id(recipient, type, actor, tweet, &id);
  if (type != NOTIFY_REPLY && type != NOTIFY_QUOTE) {
    bson_value_t key = {.value_type = BSON_TYPE_OID};
    bson_oid_copy(&id, &key.value.v_oid);
    bson_t *existing = NULL;
    bool found = false;
    if (!query_by_id(db, sync, DB_NOTIFICATIONS, &key, &existing, &found,
                     err)) {
      return false;
    }
    if (existing) {
      bson_destroy(existing);
    }
    if (found) {
      return true; /* notified of this before: it stays as it is */
    }
  }
  int64_t now = db_now_ms();
  bson_t doc = BSON_INITIALIZER;
  BSON_APPEND_OID(&doc, "_id", &id);
  BSON_APPEND_OID(&doc, "user_id", recipient);
  BSON_APPEND_UTF8(&doc, "type", notify_type_name(type));
  BSON_APPEND_OID(&doc, "actor_id", actor);
  if (tweet) {
    BSON_APPEND_OID(&doc, "tweet_id", tweet);
  } else {
    BSON_APPEND_NULL(&doc, "tweet_id");
  }
  BSON_APPEND_DATE_TIME(&doc, "created_at", now);
  BSON_APPEND_INT64(&doc, "version", 1);
  txn_add_insert(txn, TXN_MAIN_SHARD, DB_NOTIFICATIONS, &doc);
  event_add_notification(events, recipient, &doc);
  bson_destroy(&doc);
  return true;
}

void notifications_parse(const bson_t *doc, notification_t *n) {
  bson_iter_t it;
  memset(n, 0, sizeof *n);
  if (!bson_iter_init(&it, doc)) {
    return;
  }
  while (bson_iter_next(&it)) {
    const char *key = bson_iter_key(&it);
    if (!strcmp(key, "_id") && BSON_ITER_HOLDS_OID(&it)) {
      bson_oid_copy(bson_iter_oid(&it), &n->id);
    } else if (!strcmp(key, "type") && BSON_ITER_HOLDS_UTF8(&it)) {
      n->type = notify_type_parse(bson_iter_utf8(&it, NULL));
    } else if (!strcmp(key, "actor_id") && BSON_ITER_HOLDS_OID(&it)) {
      bson_oid_copy(bson_iter_oid(&it), &n->actor.id);
    } else if (!strcmp(key, "tweet_id") && BSON_ITER_HOLDS_OID(&it)) {
      bson_oid_copy(bson_iter_oid(&it), &n->tweet);
      n->has_tweet = true;
    } else if (!strcmp(key, "created_at") && BSON_ITER_HOLDS_DATE_TIME(&it)) {
      n->created_at_ms = bson_iter_date_time(&it);
    }
  }
}

bool notifications_list(db_t *db, sync_t *sync, const user_t *me,
                        const page_cursor_t *before, size_t limit,
                        notification_page_t *page, chorus_error_t *err) {
  memset(page, 0, sizeof *page);
  bson_t filter = BSON_INITIALIZER;
  BSON_APPEND_OID(&filter, "user_id", &me->id);
  if (before) {
    page_cursor_append_filter(&filter, before, false);
  }
  bson_t *sort = BCON_NEW("created_at", BCON_INT32(-1), "_id", BCON_INT32(-1));
  query_result_t r;
  bool ok = query_visible(db, sync, DB_NOTIFICATIONS, &filter, sort, limit + 1,
                          &r, err);
  bson_destroy(sort);
  bson_destroy(&filter);
  if (!ok) {
    return false;
  }
  page->has_next = r.n > limit;
  page->n = page->has_next ? limit : r.n;
  page->items = bson_malloc0(sizeof *page->items * (page->n + 1));
  user_name_t *names = bson_malloc0(sizeof *names * (page->n + 1));
  for (size_t i = 0; i < page->n; i++) {
    notifications_parse(r.docs[i], &page->items[i]);
    page->items[i].read =
        page->items[i].created_at_ms <= me->notifications_read_at_ms;
    names[i].id = page->items[i].actor.id;
  }
  query_result_free(&r);
  if (page->has_next) {
    page->next.ts_ms = page->items[page->n - 1].created_at_ms;
    page->next.id = page->items[page->n - 1].id;
  }
  mongoc_client_t *client = db_acquire(db);
  ok = users_get_names(db, client, names, page->n, err);
  db_release(db, client);
  for (size_t i = 0; ok && i < page->n; i++) {
    page->items[i].actor = names[i];
  }
  bson_free(names);

  /* Unread: committed notifications newer than the read mark. */
  bson_t unread = BSON_INITIALIZER, after;
  BSON_APPEND_OID(&unread, "user_id", &me->id);
  BSON_APPEND_DOCUMENT_BEGIN(&unread, "created_at", &after);
  BSON_APPEND_DATE_TIME(&after, "$gt", me->notifications_read_at_ms);
  bson_append_document_end(&unread, &after);
  ok = ok &&
       query_count_unlocked(db, DB_NOTIFICATIONS, &unread, &page->unread, err);
  bson_destroy(&unread);
  if (!ok) {
    notification_page_destroy(page);
  }
  return ok;
}

typedef struct mark_ctx {
  const user_t *me;
} mark_ctx_t;

static bool build_mark(void *arg, txn_t *txn, chorus_error_t *err) {
  (void)err;
  mark_ctx_t *c = arg;
  bson_value_t id = {.value_type = BSON_TYPE_OID};
  bson_oid_copy(&c->me->id, &id.value.v_oid);
  bson_t set = BSON_INITIALIZER;
  BSON_APPEND_DATE_TIME(&set, "notifications_read_at", db_now_ms());
  txn_add_update(txn, TXN_MAIN_SHARD, DB_USERS, &id, &set, NULL, NULL);
  bson_destroy(&set);
  return true;
}

bool notifications_mark_read(db_t *db, sync_t *sync, const user_t *me,
                             chorus_error_t *err) {
  (void)db;
  mark_ctx_t ctx = {me};
  size_t failed;
  txn_outcome_t outcome = sync_commit(sync, build_mark, &ctx, &failed, err);
  if (outcome == TXN_OUTCOME_MISSING) {
    chorus_error_set(err, 401, "not_logged_in", "You are not logged in");
  }
  return outcome == TXN_OUTCOME_COMMITTED;
}

void notification_page_destroy(notification_page_t *page) {
  bson_free(page->items);
  memset(page, 0, sizeof *page);
}

static const db_index_t notifications_indexes[] = {
    {"user_id_1_created_at_-1", "{\"user_id\": 1, \"created_at\": -1}", false},
};

bool notifications_ensure_indexes(db_t *db, chorus_error_t *err) {
  return db_ensure_indexes(db, DB_NOTIFICATIONS, notifications_indexes,
                           DB_INDEX_COUNT(notifications_indexes), err);
}
