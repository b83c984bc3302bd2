/* SPDX-License-Identifier: MIT
 * calc_bench_expect.c: calc-bench's requests and expected replies (see
 * calc_bench_expect.h). */
#include "calc_bench_expect.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BENCH_TAG_BASE 100000000u /* the smallest 9-digit tag */

static uint32_t tag_of(uint64_t seq) {
  return BENCH_TAG_BASE + (uint32_t)(seq % BENCH_TAG_SPAN);
}

size_t bench_frame(const bench_opts *o, const bench_expr *e, uint64_t seq,
                   char *p) {
  memcpy(p, e->text, e->len);
  size_t n = e->len + calc_tag_format(p + e->len, BENCH_TAG_LEN + 1,
                                      tag_of(seq));
  if (o->transport == CALC_NET_TCP) p[n++] = '\n';
  return n;
}

int64_t bench_reply_seq(const char *p, size_t n, calc_reply_info *ri) {
  calc_reply_parse(p, n, ri);
  if (!ri->has_tag || ri->tag < BENCH_TAG_BASE) return -1;
  return ri->tag - BENCH_TAG_BASE;
}

int bench_expect_match(const bench_expr *e, const calc_reply_info *ri,
                       const char *p, const char **why) {
  if (ri->text_len == e->expect_len &&
      memcmp(p, e->expect, e->expect_len) == 0)
    return 1;
  *why = ri->text_len == e->expect_len ? "different text"
                                       : "different length";
  return 0;
}

/* Expected replies: what a server of the role answers each expression,
 * tagged with 9 digits (the tag length changes the UDP bound). */
int bench_expect_compute(bench_opts *o) {
  calc_ctx *ctx = calc_ctx_new(NULL);
  char *req = malloc(BENCH_FRAME_MAX + 1);
  static char out[CALC_ANSWER_MAX + 1];
  int r = ctx && req ? 0 : -1;
  for (size_t i = 0; r == 0 && i < o->nexpr; i++) {
    bench_expr *e = &o->exprs[i];
    if (e->expect) continue;
    memcpy(req, e->text, e->len);
    size_t n = e->len + calc_tag_format(req + e->len, BENCH_TAG_LEN + 1,
                                        tag_of(0));
    size_t bound = o->transport == CALC_NET_UDP ? calc_udp_bound(n) : SIZE_MAX;
    calc_answer_info ai;
    calc_answer_info_of(ctx, o->role, req, n, bound, out, sizeof out, &ai);
    e->expect = strndup(out, ai.body_len);
    e->expect_len = ai.body_len;
    if (!e->expect) r = -1;
  }
  calc_ctx_free(ctx);
  free(req);
  return r;
}

static pthread_mutex_t bench_print_lock = PTHREAD_MUTEX_INITIALIZER;

void bench_show_wrong(unsigned *shown, const bench_expr *e, const char *p,
                      size_t n, const char *why) {
  if (*shown >= BENCH_SHOW_WRONG) return;
  ++*shown;
  char got[4 * 200 + 8];
  calc_escape(p, n, got, sizeof got);
  pthread_mutex_lock(&bench_print_lock);
  fprintf(stderr, "calc-bench: wrong reply (%s) to '%s': got '%s', "
          "expected '%s #<tag>'\n", why, e ? e->text : "?", got,
          e ? e->expect : "?");
  pthread_mutex_unlock(&bench_print_lock);
}
