/*
 * static.h - the web client's files and the single-page app's deep links.
 *
 * civetweb serves the files of the public directory itself (its
 * document_root); static_serve_app is the handler for "/" that answers
 * every other page path (/u/alice, /t/<id>, /search...) with index.html,
 * so deep links and reloads work.  A path whose last segment has a dot
 * (a missing file like /nope.js) stays a 404, and so does anything under
 * /api.  STATIC_HEADERS are the headers civetweb adds to the files it
 * serves (its additional_header option); its img-src allows blob: URLs,
 * the previews a page makes of images it is about to upload.
 *
 * Thread-safe: it only reads the file system.
 */
#ifndef CHORUS_STATIC_H
#define CHORUS_STATIC_H

#include <civetweb.h>

#define STATIC_HEADERS                                                         \
  "X-Content-Type-Options: nosniff\r\n"                                        \
  "Referrer-Policy: same-origin\r\n"                                           \
  "Content-Security-Policy: default-src 'self'; script-src 'self'; "           \
  "style-src 'self'; img-src 'self' data: blob:; "                             \
  "connect-src 'self' ws: wss:; "                                              \
  "frame-ancestors 'none'; base-uri 'none'; form-action 'self'"

/* civetweb request handler; cbdata is the public directory (a path,
 * borrowed for the server's life).  Returns 0 to leave the request to
 * civetweb's own file handling, else the status sent. */
int static_serve_app(struct mg_connection *conn, void *cbdata);

#endif
