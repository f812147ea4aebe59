/*
 * static.c - see static.h.
 *
 * Invariants of a loaded set:
 *  - files[] is sorted by path (bsearch), paths start with '/', are
 *    unique and hold no "." or ".." segment;
 *  - version is the BLAKE2b (libsodium's generichash) of every file's
 *    path and original bytes in path order, its first 8 bytes in hex;
 *  - a file's gz, when set, is shorter than its body.
 */
#include "server/http/static.h"

#include "server/http/gzip.h"

#include <assert.h>
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define VERSIONED_PREFIX "/v/"
#define IMMUTABLE "public, max-age=31536000, immutable"

struct static_set {
  static_file_t *files;
  size_t n, cap;
  size_t bytes;
  char version[STATIC_VERSION_LEN + 1];
};

/* ------------------------------------------------------------ loading */

static const struct {
  const char *ext, *type;
  bool compress;
} TYPES[] = {
    {".html", "text/html; charset=utf-8", true},
    {".js", "text/javascript; charset=utf-8", true},
    {".mjs", "text/javascript; charset=utf-8", true},
    {".css", "text/css; charset=utf-8", true},
    {".svg", "image/svg+xml", true},
    {".json", "application/json", true},
    {".webmanifest", "application/manifest+json", true},
    {".txt", "text/plain; charset=utf-8", true},
    {".ico", "image/x-icon", true},
    {".png", "image/png", false},
    {".jpg", "image/jpeg", false},
    {".webp", "image/webp", false},
    {".woff2", "font/woff2", false},
};

static const char *type_of(const char *path, bool *compress) {
  const char *dot = strrchr(path, '.');
  for (size_t i = 0; dot && i < sizeof TYPES / sizeof TYPES[0]; i++) {
    if (!strcmp(dot, TYPES[i].ext)) {
      *compress = TYPES[i].compress;
      return TYPES[i].type;
    }
  }
  *compress = false;
  return "application/octet-stream";
}

static bool read_file(const char *fs_path, char **body, size_t *len,
                      chorus_error_t *err) {
  FILE *f = fopen(fs_path, "rb");
  struct stat st;
  if (!f || fstat(fileno(f), &st) != 0 || st.st_size > STATIC_MAX_BYTES) {
    chorus_error_set(err, 500, "static_load_failed", "cannot read %s: %s",
                     fs_path, f ? "too large" : strerror(errno));
    if (f) {
      fclose(f);
    }
    return false;
  }
  *len = (size_t)st.st_size;
  *body = malloc(*len + 1);
  bool ok = *body && fread(*body, 1, *len, f) == *len;
  fclose(f);
  if (!ok) {
    free(*body);
    *body = NULL;
    chorus_error_set(err, 500, "static_load_failed", "cannot read %s", fs_path);
    return false;
  }
  (*body)[*len] = '\0';
  return true;
}

static bool add_file(static_set_t *set, const char *fs_path, const char *path,
                     chorus_error_t *err) {
  if (set->n == STATIC_MAX_FILES) {
    chorus_error_set(err, 500, "static_load_failed",
                     "more than %d files in the public directory",
                     STATIC_MAX_FILES);
    return false;
  }
  static_file_t f = {0};
  if (!read_file(fs_path, &f.body, &f.len, err)) {
    return false;
  }
  set->bytes += f.len;
  if (set->bytes > STATIC_MAX_BYTES) {
    free(f.body);
    chorus_error_set(err, 500, "static_load_failed",
                     "the public directory holds more than %d bytes",
                     STATIC_MAX_BYTES);
    return false;
  }
  if (set->n == set->cap) {
    set->cap = set->cap ? set->cap * 2 : 32;
    set->files = realloc(set->files, set->cap * sizeof *set->files);
    assert(set->files);
  }
  f.path = strdup(path);
  set->files[set->n++] = f;
  return true;
}

