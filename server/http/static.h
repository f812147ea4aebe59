/*
 * static.h - the web client's files, held in memory, compressed, under
 * versioned names; and the single-page app's deep links.
 *
 * static_load reads every file of the public directory (sub-folders
 * included, dot-files left out) once, at start-up, and keeps in memory:
 * its bytes, their gzip (level 9) when that is smaller, its Content-Type
 * and an ETag.  The version is a hash of every file's path and bytes (16
 * hex digits): a file is served at /v/<version>/<path> with a year's
 * immutable caching, and index.html is rewritten at load time so that
 * each href="/<path>" and src="/<path>" naming a loaded file names its
 * versioned path.  A module's relative imports ("./api.js") resolve under
 * the same /v/<version>/ prefix, so the whole client changes name
 * together whenever any file changes, and a browser never mixes two
 * versions.  STATIC_HEADERS' img-src allows data: and blob: URLs, the
 * previews a page makes of images it is about to upload.
 *
 * What the handler answers (static_serve_app, the handler of "/"):
 *  - /v/<version>/<path> of a loaded file: the file, "Cache-Control:
 *    public, max-age=31536000, immutable"; another version: 404 (a page
 *    of another deployment asks again after its reload).
 *  - /<path> of a loaded file (not index.html): the file, "no-cache".
 *  - "/", "/index.html", and any other path whose last segment has no dot
 *    (/u/alice, /t/<id>, /search...): the rewritten index.html,
 *    "Cache-Control: no-cache", so a deploy is seen at once and deep
 *    links and reloads work.
 *  - a path whose last segment has a dot and names no file: 404.
 *  - /api/... and methods other than GET and HEAD: left to civetweb (0).
 * Each answer has STATIC_HEADERS, an ETag (If-None-Match: 304) and
 * "Vary: Accept-Encoding"; the gzip is sent to a request whose
 * Accept-Encoding names gzip.  Files changed on disk are seen after a
 * restart.
 *
 * Ownership: static_load's set is the caller's (static_destroy); the
 * handler borrows it for the server's life.  Thread-safe: the set is
 * never changed after static_load.
 */
#ifndef CHORUS_STATIC_H
#define CHORUS_STATIC_H

#include <civetweb.h>
#include <stdbool.h>
#include <stddef.h>

#include "sync/base/error.h"

#define STATIC_HEADERS                                                         \
  "X-Content-Type-Options: nosniff\r\n"                                        \
  "Referrer-Policy: same-origin\r\n"                                           \
  "Content-Security-Policy: default-src 'self'; script-src 'self'; "           \
  "style-src 'self'; img-src 'self' data: blob:; "                             \
  "connect-src 'self' ws: wss:; "                                              \
  "frame-ancestors 'none'; base-uri 'none'; form-action 'self'"

#define STATIC_VERSION_LEN 16 /* hex digits */
#define STATIC_MAX_FILES 512
#define STATIC_MAX_BYTES (16 * 1024 * 1024) /* all files together */

typedef struct static_set static_set_t;

/* One file as held. */
typedef struct static_file {
  char *path; /* "/js/main.js" */
  const char *type;
  char *body; /* as served (index.html: rewritten) */
  size_t len;
  char *gz; /* NULL when gzip would not be smaller */
  size_t gz_len;
  char etag[STATIC_VERSION_LEN + 8];
} static_file_t;

/* Loads public_dir.  A directory that does not exist gives an empty set
 * (the server then serves the API alone); one over STATIC_MAX_FILES or
 * STATIC_MAX_BYTES, or a file that cannot be read, is 500
 * "static_load_failed". */
static_set_t *static_load(const char *public_dir, chorus_error_t *err);
void static_destroy(static_set_t *set);

/* The version (STATIC_VERSION_LEN hex digits, NUL-terminated). */
const char *static_version(const static_set_t *set);

/* The file at path ("/js/main.js"), or NULL. */
const static_file_t *static_find(const static_set_t *set, const char *path);

/* civetweb request handler; cbdata is a static_set_t.  Returns 0 to leave
 * the request to civetweb, else the status sent. */
int static_serve_app(struct mg_connection *conn, void *cbdata);

#endif
