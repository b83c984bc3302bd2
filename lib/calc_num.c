/* SPDX-License-Identifier: MIT
 *
 * calc_num.c: Python 3 arithmetic on small ints, big ints and floats.
 *
 * Each operator dispatches on the operand types: int op int stays exact
 * (int64 fast path, GMP when it overflows), anything with a float converts
 * the int with correct rounding (or OverflowError) and follows CPython's
 * float code.  The CPython functions mirrored are named where they are.
 */
#define _GNU_SOURCE /* strtod_l */
#include "calc_num.h"
#include "calc_dtoa.h"

#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DBL_MANT 53 /* DBL_MANT_DIG */

int calc_num_env_init(calc_numenv *e, unsigned max_int_bits,
                      unsigned max_work) {
  e->max_int_bits = max_int_bits;
  e->work = 0;
  e->max_work = max_work;
  e->msg = "";
  e->msgbuf[0] = '\0';
  e->cloc = newlocale(LC_NUMERIC_MASK, "C", (locale_t)0);
  if (e->cloc == (locale_t)0) return -1;
  mpz_init(e->t);
  return 0;
}

void calc_num_env_clear(calc_numenv *e) {
  mpz_clear(e->t);
  freelocale(e->cloc);
}

static calc_err fail(calc_numenv *e, calc_err kind, const char *msg) {
  e->msg = msg;
  return kind;
}

static calc_err too_large(calc_numenv *e) {
  snprintf(e->msgbuf, sizeof e->msgbuf,
           "integer intermediate result exceeds %u bits", e->max_int_bits);
  e->msg = e->msgbuf;
  return CALC_E_TOO_LARGE;
}

/* Spend `units` limb operations of the request's budget: every value is
 * bounded by max_int_bits, but a 4 KB request can hold hundreds of
 * operations on such values; the budget bounds their total cost. */
static calc_err charge(calc_numenv *e, uint64_t units) {
  e->work += units;
  if (e->work <= e->max_work) return CALC_OK;
  snprintf(e->msgbuf, sizeof e->msgbuf,
           "integer arithmetic needs more than %llu limb operations "
           "(work limit)",
           (unsigned long long)e->max_work);
  e->msg = e->msgbuf;
  return CALC_E_TOO_LARGE;
}

static uint64_t limbs(const calc_val *a) {
  return a->type == CALC_V_BIG ? (uint64_t)mpz_size(a->z) : 1;
}

/* Costs in limb products (one ~0.1-0.2 ns unit of GMP multiplication on
 * the benchmark machine): a product is la * lb; a division about three
 * times its quotient-by-divisor product; a power r^2/2 for an r-limb
 * result (squarings of growing size); a sum la + lb. */
static uint64_t div_cost(uint64_t la, uint64_t lb) {
  return 3 * (la > lb ? la - lb + 1 : 1) * lb + la;
}

/* Store z in a, as a small int when it fits. */
static void set_big(calc_val *a, const mpz_t z) {
  if (mpz_fits_slong_p(z)) {
    a->type = CALC_V_INT;
    a->i = mpz_get_si(z);
  } else {
    if (a->z != z) mpz_set(a->z, z);
    a->type = CALC_V_BIG;
  }
}

/* Normalise a (whose z holds the value) after an in-place GMP op. */
static calc_err big_done(calc_numenv *e, calc_val *a) {
  if (mpz_sizeinbase(a->z, 2) > e->max_int_bits) return too_large(e);
  set_big(a, a->z);
  return CALC_OK;
}

/* The int value of a as an mpz: a's own z (made current) or scratch t. */
static void as_mpz(calc_val *a) {
  if (a->type == CALC_V_INT) mpz_set_si(a->z, a->i);
}

static size_t int_bits(const calc_val *a) {
  if (a->type == CALC_V_BIG) return mpz_sizeinbase(a->z, 2);
  uint64_t m = a->i < 0 ? -(uint64_t)a->i : (uint64_t)a->i;
  return m ? 64 - (size_t)__builtin_clzll(m) : 1;
}

/* ---- int -> float ------------------------------------------------------ */

/* |z| rounded half-even to a double (CPython PyLong_AsDouble), or an
 * OverflowError. */
