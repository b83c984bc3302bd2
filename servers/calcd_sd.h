/* SPDX-License-Identifier: MIT
 *
 * calcd_sd.h: calcd as a service (internal to servers/).  systemd's socket
 * activation (the LISTEN_FDS/LISTEN_PID protocol of sd_listen_fds(3), in a
 * few lines, without libsystemd) and SIGHUP, which calcd logs and survives.
 */
#ifndef CALCD_SD_H
#define CALCD_SD_H

#include "calcd.h"

#define CALCD_SD_FDS_START 3 /* the first passed descriptor (SD_LISTEN_FDS_START) */

/* The passed sockets: any number of TCP listeners and UDP sockets. */
typedef struct calcd_sd_socks {
  int ntcp, nudp;
  int tcp[CALCD_MAX_BINDS], udp[CALCD_MAX_BINDS];
} calcd_sd_socks;

/* Takes the sockets systemd passed, if the environment passes any to this
 * process: TCP listeners and UDP sockets into k (non-blocking), their
 * addresses into o->bind and o->port for the startup line, and one worker
 * (--threads binds a socket per worker: not with passed ones); then unsets
 * LISTEN_PID, LISTEN_FDS and LISTEN_FDNAMES.  Returns the number taken, 0
 * when there are none (calcd binds its own), -1 when a passed descriptor is
 * not an IPv4/IPv6 stream listener or datagram socket, or too many
 * (logged). */
int calcd_sd_listen(calcd_opts *o, calcd_sd_socks *k);

/* Serve k's sockets in s: 0, or -1 with errno. */
int calcd_sd_serve(calcd *s, const calcd_sd_socks *k);

/* SIGHUP: blocked and read from its own signalfd in the loop, so it is
 * logged and calcd goes on serving (there is nothing to reload: options
 * come from the command line, logs go to stderr).  Returns 0 or -1. */
int calcd_sd_hup_init(calcd_loop *L);

#endif
