/* SPDX-License-Identifier: MIT
 *
 * calc_route.c: evaluating one expression across the addsub and muldiv
 * servers (see calc_route.h).
 *
 * The core's parse gives nodes in postfix order with source spans, so a
 * subtree is the id range [lo, id].  Each round:
 *   1. every node not yet evaluated gets the set of operator classes used
 *      in its subtree (evaluated nodes count as plain numbers);
 *   2. the maximal subtrees with exactly one class are the round's hops,
 *      rendered as their source text with evaluated parts replaced by the
 *      values' literal forms (see lit_form()), and sent, pipelined, to the
 *      server of their class;
 *   3. each answer becomes the value of its subtree.
 * A subtree's value substituted back is exact: an int as its digits, a
 * float as its repr (which reads back to the same double), inf as 1e309,
 * nan as an expression of the class of the server that will see it.
 *
 * Errors keep Python's order: evaluation is postfix, so of two errors the
 * one in the subtree that comes first wins.  After a hop errs, only nodes
 * before its subtree are still evaluated; when none is left, its error is
 * the answer.
 */
#include "calc_route.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "calc_expr.h"

enum { SRV_ADDSUB = 0, SRV_MULDIV = 1 };

/* Literal forms of the float values that have no literal. */
static const struct {
  const char *repr;
  const char *form[2]; /* for the addsub server, for the muldiv server */
} calc_route_special[] = {
  {"inf",  {"1e309", "1e309"}},
  {"-inf", {"-1e309", "-1e309"}},
  {"nan",  {"1e309-1e309", "1e309*0"}},
};

typedef struct route_hop {
  int node;
  int srv;
  calc_net_msg *msg;
} route_hop;

struct calc_route {
  calc_net_conn *conn[2];
  int verbose;
  calc_ctx *ctx;
  /* the expression being evaluated */
  const char *src;
  size_t len;
  int n, root;
  calc_node *nodes;
  int32_t *parent, *lo;
  unsigned *cls;
  char **val;       /* value text of evaluated nodes, else NULL */
  int err_node;     /* earliest hop that answered an error, or -1 */
  char *err_text;
  calc_err err_kind;
  unsigned err_flags;
  int err_carry;    /* that error: an intermediate int too long to carry */
  unsigned hop_no;
  /* a round */
  route_hop *hops;
  int nhops;
  size_t *offs, *lens; /* each hop's text in r->text */
  int *stack;
  calc_net_msg *msgs; /* CALC_NET_BATCH_MAX */
  char *text;         /* rendered hop texts, back to back */
  size_t text_len, text_cap;
  char err[600];
};

calc_route *calc_route_new(calc_net_conn *addsub, calc_net_conn *muldiv,
                           int verbose) {
  calc_route *r = calloc(1, sizeof *r);
  if (!r) return NULL;
  r->conn[SRV_ADDSUB] = addsub;
  r->conn[SRV_MULDIV] = muldiv;
  r->verbose = verbose;
  r->ctx = calc_ctx_new(NULL);
  size_t cap = CALC_MAX_REQUEST_LEN + 2; /* nodes of the longest request */
  r->nodes = calloc(cap, sizeof *r->nodes);
  r->parent = calloc(cap, sizeof *r->parent);
  r->lo = calloc(cap, sizeof *r->lo);
  r->cls = calloc(cap, sizeof *r->cls);
  r->val = calloc(cap, sizeof *r->val);
  r->hops = calloc(cap, sizeof *r->hops);
  r->stack = calloc(cap, sizeof *r->stack);
  r->offs = calloc(cap, sizeof *r->offs);
  r->lens = calloc(cap, sizeof *r->lens);
  r->msgs = calloc(CALC_NET_BATCH_MAX, sizeof *r->msgs);
  if (!r->ctx || !r->nodes || !r->parent || !r->lo || !r->cls || !r->val ||
      !r->hops || !r->stack || !r->offs || !r->lens || !r->msgs) {
    calc_route_free(r);
    return NULL;
  }
  return r;
}

static void reset(calc_route *r) {
  for (int i = 0; i < r->n; i++) {
    free(r->val[i]);
    r->val[i] = NULL;
  }
  free(r->err_text);
  r->err_text = NULL;
  r->err_node = -1;
  r->err_carry = 0;
  r->n = 0;
}

