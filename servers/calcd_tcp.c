/* SPDX-License-Identifier: MIT
 *
 * calcd_tcp.c: TCP connections (docs/PROTOCOL.md, "TCP").
 *
 * A connection owns two fixed buffers, allocated with it at accept: input
 * (CALCD_IN_CAP) and output (CALCD_OUT_CAP).  Its events only move bytes;
 * answering is its task (calcd_loop.h): each turn answers the complete
 * requests in the input, in order, until the turn's budget is spent or
 * the output cannot take another reply, then sends all the replies made
 * with one write.  A connection is read only while its output can take
 * another reply, so a client that does not read its replies is throttled
 * by TCP instead of growing our memory, and the kernel's share is capped
 * by SO_SNDBUF (CALCD_SNDBUF).
 *
 * Framing is lib's calc_frame (lines; "legacy" bytes of a connection that
 * has never sent LF, taken as a request by quiet time; over-long cuts):
 * this file feeds it the bytes and their times, and wakes the connection
 * when calc_frame_due() says held legacy bytes become a request.  Legacy
 * replies carry no newline.
 *
 * With --proxy-protocol, a connection's first bytes go to calcd_proxy.c
 * until its header phase is over; only then does the framer see bytes, and
 * (for a trusted peer) is the client address counted and logged.
 *
 * Timers: idle (no complete request for --idle-timeout), request (a request
 * begun --request-timeout ago is still not complete), drain (after a
 * closing error), the two legacy windows, and the PROXY header's wait.  A connection closed by a
 * timer or limit while replies stay unread is reset, not orphaned.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/sockios.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "calc_frame.h"
#include "calcd.h"
#include "calcd_log.h"
#include "calcd_proxy.h"
#include "calcd_workers.h"

enum {
  C_EOF = 1u << 0,      /* nothing more to read (client EOF, or stop) */
  C_CLOSING = 1u << 1,  /* a closing error was queued: flush, then drain */
  C_DRAINING = 1u << 2, /* write side shut: discard input until EOF */
  C_STOPPING = 1u << 3, /* server stopping: read only stop_budget bytes */
  C_REJECT = 1u << 4,   /* refused at a connection limit (no buffers) */
  C_DEAD = 1u << 5,
  C_ADDR = 1u << 6,     /* counted for its address (calcd_addr) */
};

struct calcd_conn {
  calcd_io io;          /* first: epoll_data.ptr points here */
  calcd_task task;      /* answering */
  calcd_timer life;     /* in the idle or the drain queue */
  calcd_timer legacy;   /* in the quiet or the incomplete queue; before a
                           PROXY header, in the proxy queue */
  calcd_timer req;      /* in the request queue: a request is begun */
  unsigned flags;
  calc_frame fr;        /* the framer of the input */
  calcd_proxy_mode proxy; /* the PROXY header phase; OFF once it is over */
  size_t stop_budget;   /* stopping: bytes the kernel held at the stop */
  size_t in_len, out_off, out_len;
  calcd_conn *prev, *next; /* the list of open connections */
  calcd_conn *dead_next;
  struct sockaddr_storage peer; /* the client a PROXY header names */
  char *in, *out;       /* NULL for refused connections */
};

typedef calcd_conn conn;

#define CONN_OF(ptr, member) \
  ((conn *)(void *)((char *)(ptr)-offsetof(conn, member)))

/* How a connection ends: by the client or an error (nothing to save), or
 * by a timer or limit (reset it when the client left replies unread). */
enum { END_PLAIN, END_LIMIT };

static int unsent(const conn *c) {
  int q = 0;
  if (c->out && c->out_off < c->out_len) return 1;
  return ioctl(c->io.fd, SIOCOUTQ, &q) == 0 && q > 0;
}

