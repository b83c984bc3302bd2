/* SPDX-License-Identifier: MIT
 *
 * calc_proxy.c: the PROXY protocol v1/v2 parser (calc_proxy.h).  Every
 * check runs on a prefix as on the whole header, so a prefix of a bad
 * header yields "need more" or the same error as the whole, never another.
 */
#include "calc_proxy.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdint.h>
#include <string.h>

static const struct {
  const char *token, *desc;
} calc_proxy_rows[] = {
  {NULL, NULL}, /* CALC_PROXY_OK */
#define CALC_PROXY_ROW_(name, token, desc) {token, desc},
  CALC_PROXY_ERR_MAP(CALC_PROXY_ROW_)
#undef CALC_PROXY_ROW_
};

const char *calc_proxy_err_token(calc_proxy_err e) {
  if ((int)e <= 0 || e >= CALC_PROXY_E_COUNT_) return NULL;
  return calc_proxy_rows[e].token;
}

const char *calc_proxy_err_describe(calc_proxy_err e) {
  if ((int)e <= 0 || e >= CALC_PROXY_E_COUNT_) return NULL;
  return calc_proxy_rows[e].desc;
}

static int fail(calc_proxy_err *err, calc_proxy_err e) {
  *err = e;
  return -1;
}

/* ---- v1 ---- */

static const char v1_sig[] = "PROXY ";
#define V1_SIG_LEN (sizeof v1_sig - 1)

/* v1 families: the token, its address family (AF_UNSPEC: UNKNOWN). */
static const struct {
  const char *name;
  int af;
} v1_families[] = {
  {"TCP4", AF_INET},
  {"TCP6", AF_INET6},
  {"UNKNOWN", AF_UNSPEC},
};

static int v1_family(const char *p, size_t n) {
  for (size_t i = 0; i < sizeof v1_families / sizeof v1_families[0]; i++)
    if (strlen(v1_families[i].name) == n &&
        memcmp(v1_families[i].name, p, n) == 0)
      return (int)i;
  return -1;
}

static int v1_addr(const char *p, size_t n, int af, struct sockaddr_storage *ss) {
  char buf[INET6_ADDRSTRLEN];
  if (n == 0 || n >= sizeof buf) return -1;
  memcpy(buf, p, n);
  buf[n] = '\0';
  memset(ss, 0, sizeof *ss);
  void *dst = af == AF_INET ? (void *)&((struct sockaddr_in *)ss)->sin_addr
                            : (void *)&((struct sockaddr_in6 *)ss)->sin6_addr;
  if (inet_pton(af, buf, dst) != 1) return -1;
  ss->ss_family = (sa_family_t)af;
  return 0;
}

/* 1 to 5 decimal digits, no leading zero (except "0"), at most 65535. */
static int v1_port(const char *p, size_t n, struct sockaddr_storage *ss) {
  if (n == 0 || n > 5 || (n > 1 && p[0] == '0')) return -1;
  unsigned v = 0;
  for (size_t i = 0; i < n; i++) {
    if (p[i] < '0' || p[i] > '9') return -1;
    v = v * 10 + (unsigned)(p[i] - '0');
  }
  if (v > 65535) return -1;
  uint16_t port = htons((uint16_t)v);
  if (ss->ss_family == AF_INET6)
    ((struct sockaddr_in6 *)ss)->sin6_port = port;
  else
    ((struct sockaddr_in *)ss)->sin_port = port;
  return 0;
}

