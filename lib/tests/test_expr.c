/* SPDX-License-Identifier: MIT
 *
 * test_expr.c: the expression core (calc_expr.h) against Python 3.11.
 *
 * Tables of expression -> exact reply.  Every expected result was produced
 * by Python (str() for ints, repr() for floats); every error row names the
 * kind, a key part of the message and, for syntax errors, the 1-based
 * position.  Limits are tested at and just past their edges, with default
 * and caller-tightened limits; hostile inputs must get their answer fast
 * (a generous hang guard only: bench/ measures the real speed).
 *
 * CALC_TEST_TIME_SCALE (default 1) multiplies the hang guard, for slow
 * runs such as valgrind.
 */
#include <stdlib.h>
#include <string.h>

#include <glib.h>

#include "calc_expr.h"
#include "calc_test.h"

#define POS_ANY ((size_t)-1)
#define HANG_GUARD_US 100000 /* 100 ms, before scaling */

typedef struct val_case {
  const char *in;
  size_t len;
  const char *out; /* the exact reply */
} val_case;

typedef struct err_case {
  const char *in;
  size_t len;
  calc_err kind;
  const char *frag; /* must appear in the message */
  size_t pos;       /* calc_errpos(), or POS_ANY */
} err_case;

typedef struct table {
  const void *rows;
  size_t n;
} table;

#define TABLE(t) (&(const table){t, G_N_ELEMENTS(t)})

/* Which error kinds expect_error() saw (test_kinds_covered). */
static unsigned kinds_seen;


/* A printable, bounded rendering of an input for failure messages. */
static char *show(const char *in, size_t len) {
  size_t n = len > 80 ? 80 : len;
  GString *s = g_string_new("\"");
  for (size_t i = 0; i < n; i++) {
    unsigned char ch = (unsigned char)in[i];
    if (ch == '\\' || ch == '"') g_string_append_printf(s, "\\%c", ch);
    else if (ch >= 0x20 && ch < 0x7f) g_string_append_c(s, (char)ch);
    else g_string_append_printf(s, "\\x%02x", ch);
  }
  g_string_append(s, len > n ? "\"..." : "\"");
  if (len > n) g_string_append_printf(s, " (%zu bytes)", len);
  return g_string_free(s, FALSE);
}

static double time_scale(void) {
  const char *s = g_getenv("CALC_TEST_TIME_SCALE");
  double k = s ? g_ascii_strtod(s, NULL) : 1.0;
  return k > 0 ? k : 1.0;
}

/* Evaluate and compare the reply with want; returns 1 when it matched. */
static int expect_value(calc_ctx *c, const char *in, size_t len,
                        const char *want) {
  calc_err e = calc_eval(c, in, len);
  size_t n = 0;
  const char *got = calc_reply(c, &n);
  int ok = e == CALC_OK && strcmp(got, want) == 0 && n == strlen(got) &&
           calc_last_err(c) == CALC_OK && calc_errpos(c) == 0 &&
           strcmp(calc_errmsg(c), "") == 0;
  if (!ok) {
    char *s = show(in, len);
    FAIL("%s: want %.200s, got %.200s (kind %s)", s, want, got,
                       e ? calc_err_token(e) : "ok");
    g_free(s);
  }
  return ok;
}

/* Evaluate and check the error: kind, message fragment, position, and the
 * reply line "ERR <token>: <message>". */
static int expect_error(calc_ctx *c, const err_case *r) {
  calc_err e = calc_eval(c, r->in, r->len);
  size_t n = 0;
  const char *got = calc_reply(c, &n);
  const char *msg = calc_errmsg(c);
  char *line = g_strdup_printf("ERR %s: %s", calc_err_token(r->kind), msg);
  char *s = show(r->in, r->len);
  int ok = 1;
  if (e != r->kind || calc_last_err(c) != r->kind) {
    FAIL("%s: want ERR %s, got %.200s", s,
                       calc_err_token(r->kind), got);
    ok = 0;
  } else {
    if (strcmp(got, line) != 0 || n != strlen(got)) {
      FAIL("%s: reply %s is not 'ERR <kind>: <message>' (%s)",
                         s, got, line);
      ok = 0;
    }
    if (r->frag && !strstr(msg, r->frag)) {
      FAIL("%s: message '%s' lacks '%s'", s, msg, r->frag);
      ok = 0;
    }
    if (r->pos != POS_ANY && calc_errpos(c) != r->pos) {
      FAIL("%s: want position %zu, got %zu (%s)", s, r->pos,
                         calc_errpos(c), got);
      ok = 0;
    }
    /* "syntax errors name the position" (issue 2). */
    if (e == CALC_E_SYNTAX && calc_errpos(c) > 0 && !strstr(msg, "position")) {
      FAIL("%s: syntax error at %zu does not name its position: "
                         "%s", s, calc_errpos(c), got);
      ok = 0;
    }
  }
  kinds_seen |= 1u << e;
  g_free(s);
  g_free(line);
  return ok;
}

static void run_values(gconstpointer data) {
  const table *t = data;
  const val_case *rows = t->rows;
  calc_ctx *c = calc_ctx_new(NULL);
  g_assert_nonnull(c);
  for (size_t i = 0; i < t->n; i++) {
    expect_value(c, rows[i].in, rows[i].len, rows[i].out);
    /* Parse and evaluate separately: the same reply. */
    if (calc_parse(c, rows[i].in, rows[i].len) == CALC_OK) {
      calc_eval_parsed(c);
      if (strcmp(calc_reply(c, NULL), rows[i].out) != 0)
        FAIL("%s: calc_parse + calc_eval_parsed gave %s",
                           rows[i].in, calc_reply(c, NULL));
    } else {
      FAIL("%s: calc_parse failed: %s", rows[i].in,
                         calc_reply(c, NULL));
    }
  }
  calc_ctx_free(c);
}

static void run_errors(gconstpointer data) {
  const table *t = data;
  const err_case *rows = t->rows;
  calc_ctx *c = calc_ctx_new(NULL);
  g_assert_nonnull(c);
  for (size_t i = 0; i < t->n; i++) expect_error(c, &rows[i]);
  calc_ctx_free(c);
}

/* ---- values ---------------------------------------------------------------- */

/* Python's numeric literal forms. */
static const val_case literals[] = {
  {S("0"), "0"},
  {S("00"), "0"},
  {S("000"), "0"},
  {S("0_0"), "0"},
  {S("7"), "7"},
  {S("1_000"), "1000"},
  {S("1_0_0"), "100"},
  {S("0x_ff"), "255"},
  {S("0XFF"), "255"},
  {S("0xDeadBeef"), "3735928559"},
  {S("0o17"), "15"},
  {S("0O_7"), "7"},
  {S("0b1010"), "10"},
  {S("0B_1_0"), "2"},
  {S("0x1_F"), "31"},
  {S("0b_1"), "1"},
  {S("9223372036854775807"), "9223372036854775807"},
  {S("9223372036854775808"), "9223372036854775808"},
  {S("-9223372036854775808"), "-9223372036854775808"},
  {S("-9223372036854775809"), "-9223372036854775809"},
  {S("18446744073709551616"), "18446744073709551616"},
  {S("0xffffffffffffffff"), "18446744073709551615"},
  {S("0x1_0000_0000_0000_0000"), "18446744073709551616"},
  {S("123456789012345678901234567890"), "123456789012345678901234567890"},
  {S("007.5"), "7.5"},
  {S("00.5"), "0.5"},
  {S("09.5"), "9.5"},
  {S("0_0.0"), "0.0"},
  {S("1.e5"), "100000.0"},
  {S(".5"), "0.5"},
  {S("3."), "3.0"},
  {S("0."), "0.0"},
  {S("1e1_0"), "10000000000.0"},
  {S("1_0.5"), "10.5"},
  {S("1_0e1"), "100.0"},
  {S("1_000.000_1e1_0"), "10000001000000.0"},
  {S("2.5E3"), "2500.0"},
  {S("1E5"), "100000.0"},
  {S("1e-0_1"), "0.1"},
  {S("0e0"), "0.0"},
  {S("1e+5"), "100000.0"},
  {S("1e309"), "inf"},
  {S("1e-320"), "1e-320"},
  {S("5e-324"), "5e-324"},
  {S("2e-324"), "0.0"},
  {S("3e-324"), "5e-324"},
  {S("1.7976931348623157e308"), "1.7976931348623157e+308"},
  {S("1.7976931348623158e308"), "1.7976931348623157e+308"},
  {S("1.7976931348623159e308"), "inf"},
  {S("2.2250738585072014e-308"), "2.2250738585072014e-308"},
  {S("2.225073858507201e-308"), "2.225073858507201e-308"},
  {S("1e-99999999999999999999"), "0.0"},
  {S("1e99999999999999999999"), "inf"},
  {S("0.1+0.2"), "0.30000000000000004"},
  /* Blanks, comments, implicit line joining inside parentheses. */
  {S("\t1 +\t2"), "3"},
  {S(" 1"), "1"},
  {S("1 "), "1"},
  {S("  1  +  2  "), "3"},
  {S("1+2 # a comment"), "3"},
  {S("(1\n+2)"), "3"},
  {S("1\n"), "1"},
};

