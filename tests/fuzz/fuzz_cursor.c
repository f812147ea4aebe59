/*
 * fuzz_cursor.c - the page parameters of every list, as a query string:
 * ?limit= and ?before= read by api_page_params (time cursors, cursor.h)
 * and api_list_params with name_cursor_decode (the user search's name
 * cursors); and the raw input given to both decoders as it stands.
 *
 * Checks: an accepted limit is 1..TWEET_PAGE_MAX; every refusal is a 400
 * with a code; an accepted cursor is canonical: encoding what it decodes
 * to gives the same characters back (so no two cursors name one
 * position), and a decoded name key is valid UTF-8.
 */
#include "tests/fuzz/fuzz.h"

#include "server/api/api.h"
#include "server/domain/cursor.h"
#include "server/domain/validate.h"

/* A request whose query string is qs: all that the page parameters read
 * of a request (http_query_param). */
static void fake_request(const char *qs, struct mg_request_info *info,
                         http_request_t *req) {
  memset(info, 0, sizeof *info);
  memset(req, 0, sizeof *req);
  info->query_string = qs;
  req->info = info;
}

static void check_page_cursor(const char *s) {
  page_cursor_t c;
  if (page_cursor_decode(s, &c)) {
    char again[PAGE_CURSOR_LEN + 1];
    page_cursor_encode(&c, again);
    FUZZ_CHECK(!strcmp(again, s));
    FUZZ_CHECK(c.ts_ms >= 0);
  }
}

static void check_name_cursor(const char *s) {
  char key[USERNAME_MAX * 4 + 1]; /* as the user search gives it */
  if (name_cursor_decode(s, key, sizeof key)) {
    size_t len = strlen(key);
    FUZZ_CHECK(utf8_is_valid(key, len) || len == 0);
    if (len <= (NAME_CURSOR_MAX / 4) * 3) {
      char again[NAME_CURSOR_MAX + 1];
      name_cursor_encode(key, again);
      FUZZ_CHECK(!strcmp(again, s));
    }
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char *qs = fuzz_cstring(data, size);
  struct mg_request_info info;
  http_request_t req;
  fake_request(qs, &info, &req);
  chorus_error_t err;
  size_t limit = 0;
  page_cursor_t before;
  bool has_before = false;
  if (api_page_params(&req, &limit, &before, &has_before, &err)) {
    FUZZ_CHECK(limit >= 1 && limit <= TWEET_PAGE_MAX);
    if (has_before) {
      char s[NAME_CURSOR_MAX + 1], again[PAGE_CURSOR_LEN + 1];
      bool bad;
      FUZZ_CHECK(http_query_param(&req, "before", s, sizeof s, &bad, &err));
      page_cursor_encode(&before, again);
      FUZZ_CHECK(!strcmp(again, s));
    }
  } else {
    FUZZ_CHECK(err.status == 400 && err.code[0]);
  }
  char name[NAME_CURSOR_MAX + 1];
  if (api_list_params(&req, &limit, name, sizeof name, &has_before, &err)) {
    FUZZ_CHECK(limit >= 1 && limit <= TWEET_PAGE_MAX);
    if (has_before) {
      check_name_cursor(name);
    }
  } else {
    FUZZ_CHECK(err.status == 400 && err.code[0]);
  }
  check_page_cursor(qs);
  check_name_cursor(qs);
  free(qs);
  return 0;
}
