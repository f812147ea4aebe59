/*
 * http.c - see http.h.
 */
#include "server/http/http.h"

#include "server/http/gzip.h"

#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "server/http/guard.h"

bool http_method_is_write(const char *method) {
  return !strcmp(method, "POST") || !strcmp(method, "PUT") ||
         !strcmp(method, "PATCH") || !strcmp(method, "DELETE");
}

bool http_check_write_allowed(const http_request_t *req, const char *body_type,
                              chorus_error_t *err) {
  /* An Origin names the page that sent the request: it must be one of
   * the public origins (never compared with Host, which a DNS-rebinding
   * page chooses too).  Without one (curl, the tests' client, a browser
   * of old), Sec-Fetch-Site still refuses what a browser calls
   * cross-site. */
  const char *origin = mg_get_header(req->conn, "Origin");
  const char *fetch_site = mg_get_header(req->conn, "Sec-Fetch-Site");
  if ((origin && !origins_allow(req->transport->origins, origin)) ||
      (fetch_site && !strcasecmp(fetch_site, "cross-site"))) {
    chorus_error_set(err, 403, "cross_site",
                     "Cross-site requests are not allowed");
    return false;
  }
  const char *method = req->info->request_method;
  if (!strcmp(method, "DELETE")) {
    return true;
  }
  const char *want = body_type ? body_type : "application/json";
  const char *type = mg_get_header(req->conn, "Content-Type");
  size_t n = strlen(want);
  if (!type || strncasecmp(type, want, n) != 0 ||
      (type[n] != '\0' && type[n] != ';' && type[n] != ' ')) {
    chorus_error_set(err, 415, "unsupported_media_type",
                     "Content-Type must be %s", want);
    return false;
  }
  return true;
}

/* Content-Length's value: a whole number, or a list of the same whole
 * number ("5, 5", which a proxy may make of repeated headers); -1 for
 * anything else. */
static long long content_length_value(const char *v) {
  long long value = -1;
  for (const char *p = v;;) {
    p += strspn(p, " \t");
    size_t digits = strspn(p, "0123456789");
    if (digits == 0 || digits > 15) {
      return -1;
    }
    long long n = strtoll(p, NULL, 10);
    if (value >= 0 && n != value) {
      return -1;
    }
    value = n;
    p += digits;
    p += strspn(p, " \t");
    if (*p == '\0') {
      return value;
    }
    if (*p++ != ',') {
      return -1;
    }
  }
}

bool http_check_framing(http_request_t *req, chorus_error_t *err) {
  const struct mg_request_info *ri = req->info;
  int encodings = 0, lengths = 0;
  long long length = -1;
  bool bad_length = false;
  for (int i = 0; i < ri->num_headers; i++) {
    const char *name = ri->http_headers[i].name;
    if (!strcasecmp(name, "Transfer-Encoding")) {
      encodings++;
    } else if (!strcasecmp(name, "Content-Length")) {
      long long v = content_length_value(ri->http_headers[i].value);
      bad_length |= v < 0 || (lengths > 0 && v != length);
      length = v;
      lengths++;
    }
  }
  if (encodings > 0 && lengths > 0) {
    chorus_error_set(err, 400, "bad_framing",
                     "Content-Length and Transfer-Encoding together");
  } else if (bad_length) {
    chorus_error_set(err, 400, "bad_framing",
                     "Content-Length must be one whole number");
  } else if (encodings > 1) {
    chorus_error_set(err, 400, "bad_framing",
                     "More than one Transfer-Encoding header");
  } else if (encodings == 1) {
    chorus_error_set(err, 411, "length_required",
                     "A request body needs a Content-Length");
  } else {
    return true;
  }
  req->close = true;
  return false;
}

/* Reads the declared body whole into data (want bytes).
 * civetweb's mg_read returns 0 when its own read timeout passed without a
 * byte; the body's deadline is the connection guard's, so reading goes on
 * until that deadline shuts the read side down (mg_read < 0) or the client
 * closes.  Without a guard, civetweb's timeout ends it. */
