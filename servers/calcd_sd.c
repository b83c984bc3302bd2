/* SPDX-License-Identifier: MIT
 *
 * calcd_sd.c: socket activation and SIGHUP (calcd_sd.h).  The protocol is
 * sd_listen_fds(3)'s: when LISTEN_PID is this process, descriptors 3 ..
 * 3+LISTEN_FDS-1 are sockets that systemd (or systemd-socket-activate)
 * bound and passed; calcd serves them instead of binding its own.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "calcd_log.h"
#include "calcd_sd.h"

/* A decimal in [lo, hi], all of s, or -1. */
static long sd_number(const char *s, long lo, long hi) {
  char *end;
  errno = 0;
  long v = strtol(s, &end, 10);
  if (!*s || *end || errno || v < lo || v > hi) return -1;
  return v;
}

/* Remember a passed socket's address for the startup line, once each. */
static void sd_note_addr(calcd_opts *o, const struct sockaddr_storage *ss,
                         socklen_t len) {
  for (int i = 0; i < o->nbind; i++)
    if (o->bind_len[i] == len && memcmp(&o->bind[i], ss, len) == 0) return;
  if (o->nbind == CALCD_MAX_BINDS) return;
  o->bind[o->nbind] = *ss;
  o->bind_len[o->nbind++] = len;
  if (o->nbind == 1)
    o->port = ntohs(ss->ss_family == AF_INET6
                        ? ((const struct sockaddr_in6 *)ss)->sin6_port
                        : ((const struct sockaddr_in *)ss)->sin_port);
}

/* One passed descriptor into k; -1 (logged) if it is not a socket calcd
 * can serve. */
static int sd_take(calcd_opts *o, calcd_sd_socks *k, int fd) {
  int type = 0, listening = 0;
  socklen_t l = sizeof type;
  struct sockaddr_storage ss;
  socklen_t sl = sizeof ss;
  if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &l) < 0 ||
      getsockname(fd, (struct sockaddr *)&ss, &sl) < 0 ||
      (ss.ss_family != AF_INET && ss.ss_family != AF_INET6)) {
    calcd_log("socket activation: descriptor %d is not an IPv4 or IPv6 "
              "socket", fd);
    return -1;
  }
  l = sizeof listening;
  if (type == SOCK_STREAM &&
      (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &l) < 0 ||
       !listening)) {
    calcd_log("socket activation: descriptor %d is a stream socket that "
              "does not listen (Accept=no is required)", fd);
    return -1;
  }
  if (type != SOCK_STREAM && type != SOCK_DGRAM) {
    calcd_log("socket activation: descriptor %d is neither TCP nor UDP", fd);
    return -1;
  }
  int *n = type == SOCK_STREAM ? &k->ntcp : &k->nudp;
  if (*n == CALCD_MAX_BINDS) {
    calcd_log("socket activation: more than %d %s sockets", CALCD_MAX_BINDS,
              type == SOCK_STREAM ? "TCP" : "UDP");
    return -1;
  }
  int fl = fcntl(fd, F_GETFL);
  if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0 ||
      fcntl(fd, F_SETFD, FD_CLOEXEC) < 0) {
    calcd_log("socket activation: descriptor %d: %s", fd, strerror(errno));
    return -1;
  }
  (type == SOCK_STREAM ? k->tcp : k->udp)[(*n)++] = fd;
  sd_note_addr(o, &ss, sl);
  return 0;
}

int calcd_sd_listen(calcd_opts *o, calcd_sd_socks *k) {
  const char *pid = getenv("LISTEN_PID"), *fds = getenv("LISTEN_FDS");
  if (!pid || !fds || sd_number(pid, 1, 0x7fffffffL) != (long)getpid())
    return 0; /* not for this process (or not activated at all) */
  long n = sd_number(fds, 0, 2L * CALCD_MAX_BINDS);
  unsetenv("LISTEN_PID"); /* not passed on to anything calcd might run */
  unsetenv("LISTEN_FDS");
  unsetenv("LISTEN_FDNAMES");
  if (n < 0) {
    calcd_log("socket activation: LISTEN_FDS=%s: want 0 to %d sockets", fds,
              2 * CALCD_MAX_BINDS);
    return -1;
  }
  if (n == 0) return 0;
  int explicit_bind = !o->bind_default;
  o->nbind = 0;
  o->bind_default = 0;
  for (long i = 0; i < n; i++)
    if (sd_take(o, k, CALCD_SD_FDS_START + (int)i) < 0) return -1;
  calcd_log("socket activation: serving %d TCP and %d UDP sockets passed "
            "by systemd%s%s", k->ntcp, k->nudp,
            explicit_bind ? " (--bind ignored)" : "",
            o->threads > 1 ? " (--threads ignored: one worker)" : "");
  if (o->threads > 1) o->threads = 1;
  return (int)n;
}

int calcd_sd_serve(calcd *s, const calcd_sd_socks *k) {
  for (int i = 0; i < k->ntcp; i++)
    if (calcd_tcp_add(s, k->tcp[i]) < 0) return -1;
  for (int i = 0; i < k->nudp; i++)
    if (calcd_udp_add(s, k->udp[i]) < 0) return -1;
  return 0;
}

/* ---- SIGHUP ------------------------------------------------------------ */

static calcd_io sd_hup; /* in the epoll set for calcd's lifetime */

static void sd_hup_event(calcd_loop *L, calcd_io *io, uint32_t events) {
  (void)L;
  (void)events;
  struct signalfd_siginfo si;
  while (read(io->fd, &si, sizeof si) == (ssize_t)sizeof si)
    calcd_log("SIGHUP from pid %ld: nothing to reload, still serving",
              (long)si.ssi_pid);
}

int calcd_sd_hup_init(calcd_loop *L) {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGHUP);
  if (sigprocmask(SIG_BLOCK, &set, NULL) < 0) return -1;
  sd_hup.fd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
  sd_hup.fn = sd_hup_event;
  if (sd_hup.fd < 0) return -1;
  return calcd_io_add(L, &sd_hup, EPOLLIN);
}
