/* SPDX-License-Identifier: MIT
 * test_exit.c: the exit-code table (calc_exit.h): statuses are distinct,
 * small, in order, and described; the lookup round-trips. */
#include <string.h>

#include <glib.h>

#include "calc_exit.h"
#include "calc_test.h"

static const struct {
  int status;
  const char *meaning;
} rows[] = {
#define ROW_(name, status, meaning) {CALC_EXIT_##name, meaning},
  CALC_EXIT_MAP(ROW_)
#undef ROW_
};

static void test_table(void) {
  /* The statuses every program documents. */
  g_assert_cmpint(CALC_EXIT_OK, ==, 0);
  g_assert_cmpint(CALC_EXIT_ERROR, ==, 1);
  g_assert_cmpint(CALC_EXIT_USAGE, ==, 2);
  g_assert_cmpint(CALC_EXIT_NET, ==, 3);
  for (size_t i = 0; i < G_N_ELEMENTS(rows); i++) {
    g_assert_cmpint(rows[i].status, ==, (int)i);
    g_assert_cmpstr(calc_exit_describe(rows[i].status), ==, rows[i].meaning);
    g_assert_cmpuint(strlen(rows[i].meaning), >, 0);
  }
  g_assert_null(calc_exit_describe(-1));
  g_assert_null(calc_exit_describe((int)G_N_ELEMENTS(rows)));
  g_assert_null(calc_exit_describe(77));
}

int main(int argc, char **argv) {
  g_test_init(&argc, &argv, NULL);
  g_test_set_nonfatal_assertions();
  g_test_add_func("/exit/table", test_table);
  return g_test_run();
}
