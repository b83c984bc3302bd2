/* SPDX-License-Identifier: MIT
 *
 * calcd.h: what the files of calcd share (internal to servers/).
 *
 *   calcd.c       main: options, sockets, signals, logging
 *   calcd_loop.c  the epoll loop and its timer queues
 *   calcd_udp.c   UDP: recvmmsg/sendmmsg batches
 *   calcd_tcp.c   TCP: connections, line and legacy framing
 *
 * One thread, one calc_ctx: every request is answered by calc_answer().
 * docs/PROTOCOL.md is the specification of what a client sees.
 */
#ifndef CALCD_H
#define CALCD_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "calc_exit.h"
#include "calc_proto.h"

/* Limits and buffers (docs/PROTOCOL.md, "Limits").  A request (framing
 * removed) is at most calc_ctx_limits()->max_len bytes, CALC_MAX_REQUEST_LEN
 * by default; everything else is sized from that. */
#define CALCD_LINE_MAX (CALC_MAX_REQUEST_LEN + 1) /* bytes before LF: a
                                                     request and its CR */
#define CALCD_IN_CAP   (2 * (CALCD_LINE_MAX + 1)) /* per-connection input:
                                                     a whole line always fits
                                                     beside a partial one */
#define CALCD_OUT_CAP  (16 * 1024)  /* per-connection output: when it cannot
                                       take one more reply, reading stops */
#define CALCD_UDP_BATCH 64          /* datagrams per recvmmsg/sendmmsg */
#define CALCD_UDP_ROUNDS 8          /* batches per readiness event */
#define CALCD_UDP_BUF  (CALC_MAX_REQUEST_LEN + 2) /* request and CR LF; a
                                       longer datagram is truncated, which
                                       recvmmsg flags (MSG_TRUNC) */
#define CALCD_ACCEPT_ROUNDS 64      /* accepts per readiness event */
#define CALCD_REJECT_MAX 64         /* refused (busy) connections waiting
                                       for their client's EOF at once */
#define CALCD_DRAIN_MS 1000         /* after a closing error: wait this long
                                       for the client's EOF, then close */
#define CALCD_STOP_MS  900          /* SIGTERM/SIGINT: flush deadline */
#define CALCD_MAX_BINDS 16          /* --bind addresses */
#define CALCD_DEFAULT_MAX_CONN 4096
#define CALCD_DEFAULT_IDLE_MS  60000
#define CALCD_LOG_EXPR_MAX 80       /* -v: request bytes shown per line */

_Static_assert(CALCD_OUT_CAP >= 2 * (CALC_ANSWER_MAX + 1),
               "output buffer must hold two replies");
_Static_assert(CALCD_IN_CAP > 2 * CALCD_LINE_MAX, "input buffer too small");

/* Exit codes (calcd --help, docs/PROTOCOL.md): lib's table. */
enum {
  CALCD_EXIT_OK = CALC_EXIT_OK,
  CALCD_EXIT_FAIL = CALC_EXIT_ERROR,
  CALCD_EXIT_USAGE = CALC_EXIT_USAGE
};

/* Something in the epoll set.  epoll_data.ptr points at it; fn handles its
 * events.  Embedded first in each listener, socket and connection. */
typedef struct calcd calcd;
typedef struct calcd_io calcd_io;
typedef void calcd_io_fn(calcd *s, calcd_io *io, uint32_t events);
struct calcd_io {
  int fd;
  uint32_t events;  /* the current epoll interest */
  calcd_io_fn *fn;
};

/* A deadline in a timer queue.  Every queue has one fixed period, so
 * arming always appends at the tail and the head is the earliest: O(1)
 * per arm, stop and expiry, for any number of connections. */
typedef struct calcd_timer {
  struct calcd_timer *prev, *next; /* NULL when not armed */
  uint64_t due;                    /* CLOCK_MONOTONIC ms */
} calcd_timer;

typedef void calcd_timer_fn(calcd *s, calcd_timer *t);
typedef struct calcd_tq {
  calcd_timer head; /* sentinel of a circular list */
  uint64_t period;  /* ms */
  calcd_timer_fn *fn;
} calcd_tq;

