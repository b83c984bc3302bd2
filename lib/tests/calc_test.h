/* SPDX-License-Identifier: MIT
 * calc_test.h: helpers shared by the lib/ unit tests (GLib gtest). */
#ifndef CALC_TEST_H
#define CALC_TEST_H

#include <glib.h>

/* Report one failed check and go on: with g_test_set_nonfatal_assertions()
 * every failing row of a table is listed ("# FAIL: ..."), not only the
 * first. */
#define FAIL(...)                                                \
  do {                                                           \
    char *m_ = g_strdup_printf(__VA_ARGS__);                     \
    g_test_message("FAIL: %s", m_);                              \
    g_test_fail_printf("%s", m_);                                \
    g_free(m_);                                                  \
  } while (0)

/* A string literal and its length, NUL bytes included. */
#define S(s) s, sizeof(s) - 1

#endif /* CALC_TEST_H */
