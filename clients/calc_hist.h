/* SPDX-License-Identifier: MIT
 *
 * calc_hist.h: a latency histogram with log-linear buckets, in the manner
 * of HdrHistogram: each power of two is cut into CALC_HIST_SUB equal
 * buckets, so any recorded value is known within 1/CALC_HIST_SUB (< 0.8%)
 * while the whole uint64 range fits in a fixed array.  Recording is one
 * clz and an increment; histograms of several threads merge by addition.
 */
#ifndef CALC_HIST_H
#define CALC_HIST_H

#include <stdint.h>

#define CALC_HIST_SUB_BITS 7
#define CALC_HIST_SUB (1u << CALC_HIST_SUB_BITS)
/* Values below 2 * CALC_HIST_SUB have a bucket each; above, an octave
 * (64 - CALC_HIST_SUB_BITS of them) takes CALC_HIST_SUB buckets. */
#define CALC_HIST_BUCKETS ((64 - CALC_HIST_SUB_BITS + 1) * CALC_HIST_SUB)

typedef struct calc_hist {
  uint64_t count, min, max;
  double sum;
  uint64_t bucket[CALC_HIST_BUCKETS];
} calc_hist;

void calc_hist_init(calc_hist *h);
void calc_hist_add(calc_hist *h, uint64_t v);
/* h += o */
void calc_hist_merge(calc_hist *h, const calc_hist *o);
/* The bucket of v, and the largest value in bucket i. */
unsigned calc_hist_index(uint64_t v);
uint64_t calc_hist_upper(unsigned i);
/* The value at percentile p (0 < p <= 100): the upper bound of the
 * bucket holding the ceil(p% * count)-th smallest value, at most max.
 * 0 when empty. */
uint64_t calc_hist_percentile(const calc_hist *h, double p);

#endif /* CALC_HIST_H */
