/* SPDX-License-Identifier: MIT
 *
 * calc_bench_opts.h: calc-bench's options (calc-bench --help,
 * docs/CLIENTS.md "calc-bench") and the expressions it sends.
 */
#ifndef CALC_BENCH_OPTS_H
#define CALC_BENCH_OPTS_H

#include <stddef.h>
#include <stdint.h>

#include "calc_net.h"
#include "calc_proto.h"

/* One expression of the mix, and the reply expected (tag left out):
 * given with it, or computed (calc_bench_expect.h). */
typedef struct bench_expr {
  char *text;
  size_t len;
  char *expect;
  size_t expect_len;
} bench_expr;

/* Open loop: unanswered requests per connection before the next due one
 * waits for a reply (its latency still counted from its due time). 1024:
 * 20 s of a stalled server at -R 50, 40 ms at 25,000 per connection. */
#define BENCH_RATE_WINDOW 1024u

typedef struct bench_opts {
  calc_net_transport transport;
  calc_net_addr server;
  unsigned conns, depth, threads;
  double seconds;
  uint64_t requests; /* 0: by duration */
  double rate;       /* 0: as fast as replies come */
  calc_role role;
  unsigned timeout_ms; /* UDP loss timeout; TCP: the final drain */
  int json, quiet;
  bench_expr *exprs;
  size_t nexpr;
} bench_opts;

/* Parse argv into *o (zeroed by the caller).  Returns 0 to run, -1 to
 * exit 0 (--help, --version), or an exit status (usage; said on stderr). */
int bench_parse_options(int argc, char **argv, bench_opts *o);

/* Free what bench_parse_options() and the expected replies allocated. */
void bench_opts_free(bench_opts *o);

#endif /* CALC_BENCH_OPTS_H */