/* Precedence and associativity. */
static const val_case precedence[] = {
  {S("-2**2"), "-4"},
  {S("2**-1"), "0.5"},
  {S("2**3**2"), "512"},
  {S("--1"), "1"},
  {S("+-+1"), "-1"},
  {S("-+-+-1"), "-1"},
  {S("(-2)**2"), "4"},
  {S("-2**-2"), "-0.25"},
  {S("2**-1**2"), "0.5"},
  {S("2**2**-1"), "1.4142135623730951"},
  {S("-2**0.5"), "-1.4142135623730951"},
  {S("1-2-3"), "-4"},
  {S("2*3+4"), "10"},
  {S("2+3*4"), "14"},
  {S("(2+3)*4"), "20"},
  {S("100/10/5"), "2.0"},
  {S("100//7//2"), "7"},
  {S("2*3%4"), "2"},
  {S("2%3*4"), "8"},
  {S("-3%5"), "2"},
  {S("-3**2%5"), "1"},
  {S("1--1"), "2"},
  {S("1-+-1"), "2"},
  {S("2*-3"), "-6"},
  {S("2**-1*3"), "1.5"},
  {S("((((7))))"), "7"},
  {S("(1+2)*(3+4)**2"), "147"},
};

/* Ints: exact, floor division and modulo with the divisor's sign; the
 * int64 fast path at its edges. */
static const val_case ints[] = {
  {S("7//2"), "3"},
  {S("-7//2"), "-4"},
  {S("7//-2"), "-4"},
  {S("-7//-2"), "3"},
  {S("7%3"), "1"},
  {S("-7%3"), "2"},
  {S("7%-3"), "-2"},
  {S("-7%-3"), "-1"},
  {S("-9223372036854775808//-1"), "9223372036854775808"},
  {S("-9223372036854775808%-1"), "0"},
  {S("-9223372036854775807-1"), "-9223372036854775808"},
  {S("9223372036854775807+1"), "9223372036854775808"},
  {S("-9223372036854775808-1"), "-9223372036854775809"},
  {S("3037000500*3037000500"), "9223372037000250000"},
  {S("-(-9223372036854775807-1)"), "9223372036854775808"},
  {S("(2**64)//(2**32)"), "4294967296"},
  {S("-(2**64)//7"), "-2635249153387078803"},
  {S("(2**64)%-7"), "-5"},
  {S("-(2**64)%7"), "5"},
  {S("(2**100)%(2**64)"), "0"},
  {S("0**0"), "1"},
  {S("(-1)**(2**70)"), "1"},
  {S("(-1)**(2**70+1)"), "-1"},
  {S("0**(2**70)"), "0"},
  {S("1**(2**70)"), "1"},
  {S("-(0)"), "0"},
  {S("-0"), "0"},
  {S("0*-1"), "0"},
  {S("15*15"), "225"},
};

/* Floats: CPython's _float_div_mod, float_pow, conversions. */
static const val_case floats[] = {
  {S("-7.0//2"), "-4.0"},
  {S("7.0%-2"), "-1.0"},
  {S("0.0%-5"), "-0.0"},
  {S("1//0.1"), "9.0"},
  {S("1%0.1"), "0.09999999999999995"},
  {S("-5%1e309"), "inf"},
  {S("5%-1e309"), "-inf"},
  {S("-5//1e309"), "-1.0"},
  {S("5//-1e309"), "-1.0"},
  {S("5//1e309"), "0.0"},
  {S("1e309//1"), "nan"},
  {S("1e309%1"), "nan"},
  {S("-0.0//1"), "-0.0"},
  {S("0.0//-1"), "-0.0"},
  {S("-7//2.0"), "-4.0"},
  {S("7.5//-2"), "-4.0"},
  {S("-1e-300%1"), "1.0"},
  {S("1e-300%-1"), "-1.0"},
  {S("2**53+1.0"), "9007199254740992.0"},
  {S("(2**53+1)+0.0"), "9007199254740992.0"},
  {S("(2**54+3)*1.0"), "1.8014398509481988e+16"},
  {S("(2**1024-2**970-1)*1.0"), "1.7976931348623157e+308"},
  {S("9007199254740993*1.0"), "9007199254740992.0"},
  {S("1e308*10"), "inf"},
  {S("1e308+1e308"), "inf"},
  {S("-1e308*10"), "-inf"},
  {S("2**1023*2.0"), "inf"},
  {S("1e309**2"), "inf"},
  {S("1e309-1e309"), "nan"},
  {S("-(1e309-1e309)"), "nan"},
  {S("0.0*-1"), "-0.0"},
  {S("-0.0+0"), "0.0"},
  {S("(-2.0)**2"), "4.0"},
  {S("(-2)**2.0"), "4.0"},
  {S("(-1e309)**0.5"), "inf"},
  {S("(-2)**1e309"), "inf"},
  {S("(-0.5)**1e309"), "0.0"},
  {S("0.0**-1e309"), "inf"},
  {S("(-1e309)**3"), "-inf"},
  {S("(-1e309)**-3"), "-0.0"},
  {S("(1e309-1e309)**0"), "1.0"},
  {S("1**(1e309-1e309)"), "1.0"},
  {S("0.0**0"), "1.0"},
  {S("4**0.5"), "2.0"},
  {S("2**0.5"), "1.4142135623730951"},
  {S("2**0.5*2**0.5"), "2.0000000000000004"},
};

/* True division (correctly rounded, also for bignums) and int ** -n. */
static const val_case division[] = {
  {S("7/2"), "3.5"},
  {S("6/3"), "2.0"},
  {S("1/3"), "0.3333333333333333"},
  {S("2/3"), "0.6666666666666666"},
  {S("-1/3"), "-0.3333333333333333"},
  {S("1/7"), "0.14285714285714285"},
  {S("(2**1024)/3"), "5.992310449541053e+307"},
  {S("(2**53+1)/1"), "9007199254740992.0"},
  {S("(2**53+3)/1"), "9007199254740996.0"},
  {S("(2**54+1)/2"), "9007199254740992.0"},
  {S("10**400/10**399"), "10.0"},
  {S("1/2**1075"), "0.0"},
  {S("3/2**1075"), "1e-323"},
  {S("(2**1024-2**970-1)/1"), "1.7976931348623157e+308"},
  {S("-(2**1024-2**970-1)/1"), "-1.7976931348623157e+308"},
  {S("(10**30)/(10**15)"), "1000000000000000.0"},
  {S("(2**200+1)/(2**100)"), "1.2676506002282294e+30"},
  {S("(3**300)/(7**200)"), "1.3084839895894647e-26"},
  {S("2**2000/2**977"), "8.98846567431158e+307"},
  {S("2**-2"), "0.25"},
  {S("(-2)**-3"), "-0.125"},
  {S("10**-400"), "0.0"},
  {S("1**-1"), "1.0"},
  {S("(-1)**-1"), "-1.0"},
  {S("2**-1074"), "5e-324"},
  {S("2**-1075"), "0.0"},
};

