/*
 * media.c - see media.h.
 *
 * Invariants (between any two calls; assert() checks them where they must
 * hold):
 *   - a media document exists only with both its files (an upload writes
 *     its files before its transaction commits the document; a removal's
 *     transaction deletes the document before anything deletes a file);
 *   - every GridFS file of a media without a document is listed in a
 *     media_trash record (an upload lists its id before it writes a file;
 *     a removal's transaction lists what it deletes);
 *   - users.media_bytes is the sum of `bytes` over the account's media
 *     documents: each transaction that inserts or deletes a media
 *     document changes it by that media's bytes, in the same commit;
 *   - the cache: every blob in it is in exactly one hash chain and in the
 *     LRU list, cache_used is the sum of their lengths and at most
 *     cache_bytes; a blob's refs count the cache's reference (while
 *     in_cache) and each caller's.
 */
#include "server/domain/media.h"

#include <assert.h>
#include <pthread.h>
#include <sodium.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "server/domain/users.h"
#include "sync/base/bsonx.h"
#include "sync/query.h"

#define CACHE_BUCKETS 1024
#define SWEEP_BATCH 256
#define TRASH_UPLOAD "upload"
#define TRASH_REMOVAL "removal"

struct media_blob {
  atomic_int refs;
  bson_oid_t id;
  media_variant_t variant;
  char type[32];               /* a MIME type */
  char etag[MEDIA_ID_LEN + 5]; /* "\"<hex>-o\"" */
  uint8_t *data;
  size_t len;
  /* The cache's links, under the store's mutex. */
  bool in_cache;
  media_blob_t *chain;         /* next in its hash bucket */
  media_blob_t *newer, *older; /* the LRU list */
};

struct media_store {
  db_t *db;
  sync_t *sync;
  media_config_t cfg;
  image_limits_t limits;
  pthread_mutex_t lock;
  int uploading; /* slots taken (media_admit) */
  media_blob_t *buckets[CACHE_BUCKETS];
  media_blob_t *newest, *oldest;
  size_t cache_used;
};

/* ---- ids, urls ---- */

bool media_parse_id(const char *id_hex, bson_oid_t *id, chorus_error_t *err) {
  if (!id_hex || strlen(id_hex) != MEDIA_ID_LEN ||
      !bson_oid_is_valid(id_hex, MEDIA_ID_LEN)) {
    chorus_error_set(err, 404, "media_not_found", "No such media");
    return false;
  }
  bson_oid_init_from_string(id, id_hex);
  return true;
}

void media_url(const bson_oid_t *id, media_variant_t variant,
               char out[MEDIA_URL_LEN + 1]) {
  char hex[MEDIA_ID_LEN + 1];
  bson_oid_to_string(id, hex);
  snprintf(out, MEDIA_URL_LEN + 1, "/media/%s/%s", hex,
           variant == MEDIA_THUMB ? "thumb" : "original");
}

/* The GridFS file id of a media's variant: "<hex>/original". */
static void file_id(const bson_oid_t *id, media_variant_t variant,
                    char out[MEDIA_URL_LEN + 1]) {
  char hex[MEDIA_ID_LEN + 1];
  bson_oid_to_string(id, hex);
  snprintf(out, MEDIA_URL_LEN + 1, "%s/%s", hex,
           variant == MEDIA_THUMB ? "thumb" : "original");
}

static bson_value_t oid_value(const bson_oid_t *oid) {
  bson_value_t v = {.value_type = BSON_TYPE_OID};
  bson_oid_copy(oid, &v.value.v_oid);
  return v;
}

/* ---- the store ---- */

media_store_t *media_store_new(db_t *db, sync_t *sync,
                               const media_config_t *cfg) {
  media_store_t *m = bson_malloc0(sizeof *m);
  m->db = db;
  m->sync = sync;
  m->cfg = *cfg;
  if (m->cfg.uploads < 1) {
    m->cfg.uploads = 1;
  }
  m->limits = (image_limits_t){
      .max_bytes = MEDIA_FILE_MAX,
      .max_pixels = MEDIA_MAX_PIXELS,
      .max_total_pixels = MEDIA_MAX_TOTAL_PIXELS,
      .original_side = MEDIA_ORIGINAL_SIDE,
      .thumb_side = MEDIA_THUMB_SIDE,
  };
  pthread_mutex_init(&m->lock, NULL);
  return m;
}

static void blob_free(media_blob_t *b) {
  bson_free(b->data);
  bson_free(b);
}

void media_blob_release(media_blob_t *b) {
  if (b && atomic_fetch_sub(&b->refs, 1) == 1) {
    blob_free(b);
  }
}

void media_store_destroy(media_store_t *m) {
  if (!m) {
    return;
  }
  for (media_blob_t *b = m->newest, *next; b; b = next) {
    next = b->older;
    b->in_cache = false;
    media_blob_release(b);
  }
  pthread_mutex_destroy(&m->lock);
  bson_free(m);
}

const media_config_t *media_store_config(const media_store_t *m) {
  return &m->cfg;
}

bool media_admit(media_store_t *m, chorus_error_t *err) {
  pthread_mutex_lock(&m->lock);
  bool ok = m->uploading < m->cfg.uploads;
  m->uploading += ok;
  pthread_mutex_unlock(&m->lock);
  if (!ok) {
    chorus_error_set(err, 503, "busy",
                     "Too many uploads are being processed; try again");
  }
  return ok;
}

void media_release(media_store_t *m) {
  pthread_mutex_lock(&m->lock);
  assert(m->uploading > 0);
  m->uploading--;
  pthread_mutex_unlock(&m->lock);
}

/* ---- the cache ---- */

const uint8_t *media_blob_data(const media_blob_t *b) { return b->data; }
size_t media_blob_len(const media_blob_t *b) { return b->len; }
const char *media_blob_type(const media_blob_t *b) { return b->type; }
const char *media_blob_etag(const media_blob_t *b) { return b->etag; }

