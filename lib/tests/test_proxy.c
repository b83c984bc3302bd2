/* SPDX-License-Identifier: MIT
 *
 * test_proxy.c: the PROXY protocol parser (calc_proxy.h).  Every row is fed
 * whole, at every split point (each prefix must say "need more", or for a
 * bad header the same error as the whole), and with calc bytes after it.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

#include <glib.h>

#include "calc_proxy.h"
#include "calc_test.h"

#define V2SIG "\r\n\r\n\0\r\nQUIT\n"
#define LO1 "\x7f\x00\x00\x01"
#define LO2 "\x7f\x00\x00\x02"
#define V6A "\x20\x01\x0d\xb8\0\0\0\0\0\0\0\0\0\0\0\x01" /* 2001:db8::1 */
#define V6B "\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\x01"         /* ::1 */
#define PORTS "\x12\x34" "\x0f\xa0"                      /* 4660, 4000 */

typedef struct row {
  const char *name;
  const char *in;
  size_t len;
  int ret;            /* header length, or -1 */
  calc_proxy_err err;
  int version, local, af, transport;
  const char *src, *dst; /* numeric, when not local */
  unsigned sport, dport;
} row;

#define OK1(n, s, af, a, b, sp, dp) \
  {n, S(s), sizeof(s) - 1, CALC_PROXY_OK, 1, 0, af, SOCK_STREAM, a, b, sp, dp}
#define OK2(n, s, ret, af, tr, a, b, sp, dp) \
  {n, S(s), ret, CALC_PROXY_OK, 2, 0, af, tr, a, b, sp, dp}
#define LOCAL(n, s, ret, v) \
  {n, S(s), ret, CALC_PROXY_OK, v, 1, AF_UNSPEC, 0, NULL, NULL, 0, 0}
