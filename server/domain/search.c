/*
 * search.c - see search.h.
 */
#include "server/domain/search.h"

#include "server/domain/validate.h"
#include "sync/base/bsonx.h"

#include <ctype.h>
#include <stdbool.h>
#include <string.h>

static bool is_word_cp(uint32_t cp) {
  if (cp < 0x80) {
    return isalnum((int)cp) || cp == '_';
  }
  /* Latin-1 punctuation and signs, general punctuation, symbols, arrows,
   * CJK punctuation, variation selectors, specials, and emoji. */
  if ((cp >= 0x80 && cp <= 0xBF) || cp == 0xD7 || cp == 0xF7 ||
      (cp >= 0x2000 && cp <= 0x2BFF) || (cp >= 0x3000 && cp <= 0x303F) ||
      (cp >= 0xFE00 && cp <= 0xFE0F) || (cp >= 0xFF00 && cp <= 0xFF0F) ||
      (cp >= 0xFFF0 && cp <= 0xFFFF) || cp >= 0x1F000) {
    return false;
  }
  return true;
}

static uint32_t fold_cp(uint32_t cp) {
  if (cp < 0x80) {
    return (uint32_t)tolower((int)cp);
  }
  if (cp >= 0xC0 && cp <= 0xDE && cp != 0xD7) {
    return cp + 0x20; /* Latin-1 capitals */
  }
  return cp;
}

static size_t put_cp(uint32_t cp, char *out) {
  if (cp < 0x80) {
    out[0] = (char)cp;
    return 1;
  }
  if (cp < 0x800) {
    out[0] = (char)(0xC0 | (cp >> 6));
    out[1] = (char)(0x80 | (cp & 0x3F));
    return 2;
  }
  if (cp < 0x10000) {
    out[0] = (char)(0xE0 | (cp >> 12));
    out[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
    out[2] = (char)(0x80 | (cp & 0x3F));
    return 3;
  }
  out[0] = (char)(0xF0 | (cp >> 18));
  out[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
  out[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
  out[3] = (char)(0x80 | (cp & 0x3F));
  return 4;
}

char *search_fold(const char *s, size_t len) {
  char *out = bson_malloc(len * 2 + 1); /* folding never grows past 2x */
  size_t o = 0;
  for (size_t i = 0; i < len;) {
    o += put_cp(fold_cp(utf8_next(s, len, &i)), out + o);
  }
  out[o] = '\0';
  return out;
}

size_t search_words(const char *text, size_t len, char **words, size_t max) {
  size_t n = 0;
  char word[SEARCH_WORD_MAX + 4];
  size_t w = 0;
  for (size_t i = 0; i <= len;) {
    uint32_t cp = 0;
    bool word_char = false;
    if (i < len) {
      cp = utf8_next(text, len, &i);
      word_char = is_word_cp(cp);
    } else {
      i++; /* the end closes the last word */
    }
    if (word_char) {
      char buf[4];
      size_t k = put_cp(fold_cp(cp), buf);
      if (w + k <= SEARCH_WORD_MAX) {
        memcpy(word + w, buf, k);
        w += k;
      }
      continue;
    }
    if (w > 0 && n < max) {
      word[w] = '\0';
      bool seen = false;
      for (size_t j = 0; j < n && !seen; j++) {
        seen = !strcmp(words[j], word);
      }
      if (!seen) {
        words[n++] = bson_strdup(word);
      }
    }
    w = 0;
  }
  return n;
}

void search_words_free(char **words, size_t n) {
  for (size_t i = 0; i < n; i++) {
    bson_free(words[i]);
  }
}

void search_append_words(bson_t *doc, const char *key, const char *text,
                         size_t len) {
  char *words[141]; /* a 280-character text has at most 140 words */
  size_t n = search_words(text, len, words, sizeof words / sizeof words[0]);
  bson_t array;
  bson_append_array_begin(doc, key, -1, &array);
  for (size_t i = 0; i < n; i++) {
    bsonx_array_append_utf8(&array, (uint32_t)i, words[i]);
  }
  bson_append_array_end(doc, &array);
  search_words_free(words, n);
}
