/*
 * gzip.h - gzip for answers: static files compressed once when loaded
 * (static.c), JSON answers as they are sent (http_reply_json_text).
 *
 * No state; thread-safe.
 */
#ifndef CHORUS_GZIP_H
#define CHORUS_GZIP_H

#include <stdbool.h>
#include <stddef.h>

/* Levels: the smallest output (files compressed once), and the fastest
 * (an answer compressed on every request: a page of 50 posts, 31 KB of
 * JSON, shrinks about 10 times at it, docs/PERFORMANCE.md). */
#define GZIP_BEST 9
#define GZIP_FAST 1

/* The gzip (RFC 1952) of in[0..len) at level into *out, malloc'd and the
 * caller's (free), its length in *out_len; only when it is smaller than
 * len.  False, with nothing allocated, when it is not smaller or zlib
 * failed. */
bool gzip_smaller(const void *in, size_t len, int level, char **out,
                  size_t *out_len);

/* Whether an Accept-Encoding header's value (NULL: none) names gzip.  No
 * q=0 check: browsers never send gzip;q=0. */
bool gzip_accepted(const char *accept_encoding);

#endif
