/* SPDX-License-Identifier: MIT
 *
 * calcd_addr.h: connections per client address (--max-conn-per-addr), and
 * which limits each address has already been logged for, so an offender
 * is logged once, not once per connection.  An address is its IP without
 * the port; IPv4 and IPv4-mapped IPv6 are one address.  Behind a proxy the
 * caller passes the client's address as the proxy reports it.
 *
 * An entry lives while its address has connections: an open-addressing
 * table (linear probing, backward-shift deletion) sized at init for the
 * most connections there can be, with a per-process random hash seed.
 */
#ifndef CALCD_ADDR_H
#define CALCD_ADDR_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

typedef struct calcd_addr_ent {
  uint8_t key[16]; /* IPv6, or IPv4-mapped */
  unsigned count;  /* connections; 0: a free slot */
  unsigned logged; /* CALCD_LOGGED_* bits */
} calcd_addr_ent;

typedef struct calcd_addrs {
  calcd_addr_ent *tab;
  size_t mask; /* slots - 1 */
  uint64_t seed;
} calcd_addrs;

/* Bits of calcd_addr_first(): the limits an address was logged for. */
enum {
  CALCD_LOGGED_PER_ADDR = 1u << 0,
  CALCD_LOGGED_REQ_TIMEOUT = 1u << 1,
  CALCD_LOGGED_IDLE = 1u << 2,
};

/* Room for max_conn addresses.  0, or -1 (no memory). */
int calcd_addrs_init(calcd_addrs *A, unsigned max_conn);
void calcd_addrs_free(calcd_addrs *A);

/* Count one more connection from sa unless it already has `limit`.
 * Returns 1 when counted, 0 when refused at the limit. */
int calcd_addr_take(calcd_addrs *A, const struct sockaddr *sa,
                    unsigned limit);
/* A connection counted by calcd_addr_take(sa) closed. */
void calcd_addr_put(calcd_addrs *A, const struct sockaddr *sa);
/* 1 the first time `bit` is asked for sa while it has connections (log
 * it then), 0 after. */
int calcd_addr_first(calcd_addrs *A, const struct sockaddr *sa,
                     unsigned bit);

#endif /* CALCD_ADDR_H */
