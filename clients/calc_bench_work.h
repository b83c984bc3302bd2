/* SPDX-License-Identifier: MIT
 *
 * calc_bench_work.h: calc-bench's transports and worker threads.  Each
 * worker owns some connections (UDP: sockets) and one epoll set; a
 * connection keeps --depth requests in flight.  UDP goes by
 * sendmmsg/recvmmsg batches; TCP requests of a connection by one write per
 * batch, replies framed by lib's calc_frame.  Latency goes into a
 * log-linear histogram (calc_hist.h).
 *
 * With --rate the load is open loop, as wrk2's corrected mode: request k
 * is due at start + k / rate and goes out then, whatever is still in
 * flight (up to BENCH_RATE_WINDOW per connection; --depth does not apply),
 * and its latency counts from that due time.  A stall, the server's or
 * calc-bench's own, so counts for exactly the requests due during it, and
 * no later one: once it ends, requests are on time again.  A timerfd
 * wakes the worker at each due time.
 */
#ifndef CALC_BENCH_WORK_H
#define CALC_BENCH_WORK_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "calc_bench_opts.h"
#include "calc_hist.h"

/* Requests a connection keeps in flight at most: --depth, or with --rate
 * the window. */
unsigned bench_inflight_cap(const bench_opts *o);

typedef struct bench_counts {
  uint64_t sent, replies, ok, wrong, err_replies, lost, late;
} bench_counts;

typedef struct bench_pool bench_pool;

/* CLOCK_MONOTONIC in ns. */
uint64_t bench_now_ns(void);

/* The workers, their buffers and connections (a connection in turn to
 * each), connected to ss.  NULL on failure (said on stderr). */
bench_pool *bench_pool_new(const bench_opts *o,
                           const struct sockaddr_storage *ss, unsigned sslen);

/* Start the threads, all timed from t0.  -1 when one cannot start. */
int bench_pool_start(bench_pool *p, uint64_t t0);

/* Whether every worker has finished; *now gets the counts so far (sent,
 * replies, wrong, lost) for a progress line. */
int bench_pool_poll(bench_pool *p, bench_counts *now);

/* Wait for the workers: the totals, their merged latencies, when the last
 * ended, and the first fatal failure (NULL: none) with its exit status. */
void bench_pool_join(bench_pool *p, bench_counts *tot, calc_hist *h,
                     uint64_t *t_end, const char **fatal, int *code);

void bench_pool_free(bench_pool *p);

#endif /* CALC_BENCH_WORK_H */
