/*
 * entities.h - the mentions, hashtags and URLs of a tweet's text.
 *
 * entities_parse is a pure function: text in, spans out.  It never
 * allocates on behalf of the caller, reads nothing but its arguments and
 * is safe from any thread.  Its input is valid UTF-8 (validate_text has
 * checked it; the behaviour on invalid UTF-8 is unspecified but memory
 * safe: every read stays within text[0..len)).  Offsets are given twice:
 * in code points (what the API returns: [start, end) into `text`) and in
 * bytes (what the server slices with).
 *
 * The rules (docs/API.md, "Entities", says the same for users):
 *   - Character classes come from ICU's Unicode tables (libicu, the
 *     Unicode version of the Debian package: 15.0 for ICU 72): a letter
 *     is general category L*, a mark M*, a digit Nd, white space
 *     White_Space.
 *   - A span starts at the beginning of the text or after a character
 *     that is not a letter, mark, digit, '_' or the span's own sigil
 *     ('@' for mentions, '#' for tags; for URLs also not '/' or ':'), so
 *     "bob@example.com" holds no mention, "a#b" no tag, "##b" no tag.
 *   - mention: '@' then 3-30 of [A-Za-z0-9_] (a username), not followed
 *     by another of those (a longer run is no mention), nor by '@' ("@a@b"
 *     is an address on another server, not a user of ours).  Punctuation
 *     ends it: "@bob's", "@bob," and "(@bob)" mention bob.  Whether the
 *     user exists is the caller's to check (tweets.c links existing users
 *     only).
 *   - hashtag: '#' then 1-ENTITIES_TAG_MAX letters, marks, digits and
 *     '_', with at least one letter ("#2024" and "#_" are not tags, so a
 *     number or an issue reference stays plain text); a longer run is no
 *     tag.  entities_fold_tag gives the stored form: simple Unicode case
 *     folding of each code point (ICU u_foldCase), no normalization, so
 *     "#Chorus" and "#CHORUS" are one tag.
 *   - url: "http://" or "https://" (scheme in any case), then a host of
 *     at least one letter or digit, then everything up to white space, a
 *     control character or one of < > " `; then trailing . , : ; ! ? '
 *     and * are cut, and a closing ) ] } that has no opening partner
 *     inside the URL ("(see https://x.org/a)" ends before ")", while
 *     "https://en.wikipedia.org/wiki/C_(language)" keeps it).  Mentions and
 *     tags inside a URL are part of the URL.
 *   - Spans never overlap and come in text order; at most max of them
 *     are returned (the first ones).
 */
#ifndef CHORUS_ENTITIES_H
#define CHORUS_ENTITIES_H

#include <stddef.h>
#include <stdint.h>

#define ENTITIES_TAG_MAX 50 /* code points of a tag, without '#' */
/* Bytes of a folded tag: folding may lengthen a code point's UTF-8. */
#define ENTITIES_TAG_BYTES (ENTITIES_TAG_MAX * 4)

typedef enum entity_type {
  ENTITY_MENTION = 1,
  ENTITY_HASHTAG,
  ENTITY_URL,
} entity_type_t;

typedef struct entity {
  entity_type_t type;
  uint32_t start, end;           /* code points, [start, end), sigil included */
  uint32_t byte_start, byte_end; /* the same span in bytes */
} entity_t;

/* The entities of text[0..len) (valid UTF-8), in order, at most max into
 * out; returns how many. */
size_t entities_parse(const char *text, size_t len, entity_t *out, size_t max);

/* The API's name of a type: "mention", "hashtag", "url"; NULL otherwise. */
const char *entity_type_name(entity_type_t type);

/* The stored (folded) form of the tag tag[0..len) (the tag's characters
 * without '#', valid UTF-8) into out, NUL-terminated; returns its length
 * in bytes, or 0 when it does not fit in size (ENTITIES_TAG_BYTES + 1
 * always fits a tag entities_parse found). */
size_t entities_fold_tag(const char *tag, size_t len, char *out, size_t size);

#endif
