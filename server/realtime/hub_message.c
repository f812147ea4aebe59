/*
 * hub_message.c - see hub_message.h.
 *
 * Invariant of a hub_watch_t: n <= cap, n <= HUB_MAX_SUBSCRIPTIONS, and
 * ids[0..n) are distinct.  Of a hub_tags_t: n <= HUB_MAX_TAGS, and
 * tags[0..n) are distinct folded tags.
 */
#include "server/realtime/hub_message.h"

#include <assert.h>
#include <civetweb.h>
#include <stdlib.h>
#include <string.h>

bool hub_message_parse(const char *data, size_t len, hub_message_t *msg) {
  memset(msg, 0, sizeof *msg);
  bson_error_t berr;
  bson_t *doc =
      len && data[0] == '{'
          ? bson_new_from_json((const uint8_t *)data, (ssize_t)len, &berr)
          : NULL;
  bson_iter_t it, list;
  const char *type = NULL;
  if (doc && bson_iter_init_find(&it, doc, "type") &&
      BSON_ITER_HOLDS_UTF8(&it)) {
    type = bson_iter_utf8(&it, NULL);
  }
  bool subscribe = type && !strcmp(type, "subscribe");
  bool unsubscribe = type && !strcmp(type, "unsubscribe");
  bson_iter_t tags;
  bool has_tweets = doc && bson_iter_init_find(&list, doc, "tweets") &&
                    BSON_ITER_HOLDS_ARRAY(&list) &&
                    bson_iter_recurse(&list, &it);
  bool has_tags = doc && bson_iter_init_find(&list, doc, "tags") &&
                  BSON_ITER_HOLDS_ARRAY(&list) &&
                  bson_iter_recurse(&list, &tags);
  bool has_timeline = doc && bson_iter_init_find(&list, doc, "timeline") &&
                      BSON_ITER_HOLDS_BOOL(&list);
  bool ok =
      (subscribe || unsubscribe) && (has_tweets || has_tags || has_timeline);
  if (ok) {
    msg->subscribe = subscribe;
    msg->timeline = has_timeline && bson_iter_bool(&list);
  }
  if (ok && has_tags) {
    size_t cap = 0;
    while (bson_iter_next(&tags)) {
      uint32_t n;
      const char *tag =
          BSON_ITER_HOLDS_UTF8(&tags) ? bson_iter_utf8(&tags, &n) : NULL;
      char folded[TAG_SIZE];
      chorus_error_t err;
      if (!tag || !tags_parse(tag, n, folded, &err)) {
        continue;
      }
      if (msg->n_tags == cap) {
        cap = cap ? cap * 2 : 4;
        msg->tags = bson_realloc(msg->tags, sizeof *msg->tags * cap);
      }
      memcpy(msg->tags[msg->n_tags++], folded, sizeof folded);
    }
  }
  if (ok && has_tweets) {
    size_t cap = 0;
    while (bson_iter_next(&it)) {
      uint32_t n;
      const char *hex =
          BSON_ITER_HOLDS_UTF8(&it) ? bson_iter_utf8(&it, &n) : NULL;
      if (!hex || n != 24 || !bson_oid_is_valid(hex, n)) {
        continue;
      }
      if (msg->n == cap) {
        cap = cap ? cap * 2 : 8;
        msg->ids = bson_realloc(msg->ids, sizeof *msg->ids * cap);
      }
      bson_oid_init_from_string(&msg->ids[msg->n++], hex);
    }
  }
  if (doc) {
    bson_destroy(doc);
  }
  return ok;
}

void hub_message_free(hub_message_t *msg) {
  bson_free(msg->ids);
  bson_free(msg->tags);
  memset(msg, 0, sizeof *msg);
}

/* The index of id in w, or w->n. */
static size_t watch_find(const hub_watch_t *w, const bson_oid_t *id) {
  for (size_t i = 0; i < w->n; i++) {
    if (bson_oid_equal(&w->ids[i], id)) {
      return i;
    }
  }
  return w->n;
}

