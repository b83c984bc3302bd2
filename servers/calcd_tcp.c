/* SPDX-License-Identifier: MIT
 *
 * calcd_tcp.c: TCP connections (docs/PROTOCOL.md, "TCP").
 *
 * A connection owns two fixed buffers, allocated with it at accept: input
 * (CALCD_IN_CAP) and output (CALCD_OUT_CAP).  Each read is followed by
 * answering every complete request in the input and ONE send of all the
 * replies.  A connection is read only while its output can take another
 * reply, so a client that does not read its replies is throttled by TCP
 * instead of growing our memory.
 *
 * Framing: a connection that has never sent LF is "legacy" (the original
 * client sent bare expressions, one per write): its bytes become a request
 * once they have been quiet for CALC_LEGACY_QUIET_MS, or
 * CALC_LEGACY_INCOMPLETE_MS while they parse as an unfinished expression,
 * and its replies carry no newline.  The first LF switches the connection to
 * line mode for good.
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "calcd.h"
#include "calcd_proxy.h"

enum {
  C_LINE = 1u << 0,     /* has sent LF: line mode */
  C_EOF = 1u << 1,      /* nothing more to read (client EOF, or stop) */
  C_CLOSING = 1u << 2,  /* a closing error was queued: flush, then drain */
  C_DRAINING = 1u << 3, /* write side shut: discard input until EOF */
  C_DUE = 1u << 4,      /* legacy bytes form a request: answer when room */
  C_STOPPING = 1u << 5, /* server stopping: read only stop_budget bytes */
  C_REJECT = 1u << 6,   /* refused at the connection limit (no buffers) */
  C_DEAD = 1u << 7,
};

typedef struct calcd_conn {
  calcd_io io;          /* first: epoll_data.ptr points here */
  calcd_timer life;     /* in CALCD_TQ_IDLE or CALCD_TQ_DRAIN */
  calcd_timer legacy;   /* in CALCD_TQ_QUIET or CALCD_TQ_INCOMPLETE; before
                           the PROXY header, in CALCD_TQ_PROXY */
  unsigned flags;
  calcd_proxy_mode proxy; /* the PROXY header phase; OFF once it is over */
  uint64_t last_in;     /* ms: last byte of a legacy request */
  size_t stop_budget;   /* stopping: bytes the kernel held at the stop */
  size_t in_len, out_off, out_len;
  struct calcd_conn *dead_next;
  struct sockaddr_storage peer; /* for -v; the client a PROXY header names */
  char *in, *out;       /* NULL for refused connections */
} conn;

#define CONN_OF(ptr, member) \
  ((conn *)(void *)((char *)(ptr) - offsetof(conn, member)))

static void pump(calcd *s, conn *c, int got);

static void kill_conn(calcd *s, conn *c) {
  if (c->flags & C_DEAD) return;
  calcd_timer_stop(&c->life);
  calcd_timer_stop(&c->legacy);
  calcd_io_close(s, &c->io);
  if (c->flags & C_REJECT)
    s->nreject--;
  else
    s->nconn--;
  c->flags |= C_DEAD;
  c->dead_next = s->dead;
  s->dead = c;
}

void calcd_tcp_reap(calcd *s) {
  while (s->dead) {
    conn *c = s->dead;
    s->dead = c->dead_next;
    free(c);
  }
}

/* Read and drop what the client sends; close at its EOF or error. */
static void discard(calcd *s, conn *c) {
  char scratch[4096];
  for (int i = 0; i < 16; i++) {
    ssize_t n = recv(c->io.fd, scratch, sizeof scratch, MSG_DONTWAIT);
    if (n > 0) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
    if (n < 0 && errno == EINTR) continue;
    kill_conn(s, c);
    return;
  }
}

/* After a closing error (too-long, busy): send FIN, then wait up to
 * CALCD_DRAIN_MS for the client's EOF while discarding its bytes, so that
 * closing with unread input cannot reset the connection and destroy the
 * error reply before the client reads it. */
static void start_drain(calcd *s, conn *c) {
  if (s->stopping) {
    discard(s, c);
    kill_conn(s, c);
    return;
  }
  shutdown(c->io.fd, SHUT_WR);
  c->flags |= C_DRAINING;
  calcd_timer_stop(&c->legacy);
  calcd_timer_arm(s, CALCD_TQ_DRAIN, &c->life, s->now);
  calcd_io_set(s, &c->io, EPOLLIN);
}

