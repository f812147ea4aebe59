/*
 * entities.c - see entities.h.
 *
 * One pass from left to right: at each code point that may start a span
 * (entities.h, the boundary rule) a URL, a mention or a tag is tried, in
 * that order; a match is recorded and the scan goes on after it, so
 * spans never overlap.  Code points are decoded on the fly with
 * utf8_next (validate.h), which never reads past len.
 *
 * Invariants of every span returned: byte_start < byte_end <= len,
 * start < end, end - start is the number of code points in
 * text[byte_start..byte_end), and spans are in increasing order with no
 * overlap (asserted as they are recorded).
 */
#include "server/domain/entities.h"

#include <assert.h>
#include <stdbool.h>
#include <string.h>
#include <unicode/uchar.h>
#include <unicode/utf8.h>

#include "server/domain/validate.h"

#define MENTION_MIN USERNAME_MIN
#define MENTION_MAX USERNAME_MAX

/* Letters, marks, digits and '_': what words and tags are made of. */
static bool is_word(uint32_t c) {
  return c == '_' || u_isalpha((UChar32)c) || u_isdigit((UChar32)c) ||
         (U_GET_GC_MASK((UChar32)c) & U_GC_M_MASK) != 0;
}

static bool is_username_char(uint32_t c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
         (c >= '0' && c <= '9') || c == '_';
}

/* May a span with this sigil start after prev (0: the start of text)? */
static bool boundary_ok(uint32_t prev, uint32_t sigil) {
  if (prev == 0) {
    return true;
  }
  if (is_word(prev) || prev == sigil) {
    return false;
  }
  return sigil != 'h' || (prev != '/' && prev != ':');
}

/* The code point at byte i (i < len), and the byte after it in *next. */
static uint32_t cp_at(const char *text, size_t len, size_t i, size_t *next) {
  *next = i;
  return utf8_next(text, len, next);
}

static bool mention_at(const char *text, size_t len, size_t i, entity_t *e) {
  size_t k = i + 1, n = 0;
  while (k < len && is_username_char((unsigned char)text[k])) {
    k++;
    n++;
  }
  if (n < MENTION_MIN || n > MENTION_MAX) {
    return false;
  }
  if (k < len) {
    size_t after;
    uint32_t c = cp_at(text, len, k, &after);
    if (c == '@' || is_word(c)) {
      return false; /* an address elsewhere, or a longer word */
    }
  }
  e->type = ENTITY_MENTION;
  e->end = e->start + 1 + (uint32_t)n;
  e->byte_end = (uint32_t)k;
  return true;
}

static bool tag_at(const char *text, size_t len, size_t i, entity_t *e) {
  size_t k = i + 1, n = 0;
  bool letter = false;
  while (k < len) {
    size_t next;
    uint32_t c = cp_at(text, len, k, &next);
    if (!is_word(c)) {
      break;
    }
    letter = letter || u_isalpha((UChar32)c);
    n++;
    k = next;
  }
  if (n < 1 || n > ENTITIES_TAG_MAX || !letter) {
    return false;
  }
  e->type = ENTITY_HASHTAG;
  e->end = e->start + 1 + (uint32_t)n;
  e->byte_end = (uint32_t)k;
  return true;
}

static bool prefix_nocase(const char *text, size_t len, size_t i,
                          const char *prefix) {
  size_t n = strlen(prefix);
  if (len - i < n) {
    return false;
  }
  for (size_t k = 0; k < n; k++) {
    char c = text[i + k];
    if (c >= 'A' && c <= 'Z') {
      c = (char)(c - 'A' + 'a');
    }
    if (c != prefix[k]) {
      return false;
    }
  }
  return true;
}

/* Punctuation a URL does not end with (entities.h): other punctuation
 * and quotation marks, but for the ones URLs end with. */
static bool is_trailing_punct(uint32_t c) {
  if (c == '/' || c == '#' || c == '%' || c == '&' || c == '@') {
    return false;
  }
  uint32_t mask = U_GET_GC_MASK((UChar32)c);
  return (mask & (U_GC_PO_MASK | U_GC_PI_MASK | U_GC_PF_MASK)) != 0;
}

