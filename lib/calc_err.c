/* SPDX-License-Identifier: MIT
 * calc_err.c: lookups over the error table in calc_err.h. */
#include "calc_err.h"

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
