/* SPDX-License-Identifier: MIT
 *
 * calcd_workers.c: --threads N (calcd_workers.h).  Worker 0 is the calcd
 * main() built; this file starts the others the same way (calcd_init,
 * calcd_bind on the port worker 0 got, calcd_serve), runs each loop on its
 * own thread, and relays worker 0's signals to them.
 */
/* _GNU_SOURCE (CMake): sched_getaffinity, CPU_COUNT, pipe2 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "calcd.h"
#include "calcd_log.h"
#include "calcd_workers.h"

/* Messages from worker 0 to the others, one byte each on their pipe. */
enum { MSG_STOP = 'S', MSG_STATS = 'U' };

typedef struct calcd_worker {
  calcd s;
  pthread_t thread;
  int started;
  int pipe[2];       /* [0] in the worker's loop, [1] written by worker 0 */
  calcd_io notify;
} calcd_worker;

struct calcd_workers {
  unsigned n;        /* workers, worker 0 included */
  calcd_shared sh;
  pthread_mutex_t lock; /* SIGUSR1: the sum of the workers' reports */
  unsigned reported;
  calcd_stats sum;
  calcd_worker w[];  /* 1..n-1 (w[0] unused: worker 0 is main's) */
};

int calcd_threads_option(const char *arg, unsigned *n) {
  if (strcmp(arg, "auto") == 0) {
    cpu_set_t set;
    int cpus = sched_getaffinity(0, sizeof set, &set) == 0 ? CPU_COUNT(&set)
                                                           : 0;
    if (cpus <= 0) cpus = (int)sysconf(_SC_NPROCESSORS_ONLN);
    if (cpus <= 0) cpus = 1;
    *n = cpus > CALCD_MAX_THREADS ? CALCD_MAX_THREADS : (unsigned)cpus;
    return 0;
  }
  char *end;
  errno = 0;
  unsigned long v = strtoul(arg, &end, 10);
  if (arg[0] >= '1' && arg[0] <= '9' && !*end && !errno && v >= 1 &&
      v <= CALCD_MAX_THREADS) {
    *n = (unsigned)v;
    return 0;
  }
  fprintf(stderr, "calcd: bad --threads '%s' (1..%d, or auto)\n", arg,
          CALCD_MAX_THREADS);
  return -1;
}

int calcd_slot_take(calcd *s) {
  unsigned was = atomic_fetch_add_explicit(&s->workers->sh.nconn, 1,
                                           memory_order_relaxed);
  if (was < s->o->max_conn) return 1;
  atomic_fetch_sub_explicit(&s->workers->sh.nconn, 1, memory_order_relaxed);
  return 0;
}

void calcd_slot_put(calcd *s) {
  atomic_fetch_sub_explicit(&s->workers->sh.nconn, 1, memory_order_relaxed);
}

static void label(const calcd *s, char *buf, size_t cap) {
  snprintf(buf, cap, "stats worker %u", s->id);
}

/* SIGUSR1 with several workers: each logs its line; the last to do so
 * logs the sum. */
static void report(calcd *s) {
  calcd_workers *W = s->workers;
  char what[32];
  label(s, what, sizeof what);
  pthread_mutex_lock(&W->lock);
  calcd_stats_log(&s->st, what);
  calcd_stats_add(&W->sum, &s->st);
  if (++W->reported == W->n) {
    calcd_stats_log(&W->sum, "stats");
    W->reported = 0;
    memset(&W->sum, 0, sizeof W->sum);
  }
  pthread_mutex_unlock(&W->lock);
}

static void on_notify(calcd_loop *L, calcd_io *io, uint32_t events) {
  (void)events;
  calcd *s = CALCD_OF(L);
  char msg[64];
  ssize_t n;
  while ((n = read(io->fd, msg, sizeof msg)) > 0)
    for (ssize_t i = 0; i < n; i++) {
      if (msg[i] == MSG_STOP) calcd_stop(s, 0);
      if (msg[i] == MSG_STATS) report(s);
    }
}

static void *worker_main(void *arg) {
  calcd_worker *w = arg;
  calcd_loop_run(&w->s.loop);
  return NULL;
}

