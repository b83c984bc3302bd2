/* SPDX-License-Identifier: MIT
 * calc_cidr.c: network lists (calc_cidr.h). */
#include "calc_cidr.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

static int is_blank(char c) { return c == ' ' || c == '\t'; }

/* Is any bit of a (bytes) set at or past bit `from`? */
static int bits_past(const uint8_t *a, size_t bytes, unsigned from) {
  for (unsigned i = from; i < bytes * 8; i++)
    if (a[i / 8] & (0x80u >> (i % 8))) return 1;
  return 0;
}

static int parse_one(const char *p, size_t n, calc_cidr *c) {
  char buf[CALC_CIDR_TEXT_MAX];
  if (n == 0 || n >= sizeof buf) return -1;
  memcpy(buf, p, n);
  buf[n] = '\0';
  char *slash = strchr(buf, '/');
  if (slash) *slash = '\0';
  memset(c, 0, sizeof *c);
  if (inet_pton(AF_INET, buf, c->addr) == 1)
    c->af = AF_INET;
  else if (inet_pton(AF_INET6, buf, c->addr) == 1)
    c->af = AF_INET6;
  else
    return -1;
  unsigned max = c->af == AF_INET ? 32 : 128;
  c->prefix = max;
  if (slash) {
    const char *d = slash + 1;
    size_t dl = strlen(d);
    if (dl == 0 || dl > 3 || (dl > 1 && d[0] == '0')) return -1;
    unsigned v = 0;
    for (size_t i = 0; i < dl; i++) {
      if (d[i] < '0' || d[i] > '9') return -1;
      v = v * 10 + (unsigned)(d[i] - '0');
    }
    if (v > max) return -1;
    c->prefix = v;
  }
  return bits_past(c->addr, max / 8, c->prefix) ? -1 : 0;
}

int calc_cidr_parse(const char *text, calc_cidr_list *l, const char **bad,
                    size_t *bad_len) {
  l->n = 0;
  const char *p = text;
  for (;;) {
    while (is_blank(*p)) p++;
    const char *q = p;
    while (*q && *q != ',') q++;
    const char *e = q;
    while (e > p && is_blank(e[-1])) e--;
    if (l->n == CALC_CIDR_MAX || parse_one(p, (size_t)(e - p),
                                           &l->net[l->n]) < 0) {
      *bad = l->n == CALC_CIDR_MAX ? text : p;
      *bad_len = l->n == CALC_CIDR_MAX ? strlen(text) : (size_t)(e - p);
      return -1;
    }
    l->n++;
    if (!*q) return 0;
    p = q + 1;
  }
}

static int in_net(const calc_cidr *c, const uint8_t *a) {
  unsigned full = c->prefix / 8, rest = c->prefix % 8;
  if (memcmp(c->addr, a, full) != 0) return 0;
  if (rest == 0) return 1;
  uint8_t mask = (uint8_t)(0xffu << (8 - rest));
  return (c->addr[full] & mask) == (a[full] & mask);
}

int calc_cidr_match(const calc_cidr_list *l, const struct sockaddr *sa) {
  const uint8_t *a;
  int af = sa->sa_family;
  if (af == AF_INET) {
    a = (const uint8_t *)&((const struct sockaddr_in *)sa)->sin_addr;
  } else if (af == AF_INET6) {
    const struct in6_addr *a6 = &((const struct sockaddr_in6 *)sa)->sin6_addr;
    a = (const uint8_t *)a6;
    if (IN6_IS_ADDR_V4MAPPED(a6)) {
      a += 12;
      af = AF_INET;
    }
  } else {
    return 0;
  }
  for (size_t i = 0; i < l->n; i++)
    if (l->net[i].af == af && in_net(&l->net[i], a)) return 1;
  return 0;
}

void calc_cidr_format(const calc_cidr *c, char *buf, size_t cap) {
  char host[INET6_ADDRSTRLEN] = "?";
  inet_ntop(c->af, c->addr, host, sizeof host);
  snprintf(buf, cap, "%s/%u", host, c->prefix);
}
