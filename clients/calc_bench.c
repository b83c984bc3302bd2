/* SPDX-License-Identifier: MIT
 *
 * calc-bench: a load generator for the calc protocol (docs/CLIENTS.md,
 * "calc-bench").
 *
 *   calc-bench --udp -c 4 -d 32 --duration 5 --file mix.txt --json
 *
 * Worker threads each own some connections (UDP: sockets) and one epoll
 * set.  A connection keeps --depth requests in flight; every request
 * carries a 9-digit tag (so every UDP request and reply has the same size
 * and the expected reply is the same for each), and every reply is
 * checked byte for byte against the expected reply: given with the
 * expression, or computed by the core with calc_answer() as the server's
 * role would.  UDP sends and reads go by sendmmsg/recvmmsg batches, TCP
 * requests of a connection by one write per batch.  Latency goes into a
 * log-linear histogram (calc_hist.h); with --rate it is measured from
 * each request's scheduled time, so a stall is not hidden (no coordinated
 * omission).
 */
#define _GNU_SOURCE /* sendmmsg, recvmmsg */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "calc_exit.h"
#include "calc_expr.h"
#include "calc_hist.h"
#include "calc_net.h"
#include "calc_proto.h"
#include "calc_version.h"

#define BENCH_TAG_BASE 100000000u /* tags are 9 digits: BASE + seq % SPAN */
#define BENCH_TAG_SPAN 900000000u
#define BENCH_TAG_LEN 11          /* " #" and 9 digits */
#define BENCH_BATCH 64            /* datagrams per sendmmsg / recvmmsg */
#define BENCH_MAX_CONN 4096
#define BENCH_MAX_DEPTH 4096
#define BENCH_MAX_THREADS 64
#define BENCH_DEFAULT_CONN 4
#define BENCH_DEFAULT_DEPTH 16
#define BENCH_DEFAULT_SECONDS 5.0
#define BENCH_DEFAULT_TIMEOUT_MS 1000 /* UDP: a request unanswered this long
                                         is lost; TCP: the final drain */
#define BENCH_SCAN_NS 10000000ull     /* UDP loss scan period: 10 ms */
#define BENCH_SHOW_WRONG 5            /* wrong replies printed in full */
#define BENCH_SOCKBUF (4 << 20)


/* The default mix: both classes, ints, floats, big ints, an error. */
static const char *bench_default_mix[] = {
  "15*15", "30+30", "2**100", "7//-2", "1/3", "(1+2)*3-4/5", "-2**2 + 0.5",
  "1/0",
};

typedef struct bench_expr {
  char *text;
  size_t len;
  char *expect; /* reply without the tag */
  size_t expect_len;
} bench_expr;

typedef struct bench_opts {
  calc_net_transport transport;
  calc_net_addr server;
  unsigned conns, depth, threads;
  double seconds;
  uint64_t requests; /* 0: by duration */
  double rate;       /* 0: as fast as replies come */
  calc_role role;
  unsigned timeout_ms;
  int json, quiet;
  bench_expr *exprs;
  size_t nexpr;
} bench_opts;

/* ---- time ------------------------------------------------------------- */

static uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
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
  char *out;
  size_t out_len, out_off, out_cap;
  char *in;
  size_t in_len, in_cap;
} bench_conn;

typedef struct bench_counts {
  uint64_t sent, replies, ok, wrong, err_replies, lost, late;
} bench_counts;

