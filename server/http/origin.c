/*
 * origin.c - see origin.h.
 */
#include "server/http/origin.h"

#include <arpa/inet.h>
#include <bson/bson.h>
#include <ctype.h>
#include <ifaddrs.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

struct origins {
  char (*list)[ORIGIN_MAX]; /* canonical, no duplicates */
  size_t n;
};

/* The canonical form of s[0..n) into out; false when it is not
 * "http(s)://host[:port]". */
static bool canonical_n(const char *s, size_t n, char out[ORIGIN_MAX]) {
  const char *end = s + n;
  const char *scheme;
  int default_port;
  if (n > 7 && strncasecmp(s, "http://", 7) == 0) {
    scheme = "http";
    default_port = 80;
    s += 7;
  } else if (n > 8 && strncasecmp(s, "https://", 8) == 0) {
    scheme = "https";
    default_port = 443;
    s += 8;
  } else {
    return false;
  }
  const char *host = s;
  if (*s == '[') { /* an IPv6 literal */
    s++;
    while (s < end && (isxdigit((unsigned char)*s) || *s == ':' || *s == '.')) {
      s++;
    }
    if (s == end || *s != ']' || s == host + 1) {
      return false;
    }
    s++;
  } else {
    while (s < end && (isalnum((unsigned char)*s) || *s == '.' || *s == '-' ||
                       *s == '_')) {
      s++;
    }
  }
  size_t host_len = (size_t)(s - host);
  if (host_len == 0 || host_len > 253) {
    return false;
  }
  long port = default_port;
  if (s < end && *s == ':') {
    s++;
    const char *digits = s;
    port = 0;
    while (s < end && isdigit((unsigned char)*s) && s - digits < 5) {
      port = port * 10 + (*s - '0');
      s++;
    }
    if (s == digits || port < 1 || port > 65535) {
      return false;
    }
  }
  if (s != end) {
    return false; /* a path, a query, user information, a stray byte */
  }
  int w = snprintf(out, ORIGIN_MAX, "%s://%.*s:%ld", scheme, (int)host_len,
                   host, port);
  for (char *p = out; *p; p++) {
    *p = (char)tolower((unsigned char)*p);
  }
  return w > 0 && w < ORIGIN_MAX;
}

bool origin_canonical(const char *origin, char out[ORIGIN_MAX]) {
  return origin && canonical_n(origin, strlen(origin), out);
}

static origins_t *origins_new(void) { return bson_malloc0(sizeof(origins_t)); }

/* Appends a canonical origin unless it is there already. */
static void origins_add(origins_t *o, const char *canonical) {
  for (size_t i = 0; i < o->n; i++) {
    if (!strcmp(o->list[i], canonical)) {
      return;
    }
  }
  o->list = bson_realloc(o->list, (o->n + 1) * sizeof *o->list);
  bson_strncpy(o->list[o->n++], canonical, ORIGIN_MAX);
}

origins_t *origins_parse(const char *list, chorus_error_t *err) {
  origins_t *o = origins_new();
  for (const char *p = list ? list : ""; *p;) {
    p += strspn(p, " ,");
    size_t len = strcspn(p, ",");
    size_t n = len;
    while (n > 0 && p[n - 1] == ' ') {
      n--;
    }
    if (n > 0 && p[n - 1] == '/') {
      n--; /* "http://host:8000/", as pasted from the address bar */
    }
    char canonical[ORIGIN_MAX];
    if (len > 0 && !canonical_n(p, n, canonical)) {
      chorus_error_set(err, 400, "bad_config",
                       "--public-origin takes scheme://host[:port] (http or "
                       "https, no path), not '%.*s'",
                       (int)(n > 200 ? 200 : n), p);
      origins_destroy(o);
      return NULL;
    }
    if (len > 0) {
      origins_add(o, canonical);
    }
    p += len;
  }
  if (o->n == 0) {
    chorus_error_set(err, 400, "bad_config", "--public-origin names no origin");
    origins_destroy(o);
    return NULL;
  }
  return o;
}