/* repr(): shortest round-trip digits, exponent form below 1e-4 and from
 * 1e16, at least two exponent digits, ".0" on integral values. */
static const val_case reprs[] = {
  {S("1e16"), "1e+16"},
  {S("1e15"), "1000000000000000.0"},
  {S("1e-4"), "0.0001"},
  {S("1e-5"), "1e-05"},
  {S("-0.0"), "-0.0"},
  {S("1e309"), "inf"},
  {S("-1e309"), "-inf"},
  {S("2**60*1.0"), "1.152921504606847e+18"},
  {S("123456789012345678.0"), "1.2345678901234568e+17"},
  {S("1e22"), "1e+22"},
  {S("1e23"), "1e+23"},
  {S("9999999999999998.0"), "9999999999999998.0"},
  {S("9999999999999999.0"), "1e+16"},
  {S("0.00001234"), "1.234e-05"},
  {S("0.0001234"), "0.0001234"},
  {S("4.35"), "4.35"},
  {S("1e100"), "1e+100"},
  {S("1.0"), "1.0"},
  {S("100.0"), "100.0"},
  {S("1e-310"), "1e-310"},
  {S("-1.5e-7"), "-1.5e-07"},
  {S("0.3"), "0.3"},
};

/* Values at the edges of the limits (the matching errors are below). */
static const val_case edges_ok[] = {
  /* Intermediate ints of exactly CALC_MAX_INT_BITS (65536) bits. */
  {S("2**65535//2**65534"), "2"},
  {S("(2**32768)*(2**32767)//2**65535"), "1"},
  {S("(2**32768-1)*(2**32768-1)%1000"), "25"},
  {S("(2**32768-1)**2%1000"), "25"},
  {S("(2**65535+(2**65535-1))%10"), "5"},
  {S("(-2)**65535//2**65534"), "-2"},
  {S("-(2**65535)+2**65535"), "0"},
  {S("-(2**65535)//3%10**6"), "473877"},
  {S("3**41348%1000"), "361"},
  {S("(-3)**41348%997"), "360"},
  {S("(-(2**65535)-(2**65535-1))%7"), "6"},
  {S("7**23344%1000"), "401"},
};

/* ---- errors ---------------------------------------------------------------- */

static const err_case syntax_errors[] = {
  {S("007"), CALC_E_SYNTAX, "leading zeros", 1},
  {S("0_7"), CALC_E_SYNTAX, "leading zeros", 1},
  {S("09"), CALC_E_SYNTAX, "leading zeros", 1},
  {S("1+007"), CALC_E_SYNTAX, "leading zeros", 3},
  {S("1__0"), CALC_E_SYNTAX, "invalid decimal literal", 1},
  {S("1_"), CALC_E_SYNTAX, "invalid decimal literal", 1},
  {S("0__0"), CALC_E_SYNTAX, "invalid decimal literal", 1},
  {S("0_x1"), CALC_E_SYNTAX, "invalid decimal literal", 1},
  {S("1_e5"), CALC_E_SYNTAX, "invalid decimal literal", 1},
  {S("1e"), CALC_E_SYNTAX, "invalid decimal literal", 1},
  {S("1e+"), CALC_E_SYNTAX, "invalid decimal literal", 1},
  {S("1e5e5"), CALC_E_SYNTAX, "invalid decimal literal", 1},
  {S("1._"), CALC_E_SYNTAX, "invalid decimal literal", 1},
  {S("1.5_"), CALC_E_SYNTAX, "invalid decimal literal", 1},
  {S("1.5e_1"), CALC_E_SYNTAX, "invalid decimal literal", 1},
  {S("1.5e1_"), CALC_E_SYNTAX, "invalid decimal literal", 1},
  {S("1.real"), CALC_E_SYNTAX, "invalid decimal literal", 1},
  {S("2 * 1__0"), CALC_E_SYNTAX, "invalid decimal literal", 5},
  {S("0b"), CALC_E_SYNTAX, "invalid binary literal", 1},
  {S("0x"), CALC_E_SYNTAX, "invalid hexadecimal literal", 1},
  {S("0o"), CALC_E_SYNTAX, "invalid octal literal", 1},
  {S("0b2"), CALC_E_SYNTAX, "invalid binary literal", 1},
  {S("0o8"), CALC_E_SYNTAX, "invalid octal literal", 1},
  {S("0xg"), CALC_E_SYNTAX, "invalid hexadecimal literal", 1},
  {S("0x_"), CALC_E_SYNTAX, "invalid hexadecimal literal", 1},
  {S("0x__f"), CALC_E_SYNTAX, "invalid hexadecimal literal", 1},
  {S("0xf_"), CALC_E_SYNTAX, "invalid hexadecimal literal", 1},
  {S("0b1e1"), CALC_E_SYNTAX, "invalid binary literal", 1},
  {S("0xfor"), CALC_E_SYNTAX, "invalid hexadecimal literal", 1},
  {S("2*0b"), CALC_E_SYNTAX, "invalid binary literal", 3},
  {S("1 2"), CALC_E_SYNTAX, "unexpected number", 3},
  {S("1 .5"), CALC_E_SYNTAX, "unexpected number", 3},
  {S("1..2"), CALC_E_SYNTAX, "unexpected number", 3},
  {S("0x1.5"), CALC_E_SYNTAX, "unexpected number", 4},
  {S("*1"), CALC_E_SYNTAX, "unexpected '*'", 1},
  {S("1+*2"), CALC_E_SYNTAX, "unexpected '*'", 3},
  {S("//2"), CALC_E_SYNTAX, "unexpected '//'", 1},
  {S("%1"), CALC_E_SYNTAX, "unexpected '%'", 1},
  {S("1**"), CALC_E_SYNTAX, "end", 4},
  {S("1+"), CALC_E_SYNTAX, "end", 3},
  {S("-"), CALC_E_SYNTAX, "end", 2},
  {S("("), CALC_E_SYNTAX, "end", 2},
  {S("(1"), CALC_E_SYNTAX, "never closed", 3},
  {S("((1)"), CALC_E_SYNTAX, "never closed", 5},
  {S("1)"), CALC_E_SYNTAX, "unmatched ')'", 2},
  {S("(1))"), CALC_E_SYNTAX, "unmatched ')'", 4},
  {S(")"), CALC_E_SYNTAX, "')'", 1},
  {S("1+)"), CALC_E_SYNTAX, "')'", 3},
  {S(""), CALC_E_SYNTAX, "empty", 0},
  {S("   "), CALC_E_SYNTAX, "empty", 0},
  {S("\t\t"), CALC_E_SYNTAX, "empty", 0},
  {S("# only a comment"), CALC_E_SYNTAX, "empty", 0},
  {S("1\n2"), CALC_E_SYNTAX, "newline", 2},
  /* NUL bytes and invalid UTF-8 are refused where they stand. */
  {S("\0"), CALC_E_SYNTAX, "NUL", 1},
  {S("1\0"), CALC_E_SYNTAX, "NUL", 2},
  {S("1+\0+2"), CALC_E_SYNTAX, "NUL", 3},
  {S("\xff"), CALC_E_SYNTAX, "UTF-8", 1},
  {S("\x80"), CALC_E_SYNTAX, "UTF-8", 1},
  {S("1+\xc3\x28"), CALC_E_SYNTAX, "UTF-8", 3},
  {S("\xe2\x82"), CALC_E_SYNTAX, "UTF-8", 1},
  {S("\xed\xa0\x80"), CALC_E_SYNTAX, "UTF-8", 1}, /* a surrogate */
  {S("\xc0\x80"), CALC_E_SYNTAX, "UTF-8", 1},     /* overlong NUL */
  {S("\xf4\x90\x80\x80"), CALC_E_SYNTAX, "UTF-8", 1}, /* > U+10FFFF */
  {S("\xef\xbc\x91"), CALC_E_SYNTAX, "U+FF11", 1},    /* fullwidth 1 */
  {S("$"), CALC_E_SYNTAX, "invalid character", 1},
  {S("1?"), CALC_E_SYNTAX, "invalid character", 2},
  {S("\\"), CALC_E_SYNTAX, "invalid character", 1},
  {S("1\x01"), CALC_E_SYNTAX, "invalid character", 2},
  {S("1\x7f"), CALC_E_SYNTAX, "invalid character", 2},
  {S("`1`"), CALC_E_SYNTAX, "invalid character", 1},
};