void calc_route_free(calc_route *r) {
  if (!r) return;
  reset(r);
  calc_ctx_free(r->ctx);
  free(r->nodes);
  free(r->parent);
  free(r->lo);
  free(r->cls);
  free(r->val);
  free(r->hops);
  free(r->stack);
  free(r->offs);
  free(r->lens);
  free(r->msgs);
  free(r->text);
  free(r);
}

const char *calc_route_error(const calc_route *r) { return r->err; }

static int oom(calc_route *r) {
  snprintf(r->err, sizeof r->err, "out of memory");
  return -1;
}

/* ---- rendering -------------------------------------------------------- */

static int put(calc_route *r, const char *p, size_t n) {
  if (r->text_len + n + 1 > r->text_cap) {
    size_t cap = r->text_cap ? r->text_cap : 8192;
    while (cap < r->text_len + n + 1) cap *= 2;
    char *t = realloc(r->text, cap);
    if (!t) return -1;
    r->text = t;
    r->text_cap = cap;
  }
  memcpy(r->text + r->text_len, p, n);
  r->text_len += n;
  r->text[r->text_len] = '\0';
  return 0;
}

/* Whether node i's text is directly inside parentheses in the source: a
 * '(' before its (balanced) span closes at the ')' after it. */
static int enclosed(const calc_route *r, int i) {
  size_t a = r->nodes[i].start, b = r->nodes[i].end;
  while (a > 0 && calc_is_blank((unsigned char)r->src[a - 1])) a--;
  while (b < r->len && calc_is_blank((unsigned char)r->src[b])) b++;
  return a > 0 && r->src[a - 1] == '(' && b < r->len && r->src[b] == ')';
}

/* The literal form of evaluated node i inside a hop to server srv, and
 * whether it needs parentheses there.  A negative number needs them only
 * as the base of ** (-2**2 is -(2**2)); a nan form, which is an
 * operation, always (unless the source has them). */
static const char *lit_form(const calc_route *r, int i, int srv, int *paren) {
  const char *v = r->val[i];
  int op_form = 0;
  for (size_t k = 0; k < sizeof calc_route_special / sizeof *calc_route_special;
       k++) {
    if (strcmp(v, calc_route_special[k].repr) == 0) {
      v = calc_route_special[k].form[srv];
      op_form = strchr(v + 1, '-') || strchr(v, '*');
      break;
    }
  }
  int p = r->parent[i];
  int pow_base = p >= 0 && r->nodes[p].op == CALC_OP_POW &&
                 r->nodes[p].left == i;
  *paren = (op_form || (v[0] == '-' && pow_base)) && !enclosed(r, i);
  return v;
}

/* Render the subtree of node h for server srv into r->text: its source
 * text with each evaluated part replaced by its literal form.  The parts
 * are found right to left (ids descend through a postfix subtree), then
 * written left to right. */
static int render(calc_route *r, int h, int srv, size_t *off, size_t *len) {
  int nparts = 0;
  for (int i = h - 1; i >= r->lo[h];) {
    if (r->val[i]) {
      r->stack[nparts++] = i;
      i = r->lo[i] - 1;
    } else {
      i--;
    }
  }
  *off = r->text_len;
  size_t at = r->nodes[h].start;
  for (int k = nparts - 1; k >= 0; k--) {
    int i = r->stack[k], paren;
    const char *form = lit_form(r, i, srv, &paren);
    if (put(r, r->src + at, r->nodes[i].start - at) < 0 ||
        (paren && put(r, "(", 1) < 0) || put(r, form, strlen(form)) < 0 ||
        (paren && put(r, ")", 1) < 0))
      return -1;
    at = r->nodes[i].end;
  }
  if (put(r, r->src + at, r->nodes[h].end - at) < 0) return -1;
  *len = r->text_len - *off;
  /* A span may hold a comment and a line break inside the parentheses
   * around it; inside parentheses of its own it stays one expression. */
  if (strpbrk(r->text + *off, "#\r\n")) {
    if (put(r, "()", 2) < 0) return -1;
    memmove(r->text + *off + 1, r->text + *off, *len);
    r->text[*off] = '(';
    r->text[*off + *len + 1] = ')';
    *len += 2;
  }
  return 0;
}

/* ---- planning a round ------------------------------------------------- */

static int popcount(unsigned x) { return __builtin_popcount(x); }

static int server_of(unsigned cls) {
  return cls & CALC_CLASS_MULDIV ? SRV_MULDIV : SRV_ADDSUB;
}

