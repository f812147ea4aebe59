/*
 * cursor.h - opaque pagination cursors.
 *
 * Lists are ordered newest first by (created_at, _id), which is a total
 * order even when two documents share a millisecond.  A cursor names the
 * last item of a page; the next page holds the items strictly after it in
 * that order, so inserts at the head never shift later pages (no duplicates,
 * no gaps).  On the wire a cursor is 27 characters of unpadded base64url over
 * 8 bytes of big-endian milliseconds and the 12 bytes of the ObjectId:
 * clients must treat it as opaque.
 */
#ifndef CHORUS_CURSOR_H
#define CHORUS_CURSOR_H

#include <bson/bson.h>
#include <stdbool.h>
#include <stdint.h>

#define PAGE_CURSOR_LEN 27 /* characters, without the NUL */

typedef struct page_cursor {
  int64_t ts_ms;
  bson_oid_t id;
} page_cursor_t;

/* Writes PAGE_CURSOR_LEN characters and a NUL into out. */
void page_cursor_encode(const page_cursor_t *c, char out[PAGE_CURSOR_LEN + 1]);

/* Parses a cursor; false when s is not one this module produced. */
bool page_cursor_decode(const char *s, page_cursor_t *c);

/* Appends to filter the condition "strictly after c" in the order
 * (created_at, _id) descending, or ascending when oldest_first:
 * {$or: [{created_at: {$lt: T}}, {created_at: T, <id_field>: {$lt: id}}]}.
 * id_field is "_id" for page_cursor_append_filter. */
void page_cursor_append_filter(bson_t *filter, const page_cursor_t *c,
                               bool oldest_first);
void page_cursor_append_filter_on(bson_t *filter, const page_cursor_t *c,
                                  bool oldest_first, const char *id_field);

/* Name cursors: lists ordered by a string key (user search).  An opaque
 * base64url form of the last key (its first 72 bytes); at most
 * NAME_CURSOR_MAX characters. */
#define NAME_CURSOR_MAX 96
void name_cursor_encode(const char *key, char out[NAME_CURSOR_MAX + 1]);
/* The key of a name cursor into key (size bytes, NUL-terminated); false
 * when s is empty, too long, not base64url, or not valid UTF-8. */
bool name_cursor_decode(const char *s, char *key, size_t size);

#endif