/* Valid Python that is not arithmetic: refused, never evaluated. */
static const err_case unsupported[] = {
  {S("abc"), CALC_E_UNSUPPORTED, "name 'abc'", 1},
  {S("__import__('os').system('id')"), CALC_E_UNSUPPORTED, "name", 1},
  {S("lambda: 1"), CALC_E_UNSUPPORTED, "name 'lambda'", 1},
  {S("1 if 1 else 2"), CALC_E_UNSUPPORTED, "name 'if'", 3},
  {S("True"), CALC_E_UNSUPPORTED, "name", 1},
  {S("inf"), CALC_E_UNSUPPORTED, "name 'inf'", 1},
  {S("nan"), CALC_E_UNSUPPORTED, "name 'nan'", 1},
  {S("e"), CALC_E_UNSUPPORTED, "name 'e'", 1},
  {S("_1"), CALC_E_UNSUPPORTED, "name '_1'", 1},
  {S("2*x"), CALC_E_UNSUPPORTED, "name 'x'", 3},
  {S("[1]*9"), CALC_E_UNSUPPORTED, "lists", 1},
  {S("{}"), CALC_E_UNSUPPORTED, "dicts", 1},
  {S("1<2"), CALC_E_UNSUPPORTED, "comparisons", 2},
  {S("1==1"), CALC_E_UNSUPPORTED, "comparisons", 2},
  {S("1!=1"), CALC_E_UNSUPPORTED, "comparisons", 2},
  {S("2^10"), CALC_E_UNSUPPORTED, "use **", 2},
  {S("~1"), CALC_E_UNSUPPORTED, "bitwise", 1},
  {S("1&1"), CALC_E_UNSUPPORTED, "bitwise", 2},
  {S("1|1"), CALC_E_UNSUPPORTED, "bitwise", 2},
  {S("1<<2"), CALC_E_UNSUPPORTED, "'<<'", 2},
  {S("1>>2"), CALC_E_UNSUPPORTED, "'>>'", 2},
  {S("'1'"), CALC_E_UNSUPPORTED, "strings", 1},
  {S("\"1\""), CALC_E_UNSUPPORTED, "strings", 1},
  {S("1,2"), CALC_E_UNSUPPORTED, "tuple", 2},
  {S("()"), CALC_E_UNSUPPORTED, "tuple", 2},
  {S("1 .real"), CALC_E_UNSUPPORTED, "attribute", 3},
  {S("1@2"), CALC_E_UNSUPPORTED, "matrix", 2},
  {S("1;2"), CALC_E_UNSUPPORTED, "statements", 2},
  {S("1*=2"), CALC_E_UNSUPPORTED, "assign", 2},
  {S("1**=2"), CALC_E_UNSUPPORTED, "assign", 2},
  {S("1//=2"), CALC_E_UNSUPPORTED, "assign", 2},
  {S("1(2)"), CALC_E_UNSUPPORTED, "call", 2},
  {S("(1)(2)"), CALC_E_UNSUPPORTED, "call", 4},
  {S("1.5j"), CALC_E_UNSUPPORTED, "complex", 1},
  {S("1j"), CALC_E_UNSUPPORTED, "complex", 1},
  {S("1+2J"), CALC_E_UNSUPPORTED, "complex", 3},
  {S("1 e5"), CALC_E_UNSUPPORTED, "name 'e5'", 3},
};

static const err_case zero_division[] = {
  {S("1/0"), CALC_E_ZERO_DIV, "division by zero", POS_ANY},
  {S("1//0"), CALC_E_ZERO_DIV, "integer division or modulo by zero", POS_ANY},
  {S("1%0"), CALC_E_ZERO_DIV, "integer modulo by zero", POS_ANY},
  {S("1.0/0"), CALC_E_ZERO_DIV, "float division by zero", POS_ANY},
  {S("1.0//0"), CALC_E_ZERO_DIV, "float floor division by zero", POS_ANY},
  {S("1.0%0"), CALC_E_ZERO_DIV, "float modulo", POS_ANY},
  {S("0**-1"), CALC_E_ZERO_DIV, "0.0 cannot be raised to a negative power",
   POS_ANY},
  {S("0.0**-1"), CALC_E_ZERO_DIV, "negative power", POS_ANY},
  {S("(-0.0)**-1.5"), CALC_E_ZERO_DIV, "negative power", POS_ANY},
  {S("0.0**-1e-300"), CALC_E_ZERO_DIV, "negative power", POS_ANY},
  {S("1/0.0"), CALC_E_ZERO_DIV, "float division by zero", POS_ANY},
  {S("1/-0.0"), CALC_E_ZERO_DIV, "float division by zero", POS_ANY},
  {S("0/0"), CALC_E_ZERO_DIV, "division by zero", POS_ANY},
  {S("(1e309-1e309)/0"), CALC_E_ZERO_DIV, "float division by zero", POS_ANY},
  {S("(2**100)/0"), CALC_E_ZERO_DIV, "division by zero", POS_ANY},
  {S("(2**100)//0"), CALC_E_ZERO_DIV, "integer division", POS_ANY},
  {S("(2**100)%0"), CALC_E_ZERO_DIV, "integer modulo", POS_ANY},
  {S("1/(1-1)"), CALC_E_ZERO_DIV, "division by zero", POS_ANY},
  {S("-9223372036854775808//0"), CALC_E_ZERO_DIV, "integer division",
   POS_ANY},
};

static const err_case overflow[] = {
  {S("2**1024/1"), CALC_E_OVERFLOW, "too large for a float", POS_ANY},
  {S("-(2**1024)/1"), CALC_E_OVERFLOW, "too large for a float", POS_ANY},
  {S("(2**1024-2**970)/1"), CALC_E_OVERFLOW, "too large", POS_ANY},
  {S("2**2000/2**976"), CALC_E_OVERFLOW, "too large", POS_ANY},
  {S("2**1024*1.0"), CALC_E_OVERFLOW, "int too large to convert to float",
   POS_ANY},
  {S("(2**1024-2**970)*1.0"), CALC_E_OVERFLOW, "int too large", POS_ANY},
  {S("2**1024+0.0"), CALC_E_OVERFLOW, "int too large", POS_ANY},
  {S("1.0-2**1024"), CALC_E_OVERFLOW, "int too large", POS_ANY},
  {S("2**1024//1.0"), CALC_E_OVERFLOW, "int too large", POS_ANY},
  {S("(2**1024)**0.5"), CALC_E_OVERFLOW, "int too large", POS_ANY},
  {S("(10**400)**-1"), CALC_E_OVERFLOW, "int too large", POS_ANY},
  {S("10**400+1.0"), CALC_E_OVERFLOW, "int too large", POS_ANY},
  {S("2.0**10000"), CALC_E_OVERFLOW, "out of range", POS_ANY},
  {S("10.0**400"), CALC_E_OVERFLOW, "out of range", POS_ANY},
  {S("1e308**2"), CALC_E_OVERFLOW, "out of range", POS_ANY},
  {S("(-10.0)**309"), CALC_E_OVERFLOW, "out of range", POS_ANY},
  {S("2**1024**1.0"), CALC_E_OVERFLOW, "out of range", POS_ANY},
  /* A negative base to a fractional power: Python's complex power raises
   * OverflowError ("complex exponentiation") when |x|**y overflows. */
  {S("(-2.0)**1024.5"), CALC_E_OVERFLOW, NULL, POS_ANY},
  {S("(-10)**400.5"), CALC_E_OVERFLOW, NULL, POS_ANY},
  {S("(-1e308)**1.5"), CALC_E_OVERFLOW, NULL, POS_ANY},
  {S("(-1e-300)**-1.5"), CALC_E_OVERFLOW, NULL, POS_ANY},
};

