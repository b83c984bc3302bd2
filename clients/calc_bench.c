/* SPDX-License-Identifier: MIT
 *
 * calc-bench: a load generator for the calc protocol (docs/CLIENTS.md,
 * "calc-bench").
 *
 *   calc-bench --udp -c 4 -d 32 --duration 5 --file mix.txt --json
 *
 * The files of calc-bench, by concern:
 *   calc_bench.c         main: start the workers, progress, exit status
 *   calc_bench_opts.c    options and expression files
 *   calc_bench_expect.c  requests (tags) and expected replies, checking
 *   calc_bench_work.c    transports (UDP batches, TCP) and worker threads
 *   calc_bench_report.c  the report, text or JSON
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "calc_bench_expect.h"
#include "calc_bench_opts.h"
#include "calc_bench_report.h"
#include "calc_bench_work.h"
#include "calc_exit.h"

/* Progress each second on a terminal, until every worker is done. */
static void wait_workers(bench_pool *p, const bench_opts *o, uint64_t t0) {
  int progress = !o->quiet && isatty(STDERR_FILENO);
  uint64_t last_replies = 0, last_t = t0;
  bench_counts now_n;
  while (!bench_pool_poll(p, &now_n)) {
    struct timespec ts = {0, 50000000};
    nanosleep(&ts, NULL);
    uint64_t now = bench_now_ns();
    if (!progress || now - last_t < 1000000000ull) continue;
    bench_pool_poll(p, &now_n);
    fprintf(stderr, "\r[%6.1f s] sent %llu  replies %llu  %.0f replies/s  "
            "wrong %llu  lost %llu   ", (double)(now - t0) / 1e9,
            (unsigned long long)now_n.sent, (unsigned long long)now_n.replies,
            (double)(now_n.replies - last_replies) * 1e9 /
                (double)(now - last_t),
            (unsigned long long)now_n.wrong, (unsigned long long)now_n.lost);
    last_replies = now_n.replies;
    last_t = now;
  }
  if (progress) fputc('\n', stderr);
}

int main(int argc, char **argv) {
  static bench_opts o;
  int r = bench_parse_options(argc, argv, &o);
  if (r) {
    bench_opts_free(&o);
    return r < 0 ? CALC_EXIT_OK : r;
  }
  if (bench_expect_compute(&o) < 0) {
    fprintf(stderr, "calc-bench: out of memory\n");
    bench_opts_free(&o);
    return CALC_EXIT_USAGE;
  }

  struct sockaddr_storage ss;
  unsigned sslen;
  char err[300];
  int type = o.transport == CALC_NET_UDP ? SOCK_DGRAM : SOCK_STREAM;
  if (calc_net_resolve(&o.server, type, &ss, &sslen, err, sizeof err) < 0) {
    fprintf(stderr, "calc-bench: %s\n", err);
    bench_opts_free(&o);
    return CALC_EXIT_NET;
  }
  bench_pool *p = bench_pool_new(&o, &ss, sslen);
  if (!p) {
    bench_opts_free(&o);
    return CALC_EXIT_NET;
  }
  uint64_t t0 = bench_now_ns();
  if (bench_pool_start(p, t0) < 0) return CALC_EXIT_NET;
  wait_workers(p, &o, t0);

  bench_counts tot = {0};
  calc_hist *h = malloc(sizeof *h);
  if (!h) return CALC_EXIT_NET;
  calc_hist_init(h);
  uint64_t t_end = t0;
  const char *fatal = NULL;
  int code = CALC_EXIT_OK;
  bench_pool_join(p, &tot, h, &t_end, &fatal, &code);
  bench_report(&o, &tot, h, (double)(t_end - t0) / 1e9, fatal);
  if (fatal) fprintf(stderr, "calc-bench: %s\n", fatal);
  if (tot.wrong) code = CALC_EXIT_ERROR;
  free(h);
  bench_pool_free(p);
  bench_opts_free(&o);
  return code;
}