/* Adds the files under fs_dir, whose URL path is url_dir ("" or "/js"). */
static bool add_dir(static_set_t *set, const char *fs_dir, const char *url_dir,
                    int depth, chorus_error_t *err) {
  DIR *d = opendir(fs_dir);
  if (!d) {
    chorus_error_set(err, 500, "static_load_failed", "cannot open %s: %s",
                     fs_dir, strerror(errno));
    return false;
  }
  bool ok = true;
  struct dirent *e;
  while (ok && (e = readdir(d)) != NULL) {
    if (e->d_name[0] == '.') {
      continue; /* ".", "..", and hidden files */
    }
    char fs[PATH_MAX], url[PATH_MAX];
    if ((size_t)snprintf(fs, sizeof fs, "%s/%s", fs_dir, e->d_name) >=
            sizeof fs ||
        (size_t)snprintf(url, sizeof url, "%s/%s", url_dir, e->d_name) >=
            sizeof url) {
      continue;
    }
    struct stat st;
    if (stat(fs, &st) != 0) {
      continue;
    }
    if (S_ISDIR(st.st_mode) && depth < 8) {
      ok = add_dir(set, fs, url, depth + 1, err);
    } else if (S_ISREG(st.st_mode)) {
      ok = add_file(set, fs, url, err);
    }
  }
  closedir(d);
  return ok;
}

static int by_path(const void *a, const void *b) {
  return strcmp(((const static_file_t *)a)->path,
                ((const static_file_t *)b)->path);
}

static void compute_version(static_set_t *set) {
  crypto_generichash_state h;
  unsigned char out[crypto_generichash_BYTES_MIN];
  crypto_generichash_init(&h, NULL, 0, sizeof out);
  for (size_t i = 0; i < set->n; i++) {
    const static_file_t *f = &set->files[i];
    crypto_generichash_update(&h, (const unsigned char *)f->path,
                              strlen(f->path) + 1);
    crypto_generichash_update(&h, (const unsigned char *)f->body, f->len);
  }
  crypto_generichash_final(&h, out, sizeof out);
  for (size_t i = 0; i < STATIC_VERSION_LEN / 2; i++) {
    snprintf(set->version + 2 * i, 3, "%02x", out[i]);
  }
}

/* index.html with every href="/<file>" and src="/<file>" naming a loaded
 * file (not index.html itself) turned into its versioned path. */
static void rewrite_index(static_set_t *set, static_file_t *index) {
  size_t prefix = strlen(VERSIONED_PREFIX) + STATIC_VERSION_LEN;
  size_t cap = index->len + 1, n = 0;
  char *out = malloc(cap);
  assert(out);
  const char *s = index->body, *end = s + index->len;
  while (s < end) {
    const char *attr = NULL;
    for (const char *p = s; p < end && !attr; p++) {
      if ((!strncmp(p, "href=\"/", 7) || !strncmp(p, "src=\"/", 6)) &&
          (p == index->body || p[-1] == ' ' || p[-1] == '\n')) {
        attr = p;
      }
    }
    const char *path = attr ? strchr(attr, '"') + 1 : end;
    const char *close = attr ? memchr(path, '"', (size_t)(end - path)) : NULL;
    bool hit = false;
    if (close && (size_t)(close - path) < PATH_MAX) {
      char want[PATH_MAX];
      memcpy(want, path, (size_t)(close - path));
      want[close - path] = '\0';
      hit = strcmp(want, "/index.html") && static_find(set, want);
    }
    size_t keep = (size_t)(path - s);
    if (n + keep + prefix + 1 > cap) {
      cap = (n + keep + prefix + 1) * 2;
      out = realloc(out, cap);
      assert(out);
    }
    memcpy(out + n, s, keep);
    n += keep;
    if (hit) {
      n += (size_t)snprintf(out + n, cap - n, "%s%s", VERSIONED_PREFIX,
                            set->version);
    }
    s = path;
  }
  out[n] = '\0';
  free(index->body);
  index->body = out;
  index->len = n;
}