static bool read_body(http_request_t *req, char *data, size_t want,
                      chorus_error_t *err) {
  size_t len = 0;
  while (len < want) {
    int n = mg_read(req->conn, data + len, want - len);
    if (n > 0) {
      len += (size_t)n;
    } else if (n < 0 || guard_body_status(req->conn) != GUARD_BODY_OPEN) {
      break;
    }
  }
  if (len == want) {
    guard_body_done(req->conn);
    return true;
  }
  req->close = true;
  if (guard_body_status(req->conn) == GUARD_BODY_EXPIRED) {
    chorus_error_set(err, 408, "body_timeout",
                     "The request body did not arrive in time (%zu of %zu "
                     "bytes)",
                     len, want);
  } else {
    chorus_error_set(err, 400, "body_incomplete",
                     "The request body stopped short (%zu of %zu bytes)", len,
                     want);
  }
  return false;
}

/* The length of the JSON object at s[0] == '{' (up to its closing brace),
 * or n when it does not close within s[0..n): braces and brackets are
 * counted outside strings.  For valid JSON this is exactly the object;
 * anything else is for the parser to refuse. */
static size_t json_object_length(const char *s, size_t n) {
  int depth = 0;
  bool in_string = false;
  for (size_t i = 0; i < n; i++) {
    char ch = s[i];
    if (in_string) {
      if (ch == '\\') {
        i++;
      } else if (ch == '"') {
        in_string = false;
      }
    } else if (ch == '"') {
      in_string = true;
    } else if (ch == '{' || ch == '[') {
      depth++;
    } else if ((ch == '}' || ch == ']') && --depth == 0) {
      return i + 1;
    }
  }
  return n;
}

static bool all_space(const char *s, size_t n) {
  for (size_t i = 0; i < n; i++) {
    if (!strchr(" \t\r\n", s[i]) || s[i] == '\0') {
      return false;
    }
  }
  return true;
}

bool http_parse_json(const char *data, size_t len, bool required, bson_t *body,
                     chorus_error_t *err) {
  size_t start = 0;
  while (start < len && data[start] && strchr(" \t\r\n", data[start])) {
    start++;
  }
  if (len == 0 && !required) {
    bson_init(body); /* none */
    return true;
  }
  if (start == len && required) {
    chorus_error_set(err, 400, "body_required",
                     "A JSON object body is required");
    return false;
  }
  if (start == len) { /* whitespace is a body, and not a JSON object */
    chorus_error_set(err, 400, "invalid_json",
                     "The body must be a JSON object, or empty");
    return false;
  }
  if (data[start] != '{') {
    chorus_error_set(err, 400, "invalid_json",
                     "The body must be a JSON object");
    return false;
  }
  size_t object = json_object_length(data + start, len - start);
  if (!bson_utf8_validate(data + start, object, false)) {
    chorus_error_set(err, 400, "invalid_json", "The body must be UTF-8");
    return false;
  }
  if (!all_space(data + start + object, len - start - object)) {
    chorus_error_set(err, 400, "invalid_json",
                     "Nothing but whitespace may follow the JSON object");
    return false;
  }
  bson_error_t berr;
  if (!bson_init_from_json(body, data + start, (ssize_t)object, &berr)) {
    chorus_error_set(err, 400, "invalid_json", "Malformed JSON: %s",
                     berr.message);
    return false;
  }
  return true;
}

bool http_read_body(http_request_t *req, size_t max, char **data, size_t *len,
                    chorus_error_t *err) {
  *data = NULL;
  *len = 0;
  long long declared = req->info->content_length;
  if (declared > 0 && (unsigned long long)declared > max) {
    req->close = true;
    chorus_error_set(err, 413, "body_too_large",
                     "The request body must be at most %zu bytes", max);
    return false;
  }
  size_t want = declared > 0 ? (size_t)declared : 0;
  char *buf = bson_malloc(want + 1);
  if (!read_body(req, buf, want, err)) {
    bson_free(buf);
    return false;
  }
  buf[want] = '\0';
  *data = buf;
  *len = want;
  return true;
}