static calc_err big_to_double(calc_numenv *e, const mpz_t z, double *out) {
  size_t nbits = mpz_sizeinbase(z, 2);
  if (nbits <= DBL_MANT) {
    *out = mpz_get_d(z);
    return CALC_OK;
  }
  if (nbits > DBL_MAX_EXP)
    return fail(e, CALC_E_OVERFLOW, "int too large to convert to float");
  size_t shift = nbits - (DBL_MANT + 1); /* keep 54 bits: 53 + round bit */
  mpz_tdiv_q_2exp(e->t, z, shift);
  mpz_abs(e->t, e->t);
  uint64_t q = mpz_get_ui(e->t);
  int sticky = mpz_scan1(z, 0) < shift;
  if ((q & 1) && (sticky || (q & 2))) q += 2;
  q >>= 1;
  double d = ldexp((double)q, (int)(shift + 1));
  if (isinf(d))
    return fail(e, CALC_E_OVERFLOW, "int too large to convert to float");
  *out = mpz_sgn(z) < 0 ? -d : d;
  return CALC_OK;
}

static calc_err to_double(calc_numenv *e, const calc_val *a, double *out) {
  switch (a->type) {
  case CALC_V_FLOAT: *out = a->f; return CALC_OK;
  case CALC_V_INT: *out = (double)a->i; return CALC_OK; /* rounds to even */
  default: return big_to_double(e, a->z, out);
  }
}

/* ---- int / int ---------------------------------------------------------- */

/* a / b correctly rounded (CPython long_true_divide). */
static calc_err int_true_div(calc_numenv *e, calc_val *a, calc_val *b,
                             double *out) {
  const int64_t lim = (int64_t)1 << DBL_MANT;
  if (b->type == CALC_V_INT && b->i == 0)
    return fail(e, CALC_E_ZERO_DIV, "division by zero");
  if (a->type == CALC_V_INT && b->type == CALC_V_INT && a->i <= lim &&
      a->i >= -lim && b->i <= lim && b->i >= -lim) {
    *out = (double)a->i / (double)b->i; /* both exact: one rounding */
    return CALC_OK;
  }
  as_mpz(a);
  as_mpz(b);
  int negate = (mpz_sgn(a->z) < 0) != (mpz_sgn(b->z) < 0);
  mpz_abs(a->z, a->z);
  mpz_abs(b->z, b->z);
  if (mpz_sgn(a->z) == 0) {
    *out = negate ? -0.0 : 0.0;
    return CALC_OK;
  }
  long diff = (long)mpz_sizeinbase(a->z, 2) - (long)mpz_sizeinbase(b->z, 2);
  if (diff > DBL_MAX_EXP)
    return fail(e, CALC_E_OVERFLOW,
                "integer division result too large for a float");
  if (diff < DBL_MIN_EXP - DBL_MANT - 1) {
    *out = negate ? -0.0 : 0.0;
    return CALC_OK;
  }
  long shift = (diff > DBL_MIN_EXP ? diff : DBL_MIN_EXP) - DBL_MANT - 2;
  int inexact = 0;
  if (shift <= 0) {
    mpz_mul_2exp(a->z, a->z, (mp_bitcnt_t)-shift);
  } else {
    if (mpz_scan1(a->z, 0) < (mp_bitcnt_t)shift) inexact = 1;
    mpz_tdiv_q_2exp(a->z, a->z, (mp_bitcnt_t)shift);
  }
  calc_err cost = charge(e, div_cost(mpz_size(a->z), mpz_size(b->z)));
  if (cost) return cost;
  mpz_tdiv_qr(a->z, e->t, a->z, b->z);
  if (mpz_sgn(e->t) != 0) inexact = 1;
  long x_bits = (long)mpz_sizeinbase(a->z, 2);
  uint64_t x = mpz_get_ui(a->z); /* at most DBL_MANT + 3 bits */
  long extra = (x_bits > DBL_MIN_EXP - shift ? x_bits : DBL_MIN_EXP - shift) -
               DBL_MANT;
  uint64_t mask = (uint64_t)1 << (extra - 1);
  uint64_t low = x | (uint64_t)inexact;
  if ((low & mask) && (low & (3 * mask - 1))) low += mask;
  x = low & ~(2 * mask - 1);
  double dx = (double)x; /* exact */
  if (shift + x_bits >= DBL_MAX_EXP &&
      (shift + x_bits > DBL_MAX_EXP || dx == ldexp(1.0, (int)x_bits)))
    return fail(e, CALC_E_OVERFLOW,
                "integer division result too large for a float");
  double r = ldexp(dx, (int)shift);
  *out = negate ? -r : r;
  return CALC_OK;
}