static size_t bucket_of(const bson_oid_t *id, media_variant_t variant) {
  uint32_t h = 2166136261u; /* FNV-1a */
  for (size_t i = 0; i < sizeof id->bytes; i++) {
    h = (h ^ id->bytes[i]) * 16777619u;
  }
  h = (h ^ (uint32_t)variant) * 16777619u;
  return h % CACHE_BUCKETS;
}

static void lru_unlink(media_store_t *m, media_blob_t *b) {
  if (b->newer) {
    b->newer->older = b->older;
  } else {
    m->newest = b->older;
  }
  if (b->older) {
    b->older->newer = b->newer;
  } else {
    m->oldest = b->newer;
  }
  b->newer = b->older = NULL;
}

static void lru_push(media_store_t *m, media_blob_t *b) {
  b->older = m->newest;
  b->newer = NULL;
  if (m->newest) {
    m->newest->newer = b;
  } else {
    m->oldest = b;
  }
  m->newest = b;
}

/* Drops b from the cache (under the lock); its last holder frees it. */
static void cache_drop(media_store_t *m, media_blob_t *b) {
  media_blob_t **p = &m->buckets[bucket_of(&b->id, b->variant)];
  while (*p != b) {
    p = &(*p)->chain;
  }
  *p = b->chain;
  b->chain = NULL;
  lru_unlink(m, b);
  m->cache_used -= b->len;
  b->in_cache = false;
  media_blob_release(b);
}

/* The cached blob of (id, variant) with a reference for the caller, or
 * NULL. */
static media_blob_t *cache_get(media_store_t *m, const bson_oid_t *id,
                               media_variant_t variant) {
  pthread_mutex_lock(&m->lock);
  media_blob_t *b = m->buckets[bucket_of(id, variant)];
  while (b && !(b->variant == variant && bson_oid_equal(&b->id, id))) {
    b = b->chain;
  }
  if (b) {
    lru_unlink(m, b);
    lru_push(m, b);
    atomic_fetch_add(&b->refs, 1);
  }
  pthread_mutex_unlock(&m->lock);
  return b;
}

/* Keeps b (the caller keeps its own reference), evicting the least
 * recently used; a blob larger than a quarter of the cache is not kept. */
static void cache_put(media_store_t *m, media_blob_t *b) {
  if (b->len > m->cfg.cache_bytes / 4) {
    return;
  }
  pthread_mutex_lock(&m->lock);
  media_blob_t **head = &m->buckets[bucket_of(&b->id, b->variant)];
  media_blob_t *same = *head;
  while (same &&
         !(same->variant == b->variant && bson_oid_equal(&same->id, &b->id))) {
    same = same->chain;
  }
  if (!same) {
    while (m->oldest && m->cache_used + b->len > m->cfg.cache_bytes) {
      cache_drop(m, m->oldest);
    }
    atomic_fetch_add(&b->refs, 1);
    b->in_cache = true;
    b->chain = *head;
    *head = b;
    lru_push(m, b);
    m->cache_used += b->len;
  }
  assert(m->cache_used <= m->cfg.cache_bytes);
  pthread_mutex_unlock(&m->lock);
}

/* ---- GridFS ---- */

/* The bucket on a client borrowed for one operation. */
typedef struct bucket {
  mongoc_client_t *client;
  mongoc_database_t *database;
  mongoc_gridfs_bucket_t *gridfs;
} bucket_t;

static void bucket_close(db_t *db, bucket_t *b) {
  if (b->gridfs) {
    mongoc_gridfs_bucket_destroy(b->gridfs);
  }
  if (b->database) {
    mongoc_database_destroy(b->database);
  }
  db_release(db, b->client);
  memset(b, 0, sizeof *b);
}

static bool bucket_open(db_t *db, bucket_t *b, chorus_error_t *err) {
  memset(b, 0, sizeof *b);
  b->client = db_acquire(db);
  if (!b->client) {
    db_error_unavailable(err);
    return false;
  }
  b->database = mongoc_client_get_database(b->client, db_name(db));
  bson_t *opts = BCON_NEW("bucketName", BCON_UTF8(MEDIA_BUCKET));
  bson_error_t berr;
  b->gridfs = mongoc_gridfs_bucket_new(b->database, opts, NULL, &berr);
  bson_destroy(opts);
  if (!b->gridfs) {
    chorus_error_from_bson(err, &berr, "open the media bucket");
    bucket_close(db, b);
    return false;
  }
  return true;
}

static bson_value_t file_value(const char *fid) {
  bson_value_t v = {.value_type = BSON_TYPE_UTF8};
  v.value.v_utf8.str = (char *)fid;
  v.value.v_utf8.len = (uint32_t)strlen(fid);
  return v;
}

/* Writes data[0..len) as the file fid; a failed write removes what it
 * had written (abort). */
static bool file_write(bucket_t *b, const char *fid, const char *type,
                       const void *data, size_t len, chorus_error_t *err) {
  bson_value_t id = file_value(fid);
  bson_t *opts = BCON_NEW("metadata", "{", "contentType", BCON_UTF8(type), "}");
  bson_error_t berr;
  mongoc_stream_t *s = mongoc_gridfs_bucket_open_upload_stream_with_id(
      b->gridfs, &id, fid, opts, &berr);
  bson_destroy(opts);
  if (!s) {
    chorus_error_from_bson(err, &berr, "open a media upload");
    return false;
  }
  ssize_t wrote = mongoc_stream_write(s, (void *)data, len, 0);
  bool ok = wrote == (ssize_t)len && mongoc_stream_close(s) == 0 &&
            !mongoc_gridfs_bucket_stream_error(s, &berr);
  if (!ok) {
    if (!mongoc_gridfs_bucket_stream_error(s, &berr)) {
      bson_set_error(&berr, MONGOC_ERROR_GRIDFS, 0, "short write");
    }
    chorus_error_from_bson(err, &berr, "write a media file");
    mongoc_gridfs_bucket_abort_upload(s);
  }
  mongoc_stream_destroy(s);
  return ok;
}