bool http_read_json(http_request_t *req, bool required, bson_t *body,
                    chorus_error_t *err) {
  char *data;
  size_t len;
  if (!http_read_body(req, HTTP_BODY_MAX, &data, &len, err)) {
    return false;
  }
  bool ok = http_parse_json(data, len, required, body, err);
  bson_free(data);
  return ok;
}

bool json_get_string(const bson_t *doc, const char *key, bool required,
                     const char **s, size_t *len, chorus_error_t *err) {
  bson_iter_t it;
  *s = NULL;
  *len = 0;
  if (!bson_iter_init_find(&it, doc, key)) {
    if (required) {
      chorus_error_set(err, 400, "missing_field", "%s is required", key);
      return false;
    }
    return true;
  }
  if (!BSON_ITER_HOLDS_UTF8(&it)) {
    chorus_error_set(err, 400, "invalid_type", "%s must be a string", key);
    return false;
  }
  uint32_t n = 0;
  *s = bson_iter_utf8(&it, &n);
  *len = n;
  return true;
}

bool http_query_param(const http_request_t *req, const char *name, char *buf,
                      size_t size, bool *bad, chorus_error_t *err) {
  *bad = false;
  const char *qs = req->info->query_string;
  if (!qs) {
    return false;
  }
  int n = mg_get_var(qs, strlen(qs), name, buf, size);
  if (n == -1) {
    return false;
  }
  if (n < 0) {
    *bad = true;
    chorus_error_set(err, 400, "invalid_parameter", "%s is too long", name);
    return false;
  }
  if ((size_t)n != strlen(buf)) {
    *bad = true; /* a %00 would cut the value short unseen */
    chorus_error_set(err, 400, "invalid_parameter",
                     "%s must not contain NUL characters", name);
    return false;
  }
  return true;
}

bool http_address_listed(const char *addr, const char *list) {
  size_t n = strlen(addr);
  for (const char *p = list; p && *p;) {
    p += strspn(p, " ,");
    size_t len = strcspn(p, ",");
    size_t trimmed = len;
    while (trimmed > 0 && p[trimmed - 1] == ' ') {
      trimmed--;
    }
    if (trimmed == n && n > 0 && memcmp(p, addr, n) == 0) {
      return true;
    }
    p += len;
  }
  return false;
}

static bool valid_ip(const char *s) {
  unsigned char tmp[sizeof(struct in6_addr)];
  return s &&
         (inet_pton(AF_INET, s, tmp) == 1 || inet_pton(AF_INET6, s, tmp) == 1);
}

void http_client_address(const char *peer, const char *real_ip,
                         const char *trusted, char *buf, size_t size) {
  const char *use = peer ? peer : "";
  if (trusted && *trusted && http_address_listed(use, trusted) &&
      valid_ip(real_ip)) {
    use = real_ip;
  }
  bson_strncpy(buf, use, size);
}

void http_request_address(const http_request_t *req, char *buf, size_t size) {
  http_client_address(req->info->remote_addr,
                      mg_get_header(req->conn, "X-Real-IP"),
                      req->transport->trusted_proxies, buf, size);
}

bool http_cookie_parse(const char *header, const char *name, char *buf,
                       size_t size) {
  return header && mg_get_cookie(header, name, buf, size) > 0;
}

bool http_cookie(const http_request_t *req, const char *name, char *buf,
                 size_t size) {
  return http_cookie_parse(mg_get_header(req->conn, "Cookie"), name, buf, size);
}

void http_reply_json(http_request_t *req, int status, const bson_t *doc,
                     const char *extra_headers) {
  size_t len = 0;
  char *json = bson_as_relaxed_extended_json(doc, &len);
  http_reply_json_text(req, status, json, len, extra_headers);
  bson_free(json);
}

/* What civetweb would answer in Connection: keep-alive unless the client
 * asked to close, or spoke HTTP/1.0 without asking to keep it. */
