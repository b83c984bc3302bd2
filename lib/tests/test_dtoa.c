/* SPDX-License-Identifier: MIT
 *
 * test_dtoa.c: repr() of doubles, the fast Schubfach digits (calc_dtoa.c
 * through calc_num_repr_double) against the exact search
 * (calc_num_repr_double_exact) and against Python 3.11's repr().
 *
 * Oracles: Python's output for fixed values; the exact search, byte for
 * byte, on millions of doubles; for decimals of up to 17 digits, no more
 * digits than they have, and for up to 15 their own digits (a double
 * holds every 15-digit decimal, so repr gives it back).  The
 * power-of-ten table is recomputed with GMP.  Random parts are seeded
 * (seed printed); CALC_DTOA_SEED and CALC_DTOA_SCALE (multiplies the
 * counts) override.  A one-off comparison of millions of random doubles
 * with Python itself: lib/tests/repr_vs_python.py.
 */
#define _GNU_SOURCE /* strtod_l */
#include <float.h>
#include <inttypes.h>
#include <locale.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <glib.h>
#include <gmp.h>

#include "calc_dtoa.h"
#include "calc_dtoa_pow10.h"
#include "calc_num.h"
#include "calc_test.h"

#define MAX_REPORTS 20

static calc_numenv env;
static uint64_t rng_state;
static double scale = 1.0;
static unsigned long checked, failures;

static uint64_t rnd(void) { /* splitmix64 */
  uint64_t z = (rng_state += UINT64_C(0x9e3779b97f4a7c15));
  z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
  z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
  return z ^ (z >> 31);
}

static double of_bits(uint64_t b) {
  double d;
  memcpy(&d, &b, sizeof d);
  return d;
}

static uint64_t bits_of(double d) {
  uint64_t b;
  memcpy(&b, &d, sizeof b);
  return b;
}

static unsigned long count(unsigned long n) {
  double k = n * scale;
  return k < 1 ? 1 : (unsigned long)k;
}

/* The significant digits of a repr text ("0.00120" -> "12"), into dig
 * when not NULL; returns how many. */
static int sig_digits(const char *text, char *dig) {
  char buf[40];
  int k = 0;
  for (const char *p = text; *p && *p != 'e'; p++)
    if (*p >= '0' && *p <= '9' && (k > 0 || *p != '0')) buf[k++] = *p;
  while (k > 1 && buf[k - 1] == '0') k--;
  if (k == 0) buf[k++] = '0';
  buf[k] = '\0';
  if (dig) memcpy(dig, buf, (size_t)k + 1);
  return k;
}

/* The fast repr of d equals the exact one (which only ever prints digits
 * that strtod read back as d); returns its significant digit count (0 for
 * a special value). */
static int check(double d) {
  char fast[40], exact[40];
  calc_num_repr_double(&env, d, fast, sizeof fast);
  checked++;
  if (isnan(d) || isinf(d) || d == 0) return 0;
  calc_num_repr_double_exact(&env, d, exact, sizeof exact);
  if (strcmp(fast, exact) != 0) {
    if (++failures <= MAX_REPORTS)
      FAIL("%a (bits %016" PRIx64 "): fast %s, exact %s", d, bits_of(d),
           fast, exact);
    return 0;
  }
  return sig_digits(fast, NULL);
}

static void check_neighbours(double d, int ulps) {
  check(d);
  double lo = d, hi = d;
  for (int i = 0; i < ulps; i++) {
    lo = nextafter(lo, -INFINITY);
    hi = nextafter(hi, INFINITY);
    check(lo);
    check(hi);
  }
}

static void start(const char *what) {
  checked = failures = 0;
  g_test_message("%s", what);
}

static void finish(void) {
  g_test_message("%lu doubles checked, %lu mismatches", checked, failures);
  if (failures) FAIL("%lu of %lu doubles differ", failures, checked);
}

/* ---- Python's own output --------------------------------------------- */

typedef struct py_case {
  double d;
  const char *repr; /* Python 3.11 repr(d) */
} py_case;