/* Reads the file fid, which must be exactly len bytes, into *out
 * (bson_malloc'd). */
static bool file_read(bucket_t *b, const char *fid, size_t len, uint8_t **out,
                      chorus_error_t *err) {
  *out = NULL;
  bson_value_t id = file_value(fid);
  bson_error_t berr;
  mongoc_stream_t *s =
      mongoc_gridfs_bucket_open_download_stream(b->gridfs, &id, &berr);
  if (!s) {
    chorus_error_from_bson(err, &berr, "open a media file");
    return false;
  }
  uint8_t *buf = bson_malloc(len + 1);
  size_t got = 0;
  ssize_t n;
  /* One byte more than expected: a longer file is an error too. */
  while (got <= len &&
         (n = mongoc_stream_read(s, buf + got, len + 1 - got, 1, 0)) > 0) {
    got += (size_t)n;
  }
  bool ok = !mongoc_gridfs_bucket_stream_error(s, &berr);
  mongoc_stream_destroy(s);
  if (!ok) {
    chorus_error_from_bson(err, &berr, "read a media file");
  } else if (got != len) {
    fprintf(stderr, "chorusd: media file %s is %zu bytes, not %zu\n", fid, got,
            len);
    chorus_error_set(err, 500, "internal", "A media file is damaged");
    ok = false;
  }
  if (ok) {
    *out = buf;
  } else {
    bson_free(buf);
  }
  return ok;
}

/* Removes the file fid, and its chunks also when its files document is
 * gone already (an upload cut short, a removal cut between the two). */
static bool file_delete(db_t *db, bucket_t *b, const char *fid, bool *removed,
                        chorus_error_t *err) {
  bson_value_t id = file_value(fid);
  bson_error_t berr;
  *removed = mongoc_gridfs_bucket_delete_by_id(b->gridfs, &id, &berr);
  if (*removed) {
    return true;
  }
  if (berr.domain != MONGOC_ERROR_GRIDFS ||
      berr.code != MONGOC_ERROR_GRIDFS_BUCKET_FILE_NOT_FOUND) {
    chorus_error_from_bson(err, &berr, "delete a media file");
    return false;
  }
  mongoc_collection_t *chunks =
      db_collection(db, b->client, MEDIA_BUCKET ".chunks");
  bson_t filter = BSON_INITIALIZER;
  BSON_APPEND_UTF8(&filter, "files_id", fid);
  bool ok = mongoc_collection_delete_many(chunks, &filter, NULL, NULL, &berr);
  if (!ok) {
    chorus_error_from_bson(err, &berr, "delete media chunks");
  }
  bson_destroy(&filter);
  mongoc_collection_destroy(chunks);
  return ok;
}

/* Removes both files of media id; *files counts those removed. */
static bool files_delete(db_t *db, const bson_oid_t *id, int64_t *files,
                         chorus_error_t *err) {
  bucket_t b;
  if (!bucket_open(db, &b, err)) {
    return false;
  }
  bool ok = true;
  for (int v = MEDIA_ORIGINAL; ok && v <= MEDIA_THUMB; v++) {
    char fid[MEDIA_URL_LEN + 1];
    bool removed;
    file_id(id, (media_variant_t)v, fid);
    ok = file_delete(db, &b, fid, &removed, err);
    *files += ok && removed;
  }
  bucket_close(db, &b);
  return ok;
}

/* ---- documents ---- */

static void info_from_bson(const bson_t *doc, media_info_t *m) {
  memset(m, 0, sizeof *m);
  bson_iter_t it;
  if (!bson_iter_init(&it, doc)) {
    return;
  }
  while (bson_iter_next(&it)) {
    const char *k = bson_iter_key(&it);
    if (!strcmp(k, "_id") && BSON_ITER_HOLDS_OID(&it)) {
      bson_oid_copy(bson_iter_oid(&it), &m->id);
    } else if (!strcmp(k, "owner_id") && BSON_ITER_HOLDS_OID(&it)) {
      bson_oid_copy(bson_iter_oid(&it), &m->owner);
    } else if (!strcmp(k, "type") && BSON_ITER_HOLDS_UTF8(&it)) {
      m->type = image_type_from_mime(bson_iter_utf8(&it, NULL));
    } else if (!strcmp(k, "width")) {
      m->width = (int)bsonx_as_int64(&it);
    } else if (!strcmp(k, "height")) {
      m->height = (int)bsonx_as_int64(&it);
    } else if (!strcmp(k, "thumb_width")) {
      m->thumb_width = (int)bsonx_as_int64(&it);
    } else if (!strcmp(k, "thumb_height")) {
      m->thumb_height = (int)bsonx_as_int64(&it);
    } else if (!strcmp(k, "frames")) {
      m->frames = (int)bsonx_as_int64(&it);
    } else if (!strcmp(k, "color") && BSON_ITER_HOLDS_UTF8(&it)) {
      bsonx_copy_utf8(&it, m->color, sizeof m->color);
    } else if (!strcmp(k, "alt") && BSON_ITER_HOLDS_UTF8(&it)) {
      bsonx_copy_utf8(&it, m->alt, sizeof m->alt);
    } else if (!strcmp(k, "original_bytes")) {
      m->original_bytes = bsonx_as_int64(&it);
    } else if (!strcmp(k, "thumb_bytes")) {
      m->thumb_bytes = bsonx_as_int64(&it);
    } else if (!strcmp(k, "bytes")) {
      m->bytes = bsonx_as_int64(&it);
    } else if (!strcmp(k, "created_at") && BSON_ITER_HOLDS_DATE_TIME(&it)) {
      m->created_at_ms = bson_iter_date_time(&it);
    } else if (!strcmp(k, "version")) {
      m->version = bsonx_as_int64(&it);
    }
  }
}

/* Reads a document of coll by id as committed: *found false when none. */
static bool read_doc(db_t *db, sync_t *sync, const char *coll,
                     const bson_oid_t *id, bson_t **doc, bool *found,
                     chorus_error_t *err) {
  bson_value_t key = oid_value(id);
  *doc = NULL;
  return query_by_id(db, sync, coll, &key, doc, found, err);
}

