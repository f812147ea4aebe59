/*
 * bsonx.h - small additions to libbson used by the storage modules.
 *
 * Pure functions on caller-owned memory; thread-safe.
 */
#ifndef CHORUS_BSONX_H
#define CHORUS_BSONX_H

#include <bson/bson.h>

/* Copies the UTF-8 value at `it` into dst (size bytes, NUL-terminated),
 * truncating if needed.  The iterator must hold UTF-8. */
void bsonx_copy_utf8(const bson_iter_t *it, char *dst, size_t size);

/* The numeric value at `it`, or 0 when it is not a number. */
int64_t bsonx_as_int64(const bson_iter_t *it);

/* The ObjectId at top-level key of doc into out; false (out untouched)
 * when absent or not an ObjectId. */
bool bsonx_find_oid(const bson_t *doc, const char *key, bson_oid_t *out);

/* Appends an array element with key "i" (the decimal index). */
void bsonx_array_append_oid(bson_t *array, uint32_t i, const bson_oid_t *oid);
/* The same for a string (NUL-terminated, valid UTF-8). */
void bsonx_array_append_utf8(bson_t *array, uint32_t i, const char *s);

/* "<a hex>:<b hex>": the _id of a document that exists at most once per
 * pair (a like, a follow). */
#define BSONX_PAIR_ID_LEN 49
void bsonx_pair_id(const bson_oid_t *a, const bson_oid_t *b,
                   char out[BSONX_PAIR_ID_LEN + 1]);

#endif