/* ---- floats -------------------------------------------------------------- */

/* CPython _float_div_mod. */
static void float_divmod(double vx, double wx, double *floordiv, double *mod) {
  double div;
  *mod = fmod(vx, wx);
  div = (vx - *mod) / wx;
  if (*mod) {
    if ((wx < 0) != (*mod < 0)) {
      *mod += wx;
      div -= 1.0;
    }
  } else {
    *mod = copysign(0.0, wx);
  }
  if (div) {
    *floordiv = floor(div);
    if (div - *floordiv > 0.5) *floordiv += 1.0;
  } else {
    *floordiv = copysign(0.0, vx / wx);
  }
}

static int is_odd_integer(double w) { return fmod(fabs(w), 2.0) == 1.0; }

/* CPython float_pow, with complex results refused. */
static calc_err float_pow(calc_numenv *e, double iv, double iw, double *out) {
  if (iw == 0) { *out = 1.0; return CALC_OK; }
  if (isnan(iv)) { *out = iv; return CALC_OK; }
  if (isnan(iw)) { *out = iv == 1.0 ? 1.0 : iw; return CALC_OK; }
  if (isinf(iw)) {
    iv = fabs(iv);
    if (iv == 1.0) *out = 1.0;
    else if ((iw > 0.0) == (iv > 1.0)) *out = fabs(iw);
    else *out = 0.0;
    return CALC_OK;
  }
  if (isinf(iv)) {
    int odd = is_odd_integer(iw);
    if (iw > 0.0) *out = odd ? iv : fabs(iv);
    else *out = odd ? copysign(0.0, iv) : 0.0;
    return CALC_OK;
  }
  if (iv == 0.0) {
    if (iw < 0.0)
      return fail(e, CALC_E_ZERO_DIV,
                  "0.0 cannot be raised to a negative power");
    *out = is_odd_integer(iw) ? iv : 0.0;
    return CALC_OK;
  }
  int negate = 0;
  if (iv < 0.0) {
    if (iw != floor(iw)) { /* Python goes complex: _Py_c_pow */
      if (isinf(pow(-iv, iw)))
        return fail(e, CALC_E_OVERFLOW, "complex exponentiation overflow");
      return fail(e, CALC_E_DOMAIN,
                  "negative number raised to a fractional power is complex");
    }
    iv = -iv;
    negate = is_odd_integer(iw);
  }
  if (iv == 1.0) { *out = negate ? -1.0 : 1.0; return CALC_OK; }
  double r = pow(iv, iw);
  if (isinf(r))
    return fail(e, CALC_E_OVERFLOW, "float power result out of range");
  *out = negate ? -r : r;
  return CALC_OK;
}

static calc_err float_binop(calc_numenv *e, calc_op op, double x, double y,
                            calc_val *a) {
  double r, q, m;
  switch (op) {
  case CALC_OP_ADD: r = x + y; break;
  case CALC_OP_SUB: r = x - y; break;
  case CALC_OP_MUL: r = x * y; break;
  case CALC_OP_DIV:
    if (y == 0.0) return fail(e, CALC_E_ZERO_DIV, "float division by zero");
    r = x / y;
    break;
  case CALC_OP_FLOORDIV:
    if (y == 0.0)
      return fail(e, CALC_E_ZERO_DIV, "float floor division by zero");
    float_divmod(x, y, &q, &m);
    r = q;
    break;
  case CALC_OP_MOD:
    if (y == 0.0) return fail(e, CALC_E_ZERO_DIV, "float modulo by zero");
    float_divmod(x, y, &q, &m);
    r = m;
    break;
  case CALC_OP_POW: {
    calc_err err = float_pow(e, x, y, &r);
    if (err) return err;
    break;
  }
  default: return fail(e, CALC_E_INTERNAL, "bad operator");
  }
  a->type = CALC_V_FLOAT;
  a->f = r;
  return CALC_OK;
}

/* ---- ints ---------------------------------------------------------------- */

