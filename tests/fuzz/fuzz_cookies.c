/*
 * fuzz_cookies.c - the Cookie header of a request or a WebSocket
 * upgrade: the session cookie (http_cookie_parse, then sessions_id, the
 * hash every session lookup starts with) and the causal token
 * chorus_seen (reads_token_parse).
 *
 * Checks: a value found fits its buffer; a session id is SESSION_ID_LEN
 * hex digits; a causal token is 0 (ignored) or a positive number whose
 * decimal form is the cookie's value exactly.
 */
#include "tests/fuzz/fuzz.h"

#include "server/api/api.h"
#include "server/domain/sessions.h"
#include "server/readmodel/reads.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char *header = fuzz_cstring(data, size);
  char token[API_TOKEN_SIZE];
  if (http_cookie_parse(header, SESSION_COOKIE, token, sizeof token)) {
    size_t len = strlen(token);
    FUZZ_CHECK(len > 0 && len < sizeof token);
    char id[SESSION_ID_LEN + 1];
    if (sessions_id(token, id)) {
      FUZZ_CHECK(strlen(id) == SESSION_ID_LEN &&
                 strspn(id, "0123456789abcdef") == SESSION_ID_LEN);
    }
  }
  char seen[24]; /* as api_seen reads it */
  bool found = http_cookie_parse(header, READS_SEEN_COOKIE, seen, sizeof seen);
  int64_t seq = reads_token_parse(found ? seen : NULL);
  FUZZ_CHECK(seq >= 0);
  if (seq > 0) {
    char again[24];
    snprintf(again, sizeof again, "%lld", (long long)seq);
    FUZZ_CHECK(!strcmp(again, seen));
  }
  /* The value itself, whatever the cookie's name. */
  seq = reads_token_parse(header);
  FUZZ_CHECK(seq >= 0);
  free(header);
  return 0;
}
