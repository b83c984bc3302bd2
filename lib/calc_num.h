/* SPDX-License-Identifier: MIT
 *
 * calc_num.h: Python 3 number semantics for the evaluator (internal to lib).
 *
 * A value is a small int (int64), a big int (GMP) or a float (double).
 * Operations follow CPython 3.11: exact ints, floor division and modulo
 * with the divisor's sign, correctly rounded int/int division, float
 * rules of float_pow and _float_div_mod, and repr() output.  Big ints are
 * bounded: a result predicted or found to exceed max_int_bits is an error
 * before (or instead of) being kept.
 */
#ifndef CALC_NUM_H
#define CALC_NUM_H

#include <locale.h>
#include <stddef.h>
#include <stdint.h>

#include <gmp.h>

#include "calc_err.h"
#include "calc_expr.h"

typedef enum calc_vtype { CALC_V_INT, CALC_V_BIG, CALC_V_FLOAT } calc_vtype;

typedef struct calc_val {
  calc_vtype type;
  int64_t i;  /* CALC_V_INT */
  double f;   /* CALC_V_FLOAT */
  mpz_t z;    /* CALC_V_BIG; initialised once, reused (no per-op malloc) */
} calc_val;

typedef struct calc_numenv {
  unsigned max_int_bits;
  uint64_t work;     /* limb operations spent on the current request */
  uint64_t max_work; /* ... and the most it may spend */
  mpz_t t;           /* scratch for the right operand */
  locale_t cloc;     /* "C" numeric locale: '.' whatever the process uses */
  const char *msg;   /* message of the last error */
  char msgbuf[128];
} calc_numenv;

/* Returns 0, or -1 when out of memory. */
int calc_num_env_init(calc_numenv *e, unsigned max_int_bits,
                      unsigned max_work);
void calc_num_env_clear(calc_numenv *e);

/* a = a <op> b for a binary operator op.  b may be clobbered. */
calc_err calc_num_binop(calc_numenv *e, calc_op op, calc_val *a, calc_val *b);

/* a = -a. */
void calc_num_neg(calc_val *a);

/* a = the int written as NUL-terminated digits in base (2, 8, 10, 16). */
calc_err calc_num_set_digits(calc_numenv *e, calc_val *a, const char *digits,
                             int base);

/* a = the float literal in NUL-terminated s (no underscores). */
void calc_num_set_float(calc_numenv *e, calc_val *a, const char *s);

/* Write a's Python str() to out (NUL-terminated), at most max_digits
 * digits for an int (else CALC_E_TOO_LARGE).  cap >= max_digits + 3. */
calc_err calc_num_format(calc_numenv *e, const calc_val *a,
                         unsigned max_digits, char *out, size_t cap,
                         size_t *len);

/* Python's repr() of a double: shortest round-trip digits. cap >= 32. */
size_t calc_num_repr_double(calc_numenv *e, double d, char *out, size_t cap);

/* The same text by an exact search through snprintf and strtod, ~10x
 * slower: the reference that lib/tests/test_dtoa.c checks the fast one
 * against. */
size_t calc_num_repr_double_exact(calc_numenv *e, double d, char *out,
                                  size_t cap);

#endif /* CALC_NUM_H */