/* Classes used by each node's subtree, evaluated parts being numbers. */
static void classify(calc_route *r) {
  for (int i = 0; i < r->n; i++) {
    const calc_node *nd = &r->nodes[i];
    unsigned c = calc_op_class(nd->op);
    if (nd->left >= 0 && !r->val[nd->left]) c |= r->cls[nd->left];
    if (nd->right >= 0 && !r->val[nd->right]) c |= r->cls[nd->right];
    r->cls[i] = c;
  }
}

static int cmp_hop(const void *a, const void *b) {
  return ((const route_hop *)a)->node - ((const route_hop *)b)->node;
}

/* The hops of this round, in source order.  Only nodes before `limit`
 * (the first node of the subtree that erred) are evaluated. */
static void plan(calc_route *r, int limit) {
  int sp = 0;
  r->nhops = 0;
  r->stack[sp++] = r->root;
  while (sp > 0) {
    int i = r->stack[--sp];
    const calc_node *nd = &r->nodes[i];
    if (r->val[i]) continue;
    int single = popcount(r->cls[i]) == 1;
    if (i < limit && (single || (r->cls[i] == 0 && i == r->root))) {
      r->hops[r->nhops++] = (route_hop){i, server_of(r->cls[i]), NULL};
      continue;
    }
    if (i < limit && r->cls[i] == 0) continue; /* rides with its parent */
    if (nd->left >= 0) r->stack[sp++] = nd->left;
    if (nd->right >= 0) r->stack[sp++] = nd->right;
  }
  qsort(r->hops, (size_t)r->nhops, sizeof *r->hops, cmp_hop);
}

/* A hop whose text (after values got longer than the source) exceeds the
 * request limit is replaced by its children's hops: they are of the same
 * class, so evaluating them first changes no value. */
static int split_long(calc_route *r, int k, size_t len) {
  const route_hop *h = &r->hops[k];
  const calc_node *nd = &r->nodes[h->node];
  if (len <= CALC_NET_TAGGED_MAX) return 0; /* fits with its tag */
  int kids[2], nk = 0;
  if (nd->left >= 0 && !r->val[nd->left] && r->cls[nd->left])
    kids[nk++] = nd->left;
  if (nd->right >= 0 && !r->val[nd->right] && r->cls[nd->right])
    kids[nk++] = nd->right;
  if (nk == 0) return 0; /* nothing smaller to send: the server will say */
  int srv = h->srv;
  memmove(&r->hops[k + nk], &r->hops[k + 1],
          (size_t)(r->nhops - k - 1) * sizeof *r->hops);
  for (int j = 0; j < nk; j++) r->hops[k + j] = (route_hop){kids[j], srv, NULL};
  r->nhops += nk - 1;
  return 1;
}

/* ---- one round -------------------------------------------------------- */

static void log_hop(calc_route *r, int srv, const calc_net_msg *m) {
  if (!r->verbose) return;
  fprintf(stderr, "calc-cli: hop %u: %s %s: %.*s => %s\n", ++r->hop_no,
          srv == SRV_ADDSUB ? "addsub" : "muldiv",
          calc_net_where(r->conn[srv]), (int)m->req_len, m->req, m->reply);
}

/* Send the requests of server srv among hops [0, nhops), in batches. */
static int exchange(calc_route *r, int srv) {
  int k = 0;
  while (k < r->nhops) {
    int idx[CALC_NET_BATCH_MAX], nm = 0;
    for (; k < r->nhops && nm < CALC_NET_BATCH_MAX; k++) {
      if (r->hops[k].srv != srv) continue;
      calc_net_msg *m = &r->msgs[nm];
      m->req = r->text + r->offs[k];
      m->req_len = r->lens[k];
      idx[nm++] = k;
    }
    if (nm == 0) break;
    if (calc_net_exchange(r->conn[srv], r->msgs, (size_t)nm) < 0) {
      snprintf(r->err, sizeof r->err, "%s", calc_net_error(r->conn[srv]));
      return -1;
    }
    for (int j = 0; j < nm; j++) {
      calc_net_msg *m = &r->msgs[j];
      route_hop *h = &r->hops[idx[j]];
      log_hop(r, srv, m);
      if (m->kind != CALC_OK) {
        if (r->err_node < 0 || r->lo[h->node] < r->lo[r->err_node]) {
          free(r->err_text);
          r->err_text = strdup(m->reply);
          if (!r->err_text) return oom(r);
          r->err_node = h->node;
          r->err_kind = m->kind;
          r->err_flags = m->flags;
          /* A result over CALC_MAX_DIGITS digits: no reply can carry it,
           * though the whole expression may have a printable answer. */
          r->err_carry = h->node != r->root &&
                         (m->flags & CALC_REPLY_DIGITS) != 0;
        }
      } else if (!calc_reply_is_number(m->reply, m->reply_len,
                                       CALC_MAX_DIGITS)) {
        /* Spliced into the next hop as source text: only a number. */
        char ex[4 * 80 + 8];
        snprintf(r->err, sizeof r->err,
                 "protocol error: the %s server at %s answered a hop with "
                 "something other than a number: '%s'",
                 srv == SRV_ADDSUB ? "addsub" : "muldiv",
                 calc_net_where(r->conn[srv]),
                 calc_escape(m->reply, m->reply_len, ex, sizeof ex));
        return -1;
      } else {
        r->val[h->node] = strdup(m->reply);
        if (!r->val[h->node]) return oom(r);
      }
    }
  }
  return 0;
}