/* The media id as committed; *found false when gone. */
static bool read_media(db_t *db, sync_t *sync, const bson_oid_t *id,
                       media_info_t *out, bool *found, chorus_error_t *err) {
  bson_t *doc;
  if (!read_doc(db, sync, DB_MEDIA, id, &doc, found, err)) {
    return false;
  }
  if (*found) {
    info_from_bson(doc, out);
  }
  if (doc) {
    bson_destroy(doc);
  }
  return true;
}

/* The version of media id's unattached record; *found false when
 * there is none (the media is used, or gone). */
static bool read_unattached(db_t *db, sync_t *sync, const bson_oid_t *id,
                            int64_t *version, bool *found,
                            chorus_error_t *err) {
  bson_t *doc;
  if (!read_doc(db, sync, DB_MEDIA_UNATTACHED, id, &doc, found, err)) {
    return false;
  }
  *version = 0;
  if (*found) {
    bson_iter_t it;
    *version =
        bson_iter_init_find(&it, doc, "version") ? bsonx_as_int64(&it) : 0;
  }
  if (doc) {
    bson_destroy(doc);
  }
  return true;
}

/* ---- uploads ---- */

/* A media_trash record listing ids[0..n): an upload's intent (_id its
 * media's id) or a removal's. */
static void trash_doc(bson_t *doc, const bson_oid_t *trash_id, const char *kind,
                      const bson_oid_t *ids, size_t n, int64_t now) {
  bson_init(doc);
  BSON_APPEND_OID(doc, "_id", trash_id);
  BSON_APPEND_UTF8(doc, "kind", kind);
  bson_t array;
  BSON_APPEND_ARRAY_BEGIN(doc, "media", &array);
  for (size_t i = 0; i < n; i++) {
    bsonx_array_append_oid(&array, (uint32_t)i, &ids[i]);
  }
  bson_append_array_end(doc, &array);
  BSON_APPEND_DATE_TIME(doc, "at", now);
  BSON_APPEND_INT64(doc, "version", 1);
}

typedef struct upload_ctx {
  db_t *db;
  sync_t *sync;
  int64_t quota;
  const media_info_t *media;
  int64_t used; /* the owner's media_bytes, as the last build read it */
  bool refused; /* the build refused (quota, account gone): nothing began */
} upload_ctx_t;

/* The owner's media_bytes and version as committed. */
static bool read_usage(db_t *db, sync_t *sync, const bson_oid_t *owner,
                       int64_t *used, int64_t *version, bool *found,
                       chorus_error_t *err) {
  bson_t *doc;
  if (!read_doc(db, sync, DB_USERS, owner, &doc, found, err)) {
    return false;
  }
  *used = *version = 0;
  if (*found) {
    bson_iter_t it;
    *used =
        bson_iter_init_find(&it, doc, "media_bytes") ? bsonx_as_int64(&it) : 0;
    *version =
        bson_iter_init_find(&it, doc, "version") ? bsonx_as_int64(&it) : 0;
  }
  if (doc) {
    bson_destroy(doc);
  }
  return true;
}

static void quota_error(chorus_error_t *err, int64_t used, int64_t more,
                        int64_t quota) {
  chorus_error_set(err, 413, "quota_exceeded",
                   "Your images take %lld of your %lld bytes; this one needs "
                   "%lld more",
                   (long long)used, (long long)quota, (long long)more);
}

/* The upload's transaction: the media, its unattached record, the
 * owner's media_bytes (exclusive: the version read is the one the quota
 * was checked against), the intent's deletion. */
static bool build_upload(void *arg, txn_t *txn, chorus_error_t *err) {
  upload_ctx_t *c = arg;
  const media_info_t *mi = c->media;
  int64_t version;
  bool found;
  if (!read_usage(c->db, c->sync, &mi->owner, &c->used, &version, &found,
                  err)) {
    return false;
  }
  if (!found) {
    chorus_error_set(err, 401, "not_logged_in", "You are not logged in");
    c->refused = true;
    return false;
  }
  if (c->used + mi->bytes > c->quota) {
    quota_error(err, c->used, mi->bytes, c->quota);
    c->refused = true;
    return false;
  }
  bson_t doc = BSON_INITIALIZER;
  BSON_APPEND_OID(&doc, "_id", &mi->id);
  BSON_APPEND_OID(&doc, "owner_id", &mi->owner);
  BSON_APPEND_UTF8(&doc, "type", image_type_mime(mi->type));
  BSON_APPEND_INT32(&doc, "width", mi->width);
  BSON_APPEND_INT32(&doc, "height", mi->height);
  BSON_APPEND_INT32(&doc, "thumb_width", mi->thumb_width);
  BSON_APPEND_INT32(&doc, "thumb_height", mi->thumb_height);
  BSON_APPEND_INT32(&doc, "frames", mi->frames);
  BSON_APPEND_UTF8(&doc, "color", mi->color);
  BSON_APPEND_UTF8(&doc, "alt", mi->alt);
  BSON_APPEND_INT64(&doc, "original_bytes", mi->original_bytes);
  BSON_APPEND_INT64(&doc, "thumb_bytes", mi->thumb_bytes);
  BSON_APPEND_INT64(&doc, "bytes", mi->bytes);
  BSON_APPEND_DATE_TIME(&doc, "created_at", mi->created_at_ms);
  BSON_APPEND_INT64(&doc, "version", 1);
  txn_add_insert(txn, TXN_MAIN_SHARD, DB_MEDIA, &doc);
  bson_reinit(&doc);
  BSON_APPEND_OID(&doc, "_id", &mi->id);
  BSON_APPEND_OID(&doc, "owner_id", &mi->owner);
  BSON_APPEND_DATE_TIME(&doc, "created_at", mi->created_at_ms);
  BSON_APPEND_INT64(&doc, "version", 1);
  txn_add_insert(txn, TXN_MAIN_SHARD, DB_MEDIA_UNATTACHED, &doc);
  bson_destroy(&doc);
  bson_value_t owner = oid_value(&mi->owner);
  bson_t inc = BSON_INITIALIZER;
  BSON_APPEND_INT64(&inc, "media_bytes", mi->bytes);
  txn_add_update(txn, TXN_MAIN_SHARD, DB_USERS, &owner, NULL, &inc, &version);
  bson_destroy(&inc);
  bson_value_t intent = oid_value(&mi->id);
  txn_add_delete(txn, TXN_MAIN_SHARD, DB_MEDIA_TRASH, &intent, NULL);
  return true;
}