#define BAD(n, s, e) \
  {n, S(s), -1, CALC_PROXY_E_##e, 0, 0, 0, 0, NULL, NULL, 0, 0}

static const row rows[] = {
  /* v1, accepted */
  OK1("v1 tcp4", "PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\n",
      AF_INET, "192.168.0.1", "192.168.0.11", 56324, 443),
  OK1("v1 tcp6", "PROXY TCP6 2001:db8::1 ::1 65535 0\r\n", AF_INET6,
      "2001:db8::1", "::1", 65535, 0),
  OK1("v1 tcp6 mapped", "PROXY TCP6 ::ffff:10.0.0.1 ::1 1 2\r\n", AF_INET6,
      "::ffff:10.0.0.1", "::1", 1, 2),
  LOCAL("v1 unknown", "PROXY UNKNOWN\r\n", 15, 1),
  LOCAL("v1 unknown with addresses",
        "PROXY UNKNOWN 1.2.3.4 5.6.7.8 1 2\r\n", 35, 1),
  /* v1, refused */
  BAD("not proxy: a calc line", "1+1\n", MISSING),
  BAD("not proxy: P", "P1+1\n", MISSING),
  BAD("not proxy: PROXY without blank", "PROXY\r\n", MISSING),
  BAD("not proxy: lower case", "proxy TCP4 1.2.3.4 5.6.7.8 1 2\r\n", MISSING),
  BAD("v1 family TCP5", "PROXY TCP5 1.2.3.4 5.6.7.8 1 2\r\n", V1_FAMILY),
  BAD("v1 family UDP4", "PROXY UDP4 1.2.3.4 5.6.7.8 1 2\r\n", V1_FAMILY),
  BAD("v1 family empty", "PROXY \r\n", V1_FAMILY),
  BAD("v1 family only", "PROXY TCP4\r\n", V1_SYNTAX),
  BAD("v1 double blank", "PROXY  TCP4 1.2.3.4 5.6.7.8 1 2\r\n", V1_FAMILY),
  BAD("v1 bare LF", "PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n", V1_SYNTAX),
  BAD("v1 stray CR", "PROXY TCP4 1.2.3.4\r 5.6.7.8 1 2\r\n", V1_SYNTAX),
  BAD("v1 CR CR LF", "PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\r\n", V1_SYNTAX),
  BAD("v1 NUL", "PROXY TCP4 1.2.3.4\0 5.6.7.8 1 2\r\n", V1_SYNTAX),
  BAD("v1 tab", "PROXY TCP4 1.2.3.4\t5.6.7.8 1 2\r\n", V1_SYNTAX),
  BAD("v1 high byte", "PROXY TCP4 1.2.3.4 5.6.7.8 1 2\xff\r\n", V1_SYNTAX),
  BAD("v1 three fields", "PROXY TCP4 1.2.3.4 5.6.7.8 1\r\n", V1_SYNTAX),
  BAD("v1 five fields", "PROXY TCP4 1.2.3.4 5.6.7.8 1 2 3\r\n", V1_SYNTAX),
  BAD("v1 trailing blank", "PROXY TCP4 1.2.3.4 5.6.7.8 1 2 \r\n", V1_SYNTAX),
  BAD("v1 empty field", "PROXY TCP4 1.2.3.4  5.6.7.8 1 2\r\n", V1_SYNTAX),
  BAD("v1 tcp4 with v6", "PROXY TCP4 ::1 ::1 1 2\r\n", V1_ADDRESS),
  BAD("v1 tcp6 with v4", "PROXY TCP6 1.2.3.4 5.6.7.8 1 2\r\n", V1_ADDRESS),
  BAD("v1 bad v4", "PROXY TCP4 1.2.3.256 5.6.7.8 1 2\r\n", V1_ADDRESS),
  BAD("v1 name", "PROXY TCP4 localhost 5.6.7.8 1 2\r\n", V1_ADDRESS),
  BAD("v1 v4 leading zero", "PROXY TCP4 1.2.3.04 5.6.7.8 1 2\r\n", V1_ADDRESS),
  BAD("v1 port 65536", "PROXY TCP4 1.2.3.4 5.6.7.8 65536 2\r\n", V1_PORT),
  BAD("v1 port 6 digits", "PROXY TCP4 1.2.3.4 5.6.7.8 1 100000\r\n", V1_PORT),
  BAD("v1 port leading zero", "PROXY TCP4 1.2.3.4 5.6.7.8 01 2\r\n", V1_PORT),
  BAD("v1 port sign", "PROXY TCP4 1.2.3.4 5.6.7.8 +1 2\r\n", V1_PORT),
  BAD("v1 port hex", "PROXY TCP4 1.2.3.4 5.6.7.8 1 0x10\r\n", V1_PORT),

  /* v2, accepted */
  OK2("v2 inet stream", V2SIG "\x21\x11\x00\x0c" LO1 LO2 PORTS, 28, AF_INET,
      SOCK_STREAM, "127.0.0.1", "127.0.0.2", 4660, 4000),
  OK2("v2 inet dgram", V2SIG "\x21\x12\x00\x0c" LO1 LO2 PORTS, 28, AF_INET,
      SOCK_DGRAM, "127.0.0.1", "127.0.0.2", 4660, 4000),
  OK2("v2 inet6 stream", V2SIG "\x21\x21\x00\x24" V6A V6B PORTS, 52,
      AF_INET6, SOCK_STREAM, "2001:db8::1", "::1", 4660, 4000),
  OK2("v2 inet with TLVs",
      V2SIG "\x21\x11\x00\x1c" LO1 LO2 PORTS
            "\x04\x00\x03" "abc" "\x05\x00\x04" "uid1" "\x03\x00\x00",
      44, AF_INET, SOCK_STREAM, "127.0.0.1", "127.0.0.2", 4660, 4000),
  OK2("v2 inet6 with a padding TLV",
      V2SIG "\x21\x21\x00\x2b" V6A V6B PORTS "\x04\x00\x04" "\0\0\0\0", 59,
      AF_INET6, SOCK_STREAM, "2001:db8::1", "::1", 4660, 4000),
  LOCAL("v2 local unspec", V2SIG "\x20\x00\x00\x00", 16, 2),
  LOCAL("v2 local inet (block ignored)",
        V2SIG "\x20\x11\x00\x0c" LO1 LO2 PORTS, 28, 2),
  LOCAL("v2 local with a unix family (ignored)",
        V2SIG "\x20\x31\x00\x02" "\xff\xff", 18, 2),
  LOCAL("v2 proxy unspec", V2SIG "\x21\x00\x00\x00", 16, 2),
  LOCAL("v2 proxy unspec with a block", V2SIG "\x21\x00\x00\x03" "xyz",
        19, 2),
  /* v2, refused */
  BAD("v2 signature broken", "\r\n\r\n\0\r\nQUIT\r", MISSING),
  BAD("v2 CR LF then calc", "\r\n1+1\n", MISSING),
  BAD("v2 version 1", V2SIG "\x11\x11\x00\x0c" LO1 LO2 PORTS, V2_VERSION),
  BAD("v2 version 3", V2SIG "\x31\x11\x00\x0c" LO1 LO2 PORTS, V2_VERSION),
  BAD("v2 command 2", V2SIG "\x22\x11\x00\x0c" LO1 LO2 PORTS, V2_COMMAND),
  BAD("v2 command 15", V2SIG "\x2f\x11\x00\x0c" LO1 LO2 PORTS, V2_COMMAND),
  BAD("v2 family unix", V2SIG "\x21\x31\x00\x0c" LO1 LO2 PORTS, V2_FAMILY),
  BAD("v2 family 4", V2SIG "\x21\x41\x00\x0c" LO1 LO2 PORTS, V2_FAMILY),
  BAD("v2 family 15", V2SIG "\x21\xf1\x00\x0c" LO1 LO2 PORTS, V2_FAMILY),
  BAD("v2 inet transport unspec", V2SIG "\x21\x10\x00\x0c" LO1 LO2 PORTS,
      V2_FAMILY),
  BAD("v2 inet transport 3", V2SIG "\x21\x13\x00\x0c" LO1 LO2 PORTS,
      V2_FAMILY),
  BAD("v2 inet block 11", V2SIG "\x21\x11\x00\x0b" LO1 LO2 "\x12\x34\x0f",
      V2_LENGTH),
  BAD("v2 inet block 0", V2SIG "\x21\x11\x00\x00", V2_LENGTH),
  BAD("v2 inet6 block 35", V2SIG "\x21\x21\x00\x23" V6A V6B "\x12\x34\x0f",
      V2_LENGTH),
  BAD("v2 inet6 with an inet block", V2SIG "\x21\x21\x00\x0c" LO1 LO2 PORTS,
      V2_LENGTH),
  BAD("v2 length 65535", V2SIG "\x21\x11\xff\xff", V2_TOO_LONG),
  BAD("v2 local length 65535", V2SIG "\x20\x00\xff\xff", V2_TOO_LONG),
  BAD("v2 TLV value overruns",
      V2SIG "\x21\x11\x00\x11" LO1 LO2 PORTS "\x04\x00\x03" "ab", V2_TLV),
  BAD("v2 TLV header cut",
      V2SIG "\x21\x11\x00\x0e" LO1 LO2 PORTS "\x04\x00", V2_TLV),
  BAD("v2 TLV one byte", V2SIG "\x21\x11\x00\x0d" LO1 LO2 PORTS "\x04",
      V2_TLV),
};

static void check_addr(const row *r, const struct sockaddr_storage *ss,
                       const char *want, unsigned port, const char *which) {
  char got[INET6_ADDRSTRLEN] = "";
  unsigned gp = 0;
  if (ss->ss_family == AF_INET) {
    const struct sockaddr_in *a = (const struct sockaddr_in *)ss;
    inet_ntop(AF_INET, &a->sin_addr, got, sizeof got);
    gp = ntohs(a->sin_port);
  } else if (ss->ss_family == AF_INET6) {
    const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)ss;
    inet_ntop(AF_INET6, &a->sin6_addr, got, sizeof got);
    gp = ntohs(a->sin6_port);
  }
  if (ss->ss_family != r->af || strcmp(got, want) != 0 || gp != port)
    FAIL("%s: %s is %d %s:%u, want %d %s:%u", r->name, which,
         ss->ss_family, got, gp, r->af, want, port);
}

