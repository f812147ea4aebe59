/*
 * media.h - images: uploads, where they are kept, whose they are, what
 * uses them, and their removal.
 *
 * An upload is processed (image.h) into an original and a thumbnail,
 * kept as two GridFS files, and described by a media document.  It is
 * "unattached" until one tweet (media_add_attach, in the tweet's
 * transaction) or one profile (as its avatar or header, in the account's
 * transaction) takes it; an upload nothing takes is removed after
 * unattached_ms (one hour).  Deleting what uses a media deletes the media
 * (media_add_removal, in the same transaction).  Every media counts its
 * bytes (original and thumbnail as stored) toward its owner's quota:
 * users.media_bytes, changed in the transactions that add and remove
 * media, so it is exact, and an upload that would pass the quota is
 * refused (413 "quota_exceeded").
 *
 * Collections (docs/DATA.md):
 *   media: {_id: ObjectId (12 random bytes: unguessable, so an upload not
 *     yet posted is seen only by whoever has its id), owner_id, type
 *     ("image/jpeg" ...: image_type_mime), width, height, thumb_width,
 *     thumb_height, frames, color ("#rrggbb"), alt, original_bytes,
 *     thumb_bytes, bytes (their sum: what counts toward the quota),
 *     created_at: Date, version}.  Inserted by the upload's transaction;
 *     its alt changed by an attach that gives one; deleted with what uses
 *     it, or by the sweep.
 *   media_unattached: {_id: the media's id, owner_id, created_at, version}:
 *     exists exactly while nothing uses the media.  An attach deletes it,
 *     with a version check, in the user's transaction: of two writers
 *     taking one upload, one commits and the other finds it gone (409
 *     "media_in_use").  The sweep reads this collection, never media.
 *   media_trash: {_id, media: [ids], at: Date, version}: media whose files
 *     are to be removed.  An upload inserts one for its own id (directly)
 *     before it writes a file, and its transaction deletes it: an upload
 *     that dies between its files and its commit leaves its files listed
 *     here.  A transaction that deletes media inserts one listing them.
 *     The sweep removes the listed files (but those of a media document
 *     that exists) and then the record: at once for a removal, after
 *     unattached_ms for an upload's (which may still be in flight).
 *   GridFS bucket "media" (media.files, media.chunks): the files
 *     "<hex>/original" and "<hex>/thumb" of each media (their _id, a
 *     string; metadata.contentType).
 * So a crash anywhere leaves either no media document (the files are
 * listed in media_trash, and go) or a whole one: never a document without
 * its files, never files nothing lists.
 *
 * Reading: media_open serves a file only while its media document exists
 * (committed view); files are immutable (a new image is a new id), so a
 * served file may be kept in memory (cache_bytes, least recently used
 * first out) and by every HTTP cache for a year.  On FerretDB a GridFS
 * read of one file decodes every chunk of the bucket (its query on
 * files_id is not an _id lookup: docs/DATABASE.md), so this cache, and
 * the browsers', carry the reads there.
 *
 * Ownership: a media_store_t is created by the app, which outlives every
 * request; media_blob_t and media_list_t values are the caller's (their
 * release functions).  Thread-safe: every function may be called from
 * any thread; the store's cache and upload slots are under its mutex.
 */
#ifndef CHORUS_MEDIA_H
#define CHORUS_MEDIA_H

#include <bson/bson.h>
#include <stdbool.h>
#include <stdint.h>

#include "server/domain/image.h"
#include "server/domain/validate.h"
#include "sync/base/db.h"
#include "sync/base/error.h"
#include "sync/sync.h"

#define DB_MEDIA "media"
#define DB_MEDIA_UNATTACHED "media_unattached"
#define DB_MEDIA_TRASH "media_trash"
#define MEDIA_BUCKET "media"
#define MEDIA_PER_TWEET 4
#define MEDIA_ALT_MAX 1500 /* characters (graphemes), UTF8_BYTES bytes */
#define MEDIA_ID_LEN 24    /* hex */
#define MEDIA_FILE_MAX (8u << 20)
#define MEDIA_ORIGINAL_SIDE 2048
#define MEDIA_THUMB_SIDE 400
#define MEDIA_MAX_PIXELS 50000000LL        /* one frame: a 48 MP photo */
#define MEDIA_MAX_TOTAL_PIXELS 100000000LL /* all frames of an animation */
/* "/media/<24 hex>/original" */
#define MEDIA_URL_LEN (7 + MEDIA_ID_LEN + 9)

