/* SPDX-License-Identifier: MIT
 * calc_bench_work.c: calc-bench's connections and worker threads (see
 * calc_bench_work.h). */
#define _GNU_SOURCE /* sendmmsg, recvmmsg */
#include "calc_bench_work.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include "calc_bench_expect.h"
#include "calc_exit.h"
#include "calc_frame.h"

#define BENCH_BATCH 64                /* datagrams per sendmmsg / recvmmsg */
#define BENCH_SCAN_NS 10000000ull     /* UDP loss scan period: 10 ms */
#define BENCH_SOCKBUF (4 << 20)

uint64_t bench_now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

unsigned bench_inflight_cap(const bench_opts *o) {
  return o->rate > 0 ? BENCH_RATE_WINDOW : o->depth;
}

/* ---- connections ------------------------------------------------------ */

enum { SLOT_FREE = 0, SLOT_WAIT = 1 };

typedef struct bench_slot {
  uint64_t seq;
  uint64_t sent;   /* when it went out (loss timeout) */
  uint64_t start;  /* latency from here: sent, or its scheduled time */
  uint32_t expr;
  uint8_t state;
} bench_slot;

typedef struct bench_conn {
  int fd;
  unsigned id;
  uint32_t epoll_events;
  uint64_t seq_next, seq_oldest; /* [oldest, next) may be in flight */
  unsigned inflight;
  unsigned ring_mask;
  bench_slot *ring;
  int dead;
  /* TCP */
  calc_frame frame;   /* its replies */
  char *out;
  size_t out_len, out_off, out_cap;
  char *in;
  size_t in_len, in_cap;
} bench_conn;

typedef struct bench_worker {
  pthread_t thread;
  const bench_opts *o;
  unsigned index;
  int ep;
  int tfd;            /* --rate: a timer at the next due time, in ep */
  uint64_t armed;     /* the due time it is armed at, 0 none */
  bench_conn *conns;
  unsigned nconns;
  unsigned cap;       /* in flight per connection (bench_inflight_cap) */
  uint64_t quota;     /* requests to send (UINT64_MAX: by time) */
  double rate;        /* per worker, 0: unpaced */
  uint64_t t_start, t_stop_send, t_end;
  uint64_t t_drain;   /* when sending ended: TCP waits timeout_ms more */
  bench_counts n;
  calc_hist hist;
  /* published for the progress line */
  _Atomic uint64_t pub_sent, pub_replies, pub_wrong, pub_lost;
  _Atomic int finished;
  int fatal;          /* exit code of a fatal failure, 0 none */
  char fatal_msg[512];
  unsigned shown_wrong;
  /* UDP batch buffers */
  struct mmsghdr *mm;
  struct iovec *iov;
  char *bufs;         /* BENCH_BATCH buffers of bufsize */
  size_t bufsize;
} bench_worker;

struct bench_pool {
  const bench_opts *o;
  bench_worker *ws;
  unsigned n;
};

/* Account for the reply p[0..n) (parsed: ri) to slot s. */
static void complete(bench_worker *w, bench_conn *c, bench_slot *s,
                     const calc_reply_info *ri, const char *p, size_t n,
                     uint64_t now) {
  const bench_expr *e = &w->o->exprs[s->expr];
  const char *why;
  w->n.replies++;
  if (ri->is_error) w->n.err_replies++;
  if (bench_expect_match(e, ri, p, &why)) {
    w->n.ok++;
  } else {
    w->n.wrong++;
    bench_show_wrong(&w->shown_wrong, e, p, n, why);
  }
  calc_hist_add(&w->hist, now > s->start ? now - s->start : 0);
  s->state = SLOT_FREE;
  c->inflight--;
}

static void advance_oldest(bench_conn *c) {
  while (c->seq_oldest < c->seq_next &&
         c->ring[c->seq_oldest & c->ring_mask].state == SLOT_FREE)
    c->seq_oldest++;
}

/* A reply whose tag says seq (mod the tag span): the slot waiting for it. */
static bench_slot *slot_for(bench_conn *c, int64_t tagv) {
  if (tagv < 0 || c->seq_next == 0) return NULL;
  uint64_t last = c->seq_next - 1;
  uint64_t d = (last % BENCH_TAG_SPAN + BENCH_TAG_SPAN - (uint64_t)tagv) %
               BENCH_TAG_SPAN;
  if (d > last || d > c->ring_mask) return NULL;
  uint64_t seq = last - d;
  bench_slot *s = &c->ring[seq & c->ring_mask];
  return s->state == SLOT_WAIT && s->seq == seq ? s : NULL;
}