static bool ends_url(uint32_t c) {
  return c < 0x20 || c == 0x7F || c == '<' || c == '>' || c == '"' ||
         c == '`' || u_isUWhiteSpace((UChar32)c) ||
         u_charType((UChar32)c) == U_CONTROL_CHAR;
}

static bool url_at(const char *text, size_t len, size_t i, entity_t *e) {
  size_t k;
  if (prefix_nocase(text, len, i, "https://")) {
    k = i + 8;
  } else if (prefix_nocase(text, len, i, "http://")) {
    k = i + 7;
  } else {
    return false;
  }
  uint32_t n = (uint32_t)(k - i); /* the scheme is ASCII */
  size_t next;
  if (k >= len || !u_isalnum((UChar32)cp_at(text, len, k, &next))) {
    return false; /* no host */
  }
  int open[3] = {0, 0, 0}; /* ( [ { inside the URL */
  static const char openers[] = "([{", closers[] = ")]}";
  size_t good_byte = k;
  uint32_t good_n = n;
  while (k < len) {
    uint32_t c = cp_at(text, len, k, &next);
    if (ends_url(c)) {
      break;
    }
    const char *o = c < 0x80 ? strchr(openers, (int)c) : NULL;
    const char *cl = c < 0x80 ? strchr(closers, (int)c) : NULL;
    if (c && cl) {
      if (open[cl - closers] == 0) {
        break; /* closes something the URL is inside of */
      }
      open[cl - closers]--;
    } else if (c && o) {
      open[o - openers]++;
    }
    k = next;
    n++;
    if (!is_trailing_punct(c)) {
      good_byte = k;
      good_n = n;
    }
  }
  e->type = ENTITY_URL;
  e->end = e->start + good_n;
  e->byte_end = (uint32_t)good_byte;
  return true;
}

size_t entities_parse(const char *text, size_t len, entity_t *out, size_t max) {
  size_t n = 0, i = 0;
  uint32_t prev = 0, cp_index = 0;
  while (i < len && n < max) {
    size_t next;
    uint32_t c = cp_at(text, len, i, &next);
    entity_t e = {.start = cp_index, .byte_start = (uint32_t)i};
    bool found = false;
    if ((c == 'h' || c == 'H') && boundary_ok(prev, 'h')) {
      found = url_at(text, len, i, &e);
    } else if (c == '@' && boundary_ok(prev, '@')) {
      found = mention_at(text, len, i, &e);
    } else if (c == '#' && boundary_ok(prev, '#')) {
      found = tag_at(text, len, i, &e);
    }
    if (!found) {
      prev = c;
      i = next;
      cp_index++;
      continue;
    }
    assert(e.byte_start < e.byte_end && e.byte_end <= len);
    assert(e.start < e.end);
    assert(n == 0 || out[n - 1].byte_end <= e.byte_start);
    out[n++] = e;
    /* The last code point of the span is what the next one follows. */
    size_t last = e.byte_end - 1;
    while (last > e.byte_start && ((unsigned char)text[last] & 0xC0) == 0x80) {
      last--;
    }
    prev = cp_at(text, len, last, &next);
    i = e.byte_end;
    cp_index = e.end;
  }
  return n;
}

const char *entity_type_name(entity_type_t type) {
  switch (type) {
  case ENTITY_MENTION:
    return "mention";
  case ENTITY_HASHTAG:
    return "hashtag";
  case ENTITY_URL:
    return "url";
  }
  return NULL;
}

size_t entities_fold_tag(const char *tag, size_t len, char *out, size_t size) {
  size_t i = 0;
  int32_t at = 0;
  if (size == 0) {
    return 0;
  }
  while (i < len) {
    UChar32 c =
        u_foldCase((UChar32)utf8_next(tag, len, &i), U_FOLD_CASE_DEFAULT);
    /* U8_APPEND does not check the capacity for ASCII: checked here. */
    if ((size_t)at + U8_LENGTH(c) > size - 1) {
      out[0] = '\0';
      return 0;
    }
    U8_APPEND_UNSAFE(out, at, c);
  }
  out[at] = '\0';
  return (size_t)at;
}
