/*
 * render.c - see render.h.
 */
#include "server/domain/render.h"

#include <assert.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

/* Writes v as exactly `width` decimal digits (v < 10^width). */
static void put_digits(char *dst, unsigned v, int width) {
  for (int i = width - 1; i >= 0; i--) {
    dst[i] = (char)('0' + v % 10);
    v /= 10;
  }
}

/* The time is written digit by digit: strftime and snprintf were 8 % of
 * chorusd's CPU in the timeline benchmark (docs/PERFORMANCE.md). */
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
    memcpy(out,
           ms < 0 ? "0000-01-01T00:00:00.000Z" : "9999-12-31T23:59:59.999Z",
           RENDER_TIME_LEN + 1);
    return;
  }
  /* "YYYY-MM-DDTHH:MM:SS.mmmZ" */
  memcpy(out, "0000-00-00T00:00:00.000Z", RENDER_TIME_LEN + 1);
  put_digits(out, (unsigned)(tm.tm_year + 1900), 4);
  put_digits(out + 5, (unsigned)(tm.tm_mon + 1), 2);
  put_digits(out + 8, (unsigned)tm.tm_mday, 2);
  put_digits(out + 11, (unsigned)tm.tm_hour, 2);
  put_digits(out + 14, (unsigned)tm.tm_min, 2);
  put_digits(out + 17, (unsigned)tm.tm_sec, 2); /* 60: a leap second */
  put_digits(out + 20, (unsigned)millis, 3);
}

static void append_time(bson_t *doc, const char *key, int64_t ms) {
  char buf[RENDER_TIME_LEN + 1];
  render_time(ms, buf);
  bson_append_utf8(doc, key, -1, buf, -1);
}

static void append_oid_hex(bson_t *doc, const char *key,
                           const bson_oid_t *oid) {
  char hex[25];
  bson_oid_to_string(oid, hex);
  bson_append_utf8(doc, key, -1, hex, 24);
}

/* url and thumb_url of media id. */
static void append_urls(bson_t *doc, const bson_oid_t *id) {
  char url[MEDIA_URL_LEN + 1];
  media_url(id, MEDIA_ORIGINAL, url);
  BSON_APPEND_UTF8(doc, "url", url);
  media_url(id, MEDIA_THUMB, url);
  BSON_APPEND_UTF8(doc, "thumb_url", url);
}

void render_profile_image(bson_t *doc, const char *key, bool has,
                          const bson_oid_t *id) {
  if (!has) {
    bson_append_null(doc, key, -1);
    return;
  }
  bson_t sub;
  bson_append_document_begin(doc, key, -1, &sub);
  append_oid_hex(&sub, "id", id);
  append_urls(&sub, id);
  bson_append_document_end(doc, &sub);
}

void render_user(bson_t *doc, const user_t *u) {
  BSON_APPEND_UTF8(doc, "username", u->username);
  BSON_APPEND_UTF8(doc, "display_name", u->display_name);
  BSON_APPEND_UTF8(doc, "bio", u->bio);
  append_time(doc, "created_at", u->created_at_ms);
  render_profile_image(doc, "avatar", u->has_avatar, &u->avatar);
  render_profile_image(doc, "header", u->has_header, &u->header);
}

void render_media(bson_t *doc, const media_info_t *m) {
  append_oid_hex(doc, "id", &m->id);
  BSON_APPEND_UTF8(doc, "type", image_type_mime(m->type));
  BSON_APPEND_INT32(doc, "width", m->width);
  BSON_APPEND_INT32(doc, "height", m->height);
  BSON_APPEND_UTF8(doc, "alt", m->alt);
  BSON_APPEND_UTF8(doc, "color", m->color);
  append_urls(doc, &m->id);
  BSON_APPEND_INT32(doc, "thumb_width", m->thumb_width);
  BSON_APPEND_INT32(doc, "thumb_height", m->thumb_height);
  BSON_APPEND_INT64(doc, "bytes", m->bytes);
}

/* The id as hex when has, else null. */
static void append_oid_or_null(bson_t *doc, const char *key, bool has,
                               const bson_oid_t *oid) {
  if (has) {
    append_oid_hex(doc, key, oid);
  } else {
    bson_append_null(doc, key, -1);
  }
}

