/* SPDX-License-Identifier: MIT
 *
 * calcd_workers.h: calcd --threads N.  Each worker is one calcd (calcd.h):
 * its own loop, calc_ctx, counters and SO_REUSEPORT listeners for UDP and
 * TCP on the same addresses and port, so the kernel spreads connections
 * and datagrams over them.  Worker 0 runs on the main thread and holds the
 * signalfd; it passes each stop and SIGUSR1 to the others through a pipe
 * in each one's loop.  What they share: the options (read-only) and the
 * count of served connections, so --max-conn holds for the process.
 */
#ifndef CALCD_WORKERS_H
#define CALCD_WORKERS_H

#include <stdatomic.h>

#define CALCD_MAX_THREADS 64

typedef struct calcd calcd;
typedef struct calcd_opts calcd_opts;

/* What the workers of one process share. */
typedef struct calcd_shared {
  _Atomic unsigned nconn; /* served TCP connections, all workers */
} calcd_shared;

/* --threads N or "auto" (the CPUs this process may run on) into *n;
 * 0, or -1 after printing why. */
int calcd_threads_option(const char *arg, unsigned *n);

/* A connection slot under --max-conn for the whole process: 1 taken, 0
 * at the limit.  Released by calcd_slot_put. */
int calcd_slot_take(calcd *s);
void calcd_slot_put(calcd *s);

/* Start workers 1..o->threads-1 (s0, on this thread, is worker 0 and
 * serves already).  0, or -1 (logged; none is left running). */
int calcd_workers_start(calcd *s0);
/* Worker 0 got signal sig: pass it on (stop, or log the counters). */
void calcd_workers_signal(calcd *s0, int sig);
/* After worker 0's loop ended: wait for the others, log every worker's
 * counters and then the sum ("stats worker K ..." then "stats ...").
 * With one worker, just its counters, as without --threads. */
void calcd_workers_finish(calcd *s0);

#endif /* CALCD_WORKERS_H */
