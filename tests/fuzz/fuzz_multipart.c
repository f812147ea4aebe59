/*
 * fuzz_multipart.c - an upload as POST /api/media reads it: the
 * Content-Type header (multipart_boundary), then the body
 * (multipart_parse) and its fields (multipart_find).  The input is the
 * header's value, a newline, then the body; an input without a newline
 * is a body under a fixed boundary.
 *
 * Checks: a refusal is 400 "invalid_multipart" with a UTF-8 message and
 * no parts; a boundary is 1-70 characters that do not end in a space; an
 * accepted body has at most MULTIPART_PARTS_MAX parts, each a name of at
 * most MULTIPART_NAME_MAX bytes without a NUL and content inside the
 * body; multipart_find counts and finds what a walk of the parts does;
 * and the parts written again as a body of their own (each name quoted)
 * parse to the same names and contents.
 */
#include "tests/fuzz/fuzz.h"

#include "server/domain/validate.h"
#include "server/http/multipart.h"

static void check_refusal(const chorus_error_t *err) {
  FUZZ_CHECK(err->status == 400 && !strcmp(err->code, "invalid_multipart") &&
             err->message[0] &&
             utf8_is_valid(err->message, strlen(err->message)));
}

/* parts[0..n) written as a body with boundary b; its length in *len
 * (the caller frees). */
static char *rewrite(const char *b, const multipart_part_t *parts, size_t n,
                     size_t *len) {
  size_t cap = 64 + strlen(b);
  for (size_t i = 0; i < n; i++) {
    cap += parts[i].len + 2 * MULTIPART_NAME_MAX + 96 + strlen(b);
  }
  char *out = malloc(cap);
  size_t k = 0;
  for (size_t i = 0; i < n; i++) {
    k += (size_t)snprintf(out + k, cap - k,
                          "--%s\r\nContent-Disposition: form-data; name=\"", b);
    for (const char *c = parts[i].name; *c; c++) {
      if (*c == '"' || *c == '\\') {
        out[k++] = '\\';
      }
      out[k++] = *c;
    }
    k += (size_t)snprintf(out + k, cap - k, "\"\r\n\r\n");
    memcpy(out + k, parts[i].data, parts[i].len);
    k += parts[i].len;
    out[k++] = '\r';
    out[k++] = '\n';
  }
  k += (size_t)snprintf(out + k, cap - k, "--%s--", b);
  *len = k;
  return out;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  const uint8_t *nl = memchr(data, '\n', size);
  char *header = fuzz_cstring(data, nl ? (size_t)(nl - data) : 0);
  const uint8_t *body = nl ? nl + 1 : data;
  size_t len = nl ? size - (size_t)(body - data) : size;
  char boundary[MULTIPART_BOUNDARY_MAX + 1];
  chorus_error_t err;
  chorus_error_clear(&err);
  bool ok = nl ? multipart_boundary(header, boundary, &err)
               : (strcpy(boundary, "fuzz-boundary"), true);
  if (!ok) {
    check_refusal(&err);
    FUZZ_CHECK(boundary[0] == '\0');
    free(header);
    return 0;
  }
  size_t blen = strlen(boundary);
  FUZZ_CHECK(blen >= 1 && blen <= MULTIPART_BOUNDARY_MAX &&
             boundary[blen - 1] != ' ');

  multipart_part_t parts[MULTIPART_PARTS_MAX];
  size_t n = 99;
  chorus_error_clear(&err);
  if (!multipart_parse(boundary, body, len, parts, MULTIPART_PARTS_MAX, &n,
                       &err)) {
    check_refusal(&err);
    FUZZ_CHECK(n == 0);
    free(header);
    return 0;
  }
  FUZZ_CHECK(n <= MULTIPART_PARTS_MAX);
  for (size_t i = 0; i < n; i++) {
    size_t name_len = strnlen(parts[i].name, sizeof parts[i].name);
    FUZZ_CHECK(name_len >= 1 && name_len <= MULTIPART_NAME_MAX);
    FUZZ_CHECK(parts[i].data >= body &&
               parts[i].data + parts[i].len <= body + len);
    size_t count, walked = 0;
    const multipart_part_t *first = NULL;
    for (size_t k = 0; k < n; k++) {
      if (!strcmp(parts[k].name, parts[i].name)) {
        first = first ? first : &parts[k];
        walked++;
      }
    }
    FUZZ_CHECK(multipart_find(parts, n, parts[i].name, &count) == first &&
               count == walked);
  }

  /* Written again, it reads the same. */
  size_t again_len;
  char *again = rewrite(boundary, parts, n, &again_len);
  multipart_part_t back[MULTIPART_PARTS_MAX];
  size_t m;
  FUZZ_CHECK(multipart_parse(boundary, again, again_len, back,
                             MULTIPART_PARTS_MAX, &m, &err));
  FUZZ_CHECK(m == n);
  for (size_t i = 0; i < n; i++) {
    FUZZ_CHECK(!strcmp(back[i].name, parts[i].name) &&
               back[i].len == parts[i].len &&
               !memcmp(back[i].data, parts[i].data, parts[i].len));
  }
  free(again);
  free(header);
  return 0;
}
