/* SPDX-License-Identifier: MIT
 *
 * test_tree.c: the parsed tree a client uses to split an expression by
 * operator class (calc_root, calc_node_at, calc_classes, calc_ops) and the
 * operator table accessors.
 */
#include <string.h>

#include <glib.h>

#include "calc_expr.h"
#include "calc_test.h"

/* ---- the operator table ---------------------------------------------------- */

static const struct {
  calc_op op;
  const char *symbol, *name;
  unsigned cls;
} op_rows[] = {
  {CALC_OP_NUM, "", "number", 0},
  {CALC_OP_ADD, "+", "add", CALC_CLASS_ADDSUB},
  {CALC_OP_SUB, "-", "sub", CALC_CLASS_ADDSUB},
  {CALC_OP_MUL, "*", "mul", CALC_CLASS_MULDIV},
  {CALC_OP_DIV, "/", "div", CALC_CLASS_MULDIV},
  {CALC_OP_FLOORDIV, "//", "floordiv", CALC_CLASS_MULDIV},
  {CALC_OP_MOD, "%", "mod", CALC_CLASS_MULDIV},
  {CALC_OP_POW, "**", "pow", CALC_CLASS_MULDIV},
  {CALC_OP_POS, "+", "pos", 0},
  {CALC_OP_NEG, "-", "neg", 0},
};

static void test_op_table(void) {
  g_assert_cmpuint(G_N_ELEMENTS(op_rows), ==, CALC_OP_COUNT_);
  for (size_t i = 0; i < G_N_ELEMENTS(op_rows); i++) {
    g_assert_cmpstr(calc_op_symbol(op_rows[i].op), ==, op_rows[i].symbol);
    g_assert_cmpstr(calc_op_name(op_rows[i].op), ==, op_rows[i].name);
    g_assert_cmpuint(calc_op_class(op_rows[i].op), ==, op_rows[i].cls);
  }
  g_assert_cmpstr(calc_op_symbol(CALC_OP_COUNT_), ==, "");
  g_assert_cmpstr(calc_op_name((calc_op)-1), ==, "");
  g_assert_cmpuint(calc_op_class(CALC_OP_COUNT_), ==, 0);
}

/* ---- shapes and spans ------------------------------------------------------ */

/* A node named by its path from the root: "" root, "l" left, "rl"... */
typedef struct span_row {
  const char *path;
  calc_op op;
  unsigned start, end;
} span_row;

typedef struct shape_case {
  const char *in;
  unsigned classes;
  unsigned ops;
  int count;
  span_row nodes[8];
} shape_case;

#define B(op) (1u << CALC_OP_##op)
#define AS CALC_CLASS_ADDSUB
#define MD CALC_CLASS_MULDIV

static const shape_case shapes[] = {
  {"3+4*2", AS | MD, B(ADD) | B(MUL), 5,
   {{"", CALC_OP_ADD, 0, 5}, {"l", CALC_OP_NUM, 0, 1},
    {"r", CALC_OP_MUL, 2, 5}, {"rl", CALC_OP_NUM, 2, 3},
    {"rr", CALC_OP_NUM, 4, 5}}},
  {"(1+2)*3", AS | MD, B(ADD) | B(MUL), 5,
   {{"", CALC_OP_MUL, 0, 7}, {"l", CALC_OP_ADD, 1, 4},
    {"ll", CALC_OP_NUM, 1, 2}, {"r", CALC_OP_NUM, 6, 7}}},
  {"-2**2", MD, B(NEG) | B(POW), 4,
   {{"", CALC_OP_NEG, 0, 5}, {"l", CALC_OP_POW, 1, 5},
    {"lr", CALC_OP_NUM, 4, 5}}},
  {"2**-1", MD, B(NEG) | B(POW), 4,
   {{"", CALC_OP_POW, 0, 5}, {"r", CALC_OP_NEG, 3, 5},
    {"rl", CALC_OP_NUM, 4, 5}}},
  {"2**3**2", MD, B(POW), 5,
   {{"", CALC_OP_POW, 0, 7}, {"l", CALC_OP_NUM, 0, 1},
    {"r", CALC_OP_POW, 3, 7}}},
  {"1-2-3", AS, B(SUB), 5,
   {{"", CALC_OP_SUB, 0, 5}, {"l", CALC_OP_SUB, 0, 3},
    {"r", CALC_OP_NUM, 4, 5}}},
  {"10 // 3 % 2", MD, B(FLOORDIV) | B(MOD), 5,
   {{"", CALC_OP_MOD, 0, 11}, {"l", CALC_OP_FLOORDIV, 0, 7},
    {"ll", CALC_OP_NUM, 0, 2}, {"lr", CALC_OP_NUM, 6, 7}}},
  {"7/2", MD, B(DIV), 3, {{"", CALC_OP_DIV, 0, 3}}},
  {"-1", 0, B(NEG), 2,
   {{"", CALC_OP_NEG, 0, 2}, {"l", CALC_OP_NUM, 1, 2}}},
  {"+-1", 0, B(POS) | B(NEG), 3,
   {{"", CALC_OP_POS, 0, 3}, {"l", CALC_OP_NEG, 1, 3}}},
  {"1", 0, 0, 1, {{"", CALC_OP_NUM, 0, 1}}},
  {"((7))", 0, 0, 1, {{"", CALC_OP_NUM, 2, 3}}},
  {"  1 +  2 ", AS, B(ADD), 3,
   {{"", CALC_OP_ADD, 2, 8}, {"l", CALC_OP_NUM, 2, 3},
    {"r", CALC_OP_NUM, 7, 8}}},
  {"0x_ff - 1.5e3", AS, B(SUB), 3,
   {{"l", CALC_OP_NUM, 0, 5}, {"r", CALC_OP_NUM, 8, 13}}},
  {"1+(2)", AS, B(ADD), 3,
   {{"", CALC_OP_ADD, 0, 5}, {"r", CALC_OP_NUM, 3, 4}}},
  {"1/0", MD, B(DIV), 3, {{"", CALC_OP_DIV, 0, 3}}}, /* parses fine */
};