typedef enum { MEDIA_ORIGINAL, MEDIA_THUMB } media_variant_t;

typedef struct media_config {
  int64_t quota_bytes;   /* per user: the sum of their media's bytes */
  int uploads;           /* processed at once (media_admit), >= 1 */
  size_t cache_bytes;    /* files kept in memory; 0: none */
  int64_t unattached_ms; /* an unused upload is removed after this */
} media_config_t;

typedef struct media_store media_store_t;

/* A media as its document says. */
typedef struct media_info {
  bson_oid_t id;
  bson_oid_t owner;
  image_type_t type;
  int width, height;
  int thumb_width, thumb_height;
  int frames;
  char color[IMAGE_COLOR_LEN + 1];
  char alt[UTF8_BYTES(MEDIA_ALT_MAX) + 1];
  int64_t original_bytes, thumb_bytes, bytes;
  int64_t created_at_ms;
  int64_t version;
} media_info_t;

/* What a tweet stores and shows of one of its images. */
typedef struct media_ref {
  bson_oid_t id;
  image_type_t type;
  int width, height;
  char color[IMAGE_COLOR_LEN + 1];
  const char *alt; /* inside the list that holds it */
} media_ref_t;

/* A tweet's images: one allocation holding the refs and their alt texts
 * (so it copies and frees in one piece). */
typedef struct media_list {
  size_t n;
  size_t size; /* of the whole allocation */
  media_ref_t items[];
} media_list_t;

/* What a writer asks to attach (a new tweet's "media"): ids, each with
 * an alt text to set, or none (NULL: the upload's stays).  Borrows the
 * alt texts. */
typedef struct media_request {
  size_t n;
  bson_oid_t ids[MEDIA_PER_TWEET];
  const char *alts[MEDIA_PER_TWEET];
  size_t alt_lens[MEDIA_PER_TWEET];
} media_request_t;

/* ---- the store ---- */

/* Borrows db and sync (they outlive it); copies cfg. */
media_store_t *media_store_new(db_t *db, sync_t *sync,
                               const media_config_t *cfg);
void media_store_destroy(media_store_t *m);
const media_config_t *media_store_config(const media_store_t *m);

/* Takes one of cfg.uploads slots for an upload about to be read and
 * processed; 503 "busy" when all are taken.  media_release gives it
 * back (once per successful media_admit). */
bool media_admit(media_store_t *m, chorus_error_t *err);
void media_release(media_store_t *m);

/* ---- uploads ---- */

/* Processes data[0..len) (borrowed; image.h: 400, 413, 415, 422) into a
 * new unattached media of owner with alt (0-1500 characters: 400), and
 * stores it: an intent record, both files, then one transaction that
 * inserts its document and its unattached record, adds its bytes to the
 * owner's media_bytes (checked against the quota: 413
 * "quota_exceeded") and deletes the intent.  401 "not_logged_in" when
 * the account is gone.  out is the media as stored. */
bool media_upload(media_store_t *m, const bson_oid_t *owner, const void *data,
                  size_t len, const char *alt, size_t alt_len,
                  media_info_t *out, chorus_error_t *err);

/* Parses a media id; false (404 "media_not_found") when it cannot be one. */
bool media_parse_id(const char *id_hex, bson_oid_t *id, chorus_error_t *err);

/* ---- serving ---- */

/* A file of a media, immutable.  Owned by whoever holds a reference. */
typedef struct media_blob media_blob_t;
const uint8_t *media_blob_data(const media_blob_t *b);
size_t media_blob_len(const media_blob_t *b);
const char *media_blob_type(const media_blob_t *b); /* Content-Type */
const char *media_blob_etag(const media_blob_t *b); /* quoted */
void media_blob_release(media_blob_t *b);           /* NULL is fine */

