/* SPDX-License-Identifier: MIT
 *
 * fuzz_eval: libFuzzer target for the expression core and the protocol's
 * calc_answer().  Each input is one request (framing removed), answered in
 * every role over TCP and under the UDP bound, and checked against what
 * the protocol promises:
 *
 *   - the reply fits the bound and CALC_ANSWER_MAX, is NUL-terminated and
 *     is printable ASCII (no CR/LF to break framing);
 *   - it parses with calc_reply_parse(); it starts with 'E' only as
 *     "ERR <known token>", and its kind is the one calc_answer() reported;
 *     a result is a number (int within CALC_MAX_DIGITS, or a float repr);
 *   - the request's tag comes back, except past the length limit
 *     (too-long, without a tag);
 *   - the reply is in the strict reply grammar, and calc_answer_info_of()'s
 *     flags and lengths are what calc_reply_parse() reads back;
 *   - it is deterministic: a second context with another history gives
 *     the same bytes;
 *   - a role server answers like the all-operators server when the
 *     expression uses only its operators, else refuses with `unsupported`;
 *     a UDP reply equals the TCP one when that fits, else is shortened;
 *   - calc_eval() agrees with calc_parse() + calc_eval_parsed(), and the
 *     parsed tree is well formed (postfix, spans inside the request,
 *     classes and operator bits match the nodes).
 *
 * A failed check aborts (also in Release builds, where assert() is off):
 * the fuzzer keeps the input as a reproducer.  fuzz_replay.c runs the same
 * checks on stored inputs in the normal build (ctest bench.fuzz_replay).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "calc_expr.h"
#include "calc_proto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_CHECK(cond)                                                   \
  do {                                                                     \
    if (!(cond)) fuzz_fail(#cond, __LINE__);                               \
  } while (0)

static void fuzz_fail(const char *what, int line) {
  fprintf(stderr, "fuzz_eval.c:%d: invariant failed: %s\n", line, what);
  abort();
}

typedef struct fuzz_reply {
  char text[CALC_ANSWER_MAX + 1];
  size_t len;
  calc_err kind;
  int over;  /* the request was over the length limit */
} fuzz_reply;

static int is_digit(char ch) { return ch >= '0' && ch <= '9'; }

/* A result body: an int ("-123") or a float repr ("1e+16", "-inf"). */
static void check_number(const char *p, size_t n) {
  FUZZ_CHECK(n > 0);
  size_t i = p[0] == '-';
  int all_digits = i < n;
  for (size_t k = i; k < n; k++) all_digits &= is_digit(p[k]);
  if (all_digits) {
    FUZZ_CHECK(n - i <= CALC_MAX_DIGITS);
    FUZZ_CHECK(p[i] != '0' || n - i == 1); /* no leading zeros */
    return;
  }
  char buf[64];
  FUZZ_CHECK(n < sizeof buf);
  memcpy(buf, p, n);
  buf[n] = '\0';
  char *end;
  (void)strtod(buf, &end);
  FUZZ_CHECK(end == buf + n);
  FUZZ_CHECK(strchr(buf, '.') || strchr(buf, 'e') || strstr(buf, "inf") ||
             strcmp(buf, "nan") == 0);
}

/* The promises every reply keeps (see the file header). */
static void check_reply(const fuzz_reply *r, size_t bound,
                        const calc_request *rq) {
  FUZZ_CHECK(r->len <= bound);
  FUZZ_CHECK(r->len < CALC_ANSWER_MAX);
  FUZZ_CHECK(r->text[r->len] == '\0');
  for (size_t i = 0; i < r->len; i++)
    FUZZ_CHECK(r->text[i] >= 0x20 && r->text[i] < 0x7f);

  calc_reply_info ri;
  FUZZ_CHECK(calc_reply_parse(r->text, r->len, &ri) == 0);
  FUZZ_CHECK(ri.is_error == (r->kind != CALC_OK));
  if (r->text[0] == 'E') FUZZ_CHECK(ri.is_error);
  if (ri.is_error) {
    FUZZ_CHECK(ri.kind == r->kind);
    FUZZ_CHECK(calc_err_token(ri.kind) != NULL);
  } else {
    check_number(ri.body, ri.body_len);
  }
  FUZZ_CHECK(ri.strict); /* the reply grammar clients enforce */
  if (r->over) { /* the length rule: too-long, without a tag */
    FUZZ_CHECK(r->kind == CALC_E_TOO_LONG && !ri.has_tag);
    FUZZ_CHECK(ri.flags & CALC_REPLY_TOO_LONG);
    return;
  }
  FUZZ_CHECK(ri.has_tag == rq->has_tag);
  if (rq->has_tag) FUZZ_CHECK(ri.tag == rq->tag);
}