/* From /usr/bin/python3: print(v.hex(), repr(v)). */
static const py_case python_rows[] = {
    {0x0.0000000000001p-1022, "5e-324"},
    {0x0.0000000000002p-1022, "1e-323"},
    {0x0.0000000000003p-1022, "1.5e-323"},
    {0x1.0000000000000p-1022, "2.2250738585072014e-308"},
    {0x0.fffffffffffffp-1022, "2.225073858507201e-308"},
    {0x1.8000000000000p-1022, "3.337610787760802e-308"},
    {0x1.fffffffffffffp+1023, "1.7976931348623157e+308"},
    {0x1.ffffffffffffep+1023, "1.7976931348623155e+308"},
    {0x1.0000000000000p+1023, "8.98846567431158e+307"},
    {0x0.8000000000000p-1022, "1.1125369292536007e-308"},
    {0x0.05c0ab9347ed7p-1022, "5e-310"},
    {0x0.000000001e240p-1022, "6.09954e-319"},
    {0x1.a74fe1c1e8908p-997, "1.2345678901234568e-300"},
    {0x1.0000000000000p-1000, "9.332636185032189e-302"},
    {0x1.0000000000000p-100, "7.888609052210118e-31"},
    {0x1.0000000000000p-44, "5.684341886080802e-14"},
    {0x1.0000000000000p+100, "1.2676506002282294e+30"},
    {0x1.0000000000000p+200, "1.6069380442589903e+60"},
    {0x1.0000000000000p+1000, "1.0715086071862673e+301"},
    {0x1.0000000000000p+53, "9007199254740992.0"},
    {0x1.fffffffffffffp+52, "9007199254740991.0"},
    {0x1.0000000000001p+53, "9007199254740994.0"},
    {0x1.8000000000000p+54, "2.7021597764222976e+16"},
    {0x1.0000000000000p+54, "1.8014398509481984e+16"},
    {0x1.c6bf526340000p+49, "1000000000000000.0"},
    {0x1.1c37937e08000p+53, "1e+16"},
    {0x1.1c37937e07fffp+53, "9999999999999998.0"},
    {0x1.aa535d3d0c000p+53, "1.5e+16"},
    {0x1.5ee2a2eb5a5c4p+53, "1.2345678901234568e+16"},
    {0x1.6345785d8a000p+56, "1e+17"},
    {0x1.b69b4ba630f35p+56, "1.2345678901234568e+17"},
    {0x1.b1ae4d6e2ef50p+69, "1e+21"},
    {0x1.0f0cf064dd592p+73, "1e+22"},
    {0x1.c7e83209e90b2p+72, "8.41e+21"},
    {0x1.52d02c7e14af6p+76, "1e+23"},
    {0x1.1ccf385ebc8a0p+1023, "1e+308"},
    {0x1.0000000000001p+50, "1125899906842624.2"}, /* ties: even digit */
    {0x1.0000000000003p+50, "1125899906842624.8"},
    {0x1.4f8b588e368f1p-17, "1e-05"},
    {0x1.a36e2eb1c432dp-16, "2.5e-05"},
    {0x1.a36e2eb1c432dp-14, "0.0001"},
    {0x1.0624dd2f1a9fcp-10, "0.001"},
    {0x1.999999999999ap-4, "0.1"},
    {0x1.999999999999ap-3, "0.2"},
    {0x1.3333333333333p-2, "0.3"},
    {0x1.3333333333334p-2, "0.30000000000000004"},
    {0x1.5555555555555p-2, "0.3333333333333333"},
    {0x1.5555555555555p-1, "0.6666666666666666"},
    {0x1.80d43de9cc603p-31, "7e-10"},
    {0x1.12e0be826d695p-31, "5e-10"},
    {0x1.0000000000000p-1, "0.5"},
    {0x1.8000000000000p+0, "1.5"},
    {0x1.199999999999ap+0, "1.1"},
    {0x1.0000000000001p+0, "1.0000000000000002"},
    {0x1.fffffffffffffp-1, "0.9999999999999999"},
    {0x1.1666666666666p+2, "4.35"},
    {0x1.921f9f01b866ep+2, "6.28318"},
    {0x1.6a09e667f3bcdp+0, "1.4142135623730951"},
    {0x1.9000000000000p+6, "100.0"},
    {0x1.d6f3454000000p+26, "123456789.0"},
    {-0x1.999999999999ap-4, "-0.1"},
    {-0x0.0000000000001p-1022, "-5e-324"},
    {-0x1.fffffffffffffp+1023, "-1.7976931348623157e+308"},
    {0.0, "0.0"},
    {-0.0, "-0.0"},
    {INFINITY, "inf"},
    {-INFINITY, "-inf"},
    {NAN, "nan"},
};

