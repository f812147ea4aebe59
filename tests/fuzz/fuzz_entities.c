/*
 * fuzz_entities.c - the mentions, hashtags and URLs of a tweet's text
 * (entities_parse, entities_fold_tag).
 *
 * Any bytes go in (on invalid UTF-8 the parser promises only to stay
 * within the text); on valid UTF-8, what entities.h promises is checked:
 * spans in text order, never overlapping, within the text, on character
 * boundaries, code-point offsets matching the byte offsets, each span
 * starting with its sigil or scheme, and every hashtag folding into
 * ENTITIES_TAG_BYTES + 1 bytes.
 */
#include "tests/fuzz/fuzz.h"

#include <strings.h>

#include "server/domain/entities.h"
#include "server/domain/validate.h"

#define MAX_ENTITIES 96

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  /* An exact-size copy: ASan catches a read one byte past the text. */
  char *text = malloc(size ? size : 1);
  memcpy(text, data, size);
  entity_t out[MAX_ENTITIES];
  size_t n = entities_parse(text, size, out, MAX_ENTITIES);
  FUZZ_CHECK(n <= MAX_ENTITIES);
  if (!utf8_is_valid(text, size)) {
    free(text);
    return 0;
  }
  uint32_t prev_end = 0;
  for (size_t k = 0; k < n; k++) {
    const entity_t *e = &out[k];
    FUZZ_CHECK(entity_type_name(e->type) != NULL);
    FUZZ_CHECK(e->byte_start < e->byte_end && e->byte_end <= size);
    FUZZ_CHECK(e->start < e->end && e->byte_start >= prev_end);
    prev_end = e->byte_end;
    /* On character boundaries, and the code points agree. */
    FUZZ_CHECK(((unsigned char)text[e->byte_start] & 0xC0) != 0x80);
    FUZZ_CHECK(e->byte_end == size ||
               ((unsigned char)text[e->byte_end] & 0xC0) != 0x80);
    FUZZ_CHECK(utf8_count_code_points(text, e->byte_start) == e->start);
    FUZZ_CHECK(utf8_count_code_points(text + e->byte_start,
                                      e->byte_end - e->byte_start) ==
               e->end - e->start);
    const char *s = text + e->byte_start;
    size_t len = e->byte_end - e->byte_start;
    switch (e->type) {
    case ENTITY_MENTION:
      FUZZ_CHECK(s[0] == '@' && len >= 4 && len <= 31);
      break;
    case ENTITY_HASHTAG: {
      FUZZ_CHECK(s[0] == '#' && len >= 2);
      char folded[ENTITIES_TAG_BYTES + 1];
      FUZZ_CHECK(entities_fold_tag(s + 1, len - 1, folded, sizeof folded) > 0);
      break;
    }
    case ENTITY_URL:
      FUZZ_CHECK((len > 7 && strncasecmp(s, "http://", 7) == 0) ||
                 (len > 8 && strncasecmp(s, "https://", 8) == 0));
      break;
    }
  }
  free(text);
  return 0;
}