static void tell(calcd_workers *W, char msg) {
  for (unsigned i = 1; i < W->n; i++)
    if (W->w[i].started) (void)!write(W->w[i].pipe[1], &msg, 1);
}

static void join_all(calcd_workers *W) {
  for (unsigned i = 1; i < W->n; i++) {
    calcd_worker *w = &W->w[i];
    if (w->started) pthread_join(w->thread, NULL);
    w->started = 0;
  }
}

/* Worker i: its calcd, its sockets (SO_REUSEPORT on worker 0's port), its
 * pipe; then its thread.  0, or -1 (logged). */
static int start_one(calcd_workers *W, calcd_opts *o, unsigned i) {
  calcd_worker *w = &W->w[i];
  calcd_socks k = {0};
  if (calcd_init(&w->s, o) < 0 ||
      pipe2(w->pipe, O_NONBLOCK | O_CLOEXEC) < 0) {
    calcd_log("worker %u: cannot start: %s", i, strerror(errno));
    return -1;
  }
  w->s.id = i;
  w->s.workers = W;
  if (calcd_bind(o, &k) < 0) return -1;
  w->notify = (calcd_io){.fd = w->pipe[0], .fn = on_notify};
  if (calcd_serve(&w->s, &k) < 0 ||
      calcd_io_add(&w->s.loop, &w->notify, EPOLLIN) < 0) {
    calcd_log("worker %u: cannot serve: %s", i, strerror(errno));
    return -1;
  }
  int e = pthread_create(&w->thread, NULL, worker_main, w);
  if (e) {
    calcd_log("worker %u: cannot start a thread: %s", i, strerror(e));
    return -1;
  }
  w->started = 1;
  return 0;
}

int calcd_workers_start(calcd *s0) {
  calcd_opts *o = (calcd_opts *)s0->o; /* main's: bind may prune it */
  unsigned n = o->threads ? o->threads : 1;
  calcd_workers *W = calloc(1, sizeof *W + n * sizeof W->w[0]);
  if (!W) {
    calcd_log("cannot start: %s", strerror(errno));
    return -1;
  }
  W->n = n;
  pthread_mutex_init(&W->lock, NULL);
  for (unsigned i = 0; i < n; i++) W->w[i].pipe[0] = W->w[i].pipe[1] = -1;
  s0->workers = W;
  s0->id = 0;
  for (unsigned i = 1; i < n; i++)
    if (start_one(W, o, i) < 0) {
      tell(W, MSG_STOP);
      join_all(W);
      return -1;
    }
  return 0;
}

void calcd_workers_signal(calcd *s0, int sig) {
  calcd_workers *W = s0->workers;
  if (sig == SIGUSR1) {
    if (W->n == 1) {
      calcd_stats_log(&s0->st, "stats");
    } else {
      tell(W, MSG_STATS);
      report(s0);
    }
    return;
  }
  calcd_stop(s0, sig);
  tell(W, MSG_STOP);
}

void calcd_workers_finish(calcd *s0) {
  calcd_workers *W = s0->workers;
  if (!W) return;
  tell(W, MSG_STOP); /* worker 0 may have ended on its own (epoll) */
  join_all(W);
  if (W->n > 1) {
    calcd_stats sum = s0->st;
    char what[32];
    label(s0, what, sizeof what);
    calcd_stats_log(&s0->st, what);
    for (unsigned i = 1; i < W->n; i++) {
      label(&W->w[i].s, what, sizeof what);
      calcd_stats_log(&W->w[i].s.st, what);
      calcd_stats_add(&sum, &W->w[i].s.st);
    }
    calcd_stats_log(&sum, "stats");
  } else {
    calcd_stats_log(&s0->st, "stats");
  }
  for (unsigned i = 1; i < W->n; i++) {
    calcd_worker *w = &W->w[i];
    if (w->s.ctx) calcd_free(&w->s);
    if (w->pipe[0] >= 0) close(w->pipe[0]);
    if (w->pipe[1] >= 0) close(w->pipe[1]);
  }
  pthread_mutex_destroy(&W->lock);
  free(W);
  s0->workers = NULL;
}