static void test_python(void) {
  for (size_t i = 0; i < G_N_ELEMENTS(python_rows); i++) {
    const py_case *r = &python_rows[i];
    char fast[40], exact[40];
    calc_num_repr_double(&env, r->d, fast, sizeof fast);
    calc_num_repr_double_exact(&env, r->d, exact, sizeof exact);
    if (strcmp(fast, r->repr) != 0 || strcmp(exact, r->repr) != 0)
      FAIL("%a: Python %s, fast %s, exact %s", r->d, r->repr, fast, exact);
  }
}

/* ---- the table --------------------------------------------------------- */

/* Every CALC_DTOA_G[k] is floor(10^-k 2^-r) + 1, r = floor(log2 10^-k) -
 * 125, recomputed with exact integers. */
static void test_table(void) {
  mpz_t p, g, want;
  mpz_inits(p, g, want, NULL);
  g_assert_cmpint(G_N_ELEMENTS(CALC_DTOA_G), ==,
                  CALC_DTOA_K_MAX - CALC_DTOA_K_MIN + 1);
  for (int k = CALC_DTOA_K_MIN; k <= CALC_DTOA_K_MAX; k++) {
    /* 10^|k| has bit length L: log2 10^-k is in [L-1, L) for k <= 0, and
     * -log2 10^k in (-L, -L+1) for k > 0 (10^k is not a power of two). */
    mpz_ui_pow_ui(p, 10, (unsigned long)abs(k));
    long bl = (long)mpz_sizeinbase(p, 2);
    long flog2 = k <= 0 ? bl - 1 : -bl;
    long shift = 125 - flog2; /* g - 1 = floor(10^-k 2^shift) */
    if (k <= 0) {
      if (shift >= 0) mpz_mul_2exp(want, p, (mp_bitcnt_t)shift);
      else mpz_fdiv_q_2exp(want, p, (mp_bitcnt_t)-shift);
    } else {
      mpz_set_ui(want, 1);
      mpz_mul_2exp(want, want, (mp_bitcnt_t)shift);
      mpz_fdiv_q(want, want, p);
    }
    mpz_add_ui(want, want, 1);
    const uint64_t *e = CALC_DTOA_G[k - CALC_DTOA_K_MIN];
    mpz_set_ui(g, (unsigned long)(e[0] >> 32));
    mpz_mul_2exp(g, g, 32);
    mpz_add_ui(g, g, (unsigned long)(e[0] & 0xffffffffu));
    mpz_mul_2exp(g, g, 31);
    mpz_add_ui(g, g, (unsigned long)(e[1] >> 32));
    mpz_mul_2exp(g, g, 32);
    mpz_add_ui(g, g, (unsigned long)(e[1] & 0xffffffffu));
    if (e[1] >> 63 || mpz_cmp(g, want) != 0 ||
        mpz_sizeinbase(g, 2) != 126)
      FAIL("table entry for k = %d is wrong", k);
  }
  mpz_clears(p, g, want, NULL);
}

/* ---- doubles ----------------------------------------------------------- */

/* Random bit patterns: every exponent equally likely, both signs. */
static void test_random_bits(void) {
  start("random bit patterns");
  unsigned long n = count(2000000);
  for (unsigned long i = 0; i < n; i++) check(of_bits(rnd()));
  finish();
}

/* Every power of two, each with two neighbours on either side: the
 * lopsided rounding intervals (and the regular one at the smallest
 * normal). */
static void test_powers_of_two(void) {
  start("powers of two");
  for (int e = -1074; e <= 1023; e++) {
    check_neighbours(ldexp(1.0, e), 2);
    check_neighbours(-ldexp(1.0, e), 1);
  }
  /* Largest significands too: 2^e (2 - 2^-52). */
  for (int e = -1022; e <= 1023; e++)
    check_neighbours(ldexp(0x1.fffffffffffffp+0, e), 1);
  finish();
}

/* The smallest subnormals in order, the last ones before DBL_MIN, the
 * first normals after it, and random subnormals. */
static void test_subnormals(void) {
  start("subnormals");
  unsigned long n = count(25000); /* the exact search is slow here */
  for (uint64_t t = 1; t <= n; t++) check(of_bits(t));
  uint64_t min_normal = bits_of(DBL_MIN);
  for (uint64_t t = 1; t <= n; t++) {
    check(of_bits(min_normal - t));
    check(of_bits(min_normal + t - 1));
  }
  for (unsigned long i = 0; i < n; i++)
    check(of_bits(rnd() & ((UINT64_C(1) << 52) - 1)));
  check_neighbours(DBL_MAX, 3);
  check_neighbours(DBL_MIN, 3);
  check_neighbours(DBL_TRUE_MIN, 0);
  finish();
}

