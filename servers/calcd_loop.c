/* SPDX-License-Identifier: MIT
 *
 * calcd_loop.c: the event loop.  One level-triggered epoll set holds the
 * listeners, the UDP sockets, the signalfd and every connection; deadlines
 * live in fixed-period timer queues (calcd.h), so the loop sleeps until the
 * earliest queue head and expires timers in O(1) each.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>

#include "calcd.h"

#define CALCD_EVENTS 256 /* epoll events per wait */

uint64_t calcd_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

int calcd_loop_init(calcd *s) {
  s->ep = epoll_create1(EPOLL_CLOEXEC);
  if (s->ep < 0) return -1;
  s->now = calcd_now();
  for (int q = 0; q < CALCD_TQ_COUNT_; q++) {
    s->tq[q].head.prev = s->tq[q].head.next = &s->tq[q].head;
  }
  return 0;
}

int calcd_io_add(calcd *s, calcd_io *io, uint32_t events) {
  struct epoll_event ev = {.events = events, .data.ptr = io};
  io->events = events;
  return epoll_ctl(s->ep, EPOLL_CTL_ADD, io->fd, &ev);
}

/* Change the interest only when it differs: most pumps change nothing. */
void calcd_io_set(calcd *s, calcd_io *io, uint32_t events) {
  if (io->events == events) return;
  struct epoll_event ev = {.events = events, .data.ptr = io};
  io->events = events;
  if (epoll_ctl(s->ep, EPOLL_CTL_MOD, io->fd, &ev) < 0)
    calcd_log("epoll_ctl: %s", strerror(errno));
}

/* close() drops the fd from the epoll set (we never dup them). */
void calcd_io_close(calcd *s, calcd_io *io) {
  (void)s;
  if (io->fd >= 0) close(io->fd);
  io->fd = -1;
}

int calcd_timer_armed(const calcd_timer *t) { return t->next != NULL; }

void calcd_timer_stop(calcd_timer *t) {
  if (!t->next) return;
  t->prev->next = t->next;
  t->next->prev = t->prev;
  t->prev = t->next = NULL;
}

/* (Re)arm t in queue q, due one period after `from`.  `from` must not be
 * earlier than the `from` of any timer armed in q before (it is "now", or
 * for the incomplete queue the last byte's time of connections expiring
 * from the quiet queue in order), which keeps each queue sorted. */
void calcd_timer_arm(calcd *s, int q, calcd_timer *t, uint64_t from) {
  calcd_tq *tq = &s->tq[q];
  calcd_timer_stop(t);
  t->due = from + tq->period;
  t->prev = tq->head.prev;
  t->next = &tq->head;
  tq->head.prev->next = t;
  tq->head.prev = t;
}

/* Milliseconds until the earliest armed timer, or -1 (none). */
static int next_timeout(const calcd *s) {
  uint64_t due = UINT64_MAX;
  for (int q = 0; q < CALCD_TQ_COUNT_; q++) {
    const calcd_timer *h = s->tq[q].head.next;
    if (h != &s->tq[q].head && h->due < due) due = h->due;
  }
  if (s->stopping && s->stop_due < due) due = s->stop_due;
  if (due == UINT64_MAX) return -1;
  if (due <= s->now) return 0;
  return due - s->now > 60000 ? 60000 : (int)(due - s->now);
}

static void expire_timers(calcd *s) {
  for (int q = 0; q < CALCD_TQ_COUNT_; q++) {
    calcd_tq *tq = &s->tq[q];
    while (tq->head.next != &tq->head && tq->head.next->due <= s->now) {
      calcd_timer *t = tq->head.next;
      calcd_timer_stop(t);
      tq->fn(s, t);
    }
  }
}

/* SIGINT/SIGTERM: stop accepting, answer what was received, then close. */
static void begin_stop(calcd *s, int sig) {
  if (s->stopping) return;
  calcd_log("signal %d: stopping", sig);
  s->stopping = 1;
  s->stop_due = s->now + CALCD_STOP_MS;
  calcd_udp_stop(s);
  calcd_tcp_stop(s);
}

int calcd_run(calcd *s, int sigfd) {
  struct epoll_event ev[CALCD_EVENTS];
  calcd_io sig = {.fd = sigfd, .fn = NULL};
  if (calcd_io_add(s, &sig, EPOLLIN) < 0) {
    calcd_log("epoll_ctl: %s", strerror(errno));
    return CALCD_EXIT_FAIL;
  }
  for (;;) {
    if (s->stopping && (s->nconn + s->nreject == 0 || s->now >= s->stop_due))
      break;
    int n = epoll_wait(s->ep, ev, CALCD_EVENTS, next_timeout(s));
    if (n < 0 && errno != EINTR) {
      calcd_log("epoll_wait: %s", strerror(errno));
      return CALCD_EXIT_FAIL;
    }
    s->now = calcd_now();
    for (int i = 0; i < n; i++) {
      calcd_io *io = ev[i].data.ptr;
      if (io == &sig) {
        struct signalfd_siginfo si;
        while (read(sigfd, &si, sizeof si) == (ssize_t)sizeof si)
          begin_stop(s, (int)si.ssi_signo);
        continue;
      }
      if (io->fd >= 0) io->fn(s, io, ev[i].events);
    }
    expire_timers(s);
    calcd_tcp_reap(s);
  }
  calcd_tcp_close_all(s);
  calcd_tcp_reap(s);
  calcd_log("stopped");
  return CALCD_EXIT_OK;
}
