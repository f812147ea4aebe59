/*
 * rawws.c - see rawws.h.
 */
#include "tests/client/rawws.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define TC_RAW_WAIT_MS 5000

int tc_raw_tcp(int port, int rcvbuf) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  assert_true(fd >= 0);
  if (rcvbuf > 0) {
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
  }
  struct sockaddr_in a;
  memset(&a, 0, sizeof a);
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons((uint16_t)port);
  assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof a), 0);
  return fd;
}

bool tc_raw_read(int fd, void *buf, size_t len, int timeout_ms) {
  size_t got = 0;
  while (got < len) {
    struct pollfd p = {fd, POLLIN, 0};
    if (poll(&p, 1, timeout_ms) <= 0) {
      return false;
    }
    ssize_t n = read(fd, (char *)buf + got, len - got);
    if (n <= 0) {
      return false;
    }
    got += (size_t)n;
  }
  return true;
}

void tc_raw_write(int fd, const void *buf, size_t len) {
  const char *p = buf;
  while (len) {
    ssize_t n = write(fd, p, len);
    assert_true(n > 0);
    p += n;
    len -= (size_t)n;
  }
}

int tc_raw_upgrade_request(char *buf, size_t size, int port,
                           const char *version, const char *headers,
                           const char *cookie) {
  int n = snprintf(buf, size,
                   "GET /ws HTTP/1.1\r\n"
                   "Host: 127.0.0.1:%d\r\n"
                   "Upgrade: websocket\r\n"
                   "Connection: Upgrade\r\n"
                   "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                   "%s%s%s%s%s\r\n",
                   port, version, headers, cookie ? "Cookie: " : "",
                   cookie ? cookie : "", cookie ? "\r\n" : "");
  assert_true(n > 0 && (size_t)n < size);
  return n;
}

int tc_raw_http_head(int fd, char *head, size_t size) {
  size_t n = 0;
  head[0] = '\0';
  while (n + 1 < size) {
    if (!tc_raw_read(fd, head + n, 1, TC_RAW_WAIT_MS)) {
      return 0;
    }
    n++;
    if (n >= 4 && memcmp(head + n - 4, "\r\n\r\n", 4) == 0) {
      break;
    }
  }
  head[n] = '\0';
  int status = 0;
  if (sscanf(head, "HTTP/1.%*d %d", &status) != 1) {
    return 0;
  }
  return status;
}

int tc_raw_http_status(int fd) {
  char head[2048];
  return tc_raw_http_head(fd, head, sizeof head);
}

void tc_raw_expect_json_error(int fd, const char *head, const char *code) {
  if (!strstr(head, "\r\nContent-Type: application/json\r\n")) {
    fail_msg("not a JSON answer: %s", head);
  }
  const char *cl = strstr(head, "\r\nContent-Length: ");
  assert_non_null(cl);
  size_t len = (size_t)strtoul(cl + 18, NULL, 10);
  char body[512];
  assert_true(len > 0 && len < sizeof body);
  assert_true(tc_raw_read(fd, body, len, TC_RAW_WAIT_MS));
  body[len] = '\0';
  char want[128];
  snprintf(want, sizeof want, "{\"error\":{\"code\":\"%s\",\"message\":\"",
           code);
  if (strncmp(body, want, strlen(want)) != 0) {
    fail_msg("expected the error %s, got: %s", code, body);
  }
  /* Closed: the end of the stream (or a reset) comes, not more bytes. */
  struct pollfd p = {fd, POLLIN, 0};
  assert_int_equal(poll(&p, 1, TC_RAW_WAIT_MS), 1);
  char more;
  assert_true(read(fd, &more, 1) <= 0);
}

int tc_raw_ws(int port, int rcvbuf, const char *cookie) {
  int fd = tc_raw_tcp(port, rcvbuf);
  char req[1024];
  int n = tc_raw_upgrade_request(req, sizeof req, port, TC_RAW_VERSION_13, "",
                                 cookie);
  tc_raw_write(fd, req, (size_t)n);
  assert_int_equal(tc_raw_http_status(fd), 101);
  return fd;
}

void tc_raw_frame(int fd, int opcode, bool fin, bool masked, const void *data,
                  size_t len) {
  unsigned char *f = malloc(len + 14);
  size_t h = 0;
  unsigned char bit = masked ? 0x80 : 0;
  f[h++] = (unsigned char)((fin ? 0x80 : 0) | opcode);
  if (len < 126) {
    f[h++] = (unsigned char)(bit | len);
  } else if (len < 65536) {
    f[h++] = bit | 126;
    f[h++] = (unsigned char)(len >> 8);
    f[h++] = (unsigned char)len;
  } else {
    f[h++] = bit | 127;
    for (int i = 7; i >= 0; i--) {
      f[h++] = (unsigned char)((uint64_t)len >> (8 * i));
    }
  }
  const unsigned char mask[4] = {0x12, 0x34, 0x56, 0x78};
  if (masked) {
    memcpy(f + h, mask, 4);
    h += 4;
  }
  for (size_t i = 0; i < len; i++) {
    f[h + i] = ((const unsigned char *)data)[i] ^ (masked ? mask[i & 3] : 0);
  }
  tc_raw_write(fd, f, h + len);
  free(f);
}

bool tc_raw_read_frame(int fd, int *opcode, char *buf, size_t cap,
                       size_t *len) {
  unsigned char h[2];
  if (!tc_raw_read(fd, h, 2, TC_RAW_WAIT_MS)) {
    return false;
  }
  *opcode = h[0] & 0x0f;
  uint64_t n = h[1] & 0x7f;
  if (n == 126 || n == 127) {
    unsigned char e[8];
    size_t k = n == 126 ? 2 : 8;
    if (!tc_raw_read(fd, e, k, TC_RAW_WAIT_MS)) {
      return false;
    }
    n = 0;
    for (size_t i = 0; i < k; i++) {
      n = n << 8 | e[i];
    }
  }
  if (n >= cap) {
    return false;
  }
  if (n && !tc_raw_read(fd, buf, (size_t)n, TC_RAW_WAIT_MS)) {
    return false;
  }
  buf[n] = '\0';
  *len = (size_t)n;
  return true;
}

int tc_raw_close_code(int fd) {
  for (int frames = 0; frames < 100; frames++) {
    int opcode;
    char buf[8192];
    size_t len;
    if (!tc_raw_read_frame(fd, &opcode, buf, sizeof buf, &len)) {
      return -1;
    }
    if (opcode == 8) {
      return len >= 2 ? (unsigned char)buf[0] << 8 | (unsigned char)buf[1]
                      : 1005;
    }
  }
  return -1;
}
