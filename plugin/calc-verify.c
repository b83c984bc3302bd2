/* SPDX-License-Identifier: MIT
 *
 * calc-verify.c: the core's answer to each request (calc-track.h), at a
 * bounded cost: a request keeps the answer's length and a 64-bit keyed
 * hash (the text itself only when it is short), identical requests are
 * answered once (a small cache), and the evaluator's work per capture is
 * bounded (CALC_VERIFY_BUDGET); past it, requests are "not verified
 * (budget)".  The text is computed again only for a tree.
 */
#include <string.h>

#include "calc-track.h"
#include "packet-calc.h"

/* Expected answers up to this many bytes are kept as text (shown on the
 * response too); longer ones as their length and hash. */
#define CALC_EXPECT_KEEP 24
/* Evaluator work per capture, by default, in millions of units of
 * calc_verify_cost() (the preference calc.verify_budget): some seconds of
 * evaluation, whatever the answers' length: about 240 distinct requests
 * at the evaluator's limit (CALC_MAX_WORK), 1,600 like
 * 3**41000 % 7**20000 % M, 2,000 with 4,000-digit results, 85,000 like
 * 9**4300 % M, some ten million light ones. */
#define CALC_VERIFY_BUDGET 2048u
/* Distinct requests whose answers are cached (direct-mapped). */
#define CALC_VERIFY_CACHE 4096
/* Units of calc_verify_cost() per limb operation of the evaluator. */
#define CALC_VERIFY_WORK_UNITS 1u

/* This file's own evaluation context. */
static calc_ctx *calc_verify_ctx;
static uint64_t calc_verify_key[2];
static uint64_t calc_verify_spent, calc_verify_limit;

typedef struct calc_cache_slot {
  uint64_t req_hash;       /* request bytes and transport; 0: empty */
  uint64_t hash;
  uint32_t len;
  uint8_t kind, bounded, classes;
  char text[CALC_EXPECT_KEEP + 1];
} calc_cache_slot;

static calc_cache_slot *calc_verify_cache;

/* calc_verify_reply_begin(): the response's bytes and their hash; NULL:
 * none. */
static const char *calc_reply_p;
static size_t calc_reply_n;
static uint64_t calc_reply_h;

/* ---- SipHash-2-4 (Aumasson and Bernstein), keyed per run ---- */

#define CALC_ROTL(x, b) (uint64_t)(((x) << (b)) | ((x) >> (64 - (b))))
#define CALC_SIPROUND                                                       \
  do {                                                                      \
    v0 += v1; v1 = CALC_ROTL(v1, 13); v1 ^= v0; v0 = CALC_ROTL(v0, 32);     \
    v2 += v3; v3 = CALC_ROTL(v3, 16); v3 ^= v2;                             \
    v0 += v3; v3 = CALC_ROTL(v3, 21); v3 ^= v0;                             \
    v2 += v1; v1 = CALC_ROTL(v1, 17); v1 ^= v2; v2 = CALC_ROTL(v2, 32);     \
  } while (0)

uint64_t calc_verify_hash(const void *data, size_t n)
{
  const uint8_t *p = (const uint8_t *)data;
  uint64_t k0 = calc_verify_key[0], k1 = calc_verify_key[1];
  uint64_t v0 = 0x736f6d6570736575ull ^ k0, v1 = 0x646f72616e646f6dull ^ k1;
  uint64_t v2 = 0x6c7967656e657261ull ^ k0, v3 = 0x7465646279746573ull ^ k1;
  uint64_t b = (uint64_t)n << 56;
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    uint64_t m;
    memcpy(&m, p + i, 8);
    m = GUINT64_FROM_LE(m);
    v3 ^= m;
    CALC_SIPROUND;
    CALC_SIPROUND;
    v0 ^= m;
  }
  for (size_t j = 0; i + j < n; j++) b |= (uint64_t)p[i + j] << (8 * j);
  v3 ^= b;
  CALC_SIPROUND;
  CALC_SIPROUND;
  v0 ^= b;
  v2 ^= 0xff;
  CALC_SIPROUND;
  CALC_SIPROUND;
  CALC_SIPROUND;
  CALC_SIPROUND;
  return v0 ^ v1 ^ v2 ^ v3;
}