/* One parse of the first n bytes of buf, checked against the row. */
static void check_whole(const row *r, const char *buf, size_t n) {
  calc_proxy_hdr h;
  calc_proxy_err e = CALC_PROXY_E_COUNT_;
  memset(&h, 0xa5, sizeof h);
  int got = calc_proxy_parse(buf, n, &h, &e);
  if (got != r->ret || e != r->err) {
    FAIL("%s (%zu bytes): got %d %s, want %d %s", r->name, n, got,
         calc_proxy_err_token(e) ? calc_proxy_err_token(e) : "ok", r->ret,
         calc_proxy_err_token(r->err) ? calc_proxy_err_token(r->err) : "ok");
    return;
  }
  if (got < 0) return;
  if (h.version != r->version || h.local != r->local ||
      h.transport != r->transport)
    FAIL("%s: version %d local %d transport %d", r->name, h.version,
         h.local, h.transport);
  if (r->local) {
    if (h.src.ss_family != AF_UNSPEC || h.dst.ss_family != AF_UNSPEC)
      FAIL("%s: local header with addresses", r->name);
    return;
  }
  check_addr(r, &h.src, r->src, r->sport, "source");
  check_addr(r, &h.dst, r->dst, r->dport, "destination");
}

static void test_rows(void) {
  for (size_t i = 0; i < G_N_ELEMENTS(rows); i++) {
    const row *r = &rows[i];
    /* Every split point: need more, or already the same error. */
    for (size_t k = 0; k < r->len; k++) {
      calc_proxy_hdr h;
      calc_proxy_err e;
      int got = calc_proxy_parse(r->in, k, &h, &e);
      if (got == 0 && e == CALC_PROXY_OK) continue;
      if (got == -1 && r->ret == -1 && e == r->err) continue;
      FAIL("%s: prefix of %zu bytes: got %d %s", r->name, k, got,
           calc_proxy_err_token(e) ? calc_proxy_err_token(e) : "ok");
    }
    check_whole(r, r->in, r->len);
    /* The calc stream after it changes nothing. */
    char buf[256];
    g_assert_cmpuint(r->len + 8, <=, sizeof buf);
    memcpy(buf, r->in, r->len);
    memcpy(buf + r->len, "1+1\n2*3\n", 8);
    check_whole(r, buf, r->len + 8);
  }
}