static const calc_node *walk(const calc_ctx *c, const char *path) {
  const calc_node *nd = calc_node_at(c, calc_root(c));
  for (const char *p = path; nd && *p; p++)
    nd = calc_node_at(c, *p == 'l' ? nd->left : nd->right);
  return nd;
}

static void test_shapes(void) {
  calc_ctx *c = calc_ctx_new(NULL);
  for (size_t i = 0; i < G_N_ELEMENTS(shapes); i++) {
    const shape_case *s = &shapes[i];
    if (calc_parse(c, s->in, strlen(s->in)) != CALC_OK) {
      FAIL("%s: %s", s->in, calc_reply(c, NULL));
      continue;
    }
    if (calc_classes(c) != s->classes || calc_ops(c) != s->ops ||
        calc_node_count(c) != s->count)
      FAIL("%s: classes %u ops %#x count %d, want %u %#x %d",
                         s->in, calc_classes(c), calc_ops(c),
                         calc_node_count(c), s->classes, s->ops, s->count);
    for (size_t k = 0; k < G_N_ELEMENTS(s->nodes) && s->nodes[k].path; k++) {
      const span_row *w = &s->nodes[k];
      const calc_node *nd = walk(c, w->path);
      if (!nd) {
        FAIL("%s: no node at '%s'", s->in, w->path);
        continue;
      }
      if (nd->op != w->op || nd->start != w->start || nd->end != w->end)
        FAIL("%s: node '%s' is %s [%u,%u), want %s [%u,%u)",
                           s->in, w->path, calc_op_name(nd->op), nd->start,
                           nd->end, calc_op_name(w->op), w->start, w->end);
    }
  }
  calc_ctx_free(c);
}

/* Without a successful parse there is no tree. */
static void test_no_tree(void) {
  calc_ctx *c = calc_ctx_new(NULL);
  g_assert_cmpint(calc_root(c), ==, -1);
  g_assert_cmpint(calc_node_count(c), ==, 0);
  g_assert_null(calc_node_at(c, 0));
  g_assert_cmpint(calc_parse(c, "1+2", 3), ==, CALC_OK);
  g_assert_null(calc_node_at(c, -1));
  g_assert_null(calc_node_at(c, calc_node_count(c)));
  g_assert_nonnull(calc_node_at(c, calc_node_count(c) - 1));
  g_assert_cmpint(calc_parse(c, "1+", 2), ==, CALC_E_SYNTAX);
  g_assert_cmpint(calc_root(c), ==, -1);
  g_assert_cmpint(calc_node_count(c), ==, 0);
  g_assert_null(calc_node_at(c, 0));
  g_assert_cmpuint(calc_classes(c), ==, 0);
  g_assert_cmpuint(calc_ops(c), ==, 0);
  calc_ctx_free(c);
}

/* ---- the tree is enough to rebuild the expression ------------------------ */