static bool keeps_alive(const http_request_t *req) {
  const char *h = mg_get_header(req->conn, "Connection");
  if (h) {
    for (; *h; h++) {
      if (strncasecmp(h, "keep-alive", 10) == 0) {
        return true;
      }
    }
    return false;
  }
  return req->info->http_version && strcmp(req->info->http_version, "1.1") == 0;
}

/* The whole answer, status line, headers and body, goes out in one write:
 * civetweb's mg_response_header_send() writes every header line with its
 * own send() (11 system calls and as many TCP segments per answer: a
 * quarter of chorusd's CPU in the feed benchmark, measured with perf and
 * strace).  A large body (an image) goes in a second write rather than
 * being copied.  content_length is what the header says: len, but for a
 * 304, which sends no body (body NULL) and says the length a 200 would
 * have. */
#define REPLY_COPY_MAX (64 * 1024)
static void reply(http_request_t *req, int status, const char *content_type,
                  const char *cache_control, const void *body, size_t len,
                  size_t content_length, const char *extra_headers) {
  bool head_only = strcmp(req->info->request_method, "HEAD") == 0;
  char date[64];
  time_t now = time(NULL);
  struct tm tm;
  gmtime_r(&now, &tm);
  strftime(date, sizeof date, "%a, %d %b %Y %H:%M:%S GMT", &tm);
  bson_string_t *out = bson_string_new(NULL);
  bson_string_append_printf(
      out,
      "HTTP/1.1 %d %s\r\n"
      "Content-Type: %s\r\n"
      "Content-Length: %zu\r\n"
      "Cache-Control: %s\r\n"
      "X-Content-Type-Options: nosniff\r\n"
      "X-Chorus-Server: %s\r\n",
      status, mg_get_response_code_text(req->conn, status), content_type,
      content_length, cache_control, req->transport->server_id);
  if (req->request_id[0]) {
    bson_string_append_printf(out, "X-Request-Id: %s\r\n", req->request_id);
  }
  if (status == 503) {
    bson_string_append(out, "Retry-After: 1\r\n");
  }
  if (extra_headers) {
    bson_string_append(out, extra_headers); /* "Name: value\r\n" lines */
  }
  if (status >= 200 && status < 300 && req->transport->write_headers &&
      http_method_is_write(req->info->request_method)) {
    char more[HTTP_WRITE_HEADERS_MAX];
    more[0] = '\0';
    req->transport->write_headers(req->transport->write_headers_ctx, req, more,
                                  sizeof more);
    bson_string_append(out, more);
  }
  bool keep = keeps_alive(req) && !req->close && !guard_wants_close(req->conn);
  if (!keep) {
    mg_disable_connection_keep_alive(req->conn);
  }
  bson_string_append_printf(out, "Date: %s\r\nConnection: %s\r\n\r\n", date,
                            keep ? "keep-alive" : "close");
  size_t sent = head_only || !body ? 0 : len;
  if (sent > REPLY_COPY_MAX) {
    if (mg_write(req->conn, out->str, out->len) > 0) {
      mg_write(req->conn, body, sent);
    }
  } else {
    char *all = bson_malloc(out->len + sent + 1);
    memcpy(all, out->str, out->len);
    if (sent) {
      memcpy(all + out->len, body, sent);
    }
    mg_write(req->conn, all, out->len + sent);
    bson_free(all);
  }
  bson_string_free(out, true);
  req->status = status;
}

void http_reply_json_text(http_request_t *req, int status, const char *json,
                          size_t len, const char *extra_headers) {
  char *gz = NULL, *headers = NULL;
  size_t gz_len = 0;
  if (len >= HTTP_GZIP_MIN) {
    /* What is sent depends on Accept-Encoding from this length on. */
    bool zipped = gzip_accepted(mg_get_header(req->conn, "Accept-Encoding")) &&
                  gzip_smaller(json, len, GZIP_FAST, &gz, &gz_len);
    headers = bson_strdup_printf("%sVary: Accept-Encoding\r\n%s",
                                 zipped ? "Content-Encoding: gzip\r\n" : "",
                                 extra_headers ? extra_headers : "");
  }
  const char *body = gz ? gz : json;
  size_t body_len = gz ? gz_len : len;
  reply(req, status, "application/json; charset=utf-8", "no-store", body,
        body_len, body_len, headers ? headers : extra_headers);
  free(gz);
  bson_free(headers);
}

