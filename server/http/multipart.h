/*
 * multipart.h - multipart/form-data bodies (RFC 7578), read whole.
 *
 * civetweb's own form parser (mg_handle_form_request) reads the body from
 * the connection itself, through callbacks; the transport reads every
 * body whole and exactly first (http_read_body: the framing rule, the
 * guard's body deadline), so the bytes are parsed here, in memory, by a
 * pure function that the fuzz target multipart runs on any input.
 *
 * What is accepted, strictly (anything else is 400 "invalid_multipart",
 * its message saying what is wrong):
 *   - Content-Type: multipart/form-data with a boundary parameter of 1-70
 *     characters (RFC 2046), as a token or a quoted string;
 *   - the body starts with the first delimiter "--boundary" (no
 *     preamble), and every part is "--boundary" CRLF, its header lines
 *     (at most MULTIPART_HEADERS_MAX, each ending in CRLF), an empty
 *     line, its content, then CRLF before the next delimiter; the last
 *     delimiter is "--boundary--", after which anything (the epilogue) is
 *     ignored; spaces and tabs may pad a delimiter's line before its CRLF;
 *   - each part has Content-Disposition: form-data with a name (a token
 *     or a quoted string, 1 to MULTIPART_NAME_MAX bytes, no NUL), and
 *     maybe a filename (noted, its value never used: a file's type is
 *     decided by its content); other headers (Content-Type ...) are
 *     ignored;
 *   - at most MULTIPART_PARTS_MAX parts.
 * A part's content is never copied: it points into the body.
 *
 * Pure functions on caller-owned memory; thread-safe.
 */
#ifndef CHORUS_MULTIPART_H
#define CHORUS_MULTIPART_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sync/base/error.h"

#define MULTIPART_BOUNDARY_MAX 70
#define MULTIPART_NAME_MAX 64
#define MULTIPART_PARTS_MAX 8
#define MULTIPART_HEADERS_MAX 8
#define MULTIPART_HEADER_LINE_MAX 1024

typedef struct multipart_part {
  char name[MULTIPART_NAME_MAX + 1]; /* of its Content-Disposition */
  bool has_filename;                 /* it named a filename */
  const uint8_t *data;               /* its content, inside the body */
  size_t len;
} multipart_part_t;

/* The boundary of a Content-Type header value (NULL: none) into out
 * (MULTIPART_BOUNDARY_MAX + 1 bytes).  400 "invalid_multipart" when the
 * type is not multipart/form-data or has no valid boundary. */
bool multipart_boundary(const char *content_type,
                        char out[MULTIPART_BOUNDARY_MAX + 1],
                        chorus_error_t *err);

/* Splits body[0..len) into parts[0..*n) (room for max, at most
 * MULTIPART_PARTS_MAX are accepted), as the rules above say; 400
 * "invalid_multipart" otherwise (*n is then 0). */
bool multipart_parse(const char *boundary, const void *body, size_t len,
                     multipart_part_t *parts, size_t max, size_t *n,
                     chorus_error_t *err);

/* The part named name among parts[0..n): NULL when none.  *count, when
 * not NULL, is how many parts have that name. */
const multipart_part_t *multipart_find(const multipart_part_t *parts, size_t n,
                                       const char *name, size_t *count);

#endif
