/* SPDX-License-Identifier: MIT
 *
 * calc_expr.c: tokenizer, parser and evaluator of Python 3 arithmetic.
 *
 * The parser is a shunting-yard over the operator table below (Lua-style
 * left/right priorities), so it never recurses: depth limits concern
 * parentheses only, as in CPython.  It emits nodes in postfix order, so
 * evaluating is one pass over the node array with a value stack.  Every
 * array is sized once per context from the length limit.
 */
#include "calc_expr.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "calc_num.h"

/* The operator table: symbol, name, class, and binding priorities.  An
 * operator on the stack is reduced before a new binary operator when its
 * right priority >= the new one's left priority: equal priorities make a
 * left-associative operator, ** (14, 13) is right-associative, and a unary
 * sign (12) binds tighter than * but looser than a ** on its right, so
 * -2**2 == -(2**2) and 2**-1 == 2**(-1). */
static const struct {
  const char *symbol;
  const char *name;
  unsigned cls;
  unsigned char lprio, rprio;
  unsigned char arity;
} calc_op_table[CALC_OP_COUNT_] = {
  [CALC_OP_NUM]      = {"",   "number",   0,                 0,  0,  0},
  [CALC_OP_ADD]      = {"+",  "add",      CALC_CLASS_ADDSUB, 10, 10, 2},
  [CALC_OP_SUB]      = {"-",  "sub",      CALC_CLASS_ADDSUB, 10, 10, 2},
  [CALC_OP_MUL]      = {"*",  "mul",      CALC_CLASS_MULDIV, 11, 11, 2},
  [CALC_OP_DIV]      = {"/",  "div",      CALC_CLASS_MULDIV, 11, 11, 2},
  [CALC_OP_FLOORDIV] = {"//", "floordiv", CALC_CLASS_MULDIV, 11, 11, 2},
  [CALC_OP_MOD]      = {"%",  "mod",      CALC_CLASS_MULDIV, 11, 11, 2},
  [CALC_OP_POW]      = {"**", "pow",      CALC_CLASS_MULDIV, 14, 13, 2},
  [CALC_OP_POS]      = {"+",  "pos",      0,                 12, 12, 1},
  [CALC_OP_NEG]      = {"-",  "neg",      0,                 12, 12, 1},
};

/* Characters that are Python but not arithmetic: refused, with a reason. */
static const struct {
  const char *chars;
  calc_err kind;
  const char *why;
} calc_refusals[] = {
  {"^",    CALC_E_UNSUPPORTED, "'^' is bitwise xor; use ** for powers"},
  {"~&|",  CALC_E_UNSUPPORTED, "bitwise operators are not supported"},
  {"<>=!", CALC_E_UNSUPPORTED, "comparisons and assignments are not supported"},
  {"'\"",  CALC_E_UNSUPPORTED, "strings are not supported"},
  {"[]{}", CALC_E_UNSUPPORTED, "lists, dicts and sets are not supported"},
  {",",    CALC_E_UNSUPPORTED, "tuples are not supported"},
  {".",    CALC_E_UNSUPPORTED, "attribute access is not supported"},
  {"@",    CALC_E_UNSUPPORTED, "matrix multiplication is not supported"},
  {":;",   CALC_E_UNSUPPORTED, "statements are not supported"},
};

/* How a literal's value is made at evaluation time. */
enum calc_lit_kind { LIT_SMALL, LIT_DEC, LIT_RADIX, LIT_FLOAT };

typedef struct calc_lit {
  unsigned char kind;  /* calc_lit_kind */
  unsigned char base;  /* LIT_RADIX: 2, 8 or 16 */
  int64_t value;       /* LIT_SMALL */
} calc_lit;

enum calc_tok { T_END, T_NUM, T_OP, T_LP, T_RP, T_ERR };

typedef struct calc_pending { /* an operator or '(' on the parser's stack */
  unsigned char op;           /* calc_op, or CALC_OP_COUNT_ for '(' */
  uint32_t pos;               /* its source offset */
} calc_pending;