static bool delete_trash(db_t *db, const bson_oid_t *id, chorus_error_t *err);

/* Removes an upload that certainly did not commit: its files, then its
 * intent.  A failure leaves both to media_sweep_trash. */
static void discard_upload(media_store_t *m, const bson_oid_t *id) {
  int64_t files = 0;
  chorus_error_t ignored;
  if (files_delete(m->db, id, &files, &ignored)) {
    delete_trash(m->db, id, &ignored);
  }
}

/* Stores the files of a processed image and commits its media. */
static bool store_upload(media_store_t *m, const image_result_t *img,
                         const media_info_t *mi, chorus_error_t *err) {
  bson_t intent;
  trash_doc(&intent, &mi->id, TRASH_UPLOAD, &mi->id, 1, mi->created_at_ms);
  bool ok = db_insert_one(m->db, DB_MEDIA_TRASH, &intent, "insert media intent",
                          NULL, err);
  bson_destroy(&intent);
  if (!ok) {
    return false;
  }
  bucket_t b;
  char fid[MEDIA_URL_LEN + 1];
  ok = bucket_open(m->db, &b, err);
  if (ok) {
    file_id(&mi->id, MEDIA_ORIGINAL, fid);
    ok = file_write(&b, fid, image_type_mime(img->type), img->original,
                    img->original_len, err);
    file_id(&mi->id, MEDIA_THUMB, fid);
    ok = ok && file_write(&b, fid, image_type_mime(IMAGE_WEBP), img->thumb,
                          img->thumb_len, err);
    bucket_close(m->db, &b);
  }
  if (!ok) {
    discard_upload(m, &mi->id);
    return false;
  }
  upload_ctx_t c = {m->db, m->sync, m->cfg.quota_bytes, mi, 0, false};
  size_t failed;
  txn_outcome_t outcome = sync_commit(m->sync, build_upload, &c, &failed, err);
  switch (outcome) {
  case TXN_OUTCOME_COMMITTED:
    return true;
  case TXN_OUTCOME_MISSING:
    if (failed == 2) {
      chorus_error_set(err, 401, "not_logged_in", "You are not logged in");
    } else {
      chorus_error_set(err, 500, "internal", "The upload's record vanished");
    }
    break;
  case TXN_OUTCOME_EXISTS:
    chorus_error_set(err, 500, "internal", "Media id collision");
    break;
  default:
    break; /* err set by the build or sync_commit */
  }
  /* A database failure after the transaction began may still commit
   * (recovery finishes it): then its files are the media's. */
  if (outcome != TXN_OUTCOME_FAILED || c.refused) {
    discard_upload(m, &mi->id);
  }
  return false;
}

bool media_upload(media_store_t *m, const bson_oid_t *owner, const void *data,
                  size_t len, const char *alt, size_t alt_len,
                  media_info_t *out, chorus_error_t *err) {
  if (!validate_text("alt", alt ? alt : "", alt ? alt_len : 0, 0, MEDIA_ALT_MAX,
                     err)) {
    return false;
  }
  /* Refused before the costly work when the quota is reached already
   * (the transaction checks it exactly). */
  int64_t used, version;
  bool found;
  if (!read_usage(m->db, m->sync, owner, &used, &version, &found, err)) {
    return false;
  }
  if (!found) {
    chorus_error_set(err, 401, "not_logged_in", "You are not logged in");
    return false;
  }
  if (used >= m->cfg.quota_bytes) {
    quota_error(err, used, 1, m->cfg.quota_bytes);
    return false;
  }
  image_result_t img;
  if (!image_process(data, len, &m->limits, &img, err)) {
    return false;
  }
  media_info_t *mi = bson_malloc0(sizeof *mi);
  uint8_t random[12];
  randombytes_buf(random, sizeof random);
  bson_oid_init_from_data(&mi->id, random);
  mi->owner = *owner;
  mi->type = img.type;
  mi->width = img.width;
  mi->height = img.height;
  mi->thumb_width = img.thumb_width;
  mi->thumb_height = img.thumb_height;
  mi->frames = img.frames;
  memcpy(mi->color, img.color, sizeof mi->color);
  if (alt) {
    memcpy(mi->alt, alt, alt_len);
  }
  mi->original_bytes = (int64_t)img.original_len;
  mi->thumb_bytes = (int64_t)img.thumb_len;
  mi->bytes = mi->original_bytes + mi->thumb_bytes;
  mi->created_at_ms = db_now_ms();
  mi->version = 1;
  bool ok = store_upload(m, &img, mi, err);
  image_result_free(&img);
  if (ok) {
    *out = *mi;
  }
  bson_free(mi);
  return ok;
}

/* ---- serving ---- */