http_range_t http_parse_range(const char *header, size_t size, size_t *first,
                              size_t *last) {
  static const char unit[] = "bytes=";
  if (!header || strncasecmp(header, unit, sizeof unit - 1) != 0) {
    return HTTP_RANGE_NONE;
  }
  const char *p = header + sizeof unit - 1;
  size_t a_digits = strspn(p, "0123456789");
  if (a_digits > 15 || p[a_digits] != '-') {
    return HTTP_RANGE_NONE;
  }
  const char *q = p + a_digits + 1;
  size_t b_digits = strspn(q, "0123456789");
  if (b_digits > 15 || q[b_digits] != '\0' || (a_digits == 0 && !b_digits)) {
    return HTTP_RANGE_NONE; /* several ranges, junk, or "bytes=-" */
  }
  unsigned long long a = a_digits ? strtoull(p, NULL, 10) : 0;
  unsigned long long b = b_digits ? strtoull(q, NULL, 10) : 0;
  if (a_digits == 0) { /* the last b bytes */
    if (b == 0) {
      return HTTP_RANGE_UNSATISFIABLE;
    }
    if (size == 0) {
      return HTTP_RANGE_UNSATISFIABLE;
    }
    *first = b >= size ? 0 : size - (size_t)b;
    *last = size - 1;
    return HTTP_RANGE_OK;
  }
  if (b_digits && b < a) {
    return HTTP_RANGE_NONE; /* invalid: ignored, as RFC 9110 says */
  }
  if (a >= size) {
    return HTTP_RANGE_UNSATISFIABLE;
  }
  *first = (size_t)a;
  *last = !b_digits || b >= size ? size - 1 : (size_t)b;
  return HTTP_RANGE_OK;
}

/* The next entity tag of a list at *pp (W/ dropped, its quotes kept) into
 * tag; false at the end of the list or on junk. */
static bool next_etag(const char **pp, const char **tag, size_t *tag_len) {
  const char *p = *pp;
  p += strspn(p, " \t,");
  if (!strncmp(p, "W/", 2)) {
    p += 2;
  }
  if (*p != '"') {
    return false;
  }
  const char *close = strchr(p + 1, '"');
  if (!close) {
    return false;
  }
  *tag = p;
  *tag_len = (size_t)(close + 1 - p);
  *pp = close + 1;
  return true;
}

bool http_etag_matches(const char *if_none_match, const char *etag) {
  if (!if_none_match) {
    return false;
  }
  const char *p = if_none_match + strspn(if_none_match, " \t");
  if (p[0] == '*') {
    return true;
  }
  const char *tag;
  size_t tag_len, etag_len = strlen(etag);
  while (next_etag(&p, &tag, &tag_len)) {
    if (tag_len == etag_len && !memcmp(tag, etag, etag_len)) {
      return true;
    }
  }
  return false;
}

