/* SPDX-License-Identifier: MIT
 *
 * calcd_udp.c: UDP (docs/PROTOCOL.md, "UDP").  One datagram is one request
 * and gets one reply datagram, within calc_udp_bound() of the request.
 * Datagrams are received CALCD_UDP_BATCH at a time with recvmmsg and the
 * replies of a batch sent with one sendmmsg, from buffers allocated once.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>

#include "calcd.h"

struct calcd_udp {
  struct mmsghdr in[CALCD_UDP_BATCH], out[CALCD_UDP_BATCH];
  struct iovec in_iov[CALCD_UDP_BATCH], out_iov[CALCD_UDP_BATCH];
  struct sockaddr_storage peer[CALCD_UDP_BATCH];
  char req[CALCD_UDP_BATCH][CALCD_UDP_BUF];
  char rep[CALCD_UDP_BATCH][CALC_ANSWER_MAX];
};

int calcd_udp_init(calcd *s) {
  s->ub = calloc(1, sizeof *s->ub);
  return s->ub ? 0 : -1;
}

/* The reply to datagram i (len bytes, truncated when trunc) into out;
 * returns its length, 0 for no reply. */
static size_t reply_to(calcd *s, const char *req, size_t len, int trunc,
                       const struct sockaddr *peer, char *out) {
  size_t n = calc_strip_eol(req, len);
  size_t m;
  if (!trunc && n == 0) return 0; /* empty: no reply */
  if (trunc || n > calc_ctx_limits(s->ctx)->max_len)
    m = calcd_too_long(s, out, CALC_ANSWER_MAX);
  else
    m = calc_answer(s->ctx, s->o.role, req, n, calc_udp_bound(n), out,
                    CALC_ANSWER_MAX, NULL);
  if (s->o.verbose) calcd_log_request("udp", peer, req, n, out, m);
  return m;
}

/* One recvmmsg batch and its sendmmsg.  Returns the datagrams received. */
static int batch(calcd *s, int fd) {
  calcd_udp *u = s->ub;
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
  int n = recvmmsg(fd, u->in, CALCD_UDP_BATCH, MSG_DONTWAIT, NULL);
  if (n < 0) {
    if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
      calcd_log("recvmmsg: %s", strerror(errno));
    return 0;
  }
  int k = 0;
  for (int i = 0; i < n; i++) {
    const struct msghdr *h = &u->in[i].msg_hdr;
    size_t m = reply_to(s, u->req[i], u->in[i].msg_len,
                        (h->msg_flags & MSG_TRUNC) != 0,
                        (const struct sockaddr *)&u->peer[i], u->rep[k]);
    if (m == 0) continue;
    u->out_iov[k].iov_base = u->rep[k];
    u->out_iov[k].iov_len = m;
    u->out[k].msg_hdr = (struct msghdr){
      .msg_name = &u->peer[i],
      .msg_namelen = h->msg_namelen,
      .msg_iov = &u->out_iov[k],
      .msg_iovlen = 1,
    };
    k++;
  }
  /* A reply that cannot be sent is dropped, as the network may drop it:
   * the client retries (docs/PROTOCOL.md). */
  for (int sent = 0; sent < k;) {
    int r = sendmmsg(fd, u->out + sent, (unsigned)(k - sent), MSG_DONTWAIT);
    if (r > 0) {
      sent += r;
    } else if (r < 0 && errno == EINTR) {
      continue;
    } else if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      if (s->o.verbose) calcd_log("udp: send buffer full, %d replies dropped",
                                  k - sent);
      break;
    } else {
      if (s->o.verbose) calcd_log("udp: sendmmsg: %s", strerror(errno));
      sent++; /* skip the reply that failed */
    }
  }
  return n;
}

void calcd_udp_event(calcd *s, calcd_io *io, uint32_t events) {
  (void)events;
  for (int r = 0; r < CALCD_UDP_ROUNDS; r++)
    if (batch(s, io->fd) < CALCD_UDP_BATCH) break;
}

/* Stopping: answer the datagrams already queued, then close. */
void calcd_udp_stop(calcd *s) {
  for (int i = 0; i < s->nudp; i++) {
    for (int r = 0; r < 4 * CALCD_UDP_ROUNDS; r++)
      if (batch(s, s->udp[i].fd) < CALCD_UDP_BATCH) break;
    calcd_io_close(s, &s->udp[i]);
  }
}