/* The queues: which timers a connection can have (docs/PROTOCOL.md). */
enum {
  CALCD_TQ_IDLE,       /* no traffic for --idle-timeout */
  CALCD_TQ_DRAIN,      /* closing: waiting for the client's EOF */
  CALCD_TQ_QUIET,      /* legacy: CALC_LEGACY_QUIET_MS after last byte */
  CALCD_TQ_INCOMPLETE, /* legacy: CALC_LEGACY_INCOMPLETE_MS after it */
  CALCD_TQ_COUNT_
};

typedef struct calcd_opts {
  calc_role role;
  int port;           /* -1: the role's port; 0: any free port */
  int verbose;
  unsigned max_conn;
  uint64_t idle_ms;
  int nbind;
  struct sockaddr_storage bind[CALCD_MAX_BINDS];
  socklen_t bind_len[CALCD_MAX_BINDS];
  int bind_default;   /* the loopback pair: a missing ::1 is not fatal */
} calcd_opts;

typedef struct calcd_udp calcd_udp;

struct calcd {
  calcd_opts o;
  calc_ctx *ctx;      /* the one evaluator */
  int ep;             /* epoll fd */
  uint64_t now;       /* ms, updated after every wait */
  calcd_tq tq[CALCD_TQ_COUNT_];
  int stopping;
  uint64_t stop_due;
  unsigned nconn;     /* served connections (<= o.max_conn) */
  unsigned nreject;   /* busy connections lingering */
  int nlisten, nudp;
  calcd_io listen[CALCD_MAX_BINDS];
  calcd_io udp[CALCD_MAX_BINDS];
  calcd_udp *ub;      /* UDP batch buffers */
  struct calcd_conn *dead; /* closed this iteration, freed after it */
  int spare_fd;       /* held open, given up to refuse a connection when
                         out of descriptors (EMFILE) */
};

/* calcd_loop.c */
int calcd_loop_init(calcd *s);
int calcd_io_add(calcd *s, calcd_io *io, uint32_t events);
void calcd_io_set(calcd *s, calcd_io *io, uint32_t events);
void calcd_io_close(calcd *s, calcd_io *io);
void calcd_timer_arm(calcd *s, int q, calcd_timer *t, uint64_t from);
void calcd_timer_stop(calcd_timer *t);
int calcd_timer_armed(const calcd_timer *t);
uint64_t calcd_now(void);
/* Runs until stopped and every connection is closed (or CALCD_STOP_MS
 * after the stop).  Returns an exit code. */
int calcd_run(calcd *s, int sigfd);

/* calcd_udp.c */
int calcd_udp_init(calcd *s);
void calcd_udp_event(calcd *s, calcd_io *io, uint32_t events);
void calcd_udp_stop(calcd *s);

/* calcd_tcp.c */
void calcd_tcp_init(calcd *s);
void calcd_tcp_accept(calcd *s, calcd_io *io, uint32_t events);
void calcd_tcp_stop(calcd *s);
void calcd_tcp_close_all(calcd *s);
/* Free the connections closed during this loop iteration (an event for
 * one of them may still be pending in the same epoll batch). */
void calcd_tcp_reap(calcd *s);

/* calcd.c: logging and the framing errors no evaluation produces. */
void calcd_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* -v: one line "<proto> <peer> "<request>" -> "<reply>"". */
void calcd_log_request(const char *proto, const struct sockaddr *peer,
                       const char *req, size_t n, const char *reply,
                       size_t m);
/* "ERR <token>: <message>" for kind e into out (cap bytes); its length. */
size_t calcd_error_reply(calc_err e, char *out, size_t cap, const char *fmt,
                         ...) __attribute__((format(printf, 4, 5)));
/* The reply to a request longer than the limit, and to a refused
 * connection (docs/PROTOCOL.md, "Limits"). */
size_t calcd_too_long(const calcd *s, char *out, size_t cap);
size_t calcd_busy(const calcd *s, char *out, size_t cap);

#endif /* CALCD_H */