/* Integers around 2^53 (where the integer shortcut stops and the spacing
 * becomes 2), around powers of ten (1, 2 and 5 times: where repr switches
 * to exponents at 1e16 and 1e-5, and the digit count changes), and doubles of the form k/4 in [2^50, 2^51): their digits end in
 * 25 or 75, the only exact ties between two shortest candidates. */
static void test_integers_and_ties(void) {
  start("integers and ties");
  unsigned long n = count(100000);
  double two53 = 9007199254740992.0;
  for (unsigned long i = 0; i < n; i++) {
    check(two53 - (double)i);
    check(two53 + 2.0 * (double)i);
    check(-(two53 + (double)i));
  }
  for (int e = -325; e <= 309; e++) { /* 10^e, 2 10^e, 5 10^e */
    /* Room for any two ints: GCC 14+ checks the format against int's
     * range, not the loop bounds (-Wformat-truncation). */
    char in[sizeof "-2147483648e-2147483648"];
    for (int m = 1; m <= 5; m += m == 1 ? 1 : 3) {
      snprintf(in, sizeof in, "%de%d", m, e);
      check_neighbours(strtod_l(in, NULL, env.cloc), 3);
    }
  }
  for (unsigned long i = 0; i < n; i++) {
    check(ldexp(1.0, 50) + (double)i + 0.25);
    check(ldexp(1.0, 50) + (double)i + 0.75);
  }
  for (unsigned long i = 0; i < n; i++) /* random k/4 with k odd */
    check(ldexp((double)((rnd() >> 12) | (UINT64_C(1) << 52) | 1), -2));
  finish();
}

/* Decimals of 1 to 17 significant digits at every decimal exponent:
 * shortest output has at most as many digits, and exactly the same ones
 * for up to 15 (normal doubles; DBL_DIG is 15). */
static void test_decimals(void) {
  start("decimals of 1-17 digits");
  unsigned long n = count(40);
  char in[48], fast[40];
  for (int ex = -340; ex <= 310; ex++) {
    for (int nd = 1; nd <= 17; nd++) {
      for (unsigned long i = 0; i < n; i++) {
        uint64_t m = rnd() % 9 + 1; /* no leading zero */
        for (int j = 1; j < nd; j++) m = m * 10 + rnd() % 10;
        while (m % 10 == 0 && m > 9) m /= 10; /* nd counts digits kept */
        snprintf(in, sizeof in, "%" PRIu64 "e%d", m, ex);
        double d = strtod_l(in, NULL, env.cloc);
        int got = check(d);
        if (d == 0 || isinf(d)) continue;
        int want = snprintf(fast, sizeof fast, "%" PRIu64, m);
        if (got > want) {
          if (++failures <= MAX_REPORTS)
            FAIL("%s: %d digits, not shortest", in, got);
        } else if (want <= 15 && fabs(d) >= DBL_MIN) {
          /* the same digits back: compare m with the output's digits */
          char dig[40], ms[24];
          calc_num_repr_double(&env, d, fast, sizeof fast);
          sig_digits(fast, dig);
          snprintf(ms, sizeof ms, "%" PRIu64, m);
          if (strcmp(dig, ms) != 0 && ++failures <= MAX_REPORTS)
            FAIL("%s: repr %s has other digits", in, fast);
        }
      }
    }
  }
  finish();
}

int main(int argc, char **argv) {
  g_test_init(&argc, &argv, NULL);
  g_test_set_nonfatal_assertions();
  if (calc_num_env_init(&env, 65536, 1u << 23) != 0) return 1;
  const char *s = g_getenv("CALC_DTOA_SEED");
  rng_state = s ? g_ascii_strtoull(s, NULL, 0) : (uint64_t)g_get_real_time();
  g_test_message("CALC_DTOA_SEED=%" PRIu64, rng_state);
  s = g_getenv("CALC_DTOA_SCALE");
  if (s && g_ascii_strtod(s, NULL) > 0) scale = g_ascii_strtod(s, NULL);

  g_test_add_func("/dtoa/python", test_python);
  g_test_add_func("/dtoa/table", test_table);
  g_test_add_func("/dtoa/powers_of_two", test_powers_of_two);
  g_test_add_func("/dtoa/subnormals", test_subnormals);
  g_test_add_func("/dtoa/integers_and_ties", test_integers_and_ties);
  g_test_add_func("/dtoa/decimals", test_decimals);
  g_test_add_func("/dtoa/random_bits", test_random_bits);
  int rc = g_test_run();
  calc_num_env_clear(&env);
  return rc;
}
