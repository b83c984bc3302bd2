/* SPDX-License-Identifier: MIT
 *
 * calc-proxyhdr.h: the PROXY protocol header that opens a client's TCP
 * stream behind a load balancer, as calc shows it (calc-proxyhdr.c).
 */
#ifndef CALC_PROXYHDR_H
#define CALC_PROXYHDR_H

#include <epan/packet.h>

/* Registers the calc.proxy.* fields under proto (calc). */
void calc_proxyhdr_register(int proto);

/* The header opening the tvb, a client's first TCP bytes, shown under
 * tree.  Returns its length, 0 when the bytes are not a header calcd
 * accepts (lib/calc_proxy.h's rules), or -1 when they are the start of
 * one and reassembly was asked of TCP. */
int calc_proxyhdr_dissect(tvbuff_t *tvb, packet_info *pinfo,
                          proto_tree *tree);

#endif /* CALC_PROXYHDR_H */