bool media_open(media_store_t *m, const char *id_hex, media_variant_t variant,
                media_blob_t **out, chorus_error_t *err) {
  *out = NULL;
  bson_oid_t id;
  bool found;
  media_info_t *mi = bson_malloc(sizeof *mi);
  bool ok = media_parse_id(id_hex, &id, err) &&
            read_media(m->db, m->sync, &id, mi, &found, err);
  if (ok && !found) {
    chorus_error_set(err, 404, "media_not_found", "No such media");
    ok = false;
  }
  media_blob_t *b = ok ? cache_get(m, &id, variant) : NULL;
  if (ok && !b) {
    b = bson_malloc0(sizeof *b);
    atomic_init(&b->refs, 1);
    b->id = id;
    b->variant = variant;
    const char *type =
        image_type_mime(variant == MEDIA_THUMB ? IMAGE_WEBP : mi->type);
    bson_strncpy(b->type, type ? type : "application/octet-stream",
                 sizeof b->type);
    char hex[MEDIA_ID_LEN + 1];
    bson_oid_to_string(&id, hex);
    snprintf(b->etag, sizeof b->etag, "\"%s-%c\"", hex,
             variant == MEDIA_THUMB ? 't' : 'o');
    b->len =
        (size_t)(variant == MEDIA_THUMB ? mi->thumb_bytes : mi->original_bytes);
    char fid[MEDIA_URL_LEN + 1];
    file_id(&id, variant, fid);
    bucket_t bucket;
    ok = bucket_open(m->db, &bucket, err);
    if (ok) {
      ok = file_read(&bucket, fid, b->len, &b->data, err);
      bucket_close(m->db, &bucket);
    }
    if (ok) {
      cache_put(m, b);
    } else {
      media_blob_release(b);
      b = NULL;
    }
  }
  bson_free(mi);
  *out = b;
  return ok;
}

/* ---- attaching ---- */

bool media_request_add(media_request_t *r, const char *id_hex, size_t len,
                       const char *alt, size_t alt_len, chorus_error_t *err) {
  char hex[MEDIA_ID_LEN + 1];
  bson_oid_t id;
  if (len != MEDIA_ID_LEN || !bson_oid_is_valid(id_hex, len)) {
    chorus_error_set(err, 400, "invalid_media",
                     "media holds ids of uploads (24 hex digits)");
    return false;
  }
  memcpy(hex, id_hex, len);
  hex[len] = '\0';
  bson_oid_init_from_string(&id, hex);
  if (r->n == MEDIA_PER_TWEET) {
    chorus_error_set(err, 400, "invalid_media",
                     "At most %d images may be attached", MEDIA_PER_TWEET);
    return false;
  }
  for (size_t i = 0; i < r->n; i++) {
    if (bson_oid_equal(&r->ids[i], &id)) {
      chorus_error_set(err, 400, "invalid_media",
                       "The same image is attached twice");
      return false;
    }
  }
  if (alt && !validate_text("alt", alt, alt_len, 0, MEDIA_ALT_MAX, err)) {
    return false;
  }
  r->ids[r->n] = id;
  r->alts[r->n] = alt;
  r->alt_lens[r->n] = alt ? alt_len : 0;
  r->n++;
  return true;
}

bool media_add_attach(db_t *db, sync_t *sync, txn_t *txn,
                      const bson_oid_t *owner, const media_request_t *r,
                      media_list_t **refs, chorus_error_t *err) {
  *refs = NULL;
  if (r->n == 0) {
    return true;
  }
  media_info_t *mi = bson_malloc(sizeof *mi * r->n);
  media_ref_t items[MEDIA_PER_TWEET];
  int64_t versions[MEDIA_PER_TWEET];
  bool ok = true;
  for (size_t i = 0; ok && i < r->n; i++) {
    bool found, unattached;
    ok = read_media(db, sync, &r->ids[i], &mi[i], &found, err) &&
         (!found || read_unattached(db, sync, &r->ids[i], &versions[i],
                                    &unattached, err));
    if (ok && !found) {
      chorus_error_set(err, 404, "media_not_found", "No such media");
      ok = false;
    } else if (ok && !bson_oid_equal(&mi[i].owner, owner)) {
      chorus_error_set(err, 403, "media_not_yours",
                       "Only the uploader may use an image");
      ok = false;
    } else if (ok && !unattached) {
      chorus_error_set(err, 409, "media_in_use",
                       "That image is used already; upload it again");
      ok = false;
    }
  }
  for (size_t i = 0; ok && i < r->n; i++) {
    bson_value_t key = oid_value(&r->ids[i]);
    txn_add_delete(txn, TXN_MAIN_SHARD, DB_MEDIA_UNATTACHED, &key,
                   &versions[i]);
    if (r->alts[i]) {
      memcpy(mi[i].alt, r->alts[i], r->alt_lens[i]);
      mi[i].alt[r->alt_lens[i]] = '\0';
      bson_t set = BSON_INITIALIZER;
      BSON_APPEND_UTF8(&set, "alt", mi[i].alt);
      txn_add_update(txn, TXN_MAIN_SHARD, DB_MEDIA, &key, &set, NULL,
                     &mi[i].version);
      bson_destroy(&set);
    }
    items[i] = (media_ref_t){.id = mi[i].id,
                             .type = mi[i].type,
                             .width = mi[i].width,
                             .height = mi[i].height,
                             .alt = mi[i].alt};
    memcpy(items[i].color, mi[i].color, sizeof items[i].color);
  }
  if (ok) {
    *refs = media_list_new(items, r->n);
  }
  bson_free(mi);
  return ok;
}

bool media_add_removal(db_t *db, sync_t *sync, txn_t *txn,
                       const bson_oid_t *ids, size_t n, int64_t *bytes,
                       chorus_error_t *err) {
  *bytes = 0;
  bson_oid_t gone[MEDIA_PER_TWEET];
  size_t n_gone = 0;
  media_info_t *mi = bson_malloc(sizeof *mi);
  bool ok = true;
  for (size_t i = 0; ok && i < n && n_gone < MEDIA_PER_TWEET; i++) {
    bool found;
    ok = read_media(db, sync, &ids[i], mi, &found, err);
    if (ok && found) {
      bson_value_t key = oid_value(&ids[i]);
      txn_add_delete(txn, TXN_MAIN_SHARD, DB_MEDIA, &key, NULL);
      *bytes += mi->bytes;
      gone[n_gone++] = ids[i];
    }
  }
  bson_free(mi);
  if (ok && n_gone > 0) {
    bson_oid_t trash_id;
    bson_oid_init(&trash_id, NULL);
    bson_t doc;
    trash_doc(&doc, &trash_id, TRASH_REMOVAL, gone, n_gone, db_now_ms());
    txn_add_insert(txn, TXN_MAIN_SHARD, DB_MEDIA_TRASH, &doc);
    bson_destroy(&doc);
  }
  return ok;
}

