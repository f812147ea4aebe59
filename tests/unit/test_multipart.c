/*
 * test_multipart.c - unit tests for multipart.h: the boundary of a
 * Content-Type (token and quoted forms, case, parameters around it, the
 * RFC 2046 limits), and the parse of bodies: one and several parts,
 * binary content holding CR, LF, NUL and near-boundaries, empty parts,
 * quoted names with escapes, filenames noted and never used, padding
 * after a delimiter, the epilogue; and every way a body can be refused
 * (no boundary, a preamble, a missing close, bare LF, a part without a
 * disposition or a name, repeated parameters, too many parts or header
 * lines, an overlong line), each with 400 "invalid_multipart" and no
 * parts.  Every byte a part points at lies inside the body.
 *
 * Pure functions: no I/O.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "server/http/multipart.h"

#define B "XyZ-1234"
#define D "--" B

typedef struct parsed {
  multipart_part_t parts[MULTIPART_PARTS_MAX];
  size_t n;
  chorus_error_t err;
  bool ok;
} parsed_t;

/* Parses body (len bytes; -1: strlen) with boundary B. */
static parsed_t parse_len(const char *body, size_t len) {
  parsed_t p;
  memset(&p, 0, sizeof p);
  chorus_error_clear(&p.err);
  p.ok =
      multipart_parse(B, body, len, p.parts, MULTIPART_PARTS_MAX, &p.n, &p.err);
  for (size_t i = 0; i < p.n; i++) {
    const char *start = (const char *)p.parts[i].data;
    assert_true(start >= body && start + p.parts[i].len <= body + len);
  }
  return p;
}

static parsed_t parse(const char *body) {
  return parse_len(body, strlen(body));
}

static void assert_refused(const char *body) {
  parsed_t p = parse(body);
  if (p.ok) {
    fail_msg("accepted: %s", body);
  }
  assert_int_equal(p.err.status, 400);
  assert_string_equal(p.err.code, "invalid_multipart");
  assert_int_equal(p.n, 0);
}

static void assert_part(const parsed_t *p, size_t i, const char *name,
                        bool has_filename, const char *content, size_t len) {
  assert_true(i < p->n);
  assert_string_equal(p->parts[i].name, name);
  assert_int_equal(p->parts[i].has_filename, has_filename);
  assert_int_equal(p->parts[i].len, len);
  assert_memory_equal(p->parts[i].data, content, len);
}

static void boundary_forms(void **state) {
  (void)state;
  char b[MULTIPART_BOUNDARY_MAX + 1];
  chorus_error_t err;
  assert_true(multipart_boundary("multipart/form-data; boundary=abc", b, &err));
  assert_string_equal(b, "abc");
  assert_true(
      multipart_boundary("Multipart/Form-Data;BOUNDARY=\"a b:c\"", b, &err));
  assert_string_equal(b, "a b:c");
  assert_true(multipart_boundary(
      "multipart/form-data; charset=utf-8; boundary=----WebKitFormBoundary7MA4"
      "YWxkTrZu0gW",
      b, &err));
  assert_string_equal(b, "----WebKitFormBoundary7MA4YWxkTrZu0gW");
  assert_true(multipart_boundary("multipart/form-data; boundary=\"q\\\"\"", b,
                                 &err) == false);
  char seventy[128];
  memset(seventy, 'x', 70);
  snprintf(seventy + 70, sizeof seventy - 70, "%s", "");
  char header[160];
  snprintf(header, sizeof header, "multipart/form-data; boundary=%s", seventy);
  assert_true(multipart_boundary(header, b, &err));
  assert_int_equal(strlen(b), 70);
  snprintf(header, sizeof header, "multipart/form-data; boundary=%sx", seventy);
  assert_false(multipart_boundary(header, b, &err)); /* 71 */
  static const char *const bad[] = {
      NULL,
      "",
      "application/json",
      "multipart/form-data",
      "multipart/form-data;",
      "multipart/form-data; boundary=",
      "multipart/form-data; boundary=\"\"",
      "multipart/form-data; boundary=\"ends with space \"",
      "multipart/form-data; boundary=a; boundary=b",
      "multipart/form-data; boundary=\"a\"b",
      "multipart/form-data; boundary=\"unclosed",
      "multipart/form-data; boundary=semi;colon\xff",
      "multipart/mixed; boundary=abc",
      "multipart/form-dataX; boundary=abc",
      "multipart/form-data; boundary=a<b",
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    chorus_error_clear(&err);
    if (multipart_boundary(bad[i], b, &err)) {
      fail_msg("accepted boundary of: %s", bad[i]);
    }
    assert_int_equal(err.status, 400);
    assert_string_equal(err.code, "invalid_multipart");
    assert_string_equal(b, "");
  }
}

