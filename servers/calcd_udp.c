/* SPDX-License-Identifier: MIT
 *
 * calcd_udp.c: UDP (docs/PROTOCOL.md, "UDP").  One datagram is one request
 * and gets one reply datagram, within calc_udp_bound() of the request.
 * Datagrams are received CALCD_UDP_BATCH at a time with recvmmsg and the
 * replies sent with sendmmsg, from buffers allocated once per socket.
 *
 * Answering is the socket's task: it answers until its turn is over
 * (calcd_loop.h), sends the replies made so far, and comes back for the
 * rest of the batch on its next turn; while a batch is left the socket is
 * not polled, so a flood waits in the kernel, not in the loop.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>

#include "calcd.h"
#include "calcd_log.h"

struct calcd_udp {
  calcd_io io;       /* first: epoll_data.ptr points here */
  calcd_task task;
  int n, next, k;    /* datagrams in the batch, the next to answer, and
                        replies made and not yet sent */
  int stop_rounds;   /* stopping: batches still to read; -1 before */
  struct mmsghdr in[CALCD_UDP_BATCH], out[CALCD_UDP_BATCH];
  struct iovec in_iov[CALCD_UDP_BATCH], out_iov[CALCD_UDP_BATCH];
  struct sockaddr_storage peer[CALCD_UDP_BATCH];
  char req[CALCD_UDP_BATCH][CALCD_UDP_BUF];
  char rep[CALCD_UDP_BATCH][CALC_ANSWER_MAX];
};

#define UDP_OF_TASK(t) \
  ((calcd_udp *)(void *)((char *)(t)-offsetof(calcd_udp, task)))

/* The reply to datagram i into u->rep[u->k] (counted when there is one). */
static void reply_to(calcd *s, calcd_udp *u, int i) {
  const struct msghdr *h = &u->in[i].msg_hdr;
  const char *req = u->req[i];
  size_t n = calc_strip_eol(req, u->in[i].msg_len);
  int trunc = (h->msg_flags & MSG_TRUNC) != 0;
  char *out = u->rep[u->k];
  size_t m;
  calc_err kind = CALC_OK;
  if (!trunc && n == 0) return; /* empty: no reply */
  s->st.n[CALCD_ST_UDP_REQUESTS]++;
  if (trunc || n > calc_ctx_limits(s->ctx)->max_len) {
    m = calcd_too_long(s, out, CALC_ANSWER_MAX);
    kind = CALC_E_TOO_LONG;
  } else if (calcd_stop_busy(s)) {
    m = calcd_busy_stop(req, n, out, CALC_ANSWER_MAX);
    kind = CALC_E_BUSY;
    s->st.n[CALCD_ST_UDP_STOP_BUSY]++;
  } else {
    m = calc_answer(s->ctx, s->o->role, req, n, calc_udp_bound(n), out,
                    CALC_ANSWER_MAX, &kind);
  }
  if (kind != CALC_OK) s->st.n[CALCD_ST_UDP_ERRORS]++;
  if (s->o->verbose)
    calcd_log_request("udp", (const struct sockaddr *)&u->peer[i], req, n,
                      out, m);
  u->out_iov[u->k].iov_base = out;
  u->out_iov[u->k].iov_len = m;
  u->out[u->k].msg_hdr = (struct msghdr){
    .msg_name = &u->peer[i],
    .msg_namelen = h->msg_namelen,
    .msg_iov = &u->out_iov[u->k],
    .msg_iovlen = 1,
  };
  u->k++;
}

/* Send the replies made.  One that cannot be sent is dropped, as the
 * network may drop it: the client retries (docs/PROTOCOL.md). */
static void send_replies(calcd *s, calcd_udp *u) {
  int k = u->k;
  for (int sent = 0; sent < k;) {
    int r = sendmmsg(u->io.fd, u->out + sent, (unsigned)(k - sent),
                     MSG_DONTWAIT);
    if (r > 0) {
      sent += r;
      s->st.n[CALCD_ST_UDP_REPLIES] += (unsigned)r;
    } else if (r < 0 && errno == EINTR) {
      continue;
    } else if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      s->st.n[CALCD_ST_UDP_DROPPED] += (unsigned)(k - sent);
      if (s->o->verbose)
        calcd_log("udp: send buffer full, %d replies dropped", k - sent);
      break;
    } else {
      s->st.n[CALCD_ST_UDP_DROPPED]++;
      if (s->o->verbose) calcd_log("udp: sendmmsg: %s", strerror(errno));
      sent++; /* skip the reply that failed */
    }
  }
  u->k = 0;
}