/* ---- sending ---------------------------------------------------------- */

/* May another request go out now?  Sets *start to its latency origin. */
static int may_send(bench_worker *w, uint64_t now, uint64_t *start) {
  if (w->n.sent >= w->quota || now >= w->t_stop_send) return 0;
  if (w->rate > 0) {
    uint64_t due = w->t_start + (uint64_t)((double)w->n.sent * 1e9 / w->rate);
    if (due > now) return 0;
    *start = due;
  } else {
    *start = now;
  }
  return 1;
}

static bench_slot *take_slot(bench_worker *w, bench_conn *c, uint64_t now,
                             uint64_t start) {
  bench_slot *s = &c->ring[c->seq_next & c->ring_mask];
  s->seq = c->seq_next;
  s->sent = now;
  s->start = start;
  s->expr = (uint32_t)(w->n.sent % w->o->nexpr); /* the mix in turn */
  s->state = SLOT_WAIT;
  c->seq_next++;
  c->inflight++;
  w->n.sent++;
  return s;
}

static int can_queue(const bench_worker *w, const bench_conn *c) {
  return !c->dead && c->inflight < w->cap &&
         c->seq_next - c->seq_oldest <= c->ring_mask;
}

static void fill_udp(bench_worker *w, bench_conn *c, uint64_t now) {
  for (;;) {
    unsigned k = 0;
    uint64_t start;
    while (k < BENCH_BATCH && can_queue(w, c) && may_send(w, now, &start)) {
      bench_slot *s = take_slot(w, c, now, start);
      char *buf = w->bufs + (size_t)k * w->bufsize;
      w->iov[k].iov_base = buf;
      w->iov[k].iov_len = bench_frame(w->o, &w->o->exprs[s->expr], s->seq,
                                      buf);
      w->mm[k].msg_hdr = (struct msghdr){.msg_iov = &w->iov[k],
                                         .msg_iovlen = 1};
      k++;
    }
    if (k == 0) return;
    unsigned sent = 0;
    while (sent < k) {
      int r = sendmmsg(c->fd, w->mm + sent, k - sent, MSG_DONTWAIT);
      if (r > 0) {
        sent += (unsigned)r;
        continue;
      }
      if (r < 0 && errno == EINTR) continue;
      if (r < 0 && errno == ECONNREFUSED) {
        w->fatal = CALC_EXIT_NET;
        snprintf(w->fatal_msg, sizeof w->fatal_msg,
                 "no server at %s over UDP (port unreachable)",
                 w->o->server.text);
      }
      break; /* EAGAIN: the rest did not go; take them back */
    }
    for (unsigned j = sent; j < k; j++) {
      c->seq_next--;
      c->ring[c->seq_next & c->ring_mask].state = SLOT_FREE;
      c->inflight--;
      w->n.sent--;
    }
    if (sent < k) return;
  }
}

static void set_events(bench_worker *w, bench_conn *c, uint32_t ev) {
  if (c->epoll_events == ev) return;
  struct epoll_event e = {.events = ev, .data.ptr = c};
  epoll_ctl(w->ep, EPOLL_CTL_MOD, c->fd, &e);
  c->epoll_events = ev;
}

static void kill_conn(bench_worker *w, bench_conn *c, const char *why) {
  if (c->dead) return;
  c->dead = 1;
  epoll_ctl(w->ep, EPOLL_CTL_DEL, c->fd, NULL);
  /* its requests in flight will never be answered */
  w->n.lost += c->inflight;
  for (uint64_t q = c->seq_oldest; q < c->seq_next; q++)
    c->ring[q & c->ring_mask].state = SLOT_FREE;
  c->inflight = 0;
  c->seq_oldest = c->seq_next;
  if (!w->fatal) {
    w->fatal = CALC_EXIT_NET;
    snprintf(w->fatal_msg, sizeof w->fatal_msg, "connection %u to %s: %s",
             c->id, w->o->server.text, why);
  }
}