static void one_part(void **state) {
  (void)state;
  parsed_t p = parse(D "\r\nContent-Disposition: form-data; name=\"file\"; "
                       "filename=\"x.png\"\r\nContent-Type: image/png\r\n\r\n"
                       "DATA\r\n" D "--\r\n");
  assert_true(p.ok);
  assert_int_equal(p.n, 1);
  assert_part(&p, 0, "file", true, "DATA", 4);
}

static void several_parts_in_order(void **state) {
  (void)state;
  parsed_t p = parse(D "\r\ncontent-disposition: form-data; name=alt\r\n\r\n"
                       "a cat\r\n" D "\r\nContent-Disposition: form-data; "
                       "name=\"file\"; filename=\"\"\r\n\r\n\r\n" D
                       "\r\nContent-Disposition: form-data; name=\"e\"\r\n"
                       "\r\n\r\n" D "--");
  assert_true(p.ok);
  assert_int_equal(p.n, 3);
  assert_part(&p, 0, "alt", false, "a cat", 5);
  assert_part(&p, 1, "file", true, "", 0);
  assert_part(&p, 2, "e", false, "", 0);
  size_t count;
  assert_ptr_equal(multipart_find(p.parts, p.n, "file", &count), &p.parts[1]);
  assert_int_equal(count, 1);
  assert_null(multipart_find(p.parts, p.n, "nope", &count));
  assert_int_equal(count, 0);
}

static void binary_content_keeps_every_byte(void **state) {
  (void)state;
  /* CR, LF, NUL, "--XyZ" without its CRLF, a delimiter missing a byte. */
  static const char content[] = "\r\n\0\r--XyZ-123\n" D "x\r\n-" D "\r";
  char body[256];
  size_t n = 0;
  static const char head[] =
      D "\r\nContent-Disposition: form-data; name=\"file\"\r\n\r\n";
  memcpy(body, head, sizeof head - 1);
  n += sizeof head - 1;
  memcpy(body + n, content, sizeof content - 1);
  n += sizeof content - 1;
  memcpy(body + n, "\r\n" D "--", 4 + strlen(B) + 2);
  n += 4 + strlen(B) + 2;
  parsed_t p = parse_len(body, n);
  assert_true(p.ok);
  assert_int_equal(p.n, 1);
  assert_part(&p, 0, "file", false, content, sizeof content - 1);
}

static void names_padding_and_epilogue(void **state) {
  (void)state;
  parsed_t p = parse(D " \t\r\nContent-Disposition: FORM-DATA ; name = "
                       "\"a\\\"b\" ; filename*=utf-8''x\r\nX-Other: y\r\n"
                       "\r\nv\r\n" D "--\r\nthe epilogue " D " is ignored");
  assert_true(p.ok);
  assert_int_equal(p.n, 1);
  assert_part(&p, 0, "a\"b", false, "v", 1);
  /* Nothing but the close: no parts. */
  p = parse(D "--");
  assert_true(p.ok);
  assert_int_equal(p.n, 0);
}

static void malformed_bodies_are_refused(void **state) {
  (void)state;
  static const char *const bad[] = {
      "",
      "no delimiter at all",
      "preamble\r\n" D "\r\nContent-Disposition: form-data; name=a\r\n\r\nv"
      "\r\n" D "--",
      D,
      D "\r\n",
      D "x\r\nContent-Disposition: form-data; name=a\r\n\r\nv\r\n" D "--",
      D "\nContent-Disposition: form-data; name=a\r\n\r\nv\r\n" D "--",
      D "\r\nContent-Disposition: form-data; name=a\n\r\nv\r\n" D "--",
      D "\r\nContent-Disposition: form-data; name=a\r\n\r\nno close",
      D "\r\nContent-Disposition: form-data; name=a\r\n\r\nv\r\n" D,
      D "\r\nContent-Disposition: form-data; name=a\r\n\r\nv\r\n" D "\r\n",
      D "\r\nContent-Type: text/plain\r\n\r\nv\r\n" D "--",
      D "\r\nContent-Disposition: form-data\r\n\r\nv\r\n" D "--",
      D "\r\nContent-Disposition: attachment; name=a\r\n\r\nv\r\n" D "--",
      D "\r\nContent-Disposition: form-data; name=\"\r\n\r\nv\r\n" D "--",
      D "\r\nContent-Disposition: form-data; name=\"\"\r\n\r\nv\r\n" D "--",
      D "\r\nContent-Disposition: form-data; name=a; name=b\r\n\r\nv\r\n" D
        "--",
      D "\r\nContent-Disposition: form-data; name=a; filename=x; "
        "filename=y\r\n\r\nv\r\n" D "--",
      D "\r\nContent-Disposition: form-data; name=a\r\nContent-Disposition: "
        "form-data; name=b\r\n\r\nv\r\n" D "--",
      D "\r\nContent-Disposition: form-data; name\r\n\r\nv\r\n" D "--",
      D "\r\nContent-Disposition: form-data; name=\r\n\r\nv\r\n" D "--",
      D "\r\nContent-Disposition: form-data; name=a b\r\n\r\nv\r\n" D "--",
      D "\r\n: no name\r\nContent-Disposition: form-data; name=a\r\n\r\nv\r\n" D
        "--",
      D "\r\nContent-Disposition: form-data; name=a\r\n",
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    assert_refused(bad[i]);
  }
  /* A name with a NUL in it. */
  static const char nul[] =
      D "\r\nContent-Disposition: form-data; name=\"a\0b\"\r\n\r\nv\r\n" D "--";
  parsed_t p = parse_len(nul, sizeof nul - 1);
  assert_false(p.ok);
}