/* int ** int for b >= 0: size predicted before computing. */
static calc_err int_pow(calc_numenv *e, calc_val *a, calc_val *b) {
  if (b->type == CALC_V_INT && b->i == 0) {
    a->type = CALC_V_INT;
    a->i = 1;
    return CALC_OK;
  }
  if (a->type == CALC_V_INT && (a->i == 0 || a->i == 1)) return CALC_OK;
  if (a->type == CALC_V_INT && a->i == -1) {
    int odd = b->type == CALC_V_INT ? (b->i & 1) : mpz_odd_p(b->z);
    a->i = odd ? -1 : 1;
    return CALC_OK;
  }
  if (b->type == CALC_V_BIG) return too_large(e); /* |a| >= 2 */
  uint64_t n = (uint64_t)b->i;
  if (a->type == CALC_V_INT) { /* fast path: square and multiply */
    int64_t base = a->i, acc = 1;
    uint64_t k = n;
    int ok = 1;
    for (;;) {
      if (k & 1) ok &= !__builtin_mul_overflow(acc, base, &acc);
      k >>= 1;
      if (!k || !ok) break;
      ok &= !__builtin_mul_overflow(base, base, &base);
      if (!ok) break;
    }
    if (ok) {
      a->i = acc;
      return CALC_OK;
    }
  }
  /* log2|a| * n predicts the result's size within a bit. */
  as_mpz(a);
  long ex;
  double mant = mpz_get_d_2exp(&ex, a->z);
  double bits = ((double)ex + log2(fabs(mant))) * (double)n;
  if (bits > (double)e->max_int_bits + 1) return too_large(e);
  /* GMP powers only the odd part of a and shifts: 2**65535 is cheap. */
  double odd = bits - (double)mpz_scan1(a->z, 0) * (double)n;
  uint64_t rl = (uint64_t)(bits / 64) + 1, ol = (uint64_t)(odd / 64) + 1;
  calc_err cost = charge(e, ol * ol / 2 + rl);
  if (cost) return cost;
  mpz_pow_ui(a->z, a->z, (unsigned long)n);
  return big_done(e, a);
}

static calc_err int_binop(calc_numenv *e, calc_op op, calc_val *a,
                          calc_val *b) {
  if (a->type == CALC_V_INT && b->type == CALC_V_INT) {
    int64_t x = a->i, y = b->i, r;
    switch (op) {
    case CALC_OP_ADD:
      if (!__builtin_add_overflow(x, y, &r)) { a->i = r; return CALC_OK; }
      break;
    case CALC_OP_SUB:
      if (!__builtin_sub_overflow(x, y, &r)) { a->i = r; return CALC_OK; }
      break;
    case CALC_OP_MUL:
      if (!__builtin_mul_overflow(x, y, &r)) { a->i = r; return CALC_OK; }
      break;
    case CALC_OP_FLOORDIV:
    case CALC_OP_MOD:
      if (y == 0)
        return fail(e, CALC_E_ZERO_DIV,
                    op == CALC_OP_MOD ? "integer modulo by zero"
                                      : "integer division or modulo by zero");
      if (!(x == INT64_MIN && y == -1)) {
        int64_t q = x / y, m = x % y;
        if (m != 0 && ((m < 0) != (y < 0))) {
          q--;
          m += y;
        }
        a->i = op == CALC_OP_MOD ? m : q;
        return CALC_OK;
      }
      break;
    default: break;
    }
  }
  switch (op) {
  case CALC_OP_DIV: {
    double r;
    calc_err err = int_true_div(e, a, b, &r);
    if (err) return err;
    a->type = CALC_V_FLOAT;
    a->f = r;
    return CALC_OK;
  }
  case CALC_OP_POW:
    if ((b->type == CALC_V_INT && b->i < 0) ||
        (b->type == CALC_V_BIG && mpz_sgn(b->z) < 0)) {
      double x, y; /* int ** negative int is float ** float */
      calc_err err = to_double(e, a, &x);
      if (!err) err = to_double(e, b, &y);
      return err ? err : float_binop(e, op, x, y, a);
    }
    return int_pow(e, a, b);
  case CALC_OP_MUL:
    if (int_bits(a) + int_bits(b) - 1 > e->max_int_bits) return too_large(e);
    break;
  case CALC_OP_FLOORDIV:
  case CALC_OP_MOD:
    if ((b->type == CALC_V_INT && b->i == 0))
      return fail(e, CALC_E_ZERO_DIV,
                  op == CALC_OP_MOD ? "integer modulo by zero"
                                    : "integer division or modulo by zero");
    break;
  default: break;
  }
  uint64_t la = limbs(a), lb = limbs(b);
  calc_err cost = charge(e, op == CALC_OP_MUL ? la * lb
                            : op == CALC_OP_FLOORDIV || op == CALC_OP_MOD
                                ? div_cost(la, lb)
                                : la + lb);
  if (cost) return cost;
  as_mpz(a);
  as_mpz(b);
  switch (op) {
  case CALC_OP_ADD: mpz_add(a->z, a->z, b->z); break;
  case CALC_OP_SUB: mpz_sub(a->z, a->z, b->z); break;
  case CALC_OP_MUL: mpz_mul(a->z, a->z, b->z); break;
  case CALC_OP_FLOORDIV: mpz_fdiv_q(a->z, a->z, b->z); break;
  case CALC_OP_MOD: mpz_fdiv_r(a->z, a->z, b->z); break;
  default: return fail(e, CALC_E_INTERNAL, "bad operator");
  }
  return big_done(e, a);
}