void hub_watch_apply(hub_watch_t *w, const hub_message_t *msg) {
  for (size_t k = 0; k < msg->n; k++) {
    const bson_oid_t *id = &msg->ids[k];
    size_t at = watch_find(w, id);
    if (msg->subscribe && at == w->n && w->n < HUB_MAX_SUBSCRIPTIONS) {
      if (w->n == w->cap) {
        w->cap = w->cap ? w->cap * 2 : 8;
        w->ids = bson_realloc(w->ids, sizeof *w->ids * w->cap);
      }
      w->ids[w->n++] = *id;
    } else if (!msg->subscribe && at < w->n) {
      w->ids[at] = w->ids[--w->n];
    }
  }
  assert(w->n <= w->cap && w->n <= HUB_MAX_SUBSCRIPTIONS);
}

bool hub_watch_has(const hub_watch_t *w, const bson_oid_t *id) {
  return watch_find(w, id) < w->n;
}

void hub_watch_free(hub_watch_t *w) {
  bson_free(w->ids);
  memset(w, 0, sizeof *w);
}

int64_t hub_since_parse(const char *query) {
  char since[32];
  if (!query ||
      mg_get_var(query, strlen(query), "since", since, sizeof since) <= 0) {
    return 0;
  }
  long long v = strtoll(since, NULL, 10);
  return v > 0 ? (int64_t)v : 0;
}

/* The index of the folded tag in t, or t->n. */
static size_t tags_find(const hub_tags_t *t, const char *tag) {
  for (size_t i = 0; i < t->n; i++) {
    if (!strcmp(t->tags[i], tag)) {
      return i;
    }
  }
  return t->n;
}

/* Watches (on) or stops watching one folded tag. */
static void tags_set(hub_tags_t *t, const char *tag, bool on) {
  size_t at = tags_find(t, tag);
  if (on && at == t->n && t->n < HUB_MAX_TAGS) {
    bson_strncpy(t->tags[t->n++], tag, TAG_SIZE);
  } else if (!on && at < t->n) {
    memcpy(t->tags[at], t->tags[--t->n], TAG_SIZE);
  }
  assert(t->n <= HUB_MAX_TAGS);
}

void hub_tags_apply(hub_tags_t *t, const hub_message_t *msg) {
  for (size_t k = 0; k < msg->n_tags; k++) {
    tags_set(t, msg->tags[k], msg->subscribe);
  }
}

bool hub_tags_has(const hub_tags_t *t, const char *tag) {
  return tags_find(t, tag) < t->n;
}

void hub_tags_parse(const char *query, hub_tags_t *t) {
  memset(t, 0, sizeof *t);
  char list[HUB_MAX_TAGS * (TAG_SIZE + 1)];
  int len =
      query ? mg_get_var(query, strlen(query), "tags", list, sizeof list) : -1;
  for (int from = 0, i = 0; len > 0 && i <= len; i++) {
    if (i == len || list[i] == ',') {
      char folded[TAG_SIZE];
      chorus_error_t err;
      if (tags_parse(list + from, (size_t)(i - from), folded, &err)) {
        tags_set(t, folded, true);
      }
      from = i + 1;
    }
  }
}

/* Whether the query's parameter name is "1". */
static bool flag_parse(const char *query, const char *name) {
  char flag[4];
  return query &&
         mg_get_var(query, strlen(query), name, flag, sizeof flag) > 0 &&
         !strcmp(flag, "1");
}

bool hub_trends_parse(const char *query) { return flag_parse(query, "trends"); }

bool hub_timeline_parse(const char *query) {
  return flag_parse(query, "timeline");
}

bool hub_timeline_apply(bool watching, const hub_message_t *msg) {
  if (!msg->timeline) {
    return watching;
  }
  return msg->subscribe;
}
