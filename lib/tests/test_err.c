/* SPDX-License-Identifier: MIT
 * test_err.c: the error table (calc_err.h): every row has a unique wire
 * token and a description, and the lookups round-trip.  Rows come from
 * CALC_ERR_MAP itself, never from a second list. */
#include <string.h>

#include <glib.h>

#include "calc_err.h"
#include "calc_test.h"

static const struct {
  calc_err kind;
  const char *token;
  const char *desc;
} rows[] = {
#define ROW_(name, token, desc) {CALC_E_##name, token, desc},
  CALC_ERR_MAP(ROW_)
#undef ROW_
};
#define NROWS (sizeof rows / sizeof *rows)

/* Enum values are 1..N in table order and CALC_E_COUNT_ follows them. */
static void test_numbering(void) {
  g_assert_cmpuint(NROWS, ==, CALC_E_COUNT_ - 1);
  for (size_t i = 0; i < NROWS; i++)
    g_assert_cmpint(rows[i].kind, ==, (int)i + 1);
  g_assert_cmpint(CALC_OK, ==, 0);
}

/* Tokens: non-empty, lowercase letters and '-' only (they go on the wire
 * between "ERR " and ':'), unique; descriptions non-empty. */
static void test_tokens(void) {
  for (size_t i = 0; i < NROWS; i++) {
    const char *t = calc_err_token(rows[i].kind);
    g_assert_nonnull(t);
    g_assert_cmpstr(t, ==, rows[i].token);
    g_assert_cmpuint(strlen(t), >, 0);
    for (const char *p = t; *p; p++)
      if (!((*p >= 'a' && *p <= 'z') || *p == '-'))
        FAIL("token '%s' has character '%c'", t, *p);
    const char *d = calc_err_describe(rows[i].kind);
    g_assert_nonnull(d);
    g_assert_cmpstr(d, ==, rows[i].desc);
    g_assert_cmpuint(strlen(d), >, 0);
    for (size_t j = 0; j < i; j++)
      if (strcmp(rows[j].token, t) == 0)
        FAIL("token '%s' appears twice", t);
  }
}

static void test_round_trip(void) {
  for (size_t i = 0; i < NROWS; i++) {
    const char *t = rows[i].token;
    g_assert_cmpint(calc_err_from_token(t, strlen(t)), ==, rows[i].kind);
    /* Only the n bytes count: the token inside a longer reply line. */
    char *line = g_strdup_printf("%s: message", t);
    g_assert_cmpint(calc_err_from_token(line, strlen(t)), ==, rows[i].kind);
    /* A prefix or an extension is not a token. */
    g_assert_cmpint(calc_err_from_token(t, strlen(t) - 1), ==, CALC_OK);
    g_assert_cmpint(calc_err_from_token(line, strlen(t) + 1), ==, CALC_OK);
    g_free(line);
  }
}

static void test_outside_table(void) {
  static const char *const unknown[] = {"", "ok", "SYNTAX", "Syntax",
                                        "syntax ", " syntax", "error", "-"};
  for (size_t i = 0; i < G_N_ELEMENTS(unknown); i++)
    g_assert_cmpint(calc_err_from_token(unknown[i], strlen(unknown[i])), ==,
                    CALC_OK);
  g_assert_null(calc_err_token(CALC_OK));
  g_assert_null(calc_err_describe(CALC_OK));
  g_assert_null(calc_err_token(CALC_E_COUNT_));
  g_assert_null(calc_err_describe(CALC_E_COUNT_));
  g_assert_null(calc_err_token((calc_err)-1));
  g_assert_null(calc_err_describe((calc_err)-1));
}

/* The one error-line writer: with a message, without one, cut to fit. */
static void test_line(void) {
  char out[64];
  g_assert_cmpuint(calc_err_line(out, sizeof out, CALC_E_ZERO_DIV, "%s",
                                 "division by zero"), ==, 35);
  g_assert_cmpstr(out, ==, "ERR zero-division: division by zero");
  g_assert_cmpuint(calc_err_line(out, sizeof out, CALC_E_BUSY, NULL), ==, 8);
  g_assert_cmpstr(out, ==, "ERR busy");
  calc_err_line(out, sizeof out, CALC_E_TOO_LONG, "longer than %d", 7);
  g_assert_cmpstr(out, ==, "ERR too-long: longer than 7");
  g_assert_cmpuint(calc_err_line(out, 10, CALC_E_SYNTAX, "%s", "xyz"), ==, 9);
  g_assert_cmpstr(out, ==, "ERR synta");
  g_assert_cmpuint(calc_err_line(out, 1, CALC_E_SYNTAX, NULL), ==, 0);
  g_assert_cmpstr(out, ==, "");
}

int main(int argc, char **argv) {
  g_test_init(&argc, &argv, NULL);
  g_test_set_nonfatal_assertions();
  g_test_add_func("/err/numbering", test_numbering);
  g_test_add_func("/err/tokens", test_tokens);
  g_test_add_func("/err/round-trip", test_round_trip);
  g_test_add_func("/err/outside-table", test_outside_table);
  g_test_add_func("/err/line", test_line);
  return g_test_run();
}
