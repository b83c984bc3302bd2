/* SPDX-License-Identifier: MIT
 *
 * calcd.h: what the files of calcd share (internal to servers/).
 *
 *   calcd.c        main: options, sockets, signals
 *   calcd_loop.c   the event loop, a leaf (calcd_loop.h)
 *   calcd_udp.c    UDP: a pool of datagrams served by sender in turn
 *   calcd_tcp.c    TCP: connections, calc_frame framing, their timers
 *   calcd_reply.c  the too-long and busy replies (lib's writers)
 *   calcd_addr.c   connections per client address
 *   calcd_stats.c  counters
 *   calcd_log.c    the log
 *   calcd_proxy.c  the PROXY protocol header (--proxy-protocol)
 *   calcd_workers.c --threads: one calcd per worker thread
 *
 * One calcd is one loop with its own calc_ctx, transports and counters:
 * nothing mutable is file-static, so several can run in one process.
 * Every request is answered by calc_answer().  docs/PROTOCOL.md is the
 * specification of what a client sees.
 */
#ifndef CALCD_H
#define CALCD_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "calc_cidr.h"
#include "calc_exit.h"
#include "calc_proto.h"
#include "calcd_addr.h"
#include "calcd_loop.h"
#include "calcd_stats.h"

/* Limits and buffers (docs/PROTOCOL.md, "Limits").  A request (framing
 * removed) is at most calc_ctx_limits()->max_len bytes, CALC_MAX_REQUEST_LEN
 * by default, and a TCP line CALC_REQUEST_LINE_MAX bytes before its LF
 * (lib's length rule); everything else is sized from that. */
/* per-connection input: a whole line always fits beside a partial one */
#define CALCD_IN_CAP   (2 * (CALC_REQUEST_LINE_MAX + 1))
#define CALCD_OUT_CAP  (16 * 1024)  /* per-connection output: when it cannot
                                       take one more reply, reading stops */
#define CALCD_SNDBUF   (64 * 1024)  /* SO_SNDBUF of a connection (the kernel
                                       doubles it for its bookkeeping): what
                                       the kernel may queue for a client
                                       that does not read */
#define CALCD_UDP_BATCH 64          /* datagrams per recvmmsg/sendmmsg */
#define CALCD_UDP_POOL 256          /* datagrams held per socket, served by
                                       sender in turn (about the most a
                                       default socket queue holds) */
#define CALCD_UDP_READS 4           /* recvmmsg batches per turn, at most */
#define CALCD_UDP_FLOOD (CALCD_UDP_POOL / 4) /* a sender holding more of a
                                       full pool is a flood: its newest are
                                       dropped to let others in (never
                                       while stopping) */
#define CALCD_UDP_STOP_ROUNDS 32    /* stopping: reads still made */
#define CALCD_UDP_BUF  CALC_REQUEST_DATAGRAM_MAX /* request and CR LF; a
                                       longer datagram is truncated, which
                                       recvmmsg flags (MSG_TRUNC) */
#define CALCD_ACCEPT_ROUNDS 64      /* accepts per readiness event */
#define CALCD_REJECT_MAX 64         /* refused (busy) connections waiting
                                       for their client's EOF at once */
#define CALCD_DRAIN_MS 1000         /* after a closing error: wait this long
                                       for the client's EOF, then close */
#define CALCD_STOP_MS  900          /* SIGTERM/SIGINT: the exit deadline */
#define CALCD_STOP_COMPUTE_MS 600   /* ... requests not begun by then are
                                       answered ERR busy, not computed */
#define CALCD_MAX_BINDS 16          /* --bind addresses */
#define CALCD_DEFAULT_MAX_CONN 4096
#define CALCD_PER_ADDR_SHARE 8      /* default --max-conn-per-addr:
                                       --max-conn / this (at least 1) */
#define CALCD_DEFAULT_IDLE_MS  60000
#define CALCD_DEFAULT_REQUEST_MS 10000 /* --request-timeout */

_Static_assert(CALCD_OUT_CAP >= 2 * (CALC_ANSWER_MAX + 1),
               "output buffer must hold two replies");
_Static_assert(CALCD_IN_CAP > 2 * CALC_REQUEST_LINE_MAX,
               "input buffer too small");
_Static_assert(CALCD_STOP_COMPUTE_MS < CALCD_STOP_MS, "stop phases");

