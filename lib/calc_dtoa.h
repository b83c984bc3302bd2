/* SPDX-License-Identifier: MIT
 *
 * calc_dtoa.h: shortest round-trip decimal digits of a double (internal to
 * lib): the digits of Python's repr(), in constant time.
 */
#ifndef CALC_DTOA_H
#define CALC_DTOA_H

#include <float.h>

/* calc_dtoa_shortest() reads the bits of an IEEE 754 binary64; elsewhere
 * calc_num.c keeps to its exact (slow) search. */
#if FLT_RADIX == 2 && DBL_MANT_DIG == 53 && DBL_MIN_EXP == -1021 && \
    DBL_MAX_EXP == 1024
#define CALC_DTOA_IEEE 1
#else
#define CALC_DTOA_IEEE 0
#endif

/* For finite nonzero d: the fewest significant digits that read back as
 * |d| (round-half-even reading, as strtod), of those the closest to |d|,
 * of two equally close the even one; that is David Gay's dtoa mode 0, which
 * Python's repr() uses.  Writes them to digits (cap >= 18, NUL-terminated,
 * no trailing zeros), the decimal exponent of the first digit to *exp10,
 * and returns how many (1..17). */
int calc_dtoa_shortest(double d, char *digits, int *exp10);

#endif /* CALC_DTOA_H */
