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
void page_cursor_encode(const page_cursor_t *c,
                        char out[PAGE_CURSOR_LEN + 1]);

/* Parses a cursor; false when s is not one this module produced. */
bool page_cursor_decode(const char *s, page_cursor_t *c);

#endif