static const err_case domain[] = {
  {S("(-8)**(1/3)"), CALC_E_DOMAIN, "complex", POS_ANY},
  {S("(-1)**0.5"), CALC_E_DOMAIN, "complex", POS_ANY},
  {S("(-2.0)**-0.5"), CALC_E_DOMAIN, "complex", POS_ANY},
  {S("(-1e-300)**0.5"), CALC_E_DOMAIN, "complex", POS_ANY},
  {S("1+(-8)**(1/3)"), CALC_E_DOMAIN, "complex", POS_ANY},
  {S("(-2.0)**1023.5"), CALC_E_DOMAIN, "complex", POS_ANY}, /* finite */
  {S("(-1e-300)**-1.02"), CALC_E_DOMAIN, "complex", POS_ANY},
  {S("(-2)**-1075.5"), CALC_E_DOMAIN, "complex", POS_ANY},  /* 0j */
};

/* Results over 4300 digits, and intermediate ints over 65536 bits (where
 * Python would still give a value for some: the documented exclusion). */
static const err_case too_large[] = {
  {S("10**4300"), CALC_E_TOO_LARGE, "4300 digits", POS_ANY},
  {S("-10**4300"), CALC_E_TOO_LARGE, "4300 digits", POS_ANY},
  {S("10**4300-1+1"), CALC_E_TOO_LARGE, "4300 digits", POS_ANY},
  {S("2**65535"), CALC_E_TOO_LARGE, "4300 digits", POS_ANY},
  {S("2**65536"), CALC_E_TOO_LARGE, "65536 bits", POS_ANY},
  {S("2**65536//2**65535"), CALC_E_TOO_LARGE, "65536 bits", POS_ANY},
  {S("2**70000*1.0"), CALC_E_TOO_LARGE, "65536 bits", POS_ANY},
  {S("3**41349%1000"), CALC_E_TOO_LARGE, "65536 bits", POS_ANY},
  {S("(-3)**41349%1000"), CALC_E_TOO_LARGE, "65536 bits", POS_ANY},
  {S("(2**32768)*(2**32768)//2"), CALC_E_TOO_LARGE, "65536 bits", POS_ANY},
  {S("2**65535+2**65535"), CALC_E_TOO_LARGE, "65536 bits", POS_ANY},
  {S("-(2**65535)-2**65535"), CALC_E_TOO_LARGE, "65536 bits", POS_ANY},
  {S("2**65535*2"), CALC_E_TOO_LARGE, "65536 bits", POS_ANY},
  {S("(-2)**65537"), CALC_E_TOO_LARGE, "65536 bits", POS_ANY},
  {S("2**(2**64)"), CALC_E_TOO_LARGE, "65536 bits", POS_ANY},
  {S("9**9**9"), CALC_E_TOO_LARGE, "65536 bits", POS_ANY},
  {S("9**9**9**9"), CALC_E_TOO_LARGE, "65536 bits", POS_ANY},
  {S("10**10**10"), CALC_E_TOO_LARGE, "65536 bits", POS_ANY},
};

/* ---- limits, built at run time -------------------------------------------- */

static char *repeat(const char *unit, size_t times) {
  size_t u = strlen(unit);
  char *s = g_malloc(u * times + 1);
  for (size_t i = 0; i < times; i++) memcpy(s + i * u, unit, u);
  s[u * times] = '\0';
  return s;
}

/* "(((...1...)))" with depth parentheses. */
static char *nested(size_t depth) {
  char *open = repeat("(", depth), *close = repeat(")", depth);
  char *s = g_strconcat(open, "1", close, NULL);
  g_free(open);
  g_free(close);
  return s;
}

static void test_length_limit(void) {
  calc_ctx *c = calc_ctx_new(NULL);
  /* 4096 bytes: "1" + "+1" * 2047 + " " evaluates; one byte more does not. */
  char *sum = repeat("+1", 2047);
  char *at = g_strconcat("1", sum, " ", NULL);
  g_assert_cmpuint(strlen(at), ==, CALC_MAX_REQUEST_LEN);
  expect_value(c, at, strlen(at), "2048");
  char *past = g_strconcat(at, " ", NULL);
  expect_error(c, &(err_case){past, strlen(past), CALC_E_TOO_LONG, "4096", 0});
  /* Blanks count too. */
  char *blanks = repeat(" ", CALC_MAX_REQUEST_LEN);
  blanks[0] = '7';
  expect_value(c, blanks, CALC_MAX_REQUEST_LEN, "7");
  char *blanks1 = g_strconcat(blanks, " ", NULL);
  expect_error(c, &(err_case){blanks1, CALC_MAX_REQUEST_LEN + 1,
                              CALC_E_TOO_LONG, "4096", 0});
  /* A 4096-digit literal (decimal literals are capped at 4300 digits, so
   * only a tightened limit reaches that edge: below). */
  char *digits = repeat("9", CALC_MAX_REQUEST_LEN);
  expect_value(c, digits, CALC_MAX_REQUEST_LEN, digits);
  g_free(sum); g_free(at); g_free(past); g_free(blanks); g_free(blanks1);
  g_free(digits);
  calc_ctx_free(c);
}

static void test_depth_limit(void) {
  calc_ctx *c = calc_ctx_new(NULL);
  char *at = nested(CALC_MAX_DEPTH), *past = nested(CALC_MAX_DEPTH + 1);
  expect_value(c, at, strlen(at), "1");
  expect_error(c, &(err_case){past, strlen(past), CALC_E_TOO_DEEP, "200",
                              CALC_MAX_DEPTH + 1});
  /* Depth counts open parentheses, not their total: 300 in sequence. */
  char *seq = repeat("(1)+", 300);
  seq[strlen(seq) - 1] = '\0';
  expect_value(c, seq, strlen(seq), "300");
  /* Interleaved with operators: "(1+(1+(...)))". */
  char *open = repeat("(1+", CALC_MAX_DEPTH), *close = repeat(")",
                                                             CALC_MAX_DEPTH);
  char *mixed = g_strconcat(open, "1", close, NULL);
  expect_value(c, mixed, strlen(mixed), "201");
  char *mixed1 = g_strconcat("(", mixed, ")", NULL);
  expect_error(c, &(err_case){mixed1, strlen(mixed1), CALC_E_TOO_DEEP, NULL,
                              3 * CALC_MAX_DEPTH - 1});
  g_free(at); g_free(past); g_free(seq); g_free(open); g_free(close);
  g_free(mixed); g_free(mixed1);
  calc_ctx_free(c);
}

static void test_digits_limit(void) {
  calc_ctx *c = calc_ctx_new(NULL);
  char *zeros = repeat("0", CALC_MAX_DIGITS - 1);
  char *p10 = g_strconcat("1", zeros, NULL);      /* 10**4299: 4300 digits */
  char *m10 = g_strconcat("-1", zeros, NULL);
  char *nines = repeat("9", CALC_MAX_DIGITS);     /* 10**4300-1 */
  expect_value(c, S("10**4299"), p10);
  expect_value(c, S("-10**4299"), m10);
  expect_value(c, S("10**4300-1"), nines);
  char *mnines = g_strconcat("-", nines, NULL);
  expect_value(c, S("-(10**4300-1)"), mnines);
  g_free(mnines);
  expect_error(c, &(err_case){S("10**4300"), CALC_E_TOO_LARGE, "4300", POS_ANY});
  expect_error(c, &(err_case){S("-10**4300"), CALC_E_TOO_LARGE, "4300",
                              POS_ANY});
  g_free(zeros); g_free(p10); g_free(m10); g_free(nines);
  calc_ctx_free(c);
}