/* The file `variant` of the media id_hex while its document exists (404
 * "media_not_found" otherwise), from the cache or GridFS (503/500 when
 * the database fails, 500 when the file is missing or not its length). */
bool media_open(media_store_t *m, const char *id_hex, media_variant_t variant,
                media_blob_t **out, chorus_error_t *err);

/* "/media/<hex>/original" or "/media/<hex>/thumb". */
void media_url(const bson_oid_t *id, media_variant_t variant,
               char out[MEDIA_URL_LEN + 1]);

/* ---- attaching and removing, inside another module's transaction ---- */

/* Adds the media id_hex (len bytes) with alt (NULL: keep the upload's;
 * else 0-1500 characters) to r: 400 "invalid_media" for more than
 * MEDIA_PER_TWEET, the same one twice, or an id that is not 24 hex
 * digits; 400 for an alt text too long. */
bool media_request_add(media_request_t *r, const char *id_hex, size_t len,
                       const char *alt, size_t alt_len, chorus_error_t *err);

/* In a transaction's build: reads each media of r as committed (404
 * "media_not_found"; 403 "media_not_yours" when owner is not its owner;
 * 409 "media_in_use" when something uses it already), adds to txn the
 * deletion of its unattached record (version-checked; and the change of
 * its alt when r gives one), and makes *refs, what the user of the media
 * stores (the caller's: media_list_free; NULL for an empty r).  A
 * commit that finds an unattached record gone (MISSING) lost a race: a
 * new build says which error. */
bool media_add_attach(db_t *db, sync_t *sync, txn_t *txn,
                      const bson_oid_t *owner, const media_request_t *r,
                      media_list_t **refs, chorus_error_t *err);

/* In a transaction's build: adds the deletion of the media ids[0..n)
 * (read as committed; one gone already is left out) and one media_trash
 * record listing them, whose files media_sweep_trash then removes.
 * *bytes is what they counted: the caller subtracts it from their
 * owner's media_bytes in its own op on the account. */
bool media_add_removal(db_t *db, sync_t *sync, txn_t *txn,
                       const bson_oid_t *ids, size_t n, int64_t *bytes,
                       chorus_error_t *err);

/* ---- the stored form of a tweet's images ---- */

/* A list of refs[0..n) (each alt copied; NULL alt: ""); NULL when n is
 * 0. */
media_list_t *media_list_new(const media_ref_t *refs, size_t n);
media_list_t *media_list_copy(const media_list_t *l); /* NULL: NULL */
void media_list_free(media_list_t *l);                /* NULL is fine */
bool media_list_equal(const media_list_t *a, const media_list_t *b);

/* Appends doc[key]: [{id, type, width, height, color, alt}] (an empty
 * array for NULL). */
void media_list_append(bson_t *doc, const char *key, const media_list_t *l);

/* The list stored at it (an array as media_list_append writes it);
 * items that are not such documents are skipped; NULL when none is
 * left. */
media_list_t *media_list_from_bson(const bson_iter_t *it);

/* ---- the sweep ---- */

typedef struct media_sweep_stats {
  int64_t removed; /* unattached media removed */
  int64_t purged;  /* trash records whose files were removed */
  int64_t files;   /* GridFS files removed */
} media_sweep_stats_t;

/* Removes the files of every media_trash record that is due (one of a
 * removal: at once; one of an upload: unattached_ms after it), then the
 * record.  Thread-safe; any number of servers may sweep at once. */
bool media_sweep_trash(media_store_t *m, media_sweep_stats_t *stats,
                       chorus_error_t *err);

/* Removes every media unattached for unattached_ms: in one transaction
 * each, its document, its unattached record, its bytes from its owner's
 * media_bytes, and a trash record for its files (media_sweep_trash). */
bool media_sweep_unattached(media_store_t *m, media_sweep_stats_t *stats,
                            chorus_error_t *err);

/* Creates the indexes of the media collections and of the GridFS
 * bucket (its files_id_1_n_1 chunks index, unique, which MongoDB needs
 * to read a file by index). */
bool media_ensure_indexes(db_t *db, chorus_error_t *err);

#endif
