/*
 * image.h - uploaded images: which ones are accepted, and what is kept of
 * them.
 *
 * An upload's bytes are never stored nor served as they came.  They are
 * decoded by libvips and written again, so whatever else the file held
 * (EXIF and GPS tags, ICC profiles, comments, a ZIP or a script appended
 * to it: a polyglot) is gone, and what is served is exactly an image of
 * the type it is sent as.  What is kept of an image:
 *
 *   - the original: turned upright (its EXIF orientation applied), in
 *     sRGB (an image with an ICC profile, or CMYK, is converted to it),
 *     its longest side at most limits->original_side (2,048 px; a
 *     smaller image keeps its size), in the type it came in (JPEG, PNG,
 *     WebP, GIF; animated GIF and WebP keep their frames), without
 *     metadata;
 *   - the thumbnail: the same, its longest side at most
 *     limits->thumb_side (400 px), always WebP;
 *   - its dimensions and its average colour ("#rrggbb", alpha flattened
 *     onto white), which a client shows while the image loads.
 *
 * Checks, in this order, each before anything costlier is done:
 *   1. the size (limits->max_bytes, 8 MiB): 413 "file_too_large"; an
 *      empty file: 400 "file_empty";
 *   2. the type, from the first bytes only (the name and the declared
 *      Content-Type play no part): JPEG, PNG, WebP or GIF, else 415
 *      "unsupported_type";
 *   3. the header: its loader reads the dimensions without decoding any
 *      pixel; a frame of more than limits->max_pixels, a side over
 *      IMAGE_SIDE_MAX, or all frames together over
 *      limits->max_total_pixels is 422 "too_many_pixels" (a PNG of a few
 *      KB claiming 50,000 x 50,000 is refused here, at once, in constant
 *      memory);
 *   4. the decode (streamed: libvips reads the file once, top to bottom,
 *      holding a few lines): a truncated or corrupt file is 422
 *      "invalid_image" (loaders run with fail_on=error, so a JPEG that
 *      stops short is refused rather than shown grey at the bottom).
 *
 * Only the JPEG, PNG, WebP and GIF loaders of libvips are usable in this
 * process (image_init blocks every other one: SVG, PDF, TIFF, HEIF,
 * ImageMagick ...), so no code path can hand an upload to a loader of
 * another format.
 *
 * Thread-safety: image_init once (any thread, before anything else here;
 * later calls return its first answer); then image_process may run on
 * any number of threads at once.  libvips' operation cache is off (no
 * upload is ever kept in memory after its call) and each call's pipeline
 * runs on IMAGE_VIPS_THREADS of libvips' threads: the number of images
 * processed at once is the caller's to bound (media.h).
 */
#ifndef CHORUS_IMAGE_H
#define CHORUS_IMAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sync/base/error.h"

#define IMAGE_SIDE_MAX 16383 /* pixels, either side (WebP's own limit) */
#define IMAGE_VIPS_THREADS 1
#define IMAGE_COLOR_LEN 7 /* "#rrggbb" */

typedef enum {
  IMAGE_NONE = 0,
  IMAGE_JPEG,
  IMAGE_PNG,
  IMAGE_WEBP,
  IMAGE_GIF,
} image_type_t;

typedef struct image_limits {
  size_t max_bytes;         /* the file */
  int64_t max_pixels;       /* one frame */
  int64_t max_total_pixels; /* all frames of an animation together */
  int original_side;        /* the longest side kept of the original */
  int thumb_side;           /* the longest side of the thumbnail */
} image_limits_t;

/* What image_process made.  Owns original and thumb (image_result_free). */
typedef struct image_result {
  image_type_t type; /* of the original as kept: the type it came in */
  int width, height; /* of the original as kept (one frame), upright */
  int thumb_width, thumb_height;
  int frames; /* 1, or the frames of an animation */
  char color[IMAGE_COLOR_LEN + 1];
  uint8_t *original;
  size_t original_len;
  uint8_t *thumb; /* WebP */
  size_t thumb_len;
} image_result_t;

/* Starts libvips once for the process: no operation cache,
 * IMAGE_VIPS_THREADS threads per pipeline, every loader blocked but
 * JPEG, PNG, WebP and GIF.  500 "internal" when libvips cannot start. */
bool image_init(chorus_error_t *err);

/* The type data[0..len) is, from its first bytes; IMAGE_NONE when it is
 * none of the four.  Pure. */
image_type_t image_sniff(const void *data, size_t len);

/* "image/jpeg", "image/png", "image/webp", "image/gif"; NULL for
 * IMAGE_NONE. */
const char *image_type_mime(image_type_t type);

/* The type named by a MIME type as image_type_mime writes it;
 * IMAGE_NONE for any other string. */
image_type_t image_type_from_mime(const char *mime);

/* Decodes data[0..len) (borrowed) and makes out's original, thumbnail,
 * dimensions and colour, after the checks above (413, 400, 415, 422 into
 * err).  On failure out holds nothing to free. */
bool image_process(const void *data, size_t len, const image_limits_t *limits,
                   image_result_t *out, chorus_error_t *err);

/* Frees what image_process made; a zeroed result is fine. */
void image_result_free(image_result_t *r);

#endif