static void limits_are_refused(void **state) {
  (void)state;
  char *body = malloc(64 * 1024);
  size_t n = 0;
  /* MULTIPART_PARTS_MAX parts pass, one more does not. */
  for (int parts = MULTIPART_PARTS_MAX; parts <= MULTIPART_PARTS_MAX + 1;
       parts++) {
    n = 0;
    for (int i = 0; i < parts; i++) {
      n += (size_t)sprintf(body + n,
                           D "\r\nContent-Disposition: form-data; "
                             "name=p%d\r\n\r\n%d\r\n",
                           i, i);
    }
    n += (size_t)sprintf(body + n, D "--");
    parsed_t p = parse_len(body, n);
    assert_int_equal(p.ok, parts == MULTIPART_PARTS_MAX);
  }
  /* MULTIPART_HEADERS_MAX header lines pass, one more does not. */
  for (int lines = MULTIPART_HEADERS_MAX; lines <= MULTIPART_HEADERS_MAX + 1;
       lines++) {
    n = (size_t)sprintf(body, D "\r\n");
    for (int i = 1; i < lines; i++) {
      n += (size_t)sprintf(body + n, "X-H%d: v\r\n", i);
    }
    n += (size_t)sprintf(body + n, "Content-Disposition: form-data; name=a"
                                   "\r\n\r\nv\r\n" D "--");
    parsed_t p = parse_len(body, n);
    assert_int_equal(p.ok, lines == MULTIPART_HEADERS_MAX);
  }
  /* A header line of MULTIPART_HEADER_LINE_MAX passes, a longer one not. */
  for (int extra = 0; extra <= 1; extra++) {
    n = (size_t)sprintf(body, D "\r\nX-Long: ");
    size_t fill = MULTIPART_HEADER_LINE_MAX - strlen("X-Long: ") + extra;
    memset(body + n, 'a', fill);
    n += fill;
    n += (size_t)sprintf(body + n, "\r\nContent-Disposition: form-data; "
                                   "name=a\r\n\r\nv\r\n" D "--");
    parsed_t p = parse_len(body, n);
    assert_int_equal(p.ok, extra == 0);
  }
  /* A name of MULTIPART_NAME_MAX bytes passes, a longer one not. */
  for (int extra = 0; extra <= 1; extra++) {
    n = (size_t)sprintf(body, D "\r\nContent-Disposition: form-data; name=");
    memset(body + n, 'n', MULTIPART_NAME_MAX + extra);
    n += MULTIPART_NAME_MAX + extra;
    n += (size_t)sprintf(body + n, "\r\n\r\nv\r\n" D "--");
    parsed_t p = parse_len(body, n);
    assert_int_equal(p.ok, extra == 0);
  }
  /* Room for fewer parts than the body holds. */
  multipart_part_t two[2];
  size_t got;
  chorus_error_t err;
  n = (size_t)sprintf(body, D "\r\nContent-Disposition: form-data; name=a\r\n"
                              "\r\n1\r\n" D "\r\nContent-Disposition: "
                              "form-data; name=b\r\n\r\n2\r\n" D "\r\n"
                              "Content-Disposition: form-data; name=c\r\n"
                              "\r\n3\r\n" D "--");
  assert_false(multipart_parse(B, body, n, two, 2, &got, &err));
  assert_int_equal(got, 0);
  assert_true(
      multipart_parse(B, body, n - 0, (multipart_part_t[3]){0}, 3, &got, &err));
  assert_int_equal(got, 3);
  free(body);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(boundary_forms),
      cmocka_unit_test(one_part),
      cmocka_unit_test(several_parts_in_order),
      cmocka_unit_test(binary_content_keeps_every_byte),
      cmocka_unit_test(names_padding_and_epilogue),
      cmocka_unit_test(malformed_bodies_are_refused),
      cmocka_unit_test(limits_are_refused),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
