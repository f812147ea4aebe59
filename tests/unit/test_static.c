/*
 * test_static.c - the web client's files in memory (server/http/static.h):
 * the set loaded from a directory, the version, index.html's versioned
 * names, the gzip of each file.  What the handler sends (Content-Encoding,
 * Cache-Control, the bytes a first view transfers) is checked end to end
 * by tests/e2e/spa.test.mjs.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <zlib.h>

#include "server/http/static.h"

static void write_file(const char *dir, const char *name, const char *text) {
  char path[512];
  int n = snprintf(path, sizeof path, "%s/%s", dir, name);
  assert_true(n > 0 && (size_t)n < sizeof path);
  FILE *f = fopen(path, "w");
  assert_non_null(f);
  fputs(text, f);
  fclose(f);
}

#define INDEX                                                                  \
  "<!doctype html>\n<link rel=\"stylesheet\" href=\"/style.css\">\n"           \
  "<script type=\"module\" src=\"/js/main.js\"></script>\n"                    \
  "<a href=\"/u/alice\">a page</a> <a href=\"/index.html\">home</a>\n"

/* A public directory: index.html, style.css, js/main.js, a hidden file. */
static void make_dir(char *dir, const char *css) {
  strcpy(dir, "/tmp/chorus-static-XXXXXX");
  assert_non_null(mkdtemp(dir));
  char js[600];
  snprintf(js, sizeof js, "%s/js", dir);
  assert_int_equal(mkdir(js, 0700), 0);
  write_file(dir, "index.html", INDEX);
  write_file(dir, "style.css", css);
  write_file(dir, ".hidden", "secret");
  char big[4096] = {0};
  for (size_t i = 0; i + 40 < sizeof big; i += 39) {
    strcat(big, "export const repeated = 'text text';\n");
  }
  write_file(js, "main.js", big);
}

static void remove_dir(const char *dir) {
  char path[600];
  const char *files[] = {"index.html", "style.css", ".hidden", "js/main.js"};
  for (size_t i = 0; i < 4; i++) {
    snprintf(path, sizeof path, "%s/%s", dir, files[i]);
    unlink(path);
  }
  snprintf(path, sizeof path, "%s/js", dir);
  rmdir(path);
  rmdir(dir);
}

static void loads_every_file_but_hidden_ones(void **state) {
  (void)state;
  char dir[64];
  make_dir(dir, "body { color: red }\n");
  chorus_error_t err = {0};
  static_set_t *set = static_load(dir, &err);
  assert_non_null(set);
  assert_non_null(static_find(set, "/index.html"));
  assert_non_null(static_find(set, "/style.css"));
  assert_non_null(static_find(set, "/js/main.js"));
  assert_null(static_find(set, "/.hidden"));
  assert_null(static_find(set, "/js"));
  assert_string_equal(static_find(set, "/js/main.js")->type,
                      "text/javascript; charset=utf-8");
  assert_string_equal(static_find(set, "/style.css")->type,
                      "text/css; charset=utf-8");
  static_destroy(set);
  remove_dir(dir);
}

static void index_names_files_by_version(void **state) {
  (void)state;
  char dir[64];
  make_dir(dir, "body { color: red }\n");
  chorus_error_t err = {0};
  static_set_t *set = static_load(dir, &err);
  const char *v = static_version(set);
  assert_int_equal(strlen(v), STATIC_VERSION_LEN);
  char want[512];
  snprintf(
      want, sizeof want,
      "<!doctype html>\n<link rel=\"stylesheet\" href=\"/v/%s/style.css\">\n"
      "<script type=\"module\" src=\"/v/%s/js/main.js\"></script>\n"
      "<a href=\"/u/alice\">a page</a> <a href=\"/index.html\">home</a>\n",
      v, v);
  const static_file_t *index = static_find(set, "/index.html");
  assert_int_equal(index->len, strlen(want));
  assert_memory_equal(index->body, want, index->len);
  static_destroy(set);
  remove_dir(dir);
}

static void version_follows_every_file(void **state) {
  (void)state;
  char a[64], b[64], c[64];
  make_dir(a, "body { color: red }\n");
  make_dir(b, "body { color: red }\n");
  make_dir(c, "body { color: blue }\n");
  chorus_error_t err = {0};
  static_set_t *sa = static_load(a, &err), *sb = static_load(b, &err),
               *sc = static_load(c, &err);
  assert_string_equal(static_version(sa), static_version(sb));
  assert_string_not_equal(static_version(sa), static_version(sc));
  static_destroy(sa);
  static_destroy(sb);
  static_destroy(sc);
  remove_dir(a);
  remove_dir(b);
  remove_dir(c);
}

static void gzip_holds_the_same_bytes(void **state) {
  (void)state;
  char dir[64];
  make_dir(dir, "body { color: red }\n");
  chorus_error_t err = {0};
  static_set_t *set = static_load(dir, &err);
  const static_file_t *js = static_find(set, "/js/main.js");
  assert_non_null(js->gz);
  assert_true(js->gz_len < js->len / 4);
  char *out = malloc(js->len + 1);
  z_stream z;
  memset(&z, 0, sizeof z);
  assert_int_equal(inflateInit2(&z, 15 + 16), Z_OK);
  z.next_in = (Bytef *)js->gz;
  z.avail_in = (uInt)js->gz_len;
  z.next_out = (Bytef *)out;
  z.avail_out = (uInt)js->len + 1;
  assert_int_equal(inflate(&z, Z_FINISH), Z_STREAM_END);
  assert_int_equal(z.total_out, js->len);
  assert_memory_equal(out, js->body, js->len);
  inflateEnd(&z);
  free(out);
  /* A file gzip would not shrink is held as it is. */
  assert_null(static_find(set, "/style.css")->gz);
  static_destroy(set);
  remove_dir(dir);
}

static void missing_directory_is_an_empty_set(void **state) {
  (void)state;
  chorus_error_t err = {0};
  static_set_t *set = static_load("/nonexistent/chorus/public", &err);
  assert_non_null(set);
  assert_null(static_find(set, "/index.html"));
  assert_int_equal(strlen(static_version(set)), STATIC_VERSION_LEN);
  static_destroy(set);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(loads_every_file_but_hidden_ones),
      cmocka_unit_test(index_names_files_by_version),
      cmocka_unit_test(version_follows_every_file),
      cmocka_unit_test(gzip_holds_the_same_bytes),
      cmocka_unit_test(missing_directory_is_an_empty_set),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