static void append_name(bson_t *doc, const char *key, const user_name_t *n) {
  bson_t sub;
  bson_append_document_begin(doc, key, -1, &sub);
  BSON_APPEND_UTF8(&sub, "username", n->username);
  BSON_APPEND_UTF8(&sub, "display_name", n->display_name);
  render_profile_image(&sub, "avatar", n->has_avatar, &n->avatar);
  bson_append_document_end(doc, &sub);
}

/* Begins array element i of array into item. */
static void item_begin(bson_t *array, size_t i, bson_t *item) {
  char buf[16];
  const char *key;
  size_t len = bson_uint32_to_string((uint32_t)i, &key, buf, sizeof buf);
  bson_append_document_begin(array, key, (int)len, item);
}

/* Appends {items: [...], next}: the shape of every page.  render_item
 * writes item i of items into its array element; next is the cursor of
 * the next page, or NULL for null. */
static void append_page(bson_t *doc, const void *items, size_t n,
                        void (*render_item)(bson_t *item, const void *items,
                                            size_t i),
                        const char *next) {
  bson_t array;
  BSON_APPEND_ARRAY_BEGIN(doc, "items", &array);
  for (size_t i = 0; i < n; i++) {
    bson_t item;
    item_begin(&array, i, &item);
    render_item(&item, items, i);
    bson_append_document_end(&array, &item);
  }
  bson_append_array_end(doc, &array);
  if (next) {
    BSON_APPEND_UTF8(doc, "next", next);
  } else {
    BSON_APPEND_NULL(doc, "next");
  }
}

/* A page's next cursor as append_page takes it: encoded into buf, or
 * NULL when there is no next page. */
static const char *next_cursor(bool has_next, const page_cursor_t *next,
                               char buf[PAGE_CURSOR_LEN + 1]) {
  if (!has_next) {
    return NULL;
  }
  page_cursor_encode(next, buf);
  return buf;
}

void render_profile(bson_t *doc, const user_t *u, bool followed_by_me) {
  assert(!u->counters_folded); /* users_find_account's: not for showing */
  render_user(doc, u);
  BSON_APPEND_INT64(doc, "followers_count", u->followers_count);
  BSON_APPEND_INT64(doc, "following_count", u->following_count);
  BSON_APPEND_INT64(doc, "tweet_count", u->tweet_count);
  BSON_APPEND_BOOL(doc, "followed_by_me", followed_by_me);
}

/* {username, display_name, bio} of user i. */
static void user_item(bson_t *item, const void *items, size_t i) {
  const user_t *u = &((const user_t *)items)[i];
  BSON_APPEND_UTF8(item, "username", u->username);
  BSON_APPEND_UTF8(item, "display_name", u->display_name);
  BSON_APPEND_UTF8(item, "bio", u->bio);
  render_profile_image(item, "avatar", u->has_avatar, &u->avatar);
}

void render_user_page(bson_t *doc, const user_page_t *page) {
  append_page(doc, page->items, page->n, user_item,
              page->has_next ? page->next : NULL);
}

void render_notification(bson_t *doc, const notification_t *n) {
  append_oid_hex(doc, "id", &n->id);
  BSON_APPEND_UTF8(doc, "type", notify_type_name(n->type));
  append_name(doc, "actor", &n->actor);
  append_oid_or_null(doc, "tweet", n->has_tweet, &n->tweet);
  append_time(doc, "created_at", n->created_at_ms);
  BSON_APPEND_BOOL(doc, "read", n->read);
}

static void notification_item(bson_t *item, const void *items, size_t i) {
  render_notification(item, &((const notification_t *)items)[i]);
}

void render_notification_page(bson_t *doc, const notification_page_t *page) {
  char cursor[PAGE_CURSOR_LEN + 1];
  append_page(doc, page->items, page->n, notification_item,
              next_cursor(page->has_next, &page->next, cursor));
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
  append_oid_or_null(doc, "reply_to", t->has_reply_to, &t->reply_to);
  BSON_APPEND_INT64(doc, "reply_count", t->reply_count);
  BSON_APPEND_INT64(doc, "like_count", t->like_count);
  BSON_APPEND_BOOL(doc, "liked_by_me", t->liked_by_me);
  render_tweet_conversation(doc, t);
}

