/* SPDX-License-Identifier: MIT
 *
 * calc_bench_report.h: calc-bench's report: requests, throughput and
 * latency percentiles, as text or as one JSON object (--json).
 */
#ifndef CALC_BENCH_REPORT_H
#define CALC_BENCH_REPORT_H

#include "calc_bench_opts.h"
#include "calc_bench_work.h"
#include "calc_hist.h"

/* Print the report of a run of secs seconds; fatal: the failure that
 * ended it, or NULL. */
void bench_report(const bench_opts *o, const bench_counts *t,
                  const calc_hist *h, double secs, const char *fatal);

#endif /* CALC_BENCH_REPORT_H */
