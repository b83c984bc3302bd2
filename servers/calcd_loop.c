/* SPDX-License-Identifier: MIT
 *
 * calcd_loop.c: the event loop (calcd_loop.h).  One level-triggered epoll
 * set; deadlines in fixed-period timer queues, so the loop sleeps until the
 * earliest queue head and expires timers in O(1) each; two FIFO run queues
 * of tasks, fresh before heavy.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <time.h>
#include <unistd.h>

#include "calcd_log.h"
#include "calcd_loop.h"

static uint64_t calcd_now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static uint64_t calcd_now_ms(void) { return calcd_now_ns() / 1000000u; }

/* The turn clock, read after every request: the TSC where the kernel's own
 * clock is the TSC (then it is invariant and in step across CPUs), about
 * 10 ns a read against 25-120 ns for clock_gettime(); else the
 * nanosecond clock. */
#if defined(__x86_64__) || defined(__i386__)
#include <x86intrin.h>
#define CALCD_TSC_CALIBRATE_NS 20000000u /* TSC rate measured over 20 ms */
static int tsc_usable(void) {
  char cs[32] = "";
  FILE *f =
      fopen("/sys/devices/system/clocksource/clocksource0/current_clocksource",
            "r");
  if (!f) return 0;
  int ok = fgets(cs, sizeof cs, f) && strncmp(cs, "tsc\n", 4) == 0;
  fclose(f);
  return ok;
}
static uint64_t tsc_now(void) { return __rdtsc(); }
#else
static int tsc_usable(void) { return 0; }
static uint64_t tsc_now(void) { return 0; }
#endif

static uint64_t turn_clock(const calcd_loop *L) {
  return L->tsc == 2 ? tsc_now() : calcd_now_ns();
}

/* Once per iteration: the TSC's ticks per turn, once 20 ms have passed
 * (tsc 1: measuring; 2: in use). */
static void calibrate(calcd_loop *L, uint64_t ns) {
#ifdef CALCD_TSC_CALIBRATE_NS
  if (L->tsc != 1 || ns - L->ns0 < CALCD_TSC_CALIBRATE_NS) return;
  uint64_t ticks = tsc_now() - L->tsc0;
  L->turn_len = (uint64_t)((double)ticks * CALCD_TURN_NS / (double)(ns - L->ns0));
  if (L->turn_len) L->tsc = 2;
#else
  (void)L;
  (void)ns;
#endif
}

int calcd_loop_init(calcd_loop *L) {
  memset(L, 0, sizeof *L);
  L->ep = epoll_create1(EPOLL_CLOEXEC);
  if (L->ep < 0) return -1;
  L->ns0 = calcd_now_ns();
  L->now = L->ns0 / 1000000u;
  L->turn_len = CALCD_TURN_NS;
  if (tsc_usable()) {
    L->tsc = 1;
    L->tsc0 = tsc_now();
  }
  L->fresh.prev = L->fresh.next = &L->fresh;
  L->heavy.prev = L->heavy.next = &L->heavy;
  return 0;
}

void calcd_loop_free(calcd_loop *L) {
  if (L->ep >= 0) close(L->ep);
  L->ep = -1;
}

int calcd_loop_hook(calcd_loop *L, const calcd_hooks *h) {
  if (L->nhooks == CALCD_LOOP_HOOK_MAX) return -1;
  L->hooks[L->nhooks++] = h;
  return 0;
}

int calcd_io_add(calcd_loop *L, calcd_io *io, uint32_t events) {
  struct epoll_event ev = {.events = events, .data.ptr = io};
  io->events = events;
  return epoll_ctl(L->ep, EPOLL_CTL_ADD, io->fd, &ev);
}

/* Change the interest only when it differs: most pumps change nothing. */
void calcd_io_set(calcd_loop *L, calcd_io *io, uint32_t events) {
  if (io->events == events || io->fd < 0) return;
  struct epoll_event ev = {.events = events, .data.ptr = io};
  io->events = events;
  if (epoll_ctl(L->ep, EPOLL_CTL_MOD, io->fd, &ev) < 0)
    calcd_log("epoll_ctl: %s", strerror(errno));
}

/* close() drops the fd from the epoll set (we never dup them). */
void calcd_io_close(calcd_io *io) {
  if (io->fd >= 0) close(io->fd);
  io->fd = -1;
}

calcd_tq *calcd_tq_new(calcd_loop *L, uint64_t period, calcd_timer_fn *fn) {
  if (L->ntq == CALCD_LOOP_TQ_MAX) return NULL;
  calcd_tq *q = &L->tq[L->ntq++];
  q->head.prev = q->head.next = &q->head;
  q->period = period;
  q->fn = fn;
  return q;
}

