/* SPDX-License-Identifier: MIT
 *
 * calcd_loop.h: calcd's event loop, a leaf.  It knows epoll, time, timer
 * queues, a run queue of tasks and hooks; it knows nothing of calcd, its
 * transports or its protocol.  Everything above it is reached through
 * function pointers it was given: an io's handler, a timer queue's expiry,
 * a task's turn, and the hooks (stop, before-sleep, finish), as redis's
 * beforeSleep.  All its state is in one calcd_loop, so several loops can
 * run in one process, one per thread.
 *
 * One iteration: wait for events (not at all while tasks are queued),
 * dispatch them, expire timers, run queued tasks for at most one turn's
 * budget (CALCD_TURN_NS), then the before-sleep hooks.  Handlers of events
 * and timers do I/O only; work that may be long (answering requests) is a
 * task, so no one source of work holds the loop for more than a turn.
 */
#ifndef CALCD_LOOP_H
#define CALCD_LOOP_H

#include <stddef.h>
#include <stdint.h>

/* The work budget of one turn: a task stops once it has run this long and
 * goes to the back of the queue; an iteration runs tasks until this much
 * time is spent.  So new work waits at most about one turn behind
 * someone else's heavy work (docs/PROTOCOL.md, "Fairness"). */
#define CALCD_TURN_NS 1000000ull /* 1 ms */

#define CALCD_LOOP_TQ_MAX   8  /* timer queues per loop */
#define CALCD_LOOP_HOOK_MAX 4  /* hook sets per loop */
#define CALCD_LOOP_EVENTS   256 /* epoll events per wait */

typedef struct calcd_loop calcd_loop;

/* Something in the epoll set.  epoll_data.ptr points at it; fn handles its
 * events.  Embedded first in each listener, socket and connection. */
typedef struct calcd_io calcd_io;
typedef void calcd_io_fn(calcd_loop *L, calcd_io *io, uint32_t events);
struct calcd_io {
  int fd;
  uint32_t events; /* the current epoll interest */
  calcd_io_fn *fn;
};

/* A deadline in a timer queue.  Every queue has one fixed period, so
 * arming always appends at the tail and the head is the earliest: O(1)
 * per arm, stop and expiry, for any number of connections. */
typedef struct calcd_timer {
  struct calcd_timer *prev, *next; /* NULL when not armed */
  uint64_t due;                    /* CLOCK_MONOTONIC ms */
} calcd_timer;

typedef struct calcd_tq calcd_tq;
typedef void calcd_timer_fn(calcd_loop *L, calcd_timer *t);
struct calcd_tq {
  calcd_timer head; /* sentinel of a circular list */
  uint64_t period;  /* ms */
  calcd_timer_fn *fn;
};

/* Queued work.  fn runs for at most one turn (until calcd_turn_over())
 * and returns 1 when work is left (the task is queued again, behind the
 * others) or 0 (it leaves the queue until woken again).  A task woken
 * with `heavy` 0 (it has had no turn since it was last idle) runs before
 * every task that already spent a whole turn. */
typedef struct calcd_task calcd_task;
typedef int calcd_task_fn(calcd_loop *L, calcd_task *t);
struct calcd_task {
  calcd_task *prev, *next; /* NULL when not queued */
  calcd_task_fn *fn;
  int heavy;               /* set by the loop when fn returned 1 */
};

/* What the layers above do at the loop's milestones (any may be NULL). */
typedef struct calcd_hooks {
  void (*stop)(calcd_loop *L);         /* calcd_loop_stop() was called */
  void (*before_sleep)(calcd_loop *L); /* end of every iteration */
  void (*finish)(calcd_loop *L);       /* the loop ends: close the rest */
} calcd_hooks;

struct calcd_loop {
  int ep;            /* epoll fd */
  uint64_t now;      /* ms, CLOCK_MONOTONIC, updated after every wait */
  uint64_t turn_due; /* turn clock: the running task's turn ends */
  uint64_t turn_len; /* turn clock ticks in CALCD_TURN_NS */
  int tsc;           /* the turn clock is the TSC (calibrated), else ns */
  uint64_t tsc0, ns0; /* the calibration's start */
  int ntq, nhooks;
  calcd_tq tq[CALCD_LOOP_TQ_MAX];
  const calcd_hooks *hooks[CALCD_LOOP_HOOK_MAX];
  calcd_task fresh, heavy; /* sentinels of the two run queues */
  uint64_t heavy_turns;    /* turns given to tasks of the heavy queue */
  int stopping;
  uint64_t stop_due; /* ms: the loop ends then, whatever is left */
  unsigned live;     /* what must finish before a stopping loop may end */
};

int calcd_loop_init(calcd_loop *L);
void calcd_loop_free(calcd_loop *L);
int calcd_loop_hook(calcd_loop *L, const calcd_hooks *h);

int calcd_io_add(calcd_loop *L, calcd_io *io, uint32_t events);
void calcd_io_set(calcd_loop *L, calcd_io *io, uint32_t events);
void calcd_io_close(calcd_io *io);

/* A new timer queue of the given period; NULL when CALCD_LOOP_TQ_MAX are
 * taken. */
calcd_tq *calcd_tq_new(calcd_loop *L, uint64_t period, calcd_timer_fn *fn);
/* (Re)arm t in q, due one period after `from`, which must not be earlier
 * than the `from` of any timer armed in q before (it is "now", or a time
 * taken in the order of an earlier queue), which keeps q sorted. */
void calcd_timer_arm(calcd_tq *q, calcd_timer *t, uint64_t from);
void calcd_timer_stop(calcd_timer *t);

/* Queue t (no-op when queued): in the fresh queue unless t->heavy. */
void calcd_task_wake(calcd_loop *L, calcd_task *t);
/* t, queued behind the heavy ones, has new work of a fresh client (a
 * task serving many clients, as a UDP socket): move it to the back of the
 * fresh queue, so that work waits one turn, not every heavy task's. */
void calcd_task_promote(calcd_loop *L, calcd_task *t);
/* Whether t is queued behind the heavy ones. */
int calcd_task_queued_heavy(const calcd_task *t);
void calcd_task_cancel(calcd_task *t);
/* Inside a task: has its turn's budget been spent? */
int calcd_turn_over(const calcd_loop *L);

/* Begin stopping: the stop hooks run, and the loop ends once `live` is 0
 * or deadline_ms have passed. */
void calcd_loop_stop(calcd_loop *L, uint64_t deadline_ms);
/* Run until stopped and done; 0, or -1 when epoll failed (logged). */
int calcd_loop_run(calcd_loop *L);

#endif /* CALCD_LOOP_H */