static void kill_conn(calcd *s, conn *c, int how) {
  if (c->flags & C_DEAD) return;
  calcd_timer_stop(&c->life);
  calcd_timer_stop(&c->legacy);
  calcd_timer_stop(&c->req);
  calcd_task_cancel(&c->task);
  if (how == END_LIMIT && unsent(c)) {
    struct linger lg = {.l_onoff = 1, .l_linger = 0}; /* close sends RST */
    setsockopt(c->io.fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
    s->st.n[CALCD_ST_TCP_RESETS]++;
  }
  calcd_io_close(&c->io);
  if (c->flags & C_REJECT) {
    s->tcp.nreject--;
  } else {
    s->tcp.nconn--;
    calcd_slot_put(s);
    if (c->flags & C_ADDR)
      calcd_addr_put(&s->addrs, (const struct sockaddr *)&c->peer);
    s->tcp.full_logged = 0;
  }
  s->loop.live--;
  if (c->prev)
    c->prev->next = c->next;
  else
    s->tcp.conns = c->next;
  if (c->next) c->next->prev = c->prev;
  c->flags |= C_DEAD;
  c->dead_next = s->tcp.dead;
  s->tcp.dead = c;
}

/* Free the connections closed during this iteration (an event for one of
 * them may still have been pending in the same epoll batch). */
static void tcp_reap(calcd_loop *L) {
  calcd *s = CALCD_OF(L);
  while (s->tcp.dead) {
    conn *c = s->tcp.dead;
    s->tcp.dead = c->dead_next;
    free(c);
  }
}

/* Log a limit once per offending address (while it has connections). */
static void log_offender(calcd *s, const conn *c, unsigned bit,
                         const char *what) {
  const struct sockaddr *sa = (const struct sockaddr *)&c->peer;
  if (!calcd_addr_first(&s->addrs, sa, bit)) return;
  char a[CALCD_ADDR_STR];
  calcd_addr_str(sa, 0, a, sizeof a);
  calcd_log("%s: %s (logged once while it stays connected)", a, what);
}

/* Read and drop what the client sends; close at its EOF or error. */
static void discard(calcd *s, conn *c) {
  char scratch[4096];
  for (int i = 0; i < 16; i++) {
    ssize_t n = recv(c->io.fd, scratch, sizeof scratch, MSG_DONTWAIT);
    if (n > 0) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
    if (n < 0 && errno == EINTR) continue;
    kill_conn(s, c, END_PLAIN);
    return;
  }
}

/* After a closing error (too-long, busy): send FIN, then wait up to
 * CALCD_DRAIN_MS for the client's EOF while discarding its bytes, so that
 * closing with unread input cannot reset the connection and destroy the
 * error reply before the client reads it. */
static void start_drain(calcd *s, conn *c) {
  if (s->loop.stopping) {
    discard(s, c);
    kill_conn(s, c, END_PLAIN);
    return;
  }
  shutdown(c->io.fd, SHUT_WR);
  c->flags |= C_DRAINING;
  calcd_timer_stop(&c->legacy);
  calcd_timer_stop(&c->req);
  calcd_timer_arm(s->tcp.drain, &c->life, s->loop.now);
  calcd_io_set(&s->loop, &c->io, EPOLLIN);
}

/* Room for one more reply (and its newline) in the output?  Compacts. */
static int out_room(conn *c) {
  if (c->out_off == c->out_len) c->out_off = c->out_len = 0;
  if (CALCD_OUT_CAP - c->out_len >= CALC_ANSWER_MAX + 1) return 1;
  if (c->out_off == 0) return 0;
  memmove(c->out, c->out + c->out_off, c->out_len - c->out_off);
  c->out_len -= c->out_off;
  c->out_off = 0;
  return CALCD_OUT_CAP - c->out_len >= CALC_ANSWER_MAX + 1;
}

static int is_line(const conn *c) { return calc_frame_is_line(&c->fr); }

static void log_reply(calcd *s, const conn *c, const char *req, size_t n,
                      const char *rep, size_t m) {
  if (s->o->verbose)
    calcd_log_request(is_line(c) ? "tcp" : "tcp-legacy",
                      (const struct sockaddr *)&c->peer, req, n, rep, m);
}

/* Queue the reply to the request req[0..n) (framing removed).  A complete
 * request: the connection is not idle. */
static void answer(calcd *s, conn *c, const char *req, size_t n) {
  char *o = c->out + c->out_len;
  size_t m;
  calc_err kind = CALC_OK;
  if (calcd_stop_busy(s)) {
    m = calcd_busy_stop(req, n, o, CALC_ANSWER_MAX);
    kind = CALC_E_BUSY;
    s->st.n[CALCD_ST_TCP_STOP_BUSY]++;
  } else {
    m = calc_answer(s->ctx, s->o->role, req, n, SIZE_MAX, o,
                    CALC_ANSWER_MAX, &kind);
  }
  s->st.n[CALCD_ST_TCP_REQUESTS]++;
  s->st.n[CALCD_ST_TCP_REPLIES]++;
  if (kind != CALC_OK) s->st.n[CALCD_ST_TCP_ERRORS]++;
  log_reply(s, c, req, n, o, m);
  if (is_line(c)) o[m++] = '\n';
  c->out_len += m;
  calcd_timer_arm(s->tcp.idle, &c->life, s->loop.now);
}

/* Queue the too-long error for the request starting at req (n bytes of it
 * held) and stop serving the connection (what follows is not read). */
static void too_long(calcd *s, conn *c, const char *req, size_t n) {
  char *o = c->out + c->out_len;
  size_t m = calcd_too_long(s, o, CALC_ANSWER_MAX);
  s->st.n[CALCD_ST_TCP_REQUESTS]++;
  s->st.n[CALCD_ST_TCP_REPLIES]++;
  s->st.n[CALCD_ST_TCP_ERRORS]++;
  s->st.n[CALCD_ST_TCP_TOO_LONG]++;
  log_reply(s, c, req, n, o, m);
  if (is_line(c)) o[m++] = '\n';
  c->out_len += m;
  c->in_len = 0;
  c->flags |= C_CLOSING;
  calcd_timer_stop(&c->legacy);
  calcd_timer_stop(&c->req);
}

/* What serve() stopped for. */
enum { SERVED_ALL, SERVED_ROOM, SERVED_TURN };

/* Answer the requests the framer finds in the input, in order, while the
 * output has room and the turn lasts (at least one per call). */
static int serve(calcd *s, conn *c) {
  size_t pos = 0;
  int why = SERVED_ALL, any = 0;
  calc_frame_msg m;
  while (!(c->flags & C_CLOSING) && pos < c->in_len) {
    if (!out_room(c)) {
      why = SERVED_ROOM;
      break;
    }
    if (any && calcd_turn_over(&s->loop)) {
      why = SERVED_TURN;
      break;
    }
    const char *msg = c->in + pos;
    if (calc_frame_next(&c->fr, s->ctx, msg, c->in_len - pos, s->loop.now,
                        &m) == CALC_FRAME_NONE)
      break;
    any = 1;
    pos += m.end;
    calcd_timer_stop(&c->req); /* a request is complete */
    if (is_line(c)) calcd_timer_stop(&c->legacy);
    switch (m.kind) {
    case CALC_FRAME_FINAL:
      if (c->flags & C_STOPPING) break; /* a line not fully received */
      /* fall through */
    case CALC_FRAME_LINE:
    case CALC_FRAME_LEGACY:
      answer(s, c, msg, m.len);
      break;
    case CALC_FRAME_TOO_LONG:
      too_long(s, c, msg, m.len);
      return SERVED_ALL;
    default: /* CALC_FRAME_EMPTY gets no reply; REST is never reached */
      break;
    }
  }
  if (pos > 0) {
    memmove(c->in, c->in + pos, c->in_len - pos);
    c->in_len -= pos;
  }
  return why;
}

/* Send all queued replies at once.  Returns -1 when the connection died. */
static int flush(calcd *s, conn *c) {
  while (c->out_off < c->out_len) {
    ssize_t n = send(c->io.fd, c->out + c->out_off, c->out_len - c->out_off,
                     MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n > 0) {
      c->out_off += (size_t)n;
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return 0;
    kill_conn(s, c, END_PLAIN); /* EPIPE, ECONNRESET: the client is gone */
    return -1;
  }
  return 0;
}

static int can_read(conn *c) {
  return !(c->flags & (C_EOF | C_CLOSING)) && c->in_len < CALCD_IN_CAP &&
         out_room(c);
}

static void set_interest(calcd *s, conn *c) {
  uint32_t ev = 0;
  if (can_read(c)) ev |= EPOLLIN;
  if (c->out_off < c->out_len) ev |= EPOLLOUT;
  calcd_io_set(&s->loop, &c->io, ev);
}

/* n new bytes: the framer's clock, and a legacy request's quiet time. */
static void got_bytes(calcd *s, conn *c, size_t n) {
  calc_frame_fed(&c->fr, n, s->loop.now);
  if (!is_line(c)) calcd_timer_arm(s->tcp.quiet, &c->legacy, s->loop.now);
}

/* No more bytes will be read. */
static void got_eof(conn *c) {
  c->flags |= C_EOF;
  calc_frame_eof(&c->fr);
}

/* One recv.  Returns the bytes read, or -1 when the connection died. */
static int read_some(calcd *s, conn *c) {
  size_t room = CALCD_IN_CAP - c->in_len;
  if ((c->flags & C_STOPPING) && room > c->stop_budget) room = c->stop_budget;
  ssize_t n = recv(c->io.fd, c->in + c->in_len, room, 0);
  if (n > 0) {
    c->in_len += (size_t)n;
    if (c->proxy == CALCD_PROXY_OFF) got_bytes(s, c, (size_t)n);
    if (c->flags & C_STOPPING) {
      c->stop_budget -= (size_t)n;
      if (c->stop_budget == 0) got_eof(c);
    }
    return (int)n;
  }
  if (n == 0) {
    got_eof(c);
    return 0;
  }
  if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) return 0;
  kill_conn(s, c, END_PLAIN); /* ECONNRESET and friends: only this client */
  return -1;
}

static int take_addr(calcd *s, conn *c);

/* The PROXY header phase (calcd_proxy.h): 1 when it is over and the bytes
 * after the header are the framer's, 0 to wait, -1 when the connection was
 * closed. */
static int proxy_phase(calcd *s, conn *c, calcd_proxy_final final) {
  size_t used;
  if ((c->flags & C_EOF) && final == CALCD_PROXY_MORE) final = CALCD_PROXY_EOF;
  calcd_proxy_mode m = c->proxy;
  int r = calcd_proxy_take(m, c->in, c->in_len, final, s->o->verbose,
                           s->loop.stopping, &c->peer, &used);
  if (r < 0) {
    s->st.n[CALCD_ST_TCP_PROXY_REFUSED]++;
    kill_conn(s, c, END_PLAIN);
    return -1;
  }
  if (r == 0) {
    set_interest(s, c);
    return 0;
  }
  memmove(c->in, c->in + used, c->in_len - used);
  c->in_len -= used;
  c->proxy = CALCD_PROXY_OFF;
  calcd_timer_stop(&c->legacy);
  if (c->in_len) got_bytes(s, c, c->in_len);
  if (c->flags & C_EOF) calc_frame_eof(&c->fr);
  /* The client is known now: its address's limit applies. */
  return m == CALCD_PROXY_REQUIRE ? take_addr(s, c) : 1;
}

static void proxy_expired(calcd_loop *L, calcd_timer *t) {
  calcd *s = CALCD_OF(L);
  conn *c = CONN_OF(t, legacy);
  if (proxy_phase(s, c, CALCD_PROXY_TIMEOUT) > 0)
    calcd_task_wake(L, &c->task);
}

/* The connection's turn: answer, send, and set what it waits for next.
 * Returns 1 when requests are left for its next turn. */
static int conn_turn(calcd_loop *L, calcd_task *t) {
  calcd *s = CALCD_OF(L);
  conn *c = CONN_OF(t, task);
  if (c->proxy != CALCD_PROXY_OFF && proxy_phase(s, c, CALCD_PROXY_MORE) <= 0)
    return 0;
  int why = serve(s, c);
  if (flush(s, c) < 0) return 0;
  /* Requests left for want of room, and sending made room: go on (the
   * input may be full, so no read would come to resume them). */
  while (why == SERVED_ROOM && out_room(c)) {
    if (calcd_turn_over(L)) {
      why = SERVED_TURN;
      break;
    }
    why = serve(s, c);
    if (flush(s, c) < 0) return 0;
  }
  if (why == SERVED_ALL) {
    c->task.heavy = 0;
    /* Bytes held that are no request yet: time the request they begin,
     * and wake when the framer says legacy bytes become one. */
    if (c->in_len && !(c->flags & C_CLOSING)) {
      if (!c->req.next)
        calcd_timer_arm(s->tcp.request, &c->req, L->now);
      uint64_t due = calc_frame_due(&c->fr, c->in_len);
      if (due != UINT64_MAX && due > L->now && !c->legacy.next)
        calcd_timer_arm(s->tcp.incomplete, &c->legacy, c->fr.last_in);
    }
  }
  if (c->out_off == c->out_len) {
    if (c->flags & C_CLOSING) {
      start_drain(s, c);
      return 0;
    }
    if ((c->flags & C_EOF) && c->in_len == 0) {
      discard(s, c);
      kill_conn(s, c, END_PLAIN);
      return 0;
    }
  }
  set_interest(s, c);
  return why == SERVED_TURN;
}

static void conn_event(calcd_loop *L, calcd_io *io, uint32_t events) {
  calcd *s = CALCD_OF(L);
  conn *c = (conn *)io;
  if (c->flags & C_DRAINING) {
    discard(s, c);
    return;
  }
  if (events & EPOLLERR) { /* reset by the peer */
    kill_conn(s, c, END_PLAIN);
    return;
  }
  if ((events & (EPOLLIN | EPOLLHUP)) && can_read(c) &&
      read_some(s, c) < 0)
    return;
  if ((events & EPOLLOUT) && flush(s, c) < 0) return;
  set_interest(s, c);
  calcd_task_wake(L, &c->task);
}

/* Held legacy bytes may have become a request (the framer decides:
 * quiet for CALC_LEGACY_QUIET_MS, or CALC_LEGACY_INCOMPLETE_MS while they
 * are an unfinished expression). */
static void legacy_expired(calcd_loop *L, calcd_timer *t) {
  calcd_task_wake(L, &CONN_OF(t, legacy)->task);
}

/* No complete request for --idle-timeout: close without a word. */
static void idle_expired(calcd_loop *L, calcd_timer *t) {
  calcd *s = CALCD_OF(L);
  conn *c = CONN_OF(t, life);
  s->st.n[CALCD_ST_TCP_IDLE]++;
  log_offender(s, c, CALCD_LOGGED_IDLE, "idle timeout: connection closed");
  kill_conn(s, c, END_LIMIT);
}

/* A request begun --request-timeout ago is not complete: close.  Time
 * while calcd itself does not read (its replies are not read, or its
 * input holds requests not yet answered) is not the client's. */
static void request_expired(calcd_loop *L, calcd_timer *t) {
  calcd *s = CALCD_OF(L);
  conn *c = CONN_OF(t, req);
  if (!can_read(c) || c->task.next) {
    calcd_timer_arm(s->tcp.request, &c->req, L->now);
    return;
  }
  s->st.n[CALCD_ST_TCP_REQ_TIMEOUT]++;
  log_offender(s, c, CALCD_LOGGED_REQ_TIMEOUT,
               "request timeout: a request not complete in time, "
               "connection closed");
  kill_conn(s, c, END_LIMIT);
}

static void drain_expired(calcd_loop *L, calcd_timer *t) {
  kill_conn(CALCD_OF(L), CONN_OF(t, life), END_LIMIT);
}

static void link_conn(calcd *s, conn *c) {
  c->next = s->tcp.conns;
  if (c->next) c->next->prev = c;
  s->tcp.conns = c;
  s->loop.live++;
}

/* At a connection limit: say so, then close (after the client's EOF, or
 * at once when too many refusals are already waiting). */
static void reject(calcd *s, int fd, const struct sockaddr_storage *peer,
                   int per_addr) {
  char msg[CALC_ANSWER_MAX + 1];
  size_t m = per_addr ? calcd_busy_addr(s, msg, CALC_ANSWER_MAX)
                      : calcd_busy_conn(s, msg, CALC_ANSWER_MAX);
  s->st.n[per_addr ? CALCD_ST_TCP_REFUSED_ADDR : CALCD_ST_TCP_REFUSED]++;
  s->st.n[CALCD_ST_TCP_REPLIES]++;
  if (s->o->verbose)
    calcd_log_request("tcp", (const struct sockaddr *)peer, "", 0, msg, m);
  msg[m++] = '\n';
  (void)send(fd, msg, m, MSG_NOSIGNAL | MSG_DONTWAIT);
  conn *c = s->tcp.nreject < CALCD_REJECT_MAX ? calloc(1, sizeof *c) : NULL;
  if (!c) {
    close(fd);
    return;
  }
  c->io.fd = fd;
  c->io.fn = conn_event;
  c->flags = C_REJECT | C_DRAINING;
  c->peer = *peer;
  shutdown(fd, SHUT_WR);
  if (calcd_io_add(&s->loop, &c->io, EPOLLIN) < 0) {
    close(fd);
    free(c);
    return;
  }
  s->tcp.nreject++;
  link_conn(s, c);
  calcd_timer_arm(s->tcp.drain, &c->life, s->loop.now);
}

/* Serve the accepted connection fd.  The connection, or NULL (closed). */
static conn *serve_new(calcd *s, int fd, const struct sockaddr_storage *peer) {
  conn *c = malloc(sizeof *c + CALCD_IN_CAP + CALCD_OUT_CAP);
  if (!c) {
    calcd_log("out of memory for a connection");
    close(fd);
    return NULL;
  }
  memset(c, 0, sizeof *c);
  c->in = (char *)(c + 1);
  c->out = c->in + CALCD_IN_CAP;
  c->peer = *peer;
  c->io.fd = fd;
  c->io.fn = conn_event;
  c->task.fn = conn_turn;
  calc_frame_init(&c->fr, CALC_FRAME_REQUESTS);
  calc_frame_set_max(&c->fr, calc_ctx_limits(s->ctx)->max_len);
  int one = 1, sndbuf = CALCD_SNDBUF; /* replies are batched per turn */
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof sndbuf);
  if (calcd_io_add(&s->loop, &c->io, EPOLLIN) < 0) {
    close(fd);
    free(c);
    return NULL;
  }
  s->tcp.nconn++;
  s->st.n[CALCD_ST_TCP_CONNS]++;
  link_conn(s, c);
  calcd_timer_arm(s->tcp.idle, &c->life, s->loop.now);
  return c;
}