static void flush_tcp(bench_worker *w, bench_conn *c) {
  while (c->out_off < c->out_len) {
    ssize_t r = send(c->fd, c->out + c->out_off, c->out_len - c->out_off,
                     MSG_NOSIGNAL | MSG_DONTWAIT);
    if (r > 0) {
      c->out_off += (size_t)r;
    } else if (r < 0 && errno == EINTR) {
      continue;
    } else if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      break;
    } else {
      kill_conn(w, c, r < 0 ? strerror(errno) : "closed");
      return;
    }
  }
  if (c->out_off == c->out_len) c->out_off = c->out_len = 0;
  set_events(w, c, EPOLLIN | (c->out_len ? EPOLLOUT : 0));
}

static void fill_tcp(bench_worker *w, bench_conn *c, uint64_t now) {
  uint64_t start;
  int added = 0;
  while (can_queue(w, c) && may_send(w, now, &start)) {
    size_t need = BENCH_FRAME_MAX + 1;
    if (c->out_len + need > c->out_cap) {
      if (c->out_off > 0) {
        memmove(c->out, c->out + c->out_off, c->out_len - c->out_off);
        c->out_len -= c->out_off;
        c->out_off = 0;
      }
      if (c->out_len + need > c->out_cap) break;
    }
    bench_slot *s = take_slot(w, c, now, start);
    c->out_len += bench_frame(w->o, &w->o->exprs[s->expr], s->seq,
                              c->out + c->out_len);
    added = 1;
  }
  if (added) flush_tcp(w, c);
}

/* ---- receiving -------------------------------------------------------- */

static void read_udp(bench_worker *w, bench_conn *c) {
  for (;;) {
    for (unsigned k = 0; k < BENCH_BATCH; k++) {
      w->iov[k].iov_base = w->bufs + (size_t)k * w->bufsize;
      w->iov[k].iov_len = w->bufsize;
      w->mm[k].msg_hdr = (struct msghdr){.msg_iov = &w->iov[k],
                                         .msg_iovlen = 1};
    }
    int r = recvmmsg(c->fd, w->mm, BENCH_BATCH, MSG_DONTWAIT, NULL);
    if (r < 0) {
      if (errno == EINTR) continue;
      if (errno == ECONNREFUSED && !w->fatal) {
        w->fatal = CALC_EXIT_NET;
        snprintf(w->fatal_msg, sizeof w->fatal_msg,
                 "no server at %s over UDP (port unreachable)",
                 w->o->server.text);
      }
      return;
    }
    uint64_t now = bench_now_ns();
    for (int k = 0; k < r; k++) {
      const char *p = w->iov[k].iov_base;
      size_t n = w->mm[k].msg_len;
      calc_reply_info ri;
      int64_t seq = bench_reply_seq(p, n, &ri);
      bench_slot *s = slot_for(c, seq);
      if (!s) {
        if (seq < 0) {
          w->n.wrong++;
          bench_show_wrong(&w->shown_wrong, NULL, p, n, "no tag");
        } else {
          w->n.late++; /* after its loss timeout, or a duplicate */
        }
        continue;
      }
      complete(w, c, s, &ri, p, n, now);
    }
    advance_oldest(c);
    if (r < BENCH_BATCH) return;
  }
}

/* One reply line p[0..n) of a TCP connection: replies come in order. */
static void take_tcp(bench_worker *w, bench_conn *c, const char *p, size_t n,
                     uint64_t now) {
  if (c->seq_oldest == c->seq_next) {
    w->n.wrong++;
    bench_show_wrong(&w->shown_wrong, NULL, p, n, "nothing was asked");
    return;
  }
  bench_slot *s = &c->ring[c->seq_oldest & c->ring_mask];
  calc_reply_info ri;
  int64_t t = bench_reply_seq(p, n, &ri);
  if (t < 0 || (uint64_t)t != s->seq % BENCH_TAG_SPAN) {
    w->n.wrong++;
    bench_show_wrong(&w->shown_wrong, &w->o->exprs[s->expr], p, n,
                     "tag out of order");
    s->state = SLOT_FREE; /* in order: this was its reply, mangled */
    c->inflight--;
    w->n.replies++;
  } else {
    complete(w, c, s, &ri, p, n, now);
  }
  c->seq_oldest++;
}