static int parse_v1(const char *b, size_t n, calc_proxy_hdr *h,
                    calc_proxy_err *err) {
  size_t win = n < CALC_PROXY_V1_MAX ? n : CALC_PROXY_V1_MAX;
  const char *lf = memchr(b, '\n', win);
  size_t end = lf ? (size_t)(lf - b) : win; /* bytes of the line seen */
  /* Only printable ASCII and blanks, and CR only right before LF (or as
   * the last byte seen, whose LF may follow). */
  for (size_t i = V1_SIG_LEN; i < end; i++) {
    unsigned char c = (unsigned char)b[i];
    if (c == '\r' && i + 1 == end) continue;
    if (c < 0x20 || c > 0x7e) return fail(err, CALC_PROXY_E_V1_SYNTAX);
  }
  if (lf && (end == 0 || b[end - 1] != '\r'))
    return fail(err, CALC_PROXY_E_V1_SYNTAX);
  size_t line = lf ? end - 1 : end; /* without CR */
  /* The family, once its end is seen. */
  const char *f = b + V1_SIG_LEN;
  const char *sp = memchr(f, ' ', line - V1_SIG_LEN);
  size_t flen = sp ? (size_t)(sp - f) : line - V1_SIG_LEN;
  int fi = -1;
  if (sp || lf) {
    fi = v1_family(f, flen);
    if (fi < 0) return fail(err, CALC_PROXY_E_V1_FAMILY);
  }
  if (!lf) {
    if (n >= CALC_PROXY_V1_MAX) return fail(err, CALC_PROXY_E_V1_TOO_LONG);
    return 0;
  }
  memset(h, 0, sizeof *h);
  h->version = 1;
  int af = v1_families[fi].af;
  if (af == AF_UNSPEC) { /* "PROXY UNKNOWN" and anything up to CRLF */
    h->local = 1;
    return (int)(end + 1);
  }
  /* Exactly "<src> <dst> <sport> <dport>", one blank between. */
  const char *tok[4];
  size_t len[4];
  const char *p = f + flen, *stop = b + line;
  for (int t = 0; t < 4; t++) {
    if (p >= stop || *p != ' ') return fail(err, CALC_PROXY_E_V1_SYNTAX);
    p++;
    tok[t] = p;
    while (p < stop && *p != ' ') p++;
    len[t] = (size_t)(p - tok[t]);
    if (len[t] == 0) return fail(err, CALC_PROXY_E_V1_SYNTAX);
  }
  if (p != stop) return fail(err, CALC_PROXY_E_V1_SYNTAX);
  if (v1_addr(tok[0], len[0], af, &h->src) < 0 ||
      v1_addr(tok[1], len[1], af, &h->dst) < 0)
    return fail(err, CALC_PROXY_E_V1_ADDRESS);
  if (v1_port(tok[2], len[2], &h->src) < 0 ||
      v1_port(tok[3], len[3], &h->dst) < 0)
    return fail(err, CALC_PROXY_E_V1_PORT);
  h->transport = SOCK_STREAM;
  return (int)(end + 1);
}

/* ---- v2 ---- */

static const unsigned char v2_sig[12] = {0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d,
                                         0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a};

enum { V2_LOCAL = 0x0, V2_PROXY = 0x1 };

/* v2 families of the PROXY command: the family byte's high nibble, the
 * address block it needs, its address family. */
static const struct {
  unsigned nibble;
  size_t block;
  int af;
} v2_families[] = {
  {0x0, 0, AF_UNSPEC},  /* UNSPEC: no address (like v1 UNKNOWN) */
  {0x1, 12, AF_INET},   /* 4+4 addresses, 2+2 ports */
  {0x2, 36, AF_INET6},  /* 16+16, 2+2 */
};

static int v2_family(unsigned nibble) {
  for (size_t i = 0; i < sizeof v2_families / sizeof v2_families[0]; i++)
    if (v2_families[i].nibble == nibble) return (int)i;
  return -1;
}

