/*
 * static.c - see static.h.
 */
#include "server/http/static.h"

#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

int static_serve_app(struct mg_connection *conn, void *cbdata) {
  const char *public_dir = cbdata;
  const char *uri = mg_get_request_info(conn)->local_uri;
  if (!uri || !strcmp(uri, "/") || strstr(uri, "..") ||
      !strncmp(uri, "/api/", 5)) {
    return 0; /* civetweb's own handling */
  }
  char path[PATH_MAX + 1024];
  snprintf(path, sizeof path, "%s%s", public_dir, uri);
  struct stat st;
  const char *last = strrchr(uri, '/');
  if (stat(path, &st) == 0 || (last && strchr(last, '.'))) {
    return 0; /* a real file (or a missing one): served or 404 */
  }
  snprintf(path, sizeof path, "%s/index.html", public_dir);
  mg_send_mime_file(conn, path, "text/html; charset=utf-8");
  return 200;
}
