/* SPDX-License-Identifier: MIT
 *
 * calcd_log.c: calcd's log (calcd_log.h).  A line is written with one
 * write(2), so lines of concurrent writers never interleave.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "calcd_log.h"

#define CALCD_LOG_LINE 2048 /* longest line; longer ones are cut */

void calcd_log(const char *fmt, ...) {
  static const char prefix[] = "calcd: ";
  char line[CALCD_LOG_LINE];
  size_t k = sizeof prefix - 1;
  memcpy(line, prefix, k);
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(line + k, sizeof line - k, fmt, ap);
  va_end(ap);
  if (n < 0) return;
  k += (size_t)n < sizeof line - k - 1 ? (size_t)n : sizeof line - k - 2;
  line[k++] = '\n';
  (void)!write(STDERR_FILENO, line, k);
}

void calcd_addr_str(const struct sockaddr *sa, int with_port, char *buf,
                    size_t cap) {
  char host[INET6_ADDRSTRLEN] = "?";
  unsigned port = 0;
  int v6 = sa->sa_family == AF_INET6;
  if (v6) {
    const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)sa;
    inet_ntop(AF_INET6, &a->sin6_addr, host, sizeof host);
    port = ntohs(a->sin6_port);
  } else if (sa->sa_family == AF_INET) {
    const struct sockaddr_in *a = (const struct sockaddr_in *)sa;
    inet_ntop(AF_INET, &a->sin_addr, host, sizeof host);
    port = ntohs(a->sin_port);
  }
  if (!with_port)
    snprintf(buf, cap, "%s", host);
  else
    snprintf(buf, cap, v6 ? "[%s]:%u" : "%s:%u", host, port);
}

/* Quote at most CALCD_LOG_EXPR_MAX bytes, escaping what is not printable. */
static void quote(const char *p, size_t n, char *buf, size_t cap) {
  size_t o = 0;
  buf[o++] = '"';
  for (size_t i = 0; i < n && o + 8 < cap; i++) {
    unsigned char ch = (unsigned char)p[i];
    if (i == CALCD_LOG_EXPR_MAX) {
      o += (size_t)snprintf(buf + o, cap - o, "...");
      break;
    }
    if (ch == '"' || ch == '\\')
      o += (size_t)snprintf(buf + o, cap - o, "\\%c", ch);
    else if (ch < 0x20 || ch > 0x7e)
      o += (size_t)snprintf(buf + o, cap - o, "\\x%02x", ch);
    else
      buf[o++] = (char)ch;
  }
  buf[o++] = '"';
  buf[o] = '\0';
}

void calcd_log_request(const char *proto, const struct sockaddr *peer,
                       const char *req, size_t n, const char *reply,
                       size_t m) {
  char who[CALCD_ADDR_STR], q[4 * CALCD_LOG_EXPR_MAX + 8],
      r[4 * CALCD_LOG_EXPR_MAX + 8];
  calcd_addr_str(peer, 1, who, sizeof who);
  quote(req, n, q, sizeof q);
  quote(reply, m, r, sizeof r);
  calcd_log("%s %s %s -> %s", proto, who, q, r);
}
