/* SPDX-License-Identifier: MIT
 *
 * calc_err.h: the one table of error kinds.
 *
 * Every error the project can report, whether the evaluator, a server, a
 * client or the dissector sees it, is one row here.  A row gives the enum
 * name, the stable token that goes on the wire ("ERR <token>: <message>"),
 * and a one-line description used by documentation and the dissector.
 * Tokens never change once published; add rows at the end.
 */
#ifndef CALC_ERR_H
#define CALC_ERR_H

#include <stdarg.h>
#include <stddef.h>

/* X(name, token, description) */
#define CALC_ERR_MAP(X)                                                       \
  X(SYNTAX,      "syntax",       "not a valid arithmetic expression")         \
  X(UNSUPPORTED, "unsupported",  "valid Python, but not served arithmetic")   \
  X(ZERO_DIV,    "zero-division","division or modulo by zero")               \
  X(OVERFLOW,    "overflow",     "float result or conversion out of range")   \
  X(DOMAIN,      "domain",       "result would be a complex number")          \
  X(TOO_LARGE,   "too-large",    "an integer or reply exceeds a size limit")  \
  X(TOO_LONG,    "too-long",     "request longer than the length limit")      \
  X(TOO_DEEP,    "too-deep",     "parentheses nested beyond the depth limit") \
  X(BUSY,        "busy",         "server at a connection limit, or stopping")  \
  X(INTERNAL,    "internal",     "server out of memory or internal failure")

/* CALC_OK is 0; error kinds are small positive numbers in table order.
 * The numbering is internal (the dissector and clients key on tokens). */
typedef enum calc_err {
  CALC_OK = 0,
#define CALC_ERR_ENUM_(name, token, desc) CALC_E_##name,
  CALC_ERR_MAP(CALC_ERR_ENUM_)
#undef CALC_ERR_ENUM_
  CALC_E_COUNT_
} calc_err;

/* The wire token of kind e ("syntax", ...), or NULL for CALC_OK and
 * values outside the table. */
const char *calc_err_token(calc_err e);

/* The one-line description of kind e, or NULL as above. */
const char *calc_err_describe(calc_err e);

/* The kind whose token is the n bytes at s, or CALC_OK when none is. */
calc_err calc_err_from_token(const char *s, size_t n);

/* The one writer of an error line: "ERR <token>: <message>" (the message
 * from fmt), or "ERR <token>" when fmt is NULL (a reply shortened by the
 * UDP bound).  Writes at most cap - 1 bytes and a NUL into out (cap >= 1)
 * and returns the length written, cut to fit.  Every ERR line on the wire,
 * the evaluator's, calc_answer()'s and the servers', comes from here. */
size_t calc_err_line(char *out, size_t cap, calc_err e, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
size_t calc_err_vline(char *out, size_t cap, calc_err e, const char *fmt,
                      va_list ap) __attribute__((format(printf, 4, 0)));

#endif /* CALC_ERR_H */