struct calc_ctx {
  calc_limits lim;
  calc_numenv env;
  size_t cap;               /* entries in each array: max_len + 2 */
  const char *src;
  size_t len;
  /* parse output */
  calc_node *nodes;
  calc_lit *lits;
  uint32_t *ostart, *oend;  /* node spans with enclosing parentheses */
  int nnodes, root;
  unsigned classes, ops;
  /* parser stacks */
  calc_pending *pend;
  int32_t *out;
  /* evaluation */
  calc_val *vals;
  char *scratch;            /* a literal without underscores */
  /* result */
  calc_err err;
  size_t errpos;
  char errmsg[192];
  size_t reply_len;
  char reply[CALC_REPLY_MAX + 1];
};

/* ---- limits and context ---------------------------------------------------- */

void calc_limits_default(calc_limits *lim) {
  lim->max_len = CALC_MAX_REQUEST_LEN;
  lim->max_depth = CALC_MAX_DEPTH;
  lim->max_digits = CALC_MAX_DIGITS;
  lim->max_int_bits = CALC_MAX_INT_BITS;
  lim->max_work = CALC_MAX_WORK;
}

#define CALC_TIGHTEN_(field, dflt) \
  ((field) == 0 || (field) > (dflt) ? (dflt) : (field))

calc_ctx *calc_ctx_new(const calc_limits *lim) {
  calc_ctx *c = calloc(1, sizeof *c);
  if (!c) return NULL;
  calc_limits_default(&c->lim);
  if (lim) {
    c->lim.max_len = CALC_TIGHTEN_(lim->max_len, CALC_MAX_REQUEST_LEN);
    c->lim.max_depth = CALC_TIGHTEN_(lim->max_depth, CALC_MAX_DEPTH);
    c->lim.max_digits = CALC_TIGHTEN_(lim->max_digits, CALC_MAX_DIGITS);
    c->lim.max_int_bits = CALC_TIGHTEN_(lim->max_int_bits, CALC_MAX_INT_BITS);
    c->lim.max_work = CALC_TIGHTEN_(lim->max_work, CALC_MAX_WORK);
  }
  c->cap = c->lim.max_len + 2;
  c->nodes = calloc(c->cap, sizeof *c->nodes);
  c->lits = calloc(c->cap, sizeof *c->lits);
  c->ostart = calloc(c->cap, sizeof *c->ostart);
  c->oend = calloc(c->cap, sizeof *c->oend);
  c->pend = calloc(c->cap, sizeof *c->pend);
  c->out = calloc(c->cap, sizeof *c->out);
  c->vals = calloc(c->cap, sizeof *c->vals);
  c->scratch = malloc(c->cap);
  if (!c->nodes || !c->lits || !c->ostart || !c->oend || !c->pend ||
      !c->out || !c->vals || !c->scratch ||
      calc_num_env_init(&c->env, c->lim.max_int_bits, c->lim.max_work) != 0) {
    free(c->nodes); free(c->lits); free(c->ostart); free(c->oend);
    free(c->pend); free(c->out); free(c->vals); free(c->scratch);
    free(c);
    return NULL;
  }
  for (size_t i = 0; i < c->cap; i++) mpz_init(c->vals[i].z); /* no malloc */
  c->root = -1;
  return c;
}

void calc_ctx_free(calc_ctx *c) {
  if (!c) return;
  for (size_t i = 0; i < c->cap; i++) mpz_clear(c->vals[i].z);
  calc_num_env_clear(&c->env);
  free(c->nodes); free(c->lits); free(c->ostart); free(c->oend);
  free(c->pend); free(c->out); free(c->vals); free(c->scratch);
  free(c);
}

const calc_limits *calc_ctx_limits(const calc_ctx *c) { return &c->lim; }

/* ---- errors and replies ------------------------------------------------------ */

/* Record error `kind` at 1-based position pos (0: none) and build the reply
 * "ERR <token>: <message>". */
