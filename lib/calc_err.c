/* SPDX-License-Identifier: MIT
 * calc_err.c: lookups over the error table in calc_err.h. */
#include "calc_err.h"

#include <stdio.h>
#include <string.h>

static const struct {
  const char *token;
  const char *desc;
} calc_err_rows[] = {
  {NULL, NULL}, /* CALC_OK */
#define CALC_ERR_ROW_(name, token, desc) {token, desc},
  CALC_ERR_MAP(CALC_ERR_ROW_)
#undef CALC_ERR_ROW_
};

const char *calc_err_token(calc_err e) {
  if ((int)e <= 0 || e >= CALC_E_COUNT_) return NULL;
  return calc_err_rows[e].token;
}

const char *calc_err_describe(calc_err e) {
  if ((int)e <= 0 || e >= CALC_E_COUNT_) return NULL;
  return calc_err_rows[e].desc;
}

calc_err calc_err_from_token(const char *s, size_t n) {
  for (int e = 1; e < CALC_E_COUNT_; e++) {
    const char *t = calc_err_rows[e].token;
    if (strlen(t) == n && memcmp(t, s, n) == 0) return (calc_err)e;
  }
  return CALC_OK;
}

size_t calc_err_vline(char *out, size_t cap, calc_err e, const char *fmt,
                      va_list ap) {
  const char *t = calc_err_token(e);
  int k = snprintf(out, cap, fmt ? "ERR %s: " : "ERR %s", t ? t : "internal");
  if (k < 0) k = 0;
  if ((size_t)k >= cap) return cap - 1;
  if (fmt) {
    int m = vsnprintf(out + k, cap - (size_t)k, fmt, ap);
    if (m > 0) k += m;
  }
  return (size_t)k < cap ? (size_t)k : cap - 1;
}

size_t calc_err_line(char *out, size_t cap, calc_err e, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  size_t n = calc_err_vline(out, cap, e, fmt, ap);
  va_end(ap);
  return n;
}
