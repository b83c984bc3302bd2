/* SPDX-License-Identifier: MIT
 *
 * calcd_proxy.h: calcd's side of the PROXY protocol (--proxy-protocol
 * FROM; lib/calc_proxy.h parses the header, lib/calc_cidr.h the list).
 *
 * A TCP connection from a peer in FROM (the load balancer) must start
 * with a PROXY header (v1 or v2): calcd reads it first, and from then on
 * the connection's client is the address it carries (v2 LOCAL and v1
 * UNKNOWN: the balancer itself, e.g. its health check).  A connection
 * from any other peer is a direct client, served as without the option,
 * except that a PROXY header from it is refused: only the trusted may say
 * who the client is.  Every refusal closes that connection alone and logs
 * one line saying why.
 */
#ifndef CALCD_PROXY_H
#define CALCD_PROXY_H

#include <stddef.h>
#include <sys/socket.h>

#include "calc_cidr.h"

/* A trusted peer's header must be complete this long after the accept. */
#define CALCD_PROXY_WAIT_MS 3000

/* What a new connection's first bytes are checked for. */
typedef enum calcd_proxy_mode {
  CALCD_PROXY_OFF = 0,  /* no --proxy-protocol */
  CALCD_PROXY_REQUIRE,  /* a trusted peer: a header first, or close */
  CALCD_PROXY_REFUSE,   /* another peer: a header (or its start) closes */
} calcd_proxy_mode;

/* Why calcd_proxy_take() is asked to decide now. */
typedef enum calcd_proxy_final {
  CALCD_PROXY_MORE = 0,  /* more bytes may come */
  CALCD_PROXY_EOF,       /* the peer sent EOF (or calcd is stopping) */
  CALCD_PROXY_TIMEOUT,   /* CALCD_PROXY_WAIT_MS passed */
} calcd_proxy_final;

/* --proxy-protocol FROM into *from; 0, or -1 after printing why. */
int calcd_proxy_option(const char *arg, calc_cidr_list *from);

/* The mode for a connection from peer (from->n == 0: off). */
calcd_proxy_mode calcd_proxy_mode_for(const calc_cidr_list *from,
                                      const struct sockaddr_storage *peer);

/* The first n bytes of a connection in mode m (not OFF).  Returns 0: wait
 * for more (only when final is CALCD_PROXY_MORE); 1: done, *used bytes
 * are the header (0 for a direct client) and *peer is now the client;
 * -1: close the connection (logged).  verbose: log accepted headers. */
int calcd_proxy_take(calcd_proxy_mode m, const char *in, size_t n,
                     calcd_proxy_final final, int verbose, int stopping,
                     struct sockaddr_storage *peer, size_t *used);

/* "FROM" as the startup line shows it ("127.0.0.0/8,::1/128"). */
void calcd_proxy_describe(const calc_cidr_list *from, char *buf, size_t cap);

#endif /* CALCD_PROXY_H */
