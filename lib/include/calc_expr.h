/* SPDX-License-Identifier: MIT
 *
 * calc_expr.h: the expression core.  Parses a Python 3 arithmetic
 * expression and evaluates it with Python 3's exact semantics (unbounded
 * ints, IEEE doubles, repr() output), running no code.
 *
 * All state lives in a calc_ctx the caller owns: one per thread, reused
 * for every request (after warm-up, small-int requests allocate nothing).
 *
 *   calc_ctx *c = calc_ctx_new(NULL);
 *   calc_eval(c, "15*15", 5);          // CALC_OK
 *   size_t n; const char *r = calc_reply(c, &n);   // "225"
 *   calc_ctx_free(c);
 */
#ifndef CALC_EXPR_H
#define CALC_EXPR_H

#include <stddef.h>
#include <stdint.h>

#include "calc_err.h"

/* Default (and largest) limits.  A caller may tighten each one. */
#define CALC_MAX_REQUEST_LEN 4096  /* bytes of one expression */
#define CALC_MAX_DEPTH       200   /* nested parentheses, as CPython */
#define CALC_MAX_DIGITS      4300  /* decimal digits of an int literal or
                                      result, as CPython's str(int) limit */
#define CALC_MAX_INT_BITS    65536 /* bits of any intermediate int */
#define CALC_MAX_WORK        (1u << 23) /* big-int work of one request, in
                                           limb operations (~2 ms): bounds
                                           long chains of big operations */

/* The messages other modules key on, spelled once: the over-long request
 * (calc_parse, calc_answer) and the int too long to print (a client that
 * splits an expression cannot carry such an intermediate result). */
#define CALC_MSG_TOO_LONG   "request longer than %zu bytes"
#define CALC_MSG_INT_DIGITS "integer result has more than %u digits"

/* Python's blank between tokens: space, tab, form feed (the tokenizer's
 * whitespace; a newline is not blank).  The one definition in lib/: the
 * tokenizer, the request tag and the clients use it. */
static inline int calc_is_blank(int ch) {
  return ch == ' ' || ch == '\t' || ch == '\f';
}

/* Longest reply text calc_reply() can return: a result of CALC_MAX_DIGITS
 * digits and its sign, or an error line. */
#define CALC_REPLY_MAX (CALC_MAX_DIGITS + 64)

typedef struct calc_limits {
  size_t max_len;         /* request bytes */
  unsigned max_depth;     /* parenthesis nesting */
  unsigned max_digits;    /* result and literal digits */
  unsigned max_int_bits;  /* intermediate int size */
  unsigned max_work;      /* big-int limb operations per request */
} calc_limits;

/* Operators, in the order of calc_op_table (calc_expr.c). */
typedef enum calc_op {
  CALC_OP_NUM = 0, /* a literal (leaf) */
  CALC_OP_ADD,     /* binary +  */
  CALC_OP_SUB,     /* binary -  */
  CALC_OP_MUL,     /* *  */
  CALC_OP_DIV,     /* /  */
  CALC_OP_FLOORDIV,/* // */
  CALC_OP_MOD,     /* %  */
  CALC_OP_POW,     /* ** */
  CALC_OP_POS,     /* unary + */
  CALC_OP_NEG,     /* unary - */
  CALC_OP_COUNT_
} calc_op;

/* Operator classes: the assignment's two servers. Unary signs are in none. */
#define CALC_CLASS_ADDSUB 1u /* binary + - */
#define CALC_CLASS_MULDIV 2u /* * / // % ** */

/* One node of a parsed expression.  start/end delimit the node's source
 * text [start, end) in the parsed string, without enclosing parentheses;
 * left/right are node indexes (-1 when absent; a unary node has only left). */
typedef struct calc_node {
  calc_op op;
  int32_t left, right;
  uint32_t start, end;
} calc_node;

typedef struct calc_ctx calc_ctx;

/* Fill *lim with the defaults above. */
void calc_limits_default(calc_limits *lim);

/* A new context with limits lim (NULL: defaults).  A zero field means its
 * default; fields above the default are clamped to it.  NULL on OOM. */
calc_ctx *calc_ctx_new(const calc_limits *lim);
void calc_ctx_free(calc_ctx *c);
const calc_limits *calc_ctx_limits(const calc_ctx *c);

/* Parse and evaluate the len bytes at src (no NUL needed).  Returns CALC_OK
 * or the error kind; either way calc_reply() then gives the reply text. */
calc_err calc_eval(calc_ctx *c, const char *src, size_t len);

/* Parse only.  On CALC_OK the tree below is valid until the next call on c
 * (and src must stay alive for calc_eval_parsed()). */
calc_err calc_parse(calc_ctx *c, const char *src, size_t len);

/* Evaluate what calc_parse() just accepted. */
calc_err calc_eval_parsed(calc_ctx *c);

/* The reply text of the last calc_eval/calc_eval_parsed (or calc_parse
 * error): the result ("225", "0.5", "-inf") or "ERR <kind>: <message>",
 * NUL-terminated, valid until the next call on c.  len may be NULL. */
const char *calc_reply(const calc_ctx *c, size_t *len);

/* The last error kind (CALC_OK after a success), its message without the
 * "ERR kind: " prefix, and the 1-based byte position it names (0: none). */
calc_err calc_last_err(const calc_ctx *c);
const char *calc_errmsg(const calc_ctx *c);
size_t calc_errpos(const calc_ctx *c);

/* The parsed tree (after calc_parse or calc_eval succeeded in parsing). */
int calc_root(const calc_ctx *c);               /* -1 when none */
int calc_node_count(const calc_ctx *c);
const calc_node *calc_node_at(const calc_ctx *c, int i);

/* Which operator classes / operators the parsed expression uses:
 * CALC_CLASS_* bits, and (1u << calc_op) bits for each operator. */
unsigned calc_classes(const calc_ctx *c);
unsigned calc_ops(const calc_ctx *c);

/* The big-int work (limb operations, the unit of CALC_MAX_WORK) the last
 * calc_parse/calc_eval/calc_eval_parsed on c spent: what evaluating it
 * really cost, whatever the length of its answer. */
uint64_t calc_work(const calc_ctx *c);

/* An operator's source symbol ("//"), its class (0 for leaves and unary
 * signs) and a short name ("floordiv"), from the operator table. */
const char *calc_op_symbol(calc_op op);
unsigned calc_op_class(calc_op op);
const char *calc_op_name(calc_op op);

#endif /* CALC_EXPR_H */
