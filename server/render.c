/*
 * render.c - see render.h.
 */
#include "render.h"

#include <inttypes.h>
#include <stdio.h>
#include <time.h>

void render_time(int64_t ms, char out[RENDER_TIME_LEN + 1]) {
  time_t secs = (time_t)(ms / 1000);
  int millis = (int)(ms % 1000);
  if (millis < 0) { /* times before 1970 */
    millis += 1000;
    secs -= 1;
  }
  struct tm tm;
  if (!gmtime_r(&secs, &tm) || tm.tm_year + 1900 < 0 ||
      tm.tm_year + 1900 > 9999) {
    /* Outside what RFC 3339 can say: clamp rather than print garbage. */
    snprintf(out, RENDER_TIME_LEN + 1, "%s",
             ms < 0 ? "0000-01-01T00:00:00.000Z" : "9999-12-31T23:59:59.999Z");
    return;
  }
  size_t n = strftime(out, RENDER_TIME_LEN + 1, "%Y-%m-%dT%H:%M:%S", &tm);
  snprintf(out + n, RENDER_TIME_LEN + 1 - n, ".%03dZ", millis);
}

static void append_time(bson_t *doc, const char *key, int64_t ms) {
  char buf[RENDER_TIME_LEN + 1];
  render_time(ms, buf);
  bson_append_utf8(doc, key, -1, buf, -1);
}

void render_user(bson_t *doc, const user_t *u) {
  BSON_APPEND_UTF8(doc, "username", u->username);
  BSON_APPEND_UTF8(doc, "display_name", u->display_name);
  BSON_APPEND_UTF8(doc, "bio", u->bio);
  append_time(doc, "created_at", u->created_at_ms);
}

static void append_oid_hex(bson_t *doc, const char *key,
                           const bson_oid_t *oid) {
  char hex[25];
  bson_oid_to_string(oid, hex);
  bson_append_utf8(doc, key, -1, hex, 24);
}

static void append_name(bson_t *doc, const char *key, const user_name_t *n) {
  bson_t sub;
  bson_append_document_begin(doc, key, -1, &sub);
  BSON_APPEND_UTF8(&sub, "username", n->username);
  BSON_APPEND_UTF8(&sub, "display_name", n->display_name);
  bson_append_document_end(doc, &sub);
}

/* Begins array element i of array into item. */
static void item_begin(bson_t *array, size_t i, bson_t *item) {
  char buf[16];
  const char *key;
  size_t len = bson_uint32_to_string((uint32_t)i, &key, buf, sizeof buf);
  bson_append_document_begin(array, key, (int)len, item);
}

void render_profile(bson_t *doc, const user_t *u, bool followed_by_me) {
  render_user(doc, u);
  BSON_APPEND_INT64(doc, "followers_count", u->followers_count);
  BSON_APPEND_INT64(doc, "following_count", u->following_count);
  BSON_APPEND_INT64(doc, "tweet_count", u->tweet_count);
  BSON_APPEND_BOOL(doc, "followed_by_me", followed_by_me);
}

void render_user_page(bson_t *doc, const user_page_t *page) {
  bson_t items;
  BSON_APPEND_ARRAY_BEGIN(doc, "items", &items);
  for (size_t i = 0; i < page->n; i++) {
    bson_t item;
    item_begin(&items, i, &item);
    BSON_APPEND_UTF8(&item, "username", page->items[i].username);
    BSON_APPEND_UTF8(&item, "display_name", page->items[i].display_name);
    BSON_APPEND_UTF8(&item, "bio", page->items[i].bio);
    bson_append_document_end(&items, &item);
  }
  bson_append_array_end(doc, &items);
  if (page->has_next) {
    BSON_APPEND_UTF8(doc, "next", page->next);
  } else {
    BSON_APPEND_NULL(doc, "next");
  }
}

void render_notification_page(bson_t *doc, const notification_page_t *page) {
  bson_t items;
  BSON_APPEND_ARRAY_BEGIN(doc, "items", &items);
  for (size_t i = 0; i < page->n; i++) {
    const notification_t *n = &page->items[i];
    bson_t item;
    item_begin(&items, i, &item);
    append_oid_hex(&item, "id", &n->id);
    BSON_APPEND_UTF8(&item, "type", notify_type_name(n->type));
    append_name(&item, "actor", &n->actor);
    if (n->has_tweet) {
      append_oid_hex(&item, "tweet", &n->tweet);
    } else {
      BSON_APPEND_NULL(&item, "tweet");
    }
    append_time(&item, "created_at", n->created_at_ms);
    BSON_APPEND_BOOL(&item, "read", n->read);
    bson_append_document_end(&items, &item);
  }
  bson_append_array_end(doc, &items);
  if (page->has_next) {
    char cursor[PAGE_CURSOR_LEN + 1];
    page_cursor_encode(&page->next, cursor);
    BSON_APPEND_UTF8(doc, "next", cursor);
  } else {
    BSON_APPEND_NULL(doc, "next");
  }
  BSON_APPEND_INT64(doc, "unread", page->unread);
}