/* The same reply for two spellings of one value. */
static void test_equivalent_spellings(void) {
  static const struct { const char *unit; size_t times; const char *prefix,
                        *same; } rows[] = {
    {"1", 4094, "0b", "2**4094-1"},
    {"f", 1000, "0x", "16**1000-1"},
    {"7", 1300, "0o", "8**1300-1"},
    {"0", 4000, "1", "10**4000"},
    {"_0", 1300, "1", "10**1300"},
  };
  calc_ctx *c = calc_ctx_new(NULL);
  for (size_t i = 0; i < G_N_ELEMENTS(rows); i++) {
    char *body = repeat(rows[i].unit, rows[i].times);
    char *lit = g_strconcat(rows[i].prefix, body, NULL);
    g_assert_cmpint(calc_eval(c, rows[i].same, strlen(rows[i].same)), ==,
                    CALC_OK);
    char *want = g_strdup(calc_reply(c, NULL));
    expect_value(c, lit, strlen(lit), want);
    g_free(body); g_free(lit); g_free(want);
  }
  /* A hex literal whose value has more than 4300 digits. */
  char *f = repeat("f", 4094), *hex = g_strconcat("0x", f, NULL);
  expect_error(c, &(err_case){hex, strlen(hex), CALC_E_TOO_LARGE, "4300",
                              POS_ANY});
  g_free(f); g_free(hex);
  calc_ctx_free(c);
}

/* ---- caller-tightened limits --------------------------------------------- */

static void check_default_limits(const calc_ctx *c) {
  const calc_limits *l = calc_ctx_limits(c);
  g_assert_cmpuint(l->max_len, ==, CALC_MAX_REQUEST_LEN);
  g_assert_cmpuint(l->max_depth, ==, CALC_MAX_DEPTH);
  g_assert_cmpuint(l->max_digits, ==, CALC_MAX_DIGITS);
  g_assert_cmpuint(l->max_int_bits, ==, CALC_MAX_INT_BITS);
}

static void test_limits_api(void) {
  calc_limits d;
  calc_limits_default(&d);
  g_assert_cmpuint(d.max_len, ==, CALC_MAX_REQUEST_LEN);
  g_assert_cmpuint(d.max_depth, ==, CALC_MAX_DEPTH);
  g_assert_cmpuint(d.max_digits, ==, CALC_MAX_DIGITS);
  g_assert_cmpuint(d.max_int_bits, ==, CALC_MAX_INT_BITS);
  g_assert_cmpuint(d.max_work, ==, CALC_MAX_WORK);
  /* NULL and zero fields mean the defaults; larger values are clamped. */
  calc_ctx *c = calc_ctx_new(NULL);
  check_default_limits(c);
  calc_ctx_free(c);
  calc_limits z = {0, 0, 0, 0, 0};
  c = calc_ctx_new(&z);
  check_default_limits(c);
  calc_ctx_free(c);
  calc_limits big = {1u << 20, 100000, 100000, 1u << 24, 1u << 30};
  c = calc_ctx_new(&big);
  check_default_limits(c);
  char *past = repeat("1", CALC_MAX_REQUEST_LEN + 1);
  expect_error(c, &(err_case){past, strlen(past), CALC_E_TOO_LONG, NULL, 0});
  char *deep = nested(CALC_MAX_DEPTH + 1);
  expect_error(c, &(err_case){deep, strlen(deep), CALC_E_TOO_DEEP, NULL,
                              CALC_MAX_DEPTH + 1});
  expect_error(c, &(err_case){S("2**65536//2"), CALC_E_TOO_LARGE, NULL,
                              POS_ANY});
  expect_error(c, &(err_case){S("10**4300"), CALC_E_TOO_LARGE, NULL, POS_ANY});
  g_free(past);
  g_free(deep);
  calc_ctx_free(c);
}

typedef struct limited_case {
  calc_limits lim;
  const char *in;
  const char *out;   /* the reply, or NULL for an error */
  calc_err kind;
  size_t pos;
} limited_case;

static const limited_case limited[] = {
  /* max_len 10 */
  {{10, 0, 0, 0, 0}, "1234567890", "1234567890", CALC_OK, 0},
  {{10, 0, 0, 0, 0}, "1+2+3+4+51", "61", CALC_OK, 0},
  {{10, 0, 0, 0, 0}, "12345678901", NULL, CALC_E_TOO_LONG, 0},
  {{10, 0, 0, 0, 0}, "1         +", NULL, CALC_E_TOO_LONG, 0},
  /* max_depth 3 */
  {{0, 3, 0, 0, 0}, "(((1)))", "1", CALC_OK, 0},
  {{0, 3, 0, 0, 0}, "((1))+((2))+(((3)))", "6", CALC_OK, 0},
  {{0, 3, 0, 0, 0}, "((((1))))", NULL, CALC_E_TOO_DEEP, 4},
  {{0, 3, 0, 0, 0}, "(1+(2+(3+(4))))", NULL, CALC_E_TOO_DEEP, 10},
  /* max_digits 10: literals (decimal digits, underscores not counted)
   * and results */
  {{0, 0, 10, 0, 0}, "1234567890", "1234567890", CALC_OK, 0},
  {{0, 0, 10, 0, 0}, "1_234_567_890", "1234567890", CALC_OK, 0},
  {{0, 0, 10, 0, 0}, "-1234567890", "-1234567890", CALC_OK, 0},
  {{0, 0, 10, 0, 0}, "0000000000", "0", CALC_OK, 0},
  {{0, 0, 10, 0, 0}, "12345678901", NULL, CALC_E_TOO_LARGE, 1},
  {{0, 0, 10, 0, 0}, "1+12345678901", NULL, CALC_E_TOO_LARGE, 3},
  {{0, 0, 10, 0, 0}, "00000000000", NULL, CALC_E_TOO_LARGE, 1},
  {{0, 0, 10, 0, 0}, "99999*100000", "9999900000", CALC_OK, 0},
  {{0, 0, 10, 0, 0}, "99999*1000000", NULL, CALC_E_TOO_LARGE, POS_ANY},
  {{0, 0, 10, 0, 0}, "-99999*1000000", NULL, CALC_E_TOO_LARGE, POS_ANY},
  {{0, 0, 10, 0, 0}, "0x2540BE3FF", "9999999999", CALC_OK, 0},
  {{0, 0, 10, 0, 0}, "0x2540BE400", NULL, CALC_E_TOO_LARGE, POS_ANY},
  {{0, 0, 10, 0, 0}, "10**10//10", "1000000000", CALC_OK, 0},
  {{0, 0, 10, 0, 0}, "1e20", "1e+20", CALC_OK, 0},  /* floats are not ints */
  /* max_work 8: 2**64 costs 2 (one limb squared, halved, plus two result
   * limbs), the product of two 2-limb ints 4 */
  {{0, 0, 0, 0, 8}, "2**64*2**64", "340282366920938463463374607431768211456",
   CALC_OK, 0},
  {{0, 0, 0, 0, 7}, "2**64*2**64", NULL, CALC_E_TOO_LARGE, POS_ANY},
  {{0, 0, 0, 0, 7}, "2**63*2**63", "85070591730234615865843651857942052864",
   CALC_OK, 0},
  /* max_int_bits 64 */
  {{0, 0, 0, 64, 0}, "2**63", "9223372036854775808", CALC_OK, 0},
  {{0, 0, 0, 64, 0}, "-(2**63-1+2**63)", "-18446744073709551615", CALC_OK, 0},
  {{0, 0, 0, 64, 0}, "-(2**64-1)", NULL, CALC_E_TOO_LARGE, POS_ANY}, /* 2**64 */
  {{0, 0, 0, 64, 0}, "9223372036854775807*2+1", "18446744073709551615",
   CALC_OK, 0},
  {{0, 0, 0, 64, 0}, "18446744073709551615", "18446744073709551615", CALC_OK, 0},
  {{0, 0, 0, 64, 0}, "2**64", NULL, CALC_E_TOO_LARGE, POS_ANY},
  {{0, 0, 0, 64, 0}, "2**64//2", NULL, CALC_E_TOO_LARGE, POS_ANY},
  {{0, 0, 0, 64, 0}, "9223372036854775807*2+2", NULL, CALC_E_TOO_LARGE, POS_ANY},
  {{0, 0, 0, 64, 0}, "4294967296*4294967296", NULL, CALC_E_TOO_LARGE, POS_ANY},
  {{0, 0, 0, 64, 0}, "18446744073709551616", NULL, CALC_E_TOO_LARGE, POS_ANY},
  {{0, 0, 0, 64, 0}, "0x1_0000_0000_0000_0000", NULL, CALC_E_TOO_LARGE, POS_ANY},
};

