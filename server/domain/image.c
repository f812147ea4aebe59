/*
 * image.c - see image.h.
 *
 * Each image is decoded twice, both times streamed (libvips' sequential
 * access): once from the upload into the bounded original, once from that
 * original into the thumbnail.  Decoding the upload into memory once
 * instead would hold a whole frame set (an animation of large frames:
 * hundreds of MB); the second decode reads an image of at most 2,048 px,
 * which JPEG and WebP shrink while they load.  libvips reports errors in
 * one buffer shared by the whole process, so the messages given back are
 * this module's own, never that buffer's.
 */
#include "server/domain/image.h"

#include <pthread.h>
#include <string.h>
#include <vips/vips.h>

static pthread_once_t init_once = PTHREAD_ONCE_INIT;
static bool init_ok;

/* The loaders left usable: every other VipsForeignLoad is blocked. */
static const char *const allowed_loaders[] = {
    "VipsForeignLoadJpeg",
    "VipsForeignLoadPng",
    "VipsForeignLoadWebp",
    "VipsForeignLoadNsgif",
};

/* libvips' warnings (a damaged file's, which image_process refuses with
 * its own message) would fill the server's log at each bad upload. */
static void drop_warning(const gchar *domain, GLogLevelFlags level,
                         const gchar *message, gpointer data) {
  (void)domain;
  (void)level;
  (void)message;
  (void)data;
}

static void init_vips(void) {
  if (VIPS_INIT("chorusd") != 0) {
    return;
  }
  g_log_set_handler("VIPS", G_LOG_LEVEL_WARNING, drop_warning, NULL);
  vips_cache_set_max(0);
  vips_concurrency_set(IMAGE_VIPS_THREADS);
  vips_operation_block_set("VipsForeignLoad", TRUE);
  for (size_t i = 0; i < sizeof allowed_loaders / sizeof *allowed_loaders;
       i++) {
    vips_operation_block_set(allowed_loaders[i], FALSE);
  }
  init_ok = true;
}

bool image_init(chorus_error_t *err) {
  pthread_once(&init_once, init_vips);
  if (!init_ok) {
    chorus_error_set(err, 500, "internal", "libvips could not start");
  }
  return init_ok;
}

image_type_t image_sniff(const void *data, size_t len) {
  const uint8_t *p = data;
  if (len >= 3 && p[0] == 0xFF && p[1] == 0xD8 && p[2] == 0xFF) {
    return IMAGE_JPEG;
  }
  if (len >= 8 && !memcmp(p, "\x89PNG\r\n\x1a\n", 8)) {
    return IMAGE_PNG;
  }
  if (len >= 12 && !memcmp(p, "RIFF", 4) && !memcmp(p + 8, "WEBP", 4)) {
    return IMAGE_WEBP;
  }
  if (len >= 6 && (!memcmp(p, "GIF87a", 6) || !memcmp(p, "GIF89a", 6))) {
    return IMAGE_GIF;
  }
  return IMAGE_NONE;
}

static const char *const mimes[] = {
    [IMAGE_JPEG] = "image/jpeg",
    [IMAGE_PNG] = "image/png",
    [IMAGE_WEBP] = "image/webp",
    [IMAGE_GIF] = "image/gif",
};

const char *image_type_mime(image_type_t type) {
  return type > IMAGE_NONE && type <= IMAGE_GIF ? mimes[type] : NULL;
}

image_type_t image_type_from_mime(const char *mime) {
  for (int t = IMAGE_JPEG; mime && t <= IMAGE_GIF; t++) {
    if (!strcmp(mime, mimes[t])) {
      return (image_type_t)t;
    }
  }
  return IMAGE_NONE;
}

/* Whether a type may hold several frames (all of them are loaded). */
static bool animated_type(image_type_t type) {
  return type == IMAGE_GIF || type == IMAGE_WEBP;
}