/* ---- answers ---- */

/* Work units of one answer: the bytes read, the evaluator's own big-int
 * work (calc_work(): a short answer may be expensive to compute), and
 * the result's conversion to text, which grows with the square of its
 * length. */
static uint64_t calc_verify_cost(size_t n, size_t len, uint64_t work)
{
  return 64 + n + work * CALC_VERIFY_WORK_UNITS + (uint64_t)len * len / 16;
}

/* What a server of every operator answers to the n request bytes at p
 * (CR/LF removed), unbounded: the reply's text without the tag, written
 * to out, its length and kind; *bounded gets the kind of the reply within
 * the UDP amplification bound.  A request over the length limit (tag
 * included) is refused before it is read, without its tag (lib's rule). */
static size_t calc_expected(const calc_req_view *v, const char *p, size_t n,
                            bool udp, char *out, size_t cap, calc_err *kind,
                            calc_err *bounded, uint64_t *work)
{
  *work = 0;
  if (v->too_long) {
    *kind = *bounded = CALC_E_TOO_LONG;
    return calc_reply_too_long(out, cap, CALC_MAX_REQUEST_LEN);
  }
  calc_answer_info ai;
  calc_ctx *tree = calc_view_tree(v); /* the view's parse, if still there */
  if (tree) {
    calc_answer_info_parsed(tree, CALC_ROLE_ALL, n, &v->rq, CALC_OK,
                            SIZE_MAX, out, cap, &ai);
    *work = calc_work(tree);
  } else {
    calc_answer_info_of(calc_verify_ctx, CALC_ROLE_ALL, p, n, SIZE_MAX, out,
                        cap, &ai);
    *work = calc_work(calc_verify_ctx);
  }
  *kind = *bounded = ai.kind;
  if (udp && ai.len > calc_udp_bound(n)) {
    /* The answer within the bound, from the unbounded one; the work
     * counted as when it was computed again (the same evaluation), so
     * that the budget runs out where it did. */
    *bounded = calc_answer_bounded_kind(&ai, calc_udp_bound(n));
    *work *= 2;
  }
  return ai.body_len;
}

/* The operator classes of the request, from the parse calc_answer() just
 * made (calc_expr.h: the tree stays valid through calc_eval_parsed());
 * that parse succeeded when the evaluation failed or not.  too-large may
 * come from either: parse again. */
static unsigned calc_classes_answered(const calc_req_view *v, calc_err kind)
{
  if (v->parsed) return v->classes;
  switch (kind) {
  case CALC_OK:
  case CALC_E_ZERO_DIV:
  case CALC_E_OVERFLOW:
  case CALC_E_DOMAIN:
    return calc_classes(calc_verify_ctx);
  case CALC_E_TOO_LARGE:
    return calc_parse(calc_verify_ctx, v->rq.expr, v->rq.expr_len) == CALC_OK
               ? calc_classes(calc_verify_ctx)
               : 0;
  default: /* refused before or while parsing */
    return 0;
  }
}