void render_tweet(bson_t *doc, const tweet_t *t) {
  append_oid_hex(doc, "id", &t->id);
  append_name(doc, "author", &t->author);
  BSON_APPEND_UTF8(doc, "text", t->text);
  append_time(doc, "created_at", t->created_at_ms);
  if (t->edited_at_ms) {
    append_time(doc, "edited_at", t->edited_at_ms);
  } else {
    BSON_APPEND_NULL(doc, "edited_at");
  }
  if (t->has_reply_to) {
    append_oid_hex(doc, "reply_to", &t->reply_to);
  } else {
    BSON_APPEND_NULL(doc, "reply_to");
  }
  BSON_APPEND_INT64(doc, "reply_count", t->reply_count);
  BSON_APPEND_INT64(doc, "like_count", t->like_count);
  BSON_APPEND_BOOL(doc, "liked_by_me", t->liked_by_me);
}

void render_tweet_page(bson_t *doc, const tweet_page_t *page) {
  bson_t items;
  BSON_APPEND_ARRAY_BEGIN(doc, "items", &items);
  for (size_t i = 0; i < page->n; i++) {
    bson_t item;
    item_begin(&items, i, &item);
    render_tweet(&item, &page->items[i]);
    bson_append_document_end(&items, &item);
  }
  bson_append_array_end(doc, &items);
  if (page->has_next) {
    char cursor[PAGE_CURSOR_LEN + 1];
    page_cursor_encode(&page->next, cursor);
    BSON_APPEND_UTF8(doc, "next", cursor);
  } else {
    BSON_APPEND_NULL(doc, "next");
  }
}

void render_error(bson_t *doc, const chorus_error_t *err) {
  bson_t e;
  BSON_APPEND_DOCUMENT_BEGIN(doc, "error", &e);
  BSON_APPEND_UTF8(&e, "code", err->code[0] ? err->code : "internal");
  BSON_APPEND_UTF8(&e, "message",
                   err->message[0] ? err->message : "Internal error");
  bson_append_document_end(doc, &e);
}

char *render_json(const bson_t *doc, size_t *len) {
  return bson_as_relaxed_extended_json(doc, len);
}

/* "key" : "escaped value" (the separator before it is the caller's).
 * Text with nothing to escape (no quote, backslash or control byte: most
 * of it) is copied as it is; the rest goes through libbson's escaper. */
static void json_string(bson_string_t *out, const char *key,
                        const char *value) {
  bson_string_append(out, "\"");
  bson_string_append(out, key);
  bson_string_append(out, "\" : \"");
  bool plain = true;
  for (const unsigned char *p = (const unsigned char *)value; *p; p++) {
    if (*p < 0x20 || *p == '"' || *p == '\\' || *p == 0x7f) {
      plain = false;
      break;
    }
  }
  if (plain) {
    bson_string_append(out, value);
  } else {
    char *escaped = bson_utf8_escape_for_json(value, -1);
    bson_string_append(out, escaped ? escaped : "");
    bson_free(escaped);
  }
  bson_string_append(out, "\"");
}

static void json_oid_or_null(bson_string_t *out, const char *key, bool has,
                             const bson_oid_t *oid) {
  if (has) {
    char hex[25];
    bson_oid_to_string(oid, hex);
    json_string(out, key, hex);
  } else {
    bson_string_append_printf(out, "\"%s\" : null", key);
  }
}

static void json_tweet(bson_string_t *out, const tweet_t *t) {
  char when[RENDER_TIME_LEN + 1];
  bson_string_append(out, "{ ");
  json_oid_or_null(out, "id", true, &t->id);
  bson_string_append(out, ", \"author\" : { ");
  json_string(out, "username", t->author.username);
  bson_string_append(out, ", ");
  json_string(out, "display_name", t->author.display_name);
  bson_string_append(out, " }, ");
  json_string(out, "text", t->text);
  render_time(t->created_at_ms, when);
  bson_string_append(out, ", ");
  json_string(out, "created_at", when);
  bson_string_append(out, ", ");
  if (t->edited_at_ms) {
    render_time(t->edited_at_ms, when);
    json_string(out, "edited_at", when);
  } else {
    bson_string_append(out, "\"edited_at\" : null");
  }
  bson_string_append(out, ", ");
  json_oid_or_null(out, "reply_to", t->has_reply_to, &t->reply_to);
  bson_string_append_printf(
      out,
      ", \"reply_count\" : %" PRId64 ", \"like_count\" : %" PRId64
      ", \"liked_by_me\" : %s }",
      t->reply_count, t->like_count, t->liked_by_me ? "true" : "false");
}

char *render_tweet_page_json(const tweet_page_t *page, size_t *len) {
  bson_string_t *out = bson_string_new("{ \"items\" : [ ");
  for (size_t i = 0; i < page->n; i++) {
    if (i > 0) {
      bson_string_append(out, ", ");
    }
    json_tweet(out, &page->items[i]);
  }
  bson_string_append(out, " ], "); /* libbson prints an empty one "[  ]" */
  if (page->has_next) {
    char cursor[PAGE_CURSOR_LEN + 1];
    page_cursor_encode(&page->next, cursor);
    json_string(out, "next", cursor);
  } else {
    bson_string_append(out, "\"next\" : null");
  }
  bson_string_append(out, " }");
  *len = out->len;
  return bson_string_free(out, false);
}