/* Out of descriptors: the pending connection would keep the (level-
 * triggered) listener ready forever.  Give up the spare descriptor to
 * accept it and close it at once, then take the spare back. */
static void shed(calcd *s, int lfd) {
  if (s->tcp.spare_fd < 0) return;
  close(s->tcp.spare_fd);
  int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
  if (fd >= 0) close(fd);
  s->tcp.spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
}

/* Count a connection for its address; 0 (and logged once) when the
 * address is at --max-conn-per-addr. */
static int addr_admits(calcd *s, const struct sockaddr *sa) {
  if (calcd_addr_take(&s->addrs, sa, s->o->max_per_addr)) return 1;
  if (calcd_addr_first(&s->addrs, sa, CALCD_LOGGED_PER_ADDR)) {
    char a[CALCD_ADDR_STR];
    calcd_addr_str(sa, 0, a, sizeof a);
    calcd_log("%s: at --max-conn-per-addr %u: further connections "
              "refused (logged once while it stays connected)",
              a, s->o->max_per_addr);
  }
  return 0;
}

/* After a trusted peer's header: count the client it names; over its
 * limit, the connection is told ERR busy as a refused one is, and closes.
 * 1 to go on serving, 0 when it is closing. */
static int take_addr(calcd *s, conn *c) {
  if (addr_admits(s, (const struct sockaddr *)&c->peer)) {
    c->flags |= C_ADDR;
    return 1;
  }
  size_t m = calcd_busy_addr(s, c->out + c->out_len, CALC_ANSWER_MAX);
  s->st.n[CALCD_ST_TCP_REFUSED_ADDR]++;
  if (s->o->verbose)
    calcd_log_request("tcp", (const struct sockaddr *)&c->peer, "", 0,
                      c->out + c->out_len, m);
  c->out_len += m;
  c->out[c->out_len++] = '\n';
  c->in_len = 0;
  c->flags |= C_CLOSING;
  return 1;
}

