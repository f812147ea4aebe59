/*
 * router.c - see router.h.
 */
#include "server/http/router.h"

#include <string.h>

/* Splits req->path in place into segments; false when there are too many
 * or the path does not start with '/'. */
#define MAX_SEGMENTS 8

static size_t split_path(char *path, char *segs[MAX_SEGMENTS]) {
  size_t n = 0;
  char *p = path;
  if (*p != '/') {
    return SIZE_MAX;
  }
  while (*p == '/') {
    *p++ = '\0';
    if (!*p) {
      break; /* trailing slash */
    }
    if (n == MAX_SEGMENTS) {
      return SIZE_MAX;
    }
    segs[n++] = p;
    while (*p && *p != '/') {
      p++;
    }
  }
  return n;
}

/* True when pattern's segments match segs; fills params. */
static bool pattern_matches(const char *pattern, char *const *segs, size_t n,
                            const char **params, size_t *n_params) {
  const char *p = pattern;
  size_t i = 0;
  *n_params = 0;
  while (*p == '/') {
    p++;
    const char *end = strchr(p, '/');
    size_t len = end ? (size_t)(end - p) : strlen(p);
    if (i == n) {
      return false;
    }
    if (p[0] == ':') {
      if (*n_params == HTTP_MAX_PARAMS || !segs[i][0]) {
        return false;
      }
      params[(*n_params)++] = segs[i];
    } else if (strlen(segs[i]) != len || strncmp(segs[i], p, len) != 0) {
      return false;
    }
    i++;
    p += len;
  }
  return i == n;
}

route_result_t router_match(const route_t *routes, size_t n, const char *method,
                            const char *path, http_request_t *req,
                            const route_t **found, char *allow,
                            size_t allow_size) {
  char *segs[MAX_SEGMENTS];
  allow[0] = '\0';
  *found = NULL;
  if (strlen(path) >= sizeof req->path) {
    return ROUTE_NOT_FOUND;
  }
  strcpy(req->path, path);
  size_t n_segs = split_path(req->path, segs);
  if (n_segs == SIZE_MAX) {
    return ROUTE_NOT_FOUND;
  }
  bool path_known = false;
  for (size_t i = 0; i < n; i++) {
    const char *params[HTTP_MAX_PARAMS];
    size_t n_params;
    if (!pattern_matches(routes[i].pattern, segs, n_segs, params, &n_params)) {
      continue;
    }
    path_known = true;
    bool same = !strcmp(routes[i].method, method) ||
                (!strcmp(method, "HEAD") && !strcmp(routes[i].method, "GET"));
    if (same) {
      memcpy(req->params, params, sizeof params);
      req->n_params = n_params;
      *found = &routes[i];
      return ROUTE_FOUND;
    }
    if (!strstr(allow, routes[i].method) &&
        strlen(allow) + strlen(routes[i].method) + 3 < allow_size) {
      if (allow[0]) {
        strcat(allow, ", ");
      }
      strcat(allow, routes[i].method);
    }
  }
  return path_known ? ROUTE_BAD_METHOD : ROUTE_NOT_FOUND;
}