static void v2_addrs(const unsigned char *a, int af, calc_proxy_hdr *h) {
  size_t alen = af == AF_INET ? 4 : 16;
  uint16_t sport, dport;
  memcpy(&sport, a + 2 * alen, 2); /* network order, as sockaddr wants */
  memcpy(&dport, a + 2 * alen + 2, 2);
  if (af == AF_INET) {
    struct sockaddr_in *s = (struct sockaddr_in *)&h->src;
    struct sockaddr_in *d = (struct sockaddr_in *)&h->dst;
    s->sin_family = d->sin_family = AF_INET;
    memcpy(&s->sin_addr, a, 4);
    memcpy(&d->sin_addr, a + 4, 4);
    s->sin_port = sport;
    d->sin_port = dport;
  } else {
    struct sockaddr_in6 *s = (struct sockaddr_in6 *)&h->src;
    struct sockaddr_in6 *d = (struct sockaddr_in6 *)&h->dst;
    s->sin6_family = d->sin6_family = AF_INET6;
    memcpy(&s->sin6_addr, a, 16);
    memcpy(&d->sin6_addr, a + 16, 16);
    s->sin6_port = sport;
    d->sin6_port = dport;
  }
}

static int parse_v2(const unsigned char *b, size_t n, calc_proxy_hdr *h,
                    calc_proxy_err *err) {
  if (n <= 12) return 0;
  unsigned ver = b[12] >> 4, cmd = b[12] & 0x0f;
  if (ver != 2) return fail(err, CALC_PROXY_E_V2_VERSION);
  if (cmd != V2_LOCAL && cmd != V2_PROXY)
    return fail(err, CALC_PROXY_E_V2_COMMAND);
  if (n <= 13) return 0;
  /* LOCAL (a balancer's own health check): the block is discarded,
   * whatever its family. */
  int fi = -1;
  unsigned tr = b[13] & 0x0f;
  if (cmd == V2_PROXY) {
    fi = v2_family(b[13] >> 4);
    if (fi < 0) return fail(err, CALC_PROXY_E_V2_FAMILY);
    if (v2_families[fi].af != AF_UNSPEC && tr != 0x1 && tr != 0x2)
      return fail(err, CALC_PROXY_E_V2_FAMILY);
  }
  if (n < CALC_PROXY_V2_FIXED) return 0;
  size_t blen = (size_t)b[14] << 8 | b[15];
  size_t total = CALC_PROXY_V2_FIXED + blen;
  if (total > CALC_PROXY_V2_MAX) return fail(err, CALC_PROXY_E_V2_TOO_LONG);
  if (fi >= 0 && blen < v2_families[fi].block)
    return fail(err, CALC_PROXY_E_V2_LENGTH);
  if (n < total) return 0;
  memset(h, 0, sizeof *h);
  h->version = 2;
  if (fi < 0 || v2_families[fi].af == AF_UNSPEC) {
    h->local = 1;
    return (int)total;
  }
  /* TLVs after the addresses: type, 16-bit length, value; each must fit. */
  const unsigned char *t = b + CALC_PROXY_V2_FIXED + v2_families[fi].block;
  const unsigned char *e = b + total;
  while (t < e) {
    if (e - t < 3 || (size_t)(e - t - 3) < ((size_t)t[1] << 8 | t[2]))
      return fail(err, CALC_PROXY_E_V2_TLV);
    t += 3 + ((size_t)t[1] << 8 | t[2]);
  }
  h->transport = tr == 0x1 ? SOCK_STREAM : SOCK_DGRAM;
  v2_addrs(b + CALC_PROXY_V2_FIXED, v2_families[fi].af, h);
  return (int)total;
}

int calc_proxy_parse(const void *p, size_t n, calc_proxy_hdr *h,
                     calc_proxy_err *err) {
  const unsigned char *b = p;
  *err = CALC_PROXY_OK;
  if (n == 0) return 0;
  /* Which signature: every byte so far must match one of them. */
  const unsigned char *sig = b[0] == 'P' ? (const unsigned char *)v1_sig
                                         : v2_sig;
  size_t slen = b[0] == 'P' ? V1_SIG_LEN : sizeof v2_sig;
  size_t k = n < slen ? n : slen;
  if (memcmp(b, sig, k) != 0) return fail(err, CALC_PROXY_E_MISSING);
  if (n < slen) return 0;
  return sig == v2_sig ? parse_v2(b, n, h, err)
                       : parse_v1((const char *)b, n, h, err);
}
