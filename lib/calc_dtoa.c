/* SPDX-License-Identifier: MIT
 *
 * calc_dtoa.c: shortest round-trip digits of a double by Raffaello
 * Giulietti's Schubfach algorithm ("The Schubfach way to render doubles",
 * 2020-2022), written here from the paper.
 *
 * A finite positive double is v = c 2^q (c < 2^53).  Every real in its
 * rounding interval R = [vl, vr] reads back as v: vl = v - 2^q/2 (or
 * v - 2^q/4 when c = 2^52 above the smallest exponent: the double below
 * is closer), vr = v + 2^q/2, both ends included iff c is even (strtod
 * rounds a tie to the even significand).
 *
 * Take k = floor(log10 of R's width): then R is 1 to 10 units of 10^k
 * wide, so it holds at least one multiple of 10^k and at most one of
 * 10^(k+1).  With s = floor(v / 10^k), the candidates are
 *   u' = 10 floor(s/10) 10^k, w' = u' + 10^(k+1)  (one digit shorter)
 *   u  = s 10^k,              w  = u + 10^k        (full length)
 * and the answer is the one of u', w' inside R, else the one of u, w
 * inside R, else (both are) the closer to v, the even one on a tie.
 * Deciding "inside R" exactly needs v, vl, vr times 10^-k: the table
 * holds 10^-k as a 126-bit g rounded up, and the products are rounded to
 * odd (the low bit records "inexact"), which the paper proves enough for
 * every comparison above to come out as it would in exact arithmetic.
 * All in 64-bit integers, no loop over digits, no allocation.
 */
#include "calc_dtoa.h"

#include <stdint.h>
#include <string.h>

#include "calc_dtoa_pow10.h"

#define C_MIN ((uint64_t)1 << 52) /* hidden bit: smallest normal c */
#define MASK63 (((uint64_t)1 << 63) - 1)

/* floor(x / 2^s) for negative x too (>> of a negative is
 * implementation-defined in C). */
static int floor_shr(int64_t x, int s) {
  return (int)(x >= 0 ? x >> s : ~(~x >> s));
}