/* {type, start, end, username | tag | url} of each entity. */
static void append_entities(bson_t *doc, const tweet_t *t) {
  bson_t array;
  BSON_APPEND_ARRAY_BEGIN(doc, "entities", &array);
  for (size_t i = 0; i < t->n_entities; i++) {
    const tweet_entity_t *e = &t->entities[i];
    const char *slice = t->text + e->span.byte_start;
    int slice_len = (int)(e->span.byte_end - e->span.byte_start);
    bson_t item;
    item_begin(&array, i, &item);
    BSON_APPEND_UTF8(&item, "type", entity_type_name(e->span.type));
    BSON_APPEND_INT64(&item, "start", e->span.start);
    BSON_APPEND_INT64(&item, "end", e->span.end);
    if (e->span.type == ENTITY_MENTION) {
      BSON_APPEND_UTF8(&item, "username", e->username);
    } else if (e->span.type == ENTITY_HASHTAG) {
      char tag[ENTITIES_TAG_BYTES + 1];
      entities_fold_tag(slice + 1, (size_t)slice_len - 1, tag, sizeof tag);
      BSON_APPEND_UTF8(&item, "tag", tag);
    } else {
      bson_append_utf8(&item, "url", 3, slice, slice_len);
    }
    bson_append_document_end(&array, &item);
  }
  bson_append_array_end(doc, &array);
}

void render_tweet_conversation(bson_t *doc, const tweet_t *t) {
  BSON_APPEND_INT64(doc, "repost_count", t->repost_count);
  BSON_APPEND_BOOL(doc, "reposted_by_me", t->reposted_by_me);
  BSON_APPEND_INT64(doc, "quote_count", t->quote_count);
  append_entities(doc, t);
  append_oid_or_null(doc, "quote_of", t->has_quote_of, &t->quote.id);
  if (t->has_quote_of) {
    bson_t q;
    BSON_APPEND_DOCUMENT_BEGIN(doc, "quote", &q);
    append_oid_hex(&q, "id", &t->quote.id);
    BSON_APPEND_BOOL(&q, "available", t->quote.available);
    if (t->quote.available) {
      append_name(&q, "author", &t->quote.author);
      BSON_APPEND_UTF8(&q, "text", t->quote.text);
      append_time(&q, "created_at", t->quote.created_at_ms);
    }
    bson_append_document_end(doc, &q);
  } else {
    BSON_APPEND_NULL(doc, "quote");
  }
  if (t->is_repost) {
    append_name(doc, "reposted_by", &t->reposted_by);
    append_time(doc, "reposted_at", t->reposted_at_ms);
  } else {
    BSON_APPEND_NULL(doc, "reposted_by");
    BSON_APPEND_NULL(doc, "reposted_at");
  }
  if (t->has_reply_to && t->has_reply_to_user) {
    append_name(doc, "reply_to_user", &t->reply_to_user);
  } else {
    BSON_APPEND_NULL(doc, "reply_to_user");
  }
  bson_t array;
  BSON_APPEND_ARRAY_BEGIN(doc, "media", &array);
  for (size_t i = 0; t->media && i < t->media->n; i++) {
    const media_ref_t *r = &t->media->items[i];
    bson_t item;
    item_begin(&array, i, &item);
    append_oid_hex(&item, "id", &r->id);
    BSON_APPEND_UTF8(&item, "type", image_type_mime(r->type));
    BSON_APPEND_INT32(&item, "width", r->width);
    BSON_APPEND_INT32(&item, "height", r->height);
    BSON_APPEND_UTF8(&item, "alt", r->alt);
    BSON_APPEND_UTF8(&item, "color", r->color);
    append_urls(&item, &r->id);
    bson_append_document_end(&array, &item);
  }
  bson_append_array_end(doc, &array);
}

void render_history(bson_t *doc, const tweet_history_t *h) {
  bson_t array;
  BSON_APPEND_ARRAY_BEGIN(doc, "items", &array);
  for (size_t i = 0; i < h->n; i++) {
    bson_t item;
    item_begin(&array, i, &item);
    BSON_APPEND_UTF8(&item, "text", h->items[i].text);
    append_time(&item, "created_at", h->items[i].written_at_ms);
    BSON_APPEND_BOOL(&item, "current", h->items[i].current);
    bson_append_document_end(&array, &item);
  }
  bson_append_array_end(doc, &array);
}