typedef struct bench_worker {
  pthread_t thread;
  const bench_opts *o;
  unsigned index;
  int ep;
  bench_conn *conns;
  unsigned nconns;
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

static pthread_mutex_t bench_print_lock = PTHREAD_MUTEX_INITIALIZER;

static void put_tag(char *p, uint64_t seq) {
  uint32_t t = BENCH_TAG_BASE + (uint32_t)(seq % BENCH_TAG_SPAN);
  p[0] = ' ';
  p[1] = '#';
  for (int i = 10; i >= 2; i--) {
    p[i] = (char)('0' + t % 10);
    t /= 10;
  }
}

/* Frame request seq (expression e) into p; returns its length. */
static size_t frame(const bench_opts *o, const bench_expr *e, uint64_t seq,
                    char *p) {
  memcpy(p, e->text, e->len);
  put_tag(p + e->len, seq);
  size_t n = e->len + BENCH_TAG_LEN;
  if (o->transport == CALC_NET_TCP) p[n++] = '\n';
  return n;
}


/* ---- checking replies ------------------------------------------------- */

static void show_wrong(bench_worker *w, const bench_expr *e, const char *p,
                       size_t n, const char *why) {
  if (w->shown_wrong >= BENCH_SHOW_WRONG) return;
  w->shown_wrong++;
  pthread_mutex_lock(&bench_print_lock);
  fprintf(stderr, "calc-bench: wrong reply (%s) to '%s': got '%.*s', "
          "expected '%s #<tag>'\n", why, e ? e->text : "?", (int)(n > 200 ? 200 : n),
          p, e ? e->expect : "?");
  pthread_mutex_unlock(&bench_print_lock);
}

/* The tag of reply p[0..n), or -1. */
static int64_t reply_tag(const char *p, size_t n) {
  if (n < BENCH_TAG_LEN || p[n - BENCH_TAG_LEN] != ' ' ||
      p[n - BENCH_TAG_LEN + 1] != '#')
    return -1;
  uint32_t t = 0;
  for (size_t i = n - 9; i < n; i++) {
    if (p[i] < '0' || p[i] > '9') return -1;
    t = t * 10 + (uint32_t)(p[i] - '0');
  }
  if (t < BENCH_TAG_BASE) return -1;
  return t - BENCH_TAG_BASE;
}

/* Account for the reply to slot s. */
static void complete(bench_worker *w, bench_conn *c, bench_slot *s,
                     const char *p, size_t n, uint64_t now) {
  const bench_expr *e = &w->o->exprs[s->expr];
  w->n.replies++;
  if (n >= 4 && memcmp(p, "ERR ", 4) == 0) w->n.err_replies++;
  size_t body = n >= BENCH_TAG_LEN ? n - BENCH_TAG_LEN : 0;
  if (n == e->expect_len + BENCH_TAG_LEN &&
      memcmp(p, e->expect, e->expect_len) == 0) {
    w->n.ok++;
  } else {
    w->n.wrong++;
    show_wrong(w, e, p, n, body == e->expect_len ? "different text"
                                                  : "different length");
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
  return !c->dead && c->inflight < w->o->depth &&
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
      w->iov[k].iov_len = frame(w->o, &w->o->exprs[s->expr], s->seq, buf);
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
    size_t need = CALC_MAX_REQUEST_LEN + BENCH_TAG_LEN + 1;
    if (c->out_len + need > c->out_cap) {
      if (c->out_off > 0) {
        memmove(c->out, c->out + c->out_off, c->out_len - c->out_off);
        c->out_len -= c->out_off;
        c->out_off = 0;
      }
      if (c->out_len + need > c->out_cap) break;
    }
    bench_slot *s = take_slot(w, c, now, start);
    c->out_len += frame(w->o, &w->o->exprs[s->expr], s->seq,
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
    uint64_t now = now_ns();
    for (int k = 0; k < r; k++) {
      const char *p = w->iov[k].iov_base;
      size_t n = w->mm[k].msg_len;
      bench_slot *s = slot_for(c, reply_tag(p, n));
      if (!s) {
        if (reply_tag(p, n) < 0) {
          w->n.wrong++;
          show_wrong(w, NULL, p, n, "no tag");
        } else {
          w->n.late++; /* after its loss timeout, or a duplicate */
        }
        continue;
      }
      complete(w, c, s, p, n, now);
    }
    advance_oldest(c);
    if (r < BENCH_BATCH) return;
  }
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
    uint64_t now = now_ns();
    size_t at = 0;
    for (;;) {
      char *lf = memchr(c->in + at, '\n', c->in_len - at);
      if (!lf) break;
      size_t n = calc_strip_eol(c->in + at, (size_t)(lf - c->in) - at + 1);
      const char *p = c->in + at;
      at = (size_t)(lf - c->in) + 1;
      if (c->seq_oldest == c->seq_next) {
        w->n.wrong++;
        show_wrong(w, NULL, p, n, "nothing was asked");
        continue;
      }
      bench_slot *s = &c->ring[c->seq_oldest & c->ring_mask];
      int64_t t = reply_tag(p, n);
      if (t < 0 || (uint64_t)t != s->seq % BENCH_TAG_SPAN) {
        w->n.wrong++;
        show_wrong(w, &w->o->exprs[s->expr], p, n, "tag out of order");
        s->state = SLOT_FREE; /* in order: this was its reply, mangled */
        c->inflight--;
        w->n.replies++;
      } else {
        complete(w, c, s, p, n, now);
      }
      c->seq_oldest++;
    }
    memmove(c->in, c->in + at, c->in_len - at);
    c->in_len -= at;
    if (c->in_len == c->in_cap) {
      kill_conn(w, c, "a reply line longer than any calc reply");
      return;
    }
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
    if (!c->out || !c->in) return -1;
  }
  unsigned ring = 1;
  while (ring < 4 * o->depth) ring <<= 1;
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

static void *worker_main(void *arg) {
  bench_worker *w = arg;
  const bench_opts *o = w->o;
  int udp = o->transport == CALC_NET_UDP;
  uint64_t drain = (uint64_t)o->timeout_ms * 1000000ull;
  uint64_t next_scan = w->t_start + BENCH_SCAN_NS;
  struct epoll_event ev[64];
  for (;;) {
    uint64_t now = now_ns();
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
    if (sending && w->rate > 0) {
      uint64_t due = w->t_start + (uint64_t)((double)w->n.sent * 1e9 / w->rate);
      if (due < wake) wake = due;
    }
    if (sending && w->t_stop_send < wake) wake = w->t_stop_send;
    int tmo = wake > now ? (int)((wake - now + 999999) / 1000000) : 0;
    if (sending && w->rate > 0 && wake - now < 1000000) tmo = 0; /* < 1 ms */
    int n = epoll_wait(w->ep, ev, 64, tmo);
    for (int i = 0; i < n; i++) {
      bench_conn *c = ev[i].data.ptr;
      if (c->dead) continue;
      if (ev[i].events & (EPOLLIN | EPOLLERR | EPOLLHUP))
        udp ? read_udp(w, c) : read_tcp(w, c);
      if (!udp && !c->dead && (ev[i].events & EPOLLOUT)) flush_tcp(w, c);
    }
    now = now_ns();
    if (udp && now >= next_scan) {
      for (unsigned i = 0; i < w->nconns; i++) scan_lost(w, &w->conns[i], now);
      next_scan = now + BENCH_SCAN_NS;
    }
  }
  w->t_end = now_ns();
  publish(w);
  atomic_store(&w->finished, 1);
  return NULL;
}

/* ---- options ---------------------------------------------------------- */

static void usage(FILE *f) {
  fprintf(f,
    "usage: calc-bench [options]\n"
    "Load generator for calcd: keeps requests in flight, checks every reply,\n"
    "reports requests per second and latency percentiles.\n"
    "  --tcp | --udp          transport (default tcp)\n"
    "  -s, --server H:P       server (default 127.0.0.1:%d; IPv6 [::1]:%d)\n"
    "  -c, --connections N    connections (UDP: sockets) (default %d)\n"
    "  -d, --depth N          requests in flight per connection (default %d)\n"
    "  -D, --duration S       send for S seconds (default %g)\n"
    "  -n, --requests N       send N requests in all, then stop\n"
    "  -e, --expr E           an expression to send (repeat for a mix)\n"
    "      --expect R         the reply expected for the --expr (default:\n"
    "                         computed by the core)\n"
    "  -f, --file F           expressions, one a line; 'EXPR<TAB>REPLY' gives\n"
    "                         the expected reply; blank and '#' lines skipped\n"
    "      --role R           compute expected replies as a server of role R\n"
    "                         (all, addsub, muldiv; default all)\n"
    "  -R, --rate R           target R requests/s in all (default: unpaced);\n"
    "                         latency then counts from the scheduled time\n"
    "  -T, --threads N        worker threads (default 1)\n"
    "  -t, --timeout MS       UDP: a request unanswered MS ms is lost; TCP:\n"
    "                         wait at most MS ms for the last replies (%d)\n"
    "      --json             print the report as one JSON object\n"
    "  -q, --quiet            no progress line\n"
    "  -h, --help, -V, --version\n"
    "Without --expr or --file a built-in mix of %zu expressions is sent.\n"
    "A progress line is shown each second when stderr is a terminal.\n"
    "Exit status: 0 no wrong reply, 1 some reply was wrong, 2 usage,\n"
    "3 network (no server, connection lost).\n",
    CALC_PORT_ALL, CALC_PORT_ALL, BENCH_DEFAULT_CONN, BENCH_DEFAULT_DEPTH,
    BENCH_DEFAULT_SECONDS, BENCH_DEFAULT_TIMEOUT_MS,
    sizeof bench_default_mix / sizeof *bench_default_mix);
}

static int add_expr(bench_opts *o, const char *text, size_t len,
                    const char *expect, size_t elen) {
  /* the length limit counts the tag */
  if (len + BENCH_TAG_LEN > CALC_MAX_REQUEST_LEN || memchr(text, '\n', len)) {
    fprintf(stderr, "calc-bench: expression '%.40s...' is longer than %d "
                    "bytes or has a line break\n", text,
            CALC_MAX_REQUEST_LEN - BENCH_TAG_LEN);
    return -1;
  }
  bench_expr *n = realloc(o->exprs, (o->nexpr + 1) * sizeof *n);
  if (!n) return -1;
  o->exprs = n;
  bench_expr *e = &o->exprs[o->nexpr++];
  e->text = strndup(text, len);
  e->len = len;
  e->expect = expect ? strndup(expect, elen) : NULL;
  e->expect_len = expect ? elen : 0;
  return e->text && (!expect || e->expect) ? 0 : -1;
}

static int load_file(bench_opts *o, const char *path) {
  FILE *f = fopen(path, "r");
  if (!f) {
    fprintf(stderr, "calc-bench: %s: %s\n", path, strerror(errno));
    return -1;
  }
  char *line = NULL;
  size_t cap = 0;
  ssize_t n;
  int r = 0;
  while (r == 0 && (n = getline(&line, &cap, f)) >= 0) {
    size_t len = calc_strip_eol(line, (size_t)n);
    size_t k = 0;
    while (k < len && (line[k] == ' ' || line[k] == '\t')) k++;
    if (k == len || line[k] == '#') continue;
    char *tab = memchr(line, '\t', len);
    if (tab)
      r = add_expr(o, line, (size_t)(tab - line), tab + 1,
                   len - (size_t)(tab - line) - 1);
    else
      r = add_expr(o, line, len, NULL, 0);
  }
  free(line);
  fclose(f);
  if (r == 0 && o->nexpr == 0) {
    fprintf(stderr, "calc-bench: %s: no expressions\n", path);
    r = -1;
  }
  return r;
}

/* Expected replies: what a server of the role answers each expression,
 * tagged with 9 digits (the tag length changes the UDP bound). */
static int compute_expected(bench_opts *o) {
  calc_ctx *ctx = calc_ctx_new(NULL);
  char *req = malloc(CALC_MAX_REQUEST_LEN + BENCH_TAG_LEN + 1);
  static char out[CALC_ANSWER_MAX + 1];
  if (!ctx || !req) return -1;
  for (size_t i = 0; i < o->nexpr; i++) {
    bench_expr *e = &o->exprs[i];
    if (e->expect) continue;
    memcpy(req, e->text, e->len);
    put_tag(req + e->len, 0);
    size_t n = e->len + BENCH_TAG_LEN;
    size_t bound = o->transport == CALC_NET_UDP ? calc_udp_bound(n) : SIZE_MAX;
    size_t m = calc_answer(ctx, o->role, req, n, bound, out, sizeof out, NULL);
    m = m >= BENCH_TAG_LEN ? m - BENCH_TAG_LEN : 0; /* the tag's " #1000..." */
    e->expect = strndup(out, m);
    e->expect_len = m;
    if (!e->expect) return -1;
  }
  calc_ctx_free(ctx);
  free(req);
  return 0;
}

static int parse_num(const char *s, double lo, double hi, double *v) {
  char *end;
  errno = 0;
  *v = strtod(s, &end);
  return !*s || *end || errno || !(*v >= lo && *v <= hi) ? -1 : 0;
}

static int parse_options(int argc, char **argv, bench_opts *o) {
  enum { OPT_TCP = 256, OPT_UDP, OPT_EXPECT, OPT_ROLE, OPT_JSON };
  static const struct option longopts[] = {
    {"tcp", no_argument, NULL, OPT_TCP},
    {"udp", no_argument, NULL, OPT_UDP},
    {"server", required_argument, NULL, 's'},
    {"connections", required_argument, NULL, 'c'},
    {"depth", required_argument, NULL, 'd'},
    {"duration", required_argument, NULL, 'D'},
    {"requests", required_argument, NULL, 'n'},
    {"expr", required_argument, NULL, 'e'},
    {"expect", required_argument, NULL, OPT_EXPECT},
    {"file", required_argument, NULL, 'f'},
    {"role", required_argument, NULL, OPT_ROLE},
    {"rate", required_argument, NULL, 'R'},
    {"threads", required_argument, NULL, 'T'},
    {"timeout", required_argument, NULL, 't'},
    {"json", no_argument, NULL, OPT_JSON},
    {"quiet", no_argument, NULL, 'q'},
    {"help", no_argument, NULL, 'h'},
    {"version", no_argument, NULL, 'V'},
    {NULL, 0, NULL, 0},
  };
  const char *server = "127.0.0.1", *expect = NULL;
  int nexpr_args = 0, have_file = 0, have_duration = 0;
  double v;
  int ch;
  char err[300];
  o->transport = CALC_NET_TCP;
  o->conns = BENCH_DEFAULT_CONN;
  o->depth = BENCH_DEFAULT_DEPTH;
  o->threads = 1;
  o->seconds = BENCH_DEFAULT_SECONDS;
  o->role = CALC_ROLE_ALL;
  o->timeout_ms = BENCH_DEFAULT_TIMEOUT_MS;
  while ((ch = getopt_long(argc, argv, "s:c:d:D:n:e:f:R:T:t:qhV", longopts,
                           NULL)) != -1) {
    switch (ch) {
    case OPT_TCP: o->transport = CALC_NET_TCP; break;
    case OPT_UDP: o->transport = CALC_NET_UDP; break;
    case 's': server = optarg; break;
    case 'c':
      if (parse_num(optarg, 1, BENCH_MAX_CONN, &v) < 0 || v != floor(v))
        goto bad;
      o->conns = (unsigned)v;
      break;
    case 'd':
      if (parse_num(optarg, 1, BENCH_MAX_DEPTH, &v) < 0 || v != floor(v))
        goto bad;
      o->depth = (unsigned)v;
      break;
    case 'D':
      if (parse_num(optarg, 0.001, 86400, &v) < 0) goto bad;
      o->seconds = v;
      have_duration = 1;
      break;
    case 'n':
      if (parse_num(optarg, 1, 1e15, &v) < 0 || v != floor(v)) goto bad;
      o->requests = (uint64_t)v;
      break;
    case 'e':
      if (add_expr(o, optarg, strlen(optarg), NULL, 0) < 0) return CALC_EXIT_USAGE;
      nexpr_args++;
      break;
    case OPT_EXPECT: expect = optarg; break;
    case 'f':
      if (load_file(o, optarg) < 0) return CALC_EXIT_USAGE;
      have_file = 1;
      break;
    case OPT_ROLE: {
      int r = calc_role_parse(optarg);
      if (r < 0) goto bad;
      o->role = (calc_role)r;
      break;
    }
    case 'R':
      if (parse_num(optarg, 0.001, 1e9, &v) < 0) goto bad;
      o->rate = v;
      break;
    case 'T':
      if (parse_num(optarg, 1, BENCH_MAX_THREADS, &v) < 0 || v != floor(v))
        goto bad;
      o->threads = (unsigned)v;
      break;
    case 't':
      if (parse_num(optarg, 1, 600000, &v) < 0 || v != floor(v)) goto bad;
      o->timeout_ms = (unsigned)v;
      break;
    case OPT_JSON: o->json = 1; break;
    case 'q': o->quiet = 1; break;
    case 'h': usage(stdout); return -1;
    case 'V': printf("calc-bench %s\n", CALC_VERSION); return -1;
    default: usage(stderr); return CALC_EXIT_USAGE;
    }
  }
  if (optind < argc) {
    fprintf(stderr, "calc-bench: unexpected argument '%s'\n", argv[optind]);
    return CALC_EXIT_USAGE;
  }
  if (expect) {
    if (nexpr_args != 1 || have_file) {
      fprintf(stderr, "calc-bench: --expect goes with exactly one --expr\n");
      return CALC_EXIT_USAGE;
    }
    o->exprs[0].expect = strdup(expect);
    o->exprs[0].expect_len = strlen(expect);
  }
  if (o->requests && have_duration) {
    fprintf(stderr, "calc-bench: give --duration or --requests, not both\n");
    return CALC_EXIT_USAGE;
  }
  if (o->nexpr == 0)
    for (size_t i = 0; i < sizeof bench_default_mix / sizeof *bench_default_mix;
         i++)
      if (add_expr(o, bench_default_mix[i], strlen(bench_default_mix[i]), NULL,
                   0) < 0)
        return CALC_EXIT_USAGE;
  if (o->threads > o->conns) o->threads = o->conns;
  if (calc_net_addr_parse(server, CALC_PORT_ALL, &o->server, err, sizeof err) <
      0) {
    fprintf(stderr, "calc-bench: --server %s\n", err);
    return CALC_EXIT_USAGE;
  }
  if (compute_expected(o) < 0) {
    fprintf(stderr, "calc-bench: out of memory\n");
    return CALC_EXIT_USAGE;
  }
  return 0;
bad:
  fprintf(stderr, "calc-bench: bad value '%s' for option -%c\n", optarg,
          ch < 256 ? ch : '-');
  fprintf(stderr, "Try 'calc-bench --help'.\n");
  return CALC_EXIT_USAGE;
}

/* ---- report ----------------------------------------------------------- */

static void fmt_us(char *buf, size_t cap, uint64_t ns) {
  double us = (double)ns / 1000.0;
  if (us < 1000) snprintf(buf, cap, "%.1f us", us);
  else if (us < 1e6) snprintf(buf, cap, "%.2f ms", us / 1000.0);
  else snprintf(buf, cap, "%.2f s", us / 1e6);
}

static const struct {
  const char *name; /* JSON key and label */
  double p;
} bench_pcts[] = {
  {"p50", 50.0}, {"p90", 90.0}, {"p99", 99.0}, {"p99.9", 99.9},
};

static void report(const bench_opts *o, const bench_counts *t,
                   const calc_hist *h, double secs, const char *fatal) {
  double rps = secs > 0 ? (double)t->replies / secs : 0;
  const char *proto = o->transport == CALC_NET_UDP ? "udp" : "tcp";
  if (o->json) {
    printf("{\"transport\":\"%s\",\"server\":\"%s\",\"connections\":%u,"
           "\"depth\":%u,\"threads\":%u,\"expressions\":%zu,"
           "\"rate_target\":%.3f,\"seconds\":%.6f,\"sent\":%llu,"
           "\"replies\":%llu,\"ok\":%llu,\"wrong\":%llu,"
           "\"error_replies\":%llu,\"lost\":%llu,\"late\":%llu,"
           "\"rps\":%.1f,\"latency_us\":{\"min\":%.3f",
           proto, o->server.text, o->conns, o->depth, o->threads, o->nexpr,
           o->rate, secs, (unsigned long long)t->sent,
           (unsigned long long)t->replies, (unsigned long long)t->ok,
           (unsigned long long)t->wrong, (unsigned long long)t->err_replies,
           (unsigned long long)t->lost, (unsigned long long)t->late, rps,
           h->count ? (double)h->min / 1000.0 : 0.0);
    for (size_t i = 0; i < sizeof bench_pcts / sizeof *bench_pcts; i++)
      printf(",\"%s\":%.3f", bench_pcts[i].name,
             (double)calc_hist_percentile(h, bench_pcts[i].p) / 1000.0);
    printf(",\"max\":%.3f,\"mean\":%.3f},\"error\":", (double)h->max / 1000.0,
           h->count ? h->sum / (double)h->count / 1000.0 : 0.0);
    if (fatal) {
      putchar('"');
      for (const char *p = fatal; *p; p++)
        if (*p == '"' || *p == '\\') printf("\\%c", *p);
        else if ((unsigned char)*p >= 0x20) putchar(*p);
      puts("\"}");
    } else {
      puts("null}");
    }
    return;
  }
  printf("calc-bench: %s %s, %u connection%s x depth %u, %u thread%s, "
         "%zu expression%s, %.2f s\n", proto, o->server.text, o->conns,
         o->conns == 1 ? "" : "s", o->depth, o->threads,
         o->threads == 1 ? "" : "s", o->nexpr, o->nexpr == 1 ? "" : "s", secs);
  printf("  requests   sent %llu, replies %llu (ok %llu, wrong %llu), error "
         "replies %llu, lost %llu, late %llu\n",
         (unsigned long long)t->sent, (unsigned long long)t->replies,
         (unsigned long long)t->ok, (unsigned long long)t->wrong,
         (unsigned long long)t->err_replies, (unsigned long long)t->lost,
         (unsigned long long)t->late);
  printf("  throughput %.0f replies/s\n", rps);
  char b[32];
  fmt_us(b, sizeof b, h->count ? h->min : 0);
  printf("  latency    min %s", b);
  for (size_t i = 0; i < sizeof bench_pcts / sizeof *bench_pcts; i++) {
    fmt_us(b, sizeof b, calc_hist_percentile(h, bench_pcts[i].p));
    printf("  %s %s", bench_pcts[i].name, b);
  }
  fmt_us(b, sizeof b, h->max);
  printf("  max %s", b);
  fmt_us(b, sizeof b, h->count ? (uint64_t)(h->sum / (double)h->count) : 0);
  printf("  mean %s\n", b);
}

static void free_workers(bench_opts *o, bench_worker *ws) {
  for (unsigned t = 0; t < o->threads; t++) {
    bench_worker *w = &ws[t];
    for (unsigned j = 0; j < w->nconns; j++) {
      bench_conn *c = &w->conns[j];
      if (c->fd >= 0) close(c->fd);
      free(c->ring);
      free(c->out);
      free(c->in);
    }
    if (w->ep >= 0) close(w->ep);
    free(w->conns);
    free(w->mm);
    free(w->iov);
    free(w->bufs);
  }
  free(ws);
  for (size_t i = 0; i < o->nexpr; i++) {
    free(o->exprs[i].text);
    free(o->exprs[i].expect);
  }
  free(o->exprs);
}

/* Workers with their buffers and connections (a connection in turn to
 * each).  Returns 0, or -1 (said on stderr). */
static int setup_workers(const bench_opts *o, bench_worker *ws,
                         const struct sockaddr_storage *ss, unsigned sslen) {
  for (unsigned t = 0; t < o->threads; t++) ws[t].ep = -1;
  for (unsigned t = 0; t < o->threads; t++) {
    bench_worker *w = &ws[t];
    w->o = o;
    w->index = t;
    calc_hist_init(&w->hist);
    w->ep = epoll_create1(EPOLL_CLOEXEC);
    w->bufsize = CALC_ANSWER_MAX + 64; /* > a request, too */
    w->mm = calloc(BENCH_BATCH, sizeof *w->mm);
    w->iov = calloc(BENCH_BATCH, sizeof *w->iov);
    w->bufs = malloc(BENCH_BATCH * w->bufsize);
    w->conns = calloc(o->conns / o->threads + 1, sizeof *w->conns);
    if (w->ep < 0 || !w->mm || !w->iov || !w->bufs || !w->conns) {
      fprintf(stderr, "calc-bench: out of memory\n");
      return -1;
    }
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

int main(int argc, char **argv) {
  static bench_opts o;
  int r = parse_options(argc, argv, &o);
  if (r) return r < 0 ? CALC_EXIT_OK : r;

  struct sockaddr_storage ss;
  unsigned sslen;
  char err[300];
  int type = o.transport == CALC_NET_UDP ? SOCK_DGRAM : SOCK_STREAM;
  if (calc_net_resolve(&o.server, type, &ss, &sslen, err, sizeof err) < 0) {
    fprintf(stderr, "calc-bench: %s\n", err);
    return CALC_EXIT_NET;
  }

  bench_worker *ws = calloc(o.threads, sizeof *ws);
  if (!ws) return CALC_EXIT_NET;
  if (setup_workers(&o, ws, &ss, sslen) < 0) {
    free_workers(&o, ws);
    return CALC_EXIT_NET;
  }
  uint64_t t0 = now_ns();
  for (unsigned t = 0; t < o.threads; t++) {
    ws[t].t_start = t0;
    ws[t].t_stop_send =
        o.requests ? UINT64_MAX : t0 + (uint64_t)(o.seconds * 1e9);
    if (pthread_create(&ws[t].thread, NULL, worker_main, &ws[t]) != 0) {
      fprintf(stderr, "calc-bench: cannot start a thread\n");
      return CALC_EXIT_NET;
    }
  }

  /* Progress each second on a terminal, until every worker is done. */
  int progress = !o.quiet && isatty(STDERR_FILENO);
  uint64_t last_replies = 0, last_t = t0;
  for (;;) {
    int done = 1;
    for (unsigned t = 0; t < o.threads; t++) done &= atomic_load(&ws[t].finished);
    if (done) break;
    struct timespec ts = {0, 50000000};
    nanosleep(&ts, NULL);
    uint64_t now = now_ns();
    if (!progress || now - last_t < 1000000000ull) continue;
    uint64_t sent = 0, rep = 0, wrong = 0, lost = 0;
    for (unsigned t = 0; t < o.threads; t++) {
      sent += atomic_load_explicit(&ws[t].pub_sent, memory_order_relaxed);
      rep += atomic_load_explicit(&ws[t].pub_replies, memory_order_relaxed);
      wrong += atomic_load_explicit(&ws[t].pub_wrong, memory_order_relaxed);
      lost += atomic_load_explicit(&ws[t].pub_lost, memory_order_relaxed);
    }
    fprintf(stderr, "\r[%6.1f s] sent %llu  replies %llu  %.0f replies/s  "
            "wrong %llu  lost %llu   ", (double)(now - t0) / 1e9,
            (unsigned long long)sent, (unsigned long long)rep,
            (double)(rep - last_replies) * 1e9 / (double)(now - last_t),
            (unsigned long long)wrong, (unsigned long long)lost);
    last_replies = rep;
    last_t = now;
  }
  if (progress) fputc('\n', stderr);

  bench_counts tot = {0};
  calc_hist *h = malloc(sizeof *h);
  if (!h) return CALC_EXIT_NET;
  calc_hist_init(h);
  uint64_t t_end = t0;
  const char *fatal = NULL;
  int code = CALC_EXIT_OK;
  for (unsigned t = 0; t < o.threads; t++) {
    bench_worker *w = &ws[t];
    pthread_join(w->thread, NULL);
    tot.sent += w->n.sent;
    tot.replies += w->n.replies;
    tot.ok += w->n.ok;
    tot.wrong += w->n.wrong;
    tot.err_replies += w->n.err_replies;
    tot.lost += w->n.lost;
    tot.late += w->n.late;
    calc_hist_merge(h, &w->hist);
    if (w->t_end > t_end) t_end = w->t_end;
    if (w->fatal && !fatal) {
      fatal = w->fatal_msg;
      code = w->fatal;
    }
  }
  report(&o, &tot, h, (double)(t_end - t0) / 1e9, fatal);
  if (fatal) fprintf(stderr, "calc-bench: %s\n", fatal);
  if (tot.wrong) code = CALC_EXIT_ERROR;
  free(h);
  free_workers(&o, ws);
  return code;
}