/* Adds http://<address>:port for a numeric address (IPv6 in brackets). */
static void add_address(origins_t *o, const char *address, int port) {
  bool v6 = strchr(address, ':') != NULL;
  char text[ORIGIN_MAX], canonical[ORIGIN_MAX];
  snprintf(text, sizeof text, "http://%s%s%s:%d", v6 ? "[" : "", address,
           v6 ? "]" : "", port);
  if (canonical_n(text, strlen(text), canonical)) {
    origins_add(o, canonical);
  }
}

static bool is_loopback(const char *host) {
  struct in_addr a4;
  struct in6_addr a6;
  if (inet_pton(AF_INET, host, &a4) == 1) {
    return (ntohl(a4.s_addr) >> 24) == 127;
  }
  if (inet_pton(AF_INET6, host, &a6) == 1) {
    return IN6_IS_ADDR_LOOPBACK(&a6);
  }
  return strcasecmp(host, "localhost") == 0;
}

/* Every address of the machine's interfaces: IPv4, and with v6 IPv6
 * other than link-local (a browser cannot put a zone in a URL's host). */
static void add_interfaces(origins_t *o, int port, bool v6) {
  struct ifaddrs *all = NULL;
  if (getifaddrs(&all) != 0) {
    return;
  }
  for (struct ifaddrs *i = all; i; i = i->ifa_next) {
    char address[INET6_ADDRSTRLEN];
    if (!i->ifa_addr) {
      continue;
    }
    if (i->ifa_addr->sa_family == AF_INET) {
      const struct sockaddr_in *sin = (const void *)i->ifa_addr;
      inet_ntop(AF_INET, &sin->sin_addr, address, sizeof address);
    } else if (v6 && i->ifa_addr->sa_family == AF_INET6) {
      const struct sockaddr_in6 *sin6 = (const void *)i->ifa_addr;
      if (IN6_IS_ADDR_LINKLOCAL(&sin6->sin6_addr)) {
        continue;
      }
      inet_ntop(AF_INET6, &sin6->sin6_addr, address, sizeof address);
    } else {
      continue;
    }
    add_address(o, address, port);
  }
  freeifaddrs(all);
}

origins_t *origins_default(const char *host, int port, chorus_error_t *err) {
  origins_t *o = origins_new();
  const char *h = host ? host : "";
  bool any4 = !*h || !strcmp(h, "0.0.0.0");
  bool any6 = !strcmp(h, "::") || !strcmp(h, "[::]");
  char bare[256];
  size_t n = strlen(h);
  if (n >= 2 && h[0] == '[' && h[n - 1] == ']' && n - 2 < sizeof bare) {
    memcpy(bare, h + 1, n - 2); /* "[::1]" as "::1" */
    bare[n - 2] = '\0';
  } else {
    bson_strncpy(bare, h, sizeof bare);
  }
  if (any4 || any6) {
    add_address(o, "localhost", port);
    add_address(o, "127.0.0.1", port);
    add_interfaces(o, port, any6);
  } else if (!strcasecmp(bare, "localhost")) {
    add_address(o, "localhost", port);
    add_address(o, "127.0.0.1", port);
    add_address(o, "::1", port);
  } else {
    add_address(o, bare, port);
    if (is_loopback(bare)) {
      add_address(o, "localhost", port);
    }
  }
  if (o->n == 0) {
    chorus_error_set(err, 400, "bad_config",
                     "no public origin can be made of --host '%s'; name "
                     "them with --public-origin",
                     h);
    origins_destroy(o);
    return NULL;
  }
  return o;
}

bool origins_allow(const origins_t *o, const char *origin) {
  char canonical[ORIGIN_MAX];
  if (!o || !origin_canonical(origin, canonical)) {
    return false;
  }
  for (size_t i = 0; i < o->n; i++) {
    if (!strcmp(o->list[i], canonical)) {
      return true;
    }
  }
  return false;
}

void origins_describe(const origins_t *o, char *buf, size_t size) {
  size_t used = 0;
  if (size) {
    buf[0] = '\0';
  }
  for (size_t i = 0; o && i < o->n && used < size; i++) {
    int w =
        snprintf(buf + used, size - used, "%s%s", i ? ", " : "", o->list[i]);
    if (w < 0) {
      break;
    }
    used += (size_t)w;
  }
}

void origins_destroy(origins_t *o) {
  if (o) {
    bson_free(o->list);
    bson_free(o);
  }
}