/* Each error kind has a row, a token and a description. */
static void test_errors_covered(void) {
  for (int e = 1; e < CALC_PROXY_E_COUNT_; e++) {
    g_assert_nonnull(calc_proxy_err_token((calc_proxy_err)e));
    g_assert_nonnull(calc_proxy_err_describe((calc_proxy_err)e));
    int seen = 0;
    for (size_t i = 0; i < G_N_ELEMENTS(rows); i++)
      seen |= rows[i].err == (calc_proxy_err)e;
    if (!seen && e != CALC_PROXY_E_V1_TOO_LONG)
      FAIL("no row for %s", calc_proxy_err_token((calc_proxy_err)e));
  }
  g_assert_null(calc_proxy_err_token(CALC_PROXY_OK));
  g_assert_null(calc_proxy_err_token(CALC_PROXY_E_COUNT_));
}

/* v1 at and past CALC_PROXY_V1_MAX: the specification's worst case line
 * is 107 bytes; one byte more (or 107 without LF) is refused. */
static void test_v1_limit(void) {
  static const char ff[] = "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff";
  char line[CALC_PROXY_V1_MAX + 16];
  int n = snprintf(line, sizeof line, "PROXY UNKNOWN %s %s 65535 65535\r\n",
                   ff, ff);
  g_assert_cmpint(n, ==, CALC_PROXY_V1_MAX);
  calc_proxy_hdr h;
  calc_proxy_err e;
  for (int k = 0; k < n; k++)
    g_assert_cmpint(calc_proxy_parse(line, (size_t)k, &h, &e), ==, 0);
  g_assert_cmpint(calc_proxy_parse(line, (size_t)n, &h, &e), ==, n);
  g_assert_true(h.local);
  n = snprintf(line, sizeof line, "PROXY TCP6 %s %s 65535 65535\r\n", ff, ff);
  g_assert_cmpint(calc_proxy_parse(line, (size_t)n, &h, &e), ==, n);
  g_assert_cmpint(h.src.ss_family, ==, AF_INET6);
  /* 108 bytes: no LF within the first 107. */
  n = snprintf(line, sizeof line, "PROXY UNKNOWN %s %s 65535 655355\r\n",
               ff, ff);
  g_assert_cmpint(n, ==, CALC_PROXY_V1_MAX + 1);
  for (int k = 0; k < CALC_PROXY_V1_MAX; k++)
    g_assert_cmpint(calc_proxy_parse(line, (size_t)k, &h, &e), ==, 0);
  for (int k = CALC_PROXY_V1_MAX; k <= n; k++) {
    g_assert_cmpint(calc_proxy_parse(line, (size_t)k, &h, &e), ==, -1);
    g_assert_cmpint(e, ==, CALC_PROXY_E_V1_TOO_LONG);
  }
}