calc_err calc_num_binop(calc_numenv *e, calc_op op, calc_val *a, calc_val *b) {
  if (a->type != CALC_V_FLOAT && b->type != CALC_V_FLOAT)
    return int_binop(e, op, a, b);
  double x, y;
  calc_err err = to_double(e, a, &x);
  if (!err) err = to_double(e, b, &y);
  return err ? err : float_binop(e, op, x, y, a);
}

void calc_num_neg(calc_val *a) {
  switch (a->type) {
  case CALC_V_FLOAT: a->f = -a->f; break;
  case CALC_V_INT:
    if (a->i != INT64_MIN) {
      a->i = -a->i;
      break;
    }
    mpz_set_si(a->z, a->i);
    mpz_neg(a->z, a->z);
    a->type = CALC_V_BIG;
    break;
  case CALC_V_BIG:
    mpz_neg(a->z, a->z);
    set_big(a, a->z);
    break;
  }
}

calc_err calc_num_set_digits(calc_numenv *e, calc_val *a, const char *digits,
                             int base) {
  if (mpz_set_str(a->z, digits, base) != 0)
    return fail(e, CALC_E_INTERNAL, "bad literal");
  if (mpz_sizeinbase(a->z, 2) > e->max_int_bits) return too_large(e);
  set_big(a, a->z);
  return CALC_OK;
}

/* m x 10^e10 correctly rounded when Clinger's fast path applies: m and
 * 10^|e10| are exact doubles, so one IEEE multiply or divide rounds once
 * and gives what strtod gives.  Returns 0 when it does not apply. */
static int exact_decimal(uint64_t m, int e10, double *out) {
  static const double p10[] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,
                               1e7,  1e8,  1e9,  1e10, 1e11, 1e12, 1e13,
                               1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20,
                               1e21, 1e22};
  /* FLT_EVAL_METHOD != 0: excess precision (x87) would round twice. */
  if (FLT_EVAL_METHOD != 0 || m > (uint64_t)1 << DBL_MANT || e10 < -22 ||
      e10 > 22)
    return 0;
  *out = e10 >= 0 ? (double)m * p10[e10] : (double)m / p10[-e10];
  return 1;
}

/* A float literal without underscores as m x 10^e10 (m < 10^19); 0 when it
 * has more significant digits or a long exponent. */
static int split_decimal(const char *s, uint64_t *m, int *e10) {
  uint64_t v = 0;
  int nd = 0, frac = 0, dot = 0;
  for (;; s++) {
    if (*s >= '0' && *s <= '9') {
      frac += dot;
      if (v == 0 && *s == '0') continue; /* leading zeros */
      if (++nd > 19) return 0;
      v = v * 10 + (uint64_t)(*s - '0');
    } else if (*s == '.' && !dot) {
      dot = 1;
    } else {
      break;
    }
  }
  long ex = 0;
  if (*s == 'e' || *s == 'E') {
    int neg = 0, k = 0;
    s++;
    if (*s == '+' || *s == '-') neg = *s++ == '-';
    for (; *s >= '0' && *s <= '9'; s++) {
      if (++k > 6) return 0;
      ex = ex * 10 + (*s - '0');
    }
    if (neg) ex = -ex;
  }
  if (*s) return 0;
  *m = v;
  *e10 = (int)(ex - frac);
  return 1;
}

void calc_num_set_float(calc_numenv *e, calc_val *a, const char *s) {
  uint64_t m;
  int e10;
  a->type = CALC_V_FLOAT;
  if (split_decimal(s, &m, &e10) && exact_decimal(m, e10, &a->f)) return;
  a->f = strtod_l(s, NULL, e->cloc); /* 1e309 is inf, as in Python */
}