static void tweet_item(bson_t *item, const void *items, size_t i) {
  render_tweet(item, &((const tweet_t *)items)[i]);
}

void render_tweet_page(bson_t *doc, const tweet_page_t *page) {
  char cursor[PAGE_CURSOR_LEN + 1];
  append_page(doc, page->items, page->n, tweet_item,
              next_cursor(page->has_next, &page->next, cursor));
}

void render_trends(bson_t *doc, const trend_t *trends, size_t n) {
  bson_t array;
  BSON_APPEND_ARRAY_BEGIN(doc, "items", &array);
  for (size_t i = 0; i < n; i++) {
    bson_t item;
    item_begin(&array, i, &item);
    BSON_APPEND_UTF8(&item, "tag", trends[i].tag);
    BSON_APPEND_INT64(&item, "count", trends[i].count);
    bson_append_document_end(&array, &item);
  }
  bson_append_array_end(doc, &array);
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

/* The fast page printer writes into one growing buffer whose length it
 * always knows: bson_string_t measures every piece it appends with strlen
 * and formats numbers with printf, which with strftime were 40 % of
 * chorusd's CPU in the timeline benchmark.  Invariant: len < cap, and
 * buf[len] is not yet a terminator (render_tweet_page_json writes it last). */
typedef struct json_out {
  char *buf;
  size_t len;
  size_t cap;
} json_out_t;

static void out_put(json_out_t *o, const char *s, size_t n) {
  if (o->len + n >= o->cap) {
    size_t cap = o->cap * 2;
    while (o->len + n >= cap) {
      cap *= 2;
    }
    o->buf = bson_realloc(o->buf, cap);
    o->cap = cap;
  }
  memcpy(o->buf + o->len, s, n);
  o->len += n;
}

#define OUT_LIT(o, lit) out_put((o), (lit), sizeof(lit) - 1)

static void out_int64(json_out_t *o, int64_t v) {
  char tmp[24];
  size_t i = sizeof tmp;
  uint64_t u = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
  do {
    tmp[--i] = (char)('0' + u % 10);
    u /= 10;
  } while (u);
  if (v < 0) {
    tmp[--i] = '-';
  }
  out_put(o, tmp + i, sizeof tmp - i);
}

/* "key" : "escaped value" (the separator before it is the caller's; key
 * is a literal).  Text with nothing to escape (no quote, backslash or
 * control byte: most of it) is copied as it is; the rest goes through
 * libbson's escaper. */
#define OUT_STRING(o, key, value)                                              \
  out_string((o), "\"" key "\" : \"", sizeof("\"" key "\" : \"") - 1, (value))

static void out_string(json_out_t *o, const char *head, size_t head_len,
                       const char *value) {
  out_put(o, head, head_len);
  const unsigned char *p = (const unsigned char *)value;
  while (*p && *p >= 0x20 && *p != '"' && *p != '\\' && *p != 0x7f) {
    p++;
  }
  if (!*p) {
    out_put(o, value, (size_t)(p - (const unsigned char *)value));
  } else {
    char *escaped = bson_utf8_escape_for_json(value, -1);
    if (escaped) {
      out_put(o, escaped, strlen(escaped));
    }
    bson_free(escaped);
  }
  OUT_LIT(o, "\"");
}

static void out_oid_or_null(json_out_t *o, const char *head, size_t head_len,
                            bool has, const bson_oid_t *oid) {
  if (has) {
    char hex[25];
    bson_oid_to_string(oid, hex);
    out_string(o, head, head_len, hex);
  } else {
    out_put(o, head, head_len - 2); /* "key" : */
    OUT_LIT(o, " null");
  }
}

#define OUT_OID_OR_NULL(o, key, has, oid)                                      \
  out_oid_or_null((o), "\"" key "\" : \"", sizeof("\"" key "\" : \"") - 1,     \
                  (has), (oid))

/* "avatar" : null, or the profile image as render_profile_image prints
 * it. */
static void json_avatar(json_out_t *o, const user_name_t *n) {
  if (!n->has_avatar) {
    OUT_LIT(o, "\"avatar\" : null");
    return;
  }
  char url[MEDIA_URL_LEN + 1];
  OUT_LIT(o, "\"avatar\" : { ");
  OUT_OID_OR_NULL(o, "id", true, &n->avatar);
  media_url(&n->avatar, MEDIA_ORIGINAL, url);
  OUT_LIT(o, ", ");
  OUT_STRING(o, "url", url);
  media_url(&n->avatar, MEDIA_THUMB, url);
  OUT_LIT(o, ", ");
  OUT_STRING(o, "thumb_url", url);
  OUT_LIT(o, " }");
}

static void json_tweet(json_out_t *o, const tweet_t *t) {
  char when[RENDER_TIME_LEN + 1];
  OUT_LIT(o, "{ ");
  OUT_OID_OR_NULL(o, "id", true, &t->id);
  OUT_LIT(o, ", \"author\" : { ");
  OUT_STRING(o, "username", t->author.username);
  OUT_LIT(o, ", ");
  OUT_STRING(o, "display_name", t->author.display_name);
  OUT_LIT(o, ", ");
  json_avatar(o, &t->author);
  OUT_LIT(o, " }, ");
  OUT_STRING(o, "text", t->text);
  render_time(t->created_at_ms, when);
  OUT_LIT(o, ", ");
  OUT_STRING(o, "created_at", when);
  OUT_LIT(o, ", ");
  if (t->edited_at_ms) {
    render_time(t->edited_at_ms, when);
    OUT_STRING(o, "edited_at", when);
  } else {
    OUT_LIT(o, "\"edited_at\" : null");
  }
  OUT_LIT(o, ", ");
  OUT_OID_OR_NULL(o, "reply_to", t->has_reply_to, &t->reply_to);
  OUT_LIT(o, ", \"reply_count\" : ");
  out_int64(o, t->reply_count);
  OUT_LIT(o, ", \"like_count\" : ");
  out_int64(o, t->like_count);
  if (t->liked_by_me) {
    OUT_LIT(o, ", \"liked_by_me\" : true");
  } else {
    OUT_LIT(o, ", \"liked_by_me\" : false");
  }
  if (t->n_entities || t->has_quote_of || t->is_repost || t->media ||
      (t->has_reply_to && t->has_reply_to_user)) {
    /* The rarer, nested fields: printed by libbson, spliced in. */
    bson_t extra = BSON_INITIALIZER;
    render_tweet_conversation(&extra, t);
    size_t n;
    char *json = render_json(&extra, &n);
    bson_destroy(&extra);
    assert(json && n > 4 && !memcmp(json, "{ ", 2));
    OUT_LIT(o, ", ");
    out_put(o, json + 2, n - 2); /* the fields and " }" */
    bson_free(json);
    return;
  }
  OUT_LIT(o, ", \"repost_count\" : ");
  out_int64(o, t->repost_count);
  OUT_LIT(o, ", \"reposted_by_me\" : ");
  if (t->reposted_by_me) {
    OUT_LIT(o, "true");
  } else {
    OUT_LIT(o, "false");
  }
  OUT_LIT(o, ", \"quote_count\" : ");
  out_int64(o, t->quote_count);
  OUT_LIT(o, ", \"entities\" : [  ], \"quote_of\" : null, \"quote\" : null, "
             "\"reposted_by\" : null, \"reposted_at\" : null, "
             "\"reply_to_user\" : null, \"media\" : [  ] }");
}

char *render_tweet_page_json(const tweet_page_t *page, size_t *len) {
  /* ~400 bytes a tweet of ordinary text: one allocation for most pages. */
  json_out_t o = {NULL, 0, 512 + page->n * 512};
  o.buf = bson_malloc(o.cap);
  OUT_LIT(&o, "{ \"items\" : [ ");
  for (size_t i = 0; i < page->n; i++) {
    if (i > 0) {
      OUT_LIT(&o, ", ");
    }
    json_tweet(&o, &page->items[i]);
  }
  OUT_LIT(&o, " ], "); /* libbson prints an empty one "[  ]" */
  char cursor[PAGE_CURSOR_LEN + 1];
  const char *next = next_cursor(page->has_next, &page->next, cursor);
  if (next) {
    OUT_STRING(&o, "next", next);
  } else {
    OUT_LIT(&o, "\"next\" : null");
  }
  OUT_LIT(&o, " }");
  o.buf[o.len] = '\0'; /* len < cap: out_put's invariant */
  *len = o.len;
  return o.buf;
}
