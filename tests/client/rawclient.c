/*
 * rawclient.c - see rawclient.h.
 */
#include "tests/client/rawclient.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static int64_t now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int tc_raw_connect(int port, const char *src) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  assert_true(fd >= 0);
  struct sockaddr_in a;
  memset(&a, 0, sizeof a);
  a.sin_family = AF_INET;
  assert_int_equal(inet_pton(AF_INET, src, &a.sin_addr), 1);
  assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
  a.sin_port = htons((uint16_t)port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof a), 0);
  struct timeval tv = {10, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  return fd;
}

bool tc_raw_send(int fd, const char *text) {
  size_t n = strlen(text);
  return send(fd, text, n, MSG_NOSIGNAL) == (ssize_t)n;
}

void tc_raw_read_answer(int fd, char *buf, size_t size) {
  size_t n = 0;
  buf[0] = '\0';
  for (;;) {
    char *end = strstr(buf, "\r\n\r\n");
    if (end) {
      const char *cl = strstr(buf, "Content-Length: ");
      size_t body = cl && cl < end ? (size_t)atoi(cl + 16) : 0;
      if (n >= (size_t)(end + 4 - buf) + body) {
        return;
      }
    }
    ssize_t got = recv(fd, buf + n, size - 1 - n, 0);
    if (got <= 0) {
      return;
    }
    n += (size_t)got;
    buf[n] = '\0';
    assert_true(n < size - 1);
  }
}

bool tc_raw_closed_within(int fd, int wait_ms) {
  char sink[4096];
  for (int64_t until = now_ms() + wait_ms; now_ms() < until;) {
    struct pollfd p = {fd, POLLIN, 0};
    if (poll(&p, 1, 50) == 1) {
      ssize_t got = recv(fd, sink, sizeof sink, MSG_DONTWAIT);
      if (got == 0 || (got < 0 && errno == ECONNRESET)) {
        return true;
      }
    }
  }
  return false;
}

bool tc_raw_still_open(int fd) {
  char c;
  ssize_t got = recv(fd, &c, 1, MSG_DONTWAIT | MSG_PEEK);
  return got < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
}

bool tc_raw_status_is(const char *answer, const char *code) {
  return strncmp(answer, "HTTP/1.1 ", 9) == 0 &&
         strncmp(answer + 9, code, 3) == 0 && answer[12] == ' ';
}