static void answer(calc_ctx *c, calc_role role, const char *req, size_t n,
                   size_t bound, fuzz_reply *r) {
  calc_answer_info ai;
  r->len = calc_answer_info_of(c, role, req, n, bound, r->text,
                               sizeof r->text, &ai);
  r->kind = ai.kind;
  r->over = n > calc_ctx_limits(c)->max_len;
  /* the info agrees with the bytes, and with calc_answer() */
  FUZZ_CHECK(ai.len == r->len && ai.body_len <= ai.len);
  calc_reply_info ri;
  calc_reply_parse(r->text, r->len, &ri);
  FUZZ_CHECK(ri.flags == ai.flags && ri.text_len == ai.body_len);
}

static int same(const fuzz_reply *a, const fuzz_reply *b) {
  return a->len == b->len && a->kind == b->kind &&
         memcmp(a->text, b->text, a->len) == 0;
}

/* The tree calc_parse() left in c for the n-byte request is well formed. */
static void check_tree(const calc_ctx *c, size_t n) {
  int count = calc_node_count(c), root = calc_root(c);
  FUZZ_CHECK(count > 0 && root == count - 1); /* postfix: root last */
  unsigned ops = 0, classes = 0;
  for (int i = 0; i < count; i++) {
    const calc_node *nd = calc_node_at(c, i);
    FUZZ_CHECK(nd != NULL);
    FUZZ_CHECK((unsigned)nd->op < CALC_OP_COUNT_);
    FUZZ_CHECK(nd->start < nd->end && nd->end <= n);
    FUZZ_CHECK(nd->left < i && nd->right < i);
    if (nd->op == CALC_OP_NUM) {
      FUZZ_CHECK(nd->left == -1 && nd->right == -1);
    } else {
      FUZZ_CHECK(nd->left >= 0);
      int unary = nd->op == CALC_OP_POS || nd->op == CALC_OP_NEG;
      FUZZ_CHECK(unary ? nd->right == -1 : nd->right >= 0);
      ops |= 1u << nd->op;
      classes |= calc_op_class(nd->op);
    }
  }
  FUZZ_CHECK(calc_ops(c) == ops);
  FUZZ_CHECK(calc_classes(c) == classes);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static calc_ctx *ctx, *other; /* other: the determinism witness */
  static fuzz_reply r, r2, all_tcp;
  if (!ctx) {
    ctx = calc_ctx_new(NULL);
    other = calc_ctx_new(NULL);
    if (!ctx || !other) abort();
  }
  const char *req = (const char *)data;
  calc_request rq;
  calc_request_split(req, size, &rq);

  /* Which classes the expression uses (-1: it does not parse). */
  long classes = -1;
  if (size <= calc_ctx_limits(ctx)->max_len &&
      calc_parse(ctx, rq.expr, rq.expr_len) == CALC_OK) {
    check_tree(ctx, rq.expr_len);
    classes = (long)calc_classes(ctx);
  }

  for (int role = 0; role < CALC_ROLE_COUNT_; role++) {
    fuzz_reply tcp;
    for (int udp = 0; udp < 2; udp++) {
      size_t bound = udp ? calc_udp_bound(size) : SIZE_MAX;
      answer(ctx, (calc_role)role, req, size, bound, &r);
      check_reply(&r, bound, &rq);
      answer(other, (calc_role)role, req, size, bound, &r2);
      FUZZ_CHECK(same(&r, &r2));
      if (!udp) {
        tcp = r;
        continue;
      }
      if (tcp.len <= bound) /* UDP: the TCP reply when it fits */
        FUZZ_CHECK(same(&r, &tcp));
      else
        FUZZ_CHECK(r.kind == tcp.kind || r.kind == CALC_E_TOO_LARGE);
    }
    if (role == CALC_ROLE_ALL) {
      all_tcp = tcp;
    } else if (classes >= 0 &&
               ((unsigned long)classes & ~calc_role_classes((calc_role)role))) {
      FUZZ_CHECK(tcp.kind == CALC_E_UNSUPPORTED);
    } else {
      FUZZ_CHECK(same(&tcp, &all_tcp));
    }
  }

  /* The core's own entry points agree (no tag handling: the whole input). */
  if (size <= CALC_MAX_REQUEST_LEN) {
    size_t n1, n2;
    calc_err e1 = calc_eval(ctx, req, size);
    const char *t1 = calc_reply(ctx, &n1);
    FUZZ_CHECK(n1 <= CALC_REPLY_MAX && t1[n1] == '\0');
    FUZZ_CHECK(calc_last_err(ctx) == e1);
    memcpy(r.text, t1, n1 + 1);
    calc_err e2 = calc_parse(other, req, size);
    if (e2 == CALC_OK) e2 = calc_eval_parsed(other);
    const char *t2 = calc_reply(other, &n2);
    FUZZ_CHECK(e1 == e2 && n1 == n2 && memcmp(r.text, t2, n1) == 0);
  }
  return 0;
}