/* Room for one more reply (and its newline) in the output?  Compacts. */
static int out_room(conn *c) {
  if (c->out_off == c->out_len) c->out_off = c->out_len = 0;
  if (CALCD_OUT_CAP - c->out_len >= CALC_ANSWER_MAX) return 1;
  if (c->out_off == 0) return 0;
  memmove(c->out, c->out + c->out_off, c->out_len - c->out_off);
  c->out_len -= c->out_off;
  c->out_off = 0;
  return CALCD_OUT_CAP - c->out_len >= CALC_ANSWER_MAX;
}

/* Queue the reply to the request req[0..n) (framing removed). */
static void answer(calcd *s, conn *c, const char *req, size_t n) {
  char *o = c->out + c->out_len;
  size_t m = calc_answer(s->ctx, s->o.role, req, n, SIZE_MAX, o,
                         CALC_ANSWER_MAX, NULL);
  if (s->o.verbose)
    calcd_log_request(c->flags & C_LINE ? "tcp" : "tcp-legacy",
                      (const struct sockaddr *)&c->peer, req, n, o, m);
  if (c->flags & C_LINE) o[m++] = '\n';
  c->out_len += m;
}

/* Queue the too-long error for the request starting at req (n bytes of it
 * held) and stop serving the connection. */
static void too_long(calcd *s, conn *c, const char *req, size_t n) {
  char *o = c->out + c->out_len;
  size_t m = calcd_too_long(s, o, CALC_ANSWER_MAX);
  if (s->o.verbose)
    calcd_log_request(c->flags & C_LINE ? "tcp" : "tcp-legacy",
                      (const struct sockaddr *)&c->peer, req, n, o, m);
  if (c->flags & C_LINE) o[m++] = '\n';
  c->out_len += m;
  c->in_len = 0;
  c->flags |= C_CLOSING;
  calcd_timer_stop(&c->legacy);
}

/* Answer every complete request in the input, in order, while the output
 * has room.  Returns 1 when it stopped for want of room. */
static int serve(calcd *s, conn *c) {
  size_t max = calc_ctx_limits(s->ctx)->max_len;
  size_t pos = 0;
  int blocked = 0;
  char *lf;
  while (!(c->flags & C_CLOSING) &&
         (lf = memchr(c->in + pos, '\n', c->in_len - pos)) != NULL) {
    if (!out_room(c)) {
      blocked = 1;
      break;
    }
    if (!(c->flags & C_LINE)) { /* the first LF: line mode for good */
      c->flags = (c->flags | C_LINE) & ~C_DUE;
      calcd_timer_stop(&c->legacy);
    }
    const char *line = c->in + pos;
    size_t len = (size_t)(lf - line);
    size_t n = calc_strip_eol(line, len);
    pos += len + 1;
    if (len > CALCD_LINE_MAX || n > max) {
      too_long(s, c, line, len);
      return 0;
    }
    if (n > 0) answer(s, c, line, n); /* an empty line gets no reply */
  }
  if (pos > 0) {
    memmove(c->in, c->in + pos, c->in_len - pos);
    c->in_len -= pos;
  }
  if (blocked || (c->flags & C_CLOSING) || c->in_len == 0) return blocked;

  /* What is left has no LF. */
  if (c->in_len > CALCD_LINE_MAX) {
    if (!out_room(c)) return 1;
    too_long(s, c, c->in, c->in_len);
    return 0;
  }
  int final = (c->flags & C_EOF) != 0;
  if (c->flags & C_LINE) {
    if (!final) return 0;
    if (c->flags & C_STOPPING) { /* a line not fully received */
      c->in_len = 0;
      return 0;
    }
  } else if (!final && !(c->flags & C_DUE)) {
    return 0;
  }
  /* A legacy request, or the unterminated last line before the client's
   * EOF. */
  if (!out_room(c)) return 1;
  size_t n = calc_strip_eol(c->in, c->in_len);
  if (n > max) {
    too_long(s, c, c->in, n);
    return 0;
  }
  if (n > 0) answer(s, c, c->in, n);
  c->in_len = 0;
  c->flags &= ~C_DUE;
  calcd_timer_stop(&c->legacy);
  return 0;
}

