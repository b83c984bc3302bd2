/* SPDX-License-Identifier: MIT
 *
 * calc_cidr.h: a list of networks ("127.0.0.0/8,::1/128"), and whether an
 * address is in one of them.  calcd's --proxy-protocol FROM uses it: only
 * a peer in the list may send a PROXY header.
 *
 * Syntax: networks separated by commas (blanks around them ignored); a
 * network is a numeric IPv4 or IPv6 address, optionally "/<prefix>"
 * (0..32 or 0..128, decimal, no sign); a bare address is one host.  The
 * address must have no bits set past its prefix ("127.0.0.1/8" is refused:
 * it is almost always a typo for a host or for 127.0.0.0/8).  An IPv4
 * address seen as IPv4-mapped IPv6 (::ffff:a.b.c.d) matches the IPv4
 * networks.
 */
#ifndef CALC_CIDR_H
#define CALC_CIDR_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#define CALC_CIDR_MAX     32   /* networks in one list */
#define CALC_CIDR_TEXT_MAX 64  /* bytes of one network's text */

typedef struct calc_cidr {
  int af;                /* AF_INET or AF_INET6 */
  unsigned prefix;       /* bits */
  uint8_t addr[16];      /* network order; IPv4 in the first 4 */
} calc_cidr;

typedef struct calc_cidr_list {
  size_t n;
  calc_cidr net[CALC_CIDR_MAX];
} calc_cidr_list;

/* Parse text into *l.  Returns 0, or -1 with *bad pointing at the start
 * of the network that is wrong (or at the list, for an empty list or one
 * of more than CALC_CIDR_MAX networks) and *bad_len its length. */
int calc_cidr_parse(const char *text, calc_cidr_list *l, const char **bad,
                    size_t *bad_len);

/* 1 when sa (AF_INET or AF_INET6) is in one of l's networks, else 0. */
int calc_cidr_match(const calc_cidr_list *l, const struct sockaddr *sa);

/* "a.b.c.d/p" or "x::y/p" into buf (at least CALC_CIDR_TEXT_MAX bytes). */
void calc_cidr_format(const calc_cidr *c, char *buf, size_t cap);

#endif /* CALC_CIDR_H */