/* The header of data as its type's loader reads it, without pixels. */
static VipsImage *load_header(const void *data, size_t len, image_type_t type) {
  VipsImage *img = NULL;
  void *buf = (void *)data; /* libvips' loaders take it non-const */
  int rc = -1;
  switch (type) {
  case IMAGE_JPEG:
    rc = vips_jpegload_buffer(buf, len, &img, "access", VIPS_ACCESS_SEQUENTIAL,
                              NULL);
    break;
  case IMAGE_PNG:
    rc = vips_pngload_buffer(buf, len, &img, "access", VIPS_ACCESS_SEQUENTIAL,
                             NULL);
    break;
  case IMAGE_WEBP:
    rc = vips_webpload_buffer(buf, len, &img, "access", VIPS_ACCESS_SEQUENTIAL,
                              "n", -1, NULL);
    break;
  case IMAGE_GIF:
    rc = vips_gifload_buffer(buf, len, &img, "access", VIPS_ACCESS_SEQUENTIAL,
                             "n", -1, NULL);
    break;
  case IMAGE_NONE:
    break;
  }
  return rc == 0 ? img : NULL;
}

/* Refuses a header whose pixels exceed the limits (image.h, check 3). */
static bool check_pixels(VipsImage *head, const image_limits_t *limits,
                         chorus_error_t *err) {
  int64_t width = vips_image_get_width(head);
  int64_t page = vips_image_get_page_height(head);
  int64_t frames = vips_image_get_n_pages(head);
  if (width <= 0 || page <= 0 || frames <= 0) {
    chorus_error_set(err, 422, "invalid_image", "The image has no pixels");
    return false;
  }
  if (width > IMAGE_SIDE_MAX || page > IMAGE_SIDE_MAX ||
      width * page > limits->max_pixels ||
      width * page * frames > limits->max_total_pixels) {
    chorus_error_set(err, 422, "too_many_pixels",
                     "The image is %lld x %lld pixels%s; at most %lld pixels "
                     "(and %d on a side) are accepted",
                     (long long)width, (long long)page,
                     frames > 1 ? " a frame" : "",
                     (long long)limits->max_pixels, IMAGE_SIDE_MAX);
    return false;
  }
  return true;
}

/* Whether the image's colours are to be converted to sRGB: it embeds an
 * ICC profile (which the saved image will not carry), or is CMYK.
 * Untagged RGB is sRGB already (and a transform from and to sRGB would
 * still move its colours). */
static bool managed(VipsImage *head) {
  return vips_image_get_typeof(head, VIPS_META_ICC_NAME) != 0 ||
         vips_image_guess_interpretation(head) == VIPS_INTERPRETATION_CMYK;
}

/* data decoded, upright, in sRGB (converted when manage), its longest
 * side at most side; lazy (nothing is decoded until it is saved). */
static VipsImage *bounded(const void *data, size_t len, image_type_t type,
                          int side, bool manage) {
  VipsImage *img = NULL;
  const char *options =
      animated_type(type) ? "[n=-1,fail_on=error]" : "[fail_on=error]";
  int rc =
      manage
          ? vips_thumbnail_buffer((void *)data, len, &img, side, "height", side,
                                  "size", VIPS_SIZE_DOWN, "option_string",
                                  options, "export_profile", "srgb", NULL)
          : vips_thumbnail_buffer((void *)data, len, &img, side, "height", side,
                                  "size", VIPS_SIZE_DOWN, "option_string",
                                  options, NULL);
  return rc == 0 ? img : NULL;
}

/* Encodes img as type, without metadata, into g_malloc'd *buf. */
static bool save(VipsImage *img, image_type_t type, int quality, void **buf,
                 size_t *len) {
  int rc = -1;
  switch (type) {
  case IMAGE_JPEG:
    rc = vips_jpegsave_buffer(img, buf, len, "Q", quality, "strip", TRUE,
                              "optimize_coding", TRUE, "interlace", TRUE, NULL);
    break;
  case IMAGE_PNG:
    rc = vips_pngsave_buffer(img, buf, len, "strip", TRUE, "bitdepth", 8, NULL);
    break;
  case IMAGE_WEBP:
    rc = vips_webpsave_buffer(img, buf, len, "Q", quality, "strip", TRUE, NULL);
    break;
  case IMAGE_GIF:
    rc = vips_gifsave_buffer(img, buf, len, "strip", TRUE, NULL);
    break;
  case IMAGE_NONE:
    break;
  }
  return rc == 0;
}

/* The average colour of the thumbnail thumb[0..len) (WebP), its alpha
 * flattened onto white, as "#rrggbb". */