static int round_trip(calc_route *r) {
  r->text_len = 0;
  for (int k = 0; k < r->nhops; k++) {
    size_t len;
    if (render(r, r->hops[k].node, r->hops[k].srv, &r->offs[k], &len) < 0)
      return oom(r);
    if (split_long(r, k, len)) {
      r->text_len = r->offs[k];
      k--; /* render the first child in its place */
      continue;
    }
    r->lens[k] = len;
  }
  for (int srv = 0; srv < 2; srv++)
    if (exchange(r, srv) < 0) return -1;
  return 0;
}

/* ---- the whole -------------------------------------------------------- */

/* The final answer into m. */
static void finish(calc_net_msg *m, const char *text, calc_err kind,
                   unsigned flags) {
  size_t n = strlen(text);
  if (n > CALC_ANSWER_MAX) n = CALC_ANSWER_MAX;
  memcpy(m->reply, text, n);
  m->reply[n] = '\0';
  m->reply_len = n;
  m->kind = kind;
  m->flags = flags;
  m->done = 1;
}

/* An expression the core cannot parse goes whole to the addsub server:
 * every server parses first, so its error is the answer. */
static int ask_whole(calc_route *r, calc_net_msg *out) {
  calc_net_msg *m = &r->msgs[0];
  m->req = out->req;
  m->req_len = out->req_len;
  if (calc_net_exchange(r->conn[SRV_ADDSUB], m, 1) < 0) {
    snprintf(r->err, sizeof r->err, "%s", calc_net_error(r->conn[SRV_ADDSUB]));
    return -1;
  }
  log_hop(r, SRV_ADDSUB, m);
  finish(out, m->reply, m->kind, m->flags);
  return 0;
}

int calc_route_eval(calc_route *r, calc_net_msg *m) {
  const char *src = m->req;
  size_t n = m->req_len;
  reset(r);
  r->err[0] = '\0';
  r->hop_no = 0;
  m->done = 0;
  if (n > CALC_MAX_REQUEST_LEN || calc_parse(r->ctx, src, n) != CALC_OK)
    return ask_whole(r, m);

  r->src = src;
  r->len = n;
  r->n = calc_node_count(r->ctx);
  r->root = calc_root(r->ctx);
  for (int i = 0; i < r->n; i++) {
    r->nodes[i] = *calc_node_at(r->ctx, i);
    r->parent[i] = -1;
  }
  for (int i = 0; i < r->n; i++) {
    const calc_node *nd = &r->nodes[i];
    r->lo[i] = nd->left >= 0 ? r->lo[nd->left] : i;
    if (nd->left >= 0) r->parent[nd->left] = i;
    if (nd->right >= 0) r->parent[nd->right] = i;
  }

  for (;;) {
    if (r->val[r->root]) {
      finish(m, r->val[r->root], CALC_OK, 0);
      return 0;
    }
    classify(r);
    plan(r, r->err_node >= 0 ? r->lo[r->err_node] : r->n);
    if (r->nhops == 0) {
      if (!r->err_text) {
        snprintf(r->err, sizeof r->err, "internal: nothing left to evaluate");
        return -1;
      }
      if (r->err_carry)
        fprintf(stderr, "calc-cli: note: the split cannot carry an intermediate "
                        "int of more than %d digits from one server to the "
                        "other; a server of every operator may answer this "
                        "expression\n", CALC_MAX_DIGITS);
      finish(m, r->err_text, r->err_kind, r->err_flags);
      return 0;
    }
    if (round_trip(r) < 0) return -1;
  }
}