/* floor((x M + A) / 2^S) with the generator's checked constants. */
#define FLOG(name, x)                                                      \
  floor_shr((int64_t)(x) * CALC_DTOA_##name##_M + CALC_DTOA_##name##_A,    \
            CALC_DTOA_##name##_S)

/* The high 64 bits of a * b. */
static uint64_t mul_hi(uint64_t a, uint64_t b) {
#ifdef __SIZEOF_INT128__
  __extension__ typedef unsigned __int128 u128;
  return (uint64_t)(((u128)a * b) >> 64);
#else
  uint64_t a0 = (uint32_t)a, a1 = a >> 32, b0 = (uint32_t)b, b1 = b >> 32;
  uint64_t p00 = a0 * b0, p01 = a0 * b1, p10 = a1 * b0, p11 = a1 * b1;
  uint64_t mid = (p00 >> 32) + (uint32_t)p01 + (uint32_t)p10;
  return p11 + (p01 >> 32) + (p10 >> 32) + (mid >> 32);
#endif
}

/* cp g / 2^127 rounded to odd, g = g1 2^63 + g0 (g0, g1, cp < 2^63):
 * floor(cp g1 / 2^64 + cp g0 / 2^127) = y1 + the carry out of z, and the
 * low bit set when z's other 63 bits show a fraction. */
static uint64_t round_odd(uint64_t g1, uint64_t g0, uint64_t cp) {
  uint64_t x1 = mul_hi(g0, cp);
  uint64_t y0 = g1 * cp, y1 = mul_hi(g1, cp);
  uint64_t z = (y0 >> 1) + x1;
  return (y1 + (z >> 63)) | (((z & MASK63) + MASK63) >> 63);
}

static const char pairs[201] =
    "00010203040506070809101112131415161718192021222324252627282930313233"
    "34353637383940414243444546474849505152535455565758596061626364656667"
    "6869707172737475767778798081828384858687888990919293949596979899";

/* f 10^e (0 < f < 10^18) as digits without trailing zeros and the
 * exponent of the first one. */
static int emit(uint64_t f, int e, char *digits, int *exp10) {
  while (f % 100000000 == 0) { /* up to 16 trailing zeros: 8 8 4 2 1 */
    f /= 100000000;
    e += 8;
  }
  if (f % 10000 == 0) {
    f /= 10000;
    e += 4;
  }
  if (f % 100 == 0) {
    f /= 100;
    e += 2;
  }
  if (f % 10 == 0) {
    f /= 10;
    e += 1;
  }
  char tmp[20], *end = tmp + sizeof tmp, *p = end;
  while (f >= 100) {
    p -= 2;
    memcpy(p, pairs + 2 * (f % 100), 2);
    f /= 100;
  }
  if (f >= 10) {
    p -= 2;
    memcpy(p, pairs + 2 * f, 2);
  } else {
    *--p = (char)('0' + f);
  }
  int n = (int)(end - p);
  memcpy(digits, p, (size_t)n);
  digits[n] = '\0';
  *exp10 = e + n - 1;
  return n;
}

int calc_dtoa_shortest(double d, char *digits, int *exp10) {
  uint64_t bits;
  memcpy(&bits, &d, sizeof bits);
  uint64_t c = bits & (C_MIN - 1);
  int be = (int)(bits >> 52) & 0x7ff;
  int q = CALC_DTOA_Q_MIN;
  if (be != 0) { /* normal; else subnormal: c = the fraction, q = Q_MIN */
    c |= C_MIN;
    q = be - 1075;
    /* An integer below 2^53: its own digits are the shortest (a string
     * with fewer is another integer, at least 1 away; R reaches 1/4). */
    if (q < 0 && q > -53 && (c & (((uint64_t)1 << -q) - 1)) == 0)
      return emit(c >> -q, 0, digits, exp10);
  }

  /* R scaled by 4 (bits for the quarter and half units of 2^q). */
  uint64_t out = c & 1; /* odd: the ends of R are excluded */
  uint64_t cb = c << 2, cbr = cb + 2, cbl;
  int k;
  if (c != C_MIN || q == CALC_DTOA_Q_MIN) {
    cbl = cb - 2;
    k = FLOG(FLOG10POW2, q);
  } else {
    cbl = cb - 1; /* lopsided: 3/4 of the usual width */
    k = FLOG(FLOG10THREEQUARTERSPOW2, q);
  }
  /* cb 2^q 10^-k ~ (cb << h) g / 2^127, 2 <= h <= 5 (cb << h < 2^60). */
  int h = q + FLOG(FLOG2POW10, -k) + 2;
  const uint64_t *g = CALC_DTOA_G[k - CALC_DTOA_K_MIN];
  uint64_t vb = round_odd(g[0], g[1], cb << h);
  uint64_t vbl = round_odd(g[0], g[1], cbl << h);
  uint64_t vbr = round_odd(g[0], g[1], cbr << h);

  uint64_t s = vb >> 2; /* floor(v / 10^k) */
  uint64_t sp = s / 10 * 10, tp = sp + 10;
  int upin = vbl + out <= sp << 2, wpin = (tp << 2) + out <= vbr;
  if (upin != wpin) return emit(upin ? sp : tp, k, digits, exp10);

  uint64_t t = s + 1;
  int uin = vbl + out <= s << 2, win = (t << 2) + out <= vbr;
  if (uin != win) return emit(uin ? s : t, k, digits, exp10);
  /* Both inside R: the closer to v (vb against the midpoint 4s + 2). */
  uint64_t mid = (s + t) << 1;
  int lower = vb < mid || (vb == mid && (s & 1) == 0);
  return emit(lower ? s : t, k, digits, exp10);
}
