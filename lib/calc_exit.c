/* SPDX-License-Identifier: MIT
 * calc_exit.c: lookups over the exit-code table in calc_exit.h. */
#include "calc_exit.h"

#include <stddef.h>

const char *calc_exit_describe(int s) {
  switch (s) {
#define CALC_EXIT_CASE_(name, status, meaning) \
  case status: return meaning;
    CALC_EXIT_MAP(CALC_EXIT_CASE_)
#undef CALC_EXIT_CASE_
  }
  return NULL;
}