/* One accepted connection from peer: served, or refused at a limit: the
 * server's (--max-conn), else its address's (--max-conn-per-addr).  A
 * trusted proxy's connection is counted for the client its header names,
 * once the header is read. */
static void admit(calcd *s, int fd, const struct sockaddr_storage *peer) {
  const struct sockaddr *sa = (const struct sockaddr *)peer;
  if (!calcd_slot_take(s)) { /* --max-conn: the process's, all workers */
    if (!s->tcp.full_logged)
      calcd_log("at --max-conn %u: new connections refused until one "
                "closes", s->o->max_conn);
    s->tcp.full_logged = 1;
    reject(s, fd, peer, 0);
    return;
  }
  calcd_proxy_mode m = calcd_proxy_mode_for(&s->o->proxy_from, peer);
  if (m != CALCD_PROXY_REQUIRE && !addr_admits(s, sa)) {
    calcd_slot_put(s);
    reject(s, fd, peer, 1);
    return;
  }
  conn *c = serve_new(s, fd, peer);
  if (!c) {
    calcd_slot_put(s);
    if (m != CALCD_PROXY_REQUIRE) calcd_addr_put(&s->addrs, sa);
    return;
  }
  if (m != CALCD_PROXY_REQUIRE) c->flags |= C_ADDR;
  c->proxy = m;
  if (m != CALCD_PROXY_OFF)
    calcd_timer_arm(s->tcp.proxy, &c->legacy, s->loop.now);
}

