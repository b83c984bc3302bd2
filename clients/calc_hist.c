/* SPDX-License-Identifier: MIT
 * calc_hist.c: log-linear latency histogram (see calc_hist.h). */
#include "calc_hist.h"

#include <math.h>
#include <string.h>

void calc_hist_init(calc_hist *h) {
  memset(h, 0, sizeof *h);
  h->min = UINT64_MAX;
}

/* v < 2*SUB: v itself.  Else with e the top bit of v and s = e - SUB_BITS,
 * the top SUB_BITS+1 bits of v (in [SUB, 2*SUB)) pick the bucket s*SUB +
 * that, which continues the first range without a gap. */
unsigned calc_hist_index(uint64_t v) {
  if (v < 2 * CALC_HIST_SUB) return (unsigned)v;
  unsigned e = 63u - (unsigned)__builtin_clzll(v);
  unsigned s = e - CALC_HIST_SUB_BITS;
  return s * CALC_HIST_SUB + (unsigned)(v >> s);
}

uint64_t calc_hist_upper(unsigned i) {
  if (i < 2 * CALC_HIST_SUB) return i;
  unsigned s = i / CALC_HIST_SUB - 1;
  uint64_t sub = i - s * CALC_HIST_SUB; /* in [SUB, 2*SUB) */
  return ((sub + 1) << s) - 1;
}

void calc_hist_add(calc_hist *h, uint64_t v) {
  h->bucket[calc_hist_index(v)]++;
  h->count++;
  h->sum += (double)v;
  if (v < h->min) h->min = v;
  if (v > h->max) h->max = v;
}

void calc_hist_merge(calc_hist *h, const calc_hist *o) {
  for (unsigned i = 0; i < CALC_HIST_BUCKETS; i++) h->bucket[i] += o->bucket[i];
  h->count += o->count;
  h->sum += o->sum;
  if (o->min < h->min) h->min = o->min;
  if (o->max > h->max) h->max = o->max;
}

uint64_t calc_hist_percentile(const calc_hist *h, double p) {
  if (h->count == 0) return 0;
  double r = ceil(p / 100.0 * (double)h->count);
  uint64_t rank = r < 1 ? 1 : r > (double)h->count ? h->count : (uint64_t)r;
  uint64_t seen = 0;
  for (unsigned i = 0; i < CALC_HIST_BUCKETS; i++) {
    seen += h->bucket[i];
    if (seen >= rank) {
      uint64_t u = calc_hist_upper(i);
      return u > h->max ? h->max : u;
    }
  }
  return h->max;
}