static void read_tcp(bench_worker *w, bench_conn *c) {
  for (;;) {
    ssize_t r = recv(c->fd, c->in + c->in_len, c->in_cap - c->in_len,
                     MSG_DONTWAIT);
    if (r == 0) {
      kill_conn(w, c, "the server closed the connection");
      return;
    }
    if (r < 0) {
      if (errno == EINTR) continue;
      if (errno != EAGAIN && errno != EWOULDBLOCK) kill_conn(w, c, strerror(errno));
      return;
    }
    c->in_len += (size_t)r;
    uint64_t now = bench_now_ns();
    size_t at = 0;
    calc_frame_msg m;
    while (calc_frame_next(&c->frame, NULL, c->in + at, c->in_len - at, 0,
                           &m) != CALC_FRAME_NONE) {
      if (m.kind == CALC_FRAME_TOO_LONG || m.kind == CALC_FRAME_REST) {
        kill_conn(w, c, "a reply line longer than any calc reply");
        return;
      }
      take_tcp(w, c, c->in + at, m.len, now); /* (an empty line: wrong) */
      at += m.end;
    }
    memmove(c->in, c->in + at, c->in_len - at);
    c->in_len -= at;
    if ((size_t)r < c->in_cap / 2) return;
  }
}

/* UDP: requests unanswered for the timeout are lost. */
static void scan_lost(bench_worker *w, bench_conn *c, uint64_t now) {
  uint64_t limit = (uint64_t)w->o->timeout_ms * 1000000ull;
  for (uint64_t q = c->seq_oldest; q < c->seq_next; q++) {
    bench_slot *s = &c->ring[q & c->ring_mask];
    if (s->state != SLOT_WAIT) continue;
    if (now - s->sent < limit) break; /* sent in order: the rest are newer */
    s->state = SLOT_FREE;
    c->inflight--;
    w->n.lost++;
  }
  advance_oldest(c);
}

/* ---- the worker ------------------------------------------------------- */

static int open_conn(bench_worker *w, bench_conn *c,
                     const struct sockaddr_storage *ss, unsigned sslen) {
  const bench_opts *o = w->o;
  int udp = o->transport == CALC_NET_UDP;
  c->fd = socket(ss->ss_family, (udp ? SOCK_DGRAM : SOCK_STREAM) | SOCK_CLOEXEC,
                 0);
  if (c->fd < 0) return -1;
  if (udp) {
    int sz = BENCH_SOCKBUF;
    setsockopt(c->fd, SOL_SOCKET, SO_RCVBUF, &sz, sizeof sz);
    setsockopt(c->fd, SOL_SOCKET, SO_SNDBUF, &sz, sizeof sz);
  }
  if (connect(c->fd, (const struct sockaddr *)ss, sslen) < 0) return -1;
  if (!udp) {
    int one = 1;
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    c->out_cap = 64 * 1024 + CALC_MAX_REQUEST_LEN;
    c->in_cap = 64 * 1024 + CALC_ANSWER_MAX;
    c->out = malloc(c->out_cap);
    c->in = malloc(c->in_cap);
    calc_frame_init(&c->frame, CALC_FRAME_REPLIES);
    if (!c->out || !c->in) return -1;
  }
  unsigned ring = 1;
  while (ring < 4 * w->cap) ring <<= 1;
  c->ring = calloc(ring, sizeof *c->ring);
  if (!c->ring) return -1;
  c->ring_mask = ring - 1;
  c->epoll_events = EPOLLIN;
  struct epoll_event e = {.events = EPOLLIN, .data.ptr = c};
  return epoll_ctl(w->ep, EPOLL_CTL_ADD, c->fd, &e);
}

static unsigned total_inflight(const bench_worker *w) {
  unsigned n = 0;
  for (unsigned i = 0; i < w->nconns; i++) n += w->conns[i].inflight;
  return n;
}

static void publish(bench_worker *w) {
  atomic_store_explicit(&w->pub_sent, w->n.sent, memory_order_relaxed);
  atomic_store_explicit(&w->pub_replies, w->n.replies, memory_order_relaxed);
  atomic_store_explicit(&w->pub_wrong, w->n.wrong, memory_order_relaxed);
  atomic_store_explicit(&w->pub_lost, w->n.lost, memory_order_relaxed);
}

/* The timer fires at due (CLOCK_MONOTONIC ns, as bench_now_ns). */
static void arm_timer(bench_worker *w, uint64_t due) {
  if (w->armed == due) return;
  struct itimerspec its = {
    .it_value = {.tv_sec = (time_t)(due / 1000000000ull),
                 .tv_nsec = (long)(due % 1000000000ull)}};
  timerfd_settime(w->tfd, TFD_TIMER_ABSTIME, &its, NULL);
  w->armed = due;
}