bool calc_verify_expect(const calc_req_view *v, const char *p, size_t n,
                        bool udp, const uint64_t *whole, calc_expect *e)
{
  memset(e, 0, sizeof *e);
  if (!calc_verify_ctx) return false;
  /* The tag changes only the tag echoed: the cache is by expression. */
  const char *key = v->too_long ? "" : v->rq.expr;
  size_t klen = v->too_long ? 0 : v->rq.expr_len;
  uint64_t kh = whole && key == p && klen == n ? *whole
                                               : calc_verify_hash(key, klen);
  uint64_t rh = kh ^ (udp ? (uint64_t)n << 1 | 1 : 0)
                ^ (v->too_long ? 2 : 0);
  if (rh == 0) rh = 1;
  calc_cache_slot *s = &calc_verify_cache[rh % CALC_VERIFY_CACHE];
  if (s->req_hash == rh) {
    e->len = s->len;
    e->hash = s->hash;
    e->kind = (calc_err)s->kind;
    e->bounded = (calc_err)s->bounded;
    e->classes = v->parsed ? v->classes : s->classes;
    e->text = s->len <= CALC_EXPECT_KEEP ? s->text : NULL;
    return true;
  }
  if (calc_verify_spent >= calc_verify_limit) {
    e->budget = true;
    return false;
  }
  static char out[CALC_ANSWER_MAX + 1];
  uint64_t work;
  e->len = calc_expected(v, p, n, udp, out, sizeof out, &e->kind,
                         &e->bounded, &work);
  out[e->len] = '\0';
  e->text = out;
  /* A short answer is kept as its text: no hash needed. */
  e->hash = e->len > CALC_EXPECT_KEEP ? calc_verify_hash(out, e->len) : 0;
  e->classes = calc_classes_answered(v, e->kind);
  calc_verify_spent += calc_verify_cost(n, e->len, work);
  s->req_hash = rh;
  s->hash = e->hash;
  s->len = (uint32_t)e->len;
  s->kind = (uint8_t)e->kind;
  s->bounded = (uint8_t)e->bounded;
  s->classes = (uint8_t)e->classes;
  if (e->len <= CALC_EXPECT_KEEP) memcpy(s->text, out, e->len + 1);
  return true;
}

const char *calc_verify_text(packet_info *pinfo, const calc_req_view *v,
                             const char *p, size_t n)
{
  if (!calc_verify_ctx) return NULL;
  char *out = (char *)wmem_alloc(pinfo->pool, CALC_ANSWER_MAX + 1);
  calc_err kind, bounded;
  uint64_t work;
  size_t len = calc_expected(v, p, n, false, out, CALC_ANSWER_MAX + 1, &kind,
                             &bounded, &work);
  out[len] = '\0';
  return out;
}

const char *calc_txn_expected(const calc_txn *t)
{
  return (t->flags & CALC_TXN_INLINE) ? (const char *)calc_txn_exp_bytes(t)
                                      : NULL;
}

bool calc_verify_is_expected(const calc_txn *t, const char *p, size_t n)
{
  if (!(t->flags & CALC_TXN_EXPECTED) || n != t->exp_len) return false;
  if (t->flags & CALC_TXN_INLINE)
    return memcmp(calc_txn_exp_bytes(t), p, n) == 0;
  uint64_t h;
  memcpy(&h, calc_txn_exp_bytes(t), sizeof h);
  return (p == calc_reply_p && n == calc_reply_n ? calc_reply_h
                                                 : calc_verify_hash(p, n)) == h;
}

void calc_verify_reply_begin(const uint8_t *p, size_t n, uint64_t h)
{
  calc_reply_p = (const char *)p;
  calc_reply_n = n;
  calc_reply_h = h;
}

void calc_verify_reply_end(void)
{
  calc_reply_p = NULL;
}

/* Compare a response with the core's answer to its request.  Results must
 * be byte-identical; errors need only the same kind (messages may be
 * worded differently).  Refusals that depend on the server, not on the
 * expression, are not mismatches. */
uint8_t calc_verify_verdict(const calc_txn *t, const calc_reply_info *ri)
{
  if (!(t->flags & CALC_TXN_EXPECTED)) return CALC_VERDICT_NONE;
  if (ri->is_error) {
    if (ri->kind == CALC_OK) return CALC_VERDICT_MISMATCH; /* unknown kind */
    if (ri->kind == t->exp_kind || ri->kind == t->bounded_kind)
      return CALC_VERDICT_MATCH;
    if ((ri->kind == CALC_E_UNSUPPORTED && t->classes) ||
        ri->kind == CALC_E_BUSY || ri->kind == CALC_E_INTERNAL)
      return CALC_VERDICT_REFUSED;
    return CALC_VERDICT_MISMATCH;
  }
  if (t->exp_kind != CALC_OK) return CALC_VERDICT_MISMATCH;
  return calc_verify_is_expected(t, ri->body, ri->body_len)
             ? CALC_VERDICT_MATCH
             : CALC_VERDICT_MISMATCH;
}