/* Send all queued replies at once.  Returns -1 when the connection died. */
static int flush(calcd *s, conn *c) {
  while (c->out_off < c->out_len) {
    ssize_t n = send(c->io.fd, c->out + c->out_off, c->out_len - c->out_off,
                     MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n > 0) {
      c->out_off += (size_t)n;
      if (!(c->flags & C_DRAINING))
        calcd_timer_arm(s, CALCD_TQ_IDLE, &c->life, s->now);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return 0;
    kill_conn(s, c); /* EPIPE, ECONNRESET: the client is gone */
    return -1;
  }
  return 0;
}

static int can_read(conn *c) {
  return !(c->flags & (C_EOF | C_CLOSING)) && c->in_len < CALCD_IN_CAP &&
         out_room(c);
}

/* One recv.  Returns the bytes read, or -1 when the connection died. */
static int read_some(calcd *s, conn *c) {
  size_t room = CALCD_IN_CAP - c->in_len;
  if ((c->flags & C_STOPPING) && room > c->stop_budget) room = c->stop_budget;
  ssize_t n = recv(c->io.fd, c->in + c->in_len, room, 0);
  if (n > 0) {
    c->in_len += (size_t)n;
    calcd_timer_arm(s, CALCD_TQ_IDLE, &c->life, s->now);
    if (c->flags & C_STOPPING) {
      c->stop_budget -= (size_t)n;
      if (c->stop_budget == 0) c->flags |= C_EOF;
    }
    return (int)n;
  }
  if (n == 0) {
    c->flags |= C_EOF;
    return 0;
  }
  if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) return 0;
  kill_conn(s, c); /* ECONNRESET and friends: only this client is hurt */
  return -1;
}

/* Answer, send, and set what the connection waits for next.  got: bytes
 * just read (restarts a legacy request's quiet time). */
/* The PROXY header phase (calcd_proxy.h): 1 when it is over and the bytes
 * after the header are requests, 0 to wait, -1 when the connection was
 * closed. */
static int proxy_phase(calcd *s, conn *c, calcd_proxy_final final) {
  size_t used;
  if ((c->flags & C_EOF) && final == CALCD_PROXY_MORE) final = CALCD_PROXY_EOF;
  int r = calcd_proxy_take(c->proxy, c->in, c->in_len, final, s->o.verbose,
                           s->stopping, &c->peer, &used);
  if (r < 0) {
    kill_conn(s, c);
    return -1;
  }
  if (r == 0) {
    calcd_io_set(s, &c->io, c->in_len < CALCD_IN_CAP ? EPOLLIN : 0);
    return 0;
  }
  memmove(c->in, c->in + used, c->in_len - used);
  c->in_len -= used;
  c->proxy = CALCD_PROXY_OFF;
  calcd_timer_stop(&c->legacy);
  return 1;
}

static void pump(calcd *s, conn *c, int got) {
  if (c->proxy != CALCD_PROXY_OFF) {
    if (proxy_phase(s, c, CALCD_PROXY_MORE) <= 0) return;
    got = c->in_len > 0; /* what followed the header was just read */
  }
  int blocked = serve(s, c);
  if (got > 0 && !(c->flags & (C_LINE | C_EOF | C_CLOSING)) && c->in_len) {
    c->last_in = s->now;
    c->flags &= ~C_DUE;
    calcd_timer_arm(s, CALCD_TQ_QUIET, &c->legacy, s->now);
  }
  if (flush(s, c) < 0) return;
  /* Requests left for want of room, and sending made room: go on (the
   * input may be full, so no read would come to resume them). */
  while (blocked && out_room(c)) {
    blocked = serve(s, c);
    if (flush(s, c) < 0) return;
  }
  if (c->out_off == c->out_len) {
    if (c->flags & C_CLOSING) {
      start_drain(s, c);
      return;
    }
    if ((c->flags & C_EOF) && c->in_len == 0) {
      discard(s, c);
      kill_conn(s, c);
      return;
    }
  }
  uint32_t ev = 0;
  if (can_read(c)) ev |= EPOLLIN;
  if (c->out_off < c->out_len) ev |= EPOLLOUT;
  calcd_io_set(s, &c->io, ev);
}