/* Exit codes (calcd --help, docs/PROTOCOL.md): lib's table. */
enum {
  CALCD_EXIT_OK = CALC_EXIT_OK,
  CALCD_EXIT_FAIL = CALC_EXIT_ERROR,
  CALCD_EXIT_USAGE = CALC_EXIT_USAGE
};

typedef struct calcd_opts {
  calc_role role;
  int port;           /* -1: the role's port; 0: any free port */
  int verbose;
  unsigned max_conn;
  unsigned max_per_addr; /* 0 until set: max_conn / CALCD_PER_ADDR_SHARE */
  uint64_t idle_ms;
  uint64_t request_ms;
  int nbind;
  struct sockaddr_storage bind[CALCD_MAX_BINDS];
  socklen_t bind_len[CALCD_MAX_BINDS];
  int bind_default;   /* the loopback pair: a missing ::1 is not fatal */
  calc_cidr_list proxy_from; /* --proxy-protocol (n == 0: off) */
  unsigned threads;   /* --threads: workers (calcd_workers.h); 0 = 1 */
} calcd_opts;

typedef struct calcd_conn calcd_conn;
typedef struct calcd_udp calcd_udp;
typedef struct calcd_workers calcd_workers;

/* TCP state of one loop (calcd_tcp.c). */
typedef struct calcd_tcp {
  calcd_conn *conns;  /* every open connection, served or refused */
  calcd_conn *dead;   /* closed this iteration, freed after it */
  unsigned nconn;     /* served connections (<= o->max_conn) */
  unsigned nreject;   /* refused connections lingering */
  int full_logged;    /* the connection limit was logged (until a slot
                         frees) */
  int spare_fd;       /* held open, given up to refuse a connection when
                         out of descriptors (EMFILE) */
  calcd_tq *idle, *drain, *quiet, *incomplete, *request;
  calcd_tq *proxy;    /* --proxy-protocol: a header's deadline */
} calcd_tcp;

typedef struct calcd {
  const calcd_opts *o;
  calc_ctx *ctx;      /* this loop's evaluator */
  calcd_loop loop;
  uint64_t busy_from; /* stopping: from then (ms), answer ERR busy */
  int nlisten, nudp;
  calcd_io listen[CALCD_MAX_BINDS];
  calcd_udp *udp[CALCD_MAX_BINDS];
  calcd_tcp tcp;
  calcd_addrs addrs;
  calcd_stats st;
  calcd_workers *workers; /* the process's workers (calcd_workers.h) */
  unsigned id;            /* this one's number among them, 0 is main's */
} calcd;

#define CALCD_OF(L) ((calcd *)(void *)((char *)(L)-offsetof(calcd, loop)))

/* Stopping and past the compute phase: answer ERR busy instead. */
static inline int calcd_stop_busy(const calcd *s) {
  return s->loop.stopping && s->loop.now >= s->busy_from;
}

/* The bound sockets, one UDP and one TCP per address, before they are
 * given to a loop. */
typedef struct calcd_socks {
  int n;
  int tcp[CALCD_MAX_BINDS], udp[CALCD_MAX_BINDS];
} calcd_socks;

/* calcd.c: one server (a worker): set up, bind (on o->port; 0 picks one
 * and writes it back), serve the sockets, stop (sig 0: not logged),
 * free.  0, or -1 (logged for bind). */
int calcd_init(calcd *s, const calcd_opts *o);
int calcd_bind(calcd_opts *o, calcd_socks *k);
int calcd_serve(calcd *s, calcd_socks *k);
void calcd_stop(calcd *s, int sig);
void calcd_free(calcd *s);

/* calcd_udp.c: serve UDP socket fd (bound) in s. */
int calcd_udp_add(calcd *s, int fd);
void calcd_udp_init(calcd *s);

/* calcd_tcp.c: listening socket fd; the TCP hooks and timers. */
int calcd_tcp_add(calcd *s, int fd);
int calcd_tcp_init(calcd *s);

/* calcd_reply.c: the replies calcd writes itself (not the evaluator's),
 * into out (cap >= CALC_ANSWER_MAX); their lengths. */
size_t calcd_too_long(const calcd *s, char *out, size_t cap);
size_t calcd_busy_conn(const calcd *s, char *out, size_t cap);
size_t calcd_busy_addr(const calcd *s, char *out, size_t cap);
/* The reply to the request req[0..n) when stopping (its tag echoed). */
size_t calcd_busy_stop(const char *req, size_t n, char *out, size_t cap);

#endif /* CALCD_H */