/* Read the next batch; the datagrams received. */
static int receive(calcd_udp *u) {
  for (int i = 0; i < CALCD_UDP_BATCH; i++) {
    u->in_iov[i].iov_base = u->req[i];
    u->in_iov[i].iov_len = sizeof u->req[i];
    u->in[i].msg_hdr = (struct msghdr){
      .msg_name = &u->peer[i],
      .msg_namelen = sizeof u->peer[i],
      .msg_iov = &u->in_iov[i],
      .msg_iovlen = 1,
    };
  }
  int n = recvmmsg(u->io.fd, u->in, CALCD_UDP_BATCH, MSG_DONTWAIT, NULL);
  if (n < 0) {
    if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
      calcd_log("recvmmsg: %s", strerror(errno));
    n = 0;
  }
  u->n = n;
  u->next = 0;
  return n;
}

/* The socket's queue is empty (or, stopping, read as far as promised). */
static int drained(calcd_loop *L, calcd_udp *u) {
  u->task.heavy = 0;
  u->n = u->next = 0;
  if (u->stop_rounds < 0) {
    calcd_io_set(L, &u->io, EPOLLIN);
    return 0;
  }
  calcd_io_close(&u->io);
  L->live--;
  return 0;
}

static int udp_turn(calcd_loop *L, calcd_task *t) {
  calcd *s = CALCD_OF(L);
  calcd_udp *u = UDP_OF_TASK(t);
  for (;;) {
    if (u->next == u->n) {
      int full = u->n == CALCD_UDP_BATCH;
      send_replies(s, u);
      if (u->n && !full) return drained(L, u);
      if (u->stop_rounds >= 0 && u->stop_rounds-- == 0) return drained(L, u);
      if (receive(u) == 0) return drained(L, u);
    }
    reply_to(s, u, u->next++);
    if (calcd_turn_over(L)) {
      send_replies(s, u);
      return 1;
    }
  }
}

static void udp_event(calcd_loop *L, calcd_io *io, uint32_t events) {
  (void)events;
  calcd_udp *u = (calcd_udp *)io;
  calcd_io_set(L, io, 0); /* until the task has read the queue dry */
  calcd_task_wake(L, &u->task);
}

int calcd_udp_add(calcd *s, int fd) {
  if (s->nudp == CALCD_MAX_BINDS) return -1;
  calcd_udp *u = calloc(1, sizeof *u);
  if (!u) return -1;
  u->io = (calcd_io){.fd = fd, .fn = udp_event};
  u->task.fn = udp_turn;
  u->stop_rounds = -1;
  if (calcd_io_add(&s->loop, &u->io, EPOLLIN) < 0) {
    free(u);
    return -1;
  }
  s->udp[s->nudp++] = u;
  return 0;
}

/* Stopping: answer the datagrams already queued (up to
 * CALCD_UDP_STOP_ROUNDS batches), then close. */
static void udp_stop(calcd_loop *L) {
  calcd *s = CALCD_OF(L);
  for (int i = 0; i < s->nudp; i++) {
    calcd_udp *u = s->udp[i];
    if (u->io.fd < 0) continue;
    u->stop_rounds = CALCD_UDP_STOP_ROUNDS;
    L->live++;
    calcd_io_set(L, &u->io, 0);
    calcd_task_wake(L, &u->task);
  }
}

static void udp_finish(calcd_loop *L) {
  calcd *s = CALCD_OF(L);
  for (int i = 0; i < s->nudp; i++) {
    calcd_task_cancel(&s->udp[i]->task);
    calcd_io_close(&s->udp[i]->io);
    free(s->udp[i]);
  }
  s->nudp = 0;
}

void calcd_udp_init(calcd *s) {
  static const calcd_hooks hooks = {.stop = udp_stop, .finish = udp_finish};
  calcd_loop_hook(&s->loop, &hooks);
}