static calc_err set_error(calc_ctx *c, calc_err kind, size_t pos,
                          const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static calc_err set_error(calc_ctx *c, calc_err kind, size_t pos,
                          const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(c->errmsg, sizeof c->errmsg, fmt, ap);
  va_end(ap);
  c->err = kind;
  c->errpos = pos;
  c->reply_len = calc_err_line(c->reply, sizeof c->reply, kind, "%s",
                               c->errmsg);
  return kind;
}

const char *calc_reply(const calc_ctx *c, size_t *len) {
  if (len) *len = c->reply_len;
  return c->reply;
}

calc_err calc_last_err(const calc_ctx *c) { return c->err; }
const char *calc_errmsg(const calc_ctx *c) { return c->err ? c->errmsg : ""; }
size_t calc_errpos(const calc_ctx *c) { return c->errpos; }

/* ---- tokenizer ------------------------------------------------------------ */

static int is_digit(int ch) { return ch >= '0' && ch <= '9'; }
static int is_alpha(int ch) {
  return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || ch == '_';
}
static int is_ident(int ch) { return is_alpha(ch) || is_digit(ch); }

static int digit_value(int ch) {
  if (is_digit(ch)) return ch - '0';
  if (ch >= 'a' && ch <= 'f') return ch - 'a' + 10;
  if (ch >= 'A' && ch <= 'F') return ch - 'A' + 10;
  return 99;
}

/* Scan digits of `base` with single '_' between them from s[*j].  Returns
 * the number of digits, or -1 for a misplaced '_'.  `lead_us` allows one
 * '_' before the first digit (0x_ff). */
static long scan_digits(const char *s, size_t n, size_t *j, int base,
                        int lead_us) {
  long count = 0;
  size_t k = *j;
  for (;;) {
    if (k < n && s[k] == '_' && (count > 0 || lead_us)) {
      if (k + 1 >= n || digit_value((unsigned char)s[k + 1]) >= base)
        return -1;
      k++;
    }
    if (k < n && digit_value((unsigned char)s[k]) < base) {
      k++;
      count++;
    } else {
      break;
    }
  }
  *j = k;
  return count;
}

static const char *radix_name(int base) {
  return base == 16 ? "hexadecimal" : base == 8 ? "octal" : "binary";
}

/* Lex the number literal at src[i]; fill *lit and return its end, or 0
 * after recording an error. */
static size_t lex_number(calc_ctx *c, size_t i, calc_lit *lit) {
  const char *s = c->src;
  size_t n = c->len, j = i;
  size_t pos = i + 1;

  if (s[i] == '0' && i + 1 < n && strchr("xXoObB", s[i + 1]) && s[i + 1]) {
    int ch = s[i + 1] | 0x20;
    int base = ch == 'x' ? 16 : ch == 'o' ? 8 : 2;
    j = i + 2;
    long nd = scan_digits(s, n, &j, base, 1);
    if (nd <= 0 || (j < n && is_ident((unsigned char)s[j])))
      return set_error(c, CALC_E_SYNTAX, pos,
                       "invalid %s literal at position %zu", radix_name(base),
                       pos),
             0;
    lit->kind = LIT_RADIX;
    lit->base = (unsigned char)base;
    /* Up to 60 bits (and within the int size limit): a small int now,
     * as calc_num_set_digits would make it, without GMP. */
    int bits_per_digit = base == 16 ? 4 : base == 8 ? 3 : 1;
    if (nd * bits_per_digit <= 60) {
      int64_t v = 0;
      for (size_t k = i + 2; k < j; k++)
        if (s[k] != '_') v = v * base + digit_value((unsigned char)s[k]);
      int bits = v ? 64 - __builtin_clzll((uint64_t)v) : 0;
      if ((unsigned)bits <= c->lim.max_int_bits) {
        lit->kind = LIT_SMALL;
        lit->value = v;
      }
    }
    return j;
  }

  /* Fast path: a short run of decimal digits ending the literal, the
   * common small int ("15"), read in one pass. */
  if (s[i] != '0') {
    int64_t v = 0;
    while (j < n && j - i < 18 && is_digit((unsigned char)s[j]))
      v = v * 10 + (s[j++] - '0');
    if ((j == n || (!is_ident((unsigned char)s[j]) && s[j] != '.')) &&
        j - i <= c->lim.max_digits) {
      lit->kind = LIT_SMALL;
      lit->value = v;
      return j;
    }
    j = i;
  }

  long intd = 0, fracd = 0;
  int is_float = 0;
  if (s[j] != '.') {
    intd = scan_digits(s, n, &j, 10, 0);
    if (intd < 0) goto bad_decimal;
  }
  if (j < n && s[j] == '.') {
    is_float = 1;
    j++;
    if (j < n && is_digit((unsigned char)s[j])) {
      fracd = scan_digits(s, n, &j, 10, 0);
      if (fracd < 0) goto bad_decimal;
    }
  }
  if (j < n && (s[j] == 'e' || s[j] == 'E')) {
    size_t k = j + 1;
    if (k < n && (s[k] == '+' || s[k] == '-')) k++;
    if (k >= n || !is_digit((unsigned char)s[k]) ||
        scan_digits(s, n, &k, 10, 0) < 0)
      goto bad_decimal;
    j = k;
    is_float = 1;
  }
  if (j < n && (s[j] == 'j' || s[j] == 'J'))
    return set_error(c, CALC_E_UNSUPPORTED, pos,
                     "complex numbers are not supported (imaginary literal "
                     "at position %zu)", pos),
           0;
  if (j < n && is_ident((unsigned char)s[j])) goto bad_decimal;

  if (is_float) {
    lit->kind = LIT_FLOAT;
    return j;
  }
  /* A decimal int: no leading zeros unless all zeros; at most max_digits. */
  int64_t v = 0; /* exact when intd <= 18 */
  int nonzero = 0;
  for (size_t k = i; k < j; k++) {
    if (s[k] == '_') continue;
    if (s[k] != '0') nonzero = 1;
    if (intd <= 18) v = v * 10 + (s[k] - '0');
  }
  if (s[i] == '0' && nonzero)
    return set_error(c, CALC_E_SYNTAX, pos,
                     "leading zeros in decimal integer literals are not "
                     "permitted (position %zu)", pos),
           0;
  if ((unsigned long)intd > c->lim.max_digits)
    return set_error(c, CALC_E_TOO_LARGE, pos,
                     "integer literal at position %zu has more than %u "
                     "digits", pos, c->lim.max_digits),
           0;
  if (intd <= 18) {
    lit->kind = LIT_SMALL;
    lit->value = v;
  } else {
    lit->kind = LIT_DEC;
  }
  return j;

bad_decimal:
  return set_error(c, CALC_E_SYNTAX, pos,
                   "invalid decimal literal at position %zu", pos),
         0;
}

/* Length of the valid UTF-8 sequence at s[0..n), or 0; *cp gets it. */
static size_t utf8_seq(const unsigned char *s, size_t n, unsigned *cp) {
  unsigned c0 = s[0], need, min;
  if (c0 >= 0xC2 && c0 <= 0xDF) { need = 1; min = 0x80; *cp = c0 & 0x1F; }
  else if (c0 >= 0xE0 && c0 <= 0xEF) { need = 2; min = 0x800; *cp = c0 & 0x0F; }
  else if (c0 >= 0xF0 && c0 <= 0xF4) { need = 3; min = 0x10000; *cp = c0 & 0x07; }
  else return 0;
  if (n < need + 1) return 0;
  for (unsigned k = 1; k <= need; k++) {
    if ((s[k] & 0xC0) != 0x80) return 0;
    *cp = (*cp << 6) | (s[k] & 0x3F);
  }
  if (*cp < min || *cp > 0x10FFFF || (*cp >= 0xD800 && *cp <= 0xDFFF))
    return 0;
  return need + 1;
}

/* Record the error for a character that starts no token. */
static void refuse_char(calc_ctx *c, size_t i) {
  const unsigned char *s = (const unsigned char *)c->src;
  size_t pos = i + 1;
  unsigned ch = s[i];

  if (is_alpha((int)ch)) {
    size_t j = i;
    while (j < c->len && is_ident(s[j])) j++;
    int show = j - i > 24 ? 24 : (int)(j - i);
    set_error(c, CALC_E_UNSUPPORTED, pos,
              "name '%.*s%s' at position %zu: only numbers and operators "
              "are evaluated", show, c->src + i, j - i > 24 ? "..." : "", pos);
    return;
  }
  if ((ch == '<' || ch == '>') && i + 1 < c->len && s[i + 1] == ch) {
    set_error(c, CALC_E_UNSUPPORTED, pos,
              "bitwise operators are not supported ('%c%c' at position %zu)",
              ch, ch, pos);
    return;
  }
  for (size_t r = 0; r < sizeof calc_refusals / sizeof *calc_refusals; r++) {
    if (ch && strchr(calc_refusals[r].chars, (int)ch)) {
      set_error(c, calc_refusals[r].kind, pos, "%s ('%c' at position %zu)",
                calc_refusals[r].why, ch, pos);
      return;
    }
  }
  if (ch == 0) {
    set_error(c, CALC_E_SYNTAX, pos, "NUL byte at position %zu", pos);
  } else if (ch >= 0x80) {
    unsigned cp;
    if (utf8_seq(s + i, c->len - i, &cp))
      set_error(c, CALC_E_SYNTAX, pos,
                "invalid character U+%04X at position %zu", cp, pos);
    else
      set_error(c, CALC_E_SYNTAX, pos, "invalid UTF-8 at position %zu", pos);
  } else if (ch < 0x20 || ch == 0x7F) {
    set_error(c, CALC_E_SYNTAX, pos,
              "invalid character '\\x%02x' at position %zu", ch, pos);
  } else {
    set_error(c, CALC_E_SYNTAX, pos, "invalid character '%c' at position %zu",
              ch, pos);
  }
}

/* The next token at or after *i.  For T_NUM fills *lit; for T_OP sets *op
 * to the binary operator.  *start gets the token's offset. */
static enum calc_tok lex(calc_ctx *c, size_t *i, int depth, size_t *start,
                         calc_op *op, calc_lit *lit) {
  const char *s = c->src;
  size_t n = c->len, k = *i;

  for (;;) {
    while (k < n && calc_is_blank((unsigned char)s[k])) k++;
    if (k < n && s[k] == '#') /* a comment runs to the end of its line */
      while (k < n && s[k] != '\n' && s[k] != '\r') k++;
    if (k < n && (s[k] == '\n' || s[k] == '\r')) {
      /* Inside parentheses a newline is blank (implicit line joining);
       * outside, only trailing blank lines may follow. */
      size_t nl = k;
      k++;
      if (depth > 0) continue;
      size_t t = k;
      while (t < n) {
        if (calc_is_blank((unsigned char)s[t]) || s[t] == '\n' ||
            s[t] == '\r')
          t++;
        else if (s[t] == '#') while (t < n && s[t] != '\n' && s[t] != '\r') t++;
        else break;
      }
      if (t < n) {
        set_error(c, CALC_E_SYNTAX, nl + 1,
                  "unexpected newline at position %zu", nl + 1);
        return T_ERR;
      }
      k = t;
      continue;
    }
    break;
  }
  *start = k;
  if (k >= n) {
    *i = k;
    return T_END;
  }
  unsigned char ch = (unsigned char)s[k];
  if (is_digit(ch) || (ch == '.' && k + 1 < n && is_digit((unsigned char)s[k + 1]))) {
    size_t end = lex_number(c, k, lit);
    if (!end) return T_ERR;
    *i = end;
    return T_NUM;
  }
  switch (ch) {
  case '+': *op = CALC_OP_ADD; *i = k + 1; return T_OP;
  case '-': *op = CALC_OP_SUB; *i = k + 1; return T_OP;
  case '%': *op = CALC_OP_MOD; *i = k + 1; return T_OP;
  case '*':
  case '/': {
    int twice = k + 1 < n && s[k + 1] == (char)ch;
    *op = ch == '*' ? (twice ? CALC_OP_POW : CALC_OP_MUL)
                    : (twice ? CALC_OP_FLOORDIV : CALC_OP_DIV);
    if (k + 1 + twice < n && s[k + 1 + twice] == '=') break; /* *= //= ... */
    *i = k + 1 + twice;
    return T_OP;
  }
  case '(': *i = k + 1; return T_LP;
  case ')': *i = k + 1; return T_RP;
  default: break;
  }
  if (ch == '*' || ch == '/') {
    set_error(c, CALC_E_UNSUPPORTED, k + 1,
              "assignments are not supported (position %zu)", k + 1);
    return T_ERR;
  }
  refuse_char(c, k);
  return T_ERR;
}

/* ---- parser ------------------------------------------------------------------ */

/* Pop the operator on top of the pending stack into a node. */
static void reduce(calc_ctx *c, int *npend, int *nout) {
  calc_op op = (calc_op)c->pend[--*npend].op;
  uint32_t opos = c->pend[*npend].pos;
  int id = c->nnodes++;
  calc_node *nd = &c->nodes[id];
  nd->op = op;
  if (calc_op_table[op].arity == 1) {
    int a = c->out[--*nout];
    nd->left = a;
    nd->right = -1;
    nd->start = opos;
    nd->end = c->oend[a];
  } else {
    int b = c->out[--*nout], a = c->out[--*nout];
    nd->left = a;
    nd->right = b;
    nd->start = c->ostart[a];
    nd->end = c->oend[b];
  }
  c->ostart[id] = nd->start;
  c->oend[id] = nd->end;
  c->classes |= calc_op_table[op].cls;
  c->ops |= 1u << op;
  c->out[(*nout)++] = id;
}

#define PEND_LPAREN CALC_OP_COUNT_

calc_err calc_parse(calc_ctx *c, const char *src, size_t len) {
  c->src = src;
  c->len = len;
  c->nnodes = 0;
  c->root = -1;
  c->classes = c->ops = 0;
  c->err = CALC_OK;
  c->errpos = 0;
  c->reply_len = 0;
  c->env.work = 0;
  c->reply[0] = '\0';
  if (len > c->lim.max_len)
    return set_error(c, CALC_E_TOO_LONG, 0, CALC_MSG_TOO_LONG,
                     c->lim.max_len);

  int npend = 0, nout = 0, depth = 0, want_operand = 1;
  size_t i = 0, start = 0;
  calc_op op = CALC_OP_NUM;
  calc_lit lit;

  for (;;) {
    enum calc_tok t = lex(c, &i, depth, &start, &op, &lit);
    size_t pos = start + 1;
    if (t == T_ERR) return c->err;
    if (want_operand) {
      switch (t) {
      case T_NUM: {
        int id = c->nnodes++;
        c->nodes[id] = (calc_node){CALC_OP_NUM, -1, -1, (uint32_t)start,
                                   (uint32_t)i};
        c->lits[id] = lit;
        c->ostart[id] = (uint32_t)start;
        c->oend[id] = (uint32_t)i;
        c->out[nout++] = id;
        want_operand = 0;
        continue;
      }
      case T_OP:
        if (op == CALC_OP_ADD || op == CALC_OP_SUB) {
          c->pend[npend++] = (calc_pending){
              op == CALC_OP_ADD ? CALC_OP_POS : CALC_OP_NEG, (uint32_t)start};
          continue;
        }
        return set_error(c, CALC_E_SYNTAX, pos, "unexpected '%s' at position %zu",
                         calc_op_table[op].symbol, pos);
      case T_LP:
        if (++depth > (int)c->lim.max_depth)
          return set_error(c, CALC_E_TOO_DEEP, pos,
                           "more than %u nested parentheses at position %zu",
                           c->lim.max_depth, pos);
        c->pend[npend++] = (calc_pending){PEND_LPAREN, (uint32_t)start};
        continue;
      case T_RP:
        if (npend > 0 && c->pend[npend - 1].op == PEND_LPAREN)
          return set_error(c, CALC_E_UNSUPPORTED, pos,
                           "empty parentheses (a tuple) at position %zu", pos);
        return set_error(c, CALC_E_SYNTAX, pos, "unexpected ')' at position %zu",
                         pos);
      case T_END:
        if (c->nnodes == 0 && npend == 0)
          return set_error(c, CALC_E_SYNTAX, 0, "empty expression");
        return set_error(c, CALC_E_SYNTAX, len + 1,
                         "unexpected end of expression at position %zu",
                         len + 1);
      default: break;
      }
    } else {
      switch (t) {
      case T_OP:
        while (npend > 0 && c->pend[npend - 1].op != PEND_LPAREN &&
               calc_op_table[c->pend[npend - 1].op].rprio >=
                   calc_op_table[op].lprio)
          reduce(c, &npend, &nout);
        c->pend[npend++] = (calc_pending){(unsigned char)op, (uint32_t)start};
        want_operand = 1;
        continue;
      case T_RP:
        while (npend > 0 && c->pend[npend - 1].op != PEND_LPAREN)
          reduce(c, &npend, &nout);
        if (npend == 0)
          return set_error(c, CALC_E_SYNTAX, pos,
                           "unmatched ')' at position %zu", pos);
        npend--;
        depth--;
        c->ostart[c->out[nout - 1]] = c->pend[npend].pos;
        c->oend[c->out[nout - 1]] = (uint32_t)i;
        continue;
      case T_NUM:
        return set_error(c, CALC_E_SYNTAX, pos,
                         "unexpected number at position %zu", pos);
      case T_LP:
        return set_error(c, CALC_E_UNSUPPORTED, pos,
                         "calls are not supported ('(' at position %zu)", pos);
      case T_END:
        while (npend > 0) {
          if (c->pend[npend - 1].op == PEND_LPAREN) {
            return set_error(c, CALC_E_SYNTAX, len + 1,
                             "unexpected end of expression at position %zu: "
                             "'(' at position %u was never closed",
                             len + 1, (unsigned)c->pend[npend - 1].pos + 1);
          }
          reduce(c, &npend, &nout);
        }
        c->root = c->out[0];
        return CALC_OK;
      default: break;
      }
    }
  }
}

/* ---- evaluation ------------------------------------------------------------- */

/* The value of literal node id into v. */
static calc_err load_literal(calc_ctx *c, int id, calc_val *v) {
  const calc_lit *lit = &c->lits[id];
  if (lit->kind == LIT_SMALL) {
    v->type = CALC_V_INT;
    v->i = lit->value;
    return CALC_OK;
  }
  const calc_node *nd = &c->nodes[id];
  const char *s = c->src + nd->start;
  size_t n = nd->end - nd->start, k = 0, i = 0;
  if (lit->kind == LIT_RADIX) i = 2; /* skip 0x / 0o / 0b */
  for (; i < n; i++)
    if (s[i] != '_') c->scratch[k++] = s[i];
  c->scratch[k] = '\0';
  if (lit->kind == LIT_FLOAT) {
    calc_num_set_float(&c->env, v, c->scratch);
    return CALC_OK;
  }
  calc_err e = calc_num_set_digits(&c->env, v, c->scratch,
                                   lit->kind == LIT_RADIX ? lit->base : 10);
  if (e)
    set_error(c, e, nd->start + 1, "%s (literal at position %u)", c->env.msg,
              nd->start + 1);
  return e;
}

calc_err calc_eval_parsed(calc_ctx *c) {
  if (c->root < 0) return c->err ? c->err : set_error(c, CALC_E_INTERNAL, 0,
                                                      "nothing parsed");
  int sp = 0;
  c->env.work = 0;
  for (int id = 0; id < c->nnodes; id++) {
    const calc_node *nd = &c->nodes[id];
    calc_err e;
    switch (nd->op) {
    case CALC_OP_NUM:
      if ((e = load_literal(c, id, &c->vals[sp]))) return e;
      sp++;
      break;
    case CALC_OP_POS: break;
    case CALC_OP_NEG: calc_num_neg(&c->vals[sp - 1]); break;
    default: {
      calc_val *a = &c->vals[sp - 2], *b = &c->vals[sp - 1];
      int64_t r;
      if (nd->op == CALC_OP_MUL && a->type == CALC_V_INT &&
          b->type == CALC_V_INT && !__builtin_mul_overflow(a->i, b->i, &r)) {
        a->i = r; /* the common case, inline */
        sp--;
        break;
      }
      if ((e = calc_num_binop(&c->env, nd->op, a, b)))
        return set_error(c, e, 0, "%s", c->env.msg);
      sp--;
      break;
    }
    }
  }
  calc_err e = calc_num_format(&c->env, &c->vals[0], c->lim.max_digits,
                               c->reply, sizeof c->reply, &c->reply_len);
  if (e) return set_error(c, e, 0, "%s", c->env.msg);
  c->err = CALC_OK;
  return CALC_OK;
}

calc_err calc_eval(calc_ctx *c, const char *src, size_t len) {
  calc_err e = calc_parse(c, src, len);
  return e ? e : calc_eval_parsed(c);
}

/* ---- the tree --------------------------------------------------------------- */

int calc_root(const calc_ctx *c) { return c->root; }
int calc_node_count(const calc_ctx *c) { return c->root < 0 ? 0 : c->nnodes; }
const calc_node *calc_node_at(const calc_ctx *c, int i) {
  return i >= 0 && i < c->nnodes && c->root >= 0 ? &c->nodes[i] : NULL;
}
unsigned calc_classes(const calc_ctx *c) { return c->classes; }
unsigned calc_ops(const calc_ctx *c) { return c->ops; }
uint64_t calc_work(const calc_ctx *c) { return c->env.work; }

const char *calc_op_symbol(calc_op op) {
  return (unsigned)op < CALC_OP_COUNT_ ? calc_op_table[op].symbol : "";
}
unsigned calc_op_class(calc_op op) {
  return (unsigned)op < CALC_OP_COUNT_ ? calc_op_table[op].cls : 0;
}
const char *calc_op_name(calc_op op) {
  return (unsigned)op < CALC_OP_COUNT_ ? calc_op_table[op].name : "";
}