/* calc_work(): the limb operations the last request spent, whatever its
 * answer's length (what the dissector's verification budget charges). */
static void test_work_api(void) {
  calc_ctx *c = calc_ctx_new(NULL);
  g_assert_cmpint(calc_eval(c, "3**41348%1000", 13), ==, CALC_OK);
  uint64_t heavy = calc_work(c);
  g_assert_cmpuint(heavy, >, 1024u * 1024 / 2);
  g_assert_cmpuint(heavy, <=, CALC_MAX_WORK);
  g_assert_cmpint(calc_eval(c, "1+1", 3), ==, CALC_OK);
  g_assert_cmpuint(calc_work(c), <, heavy / 1000);
  g_assert_cmpint(calc_eval(c, "3**41348%1000", 13), ==, CALC_OK);
  g_assert_cmpuint(calc_work(c), ==, heavy); /* per request, not summed */
  g_assert_cmpint(calc_eval(c, "1+", 2), !=, CALC_OK);
  g_assert_cmpuint(calc_work(c), ==, 0);     /* refused: nothing evaluated */
  calc_ctx_free(c);
}

static void test_tightened(void) {
  for (size_t i = 0; i < G_N_ELEMENTS(limited); i++) {
    const limited_case *r = &limited[i];
    calc_ctx *c = calc_ctx_new(&r->lim);
    g_assert_nonnull(c);
    if (r->out)
      expect_value(c, r->in, strlen(r->in), r->out);
    else
      expect_error(c, &(err_case){r->in, strlen(r->in), r->kind, NULL,
                                  r->pos});
    calc_ctx_free(c);
  }
}

/* ---- hostile inputs: the right error, fast -------------------------------- */

typedef struct hostile {
  const char *name;
  char *in;
  size_t len;
  const char *out;   /* the reply, or NULL for an error */
  calc_err kind;
  unsigned guard_ms; /* hang guard; 0: HANG_GUARD_US */
} hostile;

static void test_hostile(void) {
  size_t n_mb = 1u << 20;
  char *mb = repeat("1", n_mb);
  char *mb_paren = repeat("(", n_mb);
  char *paren100k = repeat("(", 100000);
  char *paren4096 = repeat("(", CALC_MAX_REQUEST_LEN);
  char *neg = repeat("-", CALC_MAX_REQUEST_LEN);
  neg[CALC_MAX_REQUEST_LEN - 1] = '1'; /* 4095 '-' then 1 */
  char *chain = repeat("(2**4000)*", 409);
  chain[strlen(chain) - 1] = '\0';
  char *bigdiv = repeat("2**65535//2**65534+", 215);
  bigdiv[strlen(bigdiv) - 1] = '\0';
  char *bigpow = repeat("3**41348%1000+", 292);
  bigpow[strlen(bigpow) - 1] = '\0';
  /* The work limit's edge: each term costs 1024*1024/2 + 1025 for the
   * power and 3*1024 + 1024 for the modulo; 15 fit in CALC_MAX_WORK. */
  char *terms = repeat("3**41348%1000+", 16);
  char *work16 = g_strconcat(terms, "0", NULL);
  terms[strlen(terms) - strlen("3**41348%1000+")] = '\0';
  char *work15 = g_strconcat(terms, "0", NULL);
  g_free(terms);
  char *exp9 = repeat("9", 4094);
  char *bigexp = g_strconcat("1e", exp9, NULL);
  char *tinyexp = g_strconcat("1e-", exp9 + 1, NULL);
  char *zeros = repeat("0", 4000);
  char *tiny = g_strconcat("0.", zeros, "1", NULL);
  char *floats = repeat("1.5**1.5*", 455);
  floats[strlen(floats) - 1] = '\0';
  char *divs = repeat("1/", 2047);
  char *divchain = g_strconcat(divs, "1", NULL);
  char *nul = g_malloc0(CALC_MAX_REQUEST_LEN);
  char *utf = repeat("\xff", CALC_MAX_REQUEST_LEN);

  hostile rows[] = {
    {"9**9**9**9", g_strdup("9**9**9**9"), 0, NULL, CALC_E_TOO_LARGE, 0},
    {"10**10**10", g_strdup("10**10**10"), 0, NULL, CALC_E_TOO_LARGE, 0},
    {"(2**4000)*... x409", chain, 0, NULL, CALC_E_TOO_LARGE, 0},
    {"1 MB of digits", mb, n_mb, NULL, CALC_E_TOO_LONG, 0},
    {"1 MB of '('", mb_paren, n_mb, NULL, CALC_E_TOO_LONG, 0},
    {"100000 '('", paren100k, 100000, NULL, CALC_E_TOO_LONG, 0},
    {"4096 '('", paren4096, CALC_MAX_REQUEST_LEN, NULL, CALC_E_TOO_DEEP, 0},
    {"4095 '-' then 1", neg, CALC_MAX_REQUEST_LEN, "-1", CALC_OK, 0},
    /* The heaviest valid requests: real work, so a looser guard. */
    {"2**65535//2**65534 x215", bigdiv, 0, "430", CALC_OK, 500},
    {"3**41348%1000 x292", bigpow, 0, NULL, CALC_E_TOO_LARGE, 0},
    {"3**41348%1000 x15 (work limit)", work15, 0, "5415", CALC_OK, 0},
    {"3**41348%1000 x16 (work limit)", work16, 0, NULL, CALC_E_TOO_LARGE, 0},
    {"1e999...9", bigexp, 0, "inf", CALC_OK, 0},
    {"1e-999...9", tinyexp, 0, "0.0", CALC_OK, 0},
    {"0.000...1", tiny, 0, "0.0", CALC_OK, 0},
    {"1.5**1.5*... x455", floats, 0, "1.5215432632227352e+120", CALC_OK, 0},
    {"1/1/.../1", divchain, 0, "1.0", CALC_OK, 0},
    {"4096 NUL bytes", nul, CALC_MAX_REQUEST_LEN, NULL, CALC_E_SYNTAX, 0},
    {"4096 bytes 0xff", utf, CALC_MAX_REQUEST_LEN, NULL, CALC_E_SYNTAX, 0},
    {"__import__", g_strdup("__import__('os').system('id')"), 0, NULL,
     CALC_E_UNSUPPORTED, 0},
    {"lambda", g_strdup("lambda: 1"), 0, NULL, CALC_E_UNSUPPORTED, 0},
    {"[1]*9", g_strdup("[1]*9"), 0, NULL, CALC_E_UNSUPPORTED, 0},
    {"1<2", g_strdup("1<2"), 0, NULL, CALC_E_UNSUPPORTED, 0},
    {"2^10", g_strdup("2^10"), 0, NULL, CALC_E_UNSUPPORTED, 0},
    {"empty", g_strdup(""), 0, NULL, CALC_E_SYNTAX, 0},
  };
  g_free(exp9); g_free(zeros); g_free(divs);

  double scale = time_scale();
  calc_ctx *c = calc_ctx_new(NULL);
  for (size_t i = 0; i < G_N_ELEMENTS(rows); i++) {
    hostile *r = &rows[i];
    if (!r->len) r->len = strlen(r->in);
    gint64 t0 = g_get_monotonic_time();
    calc_err e = calc_eval(c, r->in, r->len);
    gint64 us = g_get_monotonic_time() - t0;
    g_test_message("%-26s %8" G_GINT64_FORMAT " us  %.60s", r->name, us,
                   calc_reply(c, NULL));
    if (r->out) {
      if (e != CALC_OK || strcmp(calc_reply(c, NULL), r->out) != 0)
        FAIL("%s: want %s, got %.200s", r->name, r->out,
                           calc_reply(c, NULL));
    } else if (e != r->kind) {
      FAIL("%s: want ERR %s, got %.200s", r->name,
                         calc_err_token(r->kind), calc_reply(c, NULL));
    }
    double guard = (r->guard_ms ? r->guard_ms * 1000.0 : HANG_GUARD_US) * scale;
    if (us > guard)
      FAIL("%s took %" G_GINT64_FORMAT " us (hang guard %.0f)",
                         r->name, us, guard);
    g_free(r->in);
  }
  calc_ctx_free(c);
}