static_set_t *static_load(const char *public_dir, chorus_error_t *err) {
  static_set_t *set = calloc(1, sizeof *set);
  assert(set);
  struct stat st;
  bool ok = true;
  if (stat(public_dir, &st) == 0) {
    ok = add_dir(set, public_dir, "", 0, err);
  }
  if (ok) {
    if (set->n) {
      qsort(set->files, set->n, sizeof *set->files, by_path);
    }
    compute_version(set);
    static_file_t *index = (static_file_t *)static_find(set, "/index.html");
    if (index) {
      rewrite_index(set, index);
    }
    for (size_t i = 0; i < set->n; i++) {
      static_file_t *f = &set->files[i];
      bool compress;
      f->type = type_of(f->path, &compress);
      if (compress) {
        gzip_smaller(f->body, f->len, GZIP_BEST, &f->gz, &f->gz_len);
      }
      snprintf(f->etag, sizeof f->etag, "\"%s\"", set->version);
    }
  }
  if (!ok) {
    static_destroy(set);
    return NULL;
  }
  return set;
}

void static_destroy(static_set_t *set) {
  if (!set) {
    return;
  }
  for (size_t i = 0; i < set->n; i++) {
    free(set->files[i].path);
    free(set->files[i].body);
    free(set->files[i].gz);
  }
  free(set->files);
  free(set);
}

const char *static_version(const static_set_t *set) { return set->version; }

const static_file_t *static_find(const static_set_t *set, const char *path) {
  if (!set->n) {
    return NULL;
  }
  static_file_t key = {.path = (char *)path};
  return bsearch(&key, set->files, set->n, sizeof *set->files, by_path);
}

/* ------------------------------------------------------------ serving */

static int send_file(struct mg_connection *conn, const static_file_t *f,
                     const char *cache, bool head) {
  const char *ae = mg_get_header(conn, "Accept-Encoding");
  bool gz = f->gz && gzip_accepted(ae);
  char etag[sizeof f->etag + 4];
  if (gz) {
    snprintf(etag, sizeof etag, "%.*s-gz\"", (int)strlen(f->etag) - 1, f->etag);
  } else {
    snprintf(etag, sizeof etag, "%s", f->etag);
  }
  const char *inm = mg_get_header(conn, "If-None-Match");
  bool fresh = inm && strstr(inm, etag);
  const char *body = gz ? f->gz : f->body;
  size_t len = gz ? f->gz_len : f->len;
  mg_printf(conn,
            "HTTP/1.1 %s\r\n"
            "Content-Type: %s\r\n"
            "Cache-Control: %s\r\n"
            "ETag: %s\r\n"
            "Vary: Accept-Encoding\r\n"
            "%s"
            "Content-Length: %zu\r\n" STATIC_HEADERS "\r\n\r\n",
            fresh ? "304 Not Modified" : "200 OK", f->type, cache, etag,
            gz ? "Content-Encoding: gzip\r\n" : "", fresh ? (size_t)0 : len);
  if (!fresh && !head) {
    mg_write(conn, body, len);
  }
  return fresh ? 304 : 200;
}

int static_serve_app(struct mg_connection *conn, void *cbdata) {
  const static_set_t *set = cbdata;
  const struct mg_request_info *ri = mg_get_request_info(conn);
  const char *uri = ri->local_uri;
  bool head = !strcmp(ri->request_method, "HEAD");
  if (!uri || !strncmp(uri, "/api/", 5) ||
      (!head && strcmp(ri->request_method, "GET"))) {
    return 0; /* civetweb's own handling */
  }
  size_t vlen = strlen(VERSIONED_PREFIX);
  if (!strncmp(uri, VERSIONED_PREFIX, vlen)) {
    const char *v = uri + vlen;
    const static_file_t *f = NULL;
    if (!strncmp(v, set->version, STATIC_VERSION_LEN) &&
        v[STATIC_VERSION_LEN] == '/') {
      f = static_find(set, v + STATIC_VERSION_LEN);
    }
    if (!f) {
      mg_send_http_error(conn, 404, "%s", "No such file");
      return 404;
    }
    return send_file(conn, f, IMMUTABLE, head);
  }
  const static_file_t *f = static_find(set, uri);
  if (!f) {
    const char *last = strrchr(uri, '/');
    if (last && strchr(last, '.')) {
      mg_send_http_error(conn, 404, "%s", "No such file");
      return 404;
    }
    f = static_find(set, "/index.html"); /* a page of the app */
    if (!f) {
      mg_send_http_error(conn, 404, "%s", "No web client here");
      return 404;
    }
  }
  return send_file(conn, f, "no-cache", head);
}