void calcd_timer_stop(calcd_timer *t) {
  if (!t->next) return;
  t->prev->next = t->next;
  t->next->prev = t->prev;
  t->prev = t->next = NULL;
}

void calcd_timer_arm(calcd_tq *q, calcd_timer *t, uint64_t from) {
  calcd_timer_stop(t);
  t->due = from + q->period;
  t->prev = q->head.prev;
  t->next = &q->head;
  q->head.prev->next = t;
  q->head.prev = t;
}

void calcd_task_cancel(calcd_task *t) {
  if (!t->next) return;
  t->prev->next = t->next;
  t->next->prev = t->prev;
  t->prev = t->next = NULL;
}

void calcd_task_wake(calcd_loop *L, calcd_task *t) {
  if (t->next) return;
  calcd_task *q = t->heavy ? &L->heavy : &L->fresh;
  t->prev = q->prev;
  t->next = q;
  q->prev->next = t;
  q->prev = t;
}

int calcd_task_queued_heavy(const calcd_task *t) {
  return t->next && t->heavy;
}

void calcd_task_promote(calcd_loop *L, calcd_task *t) {
  if (!calcd_task_queued_heavy(t)) return;
  calcd_task_cancel(t);
  t->heavy = 0;
  calcd_task_wake(L, t);
}

int calcd_turn_over(const calcd_loop *L) {
  return turn_clock(L) >= L->turn_due;
}

static int tasks_queued(const calcd_loop *L) {
  return L->fresh.next != &L->fresh || L->heavy.next != &L->heavy;
}

/* Run queued tasks, fresh ones first, until one turn's budget is spent.
 * A task that spent its turn is queued again behind the heavy ones. */
static void run_tasks(calcd_loop *L) {
  if (!tasks_queued(L)) return;
  calibrate(L, calcd_now_ns());
  uint64_t start = turn_clock(L), end = start + L->turn_len;
  for (uint64_t t0 = start; t0 < end; t0 = turn_clock(L)) {
    calcd_task *q = L->fresh.next != &L->fresh ? &L->fresh : &L->heavy;
    calcd_task *t = q->next;
    if (t == q) return;
    calcd_task_cancel(t);
    if (q == &L->heavy) L->heavy_turns++;
    L->turn_due = t0 + L->turn_len;
    if (t->fn(L, t)) {
      t->heavy = 1;
      calcd_task_wake(L, t);
    }
  }
}

/* Milliseconds until the earliest armed timer, or -1 (none). */
static int next_timeout(const calcd_loop *L) {
  if (tasks_queued(L)) return 0;
  uint64_t due = UINT64_MAX;
  for (int q = 0; q < L->ntq; q++) {
    const calcd_timer *h = L->tq[q].head.next;
    if (h != &L->tq[q].head && h->due < due) due = h->due;
  }
  if (L->stopping && L->stop_due < due) due = L->stop_due;
  if (due == UINT64_MAX) return -1;
  if (due <= L->now) return 0;
  return due - L->now > 60000 ? 60000 : (int)(due - L->now);
}

static void expire_timers(calcd_loop *L) {
  for (int q = 0; q < L->ntq; q++) {
    calcd_tq *tq = &L->tq[q];
    while (tq->head.next != &tq->head && tq->head.next->due <= L->now) {
      calcd_timer *t = tq->head.next;
      calcd_timer_stop(t);
      tq->fn(L, t);
    }
  }
}

#define EACH_HOOK(L, name)                                                  \
  for (int h_ = 0; h_ < (L)->nhooks; h_++)                                  \
    if ((L)->hooks[h_]->name) (L)->hooks[h_]->name(L)

void calcd_loop_stop(calcd_loop *L, uint64_t deadline_ms) {
  if (L->stopping) return;
  L->stopping = 1;
  L->stop_due = L->now + deadline_ms;
  EACH_HOOK(L, stop);
}

int calcd_loop_run(calcd_loop *L) {
  struct epoll_event ev[CALCD_LOOP_EVENTS];
  int rc = 0;
  for (;;) {
    if (L->stopping && (L->live == 0 || L->now >= L->stop_due)) break;
    int n = epoll_wait(L->ep, ev, CALCD_LOOP_EVENTS, next_timeout(L));
    if (n < 0 && errno != EINTR) {
      calcd_log("epoll_wait: %s", strerror(errno));
      rc = -1;
      break;
    }
    L->now = calcd_now_ms();
    for (int i = 0; i < n; i++) {
      calcd_io *io = ev[i].data.ptr;
      if (io->fd >= 0) io->fn(L, io, ev[i].events);
    }
    expire_timers(L);
    run_tasks(L);
    L->now = calcd_now_ms();
    EACH_HOOK(L, before_sleep);
  }
  EACH_HOOK(L, finish);
  return rc;
}