static void *worker_main(void *arg) {
  bench_worker *w = arg;
  const bench_opts *o = w->o;
  int udp = o->transport == CALC_NET_UDP;
  uint64_t drain = (uint64_t)o->timeout_ms * 1000000ull;
  uint64_t next_scan = w->t_start + BENCH_SCAN_NS;
  struct epoll_event ev[64];
  for (;;) {
    uint64_t now = bench_now_ns();
    int sending = w->n.sent < w->quota && now < w->t_stop_send && !w->fatal;
    if (!sending && !w->t_drain) w->t_drain = now;
    if (sending)
      for (unsigned i = 0; i < w->nconns; i++)
        udp ? fill_udp(w, &w->conns[i], now) : fill_tcp(w, &w->conns[i], now);
    publish(w);
    unsigned inflight = total_inflight(w);
    if (w->fatal && inflight == 0) break;
    if (!sending && inflight == 0) break;
    if (!sending && now >= w->t_drain + drain && !udp) {
      for (unsigned i = 0; i < w->nconns; i++) { /* unanswered at the end */
        w->n.lost += w->conns[i].inflight;
        w->conns[i].inflight = 0;
      }
      break;
    }
    /* Sleep until a reply, the next paced send, or the next loss scan. */
    uint64_t wake = now + 100000000ull;
    if (udp && next_scan < wake) wake = next_scan;
    /* The next due send, when a connection has room for it (else a reply
     * wakes us): by the timer, to the nanosecond, as epoll's millisecond
     * timeout would send up to a millisecond late and spinning would take
     * the CPU from the server. */
    int room = 0;
    for (unsigned i = 0; sending && !room && i < w->nconns; i++)
      room = can_queue(w, &w->conns[i]);
    if (sending && w->rate > 0 && room) {
      uint64_t due = w->t_start + (uint64_t)((double)w->n.sent * 1e9 / w->rate);
      if (due <= now) wake = now; /* overdue: send at once */
      else arm_timer(w, due);
    }
    if (sending && w->t_stop_send < wake) wake = w->t_stop_send;
    int tmo = wake > now ? (int)((wake - now + 999999) / 1000000) : 0;
    int n = epoll_wait(w->ep, ev, 64, tmo);
    for (int i = 0; i < n; i++) {
      bench_conn *c = ev[i].data.ptr;
      if (!c) { /* the timer */
        uint64_t ticks;
        if (read(w->tfd, &ticks, sizeof ticks) < 0) ticks = 0;
        w->armed = 0;
        continue;
      }
      if (c->dead) continue;
      if (ev[i].events & (EPOLLIN | EPOLLERR | EPOLLHUP))
        udp ? read_udp(w, c) : read_tcp(w, c);
      if (!udp && !c->dead && (ev[i].events & EPOLLOUT)) flush_tcp(w, c);
    }
    now = bench_now_ns();
    if (udp && now >= next_scan) {
      for (unsigned i = 0; i < w->nconns; i++) scan_lost(w, &w->conns[i], now);
      next_scan = now + BENCH_SCAN_NS;
    }
  }
  w->t_end = bench_now_ns();
  publish(w);
  atomic_store(&w->finished, 1);
  return NULL;
}

void bench_pool_free(bench_pool *p) {
  if (!p) return;
  for (unsigned t = 0; t < p->n; t++) {
    bench_worker *w = &p->ws[t];
    for (unsigned j = 0; j < w->nconns; j++) {
      bench_conn *c = &w->conns[j];
      if (c->fd >= 0) close(c->fd);
      free(c->ring);
      free(c->out);
      free(c->in);
    }
    if (w->ep >= 0) close(w->ep);
    if (w->tfd >= 0) close(w->tfd);
    free(w->conns);
    free(w->mm);
    free(w->iov);
    free(w->bufs);
  }
  free(p->ws);
  free(p);
}

/* Workers with their buffers and connections (a connection in turn to
 * each).  Returns 0, or -1 (said on stderr). */