/* ---- lists ---- */

media_list_t *media_list_new(const media_ref_t *refs, size_t n) {
  if (n == 0) {
    return NULL;
  }
  size_t size = sizeof(media_list_t) + n * sizeof(media_ref_t);
  for (size_t i = 0; i < n; i++) {
    size += strlen(refs[i].alt ? refs[i].alt : "") + 1;
  }
  media_list_t *l = bson_malloc(size);
  l->n = n;
  l->size = size;
  char *text = (char *)&l->items[n];
  for (size_t i = 0; i < n; i++) {
    const char *alt = refs[i].alt ? refs[i].alt : "";
    size_t len = strlen(alt) + 1;
    l->items[i] = refs[i];
    memcpy(text, alt, len);
    l->items[i].alt = text;
    text += len;
  }
  assert(text == (char *)l + size);
  return l;
}

media_list_t *media_list_copy(const media_list_t *l) {
  if (!l) {
    return NULL;
  }
  media_list_t *c = bson_malloc(l->size);
  memcpy(c, l, l->size);
  for (size_t i = 0; i < c->n; i++) {
    c->items[i].alt = (const char *)c + (l->items[i].alt - (const char *)l);
  }
  return c;
}

void media_list_free(media_list_t *l) { bson_free(l); }

bool media_list_equal(const media_list_t *a, const media_list_t *b) {
  size_t na = a ? a->n : 0, nb = b ? b->n : 0;
  if (na != nb) {
    return false;
  }
  for (size_t i = 0; i < na; i++) {
    const media_ref_t *x = &a->items[i], *y = &b->items[i];
    if (!bson_oid_equal(&x->id, &y->id) || x->type != y->type ||
        x->width != y->width || x->height != y->height ||
        strcmp(x->color, y->color) || strcmp(x->alt, y->alt)) {
      return false;
    }
  }
  return true;
}

void media_list_append(bson_t *doc, const char *key, const media_list_t *l) {
  bson_t array;
  bson_append_array_begin(doc, key, -1, &array);
  for (size_t i = 0; l && i < l->n; i++) {
    const media_ref_t *r = &l->items[i];
    char buf[16];
    const char *k;
    size_t klen = bson_uint32_to_string((uint32_t)i, &k, buf, sizeof buf);
    bson_t item;
    bson_append_document_begin(&array, k, (int)klen, &item);
    BSON_APPEND_OID(&item, "id", &r->id);
    BSON_APPEND_UTF8(&item, "type", image_type_mime(r->type));
    BSON_APPEND_INT32(&item, "width", r->width);
    BSON_APPEND_INT32(&item, "height", r->height);
    BSON_APPEND_UTF8(&item, "color", r->color);
    BSON_APPEND_UTF8(&item, "alt", r->alt);
    bson_append_document_end(&array, &item);
  }
  bson_append_array_end(doc, &array);
}

media_list_t *media_list_from_bson(const bson_iter_t *it) {
  bson_iter_t items, f;
  media_ref_t refs[MEDIA_PER_TWEET];
  size_t n = 0;
  if (!BSON_ITER_HOLDS_ARRAY(it) || !bson_iter_recurse(it, &items)) {
    return NULL;
  }
  while (bson_iter_next(&items) && n < MEDIA_PER_TWEET) {
    if (!BSON_ITER_HOLDS_DOCUMENT(&items) || !bson_iter_recurse(&items, &f)) {
      continue;
    }
    media_ref_t r = {.alt = ""};
    bool has_id = false;
    while (bson_iter_next(&f)) {
      const char *k = bson_iter_key(&f);
      if (!strcmp(k, "id") && BSON_ITER_HOLDS_OID(&f)) {
        bson_oid_copy(bson_iter_oid(&f), &r.id);
        has_id = true;
      } else if (!strcmp(k, "type") && BSON_ITER_HOLDS_UTF8(&f)) {
        r.type = image_type_from_mime(bson_iter_utf8(&f, NULL));
      } else if (!strcmp(k, "width")) {
        r.width = (int)bsonx_as_int64(&f);
      } else if (!strcmp(k, "height")) {
        r.height = (int)bsonx_as_int64(&f);
      } else if (!strcmp(k, "color") && BSON_ITER_HOLDS_UTF8(&f)) {
        bsonx_copy_utf8(&f, r.color, sizeof r.color);
      } else if (!strcmp(k, "alt") && BSON_ITER_HOLDS_UTF8(&f)) {
        r.alt = bson_iter_utf8(&f, NULL); /* copied by media_list_new */
      }
    }
    if (has_id && r.type != IMAGE_NONE) {
      refs[n++] = r;
    }
  }
  return media_list_new(refs, n);
}

/* ---- the sweep ---- */

static bool delete_trash(db_t *db, const bson_oid_t *id, chorus_error_t *err) {
  mongoc_client_t *client = db_acquire(db);
  if (!client) {
    db_error_unavailable(err);
    return false;
  }
  mongoc_collection_t *coll = db_collection(db, client, DB_MEDIA_TRASH);
  bson_t filter = BSON_INITIALIZER;
  BSON_APPEND_OID(&filter, "_id", id);
  bson_error_t berr;
  bool ok = mongoc_collection_delete_one(coll, &filter, NULL, NULL, &berr);
  if (!ok) {
    chorus_error_from_bson(err, &berr, "delete a media trash record");
  }
  bson_destroy(&filter);
  mongoc_collection_destroy(coll);
  db_release(db, client);
  return ok;
}

/* Removes the files a trash record lists (but a media's that exists),
 * then the record. */
