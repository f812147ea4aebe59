/*
 * multipart.c - see multipart.h.
 *
 * The body is walked once, front to back, with a cursor p that never
 * passes end: every read checks the bytes left first.  A part's content
 * ends where "\r\n--boundary" next occurs, searched with memchr for its
 * CR, so 8 MB of image data costs one pass.
 */
#include "server/http/multipart.h"

#include <assert.h>
#include <string.h>
#include <strings.h>

#define BAD(err, ...)                                                          \
  chorus_error_set((err), 400, "invalid_multipart", __VA_ARGS__)

/* RFC 2046 bcharsnospace, and the space (not last). */
static bool boundary_char(char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
         (c >= 'A' && c <= 'Z') || strchr("'()+_,-./:=? ", c) != NULL;
}

/* RFC 7230 tchar. */
static bool token_char(char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
         (c >= 'A' && c <= 'Z') || strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

static const char *skip_space(const char *p, const char *end) {
  while (p < end && (*p == ' ' || *p == '\t')) {
    p++;
  }
  return p;
}

/* A parameter value at *pp (a token or a quoted string, its escapes
 * undone) into out (size bytes, NUL-terminated); false when malformed,
 * containing a NUL, or longer than size - 1.  *pp moves past it. */
static bool param_value(const char **pp, const char *end, char *out,
                        size_t size) {
  const char *p = *pp;
  size_t n = 0;
  if (p < end && *p == '"') {
    p++;
    for (;;) {
      if (p == end || *p == '\r' || *p == '\n' || *p == '\0') {
        return false;
      }
      char c = *p++;
      if (c == '"') {
        break;
      }
      if (c == '\\') {
        if (p == end || *p == '\r' || *p == '\n' || *p == '\0') {
          return false;
        }
        c = *p++;
      }
      if (n + 1 >= size) {
        return false;
      }
      out[n++] = c;
    }
  } else {
    while (p < end && token_char(*p)) {
      if (n + 1 >= size) {
        return false;
      }
      out[n++] = *p++;
    }
    if (n == 0) {
      return false;
    }
  }
  out[n] = '\0';
  *pp = p;
  return true;
}

/* The parameters after a type (";name=value" ...), from p to end: calls
 * want on each; false when malformed. */
typedef bool (*param_fn)(void *ctx, const char *name, size_t name_len,
                         const char *value);

static bool parse_params(const char *p, const char *end, param_fn fn,
                         void *ctx) {
  for (;;) {
    p = skip_space(p, end);
    if (p == end) {
      return true;
    }
    if (*p++ != ';') {
      return false;
    }
    p = skip_space(p, end);
    if (p == end) {
      return true; /* a trailing ';' */
    }
    const char *name = p;
    while (p < end && token_char(*p)) {
      p++;
    }
    size_t name_len = (size_t)(p - name);
    p = skip_space(p, end);
    if (name_len == 0 || p == end || *p++ != '=') {
      return false;
    }
    p = skip_space(p, end);
    char value[MULTIPART_HEADER_LINE_MAX + 1];
    if (!param_value(&p, end, value, sizeof value) ||
        !fn(ctx, name, name_len, value)) {
      return false;
    }
  }
}

/* Whether s[0..len) is name, ignoring ASCII case. */
static bool is_name(const char *s, size_t len, const char *name) {
  return len == strlen(name) && strncasecmp(s, name, len) == 0;
}

typedef struct boundary_ctx {
  char *out;
  bool found;
  bool valid;
} boundary_ctx_t;

static bool boundary_param(void *arg, const char *name, size_t name_len,
                           const char *value) {
  boundary_ctx_t *c = arg;
  if (!is_name(name, name_len, "boundary")) {
    return true;
  }
  size_t n = strlen(value);
  c->valid =
      !c->found && n >= 1 && n <= MULTIPART_BOUNDARY_MAX && value[n - 1] != ' ';
  for (size_t i = 0; c->valid && i < n; i++) {
    c->valid = boundary_char(value[i]);
  }
  c->found = true;
  if (c->valid) {
    memcpy(c->out, value, n + 1);
  }
  return c->valid;
}

bool multipart_boundary(const char *content_type,
                        char out[MULTIPART_BOUNDARY_MAX + 1],
                        chorus_error_t *err) {
  static const char type[] = "multipart/form-data";
  out[0] = '\0';
  if (!content_type || strncasecmp(content_type, type, sizeof type - 1) != 0) {
    BAD(err, "Content-Type must be multipart/form-data");
    return false;
  }
  const char *p = content_type + sizeof type - 1;
  boundary_ctx_t c = {out, false, false};
  if (!parse_params(p, p + strlen(p), boundary_param, &c) || !c.found ||
      !c.valid) {
    out[0] = '\0';
    BAD(err, c.found ? "The multipart boundary is malformed (1-70 characters "
                       "of RFC 2046)"
                     : "Content-Type names no multipart boundary");
    return false;
  }
  return true;
}

typedef struct disposition_ctx {
  multipart_part_t *part;
  bool named;
  bool twice; /* a parameter given twice */
} disposition_ctx_t;

static bool disposition_param(void *arg, const char *name, size_t name_len,
                              const char *value) {
  disposition_ctx_t *c = arg;
  if (is_name(name, name_len, "name")) {
    if (c->named || !value[0] || strlen(value) > MULTIPART_NAME_MAX) {
      c->twice = c->named;
      return false;
    }
    memcpy(c->part->name, value, strlen(value) + 1);
    c->named = true;
  } else if (is_name(name, name_len, "filename")) {
    if (c->part->has_filename) {
      c->twice = true;
      return false;
    }
    c->part->has_filename = true;
  }
  return true;
}

/* One header line line[0..len) of a part (its CRLF excluded). */
static bool part_header(const char *line, size_t len, multipart_part_t *part,
                        bool *disposed, chorus_error_t *err) {
  const char *end = line + len, *p = line;
  while (p < end && token_char(*p)) {
    p++;
  }
  if (p == line || p == end || *p != ':') {
    BAD(err, "A part has a malformed header line");
    return false;
  }
  size_t name_len = (size_t)(p - line);
  if (!is_name(line, name_len, "Content-Disposition")) {
    return true; /* Content-Type and the like: not used */
  }
  if (*disposed) {
    BAD(err, "A part has two Content-Disposition headers");
    return false;
  }
  *disposed = true;
  p = skip_space(p + 1, end);
  static const char form[] = "form-data";
  const char *type = p;
  while (p < end && token_char(*p)) {
    p++;
  }
  if (!is_name(type, (size_t)(p - type), form)) {
    BAD(err, "A part's Content-Disposition must be form-data");
    return false;
  }
  disposition_ctx_t c = {part, false, false};
  if (!parse_params(p, end, disposition_param, &c) || !c.named) {
    BAD(err, c.twice   ? "A part's Content-Disposition repeats a parameter"
             : c.named ? "A part's Content-Disposition is malformed"
                       : "A part's Content-Disposition has no valid name (at "
                         "most 64 bytes)");
    return false;
  }
  return true;
}

/* The first "\r\n" + delim[0..dlen) in p[0..end); NULL when none. */
static const char *find_delimiter(const char *p, const char *end,
                                  const char *delim, size_t dlen) {
  while (p < end) {
    const char *cr = memchr(p, '\r', (size_t)(end - p));
    if (!cr || (size_t)(end - cr) < dlen + 2) {
      return NULL;
    }
    if (cr[1] == '\n' && memcmp(cr + 2, delim, dlen) == 0) {
      return cr;
    }
    p = cr + 1;
  }
  return NULL;
}

/* The header lines of a part, from *pp up to and past the empty line. */
static bool part_headers(const char **pp, const char *end,
                         multipart_part_t *part, chorus_error_t *err) {
  const char *p = *pp;
  bool disposed = false;
  for (int lines = 0;; lines++) {
    size_t left = (size_t)(end - p);
    size_t look = left < MULTIPART_HEADER_LINE_MAX + 2
                      ? left
                      : MULTIPART_HEADER_LINE_MAX + 2;
    const char *lf = memchr(p, '\n', look);
    if (!lf || lf == p || lf[-1] != '\r') {
      BAD(err, lf ? "A part's header line must end in CRLF"
                  : "A part's headers do not end (or a line is over 1024 "
                    "bytes)");
      return false;
    }
    size_t len = (size_t)(lf - 1 - p);
    if (len == 0) {
      *pp = lf + 1;
      break;
    }
    if (lines == MULTIPART_HEADERS_MAX) {
      BAD(err, "A part has more than %d header lines", MULTIPART_HEADERS_MAX);
      return false;
    }
    if (!part_header(p, len, part, &disposed, err)) {
      return false;
    }
    p = lf + 1;
  }
  if (!disposed) {
    BAD(err, "A part has no Content-Disposition");
    return false;
  }
  return true;
}

bool multipart_parse(const char *boundary, const void *body, size_t len,
                     multipart_part_t *parts, size_t max, size_t *n,
                     chorus_error_t *err) {
  *n = 0;
  size_t blen = strlen(boundary);
  assert(blen >= 1 && blen <= MULTIPART_BOUNDARY_MAX);
  char delim[MULTIPART_BOUNDARY_MAX + 3];
  delim[0] = delim[1] = '-';
  memcpy(delim + 2, boundary, blen);
  size_t dlen = blen + 2;
  const char *p = body, *end = p + len;
  if (len < dlen || memcmp(p, delim, dlen) != 0) {
    BAD(err, "The body does not start with the boundary of its Content-Type");
    return false;
  }
  p += dlen;
  if (max > MULTIPART_PARTS_MAX) {
    max = MULTIPART_PARTS_MAX;
  }
  /* Invariant: p is just past a delimiter. */
  for (;;) {
    if (end - p >= 2 && p[0] == '-' && p[1] == '-') {
      return true; /* the close delimiter; the epilogue is ignored */
    }
    p = skip_space(p, end);
    if (end - p < 2 || p[0] != '\r' || p[1] != '\n') {
      BAD(err, "A boundary line must end in CRLF (or -- after the last "
               "part)");
      break;
    }
    p += 2;
    if (*n == max) {
      BAD(err, "More than %zu parts", max);
      break;
    }
    multipart_part_t *part = &parts[*n];
    memset(part, 0, sizeof *part);
    if (!part_headers(&p, end, part, err)) {
      break;
    }
    const char *next = find_delimiter(p, end, delim, dlen);
    if (!next) {
      BAD(err, "The body ends before the closing boundary");
      break;
    }
    part->data = (const uint8_t *)p;
    part->len = (size_t)(next - p);
    (*n)++;
    p = next + 2 + dlen;
  }
  *n = 0;
  return false;
}

const multipart_part_t *multipart_find(const multipart_part_t *parts, size_t n,
                                       const char *name, size_t *count) {
  const multipart_part_t *first = NULL;
  size_t k = 0;
  for (size_t i = 0; i < n; i++) {
    if (!strcmp(parts[i].name, name)) {
      first = first ? first : &parts[i];
      k++;
    }
  }
  if (count) {
    *count = k;
  }
  return first;
}