static int setup_workers(const bench_opts *o, bench_worker *ws,
                         const struct sockaddr_storage *ss, unsigned sslen) {
  for (unsigned t = 0; t < o->threads; t++) ws[t].ep = ws[t].tfd = -1;
  for (unsigned t = 0; t < o->threads; t++) {
    bench_worker *w = &ws[t];
    w->o = o;
    w->index = t;
    calc_hist_init(&w->hist);
    w->ep = epoll_create1(EPOLL_CLOEXEC);
    w->tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    struct epoll_event te = {.events = EPOLLIN, .data.ptr = NULL};
    if (w->ep >= 0 && w->tfd >= 0 &&
        epoll_ctl(w->ep, EPOLL_CTL_ADD, w->tfd, &te) < 0) {
      close(w->tfd);
      w->tfd = -1;
    }
    w->bufsize = CALC_ANSWER_MAX + 64; /* > a request, too */
    w->mm = calloc(BENCH_BATCH, sizeof *w->mm);
    w->iov = calloc(BENCH_BATCH, sizeof *w->iov);
    w->bufs = malloc(BENCH_BATCH * w->bufsize);
    w->conns = calloc(o->conns / o->threads + 1, sizeof *w->conns);
    if (w->ep < 0 || w->tfd < 0) {
      fprintf(stderr, "calc-bench: cannot create an epoll set or timer: %s\n",
              strerror(errno));
      return -1;
    }
    if (!w->mm || !w->iov || !w->bufs || !w->conns) {
      fprintf(stderr, "calc-bench: out of memory\n");
      return -1;
    }
    w->cap = bench_inflight_cap(o);
    w->quota = o->requests ? o->requests / o->threads +
                                 (t < o->requests % o->threads ? 1 : 0)
                           : UINT64_MAX;
    w->rate = o->rate / o->threads;
    for (unsigned i = t; i < o->conns; i += o->threads) {
      bench_conn *c = &w->conns[w->nconns++];
      c->id = i;
      if (open_conn(w, c, ss, sslen) < 0) {
        fprintf(stderr, "calc-bench: cannot connect to %s over %s: %s\n",
                o->server.text,
                o->transport == CALC_NET_UDP ? "UDP" : "TCP", strerror(errno));
        return -1;
      }
    }
  }
  return 0;
}

bench_pool *bench_pool_new(const bench_opts *o,
                           const struct sockaddr_storage *ss, unsigned sslen) {
  bench_pool *p = calloc(1, sizeof *p);
  if (!p) return NULL;
  p->o = o;
  p->ws = calloc(o->threads, sizeof *p->ws);
  if (!p->ws) {
    free(p);
    return NULL;
  }
  p->n = o->threads;
  if (setup_workers(o, p->ws, ss, sslen) < 0) {
    bench_pool_free(p);
    return NULL;
  }
  return p;
}

int bench_pool_start(bench_pool *p, uint64_t t0) {
  const bench_opts *o = p->o;
  for (unsigned t = 0; t < p->n; t++) {
    p->ws[t].t_start = t0;
    p->ws[t].t_stop_send =
        o->requests ? UINT64_MAX : t0 + (uint64_t)(o->seconds * 1e9);
    if (pthread_create(&p->ws[t].thread, NULL, worker_main, &p->ws[t]) != 0) {
      fprintf(stderr, "calc-bench: cannot start a thread\n");
      return -1;
    }
  }
  return 0;
}

int bench_pool_poll(bench_pool *p, bench_counts *now) {
  int done = 1;
  memset(now, 0, sizeof *now);
  for (unsigned t = 0; t < p->n; t++) {
    bench_worker *w = &p->ws[t];
    done &= atomic_load(&w->finished);
    now->sent += atomic_load_explicit(&w->pub_sent, memory_order_relaxed);
    now->replies +=
        atomic_load_explicit(&w->pub_replies, memory_order_relaxed);
    now->wrong += atomic_load_explicit(&w->pub_wrong, memory_order_relaxed);
    now->lost += atomic_load_explicit(&w->pub_lost, memory_order_relaxed);
  }
  return done;
}

void bench_pool_join(bench_pool *p, bench_counts *tot, calc_hist *h,
                     uint64_t *t_end, const char **fatal, int *code) {
  *fatal = NULL;
  for (unsigned t = 0; t < p->n; t++) {
    bench_worker *w = &p->ws[t];
    pthread_join(w->thread, NULL);
    tot->sent += w->n.sent;
    tot->replies += w->n.replies;
    tot->ok += w->n.ok;
    tot->wrong += w->n.wrong;
    tot->err_replies += w->n.err_replies;
    tot->lost += w->n.lost;
    tot->late += w->n.late;
    calc_hist_merge(h, &w->hist);
    if (w->t_end > *t_end) *t_end = w->t_end;
    if (w->fatal && !*fatal) {
      *fatal = w->fatal_msg;
      *code = w->fatal;
    }
  }
}