bool calc_verify_may_continue(const calc_txn *t, const calc_reply_info *ri)
{
  if (!(t->flags & CALC_TXN_EXPECTED) || ri->is_error ||
      t->exp_kind != CALC_OK || ri->has_tag || ri->body_len >= t->exp_len)
    return false;
  if (!(t->flags & CALC_TXN_INLINE)) return true;
  return memcmp(calc_txn_exp_bytes(t), ri->body, ri->body_len) == 0;
}

/* Keep e in t's bytes at b (calc-pair.c sized them with
 * calc_verify_kept()). */
size_t calc_verify_kept(const calc_expect *e)
{
  return e->len <= CALC_EXPECT_KEEP ? e->len + 1 : sizeof(uint64_t);
}

void calc_verify_keep(calc_txn *t, uint8_t *b, const calc_expect *e)
{
  t->flags |= CALC_TXN_EXPECTED;
  t->exp_len = (uint16_t)e->len;
  t->exp_kind = (uint8_t)e->kind;
  t->bounded_kind = (uint8_t)e->bounded;
  t->classes = (uint8_t)e->classes;
  if (e->len <= CALC_EXPECT_KEEP) {
    t->flags |= CALC_TXN_INLINE;
    memcpy(b, e->text, e->len);
    b[e->len] = '\0';
  } else {
    memcpy(b, &e->hash, sizeof e->hash);
  }
}

unsigned calc_verify_default_budget(void)
{
  return CALC_VERIFY_BUDGET;
}

void calc_verify_init(unsigned budget_millions)
{
  calc_verify_limit = (uint64_t)budget_millions * 1000000u;
  if (!calc_verify_ctx) calc_verify_ctx = calc_ctx_new(NULL);
  if (!calc_verify_cache)
    calc_verify_cache = g_new0(calc_cache_slot, CALC_VERIFY_CACHE);
  calc_verify_key[0] = (uint64_t)g_random_int() << 32 | g_random_int();
  calc_verify_key[1] = (uint64_t)g_random_int() << 32 | g_random_int();
  calc_verify_spent = 0;
}

void calc_verify_cleanup(void)
{
  calc_ctx_free(calc_verify_ctx);
  calc_verify_ctx = NULL;
  g_free(calc_verify_cache);
  calc_verify_cache = NULL;
}

/* Whether error kind e's token starts with the k bytes at tok (whole: the
 * token ended there). */
static bool calc_token_may_be(calc_err e, const char *tok, size_t k,
                              bool whole)
{
  const char *name = calc_err_token(e);
  size_t len = strlen(name);
  return e != CALC_OK && (whole ? len == k : len >= k) &&
         memcmp(name, tok, k) == 0;
}

bool calc_verify_may_start(const calc_txn *t, const char *p, size_t n)
{
  if (!(t->flags & CALC_TXN_EXPECTED)) return true;
  if (n < 4) /* "E", "ER", "ERR": any request may be refused */
    if (memcmp("ERR ", p, n) == 0) return true;
  if (n >= 4 && memcmp(p, "ERR ", 4) == 0) {
    const char *tok = p + 4;
    size_t k = n - 4;
    bool whole = false;
    for (size_t i = 0; i < k && !whole; i++)
      if (tok[i] == ':' || tok[i] == ' ') {
        k = i;
        whole = true;
      }
    /* Its own kind, the kind the UDP bound shortens it to, or a
     * refusal that depends on the server (calc_verify_verdict). */
    static const calc_err refusals[] = {CALC_E_UNSUPPORTED, CALC_E_BUSY,
                                        CALC_E_INTERNAL};
    if (calc_token_may_be((calc_err)t->exp_kind, tok, k, whole) ||
        calc_token_may_be((calc_err)t->bounded_kind, tok, k, whole))
      return true;
    for (size_t i = 0; i < G_N_ELEMENTS(refusals); i++)
      if (calc_token_may_be(refusals[i], tok, k, whole)) return true;
    return false;
  }
  if (t->exp_kind != CALC_OK) return false;
  const char *e = calc_txn_expected(t);
  if (e && memcmp(e, p, MIN(n, (size_t)t->exp_len)) != 0) return false;
  return n <= t->exp_len || p[t->exp_len] == ' '; /* then its tag */
}