/* Render node i fully parenthesised from the operator table and the
 * leaves' source text; check the node's invariants on the way.  Returns
 * the leaves counted, or -1 after a failure. */
static int render(const calc_ctx *c, const char *src, int i, GString *out,
                  unsigned *seen_ops, int *visits, int depth) {
  const calc_node *nd = calc_node_at(c, i);
  if (!nd || depth > 4096) return -1;
  visits[i]++;
  if (nd->start > nd->end || nd->end > strlen(src)) return -1;
  if (nd->op == CALC_OP_NUM) {
    if (nd->left != -1 || nd->right != -1) return -1;
    g_string_append_len(out, src + nd->start, nd->end - nd->start);
    return 1;
  }
  *seen_ops |= 1u << nd->op;
  const calc_node *l = calc_node_at(c, nd->left);
  if (!l || l->start < nd->start || l->end > nd->end) return -1;
  g_string_append_c(out, '(');
  int n;
  if (nd->right == -1) { /* unary */
    if (nd->op != CALC_OP_POS && nd->op != CALC_OP_NEG) return -1;
    g_string_append(out, calc_op_symbol(nd->op));
    n = render(c, src, nd->left, out, seen_ops, visits, depth + 1);
  } else {
    const calc_node *r = calc_node_at(c, nd->right);
    if (!r || r->start < nd->start || r->end > nd->end || l->end > r->start)
      return -1;
    n = render(c, src, nd->left, out, seen_ops, visits, depth + 1);
    g_string_append_printf(out, " %s ", calc_op_symbol(nd->op));
    int m = n < 0 ? -1 : render(c, src, nd->right, out, seen_ops, visits,
                                depth + 1);
    n = m < 0 ? -1 : n + m;
  }
  g_string_append_c(out, ')');
  return n;
}

static const char *const corpus[] = {
  "3+4*2", "-2**2", "2**-1", "2**3**2", "--1", "+-+1", "1-2-3",
  "(1+2)*(3-4)/5//6%7", "2**-1**2", "-3**2%5", "1--1", "2*-3",
  "0x_ff+0b1_0*0o17-1_000", "1.5e3//.5+3.%1e-5", "((((1))))+(((2)))",
  "\t1 +\t2 *  3 ", "-(2**64)//7", "1/3+2/3", "(-8)**2**1", "7", "-(-(-(1)))",
  "10**20*10**20-1", "1+2 # comment",
};

static void test_rebuild(void) {
  calc_ctx *c = calc_ctx_new(NULL);
  for (size_t i = 0; i < G_N_ELEMENTS(corpus); i++) {
    const char *src = corpus[i];
    g_assert_cmpint(calc_eval(c, src, strlen(src)), ==, CALC_OK);
    char *want = g_strdup(calc_reply(c, NULL));
    g_assert_cmpint(calc_parse(c, src, strlen(src)), ==, CALC_OK);
    int count = calc_node_count(c);
    int *visits = g_new0(int, count);
    unsigned ops = 0;
    GString *out = g_string_new(NULL);
    int leaves = render(c, src, calc_root(c), out, &ops, visits, 0);
    if (leaves < 0) {
      FAIL("%s: malformed tree", src);
    } else {
      for (int k = 0; k < count; k++)
        if (visits[k] != 1)
          FAIL("%s: node %d reached %d times", src, k,
                             visits[k]);
      if (ops != calc_ops(c))
        FAIL("%s: calc_ops %#x, tree has %#x", src, calc_ops(c),
                           ops);
      unsigned cls = 0;
      for (int op = 0; op < CALC_OP_COUNT_; op++)
        if (ops & (1u << op)) cls |= calc_op_class((calc_op)op);
      if (cls != calc_classes(c))
        FAIL("%s: calc_classes %u, ops give %u", src,
                           calc_classes(c), cls);
      if (calc_eval(c, out->str, out->len) != CALC_OK ||
          strcmp(calc_reply(c, NULL), want) != 0)
        FAIL("%s: rebuilt as %s = %s, want %s", src, out->str,
                           calc_reply(c, NULL), want);
    }
    g_string_free(out, TRUE);
    g_free(visits);
    g_free(want);
  }
  calc_ctx_free(c);
}

int main(int argc, char **argv) {
  g_test_init(&argc, &argv, NULL);
  g_test_set_nonfatal_assertions();
  g_test_add_func("/tree/op-table", test_op_table);
  g_test_add_func("/tree/shapes", test_shapes);
  g_test_add_func("/tree/no-tree", test_no_tree);
  g_test_add_func("/tree/rebuild", test_rebuild);
  return g_test_run();
}