static void conn_event(calcd *s, calcd_io *io, uint32_t events) {
  conn *c = (conn *)io;
  if (c->flags & C_DRAINING) {
    discard(s, c);
    return;
  }
  if (events & EPOLLERR) { /* reset by the peer */
    kill_conn(s, c);
    return;
  }
  int got = 0;
  if ((events & (EPOLLIN | EPOLLHUP)) && can_read(c)) {
    got = read_some(s, c);
    if (got < 0) return;
  }
  pump(s, c, got);
}

/* Legacy bytes quiet for CALC_LEGACY_QUIET_MS: a request, unless they are
 * an unfinished expression (the parser ran out of input: its error is at
 * the end), which may wait until CALC_LEGACY_INCOMPLETE_MS. */
static void quiet_expired(calcd *s, calcd_timer *t) {
  conn *c = CONN_OF(t, legacy);
  calc_request rq;
  calc_request_split(c->in, calc_strip_eol(c->in, c->in_len), &rq);
  if (calc_parse(s->ctx, rq.expr, rq.expr_len) == CALC_E_SYNTAX &&
      calc_errpos(s->ctx) == rq.expr_len + 1 &&
      s->now < c->last_in + CALC_LEGACY_INCOMPLETE_MS) {
    calcd_timer_arm(s, CALCD_TQ_INCOMPLETE, &c->legacy, c->last_in);
    return;
  }
  c->flags |= C_DUE;
  pump(s, c, 0);
}

static void incomplete_expired(calcd *s, calcd_timer *t) {
  conn *c = CONN_OF(t, legacy);
  c->flags |= C_DUE;
  pump(s, c, 0);
}

/* No traffic for --idle-timeout: close without a word. */
static void idle_expired(calcd *s, calcd_timer *t) {
  kill_conn(s, CONN_OF(t, life));
}

static void drain_expired(calcd *s, calcd_timer *t) {
  kill_conn(s, CONN_OF(t, life));
}

static void proxy_expired(calcd *s, calcd_timer *t) {
  conn *c = CONN_OF(t, legacy);
  if (proxy_phase(s, c, CALCD_PROXY_TIMEOUT) > 0) pump(s, c, c->in_len > 0);
}

void calcd_tcp_init(calcd *s) {
  s->spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
  static const struct {
    int q;
    calcd_timer_fn *fn;
  } tqs[] = {
    {CALCD_TQ_IDLE, idle_expired},
    {CALCD_TQ_DRAIN, drain_expired},
    {CALCD_TQ_QUIET, quiet_expired},
    {CALCD_TQ_INCOMPLETE, incomplete_expired},
    {CALCD_TQ_PROXY, proxy_expired},
  };
  const uint64_t period[CALCD_TQ_COUNT_] = {
    [CALCD_TQ_IDLE] = s->o.idle_ms,
    [CALCD_TQ_DRAIN] = CALCD_DRAIN_MS,
    [CALCD_TQ_QUIET] = CALC_LEGACY_QUIET_MS,
    [CALCD_TQ_INCOMPLETE] = CALC_LEGACY_INCOMPLETE_MS,
    [CALCD_TQ_PROXY] = CALCD_PROXY_WAIT_MS,
  };
  for (size_t i = 0; i < sizeof tqs / sizeof tqs[0]; i++) {
    s->tq[tqs[i].q].fn = tqs[i].fn;
    s->tq[tqs[i].q].period = period[tqs[i].q];
  }
}

/* At the connection limit: say so, then close (after the client's EOF, or
 * at once when too many refusals are already waiting). */