static bool purge(media_store_t *m, const bson_t *doc,
                  media_sweep_stats_t *stats, chorus_error_t *err) {
  bson_oid_t trash_id;
  bson_iter_t it, ids;
  if (!bsonx_find_oid(doc, "_id", &trash_id)) {
    return true;
  }
  bool ok = true;
  if (bson_iter_init_find(&it, doc, "media") && BSON_ITER_HOLDS_ARRAY(&it) &&
      bson_iter_recurse(&it, &ids)) {
    media_info_t *mi = bson_malloc(sizeof *mi);
    while (ok && bson_iter_next(&ids)) {
      if (!BSON_ITER_HOLDS_OID(&ids)) {
        continue;
      }
      const bson_oid_t *id = bson_iter_oid(&ids);
      bool found;
      ok = read_media(m->db, m->sync, id, mi, &found, err);
      if (ok && found) {
        continue; /* its files are a media's: never removed here */
      }
      ok = ok && files_delete(m->db, id, &stats->files, err);
    }
    bson_free(mi);
  }
  if (ok && delete_trash(m->db, &trash_id, err)) {
    stats->purged++;
    return true;
  }
  return false;
}

bool media_sweep_trash(media_store_t *m, media_sweep_stats_t *stats,
                       chorus_error_t *err) {
  bson_t filter = BSON_INITIALIZER;
  query_result_t r;
  if (!query_visible(m->db, m->sync, DB_MEDIA_TRASH, &filter, NULL, SWEEP_BATCH,
                     &r, err)) {
    bson_destroy(&filter);
    return false;
  }
  bson_destroy(&filter);
  int64_t now = db_now_ms();
  bool ok = true;
  for (size_t i = 0; ok && i < r.n; i++) {
    bson_iter_t it;
    bool upload = bson_iter_init_find(&it, r.docs[i], "kind") &&
                  BSON_ITER_HOLDS_UTF8(&it) &&
                  !strcmp(bson_iter_utf8(&it, NULL), TRASH_UPLOAD);
    int64_t at = bson_iter_init_find(&it, r.docs[i], "at") &&
                         BSON_ITER_HOLDS_DATE_TIME(&it)
                     ? bson_iter_date_time(&it)
                     : 0;
    if (!upload || at + m->cfg.unattached_ms <= now) {
      ok = purge(m, r.docs[i], stats, err);
    }
  }
  query_result_free(&r);
  return ok;
}

typedef struct unattached_ctx {
  db_t *db;
  sync_t *sync;
  bson_oid_t id;
  bool gone; /* taken or removed meanwhile: nothing to do */
} unattached_ctx_t;

/* Removes one unattached media: its record (version-checked: an attach
 * racing it wins or loses whole), its document, its bytes from its
 * owner, and a trash record for its files. */
static bool build_unattached(void *arg, txn_t *txn, chorus_error_t *err) {
  unattached_ctx_t *c = arg;
  int64_t version;
  bool found;
  media_info_t *mi = bson_malloc(sizeof *mi);
  bool ok = read_unattached(c->db, c->sync, &c->id, &version, &found, err) &&
            (!found || read_media(c->db, c->sync, &c->id, mi, &found, err));
  if (ok && !found) {
    c->gone = true;
  }
  if (ok && found) {
    bson_value_t key = oid_value(&c->id);
    txn_add_delete(txn, TXN_MAIN_SHARD, DB_MEDIA_UNATTACHED, &key, &version);
    int64_t bytes;
    ok = media_add_removal(c->db, c->sync, txn, &c->id, 1, &bytes, err);
    bson_value_t owner = oid_value(&mi->owner);
    bson_t inc = BSON_INITIALIZER;
    BSON_APPEND_INT64(&inc, "media_bytes", -bytes);
    txn_add_update(txn, TXN_MAIN_SHARD, DB_USERS, &owner, NULL, &inc, NULL);
    bson_destroy(&inc);
  }
  bson_free(mi);
  return ok;
}

bool media_sweep_unattached(media_store_t *m, media_sweep_stats_t *stats,
                            chorus_error_t *err) {
  bson_t filter = BSON_INITIALIZER, lt;
  BSON_APPEND_DOCUMENT_BEGIN(&filter, "created_at", &lt);
  BSON_APPEND_DATE_TIME(&lt, "$lt", db_now_ms() - m->cfg.unattached_ms);
  bson_append_document_end(&filter, &lt);
  query_result_t r;
  bool ok = query_visible(m->db, m->sync, DB_MEDIA_UNATTACHED, &filter, NULL,
                          SWEEP_BATCH, &r, err);
  bson_destroy(&filter);
  if (!ok) {
    return false;
  }
  for (size_t i = 0; ok && i < r.n; i++) {
    unattached_ctx_t c = {m->db, m->sync, {{0}}, false};
    if (!bsonx_find_oid(r.docs[i], "_id", &c.id)) {
      continue;
    }
    size_t failed;
    switch (sync_commit(m->sync, build_unattached, &c, &failed, err)) {
    case TXN_OUTCOME_COMMITTED:
      stats->removed += !c.gone;
      break;
    case TXN_OUTCOME_MISSING:
      break; /* attached or removed meanwhile */
    default:
      ok = false;
      break;
    }
  }
  query_result_free(&r);
  return ok;
}

bool media_ensure_indexes(db_t *db, chorus_error_t *err) {
  static const db_index_t chunks[] = {
      {"files_id_1_n_1", "{\"files_id\": 1, \"n\": 1}", true},
  };
  static const db_index_t files[] = {
      {"filename_1_uploadDate_1", "{\"filename\": 1, \"uploadDate\": 1}",
       false},
  };
  static const db_index_t unattached[] = {
      {"created_at_1", "{\"created_at\": 1}", false},
  };
  return db_ensure_indexes(db, MEDIA_BUCKET ".chunks", chunks,
                           DB_INDEX_COUNT(chunks), err) &&
         db_ensure_indexes(db, MEDIA_BUCKET ".files", files,
                           DB_INDEX_COUNT(files), err) &&
         db_ensure_indexes(db, DB_MEDIA_UNATTACHED, unattached,
                           DB_INDEX_COUNT(unattached), err);
}