/* ---- context behaviour ----------------------------------------------------- */

/* Every evaluator error kind is produced by some row of the tables (the
 * server's "busy" is not the evaluator's); "internal" by evaluating
 * nothing.  Runs the tables itself, so it holds when run alone. */
static void test_kinds_covered(void) {
  const table *const tables[] = {
    TABLE(syntax_errors), TABLE(unsupported), TABLE(zero_division),
    TABLE(overflow), TABLE(domain), TABLE(too_large),
  };
  calc_ctx *c = calc_ctx_new(NULL);
  for (size_t t = 0; t < G_N_ELEMENTS(tables); t++)
    for (size_t i = 0; i < tables[t]->n; i++) { /* rows checked elsewhere */
      const err_case *r = &((const err_case *)tables[t]->rows)[i];
      kinds_seen |= 1u << calc_eval(c, r->in, r->len);
    }
  char *deep = nested(CALC_MAX_DEPTH + 1), *longer = nested(2100);
  expect_error(c, &(err_case){deep, strlen(deep), CALC_E_TOO_DEEP, NULL,
                              CALC_MAX_DEPTH + 1});
  expect_error(c, &(err_case){longer, strlen(longer), CALC_E_TOO_LONG, NULL,
                              0});
  g_free(deep);
  g_free(longer);
  calc_ctx_free(c);
  c = calc_ctx_new(NULL); /* nothing parsed yet */
  g_assert_cmpint(calc_eval_parsed(c), ==, CALC_E_INTERNAL);
  g_assert_true(g_str_has_prefix(calc_reply(c, NULL), "ERR internal: "));
  kinds_seen |= 1u << CALC_E_INTERNAL;
  calc_ctx_free(c);
#define KIND_(name, token, desc)                                         \
  if (CALC_E_##name != CALC_E_BUSY && !(kinds_seen & (1u << CALC_E_##name))) \
    FAIL("no test produced ERR %s", token);
  CALC_ERR_MAP(KIND_)
#undef KIND_
}

/* State from one request never leaks into the next. */
static void test_reuse(void) {
  calc_ctx *c = calc_ctx_new(NULL);
  static const char *const seq[][2] = {
    {"1/0", NULL}, {"1+1", "2"}, {"007", NULL}, {"2**100", NULL},
    {"0.5", "0.5"}, {"((1", NULL}, {"3", "3"}, {"10**4300", NULL},
    {"-1", "-1"}, {"2**65536", NULL}, {"7//2", "3"},
  };
  for (size_t i = 0; i < G_N_ELEMENTS(seq); i++) {
    calc_err e = calc_eval(c, seq[i][0], strlen(seq[i][0]));
    if (seq[i][1]) {
      expect_value(c, seq[i][0], strlen(seq[i][0]), seq[i][1]);
    } else if (i == 3) {
      g_assert_cmpint(e, ==, CALC_OK);
      g_assert_cmpstr(calc_reply(c, NULL), ==,
                      "1267650600228229401496703205376");
    } else {
      g_assert_cmpint(e, !=, CALC_OK);
      g_assert_true(g_str_has_prefix(calc_reply(c, NULL), "ERR "));
    }
  }
  /* A parse error leaves no tree and no classes. */
  g_assert_cmpint(calc_parse(c, S("1+")), ==, CALC_E_SYNTAX);
  g_assert_cmpint(calc_root(c), ==, -1);
  g_assert_cmpuint(calc_classes(c), ==, 0);
  g_assert_true(g_str_has_prefix(calc_reply(c, NULL), "ERR syntax: "));
  calc_ctx_free(c);
}

/* Contexts are independent: one's reply survives another's work, and
 * threads evaluating at once all get the right answers. */
#define THREADS 4
#define ROUNDS 30

static gpointer worker(gpointer data) {
  (void)data;
  calc_ctx *c = calc_ctx_new(NULL);
  size_t bad = 0;
  for (int r = 0; r < ROUNDS; r++) {
    for (size_t i = 0; i < G_N_ELEMENTS(division); i++) {
      calc_eval(c, division[i].in, division[i].len);
      bad += strcmp(calc_reply(c, NULL), division[i].out) != 0;
    }
    for (size_t i = 0; i < G_N_ELEMENTS(zero_division); i++) {
      calc_eval(c, zero_division[i].in, zero_division[i].len);
      bad += calc_last_err(c) != CALC_E_ZERO_DIV;
    }
  }
  calc_ctx_free(c);
  return GSIZE_TO_POINTER(bad);
}

static void test_reentrant(void) {
  calc_ctx *a = calc_ctx_new(NULL), *b = calc_ctx_new(NULL);
  calc_eval(a, S("1+1"));
  calc_eval(b, S("2**100"));
  calc_eval(b, S("1/0"));
  g_assert_cmpstr(calc_reply(a, NULL), ==, "2");
  g_assert_cmpint(calc_last_err(a), ==, CALC_OK);
  calc_ctx_free(a);
  calc_ctx_free(b);

  GThread *t[THREADS];
  for (int i = 0; i < THREADS; i++) t[i] = g_thread_new("eval", worker, NULL);
  for (int i = 0; i < THREADS; i++)
    g_assert_cmpuint(GPOINTER_TO_SIZE(g_thread_join(t[i])), ==, 0);
}

int main(int argc, char **argv) {
  g_test_init(&argc, &argv, NULL);
  g_test_set_nonfatal_assertions();
  g_test_add_data_func("/expr/values/literals", TABLE(literals), run_values);
  g_test_add_data_func("/expr/values/precedence", TABLE(precedence),
                       run_values);
  g_test_add_data_func("/expr/values/ints", TABLE(ints), run_values);
  g_test_add_data_func("/expr/values/floats", TABLE(floats), run_values);
  g_test_add_data_func("/expr/values/division", TABLE(division), run_values);
  g_test_add_data_func("/expr/values/repr", TABLE(reprs), run_values);
  g_test_add_data_func("/expr/values/edges", TABLE(edges_ok), run_values);
  g_test_add_data_func("/expr/errors/syntax", TABLE(syntax_errors),
                       run_errors);
  g_test_add_data_func("/expr/errors/unsupported", TABLE(unsupported),
                       run_errors);
  g_test_add_data_func("/expr/errors/zero-division", TABLE(zero_division),
                       run_errors);
  g_test_add_data_func("/expr/errors/overflow", TABLE(overflow), run_errors);
  g_test_add_data_func("/expr/errors/domain", TABLE(domain), run_errors);
  g_test_add_data_func("/expr/errors/too-large", TABLE(too_large),
                       run_errors);
  g_test_add_func("/expr/limits/length", test_length_limit);
  g_test_add_func("/expr/limits/depth", test_depth_limit);
  g_test_add_func("/expr/limits/digits", test_digits_limit);
  g_test_add_func("/expr/limits/equivalent-spellings",
                  test_equivalent_spellings);
  g_test_add_func("/expr/limits/api", test_limits_api);
  g_test_add_func("/expr/limits/tightened", test_tightened);
  g_test_add_func("/expr/limits/work", test_work_api);
  g_test_add_func("/expr/hostile/all", test_hostile);
  g_test_add_func("/expr/context/reuse", test_reuse);
  g_test_add_func("/expr/context/reentrant", test_reentrant);
  g_test_add_func("/expr/coverage/kinds", test_kinds_covered);
  return g_test_run();
}