static void tcp_accept(calcd_loop *L, calcd_io *io, uint32_t events) {
  (void)events;
  calcd *s = CALCD_OF(L);
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
    admit(s, fd, &peer);
  }
}

int calcd_tcp_add(calcd *s, int fd) {
  if (s->nlisten == CALCD_MAX_BINDS) return -1;
  calcd_io *io = &s->listen[s->nlisten];
  *io = (calcd_io){.fd = fd, .fn = tcp_accept};
  if (calcd_io_add(&s->loop, io, EPOLLIN) < 0) return -1;
  s->nlisten++;
  return 0;
}

/* Stopping: answer what the kernel already holds for this connection
 * (FIONREAD at the stop), then close. */
static void stop_conn(calcd *s, conn *c) {
  int avail = 0;
  if (ioctl(c->io.fd, FIONREAD, &avail) < 0 || avail < 0) avail = 0;
  c->flags |= C_STOPPING;
  c->stop_budget = (size_t)avail;
  if (avail == 0) got_eof(c);
  calcd_timer_stop(&c->req);
  calcd_task_wake(&s->loop, &c->task);
}

static void tcp_stop(calcd_loop *L) {
  calcd *s = CALCD_OF(L);
  for (int i = 0; i < s->nlisten; i++) calcd_io_close(&s->listen[i]);
  for (conn *c = s->tcp.conns, *next; c; c = next) {
    next = c->next;
    if (c->flags & C_DRAINING) {
      discard(s, c);
      kill_conn(s, c, END_PLAIN);
    } else {
      stop_conn(s, c);
    }
  }
}