/* ---- output -------------------------------------------------------------- */

/* Decimal digits of |d| rounded to prec significant digits: digits[] (no
 * dot) and the decimal exponent of the first digit. */
static int sig_digits(double d, int prec, char *digits, int *exp10) {
  char buf[48];
  snprintf(buf, sizeof buf, "%.*e", prec - 1, fabs(d));
  int n = 0;
  const char *p = buf;
  for (; *p && *p != 'e'; p++)
    if (*p >= '0' && *p <= '9') digits[n++] = *p; /* skips any locale dot */
  digits[n] = '\0';
  *exp10 = *p == 'e' ? atoi(p + 1) : 0;
  return n;
}

/* Whether digits (n of them) x 10^(exp10-n+1) reads back as d. */
static int round_trips(calc_numenv *e, double d, const char *digits, int n,
                       int exp10) {
  char buf[48];
  uint64_t m = 0;
  double back;
  int e10 = exp10 - n + 1;
  for (int i = 0; i < n; i++) m = m * 10 + (uint64_t)(digits[i] - '0');
  if (n <= 19 && exact_decimal(m, e10, &back)) return back == fabs(d);
  /* "<digits>e<e10>", built by hand: snprintf costs as much as strtod */
  memcpy(buf, digits, (size_t)n);
  size_t k = (size_t)n;
  buf[k++] = 'e';
  if (e10 < 0) buf[k++] = '-';
  unsigned u = e10 < 0 ? (unsigned)-e10 : (unsigned)e10;
  char rev[8];
  int r = 0;
  do rev[r++] = (char)('0' + u % 10); while ((u /= 10) != 0);
  while (r) buf[k++] = rev[--r];
  buf[k] = '\0';
  return strtod_l(buf, NULL, e->cloc) == fabs(d);
}

/* digits +/- one unit in the last place, keeping n digits (the exponent
 * moves across a power of ten); 0 if impossible. */
static int step_digits(char *digits, int n, int *exp10, int up) {
  int i = n - 1;
  if (up) {
    while (i >= 0 && digits[i] == '9') digits[i--] = '0';
    if (i < 0) { /* 99..9 + 1 = 100..0: one more digit */
      digits[0] = '1';
      (*exp10)++;
      return 1;
    }
    digits[i]++;
  } else {
    while (i >= 0 && digits[i] == '0') digits[i--] = '9';
    if (i < 0) return 0;
    if (i == 0 && digits[0] == '1') { /* 100..0 - 1 = 99..9, one place down */
      digits[0] = '9';
      (*exp10)--;
      return 1;
    }
    digits[i]--;
  }
  return 1;
}

/* Shortest digits that read back as finite nonzero d (David Gay's mode 0,
 * as CPython), by search: the fewest digits p for which the correctly
 * rounded p-digit string, or (where the rounding interval is lopsided) its
 * neighbour, reads back.  For a normal double, if any string of <= 15
 * digits reads back, rounding to 15 digits gives it padded with zeros, so
 * the search starts at 15.  Exact but slow (200-600 ns): the reference for
 * calc_dtoa_shortest() and the fallback where doubles are not binary64. */
static int exact_digits(calc_numenv *e, double d, char *digits, int *exp10p) {
  char alt[24];
  int exp10 = 0, n = 0, ok = 0;
  int p = fabs(d) >= DBL_MIN ? 15 : 1;
  for (; !ok && p <= 17; p++) {
    n = sig_digits(d, p, digits, &exp10);
    ok = round_trips(e, d, digits, n, exp10);
    if (p == 15 && fabs(d) >= DBL_MIN) {
      if (ok) break;
      continue; /* a 15-digit neighbour would have been the rounding */
    }
    for (int up = 0; !ok && up < 2; up++) {
      int aexp = exp10;
      memcpy(alt, digits, (size_t)n + 1);
      if (step_digits(alt, n, &aexp, up) && round_trips(e, d, alt, n, aexp)) {
        memcpy(digits, alt, (size_t)n + 1);
        exp10 = aexp;
        ok = 1;
      }
    }
  }
  while (n > 1 && digits[n - 1] == '0') n--;
  *exp10p = exp10;
  return n;
}