/* v2 at and past CALC_PROXY_V2_MAX: one padding TLV fills the rest. */
static void test_v2_limit(void) {
  static unsigned char b[CALC_PROXY_V2_MAX + 1];
  for (int extra = 0; extra <= 1; extra++) {
    size_t total = CALC_PROXY_V2_MAX + (size_t)extra;
    size_t blen = total - CALC_PROXY_V2_FIXED, tlv = blen - 12 - 3;
    memset(b, 0, sizeof b);
    memcpy(b, V2SIG, 12);
    b[12] = 0x21;
    b[13] = 0x11;
    b[14] = (unsigned char)(blen >> 8);
    b[15] = (unsigned char)blen;
    memcpy(b + 16, LO1 LO2 PORTS, 12);
    b[28] = 0x04;
    b[29] = (unsigned char)(tlv >> 8);
    b[30] = (unsigned char)tlv;
    calc_proxy_hdr h;
    calc_proxy_err e;
    if (!extra) {
      g_assert_cmpint(calc_proxy_parse(b, total - 1, &h, &e), ==, 0);
      g_assert_cmpint(calc_proxy_parse(b, total, &h, &e), ==, (int)total);
    } else {
      g_assert_cmpint(calc_proxy_parse(b, CALC_PROXY_V2_FIXED, &h, &e), ==,
                      -1);
      g_assert_cmpint(e, ==, CALC_PROXY_E_V2_TOO_LONG);
    }
  }
}

/* Never "need more" once CALC_PROXY_MAX bytes are there, whatever they
 * are: a prefix of each row padded with each byte value. */
static void test_decides_within_max(void) {
  static char b[CALC_PROXY_MAX];
  for (size_t i = 0; i < G_N_ELEMENTS(rows); i++)
    for (size_t k = 0; k <= rows[i].len; k++)
      for (int fill = 0; fill < 256; fill += 51) {
        memset(b, fill, sizeof b);
        memcpy(b, rows[i].in, k);
        calc_proxy_hdr h;
        calc_proxy_err e;
        if (calc_proxy_parse(b, sizeof b, &h, &e) == 0)
          FAIL("%s: %zu bytes then 0x%02x: still needs more", rows[i].name,
               k, fill);
      }
}

int main(int argc, char **argv) {
  g_test_init(&argc, &argv, NULL);
  g_test_set_nonfatal_assertions();
  g_test_add_func("/proxy/rows", test_rows);
  g_test_add_func("/proxy/errors-covered", test_errors_covered);
  g_test_add_func("/proxy/v1-limit", test_v1_limit);
  g_test_add_func("/proxy/v2-limit", test_v2_limit);
  g_test_add_func("/proxy/decides-within-max", test_decides_within_max);
  return g_test_run();
}