/* The loop ends (done, or the stop deadline passed): close the rest. */
static void tcp_finish(calcd_loop *L) {
  calcd *s = CALCD_OF(L);
  while (s->tcp.conns) kill_conn(s, s->tcp.conns, END_LIMIT);
  tcp_reap(L);
  if (s->tcp.spare_fd >= 0) close(s->tcp.spare_fd);
  s->tcp.spare_fd = -1;
}

int calcd_tcp_init(calcd *s) {
  static const calcd_hooks hooks = {
    .stop = tcp_stop, .before_sleep = tcp_reap, .finish = tcp_finish};
  calcd_loop *L = &s->loop;
  calcd_tcp *T = &s->tcp;
  T->spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
  T->idle = calcd_tq_new(L, s->o->idle_ms, idle_expired);
  T->request = calcd_tq_new(L, s->o->request_ms, request_expired);
  T->drain = calcd_tq_new(L, CALCD_DRAIN_MS, drain_expired);
  T->quiet = calcd_tq_new(L, CALC_LEGACY_QUIET_MS, legacy_expired);
  T->incomplete = calcd_tq_new(L, CALC_LEGACY_INCOMPLETE_MS, legacy_expired);
  T->proxy = calcd_tq_new(L, CALCD_PROXY_WAIT_MS, proxy_expired);
  if (!T->idle || !T->request || !T->drain || !T->quiet || !T->incomplete ||
      !T->proxy)
    return -1;
  return calcd_loop_hook(L, &hooks);
}