static bool average_color(const void *thumb, size_t len,
                          char out[IMAGE_COLOR_LEN + 1]) {
  VipsImage *img = NULL, *flat = NULL, *stats = NULL;
  bool ok = false;
  if (vips_webpload_buffer((void *)thumb, len, &img, NULL) != 0) {
    goto done;
  }
  if (vips_image_hasalpha(img)) {
    VipsArrayDouble *white = vips_array_double_newv(1, 255.0);
    int rc = vips_flatten(img, &flat, "background", white, NULL);
    vips_area_unref(VIPS_AREA(white));
    if (rc != 0) {
      goto done;
    }
  } else {
    flat = img;
    g_object_ref(flat);
  }
  if (vips_stats(flat, &stats, NULL) != 0 || vips_image_wio_input(stats) != 0) {
    goto done;
  }
  int bands = vips_image_get_bands(flat);
  int v[3];
  for (int b = 0; b < 3; b++) {
    /* stats: row 0 all bands, row 1 + k band k; column 4 the mean. */
    double mean = *VIPS_MATRIX(stats, 4, 1 + (b < bands ? b : 0));
    v[b] = mean < 0 ? 0 : mean > 255 ? 255 : (int)(mean + 0.5);
  }
  snprintf(out, IMAGE_COLOR_LEN + 1, "#%02x%02x%02x", v[0], v[1], v[2]);
  ok = true;
done:
  if (stats) {
    g_object_unref(stats);
  }
  if (flat) {
    g_object_unref(flat);
  }
  if (img) {
    g_object_unref(img);
  }
  return ok;
}

/* The kept dimensions of a bounded image: a frame's. */
static void frame_size(VipsImage *img, int *width, int *height) {
  *width = vips_image_get_width(img);
  *height = vips_image_get_page_height(img);
}

bool image_process(const void *data, size_t len, const image_limits_t *limits,
                   image_result_t *out, chorus_error_t *err) {
  memset(out, 0, sizeof *out);
  if (len == 0) {
    chorus_error_set(err, 400, "file_empty", "The file is empty");
    return false;
  }
  if (len > limits->max_bytes) {
    chorus_error_set(err, 413, "file_too_large",
                     "The file is %zu bytes; at most %zu are accepted", len,
                     limits->max_bytes);
    return false;
  }
  image_type_t type = image_sniff(data, len);
  if (type == IMAGE_NONE) {
    chorus_error_set(err, 415, "unsupported_type",
                     "Only JPEG, PNG, WebP and GIF images are accepted");
    return false;
  }
  if (!image_init(err)) {
    return false;
  }
  VipsImage *head = load_header(data, len, type);
  if (!head) {
    chorus_error_set(err, 422, "invalid_image",
                     "The file is not a readable %s image",
                     image_type_mime(type));
    return false;
  }
  bool ok = check_pixels(head, limits, err);
  out->frames = vips_image_get_n_pages(head);
  bool manage = managed(head);
  g_object_unref(head);
  if (!ok) {
    return false;
  }

  void *original = NULL, *thumb = NULL;
  size_t original_len = 0, thumb_len = 0;
  VipsImage *img = bounded(data, len, type, limits->original_side, manage);
  ok = img && save(img, type, 85, &original, &original_len);
  if (img) {
    frame_size(img, &out->width, &out->height);
    g_object_unref(img);
  }
  if (!ok) {
    chorus_error_set(err, 422, "invalid_image",
                     "The %s image is truncated or corrupt",
                     image_type_mime(type));
    g_free(original);
    return false;
  }
  img = bounded(original, original_len, type, limits->thumb_side, false);
  ok = img && save(img, IMAGE_WEBP, 75, &thumb, &thumb_len);
  if (img) {
    frame_size(img, &out->thumb_width, &out->thumb_height);
    g_object_unref(img);
  }
  ok = ok && average_color(thumb, thumb_len, out->color);
  if (!ok) {
    /* The original was written by libvips itself: this is not the
     * client's file failing. */
    chorus_error_set(err, 500, "internal", "The thumbnail could not be made");
    g_free(original);
    g_free(thumb);
    return false;
  }
  out->type = type;
  out->original = original;
  out->original_len = original_len;
  out->thumb = thumb;
  out->thumb_len = thumb_len;
  return true;
}

void image_result_free(image_result_t *r) {
  g_free(r->original);
  g_free(r->thumb);
  memset(r, 0, sizeof *r);
}