static size_t repr_double(calc_numenv *e, double d, char *out, size_t cap,
                          int exact) {
  if (isnan(d)) return (size_t)snprintf(out, cap, "nan");
  if (isinf(d)) return (size_t)snprintf(out, cap, d < 0 ? "-inf" : "inf");
  if (d == 0.0) return (size_t)snprintf(out, cap, signbit(d) ? "-0.0" : "0.0");

  char digits[24];
  int exp10, n;
  if (exact || !CALC_DTOA_IEEE)
    n = exact_digits(e, d, digits, &exp10);
  else
    n = calc_dtoa_shortest(d, digits, &exp10);

  /* repr layout: fixed when -4 <= exponent < 16, else d.ddde+XX. */
  char buf[64];
  size_t k = 0;
  if (signbit(d)) buf[k++] = '-';
  if (exp10 < -4 || exp10 >= 16) {
    buf[k++] = digits[0];
    if (n > 1) {
      buf[k++] = '.';
      memcpy(buf + k, digits + 1, (size_t)n - 1);
      k += (size_t)n - 1;
    }
    /* "e%c%02d" by hand: snprintf would cost as much as the digits */
    int a = abs(exp10);
    buf[k++] = 'e';
    buf[k++] = exp10 < 0 ? '-' : '+';
    if (a >= 100) buf[k++] = (char)('0' + a / 100);
    buf[k++] = (char)('0' + a / 10 % 10);
    buf[k++] = (char)('0' + a % 10);
  } else if (exp10 < 0) {
    buf[k++] = '0';
    buf[k++] = '.';
    for (int z = -1; z > exp10; z--) buf[k++] = '0';
    memcpy(buf + k, digits, (size_t)n);
    k += (size_t)n;
  } else {
    int intd = exp10 + 1; /* digits before the point */
    for (int i = 0; i < intd; i++) buf[k++] = i < n ? digits[i] : '0';
    buf[k++] = '.';
    if (n > intd) {
      memcpy(buf + k, digits + intd, (size_t)(n - intd));
      k += (size_t)(n - intd);
    } else {
      buf[k++] = '0';
    }
  }
  buf[k] = '\0';
  if (k >= cap) k = cap - 1;
  memcpy(out, buf, k);
  out[k] = '\0';
  return k;
}

size_t calc_num_repr_double(calc_numenv *e, double d, char *out, size_t cap) {
  return repr_double(e, d, out, cap, 0);
}

size_t calc_num_repr_double_exact(calc_numenv *e, double d, char *out,
                                  size_t cap) {
  return repr_double(e, d, out, cap, 1);
}

/* Decimal text of v into out (cap >= 21). */
static size_t format_i64(int64_t v, char *out) {
  char tmp[24];
  size_t n = 0, k = 0;
  uint64_t m = v < 0 ? -(uint64_t)v : (uint64_t)v;
  do {
    tmp[n++] = (char)('0' + m % 10);
    m /= 10;
  } while (m);
  if (v < 0) out[k++] = '-';
  while (n) out[k++] = tmp[--n];
  out[k] = '\0';
  return k;
}

calc_err calc_num_format(calc_numenv *e, const calc_val *a,
                         unsigned max_digits, char *out, size_t cap,
                         size_t *len) {
  switch (a->type) {
  case CALC_V_INT:
    if (max_digits < 19) { /* a tightened limit may bite small ints too */
      char tmp[24];
      size_t k = format_i64(a->i, tmp);
      if (k - (a->i < 0) > max_digits) break;
    }
    *len = format_i64(a->i, out);
    return CALC_OK;
  case CALC_V_FLOAT:
    *len = calc_num_repr_double(e, a->f, out, cap);
    return CALC_OK;
  case CALC_V_BIG: {
    size_t est = mpz_sizeinbase(a->z, 10); /* exact or one too many */
    if (est > (size_t)max_digits + 1 || est + 2 > cap) break;
    if (est == (size_t)max_digits + 1) { /* one digit too many, or not:
                                            a power is cheaper than text */
      mpz_ui_pow_ui(e->t, 10, max_digits);
      if (mpz_cmpabs(a->z, e->t) >= 0) break;
    }
    mpz_get_str(out, 10, a->z);
    size_t k = strlen(out);
    if (k - (mpz_sgn(a->z) < 0) > max_digits) break;
    *len = k;
    return CALC_OK;
  }
  }
  snprintf(e->msgbuf, sizeof e->msgbuf, CALC_MSG_INT_DIGITS, max_digits);
  e->msg = e->msgbuf;
  return CALC_E_TOO_LARGE;
}
