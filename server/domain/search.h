/*
 * search.h - words for tweet search and the folding used by user search.
 *
 * A word is a maximal run of letters, digits and '_' (ASCII), or of other
 * non-ASCII characters that are not punctuation, symbols or emoji.  Words
 * are folded to lower case (ASCII and Latin-1 letters), so "Chorus!",
 * "#chorus" and "CHORUS" all hold the word "chorus", and "category" does
 * not hold "cat".  A tweet stores its distinct words in `words`, which has
 * a multikey index; a search for several words asks for tweets holding
 * all of them.
 *
 * Pure functions; thread-safe.
 */
#ifndef CHORUS_SEARCH_H
#define CHORUS_SEARCH_H

#include <bson/bson.h>
#include <stddef.h>

#define SEARCH_QUERY_MAX 100 /* code points in a query */
#define SEARCH_MAX_WORDS 8   /* words used from a query */
#define SEARCH_WORD_MAX 64   /* bytes of one stored word */

/* Splits text into at most max distinct folded words; each words[i] is
 * allocated (free with search_words_free).  Returns how many. */
size_t search_words(const char *text, size_t len, char **words, size_t max);
void search_words_free(char **words, size_t n);

/* Appends key: [distinct folded words of text] to doc. */
void search_append_words(bson_t *doc, const char *key, const char *text,
                         size_t len);

/* Folds s (valid UTF-8) to lower case into a new string (bson_free). */
char *search_fold(const char *s, size_t len);

#endif