static void reject(calcd *s, int fd, const struct sockaddr_storage *peer) {
  char msg[128];
  size_t m = calcd_busy(s, msg, sizeof msg - 1);
  msg[m++] = '\n';
  (void)send(fd, msg, m, MSG_NOSIGNAL | MSG_DONTWAIT);
  if (s->o.verbose)
    calcd_log_request("tcp", (const struct sockaddr *)peer, "", 0, msg,
                      m - 1);
  conn *c = s->nreject < CALCD_REJECT_MAX ? calloc(1, sizeof *c) : NULL;
  if (!c) {
    close(fd);
    return;
  }
  c->io.fd = fd;
  c->io.fn = conn_event;
  c->flags = C_REJECT | C_DRAINING;
  shutdown(fd, SHUT_WR);
  if (calcd_io_add(s, &c->io, EPOLLIN) < 0) {
    close(fd);
    free(c);
    return;
  }
  s->nreject++;
  calcd_timer_arm(s, CALCD_TQ_DRAIN, &c->life, s->now);
}

static void serve_new(calcd *s, int fd, const struct sockaddr_storage *peer) {
  conn *c = malloc(sizeof *c + CALCD_IN_CAP + CALCD_OUT_CAP);
  if (!c) {
    calcd_log("out of memory for a connection");
    close(fd);
    return;
  }
  memset(c, 0, sizeof *c);
  c->in = (char *)(c + 1);
  c->out = c->in + CALCD_IN_CAP;
  c->peer = *peer;
  c->io.fd = fd;
  c->io.fn = conn_event;
  int one = 1; /* replies are already batched per read */
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  if (calcd_io_add(s, &c->io, EPOLLIN) < 0) {
    close(fd);
    free(c);
    return;
  }
  s->nconn++;
  calcd_timer_arm(s, CALCD_TQ_IDLE, &c->life, s->now);
  c->proxy = calcd_proxy_mode_for(&s->o.proxy_from, peer);
  if (c->proxy != CALCD_PROXY_OFF)
    calcd_timer_arm(s, CALCD_TQ_PROXY, &c->legacy, s->now);
}

/* Out of descriptors: the pending connection would keep the (level-
 * triggered) listener ready forever.  Give up the spare descriptor to
 * accept it and close it at once, then take the spare back. */
static void shed(calcd *s, int lfd) {
  if (s->spare_fd < 0) return;
  close(s->spare_fd);
  int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
  if (fd >= 0) close(fd);
  s->spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
}

void calcd_tcp_accept(calcd *s, calcd_io *io, uint32_t events) {
  (void)events;
  for (int i = 0; i < CALCD_ACCEPT_ROUNDS; i++) {
    struct sockaddr_storage peer;
    socklen_t len = sizeof peer;
    int fd = accept4(io->fd, (struct sockaddr *)&peer, &len,
                     SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EINTR || errno == ECONNABORTED || errno == EPROTO)
        continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) return;
      calcd_log("accept: %s", strerror(errno));
      if (errno == EMFILE || errno == ENFILE) shed(s, io->fd);
      return;
    }
    if (s->nconn >= s->o.max_conn)
      reject(s, fd, &peer);
    else
      serve_new(s, fd, &peer);
  }
}

/* Apply fn to every connection in queue q.  fn may close the connection
 * or re-arm it to the tail (where it is visited again: fn must be
 * idempotent); it never touches another connection. */
static void each_in(calcd *s, int q, void (*fn)(calcd *, conn *)) {
  calcd_timer *h = &s->tq[q].head;
  for (calcd_timer *t = h->next, *next; t != h; t = next) {
    next = t->next;
    fn(s, CONN_OF(t, life));
  }
}

/* Answer what the kernel already holds for this connection (FIONREAD at
 * the stop), then close. */
static void stop_conn(calcd *s, conn *c) {
  if (c->flags & (C_STOPPING | C_DEAD)) return;
  int avail = 0;
  if (ioctl(c->io.fd, FIONREAD, &avail) < 0 || avail < 0) avail = 0;
  c->flags |= C_STOPPING;
  c->stop_budget = (size_t)avail;
  if (avail == 0) c->flags |= C_EOF;
  pump(s, c, 0);
}

void calcd_tcp_stop(calcd *s) {
  for (int i = 0; i < s->nlisten; i++) calcd_io_close(s, &s->listen[i]);
  each_in(s, CALCD_TQ_DRAIN, kill_conn);
  each_in(s, CALCD_TQ_IDLE, stop_conn);
}

void calcd_tcp_close_all(calcd *s) {
  each_in(s, CALCD_TQ_DRAIN, kill_conn);
  each_in(s, CALCD_TQ_IDLE, kill_conn);
}