void http_reply_blob(http_request_t *req, const char *content_type,
                     const char *etag, const char *cache_control,
                     const void *data, size_t len) {
  char headers[256];
  if (http_etag_matches(mg_get_header(req->conn, "If-None-Match"), etag)) {
    snprintf(headers, sizeof headers, "ETag: %s\r\nAccept-Ranges: bytes\r\n",
             etag);
    /* No body; its Content-Length is the one a 200 would have. */
    reply(req, 304, content_type, cache_control, NULL, 0, len, headers);
    return;
  }
  /* An If-Range naming another version asks for the whole body. */
  const char *if_range = mg_get_header(req->conn, "If-Range");
  const char *range = mg_get_header(req->conn, "Range");
  if (if_range && strcmp(if_range, etag) != 0) {
    range = NULL;
  }
  size_t first = 0, last = 0;
  switch (http_parse_range(range, len, &first, &last)) {
  case HTTP_RANGE_OK:
    snprintf(headers, sizeof headers,
             "ETag: %s\r\nAccept-Ranges: bytes\r\n"
             "Content-Range: bytes %zu-%zu/%zu\r\n",
             etag, first, last, len);
    reply(req, 206, content_type, cache_control, (const char *)data + first,
          last - first + 1, last - first + 1, headers);
    return;
  case HTTP_RANGE_UNSATISFIABLE:
    snprintf(headers, sizeof headers,
             "ETag: %s\r\nAccept-Ranges: bytes\r\n"
             "Content-Range: bytes */%zu\r\n",
             etag, len);
    reply(req, 416, content_type, cache_control, NULL, 0, 0, headers);
    return;
  case HTTP_RANGE_NONE:
    break;
  }
  snprintf(headers, sizeof headers, "ETag: %s\r\nAccept-Ranges: bytes\r\n",
           etag);
  reply(req, 200, content_type, cache_control, data, len, len, headers);
}

void http_reply_error_headers(http_request_t *req, const chorus_error_t *err,
                              const char *extra_headers) {
  chorus_error_t fallback;
  if (!err || err->status < 400) {
    chorus_error_set(&fallback, 500, "internal", "Internal error");
    err = &fallback;
  }
  /* The error shape of the whole API (docs/API.md). */
  bson_t doc = BSON_INITIALIZER, e;
  BSON_APPEND_DOCUMENT_BEGIN(&doc, "error", &e);
  BSON_APPEND_UTF8(&e, "code", err->code[0] ? err->code : "internal");
  BSON_APPEND_UTF8(&e, "message",
                   err->message[0] ? err->message : "Internal error");
  bson_append_document_end(&doc, &e);
  http_reply_json(req, err->status, &doc, extra_headers);
  bson_destroy(&doc);
}

void http_reply_error(http_request_t *req, const chorus_error_t *err) {
  http_reply_error_headers(req, err, NULL);
}

/* The code of an error civetweb answers itself, by its status. */
static const char *civetweb_error_code(int status) {
  switch (status) {
  case 400:
    return "bad_request";
  case 404:
    return "not_found";
  case 405:
    return "method_not_allowed";
  case 411:
    return "length_required";
  case 413:
    return "body_too_large";
  case 414:
    return "uri_too_long";
  case 431:
    return "headers_too_large";
  case 501:
    return "not_implemented";
  default:
    return status >= 500 ? "internal" : "bad_request";
  }
}

int http_civetweb_error(struct mg_connection *conn, int status,
                        const char *errmsg) {
  const struct mg_request_info *ri = mg_get_request_info(conn);
  bool head_only =
      ri && ri->request_method && strcmp(ri->request_method, "HEAD") == 0;
  const char *text = mg_get_response_code_text(conn, status);
  bson_t doc = BSON_INITIALIZER, e;
  BSON_APPEND_DOCUMENT_BEGIN(&doc, "error", &e);
  BSON_APPEND_UTF8(&e, "code", civetweb_error_code(status));
  /* civetweb's own message, unless it is not UTF-8 (JSON could not carry
   * it): then the status text. */
  bool own =
      errmsg && errmsg[0] && bson_utf8_validate(errmsg, strlen(errmsg), false);
  BSON_APPEND_UTF8(&e, "message", own ? errmsg : text);
  bson_append_document_end(&doc, &e);
  size_t len = 0;
  char *json = bson_as_relaxed_extended_json(&doc, &len);
  mg_disable_connection_keep_alive(conn);
  mg_printf(conn,
            "HTTP/1.1 %d %s\r\n"
            "Content-Type: application/json; charset=utf-8\r\n"
            "Content-Length: %zu\r\n"
            "Cache-Control: no-store\r\n"
            "X-Content-Type-Options: nosniff\r\n"
            "Connection: close\r\n\r\n",
            status, text, len);
  if (!head_only) {
    mg_write(conn, json, len);
  }
  bson_free(json);
  bson_destroy(&doc);
  return 0;
}
