/*
 * media.c - images:
 *   POST /api/media   multipart/form-data: "file" (the image), "alt"?
 *                     (its text alternative)     201 media
 *   GET  /media/:id/original, /media/:id/thumb   the image's bytes
 *
 * An upload is read whole (at most API_MEDIA_BODY_MAX bytes: the image's
 * 8 MiB and room for the form around it) only once the session is known
 * and one of the store's upload slots is taken (media_admit: 503 "busy"
 * when all are), so no more than that many bodies are ever held at once.
 * The images are served with their entity tag, as immutable for a year
 * (an id never names other bytes), with Range and If-None-Match
 * (http_reply_blob).
 */
#include <string.h>

#include "server/api/api.h"
#include "server/domain/render.h"
#include "server/http/multipart.h"

#define MEDIA_CACHE_CONTROL "public, max-age=31536000, immutable"

/* The one part named name (400 when given twice; *part NULL when
 * absent: 400 too when required). */
static bool one_part(const multipart_part_t *parts, size_t n, const char *name,
                     bool required, const multipart_part_t **part,
                     chorus_error_t *err) {
  size_t count;
  *part = multipart_find(parts, n, name, &count);
  if (count > 1) {
    chorus_error_set(err, 400, "invalid_multipart",
                     "The form has %zu \"%s\" fields; one is allowed", count,
                     name);
    return false;
  }
  if (!*part && required) {
    chorus_error_set(err, 400, "missing_field", "%s is required", name);
    return false;
  }
  return true;
}

/* Parses the form of an upload: its file and its alt text (NULL when
 * none), both pointing into body. */
static bool read_form(http_request_t *req, const char *body, size_t len,
                      const multipart_part_t **file,
                      const multipart_part_t **alt,
                      multipart_part_t parts[MULTIPART_PARTS_MAX],
                      chorus_error_t *err) {
  char boundary[MULTIPART_BOUNDARY_MAX + 1];
  size_t n;
  return multipart_boundary(mg_get_header(req->conn, "Content-Type"), boundary,
                            err) &&
         multipart_parse(boundary, body, len, parts, MULTIPART_PARTS_MAX, &n,
                         err) &&
         one_part(parts, n, "file", true, file, err) &&
         one_part(parts, n, "alt", false, alt, err);
}

void api_media_upload(http_request_t *req) {
  api_t *api = req->ctx;
  chorus_error_t err;
  user_t me;
  if (!api_current_user(req, &me, &err) || !media_admit(api->media, &err)) {
    http_reply_error(req, &err);
    return;
  }
  char *body = NULL;
  size_t len;
  const multipart_part_t *file, *alt;
  multipart_part_t *parts = bson_malloc(sizeof *parts * MULTIPART_PARTS_MAX);
  media_info_t *m = bson_malloc(sizeof *m);
  bool ok = http_read_body(req, API_MEDIA_BODY_MAX, &body, &len, &err) &&
            read_form(req, body, len, &file, &alt, parts, &err) &&
            media_upload(api->media, &me.id, file->data, file->len,
                         alt ? (const char *)alt->data : NULL,
                         alt ? alt->len : 0, m, &err);
  media_release(api->media);
  if (ok) {
    bson_t doc = BSON_INITIALIZER;
    render_media(&doc, m);
    http_reply_json(req, 201, &doc, NULL);
    bson_destroy(&doc);
  } else {
    http_reply_error(req, &err);
  }
  bson_free(m);
  bson_free(parts);
  bson_free(body);
}

void api_media_get(http_request_t *req) {
  api_t *api = req->ctx;
  chorus_error_t err;
  const char *variant = req->params[1];
  bool thumb = !strcmp(variant, "thumb");
  media_blob_t *blob;
  if (!thumb && strcmp(variant, "original") != 0) {
    chorus_error_set(&err, 404, "not_found",
                     "An image is /media/<id>/original or /media/<id>/thumb");
  } else if (media_open(api->media, req->params[0],
                        thumb ? MEDIA_THUMB : MEDIA_ORIGINAL, &blob, &err)) {
    http_reply_blob(req, media_blob_type(blob), media_blob_etag(blob),
                    MEDIA_CACHE_CONTROL, media_blob_data(blob),
                    media_blob_len(blob));
    media_blob_release(blob);
    return;
  }
  http_reply_error(req, &err);
}
